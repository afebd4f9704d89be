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
