//! Typed events: a publisher's events reach every subscribing service once per service,
//! spread over its instances; a subscriber takes only the events it handles and acknowledges
//! the rest; failing handlers are retried after the configured delays, then dead-lettered;
//! invalid payloads never reach a handler; publish order is kept by default, behind a retry
//! too; a hung handler is cancelled after `max_handler_time`; new groups start where
//! configured and can be rewound; a stopped subscriber finishes what runs and leaves the
//! rest pending; broadcast reaches every instance; retention and the cap bound the stream;
//! a Redis restart, a flush and a slot move lose nothing.

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
    wait_for("nothing left pending", WAIT, || async {
        pending(&t, "billing").await == 0
    })
    .await;
    let mut got: Vec<u64> = seen.lock().unwrap().iter().map(|s| s.2).collect();
    let handled = got.len() as u64;
    got.sort_unstable();
    got.dedup();
    let distinct = got.len() as u64;
    let duplicated = handled - distinct;
    clamator_tests::report(&format!(
        "a_dead_instances_events_are_reclaimed_by_its_sibling: events published 20, handled {distinct}, duplicated {duplicated}, lost {}",
        20 - distinct
    ));
    assert_eq!(got, (0..20).collect::<Vec<_>>(), "nothing lost");
    // The dead instance finished no handler, and the sibling runs what it reclaims once (its
    // own reclaim loop skips what it holds): every run here is the only one of its event.
    assert_eq!(duplicated, 0, "the sibling ran an event twice: {seen:?}");
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
    // In chunks of half the cap, each handled before the next: billing, which is live, never
    // has an event it did not receive yet cut from under it.
    for chunk in 0..8 {
        publish_n(&transport, "orderPlaced", chunk * 50, chunk * 50 + 50).await;
        wait_for("billing caught up", WAIT, || {
            let done = seen.lock().unwrap().len() as u64 >= chunk * 50 + 50;
            async move { done }
        })
        .await;
    }
    let stream = clamator_redis::keys::event_stream(&t.prefix, "orders");
    let mut raw = t.raw().await;
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
    // The cap cost billing nothing: every event once, in publish order.
    let handled: Vec<u64> = seen.lock().unwrap().iter().map(|s| s.2).collect();
    assert_eq!(handled, (0..400).collect::<Vec<_>>());
    // The cut dropped the oldest events and kept the newest 100.
    let kept: Vec<u64> = clamator_tests::stream_envelopes(&mut raw, &stream)
        .await
        .iter()
        .map(|e| e["params"]["n"].as_u64().unwrap())
        .collect();
    assert_eq!(kept, (300..400).collect::<Vec<_>>());
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
    // Acknowledged, nothing redelivers it; a reclaim that took it before the ack has started
    // its run by the time the stop has drained every handler.
    transport.stop().await;
    server.stop().await;
    assert_eq!(runs.load(std::sync::atomic::Ordering::SeqCst), 1);
    assert_eq!(server.stats().dead_lettered, 0);
}

/// The entry ids of a stream, oldest first.
async fn stream_ids(raw: &redis::aio::MultiplexedConnection, stream: &str) -> Vec<String> {
    let reply: redis::streams::StreamRangeReply = redis::cmd("XRANGE")
        .arg(stream)
        .arg("-")
        .arg("+")
        .query_async(&mut raw.clone())
        .await
        .unwrap();
    reply.ids.into_iter().map(|e| e.id).collect()
}

/// The Unix milliseconds of an entry id.
fn id_ms(id: &str) -> u64 {
    id.split('-').next().unwrap().parse().unwrap()
}

fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis() as u64
}

