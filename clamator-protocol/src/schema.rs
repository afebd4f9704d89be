//! JSON Schema validation of params and results (a draft-07 subset).
//!
//! [`SchemaValidator`] compiles a schema once (regexes compiled, `$ref`s resolved to
//! indices) and then checks values against it, reporting every problem found as a
//! [`ValidationIssue`] whose `path` is a JSON Pointer (RFC 6901) into the checked value.
//! It implements [`Validator`](crate::server::Validator), so generated code plugs it
//! straight into [`Method::params_validator`](crate::server::Method::params_validator)
//! and [`Method::result_validator`](crate::server::Method::result_validator).
//!
//! Everything zod-to-json-schema emits (spec §1.12) is covered. Supported keywords:
//!
//! * any type: `type`, `enum`, `const`, `allOf`, `anyOf`, `oneOf`, `not`,
//!   `if`/`then`/`else`, `$ref` (local: `#`, `#/$defs/Name`, `#/definitions/Name`, or any
//!   `#/json/pointer`; recursion allowed);
//! * objects: `properties`, `required`, `additionalProperties`, `patternProperties`,
//!   `propertyNames`, `minProperties`, `maxProperties`, `dependencies`;
//! * arrays: `items` (one schema, or an array of schemas for tuples), `additionalItems`,
//!   `minItems`, `maxItems`, `uniqueItems`, `contains`;
//! * numbers: `minimum`, `maximum`, `exclusiveMinimum`, `exclusiveMaximum` (numeric, draft-06+
//!   form), `multipleOf`;
//! * strings: `minLength`, `maxLength` (Unicode code points), `pattern` (unanchored search,
//!   [`regex`] syntax), `format` (`date-time`, `date`, `time`, `uuid`, `email`; other formats
//!   are ignored).
//!
//! Annotations (`$schema`, `$id`, `title`, `description`, `default`, `examples`, ...) and
//! unknown keywords are ignored. As in draft-07, keywords next to a `$ref` are ignored.
//!
//! Numbers compare by value across representations (`1 == 1.0`; `5.0` is an `integer`).
//! Values nested more than 256 levels deep under a recursive schema are reported as an
//! issue instead of being descended into, so no input can overflow the stack.

use std::cmp::Ordering;
use std::collections::HashMap;
use std::fmt::Write as _;
use std::hash::{DefaultHasher, Hash, Hasher};
use std::sync::Arc;

use regex::Regex;
use serde_json::{Map, Number, Value};

use crate::error::ValidationIssue;

/// How deep the checked value may nest under a (recursive) schema.
const MAX_DEPTH: u32 = 256;
/// How many schema evaluations may be nested (value nesting plus combinators).
const MAX_FRAMES: u32 = 1024;
/// How deep schemas may nest inside each other, and `enum`/`const` values inside a schema
/// (JSON text parses to at most 128 levels anyway).
const MAX_SCHEMA_DEPTH: u32 = 128;
/// Longest message of a nested issue quoted in an `anyOf`/`oneOf` failure.
const MAX_DETAIL_CHARS: usize = 200;

/// A schema that failed to compile: where in the schema document, and why.
///
/// ```
/// use clamator_protocol::schema::SchemaValidator;
/// let err = SchemaValidator::from_json(r#"{"properties":{"a":{"pattern":"("}}}"#).unwrap_err();
/// assert_eq!(err.pointer, "/properties/a/pattern");
/// ```
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("invalid schema at {pointer}: {reason}")]
pub struct SchemaError {
    /// JSON Pointer into the schema document to the offending keyword (`""` for the root).
    pub pointer: String,
    /// What is wrong with it.
    pub reason: String,
}

fn schema_err(pointer: &str, reason: impl Into<String>) -> SchemaError {
    SchemaError {
        pointer: pointer.to_owned(),
        reason: reason.into(),
    }
}

/// A compiled JSON Schema (draft-07 subset, see the [module docs](self)).
///
/// Compile once, validate many times; cloning is cheap (the compiled form is shared).
///
/// ```
/// use clamator_protocol::schema::SchemaValidator;
/// use serde_json::json;
///
/// let v = SchemaValidator::from_json(
///     r#"{"type":"object",
///         "properties":{"a":{"type":"number","minimum":0},"tag":{"type":"string","enum":["x","y"]}},
///         "required":["a"],"additionalProperties":false}"#,
/// )?;
/// assert!(v.validate(&json!({"a": 1.5, "tag": "x"})).is_ok());
///
/// let issues = v.validate(&json!({"a": -1, "tag": "z", "extra": true})).unwrap_err();
/// let issues: Vec<(&str, &str)> =
///     issues.iter().map(|i| (i.path.as_str(), i.message.as_str())).collect();
/// assert_eq!(issues, [
///     ("/a", "must be >= 0"),
///     ("/tag", r#"must be one of ["x","y"]"#),
///     ("", r#"unknown property "extra""#),
/// ]);
/// # Ok::<(), clamator_protocol::schema::SchemaError>(())
/// ```
#[derive(Debug, Clone)]
pub struct SchemaValidator {
    /// The compiled schemas; index 0 is the root.
    nodes: Arc<[Node]>,
    /// Treat `null` for a listed, optional (not `required`) property as absent.
    null_as_absent: bool,
}

impl SchemaValidator {
    /// Compiles `schema` (a JSON Schema document; its `$defs`/`definitions` are the targets
    /// of `$ref`s).
    ///
    /// Fails on an unresolvable or unsupported (non-local) `$ref`, a `$ref` cycle that never
    /// descends into the value, an invalid `pattern` regex, or a keyword with a value of the
    /// wrong type.
    pub fn new(schema: Value) -> Result<Self, SchemaError> {
        let nodes = Compiler::run(&schema)?;
        Ok(Self {
            nodes: nodes.into(),
            null_as_absent: false,
        })
    }

    /// Returns this validator with `null` accepted for every optional property (one listed in
    /// `properties` but not in `required`), as if the property were absent.
    ///
    /// Clamator's Python proxies send unset optional fields as `null`; servers validate params
    /// this way so those calls succeed. Results are validated strictly.
    ///
    /// ```
    /// use clamator_protocol::SchemaValidator;
    /// let v = SchemaValidator::from_json(r#"{"type":"object","properties":{"tag":{"type":"string"}}}"#).unwrap();
    /// let input = serde_json::json!({"tag": null});
    /// assert!(v.validate(&input).is_err());
    /// assert!(v.accepting_null_for_optional().validate(&input).is_ok());
    /// ```
    #[must_use]
    pub fn accepting_null_for_optional(mut self) -> Self {
        self.null_as_absent = true;
        self
    }

    /// Compiles a schema from JSON text (generated code embeds schemas as string
    /// constants).
    pub fn from_json(text: &str) -> Result<Self, SchemaError> {
        let schema: Value = serde_json::from_str(text)
            .map_err(|e| schema_err("", format!("schema is not valid JSON: {e}")))?;
        Self::new(schema)
    }

    /// Checks `value`; on failure returns every problem found (not just the first), each
    /// with a JSON Pointer to the offending value (`""` for the root, `"/a"`,
    /// `"/items/0/x"`; `~` and `/` in keys escaped per RFC 6901).
    pub fn validate(&self, value: &Value) -> Result<(), Vec<ValidationIssue>> {
        let mut sink = Collect::default();
        if self.eval(0, value, &Path::Root, 0, 0, &mut sink) {
            return Ok(());
        }
        let mut issues: Vec<ValidationIssue> =
            sink.issues.into_iter().map(Issue::into_public).collect();
        if issues.is_empty() {
            issues.push(ValidationIssue::new("", "does not match the schema"));
        }
        Err(issues)
    }
}

impl crate::server::Validator for SchemaValidator {
    fn validate(&self, value: &Value) -> Result<(), Vec<ValidationIssue>> {
        SchemaValidator::validate(self, value)
    }
}

// ---------------------------------------------------------------------------------------
// Compiled form
// ---------------------------------------------------------------------------------------

#[derive(Debug, Clone)]
enum Node {
    Bool(bool),
    /// A `$ref` (draft-07: its sibling keywords are ignored).
    Ref(usize),
    Schema(Box<Keywords>),
}

const T_NULL: u8 = 1;
const T_BOOLEAN: u8 = 2;
const T_OBJECT: u8 = 4;
const T_ARRAY: u8 = 8;
const T_NUMBER: u8 = 16;
const T_INTEGER: u8 = 32;
const T_STRING: u8 = 64;

/// Display order of type names in messages.
const TYPE_NAMES: [(u8, &str); 7] = [
    (T_STRING, "string"),
    (T_INTEGER, "integer"),
    (T_NUMBER, "number"),
    (T_BOOLEAN, "boolean"),
    (T_OBJECT, "object"),
    (T_ARRAY, "array"),
    (T_NULL, "null"),
];

#[derive(Debug, Clone, Default)]
enum Items {
    #[default]
    None,
    One(usize),
    Tuple(Vec<usize>),
}

#[derive(Debug, Clone)]
enum Dependency {
    Required(Vec<String>),
    Schema(usize),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Format {
    DateTime,
    Date,
    Time,
    Uuid,
    Email,
}

impl Format {
    fn parse(name: &str) -> Option<Self> {
        Some(match name {
            "date-time" => Self::DateTime,
            "date" => Self::Date,
            "time" => Self::Time,
            "uuid" => Self::Uuid,
            "email" => Self::Email,
            _ => return None,
        })
    }

    fn name(self) -> &'static str {
        match self {
            Self::DateTime => "date-time",
            Self::Date => "date",
            Self::Time => "time",
            Self::Uuid => "uuid",
            Self::Email => "email",
        }
    }

    fn check(self, s: &str) -> bool {
        let b = s.as_bytes();
        match self {
            Self::DateTime => is_date_time(b),
            Self::Date => b.len() == 10 && parse_date(b).is_some(),
            Self::Time => is_time(b),
            Self::Uuid => is_uuid(b),
            Self::Email => is_email(s),
        }
    }
}

/// A numeric bound: its value and the number as written (for messages).
#[derive(Debug, Clone)]
struct Bound {
    num: Num,
    raw: Number,
}

#[derive(Debug, Clone, Default)]
struct Keywords {
    /// How many constraining keywords are present (0 = accepts anything).
    count: usize,
    types: Option<u8>,
    enum_values: Option<Vec<Value>>,
    const_value: Option<Value>,
    // objects
    /// Sorted by name for binary search.
    properties: Vec<(String, usize)>,
    pattern_properties: Vec<(Regex, usize)>,
    additional_properties: Option<usize>,
    property_names: Option<usize>,
    required: Vec<String>,
    min_properties: Option<u64>,
    max_properties: Option<u64>,
    dependencies: Vec<(String, Dependency)>,
    // arrays
    items: Items,
    additional_items: Option<usize>,
    min_items: Option<u64>,
    max_items: Option<u64>,
    unique_items: bool,
    contains: Option<usize>,
    // numbers
    minimum: Option<Bound>,
    maximum: Option<Bound>,
    exclusive_minimum: Option<Bound>,
    exclusive_maximum: Option<Bound>,
    multiple_of: Option<Bound>,
    // strings
    min_length: Option<u64>,
    max_length: Option<u64>,
    pattern: Option<Regex>,
    format: Option<Format>,
    // combinators
    all_of: Vec<usize>,
    any_of: Vec<usize>,
    one_of: Vec<usize>,
    not: Option<usize>,
    if_schema: Option<usize>,
    then_schema: Option<usize>,
    else_schema: Option<usize>,
}

// ---------------------------------------------------------------------------------------
// Compiler
// ---------------------------------------------------------------------------------------

struct Compiler<'s> {
    root: &'s Value,
    nodes: Vec<Node>,
    /// Schema pointer of each node (for error messages).
    pointers: Vec<String>,
    /// `$ref` target pointer → node.
    refs: HashMap<String, usize>,
    /// `$ref` targets reserved but not yet compiled.
    queue: Vec<(String, usize)>,
}

fn escape_pointer_into(out: &mut String, token: &str) {
    for c in token.chars() {
        match c {
            '~' => out.push_str("~0"),
            '/' => out.push_str("~1"),
            c => out.push(c),
        }
    }
}

fn child_pointer(parent: &str, token: &str) -> String {
    let mut p = String::with_capacity(parent.len() + token.len() + 1);
    p.push_str(parent);
    p.push('/');
    escape_pointer_into(&mut p, token);
    p
}

fn percent_decode(s: &str) -> Option<String> {
    if !s.contains('%') {
        return Some(s.to_owned());
    }
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while let Some(&c) = b.get(i) {
        if c == b'%' {
            let hi = char::from(*b.get(i + 1)?).to_digit(16)?;
            let lo = char::from(*b.get(i + 2)?).to_digit(16)?;
            out.push(u8::try_from(hi * 16 + lo).ok()?);
            i += 3;
        } else {
            out.push(c);
            i += 1;
        }
    }
    String::from_utf8(out).ok()
}

/// True when `v` nests deeper than `limit` levels.
fn nests_deeper_than(v: &Value, limit: u32) -> bool {
    match v {
        Value::Array(a) => limit == 0 || a.iter().any(|x| nests_deeper_than(x, limit - 1)),
        Value::Object(m) => limit == 0 || m.values().any(|x| nests_deeper_than(x, limit - 1)),
        _ => false,
    }
}

