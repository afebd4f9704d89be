//! # clamator-protocol
//!
//! The transport-independent half of clamator-rs: JSON-RPC 2.0 envelopes exactly as the
//! TypeScript and Python clamator packages put them on the wire, the error model, services
//! with typed handlers dispatched in clamator's validation order, the client core with
//! timeouts, and the [`ClientTransport`] abstraction with an in-memory implementation. No
//! Redis and no I/O of its own: `clamator-redis` carries it over Redis Streams.
//!
//! ```
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> Result<(), clamator_protocol::Error> {
//! use clamator_protocol::{CallOptions, Client, MemoryTransport, Router, RpcError, Service};
//! use serde::{Deserialize, Serialize};
//!
//! #[derive(Serialize, Deserialize)]
//! struct DivideParams { a: f64, b: f64 }
//! #[derive(Debug, Serialize, Deserialize)]
//! struct DivideResult { q: f64 }
//!
//! let arith = Service::builder("arith")
//!     .method("divide", |p: DivideParams| async move {
//!         if p.b == 0.0 {
//!             return Err(RpcError::new(-32000, "division by zero"));
//!         }
//!         Ok(DivideResult { q: p.a / p.b })
//!     })
//!     .build()?;
//! let client = Client::new(MemoryTransport::new(Router::new().with(arith)?));
//!
//! let r: DivideResult = client.call("arith", "divide", &DivideParams { a: 1.0, b: 4.0 }).await?;
//! assert_eq!(r.q, 0.25);
//!
//! let err = client
//!     .call_with::<_, DivideResult>("arith", "divide", &DivideParams { a: 1.0, b: 0.0 },
//!         CallOptions::timeout(std::time::Duration::from_secs(1)))
//!     .await
//!     .unwrap_err();
//! assert_eq!(err.code(), Some(-32000));
//! # Ok(()) }
//! ```
//!
//! ## Modules
//!
//! Every file of the crate, and what it holds, is on [the map of the crates](https://github.com/clamator-rs/clamator-rs/blob/main/docs/architecture.md), which a
//! test keeps in step with the sources.
//!
//! ## Features
//!
//! | feature | default | what |
//! |---|---|---|
//! | `metrics` | no | counters and histograms of calls through the `metrics` facade (clamator-redis's `metrics` turns it on) |

#[doc(hidden)]
#[path = "codegen_support.rs"]
pub mod __codegen;
pub mod client;
pub mod context;
pub mod contract;
pub mod envelope;
pub mod error;
pub mod memory;
pub mod names;
pub mod schema;
pub mod server;
pub mod transport;

pub use client::{Client, DEFAULT_TIMEOUT};
pub use contract::{
    ContractDescriptor, ContractInfo, ErrorInfo, EventInfo, MethodDescriptor, MethodInfo,
};
pub use envelope::{Envelope, EnvelopeError, Notification, Request, Response, RpcId};
pub use error::{codes, BoxError, Error, RpcError, ValidationIssue};
pub use memory::{MemoryTransport, PublishedEvent, RecordingPublisher};
pub use schema::{SchemaError, SchemaValidator};
pub use server::{BoxFuture, EventOutcome, Method, Router, Service, ServiceBuilder, Validator};
pub use transport::{CallOptions, ClientTransport, EventPublisher};
