//! JSON-RPC 2.0 envelopes as clamator puts them on the wire.
//!
//! Parsing follows clamator's `parseEnvelope` and is lenient where peers differ:
//! hyphenated method names (sent by Python clients), `params: null` or missing → `{}`, any
//! JSON number spelling (`5`, `5.0`). Building is conservative and byte-compatible with the
//! TypeScript peer: compact JSON, keys in clamator's order, `data` always present in errors.

use std::fmt;
use std::sync::OnceLock;

use serde::ser::{SerializeMap, Serializer};
use serde::{Deserialize, Serialize};
use serde_json::value::RawValue;
use serde_json::{Map, Number, Value};

use crate::error::{codes, RpcError};
use crate::names;

/// A request id: a string (clamator clients send UUID v4 strings) or an integer.
///
/// Correlation uses the id's text ([`RpcId::key`]), as clamator's `String(id)` does.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum RpcId {
    /// A string id.
    Str(String),
    /// An integer id (held as a JSON number so `u64` and `i64` both round-trip).
    Int(Number),
    /// An integer id beyond 64 bits, kept as its decimal text so that the reply echoes it
    /// digit for digit, as a Python peer (whose integers have no bound) does.
    BigInt(String),
}

impl RpcId {
    /// A fresh UUID v4 string id, the kind clamator clients generate.
    pub fn new_uuid() -> Self {
        Self::Str(uuid::Uuid::new_v4().to_string())
    }

    /// The correlation key: the string itself, or the number's decimal text.
    pub fn key(&self) -> String {
        match self {
            Self::Str(s) => s.clone(),
            Self::Int(n) => n.to_string(),
            Self::BigInt(text) => text.clone(),
        }
    }

    /// Interprets a JSON value as an id: strings and integers are ids; `null`, booleans,
    /// fractional numbers, arrays and objects are not.
    pub fn from_value(v: &Value) -> Option<Self> {
        match v {
            Value::String(s) => Some(Self::Str(s.clone())),
            Value::Number(n) if n.is_i64() || n.is_u64() => Some(Self::Int(n.clone())),
            _ => None,
        }
    }
}

impl fmt::Display for RpcId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Str(s) => f.write_str(s),
            Self::Int(n) => write!(f, "{n}"),
            Self::BigInt(text) => f.write_str(text),
        }
    }
}

impl From<&str> for RpcId {
    fn from(s: &str) -> Self {
        Self::Str(s.to_owned())
    }
}

impl From<String> for RpcId {
    fn from(s: String) -> Self {
        Self::Str(s)
    }
}

impl From<i64> for RpcId {
    fn from(n: i64) -> Self {
        Self::Int(n.into())
    }
}

impl Serialize for RpcId {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        match self {
            Self::Str(v) => s.serialize_str(v),
            Self::Int(n) => n.serialize(s),
            // The digits were checked when the id was read, so they are a valid JSON number.
            Self::BigInt(text) => match serde_json::value::RawValue::from_string(text.clone()) {
                Ok(raw) => raw.serialize(s),
                Err(_) => s.serialize_str(text),
            },
        }
    }
}

impl<'de> Deserialize<'de> for RpcId {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let v = Value::deserialize(d)?;
        Self::from_value(&v)
            .ok_or_else(|| serde::de::Error::custom("id must be a string or an integer"))
    }
}

/// A JSON value of an envelope (a request's params, a reply's result): the text it came as,
/// read into a [`Value`] only when something asks for one.
///
/// A generated service's typed path decodes its params type straight from the text, and a
/// generated client its result type; every other reader sees a `Value` ([`Json::value`], or
/// through `Deref`), parsed once.
///
/// ```
/// use clamator_protocol::envelope::{parse_envelope, Envelope, Json};
/// let env = parse_envelope(br#"{"jsonrpc":"2.0","method":"a.b","params":{"n": 1},"id":1}"#).unwrap();
/// let Envelope::Request(req) = env else { panic!() };
/// assert_eq!(req.params.text(), Some(r#"{"n": 1}"#));
/// assert_eq!(req.params["n"], 1);
/// assert_eq!(Json::from(serde_json::json!({"n": 1})), req.params);
/// ```
#[derive(Clone)]
pub struct Json {
    /// The text, when the value came as text.
    text: Option<Box<RawValue>>,
    /// The value, once parsed (or as given).
    value: OnceLock<Value>,
}

impl Json {
    /// The JSON text the value came as; `None` when it was built from a [`Value`] (params
    /// that were absent or `null` on the wire are the value `{}`).
    pub fn text(&self) -> Option<&str> {
        self.text.as_deref().map(RawValue::get)
    }

    /// The value (parsed from the text on first use).
    pub fn value(&self) -> &Value {
        self.value.get_or_init(|| match &self.text {
            // Checked when read from the envelope: it reads as a `Value`.
            Some(text) => serde_json::from_str(text.get()).unwrap_or(Value::Null),
            None => Value::Null,
        })
    }

    /// The value, owned.
    pub fn into_value(self) -> Value {
        self.value();
        self.value.into_inner().unwrap_or(Value::Null)
    }

    /// A value of an envelope as its text. Refused when it would not read as a [`Value`]
    /// inside the envelope (a number out of range, a lone surrogate escape, nested deeper
    /// than 126), so that reading it later cannot fail and such an envelope is refused as it
    /// always was.
    pub(crate) fn from_text(text: Box<RawValue>) -> Option<Self> {
        reads_as_value(text.get()).then(|| Self {
            text: Some(text),
            value: OnceLock::new(),
        })
    }
}

/// How deep a value inside an envelope may nest: serde_json's limit of 128, less the
/// envelope's own object.
const MAX_MEMBER_DEPTH: usize = 126;

/// Whether `json` (text whose syntax serde_json has checked) reads as a [`Value`] inside an
/// envelope, as it did when envelopes were read whole: nested at most 126 deep, every number
/// in range, every `\u` escape a valid character. Capturing text checks its syntax only.
///
/// One quick look at the bytes settles nearly every text; numbers with large exponents or
/// hundreds of digits and escapes of surrogates are left to serde_json itself.
fn reads_as_value(json: &str) -> bool {
    match quick_read(json.as_bytes()) {
        Quick::Readable => true,
        Quick::TooDeep => false,
        Quick::Unsure => parses(json),
    }
}

/// What a look at the bytes says.
#[derive(Debug, PartialEq)]
enum Quick {
    Readable,
    TooDeep,
    Unsure,
}

