//! The IR: Rust types as the emitters print them.

/// A Rust type as used in a field or alias.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Ty {
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
    /// `T` with the schema's assertions beyond its type (bounds, lengths, `pattern`,
    /// `format`, `const`). Rust leaves them to schema validation and prints `T`; the Python
    /// and TypeScript emitters carry them over. Never wraps an `Option` or a `Named` type.
    Checked(Box<Ty>, Box<Checks>),
}

/// The assertions of one schema beyond its type, as written (numbers keep their JSON form,
/// so `1000000` prints as it was written).
#[derive(Debug, Clone, PartialEq, Default)]
pub(crate) struct Checks {
    /// `const`: the only value allowed (a scalar).
    pub(crate) constant: Option<serde_json::Value>,
    /// `minimum`.
    pub(crate) minimum: Option<serde_json::Number>,
    /// `maximum`.
    pub(crate) maximum: Option<serde_json::Number>,
    /// `exclusiveMinimum` (draft 7: a number).
    pub(crate) exclusive_minimum: Option<serde_json::Number>,
    /// `exclusiveMaximum` (draft 7: a number).
    pub(crate) exclusive_maximum: Option<serde_json::Number>,
    /// `multipleOf`.
    pub(crate) multiple_of: Option<serde_json::Number>,
    /// `minLength` of a string, `minItems` of an array.
    pub(crate) min_len: Option<u64>,
    /// `maxLength` of a string, `maxItems` of an array.
    pub(crate) max_len: Option<u64>,
    /// `pattern` (ECMA-262, unanchored).
    pub(crate) pattern: Option<String>,
    /// `format`.
    pub(crate) format: Option<String>,
}

impl Checks {
    /// True when there is nothing to check.
    pub(crate) fn is_empty(&self) -> bool {
        *self == Self::default()
    }
}

/// The `default` of an optional property.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum DefaultValue {
    /// A string.
    Str(String),
    /// A boolean.
    Bool(bool),
    /// An integer.
    Int(i64),
    /// A number.
    Num(f64),
    /// `[]`.
    EmptyVec,
    /// A value of a generated string enum: `Type::Variant`.
    Variant {
        /// The enum.
        ty: String,
        /// The variant.
        variant: String,
    },
}

/// A struct field.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Field {
    /// The key on the wire.
    pub(crate) wire: String,
    /// The Rust field name (may be a raw identifier, `r#type`).
    pub(crate) ident: String,
    /// Its type; `Option` for optional fields.
    pub(crate) ty: Ty,
    /// True when the key may be absent (then `ty` is an `Option`, or `default` is set).
    pub(crate) optional: bool,
    /// True when the schema allows `null` (an optional field's `Option` alone does not say).
    pub(crate) nullable: bool,
    /// The value of an absent key, for optional fields with a `default`.
    pub(crate) default: Option<DefaultValue>,
    /// The schema's description.
    pub(crate) doc: Option<String>,
}

/// One branch of a [`Def::Tagged`] union.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct TaggedVariant {
    /// The tag's value in this branch.
    pub(crate) value: String,
    /// The variant's identifier: `Circle` for `circle`.
    pub(crate) ident: String,
    /// The branch's fields, the tag left out.
    pub(crate) fields: Vec<Field>,
    /// The branch says `additionalProperties: false`.
    pub(crate) deny_unknown: bool,
}

/// A generated type definition.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Def {
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
        /// One per branch.
        variants: Vec<TaggedVariant>,
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
    pub(crate) fn name(&self) -> &str {
        match self {
            Def::Struct { name, .. }
            | Def::StrEnum { name, .. }
            | Def::Tagged { name, .. }
            | Def::Untagged { name, .. }
            | Def::Alias { name, .. } => name,
        }
    }
}

impl Ty {
    /// The variant name of an untagged union's alternative of this type.
    pub(crate) fn variant_name(&self) -> String {
        match self {
            Self::Bool => "Bool".into(),
            Self::Int => "Integer".into(),
            Self::Num => "Number".into(),
            Self::Str => "String".into(),
            Self::Unit => "Null".into(),
            Self::Any => "Any".into(),
            Self::JsonObject | Self::Map(_) => "Object".into(),
            Self::Vec(_) => "Array".into(),
            Self::Option(t) => t.variant_name(),
            Self::Named(n) => n.clone(),
            Self::Checked(t, _) => t.variant_name(),
        }
    }

    /// The type without its [`Checks`].
    pub(crate) fn base(&self) -> &Ty {
        match self {
            Self::Checked(t, _) => t.base(),
            other => other,
        }
    }
}
