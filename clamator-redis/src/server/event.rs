//! The life of one event of a subscription: run its handler, and on failure run it again
//! after the configured delays, holding the event (and, with one permit, the events behind
//! it, so publish order is kept) until it succeeds, or dead-letter it after `max_deliveries`
//! attempts. An event the subscriber has no handler for is acknowledged; an invalid payload
//! is dead-lettered without running anything. What happens after each attempt is
//! [decided](super::decide::after_event) apart from doing it.

use clamator_protocol::context::{self, CallContext};
use clamator_protocol::{Envelope, EventOutcome, Notification, RpcError};
use tokio::sync::OwnedSemaphorePermit;
use tracing::Instrument;

use super::completer::Finish;
use super::decide::{after_event, EventNext, Record};
use super::exactly_once::{claim_ttl, gate_event, keep_alive, Gate, HeldClaim};
use super::lease::still_owned;
use super::retire::retire;
use super::runtime::{ServerState, ServiceRuntime};
use super::screen::{Rejection, RetireReason};
use super::span::{record_outcome, Running};
use super::stats::Counters;
use crate::deadline::{deadline_exceeded, wait_for_limit, LimitKind};
use crate::stream::StreamEntry;

/// Handles one event of a subscription until it is acknowledged, dead-lettered, left to
/// another delivery, or the server stops.
pub(super) async fn handle_event(
    state: &ServerState,
    rt: &ServiceRuntime,
    entry: StreamEntry,
    envelope: Envelope,
    permit: OwnedSemaphorePermit,
) {
    let mut entry = entry;
    // Every line names both: `service` is the publisher, which several subscriptions of one
    // process share.
    let service = rt.name();
    let subscriber = rt.subscriber();
    let Envelope::Notification(n) = envelope else {
        tracing::warn!(service, subscriber, entry_id = %entry.id, "event entry without a notification envelope; dead-lettered");
        let error = RpcError::invalid_request("an event must be a notification");
        return retire(
            state,
            rt,
            &entry,
            None,
            dead_letter(RetireReason::Malformed, error),
        )
        .await;
    };
    if rt.service.method(&n.method).is_none() || !addressed_to(&entry, subscriber) {
        // Not an event this subscriber handles (or one republished for another subscriber):
        // acknowledged, nothing run or recorded.
        record_outcome(rt, &n.method, "ignored", None);
        return acknowledge(state, rt, entry, &n, Finish::Ack, permit).await;
    }
    let (retry, exactly_once) = rt
        .events
        .as_ref()
        .map_or((Default::default(), false), |e| (e.retry, e.exactly_once));
    // Deliveries before this one did not complete: count them as failed attempts.
    let mut failures = entry.delivery_count.unwrap_or(1).saturating_sub(1);
    let first_attempt = failures + 1;
    loop {
        if !still_owned(state, rt, &entry.id).await {
            return;
        }
        let claim = if exactly_once {
            match gate_event(state, rt, &entry, &n).await {
                Gate::Run(claim) => Some(claim),
                Gate::Answer {
                    finish,
                    outcome,
                    code,
                } => {
                    record_outcome(rt, &n.method, outcome, code);
                    Counters::bump(&state.counters.replayed);
                    return acknowledge(state, rt, entry, &n, finish, permit).await;
                }
                // Running elsewhere, or Redis could not tell: left to its owner or to a
                // later delivery.
                Gate::Leave => return,
            }
        } else {
            None
        };
        Counters::bump(&state.counters.handled);
        let attempts = failures + 1;
        // The first attempt of this delivery is the entry's span; each retry has its own.
        let retry_span = (attempts > first_attempt).then(|| retry_span(rt, &n.method, attempts));
        let Some(outcome) =
            attempt(state, rt, &n, attempts, claim.as_ref(), retry_span.clone()).await
        else {
            tracing::warn!(service, subscriber, method = %n.method, entry_id = %entry.id, "event handler abandoned at shutdown; left unacknowledged");
            return;
        };
        tracing::Span::current().record("clamator.attempts", attempts);
        let handled = matches!(outcome, EventOutcome::Handled | EventOutcome::Unknown);
        let record = settle_record(state, claim, handled).await;
        if record == Record::Lost {
            tracing::warn!(service, subscriber, entry_id = %entry.id, "exactly-once record lost while the event ran");
        }
        let owned = if handled {
            let ok = if matches!(outcome, EventOutcome::Handled) {
                "ok"
            } else {
                "ignored"
            };
            record_outcome(rt, &n.method, ok, None);
            still_owned(state, rt, &entry.id).await
        } else {
            true
        };
        let error = match &outcome {
            EventOutcome::Failed(e) => e.message.clone(),
            _ => String::new(),
        };
        let max = state.config.max_deliveries;
        match after_event(outcome, owned, failures, max, &retry) {
            EventNext::Ack => {
                if let Some(marker) = &state.config.fault_abort_before_event_ack_once {
                    super::completer::fault_abort_once(
                        marker,
                        "between an event's handler and its ack",
                    );
                }
                return acknowledge(state, rt, entry, &n, Finish::Ack, permit).await;
            }
            // Taken over while this instance could not renew its lease: its new owner
            // acknowledges.
            EventNext::Leave => return,
            EventNext::Retire(reason, e) => {
                if reason == RetireReason::InvalidPayload {
                    tracing::warn!(service, subscriber, method = %n.method, entry_id = %entry.id, error = %e.message, "event payload does not match its schema; dead-lettered");
                } else {
                    tracing::warn!(service, subscriber, method = %n.method, entry_id = %entry.id, attempts, error = %e.message, "event handler kept failing; dead-lettered");
                }
                // The dead letter counts the handler's attempts (retries here and earlier
                // deliveries), not this delivery alone.
                entry.delivery_count = Some(attempts);
                return retire(state, rt, &entry, None, dead_letter(reason, e)).await;
            }
            EventNext::Retry { attempt, delay } => {
                failures = attempt;
                tracing::info!(service, subscriber, method = %n.method, entry_id = %entry.id, attempt, ?delay, error, "event handler failed; retrying");
                // At stop, the event stays pending for another instance to take.
                if !state.pause(delay).await {
                    return;
                }
            }
        }
    }
}

