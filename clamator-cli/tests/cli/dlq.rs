//! `clamator dlq`: list, show, replay (by id, by range, all; dry run) and purge, over dead
//! letters a real server wrote and ones written as it writes them.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use clamator_testkit::local_redis::RedisProcess;
use serde_json::Value;

use crate::{clamator, eventually, redis_conn, serve};

/// A dead letter as servers write it: the entry's fields, then ours.
async fn dead_letter(
    conn: &mut redis::aio::MultiplexedConnection,
    envelope: &str,
    truncated: bool,
) -> String {
    let mut cmd = redis::cmd("XADD");
    cmd.arg("q1:dlq:arith")
        .arg("*")
        .arg("type")
        .arg("rpc")
        .arg("envelope")
        .arg(envelope)
        .arg("reply-to")
        .arg("q1:replies:gone")
        .arg("dlq-reason")
        .arg("max-deliveries")
        .arg("dlq-deliveries")
        .arg(6)
        .arg("dlq-error")
        .arg("delivered 6 times")
        .arg("dlq-entry-id")
        .arg("1-1")
        .arg("dlq-at")
        .arg(1_700_000_000_000u64);
    if truncated {
        cmd.arg("dlq-truncated").arg("envelope=70000");
    }
    cmd.query_async(conn).await.unwrap()
}

