//! A second check of JSON text against a schema, read straight from the text with no
//! [`Value`] built: it answers only "surely conforms" or "not sure".
//!
//! The typed path of a server runs it on every params text (and on every result it wrote):
//! when it says "surely conforms", the full check would have found nothing, so the value is
//! decoded straight from the text. When it is not sure — the text breaks the schema, or uses
//! a part of it this check does not read — the text goes the way it always went: parsed into
//! a `Value`, checked by the `jsonschema` crate, refused with its messages. So the answers
//! and their messages are the full check's by construction; what this module must get right
//! is never to say "surely" of a text the full check refuses. The property tests below hold
//! it to that on generated schemas and payloads.
//!
//! What it reads: `type`, `enum` and `const` of strings, booleans and `null`, numeric bounds
//! (exact, or not sure past ±2^53 where floats meet integers), integral `multipleOf`,
//! `minLength`/`maxLength` (in characters), `pattern` and `format` (run by a `jsonschema`
//! validator built as the full check builds it, so their meaning is the same), `items` (one
//! schema), `minItems`/`maxItems`, `properties`, `required`, `additionalProperties`,
//! `maxProperties`, `$ref` to `#...` pointers, `true`/`{}`, and the annotations. Anything
//! else (`anyOf`, `allOf`, `not`, `if`, `uniqueItems`, `minProperties`, patterns that need
//! backtracking, numeric `enum`s, ...) makes that subschema "not sure" whenever a value
//! reaches it; the rest of the schema is still read.

use std::cmp::Ordering;
use std::collections::HashMap;
use std::fmt;

use serde::de::{self, DeserializeSeed, Deserializer, IgnoredAny, MapAccess, SeqAccess, Visitor};
use serde_json::{Map, Number, Value};

/// How deep a text may nest before this check gives up (the full check then decides).
const MAX_DEPTH: usize = 64;

/// Schema keywords that assert nothing about a value.
const ANNOTATIONS: [&str; 11] = [
    "$schema",
    "$comment",
    "title",
    "description",
    "examples",
    "default",
    "readOnly",
    "writeOnly",
    "deprecated",
    "definitions",
    "$defs",
];

const NULL: u8 = 1;
const BOOL: u8 = 2;
const INTEGER: u8 = 4;
/// `number`: integers too.
const NUMBER: u8 = 8;
const STRING: u8 = 16;
const ARRAY: u8 = 32;
const OBJECT: u8 = 64;

/// A schema compiled for [`Quick::surely_accepts`].
pub(super) struct Quick {
    nodes: Vec<Node>,
}

impl fmt::Debug for Quick {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Quick")
            .field("nodes", &self.nodes.len())
            .finish_non_exhaustive()
    }
}

enum Node {
    /// `true`, `{}`.
    Any,
    /// A subschema this check does not read.
    Unsure,
    /// Another node (`$ref`).
    Ref(usize),
    Typed(Box<Typed>),
}

#[derive(Default)]
struct Typed {
    /// Allowed kinds; 0 when the schema has no `type`.
    types: u8,
    /// `enum` / `const` of strings, booleans and `null`.
    allowed: Option<Vec<Value>>,
    minimum: Option<Number>,
    maximum: Option<Number>,
    exclusive_minimum: Option<Number>,
    exclusive_maximum: Option<Number>,
    multiple_of: Option<u64>,
    min_length: Option<u64>,
    max_length: Option<u64>,
    /// `pattern` and `format`, checked as the full check would.
    text: Option<jsonschema::Validator>,
    items: Option<usize>,
    min_items: Option<u64>,
    max_items: Option<u64>,
    /// (name, node, required), at most 64.
    properties: Vec<(String, usize, bool)>,
    additional: Additional,
    max_properties: Option<u64>,
}

#[derive(Default)]
enum Additional {
    #[default]
    Allowed,
    Denied,
    Schema(usize),
}

impl Quick {
    /// Compiles `schema` (the whole document); `text_check` builds the validator of a
    /// `{"pattern", "format"}` subschema the way the full check would, `None` when it cannot
    /// without backtracking.
    pub(super) fn compile(
        schema: &Value,
        text_check: &dyn Fn(&Value) -> Option<jsonschema::Validator>,
    ) -> Self {
        let mut compiler = Compiler {
            root: schema,
            nodes: Vec::new(),
            by_pointer: HashMap::new(),
            text_check,
        };
        compiler.node_at(&[], schema, true);
        Self {
            nodes: compiler.nodes,
        }
    }

