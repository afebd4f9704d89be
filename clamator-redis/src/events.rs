//! Typed events: a service publishes, every subscribing service gets each event.
//!
//! The wire: one stream per publishing service, `<prefix>:events:<publisher>`; each entry
//! has `type` = `event`, `envelope` = a JSON-RPC notification whose method is
//! `<publisher>.<event>` and whose params are the payload, and `published_at` (Unix ms), plus
//! the trace context fields where present. Each subscribing service reads the stream through
//! a consumer group named after itself, one consumer per instance, so every subscribing
//! service gets every event (at least once), spread over its instances.
//!
//! A subscription runs on a [`RedisServer`](crate::RedisServer) with the server's machinery:
//! reclaim of a dead instance's entries, lease renewal, ordered processing unless
//! [`SubscriptionOptions::concurrency`] lifts it, graceful drain; plus retries with backoff
//! ([`RetryDelays`]) and the dead-letter stream after `max_deliveries`.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// Where a subscriber group created now starts reading (an existing group keeps its place).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum StartAt {
    /// Events published from now on (the default).
    #[default]
    Now,
    /// The oldest event the stream still holds.
    Oldest,
    /// Events published at or after this time (entry ids are timestamps).
    Time(SystemTime),
}

impl StartAt {
    /// The id a group created now starts after (`$` for [`Now`](Self::Now)).
    pub(crate) fn group_start(self) -> String {
        match self {
            Self::Now => "$".to_owned(),
            Self::Oldest => "0".to_owned(),
            Self::Time(t) => before(t),
        }
    }
}

/// The id just before the first entry at or after `t`: a group created (or set) at it
/// delivers everything published from `t` on.
pub(crate) fn before(t: SystemTime) -> String {
    let ms = t
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX));
    match ms {
        0 => "0".to_owned(),
        ms => format!("{}-{}", ms - 1, u64::MAX),
    }
}

/// How long a subscriber waits before running a failed handler again: `first` after the
/// first failure, then `factor` times longer each time, at most `max`. The delays are kept
/// precisely (the event stays with its instance meanwhile, its lease renewed). After
/// `max_deliveries` attempts in all ([`ServerConfig`](crate::ServerConfig)), the event is
/// dead-lettered with the last error.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RetryDelays {
    first: Duration,
    factor: u32,
    max: Duration,
}

impl Default for RetryDelays {
    /// 1 s, doubling, at most 1 min.
    fn default() -> Self {
        Self {
            first: Duration::from_secs(1),
            factor: 2,
            max: Duration::from_secs(60),
        }
    }
}

impl RetryDelays {
    /// `first` after the first failure, `factor` times longer after each next one, at most
    /// `max`. A `factor` of 1 keeps the delay fixed.
    pub fn new(first: Duration, factor: u32, max: Duration) -> Self {
        Self {
            first,
            factor: factor.max(1),
            max,
        }
    }

    /// The delay after the `failures`-th failure (1 for the first).
    pub fn after(&self, failures: u64) -> Duration {
        let mut d = self.first;
        for _ in 1..failures {
            d = d.saturating_mul(self.factor);
            if d >= self.max {
                return self.max;
            }
        }
        d.min(self.max)
    }
}

/// How a subscriber service takes a publisher's events.
///
/// | knob | default |
/// |---|---|
/// | [`concurrency`](Self::concurrency) | 1: events handled one at a time, in publish order |
/// | [`start_at`](Self::start_at) | [`StartAt::Now`] |
/// | [`retry`](Self::retry) | [`RetryDelays::default`]: 1 s, doubling, at most 1 min |
/// | [`exactly_once`](Self::exactly_once) | off: at least once |
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SubscriptionOptions {
    pub(crate) concurrency: usize,
    pub(crate) start_at: StartAt,
    pub(crate) retry: RetryDelays,
    pub(crate) exactly_once: bool,
}

impl Default for SubscriptionOptions {
    fn default() -> Self {
        Self::new()
    }
}

impl SubscriptionOptions {
    /// The defaults.
    pub fn new() -> Self {
        Self {
            concurrency: 1,
            start_at: StartAt::Now,
            retry: RetryDelays::default(),
            exactly_once: false,
        }
    }

    /// Events handled at once by one instance; above 1, publish order is no longer kept.
    #[must_use]
    pub fn concurrency(mut self, n: usize) -> Self {
        self.concurrency = n;
        self
    }

    /// Where the subscriber's group starts when it is created (by its first instance).
    #[must_use]
    pub fn start_at(mut self, start: StartAt) -> Self {
        self.start_at = start;
        self
    }

    /// The delays between attempts of a failing handler.
    #[must_use]
    pub fn retry(mut self, delays: RetryDelays) -> Self {
        self.retry = delays;
        self
    }

