//! The Redis server transport: consumer groups, the consumer loop, acks, and stop.
//!
//! Per service, a server runs a consumer loop (`XREADGROUP … COUNT n BLOCK 1000` on a
//! dedicated connection, `n` being the concurrency but at least clamator's 16) and a
//! [reclaim loop](crate::reclaim). Each entry is handled on its own task holding one of the
//! service's `concurrency` permits while its handler runs; with the default of one permit,
//! handlers run strictly one after another in stream order, clamator's in-order invariant.
//! Replies and acks go out in batches through the [completer](crate::completion); an entry
//! is acknowledged only after Redis accepted its reply.

use std::collections::HashSet;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;
use std::time::SystemTime;

use clamator_protocol::context::{self, CallContext};
use clamator_protocol::envelope::{encode_error, parse_envelope, recover_id};
use clamator_protocol::{Envelope, Error, RpcError, RpcId, Service};
use redis::aio::{ConnectionManager, MultiplexedConnection};
use tokio::sync::{OwnedSemaphorePermit, Semaphore};
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use crate::backoff::Backoff;
use crate::completion::{Completer, Completion, WriterSettings};
use crate::config::ServerConfig;
use crate::connection::{is_connection_error, Connector, BLOCK};
use crate::deadline;
use crate::dlq;
use crate::idempotency;
use crate::keys;
use crate::reclaim;
use crate::stream::{self, StreamEntry};

/// Entries read per `XREADGROUP` at least (clamator's count), and at most.
const READ_COUNT: (usize, usize) = (16, 256);

/// What one service runs with.
pub(crate) struct ServiceRuntime {
    pub(crate) service: Arc<Service>,
    pub(crate) stream: String,
    pub(crate) group: String,
    pub(crate) consumer: String,
    /// `<prefix>:dlq:<service>`.
    pub(crate) dlq: String,
    pub(crate) permits: Arc<Semaphore>,
    /// Entries started and not yet finished (handler running, or reply and ack still on
    /// their way): `concurrency + 4 × read_count`. Handlers give their permit back before
    /// the reply is written, so without this bound a Redis slower than the handlers would
    /// let handled-but-unacknowledged entries pile up.
    pub(crate) unfinished: Arc<Semaphore>,
    /// `COUNT` of the consumer loop's reads: the concurrency, within [`READ_COUNT`], so a
    /// busy concurrent service fills its permits in one round trip.
    pub(crate) read_count: usize,
    /// Entries this server has taken and not finished: the reclaim loop must not claim
    /// them again from under their handler.
    pub(crate) held: Mutex<HashSet<String>>,
    /// The newest entry the consumer loop read, where a vanished group is re-created.
    pub(crate) last_read: Mutex<Option<String>>,
}

impl ServiceRuntime {
    /// Marks `entries` as held by this server, dropping any it already holds.
    pub(crate) fn hold(&self, entries: Vec<StreamEntry>) -> Vec<StreamEntry> {
        let mut held = self.held.lock().unwrap_or_else(PoisonError::into_inner);
        entries
            .into_iter()
            .filter(|e| held.insert(e.id.clone()))
            .collect()
    }

    fn release(&self, id: &str) {
        self.held
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .remove(id);
    }
}

/// Releases a held entry, and its place among the service's unfinished entries, however
/// its task ends.
struct Held {
    rt: Arc<ServiceRuntime>,
    id: String,
    _unfinished: OwnedSemaphorePermit,
}

impl Drop for Held {
    fn drop(&mut self) {
        self.rt.release(&self.id);
    }
}

/// State shared by all loops and entry tasks of one server.
pub(crate) struct Shared {
    pub(crate) config: ServerConfig,
    pub(crate) connector: Connector,
    pub(crate) manager: ConnectionManager,
    pub(crate) reply_prefix: String,
    /// Cancelled by `stop`: read nothing more.
    pub(crate) stopping: CancellationToken,
    /// Cancelled when the grace period is over: abandon in-flight handlers, unacknowledged.
    pub(crate) abort: CancellationToken,
    pub(crate) tasks: TaskTracker,
    pub(crate) counters: Counters,
    /// `service.method` names run exactly once (besides `config.exactly_once`).
    pub(crate) exactly_once: HashSet<String>,
    /// Writes replies and acks in batches.
    pub(crate) completer: Completer,
}

