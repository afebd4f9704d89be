//! Events published from handlers, on the connections of the server they run in: a service
//! that announces what it did needs no second connection (and no `TransportConfig`) beside
//! its server.

use std::sync::{Arc, OnceLock};

use clamator_protocol::{BoxFuture, Error, EventPublisher};

use super::runtime::ServerState;

/// Publishes events on the shared connection of a [`RedisServer`](crate::RedisServer), for
/// its handlers. Taken from the builder ([`ServerBuilder::publisher`](crate::ServerBuilder::publisher)),
/// so the service that publishes can be given it before the server starts; it publishes
/// once the server has started, and fails with [`Error::Transport`] before.
///
/// It is an [`EventPublisher`]: hand it to a generated `<Service>Events`, as a test hands
/// that a [`RecordingPublisher`](clamator_protocol::RecordingPublisher).
///
/// ```no_run
/// use clamator_protocol::{RpcError, Service};
/// use clamator_redis::{RedisServer, ServerConfig};
///
/// # async fn run() -> Result<(), clamator_protocol::Error> {
/// let builder = RedisServer::builder(ServerConfig::from_env()?);
/// let events = builder.publisher();
/// let orders = Service::builder("orders")
///     .method("place", move |p: serde_json::Value| {
///         let events = events.clone();
///         async move {
///             // `?` on any error: the caller gets -32603, the server's log the cause.
///             events.publish_event("orders", "orderPlaced", &p).await?;
///             Ok::<_, RpcError>(serde_json::json!({"placed": true}))
///         }
///     })
///     .build()?;
/// let server = builder.service(orders).start().await?;
/// # server.stop().await;
/// # Ok(())
/// # }
/// ```
#[derive(Clone, Default)]
pub struct ServerPublisher {
    server: Arc<OnceLock<Arc<ServerState>>>,
}

impl std::fmt::Debug for ServerPublisher {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ServerPublisher")
            .field("started", &self.server.get().is_some())
            .finish()
    }
}

impl ServerPublisher {
    /// Publishes from now on through `state`'s connection.
    pub(crate) fn bind(&self, state: &Arc<ServerState>) {
        let _ = self.server.set(Arc::clone(state));
    }

    /// Publishes `payload` as the event `event` of `publisher`, as
    /// [`RedisTransport::publish_event`](crate::RedisTransport::publish_event) does (the same
    /// stream, cap and fields, the current trace context included); resolves with its entry
    /// id. Fails before the server has started, for an invalid name, a payload over the
    /// server's `max_envelope_bytes`, or when Redis refuses it.
    pub async fn publish_event<P>(
        &self,
        publisher: &str,
        event: &str,
        payload: &P,
    ) -> Result<String, Error>
    where
        P: serde::Serialize + ?Sized,
    {
        let Some(state) = self.server.get() else {
            return Err(Error::transport(
                "the server this publisher belongs to has not started",
            ));
        };
        let envelope = crate::events::event_envelope(publisher, event, payload)?;
        crate::stream::check_size(&envelope, state.config.max_envelope_bytes)?;
        let config = &state.config;
        crate::events::add(
            &state.manager,
            &config.key_prefix,
            config.event_stream_maxlen,
            publisher,
            &envelope,
        )
        .await
        .map_err(|e| crate::connection::redis_failure("event XADD failed", e))
    }
}

/// What generated `<Service>Events` publishers publish through, from a handler: the same as
/// [`ServerPublisher::publish_event`], the payload already checked against its schema.
impl EventPublisher for ServerPublisher {
    fn publish<'a>(
        &'a self,
        publisher: &'a str,
        event: &'a str,
        payload: serde_json::Value,
    ) -> BoxFuture<'a, Result<String, Error>> {
        Box::pin(async move { self.publish_event(publisher, event, &payload).await })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_publisher_of_a_server_not_started_says_so() {
        let publisher = ServerPublisher::default();
        let err = publisher
            .publish_event("orders", "orderPlaced", &serde_json::json!({}))
            .await
            .unwrap_err();
        assert!(err.to_string().contains("has not started"), "{err}");
        assert!(format!("{publisher:?}").contains("started: false"));
    }
}