/// The look: depth counted exactly, strings skipped to their end, numbers and escapes that
/// might not read flagged.
fn quick_read(b: &[u8]) -> Quick {
    let mut depth = 0usize;
    // Something serde_json must decide; the depth is still counted to the end.
    let mut unsure = false;
    let mut i = 0;
    while let Some(&c) = b.get(i) {
        match c {
            b'"' => loop {
                let Some(at) = memchr::memchr2(b'"', b'\\', b.get(i + 1..).unwrap_or_default())
                else {
                    return Quick::Unsure;
                };
                i += 1 + at;
                if b[i] == b'"' {
                    i += 1;
                    break;
                }
                // An escape: `\uD8..` to `\uDF..` (a surrogate) may not read alone. The
                // next search starts past the escaped character.
                unsure |= b.get(i + 1) == Some(&b'u')
                    && matches!(b.get(i + 2), Some(b'd' | b'D'))
                    && matches!(b.get(i + 3), Some(b'8'..=b'9' | b'a'..=b'f' | b'A'..=b'F'));
                i += 1;
            },
            b'[' | b'{' => {
                depth += 1;
                if depth > MAX_MEMBER_DEPTH {
                    return Quick::TooDeep;
                }
                i += 1;
            }
            b']' | b'}' => {
                depth = depth.saturating_sub(1);
                i += 1;
            }
            b'-' | b'0'..=b'9' => {
                let start = i;
                while b
                    .get(i)
                    .is_some_and(|c| matches!(c, b'-' | b'+' | b'.' | b'e' | b'E' | b'0'..=b'9'))
                {
                    i += 1;
                }
                unsure |= !surely_in_range(&b[start..i]);
            }
            _ => i += 1,
        }
    }
    if unsure {
        Quick::Unsure
    } else {
        Quick::Readable
    }
}

/// Whether a JSON number surely reads as an `f64` (or an integer): at most 300 characters,
/// an exponent of at most two digits, and under 1e300 in magnitude. Past that, serde_json
/// decides.
fn surely_in_range(number: &[u8]) -> bool {
    if number.len() > 300 {
        return false;
    }
    let digits = number.strip_prefix(b"-").unwrap_or(number);
    let whole = digits.iter().take_while(|c| c.is_ascii_digit()).count();
    let Some(e) = digits.iter().position(|c| matches!(c, b'e' | b'E')) else {
        return whole <= 300;
    };
    let exponent = &digits[e + 1..];
    let (negative, magnitude) = match exponent.split_first() {
        Some((b'-', rest)) => (true, rest),
        Some((b'+', rest)) => (false, rest),
        _ => (false, exponent),
    };
    if magnitude.len() > 2 {
        return false;
    }
    let value = magnitude
        .iter()
        .fold(0usize, |n, d| n * 10 + usize::from(d - b'0'));
    negative || whole + value <= 300
}

/// serde_json's own answer (the text is nested no deeper than [`MAX_MEMBER_DEPTH`] when it
/// is asked).
fn parses(json: &str) -> bool {
    struct Skip;
    impl<'de> serde::de::DeserializeSeed<'de> for Skip {
        type Value = ();
        fn deserialize<D: serde::Deserializer<'de>>(self, d: D) -> Result<(), D::Error> {
            d.deserialize_any(self)
        }
    }
    impl<'de> serde::de::Visitor<'de> for Skip {
        type Value = ();
        fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            f.write_str("a JSON value")
        }
        fn visit_unit<E>(self) -> Result<(), E> {
            Ok(())
        }
        fn visit_bool<E>(self, _: bool) -> Result<(), E> {
            Ok(())
        }
        fn visit_u64<E>(self, _: u64) -> Result<(), E> {
            Ok(())
        }
        fn visit_i64<E>(self, _: i64) -> Result<(), E> {
            Ok(())
        }
        fn visit_f64<E>(self, _: f64) -> Result<(), E> {
            Ok(())
        }
        fn visit_str<E>(self, _: &str) -> Result<(), E> {
            Ok(())
        }
        fn visit_seq<A: serde::de::SeqAccess<'de>>(self, mut seq: A) -> Result<(), A::Error> {
            while seq.next_element_seed(Skip)?.is_some() {}
            Ok(())
        }
        fn visit_map<A: serde::de::MapAccess<'de>>(self, mut map: A) -> Result<(), A::Error> {
            while map.next_key_seed(Skip)?.is_some() {
                map.next_value_seed(Skip)?;
            }
            Ok(())
        }
    }
    let mut de = serde_json::Deserializer::from_str(json);
    serde::de::DeserializeSeed::deserialize(Skip, &mut de).is_ok()
}

impl From<Value> for Json {
    fn from(value: Value) -> Self {
        Self {
            text: None,
            value: OnceLock::from(value),
        }
    }
}

impl std::ops::Deref for Json {
    type Target = Value;

    fn deref(&self) -> &Value {
        self.value()
    }
}

impl PartialEq for Json {
    fn eq(&self, other: &Self) -> bool {
        self.value() == other.value()
    }
}

impl PartialEq<Value> for Json {
    fn eq(&self, other: &Value) -> bool {
        self.value() == other
    }
}

impl fmt::Debug for Json {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(self.value(), f)
    }
}

impl Serialize for Json {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        match &self.text {
            Some(text) => text.serialize(s),
            None => self.value().serialize(s),
        }
    }
}

/// A request: a call that expects a reply.
#[derive(Debug, Clone, PartialEq)]
pub struct Request {
    /// The request id, echoed in the reply.
    pub id: RpcId,
    /// The service part of `method` (before the first dot).
    pub service: String,
    /// The method part of `method` (after the first dot).
    pub method: String,
    /// The params; `{}` when the envelope had none or `null`.
    pub params: Json,
}

/// A notification: a call without an id that is never answered.
#[derive(Debug, Clone, PartialEq)]
pub struct Notification {
    /// The service part of `method`.
    pub service: String,
    /// The method part of `method`.
    pub method: String,
    /// The params; `{}` when the envelope had none or `null`.
    pub params: Json,
}

/// A reply: the result of a request or its error.
#[derive(Debug, Clone, PartialEq)]
pub struct Response {
    /// The id of the request this answers; `None` (`null` on the wire) only for errors about
    /// requests whose id could not be read.
    pub id: Option<RpcId>,
    /// The result, or the JSON-RPC error.
    pub outcome: Result<Json, RpcError>,
}

/// Any envelope clamator puts on a stream.
#[derive(Debug, Clone, PartialEq)]
pub enum Envelope {
    /// A call expecting a reply.
    Request(Request),
    /// A call without reply.
    Notification(Notification),
    /// A success or error reply.
    Response(Response),
}

impl Envelope {
    /// The kind as clamator names it: `request`, `notification`, `success` or `error`.
    pub fn kind(&self) -> &'static str {
        match self {
            Self::Request(_) => "request",
            Self::Notification(_) => "notification",
            Self::Response(Response { outcome: Ok(_), .. }) => "success",
            Self::Response(Response {
                outcome: Err(_), ..
            }) => "error",
        }
    }
}

/// Why an envelope could not be parsed, with what could still be recovered from it.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("{code} {}: {reason}", if *.code == codes::PARSE_ERROR { "Parse error" } else { "Invalid Request" })]
pub struct EnvelopeError {
    /// [`codes::PARSE_ERROR`] (not JSON) or [`codes::INVALID_REQUEST`] (JSON, but not a valid
    /// envelope).
    pub code: i64,
    /// What was wrong, in clamator's words where it has some.
    pub reason: String,
    /// The request id, when one could be recovered, so the caller can still be answered.
    pub id: Option<RpcId>,
}

impl EnvelopeError {
    fn invalid(reason: impl Into<String>, id: Option<RpcId>) -> Self {
        Self {
            code: codes::INVALID_REQUEST,
            reason: reason.into(),
            id,
        }
    }

    /// The JSON-RPC error to answer with.
    pub fn to_rpc_error(&self) -> RpcError {
        if self.code == codes::PARSE_ERROR {
            RpcError::parse_error(self.reason.clone())
        } else {
            RpcError::invalid_request(self.reason.clone())
        }
    }
}

