//! The commands in the other deployment modes: on a Redis Cluster (`--cluster`, keys spread
//! over three masters, `SCAN` on each) and under Sentinel (`redis+sentinel://…/<master>`).

use std::time::Duration;

use clamator_examples::arith::{self, Counter};
use clamator_protocol::Client;
use clamator_redis::{
    Deployment, RedisServer, RedisTransport, ServerConfig, ServiceOptions, TransportConfig,
};
use clamator_testkit::local_cluster::{RedisCluster, SentinelGroup};
use serde_json::{json, Value};

use crate::{clamator, command, eventually};

async fn serve_on(url: &str, deployment: Deployment, prefix: &str) -> RedisServer {
    let server = RedisServer::builder(
        ServerConfig::new(prefix)
            .redis_url(url)
            .deployment(deployment)
            .instance_id("srv"),
    )
    .service_with(
        arith::arith_service(Counter::default()).unwrap(),
        ServiceOptions::new().partitions(3),
    )
    .service(arith::notifications_service(Counter::default(), |_| {}).unwrap())
    .start()
    .await
    .unwrap();
    eventually(Duration::from_secs(10), || {
        let ready = server.is_ready();
        async move { ready }
    })
    .await;
    server
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_commands_work_on_a_cluster() {
    let cluster = RedisCluster::start(3, 0).unwrap();
    let url = cluster.url();
    let server = serve_on(&url, Deployment::Cluster, "k1").await;
    let flags = ["--cluster", "--json"];

    let mut tail = command(
        &url,
        "k1",
        &["tail", "arith", "--count", "1", "--cluster", "--json"],
    )
    .spawn()
    .unwrap();
    let mut stderr =
        tokio::io::AsyncBufReadExt::lines(tokio::io::BufReader::new(tail.stderr.take().unwrap()));
    let _ = tokio::time::timeout(Duration::from_secs(10), stderr.next_line()).await;

    // On a cluster, tail polls each stream: it sees the replies of callers that keep their
    // reply stream (a service), as this one does until it stops.
    let transport = RedisTransport::connect(
        TransportConfig::new("k1")
            .redis_url(&url)
            .deployment(Deployment::Cluster),
    )
    .await
    .unwrap();
    let sum: Value = Client::new(transport.clone())
        .call("arith", "add", &json!({"a": 2, "b": 3}))
        .await
        .unwrap();
    assert_eq!(sum["sum"], 5.0);
    let call = clamator(
        &url,
        "k1",
        &[
            "call",
            "arith.add",
            r#"{"a":2,"b":3}"#,
            "--cluster",
            "--json",
        ],
    )
    .await;
    assert_eq!(call.code, 0, "{call:?}");
    assert_eq!(call.json()["result"]["sum"], 5.0);
    // The scheme says it too.
    let by_scheme = url.replacen("redis://", "redis+cluster://", 1);
    let call = clamator(
        &by_scheme,
        "k1",
        &["call", "arith.echoText", r#"{"text":"x"}"#, "--json"],
    )
    .await;
    assert_eq!(call.code, 0, "{call:?}");

    let tailed = tokio::time::timeout(Duration::from_secs(20), tail.wait_with_output())
        .await
        .unwrap()
        .unwrap();
    let event: Value = serde_json::from_slice(&tailed.stdout).unwrap();
    assert_eq!(event["method"], "arith.add");
    assert_eq!(event["outcome"], "ok");
    transport.stop().await;

    // Three partitions, on whichever masters their slots are: every one found.
    let services = clamator(&url, "k1", &["services", "--cluster", "--json"]).await;
    assert_eq!(services.code, 0, "{services:?}");
    let doc = services.json();
    assert_eq!(doc["services"][0]["service"], "arith");
    let partitions: Vec<u64> = doc["services"][0]["streams"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["partition"].as_u64().unwrap())
        .collect();
    assert_eq!(partitions, [0, 1, 2]);
    assert_eq!(doc["services"][1]["service"], "notifications");

    let stat = clamator(
        &url,
        "k1",
        &["stat", "arith", "--sample", "100ms", "--cluster", "--json"],
    )
    .await;
    assert_eq!(stat.code, 0, "{stat:?}");
    assert_eq!(
        stat.json()["services"][0]["streams"]
            .as_array()
            .unwrap()
            .len(),
        3
    );
    for args in [
        &["pending", "arith"][..],
        &["dlq", "list", "arith"],
        &["describe", "arith"],
    ] {
        let mut all = args.to_vec();
        all.extend(flags);
        let out = clamator(&url, "k1", &all).await;
        assert_eq!(out.code, 0, "{args:?}: {out:?}");
    }
    // The dashboard samples every master's streams, and tails on the cluster.
    let dashboard = crate::dashboard::Dashboard::start(&url, "k1", &["--cluster"]).await;
    crate::eventually(Duration::from_secs(10), || async {
        let overview = dashboard.get("/api/overview").await;
        overview.body.contains("\"error\":null") && overview.body.contains("k1:cmds:arith:2")
    })
    .await;
    let page = dashboard.get("/s/arith").await;
    assert_eq!(page.status, 200, "{page:?}");
    assert!(page.body.contains("Published by"), "{}", page.body);
    crate::dashboard::first_event(&dashboard.addr, "/live/tail/arith", "tailing arith").await;
    drop(dashboard);
    server.stop().await;
    events_on_a_cluster(&url).await;
}

/// The event commands on the cluster (one cluster serves both tests: it takes seconds to
/// start): `orders` publishes, `billing` subscribes and fails until fixed; `tail --events`
/// sees the event, `services`, `stat` and `pending` show the subscriber, `describe` the
/// events, `dlq replay --dry-run` refuses the letter as the real run does, `events
/// republish` gets it handled and `events rewind` delivers it again.
async fn events_on_a_cluster(url: &str) {
    use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
    use std::sync::Arc;

    use clamator_examples::generated::orders::ORDERS_CONTRACT;

    let run = |args: &'static [&'static str]| async move {
        let mut all = args.to_vec();
        all.extend(["--cluster", "--json"]);
        clamator(url, "k2", &all).await
    };
    let (fixed, billed) = (
        Arc::new(AtomicBool::new(false)),
        Arc::new(AtomicU64::new(0)),
    );
    let billing = crate::orders_subscriber(Arc::clone(&billed), Some(Arc::clone(&fixed)));
    let orders = clamator_protocol::Service::builder("orders")
        .method("getOrder", |_: Value| async {
            Ok::<_, clamator_protocol::RpcError>(json!({}))
        })
        .contract(&ORDERS_CONTRACT)
        .build()
        .unwrap();
    let server = RedisServer::builder(
        ServerConfig::new("k2")
            .redis_url(url)
            .deployment(Deployment::Cluster)
            .max_deliveries(1),
    )
    .service(orders)
    .subscribe("billing", billing)
    .start()
    .await
    .unwrap();
    let mut tail = command(
        url,
        "k2",
        &[
            "tail",
            "orders",
            "--events",
            "--count",
            "1",
            "--cluster",
            "--json",
        ],
    )
    .spawn()
    .unwrap();
    let mut stderr =
        tokio::io::AsyncBufReadExt::lines(tokio::io::BufReader::new(tail.stderr.take().unwrap()));
    let _ = tokio::time::timeout(Duration::from_secs(10), stderr.next_line()).await;
    server
        .publisher()
        .publish_event("orders", "orderPlaced", &json!({"orderId": "o-1"}))
        .await
        .unwrap();
    let tailed = tokio::time::timeout(Duration::from_secs(20), tail.wait_with_output())
        .await
        .unwrap()
        .unwrap();
    let event: Value = serde_json::from_slice(&tailed.stdout).unwrap();
    assert_eq!(event["kind"], "event", "{event}");
    assert_eq!(event["method"], "orders.orderPlaced", "{event}");

    eventually(Duration::from_secs(10), || {
        let listed = run(&["dlq", "list", "billing"]);
        async move {
            listed.await.json()["deadLetters"]
                .as_array()
                .is_some_and(|l| l.len() == 1)
        }
    })
    .await;
    let listed = run(&["dlq", "list", "billing"]).await;
    let letter = listed.json()["deadLetters"][0]["id"]
        .as_str()
        .unwrap()
        .to_owned();

    let services = run(&["services"]).await;
    assert_eq!(services.code, 0, "{services:?}");
    let doc = services.json();
    assert_eq!(doc["publishers"][0]["publisher"], "orders", "{doc}");
    assert_eq!(
        doc["publishers"][0]["subscribers"][0]["name"], "billing",
        "{doc}"
    );
    for args in [
        &["stat", "billing", "--sample", "100ms"][..],
        &["pending", "orders/billing"],
    ] {
        let mut all = args.to_vec();
        all.extend(["--cluster", "--json"]);
        let out = clamator(url, "k2", &all).await;
        assert_eq!(out.code, 0, "{args:?}: {out:?}");
    }
    let described = run(&["describe", "orders"]).await;
    assert_eq!(described.code, 0, "{described:?}");
    assert!(
        described.json()["events"]
            .as_array()
            .is_some_and(|e| e.len() == 2),
        "{described:?}"
    );

    let by_id = |verb: &'static str, dry: bool| {
        let mut args = vec![
            "dlq",
            verb,
            "billing",
            letter.as_str(),
            "--cluster",
            "--json",
        ];
        if dry {
            args.push("--dry-run");
        }
        args
    };
    let dry = clamator(url, "k2", &by_id("replay", true)).await;
    let real = clamator(url, "k2", &by_id("replay", false)).await;
    assert_eq!((dry.code, real.code), (1, 1), "{dry:?} {real:?}");
    assert_eq!(dry.json()["skipped"], real.json()["skipped"]);

    fixed.store(true, Ordering::SeqCst);
    let republished = clamator(
        url,
        "k2",
        &[
            "events",
            "republish",
            "billing",
            &letter,
            "--cluster",
            "--json",
        ],
    )
    .await;
    assert_eq!(republished.code, 0, "{republished:?}");
    eventually(Duration::from_secs(10), || {
        let billed = Arc::clone(&billed);
        async move { billed.load(Ordering::SeqCst) == 1 }
    })
    .await;
    let rewound = run(&["events", "rewind", "orders", "billing", "--to", "oldest"]).await;
    assert_eq!(rewound.code, 0, "{rewound:?}");
    // From the start: the event (now handled) and its republished copy come again.
    eventually(Duration::from_secs(10), || {
        let billed = Arc::clone(&billed);
        async move { billed.load(Ordering::SeqCst) == 3 }
    })
    .await;
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_commands_work_under_sentinel() {
    let group = SentinelGroup::start("clamator", Duration::from_secs(5)).unwrap();
    let sentinels = group.url();
    let server = serve_on(&sentinels, Deployment::sentinel("clamator"), "n1").await;
    let url = format!(
        "{}/clamator",
        sentinels.replacen("redis://", "redis+sentinel://", 1)
    );
    let call = clamator(
        &url,
        "n1",
        &["call", "arith.add", r#"{"a":2,"b":3}"#, "--json"],
    )
    .await;
    assert_eq!(call.code, 0, "{call:?}");
    assert_eq!(call.json()["result"]["sum"], 5.0);
    let flagged = clamator(
        &sentinels,
        "n1",
        &["services", "--sentinel-master", "clamator", "--json"],
    )
    .await;
    assert_eq!(flagged.code, 0, "{flagged:?}");
    assert_eq!(
        flagged.json()["services"][0]["streams"]
            .as_array()
            .unwrap()
            .len(),
        3
    );
    let dlq = clamator(&url, "n1", &["dlq", "list", "arith", "--json"]).await;
    assert_eq!(dlq.code, 0, "{dlq:?}");
    let dashboard = crate::dashboard::Dashboard::start(&url, "n1", &[]).await;
    crate::eventually(Duration::from_secs(10), || async {
        let overview = dashboard.get("/api/overview").await;
        overview.body.contains("\"error\":null") && overview.body.contains("n1:cmds:arith")
    })
    .await;
    drop(dashboard);
    let wrong_master = clamator(
        &sentinels,
        "n1",
        &["services", "--sentinel-master", "nope", "--json"],
    )
    .await;
    assert_eq!(wrong_master.code, 3, "{wrong_master:?}");
    server.stop().await;
}
