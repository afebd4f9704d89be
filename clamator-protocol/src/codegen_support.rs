//! What generated code uses, re-exported in one place so generated code depends on
//! `clamator-protocol` alone (as tonic-generated code uses `tonic::codegen`). Not a stable
//! API for hand-written code.

pub use std::collections::BTreeMap;
pub use std::future::Future;
pub use std::sync::Arc;

pub use serde;
pub use serde_json;

pub use crate::client::Client;
pub use crate::contract::{ContractInfo, MethodInfo};
pub use crate::error::{Error, RpcError};
pub use crate::schema::SchemaValidator;
pub use crate::server::{Method, Service};
pub use crate::transport::CallOptions;

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
