//! What can go wrong, and the exit code each failure maps to.
//!
//! | exit | meaning |
//! |---|---|
//! | 0 | ok |
//! | 1 | the remote side said no: an RPC error reply, a protocol violation by the peer, no published contract, a dead letter not found |
//! | 2 | usage: bad arguments (clap's own errors too), params that are not JSON, a local validation failure |
//! | 3 | transport: Redis unreachable or failing, a call that timed out |

use clamator_protocol::{Error, ValidationIssue};
use serde_json::{json, Value};

/// A failed command.
#[derive(Debug, thiserror::Error)]
pub(crate) enum CliError {
    /// Bad arguments or input (exit 2).
    #[error("{0}")]
    Usage(String),
    /// Params that fail the contract's schema (exit 2).
    #[error("{message}")]
    Invalid {
        /// What failed.
        message: String,
        /// Every problem, each with a JSON Pointer into the params.
        issues: Vec<ValidationIssue>,
    },
    /// The server answered with a JSON-RPC error (exit 1).
    #[error("{}.{} failed: {} (code {})", .0.service, .0.method, .0.message, .0.code)]
    Rpc(Box<RpcFailure>),
    /// Something asked for is not there, or the peer broke the protocol (exit 1).
    #[error("{0}")]
    Remote(String),
    /// Redis unreachable or failing (exit 3).
    #[error("{0}")]
    Transport(String),
    /// A call got no reply in time (exit 3).
    #[error("{0}")]
    Timeout(String),
    /// Part of the work failed, and the command's own output already says which (exit 1;
    /// `--json` prints no error document after the command's).
    #[error("{0}")]
    Partial(String),
}

/// A JSON-RPC error reply to a call.
#[derive(Debug)]
pub(crate) struct RpcFailure {
    /// The service called.
    pub(crate) service: String,
    /// The method called.
    pub(crate) method: String,
    /// The error code.
    pub(crate) code: i64,
    /// The error message.
    pub(crate) message: String,
    /// The error data (`null` when none).
    pub(crate) data: Value,
}

impl CliError {
    /// The process exit code.
    pub(crate) fn exit_code(&self) -> u8 {
        match self {
            Self::Rpc(_) | Self::Remote(_) | Self::Partial(_) => 1,
            Self::Usage(_) | Self::Invalid { .. } => 2,
            Self::Transport(_) | Self::Timeout(_) => 3,
        }
    }

    /// The stable name of the kind, for `--json`.
    fn kind(&self) -> &'static str {
        match self {
            Self::Usage(_) => "usage",
            Self::Invalid { .. } => "invalidParams",
            Self::Rpc(_) => "rpcError",
            Self::Remote(_) => "remote",
            Self::Partial(_) => "partial",
            Self::Transport(_) => "transport",
            Self::Timeout(_) => "timeout",
        }
    }

    /// Whether the command printed its own document before failing.
    pub(crate) fn reported(&self) -> bool {
        matches!(self, Self::Partial(_))
    }

    /// The error as the one JSON document `--json` prints:
    /// `{"error": {"kind", "exitCode", "message", …}}`.
    /// What a person needs beside the one-line message: a JSON-RPC error's `data` (the
    /// details a service attached, a declared error's fields), pretty-printed, control
    /// characters escaped, cut at 4 KiB; `None` when there is none.
    pub(crate) fn details(&self) -> Option<String> {
        let Self::Rpc(rpc) = self else {
            return None;
        };
        if rpc.data.is_null() {
            return None;
        }
        let text = serde_json::to_string_pretty(&rpc.data).unwrap_or_else(|_| rpc.data.to_string());
        Some(format!("data: {}", crate::output::cut(&text, 4096)))
    }

    pub(crate) fn to_json(&self) -> Value {
        let mut error = json!({
            "kind": self.kind(),
            "exitCode": self.exit_code(),
            "message": self.to_string(),
        });
        match self {
            Self::Rpc(rpc) => {
                error["code"] = json!(rpc.code);
                error["rpcMessage"] = json!(rpc.message);
                error["data"] = rpc.data.clone();
            }
            Self::Invalid { issues, .. } => {
                error["issues"] = json!(issues);
            }
            _ => {}
        }
        json!({ "error": error })
    }

    /// A library error met while calling `service.method`. A server's `-32052 Deadline
    /// exceeded` for the call's own deadline is the same timeout the client would have met
    /// a moment later (the two race at the deadline), so it exits 3 as well.
    pub(crate) fn from_call(service: &str, method: &str, e: Error) -> Self {
        match e {
            Error::Rpc(rpc)
                if rpc.code == clamator_redis::codes::DEADLINE_EXCEEDED
                    && rpc.data.get("reason").and_then(Value::as_str) == Some("deadline") =>
            {
                Self::Timeout(format!(
                    "call timeout: {service}.{method} passed its deadline (the server answered \
                     {} {})",
                    rpc.code, rpc.message
                ))
            }
            Error::Rpc(rpc) => Self::Rpc(Box::new(RpcFailure {
                service: service.to_owned(),
                method: method.to_owned(),
                code: rpc.code,
                message: rpc.message,
                data: rpc.data,
            })),
            other => Self::from(other),
        }
    }
}

impl From<Error> for CliError {
    fn from(e: Error) -> Self {
        let text = clamator_protocol::error::error_chain(&e);
        match e {
            Error::Rpc(rpc) => Self::Remote(format!("remote error: {rpc}")),
            Error::Timeout { .. } => Self::Timeout(text),
            Error::Transport { .. } => Self::Transport(text),
            Error::InvalidArgument(_) => Self::Usage(text),
            // Protocol errors and anything newer: the remote side misbehaved.
            _ => Self::Remote(text),
        }
    }
}

impl From<redis::RedisError> for CliError {
    fn from(e: redis::RedisError) -> Self {
        Self::Transport(format!("redis: {e}"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_kind_has_its_exit_code() {
        let rpc = CliError::from_call(
            "arith",
            "divide",
            Error::Rpc(clamator_protocol::RpcError::new(-32000, "division by zero")),
        );
        assert_eq!(rpc.exit_code(), 1);
        assert_eq!(rpc.to_json()["error"]["code"], -32000);
        let late = CliError::from_call(
            "arith",
            "slowAdd",
            Error::Rpc(
                clamator_protocol::RpcError::new(-32052, "Deadline exceeded")
                    .with_data(json!({"reason": "deadline"})),
            ),
        );
        assert_eq!(late.exit_code(), 3);
        let timeout = CliError::from(Error::Timeout {
            method: "a.b".into(),
            timeout: std::time::Duration::from_millis(5),
        });
        assert_eq!(timeout.exit_code(), 3);
        assert_eq!(
            CliError::from(Error::InvalidArgument("x".into())).exit_code(),
            2
        );
        assert_eq!(CliError::from(Error::transport("down")).exit_code(), 3);
        assert_eq!(CliError::from(Error::protocol("bad")).exit_code(), 1);
        let invalid = CliError::Invalid {
            message: "params".into(),
            issues: vec![ValidationIssue::new("/a", "not a number")],
        };
        assert_eq!(invalid.to_json()["error"]["issues"][0]["path"], "/a");
    }
}
