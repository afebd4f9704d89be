//! The life of one entry: [screen](super::screen) → expired? → exactly-once gate →
//! dispatch to the handler → answer through the [completer](super::completer), or retire
//! it to the dead-letter stream.

use std::sync::Arc;
use std::time::{Duration, SystemTime};

use clamator_protocol::context::{self, CallContext};
use clamator_protocol::envelope::{encode_error, parse_envelope};
use clamator_protocol::{Envelope, EventOutcome, Request, RpcError, RpcId};
use tokio::sync::OwnedSemaphorePermit;
use tracing::field::{display, Empty};
use tracing::Instrument as _;

use super::completer::{Completion, Finish, Outcome, Reply};
use super::exactly_once::{self, Claim, IdempotencyClaim};
use super::runtime::{Counters, Held, ServerState, ServiceRuntime};
use super::screen::{screen, Rejection, RetireReason, Rules};
use crate::stream::{commands, fields, StreamEntry, StreamId};
use crate::{dead_letters, deadline, keys};

/// Hands held entries to their own tasks, each once a permit is free. With one permit
/// this waits for the previous handler to return, which keeps stream order. When the
/// server is aborting, the rest are released unstarted (still pending, to be reclaimed).
pub(crate) async fn submit_all(
    state: &Arc<ServerState>,
    rt: &Arc<ServiceRuntime>,
    entries: Vec<StreamEntry>,
) {
    let mut entries = entries.into_iter();
    for entry in entries.by_ref() {
        let unfinished = tokio::select! {
            () = state.abort.cancelled() => {
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
        let held = Held::new(rt, &entry.id, unfinished);
        let permit = tokio::select! {
            () = state.abort.cancelled() => break,
            p = Arc::clone(&rt.permits).acquire_owned() => match p {
                Ok(p) => p,
                Err(_) => break,
            },
        };
        // Boxed before it is spawned: an entry's future is kilobytes, which the task tracker
        // and the runtime would each move again; a box moves as a pointer.
        let task = Box::pin(handle(
            Arc::clone(state),
            Arc::clone(rt),
            entry,
            permit,
            held,
        ));
        state.tasks.spawn(task);
    }
    for entry in entries {
        rt.release(&entry.id);
    }
}

/// Handles one entry end to end, inside its server span.
async fn handle(
    state: Arc<ServerState>,
    rt: Arc<ServiceRuntime>,
    entry: StreamEntry,
    permit: OwnedSemaphorePermit,
    held: Held,
) {
    // Screened before the span starts, so the span is born with its name, method and id:
    // recording them afterwards would cost a round through every tracing layer each.
    let reply_to = entry.text(fields::REPLY_TO);
    let rules = Rules {
        reply_prefix: &state.reply_prefix,
        max_deliveries: state.config.max_deliveries,
        max_envelope_bytes: state.config.max_envelope_bytes,
    };
    let screened = screen(rules, rt.name(), &entry, reply_to.as_deref());
    let span = server_span(&rt, &entry, screened.as_ref().ok());
    crate::trace_context::continue_from(&span, &entry);
    if entry.delivery_count.is_some_and(|n| n > 1) {
        crate::instruments::redelivered(rt.name());
    }
    let screened = Screened {
        reply_to,
        envelope: screened,
    };
    handle_entry(state, rt, entry, screened, permit, held)
        .instrument(span)
        .await;
}

/// An entry's envelope as screening left it, with the reply stream it names.
struct Screened {
    reply_to: Option<String>,
    envelope: Result<Envelope, Box<Rejection>>,
}

/// The server span of one entry, `<service>/<method>` (the service alone when the envelope
/// could not be read), with the OpenTelemetry RPC attributes, the entry id, its delivery
/// count, and how long it waited in the stream (from the entry id's time to now).
fn server_span(
    rt: &ServiceRuntime,
    entry: &StreamEntry,
    envelope: Option<&Envelope>,
) -> tracing::Span {
    let service = rt.name();
    let waited_ms = StreamId::parse(&entry.id).map(|id| {
        let now = SystemTime::now()
            .duration_since(SystemTime::UNIX_EPOCH)
            .map_or(0, |d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX));
        now.saturating_sub(id.ms)
    });
    if let Some(ms) = waited_ms {
        rt.metrics.queue_wait(Duration::from_millis(ms));
    }
    let (method, rpc_id) = match envelope {
        // Displayed, not turned into a `String`: formatted only if a layer records it.
        Some(Envelope::Request(r)) => (Some(r.method.as_str()), Some(display(&r.id))),
        Some(Envelope::Notification(n)) => (Some(n.method.as_str()), None),
        Some(Envelope::Response(_)) | None => (None, None),
    };
    // `service/method`, formatted only if a layer records it.
    let (slash, name) = method.map_or(("", ""), |m| ("/", m));
    tracing::info_span!(
        "rpc.server",
        otel.name = %format_args!("{service}{slash}{name}"),
        otel.kind = "server",
        rpc.system.name = "jsonrpc",
        rpc.service = service,
        rpc.method = method,
        jsonrpc.request.id = rpc_id,
        messaging.message.id = entry.id.as_str(),
        clamator.delivery_count = entry.delivery_count.map(as_i64),
        clamator.queue_wait_ms = waited_ms.map(as_i64),
        clamator.handler_ms = Empty,
        clamator.reply_ms = Empty,
        clamator.outcome = Empty,
        jsonrpc.error.code = Empty,
        error.type = Empty,
    )
}

/// A count as a span field: OpenTelemetry attributes are signed, and `tracing-opentelemetry`
/// formats an unsigned value as text.
fn as_i64(n: u64) -> i64 {
    i64::try_from(n).unwrap_or(i64::MAX)
}

/// Records on the current server span how the entry ended: `outcome` (`ok`, `error`,
/// `expired`, `cancelled`, `dead-lettered`, `replayed`, …) and, for an error answer, its code;
/// and counts it (with the `metrics` feature) under the method, if the service has it.
fn record_outcome(rt: &ServiceRuntime, method: &str, outcome: &'static str, code: Option<i64>) {
    rt.metrics.finished(method, outcome);
    let span = tracing::Span::current();
    span.record("clamator.outcome", outcome);
    if let Some(code) = code {
        span.record("jsonrpc.error.code", code);
        span.record("error.type", "rpc_error");
    }
}

/// Records a duration on the current server span, in milliseconds with microsecond
/// precision. Fields rather than child spans: a span per step would double what a tracing
/// backend records per call.
fn record_millis(field: &'static str, took: Duration) {
    let span = tracing::Span::current();
    if !span.is_disabled() {
        span.record(field, took.as_secs_f64() * 1000.0);
    }
}

/// Counts a running handler in [`ServerStats::in_flight`](crate::ServerStats::in_flight).
struct InFlightCount<'a>(&'a std::sync::atomic::AtomicU64);

