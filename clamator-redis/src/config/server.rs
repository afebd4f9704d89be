//! [`ServerConfig`]: how a server reaches Redis and serves, with every knob's default.

use std::time::Duration;

use super::*;

/// Configuration of a [`RedisServer`](crate::RedisServer).
///
/// | knob | default | clamator option |
/// |---|---|---|
/// | key prefix | required | `keyPrefix` / `key_prefix` |
/// | [`redis`](Self::redis) / [`redis_url`](Self::redis_url) | `$REDIS_URL`, else `redis://127.0.0.1:6379` | `redisUrl` |
/// | [`instance_id`](Self::instance_id) | random UUID v4 | `instanceId` |
/// | [`claim_idle`](Self::claim_idle) | 60 s (reclaim every `max(1 s, claim_idle / 4)`, leases renewed every third) | `consumerClaimIdleMs` |
/// | [`reply_stream_maxlen`](Self::reply_stream_maxlen) | 100 000: a hard safety cap, far above any burst (clamator: 1024) | `replyStreamMaxLen` |
/// | [`reply_retention`](Self::reply_retention) | 10 min: replies younger than this are never trimmed | — |
/// | [`reply_stream_ttl`](Self::reply_stream_ttl) | 10 min | — |
/// | [`shutdown_grace`](Self::shutdown_grace) | 5 s | `shutdownGraceMs` |
/// | [`max_envelope_bytes`](Self::max_envelope_bytes) | 1 MiB | — |
/// | [`max_deliveries`](Self::max_deliveries) | 5, then dead-lettered | — |
/// | [`dead_letter_maxlen`](Self::dead_letter_maxlen) | 10 000 | — |
/// | [`housekeeping_interval`](Self::housekeeping_interval) | 30 s | — |
/// | [`consumer_idle_limit`](Self::consumer_idle_limit) | 1 h | — |
/// | [`idempotency_result_ttl`](Self::idempotency_result_ttl) | 24 h | — |
/// | [`max_handler_time`](Self::max_handler_time) | 10 min, for requests without a deadline | — |
/// | [`max_request_age`](Self::max_request_age) | 60 s: where a new or re-created consumer group starts | — |
/// | [`show_error_details`](Self::show_error_details) | off: a handler's `?` error or panic reaches callers as a bare `Internal error` | — |
/// | [`event_stream_maxlen`](Self::event_stream_maxlen) | 1 000 000: an event stream's hard cap | — |
/// | [`event_retention`](Self::event_retention) | 1 h: acknowledged events kept for replays and new subscribers | — |
/// | [`publish_contracts`](Self::publish_contracts) | on: each service's contract is written to `<prefix>:contracts:<service>` at start | — |
/// | [`deployment`](Self::deployment) | [`Deployment::Standalone`] | — |
/// | [`connect_timeout`](Self::connect_timeout) / [`response_timeout`](Self::response_timeout) | 5 s / 5 s | — |
/// | [`tls_ca_cert`](Self::tls_ca_cert) | none: system and webpki roots | — |
///
/// ```
/// use std::time::Duration;
/// use clamator_redis::ServerConfig;
/// let config = ServerConfig::new("app")
///     .redis_url("redis://127.0.0.1:6379")
///     .instance_id("srv-A")
///     .claim_idle(Duration::from_secs(30));
/// assert_eq!(config.key_prefix(), "app");
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServerConfig {
    pub(crate) key_prefix: String,
    pub(crate) instance_id: String,
    pub(crate) claim_idle: Duration,
    pub(crate) reply_stream_maxlen: usize,
    pub(crate) reply_retention: Duration,
    pub(crate) shutdown_grace: Duration,
    pub(crate) max_envelope_bytes: usize,
    pub(crate) max_deliveries: u64,
    pub(crate) dead_letter_maxlen: usize,
    pub(crate) reply_stream_ttl: Duration,
    pub(crate) housekeeping_interval: Duration,
    pub(crate) consumer_idle_limit: Duration,
    pub(crate) idempotency_result_ttl: Duration,
    pub(crate) max_handler_time: Option<Duration>,
    pub(crate) max_request_age: Duration,
    pub(crate) show_error_details: bool,
    pub(crate) publish_contracts: bool,
    pub(crate) event_stream_maxlen: usize,
    pub(crate) event_retention: Duration,
    pub(crate) fault_abort_after_reply_once: Option<std::path::PathBuf>,
    pub(crate) fault_abort_before_event_ack_once: Option<std::path::PathBuf>,
    pub(crate) connection: RedisTarget,
}

