//! The client core: builds envelopes, applies timeouts, maps replies to results and errors.

use std::sync::Arc;
use std::time::Duration;

use serde::de::DeserializeOwned;
use serde::Serialize;
use serde_json::Value;
use tracing::field::Empty;
use tracing::Instrument as _;

use crate::envelope::{encode_notification, encode_request, Json, RpcId};
use crate::error::Error;
use crate::names;
use crate::transport::{CallOptions, ClientTransport};

/// The default call timeout, as in clamator: 30 s.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(30);

/// Calls methods of any service through a [`ClientTransport`]. Cheap to clone.
///
/// ```
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> Result<(), clamator_protocol::Error> {
/// use clamator_protocol::{Client, MemoryTransport, Router, RpcError, Service};
/// use serde_json::{json, Value};
///
/// let service = Service::builder("echo")
///     .method("say", |p: Value| async move { Ok::<_, RpcError>(p) })
///     .build()?;
/// let client = Client::new(MemoryTransport::new(Router::new().with(service)?));
/// let out: Value = client.call("echo", "say", &json!({"hi": 1})).await?;
/// assert_eq!(out, json!({"hi": 1}));
/// # Ok(()) }
/// ```
#[derive(Clone)]
pub struct Client {
    transport: Arc<dyn ClientTransport>,
    default_timeout: Duration,
    #[cfg(feature = "metrics")]
    metrics: Arc<call_metrics::Handles>,
}

impl std::fmt::Debug for Client {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Client")
            .field("default_timeout", &self.default_timeout)
            .finish_non_exhaustive()
    }
}

/// A transport converts into a [`Client`] over it ([`Client::new`]), so APIs that take
/// `impl Into<Client>`, such as generated clients' `new`, accept a transport or a `Client`.
impl<T: ClientTransport> From<T> for Client {
    fn from(transport: T) -> Self {
        Client::new(transport)
    }
}

impl Client {
    /// A client over `transport`, with the transport's
    /// [default timeout](ClientTransport::default_timeout), else [`DEFAULT_TIMEOUT`].
    pub fn new(transport: impl ClientTransport) -> Self {
        Self::from_arc(Arc::new(transport))
    }

    /// A client over a shared transport (default timeout as with [`new`](Self::new)).
    pub fn from_arc(transport: Arc<dyn ClientTransport>) -> Self {
        Self {
            default_timeout: transport.default_timeout().unwrap_or(DEFAULT_TIMEOUT),
            transport,
            #[cfg(feature = "metrics")]
            metrics: Arc::default(),
        }
    }

    /// Sets the timeout used by calls without their own.
    #[must_use]
    pub fn with_default_timeout(mut self, timeout: Duration) -> Self {
        self.default_timeout = timeout;
        self
    }

    /// The timeout used by calls without their own.
    pub fn default_timeout(&self) -> Duration {
        self.default_timeout
    }

    /// Calls `service.method` with `params` and decodes the result into `R`.
    pub async fn call<P, R>(&self, service: &str, method: &str, params: &P) -> Result<R, Error>
    where
        P: Serialize + ?Sized,
        R: DeserializeOwned,
    {
        self.call_with(service, method, params, CallOptions::default())
            .await
    }

    /// [`call`](Self::call) with per-call options (a timeout, an idempotency key).
    pub async fn call_with<P, R>(
        &self,
        service: &str,
        method: &str,
        params: &P,
        options: CallOptions,
    ) -> Result<R, Error>
    where
        P: Serialize + ?Sized,
        R: DeserializeOwned,
    {
        let result = self.call_json(service, method, params, options).await?;
        // Straight from the reply's text; a result that does not decode is decoded once more
        // from its value, so the error says what it always said.
        if let Some(decoded) = result.text().and_then(|t| serde_json::from_str(t).ok()) {
            return Ok(decoded);
        }
        serde_json::from_value(result.into_value())
            .map_err(|e| Error::protocol_with(format!("invalid result for {service}.{method}"), e))
    }

    /// Calls `service.method` and returns the raw JSON result.
    pub async fn call_value<P>(
        &self,
        service: &str,
        method: &str,
        params: &P,
        options: CallOptions,
    ) -> Result<Value, Error>
    where
        P: Serialize + ?Sized,
    {
        self.call_json(service, method, params, options)
            .await
            .map(Json::into_value)
    }

