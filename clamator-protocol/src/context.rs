//! What a handler can learn about the call it serves: its deadline, and how often its
//! request has been delivered. Transports set it around each dispatch.
//!
//! ```
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() {
//! use std::time::{Duration, SystemTime};
//! use clamator_protocol::context::{self, CallContext};
//!
//! let deadline = SystemTime::now() + Duration::from_secs(5);
//! let ctx = CallContext { deadline: Some(deadline), ..CallContext::default() };
//! let seen = context::scope(ctx, async { context::deadline() }).await;
//! assert_eq!(seen, Some(deadline));
//! assert_eq!(context::deadline(), None); // outside a call
//! # }
//! ```

use std::future::Future;
use std::time::SystemTime;

/// The context of the call being handled.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CallContext {
    /// When the caller stops waiting (clients of clamator-rs send it; clamator peers do not).
    pub deadline: Option<SystemTime>,
    /// How many times the request has been delivered, this delivery included, when known.
    pub delivery_count: Option<u64>,
}

tokio::task_local! {
    static CURRENT: CallContext;
}

/// Runs `f` with `ctx` as the current call context.
pub async fn scope<F: Future>(ctx: CallContext, f: F) -> F::Output {
    CURRENT.scope(ctx, f).await
}

/// The context of the call being handled, if any.
pub fn current() -> Option<CallContext> {
    CURRENT.try_with(Clone::clone).ok()
}

/// The deadline of the call being handled, if the caller sent one.
pub fn deadline() -> Option<SystemTime> {
    CURRENT.try_with(|c| c.deadline).ok().flatten()
}
