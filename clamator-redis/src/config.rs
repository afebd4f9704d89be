//! Configuration of servers, the services they serve, and transports, with clamator's
//! option names and defaults.

use std::time::Duration;

use crate::target::RedisTarget;
pub use crate::target::{Deployment, DEFAULT_REDIS_URL};

macro_rules! common_setters {
    () => {
        /// Where Redis is, whole: URL, deployment, timeouts and TLS CA in one
        /// [`RedisTarget`](crate::RedisTarget), as an application shares it between its
        /// servers, transports and [`DeadLetters`](crate::DeadLetters). Replaces what
        /// [`redis_url`](Self::redis_url), [`deployment`](Self::deployment),
        /// [`connect_timeout`](Self::connect_timeout),
        /// [`response_timeout`](Self::response_timeout) and
        /// [`tls_ca_cert`](Self::tls_ca_cert) set before; those edit the target held.
        /// Default: [`RedisTarget::default`](crate::RedisTarget::default).
        #[must_use]
        pub fn redis(mut self, target: crate::RedisTarget) -> Self {
            self.connection = target;
            self
        }

        /// Where this config will connect.
        pub fn redis_target(&self) -> &crate::RedisTarget {
            &self.connection
        }

        /// The Redis URL (`redis://`, or `rediss://` for TLS); shorthand for
        /// [`RedisTarget::redis_url`](crate::RedisTarget::redis_url) on the target held.
        /// Default: `$REDIS_URL`, else `redis://127.0.0.1:6379`.
        #[must_use]
        pub fn redis_url(mut self, url: impl Into<String>) -> Self {
            self.connection = self.connection.redis_url(url);
            self
        }

        /// How Redis is deployed: [`Deployment::Standalone`] (the default),
        /// [`Deployment::Cluster`] or [`Deployment::Sentinel`]. In the last two,
        /// [`redis_url`](Self::redis_url) is a comma-separated list of nodes. Shorthand for
        /// [`RedisTarget::deployment`](crate::RedisTarget::deployment).
        #[must_use]
        pub fn deployment(mut self, deployment: crate::config::Deployment) -> Self {
            self.connection = self.connection.deployment(deployment);
            self
        }

        /// The deployment mode set (see [`RedisTarget::deployment_mode`](crate::RedisTarget::deployment_mode)).
        pub fn deployment_mode(&self) -> &crate::config::Deployment {
            self.connection.deployment_mode()
        }

        /// How long to wait for a TCP (and TLS) connection. Default 5 s. Shorthand for
        /// [`RedisTarget::connect_timeout`](crate::RedisTarget::connect_timeout).
        #[must_use]
        pub fn connect_timeout(mut self, timeout: Duration) -> Self {
            self.connection = self.connection.connect_timeout(timeout);
            self
        }

        /// How long to wait for Redis to answer a command. Blocking reads wait this long on
        /// top of their `BLOCK` time. Default 5 s. Shorthand for
        /// [`RedisTarget::response_timeout`](crate::RedisTarget::response_timeout).
        #[must_use]
        pub fn response_timeout(mut self, timeout: Duration) -> Self {
            self.connection = self.connection.response_timeout(timeout);
            self
        }

        /// For `rediss://` URLs: trust only this CA certificate (PEM) instead of the system
        /// and webpki roots, as for a Redis behind a private CA. Default: none. Shorthand for
        /// [`RedisTarget::tls_ca_cert`](crate::RedisTarget::tls_ca_cert).
        #[must_use]
        pub fn tls_ca_cert(mut self, pem: impl Into<Vec<u8>>) -> Self {
            self.connection = self.connection.tls_ca_cert(pem);
            self
        }

        /// The Redis URL this config will connect to, as given (it may hold a password: log
        /// [`redis_target`](Self::redis_target) instead, whose `Display` hides it).
        pub fn resolved_redis_url(&self) -> String {
            self.connection.resolved_url()
        }

        /// This process's instance id: servers name their consumers `<service>:<id>`,
        /// clients read replies from `<prefix>:replies:<id>`. Default: a random UUID v4.
        #[must_use]
        pub fn instance_id(mut self, id: impl Into<String>) -> Self {
            self.instance_id = id.into();
            self
        }

        /// Envelopes larger than this are refused: by clients before sending, by servers
        /// with -32600. Default 1 MiB.
        #[must_use]
        pub fn max_envelope_bytes(mut self, bytes: usize) -> Self {
            self.max_envelope_bytes = bytes;
            self
        }

        /// The key prefix every key of this config lives under.
        pub fn key_prefix(&self) -> &str {
            &self.key_prefix
        }
    };
}

/// How long an untouched reply stream lives by default: 10 minutes.
pub const DEFAULT_REPLY_STREAM_TTL: Duration = Duration::from_secs(600);

