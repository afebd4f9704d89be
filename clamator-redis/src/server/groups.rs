//! Consumer groups: created at start and re-created when they vanish, both starting from a
//! point in time: `max_request_age` before now, and never before the newest entry this
//! server read. Entry ids are timestamps, so recent requests queued while no group existed
//! are served, and requests older than any caller still waits for are not run (again).

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use clamator_protocol::Error;

use super::runtime::{ServerState, ServiceRuntime};
use crate::stream::{commands, StreamId};

/// Where a group created now starts: `max_request_age` before `now`, or just after
/// `last_read` when that is later. Creating at an id delivers every entry after it.
pub(crate) fn start_point(
    now: SystemTime,
    max_request_age: Duration,
    last_read: Option<&str>,
) -> StreamId {
    let ms = now
        .checked_sub(max_request_age)
        .and_then(|t| t.duration_since(UNIX_EPOCH).ok())
        .map_or(0, |d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX));
    let by_age = StreamId { ms, seq: 0 };
    match last_read.and_then(StreamId::parse) {
        Some(read) if read > by_age => read,
        _ => by_age,
    }
}

/// Creates the service's group (and its stream) at the [start point](start_point), or a
/// subscriber's where its subscription says; an existing group is left as it is.
pub(crate) async fn ensure_group(
    state: &ServerState,
    rt: &ServiceRuntime,
) -> Result<String, Error> {
    let target = &rt.target;
    let last_read = rt.last_read();
    let start = match &rt.events {
        // A subscriber's group starts where it was configured to, or (re-created after it
        // vanished) just after what this instance read.
        Some(events) => last_read.unwrap_or_else(|| events.start_at.group_start()),
        None => start_point(
            SystemTime::now(),
            state.config.max_request_age,
            last_read.as_deref(),
        )
        .to_string(),
    };
    commands::create_group(
        &mut state.manager.clone(),
        &target.stream,
        &target.group,
        &start,
    )
    .await
    .map_err(|e| {
        crate::connection::redis_failure(
            format!("XGROUP CREATE {} {} failed", target.stream, target.group),
            e,
        )
    })?;
    Ok(start)
}

/// Re-creates a vanished group; false when that failed (the caller backs off).
pub(crate) async fn recreate_group(state: &ServerState, rt: &ServiceRuntime) -> bool {
    match ensure_group(state, rt).await {
        Ok(start) => {
            tracing::warn!(
                service = rt.name(),
                stream = %rt.target.stream,
                start = %start,
                "consumer group was missing (deleted, or Redis flushed or restarted); re-created it"
            );
            true
        }
        Err(e) => {
            tracing::error!(service = rt.name(), error = %e, "cannot re-create consumer group");
            false
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn groups_start_a_request_age_ago_but_never_before_what_was_read() {
        let now = UNIX_EPOCH + Duration::from_millis(1_000_000);
        let age = Duration::from_secs(60);
        assert_eq!(start_point(now, age, None).to_string(), "940000-0");
        // Read more recently than the age: start after it, so nothing read runs again.
        assert_eq!(
            start_point(now, age, Some("990000-4")).to_string(),
            "990000-4"
        );
        // Read long ago (the stream was flushed since): the age decides.
        assert_eq!(start_point(now, age, Some("5-0")).to_string(), "940000-0");
        assert_eq!(
            start_point(now, Duration::from_secs(10_000), None).to_string(),
            "0-0"
        );
    }
}
