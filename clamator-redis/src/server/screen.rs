//! The checks an entry passes before any handler sees it: an `envelope` field, a
//! `reply-to` inside the reply namespace, not delivered too often, within the size limit,
//! and a request or notification that parses. Pure: it decides and logs, the caller acts.

use clamator_protocol::envelope::{parse_envelope, recover_id};
use clamator_protocol::{Envelope, RpcError, RpcId};

use crate::dead_letters::dead_lettered_error;
use crate::stream::{fields, StreamEntry};

/// Why an entry is taken out of service (and written to the dead-letter stream).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum RetireReason {
    /// It cannot be served: no envelope, a refused `reply-to`, too large, or not a request
    /// or notification.
    Malformed,
    /// A poison request: delivered more than `max_deliveries` times without completing.
    MaxDeliveries,
    /// An event whose payload does not match the event's schema.
    InvalidPayload,
    /// An event whose handler failed `max_deliveries` times.
    HandlerFailed,
}

impl RetireReason {
    /// The reason as the dead-letter stream records it (`dlq-reason`).
    pub(crate) fn as_str(self) -> &'static str {
        match self {
            Self::Malformed => "malformed",
            Self::MaxDeliveries => "max-deliveries",
            Self::InvalidPayload => "invalid-payload",
            Self::HandlerFailed => "handler-failed",
        }
    }
}

/// The limits an entry is screened against.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Rules<'a> {
    /// `<prefix>:replies:`; a `reply-to` must name a stream inside it.
    pub(crate) reply_prefix: &'a str,
    pub(crate) max_deliveries: u64,
    pub(crate) max_envelope_bytes: usize,
}

/// An entry refused by [`screen`].
#[derive(Debug)]
pub(crate) struct Rejection {
    /// Whether the caller may be answered (never when the `reply-to` itself is refused).
    pub(crate) answer: bool,
    /// The request id, when one could be recovered.
    pub(crate) id: Option<RpcId>,
    pub(crate) reason: RetireReason,
    /// What the caller is told.
    pub(crate) error: RpcError,
}