impl<'a> InFlightCount<'a> {
    fn start(counter: &'a std::sync::atomic::AtomicU64) -> Self {
        Counters::bump(counter);
        Self(counter)
    }
}

impl Drop for InFlightCount<'_> {
    fn drop(&mut self) {
        self.0.fetch_sub(1, std::sync::atomic::Ordering::Relaxed);
    }
}

/// Handles one entry end to end: checks, dispatch, reply, ack.
async fn handle_entry(
    state: Arc<ServerState>,
    rt: Arc<ServiceRuntime>,
    entry: StreamEntry,
    screened: Screened,
    permit: OwnedSemaphorePermit,
    _held: Held,
) {
    let service = rt.name();
    let Screened { reply_to, envelope } = screened;
    let envelope = match envelope {
        Ok(envelope) => envelope,
        Err(rejection) => {
            retire(&state, &rt, &entry, reply_to.as_deref(), *rejection).await;
            return;
        }
    };
    if let Some(to) = reply_to.as_deref() {
        if let Err(rejection) = check_reply_stream(&state, service, &entry, to).await {
            retire(&state, &rt, &entry, None, rejection).await;
            return;
        }
    }
    let (rpc_id, method) = match &envelope {
        Envelope::Request(r) => (r.id.key(), r.method.clone()),
        Envelope::Notification(n) => (String::new(), n.method.clone()),
        Envelope::Response(_) => (String::new(), String::new()),
    };
    if let Some(events) = &rt.events {
        let (retry, once) = (events.retry, events.exactly_once);
        handle_event(&state, &rt, entry, envelope, permit, retry, once).await;
        return;
    }
    let deadline = entry.field(fields::DEADLINE).and_then(deadline::parse);
    let request_id = match &envelope {
        Envelope::Request(r) => Some(r.id.clone()),
        _ => None,
    };
    if deadline.is_some_and(|d| SystemTime::now() > d) {
        // The caller has given up; running the handler would be work nobody waits for.
        tracing::warn!(service, method = %method, rpc_id = %rpc_id, entry_id = %entry.id, "request expired before it was handled; skipped");
        record_outcome(
            &rt,
            &method,
            "expired",
            Some(crate::codes::DEADLINE_EXCEEDED),
        );
        Counters::bump(&state.counters.expired);
        let how = refusal(
            reply_to,
            request_id.as_ref(),
            &deadline_exceeded(LimitKind::Deadline),
        );
        finish(&state, &rt, entry.id.clone(), method, rpc_id, how).await;
        return;
    }
    let limit = if rt.cancellable(&method) {
        handler_limit(deadline, state.config.max_handler_time)
    } else {
        None
    };
    let claim = match &envelope {
        Envelope::Request(r) if rt.runs_exactly_once(&r.method) => {
            match exactly_once_gate(&state, &rt, &entry, r, reply_to.as_deref()).await {
                Gate::Run(claim) => Some(claim),
                Gate::Finished => return,
            }
        }
        _ => None,
    };
    if !still_owned(&state, &rt, &entry.id).await {
        if let Some(claim) = &claim {
            let _ = exactly_once::release(&state.manager, claim).await;
        }
        return;
    }
    tracing::trace!(service, method = %method, rpc_id = %rpc_id, entry_id = %entry.id, "dispatching");
    Counters::bump(&state.counters.handled);
    let ctx = CallContext {
        deadline,
        delivery_count: entry.delivery_count,
    };
    // The raw entry (the envelope's bytes among its fields) is not needed past this point;
    // with large payloads, not keeping it through the handler and the reply saves a copy.
    let entry_id = entry.id.clone();
    drop(entry);
    let ran = tokio::select! {
        () = state.abort.cancelled() => {
            tracing::warn!(service, method = %method, rpc_id = %rpc_id, entry_id = %entry_id, "handler abandoned at shutdown; left unacknowledged");
            if let Some(claim) = &claim {
                let _ = exactly_once::release(&state.manager, claim).await;
            }
            return;
        }
        kind = wait_for_limit(limit) => Err(kind),
        r = async {
            let _in_flight = crate::instruments::InFlight::start(&rt.metrics);
            let _counted = InFlightCount::start(&state.counters.in_flight);
            let started = std::time::Instant::now();
            let r = context::scope(ctx, rt.service.dispatch(envelope)).await;
            let took = started.elapsed();
            rt.metrics.handler_time(&method, took);
            record_millis("clamator.handler_ms", took);
            r
        } => Ok(match r {
            Some(r) => {
                match &r.outcome {
                    Ok(_) => record_outcome(&rt, &method, "ok", None),
                    Err(e) => record_outcome(&rt, &method, "error", Some(e.code)),
                }
                Some(r.to_json())
            }
            // A notification: no answer to tell ok from error.
            None => {
                record_outcome(&rt, &method, "ok", None);
                None
            }
        }),
    };
    let how = match ran {
        Err(kind) => {
            // Its caller has given up (or it ran past max_handler_time): the handler is
            // dropped, so the next entry of an ordered service gets its turn; say why.
            tracing::warn!(service, method = %method, rpc_id = %rpc_id, entry_id = %entry_id, reason = kind.as_str(), "handler cancelled");
            record_outcome(
                &rt,
                &method,
                "cancelled",
                Some(crate::codes::DEADLINE_EXCEEDED),
            );
            Counters::bump(&state.counters.cancelled);
            if let Some(claim) = &claim {
                let _ = exactly_once::release(&state.manager, claim).await;
            }
            refusal(reply_to, request_id.as_ref(), &deadline_exceeded(kind))
        }
        Ok(reply_json) => {
            let owned = still_owned(&state, &rt, &entry_id).await;
            if let Some(claim) = &claim {
                let stored = store_for_redeliveries(
                    &state,
                    service,
                    &rpc_id,
                    &entry_id,
                    claim,
                    reply_json.as_deref(),
                );
                if !stored.await {
                    return;
                }
            }
            if !owned {
                // Its new owner answers it; a second answer would be a duplicate.
                return;
            }
            match reply_to.zip(reply_json) {
                Some((to, json)) => Finish::Reply(Reply { to, json }),
                None => Finish::Ack,
            }
        }
    };
    // Queued before the permit goes, so with one permit replies are written in stream order.
    let waiting = state.completer.enqueue(Completion {
        target: Arc::clone(&rt.target),
        entry_id,
        method,
        rpc_id,
        finish: how,
    });
    // The next entry may start now: with one permit, handlers still run one after another
    // in stream order, while this one's reply and ack are written behind it. (Not before
    // the exactly-once record is complete: a duplicate next in line must find it done.)
    drop(permit);
    let replying = std::time::Instant::now();
    let outcome = waiting.outcome().await;
    record_millis("clamator.reply_ms", replying.elapsed());
    if outcome == Outcome::ReplyFailed {
        Counters::bump(&state.counters.reply_write_failures);
    }
}

