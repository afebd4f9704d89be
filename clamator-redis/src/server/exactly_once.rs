//! Exactly-once execution (opt-in): an *idempotency record* per request, claimed and
//! completed by Lua scripts that each touch one key (`<prefix>:idem:<service>:<key>`, so it
//! works on Redis Cluster).
//!
//! The first delivery claims the record (state `running`, owner token, payload hash, short
//! TTL). Completion stores the reply (state `done`, long TTL) in the same script that checks
//! the claim holder; a failure releases the claim. A redelivery of a completed request gets
//! the stored reply again without running the handler; one still running is left to its
//! owner (if the owner died, the claim expires and a later delivery claims it). The same key
//! with a different payload is refused.

use std::time::Duration;

use clamator_protocol::envelope::{encode_error, parse_envelope};
use clamator_protocol::{Envelope, Notification, Request, RpcError, RpcId};
use sha2::{Digest, Sha256};

use super::completer::{Finish, Reply};
use super::decide::Record;
use super::runtime::{ServerState, ServiceRuntime};
use crate::connection::RedisConn;
use crate::keys;
use crate::stream::{fields, StreamEntry};

/// A record's key and the token that proves this delivery owns it.
#[derive(Debug, Clone, PartialEq, Eq)]
struct IdempotencyClaim {
    key: String,
    token: String,
}

/// The most of a reply an exactly-once record keeps for replay.
const MAX_STORED_REPLY: usize = 64 * 1024;

/// What a record keeps of `reply`: the reply itself, or, over [`MAX_STORED_REPLY`], an error
/// saying its result was not kept ([`RESULT_NOT_KEPT`](crate::codes::RESULT_NOT_KEPT)), so
/// records stay small for their whole `idempotency_result_ttl` while a repeat still does not
/// run the handler again. The caller of the first delivery gets the whole reply.
fn stored_reply(reply: &str) -> std::borrow::Cow<'_, str> {
    if reply.len() <= MAX_STORED_REPLY {
        return reply.into();
    }
    let error = RpcError::new(crate::codes::RESULT_NOT_KEPT, "Result not kept")
        .with_data(serde_json::json!({ "reason": "too large to keep", "bytes": reply.len() }));
    encode_error(None, &error).into()
}

/// The answer to a request that reused an idempotency key with other params.
pub(crate) fn key_reused_error() -> RpcError {
    RpcError::new(
        crate::codes::IDEMPOTENCY_KEY_REUSED,
        "Idempotency key reused with a different payload",
    )
}

/// What claiming a record found.
#[derive(Debug, PartialEq, Eq)]
pub(super) enum Claim<H> {
    /// Ours to run; complete it, or let it go.
    Claimed(H),
    /// Already done: the stored reply (its JSON).
    Done(String),
    /// Another delivery runs it now.
    Running,
    /// The key was used with other params.
    Mismatch,
}

/// SHA-256 of the method and params, to tell a redelivery from a reused key.
pub(super) fn payload_hash(method: &str, params: &serde_json::Value) -> String {
    let mut h = Sha256::new();
    h.update(method.as_bytes());
    h.update(b"\0");
    h.update(params.to_string().as_bytes());
    h.finalize().iter().map(|b| format!("{b:02x}")).collect()
}

/// Claims record `key` for a payload with `hash`, for `claim_ttl`.
pub(super) async fn claim<'a>(
    manager: &'a RedisConn,
    key: &str,
    hash: &str,
    claim_ttl: Duration,
) -> redis::RedisResult<Claim<HeldClaim<'a>>> {
    let token = uuid::Uuid::new_v4().to_string();
    let reply: Vec<String> = crate::scripts::IDEMPOTENCY_CLAIM
        .key(key)
        .arg(&token)
        .arg(hash)
        .arg(claim_ttl.as_millis() as u64)
        .invoke_async(&mut manager.clone())
        .await?;
    Ok(match reply.first().map(String::as_str) {
        Some("claimed") => Claim::Claimed(HeldClaim {
            manager,
            claim: Some(IdempotencyClaim {
                key: key.to_owned(),
                token,
            }),
        }),
        Some("done") => Claim::Done(reply.get(1).cloned().unwrap_or_default()),
        Some("mismatch") => Claim::Mismatch,
        _ => Claim::Running,
    })
}

