//! Calls and notifications that succeed, both ways: what goes on the wire is read the same by
//! both languages (text, numbers, ids), one call or a hundred at once.

use std::time::Duration;

use serde_json::json;

use crate::harness::{
    assert_result, both_ways, calls, json_eq, probe_replies, raw_request, ServerOpts,
};

#[test]
fn basic_call() {
    both_ways("basic-call", |_, t| {
        let x = t.exchange(
            ServerOpts::default(),
            calls(json!([
                {"method": "arith.add", "params": {"a": 2, "b": 3}},
                {"method": "arith.echoText", "params": {"text": "hello"}},
            ])),
        );
        assert_result(&x.results[0], json!({"sum": 5}), "add");
        assert_result(&x.results[1], json!({"text": "hello"}), "echoText");
        assert_eq!(x.handled, 2);
    });
}

#[test]
fn hundred_concurrent_calls() {
    both_ways("concurrent", |_, t| {
        let mut input = calls(json!([{"method": "arith.add", "params": {"a": 1, "b": 1}}]));
        input["concurrent"] = json!(100);
        let x = t.exchange(ServerOpts::default(), input);
        assert_eq!(x.results.len(), 100);
        for r in &x.results {
            assert_result(r, json!({"sum": 2}), "concurrent add");
        }
        assert_eq!(x.handled, 100);
    });
}

#[test]
fn notifications_are_delivered_and_handled() {
    both_ways("notification", |_, t| {
        let x = t.exchange_then(
            ServerOpts::default(),
            calls(json!([
                {"method": "notifications.ping", "params": {"tag": "x"}, "notification": true},
                // An unset optional field: Rust omits it, and a Python proxy would send null.
                {"method": "notifications.ping", "params": {"tag": null}, "notification": true},
            ])),
            |server| server.wait_for_pings(2),
        );
        assert_eq!(x.results[0]["kind"], "notification");
        assert_eq!(x.results[1]["kind"], "notification");
        assert_eq!(
            x.pings,
            vec![json!({"pinged": "x"}), json!({"pinged": null})]
        );
        assert_eq!(x.handled, 2);
    });
}

#[test]
fn client_timeout() {
    both_ways("timeout", |_, t| {
        let mut input =
            calls(json!([{"method": "arith.slowAdd", "params": {"a": 1, "b": 2, "sleepMs": 800}}]));
        input["defaultTimeoutMs"] = json!(100);
        let r = &t.exchange(ServerOpts::default(), input).results[0];
        assert_eq!(r["kind"], "transport-error", "{r}");
        assert!(
            r["message"]
                .as_str()
                .unwrap()
                .to_lowercase()
                .contains("timeout"),
            "{r}"
        );
    });
}

#[test]
fn non_ascii_text_both_ways() {
    // Python escapes it as \uXXXX (surrogate pairs for emoji); Rust writes raw UTF-8.
    let text = "héllo wörld ✓ 日本語 😀";
    both_ways("non-ascii", |_, t| {
        let x = t.exchange(
            ServerOpts::default(),
            calls(json!([{"method": "arith.echoText", "params": {"text": text}}])),
        );
        assert_result(&x.results[0], json!({"text": text}), "echoText");
    });
}

#[test]
fn numbers_written_as_floats() {
    // Python writes `5.0` for floats; integers may arrive as `10.0` too.
    both_ways("floats", |_, t| {
        let x = t.exchange(
            ServerOpts::default(),
            calls(json!([
                {"method": "arith.add", "params": {"a": 2.0, "b": 3.5}},
                {"method": "arith.slowAdd", "params": {"a": 1, "b": 2, "sleepMs": 10.0}},
            ])),
        );
        assert_result(&x.results[0], json!({"sum": 5.5}), "add of floats");
        assert_result(
            &x.results[1],
            json!({"sum": 3}),
            "slowAdd with sleepMs 10.0",
        );
    });
}

#[test]
fn integer_ids_are_echoed_as_integers() {
    both_ways("integer-ids", |env, t| {
        let server = t.start_server(ServerOpts::default());
        let prefix = &t.prefix;
        raw_request(
            env,
            prefix,
            "arith",
            r#"{"jsonrpc": "2.0", "method": "arith.add", "params": {"a": 2, "b": 3}, "id": 42}"#,
        );
        let replies = probe_replies(env, prefix, 1, Duration::from_secs(10));
        let reply = replies
            .first()
            .unwrap_or_else(|| panic!("no reply to an integer id"));
        assert_eq!(reply["id"], json!(42), "{reply}");
        assert!(json_eq(&reply["result"], &json!({"sum": 5})), "{reply}");
        // An id beyond 64 bits comes back digit for digit from both servers.
        let big = "123456789012345678901234567890";
        raw_request(
            env,
            prefix,
            "arith",
            &format!(
                r#"{{"jsonrpc": "2.0", "method": "arith.add", "params": {{"a": 1, "b": 1}}, "id": {big}}}"#
            ),
        );
        probe_replies(env, prefix, 2, Duration::from_secs(10));
        let r: redis::streams::StreamRangeReply = redis::cmd("XRANGE")
            .arg(format!("{prefix}:replies:probe"))
            .arg("-")
            .arg("+")
            .query(&mut env.raw())
            .unwrap();
        let text: String = r
            .ids
            .get(1)
            .and_then(|e| e.get("envelope"))
            .unwrap_or_default();
        let compact: String = text.chars().filter(|c| *c != ' ').collect();
        assert!(compact.contains(&format!(r#""id":{big}"#)), "{text}");
        server.stop();
    });
}
