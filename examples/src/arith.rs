//! Implementations of the generated `arith` and `notifications` services (contracts in
//! `contracts/`, generated code in [`crate::generated`]).

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use clamator_protocol::{Error, RpcError, Service};

pub use crate::generated::arith::{
    AddParams, AddResult, ArithClient, ArithService, DivideParams, DivideResult, EchoTextParams,
    EchoTextResult, SlowAddParams, SlowAddResult,
};
pub use crate::generated::notifications::{NotificationsClient, NotificationsService, PingParams};

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

/// `arith`: add, slowAdd (sleeps first), divide (-32000 on division by zero), echoText.
#[derive(Debug, Clone, Default)]
pub struct Arith {
    /// Bumped on every handler run.
    pub handled: Counter,
}

impl ArithService for Arith {
    async fn add(&self, p: AddParams) -> Result<AddResult, RpcError> {
        self.handled.bump();
        Ok(AddResult { sum: p.a + p.b })
    }

    async fn divide(&self, p: DivideParams) -> Result<DivideResult, RpcError> {
        self.handled.bump();
        if p.b == 0.0 {
            return Err(division_by_zero());
        }
        Ok(DivideResult { q: p.a / p.b })
    }

    async fn echo_text(&self, p: EchoTextParams) -> Result<EchoTextResult, RpcError> {
        self.handled.bump();
        Ok(EchoTextResult { text: p.text })
    }

    async fn slow_add(&self, p: SlowAddParams) -> Result<SlowAddResult, RpcError> {
        self.handled.bump();
        tokio::time::sleep(Duration::from_millis(p.sleep_ms.max(0).unsigned_abs())).await;
        Ok(SlowAddResult { sum: p.a + p.b })
    }
}

/// `notifications`: `ping` calls a callback with the tag.
pub struct Notifications<F> {
    /// Bumped on every handler run.
    pub handled: Counter,
    /// Called with each ping's tag.
    pub on_ping: F,
}

impl<F: Fn(Option<String>) + Send + Sync + 'static> NotificationsService for Notifications<F> {
    async fn ping(&self, p: PingParams) -> Result<(), RpcError> {
        self.handled.bump();
        (self.on_ping)(p.tag);
        Ok(())
    }
}

/// The `arith` service, ready to serve; every handler run bumps `handled`.
pub fn arith_service(handled: Counter) -> Result<Service, Error> {
    crate::generated::arith::arith_service(Arith { handled })
}

/// The `notifications` service, ready to serve: `ping` calls `on_ping` with the tag.
pub fn notifications_service(
    handled: Counter,
    on_ping: impl Fn(Option<String>) + Send + Sync + 'static,
) -> Result<Service, Error> {
    crate::generated::notifications::notifications_service(Notifications { handled, on_ping })
}
