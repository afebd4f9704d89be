//! Dead letters: a request past `max_deliveries` and malformed entries land in the dead
//! letter stream, answered with `DEAD_LETTERED` where a caller waits; `DeadLetters` lists,
//! replays (onto the command stream, once) and purges them.

use clamator_examples::arith::AddParams;
use clamator_tests::{wait_all_acked, wait_for, xadd, TestRedis, WAIT};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dead_letters_can_be_listed_replayed_and_purged() {
    let t = TestRedis::start();
    // A server that dead-letters everything on its first delivery.
    let strict = t.arith(t.server_config().max_deliveries(0), 1).await;
    let err = strict
        .arith
        .add(&AddParams { a: 1.0, b: 2.0 })
        .await
        .unwrap_err();
    assert_eq!(err.code(), Some(clamator_redis::codes::DEAD_LETTERED));
    assert_eq!(strict.handled.get(), 0);
    assert_eq!(strict.server.stats().dead_lettered, 1);
    strict.server.stop().await;

    let dlq = clamator_redis::DeadLetters::connect(&t.url(), &t.prefix)
        .await
        .unwrap();
    let letters = dlq.list("arith", 10).await.unwrap();
    assert_eq!(letters.len(), 1);
    assert_eq!(
        (letters[0].reason.as_str(), letters[0].deliveries),
        ("max-deliveries", 1)
    );
    assert_eq!(
        letters[0].reply_to.as_deref(),
        Some(strict.transport.reply_stream())
    );

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
        xadd(
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
    strict.transport.stop().await;
    server.stop().await;
}
