//! Finding services and reading their streams: command streams (and partitions) by `SCAN`,
//! and what `XINFO STREAM`, `XINFO GROUPS` and `XINFO CONSUMERS` say about them, read
//! leniently so that fields newer Redis versions add (`entries-added`, `entries-read`,
//! `lag`, `inactive`) are used where they exist.

use std::collections::{BTreeMap, HashMap};

use clamator_protocol::names;
use clamator_redis::{keys, RedisConnection};
use redis::Value;
use serde::Serialize;

use crate::error::CliError;
use crate::query::{glob_escape, Query};

/// One command stream of a service: partition 0 is `<prefix>:cmds:<service>`, partition `i`
/// is `<prefix>:cmds:<service>:<i>`.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) struct CommandStream {
    /// The partition number.
    pub(crate) partition: usize,
    /// The key.
    pub(crate) key: String,
}

/// Every service under `prefix`: those with a command stream, and those that only published
/// a contract, with their command streams (partitions in order).
pub(crate) async fn all_services(
    conn: &mut RedisConnection,
    prefix: &str,
) -> Result<BTreeMap<String, Vec<CommandStream>>, CliError> {
    let cmds_prefix = format!("{prefix}:cmds:");
    let pattern = format!("{}*", glob_escape(&cmds_prefix));
    let mut services: BTreeMap<String, Vec<CommandStream>> = BTreeMap::new();
    for key in conn.scan(&pattern, Some("stream")).await? {
        let Some(rest) = key.strip_prefix(&cmds_prefix) else {
            continue;
        };
        if let Some((service, partition)) = parse_stream_name(rest) {
            services
                .entry(service.to_owned())
                .or_default()
                .push(CommandStream {
                    partition,
                    key: key.clone(),
                });
        }
    }
    let contracts_prefix = keys::contract_key(prefix, "");
    let pattern = format!("{}*", glob_escape(&contracts_prefix));
    for key in conn.scan(&pattern, Some("string")).await? {
        if let Some(service) = key.strip_prefix(&contracts_prefix) {
            if names::is_valid_service(service) {
                services.entry(service.to_owned()).or_default();
            }
        }
    }
    for streams in services.values_mut() {
        streams.sort();
    }
    Ok(services)
}

/// Every event stream under `prefix`, `<prefix>:events:<publisher>`, by publisher.
pub(crate) async fn all_publishers(
    conn: &mut RedisConnection,
    prefix: &str,
) -> Result<BTreeMap<String, String>, CliError> {
    let events_prefix = keys::event_stream(prefix, "");
    let pattern = format!("{}*", glob_escape(&events_prefix));
    let mut publishers = BTreeMap::new();
    for key in conn.scan(&pattern, Some("stream")).await? {
        if let Some(publisher) = key.strip_prefix(&events_prefix) {
            if names::is_valid_service(publisher) {
                publishers.insert(publisher.to_owned(), key.clone());
            }
        }
    }
    Ok(publishers)
}

/// The streams `stat` and `pending` read for `name`, and the group on them: a service's
/// command streams and its group; else a subscriber's group on every event stream that has
/// one of that name; or, for `publisher/subscriber`, that subscriber's group on that
/// publisher's event stream. A usage error for a name that is none of these shapes, a
/// remote one when nothing under the prefix matches.
pub(crate) async fn resolve(
    conn: &mut RedisConnection,
    prefix: &str,
    name: &str,
) -> Result<(String, Vec<CommandStream>), CliError> {
    let (publisher, subscriber) = match name.split_once('/') {
        Some((p, s)) => (Some(p), s),
        None => (None, name),
    };
    let valid =
        names::is_valid_service(subscriber) && publisher.is_none_or(names::is_valid_service);
    if !valid {
        return Err(CliError::Usage(format!(
            "invalid name {name:?}: a service or subscriber (^[a-z][a-z0-9-]*$), or \
             publisher/subscriber"
        )));
    }
    if publisher.is_none() {
        let streams = service_streams(conn, prefix, name).await?;
        if !streams.is_empty() {
            return Ok((keys::consumer_group_name(name), streams));
        }
    }
    let mut found = Vec::new();
    for (p, key) in all_publishers(conn, prefix).await? {
        if publisher.is_some_and(|wanted| wanted != p) {
            continue;
        }
        if groups(conn, &key)
            .await?
            .iter()
            .any(|g| g.name == subscriber)
        {
            found.push(CommandStream { partition: 0, key });
        }
    }
    if found.is_empty() {
        return Err(CliError::Remote(match publisher {
            None => format!(
                "no command stream for service \"{name}\" (no key {}) and no subscriber \
                 \"{name}\" on any event stream under prefix \"{prefix}\"",
                keys::command_stream(prefix, name)
            ),
            Some(p) => format!(
                "no subscriber \"{subscriber}\" on the event stream {}",
                keys::event_stream(prefix, p)
            ),
        }));
    }
    Ok((subscriber.to_owned(), found))
}

