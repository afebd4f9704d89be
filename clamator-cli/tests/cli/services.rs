//! `clamator services`: services found by their command streams (partitions included) and
//! by their published contracts, with groups, consumers and a language where the consumer
//! name tells.

use std::time::Duration;

use clamator_protocol::Client;
use clamator_redis::{RedisTransport, TransportConfig};
use clamator_testkit::local_redis::RedisProcess;
use serde_json::{json, Value};

use crate::{clamator, eventually, publish, published_arith, redis_conn, serve};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn services_lists_streams_partitions_groups_consumers_and_contracts() {
    let redis = RedisProcess::start().unwrap();
    let url = redis.url();
    // arith over two partitions, served by a consumer whose name says Rust.
    let server = serve(&redis, "s1", "rust-a", 2, |_| {}).await;
    // Redis makes a consumer on its first delivery: one call per partition, one ping.
    let transport = RedisTransport::connect(
        TransportConfig::new("s1")
            .redis_url(&url)
            .partitions("arith", 2),
    )
    .await
    .unwrap();
    let client = Client::new(transport.clone());
    for _ in 0..2 {
        let _: Value = client
            .call("arith", "add", &json!({"a": 1, "b": 2}))
            .await
            .unwrap();
    }
    client
        .notify("notifications", "ping", &json!({}))
        .await
        .unwrap();
    transport.stop().await;
    let mut conn = redis_conn(&redis).await;
    eventually(Duration::from_secs(5), || {
        let mut conn = conn.clone();
        async move {
            redis::cmd("XINFO")
                .arg("CONSUMERS")
                .arg("s1:cmds:notifications")
                .arg("notifications")
                .query_async::<Vec<redis::Value>>(&mut conn)
                .await
                .is_ok_and(|c| c.len() == 1)
        }
    })
    .await;
    publish(&redis, "s1", "arith", &published_arith("clamator-rs test")).await;
    // A service that published its contract and has no stream yet.
    publish(
        &redis,
        "s1",
        "ghost",
        &serde_json::json!({"service": "ghost", "methods": []}),
    )
    .await;
    // Another prefix whose keys start like ours must not show up.
    let _: String = redis::cmd("XADD")
        .arg("s10:cmds:other")
        .arg("*")
        .arg("type")
        .arg("rpc")
        .query_async(&mut conn)
        .await
        .unwrap();

    let out = clamator(&url, "s1", &["services", "--json"]).await;
    assert_eq!(out.code, 0, "{out:?}");
    let doc = out.json();
    assert_eq!(doc["prefix"], "s1");
    let services = doc["services"].as_array().unwrap();
    let names: Vec<&str> = services
        .iter()
        .map(|s| s["service"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["arith", "ghost", "notifications"]);

    let arith = &services[0];
    assert_eq!(arith["contract"]["publishedBy"], "clamator-rs test");
    assert_eq!(arith["contract"]["methods"], 4);
    let streams = arith["streams"].as_array().unwrap();
    let keys: Vec<(&str, u64)> = streams
        .iter()
        .map(|s| (s["key"].as_str().unwrap(), s["partition"].as_u64().unwrap()))
        .collect();
    assert_eq!(keys, [("s1:cmds:arith", 0), ("s1:cmds:arith:1", 1)]);
    for stream in streams {
        let group = &stream["groups"][0];
        assert_eq!(group["name"], "arith");
        let consumer = &group["consumers"][0];
        assert_eq!(consumer["name"], "arith:rust-a");
        assert_eq!(consumer["instance"], "rust-a");
        assert_eq!(consumer["language"], "rust");
        assert!(consumer["idleMs"].is_u64());
    }
    let ghost = &services[1];
    assert_eq!(ghost["streams"], Value::Array(vec![]));
    assert_eq!(ghost["contract"]["methods"], 0);
    let notifications = &services[2];
    assert_eq!(
        notifications["streams"][0]["groups"][0]["consumers"][0]["name"],
        "notifications:rust-a"
    );

    // The table names the same things.
    let table = clamator(&url, "s1", &["services"]).await;
    assert_eq!(table.code, 0, "{table:?}");
    for word in [
        "SERVICE",
        "s1:cmds:arith:1",
        "arith:rust-a",
        "ghost",
        "clamator-rs test",
    ] {
        assert!(
            table.stdout.contains(word),
            "{word} missing: {}",
            table.stdout
        );
    }

    // A prefix with nothing under it.
    let empty = clamator(&url, "nothing-here", &["services", "--json"]).await;
    assert_eq!(empty.code, 0, "{empty:?}");
    assert_eq!(empty.json()["services"], Value::Array(vec![]));

    server.stop().await;
}

/// Event streams are listed with their subscribers: `billing`'s group on `orders`'s events,
/// with what it has not read yet (before, `services` showed command streams only).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn services_lists_publishers_and_their_subscribers() {
    let redis = RedisProcess::start().unwrap();
    let url = redis.url();
    let mut conn = crate::redis_conn(&redis).await;
    crate::subscriber_behind(&mut conn, "s9").await;

    let listed = clamator(&url, "s9", &["services", "--json"]).await;
    assert_eq!(listed.code, 0, "{listed:?}");
    let doc = listed.json();
    let publisher = &doc["publishers"][0];
    assert_eq!(publisher["publisher"], "orders", "{doc}");
    assert_eq!(publisher["length"], 5, "{doc}");
    let billing = &publisher["subscribers"][0];
    assert_eq!(billing["name"], "billing", "{doc}");
    assert_eq!(billing["pending"], 2, "{doc}");
    assert_eq!(billing["consumers"][0]["language"], "rust", "{doc}");
    // Redis 7 and Valkey say how far behind the group is.
    assert!(billing["lag"] == 3 || billing["lag"].is_null(), "{doc}");

    let table = clamator(&url, "s9", &["services"]).await;
    assert_eq!(table.code, 0, "{table:?}");
    let row = table
        .stdout
        .lines()
        .find(|l| l.contains("billing"))
        .unwrap_or_else(|| panic!("no billing row: {}", table.stdout));
    let cells: Vec<&str> = row.split_whitespace().collect();
    assert_eq!(
        cells[..4],
        ["orders", "s9:events:orders", "5", "billing"],
        "{row}"
    );
}
