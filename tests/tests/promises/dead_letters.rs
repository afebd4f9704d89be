//! Dead letters: a request past `max_deliveries` and malformed entries land in the dead
//! letter stream, answered with `DEAD_LETTERED` where a caller waits; `DeadLetters` lists,
//! replays (onto the command stream, once) and purges them.

use clamator_examples::arith::AddParams;
use clamator_tests::{wait_all_acked, wait_for, xadd, xadd_request, TestRedis, WAIT};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dead_letters_can_be_listed_replayed_and_purged() {
    let t = TestRedis::start();
    // A server that dead-letters everything on its first delivery.
    let strict = t.arith(t.server_config().max_deliveries(0), 1).await;
    let err = strict
        .arith
        .add(&AddParams { a: 1.0, b: 2.0 })
        .await
        .unwrap_err();
    assert_eq!(err.code(), Some(clamator_redis::codes::DEAD_LETTERED));
    assert_eq!(strict.handled.get(), 0);
    assert_eq!(strict.server.stats().dead_lettered, 1);
    strict.server.stop().await;

    let dlq =
        clamator_redis::DeadLetters::connect(&clamator_redis::RedisTarget::new(t.url()), &t.prefix)
            .await
            .unwrap();
    let letters = dlq.list("arith", 10).await.unwrap();
    assert_eq!(letters.len(), 1);
    assert_eq!(
        (letters[0].reason.as_str(), letters[0].deliveries),
        ("max-deliveries", 1)
    );
    assert_eq!(
        letters[0].reply_to.as_deref(),
        Some(strict.transport.reply_stream())
    );

    // Replayed onto the command stream, an ordinary server serves it.
    let (server, handled) = t.arith_server(t.server_config(), 1).await;
    dlq.replay("arith", &letters[0].id).await.unwrap();
    wait_for("the replayed request handled", WAIT, || async {
        handled.get() == 1
    })
    .await;
    assert!(dlq.list("arith", 10).await.unwrap().is_empty());
    assert!(dlq
        .replay("arith", &letters[0].id)
        .await
        .unwrap_err()
        .is_invalid_argument());

    // Malformed entries are dead-lettered too; purge empties the stream.
    let raw = t.raw().await;
    for envelope in [
        "not json",
        r#"{"jsonrpc":"1.0","method":"arith.add","id":1}"#,
    ] {
        xadd(
            &raw,
            &t.cmds("arith"),
            &[("type", "rpc"), ("envelope", envelope)],
        )
        .await;
    }
    wait_for("malformed entries dead-lettered", WAIT, || async {
        server.stats().malformed == 2
    })
    .await;
    let letters = dlq.list("arith", 10).await.unwrap();
    assert_eq!(
        letters
            .iter()
            .map(|l| l.reason.as_str())
            .collect::<Vec<_>>(),
        ["malformed", "malformed"]
    );
    assert!(letters[1].error.contains("jsonrpc"), "{:?}", letters[1]);
    assert_eq!(dlq.purge("arith").await.unwrap(), 2);
    assert!(dlq.list("arith", 10).await.unwrap().is_empty());
    wait_all_acked(&raw, &t.cmds("arith"), "arith").await;
    strict.transport.stop().await;
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_oversized_envelope_is_answered_and_kept_only_in_part() {
    let t = TestRedis::start();
    let (server, handled) = t.arith_server(t.server_config(), 1).await;
    let raw = t.raw().await;
    let stream = t.cmds("arith");
    let reply_to = format!("{}:replies:big", t.prefix);
    // 4 MiB, four times the limit, and not even valid JSON past its beginning.
    let envelope = format!(
        r#"{{"jsonrpc":"2.0","id":"huge","method":"arith.add","params":{{"pad":"{}"#,
        "x".repeat(4 << 20)
    );
    xadd_request(&raw, &stream, &envelope, &reply_to, None).await;
    let reply = &clamator_tests::wait_for_envelopes(&raw, &reply_to, 1).await[0];
    assert_eq!(reply["id"], "huge");
    assert_eq!(reply["error"]["code"], -32600);
    wait_all_acked(&raw, &stream, "arith").await;
    assert_eq!(handled.get(), 0);
    let dlq =
        clamator_redis::DeadLetters::connect(&clamator_redis::RedisTarget::new(t.url()), &t.prefix)
            .await
            .unwrap();
    let letters = dlq.list("arith", 10).await.unwrap();
    assert_eq!(letters.len(), 1);
    assert!(letters[0].truncated);
    let kept = letters[0].envelope.as_deref().unwrap_or_default();
    assert_eq!(
        kept.len(),
        64 * 1024,
        "the dead letter keeps a bounded prefix"
    );
    assert!(envelope.starts_with(kept));
    let err = dlq.replay("arith", &letters[0].id).await.unwrap_err();
    assert!(err.is_invalid_argument(), "{err}");
    server.stop().await;
}

/// The published Python client writes `id` after `params`: an oversized request from it is
/// answered too, its id found wherever it sits (before, only the first 64 KiB were looked at,
/// and such a caller waited out its timeout).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_oversized_envelope_with_its_id_last_is_answered() {
    let t = TestRedis::start();
    let (server, handled) = t.arith_server(t.server_config(), 1).await;
    let raw = t.raw().await;
    let stream = t.cmds("arith");
    let reply_to = format!("{}:replies:py", t.prefix);
    // Python's key order: jsonrpc, method, params, id; 2 MiB of text before the id, with an
    // `id` inside params that is not the request's.
    let envelope = format!(
        r#"{{"jsonrpc":"2.0","method":"arith.echoText","params":{{"id":"inner","text":"{}"}},"id":"py-7"}}"#,
        "y".repeat(2 << 20)
    );
    xadd_request(&raw, &stream, &envelope, &reply_to, None).await;
    let reply = &clamator_tests::wait_for_envelopes(&raw, &reply_to, 1).await[0];
    assert_eq!(reply["id"], "py-7");
    assert_eq!(reply["error"]["code"], -32600);
    assert!(
        reply["error"]["data"]["reason"]
            .as_str()
            .unwrap_or_default()
            .contains("exceeds the limit"),
        "{reply}"
    );
    wait_all_acked(&raw, &stream, "arith").await;
    assert_eq!(handled.get(), 0);
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn entries_peers_would_read_differently_are_dead_lettered() {
    let t = TestRedis::start();
    let (server, handled) = t.arith_server(t.server_config(), 1).await;
    let raw = t.raw().await;
    let stream = t.cmds("arith");
    let reply_to = format!("{}:replies:twice", t.prefix);
    let first = r#"{"jsonrpc":"2.0","id":"a","method":"arith.add","params":{"a":1,"b":1}}"#;
    let second = r#"{"jsonrpc":"2.0","id":"b","method":"arith.add","params":{"a":2,"b":2}}"#;
    xadd(
        &raw,
        &stream,
        &[
            ("type", "rpc"),
            ("envelope", first),
            ("reply-to", &reply_to),
            ("envelope", second),
        ],
    )
    .await;
    let letters = t.dead_letters("arith").await;
    assert_eq!(letters[0].reason, "malformed");
    assert!(
        letters[0].error.contains("envelope field more than once"),
        "{}",
        letters[0].error
    );
    wait_all_acked(&raw, &stream, "arith").await;
    assert_eq!(handled.get(), 0);
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_non_utf8_envelope_with_a_readable_id_is_answered_with_a_parse_error() {
    let t = TestRedis::start();
    let (server, _) = t.arith_server(t.server_config(), 1).await;
    let raw = t.raw().await;
    let reply_to = format!("{}:replies:bytes", t.prefix);
    let mut envelope =
        br#"{"jsonrpc":"2.0","id":"bin","method":"arith.add","params":{"a":"#.to_vec();
    envelope.extend_from_slice(b"\"\xff\xfe\",\"b\":1}}");
    let _: String = redis::cmd("XADD")
        .arg(t.cmds("arith"))
        .arg("*")
        .arg("type")
        .arg("rpc")
        .arg("envelope")
        .arg(envelope)
        .arg("reply-to")
        .arg(&reply_to)
        .query_async(&mut raw.clone())
        .await
        .unwrap();
    let replies = || {
        let (mut raw, reply_to) = (raw.clone(), reply_to.clone());
        async move { clamator_tests::stream_envelopes(&mut raw, &reply_to).await }
    };
    wait_for("the parse error", WAIT, || async {
        !replies().await.is_empty()
    })
    .await;
    let reply = &replies().await[0];
    assert_eq!(reply["id"], "bin");
    assert_eq!(reply["error"]["code"], -32700);
    server.stop().await;
}

/// A dead letter is bounded whatever the entry: 100 fields of 60 KiB and a 1 MiB field name
/// (6.9 MB as written) become a letter of at most 256 KiB of the entry's fields, which says
/// what it dropped. Before, every field was kept whole but for its value's 64 KiB cap: the
/// letter was as large as the entry.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_dead_letter_stays_bounded_however_many_and_large_the_fields() {
    let t = TestRedis::start();
    let (server, handled) = t.arith_server(t.server_config(), 1).await;
    let raw = t.raw().await;
    let stream = t.cmds("arith");
    let padding = "p".repeat(60 * 1024);
    let long_name = "n".repeat(1 << 20);
    let names: Vec<String> = (0..100).map(|i| format!("extra-{i}")).collect();
    let mut fields: Vec<(&str, &str)> = vec![("type", "rpc"), ("envelope", "not json")];
    fields.extend(names.iter().map(|n| (n.as_str(), padding.as_str())));
    fields.push((long_name.as_str(), "v"));
    xadd(&raw, &stream, &fields).await;
    wait_all_acked(&raw, &stream, "arith").await;
    assert_eq!(handled.get(), 0);
    let dlq = format!("{}:dlq:arith", t.prefix);
    let letters: redis::streams::StreamRangeReply = redis::cmd("XRANGE")
        .arg(&dlq)
        .arg("-")
        .arg("+")
        .query_async(&mut raw.clone())
        .await
        .unwrap();
    assert_eq!(letters.ids.len(), 1);
    let letter = &letters.ids[0].map;
    let bytes: usize = letter
        .iter()
        .map(|(k, v)| {
            k.len()
                + match v {
                    redis::Value::BulkString(b) => b.len(),
                    _ => 0,
                }
        })
        .sum();
    assert!(bytes < 300 * 1024, "a letter of {bytes} bytes");
    assert!(
        letter.contains_key("envelope"),
        "clamator's fields are kept first"
    );
    let note: String = redis::from_redis_value(letter["dlq-truncated"].clone()).unwrap();
    assert!(note.contains("fields dropped"), "{note}");
    server.stop().await;
}
