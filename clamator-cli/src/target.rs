//! Where Redis is and how it is deployed, read the way clamator-redis reads it, and the CLI's
//! own connection for the reads the library keeps to itself (`SCAN`, `XINFO`, `XPENDING`,
//! `XRANGE`, `XREAD`).
//!
//! The deployment comes from `--cluster` / `--sentinel-master NAME` or from the URL's
//! scheme (`redis+cluster://a:7000,b:7000`, `redis+sentinel://a:26379,b:26379/mymaster`,
//! `rediss+…` for TLS), as in clamator-redis. In a node list, a node without a scheme takes
//! the first node's scheme and credentials.

use std::time::Duration;

use clamator_redis::config::{node_urls, redact_url as redact};
use clamator_redis::{Deployment, TransportConfig};
use redis::aio::{ConnectionLike, MultiplexedConnection};
use redis::cluster_async::ClusterConnection;
use redis::cluster_routing::{RoutingInfo, SingleNodeRoutingInfo};
use redis::{Cmd, FromRedisValue, Pipeline, RedisFuture, Value};

use crate::error::CliError;

/// How long to wait for a connection, and for any answer.
const TIMEOUT: Duration = Duration::from_secs(5);

/// The Redis the CLI talks to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Target {
    deployment: Deployment,
    /// The URL without a deployment scheme: one node, or a comma-separated list.
    url: String,
    /// Every node, each a complete URL.
    nodes: Vec<String>,
}

impl Target {
    /// Reads `url` and the deployment flags; a scheme and a flag that disagree are a usage
    /// error, as is a node list without cluster or sentinel mode.
    pub(crate) fn new(url: &str, cluster: bool, sentinel: Option<&str>) -> Result<Self, CliError> {
        let flagged = match (sentinel, cluster) {
            (Some(master), _) => Deployment::sentinel(master),
            (None, true) => Deployment::Cluster,
            (None, false) => Deployment::Standalone,
        };
        let (url, deployment) = match url.split_once("://") {
            Some((scheme, rest)) => match scheme.split_once('+') {
                Some((base @ ("redis" | "rediss"), "cluster")) => {
                    (format!("{base}://{rest}"), Deployment::Cluster)
                }
                Some((base @ ("redis" | "rediss"), "sentinel")) => {
                    let Some((nodes, master)) =
                        rest.rsplit_once('/').filter(|(_, m)| !m.is_empty())
                    else {
                        return Err(CliError::Usage(format!(
                            "the sentinel URL {} names no master: write \
                             redis+sentinel://host:26379,host2:26379/<master name>",
                            redact(url)
                        )));
                    };
                    (format!("{base}://{nodes}"), Deployment::sentinel(master))
                }
                Some(_) => {
                    return Err(CliError::Usage(format!(
                        "unknown Redis URL scheme in {} (redis://, rediss://, \
                         redis+cluster://, redis+sentinel://)",
                        redact(url)
                    )))
                }
                None => (url.to_owned(), flagged.clone()),
            },
            None => (url.to_owned(), flagged.clone()),
        };
        if flagged != Deployment::Standalone && flagged != deployment {
            return Err(CliError::Usage(format!(
                "the Redis URL {} says {deployment:?} but the flags say {flagged:?}",
                redact(&url)
            )));
        }
        let nodes = node_urls(&url);
        if deployment == Deployment::Standalone && nodes.len() > 1 {
            return Err(CliError::Usage(format!(
                "the Redis URL {} lists {} nodes; a list needs --cluster or --sentinel-master",
                redact(&url),
                nodes.len()
            )));
        }
        for node in &nodes {
            if !(node.starts_with("redis://") || node.starts_with("rediss://")) {
                return Err(CliError::Usage(format!(
                    "{} is not a redis:// or rediss:// URL",
                    redact(node)
                )));
            }
        }
        Ok(Self {
            deployment,
            url,
            nodes,
        })
    }

    /// The URL (password hidden) and the mode, for messages.
    pub(crate) fn describe(&self) -> String {
        let url = redact(&self.url);
        match &self.deployment {
            Deployment::Cluster => format!("{url} (cluster)"),
            Deployment::Sentinel { master } => format!("{url} (sentinel, master \"{master}\")"),
            _ => url,
        }
    }

