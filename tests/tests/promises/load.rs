//! Concurrency and ordering: many concurrent calls each get their own reply, a pool of
//! servers shares the work, a service with concurrency 1 handles (and answers) in stream
//! order, and a higher concurrency runs that many handlers in parallel.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use clamator_examples::arith::AddParams;
use clamator_protocol::{CallOptions, RpcError, Service};
use clamator_redis::{RedisServer, ServiceOptions};
use clamator_tests::{create_group, stream_envelopes, wait_for, wait_stream_len, TestRedis, WAIT};
use tokio::sync::Semaphore;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hundred_concurrent_calls_are_correlated() {
    let t = TestRedis::start();
    let h = t.arith(t.server_config(), 1).await;
    let calls = (0..100).map(|i| {
        let arith = h.arith.clone();
        async move {
            let r = arith
                .add(&AddParams {
                    a: f64::from(i),
                    b: 1000.0,
                })
                .await
                .unwrap();
            (i, r.sum)
        }
    });
    let results = futures_join_all(calls).await;
    for (i, sum) in results {
        assert_eq!(
            sum,
            f64::from(i) + 1000.0,
            "call {i} got another call's reply"
        );
    }
    // Each call ran once: none was answered twice, or from another's run.
    assert_eq!(h.handled.get(), 100);
    h.stop().await;
}

async fn futures_join_all<F: std::future::Future + Send + 'static>(
    futs: impl Iterator<Item = F>,
) -> Vec<F::Output>
where
    F::Output: Send,
{
    let handles: Vec<_> = futs.map(tokio::spawn).collect();
    let mut out = Vec::new();
    for h in handles {
        out.push(h.await.unwrap());
    }
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn worker_pool_of_two_servers_shares_the_work() {
    let t = TestRedis::start();
    // srv-A, with the transport the calls go through.
    let h = t.arith(t.server_config().instance_id("srv-A"), 1).await;
    let (b, handled_b) = t
        .arith_server(t.server_config().instance_id("srv-B"), 1)
        .await;
    for _ in 0..50 {
        let r = h.arith.add(&AddParams { a: 1.0, b: 1.0 }).await.unwrap();
        assert_eq!(r.sum, 2.0);
    }
    let (na, nb) = (h.handled.get(), handled_b.get());
    assert_eq!(na + nb, 50);
    assert!(na >= 5 && nb >= 5, "uneven split: srv-A {na}, srv-B {nb}");
    h.stop().await;
    b.stop().await;
}

/// One handler counted in `in_flight` until it ends, however it ends (a handler cancelled
/// at its deadline is dropped mid-await).
struct Running<'a> {
    in_flight: &'a AtomicUsize,
    /// Handlers running once this one started.
    now: usize,
}

impl<'a> Running<'a> {
    fn start(in_flight: &'a AtomicUsize) -> Self {
        let now = in_flight.fetch_add(1, Ordering::SeqCst) + 1;
        Self { in_flight, now }
    }
}

impl Drop for Running<'_> {
    fn drop(&mut self) {
        self.in_flight.fetch_sub(1, Ordering::SeqCst);
    }
}

/// Handlers that hold until the test lets them go (one permit each), counting how many run
/// at once: parallelism is seen by waiting for it, not by a handler's sleep overlapping.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrency_one_keeps_order_and_higher_runs_in_parallel() {
    for concurrency in [1usize, 4] {
        let t = TestRedis::start();
        let seen = Arc::new(Mutex::new(Vec::new()));
        let in_flight = Arc::new(AtomicUsize::new(0));
        let max_in_flight = Arc::new(AtomicUsize::new(0));
        let gate = Arc::new(Semaphore::new(0));
        let (s, f, m, g) = (
            Arc::clone(&seen),
            Arc::clone(&in_flight),
            Arc::clone(&max_in_flight),
            Arc::clone(&gate),
        );
        let service = Service::builder("seq")
            .method("step", move |n: u32| {
                let (s, f, m, g) = (
                    Arc::clone(&s),
                    Arc::clone(&f),
                    Arc::clone(&m),
                    Arc::clone(&g),
                );
                async move {
                    let running = Running::start(&f);
                    m.fetch_max(running.now, Ordering::SeqCst);
                    s.lock().unwrap().push(n);
                    g.acquire().await.unwrap().forget();
                    drop(running);
                    Ok::<_, RpcError>(n)
                }
            })
            .build()
            .unwrap();
        let transport = t.transport().await;
        let client = clamator_protocol::Client::new(transport.clone());
        // Queue 16 requests before the server starts, so it reads them as one batch in order.
        let raw = t.raw().await;
        create_group(&raw, &t.cmds("seq"), "seq").await;
        let mut calls = Vec::new();
        for n in 0..16u32 {
            let client = client.clone();
            calls.push(tokio::spawn(async move {
                // Longer than the test's waits, so a wait that fails says why.
                let timeout = CallOptions::timeout(3 * WAIT);
                client.call_with::<_, u32>("seq", "step", &n, timeout).await
            }));
            wait_stream_len(&raw, &t.cmds("seq"), n as usize + 1).await;
        }
        let server = RedisServer::builder(t.server_config())
            .service_with(service, ServiceOptions::new().concurrency(concurrency))
            .start()
            .await
            .unwrap();
        let started = || seen.lock().unwrap().len();
        if concurrency == 1 {
            // One at a time, in stream order: each handler is let go only once it is the
            // only one running.
            for n in 1..=16 {
                wait_for(&format!("handler {n} started"), WAIT, || async {
                    started() >= n
                })
                .await;
                assert_eq!(
                    started(),
                    n,
                    "a handler started before the one before ended"
                );
                assert_eq!(in_flight.load(Ordering::SeqCst), 1);
                gate.add_permits(1);
            }
        } else {
            // `concurrency` at once, and no more while they hold.
            wait_for(&format!("{concurrency} handlers running"), WAIT, || async {
                in_flight.load(Ordering::SeqCst) >= concurrency
            })
            .await;
            assert_eq!(started(), concurrency, "more handlers than the concurrency");
            gate.add_permits(16);
        }
        // The group was created at `$` before the XADDs, so the server reads all 16.
        for (n, call) in calls.into_iter().enumerate() {
            assert_eq!(call.await.unwrap().unwrap(), n as u32);
        }
        let max = max_in_flight.load(Ordering::SeqCst);
        assert_eq!(
            max, concurrency,
            "concurrency {concurrency}: max in flight {max}"
        );
        if concurrency == 1 {
            assert_eq!(*seen.lock().unwrap(), (0..16).collect::<Vec<_>>());
            // The next handler starts while earlier replies are still being written; the
            // replies still land in stream order.
            let replies: Vec<u64> = stream_envelopes(&mut raw.clone(), transport.reply_stream())
                .await
                .iter()
                .map(|e| e["result"].as_u64().unwrap())
                .collect();
            assert_eq!(replies, (0..16).collect::<Vec<_>>());
        }
        transport.stop().await;
        server.stop().await;
    }
}
