//! How clamator talks to Redis streams, in one place: every stream command the library
//! sends ([`commands`]) and the decoders of their replies ([`decode`]), so the loops that
//! use them read as policy and the wire can be checked here alone.
//!
//! Hot-path replies (`XREADGROUP`, `XREAD`, `XAUTOCLAIM`, `XRANGE`) are decoded by our own
//! decoders, which keep field values as bytes: from the raw bytes ([`resp`]) on the blocking
//! loops' own connections, from redis-rs's values ([`decode`]) elsewhere. The cold
//! administrative replies (`XINFO`, `XPENDING`) use redis-rs's typed replies.

pub(crate) mod commands;
pub(crate) mod decode;
pub(crate) mod resp;

use bytes::Bytes;

/// The fields of a request entry. The first three are clamator's, in the order clamator
/// writes them; the others are ours, which clamator peers ignore.
pub(crate) mod fields {
    /// Always `rpc`.
    pub(crate) const TYPE: &str = "type";
    /// The JSON-RPC envelope.
    pub(crate) const ENVELOPE: &str = "envelope";
    /// The caller's reply stream; absent on notifications.
    pub(crate) const REPLY_TO: &str = "reply-to";
    /// Epoch milliseconds after which the caller no longer waits.
    pub(crate) const DEADLINE: &str = "deadline";
    /// The caller's idempotency key, for servers running exactly-once.
    pub(crate) const IDEMPOTENCY_KEY: &str = "idempotency-key";
    /// The caller's W3C trace context (feature `opentelemetry`).
    pub(crate) const TRACEPARENT: &str = "traceparent";
    /// The vendor part of the caller's W3C trace context, when there is one.
    pub(crate) const TRACESTATE: &str = "tracestate";
    /// An event's publish time, epoch milliseconds (event streams only).
    pub(crate) const PUBLISHED_AT: &str = "published_at";
    /// The one subscriber a republished event is for (event streams only): the others
    /// acknowledge it without running anything.
    pub(crate) const FOR_SUBSCRIBER: &str = "for-subscriber";
}

/// What is wrong with an envelope of `bytes` over `limit` (`max_envelope_bytes`), in the words
/// a sender's error and a server's refusal share.
pub(crate) fn too_large(bytes: usize, limit: usize) -> String {
    format!("envelope of {bytes} bytes exceeds the limit of {limit} bytes")
}

/// An envelope about to be sent, refused before it goes out when it is over `limit`.
pub(crate) fn check_size(envelope: &str, limit: usize) -> Result<(), clamator_protocol::Error> {
    if envelope.len() > limit {
        return Err(clamator_protocol::Error::InvalidArgument(too_large(
            envelope.len(),
            limit,
        )));
    }
    Ok(())
}

/// One stream entry: its id and its fields in order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct StreamEntry {
    pub(crate) id: String,
    /// Names and values; read from raw bytes, they are slices of the reply they came in,
    /// which stays in memory while any of its entries does.
    pub(crate) fields: Vec<(Bytes, Bytes)>,
    /// Deliveries so far, this one included, when known (1 for a fresh read).
    pub(crate) delivery_count: Option<u64>,
}

impl StreamEntry {
    /// The first value of field `name`, the way clamator's Python peer reads a dict.
    pub(crate) fn field(&self, name: &str) -> Option<&[u8]> {
        self.fields
            .iter()
            .find(|(k, _)| k == name.as_bytes())
            .map(|(_, v)| &v[..])
    }

    /// Field `name` as text (lossy), for fields that are text by contract.
    pub(crate) fn text(&self, name: &str) -> Option<String> {
        self.field(name)
            .map(|v| String::from_utf8_lossy(v).into_owned())
    }
}

/// A stream entry id, `<ms>-<seq>`, ordered as Redis orders them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) struct StreamId {
    pub(crate) ms: u64,
    pub(crate) seq: u64,
}

impl StreamId {
    /// Parses `<ms>-<seq>`; `None` for anything else.
    pub(crate) fn parse(s: &str) -> Option<Self> {
        let (ms, seq) = s.split_once('-')?;
        Some(Self {
            ms: ms.parse().ok()?,
            seq: seq.parse().ok()?,
        })
    }

    /// The largest id before this id's millisecond: a group created there delivers every
    /// entry of that millisecond, whatever its sequence number.
    pub(crate) fn before_its_millisecond(self) -> Self {
        match self.ms.checked_sub(1) {
            Some(ms) => Self { ms, seq: u64::MAX },
            None => Self { ms: 0, seq: 0 },
        }
    }

    /// The smallest id after this one.
    pub(crate) fn next(self) -> Self {
        match self.seq.checked_add(1) {
            Some(seq) => Self { ms: self.ms, seq },
            None => Self {
                ms: self.ms.saturating_add(1),
                seq: 0,
            },
        }
    }
}

impl std::fmt::Display for StreamId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}-{}", self.ms, self.seq)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stream_ids_order_and_step() {
        let a = StreamId::parse("5-2").unwrap();
        assert!(a < StreamId::parse("5-10").unwrap() && a < StreamId::parse("6-0").unwrap());
        assert_eq!(a.next().to_string(), "5-3");
        assert_eq!(
            StreamId {
                ms: 7,
                seq: u64::MAX
            }
            .next()
            .to_string(),
            "8-0"
        );
        assert_eq!(StreamId::parse("x-1"), None);
        assert_eq!(StreamId::parse("12"), None);
    }

    #[test]
    fn fields_read_first_value_and_text() {
        let e = StreamEntry {
            id: "1-0".into(),
            fields: vec![
                (b"a".to_vec().into(), b"1".to_vec().into()),
                (b"a".to_vec().into(), b"2".to_vec().into()),
                (b"b".to_vec().into(), b"\xffx".to_vec().into()),
            ],
            delivery_count: None,
        };
        assert_eq!(e.field("a"), Some(&b"1"[..]));
        assert_eq!(e.text("b").as_deref(), Some("\u{fffd}x"));
        assert_eq!(e.field("c"), None);
    }
}
