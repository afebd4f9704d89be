//! The dashboard's own sampling: every `--interval` it takes the snapshot `clamator stat`
//! takes (of the services' command streams, and of the publishers' event streams with their
//! subscribers), keeps the figures of the last `--history` for the charts, and says what
//! stands out. One sampler per dashboard, whatever the number of pages open: the cost to
//! Redis does not grow with viewers.
//!
//! Which streams exist is asked (`SCAN`) at start and every [`REDISCOVER`] only, as a scan
//! walks the whole keyspace; between scans a tick is a handful of `XINFO`, `XPENDING`
//! (summary form) and `XLEN` per stream.

use std::collections::{BTreeMap, VecDeque};
use std::time::{Duration, Instant};

use clamator_redis::RedisConnection;
use serde_json::{json, Value as Json};

use crate::commands::stat::{self, Snapshot};
use crate::error::CliError;
use crate::streams::{self, CommandStream, ConsumerInfo};

/// How often the sampler looks for new services and publishers.
pub(crate) const REDISCOVER: Duration = Duration::from_secs(30);

/// The figures of one service (or publisher, or subscriber) at one sample.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub(crate) struct Point {
    /// Requests (events) added per second.
    pub(crate) added: Option<f64>,
    /// Acknowledged per second.
    pub(crate) acked: Option<f64>,
    /// Entries not delivered to the group yet.
    pub(crate) lag: Option<u64>,
    /// Delivered and not acknowledged.
    pub(crate) pending: u64,
    /// Age of the oldest pending entry.
    pub(crate) oldest_ms: Option<u64>,
    /// Dead letters.
    pub(crate) dead_letters: u64,
}

/// One consumer as the overview lists it.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Consumer {
    /// The service (or `publisher/subscriber` for a subscriber's consumer).
    pub(crate) owner: String,
    /// The stream it reads.
    pub(crate) stream: String,
    /// What `XINFO CONSUMERS` says.
    pub(crate) info: ConsumerInfo,
}

/// What the last sample saw.
#[derive(Debug, Clone, Default)]
pub(crate) struct Sample {
    /// Redis's clock at the sample, epoch milliseconds.
    pub(crate) redis_ms: u64,
    /// `stat --json`'s document of the services.
    pub(crate) services: Json,
    /// The same document over the publishers' event streams: each "service" is a
    /// publisher, and its streams' groups are the subscribers.
    pub(crate) publishers: Json,
    /// Every consumer of every group.
    pub(crate) consumers: Vec<Consumer>,
}

/// The figures over time, and the last sample.
#[derive(Debug, Default)]
pub(crate) struct History {
    /// By name: a service, `events:<publisher>`, or `<publisher>/<subscriber>`.
    pub(crate) points: BTreeMap<String, VecDeque<Point>>,
    /// How many points each name keeps.
    pub(crate) capacity: usize,
    /// The last sample.
    pub(crate) latest: Option<Sample>,
    /// Why the last tick failed (Redis unreachable, …), until one succeeds.
    pub(crate) error: Option<String>,
    /// Bumped by every tick, so live pages know when to redraw.
    pub(crate) version: u64,
}

impl History {
    /// An empty history keeping `capacity` points per name.
    pub(crate) fn new(capacity: usize) -> Self {
        Self {
            capacity: capacity.max(2),
            ..Self::default()
        }
    }

    /// Takes in one sample and its points.
    pub(crate) fn push(&mut self, sample: Sample, points: BTreeMap<String, Point>) {
        for (name, point) in points {
            let ring = self.points.entry(name).or_default();
            if ring.len() == self.capacity {
                ring.pop_front();
            }
            ring.push_back(point);
        }
        // Names gone from Redis keep their figures until they age out of every ring.
        self.points.retain(|_, ring| !ring.is_empty());
        self.latest = Some(sample);
        self.error = None;
        self.version += 1;
    }

    /// The series of one figure of `name`, oldest first.
    pub(crate) fn series(&self, name: &str, f: impl Fn(&Point) -> Option<f64>) -> Vec<Option<f64>> {
        self.points
            .get(name)
            .map(|ring| ring.iter().map(f).collect())
            .unwrap_or_default()
    }
}