    /// `true` when `text` is one JSON value that surely conforms; `false` says nothing.
    /// With `null_for_optional`, `null` passes for an optional property, as if it were
    /// absent (how servers check params).
    pub(super) fn surely_accepts(&self, text: &str, null_for_optional: bool) -> bool {
        let mut de = serde_json::Deserializer::from_str(text);
        let checked = At {
            quick: self,
            node: 0,
            depth: 0,
            null_passes: false,
            null_for_optional,
        }
        .deserialize(&mut de);
        checked.is_ok() && de.end().is_ok()
    }

    /// `true` when `value`, as serde_json would write it, surely conforms; `false` says
    /// nothing. Checks the value itself, with no text written and none read.
    pub(super) fn surely_accepts_value<T: serde::Serialize + ?Sized>(
        &self,
        value: &T,
        null_for_optional: bool,
    ) -> bool {
        value
            .serialize(Ser(At {
                quick: self,
                node: 0,
                depth: 0,
                null_passes: false,
                null_for_optional,
            }))
            .is_ok()
    }

    /// Whether the root is read at all (a check that is never sure is not worth running).
    pub(super) fn reads_anything(&self) -> bool {
        !matches!(self.nodes.first(), Some(Node::Unsure) | None)
    }
}

struct Compiler<'s> {
    root: &'s Value,
    nodes: Vec<Node>,
    by_pointer: HashMap<Vec<String>, usize>,
    text_check: &'s dyn Fn(&Value) -> Option<jsonschema::Validator>,
}

impl<'s> Compiler<'s> {
    /// The node of the subschema at `pointer` (compiled once).
    fn node_at(&mut self, pointer: &[String], schema: &'s Value, root: bool) -> usize {
        if let Some(&done) = self.by_pointer.get(pointer) {
            return done;
        }
        let index = self.nodes.len();
        self.nodes.push(Node::Unsure);
        self.by_pointer.insert(pointer.to_vec(), index);
        let node = self.compile(pointer, schema, root);
        self.nodes[index] = node;
        index
    }

    fn child(&mut self, pointer: &[String], keys: &[&str], schema: &'s Value) -> usize {
        let mut at = pointer.to_vec();
        at.extend(keys.iter().map(|k| (*k).to_owned()));
        self.node_at(&at, schema, false)
    }

    fn compile(&mut self, pointer: &[String], schema: &'s Value, root: bool) -> Node {
        let m = match schema {
            Value::Bool(true) => return Node::Any,
            Value::Object(m) => m,
            _ => return Node::Unsure,
        };
        let asserting = |k: &String| !(ANNOTATIONS.contains(&k.as_str()) || root && k == "$id");
        if let Some(text) = m.get("$ref") {
            // Draft 7 ignores a `$ref`'s siblings; whether every validator does is not this
            // check's to guess.
            if m.keys().any(|k| k != "$ref" && asserting(k)) {
                return Node::Unsure;
            }
            let Some(tokens) = text.as_str().and_then(super::ref_target) else {
                return Node::Unsure;
            };
            let Some(target) = super::lookup(self.root, &tokens) else {
                return Node::Unsure;
            };
            return Node::Ref(self.node_at(&tokens, target, tokens.is_empty()));
        }
        if !m.keys().any(asserting) {
            return Node::Any;
        }
        self.typed(pointer, m, asserting)
            .map_or(Node::Unsure, |t| Node::Typed(Box::new(t)))
    }