/// Running totals, read through [`RedisServer::stats`].
#[derive(Debug, Default)]
pub(crate) struct Counters {
    pub(crate) handled: AtomicU64,
    pub(crate) expired: AtomicU64,
    pub(crate) reclaimed: AtomicU64,
    pub(crate) malformed: AtomicU64,
    pub(crate) dead_lettered: AtomicU64,
}

impl Counters {
    pub(crate) fn bump(counter: &AtomicU64) {
        counter.fetch_add(1, Ordering::Relaxed);
    }
}

/// What a server has done since it started.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct ServerStats {
    /// Requests and notifications handed to a handler.
    pub handled: u64,
    /// Requests skipped because their deadline had passed.
    pub expired: u64,
    /// Entries taken over from other consumers.
    pub reclaimed: u64,
    /// Malformed or refused entries (acknowledged without running a handler).
    pub malformed: u64,
    /// Entries moved to the dead-letter stream.
    pub dead_lettered: u64,
}

/// Builds a [`RedisServer`]: add services, then [`start`](Self::start).
pub struct ServerBuilder {
    config: ServerConfig,
    services: Vec<(Service, usize)>,
    exactly_once: HashSet<String>,
}

impl std::fmt::Debug for ServerBuilder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ServerBuilder")
            .field("config", &self.config)
            .field(
                "services",
                &self
                    .services
                    .iter()
                    .map(|(s, n)| (s.name(), n))
                    .collect::<Vec<_>>(),
            )
            .finish()
    }
}

impl ServerBuilder {
    /// Serves `service` one request at a time, in stream order (clamator's invariant).
    #[must_use]
    pub fn service(self, service: Service) -> Self {
        self.service_with_concurrency(service, 1)
    }

    /// Serves `service` with up to `concurrency` handlers running at once; each entry is
    /// acknowledged after its own reply. Order is no longer guaranteed when above 1.
    ///
    /// A handler's permit is given back when it returns, while its reply and ack are still
    /// being written; at most `concurrency + 4 × read COUNT` entries of the service are
    /// unfinished at any time (the read COUNT is `concurrency`, at least 16, at most 256).
    #[must_use]
    pub fn service_with_concurrency(mut self, service: Service, concurrency: usize) -> Self {
        self.services.push((service, concurrency));
        self
    }

    /// Runs requests of `service.method` exactly once (see [`ServerConfig::exactly_once`],
    /// which turns it on for every method).
    #[must_use]
    pub fn exactly_once_method(mut self, service: &str, method: &str) -> Self {
        self.exactly_once.insert(format!("{service}.{method}"));
        self
    }

