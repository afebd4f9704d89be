//! Opening connections: one shared connection for ordinary commands, and dedicated ones for
//! blocking reads, which would otherwise stall every command queued behind them on a
//! multiplexed connection. The same [`RedisConn`] type serves every deployment mode, so the
//! rest of the crate does not know whether it talks to one Redis, a cluster or the master a
//! sentinel names.

mod cluster;
mod operator;
mod raw;
mod reader;
mod sentinel;
mod writer;

use std::sync::Arc;
use std::time::Duration;

use clamator_protocol::Error;

use redis::aio::{
    ConnectionLike, ConnectionManager, ConnectionManagerConfig, MultiplexedConnection,
};
use redis::cluster::{ClusterClient, ClusterClientBuilder};
use redis::cluster_async::ClusterConnection;
use redis::{AsyncConnectionConfig, Cmd, IntoConnectionInfo, Pipeline, RedisFuture, Value};

use crate::stream::commands::EntryReader;
use crate::stream::decode::ReadReply;
use crate::stream::StreamEntry;
use crate::target::{redact_url as redact, Deployment, RedisTarget, Resolved};
pub use operator::RedisConnection;
use raw::RawConn;
use sentinel::Failover;

pub(crate) use reader::{AtStop, BlockingReader};
pub(crate) use writer::Writer;

/// How long blocking reads (`XREADGROUP`, `XREAD`) wait in Redis: 1 s, as in clamator.
pub(crate) const BLOCK: Duration = Duration::from_secs(1);

/// Opens connections to one [`RedisTarget`].
#[derive(Clone)]
pub(crate) struct Connector {
    clients: Clients,
    resolved: Resolved,
    settings: RedisTarget,
}

// One per server or transport, built once: its size does not matter.
#[allow(clippy::large_enum_variant)]
#[derive(Clone)]
enum Clients {
    Standalone(redis::Client),
    Cluster(Box<ClusterClients>),
    Sentinel(Arc<Failover>),
}

/// The two cluster clients of a config.
#[derive(Clone)]
struct ClusterClients {
    /// For non-blocking commands: every request, retries included, within the response
    /// timeout (redis-rs would otherwise retry for a long time, and fail-fast would not
    /// hold).
    shared: ClusterClient,
    /// For blocking reads: each node's response timeout covers the `BLOCK` time.
    blocking: ClusterClient,
}

impl Connector {
    /// The clients of `settings`, built without connecting; fails with
    /// [`Error::InvalidArgument`] for a target that cannot be connected to as it stands.
    pub(crate) fn new(settings: &RedisTarget) -> Result<Self, Error> {
        let resolved = settings.resolve()?;
        let url = &resolved.url;
        let nodes = &resolved.nodes;
        let tls = resolved.uses_tls();
        #[cfg(not(feature = "tls"))]
        if tls || settings.tls_ca_cert.is_some() {
            return Err(Error::InvalidArgument(format!(
                "{} needs TLS, and clamator-redis was built without its `tls` feature \
                 (a default feature: do not turn default features off, or add \
                 features = [\"tls\"])",
                redact(url)
            )));
        }
        // No rustls crypto provider is installed here: with only rustls's `ring` provider
        // compiled in (all the `tls` feature turns on), rustls makes it the process default
        // when redis-rs builds its client config. An application that compiles in a second
        // provider installs the one it wants first (the `tls` feature's docs say so).
        if settings.tls_ca_cert.is_some() && !tls {
            return Err(Error::InvalidArgument(format!(
                "a TLS CA certificate was given but the Redis URL {} is not rediss://",
                redact(url)
            )));
        }
        let invalid = |e: redis::RedisError| {
            Error::InvalidArgument(format!("invalid Redis URL {}: {e}", redact(url)))
        };
        let clients = match &resolved.deployment {
            Deployment::Standalone => {
                Clients::Standalone(standalone_client(url, settings).map_err(invalid)?)
            }
            Deployment::Cluster => Clients::Cluster(Box::new(ClusterClients {
                shared: cluster_client(nodes, settings, settings.response_timeout)
                    .map_err(invalid)?,
                blocking: cluster_client(nodes, settings, BLOCK + settings.response_timeout)
                    .map_err(invalid)?,
            })),
            Deployment::Sentinel { master } => Clients::Sentinel(Arc::new(
                Failover::new(nodes, master, settings).map_err(invalid)?,
            )),
        };
        Ok(Self {
            clients,
            resolved,
            settings: settings.clone(),
        })
    }

