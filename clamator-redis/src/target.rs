//! Where Redis is: [`RedisTarget`], held by [`ServerConfig`](crate::ServerConfig),
//! [`TransportConfig`](crate::TransportConfig) and [`DeadLetters`](crate::DeadLetters), and
//! [`Deployment`], how that Redis is deployed.
//!
//! A URL names one node (`redis://[user:pass@]host:port[/db]`, `rediss://` for TLS), or in
//! cluster and sentinel mode a comma-separated list of nodes (`redis://a:7000,b:7000`; a node
//! without a scheme takes the first one's scheme and credentials). The scheme may name the
//! deployment itself: `redis+cluster://a:7000,b:7000`, `redis+sentinel://a:26379,b:26379/<master>`
//! (and `rediss+…` for TLS). `valkey://` and `valkeys://` are read as `redis://` and
//! `rediss://`; `unix:///path`, `redis+unix:///path` and `valkey+unix:///path` name a Unix
//! socket (standalone only).

use std::time::Duration;

use clamator_protocol::Error;

use crate::defaults::DEFAULT_REDIS_URL;

/// How Redis is deployed, which decides how the URL is read and how connections follow
/// topology changes. The wire and the key names are the same in every mode.
///
/// ```
/// use clamator_redis::{Deployment, ServerConfig, TransportConfig};
/// // Redis Cluster: the URL lists seed nodes; the rest of the cluster is discovered.
/// let server = ServerConfig::new("app")
///     .redis_url("redis://10.0.0.1:7000,10.0.0.2:7000")
///     .deployment(Deployment::Cluster);
/// // Sentinel: the URL lists sentinels; connections go to the master they name.
/// let client = TransportConfig::new("app")
///     .redis_url("redis://10.0.0.1:26379,10.0.0.2:26379,10.0.0.3:26379")
///     .deployment(Deployment::sentinel("mymaster"));
/// assert_eq!(client.deployment_mode(), &Deployment::sentinel("mymaster"));
/// assert_eq!(Deployment::sentinel("mymaster").to_string(), "sentinel (master \"mymaster\")");
/// # let _ = server;
/// ```
#[derive(Debug, Clone, Default, PartialEq, Eq)]
#[non_exhaustive]
pub enum Deployment {
    /// One Redis server (or a managed endpoint that looks like one) at the URL. The default.
    #[default]
    Standalone,
    /// Redis Cluster (or Valkey cluster mode). The URL is a comma-separated list of seed
    /// nodes (`redis://a:7000,b:7000`; a node without a scheme takes the first one's scheme
    /// and credentials). Commands go to the shard that owns their key; MOVED, ASK, TRYAGAIN
    /// and CLUSTERDOWN are followed with retries within the response timeout.
    Cluster,
    /// Redis Sentinel. The URL is a comma-separated list of sentinels; connections go to the
    /// current master of `master`, and move to the new one after a failover. The credentials
    /// and TLS of the URL are used for the sentinels and for the master.
    Sentinel {
        /// The master's name, as configured in the sentinels (`sentinel monitor <name> …`).
        master: String,
    },
}

impl Deployment {
    /// Sentinel mode for the master named `master`.
    pub fn sentinel(master: impl Into<String>) -> Self {
        Self::Sentinel {
            master: master.into(),
        }
    }
}

/// `standalone`, `cluster`, `sentinel (master "<name>")`.
impl std::fmt::Display for Deployment {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Standalone => f.write_str("standalone"),
            Self::Cluster => f.write_str("cluster"),
            Self::Sentinel { master } => write!(f, "sentinel (master \"{master}\")"),
        }
    }
}