/// The points of one sample, by name, read off the two `stat` documents.
pub(crate) fn points(services: &Json, publishers: &Json) -> BTreeMap<String, Point> {
    let mut out = BTreeMap::new();
    let f = |v: &Json| v.as_f64();
    let u = |v: &Json| v.as_u64();
    for s in services["services"].as_array().into_iter().flatten() {
        let Some(name) = s["service"].as_str() else {
            continue;
        };
        out.insert(
            name.to_owned(),
            Point {
                added: f(&s["addedPerSec"]),
                acked: f(&s["ackedPerSec"]),
                lag: u(&s["lag"]),
                pending: u(&s["pending"]).unwrap_or(0),
                oldest_ms: u(&s["oldestPendingAgeMs"]),
                dead_letters: u(&s["deadLetters"]).unwrap_or(0),
            },
        );
    }
    for p in publishers["services"].as_array().into_iter().flatten() {
        let Some(publisher) = p["service"].as_str() else {
            continue;
        };
        out.insert(
            format!("events:{publisher}"),
            Point {
                added: f(&p["addedPerSec"]),
                ..Point::default()
            },
        );
        for stream in p["streams"].as_array().into_iter().flatten() {
            for g in stream["groups"].as_array().into_iter().flatten() {
                let Some(subscriber) = g["name"].as_str() else {
                    continue;
                };
                out.insert(
                    format!("{publisher}/{subscriber}"),
                    Point {
                        added: f(&p["addedPerSec"]),
                        acked: f(&g["ackedPerSec"]),
                        lag: u(&g["lag"]),
                        pending: u(&g["pending"]).unwrap_or(0),
                        oldest_ms: u(&g["oldestPendingAgeMs"]),
                        dead_letters: 0,
                    },
                );
            }
        }
    }
    out
}

/// Something an operator should look at.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Problem {
    /// The service, `events:<publisher>` or `<publisher>/<subscriber>` it is about.
    pub(crate) name: String,
    /// What stands out, in words.
    pub(crate) text: String,
}

/// What stands out now: lag that grew over the last three samples, an oldest pending entry
/// older than the servers' claim time (nobody reclaims it, or its handler hangs), a
/// consumer that has not tried to read for longer than the claim time (stopped, paused, or
/// gone without leaving its group), dead letters added within the history.
pub(crate) fn problems(history: &History, claim_idle: Duration) -> Vec<Problem> {
    let claim_ms = u64::try_from(claim_idle.as_millis()).unwrap_or(u64::MAX);
    let mut out = Vec::new();
    for (name, ring) in &history.points {
        let last: Vec<&Point> = ring.iter().rev().take(3).collect();
        if last.len() == 3 {
            if let (Some(c), Some(b), Some(a)) = (last[0].lag, last[1].lag, last[2].lag) {
                if c > b && b > a {
                    out.push(Problem {
                        name: name.clone(),
                        text: format!("lag growing: {a} → {b} → {c} entries not yet delivered"),
                    });
                }
            }
        }
        if let Some(oldest) = last.first().and_then(|p| p.oldest_ms) {
            if oldest > claim_ms {
                out.push(Problem {
                    name: name.clone(),
                    text: format!(
                        "oldest pending entry is {} old, past the claim time ({})",
                        crate::output::millis(oldest),
                        crate::output::millis(claim_ms)
                    ),
                });
            }
        }
        if let (Some(first), Some(now)) = (ring.front(), ring.back()) {
            if now.dead_letters > first.dead_letters {
                out.push(Problem {
                    name: name.clone(),
                    text: format!(
                        "{} new dead letter(s) in the charts' window ({} now)",
                        now.dead_letters - first.dead_letters,
                        now.dead_letters
                    ),
                });
            }
        }
    }
    for c in history.latest.iter().flat_map(|s| &s.consumers) {
        let quiet = c.info.inactive_ms.unwrap_or(c.info.idle_ms);
        if quiet > claim_ms {
            out.push(Problem {
                name: c.owner.clone(),
                text: format!(
                    "consumer {} has not read for {}, past the claim time ({}){}",
                    c.info.name,
                    crate::output::millis(quiet),
                    crate::output::millis(claim_ms),
                    if c.info.pending > 0 {
                        format!("; it holds {} pending", c.info.pending)
                    } else {
                        String::new()
                    }
                ),
            });
        }
    }
    out
}

/// The streams the sampler reads, found by `SCAN` now and then.
#[derive(Debug, Default)]
pub(crate) struct Streams {
    services: BTreeMap<String, Vec<CommandStream>>,
    publishers: BTreeMap<String, Vec<CommandStream>>,
    found_at: Option<Instant>,
}

/// One tick: rediscovers when due, snapshots everything, and returns the sample and its
/// points, given the previous snapshots for the rates.
pub(crate) async fn tick(
    conn: &mut RedisConnection,
    prefix: &str,
    known: &mut Streams,
    previous: &mut Option<(Snapshot, Snapshot)>,
) -> Result<(Sample, BTreeMap<String, Point>), CliError> {
    if known.found_at.is_none_or(|t| t.elapsed() >= REDISCOVER) {
        known.services = streams::all_services(conn, prefix).await?;
        known.publishers = streams::all_publishers(conn, prefix)
            .await?
            .into_iter()
            .map(|(p, key)| (p, vec![CommandStream { partition: 0, key }]))
            .collect();
        known.found_at = Some(Instant::now());
    }
    let services = stat::snapshot_of(conn, prefix, known.services.clone(), false).await?;
    let publishers = stat::snapshot_of(conn, prefix, known.publishers.clone(), true).await?;
    let (before_s, before_p) = match previous {
        Some((s, p)) => (Some(&*s), Some(&*p)),
        None => (None, None),
    };
    let services_doc = stat::document(prefix, before_s, &services);
    let publishers_doc = stat::document(prefix, before_p, &publishers);
    let mut consumers = Vec::new();
    for (snap, publisher_side) in [(&services, false), (&publishers, true)] {
        for (name, (streams, _)) in &snap.services {
            for s in streams {
                for (group, _, list) in &s.groups {
                    let owner = if publisher_side {
                        format!("{name}/{}", group.name)
                    } else {
                        name.clone()
                    };
                    consumers.extend(list.iter().map(|info| Consumer {
                        owner: owner.clone(),
                        stream: s.stream.key.clone(),
                        info: info.clone(),
                    }));
                }
            }
        }
    }
    let points = points(&services_doc, &publishers_doc);
    let sample = Sample {
        redis_ms: services.redis_ms,
        services: services_doc,
        publishers: publishers_doc,
        consumers,
    };
    *previous = Some((services, publishers));
    Ok((sample, points))
}

