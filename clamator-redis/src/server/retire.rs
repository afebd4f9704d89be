//! Taking an entry out of service: it goes to the dead-letter stream, its caller is told
//! when it may be told, and only then is it acknowledged. A failed dead-letter write leaves
//! the entry pending, to be retried, never lost.

use clamator_protocol::envelope::encode_error;
use clamator_protocol::{RpcError, RpcId};

use super::completer::{Finish, Reply};
use super::runtime::{ServerState, ServiceRuntime};
use super::screen::Rejection;
use super::span::record_outcome;
use crate::dead_letters;
use crate::stream::StreamEntry;

/// Writes `entry` to the dead-letter stream, answers the caller when the rejection allows
/// it and an id could be recovered, then acks.
pub(super) async fn retire(
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
    let finish = retired_answer(reply_to.filter(|_| answer), id.as_ref(), &error);
    let rpc_id = id.as_ref().map(RpcId::key).unwrap_or_default();
    let completion = rt.completion(entry.id.clone(), String::new(), rpc_id, finish);
    state.completer.complete(completion).await;
}

/// What a retired entry's caller gets: the error, when there is a reply stream to write it
/// to and an id to answer; acknowledged regardless (a redelivery would only be retired
/// again).
fn retired_answer(reply_to: Option<&str>, id: Option<&RpcId>, error: &RpcError) -> Finish {
    match (reply_to, id) {
        (Some(to), Some(id)) => Finish::ReplyBestEffort(Reply {
            to: to.to_owned(),
            json: encode_error(Some(id), error),
        }),
        _ => Finish::Ack,
    }
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
    use crate::server::screen::RetireReason;

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

    #[test]
    fn a_retired_request_is_answered_only_with_a_stream_and_an_id() {
        let error = RpcError::invalid_request("too large");
        let id = RpcId::from(7);
        let Finish::ReplyBestEffort(r) = retired_answer(Some("p:replies:c"), Some(&id), &error)
        else {
            panic!("answered, acknowledged regardless");
        };
        assert_eq!(r.to, "p:replies:c");
        assert!(r.json.contains(r#""id":7"#), "{}", r.json);
        assert_eq!(retired_answer(None, Some(&id), &error), Finish::Ack);
        assert_eq!(
            retired_answer(Some("p:replies:c"), None, &error),
            Finish::Ack
        );
    }
}
