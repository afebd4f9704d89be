//! An in-process transport: clients call a [`Router`] directly, with no network.
//!
//! Envelopes still go through their JSON text both ways, so what works here works over Redis.

use std::sync::Arc;
use std::time::SystemTime;

use crate::context::{self, CallContext};

use crate::envelope::{parse_envelope, Envelope, Response, RpcId};
use crate::error::Error;
use crate::server::{BoxFuture, Router};
use crate::transport::{CallOptions, ClientTransport};

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
