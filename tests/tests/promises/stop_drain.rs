//! Graceful stop: `stop` (what SIGTERM runs in a server program) reads nothing more and
//! drains in-flight work, under load too; work still running after the shutdown grace is
//! abandoned unacknowledged, for another server to reclaim.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use clamator_examples::arith::SlowAddParams;
use clamator_tests::{
    finish, load, pending_count, wait_all_acked, wait_for, Tally, TestRedis, WAIT,
};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn graceful_stop_drains_in_flight_work() {
    let t = TestRedis::start();
    let h = t.arith(t.server_config(), 1).await;
    let call = {
        let arith = h.arith.clone();
        tokio::spawn(async move {
            arith
                .slow_add(&SlowAddParams {
                    a: 1.0,
                    b: 2.0,
                    sleep_ms: 600,
                })
                .await
        })
    };
    wait_for("handler started", WAIT, || async { h.handled.get() == 1 }).await;
    let report = h.server.stop().await;
    assert!(report.drained);
    assert_eq!(call.await.unwrap().unwrap().sum, 3.0);
    let raw = t.raw().await;
    wait_all_acked(&raw, &t.cmds("arith"), "arith").await;
    h.transport.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stop_never_acknowledges_unfinished_work() {
    let t = TestRedis::start();
    let config = t
        .server_config()
        .instance_id("srv-A")
        .shutdown_grace(Duration::from_millis(100));
    let first = t.arith(config, 1).await;
    let call = clamator_tests::spawn_slow_add(&first.arith, 1.0, 2.0, 1_500);
    wait_for("handler started", WAIT, || async {
        first.handled.get() == 1
    })
    .await;
    let report = first.server.stop().await;
    assert!(!report.drained);
    let mut raw = t.raw().await;
    assert_eq!(
        pending_count(&mut raw, &t.cmds("arith"), "arith").await,
        1,
        "unfinished work was acked"
    );
    // Another server reclaims the abandoned entry and the caller still gets its answer.
    let config = t
        .server_config()
        .instance_id("srv-B")
        .claim_idle(Duration::from_millis(200));
    let (second, handled_second) = t.arith_server(config, 1).await;
    assert_eq!(call.await.unwrap().unwrap().sum, 3.0);
    assert_eq!(handled_second.get(), 1);
    wait_all_acked(&raw, &t.cmds("arith"), "arith").await;
    first.transport.stop().await;
    second.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_drain_under_load_finishes_in_flight_work() {
    let t = TestRedis::start();
    let h = t.arith(t.server_config(), 8).await;
    let (tally, stop) = (Arc::new(Tally::default()), Arc::new(AtomicBool::new(false)));
    let workers = load(&h.client, &tally, &stop, 8, 150, Duration::from_secs(20));
    wait_for("load running", Duration::from_secs(20), || async {
        h.handled.get() >= 16
    })
    .await;
    // Stop reading with calls in flight; let the callers give up on what was not taken.
    stop.store(true, Ordering::SeqCst);
    let report = h.server.stop().await;
    assert!(
        report.drained,
        "in-flight work did not finish within the grace period"
    );
    finish(&stop, workers).await;
    let raw = t.raw().await;
    tally.print("drain under load", h.handled.get());
    // Everything a handler started was answered, and nothing is left half-done.
    assert_eq!(tally.answered.load(Ordering::SeqCst), h.handled.get());
    wait_all_acked(&raw, &t.cmds("arith"), "arith").await;
    h.transport.stop().await;
}