    fn typed(
        &mut self,
        pointer: &[String],
        m: &'s Map<String, Value>,
        asserting: impl Fn(&String) -> bool,
    ) -> Option<Typed> {
        let mut t = Typed::default();
        let number = |v: &Value| v.as_number().cloned();
        let count = |v: &Value| v.as_u64();
        let mut text = Map::new();
        for (key, v) in m.iter().filter(|(k, _)| asserting(k)) {
            match key.as_str() {
                "type" => t.types = types(v)?,
                "enum" => t.allowed = Some(scalars(v.as_array()?)?),
                "const" => t.allowed = Some(scalars(std::slice::from_ref(v))?),
                "minimum" => t.minimum = Some(number(v)?),
                "maximum" => t.maximum = Some(number(v)?),
                "exclusiveMinimum" => t.exclusive_minimum = Some(number(v)?),
                "exclusiveMaximum" => t.exclusive_maximum = Some(number(v)?),
                "multipleOf" => t.multiple_of = Some(v.as_u64().filter(|n| *n > 0)?),
                "minLength" => t.min_length = Some(count(v)?),
                "maxLength" => t.max_length = Some(count(v)?),
                "minItems" => t.min_items = Some(count(v)?),
                "maxItems" => t.max_items = Some(count(v)?),
                "maxProperties" => t.max_properties = Some(count(v)?),
                "pattern" | "format" => {
                    v.as_str()?;
                    text.insert(key.clone(), v.clone());
                }
                "items" if v.is_object() || v.is_boolean() => {
                    t.items = Some(self.child(pointer, &["items"], v));
                }
                "additionalProperties" => {
                    t.additional = match v {
                        Value::Bool(true) => Additional::Allowed,
                        Value::Bool(false) => Additional::Denied,
                        Value::Object(_) => {
                            Additional::Schema(self.child(pointer, &["additionalProperties"], v))
                        }
                        _ => return None,
                    }
                }
                "required" | "properties" => {}
                _ => return None,
            }
        }
        if let Some(props) = m.get("properties") {
            let required: Vec<&str> = match m.get("required") {
                Some(list) => list
                    .as_array()?
                    .iter()
                    .map(Value::as_str)
                    .collect::<Option<_>>()?,
                None => Vec::new(),
            };
            let props = props.as_object()?;
            if props.len() > 64 || required.iter().any(|r| !props.contains_key(*r)) {
                return None;
            }
            for (name, sub) in props {
                let node = self.child(pointer, &["properties", name], sub);
                t.properties
                    .push((name.clone(), node, required.contains(&name.as_str())));
            }
        } else if m
            .get("required")
            .is_some_and(|r| r.as_array().is_none_or(|r| !r.is_empty()))
        {
            return None;
        }
        if !text.is_empty() {
            t.text = Some((self.text_check)(&Value::Object(text))?);
        }
        Some(t)
    }
}

/// The kinds a `type` allows.
fn types(v: &Value) -> Option<u8> {
    let one = |name: &str| match name {
        "null" => Some(NULL),
        "boolean" => Some(BOOL),
        "integer" => Some(INTEGER),
        "number" => Some(NUMBER | INTEGER),
        "string" => Some(STRING),
        "array" => Some(ARRAY),
        "object" => Some(OBJECT),
        _ => None,
    };
    match v {
        Value::String(name) => one(name),
        Value::Array(names) if !names.is_empty() => names
            .iter()
            .try_fold(0, |acc, n| Some(acc | one(n.as_str()?)?)),
        _ => None,
    }
}

/// An `enum`'s values, when every one is a string, a boolean or `null` (numbers compare by
/// value in the full check; those are left to it).
fn scalars(values: &[Value]) -> Option<Vec<Value>> {
    values
        .iter()
        .all(|v| matches!(v, Value::String(_) | Value::Bool(_) | Value::Null))
        .then(|| values.to_vec())
}

/// A number read from the text.
#[derive(Clone, Copy)]
enum Num {
    U(u64),
    I(i64),
    F(f64),
}

/// Integers beyond this are not exact as floats.
const EXACT: u64 = 1 << 53;

/// `n` against `limit`; `None` when the answer would need more care than it is worth.
fn compare(n: Num, limit: &Number) -> Option<Ordering> {
    let int = |n: Num| match n {
        Num::U(u) => Some(i128::from(u)),
        Num::I(i) => Some(i128::from(i)),
        Num::F(_) => None,
    };
    let limit_int = limit
        .as_u64()
        .map(i128::from)
        .or_else(|| limit.as_i64().map(i128::from));
    if let (Some(a), Some(b)) = (int(n), limit_int) {
        return Some(a.cmp(&b));
    }
    let exact = |i: i128| (i.unsigned_abs() <= u128::from(EXACT)).then_some(i as f64);
    let a = match n {
        Num::F(f) => f,
        other => exact(int(other)?)?,
    };
    let b = match limit_int {
        Some(i) => exact(i)?,
        None => limit.as_f64()?,
    };
    a.partial_cmp(&b)
}

/// The value being checked: which node, how deep, and whether `null` passes here.
#[derive(Clone, Copy)]
struct At<'q> {
    quick: &'q Quick,
    node: usize,
    depth: usize,
    null_passes: bool,
    null_for_optional: bool,
}

/// "Not sure": the value breaks the schema or reaches a part this check does not read.
#[derive(Debug)]
struct NotSure;

impl fmt::Display for NotSure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("not sure")
    }
}

impl std::error::Error for NotSure {}

impl serde::ser::Error for NotSure {
    fn custom<T: fmt::Display>(_: T) -> Self {
        NotSure
    }
}

impl de::Error for NotSure {
    fn custom<T: fmt::Display>(_: T) -> Self {
        NotSure
    }
}

fn no<E: de::Error>() -> E {
    E::custom("not sure")
}

