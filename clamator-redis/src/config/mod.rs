//! Configuration of servers, the services they serve, and transports, with clamator's
//! option names and defaults.

pub use crate::defaults::*;
pub use crate::target::Deployment;
use crate::target::RedisTarget;

macro_rules! common_setters {
    () => {
        /// Where Redis is, whole: URL, deployment, timeouts and TLS CA in one
        /// [`RedisTarget`](crate::RedisTarget), as an application shares it between its
        /// servers, transports and [`DeadLetters`](crate::DeadLetters). Replaces what
        /// [`redis_url`](Self::redis_url), [`deployment`](Self::deployment),
        /// [`connect_timeout`](Self::connect_timeout),
        /// [`response_timeout`](Self::response_timeout) and
        /// [`tls_ca_cert`](Self::tls_ca_cert) set before; those edit the target held.
        /// Default: [`RedisTarget::default`](crate::RedisTarget::default).
        #[must_use]
        pub fn redis(mut self, target: crate::RedisTarget) -> Self {
            self.connection = target;
            self
        }

        /// Where this config will connect.
        pub fn redis_target(&self) -> &crate::RedisTarget {
            &self.connection
        }

        /// The Redis URL (`redis://`, or `rediss://` for TLS); shorthand for
        /// [`RedisTarget::redis_url`](crate::RedisTarget::redis_url) on the target held.
        /// Default: `$REDIS_URL`, else `redis://127.0.0.1:6379`.
        #[must_use]
        pub fn redis_url(mut self, url: impl Into<String>) -> Self {
            self.connection = self.connection.redis_url(url);
            self
        }

        /// How Redis is deployed: [`Deployment::Standalone`] (the default),
        /// [`Deployment::Cluster`] or [`Deployment::Sentinel`]. In the last two,
        /// [`redis_url`](Self::redis_url) is a comma-separated list of nodes. Shorthand for
        /// [`RedisTarget::deployment`](crate::RedisTarget::deployment).
        #[must_use]
        pub fn deployment(mut self, deployment: crate::config::Deployment) -> Self {
            self.connection = self.connection.deployment(deployment);
            self
        }

        /// The deployment mode set (see [`RedisTarget::deployment_mode`](crate::RedisTarget::deployment_mode)).
        pub fn deployment_mode(&self) -> &crate::config::Deployment {
            self.connection.deployment_mode()
        }

        /// How long to wait for a TCP (and TLS) connection. Default 5 s. Shorthand for
        /// [`RedisTarget::connect_timeout`](crate::RedisTarget::connect_timeout).
        #[must_use]
        pub fn connect_timeout(mut self, timeout: Duration) -> Self {
            self.connection = self.connection.connect_timeout(timeout);
            self
        }

        /// How long to wait for Redis to answer a command. Blocking reads wait this long on
        /// top of their `BLOCK` time. Default 5 s. Shorthand for
        /// [`RedisTarget::response_timeout`](crate::RedisTarget::response_timeout).
        #[must_use]
        pub fn response_timeout(mut self, timeout: Duration) -> Self {
            self.connection = self.connection.response_timeout(timeout);
            self
        }

        /// For `rediss://` URLs: trust only this CA certificate (PEM) instead of the system
        /// and webpki roots, as for a Redis behind a private CA. Default: none. Shorthand for
        /// [`RedisTarget::tls_ca_cert`](crate::RedisTarget::tls_ca_cert).
        #[must_use]
        pub fn tls_ca_cert(mut self, pem: impl Into<Vec<u8>>) -> Self {
            self.connection = self.connection.tls_ca_cert(pem);
            self
        }

        /// The Redis URL this config will connect to, as given (it may hold a password: log
        /// [`redis_target`](Self::redis_target) instead, whose `Display` hides it).
        pub fn resolved_redis_url(&self) -> String {
            self.connection.resolved_url()
        }

        /// This process's instance id: servers name their consumers `<service>:<id>`,
        /// clients read replies from `<prefix>:replies:<id>`. Default: a random UUID v4.
        #[must_use]
        pub fn instance_id(mut self, id: impl Into<String>) -> Self {
            self.instance_id = id.into();
            self
        }

        /// Envelopes larger than this are refused: by clients before sending, by servers
        /// with -32600. Default 1 MiB.
        #[must_use]
        pub fn max_envelope_bytes(mut self, bytes: usize) -> Self {
            self.max_envelope_bytes = bytes;
            self
        }

        /// The key prefix every key of this config lives under.
        pub fn key_prefix(&self) -> &str {
            &self.key_prefix
        }
    };
}

mod server;
mod service;
mod transport;

pub use server::ServerConfig;
pub(crate) use service::ExactlyOnce;
pub use service::ServiceOptions;
pub use transport::TransportConfig;