/// Handles one event of a subscription: runs its handler, and on failure runs it again after
/// the configured delays, holding the event (and, with one permit, the events behind it, so
/// publish order is kept) until it succeeds, or dead-letters it after `max_deliveries`
/// attempts. An event the subscriber has no handler for is acknowledged; an invalid payload
/// is dead-lettered without running anything.
async fn handle_event(
    state: &ServerState,
    rt: &ServiceRuntime,
    entry: StreamEntry,
    envelope: Envelope,
    permit: OwnedSemaphorePermit,
    retry: crate::events::RetryDelays,
    exactly_once: bool,
) {
    let service = rt.name();
    let dead_letter = |reason, error: RpcError| Rejection {
        answer: false,
        id: None,
        reason,
        error,
    };
    let Envelope::Notification(n) = envelope else {
        tracing::warn!(service, entry_id = %entry.id, "event entry without a notification envelope; dead-lettered");
        let error = RpcError::invalid_request("an event must be a notification");
        retire(
            state,
            rt,
            &entry,
            None,
            dead_letter(RetireReason::Malformed, error),
        )
        .await;
        return;
    };
    if rt.service.method(&n.method).is_none() {
        // Not an event this subscriber handles: acknowledged, nothing run or recorded.
        record_outcome(rt, &n.method, "ignored", None);
        let (id, method) = (entry.id.clone(), n.method.clone());
        finish(state, rt, id, method, String::new(), Finish::Ack).await;
        return;
    }
    // Deliveries before this one did not complete: count them as failed attempts.
    let mut failures = entry.delivery_count.unwrap_or(1).saturating_sub(1);
    loop {
        if !still_owned(state, rt, &entry.id).await {
            return;
        }
        let claim = if exactly_once {
            match event_claim(state, rt, &entry, &n).await {
                Some(EventClaim::Run(claim)) => Some(claim),
                Some(EventClaim::Done) => {
                    record_outcome(rt, &n.method, "replayed", None);
                    Counters::bump(&state.counters.replayed);
                    let (id, method) = (entry.id.clone(), n.method.clone());
                    finish(state, rt, id, method, String::new(), Finish::Ack).await;
                    return;
                }
                // Running elsewhere, or Redis could not tell: left to its owner or to a
                // later delivery.
                None => return,
            }
        } else {
            None
        };
        Counters::bump(&state.counters.handled);
        let ctx = CallContext {
            deadline: None,
            delivery_count: Some(failures + 1),
        };
        let limit = state
            .config
            .max_handler_time
            .map(|m| (m, LimitKind::MaxHandlerTime));
        let outcome = tokio::select! {
            () = state.abort.cancelled() => {
                tracing::warn!(service, method = %n.method, entry_id = %entry.id, "event handler abandoned at shutdown; left unacknowledged");
                if let Some(claim) = &claim {
                    let _ = exactly_once::release(&state.manager, claim).await;
                }
                return;
            }
            kind = wait_for_limit(limit) => {
                // A hung handler must not hold an ordered subscription forever: it counts as
                // a failed attempt.
                EventOutcome::Failed(deadline_exceeded(kind))
            }
            outcome = async {
                let _in_flight = crate::instruments::InFlight::start(&rt.metrics);
                let _counted = InFlightCount::start(&state.counters.in_flight);
                let started = std::time::Instant::now();
                let outcome = context::scope(ctx, rt.service.handle_event(&n.method, n.params.clone())).await;
                rt.metrics.handler_time(&n.method, started.elapsed());
                record_millis("clamator.handler_ms", started.elapsed());
                outcome
            } => outcome,
        };
        let error = match outcome {
            EventOutcome::Handled | EventOutcome::Unknown => {
                if let Some(claim) = &claim {
                    let ttl = state.config.idempotency_result_ttl;
                    let completed = exactly_once::complete(&state.manager, claim, "", ttl).await;
                    if !matches!(completed, Ok(true)) {
                        // The record was lost (it expired and another delivery took it):
                        // that delivery acknowledges.
                        tracing::warn!(service, entry_id = %entry.id, "exactly-once record lost while the event ran; left to its other delivery");
                        return;
                    }
                }
                let outcome = if matches!(outcome, EventOutcome::Handled) {
                    "ok"
                } else {
                    "ignored"
                };
                record_outcome(rt, &n.method, outcome, None);
                if !still_owned(state, rt, &entry.id).await {
                    // Taken over while this instance could not renew its lease: its new
                    // owner acknowledges.
                    return;
                }
                // Queued before the permit goes, so acks keep publish order; the next event
                // starts while this one's ack is on its way.
                let waiting = state.completer.enqueue(Completion {
                    target: Arc::clone(&rt.target),
                    entry_id: entry.id.clone(),
                    method: n.method.clone(),
                    rpc_id: String::new(),
                    finish: Finish::Ack,
                });
                drop(permit);
                drop(entry);
                let _ = waiting.outcome().await;
                return;
            }
            EventOutcome::Invalid(e) => {
                if let Some(claim) = &claim {
                    let _ = exactly_once::release(&state.manager, claim).await;
                }
                tracing::warn!(service, method = %n.method, entry_id = %entry.id, error = %e.message, "event payload does not match its schema; dead-lettered");
                retire(
                    state,
                    rt,
                    &entry,
                    None,
                    dead_letter(RetireReason::InvalidPayload, e),
                )
                .await;
                return;
            }
            EventOutcome::Failed(e) => e,
        };
        if let Some(claim) = &claim {
            // A later attempt (here, or elsewhere if this instance dies) claims it again.
            let _ = exactly_once::release(&state.manager, claim).await;
        }
        failures += 1;
        if failures >= state.config.max_deliveries {
            tracing::warn!(service, method = %n.method, entry_id = %entry.id, attempts = failures, error = %error.message, "event handler kept failing; dead-lettered");
            retire(
                state,
                rt,
                &entry,
                None,
                dead_letter(RetireReason::HandlerFailed, error),
            )
            .await;
            return;
        }
        let delay = retry.after(failures);
        tracing::info!(service, method = %n.method, entry_id = %entry.id, attempt = failures, ?delay, error = %error.message, "event handler failed; retrying");
        // At stop, the event stays pending for another instance to take.
        if !state.pause(delay).await {
            return;
        }
    }
}