/// Where Redis is and how to reach it: the URL (one node, or a list of nodes), the
/// [`Deployment`], the connect and response timeouts, and a private CA for TLS. Servers,
/// transports, [`DeadLetters`](crate::DeadLetters) and operator tools all read it the same
/// way; [`ServerConfig`](crate::ServerConfig) and [`TransportConfig`](crate::TransportConfig)
/// hold one (set whole with their `redis` setter, or piece by piece with `redis_url`,
/// `deployment`, …).
///
/// | knob | default |
/// |---|---|
/// | [`redis_url`](Self::redis_url) | `$REDIS_URL` (read when used), else [`DEFAULT_REDIS_URL`] (`redis://127.0.0.1:6379`) |
/// | [`deployment`](Self::deployment) | [`Deployment::Standalone`], or what the URL's scheme names |
/// | [`connect_timeout`](Self::connect_timeout) / [`response_timeout`](Self::response_timeout) | 5 s / 5 s |
/// | [`tls_ca_cert`](Self::tls_ca_cert) | none: system and webpki roots |
///
/// Its [`Display`](std::fmt::Display) is fit for logs and errors: passwords hidden, the mode
/// named. [`check`](Self::check) says what connecting would refuse, without connecting, and
/// [`connect`](Self::connect) opens a [`RedisConnection`](crate::RedisConnection) for a tool's own commands.
///
/// ```
/// use std::time::Duration;
/// use clamator_redis::{Deployment, RedisTarget, ServerConfig, TransportConfig};
///
/// let target = RedisTarget::new("rediss+cluster://app:secret@10.0.0.1:7000,10.0.0.2:7000")
///     .connect_timeout(Duration::from_secs(2));
/// target.check()?;
/// assert_eq!(
///     target.to_string(),
///     "rediss://app:***@10.0.0.1:7000,10.0.0.2:7000 (cluster)"
/// );
/// // One target for the servers, the clients and the dead letters of an application.
/// let server = ServerConfig::new("shop").redis(target.clone());
/// let client = TransportConfig::new("shop").redis(target.clone());
/// assert_eq!(server.redis_target(), client.redis_target());
///
/// // What connecting would refuse, before connecting.
/// let list = RedisTarget::new("redis://a:6379,b:6379");
/// assert!(list.check().unwrap_err().to_string().contains("lists 2 nodes"));
/// assert!(list.deployment(Deployment::Cluster).check().is_ok());
/// # Ok::<(), clamator_protocol::Error>(())
/// ```
#[derive(Clone, PartialEq, Eq)]
pub struct RedisTarget {
    pub(crate) url: Option<String>,
    pub(crate) deployment: Deployment,
    pub(crate) connect_timeout: Duration,
    pub(crate) response_timeout: Duration,
    pub(crate) tls_ca_cert: Option<Vec<u8>>,
}

impl Default for RedisTarget {
    /// `$REDIS_URL` (read when the target is used), else [`DEFAULT_REDIS_URL`]; standalone
    /// unless the URL's scheme says otherwise; 5 s timeouts; no private CA.
    fn default() -> Self {
        Self {
            url: None,
            deployment: Deployment::Standalone,
            connect_timeout: Duration::from_secs(5),
            response_timeout: Duration::from_secs(5),
            tls_ca_cert: None,
        }
    }
}

/// The URL with passwords hidden; no certificate bytes.
impl std::fmt::Debug for RedisTarget {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RedisTarget")
            .field("url", &self.url.as_deref().map(redact_url))
            .field("deployment", &self.deployment)
            .field("connect_timeout", &self.connect_timeout)
            .field("response_timeout", &self.response_timeout)
            .field(
                "tls_ca_cert_bytes",
                &self.tls_ca_cert.as_ref().map(Vec::len),
            )
            .finish()
    }
}

/// The URL with every password hidden, and the mode when it is not standalone:
/// `redis://u:***@a:7000,redis://u:***@b:7000 (cluster)`,
/// `redis://s:26379 (sentinel, master "main")`. A target [`check`](RedisTarget::check)
/// refuses shows its URL as given, passwords hidden.
impl std::fmt::Display for RedisTarget {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self.resolve() {
            Ok(resolved) => f.write_str(&resolved.describe()),
            Err(_) => f.write_str(&redact_url(&self.resolved_url())),
        }
    }
}

