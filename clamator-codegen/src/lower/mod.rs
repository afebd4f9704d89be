//! Lowering JSON Schemas to Rust types: the IR ([`Def`], [`Ty`]) the emitters print.
//!
//! | JSON Schema | Rust |
//! |---|---|
//! | `{"type":"object","properties":…}` | a struct (unknown keys ignored; `deny_unknown_fields` only for an untagged union's alternatives) |
//! | `{"type":"object","additionalProperties":T}` | `BTreeMap<String, T>` |
//! | `{"type":"object"}` | `serde_json::Map<String, Value>` |
//! | `{"type":[T,"null"]}`, `anyOf` with `{"type":"null"}` | `Option<T>` |
//! | `{"type":"string","enum":[…]}` | an enum |
//! | `const` | the const's type (the value is checked by validation) |
//! | `{"type":"array","items":T}` | `Vec<T>` |
//! | `integer` / `number` / `string` / `boolean` / `null` | `i64` / `f64` / `String` / `bool` / `()` |
//! | `anyOf`/`oneOf` of objects sharing a string `const` property | `#[serde(tag = …)]` enum |
//! | other `anyOf`/`oneOf` | `#[serde(untagged)]` enum |
//! | `{}` | `serde_json::Value` |
//! | `$ref: "#/$defs/Name"` | the type `Name` |

pub(crate) mod ir;
mod object;
mod union;

use std::collections::{BTreeSet, HashMap};
use std::path::Path;

use heck::ToPascalCase;
use serde_json::{Map, Value};

pub(crate) use ir::{Checks, Def, DefaultValue, Field, TaggedVariant, Ty};
pub(crate) use object::is_optional_marker;

use crate::error::CodegenError;
use crate::load::def_name;
use crate::load::escape;
use crate::names::type_ident;

const ANNOTATIONS: &[&str] = &[
    "$schema",
    "$id",
    "$comment",
    "title",
    "description",
    "examples",
    "readOnly",
    "writeOnly",
    "deprecated",
];
const ASSERTIONS: &[&str] = &[
    "minimum",
    "maximum",
    "exclusiveMinimum",
    "exclusiveMaximum",
    "multipleOf",
    "minLength",
    "maxLength",
    "pattern",
    "format",
    "minItems",
    "maxItems",
    "uniqueItems",
    "minProperties",
    "maxProperties",
];

/// The types of one contract, and which of them each method and declared error uses: what
/// every language's emitter starts from.
pub(crate) struct LoweredContract {
    /// Type definitions, each after the types it uses.
    pub(crate) defs: Vec<Def>,
    /// Per method, in the contract's order: its params type and its result type (`None` for
    /// a notification).
    pub(crate) methods: Vec<(String, Option<String>)>,
    /// Per declared error, in the contract's order: the type of its `data`, if it has one.
    pub(crate) error_data: Vec<Option<String>>,
    /// Per event, in the contract's order: its payload type.
    pub(crate) events: Vec<String>,
}

/// Lowers every schema of `contract`: errors' data first, then each method's params and
/// result, then each event's payload, `<Method>Params` / `<Method>Result` (and `<Error>Data`,
/// `<Event>Payload`) naming the roots. Events come last so that a contract gaining events
/// keeps the names of every type it had.
pub(crate) fn lower_contract(
    contract: &crate::load::ContractFile,
) -> Result<LoweredContract, CodegenError> {
    let mut lowerer = Lowerer::new(&contract.path, &contract.defs);
    let mut error_data = Vec::new();
    for e in &contract.errors {
        error_data.push(match &e.data {
            Some(schema) => {
                let at = format!("/errors/{}/data", e.name);
                Some(lowerer.lower_root(schema, &at, &format!("{}Data", e.name))?)
            }
            None => None,
        });
    }
    let mut methods = Vec::new();
    for m in &contract.methods {
        let base = upper_first(&m.name);
        let at = format!("/methods/{}", m.name);
        let params =
            lowerer.lower_root(&m.params, &format!("{at}/params"), &format!("{base}Params"))?;
        let result = match &m.result {
            Some(r) => {
                Some(lowerer.lower_root(r, &format!("{at}/result"), &format!("{base}Result"))?)
            }
            None => None,
        };
        methods.push((params, result));
    }
    let mut events = Vec::new();
    for e in &contract.events {
        let at = format!("/events/{}/payload", e.name);
        let name = format!("{}Payload", upper_first(&e.name));
        events.push(lowerer.lower_root(&e.payload, &at, &name)?);
    }
    Ok(LoweredContract {
        defs: lowerer.out,
        methods,
        error_data,
        events,
    })
}

