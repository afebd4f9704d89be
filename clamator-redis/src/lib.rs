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
//! | module | what |
//! |---|---|
//! | `target` | [`RedisTarget`]: where Redis is (URL, [`Deployment`], timeouts, TLS CA), held by both configs and [`DeadLetters`]; [`RedisConnection`], its connection for a tool's own commands (`SCAN` on every master) |
//! | `args` | `RedisArgs` (feature `clap`): `--redis-url`, `--cluster`, `--sentinel-master`, `--tls-ca-cert` for a command line |
//! | [`config`] | [`ServerConfig`], [`ServiceOptions`], [`TransportConfig`] and their defaults |
//! | [`env`] | the configs and the target from `CLAMATOR_*` variables and `REDIS_URL` |
//! | [`codes`] | the error codes this transport adds: -32050, -32051, -32052 |
//! | [`keys`] | key and name conventions |
//! | [`lock`] | the one-holder lock housekeeping is elected with |
//! | `transport` | [`RedisTransport`]: requests and the reply reader |
//! | `server` | [`RedisServer`]: public face and stop; under it the consumer loop (`consume`), reclaim, lease renewal, housekeeping, the life of one entry (`entry`, `screen`, `exactly_once`), the runtime state and the completer (reply writer and acker) |
//! | `stream` | every stream command the library sends, and the decoders of their replies |
//! | `dead_letters` | [`DeadLetters`]: the dead-letter stream, written by servers, listed, replayed and purged by operators |
//! | `connection`, `backoff`, `deadline`, `log_limit` | connections to a target (shared and dedicated, in every deployment mode), reconnect backoff, the `deadline` field, rate-limited logs of lasting failures |
//!
//! ## Features
//!
//! None are needed. `tls` (default) reads `rediss://` URLs; `clap` adds `RedisArgs`, the
//! deployment flags for a clap command line; `metrics` and `opentelemetry` are described in
//! docs/observability.md; `fault-injection` exists for this project's own crash tests only.

#[cfg(feature = "clap")]
mod args;
mod backoff;
pub mod codes;
pub mod config;
mod connection;
mod contracts;
mod dead_letters;
mod deadline;
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
pub use config::{
    ServerConfig, ServiceOptions, TransportConfig, DEFAULT_MAX_ENVELOPE_BYTES,
    DEFAULT_MAX_HANDLER_TIME, DEFAULT_MAX_REQUEST_AGE, DEFAULT_REPLY_RETENTION,
    DEFAULT_REPLY_STREAM_MAXLEN, DEFAULT_REPLY_STREAM_TTL, MAX_PARTITIONS,
};
pub use connection::RedisConnection;
pub use dead_letters::{DeadLetter, DeadLetters};
pub use events::{RetryDelays, StartAt, SubscriptionOptions};
pub use server::{RedisServer, ServerBuilder, ServerStats, StopReport};
pub use target::{Deployment, RedisTarget, DEFAULT_REDIS_URL};
pub use transport::RedisTransport;
