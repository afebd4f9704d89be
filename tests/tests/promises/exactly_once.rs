//! Exactly once: a redelivered request of an exactly-once method is answered from its
//! record without running the handler again, an idempotency key reused with other params is
//! refused, callers' keys make repeated calls run once, and exactly-once can be chosen per
//! method.

use std::time::Duration;

use clamator_examples::arith::{AddParams, SlowAddParams};
use clamator_protocol::CallOptions;
use clamator_redis::ServiceOptions;
use clamator_tests::{figures, wait_all_acked, wait_for, xadd_request, TestRedis, WAIT};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn exactly_once_answers_redeliveries_from_the_record_and_refuses_reused_keys() {
    let t = TestRedis::start();
    let h = t
        .arith_with(t.server_config(), ServiceOptions::new().exactly_once(true))
        .await;
    let raw = t.raw().await;
    let stream = t.cmds("arith");
    let probe = format!("{}:replies:probe", t.prefix);
    let add = r#"{"jsonrpc":"2.0","method":"arith.add","params":{"a":1,"b":2},"id":"once"}"#;
    // The same request delivered twice (as after a crash between reply and ack).
    xadd_request(&raw, &stream, add, &probe, None).await;
    xadd_request(&raw, &stream, add, &probe, None).await;
    // The same explicit key with another payload.
    xadd_request(
        &raw,
        &stream,
        r#"{"jsonrpc":"2.0","method":"arith.add","params":{"a":1,"b":2},"id":"k-1"}"#,
        &probe,
        Some("k"),
    )
    .await;
    xadd_request(
        &raw,
        &stream,
        r#"{"jsonrpc":"2.0","method":"arith.add","params":{"a":9,"b":9},"id":"k-2"}"#,
        &probe,
        Some("k"),
    )
    .await;
    let replies = clamator_tests::wait_for_envelopes(&raw, &probe, 4).await;
    // A handler run again would answer the same envelope: the record's part is told by the
    // stats (one replay) and the handler count below.
    assert_eq!(replies[0], replies[1], "the redelivery got another answer");
    assert_eq!(replies[0]["result"]["sum"], 3.0);
    assert_eq!(
        h.server.stats().replayed,
        1,
        "the redelivery was not answered from the record: {:?}",
        h.server.stats()
    );
    assert_eq!(replies[2]["result"]["sum"], 3.0);
    assert_eq!(replies[3]["id"], "k-2");
    assert_eq!(
        replies[3]["error"]["code"],
        clamator_redis::codes::IDEMPOTENCY_KEY_REUSED
    );
    assert_eq!(h.handled.get(), 2, "a handler ran for a redelivery");
    wait_all_acked(&raw, &stream, "arith").await;
    // Measured: requests written, replies, refusals among them, handler runs beyond the two
    // distinct requests that ran.
    let refused = replies.iter().filter(|r| r.get("error").is_some()).count() as u64;
    figures(
        "exactly-once redelivery",
        4,
        replies.len() as u64,
        refused,
        h.handled.get().saturating_sub(2),
    );

    // Callers name calls with a key: the same key and params run once.
    let options = CallOptions::timeout(WAIT).with_idempotency_key("order-42");
    for _ in 0..3 {
        let r = h
            .arith
            .add_with(&AddParams { a: 4.0, b: 2.0 }, options.clone())
            .await
            .unwrap();
        assert_eq!(r.sum, 6.0);
    }
    assert_eq!(
        h.handled.get(),
        3,
        "the same idempotency key ran more than once"
    );
    // The two repeats were answered from the record, and say so in the stats.
    assert_eq!(h.server.stats().replayed, 3, "{:?}", h.server.stats());
    assert_eq!(h.server.stats().in_flight, 0);
    h.stop().await;
}