/// `s` with its first letter upper-cased: `echoText` → `EchoText`.
pub(crate) fn upper_first(s: &str) -> String {
    let mut c = s.chars();
    match c.next() {
        Some(f) => f.to_uppercase().collect::<String>() + c.as_str(),
        None => String::new(),
    }
}

/// Lowers the schemas of one contract into type definitions.
pub(crate) struct Lowerer<'a> {
    path: &'a Path,
    defs: &'a Map<String, Value>,
    /// Definitions in emission order.
    pub(crate) out: Vec<Def>,
    used: BTreeSet<String>,
    def_names: HashMap<String, String>,
    in_progress: BTreeSet<String>,
}

impl<'a> Lowerer<'a> {
    /// A lowerer for a contract file at `path` with these `$defs`.
    pub(crate) fn new(path: &'a Path, defs: &'a Map<String, Value>) -> Self {
        Self {
            path,
            defs,
            out: Vec::new(),
            used: BTreeSet::new(),
            def_names: HashMap::new(),
            in_progress: BTreeSet::new(),
        }
    }

    fn err(&self, pointer: &str, reason: impl Into<String>) -> CodegenError {
        CodegenError::contract(self.path, pointer, reason.into())
    }

    /// Reserves a type name, adding a number when it is taken.
    fn claim(&mut self, base: &str) -> String {
        let base = type_ident(base);
        let mut name = base.clone();
        let mut n = 2;
        while !self.used.insert(name.clone()) {
            name = format!("{base}{n}");
            n += 1;
        }
        name
    }

    /// Lowers a top-level params/result schema: objects and unions become the named type
    /// `name`; anything else a `pub type` alias of that name.
    pub(crate) fn lower_root(
        &mut self,
        schema: &Value,
        pointer: &str,
        name: &str,
    ) -> Result<String, CodegenError> {
        let ty = self.lower(schema, pointer, name)?;
        match ty {
            Ty::Named(n) if n == type_ident(name) => Ok(n),
            other => {
                let name = self.claim(name);
                self.out.push(Def::Alias {
                    name: name.clone(),
                    doc: doc_of(schema),
                    ty: other,
                });
                Ok(name)
            }
        }
    }

