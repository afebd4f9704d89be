//! Faults under load, each printing its figures: calls made, answered, failed (with the kind
//! of error), duplicated (handler runs beyond one per call).
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::print_stdout
)]

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use clamator_examples::arith::{AddResult, SlowAddParams};
use clamator_protocol::{CallOptions, Client, Error};
use clamator_tests::{wait_all_acked, wait_for, TestRedis};

#[derive(Default)]
struct Tally {
    made: AtomicU64,
    answered: AtomicU64,
    timeouts: AtomicU64,
    transport: AtomicU64,
    other: AtomicU64,
}

impl Tally {
    fn record(&self, r: &Result<AddResult, Error>, want: f64) {
        self.made.fetch_add(1, Ordering::SeqCst);
        match r {
            Ok(v) => {
                assert_eq!(v.sum, want, "a call got another call's answer");
                self.answered.fetch_add(1, Ordering::SeqCst);
            }
            Err(e) if e.is_timeout() => _ = self.timeouts.fetch_add(1, Ordering::SeqCst),
            Err(e) if e.is_transport() => _ = self.transport.fetch_add(1, Ordering::SeqCst),
            Err(_) => _ = self.other.fetch_add(1, Ordering::SeqCst),
        }
    }

    fn print(&self, test: &str, handler_runs: u64) {
        let g = |a: &AtomicU64| a.load(Ordering::SeqCst);
        let (made, answered) = (g(&self.made), g(&self.answered));
        println!(
            "{test}: calls made {made}, answered {answered}, failed {} (timeouts {}, transport errors {}, other {}), duplicated {}",
            made - answered,
            g(&self.timeouts),
            g(&self.transport),
            g(&self.other),
            handler_runs.saturating_sub(answered),
        );
    }
}

/// `workers` tasks each calling `slowAdd` in a loop until `stop` is set.
fn load(
    client: &Client,
    tally: &Arc<Tally>,
    stop: &Arc<AtomicBool>,
    workers: u32,
    sleep_ms: i64,
    timeout: Duration,
) -> Vec<tokio::task::JoinHandle<()>> {
    (0..workers)
        .map(|w| {
            let (client, tally, stop) = (client.clone(), Arc::clone(tally), Arc::clone(stop));
            tokio::spawn(async move {
                let mut i = 0.0;
                while !stop.load(Ordering::SeqCst) {
                    let params = SlowAddParams {
                        a: f64::from(w),
                        b: i,
                        sleep_ms,
                    };
                    let r = client
                        .call_with("arith", "slowAdd", &params, CallOptions::timeout(timeout))
                        .await;
                    tally.record(&r, f64::from(w) + i);
                    i += 1.0;
                }
            })
        })
        .collect()
}

async fn finish(stop: &AtomicBool, workers: Vec<tokio::task::JoinHandle<()>>) {
    stop.store(true, Ordering::SeqCst);
    for w in workers {
        w.await.unwrap();
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_of_two_servers_crashing_under_load_loses_nothing() {
    let t = TestRedis::start();
    let config = |id: &str| {
        t.server_config()
            .instance_id(id)
            .claim_idle(Duration::from_millis(300))
    };
    let (a, runs_a) = t.arith_server(config("srv-A"), 4).await;
    let (b, runs_b) = t.arith_server(config("srv-B"), 4).await;
    let redis = t.client().await;
    let (tally, stop) = (Arc::new(Tally::default()), Arc::new(AtomicBool::new(false)));
    let workers = load(
        &clamator_protocol::Client::new(redis.clone()),
        &tally,
        &stop,
        8,
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
    assert_eq!(
        tally.answered.load(Ordering::SeqCst),
        tally.made.load(Ordering::SeqCst),
        "calls were lost or failed"
    );
    wait_all_acked(&t.raw().await, &t.cmds("arith"), "arith").await;
    redis.stop().await;
    b.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_drain_under_load_finishes_in_flight_work() {
    let t = TestRedis::start();
    let (server, runs) = t.arith_server(t.server_config(), 8).await;
    let redis = t.client().await;
    let (tally, stop) = (Arc::new(Tally::default()), Arc::new(AtomicBool::new(false)));
    let workers = load(
        &clamator_protocol::Client::new(redis.clone()),
        &tally,
        &stop,
        8,
        150,
        Duration::from_secs(20),
    );
    wait_for("load running", Duration::from_secs(20), || async {
        runs.get() >= 16
    })
    .await;
    // Stop reading with calls in flight; let the callers give up on what was not taken.
    stop.store(true, Ordering::SeqCst);
    let report = server.stop().await;
    assert!(
        report.drained,
        "in-flight work did not finish within the grace period"
    );
    finish(&stop, workers).await;
    let raw = t.raw().await;
    tally.print("drain under load", runs.get());
    // Everything a handler started was answered, and nothing is left half-done.
    assert_eq!(tally.answered.load(Ordering::SeqCst), runs.get());
    wait_all_acked(&raw, &t.cmds("arith"), "arith").await;
    redis.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn flushall_under_load() {
    let t = TestRedis::start();
    let (server, runs) = t
        .arith_server(t.server_config().claim_idle(Duration::from_millis(500)), 4)
        .await;
    let redis = t.client().await;
    let (tally, stop) = (Arc::new(Tally::default()), Arc::new(AtomicBool::new(false)));
    let workers = load(
        &clamator_protocol::Client::new(redis.clone()),
        &tally,
        &stop,
        8,
        10,
        Duration::from_secs(3),
    );
    wait_for("load running", Duration::from_secs(20), || async {
        runs.get() >= 50
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
    tally.print("FLUSHALL under load", runs.get());
    // Only calls whose requests FLUSHALL erased can fail, and they fail with a clear error.
    let failed = tally.made.load(Ordering::SeqCst) - tally.answered.load(Ordering::SeqCst);
    assert!(
        failed <= 8,
        "{failed} calls failed; at most the 8 in flight at the flush may"
    );
    assert_eq!(tally.other.load(Ordering::SeqCst), 0);
    redis.stop().await;
    server.stop().await;
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
    let (server, runs) = t
        .arith_server(t.server_config().claim_idle(Duration::from_millis(500)), 4)
        .await;
    let redis = t.client().await;
    let (tally, stop) = (Arc::new(Tally::default()), Arc::new(AtomicBool::new(false)));
    // Long timeouts: a request Redis accepted must be answered, however long the outage.
    let workers = load(
        &clamator_protocol::Client::new(redis.clone()),
        &tally,
        &stop,
        8,
        10,
        Duration::from_secs(30),
    );
    wait_for("load running", Duration::from_secs(20), || async {
        runs.get() >= 50
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
    tally.print("AOF restart under load", runs.get());
    // Calls fail only where Redis refused the request (transport errors); none that Redis
    // accepted times out unanswered.
    assert_eq!(
        tally.timeouts.load(Ordering::SeqCst),
        0,
        "a request Redis accepted went unanswered"
    );
    assert_eq!(tally.other.load(Ordering::SeqCst), 0);
    redis.stop().await;
    server.stop().await;
}
