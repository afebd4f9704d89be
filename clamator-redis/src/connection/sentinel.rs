//! Sentinel mode: a shared connection that follows the master. The sentinels are asked for
//! the master's address when a connection is needed, and again at most every
//! [`RECHECK`] while commands flow: a failover can leave the old master up and accepting
//! writes until the sentinels reconfigure it, seconds later, so waiting for an error is not
//! enough. After a connection error, or an answer saying the node is no longer the master
//! (`READONLY`), the connection is dropped and the next command asks again. Connections of
//! blocking loops remember which master they were opened to and fail their next command
//! (so the loop reconnects) once the shared connection has moved on.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use redis::aio::{ConnectionLike, MultiplexedConnection};
use redis::sentinel::{SentinelClient, SentinelClientBuilder, SentinelServerType};
use redis::{AsyncConnectionConfig, Cmd, IntoConnectionInfo, Pipeline, RedisResult, Value};

use super::EntryReader;
use crate::stream::StreamEntry;
use crate::target::RedisTarget;

/// How often, at most, the sentinels are asked whether the master is still the same.
pub(crate) const RECHECK: Duration = Duration::from_secs(1);

/// How long a failed lookup answers for itself: callers waiting meanwhile share it instead
/// of each asking the sentinels again.
const FAILED_LOOKUP_HOLDS: Duration = Duration::from_millis(200);

/// The longest the once-a-second question may hold up the command that asks it.
const RECHECK_TIMEOUT: Duration = Duration::from_millis(500);

/// The shared connection of sentinel mode.
pub(crate) struct Failover {
    /// Lookups, one at a time.
    lookup: tokio::sync::Mutex<Lookup>,
    /// The master's name, for messages.
    master: String,
    config: AsyncConnectionConfig,
    current: Mutex<Option<Current>>,
    generation: AtomicU64,
}

/// What asks the sentinels.
struct Lookup {
    sentinels: SentinelClient,
    /// Every sentinel, for the once-a-second question.
    nodes: Vec<redis::ConnectionInfo>,
    /// The sentinel that answered last, and a connection to it.
    asker: Option<(usize, MultiplexedConnection)>,
    /// When the last full lookup failed.
    failed_at: Option<Instant>,
}

/// How long one sentinel may take to answer the once-a-second question before the next is
/// asked (a paused sentinel accepts connections and never answers).
const ASK_ONE: Duration = Duration::from_millis(150);

impl Lookup {
    /// The `host:port` the sentinels name as master now, from the first sentinel that
    /// answers (the one that answered last, first); `None` when none does.
    async fn named_master(&mut self, master: &str) -> Option<String> {
        let start = self.asker.as_ref().map_or(0, |(i, _)| *i);
        for step in 0..self.nodes.len() {
            let i = (start + step) % self.nodes.len();
            let conn = match self.asker.take() {
                Some((at, conn)) if at == i => conn,
                _ => {
                    let config = AsyncConnectionConfig::new()
                        .set_connection_timeout(Some(ASK_ONE))
                        .set_response_timeout(Some(ASK_ONE));
                    let Ok(client) = redis::Client::open(self.nodes[i].clone()) else {
                        continue;
                    };
                    match client
                        .get_multiplexed_async_connection_with_config(&config)
                        .await
                    {
                        Ok(conn) => conn,
                        Err(_) => continue,
                    }
                }
            };
            let mut asking = conn.clone();
            let named: RedisResult<Option<(String, u16)>> = redis::cmd("SENTINEL")
                .arg("GET-MASTER-ADDR-BY-NAME")
                .arg(master)
                .query_async(&mut asking)
                .await;
            if let Ok(named) = named {
                self.asker = Some((i, conn));
                return named.map(|(host, port)| format!("{host}:{port}"));
            }
        }
        None
    }
}

/// The connection to the master the sentinels named last.
#[derive(Clone)]
struct Current {
    /// Counts masters (and reconnections): a blocking loop's connection opened under an
    /// older generation is retired.
    generation: u64,
    client: redis::Client,
    /// The master's `host:port`, as the sentinels name it.
    addr: String,
    conn: MultiplexedConnection,
    checked: Instant,
}

/// What a blocking loop's connection answers once the sentinels name another master.
const MOVED_ON: &[u8] = b"-READONLY the sentinels name another master now; reconnecting\r\n";

/// A blocking loop's connection to the master of one generation.
#[derive(Clone)]
pub(crate) struct Dedicated {
    /// A dedicated connection of standalone mode, to the master.
    conn: Box<super::RedisConn>,
    generation: u64,
}

