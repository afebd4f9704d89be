//! What is pushed to open pages, as server-sent events: the overview's live part, redrawn
//! after every sample, and a service's tail as it passes.
//!
//! One tail per service, whatever the number of pages showing it: it starts with the first
//! viewer (on a connection of its own, as it blocks in `XREAD`) and stops when the last one
//! leaves. Each viewer gets the tail through a bounded channel: a page that cannot keep up
//! is told how many events it missed (`dropped`) instead of the dashboard queueing for it.

use std::collections::BTreeMap;
use std::convert::Infallible;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use axum::extract::{Path, State};
use axum::response::sse::{Event, KeepAlive, Sse};
use axum::response::{IntoResponse, Response};
use futures_util::stream;
use serde_json::{json, Value};
use tokio::sync::broadcast;

use super::pages::{render_overview, PageError};
use super::Shared;
use crate::commands::tail::{Options, Tailer};
use crate::output;

/// The most rows the tail's page keeps (the script drops older ones).
pub(crate) const MAX_ROWS: usize = 200;

/// The most services tailed at once (each tail holds a connection of its own).
pub(crate) const MAX_TAILS: usize = 16;

/// Events a viewer may fall behind before it is told it missed some.
const CHANNEL: usize = 256;

/// The most of a params, result or error data the tail sends, serialized.
const MAX_PAYLOAD: usize = 2048;

/// A running tail.
#[derive(Clone)]
pub(crate) struct Feed {
    tx: broadcast::Sender<Arc<str>>,
    stats: Arc<Mutex<BTreeMap<String, MethodStats>>>,
}

/// Calls of one method seen by a tail.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub(crate) struct MethodStats {
    /// Requests, notifications and events seen.
    pub(crate) calls: u64,
    /// Replies that were errors.
    pub(crate) errors: u64,
    /// Requests shown without a reply.
    pub(crate) no_reply: u64,
    latency_total_ms: u64,
    latencies: u64,
}

impl MethodStats {
    /// Counts one tail event.
    pub(crate) fn count(&mut self, event: &Value) {
        self.calls += 1;
        match event["outcome"].as_str() {
            Some("error") => self.errors += 1,
            Some("noReply") => self.no_reply += 1,
            _ => {}
        }
        if let Some(ms) = event["latencyMs"].as_u64() {
            self.latency_total_ms += ms;
            self.latencies += 1;
        }
    }

    /// The mean latency of the replies seen.
    pub(crate) fn mean_latency_ms(&self) -> Option<f64> {
        (self.latencies > 0).then(|| self.latency_total_ms as f64 / self.latencies as f64)
    }
}

/// The per-method counts of `name`'s tail, while one runs (or ran).
pub(crate) fn method_stats(state: &Shared, name: &str) -> BTreeMap<String, MethodStats> {
    let tails = state.tails.lock().unwrap_or_else(PoisonError::into_inner);
    tails
        .get(name)
        .map(|f| {
            f.stats
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .clone()
        })
        .unwrap_or_default()
}

/// A tail event made small enough to send: long payloads replaced by their size, long
/// names cut.
pub(crate) fn bounded(mut event: Value) -> Value {
    for key in ["params", "result"] {
        if let Some(v) = event.get(key) {
            let size = v.to_string().len();
            if size > MAX_PAYLOAD {
                event[key] = json!(format!("({size} bytes, not shown)"));
            }
        }
    }
    if let Some(data) = event.get("error").and_then(|e| e.get("data")) {
        let size = data.to_string().len();
        if size > MAX_PAYLOAD {
            event["error"]["data"] = json!(format!("({size} bytes, not shown)"));
        }
    }
    for key in ["method", "rpcId"] {
        if let Some(s) = event[key].as_str() {
            if s.len() > 200 {
                event[key] = json!(output::cut(s, 200));
            }
        }
    }
    event
}

/// `/live/overview`: the overview's live part, now and after every sample.
pub(crate) async fn overview(State(state): State<Shared>) -> Response {
    let rx = state.changed.subscribe();
    let events = stream::unfold((state, rx, true), |(state, mut rx, first)| async move {
        if !first && rx.changed().await.is_err() {
            return None;
        }
        let html = render_overview(&state);
        let event = Event::default().event("overview").data(html);
        Some((Ok::<_, Infallible>(event), (state, rx, false)))
    });
    Sse::new(events)
        .keep_alive(KeepAlive::new().interval(Duration::from_secs(15)))
        .into_response()
}

