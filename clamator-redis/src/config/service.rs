//! [`ServiceOptions`]: how a server serves one service.

/// How a [`RedisServer`](crate::RedisServer) serves one service; given to
/// [`ServerBuilder::service_with`](crate::ServerBuilder::service_with).
///
/// | knob | default |
/// |---|---|
/// | [`concurrency`](Self::concurrency) | 1: one request at a time, in stream order (clamator's invariant) |
/// | [`exactly_once`](Self::exactly_once) / [`exactly_once_method`](Self::exactly_once_method) | off: at least once |
/// | [`never_cancel`](Self::never_cancel) | none: every handler is cancelled at its call's deadline |
/// | [`partitions`](Self::partitions) | 1: the clamator-compatible command stream only |
///
/// ```
/// use clamator_redis::ServiceOptions;
/// // Eight handlers at once; `placeOrder` runs exactly once, the rest at least once.
/// let options = ServiceOptions::new().concurrency(8).exactly_once_method("placeOrder");
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServiceOptions {
    pub(crate) concurrency: usize,
    pub(crate) partitions: usize,
    pub(crate) exactly_once: ExactlyOnce,
    pub(crate) never_cancel: std::collections::BTreeSet<String>,
}

/// Which requests of a service run exactly once.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum ExactlyOnce {
    Off,
    AllMethods,
    Methods(std::collections::BTreeSet<String>),
}

impl ExactlyOnce {
    /// Whether requests of `method` (its name within the service) run exactly once.
    pub(crate) fn covers(&self, method: &str) -> bool {
        match self {
            Self::Off => false,
            Self::AllMethods => true,
            Self::Methods(methods) => methods.contains(method),
        }
    }
}

impl Default for ServiceOptions {
    fn default() -> Self {
        Self::new()
    }
}

impl ServiceOptions {
    /// The defaults: concurrency 1, at least once.
    pub fn new() -> Self {
        Self {
            concurrency: 1,
            partitions: 1,
            exactly_once: ExactlyOnce::Off,
            never_cancel: std::collections::BTreeSet::new(),
        }
    }

    /// Up to `n` handlers of the service run at once; each entry is acknowledged after its
    /// own reply. Order is no longer guaranteed above 1. A handler's permit is given back
    /// when it returns, while its reply and ack are still being written; at most
    /// `n + 4 × read COUNT` entries of the service are unfinished at any time (the read
    /// COUNT is `n`, at least 16, at most 256). Must be at least 1. Default 1.
    #[must_use]
    pub fn concurrency(mut self, n: usize) -> Self {
        self.concurrency = n;
        self
    }

    /// Reads the service's requests from `n` command streams, its *partitions*: partition 0
    /// is the clamator-compatible `<prefix>:cmds:<service>` (Python and TypeScript callers
    /// keep working), partition `i` is `<prefix>:cmds:<service>:<i>`, which hashes to
    /// another slot, so on Redis Cluster a hot service spreads over shards. Clients that
    /// know (see [`TransportConfig::partitions`](crate::TransportConfig::partitions)) spread their requests over the same `n`.
    /// Each partition is read by a loop of its own and has its own
    /// [`concurrency`](Self::concurrency); ordering, reclaim, dead letters and exactly-once
    /// hold per partition. Every server of the service must use the same `n`, or requests
    /// on the partitions some servers do not read wait for the others. Must be 1 to
    /// [`MAX_PARTITIONS`](crate::MAX_PARTITIONS) (256). Default 1.
    #[must_use]
    pub fn partitions(mut self, n: usize) -> Self {
        self.partitions = n;
        self
    }

    /// With `true`, runs every request of the service exactly once: an idempotency record
    /// per request id, or per the caller's idempotency key, makes a redelivery answer with
    /// the stored reply instead of running the handler again. Costs two script calls per
    /// request. With `false`, every method runs at least once again (methods chosen with
    /// [`exactly_once_method`](Self::exactly_once_method) included). Default off.
    #[must_use]
    pub fn exactly_once(mut self, on: bool) -> Self {
        self.exactly_once = if on {
            ExactlyOnce::AllMethods
        } else {
            ExactlyOnce::Off
        };
        self
    }

    /// Runs requests of `method` (its name in the contract, e.g. `add`) exactly once, and
    /// the other methods at least once; call it once per method. No effect after
    /// [`exactly_once(true)`](Self::exactly_once).
    #[must_use]
    pub fn exactly_once_method(mut self, method: impl Into<String>) -> Self {
        match &mut self.exactly_once {
            ExactlyOnce::AllMethods => {}
            ExactlyOnce::Methods(methods) => {
                methods.insert(method.into());
            }
            ExactlyOnce::Off => self.exactly_once = ExactlyOnce::Methods([method.into()].into()),
        }
        self
    }

    /// Lets handlers of `method` run to completion even after their call's deadline passed
    /// (or [`ServerConfig::max_handler_time`](crate::ServerConfig::max_handler_time)), for work that must not stop half-way; call
    /// it once per method. By default a handler whose caller has given up is cancelled (its
    /// future dropped) and the caller answered with
    /// [`DEADLINE_EXCEEDED`](crate::codes::DEADLINE_EXCEEDED).
    #[must_use]
    pub fn never_cancel(mut self, method: impl Into<String>) -> Self {
        self.never_cancel.insert(method.into());
        self
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exactly_once_is_chosen_per_service_or_method() {
        assert_eq!(ServiceOptions::new().exactly_once, ExactlyOnce::Off);
        let some = ServiceOptions::new()
            .exactly_once_method("add")
            .exactly_once_method("divide");
        assert!(some.exactly_once.covers("add") && some.exactly_once.covers("divide"));
        assert!(!some.exactly_once.covers("echoText"));
        let all = ServiceOptions::new()
            .exactly_once(true)
            .exactly_once_method("add");
        assert_eq!(all.exactly_once, ExactlyOnce::AllMethods);
        assert_eq!(all.exactly_once(false).exactly_once, ExactlyOnce::Off);
        assert_eq!(ServiceOptions::default().concurrency, 1);
    }
}
