//! Broadcast subscriptions: each instance reads a publisher's event stream itself with a
//! plain `XREAD`, from the stream's end when it joined: no consumer group, no acks, no
//! retries. Every instance sees every event published while it runs, at most once.

use std::sync::Arc;

use clamator_protocol::envelope::parse_envelope;
use clamator_protocol::{Envelope, EventOutcome, Service};

use super::runtime::ServerState;
use crate::connection::{AtStop, BlockingReader, BLOCK};
use crate::keys;
use crate::stream::{commands, fields, StreamEntry};

/// Events read per `XREAD`.
const READ_COUNT: usize = 256;

/// Reads and handles `events`' publisher's events until the server stops.
pub(crate) async fn broadcast_loop(state: Arc<ServerState>, events: Arc<Service>) {
    let publisher = events.name();
    let stream = keys::event_stream(&state.config.key_prefix, publisher);
    let mut reader = BlockingReader::new(
        state.connector.clone(),
        state.stopping.clone(),
        AtStop::CutShort,
        "broadcast reader",
        publisher,
    );
    // Resolved to the stream's last id at the first read, so no event published between
    // two reads is missed (reading from `$` every time would).
    let mut last: Option<String> = None;
    let stream = stream.as_str();
    loop {
        let after = match &last {
            Some(id) => id.clone(),
            None => match reader
                .read(async |c| commands::last_id(c, stream).await)
                .await
            {
                None => return,
                Some(Ok(id)) => last.insert(id).clone(),
                Some(Err(e)) => {
                    if !reader.pause(&e).await {
                        return;
                    }
                    continue;
                }
            },
        };
        let read = reader
            .read(async |c| commands::read_after(c, stream, &after, READ_COUNT, BLOCK).await)
            .await;
        match read {
            None => return,
            Some(Ok(entries)) => {
                for entry in entries {
                    last = Some(entry.id.clone());
                    if !handle(&state, &events, entry).await {
                        return;
                    }
                }
            }
            Some(Err(e)) => {
                if !reader.pause(&e).await {
                    return;
                }
            }
        }
    }
}

/// Handles one broadcast event; false when the server aborts meanwhile (a hung handler must
/// not keep the server from stopping).
async fn handle(state: &ServerState, events: &Service, entry: StreamEntry) -> bool {
    let publisher = events.name();
    let Some(raw) = entry.field(fields::ENVELOPE) else {
        return true;
    };
    // Republished for one subscriber's group, not for every instance.
    if entry.field(fields::FOR_SUBSCRIBER).is_some() {
        return true;
    }
    let Ok(Envelope::Notification(n)) = parse_envelope(raw) else {
        tracing::warn!(service = publisher, entry_id = %entry.id, "broadcast event without a notification envelope; skipped");
        return true;
    };
    let handled = tokio::select! {
        () = state.abort.cancelled() => return false,
        outcome = events.handle_event(&n.method, n.params.into_value()) => outcome,
    };
    match handled {
        EventOutcome::Handled | EventOutcome::Unknown => {}
        EventOutcome::Invalid(e) | EventOutcome::Failed(e) => {
            tracing::warn!(service = publisher, method = %n.method, entry_id = %entry.id, code = e.code, error = %e.message, "broadcast event not handled (at most once: not retried)");
        }
    }
    true
}
