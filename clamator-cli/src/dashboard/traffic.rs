//! What the tails count and send: a running tail's feed, the calls per method it saw (the
//! service page shows them), and tail events made small enough to push to a page.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex, PoisonError};

use serde_json::{json, Value};
use tokio::sync::broadcast;

use super::Shared;
use crate::output;

/// The most rows the tail's page keeps (the script drops older ones).
pub(crate) const MAX_ROWS: usize = 200;

/// The most of a params, result or error data the tail sends, serialized.
const MAX_PAYLOAD: usize = 2048;

/// A running tail.
#[derive(Clone)]
pub(crate) struct Feed {
    /// Where the tail sends its events.
    pub(crate) tx: broadcast::Sender<Arc<str>>,
    /// Its counts per method.
    pub(crate) stats: Arc<Mutex<BTreeMap<String, MethodStats>>>,
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
            // Latencies come from entry ids, which a caller chooses: saturate, never wrap.
            self.latency_total_ms = self.latency_total_ms.saturating_add(ms);
            self.latencies += 1;
        }
    }

    /// The mean latency of the replies seen.
    pub(crate) fn mean_latency_ms(&self) -> Option<f64> {
        (self.latencies > 0).then(|| self.latency_total_ms as f64 / self.latencies as f64)
    }
}

/// The most methods a tail counts apart; the rest (method names come from the wire) are
/// counted together.
pub(crate) const MAX_METHODS: usize = 256;

/// The name `method` is counted under, given the methods counted so far.
pub(crate) fn counted_as<'a>(stats: &BTreeMap<String, MethodStats>, method: &'a str) -> &'a str {
    if stats.contains_key(method) || stats.len() < MAX_METHODS {
        method
    } else {
        "(other methods)"
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
        let mut many = BTreeMap::new();
        for i in 0..MAX_METHODS + 10 {
            let name = format!("m{i}");
            let key = counted_as(&many, &name).to_owned();
            many.entry(key)
                .or_insert_with(MethodStats::default)
                .count(&json!({}));
        }
        assert_eq!(many.len(), MAX_METHODS + 1);
        assert_eq!(many["(other methods)"].calls, 10);
        let mut s = MethodStats::default();
        s.count(&json!({"latencyMs": u64::MAX}));
        s.count(&json!({"latencyMs": u64::MAX}));
        assert_eq!(s.mean_latency_ms(), Some(u64::MAX as f64 / 2.0));
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