/// Parses one envelope from its JSON text (lenient: what any clamator peer may send is accepted).
///
/// ```
/// use clamator_protocol::envelope::{parse_envelope, Envelope};
/// let env = parse_envelope(br#"{"jsonrpc": "2.0", "method": "arith.add", "params": {"a": 5.0}, "id": 7}"#).unwrap();
/// let Envelope::Request(req) = env else { panic!() };
/// assert_eq!((req.service.as_str(), req.method.as_str()), ("arith", "add"));
/// assert_eq!(req.id.key(), "7");
/// ```
pub fn parse_envelope(bytes: &[u8]) -> Result<Envelope, EnvelopeError> {
    if let Some(members) = Members::read(bytes) {
        let big_id = big_id(members.id.as_ref().and_then(Member::other), bytes);
        return parse_members(members, big_id);
    }
    // Whatever the direct read does not take (not an object, repeated members, not JSON at
    // all) is read as a whole value, which gives every such case its error.
    parse_whole(bytes)
}

/// Parses an envelope by reading its text as one [`Value`] first.
fn parse_whole(bytes: &[u8]) -> Result<Envelope, EnvelopeError> {
    let value: Value = match serde_json::from_slice(bytes) {
        Ok(value) => value,
        Err(e) => {
            if e.to_string().starts_with("number out of range") {
                if let Some(parsed) = with_huge_id(bytes) {
                    return parsed;
                }
            }
            return Err(EnvelopeError {
                code: codes::PARSE_ERROR,
                reason: e.to_string(),
                id: recover_id(bytes),
            });
        }
    };
    let big_id = big_id(value.get("id"), bytes);
    parse_object(value, big_id)
}

/// An integer id beyond 64 bits decodes as a float, losing digits; its text is still in
/// `bytes`.
fn big_id(id: Option<&Value>, bytes: &[u8]) -> Option<RpcId> {
    match id {
        Some(Value::Number(n)) if n.is_f64() => match recover_id(bytes) {
            Some(RpcId::BigInt(text)) if text.parse::<f64>().ok() == n.as_f64() => {
                Some(RpcId::BigInt(text))
            }
            _ => None,
        },
        _ => None,
    }
}

/// Parses one envelope from an already decoded JSON value.
///
/// An integer id beyond 64 bits has already lost digits in a [`Value`]; such an id is
/// refused here, while [`parse_envelope`], which sees the text, keeps it exactly.
pub fn parse_envelope_value(value: Value) -> Result<Envelope, EnvelopeError> {
    parse_object(value, None)
}

/// The members of an envelope the parser reads, each `Some` when present (even as `null`).
/// Read straight from the text, they spare every envelope a map of its own and a copy of
/// each member's name; other members are skipped.
#[derive(Deserialize)]
struct Members<'a> {
    #[serde(borrow, default, deserialize_with = "member")]
    jsonrpc: Option<Member<'a>>,
    #[serde(borrow, default, deserialize_with = "member")]
    id: Option<Member<'a>>,
    #[serde(borrow, default, deserialize_with = "member")]
    method: Option<Member<'a>>,
    #[serde(default, deserialize_with = "params_text")]
    params: Option<Json>,
    #[serde(default, deserialize_with = "as_text")]
    result: Option<Json>,
    #[serde(default, deserialize_with = "present")]
    error: Option<Value>,
}

/// The params member, kept as text; `null` is `{}`, as an absent member.
fn params_text<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Option<Json>, D::Error> {
    let text = Box::<RawValue>::deserialize(d)?;
    if text.get() == "null" {
        return Ok(Some(Json::from(Value::Object(Map::new()))));
    }
    Json::from_text(text)
        .map(Some)
        .ok_or_else(|| serde::de::Error::custom("params do not read as a value"))
}

/// The params member as a value; `null` is `{}`, as an absent member.
fn params_value(params: Value) -> Json {
    match params {
        Value::Null => Json::from(Value::Object(Map::new())),
        p => Json::from(p),
    }
}

/// A member kept as text, `null` included.
fn as_text<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Option<Json>, D::Error> {
    let text = Box::<RawValue>::deserialize(d)?;
    Json::from_text(text)
        .map(Some)
        .ok_or_else(|| serde::de::Error::custom("value does not read as a value"))
}

/// A member that is there, `null` included (`Option`'s own rule would read `null` as absent).
fn present<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Option<Value>, D::Error> {
    Value::deserialize(d).map(Some)
}

/// `jsonrpc`, `id` or `method`: nearly always a string, read without a copy where the text
/// allows; anything else as a value.
#[derive(Debug)]
enum Member<'a> {
    Str(std::borrow::Cow<'a, str>),
    Other(Value),
}

impl<'a> Member<'a> {
    fn of(value: Value) -> Self {
        match value {
            Value::String(s) => Self::Str(s.into()),
            other => Self::Other(other),
        }
    }

    fn as_str(&self) -> Option<&str> {
        match self {
            Self::Str(s) => Some(s),
            Self::Other(_) => None,
        }
    }

    /// The value, when it is not a string.
    fn other(&self) -> Option<&Value> {
        match self {
            Self::Str(_) => None,
            Self::Other(v) => Some(v),
        }
    }

    fn is_null(&self) -> bool {
        matches!(self, Self::Other(Value::Null))
    }

    fn rpc_id(&self) -> Option<RpcId> {
        match self {
            Self::Str(s) => Some(RpcId::Str(s.clone().into_owned())),
            Self::Other(v) => RpcId::from_value(v),
        }
    }
}

impl<'de> Deserialize<'de> for Member<'de> {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct Visit;
        impl<'de> serde::de::Visitor<'de> for Visit {
            type Value = Member<'de>;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a JSON value")
            }
            fn visit_borrowed_str<E>(self, s: &'de str) -> Result<Member<'de>, E> {
                Ok(Member::Str(s.into()))
            }
            fn visit_str<E>(self, s: &str) -> Result<Member<'de>, E> {
                Ok(Member::Str(s.to_owned().into()))
            }
            fn visit_string<E>(self, s: String) -> Result<Member<'de>, E> {
                Ok(Member::Str(s.into()))
            }
            fn visit_unit<E>(self) -> Result<Member<'de>, E> {
                Ok(Member::Other(Value::Null))
            }
            fn visit_bool<E>(self, b: bool) -> Result<Member<'de>, E> {
                Ok(Member::Other(Value::Bool(b)))
            }
            fn visit_u64<E>(self, n: u64) -> Result<Member<'de>, E> {
                Ok(Member::Other(Value::from(n)))
            }
            fn visit_i64<E>(self, n: i64) -> Result<Member<'de>, E> {
                Ok(Member::Other(Value::from(n)))
            }
            fn visit_f64<E>(self, n: f64) -> Result<Member<'de>, E> {
                Ok(Member::Other(Value::from(n)))
            }
            fn visit_seq<A: serde::de::SeqAccess<'de>>(
                self,
                seq: A,
            ) -> Result<Member<'de>, A::Error> {
                Value::deserialize(serde::de::value::SeqAccessDeserializer::new(seq))
                    .map(Member::Other)
            }
            fn visit_map<A: serde::de::MapAccess<'de>>(
                self,
                map: A,
            ) -> Result<Member<'de>, A::Error> {
                Value::deserialize(serde::de::value::MapAccessDeserializer::new(map))
                    .map(Member::Other)
            }
        }
        d.deserialize_any(Visit)
    }
}

