//! Decoding stream replies (`XREADGROUP`, `XREAD`, `XAUTOCLAIM`, `XRANGE`) straight from
//! Redis values, keeping field values as bytes and taking ownership instead of copying. Each
//! reply is a [`FromRedisValue`] type, so a reply of the wrong shape is an ordinary
//! [`redis::RedisError`] of the command that got it.

use bytes::Bytes;
use redis::{FromRedisValue, ParsingError, Value};

use super::StreamEntry;

/// The entries of an `XREAD` / `XREADGROUP` reply, over every stream it names; nil (the
/// `BLOCK` timed out) is no entries.
#[derive(Debug, Default)]
pub(crate) struct ReadReply(pub(crate) Vec<StreamEntry>);

impl FromRedisValue for ReadReply {
    fn from_redis_value(v: Value) -> Result<Self, ParsingError> {
        read_reply(v).map(Self).map_err(ParsingError::from)
    }
}

/// The entries of an `XRANGE` reply.
#[derive(Debug, Default)]
pub(crate) struct RangeReply(pub(crate) Vec<StreamEntry>);

impl FromRedisValue for RangeReply {
    fn from_redis_value(v: Value) -> Result<Self, ParsingError> {
        entries(v).map(Self).map_err(ParsingError::from)
    }
}

/// An `XAUTOCLAIM` reply: where the next call starts, and the entries claimed.
#[derive(Debug)]
pub(crate) struct AutoclaimReply {
    /// `0-0` once the end of the pending list is reached.
    pub(crate) cursor: String,
    pub(crate) claimed: Vec<StreamEntry>,
    /// Pending entries that were deleted (trimmed) before anyone acknowledged them; Redis 7
    /// drops them from the pending list as it reports them.
    pub(crate) deleted: usize,
}

impl FromRedisValue for AutoclaimReply {
    fn from_redis_value(v: Value) -> Result<Self, ParsingError> {
        let (cursor, claimed, deleted) = autoclaim_reply(v).map_err(ParsingError::from)?;
        Ok(Self {
            cursor,
            claimed,
            deleted,
        })
    }
}

fn into_bytes(v: Value) -> Option<Vec<u8>> {
    match v {
        Value::BulkString(b) => Some(b),
        Value::SimpleString(s) => Some(s.into_bytes()),
        Value::VerbatimString { text, .. } => Some(text.into_bytes()),
        Value::Int(i) => Some(i.to_string().into_bytes()),
        _ => None,
    }
}

fn into_string(v: Value) -> Result<String, String> {
    into_bytes(v)
        .and_then(|b| String::from_utf8(b).ok())
        .ok_or_else(|| "expected a string".to_owned())
}

/// Decodes `[id, [k, v, ...]]`. An entry deleted while pending comes back with nil fields;
/// it decodes with none.
fn entry(v: Value) -> Result<StreamEntry, String> {
    let Value::Array(mut parts) = v else {
        return Err("stream entry is not an array".to_owned());
    };
    if parts.len() < 2 {
        return Err("stream entry too short".to_owned());
    }
    let raw_fields = parts.swap_remove(1);
    let id = into_string(parts.swap_remove(0))?;
    let mut fields = Vec::new();
    match raw_fields {
        Value::Array(items) => {
            let mut it = items.into_iter();
            while let (Some(k), Some(v)) = (it.next(), it.next()) {
                if let (Some(k), Some(v)) = (into_bytes(k), into_bytes(v)) {
                    fields.push((Bytes::from(k), Bytes::from(v)));
                }
            }
        }
        Value::Map(pairs) => {
            for (k, v) in pairs {
                if let (Some(k), Some(v)) = (into_bytes(k), into_bytes(v)) {
                    fields.push((Bytes::from(k), Bytes::from(v)));
                }
            }
        }
        _ => {}
    }
    Ok(StreamEntry {
        id,
        fields,
        delivery_count: None,
    })
}