/// A claim this delivery holds. It has one way out besides completion: given back by
/// [`release`](Self::release), or, when dropped without either (an early return, a handler
/// abandoned at shutdown), given back in the background. Giving it back lets a later
/// delivery run the request at once instead of after the claim's time to live.
pub(super) struct HeldClaim<'a> {
    /// Borrowed from the server's state, which outlives every entry task: an owned clone
    /// would make every entry's future larger.
    manager: &'a RedisConn,
    /// `None` once completed or released.
    claim: Option<IdempotencyClaim>,
}

impl HeldClaim<'_> {
    /// Stores `reply` (the response's JSON, or `""` where there is none to replay) for
    /// `result_ttl`, in the same script that checks this delivery still holds the claim.
    pub(super) async fn complete(mut self, reply: &str, result_ttl: Duration) -> Record {
        let Some(claim) = self.claim.take() else {
            return Record::None;
        };
        let kept = stored_reply(reply);
        let done: redis::RedisResult<i64> = crate::scripts::IDEMPOTENCY_COMPLETE
            .key(&claim.key)
            .arg(&claim.token)
            .arg(kept.as_ref())
            .arg(result_ttl.as_millis() as u64)
            .invoke_async(&mut self.manager.clone())
            .await;
        match done {
            Ok(1) => Record::Stored,
            Ok(_) => Record::Lost,
            Err(e) => {
                tracing::error!(key = %claim.key, error = %e, "storing the exactly-once record failed");
                // Not stored: a redelivery claims it again, at once.
                release(self.manager, &claim).await;
                Record::StoreFailed
            }
        }
    }

    /// Gives the claim back now, so a later delivery may run the request.
    pub(super) async fn release(mut self) {
        if let Some(claim) = self.claim.take() {
            release(self.manager, &claim).await;
        }
    }
}

/// Keeps `claim` (when there is one) alive while its handler runs: every third of
/// `claim_ttl` its time to live starts over, as the entry's lease does, so a handler slower
/// than the claim's first lifetime is not run a second time by a delivery that finds the
/// record gone. Never resolves; dropped when the handler ends.
pub(super) async fn keep_alive(claim: Option<&HeldClaim<'_>>, claim_ttl: Duration) {
    let Some(held) = claim.and_then(|h| h.claim.as_ref().map(|c| (h.manager, c))) else {
        return std::future::pending().await;
    };
    let (manager, claim) = held;
    let every = (claim_ttl / 3).max(Duration::from_millis(20));
    loop {
        tokio::time::sleep(every).await;
        let extended: redis::RedisResult<i64> = crate::scripts::IDEMPOTENCY_EXTEND
            .key(&claim.key)
            .arg(&claim.token)
            .arg(claim_ttl.as_millis() as u64)
            .invoke_async(&mut manager.clone())
            .await;
        match extended {
            Ok(1) => {}
            Ok(_) => {
                // Lost (expired during an outage, and taken): completing will say so.
                tracing::warn!(key = %claim.key, "exactly-once claim lost while its handler runs");
                return std::future::pending().await;
            }
            Err(e) => {
                tracing::debug!(key = %claim.key, error = %e, "could not extend an exactly-once claim; trying again")
            }
        }
    }
}

impl Drop for HeldClaim<'_> {
    fn drop(&mut self) {
        let Some(claim) = self.claim.take() else {
            return;
        };
        // Best effort: without a runtime (the process is ending) the claim expires instead.
        if let Ok(runtime) = tokio::runtime::Handle::try_current() {
            let manager = self.manager.clone();
            runtime.spawn(async move { release(&manager, &claim).await });
        }
    }
}

