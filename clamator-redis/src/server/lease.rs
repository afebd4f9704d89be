//! Lease renewal: keeps the entries this server holds from being reclaimed while they wait
//! for a permit or run. Every third of the claim idle time, `XCLAIM … 0 <ids> JUSTID` to
//! itself resets their idle time without counting a delivery. A slow, healthy handler
//! therefore never runs twice; the entries of a server that died stop being renewed and are
//! reclaimed as usual. Only entries still pending for this server are renewed: after a pause
//! longer than the claim idle time another server may have reclaimed some, and those are
//! marked lost (their tasks drop them) instead of being taken back.

use std::sync::Arc;
use std::time::Duration;

use super::runtime::{ServerState, ServiceRuntime};
use crate::stream::commands;

/// The renewal period: a third of the claim idle time, at least 50 ms.
pub(crate) fn renewal_period(claim_idle: Duration) -> Duration {
    (claim_idle / 3).max(Duration::from_millis(50))
}

/// Renews until nothing is held after stop, or until the grace period ends.
pub(crate) async fn lease_loop(state: Arc<ServerState>, rt: Arc<ServiceRuntime>) {
    let service = rt.name();
    let every = renewal_period(state.config.claim_idle);
    loop {
        // Unlike the other loops this one keeps going during the shutdown grace period,
        // while handlers are still finishing; it wakes at stop, and from then on checks
        // often, so it ends as soon as nothing is held.
        let stopping = state.stopping.is_cancelled();
        let nap = if stopping {
            every.min(Duration::from_millis(50))
        } else {
            every
        };
        tokio::select! {
            () = state.abort.cancelled() => return,
            () = state.stopping.cancelled(), if !stopping => {}
            () = tokio::time::sleep(nap) => {}
        }
        let ids = rt.held_ids();
        if ids.is_empty() {
            if state.stopping.is_cancelled() {
                return;
            }
            continue;
        }
        match commands::renew(&mut state.manager.clone(), rt.consumer(), &ids).await {
            Ok(owned) => {
                let lost = rt.renewed(&ids, &owned);
                if lost > 0 {
                    tracing::warn!(service, lost, "entries taken over by another server while this one could not renew them (paused?); they will be dropped, not run or answered");
                }
                tracing::trace!(service, held = owned.len(), "leases renewed");
            }
            Err(e) => tracing::warn!(service, error = %e, "could not renew leases"),
        }
    }
}

/// Whether this server still owns a held entry. Normally it does (its leases are renewed
/// every third of the claim idle time); only when they could not be renewed for longer than
/// the claim idle time (the process was paused or starved) is Redis asked, and an entry
/// another server reclaimed meanwhile is dropped: neither run nor answered here.
pub(crate) async fn still_owned(state: &ServerState, rt: &ServiceRuntime, entry_id: &str) -> bool {
    if rt.is_lost(entry_id) {
        tracing::warn!(
            service = rt.name(),
            entry_id,
            "entry taken over by another server; dropped"
        );
        return false;
    }
    if rt.since_renewal() <= state.config.claim_idle {
        return true;
    }
    match commands::owns(&mut state.manager.clone(), rt.consumer(), entry_id).await {
        Ok(true) => true,
        Ok(false) => {
            rt.mark_lost(entry_id);
            tracing::warn!(
                service = rt.name(),
                entry_id,
                "entry taken over by another server while this one was paused; dropped"
            );
            false
        }
        // Cannot tell now: go on, as before the pause.
        Err(_) => true,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn leases_are_renewed_three_times_per_claim_idle_time() {
        assert_eq!(
            renewal_period(Duration::from_secs(60)),
            Duration::from_secs(20)
        );
        assert_eq!(
            renewal_period(Duration::from_millis(30)),
            Duration::from_millis(50)
        );
    }
}
