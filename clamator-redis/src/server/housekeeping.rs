//! Bounded memory for command streams: trimming below what every consumer group has both
//! delivered and acknowledged, and removing consumers that are idle with nothing pending.
//! One server does it at a time per service, elected with a [`Lock`].

use std::sync::Arc;
use std::time::Duration;

use clamator_protocol::Error;
use redis::streams::StreamInfoConsumer;

use super::groups;
use super::runtime::{ServerState, ServiceRuntime};
use crate::lock::Lock;
use crate::stream::{commands, StreamId};

/// Runs housekeeping for one service every `housekeeping_interval`, while this server holds
/// the service's lock.
pub(crate) async fn housekeeping_loop(state: Arc<ServerState>, rt: Arc<ServiceRuntime>) {
    let service = rt.name();
    let every = state.config.housekeeping_interval;
    // One lock per command stream: the partitions of a service are kept apart.
    let name = match (&rt.events, rt.partition) {
        // One per subscriber group of an event stream: each removes its own idle consumers
        // (and trims below every group's floor).
        (Some(events), _) => format!("housekeeping:{}:events:{service}", events.subscriber),
        (None, 0) => format!("housekeeping:{service}"),
        (None, i) => format!("housekeeping:{service}:{i}"),
    };
    let key = crate::keys::lock_key(&state.config.key_prefix, &name);
    while state.pause(every).await {
        let ttl = every.saturating_mul(3).max(Duration::from_secs(1));
        let lock = match Lock::try_acquire(&state.manager, &key, ttl).await {
            Ok(Some(lock)) => lock,
            Ok(None) => {
                // Another server does it this round; this one still notes how far the group
                // got, where it would re-create it.
                if let Err(e) = groups::observe_position(&state, &rt).await {
                    tracing::warn!(service, error = %e, "cannot read the consumer group");
                }
                continue;
            }
            Err(e) => {
                tracing::warn!(service, error = %e, "housekeeping lock unavailable");
                continue;
            }
        };
        if let Err(e) = run_once(&state, &rt).await {
            tracing::warn!(service, error = %e, "housekeeping failed");
        }
        if let Err(e) = lock.release().await {
            tracing::warn!(service, error = %e, "housekeeping lock");
        }
    }
}

/// What one consumer group has taken from a stream.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct GroupProgress {
    /// Everything up to here was delivered to the group.
    last_delivered: StreamId,
    /// The oldest entry delivered and not yet acknowledged, if any.
    oldest_pending: Option<StreamId>,
}

/// The `MINID` below which every group has both received and acknowledged every entry:
/// per group, its oldest pending entry, or the entry after its last delivered one; the
/// smallest of those. `None` (trim nothing) when there are no groups.
fn trim_floor(groups: &[GroupProgress]) -> Option<StreamId> {
    groups
        .iter()
        .map(|g| g.oldest_pending.unwrap_or(g.last_delivered.next()))
        .min()
}

/// The first id an event stream keeps for `keep`: events older than that may go.
fn retention_floor(keep: Duration) -> StreamId {
    let ms = std::time::SystemTime::now()
        .checked_sub(keep)
        .and_then(|t| t.duration_since(std::time::UNIX_EPOCH).ok())
        .map_or(0, |d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX));
    StreamId { ms, seq: 0 }
}

/// The consumers to remove: idle past `limit` with nothing pending, and not `me`.
fn idle_consumers<'a>(
    consumers: &'a [StreamInfoConsumer],
    limit: Duration,
    me: &str,
) -> impl Iterator<Item = &'a StreamInfoConsumer> {
    let limit = u128::from(u64::try_from(limit.as_millis()).unwrap_or(u64::MAX));
    let me = me.to_owned();
    consumers
        .iter()
        .filter(move |c| c.pending == 0 && c.idle as u128 > limit && c.name != me)
}