    /// Connects, creates each service's consumer group (at `$`, with `MKSTREAM`, as clamator
    /// does), and starts the loops. Fails when Redis is unreachable, when there are no
    /// services, on a duplicate service, or on a concurrency of 0.
    pub async fn start(self) -> Result<RedisServer, Error> {
        if self.services.is_empty() {
            return Err(Error::InvalidArgument(
                "a server needs at least one service".into(),
            ));
        }
        let mut seen = std::collections::HashSet::new();
        for (s, n) in &self.services {
            if !seen.insert(s.name().to_owned()) {
                return Err(Error::InvalidArgument(format!(
                    "service \"{}\" already registered on this server",
                    s.name()
                )));
            }
            if *n == 0 {
                return Err(Error::InvalidArgument(format!(
                    "concurrency of service \"{}\" must be at least 1",
                    s.name()
                )));
            }
        }
        let connector = Connector::new(&self.config.connection)?;
        let manager = connector.manager().await?;
        let prefix = self.config.key_prefix.clone();
        let instance = self.config.instance_id.clone();
        let completer = Completer::start(
            manager.clone(),
            WriterSettings {
                reply_stream_maxlen: self.config.reply_stream_maxlen,
                reply_stream_ttl: self.config.reply_stream_ttl,
                fault_abort_after_reply_once: self.config.fault_abort_after_reply_once.clone(),
            },
        );
        let shared = Arc::new(Shared {
            completer,
            reply_prefix: keys::reply_stream_prefix(&prefix),
            config: self.config,
            connector,
            manager,
            stopping: CancellationToken::new(),
            abort: CancellationToken::new(),
            tasks: TaskTracker::new(),
            counters: Counters::default(),
            exactly_once: self.exactly_once,
        });
        let mut runtimes = Vec::new();
        for (service, concurrency) in self.services {
            let rt = Arc::new(ServiceRuntime {
                stream: keys::command_stream(&prefix, service.name()),
                group: keys::consumer_group_name(service.name()),
                consumer: keys::consumer_name(service.name(), &instance),
                dlq: keys::dead_letter_stream(&prefix, service.name()),
                service: Arc::new(service),
                permits: Arc::new(Semaphore::new(concurrency)),
                unfinished: Arc::new(Semaphore::new(
                    concurrency + 4 * concurrency.clamp(READ_COUNT.0, READ_COUNT.1),
                )),
                read_count: concurrency.clamp(READ_COUNT.0, READ_COUNT.1),
                held: Mutex::new(HashSet::new()),
                last_read: Mutex::new(None),
            });
            ensure_group(&shared.manager, &rt, "$").await?;
            runtimes.push(rt);
        }
        let loops = TaskTracker::new();
        for rt in &runtimes {
            loops.spawn(consume_loop(Arc::clone(&shared), Arc::clone(rt)));
            loops.spawn(reclaim::reclaim_loop(Arc::clone(&shared), Arc::clone(rt)));
            loops.spawn(reclaim::lease_loop(Arc::clone(&shared), Arc::clone(rt)));
            loops.spawn(crate::housekeeping::housekeeping_loop(
                Arc::clone(&shared),
                Arc::clone(rt),
            ));
        }
        loops.close();
        tracing::info!(
            instance_id = %instance,
            services = ?runtimes.iter().map(|r| r.service.name()).collect::<Vec<_>>(),
            redis = %shared.connector.display_url(),
            "clamator server started"
        );
        Ok(RedisServer {
            shared,
            loops,
            services: runtimes,
        })
    }
}

/// A running server. Stop it with [`stop`](Self::stop); dropping it stops it abruptly
/// (handlers still running are abandoned unacknowledged and reclaimed elsewhere later;
/// replies already handed to the reply writer are still written and acknowledged while
/// the runtime lives).
///
/// ```no_run
/// # async fn run() -> Result<(), clamator_protocol::Error> {
/// use clamator_protocol::{RpcError, Service};
/// use clamator_redis::{RedisServer, ServerConfig};
/// use serde_json::Value;
///
/// let echo = Service::builder("echo")
///     .method("say", |p: Value| async move { Ok::<_, RpcError>(p) })
///     .build()?;
/// let server = RedisServer::builder(ServerConfig::new("app")).service(echo).start().await?;
/// // ... serve until told to stop ...
/// server.stop().await;
/// # Ok(()) }
/// ```
pub struct RedisServer {
    shared: Arc<Shared>,
    loops: TaskTracker,
    services: Vec<Arc<ServiceRuntime>>,
}

impl std::fmt::Debug for RedisServer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RedisServer")
            .field("instance_id", &self.shared.config.instance_id)
            .field(
                "services",
                &self
                    .services
                    .iter()
                    .map(|r| r.service.name())
                    .collect::<Vec<_>>(),
            )
            .finish()
    }
}

/// How a [`RedisServer::stop`] went.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct StopReport {
    /// True when every in-flight entry finished (handler, reply and ack) within the grace
    /// period.
    pub drained: bool,
}

impl RedisServer {
    /// Starts building a server with `config`.
    pub fn builder(config: ServerConfig) -> ServerBuilder {
        ServerBuilder {
            config,
            services: Vec::new(),
            exactly_once: HashSet::new(),
        }
    }

    /// This server's instance id.
    pub fn instance_id(&self) -> &str {
        &self.shared.config.instance_id
    }

    /// What this server has done since it started.
    pub fn stats(&self) -> ServerStats {
        let c = &self.shared.counters;
        ServerStats {
            handled: c.handled.load(Ordering::Relaxed),
            expired: c.expired.load(Ordering::Relaxed),
            reclaimed: c.reclaimed.load(Ordering::Relaxed),
            malformed: c.malformed.load(Ordering::Relaxed),
            dead_lettered: c.dead_lettered.load(Ordering::Relaxed),
        }
    }