    /// Lowers `schema` (at `pointer` in the file); `hint` names any type it needs.
    pub(crate) fn lower(
        &mut self,
        schema: &Value,
        pointer: &str,
        hint: &str,
    ) -> Result<Ty, CodegenError> {
        let obj = match schema {
            Value::Bool(true) => return Ok(Ty::Any),
            Value::Bool(false) => {
                return Err(self.err(
                    pointer,
                    "the schema `false` (matches nothing) is not supported",
                ))
            }
            Value::Object(o) => o,
            _ => return Err(self.err(pointer, "a schema must be an object or a boolean")),
        };
        if let Some(r) = obj.get("$ref") {
            return self.lower_ref(r, pointer);
        }
        // A `title` names the type, where one is made (objects, enums, unions).
        let titled = obj
            .get("title")
            .and_then(Value::as_str)
            .map(type_ident)
            .filter(|t| crate::names::is_type_name(t));
        let hint = titled.as_deref().unwrap_or(hint);
        for key in obj.keys() {
            let known = ANNOTATIONS.contains(&key.as_str())
                || ASSERTIONS.contains(&key.as_str())
                || matches!(
                    key.as_str(),
                    "type"
                        | "properties"
                        | "required"
                        | "additionalProperties"
                        | "items"
                        | "enum"
                        | "const"
                        | "anyOf"
                        | "oneOf"
                        | "default"
                        | "not"
                );
            if !known {
                return Err(self.err(
                    &format!("{pointer}/{}", escape(key)),
                    format!("unsupported JSON Schema keyword \"{key}\""),
                ));
            }
        }
        if obj.contains_key("not") {
            return Err(self.err(
                &format!("{pointer}/not"),
                "\"not\" is only supported as zod's optional marker inside anyOf",
            ));
        }
        if let Some(union) = obj.get("anyOf").or_else(|| obj.get("oneOf")) {
            let key = if obj.contains_key("anyOf") {
                "anyOf"
            } else {
                "oneOf"
            };
            return self.lower_union(union, &format!("{pointer}/{key}"), hint, doc_of(schema));
        }
        if let Some(values) = obj.get("enum") {
            return self.lower_enum(values, &format!("{pointer}/enum"), hint, doc_of(schema));
        }
        if let Some(c) = obj.get("const") {
            let ty = match c {
                Value::String(_) => Ty::Str,
                Value::Bool(_) => Ty::Bool,
                Value::Number(n) if n.is_f64() => Ty::Num,
                Value::Number(_) => Ty::Int,
                Value::Null => Ty::Unit,
                _ => {
                    return Err(self.err(
                        &format!("{pointer}/const"),
                        "only scalar const values are supported",
                    ))
                }
            };
            return Ok(checked(ty, obj));
        }
        match obj.get("type") {
            None => {
                let asserts: Vec<&String> = obj
                    .keys()
                    .filter(|k| !ANNOTATIONS.contains(&k.as_str()) && *k != "default")
                    .collect();
                if asserts.is_empty() {
                    Ok(Ty::Any)
                } else {
                    Err(self.err(
                        pointer,
                        format!("a schema with {asserts:?} needs a \"type\""),
                    ))
                }
            }
            Some(Value::String(t)) => self.lower_typed(t, obj, pointer, hint),
            Some(Value::Array(types)) => {
                let names: Vec<&str> = types.iter().filter_map(Value::as_str).collect();
                if names.len() != types.len() || names.is_empty() {
                    return Err(self.err(
                        &format!("{pointer}/type"),
                        "type must be a string or an array of strings",
                    ));
                }
                let nullable = names.contains(&"null");
                let rest: Vec<&str> = names.into_iter().filter(|t| *t != "null").collect();
                let inner = match rest.as_slice() {
                    [] => Ty::Unit,
                    [one] => self.lower_typed(one, obj, pointer, hint)?,
                    many => {
                        let mut variants = Vec::new();
                        for t in many {
                            let ty = self.lower_typed(
                                t,
                                obj,
                                pointer,
                                &format!("{hint}{}", t.to_pascal_case()),
                            )?;
                            variants.push((ty.variant_name(), ty));
                        }
                        let name = self.claim(hint);
                        self.out.push(Def::Untagged {
                            name: name.clone(),
                            doc: doc_of(schema),
                            variants,
                        });
                        Ty::Named(name)
                    }
                };
                Ok(if nullable && *inner.base() != Ty::Unit {
                    Ty::Option(Box::new(inner))
                } else {
                    inner
                })
            }
            Some(_) => Err(self.err(
                &format!("{pointer}/type"),
                "type must be a string or an array of strings",
            )),
        }
    }

    fn lower_typed(
        &mut self,
        t: &str,
        obj: &Map<String, Value>,
        pointer: &str,
        hint: &str,
    ) -> Result<Ty, CodegenError> {
        let ty = self.lower_typed_bare(t, obj, pointer, hint)?;
        // Objects with properties are types of their own; their `minProperties` and
        // `maxProperties` stay with schema validation.
        Ok(match ty {
            Ty::Named(_) => ty,
            other => checked(other, obj),
        })
    }

