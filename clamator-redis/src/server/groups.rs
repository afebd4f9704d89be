//! Consumer groups: created at start (at `$`, with `MKSTREAM`, as clamator does) and
//! re-created when they vanish.

use clamator_protocol::Error;

use super::runtime::{ServerState, ServiceRuntime};
use crate::stream::commands;

/// Creates the service's group starting at `start`; an existing group is left as it is.
pub(crate) async fn ensure_group(
    state: &ServerState,
    rt: &ServiceRuntime,
    start: &str,
) -> Result<(), Error> {
    let target = &rt.target;
    commands::create_group(
        &mut state.manager.clone(),
        &target.stream,
        &target.group,
        start,
    )
    .await
    .map_err(|e| {
        Error::transport_with(
            format!("XGROUP CREATE {} {} failed", target.stream, target.group),
            e,
        )
    })
}

/// Re-creates a vanished group; false when that failed (the caller backs off).
///
/// It starts after the newest entry this server read, or at `0` when it read none: what
/// the stream holds beyond that was written since the group vanished (after `FLUSHALL` or
/// a restart without persistence the stream is new), and those are requests somebody is
/// waiting for, while what came before was served already.
pub(crate) async fn recreate_group(state: &ServerState, rt: &ServiceRuntime) -> bool {
    let start = rt.last_read().unwrap_or_else(|| "0".to_owned());
    match ensure_group(state, rt, &start).await {
        Ok(()) => {
            tracing::warn!(
                service = rt.name(),
                stream = %rt.target.stream,
                start = %start,
                "consumer group was missing (Redis flushed or restarted); re-created it"
            );
            true
        }
        Err(e) => {
            tracing::error!(service = rt.name(), error = %e, "cannot re-create consumer group");
            false
        }
    }
}