    /// The URL in the form clamator-redis reads without a config: the deployment in the
    /// scheme (what [`clamator_redis::DeadLetters::connect`] takes).
    pub(crate) fn library_url(&self) -> String {
        let (scheme, rest) = self.url.split_once("://").unwrap_or(("redis", &self.url));
        match &self.deployment {
            Deployment::Cluster => format!("{scheme}+cluster://{rest}"),
            Deployment::Sentinel { master } => format!("{scheme}+sentinel://{rest}/{master}"),
            _ => self.url.clone(),
        }
    }

    /// A transport config for `prefix` on this Redis.
    pub(crate) fn transport_config(&self, prefix: &str) -> TransportConfig {
        TransportConfig::new(prefix)
            .redis_url(&self.url)
            .deployment(self.deployment.clone())
    }

    fn uses_tls(&self) -> bool {
        self.nodes.iter().any(|n| n.starts_with("rediss://"))
    }

    /// The CLI's own connection: to the one node, to the cluster, or to the master the
    /// sentinels name.
    pub(crate) async fn connect(&self) -> Result<Conn, CliError> {
        if self.uses_tls() {
            // rustls needs a process-wide crypto provider; one may be installed already.
            let _ = rustls::crypto::ring::default_provider().install_default();
        }
        let cannot = |e: redis::RedisError| {
            CliError::Transport(format!(
                "cannot connect to Redis at {}: {e}",
                self.describe()
            ))
        };
        match &self.deployment {
            Deployment::Cluster => {
                let client = redis::cluster::ClusterClient::builder(self.nodes.clone())
                    .connection_timeout(TIMEOUT)
                    .response_timeout(TIMEOUT)
                    .retries(2)
                    .build()
                    .map_err(|e| CliError::Usage(format!("invalid Redis URL: {e}")))?;
                let conn = client.get_async_connection().await.map_err(cannot)?;
                Ok(Conn::Cluster(conn))
            }
            Deployment::Sentinel { master } => {
                let master_url = self.ask_sentinels(master).await?;
                single(&master_url).await.map_err(cannot)
            }
            _ => {
                let node = self.nodes.first().map_or(self.url.as_str(), String::as_str);
                single(node).await.map_err(cannot)
            }
        }
    }

    /// The master's URL, from the first sentinel that names it; the sentinels' scheme and
    /// credentials go to the master too, as in clamator-redis.
    async fn ask_sentinels(&self, master: &str) -> Result<String, CliError> {
        let mut last = String::from("no sentinel answered");
        for node in &self.nodes {
            let mut conn = match single(node).await {
                Ok(c) => c,
                Err(e) => {
                    last = format!("{}: {e}", redact(node));
                    continue;
                }
            };
            let named: Result<Option<(String, u16)>, _> = redis::cmd("SENTINEL")
                .arg("GET-MASTER-ADDR-BY-NAME")
                .arg(master)
                .query_async(&mut conn)
                .await;
            match named {
                Ok(Some((host, port))) => {
                    let (scheme, rest) = node.split_once("://").unwrap_or(("redis", node));
                    let auth = rest
                        .rsplit_once('@')
                        .map(|(auth, _)| format!("{auth}@"))
                        .unwrap_or_default();
                    return Ok(format!("{scheme}://{auth}{host}:{port}"));
                }
                Ok(None) => last = format!("{} knows no master \"{master}\"", redact(node)),
                Err(e) => last = format!("{}: {e}", redact(node)),
            }
        }
        Err(CliError::Transport(format!(
            "cannot find the master \"{master}\" through the sentinels at {}: {last}",
            redact(&self.url)
        )))
    }
}

async fn single(url: &str) -> redis::RedisResult<Conn> {
    let client = redis::Client::open(url)?;
    let config = redis::AsyncConnectionConfig::new()
        .set_connection_timeout(Some(TIMEOUT))
        .set_response_timeout(Some(TIMEOUT));
    client
        .get_multiplexed_async_connection_with_config(&config)
        .await
        .map(Conn::Single)
}

