//! The command-line contract of `arith-server` and `arith-client`, which users rely on:
//! READY, one JSON line per call, exit codes, HANDLED:<n> at SIGTERM. (The crash tests of
//! server processes run the test kit's `fault-server`: clamator-testkit's tests/crashes.rs.)
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::io::Read;
use std::process::Command;
use std::time::Duration;

use clamator_testkit::local_redis::RedisProcess;
use clamator_testkit::process::{output_within, start_ready, wait_within, KillOnDrop, LineReader};
use serde_json::{json, Value};

/// The longest a program under test may take to answer, end or print its next line.
const LIMIT: Duration = Duration::from_secs(30);

/// Starts `arith-server` on `url` and `prefix` with `args` and waits for its READY; returns
/// the process (stderr piped) and the rest of its stdout.
fn start_server(url: &str, prefix: &str, args: &[&str]) -> (KillOnDrop, LineReader) {
    start_ready(
        Command::new(env!("CARGO_BIN_EXE_arith-server"))
            .args(["--redis-url", url, "--key-prefix", prefix])
            .args(args),
    )
}

fn client(url: &str, prefix: &str, args: &[&str]) -> (Value, i32) {
    let out = output_within(
        Command::new(env!("CARGO_BIN_EXE_arith-client"))
            .args(["--redis-url", url, "--key-prefix", prefix])
            .args(args),
        None,
        LIMIT,
    )
    .unwrap();
    let stdout = String::from_utf8(out.stdout).unwrap();
    let line: Value =
        serde_json::from_str(stdout.trim()).unwrap_or_else(|e| panic!("{e}: {stdout:?}"));
    (line, out.status.code().unwrap())
}

#[test]
fn arith_server_and_client_follow_their_cli_contract() {
    let redis = RedisProcess::start().unwrap();
    let url = redis.url();
    let prefix = "cli";
    let (mut server, stdout) = start_server(&url, prefix, &["--instance-id", "srv-A"]);

    assert_eq!(
        client(&url, prefix, &["arith.add", r#"{"a":2,"b":3}"#]),
        (
            json!({"ok": true, "kind": "result", "result": {"sum": 5.0}}),
            0
        )
    );
    assert_eq!(
        client(&url, prefix, &["arith.divide", r#"{"a":10,"b":0}"#]),
        (
            json!({"ok": false, "kind": "rpc-error", "code": -32000, "message": "division by zero", "data": null}),
            1
        )
    );
    let (line, code) = client(
        &url,
        prefix,
        &[
            "--timeout-ms",
            "100",
            "arith.slowAdd",
            r#"{"a":1,"b":2,"sleepMs":800}"#,
        ],
    );
    // The caller's own timer, or (on a loaded machine, first) the server's answer that the
    // call's deadline passed: either way a failure that says so, exit code 1.
    assert_eq!(code, 1, "{line}");
    match line["kind"].as_str() {
        Some("transport-error") => assert!(
            line["message"].as_str().unwrap().contains("timeout"),
            "{line}"
        ),
        Some("rpc-error") => assert_eq!(
            line["code"],
            clamator_redis::codes::DEADLINE_EXCEEDED,
            "{line}"
        ),
        _ => panic!("not a timeout: {line}"),
    }
    assert_eq!(
        client(
            &url,
            prefix,
            &["--notify", "notifications.ping", r#"{"tag":"x"}"#]
        ),
        (json!({"ok": true, "kind": "notification"}), 0)
    );
    assert_eq!(
        stdout.next_within(LIMIT).unwrap().as_deref(),
        Some(r#"{"pinged":"x"}"#)
    );
    // Bad arguments: exit 2, a message on stderr, nothing sent.
    let out = output_within(
        Command::new(env!("CARGO_BIN_EXE_arith-client")).args([
            "--redis-url",
            &url,
            "--key-prefix",
            prefix,
            "nodot",
        ]),
        None,
        LIMIT,
    )
    .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("<service>.<method>"));

    // SIGTERM, as the interop runner sends it.
    let status = Command::new("kill")
        .args(["-TERM", &server.0.id().to_string()])
        .status()
        .unwrap();
    assert!(status.success());
    let exit = wait_within(&mut server.0, LIMIT).unwrap();
    let mut stderr = String::new();
    server
        .0
        .stderr
        .take()
        .unwrap()
        .read_to_string(&mut stderr)
        .unwrap();
    assert!(exit.success(), "exit {exit:?}, stderr {stderr}");
    // add, divide, slowAdd and ping ran.
    assert_eq!(stderr.lines().last(), Some("HANDLED:4"), "{stderr}");
}

/// Without the `observability` feature the observability flags are refused with a usage
/// error that says how to get them, rather than silently ignored.
#[cfg(not(feature = "observability"))]
#[test]
fn observability_flags_without_the_feature_say_how_to_get_it() {
    let out = output_within(
        Command::new(env!("CARGO_BIN_EXE_arith-server")).args([
            "--key-prefix",
            "x",
            "--metrics-addr",
            "127.0.0.1:9",
        ]),
        None,
        LIMIT,
    )
    .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let said = String::from_utf8_lossy(&out.stderr);
    assert!(said.contains("--features observability"), "{said}");
}

#[test]
fn every_example_program_says_what_it_is() {
    for (binary, about) in [
        (
            env!("CARGO_BIN_EXE_quickstart"),
            "Run a clamator server and client over Redis",
        ),
        (
            env!("CARGO_BIN_EXE_arith-server"),
            "Serve the arith and notifications services over Redis Streams",
        ),
        (
            env!("CARGO_BIN_EXE_arith-client"),
            "Call a clamator service over Redis Streams",
        ),
    ] {
        let out = output_within(Command::new(binary).arg("--help"), None, LIMIT).unwrap();
        let help = String::from_utf8(out.stdout).unwrap();
        assert_eq!(out.status.code(), Some(0), "{binary}: {help}");
        assert!(help.starts_with(about), "{binary}: {help}");
        // The flags' own docs, never the doc comment of a type (with its code examples).
        assert!(!help.contains("```"), "{binary}: {help}");
        assert!(help.contains("Usage:"), "{binary}: {help}");
    }
    // The quickstart runs nothing when given what it does not take.
    let out = output_within(
        Command::new(env!("CARGO_BIN_EXE_quickstart")).arg("--bogus"),
        None,
        LIMIT,
    )
    .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(out.stdout.is_empty());
}
