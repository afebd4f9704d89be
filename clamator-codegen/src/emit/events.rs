//! The events of a contract that has some: a schema constant per payload, `<SERVICE>_EVENTS`,
//! the typed publisher `<Service>Events`, the `<Service>Subscriber` trait and
//! `<service>_subscriber`, which mounts a subscriber as the service clamator-redis's
//! `ServerBuilder::subscribe` takes (named after the publisher, one notification handler
//! per event). Nothing for a contract without events, so its output does not change.

use proc_macro2::{Ident, TokenStream};
use quote::quote;

use super::contract::raw_str;
use super::{docs, ident, Event, Service};
use crate::names::const_ident;

pub(super) fn emit(service: &Service) -> TokenStream {
    if service.events.is_empty() {
        return TokenStream::new();
    }
    let schemas = service.events.iter().map(|e| schema_const(service, e));
    let constant = events_const(service);
    let const_doc = docs(&format!(
        "The events `{}` publishes: payload schemas and their hashes.",
        service.name
    ));
    let infos = service.events.iter().map(|e| {
        let (name, schema, hash) = (&e.wire, &e.payload.constant, &e.payload.hash);
        quote! {
            __c::EventInfo {
                name: #name,
                payload_schema: #schema,
                payload_hash: #hash,
            }
        }
    });
    let publisher = publisher(service);
    let subscriber = subscriber(service);
    quote! {
        #(#schemas)*

        #const_doc
        pub const #constant: &[__c::EventInfo] = &[#(#infos),*];

        #publisher
        #subscriber
    }
}

/// `ORDERS_EVENTS`.
fn events_const(service: &Service) -> Ident {
    ident(&format!("{}_EVENTS", const_ident(&service.name)))
}

/// `pub const ORDER_PLACED_PAYLOAD_SCHEMA: &str = r#"{…}"#;`
fn schema_const(service: &Service, e: &Event) -> TokenStream {
    let doc = docs(&format!(
        "The payload schema of the event `{}.{}` (`$ref`s inlined).",
        service.name, e.wire
    ));
    let constant = &e.payload.constant;
    let json = raw_str(&e.payload.json);
    quote! {
        #doc
        pub const #constant: &str = #json;
    }
}

/// `first`, then the event's description from the contract as a paragraph of its own.
fn with_description(first: String, e: &Event) -> String {
    match e.doc.as_deref().map(str::trim).filter(|d| !d.is_empty()) {
        Some(doc) => format!("{first}\n\n{doc}"),
        None => first,
    }
}

/// `<Service>Events`: one `async fn` per event, the payload checked before it is published.
fn publisher(service: &Service) -> TokenStream {
    let name = &service.name;
    let publisher = ident(&format!("{}Events", service.pascal));
    let constant = events_const(service);
    let doc = docs(&format!(
        "Publishes the events of `{name}`, each payload checked against its schema first (a\n\
         payload that does not conform is refused with `Error::InvalidArgument` naming the\n\
         JSON Pointers, and nothing is published)."
    ));
    let methods = service.events.iter().map(|e| {
        let (wire, method, payload) = (&e.wire, &e.ident, &e.payload_ty);
        let doc = docs(&format!(
            "{}\n\n# Errors\n\nA payload that does not conform to the event's schema (`Error::InvalidArgument`,\nnothing published), or the publisher's failure (Redis unreachable).",
            with_description(
                format!("Publishes the event `{name}.{wire}`; resolves with its id once it is stored."),
                e,
            )
        ));
        quote! {
            #doc
            pub async fn #method(&self, payload: &#payload) -> Result<String, __c::Error> {
                self.events.publish(#wire, payload).await
            }
        }
    });
    quote! {
        #doc
        #[derive(Debug, Clone)]
        pub struct #publisher {
            events: __c::Events,
        }

        impl #publisher {
            /// A publisher over `publisher`: a `clamator_redis::RedisTransport`, the
            /// `clamator_redis::ServerPublisher` of the server a handler runs in, a
            /// `RecordingPublisher` (tests), or a `MemoryTransport` (which hands events to
            /// the in-process subscriber).
            ///
            /// # Errors
            ///
            /// When a payload schema does not compile (generated code always compiles).
            pub fn new(publisher: impl __c::EventPublisher) -> Result<Self, __c::Error> {
                Ok(Self {
                    events: __c::Events::new(#name, #constant, publisher)?,
                })
            }

            #(#methods)*
        }
    }
}

/// `<method>_handler`, the variable holding the handler of `e` in the mount function.
fn handler_var(e: &Event) -> Ident {
    let method = e.ident.to_string();
    ident(&format!("{}_handler", method.trim_start_matches("r#")))
}

/// The `<Service>Subscriber` trait and `<service>_subscriber`.
fn subscriber(service: &Service) -> TokenStream {
    let name = &service.name;
    let subscriber = ident(&format!("{}Subscriber", service.pascal));
    let mount = ident(&format!("{}_subscriber", service.module));
    let trait_doc = docs(&format!(
        "Receives the events of `{name}`: implement the events you want; the others keep\n\
         their default, which does nothing, so they are acknowledged. Mount it with\n\
         [`{mount}`]."
    ));
    let handlers = service.events.iter().map(|e| {
        let (method, payload) = (&e.ident, &e.payload_ty);
        let doc = docs(&with_description(
            format!(
                "Handles the event `{name}.{}`. By default does nothing: the event is\n\
                 acknowledged.",
                e.wire
            ),
            e,
        ));
        quote! {
            #doc
            fn #method(
                &self,
                payload: #payload,
            ) -> impl __c::Future<Output = Result<(), __c::RpcError>> + Send {
                let _ = payload;
                async { Ok(()) }
            }
        }
    });
    let mount_doc = docs(&format!(
        "Builds the service that receives `{name}`'s events on `implementation`, for\n\
         `clamator_redis::ServerBuilder::subscribe` (under the subscriber's own name): named\n\
         `{name}`, with one notification handler per event, each payload validated against\n\
         its schema (an invalid one is dead-lettered, reason `invalid-payload`). Every event\n\
         of the contract is registered, those the implementation leaves at their default\n\
         too: Rust cannot tell which it overrode.\n\n\
         # Errors\n\n\
         When a payload schema does not compile (generated code always compiles)."
    ));
    let bound = service.events.iter().map(|e| {
        let (var, method, payload) = (handler_var(e), &e.ident, &e.payload_ty);
        quote! {
            let #var = {
                let s = __c::Arc::clone(&implementation);
                move |payload: #payload| {
                    let s = __c::Arc::clone(&s);
                    async move { s.#method(payload).await }
                }
            };
        }
    });
    let adds = service.events.iter().map(|e| {
        let (wire, var, schema) = (&e.wire, handler_var(e), &e.payload.constant);
        quote! {
            .add(
                #wire,
                __c::Method::notification(#var)
                    .params_validator(__c::params_validator(#schema)?),
            )
        }
    });
    // No `.contract(…)`: the service is named after the publisher, and a server publishes the
    // contract of what it serves under that name; the events must not stand in for it.
    quote! {
        #trait_doc
        pub trait #subscriber: Send + Sync + 'static {
            #(#handlers)*
        }

        #mount_doc
        pub fn #mount<S: #subscriber>(implementation: S) -> Result<__c::Service, __c::Error> {
            let implementation = __c::Arc::new(implementation);
            #(#bound)*
            __c::Service::builder(#name)
                #(#adds)*
                .build()
        }
    }
}
