//! Housekeeping: command streams are trimmed (`MINID`) without ever dropping an
//! unacknowledged entry, idle dead consumers are removed, one server at a time holds the
//! housekeeping lock, and an abandoned client's reply stream expires (its TTL) while a live
//! one's does not.

use std::time::Duration;

use clamator_examples::arith::{AddParams, ArithClient, SlowAddParams};
use clamator_protocol::CallOptions;
use clamator_tests::{
    create_group, figures, take_as_dead_consumer, wait_for, wait_stream_len, TestRedis, WAIT,
};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_abandoned_clients_reply_stream_expires() {
    let t = TestRedis::start();
    let ttl = Duration::from_millis(900);
    // `slowAdd` runs on past its caller's deadline below, so that its reply comes late.
    let (server, handled) = t
        .arith_server_with(
            t.server_config().reply_stream_ttl(ttl),
            clamator_redis::ServiceOptions::new().never_cancel("slowAdd"),
        )
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
    let transport = t
        .transport_with(t.transport_config().reply_stream_ttl(ttl))
        .await;
    let key = transport.reply_stream().to_owned();
    let first = ArithClient::new(transport.clone())
        .add(&AddParams { a: 1.0, b: 1.0 })
        .await
        .unwrap();
    tokio::time::sleep(ttl * 3).await;
    assert!(
        exists(key.clone()).await,
        "a live client's reply stream expired"
    );

    // Gone without stop (a crash): nothing refreshes it, so it expires.
    drop(transport);
    wait_for("the abandoned reply stream expired", WAIT, || {
        let gone = exists(key.clone());
        async move { !gone.await }
    })
    .await;

    // A late reply re-creates a stopped client's stream, with a TTL, so it goes away too.
    let transport = t
        .transport_with(t.transport_config().reply_stream_ttl(ttl))
        .await;
    let key = transport.reply_stream().to_owned();
    let late = ArithClient::new(transport.clone())
        .slow_add_with(
            &SlowAddParams {
                a: 1.0,
                b: 1.0,
                sleep_ms: 300,
            },
            CallOptions::timeout(Duration::from_millis(50)),
        )
        .await
        .unwrap_err();
    transport.stop().await;
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
    // Measured: two calls, the first answered, the second timed out (its reply came late),
    // handler runs beyond one per call.
    let (answered, failed) = (u64::from(first.sum == 2.0), u64::from(late.is_timeout()));
    figures(
        "abandoned reply stream",
        2,
        answered,
        failed,
        handled.get().saturating_sub(2),
    );
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn trimming_under_load_never_drops_an_unacknowledged_entry() {
    let t = TestRedis::start();
    let raw = t.raw().await;
    let stream = t.cmds("arith");
    create_group(&raw, &stream, "arith").await;
    let transport = t.transport().await;
    let arith = ArithClient::new(transport.clone());
    // Ten requests answered and acknowledged first: below every unacknowledged entry, so
    // a trim that runs removes them, which shows it ran.
    let (first, _) = t
        .arith_server(t.server_config().instance_id("srv-0"), 1)
        .await;
    for i in 0..10 {
        let r = arith
            .add(&AddParams {
                a: f64::from(i),
                b: 0.0,
            })
            .await
            .unwrap();
        assert_eq!(r.sum, f64::from(i));
    }
    first.stop().await;
    // Five requests taken by a consumer that then died: pending, unacknowledged.
    let stuck: Vec<_> = (0..5)
        .map(|i| {
            let arith = arith.clone();
            tokio::spawn(async move {
                arith
                    .add_with(
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
    wait_stream_len(&raw, &stream, 15).await;
    let _ = take_as_dead_consumer(&raw, &stream, "arith", "arith:dead", 5).await;
    let stuck_ids: Vec<String> = {
        let r: redis::streams::StreamRangeReply = redis::cmd("XRANGE")
            .arg(&stream)
            .arg("-")
            .arg("+")
            .query_async(&mut raw.clone())
            .await
            .unwrap();
        r.ids.into_iter().skip(10).map(|e| e.id).collect()
    };
    assert_eq!(stuck_ids.len(), 5);
    // A server trimming every 100 ms under load, far from reclaiming anything.
    let config = t
        .server_config()
        .instance_id("srv-A")
        .housekeeping_interval(Duration::from_millis(100))
        .consumer_idle_limit(Duration::from_millis(500));
    let (server, handled) = t.arith_server(config, 4).await;
    let mut made = 0u64;
    for round in 0..200 {
        let r = arith
            .add(&AddParams {
                a: f64::from(round),
                b: 1.0,
            })
            .await
            .unwrap();
        assert_eq!(r.sum, f64::from(round) + 1.0);
        made += 1;
    }
    // A trim ran: the acknowledged entries below the stuck ones are gone.
    wait_for("a trim below the unacknowledged entries", WAIT, || {
        let (mut raw, stream) = (raw.clone(), stream.clone());
        let oldest_stuck = stuck_ids[0].clone();
        async move {
            let r: redis::streams::StreamRangeReply = redis::cmd("XRANGE")
                .arg(&stream)
                .arg("-")
                .arg("+")
                .arg("COUNT")
                .arg(1)
                .query_async(&mut raw)
                .await
                .unwrap();
            r.ids.first().is_some_and(|e| e.id == oldest_stuck)
        }
    })
    .await;
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
    transport.stop().await;
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn idle_consumers_with_nothing_pending_are_removed_and_the_others_kept() {
    let t = TestRedis::start();
    let raw = t.raw().await;
    let stream = t.cmds("arith");
    create_group(&raw, &stream, "arith").await;
    // Two servers that went away: one left nothing pending, the other died holding an entry
    // (which a claim idle time of an hour keeps from being reclaimed during the test).
    take_as_dead_consumer(&raw, &stream, "arith", "arith:gone", 1).await;
    clamator_tests::xadd(&raw, &stream, &[("type", "rpc"), ("envelope", "{}")]).await;
    take_as_dead_consumer(&raw, &stream, "arith", "arith:holding", 1).await;
    let config = t
        .server_config()
        .instance_id("me")
        .claim_idle(Duration::from_secs(3600))
        .housekeeping_interval(Duration::from_millis(100))
        .consumer_idle_limit(Duration::from_millis(300));
    let (server, _) = t.arith_server(config, 1).await;
    // The server's own consumer exists once it has read something; then it sits idle.
    let transport = t.transport().await;
    let sum = ArithClient::new(transport.clone())
        .add(&AddParams { a: 1.0, b: 2.0 })
        .await
        .unwrap();
    assert_eq!(sum.sum, 3.0);
    let consumers = || {
        let mut raw = raw.clone();
        let stream = stream.clone();
        async move {
            let reply: redis::streams::StreamInfoConsumersReply = redis::cmd("XINFO")
                .arg("CONSUMERS")
                .arg(&stream)
                .arg("arith")
                .query_async(&mut raw)
                .await
                .unwrap();
            let mut names: Vec<String> = reply.consumers.into_iter().map(|c| c.name).collect();
            names.sort();
            names
        }
    };
    wait_for("the idle consumer removed", WAIT, || async {
        !consumers().await.contains(&"arith:gone".to_owned())
    })
    .await;
    // The one with a pending entry stays (its entry would be lost to reclaim), and so does
    // the server's own consumer, however long it waits on an empty stream.
    tokio::time::sleep(Duration::from_millis(600)).await;
    assert_eq!(consumers().await, vec!["arith:holding", "arith:me"]);
    transport.stop().await;
    server.stop().await;
}