/// Deletes a claim still running under its token; a failure leaves it to expire.
async fn release(manager: &RedisConn, claim: &IdempotencyClaim) {
    let released = crate::scripts::IDEMPOTENCY_RELEASE
        .key(&claim.key)
        .arg(&claim.token)
        .invoke_async::<i64>(&mut manager.clone())
        .await;
    if let Err(e) = released {
        tracing::debug!(key = %claim.key, error = %e, "could not give an exactly-once claim back; it expires");
    }
}

/// What an exactly-once record says a delivery does.
#[derive(Debug, PartialEq, Eq)]
pub(super) enum Gate<H> {
    /// Run the handler under this claim.
    Run(H),
    /// Do not run it: write this and acknowledge. `outcome` is what the span records.
    Answer {
        finish: Finish,
        outcome: &'static str,
        code: Option<i64>,
    },
    /// Do not run it: another delivery holds it now (if that one's owner died, the claim
    /// expires and a later delivery runs it).
    Leave,
}

/// A request's gate. Done before (a crash came between its reply and its ack, or the caller
/// reused its key): answered with the stored reply under this request's id. Reused with other
/// params: refused for good with -32051 (acknowledged whether or not the answer is written).
pub(super) fn request_gate<H>(claim: Claim<H>, id: &RpcId, reply_to: Option<&str>) -> Gate<H> {
    let reply = |json: String| {
        reply_to.map(|to| Reply {
            to: to.to_owned(),
            json,
        })
    };
    match claim {
        Claim::Claimed(held) => Gate::Run(held),
        Claim::Done(stored) => {
            let json = match parse_envelope(stored.as_bytes()) {
                Ok(Envelope::Response(mut r)) => {
                    r.id = Some(id.clone());
                    r.to_json()
                }
                _ => stored,
            };
            Gate::Answer {
                finish: reply(json).map_or(Finish::Ack, Finish::Reply),
                outcome: "replayed",
                code: None,
            }
        }
        Claim::Running => Gate::Leave,
        Claim::Mismatch => Gate::Answer {
            finish: reply(encode_error(Some(id), &key_reused_error()))
                .map_or(Finish::Ack, Finish::ReplyBestEffort),
            outcome: "refused",
            code: Some(crate::codes::IDEMPOTENCY_KEY_REUSED),
        },
    }
}

/// An event's gate: one entry id is one event, so a record found done (or, impossibly, with
/// another payload) means handled before: acknowledged without running it again.
pub(super) fn event_gate<H>(claim: Claim<H>) -> Gate<H> {
    match claim {
        Claim::Claimed(held) => Gate::Run(held),
        Claim::Done(_) | Claim::Mismatch => Gate::Answer {
            finish: Finish::Ack,
            outcome: "replayed",
            code: None,
        },
        Claim::Running => Gate::Leave,
    }
}

/// The most of a record's key that is kept as it is; a longer one is hashed.
const MAX_KEY_PART: usize = 200;

/// What a request's record is keyed by (after `<prefix>:idem:<service>:`): the caller's
/// `idempotency-key` when it sent one (`key:<key>`: the same key from any caller is the same
/// operation, on purpose); else its own request id, which is only unique for that caller
/// (`call:<caller instance>/<id>`: another caller's request with the same id is another
/// request). A part longer than 200 bytes is replaced by its SHA-256 (`sha256:<hex>`), so a
/// huge key or id cannot make a huge Redis key.
pub(super) fn record_key(
    idempotency_key: Option<&str>,
    caller: Option<&str>,
    id: &RpcId,
) -> String {
    let part = match idempotency_key {
        Some(key) => format!("key:{key}"),
        None => format!("call:{}/{}", caller.unwrap_or("-"), id.key()),
    };
    if part.len() <= MAX_KEY_PART {
        return part;
    }
    let digest = Sha256::digest(part.as_bytes());
    format!(
        "sha256:{}",
        digest
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect::<String>()
    )
}

