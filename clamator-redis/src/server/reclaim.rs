//! The reclaim loop: takes over entries another consumer left pending (a crashed server)
//! with `XAUTOCLAIM`, following the cursor to the end of the pending list each round.

use std::sync::Arc;

use redis::streams::StreamPendingId;

use super::entry::submit_all;
use super::groups::recreate_group;
use super::runtime::{ServerState, ServiceRuntime};
use super::stats::Counters;
use crate::stream::commands;
use crate::stream::StreamEntry;

/// Entries claimed per `XAUTOCLAIM`, as in clamator.
const CLAIM_COUNT: usize = 32;

/// Runs every [`reclaim_interval`](crate::ServerConfig::reclaim_interval) until the server
/// stops.
pub(crate) async fn reclaim_loop(state: Arc<ServerState>, rt: Arc<ServiceRuntime>) {
    let service = rt.name();
    let interval = state.config.reclaim_interval();
    // Clamator sleeps before each attempt; a fresh server has nothing of its own to reclaim.
    while state.pause(interval).await {
        let mut cursor = "0-0".to_owned();
        loop {
            let claimed = commands::autoclaim(
                &mut state.manager.clone(),
                rt.consumer(),
                state.config.claim_idle,
                &cursor,
                CLAIM_COUNT,
            )
            .await;
            let reply = match claimed {
                Ok(reply) => reply,
                Err(e) if commands::is_nogroup(&e) => {
                    recreate_group(&state, &rt).await;
                    break;
                }
                Err(e) => {
                    tracing::error!(service, error = %e, "redis reclaim loop error");
                    break;
                }
            };
            if state.stopping.is_cancelled() {
                // Claimed but not started: they stay pending for another server.
                return;
            }
            // Entries this server already holds (a batch waiting for permits, a handler
            // running longer than the claim idle time) are not run a second time.
            if reply.deleted > 0 && rt.events.is_some() {
                // Delivered, never acknowledged, then cut from the stream (its cap): lost to
                // this subscriber.
                let subscriber = rt.subscriber();
                tracing::warn!(
                    service,
                    subscriber,
                    lost = reply.deleted,
                    "pending events were trimmed from the event stream before they were handled"
                );
                crate::instruments::events_lost(service, subscriber, reply.deleted as u64);
                state
                    .counters
                    .events_lost
                    .fetch_add(reply.deleted as u64, std::sync::atomic::Ordering::Relaxed);
            }
            let mut claimed = rt.hold(reply.claimed);
            crate::instruments::reclaimed(service, claimed.len());
            read_delivery_counts(&state, &rt, &mut claimed).await;
            for entry in &claimed {
                tracing::info!(service, entry_id = %entry.id, "reclaimed a pending entry");
                Counters::bump(&state.counters.reclaimed);
            }
            submit_all(&state, &rt, claimed).await;
            if reply.cursor == "0-0" || state.stopping.is_cancelled() {
                break;
            }
            cursor = reply.cursor;
        }
    }
}

/// Fills in how often each claimed entry has been delivered (XAUTOCLAIM counted this claim
/// too), from `XPENDING` over the claimed range for this consumer. Entries whose count
/// cannot be read keep `None` and count as first deliveries.
async fn read_delivery_counts(
    state: &ServerState,
    rt: &ServiceRuntime,
    claimed: &mut [StreamEntry],
) {
    let (Some(first), Some(last)) = (claimed.first(), claimed.last()) else {
        return;
    };
    let rows = commands::pending_of(
        &mut state.manager.clone(),
        rt.consumer(),
        &first.id,
        &last.id,
        claimed.len().max(CLAIM_COUNT) * 4,
    )
    .await;
    match rows {
        Ok(rows) => apply_delivery_counts(claimed, &rows),
        Err(e) => {
            tracing::warn!(service = rt.name(), error = %e, "could not read delivery counts")
        }
    }
}

/// Sets each entry's delivery count from the `XPENDING` row with its id (none: unknown).
fn apply_delivery_counts(claimed: &mut [StreamEntry], rows: &[StreamPendingId]) {
    for entry in claimed {
        entry.delivery_count = rows
            .iter()
            .find(|r| r.id == entry.id)
            .map(|r| r.times_delivered as u64);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn delivery_counts_come_from_the_matching_row() {
        let entry = |id: &str| StreamEntry {
            id: id.to_owned(),
            fields: Vec::new(),
            delivery_count: Some(1),
        };
        let row = |id: &str, n: usize| StreamPendingId {
            id: id.to_owned(),
            consumer: "svc:me".to_owned(),
            last_delivered_ms: 0,
            times_delivered: n,
        };
        let mut claimed = vec![entry("1-0"), entry("2-0"), entry("3-0")];
        apply_delivery_counts(&mut claimed, &[row("3-0", 7), row("1-0", 2)]);
        let counts: Vec<Option<u64>> = claimed.iter().map(|e| e.delivery_count).collect();
        assert_eq!(counts, vec![Some(2), None, Some(7)]);
    }
}