impl<'q> At<'q> {
    /// The node, `$ref`s followed; `None` for a cycle of refs.
    fn typed(&self) -> Result<Option<&'q Typed>, NotSure> {
        let mut node = self.node;
        for _ in 0..=self.quick.nodes.len() {
            match self.quick.nodes.get(node).ok_or(NotSure)? {
                Node::Any => return Ok(None),
                Node::Unsure => return Err(NotSure),
                Node::Ref(next) => node = *next,
                Node::Typed(t) => return Ok(Some(t)),
            }
        }
        Err(NotSure)
    }

    fn next(&self, node: usize, null_passes: bool) -> Self {
        Self {
            node,
            depth: self.depth + 1,
            null_passes,
            ..*self
        }
    }

    fn null<E: de::Error>(&self) -> Result<(), E> {
        if self.null_passes {
            return Ok(());
        }
        self.scalar(NULL, || Value::Null)
    }

    fn scalar<E: de::Error>(&self, kind: u8, value: impl FnOnce() -> Value) -> Result<(), E> {
        let Some(t) = self.typed().map_err(|_| no::<E>())? else {
            return Ok(());
        };
        if t.types != 0 && t.types & kind == 0 {
            return Err(no());
        }
        if let Some(allowed) = &t.allowed {
            if !allowed.contains(&value()) {
                return Err(no());
            }
        }
        Ok(())
    }

    fn number<E: de::Error>(&self, n: Num) -> Result<(), E> {
        let Some(t) = self.typed().map_err(|_| no::<E>())? else {
            return Ok(());
        };
        // A float is an `integer` to the full check when it has no fraction; rare enough to
        // leave to it.
        let kind = match n {
            Num::F(_) => NUMBER,
            _ => INTEGER,
        };
        if (t.types != 0 && t.types & kind == 0) || t.allowed.is_some() {
            return Err(no());
        }
        let at_least = |limit: &Option<Number>, ok: fn(Ordering) -> bool| {
            limit.as_ref().is_none_or(|l| compare(n, l).is_some_and(ok))
        };
        let bounded = at_least(&t.minimum, Ordering::is_ge)
            && at_least(&t.maximum, Ordering::is_le)
            && at_least(&t.exclusive_minimum, Ordering::is_gt)
            && at_least(&t.exclusive_maximum, Ordering::is_lt);
        let multiple = match (t.multiple_of, n) {
            (None, _) => true,
            (Some(m), Num::U(u)) => u % m == 0,
            (Some(m), Num::I(i)) => i.unsigned_abs() % m == 0,
            (Some(_), Num::F(_)) => false,
        };
        if bounded && multiple {
            Ok(())
        } else {
            Err(no())
        }
    }

    fn string<E: de::Error>(&self, s: &str) -> Result<(), E> {
        let Some(t) = self.typed().map_err(|_| no::<E>())? else {
            return Ok(());
        };
        if t.types != 0 && t.types & STRING == 0 {
            return Err(no());
        }
        if let Some(allowed) = &t.allowed {
            if !allowed.iter().any(|a| a.as_str() == Some(s)) {
                return Err(no());
            }
        }
        if t.min_length.is_some() || t.max_length.is_some() {
            let chars = s.chars().count() as u64;
            if t.min_length.is_some_and(|min| chars < min)
                || t.max_length.is_some_and(|max| chars > max)
            {
                return Err(no());
            }
        }
        if let Some(check) = &t.text {
            if !check.is_valid(&Value::String(s.to_owned())) {
                return Err(no());
            }
        }
        Ok(())
    }
}

