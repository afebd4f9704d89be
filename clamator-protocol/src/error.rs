//! The error model: JSON-RPC error objects ([`RpcError`]) and the one error type every
//! public API returns ([`Error`]).

use std::fmt;
use std::time::Duration;

use serde::{Deserialize, Serialize};
use serde_json::Value;

/// A boxed error usable as a [`std::error::Error::source`].
pub type BoxError = Box<dyn std::error::Error + Send + Sync + 'static>;

/// The standard JSON-RPC 2.0 error codes.
pub mod codes {
    /// The envelope is not valid JSON.
    pub const PARSE_ERROR: i64 = -32700;
    /// The JSON is not a valid request object.
    pub const INVALID_REQUEST: i64 = -32600;
    /// The method does not exist on the service that received the request.
    pub const METHOD_NOT_FOUND: i64 = -32601;
    /// The params failed the method's params schema.
    pub const INVALID_PARAMS: i64 = -32602;
    /// The handler failed (anything but an [`RpcError`](super::RpcError)) or its result
    /// failed the result schema.
    pub const INTERNAL_ERROR: i64 = -32603;
}

/// A JSON-RPC error object, `{"code", "message", "data"}`, as it travels on the wire.
///
/// Handlers return it to answer with a specific error; clients receive it inside
/// [`Error::Rpc`]. `data` is always present on the wire and is `null` when there is none.
///
/// ```
/// use clamator_protocol::RpcError;
/// let err = RpcError::new(-32000, "division by zero");
/// assert_eq!(
///     serde_json::to_string(&err).unwrap(),
///     r#"{"code":-32000,"message":"division by zero","data":null}"#
/// );
/// ```
///
/// A handler can use `?` on any error: what is not an `RpcError` becomes `-32603 Internal
/// error`. Its caller sees only that; the error itself goes to the server's log (an option
/// of the server sends it to callers too, for development):
///
/// ```
/// use clamator_protocol::RpcError;
/// fn parse_quantity(text: &str) -> Result<u32, RpcError> {
///     Ok(text.parse::<u32>()?)
/// }
/// let err = parse_quantity("many").unwrap_err();
/// assert_eq!(err.code, -32603);
/// assert_eq!(err.message, "Internal error");
/// assert!(err.data.is_null());
/// assert!(err.detail().unwrap().contains("invalid digit"));
/// ```
///
/// That is why `RpcError` is not itself a [`std::error::Error`] (as `anyhow::Error` is not):
/// a blanket conversion from every error would otherwise include itself. Callers meet it
/// inside [`Error::Rpc`], which is one.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct RpcError {
    /// The error code; -32768..-32000 are reserved by JSON-RPC, see [`codes`].
    pub code: i64,
    /// A short description.
    pub message: String,
    /// Structured detail, `null` when there is none.
    #[serde(default)]
    pub data: Value,
    /// What went wrong, for the server's log only: set when the error was converted from
    /// another error or a panic, never sent unless the server is told to. Boxed: most
    /// errors have none, and every `Result<_, Error>` carries the size of this type.
    #[serde(skip)]
    hidden: Option<Box<Hidden>>,
}

/// The cause of a hidden internal error, in clamator's `{"name", "message"}` terms.
#[derive(Debug, Clone)]
struct Hidden {
    name: String,
    message: String,
}

/// Two errors are equal when what goes on the wire is: the log-only detail is not compared.
impl PartialEq for RpcError {
    fn eq(&self, other: &Self) -> bool {
        (self.code, &self.message, &self.data) == (other.code, &other.message, &other.data)
    }
}

impl<E: std::error::Error + Send + Sync + 'static> From<E> for RpcError {
    fn from(err: E) -> Self {
        Self::hidden_internal(short_type_name::<E>(), &error_chain(&err))
    }
}

/// The last segment of a type's path: `ParseIntError`, not `core::num::error::ParseIntError`.
fn short_type_name<E: ?Sized>() -> &'static str {
    let name = std::any::type_name::<E>();
    name.rsplit("::").next().unwrap_or(name)
}

/// An error's message followed by those of its sources, each said once: a source whose text
/// is already said (redis-rs errors repeat their I/O cause in their own message) is skipped.
///
/// ```
/// use clamator_protocol::{error::error_chain, Error};
/// let io = std::io::Error::other("refused");
/// let err = Error::transport_with("cannot connect", io);
/// assert_eq!(error_chain(&err), "transport error: cannot connect: refused");
/// ```
pub fn error_chain(err: &dyn std::error::Error) -> String {
    let mut text = err.to_string();
    let mut source = err.source();
    while let Some(s) = source {
        let more = s.to_string();
        if !text.contains(&more) {
            text.push_str(": ");
            text.push_str(&more);
        }
        source = s.source();
    }
    text
}

impl RpcError {
    /// An error with the given code and message and no data.
    pub fn new(code: i64, message: impl Into<String>) -> Self {
        Self {
            code,
            message: message.into(),
            data: Value::Null,
            hidden: None,
        }
    }

