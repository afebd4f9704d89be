//! Reply streams: a reply is never trimmed before its reader may read it (servers bound reply
//! streams by age, transports trim what they have read), and a server writes and expires
//! nothing but the caller's own reply stream.

use clamator_examples::arith::AddParams;
use clamator_tests::{create_group, queue_adds, wait_all_acked, wait_for, TestRedis, WAIT};
use redis::aio::MultiplexedConnection;

async fn xlen(conn: &MultiplexedConnection, key: &str) -> usize {
    redis::cmd("XLEN")
        .arg(key)
        .query_async(&mut conn.clone())
        .await
        .unwrap()
}

async fn pttl(conn: &MultiplexedConnection, key: &str) -> i64 {
    redis::cmd("PTTL")
        .arg(key)
        .query_async(&mut conn.clone())
        .await
        .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_backlog_of_replies_to_a_slow_reader_is_kept_whole() {
    // 3,000 requests queued while no server ran, for a reader that reads nothing yet (a
    // paused client, or a slow Python one): clamator's `MAXLEN ~ 1024` would trim most of
    // their replies before they are read.
    let t = TestRedis::start();
    let raw = t.raw().await;
    let stream = t.cmds("arith");
    let reply_to = format!("{}:replies:slow-reader", t.prefix);
    create_group(&raw, &stream, "arith").await;
    queue_adds(&raw, &stream, &reply_to, 3_000).await;
    let (server, handled) = t.arith_server(t.server_config(), 16).await;
    wait_for("every request handled", WAIT, || async {
        handled.get() == 3_000
    })
    .await;
    wait_all_acked(&raw, &stream, "arith").await;
    assert_eq!(handled.get(), 3_000);
    assert_eq!(
        xlen(&raw, &reply_to).await,
        3_000,
        "replies trimmed before they were read"
    );
    let ids: std::collections::BTreeSet<String> =
        clamator_tests::stream_envelopes(&mut raw.clone(), &reply_to)
            .await
            .iter()
            .map(|e| e["id"].as_str().unwrap_or_default().to_owned())
            .collect();
    assert_eq!(ids.len(), 3_000);
    assert!(
        pttl(&raw, &reply_to).await > 0,
        "a written reply stream gets its TTL"
    );
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_transport_trims_the_replies_it_has_read() {
    let t = TestRedis::start();
    let h = t.arith(t.server_config(), 8).await;
    let calls: Vec<_> = (0..8)
        .map(|w| {
            let arith = h.arith.clone();
            tokio::spawn(async move {
                for i in 0..75 {
                    let r = arith
                        .add(&AddParams {
                            a: f64::from(w),
                            b: f64::from(i),
                        })
                        .await
                        .unwrap();
                    assert_eq!(r.sum, f64::from(w) + f64::from(i));
                }
            })
        })
        .collect();
    for c in calls {
        c.await.unwrap();
    }
    // 600 replies read; the reader trims every 256, so at most 255 are left.
    let raw = t.raw().await;
    let left = xlen(&raw, h.transport.reply_stream()).await;
    assert!(
        left < 256,
        "{left} replies left on the stream after they were read"
    );
    h.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_reply_to_reaching_into_another_namespace_is_refused_untouched() {
    // Tenant B's prefix starts with tenant A's reply namespace: `<A>:replies:b`. A request
    // to A naming B's command stream as its reply-to must not write into it, nor expire it.
    let t = TestRedis::start();
    let raw = t.raw().await;
    let b_stream = format!("{}:replies:b:cmds:arith", t.prefix);
    create_group(&raw, &b_stream, "arith").await;
    let (server, handled) = t.arith_server(t.server_config(), 1).await;
    let stream = t.cmds("arith");
    queue_adds(&raw, &stream, &b_stream, 1).await;
    wait_all_acked(&raw, &stream, "arith").await;
    let letters = t.dead_letters("arith").await;
    assert_eq!(letters.len(), 1);
    assert_eq!(letters[0].reason, "malformed");
    assert!(letters[0].error.contains("':'"), "{}", letters[0].error);
    assert_eq!(handled.get(), 0, "the handler ran for a refused reply-to");
    assert_eq!(
        xlen(&raw, &b_stream).await,
        0,
        "wrote into another tenant's stream"
    );
    assert_eq!(
        pttl(&raw, &b_stream).await,
        -1,
        "expired another tenant's stream"
    );
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_reply_to_naming_a_key_of_another_type_never_runs_the_handler_nor_expires_it() {
    let t = TestRedis::start();
    let raw = t.raw().await;
    let victim = format!("{}:replies:victim", t.prefix);
    let () = redis::cmd("SET")
        .arg(&victim)
        .arg("precious")
        .query_async(&mut raw.clone())
        .await
        .unwrap();
    let (server, handled) = t.arith_server(t.server_config(), 1).await;
    let stream = t.cmds("arith");
    queue_adds(&raw, &stream, &victim, 1).await;
    wait_all_acked(&raw, &stream, "arith").await;
    let letters = t.dead_letters("arith").await;
    assert!(
        letters[0].error.contains("string key"),
        "{}",
        letters[0].error
    );
    assert_eq!(
        handled.get(),
        0,
        "the handler ran for a reply that can never be written"
    );
    assert_eq!(
        pttl(&raw, &victim).await,
        -1,
        "a TTL was put on a key the server never wrote"
    );
    let value: String = redis::cmd("GET")
        .arg(&victim)
        .query_async(&mut raw.clone())
        .await
        .unwrap();
    assert_eq!(value, "precious");
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_reply_stream_replaced_by_another_type_runs_the_handler_once_and_is_acknowledged() {
    // The server has seen this reply stream as a stream already; then it becomes a string.
    // The reply can never be written: the entry is acknowledged after one handler run, not
    // redelivered until it is dead-lettered, and the string gets no TTL.
    let t = TestRedis::start();
    let raw = t.raw().await;
    let to = format!("{}:replies:turncoat", t.prefix);
    let stream = t.cmds("arith");
    let (server, handled) = t.arith_server(t.server_config(), 1).await;
    queue_adds(&raw, &stream, &to, 1).await;
    // The reply and its time to live (written after it): the key must not change type
    // between the two, or the TTL meant for the stream lands on the string.
    wait_for("the first reply, with its TTL", WAIT, || async {
        xlen(&raw, &to).await == 1 && pttl(&raw, &to).await > 0
    })
    .await;
    let () = redis::cmd("DEL")
        .arg(&to)
        .query_async(&mut raw.clone())
        .await
        .map(|_: i64| ())
        .unwrap();
    let () = redis::cmd("SET")
        .arg(&to)
        .arg("x")
        .query_async(&mut raw.clone())
        .await
        .unwrap();
    queue_adds(&raw, &stream, &to, 1).await;
    wait_for("the second request handled", WAIT, || async {
        handled.get() == 2
    })
    .await;
    // Acknowledged after its one run: no redelivery can run it again.
    wait_all_acked(&raw, &stream, "arith").await;
    assert_eq!(handled.get(), 2);
    assert_eq!(pttl(&raw, &to).await, -1);
    server.stop().await;
}
