//! The types: params, results and the `$defs` they use, with serde attributes that keep
//! the wire names, and the functions that supply defaults.

use std::collections::{HashMap, HashSet};

use proc_macro2::{Literal, TokenStream};
use quote::quote;

use super::{docs, ident};
use crate::lower::{Def, DefaultValue, Field, Ty};

/// Where generated code finds serde: through `clamator_protocol`, so users need not depend
/// on it.
const SERDE_CRATE: &str = "::clamator_protocol::__codegen::serde";

/// Every type definition, in order. `root_docs` documents the params and result types whose
/// schemas have no `description`.
///
/// Structs ignore unknown keys when decoding, so a client keeps working when a server adds a
/// result field; params are still held to `additionalProperties: false` by the server's
/// schema validation. Only the structs that are alternatives of an untagged union keep
/// `deny_unknown_fields`: there, an unknown key is what tells one alternative from another.
pub(super) fn emit(defs: &[Def], root_docs: &HashMap<String, String>) -> TokenStream {
    let alternatives: HashSet<&str> = defs
        .iter()
        .filter_map(|d| match d {
            Def::Untagged { variants, .. } => Some(variants),
            _ => None,
        })
        .flatten()
        .filter_map(|(_, ty)| named(ty))
        .collect();
    let defs = defs
        .iter()
        .map(|d| def(d, root_docs.get(d.name()), alternatives.contains(d.name())));
    quote!(#(#defs)*)
}

/// The generated type `ty` is, through any `Option`.
fn named(ty: &Ty) -> Option<&str> {
    match ty {
        Ty::Named(n) => Some(n),
        Ty::Option(t) | Ty::Checked(t, _) => named(t),
        _ => None,
    }
}

fn def(def: &Def, root_doc: Option<&String>, union_alternative: bool) -> TokenStream {
    let doc_or = |doc: &Option<String>, fallback: String| {
        docs(&doc.clone().or(root_doc.cloned()).unwrap_or(fallback))
    };
    match def {
        Def::Struct {
            name,
            doc,
            fields,
            deny_unknown,
            extra,
        } => {
            let doc = doc_or(doc, format!("The `{name}` type."));
            let strict = *deny_unknown && union_alternative;
            let serde = serde_attr(strict.then(|| quote!(deny_unknown_fields)));
            let ident = ident(name);
            let constructors = constructors(name, fields, extra.is_some());
            let field_tokens = fields.iter().map(|f| field(name, f, quote!(pub)));
            let extra = extra.as_ref().map(|ty| {
                let ty = rust_type(ty);
                quote! {
                    #[doc = " Properties not listed in the schema."]
                    #[serde(flatten)]
                    pub additional_properties: __c::BTreeMap<String, #ty>,
                }
            });
            let defaults = default_fns(name, fields);
            quote! {
                #doc
                #[derive(Debug, Clone, PartialEq, __c::serde::Serialize, __c::serde::Deserialize)]
                #serde
                pub struct #ident {
                    #(#field_tokens)*
                    #extra
                }
                #constructors
                #defaults
            }
        }
        Def::StrEnum {
            name,
            doc,
            variants,
        } => {
            let doc = doc_or(doc, format!("The `{name}` values."));
            let serde = serde_attr(None);
            let ident = ident(name);
            let variants = variants.iter().map(|(wire, variant)| {
                let doc = docs(&format!("`{wire:?}`."));
                let variant = super::ident(variant);
                quote! {
                    #doc
                    #[serde(rename = #wire)]
                    #variant,
                }
            });
            quote! {
                #doc
                #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
                #[derive(__c::serde::Serialize, __c::serde::Deserialize)]
                #serde
                pub enum #ident {
                    #(#variants)*
                }
            }
        }
        Def::Tagged {
            name,
            doc,
            tag,
            variants,
        } => {
            let doc = doc_or(doc, format!("The `{name}` union, told apart by `{tag}`."));
            let serde = serde_attr(Some(quote!(tag = #tag)));
            let ident = ident(name);
            let variant_tokens = variants.iter().map(|v| {
                let (value, variant, fields) = (&v.value, &v.ident, &v.fields);
                let doc = docs(&format!("`{tag}: {value:?}`."));
                let owner = format!("{name}{variant}");
                let fields = fields.iter().map(|f| field(&owner, f, quote!()));
                let variant = super::ident(variant);
                quote! {
                    #doc
                    #[serde(rename = #value)]
                    #variant {
                        #(#fields)*
                    },
                }
            });
            let defaults = variants
                .iter()
                .map(|v| default_fns(&format!("{name}{}", v.ident), &v.fields));
            quote! {
                #doc
                #[derive(Debug, Clone, PartialEq, __c::serde::Serialize, __c::serde::Deserialize)]
                #serde
                pub enum #ident {
                    #(#variant_tokens)*
                }
                #(#defaults)*
            }
        }
        Def::Untagged {
            name,
            doc,
            variants,
        } => {
            let doc = doc_or(
                doc,
                format!("The `{name}` union (the first alternative that fits)."),
            );
            let serde = serde_attr(Some(quote!(untagged)));
            let ident = ident(name);
            let variants = variants.iter().map(|(variant, ty)| {
                let doc = docs(&format!("A `{}`.", type_text(ty)));
                let variant = super::ident(variant);
                let ty = rust_type(ty);
                quote! {
                    #doc
                    #variant(#ty),
                }
            });
            quote! {
                #doc
                #[derive(Debug, Clone, PartialEq, __c::serde::Serialize, __c::serde::Deserialize)]
                #serde
                pub enum #ident {
                    #(#variants)*
                }
            }
        }
        Def::Alias { name, doc, ty } => {
            let doc = doc_or(doc, format!("The `{name}` type."));
            let ident = ident(name);
            let ty = rust_type(ty);
            quote! {
                #doc
                pub type #ident = #ty;
            }
        }
    }
}

