//! # clamator-redis
//!
//! The Redis Streams transport of clamator-rs, wire-compatible with the published
//! TypeScript and Python clamator packages: same keys, fields, consumer groups and
//! commands, so Rust, Python and TypeScript clients and servers mix freely, even in one
//! worker pool.
//!
//! ```no_run
//! # #[tokio::main]
//! # async fn main() -> Result<(), clamator_protocol::Error> {
//! use clamator_protocol::{RpcError, Service};
//! use clamator_redis::{ClientConfig, RedisClient, RedisServer, ServerConfig};
//! use serde::{Deserialize, Serialize};
//!
//! #[derive(Serialize, Deserialize)]
//! struct AddParams { a: f64, b: f64 }
//! #[derive(Serialize, Deserialize)]
//! struct AddResult { sum: f64 }
//!
//! let arith = Service::builder("arith")
//!     .method("add", |p: AddParams| async move { Ok::<_, RpcError>(AddResult { sum: p.a + p.b }) })
//!     .build()?;
//! let server = RedisServer::builder(ServerConfig::new("demo").redis_url("redis://127.0.0.1:6379"))
//!     .service(arith)
//!     .start()
//!     .await?;
//!
//! let redis = RedisClient::connect(ClientConfig::new("demo").redis_url("redis://127.0.0.1:6379")).await?;
//! let r: AddResult = redis.client().call("arith", "add", &AddParams { a: 2.0, b: 3.0 }).await?;
//! assert_eq!(r.sum, 5.0);
//!
//! redis.stop().await;
//! server.stop().await;
//! # Ok(()) }
//! ```
//!
//! ## What goes over Redis
//!
//! | key | written by | read by |
//! |---|---|---|
//! | `<prefix>:cmds:<service>` | clients (`XADD`, no cap) | servers (`XREADGROUP`, group `<service>`, consumer `<service>:<instance>`) |
//! | `<prefix>:replies:<client instance>` | servers (`XADD MAXLEN ~ 1024`) | its client (`XREAD` from `0`), deleted at stop |
//!
//! ## Beyond clamator, on the same wire
//!
//! * Malformed entries are acknowledged, logged, and answered with -32700 / -32600 when they
//!   name a reply stream and an id can be recovered (clamator lets the caller time out).
//! * A `reply-to` outside `<prefix>:replies:` is refused: logged, acknowledged, nothing written.
//! * Envelopes over [`ServerConfig::max_envelope_bytes`] (1 MiB) are refused with -32600.
//! * A vanished consumer group (`NOGROUP` after `FLUSHALL` or a restart) is re-created.
//! * Lost connections come back with exponential backoff with jitter (100 ms to 30 s).
//! * [`ServerBuilder::service_with_concurrency`] processes several entries of a service at
//!   once; the default of 1 keeps clamator's in-order processing.
//!
//! ## Modules
//!
//! | module | what |
//! |---|---|
//! | [`config`] | [`ServerConfig`], [`ClientConfig`] |
//! | [`keys`] | key and name conventions |
//! | `server` | [`RedisServer`]: consumer loop, acks, stop |
//! | `reclaim` | the `XAUTOCLAIM` loop |
//! | `client` | [`RedisClient`]: requests and the reply reader |

mod backoff;
mod client;
mod completion;
pub mod config;
mod connection;
mod deadline;
pub mod dlq;
mod housekeeping;
pub mod idempotency;
pub mod keys;
pub mod lock;
mod reclaim;
mod server;
mod stream;

pub use client::RedisClient;
pub use dlq::{DeadLetter, DeadLetters, DEAD_LETTERED};

pub use config::{
    ClientConfig, ServerConfig, DEFAULT_MAX_ENVELOPE_BYTES, DEFAULT_REDIS_URL,
    DEFAULT_REPLY_STREAM_TTL,
};
pub use server::{RedisServer, ServerBuilder, ServerStats, StopReport};
