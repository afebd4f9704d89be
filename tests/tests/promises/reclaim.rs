//! Crash recovery through `XAUTOCLAIM`: an entry a dead consumer took (or a server crashing
//! under load left) is reclaimed and its call completes; a running handler's lease is
//! renewed, so a slow handler is never reclaimed or run twice; an entry whose reply Redis
//! refused is held pending while the rest of its batch is acknowledged.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use clamator_examples::arith::{AddParams, ArithClient, SlowAddParams};
use clamator_protocol::CallOptions;
use clamator_redis::ServiceOptions;
use clamator_tests::{
    create_group, figures, finish, load, pending_count, report, start_recorded_arith_server,
    take_as_dead_consumer, wait_all_acked, wait_for, wait_stream_len, xadd, Runs, Tally, TestRedis,
    WAIT,
};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_dead_consumers_entry_is_reclaimed_and_the_call_completes() {
    let t = TestRedis::start();
    let mut raw = t.raw().await;
    let stream = t.cmds("arith");
    create_group(&raw, &stream, "arith").await;
    let transport = t.transport().await;
    let arith = ArithClient::new(transport.clone());
    let call = tokio::spawn(async move {
        arith
            .add_with(&AddParams { a: 1.0, b: 2.0 }, CallOptions::timeout(WAIT))
            .await
    });
    // A server takes the entry and dies before acknowledging it.
    wait_stream_len(&raw, &stream, 1).await;
    let taken = take_as_dead_consumer(&raw, &stream, "arith", "arith:dead", 1).await;
    assert!(
        matches!(taken, redis::Value::Array(_)),
        "dead consumer took nothing"
    );
    assert_eq!(pending_count(&mut raw, &stream, "arith").await, 1);

    let (server, handled) = t
        .arith_server(t.server_config().claim_idle(Duration::from_millis(200)), 1)
        .await;
    let r = call.await.unwrap().unwrap();
    assert_eq!(r.sum, 3.0);
    assert_eq!(handled.get(), 1);
    wait_all_acked(&raw, &stream, "arith").await;
    transport.stop().await;
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn more_pending_entries_than_one_xautoclaim_returns_are_all_reclaimed() {
    let t = TestRedis::start();
    let raw = t.raw().await;
    let stream = t.cmds("arith");
    create_group(&raw, &stream, "arith").await;
    let transport = t.transport().await;
    let arith = ArithClient::new(transport.clone());
    let calls: Vec<_> = (0..40)
        .map(|i| {
            let arith = arith.clone();
            tokio::spawn(async move {
                arith
                    .add_with(
                        &AddParams {
                            a: f64::from(i),
                            b: 0.0,
                        },
                        CallOptions::timeout(WAIT),
                    )
                    .await
            })
        })
        .collect();
    wait_stream_len(&raw, &stream, 40).await;
    // A dead consumer took all 40 (XAUTOCLAIM returns at most 32 per call).
    let _ = take_as_dead_consumer(&raw, &stream, "arith", "arith:dead", 100).await;
    assert_eq!(pending_count(&mut raw.clone(), &stream, "arith").await, 40);
    let config = t.server_config().claim_idle(Duration::from_millis(200));
    let (server, handled) = t.arith_server(config, 4).await;
    for (i, call) in calls.into_iter().enumerate() {
        assert_eq!(call.await.unwrap().unwrap().sum, i as f64);
    }
    assert_eq!(handled.get(), 40);
    wait_all_acked(&raw, &stream, "arith").await;
    transport.stop().await;
    server.stop().await;
}

/// Each caller has one call at a time: what a crashed server held unanswered or
/// unacknowledged is bounded by them.
const CALLERS: u32 = 8;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_of_two_servers_crashing_under_load_loses_nothing() {
    let t = TestRedis::start();
    let config = |id: &str| {
        t.server_config()
            .instance_id(id)
            .claim_idle(Duration::from_millis(300))
    };
    let options = || ServiceOptions::new().concurrency(4);
    let (on_a, on_b) = (Runs::default(), Runs::default());
    let (a, runs_a) = start_recorded_arith_server(config("srv-A"), options(), on_a.clone()).await;
    let (b, runs_b) = start_recorded_arith_server(config("srv-B"), options(), on_b.clone()).await;
    let transport = t.transport().await;
    let (tally, stop) = (Arc::new(Tally::default()), Arc::new(AtomicBool::new(false)));
    let workers = load(
        &clamator_protocol::Client::new(transport.clone()),
        &tally,
        &stop,
        CALLERS,
        20,
        Duration::from_secs(20),
    );
    wait_for("srv-A busy", Duration::from_secs(20), || async {
        runs_a.get() >= 40
    })
    .await;
    // The crash: srv-A vanishes with work in flight, nothing of it acknowledged.
    drop(a);
    wait_for("srv-B carries on", Duration::from_secs(20), || async {
        runs_b.get() >= 80
    })
    .await;
    finish(&stop, workers).await;
    tally.print("crash under load", runs_a.get() + runs_b.get());
    let made = tally.made.load(Ordering::SeqCst);
    assert_eq!(
        tally.answered.load(Ordering::SeqCst),
        made,
        "calls were lost or failed"
    );
    // Runs beyond one per call: only srv-B's runs of what srv-A held when it crashed (its
    // callers' calls in flight, and calls answered whose ack had not gone yet): each
    // server ran each call once at most, and the calls run by both are at most two per
    // caller.
    let ran_on_both = (0..i64::from(CALLERS))
        .flat_map(|w| (0..made as i64).map(move |i| (w, i)))
        .filter(|&k| on_a.of(k) > 0 && on_b.of(k) > 0)
        .count() as u64;
    report(&format!(
        "crash under load: {} calls ran on srv-A, {} on srv-B, {ran_on_both} on both",
        on_a.calls(),
        on_b.calls()
    ));
    assert_eq!(on_a.duplicates(), 0, "srv-A ran a call twice");
    assert_eq!(on_b.duplicates(), 0, "srv-B ran a call twice");
    assert!(
        ran_on_both <= 2 * u64::from(CALLERS),
        "{ran_on_both} calls ran on both servers, more than two for each of the {CALLERS} callers"
    );
    assert_eq!(
        runs_a.get() + runs_b.get(),
        made + ran_on_both,
        "handler runs that are neither a call's first nor srv-B's rerun of srv-A's"
    );
    wait_all_acked(&t.raw().await, &t.cmds("arith"), "arith").await;
    transport.stop().await;
    b.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_handler_outliving_the_claim_idle_time_is_not_reclaimed_by_its_own_server() {
    let t = TestRedis::start();
    // Reclaim runs every second and would take anything idle for 200 ms.
    let config = t.server_config().claim_idle(Duration::from_millis(200));
    let h = t.arith(config, 1).await;
    let r = h
        .arith
        .slow_add(&SlowAddParams {
            a: 1.0,
            b: 2.0,
            sleep_ms: 2_500,
        })
        .await
        .unwrap();
    assert_eq!(r.sum, 3.0);
    assert_eq!(h.handled.get(), 1, "the slow handler ran twice");
    h.stop().await;
    assert_eq!(
        h.handled.get(),
        1,
        "the slow handler ran again after its reply"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_slow_handler_longer_than_the_claim_idle_time_runs_exactly_once() {
    let t = TestRedis::start();
    let config = t
        .server_config()
        .instance_id("srv-A")
        .claim_idle(Duration::from_millis(900));
    let (a, handled) = t.arith_server(config, 1).await;
    // Another server's reclaim, made relentless: every 100 ms it takes anything idle for
    // 900 ms. Only lease renewal (every 300 ms) keeps the running handler's entry out of
    // its hands, with 600 ms to spare for a loaded machine.
    let raw = t.raw().await;
    let stop = Arc::new(AtomicBool::new(false));
    let thief = {
        let (mut raw, stream, stop) = (raw.clone(), t.cmds("arith"), stop.clone());
        tokio::spawn(async move {
            let mut stolen = 0usize;
            while !stop.load(Ordering::SeqCst) {
                let v: redis::Value = redis::cmd("XAUTOCLAIM")
                    .arg(&stream)
                    .arg("arith")
                    .arg("arith:thief")
                    .arg(900)
                    .arg("0-0")
                    .arg("COUNT")
                    .arg(10)
                    .arg("JUSTID")
                    .query_async(&mut raw)
                    .await
                    .unwrap();
                if let redis::Value::Array(parts) = v {
                    if let Some(redis::Value::Array(ids)) = parts.get(1) {
                        stolen += ids.len();
                    }
                }
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
            stolen
        })
    };
    let transport = t.transport().await;
    let r = ArithClient::new(transport.clone())
        .slow_add(&SlowAddParams {
            a: 1.0,
            b: 2.0,
            sleep_ms: 3_000,
        })
        .await
        .unwrap();
    assert_eq!(r.sum, 3.0);
    stop.store(true, Ordering::SeqCst);
    let stolen = thief.await.unwrap();
    let runs = handled.get();
    figures("slow handler", 1, 1, 0, runs.saturating_sub(1));
    assert_eq!(
        stolen, 0,
        "another consumer took the entry of a running handler"
    );
    assert_eq!(runs, 1);
    wait_all_acked(&raw, &t.cmds("arith"), "arith").await;
    transport.stop().await;
    a.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_reply_redis_refuses_leaves_its_entry_pending_while_the_rest_of_the_batch_is_acked() {
    let t = TestRedis::start();
    // Written before the server starts, so all of them arrive in one read and their
    // replies share pipelines.
    let mut raw = t.raw().await;
    let stream = t.cmds("arith");
    clamator_tests::create_group(&raw, &stream, "arith").await;
    let good = format!("{}:replies:good", t.prefix);
    let broken = format!("{}:replies:broken", t.prefix);
    // A reply stream whose last id is the largest there is: Redis refuses every further
    // `XADD *` to it ("exhausted the last possible ID"), a refusal that, unlike a key of
    // another type, a later attempt could get past.
    let _: String = redis::cmd("XADD")
        .arg(&broken)
        .arg("18446744073709551615-18446744073709551615")
        .arg("type")
        .arg("filler")
        .query_async(&mut raw)
        .await
        .unwrap();
    for i in 0..20 {
        let to = if i == 7 { &broken } else { &good };
        let env = format!(
            r#"{{"jsonrpc":"2.0","method":"arith.add","params":{{"a":{i},"b":1}},"id":"r{i}"}}"#
        );
        xadd(
            &raw,
            &stream,
            &[("type", "rpc"), ("envelope", &env), ("reply-to", to)],
        )
        .await;
    }
    let (server, handled) = t.arith_server(t.server_config(), 4).await;
    clamator_tests::wait_for_envelopes(&raw, &good, 19).await;
    wait_for("the other 19 acked", WAIT, || {
        let (mut raw, stream) = (raw.clone(), stream.clone());
        async move { clamator_tests::pending_count(&mut raw, &stream, "arith").await == 1 }
    })
    .await;
    // The one left pending is the request whose reply could not be written.
    let pending: redis::Value = redis::cmd("XPENDING")
        .arg(&stream)
        .arg("arith")
        .arg("-")
        .arg("+")
        .arg(10)
        .query_async(&mut raw)
        .await
        .unwrap();
    let redis::Value::Array(rows) = pending else {
        panic!("unexpected XPENDING reply {pending:?}")
    };
    assert_eq!(rows.len(), 1);
    let entries: redis::streams::StreamRangeReply = redis::cmd("XRANGE")
        .arg(&stream)
        .arg("-")
        .arg("+")
        .query_async(&mut raw)
        .await
        .unwrap();
    let redis::Value::Array(row) = &rows[0] else {
        panic!("unexpected XPENDING row {:?}", rows[0])
    };
    let pending_id: String = redis::from_redis_value(row[0].clone()).unwrap();
    assert_eq!(
        pending_id, entries.ids[7].id,
        "the wrong entry was left pending"
    );
    assert_eq!(handled.get(), 20, "every handler ran once");
    server.stop().await;
}