fn type_bit(name: &str) -> Option<u8> {
    Some(match name {
        "null" => T_NULL,
        "boolean" => T_BOOLEAN,
        "object" => T_OBJECT,
        "array" => T_ARRAY,
        "number" => T_NUMBER,
        "integer" => T_INTEGER,
        "string" => T_STRING,
        _ => return None,
    })
}

fn json_kind(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "boolean",
        Value::Number(_) => "number",
        Value::String(_) => "string",
        Value::Array(_) => "array",
        Value::Object(_) => "object",
    }
}

#[cold]
fn not_a_schema(pointer: &str, v: &Value) -> SchemaError {
    schema_err(
        pointer,
        format!(
            "a schema must be an object or a boolean, got {}",
            json_kind(v)
        ),
    )
}

fn compile_regex(pattern: &str, pointer: &str) -> Result<Regex, SchemaError> {
    Regex::new(pattern).map_err(|e| {
        let text = e.to_string();
        let detail = text
            .lines()
            .find_map(|l| l.trim().strip_prefix("error: "))
            .unwrap_or_else(|| text.lines().next().unwrap_or("invalid"))
            .to_owned();
        schema_err(
            pointer,
            format!("invalid regex {}: {detail}", quote(pattern)),
        )
    })
}

fn non_negative_int(v: &Value, pointer: &str) -> Result<u64, SchemaError> {
    if let Some(n) = v.as_u64() {
        return Ok(n);
    }
    match v.as_f64() {
        Some(f) if f >= 0.0 && f.fract() == 0.0 && f < 1.8e19 => Ok(f as u64),
        _ => Err(schema_err(pointer, "must be a non-negative integer")),
    }
}

fn bound(v: &Value, pointer: &str) -> Result<Bound, SchemaError> {
    match v {
        Value::Number(n) => Ok(Bound {
            num: to_num(n),
            raw: n.clone(),
        }),
        _ => Err(schema_err(pointer, "must be a number")),
    }
}

/// Keywords whose values hold subschemas (compiled recursively).
const APPLICATORS: [&str; 15] = [
    "properties",
    "patternProperties",
    "additionalProperties",
    "propertyNames",
    "dependencies",
    "items",
    "additionalItems",
    "contains",
    "allOf",
    "anyOf",
    "oneOf",
    "not",
    "if",
    "then",
    "else",
];

fn string_list(list: &[Value], pointer: &str) -> Result<Vec<String>, SchemaError> {
    list.iter()
        .enumerate()
        .map(|(i, v)| match v {
            Value::String(s) => Ok(s.clone()),
            _ => Err(schema_err(&format!("{pointer}/{i}"), "must be a string")),
        })
        .collect()
}

fn type_bits(v: &Value, pointer: &str) -> Result<u8, SchemaError> {
    let one = |t: &Value, p: &str| match t {
        Value::String(s) => {
            type_bit(s).ok_or_else(|| schema_err(p, format!("unknown type {}", quote(s))))
        }
        _ => Err(schema_err(p, "must be a type name")),
    };
    match v {
        Value::String(_) => one(v, pointer),
        Value::Array(list) if !list.is_empty() => {
            let mut bits = 0;
            for (i, t) in list.iter().enumerate() {
                bits |= one(t, &format!("{pointer}/{i}"))?;
            }
            Ok(bits)
        }
        _ => Err(schema_err(
            pointer,
            "must be a type name or a non-empty array of them",
        )),
    }
}

/// A keyword that holds no subschemas; true when it constrains anything (false for
/// annotations and unknown keywords).
fn parse_assertion(k: &mut Keywords, key: &str, v: &Value, at: &str) -> Result<bool, SchemaError> {
    match key {
        "type" => k.types = Some(type_bits(v, at)?),
        "enum" => {
            let Value::Array(list) = v else {
                return Err(schema_err(at, "must be an array"));
            };
            if nests_deeper_than(v, MAX_SCHEMA_DEPTH) {
                return Err(schema_err(at, "value nested too deeply"));
            }
            k.enum_values = Some(list.clone());
        }
        "const" => {
            if nests_deeper_than(v, MAX_SCHEMA_DEPTH) {
                return Err(schema_err(at, "value nested too deeply"));
            }
            k.const_value = Some(v.clone());
        }
        "required" => {
            let Value::Array(list) = v else {
                return Err(schema_err(at, "must be an array of strings"));
            };
            k.required = string_list(list, at)?;
        }
        "minProperties" => k.min_properties = Some(non_negative_int(v, at)?),
        "maxProperties" => k.max_properties = Some(non_negative_int(v, at)?),
        "minItems" => k.min_items = Some(non_negative_int(v, at)?),
        "maxItems" => k.max_items = Some(non_negative_int(v, at)?),
        "uniqueItems" => {
            let Value::Bool(b) = v else {
                return Err(schema_err(at, "must be a boolean"));
            };
            k.unique_items = *b;
        }
        "minimum" => k.minimum = Some(bound(v, at)?),
        "maximum" => k.maximum = Some(bound(v, at)?),
        "exclusiveMinimum" => k.exclusive_minimum = Some(bound(v, at)?),
        "exclusiveMaximum" => k.exclusive_maximum = Some(bound(v, at)?),
        "multipleOf" => {
            let b = bound(v, at)?;
            if cmp_num(b.num, Num::Int(0)) != Some(Ordering::Greater) {
                return Err(schema_err(at, "must be a number greater than 0"));
            }
            k.multiple_of = Some(b);
        }
        "minLength" => k.min_length = Some(non_negative_int(v, at)?),
        "maxLength" => k.max_length = Some(non_negative_int(v, at)?),
        "pattern" => {
            let Value::String(p) = v else {
                return Err(schema_err(at, "must be a string"));
            };
            k.pattern = Some(compile_regex(p, at)?);
        }
        "format" => {
            let Value::String(f) = v else {
                return Err(schema_err(at, "must be a string"));
            };
            // unknown formats are annotations
            k.format = Format::parse(f);
            return Ok(k.format.is_some());
        }
        _ => return Ok(false), // annotations and unknown keywords
    }
    Ok(true)
}

impl<'s> Compiler<'s> {
    fn run(root: &'s Value) -> Result<Vec<Node>, SchemaError> {
        let mut c = Compiler {
            root,
            nodes: Vec::new(),
            pointers: Vec::new(),
            refs: HashMap::new(),
            queue: Vec::new(),
        };
        let idx = c.reserve(String::new());
        c.refs.insert(String::new(), idx);
        c.compile_into(idx, root, "", 0)?;
        while let Some((pointer, idx)) = c.queue.pop() {
            let target = c
                .root
                .pointer(&pointer)
                .ok_or_else(|| schema_err(&pointer, "unresolvable $ref target"))?;
            c.compile_into(idx, target, &pointer, 0)?;
        }
        c.check_cycles()?;
        Ok(c.nodes)
    }

    fn reserve(&mut self, pointer: String) -> usize {
        let idx = self.nodes.len();
        self.nodes.push(Node::Bool(true));
        self.pointers.push(pointer);
        idx
    }

    /// The node for the schema at `pointer`, compiled later (lazily, so recursion works).
    fn ref_slot(&mut self, pointer: String) -> usize {
        if let Some(&idx) = self.refs.get(&pointer) {
            return idx;
        }
        let idx = self.reserve(pointer.clone());
        self.refs.insert(pointer.clone(), idx);
        self.queue.push((pointer, idx));
        idx
    }

    fn resolve_ref(&mut self, reference: &str, at: &str) -> Result<usize, SchemaError> {
        let Some(fragment) = reference.strip_prefix('#') else {
            return Err(schema_err(
                at,
                format!(
                    "unsupported $ref {}: only local references (\"#...\") are supported",
                    quote(reference)
                ),
            ));
        };
        let pointer = percent_decode(fragment).ok_or_else(|| {
            schema_err(
                at,
                format!("invalid percent-encoding in $ref {}", quote(reference)),
            )
        })?;
        if let Some(&idx) = self.refs.get(&pointer) {
            return Ok(idx);
        }
        if self.root.pointer(&pointer).is_none() {
            return Err(schema_err(
                at,
                format!("unresolvable $ref {}", quote(reference)),
            ));
        }
        Ok(self.ref_slot(pointer))
    }

    fn compile(&mut self, v: &'s Value, pointer: String, nest: u32) -> Result<usize, SchemaError> {
        let idx = self.reserve(pointer.clone());
        self.compile_into(idx, v, &pointer, nest)?;
        Ok(idx)
    }

    fn compile_into(
        &mut self,
        idx: usize,
        v: &'s Value,
        pointer: &str,
        nest: u32,
    ) -> Result<(), SchemaError> {
        if nest > MAX_SCHEMA_DEPTH {
            return Err(schema_err(pointer, "schema nested too deeply"));
        }
        let node = match v {
            Value::Bool(b) => Node::Bool(*b),
            Value::Object(m) => self.compile_object(m, pointer, nest)?,
            other => return Err(not_a_schema(pointer, other)),
        };
        if let Some(slot) = self.nodes.get_mut(idx) {
            *slot = node;
        }
        Ok(())
    }

    fn schema_list(
        &mut self,
        v: &'s Value,
        pointer: &str,
        nest: u32,
        allow_empty: bool,
    ) -> Result<Vec<usize>, SchemaError> {
        let Value::Array(list) = v else {
            return Err(schema_err(pointer, "must be an array of schemas"));
        };
        if list.is_empty() && !allow_empty {
            return Err(schema_err(pointer, "must be a non-empty array of schemas"));
        }
        list.iter()
            .enumerate()
            .map(|(i, s)| self.compile(s, format!("{pointer}/{i}"), nest + 1))
            .collect()
    }

    fn schema_map(
        &mut self,
        v: &'s Value,
        pointer: &str,
        nest: u32,
    ) -> Result<Vec<(String, usize)>, SchemaError> {
        let Value::Object(m) = v else {
            return Err(schema_err(pointer, "must be an object of schemas"));
        };
        m.iter()
            .map(|(name, s)| {
                let idx = self.compile(s, child_pointer(pointer, name), nest + 1)?;
                Ok((name.clone(), idx))
            })
            .collect()
    }

    fn compile_object(
        &mut self,
        m: &'s Map<String, Value>,
        pointer: &str,
        nest: u32,
    ) -> Result<Node, SchemaError> {
        for key in ["$defs", "definitions"] {
            if let Some(defs) = m.get(key) {
                let at = child_pointer(pointer, key);
                let Value::Object(defs) = defs else {
                    return Err(schema_err(&at, "must be an object of schemas"));
                };
                for name in defs.keys() {
                    self.ref_slot(child_pointer(&at, name));
                }
            }
        }
        if let Some(r) = m.get("$ref") {
            let at = child_pointer(pointer, "$ref");
            let Value::String(r) = r else {
                return Err(schema_err(&at, "must be a string"));
            };
            return Ok(Node::Ref(self.resolve_ref(r, &at)?));
        }
        // Boxed at once: this frame is on the compile recursion path.
        let mut k = Box::<Keywords>::default();
        for (key, v) in m {
            let at = child_pointer(pointer, key);
            let counted = if APPLICATORS.contains(&key.as_str()) {
                self.compile_applicator(&mut k, key, v, &at, nest + 1)?
            } else {
                parse_assertion(&mut k, key, v, &at)?
            };
            k.count += usize::from(counted);
        }
        Ok(Node::Schema(k))
    }

    /// A keyword whose value holds subschemas; true when it constrains anything.
    fn compile_applicator(
        &mut self,
        k: &mut Keywords,
        key: &str,
        v: &'s Value,
        at: &str,
        sub: u32,
    ) -> Result<bool, SchemaError> {
        match key {
            "properties" => {
                k.properties = self.schema_map(v, at, sub)?;
                k.properties.sort_by(|a, b| a.0.cmp(&b.0));
            }
            "patternProperties" => {
                let Value::Object(pm) = v else {
                    return Err(schema_err(at, "must be an object of schemas"));
                };
                for (pattern, s) in pm {
                    let p = child_pointer(at, pattern);
                    let re = compile_regex(pattern, &p)?;
                    let idx = self.compile(s, p, sub)?;
                    k.pattern_properties.push((re, idx));
                }
            }
            "additionalProperties" => {
                k.additional_properties = Some(self.compile(v, at.to_owned(), sub)?);
            }
            "propertyNames" => k.property_names = Some(self.compile(v, at.to_owned(), sub)?),
            "dependencies" => {
                let Value::Object(deps) = v else {
                    return Err(schema_err(at, "must be an object"));
                };
                for (name, dep) in deps {
                    let p = child_pointer(at, name);
                    let dep = match dep {
                        Value::Array(list) => Dependency::Required(string_list(list, &p)?),
                        s => Dependency::Schema(self.compile(s, p, sub)?),
                    };
                    k.dependencies.push((name.clone(), dep));
                }
            }
            "items" => {
                k.items = match v {
                    Value::Array(_) => Items::Tuple(self.schema_list(v, at, sub, true)?),
                    s => Items::One(self.compile(s, at.to_owned(), sub)?),
                };
            }
            "additionalItems" => {
                k.additional_items = Some(self.compile(v, at.to_owned(), sub)?);
            }
            "contains" => k.contains = Some(self.compile(v, at.to_owned(), sub)?),
            "allOf" => k.all_of = self.schema_list(v, at, sub, false)?,
            "anyOf" => k.any_of = self.schema_list(v, at, sub, false)?,
            "oneOf" => k.one_of = self.schema_list(v, at, sub, false)?,
            "not" => k.not = Some(self.compile(v, at.to_owned(), sub)?),
            "if" => k.if_schema = Some(self.compile(v, at.to_owned(), sub)?),
            // `then`/`else` count with `if` (and do nothing without it)
            "then" => {
                k.then_schema = Some(self.compile(v, at.to_owned(), sub)?);
                return Ok(false);
            }
            "else" => {
                k.else_schema = Some(self.compile(v, at.to_owned(), sub)?);
                return Ok(false);
            }
            _ => return Ok(false),
        }
        Ok(true)
    }

