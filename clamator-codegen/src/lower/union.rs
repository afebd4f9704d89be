//! Enums and unions: string enums, tagged unions of objects, untagged unions.

use std::collections::BTreeSet;

use serde_json::Value;

use super::object::is_optional_marker;
use super::{Def, Lowerer, TaggedVariant, Ty};
use crate::error::CodegenError;
use crate::names::variant_ident;

impl Lowerer<'_> {
    pub(super) fn lower_enum(
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
        // The same values written inline in several places (zod-to-json-schema inlines a
        // shared `z.enum`) make one type, named after where it was met first.
        let same = self.out.iter().find_map(|d| match d {
            Def::StrEnum {
                name, variants: v, ..
            } if *v == variants => Some(name.clone()),
            _ => None,
        });
        if let Some(name) = same {
            return Ok(Ty::Named(name));
        }
        let name = self.claim(hint);
        self.out.push(Def::StrEnum {
            name: name.clone(),
            doc,
            variants,
        });
        Ok(Ty::Named(name))
    }

    pub(super) fn lower_union(
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
                        let full = ty.variant_name();
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
    pub(super) fn try_tagged(
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
            let deny_unknown = b.get("additionalProperties") == Some(&Value::Bool(false));
            variants.push(TaggedVariant {
                value,
                ident,
                fields,
                deny_unknown,
            });
        }
        self.out.push(Def::Tagged {
            name: name.clone(),
            doc,
            tag,
            variants,
        });
        Ok(Some(Ty::Named(name)))
    }
}
