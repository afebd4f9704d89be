//! The Zod schemas and their types: `export const X = z.…;` and
//! `export type X = z.infer<typeof X>;` per type, each after the types it uses.

use super::{key, Src};
use crate::lower::{Checks, Def, DefaultValue, Field, TaggedVariant, Ty};
use crate::peer::{number, quoted, PeerContract};

/// `time`: RFC 3339 `partial-time`, with or without an offset, as the Rust validator takes it
/// (zod's own `.time()` refuses offsets).
const TIME_PATTERN: &str =
    r"^([01]\d|2[0-3]):[0-5]\d:([0-5]\d|60)(\.\d+)?([Zz]|[+-]([01]\d|2[0-3]):[0-5]\d)?$";

/// Writes every type definition of `peer`, in order.
pub(super) fn emit(peer: &PeerContract, out: &mut Src) {
    let ctx = Ctx { peer };
    for def in &peer.defs {
        let name = def.name();
        let (doc, expr) = match def {
            Def::Struct {
                doc,
                fields,
                deny_unknown,
                extra,
                ..
            } => (
                doc,
                ctx.object(fields, *deny_unknown, extra.as_ref(), None, 0),
            ),
            Def::StrEnum { doc, variants, .. } => {
                let values: Vec<String> = variants.iter().map(|(w, _)| quoted(w)).collect();
                (doc, format!("z.enum([{}])", values.join(", ")))
            }
            Def::Tagged {
                doc, tag, variants, ..
            } => (doc, ctx.tagged(tag, variants)),
            Def::Untagged { doc, variants, .. } => {
                let types: Vec<String> = variants.iter().map(|(_, t)| ctx.expr(t, 1)).collect();
                (doc, format!("z.union([{}])", types.join(", ")))
            }
            Def::Alias { doc, ty, .. } => (doc, ctx.expr(ty, 0)),
        };
        out.blank();
        if let Some(d) = doc.clone().or_else(|| peer.root_docs.get(name).cloned()) {
            out.doc(0, &d);
        }
        out.line(0, &format!("export const {name} = {expr};"));
        out.line(0, &format!("export type {name} = z.infer<typeof {name}>;"));
    }
}

struct Ctx<'a> {
    peer: &'a PeerContract,
}

