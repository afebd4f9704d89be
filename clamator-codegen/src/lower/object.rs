//! Objects: structs, their fields and defaults, records.

use std::collections::BTreeSet;

use heck::ToPascalCase;
use serde_json::{Map, Value};

use super::{doc_of, doc_of_map, Def, DefaultValue, Field, Lowerer, Ty};
use crate::error::CodegenError;
use crate::load::escape;
use crate::names::field_ident;

impl Lowerer<'_> {
    pub(super) fn lower_object(
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

    pub(super) fn lower_fields(
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
            let nullable = matches!(ty, Ty::Option(_));
            let ty = if optional && default.is_none() && !nullable {
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
                nullable,
                default,
                doc: doc_of(&schema),
            });
        }
        Ok(fields)
    }

    fn default_expr(
        &self,
        value: &Value,
        ty: &Ty,
        pointer: &str,
    ) -> Result<DefaultValue, CodegenError> {
        Ok(match (ty.base(), value) {
            (Ty::Str, Value::String(s)) => DefaultValue::Str(s.clone()),
            (Ty::Bool, Value::Bool(b)) => DefaultValue::Bool(*b),
            (Ty::Int, Value::Number(n)) if n.is_i64() => {
                DefaultValue::Int(n.as_i64().unwrap_or_default())
            }
            (Ty::Num, Value::Number(n)) => DefaultValue::Num(n.as_f64().unwrap_or_default()),
            (Ty::Vec(_), Value::Array(a)) if a.is_empty() => DefaultValue::EmptyVec,
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
                    Some(variant) => DefaultValue::Variant {
                        ty: name.clone(),
                        variant,
                    },
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
}

/// zod's `.optional()` marker: `{"not": {}}`.
pub(crate) fn is_optional_marker(v: &Value) -> bool {
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
