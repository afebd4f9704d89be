//! The reply side of a transport: the calls waiting for replies, and the one reader that
//! takes replies off this transport's stream, hands each to its call, and trims what it has
//! read.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use clamator_protocol::envelope::parse_envelope;
use clamator_protocol::{Envelope, Error, Response, RpcId};
use tokio::sync::oneshot;
use tokio_util::sync::CancellationToken;

use super::health::Health;
use crate::connection::{AtStop, BlockingReader, Connector, RedisConn, BLOCK};
use crate::stream::commands;
use crate::stream::{fields, StreamEntry, StreamId};

/// Replies read per `XREAD`.
const REPLY_READ_COUNT: usize = 512;

/// Calls waiting for replies. Closed at stop under the same lock, so no call can slip in
/// after the table was emptied and then wait for a reply that never comes.
#[derive(Default)]
pub(super) struct PendingTable {
    pub(super) closed: bool,
    pub(super) calls: HashMap<String, oneshot::Sender<Result<Response, Error>>>,
}

pub(super) type Pending = Arc<Mutex<PendingTable>>;

pub(super) fn lock(pending: &Pending) -> std::sync::MutexGuard<'_, PendingTable> {
    pending.lock().unwrap_or_else(PoisonError::into_inner)
}

/// Removes a call from the pending table when its future ends in any way, including being
/// dropped on timeout, so a late reply finds nobody and is dropped.
pub(super) struct PendingGuard<'a> {
    pub(super) pending: &'a Pending,
    pub(super) key: String,
}

impl Drop for PendingGuard<'_> {
    fn drop(&mut self) {
        lock(self.pending).calls.remove(&self.key);
    }
}

/// Reads this transport's reply stream and completes waiting calls, until stopped.
pub(super) async fn reply_loop(
    connector: Connector,
    manager: RedisConn,
    key: String,
    pending: Pending,
    stop: CancellationToken,
    health: Arc<Health>,
) {
    // Unlike the server's reads, this one may be dropped mid-flight at stop: the
    // connection goes with it and every call still waiting is failed anyway.
    let mut reader = BlockingReader::new(connector, stop, AtStop::CutShort, "reply reader", "");
    // From 0: replies written before this reader got going are never missed.
    let mut last_id = "0".to_owned();
    let mut progress = ReadProgress::new();
    loop {
        let after = last_id.as_str();
        let read = reader
            .read(async |c| commands::read_after(c, &key, after, REPLY_READ_COUNT, BLOCK).await)
            .await;
        match read {
            None => return,
            Some(Ok(entries)) => {
                health.up();
                let read = entries.len();
                for entry in entries {
                    deliver(&pending, &entry);
                    last_id = entry.id;
                }
                if progress.read(read) {
                    trim_read(&manager, &key, &last_id).await;
                }
            }
            Some(Err(e)) => {
                if e.is_outage() {
                    health.down();
                }
                if !reader.pause(&e).await {
                    return;
                }
            }
        }
    }
}

/// When the reader trims what it has read from its stream: every [`TRIM_EVERY`] replies, or
/// [`TRIM_AFTER`] after the last trim with some read. Servers bound reply streams only by age
/// (and a hard cap), so without this a busy transport's stream would hold minutes of
/// replies; a quiet one holds a few.
#[derive(Debug)]
struct ReadProgress {
    since_trim: usize,
    last_trim: Instant,
}

/// Replies read between two trims at most.
const TRIM_EVERY: usize = 256;

/// The longest a quiet transport waits before trimming what it read.
const TRIM_AFTER: Duration = Duration::from_secs(30);

impl ReadProgress {
    fn new() -> Self {
        Self {
            since_trim: 0,
            last_trim: Instant::now(),
        }
    }

    /// Counts `n` replies read; true when it is time to trim.
    fn read(&mut self, n: usize) -> bool {
        self.since_trim += n;
        let due = self.since_trim >= TRIM_EVERY
            || (self.since_trim > 0 && self.last_trim.elapsed() >= TRIM_AFTER);
        if due {
            self.since_trim = 0;
            self.last_trim = Instant::now();
        }
        due
    }
}

/// Removes every reply up to `last_read` from the stream: all of them have been read and
/// handed to their calls (stream ids only grow, so nothing unread is below it).
async fn trim_read(manager: &RedisConn, key: &str, last_read: &str) {
    let Some(read) = StreamId::parse(last_read) else {
        return;
    };
    let trimmed = commands::trim_below(&mut manager.clone(), key, &read.next().to_string()).await;
    if let Err(e) = trimmed {
        tracing::debug!(error = %e, "could not trim the replies already read");
    }
}

fn deliver(pending: &Pending, entry: &StreamEntry) {
    let Some(raw) = entry.field(fields::ENVELOPE) else {
        return;
    };
    let (key, outcome) = match parse_envelope(raw) {
        Ok(Envelope::Response(r)) => match r.id.as_ref().map(RpcId::key) {
            Some(key) => (key, Ok(r)),
            None => {
                tracing::warn!(entry_id = %entry.id, "reply without id; dropped");
                return;
            }
        },
        Ok(other) => {
            tracing::warn!(entry_id = %entry.id, kind = other.kind(), "non-response envelope on a reply stream; dropped");
            return;
        }
        Err(e) => {
            tracing::warn!(entry_id = %entry.id, error = %e, "redis reply parse failed");
            // A caller whose reply is garbled learns it now rather than at its timeout.
            match e.id.as_ref().map(RpcId::key) {
                Some(key) => (
                    key,
                    Err(Error::protocol_with("invalid response envelope", e)),
                ),
                None => return,
            }
        }
    };
    let waiter = lock(pending).calls.remove(&key);
    match waiter {
        Some(tx) => {
            let _ = tx.send(outcome);
        }
        None => {
            tracing::debug!(entry_id = %entry.id, rpc_id = %key, "reply for no waiting call (late, duplicate or foreign); dropped")
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_reader_trims_every_256_replies() {
        let mut p = ReadProgress::new();
        assert!(!p.read(0));
        assert!(!p.read(255));
        assert!(p.read(1));
        assert!(!p.read(10));
        p.last_trim -= TRIM_AFTER;
        assert!(p.read(1), "a quiet while with something read");
        assert!(!p.read(0));
    }
}
