//! Batched replies and acks: the tail of every handled request.
//!
//! A handler's reply goes to the *reply writer*, which sends everything that has piled up
//! since its last round trip as one pipeline (an `XADD` per reply, capped far above any
//! burst). Each entry whose reply Redis accepted then goes to the *acker*, which
//! acknowledges everything that has piled up as one `XACK` per service and, in the same
//! round trip, keeps each reply stream just written to: `XTRIM MINID ~` of replies older than
//! the retention, and `PEXPIRE`. A key Redis refused a reply for gets neither. So an entry is
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

use tokio::sync::{mpsc, oneshot};

use crate::connection::{Connector, RedisConn, Writer};
use crate::log_limit::LogLimit;
use crate::stream::commands::{self, ReplyLimits};

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

/// Where an entry is acknowledged: its service's command stream and consumer group.
#[derive(Debug, PartialEq, Eq)]
pub(crate) struct AckTarget {
    /// The service's name, for logs.
    pub(crate) service: String,
    pub(crate) stream: String,
    pub(crate) group: String,
}

/// A response to write to a caller's reply stream.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Reply {
    /// The caller's reply stream.
    pub(crate) to: String,
    /// The response envelope.
    pub(crate) json: String,
}

/// What a completion writes before its entry is acknowledged.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Finish {
    /// Nothing: a notification, an expired request, a request without a reply stream.
    Ack,
    /// A reply; the entry is acknowledged only once Redis accepted it, else it stays
    /// pending and runs again.
    Reply(Reply),
    /// A reply if it can be written, and the ack regardless: for entries already recorded
    /// in the dead-letter stream or refused for good, which a redelivery would only record
    /// or refuse again.
    ReplyBestEffort(Reply),
}

impl Finish {
    fn reply(&self) -> Option<&Reply> {
        match self {
            Self::Ack => None,
            Self::Reply(r) | Self::ReplyBestEffort(r) => Some(r),
        }
    }
}

/// One handled entry on its way out.
pub(crate) struct Completion {
    pub(crate) target: Arc<AckTarget>,
    pub(crate) entry_id: String,
    /// For logs: the method and the request id, empty when unknown.
    pub(crate) method: String,
    pub(crate) rpc_id: String,
    pub(crate) finish: Finish,
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
    /// Set by the writer once Redis accepted the reply: the acker then keeps the reply
    /// stream (age trim and TTL). Never for a stream that was not written to.
    written: bool,
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
    pub(crate) limits: ReplyLimits,
    pub(crate) fault_abort_after_reply_once: Option<PathBuf>,
}

impl Completer {
    /// Starts the writer and the acker. They end once every `Completer` clone is dropped
    /// and what was sent before has been written.
    /// Each loop writes over a connection of its own where it can ([`Writer`]), else over
    /// `manager`.
    pub(crate) fn start(
        connector: &Connector,
        manager: RedisConn,
        settings: WriterSettings,
    ) -> Self {
        let (replies, replies_rx) = mpsc::unbounded_channel();
        let (acks, acks_rx) = mpsc::unbounded_channel();
        let settings_limits = settings.limits;
        tokio::spawn(reply_writer(
            Writer::new(connector.clone(), manager.clone()),
            settings,
            replies_rx,
            acks.clone(),
        ));
        tokio::spawn(acker(
            Writer::new(connector.clone(), manager),
            settings_limits,
            acks_rx,
        ));
        Self { replies, acks }
    }

