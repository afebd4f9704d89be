//! An in-process transport: clients call a [`Router`] directly, with no network.
//!
//! Envelopes still go through their JSON text both ways, so what works here works over Redis.

use std::sync::Arc;
use std::time::SystemTime;

use crate::context::{self, CallContext};

use crate::envelope::{parse_envelope, Envelope, Response, RpcId};
use crate::error::Error;
use crate::server::{BoxFuture, Router};
use crate::transport::{CallOptions, ClientTransport, EventPublisher};

/// A [`ClientTransport`] that dispatches to a [`Router`] in the same process. Each call runs
/// on its own tokio task, so a caller that times out does not cancel the handler.
#[derive(Clone, Debug)]
pub struct MemoryTransport {
    router: Arc<Router>,
}

impl MemoryTransport {
    /// A transport delivering to `router`'s services.
    pub fn new(router: Router) -> Self {
        Self {
            router: Arc::new(router),
        }
    }

    fn parse(envelope: &str) -> Result<Envelope, Error> {
        parse_envelope(envelope.as_bytes()).map_err(|e| Error::protocol_with("invalid envelope", e))
    }
}

impl ClientTransport for MemoryTransport {
    fn send<'a>(
        &'a self,
        service: &'a str,
        _id: &'a RpcId,
        envelope: String,
        options: &'a CallOptions,
    ) -> BoxFuture<'a, Result<Response, Error>> {
        Box::pin(async move {
            let env = Self::parse(&envelope)?;
            let router = Arc::clone(&self.router);
            let service = service.to_owned();
            let ctx = CallContext {
                deadline: options.timeout.map(|t| SystemTime::now() + t),
                delivery_count: Some(1),
            };
            let reply = tokio::spawn(context::scope(ctx, async move {
                router.dispatch(&service, env).await
            }))
            .await
            .map_err(|e| Error::transport_with("dispatcher failed", e))?
            .ok_or_else(|| Error::transport("dispatcher returned no reply for a request"))?;
            match Self::parse(&reply.to_json())? {
                Envelope::Response(r) => Ok(r),
                other => Err(Error::protocol(format!(
                    "unexpected response kind: {}",
                    other.kind()
                ))),
            }
        })
    }

    fn notify<'a>(
        &'a self,
        service: &'a str,
        envelope: String,
    ) -> BoxFuture<'a, Result<(), Error>> {
        Box::pin(async move {
            let env = Self::parse(&envelope)?;
            let router = Arc::clone(&self.router);
            let service = service.to_owned();
            tokio::spawn(async move { router.dispatch(&service, env).await });
            Ok(())
        })
    }
}

/// In-process: the event is dispatched, as a notification, to the router's service named
/// after the publisher (a subscriber built by a generated `<service>_subscriber`). There is
/// no stream, so the id is empty.
impl EventPublisher for MemoryTransport {
    fn publish<'a>(
        &'a self,
        publisher: &'a str,
        event: &'a str,
        payload: serde_json::Value,
    ) -> BoxFuture<'a, Result<String, Error>> {
        Box::pin(async move {
            let envelope = crate::envelope::encode_notification(publisher, event, &payload)
                .map_err(|e| Error::InvalidArgument(format!("payload does not serialize: {e}")))?;
            ClientTransport::notify(self, publisher, envelope).await?;
            Ok(String::new())
        })
    }
}

/// An [`EventPublisher`] for tests: keeps every event published through it, in order, and
/// publishes nothing. Clones share what they keep, so a test keeps one and hands the other
/// to the code under test (a generated `<Service>Events::new(recorder.clone())`).
///
/// ```
/// use clamator_protocol::{EventPublisher, PublishedEvent, RecordingPublisher};
/// # tokio::runtime::Builder::new_current_thread().build().unwrap().block_on(async {
/// let recorder = RecordingPublisher::new();
/// let id = recorder.publish("orders", "orderPlaced", serde_json::json!({"n": 1})).await.unwrap();
/// assert_eq!(id, "1");
/// assert_eq!(
///     recorder.events(),
///     [PublishedEvent {
///         publisher: "orders".into(),
///         event: "orderPlaced".into(),
///         payload: serde_json::json!({"n": 1}),
///     }]
/// );
/// # });
/// ```
#[derive(Debug, Clone, Default)]
pub struct RecordingPublisher {
    events: Arc<std::sync::Mutex<Vec<PublishedEvent>>>,
}

/// One event a [`RecordingPublisher`] kept.
#[derive(Debug, Clone, PartialEq)]
pub struct PublishedEvent {
    /// The publishing service: the event is `<publisher>.<event>`.
    pub publisher: String,
    /// The event's name.
    pub event: String,
    /// The payload, as it would have gone on the wire (already checked against its schema
    /// when published through a generated `<Service>Events`).
    pub payload: serde_json::Value,
}

impl RecordingPublisher {
    /// A recorder that has kept nothing yet.
    pub fn new() -> Self {
        Self::default()
    }

    /// What was published so far, in order.
    pub fn events(&self) -> Vec<PublishedEvent> {
        self.events
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .clone()
    }
}

/// Keeps the event; its id is its place in the order (`"1"`, `"2"`, …).
impl EventPublisher for RecordingPublisher {
    fn publish<'a>(
        &'a self,
        publisher: &'a str,
        event: &'a str,
        payload: serde_json::Value,
    ) -> BoxFuture<'a, Result<String, Error>> {
        let mut events = self
            .events
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        events.push(PublishedEvent {
            publisher: publisher.to_owned(),
            event: event.to_owned(),
            payload,
        });
        let id = events.len().to_string();
        Box::pin(async move { Ok(id) })
    }
}
