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
        if url.starts_with("rediss://") {
            // rustls needs a process-wide crypto provider; an application may already have
            // installed its own, which is fine.
            let _ = rustls::crypto::ring::default_provider().install_default();
        }
        let client = match &settings.tls_ca_cert {
            Some(pem) if url.starts_with("rediss://") => redis::Client::build_with_tls(
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
                Error::transport_with(
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
                Error::transport_with(
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn redacts_passwords() {
        assert_eq!(redact("redis://u:secret@h:1/0"), "redis://u:***@h:1/0");
        assert_eq!(redact("redis://h:1"), "redis://h:1");
    }
}