/// A [`Member`] that is there, `null` included.
fn member<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Option<Member<'de>>, D::Error> {
    Member::deserialize(d).map(Some)
}

/// [`Members`] with params and result read as values: for large envelopes.
#[derive(Deserialize)]
struct ValueMembers {
    #[serde(default, deserialize_with = "present")]
    jsonrpc: Option<Value>,
    #[serde(default, deserialize_with = "present")]
    id: Option<Value>,
    #[serde(default, deserialize_with = "present")]
    method: Option<Value>,
    #[serde(default, deserialize_with = "present")]
    params: Option<Value>,
    #[serde(default, deserialize_with = "present")]
    result: Option<Value>,
    #[serde(default, deserialize_with = "present")]
    error: Option<Value>,
}

/// Up to this size, an envelope keeps its params and result as text, for the typed path.
/// Keeping text costs one more read of it (the value is still read once more, into the typed
/// value or a [`Value`]), which the typed path saves many times over in allocations when
/// values are small; past a few KiB, mostly of long strings, reading the text twice costs
/// more than the copies a `Value` makes, so large envelopes are read into values at once.
const MAX_TEXT_ENVELOPE_BYTES: usize = 4096;

impl<'a> Members<'a> {
    /// The members of a JSON object without repeated members; `None` for anything else.
    fn read(bytes: &'a [u8]) -> Option<Self> {
        // Only an object: serde would also read a JSON array into the struct, by position.
        let first = bytes.iter().find(|b| !b.is_ascii_whitespace())?;
        if *first != b'{' {
            return None;
        }
        if bytes.len() <= MAX_TEXT_ENVELOPE_BYTES {
            return serde_json::from_slice(bytes).ok();
        }
        let m: ValueMembers = serde_json::from_slice(bytes).ok()?;
        Some(Self {
            jsonrpc: m.jsonrpc.map(Member::of),
            id: m.id.map(Member::of),
            method: m.method.map(Member::of),
            params: m.params.map(params_value),
            result: m.result.map(Json::from),
            error: m.error,
        })
    }

    fn take(mut obj: Map<String, Value>) -> Self {
        Self {
            jsonrpc: obj.remove("jsonrpc").map(Member::of),
            id: obj.remove("id").map(Member::of),
            method: obj.remove("method").map(Member::of),
            params: obj.remove("params").map(params_value),
            result: obj.remove("result").map(Json::from),
            error: obj.remove("error"),
        }
    }
}

fn parse_object(value: Value, big_id: Option<RpcId>) -> Result<Envelope, EnvelopeError> {
    match value {
        Value::Object(m) => parse_members(Members::take(m), big_id),
        Value::Array(_) => Err(EnvelopeError::invalid("batch requests not supported", None)),
        _ => Err(EnvelopeError::invalid("not an object", None)),
    }
}

fn parse_members(m: Members<'_>, big_id: Option<RpcId>) -> Result<Envelope, EnvelopeError> {
    let has_id = m.id.as_ref().is_some_and(|id| !id.is_null());
    let recovered = big_id.or_else(|| m.id.as_ref().and_then(Member::rpc_id));
    if m.jsonrpc.as_ref().and_then(Member::as_str) != Some("2.0") {
        return Err(EnvelopeError::invalid(
            "jsonrpc must equal \"2.0\"",
            recovered,
        ));
    }
    if let Some(full) = m.method.as_ref().and_then(Member::as_str) {
        let (service, method) =
            split_method(full).map_err(|r| EnvelopeError::invalid(r, recovered.clone()))?;
        let params = m
            .params
            .unwrap_or_else(|| Json::from(Value::Object(Map::new())));
        if !has_id {
            return Ok(Envelope::Notification(Notification {
                service,
                method,
                params,
            }));
        }
        let id =
            recovered.ok_or_else(|| EnvelopeError::invalid("id must be string or number", None))?;
        return Ok(Envelope::Request(Request {
            id,
            service,
            method,
            params,
        }));
    }
    let has_result = m.result.is_some();
    let has_error = m.error.is_some();
    match (has_result, has_error) {
        (true, false) => {
            if !has_id {
                return Err(EnvelopeError::invalid("response must have id", None));
            }
            let id = recovered
                .ok_or_else(|| EnvelopeError::invalid("id must be string or number", None))?;
            let result = m.result.unwrap_or_else(|| Json::from(Value::Null));
            Ok(Envelope::Response(Response {
                id: Some(id),
                outcome: Ok(result),
            }))
        }
        (false, true) => {
            let bad = || {
                EnvelopeError::invalid(
                    "error must have numeric code + string message",
                    recovered.clone(),
                )
            };
            let Some(Value::Object(mut err)) = m.error else {
                return Err(bad());
            };
            let code = err.get("code").and_then(integral).ok_or_else(bad)?;
            let Some(Value::String(message)) = err.remove("message") else {
                return Err(bad());
            };
            let data = err.remove("data").unwrap_or(Value::Null);
            Ok(Envelope::Response(Response {
                id: recovered,
                outcome: Err(RpcError::new(code, message).with_data(data)),
            }))
        }
        _ => Err(EnvelopeError::invalid(
            "envelope must be request, notification, or response",
            recovered,
        )),
    }
}

/// An error code written as an integer, or as a float with no fraction (Python may).
fn integral(v: &Value) -> Option<i64> {
    let n = v.as_number()?;
    if let Some(i) = n.as_i64() {
        return Some(i);
    }
    let f = n.as_f64()?;
    // The range check keeps the cast exact; codes outside i64 are not codes.
    (f.fract() == 0.0 && f.abs() < 9.0e15).then_some(f as i64)
}

fn split_method(full: &str) -> Result<(String, String), &'static str> {
    let Some((service, method)) = full.split_once('.') else {
        return Err("method must be \"<service>.<method>\"");
    };
    if service.is_empty() || method.is_empty() {
        return Err("method must be \"<service>.<method>\"");
    }
    if !names::is_valid_service(service) {
        return Err("invalid service segment");
    }
    if !names::is_acceptable_method(method) {
        return Err("invalid method segment");
    }
    Ok((service.to_owned(), method.to_owned()))
}

/// Best-effort recovery of the top-level `"id"` from text that is not valid JSON, so a
/// malformed request can still be answered. Only keys of the outermost object count (an
/// `"id"` inside `params` is not the request's), and only a plain string or an integer
/// literal is taken; anything doubtful gives `None`.
pub fn recover_id(bytes: &[u8]) -> Option<RpcId> {
    // Invalid UTF-8 elsewhere in the text (the very reason it did not parse, perhaps) must
    // not hide a readable id: its caller is owed a -32700.
    let text = String::from_utf8_lossy(bytes);
    let text = text.as_ref();
    id_literal(text.get(id_start(text)?..)?)
}

