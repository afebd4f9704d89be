//! Every stream command clamator-rs sends, as a small typed function (or, for the commands
//! the completer batches, a function that appends it to a pipeline).
//!
//! The wire these put down is clamator's: requests are `XADD`ed with the fields `type`,
//! `envelope`, `reply-to` in that order (ours follow: `deadline`, `idempotency-key`), replies
//! with `type`, `envelope`; servers read with `XREADGROUP … BLOCK`, acknowledge with `XACK`
//! after the reply, and reclaim with `XAUTOCLAIM`. The rest (`XCLAIM … JUSTID`, `XPENDING`,
//! `XINFO`, `XTRIM MINID`, `XGROUP DELCONSUMER`, the dead-letter stream) is ours.

use std::time::Duration;

use redis::aio::ConnectionLike;
use redis::streams::{
    StreamInfoConsumer, StreamInfoConsumersReply, StreamInfoGroup, StreamInfoGroupsReply,
    StreamPendingCountReply, StreamPendingId, StreamPendingReply, StreamTrimOptions,
    StreamTrimmingMode,
};
use redis::{Cmd, Pipeline, RedisResult};

use super::decode::{AutoclaimReply, RangeReply, ReadReply};
use super::{fields as f, StreamEntry};

/// Milliseconds for a command argument, saturating.
fn millis(d: Duration) -> u64 {
    u64::try_from(d.as_millis()).unwrap_or(u64::MAX)
}

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

/// The id of a stream's newest entry (`XREVRANGE … + - COUNT 1`), `0-0` when it is empty or
/// missing: where a reader that wants only what comes next starts.
pub(crate) async fn last_id<C: ConnectionLike + Send>(
    conn: &mut C,
    stream: &str,
) -> RedisResult<String> {
    let newest: Vec<(String, Vec<(String, redis::Value)>)> = redis::cmd("XREVRANGE")
        .arg(stream)
        .arg("+")
        .arg("-")
        .arg("COUNT")
        .arg(1)
        .query_async(conn)
        .await?;
    Ok(newest
        .into_iter()
        .next()
        .map_or_else(|| "0-0".to_owned(), |(id, _)| id))
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
    pipe.cmd("XTRIM")
        .arg(reply_stream)
        .arg("MINID")
        .arg("~")
        .arg(format!("{minid}-0"));
    pipe.cmd("PEXPIRE")
        .arg(reply_stream)
        .arg(millis(limits.ttl));
}

/// Appends `XACK <stream> <group> <ids…>` to `pipe`.
pub(crate) fn push_ack<'a>(
    pipe: &mut Pipeline,
    stream: &str,
    group: &str,
    ids: impl IntoIterator<Item = &'a str>,
) {
    let cmd = pipe.cmd("XACK").arg(stream).arg(group);
    for id in ids {
        cmd.arg(id);
    }
}

/// `TYPE <key>`: `stream`, `none`, `string`, …
pub(crate) async fn key_type<C: ConnectionLike + Send>(
    conn: &mut C,
    key: &str,
) -> RedisResult<String> {
    redis::cmd("TYPE").arg(key).query_async(conn).await
}

/// `PEXPIRE <key> <ttl>`; false when the key does not exist.
pub(crate) async fn expire<C: ConnectionLike + Send>(
    conn: &mut C,
    key: &str,
    ttl: Duration,
) -> RedisResult<bool> {
    redis::cmd("PEXPIRE")
        .arg(key)
        .arg(millis(ttl))
        .query_async::<i64>(conn)
        .await
        .map(|n| n == 1)
}

/// `DEL <key>`.
pub(crate) async fn delete<C: ConnectionLike + Send>(conn: &mut C, key: &str) -> RedisResult<()> {
    redis::cmd("DEL")
        .arg(key)
        .query_async::<i64>(conn)
        .await
        .map(|_| ())
}

