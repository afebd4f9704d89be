//! The JSON-RPC error codes this transport answers with, beyond the standard ones in
//! [`clamator_protocol::codes`]. Both sit in the range JSON-RPC leaves to implementations
//! (-32000..-32099); clamator peers have neither and pass them through as ordinary errors.
//!
//! ```
//! use clamator_redis::codes;
//! # fn handle(err: clamator_protocol::Error) {
//! match err.code() {
//!     Some(codes::DEAD_LETTERED) => { /* the request was moved to the dead-letter stream */ }
//!     Some(codes::IDEMPOTENCY_KEY_REUSED) => { /* same key, different params */ }
//!     _ => {}
//! }
//! # }
//! ```

/// The request was taken out of service and written to the dead-letter stream: it was
/// delivered more than `max_deliveries` times without completing. `data` carries the
/// `reason` and the number of `deliveries`.
pub const DEAD_LETTERED: i64 = -32050;

/// An exactly-once request reused an idempotency key with different params; it was refused
/// without running.
pub const IDEMPOTENCY_KEY_REUSED: i64 = -32051;

/// The request's deadline passed before or while its handler ran, or its handler ran past
/// [`ServerConfig::max_handler_time`](crate::ServerConfig::max_handler_time): it was
/// skipped or its handler cancelled. `data.reason` is `deadline` or `max-handler-time`. A
/// clamator-rs caller has usually given up by then; the answer helps one whose clock is
/// skewed.
pub const DEADLINE_EXCEEDED: i64 = -32052;

/// An exactly-once request ran before, but its result was too large to keep for replay
/// (over 64 KiB of response JSON): the redelivery or retry is answered with this instead of
/// running the handler again. `data.bytes` is the size of the result that was not kept.
pub const RESULT_NOT_KEPT: i64 = -32053;
