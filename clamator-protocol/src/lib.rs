// The crate docs are the README, so that docs.rs and crates.io show the same guide (its
// example is a doctest).
#![doc = include_str!("../README.md")]

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
pub use envelope::{Envelope, EnvelopeError, Json, Notification, Request, Response, RpcId};
pub use error::{codes, BoxError, Error, RpcError, ValidationIssue};
pub use memory::{MemoryTransport, PublishedEvent, RecordingPublisher};
pub use schema::{SchemaError, SchemaValidator};
pub use server::{
    BoxFuture, EncodedReply, EventOutcome, Method, Router, Service, ServiceBuilder, Validator,
};
pub use transport::{CallOptions, ClientTransport, EventPublisher};
