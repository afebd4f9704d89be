//! Deadlines: a request whose caller's deadline passed is acknowledged without reaching its
//! handler, and a handler reads its request's deadline from the context.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use clamator_examples::arith::{AddParams, SlowAddParams};
use clamator_protocol::{context, CallOptions, RpcError, Service};
use clamator_redis::RedisServer;
use clamator_tests::{figures, wait_all_acked, wait_for, xadd, TestRedis, WAIT};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_expired_request_never_reaches_its_handler() {
    let t = TestRedis::start();
    let h = t.arith(t.server_config(), 1).await;
    // A request whose deadline passed long ago (as a clamator-rs client would write it).
    let raw = t.raw().await;
    let probe = format!("{}:replies:probe", t.prefix);
    let envelope = r#"{"jsonrpc":"2.0","method":"arith.add","params":{"a":1,"b":1},"id":"late"}"#;
    let fields = [
        ("type", "rpc"),
        ("envelope", envelope),
        ("reply-to", probe.as_str()),
        ("deadline", "1000"),
    ];
    xadd(&raw, &t.cmds("arith"), &fields).await;
    wait_for("the expired request acknowledged", WAIT, || async {
        h.server.stats().expired == 1
    })
    .await;
    wait_all_acked(&raw, &t.cmds("arith"), "arith").await;

    // End to end: a call queued behind a slow one gives up; the server skips it.
    let slow = {
        let arith = h.arith.clone();
        tokio::spawn(async move {
            arith
                .slow_add(&SlowAddParams {
                    a: 1.0,
                    b: 2.0,
                    sleep_ms: 800,
                })
                .await
        })
    };
    wait_for("slowAdd started", WAIT, || async { h.handled.get() == 1 }).await;
    let err = h
        .arith
        .add_with(
            &AddParams { a: 1.0, b: 1.0 },
            CallOptions::timeout(Duration::from_millis(200)),
        )
        .await
        .unwrap_err();
    assert!(err.is_timeout());
    assert_eq!(slow.await.unwrap().unwrap().sum, 3.0);
    wait_all_acked(&raw, &t.cmds("arith"), "arith").await;
    let stats = h.server.stats();
    figures("expired", 2, 1, 1, 0);
    assert_eq!(h.handled.get(), 1, "the expired add reached its handler");
    assert_eq!(stats.expired, 2);
    h.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn handlers_can_read_their_deadline() {
    let t = TestRedis::start();
    let service = Service::builder("clock")
        .method("deadline", |_: serde_json::Value| async {
            let ms = context::deadline()
                .map(|d| d.duration_since(UNIX_EPOCH).unwrap().as_millis() as u64);
            Ok::<_, RpcError>(ms)
        })
        .build()
        .unwrap();
    let h = t
        .serve(RedisServer::builder(t.server_config()).service(service))
        .await;
    let before = SystemTime::now();
    let seen: Option<u64> = h
        .client
        .call_with(
            "clock",
            "deadline",
            &serde_json::json!({}),
            CallOptions::timeout(Duration::from_secs(7)),
        )
        .await
        .unwrap();
    let seen = UNIX_EPOCH + Duration::from_millis(seen.expect("no deadline in the handler"));
    assert!(
        seen >= before + Duration::from_secs(6)
            && seen <= SystemTime::now() + Duration::from_secs(7),
        "{seen:?}"
    );
    h.stop().await;
}
