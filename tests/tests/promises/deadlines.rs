//! Deadlines: a request whose caller's deadline passed is answered `DEADLINE_EXCEEDED` and
//! acknowledged without reaching its handler; a handler still running at its call's deadline
//! (or past `max_handler_time` without one) is cancelled, unless its method opted out; and a
//! handler reads its request's deadline from the context.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use clamator_examples::arith::{AddParams, SlowAddParams};
use clamator_protocol::{context, CallOptions, RpcError, Service};
use clamator_redis::{codes, RedisServer, ServiceOptions};
use clamator_tests::{figures, stream_envelopes, wait_all_acked, wait_for, xadd, TestRedis, WAIT};

/// `XADD`s `arith.slowAdd` (id `id`, sleeping `sleep_ms`) with replies to
/// `<prefix>:replies:probe`, and a deadline `deadline_ms` from now when given.
async fn slow_request(t: &TestRedis, id: &str, sleep_ms: u64, deadline_ms: Option<u64>) {
    let envelope = format!(
        r#"{{"jsonrpc":"2.0","method":"arith.slowAdd","params":{{"a":1,"b":2,"sleepMs":{sleep_ms}}},"id":"{id}"}}"#
    );
    let probe = format!("{}:replies:probe", t.prefix);
    let deadline = deadline_ms.map(|ms| {
        (SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap()
            .as_millis() as u64
            + ms)
            .to_string()
    });
    let mut fields = vec![
        ("type", "rpc"),
        ("envelope", envelope.as_str()),
        ("reply-to", probe.as_str()),
    ];
    if let Some(d) = &deadline {
        fields.push(("deadline", d.as_str()));
    }
    xadd(&t.raw().await, &t.cmds("arith"), &fields).await;
}

/// The replies on `<prefix>:replies:probe` once there are `n`.
async fn probe_replies(t: &TestRedis, n: usize) -> Vec<serde_json::Value> {
    let probe = format!("{}:replies:probe", t.prefix);
    let raw = t.raw().await;
    wait_for(&format!("{n} replies"), WAIT, || {
        let (mut raw, probe) = (raw.clone(), probe.clone());
        async move { stream_envelopes(&mut raw, &probe).await.len() >= n }
    })
    .await;
    stream_envelopes(&mut raw.clone(), &probe).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_runaway_handler_is_cancelled_at_its_callers_deadline_and_the_next_call_is_served() {
    let t = TestRedis::start();
    let h = t.arith(t.server_config(), 1).await;
    // Valid under the schema, and it would hold the only permit for ten minutes.
    let err = h
        .arith
        .slow_add_with(
            &SlowAddParams {
                a: 1.0,
                b: 2.0,
                sleep_ms: 600_000,
            },
            CallOptions::timeout(Duration::from_millis(300)),
        )
        .await
        .unwrap_err();
    clamator_tests::assert_deadline_passed(&err);
    let sum = h
        .arith
        .add_with(
            &AddParams { a: 2.0, b: 2.0 },
            CallOptions::timeout(Duration::from_secs(10)),
        )
        .await
        .unwrap();
    assert_eq!(sum.sum, 4.0);
    wait_all_acked(&t.raw().await, &t.cmds("arith"), "arith").await;
    assert_eq!(h.server.stats().cancelled, 1);
    // Cancelled means dropped: nothing of the runaway handler still runs.
    assert_eq!(h.server.stats().in_flight, 0);
    h.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_handler_without_a_deadline_is_cancelled_after_max_handler_time() {
    let t = TestRedis::start();
    let config = t
        .server_config()
        .max_handler_time(Some(Duration::from_millis(300)));
    let (server, _) = t.arith_server(config, 1).await;
    // As clamator's peers send them: no deadline field.
    slow_request(&t, "forever", 600_000, None).await;
    slow_request(&t, "next", 0, None).await;
    let replies = probe_replies(&t, 2).await;
    assert_eq!(replies[0]["id"], "forever");
    assert_eq!(replies[0]["error"]["code"], codes::DEADLINE_EXCEEDED);
    assert_eq!(replies[0]["error"]["data"]["reason"], "max-handler-time");
    assert_eq!(replies[1]["id"], "next");
    assert_eq!(replies[1]["result"]["sum"], 3.0);
    wait_all_acked(&t.raw().await, &t.cmds("arith"), "arith").await;
    assert_eq!(server.stats().cancelled, 1);
    assert_eq!(
        server.stats().in_flight,
        0,
        "the cancelled handler was dropped"
    );
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_method_that_opted_out_runs_to_completion_past_its_deadline() {
    let t = TestRedis::start();
    let (server, _) = t
        .arith_server_with(
            t.server_config(),
            ServiceOptions::new().never_cancel("slowAdd"),
        )
        .await;
    slow_request(&t, "finish-me", 700, Some(200)).await;
    let replies = probe_replies(&t, 1).await;
    assert_eq!(replies[0]["id"], "finish-me");
    assert_eq!(replies[0]["result"]["sum"], 3.0);
    assert_eq!(server.stats().cancelled, 0);
    server.stop().await;
}

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
    // Answered, so a caller whose clock runs behind learns why.
    let probe_replies = stream_envelopes(&mut raw.clone(), &probe).await;
    assert_eq!(probe_replies.len(), 1);
    assert_eq!(probe_replies[0]["id"], "late");
    assert_eq!(probe_replies[0]["error"]["code"], codes::DEADLINE_EXCEEDED);
    assert_eq!(probe_replies[0]["error"]["data"]["reason"], "deadline");

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
    let slow = slow.await.unwrap().unwrap();
    assert_eq!(slow.sum, 3.0);
    wait_all_acked(&raw, &t.cmds("arith"), "arith").await;
    let stats = h.server.stats();
    // Measured: the two calls, the one answered, the one that timed out, handler runs
    // beyond the answered call.
    let (answered, failed) = (u64::from(slow.sum == 3.0), u64::from(err.is_timeout()));
    figures(
        "expired",
        answered + failed,
        answered,
        failed,
        h.handled.get().saturating_sub(answered),
    );
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
