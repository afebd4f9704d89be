//! [`TransportConfig`]: how a client reaches Redis and sends, with every knob's default.

use std::time::Duration;

use super::*;

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
    /// #     clamator_protocol::ContractInfo { service: "arith", methods: &[], events: &[], errors: &[] };
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
