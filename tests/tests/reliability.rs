//! Reliability promises beyond clamator, each against a private redis-server, each printing
//! its figures: calls made, answered, failed, duplicated.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::print_stdout
)]

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use clamator_examples::arith::{AddParams, AddResult, SlowAddParams};
use clamator_protocol::{context, CallOptions, RpcError, Service};
use clamator_redis::{RedisServer, ServiceOptions};
use clamator_tests::{wait_all_acked, wait_for, TestRedis};

const WAIT: Duration = Duration::from_secs(20);

fn figures(test: &str, made: u64, answered: u64, failed: u64, duplicated: u64) {
    println!(
        "{test}: calls made {made}, answered {answered}, failed {failed}, duplicated {duplicated}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_expired_request_never_reaches_its_handler() {
    let t = TestRedis::start();
    let (server, handled) = t.arith_server(t.server_config(), 1).await;
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
    clamator_tests::xadd(&raw, &t.cmds("arith"), &fields).await;
    wait_for("the expired request acknowledged", WAIT, || async {
        server.stats().expired == 1
    })
    .await;
    wait_all_acked(&raw, &t.cmds("arith"), "arith").await;

    // End to end: a call queued behind a slow one gives up; the server skips it.
    let redis = t.client().await;
    let client = clamator_protocol::Client::new(redis.clone());
    let slow = {
        let client = client.clone();
        tokio::spawn(async move {
            client
                .call::<_, AddResult>(
                    "arith",
                    "slowAdd",
                    &SlowAddParams {
                        a: 1.0,
                        b: 2.0,
                        sleep_ms: 800,
                    },
                )
                .await
        })
    };
    wait_for("slowAdd started", WAIT, || async { handled.get() == 1 }).await;
    let err = client
        .call_with::<_, AddResult>(
            "arith",
            "add",
            &AddParams { a: 1.0, b: 1.0 },
            CallOptions::timeout(Duration::from_millis(200)),
        )
        .await
        .unwrap_err();
    assert!(err.is_timeout());
    assert_eq!(slow.await.unwrap().unwrap().sum, 3.0);
    wait_all_acked(&raw, &t.cmds("arith"), "arith").await;
    let stats = server.stats();
    figures("expired", 2, 1, 1, 0);
    assert_eq!(handled.get(), 1, "the expired add reached its handler");
    assert_eq!(stats.expired, 2);
    redis.stop().await;
    server.stop().await;
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
    let server = RedisServer::builder(t.server_config())
        .service(service)
        .start()
        .await
        .unwrap();
    let redis = t.client().await;
    let before = SystemTime::now();
    let seen: Option<u64> = clamator_protocol::Client::new(redis.clone())
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
    redis.stop().await;
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_slow_handler_longer_than_the_claim_idle_time_runs_exactly_once() {
    let t = TestRedis::start();
    let config = t
        .server_config()
        .instance_id("srv-A")
        .claim_idle(Duration::from_millis(300));
    let (a, handled) = t.arith_server(config, 1).await;
    // Another server's reclaim, made relentless: every 100 ms it takes anything idle for
    // 300 ms. Only lease renewal keeps the running handler's entry out of its hands.
    let raw = t.raw().await;
    let stop = stop_flag();
    let thief = {
        let (mut raw, stream, stop) = (raw.clone(), t.cmds("arith"), stop.clone());
        tokio::spawn(async move {
            let mut stolen = 0usize;
            while !stop.load(std::sync::atomic::Ordering::SeqCst) {
                let v: redis::Value = redis::cmd("XAUTOCLAIM")
                    .arg(&stream)
                    .arg("arith")
                    .arg("arith:thief")
                    .arg(300)
                    .arg("0-0")
                    .arg("COUNT")
                    .arg(10)
                    .arg("JUSTID")
                    .query_async(&mut raw)
                    .await
                    .unwrap();
                if let redis::Value::Array(parts) = v {
                    if let Some(redis::Value::Array(ids)) = parts.get(1) {
                        stolen += ids.len();
                    }
                }
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
            stolen
        })
    };
    let redis = t.client().await;
    let r: AddResult = clamator_protocol::Client::new(redis.clone())
        .call(
            "arith",
            "slowAdd",
            &SlowAddParams {
                a: 1.0,
                b: 2.0,
                sleep_ms: 2_000,
            },
        )
        .await
        .unwrap();
    assert_eq!(r.sum, 3.0);
    stop.store(true, std::sync::atomic::Ordering::SeqCst);
    let stolen = thief.await.unwrap();
    let runs = handled.get();
    figures("slow handler", 1, 1, 0, runs.saturating_sub(1));
    assert_eq!(
        stolen, 0,
        "another consumer took the entry of a running handler"
    );
    assert_eq!(runs, 1);
    wait_all_acked(&raw, &t.cmds("arith"), "arith").await;
    redis.stop().await;
    a.stop().await;
}

fn stop_flag() -> std::sync::Arc<std::sync::atomic::AtomicBool> {
    std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dead_letters_can_be_listed_replayed_and_purged() {
    let t = TestRedis::start();
    // A server that dead-letters everything on its first delivery.
    let (strict, handled_strict) = t.arith_server(t.server_config().max_deliveries(0), 1).await;
    let redis = t.client().await;
    let err = clamator_protocol::Client::new(redis.clone())
        .call::<_, AddResult>("arith", "add", &AddParams { a: 1.0, b: 2.0 })
        .await
        .unwrap_err();
    assert_eq!(err.code(), Some(clamator_redis::codes::DEAD_LETTERED));
    assert_eq!(handled_strict.get(), 0);
    assert_eq!(strict.stats().dead_lettered, 1);
    strict.stop().await;

    let dlq = clamator_redis::DeadLetters::connect(&t.url(), &t.prefix)
        .await
        .unwrap();
    let letters = dlq.list("arith", 10).await.unwrap();
    assert_eq!(letters.len(), 1);
    assert_eq!(
        (letters[0].reason.as_str(), letters[0].deliveries),
        ("max-deliveries", 1)
    );
    assert_eq!(letters[0].reply_to.as_deref(), Some(redis.reply_stream()));

    // Replayed onto the command stream, an ordinary server serves it.
    let (server, handled) = t.arith_server(t.server_config(), 1).await;
    dlq.replay("arith", &letters[0].id).await.unwrap();
    wait_for("the replayed request handled", WAIT, || async {
        handled.get() == 1
    })
    .await;
    assert!(dlq.list("arith", 10).await.unwrap().is_empty());
    assert!(dlq
        .replay("arith", &letters[0].id)
        .await
        .unwrap_err()
        .is_invalid_argument());

    // Malformed entries are dead-lettered too; purge empties the stream.
    let raw = t.raw().await;
    for envelope in [
        "not json",
        r#"{"jsonrpc":"1.0","method":"arith.add","id":1}"#,
    ] {
        clamator_tests::xadd(
            &raw,
            &t.cmds("arith"),
            &[("type", "rpc"), ("envelope", envelope)],
        )
        .await;
    }
    wait_for("malformed entries dead-lettered", WAIT, || async {
        server.stats().malformed == 2
    })
    .await;
    let letters = dlq.list("arith", 10).await.unwrap();
    assert_eq!(
        letters
            .iter()
            .map(|l| l.reason.as_str())
            .collect::<Vec<_>>(),
        ["malformed", "malformed"]
    );
    assert!(letters[1].error.contains("jsonrpc"), "{:?}", letters[1]);
    assert_eq!(dlq.purge("arith").await.unwrap(), 2);
    assert!(dlq.list("arith", 10).await.unwrap().is_empty());
    wait_all_acked(&raw, &t.cmds("arith"), "arith").await;
    redis.stop().await;
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_abandoned_clients_reply_stream_expires() {
    let t = TestRedis::start();
    let ttl = Duration::from_millis(900);
    let (server, _) = t
        .arith_server(t.server_config().reply_stream_ttl(ttl), 1)
        .await;
    let raw = t.raw().await;
    let exists = |key: String| {
        let mut raw = raw.clone();
        async move {
            redis::cmd("EXISTS")
                .arg(&key)
                .query_async::<i64>(&mut raw)
                .await
                .unwrap()
                == 1
        }
    };

    // A live client keeps its reply stream well past the TTL.
    let redis = clamator_redis::RedisTransport::connect(t.client_config().reply_stream_ttl(ttl))
        .await
        .unwrap();
    let key = redis.reply_stream().to_owned();
    let _: AddResult = clamator_protocol::Client::new(redis.clone())
        .call("arith", "add", &AddParams { a: 1.0, b: 1.0 })
        .await
        .unwrap();
    tokio::time::sleep(ttl * 3).await;
    assert!(
        exists(key.clone()).await,
        "a live client's reply stream expired"
    );

    // Gone without stop (a crash): nothing refreshes it, so it expires.
    drop(redis);
    wait_for("the abandoned reply stream expired", WAIT, || {
        let gone = exists(key.clone());
        async move { !gone.await }
    })
    .await;

    // A late reply re-creates a stopped client's stream, with a TTL, so it goes away too.
    let redis = clamator_redis::RedisTransport::connect(t.client_config().reply_stream_ttl(ttl))
        .await
        .unwrap();
    let key = redis.reply_stream().to_owned();
    let _ = clamator_protocol::Client::new(redis.clone())
        .call_with::<_, AddResult>(
            "arith",
            "slowAdd",
            &SlowAddParams {
                a: 1.0,
                b: 1.0,
                sleep_ms: 300,
            },
            CallOptions::timeout(Duration::from_millis(50)),
        )
        .await
        .unwrap_err();
    redis.stop().await;
    wait_for("the late reply re-created the stream", WAIT, || {
        exists(key.clone())
    })
    .await;
    let pttl: i64 = redis::cmd("PTTL")
        .arg(&key)
        .query_async(&mut raw.clone())
        .await
        .unwrap();
    assert!(pttl > 0, "re-created without a TTL (PTTL {pttl})");
    wait_for("the orphaned reply stream expired", WAIT, || {
        let gone = exists(key.clone());
        async move { !gone.await }
    })
    .await;
    figures("abandoned reply stream", 2, 1, 1, 0);
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_housekeeping_lock_is_held_by_one_and_released_only_by_its_holder() {
    use clamator_redis::lock::Lock;
    let t = TestRedis::start();
    let manager = redis::Client::open(t.url())
        .unwrap()
        .get_connection_manager()
        .await
        .unwrap();
    let ttl = Duration::from_secs(10);
    let a = Lock::try_acquire(&manager, "k:lock", ttl)
        .await
        .unwrap()
        .expect("first acquire");
    assert!(
        Lock::try_acquire(&manager, "k:lock", ttl)
            .await
            .unwrap()
            .is_none(),
        "two holders"
    );
    a.extend().await.unwrap();
    // The lock expires and someone else takes it: the old holder learns it lost it, and its
    // release leaves the new holder's lock alone.
    let _: () = redis::cmd("DEL")
        .arg("k:lock")
        .query_async(&mut manager.clone())
        .await
        .unwrap();
    let b = Lock::try_acquire(&manager, "k:lock", ttl)
        .await
        .unwrap()
        .expect("acquire after expiry");
    assert!(a
        .extend()
        .await
        .unwrap_err()
        .to_string()
        .contains("was lost"));
    assert!(a.release().await.is_err());
    let held: Option<String> = redis::cmd("GET")
        .arg("k:lock")
        .query_async(&mut manager.clone())
        .await
        .unwrap();
    assert!(
        held.is_some(),
        "a stale holder released someone else's lock"
    );
    b.release().await.unwrap();
    assert!(Lock::try_acquire(&manager, "k:lock", ttl)
        .await
        .unwrap()
        .is_some());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn trimming_under_load_never_drops_an_unacknowledged_entry() {
    let t = TestRedis::start();
    let raw = t.raw().await;
    let stream = t.cmds("arith");
    clamator_tests::create_group(&raw, &stream, "arith").await;
    let redis = t.client().await;
    let client = clamator_protocol::Client::new(redis.clone());
    // Five requests taken by a consumer that then died: pending, unacknowledged.
    let stuck: Vec<_> = (0..5)
        .map(|i| {
            let client = client.clone();
            tokio::spawn(async move {
                client
                    .call_with::<_, AddResult>(
                        "arith",
                        "add",
                        &AddParams {
                            a: f64::from(i),
                            b: 0.0,
                        },
                        CallOptions::timeout(Duration::from_secs(30)),
                    )
                    .await
            })
        })
        .collect();
    clamator_tests::wait_stream_len(&raw, &stream, 5).await;
    let _: redis::Value = redis::cmd("XREADGROUP")
        .arg("GROUP")
        .arg("arith")
        .arg("arith:dead")
        .arg("COUNT")
        .arg(5)
        .arg("STREAMS")
        .arg(&stream)
        .arg(">")
        .query_async(&mut raw.clone())
        .await
        .unwrap();
    let stuck_ids: Vec<String> = {
        let r: redis::streams::StreamRangeReply = redis::cmd("XRANGE")
            .arg(&stream)
            .arg("-")
            .arg("+")
            .query_async(&mut raw.clone())
            .await
            .unwrap();
        r.ids.into_iter().map(|e| e.id).collect()
    };
    // A server trimming every 100 ms under load, far from reclaiming anything.
    let config = t
        .server_config()
        .instance_id("srv-A")
        .housekeeping_interval(Duration::from_millis(100))
        .consumer_idle_limit(Duration::from_millis(500));
    let (server, handled) = t.arith_server(config, 4).await;
    let mut made = 0u64;
    for round in 0..200 {
        let r: AddResult = client
            .call(
                "arith",
                "add",
                &AddParams {
                    a: f64::from(round),
                    b: 1.0,
                },
            )
            .await
            .unwrap();
        assert_eq!(r.sum, f64::from(round) + 1.0);
        made += 1;
    }
    tokio::time::sleep(Duration::from_millis(500)).await;
    for id in &stuck_ids {
        let r: redis::streams::StreamRangeReply = redis::cmd("XRANGE")
            .arg(&stream)
            .arg(id)
            .arg(id)
            .query_async(&mut raw.clone())
            .await
            .unwrap();
        assert_eq!(
            r.ids.len(),
            1,
            "trimming dropped the unacknowledged entry {id}"
        );
    }
    server.stop().await;
    // A server that reclaims them: the stuck calls complete, then the stream drains.
    let config = t
        .server_config()
        .instance_id("srv-B")
        .claim_idle(Duration::from_millis(200))
        .housekeeping_interval(Duration::from_millis(100))
        .consumer_idle_limit(Duration::from_millis(500));
    let (server, handled_b) = t.arith_server(config, 4).await;
    for (i, call) in stuck.into_iter().enumerate() {
        assert_eq!(call.await.unwrap().unwrap().sum, i as f64);
    }
    wait_for("the command stream trimmed to nothing", WAIT, || {
        let (mut raw, stream) = (raw.clone(), stream.clone());
        async move {
            redis::cmd("XLEN")
                .arg(&stream)
                .query_async::<u64>(&mut raw)
                .await
                .unwrap()
                == 0
        }
    })
    .await;
    wait_for("the dead consumer removed", WAIT, || {
        let (mut raw, stream) = (raw.clone(), stream.clone());
        async move {
            let v: redis::Value = redis::cmd("XINFO")
                .arg("CONSUMERS")
                .arg(&stream)
                .arg("arith")
                .query_async(&mut raw)
                .await
                .unwrap();
            !format!("{v:?}").contains("arith:dead")
        }
    })
    .await;
    figures(
        "trimming under load",
        made + 5,
        made + 5,
        0,
        (handled.get() + handled_b.get()).saturating_sub(made + 5),
    );
    redis.stop().await;
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn clients_fail_fast_while_redis_stays_unreachable_and_recover() {
    let mut t = TestRedis::start();
    let (server, _) = t.arith_server(t.server_config(), 1).await;
    let redis = clamator_redis::RedisTransport::connect(
        t.client_config()
            .unreachable_limit(Duration::from_millis(300)),
    )
    .await
    .unwrap();
    let client = clamator_protocol::Client::new(redis.clone());
    let add = AddParams { a: 1.0, b: 1.0 };
    let timeout = CallOptions::timeout(Duration::from_secs(10));
    assert_eq!(
        client
            .call_with::<_, AddResult>("arith", "add", &add, timeout.clone())
            .await
            .unwrap()
            .sum,
        2.0
    );
    t.process.kill();
    // Past the limit, calls are refused at once with a clear error, not left to time out.
    wait_for("calls failing fast", WAIT, || {
        let (client, timeout) = (client.clone(), timeout.clone());
        async move {
            match client
                .call_with::<_, AddResult>("arith", "add", &AddParams { a: 1.0, b: 1.0 }, timeout)
                .await
            {
                Err(e) => {
                    assert!(e.is_transport(), "{e}");
                    e.to_string().contains("unreachable")
                }
                Ok(r) => panic!("answered while Redis was down: {r:?}"),
            }
        }
    })
    .await;
    t.process.restart().unwrap();
    wait_for("calls answered again", WAIT, || {
        let (client, timeout) = (client.clone(), timeout.clone());
        async move {
            client
                .call_with::<_, AddResult>("arith", "add", &AddParams { a: 1.0, b: 1.0 }, timeout)
                .await
                .is_ok()
        }
    })
    .await;
    redis.stop().await;
    server.stop().await;
}

async fn xadd_request(
    raw: &redis::aio::MultiplexedConnection,
    stream: &str,
    envelope: &str,
    reply_to: &str,
    key: Option<&str>,
) {
    let mut fields = vec![
        ("type", "rpc"),
        ("envelope", envelope),
        ("reply-to", reply_to),
    ];
    fields.extend(key.map(|k| ("idempotency-key", k)));
    clamator_tests::xadd(raw, stream, &fields).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn exactly_once_answers_redeliveries_from_the_record_and_refuses_reused_keys() {
    let t = TestRedis::start();
    let (server, handled) = t
        .arith_server_with(t.server_config(), ServiceOptions::new().exactly_once())
        .await;
    let raw = t.raw().await;
    let stream = t.cmds("arith");
    let probe = format!("{}:replies:probe", t.prefix);
    let add = r#"{"jsonrpc":"2.0","method":"arith.add","params":{"a":1,"b":2},"id":"once"}"#;
    // The same request delivered twice (as after a crash between reply and ack).
    xadd_request(&raw, &stream, add, &probe, None).await;
    xadd_request(&raw, &stream, add, &probe, None).await;
    // The same explicit key with another payload.
    xadd_request(
        &raw,
        &stream,
        r#"{"jsonrpc":"2.0","method":"arith.add","params":{"a":1,"b":2},"id":"k-1"}"#,
        &probe,
        Some("k"),
    )
    .await;
    xadd_request(
        &raw,
        &stream,
        r#"{"jsonrpc":"2.0","method":"arith.add","params":{"a":9,"b":9},"id":"k-2"}"#,
        &probe,
        Some("k"),
    )
    .await;
    wait_for("four replies", WAIT, || {
        let (mut raw, probe) = (raw.clone(), probe.clone());
        async move {
            clamator_tests::stream_envelopes(&mut raw, &probe)
                .await
                .len()
                == 4
        }
    })
    .await;
    let mut conn = raw.clone();
    let replies = clamator_tests::stream_envelopes(&mut conn, &probe).await;
    assert_eq!(
        replies[0], replies[1],
        "the redelivery was not answered from the record"
    );
    assert_eq!(replies[2]["result"]["sum"], 3.0);
    assert_eq!(replies[3]["id"], "k-2");
    assert_eq!(
        replies[3]["error"]["code"],
        clamator_redis::codes::IDEMPOTENCY_KEY_REUSED
    );
    assert_eq!(handled.get(), 2, "a handler ran for a redelivery");
    wait_all_acked(&raw, &stream, "arith").await;
    figures("exactly-once redelivery", 4, 4, 1, 0);

    // Callers name calls with a key: the same key and params run once.
    let redis = t.client().await;
    let options = CallOptions::timeout(WAIT).with_idempotency_key("order-42");
    for _ in 0..3 {
        let r: AddResult = clamator_protocol::Client::new(redis.clone())
            .call_with(
                "arith",
                "add",
                &AddParams { a: 4.0, b: 2.0 },
                options.clone(),
            )
            .await
            .unwrap();
        assert_eq!(r.sum, 6.0);
    }
    assert_eq!(
        handled.get(),
        3,
        "the same idempotency key ran more than once"
    );
    redis.stop().await;
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn exactly_once_can_be_chosen_per_method() {
    let t = TestRedis::start();
    let handled = clamator_examples::arith::Counter::default();
    let server = RedisServer::builder(t.server_config())
        .service_with(
            clamator_examples::arith::arith_service(handled.clone()).unwrap(),
            ServiceOptions::new().exactly_once_method("add"),
        )
        .start()
        .await
        .unwrap();
    let raw = t.raw().await;
    let stream = t.cmds("arith");
    let probe = format!("{}:replies:probe", t.prefix);
    for env in [
        r#"{"jsonrpc":"2.0","method":"arith.add","params":{"a":1,"b":1},"id":"a"}"#,
        r#"{"jsonrpc":"2.0","method":"arith.echoText","params":{"text":"x"},"id":"e"}"#,
    ] {
        xadd_request(&raw, &stream, env, &probe, None).await;
        xadd_request(&raw, &stream, env, &probe, None).await;
    }
    wait_for("four replies", WAIT, || {
        let (mut raw, probe) = (raw.clone(), probe.clone());
        async move {
            clamator_tests::stream_envelopes(&mut raw, &probe)
                .await
                .len()
                == 4
        }
    })
    .await;
    // add ran once (its redelivery answered from the record); echoText ran twice.
    assert_eq!(handled.get(), 3);
    server.stop().await;
}