    /// The URL with any password hidden, for messages.
    pub(crate) fn display_url(&self) -> String {
        redact(&self.resolved.url)
    }

    /// The deployment connections are opened in: the one the URL's scheme names, else the
    /// one set.
    pub(crate) fn deployment(&self) -> &Deployment {
        &self.resolved.deployment
    }

    fn cannot_connect(&self, e: redis::RedisError) -> Error {
        redis_failure(
            format!("cannot connect to Redis at {}", self.resolved.describe()),
            e,
        )
    }

    /// The shared connection. Fails when Redis cannot be reached now.
    pub(crate) async fn shared(&self) -> Result<RedisConn, Error> {
        match &self.clients {
            Clients::Standalone(client) => {
                let config = ConnectionManagerConfig::new()
                    .set_connection_timeout(Some(self.settings.connect_timeout))
                    .set_response_timeout(Some(self.settings.response_timeout))
                    .set_min_delay(Duration::from_millis(100))
                    .set_max_delay(crate::backoff::MAX_DELAY)
                    .set_number_of_retries(3);
                ConnectionManager::new_with_config(client.clone(), config)
                    .await
                    .map(RedisConn::Manager)
                    .map_err(|e| self.cannot_connect(e))
            }
            Clients::Cluster(clients) => clients
                .shared
                .get_async_connection()
                .await
                .map(RedisConn::Cluster)
                .map_err(|e| self.cannot_connect(e)),
            Clients::Sentinel(failover) => {
                // Connect now, so a wrong address fails at start as in the other modes.
                failover
                    .connect()
                    .await
                    .map_err(|e| self.cannot_connect(e))?;
                Ok(RedisConn::Sentinel(Arc::clone(failover)))
            }
        }
    }

    /// A connection of its own for one blocking read loop; its response timeout covers the
    /// `BLOCK` time plus the usual response timeout. The loop replaces it after an error
    /// [`needs_new_connection`] names.
    pub(crate) async fn dedicated(&self) -> Result<RedisConn, Error> {
        let timeouts = Timeouts {
            connect: self.settings.connect_timeout,
            response: BLOCK + self.settings.response_timeout,
        };
        match &self.clients {
            Clients::Standalone(client) => dedicated_to(client, &timeouts).await,
            Clients::Cluster(clients) => clients
                .blocking
                .get_async_connection()
                .await
                .map(RedisConn::Cluster),
            Clients::Sentinel(failover) => failover
                .dedicated(&timeouts)
                .await
                .map(|d| RedisConn::SentinelDedicated(d, Arc::clone(failover))),
        }
        .map_err(|e| self.cannot_connect(e))
    }
}

/// The timeouts of a dedicated connection.
pub(crate) struct Timeouts {
    connect: Duration,
    /// Covers the `BLOCK` time.
    response: Duration,
}

/// A dedicated connection to the one Redis `client` names: our own over plain TCP or a Unix
/// socket (stream replies decoded from their bytes), redis-rs's over TLS.
async fn dedicated_to(
    client: &redis::Client,
    timeouts: &Timeouts,
) -> redis::RedisResult<RedisConn> {
    let info = client.get_connection_info();
    if RawConn::serves(info) {
        return RawConn::connect(info, timeouts.connect, timeouts.response)
            .await
            .map(RedisConn::Raw);
    }
    let config = AsyncConnectionConfig::new()
        .set_connection_timeout(Some(timeouts.connect))
        .set_response_timeout(Some(timeouts.response));
    client
        .get_multiplexed_async_connection_with_config(&config)
        .await
        .map(RedisConn::Multiplexed)
}

// `check` lives with the connector it asks, so the target (a plain description) imports
// nothing of the connection layer.
impl RedisTarget {
    /// What connecting would refuse, found without connecting: a URL that does not parse, a
    /// scheme that is not Redis's (or an unknown `redis+…` one), a node list without cluster
    /// or sentinel mode, a scheme naming another mode than the one set, a sentinel URL
    /// without a master, a CA certificate for a URL without TLS, TLS in a build without the
    /// `tls` feature. Each is an [`Error::InvalidArgument`] saying what is wrong, so a
    /// command-line tool can report it as a usage error.
    ///
    /// ```
    /// use clamator_redis::{Deployment, RedisTarget};
    /// assert!(RedisTarget::new("redis://127.0.0.1:6379").check().is_ok());
    /// for (url, why) in [
    ///     ("http://a:1", "not a redis:// or rediss:// URL"),
    ///     ("redis+bogus://a:1", "unknown Redis URL scheme"),
    ///     ("redis+sentinel://a:1,b:2", "names no master"),
    /// ] {
    ///     let e = RedisTarget::new(url).check().unwrap_err();
    ///     assert!(e.to_string().contains(why), "{e}");
    /// }
    /// let conflict = RedisTarget::new("redis+cluster://a:1").deployment(Deployment::sentinel("m"));
    /// assert!(conflict.check().is_err());
    /// ```
    pub fn check(&self) -> Result<(), Error> {
        Connector::new(self).map(drop)
    }
}

