//! What generated code uses, re-exported in one place so generated code depends on
//! `clamator-protocol` alone (as tonic-generated code uses `tonic::codegen`). Not a stable
//! API for hand-written code.

pub use std::collections::BTreeMap;
pub use std::future::Future;
pub use std::sync::Arc;

pub use serde;
pub use serde_json;

pub use crate::client::Client;
pub use crate::contract::{ContractInfo, ErrorInfo, EventInfo, MethodInfo};
pub use crate::error::{Error, RpcError};
pub use crate::schema::SchemaValidator;
pub use crate::server::{BoxFuture, Method, Service};
pub use crate::transport::{CallOptions, EventPublisher};

/// Compiles one of the generated schema constants, for results: strict.
pub fn validator(schema: &'static str) -> Result<SchemaValidator, Error> {
    SchemaValidator::from_json(schema)
        .map_err(|e| Error::InvalidArgument(format!("generated schema does not compile: {e}")))
}

/// Compiles one of the generated schema constants, for params: `null` is accepted for
/// optional properties (Python clamator proxies send unset optional fields as `null`).
pub fn params_validator(schema: &'static str) -> Result<SchemaValidator, Error> {
    validator(schema).map(SchemaValidator::accepting_null_for_optional)
}

/// The core of a generated `<Service>Events`: the service's events, their payload
/// validators compiled once, and where to publish.
#[derive(Clone)]
pub struct Events {
    service: &'static str,
    validators: Arc<BTreeMap<&'static str, SchemaValidator>>,
    publisher: Arc<dyn EventPublisher>,
}

impl std::fmt::Debug for Events {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Events")
            .field("service", &self.service)
            .field("events", &self.validators.keys().collect::<Vec<_>>())
            .finish_non_exhaustive()
    }
}

impl Events {
    /// Compiles the payload schemas of `events`, the events of `service`.
    pub fn new(
        service: &'static str,
        events: &'static [EventInfo],
        publisher: impl EventPublisher,
    ) -> Result<Self, Error> {
        let mut validators = BTreeMap::new();
        for e in events {
            validators.insert(e.name, validator(e.payload_schema)?);
        }
        Ok(Self {
            service,
            validators: Arc::new(validators),
            publisher: Arc::new(publisher),
        })
    }

    /// Checks `payload` against the schema of `event`, then publishes it. A payload that does
    /// not conform (a typed payload can still break a `minimum` or a `pattern`) is refused
    /// with [`Error::InvalidArgument`] naming each JSON Pointer, and nothing is published:
    /// subscribers would dead-letter it anyway.
    pub async fn publish<P: serde::Serialize + ?Sized>(
        &self,
        event: &'static str,
        payload: &P,
    ) -> Result<String, Error> {
        let value = serde_json::to_value(payload)
            .map_err(|e| Error::InvalidArgument(format!("payload does not serialize: {e}")))?;
        let Some(validator) = self.validators.get(event) else {
            return Err(Error::InvalidArgument(format!(
                "\"{event}\" is not an event of \"{}\"",
                self.service
            )));
        };
        if let Err(issues) = validator.validate(&value) {
            let issues: Vec<String> = issues
                .iter()
                .map(|i| {
                    let at = if i.path.is_empty() {
                        "the root"
                    } else {
                        &i.path
                    };
                    format!("at {at}: {}", i.message)
                })
                .collect();
            return Err(Error::InvalidArgument(format!(
                "invalid payload of event \"{}.{event}\": {}",
                self.service,
                issues.join("; ")
            )));
        }
        self.publisher.publish(self.service, event, value).await
    }
}
