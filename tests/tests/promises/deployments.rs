//! Beyond one Redis: a local Redis Cluster serves calls, notifications, reclaim, dead
//! letters and exactly-once for services on different shards; a slot moved to another
//! master under load loses and duplicates nothing; a killed master's replica takes over
//! (cluster and Sentinel) and calls resume; planned and forced failovers with the old master
//! still up lose nothing; a partitioned service survives a crashed server; a mode that does
//! not match the Redis fails at start.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use clamator_examples::arith::{self, AddParams, ArithClient, Counter, PingParams};
use clamator_protocol::{CallOptions, Client};
use clamator_redis::{RedisServer, RedisTransport, ServiceOptions};
use clamator_tests::cluster::{TestCluster, TestSentinel};
use clamator_tests::{
    create_group, finish, load, pending_count, report, start_arith_server, take_as_dead_consumer,
    wait_all_acked, wait_for, wait_stream_len, xadd, Tally, UnderLoad, WAIT,
};

/// The callers of the failover tests' load, each with one call at a time.
const CALLERS: u32 = 8;

/// Calls `add` until one succeeds (or `limit` passes); how long that took.
async fn first_answer_after(arith: &ArithClient, limit: Duration) -> Duration {
    let start = Instant::now();
    loop {
        let r = arith
            .add_with(
                &AddParams { a: 1.0, b: 1.0 },
                CallOptions::timeout(Duration::from_secs(2)),
            )
            .await;
        match r {
            Ok(r) => {
                assert_eq!(r.sum, 2.0);
                return start.elapsed();
            }
            Err(e) => {
                assert!(e.is_transport() || e.is_timeout(), "{e}");
                assert!(start.elapsed() < limit, "calls did not resume: {e}");
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
        }
    }
}

/// After a failover that took `failover` from the fault ([`UnderLoad::fault`], marked just
/// before it): calls resume and the load goes on; prints the figures; every call ended
/// answered or failed with a clear error (none hung, none got another's answer: the tally
/// checks each sum), and what the failover cost is bounded by the calls in flight at the
/// fault: no more timeouts, no more duplicate handler runs, and every call made once calls
/// were answered again is answered.
async fn resumes_after_failover(mut l: UnderLoad, what: &str, failover: Duration) {
    let resumed = first_answer_after(&l.arith, Duration::from_secs(30)).await + failover;
    l.resumed();
    l.answers(100).await;
    report(&format!(
        "{what}: replica promoted after {failover:?}, calls answered again after {resumed:?}"
    ));
    l.finish(&format!("{what} under load")).await;
    assert_eq!(l.tally.other.load(Ordering::SeqCst), 0);
    l.fault_figures().assert_bounded(what, u64::from(CALLERS));
    l.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_cluster_serves_every_promise_for_services_on_different_shards() {
    let t = TestCluster::start(3, 0);
    let raw = t.raw().await;
    assert_ne!(
        t.cluster.master_of(&t.cmds("arith")).unwrap(),
        t.cluster.master_of(&t.cmds("notifications")).unwrap()
    );

    // Reclaim: a consumer takes a request and dies before the first server starts.
    let stream = t.cmds("arith");
    create_group(&raw, &stream, "arith").await;
    let early = RedisTransport::connect(t.transport_config()).await.unwrap();
    let early_call = {
        let arith = ArithClient::new(early.clone());
        tokio::spawn(async move {
            arith
                .add_with(&AddParams { a: 5.0, b: 5.0 }, CallOptions::timeout(WAIT))
                .await
        })
    };
    wait_stream_len(&raw, &stream, 1).await;
    let _ = take_as_dead_consumer(&raw, &stream, "arith", "arith:dead", 1).await;
    assert_eq!(pending_count(&mut raw.clone(), &stream, "arith").await, 1);

    let config = t.server_config().claim_idle(Duration::from_millis(300));
    let (server, handled) = start_arith_server(
        config,
        ServiceOptions::new().concurrency(8).exactly_once(true),
    )
    .await;
    assert_eq!(early_call.await.unwrap().unwrap().sum, 10.0);

    // Calls from several transports (reply streams on several shards) and notifications.
    let transports: Vec<RedisTransport> = futures_util::future::join_all(
        (0..3).map(|_| RedisTransport::connect(t.transport_config())),
    )
    .await
    .into_iter()
    .map(Result::unwrap)
    .collect();
    let calls = transports.iter().enumerate().flat_map(|(n, tr)| {
        let arith = ArithClient::new(tr.clone());
        (0..30).map(move |i| {
            let arith = arith.clone();
            async move {
                let r = arith
                    .add_with(
                        &AddParams {
                            a: f64::from(i),
                            b: n as f64,
                        },
                        CallOptions::timeout(WAIT),
                    )
                    .await
                    .unwrap();
                assert_eq!(r.sum, f64::from(i) + n as f64);
            }
        })
    });
    futures_util::future::join_all(calls).await;
    let client = Client::new(transports[0].clone());
    let before = handled.get();
    for _ in 0..5 {
        client
            .notify("notifications", "ping", &PingParams { tag: None })
            .await
            .unwrap();
    }
    wait_for("5 notifications handled", WAIT, || async {
        handled.get() == before + 5
    })
    .await;

    // Exactly-once: one key, three calls, one handler run.
    let before = handled.get();
    let arith = ArithClient::new(transports[1].clone());
    let options = CallOptions::timeout(WAIT).with_idempotency_key("order-7");
    for _ in 0..3 {
        let r = arith
            .add_with(&AddParams { a: 3.0, b: 4.0 }, options.clone())
            .await
            .unwrap();
        assert_eq!(r.sum, 7.0);
    }
    assert_eq!(handled.get(), before + 1, "an idempotency key ran twice");

    // Dead letters: a malformed entry lands in the dead-letter stream, on its own shard.
    xadd(&raw, &stream, &[("type", "rpc"), ("envelope", "not json")]).await;
    let dlq = clamator_redis::DeadLetters::connect(
        &clamator_redis::RedisTarget::new(format!(
            "redis+cluster://{}",
            t.cluster.url().replace("redis://", "")
        )),
        &t.prefix,
    )
    .await
    .unwrap();
    wait_for("a dead letter", WAIT, || async {
        !dlq.list("arith", 10).await.unwrap().is_empty()
    })
    .await;
    assert_eq!(dlq.list("arith", 10).await.unwrap()[0].reason, "malformed");
    wait_all_acked(&raw, &stream, "arith").await;

    for tr in transports.iter().chain([&early]) {
        tr.stop().await;
    }
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_slot_moved_to_another_master_under_load_loses_and_duplicates_nothing() {
    let t = TestCluster::start(3, 0);
    let mut l = UnderLoad::start(
        t.server_config().claim_idle(Duration::from_secs(1)),
        ServiceOptions::new().concurrency(16).exactly_once(true),
        t.transport_config(),
        16,
        WAIT,
    )
    .await;
    let stream = t.cmds("arith");
    let from = t.cluster.master_of(&stream).unwrap();
    let to = *t
        .cluster
        .masters()
        .iter()
        .find(|&&m| m != from)
        .expect("another master");
    // There and back and there again: three moves, each with its ASK and MOVED window.
    let moving = Instant::now();
    for (a, b) in [(from, to), (to, from), (from, to)] {
        t.cluster.migrate_slot_of(&stream, a, b).unwrap();
        assert_eq!(t.cluster.master_of(&stream).unwrap(), b);
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let moved_in = moving.elapsed();
    l.answers(200).await;
    l.finish(&format!(
        "slot migration under load (moved 3 times in {moved_in:?})"
    ))
    .await;
    wait_all_acked(&t.raw().await, &stream, "arith").await;
    let answered = l.tally.answered.load(Ordering::SeqCst);
    assert_eq!(
        l.tally.made.load(Ordering::SeqCst),
        answered,
        "a call failed while its slot moved"
    );
    // Exactly-once is on, and no request was lost: one handler run per call.
    assert_eq!(l.handled.get(), answered);
    l.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_killed_cluster_master_fails_over_and_calls_resume() {
    let mut t = TestCluster::start(3, 1);
    let l = UnderLoad::start(
        t.server_config().claim_idle(Duration::from_secs(1)),
        // Exactly-once runs scripts on every call: they keep working on the promoted
        // replica (NOSCRIPT → loaded again).
        ServiceOptions::new().concurrency(16).exactly_once(true),
        t.transport_config(),
        CALLERS,
        // Above failover + reconnect + reclaim: a call in flight at the kill is late, not
        // lost, and should be answered.
        WAIT,
    )
    .await;
    let stream = t.cmds("arith");
    let dead = t.cluster.master_of(&stream).unwrap();
    let killed = Instant::now();
    l.fault();
    t.cluster.nodes[dead].kill();
    let promoted = t
        .cluster
        .wait_failover(&stream, dead, Duration::from_secs(30))
        .unwrap();
    let failover = killed.elapsed();
    assert_ne!(promoted, dead);
    resumes_after_failover(l, "cluster master killed", failover).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_sentinel_failover_moves_servers_and_clients_to_the_new_master() {
    let mut t = TestSentinel::start(Duration::from_millis(1000));
    let l = UnderLoad::start(
        t.server_config().claim_idle(Duration::from_secs(1)),
        ServiceOptions::new().concurrency(16).exactly_once(true),
        t.transport_config(),
        CALLERS,
        // Above failover + reconnect + reclaim, as in the cluster test: a call in flight at
        // the kill is late, not lost.
        WAIT,
    )
    .await;
    let old = t.group.master_port().unwrap();
    assert_eq!(old, t.group.servers[0].port());
    let killed = Instant::now();
    l.fault();
    t.group.servers[0].kill();
    let new = t.group.wait_failover(old, Duration::from_secs(30)).unwrap();
    let failover = killed.elapsed();
    assert_eq!(new, t.group.servers[1].port());
    resumes_after_failover(l, "sentinel master killed", failover).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_planned_cluster_failover_under_load_loses_nothing() {
    let t = TestCluster::start(3, 1);
    let mut l = UnderLoad::start(
        t.server_config().claim_idle(Duration::from_secs(1)),
        ServiceOptions::new().concurrency(16).exactly_once(true),
        t.transport_config(),
        CALLERS,
        WAIT,
    )
    .await;
    // The old master stays up and becomes a replica: its blocked XREADGROUP is answered
    // UNBLOCKED, its writes MOVED.
    let stream = t.cmds("arith");
    let master = t.cluster.master_of(&stream).unwrap();
    let replica = t.cluster.replica_of(master).unwrap();
    t.cluster
        .manual_failover(replica, &stream, Duration::from_secs(20))
        .unwrap();
    l.answers(200).await;
    l.finish("planned cluster failover under load").await;
    // Nothing acknowledged was lost (no call timed out), nothing ran twice.
    assert_eq!(l.tally.timeouts.load(Ordering::SeqCst), 0);
    assert_eq!(l.tally.other.load(Ordering::SeqCst), 0);
    assert_eq!(l.handled.get(), l.tally.answered.load(Ordering::SeqCst));
    l.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_forced_sentinel_failover_moves_everyone_off_the_demoted_master() {
    let t = TestSentinel::start(Duration::from_millis(1000));
    // A master name the sentinels do not know fails at once, saying so.
    let unknown = RedisTransport::connect(
        t.transport_config()
            .deployment(clamator_redis::Deployment::sentinel("nope")),
    )
    .await
    .unwrap_err();
    let said = clamator_protocol::error::error_chain(&unknown);
    assert!(said.contains("master \"nope\""), "{said}");

    let mut l = UnderLoad::start(
        t.server_config().claim_idle(Duration::from_secs(1)),
        ServiceOptions::new().concurrency(16),
        t.transport_config(),
        CALLERS,
        Duration::from_secs(5),
    )
    .await;
    // The old master stays up and keeps accepting writes until the sentinels demote it:
    // connections must move to the new master by asking the sentinels, not by an error.
    // Until then an acknowledgement it took may never reach the new master (replication is
    // asynchronous), so a call made before the demotion may run again: the fault, from
    // which nothing may run twice, is the demotion, not the request for a failover (under
    // load the two were seconds apart, and calls made between them ran twice).
    let old = t.group.master_port().unwrap();
    t.group.force_failover().unwrap();
    let new = t.group.wait_failover(old, Duration::from_secs(30)).unwrap();
    assert_ne!(new, old);
    let demoted = std::time::Instant::now() + Duration::from_secs(30);
    while !clamator_testkit::local_cluster::cli(old, &["ROLE"])
        .is_ok_and(|r| r.starts_with("slave"))
    {
        assert!(
            std::time::Instant::now() < demoted,
            "the old master was not demoted"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    l.fault();
    first_answer_after(&l.arith, Duration::from_secs(30)).await;
    l.resumed();
    l.answers(200).await;
    l.finish("forced sentinel failover under load").await;
    assert_eq!(l.tally.other.load(Ordering::SeqCst), 0);
    l.fault_figures()
        .assert_bounded("forced sentinel failover", u64::from(CALLERS));
    // Everything the server reads now comes from the new master: a call made now is
    // answered, and nothing is left pending there.
    let r = l
        .arith
        .add_with(&AddParams { a: 2.0, b: 2.0 }, CallOptions::timeout(WAIT))
        .await
        .unwrap();
    assert_eq!(r.sum, 4.0);
    let raw = redis::Client::open(format!("redis://127.0.0.1:{new}"))
        .unwrap()
        .get_multiplexed_async_connection()
        .await
        .unwrap();
    let stream = clamator_redis::keys::command_stream(&t.prefix, "arith");
    wait_all_acked(&raw, &stream, "arith").await;
    l.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_partitioned_service_answers_every_call_with_a_server_killed_mid_way() {
    let t = TestCluster::start(3, 0);
    let partitions = 4;
    let streams: Vec<String> = (0..partitions)
        .map(|i| clamator_redis::keys::command_stream_partition(&t.prefix, "arith", i))
        .collect();
    let shards: std::collections::BTreeSet<usize> = streams
        .iter()
        .map(|s| t.cluster.master_of(s).unwrap())
        .collect();
    let options = ServiceOptions::new().concurrency(4).partitions(partitions);
    let config = |id: &str| {
        t.server_config()
            .instance_id(id)
            .claim_idle(Duration::from_millis(300))
    };
    let (a, runs_a) = start_arith_server(config("srv-A"), options.clone()).await;
    let (b, runs_b) = start_arith_server(config("srv-B"), options).await;
    // A partition-aware client, and one that knows only the clamator-compatible stream
    // (as a Python or TypeScript peer does).
    let aware = RedisTransport::connect(t.transport_config().partitions("arith", partitions))
        .await
        .unwrap();
    let plain = RedisTransport::connect(t.transport_config()).await.unwrap();
    let (tally, stop) = (Arc::new(Tally::default()), Arc::new(AtomicBool::new(false)));
    let mut workers = load(&Client::new(aware.clone()), &tally, &stop, 8, 5, WAIT);
    workers.extend(load(&Client::new(plain.clone()), &tally, &stop, 2, 5, WAIT));
    wait_for("srv-A busy", WAIT, || async { runs_a.get() >= 60 }).await;
    // The crash: srv-A vanishes with work in flight on every partition.
    drop(a);
    let at_crash = runs_b.get();
    wait_for("srv-B carries on", WAIT, || async {
        runs_b.get() >= at_crash + 150
    })
    .await;
    finish(&stop, workers).await;
    tally.print(
        &format!(
            "partitioned service (4 partitions on {} shards), a server crashed",
            shards.len()
        ),
        runs_a.get() + runs_b.get(),
    );
    assert_eq!(
        tally.answered.load(Ordering::SeqCst),
        tally.made.load(Ordering::SeqCst),
        "calls were lost or failed"
    );
    let raw = t.raw().await;
    for stream in &streams {
        // Every partition was used, and everything on it is acknowledged.
        let len: usize = redis::cmd("XLEN")
            .arg(stream)
            .query_async(&mut raw.clone())
            .await
            .unwrap();
        assert!(len > 0, "{stream} was never written to");
        wait_all_acked(&raw, stream, "arith").await;
    }
    aware.stop().await;
    plain.stop().await;
    b.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_mode_that_does_not_match_the_redis_fails_at_start_with_a_clear_error() {
    let t = clamator_tests::TestRedis::start();
    let cluster = RedisTransport::connect(
        t.transport_config()
            .deployment(clamator_redis::Deployment::Cluster),
    )
    .await
    .unwrap_err();
    let said = clamator_protocol::error::error_chain(&cluster);
    assert!(said.contains("(cluster)"), "{said}");
    assert!(cluster.is_transport(), "{said}");

    let Err(sentinel) = RedisServer::builder(
        t.server_config()
            .deployment(clamator_redis::Deployment::sentinel("main")),
    )
    .service(arith::arith_service(Counter::default()).unwrap())
    .start()
    .await
    else {
        panic!("a plain Redis is no sentinel");
    };
    let said = clamator_protocol::error::error_chain(&sentinel);
    assert!(said.contains("sentinel, master \"main\""), "{said}");

    // Zero partitions is refused before anything is sent.
    let Err(zero) = RedisServer::builder(t.server_config())
        .service_with(
            arith::arith_service(Counter::default()).unwrap(),
            ServiceOptions::new().partitions(0),
        )
        .start()
        .await
    else {
        panic!("zero partitions");
    };
    assert!(zero.to_string().contains("partitions"), "{zero}");
    let Err(many) = RedisServer::builder(t.server_config())
        .service_with(
            arith::arith_service(Counter::default()).unwrap(),
            ServiceOptions::new().partitions(clamator_redis::MAX_PARTITIONS + 1),
        )
        .start()
        .await
    else {
        panic!("too many partitions");
    };
    assert!(many.to_string().contains("must be 1 to 256"), "{many}");

    // A node list without a mode is refused before anything is sent.
    let list = RedisTransport::connect(t.transport_config().redis_url(format!(
        "{},{}",
        t.url(),
        t.url()
    )))
    .await
    .unwrap_err();
    assert!(list.is_invalid_argument(), "{list}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_paused_sentinel_neither_stalls_calls_nor_hides_a_failover() {
    let mut t = TestSentinel::start(Duration::from_millis(1000));
    let l = UnderLoad::start(
        t.server_config().claim_idle(Duration::from_secs(1)),
        ServiceOptions::new().concurrency(16),
        t.transport_config(),
        CALLERS,
        // Above failover + reconnect + reclaim: a call in flight at the kill is late, not
        // lost.
        WAIT,
    )
    .await;
    // The sentinel every lookup asked first stops answering (SIGSTOP): the once-a-second
    // question times out and calls go on against the master they know.
    t.group.sentinels[0].pause();
    l.answers(200).await;
    // Then the master dies; the two other sentinels still make a quorum and fail over, and
    // everyone finds the new master through them.
    let old = t.group.servers[0].port();
    let killed = Instant::now();
    l.fault();
    t.group.servers[0].kill();
    let new = t.group.wait_failover(old, Duration::from_secs(30)).unwrap();
    assert_eq!(new, t.group.servers[1].port());
    let failover = killed.elapsed();
    t.group.sentinels[0].resume();
    resumes_after_failover(l, "sentinel master killed with a sentinel paused", failover).await;
}