/// `XREAD COUNT <count> BLOCK <block> STREAMS <key> <after>`: a client's reply reader.
pub(crate) async fn read_after<C: ConnectionLike + Send>(
    conn: &mut C,
    key: &str,
    after: &str,
    count: usize,
    block: Duration,
) -> RedisResult<Vec<StreamEntry>> {
    redis::cmd("XREAD")
        .arg("COUNT")
        .arg(count)
        .arg("BLOCK")
        .arg(millis(block))
        .arg("STREAMS")
        .arg(key)
        .arg(after)
        .query_async::<ReadReply>(conn)
        .await
        .map(|r| r.0)
}

/// A consumer in a consumer group: the stream, the group and the consumer's name.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Consumer<'a> {
    pub(crate) stream: &'a str,
    pub(crate) group: &'a str,
    pub(crate) name: &'a str,
}

/// `XREADGROUP GROUP <group> <consumer> COUNT <count> BLOCK <block> STREAMS <stream> >`:
/// new entries for this consumer.
pub(crate) async fn read_group<C: ConnectionLike + Send>(
    conn: &mut C,
    consumer: Consumer<'_>,
    count: usize,
    block: Duration,
) -> RedisResult<Vec<StreamEntry>> {
    redis::cmd("XREADGROUP")
        .arg("GROUP")
        .arg(consumer.group)
        .arg(consumer.name)
        .arg("COUNT")
        .arg(count)
        .arg("BLOCK")
        .arg(millis(block))
        .arg("STREAMS")
        .arg(consumer.stream)
        .arg(">")
        .query_async::<ReadReply>(conn)
        .await
        .map(|r| r.0)
}

/// `XAUTOCLAIM <stream> <group> <consumer> <min idle> <cursor> COUNT <count>`: takes over
/// entries idle longer than `min_idle` from whichever consumer holds them.
pub(crate) async fn autoclaim<C: ConnectionLike + Send>(
    conn: &mut C,
    consumer: Consumer<'_>,
    min_idle: Duration,
    cursor: &str,
    count: usize,
) -> RedisResult<AutoclaimReply> {
    redis::cmd("XAUTOCLAIM")
        .arg(consumer.stream)
        .arg(consumer.group)
        .arg(consumer.name)
        .arg(millis(min_idle))
        .arg(cursor)
        .arg("COUNT")
        .arg(count)
        .query_async(conn)
        .await
}

/// Renews the lease of `ids` that this consumer still owns (see [`LEASE_RENEW`](crate::scripts::LEASE_RENEW)); returns
/// those ids.
pub(crate) async fn renew<C: ConnectionLike + Send>(
    conn: &mut C,
    consumer: Consumer<'_>,
    ids: &[String],
) -> RedisResult<Vec<String>> {
    crate::scripts::LEASE_RENEW
        .key(consumer.stream)
        .arg(consumer.group)
        .arg(consumer.name)
        .arg(ids)
        .invoke_async(conn)
        .await
}

/// Whether entry `id` is still pending for this consumer (`XPENDING … <id> <id> 1 <consumer>`).
pub(crate) async fn owns<C: ConnectionLike + Send>(
    conn: &mut C,
    consumer: Consumer<'_>,
    id: &str,
) -> RedisResult<bool> {
    pending_of(conn, consumer, id, id, 1)
        .await
        .map(|rows| !rows.is_empty())
}

/// `XPENDING <stream> <group> <first> <last> <count> <consumer>`: the pending entries of
/// one consumer in a range, with their delivery counts.
pub(crate) async fn pending_of<C: ConnectionLike + Send>(
    conn: &mut C,
    consumer: Consumer<'_>,
    first: &str,
    last: &str,
    count: usize,
) -> RedisResult<Vec<StreamPendingId>> {
    redis::cmd("XPENDING")
        .arg(consumer.stream)
        .arg(consumer.group)
        .arg(first)
        .arg(last)
        .arg(count)
        .arg(consumer.name)
        .query_async::<StreamPendingCountReply>(conn)
        .await
        .map(|r| r.ids)
}