    /// Stops gracefully: reads nothing more (a blocking read in progress returns within its
    /// 1 s `BLOCK` and what it got is still handled), lets in-flight handlers finish within
    /// the [shutdown grace](ServerConfig::shutdown_grace), and acknowledges only finished
    /// work. Handlers still running after the grace period are abandoned unacknowledged,
    /// for another server to reclaim.
    pub async fn stop(self) -> StopReport {
        let shared = Arc::clone(&self.shared);
        shared.stopping.cancel();
        let grace = shared.config.shutdown_grace;
        let drained = tokio::time::timeout(grace.saturating_add(BLOCK), async {
            self.loops.wait().await;
            shared.tasks.close();
            shared.tasks.wait().await;
        })
        .await
        .is_ok();
        if !drained {
            tracing::warn!(
                instance_id = %shared.config.instance_id,
                ?grace,
                "shutdown grace period over; abandoning in-flight handlers unacknowledged"
            );
            shared.abort.cancel();
            self.loops.wait().await;
            shared.tasks.close();
            shared.tasks.wait().await;
        }
        tracing::info!(instance_id = %shared.config.instance_id, drained, "clamator server stopped");
        StopReport { drained }
    }
}

impl Drop for RedisServer {
    fn drop(&mut self) {
        self.shared.stopping.cancel();
        self.shared.abort.cancel();
    }
}

/// `XGROUP CREATE <stream> <group> <start> MKSTREAM`, treating `BUSYGROUP` as success.
pub(crate) async fn ensure_group(
    manager: &ConnectionManager,
    rt: &ServiceRuntime,
    start: &str,
) -> Result<(), Error> {
    let result: redis::RedisResult<()> = redis::cmd("XGROUP")
        .arg("CREATE")
        .arg(&rt.stream)
        .arg(&rt.group)
        .arg(start)
        .arg("MKSTREAM")
        .query_async(&mut manager.clone())
        .await;
    match result {
        Ok(()) => Ok(()),
        Err(e) if e.code() == Some("BUSYGROUP") => Ok(()),
        Err(e) => Err(Error::transport_with(
            format!("XGROUP CREATE {} {} failed", rt.stream, rt.group),
            e,
        )),
    }
}

/// True for the error Redis gives when the group (or the whole stream) is gone, as after a
/// `FLUSHALL` or a restart without persistence.
pub(crate) fn is_nogroup(e: &redis::RedisError) -> bool {
    e.code() == Some("NOGROUP")
}

/// Re-creates a vanished group; false when that failed (the caller backs off).
///
/// It starts after the newest entry this server read, or at `0` when it read none: what
/// the stream holds beyond that was written since the group vanished (after `FLUSHALL` or
/// a restart without persistence the stream is new), and those are requests somebody is
/// waiting for, while what came before was served already.
pub(crate) async fn recreate_group(shared: &Shared, rt: &ServiceRuntime) -> bool {
    let start = rt
        .last_read
        .lock()
        .unwrap_or_else(PoisonError::into_inner)
        .clone()
        .unwrap_or_else(|| "0".to_owned());
    match ensure_group(&shared.manager, rt, &start).await {
        Ok(()) => {
            tracing::warn!(
                service = rt.service.name(),
                stream = %rt.stream,
                start = %start,
                "consumer group was missing (Redis flushed or restarted); re-created it"
            );
            true
        }
        Err(e) => {
            tracing::error!(service = rt.service.name(), error = %e, "cannot re-create consumer group");
            false
        }
    }
}

/// Sleeps for `d` unless the server starts stopping; true when it slept the whole time.
pub(crate) async fn pause(shared: &Shared, d: Duration) -> bool {
    tokio::select! {
        () = shared.stopping.cancelled() => false,
        () = tokio::time::sleep(d) => true,
    }
}