/// What an exactly-once subscriber's record says of an event.
enum EventClaim {
    /// Ours to run.
    Run(IdempotencyClaim),
    /// Handled before: acknowledge it.
    Done,
}

/// Claims an event's exactly-once record; `None` when another delivery runs it now or Redis
/// could not be asked.
async fn event_claim(
    state: &ServerState,
    rt: &ServiceRuntime,
    entry: &StreamEntry,
    n: &clamator_protocol::Notification,
) -> Option<EventClaim> {
    let subscriber = rt.events.as_ref().map_or("", |e| e.subscriber.as_str());
    let key = keys::event_record_key(&state.config.key_prefix, subscriber, rt.name(), &entry.id);
    let hash = exactly_once::payload_hash(&n.method, &n.params);
    let claim_ttl = state.config.claim_idle.saturating_mul(2);
    match exactly_once::claim(&state.manager, &key, &hash, claim_ttl).await {
        Ok(Claim::Claimed(claim)) => Some(EventClaim::Run(claim)),
        // One entry id is one event: a different payload under it cannot happen.
        Ok(Claim::Done(_) | Claim::Mismatch) => Some(EventClaim::Done),
        Ok(Claim::Running) => None,
        Err(e) => {
            tracing::warn!(service = rt.name(), entry_id = %entry.id, error = %e, "exactly-once record unavailable; event left pending");
            None
        }
    }
}