#[cfg(feature = "tls")]
fn tls_certificates(settings: &RedisTarget) -> Option<redis::TlsCertificates> {
    settings
        .tls_ca_cert
        .as_ref()
        .map(|pem| redis::TlsCertificates {
            client_tls: None,
            root_cert: Some(pem.clone()),
        })
}

fn standalone_client(url: &str, settings: &RedisTarget) -> redis::RedisResult<redis::Client> {
    #[cfg(feature = "tls")]
    if let Some(certs) = tls_certificates(settings) {
        return redis::Client::build_with_tls(url, certs);
    }
    let _ = settings;
    redis::Client::open(url)
}

fn cluster_client(
    nodes: &[String],
    settings: &RedisTarget,
    response_timeout: Duration,
) -> redis::RedisResult<ClusterClient> {
    let infos = nodes
        .iter()
        .map(|n| n.as_str().into_connection_info())
        .collect::<redis::RedisResult<Vec<_>>>()?;
    #[allow(unused_mut)]
    let mut builder = ClusterClientBuilder::new(infos)
        .connection_timeout(settings.connect_timeout)
        .response_timeout(response_timeout)
        // Retries (MOVED, ASK, TRYAGAIN, CLUSTERDOWN, a node reconnecting) stay within one
        // response timeout overall, plus the connect time of one new node, so a call fails
        // fast instead of hanging through a long outage; our loops retry on their own.
        .overall_response_timeout(Some(response_timeout + settings.connect_timeout))
        .retries(8)
        .min_retry_wait(20)
        .max_retry_wait(500);
    #[cfg(feature = "tls")]
    if let Some(certs) = tls_certificates(settings) {
        builder = builder.certs(certs);
    }
    builder.build()
}

/// A connection of any deployment mode; cheap to clone (clones share the connection).
#[derive(Clone)]
pub(crate) enum RedisConn {
    /// Standalone, shared: reconnects on its own.
    Manager(ConnectionManager),
    /// Standalone over TLS, dedicated to one blocking loop.
    Multiplexed(MultiplexedConnection),
    /// Standalone over plain TCP or a Unix socket, dedicated to one blocking loop: stream
    /// replies are decoded from their bytes.
    Raw(RawConn),
    /// Redis Cluster: follows the slot map; pipelines are split by slot.
    Cluster(ClusterConnection),
    /// Sentinel, shared: moves to the new master after a failover.
    Sentinel(Arc<Failover>),
    /// Sentinel, dedicated to one blocking loop: fails once the master changed.
    SentinelDedicated(sentinel::Dedicated, Arc<Failover>),
}

impl std::fmt::Debug for RedisConn {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Self::Manager(_) => "RedisConn::Standalone",
            Self::Multiplexed(_) => "RedisConn::Dedicated",
            Self::Raw(_) => "RedisConn::DedicatedRaw",
            Self::Cluster(_) => "RedisConn::Cluster",
            Self::Sentinel(_) => "RedisConn::Sentinel",
            Self::SentinelDedicated(..) => "RedisConn::SentinelDedicated",
        })
    }
}

impl ConnectionLike for RedisConn {
    fn req_packed_command<'a>(&'a mut self, cmd: &'a Cmd) -> RedisFuture<'a, Value> {
        match self {
            Self::Manager(c) => c.req_packed_command(cmd),
            Self::Multiplexed(c) => c.req_packed_command(cmd),
            Self::Raw(c) => c.req_packed_command(cmd),
            Self::Cluster(c) => c.req_packed_command(cmd),
            Self::Sentinel(f) => Box::pin(f.command(cmd)),
            Self::SentinelDedicated(d, f) => Box::pin(d.command(f, cmd)),
        }
    }

