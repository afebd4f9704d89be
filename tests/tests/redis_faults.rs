//! Bad input and Redis going away: malformed entries, lenient peer input, FLUSHALL, a
//! redis-server killed and restarted in the middle of traffic.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::time::Duration;

use clamator_examples::arith::{AddParams, AddResult};
use clamator_protocol::{codes, CallOptions};
use clamator_tests::{stream_envelopes, wait_all_acked, wait_for, xadd, TestRedis};
use serde_json::{json, Value};

const WAIT: Duration = Duration::from_secs(20);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn malformed_entries_are_acked_answered_when_possible_and_the_server_keeps_serving() {
    let t = TestRedis::start();
    let (server, handled) = t
        .arith_server(t.server_config().max_envelope_bytes(1024), 1)
        .await;
    let mut raw = t.raw().await;
    let stream = t.cmds("arith");
    let probe = format!("{}:replies:probe", t.prefix);
    let bare_namespace = format!("{}:replies:", t.prefix);
    let big = format!(
        r#"{{"jsonrpc":"2.0","method":"arith.echoText","params":{{"text":"{}"}},"id":"big"}}"#,
        "x".repeat(2000)
    );
    let cases: Vec<Vec<(&str, &str)>> = vec![
        // Not JSON, id recoverable → -32700.
        vec![
            ("type", "rpc"),
            (
                "envelope",
                r#"{"jsonrpc":"2.0","method":"arith.add","params":{"a":1,,},"id":"parse"}"#,
            ),
            ("reply-to", &probe),
        ],
        // Not JSON, nothing recoverable → no reply.
        vec![
            ("type", "rpc"),
            ("envelope", "not-valid-json-at-all"),
            ("reply-to", &probe),
        ],
        // Wrong jsonrpc → -32600.
        vec![
            ("type", "rpc"),
            (
                "envelope",
                r#"{"jsonrpc":"1.0","method":"arith.add","params":{},"id":"ver"}"#,
            ),
            ("reply-to", &probe),
        ],
        // Bad method → -32600.
        vec![
            ("type", "rpc"),
            (
                "envelope",
                r#"{"jsonrpc":"2.0","method":"arith","params":{},"id":"meth"}"#,
            ),
            ("reply-to", &probe),
        ],
        // Oversized → -32600.
        vec![("type", "rpc"), ("envelope", &big), ("reply-to", &probe)],
        // No envelope field → no reply.
        vec![("type", "rpc"), ("reply-to", &probe)],
        // Spoofed reply-to → refused, nothing written anywhere.
        vec![
            ("type", "rpc"),
            (
                "envelope",
                r#"{"jsonrpc":"2.0","method":"arith.add","params":{"a":1,"b":2},"id":"spoof"}"#,
            ),
            ("reply-to", "evil:key"),
        ],
        vec![
            ("type", "rpc"),
            (
                "envelope",
                r#"{"jsonrpc":"2.0","method":"arith.add","params":{"a":1,"b":2},"id":"spoof2"}"#,
            ),
            ("reply-to", &bare_namespace),
        ],
        // A response envelope on a command stream → dropped.
        vec![
            ("type", "rpc"),
            ("envelope", r#"{"jsonrpc":"2.0","id":"resp","result":1}"#),
            ("reply-to", &probe),
        ],
        // Finally a good request: the server is still serving.
        vec![
            ("type", "rpc"),
            (
                "envelope",
                r#"{"jsonrpc":"2.0","method":"arith.add","params":{"a":2,"b":3},"id":"ok"}"#,
            ),
            ("reply-to", &probe),
        ],
    ];
    for fields in &cases {
        xadd(&raw, &stream, fields).await;
    }
    // Entries are handled in order, so once the last one is answered all were seen.
    wait_for("the good request answered", WAIT, || {
        let (mut raw, probe) = (raw.clone(), probe.clone());
        async move {
            stream_envelopes(&mut raw, &probe)
                .await
                .iter()
                .any(|e| e["id"] == "ok")
        }
    })
    .await;
    let replies = stream_envelopes(&mut raw, &probe).await;
    let summary: Vec<(String, Value)> = replies
        .iter()
        .map(|r| {
            (
                r["id"].as_str().unwrap().to_owned(),
                r.get("error")
                    .map_or(r["result"].clone(), |e| e["code"].clone()),
            )
        })
        .collect();
    assert_eq!(
        summary,
        vec![
            ("parse".to_owned(), json!(codes::PARSE_ERROR)),
            ("ver".to_owned(), json!(codes::INVALID_REQUEST)),
            ("meth".to_owned(), json!(codes::INVALID_REQUEST)),
            ("big".to_owned(), json!(codes::INVALID_REQUEST)),
            ("ok".to_owned(), json!({"sum": 5.0})),
        ]
    );
    assert!(replies[3]["error"]["data"]["reason"]
        .as_str()
        .unwrap()
        .contains("exceeds the limit"));
    for key in ["evil:key".to_owned(), format!("{}:replies:", t.prefix)] {
        let exists: i64 = redis::cmd("EXISTS")
            .arg(&key)
            .query_async(&mut raw)
            .await
            .unwrap();
        assert_eq!(exists, 0, "a reply was written to {key}");
    }
    // Only the good request reached a handler; the spoofed ones never ran.
    assert_eq!(handled.get(), 1);
    wait_all_acked(&raw, &stream, "arith").await;
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn python_style_envelopes_are_accepted() {
    let t = TestRedis::start();
    let (server, _) = t.arith_server(t.server_config(), 1).await;
    let mut raw = t.raw().await;
    let probe = format!("{}:replies:py", t.prefix);
    let stream = t.cmds("arith");
    // json.dumps spacing, \u escapes, 5.0 floats, integer ids, hyphenated methods, params null.
    let requests = [
        r#"{"jsonrpc": "2.0", "method": "arith.add", "params": {"a": 2.0, "b": 3}, "id": 42}"#,
        r#"{"jsonrpc": "2.0", "method": "arith.echoText", "params": {"text": "h\u00e9llo"}, "id": "u"}"#,
        r#"{"jsonrpc": "2.0", "method": "arith.do-thing", "params": {}, "id": "hyphen"}"#,
        r#"{"jsonrpc": "2.0", "method": "arith.echoText", "params": null, "id": "null-params"}"#,
    ];
    for env in requests {
        xadd(
            &raw,
            &stream,
            &[("type", "rpc"), ("envelope", env), ("reply-to", &probe)],
        )
        .await;
    }
    wait_for("four replies", WAIT, || {
        let (mut raw, probe) = (raw.clone(), probe.clone());
        async move { stream_envelopes(&mut raw, &probe).await.len() == 4 }
    })
    .await;
    let replies = stream_envelopes(&mut raw, &probe).await;
    assert_eq!(
        replies[0],
        json!({"jsonrpc": "2.0", "id": 42, "result": {"sum": 5.0}})
    );
    assert_eq!(replies[1]["result"]["text"], "héllo");
    // Parsed fine, then not found: -32601, not -32600.
    assert_eq!(replies[2]["error"]["code"], codes::METHOD_NOT_FOUND);
    // params: null is {} → the missing field is reported.
    assert_eq!(replies[3]["error"]["code"], codes::INVALID_PARAMS);
    assert!(replies[3]["error"]["data"]["errors"][0]["message"]
        .as_str()
        .unwrap()
        .contains("text"));
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn flushall_recreates_the_group_and_serving_goes_on() {
    let t = TestRedis::start();
    let (server, _) = t.arith_server(t.server_config(), 1).await;
    let redis = t.client().await;
    let client = clamator_protocol::Client::new(redis.clone());
    let add = AddParams { a: 1.0, b: 1.0 };
    assert_eq!(
        client
            .call::<_, AddResult>("arith", "add", &add)
            .await
            .unwrap()
            .sum,
        2.0
    );
    let mut raw = t.raw().await;
    let _: () = redis::cmd("FLUSHALL").query_async(&mut raw).await.unwrap();
    // The request written after the flush (stream re-created, no group) is still served.
    let r: AddResult = client
        .call_with("arith", "add", &add, CallOptions::timeout(WAIT))
        .await
        .unwrap();
    assert_eq!(r.sum, 2.0);
    redis.stop().await;
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn redis_restart_mid_traffic_then_calls_succeed_again() {
    let mut t = TestRedis::start();
    let (server, _) = t.arith_server(t.server_config(), 1).await;
    let redis = t.client().await;
    let client = clamator_protocol::Client::new(redis.clone());
    let add = AddParams { a: 20.0, b: 22.0 };
    for _ in 0..20 {
        assert_eq!(
            client
                .call::<_, AddResult>("arith", "add", &add)
                .await
                .unwrap()
                .sum,
            42.0
        );
    }
    t.process.kill();
    let err = client
        .call_with::<_, AddResult>(
            "arith",
            "add",
            &add,
            CallOptions::timeout(Duration::from_secs(2)),
        )
        .await
        .unwrap_err();
    assert!(
        err.is_transport() || err.is_timeout(),
        "unexpected error while Redis is down: {err}"
    );
    t.process.restart().unwrap();
    // Everything reconnects on its own: the client's connections, the server's consumer
    // loop (which also re-creates the group the empty Redis lost), the reply reader.
    let mut answered = 0;
    let deadline = std::time::Instant::now() + Duration::from_secs(40);
    while answered < 10 {
        assert!(
            std::time::Instant::now() < deadline,
            "calls did not recover after the restart"
        );
        match client
            .call_with::<_, AddResult>(
                "arith",
                "add",
                &add,
                CallOptions::timeout(Duration::from_secs(2)),
            )
            .await
        {
            Ok(r) => {
                assert_eq!(r.sum, 42.0);
                answered += 1;
            }
            Err(e) => {
                assert!(e.is_transport() || e.is_timeout(), "{e}");
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
        }
    }
    redis.stop().await;
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_reply_redis_refuses_leaves_its_entry_pending_while_the_rest_of_the_batch_is_acked() {
    let t = TestRedis::start();
    // Written before the server starts, so all of them arrive in one read and their
    // replies share pipelines.
    let mut raw = t.raw().await;
    let stream = t.cmds("arith");
    clamator_tests::create_group(&raw, &stream, "arith").await;
    let good = format!("{}:replies:good", t.prefix);
    let broken = format!("{}:replies:broken", t.prefix);
    // A string where a reply stream should be: Redis refuses the XADD with WRONGTYPE.
    let _: () = redis::cmd("SET")
        .arg(&broken)
        .arg("not a stream")
        .query_async(&mut raw)
        .await
        .unwrap();
    for i in 0..20 {
        let to = if i == 7 { &broken } else { &good };
        let env = format!(
            r#"{{"jsonrpc":"2.0","method":"arith.add","params":{{"a":{i},"b":1}},"id":"r{i}"}}"#
        );
        xadd(
            &raw,
            &stream,
            &[("type", "rpc"), ("envelope", &env), ("reply-to", to)],
        )
        .await;
    }
    let (server, handled) = t.arith_server(t.server_config(), 4).await;
    wait_for("19 replies", WAIT, || {
        let (mut raw, good) = (raw.clone(), good.clone());
        async move { stream_envelopes(&mut raw, &good).await.len() == 19 }
    })
    .await;
    wait_for("the other 19 acked", WAIT, || {
        let (mut raw, stream) = (raw.clone(), stream.clone());
        async move { clamator_tests::pending_count(&mut raw, &stream, "arith").await == 1 }
    })
    .await;
    // The one left pending is the request whose reply could not be written.
    let pending: redis::Value = redis::cmd("XPENDING")
        .arg(&stream)
        .arg("arith")
        .arg("-")
        .arg("+")
        .arg(10)
        .query_async(&mut raw)
        .await
        .unwrap();
    let redis::Value::Array(rows) = pending else {
        panic!("unexpected XPENDING reply {pending:?}")
    };
    assert_eq!(rows.len(), 1);
    let entries: redis::streams::StreamRangeReply = redis::cmd("XRANGE")
        .arg(&stream)
        .arg("-")
        .arg("+")
        .query_async(&mut raw)
        .await
        .unwrap();
    let redis::Value::Array(row) = &rows[0] else {
        panic!("unexpected XPENDING row {:?}", rows[0])
    };
    let pending_id: String = redis::from_redis_value(row[0].clone()).unwrap();
    assert_eq!(
        pending_id, entries.ids[7].id,
        "the wrong entry was left pending"
    );
    assert_eq!(handled.get(), 20, "every handler ran once");
    server.stop().await;
}