/// A connection of the CLI's own, in any deployment mode.
#[derive(Clone)]
pub(crate) enum Conn {
    /// One Redis (standalone, or the master a sentinel named).
    Single(MultiplexedConnection),
    /// Redis Cluster: keyed commands go to their slot's master.
    Cluster(ClusterConnection),
}

impl ConnectionLike for Conn {
    fn req_packed_command<'a>(&'a mut self, cmd: &'a Cmd) -> RedisFuture<'a, Value> {
        match self {
            Self::Single(c) => c.req_packed_command(cmd),
            Self::Cluster(c) => c.req_packed_command(cmd),
        }
    }

    fn req_packed_commands<'a>(
        &'a mut self,
        pipeline: &'a Pipeline,
        offset: usize,
        count: usize,
    ) -> RedisFuture<'a, Vec<Value>> {
        match self {
            Self::Single(c) => c.req_packed_commands(pipeline, offset, count),
            Self::Cluster(c) => c.req_packed_commands(pipeline, offset, count),
        }
    }

    fn get_db(&self) -> i64 {
        match self {
            Self::Single(c) => c.get_db(),
            Self::Cluster(c) => c.get_db(),
        }
    }
}

impl Conn {
    /// Runs `cmd`; a Redis error becomes a transport error saying what was asked.
    pub(crate) async fn query<T: FromRedisValue>(&mut self, cmd: &Cmd) -> Result<T, CliError> {
        cmd.query_async(self).await.map_err(|e| failed(cmd, &e))
    }

    /// Runs `cmd`, with `Ok(None)` for an error Redis answered with one of `codes` (such as
    /// `NOGROUP` for a stream without the group).
    pub(crate) async fn query_unless<T: FromRedisValue>(
        &mut self,
        cmd: &Cmd,
        codes: &[&str],
    ) -> Result<Option<T>, CliError> {
        match cmd.query_async(self).await {
            Ok(v) => Ok(Some(v)),
            Err(e) if e.code().is_some_and(|c| codes.contains(&c)) => Ok(None),
            Err(e) => Err(failed(cmd, &e)),
        }
    }

    /// Every key matching the glob `pattern` (of `kind`, such as `stream`), on every master
    /// of a cluster; sorted, without duplicates.
    pub(crate) async fn scan(
        &mut self,
        pattern: &str,
        kind: &str,
    ) -> Result<Vec<String>, CliError> {
        let mut keys = Vec::new();
        match self {
            Self::Single(c) => {
                let mut cursor = 0u64;
                loop {
                    let cmd = scan_cmd(cursor, pattern, kind);
                    let (next, batch): (u64, Vec<String>) =
                        cmd.query_async(c).await.map_err(|e| failed(&cmd, &e))?;
                    keys.extend(batch);
                    cursor = next;
                    if cursor == 0 {
                        break;
                    }
                }
            }
            Self::Cluster(c) => {
                for (host, port) in cluster_masters(c).await? {
                    let mut cursor = 0u64;
                    loop {
                        let cmd = scan_cmd(cursor, pattern, kind);
                        let routing = RoutingInfo::SingleNode(SingleNodeRoutingInfo::ByAddress {
                            host: host.clone(),
                            port,
                        });
                        let value = c
                            .route_command(cmd.clone(), routing)
                            .await
                            .map_err(|e| failed(&cmd, &e))?;
                        let (next, batch): (u64, Vec<String>) =
                            FromRedisValue::from_redis_value(value)
                                .map_err(|e| CliError::Transport(format!("SCAN: {e}")))?;
                        keys.extend(batch);
                        cursor = next;
                        if cursor == 0 {
                            break;
                        }
                    }
                }
            }
        }
        keys.sort();
        keys.dedup();
        Ok(keys)
    }
}

fn scan_cmd(cursor: u64, pattern: &str, kind: &str) -> Cmd {
    let mut cmd = redis::cmd("SCAN");
    cmd.arg(cursor)
        .arg("MATCH")
        .arg(pattern)
        .arg("COUNT")
        .arg(1000)
        .arg("TYPE")
        .arg(kind);
    cmd
}