    /// `-32603 Internal error` whose cause (`name: message`) stays in the server's log: what
    /// `?` on another error and a handler panic produce.
    pub fn hidden_internal(name: &str, message: &str) -> Self {
        let mut err = Self::new(codes::INTERNAL_ERROR, "Internal error");
        err.hidden = Some(Box::new(Hidden {
            name: name.to_owned(),
            message: message.to_owned(),
        }));
        err
    }

    /// The log-only cause of an error made by [`RpcError::hidden_internal`] (or by `?`), if
    /// this is one: its message (the error's type is [`detail_name`](Self::detail_name)).
    pub fn detail(&self) -> Option<&str> {
        self.hidden.as_ref().map(|h| h.message.as_str())
    }

    /// The name (type) of the log-only cause, when there is one: `ParseIntError`, `panic`.
    pub fn detail_name(&self) -> Option<&str> {
        self.hidden.as_ref().map(|h| h.name.as_str())
    }

    /// This error as it is sent when the server shows causes to callers (development): a
    /// hidden internal error gets clamator's `{"name", "message"}` data back; others are
    /// unchanged.
    #[must_use]
    pub fn with_detail_shown(mut self) -> Self {
        if let Some(hidden) = self.hidden.take() {
            self.data = serde_json::json!({ "name": hidden.name, "message": hidden.message });
        }
        self
    }

    /// Returns this error with `data` attached.
    #[must_use]
    pub fn with_data(mut self, data: Value) -> Self {
        self.data = data;
        self
    }

    /// `-32700 Parse error`.
    pub fn parse_error(reason: impl Into<String>) -> Self {
        Self::new(codes::PARSE_ERROR, "Parse error")
            .with_data(serde_json::json!({ "reason": reason.into() }))
    }

    /// `-32600 Invalid Request` with the reason in `data`.
    pub fn invalid_request(reason: impl Into<String>) -> Self {
        Self::new(codes::INVALID_REQUEST, "Invalid Request")
            .with_data(serde_json::json!({ "reason": reason.into() }))
    }

    /// `-32601 Method not found` (data `null`, as clamator sends it).
    pub fn method_not_found() -> Self {
        Self::new(codes::METHOD_NOT_FOUND, "Method not found")
    }

    /// `-32602 Invalid params` with `{"errors": [...]}` as data.
    pub fn invalid_params(errors: &[ValidationIssue]) -> Self {
        Self::new(codes::INVALID_PARAMS, "Invalid params")
            .with_data(serde_json::json!({ "errors": errors }))
    }

    /// `-32603 Internal error` describing a handler failure: data is
    /// `{"name": <error type>, "message": <Display of the error>}`, the shape clamator uses.
    ///
    /// ```
    /// use clamator_protocol::RpcError;
    /// let io = std::io::Error::other("disk on fire");
    /// let err = RpcError::internal(&io);
    /// assert_eq!(err.code, -32603);
    /// assert_eq!(err.data["message"], "disk on fire");
    /// ```
    pub fn internal<E: std::error::Error + ?Sized>(err: &E) -> Self {
        Self::internal_with(short_type_name::<E>(), err.to_string())
    }

    /// `-32603 Internal error` with an explicit error name and message.
    pub fn internal_with(name: &str, message: impl Into<String>) -> Self {
        Self::new(codes::INTERNAL_ERROR, "Internal error")
            .with_data(serde_json::json!({ "name": name, "message": message.into() }))
    }

    /// `-32603 Result validation failed` with `{"errors": [...]}` as data.
    pub fn result_validation_failed(errors: &[ValidationIssue]) -> Self {
        Self::new(codes::INTERNAL_ERROR, "Result validation failed")
            .with_data(serde_json::json!({ "errors": errors }))
    }
}

impl fmt::Display for RpcError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} (code {})", self.message, self.code)?;
        if !self.data.is_null() {
            write!(f, ": {}", self.data)?;
        }
        Ok(())
    }
}

/// One thing wrong with a value checked against a schema or a Rust type.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ValidationIssue {
    /// JSON Pointer (RFC 6901) to the offending value; `""` is the whole value.
    pub path: String,
    /// What was wrong there.
    pub message: String,
}

impl ValidationIssue {
    /// An issue at `path` (a JSON Pointer).
    pub fn new(path: impl Into<String>, message: impl Into<String>) -> Self {
        Self {
            path: path.into(),
            message: message.into(),
        }
    }
}

