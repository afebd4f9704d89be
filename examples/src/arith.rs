//! The `arith` and `notifications` services of clamator's interop contracts (spec §5.3).

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use clamator_protocol::{Error, RpcError, Service};
use serde::{Deserialize, Serialize};

/// Params of `arith.add` and `arith.divide`.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AddParams {
    /// Left operand.
    pub a: f64,
    /// Right operand.
    pub b: f64,
}

/// Result of `arith.add` and `arith.slowAdd`.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AddResult {
    /// `a + b`.
    pub sum: f64,
}

/// Params of `arith.slowAdd`.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SlowAddParams {
    /// Left operand.
    pub a: f64,
    /// Right operand.
    pub b: f64,
    /// How long to sleep before answering, in milliseconds (≥ 0).
    #[serde(rename = "sleepMs")]
    pub sleep_ms: u64,
}

/// Result of `arith.divide`.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DivideResult {
    /// `a / b`.
    pub q: f64,
}

/// Params and result of `arith.echoText`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EchoText {
    /// The text, returned unchanged.
    pub text: String,
}

/// Params of `notifications.ping`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PingParams {
    /// An optional tag; omitted on the wire when unset, `null` accepted on input.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tag: Option<String>,
}

/// Counts handler runs (the `HANDLED:<n>` the interop runner reads).
#[derive(Debug, Clone, Default)]
pub struct Counter(Arc<AtomicU64>);

impl Counter {
    fn bump(&self) {
        self.0.fetch_add(1, Ordering::Relaxed);
    }

    /// Handler runs so far.
    pub fn get(&self) -> u64 {
        self.0.load(Ordering::Relaxed)
    }
}

/// The error `divide` answers when `b == 0`.
pub fn division_by_zero() -> RpcError {
    RpcError::new(-32000, "division by zero")
}

/// The `arith` service: `add`, `slowAdd`, `divide`, `echoText`. Every handler run bumps
/// `handled`.
pub fn arith_service(handled: Counter) -> Result<Service, Error> {
    let (h1, h2, h3, h4) = (handled.clone(), handled.clone(), handled.clone(), handled);
    Service::builder("arith")
        .method("add", move |p: AddParams| {
            h1.bump();
            async move { Ok(AddResult { sum: p.a + p.b }) }
        })
        .method("slowAdd", move |p: SlowAddParams| {
            h2.bump();
            async move {
                tokio::time::sleep(Duration::from_millis(p.sleep_ms)).await;
                Ok(AddResult { sum: p.a + p.b })
            }
        })
        .method("divide", move |p: AddParams| {
            h3.bump();
            async move {
                if p.b == 0.0 {
                    return Err(division_by_zero());
                }
                Ok(DivideResult { q: p.a / p.b })
            }
        })
        .method("echoText", move |p: EchoText| {
            h4.bump();
            async move { Ok(p) }
        })
        .build()
}

/// The `notifications` service: notification `ping`, which calls `on_ping` with the tag.
pub fn notifications_service(
    handled: Counter,
    on_ping: impl Fn(Option<String>) + Send + Sync + 'static,
) -> Result<Service, Error> {
    let on_ping = Arc::new(on_ping);
    Service::builder("notifications")
        .notification("ping", move |p: PingParams| {
            handled.bump();
            on_ping(p.tag);
            async { Ok(()) }
        })
        .build()
}
