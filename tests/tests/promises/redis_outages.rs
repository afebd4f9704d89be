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
    let _: () = redis::cmd("FLUSHALL")
        .query_async(&mut t.raw().await)
        .await
        .unwrap();
    let after_flush = tally.answered.load(Ordering::SeqCst);
    wait_for(
        "calls answered again after FLUSHALL",
        Duration::from_secs(20),
        || async { tally.answered.load(Ordering::SeqCst) >= after_flush + 50 },
    )
    .await;
    finish(&stop, workers).await;
    tally.print("FLUSHALL under load", h.handled.get());
    // Only calls whose requests FLUSHALL erased can fail, and they fail with a clear error.
    let failed = tally.made.load(Ordering::SeqCst) - tally.answered.load(Ordering::SeqCst);
    assert!(
        failed <= 8,
        "{failed} calls failed; at most the 8 in flight at the flush may"
    );
    assert_eq!(tally.other.load(Ordering::SeqCst), 0);
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
    h.stop().await;
}
