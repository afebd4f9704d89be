//! [`Method`]: a typed handler erased to JSON in, JSON out, with its validators; panics
//! caught and failures kept apart so [`Service`](super::Service) can answer each its way.

use std::future::Future;
use std::panic::AssertUnwindSafe;
use std::sync::Arc;

use futures_util::FutureExt as _;
use serde::de::DeserializeOwned;
use serde::Serialize;
use serde_json::value::RawValue;
use serde_json::Value;

use super::decode::decode;
use super::{BoxFuture, Validator};
use crate::error::{RpcError, ValidationIssue};

pub(super) enum Failure {
    InvalidParams(Vec<ValidationIssue>),
    Rpc(RpcError),
    Panicked(String),
    InvalidResult(Vec<ValidationIssue>),
}

type ErasedHandler = dyn Fn(Value) -> BoxFuture<'static, Result<Value, Failure>> + Send + Sync;

/// The typed path: params decoded straight from their text, the result written straight to
/// text, with whether the result validator (given) is sure of the result. `None` when the
/// text does not decode into the params type (the `Value` path then decides, with its
/// messages).
type TextHandler = dyn Fn(&str, Option<Arc<dyn Validator>>) -> Option<BoxFuture<'static, Result<Written, Failure>>>
    + Send
    + Sync;

/// A result written by the typed path: its text, and whether the result validator is
/// already sure of it.
pub(super) struct Written {
    pub(super) text: Box<RawValue>,
    pub(super) sure: bool,
}

/// One method of a service: its handler, whether it is a notification, and optional
/// schema validators for params and result.
#[derive(Clone)]
pub struct Method {
    pub(super) handler: Arc<ErasedHandler>,
    pub(super) text_handler: Option<Arc<TextHandler>>,
    pub(super) notification: bool,
    pub(super) params_validator: Option<Arc<dyn Validator>>,
    pub(super) result_validator: Option<Arc<dyn Validator>>,
}

impl std::fmt::Debug for Method {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Method")
            .field("notification", &self.notification)
            .field("params_validator", &self.params_validator.is_some())
            .field("result_validator", &self.result_validator.is_some())
            .finish_non_exhaustive()
    }
}

impl Method {
    /// A request method: `handler` takes the decoded params and returns the result or an
    /// [`RpcError`] to answer with.
    pub fn new<P, R, F, Fut>(handler: F) -> Self
    where
        P: DeserializeOwned + Send + 'static,
        R: Serialize + Send + 'static,
        F: Fn(P) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = Result<R, RpcError>> + Send + 'static,
    {
        let handler = Arc::new(handler);
        let typed = Arc::clone(&handler);
        let mut method = Self::erased(false, move |params: Value| {
            let handler = Arc::clone(&handler);
            Box::pin(async move {
                let params: P = decode(params).map_err(Failure::InvalidParams)?;
                let result = guarded(handler(params)).await?.map_err(Failure::Rpc)?;
                serde_json::to_value(result).map_err(unserializable)
            })
        });
        method.text_handler = Some(Arc::new(
            move |text: &str, check: Option<Arc<dyn Validator>>| {
                let params: P = serde_json::from_str(text).ok()?;
                let handler = Arc::clone(&typed);
                Some(Box::pin(async move {
                    let result = guarded(handler(params)).await?.map_err(Failure::Rpc)?;
                    let sure = check
                        .as_deref()
                        .and_then(Validator::as_schema)
                        .is_some_and(|v| v.surely_accepts_value(&result));
                    let text = serde_json::value::to_raw_value(&result).map_err(unserializable)?;
                    Ok(Written { text, sure })
                }) as BoxFuture<'static, _>)
            },
        ));
        method
    }

    /// A notification: `handler` takes the decoded params; nothing is ever answered. An
    /// [`RpcError`] it returns is logged at debug level and otherwise dropped.
    pub fn notification<P, F, Fut>(handler: F) -> Self
    where
        P: DeserializeOwned + Send + 'static,
        F: Fn(P) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = Result<(), RpcError>> + Send + 'static,
    {
        let handler = Arc::new(handler);
        let typed = Arc::clone(&handler);
        let mut method = Self::erased(true, move |params: Value| {
            let handler = Arc::clone(&handler);
            Box::pin(async move {
                let params: P = decode(params).map_err(Failure::InvalidParams)?;
                guarded(handler(params)).await?.map_err(Failure::Rpc)?;
                Ok(Value::Null)
            })
        });
        method.text_handler = Some(Arc::new(move |text: &str, _| {
            let params: P = serde_json::from_str(text).ok()?;
            let handler = Arc::clone(&typed);
            Some(Box::pin(async move {
                guarded(handler(params)).await?.map_err(Failure::Rpc)?;
                Ok(Written {
                    // `null`, never sent: notifications are not answered.
                    text: Box::<RawValue>::default(),
                    sure: true,
                })
            }) as BoxFuture<'static, _>)
        }));
        method
    }

    fn erased(
        notification: bool,
        f: impl Fn(Value) -> BoxFuture<'static, Result<Value, Failure>> + Send + Sync + 'static,
    ) -> Self {
        Self {
            handler: Arc::new(f),
            text_handler: None,
            notification,
            params_validator: None,
            result_validator: None,
        }
    }

    /// Checks params with `validator` before they are decoded (failure → -32602).
    #[must_use]
    pub fn params_validator(mut self, validator: impl Validator) -> Self {
        self.params_validator = Some(Arc::new(validator));
        self
    }

    /// Checks results with `validator` before they are sent (failure → -32603
    /// "Result validation failed").
    #[must_use]
    pub fn result_validator(mut self, validator: impl Validator) -> Self {
        self.result_validator = Some(Arc::new(validator));
        self
    }

    /// True for notifications.
    pub fn is_notification(&self) -> bool {
        self.notification
    }
}

/// A result that does not serialize (a map with keys that are not strings, say).
fn unserializable(e: serde_json::Error) -> Failure {
    Failure::InvalidResult(vec![ValidationIssue::new("", e.to_string())])
}

/// Runs a handler future, turning a panic into a failure so one bad handler cannot take the
/// server down.
async fn guarded<T>(fut: impl Future<Output = T>) -> Result<T, Failure> {
    AssertUnwindSafe(fut)
        .catch_unwind()
        .await
        .map_err(|payload| {
            let msg = payload
                .downcast_ref::<&str>()
                .map(|s| (*s).to_owned())
                .or_else(|| payload.downcast_ref::<String>().cloned())
                .unwrap_or_else(|| "handler panicked".to_owned());
            Failure::Panicked(msg)
        })
}
