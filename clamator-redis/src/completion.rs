//! Batched replies and acks: the tail of every handled request.
//!
//! A handler's reply goes to the *reply writer*, which sends everything that has piled up
//! since its last round trip as one pipeline (`XADD` per reply, one `PEXPIRE` per reply
//! stream). Each entry whose reply Redis accepted then goes to the *acker*, which
//! acknowledges everything that has piled up as one `XACK` per service. So an entry is
//! acknowledged only after Redis confirmed its reply, as before, while a busy server makes
//! two round trips per batch instead of two per request, and a handler's successor starts
//! while its reply is still on the wire: the service's permit is released when the handler
//! returns, not when the ack comes back.
//!
//! Reply and ack are never in one pipeline: an `XACK` queued behind a failed `XADD` would
//! still run, and the caller would wait for a reply that never comes. They are never in one
//! `MULTI` or script either: the reply stream and the command stream may live on different
//! cluster shards.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use redis::aio::ConnectionManager;
use tokio::sync::{mpsc, oneshot};

use crate::server::ServiceRuntime;

/// At most this many replies or acks go out in one pipeline.
const MAX_BATCH: usize = 256;

/// What became of one completion.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Outcome {
    /// Reply written (when there was one) and entry acknowledged.
    Acked,
    /// The reply could not be written; the entry stays pending, to be reclaimed and run again.
    ReplyFailed,
    /// The reply was written but the ack failed; the entry will be redelivered.
    AckFailed,
}

/// One handled entry on its way out.
pub(crate) struct Completion {
    pub(crate) rt: Arc<ServiceRuntime>,
    pub(crate) entry_id: String,
    pub(crate) method: String,
    pub(crate) rpc_id: String,
    /// `(reply stream, response JSON)`, or none for a notification, a request without a
    /// reply stream, or an entry acknowledged unanswered.
    pub(crate) reply: Option<(String, String)>,
    /// Acknowledge even when the reply cannot be written: for entries already recorded in
    /// the dead-letter stream or refused for good, which a redelivery would only record or
    /// refuse again.
    pub(crate) ack_without_reply: bool,
}

/// A queued completion's outcome, to wait for.
pub(crate) struct Waiting(Option<oneshot::Receiver<Outcome>>);

impl Waiting {
    /// Resolves once the reply and the ack are done, or one of them failed.
    pub(crate) async fn outcome(self) -> Outcome {
        match self.0 {
            Some(rx) => rx.await.unwrap_or(Outcome::ReplyFailed),
            None => Outcome::ReplyFailed,
        }
    }
}

/// A completion in a queue, with the entry task waiting for its outcome.
struct Queued {
    c: Completion,
    done: oneshot::Sender<Outcome>,
}

impl Queued {
    fn finish(self, outcome: Outcome) {
        // The entry task may be gone (its server dropped); nothing waits for the outcome then.
        let _ = self.done.send(outcome);
    }
}

/// The two channels into the writer and the acker.
#[derive(Clone)]
pub(crate) struct Completer {
    replies: mpsc::UnboundedSender<Queued>,
    acks: mpsc::UnboundedSender<Queued>,
}

/// How the reply writer writes.
pub(crate) struct WriterSettings {
    pub(crate) reply_stream_maxlen: usize,
    pub(crate) reply_stream_ttl: Duration,
    pub(crate) fault_abort_after_reply_once: Option<PathBuf>,
}

impl Completer {
    /// Starts the writer and the acker. They end once every `Completer` clone is dropped
    /// and what was sent before has been written.
    pub(crate) fn start(manager: ConnectionManager, settings: WriterSettings) -> Self {
        let (replies, replies_rx) = mpsc::unbounded_channel();
        let (acks, acks_rx) = mpsc::unbounded_channel();
        tokio::spawn(reply_writer(
            manager.clone(),
            settings,
            replies_rx,
            acks.clone(),
        ));
        tokio::spawn(acker(manager, acks_rx));
        Self { replies, acks }
    }

    /// Queues the completion: its reply (if any) is written, then its entry acknowledged.
    /// Completions queued one after another have their replies written in that order.
    pub(crate) fn enqueue(&self, completion: Completion) -> Waiting {
        let (done, rx) = oneshot::channel();
        let queue = if completion.reply.is_some() {
            &self.replies
        } else {
            &self.acks
        };
        match queue.send(Queued {
            c: completion,
            done,
        }) {
            Ok(()) => Waiting(Some(rx)),
            Err(mpsc::error::SendError(q)) => {
                // The server is gone as a whole; the entry stays pending for another one.
                tracing::error!(service = q.c.rt.service.name(), entry_id = %q.c.entry_id, "reply writer has stopped; entry left pending");
                Waiting(None)
            }
        }
    }

    /// [`enqueue`](Self::enqueue) and wait for the outcome.
    pub(crate) async fn complete(&self, completion: Completion) -> Outcome {
        self.enqueue(completion).outcome().await
    }
}

/// Takes one waiting item, then whatever else is already queued, up to [`MAX_BATCH`].
async fn next_batch(rx: &mut mpsc::UnboundedReceiver<Queued>) -> Option<Vec<Queued>> {
    let first = rx.recv().await?;
    let mut batch = Vec::with_capacity(rx.len().min(MAX_BATCH - 1) + 1);
    batch.push(first);
    while batch.len() < MAX_BATCH {
        match rx.try_recv() {
            Ok(c) => batch.push(c),
            Err(_) => break,
        }
    }
    Some(batch)
}

