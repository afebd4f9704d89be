//! What to do with an entry once its handler has run (or was stopped): what to write to the
//! caller, whether to acknowledge, whether to run it again. Pure, like [`screen`](super::screen):
//! the entry pipelines ([`entry`](super::entry), [`event`](super::event)) gather the facts
//! (the run's end, the exactly-once record, ownership) and carry out the answer.

use std::time::Duration;

use clamator_protocol::envelope::encode_error;
use clamator_protocol::{EventOutcome, RpcError, RpcId};

use super::completer::{Finish, Reply};
use super::screen::RetireReason;
use crate::deadline::{deadline_exceeded, LimitKind};
use crate::events::RetryDelays;

/// How a request's handler ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) enum Ran {
    /// It returned: a response (its JSON), or nothing for a notification.
    Answered(Option<String>),
    /// It was cancelled at this limit, or never started because the limit had passed.
    Stopped(LimitKind),
}

/// What became of the entry's exactly-once record after the run.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Record {
    /// The entry runs without one, or it was given back.
    None,
    /// The reply is stored for redeliveries.
    Stored,
    /// The claim expired while the handler ran and another delivery took it.
    Lost,
    /// Redis could not store it.
    StoreFailed,
}

/// What the pipeline does next with an entry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) enum Next {
    /// Write this (a reply, or nothing) and acknowledge, as [`Finish`] says.
    Write(Finish),
    /// Leave it pending, unacknowledged: it is delivered again later.
    LeavePending,
    /// Another server took it over; its new owner answers (a second answer would be a
    /// duplicate).
    LeaveToOwner,
}

/// The request case: a stopped handler is answered with -32052 whoever owns the entry now
/// (its caller has given up or the server's limit ran out; trying again would only stop it
/// again); an answered one is written and acknowledged, unless its record could not be
/// stored (a redelivery must find it) or it is no longer ours.
pub(super) fn after_request(
    ran: Ran,
    record: Record,
    owned: bool,
    reply_to: Option<String>,
    id: Option<&RpcId>,
) -> Next {
    match ran {
        Ran::Stopped(kind) => Next::Write(refusal(reply_to, id, &deadline_exceeded(kind))),
        Ran::Answered(_) if record == Record::StoreFailed => Next::LeavePending,
        Ran::Answered(_) if !owned => Next::LeaveToOwner,
        Ran::Answered(json) => Next::Write(match reply_to.zip(json) {
            Some((to, json)) => Finish::Reply(Reply { to, json }),
            None => Finish::Ack,
        }),
    }
}

/// Answers `error` to a request that names its reply stream, and acknowledges the entry
/// whether or not the answer can be written (trying again would only refuse again); a
/// notification is just acknowledged.
pub(super) fn refusal(reply_to: Option<String>, id: Option<&RpcId>, error: &RpcError) -> Finish {
    match (reply_to, id) {
        (Some(to), Some(id)) => Finish::ReplyBestEffort(Reply {
            to,
            json: encode_error(Some(id), error),
        }),
        _ => Finish::Ack,
    }
}

/// What an event's delivery does next.
#[derive(Debug, Clone, PartialEq)]
pub(super) enum EventNext {
    /// Handled (or not one this subscriber handles): acknowledge it.
    Ack,
    /// Left to another delivery that holds it now.
    Leave,
    /// Take it out of service: write it to the dead-letter stream, then acknowledge.
    Retire(RetireReason, RpcError),
    /// Run it again after `delay`; this was failed attempt number `attempt`.
    Retry { attempt: u64, delay: Duration },
}