/// Refuses a `reply-to` that names an existing key of another type than a stream: its reply
/// could never be written, so its handler must not run. Streams found fine are remembered;
/// when Redis cannot tell now, the entry goes on (a reply to a key of another type is
/// refused by Redis anyway).
async fn check_reply_stream(
    state: &ServerState,
    service: &str,
    entry: &StreamEntry,
    to: &str,
) -> Result<(), Rejection> {
    if state.reply_streams.contains(to) {
        return Ok(());
    }
    match commands::key_type(&mut state.manager.clone(), to).await {
        Ok(kind) if kind == "stream" || kind == "none" => {
            state.reply_streams.insert(to);
            Ok(())
        }
        Ok(kind) => {
            tracing::warn!(service, entry_id = %entry.id, reply_to = %to, kind, "refusing entry whose reply-to names a key that is not a stream; dead-lettered, no reply written");
            Err(Rejection {
                answer: false,
                id: None,
                reason: RetireReason::Malformed,
                error: RpcError::invalid_request(format!(
                    "reply-to names a {kind} key, not a stream"
                )),
            })
        }
        Err(e) => {
            tracing::debug!(service, reply_to = %to, error = %e, "could not check the reply stream's type");
            Ok(())
        }
    }
}

/// Whether this server still owns a held entry. Normally it does (its leases are renewed
/// every third of the claim idle time); only when they could not be renewed for longer than
/// the claim idle time (the process was paused or starved) is Redis asked, and an entry
/// another server reclaimed meanwhile is dropped: neither run nor answered here.
async fn still_owned(state: &ServerState, rt: &ServiceRuntime, entry_id: &str) -> bool {
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

/// What stops a handler: its call's deadline, or the server's `max_handler_time`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum LimitKind {
    Deadline,
    MaxHandlerTime,
}