    /// Calls `service.method`; the result as it came.
    async fn call_json<P>(
        &self,
        service: &str,
        method: &str,
        params: &P,
        options: CallOptions,
    ) -> Result<Json, Error>
    where
        P: Serialize + ?Sized,
    {
        check_names(service, method)?;
        let id = RpcId::new_uuid();
        let envelope = encode_request(service, method, params, &id)
            .map_err(|e| Error::InvalidArgument(format!("params do not serialize: {e}")))?;
        let timeout = options.timeout.unwrap_or(self.default_timeout);
        let send = CallOptions {
            timeout: Some(timeout),
            ..options
        };
        let span = call_span(service, method, Some(&id));
        #[cfg(feature = "metrics")]
        let started = std::time::Instant::now();
        let called = async {
            let reply =
                tokio::time::timeout(timeout, self.transport.send(service, &id, envelope, &send))
                    .await
                    .map_err(|_| Error::Timeout {
                        method: format!("{service}.{method}"),
                        timeout,
                    })??;
            reply.outcome.map_err(Error::Rpc)
        }
        .instrument(span.clone())
        .await;
        if let Err(e) = &called {
            record_error(&span, e);
        }
        #[cfg(feature = "metrics")]
        self.metrics
            .call(service, method, started, called.as_ref().err());
        called
    }

    /// Sends a notification to `service.method`; resolves once the transport queued it.
    pub async fn notify<P>(&self, service: &str, method: &str, params: &P) -> Result<(), Error>
    where
        P: Serialize + ?Sized,
    {
        check_names(service, method)?;
        let envelope = encode_notification(service, method, params)
            .map_err(|e| Error::InvalidArgument(format!("params do not serialize: {e}")))?;
        let span = call_span(service, method, None);
        let sent = self
            .transport
            .notify(service, envelope)
            .instrument(span.clone())
            .await;
        if let Err(e) = &sent {
            record_error(&span, e);
        }
        #[cfg(feature = "metrics")]
        self.metrics
            .notification(service, method, sent.as_ref().err());
        sent
    }
}

/// The client span of one call (or notification, without an id), named `<service>/<method>`
/// with the OpenTelemetry RPC attributes. Transports run inside it, so what they log and
/// the trace context they carry belong to the call.
fn call_span(service: &str, method: &str, id: Option<&RpcId>) -> tracing::Span {
    tracing::info_span!(
        "rpc.client",
        otel.name = %format_args!("{service}/{method}"),
        otel.kind = "client",
        rpc.system.name = "jsonrpc",
        rpc.service = service,
        rpc.method = method,
        // Displayed, not copied: formatted only if a layer records it.
        jsonrpc.request.id = id.map(tracing::field::display),
        clamator.notification = id.is_none(),
        jsonrpc.error.code = Empty,
        error.type = Empty,
    )
}

/// Records on a call's span how it failed.
pub(crate) fn record_error(span: &tracing::Span, e: &Error) {
    span.record("error.type", error_type(e));
    if let Some(code) = e.code() {
        span.record("jsonrpc.error.code", code);
    }
}

/// The `error.type` of a failed call: the JSON-RPC code for remote errors, else the kind.
pub(crate) fn error_type(e: &Error) -> &'static str {
    match e {
        Error::Rpc(_) => "rpc_error",
        Error::Timeout { .. } => "timeout",
        Error::Transport { .. } => "transport",
        Error::Protocol { .. } => "protocol",
        Error::InvalidArgument(_) => "invalid_argument",
    }
}

fn check_names(service: &str, method: &str) -> Result<(), Error> {
    if !names::is_valid_service(service) {
        return Err(Error::InvalidArgument(format!(
            "invalid service \"{service}\""
        )));
    }
    // Conservative on output: a TypeScript server drops hyphenated method names.
    if !names::is_valid_method(method) {
        return Err(Error::InvalidArgument(format!(
            "invalid method \"{method}\""
        )));
    }
    Ok(())
}

/// The client's metrics (feature `metrics`); labels are the caller's own service and method
/// names and a fixed set of outcomes, so their number stays bounded.
#[cfg(feature = "metrics")]
mod call_metrics {
    use std::collections::HashMap;
    use std::sync::{Arc, Mutex, OnceLock, PoisonError};

    use metrics::{Counter, Histogram};

    use super::{error_type, Error};

    /// The outcomes of a call, as [`error_type`] names them.
    const OUTCOMES: [&str; 6] = [
        "ok",
        "rpc_error",
        "timeout",
        "transport",
        "protocol",
        "invalid_argument",
    ];