async fn consume_loop(shared: Arc<Shared>, rt: Arc<ServiceRuntime>) {
    let service = rt.service.name();
    let mut conn: Option<MultiplexedConnection> = None;
    let mut backoff = Backoff::new();
    // A read in progress is never dropped: a read cut short could have delivered entries
    // to this consumer that nobody would see until they are reclaimed.
    while !shared.stopping.is_cancelled() {
        let c = match &mut conn {
            Some(c) => c,
            None => match shared.connector.dedicated().await {
                Ok(c) => conn.insert(c),
                Err(e) => {
                    let delay = backoff.next_delay();
                    tracing::error!(service, error = %e, ?delay, "redis consumer loop cannot connect; retrying");
                    pause(&shared, delay).await;
                    continue;
                }
            },
        };
        let read: redis::RedisResult<redis::Value> = redis::cmd("XREADGROUP")
            .arg("GROUP")
            .arg(&rt.group)
            .arg(&rt.consumer)
            .arg("COUNT")
            .arg(rt.read_count)
            .arg("BLOCK")
            .arg(BLOCK.as_millis() as u64)
            .arg("STREAMS")
            .arg(&rt.stream)
            .arg(">")
            .query_async(c)
            .await;
        match read {
            Ok(value) => {
                backoff.reset();
                match stream::read_reply(value) {
                    Ok(entries) => {
                        if let Some(last) = entries.last() {
                            *rt.last_read.lock().unwrap_or_else(PoisonError::into_inner) =
                                Some(last.id.clone());
                        }
                        // Held before any is started, so the reclaim loop leaves the whole
                        // batch alone while it waits for permits.
                        let mut entries = rt.hold(entries);
                        for e in &mut entries {
                            e.delivery_count = Some(1);
                        }
                        submit_all(&shared, &rt, entries).await;
                    }
                    Err(e) => tracing::error!(service, error = %e, "unexpected XREADGROUP reply"),
                }
            }
            Err(e) if is_nogroup(&e) => {
                if !recreate_group(&shared, &rt).await {
                    pause(&shared, backoff.next_delay()).await;
                }
            }
            Err(e) => {
                if is_connection_error(&e) {
                    conn = None;
                }
                let delay = backoff.next_delay();
                tracing::error!(service, error = %e, ?delay, "redis consumer loop error");
                pause(&shared, delay).await;
            }
        }
    }
}

/// Hands held entries to their own tasks, each once a permit is free. With one permit
/// this waits for the previous handler to return, which keeps stream order. When the
/// server is aborting, the rest are released unstarted (still pending, to be reclaimed).
pub(crate) async fn submit_all(
    shared: &Arc<Shared>,
    rt: &Arc<ServiceRuntime>,
    entries: Vec<StreamEntry>,
) {
    let mut entries = entries.into_iter();
    for entry in entries.by_ref() {
        let unfinished = tokio::select! {
            () = shared.abort.cancelled() => {
                rt.release(&entry.id);
                break;
            }
            p = Arc::clone(&rt.unfinished).acquire_owned() => match p {
                Ok(p) => p,
                Err(_) => {
                    rt.release(&entry.id);
                    break;
                }
            },
        };
        let held = Held {
            rt: Arc::clone(rt),
            id: entry.id.clone(),
            _unfinished: unfinished,
        };
        let permit = tokio::select! {
            () = shared.abort.cancelled() => break,
            p = Arc::clone(&rt.permits).acquire_owned() => match p {
                Ok(p) => p,
                Err(_) => break,
            },
        };
        shared.tasks.spawn(handle_entry(
            Arc::clone(shared),
            Arc::clone(rt),
            entry,
            permit,
            held,
        ));
    }
    for entry in entries {
        rt.release(&entry.id);
    }
}

