//! The pydantic v2 models, in the shape clamator's generator gives them (datamodel-codegen's
//! output): `extra="forbid"` where the schema says `additionalProperties: false` (except on
//! types only results and error data use, which ignore unknown keys as the Rust and
//! TypeScript clients do: a newer server may add a result field), snake_case
//! attributes with the wire names as aliases (no `populate_by_name`, so models are built
//! with the wire names: `SlowAddParams(a=1, b=2, sleepMs=10)`), `Literal` enums and
//! constants, `T | None = None` for optional properties, constraints as `Field` arguments,
//! discriminated unions, and `RootModel` for a params or result type that is not an object.
//!
//! Every model derives from the module's `_Model`, whose serializer leaves out an optional
//! property whose value is `None`, instead of writing `null`: clamator's TypeScript servers
//! refuse `null` for an optional property, so an unset one must be absent on the wire.
//! Only an optional property whose schema allows `null`, and that was set to `None`
//! explicitly, is written as `null`.

use std::collections::{BTreeSet, HashSet};

use super::{attr_name, Imports, Src};
use crate::lower::{Checks, Def, DefaultValue, Field, TaggedVariant, Ty};
use crate::peer::{number, quoted, PeerContract};

/// Writes every type definition of `peer`, in order.
pub(super) fn emit(peer: &PeerContract, out: &mut Src, imports: &mut Imports) {
    let mut ctx = Ctx {
        peer,
        imports,
        roots: peer.roots(),
        names: peer.defs.iter().map(|d| d.name().to_owned()).collect(),
        result_only: result_only(peer),
    };
    let models = peer
        .defs
        .iter()
        .any(|d| matches!(d, Def::Struct { .. } | Def::Tagged { .. }));
    if models {
        ctx.base_model(out);
    }
    for def in &peer.defs {
        ctx.def(def, out);
    }
}

/// What a model class is made of.
#[derive(Clone, Copy)]
struct Shape<'a> {
    /// The properties, in schema order.
    fields: &'a [Field],
    /// `additionalProperties: false`.
    deny_unknown: bool,
    /// `additionalProperties: <schema>`: the type of the other keys' values.
    extra: Option<&'a Ty>,
    /// A tagged union's branch: the tag property and its value, written first.
    tag: Option<(&'a str, &'a str)>,
    /// Only a result or error data reads it: unknown keys are ignored, as generated Rust
    /// and TypeScript clients ignore them, so a newer server's added field breaks nothing.
    lenient: bool,
}

struct Ctx<'a> {
    peer: &'a PeerContract,
    imports: &'a mut Imports,
    /// The params, result and error data types: classes, as `MethodEntry` needs.
    roots: BTreeSet<&'a str>,
    /// Every name taken at the module's top level.
    names: HashSet<String>,
    /// The types only results and error data use (not params, not event payloads).
    result_only: BTreeSet<String>,
}