/// `XPENDING <stream> <group>` (the summary form): the oldest pending id, if any.
pub(crate) async fn oldest_pending<C: ConnectionLike + Send>(
    conn: &mut C,
    stream: &str,
    group: &str,
) -> RedisResult<Option<String>> {
    let summary: StreamPendingReply = redis::cmd("XPENDING")
        .arg(stream)
        .arg(group)
        .query_async(conn)
        .await?;
    Ok(match summary {
        StreamPendingReply::Data(d) => Some(d.start_id),
        _ => None,
    })
}

/// `XINFO GROUPS <stream>`.
pub(crate) async fn groups<C: ConnectionLike + Send>(
    conn: &mut C,
    stream: &str,
) -> RedisResult<Vec<StreamInfoGroup>> {
    redis::cmd("XINFO")
        .arg("GROUPS")
        .arg(stream)
        .query_async::<StreamInfoGroupsReply>(conn)
        .await
        .map(|r| r.groups)
}

/// `XLEN <stream>` (0 for a stream that does not exist).
pub(crate) async fn length<C: ConnectionLike + Send>(
    conn: &mut C,
    stream: &str,
) -> RedisResult<u64> {
    redis::cmd("XLEN").arg(stream).query_async(conn).await
}

/// `XINFO CONSUMERS <stream> <group>`.
pub(crate) async fn consumers<C: ConnectionLike + Send>(
    conn: &mut C,
    stream: &str,
    group: &str,
) -> RedisResult<Vec<StreamInfoConsumer>> {
    redis::cmd("XINFO")
        .arg("CONSUMERS")
        .arg(stream)
        .arg(group)
        .query_async::<StreamInfoConsumersReply>(conn)
        .await
        .map(|r| r.consumers)
}

/// `XTRIM <stream> MINID = <floor>`: removes every entry below `floor`; returns how many.
pub(crate) async fn trim_below<C: ConnectionLike + Send>(
    conn: &mut C,
    stream: &str,
    floor: &str,
) -> RedisResult<usize> {
    redis::cmd("XTRIM")
        .arg(stream)
        .arg(StreamTrimOptions::minid(StreamTrimmingMode::Exact, floor))
        .query_async(conn)
        .await
}

/// A stream's length, how many entries it was ever given (`entries-added`, Redis 7.0 and
/// later), and its groups, read at one instant (`MULTI`).
pub(crate) struct ProgressSnapshot {
    pub(crate) length: u64,
    /// The id of the stream's first entry, when it has one.
    pub(crate) first: Option<String>,
    pub(crate) added: Option<u64>,
    pub(crate) groups: Vec<StreamInfoGroup>,
}

/// An entry as redis-rs reads it generically: id, then field and value pairs.
type RawEntry = (String, Vec<(String, redis::Value)>);

/// `XINFO STREAM`'s reply as a map.
type RawInfo = std::collections::HashMap<String, redis::Value>;

/// `MULTI; XLEN; XRANGE - + COUNT 1; XINFO STREAM; XINFO GROUPS; EXEC` on one stream.
pub(crate) async fn progress_snapshot<C: ConnectionLike + Send>(
    conn: &mut C,
    stream: &str,
) -> RedisResult<ProgressSnapshot> {
    let (length, first, info, groups): (u64, Vec<RawEntry>, RawInfo, StreamInfoGroupsReply) =
        redis::pipe()
            .atomic()
            .cmd("XLEN")
            .arg(stream)
            .cmd("XRANGE")
            .arg(stream)
            .arg("-")
            .arg("+")
            .arg("COUNT")
            .arg(1)
            .cmd("XINFO")
            .arg("STREAM")
            .arg(stream)
            .cmd("XINFO")
            .arg("GROUPS")
            .arg(stream)
            .query_async(conn)
            .await?;
    let added = match info.get("entries-added") {
        Some(redis::Value::Int(n)) => u64::try_from(*n).ok(),
        _ => None,
    };
    Ok(ProgressSnapshot {
        length,
        first: first.into_iter().next().map(|(id, _)| id),
        added,
        groups: groups.groups,
    })
}