    /// Rejects schemas that apply themselves to the same value forever (`$ref` cycles
    /// through `allOf`/`anyOf`/`oneOf`/`not`/`if`/`then`/`else` without an intervening
    /// `properties`/`items`/... that descends into the value).
    fn check_cycles(&self) -> Result<(), SchemaError> {
        let edges: Vec<Vec<usize>> = self.nodes.iter().map(in_place_edges).collect();
        // 0 = unvisited, 1 = on the stack, 2 = done
        let mut state = vec![0u8; self.nodes.len()];
        for start in 0..self.nodes.len() {
            if state.get(start) != Some(&0) {
                continue;
            }
            let mut stack: Vec<(usize, usize)> = vec![(start, 0)];
            if let Some(s) = state.get_mut(start) {
                *s = 1;
            }
            while let Some(top) = stack.last_mut() {
                let (node, next) = *top;
                let target = edges.get(node).and_then(|e| e.get(next)).copied();
                match target {
                    Some(t) => {
                        top.1 += 1;
                        match state.get(t) {
                            Some(0) => {
                                if let Some(s) = state.get_mut(t) {
                                    *s = 1;
                                }
                                stack.push((t, 0));
                            }
                            Some(1) => {
                                let mut at = self.pointers.get(node).cloned().unwrap_or_default();
                                if matches!(self.nodes.get(node), Some(Node::Ref(_))) {
                                    at.push_str("/$ref");
                                }
                                return Err(schema_err(
                                    &at,
                                    "$ref cycle: the schema applies itself to the same value \
                                     forever (recursion must go through properties or items)",
                                ));
                            }
                            _ => {}
                        }
                    }
                    None => {
                        if let Some(s) = state.get_mut(node) {
                            *s = 2;
                        }
                        stack.pop();
                    }
                }
            }
        }
        Ok(())
    }
}

/// Schemas applied to the same value as `node` (not to a child of it).
fn in_place_edges(node: &Node) -> Vec<usize> {
    match node {
        Node::Bool(_) => Vec::new(),
        Node::Ref(t) => vec![*t],
        Node::Schema(k) => {
            let mut e: Vec<usize> = Vec::new();
            e.extend(&k.all_of);
            e.extend(&k.any_of);
            e.extend(&k.one_of);
            e.extend(k.not);
            if k.if_schema.is_some() {
                e.extend(k.if_schema);
                e.extend(k.then_schema);
                e.extend(k.else_schema);
            }
            for (_, d) in &k.dependencies {
                if let Dependency::Schema(s) = d {
                    e.push(*s);
                }
            }
            e
        }
    }
}

// ---------------------------------------------------------------------------------------
// Numbers and JSON equality
// ---------------------------------------------------------------------------------------

/// A JSON number: integral values (including `5.0`) as `Int`, the rest as `Float`.
#[derive(Debug, Clone, Copy)]
enum Num {
    Int(i128),
    Float(f64),
}

fn to_num(n: &Number) -> Num {
    if let Some(u) = n.as_u64() {
        return Num::Int(i128::from(u));
    }
    if let Some(i) = n.as_i64() {
        return Num::Int(i128::from(i));
    }
    let f = n.as_f64().unwrap_or(f64::NAN);
    if f.is_finite() && f.fract() == 0.0 && f.abs() < 1e36 {
        Num::Int(f as i128)
    } else {
        Num::Float(f)
    }
}

fn num_f64(n: Num) -> f64 {
    match n {
        Num::Int(i) => i as f64,
        Num::Float(f) => f,
    }
}

fn cmp_int_float(i: i128, f: f64) -> Option<Ordering> {
    if f.is_nan() {
        return None;
    }
    // |i| < 1e36 always (u64/i64, or an integral float below 1e36).
    if f >= 1e36 {
        return Some(Ordering::Less);
    }
    if f <= -1e36 {
        return Some(Ordering::Greater);
    }
    let floor = f.floor();
    Some(match i.cmp(&(floor as i128)) {
        Ordering::Equal if f > floor => Ordering::Less,
        o => o,
    })
}

/// Exact comparison of two JSON numbers.
fn cmp_num(a: Num, b: Num) -> Option<Ordering> {
    match (a, b) {
        (Num::Int(x), Num::Int(y)) => Some(x.cmp(&y)),
        (Num::Float(x), Num::Float(y)) => x.partial_cmp(&y),
        (Num::Int(x), Num::Float(y)) => cmp_int_float(x, y),
        (Num::Float(x), Num::Int(y)) => cmp_int_float(y, x).map(Ordering::reverse),
    }
}

fn is_multiple_of(x: Num, m: Num) -> bool {
    if let (Num::Int(a), Num::Int(b)) = (x, m) {
        return b != 0 && a % b == 0;
    }
    let q = num_f64(x) / num_f64(m);
    if !q.is_finite() {
        return false;
    }
    // Tolerate the rounding of decimal fractions in binary (0.3 is a multiple of 0.1).
    (q - q.round()).abs() <= q.abs().max(1.0) * 1e-12
}

fn is_integer(n: &Number) -> bool {
    n.is_u64()
        || n.is_i64()
        || n.as_f64()
            .is_some_and(|f| f.is_finite() && f.fract() == 0.0)
}

fn type_matches(types: u8, v: &Value) -> bool {
    let bit = match v {
        Value::Null => T_NULL,
        Value::Bool(_) => T_BOOLEAN,
        Value::Object(_) => T_OBJECT,
        Value::Array(_) => T_ARRAY,
        Value::String(_) => T_STRING,
        Value::Number(n) => {
            return types & T_NUMBER != 0 || (types & T_INTEGER != 0 && is_integer(n));
        }
    };
    types & bit != 0
}

/// JSON equality (`1 == 1.0`, object key order irrelevant); `None` when both values nest
/// deeper than `budget` levels.
fn json_eq(a: &Value, b: &Value, budget: u32) -> Option<bool> {
    Some(match (a, b) {
        (Value::Null, Value::Null) => true,
        (Value::Bool(x), Value::Bool(y)) => x == y,
        (Value::Number(x), Value::Number(y)) => {
            cmp_num(to_num(x), to_num(y)) == Some(Ordering::Equal)
        }
        (Value::String(x), Value::String(y)) => x == y,
        (Value::Array(x), Value::Array(y)) => {
            if x.len() != y.len() {
                return Some(false);
            }
            let budget = budget.checked_sub(1)?;
            for (p, q) in x.iter().zip(y) {
                if !json_eq(p, q, budget)? {
                    return Some(false);
                }
            }
            true
        }
        (Value::Object(x), Value::Object(y)) => {
            if x.len() != y.len() {
                return Some(false);
            }
            let budget = budget.checked_sub(1)?;
            for (key, p) in x {
                match y.get(key) {
                    Some(q) if json_eq(p, q, budget)? => {}
                    _ => return Some(false),
                }
            }
            true
        }
        _ => false,
    })
}

/// Equality against a schema constant (whose depth was bounded at compile time).
fn equals_constant(constant: &Value, v: &Value) -> bool {
    json_eq(constant, v, MAX_SCHEMA_DEPTH + 1).unwrap_or(false)
}

fn hash_of<T: Hash + ?Sized>(tag: u8, t: &T) -> u64 {
    let mut h = DefaultHasher::new();
    tag.hash(&mut h);
    t.hash(&mut h);
    h.finish()
}

/// A hash consistent with [`json_eq`]; `None` when `v` nests deeper than `budget`.
fn json_hash(v: &Value, budget: u32) -> Option<u64> {
    Some(match v {
        Value::Null => hash_of(0, &()),
        Value::Bool(b) => hash_of(1, b),
        Value::Number(n) => match to_num(n) {
            Num::Int(i) => hash_of(2, &i),
            Num::Float(f) => hash_of(3, &f.to_bits()),
        },
        Value::String(s) => hash_of(4, s.as_str()),
        Value::Array(a) => {
            let budget = budget.checked_sub(1)?;
            let mut acc = hash_of(5, &a.len());
            for x in a {
                acc = acc
                    .wrapping_mul(0x0100_0000_01b3)
                    .wrapping_add(json_hash(x, budget)?);
            }
            acc
        }
        Value::Object(m) => {
            let budget = budget.checked_sub(1)?;
            let mut acc = hash_of(6, &m.len());
            for (k, x) in m {
                // order-independent
                acc = acc
                    .wrapping_add(hash_of(7, k.as_str()) ^ json_hash(x, budget)?.rotate_left(17));
            }
            acc
        }
    })
}

/// The first pair of equal items, `Some(None)` when all are distinct, `None` when the items
/// nest too deeply to compare.
fn find_duplicate(items: &[Value]) -> Option<Option<(usize, usize)>> {
    if items.len() <= 16 {
        for (i, a) in items.iter().enumerate() {
            for (j, b) in items.iter().enumerate().skip(i + 1) {
                if json_eq(a, b, MAX_DEPTH)? {
                    return Some(Some((i, j)));
                }
            }
        }
        return Some(None);
    }
    let mut hashes: Vec<(u64, usize)> = Vec::with_capacity(items.len());
    for (i, x) in items.iter().enumerate() {
        hashes.push((json_hash(x, MAX_DEPTH)?, i));
    }
    hashes.sort_unstable();
    let mut found: Option<(usize, usize)> = None;
    for run in hashes.chunk_by(|a, b| a.0 == b.0) {
        for (p, &(_, i)) in run.iter().enumerate() {
            for &(_, j) in run.iter().skip(p + 1) {
                let (Some(a), Some(b)) = (items.get(i), items.get(j)) else {
                    continue;
                };
                if json_eq(a, b, MAX_DEPTH)? {
                    let pair = (i.min(j), i.max(j));
                    if found.is_none_or(|f| pair < f) {
                        found = Some(pair);
                    }
                }
            }
        }
    }
    Some(found)
}

// ---------------------------------------------------------------------------------------
// Formats
// ---------------------------------------------------------------------------------------

fn digits(b: &[u8], start: usize, n: usize) -> Option<u32> {
    let mut v = 0u32;
    for i in start..start + n {
        let c = *b.get(i)?;
        if !c.is_ascii_digit() {
            return None;
        }
        v = v * 10 + u32::from(c - b'0');
    }
    Some(v)
}

fn days_in_month(year: u32, month: u32) -> u32 {
    match month {
        2 if year.is_multiple_of(4) && (!year.is_multiple_of(100) || year.is_multiple_of(400)) => {
            29
        }
        2 => 28,
        4 | 6 | 9 | 11 => 30,
        _ => 31,
    }
}

/// `YYYY-MM-DD` at the start of `b`.
fn parse_date(b: &[u8]) -> Option<()> {
    let year = digits(b, 0, 4)?;
    let month = digits(b, 5, 2)?;
    let day = digits(b, 8, 2)?;
    if b.get(4) != Some(&b'-') || b.get(7) != Some(&b'-') {
        return None;
    }
    if !(1..=12).contains(&month) || day == 0 || day > days_in_month(year, month) {
        return None;
    }
    Some(())
}

/// `HH:MM:SS[.frac]` at the start of `b`: (hour, minute, second, length).
fn parse_partial_time(b: &[u8]) -> Option<(u32, u32, u32, usize)> {
    let hour = digits(b, 0, 2)?;
    let minute = digits(b, 3, 2)?;
    let second = digits(b, 6, 2)?;
    if b.get(2) != Some(&b':') || b.get(5) != Some(&b':') {
        return None;
    }
    if hour > 23 || minute > 59 || second > 60 {
        return None;
    }
    let mut len = 8;
    if b.get(len) == Some(&b'.') {
        len += 1;
        let start = len;
        while b.get(len).is_some_and(u8::is_ascii_digit) {
            len += 1;
        }
        if len == start {
            return None;
        }
    }
    Some((hour, minute, second, len))
}

/// `Z` or `±HH:MM`, exactly `b`: the offset in minutes east of UTC.
fn parse_offset(b: &[u8]) -> Option<i32> {
    match b {
        [b'Z' | b'z'] => Some(0),
        [sign @ (b'+' | b'-'), _, _, b':', _, _] => {
            let h = digits(b, 1, 2)?;
            let m = digits(b, 4, 2)?;
            if h > 23 || m > 59 {
                return None;
            }
            let minutes = i32::try_from(h * 60 + m).ok()?;
            Some(if *sign == b'-' { -minutes } else { minutes })
        }
        _ => None,
    }
}

/// RFC 3339 `full-time` (offset optional, see `is_time`) including leap-second rules.
fn check_time(b: &[u8], offset_required: bool) -> bool {
    let Some((hour, minute, second, len)) = parse_partial_time(b) else {
        return false;
    };
    let rest = b.get(len..).unwrap_or_default();
    let offset = if rest.is_empty() && !offset_required {
        0
    } else {
        match parse_offset(rest) {
            Some(o) => o,
            None => return false,
        }
    };
    if second == 60 {
        // A leap second is only ever 23:59:60 UTC.
        let local = i32::try_from(hour * 60 + minute).unwrap_or(0);
        let utc = (local - offset).rem_euclid(24 * 60);
        return utc == 23 * 60 + 59;
    }
    true
}

