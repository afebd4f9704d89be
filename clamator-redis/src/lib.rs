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
//! use clamator_protocol::{Client, RpcError, Service};
//! use clamator_redis::{RedisServer, RedisTransport, ServerConfig, TransportConfig};
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
//! let transport =
//!     RedisTransport::connect(TransportConfig::new("demo").redis_url("redis://127.0.0.1:6379")).await?;
//! let client = Client::new(transport.clone());
//! let r: AddResult = client.call("arith", "add", &AddParams { a: 2.0, b: 3.0 }).await?;
//! assert_eq!(r.sum, 5.0);
//!
//! transport.stop().await;
//! server.stop().await;
//! # Ok(()) }
//! ```
//!
//! ## What goes over Redis
//!
//! | key | written by | read by |
//! |---|---|---|
//! | `<prefix>:cmds:<service>` | transports (`XADD`, no cap) | servers (`XREADGROUP`, group `<service>`, consumer `<service>:<instance>`) |
//! | `<prefix>:replies:<transport instance>` | servers (`XADD`, trimmed by age, `PEXPIRE`) | its transport (`XREAD` from `0`, trims what it read), deleted at stop |
//! | `<prefix>:dlq:<service>` | servers (dead letters) | [`DeadLetters`] |
//! | `<prefix>:idem:<service>:<key>` | servers (exactly-once records) | servers |
//! | `<prefix>:lock:housekeeping:<service>` | servers (one housekeeper at a time) | servers |
//!
//! ## Beyond clamator, on the same wire
//!
//! * Malformed entries are acknowledged, logged, written to the dead-letter stream, and
//!   answered with -32700 / -32600 when they name a reply stream and an id can be recovered
//!   (clamator lets the caller time out).
//! * A `reply-to` outside `<prefix>:replies:` is refused: logged, acknowledged, nothing written.
//! * Envelopes over [`ServerConfig::max_envelope_bytes`] (1 MiB) are refused with -32600.
//! * Requests carry a deadline; expired ones are skipped. Poison requests are dead-lettered
//!   ([`codes::DEAD_LETTERED`]). Exactly-once execution is opt-in per service or method
//!   ([`ServiceOptions`]).
//! * A vanished consumer group (`NOGROUP` after `FLUSHALL` or a restart) is re-created.
//! * Lost connections come back with exponential backoff with jitter (100 ms to 30 s).
//! * [`ServiceOptions::concurrency`] processes several entries of a service at once; the
//!   default of 1 keeps clamator's in-order processing.
//!
//! ## Modules
//!
//! The public ones are [`config`], [`env`](mod@env), [`events`], [`codes`] and [`keys`]; the rest is
//! private and re-exported at the root. Every file of the crate, and what it holds, is on
//! [the map of the crates](https://github.com/clamator-rs/clamator-rs/blob/main/docs/architecture.md), which a test keeps in step with the sources.
//!
//! ## Features
//!
//! | feature | default | what |
//! |---|---|---|
//! | `tls` | yes | `rediss://` URLs (rustls); without it such a URL is refused with a clear error |
//! | `metrics` | no | counters, histograms and gauges through the `metrics` facade |
//! | `opentelemetry` | no | W3C trace context across the Redis hop, from the call's span to the server's |
//! | `clap` | no | `RedisArgs`, the deployment flags for a clap command line |
//! | `fault-injection` | no | a crash between reply and ack (or an event's handler and its ack), for this project's own test kit only |

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