    /// Queues the completion: its reply (if any) is written, then its entry acknowledged.
    /// Completions queued one after another have their replies written in that order.
    pub(crate) fn enqueue(&self, completion: Completion) -> Waiting {
        let (done, rx) = oneshot::channel();
        let queue = if completion.finish.reply().is_some() {
            &self.replies
        } else {
            &self.acks
        };
        match queue.send(Queued {
            c: completion,
            done,
            written: false,
        }) {
            Ok(()) => Waiting(Some(rx)),
            Err(mpsc::error::SendError(q)) => {
                // The server is gone as a whole; the entry stays pending for another one.
                tracing::error!(service = %q.c.target.service, entry_id = %q.c.entry_id, "reply writer has stopped; entry left pending");
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
    mut writer: Writer,
    settings: WriterSettings,
    mut rx: mpsc::UnboundedReceiver<Queued>,
    acks: mpsc::UnboundedSender<Queued>,
) {
    while let Some(batch) = next_batch(&mut rx).await {
        let mut pipe = redis::pipe();
        pipe.ignore_errors();
        for reply in batch.iter().filter_map(|q| q.c.finish.reply()) {
            commands::push_reply(&mut pipe, &reply.to, settings.limits, &reply.json);
        }
        let written: redis::RedisResult<Vec<redis::RedisResult<redis::Value>>> =
            writer.query(&pipe).await;
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
        for mut q in batch {
            if q.c.finish.reply().is_none() {
                // Only entries with a reply have a result; the others go straight on.
                forward(q, &acks);
                continue;
            }
            // A reply without a result counts as failed: never ack what may be unanswered.
            match results.next() {
                Some(Ok(_)) => {
                    if let Some(marker) = &settings.fault_abort_after_reply_once {
                        fault_abort_once(marker, "between reply and ack");
                    }
                    q.written = true;
                    forward(q, &acks);
                }
                // A reply that can never be written (the key is not a stream): running the
                // handler again would not change that, so the entry is acknowledged.
                Some(Err(e)) if is_wrongtype(&e) => {
                    tracing::error!(reply_stream = %q.c.finish.reply().map_or("", |r| r.to.as_str()), error = %e, "reply-to names a key that is not a stream; the reply can never be written");
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
    }
}

/// The reply streams written to in a batch, each once, in first-seen order.
fn written_streams(batch: &[(Arc<AckTarget>, Vec<Queued>)]) -> Vec<&str> {
    let mut streams: Vec<&str> = Vec::new();
    for q in batch.iter().flat_map(|(_, members)| members) {
        if let (true, Some(reply)) = (q.written, q.c.finish.reply()) {
            if !streams.contains(&reply.to.as_str()) {
                streams.push(&reply.to);
            }
        }
    }
    streams
}

fn is_wrongtype(e: &redis::RedisError) -> bool {
    e.code() == Some("WRONGTYPE")
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
    if matches!(c.finish, Finish::ReplyBestEffort(_)) {
        tracing::warn!(service = %c.target.service, rpc_id = %c.rpc_id, entry_id = %c.entry_id, error = %e, "could not answer a dead-lettered or refused entry; acknowledging it anyway");
        forward(q, acks);
        return;
    }
    crate::instruments::reply_write_failed(&c.target.service);
    // Under a lasting failure (Redis out of memory) every reply fails the same way.
    static FAILURES: LogLimit = LogLimit::new(std::time::Duration::from_secs(10));
    if let Some(held_back) = FAILURES.admit() {
        tracing::error!(service = %c.target.service, method = %c.method, rpc_id = %c.rpc_id, entry_id = %c.entry_id, error = %e, held_back, "reply XADD failed; entry left pending");
    }
    q.finish(Outcome::ReplyFailed);
}

async fn acker(mut writer: Writer, limits: ReplyLimits, mut rx: mpsc::UnboundedReceiver<Queued>) {
    while let Some(batch) = next_batch(&mut rx).await {
        let groups = group_by_target(batch);
        let mut pipe = redis::pipe();
        pipe.ignore_errors();
        for (target, members) in &groups {
            commands::push_ack(
                &mut pipe,
                &target.stream,
                &target.group,
                members.iter().map(|q| q.c.entry_id.as_str()),
            );
        }
        // Riding on this round trip: the upkeep of every reply stream just written to.
        for to in written_streams(&groups) {
            commands::push_upkeep(&mut pipe, to, limits);
        }
        let acked: redis::RedisResult<Vec<redis::RedisResult<i64>>> = writer.query(&pipe).await;
        let mut results = match acked {
            Ok(results) => results.into_iter().map(|r| r.err()),
            Err(e) => {
                for (target, members) in groups {
                    tracing::error!(service = %target.service, entries = members.len(), error = %e, "XACK failed; the entries will be redelivered");
                    for q in members {
                        q.finish(Outcome::AckFailed);
                    }
                }
                continue;
            }
        };
        for (target, members) in groups {
            let outcome = match results.next() {
                Some(None) => Outcome::Acked,
                Some(Some(e)) => {
                    tracing::error!(service = %target.service, entries = members.len(), error = %e, "XACK failed; the entries will be redelivered");
                    Outcome::AckFailed
                }
                None => {
                    tracing::error!(
                        service = %target.service,
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

/// Splits a batch by stream and group (one `XACK` each), in first-seen order.
fn group_by_target(batch: Vec<Queued>) -> Vec<(Arc<AckTarget>, Vec<Queued>)> {
    let mut groups: Vec<(Arc<AckTarget>, Vec<Queued>)> = Vec::new();
    for q in batch {
        match groups.iter_mut().find(|(t, _)| Arc::ptr_eq(t, &q.c.target)) {
            Some((_, members)) => members.push(q),
            None => groups.push((Arc::clone(&q.c.target), vec![q])),
        }
    }
    groups
}

/// The hidden fault-injection hook of the exactly-once tests: a crash `when` (between a
/// reply and its ack, or between an event's handler and its ack), once: the marker file it
/// creates first keeps a restarted process from crashing again.
pub(super) fn fault_abort_once(marker: &std::path::Path, when: &str) {
    if std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .open(marker)
        .is_ok()
    {
        tracing::error!("fault injection: aborting {when}");
        std::process::abort();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn target(service: &str) -> Arc<AckTarget> {
        Arc::new(AckTarget {
            service: service.to_owned(),
            stream: format!("p:cmds:{service}"),
            group: service.to_owned(),
        })
    }

    fn queued(
        target: &Arc<AckTarget>,
        id: &str,
        finish: Finish,
    ) -> (Queued, oneshot::Receiver<Outcome>) {
        let (done, rx) = oneshot::channel();
        let c = Completion {
            target: Arc::clone(target),
            entry_id: id.to_owned(),
            method: String::new(),
            rpc_id: String::new(),
            finish,
        };
        (
            Queued {
                c,
                done,
                written: false,
            },
            rx,
        )
    }

    fn reply(to: &str) -> Reply {
        Reply {
            to: to.to_owned(),
            json: "{}".to_owned(),
        }
    }

    #[test]
    fn only_streams_just_written_to_are_kept_each_once() {
        let t = target("a");
        let written = [true, false, false, true, true];
        let batch: Vec<Queued> = [
            Finish::Reply(reply("r:1")),
            Finish::Ack,
            Finish::Reply(reply("r:2")),
            Finish::Reply(reply("r:1")),
            Finish::ReplyBestEffort(reply("r:3")),
        ]
        .into_iter()
        .zip(written)
        .enumerate()
        .map(|(i, (f, w))| {
            let mut q = queued(&t, &format!("{i}-0"), f).0;
            q.written = w;
            q
        })
        .collect();
        // r:2's reply failed: no TTL, no trim for a key that was not written to.
        assert_eq!(written_streams(&group_by_target(batch)), vec!["r:1", "r:3"]);
    }

    #[test]
    fn acks_are_grouped_per_stream_in_first_seen_order() {
        let (a, b) = (target("a"), target("b"));
        let batch = vec![
            queued(&a, "1-0", Finish::Ack).0,
            queued(&b, "2-0", Finish::Ack).0,
            queued(&a, "3-0", Finish::Ack).0,
        ];
        let groups = group_by_target(batch);
        let shape: Vec<(&str, Vec<&str>)> = groups
            .iter()
            .map(|(t, m)| {
                (
                    t.service.as_str(),
                    m.iter().map(|q| q.c.entry_id.as_str()).collect(),
                )
            })
            .collect();
        assert_eq!(shape, vec![("a", vec!["1-0", "3-0"]), ("b", vec!["2-0"])]);
    }

    #[test]
    fn best_effort_replies_are_acknowledged_even_when_the_reply_fails() {
        let t = target("a");
        let (acks, mut acks_rx) = mpsc::unbounded_channel();
        let error = redis::RedisError::from((redis::ErrorKind::Client, "down"));
        let (strict, strict_rx) = queued(&t, "1-0", Finish::Reply(reply("r:1")));
        reply_failed(strict, &error, &acks);
        let (lenient, _lenient_rx) = queued(&t, "2-0", Finish::ReplyBestEffort(reply("r:1")));
        reply_failed(lenient, &error, &acks);
        // The strict one is finished as failed, never acknowledged; the other goes on to the acker.
        assert_eq!(strict_rx.blocking_recv(), Ok(Outcome::ReplyFailed));
        let forwarded = acks_rx.try_recv().map(|q| q.c.entry_id);
        assert_eq!(forwarded.as_deref(), Ok("2-0"));
        assert!(acks_rx.try_recv().is_err());
    }
}
