//! The consumer loop: one per service, reading new entries with a blocking `XREADGROUP` on
//! a [reader](crate::connection::BlockingReader) of its own and handing them to
//! [entry tasks](super::entry).

use std::sync::atomic::Ordering;
use std::sync::Arc;

use super::entry::submit_all;
use super::groups::recreate_group;
use super::runtime::{ServerState, ServiceRuntime};
use crate::connection::{AtStop, BlockingReader, BLOCK};
use crate::stream::commands;

/// Reads until the server stops. A read in progress is never dropped: a read cut short
/// could have delivered entries to this consumer that nobody would see until they are
/// reclaimed.
pub(crate) async fn consume_loop(state: Arc<ServerState>, rt: Arc<ServiceRuntime>) {
    let mut reader = BlockingReader::new(
        state.connector.clone(),
        state.stopping.clone(),
        AtStop::Finish,
        "consumer loop",
        rt.name(),
    );
    let (consumer, count) = (rt.consumer(), rt.read_count);
    while let Some(read) = reader
        .read(async |c| commands::read_group(c, consumer, count, BLOCK).await)
        .await
    {
        match read {
            Ok(entries) => {
                rt.reading.store(true, Ordering::Relaxed);
                rt.metrics.entries_read(entries.len());
                if let Some(last) = entries.last() {
                    rt.note_delivered(&last.id);
                }
                // Held before any is started, so the reclaim loop leaves the whole batch
                // alone while it waits for permits.
                let mut entries = rt.hold(entries);
                for e in &mut entries {
                    e.delivery_count = Some(1);
                }
                submit_all(&state, &rt, entries).await;
            }
            Err(e) if e.redis().is_some_and(commands::is_nogroup) => {
                if !recreate_group(&state, &rt).await && !reader.back_off().await {
                    return;
                }
            }
            Err(e) => {
                rt.reading.store(false, Ordering::Relaxed);
                if !reader.pause(&e).await {
                    return;
                }
            }
        }
    }
}