/// The command streams of one service (none when it has none yet).
pub(crate) async fn service_streams(
    conn: &mut RedisConnection,
    prefix: &str,
    service: &str,
) -> Result<Vec<CommandStream>, CliError> {
    let base = keys::command_stream(prefix, service);
    let mut streams = Vec::new();
    // The stream itself, then its partitions: `<base>:*` cannot match another service,
    // whose name would have to contain a `:`.
    let kind: String = conn.query(redis::cmd("TYPE").arg(&base)).await?;
    if kind == "stream" {
        streams.push(CommandStream {
            partition: 0,
            key: base.clone(),
        });
    }
    let pattern = format!("{}:*", glob_escape(&base));
    for key in conn.scan(&pattern, Some("stream")).await? {
        let partition = key
            .strip_prefix(&base)
            .and_then(|r| r.strip_prefix(':'))
            .and_then(|n| n.parse::<usize>().ok())
            .filter(|n| *n > 0);
        if let Some(partition) = partition {
            streams.push(CommandStream { partition, key });
        }
    }
    streams.sort();
    Ok(streams)
}

/// `arith` → (`arith`, 0); `arith:3` → (`arith`, 3); anything else → `None`.
fn parse_stream_name(rest: &str) -> Option<(&str, usize)> {
    let (service, partition) = match rest.split_once(':') {
        None => (rest, 0),
        Some((service, n)) => (service, n.parse::<usize>().ok().filter(|n| *n > 0)?),
    };
    names::is_valid_service(service).then_some((service, partition))
}

/// The name/value pairs of an `XINFO` reply (a flat list in RESP2, a map in RESP3).
pub(crate) fn pairs(value: Value) -> HashMap<String, Value> {
    let mut out = HashMap::new();
    match value {
        Value::Array(items) => {
            let mut it = items.into_iter();
            while let (Some(k), Some(v)) = (it.next(), it.next()) {
                if let Some(k) = text(&k) {
                    out.insert(k, v);
                }
            }
        }
        Value::Map(items) => {
            for (k, v) in items {
                if let Some(k) = text(&k) {
                    out.insert(k, v);
                }
            }
        }
        _ => {}
    }
    out
}

/// A value as text, when it is a string.
pub(crate) fn text(v: &Value) -> Option<String> {
    match v {
        Value::BulkString(b) => Some(String::from_utf8_lossy(b).into_owned()),
        Value::SimpleString(s) | Value::VerbatimString { text: s, .. } => Some(s.clone()),
        _ => None,
    }
}

/// A value as a whole number, when it is one (or its text).
pub(crate) fn int(v: Option<&Value>) -> Option<i64> {
    match v? {
        Value::Int(n) => Some(*n),
        other => text(other)?.parse().ok(),
    }
}

/// What `XINFO STREAM` says.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct StreamInfo {
    /// Entries in the stream now.
    pub(crate) length: u64,
    /// Entries ever added (Redis 7+).
    pub(crate) entries_added: Option<u64>,
    /// The id of the newest entry ever added.
    pub(crate) last_generated_id: Option<String>,
}