/// One round: sample the queue's gauges (with the `metrics` feature), trim, then drop idle
/// consumers.
pub(crate) async fn run_once(state: &ServerState, rt: &ServiceRuntime) -> Result<(), Error> {
    let mut conn = state.manager.clone();
    let stream = &rt.target.stream;
    let err =
        |what: &'static str| move |e: redis::RedisError| crate::connection::redis_failure(what, e);
    let mut progress = Vec::new();
    let mut gauges = crate::instruments::QueueGauges::default();
    let groups = commands::groups(&mut conn, stream)
        .await
        .map_err(err("XINFO GROUPS failed"))?;
    groups::note_position(rt, &groups);
    for group in groups {
        let Some(last_delivered) = StreamId::parse(&group.last_delivered_id) else {
            // A group we cannot read: trim nothing.
            return Ok(());
        };
        let oldest_pending = commands::oldest_pending(&mut conn, stream, &group.name)
            .await
            .map_err(err("XPENDING failed"))?
            .and_then(|id| StreamId::parse(&id));
        if group.name == rt.target.group {
            gauges.pending = group.pending as u64;
            gauges.lag = group.lag.map(|l| l as u64);
            gauges.oldest_pending = oldest_pending.map(|id| {
                let now = std::time::SystemTime::now()
                    .duration_since(std::time::UNIX_EPOCH)
                    .map_or(0, |d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX));
                Duration::from_millis(now.saturating_sub(id.ms))
            });
        }
        progress.push(GroupProgress {
            last_delivered,
            oldest_pending,
        });
    }
    gauges.stream_length = commands::length(&mut conn, stream)
        .await
        .map_err(err("XLEN failed"))?;
    gauges.dead_letters = commands::length(&mut conn, &rt.dead_letters)
        .await
        .map_err(err("XLEN failed"))?;
    crate::instruments::sampled(rt.name(), gauges);
    let floor = trim_floor(&progress).map(|floor| match &rt.events {
        // Events acknowledged by every group are still kept for a while, for replays.
        Some(_) => floor.min(retention_floor(state.config.event_retention)),
        None => floor,
    });
    if let Some(floor) = floor {
        let trimmed = commands::trim_below(&mut conn, stream, &floor.to_string())
            .await
            .map_err(err("XTRIM failed"))?;
        if trimmed > 0 {
            tracing::debug!(service = rt.name(), trimmed, below = %floor, "command stream trimmed");
        }
    }
    if rt.events.is_some() {
        let lost = enforce_cap(&mut conn, rt, state.config.event_stream_maxlen).await?;
        state
            .counters
            .events_lost
            .fetch_add(lost, std::sync::atomic::Ordering::Relaxed);
    }
    let consumers = commands::consumers(&mut conn, stream, &rt.target.group)
        .await
        .map_err(err("XINFO CONSUMERS failed"))?;
    for c in idle_consumers(&consumers, state.config.consumer_idle_limit, &rt.consumer) {
        let mut gone = rt.consumer();
        gone.name = &c.name;
        commands::delete_consumer(&mut conn, gone)
            .await
            .map_err(err("XGROUP DELCONSUMER failed"))?;
        tracing::info!(service = rt.name(), consumer = %c.name, idle_ms = c.idle, "removed an idle consumer");
    }
    Ok(())
}

