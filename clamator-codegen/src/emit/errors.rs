//! `<Service>Error`: the application errors a contract declares, one variant each. Handlers
//! return them (`Err(OrdersError::OutOfStock(data).into())`, or `?` on a
//! `Result<_, OrdersError>`); callers read them back with `from_error`. On the wire they are
//! ordinary JSON-RPC error objects, so Python and TypeScript peers see `code`, `message` and
//! `data` as from any server.
//!
//! The enum is deliberately not a `std::error::Error`: `RpcError` converts from every such
//! error into a hidden `-32603`, and this one must convert into its own code instead.

use proc_macro2::{Literal, TokenStream};
use quote::quote;

use super::{docs, ident, Service};

pub(super) fn emit(service: &Service) -> TokenStream {
    if service.errors.is_empty() {
        return TokenStream::new();
    }
    let name = ident(&format!("{}Error", service.pascal));
    let doc = docs(&format!(
        "The errors the `{}` service declares, besides its results. A handler returns one with\n\
         `Err(e.into())` (or `?`); a caller reads it back with [`{name}::from_error`]. Other\n\
         errors pass through as plain `RpcError`s.",
        service.name
    ));
    let variants = service.errors.iter().map(|e| {
        let mut text = format!("`{}` {:?}.", e.code, e.message);
        if let Some(d) = e.doc.as_deref().map(str::trim).filter(|d| !d.is_empty()) {
            text = format!("{text}\n\n{d}");
        }
        let doc = docs(&text);
        let variant = ident(&e.name);
        match &e.data_ty {
            Some(ty) => quote!(#doc #variant(#ty),),
            None => quote!(#doc #variant,),
        }
    });
    let codes = service.errors.iter().map(|e| {
        let (variant, code) = (ident(&e.name), Literal::i64_unsuffixed(e.code));
        let fields = e.data_ty.as_ref().map(|_| quote!((_)));
        quote!(Self::#variant #fields => #code,)
    });
    let messages = service.errors.iter().map(|e| {
        let (variant, message) = (ident(&e.name), &e.message);
        let fields = e.data_ty.as_ref().map(|_| quote!((_)));
        quote!(Self::#variant #fields => #message,)
    });
    let readers = service.errors.iter().map(|e| {
        let (variant, code) = (ident(&e.name), Literal::i64_unsuffixed(e.code));
        match &e.data_ty {
            Some(_) => quote! {
                #code => __c::serde_json::from_value(e.data.clone()).ok().map(Self::#variant),
            },
            None => quote!(#code => Some(Self::#variant),),
        }
    });
    let into_wire = service.errors.iter().map(|e| {
        let variant = ident(&e.name);
        match &e.data_ty {
            Some(_) => quote! {
                #name::#variant(data) => {
                    __c::RpcError::new(code, message).with_data(__c::serde_json::to_value(data).unwrap_or_default())
                }
            },
            None => quote!(#name::#variant => __c::RpcError::new(code, message),),
        }
    });
    quote! {
        #doc
        #[derive(Debug, Clone, PartialEq)]
        pub enum #name {
            #(#variants)*
        }

        impl #name {
            /// The error's JSON-RPC code.
            #[must_use]
            pub fn code(&self) -> i64 {
                match self {
                    #(#codes)*
                }
            }

            /// The error object's `message`.
            #[must_use]
            pub fn message(&self) -> &'static str {
                match self {
                    #(#messages)*
                }
            }

            /// The declared error `e` is, if it is one: `None` for another code, or for data
            /// that does not fit the declared schema.
            #[must_use]
            pub fn from_rpc(e: &__c::RpcError) -> Option<Self> {
                match e.code {
                    #(#readers)*
                    _ => None,
                }
            }

            /// The declared error a call failed with, if it failed with one.
            #[must_use]
            pub fn from_error(e: &__c::Error) -> Option<Self> {
                match e {
                    __c::Error::Rpc(rpc) => Self::from_rpc(rpc),
                    _ => None,
                }
            }
        }

        impl ::std::fmt::Display for #name {
            fn fmt(&self, f: &mut ::std::fmt::Formatter<'_>) -> ::std::fmt::Result {
                write!(f, "{} (code {})", self.message(), self.code())
            }
        }

        impl From<#name> for __c::RpcError {
            fn from(e: #name) -> Self {
                let (code, message) = (e.code(), e.message());
                match e {
                    #(#into_wire)*
                }
            }
        }
    }
}