/// Where the value of the outermost object's `"id"` member starts in `text`.
fn id_start(text: &str) -> Option<usize> {
    let b = text.as_bytes();
    let mut depth = 0usize;
    let mut i = 0;
    while i < b.len() {
        match b[i] {
            b'{' | b'[' => depth += 1,
            b'}' | b']' => depth = depth.saturating_sub(1),
            b'"' => {
                let end = string_end(b, i + 1)?;
                let key = text.get(i + 1..end)?;
                i = end;
                if depth == 1 && key == "id" {
                    let after = text.get(end + 1..)?;
                    if let Some(value) = after.trim_start().strip_prefix(':') {
                        return Some(text.len() - value.trim_start().len());
                    }
                }
            }
            _ => {}
        }
        i += 1;
    }
    None
}

/// The most digits an integer id may have: what the Python peer reads (its `int` refuses
/// longer decimal text), far past what a float holds (309 digits).
const MAX_ID_DIGITS: usize = 4_300;

/// Reads an envelope whose integer id is too large for a float, which is what stops the
/// JSON reader (`number out of range`): the same text with the id written `0` is read, and
/// the id put back as its digits. `None` when the id is not such an integer, or when
/// something else in the text is out of range too.
fn with_huge_id(bytes: &[u8]) -> Option<Result<Envelope, EnvelopeError>> {
    let text = std::str::from_utf8(bytes).ok()?;
    let start = id_start(text)?;
    let Some(RpcId::BigInt(digits)) = id_literal(text.get(start..)?) else {
        return None;
    };
    if digits.trim_start_matches('-').len() > MAX_ID_DIGITS {
        return None;
    }
    let mut patched = Vec::with_capacity(bytes.len());
    patched.extend_from_slice(&bytes[..start]);
    patched.push(b'0');
    patched.extend_from_slice(bytes.get(start + digits.len()..)?);
    let id = RpcId::BigInt(digits);
    let mut parsed = parse_envelope(&patched);
    match &mut parsed {
        Ok(Envelope::Request(r)) => r.id = id,
        Ok(Envelope::Response(r)) => r.id = Some(id),
        Ok(Envelope::Notification(_)) => {}
        Err(e) if e.code == codes::PARSE_ERROR => return None,
        Err(e) => e.id = Some(id),
    }
    Some(parsed)
}

/// The index of the quote closing a string that starts at `start`.
fn string_end(b: &[u8], start: usize) -> Option<usize> {
    let mut i = start;
    while i < b.len() {
        match b[i] {
            b'\\' => i += 2,
            b'"' => return Some(i),
            _ => i += 1,
        }
    }
    None
}

fn id_literal(v: &str) -> Option<RpcId> {
    if let Some(s) = v.strip_prefix('"') {
        // Only plain strings: escapes would need a real decoder.
        let end = s.find(['"', '\\'])?;
        return (s.as_bytes()[end] == b'"').then(|| RpcId::Str(s[..end].to_owned()));
    }
    let end = v
        .char_indices()
        .find(|&(i, c)| !(c.is_ascii_digit() || (i == 0 && c == '-')))
        .map_or(v.len(), |(i, _)| i);
    // 1.5 or 1e3 is not an integer id; do not truncate it into one.
    if matches!(v[end..].chars().next(), Some('.' | 'e' | 'E')) {
        return None;
    }
    let digits = &v[..end];
    if let Ok(n) = digits.parse::<i64>() {
        return Some(RpcId::from(n));
    }
    if let Ok(n) = digits.parse::<u64>() {
        return Some(RpcId::Int(n.into()));
    }
    // Past 64 bits: keep the text, if it is a JSON integer (no leading zeros, some digits).
    let unsigned = digits.strip_prefix('-').unwrap_or(digits);
    let json_integer = !unsigned.is_empty() && !unsigned.starts_with('0');
    json_integer.then(|| RpcId::BigInt(digits.to_owned()))
}

/// Writes `"<service>.<method>"` without allocating the joined string first.
struct FullMethod<'a>(&'a str, &'a str);

impl Serialize for FullMethod<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(&format_args!("{}.{}", self.0, self.1))
    }
}

/// Encodes a request: `{"jsonrpc":"2.0","method":"<svc>.<m>","params":…,"id":…}`.
///
/// ```
/// use clamator_protocol::envelope::encode_request;
/// let json = encode_request("a", "b", &serde_json::json!({}), &"id1".into()).unwrap();
/// assert_eq!(json, r#"{"jsonrpc":"2.0","method":"a.b","params":{},"id":"id1"}"#);
/// ```
pub fn encode_request<P: Serialize + ?Sized>(
    service: &str,
    method: &str,
    params: &P,
    id: &RpcId,
) -> Result<String, serde_json::Error> {
    let mut out = Vec::with_capacity(128);
    let mut ser = serde_json::Serializer::new(&mut out);
    let mut map = ser.serialize_map(Some(4))?;
    map.serialize_entry("jsonrpc", "2.0")?;
    map.serialize_entry("method", &FullMethod(service, method))?;
    map.serialize_entry("params", params)?;
    map.serialize_entry("id", id)?;
    map.end()?;
    Ok(into_string(out))
}

/// Encodes a notification: `{"jsonrpc":"2.0","method":"<svc>.<m>","params":…}` (no `id` key).
pub fn encode_notification<P: Serialize + ?Sized>(
    service: &str,
    method: &str,
    params: &P,
) -> Result<String, serde_json::Error> {
    let mut out = Vec::with_capacity(128);
    let mut ser = serde_json::Serializer::new(&mut out);
    let mut map = ser.serialize_map(Some(3))?;
    map.serialize_entry("jsonrpc", "2.0")?;
    map.serialize_entry("method", &FullMethod(service, method))?;
    map.serialize_entry("params", params)?;
    map.end()?;
    Ok(into_string(out))
}

/// Encodes a success reply: `{"jsonrpc":"2.0","id":…,"result":…}`.
pub fn encode_success<R: Serialize + ?Sized>(
    id: &RpcId,
    result: &R,
) -> Result<String, serde_json::Error> {
    // The frame and a UUID id are 52 bytes: 128 holds a small result without growing the
    // buffer (a second allocation per reply at 64).
    let mut out = Vec::with_capacity(128);
    let mut ser = serde_json::Serializer::new(&mut out);
    let mut map = ser.serialize_map(Some(3))?;
    map.serialize_entry("jsonrpc", "2.0")?;
    map.serialize_entry("id", id)?;
    map.serialize_entry("result", result)?;
    map.end()?;
    Ok(into_string(out))
}

/// Encodes an error reply: `{"jsonrpc":"2.0","id":…|null,"error":{"code","message","data"}}`.
pub fn encode_error(id: Option<&RpcId>, error: &RpcError) -> String {
    let mut out = Vec::with_capacity(160);
    let mut ser = serde_json::Serializer::new(&mut out);
    // Serializing ids, strings, integers and a `Value` into a Vec cannot fail.
    let written = (|| {
        let mut map = ser.serialize_map(Some(3))?;
        map.serialize_entry("jsonrpc", "2.0")?;
        map.serialize_entry("id", &id)?;
        map.serialize_entry("error", error)?;
        map.end()
    })();
    debug_assert!(written.is_ok());
    into_string(out)
}

