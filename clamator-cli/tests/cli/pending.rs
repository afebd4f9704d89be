//! `clamator pending`: entries delivered and not acknowledged, with their consumer, idle
//! time, delivery count, and the method and id their envelope names.

use std::time::Duration;

use clamator_testkit::local_redis::RedisProcess;
use serde_json::{json, Value};

use crate::{clamator, redis_conn};

async fn add(conn: &mut redis::aio::MultiplexedConnection, envelope: &str) -> String {
    redis::cmd("XADD")
        .arg("p1:cmds:inv")
        .arg("*")
        .arg("type")
        .arg("rpc")
        .arg("envelope")
        .arg(envelope)
        .arg("reply-to")
        .arg("p1:replies:caller")
        .query_async(conn)
        .await
        .unwrap()
}

/// The service's group, from the stream's start.
async fn create_group(conn: &mut redis::aio::MultiplexedConnection) {
    let _: () = redis::cmd("XGROUP")
        .arg("CREATE")
        .arg("p1:cmds:inv")
        .arg("inv")
        .arg("0")
        .query_async(conn)
        .await
        .unwrap();
}

async fn read_as(conn: &mut redis::aio::MultiplexedConnection, consumer: &str) {
    let _: redis::Value = redis::cmd("XREADGROUP")
        .arg("GROUP")
        .arg("inv")
        .arg(consumer)
        .arg("COUNT")
        .arg(10)
        .arg("STREAMS")
        .arg("p1:cmds:inv")
        .arg(">")
        .query_async(conn)
        .await
        .unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pending_shows_consumer_idle_deliveries_method_and_id() {
    let redis = RedisProcess::start().unwrap();
    let url = redis.url();
    let mut conn = redis_conn(&redis).await;
    // A server that read entries and died: nothing acknowledges them.
    let first = add(
        &mut conn,
        r#"{"jsonrpc":"2.0","id":"req-1","method":"inv.reserve","params":{"sku":"a"}}"#,
    )
    .await;
    let second = add(
        &mut conn,
        r#"{"jsonrpc":"2.0","id":42,"method":"inv.release","params":{}}"#,
    )
    .await;
    create_group(&mut conn).await;
    read_as(&mut conn, "inv:dead-worker").await;
    // Delivered twice: claimed once more by the same consumer.
    let _: redis::Value = redis::cmd("XCLAIM")
        .arg("p1:cmds:inv")
        .arg("inv")
        .arg("inv:dead-worker")
        .arg(0)
        .arg(&first)
        .query_async(&mut conn)
        .await
        .unwrap();
    tokio::time::sleep(Duration::from_millis(300)).await;
    // A third entry, fresh, for another consumer; then deleted from the stream.
    let third = add(&mut conn, "not json").await;
    read_as(&mut conn, "inv:other").await;
    let _: i64 = redis::cmd("XDEL")
        .arg("p1:cmds:inv")
        .arg(&third)
        .query_async(&mut conn)
        .await
        .unwrap();

    let out = clamator(&url, "p1", &["pending", "inv", "--json"]).await;
    assert_eq!(out.code, 0, "{out:?}");
    let doc = out.json();
    assert_eq!(doc["group"], "inv");
    let entries = doc["entries"].as_array().unwrap();
    assert_eq!(entries.len(), 3, "{doc}");
    assert_eq!(entries[0]["entryId"], first);
    assert_eq!(entries[0]["consumer"], "inv:dead-worker");
    assert_eq!(entries[0]["deliveries"], 2);
    assert_eq!(entries[0]["method"], "inv.reserve");
    assert_eq!(entries[0]["rpcId"], "req-1");
    assert_eq!(entries[0]["replyTo"], "p1:replies:caller");
    assert_eq!(entries[1]["entryId"], second);
    assert_eq!(entries[1]["rpcId"], json!(42), "integer ids stay numbers");
    assert_eq!(entries[1]["method"], "inv.release");
    assert!(entries[1]["idleMs"].as_u64().unwrap() >= 250, "{doc}");
    assert_eq!(entries[2]["entryId"], third);
    assert_eq!(entries[2]["entryFound"], false);
    assert_eq!(entries[2]["method"], Value::Null);

    // Filters: idle at least 250 ms, one consumer.
    let idle = clamator(
        &url,
        "p1",
        &["pending", "inv", "--min-idle", "250ms", "--json"],
    )
    .await;
    let ids: Vec<String> = idle.json()["entries"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["entryId"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(ids, [first.clone(), second.clone()]);
    let one = clamator(
        &url,
        "p1",
        &["pending", "inv", "--consumer", "inv:other", "--json"],
    )
    .await;
    assert_eq!(one.json()["entries"].as_array().unwrap().len(), 1);

    let table = clamator(&url, "p1", &["pending", "inv"]).await;
    assert_eq!(table.code, 0, "{table:?}");
    assert!(table.stdout.contains("inv.reserve") && table.stdout.contains("(entry gone)"));

    let unknown = clamator(&url, "p1", &["pending", "nosuch", "--json"]).await;
    assert_eq!(unknown.code, 1, "{unknown:?}");
}

/// Ids and method names come from the wire: a table shows their control characters escaped,
/// never as escapes the operator's terminal would act on (before, ESC and BEL went out raw).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tables_show_control_characters_from_the_wire_escaped() {
    let redis = RedisProcess::start().unwrap();
    let url = redis.url();
    let mut conn = redis_conn(&redis).await;
    // An id that would retitle the terminal and ring its bell, a method that would clear it.
    add(
        &mut conn,
        r#"{"jsonrpc":"2.0","id":"\u001b]0;pwned\u0007","method":"inv.re\u001b[2Jserve","params":{}}"#,
    )
    .await;
    create_group(&mut conn).await;
    read_as(&mut conn, "inv:worker").await;
    let table = clamator(&url, "p1", &["pending", "inv"]).await;
    assert_eq!(table.code, 0, "{table:?}");
    for raw in ['\u{1b}', '\u{7}'] {
        assert!(!table.stdout.contains(raw), "{:?}", table.stdout);
    }
    assert!(
        table.stdout.contains(r"\u{1b}]0;pwned\u{7}"),
        "{:?}",
        table.stdout
    );
    assert!(
        table.stdout.contains(r"inv.re\u{1b}[2Jserve"),
        "{:?}",
        table.stdout
    );
    // The JSON mode keeps the text itself, escaped the JSON way.
    let doc = clamator(&url, "p1", &["pending", "inv", "--json"])
        .await
        .json();
    assert_eq!(doc["entries"][0]["rpcId"], "\u{1b}]0;pwned\u{7}");
}

/// A subscriber is read like a service: `pending billing` (every event stream it reads) and
/// `pending orders/billing` list what it holds, `stat billing` counts it (both said "no
/// command stream for service \"billing\"").
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pending_and_stat_take_a_subscriber() {
    let redis = RedisProcess::start().unwrap();
    let url = redis.url();
    let mut conn = crate::redis_conn(&redis).await;
    crate::subscriber_behind(&mut conn, "p9").await;
    for name in ["billing", "orders/billing"] {
        let run = crate::clamator(&url, "p9", &["pending", name, "--json"]).await;
        assert_eq!(run.code, 0, "{name}: {run:?}");
        let doc = run.json();
        let entries = doc["entries"].as_array().unwrap();
        assert_eq!(entries.len(), 2, "{name}: {doc}");
        assert_eq!(entries[0]["method"], "orders.orderPlaced", "{doc}");
        assert_eq!(entries[0]["stream"], "p9:events:orders", "{doc}");
        assert_eq!(entries[0]["consumer"], "billing:rust-1", "{doc}");
    }
    let stat = crate::clamator(
        &url,
        "p9",
        &["stat", "billing", "--json", "--sample", "10ms"],
    )
    .await;
    assert_eq!(stat.code, 0, "{stat:?}");
    let doc = stat.json();
    let billing = &doc["services"][0];
    assert_eq!(billing["service"], "billing", "{doc}");
    assert_eq!(billing["pending"], 2, "{doc}");

    let nobody = crate::clamator(&url, "p9", &["pending", "nobody"]).await;
    assert_eq!(nobody.code, 1, "{nobody:?}");
    assert!(
        nobody.stderr.contains("no subscriber \"nobody\""),
        "{nobody:?}"
    );
    let elsewhere = crate::clamator(&url, "p9", &["pending", "inventory/billing"]).await;
    assert_eq!(elsewhere.code, 1, "{elsewhere:?}");
    let bad = crate::clamator(&url, "p9", &["pending", "orders/Billing"]).await;
    assert_eq!(bad.code, 2, "{bad:?}");
}
