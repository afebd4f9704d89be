//! [`ServiceBuilder`]: methods added one by one, names and the declared contract checked
//! when the [`Service`] is built.

use std::collections::BTreeMap;
use std::future::Future;

use serde::de::DeserializeOwned;
use serde::Serialize;

use super::{Method, Service};
use crate::contract::ContractInfo;
use crate::error::{Error, RpcError};
use crate::names;

/// Builds a [`Service`]; see [`Service::builder`].
#[derive(Debug)]
pub struct ServiceBuilder {
    pub(super) name: String,
    pub(super) methods: BTreeMap<String, Method>,
    pub(super) errors: Vec<String>,
    pub(super) contract: Option<&'static ContractInfo>,
}

impl ServiceBuilder {
    /// Adds a request method with a typed handler (see [`Method::new`]).
    #[must_use]
    pub fn method<P, R, F, Fut>(self, name: &str, handler: F) -> Self
    where
        P: DeserializeOwned + Send + 'static,
        R: Serialize + Send + 'static,
        F: Fn(P) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = Result<R, RpcError>> + Send + 'static,
    {
        self.add(name, Method::new(handler))
    }

    /// Adds a notification with a typed handler (see [`Method::notification`]).
    #[must_use]
    pub fn notification<P, F, Fut>(self, name: &str, handler: F) -> Self
    where
        P: DeserializeOwned + Send + 'static,
        F: Fn(P) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = Result<(), RpcError>> + Send + 'static,
    {
        self.add(name, Method::notification(handler))
    }

    /// Adds a prepared [`Method`] (with validators, say).
    #[must_use]
    pub fn add(mut self, name: &str, method: Method) -> Self {
        // Hyphenated names are accepted so a Rust server can serve what Python clients send.
        if !names::is_acceptable_method(name) {
            self.errors.push(format!(
                "invalid method name \"{name}\" (must match ^[a-z][a-zA-Z0-9-]*$)"
            ));
        } else if self.methods.insert(name.to_owned(), method).is_some() {
            self.errors
                .push(format!("method \"{name}\" registered twice"));
        }
        self
    }

    /// Declares the contract this service implements (generated code passes its
    /// `<SERVICE>_CONTRACT`), so a server can publish it for tools and clients to read.
    /// [`build`](Self::build) checks that it names this service and the same methods.
    #[must_use]
    pub fn contract(mut self, contract: &'static ContractInfo) -> Self {
        self.contract = Some(contract);
        self
    }

    /// Finishes the service; fails on an invalid service or method name, a duplicate method,
    /// or a [`contract`](Self::contract) of another service or with other methods.
    pub fn build(self) -> Result<Service, Error> {
        let mut errors = self.errors;
        if let Some(contract) = self.contract {
            let declared: Vec<&str> = contract.methods.iter().map(|m| m.name).collect();
            let served: Vec<&str> = self.methods.keys().map(String::as_str).collect();
            let mut sorted = declared.clone();
            sorted.sort_unstable();
            if contract.service != self.name {
                errors.push(format!(
                    "the contract is of service \"{}\", not \"{}\"",
                    contract.service, self.name
                ));
            } else if sorted != served {
                errors.push(format!(
                    "the contract declares methods {declared:?} but the service has {served:?}"
                ));
            }
        }
        if !names::is_valid_service(&self.name) {
            errors.insert(
                0,
                format!(
                    "invalid service name \"{}\" (must match ^[a-z][a-z0-9-]*$)",
                    self.name
                ),
            );
        }
        if !errors.is_empty() {
            return Err(Error::InvalidArgument(errors.join("; ")));
        }
        Ok(Service {
            name: self.name,
            methods: self.methods,
            show_error_details: false,
            contract: self.contract,
        })
    }
}