impl Response {
    /// Encodes this reply as its wire JSON.
    pub fn to_json(&self) -> String {
        match (&self.outcome, &self.id) {
            (Ok(result), Some(id)) => encode_success(id, result)
                .unwrap_or_else(|e| encode_error(Some(id), &RpcError::internal(&e))),
            (Ok(_), None) => encode_error(
                None,
                &RpcError::internal_with("ProtocolError", "success reply without id"),
            ),
            (Err(e), id) => encode_error(id.as_ref(), e),
        }
    }
}

fn into_string(bytes: Vec<u8>) -> String {
    // serde_json only writes valid UTF-8.
    String::from_utf8(bytes).unwrap_or_else(|e| String::from_utf8_lossy(e.as_bytes()).into_owned())
}

#[cfg(test)]
mod reads_as_value_tests {
    use super::*;
    use proptest::prelude::*;

    /// What reading the whole envelope said before member texts were kept: the member read
    /// as a `Value` inside an object.
    fn read_whole(text: &str) -> bool {
        serde_json::from_str::<Value>(&format!(r#"{{"p":{text}}}"#)).is_ok()
    }

    /// Pieces of JSON text, some that do not read as a `Value`.
    fn piece() -> impl Strategy<Value = String> {
        let leaf = prop_oneof![
            Just("0".to_owned()),
            Just("-12.5e-3".to_owned()),
            Just("1e308".to_owned()),
            Just("1.8e308".to_owned()),
            Just("1e999".to_owned()),
            Just("-1E+99".to_owned()),
            Just("1e-999".to_owned()),
            Just("17976931348623157".to_owned() + &"0".repeat(292)),
            Just("17976931348623159".to_owned() + &"0".repeat(292)),
            Just("1".to_owned() + &"0".repeat(400)),
            Just("1".to_owned() + &"0".repeat(250) + "e99"),
            Just("1".to_owned() + &"0".repeat(250) + "e-99"),
            Just("0.".to_owned() + &"0".repeat(400) + "1"),
            Just(r#""plain""#.to_owned()),
            Just(r#""a\"b\\""#.to_owned()),
            Just(r#""\ud83d\ude00""#.to_owned()),
            Just(r#""\ud83d""#.to_owned()),
            Just(r#""\ude00x""#.to_owned()),
            Just(r#""\uD800\u0041""#.to_owned()),
            Just(r#""\u00e9\\ud800""#.to_owned()),
            Just("true".to_owned()),
            Just("null".to_owned()),
        ];
        leaf.prop_recursive(4, 64, 4, |inner| {
            prop_oneof![
                proptest::collection::vec(inner.clone(), 0..4)
                    .prop_map(|v| format!("[{}]", v.join(","))),
                proptest::collection::vec(inner, 0..4).prop_map(|v| {
                    let members: Vec<String> = v
                        .iter()
                        .enumerate()
                        .map(|(i, x)| format!(r#""k{i}":{x}"#))
                        .collect();
                    format!("{{{}}}", members.join(","))
                }),
            ]
        })
    }

    proptest! {
        #![proptest_config(ProptestConfig { cases: 2000, ..ProptestConfig::default() })]

        #[test]
        fn the_quick_look_reads_as_the_whole_envelope_did(inner in piece(), depth in 0usize..140) {
            let text = format!("{}{inner}{}", "[".repeat(depth), "]".repeat(depth));
            prop_assert_eq!(reads_as_value(&text), read_whole(&text), "{}", &text[..text.len().min(200)]);
        }
    }

    #[test]
    fn small_envelopes_keep_their_text_and_large_ones_are_read_into_values() {
        let small = br#"{"jsonrpc":"2.0","method":"a.b","params":{"t":"x"},"id":1}"#;
        let Ok(Envelope::Request(r)) = parse_envelope(small) else {
            panic!()
        };
        assert_eq!(r.params.text(), Some(r#"{"t":"x"}"#));
        let text = "x".repeat(MAX_TEXT_ENVELOPE_BYTES);
        let large =
            format!(r#"{{"jsonrpc":"2.0","method":"a.b","params":{{"t":"{text}"}},"id":1}}"#);
        let Ok(Envelope::Request(r)) = parse_envelope(large.as_bytes()) else {
            panic!()
        };
        assert_eq!(
            (r.params.text(), r.params["t"].as_str()),
            (None, Some(text.as_str()))
        );
        let reply = format!(r#"{{"jsonrpc":"2.0","id":1,"result":"{text}"}}"#);
        let Ok(Envelope::Response(r)) = parse_envelope(reply.as_bytes()) else {
            panic!()
        };
        assert!(r.outcome.unwrap().text().is_none());
    }

    #[test]
    fn depth_is_counted_as_inside_an_envelope() {
        for depth in [125, 126, 127, 128] {
            let text = format!("{}{}", "[".repeat(depth), "]".repeat(depth));
            assert_eq!(reads_as_value(&text), read_whole(&text), "{depth}");
        }
        assert!(reads_as_value(&format!(
            "{}{}",
            "[".repeat(126),
            "]".repeat(126)
        )));
        assert!(!reads_as_value(&format!(
            "{}{}",
            "[".repeat(127),
            "]".repeat(127)
        )));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn parse(s: &str) -> Result<Envelope, EnvelopeError> {
        parse_envelope(s.as_bytes())
    }

    #[test]
    fn reading_members_directly_agrees_with_reading_the_whole_value() {
        let cases: &[&[u8]] = &[
            br#"{"jsonrpc":"2.0","method":"arith.add","params":{"b":2,"a":1},"id":7}"#,
            br#"  {"id":"x","params":[1,2],"method":"a.b","jsonrpc":"2.0","extra":{"deep":[1]}}"#,
            br#"{"jsonrpc":"2.0","method":"a.b","params":null}"#,
            br#"{"jsonrpc":"2.0","method":"a.b","id":null}"#,
            br#"{"jsonrpc":"2.0","method":"a.b","id":1.5}"#,
            br#"{"jsonrpc":"2.0","method":"a.b","id":true}"#,
            br#"{"jsonrpc":"2.0","method":"a.b","id":123456789012345678901234567890}"#,
            br#"{"jsonrpc":"2.0","method":"ab","id":1}"#,
            br#"{"jsonrpc":"2.0","method":7,"id":1}"#,
            br#"{"jsonrpc":"1.0","method":"a.b","id":1}"#,
            br#"{"jsonrpc":null,"method":"a.b","id":1}"#,
            br#"{"method":"a.b","id":1}"#,
            br#"{"jsonrpc":"2.0","method":"a.b","id":1,"id":2}"#,
            br#"{"jsonrpc":"2.0","method":"a.b","method":"c.d","id":1}"#,
            br#"{"jsonrpc":"2.0","x":1,"x":2,"method":"a.b","id":1}"#,
            br#"{"\u006asonrpc":"2.0","method":"a.b","id":"\u0041"}"#,
            br#"{"jsonrpc":"2.0","result":null,"id":3}"#,
            br#"{"jsonrpc":"2.0","result":{"sum":3},"id":"r"}"#,
            br#"{"jsonrpc":"2.0","result":1}"#,
            br#"{"jsonrpc":"2.0","result":1,"error":{"code":1,"message":"m"},"id":1}"#,
            br#"{"jsonrpc":"2.0","error":{"code":-32000.0,"message":"m","data":[1]},"id":1}"#,
            br#"{"jsonrpc":"2.0","error":{"code":"1","message":"m"},"id":1}"#,
            br#"{"jsonrpc":"2.0","error":null,"id":1}"#,
            br#"{"jsonrpc":"2.0","id":1}"#,
            br#"[{"jsonrpc":"2.0","method":"a.b","id":1}]"#,
            br#"["2.0",1,"a.b"]"#,
            br#""{}""#,
            b"42",
            b"null",
            b"",
            b"   ",
            br#"{"jsonrpc":"2.0","method":"a.b","id":1"#,
            br#"{"jsonrpc":"2.0","method":"a.b","id":1} trailing"#,
            br#"{"jsonrpc":"2.0","method":"a.b","id":"\ud800"}"#,
            br#"{"jsonrpc":"2\u002e0","method":"a.\u0062","id":"x\"y","params":{"k":[1]}}"#,
            br#"{"jsonrpc":"2.0","method":["a.b"],"id":{"x":1}}"#,
            br#"{"jsonrpc":2.0,"method":"a.b","id":1.5}"#,
            br#"{"jsonrpc":"2.0","method":"a.b","id":null,"params":null}"#,
            b"{\"jsonrpc\":\"2.0\",\"method\":\"a.b\",\"id\":\"\xff\"}",
        ];
        for case in cases {
            assert_eq!(
                parse_envelope(case),
                parse_whole(case),
                "{}",
                String::from_utf8_lossy(case)
            );
        }
        // Past serde_json's nesting limit (128) in a member we read: refused alike.
        let nested = |levels: usize| format!("{}1{}", "[".repeat(levels), "]".repeat(levels));
        let deep_params = format!(
            r#"{{"jsonrpc":"2.0","method":"a.b","id":1,"params":{}}}"#,
            nested(200)
        );
        assert_eq!(parse(&deep_params), parse_whole(deep_params.as_bytes()));
        assert_eq!(parse(&deep_params).unwrap_err().code, codes::PARSE_ERROR);
        // In a member nobody reads, depth is only skipped over (without recursion), as the
        // Python and JavaScript parsers of clamator's peers would: the envelope is read.
        let deep_extra = format!(
            r#"{{"jsonrpc":"2.0","method":"a.b","id":1,"x":{}}}"#,
            nested(100_000)
        );
        assert_eq!(parse(&deep_extra).unwrap().kind(), "request");
    }

    #[test]
    fn classifies_the_four_kinds() {
        let Envelope::Request(r) =
            parse(r#"{"jsonrpc":"2.0","method":"engine.launch","params":{},"id":"abc"}"#).unwrap()
        else {
            panic!("not a request")
        };
        assert_eq!(
            (r.service.as_str(), r.method.as_str()),
            ("engine", "launch")
        );
        assert_eq!(r.id, RpcId::from("abc"));
        assert_eq!(
            parse(r#"{"jsonrpc":"2.0","method":"engine.launch"}"#)
                .unwrap()
                .kind(),
            "notification"
        );
        assert_eq!(
            parse(r#"{"jsonrpc":"2.0","method":"engine.launch","id":null}"#)
                .unwrap()
                .kind(),
            "notification"
        );
        assert_eq!(
            parse(r#"{"jsonrpc":"2.0","id":"x","result":null}"#)
                .unwrap()
                .kind(),
            "success"
        );
        let Envelope::Response(e) =
            parse(r#"{"jsonrpc":"2.0","id":null,"error":{"code":-32000,"message":"m"}}"#).unwrap()
        else {
            panic!()
        };
        assert_eq!(e.id, None);
        assert_eq!(e.outcome.unwrap_err().data, Value::Null);
    }

    #[test]
    fn rejects_what_clamator_rejects() {
        for (input, reason) in [
            ("[]", "batch requests not supported"),
            ("5", "not an object"),
            (
                r#"{"jsonrpc":"1.0","method":"a.b","id":1}"#,
                "jsonrpc must equal",
            ),
            (
                r#"{"jsonrpc":"2.0","method":"launch","id":1}"#,
                "method must be",
            ),
            (
                r#"{"jsonrpc":"2.0","method":".b","id":1}"#,
                "method must be",
            ),
            (
                r#"{"jsonrpc":"2.0","method":"a.","id":1}"#,
                "method must be",
            ),
            (
                r#"{"jsonrpc":"2.0","method":"Engine.launch","id":1}"#,
                "invalid service",
            ),
            (
                r#"{"jsonrpc":"2.0","method":"engine.Launch","id":1}"#,
                "invalid method",
            ),
            (
                r#"{"jsonrpc":"2.0","method":"engine.launch","id":true}"#,
                "id must be",
            ),
            (
                r#"{"jsonrpc":"2.0","method":"engine.launch","id":1.5}"#,
                "id must be",
            ),
            (r#"{"jsonrpc":"2.0","result":1}"#, "response must have id"),
            (
                r#"{"jsonrpc":"2.0","id":1,"error":{"code":"x","message":"m"}}"#,
                "numeric code",
            ),
            (
                r#"{"jsonrpc":"2.0","id":1,"result":1,"error":{}}"#,
                "must be request",
            ),
            (r#"{"jsonrpc":"2.0","id":1}"#, "must be request"),
        ] {
            let err = parse(input).unwrap_err();
            assert_eq!(err.code, codes::INVALID_REQUEST, "{input}");
            assert!(err.reason.contains(reason), "{input}: {}", err.reason);
            assert!(err.to_string().starts_with("-32600 Invalid Request"));
        }
        assert_eq!(parse("{nope").unwrap_err().code, codes::PARSE_ERROR);
    }

    #[test]
    fn lenient_input() {
        // Python: hyphenated method, spaces after separators, \u escapes, 5.0, params null.
        let env =
            parse(r#"{"jsonrpc": "2.0", "method": "svc.do-thing", "params": null, "id": "i"}"#)
                .unwrap();
        let Envelope::Request(r) = env else { panic!() };
        assert_eq!(r.method, "do-thing");
        assert_eq!(r.params, json!({}));
        let Envelope::Request(r) =
            parse(r#"{"jsonrpc": "2.0", "method": "a.b", "params": {"t": "h\u00e9llo", "n": 5.0}, "id": 3}"#)
                .unwrap()
        else {
            panic!()
        };
        assert_eq!(r.params["t"], "héllo");
        assert_eq!(r.params["n"].as_f64(), Some(5.0));
        assert_eq!(r.id.key(), "3");
        let Envelope::Response(e) =
            parse(r#"{"jsonrpc":"2.0","id":"x","error":{"code":-32000.0,"message":"m"}}"#).unwrap()
        else {
            panic!()
        };
        assert_eq!(e.outcome.unwrap_err().code, -32000);
    }

    #[test]
    fn builds_clamator_bytes() {
        assert_eq!(
            encode_request("a", "b", &json!({}), &"id1".into()).unwrap(),
            r#"{"jsonrpc":"2.0","method":"a.b","params":{},"id":"id1"}"#
        );
        assert_eq!(
            encode_notification("arith", "ping", &json!({"x": 1})).unwrap(),
            r#"{"jsonrpc":"2.0","method":"arith.ping","params":{"x":1}}"#
        );
        assert_eq!(
            encode_success(&"i1".into(), &json!({"sum": 5})).unwrap(),
            r#"{"jsonrpc":"2.0","id":"i1","result":{"sum":5}}"#
        );
        assert_eq!(
            encode_error(
                Some(&"i".into()),
                &RpcError::new(-32000, "oops").with_data(json!({"k": "v"}))
            ),
            r#"{"jsonrpc":"2.0","id":"i","error":{"code":-32000,"message":"oops","data":{"k":"v"}}}"#
        );
        assert_eq!(
            encode_error(None, &RpcError::method_not_found()),
            r#"{"jsonrpc":"2.0","id":null,"error":{"code":-32601,"message":"Method not found","data":null}}"#
        );
        // Non-ASCII goes out raw, as the TypeScript peer writes it.
        assert_eq!(
            encode_success(&RpcId::from(7), &json!({"text": "héllo"})).unwrap(),
            r#"{"jsonrpc":"2.0","id":7,"result":{"text":"héllo"}}"#
        );
    }

    #[test]
    fn round_trips_responses() {
        let ok = Response {
            id: Some("a".into()),
            outcome: Ok(json!({"q": 2.5}).into()),
        };
        assert_eq!(parse(&ok.to_json()).unwrap(), Envelope::Response(ok));
        let err = Response {
            id: Some(RpcId::from(9)),
            outcome: Err(RpcError::new(1, "m")),
        };
        assert_eq!(parse(&err.to_json()).unwrap(), Envelope::Response(err));
    }

    #[test]
    fn integer_ids_beyond_64_bits_are_echoed_digit_for_digit() {
        let big = "123456789012345678901234567890";
        for id in [big, "-98765432109876543210", "18446744073709551615"] {
            let text = format!(r#"{{"jsonrpc":"2.0","method":"a.b","params":{{}},"id":{id}}}"#);
            let Envelope::Request(req) = parse(&text).unwrap() else {
                panic!("not a request")
            };
            assert_eq!(req.id.key(), id);
            let reply = encode_success(&req.id, &json!(1)).unwrap();
            assert_eq!(
                reply,
                format!(r#"{{"jsonrpc":"2.0","id":{id},"result":1}}"#)
            );
        }
        // A broken envelope with such an id is still answered with it.
        let broken = format!(r#"{{"id":{big},"method":"#);
        assert_eq!(
            parse(&broken).unwrap_err().id,
            Some(RpcId::BigInt(big.into()))
        );
        // Fractions and exponents are not ids, however long.
        for id in [
            "1234567890123456789012.5",
            "1e30",
            "12345678901234567890123e2",
        ] {
            let text = format!(r#"{{"jsonrpc":"2.0","method":"a.b","id":{id}}}"#);
            assert_eq!(
                parse(&text).unwrap_err().code,
                codes::INVALID_REQUEST,
                "{id}"
            );
        }
        // With the id given twice, the text's id counts only when it is the one decoded.
        let twice = format!(r#"{{"jsonrpc":"2.0","method":"a.b","id":{big},"id":1.5}}"#);
        assert!(parse(&twice).is_err());
    }

    #[test]
    fn recovers_ids_from_broken_json() {
        assert_eq!(
            parse(r#"{"jsonrpc":"2.0","method":"a.b","params":{"a":1,,},"id":"abc"}"#)
                .unwrap_err()
                .id,
            Some(RpcId::from("abc"))
        );
        assert_eq!(recover_id(br#"{"id" : 42, oops"#), Some(RpcId::from(42)));
        assert_eq!(recover_id(br#"{"params":{"x":1}"#), None);
        assert_eq!(recover_id(b"\xff\xfe"), None);
        // A readable id survives invalid UTF-8 elsewhere.
        assert_eq!(
            recover_id(b"{\"jsonrpc\":\"2.0\",\"id\":\"r9\",\"params\":\"\xff\"}"),
            Some(RpcId::from("r9"))
        );
        assert_eq!(recover_id(br#"{"id":"unterminated"#), None);
        // Only the outermost object's id counts, and fractions are not truncated.
        assert_eq!(
            recover_id(br#"{"params":{"id":"inner"},"id":"outer",,}"#),
            Some(RpcId::from("outer"))
        );
        assert_eq!(recover_id(br#"{"params":{"id":"inner"},,}"#), None);
        assert_eq!(recover_id(br#"{"id":1.5,,}"#), None);
        assert_eq!(
            recover_id(br#"{"x":"a \" \"id\": 3","id":4,}"#),
            Some(RpcId::from(4))
        );
        // A valid JSON envelope with a bad method still yields its id.
        assert_eq!(
            parse(r#"{"jsonrpc":"2.0","method":"nodot","id":"q"}"#)
                .unwrap_err()
                .id,
            Some(RpcId::from("q"))
        );
    }

    #[test]
    fn integer_ids_past_a_float_are_read_up_to_the_python_peers_limit() {
        let digits = |n: usize| format!("9{}", "8".repeat(n - 1));
        for n in [310, 1_000, MAX_ID_DIGITS] {
            let id = digits(n);
            let text =
                format!(r#"{{"jsonrpc":"2.0","method":"arith.add","params":{{"a":1}},"id":{id}}}"#);
            let Ok(Envelope::Request(req)) = parse_envelope(text.as_bytes()) else {
                panic!("{n} digits: not read");
            };
            assert_eq!(req.id, RpcId::BigInt(id.clone()));
            assert_eq!(req.params, json!({"a": 1}));
            // Answered with the very digits it came with.
            let reply = encode_success(&req.id, &json!(1)).unwrap();
            assert_eq!(
                reply,
                format!(r#"{{"jsonrpc":"2.0","id":{id},"result":1}}"#)
            );
        }
        // A response with such an id, and an invalid envelope that still gets its answer.
        let id = digits(500);
        let text = format!(r#"{{"jsonrpc":"2.0","result":true,"id":{id}}}"#);
        let Ok(Envelope::Response(r)) = parse_envelope(text.as_bytes()) else {
            panic!("response not read");
        };
        assert_eq!(r.id, Some(RpcId::BigInt(id.clone())));
        let text = format!(r#"{{"jsonrpc":"1.0","method":"a.b","id":-{id}}}"#);
        let e = parse_envelope(text.as_bytes()).unwrap_err();
        assert_eq!(
            (e.code, e.id),
            (
                codes::INVALID_REQUEST,
                Some(RpcId::BigInt(format!("-{id}")))
            )
        );
        // Past the limit, or out of range elsewhere (Python reads those; we do not): -32700,
        // the id still recovered so the caller is answered.
        for text in [
            format!(
                r#"{{"jsonrpc":"2.0","method":"a.b","id":{}}}"#,
                digits(MAX_ID_DIGITS + 1)
            ),
            format!(r#"{{"jsonrpc":"2.0","method":"a.b","params":{{"x":1e999}},"id":{id}}}"#),
            format!(r#"{{"jsonrpc":"2.0","method":"a.b","params":{{"x":NaN}},"id":{id}}}"#),
        ] {
            let e = parse_envelope(text.as_bytes()).unwrap_err();
            assert_eq!(e.code, codes::PARSE_ERROR, "{}", &text[..60]);
            assert!(matches!(e.id, Some(RpcId::BigInt(_))));
        }
    }
}
