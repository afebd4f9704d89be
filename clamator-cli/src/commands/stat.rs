//! `clamator stat [service] [--watch]`: stream length, requests added and acknowledged per
//! second, group lag, pending entries and the age of the oldest, consumers, dead letters.
//!
//! Rates come from two samples: Redis 7's `entries-added` (`XINFO STREAM`) for requests in,
//! and the group's `entries-read` minus its pending count (`XINFO GROUPS`) for requests
//! acknowledged. Without those fields (older Redis) the rates are unknown.

use std::collections::{BTreeMap, BTreeSet};
use std::io::IsTerminal as _;
use std::time::{Duration, Instant};

use clamator_redis::{keys, RedisConnection};
use redis::Value;
use serde_json::{json, Value as Json};

use crate::error::CliError;
use crate::output::{self, Table};
use crate::query::Query;
use crate::streams::{self, CommandStream, ConsumerInfo, GroupInfo, StreamInfo};
use crate::Ctx;

/// Arguments of `clamator stat`.
#[derive(clap::Args, Debug)]
pub(crate) struct Args {
    /// One service, or one subscriber (its group on the event streams it reads, or
    /// `publisher/subscriber`); every service under the prefix when left out.
    service: Option<String>,
    /// Refresh like `top` every `--interval` until Ctrl-C (with `--json`: one document per
    /// line per refresh).
    #[arg(long)]
    watch: bool,
    /// The refresh interval of `--watch`.
    #[arg(long, default_value = "2s", value_parser = output::parse_duration)]
    interval: Duration,
    /// Without `--watch`: how long to sample for the rates.
    #[arg(long, default_value = "1s", value_parser = output::parse_duration)]
    sample: Duration,
}

/// One stream at one moment.
#[derive(Debug, Clone)]
pub(crate) struct StreamSnap {
    pub(crate) stream: CommandStream,
    pub(crate) info: StreamInfo,
    /// Each group, its oldest pending id, and its consumers (the service's own group's, or
    /// every group's when the snapshot was asked for them).
    pub(crate) groups: Vec<(GroupInfo, Option<String>, Vec<ConsumerInfo>)>,
}

/// Every service at one moment.
#[derive(Debug, Clone)]
pub(crate) struct Snapshot {
    pub(crate) at: Instant,
    /// Redis's clock (`TIME`) when it was taken, in epoch milliseconds.
    pub(crate) redis_ms: u64,
    /// By service (or subscriber): its streams, and the length of its dead-letter stream.
    pub(crate) services: BTreeMap<String, (Vec<StreamSnap>, u64)>,
}

/// Runs `clamator stat`.
pub(crate) async fn run(ctx: &Ctx, args: Args) -> Result<(), CliError> {
    let prefix = ctx.prefix()?;
    let mut conn = ctx.connect().await?;
    let mut previous = snapshot(&mut conn, prefix, args.service.as_deref()).await?;
    if !args.watch {
        tokio::time::sleep(args.sample).await;
        let now = snapshot(&mut conn, prefix, args.service.as_deref()).await?;
        let doc = document(prefix, Some(&previous), &now);
        if ctx.json {
            output::json(&doc);
        } else {
            print(&doc);
        }
        return Ok(());
    }
    let clear = std::io::stdout().is_terminal() && !ctx.json;
    let mut first = Some(previous.clone());
    loop {
        let now = match first.take() {
            Some(first) => first,
            None => snapshot(&mut conn, prefix, args.service.as_deref()).await?,
        };
        let doc = if now.at == previous.at {
            document(prefix, None, &now)
        } else {
            document(prefix, Some(&previous), &now)
        };
        if ctx.json {
            output::json(&doc);
        } else {
            if clear {
                output::clear_screen();
            }
            print(&doc);
            if !clear {
                output::line("");
            }
        }
        previous = now;
        tokio::select! {
            _ = tokio::signal::ctrl_c() => return Ok(()),
            () = tokio::time::sleep(args.interval) => {}
        }
    }
}