impl<'de> DeserializeSeed<'de> for At<'_> {
    type Value = ();

    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<(), D::Error> {
        if self.depth > MAX_DEPTH {
            return Err(no());
        }
        d.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for At<'_> {
    type Value = ();

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a JSON value")
    }

    fn visit_unit<E: de::Error>(self) -> Result<(), E> {
        self.null()
    }

    fn visit_bool<E: de::Error>(self, b: bool) -> Result<(), E> {
        self.scalar(BOOL, || Value::Bool(b))
    }

    fn visit_u64<E: de::Error>(self, n: u64) -> Result<(), E> {
        self.number(Num::U(n))
    }

    fn visit_i64<E: de::Error>(self, n: i64) -> Result<(), E> {
        self.number(Num::I(n))
    }

    fn visit_f64<E: de::Error>(self, n: f64) -> Result<(), E> {
        self.number(Num::F(n))
    }

    fn visit_str<E: de::Error>(self, s: &str) -> Result<(), E> {
        self.string(s)
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<(), A::Error> {
        let typed = self.typed().map_err(|_| no::<A::Error>())?;
        let Some(t) = typed else {
            while seq.next_element::<IgnoredAny>()?.is_some() {}
            return Ok(());
        };
        if (t.types != 0 && t.types & ARRAY == 0) || t.allowed.is_some() {
            return Err(no());
        }
        let mut n = 0u64;
        loop {
            let more = match t.items {
                Some(items) => seq.next_element_seed(self.next(items, false))?.is_some(),
                None => seq.next_element::<IgnoredAny>()?.is_some(),
            };
            if !more {
                break;
            }
            n += 1;
        }
        if t.min_items.is_some_and(|min| n < min) || t.max_items.is_some_and(|max| n > max) {
            return Err(no());
        }
        Ok(())
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<(), A::Error> {
        let typed = self.typed().map_err(|_| no::<A::Error>())?;
        let Some(t) = typed else {
            while map.next_entry::<IgnoredAny, IgnoredAny>()?.is_some() {}
            return Ok(());
        };
        if (t.types != 0 && t.types & OBJECT == 0) || t.allowed.is_some() {
            return Err(no());
        }
        let mut seen = 0u64;
        let mut keys = 0u64;
        while let Some(found) = map.next_key_seed(Key(&t.properties))? {
            keys += 1;
            match found {
                Some(i) => {
                    let (_, node, required) = &t.properties[i];
                    seen |= 1 << i;
                    let null_passes = self.null_for_optional && !required;
                    map.next_value_seed(self.next(*node, null_passes))?;
                }
                None => match t.additional {
                    Additional::Allowed => {
                        map.next_value::<IgnoredAny>()?;
                    }
                    Additional::Denied => return Err(no()),
                    Additional::Schema(node) => map.next_value_seed(self.next(node, false))?,
                },
            }
        }
        let missing = t
            .properties
            .iter()
            .enumerate()
            .any(|(i, (_, _, required))| *required && seen & (1 << i) == 0);
        if missing || t.max_properties.is_some_and(|max| keys > max) {
            return Err(no());
        }
        Ok(())
    }
}

/// A key of an object, looked up among the properties without a copy: `Some(index)`.
struct Key<'p>(&'p [(String, usize, bool)]);

impl<'de> DeserializeSeed<'de> for Key<'_> {
    type Value = Option<usize>;

    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<Option<usize>, D::Error> {
        d.deserialize_str(self)
    }
}

impl<'de> Visitor<'de> for Key<'_> {
    type Value = Option<usize>;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a property name")
    }

    fn visit_str<E: de::Error>(self, s: &str) -> Result<Option<usize>, E> {
        Ok(self.0.iter().position(|(name, _, _)| name == s))
    }
}

// ---------------------------------------------------------------------------------------
// Values about to be written: the same checks, driven by `Serialize`
// ---------------------------------------------------------------------------------------
//
// What serde_json writes for each call, and so what is checked: integers as integers
// (`i128`/`u128` past 64 bits, `f32`, bytes and enum variants with data are not read),
// finite `f64`s as numbers and the others as `null`, `None` and unit as `null`, unit variants
// as their name, sequences as arrays, maps and structs as objects (keys: strings, chars and
// integers as their text).

/// Checks one value as it is serialized.
struct Ser<'q>(At<'q>);

impl<'q> Ser<'q> {
    fn start(at: At<'q>) -> Result<Option<&'q Typed>, NotSure> {
        if at.depth > MAX_DEPTH {
            return Err(NotSure);
        }
        at.typed()
    }
}

impl<'q> serde::Serializer for Ser<'q> {
    type Ok = ();
    type Error = NotSure;
    type SerializeSeq = SeqCheck<'q>;
    type SerializeTuple = SeqCheck<'q>;
    type SerializeTupleStruct = SeqCheck<'q>;
    type SerializeTupleVariant = serde::ser::Impossible<(), NotSure>;
    type SerializeMap = MapCheck<'q>;
    type SerializeStruct = MapCheck<'q>;
    type SerializeStructVariant = serde::ser::Impossible<(), NotSure>;