/// Trims an event stream past its groups' floor when it is longer than `cap`: a subscriber
/// that is gone or stuck must not fill Redis. The trimmed events a group had not read yet
/// are lost to it: logged and counted per group, from Redis's logical counters (entries ever
/// added to the stream, entries read by the group), where Redis keeps them (7.0 and later).
async fn enforce_cap(
    conn: &mut crate::connection::RedisConn,
    rt: &ServiceRuntime,
    cap: usize,
) -> Result<u64, Error> {
    let stream = &rt.target.stream;
    let err =
        |what: &'static str| move |e: redis::RedisError| crate::connection::redis_failure(what, e);
    let length = commands::length(conn, stream)
        .await
        .map_err(err("XLEN failed"))?;
    if usize::try_from(length).unwrap_or(usize::MAX) <= cap {
        return Ok(0);
    }
    // One snapshot of the stream's and the groups' counters, then the cut; what is
    // published in between only lands after the cut.
    let snapshot = commands::progress_snapshot(conn, stream)
        .await
        .map_err(err("XINFO failed"))?;
    let trimmed = commands::trim_to(conn, stream, cap)
        .await
        .map_err(err("XTRIM failed"))?;
    let mut all_lost = 0;
    for group in &snapshot.groups {
        // A group that never read has no read counter, but its lag says where it is.
        // A group already cut past (its last delivered id before the stream's first) read
        // none of what is cut now; Redis's read counter is no longer right for it.
        let behind = match (
            StreamId::parse(&group.last_delivered_id),
            snapshot.first.as_deref().and_then(StreamId::parse),
        ) {
            (Some(delivered), Some(first)) => delivered < first,
            _ => false,
        };
        if behind {
            let lost = trimmed as u64;
            tracing::warn!(service = rt.name(), stream = %stream, subscriber = %group.name, lost, cap, "event stream over its cap: events the subscriber had not read were trimmed");
            crate::instruments::events_lost(rt.name(), &group.name, lost);
            all_lost += lost;
            continue;
        }
        let read = group.entries_read.or_else(|| {
            let lag = group.lag?;
            usize::try_from(snapshot.added?).ok()?.checked_sub(lag)
        });
        match snapshot.added.zip(read) {
            Some((added, read)) => {
                let lost = lost_to(added, snapshot.length, trimmed as u64, read as u64)
                    .min(trimmed as u64);
                if lost > 0 {
                    tracing::warn!(service = rt.name(), stream = %stream, subscriber = %group.name, lost, cap, "event stream over its cap: events the subscriber had not read were trimmed");
                    crate::instruments::events_lost(rt.name(), &group.name, lost);
                    all_lost += lost;
                }
            }
            None => {
                tracing::warn!(service = rt.name(), stream = %stream, subscriber = %group.name, trimmed, cap, "event stream over its cap: trimmed past a subscriber whose progress Redis cannot tell");
            }
        }
    }
    Ok(all_lost)
}

/// How many of the `trimmed` oldest of `length` entries a group that has read `read` of the
/// `added` entries ever added had not read. Entries are numbered 1..=added; the stream held
/// `added - length + 1 ..= added` and lost the first `trimmed` of them.
fn lost_to(added: u64, length: u64, trimmed: u64, read: u64) -> u64 {
    let first_before = added.saturating_sub(length);
    let first_after = first_before + trimmed;
    first_after.saturating_sub(read.max(first_before))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn id(s: &str) -> StreamId {
        StreamId::parse(s).unwrap()
    }

    #[test]
    fn the_floor_is_the_oldest_unfinished_entry_of_any_group() {
        // Nothing pending: everything up to the last delivered entry may go.
        let caught_up = GroupProgress {
            last_delivered: id("10-3"),
            oldest_pending: None,
        };
        assert_eq!(trim_floor(&[caught_up]), Some(id("10-4")));
        // A pending entry holds the floor down, whatever was delivered after it.
        let behind = GroupProgress {
            last_delivered: id("12-0"),
            oldest_pending: Some(id("7-1")),
        };
        assert_eq!(trim_floor(&[caught_up, behind]), Some(id("7-1")));
        // A group that received nothing yet keeps everything after 0-0.
        let fresh = GroupProgress {
            last_delivered: id("0-0"),
            oldest_pending: None,
        };
        assert_eq!(trim_floor(&[behind, fresh]), Some(id("0-1")));
        assert_eq!(trim_floor(&[]), None);
    }

    #[test]
    fn lost_events_are_the_trimmed_ones_a_group_had_not_read() {
        // 500 added, 200 held (301..=500), 100 trimmed (301..=400).
        assert_eq!(lost_to(500, 200, 100, 500), 0, "read everything");
        assert_eq!(lost_to(500, 200, 100, 350), 50, "read up to 350");
        assert_eq!(lost_to(500, 200, 100, 0), 100, "read nothing");
        assert_eq!(lost_to(500, 200, 100, 450), 0);
    }

    #[test]
    fn only_idle_consumers_with_nothing_pending_are_removed() {
        let c = |name: &str, pending: usize, idle: usize| StreamInfoConsumer {
            name: name.to_owned(),
            pending,
            idle,
        };
        let all = [
            c("svc:gone", 0, 5_000),
            c("svc:busy", 1, 5_000),
            c("svc:recent", 0, 10),
            c("svc:me", 0, 5_000),
        ];
        let removed: Vec<&str> = idle_consumers(&all, Duration::from_secs(1), "svc:me")
            .map(|c| c.name.as_str())
            .collect();
        assert_eq!(removed, vec!["svc:gone"]);
    }
}