/// Handles one entry end to end: checks, dispatch, reply, ack.
async fn handle_entry(
    shared: Arc<Shared>,
    rt: Arc<ServiceRuntime>,
    entry: StreamEntry,
    permit: OwnedSemaphorePermit,
    _held: Held,
) {
    let service = rt.service.name();
    let entry_id = entry.id.as_str();
    let reply_to = entry
        .field("reply-to")
        .map(|b| String::from_utf8_lossy(b).into_owned());
    let envelope = match screen(&shared, &entry, reply_to.as_deref(), service) {
        Ok(envelope) => envelope,
        Err(r) => {
            let to = if r.answer { reply_to.as_deref() } else { None };
            retire(&shared, &rt, &entry, to, r.id, r.reason, &r.error).await;
            return;
        }
    };
    let (rpc_id, method) = match &envelope {
        Envelope::Request(r) => (r.id.key(), r.method.clone()),
        Envelope::Notification(n) => (String::new(), n.method.clone()),
        Envelope::Response(_) => (String::new(), String::new()),
    };
    let deadline = entry.field(deadline::FIELD).and_then(deadline::parse);
    if deadline.is_some_and(|d| SystemTime::now() > d) {
        // The caller has given up; running the handler would be work nobody waits for.
        tracing::warn!(service, method = %method, rpc_id = %rpc_id, entry_id, "request expired before it was handled; skipped");
        Counters::bump(&shared.counters.expired);
        shared
            .completer
            .complete(Completion {
                rt: Arc::clone(&rt),
                entry_id: entry.id.clone(),
                method,
                rpc_id,
                reply: None,
                ack_without_reply: false,
            })
            .await;
        return;
    }
    let claim = match &envelope {
        Envelope::Request(r)
            if shared.config.exactly_once
                // Only servers with per-method opt-ins pay for building the name.
                || (!shared.exactly_once.is_empty()
                    && shared
                        .exactly_once
                        .contains(&format!("{service}.{}", r.method))) =>
        {
            match exactly_once_gate(&shared, &rt, &entry, r, reply_to.as_deref()).await {
                Gate::Run(claim) => Some(claim),
                Gate::Finished => return,
            }
        }
        _ => None,
    };
    tracing::trace!(service, method = %method, rpc_id = %rpc_id, entry_id, "dispatching");
    Counters::bump(&shared.counters.handled);
    let ctx = CallContext {
        deadline,
        delivery_count: entry.delivery_count,
    };
    // The raw entry (the envelope's bytes among its fields) is not needed past this point;
    // with large payloads, not keeping it through the handler and the reply saves a copy.
    let entry_id = entry.id.clone();
    drop(entry);
    let entry_id = entry_id.as_str();
    let reply = tokio::select! {
        () = shared.abort.cancelled() => {
            tracing::warn!(service, method = %method, rpc_id = %rpc_id, entry_id, "handler abandoned at shutdown; left unacknowledged");
            if let Some((key, token)) = &claim {
                let _ = idempotency::release(&shared.manager, key, token).await;
            }
            return;
        }
        r = context::scope(ctx, rt.service.dispatch(envelope)) => r,
    };
    let reply_json = reply.map(|r| r.to_json());
    if let Some((key, token)) = &claim {
        let stored = match &reply_json {
            Some(json) => {
                idempotency::complete(
                    &shared.manager,
                    key,
                    token,
                    json,
                    shared.config.idempotency_result_ttl,
                )
                .await
            }
            None => idempotency::release(&shared.manager, key, token)
                .await
                .map(|()| true),
        };
        match stored {
            Ok(true) => {}
            Ok(false) => {
                tracing::warn!(service, rpc_id = %rpc_id, entry_id, "idempotency claim expired while the handler ran; another delivery may run it too")
            }
            Err(e) => {
                // Not acknowledged: a redelivery claims it again once this claim expires.
                tracing::error!(service, rpc_id = %rpc_id, entry_id, error = %e, "storing the reply for exactly-once failed; entry left pending");
                let _ = idempotency::release(&shared.manager, key, token).await;
                return;
            }
        }
    }
    let reply = reply_to.zip(reply_json);
    let entry_id = entry_id.to_owned();
    // Queued before the permit goes, so with one permit replies are written in stream order.
    let waiting = shared.completer.enqueue(Completion {
        rt: Arc::clone(&rt),
        entry_id,
        method,
        rpc_id,
        reply,
        ack_without_reply: false,
    });
    // The next entry may start now: with one permit, handlers still run one after another
    // in stream order, while this one's reply and ack are written behind it. (Not before
    // the exactly-once record is complete: a duplicate next in line must find it done.)
    drop(permit);
    waiting.outcome().await;
}

/// Why an entry is taken out of service before any handler sees it.
struct Rejection {
    /// Whether the caller may be answered (never when the `reply-to` itself is refused).
    answer: bool,
    id: Option<RpcId>,
    /// The dead-letter reason: `malformed` or `max-deliveries`.
    reason: &'static str,
    error: RpcError,
}