impl ServerConfig {
    /// A config for key prefix `key_prefix` (used literally) with every default.
    pub fn new(key_prefix: impl Into<String>) -> Self {
        Self {
            key_prefix: key_prefix.into(),
            instance_id: uuid::Uuid::new_v4().to_string(),
            claim_idle: Duration::from_secs(60),
            reply_stream_maxlen: DEFAULT_REPLY_STREAM_MAXLEN,
            reply_retention: DEFAULT_REPLY_RETENTION,
            shutdown_grace: Duration::from_secs(5),
            max_envelope_bytes: DEFAULT_MAX_ENVELOPE_BYTES,
            max_deliveries: 5,
            dead_letter_maxlen: 10_000,
            reply_stream_ttl: DEFAULT_REPLY_STREAM_TTL,
            housekeeping_interval: Duration::from_secs(30),
            consumer_idle_limit: Duration::from_secs(3600),
            idempotency_result_ttl: Duration::from_secs(24 * 3600),
            max_handler_time: Some(DEFAULT_MAX_HANDLER_TIME),
            max_request_age: DEFAULT_MAX_REQUEST_AGE,
            show_error_details: false,
            publish_contracts: true,
            event_stream_maxlen: 1_000_000,
            event_retention: Duration::from_secs(3600),
            fault_abort_after_reply_once: None,
            fault_abort_before_event_ack_once: None,
            connection: RedisTarget::default(),
        }
    }

    common_setters!();

    /// How often command streams are trimmed below what every consumer group has delivered
    /// and acknowledged, and idle consumers removed (by one server at a time, under a lock).
    /// Default 30 s.
    #[must_use]
    pub fn housekeeping_interval(mut self, every: Duration) -> Self {
        self.housekeeping_interval = every;
        self
    }

    /// The hard cap of the event streams this server subscribes to: housekeeping trims an
    /// event stream only below what every subscriber group has received and acknowledged,
    /// unless it is longer than this (a subscriber gone for good must not fill Redis); then
    /// it is cut to this length, and the events a group had not received are logged and
    /// counted as lost for it (`clamator_events_lost_total`). Default 1 000 000.
    #[must_use]
    pub fn event_stream_maxlen(mut self, cap: usize) -> Self {
        self.event_stream_maxlen = cap.max(1);
        self
    }

    /// How long acknowledged events stay in the event streams this server subscribes to, so
    /// a rewind ([`RedisTransport::rewind_subscriber`](crate::RedisTransport::rewind_subscriber))
    /// or a new subscriber starting at a time or at the oldest event finds them: housekeeping
    /// trims only events older than this that every group acknowledged (the cap still
    /// applies). Default 1 h.
    #[must_use]
    pub fn event_retention(mut self, keep: Duration) -> Self {
        self.event_retention = keep;
        self
    }

    /// Whether the server writes, at start, the contract of each service that declares one
    /// (generated services do) to [`keys::contract_key`](crate::keys::contract_key), for the
    /// `clamator` tool and for clients that [check for drift](TransportConfig::expect_contract).
    /// A write that fails (an ACL without that key, say) is logged and serving goes on.
    /// Default on.
    #[must_use]
    pub fn publish_contracts(mut self, publish: bool) -> Self {
        self.publish_contracts = publish;
        self
    }

    /// How long a completed exactly-once request's reply is kept for redeliveries (which
    /// requests run exactly once is chosen per service, with [`ServiceOptions`]). Default
    /// 24 h. (A running claim lives twice the claim idle time, so a dead owner's claim
    /// expires.)
    #[must_use]
    pub fn idempotency_result_ttl(mut self, ttl: Duration) -> Self {
        self.idempotency_result_ttl = ttl;
        self
    }

    /// Fault injection for tests: abort the process once, after writing a reply and before
    /// acknowledging it, unless the file `marker` exists (it is created first). Only with
    /// the `fault-injection` feature, which no application should enable.
    #[cfg(feature = "fault-injection")]
    #[doc(hidden)]
    #[must_use]
    pub fn fault_abort_after_reply_once(mut self, marker: impl Into<std::path::PathBuf>) -> Self {
        self.fault_abort_after_reply_once = Some(marker.into());
        self
    }

    /// Fault injection for tests: abort the process once, after a subscriber's handler
    /// succeeded (and an exactly-once record was stored) and before its event is
    /// acknowledged, unless the file `marker` exists (it is created first): the event
    /// equivalent of [`fault_abort_after_reply_once`](Self::fault_abort_after_reply_once).
    /// Only with the `fault-injection` feature, which no application should enable.
    #[cfg(feature = "fault-injection")]
    #[doc(hidden)]
    #[must_use]
    pub fn fault_abort_before_event_ack_once(
        mut self,
        marker: impl Into<std::path::PathBuf>,
    ) -> Self {
        self.fault_abort_before_event_ack_once = Some(marker.into());
        self
    }