/// `/live/tail/{name}`: the tail of a service, as JSON events.
pub(crate) async fn tail(
    State(state): State<Shared>,
    Path(name): Path<String>,
) -> Result<Response, PageError> {
    if !clamator_protocol::names::is_valid_service(&name) {
        return Err(crate::error::CliError::Usage(format!(
            "invalid service name {name:?} (it must match ^[a-z][a-z0-9-]*$)"
        ))
        .into());
    }
    let Some(rx) = subscribe(&state, &name) else {
        return Err(PageError::busy(format!(
            "{MAX_TAILS} services are tailed already; close a tail page first"
        )));
    };
    let events = stream::unfold(rx, |mut rx| async move {
        let event = match rx.recv().await {
            Ok(text) => Event::default().event("tail").data(text.as_ref()),
            Err(broadcast::error::RecvError::Lagged(n)) => {
                Event::default().event("dropped").data(n.to_string())
            }
            Err(broadcast::error::RecvError::Closed) => return None,
        };
        Some((Ok::<_, Infallible>(event), rx))
    });
    Ok(Sse::new(events)
        .keep_alive(KeepAlive::new().interval(Duration::from_secs(15)))
        .into_response())
}

/// A receiver of `name`'s tail, starting the tail when none runs; `None` when
/// [`MAX_TAILS`] others run.
fn subscribe(state: &Shared, name: &str) -> Option<broadcast::Receiver<Arc<str>>> {
    let mut tails = state.tails.lock().unwrap_or_else(PoisonError::into_inner);
    if let Some(feed) = tails.get(name) {
        if feed.tx.receiver_count() > 0 {
            return Some(feed.tx.subscribe());
        }
    }
    if tails.len() > 4 * MAX_TAILS {
        // Counts of tails nobody watches any more go first.
        tails.retain(|_, f| f.tx.receiver_count() > 0);
    }
    let running = tails.values().filter(|f| f.tx.receiver_count() > 0).count();
    if running >= MAX_TAILS {
        return None;
    }
    let (tx, rx) = broadcast::channel(CHANNEL);
    let feed = Feed {
        tx,
        stats: Arc::new(Mutex::new(BTreeMap::new())),
    };
    tails.insert(name.to_owned(), feed.clone());
    tokio::spawn(run_tail(state.clone(), name.to_owned(), feed));
    Some(rx)
}

/// Tails `name` while anyone watches; a failure is sent to the pages and retried.
async fn run_tail(state: Shared, name: String, feed: Feed) {
    let options = Options {
        count: None,
        reply_wait: Duration::from_secs(30),
        no_params: false,
        events: true,
    };
    let send = |event: Value| {
        let _ = feed.tx.send(Arc::from(event.to_string()));
    };
    'connect: while feed.tx.receiver_count() > 0 {
        let started = async {
            let mut conn = state.target.connect().await?;
            let tailer = Tailer::start(&mut conn, &state.prefix, &name, options.clone()).await?;
            Ok::<_, crate::error::CliError>((conn, tailer))
        };
        let (mut conn, mut tailer) = match started.await {
            Ok(started) => started,
            Err(e) => {
                send(json!({"kind": "error", "message": e.to_string()}));
                tokio::time::sleep(Duration::from_secs(1)).await;
                continue;
            }
        };
        send(json!({"kind": "status", "message": format!("tailing {name}")}));
        while feed.tx.receiver_count() > 0 {
            match tailer.next(&mut conn).await {
                Ok(events) => {
                    for event in events {
                        let event = bounded(event);
                        if let Some(method) = event["method"].as_str() {
                            feed.stats
                                .lock()
                                .unwrap_or_else(PoisonError::into_inner)
                                .entry(method.to_owned())
                                .or_default()
                                .count(&event);
                        }
                        send(event);
                    }
                }
                Err(e) => {
                    send(json!({"kind": "error", "message": e.to_string()}));
                    tokio::time::sleep(Duration::from_secs(1)).await;
                    continue 'connect;
                }
            }
        }
    }
    // Nobody watches: the entry stays, so the service page keeps the counts until a new
    // tail replaces it.
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn big_payloads_are_replaced_by_their_size() {
        let big = "x".repeat(5000);
        let e = bounded(json!({"method": "a.b", "params": {"s": big}, "result": 1,
            "error": {"code": 1, "data": {"s": "y".repeat(3000)}}}));
        assert!(e["params"].as_str().unwrap().contains("bytes, not shown"));
        assert_eq!(e["result"], 1);
        assert!(e["error"]["data"].as_str().unwrap().contains("not shown"));
        let long = bounded(json!({"method": "m".repeat(1000)}));
        assert!(long["method"].as_str().unwrap().chars().count() <= 200);
    }

    #[test]
    fn methods_are_counted_with_their_outcomes() {
        let mut s = MethodStats::default();
        s.count(&json!({"outcome": "ok", "latencyMs": 4}));
        s.count(&json!({"outcome": "error", "latencyMs": 6}));
        s.count(&json!({"outcome": "noReply"}));
        assert_eq!((s.calls, s.errors, s.no_reply), (3, 1, 1));
        assert_eq!(s.mean_latency_ms(), Some(5.0));
    }
}