/// Every service under `prefix` (or the one `only` names) at this moment: what `stat`
/// prints, and what the dashboard samples.
pub(crate) async fn snapshot(
    conn: &mut RedisConnection,
    prefix: &str,
    only: Option<&str>,
) -> Result<Snapshot, CliError> {
    let services: BTreeMap<String, Vec<CommandStream>> = match only {
        Some(name) => {
            let (group, streams) = streams::resolve(conn, prefix, name).await?;
            BTreeMap::from([(group, streams)])
        }
        None => streams::all_services(conn, prefix).await?,
    };
    snapshot_of(conn, prefix, services, false).await
}

/// `services` (each with its streams; its own group is the one named like it) at this
/// moment; with `every_groups_consumers`, the consumers of every group (an event stream's
/// subscribers), not only the own group's.
pub(crate) async fn snapshot_of(
    conn: &mut RedisConnection,
    prefix: &str,
    services: BTreeMap<String, Vec<CommandStream>>,
    every_groups_consumers: bool,
) -> Result<Snapshot, CliError> {
    let redis_ms = streams::redis_now_ms(conn).await?;
    let at = Instant::now();
    let mut out = BTreeMap::new();
    for (service, list) in services {
        let mut snaps = Vec::new();
        for stream in list {
            let info = streams::stream_info(conn, &stream.key)
                .await?
                .unwrap_or_default();
            let mut groups = Vec::new();
            for group in streams::groups(conn, &stream.key).await? {
                let oldest = oldest_pending(conn, &stream.key, &group.name).await?;
                let consumers = if group.name == service || every_groups_consumers {
                    streams::consumers(conn, &stream.key, &group.name).await?
                } else {
                    Vec::new()
                };
                groups.push((group, oldest, consumers));
            }
            snaps.push(StreamSnap {
                stream,
                info,
                groups,
            });
        }
        let dlq: u64 = conn
            .query(redis::cmd("XLEN").arg(keys::dead_letter_stream(prefix, &service)))
            .await?;
        out.insert(service, (snaps, dlq));
    }
    Ok(Snapshot {
        at,
        redis_ms,
        services: out,
    })
}

/// The oldest pending id of a group (`XPENDING <key> <group>`, the summary form).
pub(crate) async fn oldest_pending(
    conn: &mut RedisConnection,
    key: &str,
    group: &str,
) -> Result<Option<String>, CliError> {
    let reply: Option<Value> = conn
        .query_unless(redis::cmd("XPENDING").arg(key).arg(group), &["NOGROUP"])
        .await?;
    Ok(match reply {
        Some(Value::Array(parts)) => parts.get(1).and_then(streams::text),
        _ => None,
    })
}

/// Per second over `secs`, when both counts are known and did not go backwards.
pub(crate) fn rate(before: Option<u64>, after: Option<u64>, secs: f64) -> Option<f64> {
    let (before, after) = (before?, after?);
    (after >= before && secs > 0.0).then(|| ((after - before) as f64 / secs * 10.0).round() / 10.0)
}

/// Entries a group has acknowledged: read minus pending (Redis 7+).
pub(crate) fn acked(g: &GroupInfo) -> Option<u64> {
    g.entries_read.map(|read| read.saturating_sub(g.pending))
}