impl RedisTarget {
    /// The Redis at `url`, with every other default (see the table above). The URL's scheme
    /// may name the deployment (`redis+cluster://…`, `redis+sentinel://…/<master>`).
    pub fn new(url: impl Into<String>) -> Self {
        Self::default().redis_url(url)
    }

    /// The Redis URL (`redis://`, or `rediss://` for TLS; in cluster and sentinel mode a
    /// comma-separated list of nodes; or `redis+cluster://…`, `redis+sentinel://…/<master>`).
    /// Default: `$REDIS_URL`, else [`DEFAULT_REDIS_URL`].
    #[must_use]
    pub fn redis_url(mut self, url: impl Into<String>) -> Self {
        self.url = Some(url.into());
        self
    }

    /// How Redis is deployed: [`Deployment::Standalone`] (the default),
    /// [`Deployment::Cluster`] or [`Deployment::Sentinel`]. In the last two, the URL is a
    /// comma-separated list of nodes. A URL whose scheme names a deployment needs none (and
    /// a different one here is refused).
    #[must_use]
    pub fn deployment(mut self, deployment: Deployment) -> Self {
        self.deployment = deployment;
        self
    }

    /// How long to wait for a TCP (and TLS) connection. Default 5 s.
    #[must_use]
    pub fn connect_timeout(mut self, timeout: Duration) -> Self {
        self.connect_timeout = timeout;
        self
    }

    /// How long to wait for Redis to answer a command. Blocking reads wait this long on top
    /// of their `BLOCK` time. Default 5 s.
    #[must_use]
    pub fn response_timeout(mut self, timeout: Duration) -> Self {
        self.response_timeout = timeout;
        self
    }

    /// For `rediss://` URLs: trust only this CA certificate (PEM) instead of the system and
    /// webpki roots, as for a Redis behind a private CA. Default: none.
    #[must_use]
    pub fn tls_ca_cert(mut self, pem: impl Into<Vec<u8>>) -> Self {
        self.tls_ca_cert = Some(pem.into());
        self
    }

    /// The URL as given: the configured one, else `$REDIS_URL`, else [`DEFAULT_REDIS_URL`].
    /// It may hold a password: show the target itself (its `Display` hides them) instead.
    pub fn resolved_url(&self) -> String {
        self.url
            .clone()
            .or_else(|| std::env::var("REDIS_URL").ok().filter(|u| !u.is_empty()))
            .unwrap_or_else(|| DEFAULT_REDIS_URL.to_owned())
    }

    /// The deployment mode set with [`deployment`](Self::deployment) (standalone by
    /// default). A URL whose scheme names a mode connects in that mode; the connection says
    /// which it got ([`RedisConnection::deployment`](crate::RedisConnection::deployment)).
    pub fn deployment_mode(&self) -> &Deployment {
        &self.deployment
    }

    /// The URL read: the deployment its scheme names (or the one set), and its nodes.
    pub(crate) fn resolve(&self) -> Result<Resolved, Error> {
        let (url, deployment) = deployment_of(&self.resolved_url(), &self.deployment)?;
        let nodes = node_urls(&url);
        if deployment == Deployment::Standalone && nodes.len() > 1 {
            return Err(Error::InvalidArgument(format!(
                "the Redis URL {} lists {} nodes; a list needs cluster or sentinel mode \
                 (--cluster or --sentinel-master NAME, Deployment::Cluster or \
                 Deployment::Sentinel, or a redis+cluster:// or redis+sentinel://…/<master> URL)",
                redact_url(&url),
                nodes.len()
            )));
        }
        for node in &nodes {
            match node.split_once("://").map(|(scheme, _)| scheme) {
                Some("redis" | "rediss" | "valkey" | "valkeys") => {}
                Some("unix" | "redis+unix" | "valkey+unix")
                    if deployment == Deployment::Standalone => {}
                Some("unix" | "redis+unix" | "valkey+unix") => {
                    return Err(Error::InvalidArgument(format!(
                        "{} is a Unix socket; only a standalone Redis is reached through one",
                        redact_url(node)
                    )))
                }
                _ => {
                    return Err(Error::InvalidArgument(format!(
                        "{} is not a redis:// or rediss:// URL",
                        redact_url(node)
                    )))
                }
            }
        }
        Ok(Resolved {
            url,
            nodes,
            deployment,
        })
    }
}

