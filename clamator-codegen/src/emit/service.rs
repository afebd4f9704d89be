//! The server side: the `<Service>Service` trait to implement, and `<service>_service`,
//! which mounts an implementation with params and results validated against the schemas.

use proc_macro2::TokenStream;
use quote::quote;

use super::{docs, ident, with_description, Method, Service};

pub(super) fn emit(service: &Service) -> TokenStream {
    let name = &service.name;
    let service_trait = ident(&format!("{}Service", service.pascal));
    let mount = ident(&format!("{}_service", service.module));
    let trait_doc = docs(&format!(
        "The `{name}` service: implement it, then serve it with [`{mount}`]."
    ));
    let handlers = service.methods.iter().map(|m| handler(service, m));
    let mount_doc = docs(&format!(
        "Builds the `{name}` service on `implementation`, with params and results validated\n\
         against the contract's schemas (-32602 / -32603 when they do not conform).\n\n\
         # Errors\n\n\
         When a schema of the contract does not compile (generated code always compiles)."
    ));
    let handlers_bound = service.methods.iter().map(bind_handler);
    let methods = service.methods.iter().map(add_method);
    let contract = ident(&format!(
        "{}_CONTRACT",
        crate::names::const_ident(&service.name)
    ));
    quote! {
        #trait_doc
        pub trait #service_trait: Send + Sync + 'static {
            #(#handlers)*
        }

        #mount_doc
        pub fn #mount<S: #service_trait>(implementation: S) -> Result<__c::Service, __c::Error> {
            let implementation = __c::Arc::new(implementation);
            #(#handlers_bound)*
            __c::Service::builder(#name)
                #(#methods)*
                .contract(&#contract)
                .build()
        }
    }
}

/// The trait's method for `m`.
fn handler(svc: &Service, m: &Method) -> TokenStream {
    let service = svc.name.as_str();
    let (ident, params) = (&m.ident, &m.params_ty);
    let (what, result) = match &m.result_ty {
        Some(result) => ("", quote!(#result)),
        None => ("the notification ", quote!(())),
    };
    let doc = docs(&with_description(
        format!("Handles {what}`{service}.{}`.", m.wire),
        m,
        svc,
    ));
    quote! {
        #doc
        fn #ident(
            &self,
            params: #params,
        ) -> impl __c::Future<Output = Result<#result, __c::RpcError>> + Send;
    }
}

/// `<method>_handler`, the variable holding the handler of `m` in the mount function:
/// unique, as method identifiers are, and never `implementation`.
fn handler_var(m: &Method) -> proc_macro2::Ident {
    let method = m.ident.to_string();
    ident(&format!("{}_handler", method.trim_start_matches("r#")))
}

/// `let <method>_handler = …;`: a closure calling the implementation's method.
fn bind_handler(m: &Method) -> TokenStream {
    let (var, ident, params) = (handler_var(m), &m.ident, &m.params_ty);
    quote! {
        let #var = {
            let s = __c::Arc::clone(&implementation);
            move |params: #params| {
                let s = __c::Arc::clone(&s);
                async move { s.#ident(params).await }
            }
        };
    }
}

/// `.add("<method>", …)`: the handler as a method or notification, with its validators.
fn add_method(m: &Method) -> TokenStream {
    let (wire, var) = (&m.wire, handler_var(m));
    let constructor = if m.notification {
        quote!(notification)
    } else {
        quote!(new)
    };
    let params_schema = &m.params.constant;
    let result_validator = m.result.as_ref().map(|r| {
        let constant = &r.constant;
        quote!(.result_validator(__c::validator(#constant)?))
    });
    quote! {
        .add(
            #wire,
            __c::Method::#constructor(#var)
                .params_validator(__c::params_validator(#params_schema)?)
                #result_validator,
        )
    }
}