/// Retention: housekeeping trims an event stream below what every group acknowledged, but
/// keeps acknowledged events `event_retention` (here 1.5 s) for replays; an event a group
/// still holds pending is kept past it. `audit`'s consumer took the ten events and died
/// holding the last five: the first five go once they are older than the retention, never
/// before, and the last five stay.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn acknowledged_events_are_kept_for_their_retention_then_trimmed() {
    let t = TestRedis::start();
    let retention = Duration::from_millis(1_500);
    let config = t
        .server_config()
        .housekeeping_interval(Duration::from_millis(100))
        .event_retention(retention);
    let stream = clamator_redis::keys::event_stream(&t.prefix, "orders");
    let raw = t.raw().await;
    clamator_tests::create_group(&raw, &stream, "audit").await;
    let seen: Seen = Arc::default();
    let billing = subscriber_with(
        config,
        "billing",
        orders_events("billing", &seen, true),
        SubscriptionOptions::new(),
    )
    .await;
    let transport = t.transport().await;
    let mut ids = Vec::new();
    for n in 0..10 {
        ids.push(
            transport
                .publish_event("orders", "orderPlaced", &json!({ "n": n }))
                .await
                .unwrap(),
        );
    }
    clamator_tests::take_as_dead_consumer(&raw, &stream, "audit", "audit:gone", 10).await;
    let _: u64 = redis::cmd("XACK")
        .arg(&stream)
        .arg("audit")
        .arg(&ids[..5])
        .query_async(&mut raw.clone())
        .await
        .unwrap();
    wait_for("billing handled and acknowledged all", WAIT, || async {
        seen.lock().unwrap().len() == 10 && pending(&t, "billing").await == 0
    })
    .await;
    // Watch the stream until the first five are gone: whenever an event is found missing, it
    // must have been older than the retention by then (a lower bound, so a slow machine can
    // only make it hold more surely), and the five audit holds must all be there.
    wait_for("the first five trimmed", WAIT, || async {
        let held = stream_ids(&raw, &stream).await;
        let looked = now_ms();
        for (i, id) in ids.iter().enumerate() {
            let kept = held.contains(id);
            if i >= 5 {
                assert!(kept, "event {i} is pending for audit and was trimmed");
            } else if !kept {
                assert!(
                    looked >= id_ms(id) + retention.as_millis() as u64,
                    "event {i} trimmed {} ms after it was published, before its retention",
                    looked - id_ms(id)
                );
            }
        }
        held == ids[5..]
    })
    .await;
    billing.stop().await;
    transport.stop().await;
}

/// A handler that hangs is cancelled after `max_handler_time` and counts as a failed
/// attempt: retried, then dead-lettered after `max_deliveries`, so the ordered subscriber
/// goes on with the next event.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_hung_event_handler_is_cancelled_after_max_handler_time() {
    let t = TestRedis::start();
    let attempts: Arc<Mutex<Vec<u64>>> = Arc::default();
    let events = {
        let attempts = Arc::clone(&attempts);
        Service::builder("orders")
            .notification("orderPlaced", move |p: Value| {
                let attempts = Arc::clone(&attempts);
                async move {
                    let n = p["n"].as_u64().unwrap_or(u64::MAX);
                    attempts.lock().unwrap().push(n);
                    if n == 0 {
                        std::future::pending::<()>().await;
                    }
                    Ok::<_, RpcError>(())
                }
            })
            .build()
            .unwrap()
    };
    let config = t
        .server_config()
        .max_handler_time(Some(Duration::from_millis(300)))
        .max_deliveries(2);
    let delays = RetryDelays::new(Duration::from_millis(50), 1, Duration::from_millis(50));
    let server = subscriber_with(
        config,
        "billing",
        events,
        SubscriptionOptions::new().retry(delays),
    )
    .await;
    let transport = t.transport().await;
    publish_n(&transport, "orderPlaced", 0, 2).await;
    let dead = t.dead_letters("billing").await;
    wait_for(
        "the next event handled and nothing pending",
        WAIT,
        || async { attempts.lock().unwrap().contains(&1) && pending(&t, "billing").await == 0 },
    )
    .await;
    assert_eq!(dead.len(), 1, "{dead:?}");
    assert_eq!(dead[0].reason, "handler-failed");
    assert_eq!(dead[0].error, "max-handler-time");
    assert!(dead[0].envelope.as_deref().unwrap().contains(r#""n":0"#));
    assert_eq!(*attempts.lock().unwrap(), [0, 0, 1]);
    assert_eq!(server.stats().cancelled, 2, "{:?}", server.stats());
    server.stop().await;
    transport.stop().await;
}

/// With the default concurrency of 1, an event waiting for its retry holds back the events
/// published after it: none of them runs before it succeeded.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_retried_event_holds_back_the_events_behind_it() {
    let t = TestRedis::start();
    let runs: Arc<Mutex<Vec<(u64, bool)>>> = Arc::default();
    let events = {
        let runs = Arc::clone(&runs);
        Service::builder("orders")
            .notification("orderPlaced", move |p: Value| {
                let runs = Arc::clone(&runs);
                async move {
                    let n = p["n"].as_u64().unwrap_or(u64::MAX);
                    let mut r = runs.lock().unwrap();
                    let failures = r.iter().filter(|(m, ok)| *m == n && !ok).count();
                    // Event 0 fails twice.
                    let ok = n != 0 || failures >= 2;
                    r.push((n, ok));
                    if ok {
                        Ok(())
                    } else {
                        Err(RpcError::new(-32000, "not yet"))
                    }
                }
            })
            .build()
            .unwrap()
    };
    let delays = RetryDelays::new(Duration::from_millis(150), 1, Duration::from_millis(150));
    let server = subscriber(
        &t,
        "billing",
        events,
        SubscriptionOptions::new().retry(delays),
    )
    .await;
    let transport = t.transport().await;
    publish_n(&transport, "orderPlaced", 0, 5).await;
    wait_for("all handled", WAIT, || {
        let done = runs.lock().unwrap().iter().filter(|r| r.1).count() == 5;
        async move { done }
    })
    .await;
    assert_eq!(
        *runs.lock().unwrap(),
        [
            (0, false),
            (0, false),
            (0, true),
            (1, true),
            (2, true),
            (3, true),
            (4, true)
        ]
    );
    server.stop().await;
    transport.stop().await;
}