/// The sample as JSON (`/api/overview`): what the overview page shows.
pub(crate) fn sample_json(history: &History, claim_idle: Duration) -> Json {
    let latest = history.latest.clone().unwrap_or_default();
    json!({
        "at": latest.redis_ms,
        "error": history.error,
        "services": latest.services.get("services"),
        "publishers": latest.publishers.get("services"),
        "consumers": latest.consumers.iter().map(|c| json!({
            "owner": c.owner,
            "stream": c.stream,
            "name": c.info.name,
            "pending": c.info.pending,
            "idleMs": c.info.idle_ms,
            "inactiveMs": c.info.inactive_ms,
        })).collect::<Vec<_>>(),
        "problems": problems(history, claim_idle).iter().map(|p| json!({
            "name": p.name, "text": p.text,
        })).collect::<Vec<_>>(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn point(lag: u64, oldest: Option<u64>, dlq: u64) -> Point {
        Point {
            lag: Some(lag),
            oldest_ms: oldest,
            dead_letters: dlq,
            ..Point::default()
        }
    }

    #[test]
    fn the_history_keeps_the_last_points() {
        let mut h = History::new(3);
        for i in 0..5 {
            h.push(
                Sample::default(),
                BTreeMap::from([("arith".to_owned(), point(i, None, 0))]),
            );
        }
        assert_eq!(
            h.series("arith", |p| p.lag.map(|l| l as f64)),
            [Some(2.0), Some(3.0), Some(4.0)]
        );
        assert_eq!(h.version, 5);
        assert!(h.series("nobody", |p| Some(p.pending as f64)).is_empty());
    }

    #[test]
    fn what_stands_out_is_named() {
        let claim = Duration::from_secs(60);
        let mut h = History::new(10);
        for (lag, dlq) in [(1, 0), (2, 0), (5, 1)] {
            h.push(
                Sample::default(),
                BTreeMap::from([
                    ("arith".to_owned(), point(lag, Some(90_000), dlq)),
                    ("calm".to_owned(), point(0, Some(10), 0)),
                ]),
            );
        }
        let found = problems(&h, claim);
        let about = |name: &str| -> Vec<String> {
            found
                .iter()
                .filter(|p| p.name == name)
                .map(|p| p.text.clone())
                .collect()
        };
        let arith = about("arith");
        assert!(
            arith
                .iter()
                .any(|t| t.starts_with("lag growing: 1 → 2 → 5")),
            "{arith:?}"
        );
        assert!(
            arith.iter().any(|t| t.contains("past the claim time")),
            "{arith:?}"
        );
        assert!(
            arith.iter().any(|t| t.starts_with("1 new dead letter")),
            "{arith:?}"
        );
        assert!(about("calm").is_empty());
        h.latest = Some(Sample {
            consumers: vec![Consumer {
                owner: "arith".into(),
                stream: "p:cmds:arith".into(),
                info: ConsumerInfo {
                    name: "arith:gone".into(),
                    pending: 2,
                    idle_ms: 500_000,
                    inactive_ms: Some(120_000),
                },
            }],
            ..Sample::default()
        });
        let found = problems(&h, claim);
        assert!(found.iter().any(|p| p
            .text
            .starts_with("consumer arith:gone has not read for 2m")
            && p.text.contains("holds 2 pending")));
    }

    #[test]
    fn points_are_read_off_the_stat_documents() {
        let services = json!({"services": [{"service": "arith", "addedPerSec": 3.5,
            "ackedPerSec": 3.0, "lag": 0, "pending": 2, "oldestPendingAgeMs": 40,
            "deadLetters": 1}]});
        let publishers = json!({"services": [{"service": "orders", "addedPerSec": 2.0,
            "streams": [{"groups": [{"name": "billing", "lag": 4, "pending": 1,
                "ackedPerSec": 1.0, "oldestPendingAgeMs": 9}]}]}]});
        let p = points(&services, &publishers);
        assert_eq!(p["arith"].added, Some(3.5));
        assert_eq!(p["arith"].dead_letters, 1);
        assert_eq!(p["events:orders"].added, Some(2.0));
        assert_eq!(p["orders/billing"].lag, Some(4));
    }
}
