//! Stream replies read straight from the RESP bytes Redis sent, for the connections of the
//! blocking read loops: [`Framer`] finds where one reply ends in what has arrived so far, and
//! [`stream_reply`] turns a whole `XREADGROUP` / `XREAD` reply into [`StreamEntry`]s whose
//! field values are slices of the reply's one buffer, so an entry costs two allocations (its
//! id and its field list) instead of the dozen a tree of Redis values costs.
//!
//! The decoder reads the shapes Redis sends for these commands (RESP2 and RESP3); anything
//! else ([`Decoded::Other`]: an error reply, a value of another type where a bulk string
//! stands) is left to redis-rs's parser and [`super::decode`], so both routes give the same
//! entries. The tests check that on generated replies, on mutated ones, and on real ones.

use bytes::Bytes;

use super::StreamEntry;

/// A reply that is not RESP: the connection it came from is out of step and must be dropped.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("malformed reply from Redis: {0}")]
pub(crate) struct Malformed(pub(crate) &'static str);

/// The longest header line accepted (type byte, a length, CRLF are a few dozen bytes; simple
/// strings and errors are short too): past it, bytes that never end a line are not waited for.
const MAX_LINE: usize = 64 * 1024;

/// Finds the end of the one reply at the start of a buffer as bytes arrive, without reading
/// again what it has already passed: it stops before an element that has not fully arrived
/// and goes on from there on the next call.
#[derive(Debug, Default)]
pub(crate) struct Framer {
    /// Where the next element starts.
    pos: usize,
    /// Elements still to pass before the reply is whole; 0 before the first call.
    pending: u64,
}

impl Framer {
    /// The length of the reply at the start of `buf` once all of it is there (`None`: wait
    /// for more bytes). `buf` must start with the same bytes on every call until a length is
    /// returned; then the framer is ready for the next reply.
    pub(crate) fn advance(&mut self, buf: &[u8]) -> Result<Option<usize>, Malformed> {
        if self.pos == 0 && self.pending == 0 {
            self.pending = 1;
        }
        while self.pending > 0 {
            let Some(rest) = buf.get(self.pos..) else {
                return Err(Malformed("buffer shorter than what was framed"));
            };
            let Some((len, adds)) = element(rest)? else {
                return Ok(None);
            };
            self.pos += len;
            // The element itself is done; what it contains is now pending.
            self.pending = (self.pending - 1)
                .checked_add(adds)
                .ok_or(Malformed("more elements than a reply could hold"))?;
        }
        let len = self.pos;
        *self = Self::default();
        Ok(Some(len))
    }
}

/// One element at the start of `b`: its length (header and, for a blob, body) and how many
/// elements it adds (its children; an attribute adds one more, the value it annotates).
/// `None` when it has not fully arrived.
fn element(b: &[u8]) -> Result<Option<(usize, u64)>, Malformed> {
    let Some((&kind, after)) = b.split_first() else {
        return Ok(None);
    };
    let Some(eol) = after.windows(2).position(|w| w == b"\r\n") else {
        if b.len() > MAX_LINE {
            return Err(Malformed("a header line without an end"));
        }
        return Ok(None);
    };
    let line = &after[..eol];
    let head = 1 + eol + 2;
    let count = |line: &[u8]| -> Result<Option<u64>, Malformed> {
        match number(line)? {
            -1 => Ok(None),
            n if n < 0 => Err(Malformed("negative length")),
            n => Ok(Some(n.unsigned_abs())),
        }
    };
    Ok(Some(match kind {
        b'+' | b'-' | b':' | b'_' | b'#' | b',' | b'(' => (head, 0),
        b'$' | b'!' | b'=' => match count(line)? {
            None => (head, 0),
            Some(n) => {
                let end = usize::try_from(n)
                    .ok()
                    .and_then(|n| head.checked_add(n)?.checked_add(2))
                    .ok_or(Malformed("blob too long"))?;
                if b.len() < end {
                    return Ok(None);
                }
                if &b[end - 2..end] != b"\r\n" {
                    return Err(Malformed("a blob not followed by CRLF"));
                }
                (end, 0)
            }
        },
        b'*' | b'~' | b'>' => (head, count(line)?.unwrap_or(0)),
        b'%' => (head, count(line)?.unwrap_or(0).saturating_mul(2)),
        b'|' => (
            head,
            count(line)?
                .unwrap_or(0)
                .saturating_mul(2)
                .saturating_add(1),
        ),
        _ => return Err(Malformed("unknown type byte")),
    }))
}

/// A length or count: `-1` or decimal digits, read by hand (every header of every reply
/// has one, and `str::parse` after a UTF-8 check cost several times as much).
fn number(line: &[u8]) -> Result<i64, Malformed> {
    const NOT_A_NUMBER: Malformed = Malformed("a length that is not a number");
    let (negative, digits) = match line.split_first() {
        Some((b'-', rest)) => (true, rest),
        _ => (false, line),
    };
    if digits.is_empty() {
        return Err(NOT_A_NUMBER);
    }
    let mut n: i64 = 0;
    for &d in digits {
        if !d.is_ascii_digit() {
            return Err(NOT_A_NUMBER);
        }
        n = n
            .checked_mul(10)
            .and_then(|n| n.checked_add(i64::from(d - b'0')))
            .ok_or(NOT_A_NUMBER)?;
    }
    Ok(if negative { -n } else { n })
}

/// A whole reply of the kinds write commands get (`+OK` and other simple strings, integers,
/// bulk strings, nils, arrays of these), as redis-rs's parser reads it, without its parser
/// (which costs thousands of instructions per reply to set up). `None` for anything else (an
/// error, a RESP3 type, a number not written plainly), which redis-rs's parser then reads.
pub(crate) fn simple_value(frame: &[u8]) -> Option<redis::Value> {
    let mut pos = 0;
    let value = simple_at(frame, &mut pos, 0)?;
    (pos == frame.len()).then_some(value)
}

/// How deep [`simple_value`] reads arrays in arrays.
const SIMPLE_DEPTH: usize = 8;

fn simple_at(b: &[u8], pos: &mut usize, depth: usize) -> Option<redis::Value> {
    use redis::Value;
    let (&kind, after) = b.get(*pos..)?.split_first()?;
    let eol = after.windows(2).position(|w| w == b"\r\n")?;
    let line = &after[..eol];
    *pos += 1 + eol + 2;
    match kind {
        b'+' => {
            let text = std::str::from_utf8(line).ok()?;
            Some(if text == "OK" {
                Value::Okay
            } else {
                Value::SimpleString(text.to_owned())
            })
        }
        b':' => number(line).ok().map(Value::Int),
        b'$' => match number(line).ok()? {
            -1 => Some(Value::Nil),
            n => {
                let end = pos.checked_add(usize::try_from(n).ok()?)?;
                if b.get(end..end.checked_add(2)?)? != b"\r\n" {
                    return None;
                }
                let bytes = b.get(*pos..end)?.to_vec();
                *pos = end + 2;
                Some(Value::BulkString(bytes))
            }
        },
        b'*' if depth < SIMPLE_DEPTH => match number(line).ok()? {
            -1 => Some(Value::Nil),
            n => {
                let n = usize::try_from(n).ok()?;
                let mut items = Vec::with_capacity(n.min(b.len() / 4));
                for _ in 0..n {
                    items.push(simple_at(b, pos, depth + 1)?);
                }
                Some(Value::Array(items))
            }
        },
        _ => None,
    }
}

/// What [`stream_reply`] made of a reply.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Decoded {
    /// The entries, over every stream the reply names (none when the `BLOCK` timed out).
    Entries(Vec<StreamEntry>),
    /// Not the shape of a stream reply as Redis sends it (an error reply, say): decode it the
    /// general way.
    Other,
}

