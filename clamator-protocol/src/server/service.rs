//! [`Service`]: one service's methods, and the dispatch of a request, notification or
//! event to them in clamator's validation order.

use std::collections::BTreeMap;
use std::sync::Arc;

use serde_json::value::RawValue;
use serde_json::Value;

use super::method::{Failure, Written};
use super::{Method, ServiceBuilder, Validator};
use crate::contract::{ContractDescriptor, ContractInfo, MethodDescriptor};
use crate::envelope::{encode_error, encode_success, Envelope, Json, Response, RpcId};
use crate::error::{RpcError, ValidationIssue};

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
    pub(super) name: String,
    pub(super) methods: BTreeMap<String, Method>,
    pub(super) show_error_details: bool,
    pub(super) contract: Option<&'static ContractInfo>,
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
        let (id, outcome) = self.answer(envelope).await?;
        let outcome = outcome.and_then(|answer| match answer {
            Answer::Value(value) => Ok(Json::from(value)),
            Answer::Text(text) | Answer::Sure(text) => Json::from_text(text).ok_or_else(|| {
                RpcError::internal_with("ProtocolError", "result nested too deeply")
            }),
        });
        Some(Response {
            id: Some(id),
            outcome,
        })
    }

    /// Handles one envelope as [`dispatch`](Self::dispatch) does and returns the reply as it
    /// goes on the wire. A result of a generated service's typed path (params decoded
    /// straight from their text, result written straight to text) is never turned into a
    /// [`Value`] on the way.
    pub async fn dispatch_encoded(&self, envelope: Envelope) -> Option<EncodedReply> {
        let (id, outcome) = self.answer(envelope).await?;
        let encoded = match &outcome {
            Ok(Answer::Text(text) | Answer::Sure(text)) => encode_success(&id, text),
            Ok(Answer::Value(value)) => encode_success(&id, value),
            Err(e) => Ok(encode_error(Some(&id), e)),
        };
        Some(match encoded {
            Ok(json) => EncodedReply {
                json,
                error_code: outcome.err().map(|e| e.code),
            },
            Err(e) => {
                let error = RpcError::internal(&e);
                EncodedReply {
                    json: encode_error(Some(&id), &error),
                    error_code: Some(error.code),
                }
            }
        })
    }

    /// Runs a request or notification; the id and outcome of a request to answer.
    async fn answer(&self, envelope: Envelope) -> Option<(RpcId, Result<Answer, RpcError>)> {
        let (id, method, params) = match envelope {
            Envelope::Request(r) => (Some(r.id), r.method, r.params),
            Envelope::Notification(n) => (None, n.method, n.params),
            Envelope::Response(_) => return None,
        };
        let outcome = self.run(id.as_ref(), &method, params).await;
        Some((id?, outcome?))
    }

    /// Handles one event: a notification to `method` with `params`, run the way
    /// [`dispatch`](Self::dispatch) runs it, but saying how it went, so an event subscriber
    /// can acknowledge what it does not handle, dead-letter an invalid payload and retry a
    /// failing handler.
    pub async fn handle_event(&self, method: &str, params: Value) -> EventOutcome {
        let Some(m) = self.methods.get(method) else {
            return EventOutcome::Unknown;
        };
        let params = match &m.params_validator {
            Some(v) => match checked(v, params).await {
                Ok(params) => params,
                Err(issues) => return EventOutcome::Invalid(RpcError::invalid_params(&issues)),
            },
            None => params,
        };
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
        params: Json,
    ) -> Option<Result<Answer, RpcError>> {
        let service = self.name.as_str();
        let rpc_id = || id.map(RpcId::key).unwrap_or_default();
        let Some(method) = self.methods.get(method_name) else {
            tracing::debug!(
                service,
                method = method_name,
                rpc_id = rpc_id(),
                "method not found"
            );
            return id.map(|_| Err(RpcError::method_not_found()));
        };
        // The typed path, when the params surely conform: decoded straight from their text.
        // Anything else (not sure, or not decoding) goes the `Value` way below, which gives
        // every refusal its usual message.
        let typed = match (&method.text_handler, params.text()) {
            (Some(handler), Some(text))
                if method
                    .params_validator
                    .as_ref()
                    .is_none_or(|v| v.surely_accepts(text)) =>
            {
                let check = (!method.notification)
                    .then(|| method.result_validator.clone())
                    .flatten();
                handler(text, check)
            }
            _ => None,
        };
        let outcome = match typed {
            Some(running) => running.await.map(|w| match w {
                Written { text, sure: true } => Answer::Sure(text),
                Written { text, sure: false } => Answer::Text(text),
            }),
            None => {
                let params = params.into_value();
                let params = match &method.params_validator {
                    Some(v) => match checked(v, params).await {
                        Ok(params) => params,
                        Err(issues) => {
                            tracing::warn!(
                                service,
                                method = method_name,
                                rpc_id = rpc_id(),
                                ?issues,
                                "RPC params validation failed"
                            );
                            return id.map(|_| Err(RpcError::invalid_params(&issues)));
                        }
                    },
                    None => params,
                };
                (method.handler)(params).await.map(Answer::Value)
            }
        };
        let answer = match outcome {
            Ok(answer) => match &method.result_validator {
                Some(v) if !method.notification => result_checked(v, answer).await,
                _ => Ok(answer),
            },
            Err(f) => Err(f),
        };
        let rpc_id = rpc_id();
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

/// A result: a value, or the text the typed path wrote (checked already, or not).
enum Answer {
    Value(Value),
    Text(Box<RawValue>),
    Sure(Box<RawValue>),
}

/// A reply encoded for the wire ([`Service::dispatch_encoded`]).
#[derive(Debug, Clone, PartialEq)]
pub struct EncodedReply {
    /// The reply envelope's JSON.
    pub json: String,
    /// The JSON-RPC error code, when the reply is an error.
    pub error_code: Option<i64>,
}

/// Checks a result; text the validator is not sure of is read into a value and checked in
/// full, for the answer and its issues.
async fn result_checked(validator: &Arc<dyn Validator>, answer: Answer) -> Result<Answer, Failure> {
    let value = match answer {
        Answer::Sure(text) => return Ok(Answer::Sure(text)),
        Answer::Text(text) if validator.surely_accepts(text.get()) => {
            return Ok(Answer::Text(text))
        }
        Answer::Text(text) => serde_json::from_str(text.get())
            .map_err(|e| Failure::InvalidResult(vec![ValidationIssue::new("", e.to_string())]))?,
        Answer::Value(value) => value,
    };
    checked(validator, value)
        .await
        .map(Answer::Value)
        .map_err(Failure::InvalidResult)
}

/// Checks `value` with `validator` and hands it back when it conforms. A validator that
/// [may block](Validator::may_block) runs on tokio's blocking threads, so this worker goes on
/// with other tasks meanwhile; the others (nearly all) run inline, at no extra cost.
async fn checked(
    validator: &Arc<dyn Validator>,
    value: Value,
) -> Result<Value, Vec<ValidationIssue>> {
    if validator.may_block() {
        if let Ok(runtime) = tokio::runtime::Handle::try_current() {
            let validator = Arc::clone(validator);
            let check = runtime.spawn_blocking(move || validator.validate(&value).map(|()| value));
            return match check.await {
                Ok(outcome) => outcome,
                Err(e) if e.is_panic() => std::panic::resume_unwind(e.into_panic()),
                Err(_) => Err(vec![ValidationIssue::new(
                    "",
                    "not checked: the runtime is shutting down",
                )]),
            };
        }
    }
    validator.validate(&value).map(|()| value)
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