    fn outcome(e: Option<&Error>) -> &'static str {
        e.map_or("ok", error_type)
    }

    /// A client's metric handles, registered on first use of each service, method and
    /// outcome, then kept: a call costs a map lookup and a few atomic operations instead of a
    /// lookup (with label strings built) in the recorder's registry per metric.
    #[derive(Default)]
    pub(super) struct Handles {
        methods: Mutex<HashMap<String, HashMap<String, Arc<Method>>>>,
    }

    struct Method {
        service: String,
        method: String,
        calls: [OnceLock<(Counter, Histogram)>; OUTCOMES.len()],
        notifications: [OnceLock<Counter>; OUTCOMES.len()],
    }

    impl Method {
        fn labels(&self, outcome: &str) -> [(&'static str, String); 3] {
            [
                ("service", self.service.clone()),
                ("method", self.method.clone()),
                ("outcome", outcome.to_owned()),
            ]
        }
    }

    impl Handles {
        fn method(&self, service: &str, method: &str) -> Arc<Method> {
            let mut methods = self.methods.lock().unwrap_or_else(PoisonError::into_inner);
            let of_service = match methods.get_mut(service) {
                Some(m) => m,
                None => methods.entry(service.to_owned()).or_default(),
            };
            if let Some(m) = of_service.get(method) {
                return Arc::clone(m);
            }
            let m = Arc::new(Method {
                service: service.to_owned(),
                method: method.to_owned(),
                calls: Default::default(),
                notifications: Default::default(),
            });
            of_service.insert(method.to_owned(), Arc::clone(&m));
            m
        }

        pub(super) fn call(
            &self,
            service: &str,
            method: &str,
            started: std::time::Instant,
            e: Option<&Error>,
        ) {
            let m = self.method(service, method);
            let outcome = outcome(e);
            let register = || {
                let labels = m.labels(outcome);
                (
                    metrics::counter!("clamator_client_calls_total", &labels),
                    metrics::histogram!("clamator_client_call_duration_seconds", &labels),
                )
            };
            let took = started.elapsed().as_secs_f64();
            let unlisted;
            let (calls, duration) = match OUTCOMES.iter().position(|o| *o == outcome) {
                Some(i) => m.calls[i].get_or_init(register),
                None => {
                    unlisted = register();
                    &unlisted
                }
            };
            calls.increment(1);
            duration.record(took);
        }

        pub(super) fn notification(&self, service: &str, method: &str, e: Option<&Error>) {
            let m = self.method(service, method);
            let outcome = outcome(e);
            let register =
                || metrics::counter!("clamator_client_notifications_total", &m.labels(outcome));
            match OUTCOMES.iter().position(|o| *o == outcome) {
                Some(i) => m.notifications[i].get_or_init(register).increment(1),
                None => register().increment(1),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::envelope::Response;
    use crate::server::BoxFuture;
    use crate::{MemoryTransport, Router};

    /// Never answers; its default timeout is 20 ms.
    struct Silent;

    impl ClientTransport for Silent {
        fn send<'a>(
            &'a self,
            _service: &'a str,
            _id: &'a RpcId,
            _envelope: String,
            options: &'a CallOptions,
        ) -> BoxFuture<'a, Result<Response, Error>> {
            // The core resolves the timeout before the transport sees the call.
            assert!(options.timeout.is_some());
            Box::pin(std::future::pending())
        }

        fn notify<'a>(&'a self, _: &'a str, _: String) -> BoxFuture<'a, Result<(), Error>> {
            Box::pin(async { Ok(()) })
        }

        fn default_timeout(&self) -> Option<Duration> {
            Some(Duration::from_millis(20))
        }
    }

    #[tokio::test]
    async fn clients_take_the_transports_default_timeout() {
        let client = Client::from(Silent);
        assert_eq!(client.default_timeout(), Duration::from_millis(20));
        let err = client
            .call::<_, Value>("svc", "m", &serde_json::json!({}))
            .await
            .unwrap_err();
        assert!(
            matches!(err, Error::Timeout { timeout, .. } if timeout == Duration::from_millis(20)),
            "{err:?}"
        );
        let plain = Client::new(MemoryTransport::new(Router::new()));
        assert_eq!(plain.default_timeout(), DEFAULT_TIMEOUT);
        let overridden = Client::new(Silent).with_default_timeout(Duration::from_secs(1));
        assert_eq!(overridden.default_timeout(), Duration::from_secs(1));
    }
}