    fn serialize_bool(self, v: bool) -> Result<(), NotSure> {
        self.0.scalar(BOOL, || Value::Bool(v))
    }
    fn serialize_i8(self, v: i8) -> Result<(), NotSure> {
        self.0.number(Num::I(v.into()))
    }
    fn serialize_i16(self, v: i16) -> Result<(), NotSure> {
        self.0.number(Num::I(v.into()))
    }
    fn serialize_i32(self, v: i32) -> Result<(), NotSure> {
        self.0.number(Num::I(v.into()))
    }
    fn serialize_i64(self, v: i64) -> Result<(), NotSure> {
        self.0.number(Num::I(v))
    }
    fn serialize_u8(self, v: u8) -> Result<(), NotSure> {
        self.0.number(Num::U(v.into()))
    }
    fn serialize_u16(self, v: u16) -> Result<(), NotSure> {
        self.0.number(Num::U(v.into()))
    }
    fn serialize_u32(self, v: u32) -> Result<(), NotSure> {
        self.0.number(Num::U(v.into()))
    }
    fn serialize_u64(self, v: u64) -> Result<(), NotSure> {
        self.0.number(Num::U(v))
    }
    fn serialize_f32(self, _: f32) -> Result<(), NotSure> {
        // Written in `f32`'s shortest form, read back as another `f64`: not this check's.
        Err(NotSure)
    }
    fn serialize_f64(self, v: f64) -> Result<(), NotSure> {
        if v.is_finite() {
            self.0.number(Num::F(v))
        } else {
            self.0.null()
        }
    }
    fn serialize_char(self, v: char) -> Result<(), NotSure> {
        self.0.string(v.encode_utf8(&mut [0; 4]))
    }
    fn serialize_str(self, v: &str) -> Result<(), NotSure> {
        self.0.string(v)
    }
    fn serialize_bytes(self, _: &[u8]) -> Result<(), NotSure> {
        Err(NotSure)
    }
    fn serialize_none(self) -> Result<(), NotSure> {
        self.0.null()
    }
    fn serialize_some<T: serde::Serialize + ?Sized>(self, value: &T) -> Result<(), NotSure> {
        value.serialize(self)
    }
    fn serialize_unit(self) -> Result<(), NotSure> {
        self.0.null()
    }
    fn serialize_unit_struct(self, _: &'static str) -> Result<(), NotSure> {
        self.0.null()
    }
    fn serialize_unit_variant(
        self,
        _: &'static str,
        _: u32,
        variant: &'static str,
    ) -> Result<(), NotSure> {
        self.0.string(variant)
    }
    fn serialize_newtype_struct<T: serde::Serialize + ?Sized>(
        self,
        _: &'static str,
        value: &T,
    ) -> Result<(), NotSure> {
        value.serialize(self)
    }
    fn serialize_newtype_variant<T: serde::Serialize + ?Sized>(
        self,
        _: &'static str,
        _: u32,
        _: &'static str,
        _: &T,
    ) -> Result<(), NotSure> {
        Err(NotSure)
    }
    fn serialize_seq(self, _: Option<usize>) -> Result<SeqCheck<'q>, NotSure> {
        let t = Ser::start(self.0)?;
        if let Some(t) = t {
            if (t.types != 0 && t.types & ARRAY == 0) || t.allowed.is_some() {
                return Err(NotSure);
            }
        }
        Ok(SeqCheck {
            at: self.0,
            t,
            n: 0,
        })
    }
    fn serialize_tuple(self, len: usize) -> Result<SeqCheck<'q>, NotSure> {
        self.serialize_seq(Some(len))
    }
    fn serialize_tuple_struct(self, _: &'static str, len: usize) -> Result<SeqCheck<'q>, NotSure> {
        self.serialize_seq(Some(len))
    }
    fn serialize_tuple_variant(
        self,
        _: &'static str,
        _: u32,
        _: &'static str,
        _: usize,
    ) -> Result<Self::SerializeTupleVariant, NotSure> {
        Err(NotSure)
    }
    fn serialize_map(self, _: Option<usize>) -> Result<MapCheck<'q>, NotSure> {
        let t = Ser::start(self.0)?;
        if let Some(t) = t {
            if (t.types != 0 && t.types & OBJECT == 0) || t.allowed.is_some() {
                return Err(NotSure);
            }
        }
        Ok(MapCheck {
            at: self.0,
            t,
            seen: 0,
            keys: 0,
            key: None,
        })
    }
    fn serialize_struct(self, _: &'static str, len: usize) -> Result<MapCheck<'q>, NotSure> {
        self.serialize_map(Some(len))
    }
    fn serialize_struct_variant(
        self,
        _: &'static str,
        _: u32,
        _: &'static str,
        _: usize,
    ) -> Result<Self::SerializeStructVariant, NotSure> {
        Err(NotSure)
    }
}

/// An array being serialized.
struct SeqCheck<'q> {
    at: At<'q>,
    t: Option<&'q Typed>,
    n: u64,
}