impl Ctx<'_> {
    /// `z.object({…})`, `.strict()` under `additionalProperties: false`, `.catchall(T)` for
    /// typed extra keys; `tag` first, for a tagged union's branch. `indent` is the level the
    /// expression starts at.
    fn object(
        &self,
        fields: &[Field],
        deny_unknown: bool,
        extra: Option<&Ty>,
        tag: Option<(&str, &str)>,
        indent: usize,
    ) -> String {
        let pad = "  ".repeat(indent + 1);
        let mut props = Vec::new();
        if let Some((tag, value)) = tag {
            props.push(format!("{pad}{}: z.literal({}),", key(tag), quoted(value)));
        }
        for f in fields {
            props.push(format!(
                "{pad}{}: {},",
                key(&f.wire),
                self.field(f, indent + 1)
            ));
        }
        let mut expr = if props.is_empty() {
            "z.object({})".to_owned()
        } else {
            format!(
                "z.object({{\n{}\n{}}})",
                props.join("\n"),
                "  ".repeat(indent)
            )
        };
        if deny_unknown {
            expr.push_str(".strict()");
        } else if let Some(ty) = extra {
            expr.push_str(&format!(".catchall({})", self.expr(ty, indent)));
        }
        expr
    }

    /// A property's schema: `.optional()` when it may be absent, `.default(v)` when absent
    /// means a value; a required `{}` must still be present.
    fn field(&self, f: &Field, indent: usize) -> String {
        let ty = match (&f.ty, f.optional) {
            // An optional property without a default is `Option<T>` in the IR for absence;
            // only a schema that allows null keeps `.nullable()`.
            (Ty::Option(inner), true) if !f.nullable && f.default.is_none() => inner.as_ref(),
            (ty, _) => ty,
        };
        let expr = self.expr(ty, indent);
        if let Some(d) = &f.default {
            return format!("{expr}.default({})", self.default_literal(d));
        }
        if f.optional {
            return format!("{expr}.optional()");
        }
        if *ty.base() == Ty::Any {
            // z.unknown() takes a missing key as `undefined`; JSON Schema's `required` does not.
            return format!("{expr}.refine((v) => v !== undefined, {{ message: 'Required' }})");
        }
        expr
    }

    fn default_literal(&self, d: &DefaultValue) -> String {
        match d {
            DefaultValue::Str(s) => quoted(s),
            DefaultValue::Bool(b) => b.to_string(),
            DefaultValue::Int(n) => n.to_string(),
            DefaultValue::Num(x) => {
                let text = format!("{x:?}");
                text.strip_suffix(".0").map(str::to_owned).unwrap_or(text)
            }
            // A fresh array per parse, not one shared by every result.
            DefaultValue::EmptyVec => "() => []".into(),
            DefaultValue::Variant { ty, variant } => {
                quoted(self.peer.enum_value(ty, variant).unwrap_or(variant))
            }
        }
    }

    /// A tagged union: `z.union` of the branches, each a strict object with its tag.
    fn tagged(&self, tag: &str, variants: &[TaggedVariant]) -> String {
        let branches: Vec<String> = variants
            .iter()
            .map(|v| {
                let object = self.object(&v.fields, v.deny_unknown, None, Some((tag, &v.value)), 1);
                format!("  {object},")
            })
            .collect();
        format!("z.union([\n{}\n])", branches.join("\n"))
    }

    /// The Zod schema of `ty`.
    fn expr(&self, ty: &Ty, indent: usize) -> String {
        match ty {
            Ty::Bool => "z.boolean()".into(),
            Ty::Int => "z.number().int()".into(),
            Ty::Num => "z.number()".into(),
            Ty::Str => "z.string()".into(),
            Ty::Unit => "z.null()".into(),
            Ty::Any => "z.unknown()".into(),
            Ty::JsonObject => "z.record(z.string(), z.unknown())".into(),
            Ty::Vec(t) => format!("z.array({})", self.expr(t, indent)),
            Ty::Map(t) => format!("z.record(z.string(), {})", self.expr(t, indent)),
            Ty::Option(t) => format!("{}.nullable()", self.expr(t, indent)),
            Ty::Named(n) => n.clone(),
            Ty::Checked(t, c) => self.checked(t, c, indent),
        }
    }

    fn checked(&self, ty: &Ty, c: &Checks, indent: usize) -> String {
        if let Some(constant) = &c.constant {
            return match constant {
                serde_json::Value::Null => "z.null()".into(),
                other => format!("z.literal({other})"),
            };
        }
        let mut expr = self.expr(ty, indent);
        match ty.base() {
            Ty::Str => {
                match c.format.as_deref() {
                    Some("date-time") => expr.push_str(".datetime({ offset: true })"),
                    Some("date") => expr.push_str(".date()"),
                    Some("time") => {
                        expr.push_str(&format!(".regex(new RegExp({}))", quoted(TIME_PATTERN)));
                    }
                    Some("uuid") => expr.push_str(".uuid()"),
                    Some("email") => expr.push_str(".email()"),
                    _ => {}
                }
                if let Some(n) = c.min_len {
                    expr.push_str(&format!(".min({n})"));
                }
                if let Some(n) = c.max_len {
                    expr.push_str(&format!(".max({n})"));
                }
                if let Some(p) = &c.pattern {
                    expr.push_str(&format!(".regex(new RegExp({}))", quoted(p)));
                }
            }
            Ty::Int | Ty::Num => {
                let bounds = [
                    ("gte", &c.minimum),
                    ("lte", &c.maximum),
                    ("gt", &c.exclusive_minimum),
                    ("lt", &c.exclusive_maximum),
                    ("multipleOf", &c.multiple_of),
                ];
                for (method, value) in bounds {
                    if let Some(n) = value {
                        expr.push_str(&format!(".{method}({})", number(n)));
                    }
                }
            }
            Ty::Vec(_) => {
                if let Some(n) = c.min_len {
                    expr.push_str(&format!(".min({n})"));
                }
                if let Some(n) = c.max_len {
                    expr.push_str(&format!(".max({n})"));
                }
            }
            _ => {}
        }
        expr
    }
}
