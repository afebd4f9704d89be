//! Contracts that drift apart: a newer server's extra result field, a newer client's extra
//! param, and the trace-context fields Rust clients add to a request, each met by a peer that
//! does not know them.

use std::time::Duration;

use serde_json::{json, Value};

use crate::generated::generated_python_client;
use crate::harness::{
    assert_rpc_error, calls, json_eq, probe_replies, raw_request_with, Env, Lang, ServerOpts,
};

#[test]
fn a_result_field_added_by_a_newer_python_server_does_not_break_a_rust_client() {
    use clamator_examples::generated::arith::{AddParams, ArithClient};
    let env = Env::new();
    let t = env.trial("newer-result", Lang::Python, Lang::Rust);
    let server = t.start_server(ServerOpts {
        newer_add: true,
        ..ServerOpts::default()
    });
    let rt = tokio::runtime::Runtime::new().unwrap();
    let sum = rt.block_on(async {
        let transport = clamator_redis::RedisTransport::connect(
            clamator_redis::TransportConfig::new(&t.prefix).redis_url(&t.client_url),
        )
        .await
        .unwrap();
        // The raw reply carries the new field; the generated type ignores it.
        let raw = clamator_protocol::Client::new(transport.clone())
            .call::<_, Value>("arith", "add", &json!({"a": 2, "b": 3}))
            .await
            .unwrap();
        assert_eq!(raw["estimatedDelivery"], "2026-12-01", "{raw}");
        let typed = ArithClient::new(transport.clone())
            .add(&AddParams::new(2.0, 3.0))
            .await;
        transport.stop().await;
        typed.unwrap().sum
    });
    assert_eq!(sum, 5.0);
    assert_eq!(server.stop(), 2);
    env.clean(&t.prefix);
}

/// The generated Python models of a result ignore keys they do not know, as the Rust and
/// TypeScript clients do: the committed (older) `arith` module decodes the reply of a server
/// whose `add` answers with one more field. (With `extra="forbid"` on result models, this
/// call failed with `extra_forbidden`.)
#[test]
fn a_result_field_added_by_a_newer_server_does_not_break_an_old_generated_python_client() {
    let env = Env::new();
    let t = env.trial("newer-result-py", Lang::Python, Lang::Python);
    let server = t.start_server(ServerOpts {
        newer_add: true,
        ..ServerOpts::default()
    });
    let calls = [
        json!({"case": "typed", "service": "arith", "method": "add", "params": {"a": 2, "b": 3}}),
        json!({"case": "raw", "service": "arith", "method": "add", "params": {"a": 2, "b": 3},
               "raw": true}),
    ];
    let out = generated_python_client(&t.client_url, &t.prefix, &calls);
    // The reply on the wire carries the new field ...
    let raw = &out["results"]["raw"];
    assert_eq!(raw["result"]["estimatedDelivery"], "2026-12-01", "{out}");
    // ... and the old generated model reads it, keeping the fields it knows.
    let typed = &out["results"]["typed"];
    assert_eq!(typed["kind"], "result", "{out}");
    assert!(json_eq(&typed["result"], &json!({"sum": 5})), "{out}");
    assert_eq!(server.stop(), 2);
    env.clean(&t.prefix);
}

#[test]
fn a_param_an_older_python_server_does_not_know_is_refused_with_invalid_params() {
    let env = Env::new();
    let t = env.trial("newer-param", Lang::Python, Lang::Rust);
    let x = t.exchange(
        ServerOpts::default(),
        calls(json!([
            {"method": "arith.add", "params": {"a": 1, "b": 2, "note": "gift wrap"}}
        ])),
    );
    assert_rpc_error(
        &x.results[0],
        -32602,
        "invalid params",
        "a param the server does not know",
    );
    // The handler never ran.
    assert_eq!(x.handled, 0);
    env.clean(&t.prefix);
}

/// A request carrying our trace-context fields (`traceparent`, `tracestate`, written after
/// clamator's by clients with the `opentelemetry` feature) is served by both servers as any
/// other: the Python peer ignores fields it does not know.
#[test]
fn trace_context_fields_are_ignored_by_peers_that_do_not_know_them() {
    let env = Env::new();
    for s in [Lang::Rust, Lang::Python] {
        // Raw requests stand for the client here, whatever its language.
        let t = env.trial("trace", s, Lang::Rust);
        let server = t.start_server(ServerOpts::default());
        raw_request_with(
            &env,
            &t.prefix,
            "arith",
            r#"{"jsonrpc":"2.0","id":"t1","method":"arith.add","params":{"a":2,"b":5}}"#,
            &[
                (
                    "traceparent",
                    "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
                ),
                ("tracestate", "congo=t61rcWkgMzE"),
            ],
        );
        let replies = probe_replies(&env, &t.prefix, 1, Duration::from_secs(10));
        assert_eq!(replies.len(), 1, "{s:?} server: {replies:?}");
        assert_eq!(replies[0]["id"], "t1");
        assert!(
            json_eq(&replies[0]["result"], &json!({"sum": 7})),
            "{:?}",
            replies[0]
        );
        assert_eq!(server.stop(), 1);
        env.clean(&t.prefix);
    }
}
