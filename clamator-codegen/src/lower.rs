//! Lowering JSON Schemas to Rust types: the IR the emitter prints.
//!
//! | JSON Schema | Rust |
//! |---|---|
//! | `{"type":"object","properties":…}` | a struct (`deny_unknown_fields` with `additionalProperties: false`) |
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

use std::collections::{BTreeSet, HashMap};
use std::path::Path;

use heck::{ToPascalCase, ToSnakeCase};
use serde_json::{Map, Value};

use crate::load::escape;
use crate::CodegenError;

/// A Rust type as used in a field or alias.
#[derive(Debug, Clone, PartialEq)]
pub enum Ty {
    /// `bool`
    Bool,
    /// `i64`
    Int,
    /// `f64`
    Num,
    /// `String`
    Str,
    /// `()`
    Unit,
    /// `serde_json::Value`
    Any,
    /// `serde_json::Map<String, Value>`
    JsonObject,
    /// `Vec<T>`
    Vec(Box<Ty>),
    /// `BTreeMap<String, T>`
    Map(Box<Ty>),
    /// `Option<T>`
    Option(Box<Ty>),
    /// A generated type.
    Named(String),
}

/// A struct field.
#[derive(Debug, Clone, PartialEq)]
pub struct Field {
    /// The key on the wire.
    pub wire: String,
    /// The Rust field name (may be a raw identifier).
    pub ident: String,
    /// Its type; `Option` for optional fields.
    pub ty: Ty,
    /// True when the key may be absent (then `ty` is an `Option`, or `default` is set).
    pub optional: bool,
    /// The default value, as Rust source, for optional fields with a `default`.
    pub default: Option<String>,
    /// The schema's description.
    pub doc: Option<String>,
}

/// A generated type definition.
#[derive(Debug, Clone, PartialEq)]
pub enum Def {
    /// A struct.
    Struct {
        /// Type name.
        name: String,
        /// Doc.
        doc: Option<String>,
        /// Fields in schema order.
        fields: Vec<Field>,
        /// `additionalProperties: false`.
        deny_unknown: bool,
        /// `additionalProperties: <schema>` next to properties: a flattened map.
        extra: Option<Ty>,
    },
    /// An enum of strings.
    StrEnum {
        /// Type name.
        name: String,
        /// Doc.
        doc: Option<String>,
        /// (wire value, variant ident).
        variants: Vec<(String, String)>,
    },
    /// An internally tagged union of objects.
    Tagged {
        /// Type name.
        name: String,
        /// Doc.
        doc: Option<String>,
        /// The discriminator property.
        tag: String,
        /// (tag value, variant ident, fields without the tag).
        variants: Vec<(String, String, Vec<Field>)>,
    },
    /// An untagged union.
    Untagged {
        /// Type name.
        name: String,
        /// Doc.
        doc: Option<String>,
        /// (variant ident, type).
        variants: Vec<(String, Ty)>,
    },
    /// `pub type Name = T;`
    Alias {
        /// Type name.
        name: String,
        /// Doc.
        doc: Option<String>,
        /// The aliased type.
        ty: Ty,
    },
}

impl Def {
    /// The type's name.
    pub fn name(&self) -> &str {
        match self {
            Def::Struct { name, .. }
            | Def::StrEnum { name, .. }
            | Def::Tagged { name, .. }
            | Def::Untagged { name, .. }
            | Def::Alias { name, .. } => name,
        }
    }
}

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

/// Lowers the schemas of one contract into type definitions.
pub struct Lowerer<'a> {
    path: &'a Path,
    defs: &'a Map<String, Value>,
    /// Definitions in emission order.
    pub out: Vec<Def>,
    used: BTreeSet<String>,
    def_names: HashMap<String, String>,
    in_progress: BTreeSet<String>,
}

