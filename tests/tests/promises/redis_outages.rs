//! Redis going away: FLUSHALL (the lost consumer group is re-created on `NOGROUP`), a
//! redis-server killed and restarted (without persistence, and with an AOF losing no
//! accepted request), under load and not; transports failing fast past
//! `unreachable_limit`, and everything reconnecting on its own.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use clamator_examples::arith::AddParams;
use clamator_protocol::CallOptions;
use clamator_tests::{finish, load, wait_for, Harness, Tally, TestRedis, WAIT};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn flushall_recreates_the_group_and_serving_goes_on() {
    let t = TestRedis::start();
    let h = t.arith(t.server_config(), 1).await;
    let add = AddParams { a: 1.0, b: 1.0 };
    assert_eq!(h.arith.add(&add).await.unwrap().sum, 2.0);
    let mut raw = t.raw().await;
    let _: () = redis::cmd("FLUSHALL").query_async(&mut raw).await.unwrap();
    // The request written after the flush (stream re-created, no group) is still served.
    let r = h
        .arith
        .add_with(&add, CallOptions::timeout(WAIT))
        .await
        .unwrap();
    assert_eq!(r.sum, 2.0);
    h.stop().await;
}

/// A stream flushed and written again in the millisecond of the server's last delivery:
/// its new entries have ids at or below that delivery (sequence numbers restart), and are
/// served all the same. Here the ids are written by hand, so the collision always happens.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stream_written_again_in_the_millisecond_of_the_last_delivery_is_served() {
    let t = TestRedis::start();
    let (server, handled) = t.arith_server(t.server_config(), 1).await;
    let raw = t.raw().await;
    let stream = t.cmds("arith");
    let probe = format!("{}:replies:probe", t.prefix);
    let ms = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis();
    let add = |pipe: &mut redis::Pipeline, id: String, i: usize| {
        clamator_tests::add_request_at(pipe, &stream, &id, &probe, i);
    };
    let mut first = redis::pipe();
    add(&mut first, format!("{ms}-5"), 0);
    let () = first.query_async(&mut raw.clone()).await.unwrap();
    clamator_tests::wait_for_envelopes(&raw, &probe, 1).await;
    let mut flush = redis::pipe();
    flush.atomic().cmd("FLUSHALL").ignore();
    for seq in 0..4 {
        add(&mut flush, format!("{ms}-{seq}"), seq + 1);
    }
    let () = flush.query_async(&mut raw.clone()).await.unwrap();
    // The first reply went with the flush; the four new requests are answered.
    clamator_tests::wait_for_envelopes(&raw, &probe, 4).await;
    assert_eq!(handled.get(), 5);
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn redis_restart_mid_traffic_then_calls_succeed_again() {
    let mut t = TestRedis::start();
    let h = t.arith(t.server_config(), 1).await;
    let add = AddParams { a: 20.0, b: 22.0 };
    for _ in 0..20 {
        assert_eq!(h.arith.add(&add).await.unwrap().sum, 42.0);
    }
    t.process.kill();
    let err = h
        .arith
        .add_with(&add, CallOptions::timeout(Duration::from_secs(2)))
        .await
        .unwrap_err();
    assert!(
        err.is_transport() || err.is_timeout(),
        "unexpected error while Redis is down: {err}"
    );
    t.process.restart().unwrap();
    // Everything reconnects on its own: the client's connections, the server's consumer
    // loop (which also re-creates the group the empty Redis lost), the reply reader.
    let mut answered = 0;
    let deadline = std::time::Instant::now() + Duration::from_secs(40);
    while answered < 10 {
        assert!(
            std::time::Instant::now() < deadline,
            "calls did not recover after the restart"
        );
        match h
            .arith
            .add_with(&add, CallOptions::timeout(Duration::from_secs(2)))
            .await
        {
            Ok(r) => {
                assert_eq!(r.sum, 42.0);
                answered += 1;
            }
            Err(e) => {
                assert!(e.is_transport() || e.is_timeout(), "{e}");
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
        }
    }
    h.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn clients_fail_fast_while_redis_stays_unreachable_and_recover() {
    let mut t = TestRedis::start();
    let (server, handled) = t.arith_server(t.server_config(), 1).await;
    let transport = t
        .transport_with(
            t.transport_config()
                .unreachable_limit(Duration::from_millis(300)),
        )
        .await;
    let h = Harness::new(server, handled, transport);
    let add = AddParams { a: 1.0, b: 1.0 };
    let timeout = CallOptions::timeout(Duration::from_secs(10));
    assert_eq!(
        h.arith.add_with(&add, timeout.clone()).await.unwrap().sum,
        2.0
    );
    t.process.kill();
    // Past the limit, calls are refused at once with a clear error, not left to time out.
    wait_for("calls failing fast", WAIT, || {
        let (arith, timeout) = (h.arith.clone(), timeout.clone());
        async move {
            match arith.add_with(&AddParams { a: 1.0, b: 1.0 }, timeout).await {
                Err(e) => {
                    assert!(e.is_transport(), "{e}");
                    e.to_string().contains("unreachable")
                }
                Ok(r) => panic!("answered while Redis was down: {r:?}"),
            }
        }
    })
    .await;
    t.process.restart().unwrap();
    wait_for("calls answered again", WAIT, || {
        let (arith, timeout) = (h.arith.clone(), timeout.clone());
        async move {
            arith
                .add_with(&AddParams { a: 1.0, b: 1.0 }, timeout)
                .await
                .is_ok()
        }
    })
    .await;
    h.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn flushall_under_load() {
    let t = TestRedis::start();
    let h = t
        .arith(t.server_config().claim_idle(Duration::from_millis(500)), 4)
        .await;
    let (tally, stop) = (Arc::new(Tally::default()), Arc::new(AtomicBool::new(false)));
    let workers = load(&h.client, &tally, &stop, 8, 10, Duration::from_secs(3));
    wait_for("load running", Duration::from_secs(20), || async {
        h.handled.get() >= 50
    })
    .await;
    // Requests queued in the same transaction as the flush wait in a stream without a group,
    // as a caller's would between the flush and the server's next read. A group re-created
    // at `$` would never serve them.
    let raw = t.raw().await;
    let probe = format!("{}:replies:probe", t.prefix);
    let mut flush = redis::pipe();
    flush.atomic().cmd("FLUSHALL").ignore();
    clamator_tests::add_requests(&mut flush, &t.cmds("arith"), &probe, 20);
    let () = flush.query_async(&mut raw.clone()).await.unwrap();
    let after_flush = tally.answered.load(Ordering::SeqCst);
    wait_for(
        "calls answered again after FLUSHALL",
        Duration::from_secs(20),
        || async { tally.answered.load(Ordering::SeqCst) >= after_flush + 50 },
    )
    .await;
    clamator_tests::wait_for_envelopes(&raw, &probe, 20).await;
    finish(&stop, workers).await;
    tally.print("FLUSHALL under load", h.handled.get() - 20);
    // Only calls whose requests FLUSHALL erased can fail, and they fail with a clear error.
    let failed = tally.made.load(Ordering::SeqCst) - tally.answered.load(Ordering::SeqCst);
    assert!(
        failed <= 8,
        "{failed} calls failed; at most the 8 in flight at the flush may"
    );
    assert_eq!(tally.other.load(Ordering::SeqCst), 0);
    tally.assert_duplicates_at_most(h.handled.get() - 20, 8);
    h.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn redis_killed_and_restarted_with_aof_loses_no_accepted_request() {
    let mut t = TestRedis::start_with(&[
        "--save",
        "",
        "--appendonly",
        "yes",
        "--appendfsync",
        "always",
    ]);
    let h = t
        .arith(t.server_config().claim_idle(Duration::from_millis(500)), 4)
        .await;
    let (tally, stop) = (Arc::new(Tally::default()), Arc::new(AtomicBool::new(false)));
    // Long timeouts: a request Redis accepted must be answered, however long the outage.
    let workers = load(&h.client, &tally, &stop, 8, 10, Duration::from_secs(30));
    wait_for("load running", Duration::from_secs(20), || async {
        h.handled.get() >= 50
    })
    .await;
    t.process.kill();
    tokio::time::sleep(Duration::from_millis(300)).await;
    t.process.restart().unwrap();
    let after = tally.answered.load(Ordering::SeqCst);
    wait_for(
        "calls answered again after the restart",
        Duration::from_secs(40),
        || async { tally.answered.load(Ordering::SeqCst) >= after + 50 },
    )
    .await;
    finish(&stop, workers).await;
    tally.print("AOF restart under load", h.handled.get());
    // Calls fail only where Redis refused the request (transport errors); none that Redis
    // accepted times out unanswered.
    assert_eq!(
        tally.timeouts.load(Ordering::SeqCst),
        0,
        "a request Redis accepted went unanswered"
    );
    assert_eq!(tally.other.load(Ordering::SeqCst), 0);
    tally.assert_duplicates_at_most(h.handled.get(), 8);
    h.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn requests_queued_before_any_server_ran_are_served() {
    // No server ever ran, so there is no group yet: clamator would create it at `$` and
    // never serve these.
    let t = TestRedis::start();
    let probe = format!("{}:replies:probe", t.prefix);
    clamator_tests::queue_adds(&t.raw().await, &t.cmds("arith"), &probe, 20).await;
    let (server, handled) = t.arith_server(t.server_config(), 1).await;
    let raw = t.raw().await;
    clamator_tests::wait_for_envelopes(&raw, &probe, 20).await;
    assert_eq!(handled.get(), 20);
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_group_deleted_under_a_fresh_server_does_not_run_old_answered_requests_again() {
    let t = TestRedis::start();
    let raw = t.raw().await;
    // Thirty requests answered by a first server, which then goes away. They are younger
    // than the next server's maximum request age (60 s), so age alone would run them again.
    let first = t.arith(t.server_config(), 1).await;
    for i in 0..30 {
        let r = first
            .arith
            .add(&AddParams {
                a: f64::from(i),
                b: 1.0,
            })
            .await
            .unwrap();
        assert_eq!(r.sum, f64::from(i) + 1.0);
    }
    first.stop().await;
    let second = t.arith(t.server_config(), 1).await;
    // The group vanishes under the fresh server, which has read nothing yet.
    let _: () = redis::cmd("XGROUP")
        .arg("DESTROY")
        .arg(t.cmds("arith"))
        .arg("arith")
        .query_async(&mut raw.clone())
        .await
        .map(|_: i64| ())
        .unwrap();
    wait_for("the group re-created", WAIT, || async {
        second.server.stats().groups_recreated == 1
    })
    .await;
    let r = second
        .arith
        .add(&AddParams { a: 2.0, b: 2.0 })
        .await
        .unwrap();
    assert_eq!(r.sum, 4.0);
    assert_eq!(second.handled.get(), 1, "answered requests ran again");
    second.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn readiness_follows_redis_going_away_and_coming_back() {
    let mut t = TestRedis::start();
    let h = t.arith(t.server_config(), 1).await;
    assert!(h.server.is_ready(), "ready once started");
    // A call first, so the client's connections are up when Redis goes: the first call
    // after the restart then meets a connection broken under it, not a fresh one.
    let r = h.arith.add(&AddParams { a: 1.0, b: 2.0 }).await.unwrap();
    assert_eq!(r.sum, 3.0);
    t.process.kill();
    wait_for("not ready while Redis is down", WAIT, || async {
        !h.server.is_ready()
    })
    .await;
    t.process.restart().unwrap();
    wait_for("ready again", Duration::from_secs(40), || async {
        h.server.is_ready()
    })
    .await;
    let r = h
        .arith
        .add_with(&AddParams { a: 1.0, b: 1.0 }, CallOptions::timeout(WAIT))
        .await
        .unwrap();
    assert_eq!(r.sum, 2.0);
    h.stop().await;
    assert!(!h.server.is_ready(), "a stopped server is not ready");
}
