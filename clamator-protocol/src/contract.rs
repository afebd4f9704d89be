//! Contract descriptors: what a service offers, independent of how its handlers are written.

use serde::Serialize;

/// One method of a contract.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct MethodDescriptor {
    /// The wire name of the method (the part after `service.`).
    pub name: String,
    /// True for notifications: no `result`, never answered.
    pub notification: bool,
}

/// A service and its methods, in name order.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ContractDescriptor {
    /// The service name; also the consumer group and the last segment of the command stream.
    pub service: String,
    /// The methods, sorted by name.
    pub methods: Vec<MethodDescriptor>,
}

impl ContractDescriptor {
    /// The method called `name`, if the contract has one.
    pub fn method(&self, name: &str) -> Option<&MethodDescriptor> {
        self.methods.iter().find(|m| m.name == name)
    }
}

/// A contract known at compile time: what generated code exports as `<SERVICE>_CONTRACT`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ContractInfo {
    /// The service name.
    pub service: &'static str,
    /// The methods, in clamator's order.
    pub methods: &'static [MethodInfo],
    /// The events the service publishes (generated code: `<SERVICE>_EVENTS`), in contract
    /// order; empty when it publishes none.
    pub events: &'static [EventInfo],
    /// The application errors the contract declares, in contract order.
    pub errors: &'static [ErrorInfo],
}

/// One event of a contract: what generated code lists in `<SERVICE>_EVENTS`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct EventInfo {
    /// The wire name: the notification is `<service>.<name>`.
    pub name: &'static str,
    /// The payload schema (JSON, `$ref`s inlined).
    pub payload_schema: &'static str,
    /// SHA-256 (lowercase hex) of the payload schema, as in the manifest's `events`.
    pub payload_hash: &'static str,
}

/// One application error a contract declares: a caller reads it back by its code.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ErrorInfo {
    /// Its name in the contract: `OutOfStock`.
    pub name: &'static str,
    /// The JSON-RPC code it is answered with.
    pub code: i64,
    /// The error object's `message`.
    pub message: &'static str,
}

/// One method of a [`ContractInfo`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MethodInfo {
    /// The wire name.
    pub name: &'static str,
    /// True for notifications.
    pub notification: bool,
    /// The params schema (JSON, `$ref`s inlined).
    pub params_schema: &'static str,
    /// The result schema (JSON, `$ref`s inlined); `None` for notifications.
    pub result_schema: Option<&'static str>,
    /// SHA-256 (lowercase hex) of the params schema, as in clamator's manifest.
    pub params_hash: &'static str,
    /// SHA-256 of the result schema; `None` for notifications.
    pub result_hash: Option<&'static str>,
}

impl ContractInfo {
    /// The method called `name`.
    pub fn method(&self, name: &str) -> Option<&MethodInfo> {
        self.methods.iter().find(|m| m.name == name)
    }

    /// The runtime descriptor of this contract.
    pub fn descriptor(&self) -> ContractDescriptor {
        ContractDescriptor {
            service: self.service.to_owned(),
            methods: self
                .methods
                .iter()
                .map(|m| MethodDescriptor {
                    name: m.name.to_owned(),
                    notification: m.notification,
                })
                .collect(),
        }
    }
}