impl SeqCheck<'_> {
    fn element<T: serde::Serialize + ?Sized>(&mut self, value: &T) -> Result<(), NotSure> {
        self.n += 1;
        match self.t.and_then(|t| t.items) {
            Some(items) => value.serialize(Ser(self.at.next(items, false))),
            None => Ok(()),
        }
    }

    fn finish(self) -> Result<(), NotSure> {
        let Some(t) = self.t else {
            return Ok(());
        };
        let n = self.n;
        if t.min_items.is_some_and(|min| n < min) || t.max_items.is_some_and(|max| n > max) {
            return Err(NotSure);
        }
        Ok(())
    }
}

impl serde::ser::SerializeSeq for SeqCheck<'_> {
    type Ok = ();
    type Error = NotSure;
    fn serialize_element<T: serde::Serialize + ?Sized>(&mut self, v: &T) -> Result<(), NotSure> {
        self.element(v)
    }
    fn end(self) -> Result<(), NotSure> {
        self.finish()
    }
}

impl serde::ser::SerializeTuple for SeqCheck<'_> {
    type Ok = ();
    type Error = NotSure;
    fn serialize_element<T: serde::Serialize + ?Sized>(&mut self, v: &T) -> Result<(), NotSure> {
        self.element(v)
    }
    fn end(self) -> Result<(), NotSure> {
        self.finish()
    }
}

impl serde::ser::SerializeTupleStruct for SeqCheck<'_> {
    type Ok = ();
    type Error = NotSure;
    fn serialize_field<T: serde::Serialize + ?Sized>(&mut self, v: &T) -> Result<(), NotSure> {
        self.element(v)
    }
    fn end(self) -> Result<(), NotSure> {
        self.finish()
    }
}

/// An object being serialized.
struct MapCheck<'q> {
    at: At<'q>,
    t: Option<&'q Typed>,
    seen: u64,
    keys: u64,
    /// The property of the key just serialized (`None` inside: not a listed property).
    key: Option<Option<usize>>,
}

impl MapCheck<'_> {
    fn value<T: serde::Serialize + ?Sized>(
        &mut self,
        property: Option<usize>,
        value: &T,
    ) -> Result<(), NotSure> {
        self.keys += 1;
        let Some(t) = self.t else {
            return Ok(());
        };
        match property {
            Some(i) => {
                let (_, node, required) = &t.properties[i];
                self.seen |= 1 << i;
                let null_passes = self.at.null_for_optional && !required;
                value.serialize(Ser(self.at.next(*node, null_passes)))
            }
            None => match t.additional {
                Additional::Allowed => Ok(()),
                Additional::Denied => Err(NotSure),
                Additional::Schema(node) => value.serialize(Ser(self.at.next(node, false))),
            },
        }
    }

    fn property(&self, name: &str) -> Option<usize> {
        self.t
            .and_then(|t| t.properties.iter().position(|(p, _, _)| p == name))
    }

    fn finish(self) -> Result<(), NotSure> {
        let Some(t) = self.t else {
            return Ok(());
        };
        let missing = t
            .properties
            .iter()
            .enumerate()
            .any(|(i, (_, _, required))| *required && self.seen & (1 << i) == 0);
        if missing || t.max_properties.is_some_and(|max| self.keys > max) {
            return Err(NotSure);
        }
        Ok(())
    }
}

impl serde::ser::SerializeMap for MapCheck<'_> {
    type Ok = ();
    type Error = NotSure;
    fn serialize_key<T: serde::Serialize + ?Sized>(&mut self, key: &T) -> Result<(), NotSure> {
        let mut text = String::new();
        key.serialize(KeyText(&mut text))?;
        self.key = Some(self.property(&text));
        Ok(())
    }
    fn serialize_value<T: serde::Serialize + ?Sized>(&mut self, v: &T) -> Result<(), NotSure> {
        let property = self.key.take().ok_or(NotSure)?;
        self.value(property, v)
    }
    fn end(self) -> Result<(), NotSure> {
        self.finish()
    }
}

impl serde::ser::SerializeStruct for MapCheck<'_> {
    type Ok = ();
    type Error = NotSure;
    fn serialize_field<T: serde::Serialize + ?Sized>(
        &mut self,
        key: &'static str,
        v: &T,
    ) -> Result<(), NotSure> {
        let property = self.property(key);
        self.value(property, v)
    }
    fn end(self) -> Result<(), NotSure> {
        self.finish()
    }
}

/// A map key as serde_json writes it: strings, chars and integers; anything else is not
/// read.
struct KeyText<'a>(&'a mut String);

