//! [`RedisArgs`]: the command-line flags that say where Redis is, for programs built with
//! clap (feature `clap`).

use std::path::PathBuf;

use clamator_protocol::Error;

use crate::defaults::DEFAULT_REDIS_URL;
use crate::target::{Deployment, RedisTarget};

/// The flags that say where Redis is, to flatten into a clap parser: `--redis-url` (or
/// `REDIS_URL`; default `redis://127.0.0.1:6379`), `--cluster` (or
/// `CLAMATOR_REDIS_CLUSTER`), `--sentinel-master NAME` (or `CLAMATOR_SENTINEL_MASTER`) and
/// `--tls-ca-cert PATH` (or `CLAMATOR_TLS_CA_CERT`): the variables
/// [`RedisTarget::from_env`] reads. Every flag is global (a subcommand takes it too).
/// [`target`](Self::target) turns them into a [`RedisTarget`], checked.
///
/// ```
/// use clap::Parser;
/// use clamator_redis::{Deployment, RedisArgs};
///
/// #[derive(Parser)]
/// struct Args {
///     #[command(flatten)]
///     redis: RedisArgs,
/// }
/// let args = Args::parse_from(["prog", "--redis-url", "redis://a:26379,b:26379", "--sentinel-master", "main"]);
/// let target = args.redis.target()?;
/// assert_eq!(target.deployment_mode(), &Deployment::sentinel("main"));
/// assert_eq!(target.to_string(), "redis://a:26379,b:26379 (sentinel, master \"main\")");
/// // A node list without a mode is refused before connecting.
/// let list = Args::parse_from(["prog", "--redis-url", "redis://a:1,b:2"]);
/// assert!(list.redis.target().is_err());
/// # Ok::<(), clamator_protocol::Error>(())
/// ```
#[derive(clap::Args, Debug, Clone, PartialEq, Eq)]
pub struct RedisArgs {
    /// Redis URL: `redis://[user:pass@]host:port`, `rediss://` for TLS; with `--cluster` or
    /// `--sentinel-master`, a comma-separated list of nodes; or `redis+cluster://…`,
    /// `redis+sentinel://…/<master>`.
    #[arg(
        long,
        global = true,
        env = "REDIS_URL",
        hide_env_values = true,
        default_value = DEFAULT_REDIS_URL
    )]
    pub redis_url: String,
    /// Redis Cluster: `--redis-url` lists seed nodes.
    #[arg(
        long,
        global = true,
        env = "CLAMATOR_REDIS_CLUSTER",
        conflicts_with = "sentinel_master"
    )]
    pub cluster: bool,
    /// Sentinel: `--redis-url` lists sentinels, and connections go to the master they name
    /// NAME.
    #[arg(
        long,
        global = true,
        env = "CLAMATOR_SENTINEL_MASTER",
        value_name = "NAME"
    )]
    pub sentinel_master: Option<String>,
    /// For `rediss://`: trust only the CA certificate in this PEM file instead of the system
    /// and webpki roots.
    #[arg(long, global = true, env = "CLAMATOR_TLS_CA_CERT", value_name = "PATH")]
    pub tls_ca_cert: Option<PathBuf>,
}

impl Default for RedisArgs {
    /// What the flags say when none is given and no variable is set.
    fn default() -> Self {
        Self {
            redis_url: DEFAULT_REDIS_URL.to_owned(),
            cluster: false,
            sentinel_master: None,
            tls_ca_cert: None,
        }
    }
}

impl RedisArgs {
    /// The deployment the switches name (standalone without either; the URL's scheme may
    /// still name one).
    pub fn deployment(&self) -> Deployment {
        match (&self.sentinel_master, self.cluster) {
            (Some(master), _) => Deployment::sentinel(master),
            (None, true) => Deployment::Cluster,
            (None, false) => Deployment::Standalone,
        }
    }

    /// The target the flags name, [checked](RedisTarget::check): an
    /// [`Error::InvalidArgument`] for a CA file that cannot be read and for everything
    /// `check` refuses, so a program can report it as a usage error before connecting.
    pub fn target(&self) -> Result<RedisTarget, Error> {
        let mut target = RedisTarget::new(&self.redis_url).deployment(self.deployment());
        if let Some(path) = &self.tls_ca_cert {
            let pem = std::fs::read(path).map_err(|e| {
                Error::InvalidArgument(format!(
                    "--tls-ca-cert: cannot read {}: {e}",
                    path.display()
                ))
            })?;
            target = target.tls_ca_cert(pem);
        }
        target.check()?;
        Ok(target)
    }
}

#[cfg(test)]
mod tests {
    use clap::Parser;

    use super::*;

    #[derive(Parser, Debug)]
    struct Cli {
        #[command(flatten)]
        redis: RedisArgs,
    }

    #[test]
    fn the_flags_name_the_target() {
        let cli = Cli::parse_from(["p", "--redis-url", "redis://a:1,b:2", "--cluster"]);
        let target = cli.redis.target().unwrap();
        assert_eq!(target.deployment_mode(), &Deployment::Cluster);
        assert_eq!(target.to_string(), "redis://a:1,b:2 (cluster)");
        assert!(Cli::try_parse_from(["p", "--cluster", "--sentinel-master", "m"]).is_err());
        let e = Cli::parse_from(["p", "--tls-ca-cert", "/nonexistent/ca.pem"])
            .redis
            .target()
            .unwrap_err();
        assert!(e.to_string().contains("--tls-ca-cert"), "{e}");
        let conflict = Cli::parse_from([
            "p",
            "--redis-url",
            "redis+cluster://a:1",
            "--sentinel-master",
            "m",
        ]);
        assert!(conflict.redis.target().is_err());
    }
}