impl<'a> Lowerer<'a> {
    /// A lowerer for a contract file at `path` with these `$defs`.
    pub fn new(path: &'a Path, defs: &'a Map<String, Value>) -> Self {
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
    pub fn lower_root(
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
    pub fn lower(&mut self, schema: &Value, pointer: &str, hint: &str) -> Result<Ty, CodegenError> {
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
            return Ok(match c {
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
            });
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
                            variants.push((variant_for_type(&ty), ty));
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
                Ok(if nullable && inner != Ty::Unit {
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

    fn lower_object(
        &mut self,
        obj: &Map<String, Value>,
        pointer: &str,
        hint: &str,
    ) -> Result<Ty, CodegenError> {
        let additional = obj.get("additionalProperties");
        let properties = match obj.get("properties") {
            None => None,
            Some(Value::Object(p)) => Some(p),
            Some(_) => {
                return Err(self.err(
                    &format!("{pointer}/properties"),
                    "properties must be an object",
                ))
            }
        };
        let extra = match additional {
            None | Some(Value::Bool(false)) => None,
            Some(Value::Bool(true)) => Some(Ty::Any),
            Some(schema) => Some(self.lower(
                schema,
                &format!("{pointer}/additionalProperties"),
                &format!("{hint}Value"),
            )?),
        };
        let Some(properties) = properties else {
            return Ok(match (additional, extra) {
                (Some(Value::Bool(false)), _) => {
                    let name = self.claim(hint);
                    self.out.push(Def::Struct {
                        name: name.clone(),
                        doc: doc_of_map(obj),
                        fields: vec![],
                        deny_unknown: true,
                        extra: None,
                    });
                    Ty::Named(name)
                }
                (None, _) => Ty::JsonObject,
                (_, Some(t)) => Ty::Map(Box::new(t)),
                (_, None) => Ty::JsonObject,
            });
        };
        let required: Vec<&str> = match obj.get("required") {
            None => vec![],
            Some(Value::Array(r)) => r.iter().filter_map(Value::as_str).collect(),
            Some(_) => {
                return Err(self.err(
                    &format!("{pointer}/required"),
                    "required must be an array of strings",
                ))
            }
        };
        for r in &required {
            if !properties.contains_key(*r) {
                return Err(self.err(
                    &format!("{pointer}/required"),
                    format!("required property \"{r}\" is not in properties"),
                ));
            }
        }
        let name = self.claim(hint);
        let fields = self.lower_fields(
            properties,
            &required,
            &format!("{pointer}/properties"),
            &name,
            None,
        )?;
        self.out.push(Def::Struct {
            name: name.clone(),
            doc: doc_of_map(obj),
            fields,
            deny_unknown: matches!(additional, Some(Value::Bool(false))),
            extra: if matches!(additional, None | Some(Value::Bool(false))) {
                None
            } else {
                extra
            },
        });
        Ok(Ty::Named(name))
    }

    fn lower_fields(
        &mut self,
        properties: &Map<String, Value>,
        required: &[&str],
        pointer: &str,
        owner: &str,
        skip: Option<&str>,
    ) -> Result<Vec<Field>, CodegenError> {
        let mut fields = Vec::new();
        let mut idents = BTreeSet::new();
        for (wire, schema) in properties {
            if Some(wire.as_str()) == skip {
                continue;
            }
            let at = format!("{pointer}/{}", escape(wire));
            let (schema, optional_marker) = strip_optional_marker(schema);
            let ty = self.lower(&schema, &at, &format!("{owner}{}", wire.to_pascal_case()))?;
            let optional = optional_marker || !required.contains(&wire.as_str());
            let default = match schema.get("default") {
                Some(d) if optional => Some(self.default_expr(d, &ty, &format!("{at}/default"))?),
                _ => None,
            };
            let ty = if optional && default.is_none() && !matches!(ty, Ty::Option(_)) {
                Ty::Option(Box::new(ty))
            } else {
                ty
            };
            let mut ident = field_ident(wire);
            let base = ident.clone();
            let mut n = 2;
            while !idents.insert(ident.clone()) {
                ident = format!("{base}_{n}");
                n += 1;
            }
            fields.push(Field {
                wire: wire.clone(),
                ident,
                ty,
                optional,
                default,
                doc: doc_of(&schema),
            });
        }
        Ok(fields)
    }

    fn default_expr(&self, value: &Value, ty: &Ty, pointer: &str) -> Result<String, CodegenError> {
        Ok(match (ty, value) {
            (Ty::Str, Value::String(s)) => format!("{s:?}.to_owned()"),
            (Ty::Bool, Value::Bool(b)) => b.to_string(),
            (Ty::Int, Value::Number(n)) if n.is_i64() => format!("{n}"),
            (Ty::Num, Value::Number(n)) => {
                let f = n.as_f64().unwrap_or_default();
                if f.fract() == 0.0 {
                    format!("{f:.1}")
                } else {
                    format!("{f}")
                }
            }
            (Ty::Vec(_), Value::Array(a)) if a.is_empty() => "Vec::new()".to_owned(),
            (Ty::Named(name), Value::String(s)) => {
                let variant = self.out.iter().find_map(|d| match d {
                    Def::StrEnum {
                        name: n, variants, ..
                    } if n == name => variants
                        .iter()
                        .find(|(w, _)| w == s)
                        .map(|(_, v)| v.clone()),
                    _ => None,
                });
                match variant {
                    Some(v) => format!("{name}::{v}"),
                    None => {
                        return Err(
                            self.err(pointer, format!("default {value} is not a value of {name}"))
                        )
                    }
                }
            }
            _ => {
                return Err(self.err(
                    pointer,
                    format!("unsupported default {value} for this type"),
                ))
            }
        })
    }

    fn lower_enum(
        &mut self,
        values: &Value,
        pointer: &str,
        hint: &str,
        doc: Option<String>,
    ) -> Result<Ty, CodegenError> {
        let Value::Array(values) = values else {
            return Err(self.err(pointer, "enum must be an array"));
        };
        let mut variants = Vec::new();
        let mut idents = BTreeSet::new();
        for (i, v) in values.iter().enumerate() {
            let Value::String(s) = v else {
                return Err(self.err(&format!("{pointer}/{i}"), "only string enums are supported"));
            };
            let base = variant_ident(s);
            let mut ident = base.clone();
            let mut n = 2;
            while !idents.insert(ident.clone()) {
                ident = format!("{base}{n}");
                n += 1;
            }
            variants.push((s.clone(), ident));
        }
        if variants.is_empty() {
            return Err(self.err(pointer, "an enum needs at least one value"));
        }
        let name = self.claim(hint);
        self.out.push(Def::StrEnum {
            name: name.clone(),
            doc,
            variants,
        });
        Ok(Ty::Named(name))
    }

    fn lower_union(
        &mut self,
        branches: &Value,
        pointer: &str,
        hint: &str,
        doc: Option<String>,
    ) -> Result<Ty, CodegenError> {
        let Value::Array(branches) = branches else {
            return Err(self.err(pointer, "anyOf/oneOf must be an array"));
        };
        let mut nullable = false;
        let mut rest: Vec<(usize, Value)> = Vec::new();
        for (i, b) in branches.iter().enumerate() {
            if b.get("type").and_then(Value::as_str) == Some("null")
                && b.as_object().is_some_and(|o| o.len() == 1)
            {
                nullable = true;
            } else if is_optional_marker(b) {
                // zod's `.optional()` inside a union: absence, handled by the field.
            } else if let Some(inner) = b
                .get("anyOf")
                .filter(|_| b.as_object().is_some_and(|o| o.len() == 1))
            {
                // zod nests `anyOf[{not:{}}, T]` for optional-nullable; flatten it.
                if let Value::Array(inner) = inner {
                    for x in inner {
                        if !is_optional_marker(x) {
                            rest.push((i, x.clone()));
                        }
                    }
                }
            } else {
                rest.push((i, b.clone()));
            }
        }
        let ty = match rest.as_slice() {
            [] => return Err(self.err(pointer, "a union needs a branch other than null")),
            [(i, only)] => self.lower(only, &format!("{pointer}/{i}"), hint)?,
            _ => {
                if let Some(tagged) = self.try_tagged(&rest, pointer, hint, doc.clone())? {
                    tagged
                } else {
                    let name = self.claim(hint);
                    let mut variants = Vec::new();
                    let mut idents = BTreeSet::new();
                    for (n, (i, b)) in rest.iter().enumerate() {
                        let ty = self.lower(
                            b,
                            &format!("{pointer}/{i}"),
                            &format!("{name}Variant{}", n + 1),
                        )?;
                        // `Shape::Variant2(ShapeVariant2)`, not `Shape::ShapeVariant2(…)`.
                        let full = variant_for_type(&ty);
                        let base = match full.strip_prefix(name.as_str()) {
                            Some(rest) if !rest.is_empty() => rest.to_owned(),
                            _ => full,
                        };
                        let mut ident = base.clone();
                        let mut k = 2;
                        while !idents.insert(ident.clone()) {
                            ident = format!("{base}{k}");
                            k += 1;
                        }
                        variants.push((ident, ty));
                    }
                    self.out.push(Def::Untagged {
                        name: name.clone(),
                        doc,
                        variants,
                    });
                    Ty::Named(name)
                }
            }
        };
        Ok(if nullable {
            Ty::Option(Box::new(ty))
        } else {
            ty
        })
    }

    /// A union of objects that all carry the same property with a distinct string `const`.
    fn try_tagged(
        &mut self,
        branches: &[(usize, Value)],
        pointer: &str,
        hint: &str,
        doc: Option<String>,
    ) -> Result<Option<Ty>, CodegenError> {
        let resolved: Vec<Value> = branches.iter().map(|(_, b)| self.resolve(b)).collect();
        let Some(first) = resolved
            .first()
            .and_then(|b| b.get("properties"))
            .and_then(Value::as_object)
        else {
            return Ok(None);
        };
        let tag = first.iter().find_map(|(k, v)| {
            v.get("const").and_then(Value::as_str)?;
            let all = resolved.iter().all(|b| {
                b.get("type").and_then(Value::as_str) == Some("object")
                    && b.get("properties")
                        .and_then(|p| p.get(k))
                        .and_then(|p| p.get("const"))
                        .and_then(Value::as_str)
                        .is_some()
            });
            all.then(|| k.clone())
        });
        let Some(tag) = tag else {
            return Ok(None);
        };
        let values: BTreeSet<&str> = resolved
            .iter()
            .filter_map(|b| b.get("properties")?.get(&tag)?.get("const")?.as_str())
            .collect();
        if values.len() != resolved.len() {
            return Ok(None);
        }
        let name = self.claim(hint);
        let mut variants = Vec::new();
        for ((i, _), b) in branches.iter().zip(&resolved) {
            let value = b["properties"][&tag]["const"]
                .as_str()
                .unwrap_or_default()
                .to_owned();
            let ident = variant_ident(&value);
            let required: Vec<&str> = b
                .get("required")
                .and_then(Value::as_array)
                .map(|r| r.iter().filter_map(Value::as_str).collect())
                .unwrap_or_default();
            let props = b
                .get("properties")
                .and_then(Value::as_object)
                .cloned()
                .unwrap_or_default();
            let fields = self.lower_fields(
                &props,
                &required,
                &format!("{pointer}/{i}/properties"),
                &format!("{name}{ident}"),
                Some(&tag),
            )?;
            variants.push((value, ident, fields));
        }
        self.out.push(Def::Tagged {
            name: name.clone(),
            doc,
            tag,
            variants,
        });
        Ok(Some(Ty::Named(name)))
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

fn def_name(r: &str) -> Option<&str> {
    r.strip_prefix("#/$defs/")
        .or_else(|| r.strip_prefix("#/definitions/"))
}

fn is_optional_marker(v: &Value) -> bool {
    v.get("not")
        .is_some_and(|n| n.as_object().is_some_and(Map::is_empty))
        && v.as_object().is_some_and(|o| o.len() == 1)
}

/// zod's `.optional()` inside unions (`anyOf: [{not: {}}, T]`) marks the property optional.
fn strip_optional_marker(schema: &Value) -> (Value, bool) {
    if let Some(Value::Array(branches)) = schema.get("anyOf") {
        if branches.iter().any(is_optional_marker) {
            let mut s = schema.clone();
            if let Some(Value::Array(b)) = s.get_mut("anyOf") {
                b.retain(|x| !is_optional_marker(x));
            }
            return (s, true);
        }
    }
    (schema.clone(), false)
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

const KEYWORDS: &[&str] = &[
    "as", "break", "const", "continue", "crate", "else", "enum", "extern", "false", "fn", "for",
    "if", "impl", "in", "let", "loop", "match", "mod", "move", "mut", "pub", "ref", "return",
    "self", "Self", "static", "struct", "super", "trait", "true", "type", "unsafe", "use", "where",
    "while", "async", "await", "dyn", "abstract", "become", "box", "do", "final", "macro",
    "override", "priv", "typeof", "unsized", "virtual", "yield", "try", "gen",
];

/// The Rust field name for a wire key: snake_case, made a valid identifier.
pub fn field_ident(wire: &str) -> String {
    let mut s: String = wire
        .to_snake_case()
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '_' {
                c
            } else {
                '_'
            }
        })
        .collect();
    if s.is_empty() || s.starts_with(|c: char| c.is_ascii_digit()) {
        s = format!("f_{s}");
    }
    if matches!(s.as_str(), "self" | "Self" | "super" | "crate") {
        s.push('_');
    } else if KEYWORDS.contains(&s.as_str()) {
        s = format!("r#{s}");
    }
    s
}

/// A PascalCase type name.
pub fn type_ident(s: &str) -> String {
    let mut out: String = s
        .to_pascal_case()
        .chars()
        .filter(char::is_ascii_alphanumeric)
        .collect();
    if out.is_empty() || out.starts_with(|c: char| c.is_ascii_digit()) {
        out = format!("T{out}");
    }
    if out == "Self" {
        out.push('_');
    }
    out
}

fn variant_ident(value: &str) -> String {
    let mut out: String = value
        .to_pascal_case()
        .chars()
        .filter(char::is_ascii_alphanumeric)
        .collect();
    if out.is_empty() || out.starts_with(|c: char| c.is_ascii_digit()) {
        out = format!("V{out}");
    }
    if out == "Self" {
        out.push('_');
    }
    out
}

fn variant_for_type(ty: &Ty) -> String {
    match ty {
        Ty::Bool => "Bool".into(),
        Ty::Int => "Integer".into(),
        Ty::Num => "Number".into(),
        Ty::Str => "String".into(),
        Ty::Unit => "Null".into(),
        Ty::Any => "Any".into(),
        Ty::JsonObject | Ty::Map(_) => "Object".into(),
        Ty::Vec(_) => "Array".into(),
        Ty::Option(t) => variant_for_type(t),
        Ty::Named(n) => n.clone(),
    }
}
