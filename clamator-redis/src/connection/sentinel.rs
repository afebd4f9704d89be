//! Sentinel mode: a shared connection that follows the master. The sentinels are asked for
//! the master's address when a connection is needed; after a connection error, or an answer
//! saying the node is no longer the master (`READONLY`, after a failover demoted it), the
//! connection is dropped and the next command asks again.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Mutex;

use redis::aio::{ConnectionLike, MultiplexedConnection};
use redis::sentinel::{SentinelClient, SentinelClientBuilder, SentinelServerType};
use redis::{AsyncConnectionConfig, Cmd, IntoConnectionInfo, Pipeline, RedisResult, Value};

use crate::config::Connection;

/// The shared connection of sentinel mode.
pub(crate) struct Failover {
    sentinels: tokio::sync::Mutex<SentinelClient>,
    config: AsyncConnectionConfig,
    current: Mutex<Option<(u64, MultiplexedConnection)>>,
    generation: AtomicU64,
}

impl Failover {
    pub(super) fn new(nodes: &[String], master: &str, settings: &Connection) -> RedisResult<Self> {
        let infos = nodes
            .iter()
            .map(|n| n.as_str().into_connection_info())
            .collect::<RedisResult<Vec<_>>>()?;
        let addrs = infos.iter().map(|i| i.addr().clone());
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
            sentinels: tokio::sync::Mutex::new(builder.build()?),
            config: AsyncConnectionConfig::new()
                .set_connection_timeout(Some(settings.connect_timeout))
                .set_response_timeout(Some(settings.response_timeout)),
            current: Mutex::new(None),
            generation: AtomicU64::new(0),
        })
    }

    fn cached(&self) -> Option<(u64, MultiplexedConnection)> {
        self.current
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }

    /// The connection to the current master, asking the sentinels when there is none.
    pub(super) async fn connect(&self) -> RedisResult<(u64, MultiplexedConnection)> {
        if let Some(c) = self.cached() {
            return Ok(c);
        }
        // One lookup at a time; whoever waited finds the connection the first one made.
        let mut sentinels = self.sentinels.lock().await;
        if let Some(c) = self.cached() {
            return Ok(c);
        }
        let conn = sentinels
            .get_async_connection_with_config(&self.config)
            .await?;
        let generation = self.generation.fetch_add(1, Ordering::Relaxed) + 1;
        let mut current = self.current.lock().unwrap_or_else(|e| e.into_inner());
        *current = Some((generation, conn.clone()));
        Ok((generation, conn))
    }

    /// A new connection to the current master, for one blocking loop.
    pub(super) async fn dedicated(
        &self,
        config: &AsyncConnectionConfig,
    ) -> RedisResult<MultiplexedConnection> {
        self.sentinels
            .lock()
            .await
            .get_async_connection_with_config(config)
            .await
    }

    /// Forgets connection `generation` (unless a newer one replaced it already).
    fn forget(&self, generation: u64) {
        let mut current = self.current.lock().unwrap_or_else(|e| e.into_inner());
        if current.as_ref().is_some_and(|(g, _)| *g == generation) {
            *current = None;
        }
    }

    pub(super) async fn command(&self, cmd: &Cmd) -> RedisResult<Value> {
        let (generation, mut conn) = self.connect().await?;
        let answer = conn.req_packed_command(cmd).await;
        match &answer {
            Err(e) if super::needs_new_connection(e) => self.forget(generation),
            Ok(Value::ServerError(e)) if super::is_topology_change(Some(e.code())) => {
                self.forget(generation);
            }
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
        let (generation, mut conn) = self.connect().await?;
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
