//! The server core: services, their methods, and dispatch in clamator's validation order.
//!
//! For each request or notification a [`Service`] does, in this order (clamator's):
//! 1. unknown method → `-32601 Method not found` (notifications: dropped);
//! 2. params checked by the method's validator, then decoded into the handler's type;
//!    either failing → `-32602 Invalid params` with `{"errors": [{"path", "message"}]}`;
//! 3. the handler runs; an [`RpcError`] it returns is passed through unchanged, a panic
//!    becomes `-32603 Internal error`;
//! 4. notifications are never answered;
//! 5. the result is serialized and checked by the result validator; failing →
//!    `-32603 Result validation failed`.

use std::collections::BTreeMap;
use std::future::Future;
use std::panic::AssertUnwindSafe;
use std::pin::Pin;
use std::sync::Arc;

use futures_util::FutureExt as _;
use serde::de::DeserializeOwned;
use serde::Serialize;
use serde_json::Value;

use crate::contract::{ContractDescriptor, ContractInfo, MethodDescriptor};
use crate::envelope::{Envelope, Response, RpcId};
use crate::error::{Error, RpcError, ValidationIssue};
use crate::names;

/// A boxed, `Send` future, the return type of object-safe async traits here.
pub type BoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// Checks a JSON value against a schema; generated code plugs JSON Schema validators in here.
///
/// Any `Fn(&Value) -> Result<(), Vec<ValidationIssue>>` is a validator.
pub trait Validator: Send + Sync + 'static {
    /// `Ok` when `value` conforms, otherwise everything found wrong with it.
    fn validate(&self, value: &Value) -> Result<(), Vec<ValidationIssue>>;
}

impl<F> Validator for F
where
    F: Fn(&Value) -> Result<(), Vec<ValidationIssue>> + Send + Sync + 'static,
{
    fn validate(&self, value: &Value) -> Result<(), Vec<ValidationIssue>> {
        self(value)
    }
}

enum Failure {
    InvalidParams(Vec<ValidationIssue>),
    Rpc(RpcError),
    Panicked(String),
    InvalidResult(Vec<ValidationIssue>),
}

type ErasedHandler = dyn Fn(Value) -> BoxFuture<'static, Result<Value, Failure>> + Send + Sync;

