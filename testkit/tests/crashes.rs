//! Crash tests of server processes: the test kit's `fault-server` (the example arith server
//! with the test-only fault flags) killed with SIGKILL, stopped with SIGSTOP, aborted by a
//! poison request, or aborted between a reply and its ack, while a client waits for its
//! answer; and as an event subscriber (`--subscribe`), killed with SIGKILL mid-handler or
//! aborted between its handler and its ack. Each prints the figures the reliability docs
//! quote (calls made, answered, failed, duplicated; events published, handled, lost,
//! duplicated).
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::print_stdout
)]

use std::io::Read;
use std::process::{Command, Output};
use std::time::Duration;

use clamator_testkit::local_redis::{cli_binary, RedisProcess};
use clamator_testkit::process::{output_within, start_ready, wait_within, KillOnDrop, LineReader};
use serde_json::{json, Value};

/// The longest a program under test may take to end.
const LIMIT: Duration = Duration::from_secs(60);

/// Runs `command` to its end (at most [`LIMIT`]).
fn run(command: &mut Command) -> Output {
    output_within(command, None, LIMIT).unwrap()
}

/// Starts `fault-server` on `url` and `prefix` with `args` and waits for its READY; returns
/// the process (stderr piped) and the rest of its stdout.
fn start_server(url: &str, prefix: &str, args: &[&str]) -> (KillOnDrop, LineReader) {
    start_ready(
        Command::new(env!("CARGO_BIN_EXE_fault-server"))
            .args(["--redis-url", url, "--key-prefix", prefix])
            .args(args),
    )
}

/// One call of `method` with `params` (JSON text) through the test kit's `interop-client`:
/// the outcome line, and the exit code `arith-client` would give it (0 when ok, else 1).
fn client(url: &str, prefix: &str, timeout_ms: u64, method: &str, params: &str) -> (Value, i32) {
    let params: Value = serde_json::from_str(params).unwrap();
    let input = json!({
        "redisUrl": url, "keyPrefix": prefix, "defaultTimeoutMs": timeout_ms,
        "calls": [{"method": method, "params": params}],
    });
    let out = output_within(
        &mut Command::new(env!("CARGO_BIN_EXE_interop-client")),
        Some(input.to_string().as_bytes()),
        LIMIT,
    )
    .unwrap();
    let stdout = String::from_utf8(out.stdout).unwrap();
    let printed: Value =
        serde_json::from_str(stdout.trim()).unwrap_or_else(|e| panic!("{e}: {stdout:?}"));
    let line = printed["results"][0].clone();
    let code = if line["ok"] == true { 0 } else { 1 };
    (line, code)
}

