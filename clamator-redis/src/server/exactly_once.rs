//! Exactly-once execution (opt-in): an *idempotency record* per request, claimed and
//! completed by Lua scripts that each touch one key (`<prefix>:idem:<service>:<key>`, so it
//! works on Redis Cluster).
//!
//! The first delivery claims the record (state `running`, owner token, payload hash, short
//! TTL). Completion stores the reply (state `done`, long TTL) in the same script that checks
//! the claim holder; a failure releases the claim. A redelivery of a completed request gets
//! the stored reply again without running the handler; one still running is left to its
//! owner (if the owner died, the claim expires and a later delivery claims it). The same key
//! with a different payload is refused.

use std::time::Duration;

use clamator_protocol::RpcError;
use sha2::{Digest, Sha256};

use crate::connection::RedisConn;

/// A record's key and the token that proves this delivery owns it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct IdempotencyClaim {
    pub(crate) key: String,
    pub(crate) token: String,
}

/// The answer to a request that reused an idempotency key with other params.
pub(crate) fn key_reused_error() -> RpcError {
    RpcError::new(
        crate::codes::IDEMPOTENCY_KEY_REUSED,
        "Idempotency key reused with a different payload",
    )
}

const CLAIM: &str = r"
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
";

const COMPLETE: &str = r"
if redis.call('HGET', KEYS[1], 'owner') ~= ARGV[1] then
  return 0
end
redis.call('HSET', KEYS[1], 'state', 'done', 'reply', ARGV[2])
redis.call('PEXPIRE', KEYS[1], ARGV[3])
return 1
";

const RELEASE: &str = r"
if redis.call('HGET', KEYS[1], 'owner') == ARGV[1] and redis.call('HGET', KEYS[1], 'state') == 'running' then
  return redis.call('DEL', KEYS[1])
end
return 0
";

/// What claiming a record found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Claim {
    /// Ours to run; complete or release it.
    Claimed(IdempotencyClaim),
    /// Already done: the stored reply (its JSON).
    Done(String),
    /// Another delivery runs it now.
    Running,
    /// The key was used with other params.
    Mismatch,
}

/// SHA-256 of the method and params, to tell a redelivery from a reused key.
pub(crate) fn payload_hash(method: &str, params: &serde_json::Value) -> String {
    let mut h = Sha256::new();
    h.update(method.as_bytes());
    h.update(b"\0");
    h.update(params.to_string().as_bytes());
    h.finalize().iter().map(|b| format!("{b:02x}")).collect()
}

pub(crate) async fn claim(
    manager: &RedisConn,
    key: &str,
    hash: &str,
    claim_ttl: Duration,
) -> redis::RedisResult<Claim> {
    let token = uuid::Uuid::new_v4().to_string();
    let reply: Vec<String> = redis::Script::new(CLAIM)
        .key(key)
        .arg(&token)
        .arg(hash)
        .arg(claim_ttl.as_millis() as u64)
        .invoke_async(&mut manager.clone())
        .await?;
    Ok(match reply.first().map(String::as_str) {
        Some("claimed") => Claim::Claimed(IdempotencyClaim {
            key: key.to_owned(),
            token,
        }),
        Some("done") => Claim::Done(reply.get(1).cloned().unwrap_or_default()),
        Some("mismatch") => Claim::Mismatch,
        _ => Claim::Running,
    })
}

/// Stores the reply; false when the claim was lost (expired and taken by another delivery).
pub(crate) async fn complete(
    manager: &RedisConn,
    claim: &IdempotencyClaim,
    reply: &str,
    result_ttl: Duration,
) -> redis::RedisResult<bool> {
    let done: i64 = redis::Script::new(COMPLETE)
        .key(&claim.key)
        .arg(&claim.token)
        .arg(reply)
        .arg(result_ttl.as_millis() as u64)
        .invoke_async(&mut manager.clone())
        .await?;
    Ok(done == 1)
}

/// Gives a claim back, so a later delivery may run the request.
pub(crate) async fn release(
    manager: &RedisConn,
    claim: &IdempotencyClaim,
) -> redis::RedisResult<()> {
    redis::Script::new(RELEASE)
        .key(&claim.key)
        .arg(&claim.token)
        .invoke_async::<i64>(&mut manager.clone())
        .await
        .map(|_| ())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn the_payload_hash_tells_a_redelivery_from_a_reused_key() {
        let a = payload_hash("add", &json!({"a": 1, "b": 2}));
        assert_eq!(a, payload_hash("add", &json!({"a": 1, "b": 2})));
        assert_eq!(a.len(), 64);
        assert_ne!(a, payload_hash("add", &json!({"a": 1, "b": 3})));
        assert_ne!(a, payload_hash("sub", &json!({"a": 1, "b": 2})));
        // The method and the params cannot run into each other.
        assert_ne!(
            payload_hash("a", &json!("b")),
            payload_hash("a\"", &json!(""))
        );
    }

    #[test]
    fn a_reused_key_is_refused_with_its_own_code() {
        assert_eq!(
            key_reused_error().code,
            crate::codes::IDEMPOTENCY_KEY_REUSED
        );
    }
}