/// How far back a new consumer group starts by default: 60 seconds.
pub const DEFAULT_MAX_REQUEST_AGE: Duration = Duration::from_secs(60);

/// How long a handler without a deadline may run by default: 10 minutes.
pub const DEFAULT_MAX_HANDLER_TIME: Duration = Duration::from_secs(600);

/// The hard cap on a reply stream's length by default: 100 000 replies.
pub const DEFAULT_REPLY_STREAM_MAXLEN: usize = 100_000;

/// How long replies are kept for their reader by default: 10 minutes.
pub const DEFAULT_REPLY_RETENTION: Duration = Duration::from_secs(600);

/// The most partitions a service may have: each is a consumer loop, a reclaim loop and a
/// blocking connection per server, so far more would cost more than it spreads.
pub const MAX_PARTITIONS: usize = 256;

/// The largest envelope accepted by default: 1 MiB.
pub const DEFAULT_MAX_ENVELOPE_BYTES: usize = 1 << 20;

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
    /// know (see [`TransportConfig::partitions`]) spread their requests over the same `n`.
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
    /// (or [`ServerConfig::max_handler_time`]), for work that must not stop half-way; call
    /// it once per method. By default a handler whose caller has given up is cancelled (its
    /// future dropped) and the caller answered with
    /// [`DEADLINE_EXCEEDED`](crate::codes::DEADLINE_EXCEEDED).
    #[must_use]
    pub fn never_cancel(mut self, method: impl Into<String>) -> Self {
        self.never_cancel.insert(method.into());
        self
    }
}

/// Configuration of a [`RedisTransport`](crate::RedisTransport).
///
/// | knob | default | clamator option |
/// |---|---|---|
/// | key prefix | required | `keyPrefix` / `key_prefix` |
/// | [`redis`](Self::redis) / [`redis_url`](Self::redis_url) | `$REDIS_URL`, else `redis://127.0.0.1:6379` | `redisUrl` |
/// | [`instance_id`](Self::instance_id) | random UUID v4 | `instanceId` |
/// | [`default_timeout`](Self::default_timeout) | 30 s | `defaultTimeoutMs` |
/// | [`reply_stream_ttl`](Self::reply_stream_ttl) | 10 min, refreshed every third | — |
/// | [`unreachable_limit`](Self::unreachable_limit) | 5 s, then calls fail fast | — |
/// | [`fail_fast_without_server`](Self::fail_fast_without_server) | off: a call to a service without a consumer group waits | — |
/// | [`max_envelope_bytes`](Self::max_envelope_bytes) | 1 MiB | — |
/// | [`partitions`](Self::partitions) | 1 per service: its clamator-compatible command stream | — |
/// | [`expect_contract`](Self::expect_contract) / [`refuse_contract_drift`](Self::refuse_contract_drift) | no contracts checked / drift is a warning | — |
/// | [`event_stream_maxlen`](Self::event_stream_maxlen) | 2 000 000: the backstop cap of the event streams this transport publishes to | — |
/// | [`deployment`](Self::deployment) | [`Deployment::Standalone`] | — |
/// | [`connect_timeout`](Self::connect_timeout) / [`response_timeout`](Self::response_timeout) | 5 s / 5 s | — |
/// | [`tls_ca_cert`](Self::tls_ca_cert) | none: system and webpki roots | — |
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TransportConfig {
    pub(crate) key_prefix: String,
    pub(crate) instance_id: String,
    pub(crate) default_timeout: Duration,
    pub(crate) max_envelope_bytes: usize,
    pub(crate) reply_stream_ttl: Duration,
    pub(crate) unreachable_limit: Duration,
    pub(crate) fail_fast_without_server: bool,
    pub(crate) partitions: std::collections::BTreeMap<String, usize>,
    pub(crate) expected_contracts: Vec<&'static clamator_protocol::ContractInfo>,
    pub(crate) refuse_contract_drift: bool,
    pub(crate) event_stream_maxlen: usize,
    pub(crate) connection: RedisTarget,
}

impl TransportConfig {
    /// A config for key prefix `key_prefix` with every default.
    pub fn new(key_prefix: impl Into<String>) -> Self {
        Self {
            key_prefix: key_prefix.into(),
            instance_id: uuid::Uuid::new_v4().to_string(),
            default_timeout: clamator_protocol::DEFAULT_TIMEOUT,
            max_envelope_bytes: DEFAULT_MAX_ENVELOPE_BYTES,
            reply_stream_ttl: DEFAULT_REPLY_STREAM_TTL,
            unreachable_limit: Duration::from_secs(5),
            fail_fast_without_server: false,
            partitions: std::collections::BTreeMap::new(),
            expected_contracts: Vec::new(),
            refuse_contract_drift: false,
            event_stream_maxlen: 2_000_000,
            connection: RedisTarget::default(),
        }
    }

