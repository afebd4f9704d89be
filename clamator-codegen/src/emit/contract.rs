//! The contract as data: one constant per params and result schema (validated against at
//! run time), and `<SERVICE>_CONTRACT`, which lists the methods with their schemas and
//! hashes, the events (`<SERVICE>_EVENTS`) and the declared errors.

use std::str::FromStr;

use proc_macro2::{Literal, TokenStream};
use quote::quote;

use super::{docs, ident, Method, Schema, Service};
use crate::names::const_ident;

pub(super) fn emit(service: &Service) -> TokenStream {
    let schemas = service.methods.iter().map(|m| {
        let params = schema_const(service, m, "params", &m.params);
        let result = m
            .result
            .as_ref()
            .map(|r| schema_const(service, m, "result", r));
        quote!(#params #result)
    });
    let constant = ident(&format!("{}_CONTRACT", const_ident(&service.name)));
    let doc = docs(&format!(
        "The `{}` contract: methods, schemas and their hashes, events and declared errors.",
        service.name
    ));
    let name = &service.name;
    let methods = service.methods.iter().map(method_info);
    let events = if service.events.is_empty() {
        quote!(&[])
    } else {
        let events = ident(&format!("{}_EVENTS", const_ident(&service.name)));
        quote!(#events)
    };
    let errors = service.errors.iter().map(|e| {
        let (name, code, message) = (&e.name, Literal::i64_unsuffixed(e.code), &e.message);
        quote! {
            __c::ErrorInfo {
                name: #name,
                code: #code,
                message: #message,
            }
        }
    });
    quote! {
        #(#schemas)*

        #doc
        pub const #constant: __c::ContractInfo = __c::ContractInfo {
            service: #name,
            methods: &[#(#methods),*],
            events: #events,
            errors: &[#(#errors),*],
        };
    }
}

/// `pub const ADD_PARAMS_SCHEMA: &str = r#"{…}"#;`
fn schema_const(service: &Service, method: &Method, kind: &str, schema: &Schema) -> TokenStream {
    let doc = docs(&format!(
        "The {kind} schema of `{}.{}` (`$ref`s inlined).",
        service.name, method.wire
    ));
    let constant = &schema.constant;
    let json = raw_str(&schema.json);
    quote! {
        #doc
        pub const #constant: &str = #json;
    }
}

/// One entry of the contract's `methods`.
fn method_info(m: &Method) -> TokenStream {
    let name = &m.wire;
    let notification = m.notification;
    let params_schema = &m.params.constant;
    let params_hash = &m.params.hash;
    let (result_schema, result_hash) = match &m.result {
        Some(r) => {
            let (constant, hash) = (&r.constant, &r.hash);
            (quote!(Some(#constant)), quote!(Some(#hash)))
        }
        None => (quote!(None), quote!(None)),
    };
    quote! {
        __c::MethodInfo {
            name: #name,
            notification: #notification,
            params_schema: #params_schema,
            result_schema: #result_schema,
            params_hash: #params_hash,
            result_hash: #result_hash,
        }
    }
}

/// `text` as a raw string literal, with enough `#`s: schemas read as JSON, unescaped.
pub(super) fn raw_str(text: &str) -> Literal {
    let mut hashes = 1;
    while text.contains(&format!("\"{}", "#".repeat(hashes))) {
        hashes += 1;
    }
    let h = "#".repeat(hashes);
    // A raw string always lexes; the escaped form is the same string should it not.
    Literal::from_str(&format!("r{h}\"{text}\"{h}")).unwrap_or_else(|_| Literal::string(text))
}
