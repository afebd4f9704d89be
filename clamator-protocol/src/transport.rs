//! The transport abstraction: how a client's envelopes reach a server and replies come back.
//!
//! Server-side, transports hand each incoming envelope to a [`Router`](crate::Router) or
//! [`Service`](crate::Service) and carry the reply back; client-side, they implement
//! [`ClientTransport`], which the [`Client`](crate::Client) core drives.

use std::time::Duration;

use crate::envelope::{Response, RpcId};
use crate::error::Error;
use crate::server::BoxFuture;

/// What a transport may pass on with a request.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct SendOptions {
    /// How long the caller will wait; transports may pass it on as a deadline so servers
    /// skip work nobody waits for any more.
    pub timeout: Duration,
    /// The caller's idempotency key, for servers running exactly-once.
    pub idempotency_key: Option<String>,
}

impl SendOptions {
    /// Options with just a timeout.
    pub fn timeout(timeout: Duration) -> Self {
        Self {
            timeout,
            idempotency_key: None,
        }
    }
}

/// Carries requests and notifications from a client to the servers of a service.
///
/// Implementations must be cancel-safe: when the future returned by [`send`](Self::send) is
/// dropped (the [`Client`](crate::Client) core does so when a call times out), the call is
/// forgotten and a late reply is dropped.
pub trait ClientTransport: Send + Sync + 'static {
    /// Sends the request `envelope` (JSON text, id `id`) to `service` and resolves with the
    /// reply whose id matches.
    fn send<'a>(
        &'a self,
        service: &'a str,
        id: &'a RpcId,
        envelope: String,
        options: &'a SendOptions,
    ) -> BoxFuture<'a, Result<Response, Error>>;

    /// Queues the notification `envelope` for `service`; resolves once it is handed over.
    fn notify<'a>(&'a self, service: &'a str, envelope: String)
        -> BoxFuture<'a, Result<(), Error>>;
}
