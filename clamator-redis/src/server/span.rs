//! What an entry leaves for an operator: its server span (OpenTelemetry RPC attributes,
//! born with its name, method and id), the outcome and timings recorded on it, and the
//! counts of running handlers.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, SystemTime};

use clamator_protocol::{Envelope, RpcId};
use tracing::field::{display, Empty};

use super::runtime::ServiceRuntime;
use super::stats::Counters;
use crate::stream::{StreamEntry, StreamId};

/// The server span of one entry, `<service>/<method>` (the service alone when the envelope
/// could not be read), with the OpenTelemetry RPC attributes, the entry id, its delivery
/// count, and how long it waited in the stream (from the entry id's time to now); for an
/// event, the subscriber, and how many attempts its handler took.
pub(super) fn server_span(
    rt: &ServiceRuntime,
    entry: &StreamEntry,
    envelope: Option<&Envelope>,
) -> tracing::Span {
    let service = rt.name();
    let waited_ms = StreamId::parse(&entry.id).map(|id| {
        let now = SystemTime::now()
            .duration_since(SystemTime::UNIX_EPOCH)
            .map_or(0, |d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX));
        now.saturating_sub(id.ms)
    });
    if let Some(ms) = waited_ms {
        rt.metrics.queue_wait(Duration::from_millis(ms));
    }
    let (method, rpc_id) = match envelope {
        // Displayed, not turned into a `String`: formatted only if a layer records it.
        Some(Envelope::Request(r)) => (Some(r.method.as_str()), Some(display(BoundedId(&r.id)))),
        Some(Envelope::Notification(n)) => (Some(n.method.as_str()), None),
        Some(Envelope::Response(_)) | None => (None, None),
    };
    // Names and ids come from the wire: a span of a method the service does not have is
    // named `<service>/unknown` (as its metrics are labelled), and what it records of the
    // name and the id is cut to a bounded length, so a caller cannot make every exported
    // span as large as its request.
    let known = method.filter(|m| rt.service.method(m).is_some());
    let (slash, name) = match (method, known) {
        (None, _) => ("", ""),
        (Some(_), Some(m)) => ("/", m),
        (Some(_), None) => ("/", "unknown"),
    };
    let method = method.map(bounded);
    tracing::info_span!(
        "rpc.server",
        otel.name = %format_args!("{service}{slash}{name}"),
        otel.kind = "server",
        rpc.system.name = "jsonrpc",
        rpc.service = service,
        rpc.method = method.as_deref(),
        jsonrpc.request.id = rpc_id,
        messaging.message.id = entry.id.as_str(),
        clamator.subscriber = rt.events.as_ref().map(|_| rt.subscriber()),
        clamator.delivery_count = entry.delivery_count.map(as_i64),
        clamator.attempts = Empty,
        clamator.queue_wait_ms = waited_ms.map(as_i64),
        clamator.handler_ms = Empty,
        clamator.reply_ms = Empty,
        clamator.outcome = Empty,
        jsonrpc.error.code = Empty,
        error.type = Empty,
    )
}

/// The most of a name or an id from the wire a span records.
const MAX_RECORDED: usize = 64;

/// `text` cut to [`MAX_RECORDED`] bytes (at a character boundary), with `…` when cut.
fn bounded(text: &str) -> std::borrow::Cow<'_, str> {
    if text.len() <= MAX_RECORDED {
        return text.into();
    }
    let mut end = MAX_RECORDED;
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    format!("{}…", &text[..end]).into()
}

/// A request id as a span records it: bounded like a name.
struct BoundedId<'a>(&'a RpcId);

impl std::fmt::Display for BoundedId<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self.0 {
            RpcId::Str(s) | RpcId::BigInt(s) => f.write_str(&bounded(s)),
            other => other.fmt(f),
        }
    }
}

/// A count as a span field: OpenTelemetry attributes are signed, and `tracing-opentelemetry`
/// formats an unsigned value as text.
fn as_i64(n: u64) -> i64 {
    i64::try_from(n).unwrap_or(i64::MAX)
}

/// Records on the current server span how the entry ended: `outcome` (`ok`, `error`,
/// `expired`, `cancelled`, `dead-lettered`, `replayed`, …) and, for an error answer, its code;
/// and counts it (with the `metrics` feature) under the method, if the service has it.
pub(super) fn record_outcome(
    rt: &ServiceRuntime,
    method: &str,
    outcome: &'static str,
    code: Option<i64>,
) {
    rt.metrics.finished(method, outcome);
    let span = tracing::Span::current();
    span.record("clamator.outcome", outcome);
    if let Some(code) = code {
        span.record("jsonrpc.error.code", code);
        span.record("error.type", "rpc_error");
    }
}

/// Records a duration on the current server span, in milliseconds with microsecond
/// precision. Fields rather than child spans: a span per step would double what a tracing
/// backend records per call.
pub(super) fn record_millis(field: &'static str, took: Duration) {
    let span = tracing::Span::current();
    if !span.is_disabled() {
        span.record(field, took.as_secs_f64() * 1000.0);
    }
}

/// A handler running: counted in the `in_flight` gauge (with the `metrics` feature) and in
/// [`ServerStats::in_flight`](crate::ServerStats::in_flight) until dropped, and timed.
pub(super) struct Running<'a> {
    _gauge: crate::instruments::InFlight<'a>,
    counter: &'a AtomicU64,
    started: std::time::Instant,
}

impl<'a> Running<'a> {
    pub(super) fn start(rt: &'a ServiceRuntime, counter: &'a AtomicU64) -> Self {
        Counters::bump(counter);
        Self {
            _gauge: crate::instruments::InFlight::start(&rt.metrics),
            counter,
            started: std::time::Instant::now(),
        }
    }

    /// Records how long the handler of `method` ran, on the span and in the histogram.
    pub(super) fn record(&self, rt: &ServiceRuntime, method: &str) {
        let took = self.started.elapsed();
        rt.metrics.handler_time(method, took);
        record_millis("clamator.handler_ms", took);
    }
}

impl Drop for Running<'_> {
    fn drop(&mut self) {
        self.counter.fetch_sub(1, Ordering::Relaxed);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_and_ids_from_the_wire_are_recorded_bounded() {
        assert_eq!(bounded("add"), "add");
        let long = "é".repeat(100);
        let cut = bounded(&long);
        assert!(cut.len() <= MAX_RECORDED + '…'.len_utf8(), "{}", cut.len());
        assert!(cut.ends_with('…'));
        assert_eq!(BoundedId(&RpcId::from(42)).to_string(), "42");
        let id = RpcId::from("x".repeat(100_000).as_str());
        assert_eq!(
            BoundedId(&id).to_string().len(),
            MAX_RECORDED + '…'.len_utf8()
        );
    }
}
