//! Broadcast subscriptions: each instance reads a publisher's event stream itself with a
//! plain `XREAD`, from the stream's end when it joined: no consumer group, no acks, no
//! retries. Every instance sees every event published while it runs, at most once.

use std::sync::Arc;

use clamator_protocol::envelope::parse_envelope;
use clamator_protocol::{Envelope, EventOutcome, Service};

use super::runtime::ServerState;
use crate::backoff::Backoff;
use crate::connection::{needs_new_connection, RedisConn, BLOCK};
use crate::keys;
use crate::stream::{commands, fields};

/// Events read per `XREAD`.
const READ_COUNT: usize = 256;

/// Reads and handles `events`' publisher's events until the server stops.
pub(crate) async fn broadcast_loop(state: Arc<ServerState>, events: Arc<Service>) {
    let publisher = events.name();
    let stream = keys::event_stream(&state.config.key_prefix, publisher);
    let mut conn: Option<RedisConn> = None;
    // Resolved to the stream's last id at the first read, so no event published between
    // two reads is missed (reading from `$` every time would).
    let mut last: Option<String> = None;
    let mut backoff = Backoff::new();
    loop {
        let c = match &mut conn {
            Some(c) => c,
            None => {
                let connected = tokio::select! {
                    () = state.stopping.cancelled() => return,
                    c = state.connector.dedicated() => c,
                };
                match connected {
                    Ok(c) => conn.insert(c),
                    Err(e) => {
                        let delay = backoff.next_delay();
                        tracing::error!(service = publisher, error = %e, ?delay, "broadcast reader cannot connect; retrying");
                        if !state.pause(delay).await {
                            return;
                        }
                        continue;
                    }
                }
            }
        };
        let after = match &last {
            Some(id) => id.clone(),
            None => match commands::last_id(c, &stream).await {
                Ok(id) => last.insert(id).clone(),
                Err(e) => {
                    if needs_new_connection(&e) {
                        conn = None;
                    }
                    let delay = backoff.next_delay();
                    tracing::warn!(service = publisher, error = %e, ?delay, "broadcast reader cannot find the stream's end");
                    if !state.pause(delay).await {
                        return;
                    }
                    continue;
                }
            },
        };
        let read = tokio::select! {
            () = state.stopping.cancelled() => return,
            r = commands::read_after(c, &stream, &after, READ_COUNT, BLOCK) => r,
        };
        match read {
            Ok(entries) => {
                backoff.reset();
                for entry in entries {
                    last = Some(entry.id.clone());
                    let Some(raw) = entry.field(fields::ENVELOPE) else {
                        continue;
                    };
                    let Ok(Envelope::Notification(n)) = parse_envelope(raw) else {
                        tracing::warn!(service = publisher, entry_id = %entry.id, "broadcast event without a notification envelope; skipped");
                        continue;
                    };
                    // A hung handler must not keep the server from stopping.
                    let handled = tokio::select! {
                        () = state.abort.cancelled() => return,
                        outcome = events.handle_event(&n.method, n.params) => outcome,
                    };
                    match handled {
                        EventOutcome::Handled | EventOutcome::Unknown => {}
                        EventOutcome::Invalid(e) | EventOutcome::Failed(e) => {
                            tracing::warn!(service = publisher, method = %n.method, entry_id = %entry.id, code = e.code, error = %e.message, "broadcast event not handled (at most once: not retried)");
                        }
                    }
                }
            }
            Err(e) => {
                if needs_new_connection(&e) {
                    conn = None;
                }
                let delay = backoff.next_delay();
                tracing::warn!(service = publisher, error = %e, ?delay, "broadcast read failed");
                if !state.pause(delay).await {
                    return;
                }
            }
        }
    }
}
