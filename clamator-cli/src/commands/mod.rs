//! One module per command.

pub(crate) mod acl;
pub(crate) mod call;
pub(crate) mod describe;
pub(crate) mod dlq;
pub(crate) mod events;
pub(crate) mod pending;
pub(crate) mod services;
pub(crate) mod stat;
pub(crate) mod tail;