/// `XTRIM <stream> MAXLEN <cap>` (exact): the hard cap of an event stream.
pub(crate) async fn trim_to<C: ConnectionLike + Send>(
    conn: &mut C,
    stream: &str,
    cap: usize,
) -> RedisResult<usize> {
    redis::cmd("XTRIM")
        .arg(stream)
        .arg("MAXLEN")
        .arg(cap)
        .query_async(conn)
        .await
}

/// `XGROUP CREATE <stream> <group> <start> MKSTREAM`; an existing group (`BUSYGROUP`) is
/// success.
pub(crate) async fn create_group<C: ConnectionLike + Send>(
    conn: &mut C,
    stream: &str,
    group: &str,
    start: &str,
) -> RedisResult<()> {
    let created: RedisResult<()> = redis::cmd("XGROUP")
        .arg("CREATE")
        .arg(stream)
        .arg(group)
        .arg(start)
        .arg("MKSTREAM")
        .query_async(conn)
        .await;
    match created {
        Err(e) if e.code() == Some("BUSYGROUP") => Ok(()),
        other => other,
    }
}

/// `XGROUP DELCONSUMER <stream> <group> <consumer>`.
pub(crate) async fn delete_consumer<C: ConnectionLike + Send>(
    conn: &mut C,
    consumer: Consumer<'_>,
) -> RedisResult<()> {
    redis::cmd("XGROUP")
        .arg("DELCONSUMER")
        .arg(consumer.stream)
        .arg(consumer.group)
        .arg(consumer.name)
        .query_async::<i64>(conn)
        .await
        .map(|_| ())
}

/// `XGROUP SETID <stream> <group> <id>`: the group is delivered every entry after `id` from
/// now on (a rewind or a skip); entries it has pending stay pending.
pub(crate) async fn set_group_id<C: ConnectionLike + Send>(
    conn: &mut C,
    stream: &str,
    group: &str,
    id: &str,
) -> RedisResult<()> {
    redis::cmd("XGROUP")
        .arg("SETID")
        .arg(stream)
        .arg(group)
        .arg(id)
        .query_async(conn)
        .await
}

/// True for the error Redis gives when a group (or the whole stream) is gone, as after a
/// `FLUSHALL` or a restart without persistence.
pub(crate) fn is_nogroup(e: &redis::RedisError) -> bool {
    e.code() == Some("NOGROUP")
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

/// `XRANGE <stream> <start> <end> [COUNT <count>]`.
pub(crate) async fn range<C: ConnectionLike + Send>(
    conn: &mut C,
    stream: &str,
    start: &str,
    end: &str,
    count: Option<usize>,
) -> RedisResult<Vec<StreamEntry>> {
    let mut cmd = redis::cmd("XRANGE");
    cmd.arg(stream).arg(start).arg(end);
    if let Some(count) = count {
        cmd.arg("COUNT").arg(count);
    }
    cmd.query_async::<RangeReply>(conn).await.map(|r| r.0)
}

/// `XDEL <stream> <id>`; false when there was no such entry.
pub(crate) async fn delete_entry<C: ConnectionLike + Send>(
    conn: &mut C,
    stream: &str,
    id: &str,
) -> RedisResult<bool> {
    redis::cmd("XDEL")
        .arg(stream)
        .arg(id)
        .query_async::<i64>(conn)
        .await
        .map(|n| n == 1)
}

/// `XLEN <stream>` and `DEL <stream>` in one round trip; returns the length it had.
pub(crate) async fn length_and_delete<C: ConnectionLike + Send>(
    conn: &mut C,
    stream: &str,
) -> RedisResult<u64> {
    let (len, _): (u64, i64) = redis::pipe()
        .cmd("XLEN")
        .arg(stream)
        .cmd("DEL")
        .arg(stream)
        .query_async(conn)
        .await?;
    Ok(len)
}