async fn entries(
    conn: &mut redis::aio::MultiplexedConnection,
    key: &str,
) -> Vec<(String, Vec<(String, String)>)> {
    redis::cmd("XRANGE")
        .arg(key)
        .arg("-")
        .arg("+")
        .query_async(conn)
        .await
        .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dead_letters_are_listed_shown_replayed_and_purged() {
    let redis = RedisProcess::start().unwrap();
    let url = redis.url();
    let mut conn = redis_conn(&redis).await;
    let server = serve(&redis, "q1", "srv", 1, |_| {}).await;

    // A real one: the server dead-letters an entry that is not JSON.
    let _: String = redis::cmd("XADD")
        .arg("q1:cmds:arith")
        .arg("*")
        .arg("type")
        .arg("rpc")
        .arg("envelope")
        .arg("{not json")
        .arg("reply-to")
        .arg("q1:replies:gone")
        .query_async(&mut conn)
        .await
        .unwrap();
    eventually(Duration::from_secs(10), || {
        let mut conn = conn.clone();
        async move {
            redis::cmd("XLEN")
                .arg("q1:dlq:arith")
                .query_async::<u64>(&mut conn)
                .await
                .unwrap()
                == 1
        }
    })
    .await;
    server.stop().await;
    let add = r#"{"jsonrpc":"2.0","id":"r-1","method":"arith.add","params":{"a":1,"b":2}}"#;
    let a = dead_letter(&mut conn, add, false).await;
    let b = dead_letter(&mut conn, add, false).await;
    let cut = dead_letter(&mut conn, add, true).await;

    let list = clamator(&url, "q1", &["dlq", "list", "arith", "--json"]).await;
    assert_eq!(list.code, 0, "{list:?}");
    let letters = list.json()["deadLetters"].as_array().unwrap().clone();
    assert_eq!(letters.len(), 4);
    assert_eq!(letters[0]["reason"], "malformed");
    assert_eq!(letters[1]["id"], a);
    assert_eq!(letters[1]["reason"], "max-deliveries");
    assert_eq!(letters[1]["deliveries"], 6);
    assert_eq!(letters[1]["method"], "arith.add");
    assert_eq!(letters[1]["rpcId"], "r-1");
    assert_eq!(letters[3]["truncated"], true);
    let limited = clamator(
        &url,
        "q1",
        &["dlq", "list", "arith", "--count", "2", "--json"],
    )
    .await;
    assert_eq!(limited.json()["deadLetters"].as_array().unwrap().len(), 2);

    let show = clamator(&url, "q1", &["dlq", "show", "arith", &a, "--json"]).await;
    assert_eq!(show.code, 0, "{show:?}");
    let letter = show.json();
    assert_eq!(letter["at"], 1_700_000_000_000u64);
    assert_eq!(letter["entryId"], "1-1");
    assert_eq!(letter["envelope"]["params"]["b"], 2);
    assert_eq!(letter["fields"]["reply-to"], "q1:replies:gone");
    let missing = clamator(&url, "q1", &["dlq", "show", "arith", "1-0", "--json"]).await;
    assert_eq!(missing.code, 1, "{missing:?}");
    let bad_id = clamator(&url, "q1", &["dlq", "show", "arith", "latest"]).await;
    assert_eq!(bad_id.code, 2, "{bad_id:?}");

    // A dry run over a range changes nothing.
    let dry = clamator(
        &url,
        "q1",
        &[
            "dlq",
            "replay",
            "arith",
            "--from",
            &a,
            "--to",
            &b,
            "--dry-run",
            "--json",
        ],
    )
    .await;
    assert_eq!(dry.code, 0, "{dry:?}");
    let would: Vec<String> = dry.json()["replayed"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["id"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(would, [a.clone(), b.clone()]);
    assert_eq!(entries(&mut conn, "q1:dlq:arith").await.len(), 4);

    // By id: back on the command stream without our fields, gone from the dead letters.
    let before = entries(&mut conn, "q1:cmds:arith").await.len();
    let one = clamator(&url, "q1", &["dlq", "replay", "arith", &a, "--json"]).await;
    assert_eq!(one.code, 0, "{one:?}");
    let new_id = one.json()["replayed"][0]["newId"]
        .as_str()
        .unwrap()
        .to_owned();
    let cmds = entries(&mut conn, "q1:cmds:arith").await;
    assert_eq!(cmds.len(), before + 1);
    let (id, fields) = cmds.last().unwrap();
    assert_eq!(id, &new_id);
    let names: Vec<&str> = fields.iter().map(|(k, _)| k.as_str()).collect();
    assert_eq!(names, ["type", "envelope", "reply-to"]);
    assert_eq!(entries(&mut conn, "q1:dlq:arith").await.len(), 3);

    // All: the truncated one is skipped, and the exit code says so.
    let all = clamator(&url, "q1", &["dlq", "replay", "arith", "--all", "--json"]).await;
    assert_eq!(all.code, 1, "{all:?}");
    let doc = all.json();
    assert_eq!(doc["replayed"].as_array().unwrap().len(), 2, "{doc}");
    assert_eq!(doc["skipped"][0]["id"], cut);
    assert!(doc.get("error").is_none(), "one document only: {doc}");
    let left = entries(&mut conn, "q1:dlq:arith").await;
    assert_eq!(left.len(), 1);
    assert_eq!(left[0].0, cut);
    let not_found = clamator(&url, "q1", &["dlq", "replay", "arith", &a]).await;
    assert_eq!(not_found.code, 1, "{not_found:?}");
    let unsaid = clamator(&url, "q1", &["dlq", "replay", "arith"]).await;
    assert_eq!(unsaid.code, 2, "{unsaid:?}");

    // Purge refuses without --yes when stdin is not a terminal.
    let refused = clamator(&url, "q1", &["dlq", "purge", "arith", "--json"]).await;
    assert_eq!(refused.code, 2, "{refused:?}");
    assert!(refused.stderr.contains("--yes"), "{refused:?}");
    assert_eq!(entries(&mut conn, "q1:dlq:arith").await.len(), 1);
    let purged = clamator(&url, "q1", &["dlq", "purge", "arith", "--yes", "--json"]).await;
    assert_eq!(purged.code, 0, "{purged:?}");
    assert_eq!(purged.json()["purged"], 1);
    let empty = clamator(&url, "q1", &["dlq", "list", "arith", "--json"]).await;
    assert_eq!(empty.json()["deadLetters"], Value::Array(vec![]));
}

/// An event's dead letter (a subscriber's) is never replayed: its stream is the publisher's,
/// shared by every subscriber, and a command stream has nobody to handle it. `dlq replay`,
/// by id, over all, and as a dry run, says it is skipped and why, exits 1, and leaves the
/// letter, the event stream and the command streams as they were.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_events_dead_letter_is_not_replayed() {
    let redis = RedisProcess::start().unwrap();
    let url = redis.url();
    let mut conn = redis_conn(&redis).await;
    // A subscriber whose handler always fails: dead-lettered at its first failure.
    let attempts = dead_letter_one_event(&url, &conn, "q2", 1).await;
    assert_eq!(attempts, 1);
    let list = clamator(&url, "q2", &["dlq", "list", "billing", "--json"]).await;
    assert_eq!(list.code, 0, "{list:?}");
    let letter = list.json()["deadLetters"][0].clone();
    assert_eq!(letter["reason"], "handler-failed", "{letter}");
    assert_eq!(letter["method"], "orders.orderPlaced", "{letter}");
    let id = letter["id"].as_str().unwrap().to_owned();
    let before = entries(&mut conn, "q2:events:orders").await;

    for args in [
        vec!["dlq", "replay", "billing", &id, "--json"],
        vec!["dlq", "replay", "billing", "--all", "--json"],
        vec!["dlq", "replay", "billing", &id, "--dry-run", "--json"],
    ] {
        let run = clamator(&url, "q2", &args).await;
        assert_eq!(run.code, 1, "{args:?}: {run:?}");
        let doc = run.json();
        assert_eq!(doc["replayed"], Value::Array(vec![]), "{args:?}: {doc}");
        assert_eq!(doc["skipped"][0]["id"], id.as_str(), "{args:?}: {doc}");
        let reason = doc["skipped"][0]["reason"].as_str().unwrap();
        assert!(reason.contains("is an event"), "{args:?}: {reason}");
    }
    assert_eq!(entries(&mut conn, "q2:dlq:billing").await.len(), 1);
    assert_eq!(entries(&mut conn, "q2:events:orders").await, before);
    let commands: Vec<String> = redis::cmd("KEYS")
        .arg("q2:cmds:*")
        .query_async(&mut conn)
        .await
        .unwrap();
    assert_eq!(commands, Vec::<String>::new());
}

/// An event dead-lettered after its handler failed N times says N: the retries in one
/// delivery count, not the one delivery (it said 1 after 3 attempts).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_events_dead_letter_counts_every_attempt() {
    let redis = RedisProcess::start().unwrap();
    let url = redis.url();
    let conn = redis_conn(&redis).await;
    let attempts = dead_letter_one_event(&url, &conn, "q3", 3).await;
    assert_eq!(attempts, 3);
    let list = clamator(&url, "q3", &["dlq", "list", "billing", "--json"]).await;
    assert_eq!(list.code, 0, "{list:?}");
    let letter = list.json()["deadLetters"][0].clone();
    assert_eq!(letter["deliveries"], 3, "{letter}");
    let id = letter["id"].as_str().unwrap().to_owned();
    let show = clamator(&url, "q3", &["dlq", "show", "billing", &id, "--json"]).await;
    assert_eq!(show.code, 0, "{show:?}");
    assert_eq!(show.json()["deliveries"], 3, "{show:?}");
    let table = clamator(&url, "q3", &["dlq", "list", "billing"]).await;
    let row = table.stdout.lines().find(|l| l.contains(&id)).unwrap();
    assert!(row.split_whitespace().any(|cell| cell == "3"), "{row}");
}

/// Runs `billing`, a subscriber of `orders` whose handler always fails, under `prefix` with
/// `max_deliveries` (retries 10 ms apart), publishes one event, and waits until it is
/// dead-lettered; returns how many times the handler ran. The server is stopped after.
async fn dead_letter_one_event(
    url: &str,
    conn: &redis::aio::MultiplexedConnection,
    prefix: &str,
    max_deliveries: u64,
) -> u64 {
    let attempts = Arc::new(AtomicU64::new(0));
    let seen = Arc::clone(&attempts);
    let orders = clamator_protocol::Service::builder("orders")
        .notification("orderPlaced", move |_: Value| {
            seen.fetch_add(1, Ordering::SeqCst);
            async { Err::<(), _>(clamator_protocol::RpcError::new(-32000, "always fails")) }
        })
        .build()
        .unwrap();
    let quick =
        clamator_redis::RetryDelays::new(Duration::from_millis(10), 1, Duration::from_millis(10));
    let server = clamator_redis::RedisServer::builder(
        clamator_redis::ServerConfig::new(prefix)
            .redis_url(url)
            .max_deliveries(max_deliveries),
    )
    .subscribe_with(
        "billing",
        orders,
        clamator_redis::SubscriptionOptions::new().retry(quick),
    )
    .start()
    .await
    .unwrap();
    let transport = clamator_redis::RedisTransport::connect(
        clamator_redis::TransportConfig::new(prefix).redis_url(url),
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
    let dlq = format!("{prefix}:dlq:billing");
    eventually(Duration::from_secs(10), || {
        let (mut conn, dlq) = (conn.clone(), dlq.clone());
        async move {
            redis::cmd("XLEN")
                .arg(&dlq)
                .query_async::<u64>(&mut conn)
                .await
                .unwrap()
                == 1
        }
    })
    .await;
    server.stop().await;
    transport.stop().await;
    attempts.load(Ordering::SeqCst)
}