/// `XINFO STREAM <key>`; `None` when there is no such stream.
pub(crate) async fn stream_info(
    conn: &mut RedisConnection,
    key: &str,
) -> Result<Option<StreamInfo>, CliError> {
    let cmd = {
        let mut cmd = redis::cmd("XINFO");
        cmd.arg("STREAM").arg(key);
        cmd
    };
    let reply: Option<Value> = match conn.query(&cmd).await {
        Ok(v) => Some(v),
        Err(CliError::Transport(e)) if e.contains("no such key") => None,
        Err(e) => return Err(e),
    };
    Ok(reply.map(|v| {
        let p = pairs(v);
        StreamInfo {
            length: int(p.get("length")).unwrap_or(0).max(0).unsigned_abs(),
            entries_added: int(p.get("entries-added")).map(i64::unsigned_abs),
            last_generated_id: p.get("last-generated-id").and_then(text),
        }
    }))
}

/// What `XINFO GROUPS` says of one group.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct GroupInfo {
    /// The group's name (clamator's group of a service is the service's name).
    pub(crate) name: String,
    /// Its consumers.
    pub(crate) consumers: u64,
    /// Entries delivered and not acknowledged.
    pub(crate) pending: u64,
    /// The last entry delivered to the group.
    pub(crate) last_delivered_id: Option<String>,
    /// Entries the group has read (Redis 7+).
    pub(crate) entries_read: Option<u64>,
    /// Entries not delivered to the group yet (Redis 7+; `None` when Redis cannot tell).
    pub(crate) lag: Option<u64>,
}

/// `XINFO GROUPS <key>` (none for a stream that does not exist).
pub(crate) async fn groups(
    conn: &mut RedisConnection,
    key: &str,
) -> Result<Vec<GroupInfo>, CliError> {
    let cmd = {
        let mut cmd = redis::cmd("XINFO");
        cmd.arg("GROUPS").arg(key);
        cmd
    };
    let reply: Vec<Value> = match conn.query(&cmd).await {
        Ok(v) => v,
        Err(CliError::Transport(e)) if e.contains("no such key") => Vec::new(),
        Err(e) => return Err(e),
    };
    Ok(reply
        .into_iter()
        .map(|g| {
            let p = pairs(g);
            let count = |k: &str| int(p.get(k)).map(i64::unsigned_abs);
            GroupInfo {
                name: p.get("name").and_then(text).unwrap_or_default(),
                consumers: count("consumers").unwrap_or(0),
                pending: count("pending").unwrap_or(0),
                last_delivered_id: p.get("last-delivered-id").and_then(text),
                entries_read: count("entries-read"),
                lag: count("lag"),
            }
        })
        .collect())
}

/// What `XINFO CONSUMERS` says of one consumer.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct ConsumerInfo {
    /// The consumer's name: `<service>:<instance id>` for clamator servers.
    pub(crate) name: String,
    /// Entries delivered to it and not acknowledged.
    pub(crate) pending: u64,
    /// Milliseconds since it last read or claimed an entry.
    pub(crate) idle_ms: u64,
    /// Milliseconds since it last tried to read (Redis 7.2+, Valkey).
    pub(crate) inactive_ms: Option<u64>,
}