    /// Handles each event at most once per subscriber, through an idempotency record
    /// (`<prefix>:idem-event:<subscriber>:<publisher>:<entry id>`, kept
    /// [`idempotency_result_ttl`](crate::ServerConfig::idempotency_result_ttl)): an event
    /// redelivered after its handler succeeded (its instance died before the ack) is
    /// acknowledged without running again. Costs two script calls per event.
    #[must_use]
    pub fn exactly_once(mut self, on: bool) -> Self {
        self.exactly_once = on;
        self
    }
}

/// Moves subscriber group `subscriber` of `publisher`'s events under `prefix` to `to`: from
/// there on it is delivered every event again (a rewind, for a replay), or, with
/// [`StartAt::Now`], only events published from now on (a skip). Events it has pending stay
/// pending. Fails when the group does not exist. What
/// [`RedisTransport::rewind_subscriber`](crate::RedisTransport::rewind_subscriber) and
/// `clamator events rewind` both do, on an operator's connection.
///
/// ```no_run
/// use std::time::{Duration, SystemTime};
/// use clamator_redis::{events, RedisTarget, StartAt};
/// # async fn run() -> Result<(), clamator_protocol::Error> {
/// let conn = RedisTarget::from_env()?.connect().await?;
/// let an_hour_ago = SystemTime::now() - Duration::from_secs(3600);
/// events::rewind_subscriber(&conn, "shop", "orders", "billing", StartAt::Time(an_hour_ago)).await?;
/// # Ok(())
/// # }
/// ```
pub async fn rewind_subscriber(
    conn: &crate::RedisConnection,
    prefix: &str,
    publisher: &str,
    subscriber: &str,
    to: StartAt,
) -> Result<(), clamator_protocol::Error> {
    set_subscriber(&mut conn.clone(), prefix, publisher, subscriber, to).await
}

/// [`rewind_subscriber`] on any connection.
pub(crate) async fn set_subscriber<C: redis::aio::ConnectionLike + Send>(
    conn: &mut C,
    prefix: &str,
    publisher: &str,
    subscriber: &str,
    to: StartAt,
) -> Result<(), clamator_protocol::Error> {
    let stream = crate::keys::event_stream(prefix, publisher);
    crate::stream::commands::set_group_id(conn, &stream, subscriber, &to.group_start())
        .await
        .map_err(|e| {
            crate::connection::redis_failure(
                format!("cannot rewind subscriber {subscriber} of {stream}"),
                e,
            )
        })
}

/// The envelope of the event `<publisher>.<event>` with `payload`, its names checked: what
/// both a transport and a server publish.
pub(crate) fn event_envelope<P: serde::Serialize + ?Sized>(
    publisher: &str,
    event: &str,
    payload: &P,
) -> Result<String, clamator_protocol::Error> {
    use clamator_protocol::Error;
    if !clamator_protocol::names::is_valid_service(publisher)
        || !clamator_protocol::names::is_acceptable_method(event)
    {
        return Err(Error::InvalidArgument(format!(
            "invalid event name \"{publisher}.{event}\""
        )));
    }
    clamator_protocol::envelope::encode_notification(publisher, event, payload)
        .map_err(|e| Error::InvalidArgument(format!("payload does not serialize: {e}")))
}

/// Adds an event's `envelope` to `publisher`'s event stream under `prefix` (capped at
/// `maxlen`), with the time it was published and the current trace context; resolves with
/// its entry id. Sent again while the topology changes (Redis did not run it then).
pub(crate) async fn add(
    conn: &crate::connection::RedisConn,
    prefix: &str,
    maxlen: usize,
    publisher: &str,
    envelope: &str,
) -> redis::RedisResult<String> {
    let trace = crate::trace_context::current();
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX));
    let stream = crate::keys::event_stream(prefix, publisher);
    let trace = trace.as_ref().map(|(p, s)| (p.as_str(), s.as_deref()));
    crate::connection::through_topology_changes(|| {
        let mut conn = conn.clone();
        let stream = &stream;
        async move {
            crate::stream::commands::add_event(&mut conn, stream, maxlen, envelope, now, trace)
                .await
        }
    })
    .await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn retry_delays_grow_to_their_cap() {
        let d = RetryDelays::new(Duration::from_millis(100), 3, Duration::from_secs(1));
        let got: Vec<u128> = (1..=5).map(|n| d.after(n).as_millis()).collect();
        assert_eq!(got, [100, 300, 900, 1000, 1000]);
        let fixed = RetryDelays::new(Duration::from_millis(50), 1, Duration::from_secs(1));
        assert_eq!(fixed.after(7), Duration::from_millis(50));
    }

    #[test]
    fn start_points_are_stream_ids() {
        assert_eq!(StartAt::Now.group_start(), "$");
        assert_eq!(StartAt::Oldest.group_start(), "0");
        let t = UNIX_EPOCH + Duration::from_millis(1_000);
        assert_eq!(StartAt::Time(t).group_start(), format!("999-{}", u64::MAX));
    }
}
