//! The consumer loop: one per service, reading new entries with a blocking `XREADGROUP` on
//! a connection of its own and handing them to [entry tasks](super::entry).

use std::sync::atomic::Ordering;
use std::sync::Arc;

use crate::connection::RedisConn;

use super::entry::submit_all;
use super::groups::recreate_group;
use super::runtime::{ServerState, ServiceRuntime};
use crate::backoff::Backoff;
use crate::connection::{is_topology_change, needs_new_connection, BLOCK};
use crate::stream::commands;

/// Reads until the server stops. A read in progress is never dropped: a read cut short
/// could have delivered entries to this consumer that nobody would see until they are
/// reclaimed.
pub(crate) async fn consume_loop(state: Arc<ServerState>, rt: Arc<ServiceRuntime>) {
    let service = rt.name();
    let mut conn: Option<RedisConn> = None;
    let mut backoff = Backoff::new();
    while !state.stopping.is_cancelled() {
        let c = match &mut conn {
            Some(c) => c,
            None => match state.connector.dedicated().await {
                Ok(c) => conn.insert(c),
                Err(e) => {
                    rt.reading.store(false, Ordering::Relaxed);
                    let delay = backoff.next_delay();
                    tracing::error!(service, error = %e, ?delay, "redis consumer loop cannot connect; retrying");
                    state.pause(delay).await;
                    continue;
                }
            },
        };
        match commands::read_group(c, rt.consumer(), rt.read_count, BLOCK).await {
            Ok(entries) => {
                backoff.reset();
                rt.reading.store(true, Ordering::Relaxed);
                rt.metrics.entries_read(entries.len());
                if let Some(last) = entries.last() {
                    rt.set_last_read(&last.id);
                }
                // Held before any is started, so the reclaim loop leaves the whole batch
                // alone while it waits for permits.
                let mut entries = rt.hold(entries);
                for e in &mut entries {
                    e.delivery_count = Some(1);
                }
                submit_all(&state, &rt, entries).await;
            }
            Err(e) if commands::is_nogroup(&e) => {
                if !recreate_group(&state, &rt).await {
                    state.pause(backoff.next_delay()).await;
                }
            }
            Err(e) => {
                rt.reading.store(false, Ordering::Relaxed);
                // A broken connection, or the slot moved / the master changed (`UNBLOCKED`,
                // `READONLY`, `MOVED`): read again on a new connection, after a pause.
                if needs_new_connection(&e) {
                    conn = None;
                }
                if is_topology_change(e.code()) {
                    // A switch, not an outage: look again soon, whatever came before.
                    backoff.reset();
                }
                let delay = backoff.next_delay();
                if is_topology_change(e.code()) {
                    tracing::info!(service, error = %e, ?delay, "redis topology changed; reading again on a new connection");
                } else {
                    tracing::error!(service, error = %e, ?delay, "redis consumer loop error");
                }
                state.pause(delay).await;
            }
        }
    }
}