/// One method of a service: its handler, whether it is a notification, and optional
/// schema validators for params and result.
#[derive(Clone)]
pub struct Method {
    handler: Arc<ErasedHandler>,
    notification: bool,
    params_validator: Option<Arc<dyn Validator>>,
    result_validator: Option<Arc<dyn Validator>>,
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
        Self::erased(false, move |params: Value| {
            let handler = Arc::clone(&handler);
            Box::pin(async move {
                let params: P = decode(params).map_err(Failure::InvalidParams)?;
                let result = guarded(handler(params)).await?.map_err(Failure::Rpc)?;
                serde_json::to_value(result).map_err(|e| {
                    Failure::InvalidResult(vec![ValidationIssue::new("", e.to_string())])
                })
            })
        })
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
        Self::erased(true, move |params: Value| {
            let handler = Arc::clone(&handler);
            Box::pin(async move {
                let params: P = decode(params).map_err(Failure::InvalidParams)?;
                guarded(handler(params)).await?.map_err(Failure::Rpc)?;
                Ok(Value::Null)
            })
        })
    }

    fn erased(
        notification: bool,
        f: impl Fn(Value) -> BoxFuture<'static, Result<Value, Failure>> + Send + Sync + 'static,
    ) -> Self {
        Self {
            handler: Arc::new(f),
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

/// Decodes params into the handler's type, reporting where decoding failed as a JSON Pointer.
///
/// Peers may write integers as `5.0` (Python floats, JavaScript numbers); when decoding
/// fails, integral floats are turned into integers and decoding is tried once more. Float
/// fields take integers anyway, so this only ever helps.
fn decode<P: DeserializeOwned>(params: Value) -> Result<P, Vec<ValidationIssue>> {
    if let Ok(p) = P::deserialize(&params) {
        return Ok(p);
    }
    let mut normalized = params;
    integralize(&mut normalized);
    serde_path_to_error::deserialize(normalized).map_err(|e| {
        let mut pointer = String::new();
        for seg in e.path().iter() {
            use serde_path_to_error::Segment;
            match seg {
                Segment::Seq { index } => pointer.push_str(&format!("/{index}")),
                Segment::Map { key } => {
                    pointer.push('/');
                    pointer.push_str(&key.replace('~', "~0").replace('/', "~1"));
                }
                Segment::Enum { .. } | Segment::Unknown => {}
            }
        }
        vec![ValidationIssue::new(
            pointer,
            plain_words(&e.inner().to_string()),
        )]
    })
}

/// serde's message with Rust type names (`expected i64`) said in the caller's terms: the
/// caller wrote JSON, perhaps from Python or TypeScript.
fn plain_words(message: &str) -> String {
    const TYPES: [(&str, &str); 10] = [
        ("expected i64", "expected an integer that fits in 64 bits"),
        (
            "expected u64",
            "expected a non-negative integer that fits in 64 bits",
        ),
        ("expected i32", "expected an integer that fits in 32 bits"),
        (
            "expected u32",
            "expected a non-negative integer that fits in 32 bits",
        ),
        ("expected i16", "expected an integer that fits in 16 bits"),
        (
            "expected u16",
            "expected a non-negative integer that fits in 16 bits",
        ),
        ("expected i8", "expected an integer that fits in 8 bits"),
        (
            "expected u8",
            "expected a non-negative integer that fits in 8 bits",
        ),
        ("expected f64", "expected a number"),
        ("expected f32", "expected a number"),
    ];
    TYPES.iter().fold(message.to_owned(), |m, (rust, plain)| {
        m.replace(rust, plain)
    })
}

/// Turns every float with no fraction (within ±2^53) into an integer.
fn integralize(v: &mut Value) {
    match v {
        Value::Number(n) if !n.is_i64() && !n.is_u64() => match n.as_f64() {
            Some(f) if f.fract() == 0.0 && f.abs() <= 9_007_199_254_740_992.0 => {
                // The range check makes the cast exact.
                *v = Value::from(f as i64);
            }
            _ => {}
        },
        Value::Array(items) => items.iter_mut().for_each(integralize),
        Value::Object(map) => map.values_mut().for_each(integralize),
        _ => {}
    }
}

/// A service: a name and its methods. Build one with [`Service::builder`].
///
/// ```
/// use clamator_protocol::{RpcError, Service};
/// use serde::{Deserialize, Serialize};
///
/// #[derive(Deserialize)]
/// struct AddParams { a: f64, b: f64 }
/// #[derive(Serialize)]
/// struct AddResult { sum: f64 }
///
/// let service = Service::builder("arith")
///     .method("add", |p: AddParams| async move { Ok::<_, RpcError>(AddResult { sum: p.a + p.b }) })
///     .build()
///     .unwrap();
/// assert_eq!(service.name(), "arith");
/// ```
#[derive(Clone, Debug)]
pub struct Service {
    name: String,
    methods: BTreeMap<String, Method>,
    show_error_details: bool,
    contract: Option<&'static ContractInfo>,
}

/// Builds a [`Service`]; see [`Service::builder`].
#[derive(Debug)]
pub struct ServiceBuilder {
    name: String,
    methods: BTreeMap<String, Method>,
    errors: Vec<String>,
    contract: Option<&'static ContractInfo>,
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

impl Service {
    /// Starts a service called `name`.
    pub fn builder(name: &str) -> ServiceBuilder {
        ServiceBuilder {
            name: name.to_owned(),
            methods: BTreeMap::new(),
            errors: Vec::new(),
            contract: None,
        }
    }

    /// The contract this service declared with [`ServiceBuilder::contract`], if any.
    pub fn contract(&self) -> Option<&'static ContractInfo> {
        self.contract
    }

    /// The service name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// Whether callers see the cause of an internal error: what a handler's `?` turned into
    /// `-32603` and what a handler panicked with. Off by default: callers get `Internal error`
    /// with `data: null` and the cause is logged (it may name files, hosts or queries); turn
    /// it on in development to get clamator's `{"name", "message"}` data.
    #[must_use]
    pub fn show_error_details(mut self, show: bool) -> Self {
        self.show_error_details = show;
        self
    }

    /// The method called `name`.
    pub fn method(&self, name: &str) -> Option<&Method> {
        self.methods.get(name)
    }

    /// What this service offers.
    pub fn descriptor(&self) -> ContractDescriptor {
        ContractDescriptor {
            service: self.name.clone(),
            methods: self
                .methods
                .iter()
                .map(|(name, m)| MethodDescriptor {
                    name: name.clone(),
                    notification: m.notification,
                })
                .collect(),
        }
    }

    /// Handles one envelope addressed to this service (the service part of its method is not
    /// compared, as in clamator: the stream decides the service). Returns the reply for a
    /// request and `None` for notifications and responses.
    pub async fn dispatch(&self, envelope: Envelope) -> Option<Response> {
        let (id, method, params) = match envelope {
            Envelope::Request(r) => (Some(r.id), r.method, r.params),
            Envelope::Notification(n) => (None, n.method, n.params),
            Envelope::Response(_) => return None,
        };
        let outcome = self.run(id.as_ref(), &method, params).await;
        let id = id?;
        outcome.map(|o| Response {
            id: Some(id),
            outcome: o,
        })
    }

    /// Handles one event: a notification to `method` with `params`, run the way
    /// [`dispatch`](Self::dispatch) runs it, but saying how it went, so an event subscriber
    /// can acknowledge what it does not handle, dead-letter an invalid payload and retry a
    /// failing handler.
    pub async fn handle_event(&self, method: &str, params: Value) -> EventOutcome {
        let Some(m) = self.methods.get(method) else {
            return EventOutcome::Unknown;
        };
        if let Some(v) = &m.params_validator {
            if let Err(issues) = v.validate(&params) {
                return EventOutcome::Invalid(RpcError::invalid_params(&issues));
            }
        }
        let service = self.name.as_str();
        match (m.handler)(params).await {
            Ok(_) => EventOutcome::Handled,
            Err(Failure::InvalidParams(issues)) => {
                EventOutcome::Invalid(RpcError::invalid_params(&issues))
            }
            Err(Failure::Rpc(e)) => {
                // A `?` error's cause is hidden from the wire; the log is where it is seen.
                if let Some(detail) = e.detail() {
                    let error_type = e.detail_name().unwrap_or_default();
                    tracing::error!(
                        service,
                        event = method,
                        error_type,
                        error = detail,
                        "event handler failed"
                    );
                }
                EventOutcome::Failed(e)
            }
            Err(Failure::Panicked(msg)) => {
                tracing::error!(service, event = method, panic = %msg, "event handler panicked");
                EventOutcome::Failed(RpcError::hidden_internal("panic", &msg))
            }
            Err(Failure::InvalidResult(issues)) => {
                EventOutcome::Failed(RpcError::result_validation_failed(&issues))
            }
        }
    }

    /// Runs one call; `None` means "no reply" (notification, or request to a notification).
    async fn run(
        &self,
        id: Option<&RpcId>,
        method_name: &str,
        params: Value,
    ) -> Option<Result<Value, RpcError>> {
        let service = self.name.as_str();
        let rpc_id = id.map(RpcId::key).unwrap_or_default();
        let Some(method) = self.methods.get(method_name) else {
            tracing::debug!(service, method = method_name, rpc_id, "method not found");
            return id.map(|_| Err(RpcError::method_not_found()));
        };
        if let Some(v) = &method.params_validator {
            if let Err(issues) = v.validate(&params) {
                tracing::warn!(
                    service,
                    method = method_name,
                    rpc_id,
                    ?issues,
                    "RPC params validation failed"
                );
                return id.map(|_| Err(RpcError::invalid_params(&issues)));
            }
        }
        let outcome = (method.handler)(params).await;
        let answer = match outcome {
            Ok(value) => match &method.result_validator {
                Some(v) if !method.notification => match v.validate(&value) {
                    Ok(()) => Ok(value),
                    Err(issues) => Err(Failure::InvalidResult(issues)),
                },
                _ => Ok(value),
            },
            Err(f) => Err(f),
        };
        let answer = answer.map_err(|failure| match failure {
            Failure::InvalidParams(issues) => {
                tracing::warn!(service, method = method_name, rpc_id, ?issues, "RPC params validation failed");
                RpcError::invalid_params(&issues)
            }
            Failure::Rpc(e) => {
                if let Some(detail) = e.detail() {
                    let error_type = e.detail_name().unwrap_or_default();
                    tracing::error!(service, method = method_name, rpc_id, error_type, error = detail, "RPC handler failed");
                } else if method.notification || id.is_none() {
                    tracing::debug!(service, method = method_name, code = e.code, "notification handler returned an error");
                }
                e
            }
            Failure::Panicked(msg) => {
                tracing::error!(service, method = method_name, rpc_id, panic = %msg, "RPC handler raised");
                RpcError::hidden_internal("panic", &msg)
            }
            Failure::InvalidResult(issues) => {
                tracing::error!(service, method = method_name, rpc_id, ?issues, "RPC result validation failed");
                RpcError::result_validation_failed(&issues)
            }
        });
        let answer = answer.map_err(|e| {
            if self.show_error_details {
                e.with_detail_shown()
            } else {
                e
            }
        });
        // A request to a method declared as a notification runs but is not answered
        // (clamator's behaviour); the caller's timeout tells it so.
        if method.notification {
            return None;
        }
        id.map(|_| answer)
    }
}

/// How one event went ([`Service::handle_event`]).
#[derive(Debug, Clone, PartialEq)]
pub enum EventOutcome {
    /// Its handler ran and succeeded.
    Handled,
    /// The service has no handler for it (a subscriber takes only the events it wants).
    Unknown,
    /// Its payload does not match the event's schema; the handler did not run.
    Invalid(RpcError),
    /// Its handler failed (an error, or a panic).
    Failed(RpcError),
}

/// A set of services, keyed by name: what a server serves.
#[derive(Clone, Debug, Default)]
pub struct Router {
    services: BTreeMap<String, Arc<Service>>,
}

impl Router {
    /// An empty router.
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds a service; a second service with the same name is an error.
    pub fn add(&mut self, service: Service) -> Result<(), Error> {
        if self.services.contains_key(service.name()) {
            return Err(Error::InvalidArgument(format!(
                "service \"{}\" already registered on this server",
                service.name()
            )));
        }
        self.services
            .insert(service.name().to_owned(), Arc::new(service));
        Ok(())
    }

    /// Adds a service, builder style.
    pub fn with(mut self, service: Service) -> Result<Self, Error> {
        self.add(service)?;
        Ok(self)
    }

    /// The service called `name`.
    pub fn get(&self, name: &str) -> Option<&Arc<Service>> {
        self.services.get(name)
    }

    /// All services, by name.
    pub fn services(&self) -> impl Iterator<Item = &Arc<Service>> {
        self.services.values()
    }

    /// Dispatches to the named service; a request for an unknown service gets -32601.
    pub async fn dispatch(&self, service: &str, envelope: Envelope) -> Option<Response> {
        match self.services.get(service) {
            Some(s) => s.dispatch(envelope).await,
            None => match envelope {
                Envelope::Request(r) => Some(Response {
                    id: Some(r.id),
                    outcome: Err(RpcError::method_not_found()),
                }),
                _ => None,
            },
        }
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn decoding_errors_do_not_name_rust_types() {
        let issues = decode::<i64>(serde_json::json!(1e30)).unwrap_err();
        assert!(!issues[0].message.contains("i64"), "{}", issues[0].message);
        assert!(
            issues[0].message.contains("64 bits"),
            "{}",
            issues[0].message
        );
        assert_eq!(
            plain_words("invalid type: string \"x\", expected f64"),
            "invalid type: string \"x\", expected a number"
        );
    }

    use super::*;
    use crate::envelope::{parse_envelope, Notification, Request};
    use crate::error::codes;
    use serde::Deserialize;
    use serde_json::json;
    use std::sync::atomic::{AtomicUsize, Ordering};

    #[derive(Deserialize)]
    #[serde(deny_unknown_fields)]
    struct AddParams {
        a: f64,
        b: f64,
    }

    #[derive(Deserialize)]
    struct Count {
        n: u32,
    }

    fn arith(pings: Arc<AtomicUsize>) -> Service {
        Service::builder("arith")
            .method("add", |p: AddParams| async move {
                Ok(json!({"sum": p.a + p.b}))
            })
            .method("count", |p: Count| async move { Ok(p.n + 1) })
            .method("fail", |_: Value| async move {
                Err::<Value, _>(RpcError::new(-32001, "denied").with_data(json!({"why": "x"})))
            })
            .method("parse", |p: Value| async move {
                // `?` on any error: -32603 for the caller, the cause for the log.
                let n: i64 = p["text"].as_str().unwrap_or_default().parse()?;
                Ok(json!(n))
            })
            .method("boom", |_: Value| async move {
                if true {
                    panic!("boom");
                }
                Ok(Value::Null)
            })
            .add(
                "bad",
                Method::new(|_: Value| async move { Ok(json!({"sum": "nope"})) }).result_validator(
                    |v: &Value| {
                        if v["sum"].is_number() {
                            Ok(())
                        } else {
                            Err(vec![ValidationIssue::new("/sum", "expected number")])
                        }
                    },
                ),
            )
            .notification("ping", move |_: Value| {
                let pings = Arc::clone(&pings);
                async move {
                    pings.fetch_add(1, Ordering::SeqCst);
                    Ok(())
                }
            })
            .build()
            .unwrap()
    }

    fn req(method: &str, params: Value) -> Envelope {
        Envelope::Request(Request {
            id: "i1".into(),
            service: "arith".into(),
            method: method.into(),
            params,
        })
    }

    async fn reply(s: &Service, method: &str, params: Value) -> String {
        s.dispatch(req(method, params)).await.unwrap().to_json()
    }

    #[tokio::test]
    async fn dispatches_in_clamators_order() {
        let s = arith(Arc::default());
        assert_eq!(
            reply(&s, "add", json!({"a": 2, "b": 3})).await,
            r#"{"jsonrpc":"2.0","id":"i1","result":{"sum":5.0}}"#
        );
        let r = reply(&s, "nope", json!({})).await;
        assert!(r.contains(r#""code":-32601"#), "{r}");
        let r = reply(&s, "add", json!({"a": "two", "b": 3})).await;
        let v: Value = serde_json::from_str(&r).unwrap();
        assert_eq!(v["error"]["code"], codes::INVALID_PARAMS);
        assert_eq!(v["error"]["data"]["errors"][0]["path"], "/a");
        let r = reply(&s, "add", json!({"a": 1, "b": 3, "c": 1})).await;
        assert!(r.contains("unknown field"), "{r}");
        // Integers written as 5.0 decode into integer fields.
        let r = reply(&s, "count", json!({"n": 5.0})).await;
        assert_eq!(r, r#"{"jsonrpc":"2.0","id":"i1","result":6}"#);
        let r = reply(&s, "count", json!({"n": 5.5})).await;
        assert!(r.contains(r#""code":-32602"#) && r.contains("/n"), "{r}");
        assert_eq!(
            reply(&s, "fail", json!({})).await,
            r#"{"jsonrpc":"2.0","id":"i1","error":{"code":-32001,"message":"denied","data":{"why":"x"}}}"#
        );
        // A panic and an error passed up with `?` tell callers nothing but "Internal error"
        // unless the service is told to show causes.
        for (method, cause) in [("boom", "boom"), ("parse", "invalid digit")] {
            let v: Value =
                serde_json::from_str(&reply(&s, method, json!({"text": "x"})).await).unwrap();
            assert_eq!(v["error"]["code"], codes::INTERNAL_ERROR);
            assert_eq!(v["error"]["message"], "Internal error");
            assert_eq!(v["error"]["data"], Value::Null, "{v}");
            let shown = arith(Arc::new(AtomicUsize::new(0))).show_error_details(true);
            let v: Value =
                serde_json::from_str(&reply(&shown, method, json!({"text": "x"})).await).unwrap();
            let message = v["error"]["data"]["message"].as_str().unwrap();
            assert!(message.contains(cause), "{v}");
        }
        let v: Value =
            serde_json::from_str(&reply(&s, "parse", json!({"text": "12"})).await).unwrap();
        assert_eq!(v["result"], 12);
        let v: Value = serde_json::from_str(&reply(&s, "bad", json!({})).await).unwrap();
        assert_eq!(v["error"]["code"], codes::INTERNAL_ERROR);
        assert_eq!(v["error"]["message"], "Result validation failed");
        assert_eq!(v["error"]["data"]["errors"][0]["path"], "/sum");
    }

    #[tokio::test]
    async fn notifications_run_and_are_never_answered() {
        let pings = Arc::new(AtomicUsize::new(0));
        let s = arith(Arc::clone(&pings));
        let n = Envelope::Notification(Notification {
            service: "arith".into(),
            method: "ping".into(),
            params: json!({}),
        });
        assert!(s.dispatch(n).await.is_none());
        // A request to a notification-typed method runs the handler but gets no reply.
        assert!(s.dispatch(req("ping", json!({}))).await.is_none());
        assert_eq!(pings.load(Ordering::SeqCst), 2);
        // A notification to a failing method is dropped, not answered.
        let n = parse_envelope(br#"{"jsonrpc":"2.0","method":"arith.boom"}"#).unwrap();
        assert!(s.dispatch(n).await.is_none());
    }

    #[test]
    fn builder_rejects_bad_names_and_duplicates() {
        let e = Service::builder("Arith").build().unwrap_err();
        assert!(e.to_string().contains("invalid service name"));
        let e = Service::builder("a")
            .method("X", |_: Value| async { Ok(Value::Null) })
            .build()
            .unwrap_err();
        assert!(e.to_string().contains("invalid method name"));
        let mut r = Router::new();
        r.add(Service::builder("a").build().unwrap()).unwrap();
        let e = r.add(Service::builder("a").build().unwrap()).unwrap_err();
        assert!(e.to_string().contains("already registered"));
    }

    #[test]
    fn a_declared_contract_must_name_the_service_and_its_methods() {
        use crate::contract::MethodInfo;
        static ECHO: ContractInfo = ContractInfo {
            service: "echo",
            methods: &[MethodInfo {
                name: "say",
                notification: false,
                params_schema: "{}",
                result_schema: Some("{}"),
                params_hash: "aa",
                result_hash: Some("bb"),
            }],
        };
        let say = || Method::new(|p: Value| async move { Ok::<_, RpcError>(p) });
        let s = Service::builder("echo")
            .add("say", say())
            .contract(&ECHO)
            .build()
            .unwrap();
        assert_eq!(s.contract(), Some(&ECHO));
        let e = Service::builder("other")
            .add("say", say())
            .contract(&ECHO)
            .build()
            .unwrap_err();
        assert!(
            e.to_string().contains("contract is of service \"echo\""),
            "{e}"
        );
        let e = Service::builder("echo")
            .add("say", say())
            .add("shout", say())
            .contract(&ECHO)
            .build()
            .unwrap_err();
        assert!(e.to_string().contains("declares methods"), "{e}");
    }

    #[tokio::test]
    async fn router_answers_unknown_services_with_method_not_found() {
        let r = Router::new();
        let out = r.dispatch("ghost", req("x", json!({}))).await.unwrap();
        assert_eq!(out.outcome.unwrap_err().code, codes::METHOD_NOT_FOUND);
    }
}
