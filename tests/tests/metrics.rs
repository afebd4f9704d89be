//! The `metrics` feature: the counters, histograms and gauges documented in
//! docs/observability.md move as calls succeed, fail, time out, expire, are dead-lettered or
//! reclaimed, the housekeeping loop's gauges show a backlog, and events an event stream's cap
//! cut before a subscriber handled them are counted for it. Its own test binary: a
//! metrics recorder is process-wide, and no other test may add to its counts.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use clamator_examples::arith::{AddParams, DivideParams, SlowAddParams};
use clamator_protocol::{CallOptions, RpcError, Service};
use clamator_redis::RedisServer;
use clamator_tests::{create_group, take_as_dead_consumer, wait_for, xadd, TestRedis, WAIT};
use metrics_util::debugging::{DebugValue, DebuggingRecorder, Snapshotter};

/// Everything recorded so far, by name and labels (`name{k=v,…}`, labels sorted).
struct Recorded {
    snapshotter: Snapshotter,
    counters: BTreeMap<String, u64>,
    gauges: BTreeMap<String, Vec<f64>>,
    histograms: BTreeMap<String, usize>,
}

impl Recorded {
    fn install() -> Self {
        let recorder = DebuggingRecorder::new();
        let snapshotter = recorder.snapshotter();
        recorder.install().unwrap();
        Self {
            snapshotter,
            counters: BTreeMap::new(),
            gauges: BTreeMap::new(),
            histograms: BTreeMap::new(),
        }
    }

    /// Takes what was recorded since the last call (a snapshot resets the recorder).
    fn take(&mut self) {
        for (key, _, _, value) in self.snapshotter.snapshot().into_vec() {
            let key = key.key();
            let mut labels: Vec<String> = key
                .labels()
                .map(|l| format!("{}={}", l.key(), l.value()))
                .collect();
            labels.sort();
            let name = format!("{}{{{}}}", key.name(), labels.join(","));
            match value {
                DebugValue::Counter(n) => *self.counters.entry(name).or_default() += n,
                DebugValue::Gauge(v) => self.gauges.entry(name).or_default().push(v.into_inner()),
                DebugValue::Histogram(v) => *self.histograms.entry(name).or_default() += v.len(),
            }
        }
    }

