//! Key and name conventions, exactly clamator's.
//!
//! ```
//! use clamator_redis::keys;
//! assert_eq!(keys::command_stream("app", "engine"), "app:cmds:engine");
//! assert_eq!(keys::reply_stream("app", "inst-1"), "app:replies:inst-1");
//! assert_eq!(keys::consumer_group_name("engine"), "engine");
//! assert_eq!(keys::consumer_name("engine", "inst-1"), "engine:inst-1");
//! ```

/// The command stream of a service: `<prefix>:cmds:<service>`.
pub fn command_stream(prefix: &str, service: &str) -> String {
    // Every call names its stream: joined without the formatting machinery (a tenth of the
    // instructions of `format!`).
    [prefix, ":cmds:", service].concat()
}

/// Partition `partition` of a service's command stream: partition 0 is
/// [`command_stream`] itself, partition `i` is `<prefix>:cmds:<service>:<i>` (ours; a
/// service name has no `:`, so it names no other service's stream).
///
/// ```
/// use clamator_redis::keys;
/// assert_eq!(keys::command_stream_partition("app", "engine", 0), "app:cmds:engine");
/// assert_eq!(keys::command_stream_partition("app", "engine", 3), "app:cmds:engine:3");
/// ```
pub fn command_stream_partition(prefix: &str, service: &str, partition: usize) -> String {
    match partition {
        0 => command_stream(prefix, service),
        i => format!("{prefix}:cmds:{service}:{i}"),
    }
}

/// The reply stream of a client instance: `<prefix>:replies:<instance>`.
pub fn reply_stream(prefix: &str, instance_id: &str) -> String {
    format!("{}{instance_id}", reply_stream_prefix(prefix))
}

/// The namespace every reply stream lives in, `<prefix>:replies:`. Servers refuse to write
/// anywhere else.
pub fn reply_stream_prefix(prefix: &str) -> String {
    format!("{prefix}:replies:")
}

/// The consumer group of a service: the service name itself.
pub fn consumer_group_name(service: &str) -> String {
    service.to_owned()
}

/// The consumer of a server instance in a service's group: `<service>:<instance>`.
pub fn consumer_name(service: &str, instance_id: &str) -> String {
    format!("{service}:{instance_id}")
}

/// The dead-letter stream of a service: `<prefix>:dlq:<service>` (ours; clamator has none).
pub fn dead_letter_stream(prefix: &str, service: &str) -> String {
    format!("{prefix}:dlq:{service}")
}

/// A lock key: `<prefix>:lock:<name>` (ours; clamator has none).
pub fn lock_key(prefix: &str, name: &str) -> String {
    format!("{prefix}:lock:{name}")
}

/// An idempotency record: `<prefix>:idem:<service>:<key>` (ours; clamator has none).
pub fn idempotency_key(prefix: &str, service: &str, key: &str) -> String {
    format!("{prefix}:idem:{service}:{key}")
}

/// Where servers publish the contract of a service they serve: `<prefix>:contracts:<service>`
/// (ours; clamator has none), a string holding a JSON document with the contract's methods,
/// schemas and hashes. Written only by servers, at start.
pub fn contract_key(prefix: &str, service: &str) -> String {
    format!("{prefix}:contracts:{service}")
}

/// The event stream of a publishing service: `<prefix>:events:<service>` (ours; clamator has
/// none). Each subscribing service reads it through a consumer group named after itself.
pub fn event_stream(prefix: &str, service: &str) -> String {
    format!("{prefix}:events:{service}")
}

/// An exactly-once subscriber's record of one event: `<prefix>:idem-event:<subscriber>:<publisher>:<entry id>`
/// (ours; clamator has none). Apart from the records of calls, so no caller's idempotency
/// key can name one.
pub fn event_record_key(prefix: &str, subscriber: &str, publisher: &str, entry_id: &str) -> String {
    format!("{prefix}:idem-event:{subscriber}:{publisher}:{entry_id}")
}