impl Dedicated {
    /// Runs `cmd` unless the master changed since this connection was opened; then a
    /// `READONLY` error, so the loop reconnects to the new one.
    pub(super) async fn command(&mut self, failover: &Failover, cmd: &Cmd) -> RedisResult<Value> {
        if !self.still_master(failover).await {
            return redis::parse_redis_value(MOVED_ON);
        }
        self.conn.req_packed_command(cmd).await
    }

    /// Reads stream entries with `cmd`, as [`command`](Self::command) runs a command.
    pub(super) async fn read_entries(
        &mut self,
        failover: &Failover,
        cmd: &Cmd,
    ) -> RedisResult<Vec<StreamEntry>> {
        if !self.still_master(failover).await {
            redis::parse_redis_value(MOVED_ON)?.extract_error()?;
        }
        self.conn.read_entries(cmd).await
    }

    async fn still_master(&self, failover: &Failover) -> bool {
        failover.current_generation().await == Some(self.generation)
    }

    pub(super) async fn pipeline(
        &mut self,
        pipeline: &Pipeline,
        offset: usize,
        count: usize,
    ) -> RedisResult<Vec<Value>> {
        self.conn.req_packed_commands(pipeline, offset, count).await
    }
}

impl Failover {
    pub(super) fn new(nodes: &[String], master: &str, settings: &RedisTarget) -> RedisResult<Self> {
        let infos = nodes
            .iter()
            .map(|n| n.as_str().into_connection_info())
            .collect::<RedisResult<Vec<_>>>()?;
        let addrs: Vec<_> = infos.iter().map(|i| i.addr().clone()).collect();
        #[allow(unused_mut)]
        let mut builder = SentinelClientBuilder::new(addrs, master, SentinelServerType::Master)?;
        if let Some(first) = infos.first() {
            let redis = first.redis_settings();
            if let Some(user) = redis.username() {
                builder = builder
                    .set_client_to_redis_username(user)
                    .set_client_to_sentinel_username(user);
            }
            if let Some(password) = redis.password() {
                builder = builder
                    .set_client_to_redis_password(password)
                    .set_client_to_sentinel_password(password);
            }
            builder = builder.set_client_to_redis_db(redis.db());
            #[cfg(feature = "tls")]
            if let redis::ConnectionAddr::TcpTls { insecure, .. } = first.addr() {
                let mode = if *insecure {
                    redis::TlsMode::Insecure
                } else {
                    redis::TlsMode::Secure
                };
                builder = builder
                    .set_client_to_redis_tls_mode(mode)
                    .set_client_to_sentinel_tls_mode(mode);
                if let Some(certs) = super::tls_certificates(settings) {
                    builder = builder.set_client_to_redis_certificates(certs.clone());
                    builder = builder.set_client_to_sentinel_certificates(certs);
                }
            }
        }
        Ok(Self {
            lookup: tokio::sync::Mutex::new(Lookup {
                sentinels: builder.build()?,
                nodes: infos,
                asker: None,
                failed_at: None,
            }),
            master: master.to_owned(),
            config: AsyncConnectionConfig::new()
                .set_connection_timeout(Some(settings.connect_timeout))
                .set_response_timeout(Some(settings.response_timeout)),
            current: Mutex::new(None),
            generation: AtomicU64::new(0),
        })
    }

    fn cached(&self) -> Option<Current> {
        self.current
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }

    fn store(&self, current: Current) {
        *self.current.lock().unwrap_or_else(|e| e.into_inner()) = Some(current);
    }

    /// The generation of the current master, asking the sentinels again when due.
    async fn current_generation(&self) -> Option<u64> {
        self.current().await.ok().map(|c| c.generation)
    }

    /// The connection to the current master: the cached one, re-checked with the sentinels
    /// at most every [`RECHECK`] (by one caller; the others go on meanwhile), or a new one.
    async fn current(&self) -> RedisResult<Current> {
        if let Some(c) = self.cached() {
            if c.checked.elapsed() < RECHECK {
                return Ok(c);
            }
            let Ok(mut lookup) = self.lookup.try_lock() else {
                return Ok(c);
            };
            self.mark_checked(c.generation);
            let named = match tokio::time::timeout(
                RECHECK_TIMEOUT,
                lookup.named_master(&self.master),
            )
            .await
            {
                Ok(named) => named,
                Err(_) => {
                    // A sentinel that does not answer (paused, cut off): a new connection
                    // next time, not this one again.
                    lookup.asker = None;
                    None
                }
            };
            match named {
                Some(addr) if addr != c.addr => {
                    tracing::warn!(old = %c.addr, new = %addr, "the sentinels name a new master; moving to it");
                    return match self.open(&mut lookup).await {
                        Ok(new) => Ok(new),
                        Err(e) => {
                            // Keep what works until the new master answers; ask again later.
                            tracing::warn!(error = %e, "cannot reach the new master yet");
                            Ok(c)
                        }
                    };
                }
                // The same master, or no answer (keep what works; ask again later).
                _ => return Ok(c),
            }
        }
        // One lookup at a time; whoever waited finds the connection the first one made, or
        // the failure it met.
        let mut lookup = self.lookup.lock().await;
        if let Some(c) = self.cached() {
            return Ok(c);
        }
        if lookup
            .failed_at
            .is_some_and(|at| at.elapsed() < FAILED_LOOKUP_HOLDS)
        {
            return Err(self.no_master(redis::RedisError::from((
                redis::ErrorKind::MasterNameNotFoundBySentinel,
                "lookup failed a moment ago",
            ))));
        }
        match self.open(&mut lookup).await {
            Ok(c) => {
                lookup.failed_at = None;
                Ok(c)
            }
            Err(e) => {
                lookup.failed_at = Some(Instant::now());
                Err(e)
            }
        }
    }