fn is_date_time(b: &[u8]) -> bool {
    b.len() >= 20
        && parse_date(b).is_some()
        && matches!(b.get(10), Some(b'T' | b't'))
        && check_time(b.get(11..).unwrap_or_default(), true)
}

/// RFC 3339 `partial-time` with an optional offset (zod's `z.string().time()` emits
/// `format: "time"` for offset-less times).
fn is_time(b: &[u8]) -> bool {
    check_time(b, false)
}

fn is_uuid(b: &[u8]) -> bool {
    b.len() == 36
        && b.iter().enumerate().all(|(i, c)| match i {
            8 | 13 | 18 | 23 => *c == b'-',
            _ => c.is_ascii_hexdigit(),
        })
}

/// Loose: `local@domain`, both non-empty, no whitespace.
fn is_email(s: &str) -> bool {
    match s.rsplit_once('@') {
        Some((local, domain)) => {
            !local.is_empty() && !domain.is_empty() && !s.chars().any(char::is_whitespace)
        }
        None => false,
    }
}

// ---------------------------------------------------------------------------------------
// Validation
// ---------------------------------------------------------------------------------------

/// Where in the checked value we are; rendered to a JSON Pointer only for issues.
#[derive(Clone, Copy)]
enum Path<'a> {
    Root,
    Key(&'a Path<'a>, &'a str),
    Index(&'a Path<'a>, usize),
}

impl Path<'_> {
    fn render(&self) -> String {
        let mut segments: Vec<&Path<'_>> = Vec::new();
        let mut cur = self;
        while let Path::Key(parent, _) | Path::Index(parent, _) = cur {
            segments.push(cur);
            cur = parent;
        }
        let mut out = String::new();
        for seg in segments.iter().rev() {
            match seg {
                Path::Key(_, key) => {
                    out.push('/');
                    escape_pointer_into(&mut out, key);
                }
                Path::Index(_, i) => {
                    let _ = write!(out, "/{i}");
                }
                Path::Root => {}
            }
        }
        out
    }
}

#[derive(Debug)]
enum Kind {
    /// A `type` mismatch (kept structured so unions can merge them).
    Type {
        expected: u8,
        got: &'static str,
    },
    Message(String),
}

#[derive(Debug)]
struct Issue {
    path: String,
    kind: Kind,
}

fn describe_types(types: u8) -> String {
    let names: Vec<&str> = TYPE_NAMES
        .iter()
        .filter(|(bit, _)| types & bit != 0)
        .map(|(_, name)| *name)
        .collect();
    match names.split_last() {
        None => "nothing".to_owned(),
        Some((last, [])) => (*last).to_owned(),
        Some((last, rest)) => format!("{} or {last}", rest.join(", ")),
    }
}

impl Kind {
    fn message(&self) -> String {
        match self {
            Kind::Type { expected, got } => {
                format!("expected {}, got {got}", describe_types(*expected))
            }
            Kind::Message(m) => m.clone(),
        }
    }
}

impl Issue {
    fn into_public(self) -> ValidationIssue {
        let message = match self.kind {
            Kind::Message(m) => m,
            k @ Kind::Type { .. } => k.message(),
        };
        ValidationIssue {
            path: self.path,
            message,
        }
    }
}

fn msg(m: impl Into<String>) -> Kind {
    Kind::Message(m.into())
}

fn quote(s: &str) -> String {
    serde_json::to_string(s).unwrap_or_default()
}

fn to_json(v: &impl serde::Serialize) -> String {
    serde_json::to_string(v).unwrap_or_default()
}

fn plural(n: u64, one: &str, many: &str) -> String {
    format!("{n} {}", if n == 1 { one } else { many })
}

fn truncate(mut s: String, max_chars: usize) -> String {
    if let Some((cut, _)) = s.char_indices().nth(max_chars) {
        s.truncate(cut);
        s.push('…');
    }
    s
}

fn list_indices(indices: &[usize]) -> String {
    let names: Vec<String> = indices.iter().map(usize::to_string).collect();
    match names.split_last() {
        None => String::new(),
        Some((last, [])) => last.clone(),
        Some((last, rest)) => format!("{} and {last}", rest.join(", ")),
    }
}

/// Receives issues: [`Fast`] stops at the first one, [`Collect`] keeps them all.
trait Sink {
    fn collecting(&self) -> bool;
    fn push(&mut self, path: &Path<'_>, kind: Kind);
    fn push_issue(&mut self, issue: Issue);
}

/// Only "valid or not": no messages are built.
struct Fast;

impl Sink for Fast {
    #[inline]
    fn collecting(&self) -> bool {
        false
    }
    fn push(&mut self, _: &Path<'_>, _: Kind) {}
    fn push_issue(&mut self, _: Issue) {}
}

#[derive(Default)]
struct Collect {
    issues: Vec<Issue>,
}

impl Sink for Collect {
    #[inline]
    fn collecting(&self) -> bool {
        true
    }
    fn push(&mut self, path: &Path<'_>, kind: Kind) {
        self.issues.push(Issue {
            path: path.render(),
            kind,
        });
    }
    fn push_issue(&mut self, issue: Issue) {
        self.issues.push(issue);
    }
}

/// Records a failure: returns `false` at once in fast mode, otherwise pushes the issue
/// (whose message is only built then) and carries on.
macro_rules! fail {
    ($ok:ident, $sink:ident, $path:expr, $kind:expr) => {{
        $ok = false;
        if !$sink.collecting() {
            return false;
        }
        $sink.push($path, $kind);
    }};
}

/// Folds the result of a sub-check into `$ok`, returning early in fast mode.
macro_rules! check {
    ($ok:ident, $sink:ident, $e:expr) => {{
        if !$e {
            $ok = false;
            if !$sink.collecting() {
                return false;
            }
        }
    }};
}

impl SchemaValidator {
    /// The node behind `idx`, following `$ref`s (acyclic: checked at compile time).
    fn resolve(&self, mut idx: usize) -> Option<&Node> {
        for _ in 0..=self.nodes.len() {
            match self.nodes.get(idx)? {
                Node::Ref(t) => idx = *t,
                node => return Some(node),
            }
        }
        None
    }

    /// True for schemas that accept anything (`true`, `{}`).
    fn is_always(&self, idx: usize) -> bool {
        match self.resolve(idx) {
            Some(Node::Bool(b)) => *b,
            Some(Node::Schema(k)) => k.count == 0,
            _ => false,
        }
    }

    /// True for schemas that accept nothing (`false`, `{"not": {}}`).
    fn is_never(&self, idx: usize) -> bool {
        match self.resolve(idx) {
            Some(Node::Bool(b)) => !*b,
            Some(Node::Schema(k)) => k.count == 1 && k.not.is_some_and(|n| self.is_always(n)),
            _ => false,
        }
    }

    // The functions on the recursion path (`eval`, `eval_object`, `eval_array`,
    // `eval_combinators`, `union_failure`) keep their frames small: messages are built by
    // separate non-recursive functions.

    /// Checks `v` against node `idx`; true when valid. In fast mode returns at the first
    /// problem; otherwise reports every problem to `sink`.
    fn eval<S: Sink>(
        &self,
        idx: usize,
        v: &Value,
        path: &Path<'_>,
        depth: u32,
        frames: u32,
        sink: &mut S,
    ) -> bool {
        let k = match self.resolve(idx) {
            Some(Node::Schema(k)) => k,
            Some(Node::Bool(false)) => {
                if sink.collecting() {
                    sink.push(path, msg("no value is allowed here"));
                }
                return false;
            }
            _ => return true,
        };
        if k.count == 0 {
            return true;
        }
        if depth > MAX_DEPTH || frames > MAX_FRAMES {
            if sink.collecting() {
                sink.push(path, too_deep(depth));
            }
            return false;
        }
        if let Some(types) = k.types {
            if !type_matches(types, v) {
                // Nothing else is worth reporting about a value of the wrong type.
                if sink.collecting() {
                    sink.push(
                        path,
                        Kind::Type {
                            expected: types,
                            got: json_kind(v),
                        },
                    );
                }
                return false;
            }
        }
        let mut ok = true;
        if k.enum_values.is_some() || k.const_value.is_some() {
            check!(ok, sink, eval_constants(k, v, path, sink));
        }
        match v {
            Value::Object(m) => check!(
                ok,
                sink,
                self.eval_object(k, v, m, path, depth, frames, sink)
            ),
            Value::Array(a) => check!(ok, sink, self.eval_array(k, a, path, depth, frames, sink)),
            Value::Number(n) => check!(ok, sink, eval_number(k, n, path, sink)),
            Value::String(s) => check!(ok, sink, eval_string(k, s, path, sink)),
            _ => {}
        }
        check!(
            ok,
            sink,
            self.eval_combinators(k, v, path, depth, frames, sink)
        );
        ok
    }

    #[allow(clippy::too_many_arguments)]
    fn eval_object<S: Sink>(
        &self,
        k: &Keywords,
        v: &Value,
        m: &Map<String, Value>,
        path: &Path<'_>,
        depth: u32,
        frames: u32,
        sink: &mut S,
    ) -> bool {
        let mut ok = true;
        if !k.required.is_empty()
            || k.min_properties.is_some()
            || k.max_properties.is_some()
            || !k.dependencies.is_empty()
        {
            check!(ok, sink, eval_object_counts(k, m, path, sink));
        }
        for (name, dep) in &k.dependencies {
            if let Dependency::Schema(s) = dep {
                if m.contains_key(name) {
                    check!(ok, sink, self.eval(*s, v, path, depth, frames + 1, sink));
                }
            }
        }
        if k.properties.is_empty()
            && k.pattern_properties.is_empty()
            && k.additional_properties.is_none()
            && k.property_names.is_none()
        {
            return ok;
        }
        let additional_false = k.additional_properties.is_some_and(|a| self.is_never(a));
        for (key, val) in m {
            if let Some(names) = k.property_names {
                check!(
                    ok,
                    sink,
                    self.eval_property_name(names, key, path, depth, frames, sink)
                );
            }
            let child = Path::Key(path, key);
            let mut matched = false;
            if let Ok(i) = k.properties.binary_search_by(|(n, _)| n.as_str().cmp(key)) {
                if let Some(&(_, s)) = k.properties.get(i) {
                    if self.null_as_absent && val.is_null() && !k.required.contains(key) {
                        continue;
                    }
                    matched = true;
                    check!(
                        ok,
                        sink,
                        self.eval(s, val, &child, depth + 1, frames + 1, sink)
                    );
                }
            }
            for (re, s) in &k.pattern_properties {
                if re.is_match(key) {
                    matched = true;
                    check!(
                        ok,
                        sink,
                        self.eval(*s, val, &child, depth + 1, frames + 1, sink)
                    );
                }
            }
            if matched {
                continue;
            }
            if let Some(s) = k.additional_properties {
                if additional_false {
                    fail!(ok, sink, path, unknown_property(key));
                } else {
                    check!(
                        ok,
                        sink,
                        self.eval(s, val, &child, depth + 1, frames + 1, sink)
                    );
                }
            }
        }
        ok
    }

    fn eval_property_name<S: Sink>(
        &self,
        schema: usize,
        key: &str,
        path: &Path<'_>,
        depth: u32,
        frames: u32,
        sink: &mut S,
    ) -> bool {
        if self.is_always(schema) {
            return true;
        }
        let name = Value::String(key.to_owned());
        if self.eval(schema, &name, path, depth + 1, frames + 1, &mut Fast) {
            return true;
        }
        if sink.collecting() {
            let mut detail = Collect::default();
            self.eval(schema, &name, path, depth + 1, frames + 1, &mut detail);
            sink.push(path, invalid_property_name(key, &detail.issues));
        }
        false
    }

    fn eval_array<S: Sink>(
        &self,
        k: &Keywords,
        a: &[Value],
        path: &Path<'_>,
        depth: u32,
        frames: u32,
        sink: &mut S,
    ) -> bool {
        let mut ok = true;
        if k.min_items.is_some() || k.max_items.is_some() || k.unique_items {
            check!(ok, sink, eval_array_counts(k, a, path, sink));
        }
        match &k.items {
            Items::None => {}
            Items::One(s) => {
                for (i, item) in a.iter().enumerate() {
                    let child = Path::Index(path, i);
                    check!(
                        ok,
                        sink,
                        self.eval(*s, item, &child, depth + 1, frames + 1, sink)
                    );
                }
            }
            Items::Tuple(positions) => {
                for (i, (item, s)) in a.iter().zip(positions).enumerate() {
                    let child = Path::Index(path, i);
                    check!(
                        ok,
                        sink,
                        self.eval(*s, item, &child, depth + 1, frames + 1, sink)
                    );
                }
                match k.additional_items {
                    Some(extra) if a.len() > positions.len() => {
                        if self.is_never(extra) {
                            fail!(ok, sink, path, no_additional_items(positions.len()));
                        } else {
                            for (i, item) in a.iter().enumerate().skip(positions.len()) {
                                let child = Path::Index(path, i);
                                check!(
                                    ok,
                                    sink,
                                    self.eval(extra, item, &child, depth + 1, frames + 1, sink)
                                );
                            }
                        }
                    }
                    _ => {}
                }
            }
        }
        if let Some(s) = k.contains {
            let found = a.iter().enumerate().any(|(i, item)| {
                let child = Path::Index(path, i);
                self.eval(s, item, &child, depth + 1, frames + 1, &mut Fast)
            });
            if !found {
                fail!(
                    ok,
                    sink,
                    path,
                    msg("must contain at least one matching item")
                );
            }
        }
        ok
    }

