//! Writes: requests, events and replies (`XADD`), acks (`XACK`), the pipelined reply
//! upkeep (`XTRIM MINID`, `PEXPIRE`).

use std::time::Duration;

use redis::aio::ConnectionLike;
use redis::{Cmd, Pipeline, RedisResult};

use super::millis;
use crate::stream::fields as f;

/// The fields of a request or notification entry.
#[derive(Debug, Clone, Copy)]
pub(crate) struct RequestFields<'a> {
    pub(crate) envelope: &'a str,
    /// The caller's reply stream; none for a notification.
    pub(crate) reply_to: Option<&'a str>,
    /// Epoch milliseconds after which the caller no longer waits.
    pub(crate) deadline: Option<u64>,
    pub(crate) idempotency_key: Option<&'a str>,
    /// W3C `traceparent` and `tracestate`, when the call's span has a trace context.
    pub(crate) traceparent: Option<&'a str>,
    pub(crate) tracestate: Option<&'a str>,
}

/// `XADD <stream> * type rpc envelope <json> [reply-to <stream>] [deadline <ms>]
/// [idempotency-key <key>] [traceparent <w3c> [tracestate <w3c>]]`: clamator's fields in clamator's order, then ours (clamator
/// peers ignore fields they do not know).
pub(crate) async fn add_request<C: ConnectionLike + Send>(
    conn: &mut C,
    stream: &str,
    fields: RequestFields<'_>,
) -> RedisResult<()> {
    let optional = [
        fields.reply_to,
        fields.idempotency_key,
        fields.traceparent,
        fields.tracestate,
    ];
    let bytes = stream.len()
        + fields.envelope.len()
        + optional.iter().flatten().map(|v| v.len()).sum::<usize>();
    let mut cmd = sized("XADD", 16, bytes);
    cmd.arg(stream)
        .arg("*")
        .arg(f::TYPE)
        .arg("rpc")
        .arg(f::ENVELOPE)
        .arg(fields.envelope);
    if let Some(reply_to) = fields.reply_to {
        cmd.arg(f::REPLY_TO).arg(reply_to);
    }
    if let Some(deadline) = fields.deadline {
        cmd.arg(f::DEADLINE).arg(deadline);
    }
    if let Some(key) = fields.idempotency_key {
        cmd.arg(f::IDEMPOTENCY_KEY).arg(key);
    }
    if let Some(parent) = fields.traceparent {
        cmd.arg(f::TRACEPARENT).arg(parent);
    }
    if let Some(state) = fields.tracestate {
        cmd.arg(f::TRACESTATE).arg(state);
    }
    cmd.exec_async(conn).await
}

/// `XADD <stream> MAXLEN ~ <maxlen> * type event envelope <notification> published_at <ms>
/// [traceparent …]`: one event; returns its entry id.
pub(crate) async fn add_event<C: ConnectionLike + Send>(
    conn: &mut C,
    stream: &str,
    maxlen: usize,
    envelope: &str,
    published_at: u64,
    trace: Option<(&str, Option<&str>)>,
) -> RedisResult<String> {
    let mut cmd = redis::cmd("XADD");
    cmd.arg(stream)
        .arg("MAXLEN")
        .arg("~")
        .arg(maxlen)
        .arg("*")
        .arg(f::TYPE)
        .arg("event")
        .arg(f::ENVELOPE)
        .arg(envelope)
        .arg(f::PUBLISHED_AT)
        .arg(published_at);
    if let Some((parent, state)) = trace {
        cmd.arg(f::TRACEPARENT).arg(parent);
        if let Some(state) = state {
            cmd.arg(f::TRACESTATE).arg(state);
        }
    }
    cmd.query_async(conn).await
}

/// How reply streams are bounded.
#[derive(Debug, Clone, Copy)]
pub(crate) struct ReplyLimits {
    /// The hard cap on a reply stream's length (`MAXLEN ~`), far above any burst.
    pub(crate) maxlen: usize,
    /// Replies younger than this are never trimmed.
    pub(crate) retention: Duration,
    /// The time to live a written reply stream gets.
    pub(crate) ttl: Duration,
}

