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

/// The fixed outcomes of a server request (`clamator.outcome`).
#[cfg_attr(not(feature = "metrics"), allow(dead_code))]
const OUTCOMES: [&str; 9] = [
    "ok",
    "ignored",
    "error",
    "expired",
    "cancelled",
    "replayed",
    "left-to-owner",
    "refused",
    "dead-lettered",
];

#[cfg(feature = "metrics")]
mod on {
    use std::collections::HashMap;
    use std::sync::OnceLock;

    use metrics::{Counter, Gauge, Histogram};

    use super::{Duration, QueueGauges, Service, OUTCOMES};

    fn service(s: &str) -> [(&'static str, String); 1] {
        [("service", s.to_owned())]
    }

    /// The handles of one service's per-entry metrics, registered once when the service
    /// starts, so an entry costs a few atomic operations instead of a lookup (with label
    /// strings built) in the recorder's registry per metric. The recorder must be installed
    /// before the server starts, as the `metrics` crate asks of any library.
    pub(crate) struct ServiceMetrics {
        entries_read: Counter,
        queue_wait: Histogram,
        in_flight: Gauge,
        methods: HashMap<String, MethodMetrics>,
        unknown: MethodMetrics,
    }

    struct MethodMetrics {
        service: String,
        method: String,
        handler: Histogram,
        /// One per [`OUTCOMES`], registered on first use so a series appears once it moves.
        outcomes: [OnceLock<Counter>; OUTCOMES.len()],
    }

    impl MethodMetrics {
        fn new(service: &str, method: &str) -> Self {
            let labels = [
                ("service", service.to_owned()),
                ("method", method.to_owned()),
            ];
            Self {
                service: service.to_owned(),
                method: method.to_owned(),
                handler: metrics::histogram!("clamator_server_handler_duration_seconds", &labels),
                outcomes: Default::default(),
            }
        }

        fn finished(&self, outcome: &'static str) {
            let counter = |outcome: &str| {
                let labels = [
                    ("service", self.service.clone()),
                    ("method", self.method.clone()),
                    ("outcome", outcome.to_owned()),
                ];
                metrics::counter!("clamator_server_requests_total", &labels)
            };
            match OUTCOMES.iter().position(|o| *o == outcome) {
                Some(i) => self.outcomes[i]
                    .get_or_init(|| counter(outcome))
                    .increment(1),
                None => counter(outcome).increment(1),
            }
        }
    }

    impl ServiceMetrics {
        pub(crate) fn new(s: &Service) -> Self {
            let labels = service(s.name());
            Self {
                entries_read: metrics::counter!("clamator_server_entries_read_total", &labels),
                queue_wait: metrics::histogram!("clamator_server_queue_wait_seconds", &labels),
                in_flight: metrics::gauge!("clamator_server_in_flight", &labels),
                methods: s
                    .descriptor()
                    .methods
                    .iter()
                    .map(|m| (m.name.clone(), MethodMetrics::new(s.name(), &m.name)))
                    .collect(),
                unknown: MethodMetrics::new(s.name(), "unknown"),
            }
        }

        /// A method the service has, else `unknown` (names come from the wire; a label per
        /// name a caller invents would grow without bound).
        fn method(&self, method: &str) -> &MethodMetrics {
            self.methods.get(method).unwrap_or(&self.unknown)
        }

        pub(crate) fn entries_read(&self, n: usize) {
            self.entries_read.increment(n as u64);
        }

        pub(crate) fn queue_wait(&self, waited: Duration) {
            self.queue_wait.record(waited.as_secs_f64());
        }

        pub(crate) fn finished(&self, method: &str, outcome: &'static str) {
            self.method(method).finished(outcome);
        }

        pub(crate) fn handler_time(&self, method: &str, took: Duration) {
            self.method(method).handler.record(took.as_secs_f64());
        }

        pub(super) fn in_flight(&self, delta: f64) {
            self.in_flight.increment(delta);
        }
    }

    pub(crate) fn reclaimed(s: &str, n: usize) {
        metrics::counter!("clamator_server_reclaimed_total", &service(s)).increment(n as u64);
    }

    pub(crate) fn redelivered(s: &str) {
        metrics::counter!("clamator_server_redelivered_total", &service(s)).increment(1);
    }

    pub(crate) fn reply_write_failed(s: &str) {
        metrics::counter!("clamator_server_reply_write_failures_total", &service(s)).increment(1);
    }

    pub(crate) fn group_recreated(s: &str) {
        metrics::counter!("clamator_server_groups_recreated_total", &service(s)).increment(1);
    }

    pub(crate) fn events_lost(publisher: &str, subscriber: &str, n: u64) {
        let labels = [
            ("service", publisher.to_owned()),
            ("subscriber", subscriber.to_owned()),
        ];
        metrics::counter!("clamator_events_lost_total", &labels).increment(n);
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

    /// Without the feature: nothing to hold, nothing to do.
    pub(crate) struct ServiceMetrics;

    impl ServiceMetrics {
        pub(crate) fn new(_: &Service) -> Self {
            Self
        }
        pub(crate) fn entries_read(&self, _: usize) {}
        pub(crate) fn queue_wait(&self, _: Duration) {}
        pub(crate) fn finished(&self, _: &str, _: &'static str) {}
        pub(crate) fn handler_time(&self, _: &str, _: Duration) {}
        pub(super) fn in_flight(&self, _: f64) {}
    }

    pub(crate) fn reclaimed(_: &str, _: usize) {}
    pub(crate) fn redelivered(_: &str) {}
    pub(crate) fn reply_write_failed(_: &str) {}
    pub(crate) fn group_recreated(_: &str) {}
    pub(crate) fn events_lost(_: &str, _: &str, _: u64) {}
    pub(crate) fn sampled(_: &str, _: QueueGauges) {}
}

pub(crate) use on::*;

/// Counts a handler in flight for as long as it lives.
pub(crate) struct InFlight<'a>(&'a ServiceMetrics);

impl<'a> InFlight<'a> {
    pub(crate) fn start(metrics: &'a ServiceMetrics) -> Self {
        metrics.in_flight(1.0);
        Self(metrics)
    }
}

impl Drop for InFlight<'_> {
    fn drop(&mut self) {
        self.0.in_flight(-1.0);
    }
}