/// The error every clamator-rs API returns.
///
/// It tells apart the four things that go wrong in RPC, each with a predicate:
/// a remote JSON-RPC error ([`Error::is_rpc`], [`Error::code`]), a timeout
/// ([`Error::is_timeout`]), a transport failure ([`Error::is_transport`]; Redis unreachable,
/// transport stopped) and a protocol violation by the peer ([`Error::is_protocol`]).
/// Causes are chained through [`std::error::Error::source`].
///
/// ```
/// use clamator_protocol::{Error, RpcError};
/// let err = Error::from(RpcError::new(-32000, "division by zero"));
/// assert!(err.is_rpc());
/// assert_eq!(err.code(), Some(-32000));
/// assert!(!err.is_timeout());
/// ```
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The server answered with a JSON-RPC error.
    #[error("remote error: {0}")]
    Rpc(RpcError),
    /// No reply arrived within the call's timeout.
    #[error("call timeout: {method} got no reply within {timeout:?}")]
    Timeout {
        /// The full method name, `service.method`.
        method: String,
        /// The timeout that expired.
        timeout: Duration,
    },
    /// The transport could not carry the message (connection lost, stopped, ...).
    #[error("transport error: {message}")]
    Transport {
        /// What failed.
        message: String,
        /// The underlying cause, when there is one.
        #[source]
        source: Option<BoxError>,
    },
    /// The peer sent something that breaks the protocol (unparseable reply, wrong result
    /// shape, ...).
    #[error("protocol error: {message}")]
    Protocol {
        /// What was wrong.
        message: String,
        /// The underlying cause, when there is one.
        #[source]
        source: Option<BoxError>,
    },
    /// The caller passed something unusable (bad service or method name, params that do not
    /// serialize, a duplicate service, ...). Nothing was sent.
    #[error("invalid argument: {0}")]
    InvalidArgument(String),
}

impl Error {
    /// A transport error without a cause.
    pub fn transport(message: impl Into<String>) -> Self {
        Self::Transport {
            message: message.into(),
            source: None,
        }
    }

    /// A transport error caused by `source`.
    pub fn transport_with(message: impl Into<String>, source: impl Into<BoxError>) -> Self {
        Self::Transport {
            message: message.into(),
            source: Some(source.into()),
        }
    }

    /// A protocol error without a cause.
    pub fn protocol(message: impl Into<String>) -> Self {
        Self::Protocol {
            message: message.into(),
            source: None,
        }
    }

    /// A protocol error caused by `source`.
    pub fn protocol_with(message: impl Into<String>, source: impl Into<BoxError>) -> Self {
        Self::Protocol {
            message: message.into(),
            source: Some(source.into()),
        }
    }

    /// True for a JSON-RPC error answered by the server.
    pub fn is_rpc(&self) -> bool {
        matches!(self, Self::Rpc(_))
    }

    /// True when the call timed out.
    pub fn is_timeout(&self) -> bool {
        matches!(self, Self::Timeout { .. })
    }

    /// True for transport failures.
    pub fn is_transport(&self) -> bool {
        matches!(self, Self::Transport { .. })
    }

    /// True for protocol violations by the peer.
    pub fn is_protocol(&self) -> bool {
        matches!(self, Self::Protocol { .. })
    }

    /// True when the caller's own arguments were unusable.
    pub fn is_invalid_argument(&self) -> bool {
        matches!(self, Self::InvalidArgument(_))
    }

    /// The JSON-RPC error code, for [`Error::Rpc`].
    pub fn code(&self) -> Option<i64> {
        self.as_rpc().map(|e| e.code)
    }

    /// The JSON-RPC error object, for [`Error::Rpc`].
    pub fn as_rpc(&self) -> Option<&RpcError> {
        match self {
            Self::Rpc(e) => Some(e),
            _ => None,
        }
    }
}

impl From<RpcError> for Error {
    fn from(e: RpcError) -> Self {
        Self::Rpc(e)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::error::Error as _;

    #[test]
    fn rpc_error_serializes_in_wire_order_with_null_data() {
        let e = RpcError::new(-32001, "denied").with_data(serde_json::json!({"why": "x"}));
        assert_eq!(
            serde_json::to_string(&e).unwrap(),
            r#"{"code":-32001,"message":"denied","data":{"why":"x"}}"#
        );
        let back: RpcError = serde_json::from_str(r#"{"code":1,"message":"m"}"#).unwrap();
        assert_eq!(back.data, Value::Null);
    }

    #[test]
    fn predicates_tell_kinds_apart_and_sources_chain() {
        let t = Error::Timeout {
            method: "a.b".into(),
            timeout: Duration::from_millis(5),
        };
        assert!(t.is_timeout() && !t.is_transport() && t.code().is_none());
        let io = std::io::Error::other("refused");
        let tr = Error::transport_with("xadd failed", io);
        assert!(tr.is_transport());
        assert_eq!(tr.source().unwrap().to_string(), "refused");
        assert!(Error::protocol("bad").is_protocol());
        assert!(Error::InvalidArgument("x".into()).is_invalid_argument());
    }

    #[test]
    fn internal_names_the_error_type() {
        let e = RpcError::internal(&std::fmt::Error);
        assert_eq!(e.message, "Internal error");
        assert_eq!(e.data["name"], "Error");
    }
}
