//! # clamator-examples
//!
//! The services and helpers behind the example programs:
//!
//! * `quickstart`: starts a private redis-server (unless `REDIS_URL` is set), serves `arith`,
//!   calls it, prints what happened, cleans up.
//! * `arith-server` / `arith-client`: a server and a client you run from the shell, one call
//!   per run (one JSON line, exit code 0 or 1).
//!
//! [`generated`] is what `clamator-codegen` makes of `contracts/` (checked for drift in CI);
//! [`arith`] implements the generated service traits; [`observability`] is the logging,
//! tracing and metrics setup of the programs; [`private_redis`] is the quickstart's
//! throwaway redis-server.
//!
//! The project's test kit (launchers, the fault-injection server, the interop drivers) is a
//! crate of its own, `clamator-testkit`, so nothing here exists for tests only.
//!
//! ```
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> Result<(), clamator_protocol::Error> {
//! use clamator_examples::arith::{self, AddParams, ArithClient};
//! use clamator_protocol::{MemoryTransport, Router};
//!
//! let router = Router::new().with(arith::arith_service(Default::default())?)?;
//! let arith = ArithClient::new(MemoryTransport::new(router));
//! let r = arith.add(&AddParams { a: 2.0, b: 3.0 }).await?;
//! assert_eq!(r.sum, 5.0);
//! # Ok(()) }
//! ```

pub mod arith;
// What clamator-codegen writes stays clean under clippy's pedantic lints, which some users
// turn on for their whole crate: CI's `clippy -D warnings` holds it to that here.
#[warn(clippy::pedantic)]
pub mod generated;
pub mod observability;
pub mod private_redis;

/// Logs to stderr for the example programs: `RUST_LOG` when set, else `default` (an
/// `EnvFilter` directive such as `"warn"`); colours only on a terminal.
pub fn init_tracing(default: &str) {
    tracing_subscriber::fmt()
        .with_writer(std::io::stderr)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| default.into()),
        )
        .init();
}

/// One call's outcome as the JSON line the drivers print (clamator's runner protocol):
/// `{"ok":true,"kind":"result","result":…}`, `{"ok":true,"kind":"notification"}`,
/// `{"ok":false,"kind":"rpc-error","code","message","data"}`,
/// `{"ok":false,"kind":"transport-error","message"}` (timeouts included) or
/// `{"ok":false,"kind":"unknown-error","message"}`.
pub fn outcome_json(
    result: Result<Option<serde_json::Value>, clamator_protocol::Error>,
) -> serde_json::Value {
    use clamator_protocol::Error;
    use serde_json::json;
    match result {
        Ok(Some(result)) => json!({"ok": true, "kind": "result", "result": result}),
        Ok(None) => json!({"ok": true, "kind": "notification"}),
        Err(Error::Rpc(e)) => json!({
            "ok": false, "kind": "rpc-error", "code": e.code, "message": e.message, "data": e.data
        }),
        Err(e @ (Error::Timeout { .. } | Error::Transport { .. })) => {
            json!({"ok": false, "kind": "transport-error", "message": clamator_protocol::error::error_chain(&e)})
        }
        Err(e) => {
            json!({"ok": false, "kind": "unknown-error", "message": clamator_protocol::error::error_chain(&e)})
        }
    }
}

#[cfg(test)]
mod tests {
    use clamator_protocol::error::error_chain;

    #[test]
    fn a_cause_is_said_once() {
        let io = std::io::Error::new(
            std::io::ErrorKind::ConnectionRefused,
            "refused (os error 111)",
        );
        let wrapped = clamator_protocol::Error::transport_with("cannot connect", io);
        assert_eq!(
            error_chain(&wrapped),
            "transport error: cannot connect: refused (os error 111)"
        );
        let redis = redis::RedisError::from(std::io::Error::new(
            std::io::ErrorKind::ConnectionRefused,
            "Connection refused (os error 111)",
        ));
        let twice = clamator_protocol::Error::transport_with("cannot connect", redis);
        let chain = error_chain(&twice);
        assert_eq!(chain.matches("Connection refused").count(), 1, "{chain}");
    }
}

/// Compiles the README's example, so it stays true.
#[cfg(doctest)]
#[doc = include_str!("../../README.md")]
struct ReadmeExample;