    fn req_packed_commands<'a>(
        &'a mut self,
        pipeline: &'a Pipeline,
        offset: usize,
        count: usize,
    ) -> RedisFuture<'a, Vec<Value>> {
        match self {
            Self::Manager(c) => c.req_packed_commands(pipeline, offset, count),
            Self::Multiplexed(c) => c.req_packed_commands(pipeline, offset, count),
            Self::Raw(c) => c.req_packed_commands(pipeline, offset, count),
            Self::Cluster(c) => Box::pin(cluster::pipeline(c, pipeline, offset, count)),
            Self::Sentinel(f) => Box::pin(f.pipeline(pipeline, offset, count)),
            Self::SentinelDedicated(d, _) => Box::pin(d.pipeline(pipeline, offset, count)),
        }
    }

    fn get_db(&self) -> i64 {
        match self {
            Self::Manager(c) => c.get_db(),
            Self::Multiplexed(c) => c.get_db(),
            Self::Raw(c) => c.get_db(),
            Self::Cluster(c) => c.get_db(),
            Self::Sentinel(_) | Self::SentinelDedicated(..) => 0,
        }
    }
}

impl EntryReader for RedisConn {
    fn read_entries<'a>(&'a mut self, cmd: &'a Cmd) -> RedisFuture<'a, Vec<StreamEntry>> {
        match self {
            Self::Raw(c) => c.read_entries(cmd),
            Self::SentinelDedicated(d, f) => Box::pin(d.read_entries(f, cmd)),
            other => Box::pin(async move { Ok(cmd.query_async::<ReadReply>(other).await?.0) }),
        }
    }
}

/// The server a connection reached, from `HELLO` (Redis 6+, Valkey): its product and
/// version, so newer commands can be used where they exist while Redis 7.0 stays the
/// baseline.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct ServerInfo {
    /// `redis` or `valkey`.
    pub(crate) product: String,
    /// `major.minor.patch`.
    pub(crate) version: (u32, u32, u32),
}

impl ServerInfo {
    /// Whether `XINFO CONSUMERS` reports `inactive` (Redis 7.2+, every Valkey): the time
    /// since a consumer last tried to read, which tells a live idle consumer from a dead one.
    #[allow(dead_code)] // room for the checks that will use it
    pub(crate) fn reports_consumer_inactivity(&self) -> bool {
        self.product == "valkey" || self.version >= (7, 2, 0)
    }

    /// Asks `conn` with `HELLO` (RESP2 answers a flat list of names and values).
    pub(crate) async fn detect(conn: &mut RedisConn) -> redis::RedisResult<Self> {
        let hello: Value = redis::cmd("HELLO").query_async(conn).await?;
        Ok(Self::from_hello(&hello))
    }

    fn from_hello(hello: &Value) -> Self {
        let text = |v: &Value| match v {
            Value::BulkString(b) => String::from_utf8_lossy(b).into_owned(),
            Value::SimpleString(s) => s.clone(),
            _ => String::new(),
        };
        let mut info = Self {
            product: "redis".to_owned(),
            version: (0, 0, 0),
        };
        let pairs: Vec<(String, &Value)> = match hello {
            Value::Array(items) => items
                .chunks(2)
                .filter_map(|p| match p {
                    [k, v] => Some((text(k), v)),
                    _ => None,
                })
                .collect(),
            Value::Map(items) => items.iter().map(|(k, v)| (text(k), v)).collect(),
            _ => Vec::new(),
        };
        for (key, value) in pairs {
            match key.as_str() {
                "server" => info.product = text(value).to_ascii_lowercase(),
                "version" => {
                    let mut parts = text(value)
                        .split('.')
                        .map(|p| p.parse::<u32>().unwrap_or(0))
                        .collect::<Vec<_>>()
                        .into_iter();
                    info.version = (
                        parts.next().unwrap_or(0),
                        parts.next().unwrap_or(0),
                        parts.next().unwrap_or(0),
                    );
                }
                _ => {}
            }
        }
        info
    }
}

impl std::fmt::Display for ServerInfo {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let (a, b, c) = self.version;
        write!(f, "{} {a}.{b}.{c}", self.product)
    }
}

/// Errors after which a connection should be replaced (and, in cluster and sentinel mode,
/// the topology looked up again) before the next read: a broken connection, and the answers
/// Redis gives while a slot moves or a master changes. `UNBLOCKED` is what a blocked
/// `XREADGROUP` gets when its slot moved away or its master became a replica.
pub(crate) fn needs_new_connection(e: &redis::RedisError) -> bool {
    is_connection_error(e) || is_topology_change(e.code())
}