/// The masters of a cluster that own slots, from `CLUSTER SLOTS`.
async fn cluster_masters(c: &mut ClusterConnection) -> Result<Vec<(String, u16)>, CliError> {
    let cmd = {
        let mut cmd = redis::cmd("CLUSTER");
        cmd.arg("SLOTS");
        cmd
    };
    let ranges: Vec<Value> = cmd.query_async(c).await.map_err(|e| failed(&cmd, &e))?;
    let mut masters = Vec::new();
    for range in ranges {
        let Value::Array(parts) = range else { continue };
        let Some(Value::Array(master)) = parts.get(2) else {
            continue;
        };
        let host = master
            .first()
            .and_then(|v| String::from_redis_value(v.clone()).ok());
        let port = master
            .get(1)
            .and_then(|v| u16::from_redis_value(v.clone()).ok());
        if let (Some(host), Some(port)) = (host, port) {
            if !masters.contains(&(host.clone(), port)) {
                masters.push((host, port));
            }
        }
    }
    Ok(masters)
}

/// A failed command as a transport error: `XINFO GROUPS failed: …`.
fn failed(cmd: &Cmd, e: &redis::RedisError) -> CliError {
    let name: Vec<String> = cmd
        .args_iter()
        .take(2)
        .filter_map(|a| match a {
            redis::Arg::Simple(bytes) => Some(String::from_utf8_lossy(bytes).into_owned()),
            _ => None,
        })
        .filter(|word| word.chars().all(|c| c.is_ascii_alphabetic()))
        .map(|word| word.to_ascii_uppercase())
        .collect();
    CliError::Transport(format!("{} failed: {e}", name.join(" ")))
}

/// `text` with the glob characters of `SCAN MATCH` and ACL key patterns escaped.
pub(crate) fn glob_escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        if matches!(c, '*' | '?' | '[' | ']' | '\\') {
            out.push('\\');
        }
        out.push(c);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_deployment_comes_from_the_flags_or_the_scheme() {
        let plain = Target::new("redis://h:1", false, None).unwrap();
        assert_eq!(plain.deployment, Deployment::Standalone);
        assert_eq!(plain.library_url(), "redis://h:1");
        let cluster = Target::new("redis://a:1,b:2", true, None).unwrap();
        assert_eq!(cluster.library_url(), "redis+cluster://a:1,b:2");
        assert_eq!(cluster.nodes, ["redis://a:1", "redis://b:2"]);
        let by_scheme = Target::new("rediss+cluster://u:p@a:1,b:2", false, None).unwrap();
        assert_eq!(by_scheme.deployment, Deployment::Cluster);
        assert_eq!(by_scheme.nodes, ["rediss://u:p@a:1", "rediss://u:p@b:2"]);
        let sentinel = Target::new("redis+sentinel://a:1,b:2/main", false, None).unwrap();
        assert_eq!(sentinel.deployment, Deployment::sentinel("main"));
        assert_eq!(sentinel.library_url(), "redis+sentinel://a:1,b:2/main");
        let flagged = Target::new("redis://a:1", false, Some("main")).unwrap();
        assert_eq!(flagged.library_url(), "redis+sentinel://a:1/main");
    }

    #[test]
    fn bad_urls_are_usage_errors() {
        for (url, cluster, sentinel, words) in [
            ("redis://a:1,b:2", false, None, "lists 2 nodes"),
            ("redis+sentinel://a:1", false, None, "names no master"),
            ("redis+cluster://a:1", false, Some("m"), "flags say"),
            ("http://a:1", false, None, "not a redis"),
            ("redis+bogus://a:1", false, None, "unknown Redis URL scheme"),
        ] {
            let e = Target::new(url, cluster, sentinel).unwrap_err();
            assert_eq!(e.exit_code(), 2);
            assert!(e.to_string().contains(words), "{url}: {e}");
        }
    }

    #[test]
    fn passwords_are_hidden_and_globs_escaped() {
        assert_eq!(
            redact("redis://u:secret@h:1,redis://v:x@g:2"),
            "redis://u:***@h:1,redis://v:***@g:2"
        );
        assert_eq!(glob_escape("a*b?[c]\\"), "a\\*b\\?\\[c\\]\\\\");
    }
}
