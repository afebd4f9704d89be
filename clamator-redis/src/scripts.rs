//! Every Lua script the library runs, each built (and its SHA-1 computed) once per process.
//! Each touches one key, so it works on Redis Cluster; callers add the key and arguments and
//! run it with `invoke_async`, which sends `EVALSHA` and loads the script on `NOSCRIPT`.

use std::sync::LazyLock;

use redis::Script;

/// Claims an exactly-once record: `KEYS[1]` the record, `ARGV` the owner token, the payload
/// hash and the claim's time to live (ms). Answers `{'claimed'}`, `{'mismatch'}`,
/// `{'done', reply}` or `{'running'}`.
pub(crate) static IDEMPOTENCY_CLAIM: LazyLock<Script> = LazyLock::new(|| {
    Script::new(
        r"
local state = redis.call('HGET', KEYS[1], 'state')
if not state then
  redis.call('HSET', KEYS[1], 'state', 'running', 'owner', ARGV[1], 'hash', ARGV[2])
  redis.call('PEXPIRE', KEYS[1], ARGV[3])
  return {'claimed'}
end
if redis.call('HGET', KEYS[1], 'hash') ~= ARGV[2] then
  return {'mismatch'}
end
if state == 'done' then
  return {'done', redis.call('HGET', KEYS[1], 'reply')}
end
return {'running'}
",
    )
});

/// Completes a claimed record with its reply, only for the claim's owner: `ARGV` the owner
/// token, the reply and the record's time to live (ms). Answers 1, or 0 when the claim was
/// lost.
pub(crate) static IDEMPOTENCY_COMPLETE: LazyLock<Script> = LazyLock::new(|| {
    Script::new(
        r"
if redis.call('HGET', KEYS[1], 'owner') ~= ARGV[1] then
  return 0
end
redis.call('HSET', KEYS[1], 'state', 'done', 'reply', ARGV[2])
redis.call('PEXPIRE', KEYS[1], ARGV[3])
return 1
",
    )
});

/// Deletes a record still running under the given owner token (`ARGV[1]`).
pub(crate) static IDEMPOTENCY_RELEASE: LazyLock<Script> = LazyLock::new(|| {
    Script::new(
        r"
if redis.call('HGET', KEYS[1], 'owner') == ARGV[1] and redis.call('HGET', KEYS[1], 'state') == 'running' then
  return redis.call('DEL', KEYS[1])
end
return 0
",
    )
});

/// Extends a claimed record (`KEYS[1]`) by `ARGV[2]` ms while it is still running under the
/// owner token `ARGV[1]`: a claim lives as long as the handler that holds it. Answers 1, or 0
/// when the claim is no longer this owner's.
pub(crate) static IDEMPOTENCY_EXTEND: LazyLock<Script> = LazyLock::new(|| {
    Script::new(
        r"
if redis.call('HGET', KEYS[1], 'owner') == ARGV[1] and redis.call('HGET', KEYS[1], 'state') == 'running' then
  return redis.call('PEXPIRE', KEYS[1], ARGV[2])
end
return 0
",
    )
});

/// Releases a lock (`KEYS[1]`), only for the holder of token `ARGV[1]`.
pub(crate) static LOCK_RELEASE: LazyLock<Script> = LazyLock::new(|| {
    Script::new(
        r"if redis.call('get', KEYS[1]) == ARGV[1] then return redis.call('del', KEYS[1]) else return 0 end",
    )
});

/// Lease renewal in one call on a command stream (`KEYS[1]`; `ARGV` the group, the consumer,
/// then entry ids): of the given entries, those still pending for this consumer get their
/// idle time reset (`XCLAIM … 0 <ids> JUSTID`, no delivery counted); the others, reclaimed by
/// another consumer while this one could not renew (a paused process), are left alone, since
/// a plain `XCLAIM` would take them back from under the server now running them. Answers the
/// ids still owned.
pub(crate) static LEASE_RENEW: LazyLock<Script> = LazyLock::new(|| {
    Script::new(
        r"
local owned = {}
for i = 3, #ARGV do
  local row = redis.call('XPENDING', KEYS[1], ARGV[1], ARGV[i], ARGV[i], 1, ARGV[2])
  if row[1] then
    owned[#owned + 1] = ARGV[i]
  end
end
if #owned > 0 then
  local args = {'XCLAIM', KEYS[1], ARGV[1], ARGV[2], '0'}
  for _, id in ipairs(owned) do
    args[#args + 1] = id
  end
  args[#args + 1] = 'JUSTID'
  redis.call(unpack(args))
end
return owned
",
    )
});

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_script_is_hashed_once() {
        let scripts: [&LazyLock<Script>; 6] = [
            &IDEMPOTENCY_CLAIM,
            &IDEMPOTENCY_COMPLETE,
            &IDEMPOTENCY_RELEASE,
            &IDEMPOTENCY_EXTEND,
            &LOCK_RELEASE,
            &LEASE_RENEW,
        ];
        let hashes: std::collections::BTreeSet<&str> =
            scripts.iter().map(|s| s.get_hash()).collect();
        assert_eq!(hashes.len(), scripts.len(), "two scripts share a hash");
        // The same static, the same hash: nothing is rebuilt per call.
        assert!(std::ptr::eq(
            IDEMPOTENCY_CLAIM.get_hash(),
            IDEMPOTENCY_CLAIM.get_hash()
        ));
    }
}