impl LimitKind {
    fn as_str(self) -> &'static str {
        match self {
            Self::Deadline => "deadline",
            Self::MaxHandlerTime => "max-handler-time",
        }
    }
}

/// When a handler starting now must be cancelled: at its call's deadline when it has one,
/// else after `max_handler_time`.
fn handler_limit(
    deadline: Option<SystemTime>,
    max_handler_time: Option<Duration>,
) -> Option<(Duration, LimitKind)> {
    match deadline {
        Some(d) => Some((
            d.duration_since(SystemTime::now())
                .unwrap_or(Duration::ZERO),
            LimitKind::Deadline,
        )),
        None => max_handler_time.map(|m| (m, LimitKind::MaxHandlerTime)),
    }
}

/// Resolves when the limit is reached; never without one.
async fn wait_for_limit(limit: Option<(Duration, LimitKind)>) -> LimitKind {
    match limit {
        Some((after, kind)) => {
            tokio::time::sleep(after).await;
            kind
        }
        None => std::future::pending().await,
    }
}

/// The answer to a request skipped or cancelled for its deadline.
fn deadline_exceeded(kind: LimitKind) -> RpcError {
    RpcError::new(crate::codes::DEADLINE_EXCEEDED, "Deadline exceeded")
        .with_data(serde_json::json!({ "reason": kind.as_str() }))
}

/// Answers `error` to a request that names its reply stream, and acknowledges the entry
/// whether or not the answer can be written (trying again would only refuse again); a
/// notification is just acknowledged.
fn refusal(reply_to: Option<String>, id: Option<&RpcId>, error: &RpcError) -> Finish {
    match (reply_to, id) {
        (Some(to), Some(id)) => Finish::ReplyBestEffort(Reply {
            to,
            json: encode_error(Some(id), error),
        }),
        _ => Finish::Ack,
    }
}

