//! `<Service>Client`: one `async fn` per method, over any transport.

use proc_macro2::TokenStream;
use quote::quote;

use super::{docs, ident, with_description, Method, Service};

pub(super) fn emit(service: &Service) -> TokenStream {
    let client = ident(&format!("{}Client", service.pascal));
    let doc = docs(&format!(
        "Typed client of the `{}` service, over any transport.",
        service.name
    ));
    let methods = service.methods.iter().map(|m| method(service, m));
    quote! {
        #doc
        #[derive(Debug, Clone)]
        pub struct #client {
            client: __c::Client,
        }

        impl #client {
            /// A client over `transport`: a `ClientTransport` (calls get the transport's
            /// default timeout, else clamator's 30 s) or a configured `Client`.
            #[must_use]
            pub fn new(transport: impl Into<__c::Client>) -> Self {
                Self {
                    client: transport.into(),
                }
            }

            #(#methods)*
        }
    }
}

/// A notification's `fn`, or a call's `fn` and its `_with` variant.
fn method(svc: &Service, m: &Method) -> TokenStream {
    let service = svc.name.as_str();
    let (wire, ident, params) = (&m.wire, &m.ident, &m.params_ty);
    let Some(result) = &m.result_ty else {
        let doc = docs(&format!(
            "{}\n\n# Errors\n\nWhen the notification cannot be queued (Redis unreachable, params that do not\nserialize).",
            with_description(
                format!("Sends the notification `{service}.{wire}`; returns once it is queued."),
                m,
                svc,
            )
        ));
        return quote! {
            #doc
            pub async fn #ident(&self, params: &#params) -> Result<(), __c::Error> {
                self.client.notify(#service, #wire, params).await
            }
        };
    };
    let doc = docs(&format!(
        "{}\n\n# Errors\n\nThe call's failure: the service's error (`Error::Rpc`, a declared one readable with\n`from_error`), a timeout, Redis unreachable, or an answer that does not decode.",
        with_description(format!("Calls `{service}.{wire}`."), m, svc)
    ));
    let with_doc = docs(&format!(
        "Calls `{service}.{wire}` with per-call options (a timeout).\n\n# Errors\n\nAs [`Self::{ident}`]."
    ));
    let with_ident = &m.with_ident;
    quote! {
        #doc
        pub async fn #ident(&self, params: &#params) -> Result<#result, __c::Error> {
            self.client.call(#service, #wire, params).await
        }

        #with_doc
        pub async fn #with_ident(
            &self,
            params: &#params,
            options: __c::CallOptions,
        ) -> Result<#result, __c::Error> {
            self.client.call_with(#service, #wire, params, options).await
        }
    }
}