/// Checks an entry before dispatch: an envelope field, a `reply-to` inside the reply
/// namespace, not delivered too often, within the size limit, a request or notification
/// that parses. Logs why it refuses one.
fn screen(
    shared: &Shared,
    entry: &StreamEntry,
    reply_to: Option<&str>,
    service: &str,
) -> Result<Envelope, Box<Rejection>> {
    // Boxed: the refusal path is cold, and a `Rejection` is large next to an `Envelope`.
    let entry_id = entry.id.as_str();
    let malformed = |answer, id, error| {
        Box::new(Rejection {
            answer,
            id,
            reason: "malformed",
            error,
        })
    };
    let Some(raw) = entry.field("envelope") else {
        tracing::warn!(
            service,
            entry_id,
            "entry without envelope field; dead-lettered"
        );
        let error = RpcError::invalid_request("entry has no envelope field");
        return Err(malformed(false, None, error));
    };
    if let Some(to) = reply_to {
        if !to.starts_with(&shared.reply_prefix) || to.len() == shared.reply_prefix.len() {
            tracing::warn!(
                service,
                entry_id,
                reply_to = %to,
                allowed = %shared.reply_prefix,
                "refusing entry whose reply-to is outside the reply namespace; dead-lettered, no reply written"
            );
            let error =
                RpcError::invalid_request(format!("reply-to outside {}", shared.reply_prefix));
            return Err(malformed(false, None, error));
        }
    }
    let deliveries = entry.delivery_count.unwrap_or(1);
    if deliveries > shared.config.max_deliveries {
        // A poison request: every delivery so far ended without an ack (its server died).
        let id = probe_id(raw);
        tracing::error!(
            service,
            entry_id,
            rpc_id = id.as_ref().map(RpcId::key),
            deliveries,
            max = shared.config.max_deliveries,
            "request delivered too often without completing; dead-lettered"
        );
        return Err(Box::new(Rejection {
            answer: true,
            id,
            reason: "max-deliveries",
            error: dlq::dead_lettered_error("max-deliveries", Some(deliveries)),
        }));
    }
    if raw.len() > shared.config.max_envelope_bytes {
        let id = probe_id(raw);
        tracing::warn!(
            service,
            entry_id,
            rpc_id = id.as_ref().map(RpcId::key),
            bytes = raw.len(),
            limit = shared.config.max_envelope_bytes,
            "envelope over the size limit; refused"
        );
        let error = RpcError::invalid_request(format!(
            "envelope of {} bytes exceeds the limit of {} bytes",
            raw.len(),
            shared.config.max_envelope_bytes
        ));
        return Err(malformed(true, id, error));
    }
    match parse_envelope(raw) {
        Ok(Envelope::Response(_)) => {
            tracing::warn!(
                service,
                entry_id,
                "response envelope on a command stream; dead-lettered"
            );
            let error = RpcError::invalid_request("a response envelope on a command stream");
            Err(malformed(false, None, error))
        }
        Ok(envelope) => Ok(envelope),
        Err(e) => {
            tracing::warn!(
                service,
                entry_id,
                rpc_id = e.id.as_ref().map(RpcId::key),
                error = %e,
                "redis poison envelope"
            );
            let error = e.to_rpc_error();
            Err(malformed(true, e.id, error))
        }
    }
}

/// What the exactly-once gate decided.
enum Gate {
    /// Run the handler under this claim: (record key, token).
    Run((String, String)),
    /// Dealt with: answered from the record, refused, or left to its owner.
    Finished,
}

