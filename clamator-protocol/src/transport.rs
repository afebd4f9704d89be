//! The transport abstraction: how a client's envelopes reach a server and replies come back.
//!
//! Server-side, transports hand each incoming envelope to a [`Router`](crate::Router) or
//! [`Service`](crate::Service) and carry the reply back; client-side, they implement
//! [`ClientTransport`], which the [`Client`](crate::Client) core drives.

use std::time::Duration;

use crate::client::CallOptions;
use crate::envelope::{Response, RpcId};
use crate::error::Error;
use crate::server::BoxFuture;

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
