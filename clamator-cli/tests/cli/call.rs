//! `clamator call`: results, RPC errors, notifications, timeouts, idempotency keys, params
//! from a file or stdin, and params checked against a contract before anything is sent, in
//! bounded time even when the published contract is hostile.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use clamator_testkit::local_redis::RedisProcess;
use serde_json::{json, Value};
use tokio::io::AsyncWriteExt as _;

use crate::{
    clamator, command, contract_file, eventually, publish, published_arith, redis_conn, serve,
};

async fn stream_len(redis: &RedisProcess, key: &str) -> u64 {
    redis::cmd("XLEN")
        .arg(key)
        .query_async(&mut redis_conn(redis).await)
        .await
        .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn calls_print_results_and_map_failures_to_exit_codes() {
    let redis = RedisProcess::start().unwrap();
    let url = redis.url();
    let pings = Arc::new(Mutex::new(Vec::new()));
    let seen = Arc::clone(&pings);
    let server = serve(&redis, "c1", "srv", 1, move |tag| {
        seen.lock().unwrap().push(tag);
    })
    .await;

    let ok = clamator(
        &url,
        "c1",
        &["call", "arith.add", r#"{"a":2,"b":3}"#, "--json"],
    )
    .await;
    assert_eq!(ok.code, 0, "{ok:?}");
    let doc = ok.json();
    assert_eq!(doc["result"], json!({"sum": 5.0}));
    assert_eq!(doc["service"], "arith");
    assert_eq!(doc["method"], "add");
    assert_eq!(doc["notification"], false);

    // Without --json: the result alone, indented.
    let plain = clamator(
        &url,
        "c1",
        &["call", "arith.echoText", r#"{"text":"héllo"}"#],
    )
    .await;
    assert_eq!(plain.code, 0, "{plain:?}");
    let printed: Value = serde_json::from_str(&plain.stdout).unwrap();
    assert_eq!(printed, json!({"text": "héllo"}));

    let rpc = clamator(
        &url,
        "c1",
        &["call", "arith.divide", r#"{"a":1,"b":0}"#, "--json"],
    )
    .await;
    assert_eq!(rpc.code, 1, "{rpc:?}");
    let e = &rpc.json()["error"];
    assert_eq!(e["kind"], "rpcError");
    assert_eq!(e["code"], -32000);
    assert_eq!(e["rpcMessage"], "division by zero");
    assert!(rpc.stderr.contains("division by zero"));

    let slow = clamator(
        &url,
        "c1",
        &[
            "call",
            "arith.slowAdd",
            r#"{"a":1,"b":2,"sleepMs":3000}"#,
            "--timeout",
            "300ms",
            "--json",
        ],
    )
    .await;
    assert_eq!(slow.code, 3, "{slow:?}");
    assert_eq!(slow.json()["error"]["kind"], "timeout");

    let note = clamator(
        &url,
        "c1",
        &[
            "call",
            "notifications.ping",
            r#"{"tag":"from-cli"}"#,
            "--notify",
            "--json",
        ],
    )
    .await;
    assert_eq!(note.code, 0, "{note:?}");
    assert_eq!(note.json()["notification"], true);
    assert_eq!(note.json()["result"], Value::Null);
    eventually(Duration::from_secs(5), || {
        let pings = Arc::clone(&pings);
        async move { pings.lock().unwrap().contains(&Some("from-cli".to_owned())) }
    })
    .await;

    // The idempotency key travels in its stream field.
    let keyed = clamator(
        &url,
        "c1",
        &[
            "call",
            "arith.add",
            r#"{"a":1,"b":1}"#,
            "--idempotency-key",
            "order-42",
        ],
    )
    .await;
    assert_eq!(keyed.code, 0, "{keyed:?}");
    let last: Vec<(String, Vec<(String, String)>)> = redis::cmd("XREVRANGE")
        .arg("c1:cmds:arith")
        .arg("+")
        .arg("-")
        .arg("COUNT")
        .arg(1)
        .query_async(&mut redis_conn(&redis).await)
        .await
        .unwrap();
    let fields = &last[0].1;
    assert!(
        fields.contains(&("idempotency-key".to_owned(), "order-42".to_owned())),
        "{fields:?}"
    );
    assert!(fields.iter().any(|(k, _)| k == "deadline"), "{fields:?}");

    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn params_come_from_a_file_or_stdin_and_must_be_json() {
    let redis = RedisProcess::start().unwrap();
    let url = redis.url();
    let server = serve(&redis, "c2", "srv", 1, |_| {}).await;

    let dir = std::env::temp_dir().join(format!("clamator-cli-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let file = dir.join("params.json");
    std::fs::write(&file, r#"{"a": 40, "b": 2}"#).unwrap();
    let at_file = format!("@{}", file.display());
    let from_file = clamator(&url, "c2", &["call", "arith.add", &at_file, "--json"]).await;
    assert_eq!(from_file.code, 0, "{from_file:?}");
    assert_eq!(from_file.json()["result"]["sum"], 42.0);

    let mut piped = command(&url, "c2", &["call", "arith.add", "-", "--json"]);
    piped.stdin(std::process::Stdio::piped());
    let mut child = piped.spawn().unwrap();
    let mut stdin = child.stdin.take().unwrap();
    stdin.write_all(br#"{"a": 1, "b": 2}"#).await.unwrap();
    drop(stdin);
    let out = tokio::time::timeout(Duration::from_secs(30), child.wait_with_output())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(out.status.code(), Some(0), "{out:?}");
    let doc: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(doc["result"]["sum"], 3.0);

    let before = stream_len(&redis, "c2:cmds:arith").await;
    let bad = clamator(&url, "c2", &["call", "arith.add", "{a:1}", "--json"]).await;
    assert_eq!(bad.code, 2, "{bad:?}");
    assert_eq!(bad.json()["error"]["kind"], "usage");
    assert!(bad.stderr.contains("not JSON"), "{bad:?}");
    let missing = clamator(&url, "c2", &["call", "arith.add", "@/nonexistent/p.json"]).await;
    assert_eq!(missing.code, 2, "{missing:?}");
    let bad_name = clamator(&url, "c2", &["call", "arith.do-thing", "{}"]).await;
    assert_eq!(bad_name.code, 2, "{bad_name:?}");
    assert_eq!(
        stream_len(&redis, "c2:cmds:arith").await,
        before,
        "nothing sent"
    );

    let _ = std::fs::remove_dir_all(&dir);
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn params_are_checked_against_the_contract_before_sending() {
    let redis = RedisProcess::start().unwrap();
    let url = redis.url();
    let server = serve(&redis, "c3", "srv", 1, |_| {}).await;
    publish(&redis, "c3", "arith", &published_arith("test")).await;
    let before = stream_len(&redis, "c3:cmds:arith").await;

    // The published contract.
    let bad = clamator(
        &url,
        "c3",
        &["call", "arith.add", r#"{"a":"two","b":3}"#, "--json"],
    )
    .await;
    assert_eq!(bad.code, 2, "{bad:?}");
    let e = &bad.json()["error"];
    assert_eq!(e["kind"], "invalidParams");
    assert_eq!(e["issues"][0]["path"], "/a");
    assert!(bad.stderr.contains("/a"), "{bad:?}");
    let unknown = clamator(&url, "c3", &["call", "arith.sub", "{}", "--json"]).await;
    assert_eq!(unknown.code, 2, "{unknown:?}");
    assert!(unknown.stderr.contains("it has: add"), "{unknown:?}");

    // A contract file, which names its own pointer too.
    let file = contract_file("arith.json");
    let from_file = clamator(
        &url,
        "c3",
        &[
            "call",
            "arith.slowAdd",
            r#"{"a":1,"b":2,"sleepMs":-5}"#,
            "--contract",
            &file,
            "--json",
        ],
    )
    .await;
    assert_eq!(from_file.code, 2, "{from_file:?}");
    assert_eq!(from_file.json()["error"]["issues"][0]["path"], "/sleepMs");
    let other_service = clamator(
        &url,
        "c3",
        &[
            "call",
            "notifications.ping",
            "{}",
            "--notify",
            "--contract",
            &file,
        ],
    )
    .await;
    assert_eq!(other_service.code, 2, "{other_service:?}");
    assert_eq!(
        stream_len(&redis, "c3:cmds:arith").await,
        before,
        "nothing sent"
    );

    // Valid params pass, and say what they were checked against.
    let good = clamator(
        &url,
        "c3",
        &["call", "arith.add", r#"{"a":1,"b":2}"#, "--json"],
    )
    .await;
    assert_eq!(good.code, 0, "{good:?}");
    assert_eq!(good.json()["validatedAgainst"], "c3:contracts:arith");

    // Unchecked, the server refuses them itself: a remote error.
    let unchecked = clamator(
        &url,
        "c3",
        &[
            "call",
            "arith.add",
            r#"{"a":"two","b":3}"#,
            "--no-validate",
            "--json",
        ],
    )
    .await;
    assert_eq!(unchecked.code, 1, "{unchecked:?}");
    assert_eq!(unchecked.json()["error"]["code"], -32602);

    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_hostile_published_contract_cannot_stall_the_check() {
    // Whoever may write the contract key publishes 1,500 patterns only the backtracking engine
    // takes (lookahead), each trying every way of splitting a run of `a`s that does not end
    // the match: unbudgeted, checking one short string took minutes.
    let redis = RedisProcess::start().unwrap();
    let url = redis.url();
    let patterns: Vec<Value> = (0..1500)
        .map(|i| json!({"pattern": format!("^((?=a)a+)+$|^never-{i:04}-matches-this$")}))
        .collect();
    let doc = json!({
        "service": "hostile",
        "methods": [{
            "name": "check",
            "notification": false,
            "paramsSchema": {
                "type": "object",
                "properties": {"s": {"type": "string", "allOf": patterns}},
                "required": ["s"]
            },
            "resultSchema": {},
            "paramsHash": "x",
            "resultHash": "y"
        }],
        "publishedBy": "mallory",
        "publishedAt": 1_700_000_000_000u64
    });
    assert!(doc.to_string().len() > 78_000);
    publish(&redis, "c9", "hostile", &doc).await;

    let params = json!({"s": format!("{}!", "a".repeat(30))}).to_string();
    let started = Instant::now();
    let out = clamator(&url, "c9", &["call", "hostile.check", &params, "--json"]).await;
    let took = started.elapsed();
    assert_eq!(out.code, 2, "{out:?}");
    let e = &out.json()["error"];
    assert_eq!(e["kind"], "invalidParams", "{out:?}");
    let budget: Vec<&Value> = e["issues"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|i| {
            i["message"]
                .as_str()
                .unwrap()
                .starts_with("pattern check budget exceeded (")
        })
        .collect();
    assert_eq!(budget.len(), 1, "{out:?}");
    assert_eq!(budget[0]["path"], "/s");
    // generous: the check has a budget of 50 ms; the rest is starting and compiling
    assert!(took < Duration::from_secs(20), "took {took:?}");
    // strings the patterns decide at once are checked as usual
    let fine = clamator(
        &url,
        "c9",
        &[
            "call",
            "hostile.check",
            r#"{"s":"aaa"}"#,
            "--json",
            "--timeout",
            "200ms",
        ],
    )
    .await;
    assert_eq!(fine.code, 3, "checked, sent, and nobody answered: {fine:?}");
    assert_eq!(fine.json()["error"]["kind"], "timeout", "{fine:?}");
}

/// A service's error `data` (a declared error's fields) is printed for people too, not only
/// in `--json` (it was hidden).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_errors_data_is_shown_in_human_mode() {
    let redis = RedisProcess::start().unwrap();
    let url = redis.url();
    let inventory = clamator_protocol::Service::builder("inventory")
        .method("reserve", |_: Value| async {
            Err::<Value, _>(
                clamator_protocol::RpcError::new(4009, "not enough stock")
                    .with_data(json!({"available": 3, "note": "bell\u{7}"})),
            )
        })
        .build()
        .unwrap();
    let server = clamator_redis::RedisServer::builder(
        clamator_redis::ServerConfig::new("c9").redis_url(&url),
    )
    .service(inventory)
    .start()
    .await
    .unwrap();
    let run = clamator(&url, "c9", &["call", "inventory.reserve", "{}"]).await;
    server.stop().await;
    assert_eq!(run.code, 1, "{run:?}");
    assert!(
        run.stderr.contains("not enough stock (code 4009)"),
        "{run:?}"
    );
    assert!(run.stderr.contains("\"available\": 3"), "{run:?}");
    // Escaped, as everything from the wire is.
    assert!(
        run.stderr.contains("bell\\u{7}") || run.stderr.contains("bell\\u0007"),
        "{run:?}"
    );
    assert!(!run.stderr.contains('\u{7}'), "{run:?}");
}
