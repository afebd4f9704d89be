//! Exponential backoff with jitter for reconnect loops: 100 ms doubling to 30 s.

use std::time::Duration;

use rand::Rng as _;

/// The first delay.
pub(crate) const MIN_DELAY: Duration = Duration::from_millis(100);
/// The largest delay.
pub(crate) const MAX_DELAY: Duration = Duration::from_secs(30);

#[derive(Debug)]
pub(crate) struct Backoff {
    next: Duration,
}

impl Backoff {
    pub(crate) fn new() -> Self {
        Self { next: MIN_DELAY }
    }

    /// The delay to wait now: the current step scaled by a random factor in [0.75, 1.25),
    /// kept within 100 ms to 30 s, so many clients that lost the same server do not come back
    /// in lockstep.
    pub(crate) fn next_delay(&mut self) -> Duration {
        let base = self.next;
        self.next = (self.next * 2).min(MAX_DELAY);
        base.mul_f64(rand::rng().random_range(0.75..1.25))
            .clamp(MIN_DELAY, MAX_DELAY)
    }

    /// The step the next delay is drawn around (for the reader's live tests).
    #[cfg(all(test, feature = "redis-tests"))]
    pub(crate) fn peek(&self) -> Duration {
        self.next
    }

    /// Back to the first step, after a success.
    pub(crate) fn reset(&mut self) {
        self.next = MIN_DELAY;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn grows_to_the_cap_and_resets() {
        let mut b = Backoff::new();
        let first = b.next_delay();
        assert!(first >= MIN_DELAY && first < MIN_DELAY * 5 / 4);
        let mut last = first;
        for _ in 0..20 {
            last = b.next_delay();
            assert!((MIN_DELAY..=MAX_DELAY).contains(&last));
        }
        assert_eq!(b.next, MAX_DELAY);
        assert!(last >= MAX_DELAY * 3 / 4);
        b.reset();
        assert!(b.next_delay() < MIN_DELAY * 5 / 4);
    }
}