impl Ctx<'_> {
    /// `_Model`: what every model shares.
    fn base_model(&mut self, out: &mut Src) {
        for name in [
            "BaseModel",
            "SerializationInfo",
            "SerializerFunctionWrapHandler",
            "model_serializer",
        ] {
            self.imports.pydantic(name);
        }
        self.imports.typing("Any");
        self.imports.typing("ClassVar");
        out.gap();
        out.line(0, "class _Model(BaseModel):");
        out.docstring(
            1,
            "The base of this module's models: an optional property whose value is `None` is\n\
             left out when the model is written, never sent as `null` (which clamator's\n\
             TypeScript peers refuse). Only the optional properties named in `_null_allowed`,\n\
             whose schema allows `null`, are written as `null`, and only when set to `None`.",
        );
        out.blank();
        out.line(1, "_null_allowed: ClassVar[frozenset[str]] = frozenset()");
        out.blank();
        out.line(1, "@model_serializer(mode=\"wrap\")");
        out.line(
            1,
            "def _omit_absent(self, handler: SerializerFunctionWrapHandler, info: SerializationInfo) -> Any:",
        );
        out.line(2, "data = handler(self)");
        out.line(2, "if isinstance(data, dict):");
        out.line(3, "for name, field in type(self).model_fields.items():");
        out.line(
            4,
            "if field.is_required() or field.default is not None or getattr(self, name) is not None:",
        );
        out.line(5, "continue");
        out.line(
            4,
            "if name in self._null_allowed and name in self.model_fields_set:",
        );
        out.line(5, "continue");
        out.line(
            4,
            "data.pop(field.alias if info.by_alias and field.alias else name, None)",
        );
        out.line(2, "return data");
    }

    /// True when `name` is a class (a model, or a `RootModel`), not an alias of a union, an
    /// enum or a plain type.
    fn is_class(&self, name: &str) -> bool {
        match self.peer.def(name) {
            Some(Def::Struct { .. }) => true,
            Some(Def::Alias {
                ty: Ty::Named(target),
                ..
            }) if self.roots.contains(name) => self.is_class(target),
            Some(_) => self.roots.contains(name),
            None => false,
        }
    }

    fn doc_of(&self, name: &str, doc: &Option<String>) -> Option<String> {
        doc.clone()
            .or_else(|| self.peer.root_docs.get(name).cloned())
    }

    fn def(&mut self, def: &Def, out: &mut Src) {
        let name = def.name();
        let doc = match def {
            Def::Struct { doc, .. }
            | Def::StrEnum { doc, .. }
            | Def::Tagged { doc, .. }
            | Def::Untagged { doc, .. }
            | Def::Alias { doc, .. } => self.doc_of(name, doc),
        };
        let expr = match def {
            Def::Struct {
                fields,
                deny_unknown,
                extra,
                ..
            } => {
                let shape = Shape {
                    fields,
                    deny_unknown: *deny_unknown,
                    extra: extra.as_ref(),
                    tag: None,
                    lenient: self.result_only.contains(name),
                };
                self.model(name, doc.as_deref(), &shape, out);
                return;
            }
            Def::StrEnum { variants, .. } => {
                self.imports.typing("Literal");
                let values: Vec<String> = variants.iter().map(|(w, _)| quoted(w)).collect();
                format!("Literal[{}]", values.join(", "))
            }
            Def::Tagged { tag, variants, .. } => self.tagged(name, tag, variants, out),
            Def::Untagged { variants, .. } => {
                let types: Vec<String> = variants.iter().map(|(_, t)| self.expr(t)).collect();
                types.join(" | ")
            }
            Def::Alias { ty, .. } => self.expr(ty),
        };
        out.gap();
        let class_alias = matches!(def, Def::Alias { ty: Ty::Named(t), .. } if self.is_class(t));
        if self.roots.contains(name) && !class_alias {
            // `MethodEntry` and the client call `model_validate` on params and result types:
            // a type that is no model is wrapped in a `RootModel`, as clamator's generator does.
            self.imports.pydantic("RootModel");
            out.line(0, &format!("class {name}(RootModel[{expr}]):"));
            match &doc {
                Some(d) => out.docstring(1, d),
                None => out.line(1, "pass"),
            }
        } else {
            self.imports.typing("TypeAlias");
            if let Some(d) = &doc {
                out.comment(0, d);
            }
            out.line(0, &format!("{name}: TypeAlias = {expr}"));
        }
    }

    /// A tagged union: one model per branch, then the union of them; returns the union.
    fn tagged(
        &mut self,
        name: &str,
        tag: &str,
        variants: &[TaggedVariant],
        out: &mut Src,
    ) -> String {
        let mut classes = Vec::new();
        for v in variants {
            let base = format!("{name}{}", v.ident);
            let mut class = base.clone();
            let mut n = 2;
            while !self.names.insert(class.clone()) {
                class = format!("{base}{n}");
                n += 1;
            }
            let doc = format!("`{tag}: {}` of `{name}`.", quoted(&v.value));
            let shape = Shape {
                fields: &v.fields,
                deny_unknown: v.deny_unknown,
                extra: None,
                tag: Some((tag, v.value.as_str())),
                lenient: self.result_only.contains(name),
            };
            self.model(&class, Some(&doc), &shape, out);
            classes.push(class);
        }
        self.imports.typing("Annotated");
        self.imports.pydantic("Field");
        format!(
            "Annotated[{}, Field(discriminator={})]",
            classes.join(" | "),
            quoted(&attr_name(tag))
        )
    }

    /// A model class: `extra` per `additionalProperties`, then the tag (of a tagged union's
    /// branch), then the fields.
    fn model(&mut self, name: &str, doc: Option<&str>, shape: &Shape<'_>, out: &mut Src) {
        let Shape {
            fields,
            deny_unknown,
            extra,
            tag,
            lenient,
        } = *shape;
        out.gap();
        out.line(0, &format!("class {name}(_Model):"));
        let mut body = Src::python();
        let config = match (deny_unknown && !lenient, extra) {
            (true, _) => Some("forbid"),
            (false, Some(_)) => Some("allow"),
            (false, None) => None,
        };
        if let Some(extra) = config {
            self.imports.pydantic("ConfigDict");
            body.line(1, &format!("model_config = ConfigDict(extra=\"{extra}\")"));
        }
        let mut attrs = BTreeSet::new();
        let mut attr_of = |wire: &str| {
            let base = attr_name(wire);
            let mut attr = base.clone();
            let mut n = 2;
            while !attrs.insert(attr.clone()) {
                attr = format!("{base}_{n}");
                n += 1;
            }
            attr
        };
        let mut lines = Vec::new();
        let mut null_allowed = Vec::new();
        if let Some((tag, value)) = tag {
            self.imports.typing("Literal");
            let attr = attr_of(tag);
            lines.push(self.field_line(
                &attr,
                tag,
                &format!("Literal[{}]", quoted(value)),
                None,
                None,
            ));
        }
        for f in fields {
            let attr = attr_of(&f.wire);
            if f.optional && f.nullable && f.default.is_none() {
                null_allowed.push(quoted(&attr));
            }
            let ty = self.expr(&f.ty);
            let default = if let Some(d) = &f.default {
                Some(self.default_literal(d))
            } else if f.optional {
                Some("None".to_owned())
            } else {
                None
            };
            lines.push(self.field_line(&attr, &f.wire, &ty, default, f.doc.as_deref()));
        }
        if !null_allowed.is_empty() {
            body.line(
                1,
                &format!(
                    "_null_allowed: ClassVar[frozenset[str]] = frozenset({{{}}})",
                    null_allowed.join(", ")
                ),
            );
        }
        if !body.text.is_empty() && !lines.is_empty() {
            body.blank();
        }
        for l in &lines {
            body.line(1, l);
        }
        if let Some(ty) = extra.filter(|t| **t != Ty::Any) {
            // Typed extra keys: pydantic validates each against the record's value type.
            self.imports.pydantic("Field");
            let ty = self.expr(ty);
            body.line(
                1,
                &format!("__pydantic_extra__: dict[str, {ty}] = Field(init=False)"),
            );
        }
        match doc {
            Some(d) => {
                out.docstring(1, d);
                if !body.text.is_empty() {
                    out.blank();
                }
            }
            None if body.text.is_empty() => out.line(1, "pass"),
            None => {}
        }
        out.text.push_str(&body.text);
    }

    /// `attr: ty`, with `= default` or `= Field(…)` when the wire name, a default or a
    /// description needs one.
    fn field_line(
        &mut self,
        attr: &str,
        wire: &str,
        ty: &str,
        default: Option<String>,
        doc: Option<&str>,
    ) -> String {
        let mut args = Vec::new();
        let factory = default.as_deref() == Some("[]");
        match default.as_deref() {
            Some("[]") => args.push("default_factory=list".to_owned()),
            Some(d) => args.push(format!("default={d}")),
            None => {}
        }
        if attr != wire {
            args.push(format!("alias={}", quoted(wire)));
        }
        if let Some(d) = doc.map(str::trim).filter(|d| !d.is_empty()) {
            args.push(format!("description={}", quoted(d)));
        }
        let only_default = args.len() == 1 && default.is_some() && !factory;
        if args.is_empty() {
            format!("{attr}: {ty}")
        } else if only_default {
            format!("{attr}: {ty} = {}", default.unwrap_or_default())
        } else {
            self.imports.pydantic("Field");
            format!("{attr}: {ty} = Field({})", args.join(", "))
        }
    }

    /// A default as a Python literal; `[]` stands for an empty list (a factory).
    fn default_literal(&self, d: &DefaultValue) -> String {
        match d {
            DefaultValue::Str(s) => quoted(s),
            DefaultValue::Bool(true) => "True".into(),
            DefaultValue::Bool(false) => "False".into(),
            DefaultValue::Int(n) => n.to_string(),
            DefaultValue::Num(x) => format!("{x:?}"),
            DefaultValue::EmptyVec => "[]".into(),
            DefaultValue::Variant { ty, variant } => {
                quoted(self.peer.enum_value(ty, variant).unwrap_or(variant))
            }
        }
    }

    /// The Python type of `ty`.
    fn expr(&mut self, ty: &Ty) -> String {
        match ty {
            Ty::Bool => "bool".into(),
            Ty::Int => "int".into(),
            Ty::Num => "float".into(),
            Ty::Str => "str".into(),
            Ty::Unit => "None".into(),
            Ty::Any => {
                self.imports.typing("Any");
                "Any".into()
            }
            Ty::JsonObject => {
                self.imports.typing("Any");
                "dict[str, Any]".into()
            }
            Ty::Vec(t) => format!("list[{}]", self.expr(t)),
            Ty::Map(t) => format!("dict[str, {}]", self.expr(t)),
            Ty::Option(t) => format!("{} | None", self.expr(t)),
            Ty::Named(n) => n.clone(),
            Ty::Checked(t, checks) => self.checked(t, checks),
        }
    }

    /// A type with its constraints: `Literal[…]` for a constant, the pydantic types of the
    /// checked formats, else `Annotated[T, Field(…)]`.
    fn checked(&mut self, ty: &Ty, c: &Checks) -> String {
        if let Some(constant) = &c.constant {
            match constant {
                serde_json::Value::String(s) => {
                    self.imports.typing("Literal");
                    return format!("Literal[{}]", quoted(s));
                }
                serde_json::Value::Bool(b) => {
                    self.imports.typing("Literal");
                    return format!("Literal[{}]", if *b { "True" } else { "False" });
                }
                serde_json::Value::Number(n) if !n.is_f64() => {
                    self.imports.typing("Literal");
                    return format!("Literal[{n}]");
                }
                serde_json::Value::Number(n) => {
                    // `Literal` takes no floats: a range of one value.
                    self.imports.typing("Annotated");
                    self.imports.pydantic("Field");
                    let n = number(n);
                    return format!("Annotated[float, Field(ge={n}, le={n})]");
                }
                _ => return "None".into(),
            }
        }
        let mut args = Vec::new();
        let base = match ty.base() {
            Ty::Str => match c.format.as_deref() {
                // The formats validation asserts, as the types datamodel-codegen gives them.
                Some("date-time") => {
                    self.imports.pydantic("AwareDatetime");
                    return "AwareDatetime".into();
                }
                Some("date") => {
                    self.imports.datetime();
                    return "_dt.date".into();
                }
                Some("time") => {
                    self.imports.datetime();
                    return "_dt.time".into();
                }
                Some("uuid") => {
                    self.imports.uuid();
                    return "_uuid.UUID".into();
                }
                _ => {
                    args.extend(c.min_len.map(|n| format!("min_length={n}")));
                    args.extend(c.max_len.map(|n| format!("max_length={n}")));
                    args.extend(
                        c.pattern
                            .as_deref()
                            .map(|p| format!("pattern={}", quoted(p))),
                    );
                    "str".to_owned()
                }
            },
            t @ (Ty::Int | Ty::Num) => {
                let bounds = [
                    ("ge", &c.minimum),
                    ("le", &c.maximum),
                    ("gt", &c.exclusive_minimum),
                    ("lt", &c.exclusive_maximum),
                    ("multiple_of", &c.multiple_of),
                ];
                for (key, value) in bounds {
                    args.extend(value.as_ref().map(|n| format!("{key}={}", number(n))));
                }
                self.expr(t)
            }
            t @ Ty::Vec(_) => {
                args.extend(c.min_len.map(|n| format!("min_length={n}")));
                args.extend(c.max_len.map(|n| format!("max_length={n}")));
                self.expr(t)
            }
            other => self.expr(other),
        };
        if args.is_empty() {
            base
        } else {
            self.imports.typing("Annotated");
            self.imports.pydantic("Field");
            format!("Annotated[{base}, Field({})]", args.join(", "))
        }
    }
}

