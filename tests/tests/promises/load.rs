//! Concurrency and ordering: many concurrent calls each get their own reply, a pool of
//! servers shares the work, a service with concurrency 1 handles (and answers) in stream
//! order, and a higher concurrency runs that many handlers in parallel.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use clamator_examples::arith::AddParams;
use clamator_protocol::{RpcError, Service};
use clamator_redis::{RedisServer, ServiceOptions};
use clamator_tests::{create_group, stream_envelopes, wait_stream_len, TestRedis};

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
    assert_eq!(results.len(), 100);
    for (i, sum) in results {
        assert_eq!(
            sum,
            f64::from(i) + 1000.0,
            "call {i} got another call's reply"
        );
    }
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

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrency_one_keeps_order_and_higher_runs_in_parallel() {
    for (concurrency, expect_parallel) in [(1usize, false), (4, true)] {
        let t = TestRedis::start();
        let seen = Arc::new(Mutex::new(Vec::new()));
        let in_flight = Arc::new(AtomicUsize::new(0));
        let max_in_flight = Arc::new(AtomicUsize::new(0));
        let (s, f, m) = (
            Arc::clone(&seen),
            Arc::clone(&in_flight),
            Arc::clone(&max_in_flight),
        );
        let service = Service::builder("seq")
            .method("step", move |n: u32| {
                let (s, f, m) = (Arc::clone(&s), Arc::clone(&f), Arc::clone(&m));
                async move {
                    let now = f.fetch_add(1, Ordering::SeqCst) + 1;
                    m.fetch_max(now, Ordering::SeqCst);
                    s.lock().unwrap().push(n);
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    f.fetch_sub(1, Ordering::SeqCst);
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
                client.call::<_, u32>("seq", "step", &n).await
            }));
            wait_stream_len(&raw, &t.cmds("seq"), n as usize + 1).await;
        }
        let server = RedisServer::builder(t.server_config())
            .service_with(service, ServiceOptions::new().concurrency(concurrency))
            .start()
            .await
            .unwrap();
        // The group was created at `$` before the XADDs, so the server reads all 16.
        for (n, call) in calls.into_iter().enumerate() {
            assert_eq!(call.await.unwrap().unwrap(), n as u32);
        }
        let max = max_in_flight.load(Ordering::SeqCst);
        if expect_parallel {
            assert!(
                max > 1 && max <= concurrency,
                "concurrency {concurrency}: max in flight {max}"
            );
        } else {
            assert_eq!(max, 1);
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