/// A [`RedisTarget`]'s URL, read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Resolved {
    /// The URL without a deployment scheme: one node, or a comma-separated list.
    pub(crate) url: String,
    /// Every node, each a complete URL.
    pub(crate) nodes: Vec<String>,
    /// The deployment the scheme named, else the one set.
    pub(crate) deployment: Deployment,
}

impl Resolved {
    /// Whether any node is reached over TLS.
    pub(crate) fn uses_tls(&self) -> bool {
        self.nodes
            .iter()
            .any(|n| n.starts_with("rediss://") || n.starts_with("valkeys://"))
    }

    /// The URL, passwords hidden, and the mode: for messages.
    pub(crate) fn describe(&self) -> String {
        let url = redact_url(&self.url);
        match &self.deployment {
            Deployment::Standalone => url,
            Deployment::Cluster => format!("{url} (cluster)"),
            Deployment::Sentinel { master } => format!("{url} (sentinel, master \"{master}\")"),
        }
    }
}

/// The deployment a URL names by its scheme, `redis+cluster://a:7000,b:7000` or
/// `redis+sentinel://a:26379,b:26379/mymaster` (and `rediss+…` for TLS), with the URL in
/// plain `redis://` form; else the configured one.
fn deployment_of(url: &str, configured: &Deployment) -> Result<(String, Deployment), Error> {
    let Some((scheme, rest)) = url.split_once("://") else {
        return Ok((url.to_owned(), configured.clone()));
    };
    let Some((base, suffix)) = scheme.split_once('+') else {
        return Ok((url.to_owned(), configured.clone()));
    };
    let tcp = matches!(base, "redis" | "rediss" | "valkey" | "valkeys");
    let (plain, named) = match suffix {
        // `redis+unix://`: a socket, checked with the other schemes.
        "unix" => return Ok((url.to_owned(), configured.clone())),
        "cluster" if tcp => (format!("{base}://{rest}"), Deployment::Cluster),
        "sentinel" if tcp => {
            let Some((nodes, master)) = rest.rsplit_once('/').filter(|(_, m)| !m.is_empty()) else {
                return Err(Error::InvalidArgument(format!(
                    "the sentinel URL {} names no master: write \
                     redis+sentinel://host:26379,host2:26379/<master name>",
                    redact_url(url)
                )));
            };
            (format!("{base}://{nodes}"), Deployment::sentinel(master))
        }
        _ => {
            return Err(Error::InvalidArgument(format!(
                "unknown Redis URL scheme in {} (redis://, rediss://, redis+cluster://, \
                 redis+sentinel://)",
                redact_url(url)
            )))
        }
    };
    if *configured != Deployment::Standalone && *configured != named {
        return Err(Error::InvalidArgument(format!(
            "the Redis URL {} names the {named} deployment, but {configured} was set \
             (--cluster / --sentinel-master, or Deployment): keep one",
            redact_url(url)
        )));
    }
    Ok((plain, named))
}

/// The nodes of a comma-separated URL list, as the cluster and sentinel modes take it:
/// `redis://a:1,b:2` → `redis://a:1`, `redis://b:2`. A node without a scheme takes the first
/// node's scheme and credentials.
pub(crate) fn node_urls(url: &str) -> Vec<String> {
    let mut parts = url.split(',').map(str::trim).filter(|p| !p.is_empty());
    let Some(first) = parts.next() else {
        return vec![url.to_owned()];
    };
    let (scheme, auth) = match first.split_once("://") {
        Some((scheme, rest)) => (scheme, rest.rsplit_once('@').map(|(auth, _)| auth)),
        None => ("redis", None),
    };
    let mut nodes = vec![first.to_owned()];
    for p in parts {
        if p.contains("://") {
            nodes.push(p.to_owned());
        } else {
            match auth {
                Some(auth) => nodes.push(format!("{scheme}://{auth}@{p}")),
                None => nodes.push(format!("{scheme}://{p}")),
            }
        }
    }
    nodes
}

