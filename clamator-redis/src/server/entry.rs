//! The life of one entry: [screen](super::screen) → a reply stream that can be written →
//! (an [event](super::event) goes its own way) → expired? → the
//! [exactly-once gate](super::exactly_once) → still ours? → run the handler → settle the
//! record → [decide](super::decide) → answer through the [completer](super::completer), or
//! [retire](super::retire) it to the dead-letter stream.

use std::sync::Arc;
use std::time::SystemTime;

use clamator_protocol::context::{self, CallContext};
use clamator_protocol::{Envelope, RpcError, RpcId};
use tokio::sync::OwnedSemaphorePermit;
use tracing::Instrument as _;

use super::completer::Outcome;
use super::decide::{after_request, Next, Ran, Record};
use super::exactly_once::{claim_ttl, gate_request, keep_alive, Gate, HeldClaim};
use super::lease::still_owned;
use super::retire::retire;
use super::runtime::{Held, ServerState, ServiceRuntime};
use super::screen::{screen, Rejection, RetireReason, Rules};
use super::span::{record_millis, record_outcome, server_span, Running};
use super::stats::Counters;
use crate::deadline::{self, handler_limit, wait_for_limit, LimitKind};
use crate::stream::{commands, fields, StreamEntry};

/// Hands held entries to their own tasks, each once a permit is free. With one permit
/// this waits for the previous handler to return, which keeps stream order. Once no more
/// may start ([`no_more_starts`]), the rest are released unstarted (still pending, to be
/// reclaimed).
pub(crate) async fn submit_all(
    state: &Arc<ServerState>,
    rt: &Arc<ServiceRuntime>,
    entries: Vec<StreamEntry>,
) {
    let mut entries = entries.into_iter();
    for entry in entries.by_ref() {
        // Biased: when a permit comes free as the server stops (a handler returned), the
        // stop wins, whatever the order the two are polled in.
        let unfinished = tokio::select! {
            biased;
            () = no_more_starts(state, rt) => {
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
            biased;
            () = no_more_starts(state, rt) => break,
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

/// Resolves once held entries may no longer start: when the server aborts (past the
/// shutdown grace); for a subscription, as soon as it stops. A request read before the
/// stop still runs within the grace, as its caller waits for it; an event has nobody
/// waiting, and one left pending at the stop (abandoned, or waiting for its retry) must
/// not be overtaken by the events behind it, which stay pending with it, in order, for
/// another instance.
async fn no_more_starts(state: &ServerState, rt: &ServiceRuntime) {
    if rt.events.is_some() {
        // The server stops before it aborts: this covers both.
        state.stopping.cancelled().await;
    } else {
        state.abort.cancelled().await;
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

/// Handles one entry end to end: checks, dispatch, reply, ack.
async fn handle_entry(
    state: Arc<ServerState>,
    rt: Arc<ServiceRuntime>,
    entry: StreamEntry,
    screened: Screened,
    permit: OwnedSemaphorePermit,
    _held: Held,
) {
    let Screened { reply_to, envelope } = screened;
    let envelope = match envelope {
        Ok(envelope) => envelope,
        Err(rejection) => {
            return retire(&state, &rt, &entry, reply_to.as_deref(), *rejection).await
        }
    };
    if let Some(to) = reply_to.as_deref() {
        if let Err(rejection) = check_reply_stream(&state, rt.name(), &entry, to).await {
            return retire(&state, &rt, &entry, None, rejection).await;
        }
    }
    if rt.events.is_some() {
        // Boxed: an event's loop of attempts is state a request's future need not carry.
        return Box::pin(super::event::handle_event(
            &state, &rt, entry, envelope, permit,
        ))
        .await;
    }
    handle_request(&state, &rt, entry, reply_to, envelope, permit).await;
}

/// Who an entry is, for logs and completions.
struct Call {
    method: String,
    /// The request id's text; empty for a notification.
    rpc_id: String,
    /// The request id; `None` for a notification.
    id: Option<RpcId>,
}

impl Call {
    fn of(envelope: &Envelope) -> Self {
        match envelope {
            Envelope::Request(r) => Self {
                method: r.method.clone(),
                rpc_id: r.id.key(),
                id: Some(r.id.clone()),
            },
            Envelope::Notification(n) => Self {
                method: n.method.clone(),
                rpc_id: String::new(),
                id: None,
            },
            Envelope::Response(_) => Self {
                method: String::new(),
                rpc_id: String::new(),
                id: None,
            },
        }
    }
}

/// A request or notification of a service, in its steps.
async fn handle_request(
    state: &ServerState,
    rt: &ServiceRuntime,
    entry: StreamEntry,
    reply_to: Option<String>,
    envelope: Envelope,
    permit: OwnedSemaphorePermit,
) {
    let service = rt.name();
    let call = Call::of(&envelope);
    let (method, rpc_id) = (call.method.as_str(), call.rpc_id.as_str());
    let deadline = entry.field(fields::DEADLINE).and_then(deadline::parse);
    if deadline.is_some_and(|d| SystemTime::now() > d) {
        // The caller has given up; running the handler would be work nobody waits for.
        tracing::warn!(service, method, rpc_id, entry_id = %entry.id, "request expired before it was handled; skipped");
        record_outcome(rt, method, "expired", Some(crate::codes::DEADLINE_EXCEEDED));
        Counters::bump(&state.counters.expired);
        let next = after_request(
            Ran::Stopped(LimitKind::Deadline),
            Record::None,
            true,
            reply_to,
            call.id.as_ref(),
        );
        return carry_out(state, rt, entry.id, call, next, permit).await;
    }
    let claim = match &envelope {
        Envelope::Request(r) if rt.runs_exactly_once(&r.method) => {
            match gate_request(state, rt, &entry, r, reply_to.as_deref()).await {
                Gate::Run(claim) => Some(claim),
                Gate::Answer {
                    finish,
                    outcome,
                    code,
                } => {
                    record_outcome(rt, method, outcome, code);
                    if outcome == "replayed" {
                        Counters::bump(&state.counters.replayed);
                    }
                    return carry_out(state, rt, entry.id, call, Next::Write(finish), permit).await;
                }
                Gate::Leave => {
                    record_outcome(rt, method, "left-to-owner", None);
                    return;
                }
            }
        }
        _ => None,
    };
    // From here on, a return without completing the claim gives it back (on drop).
    if !still_owned(state, rt, &entry.id).await {
        return;
    }
    let limit = if rt.cancellable(method) {
        handler_limit(deadline, state.config.max_handler_time, SystemTime::now())
    } else {
        None
    };
    let ctx = CallContext {
        deadline,
        delivery_count: entry.delivery_count,
    };
    // The raw entry (the envelope's bytes among its fields) is not needed past this point;
    // with large payloads, not keeping it through the handler and the reply saves a copy.
    let StreamEntry {
        id: entry_id,
        fields: raw_fields,
        ..
    } = entry;
    drop(raw_fields);
    tracing::trace!(service, method, rpc_id, %entry_id, "dispatching");
    Counters::bump(&state.counters.handled);
    let Some(ran) = run(state, rt, envelope, ctx, limit, method, claim.as_ref()).await else {
        tracing::warn!(service, method, rpc_id, %entry_id, "handler abandoned at shutdown; left unacknowledged");
        return;
    };
    if let Ran::Stopped(kind) = ran {
        // Its caller has given up (or it ran past max_handler_time): the handler is
        // dropped, so the next entry of an ordered service gets its turn; say why.
        tracing::warn!(service, method, rpc_id, %entry_id, reason = kind.as_str(), "handler cancelled");
        record_outcome(
            rt,
            method,
            "cancelled",
            Some(crate::codes::DEADLINE_EXCEEDED),
        );
        Counters::bump(&state.counters.cancelled);
    }
    let owned = match ran {
        Ran::Answered(_) => still_owned(state, rt, &entry_id).await,
        Ran::Stopped(_) => true,
    };
    let record = settle_record(state, claim, &ran).await;
    if record == Record::Lost {
        tracing::warn!(service, rpc_id, %entry_id, "idempotency claim expired while the handler ran; another delivery may run it too");
    }
    let next = after_request(ran, record, owned, reply_to, call.id.as_ref());
    carry_out(state, rt, entry_id, call, next, permit).await;
}

/// Runs the handler under its limit; `None` when the server aborts first.
async fn run(
    state: &ServerState,
    rt: &ServiceRuntime,
    envelope: Envelope,
    ctx: CallContext,
    limit: Option<(std::time::Duration, LimitKind)>,
    method: &str,
    claim: Option<&HeldClaim<'_>>,
) -> Option<Ran> {
    tokio::select! {
        () = state.abort.cancelled() => None,
        kind = wait_for_limit(limit) => Some(Ran::Stopped(kind)),
        () = keep_alive(claim, claim_ttl(state)) => None,
        reply = async {
            let running = Running::start(rt, &state.counters.in_flight);
            let reply = context::scope(ctx, rt.service.dispatch_encoded(envelope)).await;
            running.record(rt, method);
            reply
        } => {
            let (outcome, code) = match reply.as_ref().map(|r| r.error_code) {
                Some(Some(code)) => ("error", Some(code)),
                // A notification has no answer to tell ok from error.
                Some(None) | None => ("ok", None),
            };
            record_outcome(rt, method, outcome, code);
            Some(Ran::Answered(reply.map(|r| r.json)))
        }
    }
}

/// Completes the exactly-once record after a run: the reply stored for redeliveries, or the
/// claim given back (a stopped handler: a retry with the same key must run at once).
async fn settle_record(state: &ServerState, claim: Option<HeldClaim<'_>>, ran: &Ran) -> Record {
    match (claim, ran) {
        (None, _) => Record::None,
        (Some(claim), Ran::Answered(Some(json))) => {
            claim
                .complete(json, state.config.idempotency_result_ttl)
                .await
        }
        (Some(claim), _) => {
            claim.release().await;
            Record::None
        }
    }
}

/// Does what [`after_request`] said. A completion is queued before the permit goes, so with
/// one permit replies are written in stream order; the next entry starts while this one's
/// reply and ack are written behind it.
async fn carry_out(
    state: &ServerState,
    rt: &ServiceRuntime,
    entry_id: String,
    call: Call,
    next: Next,
    permit: OwnedSemaphorePermit,
) {
    let finish = match next {
        Next::Write(finish) => finish,
        Next::LeavePending | Next::LeaveToOwner => return,
    };
    let waiting =
        state
            .completer
            .enqueue(rt.completion(entry_id, call.method, call.rpc_id, finish));
    drop(permit);
    let replying = std::time::Instant::now();
    let outcome = waiting.outcome().await;
    record_millis("clamator.reply_ms", replying.elapsed());
    if outcome == Outcome::ReplyFailed {
        Counters::bump(&state.counters.reply_write_failures);
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