/// The event case. `failures` counts the failed attempts before this one (deliveries that
/// did not complete included). A handled event still owned is acknowledged, whatever became
/// of its exactly-once record; one taken over is left to its new owner; an invalid payload is
/// dead-lettered at once (running it again cannot help); a failure is retried after the configured delay
/// until `max_deliveries` attempts have failed.
pub(super) fn after_event(
    outcome: EventOutcome,
    owned: bool,
    failures: u64,
    max_deliveries: u64,
    retry: &RetryDelays,
) -> EventNext {
    match outcome {
        // Handled and still ours: acknowledged even when its record was lost or could not
        // be stored, or a redelivery would run it again. Taken over: its new owner acks.
        EventOutcome::Handled | EventOutcome::Unknown if owned => EventNext::Ack,
        EventOutcome::Handled | EventOutcome::Unknown => EventNext::Leave,
        EventOutcome::Invalid(e) => EventNext::Retire(RetireReason::InvalidPayload, e),
        EventOutcome::Failed(e) => {
            let attempt = failures + 1;
            if attempt >= max_deliveries {
                EventNext::Retire(RetireReason::HandlerFailed, e)
            } else {
                EventNext::Retry {
                    attempt,
                    delay: retry.after(attempt),
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn to() -> Option<String> {
        Some("p:replies:c".to_owned())
    }

    const OK: &str = r#"{"jsonrpc":"2.0","id":1,"result":3}"#;

    fn answered() -> Ran {
        Ran::Answered(Some(OK.to_owned()))
    }

    fn reply(json: &str) -> Reply {
        Reply {
            to: "p:replies:c".to_owned(),
            json: json.to_owned(),
        }
    }

    #[test]
    fn an_answer_is_written_then_acknowledged() {
        let id = RpcId::from(1);
        let want = Next::Write(Finish::Reply(reply(OK)));
        assert_eq!(
            after_request(answered(), Record::None, true, to(), Some(&id)),
            want
        );
        // Stored for redeliveries, or lost to another delivery after it ran: the caller
        // still gets this answer.
        assert_eq!(
            after_request(answered(), Record::Stored, true, to(), Some(&id)),
            want
        );
        assert_eq!(
            after_request(answered(), Record::Lost, true, to(), Some(&id)),
            want
        );
    }

    #[test]
    fn without_a_reply_stream_or_a_response_it_is_only_acknowledged() {
        let id = RpcId::from(1);
        let ack = Next::Write(Finish::Ack);
        assert_eq!(
            after_request(answered(), Record::None, true, None, Some(&id)),
            ack
        );
        // A notification: the handler returns nothing.
        assert_eq!(
            after_request(Ran::Answered(None), Record::None, true, to(), None),
            ack
        );
    }

    #[test]
    fn an_answer_whose_record_was_not_stored_stays_pending() {
        let id = RpcId::from(1);
        assert_eq!(
            after_request(answered(), Record::StoreFailed, true, to(), Some(&id)),
            Next::LeavePending
        );
        // Even when no longer owned: not acknowledged either way.
        assert_eq!(
            after_request(answered(), Record::StoreFailed, false, to(), Some(&id)),
            Next::LeavePending
        );
    }

    #[test]
    fn an_entry_taken_over_is_left_to_its_new_owner() {
        let id = RpcId::from(1);
        assert_eq!(
            after_request(answered(), Record::Stored, false, to(), Some(&id)),
            Next::LeaveToOwner
        );
        assert_eq!(
            after_request(Ran::Answered(None), Record::None, false, None, None),
            Next::LeaveToOwner
        );
    }

    #[test]
    fn a_stopped_handler_is_refused_with_its_reason_and_acknowledged() {
        let id = RpcId::from("r1");
        let Next::Write(Finish::ReplyBestEffort(r)) = after_request(
            Ran::Stopped(LimitKind::Deadline),
            Record::None,
            false,
            to(),
            Some(&id),
        ) else {
            panic!("a stopped request is refused, owned or not");
        };
        assert_eq!(r.to, "p:replies:c");
        let v: serde_json::Value = serde_json::from_str(&r.json).unwrap();
        assert_eq!(v["id"], "r1");
        assert_eq!(v["error"]["code"], crate::codes::DEADLINE_EXCEEDED);
        assert_eq!(v["error"]["data"]["reason"], "deadline");
        let Next::Write(Finish::ReplyBestEffort(r)) = after_request(
            Ran::Stopped(LimitKind::MaxHandlerTime),
            Record::None,
            true,
            to(),
            Some(&id),
        ) else {
            panic!("refused");
        };
        assert!(r.json.contains("max-handler-time"), "{}", r.json);
        // Nobody to tell: a notification, or no reply stream.
        for (reply_to, id) in [(to(), None), (None, Some(&id))] {
            assert_eq!(
                after_request(
                    Ran::Stopped(LimitKind::Deadline),
                    Record::None,
                    true,
                    reply_to,
                    id
                ),
                Next::Write(Finish::Ack)
            );
        }
    }

    #[test]
    fn a_handled_event_is_acknowledged_unless_someone_else_has_it() {
        let retry = RetryDelays::default();
        for outcome in [EventOutcome::Handled, EventOutcome::Unknown] {
            // Whatever became of its record (lost, not stored), it is acknowledged: running
            // it again would be the duplicate exactly-once exists to prevent.
            assert_eq!(
                after_event(outcome.clone(), true, 0, 5, &retry),
                EventNext::Ack
            );
            assert_eq!(after_event(outcome, false, 0, 5, &retry), EventNext::Leave);
        }
    }

    #[test]
    fn an_invalid_event_is_dead_lettered_at_once() {
        let e = RpcError::new(-32602, "Invalid params");
        assert_eq!(
            after_event(
                EventOutcome::Invalid(e.clone()),
                true,
                0,
                5,
                &RetryDelays::default()
            ),
            EventNext::Retire(RetireReason::InvalidPayload, e)
        );
    }

    #[test]
    fn a_failing_event_is_retried_with_growing_delays_then_dead_lettered() {
        let retry = RetryDelays::default();
        let e = RpcError::new(-32000, "boom");
        let failed = || EventOutcome::Failed(e.clone());
        assert_eq!(
            after_event(failed(), true, 0, 5, &retry),
            EventNext::Retry {
                attempt: 1,
                delay: Duration::from_secs(1)
            }
        );
        assert_eq!(
            after_event(failed(), true, 2, 5, &retry),
            EventNext::Retry {
                attempt: 3,
                delay: Duration::from_secs(4)
            }
        );
        assert_eq!(
            after_event(failed(), true, 4, 5, &retry),
            EventNext::Retire(RetireReason::HandlerFailed, e.clone())
        );
        // Earlier deliveries that never completed count: a redelivery past the limit is
        // dead-lettered on its first failure here.
        assert_eq!(
            after_event(failed(), true, 9, 5, &retry),
            EventNext::Retire(RetireReason::HandlerFailed, e)
        );
    }
}