/// `XINFO CONSUMERS <key> <group>` (none when the group or stream is gone).
pub(crate) async fn consumers(
    conn: &mut RedisConnection,
    key: &str,
    group: &str,
) -> Result<Vec<ConsumerInfo>, CliError> {
    let cmd = {
        let mut cmd = redis::cmd("XINFO");
        cmd.arg("CONSUMERS").arg(key).arg(group);
        cmd
    };
    let reply: Vec<Value> = match conn.query_unless(&cmd, &["NOGROUP"]).await {
        Ok(v) => v.unwrap_or_default(),
        Err(CliError::Transport(e)) if e.contains("no such key") => Vec::new(),
        Err(e) => return Err(e),
    };
    Ok(reply
        .into_iter()
        .map(|c| {
            let p = pairs(c);
            ConsumerInfo {
                name: p.get("name").and_then(text).unwrap_or_default(),
                pending: int(p.get("pending")).unwrap_or(0).unsigned_abs(),
                idle_ms: int(p.get("idle")).unwrap_or(0).unsigned_abs(),
                // -1: never tried to read.
                inactive_ms: int(p.get("inactive"))
                    .filter(|n| *n >= 0)
                    .map(i64::unsigned_abs),
            }
        })
        .collect())
}

/// The fields of one stream entry, by name (the first of a name given twice).
pub(crate) type Fields = Vec<(String, String)>;

/// A field's value.
pub(crate) fn field<'a>(fields: &'a Fields, name: &str) -> Option<&'a str> {
    fields
        .iter()
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.as_str())
}

/// Entries of an `XRANGE` / one stream of an `XREAD` reply: `[[id, [k, v, …]], …]`.
pub(crate) fn entries(value: Value) -> Vec<(String, Fields)> {
    let Value::Array(items) = value else {
        return Vec::new();
    };
    items
        .into_iter()
        .filter_map(|item| {
            let Value::Array(mut parts) = item else {
                return None;
            };
            if parts.len() < 2 {
                return None;
            }
            let values = parts.pop()?;
            let id = text(&parts.pop()?)?;
            let mut fields = Vec::new();
            if let Value::Array(kv) = values {
                let mut it = kv.into_iter();
                while let (Some(k), Some(v)) = (it.next(), it.next()) {
                    if let (Some(k), Some(v)) = (text(&k), text(&v)) {
                        fields.push((k, v));
                    }
                }
            }
            Some((id, fields))
        })
        .collect()
}

/// `XRANGE <key> <start> <end> [COUNT n]`.
pub(crate) async fn range(
    conn: &mut RedisConnection,
    key: &str,
    start: &str,
    end: &str,
    count: Option<usize>,
) -> Result<Vec<(String, Fields)>, CliError> {
    let mut cmd = redis::cmd("XRANGE");
    cmd.arg(key).arg(start).arg(end);
    if let Some(n) = count {
        cmd.arg("COUNT").arg(n);
    }
    let reply: Value = conn.query(&cmd).await?;
    Ok(entries(reply))
}

/// Redis's clock, in epoch milliseconds (`TIME`), so ages are measured as stream ids are.
pub(crate) async fn redis_now_ms(conn: &mut RedisConnection) -> Result<u64, CliError> {
    let (secs, micros): (u64, u64) = conn.query(&redis::cmd("TIME")).await?;
    Ok(secs * 1000 + micros / 1000)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stream_names_tell_service_and_partition() {
        assert_eq!(parse_stream_name("arith"), Some(("arith", 0)));
        assert_eq!(parse_stream_name("arith:3"), Some(("arith", 3)));
        assert_eq!(parse_stream_name("arith:0"), None);
        assert_eq!(parse_stream_name("arith:x"), None);
        assert_eq!(parse_stream_name("Arith"), None);
    }

    #[test]
    fn xinfo_replies_read_as_pairs() {
        let bulk = |s: &str| Value::BulkString(s.as_bytes().to_vec());
        let p = pairs(Value::Array(vec![
            bulk("length"),
            Value::Int(3),
            bulk("last-generated-id"),
            bulk("1-0"),
        ]));
        assert_eq!(int(p.get("length")), Some(3));
        assert_eq!(
            p.get("last-generated-id").and_then(text).as_deref(),
            Some("1-0")
        );
        let e = entries(Value::Array(vec![Value::Array(vec![
            bulk("1-0"),
            Value::Array(vec![bulk("type"), bulk("rpc")]),
        ])]));
        assert_eq!(e[0].0, "1-0");
        assert_eq!(field(&e[0].1, "type"), Some("rpc"));
    }
}
