//! Typed events: a publisher's events reach every subscribing service once per service,
//! spread over its instances; a subscriber takes only the events it handles and acknowledges
//! the rest; failing handlers are retried after the configured delays, then dead-lettered;
//! invalid payloads never reach a handler; publish order is kept by default; new groups
//! start where configured and can be rewound; broadcast reaches every instance.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime};

use clamator_protocol::{RpcError, Service};
use clamator_redis::{RedisServer, RedisTransport};
use clamator_redis::{RetryDelays, StartAt, SubscriptionOptions};
use clamator_tests::{wait_for, TestRedis, WAIT};
use serde_json::{json, Value};

/// What each handler saw: (subscriber instance, event, payload `n`).
type Seen = Arc<Mutex<Vec<(String, String, u64)>>>;

/// `orders` events as `instance` of a subscriber handles them: `orderPlaced` and, when
/// `all`, `orderShipped` too (never `orderCancelled`).
fn orders_events(instance: &str, seen: &Seen, all: bool) -> Service {
    let record = |event: &'static str| {
        let (instance, seen) = (instance.to_owned(), Arc::clone(seen));
        move |p: Value| {
            let (instance, seen) = (instance.clone(), Arc::clone(&seen));
            async move {
                let n = p["n"].as_u64().unwrap_or(u64::MAX);
                seen.lock().unwrap().push((instance, event.to_owned(), n));
                Ok::<_, RpcError>(())
            }
        }
    };
    let b = Service::builder("orders").notification("orderPlaced", record("orderPlaced"));
    let b = if all {
        b.notification("orderShipped", record("orderShipped"))
    } else {
        b
    };
    b.build().unwrap()
}

async fn subscriber(
    t: &TestRedis,
    name: &str,
    events: Service,
    options: SubscriptionOptions,
) -> RedisServer {
    subscriber_with(t.server_config(), name, events, options).await
}

/// A server with one subscription, on `config`.
async fn subscriber_with(
    config: clamator_redis::ServerConfig,
    name: &str,
    events: Service,
    options: SubscriptionOptions,
) -> RedisServer {
    RedisServer::builder(config)
        .subscribe_with(name, events, options)
        .start()
        .await
        .unwrap()
}

async fn publish_n(transport: &RedisTransport, event: &str, from: u64, to: u64) {
    for n in from..to {
        transport
            .publish_event("orders", event, &json!({ "n": n }))
            .await
            .unwrap();
    }
}

