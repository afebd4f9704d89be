//! Reads: the blocking reads (`XREADGROUP`, `XREAD`), reclaim and lease renewal
//! (`XAUTOCLAIM`, `XCLAIM … JUSTID`), `XPENDING`, `XRANGE`.

use std::time::Duration;

use redis::aio::ConnectionLike;
use redis::streams::{StreamPendingCountReply, StreamPendingId, StreamPendingReply};
use redis::{Cmd, RedisFuture, RedisResult};

use super::millis;
use crate::stream::decode::{AutoclaimReply, RangeReply};
use crate::stream::StreamEntry;

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

/// A connection that reads stream entries (`XREADGROUP`, `XREAD`): the dedicated
/// connections of our own decode them from the reply's bytes, the others through redis-rs's
/// values.
pub(crate) trait EntryReader: ConnectionLike + Send {
    /// Sends `cmd` and decodes the entries of its reply.
    fn read_entries<'a>(&'a mut self, cmd: &'a Cmd) -> RedisFuture<'a, Vec<StreamEntry>>;
}

/// `XREAD COUNT <count> BLOCK <block> STREAMS <key> <after>`: a client's reply reader.
pub(crate) async fn read_after<C: EntryReader>(
    conn: &mut C,
    key: &str,
    after: &str,
    count: usize,
    block: Duration,
) -> RedisResult<Vec<StreamEntry>> {
    let mut cmd = redis::cmd("XREAD");
    cmd.arg("COUNT")
        .arg(count)
        .arg("BLOCK")
        .arg(millis(block))
        .arg("STREAMS")
        .arg(key)
        .arg(after);
    conn.read_entries(&cmd).await
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
pub(crate) async fn read_group<C: EntryReader>(
    conn: &mut C,
    consumer: Consumer<'_>,
    count: usize,
    block: Duration,
) -> RedisResult<Vec<StreamEntry>> {
    let mut cmd = redis::cmd("XREADGROUP");
    cmd.arg("GROUP")
        .arg(consumer.group)
        .arg(consumer.name)
        .arg("COUNT")
        .arg(count)
        .arg("BLOCK")
        .arg(millis(block))
        .arg("STREAMS")
        .arg(consumer.stream)
        .arg(">");
    conn.read_entries(&cmd).await
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
