//! The reclaim loop: takes over entries another consumer left pending (a crashed server)
//! with `XAUTOCLAIM`, following the cursor to the end of the pending list each round.

use std::sync::{Arc, PoisonError};
use std::time::Duration;

use crate::server::{
    is_nogroup, pause, recreate_group, submit_all, Counters, ServiceRuntime, Shared,
};
use crate::stream;

/// Entries claimed per `XAUTOCLAIM`, as in clamator.
pub(crate) const CLAIM_COUNT: usize = 32;

pub(crate) async fn reclaim_loop(shared: Arc<Shared>, rt: Arc<ServiceRuntime>) {
    let service = rt.service.name();
    let interval = shared.config.reclaim_interval();
    let min_idle = shared.config.claim_idle.as_millis() as u64;
    // Clamator sleeps before each attempt; a fresh server has nothing of its own to reclaim.
    while pause(&shared, interval).await {
        let mut cursor = "0-0".to_owned();
        loop {
            let reply: redis::RedisResult<redis::Value> = redis::cmd("XAUTOCLAIM")
                .arg(&rt.stream)
                .arg(&rt.group)
                .arg(&rt.consumer)
                .arg(min_idle)
                .arg(&cursor)
                .arg("COUNT")
                .arg(CLAIM_COUNT)
                .query_async(&mut shared.manager.clone())
                .await;
            let (next, claimed) = match reply.map(stream::autoclaim_reply) {
                Ok(Ok(parsed)) => parsed,
                Ok(Err(e)) => {
                    tracing::error!(service, error = %e, "unexpected XAUTOCLAIM reply");
                    break;
                }
                Err(e) if is_nogroup(&e) => {
                    recreate_group(&shared, &rt).await;
                    break;
                }
                Err(e) => {
                    tracing::error!(service, error = %e, "redis reclaim loop error");
                    break;
                }
            };
            if shared.stopping.is_cancelled() {
                // Claimed but not started: they stay pending for another server.
                return;
            }
            // Entries this server already holds (a batch waiting for permits, a handler
            // running longer than the claim idle time) are not run a second time.
            let mut claimed = rt.hold(claimed);
            delivery_counts(&shared, &rt, &mut claimed).await;
            for entry in &claimed {
                tracing::info!(service, entry_id = %entry.id, "reclaimed a pending entry");
                Counters::bump(&shared.counters.reclaimed);
            }
            submit_all(&shared, &rt, claimed).await;
            if next == "0-0" || shared.stopping.is_cancelled() {
                break;
            }
            cursor = next;
        }
    }
}

/// Keeps the entries this server holds from being reclaimed while they wait or run: every
/// third of the claim idle time, `XCLAIM … 0 <ids> JUSTID` to itself resets their idle time
/// without counting a delivery. A slow, healthy handler therefore never runs twice; the
/// entries of a server that died stop being renewed and are reclaimed as usual.
pub(crate) async fn lease_loop(shared: Arc<Shared>, rt: Arc<ServiceRuntime>) {
    let service = rt.service.name();
    let every = (shared.config.claim_idle / 3).max(Duration::from_millis(50));
    loop {
        // Unlike the other loops this one keeps going during the shutdown grace period,
        // while handlers are still finishing; it wakes at stop, and from then on checks
        // often, so it ends as soon as nothing is held.
        let stopping = shared.stopping.is_cancelled();
        let nap = if stopping {
            every.min(Duration::from_millis(50))
        } else {
            every
        };
        tokio::select! {
            () = shared.abort.cancelled() => return,
            () = shared.stopping.cancelled(), if !stopping => {}
            () = tokio::time::sleep(nap) => {}
        }
        let ids: Vec<String> = rt
            .held
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .iter()
            .cloned()
            .collect();
        if ids.is_empty() {
            if shared.stopping.is_cancelled() {
                return;
            }
            continue;
        }
        let renewed: redis::RedisResult<redis::Value> = redis::cmd("XCLAIM")
            .arg(&rt.stream)
            .arg(&rt.group)
            .arg(&rt.consumer)
            .arg(0)
            .arg(&ids)
            .arg("JUSTID")
            .query_async(&mut shared.manager.clone())
            .await;
        match renewed {
            Ok(_) => tracing::trace!(service, held = ids.len(), "leases renewed"),
            Err(e) => tracing::warn!(service, error = %e, "could not renew leases"),
        }
    }
}

/// Fills in how often each claimed entry has been delivered (XAUTOCLAIM counted this claim
/// too), from `XPENDING` over the claimed range for this consumer. Entries whose count
/// cannot be read keep `None` and count as first deliveries.
async fn delivery_counts(
    shared: &Shared,
    rt: &ServiceRuntime,
    claimed: &mut [crate::stream::StreamEntry],
) {
    let (Some(first), Some(last)) = (claimed.first(), claimed.last()) else {
        return;
    };
    let rows: redis::RedisResult<Vec<(String, String, u64, u64)>> = redis::cmd("XPENDING")
        .arg(&rt.stream)
        .arg(&rt.group)
        .arg(&first.id)
        .arg(&last.id)
        .arg(claimed.len().max(CLAIM_COUNT) * 4)
        .arg(&rt.consumer)
        .query_async(&mut shared.manager.clone())
        .await;
    match rows {
        Ok(rows) => {
            for entry in claimed.iter_mut() {
                entry.delivery_count = rows.iter().find(|r| r.0 == entry.id).map(|r| r.3);
            }
        }
        Err(e) => {
            tracing::warn!(service = rt.service.name(), error = %e, "could not read delivery counts")
        }
    }
}