/// Completes an exactly-once request's record with its reply (or releases the claim when
/// there is none); false when the entry must stay pending.
async fn store_for_redeliveries(
    state: &ServerState,
    service: &str,
    rpc_id: &str,
    entry_id: &str,
    claim: &IdempotencyClaim,
    reply_json: Option<&str>,
) -> bool {
    let stored = match reply_json {
        Some(json) => {
            exactly_once::complete(
                &state.manager,
                claim,
                json,
                state.config.idempotency_result_ttl,
            )
            .await
        }
        None => exactly_once::release(&state.manager, claim)
            .await
            .map(|()| true),
    };
    match stored {
        Ok(true) => true,
        Ok(false) => {
            tracing::warn!(
                service,
                rpc_id,
                entry_id,
                "idempotency claim expired while the handler ran; another delivery may run it too"
            );
            true
        }
        Err(e) => {
            // Not acknowledged: a redelivery claims it again once this claim expires.
            tracing::error!(service, rpc_id, entry_id, error = %e, "storing the reply for exactly-once failed; entry left pending");
            let _ = exactly_once::release(&state.manager, claim).await;
            false
        }
    }
}

/// What the exactly-once gate decided.
enum Gate {
    /// Run the handler under this claim.
    Run(IdempotencyClaim),
    /// Dealt with: answered from the record, refused, or left to its owner.
    Finished,
}

/// Claims the idempotency record of a request, or deals with the entry without running it.
async fn exactly_once_gate(
    state: &ServerState,
    rt: &Arc<ServiceRuntime>,
    entry: &StreamEntry,
    request: &Request,
    reply_to: Option<&str>,
) -> Gate {
    let service = rt.name();
    let key_part = entry
        .text(fields::IDEMPOTENCY_KEY)
        .unwrap_or_else(|| request.id.key());
    let key = keys::idempotency_key(&state.config.key_prefix, service, &key_part);
    let hash = exactly_once::payload_hash(&request.method, &request.params);
    let claim_ttl = state.config.claim_idle.saturating_mul(2);
    let answer = |json: String| {
        Completion {
            target: Arc::clone(&rt.target),
            entry_id: entry.id.clone(),
            method: request.method.clone(),
            rpc_id: request.id.key(),
            finish: Finish::Ack,
        }
        .with_reply(reply_to, json)
    };
    match exactly_once::claim(&state.manager, &key, &hash, claim_ttl).await {
        Ok(Claim::Claimed(claim)) => Gate::Run(claim),
        Ok(Claim::Done(stored)) => {
            // Ran before (a crash came between its reply and its ack, or the caller reused
            // its key): answer with the stored reply, under this request's id.
            tracing::info!(service, entry_id = %entry.id, rpc_id = %request.id, "already completed; answering from the idempotency record");
            record_outcome(rt, &request.method, "replayed", None);
            Counters::bump(&state.counters.replayed);
            let json = match parse_envelope(stored.as_bytes()) {
                Ok(Envelope::Response(mut r)) => {
                    r.id = Some(request.id.clone());
                    r.to_json()
                }
                _ => stored,
            };
            state.completer.complete(answer(json)).await;
            Gate::Finished
        }
        Ok(Claim::Running) => {
            // Another delivery holds the claim; it acknowledges. If its owner died, the
            // claim expires and a later delivery runs the request.
            tracing::info!(service, entry_id = %entry.id, rpc_id = %request.id, "in progress elsewhere; left to its owner");
            record_outcome(rt, &request.method, "left-to-owner", None);
            Gate::Finished
        }
        Ok(Claim::Mismatch) => {
            tracing::warn!(service, entry_id = %entry.id, rpc_id = %request.id, "idempotency key reused with a different payload; refused");
            record_outcome(
                rt,
                &request.method,
                "refused",
                Some(crate::codes::IDEMPOTENCY_KEY_REUSED),
            );
            let json = encode_error(Some(&request.id), &exactly_once::key_reused_error());
            // Refused for good: a redelivery would only be refused again, so ack regardless.
            let mut refusal = answer(json);
            if let Finish::Reply(reply) = refusal.finish {
                refusal.finish = Finish::ReplyBestEffort(reply);
            }
            state.completer.complete(refusal).await;
            Gate::Finished
        }
        Err(e) => {
            tracing::error!(service, entry_id = %entry.id, error = %e, "idempotency claim failed; entry left pending");
            Gate::Finished
        }
    }
}

