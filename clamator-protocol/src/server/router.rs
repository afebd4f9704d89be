//! [`Router`]: the services a server serves, by name.

use std::collections::BTreeMap;
use std::sync::Arc;

use super::Service;
use crate::envelope::{Envelope, Response};
use crate::error::{Error, RpcError};

/// A set of services, keyed by name: what a server serves.
#[derive(Clone, Debug, Default)]
pub struct Router {
    services: BTreeMap<String, Arc<Service>>,
}

impl Router {
    /// An empty router.
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds a service; a second service with the same name is an error.
    pub fn add(&mut self, service: Service) -> Result<(), Error> {
        if self.services.contains_key(service.name()) {
            return Err(Error::InvalidArgument(format!(
                "service \"{}\" already registered on this server",
                service.name()
            )));
        }
        self.services
            .insert(service.name().to_owned(), Arc::new(service));
        Ok(())
    }

    /// Adds a service, builder style.
    pub fn with(mut self, service: Service) -> Result<Self, Error> {
        self.add(service)?;
        Ok(self)
    }

    /// The service called `name`.
    pub fn get(&self, name: &str) -> Option<&Arc<Service>> {
        self.services.get(name)
    }

    /// All services, by name.
    pub fn services(&self) -> impl Iterator<Item = &Arc<Service>> {
        self.services.values()
    }

    /// Dispatches to the named service; a request for an unknown service gets -32601.
    pub async fn dispatch(&self, service: &str, envelope: Envelope) -> Option<Response> {
        match self.services.get(service) {
            Some(s) => s.dispatch(envelope).await,
            None => match envelope {
                Envelope::Request(r) => Some(Response {
                    id: Some(r.id),
                    outcome: Err(RpcError::method_not_found()),
                }),
                _ => None,
            },
        }
    }
}
