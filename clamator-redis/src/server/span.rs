//! What an entry leaves for an operator: its server span (OpenTelemetry RPC attributes,
//! born with its name, method and id), the outcome and timings recorded on it, and the
//! counts of running handlers.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, SystemTime};

use clamator_protocol::Envelope;
use tracing::field::{display, Empty};

use super::runtime::ServiceRuntime;
use super::stats::Counters;
use crate::stream::{StreamEntry, StreamId};

/// The server span of one entry, `<service>/<method>` (the service alone when the envelope
/// could not be read), with the OpenTelemetry RPC attributes, the entry id, its delivery
/// count, and how long it waited in the stream (from the entry id's time to now).
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
        Some(Envelope::Request(r)) => (Some(r.method.as_str()), Some(display(&r.id))),
        Some(Envelope::Notification(n)) => (Some(n.method.as_str()), None),
        Some(Envelope::Response(_)) | None => (None, None),
    };
    // `service/method`, formatted only if a layer records it.
    let (slash, name) = method.map_or(("", ""), |m| ("/", m));
    tracing::info_span!(
        "rpc.server",
        otel.name = %format_args!("{service}{slash}{name}"),
        otel.kind = "server",
        rpc.system.name = "jsonrpc",
        rpc.service = service,
        rpc.method = method,
        jsonrpc.request.id = rpc_id,
        messaging.message.id = entry.id.as_str(),
        clamator.delivery_count = entry.delivery_count.map(as_i64),
        clamator.queue_wait_ms = waited_ms.map(as_i64),
        clamator.handler_ms = Empty,
        clamator.reply_ms = Empty,
        clamator.outcome = Empty,
        jsonrpc.error.code = Empty,
        error.type = Empty,
    )
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