/// Claims a request's record (keyed as [`record_key`] says) and says
/// what the delivery does; `Leave` too when Redis could not be asked (the entry stays
/// pending and is tried again).
pub(super) async fn gate_request<'a>(
    state: &'a ServerState,
    rt: &ServiceRuntime,
    entry: &StreamEntry,
    request: &Request,
    reply_to: Option<&str>,
) -> Gate<HeldClaim<'a>> {
    let service = rt.name();
    let explicit = entry.text(fields::IDEMPOTENCY_KEY);
    let caller = reply_to.and_then(|to| to.strip_prefix(state.reply_prefix.as_str()));
    let key_part = record_key(explicit.as_deref(), caller, &request.id);
    let key = keys::idempotency_key(&state.config.key_prefix, service, &key_part);
    let hash = payload_hash(&request.method, &request.params);
    let (entry_id, rpc_id) = (&entry.id, &request.id);
    match claim(&state.manager, &key, &hash, claim_ttl(state)).await {
        Ok(found) => {
            match &found {
                Claim::Claimed(_) => {}
                Claim::Done(_) => {
                    tracing::info!(service, %entry_id, %rpc_id, "already completed; answering from the idempotency record")
                }
                Claim::Running => {
                    tracing::info!(service, %entry_id, %rpc_id, "in progress elsewhere; left to its owner")
                }
                Claim::Mismatch => {
                    tracing::warn!(service, %entry_id, %rpc_id, "idempotency key reused with a different payload; refused")
                }
            }
            request_gate(found, &request.id, reply_to)
        }
        Err(e) => {
            tracing::error!(service, %entry_id, error = %e, "idempotency claim failed; entry left pending");
            Gate::Leave
        }
    }
}

/// Claims an event's record for this subscriber (keyed by its entry id) and says what the
/// delivery does; `Leave` when Redis could not be asked.
pub(super) async fn gate_event<'a>(
    state: &'a ServerState,
    rt: &ServiceRuntime,
    entry: &StreamEntry,
    event: &Notification,
) -> Gate<HeldClaim<'a>> {
    let subscriber = rt.subscriber();
    let key = keys::event_record_key(&state.config.key_prefix, subscriber, rt.name(), &entry.id);
    let hash = payload_hash(&event.method, &event.params);
    match claim(&state.manager, &key, &hash, claim_ttl(state)).await {
        Ok(found) => event_gate(found),
        Err(e) => {
            tracing::warn!(service = rt.name(), entry_id = %entry.id, error = %e, "exactly-once record unavailable; event left pending");
            Gate::Leave
        }
    }
}

