//! `clamator stat`: lengths, rates in and acknowledged under live traffic, lag, pending and
//! the oldest pending age, consumers, dead letters; `--watch` until Ctrl-C.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use clamator_protocol::Client;
use clamator_redis::{RedisTransport, TransportConfig};
use clamator_testkit::local_redis::RedisProcess;
use serde_json::{json, Value};
use tokio::io::AsyncBufReadExt as _;

use crate::{clamator, command, redis_conn, serve};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stat_measures_traffic_backlog_and_dead_letters() {
    let redis = RedisProcess::start().unwrap();
    let url = redis.url();
    let server = serve(&redis, "t1", "srv", 1, |_| {}).await;
    let mut conn = redis_conn(&redis).await;
    for _ in 0..2 {
        let _: String = redis::cmd("XADD")
            .arg("t1:dlq:arith")
            .arg("*")
            .arg("dlq-reason")
            .arg("malformed")
            .query_async(&mut conn)
            .await
            .unwrap();
    }
    // `inv`: one entry read by a consumer that went away.
    let _: String = redis::cmd("XADD")
        .arg("t1:cmds:inv")
        .arg("*")
        .arg("type")
        .arg("rpc")
        .query_async(&mut conn)
        .await
        .unwrap();
    crate::taken_and_left(&mut conn, "t1:cmds:inv", "inv", "inv:gone", None).await;

    // Live traffic while stat samples.
    let transport = RedisTransport::connect(TransportConfig::new("t1").redis_url(&url))
        .await
        .unwrap();
    let client = Client::new(transport.clone());
    let running = Arc::new(AtomicBool::new(true));
    let traffic = tokio::spawn({
        let running = Arc::clone(&running);
        async move {
            let mut calls = 0u32;
            while running.load(Ordering::Relaxed) {
                let _: Value = client
                    .call("arith", "add", &json!({"a": 1, "b": 2}))
                    .await
                    .unwrap();
                calls += 1;
                tokio::time::sleep(Duration::from_millis(10)).await;
            }
            calls
        }
    });
    tokio::time::sleep(Duration::from_millis(300)).await;

    let out = clamator(
        &url,
        "t1",
        &["stat", "arith", "--sample", "600ms", "--json"],
    )
    .await;
    assert_eq!(out.code, 0, "{out:?}");
    let doc = out.json();
    assert!(doc["sampleMs"].as_u64().unwrap() >= 600, "{doc}");
    let arith = &doc["services"][0];
    assert_eq!(arith["service"], "arith");
    assert!(arith["addedPerSec"].as_f64().unwrap() > 5.0, "{arith}");
    assert!(arith["ackedPerSec"].as_f64().unwrap() > 5.0, "{arith}");
    assert!(arith["length"].as_u64().unwrap() > 0, "{arith}");
    assert_eq!(arith["consumers"], 1);
    assert_eq!(arith["deadLetters"], 2);
    assert_eq!(arith["streams"][0]["groups"][0]["name"], "arith");

    running.store(false, Ordering::Relaxed);
    assert!(traffic.await.unwrap() > 10);
    transport.stop().await;

    let all = clamator(&url, "t1", &["stat", "--sample", "100ms", "--json"]).await;
    assert_eq!(all.code, 0, "{all:?}");
    let doc = all.json();
    let names: Vec<&str> = doc["services"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["service"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["arith", "inv", "notifications"]);
    let inv = &doc["services"][1];
    assert_eq!(inv["pending"], 1);
    assert_eq!(inv["lag"], 0);
    assert_eq!(inv["consumers"], 1);
    assert!(inv["oldestPendingAgeMs"].as_u64().is_some(), "{inv}");
    assert!(
        inv["streams"][0]["groups"][0]["oldestPendingId"].is_string(),
        "{inv}"
    );

    let table = clamator(&url, "t1", &["stat", "--sample", "100ms"]).await;
    assert_eq!(table.code, 0, "{table:?}");
    assert!(table.stdout.contains("PENDING") && table.stdout.contains("inv"));

    let unknown = clamator(&url, "t1", &["stat", "nosuch", "--json"]).await;
    assert_eq!(unknown.code, 1, "{unknown:?}");

    // --watch: a document per refresh until Ctrl-C, then exit 0.
    let mut child = command(
        &url,
        "t1",
        &["stat", "inv", "--watch", "--interval", "200ms", "--json"],
    )
    .spawn()
    .unwrap();
    let mut lines = tokio::io::BufReader::new(child.stdout.take().unwrap()).lines();
    let mut frames = Vec::new();
    while frames.len() < 2 {
        let line = tokio::time::timeout(Duration::from_secs(10), lines.next_line())
            .await
            .unwrap()
            .unwrap()
            .unwrap();
        frames.push(serde_json::from_str::<Value>(&line).unwrap());
    }
    assert_eq!(frames[0]["services"][0]["addedPerSec"], Value::Null);
    assert_eq!(frames[1]["services"][0]["addedPerSec"], 0.0);
    assert!(frames[1]["sampleMs"].as_u64().unwrap() >= 200);
    let pid = child.id().unwrap().to_string();
    let kill = std::process::Command::new("kill")
        .args(["-INT", &pid])
        .status()
        .unwrap();
    assert!(kill.success());
    let status = tokio::time::timeout(Duration::from_secs(10), child.wait())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(status.code(), Some(0));

    server.stop().await;
}
