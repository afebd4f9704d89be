//! Keys and groups: `TYPE`, `PEXPIRE`, `DEL`, `XINFO`, `XLEN`, trims, `XGROUP`, `XDEL`.

use std::time::Duration;

use redis::aio::ConnectionLike;
use redis::streams::{
    StreamInfoConsumer, StreamInfoConsumersReply, StreamInfoGroup, StreamInfoGroupsReply,
    StreamTrimOptions, StreamTrimmingMode,
};
use redis::RedisResult;

use super::millis;
use super::Consumer;

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