    /// How long a handler of a request or notification without a deadline (as clamator's
    /// peers send them) may run before it is cancelled, its caller answered with
    /// [`DEADLINE_EXCEEDED`](crate::codes::DEADLINE_EXCEEDED) and the entry acknowledged, so
    /// one runaway handler cannot block an ordered service forever. Requests with a deadline
    /// are cancelled at their deadline instead. `None` lets them run forever; methods can
    /// opt out with [`ServiceOptions::never_cancel`]. Default 10 min.
    #[must_use]
    pub fn max_handler_time(mut self, limit: Option<Duration>) -> Self {
        self.max_handler_time = limit;
        self
    }

    /// Whether callers see the cause of an internal error: an error a handler passed up with
    /// `?` and a handler's panic message. Off by default: callers get `-32603 Internal error`
    /// with `data: null` and the cause goes to the log (`tracing`, level error), as it may
    /// name hosts, files or queries. Turn it on in development to get clamator's
    /// `{"name", "message"}` data.
    #[must_use]
    pub fn show_error_details(mut self, show: bool) -> Self {
        self.show_error_details = show;
        self
    }

    /// How far back a consumer group this server creates starts: when a service's group is
    /// missing (no server ever ran, or it was deleted, or Redis lost it), it is created at
    /// the entry id of `now - max_request_age` (but never before the newest entry this server
    /// read). So requests queued up to this long ago are served, and older ones, whose
    /// callers have given up and which may have been answered already, are not run. Keep it
    /// at least your callers' longest timeout; clamator starts a new group at `$` (only
    /// requests sent after it exists). Default 60 s.
    #[must_use]
    pub fn max_request_age(mut self, age: Duration) -> Self {
        self.max_request_age = age;
        self
    }

    /// Consumers idle this long with nothing pending are removed from the group. Default 1 h.
    #[must_use]
    pub fn consumer_idle_limit(mut self, idle: Duration) -> Self {
        self.consumer_idle_limit = idle;
        self
    }

    /// A request delivered more often than this without completing (its server died each
    /// time) goes to the dead-letter stream and its caller gets -32050. Default 5.
    #[must_use]
    pub fn max_deliveries(mut self, n: u64) -> Self {
        self.max_deliveries = n;
        self
    }

    /// The time to live a server gives a reply stream when it writes to it. A live client
    /// keeps refreshing its own; one whose client is gone expires. Default 10 min.
    #[must_use]
    pub fn reply_stream_ttl(mut self, ttl: Duration) -> Self {
        self.reply_stream_ttl = ttl;
        self
    }

    /// The approximate cap (`MAXLEN ~`) of each dead-letter stream. Default 10 000.
    #[must_use]
    pub fn dead_letter_maxlen(mut self, maxlen: usize) -> Self {
        self.dead_letter_maxlen = maxlen;
        self
    }

    /// How long an entry must sit unacknowledged before another server reclaims it. The
    /// reclaim loop runs every `max(1 s, claim_idle / 4)`. Default 60 s.
    #[must_use]
    pub fn claim_idle(mut self, idle: Duration) -> Self {
        self.claim_idle = idle;
        self
    }

    /// The hard safety cap (`MAXLEN ~`) of a reply stream. Replies are bounded by age
    /// ([`reply_retention`](Self::reply_retention)) and, for clamator-rs transports, by what
    /// their reader has read; this cap only stops a stream whose reader never reads, so keep
    /// it far above the replies one client can have in flight: a reply trimmed unread is a
    /// call that times out after its handler ran. Default 100 000 (clamator's is 1024, which a
    /// burst of replies to a slow reader exceeds).
    #[must_use]
    pub fn reply_stream_maxlen(mut self, maxlen: usize) -> Self {
        self.reply_stream_maxlen = maxlen;
        self
    }

    /// How long a reply is kept for its reader at least: replies older than this are
    /// trimmed (`XTRIM MINID ~`) when the server next writes to the stream. Keep it above the
    /// longest call timeout of your clients. Default 10 min.
    #[must_use]
    pub fn reply_retention(mut self, retention: Duration) -> Self {
        self.reply_retention = retention;
        self
    }

    /// How long [`RedisServer::stop`](crate::RedisServer::stop) waits for in-flight handlers
    /// before abandoning them (unacknowledged, so another server reclaims them). Default 5 s.
    #[must_use]
    pub fn shutdown_grace(mut self, grace: Duration) -> Self {
        self.shutdown_grace = grace;
        self
    }

    /// The interval of the reclaim loop: `max(1 s, claim_idle / 4)`, as in clamator.
    pub fn reclaim_interval(&self) -> Duration {
        (self.claim_idle / 4).max(Duration::from_secs(1))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_reclaim_interval_follows_the_claim_idle_time() {
        let c = ServerConfig::new("p");
        assert_eq!(c.reclaim_interval(), Duration::from_secs(15));
        let fast = c.claim_idle(Duration::from_millis(200));
        assert_eq!(fast.reclaim_interval(), Duration::from_secs(1));
    }
}
