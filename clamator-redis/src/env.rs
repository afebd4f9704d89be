//! Configuration from environment variables: [`ServerConfig::from_env`] and
//! [`TransportConfig::from_env`], so a deployment sets knobs without a rebuild; where Redis
//! is alone (the rows marked *target*): [`RedisTarget::from_env`].
//!
//! | variable | knob | both / server / transport |
//! |---|---|---|
//! | `CLAMATOR_PREFIX` | key prefix (required) | both |
//! | `REDIS_URL` | [`redis_url`](RedisTarget::redis_url) | both, target |
//! | `CLAMATOR_INSTANCE_ID` | [`instance_id`](ServerConfig::instance_id) | both |
//! | `CLAMATOR_TLS_CA_CERT` | [`tls_ca_cert`](RedisTarget::tls_ca_cert), a path to a PEM file | both, target |
//! | `CLAMATOR_REDIS_CLUSTER` | [`Deployment::Cluster`] when `true` | both, target |
//! | `CLAMATOR_SENTINEL_MASTER` | [`Deployment::Sentinel`] with this master name | both, target |
//! | `CLAMATOR_CONNECT_TIMEOUT`, `CLAMATOR_RESPONSE_TIMEOUT` | [`connect_timeout`](RedisTarget::connect_timeout), [`response_timeout`](RedisTarget::response_timeout) | both, target |
//! | `CLAMATOR_CLAIM_IDLE` | [`claim_idle`](ServerConfig::claim_idle) | server |
//! | `CLAMATOR_SHUTDOWN_GRACE` | [`shutdown_grace`](ServerConfig::shutdown_grace) | server |
//! | `CLAMATOR_MAX_DELIVERIES` | [`max_deliveries`](ServerConfig::max_deliveries) | server |
//! | `CLAMATOR_MAX_HANDLER_TIME` | [`max_handler_time`](ServerConfig::max_handler_time) (`none`: no limit) | server |
//! | `CLAMATOR_SHOW_ERROR_DETAILS` | [`show_error_details`](ServerConfig::show_error_details) (`true` / `false`) | server |
//! | `CLAMATOR_TIMEOUT` | [`default_timeout`](TransportConfig::default_timeout) | transport |
//! | `CLAMATOR_FAIL_FAST_WITHOUT_SERVER` | [`fail_fast_without_server`](TransportConfig::fail_fast_without_server) (`true` / `false`) | transport |
//!
//! Durations are a number and a unit: `250ms`, `30s`, `5m`, `1h`. An unset or empty variable
//! keeps the default; a value that does not parse is an error naming the variable.

use std::time::Duration;

use clamator_protocol::Error;

use crate::config::{ServerConfig, TransportConfig};
use crate::target::{Deployment, RedisTarget};

impl RedisTarget {
    /// Where Redis is, from `REDIS_URL`, `CLAMATOR_TLS_CA_CERT`, `CLAMATOR_REDIS_CLUSTER`,
    /// `CLAMATOR_SENTINEL_MASTER`, `CLAMATOR_CONNECT_TIMEOUT` and `CLAMATOR_RESPONSE_TIMEOUT`
    /// (see the table in the [`env`](crate::env) module), as
    /// [`ServerConfig::from_env`] and [`TransportConfig::from_env`] read them; unset ones
    /// keep their defaults.
    ///
    /// ```
    /// # std::env::set_var("REDIS_URL", "redis://10.0.0.1:7000,10.0.0.2:7000");
    /// # std::env::set_var("CLAMATOR_REDIS_CLUSTER", "true");
    /// // REDIS_URL=redis://10.0.0.1:7000,10.0.0.2:7000 CLAMATOR_REDIS_CLUSTER=true
    /// let target = clamator_redis::RedisTarget::from_env()?;
    /// assert_eq!(target.to_string(), "redis://10.0.0.1:7000,10.0.0.2:7000 (cluster)");
    /// # Ok::<(), clamator_protocol::Error>(())
    /// ```
    pub fn from_env() -> Result<Self, Error> {
        Self::from_vars(&Vars(&|name| std::env::var(name).ok()))
    }