    common_setters!();

    /// Spreads requests to `service` over its `n` command streams, in turn, as its servers
    /// read them with [`ServiceOptions::partitions`] (`n` must match theirs). Partition 0 is
    /// the clamator-compatible stream; with `n` = 1 (the default) only it is used. Must be
    /// 1 to [`MAX_PARTITIONS`](crate::MAX_PARTITIONS) (256), as for servers:
    /// [`RedisTransport::connect`](crate::RedisTransport::connect) refuses another value.
    ///
    /// ```
    /// use clamator_redis::TransportConfig;
    /// let config = TransportConfig::new("shop").partitions("orders", 4);
    /// # let _ = config;
    /// ```
    #[must_use]
    pub fn partitions(mut self, service: impl Into<String>, n: usize) -> Self {
        self.partitions.insert(service.into(), n);
        self
    }

    /// Once Redis has been unreachable this long, calls fail at once with a transport error
    /// instead of each waiting out its timeout, until the connection is back. Default 5 s.
    #[must_use]
    pub fn unreachable_limit(mut self, limit: Duration) -> Self {
        self.unreachable_limit = limit;
        self
    }

    /// The time to live of this client's reply stream, refreshed every third of it while
    /// the client runs, so the stream of a client that vanished expires. Default 10 min.
    #[must_use]
    pub fn reply_stream_ttl(mut self, ttl: Duration) -> Self {
        self.reply_stream_ttl = ttl;
        self
    }

    /// Fail a call (or notification) at once, with a transport error and nothing sent, when
    /// its service has no consumer group: no server of it ever started under this prefix,
    /// or Redis lost its data. Off by default, as in clamator: then such a call waits in the
    /// stream, and a server that starts within
    /// [`ServerConfig::max_request_age`](crate::ServerConfig::max_request_age) serves it (or
    /// the call times out). The check costs one `XINFO GROUPS` per service every 5 s.
    #[must_use]
    pub fn fail_fast_without_server(mut self, fail_fast: bool) -> Self {
        self.fail_fast_without_server = fail_fast;
        self
    }

    /// Checks at connect that the contract this client was generated from (its
    /// `<SERVICE>_CONTRACT`) matches the one its servers published: a method the server lacks
    /// or a params or result schema hash that differs is drift, logged as a warning (or
    /// refused, with [`refuse_contract_drift`](Self::refuse_contract_drift)). No published
    /// contract (no server started yet, or one that does not publish) is not drift. May be
    /// called for several contracts.
    ///
    /// ```
    /// use clamator_redis::TransportConfig;
    /// # static ARITH_CONTRACT: clamator_protocol::ContractInfo =
    /// #     clamator_protocol::ContractInfo { service: "arith", methods: &[] };
    /// let config = TransportConfig::new("shop").expect_contract(&ARITH_CONTRACT);
    /// ```
    #[must_use]
    pub fn expect_contract(mut self, contract: &'static clamator_protocol::ContractInfo) -> Self {
        self.expected_contracts.push(contract);
        self
    }

    /// Makes [`RedisTransport::connect`](crate::RedisTransport::connect) fail, with an error
    /// listing the differences, when an [expected contract](Self::expect_contract) drifted
    /// from the published one, instead of logging a warning. Default off.
    #[must_use]
    pub fn refuse_contract_drift(mut self, refuse: bool) -> Self {
        self.refuse_contract_drift = refuse;
        self
    }

    /// The backstop cap of the event streams this transport publishes to (`MAXLEN ~` on each
    /// publish), for a stream nobody subscribes to or whose subscribers' servers are gone:
    /// without it, such a stream would grow without bound. Subscribers' servers trim below
    /// what they acknowledged and cut at their own, lower cap
    /// ([`ServerConfig::event_stream_maxlen`](crate::ServerConfig::event_stream_maxlen)),
    /// counting what a stopped subscriber lost; keep this one above theirs. Default
    /// 2 000 000.
    #[must_use]
    pub fn event_stream_maxlen(mut self, cap: usize) -> Self {
        self.event_stream_maxlen = cap.max(1);
        self
    }

    /// The timeout of calls that do not set their own. Default 30 s.
    #[must_use]
    pub fn default_timeout(mut self, timeout: Duration) -> Self {
        self.default_timeout = timeout;
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

    #[test]
    fn the_reclaim_interval_follows_the_claim_idle_time() {
        let c = ServerConfig::new("p");
        assert_eq!(c.reclaim_interval(), Duration::from_secs(15));
        let fast = c.claim_idle(Duration::from_millis(200));
        assert_eq!(fast.reclaim_interval(), Duration::from_secs(1));
    }
}