    fn eval_combinators<S: Sink>(
        &self,
        k: &Keywords,
        v: &Value,
        path: &Path<'_>,
        depth: u32,
        frames: u32,
        sink: &mut S,
    ) -> bool {
        let mut ok = true;
        let frames = frames + 1;
        for &s in &k.all_of {
            check!(ok, sink, self.eval(s, v, path, depth, frames, sink));
        }
        if !k.any_of.is_empty()
            && !k
                .any_of
                .iter()
                .any(|&s| self.eval(s, v, path, depth, frames, &mut Fast))
        {
            ok = false;
            if !sink.collecting() {
                return false;
            }
            self.union_failure(&k.any_of, v, path, depth, frames, sink);
        }
        if !k.one_of.is_empty() {
            let mut matches = 0;
            for &s in &k.one_of {
                if self.eval(s, v, path, depth, frames, &mut Fast) {
                    matches += 1;
                    if matches > 1 {
                        break;
                    }
                }
            }
            if matches != 1 {
                ok = false;
                if !sink.collecting() {
                    return false;
                }
                if matches == 0 {
                    self.union_failure(&k.one_of, v, path, depth, frames, sink);
                } else {
                    let matching: Vec<usize> = k
                        .one_of
                        .iter()
                        .enumerate()
                        .filter(|(_, s)| self.eval(**s, v, path, depth, frames, &mut Fast))
                        .map(|(i, _)| i)
                        .collect();
                    sink.push(path, several_match(&matching));
                }
            }
        }
        if let Some(s) = k.not {
            if self.eval(s, v, path, depth, frames, &mut Fast) {
                let text = if self.is_always(s) {
                    "no value is allowed here"
                } else {
                    "must not match the \"not\" schema"
                };
                fail!(ok, sink, path, msg(text));
            }
        }
        if let Some(cond) = k.if_schema {
            let branch = if self.eval(cond, v, path, depth, frames, &mut Fast) {
                k.then_schema
            } else {
                k.else_schema
            };
            if let Some(s) = branch {
                check!(ok, sink, self.eval(s, v, path, depth, frames, sink));
            }
        }
        ok
    }

