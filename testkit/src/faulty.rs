//! The `faulty` service of the fault server (`fault-server --faulty`): what a broken handler
//! looks like from the outside, for tests of how clamator answers it.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use clamator_protocol::{Error, Method, RpcError, SchemaValidator, Service};

/// The `faulty` service: `badResult` answers `{"sum": "not a number"}` where its result
/// schema (`arith.add`'s) wants a number, so callers get -32603 "Result validation failed";
/// `crash` aborts the whole process, a poison request. Each `badResult` run bumps `handled`
/// (a `crash` run never returns to count).
pub fn faulty_service(handled: Arc<AtomicU64>) -> Result<Service, Error> {
    let schema = clamator_examples::generated::arith::ADD_RESULT_SCHEMA;
    let validator =
        SchemaValidator::from_json(schema).map_err(|e| Error::InvalidArgument(e.to_string()))?;
    Service::builder("faulty")
        .add(
            "badResult",
            Method::new(move |_: serde_json::Value| {
                handled.fetch_add(1, Ordering::Relaxed);
                async { Ok(serde_json::json!({"sum": "not a number"})) }
            })
            .result_validator(validator),
        )
        .method("crash", |_: serde_json::Value| async {
            // `if true` keeps the method's result type `()` for the builder.
            if true {
                std::process::abort();
            }
            Ok::<(), RpcError>(())
        })
        .build()
}
