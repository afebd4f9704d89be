//! Whether Redis is reachable, as this transport has seen it.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Mutex, PoisonError};
use std::time::{Duration, Instant};

/// Since when Redis has been unreachable, as seen by the reply reader and by failed sends.
#[derive(Debug, Default)]
pub(super) struct Health {
    down_since: Mutex<Option<Instant>>,
    /// A connection broke somewhere in this transport since the shared connection last
    /// worked. When Redis goes away, the reply reader's blocking read breaks at once, but the
    /// shared connection only finds out when something is sent on it: the first request
    /// after Redis is back would fail with a broken pipe. So the next request pings first,
    /// and a ping, unlike a request, can be sent twice without harm.
    suspect: AtomicBool,
}

impl Health {
    pub(super) fn down(&self) {
        self.suspect.store(true, Ordering::Relaxed);
        let mut d = self
            .down_since
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        d.get_or_insert_with(Instant::now);
    }

    pub(super) fn is_suspect(&self) -> bool {
        self.suspect.load(Ordering::Relaxed)
    }

    pub(super) fn shared_works(&self) {
        self.suspect.store(false, Ordering::Relaxed);
    }

    pub(super) fn up(&self) {
        *self
            .down_since
            .lock()
            .unwrap_or_else(PoisonError::into_inner) = None;
    }

    /// How long Redis has been unreachable, if it is.
    pub(super) fn down_for(&self) -> Option<Duration> {
        self.down_since
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .map(|t| t.elapsed())
    }
}