/// What the handlers of a test did: (instance, event `n`, what): "start", "end", "failed".
type Steps = Arc<Mutex<Vec<(String, u64, &'static str)>>>;

/// `stop` lets a running handler finish and acknowledges its event; an event waiting for a
/// retry, and the events behind it, are not run: they stay pending, in order, and the next
/// instance handles them, in order.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stopped_subscriber_finishes_what_runs_and_leaves_the_rest_pending_in_order() {
    let t = TestRedis::start();
    let log: Steps = Arc::default();
    let events = |instance: &str| {
        let (log, instance) = (Arc::clone(&log), instance.to_owned());
        Service::builder("orders")
            .notification("orderPlaced", move |p: Value| {
                let (log, instance) = (Arc::clone(&log), instance.clone());
                async move {
                    let n = p["n"].as_u64().unwrap_or(u64::MAX);
                    let first = !log.lock().unwrap().iter().any(|r| r.1 == n);
                    log.lock().unwrap().push((instance.clone(), n, "start"));
                    if n == 1 && first {
                        log.lock().unwrap().push((instance, n, "failed"));
                        return Err(RpcError::new(-32000, "first attempt fails"));
                    }
                    if n == 3 {
                        tokio::time::sleep(Duration::from_millis(400)).await;
                    }
                    log.lock().unwrap().push((instance, n, "end"));
                    Ok(())
                }
            })
            .build()
            .unwrap()
    };
    let has = |n: u64, what: &str| log.lock().unwrap().iter().any(|r| r.1 == n && r.2 == what);
    // Retried after a minute: at stop, event 1 is waiting for its retry.
    let options = SubscriptionOptions::new().retry(RetryDelays::new(
        Duration::from_secs(60),
        1,
        Duration::from_secs(60),
    ));
    let first = subscriber(&t, "billing", events("A"), options.clone()).await;
    let transport = t.transport().await;
    publish_n(&transport, "orderPlaced", 0, 3).await;
    wait_for("event 1 failed and waits for its retry", WAIT, || {
        let done = has(1, "failed");
        async move { done }
    })
    .await;
    let report = first.stop().await;
    assert!(report.drained, "{report:?}");
    assert!(!has(2, "start"), "event 2 ran before event 1: {log:?}");
    assert_eq!(
        pending(&t, "billing").await,
        2,
        "events 1 and 2 left pending"
    );
    // The next instance reclaims them and handles them in order; then a handler it runs when
    // it stops finishes and is acknowledged.
    let config = t.server_config().claim_idle(Duration::from_millis(200));
    let second = subscriber_with(config, "billing", events("B"), options).await;
    wait_for("events 1 and 2 handled by B", WAIT, || {
        let done = has(2, "end");
        async move { done }
    })
    .await;
    publish_n(&transport, "orderPlaced", 3, 4).await;
    wait_for("event 3 started", WAIT, || {
        let done = has(3, "start");
        async move { done }
    })
    .await;
    let report = second.stop().await;
    assert!(report.drained, "{report:?}");
    assert!(has(3, "end"), "event 3 ran to its end");
    assert_eq!(pending(&t, "billing").await, 0);
    let order: Vec<(String, u64, &str)> = log
        .lock()
        .unwrap()
        .iter()
        .filter(|r| r.2 != "start")
        .cloned()
        .collect();
    let at = |i: &str, n: u64, w: &'static str| (i.to_owned(), n, w);
    let expected = [
        at("A", 0, "end"),
        at("A", 1, "failed"),
        at("B", 1, "end"),
        at("B", 2, "end"),
        at("B", 3, "end"),
    ];
    assert_eq!(order, expected);
    transport.stop().await;
}

