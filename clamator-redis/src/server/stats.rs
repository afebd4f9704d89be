//! What a server has done: running totals kept by its loops and entry tasks, and the
//! [`ServerStats`] snapshot [`RedisServer::stats`](crate::RedisServer::stats) reads from them.

use std::sync::atomic::{AtomicU64, Ordering};

use super::screen::RetireReason;

/// What a server has done since it started.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct ServerStats {
    /// Requests and notifications dispatched to their service: those whose params failed
    /// validation (answered -32602 without running the handler) count here too.
    pub handled: u64,
    /// Requests skipped because their deadline had passed.
    pub expired: u64,
    /// Entries taken over from other consumers.
    pub reclaimed: u64,
    /// Malformed or refused entries (dead-lettered without running a handler).
    pub malformed: u64,
    /// Entries moved to the dead-letter stream, for any reason: malformed or refused ones,
    /// and those delivered `max_deliveries` times.
    pub dead_lettered: u64,
    /// Handlers cancelled because their call's deadline passed or they ran past
    /// `max_handler_time`.
    pub cancelled: u64,
    /// Exactly-once requests answered from their stored reply instead of running again.
    pub replayed: u64,
    /// Replies Redis refused to store (the entry stays pending and runs again).
    pub reply_write_failures: u64,
    /// Handlers running now.
    pub in_flight: u64,
    /// Events trimmed from an event stream over its cap before a subscriber group had
    /// received them (counted by this server's housekeeping, for every group of the stream).
    pub events_lost: u64,
    /// Consumer groups this server re-created after they vanished (`FLUSHALL`, a restart
    /// without persistence, `XGROUP DESTROY`). Each may run again requests other servers
    /// were given since this one last saw the group's position (at most one
    /// `housekeeping_interval` before), if younger than `max_request_age`.
    pub groups_recreated: u64,
}

/// Running totals, read through [`RedisServer::stats`](crate::RedisServer::stats).
#[derive(Debug, Default)]
pub(crate) struct Counters {
    pub(crate) handled: AtomicU64,
    pub(crate) expired: AtomicU64,
    pub(crate) reclaimed: AtomicU64,
    pub(crate) malformed: AtomicU64,
    pub(crate) dead_lettered: AtomicU64,
    pub(crate) cancelled: AtomicU64,
    pub(crate) replayed: AtomicU64,
    pub(crate) reply_write_failures: AtomicU64,
    pub(crate) events_lost: AtomicU64,
    pub(crate) groups_recreated: AtomicU64,
    pub(crate) in_flight: AtomicU64,
}

impl Counters {
    pub(crate) fn bump(counter: &AtomicU64) {
        counter.fetch_add(1, Ordering::Relaxed);
    }

    /// Counts an entry written to the dead-letter stream for `reason`: every such entry is
    /// dead-lettered, and a malformed one is malformed too.
    pub(crate) fn count_retired(&self, reason: RetireReason) {
        Self::bump(&self.dead_lettered);
        if reason == RetireReason::Malformed {
            Self::bump(&self.malformed);
        }
    }
}

impl Counters {
    /// The totals now.
    pub(crate) fn snapshot(&self) -> ServerStats {
        let read = |c: &AtomicU64| c.load(Ordering::Relaxed);
        ServerStats {
            handled: read(&self.handled),
            expired: read(&self.expired),
            reclaimed: read(&self.reclaimed),
            malformed: read(&self.malformed),
            dead_lettered: read(&self.dead_lettered),
            cancelled: read(&self.cancelled),
            replayed: read(&self.replayed),
            reply_write_failures: read(&self.reply_write_failures),
            events_lost: read(&self.events_lost),
            groups_recreated: read(&self.groups_recreated),
            in_flight: read(&self.in_flight),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn retire_reasons_pick_their_counter() {
        let c = Counters::default();
        c.count_retired(RetireReason::Malformed);
        c.count_retired(RetireReason::MaxDeliveries);
        c.count_retired(RetireReason::MaxDeliveries);
        assert_eq!(c.malformed.load(Ordering::Relaxed), 1);
        assert_eq!(c.dead_lettered.load(Ordering::Relaxed), 3);
        let stats = c.snapshot();
        assert_eq!(
            (stats.malformed, stats.dead_lettered, stats.handled),
            (1, 3, 0)
        );
    }
}