/// Decodes a whole `XREADGROUP` / `XREAD` reply, as [`Framer`] cut it.
pub(crate) fn stream_reply(frame: &Bytes) -> Decoded {
    let mut r = Reader { frame, pos: 0 };
    match r.entries_of_streams() {
        Some(entries) if r.pos == frame.len() => Decoded::Entries(entries),
        _ => Decoded::Other,
    }
}

/// A cursor over a framed reply; every step answers `None` for a shape it does not read.
struct Reader<'a> {
    frame: &'a Bytes,
    pos: usize,
}

/// A header: its type byte and the number on its line (0 for types without one).
#[derive(Clone, Copy)]
struct Head {
    kind: u8,
    n: i64,
}

impl Head {
    fn is_nil(self) -> bool {
        matches!((self.kind, self.n), (b'*' | b'$', -1) | (b'_', _))
    }

    /// The number of items of an array (`*`) or pairs of a map (`%`).
    fn items(self, kind: u8) -> Option<usize> {
        (self.kind == kind).then(|| usize::try_from(self.n).ok())?
    }
}

impl Reader<'_> {
    fn head(&mut self) -> Option<Head> {
        let rest = self.frame.get(self.pos..)?;
        let (&kind, after) = rest.split_first()?;
        let eol = after.windows(2).position(|w| w == b"\r\n")?;
        let n = match kind {
            b'*' | b'%' | b'$' => number(&after[..eol]).ok()?,
            b'_' if eol == 0 => 0,
            _ => return None,
        };
        self.pos += 1 + eol + 2;
        Some(Head { kind, n })
    }

    /// A bulk string's bytes, as a slice of the frame.
    fn bulk(&mut self) -> Option<Bytes> {
        let h = self.head()?;
        let len = usize::try_from(h.n).ok().filter(|_| h.kind == b'$')?;
        let end = self.pos.checked_add(len)?;
        if self.frame.get(end..end.checked_add(2)?)? != b"\r\n" {
            return None;
        }
        let value = self.frame.slice(self.pos..end);
        self.pos = end + 2;
        Some(value)
    }

    /// The top level: nil, `[[key, entries], ...]` (RESP2) or `{key: entries, ...}` (RESP3).
    fn entries_of_streams(&mut self) -> Option<Vec<StreamEntry>> {
        let h = self.head()?;
        if h.is_nil() {
            return Some(Vec::new());
        }
        let (streams, rows) = match (h.items(b'*'), h.items(b'%')) {
            (Some(n), _) => (n, true),
            (_, Some(n)) => (n, false),
            _ => return None,
        };
        let mut out = Vec::new();
        for _ in 0..streams {
            if rows && self.head()?.items(b'*')? != 2 {
                return None;
            }
            self.bulk()?; // the stream's key
            self.entries(&mut out)?;
        }
        Some(out)
    }

    /// One stream's entries (nil: none); an entry that is nil is skipped.
    fn entries(&mut self, out: &mut Vec<StreamEntry>) -> Option<()> {
        let h = self.head()?;
        if h.is_nil() {
            return Some(());
        }
        let n = h.items(b'*')?;
        out.reserve(n.min(self.frame.len() / 8));
        for _ in 0..n {
            let h = self.head()?;
            if h.is_nil() {
                continue;
            }
            if h.items(b'*')? != 2 {
                return None;
            }
            let id = std::str::from_utf8(&self.bulk()?).ok()?.to_owned();
            let fields = self.fields()?;
            out.push(StreamEntry {
                id,
                fields,
                delivery_count: None,
            });
        }
        Some(())
    }

    /// An entry's fields: `[k, v, ...]` or `{k: v, ...}`; nil (an entry deleted while
    /// pending) is none.
    fn fields(&mut self) -> Option<Vec<(Bytes, Bytes)>> {
        let h = self.head()?;
        if h.is_nil() {
            return Some(Vec::new());
        }
        let pairs = match (h.items(b'*'), h.items(b'%')) {
            (Some(n), _) if n % 2 == 0 => n / 2,
            (_, Some(n)) => n,
            _ => return None,
        };
        let mut fields = Vec::with_capacity(pairs.min(self.frame.len() / 8));
        for _ in 0..pairs {
            let k = self.bulk()?;
            let v = self.bulk()?;
            fields.push((k, v));
        }
        Some(fields)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::stream::decode::ReadReply;
    use proptest::prelude::*;
    use redis::FromRedisValue;

    /// A RESP value as the tests write it.
    #[derive(Debug, Clone)]
    enum V {
        Bulk(Vec<u8>),
        Simple(String),
        Error(String),
        Int(i64),
        /// `*-1`, `$-1` (RESP2) or `_` (RESP3).
        Nil(u8),
        Array(Vec<V>),
        Map(Vec<(V, V)>),
        Verbatim(String),
        Bool(bool),
        Set(Vec<V>),
        Attribute(Vec<(V, V)>, Box<V>),
    }

    fn write(v: &V, out: &mut Vec<u8>) {
        let mut line = |kind: char, text: &str| {
            out.extend_from_slice(format!("{kind}{text}\r\n").as_bytes());
        };
        match v {
            V::Bulk(b) => {
                line('$', &b.len().to_string());
                out.extend_from_slice(b);
                out.extend_from_slice(b"\r\n");
            }
            V::Simple(s) => line('+', s),
            V::Error(s) => line('-', s),
            V::Int(i) => line(':', &i.to_string()),
            V::Nil(b'*') => line('*', "-1"),
            V::Nil(b'$') => line('$', "-1"),
            V::Nil(_) => line('_', ""),
            V::Array(items) | V::Set(items) => {
                line(
                    if matches!(v, V::Set(_)) { '~' } else { '*' },
                    &items.len().to_string(),
                );
                items.iter().for_each(|i| write(i, out));
            }
            V::Map(pairs) | V::Attribute(pairs, _) => {
                line(
                    if matches!(v, V::Map(_)) { '%' } else { '|' },
                    &pairs.len().to_string(),
                );
                for (k, v) in pairs {
                    write(k, out);
                    write(v, out);
                }
                if let V::Attribute(_, value) = v {
                    write(value, out);
                }
            }
            V::Verbatim(s) => {
                line('=', &(s.len() + 4).to_string());
                out.extend_from_slice(format!("txt:{s}\r\n").as_bytes());
            }
            V::Bool(b) => line('#', if *b { "t" } else { "f" }),
        }
    }

    fn bytes_of(v: &V) -> Vec<u8> {
        let mut out = Vec::new();
        write(v, &mut out);
        out
    }

    fn bulk(s: &str) -> V {
        V::Bulk(s.as_bytes().to_vec())
    }

    /// The entries redis-rs's parser and our value decoder make of `frame`.
    fn by_redis_rs(frame: &[u8]) -> redis::RedisResult<Vec<StreamEntry>> {
        let value = redis::parse_redis_value(frame)?.extract_error()?;
        Ok(ReadReply::from_redis_value(value)?.0)
    }

    fn frame_all(buf: &[u8]) -> Result<Option<usize>, Malformed> {
        Framer::default().advance(buf)
    }

    /// Any value, nested a few levels.
    fn any_value() -> impl Strategy<Value = V> {
        let leaf = prop_oneof![
            proptest::collection::vec(any::<u8>(), 0..12).prop_map(V::Bulk),
            "[a-z ]{0,8}".prop_map(V::Simple),
            "[A-Z]{1,6} [a-z]{0,6}".prop_map(V::Error),
            any::<i64>().prop_map(V::Int),
            prop_oneof![Just(b'*'), Just(b'$'), Just(b'_')].prop_map(V::Nil),
            "[a-z]{0,8}".prop_map(V::Verbatim),
            any::<bool>().prop_map(V::Bool),
        ];
        leaf.prop_recursive(4, 32, 4, |inner| {
            prop_oneof![
                proptest::collection::vec(inner.clone(), 0..4).prop_map(V::Array),
                proptest::collection::vec(inner.clone(), 0..4).prop_map(V::Set),
                proptest::collection::vec((inner.clone(), inner.clone()), 0..3).prop_map(V::Map),
                (
                    proptest::collection::vec((inner.clone(), inner.clone()), 0..2),
                    inner
                )
                    .prop_map(|(a, v)| V::Attribute(a, Box::new(v))),
            ]
        })
    }

    /// A bulk string most of the time, now and then any value.
    fn mostly(bulk: impl Strategy<Value = V> + 'static) -> BoxedStrategy<V> {
        prop_oneof![20 => bulk, 1 => any_value()].boxed()
    }

    fn field_bytes() -> impl Strategy<Value = V> {
        prop_oneof![
            "[a-z-]{0,12}".prop_map(|s| V::Bulk(s.into_bytes())),
            proptest::collection::vec(any::<u8>(), 0..40).prop_map(V::Bulk),
        ]
    }

    /// A stream reply as Redis sends it (RESP2 rows or a RESP3 map), with now and then a
    /// value of another type where a bulk string stands, or a nil.
    fn stream_reply_value() -> impl Strategy<Value = V> {
        let id = mostly(prop_oneof![
            (0u64..u64::MAX, 0u64..5).prop_map(|(ms, seq)| bulk(&format!("{ms}-{seq}"))),
            Just(V::Bulk(vec![0xff, b'-', b'1'])),
        ]);
        let fields = prop_oneof![
            12 => proptest::collection::vec((mostly(field_bytes()), mostly(field_bytes())), 0..5)
                .prop_map(|p| V::Array(p.into_iter().flat_map(|(k, v)| [k, v]).collect())),
            2 => proptest::collection::vec((field_bytes(), field_bytes()), 0..4).prop_map(V::Map),
            1 => proptest::collection::vec(field_bytes(), 1..4).prop_map(V::Array),
            1 => prop_oneof![Just(b'*'), Just(b'$'), Just(b'_')].prop_map(V::Nil),
        ];
        let entry = prop_oneof![
            20 => (id, fields).prop_map(|(id, f)| V::Array(vec![id, f])),
            1 => Just(V::Nil(b'*')),
            1 => any_value(),
        ];
        let entries = prop_oneof![
            20 => proptest::collection::vec(entry, 0..5).prop_map(V::Array),
            1 => Just(V::Nil(b'*')),
        ];
        let key = mostly("[a-z:]{1,12}".prop_map(|s| V::Bulk(s.into_bytes())));
        let streams = proptest::collection::vec((key, entries), 0..3);
        prop_oneof![
            10 => streams.clone().prop_map(|s| V::Array(
                s.into_iter().map(|(k, e)| V::Array(vec![k, e])).collect()
            )),
            5 => streams.prop_map(V::Map),
            1 => prop_oneof![Just(b'*'), Just(b'_')].prop_map(V::Nil),
            1 => "[A-Z]{3,8} [a-z ]{0,20}".prop_map(V::Error),
            1 => any_value(),
        ]
    }

    #[test]
    fn write_commands_replies_are_read_without_redis_rs() {
        let replies: [&[u8]; 7] = [
            b"+OK\r\n",
            b"+QUEUED\r\n",
            b":12\r\n",
            b"$15\r\n1765000000000-0\r\n",
            b"$-1\r\n",
            b"*-1\r\n",
            b"*3\r\n:1\r\n$1\r\nx\r\n*0\r\n",
        ];
        for frame in replies {
            assert_eq!(
                simple_value(frame),
                Some(redis::parse_redis_value(frame).unwrap()),
                "{}",
                String::from_utf8_lossy(frame)
            );
        }
        // Errors and RESP3 types are left to redis-rs.
        for frame in [&b"-ERR no\r\n"[..], b"_\r\n", b"#t\r\n", b"%0\r\n"] {
            assert_eq!(simple_value(frame), None);
        }
    }

    /// Write commands' replies as Redis sends them, and some it does not.
    fn write_reply() -> impl Strategy<Value = Vec<u8>> {
        prop_oneof![
            4 => any_value().prop_map(|v| bytes_of(&v)),
            1 => prop_oneof![
                Just(b"+OK\r\n".to_vec()),
                Just(b":007\r\n".to_vec()),
                Just(b":-0\r\n".to_vec()),
                Just(b": 5\r\n".to_vec()),
                Just(b":+5\r\n".to_vec()),
                Just(b"$-2\r\n".to_vec()),
                Just(b"*-1\r\n".to_vec()),
                Just(b"$3\r\nab\r\n\r\n".to_vec()),
                Just(b"+\xff\r\n".to_vec()),
                Just(b"*1\r\n:1\r\n:2\r\n".to_vec()),
            ],
        ]
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(2000))]

        #[test]
        fn simple_replies_are_read_as_redis_rs_reads_them(frame in write_reply()) {
            if let Some(ours) = simple_value(&frame) {
                let theirs = redis::parse_redis_value(&frame);
                prop_assert_eq!(Some(ours), theirs.ok(), "{:?}", String::from_utf8_lossy(&frame));
            }
        }

        /// Entries decoded from the bytes are the entries redis-rs's route gives; a reply the
        /// fast decoder leaves aside goes that route anyway.
        #[test]
        fn the_decoder_agrees_with_redis_rs(v in stream_reply_value()) {
            let bytes = bytes_of(&v);
            let frame = Bytes::from(bytes.clone());
            match stream_reply(&frame) {
                Decoded::Entries(fast) => {
                    let slow = by_redis_rs(&bytes);
                    prop_assert!(slow.is_ok(), "{v:?}: redis-rs failed: {slow:?}");
                    prop_assert_eq!(fast, slow.unwrap());
                }
                Decoded::Other => {}
            }
        }

        /// The framer finds the end of every value, whatever follows it and however the bytes
        /// arrive; before the end it waits, as redis-rs cannot parse a part either.
        #[test]
        fn the_framer_finds_every_end(
            v in prop_oneof![stream_reply_value(), any_value()],
            tail in proptest::collection::vec(any::<u8>(), 0..8),
            cuts in proptest::collection::vec(any::<prop::sample::Index>(), 0..4),
        ) {
            let value = bytes_of(&v);
            prop_assert!(redis::parse_redis_value(&value).is_ok(), "{v:?}");
            let mut buf = value.clone();
            buf.extend_from_slice(&tail);
            let mut ends: Vec<usize> = cuts.iter().map(|c| c.index(buf.len() + 1)).collect();
            ends.sort_unstable();
            ends.push(buf.len());
            let mut framer = Framer::default();
            let mut found = None;
            for end in ends {
                if let Some(len) = framer.advance(&buf[..end]).unwrap() {
                    found = Some(len);
                    break;
                }
                prop_assert!(end < value.len(), "waited past the end at {end}");
            }
            prop_assert_eq!(found, Some(value.len()));
            let cut = value.len() / 2;
            prop_assert_eq!(frame_all(&value[..cut]), Ok(None));
            prop_assert!(redis::parse_redis_value(&value[..cut]).is_err());
        }

        /// Damaged bytes: no panic, and whatever the fast decoder still reads as entries,
        /// redis-rs reads as the same entries.
        #[test]
        fn damaged_replies_are_never_misread(
            v in stream_reply_value(),
            at in any::<prop::sample::Index>(),
            byte in any::<u8>(),
            how in 0u8..3,
        ) {
            let mut bytes = bytes_of(&v);
            let i = at.index(bytes.len().max(1));
            match how {
                0 if !bytes.is_empty() => bytes[i] = byte,
                1 => bytes.truncate(i),
                _ => bytes.insert(i.min(bytes.len()), byte),
            }
            if let Ok(Some(len)) = frame_all(&bytes) {
                let frame = Bytes::copy_from_slice(&bytes[..len]);
                if let Decoded::Entries(fast) = stream_reply(&frame) {
                    let slow = by_redis_rs(&frame);
                    prop_assert!(slow.is_ok(), "{bytes:?}: redis-rs failed: {slow:?}");
                    prop_assert_eq!(fast, slow.unwrap());
                }
            }
        }
    }

    /// Stream replies as Redis shapes them are all read by the fast decoder.
    #[test]
    fn the_shapes_redis_sends_are_read_from_bytes() {
        let entry = |id: &str, fields: &[&str]| {
            V::Array(vec![
                bulk(id),
                V::Array(fields.iter().map(|f| bulk(f)).collect()),
            ])
        };
        let entries = V::Array(vec![
            entry("1-0", &["type", "rpc", "envelope", "{\"id\":1}"]),
            V::Nil(b'*'),
            V::Array(vec![bulk("2-0"), V::Nil(b'*')]),
            entry("3-0", &["", ""]),
        ]);
        let resp2 = V::Array(vec![V::Array(vec![bulk("p:cmds:a"), entries.clone()])]);
        let resp3 = V::Map(vec![(bulk("p:cmds:a"), entries)]);
        for v in [resp2, resp3] {
            let frame = Bytes::from(bytes_of(&v));
            let Decoded::Entries(got) = stream_reply(&frame) else {
                panic!("left aside: {v:?}")
            };
            assert_eq!(got, by_redis_rs(&frame).unwrap());
            let ids: Vec<_> = got.iter().map(|e| e.id.as_str()).collect();
            assert_eq!(ids, ["1-0", "2-0", "3-0"]);
            assert_eq!(got[0].field("envelope"), Some(&b"{\"id\":1}"[..]));
            assert!(got[1].fields.is_empty());
        }
        for nil in [&b"*-1\r\n"[..], b"_\r\n", b"*0\r\n"] {
            assert_eq!(
                stream_reply(&Bytes::from_static(nil)),
                Decoded::Entries(vec![])
            );
        }
        for other in [
            &b"-NOGROUP no such group\r\n"[..],
            b":1\r\n",
            b"*1\r\n*2\r\n$1\r\nk\r\n$1\r\nx\r\n",
        ] {
            assert_eq!(
                stream_reply(&Bytes::from_static(other)),
                Decoded::Other,
                "{other:?}"
            );
        }
    }

    #[test]
    fn lengths_are_decimal_digits_with_an_optional_minus() {
        for text in ["0", "7", "-1", "-12", "9223372036854775807", "007"] {
            assert_eq!(number(text.as_bytes()), Ok(text.parse().unwrap()), "{text}");
        }
        for bad in ["", "-", "+1", "1 ", "x", "9223372036854775808", "1-"] {
            assert!(number(bad.as_bytes()).is_err(), "{bad}");
        }
    }

    #[test]
    fn the_framer_refuses_what_is_not_resp() {
        assert_eq!(frame_all(b"?3\r\n"), Err(Malformed("unknown type byte")));
        assert_eq!(
            frame_all(b"$3\r\nabcd\r\n"),
            Err(Malformed("a blob not followed by CRLF"))
        );
        assert_eq!(
            frame_all(b"*x\r\n"),
            Err(Malformed("a length that is not a number"))
        );
        assert_eq!(frame_all(b"*-2\r\n"), Err(Malformed("negative length")));
        assert_eq!(
            frame_all(&[b'+'; MAX_LINE + 2]),
            Err(Malformed("a header line without an end"))
        );
        // A count no reply could have is waited for, not allocated.
        assert_eq!(frame_all(b"*9223372036854775807\r\n:1\r\n"), Ok(None));
        assert_eq!(frame_all(b"|1\r\n+a\r\n+b\r\n:7\r\n"), Ok(Some(16)));
        // Counts that would overflow the framer's tally are refused, not wrapped.
        assert_eq!(
            frame_all(b"*2\r\n|9223372036854775807\r\n"),
            Err(Malformed("more elements than a reply could hold"))
        );
    }
}
