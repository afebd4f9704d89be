//! Consumer groups: created at start and re-created when they vanish, both starting from a
//! point in time: `max_request_age` before now, and never before the newest entry this
//! server knows the group delivered (what it read itself, and the group's position it last
//! saw in Redis: at start, and at every housekeeping round). Entry ids are timestamps, so
//! recent requests queued while no group existed are served, and requests older than any
//! caller still waits for, or delivered before, are not run (again).

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use clamator_protocol::Error;

use super::runtime::{ServerState, ServiceRuntime};
use super::stats::Counters;
use crate::stream::{commands, StreamId};

/// Where a group created now starts: `max_request_age` before `now`, or just after
/// `delivered` when that is later. Creating at an id delivers every entry after it.
pub(crate) fn start_point(
    now: SystemTime,
    max_request_age: Duration,
    delivered: Option<StreamId>,
) -> StreamId {
    let ms = now
        .checked_sub(max_request_age)
        .and_then(|t| t.duration_since(UNIX_EPOCH).ok())
        .map_or(0, |d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX));
    let by_age = StreamId { ms, seq: 0 };
    match delivered {
        Some(delivered) if delivered > by_age => delivered,
        _ => by_age,
    }
}

/// The newest entry known delivered, as a start point, given the stream's `first` entry now.
///
/// A stream flushed and written again restarts its sequence numbers: a request added right
/// after the flush, in the millisecond of the last delivery, gets an id at or below it, and
/// a group started after that id would never serve it. A stream whose first entry is of
/// that millisecond began then, so the group starts before the millisecond instead. (Had
/// only the group vanished from a stream begun in that millisecond, its entries of that
/// millisecond run again: at least once, as after any loss of a group.)
pub(crate) fn delivered_in(delivered: StreamId, first: Option<StreamId>) -> StreamId {
    match first {
        Some(first) if first.ms == delivered.ms && first <= delivered => {
            delivered.before_its_millisecond()
        }
        _ => delivered,
    }
}

/// Creates the service's group (and its stream) at the [start point](start_point), or a
/// subscriber's where its subscription says; an existing group is left as it is, and its
/// position noted (see [`observe_position`]).
pub(crate) async fn ensure_group(
    state: &ServerState,
    rt: &ServiceRuntime,
) -> Result<String, Error> {
    let target = &rt.target;
    let delivered = match rt.delivered() {
        Some(delivered) => Some(delivered_in(delivered, first_entry(state, rt).await?)),
        None => None,
    };
    let start = match &rt.events {
        // A subscriber's group starts where it was configured to, or (re-created after it
        // vanished) just after what it was seen to have delivered.
        Some(events) => delivered.map_or_else(|| events.start_at.group_start(), |d| d.to_string()),
        None => start_point(SystemTime::now(), state.config.max_request_age, delivered).to_string(),
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
    // The group is there; not knowing its position only widens what a later re-create may
    // run again (the next housekeeping round reads it), so it fails nothing.
    if let Err(e) = observe_position(state, rt).await {
        tracing::warn!(service = rt.name(), error = %e, "cannot read the consumer group's position");
    }
    Ok(start)
}

/// The id of the stream's first entry now, if it has one.
async fn first_entry(state: &ServerState, rt: &ServiceRuntime) -> Result<Option<StreamId>, Error> {
    let first = commands::range(
        &mut state.manager.clone(),
        &rt.target.stream,
        "-",
        "+",
        Some(1),
    )
    .await
    .map_err(|e| crate::connection::redis_failure("XRANGE failed", e))?;
    Ok(first.first().and_then(|e| StreamId::parse(&e.id)))
}

/// Notes how far the group has delivered (`XINFO GROUPS`): what other servers were given
/// before now is not run again if the group has to be re-created.
pub(crate) async fn observe_position(
    state: &ServerState,
    rt: &ServiceRuntime,
) -> Result<(), Error> {
    let groups = commands::groups(&mut state.manager.clone(), &rt.target.stream)
        .await
        .map_err(|e| crate::connection::redis_failure("XINFO GROUPS failed", e))?;
    note_position(rt, &groups);
    Ok(())
}

/// Notes the position of this service's group among `groups` (an `XINFO GROUPS` reply).
pub(crate) fn note_position(rt: &ServiceRuntime, groups: &[redis::streams::StreamInfoGroup]) {
    if let Some(group) = groups.iter().find(|g| g.name == rt.target.group) {
        rt.note_delivered(&group.last_delivered_id);
    }
}

/// Re-creates a vanished group; false when that failed (the caller backs off).
pub(crate) async fn recreate_group(state: &ServerState, rt: &ServiceRuntime) -> bool {
    match ensure_group(state, rt).await {
        Ok(start) => {
            Counters::bump(&state.counters.groups_recreated);
            crate::instruments::group_recreated(rt.name());
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
    fn a_stream_begun_in_the_millisecond_of_the_last_delivery_is_served_from_its_start() {
        let id = |s: &str| StreamId::parse(s).unwrap();
        // Flushed and written again in that millisecond: its entries restart at seq 0.
        let start = delivered_in(id("990000-4"), Some(id("990000-0")));
        assert!(start < id("990000-0"), "{start}");
        // The same stream, begun earlier: nothing delivered runs again.
        assert_eq!(
            delivered_in(id("990000-4"), Some(id("980000-0"))),
            id("990000-4")
        );
        // Empty, or begun after it (flushed and written later): the age and the id decide.
        assert_eq!(delivered_in(id("990000-4"), None), id("990000-4"));
        assert_eq!(
            delivered_in(id("990000-4"), Some(id("990001-0"))),
            id("990000-4")
        );
    }

    #[test]
    fn groups_start_a_request_age_ago_but_never_before_what_was_read() {
        let now = UNIX_EPOCH + Duration::from_millis(1_000_000);
        let age = Duration::from_secs(60);
        let id = |s: &str| StreamId::parse(s);
        assert_eq!(start_point(now, age, None).to_string(), "940000-0");
        // Delivered more recently than the age: start after it, so nothing delivered runs
        // again.
        assert_eq!(
            start_point(now, age, id("990000-4")).to_string(),
            "990000-4"
        );
        // Delivered long ago (the stream was flushed since): the age decides.
        assert_eq!(start_point(now, age, id("5-0")).to_string(), "940000-0");
        assert_eq!(
            start_point(now, Duration::from_secs(10_000), None).to_string(),
            "0-0"
        );
    }
}