    fn counter(&self, name: &str) -> u64 {
        self.counters.get(name).copied().unwrap_or(0)
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn counters_histograms_and_gauges_move_as_documented() {
    let mut m = Recorded::install();
    let t = TestRedis::start();
    let config = t
        .server_config()
        .claim_idle(Duration::from_millis(300))
        .housekeeping_interval(Duration::from_millis(200));
    let h = t.arith(config, 1).await;

    // ok, a remote error, a timeout (the client's timer; the server then cancels).
    h.arith.add(&AddParams { a: 1.0, b: 2.0 }).await.unwrap();
    h.arith
        .divide(&DivideParams { a: 1.0, b: 0.0 })
        .await
        .unwrap_err();
    let slow = SlowAddParams {
        a: 1.0,
        b: 1.0,
        sleep_ms: 600,
    };
    let timed_out = h
        .arith
        .slow_add_with(&slow, CallOptions::timeout(Duration::from_millis(100)))
        .await
        .unwrap_err();
    assert!(timed_out.is_timeout() || timed_out.is_rpc(), "{timed_out}");

    // Expired before it was handled (its deadline is long past), and a malformed entry.
    let raw = t.raw().await;
    let stream = t.cmds("arith");
    let reply_to = format!("{}:replies:metrics", t.prefix);
    let add = r#"{"jsonrpc":"2.0","id":"e1","method":"arith.add","params":{"a":1,"b":1}}"#;
    xadd(
        &raw,
        &stream,
        &[
            ("type", "rpc"),
            ("envelope", add),
            ("reply-to", &reply_to),
            ("deadline", "1"),
        ],
    )
    .await;
    xadd(&raw, &stream, &[("type", "rpc"), ("envelope", "not json")]).await;

    wait_for("every outcome counted", WAIT, || {
        m.take();
        let done = m.counter(
            "clamator_server_requests_total{method=unknown,outcome=dead-lettered,service=arith}",
        ) >= 1
            && m.counter(
                "clamator_server_requests_total{method=add,outcome=expired,service=arith}",
            ) >= 1
            && m.counter(
                "clamator_server_requests_total{method=divide,outcome=error,service=arith}",
            ) >= 1;
        async move { done }
    })
    .await;
    let c = |name: &str| m.counter(name);
    assert_eq!(
        c("clamator_client_calls_total{method=add,outcome=ok,service=arith}"),
        1
    );
    assert_eq!(
        c("clamator_client_calls_total{method=divide,outcome=rpc_error,service=arith}"),
        1
    );
    assert_eq!(
        c("clamator_client_calls_total{method=slowAdd,outcome=timeout,service=arith}")
            + c("clamator_client_calls_total{method=slowAdd,outcome=rpc_error,service=arith}"),
        1
    );
    assert_eq!(
        c("clamator_server_requests_total{method=add,outcome=ok,service=arith}"),
        1
    );
    assert!(
        c("clamator_server_entries_read_total{service=arith}") >= 5,
        "{:?}",
        m.counters
    );
    assert!(m
        .histograms
        .keys()
        .any(|k| k.starts_with("clamator_client_call_duration_seconds{method=add")));
    assert!(m
        .histograms
        .keys()
        .any(|k| k.starts_with("clamator_server_handler_duration_seconds{method=add")));
    assert!(m
        .histograms
        .contains_key("clamator_server_queue_wait_seconds{service=arith}"));

    // Reclaimed: a consumer takes a request and dies; the server claims it again.
    h.server.stop().await;
    let dead = t.transport().await;
    let call = {
        let arith = clamator_examples::arith::ArithClient::new(dead.clone());
        tokio::spawn(async move {
            arith
                .add_with(&AddParams { a: 2.0, b: 2.0 }, CallOptions::timeout(WAIT))
                .await
        })
    };
    wait_for(
        "the request taken by a consumer that then dies",
        WAIT,
        || async {
            let taken = take_as_dead_consumer(&raw, &stream, "arith", "arith:dead", 10).await;
            matches!(taken, redis::Value::Array(ref streams) if !streams.is_empty())
        },
    )
    .await;
    let config = t
        .server_config()
        .claim_idle(Duration::from_millis(300))
        .housekeeping_interval(Duration::from_millis(200));
    let (server, _) = t.arith_server(config, 1).await;
    assert_eq!(call.await.unwrap().unwrap().sum, 4.0);
    m.take();
    for name in [
        "clamator_server_reclaimed_total{service=arith}",
        "clamator_server_redelivered_total{service=arith}",
    ] {
        assert!(m.counter(name) >= 1, "{name}: {:?}", m.counters);
    }

    // A backlog: slow requests queued faster than one handler at a time serves them; the
    // housekeeping loop's gauges show them pending.
    let slow_calls: Vec<_> = (0..8)
        .map(|_| clamator_tests::spawn_slow_add(&h.arith, 1.0, 1.0, 300))
        .collect();
    wait_for("the backlog in the gauges", WAIT, || {
        m.take();
        let seen = m
            .gauges
            .get("clamator_pending{service=arith}")
            .is_some_and(|v| v.iter().any(|&p| p >= 2.0))
            && m.gauges
                .get("clamator_stream_length{service=arith}")
                .is_some_and(|v| v.iter().any(|&n| n >= 2.0));
        async move { seen }
    })
    .await;
    assert!(m
        .gauges
        .contains_key("clamator_dead_letters{service=arith}"));
    assert!(m
        .gauges
        .contains_key("clamator_oldest_pending_seconds{service=arith}"));
    for c in slow_calls {
        c.await.unwrap().unwrap();
    }

    // Events lost to an event stream's cap, by publisher and subscriber: `audit` never read
    // (lost at the cuts), `ledger`'s consumer took the first 50 and died holding them (those
    // are lost when its reclaim finds them cut, the others at the cuts).
    let orders = clamator_redis::keys::event_stream(&t.prefix, "orders");
    create_group(&raw, &orders, "audit").await;
    create_group(&raw, &orders, "ledger").await;
    let handled = Arc::new(AtomicU64::new(0));
    let billing = RedisServer::builder(
        t.server_config()
            .housekeeping_interval(Duration::from_millis(100))
            .event_stream_maxlen(100),
    )
    .subscribe("billing", counting_subscriber(&handled))
    .start()
    .await
    .unwrap();
    // In chunks of half the cap, each handled by billing before the next: billing loses none.
    for chunk in 0..8u64 {
        for n in chunk * 50..chunk * 50 + 50 {
            h.transport
                .publish_event("orders", "orderPlaced", &serde_json::json!({ "n": n }))
                .await
                .unwrap();
        }
        if chunk == 0 {
            take_as_dead_consumer(&raw, &orders, "ledger", "ledger:gone", 50).await;
        }
        wait_for("billing caught up", WAIT, || async {
            handled.load(Ordering::SeqCst) >= chunk * 50 + 50
        })
        .await;
    }
    let lost = |m: &Recorded, subscriber: &str| {
        m.counter(&format!(
            "clamator_events_lost_total{{service=orders,subscriber={subscriber}}}"
        ))
    };
    wait_for("audit's 300 counted", WAIT, || {
        m.take();
        let done = lost(&m, "audit") == 300 && lost(&m, "ledger") == 250;
        async move { done }
    })
    .await;
    let ledger = RedisServer::builder(t.server_config().claim_idle(Duration::from_millis(200)))
        .subscribe("ledger", counting_subscriber(&Arc::default()))
        .start()
        .await
        .unwrap();
    wait_for(
        "ledger's 50 pending events counted at its reclaim",
        WAIT,
        || {
            m.take();
            let done = lost(&m, "ledger") == 300;
            async move { done }
        },
    )
    .await;
    assert_eq!(lost(&m, "billing"), 0, "{:?}", m.counters);
    assert_eq!(billing.stats().events_lost, 550);
    assert_eq!(ledger.stats().events_lost, 50);
    ledger.stop().await;
    billing.stop().await;
    dead.stop().await;
    h.transport.stop().await;
    server.stop().await;
}

/// An `orders` subscriber that counts the events it handles.
fn counting_subscriber(handled: &Arc<AtomicU64>) -> Service {
    let handled = Arc::clone(handled);
    Service::builder("orders")
        .notification("orderPlaced", move |_: serde_json::Value| {
            let handled = Arc::clone(&handled);
            async move {
                handled.fetch_add(1, Ordering::SeqCst);
                Ok::<_, RpcError>(())
            }
        })
        .build()
        .unwrap()
}