/// Error codes Redis answers while a slot moves, a failover runs, or a node is starting.
pub(crate) fn is_topology_change(code: Option<&str>) -> bool {
    matches!(
        code,
        Some(
            "UNBLOCKED"
                | "READONLY"
                | "MOVED"
                | "ASK"
                | "TRYAGAIN"
                | "CLUSTERDOWN"
                | "LOADING"
                | "MASTERDOWN"
        )
    )
}

/// Sends an XADD, and sends it again while Redis answers that a slot is on the move or a
/// failover is in progress (ASK, MOVED, TRYAGAIN, READONLY, CLUSTERDOWN, LOADING): Redis
/// did not run it, so sending it again cannot duplicate it. A few quick tries ride out
/// the switch.
pub(crate) async fn through_topology_changes<T, F, Fut>(mut send: F) -> redis::RedisResult<T>
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = redis::RedisResult<T>>,
{
    let mut sent = send().await;
    let mut delay = std::time::Duration::from_millis(10);
    for _ in 0..TOPOLOGY_RETRIES {
        match &sent {
            Err(e) if is_topology_change(e.code()) => {
                tracing::debug!(error = %e, ?delay, "XADD met a topology change; sending it again");
                tokio::time::sleep(delay).await;
                delay *= 2;
                sent = send().await;
            }
            _ => break,
        }
    }
    sent
}

/// How often a request's XADD is sent again after an answer saying the topology is
/// changing (10 ms, doubling: 630 ms in all).
const TOPOLOGY_RETRIES: usize = 6;

/// True for errors that mean the connection itself is unusable and must be replaced.
pub(crate) fn is_connection_error(e: &redis::RedisError) -> bool {
    e.is_io_error() || e.is_timeout() || e.is_connection_dropped() || e.is_unrecoverable_error()
}

/// Our error for a failed Redis command or connection, with the redis-rs error as its cause.
pub(crate) fn redis_failure(message: impl Into<String>, e: redis::RedisError) -> Error {
    Error::transport_with(message, RedisCause(e))
}

/// A redis-rs error as a cause that says each thing once. redis-rs repeats its cause's text in
/// its own message (`Connection refused (os error 111)`), and a server error is its own source
/// (`"OOM": command not allowed …`), so a chain printer such as anyhow's `{:#}` would say the
/// same words twice; this cause skips sources whose text it has already said.
#[derive(Debug)]
struct RedisCause(redis::RedisError);

impl std::fmt::Display for RedisCause {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        self.0.fmt(f)
    }
}

impl std::error::Error for RedisCause {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        let said = self.0.to_string();
        let mut source = std::error::Error::source(&self.0);
        while let Some(s) = source {
            if !said.contains(&s.to_string()) {
                return Some(s);
            }
            source = s.source();
        }
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hello_tells_the_product_and_version() {
        let bulk = |s: &str| Value::BulkString(s.as_bytes().to_vec());
        let hello = Value::Array(vec![
            bulk("server"),
            bulk("valkey"),
            bulk("version"),
            bulk("8.0.1"),
            bulk("proto"),
            Value::Int(2),
        ]);
        let info = ServerInfo::from_hello(&hello);
        assert_eq!(info.to_string(), "valkey 8.0.1");
        assert!(info.reports_consumer_inactivity());
        let old = ServerInfo::from_hello(&Value::Array(vec![
            bulk("server"),
            bulk("redis"),
            bulk("version"),
            bulk("7.0.15"),
        ]));
        assert_eq!(old.version, (7, 0, 15));
        assert!(!old.reports_consumer_inactivity());
    }

    /// Every message of an error's chain, the way anyhow's `{:#}` prints it.
    fn chain(e: &dyn std::error::Error) -> String {
        let mut parts = vec![e.to_string()];
        let mut source = e.source();
        while let Some(s) = source {
            parts.push(s.to_string());
            source = s.source();
        }
        parts.join(": ")
    }

    #[tokio::test]
    async fn a_redis_cause_is_said_once() {
        // A port nothing listens on: bind one, then free it.
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let client = redis::Client::open(format!("redis://127.0.0.1:{port}")).unwrap();
        let e = client
            .get_multiplexed_async_connection()
            .await
            .err()
            .unwrap();
        let refused = e.to_string();
        assert!(refused.contains("os error"), "{refused}");
        // Without the wrapper, redis-rs's chain says it twice.
        assert!(chain(&e).matches("os error").count() > 1, "{}", chain(&e));
        let ours = redis_failure("cannot connect", e);
        assert_eq!(
            chain(&ours).matches("os error").count(),
            1,
            "{}",
            chain(&ours)
        );
    }
}
