//! `clamator describe`: the published contract, whole or one method; exit 1 when none is
//! published or the method is not in it.

use clamator_testkit::local_redis::RedisProcess;

use crate::{clamator, publish, published_arith};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn describe_reads_the_published_contract() {
    let redis = RedisProcess::start().unwrap();
    let url = redis.url();
    let doc = published_arith("clamator-rs 0.1.0");
    publish(&redis, "d1", "arith", &doc).await;

    let whole = clamator(&url, "d1", &["describe", "arith", "--json"]).await;
    assert_eq!(whole.code, 0, "{whole:?}");
    assert_eq!(whole.json(), doc);

    let one = clamator(&url, "d1", &["describe", "arith.slowAdd", "--json"]).await;
    assert_eq!(one.code, 0, "{one:?}");
    let m = one.json();
    assert_eq!(m["service"], "arith");
    assert_eq!(m["publishedBy"], "clamator-rs 0.1.0");
    assert_eq!(m["method"]["name"], "slowAdd");
    assert_eq!(m["method"]["paramsHash"], "slowAdd-params-hash");
    assert_eq!(m["method"]["paramsSchema"]["required"][2], "sleepMs");

    let table = clamator(&url, "d1", &["describe", "arith"]).await;
    assert_eq!(table.code, 0, "{table:?}");
    for word in [
        "add",
        "divide",
        "echoText",
        "slowAdd",
        "a, b, sleepMs",
        "clamator-rs 0.1.0",
        // publishedAt 1,700,000,000,000 ms, as people read a time.
        "at 2023-11-14T22:13:20Z (",
    ] {
        assert!(
            table.stdout.contains(word),
            "{word} missing: {}",
            table.stdout
        );
    }

    let none = clamator(&url, "d1", &["describe", "inventory", "--json"]).await;
    assert_eq!(none.code, 1, "{none:?}");
    assert_eq!(none.json()["error"]["kind"], "remote");
    assert!(none.stderr.contains("no contract published"), "{none:?}");

    let no_method = clamator(&url, "d1", &["describe", "arith.sub"]).await;
    assert_eq!(no_method.code, 1, "{no_method:?}");
    assert!(no_method.stderr.contains("it has: add"), "{no_method:?}");

    // A published document that is not JSON is the publisher's fault, not ours.
    let mut conn = crate::redis_conn(&redis).await;
    let _: () = redis::cmd("SET")
        .arg("d1:contracts:broken")
        .arg("{not json")
        .query_async(&mut conn)
        .await
        .unwrap();
    let broken = clamator(&url, "d1", &["describe", "broken"]).await;
    assert_eq!(broken.code, 1, "{broken:?}");
    assert!(broken.stderr.contains("not valid JSON"), "{broken:?}");
}

/// A server publishes its contract's events and declared errors too, and `describe` shows
/// them (it showed methods only).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn describe_shows_events_and_declared_errors() {
    use clamator_examples::generated::orders::ORDERS_CONTRACT;
    let redis = RedisProcess::start().unwrap();
    let url = redis.url();
    let orders = clamator_protocol::Service::builder("orders")
        .method("getOrder", |_: serde_json::Value| async {
            Ok::<_, clamator_protocol::RpcError>(serde_json::json!({}))
        })
        .contract(&ORDERS_CONTRACT)
        .build()
        .unwrap();
    let server = clamator_redis::RedisServer::builder(
        clamator_redis::ServerConfig::new("d2").redis_url(&url),
    )
    .service(orders)
    .start()
    .await
    .unwrap();
    let table = clamator(&url, "d2", &["describe", "orders"]).await;
    assert_eq!(table.code, 0, "{table:?}");
    let row = |name: &str| {
        table
            .stdout
            .lines()
            .find(|l| l.split_whitespace().next() == Some(name))
            .unwrap_or_else(|| panic!("no {name} row: {}", table.stdout))
            .to_owned()
    };
    assert!(row("orderPlaced").contains("order"), "{}", table.stdout);
    assert!(
        row("orderCancelled").contains("orderId"),
        "{}",
        table.stdout
    );
    let json = clamator(&url, "d2", &["describe", "orders", "--json"]).await;
    let doc = json.json();
    let events: Vec<&str> = doc["events"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["name"].as_str().unwrap())
        .collect();
    assert_eq!(events, ["orderCancelled", "orderPlaced"]);
    server.stop().await;

    // Declared errors, as a server of a contract with some publishes them.
    let mut doc = published_arith("clamator-rs 0.1.0");
    doc["errors"] = serde_json::json!([
        {"name": "OutOfStock", "code": 4009, "message": "not enough stock"}
    ]);
    publish(&redis, "d2", "arith", &doc).await;
    let table = clamator(&url, "d2", &["describe", "arith"]).await;
    assert_eq!(table.code, 0, "{table:?}");
    let line = table
        .stdout
        .lines()
        .find(|l| l.starts_with("OutOfStock"))
        .unwrap_or_else(|| panic!("no error row: {}", table.stdout));
    assert_eq!(
        line.split_whitespace().collect::<Vec<_>>(),
        ["OutOfStock", "4009", "not", "enough", "stock"]
    );
}