/// Checks an entry before dispatch; logs why it refuses one.
pub(crate) fn screen(
    rules: Rules<'_>,
    service: &str,
    entry: &StreamEntry,
    reply_to: Option<&str>,
) -> Result<Envelope, Box<Rejection>> {
    // Boxed: the refusal path is cold, and a `Rejection` is large next to an `Envelope`.
    let entry_id = entry.id.as_str();
    let malformed = |answer, id, error| {
        Box::new(Rejection {
            answer,
            id,
            reason: RetireReason::Malformed,
            error,
        })
    };
    let Some(raw) = entry.field(fields::ENVELOPE) else {
        tracing::warn!(
            service,
            entry_id,
            "entry without envelope field; dead-lettered"
        );
        let error = RpcError::invalid_request("entry has no envelope field");
        return Err(malformed(false, None, error));
    };
    if let Some(field) = [fields::TYPE, fields::ENVELOPE, fields::REPLY_TO]
        .into_iter()
        .find(|f| {
            entry
                .fields
                .iter()
                .filter(|(k, _)| k == f.as_bytes())
                .count()
                > 1
        })
    {
        // Peers would read different values (we take the first, Python's dict the last):
        // which request this is cannot be told.
        tracing::warn!(
            service,
            entry_id,
            field,
            "entry with a field given twice; dead-lettered"
        );
        let error =
            RpcError::invalid_request(format!("entry has the {field} field more than once"));
        return Err(malformed(false, None, error));
    }
    if let Some(to) = reply_to {
        let utf8 = entry
            .field(fields::REPLY_TO)
            .is_some_and(|raw| std::str::from_utf8(raw).is_ok());
        if let Err(why) = check_reply_to(to, utf8, rules.reply_prefix) {
            tracing::warn!(
                service,
                entry_id,
                reply_to = %to,
                allowed = %rules.reply_prefix,
                why,
                "refusing entry whose reply-to is not a reply stream; dead-lettered, no reply written"
            );
            let error = RpcError::invalid_request(format!(
                "reply-to is not a reply stream under {}: {why}",
                rules.reply_prefix
            ));
            return Err(malformed(false, None, error));
        }
    }
    if raw.len() > rules.max_envelope_bytes {
        // Decided from the length alone: nothing of an oversized envelope is parsed. Its
        // id is looked for by one linear scan that builds no value, over all of it: the
        // TypeScript client writes `id` before `params`, the Python client after them.
        let id = recover_id(raw);
        tracing::warn!(
            service,
            entry_id,
            rpc_id = id.as_ref().map(RpcId::key),
            bytes = raw.len(),
            limit = rules.max_envelope_bytes,
            "envelope over the size limit; refused"
        );
        let error = RpcError::invalid_request(crate::stream::too_large(
            raw.len(),
            rules.max_envelope_bytes,
        ));
        return Err(malformed(true, id, error));
    }
    let deliveries = entry.delivery_count.unwrap_or(1);
    if deliveries > rules.max_deliveries {
        // A poison request: every delivery so far ended without an ack (its server died).
        let id = probe_id(raw);
        tracing::error!(
            service,
            entry_id,
            rpc_id = id.as_ref().map(RpcId::key),
            deliveries,
            max = rules.max_deliveries,
            "request delivered too often without completing; dead-lettered"
        );
        return Err(Box::new(Rejection {
            answer: true,
            id,
            reason: RetireReason::MaxDeliveries,
            error: dead_lettered_error(RetireReason::MaxDeliveries.as_str(), Some(deliveries)),
        }));
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

/// The longest client instance id a `reply-to` may carry.
const MAX_INSTANCE_ID_BYTES: usize = 256;

/// A `reply-to` must be `<reply prefix><instance id>` with a plain instance id: not empty,
/// no `:` (so it cannot reach into another namespace that happens to start with ours, such
/// as another tenant's prefix `<prefix>:replies:b`), valid UTF-8, and of a sane length.
fn check_reply_to(to: &str, utf8: bool, reply_prefix: &str) -> Result<(), &'static str> {
    let Some(instance) = to.strip_prefix(reply_prefix) else {
        return Err("outside the reply namespace");
    };
    if !utf8 {
        Err("not valid UTF-8")
    } else if instance.is_empty() {
        Err("no instance id")
    } else if instance.contains(':') {
        Err("the instance id holds a ':'")
    } else if instance.len() > MAX_INSTANCE_ID_BYTES {
        Err("the instance id is too long")
    } else {
        Ok(())
    }
}

/// The id of an oversized or poison envelope, without trusting anything else in it.
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::codes;
    use clamator_protocol::codes as rpc;

    const RULES: Rules<'static> = Rules {
        reply_prefix: "p:replies:",
        max_deliveries: 3,
        max_envelope_bytes: 200,
    };
    const REQUEST: &str = r#"{"jsonrpc":"2.0","id":"r1","method":"arith.add","params":{}}"#;

    fn entry(fields: &[(&str, &str)], deliveries: Option<u64>) -> StreamEntry {
        StreamEntry {
            id: "1-0".into(),
            fields: fields
                .iter()
                .map(|(k, v)| (k.as_bytes().to_vec().into(), v.as_bytes().to_vec().into()))
                .collect(),
            delivery_count: deliveries,
        }
    }

    fn refused(fields: &[(&str, &str)], deliveries: Option<u64>) -> Rejection {
        let e = entry(fields, deliveries);
        let reply_to = e.text("reply-to");
        *screen(RULES, "arith", &e, reply_to.as_deref()).unwrap_err()
    }

    #[test]
    fn a_request_with_its_reply_stream_passes() {
        let e = entry(
            &[("envelope", REQUEST), ("reply-to", "p:replies:c1")],
            Some(1),
        );
        let envelope = screen(RULES, "arith", &e, Some("p:replies:c1")).unwrap();
        assert!(matches!(envelope, Envelope::Request(r) if r.method == "add"));
        let notification = r#"{"jsonrpc":"2.0","method":"arith.ping","params":{}}"#;
        let e = entry(&[("envelope", notification)], None);
        assert!(matches!(
            screen(RULES, "arith", &e, None),
            Ok(Envelope::Notification(_))
        ));
    }

    #[test]
    fn no_envelope_is_malformed_and_unanswered() {
        let r = refused(&[("reply-to", "p:replies:c1")], None);
        assert_eq!((r.reason, r.answer), (RetireReason::Malformed, false));
        assert_eq!(r.error.code, rpc::INVALID_REQUEST);
    }

    #[test]
    fn a_reply_to_outside_the_namespace_is_never_answered() {
        let long = format!("p:replies:{}", "x".repeat(300));
        for to in [
            "q:replies:c1",
            "p:replies:",
            "p:cmds:arith",
            "p:replies:b:cmds:arith",
            "p:replies:c1:",
            long.as_str(),
        ] {
            let r = refused(&[("envelope", REQUEST), ("reply-to", to)], None);
            assert_eq!(
                (r.reason, r.answer),
                (RetireReason::Malformed, false),
                "{to}"
            );
            assert!(r.id.is_none());
        }
    }

    #[test]
    fn a_reply_to_that_is_not_utf8_is_refused() {
        let mut e = entry(&[("envelope", REQUEST)], None);
        e.fields.push((
            b"reply-to".to_vec().into(),
            b"p:replies:c\xff".to_vec().into(),
        ));
        let to = e.text("reply-to");
        let r = *screen(RULES, "arith", &e, to.as_deref()).unwrap_err();
        assert_eq!((r.reason, r.answer), (RetireReason::Malformed, false));
        assert_eq!(check_reply_to("p:replies:c1", true, "p:replies:"), Ok(()));
    }

    #[test]
    fn too_many_deliveries_retire_a_poison_request_with_its_id() {
        let fields = [("envelope", REQUEST), ("reply-to", "p:replies:c1")];
        assert!(screen(
            RULES,
            "arith",
            &entry(&fields, Some(3)),
            Some("p:replies:c1")
        )
        .is_ok());
        let r = refused(&fields, Some(4));
        assert_eq!((r.reason, r.answer), (RetireReason::MaxDeliveries, true));
        assert_eq!(r.error.code, codes::DEAD_LETTERED);
        assert_eq!(r.error.data["deliveries"], 4);
        assert_eq!(r.id.map(|id| id.key()), Some(RpcId::from("r1").key()));
    }

    #[test]
    fn an_oversized_envelope_is_answered_with_its_id() {
        let big = format!(
            r#"{{"jsonrpc":"2.0","id":"r2","method":"arith.add","params":{{"pad":"{}"}}}}"#,
            "x".repeat(300)
        );
        let r = refused(&[("envelope", &big), ("reply-to", "p:replies:c1")], None);
        assert_eq!((r.reason, r.answer), (RetireReason::Malformed, true));
        assert_eq!(r.id.map(|id| id.key()), Some(RpcId::from("r2").key()));
        let reason = r.error.data["reason"].as_str().unwrap_or_default();
        assert!(
            reason.contains("exceeds the limit of 200 bytes"),
            "{reason}"
        );
    }

    #[test]
    fn an_oversized_envelope_is_refused_before_parsing_even_when_poisoned() {
        // Over the limit and past max_deliveries: the size decides, and the id still comes
        // back from the beginning of the text although the rest is not JSON at all.
        let big = format!(
            r#"{{"jsonrpc":"2.0","id":"r3","method":"arith.add","params":{{"pad":"{}"#,
            "x".repeat(300)
        );
        let r = refused(&[("envelope", &big), ("reply-to", "p:replies:c1")], Some(9));
        assert_eq!((r.reason, r.answer), (RetireReason::Malformed, true));
        assert_eq!(r.id.map(|id| id.key()), Some(RpcId::from("r3").key()));
    }

    #[test]
    fn a_field_given_twice_is_refused_unanswered() {
        for field in ["envelope", "reply-to", "type"] {
            let r = refused(
                &[
                    ("type", "rpc"),
                    ("envelope", REQUEST),
                    ("reply-to", "p:replies:c1"),
                    (field, if field == "envelope" { REQUEST } else { "x" }),
                ],
                None,
            );
            assert_eq!(
                (r.reason, r.answer),
                (RetireReason::Malformed, false),
                "{field}"
            );
            let reason = r.error.data["reason"].as_str().unwrap_or_default();
            assert!(reason.contains(field), "{reason}");
        }
    }

    #[test]
    fn garbage_and_responses_are_malformed() {
        let r = refused(
            &[("envelope", "{not json"), ("reply-to", "p:replies:c1")],
            None,
        );
        assert_eq!((r.reason, r.answer), (RetireReason::Malformed, true));
        assert_eq!(r.error.code, rpc::PARSE_ERROR);
        let response = r#"{"jsonrpc":"2.0","id":"r1","result":{}}"#;
        let r = refused(
            &[("envelope", response), ("reply-to", "p:replies:c1")],
            None,
        );
        assert_eq!((r.reason, r.answer), (RetireReason::Malformed, false));
    }

    #[test]
    fn reasons_read_as_the_dead_letter_stream_records_them() {
        assert_eq!(RetireReason::Malformed.as_str(), "malformed");
        assert_eq!(RetireReason::MaxDeliveries.as_str(), "max-deliveries");
    }
}