/// A URL (or a comma-separated list of them) fit for logs and errors: every password
/// hidden, `scheme://user:***@host`.
pub(crate) fn redact_url(url: &str) -> String {
    url.split(',')
        .map(|node| match node.split_once("://") {
            Some((scheme, rest)) => match rest.rsplit_once('@') {
                Some((auth, host)) => {
                    let user = auth.split(':').next().unwrap_or("");
                    format!("{scheme}://{user}:***@{host}")
                }
                None => node.to_owned(),
            },
            None => node.to_owned(),
        })
        .collect::<Vec<_>>()
        .join(",")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn resolved(url: &str, deployment: Deployment) -> Resolved {
        RedisTarget::new(url)
            .deployment(deployment)
            .resolve()
            .unwrap()
    }

    #[test]
    fn node_lists_inherit_the_first_scheme_and_credentials() {
        assert_eq!(
            node_urls("rediss://u:p@a:1, b:2,redis://c:3"),
            ["rediss://u:p@a:1", "rediss://u:p@b:2", "redis://c:3"]
        );
        assert_eq!(node_urls("redis://a:1"), ["redis://a:1"]);
        assert_eq!(
            node_urls("rediss://u:p@a:1,b:2"),
            ["rediss://u:p@a:1", "rediss://u:p@b:2"]
        );
    }

    #[test]
    fn the_url_scheme_can_name_the_deployment() {
        let standalone = Deployment::Standalone;
        assert_eq!(
            deployment_of("redis+cluster://a:1,b:2", &standalone).unwrap(),
            ("redis://a:1,b:2".to_owned(), Deployment::Cluster)
        );
        assert_eq!(
            deployment_of("rediss+sentinel://u:p@a:1,b:2/main", &standalone).unwrap(),
            (
                "rediss://u:p@a:1,b:2".to_owned(),
                Deployment::sentinel("main")
            )
        );
        assert_eq!(
            deployment_of("redis://a:1", &Deployment::Cluster).unwrap(),
            ("redis://a:1".to_owned(), Deployment::Cluster)
        );
        let no_master = deployment_of("redis+sentinel://a:1", &standalone).unwrap_err();
        assert!(
            no_master.to_string().contains("names no master"),
            "{no_master}"
        );
        let conflict =
            deployment_of("redis+cluster://a:1", &Deployment::sentinel("m")).unwrap_err();
        assert!(
            conflict
                .to_string()
                .contains("names the cluster deployment"),
            "{conflict}"
        );
    }

    #[test]
    fn the_deployment_comes_from_the_switches_or_the_scheme() {
        let plain = resolved("redis://h:1", Deployment::Standalone);
        assert_eq!(plain.deployment, Deployment::Standalone);
        assert_eq!(plain.url, "redis://h:1");
        let cluster = resolved("redis://a:1,b:2", Deployment::Cluster);
        assert_eq!(cluster.nodes, ["redis://a:1", "redis://b:2"]);
        let by_scheme = resolved("rediss+cluster://u:p@a:1,b:2", Deployment::Standalone);
        assert_eq!(by_scheme.deployment, Deployment::Cluster);
        assert_eq!(by_scheme.nodes, ["rediss://u:p@a:1", "rediss://u:p@b:2"]);
        assert!(by_scheme.uses_tls());
        let sentinel = resolved("redis+sentinel://a:1,b:2/main", Deployment::Standalone);
        assert_eq!(sentinel.deployment, Deployment::sentinel("main"));
        assert_eq!(sentinel.url, "redis://a:1,b:2");
        // The same master named twice is no conflict.
        let both = resolved("redis+sentinel://a:1/main", Deployment::sentinel("main"));
        assert_eq!(both.nodes, ["redis://a:1"]);
        let flagged = resolved("redis://a:1", Deployment::sentinel("main"));
        assert_eq!(flagged.deployment, Deployment::sentinel("main"));
        // Sockets and valkey:// are Redis URLs too.
        for url in [
            "unix:///tmp/r.sock",
            "redis+unix:///tmp/r.sock",
            "valkey://h:1",
        ] {
            assert_eq!(resolved(url, Deployment::Standalone).url, url);
        }
    }

    #[test]
    fn bad_urls_are_refused_before_connecting() {
        for (url, deployment, words) in [
            ("redis://a:1,b:2", Deployment::Standalone, "lists 2 nodes"),
            ("redis://a:1,b:2", Deployment::Standalone, "--cluster"),
            (
                "redis+sentinel://a:1",
                Deployment::Standalone,
                "names no master",
            ),
            (
                "redis+cluster://a:1",
                Deployment::sentinel("m"),
                "but sentinel (master \"m\") was set",
            ),
            ("http://a:1", Deployment::Standalone, "not a redis"),
            (
                "redis+bogus://a:1",
                Deployment::Standalone,
                "unknown Redis URL scheme",
            ),
            ("unix:///tmp/r.sock", Deployment::Cluster, "Unix socket"),
            ("redis://", Deployment::Standalone, "invalid Redis URL"),
        ] {
            let target = RedisTarget::new(url).deployment(deployment);
            let e = target.check().unwrap_err();
            assert!(matches!(e, Error::InvalidArgument(_)), "{url}: {e:?}");
            assert!(e.to_string().contains(words), "{url}: {e}");
        }
        #[cfg(feature = "tls")]
        {
            let e = RedisTarget::new("redis://a:1")
                .tls_ca_cert(b"pem".to_vec())
                .check()
                .unwrap_err();
            assert!(e.to_string().contains("not rediss://"), "{e}");
        }
    }

    #[test]
    fn redacts_passwords() {
        assert_eq!(redact_url("redis://u:secret@h:1/0"), "redis://u:***@h:1/0");
        assert_eq!(redact_url("redis://h:1"), "redis://h:1");
        assert_eq!(
            redact_url("redis://u:secret@h:1,redis://v:x@g:2"),
            "redis://u:***@h:1,redis://v:***@g:2"
        );
        assert_eq!(
            redact_url("redis://u:secret@a:1,b:2"),
            "redis://u:***@a:1,b:2"
        );
    }

    #[test]
    fn the_target_shows_without_passwords() {
        let sentinel = RedisTarget::new("redis+sentinel://u:secret@a:1,b:2/main");
        assert_eq!(
            sentinel.to_string(),
            "redis://u:***@a:1,b:2 (sentinel, master \"main\")"
        );
        assert_eq!(RedisTarget::new("redis://h:1").to_string(), "redis://h:1");
        // Refused, it still shows, as given.
        assert_eq!(
            RedisTarget::new("redis://u:secret@a:1,b:2").to_string(),
            "redis://u:***@a:1,b:2"
        );
        let debug = format!(
            "{:?}",
            RedisTarget::new("redis://u:secret@h:1").tls_ca_cert(b"x".to_vec())
        );
        assert!(!debug.contains("secret"), "{debug}");
        assert!(debug.contains("tls_ca_cert_bytes: Some(1)"), "{debug}");
    }

    #[test]
    fn the_default_url_is_the_ipv4_loopback() {
        assert_eq!(DEFAULT_REDIS_URL, "redis://127.0.0.1:6379");
        let target = RedisTarget::default();
        assert_eq!(target.url, None);
        assert_eq!(target.deployment_mode(), &Deployment::Standalone);
        assert_eq!(target.connect_timeout, Duration::from_secs(5));
        assert_eq!(target.response_timeout, Duration::from_secs(5));
    }
}
