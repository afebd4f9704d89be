//! The Redis transport against a real redis-server: calls, errors, notifications,
//! timeouts, worker pools, crash recovery, graceful stop, concurrency.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use clamator_examples::arith::{
    AddParams, AddResult, DivideResult, EchoTextParams, EchoTextResult, PingParams, SlowAddParams,
};
use clamator_protocol::{codes, CallOptions, RpcError, Service};
use clamator_redis::RedisServer;
use clamator_tests::{
    create_group, pending_count, wait_all_acked, wait_for, wait_stream_len, TestRedis,
};
use serde_json::{json, Value};

const WAIT: Duration = Duration::from_secs(15);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn round_trip_and_wire_format() {
    let t = TestRedis::start();
    let (server, handled) = t.arith_server(t.server_config(), 1).await;
    let redis = t.client().await;
    let client = clamator_protocol::Client::new(redis.clone());

    let r: AddResult = client
        .call("arith", "add", &AddParams { a: 2.0, b: 3.0 })
        .await
        .unwrap();
    assert_eq!(r, AddResult { sum: 5.0 });
    let text = "héllo wörld ✓ 日本";
    let r: EchoTextResult = client
        .call("arith", "echoText", &EchoTextParams { text: text.into() })
        .await
        .unwrap();
    assert_eq!(r.text, text);
    assert_eq!(handled.get(), 2);

    // What went over the wire is clamator's format, field for field.
    let mut raw = t.raw().await;
    let entries: redis::streams::StreamRangeReply = redis::cmd("XRANGE")
        .arg(t.cmds("arith"))
        .arg("-")
        .arg("+")
        .query_async(&mut raw)
        .await
        .unwrap();
    let first = &entries.ids[0];
    assert_eq!(first.get::<String>("type").as_deref(), Some("rpc"));
    assert_eq!(
        first.get::<String>("reply-to").as_deref(),
        Some(redis.reply_stream())
    );
    let env: Value = serde_json::from_str(&first.get::<String>("envelope").unwrap()).unwrap();
    let keys: Vec<&str> = env
        .as_object()
        .unwrap()
        .keys()
        .map(String::as_str)
        .collect();
    assert_eq!(keys, ["jsonrpc", "method", "params", "id"]);
    assert_eq!(env["method"], "arith.add");
    assert_eq!(env["id"].as_str().unwrap().len(), 36);
    let replies = clamator_tests::stream_envelopes(&mut raw, redis.reply_stream()).await;
    assert_eq!(
        replies[0],
        json!({"jsonrpc": "2.0", "id": env["id"], "result": {"sum": 5.0}})
    );
    wait_all_acked(&raw, &t.cmds("arith"), "arith").await;

    // The reply stream goes away with the client.
    redis.stop().await;
    let exists: i64 = redis::cmd("EXISTS")
        .arg(redis.reply_stream())
        .query_async(&mut raw)
        .await
        .unwrap();
    assert_eq!(exists, 0);
    let err = client
        .call::<_, AddResult>("arith", "add", &AddParams { a: 1.0, b: 1.0 })
        .await
        .unwrap_err();
    assert!(
        err.is_transport() && err.to_string().contains("stopped"),
        "{err}"
    );
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hundred_concurrent_calls_are_correlated() {
    let t = TestRedis::start();
    let (server, _) = t.arith_server(t.server_config(), 1).await;
    let redis = t.client().await;
    let client = clamator_protocol::Client::new(redis.clone());
    let calls = (0..100).map(|i| {
        let client = client.clone();
        async move {
            let r: AddResult = client
                .call(
                    "arith",
                    "add",
                    &AddParams {
                        a: f64::from(i),
                        b: 1000.0,
                    },
                )
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
    redis.stop().await;
    server.stop().await;
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
async fn errors_map_to_their_codes() {
    let t = TestRedis::start();
    let (server, _) = t.arith_server(t.server_config(), 1).await;
    let redis = t.client().await;
    let client = clamator_protocol::Client::new(redis.clone());

    let err = client
        .call::<_, DivideResult>("arith", "divide", &AddParams { a: 10.0, b: 0.0 })
        .await
        .unwrap_err();
    assert!(err.is_rpc());
    assert_eq!(err.code(), Some(-32000));
    assert_eq!(err.as_rpc().unwrap().message, "division by zero");
    assert_eq!(err.as_rpc().unwrap().data, Value::Null);

    let err = client
        .call::<_, Value>("arith", "nope", &json!({}))
        .await
        .unwrap_err();
    assert_eq!(err.code(), Some(codes::METHOD_NOT_FOUND));

    let err = client
        .call::<_, Value>("arith", "add", &json!({"a": "two", "b": 3}))
        .await
        .unwrap_err();
    assert_eq!(err.code(), Some(codes::INVALID_PARAMS));
    assert_eq!(err.as_rpc().unwrap().data["errors"][0]["path"], "/a");

    let err = client
        .call::<_, Value>("arith", "slowAdd", &json!({"a": 1, "b": 2, "sleepMs": -1}))
        .await
        .unwrap_err();
    assert_eq!(err.code(), Some(codes::INVALID_PARAMS));
    assert_eq!(err.as_rpc().unwrap().data["errors"][0]["path"], "/sleepMs");

    // A result that does not decode into the caller's type is a protocol error, not a panic.
    let err = client
        .call::<_, DivideResult>("arith", "add", &AddParams { a: 1.0, b: 1.0 })
        .await
        .unwrap_err();
    assert!(err.is_protocol(), "{err}");
    redis.stop().await;
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn notifications_are_handled_and_never_answered() {
    let t = TestRedis::start();
    let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel();
    let server = RedisServer::builder(t.server_config())
        .service(
            clamator_examples::arith::notifications_service(Default::default(), move |tag| {
                let _ = tx.send(tag);
            })
            .unwrap(),
        )
        .start()
        .await
        .unwrap();
    let redis = t.client().await;
    let client = clamator_protocol::Client::new(redis.clone());
    client
        .notify(
            "notifications",
            "ping",
            &PingParams {
                tag: Some("x".into()),
            },
        )
        .await
        .unwrap();
    client
        .notify("notifications", "ping", &PingParams { tag: None })
        .await
        .unwrap();
    let got = tokio::time::timeout(WAIT, async { (rx.recv().await, rx.recv().await) })
        .await
        .unwrap();
    assert_eq!(got, (Some(Some("x".to_owned())), Some(None)));

    let mut raw = t.raw().await;
    // An unset optional field is omitted on the wire, not sent as null; no reply-to field.
    let sent: redis::streams::StreamRangeReply = redis::cmd("XRANGE")
        .arg(t.cmds("notifications"))
        .arg("-")
        .arg("+")
        .query_async(&mut raw)
        .await
        .unwrap();
    assert!(sent.ids[1].get::<String>("reply-to").is_none());
    let env: Value = serde_json::from_str(&sent.ids[1].get::<String>("envelope").unwrap()).unwrap();
    assert_eq!(
        env,
        json!({"jsonrpc": "2.0", "method": "notifications.ping", "params": {}})
    );
    wait_for("both pings acked", WAIT, || {
        let mut raw = raw.clone();
        let key = t.cmds("notifications");
        async move { pending_count(&mut raw, &key, "notifications").await == 0 }
    })
    .await;
    let replies: i64 = redis::cmd("XLEN")
        .arg(redis.reply_stream())
        .query_async(&mut raw)
        .await
        .unwrap();
    assert_eq!(replies, 0, "a notification was answered");
    redis.stop().await;
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn client_timeout_against_a_slow_handler() {
    let t = TestRedis::start();
    let (server, _) = t.arith_server(t.server_config(), 1).await;
    let redis = t.client().await;
    let client = clamator_protocol::Client::new(redis.clone());
    let err = client
        .call_with::<_, AddResult>(
            "arith",
            "slowAdd",
            &SlowAddParams {
                a: 1.0,
                b: 2.0,
                sleep_ms: 800,
            },
            CallOptions::timeout(Duration::from_millis(100)),
        )
        .await
        .unwrap_err();
    assert!(err.is_timeout(), "{err}");
    assert!(err.to_string().contains("timeout"));
    // The late reply arrives and is dropped; the next call gets its own reply.
    let r: AddResult = client
        .call_with(
            "arith",
            "add",
            &AddParams { a: 1.0, b: 1.0 },
            CallOptions::timeout(WAIT),
        )
        .await
        .unwrap();
    assert_eq!(r.sum, 2.0);
    redis.stop().await;
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn worker_pool_of_two_servers_shares_the_work() {
    let t = TestRedis::start();
    let (a, handled_a) = t
        .arith_server(t.server_config().instance_id("srv-A"), 1)
        .await;
    let (b, handled_b) = t
        .arith_server(t.server_config().instance_id("srv-B"), 1)
        .await;
    let redis = t.client().await;
    let client = clamator_protocol::Client::new(redis.clone());
    for _ in 0..50 {
        let r: AddResult = client
            .call("arith", "add", &AddParams { a: 1.0, b: 1.0 })
            .await
            .unwrap();
        assert_eq!(r.sum, 2.0);
    }
    let (na, nb) = (handled_a.get(), handled_b.get());
    assert_eq!(na + nb, 50);
    assert!(na >= 5 && nb >= 5, "uneven split: srv-A {na}, srv-B {nb}");
    redis.stop().await;
    a.stop().await;
    b.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_dead_consumers_entry_is_reclaimed_and_the_call_completes() {
    let t = TestRedis::start();
    let mut raw = t.raw().await;
    let stream = t.cmds("arith");
    create_group(&raw, &stream, "arith").await;
    let redis = t.client().await;
    let client = clamator_protocol::Client::new(redis.clone());
    let call = tokio::spawn(async move {
        client
            .call_with::<_, AddResult>(
                "arith",
                "add",
                &AddParams { a: 1.0, b: 2.0 },
                CallOptions::timeout(WAIT),
            )
            .await
    });
    // A server takes the entry and dies before acknowledging it.
    wait_stream_len(&raw, &stream, 1).await;
    let taken: redis::Value = redis::cmd("XREADGROUP")
        .arg("GROUP")
        .arg("arith")
        .arg("arith:dead")
        .arg("COUNT")
        .arg(1)
        .arg("STREAMS")
        .arg(&stream)
        .arg(">")
        .query_async(&mut raw)
        .await
        .unwrap();
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
    redis.stop().await;
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn graceful_stop_drains_in_flight_work() {
    let t = TestRedis::start();
    let (server, handled) = t.arith_server(t.server_config(), 1).await;
    let redis = t.client().await;
    let client = clamator_protocol::Client::new(redis.clone());
    let call = tokio::spawn(async move {
        client
            .call::<_, AddResult>(
                "arith",
                "slowAdd",
                &SlowAddParams {
                    a: 1.0,
                    b: 2.0,
                    sleep_ms: 600,
                },
            )
            .await
    });
    wait_for("handler started", WAIT, || async { handled.get() == 1 }).await;
    let report = server.stop().await;
    assert!(report.drained);
    assert_eq!(call.await.unwrap().unwrap().sum, 3.0);
    let raw = t.raw().await;
    wait_all_acked(&raw, &t.cmds("arith"), "arith").await;
    redis.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stop_never_acknowledges_unfinished_work() {
    let t = TestRedis::start();
    let config = t
        .server_config()
        .instance_id("srv-A")
        .shutdown_grace(Duration::from_millis(100));
    let (first, handled_first) = t.arith_server(config, 1).await;
    let redis = t.client().await;
    let client = clamator_protocol::Client::new(redis.clone());
    let call = tokio::spawn(async move {
        client
            .call_with::<_, AddResult>(
                "arith",
                "slowAdd",
                &SlowAddParams {
                    a: 1.0,
                    b: 2.0,
                    sleep_ms: 1_500,
                },
                CallOptions::timeout(WAIT),
            )
            .await
    });
    wait_for("handler started", WAIT, || async {
        handled_first.get() == 1
    })
    .await;
    let report = first.stop().await;
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
    redis.stop().await;
    second.stop().await;
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
        let redis = t.client().await;
        let client = clamator_protocol::Client::new(redis.clone());
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
            .service_with(
                service,
                clamator_redis::ServiceOptions::new().concurrency(concurrency),
            )
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
            let replies: Vec<u64> =
                clamator_tests::stream_envelopes(&mut raw.clone(), redis.reply_stream())
                    .await
                    .iter()
                    .map(|e| e["result"].as_u64().unwrap())
                    .collect();
            assert_eq!(replies, (0..16).collect::<Vec<_>>());
        }
        redis.stop().await;
        server.stop().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tls_through_rediss_urls() {
    let process = clamator_examples::local_redis::RedisProcess::start_tls().unwrap();
    let url = process.url();
    assert!(url.starts_with("rediss://"));
    let ca = process.ca_cert_pem().unwrap();
    let handled = clamator_examples::arith::Counter::default();
    let server = RedisServer::builder(
        clamator_redis::ServerConfig::new("tls")
            .redis_url(&url)
            .tls_ca_cert(ca.clone()),
    )
    .service(clamator_examples::arith::arith_service(handled.clone()).unwrap())
    .start()
    .await
    .unwrap();
    let redis = clamator_redis::RedisTransport::connect(
        clamator_redis::TransportConfig::new("tls")
            .redis_url(&url)
            .tls_ca_cert(ca),
    )
    .await
    .unwrap();
    let r: AddResult = clamator_protocol::Client::new(redis.clone())
        .call("arith", "add", &AddParams { a: 2.0, b: 3.0 })
        .await
        .unwrap();
    assert_eq!(r.sum, 5.0);
    assert_eq!(handled.get(), 1);
    // Without trusting the private CA, the TLS handshake is refused.
    let err = clamator_redis::RedisTransport::connect(
        clamator_redis::TransportConfig::new("tls").redis_url(&url),
    )
    .await
    .unwrap_err();
    assert!(err.is_transport(), "{err}");
    redis.stop().await;
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_handler_outliving_the_claim_idle_time_is_not_reclaimed_by_its_own_server() {
    let t = TestRedis::start();
    // Reclaim runs every second and would take anything idle for 200 ms.
    let config = t.server_config().claim_idle(Duration::from_millis(200));
    let (server, handled) = t.arith_server(config, 1).await;
    let redis = t.client().await;
    let client = clamator_protocol::Client::new(redis.clone());
    let r: AddResult = client
        .call(
            "arith",
            "slowAdd",
            &SlowAddParams {
                a: 1.0,
                b: 2.0,
                sleep_ms: 2_500,
            },
        )
        .await
        .unwrap();
    assert_eq!(r.sum, 3.0);
    assert_eq!(handled.get(), 1, "the slow handler ran twice");
    redis.stop().await;
    server.stop().await;
    assert_eq!(
        handled.get(),
        1,
        "the slow handler ran again after its reply"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn more_pending_entries_than_one_xautoclaim_returns_are_all_reclaimed() {
    let t = TestRedis::start();
    let raw = t.raw().await;
    let stream = t.cmds("arith");
    create_group(&raw, &stream, "arith").await;
    let redis = t.client().await;
    let client = clamator_protocol::Client::new(redis.clone());
    let calls: Vec<_> = (0..40)
        .map(|i| {
            let client = client.clone();
            tokio::spawn(async move {
                client
                    .call_with::<_, AddResult>(
                        "arith",
                        "add",
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
    let _: redis::Value = redis::cmd("XREADGROUP")
        .arg("GROUP")
        .arg("arith")
        .arg("arith:dead")
        .arg("COUNT")
        .arg(100)
        .arg("STREAMS")
        .arg(&stream)
        .arg(">")
        .query_async(&mut raw.clone())
        .await
        .unwrap();
    assert_eq!(pending_count(&mut raw.clone(), &stream, "arith").await, 40);
    let config = t.server_config().claim_idle(Duration::from_millis(200));
    let (server, handled) = t.arith_server(config, 4).await;
    for (i, call) in calls.into_iter().enumerate() {
        assert_eq!(call.await.unwrap().unwrap().sum, i as f64);
    }
    assert_eq!(handled.get(), 40);
    wait_all_acked(&raw, &stream, "arith").await;
    redis.stop().await;
    server.stop().await;
}