/// The types only results and error data reach (through fields, union branches and
/// aliases), not params or event payloads: what a client only reads.
fn result_only(peer: &PeerContract) -> BTreeSet<String> {
    let reach = |starts: Vec<&str>| {
        let mut seen: BTreeSet<String> = BTreeSet::new();
        let mut todo: Vec<String> = starts.into_iter().map(str::to_owned).collect();
        while let Some(name) = todo.pop() {
            if !seen.insert(name.clone()) {
                continue;
            }
            let mut tys: Vec<&Ty> = Vec::new();
            match peer.def(&name) {
                Some(Def::Struct { fields, extra, .. }) => {
                    tys.extend(fields.iter().map(|f| &f.ty));
                    tys.extend(extra.iter());
                }
                Some(Def::Tagged { variants, .. }) => {
                    tys.extend(variants.iter().flat_map(|v| v.fields.iter().map(|f| &f.ty)));
                }
                Some(Def::Untagged { variants, .. }) => tys.extend(variants.iter().map(|(_, t)| t)),
                Some(Def::Alias { ty, .. }) => tys.push(ty),
                Some(Def::StrEnum { .. }) | None => {}
            }
            for ty in tys {
                named_in(ty, &mut todo);
            }
        }
        seen
    };
    let read = reach(
        peer.methods
            .iter()
            .filter_map(|m| m.result.as_deref())
            .chain(peer.errors.iter().filter_map(|e| e.data.as_deref()))
            .collect(),
    );
    let written = reach(
        peer.methods
            .iter()
            .map(|m| m.params.as_str())
            .chain(peer.events.iter().map(|e| e.payload.as_str()))
            .collect(),
    );
    read.difference(&written).cloned().collect()
}

/// The generated types `ty` names, pushed onto `out`.
fn named_in(ty: &Ty, out: &mut Vec<String>) {
    match ty {
        Ty::Named(n) => out.push(n.clone()),
        Ty::Vec(t) | Ty::Map(t) | Ty::Option(t) | Ty::Checked(t, _) => named_in(t, out),
        Ty::Bool | Ty::Int | Ty::Num | Ty::Str | Ty::Unit | Ty::Any | Ty::JsonObject => {}
    }
}