    /// Reports a value that matched none of `branches` (collect mode only).
    fn union_failure<S: Sink>(
        &self,
        branches: &[usize],
        v: &Value,
        path: &Path<'_>,
        depth: u32,
        frames: u32,
        sink: &mut S,
    ) {
        let mut results: Vec<(usize, Vec<Issue>)> = Vec::new();
        for (i, &s) in branches.iter().enumerate() {
            if self.is_never(s) {
                continue; // e.g. the `{"not": {}}` of `.optional()`: never informative
            }
            let mut c = Collect::default();
            self.eval(s, v, path, depth, frames, &mut c);
            results.push((i, c.issues));
        }
        for issue in summarize_union(results, path.render()) {
            sink.push_issue(issue);
        }
    }
}

/// What to report for a failed `anyOf`/`oneOf`, given each possible branch's issues: the
/// issues of the only possible branch; merged type mismatches (`expected number or null,
/// got string`); or `does not match any alternative`, naming the closest branch (right
/// type, fewest issues) when there is exactly one.
#[cold]
fn summarize_union(mut results: Vec<(usize, Vec<Issue>)>, here: String) -> Vec<Issue> {
    if results.len() <= 1 {
        return match results.pop() {
            Some((_, issues)) if !issues.is_empty() => issues,
            _ => vec![Issue {
                path: here,
                kind: msg("no value is allowed here"),
            }],
        };
    }

    let mut expected = 0u8;
    let mut got = "";
    let all_type_mismatches = results.iter().all(|(_, issues)| match issues.as_slice() {
        [Issue {
            path: p,
            kind: Kind::Type {
                expected: e,
                got: g,
            },
        }] if *p == here => {
            expected |= e;
            got = g;
            true
        }
        _ => false,
    });
    if all_type_mismatches {
        return vec![Issue {
            path: here,
            kind: Kind::Type { expected, got },
        }];
    }

    let score = |issues: &[Issue]| {
        let wrong_type = issues
            .iter()
            .any(|i| i.path == here && matches!(i.kind, Kind::Type { .. }));
        (wrong_type, issues.len())
    };
    let best = results.iter().map(|(_, iss)| score(iss)).min();
    let mut best_branches = results.iter().filter(|(_, iss)| Some(score(iss)) == best);
    let mut text = String::from("does not match any alternative");
    if let (Some((i, issues)), None) = (best_branches.next(), best_branches.next()) {
        let details: Vec<String> = issues
            .iter()
            .take(3)
            .map(|issue| {
                let m = truncate(issue.kind.message(), MAX_DETAIL_CHARS);
                if issue.path == here {
                    m
                } else {
                    format!("at {}: {m}", quote(&issue.path))
                }
            })
            .collect();
        let _ = write!(text, " (closest is alternative {i}: {}", details.join("; "));
        let more = issues.len().saturating_sub(3);
        if more > 0 {
            let _ = write!(text, "; and {more} more");
        }
        text.push(')');
    }
    vec![Issue {
        path: here,
        kind: msg(text),
    }]
}

#[cold]
fn too_deep(depth: u32) -> Kind {
    if depth > MAX_DEPTH {
        msg(format!(
            "value nested too deeply (more than {MAX_DEPTH} levels)"
        ))
    } else {
        msg("schema recursion too deep for this value")
    }
}

#[cold]
fn unknown_property(key: &str) -> Kind {
    msg(format!("unknown property {}", quote(key)))
}

#[cold]
fn invalid_property_name(key: &str, issues: &[Issue]) -> Kind {
    let reason = issues
        .first()
        .map(|i| i.kind.message())
        .unwrap_or_else(|| "rejected by propertyNames".to_owned());
    msg(format!(
        "invalid property name {}: {}",
        quote(key),
        truncate(reason, MAX_DETAIL_CHARS)
    ))
}

#[cold]
fn no_additional_items(positions: usize) -> Kind {
    let text = plural(positions as u64, "item", "items");
    msg(format!("must have at most {text} (no additional items)"))
}

#[cold]
fn several_match(matching: &[usize]) -> Kind {
    msg(format!(
        "must match exactly one alternative, but alternatives {} match",
        list_indices(matching)
    ))
}

fn eval_constants<S: Sink>(k: &Keywords, v: &Value, path: &Path<'_>, sink: &mut S) -> bool {
    let mut ok = true;
    if let Some(values) = &k.enum_values {
        if !values.iter().any(|c| equals_constant(c, v)) {
            fail!(
                ok,
                sink,
                path,
                msg(format!("must be one of {}", to_json(values)))
            );
        }
    }
    if let Some(c) = &k.const_value {
        if !equals_constant(c, v) {
            fail!(ok, sink, path, msg(format!("must equal {}", to_json(c))));
        }
    }
    ok
}

fn eval_object_counts<S: Sink>(
    k: &Keywords,
    m: &Map<String, Value>,
    path: &Path<'_>,
    sink: &mut S,
) -> bool {
    let mut ok = true;
    let len = m.len() as u64;
    if let Some(min) = k.min_properties {
        if len < min {
            let text = plural(min, "property", "properties");
            fail!(ok, sink, path, msg(format!("must have at least {text}")));
        }
    }
    if let Some(max) = k.max_properties {
        if len > max {
            let text = plural(max, "property", "properties");
            fail!(ok, sink, path, msg(format!("must have at most {text}")));
        }
    }
    for name in &k.required {
        if !m.contains_key(name) {
            fail!(
                ok,
                sink,
                path,
                msg(format!("missing required property {}", quote(name)))
            );
        }
    }
    for (name, dep) in &k.dependencies {
        let Dependency::Required(names) = dep else {
            continue;
        };
        if !m.contains_key(name) {
            continue;
        }
        for other in names {
            if !m.contains_key(other) {
                let text = format!(
                    "property {} requires property {}",
                    quote(name),
                    quote(other)
                );
                fail!(ok, sink, path, msg(text));
            }
        }
    }
    ok
}

fn eval_array_counts<S: Sink>(k: &Keywords, a: &[Value], path: &Path<'_>, sink: &mut S) -> bool {
    let mut ok = true;
    let len = a.len() as u64;
    if let Some(min) = k.min_items {
        if len < min {
            let text = plural(min, "item", "items");
            fail!(ok, sink, path, msg(format!("must have at least {text}")));
        }
    }
    if let Some(max) = k.max_items {
        if len > max {
            let text = plural(max, "item", "items");
            fail!(ok, sink, path, msg(format!("must have at most {text}")));
        }
    }
    if k.unique_items {
        match find_duplicate(a) {
            Some(None) => {}
            Some(Some((i, j))) => fail!(
                ok,
                sink,
                path,
                msg(format!(
                    "items must be unique (items {i} and {j} are equal)"
                ))
            ),
            None => fail!(ok, sink, path, msg("items nested too deeply to compare")),
        }
    }
    ok
}

/// A numeric bound, its operator for messages, and which orderings of value vs bound pass.
type BoundCheck<'a> = (&'a Option<Bound>, &'static str, fn(Ordering) -> bool);

fn eval_number<S: Sink>(k: &Keywords, n: &Number, path: &Path<'_>, sink: &mut S) -> bool {
    let mut ok = true;
    let x = to_num(n);
    let checks: [BoundCheck<'_>; 4] = [
        (&k.minimum, ">=", |o| o != Ordering::Less),
        (&k.maximum, "<=", |o| o != Ordering::Greater),
        (&k.exclusive_minimum, ">", |o| o == Ordering::Greater),
        (&k.exclusive_maximum, "<", |o| o == Ordering::Less),
    ];
    for (b, op, accept) in checks {
        if let Some(b) = b {
            if !cmp_num(x, b.num).is_some_and(accept) {
                fail!(ok, sink, path, msg(format!("must be {op} {}", b.raw)));
            }
        }
    }
    if let Some(m) = &k.multiple_of {
        if !is_multiple_of(x, m.num) {
            fail!(
                ok,
                sink,
                path,
                msg(format!("must be a multiple of {}", m.raw))
            );
        }
    }
    ok
}

fn eval_string<S: Sink>(k: &Keywords, s: &str, path: &Path<'_>, sink: &mut S) -> bool {
    let mut ok = true;
    let bytes = s.len() as u64;
    let mut chars: Option<u64> = None;
    let mut count = || *chars.get_or_insert_with(|| s.chars().count() as u64);
    if let Some(min) = k.min_length {
        // Code points never outnumber bytes.
        if bytes < min || count() < min {
            let text = plural(min, "character", "characters");
            fail!(ok, sink, path, msg(format!("must be at least {text}")));
        }
    }
    if let Some(max) = k.max_length {
        if bytes > max && count() > max {
            let text = plural(max, "character", "characters");
            fail!(ok, sink, path, msg(format!("must be at most {text}")));
        }
    }
    if let Some(re) = &k.pattern {
        if !re.is_match(s) {
            fail!(
                ok,
                sink,
                path,
                msg(format!("must match pattern {}", quote(re.as_str())))
            );
        }
    }
    if let Some(f) = k.format {
        if !f.check(s) {
            fail!(ok, sink, path, msg(format!("not a valid {}", f.name())));
        }
    }
    ok
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn compile(schema: Value) -> SchemaValidator {
        SchemaValidator::new(schema).unwrap()
    }

    /// `(path, message)` pairs, or empty when valid.
    fn issues(schema: &SchemaValidator, value: Value) -> Vec<(String, String)> {
        match schema.validate(&value) {
            Ok(()) => Vec::new(),
            Err(issues) => {
                assert!(!issues.is_empty());
                issues.into_iter().map(|i| (i.path, i.message)).collect()
            }
        }
    }

    fn one(path: &str, message: &str) -> Vec<(String, String)> {
        vec![(path.to_owned(), message.to_owned())]
    }

    fn ok(schema: &SchemaValidator, value: Value) {
        assert_eq!(
            issues(schema, value.clone()),
            Vec::<(String, String)>::new(),
            "{value}"
        );
    }

    fn schema_error(schema: Value) -> SchemaError {
        SchemaValidator::new(schema).unwrap_err()
    }

    // ----- type ---------------------------------------------------------------------

    #[test]
    fn type_single_and_array() {
        let s = compile(json!({"type": "number"}));
        ok(&s, json!(1));
        ok(&s, json!(-1.5));
        assert_eq!(
            issues(&s, json!("x")),
            one("", "expected number, got string")
        );
        assert_eq!(
            issues(&s, json!(null)),
            one("", "expected number, got null")
        );

        let s = compile(json!({"type": ["string", "number"]}));
        ok(&s, json!("x"));
        ok(&s, json!(2));
        assert_eq!(
            issues(&s, json!(true)),
            one("", "expected string or number, got boolean")
        );

        for (t, good, bad) in [
            ("string", json!("s"), json!(1)),
            ("boolean", json!(false), json!("true")),
            ("object", json!({}), json!([])),
            ("array", json!([]), json!({})),
            ("null", json!(null), json!(0)),
        ] {
            let s = compile(json!({ "type": t }));
            ok(&s, good);
            assert_eq!(issues(&s, bad).len(), 1, "{t}");
        }
    }

    #[test]
    fn integer_accepts_integral_floats() {
        let s = compile(json!({"type": "integer"}));
        ok(&s, json!(5));
        ok(&s, json!(-5));
        ok(&s, json!(5.0));
        ok(&s, json!(u64::MAX));
        ok(&s, json!(1e300));
        assert_eq!(
            issues(&s, json!(5.5)),
            one("", "expected integer, got number")
        );
        assert_eq!(
            issues(&s, json!("5")),
            one("", "expected integer, got string")
        );
    }

    #[test]
    fn type_stops_further_checks() {
        let s = compile(json!({"type": "string", "enum": ["a", "b"]}));
        assert_eq!(issues(&s, json!(5)), one("", "expected string, got number"));
        assert_eq!(
            issues(&s, json!("c")),
            one("", r#"must be one of ["a","b"]"#)
        );
    }

    // ----- objects ------------------------------------------------------------------

    #[test]
    fn properties_required_additional_false() {
        let s = compile(json!({
            "type": "object",
            "properties": {"a": {"type": "number"}, "b": {"type": "string"}},
            "required": ["a", "b"],
            "additionalProperties": false
        }));
        ok(&s, json!({"a": 1, "b": "x"}));
        assert_eq!(
            issues(&s, json!({"a": "x", "c": 1})),
            vec![
                ("".to_owned(), r#"missing required property "b""#.to_owned()),
                ("/a".to_owned(), "expected number, got string".to_owned()),
                ("".to_owned(), r#"unknown property "c""#.to_owned()),
            ]
        );
        // Required properties may be anything the property schema allows, absent ones
        // are not validated.
        let s = compile(json!({"properties": {"a": {"type": "number"}}}));
        ok(&s, json!({}));
        ok(&s, json!({"z": "anything"}));
        ok(&s, json!("not an object")); // no `type`: object keywords ignore non-objects
        assert_eq!(
            issues(&s, json!({"a": null})),
            one("/a", "expected number, got null")
        );
    }

    #[test]
    fn additional_properties_schema_is_a_record() {
        // z.record(z.number())
        let s = compile(json!({"type": "object", "additionalProperties": {"type": "number"}}));
        ok(&s, json!({}));
        ok(&s, json!({"x": 1, "y": 2.5}));
        assert_eq!(
            issues(&s, json!({"x": 1, "y": "no", "z": null})),
            vec![
                ("/y".to_owned(), "expected number, got string".to_owned()),
                ("/z".to_owned(), "expected number, got null".to_owned()),
            ]
        );
        // Declared properties are not "additional".
        let s = compile(json!({
            "properties": {"n": {"type": "string"}},
            "additionalProperties": {"type": "number"}
        }));
        ok(&s, json!({"n": "s", "m": 1}));
        assert_eq!(
            issues(&s, json!({"n": 1})),
            one("/n", "expected string, got number")
        );
    }

    #[test]
    fn additional_properties_true_and_empty_allow_anything() {
        for ap in [json!(true), json!({})] {
            let s = compile(json!({"properties": {"a": {}}, "additionalProperties": ap}));
            ok(&s, json!({"a": 1, "b": [1, 2]}));
        }
    }

    #[test]
    fn pattern_properties_property_names_min_max_properties_dependencies() {
        let s = compile(json!({
            "patternProperties": {"^x-": {"type": "string"}},
            "additionalProperties": false
        }));
        ok(&s, json!({"x-a": "s"}));
        assert_eq!(
            issues(&s, json!({"x-a": 1})),
            one("/x-a", "expected string, got number")
        );
        assert_eq!(
            issues(&s, json!({"y": 1})),
            one("", r#"unknown property "y""#)
        );

        // z.record(z.enum(["a","b"]), ...) emits propertyNames
        let s = compile(json!({"type": "object", "propertyNames": {"enum": ["a", "b"]}}));
        ok(&s, json!({"a": 1}));
        assert_eq!(
            issues(&s, json!({"c": 1})),
            one("", r#"invalid property name "c": must be one of ["a","b"]"#)
        );

        let s = compile(json!({"minProperties": 1, "maxProperties": 2}));
        ok(&s, json!({"a": 1}));
        assert_eq!(
            issues(&s, json!({})),
            one("", "must have at least 1 property")
        );
        assert_eq!(
            issues(&s, json!({"a": 1, "b": 2, "c": 3})),
            one("", "must have at most 2 properties")
        );

        let s = compile(json!({"dependencies": {"a": ["b"], "c": {"required": ["d"]}}}));
        ok(&s, json!({"a": 1, "b": 2}));
        ok(&s, json!({"b": 2}));
        assert_eq!(
            issues(&s, json!({"a": 1})),
            one("", r#"property "a" requires property "b""#)
        );
        assert_eq!(
            issues(&s, json!({"c": 1})),
            one("", r#"missing required property "d""#)
        );
    }

    #[test]
    fn empty_zod_object() {
        let s = compile(json!({"type": "object", "properties": {}, "additionalProperties": false}));
        ok(&s, json!({}));
        assert_eq!(
            issues(&s, json!({"a": 1})),
            one("", r#"unknown property "a""#)
        );
    }

    // ----- enum / const -------------------------------------------------------------

    #[test]
    fn enum_and_const() {
        let s = compile(json!({"type": "string", "enum": ["a", "b"]}));
        ok(&s, json!("a"));
        assert_eq!(
            issues(&s, json!("c")),
            one("", r#"must be one of ["a","b"]"#)
        );

        let s = compile(json!({"type": "string", "const": "k"}));
        ok(&s, json!("k"));
        assert_eq!(issues(&s, json!("K")), one("", r#"must equal "k""#));

        let s = compile(json!({"type": "boolean", "const": true}));
        ok(&s, json!(true));
        assert_eq!(issues(&s, json!(false)), one("", "must equal true"));

        // Mixed enum (z.nativeEnum), structured values.
        let s = compile(json!({"enum": [1, "one", null, {"a": [1, 2]}]}));
        ok(&s, json!(1));
        ok(&s, json!(null));
        ok(&s, json!({"a": [1, 2]}));
        assert_eq!(issues(&s, json!({"a": [2, 1]})).len(), 1);
        assert_eq!(issues(&s, json!("1")).len(), 1);
    }

    #[test]
    fn const_uses_json_number_equality() {
        let s = compile(json!({"const": 1}));
        ok(&s, json!(1));
        ok(&s, json!(1.0));
        assert_eq!(issues(&s, json!(1.5)), one("", "must equal 1"));
        assert_eq!(issues(&s, json!(true)), one("", "must equal 1"));
        let s = compile(json!({"const": {"a": 1.0, "b": [2]}}));
        ok(&s, json!({"b": [2.0], "a": 1}));
        assert_eq!(issues(&s, json!({"a": 1})).len(), 1);
        let s = compile(json!({"const": -0.5}));
        ok(&s, json!(-0.5));
        let s = compile(json!({"const": u64::MAX}));
        ok(&s, json!(u64::MAX));
        assert_eq!(issues(&s, json!(u64::MAX as f64)).len(), 1); // 2^64 != 2^64 - 1
    }

    // ----- arrays -------------------------------------------------------------------

    #[test]
    fn items_single_schema() {
        let s = compile(json!({"type": "array", "items": {"type": "string"}}));
        ok(&s, json!([]));
        ok(&s, json!(["a", "b"]));
        assert_eq!(
            issues(&s, json!(["a", 1, "c", null])),
            vec![
                ("/1".to_owned(), "expected string, got number".to_owned()),
                ("/3".to_owned(), "expected string, got null".to_owned()),
            ]
        );
    }

    #[test]
    fn zod_tuple() {
        // z.tuple([z.string(), z.number()])
        let s = compile(json!({
            "type": "array", "minItems": 2, "maxItems": 2,
            "items": [{"type": "string"}, {"type": "number"}]
        }));
        ok(&s, json!(["a", 1]));
        assert_eq!(issues(&s, json!([1, "a"])).len(), 2);
        assert_eq!(
            issues(&s, json!([1, "a"]))[0],
            ("/0".to_owned(), "expected string, got number".to_owned())
        );
        assert_eq!(
            issues(&s, json!(["a"])),
            one("", "must have at least 2 items")
        );
        assert_eq!(
            issues(&s, json!(["a", 1, 2])),
            one("", "must have at most 2 items")
        );
    }

    #[test]
    fn tuple_additional_items() {
        let s = compile(json!({"items": [{"type": "string"}], "additionalItems": false}));
        ok(&s, json!([]));
        ok(&s, json!(["a"]));
        assert_eq!(
            issues(&s, json!(["a", 1])),
            one("", "must have at most 1 item (no additional items)")
        );
        let s =
            compile(json!({"items": [{"type": "string"}], "additionalItems": {"type": "number"}}));
        ok(&s, json!(["a", 1, 2]));
        assert_eq!(
            issues(&s, json!(["a", 1, "x"])),
            one("/2", "expected number, got string")
        );
        // additionalItems without a tuple has no effect
        let s = compile(json!({"items": {"type": "string"}, "additionalItems": false}));
        ok(&s, json!(["a", "b"]));
    }

    #[test]
    fn min_max_items_unique_contains() {
        let s = compile(json!({"minItems": 1, "maxItems": 3}));
        ok(&s, json!([1]));
        assert_eq!(issues(&s, json!([])), one("", "must have at least 1 item"));
        assert_eq!(
            issues(&s, json!([1, 2, 3, 4])),
            one("", "must have at most 3 items")
        );

        let s = compile(json!({"uniqueItems": true}));
        ok(&s, json!([1, 2, "1", [1], {"a": 1}, {"a": 2}]));
        assert_eq!(
            issues(&s, json!([1, 2, 1.0])),
            one("", "items must be unique (items 0 and 2 are equal)")
        );
        assert_eq!(
            issues(&s, json!([{"a": 1, "b": 2}, {"b": 2, "a": 1}])).len(),
            1
        );
        // the hashing path (more than 16 items)
        let mut many: Vec<Value> = (0..100).map(|i| json!({"i": i, "xs": [i]})).collect();
        ok(&s, Value::Array(many.clone()));
        many.push(json!({"xs": [42.0], "i": 42}));
        assert_eq!(
            issues(&s, Value::Array(many)),
            one("", "items must be unique (items 42 and 100 are equal)")
        );
        let s = compile(json!({"uniqueItems": false}));
        ok(&s, json!([1, 1]));

        let s = compile(json!({"contains": {"type": "string"}}));
        ok(&s, json!([1, "a"]));
        assert_eq!(
            issues(&s, json!([1, 2])),
            one("", "must contain at least one matching item")
        );
        assert_eq!(
            issues(&s, json!([])),
            one("", "must contain at least one matching item")
        );
    }

    // ----- numbers ------------------------------------------------------------------

    #[test]
    fn numeric_bounds() {
        let s = compile(json!({"type": "number", "minimum": 0, "maximum": 10}));
        ok(&s, json!(0));
        ok(&s, json!(10.0));
        ok(&s, json!(5.5));
        assert_eq!(issues(&s, json!(-1)), one("", "must be >= 0"));
        assert_eq!(issues(&s, json!(-0.0001)), one("", "must be >= 0"));
        assert_eq!(issues(&s, json!(10.5)), one("", "must be <= 10"));

        let s = compile(json!({"exclusiveMinimum": 0, "exclusiveMaximum": 1.5}));
        ok(&s, json!(1));
        ok(&s, json!(1e-9));
        assert_eq!(issues(&s, json!(0)), one("", "must be > 0"));
        assert_eq!(issues(&s, json!(1.5)), one("", "must be < 1.5"));
        assert_eq!(issues(&s, json!(2)), one("", "must be < 1.5"));
        ok(&s, json!("not a number")); // numeric keywords ignore other types

        // exact comparison of big integers
        let s = compile(json!({"maximum": 9007199254740992u64}));
        ok(&s, json!(9007199254740992u64));
        assert_eq!(issues(&s, json!(9007199254740993u64)).len(), 1);
        let s = compile(json!({"minimum": -9223372036854775808i64, "maximum": u64::MAX}));
        ok(&s, json!(i64::MIN));
        ok(&s, json!(u64::MAX));
        assert_eq!(issues(&s, json!(1.9e19)).len(), 1);
    }

    #[test]
    fn multiple_of() {
        let s = compile(json!({"multipleOf": 3}));
        ok(&s, json!(9));
        ok(&s, json!(-9));
        ok(&s, json!(0));
        ok(&s, json!(9.0));
        assert_eq!(issues(&s, json!(10)), one("", "must be a multiple of 3"));
        assert_eq!(issues(&s, json!(4.5)), one("", "must be a multiple of 3"));
        assert_eq!(issues(&s, json!(1e20)).len(), 1); // exact: 10^20 mod 3 = 1

        let s = compile(json!({"multipleOf": 0.1}));
        ok(&s, json!(0.3));
        ok(&s, json!(1.1));
        ok(&s, json!(7));
        assert_eq!(
            issues(&s, json!(0.35)),
            one("", "must be a multiple of 0.1")
        );

        let s = compile(json!({"multipleOf": 0.01}));
        ok(&s, json!(19.99));
        assert_eq!(issues(&s, json!(19.999)).len(), 1);
    }

    // ----- strings ------------------------------------------------------------------

    #[test]
    fn string_lengths_count_code_points() {
        let s = compile(json!({"type": "string", "minLength": 2, "maxLength": 3}));
        ok(&s, json!("ab"));
        ok(&s, json!("héé")); // 5 bytes, 3 code points
        ok(&s, json!("😀😀😀"));
        assert_eq!(
            issues(&s, json!("a")),
            one("", "must be at least 2 characters")
        );
        assert_eq!(
            issues(&s, json!("é")),
            one("", "must be at least 2 characters")
        );
        assert_eq!(
            issues(&s, json!("abcd")),
            one("", "must be at most 3 characters")
        );
        assert_eq!(
            issues(&s, json!("😀😀😀😀")),
            one("", "must be at most 3 characters")
        );
        let s = compile(json!({"minLength": 1, "maxLength": 1}));
        assert_eq!(
            issues(&s, json!("")),
            one("", "must be at least 1 character")
        );
        assert_eq!(
            issues(&s, json!("ab")),
            one("", "must be at most 1 character")
        );
    }

    #[test]
    fn pattern_is_an_unanchored_search() {
        let s = compile(json!({"pattern": "b+"}));
        ok(&s, json!("abbbc"));
        assert_eq!(
            issues(&s, json!("ac")),
            one("", r#"must match pattern "b+""#)
        );
        let s = compile(json!({"type": "string", "pattern": "^a"}));
        ok(&s, json!("abc"));
        assert_eq!(
            issues(&s, json!("ba")),
            one("", r#"must match pattern "^a""#)
        );
        // zod patterns: cuid, emoji (Unicode properties)
        let s = compile(json!({"pattern": "^[cC][^\\s-]{8,}$"}));
        ok(&s, json!("cjld2cjxh0000qzrmn831i7rn"));
        let s = compile(json!({"pattern": "^(\\p{Extended_Pictographic}|\\p{Emoji_Component})+$"}));
        ok(&s, json!("😀"));
        assert_eq!(issues(&s, json!("a")).len(), 1);
    }

    #[test]
    fn formats() {
        let dt = compile(json!({"type": "string", "format": "date-time"}));
        for good in [
            "2024-02-29T12:34:56Z",
            "2024-01-01T00:00:00.123456+05:30",
            "2024-01-01t23:59:59z",
            "1998-12-31T23:59:60Z",
            "1998-12-31T15:59:60-08:00",
        ] {
            ok(&dt, json!(good));
        }
        for bad in [
            "2024-01-01T00:00:00",  // no offset
            "2024-01-01 00:00:00Z", // space
            "2023-02-29T00:00:00Z", // not a leap year
            "2024-13-01T00:00:00Z",
            "2024-01-01T24:00:00Z",
            "2024-01-01T00:00:00.Z",
            "2024-01-01T00:00:00+0530",
            "2024-01-01T12:00:60Z", // leap second at the wrong time
            "2024-01-01",
            "",
            "2024-01-01T00:00:00Z ",
        ] {
            assert_eq!(
                issues(&dt, json!(bad)),
                one("", "not a valid date-time"),
                "{bad}"
            );
        }

        let d = compile(json!({"format": "date"}));
        ok(&d, json!("2000-02-29"));
        ok(&d, json!(17)); // formats only apply to strings
        for bad in [
            "1900-02-29",
            "2000-04-31",
            "2000-1-01",
            "2000-01-01T",
            "20000-01-01",
        ] {
            assert_eq!(issues(&d, json!(bad)), one("", "not a valid date"), "{bad}");
        }

        let t = compile(json!({"format": "time"}));
        for good in ["08:30:06", "08:30:06Z", "08:30:06.5+01:00", "23:59:60Z"] {
            ok(&t, json!(good));
        }
        for bad in ["8:30:06", "08:30", "08:60:00", "08:30:06+1", "12:00:60Z"] {
            assert_eq!(issues(&t, json!(bad)), one("", "not a valid time"), "{bad}");
        }

        let u = compile(json!({"format": "uuid"}));
        ok(&u, json!("7b71d3ce-52a5-4d0b-9b7e-3f7a7c0b5e11"));
        ok(&u, json!("7B71D3CE-52A5-4D0B-9B7E-3F7A7C0B5E11"));
        for bad in [
            "7b71d3ce52a54d0b9b7e3f7a7c0b5e11",
            "7b71d3ce-52a5-4d0b-9b7e-3f7a7c0b5e1g",
            "",
        ] {
            assert_eq!(issues(&u, json!(bad)), one("", "not a valid uuid"), "{bad}");
        }

        let e = compile(json!({"format": "email"}));
        ok(&e, json!("a@b"));
        ok(&e, json!("first.last+tag@example.co.uk"));
        for bad in ["ab", "@b", "a@", "a b@c"] {
            assert_eq!(
                issues(&e, json!(bad)),
                one("", "not a valid email"),
                "{bad}"
            );
        }

        // unknown formats are ignored (z.bigint() emits int64, z.string().url() uri)
        let s = compile(json!({"type": "integer", "format": "int64"}));
        ok(&s, json!(5));
        let s = compile(json!({"format": "uri"}));
        ok(&s, json!("not a uri"));
    }

    // ----- combinators --------------------------------------------------------------

    #[test]
    fn any_of() {
        let s = compile(json!({"anyOf": [{"type": "string"}, {"type": "number", "minimum": 0}]}));
        ok(&s, json!("x"));
        ok(&s, json!(3));
        // The closest alternative (right type, fewest problems) is named.
        assert_eq!(
            issues(&s, json!(-1)),
            one(
                "",
                "does not match any alternative (closest is alternative 1: must be >= 0)"
            )
        );
        // Only type mismatches: merged.
        assert_eq!(
            issues(&s, json!(null)),
            one("", "expected string or number, got null")
        );
    }

    #[test]
    fn one_of() {
        let s = compile(json!({"oneOf": [{"type": "integer"}, {"type": "number", "minimum": 2}]}));
        ok(&s, json!(1));
        ok(&s, json!(2.5));
        assert_eq!(
            issues(&s, json!(3)),
            one(
                "",
                "must match exactly one alternative, but alternatives 0 and 1 match"
            )
        );
        assert_eq!(
            issues(&s, json!(1.5)),
            one(
                "",
                "does not match any alternative (closest is alternative 1: must be >= 2)"
            )
        );
        assert_eq!(
            issues(&s, json!("x")),
            one("", "expected integer or number, got string")
        );
    }

    #[test]
    fn all_of_and_not() {
        let s = compile(json!({"allOf": [{"type": "number"}, {"minimum": 1}, {"maximum": 2}]}));
        ok(&s, json!(1.5));
        assert_eq!(issues(&s, json!(3)), one("", "must be <= 2"));
        assert_eq!(
            issues(&s, json!("x")),
            one("", "expected number, got string")
        );
        // all failures of all branches are reported
        let s = compile(json!({"allOf": [{"minimum": 5}, {"multipleOf": 2}]}));
        assert_eq!(issues(&s, json!(3)).len(), 2);

        let s = compile(json!({"not": {"type": "string"}}));
        ok(&s, json!(1));
        assert_eq!(
            issues(&s, json!("x")),
            one("", r#"must not match the "not" schema"#)
        );
        // z.never()
        let s = compile(json!({"not": {}}));
        assert_eq!(issues(&s, json!(1)), one("", "no value is allowed here"));
    }

    #[test]
    fn if_then_else() {
        let s = compile(json!({
            "if": {"properties": {"kind": {"const": "n"}}},
            "then": {"properties": {"v": {"type": "number"}}},
            "else": {"properties": {"v": {"type": "string"}}}
        }));
        ok(&s, json!({"kind": "n", "v": 1}));
        ok(&s, json!({"kind": "s", "v": "x"}));
        assert_eq!(
            issues(&s, json!({"kind": "n", "v": "x"})),
            one("/v", "expected number, got string")
        );
        assert_eq!(
            issues(&s, json!({"kind": "s", "v": 1})),
            one("/v", "expected string, got number")
        );
        // then/else without if do nothing
        let s = compile(json!({"then": false, "else": false}));
        ok(&s, json!(1));
    }

    #[test]
    fn boolean_and_empty_schemas() {
        ok(&compile(json!(true)), json!({"anything": [1, null]}));
        ok(&compile(json!({})), json!("anything"));
        ok(
            &compile(
                json!({"title": "T", "description": "d", "default": 3, "examples": [1],
            "$comment": "c", "readOnly": true, "$schema": "http://json-schema.org/draft-07/schema#",
            "$id": "urn:x", "x-custom": 1}),
            ),
            json!("anything"),
        );
        assert_eq!(
            issues(&compile(json!(false)), json!(1)),
            one("", "no value is allowed here")
        );
        let s = compile(json!({"properties": {"a": false, "b": true}}));
        ok(&s, json!({"b": 1}));
        assert_eq!(
            issues(&s, json!({"a": 1})),
            one("/a", "no value is allowed here")
        );
    }

    // ----- zod-to-json-schema shapes (spec §1.12) -----------------------------------

    #[test]
    fn zod_nullable() {
        // z.number().nullable()
        let s = compile(json!({"type": ["number", "null"]}));
        ok(&s, json!(1.5));
        ok(&s, json!(null));
        assert_eq!(
            issues(&s, json!("x")),
            one("", "expected number or null, got string")
        );
    }

    #[test]
    fn zod_optional_nullable() {
        // z.object({ s: z.string().optional().nullable() })
        let s = compile(json!({
            "type": "object",
            "properties": {
                "s": {"anyOf": [{"anyOf": [{"not": {}}, {"type": "string"}]}, {"type": "null"}]}
            },
            "additionalProperties": false,
            "$schema": "http://json-schema.org/draft-07/schema#"
        }));
        ok(&s, json!({}));
        ok(&s, json!({"s": null}));
        ok(&s, json!({"s": "x"}));
        assert_eq!(
            issues(&s, json!({"s": 1})),
            one("/s", "expected string or null, got number")
        );

        let s = compile(json!({"anyOf": [
            {"anyOf": [{"not": {}}, {"type": "string", "minLength": 2}]},
            {"type": "null"}
        ]}));
        assert_eq!(
            issues(&s, json!("x")),
            one("", "does not match any alternative (closest is alternative 0: must be at least 2 characters)")
        );
    }

    fn launch_result() -> SchemaValidator {
        // launch.start.result: z.discriminatedUnion("ok", [...]) at the root
        compile(json!({
            "anyOf": [
                {
                    "type": "object",
                    "properties": {"ok": {"type": "boolean", "const": true}, "pid": {"type": "integer"}},
                    "required": ["ok", "pid"],
                    "additionalProperties": false
                },
                {
                    "type": "object",
                    "properties": {
                        "ok": {"type": "boolean", "const": false},
                        "reason": {"type": "string", "enum": ["busy", "denied"]}
                    },
                    "required": ["ok", "reason"],
                    "additionalProperties": false
                }
            ],
            "$schema": "http://json-schema.org/draft-07/schema#"
        }))
    }

    #[test]
    fn zod_discriminated_union() {
        let s = launch_result();
        ok(&s, json!({"ok": true, "pid": 12}));
        ok(&s, json!({"ok": false, "reason": "busy"}));
        assert_eq!(
            issues(&s, json!({"ok": true, "pid": "12"})),
            one(
                "",
                r#"does not match any alternative (closest is alternative 0: at "/pid": expected integer, got string)"#
            )
        );
        assert_eq!(
            issues(&s, json!({"ok": false, "reason": "bored"})),
            one(
                "",
                r#"does not match any alternative (closest is alternative 1: at "/reason": must be one of ["busy","denied"])"#
            )
        );
        assert_eq!(issues(&s, json!([])), one("", "expected object, got array"));
        // ambiguous: no closest branch named
        assert_eq!(
            issues(&s, json!({"ok": 1})),
            one("", "does not match any alternative")
        );
    }

    #[test]
    fn zod_union_field_and_nested_objects() {
        let s = compile(json!({
            "type": "object",
            "properties": {
                "when": {"type": "string", "format": "date-time"},
                "nested": {
                    "type": "object",
                    "properties": {"xs": {"type": "array", "items": {"type": "number"}}},
                    "required": ["xs"],
                    "additionalProperties": false
                },
                "u": {"type": ["string", "number"]},
                "limit": {"type": "number", "default": 3},
                "any": {}
            },
            "required": ["when", "nested", "u"],
            "additionalProperties": false
        }));
        ok(
            &s,
            json!({"when": "2024-01-01T00:00:00Z", "nested": {"xs": [1, 2]}, "u": 1}),
        );
        assert_eq!(
            issues(
                &s,
                json!({"when": "yesterday", "nested": {"xs": [1, "2"]}, "u": [], "any": [1]})
            ),
            vec![
                ("/when".to_owned(), "not a valid date-time".to_owned()),
                (
                    "/nested/xs/1".to_owned(),
                    "expected number, got string".to_owned()
                ),
                (
                    "/u".to_owned(),
                    "expected string or number, got array".to_owned()
                ),
            ]
        );
    }

    // ----- paths --------------------------------------------------------------------

    #[test]
    fn json_pointers_escape_tilde_and_slash() {
        let s = compile(json!({"additionalProperties": {"type": "number"}}));
        assert_eq!(
            issues(&s, json!({"a/b": "x"})),
            one("/a~1b", "expected number, got string")
        );
        assert_eq!(
            issues(&s, json!({"m~n": "x"})),
            one("/m~0n", "expected number, got string")
        );
        assert_eq!(
            issues(&s, json!({"~/": "x"})),
            one("/~0~1", "expected number, got string")
        );
        assert_eq!(
            issues(&s, json!({"": "x"})),
            one("/", "expected number, got string")
        );
        let s = compile(json!({
            "properties": {"items": {"items": {"properties": {"x": {"type": "string"}}}}}
        }));
        assert_eq!(
            issues(&s, json!({"items": [{"x": 1}]})),
            one("/items/0/x", "expected string, got number")
        );
        // schema-side escaping: properties with special names
        let s = compile(
            json!({"properties": {"a/b": {"$ref": "#/$defs/x~1y"}}, "$defs": {"x/y": {"type": "null"}}}),
        );
        assert_eq!(
            issues(&s, json!({"a/b": 1})),
            one("/a~1b", "expected null, got number")
        );
    }

    // ----- $ref ---------------------------------------------------------------------

    #[test]
    fn refs_to_defs_definitions_and_root() {
        let s = compile(json!({
            "type": "object",
            "properties": {
                "a": {"$ref": "#/$defs/Pos"},
                "b": {"$ref": "#/definitions/Name"},
                "c": {"$ref": "#/properties/a"}
            },
            "$defs": {"Pos": {"type": "number", "minimum": 0}},
            "definitions": {"Name": {"type": "string"}}
        }));
        ok(&s, json!({"a": 1, "b": "x", "c": 2}));
        assert_eq!(
            issues(&s, json!({"a": -1, "b": 2, "c": -3})),
            vec![
                ("/a".to_owned(), "must be >= 0".to_owned()),
                ("/b".to_owned(), "expected string, got number".to_owned()),
                ("/c".to_owned(), "must be >= 0".to_owned()),
            ]
        );
        // percent-encoded fragment
        let s = compile(json!({"$ref": "#/%24defs/A%20B", "$defs": {"A B": {"type": "null"}}}));
        ok(&s, json!(null));
        assert_eq!(issues(&s, json!(1)).len(), 1);
        // siblings of $ref are ignored (draft-07)
        let s = compile(
            json!({"$ref": "#/$defs/S", "minLength": 5, "$defs": {"S": {"type": "string"}}}),
        );
        ok(&s, json!("ab"));
    }

    #[test]
    fn recursive_refs() {
        let tree = compile(json!({
            "$ref": "#/$defs/Node",
            "$defs": {
                "Node": {
                    "type": "object",
                    "properties": {
                        "value": {"type": "number"},
                        "children": {"type": "array", "items": {"$ref": "#/$defs/Node"}}
                    },
                    "required": ["value"],
                    "additionalProperties": false
                }
            }
        }));
        ok(
            &tree,
            json!({"value": 1, "children": [{"value": 2}, {"value": 3, "children": []}]}),
        );
        assert_eq!(
            issues(
                &tree,
                json!({"value": 1, "children": [{"value": 2, "children": [{"value": "x"}]}]})
            ),
            one(
                "/children/0/children/0/value",
                "expected number, got string"
            )
        );
        // "#" is the root
        let list = compile(json!({
            "type": ["object", "null"],
            "properties": {"head": {"type": "number"}, "tail": {"$ref": "#"}}
        }));
        ok(&list, json!({"head": 1, "tail": {"head": 2, "tail": null}}));
        assert_eq!(
            issues(&list, json!({"head": 1, "tail": {"head": 2, "tail": 3}})),
            one("/tail/tail", "expected object or null, got number")
        );
        // mutual recursion through combinators that still descends
        let s = compile(json!({
            "$defs": {
                "A": {"anyOf": [{"type": "number"}, {"type": "array", "items": {"$ref": "#/$defs/B"}}]},
                "B": {"allOf": [{"$ref": "#/$defs/A"}]}
            },
            "$ref": "#/$defs/B"
        }));
        ok(&s, json!([1, [2, [3]]]));
        assert_eq!(issues(&s, json!([1, ["x"]])).len(), 1);
    }

    #[test]
    fn deep_values_are_reported_not_overflowed() {
        let s = compile(
            json!({"anyOf": [{"type": "null"}, {"type": "array", "items": {"$ref": "#"}}]}),
        );
        let nest = |n: usize| {
            let mut v = json!(null);
            for _ in 0..n {
                v = Value::Array(vec![v]);
            }
            v
        };
        // Run on a thread with a tokio-sized stack (2 MiB).
        let handle = std::thread::Builder::new()
            .stack_size(2 << 20)
            .spawn(move || {
                s.validate(&nest(MAX_DEPTH as usize)).unwrap();
                // Nested union failures: one issue, its (nested) detail truncated.
                let errs = s.validate(&nest(1000)).unwrap_err();
                assert_eq!(errs.len(), 1);
                assert!(errs[0]
                    .message
                    .starts_with("does not match any alternative"));
                assert!(errs[0].message.len() < 2000, "{}", errs[0].message.len());
                // Without unions the depth limit is reported where it is hit.
                let plain = compile(json!({"type": ["array", "null"], "items": {"$ref": "#"}}));
                plain.validate(&nest(MAX_DEPTH as usize)).unwrap();
                let errs = plain.validate(&nest(1000)).unwrap_err();
                assert_eq!(errs.len(), 1);
                assert_eq!(errs[0].path, "/0".repeat(MAX_DEPTH as usize + 1));
                assert_eq!(
                    errs[0].message,
                    "value nested too deeply (more than 256 levels)"
                );
                // a deep array under a non-recursive schema is fine: nothing descends into it
                compile(json!({"type": "array"}))
                    .validate(&nest(5000))
                    .unwrap();
                // deeply nested equal items for uniqueItems
                let u = compile(json!({"uniqueItems": true}));
                let errs = u
                    .validate(&Value::Array(vec![nest(400), nest(400)]))
                    .unwrap_err();
                assert_eq!(errs[0].message, "items nested too deeply to compare");
                let many: Vec<Value> = (0..20).map(|_| nest(400)).collect();
                assert_eq!(u.validate(&Value::Array(many)).unwrap_err().len(), 1);
                u.validate(&Value::Array(vec![nest(100), nest(101)]))
                    .unwrap();
            })
            .unwrap();
        handle.join().unwrap();
    }

    #[test]
    fn long_ref_chains_hit_the_recursion_limit_not_the_stack() {
        // 1100 definitions, each applying the next to the same value.
        let chain = |make: fn(usize) -> Value| {
            let mut defs = Map::new();
            for i in 0..1100 {
                defs.insert(format!("D{i}"), make(i + 1));
            }
            defs.insert("D1100".to_owned(), json!({"type": "string"}));
            compile(json!({"$ref": "#/$defs/D0", "$defs": defs}))
        };
        let all = chain(|next| json!({"allOf": [{"$ref": format!("#/$defs/D{next}")}]}));
        let any = chain(
            |next| json!({"anyOf": [{"$ref": format!("#/$defs/D{next}")}, {"type": "null"}]}),
        );
        let short = chain(|next| {
            if next < 1000 {
                json!({"$ref": format!("#/$defs/D{next}")}) // plain refs cost no recursion
            } else {
                json!({"allOf": [{"$ref": format!("#/$defs/D{next}")}]})
            }
        });
        std::thread::Builder::new()
            .stack_size(2 << 20)
            .spawn(move || {
                assert_eq!(
                    all.validate(&json!(1)).unwrap_err(),
                    vec![ValidationIssue::new(
                        "",
                        "schema recursion too deep for this value"
                    )]
                );
                assert!(any.validate(&json!(1)).is_err());
                assert!(any.validate(&json!(null)).is_ok());
                assert!(short.validate(&json!("s")).is_ok());
                assert_eq!(
                    short.validate(&json!(1)).unwrap_err(),
                    vec![ValidationIssue::new("", "expected string, got number")]
                );
            })
            .unwrap()
            .join()
            .unwrap();
    }

    // ----- invalid schemas ----------------------------------------------------------

    #[test]
    fn invalid_schemas_point_into_the_schema() {
        let e = schema_error(json!({"properties": {"a": {"pattern": "(unclosed"}}}));
        assert_eq!(e.pointer, "/properties/a/pattern");
        assert!(
            e.reason.starts_with(r#"invalid regex "(unclosed""#),
            "{}",
            e.reason
        );
        assert!(e
            .to_string()
            .starts_with("invalid schema at /properties/a/pattern: "));

        let e = schema_error(json!({"properties": {"a/b": {"$ref": "#/$defs/Missing"}}}));
        assert_eq!(e.pointer, "/properties/a~1b/$ref");
        assert_eq!(e.reason, r##"unresolvable $ref "#/$defs/Missing""##);

        let e = schema_error(json!({"$ref": "other.json#/x"}));
        assert_eq!(e.pointer, "/$ref");
        let e = schema_error(json!({"$ref": "#anchor"}));
        assert_eq!(e.pointer, "/$ref");
        let e = schema_error(json!({"patternProperties": {"[": {}}}));
        assert_eq!(e.pointer, "/patternProperties/[");

        for (schema, pointer) in [
            (json!({"type": "float"}), "/type"),
            (json!({"type": ["string", 1]}), "/type/1"),
            (json!({"type": []}), "/type"),
            (json!({"required": "a"}), "/required"),
            (json!({"required": ["a", 1]}), "/required/1"),
            (json!({"minLength": -1}), "/minLength"),
            (json!({"maxItems": 1.5}), "/maxItems"),
            (json!({"minimum": "0"}), "/minimum"),
            (json!({"exclusiveMinimum": true}), "/exclusiveMinimum"),
            (json!({"multipleOf": 0}), "/multipleOf"),
            (json!({"uniqueItems": 1}), "/uniqueItems"),
            (json!({"enum": "a"}), "/enum"),
            (json!({"anyOf": []}), "/anyOf"),
            (json!({"oneOf": {}}), "/oneOf"),
            (json!({"items": [{}, 3]}), "/items/1"),
            (json!({"properties": {"a": 3}}), "/properties/a"),
            (json!({"properties": []}), "/properties"),
            (
                json!({"additionalProperties": "no"}),
                "/additionalProperties",
            ),
            (json!({"not": null}), "/not"),
            (json!({"format": 1}), "/format"),
            (json!({"$defs": {"A": 1}}), "/$defs/A"),
            (json!({"$defs": []}), "/$defs"),
            (json!({"$ref": 1}), "/$ref"),
            (json!("string"), ""),
        ] {
            assert_eq!(schema_error(schema.clone()).pointer, pointer, "{schema}");
        }
        // unknown formats are fine
        SchemaValidator::new(json!({"format": "made-up"})).unwrap();
    }

    #[test]
    fn ref_cycles_that_never_descend_are_rejected() {
        let e = schema_error(json!({"$ref": "#/$defs/A", "$defs": {"A": {"$ref": "#/$defs/A"}}}));
        assert_eq!(e.pointer, "/$defs/A/$ref");
        let e = schema_error(json!({"anyOf": [{"type": "string"}, {"$ref": "#"}]}));
        assert_eq!(e.pointer, "/anyOf/1/$ref");
        assert!(e.reason.starts_with("$ref cycle"));
        // unused definitions are checked too
        let e =
            schema_error(json!({"definitions": {"X": {"allOf": [{"$ref": "#/definitions/X"}]}}}));
        assert_eq!(e.pointer, "/definitions/X/allOf/0/$ref");
    }

    #[test]
    fn from_json_and_deeply_nested_schemas() {
        let e = SchemaValidator::from_json("{not json").unwrap_err();
        assert_eq!(e.pointer, "");
        assert!(e.reason.starts_with("schema is not valid JSON"));
        let s = SchemaValidator::from_json(r#"{"type":"string"}"#).unwrap();
        ok(&s, json!("x"));

        let nest_not = |n: usize| {
            let mut deep = json!({});
            for _ in 0..n {
                deep = json!({ "not": deep });
            }
            deep
        };
        SchemaValidator::new(nest_not(100)).unwrap();
        assert_eq!(
            schema_error(nest_not(300)).reason,
            "schema nested too deeply"
        );
        let mut deep = json!(1);
        for _ in 0..300 {
            deep = json!([deep]);
        }
        assert_eq!(schema_error(json!({ "const": deep })).pointer, "/const");
    }

    #[test]
    fn is_a_validator_and_cheap_to_clone() {
        use crate::server::Validator;
        fn boxed(v: impl Validator) -> Box<dyn Validator> {
            Box::new(v)
        }
        let s = compile(json!({"type": "object", "required": ["a"]}));
        let v = boxed(s.clone());
        assert!(v.validate(&json!({"a": 1})).is_ok());
        assert_eq!(
            v.validate(&json!({})).unwrap_err(),
            vec![ValidationIssue::new("", r#"missing required property "a""#)]
        );
        assert!(Arc::ptr_eq(&s.nodes, &s.clone().nodes));
    }

    #[test]
    fn validator_plugs_into_a_service() {
        use crate::server::{Method, Service};
        let schema = compile(json!({
            "type": "object",
            "properties": {"a": {"type": "number"}},
            "required": ["a"],
            "additionalProperties": false
        }));
        let method = Method::new(|p: Value| async move { Ok(p) }).params_validator(schema);
        let service = Service::builder("svc").add("echo", method).build();
        assert!(service.is_ok());
    }
}