    fn lower_typed_bare(
        &mut self,
        t: &str,
        obj: &Map<String, Value>,
        pointer: &str,
        hint: &str,
    ) -> Result<Ty, CodegenError> {
        Ok(match t {
            "string" => Ty::Str,
            "integer" => Ty::Int,
            "number" => Ty::Num,
            "boolean" => Ty::Bool,
            "null" => Ty::Unit,
            "array" => match obj.get("items") {
                None => Ty::Vec(Box::new(Ty::Any)),
                Some(Value::Array(_)) => {
                    return Err(self.err(
                        &format!("{pointer}/items"),
                        "tuple schemas (items as an array) are not supported",
                    ))
                }
                Some(items) => Ty::Vec(Box::new(self.lower(
                    items,
                    &format!("{pointer}/items"),
                    &format!("{hint}Item"),
                )?)),
            },
            "object" => self.lower_object(obj, pointer, hint)?,
            other => {
                return Err(self.err(
                    &format!("{pointer}/type"),
                    format!("unknown type \"{other}\""),
                ))
            }
        })
    }

    fn resolve(&self, schema: &Value) -> Value {
        match schema
            .get("$ref")
            .and_then(Value::as_str)
            .and_then(def_name)
        {
            Some(n) => self.defs.get(n).cloned().unwrap_or(Value::Null),
            None => schema.clone(),
        }
    }

    fn lower_ref(&mut self, r: &Value, pointer: &str) -> Result<Ty, CodegenError> {
        let at = format!("{pointer}/$ref");
        let Some(target) = r.as_str().and_then(def_name) else {
            return Err(self.err(
                &at,
                format!("unsupported $ref {r} (only \"#/$defs/<Name>\")"),
            ));
        };
        if let Some(done) = self.def_names.get(target) {
            return Ok(Ty::Named(done.clone()));
        }
        let Some(schema) = self.defs.get(target) else {
            return Err(self.err(
                &at,
                format!("unresolvable $ref {r}: no \"{target}\" in $defs"),
            ));
        };
        if !self.in_progress.insert(target.to_owned()) {
            return Err(self.err(&at, format!("recursive $ref {r} is not supported")));
        }
        let schema = schema.clone();
        let ty = self.lower(&schema, &format!("/$defs/{}", escape(target)), target)?;
        self.in_progress.remove(target);
        let named = match ty {
            Ty::Named(n) => n,
            other => {
                let name = self.claim(target);
                self.out.push(Def::Alias {
                    name: name.clone(),
                    doc: doc_of(&schema),
                    ty: other,
                });
                name
            }
        };
        self.def_names.insert(target.to_owned(), named.clone());
        Ok(Ty::Named(named))
    }
}

/// `ty` with the assertions of `obj` (and its `const`), when it has any.
fn checked(ty: Ty, obj: &Map<String, Value>) -> Ty {
    let number = |key: &str| match obj.get(key) {
        Some(Value::Number(n)) => Some(n.clone()),
        _ => None,
    };
    let length = |a: &str, b: &str| obj.get(a).or_else(|| obj.get(b)).and_then(Value::as_u64);
    let text = |key: &str| obj.get(key).and_then(Value::as_str).map(str::to_owned);
    let checks = Checks {
        constant: obj.get("const").cloned(),
        minimum: number("minimum"),
        maximum: number("maximum"),
        exclusive_minimum: number("exclusiveMinimum"),
        exclusive_maximum: number("exclusiveMaximum"),
        multiple_of: number("multipleOf"),
        min_len: length("minLength", "minItems"),
        max_len: length("maxLength", "maxItems"),
        pattern: text("pattern"),
        format: text("format"),
    };
    if checks.is_empty() {
        ty
    } else {
        Ty::Checked(Box::new(ty), Box::new(checks))
    }
}

fn doc_of(schema: &Value) -> Option<String> {
    schema
        .get("description")
        .and_then(Value::as_str)
        .map(str::to_owned)
}

fn doc_of_map(obj: &Map<String, Value>) -> Option<String> {
    obj.get("description")
        .and_then(Value::as_str)
        .map(str::to_owned)
}
