//! `clamator tail`: requests and their replies as they pass, with latency and outcome, and
//! nothing changed for the servers: no consumer group, no consumer, no acknowledgement.

use std::time::Duration;

use clamator_protocol::{CallOptions, Client};
use clamator_redis::{RedisTransport, TransportConfig};
use clamator_testkit::local_redis::RedisProcess;
use serde_json::{json, Value};
use tokio::io::AsyncBufReadExt as _;

use crate::{clamator, command, redis_conn, serve};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tail_shows_requests_and_replies_without_touching_the_group() {
    let redis = RedisProcess::start().unwrap();
    let url = redis.url();
    let server = serve(&redis, "w1", "srv", 1, |_| {}).await;
    let mut conn = redis_conn(&redis).await;
    // Traffic from before the tail started is not shown.
    let old = clamator(&url, "w1", &["call", "arith.add", r#"{"a":100,"b":1}"#]).await;
    assert_eq!(old.code, 0, "{old:?}");

    let mut child = command(
        &url,
        "w1",
        &[
            "tail",
            "arith",
            "--count",
            "4",
            "--reply-wait",
            "1s",
            "--json",
        ],
    )
    .spawn()
    .unwrap();
    let mut stderr = tokio::io::BufReader::new(child.stderr.take().unwrap()).lines();
    let ready = tokio::time::timeout(Duration::from_secs(10), stderr.next_line())
        .await
        .unwrap()
        .unwrap()
        .unwrap();
    assert!(ready.contains("tailing arith"), "{ready}");

    let transport = RedisTransport::connect(TransportConfig::new("w1").redis_url(&url))
        .await
        .unwrap();
    let client = Client::new(transport.clone());
    let sum: Value = client
        .call("arith", "slowAdd", &json!({"a": 1, "b": 2, "sleepMs": 150}))
        .await
        .unwrap();
    assert_eq!(sum["sum"], 3.0);
    let refused = client
        .call_value(
            "arith",
            "divide",
            &json!({"a": 1, "b": 0}),
            CallOptions::timeout(Duration::from_secs(5)),
        )
        .await
        .unwrap_err();
    assert_eq!(refused.code(), Some(-32000));
    // A short-lived caller: the CLI deletes its reply stream as soon as it has its reply, so
    // tail sees that reply only if it reads the stream first (usually, not always).
    let quick = clamator(&url, "w1", &["call", "arith.echoText", r#"{"text":"hi"}"#]).await;
    assert_eq!(quick.code, 0, "{quick:?}");
    let _: String = redis::cmd("XADD")
        .arg("w1:cmds:arith")
        .arg("*")
        .arg("type")
        .arg("rpc")
        .arg("envelope")
        .arg("garbage")
        .query_async(&mut conn)
        .await
        .unwrap();

    let out = tokio::time::timeout(Duration::from_secs(20), child.wait_with_output())
        .await
        .expect("tail did not stop after --count events")
        .unwrap();
    assert_eq!(out.status.code(), Some(0));
    let events: Vec<Value> = String::from_utf8(out.stdout)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(events.len(), 4, "{events:?}");
    let by_method = |m: &str| {
        events
            .iter()
            .find(|e| e["method"] == m)
            .unwrap_or_else(|| panic!("no {m} in {events:?}"))
    };
    let slow = by_method("arith.slowAdd");
    assert_eq!(slow["kind"], "request");
    assert_eq!(slow["params"], json!({"a": 1, "b": 2, "sleepMs": 150}));
    assert_eq!(slow["outcome"], "ok");
    assert_eq!(slow["result"]["sum"], 3.0);
    assert!(slow["latencyMs"].as_u64().unwrap() >= 150, "{slow}");
    assert_eq!(slow["replyTo"], transport.reply_stream());
    assert!(slow["rpcId"].is_string());
    let divide = by_method("arith.divide");
    assert_eq!(divide["outcome"], "error");
    assert_eq!(divide["error"]["code"], -32000);
    let echo = by_method("arith.echoText");
    match echo["outcome"].as_str() {
        Some("ok") => assert_eq!(echo["result"]["text"], "hi"),
        Some("noReply") => assert!(echo.get("latencyMs").is_none()),
        other => panic!("echoText ended {other:?}: {echo}"),
    }
    let malformed: Vec<&Value> = events.iter().filter(|e| e["kind"] == "malformed").collect();
    assert_eq!(malformed.len(), 1, "{events:?}");
    assert_eq!(malformed[0]["outcome"], "malformed");

    // Read-only: the group has only the server's consumer, and every entry the server
    // read was acknowledged by it alone.
    let groups: Vec<Value> = clamator(&url, "w1", &["services", "--json"]).await.json()["services"]
        [0]["streams"][0]["groups"]
        .as_array()
        .unwrap()
        .clone();
    assert_eq!(groups.len(), 1, "{groups:?}");
    let consumers: Vec<&str> = groups[0]["consumers"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["name"].as_str().unwrap())
        .collect();
    assert_eq!(consumers, ["arith:srv"]);

    // --no-params leaves params and results out.
    let mut child = command(
        &url,
        "w1",
        &["tail", "arith", "--count", "1", "--no-params", "--json"],
    )
    .spawn()
    .unwrap();
    let mut stderr = tokio::io::BufReader::new(child.stderr.take().unwrap()).lines();
    let _ = tokio::time::timeout(Duration::from_secs(10), stderr.next_line()).await;
    let _: Value = client
        .call("arith", "add", &json!({"a": 5, "b": 5}))
        .await
        .unwrap();
    let out = tokio::time::timeout(Duration::from_secs(20), child.wait_with_output())
        .await
        .unwrap()
        .unwrap();
    let event: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(event["outcome"], "ok");
    assert!(
        event.get("params").is_none() && event.get("result").is_none(),
        "{event}"
    );

    transport.stop().await;
    server.stop().await;
}

/// `--events` follows what the service publishes too, read-only, from when the tail
/// started (it followed command streams only).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tail_follows_the_events_a_service_publishes() {
    let redis = RedisProcess::start().unwrap();
    let url = redis.url();
    let transport = RedisTransport::connect(TransportConfig::new("w3").redis_url(&url))
        .await
        .unwrap();
    // Published before the tail started: not shown.
    transport
        .publish_event("orders", "orderPlaced", &json!({"n": 0}))
        .await
        .unwrap();
    let mut child = command(
        &url,
        "w3",
        &["tail", "orders", "--events", "--count", "2", "--json"],
    )
    .spawn()
    .unwrap();
    let mut stderr = tokio::io::BufReader::new(child.stderr.take().unwrap()).lines();
    let ready = tokio::time::timeout(Duration::from_secs(10), stderr.next_line())
        .await
        .unwrap()
        .unwrap()
        .unwrap();
    assert!(ready.contains("tailing orders"), "{ready}");
    for n in 1..=2 {
        transport
            .publish_event("orders", "orderPlaced", &json!({ "n": n }))
            .await
            .unwrap();
    }
    let out = tokio::time::timeout(Duration::from_secs(20), child.wait_with_output())
        .await
        .expect("tail did not stop after --count events")
        .unwrap();
    transport.stop().await;
    assert_eq!(out.status.code(), Some(0));
    let shown: Vec<Value> = String::from_utf8(out.stdout)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    let summary: Vec<(&str, &str, &Value)> = shown
        .iter()
        .map(|e| {
            (
                e["kind"].as_str().unwrap(),
                e["method"].as_str().unwrap(),
                &e["params"]["n"],
            )
        })
        .collect();
    assert_eq!(
        summary,
        [
            ("event", "orders.orderPlaced", &json!(1)),
            ("event", "orders.orderPlaced", &json!(2)),
        ]
    );
    assert_eq!(shown[0]["stream"], "w3:events:orders");
    // Read-only: no group was made on the event stream.
    let mut conn = redis_conn(&redis).await;
    let groups: redis::streams::StreamInfoGroupsReply = redis::cmd("XINFO")
        .arg("GROUPS")
        .arg("w3:events:orders")
        .query_async(&mut conn)
        .await
        .unwrap();
    assert!(groups.groups.is_empty());
}