fn entries(v: Value) -> Result<Vec<StreamEntry>, String> {
    match v {
        Value::Array(items) => items
            .into_iter()
            .filter(|v| !matches!(v, Value::Nil))
            .map(entry)
            .collect(),
        Value::Nil => Ok(Vec::new()),
        _ => Err("stream entries are not an array".to_owned()),
    }
}

/// Decodes an `XREAD`/`XREADGROUP` reply for any number of streams; nil (the `BLOCK` timed
/// out) is no entries.
fn read_reply(v: Value) -> Result<Vec<StreamEntry>, String> {
    let per_stream: Vec<Value> = match v {
        Value::Nil => return Ok(Vec::new()),
        Value::Array(streams) => streams
            .into_iter()
            .map(|s| match s {
                Value::Array(mut kv) if kv.len() == 2 => Ok(kv.swap_remove(1)),
                _ => Err("stream reply row is not [key, entries]".to_owned()),
            })
            .collect::<Result<_, _>>()?,
        // RESP3 replies come as a map of key → entries.
        Value::Map(pairs) => pairs.into_iter().map(|(_, v)| v).collect(),
        _ => return Err("unexpected stream reply".to_owned()),
    };
    let mut out = Vec::new();
    for s in per_stream {
        out.extend(entries(s)?);
    }
    Ok(out)
}

/// Decodes an `XAUTOCLAIM` reply: the next cursor, the claimed entries, and how many
/// pending entries were found deleted (Redis 6.2 sends two elements, Redis 7 a third with
/// the deleted ids).
fn autoclaim_reply(v: Value) -> Result<(String, Vec<StreamEntry>, usize), String> {
    let Value::Array(mut parts) = v else {
        return Err("XAUTOCLAIM reply is not an array".to_owned());
    };
    if parts.len() < 2 {
        return Err("XAUTOCLAIM reply too short".to_owned());
    }
    let deleted = match parts.get(2) {
        Some(Value::Array(ids)) => ids.len(),
        _ => 0,
    };
    parts.truncate(2);
    let claimed = entries(parts.swap_remove(1))?;
    let cursor = into_string(parts.swap_remove(0))?;
    // Redis 6.2 lists entries deleted while pending as nil; skip them.
    Ok((cursor, claimed, deleted))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn bulk(s: &str) -> Value {
        Value::BulkString(s.as_bytes().to_vec())
    }

    #[test]
    fn decodes_read_replies() {
        let reply = Value::Array(vec![Value::Array(vec![
            bulk("p:cmds:arith"),
            Value::Array(vec![
                Value::Array(vec![
                    bulk("1-0"),
                    Value::Array(vec![
                        bulk("type"),
                        bulk("rpc"),
                        bulk("envelope"),
                        bulk("{}"),
                    ]),
                ]),
                Value::Array(vec![bulk("2-0"), Value::Nil]),
            ]),
        ])]);
        let got = read_reply(reply).unwrap();
        assert_eq!(got.len(), 2);
        assert_eq!(got[0].id, "1-0");
        assert_eq!(got[0].field("envelope"), Some(&b"{}"[..]));
        assert_eq!(got[0].field("reply-to"), None);
        assert!(got[1].fields.is_empty());
        assert!(read_reply(Value::Nil).unwrap().is_empty());
        assert!(read_reply(Value::Int(3)).is_err());
    }

    #[test]
    fn decodes_autoclaim_replies() {
        let reply = Value::Array(vec![
            bulk("0-0"),
            Value::Array(vec![Value::Array(vec![
                bulk("5-1"),
                Value::Array(vec![bulk("envelope"), bulk("x")]),
            ])]),
            Value::Array(vec![bulk("4-0"), bulk("4-1")]),
        ]);
        let (cursor, claimed, deleted) = autoclaim_reply(reply).unwrap();
        assert_eq!(cursor, "0-0");
        assert_eq!(claimed[0].id, "5-1");
        assert_eq!(deleted, 2);
        assert!(autoclaim_reply(Value::Array(vec![bulk("0-0")])).is_err());
    }
}