/// The document `stat --json` prints: each service's figures at `now`, with rates over the
/// time since `before`.
pub(crate) fn document(prefix: &str, before: Option<&Snapshot>, now: &Snapshot) -> Json {
    let secs = before.map_or(0.0, |b| now.at.duration_since(b.at).as_secs_f64());
    let mut services = Vec::new();
    for (service, (snaps, dlq)) in &now.services {
        let old = before.and_then(|b| b.services.get(service));
        let old_stream = |key: &str| old.and_then(|(s, _)| s.iter().find(|s| s.stream.key == key));
        let mut streams_json = Vec::new();
        let (mut length, mut pending) = (0u64, 0u64);
        let mut lag = Some(0u64);
        let mut added_rate = Some(0.0);
        let mut acked_rate = Some(0.0);
        let mut oldest_age: Option<u64> = None;
        let mut consumers = BTreeSet::new();
        for snap in snaps {
            let prev = old_stream(&snap.stream.key);
            let added = rate(
                prev.and_then(|p| p.info.entries_added),
                snap.info.entries_added,
                secs,
            );
            length += snap.info.length;
            added_rate = add(added_rate, added);
            let mut groups_json = Vec::new();
            for (g, oldest, names) in &snap.groups {
                let prev_group = prev.and_then(|p| {
                    p.groups
                        .iter()
                        .find(|(pg, _, _)| pg.name == g.name)
                        .map(|(pg, _, _)| pg)
                });
                let acked_per_sec = rate(prev_group.and_then(acked), acked(g), secs);
                let age = oldest
                    .as_deref()
                    .and_then(output::id_ms)
                    .map(|ms| now.redis_ms.saturating_sub(ms));
                if g.name == *service {
                    pending += g.pending;
                    lag = match (lag, g.lag) {
                        (Some(a), Some(b)) => Some(a + b),
                        _ => None,
                    };
                    acked_rate = add(acked_rate, acked_per_sec);
                    oldest_age = oldest_age.max(age);
                    consumers.extend(names.iter().map(|c| c.name.clone()));
                }
                groups_json.push(json!({
                    "name": g.name,
                    "consumers": g.consumers,
                    "pending": g.pending,
                    "lag": g.lag,
                    "entriesRead": g.entries_read,
                    "ackedPerSec": acked_per_sec,
                    "oldestPendingId": oldest,
                    "oldestPendingAgeMs": age,
                }));
            }
            if !snap.groups.iter().any(|(g, _, _)| g.name == *service) {
                // No clamator group: nothing is served, so nothing is acknowledged.
                lag = None;
            }
            streams_json.push(json!({
                "key": snap.stream.key,
                "partition": snap.stream.partition,
                "length": snap.info.length,
                "entriesAdded": snap.info.entries_added,
                "lastGeneratedId": snap.info.last_generated_id,
                "addedPerSec": added,
                "groups": groups_json,
            }));
        }
        if before.is_none() || snaps.is_empty() {
            added_rate = None;
            acked_rate = None;
        }
        services.push(json!({
            "service": service,
            "length": length,
            "addedPerSec": added_rate,
            "ackedPerSec": acked_rate,
            "lag": lag.filter(|_| !snaps.is_empty()),
            "pending": pending,
            "oldestPendingAgeMs": oldest_age,
            "consumers": consumers.len(),
            "deadLetters": dlq,
            "streams": streams_json,
        }));
    }
    json!({
        "prefix": prefix,
        "at": now.redis_ms,
        "sampleMs": (secs * 1000.0).round() as u64,
        "services": services,
    })
}

fn add(total: Option<f64>, more: Option<f64>) -> Option<f64> {
    Some(total? + more?)
}

fn print(doc: &Json) {
    let services = doc["services"].as_array().cloned().unwrap_or_default();
    if services.is_empty() {
        output::line(&format!(
            "no services under prefix \"{}\"",
            doc["prefix"].as_str().unwrap_or("")
        ));
        return;
    }
    let num = |v: &Json| match v {
        Json::Null => "-".to_owned(),
        Json::Number(n) => n.to_string(),
        other => other.to_string(),
    };
    let mut table = Table::new(&[
        "SERVICE",
        "LENGTH",
        "IN/S",
        "ACK/S",
        "LAG",
        "PENDING",
        "OLDEST",
        "CONSUMERS",
        "DLQ",
    ]);
    for s in &services {
        table.row(vec![
            s["service"].as_str().unwrap_or("").to_owned(),
            num(&s["length"]),
            num(&s["addedPerSec"]),
            num(&s["ackedPerSec"]),
            num(&s["lag"]),
            num(&s["pending"]),
            s["oldestPendingAgeMs"]
                .as_u64()
                .map_or("-".to_owned(), output::millis),
            num(&s["consumers"]),
            num(&s["deadLetters"]),
        ]);
    }
    table.print();
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rates_need_two_counts_that_grew() {
        assert_eq!(rate(Some(10), Some(30), 2.0), Some(10.0));
        assert_eq!(rate(None, Some(30), 2.0), None);
        assert_eq!(rate(Some(30), Some(10), 2.0), None);
        assert_eq!(rate(Some(1), Some(2), 0.0), None);
        let g = GroupInfo {
            entries_read: Some(10),
            pending: 3,
            ..GroupInfo::default()
        };
        assert_eq!(acked(&g), Some(7));
    }
}
