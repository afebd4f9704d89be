//! The transport abstraction: how a client's envelopes reach a server and replies come back.
//!
//! Server-side, transports hand each incoming envelope to a [`Router`](crate::Router) or
//! [`Service`](crate::Service) and carry the reply back; client-side, they implement
//! [`ClientTransport`], which the [`Client`](crate::Client) core drives.

use std::time::Duration;

use crate::envelope::{Response, RpcId};
use crate::error::Error;
use crate::server::BoxFuture;

/// Per-call options.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct CallOptions {
    /// Overrides the client's default timeout for this call.
    pub timeout: Option<Duration>,
    /// Names this call for servers running exactly-once: calls with the same key (and the
    /// same params) run once. Default: the request id, which is new for every call.
    pub idempotency_key: Option<String>,
}

impl CallOptions {
    /// Options with this call's timeout set.
    pub fn timeout(timeout: Duration) -> Self {
        Self {
            timeout: Some(timeout),
            ..Self::default()
        }
    }

    /// Returns these options with an idempotency key.
    #[must_use]
    pub fn with_idempotency_key(mut self, key: impl Into<String>) -> Self {
        self.idempotency_key = Some(key.into());
        self
    }
}

/// Carries requests and notifications from a client to the servers of a service.
///
/// Implementations must be cancel-safe: when the future returned by [`send`](Self::send) is
/// dropped (the [`Client`](crate::Client) core does so when a call times out), the call is
/// forgotten and a late reply is dropped.
pub trait ClientTransport: Send + Sync + 'static {
    /// Sends the request `envelope` (JSON text, id `id`) to `service` and resolves with the
    /// reply whose id matches. The [`Client`](crate::Client) core always sets
    /// `options.timeout` (the call's own, else the client's default); transports may pass
    /// it on as a deadline so servers skip work nobody waits for any more, and pass on the
    /// idempotency key for servers running exactly-once.
    fn send<'a>(
        &'a self,
        service: &'a str,
        id: &'a RpcId,
        envelope: String,
        options: &'a CallOptions,
    ) -> BoxFuture<'a, Result<Response, Error>>;

    /// Queues the notification `envelope` for `service`; resolves once it is handed over.
    fn notify<'a>(&'a self, service: &'a str, envelope: String)
        -> BoxFuture<'a, Result<(), Error>>;

    /// The timeout a [`Client`](crate::Client) made over this transport uses for calls
    /// without their own; `None` (the default) leaves the client's
    /// [`DEFAULT_TIMEOUT`](crate::DEFAULT_TIMEOUT).
    fn default_timeout(&self) -> Option<Duration> {
        None
    }
}

/// Where events go: what a generated `<Service>Events` publishes through, and what a handler
/// that publishes is given. Implemented by `clamator_redis::RedisTransport` (a client's
/// connection), `clamator_redis::ServerPublisher` (the connections of the server a handler
/// runs in), [`MemoryTransport`](crate::MemoryTransport) (to the in-process subscriber named
/// after the publisher) and [`RecordingPublisher`](crate::RecordingPublisher) (kept, for
/// tests). Object-safe, so a publisher can hold any of them.
pub trait EventPublisher: Send + Sync + 'static {
    /// Publishes `payload` as the event `event` of `publisher`; resolves with the event's id
    /// (the stream entry id over Redis).
    fn publish<'a>(
        &'a self,
        publisher: &'a str,
        event: &'a str,
        payload: serde_json::Value,
    ) -> BoxFuture<'a, Result<String, Error>>;
}

impl<T: EventPublisher + ?Sized> EventPublisher for std::sync::Arc<T> {
    fn publish<'a>(
        &'a self,
        publisher: &'a str,
        event: &'a str,
        payload: serde_json::Value,
    ) -> BoxFuture<'a, Result<String, Error>> {
        (**self).publish(publisher, event, payload)
    }
}