#[test]
fn a_killed_servers_work_completes_on_another_server() {
    let redis = RedisProcess::start().unwrap();
    let url = redis.url();
    let prefix = "crash";
    let start = |id: &str| {
        start_server(
            &url,
            prefix,
            &["--instance-id", id, "--claim-idle-ms", "200"],
        )
        .0
    };
    let mut first = start("srv-A");
    // The call goes to srv-A, the only server; srv-A dies in the middle of the handler.
    let url2 = url.clone();
    let call = std::thread::spawn(move || {
        client(
            &url2,
            prefix,
            20_000,
            "arith.slowAdd",
            r#"{"a":1,"b":2,"sleepMs":1500}"#,
        )
    });
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    loop {
        let out = run(Command::new(cli_binary()).args([
            "-u",
            &url,
            "XPENDING",
            "crash:cmds:arith",
            "arith",
        ]));
        if String::from_utf8_lossy(&out.stdout).contains("arith:srv-A") {
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "srv-A never took the request"
        );
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    first.0.kill().unwrap();
    wait_within(&mut first.0, LIMIT).unwrap();
    let _second = start("srv-B");
    assert_eq!(
        call.join().unwrap(),
        (
            json!({"ok": true, "kind": "result", "result": {"sum": 3.0}}),
            0
        )
    );
}

#[test]
fn a_poison_request_lands_in_the_dead_letter_stream_after_max_deliveries() {
    let redis = RedisProcess::start().unwrap();
    let url = redis.url();
    let prefix = "poison";
    let start = || {
        start_server(
            &url,
            prefix,
            &[
                "--faulty",
                "--claim-idle-ms",
                "200",
                "--max-deliveries",
                "2",
            ],
        )
        .0
    };
    let mut server = start();
    let url2 = url.clone();
    let call = std::thread::spawn(move || client(&url2, prefix, 30_000, "faulty.crash", "{}"));
    // Each delivery kills the server; restart it until the request is dead-lettered.
    let mut crashes = 0;
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    while !call.is_finished() {
        assert!(
            std::time::Instant::now() < deadline,
            "the poison request was never dead-lettered"
        );
        if server.0.try_wait().unwrap().is_some() {
            crashes += 1;
            server = start();
        }
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    let (line, code) = call.join().unwrap();
    println!("poison: calls made 1, answered 1 (as dead-lettered), failed 0, duplicated {} (handler runs that crashed: {crashes})", crashes.max(1) - 1);
    assert_eq!(code, 1);
    assert_eq!(line["code"], -32050, "{line}");
    assert_eq!(line["message"], "Request dead-lettered");
    assert_eq!(
        line["data"],
        json!({"reason": "max-deliveries", "deliveries": 3})
    );
    assert_eq!(
        crashes, 2,
        "the handler should crash once per allowed delivery"
    );
    let letters = tokio::runtime::Runtime::new().unwrap().block_on(async {
        let dlq =
            clamator_redis::DeadLetters::connect(&clamator_redis::RedisTarget::new(&url), prefix)
                .await
                .unwrap();
        dlq.list("faulty", 10).await.unwrap()
    });
    assert_eq!(letters.len(), 1);
    assert_eq!(
        (letters[0].reason.as_str(), letters[0].deliveries),
        ("max-deliveries", 3)
    );
    assert!(letters[0]
        .envelope
        .as_deref()
        .unwrap()
        .contains("faulty.crash"));
}

#[test]
fn exactly_once_a_crash_between_reply_and_ack_runs_the_handler_once() {
    let redis = RedisProcess::start().unwrap();
    let url = redis.url();
    let prefix = "once";
    let marker = redis.dir().join("crashed-after-reply");
    let start = |extra: &[&str]| {
        let args = [&["--exactly-once", "--claim-idle-ms", "200"], extra].concat();
        start_server(&url, prefix, &args).0
    };
    // srv-A runs the handler, writes the reply, and dies before acknowledging.
    let mut first = start(&[
        "--instance-id",
        "srv-A",
        "--fault-abort-after-reply-once",
        marker.to_str().unwrap(),
    ]);
    let (line, code) = client(&url, prefix, 10_000, "arith.add", r#"{"a":2,"b":3}"#);
    assert_eq!(
        (line["result"]["sum"].as_f64(), code),
        (Some(5.0), 0),
        "{line}"
    );
    let status = wait_within(&mut first.0, LIMIT).unwrap();
    assert!(
        !status.success() && marker.exists(),
        "srv-A did not crash between reply and ack"
    );
    // srv-B reclaims the unacknowledged entry and answers from the idempotency record.
    let mut second = start(&["--instance-id", "srv-B"]);
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    loop {
        let out = run(Command::new(cli_binary()).args([
            "-u",
            &url,
            "XPENDING",
            "once:cmds:arith",
            "arith",
        ]));
        if String::from_utf8_lossy(&out.stdout).lines().next() == Some("0") {
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "the crashed entry was never acknowledged"
        );
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    let status = Command::new("kill")
        .args(["-TERM", &second.0.id().to_string()])
        .status()
        .unwrap();
    assert!(status.success());
    wait_within(&mut second.0, LIMIT).unwrap();
    let mut stderr = String::new();
    second
        .0
        .stderr
        .take()
        .unwrap()
        .read_to_string(&mut stderr)
        .unwrap();
    println!(
        "exactly-once crash: calls made 1, answered 1, failed 0, duplicated 0 (srv-B {})",
        stderr.lines().last().unwrap_or("")
    );
    assert_eq!(
        stderr.lines().last(),
        Some("HANDLED:0"),
        "the handler ran again after the crash: {stderr}"
    );
}

/// The owner of the one pending entry of `<prefix>:cmds:arith`, if any.
fn pending_owner(url: &str, prefix: &str) -> Option<String> {
    let out = run(Command::new(cli_binary()).args([
        "-u",
        url,
        "XPENDING",
        &format!("{prefix}:cmds:arith"),
        "arith",
        "-",
        "+",
        "1",
    ]));
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    text.lines().nth(1).map(str::to_owned)
}

#[test]
fn a_paused_server_does_not_answer_what_another_server_reclaimed_meanwhile() {
    let redis = RedisProcess::start().unwrap();
    let url = redis.url();
    let prefix = "paused";
    let start = |id: &str| {
        start_server(
            &url,
            prefix,
            &["--instance-id", id, "--claim-idle-ms", "1000"],
        )
        .0
    };
    let mut first = start("srv-A");
    // A request without a deadline (as clamator's peers send them), taking 2.5 s.
    let envelope = r#"{"jsonrpc":"2.0","id":"once","method":"arith.slowAdd","params":{"a":1,"b":2,"sleepMs":2500}}"#;
    let added = run(Command::new(cli_binary())
        .args([
            "-u",
            &url,
            "XADD",
            "paused:cmds:arith",
            "*",
            "type",
            "rpc",
            "envelope",
            envelope,
        ])
        .args(["reply-to", "paused:replies:probe"]));
    assert!(added.status.success());
    let wait_for = |what: &str, done: &dyn Fn() -> bool| {
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
        while !done() {
            assert!(
                std::time::Instant::now() < deadline,
                "gave up waiting for {what}"
            );
            std::thread::sleep(std::time::Duration::from_millis(20));
        }
    };
    wait_for("srv-A to take the request", &|| {
        pending_owner(&url, prefix).is_some_and(|o| o == "arith:srv-A")
    });
    // srv-A stops mid-handler (SIGSTOP); srv-B reclaims the entry past the claim idle time.
    let pid = first.0.id().to_string();
    assert!(Command::new("kill")
        .args(["-STOP", &pid])
        .status()
        .unwrap()
        .success());
    let mut second = start("srv-B");
    wait_for("srv-B to reclaim the request", &|| {
        pending_owner(&url, prefix).is_some_and(|o| o == "arith:srv-B")
    });
    // srv-A resumes: its handler's sleep is long over, but the entry is no longer its own.
    assert!(Command::new("kill")
        .args(["-CONT", &pid])
        .status()
        .unwrap()
        .success());
    let replies = || {
        let out =
            run(Command::new(cli_binary()).args(["-u", &url, "XLEN", "paused:replies:probe"]));
        String::from_utf8_lossy(&out.stdout)
            .trim()
            .parse::<usize>()
            .unwrap_or(0)
    };
    wait_for("an answer", &|| replies() >= 1);
    // Both drain and exit (srv-B's handler finishes within its grace period): whatever
    // either would still write is written by then.
    for server in [&mut first, &mut second] {
        let pid = server.0.id().to_string();
        assert!(Command::new("kill")
            .args(["-TERM", &pid])
            .status()
            .unwrap()
            .success());
        assert!(wait_within(&mut server.0, LIMIT).unwrap().success());
    }
    assert_eq!(replies(), 1, "the request was answered twice");
    // Acknowledged once, by srv-B; srv-A's lease renewal did not take it back.
    assert_eq!(pending_owner(&url, prefix), None);
}

/// Publishes `orders.orderPlaced` events `{"n", "sleepMs"}` onto `<prefix>:events:orders`,
/// as a publisher would; returns their entry ids.
fn publish(url: &str, prefix: &str, events: &[(u64, u64)]) -> Vec<String> {
    tokio::runtime::Runtime::new().unwrap().block_on(async {
        let config = clamator_redis::TransportConfig::new(prefix).redis_url(url);
        let transport = clamator_redis::RedisTransport::connect(config)
            .await
            .unwrap();
        let mut ids = Vec::new();
        for (n, sleep_ms) in events {
            let payload = json!({ "n": n, "sleepMs": sleep_ms });
            ids.push(
                transport
                    .publish_event("orders", "orderPlaced", &payload)
                    .await
                    .unwrap(),
            );
        }
        transport.stop().await;
        ids
    })
}

/// The handler runs the `fault-server`s of a test logged: (instance id, event `n`), in the
/// order they started.
fn event_runs(log: &std::path::Path) -> Vec<(String, u64)> {
    let text = std::fs::read_to_string(log).unwrap_or_default();
    text.lines()
        .map(|l| {
            let (instance, n) = l.split_once(' ').unwrap();
            (instance.to_owned(), n.parse().unwrap())
        })
        .collect()
}

/// `XPENDING <stream> <group>`'s summary: how many entries are pending, and the smallest
/// pending id.
fn pending_summary(url: &str, stream: &str, group: &str) -> (u64, Option<String>) {
    let out = run(Command::new(cli_binary()).args(["-u", url, "XPENDING", stream, group]));
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    let mut lines = text.lines();
    let count = lines
        .next()
        .and_then(|l| l.trim().parse().ok())
        .unwrap_or(0);
    let first = lines
        .next()
        .map(|l| l.trim().to_owned())
        .filter(|l| !l.is_empty());
    (count, first)
}

/// Polls `done` every 20 ms for up to 20 s.
fn wait_until(what: &str, done: &mut dyn FnMut() -> bool) {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
    while !done() {
        assert!(
            std::time::Instant::now() < deadline,
            "gave up waiting for {what}"
        );
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
}

/// Sends SIGTERM (a graceful stop) and returns the last line of the server's stderr, its
/// `HANDLED:<n>`.
fn stop_and_count(server: &mut KillOnDrop) -> String {
    let pid = server.0.id().to_string();
    assert!(Command::new("kill")
        .args(["-TERM", &pid])
        .status()
        .unwrap()
        .success());
    server.0.wait().unwrap();
    let mut stderr = String::new();
    server
        .0
        .stderr
        .take()
        .unwrap()
        .read_to_string(&mut stderr)
        .unwrap();
    stderr.lines().last().unwrap_or("").to_owned()
}

/// A subscriber process killed with SIGKILL in the middle of an event's handler: the next
/// subscriber instance reclaims the event and handles it (delivered again, not lost), and
/// handles the events behind it. The events the first had acknowledged do not run again:
/// the only duplicate is the one run the kill cut short.
#[test]
fn a_subscriber_killed_mid_handler_leaves_its_event_to_the_next_instance() {
    let redis = RedisProcess::start().unwrap();
    let url = redis.url();
    let prefix = "evkill";
    let log = redis.dir().join("events.log");
    let start = |id: &str| {
        let log = log.to_str().unwrap();
        let args = [
            "--instance-id",
            id,
            "--claim-idle-ms",
            "200",
            "--subscribe",
            "billing",
            "--event-log",
            log,
        ];
        start_server(&url, prefix, &args).0
    };
    let stream = "evkill:events:orders";
    let mut first = start("sub-A");
    // Event 2 takes 2.5 s: sub-A is killed while it runs.
    let events: Vec<(u64, u64)> = (0..6)
        .map(|n| (n, if n == 2 { 2_500 } else { 0 }))
        .collect();
    let ids = publish(&url, prefix, &events);
    wait_until(
        "sub-A in event 2's handler, events 0 and 1 acknowledged",
        &mut || {
            let started = event_runs(&log).contains(&("sub-A".to_owned(), 2));
            started && pending_summary(&url, stream, "billing").1.as_deref() == Some(&ids[2])
        },
    );
    first.0.kill().unwrap();
    first.0.wait().unwrap();
    let mut second = start("sub-B");
    wait_until("every event handled and acknowledged", &mut || {
        let mut handled: Vec<u64> = event_runs(&log).iter().map(|r| r.1).collect();
        handled.sort_unstable();
        handled.dedup();
        handled.len() == 6 && pending_summary(&url, stream, "billing").0 == 0
    });
    let handled_by_b = stop_and_count(&mut second);
    let runs = event_runs(&log);
    let of = |n: u64| -> Vec<&str> {
        runs.iter()
            .filter(|r| r.1 == n)
            .map(|r| r.0.as_str())
            .collect()
    };
    let duplicated = runs.len() - 6;
    println!(
        "subscriber killed mid-handler: events published 6, handled 6, lost 0, duplicated {duplicated} (sub-B {handled_by_b})"
    );
    assert_eq!(
        of(2),
        ["sub-A", "sub-B"],
        "the killed run's event, delivered again"
    );
    for n in [0, 1] {
        assert_eq!(
            of(n),
            ["sub-A"],
            "event {n} was acknowledged before the kill"
        );
    }
    for n in 3..6 {
        assert_eq!(of(n), ["sub-B"], "event {n}, never started by sub-A");
    }
    assert!(
        duplicated <= 1,
        "at most the one run the kill cut short runs again: {runs:?}"
    );
    assert_eq!(handled_by_b, "HANDLED:4");
}

/// An exactly-once subscriber process that aborts after its handler succeeded and before
/// the event's ack (the test kit's `--fault-abort-before-event-ack-once`): the next instance
/// reclaims the event, finds its record done and acknowledges it without running the
/// handler again.
#[test]
fn exactly_once_a_subscriber_crash_between_handler_and_ack_runs_the_event_once() {
    let redis = RedisProcess::start().unwrap();
    let url = redis.url();
    let prefix = "evonce";
    let log = redis.dir().join("events.log");
    let marker = redis.dir().join("crashed-before-event-ack");
    let start = |extra: &[&str]| {
        let base = [
            "--exactly-once",
            "--claim-idle-ms",
            "200",
            "--subscribe",
            "billing",
            "--event-log",
            log.to_str().unwrap(),
        ];
        start_server(&url, prefix, &[&base[..], extra].concat()).0
    };
    let stream = "evonce:events:orders";
    let mut first = start(&[
        "--instance-id",
        "sub-A",
        "--fault-abort-before-event-ack-once",
        marker.to_str().unwrap(),
    ]);
    publish(&url, prefix, &[(7, 0)]);
    let status = first.0.wait().unwrap();
    assert!(
        !status.success() && marker.exists(),
        "sub-A did not crash between the handler and the ack"
    );
    assert_eq!(event_runs(&log), [("sub-A".to_owned(), 7)]);
    assert_eq!(
        pending_summary(&url, stream, "billing").0,
        1,
        "the event was acknowledged before the crash"
    );
    let mut second = start(&["--instance-id", "sub-B"]);
    wait_until("the event acknowledged", &mut || {
        pending_summary(&url, stream, "billing").0 == 0
    });
    let handled_by_b = stop_and_count(&mut second);
    let runs = event_runs(&log);
    println!(
        "exactly-once subscriber crash: events published 1, handled 1, duplicated {} (sub-B {handled_by_b})",
        runs.len() - 1
    );
    assert_eq!(runs, [("sub-A".to_owned(), 7)], "the handler ran again");
    assert_eq!(handled_by_b, "HANDLED:0");
}