impl serde::Serializer for KeyText<'_> {
    type Ok = ();
    type Error = NotSure;
    type SerializeSeq = serde::ser::Impossible<(), NotSure>;
    type SerializeTuple = serde::ser::Impossible<(), NotSure>;
    type SerializeTupleStruct = serde::ser::Impossible<(), NotSure>;
    type SerializeTupleVariant = serde::ser::Impossible<(), NotSure>;
    type SerializeMap = serde::ser::Impossible<(), NotSure>;
    type SerializeStruct = serde::ser::Impossible<(), NotSure>;
    type SerializeStructVariant = serde::ser::Impossible<(), NotSure>;

    fn serialize_str(self, v: &str) -> Result<(), NotSure> {
        self.0.push_str(v);
        Ok(())
    }
    fn serialize_char(self, v: char) -> Result<(), NotSure> {
        self.0.push(v);
        Ok(())
    }
    fn serialize_i64(self, v: i64) -> Result<(), NotSure> {
        self.0.push_str(&v.to_string());
        Ok(())
    }
    fn serialize_u64(self, v: u64) -> Result<(), NotSure> {
        self.0.push_str(&v.to_string());
        Ok(())
    }
    fn serialize_i8(self, v: i8) -> Result<(), NotSure> {
        self.serialize_i64(v.into())
    }
    fn serialize_i16(self, v: i16) -> Result<(), NotSure> {
        self.serialize_i64(v.into())
    }
    fn serialize_i32(self, v: i32) -> Result<(), NotSure> {
        self.serialize_i64(v.into())
    }
    fn serialize_u8(self, v: u8) -> Result<(), NotSure> {
        self.serialize_u64(v.into())
    }
    fn serialize_u16(self, v: u16) -> Result<(), NotSure> {
        self.serialize_u64(v.into())
    }
    fn serialize_u32(self, v: u32) -> Result<(), NotSure> {
        self.serialize_u64(v.into())
    }
    fn serialize_newtype_struct<T: serde::Serialize + ?Sized>(
        self,
        _: &'static str,
        value: &T,
    ) -> Result<(), NotSure> {
        value.serialize(self)
    }
    fn serialize_unit_variant(
        self,
        _: &'static str,
        _: u32,
        variant: &'static str,
    ) -> Result<(), NotSure> {
        self.serialize_str(variant)
    }
    fn serialize_bool(self, _: bool) -> Result<(), NotSure> {
        Err(NotSure)
    }
    fn serialize_f32(self, _: f32) -> Result<(), NotSure> {
        Err(NotSure)
    }
    fn serialize_f64(self, _: f64) -> Result<(), NotSure> {
        Err(NotSure)
    }
    fn serialize_bytes(self, _: &[u8]) -> Result<(), NotSure> {
        Err(NotSure)
    }
    fn serialize_none(self) -> Result<(), NotSure> {
        Err(NotSure)
    }
    fn serialize_some<T: serde::Serialize + ?Sized>(self, _: &T) -> Result<(), NotSure> {
        Err(NotSure)
    }
    fn serialize_unit(self) -> Result<(), NotSure> {
        Err(NotSure)
    }
    fn serialize_unit_struct(self, _: &'static str) -> Result<(), NotSure> {
        Err(NotSure)
    }
    fn serialize_newtype_variant<T: serde::Serialize + ?Sized>(
        self,
        _: &'static str,
        _: u32,
        _: &'static str,
        _: &T,
    ) -> Result<(), NotSure> {
        Err(NotSure)
    }
    fn serialize_seq(self, _: Option<usize>) -> Result<Self::SerializeSeq, NotSure> {
        Err(NotSure)
    }
    fn serialize_tuple(self, _: usize) -> Result<Self::SerializeTuple, NotSure> {
        Err(NotSure)
    }
    fn serialize_tuple_struct(
        self,
        _: &'static str,
        _: usize,
    ) -> Result<Self::SerializeTupleStruct, NotSure> {
        Err(NotSure)
    }
    fn serialize_tuple_variant(
        self,
        _: &'static str,
        _: u32,
        _: &'static str,
        _: usize,
    ) -> Result<Self::SerializeTupleVariant, NotSure> {
        Err(NotSure)
    }
    fn serialize_map(self, _: Option<usize>) -> Result<Self::SerializeMap, NotSure> {
        Err(NotSure)
    }
    fn serialize_struct(self, _: &'static str, _: usize) -> Result<Self::SerializeStruct, NotSure> {
        Err(NotSure)
    }
    fn serialize_struct_variant(
        self,
        _: &'static str,
        _: u32,
        _: &'static str,
        _: usize,
    ) -> Result<Self::SerializeStructVariant, NotSure> {
        Err(NotSure)
    }
}
