//! `clamator events rewind`: a subscriber moved back to replay events, or forward to skip
//! them, as `rewind_subscriber` does.

use clamator_testkit::local_redis::RedisProcess;

use crate::{clamator, redis_conn, subscriber_behind};

/// Where the group `billing` on `e1:events:orders` stands: its last delivered id.
async fn last_delivered(conn: &mut redis::aio::MultiplexedConnection) -> String {
    let groups: redis::streams::StreamInfoGroupsReply = redis::cmd("XINFO")
        .arg("GROUPS")
        .arg("e1:events:orders")
        .query_async(conn)
        .await
        .unwrap();
    groups
        .groups
        .iter()
        .find(|g| g.name == "billing")
        .unwrap()
        .last_delivered_id
        .clone()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_subscriber_is_rewound_and_moved_forward() {
    let redis = RedisProcess::start().unwrap();
    let url = redis.url();
    let mut conn = redis_conn(&redis).await;
    subscriber_behind(&mut conn, "e1").await;
    let ids: redis::streams::StreamRangeReply = redis::cmd("XRANGE")
        .arg("e1:events:orders")
        .arg("-")
        .arg("+")
        .query_async(&mut conn)
        .await
        .unwrap();
    assert_eq!(last_delivered(&mut conn).await, ids.ids[1].id);

    let oldest = clamator(
        &url,
        "e1",
        &[
            "events", "rewind", "orders", "billing", "--to", "oldest", "--json",
        ],
    )
    .await;
    assert_eq!(oldest.code, 0, "{oldest:?}");
    assert_eq!(oldest.json()["stream"], "e1:events:orders");
    assert_eq!(last_delivered(&mut conn).await, "0-0");

    let now = clamator(
        &url,
        "e1",
        &["events", "rewind", "orders", "billing", "--to", "now"],
    )
    .await;
    assert_eq!(now.code, 0, "{now:?}");
    assert!(
        now.stdout
            .contains("billing on e1:events:orders moved to now"),
        "{now:?}"
    );
    assert_eq!(last_delivered(&mut conn).await, ids.ids[4].id);

    // An hour ago: before every event here, so all of them come again.
    let hour = clamator(
        &url,
        "e1",
        &["events", "rewind", "orders", "billing", "--to", "1h"],
    )
    .await;
    assert_eq!(hour.code, 0, "{hour:?}");
    let at = last_delivered(&mut conn).await;
    assert!(at.as_str() < ids.ids[0].id.as_str(), "{at}");

    let nobody = clamator(
        &url,
        "e1",
        &["events", "rewind", "orders", "nobody", "--to", "now"],
    )
    .await;
    assert_eq!(nobody.code, 1, "{nobody:?}");
    assert!(
        nobody.stderr.contains("no subscriber \"nobody\""),
        "{nobody:?}"
    );
    let bad = clamator(
        &url,
        "e1",
        &["events", "rewind", "orders", "billing", "--to", "yesterday"],
    )
    .await;
    assert_eq!(bad.code, 2, "{bad:?}");
    // Nothing moved by the refused ones.
    assert_eq!(last_delivered(&mut conn).await, at);
}

/// A subscriber's failed event, published again after a fix: handled by that subscriber
/// alone (the other, which had handled it, does not run it again), the letter removed; a
/// dry run changes nothing; `--all-subscribers` reaches both.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_dead_lettered_event_is_republished_for_its_subscriber() {
    use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
    use std::sync::Arc;
    use std::time::Duration;

    let redis = RedisProcess::start().unwrap();
    let url = redis.url();
    let mut conn = redis_conn(&redis).await;
    let fixed = Arc::new(AtomicBool::new(false));
    let (billed, shipped) = (Arc::new(AtomicU64::new(0)), Arc::new(AtomicU64::new(0)));
    let subscriber = crate::orders_subscriber;
    let server = clamator_redis::RedisServer::builder(
        clamator_redis::ServerConfig::new("e2")
            .redis_url(&url)
            .max_deliveries(1),
    )
    .subscribe(
        "billing",
        subscriber(Arc::clone(&billed), Some(Arc::clone(&fixed))),
    )
    .subscribe("shipping", subscriber(Arc::clone(&shipped), None))
    .start()
    .await
    .unwrap();
    let transport = clamator_redis::RedisTransport::connect(
        clamator_redis::TransportConfig::new("e2").redis_url(&url),
    )
    .await
    .unwrap();
    transport
        .publish_event(
            "orders",
            "orderPlaced",
            &serde_json::json!({"orderId": "o-1"}),
        )
        .await
        .unwrap();
    let dlq_len = |conn: redis::aio::MultiplexedConnection| async move {
        redis::cmd("XLEN")
            .arg("e2:dlq:billing")
            .query_async::<u64>(&mut conn.clone())
            .await
            .unwrap()
    };
    crate::eventually(Duration::from_secs(10), || {
        let (conn, shipped) = (conn.clone(), Arc::clone(&shipped));
        async move { dlq_len(conn).await == 1 && shipped.load(Ordering::SeqCst) == 1 }
    })
    .await;
    let list = clamator(&url, "e2", &["dlq", "list", "billing", "--json"]).await;
    let id = list.json()["deadLetters"][0]["id"]
        .as_str()
        .unwrap()
        .to_owned();

    let dry = clamator(
        &url,
        "e2",
        &["events", "republish", "billing", &id, "--dry-run", "--json"],
    )
    .await;
    assert_eq!(dry.code, 0, "{dry:?}");
    assert_eq!(dry.json()["republished"][0]["publisher"], "orders");
    assert_eq!(
        dlq_len(conn.clone()).await,
        1,
        "a dry run changed something"
    );

    fixed.store(true, Ordering::SeqCst);
    let real = clamator(&url, "e2", &["events", "republish", "billing", &id]).await;
    assert_eq!(real.code, 0, "{real:?}");
    assert!(real.stdout.contains("for billing alone"), "{real:?}");
    crate::eventually(Duration::from_secs(10), || {
        let billed = Arc::clone(&billed);
        async move { billed.load(Ordering::SeqCst) == 1 }
    })
    .await;
    assert_eq!(dlq_len(conn.clone()).await, 0);
    // A request's letter, or one gone, is skipped with the reason, and the run exits 1.
    let again = clamator(
        &url,
        "e2",
        &["events", "republish", "billing", &id, "--json"],
    )
    .await;
    assert_eq!(again.code, 1, "{again:?}");
    assert!(again.json()["skipped"][0]["reason"]
        .as_str()
        .unwrap()
        .contains("no dead letter"));

    // For everyone: shipping runs it again too.
    let _: String = redis::cmd("XADD")
        .arg("e2:dlq:billing")
        .arg("*")
        .arg("type")
        .arg("event")
        .arg("envelope")
        .arg(r#"{"jsonrpc":"2.0","method":"orders.orderPlaced","params":{"orderId":"o-2"}}"#)
        .arg("dlq-reason")
        .arg("handler-failed")
        .query_async(&mut conn)
        .await
        .unwrap();
    let list = clamator(&url, "e2", &["dlq", "list", "billing", "--json"]).await;
    let id = list.json()["deadLetters"][0]["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let all = clamator(
        &url,
        "e2",
        &["events", "republish", "billing", &id, "--all-subscribers"],
    )
    .await;
    assert_eq!(all.code, 0, "{all:?}");
    crate::eventually(Duration::from_secs(10), || {
        let (billed, shipped) = (Arc::clone(&billed), Arc::clone(&shipped));
        async move { billed.load(Ordering::SeqCst) == 2 && shipped.load(Ordering::SeqCst) == 2 }
    })
    .await;
    // Settled: the one-subscriber event did not reach shipping meanwhile.
    server.stop().await;
    transport.stop().await;
    assert_eq!(shipped.load(Ordering::SeqCst), 2);
    assert_eq!(billed.load(Ordering::SeqCst), 2);
}