/// Whether `entry` is for `subscriber`: every event is, except one republished for another
/// subscriber alone (its `for-subscriber` field names that one).
pub(super) fn addressed_to(entry: &StreamEntry, subscriber: &str) -> bool {
    entry
        .field(crate::stream::fields::FOR_SUBSCRIBER)
        .is_none_or(|only| only == subscriber.as_bytes())
}

/// One run of the event's handler, under `max_handler_time` (a hung handler must not hold an
/// ordered subscription forever: it counts as a failed attempt); `None` when the server
/// aborts first.
async fn attempt(
    state: &ServerState,
    rt: &ServiceRuntime,
    n: &Notification,
    delivery: u64,
    claim: Option<&HeldClaim<'_>>,
    span: Option<tracing::Span>,
) -> Option<EventOutcome> {
    let ctx = CallContext {
        deadline: None,
        delivery_count: Some(delivery),
    };
    let retry = span.is_some();
    let limit = state
        .config
        .max_handler_time
        .map(|m| (m, LimitKind::MaxHandlerTime));
    tokio::select! {
        () = state.abort.cancelled() => None,
        kind = wait_for_limit(limit) => {
            // Dropped, as a request's handler is at its limit: counted, and said why.
            let subscriber = rt.subscriber();
            tracing::warn!(service = rt.name(), subscriber, method = %n.method, attempt = delivery, reason = kind.as_str(), "event handler cancelled; counts as a failed attempt");
            Counters::bump(&state.counters.cancelled);
            Some(EventOutcome::Failed(deadline_exceeded(kind)))
        }
        () = keep_alive(claim, claim_ttl(state)) => None,
        outcome = async {
            let running = Running::start(rt, &state.counters.in_flight);
            let outcome = context::scope(ctx, rt.service.handle_event(&n.method, n.params.value().clone())).await;
            running.record(rt, &n.method);
            if retry {
                let ok = if matches!(outcome, EventOutcome::Failed(_)) { "error" } else { "ok" };
                tracing::Span::current().record("clamator.outcome", ok);
            }
            outcome
        }.instrument(span.unwrap_or_else(tracing::Span::current)) => Some(outcome),
    }
}

/// The span of a retry of an event's handler, inside the entry's span: its own handler time
/// and outcome, so neither is written over by the next attempt.
fn retry_span(rt: &ServiceRuntime, method: &str, attempt: u64) -> tracing::Span {
    tracing::info_span!(
        "clamator.event.retry",
        otel.name = %format_args!("{}/{method} retry", rt.name()),
        clamator.attempt = attempt,
        clamator.handler_ms = tracing::field::Empty,
        clamator.outcome = tracing::field::Empty,
    )
}

/// Marks the event's record done after it was handled, or gives the claim back after a
/// failure (a later attempt, here or elsewhere, claims it again).
async fn settle_record(state: &ServerState, claim: Option<HeldClaim<'_>>, handled: bool) -> Record {
    match claim {
        None => Record::None,
        Some(claim) if handled => {
            claim
                .complete("", state.config.idempotency_result_ttl)
                .await
        }
        Some(claim) => {
            claim.release().await;
            Record::None
        }
    }
}

/// Acknowledges the event. Queued before the permit goes, so acks keep publish order; the
/// next event starts while this one's ack is on its way.
async fn acknowledge(
    state: &ServerState,
    rt: &ServiceRuntime,
    entry: StreamEntry,
    n: &Notification,
    finish: Finish,
    permit: OwnedSemaphorePermit,
) {
    let completion = rt.completion(entry.id, n.method.clone(), String::new(), finish);
    let waiting = state.completer.enqueue(completion);
    drop(permit);
    let _ = waiting.outcome().await;
}

/// A dead letter of a subscription: never answered (nobody waits for an event).
fn dead_letter(reason: RetireReason, error: RpcError) -> Rejection {
    Rejection {
        answer: false,
        id: None,
        reason,
        error,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_republished_event_is_only_for_the_subscriber_it_names() {
        let entry = |fields: &[(&str, &str)]| StreamEntry {
            id: "1-0".into(),
            fields: fields
                .iter()
                .map(|(k, v)| (k.as_bytes().to_vec().into(), v.as_bytes().to_vec().into()))
                .collect(),
            delivery_count: None,
        };
        let everyone = entry(&[("type", "event")]);
        assert!(addressed_to(&everyone, "billing"));
        let for_billing = entry(&[("type", "event"), ("for-subscriber", "billing")]);
        assert!(addressed_to(&for_billing, "billing"));
        assert!(!addressed_to(&for_billing, "shipping"));
    }
}