/// Publishes event `n`, trying again while Redis is away (a publish Redis refused is not an
/// event: the publisher was told so).
async fn publish_retrying(transport: &RedisTransport, n: u64) {
    let deadline = Instant::now() + WAIT;
    while let Err(e) = transport
        .publish_event("orders", "orderPlaced", &json!({ "n": n }))
        .await
    {
        assert!(Instant::now() < deadline, "publishing {n}: {e}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// Events through a redis-server killed and restarted with an AOF (`appendfsync always`):
/// the subscriber's group and what it had not acknowledged survive; the handler running at
/// the kill finishes, and its event runs at most once more (its ack may be lost with the
/// connection); the subscriber reconnects on its own and handles the events published
/// after the restart, in order. No event Redis accepted is lost.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_subscriber_goes_on_through_a_redis_restart_and_loses_nothing() {
    let mut t = TestRedis::start_with(&[
        "--save",
        "",
        "--appendonly",
        "yes",
        "--appendfsync",
        "always",
    ]);
    let runs: Arc<Mutex<Vec<u64>>> = Arc::default();
    let events = {
        let runs = Arc::clone(&runs);
        Service::builder("orders")
            .notification("orderPlaced", move |p: Value| {
                let runs = Arc::clone(&runs);
                async move {
                    let n = p["n"].as_u64().unwrap_or(u64::MAX);
                    runs.lock().unwrap().push(n);
                    if n == 10 {
                        tokio::time::sleep(Duration::from_millis(1_000)).await;
                    }
                    Ok::<_, RpcError>(())
                }
            })
            .build()
            .unwrap()
    };
    let config = t.server_config().claim_idle(Duration::from_millis(500));
    let server = subscriber_with(config, "billing", events, SubscriptionOptions::new()).await;
    let transport = t.transport().await;
    publish_n(&transport, "orderPlaced", 0, 11).await;
    wait_for("event 10's handler running", WAIT, || {
        let done = runs.lock().unwrap().contains(&10);
        async move { done }
    })
    .await;
    t.process.kill();
    t.process.restart().unwrap();
    for n in 11..21 {
        publish_retrying(&transport, n).await;
    }
    wait_for("every event handled and acknowledged", WAIT, || async {
        let mut handled = runs.lock().unwrap().clone();
        handled.sort_unstable();
        handled.dedup();
        handled == (0..21).collect::<Vec<_>>()
            && matches!(
                clamator_tests::try_pending_count(
                    &mut t.raw().await,
                    &clamator_redis::keys::event_stream(&t.prefix, "orders"),
                    "billing"
                )
                .await,
                Ok(0)
            )
    })
    .await;
    let runs = runs.lock().unwrap().clone();
    let duplicated = runs.len() - 21;
    clamator_tests::report(&format!(
        "a_subscriber_goes_on_through_a_redis_restart_and_loses_nothing: events published 21, handled 21, lost 0, duplicated {duplicated}"
    ));
    assert!(
        runs.iter().filter(|&&n| n != 10).count() == 20 && duplicated <= 1,
        "only the event whose handler ran at the kill may run again: {runs:?}"
    );
    let after: Vec<u64> = runs.iter().copied().filter(|&n| n > 10).collect();
    assert_eq!(after, (11..21).collect::<Vec<_>>(), "in publish order");
    server.stop().await;
    transport.stop().await;
}

/// A subscriber group lost with Redis's data (FLUSHALL, or a restart without persistence)
/// is re-created just after the last event the instance read, not at its `start_at` (`Now`
/// by default): the events published between the flush and the re-creation, here in the
/// flush's own transaction, are handled. Re-created at `$`, they would be skipped.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_flushed_subscriber_group_is_recreated_after_what_it_read() {
    let t = TestRedis::start();
    let seen: Seen = Arc::default();
    let server = subscriber(
        &t,
        "billing",
        orders_events("billing", &seen, true),
        SubscriptionOptions::new(),
    )
    .await;
    let transport = t.transport().await;
    publish_n(&transport, "orderPlaced", 0, 5).await;
    wait_for("the first five handled and acknowledged", WAIT, || async {
        seen.lock().unwrap().len() == 5 && pending(&t, "billing").await == 0
    })
    .await;
    let stream = clamator_redis::keys::event_stream(&t.prefix, "orders");
    let mut flush = redis::pipe();
    flush.atomic().cmd("FLUSHALL").ignore();
    for n in 5..10 {
        let envelope =
            json!({"jsonrpc": "2.0", "method": "orders.orderPlaced", "params": {"n": n}});
        flush
            .cmd("XADD")
            .arg(&stream)
            .arg("*")
            .arg("type")
            .arg("event")
            .arg("envelope")
            .arg(envelope.to_string())
            .ignore();
    }
    let () = flush.query_async(&mut t.raw().await).await.unwrap();
    wait_for("the events published in the flush handled", WAIT, || {
        let done = seen.lock().unwrap().len() >= 10;
        async move { done }
    })
    .await;
    let handled: Vec<u64> = seen.lock().unwrap().iter().map(|s| s.2).collect();
    assert_eq!(handled, (0..10).collect::<Vec<_>>());
    server.stop().await;
    transport.stop().await;
}

/// On a Redis Cluster, the event stream's slot moved to another master and back (three
/// moves, each with its ASK and MOVED window) while events are published and handled all
/// along: no publish fails, and an exactly-once subscriber handles every event once.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn events_survive_their_streams_slot_moving_between_masters() {
    let t = clamator_tests::cluster::TestCluster::start(3, 0);
    let seen: Seen = Arc::default();
    let server = subscriber_with(
        t.server_config().claim_idle(Duration::from_secs(1)),
        "billing",
        orders_events("billing", &seen, true),
        SubscriptionOptions::new().exactly_once(true),
    )
    .await;
    let transport = RedisTransport::connect(t.transport_config()).await.unwrap();
    let stream = clamator_redis::keys::event_stream(&t.prefix, "orders");
    // Publishes until the moves are over; how many it published.
    let moving = Arc::new(std::sync::atomic::AtomicBool::new(true));
    let publisher = {
        let (transport, moving) = (transport.clone(), Arc::clone(&moving));
        tokio::spawn(async move {
            let mut n = 0u64;
            while moving.load(std::sync::atomic::Ordering::SeqCst) {
                transport
                    .publish_event("orders", "orderPlaced", &json!({ "n": n }))
                    .await
                    .unwrap();
                n += 1;
                tokio::time::sleep(Duration::from_millis(2)).await;
            }
            n
        })
    };
    wait_for("events flowing", WAIT, || {
        let done = !seen.lock().unwrap().is_empty();
        async move { done }
    })
    .await;
    let from = t.cluster.master_of(&stream).unwrap();
    let to = *t
        .cluster
        .masters()
        .iter()
        .find(|&&m| m != from)
        .expect("another master");
    for (a, b) in [(from, to), (to, from), (from, to)] {
        t.cluster.migrate_slot_of(&stream, a, b).unwrap();
        assert_eq!(t.cluster.master_of(&stream).unwrap(), b);
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    moving.store(false, std::sync::atomic::Ordering::SeqCst);
    let published = publisher.await.unwrap();
    wait_for("every event handled", WAIT, || {
        let mut got: Vec<u64> = seen.lock().unwrap().iter().map(|s| s.2).collect();
        got.sort_unstable();
        got.dedup();
        let done = got == (0..published).collect::<Vec<_>>();
        async move { done }
    })
    .await;
    clamator_tests::wait_all_acked(&t.raw().await, &stream, "billing").await;
    let runs = seen.lock().unwrap().len() as u64;
    clamator_tests::report(&format!(
        "events_survive_their_streams_slot_moving_between_masters: events published {published}, handled {published}, lost 0, duplicated {}",
        runs - published
    ));
    assert_eq!(runs, published, "exactly once: one handler run per event");
    server.stop().await;
    transport.stop().await;
}