async fn pending(t: &TestRedis, group: &str) -> u64 {
    let stream = clamator_redis::keys::event_stream(&t.prefix, "orders");
    clamator_tests::pending_count(&mut t.raw().await, &stream, group).await as u64
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_subscribing_service_gets_each_event_once_and_only_what_it_handles() {
    let t = TestRedis::start();
    let seen: Seen = Arc::default();
    let mut servers = Vec::new();
    for i in 0..2 {
        let billing = orders_events(&format!("billing-{i}"), &seen, true);
        servers.push(subscriber(&t, "billing", billing, SubscriptionOptions::new()).await);
        // `shipping` handles `orderPlaced` only.
        let shipping = orders_events(&format!("shipping-{i}"), &seen, false);
        servers.push(subscriber(&t, "shipping", shipping, SubscriptionOptions::new()).await);
    }
    let transport = t.transport().await;
    let publisher = {
        let transport = transport.clone();
        tokio::spawn(async move {
            publish_n(&transport, "orderPlaced", 0, 150).await;
            publish_n(&transport, "orderShipped", 0, 50).await;
            publish_n(&transport, "orderCancelled", 0, 50).await;
        })
    };
    publisher.await.unwrap();
    let count = |prefix: &str, event: &str| {
        seen.lock()
            .unwrap()
            .iter()
            .filter(|(i, e, _)| i.starts_with(prefix) && e == event)
            .count()
    };
    wait_for("every event handled by both services", WAIT, || {
        let done = count("billing", "orderPlaced") >= 150
            && count("billing", "orderShipped") >= 50
            && count("shipping", "orderPlaced") >= 150;
        async move { done }
    })
    .await;
    wait_for("nothing left pending", WAIT, || async {
        pending(&t, "billing").await == 0 && pending(&t, "shipping").await == 0
    })
    .await;
    let seen = seen.lock().unwrap().clone();
    clamator_tests::report(&format!(
        "every_subscribing_service_gets_each_event_once_and_only_what_it_handles: events published 250, handled {} (billing 200 + shipping 150 expected)",
        seen.len()
    ));
    let mut per: HashMap<(&str, &str, u64), usize> = HashMap::new();
    for (instance, event, n) in &seen {
        let service = if instance.starts_with("billing") {
            "billing"
        } else {
            "shipping"
        };
        *per.entry((service, event.as_str(), *n)).or_default() += 1;
    }
    assert!(
        per.values().all(|&c| c == 1),
        "an event handled twice by one service"
    );
    assert_eq!(count("billing", "orderPlaced"), 150);
    assert_eq!(count("billing", "orderShipped"), 50);
    assert_eq!(count("shipping", "orderPlaced"), 150);
    assert_eq!(
        count("shipping", "orderShipped"),
        0,
        "shipping does not handle it"
    );
    assert_eq!(seen.iter().filter(|s| s.1 == "orderCancelled").count(), 0);
    // Both instances of each service took part.
    for instance in ["billing-0", "billing-1", "shipping-0", "shipping-1"] {
        assert!(
            seen.iter().any(|(i, _, _)| i == instance),
            "{instance} handled nothing"
        );
    }
    for s in servers {
        s.stop().await;
    }
    transport.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn failing_handlers_are_retried_after_their_delays_then_dead_lettered() {
    let t = TestRedis::start();
    let attempts: Arc<Mutex<Vec<(u64, Instant)>>> = Arc::default();
    let events = {
        let attempts = Arc::clone(&attempts);
        Service::builder("orders")
            .notification("orderPlaced", move |p: Value| {
                let attempts = Arc::clone(&attempts);
                async move {
                    let n = p["n"].as_u64().unwrap_or(0);
                    let mut a = attempts.lock().unwrap();
                    a.push((n, Instant::now()));
                    let tries = a.iter().filter(|(m, _)| *m == n).count();
                    // Event 1 fails twice, then succeeds; event 2 always fails.
                    if (n == 1 && tries <= 2) || n == 2 {
                        Err(RpcError::new(-32000, format!("attempt {tries} failed")))
                    } else {
                        Ok(())
                    }
                }
            })
            .build()
            .unwrap()
    };
    let delays = RetryDelays::new(Duration::from_millis(200), 2, Duration::from_secs(5));
    let server = subscriber_with(
        t.server_config().max_deliveries(3),
        "billing",
        events,
        SubscriptionOptions::new().retry(delays),
    )
    .await;
    let transport = t.transport().await;
    publish_n(&transport, "orderPlaced", 1, 3).await;
    wait_for("event 2 dead-lettered", WAIT, || async {
        !t.dead_letters("billing").await.is_empty()
    })
    .await;
    let attempts = attempts.lock().unwrap().clone();
    let of = |n: u64| -> Vec<Instant> {
        attempts
            .iter()
            .filter(|(m, _)| *m == n)
            .map(|(_, at)| *at)
            .collect()
    };
    let one = of(1);
    assert_eq!(one.len(), 3, "failed twice, then handled once");
    let gaps: Vec<Duration> = one.windows(2).map(|w| w[1] - w[0]).collect();
    // 200 ms, then 400 ms: kept, not rounded to a reclaim interval.
    assert!(
        gaps[0] >= Duration::from_millis(200) && gaps[0] < Duration::from_millis(800),
        "{gaps:?}"
    );
    assert!(
        gaps[1] >= Duration::from_millis(400) && gaps[1] < Duration::from_millis(1000),
        "{gaps:?}"
    );
    assert_eq!(
        of(2).len(),
        3,
        "max_deliveries attempts, then dead-lettered"
    );
    let dead = t.dead_letters("billing").await;
    assert_eq!(dead.len(), 1, "{dead:?}");
    assert_eq!(dead[0].reason, "handler-failed");
    assert!(dead[0].error.contains("attempt 3 failed"), "{dead:?}");
    assert!(dead[0]
        .envelope
        .as_deref()
        .unwrap_or("")
        .contains("\"n\":2"));
    wait_for("nothing pending", WAIT, || async {
        pending(&t, "billing").await == 0
    })
    .await;
    server.stop().await;
    transport.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_invalid_payload_is_dead_lettered_without_running_the_handler() {
    let t = TestRedis::start();
    let ran = Arc::new(std::sync::atomic::AtomicU64::new(0));
    let events = {
        let ran = Arc::clone(&ran);
        Service::builder("orders")
            .add(
                "orderPlaced",
                clamator_protocol::Method::notification(move |_: Value| {
                    let ran = Arc::clone(&ran);
                    async move {
                        ran.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
                        Ok::<_, RpcError>(())
                    }
                })
                .params_validator(
                    clamator_protocol::__codegen::params_validator(
                        r#"{"type":"object","properties":{"n":{"type":"integer"}},"required":["n"]}"#,
                    )
                    .unwrap(),
                ),
            )
            .build()
            .unwrap()
    };
    let server = subscriber(&t, "billing", events, SubscriptionOptions::new()).await;
    let transport = t.transport().await;
    transport
        .publish_event("orders", "orderPlaced", &json!({"n": "seven"}))
        .await
        .unwrap();
    transport
        .publish_event("orders", "orderPlaced", &json!({"n": 7}))
        .await
        .unwrap();
    wait_for("the valid event handled", WAIT, || async {
        ran.load(std::sync::atomic::Ordering::SeqCst) == 1
    })
    .await;
    let dead = t.dead_letters("billing").await;
    assert_eq!(dead.len(), 1, "{dead:?}");
    assert_eq!(dead[0].reason, "invalid-payload");
    assert!(dead[0].error.contains("/n"), "names the field: {dead:?}");
    assert_eq!(ran.load(std::sync::atomic::Ordering::SeqCst), 1);
    server.stop().await;
    transport.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn events_are_handled_in_publish_order() {
    let t = TestRedis::start();
    let seen: Seen = Arc::default();
    let server = subscriber(
        &t,
        "billing",
        orders_events("b", &seen, true),
        SubscriptionOptions::new(),
    )
    .await;
    let transport = t.transport().await;
    publish_n(&transport, "orderPlaced", 0, 300).await;
    wait_for("all handled", WAIT, || {
        let done = seen.lock().unwrap().len() == 300;
        async move { done }
    })
    .await;
    let order: Vec<u64> = seen.lock().unwrap().iter().map(|s| s.2).collect();
    assert_eq!(order, (0..300).collect::<Vec<_>>());
    server.stop().await;
    transport.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn new_subscribers_start_where_configured_and_can_be_rewound() {
    let t = TestRedis::start();
    let transport = t.transport().await;
    let began = SystemTime::now();
    publish_n(&transport, "orderPlaced", 0, 500).await;
    tokio::time::sleep(Duration::from_millis(20)).await;
    let middle = SystemTime::now();
    publish_n(&transport, "orderPlaced", 500, 1000).await;
    let seen: Seen = Arc::default();
    let mut servers = Vec::new();
    for (name, start) in [
        ("now", StartAt::Now),
        ("oldest", StartAt::Oldest),
        ("middle", StartAt::Time(middle)),
    ] {
        let options = SubscriptionOptions::new().start_at(start);
        servers.push(subscriber(&t, name, orders_events(name, &seen, true), options).await);
    }
    publish_n(&transport, "orderPlaced", 1000, 1010).await;
    let of = |name: &str| -> Vec<u64> {
        seen.lock()
            .unwrap()
            .iter()
            .filter(|s| s.0 == name)
            .map(|s| s.2)
            .collect()
    };
    wait_for("every subscriber caught up", WAIT, || {
        let done = of("now").len() == 10 && of("oldest").len() == 1010 && of("middle").len() == 510;
        async move { done }
    })
    .await;
    assert_eq!(of("now"), (1000..1010).collect::<Vec<_>>());
    assert_eq!(of("middle"), (500..1010).collect::<Vec<_>>());
    // A replay: `now` goes back to the beginning.
    transport
        .rewind_subscriber("orders", "now", began)
        .await
        .unwrap();
    publish_n(&transport, "orderPlaced", 1010, 1011).await;
    wait_for("the rewound subscriber replayed", WAIT, || {
        let done = of("now").len() == 10 + 1011;
        async move { done }
    })
    .await;
    assert!(transport
        .rewind_subscriber("orders", "nobody", began)
        .await
        .is_err());
    for s in servers {
        s.stop().await;
    }
    transport.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_dead_instances_events_are_reclaimed_by_its_sibling() {
    let t = TestRedis::start();
    let seen: Seen = Arc::default();
    let config = || t.server_config().claim_idle(Duration::from_millis(500));
    // The first instance takes events and dies holding them (dropped without a stop: its
    // handlers never finish).
    let stuck = Service::builder("orders")
        .notification("orderPlaced", |_: Value| async {
            std::future::pending::<()>().await;
            Ok::<_, RpcError>(())
        })
        .build()
        .unwrap();
    let dying = subscriber_with(
        config(),
        "billing",
        stuck,
        SubscriptionOptions::new().concurrency(8),
    )
    .await;
    let transport = t.transport().await;
    publish_n(&transport, "orderPlaced", 0, 20).await;
    wait_for("the dying instance holds events", WAIT, || async {
        pending(&t, "billing").await > 0
    })
    .await;
    drop(dying);
    let sibling = subscriber_with(
        config(),
        "billing",
        orders_events("sibling", &seen, true),
        SubscriptionOptions::new(),
    )
    .await;
    wait_for("every event handled by the sibling", WAIT, || {
        let done = seen.lock().unwrap().len() >= 20;
        async move { done }
    })
    .await;
    let mut got: Vec<u64> = seen.lock().unwrap().iter().map(|s| s.2).collect();
    let handled = got.len() as u64;
    got.sort_unstable();
    got.dedup();
    let distinct = got.len() as u64;
    clamator_tests::report(&format!(
        "a_dead_instances_events_are_reclaimed_by_its_sibling: events published 20, handled {distinct}, duplicated {}, lost {}",
        handled - distinct,
        20 - distinct
    ));
    assert_eq!(got, (0..20).collect::<Vec<_>>(), "nothing lost");
    sibling.stop().await;
    transport.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn broadcast_reaches_every_instance() {
    let t = TestRedis::start();
    let seen: Seen = Arc::default();
    let mut servers = Vec::new();
    for i in 0..3 {
        servers.push(
            RedisServer::builder(t.server_config())
                .broadcast(orders_events(&format!("cache-{i}"), &seen, true))
                .start()
                .await
                .unwrap(),
        );
    }
    // Each reader finds the stream's end before it blocks; give them a moment to get there.
    tokio::time::sleep(Duration::from_millis(300)).await;
    let transport = t.transport().await;
    publish_n(&transport, "orderPlaced", 0, 50).await;
    wait_for("every instance saw every event", WAIT, || {
        let done = seen.lock().unwrap().len() == 150;
        async move { done }
    })
    .await;
    for i in 0..3 {
        let mut got: Vec<u64> = seen
            .lock()
            .unwrap()
            .iter()
            .filter(|s| s.0 == format!("cache-{i}"))
            .map(|s| s.2)
            .collect();
        got.sort_unstable();
        assert_eq!(got, (0..50).collect::<Vec<_>>(), "cache-{i}");
    }
    for s in servers {
        s.stop().await;
    }
    transport.stop().await;
}

/// Retention: with every subscriber live, nothing is trimmed before it is acknowledged; a
/// stopped subscriber holds the stream back only up to the hard cap, past which the events
/// it never received are counted as lost for it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn event_streams_stay_under_their_cap_and_count_what_a_stopped_subscriber_lost() {
    let t = TestRedis::start();
    let seen: Seen = Arc::default();
    let config = || {
        t.server_config()
            .housekeeping_interval(Duration::from_millis(100))
            .event_stream_maxlen(100)
    };
    // `audit` subscribes once, then stops: its group stays, receiving nothing.
    let audit = subscriber_with(
        config(),
        "audit",
        orders_events("audit", &seen, true),
        SubscriptionOptions::new(),
    )
    .await;
    audit.stop().await;
    let billing = subscriber_with(
        config(),
        "billing",
        orders_events("billing", &seen, true),
        SubscriptionOptions::new(),
    )
    .await;
    let transport = t.transport().await;
    publish_n(&transport, "orderPlaced", 0, 400).await;
    let stream = clamator_redis::keys::event_stream(&t.prefix, "orders");
    let raw = t.raw().await;
    wait_for("billing handled everything", WAIT, || {
        let done = seen.lock().unwrap().len() == 400;
        async move { done }
    })
    .await;
    wait_for("the stream cut to its cap", WAIT, || async {
        let len: u64 = redis::cmd("XLEN")
            .arg(&stream)
            .query_async(&mut raw.clone())
            .await
            .unwrap();
        len <= 100
    })
    .await;
    wait_for("audit's lost events counted", WAIT, || async {
        billing.stats().events_lost == 300
    })
    .await;
    assert!(seen.lock().unwrap().iter().all(|s| s.0 == "billing"));
    billing.stop().await;
    transport.stop().await;
}

/// With `exactly_once`, an event delivered again after it was handled (here by a rewind; in
/// production by an instance that died between its handler and its ack) is acknowledged
/// without running again; without it, it runs again.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn exactly_once_subscribers_do_not_run_an_event_twice() {
    let t = TestRedis::start();
    let seen: Seen = Arc::default();
    let once = subscriber(
        &t,
        "once",
        orders_events("once", &seen, true),
        SubscriptionOptions::new().exactly_once(true),
    )
    .await;
    let twice = subscriber(
        &t,
        "twice",
        orders_events("twice", &seen, true),
        SubscriptionOptions::new(),
    )
    .await;
    let transport = t.transport().await;
    let began = SystemTime::now();
    publish_n(&transport, "orderPlaced", 0, 5).await;
    let of = |name: &str| seen.lock().unwrap().iter().filter(|s| s.0 == name).count();
    wait_for("both handled all", WAIT, || {
        let done = of("once") == 5 && of("twice") == 5;
        async move { done }
    })
    .await;
    for group in ["once", "twice"] {
        transport
            .rewind_subscriber("orders", group, began)
            .await
            .unwrap();
    }
    publish_n(&transport, "orderPlaced", 5, 6).await;
    wait_for("the replay went through", WAIT, || {
        let done = of("once") == 6 && of("twice") == 11;
        async move { done }
    })
    .await;
    wait_for("nothing pending", WAIT, || async {
        pending(&t, "once").await == 0
    })
    .await;
    assert_eq!(once.stats().replayed, 5, "{:?}", once.stats());
    assert_eq!(of("once"), 6);
    once.stop().await;
    twice.stop().await;
    transport.stop().await;
}

/// On a Redis Cluster, events fan out the same way, and the event stream's housekeeping
/// (its snapshot in one `MULTI` on the stream's slot, the cut to the cap past a stopped
/// subscriber) works there too.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn events_fan_out_on_a_redis_cluster() {
    let t = clamator_tests::cluster::TestCluster::start(3, 0);
    let seen: Seen = Arc::default();
    let config = || {
        t.server_config()
            .housekeeping_interval(Duration::from_millis(100))
            .event_stream_maxlen(50)
    };
    // `audit` subscribes, then stops: past the cap, what it never read is lost to it.
    subscriber_with(
        config(),
        "audit",
        orders_events("audit", &seen, true),
        SubscriptionOptions::new(),
    )
    .await
    .stop()
    .await;
    let mut servers = Vec::new();
    for name in ["billing", "shipping"] {
        servers.push(
            subscriber_with(
                config(),
                name,
                orders_events(name, &seen, true),
                SubscriptionOptions::new(),
            )
            .await,
        );
    }
    let transport = RedisTransport::connect(t.transport_config()).await.unwrap();
    publish_n(&transport, "orderPlaced", 0, 200).await;
    wait_for("both services handled every event", WAIT, || {
        let done = seen.lock().unwrap().len() == 400;
        async move { done }
    })
    .await;
    wait_for("the stream cut to its cap", WAIT, || async {
        let len: u64 = redis::cmd("XLEN")
            .arg(clamator_redis::keys::event_stream(&t.prefix, "orders"))
            .query_async(&mut t.raw().await)
            .await
            .unwrap();
        len <= 50
    })
    .await;
    // Each cut is counted by the server that made it: together, what audit lost.
    wait_for("audit's lost events counted", WAIT, || {
        let lost: u64 = servers.iter().map(|s| s.stats().events_lost).sum();
        async move { lost == 150 }
    })
    .await;
    for s in servers {
        s.stop().await;
    }
    transport.stop().await;
}

/// An exactly-once subscriber whose handler runs far longer than its claim's first lifetime
/// (4 × `claim_idle` here) runs the event once and acknowledges it: the claim lives as long as
/// the handler that holds it. Before, the record expired under the running handler, every
/// reclaimed delivery ran the event again, and the last was dead-lettered `max-deliveries`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_exactly_once_event_with_a_slow_handler_runs_once() {
    let t = TestRedis::start();
    let runs = Arc::new(std::sync::atomic::AtomicU64::new(0));
    let events = {
        let runs = Arc::clone(&runs);
        Service::builder("orders")
            .notification("orderPlaced", move |_: Value| {
                let runs = Arc::clone(&runs);
                async move {
                    runs.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
                    tokio::time::sleep(Duration::from_millis(1_600)).await;
                    Ok::<_, RpcError>(())
                }
            })
            .build()
            .unwrap()
    };
    let config = t.server_config().claim_idle(Duration::from_millis(200));
    let server = subscriber_with(
        config,
        "billing",
        events,
        SubscriptionOptions::new().exactly_once(true),
    )
    .await;
    let transport = t.transport().await;
    publish_n(&transport, "orderPlaced", 0, 1).await;
    wait_for("the event acknowledged", WAIT, || async {
        runs.load(std::sync::atomic::Ordering::SeqCst) > 0 && pending(&t, "billing").await == 0
    })
    .await;
    // Long enough for a reclaim (every second at this claim idle time) to have run it again.
    tokio::time::sleep(Duration::from_millis(1_500)).await;
    assert_eq!(runs.load(std::sync::atomic::Ordering::SeqCst), 1);
    assert_eq!(server.stats().dead_lettered, 0);
    transport.stop().await;
    server.stop().await;
}