    fn from_vars(vars: &Vars<'_>) -> Result<Self, Error> {
        let mut target = Self::default();
        if let Some(url) = vars.get("REDIS_URL") {
            target = target.redis_url(url);
        }
        if let Some(path) = vars.get("CLAMATOR_TLS_CA_CERT") {
            let pem = std::fs::read(&path).map_err(|e| {
                Error::InvalidArgument(format!("CLAMATOR_TLS_CA_CERT: cannot read {path}: {e}"))
            })?;
            target = target.tls_ca_cert(pem);
        }
        let cluster = vars.parsed::<bool>("CLAMATOR_REDIS_CLUSTER", "true or false")?;
        match (cluster, vars.get("CLAMATOR_SENTINEL_MASTER")) {
            (Some(true), Some(_)) => {
                return Err(Error::InvalidArgument(
                    "CLAMATOR_REDIS_CLUSTER and CLAMATOR_SENTINEL_MASTER are both set; choose one"
                        .to_owned(),
                ))
            }
            (Some(true), None) => target = target.deployment(Deployment::Cluster),
            (_, Some(master)) => target = target.deployment(Deployment::sentinel(master)),
            _ => {}
        }
        if let Some(d) = vars.duration("CLAMATOR_CONNECT_TIMEOUT")? {
            target = target.connect_timeout(d);
        }
        if let Some(d) = vars.duration("CLAMATOR_RESPONSE_TIMEOUT")? {
            target = target.response_timeout(d);
        }
        Ok(target)
    }
}

impl ServerConfig {
    /// A config from the `CLAMATOR_*` variables and `REDIS_URL` (see the table in the
    /// [`env`](crate::env) module); unset ones keep their defaults.
    ///
    /// ```
    /// # std::env::set_var("CLAMATOR_PREFIX", "shop");
    /// # std::env::set_var("CLAMATOR_CLAIM_IDLE", "30s");
    /// // CLAMATOR_PREFIX=shop CLAMATOR_CLAIM_IDLE=30s
    /// let config = clamator_redis::ServerConfig::from_env()?;
    /// assert_eq!(config.key_prefix(), "shop");
    /// # Ok::<(), clamator_protocol::Error>(())
    /// ```
    pub fn from_env() -> Result<Self, Error> {
        Self::from_vars(|name| std::env::var(name).ok())
    }

    fn from_vars(var: impl Fn(&str) -> Option<String>) -> Result<Self, Error> {
        let vars = Vars(&var);
        let mut config =
            Self::new(vars.required("CLAMATOR_PREFIX")?).redis(RedisTarget::from_vars(&vars)?);
        if let Some(id) = vars.get("CLAMATOR_INSTANCE_ID") {
            config = config.instance_id(id);
        }
        if let Some(d) = vars.duration("CLAMATOR_CLAIM_IDLE")? {
            config = config.claim_idle(d);
        }
        if let Some(d) = vars.duration("CLAMATOR_SHUTDOWN_GRACE")? {
            config = config.shutdown_grace(d);
        }
        if let Some(n) = vars.parsed::<u64>("CLAMATOR_MAX_DELIVERIES", "a whole number")? {
            config = config.max_deliveries(n);
        }
        match vars.get("CLAMATOR_MAX_HANDLER_TIME").as_deref() {
            None => {}
            Some("none") => config = config.max_handler_time(None),
            Some(_) => {
                config = config.max_handler_time(vars.duration("CLAMATOR_MAX_HANDLER_TIME")?);
            }
        }
        if let Some(show) = vars.parsed::<bool>("CLAMATOR_SHOW_ERROR_DETAILS", "true or false")? {
            config = config.show_error_details(show);
        }
        Ok(config)
    }
}

impl TransportConfig {
    /// A config from the `CLAMATOR_*` variables and `REDIS_URL` (see the table in the
    /// [`env`](crate::env) module); unset ones keep their defaults.
    pub fn from_env() -> Result<Self, Error> {
        Self::from_vars(|name| std::env::var(name).ok())
    }