/// How long a claim lasts before a later delivery may take it, unless its handler's
/// [`keep_alive`] extends it: twice the claim idle time.
pub(super) fn claim_ttl(state: &ServerState) -> Duration {
    state.config.claim_idle.saturating_mul(2)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn the_payload_hash_tells_a_redelivery_from_a_reused_key() {
        let a = payload_hash("add", &json!({"a": 1, "b": 2}));
        assert_eq!(a, payload_hash("add", &json!({"a": 1, "b": 2})));
        assert_eq!(a.len(), 64);
        assert_ne!(a, payload_hash("add", &json!({"a": 1, "b": 3})));
        assert_ne!(a, payload_hash("sub", &json!({"a": 1, "b": 2})));
        // The method and the params cannot run into each other.
        assert_ne!(
            payload_hash("a", &json!("b")),
            payload_hash("a\"", &json!(""))
        );
    }

    #[test]
    fn a_request_runs_replays_leaves_or_is_refused_as_its_record_says() {
        let id = RpcId::from("r2");
        let to = Some("p:replies:c");
        assert!(matches!(
            request_gate(Claim::Claimed(()), &id, to),
            Gate::Run(_)
        ));
        assert_eq!(request_gate(Claim::<()>::Running, &id, to), Gate::Leave);
        // The stored reply goes back under this request's id.
        let stored = r#"{"jsonrpc":"2.0","id":"r1","result":{"sum":3}}"#.to_owned();
        let Gate::Answer {
            finish: Finish::Reply(reply),
            outcome: "replayed",
            code: None,
        } = request_gate(Claim::<()>::Done(stored.clone()), &id, to)
        else {
            panic!("a done record is replayed");
        };
        assert_eq!(reply.to, "p:replies:c");
        assert!(reply.json.contains(r#""id":"r2""#), "{}", reply.json);
        assert!(reply.json.contains(r#""sum":3"#), "{}", reply.json);
        assert_eq!(
            request_gate(Claim::<()>::Done(stored), &id, None),
            Gate::Answer {
                finish: Finish::Ack,
                outcome: "replayed",
                code: None
            }
        );
        let Gate::Answer {
            finish: Finish::ReplyBestEffort(refused),
            outcome: "refused",
            code: Some(code),
        } = request_gate(Claim::<()>::Mismatch, &id, to)
        else {
            panic!("a reused key is refused for good");
        };
        assert_eq!(code, crate::codes::IDEMPOTENCY_KEY_REUSED);
        assert!(refused.json.contains("-32051"), "{}", refused.json);
    }

    #[test]
    fn an_event_handled_before_is_acknowledged_without_running() {
        assert!(matches!(event_gate(Claim::Claimed(())), Gate::Run(())));
        assert_eq!(event_gate(Claim::<()>::Running), Gate::Leave);
        for claim in [Claim::<()>::Done(String::new()), Claim::Mismatch] {
            assert_eq!(
                event_gate(claim),
                Gate::Answer {
                    finish: Finish::Ack,
                    outcome: "replayed",
                    code: None
                }
            );
        }
    }

    #[test]
    fn a_record_belongs_to_its_caller_unless_the_caller_named_a_key() {
        let seven = RpcId::from(7);
        assert_eq!(record_key(None, Some("a"), &seven), "call:a/7");
        assert_ne!(
            record_key(None, Some("a"), &seven),
            record_key(None, Some("b"), &seven),
            "two callers' requests with one id are two requests"
        );
        assert_eq!(
            record_key(Some("order-42"), Some("a"), &seven),
            record_key(Some("order-42"), Some("b"), &RpcId::from(8)),
            "an idempotency key is the caller's promise: the same operation from anyone"
        );
        // An explicit key cannot pose as another caller's id.
        assert_ne!(
            record_key(Some("call:a/7"), Some("x"), &seven),
            record_key(None, Some("a"), &seven)
        );
        let huge = record_key(Some(&"k".repeat(4 << 20)), None, &seven);
        assert!(
            huge.starts_with("sha256:") && huge.len() == 7 + 64,
            "{huge}"
        );
        let long_id = RpcId::from("i".repeat(1000).as_str());
        assert!(record_key(None, Some("a"), &long_id).starts_with("sha256:"));
    }

    #[test]
    fn a_large_result_is_not_kept_but_said_so() {
        let small = r#"{"jsonrpc":"2.0","id":1,"result":3}"#;
        assert_eq!(stored_reply(small), small);
        let big = format!(
            r#"{{"jsonrpc":"2.0","id":1,"result":"{}"}}"#,
            "x".repeat(100_000)
        );
        let kept = stored_reply(&big);
        assert!(kept.len() < 200, "{kept}");
        // Replayed under the repeat's id, as a stored reply is.
        let Gate::Answer {
            finish: Finish::Reply(reply),
            ..
        } = request_gate(
            Claim::<()>::Done(kept.into_owned()),
            &RpcId::from(2),
            Some("p:replies:c"),
        )
        else {
            panic!("replayed");
        };
        let v: serde_json::Value = serde_json::from_str(&reply.json).unwrap();
        assert_eq!(v["id"], 2);
        assert_eq!(v["error"]["code"], crate::codes::RESULT_NOT_KEPT);
        assert_eq!(v["error"]["data"]["bytes"], big.len());
    }

    #[test]
    fn a_reused_key_is_refused_with_its_own_code() {
        assert_eq!(
            key_reused_error().code,
            crate::codes::IDEMPOTENCY_KEY_REUSED
        );
    }
}