/// A request id is unique for its caller only: two callers that both send id 7 (without an
/// idempotency key) make two requests, each run and each answered with its own result.
/// Before, the record was keyed by the bare id: the second caller was refused -32051.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_same_request_id_from_two_callers_is_two_requests() {
    let t = TestRedis::start();
    let h = t
        .arith_with(t.server_config(), ServiceOptions::new().exactly_once(true))
        .await;
    let raw = t.raw().await;
    let stream = t.cmds("arith");
    let (alice, bob) = (
        format!("{}:replies:alice", t.prefix),
        format!("{}:replies:bob", t.prefix),
    );
    let add = |a: u32| {
        format!(r#"{{"jsonrpc":"2.0","method":"arith.add","params":{{"a":{a},"b":1}},"id":7}}"#)
    };
    xadd_request(&raw, &stream, &add(1), &alice, None).await;
    xadd_request(&raw, &stream, &add(2), &bob, None).await;
    // Alice's request delivered again: still answered from her record.
    xadd_request(&raw, &stream, &add(1), &alice, None).await;
    let to_alice = clamator_tests::wait_for_envelopes(&raw, &alice, 2).await;
    let to_bob = clamator_tests::wait_for_envelopes(&raw, &bob, 1).await;
    assert_eq!(to_alice[0]["result"]["sum"], 2.0, "{to_alice:?}");
    // A redelivery is answered from the record: the same answer, one replay, no run.
    assert_eq!(to_alice[1], to_alice[0]);
    assert_eq!(h.server.stats().replayed, 1, "{:?}", h.server.stats());
    assert_eq!(to_bob[0]["id"], 7);
    assert_eq!(to_bob[0]["result"]["sum"], 3.0, "{to_bob:?}");
    assert_eq!(h.handled.get(), 2);
    wait_all_acked(&raw, &stream, "arith").await;
    h.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn exactly_once_can_be_chosen_per_method() {
    let t = TestRedis::start();
    let (server, handled) = t
        .arith_server_with(
            t.server_config(),
            ServiceOptions::new().exactly_once_method("add"),
        )
        .await;
    let raw = t.raw().await;
    let stream = t.cmds("arith");
    let probe = format!("{}:replies:probe", t.prefix);
    for env in [
        r#"{"jsonrpc":"2.0","method":"arith.add","params":{"a":1,"b":1},"id":"a"}"#,
        r#"{"jsonrpc":"2.0","method":"arith.echoText","params":{"text":"x"},"id":"e"}"#,
    ] {
        xadd_request(&raw, &stream, env, &probe, None).await;
        xadd_request(&raw, &stream, env, &probe, None).await;
    }
    let replies = clamator_tests::wait_for_envelopes(&raw, &probe, 4).await;
    let ids: Vec<&serde_json::Value> = replies.iter().map(|r| &r["id"]).collect();
    assert_eq!(ids, ["a", "a", "e", "e"], "{replies:?}");
    // add ran once (its redelivery answered from the record); echoText ran twice.
    assert_eq!(handled.get(), 3);
    assert_eq!(server.stats().replayed, 1, "{:?}", server.stats());
    server.stop().await;
}

/// A request retried with its idempotency key while the first attempt still runs, past the
/// claim's first lifetime (the handler takes 6 × `claim_idle`), is not run a second time: the
/// claim lives as long as the handler that holds it, and the retry is answered from the
/// record once the first completes. Before, the retry found the record expired and ran too.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_retry_during_a_slow_exactly_once_handler_does_not_run_it_again() {
    let t = TestRedis::start();
    let config = t.server_config().claim_idle(Duration::from_millis(200));
    let h = t
        .arith_with(
            config,
            ServiceOptions::new().exactly_once(true).concurrency(2),
        )
        .await;
    let raw = t.raw().await;
    let options = CallOptions::timeout(WAIT).with_idempotency_key("slow-1");
    let params = SlowAddParams {
        a: 1.0,
        b: 2.0,
        sleep_ms: 1_200,
    };
    let first = {
        let (arith, options, params) = (h.arith.clone(), options.clone(), params.clone());
        tokio::spawn(async move { arith.slow_add_with(&params, options).await })
    };
    // The retry comes while the first attempt's handler runs, after the claim's first
    // lifetime (2 × claim_idle) has passed: the record is seen past the expiry it was
    // given, so it was extended. (A record gone meanwhile lets the retry run the handler
    // again, which the count below catches.)
    wait_for("the first attempt's handler", WAIT, || async {
        h.handled.get() == 1
    })
    .await;
    let record = format!("{}:idem:arith:key:slow-1", t.prefix);
    let pttl = || {
        let (mut raw, record) = (raw.clone(), record.clone());
        async move {
            redis::cmd("PTTL")
                .arg(&record)
                .query_async::<i64>(&mut raw)
                .await
                .unwrap()
        }
    };
    let (first_ttl, seen) = (pttl().await, std::time::Instant::now());
    assert!(first_ttl > 0, "no record with a lifetime: PTTL {first_ttl}");
    let first_lifetime = Duration::from_millis(first_ttl.unsigned_abs());
    wait_for("the record past its first lifetime", WAIT, || async {
        pttl().await <= 0 || seen.elapsed() > first_lifetime
    })
    .await;
    assert!(pttl().await > 0, "the claim expired while its handler ran");
    let retry = h.arith.slow_add_with(&params, options).await.unwrap();
    let first = first.await.unwrap().unwrap();
    assert_eq!((first.sum, retry.sum), (3.0, 3.0));
    assert_eq!(h.handled.get(), 1, "the retry ran the handler again");
    h.stop().await;
}

/// An exactly-once record keeps a large result only as "not kept": the first caller gets its
/// 200 KiB answer, a redelivery gets -32053 without the handler running again, and the record
/// holds a few hundred bytes for its 24 hours instead of the whole reply (before: 200 KiB).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_large_result_is_answered_once_and_not_kept_for_replay() {
    let t = TestRedis::start();
    let h = t
        .arith_with(t.server_config(), ServiceOptions::new().exactly_once(true))
        .await;
    let raw = t.raw().await;
    let stream = t.cmds("arith");
    let probe = format!("{}:replies:probe", t.prefix);
    let text = "z".repeat(200 * 1024);
    let echo = format!(
        r#"{{"jsonrpc":"2.0","method":"arith.echoText","params":{{"text":"{text}"}},"id":"big"}}"#
    );
    xadd_request(&raw, &stream, &echo, &probe, None).await;
    xadd_request(&raw, &stream, &echo, &probe, None).await;
    let replies = clamator_tests::wait_for_envelopes(&raw, &probe, 2).await;
    assert_eq!(replies[0]["id"], "big");
    assert!(
        replies[0]["result"].to_string().len() > 200 * 1024,
        "the first caller gets all of it"
    );
    assert_eq!(replies[1]["id"], "big");
    assert_eq!(
        replies[1]["error"]["code"],
        clamator_redis::codes::RESULT_NOT_KEPT,
        "{:.200}",
        replies[1].to_string()
    );
    assert_eq!(h.handled.get(), 1);
    let record = format!("{}:idem:arith:call:probe/big", t.prefix);
    let kept: usize = redis::cmd("HSTRLEN")
        .arg(&record)
        .arg("reply")
        .query_async(&mut raw.clone())
        .await
        .unwrap();
    assert!(
        (1..1024).contains(&kept),
        "the record keeps {kept} bytes of reply"
    );
    wait_all_acked(&raw, &stream, "arith").await;
    h.stop().await;
}
