//! The server's and transport's metrics, through the `metrics` facade when the `metrics`
//! feature is on; without it every function here is empty and compiles away. Labels are the
//! service, a method the service has (`unknown` for any other name a caller sent, so a
//! hostile caller cannot grow the label set) and a fixed set of outcomes; never ids.

use std::time::Duration;

use clamator_protocol::Service;

/// What the sampling of one service's streams found (by the housekeeping loop).
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct QueueGauges {
    pub(crate) stream_length: u64,
    pub(crate) lag: Option<u64>,
    pub(crate) pending: u64,
    pub(crate) oldest_pending: Option<Duration>,
    pub(crate) dead_letters: u64,
}

#[cfg(feature = "metrics")]
mod on {
    use super::{Duration, QueueGauges, Service};

    fn service(s: &str) -> [(&'static str, String); 1] {
        [("service", s.to_owned())]
    }

    pub(crate) fn entries_read(s: &str, n: usize) {
        metrics::counter!("clamator_server_entries_read_total", &service(s)).increment(n as u64);
    }

    pub(crate) fn reclaimed(s: &str, n: usize) {
        metrics::counter!("clamator_server_reclaimed_total", &service(s)).increment(n as u64);
    }

    pub(crate) fn redelivered(s: &str) {
        metrics::counter!("clamator_server_redelivered_total", &service(s)).increment(1);
    }

    pub(crate) fn queue_wait(s: &str, waited: Duration) {
        metrics::histogram!("clamator_server_queue_wait_seconds", &service(s))
            .record(waited.as_secs_f64());
    }

    /// A method name for a label: one the service has, else `unknown` (names come from the
    /// wire; a label per name a caller invents would grow without bound).
    fn method_label<'a>(s: &Service, method: &'a str) -> &'a str {
        if s.method(method).is_some() {
            method
        } else {
            "unknown"
        }
    }

    pub(crate) fn finished(s: &Service, method: &str, outcome: &'static str) {
        let labels = [
            ("service", s.name().to_owned()),
            ("method", method_label(s, method).to_owned()),
            ("outcome", outcome.to_owned()),
        ];
        metrics::counter!("clamator_server_requests_total", &labels).increment(1);
    }

    pub(crate) fn handler_time(s: &Service, method: &str, took: Duration) {
        let labels = [
            ("service", s.name().to_owned()),
            ("method", method_label(s, method).to_owned()),
        ];
        metrics::histogram!("clamator_server_handler_duration_seconds", &labels)
            .record(took.as_secs_f64());
    }

    pub(crate) fn in_flight(s: &str, delta: f64) {
        metrics::gauge!("clamator_server_in_flight", &service(s)).increment(delta);
    }

    pub(crate) fn reply_write_failed(s: &str) {
        metrics::counter!("clamator_server_reply_write_failures_total", &service(s)).increment(1);
    }

    pub(crate) fn sampled(s: &str, g: QueueGauges) {
        let l = service(s);
        metrics::gauge!("clamator_stream_length", &l).set(g.stream_length as f64);
        if let Some(lag) = g.lag {
            metrics::gauge!("clamator_group_lag", &l).set(lag as f64);
        }
        metrics::gauge!("clamator_pending", &l).set(g.pending as f64);
        metrics::gauge!("clamator_oldest_pending_seconds", &l)
            .set(g.oldest_pending.map_or(0.0, |d| d.as_secs_f64()));
        metrics::gauge!("clamator_dead_letters", &l).set(g.dead_letters as f64);
    }
}

#[cfg(not(feature = "metrics"))]
mod on {
    use super::{Duration, QueueGauges, Service};

    pub(crate) fn entries_read(_: &str, _: usize) {}
    pub(crate) fn reclaimed(_: &str, _: usize) {}
    pub(crate) fn redelivered(_: &str) {}
    pub(crate) fn queue_wait(_: &str, _: Duration) {}
    pub(crate) fn finished(_: &Service, _: &str, _: &'static str) {}
    pub(crate) fn handler_time(_: &Service, _: &str, _: Duration) {}
    pub(crate) fn in_flight(_: &str, _: f64) {}
    pub(crate) fn reply_write_failed(_: &str) {}
    pub(crate) fn sampled(_: &str, _: QueueGauges) {}
}

pub(crate) use on::*;

/// Counts a handler in flight for as long as it lives.
pub(crate) struct InFlight<'a>(&'a str);

impl<'a> InFlight<'a> {
    pub(crate) fn start(service: &'a str) -> Self {
        in_flight(service, 1.0);
        Self(service)
    }
}

impl Drop for InFlight<'_> {
    fn drop(&mut self) {
        in_flight(self.0, -1.0);
    }
}