    /// Records a recheck of connection `generation`, if it is still the current one.
    fn mark_checked(&self, generation: u64) {
        let mut current = self.current.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(c) = current.as_mut().filter(|c| c.generation == generation) {
            c.checked = Instant::now();
        }
    }

    /// Asks the sentinels for the master (redis-rs checks its role) and connects to it.
    async fn open(&self, lookup: &mut Lookup) -> RedisResult<Current> {
        let client = lookup
            .sentinels
            .async_get_client()
            .await
            .map_err(|e| self.no_master(e))?;
        let conn = client
            .get_multiplexed_async_connection_with_config(&self.config)
            .await?;
        let current = Current {
            generation: self.generation.fetch_add(1, Ordering::Relaxed) + 1,
            addr: client.get_connection_info().addr().to_string(),
            client,
            conn,
            checked: Instant::now(),
        };
        self.store(current.clone());
        Ok(current)
    }

    /// redis-rs says "master name not found" both when no sentinel knows the name and when
    /// the master they name does not answer as one (mid-failover); say which could be.
    fn no_master(&self, e: redis::RedisError) -> redis::RedisError {
        if e.kind() != redis::ErrorKind::MasterNameNotFoundBySentinel {
            return e;
        }
        redis::RedisError::from((
            e.kind(),
            "no master reachable through the sentinels",
            format!(
                "no sentinel names a master \"{}\" that answers as one: the name is unknown \
                 to them, or a failover is under way",
                self.master
            ),
        ))
    }

    /// Connects now (at start, so a wrong address fails there).
    pub(super) async fn connect(&self) -> RedisResult<()> {
        self.current().await.map(|_| ())
    }

    /// A new connection to the current master, for one blocking loop.
    pub(super) async fn dedicated(&self, timeouts: &super::Timeouts) -> RedisResult<Dedicated> {
        let current = self.current().await?;
        let conn = super::dedicated_to(&current.client, timeouts).await?;
        Ok(Dedicated {
            conn: Box::new(conn),
            generation: current.generation,
        })
    }

    /// Forgets connection `generation` (unless a newer one replaced it already).
    fn forget(&self, generation: u64) {
        let mut current = self.current.lock().unwrap_or_else(|e| e.into_inner());
        if current.as_ref().is_some_and(|c| c.generation == generation) {
            *current = None;
        }
    }

    pub(super) async fn command(&self, cmd: &Cmd) -> RedisResult<Value> {
        let Current {
            generation,
            mut conn,
            ..
        } = self.current().await?;
        let answer = conn.req_packed_command(cmd).await;
        match &answer {
            Err(e) if demoted(e) => self.forget(generation),
            Ok(Value::ServerError(e)) if e.code() == "READONLY" => self.forget(generation),
            _ => {}
        }
        answer
    }

    pub(super) async fn pipeline(
        &self,
        pipeline: &Pipeline,
        offset: usize,
        count: usize,
    ) -> RedisResult<Vec<Value>> {
        let Current {
            generation,
            mut conn,
            ..
        } = self.current().await?;
        let answer = conn.req_packed_commands(pipeline, offset, count).await;
        let demoted = match &answer {
            Err(e) => super::needs_new_connection(e),
            Ok(values) => values.iter().any(
                |v| matches!(v, Value::ServerError(e) if super::is_topology_change(Some(e.code()))),
            ),
        };
        if demoted {
            self.forget(generation);
        }
        answer
    }
}

/// A broken connection, or a node that is no longer the master: look the master up again.
/// (Other answers, such as `LOADING`, keep the connection: a new lookup would find the same
/// node.)
fn demoted(e: &redis::RedisError) -> bool {
    super::is_connection_error(e) || e.code() == Some("READONLY")
}