    fn from_vars(var: impl Fn(&str) -> Option<String>) -> Result<Self, Error> {
        let vars = Vars(&var);
        let mut config =
            Self::new(vars.required("CLAMATOR_PREFIX")?).redis(RedisTarget::from_vars(&vars)?);
        if let Some(id) = vars.get("CLAMATOR_INSTANCE_ID") {
            config = config.instance_id(id);
        }
        if let Some(d) = vars.duration("CLAMATOR_TIMEOUT")? {
            config = config.default_timeout(d);
        }
        let fail_fast =
            vars.parsed::<bool>("CLAMATOR_FAIL_FAST_WITHOUT_SERVER", "true or false")?;
        if let Some(fail_fast) = fail_fast {
            config = config.fail_fast_without_server(fail_fast);
        }
        Ok(config)
    }
}

/// Variables looked up through a function, so tests need not touch the process's.
struct Vars<'a>(&'a dyn Fn(&str) -> Option<String>);

impl Vars<'_> {
    /// The variable's value; unset and empty are the same.
    fn get(&self, name: &str) -> Option<String> {
        (self.0)(name)
            .map(|v| v.trim().to_owned())
            .filter(|v| !v.is_empty())
    }

    fn required(&self, name: &str) -> Result<String, Error> {
        self.get(name).ok_or_else(|| {
            Error::InvalidArgument(format!(
                "{name} is not set: it names the key prefix every clamator key lives under"
            ))
        })
    }

    fn parsed<T: std::str::FromStr>(&self, name: &str, what: &str) -> Result<Option<T>, Error> {
        self.get(name)
            .map(|v| {
                v.parse()
                    .map_err(|_| Error::InvalidArgument(format!("{name}={v:?} is not {what}")))
            })
            .transpose()
    }

    fn duration(&self, name: &str) -> Result<Option<Duration>, Error> {
        self.get(name)
            .map(|v| {
                parse_duration(&v).ok_or_else(|| {
                    Error::InvalidArgument(format!(
                        "{name}={v:?} is not a duration (a number and a unit: 250ms, 30s, 5m, 1h)"
                    ))
                })
            })
            .transpose()
    }
}

