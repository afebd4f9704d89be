//! Every stream command clamator-rs sends, as a small typed function (or, for the commands
//! the completer batches, a function that appends it to a pipeline).
//!
//! The wire these put down is clamator's: requests are `XADD`ed with the fields `type`,
//! `envelope`, `reply-to` in that order (ours follow: `deadline`, `idempotency-key`), replies
//! with `type`, `envelope`; servers read with `XREADGROUP … BLOCK`, acknowledge with `XACK`
//! after the reply, and reclaim with `XAUTOCLAIM`. The rest (`XCLAIM … JUSTID`, `XPENDING`,
//! `XINFO`, `XTRIM MINID`, `XGROUP DELCONSUMER`, the dead-letter stream) is ours.

mod admin;
mod read;
mod write;

use std::time::Duration;

pub(crate) use admin::*;
pub(crate) use read::*;
pub(crate) use write::*;

/// Milliseconds for a command argument, saturating.
fn millis(d: Duration) -> u64 {
    u64::try_from(d.as_millis()).unwrap_or(u64::MAX)
}