/// Claims the idempotency record of a request, or deals with the entry without running it.
async fn exactly_once_gate(
    shared: &Shared,
    rt: &Arc<ServiceRuntime>,
    entry: &StreamEntry,
    request: &clamator_protocol::Request,
    reply_to: Option<&str>,
) -> Gate {
    let service = rt.service.name();
    let key_part = entry
        .field(idempotency::FIELD)
        .map(|k| String::from_utf8_lossy(k).into_owned())
        .unwrap_or_else(|| request.id.key());
    let key = keys::idempotency_key(&shared.config.key_prefix, service, &key_part);
    let hash = idempotency::payload_hash(&request.method, &request.params);
    let claim_ttl = shared.config.claim_idle.saturating_mul(2);
    match idempotency::claim(&shared.manager, &key, &hash, claim_ttl).await {
        Ok(idempotency::Claim::Claimed(token)) => Gate::Run((key, token)),
        Ok(idempotency::Claim::Done(stored)) => {
            // Ran before (a crash came between its reply and its ack, or the caller reused
            // its key): answer with the stored reply, under this request's id.
            tracing::info!(service, entry_id = %entry.id, rpc_id = %request.id, "already completed; answering from the idempotency record");
            let json = match parse_envelope(stored.as_bytes()) {
                Ok(Envelope::Response(mut r)) => {
                    r.id = Some(request.id.clone());
                    r.to_json()
                }
                _ => stored,
            };
            answer(
                shared,
                rt,
                entry,
                request,
                reply_to.map(|to| (to, json)),
                false,
            )
            .await;
            Gate::Finished
        }
        Ok(idempotency::Claim::Running) => {
            // Another delivery holds the claim; it acknowledges. If its owner died, the
            // claim expires and a later delivery runs the request.
            tracing::info!(service, entry_id = %entry.id, rpc_id = %request.id, "in progress elsewhere; left to its owner");
            Gate::Finished
        }
        Ok(idempotency::Claim::Mismatch) => {
            tracing::warn!(service, entry_id = %entry.id, rpc_id = %request.id, "idempotency key reused with a different payload; refused");
            let json = encode_error(Some(&request.id), &idempotency::key_reused_error());
            // Refused for good: a redelivery would only be refused again, so ack regardless.
            answer(
                shared,
                rt,
                entry,
                request,
                reply_to.map(|to| (to, json)),
                true,
            )
            .await;
            Gate::Finished
        }
        Err(e) => {
            tracing::error!(service, entry_id = %entry.id, error = %e, "idempotency claim failed; entry left pending");
            Gate::Finished
        }
    }
}

/// Answers a request without running its handler (from its idempotency record, or with a
/// refusal), then acknowledges it.
async fn answer(
    shared: &Shared,
    rt: &Arc<ServiceRuntime>,
    entry: &StreamEntry,
    request: &clamator_protocol::Request,
    reply: Option<(&str, String)>,
    ack_without_reply: bool,
) {
    shared
        .completer
        .complete(Completion {
            rt: Arc::clone(rt),
            entry_id: entry.id.clone(),
            method: request.method.clone(),
            rpc_id: request.id.key(),
            reply: reply.map(|(to, json)| (to.to_owned(), json)),
            ack_without_reply,
        })
        .await;
}

/// Takes an entry out of service: writes it to the dead-letter stream, answers the caller
/// with `error` when it names a reply stream and an id could be recovered, then acks. A
/// failed dead-letter write leaves the entry pending, to be retried, never lost.
async fn retire(
    shared: &Shared,
    rt: &Arc<ServiceRuntime>,
    entry: &StreamEntry,
    reply_to: Option<&str>,
    id: Option<RpcId>,
    reason: &str,
    error: &RpcError,
) {
    let service = rt.service.name();
    let counter = if reason == "malformed" {
        &shared.counters.malformed
    } else {
        &shared.counters.dead_lettered
    };
    Counters::bump(counter);
    let message = error
        .data
        .get("reason")
        .and_then(|r| r.as_str())
        .map_or_else(|| error.message.clone(), str::to_owned);
    let written = dlq::write(
        &shared.manager,
        &rt.dlq,
        shared.config.dead_letter_maxlen,
        entry,
        reason,
        &message,
    )
    .await;
    if let Err(e) = written {
        tracing::error!(service, entry_id = %entry.id, error = %e, "dead-letter write failed; entry left pending");
        return;
    }
    let reply = match (reply_to, id.as_ref()) {
        (Some(to), Some(id)) => Some((to.to_owned(), encode_error(Some(id), error))),
        _ => None,
    };
    shared
        .completer
        .complete(Completion {
            rt: Arc::clone(rt),
            entry_id: entry.id.clone(),
            method: String::new(),
            rpc_id: id.as_ref().map(RpcId::key).unwrap_or_default(),
            reply,
            ack_without_reply: true,
        })
        .await;
}

/// The id of an oversized envelope, without trusting anything else in it.
fn probe_id(raw: &[u8]) -> Option<RpcId> {
    #[derive(serde::Deserialize)]
    struct Probe {
        #[serde(default)]
        id: serde_json::Value,
    }
    match serde_json::from_slice::<Probe>(raw) {
        Ok(p) => RpcId::from_value(&p.id),
        Err(_) => recover_id(raw),
    }
}