impl Completion {
    /// Sets the reply to `json` when the caller named a reply stream.
    fn with_reply(mut self, reply_to: Option<&str>, json: String) -> Self {
        if let Some(to) = reply_to {
            self.finish = Finish::Reply(Reply {
                to: to.to_owned(),
                json,
            });
        }
        self
    }
}

/// Queues a completion and waits until it is written and acknowledged (or failed).
async fn finish(
    state: &ServerState,
    rt: &ServiceRuntime,
    entry_id: String,
    method: String,
    rpc_id: String,
    finish: Finish,
) {
    state
        .completer
        .complete(Completion {
            target: Arc::clone(&rt.target),
            entry_id,
            method,
            rpc_id,
            finish,
        })
        .await;
}

/// Takes an entry out of service: writes it to the dead-letter stream, answers the caller
/// when it may be answered and an id could be recovered, then acks. A failed dead-letter
/// write leaves the entry pending, to be retried, never lost.
async fn retire(
    state: &ServerState,
    rt: &ServiceRuntime,
    entry: &StreamEntry,
    reply_to: Option<&str>,
    rejection: Rejection,
) {
    let Rejection {
        answer,
        id,
        reason,
        error,
    } = rejection;
    record_outcome(rt, "", "dead-lettered", answer.then_some(error.code));
    let written = dead_letters::write(
        &state.manager,
        &rt.dead_letters,
        state.config.dead_letter_maxlen,
        entry,
        reason.as_str(),
        &dead_letter_message(&error),
    )
    .await;
    if let Err(e) = written {
        if let Some(held_back) = state.dead_letter_failures.admit() {
            tracing::error!(service = rt.name(), entry_id = %entry.id, error = %e, held_back, "dead-letter write failed; entry left pending");
        }
        return;
    }
    state.counters.count_retired(reason);
    let how = match (reply_to.filter(|_| answer), id.as_ref()) {
        (Some(to), Some(id)) => Finish::ReplyBestEffort(Reply {
            to: to.to_owned(),
            json: encode_error(Some(id), &error),
        }),
        _ => Finish::Ack,
    };
    let rpc_id = id.as_ref().map(RpcId::key).unwrap_or_default();
    finish(state, rt, entry.id.clone(), String::new(), rpc_id, how).await;
}

/// What the dead-letter stream records as the error: the reason in `data` when there is
/// one (a dead-lettered request), else the message.
fn dead_letter_message(error: &RpcError) -> String {
    if let Some(reason) = error.data.get("reason").and_then(|r| r.as_str()) {
        return reason.to_owned();
    }
    // What else the error carries (an invalid payload's issues, with their JSON Pointers)
    // is what an operator needs to fix the publisher; a few kilobytes of it say enough.
    let mut text = match &error.data {
        serde_json::Value::Null => error.message.clone(),
        data => format!("{}: {data}", error.message),
    };
    if text.len() > MAX_DEAD_LETTER_ERROR {
        let mut end = MAX_DEAD_LETTER_ERROR;
        while !text.is_char_boundary(end) {
            end -= 1;
        }
        text.truncate(end);
        text.push('…');
    }
    text
}

/// The most of an error's text a dead letter keeps.
const MAX_DEAD_LETTER_ERROR: usize = 4096;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dead_letters_record_the_reason_or_the_message() {
        let poison =
            dead_letters::dead_lettered_error(RetireReason::MaxDeliveries.as_str(), Some(6));
        assert_eq!(dead_letter_message(&poison), "max-deliveries");
        let bad = RpcError::invalid_request("entry has no envelope field");
        assert_eq!(dead_letter_message(&bad), "entry has no envelope field");
        let plain = RpcError::new(-32000, "boom");
        assert_eq!(dead_letter_message(&plain), "boom");
        let detailed =
            RpcError::new(-32602, "Invalid params").with_data(serde_json::json!([{"path": "/n"}]));
        assert_eq!(
            dead_letter_message(&detailed),
            r#"Invalid params: [{"path":"/n"}]"#
        );
        let huge = RpcError::new(-32602, "Invalid params")
            .with_data(serde_json::json!(["é".repeat(10_000)]));
        let text = dead_letter_message(&huge);
        assert!(
            text.len() <= MAX_DEAD_LETTER_ERROR + '…'.len_utf8(),
            "{}",
            text.len()
        );
        assert!(text.ends_with('…'));
    }
}