/// `250ms`, `30s`, `5m`, `1h`; `None` for anything else (a bare number has no unit).
fn parse_duration(text: &str) -> Option<Duration> {
    let split = text.find(|c: char| !c.is_ascii_digit())?;
    let (number, unit) = text.split_at(split);
    let n: u64 = number.parse().ok()?;
    let ms = match unit.trim() {
        "ms" => Some(n),
        "s" => n.checked_mul(1000),
        "m" | "min" => n.checked_mul(60_000),
        "h" => n.checked_mul(3_600_000),
        _ => None,
    }?;
    Some(Duration::from_millis(ms))
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;

    use super::*;

    fn vars(pairs: &[(&str, &str)]) -> impl Fn(&str) -> Option<String> {
        let map: HashMap<String, String> = pairs
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect();
        move |name| map.get(name).cloned()
    }

    #[test]
    fn durations_need_a_unit() {
        assert_eq!(parse_duration("250ms"), Some(Duration::from_millis(250)));
        assert_eq!(parse_duration("30s"), Some(Duration::from_secs(30)));
        assert_eq!(parse_duration("5m"), Some(Duration::from_secs(300)));
        assert_eq!(parse_duration("1h"), Some(Duration::from_secs(3600)));
        for bad in [
            "30",
            "s",
            "-1s",
            "1.5s",
            "10 parsecs",
            "99999999999999999999h",
        ] {
            assert_eq!(parse_duration(bad), None, "{bad}");
        }
    }

    #[test]
    fn server_config_from_variables() {
        let config = ServerConfig::from_vars(vars(&[
            ("CLAMATOR_PREFIX", "shop"),
            ("REDIS_URL", "redis://10.0.0.5:6380"),
            ("CLAMATOR_INSTANCE_ID", "srv-7"),
            ("CLAMATOR_CLAIM_IDLE", "30s"),
            ("CLAMATOR_MAX_HANDLER_TIME", "none"),
            ("CLAMATOR_SHOW_ERROR_DETAILS", "true"),
            ("CLAMATOR_MAX_DELIVERIES", ""),
        ]))
        .unwrap();
        assert_eq!(config.key_prefix(), "shop");
        assert_eq!(config.resolved_redis_url(), "redis://10.0.0.5:6380");
        assert_eq!(config.instance_id, "srv-7");
        assert_eq!(config.claim_idle, Duration::from_secs(30));
        assert_eq!(config.max_handler_time, None);
        assert!(config.show_error_details);
        // Empty is unset: the default stands.
        assert_eq!(config.max_deliveries, 5);
    }

    #[test]
    fn the_deployment_mode_from_variables() {
        let cluster = TransportConfig::from_vars(vars(&[
            ("CLAMATOR_PREFIX", "p"),
            ("CLAMATOR_REDIS_CLUSTER", "true"),
        ]))
        .unwrap();
        assert_eq!(cluster.deployment_mode(), &crate::Deployment::Cluster);
        let sentinel = ServerConfig::from_vars(vars(&[
            ("CLAMATOR_PREFIX", "p"),
            ("CLAMATOR_SENTINEL_MASTER", "main"),
        ]))
        .unwrap();
        assert_eq!(
            sentinel.deployment_mode(),
            &crate::Deployment::sentinel("main")
        );
        let both = ServerConfig::from_vars(vars(&[
            ("CLAMATOR_PREFIX", "p"),
            ("CLAMATOR_REDIS_CLUSTER", "true"),
            ("CLAMATOR_SENTINEL_MASTER", "main"),
        ]))
        .unwrap_err();
        assert!(both.to_string().contains("choose one"), "{both}");
    }

    #[test]
    fn the_target_alone_from_variables() {
        let vars = vars(&[
            ("REDIS_URL", "redis://u:secret@a:1,b:2"),
            ("CLAMATOR_SENTINEL_MASTER", "main"),
            ("CLAMATOR_CONNECT_TIMEOUT", "2s"),
            ("CLAMATOR_PREFIX", "ignored"),
        ]);
        let target = RedisTarget::from_vars(&Vars(&vars)).unwrap();
        assert_eq!(
            target.to_string(),
            "redis://u:***@a:1,b:2 (sentinel, master \"main\")"
        );
        assert_eq!(target.connect_timeout, Duration::from_secs(2));
        // The configs hold the same target.
        let config = ServerConfig::from_vars(vars).unwrap();
        assert_eq!(config.redis_target(), &target);
    }

    #[test]
    fn bad_values_name_their_variable() {
        let err = ServerConfig::from_vars(vars(&[])).unwrap_err();
        assert!(err.to_string().contains("CLAMATOR_PREFIX"), "{err}");
        for (name, value) in [
            ("CLAMATOR_CLAIM_IDLE", "30"),
            ("CLAMATOR_MAX_DELIVERIES", "five"),
            ("CLAMATOR_SHOW_ERROR_DETAILS", "yes please"),
            ("CLAMATOR_TLS_CA_CERT", "/nonexistent/ca.pem"),
        ] {
            let err = ServerConfig::from_vars(vars(&[("CLAMATOR_PREFIX", "p"), (name, value)]))
                .unwrap_err();
            assert!(err.to_string().contains(name), "{err}");
        }
    }

    #[test]
    fn transport_config_from_variables() {
        let config = TransportConfig::from_vars(vars(&[
            ("CLAMATOR_PREFIX", "shop"),
            ("CLAMATOR_TIMEOUT", "5s"),
            ("CLAMATOR_RESPONSE_TIMEOUT", "750ms"),
            ("CLAMATOR_FAIL_FAST_WITHOUT_SERVER", "true"),
        ]))
        .unwrap();
        assert!(config.fail_fast_without_server);
        assert_eq!(config.key_prefix(), "shop");
        assert_eq!(config.default_timeout, Duration::from_secs(5));
        assert_eq!(
            config.connection.response_timeout,
            Duration::from_millis(750)
        );
    }
}