/// `new` taking the required fields (the others start absent or at their default), and
/// `Default` when no field is required: so a caller's code keeps compiling when a contract
/// gains an optional property.
fn constructors(owner: &str, fields: &[Field], extra: bool) -> TokenStream {
    let ty = ident(owner);
    let required: Vec<&Field> = fields.iter().filter(|f| !f.optional).collect();
    // A string takes anything that becomes one, so `new("sku-1", 2)` needs no `.into()`.
    let is_string = |ty: &Ty| match ty {
        Ty::Str => true,
        Ty::Checked(inner, _) => matches!(**inner, Ty::Str),
        _ => false,
    };
    let params = required.iter().map(|f| {
        let name = ident(&f.ident);
        if is_string(&f.ty) {
            quote!(#name: impl Into<String>)
        } else {
            let ty = rust_type(&f.ty);
            quote!(#name: #ty)
        }
    });
    let inits = fields.iter().map(|f| {
        let name = ident(&f.ident);
        if !f.optional && is_string(&f.ty) {
            quote!(#name: #name.into())
        } else if !f.optional {
            quote!(#name)
        } else if f.default.is_some() {
            let function = ident(&default_fn(owner, f));
            quote!(#name: #function())
        } else {
            quote!(#name: None)
        }
    });
    let extra = extra.then(|| quote!(additional_properties: __c::BTreeMap::new(),));
    let names: Vec<String> = required.iter().map(|f| format!("`{}`", f.wire)).collect();
    let doc = docs(
        &match (required.is_empty(), required.len() == fields.len()) {
            (true, _) => format!("Builds `{owner}` with every property absent or at its default."),
            (false, true) => format!(
                "Builds `{owner}` from its properties ({}).",
                names.join(", ")
            ),
            (false, false) => format!(
                "Builds `{owner}` from its required properties ({}); the others start absent or \
             at their default.",
                names.join(", ")
            ),
        },
    );
    // Clippy's limit; a contract decides how many required properties there are.
    let allow = (required.len() > 7).then(|| quote!(#[allow(clippy::too_many_arguments)]));
    let default = required.is_empty().then(|| {
        quote! {
            impl Default for #ty {
                fn default() -> Self {
                    Self::new()
                }
            }
        }
    });
    quote! {
        impl #ty {
            #doc
            #allow
            #[must_use]
            pub fn new(#(#params),*) -> Self {
                Self {
                    #(#inits,)*
                    #extra
                }
            }
        }
        #default
    }
}

/// `#[serde(crate = "…", <extra>)]`.
fn serde_attr(extra: Option<TokenStream>) -> TokenStream {
    let extra = extra.map(|e| quote!(, #e));
    quote!(#[serde(crate = #SERDE_CRATE #extra)])
}

/// A field of a struct (`vis` = `pub`) or of a tagged union's variant (no `vis`).
fn field(owner: &str, f: &Field, vis: TokenStream) -> TokenStream {
    let doc = docs(
        f.doc
            .as_deref()
            .unwrap_or(&format!("The `{}` property.", f.wire)),
    );
    let mut serde = Vec::new();
    if f.ident.trim_start_matches("r#") != f.wire {
        let wire = &f.wire;
        serde.push(quote!(rename = #wire));
    }
    if f.default.is_some() {
        let function = default_fn(owner, f);
        serde.push(quote!(default = #function));
    } else if f.optional {
        serde.push(quote!(default));
        serde.push(quote!(skip_serializing_if = "Option::is_none"));
    }
    let serde = (!serde.is_empty()).then(|| quote!(#[serde(#(#serde),*)]));
    let ident = ident(&f.ident);
    let ty = rust_type(&f.ty);
    quote! {
        #doc
        #serde
        #vis #ident: #ty,
    }
}

/// The name of the function that supplies the default of `owner`'s `field`.
fn default_fn(owner: &str, field: &Field) -> String {
    format!(
        "default_{}_{}",
        heck::ToSnakeCase::to_snake_case(owner),
        field.ident.trim_start_matches("r#")
    )
}

/// The functions serde calls for absent fields that have a default.
fn default_fns(owner: &str, fields: &[Field]) -> TokenStream {
    let functions = fields.iter().filter_map(|f| {
        let value = default_value(f.default.as_ref()?);
        let function = ident(&default_fn(owner, f));
        let ty = rust_type(&f.ty);
        Some(quote! {
            fn #function() -> #ty {
                #value
            }
        })
    });
    quote!(#(#functions)*)
}

fn default_value(value: &DefaultValue) -> TokenStream {
    match value {
        DefaultValue::Str(s) => quote!(#s.to_owned()),
        DefaultValue::Bool(b) => quote!(#b),
        DefaultValue::Int(n) => {
            let abs = Literal::u64_unsuffixed(n.unsigned_abs());
            if *n < 0 {
                quote!(-#abs)
            } else {
                quote!(#abs)
            }
        }
        DefaultValue::Num(x) => {
            // JSON numbers are finite, as `f64_unsuffixed` requires.
            let abs = Literal::f64_unsuffixed(x.abs());
            if x.is_sign_negative() && *x != 0.0 {
                quote!(-#abs)
            } else {
                quote!(#abs)
            }
        }
        DefaultValue::EmptyVec => quote!(Vec::new()),
        DefaultValue::Variant { ty, variant } => {
            let (ty, variant) = (ident(ty), ident(variant));
            quote!(#ty::#variant)
        }
    }
}

/// The Rust type of `ty`.
fn rust_type(ty: &Ty) -> TokenStream {
    match ty {
        Ty::Bool => quote!(bool),
        Ty::Int => quote!(i64),
        Ty::Num => quote!(f64),
        Ty::Str => quote!(String),
        Ty::Unit => quote!(()),
        Ty::Any => quote!(__c::serde_json::Value),
        Ty::JsonObject => quote!(__c::serde_json::Map<String, __c::serde_json::Value>),
        Ty::Vec(t) => {
            let t = rust_type(t);
            quote!(Vec<#t>)
        }
        Ty::Map(t) => {
            let t = rust_type(t);
            quote!(__c::BTreeMap<String, #t>)
        }
        Ty::Option(t) => {
            let t = rust_type(t);
            quote!(Option<#t>)
        }
        Ty::Named(n) => {
            let n = ident(n);
            quote!(#n)
        }
        Ty::Checked(t, _) => rust_type(t),
    }
}

/// [`rust_type`] as it reads in a doc comment.
fn type_text(ty: &Ty) -> String {
    match ty {
        Ty::Bool => "bool".into(),
        Ty::Int => "i64".into(),
        Ty::Num => "f64".into(),
        Ty::Str => "String".into(),
        Ty::Unit => "()".into(),
        Ty::Any => "__c::serde_json::Value".into(),
        Ty::JsonObject => "__c::serde_json::Map<String, __c::serde_json::Value>".into(),
        Ty::Vec(t) => format!("Vec<{}>", type_text(t)),
        Ty::Map(t) => format!("__c::BTreeMap<String, {}>", type_text(t)),
        Ty::Option(t) => format!("Option<{}>", type_text(t)),
        Ty::Named(n) => n.clone(),
        Ty::Checked(t, _) => type_text(t),
    }
}
