//! Opening connections: one shared, auto-reconnecting [`ConnectionManager`] for ordinary
//! commands, and dedicated connections for blocking reads, which would otherwise stall
//! every command queued behind them on a multiplexed connection.

use std::time::Duration;

use clamator_protocol::Error;
use redis::aio::{ConnectionManager, ConnectionManagerConfig, MultiplexedConnection};
use redis::AsyncConnectionConfig;

use crate::config::Connection;

/// How long blocking reads (`XREADGROUP`, `XREAD`) wait in Redis: 1 s, as in clamator.
pub(crate) const BLOCK: Duration = Duration::from_secs(1);

#[derive(Clone)]
pub(crate) struct Connector {
    client: redis::Client,
    url: String,
    settings: Connection,
}

impl Connector {
    pub(crate) fn new(settings: &Connection) -> Result<Self, Error> {
        let url = settings.resolved_url();
        let tls = url.starts_with("rediss://");
        #[cfg(not(feature = "tls"))]
        if tls || settings.tls_ca_cert.is_some() {
            return Err(Error::InvalidArgument(format!(
                "{} needs TLS, and clamator-redis was built without its `tls` feature \
                 (a default feature: do not turn default features off, or add \
                 features = [\"tls\"])",
                redact(&url)
            )));
        }
        #[cfg(feature = "tls")]
        if tls {
            // rustls needs a process-wide crypto provider; an application may already have
            // installed its own, which is fine.
            let _ = rustls::crypto::ring::default_provider().install_default();
        }
        let client = match &settings.tls_ca_cert {
            #[cfg(feature = "tls")]
            Some(pem) if tls => redis::Client::build_with_tls(
                url.as_str(),
                redis::TlsCertificates {
                    client_tls: None,
                    root_cert: Some(pem.clone()),
                },
            ),
            Some(_) => {
                return Err(Error::InvalidArgument(format!(
                    "a TLS CA certificate was given but the Redis URL {} is not rediss://",
                    redact(&url)
                )))
            }
            None => redis::Client::open(url.as_str()),
        }
        .map_err(|e| Error::InvalidArgument(format!("invalid Redis URL {}: {e}", redact(&url))))?;
        Ok(Self {
            client,
            url,
            settings: settings.clone(),
        })
    }

    /// The URL with any password hidden, for messages.
    pub(crate) fn display_url(&self) -> String {
        redact(&self.url)
    }

    /// The shared connection. Fails when Redis cannot be reached now.
    pub(crate) async fn manager(&self) -> Result<ConnectionManager, Error> {
        let config = ConnectionManagerConfig::new()
            .set_connection_timeout(Some(self.settings.connect_timeout))
            .set_response_timeout(Some(self.settings.response_timeout))
            .set_min_delay(Duration::from_millis(100))
            .set_max_delay(crate::backoff::MAX_DELAY)
            .set_number_of_retries(3);
        ConnectionManager::new_with_config(self.client.clone(), config)
            .await
            .map_err(|e| {
                redis_failure(
                    format!("cannot connect to Redis at {}", self.display_url()),
                    e,
                )
            })
    }

    /// A connection of its own for one blocking read loop; its response timeout covers the
    /// `BLOCK` time plus the usual response timeout.
    pub(crate) async fn dedicated(&self) -> Result<MultiplexedConnection, Error> {
        let config = AsyncConnectionConfig::new()
            .set_connection_timeout(Some(self.settings.connect_timeout))
            .set_response_timeout(Some(BLOCK + self.settings.response_timeout));
        self.client
            .get_multiplexed_async_connection_with_config(&config)
            .await
            .map_err(|e| {
                redis_failure(
                    format!("cannot connect to Redis at {}", self.display_url()),
                    e,
                )
            })
    }
}

fn redact(url: &str) -> String {
    // scheme://user:password@host → scheme://user:***@host
    if let Some((scheme, rest)) = url.split_once("://") {
        if let Some((auth, host)) = rest.rsplit_once('@') {
            let user = auth.split(':').next().unwrap_or("");
            return format!("{scheme}://{user}:***@{host}");
        }
    }
    url.to_owned()
}

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
    fn redacts_passwords() {
        assert_eq!(redact("redis://u:secret@h:1/0"), "redis://u:***@h:1/0");
        assert_eq!(redact("redis://h:1"), "redis://h:1");
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
