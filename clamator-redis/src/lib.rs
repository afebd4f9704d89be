// The crate docs are the README, so that docs.rs and crates.io show the same guide (its
// example is a doctest).
#![doc = include_str!("../README.md")]

#[cfg(feature = "clap")]
mod args;
mod backoff;
pub mod codes;
pub mod config;
mod connection;
mod contracts;
mod dead_letters;
mod deadline;
mod defaults;
pub mod env;
pub mod events;
mod instruments;
pub mod keys;
mod lock;
mod log_limit;
mod scripts;
mod served;
mod server;
mod stream;
mod target;
mod trace_context;
mod transport;

#[cfg(feature = "clap")]
pub use args::RedisArgs;
pub use config::{ServerConfig, ServiceOptions, TransportConfig};
pub use connection::RedisConnection;
pub use dead_letters::{DeadLetter, DeadLetters};
pub use defaults::*;
pub use events::{RetryDelays, StartAt, SubscriptionOptions};
pub use server::{RedisServer, ServerBuilder, ServerPublisher, ServerStats, StopReport};
pub use target::{Deployment, RedisTarget};
pub use transport::RedisTransport;