/// Appends `XADD <reply stream> MAXLEN ~ <cap> * type rpc envelope <json>` to `pipe`: the
/// entry clamator writes, under a cap far above any burst. On a key of another type Redis
/// refuses it (`WRONGTYPE`) and writes nothing.
pub(crate) fn push_reply(pipe: &mut Pipeline, reply_stream: &str, limits: ReplyLimits, json: &str) {
    let mut cmd = sized("XADD", 10, reply_stream.len() + json.len());
    cmd.arg(reply_stream)
        .arg("MAXLEN")
        .arg("~")
        .arg(limits.maxlen)
        .arg("*")
        .arg(f::TYPE)
        .arg("rpc")
        .arg(f::ENVELOPE)
        .arg(json);
    pipe.add_command(cmd);
}

/// A command with room for `args` arguments and `bytes` of them (plus the short ones) up
/// front: built argument by argument from empty, a request or reply `XADD` would grow its
/// buffers five or six times, on every call.
fn sized(name: &str, args: usize, bytes: usize) -> Cmd {
    const SHORT_ARGS: usize = 96;
    let mut cmd = Cmd::with_capacity(args + 1, name.len() + bytes + SHORT_ARGS);
    cmd.arg(name);
    cmd
}

/// Appends the upkeep of a reply stream just written to: `XTRIM <stream> MINID ~ <now -
/// retention>` (replies older than the retention go; entry ids are Redis's clock in ms,
/// ours may differ a little, which a retention of minutes absorbs) and `PEXPIRE <stream>
/// <ttl>` (so a stream whose client left expires).
pub(crate) fn push_upkeep(pipe: &mut Pipeline, reply_stream: &str, limits: ReplyLimits) {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap_or_default();
    let minid = millis(now.saturating_sub(limits.retention));
    let mut trim = sized("XTRIM", 4, reply_stream.len());
    let mut id = [0u8; 22];
    trim.arg(reply_stream)
        .arg("MINID")
        .arg("~")
        .arg(first_id_of(minid, &mut id));
    pipe.add_command(trim);
    let mut expire = sized("PEXPIRE", 2, reply_stream.len());
    expire.arg(reply_stream).arg(millis(limits.ttl));
    pipe.add_command(expire);
}

/// `<ms>-0`, the first entry id of millisecond `ms`, written into `buf` (every batch of
/// acknowledgements carries one; the formatting machinery cost ten times as much).
fn first_id_of(ms: u64, buf: &mut [u8; 22]) -> &[u8] {
    buf[20] = b'-';
    buf[21] = b'0';
    let mut start = 20;
    let mut n = ms;
    loop {
        start -= 1;
        buf[start] = b'0' + (n % 10) as u8;
        n /= 10;
        if n == 0 {
            break;
        }
    }
    &buf[start..]
}

/// Appends `XACK <stream> <group> <ids…>` to `pipe`.
pub(crate) fn push_ack<'a>(
    pipe: &mut Pipeline,
    stream: &str,
    group: &str,
    ids: impl IntoIterator<Item = &'a str>,
) {
    let ids = ids.into_iter();
    let count = ids.size_hint().0;
    // An id is at most 41 characters (two u64 and a dash).
    let mut cmd = sized("XACK", 2 + count, stream.len() + group.len() + 41 * count);
    cmd.arg(stream).arg(group);
    for id in ids {
        cmd.arg(id);
    }
    pipe.add_command(cmd);
}

/// `XADD <stream> [MAXLEN ~ <maxlen>] * <fields…>` with raw field bytes; returns the new id.
pub(crate) async fn add_fields<'a, C: ConnectionLike + Send>(
    conn: &mut C,
    stream: &str,
    maxlen: Option<usize>,
    fields: impl IntoIterator<Item = (&'a [u8], &'a [u8])>,
) -> RedisResult<String> {
    let mut cmd = redis::cmd("XADD");
    cmd.arg(stream);
    if let Some(maxlen) = maxlen {
        cmd.arg("MAXLEN").arg("~").arg(maxlen);
    }
    cmd.arg("*");
    for (k, v) in fields {
        cmd.arg(k).arg(v);
    }
    cmd.query_async(conn).await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn first_ids_are_written_as_format_would() {
        for ms in [0, 7, 10, 1_765_000_000_000, u64::MAX] {
            let mut buf = [0u8; 22];
            assert_eq!(first_id_of(ms, &mut buf), format!("{ms}-0").as_bytes());
        }
    }
}