async fn reply_writer(
    manager: ConnectionManager,
    settings: WriterSettings,
    mut rx: mpsc::UnboundedReceiver<Queued>,
    acks: mpsc::UnboundedSender<Queued>,
) {
    let ttl_ms = u64::try_from(settings.reply_stream_ttl.as_millis()).unwrap_or(u64::MAX);
    while let Some(batch) = next_batch(&mut rx).await {
        let mut pipe = redis::pipe();
        pipe.ignore_errors();
        let mut streams: Vec<String> = Vec::new();
        for q in &batch {
            let Some((to, json)) = &q.c.reply else {
                continue;
            };
            pipe.cmd("XADD")
                .arg(to)
                .arg("MAXLEN")
                .arg("~")
                .arg(settings.reply_stream_maxlen)
                .arg("*")
                .arg("type")
                .arg("rpc")
                .arg("envelope")
                .arg(json);
            if !streams.contains(to) {
                streams.push(to.clone());
            }
        }
        // One TTL refresh per reply stream and batch: a stream re-created by a late reply
        // after its client left still expires.
        for to in &streams {
            pipe.cmd("PEXPIRE").arg(to).arg(ttl_ms);
        }
        let written: redis::RedisResult<Vec<redis::RedisResult<redis::Value>>> =
            pipe.query_async(&mut manager.clone()).await;
        let results = match written {
            Ok(results) => results,
            Err(e) => {
                for q in batch {
                    reply_failed(q, &e, &acks);
                }
                continue;
            }
        };
        let mut results = results.into_iter();
        for q in batch {
            if q.c.reply.is_none() {
                // Only entries with a reply have a result; the others go straight on.
                forward(q, &acks);
                continue;
            }
            // A reply without a result counts as failed: never ack what may be unanswered.
            match results.next() {
                Some(Ok(_)) => {
                    if let Some(marker) = &settings.fault_abort_after_reply_once {
                        fault_abort_after_reply(marker);
                    }
                    forward(q, &acks);
                }
                Some(Err(e)) => reply_failed(q, &e, &acks),
                None => reply_failed(
                    q,
                    &redis::RedisError::from((
                        redis::ErrorKind::Client,
                        "pipeline returned fewer results than commands",
                    )),
                    &acks,
                ),
            }
        }
        for (to, result) in streams.iter().zip(results) {
            if let Err(e) = result {
                tracing::warn!(reply_stream = %to, error = %e, "could not set the reply stream's TTL");
            }
        }
    }
}

fn forward(q: Queued, acks: &mpsc::UnboundedSender<Queued>) {
    if let Err(mpsc::error::SendError(q)) = acks.send(q) {
        q.finish(Outcome::AckFailed);
    }
}

/// Not acknowledged: the entry is reclaimed and the handler runs again, rather than the
/// caller never hearing back (unless the entry is dead-lettered already).
fn reply_failed(q: Queued, e: &redis::RedisError, acks: &mpsc::UnboundedSender<Queued>) {
    let c = &q.c;
    if c.ack_without_reply {
        tracing::warn!(service = c.rt.service.name(), rpc_id = %c.rpc_id, entry_id = %c.entry_id, error = %e, "could not answer a dead-lettered or refused entry; acknowledging it anyway");
        forward(q, acks);
        return;
    }
    tracing::error!(service = c.rt.service.name(), method = %c.method, rpc_id = %c.rpc_id, entry_id = %c.entry_id, error = %e, "reply XADD failed; entry left pending");
    q.finish(Outcome::ReplyFailed);
}

async fn acker(manager: ConnectionManager, mut rx: mpsc::UnboundedReceiver<Queued>) {
    while let Some(batch) = next_batch(&mut rx).await {
        // One XACK per service (stream and group) in the batch, in first-seen order.
        let mut groups: Vec<(Arc<ServiceRuntime>, Vec<Queued>)> = Vec::new();
        for q in batch {
            match groups.iter_mut().find(|(rt, _)| Arc::ptr_eq(rt, &q.c.rt)) {
                Some((_, members)) => members.push(q),
                None => groups.push((Arc::clone(&q.c.rt), vec![q])),
            }
        }
        let mut pipe = redis::pipe();
        pipe.ignore_errors();
        for (rt, members) in &groups {
            let cmd = pipe.cmd("XACK").arg(&rt.stream).arg(&rt.group);
            for q in members {
                cmd.arg(&q.c.entry_id);
            }
        }
        let acked: redis::RedisResult<Vec<redis::RedisResult<i64>>> =
            pipe.query_async(&mut manager.clone()).await;
        let mut results = match acked {
            Ok(results) => results.into_iter().map(|r| r.err()),
            Err(e) => {
                for (rt, members) in groups {
                    tracing::error!(service = rt.service.name(), entries = members.len(), error = %e, "XACK failed; the entries will be redelivered");
                    for q in members {
                        q.finish(Outcome::AckFailed);
                    }
                }
                continue;
            }
        };
        for (rt, members) in groups {
            let outcome = match results.next() {
                Some(None) => Outcome::Acked,
                Some(Some(e)) => {
                    tracing::error!(service = rt.service.name(), entries = members.len(), error = %e, "XACK failed; the entries will be redelivered");
                    Outcome::AckFailed
                }
                None => {
                    tracing::error!(
                        service = rt.service.name(),
                        entries = members.len(),
                        "no XACK result; the entries may be redelivered"
                    );
                    Outcome::AckFailed
                }
            };
            for q in members {
                q.finish(outcome);
            }
        }
    }
}

/// The hidden fault-injection hook of the exactly-once tests: a crash between reply and ack.
fn fault_abort_after_reply(marker: &std::path::Path) {
    if std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .open(marker)
        .is_ok()
    {
        tracing::error!("fault injection: aborting between reply and ack");
        std::process::abort();
    }
}
