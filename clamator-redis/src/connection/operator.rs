//! [`RedisConnection`]: the library's shared connection, lent to an operator tool for its own
//! commands, in whatever deployment mode the [`RedisTarget`] names.

use clamator_protocol::Error;
use redis::aio::ConnectionLike;
use redis::cluster_async::ClusterConnection;
use redis::cluster_routing::{RoutingInfo, SingleNodeRoutingInfo};
use redis::{Cmd, FromRedisValue, Pipeline, RedisFuture, Value};

use super::{redis_failure, Connector, RedisConn};
use crate::target::{Deployment, RedisTarget};

/// A connection to the Redis a [`RedisTarget`] names, for a tool's own commands: the
/// `SCAN`, `XINFO`, `XPENDING`, `XRANGE` and `XREAD` an operator runs on streams the library
/// keeps to itself. It is the connection servers and transports share: on one Redis it
/// reconnects on its own, on a cluster commands go to the master of their key's slot
/// (pipelines split by slot), under Sentinel it follows the master through failovers. Use it
/// as any redis-rs async connection ([`ConnectionLike`]); [`scan`](Self::scan) lists keys on
/// every master of a cluster. Cheap to clone: clones share the connection.
///
/// ```no_run
/// # async fn run() -> Result<(), Box<dyn std::error::Error>> {
/// use clamator_redis::RedisTarget;
/// let mut conn = RedisTarget::new("redis://127.0.0.1:6379").connect().await?;
/// for stream in conn.scan("shop:cmds:*", Some("stream")).await? {
///     let length: u64 = redis::cmd("XLEN").arg(&stream).query_async(&mut conn).await?;
///     println!("{stream}: {length}");
/// }
/// # Ok(()) }
/// ```
#[derive(Clone)]
pub struct RedisConnection {
    conn: RedisConn,
    deployment: Deployment,
}

impl std::fmt::Debug for RedisConnection {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RedisConnection")
            .field("deployment", &self.deployment)
            .finish_non_exhaustive()
    }
}

impl RedisConnection {
    /// The shared connection of `target`'s connector.
    pub(crate) async fn open(target: &RedisTarget) -> Result<Self, Error> {
        let connector = Connector::new(target)?;
        Ok(Self {
            conn: connector.shared().await?,
            deployment: connector.deployment().clone(),
        })
    }

    /// The deployment mode it connected in: the one its URL's scheme names, else the one
    /// set. (On a cluster, a command's keys must share a slot, and a blocking read blocks
    /// one shard: a tool may poll instead.)
    pub fn deployment(&self) -> &Deployment {
        &self.deployment
    }

    /// Every key matching the glob `pattern` (of type `key_type`, such as `stream`, when
    /// given), with `SCAN` on the one Redis, or on every master of a cluster (from
    /// `CLUSTER SLOTS`); sorted, without duplicates. Escape the glob characters of names
    /// that may hold them (`*`, `?`, `[`, `]`, `\`).
    pub async fn scan(
        &mut self,
        pattern: &str,
        key_type: Option<&str>,
    ) -> Result<Vec<String>, Error> {
        let mut keys = Vec::new();
        match &mut self.conn {
            RedisConn::Cluster(cluster) => {
                for (host, port) in cluster_masters(cluster).await? {
                    let routing =
                        RoutingInfo::SingleNode(SingleNodeRoutingInfo::ByAddress { host, port });
                    let mut cursor = 0u64;
                    loop {
                        let cmd = scan_cmd(cursor, pattern, key_type);
                        let value = cluster
                            .route_command(cmd, routing.clone())
                            .await
                            .map_err(|e| redis_failure("SCAN failed", e))?;
                        let (next, batch): (u64, Vec<String>) =
                            FromRedisValue::from_redis_value(value)
                                .map_err(|e| redis_failure("SCAN failed", e.into()))?;
                        keys.extend(batch);
                        cursor = next;
                        if cursor == 0 {
                            break;
                        }
                    }
                }
            }
            conn => {
                let mut cursor = 0u64;
                loop {
                    let (next, batch): (u64, Vec<String>) = scan_cmd(cursor, pattern, key_type)
                        .query_async(conn)
                        .await
                        .map_err(|e| redis_failure("SCAN failed", e))?;
                    keys.extend(batch);
                    cursor = next;
                    if cursor == 0 {
                        break;
                    }
                }
            }
        }
        keys.sort();
        keys.dedup();
        Ok(keys)
    }
}

impl ConnectionLike for RedisConnection {
    fn req_packed_command<'a>(&'a mut self, cmd: &'a Cmd) -> RedisFuture<'a, Value> {
        self.conn.req_packed_command(cmd)
    }

    fn req_packed_commands<'a>(
        &'a mut self,
        pipeline: &'a Pipeline,
        offset: usize,
        count: usize,
    ) -> RedisFuture<'a, Vec<Value>> {
        self.conn.req_packed_commands(pipeline, offset, count)
    }

    fn get_db(&self) -> i64 {
        self.conn.get_db()
    }
}

fn scan_cmd(cursor: u64, pattern: &str, key_type: Option<&str>) -> Cmd {
    let mut cmd = redis::cmd("SCAN");
    cmd.arg(cursor)
        .arg("MATCH")
        .arg(pattern)
        .arg("COUNT")
        .arg(1000);
    if let Some(key_type) = key_type {
        cmd.arg("TYPE").arg(key_type);
    }
    cmd
}

/// The masters of a cluster that own slots, from `CLUSTER SLOTS`.
async fn cluster_masters(c: &mut ClusterConnection) -> Result<Vec<(String, u16)>, Error> {
    let ranges: Vec<Value> = redis::cmd("CLUSTER")
        .arg("SLOTS")
        .query_async(c)
        .await
        .map_err(|e| redis_failure("CLUSTER SLOTS failed", e))?;
    let mut masters = Vec::new();
    for range in ranges {
        let Value::Array(parts) = range else { continue };
        let Some(Value::Array(master)) = parts.get(2) else {
            continue;
        };
        let host = master
            .first()
            .and_then(|v| String::from_redis_value_ref(v).ok());
        let port = master
            .get(1)
            .and_then(|v| u16::from_redis_value_ref(v).ok());
        if let (Some(host), Some(port)) = (host, port) {
            if !masters.contains(&(host.clone(), port)) {
                masters.push((host, port));
            }
        }
    }
    Ok(masters)
}

impl RedisTarget {
    /// Opens a connection, in the target's deployment mode, for a tool's own commands (an
    /// operator's reads of streams and keys the library keeps to itself): to the one node,
    /// to the cluster (commands follow their key's slot), or to the master the sentinels
    /// name (following failovers). Fails with [`Error::InvalidArgument`] for what
    /// [`check`](Self::check) refuses, and with a transport error when Redis cannot be
    /// reached now.
    ///
    /// ```no_run
    /// # async fn run() -> Result<(), clamator_protocol::Error> {
    /// use clamator_redis::RedisTarget;
    /// let mut conn = RedisTarget::new("redis+cluster://10.0.0.1:7000").connect().await?;
    /// // Every command stream of prefix `shop`, on every master.
    /// let streams = conn.scan("shop:cmds:*", Some("stream")).await?;
    /// # let _ = streams;
    /// # Ok(()) }
    /// ```
    pub async fn connect(&self) -> Result<RedisConnection, Error> {
        RedisConnection::open(self).await
    }
}
