//! Plain calls and bad input: round trips and their wire format, errors and their codes,
//! notifications, client timeouts, TLS; malformed, oversized and peer-style entries,
//! reply-to streams a request may not name, and params made to stall a hostile pattern.

use std::time::{Duration, Instant};

use clamator_examples::arith::{
    AddParams, AddResult, ArithClient, DivideResult, EchoTextParams, PingParams, SlowAddParams,
};
use clamator_protocol::{codes, CallOptions, Client, Method, SchemaValidator, Service};
use clamator_redis::{RedisServer, ServiceOptions};
use clamator_tests::{
    pending_count, report, stream_envelopes, wait_all_acked, wait_for, xadd, TestRedis, WAIT,
};
use serde_json::{json, Value};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn round_trip_and_wire_format() {
    let t = TestRedis::start();
    let h = t.arith(t.server_config(), 1).await;

    let r = h.arith.add(&AddParams { a: 2.0, b: 3.0 }).await.unwrap();
    assert_eq!(r, AddResult { sum: 5.0 });
    let text = "héllo wörld ✓ 日本";
    let r = h
        .arith
        .echo_text(&EchoTextParams { text: text.into() })
        .await
        .unwrap();
    assert_eq!(r.text, text);
    assert_eq!(h.handled.get(), 2);

    // What went over the wire is clamator's format, field for field.
    let mut raw = t.raw().await;
    let entries: redis::streams::StreamRangeReply = redis::cmd("XRANGE")
        .arg(t.cmds("arith"))
        .arg("-")
        .arg("+")
        .query_async(&mut raw)
        .await
        .unwrap();
    let first = &entries.ids[0];
    assert_eq!(first.get::<String>("type").as_deref(), Some("rpc"));
    assert_eq!(
        first.get::<String>("reply-to").as_deref(),
        Some(h.transport.reply_stream())
    );
    let env: Value = serde_json::from_str(&first.get::<String>("envelope").unwrap()).unwrap();
    let keys: Vec<&str> = env
        .as_object()
        .unwrap()
        .keys()
        .map(String::as_str)
        .collect();
    assert_eq!(keys, ["jsonrpc", "method", "params", "id"]);
    assert_eq!(env["method"], "arith.add");
    assert_eq!(env["id"].as_str().unwrap().len(), 36);
    let replies = stream_envelopes(&mut raw, h.transport.reply_stream()).await;
    assert_eq!(
        replies[0],
        json!({"jsonrpc": "2.0", "id": env["id"], "result": {"sum": 5.0}})
    );
    wait_all_acked(&raw, &t.cmds("arith"), "arith").await;

    // The reply stream goes away with the client.
    h.transport.stop().await;
    let exists: i64 = redis::cmd("EXISTS")
        .arg(h.transport.reply_stream())
        .query_async(&mut raw)
        .await
        .unwrap();
    assert_eq!(exists, 0);
    let err = h
        .arith
        .add(&AddParams { a: 1.0, b: 1.0 })
        .await
        .unwrap_err();
    assert!(
        err.is_transport() && err.to_string().contains("stopped"),
        "{err}"
    );
    h.server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn errors_map_to_their_codes() {
    let t = TestRedis::start();
    let h = t.arith(t.server_config(), 1).await;
    let client = &h.client;

    let err = client
        .call::<_, DivideResult>("arith", "divide", &AddParams { a: 10.0, b: 0.0 })
        .await
        .unwrap_err();
    assert!(err.is_rpc());
    assert_eq!(err.code(), Some(-32000));
    assert_eq!(err.as_rpc().unwrap().message, "division by zero");
    assert_eq!(err.as_rpc().unwrap().data, Value::Null);

    let err = client
        .call::<_, Value>("arith", "nope", &json!({}))
        .await
        .unwrap_err();
    assert_eq!(err.code(), Some(codes::METHOD_NOT_FOUND));

    let err = client
        .call::<_, Value>("arith", "add", &json!({"a": "two", "b": 3}))
        .await
        .unwrap_err();
    assert_eq!(err.code(), Some(codes::INVALID_PARAMS));
    assert_eq!(err.as_rpc().unwrap().data["errors"][0]["path"], "/a");

    let err = client
        .call::<_, Value>("arith", "slowAdd", &json!({"a": 1, "b": 2, "sleepMs": -1}))
        .await
        .unwrap_err();
    assert_eq!(err.code(), Some(codes::INVALID_PARAMS));
    assert_eq!(err.as_rpc().unwrap().data["errors"][0]["path"], "/sleepMs");

    // A result that does not decode into the caller's type is a protocol error, not a panic.
    let err = client
        .call::<_, DivideResult>("arith", "add", &AddParams { a: 1.0, b: 1.0 })
        .await
        .unwrap_err();
    assert!(err.is_protocol(), "{err}");
    h.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn notifications_are_handled_and_never_answered() {
    let t = TestRedis::start();
    let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel();
    let h = t
        .serve(
            RedisServer::builder(t.server_config()).service(
                clamator_examples::arith::notifications_service(Default::default(), move |tag| {
                    let _ = tx.send(tag);
                })
                .unwrap(),
            ),
        )
        .await;
    h.client
        .notify(
            "notifications",
            "ping",
            &PingParams {
                tag: Some("x".into()),
            },
        )
        .await
        .unwrap();
    h.client
        .notify("notifications", "ping", &PingParams { tag: None })
        .await
        .unwrap();
    let got = tokio::time::timeout(WAIT, async { (rx.recv().await, rx.recv().await) })
        .await
        .unwrap();
    assert_eq!(got, (Some(Some("x".to_owned())), Some(None)));

    let mut raw = t.raw().await;
    // An unset optional field is omitted on the wire, not sent as null; no reply-to field.
    let sent: redis::streams::StreamRangeReply = redis::cmd("XRANGE")
        .arg(t.cmds("notifications"))
        .arg("-")
        .arg("+")
        .query_async(&mut raw)
        .await
        .unwrap();
    assert!(sent.ids[1].get::<String>("reply-to").is_none());
    let env: Value = serde_json::from_str(&sent.ids[1].get::<String>("envelope").unwrap()).unwrap();
    assert_eq!(
        env,
        json!({"jsonrpc": "2.0", "method": "notifications.ping", "params": {}})
    );
    wait_for("both pings acked", WAIT, || {
        let mut raw = raw.clone();
        let key = t.cmds("notifications");
        async move { pending_count(&mut raw, &key, "notifications").await == 0 }
    })
    .await;
    let replies: i64 = redis::cmd("XLEN")
        .arg(h.transport.reply_stream())
        .query_async(&mut raw)
        .await
        .unwrap();
    assert_eq!(replies, 0, "a notification was answered");
    h.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn client_timeout_against_a_slow_handler() {
    let t = TestRedis::start();
    let h = t.arith(t.server_config(), 1).await;
    let err = h
        .arith
        .slow_add_with(
            &SlowAddParams {
                a: 1.0,
                b: 2.0,
                sleep_ms: 800,
            },
            CallOptions::timeout(Duration::from_millis(100)),
        )
        .await
        .unwrap_err();
    clamator_tests::assert_deadline_passed(&err);
    // The late reply arrives and is dropped; the next call gets its own reply.
    let r = h
        .arith
        .add_with(&AddParams { a: 1.0, b: 1.0 }, CallOptions::timeout(WAIT))
        .await
        .unwrap();
    assert_eq!(r.sum, 2.0);
    h.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tls_through_rediss_urls() {
    let process = clamator_testkit::local_redis::RedisProcess::start_tls().unwrap();
    let url = process.url();
    assert!(url.starts_with("rediss://"));
    let ca = process.ca_cert_pem().unwrap();
    let handled = clamator_examples::arith::Counter::default();
    let server = RedisServer::builder(
        clamator_redis::ServerConfig::new("tls")
            .redis_url(&url)
            .tls_ca_cert(ca.clone()),
    )
    .service(clamator_examples::arith::arith_service(handled.clone()).unwrap())
    .start()
    .await
    .unwrap();
    let transport = clamator_redis::RedisTransport::connect(
        clamator_redis::TransportConfig::new("tls")
            .redis_url(&url)
            .tls_ca_cert(ca),
    )
    .await
    .unwrap();
    let r: AddResult = clamator_protocol::Client::new(transport.clone())
        .call("arith", "add", &AddParams { a: 2.0, b: 3.0 })
        .await
        .unwrap();
    assert_eq!(r.sum, 5.0);
    assert_eq!(handled.get(), 1);
    // Without trusting the private CA, the TLS handshake is refused.
    let err = clamator_redis::RedisTransport::connect(
        clamator_redis::TransportConfig::new("tls").redis_url(&url),
    )
    .await
    .unwrap_err();
    assert!(err.is_transport(), "{err}");
    transport.stop().await;
    server.stop().await;
}

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
    // Every refused entry is kept in the dead-letter stream, each with why: the nine
    // before the good request, in order.
    let dlq =
        clamator_redis::DeadLetters::connect(&clamator_redis::RedisTarget::new(t.url()), &t.prefix)
            .await
            .unwrap();
    let letters = dlq.list("arith", 20).await.unwrap();
    assert_eq!(letters.len(), cases.len() - 1);
    assert!(letters.iter().all(|l| l.reason == "malformed"));
    let errors: Vec<&str> = letters.iter().map(|l| l.error.as_str()).collect();
    assert!(errors[5].contains("no envelope field"), "{}", errors[5]);
    assert!(
        errors[6].contains("outside the reply namespace"),
        "{}",
        errors[6]
    );
    assert!(errors[7].contains("no instance id"), "{}", errors[7]);
    assert!(errors[8].contains("response envelope"), "{}", errors[8]);
    assert_eq!(
        letters[8].envelope.as_deref(),
        Some(r#"{"jsonrpc":"2.0","id":"resp","result":1}"#)
    );
    // Each letter is counted as what it is: malformed, and dead-lettered.
    let stats = server.stats();
    assert_eq!((stats.malformed, stats.dead_lettered), (9, 9), "{stats:?}");
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
        // Python integers have no bound; such an id comes back digit for digit.
        r#"{"jsonrpc": "2.0", "method": "arith.add", "params": {"a": 1, "b": 1}, "id": 123456789012345678901234567890}"#,
    ];
    for env in requests {
        xadd(
            &raw,
            &stream,
            &[("type", "rpc"), ("envelope", env), ("reply-to", &probe)],
        )
        .await;
    }
    let replies = clamator_tests::wait_for_envelopes(&raw, &probe, 5).await;
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
    let last: redis::streams::StreamRangeReply = redis::cmd("XRANGE")
        .arg(&probe)
        .arg("-")
        .arg("+")
        .query_async(&mut raw)
        .await
        .unwrap();
    let text: String = last.ids[4].get("envelope").unwrap();
    assert_eq!(
        text,
        r#"{"jsonrpc":"2.0","id":123456789012345678901234567890,"result":{"sum":2.0}}"#
    );
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ids_past_a_float_are_answered_and_non_finite_numbers_are_refused_as_documented() {
    let t = TestRedis::start();
    let (server, handled) = t.arith_server(t.server_config(), 1).await;
    let raw = t.raw().await;
    let probe = format!("{}:replies:py", t.prefix);
    let stream = t.cmds("arith");
    // 400 digits: no float holds it (the JSON reader refused the whole envelope, -32700);
    // the Python peer reads it, and so do we.
    let big = format!("7{}", "3".repeat(399));
    let requests = [
        format!(
            r#"{{"jsonrpc": "2.0", "method": "arith.add", "params": {{"a": 1, "b": 1}}, "id": {big}}}"#
        ),
        // Python's json reads NaN and Infinity; JSON has neither, and we refuse them.
        r#"{"jsonrpc": "2.0", "method": "arith.add", "params": {"a": NaN, "b": 1}, "id": "nan"}"#
            .to_owned(),
    ];
    for env in &requests {
        xadd(
            &raw,
            &stream,
            &[("type", "rpc"), ("envelope", env), ("reply-to", &probe)],
        )
        .await;
    }
    let read = || async {
        let reply: redis::streams::StreamRangeReply = redis::cmd("XRANGE")
            .arg(&probe)
            .arg("-")
            .arg("+")
            .query_async(&mut raw.clone())
            .await
            .unwrap();
        reply
            .ids
            .iter()
            .filter_map(|e| e.get::<String>("envelope"))
            .collect::<Vec<_>>()
    };
    wait_for("two replies", WAIT, || async { read().await.len() == 2 }).await;
    let replies = read().await;
    assert_eq!(
        replies[0],
        format!(r#"{{"jsonrpc":"2.0","id":{big},"result":{{"sum":2.0}}}}"#)
    );
    let refused: serde_json::Value = serde_json::from_str(&replies[1]).unwrap();
    assert_eq!(refused["id"], "nan");
    assert_eq!(refused["error"]["code"], codes::PARSE_ERROR);
    assert_eq!(handled.get(), 1);
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_transport_told_to_fail_fast_refuses_calls_to_a_service_nobody_serves() {
    let t = TestRedis::start();
    let transport = t
        .transport_with(t.transport_config().fail_fast_without_server(true))
        .await;
    let arith = ArithClient::new(transport.clone());
    let err = arith
        .add_with(&AddParams::new(1.0, 2.0), CallOptions::timeout(WAIT))
        .await
        .unwrap_err();
    assert!(err.is_transport(), "{err}");
    assert!(
        err.to_string().contains("no server serves \"arith\""),
        "{err}"
    );
    let client = Client::new(transport.clone());
    let err = client
        .notify("arith", "add", &json!({"a": 1, "b": 2}))
        .await
        .unwrap_err();
    assert!(err.is_transport(), "{err}");
    // Nothing was sent: the command stream was never created.
    let exists: i64 = redis::cmd("EXISTS")
        .arg(t.cmds("arith"))
        .query_async(&mut t.raw().await)
        .await
        .unwrap();
    assert_eq!(exists, 0);
    // Once a server serves it, calls go through.
    let (server, handled) = t.arith_server(t.server_config(), 1).await;
    let r = arith
        .add_with(&AddParams::new(1.0, 2.0), CallOptions::timeout(WAIT))
        .await
        .unwrap();
    assert_eq!(r.sum, 3.0);
    assert_eq!(handled.get(), 1);
    transport.stop().await;
    server.stop().await;
}

/// A runtime of its own for a server, shut down without waiting when dropped (even from
/// inside the test's runtime, where waiting is not allowed).
struct ServerRuntime(Option<tokio::runtime::Runtime>);

impl Drop for ServerRuntime {
    fn drop(&mut self) {
        if let Some(rt) = self.0.take() {
            rt.shutdown_background();
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn params_made_to_stall_a_backtracking_pattern_are_refused_and_others_are_served() {
    // A contract whose pattern only the backtracking engine takes (lookahead), and which
    // tries every way of splitting a run of `a`s that does not end the match.
    let t = TestRedis::start();
    let schema = SchemaValidator::new(json!({
        "type": "object",
        "properties": {"xs": {"type": "array", "items": {"type": "string", "pattern": "^((?=a)a+)+$"}}},
        "required": ["xs"]
    }))
    .unwrap()
    .accepting_null_for_optional();
    let service = Service::builder("regexes")
        .add(
            "check",
            Method::new(|_: Value| async move { Ok(json!(true)) }).params_validator(schema),
        )
        .method("ping", |_: Value| async move { Ok(json!("pong")) })
        .build()
        .unwrap();
    // The server on a runtime with one worker: what a request holds there, it holds from
    // every other call and from the renewal of leases.
    let server_rt = ServerRuntime(Some(
        tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .enable_all()
            .build()
            .unwrap(),
    ));
    let on_server = server_rt.0.as_ref().unwrap().handle().clone();
    let builder = RedisServer::builder(t.server_config())
        .service_with(service, ServiceOptions::new().concurrency(4));
    let server = on_server
        .spawn(async move { builder.start().await.unwrap() })
        .await
        .unwrap();
    let transport = t.transport().await;
    let client = Client::new(transport.clone());
    let call = CallOptions::timeout(Duration::from_secs(60));
    assert_eq!(
        client
            .call_value("regexes", "check", &json!({"xs": ["aaa"]}), call.clone())
            .await
            .unwrap(),
        json!(true)
    );

    // 600 distinct strings (21 KB), every one of them a worst case; three such requests.
    let xs: Vec<String> = (0..600)
        .map(|i| format!("{}!{i:03}", "a".repeat(30)))
        .collect();
    let params = json!({"xs": xs});
    assert!(params.to_string().len() > 21_000);
    let started = Instant::now();
    let hostile: Vec<_> = (0..3)
        .map(|_| {
            let (client, params, call) = (client.clone(), params.clone(), call.clone());
            tokio::spawn(async move {
                let outcome = client.call_value("regexes", "check", &params, call).await;
                (outcome, started.elapsed())
            })
        })
        .collect();
    tokio::time::sleep(Duration::from_millis(200)).await;
    let pinged = Instant::now();
    let pong = client
        .call_value("regexes", "ping", &json!({}), call.clone())
        .await;
    let ping_took = pinged.elapsed();
    // generous bounds: unbudgeted, one such request held the worker for minutes
    assert_eq!(pong.unwrap(), json!("pong"));
    assert!(
        ping_took < Duration::from_secs(5),
        "the ping took {ping_took:?}"
    );
    let mut slowest = Duration::ZERO;
    for answer in hostile {
        let (outcome, took) = answer.await.unwrap();
        slowest = slowest.max(took);
        let err = outcome.unwrap_err();
        assert_eq!(err.code(), Some(codes::INVALID_PARAMS), "{err}");
        let data = err.as_rpc().unwrap().data.clone();
        let budget: Vec<&Value> = data["errors"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|e| {
                e["message"]
                    .as_str()
                    .unwrap()
                    .starts_with("pattern check budget exceeded (")
            })
            .collect();
        assert_eq!(budget.len(), 1, "{data}");
        assert!(
            budget[0]["path"].as_str().unwrap().starts_with("/xs/"),
            "{data}"
        );
        assert!(took < Duration::from_secs(5), "the refusal took {took:?}");
    }
    report(&format!(
        "hostile pattern: 3 requests of 21 KB refused within {slowest:?}, a ping answered in {ping_took:?}"
    ));
    transport.stop().await;
    on_server
        .spawn(async move { server.stop().await })
        .await
        .unwrap();
}
