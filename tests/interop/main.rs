//! Cross-language interop suite against the published Python clamator
//! (`clamator-protocol` / `clamator-over-redis` 0.1.9, pinned in `py/requirements.txt`,
//! installed into `target/interop-venv` when missing).
//!
//! Drivers speak clamator's JSON-over-stdio runner protocol: `arith-server` and
//! `py/server.py` print `READY`, `{"pinged":…}` per ping and `HANDLED:<n>` at SIGTERM;
//! `interop-client` and `py/client.py` read the calls on stdin and print `{"results":[…]}`.
//! Every scenario runs in each direction (Rust server ← Python client, Python server ← Rust
//! client), pools mix both languages in one consumer group, and each run uses its own key
//! prefix and deletes its keys afterwards.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::print_stderr
)]

use std::io::{BufRead, BufReader, Read, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use clamator_examples::generated::inventory as inv;
use clamator_testkit::local_redis::RedisProcess;
use serde_json::{json, Value};

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .unwrap()
        .to_owned()
}

/// The venv's python, created and filled from `requirements.txt` on first use.
fn python() -> PathBuf {
    clamator_testkit::python_peer::python().unwrap_or_else(|e| panic!("{e}"))
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Lang {
    Rust,
    Python,
}

impl Lang {
    fn tag(self) -> &'static str {
        match self {
            Lang::Rust => "rs",
            Lang::Python => "py",
        }
    }
}

/// (server, client) for the two directions.
const DIRECTIONS: [(Lang, Lang); 2] = [(Lang::Rust, Lang::Python), (Lang::Python, Lang::Rust)];

/// A private redis-server and the scenario's unique key prefixes.
struct Env {
    redis: RedisProcess,
}

impl Env {
    fn new() -> Self {
        Self {
            redis: RedisProcess::start().unwrap(),
        }
    }

    fn url(&self) -> String {
        self.redis.url()
    }

    fn prefix(&self, scenario: &str, server: Lang, client: Lang) -> String {
        let tag: String = uuid::Uuid::new_v4()
            .simple()
            .to_string()
            .chars()
            .take(4)
            .collect();
        format!(
            "clam-interop-{scenario}-{}{}-{tag}",
            server.tag(),
            client.tag()
        )
    }

    fn raw(&self) -> redis::Connection {
        redis::Client::open(self.url())
            .unwrap()
            .get_connection()
            .unwrap()
    }

    /// Deletes the scenario's keys and checks none are left.
    fn clean(&self, prefix: &str) {
        let mut conn = self.raw();
        let keys: Vec<String> = redis::cmd("KEYS")
            .arg(format!("{prefix}:*"))
            .query(&mut conn)
            .unwrap();
        if !keys.is_empty() {
            let _: i64 = redis::cmd("DEL").arg(&keys).query(&mut conn).unwrap();
        }
        let left: Vec<String> = redis::cmd("KEYS")
            .arg(format!("{prefix}:*"))
            .query(&mut conn)
            .unwrap();
        assert!(left.is_empty(), "keys left behind: {left:?}");
    }

    fn pending_consumers(&self, prefix: &str) -> String {
        let v: redis::Value = redis::cmd("XPENDING")
            .arg(format!("{prefix}:cmds:arith"))
            .arg("arith")
            .arg("-")
            .arg("+")
            .arg(10)
            .query(&mut self.raw())
            .unwrap_or(redis::Value::Nil);
        format!("{v:?}")
    }
}

/// A server process of either language.
struct Server {
    child: Child,
    lines: Arc<Mutex<Vec<String>>>,
    stderr: Arc<Mutex<String>>,
    /// The threads reading stdout and stderr; they end at the pipes' end of file.
    readers: Vec<std::thread::JoinHandle<()>>,
}

#[derive(Clone, Copy)]
struct ServerOpts<'a> {
    instance: &'a str,
    claim_idle_ms: u64,
    faulty: bool,
    /// Handlers at once (Rust servers only; clamator's serve one at a time).
    concurrency: usize,
    /// Python servers only: `arith.add` answers with one more field than the contract the
    /// Rust side was generated from (a newer server).
    newer_add: bool,
}

impl Default for ServerOpts<'_> {
    fn default() -> Self {
        Self {
            instance: "srv-A",
            claim_idle_ms: 60_000,
            faulty: false,
            concurrency: 1,
            newer_add: false,
        }
    }
}

impl Server {
    fn start(lang: Lang, url: &str, prefix: &str, opts: ServerOpts<'_>) -> Self {
        let mut child = match lang {
            Lang::Rust => {
                let mut cmd = Command::new(env!("CARGO_BIN_EXE_fault-server"));
                cmd.args([
                    "--redis-url",
                    url,
                    "--key-prefix",
                    prefix,
                    "--instance-id",
                    opts.instance,
                ])
                .args(["--claim-idle-ms", &opts.claim_idle_ms.to_string()])
                .args(["--concurrency", &opts.concurrency.to_string()]);
                if opts.faulty {
                    cmd.arg("--faulty");
                }
                assert!(!opts.newer_add, "newer_add is for Python servers");
                cmd.stdin(Stdio::null())
                    .stdout(Stdio::piped())
                    .stderr(Stdio::piped())
                    .spawn()
                    .unwrap()
            }
            Lang::Python => {
                let mut child = Command::new(python())
                    .arg(root().join("tests/interop/py/server.py"))
                    .stdin(Stdio::piped())
                    .stdout(Stdio::piped())
                    .stderr(Stdio::piped())
                    .spawn()
                    .unwrap();
                let config = json!({
                    "redisUrl": url, "keyPrefix": prefix, "instanceId": opts.instance,
                    "consumerClaimIdleMs": opts.claim_idle_ms, "faulty": opts.faulty,
                    "newerAdd": opts.newer_add,
                });
                let mut stdin = child.stdin.take().unwrap();
                stdin.write_all(config.to_string().as_bytes()).unwrap();
                drop(stdin);
                child
            }
        };
        let lines = Arc::new(Mutex::new(Vec::new()));
        let stderr = Arc::new(Mutex::new(String::new()));
        let (ready_tx, ready_rx) = mpsc::channel();
        let out = child.stdout.take().unwrap();
        let l = Arc::clone(&lines);
        let out_reader = std::thread::spawn(move || {
            for line in BufReader::new(out).lines().map_while(Result::ok) {
                if line == "READY" {
                    let _ = ready_tx.send(());
                }
                l.lock().unwrap().push(line);
            }
        });
        let err = child.stderr.take().unwrap();
        let e = Arc::clone(&stderr);
        let err_reader = std::thread::spawn(move || {
            let mut buf = String::new();
            let mut reader = BufReader::new(err);
            while reader.read_line(&mut buf).unwrap_or(0) > 0 {
                e.lock().unwrap().push_str(&buf);
                buf.clear();
            }
        });
        let server = Self {
            child,
            lines,
            stderr,
            readers: vec![out_reader, err_reader],
        };
        if ready_rx.recv_timeout(Duration::from_secs(20)).is_err() {
            panic!(
                "{lang:?} server never printed READY; stderr:\n{}",
                server.stderr.lock().unwrap()
            );
        }
        server
    }

    fn pings(&self) -> Vec<Value> {
        self.lines
            .lock()
            .unwrap()
            .iter()
            .filter_map(|l| serde_json::from_str::<Value>(l).ok())
            .filter(|v| v.get("pinged").is_some())
            .collect()
    }

    /// SIGTERM, wait, and the `HANDLED:<n>` it reported.
    fn stop(mut self) -> u64 {
        let _ = Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status();
        let deadline = Instant::now() + Duration::from_secs(15);
        loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                assert!(
                    status.success(),
                    "server exited with {status}; stderr:\n{}",
                    self.stderr.lock().unwrap()
                );
                break;
            }
            assert!(
                Instant::now() < deadline,
                "server did not stop within 15 s after SIGTERM"
            );
            std::thread::sleep(Duration::from_millis(20));
        }
        // The process is gone, so its pipes are closed: the readers end once they have taken
        // the last lines.
        for reader in self.readers.drain(..) {
            let _ = reader.join();
        }
        let stderr = self.stderr.lock().unwrap().clone();
        stderr
            .lines()
            .rev()
            .find_map(|l| l.strip_prefix("HANDLED:"))
            .and_then(|n| n.trim().parse().ok())
            .unwrap_or_else(|| panic!("no HANDLED line; stderr:\n{stderr}"))
    }

    fn kill(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        self.kill();
    }
}

/// Runs a client driver and returns its results.
fn client(lang: Lang, url: &str, prefix: &str, input: Value) -> Vec<Value> {
    client_results(lang, spawn_client(lang, url, prefix, input))
}

/// Starts a client driver with its input written; [`client_results`] collects what it prints.
fn spawn_client(lang: Lang, url: &str, prefix: &str, input: Value) -> Child {
    let mut input = input;
    input["redisUrl"] = json!(url);
    input["keyPrefix"] = json!(prefix);
    let mut cmd = match lang {
        Lang::Rust => Command::new(env!("CARGO_BIN_EXE_interop-client")),
        Lang::Python => {
            let mut c = Command::new(python());
            c.arg(root().join("tests/interop/py/client.py"));
            c
        }
    };
    let mut child = cmd
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(input.to_string().as_bytes())
        .unwrap();
    child
}

/// Waits (60 s at most) for a client driver started by [`spawn_client`] and returns its
/// results.
fn client_results(lang: Lang, mut child: Child) -> Vec<Value> {
    let mut stdout = child.stdout.take().unwrap();
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        let mut s = String::new();
        let _ = stdout.read_to_string(&mut s);
        let _ = tx.send(s);
    });
    let Ok(out) = rx.recv_timeout(Duration::from_secs(60)) else {
        let _ = child.kill();
        panic!("{lang:?} client did not finish within 60 s");
    };
    let _ = child.wait();
    let line = out
        .lines()
        .rev()
        .find(|l| l.starts_with('{'))
        .unwrap_or_else(|| {
            let mut err = String::new();
            let _ = child.stderr.take().map(|mut e| e.read_to_string(&mut err));
            panic!("{lang:?} client printed no results; stderr:\n{err}")
        });
    let v: Value = serde_json::from_str(line).unwrap();
    v["results"].as_array().unwrap().clone()
}

fn calls(list: Value) -> Value {
    json!({ "calls": list })
}

fn assert_result(r: &Value, expected: Value, what: &str) {
    assert_eq!(r["kind"], "result", "{what}: {r}");
    // Python writes 5.0 where TypeScript and Rust may write 5: compare as numbers.
    assert!(
        json_eq(&r["result"], &expected),
        "{what}: got {}, want {expected}",
        r["result"]
    );
}

fn json_eq(a: &Value, b: &Value) -> bool {
    match (a, b) {
        (Value::Number(x), Value::Number(y)) => x.as_f64() == y.as_f64(),
        (Value::Object(x), Value::Object(y)) => {
            x.len() == y.len()
                && x.iter()
                    .all(|(k, v)| y.get(k).is_some_and(|w| json_eq(v, w)))
        }
        (Value::Array(x), Value::Array(y)) => {
            x.len() == y.len() && x.iter().zip(y).all(|(v, w)| json_eq(v, w))
        }
        _ => a == b,
    }
}

fn assert_rpc_error(r: &Value, code: i64, message: &str, what: &str) {
    assert_eq!(r["kind"], "rpc-error", "{what}: {r}");
    assert_eq!(r["code"], code, "{what}: {r}");
    assert!(
        r["message"]
            .as_str()
            .unwrap()
            .to_lowercase()
            .contains(&message.to_lowercase()),
        "{what}: {r}"
    );
}

/// Runs `scenario` in both directions, each with its own prefix, cleaning up after.
fn both_ways(name: &str, scenario: impl Fn(&Env, &str, Lang, Lang)) {
    let env = Env::new();
    for (server, client) in DIRECTIONS {
        let prefix = env.prefix(name, server, client);
        eprintln!("interop: {name} ({}→{})", client.tag(), server.tag());
        scenario(&env, &prefix, server, client);
        env.clean(&prefix);
    }
}

// ---- clamator's own interop scenarios ------------------------------------------------------

#[test]
fn basic_call() {
    both_ways("basic-call", |env, prefix, s, c| {
        let server = Server::start(s, &env.url(), prefix, ServerOpts::default());
        let r = client(
            c,
            &env.url(),
            prefix,
            calls(json!([
                {"method": "arith.add", "params": {"a": 2, "b": 3}},
                {"method": "arith.echoText", "params": {"text": "hello"}},
            ])),
        );
        assert_result(&r[0], json!({"sum": 5}), "add");
        assert_result(&r[1], json!({"text": "hello"}), "echoText");
        assert_eq!(server.stop(), 2);
    });
}

#[test]
fn hundred_concurrent_calls() {
    both_ways("concurrent", |env, prefix, s, c| {
        let server = Server::start(s, &env.url(), prefix, ServerOpts::default());
        let mut input = calls(json!([{"method": "arith.add", "params": {"a": 1, "b": 1}}]));
        input["concurrent"] = json!(100);
        let r = client(c, &env.url(), prefix, input);
        assert_eq!(r.len(), 100);
        for x in &r {
            assert_result(x, json!({"sum": 2}), "concurrent add");
        }
        assert_eq!(server.stop(), 100);
    });
}

/// Has `caller` call `arith.slowAdd {1, 2}` (sleeping `sleep_ms`) on a thread of its own, and
/// returns once the server instance `holder` holds the request, so that killing it leaves the
/// request pending for another server's reclaim loop. Join the handle for the results.
fn slow_call_held_by(
    env: &Env,
    caller: Lang,
    prefix: &str,
    holder: &str,
    sleep_ms: u64,
) -> std::thread::JoinHandle<Vec<Value>> {
    let (url, p) = (env.url(), prefix.to_owned());
    let call = std::thread::spawn(move || {
        let mut input = calls(json!([
            {"method": "arith.slowAdd", "params": {"a": 1, "b": 2, "sleepMs": sleep_ms}}
        ]));
        input["defaultTimeoutMs"] = json!(20_000);
        client(caller, &url, &p, input)
    });
    let deadline = Instant::now() + Duration::from_secs(20);
    while !env
        .pending_consumers(prefix)
        .contains(&format!("arith:{holder}"))
    {
        assert!(Instant::now() < deadline, "{holder} never took the request");
        std::thread::sleep(Duration::from_millis(20));
    }
    call
}

#[test]
fn crash_recovery_with_the_first_server_killed() {
    both_ways("crash-recovery", |env, prefix, s, c| {
        let opts = |instance| ServerOpts {
            instance,
            claim_idle_ms: 200,
            ..ServerOpts::default()
        };
        let mut a = Server::start(s, &env.url(), prefix, opts("srv-A"));
        // The call reaches srv-A, the only server, which dies holding it: only srv-B's
        // reclaim loop can finish it.
        let call = slow_call_held_by(env, c, prefix, "srv-A", 1000);
        a.kill();
        let b = Server::start(s, &env.url(), prefix, opts("srv-B"));
        let r = call.join().unwrap();
        assert_result(&r[0], json!({"sum": 3}), "add after srv-A died");
        assert_eq!(b.stop(), 1);
    });
}

#[test]
fn error_mapping() {
    both_ways("error-mapping", |env, prefix, s, c| {
        let server = Server::start(s, &env.url(), prefix, ServerOpts::default());
        let r = client(
            c,
            &env.url(),
            prefix,
            calls(json!([{"method": "arith.divide", "params": {"a": 10, "b": 0}}])),
        );
        assert_rpc_error(&r[0], -32000, "division by zero", "divide by zero");
        assert_eq!(r[0]["data"], Value::Null);
        server.stop();
    });
}

#[test]
fn notifications_are_delivered_and_handled() {
    both_ways("notification", |env, prefix, s, c| {
        let server = Server::start(s, &env.url(), prefix, ServerOpts::default());
        let r = client(
            c,
            &env.url(),
            prefix,
            calls(json!([
                {"method": "notifications.ping", "params": {"tag": "x"}, "notification": true},
                // An unset optional field: Rust omits it, and a Python proxy would send null.
                {"method": "notifications.ping", "params": {"tag": null}, "notification": true},
            ])),
        );
        assert_eq!(r[0]["kind"], "notification");
        assert_eq!(r[1]["kind"], "notification");
        let deadline = Instant::now() + Duration::from_secs(10);
        while server.pings().len() < 2 {
            assert!(
                Instant::now() < deadline,
                "pings not handled: {:?}",
                server.pings()
            );
            std::thread::sleep(Duration::from_millis(20));
        }
        assert_eq!(
            server.pings(),
            vec![json!({"pinged": "x"}), json!({"pinged": null})]
        );
        assert_eq!(server.stop(), 2);
    });
}

#[test]
fn client_timeout() {
    both_ways("timeout", |env, prefix, s, c| {
        let server = Server::start(s, &env.url(), prefix, ServerOpts::default());
        let mut input =
            calls(json!([{"method": "arith.slowAdd", "params": {"a": 1, "b": 2, "sleepMs": 800}}]));
        input["defaultTimeoutMs"] = json!(100);
        let r = client(c, &env.url(), prefix, input);
        assert_eq!(r[0]["kind"], "transport-error", "{}", r[0]);
        assert!(
            r[0]["message"]
                .as_str()
                .unwrap()
                .to_lowercase()
                .contains("timeout"),
            "{}",
            r[0]
        );
        server.stop();
    });
}

#[test]
fn validation_failure() {
    both_ways("validation", |env, prefix, s, c| {
        let server = Server::start(s, &env.url(), prefix, ServerOpts::default());
        let r = client(
            c,
            &env.url(),
            prefix,
            calls(json!([{"method": "arith.add", "params": {"a": "two", "b": 3}}])),
        );
        assert_rpc_error(&r[0], -32602, "invalid params", "add with a string");
        // Both sides name the failing field, each in its own layout (documented).
        let data = r[0]["data"].to_string();
        assert!(
            data.contains("\"/a\"") || data.contains("[\"a\"]"),
            "{data}"
        );
        server.stop();
    });
}

#[test]
fn worker_pool_shares_the_work() {
    both_ways("worker-pool", |env, prefix, s, c| {
        let a = Server::start(
            s,
            &env.url(),
            prefix,
            ServerOpts {
                instance: "srv-A",
                ..ServerOpts::default()
            },
        );
        let b = Server::start(
            s,
            &env.url(),
            prefix,
            ServerOpts {
                instance: "srv-B",
                ..ServerOpts::default()
            },
        );
        let list: Vec<Value> = (0..50)
            .map(|_| json!({"method": "arith.add", "params": {"a": 1, "b": 1}}))
            .collect();
        let r = client(c, &env.url(), prefix, calls(json!(list)));
        assert!(r.iter().all(|x| json_eq(&x["result"], &json!({"sum": 2}))));
        let (na, nb) = (a.stop(), b.stop());
        assert_eq!(na + nb, 50);
        assert!(na >= 5 && nb >= 5, "uneven: srv-A {na}, srv-B {nb}");
    });
}

// ---- what clamator's suite leaves out --------------------------------------------------------

#[test]
fn invalid_result_is_an_internal_error() {
    both_ways("invalid-result", |env, prefix, s, c| {
        let server = Server::start(
            s,
            &env.url(),
            prefix,
            ServerOpts {
                faulty: true,
                ..ServerOpts::default()
            },
        );
        let r = client(
            c,
            &env.url(),
            prefix,
            calls(json!([{"method": "faulty.badResult", "params": {}}])),
        );
        assert_rpc_error(&r[0], -32603, "result validation failed", "bad result");
        server.stop();
    });
}

#[test]
fn unknown_method() {
    both_ways("unknown-method", |env, prefix, s, c| {
        let server = Server::start(s, &env.url(), prefix, ServerOpts::default());
        let r = client(
            c,
            &env.url(),
            prefix,
            calls(json!([{"method": "arith.nope", "params": {}}])),
        );
        assert_rpc_error(&r[0], -32601, "method not found", "arith.nope");
        assert_eq!(r[0]["data"], Value::Null);
        assert_eq!(server.stop(), 0);
    });
}

#[test]
fn non_ascii_text_both_ways() {
    // Python escapes it as \uXXXX (surrogate pairs for emoji); Rust writes raw UTF-8.
    let text = "héllo wörld ✓ 日本語 😀";
    both_ways("non-ascii", |env, prefix, s, c| {
        let server = Server::start(s, &env.url(), prefix, ServerOpts::default());
        let r = client(
            c,
            &env.url(),
            prefix,
            calls(json!([{"method": "arith.echoText", "params": {"text": text}}])),
        );
        assert_result(&r[0], json!({"text": text}), "echoText");
        server.stop();
    });
}

#[test]
fn numbers_written_as_floats() {
    // Python writes `5.0` for floats; integers may arrive as `10.0` too.
    both_ways("floats", |env, prefix, s, c| {
        let server = Server::start(s, &env.url(), prefix, ServerOpts::default());
        let r = client(
            c,
            &env.url(),
            prefix,
            calls(json!([
                {"method": "arith.add", "params": {"a": 2.0, "b": 3.5}},
                {"method": "arith.slowAdd", "params": {"a": 1, "b": 2, "sleepMs": 10.0}},
            ])),
        );
        assert_result(&r[0], json!({"sum": 5.5}), "add of floats");
        assert_result(&r[1], json!({"sum": 3}), "slowAdd with sleepMs 10.0");
        server.stop();
    });
}

/// XADDs a raw request envelope to `service` with replies to `<prefix>:replies:probe`.
fn raw_request(env: &Env, prefix: &str, service: &str, envelope: &str) {
    raw_request_with(env, prefix, service, envelope, &[]);
}

/// [`raw_request`] with `extra` fields after clamator's.
fn raw_request_with(
    env: &Env,
    prefix: &str,
    service: &str,
    envelope: &str,
    extra: &[(&str, &str)],
) {
    let mut cmd = redis::cmd("XADD");
    cmd.arg(format!("{prefix}:cmds:{service}"))
        .arg("*")
        .arg("type")
        .arg("rpc")
        .arg("envelope")
        .arg(envelope)
        .arg("reply-to")
        .arg(format!("{prefix}:replies:probe"));
    for (k, v) in extra {
        cmd.arg(*k).arg(*v);
    }
    let _: String = cmd.query(&mut env.raw()).unwrap();
}

/// The replies on `<prefix>:replies:probe`, waiting up to `wait` for `want` of them.
fn probe_replies(env: &Env, prefix: &str, want: usize, wait: Duration) -> Vec<Value> {
    let deadline = Instant::now() + wait;
    loop {
        let r: redis::streams::StreamRangeReply = redis::cmd("XRANGE")
            .arg(format!("{prefix}:replies:probe"))
            .arg("-")
            .arg("+")
            .query(&mut env.raw())
            .unwrap();
        let replies: Vec<Value> = r
            .ids
            .iter()
            .filter_map(|e| e.get::<String>("envelope"))
            .map(|s| serde_json::from_str(&s).unwrap())
            .collect();
        if replies.len() >= want || Instant::now() >= deadline {
            return replies;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

#[test]
fn hyphenated_method_names() {
    // clamator 0.1.9 tightened the method rule in Python too (its earlier docs said otherwise):
    // neither client sends `arith.do-thing`; each refuses it locally.
    both_ways("hyphen", |env, prefix, s, c| {
        let server = Server::start(s, &env.url(), prefix, ServerOpts::default());
        let r = client(
            c,
            &env.url(),
            prefix,
            calls(json!([{"method": "arith.do-thing", "params": {}}])),
        );
        assert_eq!(r[0]["kind"], "unknown-error", "{}", r[0]);
        assert!(
            r[0]["message"].as_str().unwrap().contains("invalid method"),
            "{}",
            r[0]
        );
        // What an older Python client would send: our server parses it and answers -32601;
        // the Python 0.1.9 server drops it as a poison message and the caller times out.
        raw_request(
            env,
            prefix,
            "arith",
            r#"{"jsonrpc": "2.0", "method": "arith.do-thing", "params": {}, "id": "h"}"#,
        );
        raw_request(
            env,
            prefix,
            "arith",
            r#"{"jsonrpc": "2.0", "method": "arith.add", "params": {"a": 1, "b": 1}, "id": "after"}"#,
        );
        let replies = probe_replies(env, prefix, 2, Duration::from_secs(10));
        let ids: Vec<&Value> = replies.iter().map(|r| &r["id"]).collect();
        match s {
            Lang::Rust => {
                assert_eq!(ids, [&json!("h"), &json!("after")], "{replies:?}");
                assert_eq!(replies[0]["error"]["code"], -32601);
            }
            Lang::Python => assert_eq!(ids, [&json!("after")], "{replies:?}"),
        }
        assert_eq!(server.stop(), 1);
    });
}

#[test]
fn params_null() {
    // `params: null`: we read it as `{}` (as TypeScript does), so the missing fields are
    // reported; Python rejects null itself. Either way the caller gets -32602.
    both_ways("params-null", |env, prefix, s, c| {
        let server = Server::start(s, &env.url(), prefix, ServerOpts::default());
        let r = client(
            c,
            &env.url(),
            prefix,
            calls(json!([{"method": "arith.add", "params": null}])),
        );
        assert_rpc_error(&r[0], -32602, "invalid params", "add with params null");
        let data = r[0]["data"].to_string();
        match s {
            Lang::Rust => assert!(data.contains("missing required property"), "{data}"),
            Lang::Python => assert!(data.contains("model_type"), "{data}"),
        }
        server.stop();
    });
}

#[test]
fn integer_ids_are_echoed_as_integers() {
    both_ways("integer-ids", |env, prefix, s, _| {
        let server = Server::start(s, &env.url(), prefix, ServerOpts::default());
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

// ---- mixed worker pools ----------------------------------------------------------------------

#[test]
fn a_mixed_pool_shares_one_consumer_group() {
    let env = Env::new();
    for c in [Lang::Python, Lang::Rust] {
        let prefix = env.prefix("mixed-pool", Lang::Rust, c);
        let rust = Server::start(
            Lang::Rust,
            &env.url(),
            &prefix,
            ServerOpts {
                instance: "srv-rs",
                ..ServerOpts::default()
            },
        );
        let py = Server::start(
            Lang::Python,
            &env.url(),
            &prefix,
            ServerOpts {
                instance: "srv-py",
                ..ServerOpts::default()
            },
        );
        let list: Vec<Value> = (0..50)
            .map(|i| json!({"method": "arith.add", "params": {"a": i, "b": 1}}))
            .collect();
        let r = client(c, &env.url(), &prefix, calls(json!(list)));
        for (i, x) in r.iter().enumerate() {
            assert_result(x, json!({"sum": i + 1}), "pooled add");
        }
        let (nr, np) = (rust.stop(), py.stop());
        assert_eq!(nr + np, 50);
        assert!(nr >= 5 && np >= 5, "uneven: Rust {nr}, Python {np}");
        env.clean(&prefix);
    }
}

#[test]
fn a_server_killed_mid_handler_is_reclaimed_by_the_other_language() {
    let env = Env::new();
    for (victim, survivor) in [(Lang::Rust, Lang::Python), (Lang::Python, Lang::Rust)] {
        let prefix = env.prefix("kill-mid-handler", victim, survivor);
        let opts = |instance| ServerOpts {
            instance,
            claim_idle_ms: 200,
            ..ServerOpts::default()
        };
        let mut first = Server::start(victim, &env.url(), &prefix, opts("victim"));
        // The survivor's language is also the caller's.
        let call = slow_call_held_by(&env, survivor, &prefix, "victim", 1500);
        first.kill();
        let second = Server::start(survivor, &env.url(), &prefix, opts("survivor"));
        let r = call.join().unwrap();
        assert_result(
            &r[0],
            json!({"sum": 3}),
            &format!("slowAdd after the {victim:?} server died"),
        );
        assert_eq!(second.stop(), 1);
        env.clean(&prefix);
    }
}

#[test]
fn a_backlog_answered_while_a_python_client_is_paused_reaches_it_whole() {
    // The Python client queues its calls while no server runs, and is paused (SIGSTOP)
    // while a Rust server answers them all; none of the replies may be trimmed before the
    // client, resumed, reads them (clamator's `MAXLEN ~ 1024` keeps about a quarter).
    const CALLS: usize = 4_000;
    let env = Env::new();
    let prefix = env.prefix("backlog", Lang::Rust, Lang::Python);
    let stream = format!("{prefix}:cmds:arith");
    let _: () = redis::cmd("XGROUP")
        .arg("CREATE")
        .arg(&stream)
        .arg("arith")
        .arg("$")
        .arg("MKSTREAM")
        .query(&mut env.raw())
        .unwrap();
    let mut input = calls(json!([{"method": "arith.add", "params": {"a": 1, "b": 2}}]));
    input["concurrent"] = json!(CALLS);
    input["defaultTimeoutMs"] = json!(50_000);
    let caller = spawn_client(Lang::Python, &env.url(), &prefix, input);
    let pid = caller.id().to_string();
    let group_state = |field: &str| -> i64 {
        let info: Vec<std::collections::HashMap<String, redis::Value>> = redis::cmd("XINFO")
            .arg("GROUPS")
            .arg(&stream)
            .query(&mut env.raw())
            .unwrap();
        info.first()
            .and_then(|g| g.get(field))
            .and_then(|v| redis::from_redis_value_ref::<i64>(v).ok())
            .unwrap_or(0)
    };
    let wait = |what: &str, done: &dyn Fn() -> bool| {
        let deadline = Instant::now() + Duration::from_secs(40);
        while !done() {
            assert!(Instant::now() < deadline, "gave up waiting for {what}");
            std::thread::sleep(Duration::from_millis(20));
        }
    };
    wait("every call queued", &|| {
        redis::cmd("XLEN")
            .arg(&stream)
            .query::<usize>(&mut env.raw())
            .unwrap()
            == CALLS
    });
    assert!(Command::new("kill")
        .args(["-STOP", &pid])
        .status()
        .unwrap()
        .success());
    let opts = ServerOpts {
        concurrency: 32,
        ..ServerOpts::default()
    };
    let server = Server::start(Lang::Rust, &env.url(), &prefix, opts);
    wait("every call answered and acknowledged", &|| {
        group_state("entries-read") == CALLS as i64 && group_state("pending") == 0
    });
    assert!(Command::new("kill")
        .args(["-CONT", &pid])
        .status()
        .unwrap()
        .success());
    let r = client_results(Lang::Python, caller);
    assert_eq!(r.len(), CALLS);
    let lost = r.iter().filter(|x| x["ok"] != json!(true)).count();
    eprintln!("backlog to a paused Python client: {CALLS} calls, {lost} lost");
    assert_eq!(
        lost,
        0,
        "first failure: {}",
        r.iter()
            .find(|x| x["ok"] != json!(true))
            .unwrap_or(&Value::Null)
    );
    for x in &r {
        assert_result(x, json!({"sum": 3}), "backlog add");
    }
    assert_eq!(server.stop(), CALLS as u64);
}

// ---- declared application errors ---------------------------------------------------------

/// An inventory whose only working method is `reserve`: enough to answer with the errors its
/// contract declares.
struct Shelf;

impl clamator_examples::generated::inventory::InventoryService for Shelf {
    async fn add_item(
        &self,
        _: inv::AddItemParams,
    ) -> Result<inv::AddItemResult, clamator_protocol::RpcError> {
        Err(clamator_protocol::RpcError::method_not_found())
    }

    async fn get_item(
        &self,
        _: inv::GetItemParams,
    ) -> Result<inv::GetItemResult, clamator_protocol::RpcError> {
        Err(clamator_protocol::RpcError::method_not_found())
    }

    async fn item_changed(
        &self,
        _: inv::ItemChangedParams,
    ) -> Result<(), clamator_protocol::RpcError> {
        Ok(())
    }

    async fn reserve(
        &self,
        p: inv::ReserveParams,
    ) -> Result<inv::ReserveResult, clamator_protocol::RpcError> {
        if p.id != "lamp-1" {
            return Err(inv::InventoryError::ItemNotFound.into());
        }
        if p.quantity > 3 {
            return Err(inv::InventoryError::OutOfStock(inv::OutOfStockData::new(3)).into());
        }
        Ok(inv::ReserveResult::new(3 - p.quantity))
    }

    async fn search(
        &self,
        _: inv::SearchParams,
    ) -> Result<inv::SearchResult, clamator_protocol::RpcError> {
        Err(clamator_protocol::RpcError::method_not_found())
    }

    async fn set_metadata(
        &self,
        _: inv::SetMetadataParams,
    ) -> Result<inv::SetMetadataResult, clamator_protocol::RpcError> {
        Err(clamator_protocol::RpcError::method_not_found())
    }
}

#[test]
fn declared_errors_reach_a_python_caller_as_json_rpc_errors() {
    let env = Env::new();
    let prefix = env.prefix("declared-errors", Lang::Rust, Lang::Python);
    let rt = tokio::runtime::Runtime::new().unwrap();
    let server = rt
        .block_on(async {
            clamator_redis::RedisServer::builder(
                clamator_redis::ServerConfig::new(&prefix).redis_url(env.url()),
            )
            .service(inv::inventory_service(Shelf)?)
            .start()
            .await
        })
        .unwrap();
    let r = client(
        Lang::Python,
        &env.url(),
        &prefix,
        calls(json!([
            {"method": "inventory.reserve", "params": {"id": "lamp-1", "quantity": 2}},
            {"method": "inventory.reserve", "params": {"id": "lamp-1", "quantity": 5}},
            {"method": "inventory.reserve", "params": {"id": "nope", "quantity": 1}},
        ])),
    );
    assert_result(&r[0], json!({"remaining": 1}), "reserve in stock");
    assert_rpc_error(&r[1], 4009, "not enough stock", "reserve too many");
    assert_eq!(r[1]["data"], json!({"available": 3}), "{}", r[1]);
    assert_rpc_error(&r[2], 4004, "item not found", "reserve an unknown item");
    assert_eq!(r[2]["data"], Value::Null, "{}", r[2]);
    rt.block_on(server.stop());
    env.clean(&prefix);
}

// ---- contract evolution --------------------------------------------------------------------

#[test]
fn a_result_field_added_by_a_newer_python_server_does_not_break_a_rust_client() {
    use clamator_examples::generated::arith::{AddParams, ArithClient};
    let env = Env::new();
    let prefix = env.prefix("newer-result", Lang::Python, Lang::Rust);
    let server = Server::start(
        Lang::Python,
        &env.url(),
        &prefix,
        ServerOpts {
            newer_add: true,
            ..ServerOpts::default()
        },
    );
    let rt = tokio::runtime::Runtime::new().unwrap();
    let sum = rt.block_on(async {
        let transport = clamator_redis::RedisTransport::connect(
            clamator_redis::TransportConfig::new(&prefix).redis_url(env.url()),
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
    env.clean(&prefix);
}

#[test]
fn a_param_an_older_python_server_does_not_know_is_refused_with_invalid_params() {
    let env = Env::new();
    let prefix = env.prefix("newer-param", Lang::Python, Lang::Rust);
    let server = Server::start(Lang::Python, &env.url(), &prefix, ServerOpts::default());
    let r = client(
        Lang::Rust,
        &env.url(),
        &prefix,
        calls(json!([
            {"method": "arith.add", "params": {"a": 1, "b": 2, "note": "gift wrap"}}
        ])),
    );
    assert_rpc_error(
        &r[0],
        -32602,
        "invalid params",
        "a param the server does not know",
    );
    // The handler never ran.
    assert_eq!(server.stop(), 0);
    env.clean(&prefix);
}

/// On a Sentinel deployment, Rust peers in sentinel mode (`redis+sentinel://…/<master>`)
/// and Python peers pointed at the master share services both ways: the mode changes how
/// Rust connects, not a byte on the wire.
#[test]
fn peers_share_services_on_a_sentinel_deployment() {
    let group =
        clamator_testkit::local_cluster::SentinelGroup::start("interop", Duration::from_secs(5))
            .unwrap();
    let sentinels = group.url().replace("redis://", "");
    let rust_url = format!("redis+sentinel://{sentinels}/interop");
    let python_url = format!("redis://127.0.0.1:{}", group.master_port().unwrap());
    let url_of = |lang: Lang| match lang {
        Lang::Rust => rust_url.clone(),
        Lang::Python => python_url.clone(),
    };
    for (s, c) in DIRECTIONS {
        let prefix = format!("sentinel-{}-{}", c.tag(), s.tag());
        let server = Server::start(s, &url_of(s), &prefix, ServerOpts::default());
        let r = client(
            c,
            &url_of(c),
            &prefix,
            calls(json!([
                {"method": "arith.add", "params": {"a": 2, "b": 3}},
                {"method": "arith.echoText", "params": {"text": "über"}},
            ])),
        );
        assert_result(&r[0], json!({"sum": 5}), "add");
        assert_result(&r[1], json!({"text": "über"}), "echoText");
        assert_eq!(server.stop(), 2);
    }
}

/// A request carrying our trace-context fields (`traceparent`, `tracestate`, written after
/// clamator's by clients with the `opentelemetry` feature) is served by both servers as any
/// other: the Python peer ignores fields it does not know.
#[test]
fn trace_context_fields_are_ignored_by_peers_that_do_not_know_them() {
    let env = Env::new();
    for s in [Lang::Rust, Lang::Python] {
        let prefix = format!("trace-{}", s.tag());
        let server = Server::start(s, &env.url(), &prefix, ServerOpts::default());
        raw_request_with(
            &env,
            &prefix,
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
        let replies = probe_replies(&env, &prefix, 1, Duration::from_secs(10));
        assert_eq!(replies.len(), 1, "{s:?} server: {replies:?}");
        assert_eq!(replies[0]["id"], "t1");
        assert!(
            json_eq(&replies[0]["result"], &json!({"sum": 7})),
            "{:?}",
            replies[0]
        );
        assert_eq!(server.stop(), 1);
        env.clean(&prefix);
    }
}

// ---- generated Python (clamator-codegen --out-py) ------------------------------------------
//
// The modules `clamator-codegen --out-py` writes from `contracts/` (committed under
// `py/generated`, drift-checked by clamator-codegen's tests) and from its per-construct golden
// files: they type-check under `mypy --strict` and behave under the pinned pydantic; a Python
// server built on the generated abstract classes answers the Rust generated clients, and the
// generated Python clients call a Rust server, every method of arith, notifications and
// inventory, with the same answers and the same -32602 refusals both ways.

/// `mypy --strict` over the golden modules, the contracts' modules and the drivers that use
/// them; then `check_generated.py` imports each module and checks its models on the wire.
#[test]
fn generated_python_passes_mypy_strict_and_behaves() {
    let py = python();
    let golden = root().join("clamator-codegen/tests/golden");
    // mypy names a module after its file, and `tagged-union` is no module name: check copies.
    let copies = std::env::temp_dir().join(format!("clamator-golden-py-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&copies);
    std::fs::create_dir_all(&copies).unwrap();
    let mut files = Vec::new();
    for entry in std::fs::read_dir(&golden).unwrap() {
        let path = entry.unwrap().path();
        if path.extension().is_some_and(|x| x == "py") {
            let stem = path
                .file_stem()
                .unwrap()
                .to_string_lossy()
                .replace('-', "_");
            let copy = copies.join(format!("golden_{stem}.py"));
            std::fs::copy(&path, &copy).unwrap();
            files.push(copy);
        }
    }
    assert!(files.len() >= 11, "only {} golden .py files", files.len());
    let drivers = root().join("tests/interop/py");
    for module in ["arith", "inventory", "notifications"] {
        files.push(drivers.join(format!("generated/{module}.py")));
    }
    for driver in [
        "generated_server.py",
        "generated_client.py",
        "check_generated.py",
    ] {
        files.push(drivers.join(driver));
    }
    let out = Command::new(&py)
        .args(["-m", "mypy", "--strict", "--no-color-output", "--cache-dir"])
        .arg(root().join("target/mypy-cache"))
        .args(&files)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "mypy --strict refused the generated Python:\n{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    let out = Command::new(&py)
        .arg(drivers.join("check_generated.py"))
        .arg(&golden)
        .arg(drivers.join("generated"))
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "check_generated.py failed:\n{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    let _ = std::fs::remove_dir_all(&copies);
}

/// What a call of the generated-code scenarios answers.
#[derive(Debug, Clone)]
enum Expect {
    Result(Value),
    Error(i64),
    Notification,
}

/// One call of the generated-code scenarios: typed through the generated client of each
/// language, or (`raw`) untyped, for params the generated types would refuse to build.
#[derive(Debug, Clone)]
struct Case {
    name: &'static str,
    service: &'static str,
    method: &'static str,
    params: Value,
    raw: bool,
    expect: Expect,
}

/// The inventory's one item, as both implementations answer it.
fn lamp() -> Value {
    json!({
        "id": "lamp-1", "name": "Lamp", "price": 12.5, "kind": "physical",
        "dimensions": {"width": 10, "height": 20},
        "attributes": {"color": "red", "watts": 40, "dimmable": true},
    })
}

/// Every method of arith, notifications and inventory, and a refused call of each request
/// method (params both a pydantic model and the Rust validator refuse: -32602).
fn generated_cases() -> Vec<Case> {
    let typed = |name, service, method, params, expect| Case {
        name,
        service,
        method,
        params,
        raw: false,
        expect,
    };
    let refused = |name, service, method, params| Case {
        name,
        service,
        method,
        params,
        raw: true,
        expect: Expect::Error(-32602),
    };
    let r = Expect::Result;
    let created = json!({
        "status": "created", "id": "3b241101-e2bb-4255-8caf-4136c566a962",
        "createdAt": "2024-05-01T12:00:00Z",
    });
    let bad_item = json!({"id": "x", "name": "", "price": 1, "kind": "physical"});
    vec![
        typed(
            "add",
            "arith",
            "add",
            json!({"a": 2, "b": 3}),
            r(json!({"sum": 5})),
        ),
        typed(
            "divide",
            "arith",
            "divide",
            json!({"a": 7, "b": 2}),
            r(json!({"q": 3.5})),
        ),
        typed(
            "divide by zero",
            "arith",
            "divide",
            json!({"a": 1, "b": 0}),
            Expect::Error(-32000),
        ),
        typed(
            "echoText",
            "arith",
            "echoText",
            json!({"text": "héllo ✓"}),
            r(json!({"text": "héllo ✓"})),
        ),
        typed(
            "slowAdd",
            "arith",
            "slowAdd",
            json!({"a": 1, "b": 2, "sleepMs": 10}),
            r(json!({"sum": 3})),
        ),
        typed(
            "ping",
            "notifications",
            "ping",
            json!({"tag": "x"}),
            Expect::Notification,
        ),
        typed(
            "ping untagged",
            "notifications",
            "ping",
            json!({}),
            Expect::Notification,
        ),
        typed(
            "addItem",
            "inventory",
            "addItem",
            json!({"item": {"id": "lamp-2", "name": "Lamp", "price": 12.5, "kind": "physical"}, "tags": ["new"]}),
            r(created),
        ),
        typed(
            "addItem duplicate",
            "inventory",
            "addItem",
            json!({"item": {"id": "dup", "name": "Dup", "price": 1, "kind": "digital"}}),
            r(json!({"status": "rejected", "reason": "duplicate", "detail": null})),
        ),
        typed(
            "addItem dry run",
            "inventory",
            "addItem",
            json!({"item": {"id": "x", "name": "X", "price": 1, "kind": "digital"}, "dryRun": true}),
            r(json!({"status": "rejected", "reason": "forbidden", "detail": "dry run"})),
        ),
        typed(
            "getItem",
            "inventory",
            "getItem",
            json!({"id": "lamp-1"}),
            r(json!({"item": lamp(), "stock": {"main": 3, "backup": 0}})),
        ),
        typed(
            "getItem missing",
            "inventory",
            "getItem",
            json!({"id": "none"}),
            r(json!({"item": null, "stock": {}})),
        ),
        typed(
            "itemChanged",
            "inventory",
            "itemChanged",
            json!({"id": "lamp-1", "version": "v1", "change": 2, "at": "2024-05-01T12:00:00Z"}),
            Expect::Notification,
        ),
        typed(
            "reserve",
            "inventory",
            "reserve",
            json!({"id": "lamp-1", "quantity": 2}),
            r(json!({"remaining": 1})),
        ),
        typed(
            "reserve too many",
            "inventory",
            "reserve",
            json!({"id": "lamp-1", "quantity": 5}),
            Expect::Error(4009),
        ),
        typed(
            "reserve unknown",
            "inventory",
            "reserve",
            json!({"id": "nope", "quantity": 1}),
            Expect::Error(4004),
        ),
        typed(
            "search",
            "inventory",
            "search",
            json!({"query": "lamp"}),
            r(json!({"items": [lamp()], "total": 1, "next": "asc:10"})),
        ),
        typed(
            "search filtered",
            "inventory",
            "search",
            json!({"query": "lamp", "limit": 5, "sort": "desc", "filters": {"minPrice": 20, "kinds": ["physical"]}}),
            r(json!({"items": [], "total": 0, "next": "desc:5"})),
        ),
        typed(
            "setMetadata",
            "inventory",
            "setMetadata",
            json!({"id": "lamp-1", "metadata": {"any": [1, "x", null]}, "labels": {"a": "b"}}),
            r(json!({})),
        ),
        refused("add a string", "arith", "add", json!({"a": "two", "b": 3})),
        refused("divide missing b", "arith", "divide", json!({"a": 1})),
        refused("echoText a number", "arith", "echoText", json!({"text": 5})),
        refused(
            "slowAdd negative",
            "arith",
            "slowAdd",
            json!({"a": 1, "b": 2, "sleepMs": -1}),
        ),
        refused(
            "addItem empty name",
            "inventory",
            "addItem",
            json!({"item": bad_item}),
        ),
        refused(
            "addItem unknown kind",
            "inventory",
            "addItem",
            json!({"item": {"id": "x", "name": "X", "price": 1, "kind": "liquid"}}),
        ),
        refused(
            "getItem pattern",
            "inventory",
            "getItem",
            json!({"id": "UPPER"}),
        ),
        refused(
            "reserve zero",
            "inventory",
            "reserve",
            json!({"id": "lamp-1", "quantity": 0}),
        ),
        refused(
            "search sort",
            "inventory",
            "search",
            json!({"query": "q", "sort": "sideways"}),
        ),
        refused(
            "setMetadata unknown key",
            "inventory",
            "setMetadata",
            json!({"id": "x", "metadata": 1, "extra": true}),
        ),
    ]
}

/// Checks one outcome (in the drivers' result format) against its case.
fn assert_case(case: &Case, outcome: &Value, direction: &str) {
    let what = format!("{} ({direction})", case.name);
    match &case.expect {
        Expect::Result(want) => assert_result(outcome, want.clone(), &what),
        Expect::Error(code) => {
            assert_eq!(outcome["kind"], "rpc-error", "{what}: {outcome}");
            assert_eq!(outcome["code"], *code, "{what}: {outcome}");
            if *code == 4009 {
                assert_eq!(
                    outcome["data"],
                    json!({"available": 3}),
                    "{what}: {outcome}"
                );
            }
        }
        Expect::Notification => assert_eq!(outcome["kind"], "notification", "{what}: {outcome}"),
    }
}

/// The notifications of `cases`, as `(method, params)` a server should have handled.
fn notified(cases: &[Case]) -> Vec<(String, Value)> {
    cases
        .iter()
        .filter(|c| matches!(c.expect, Expect::Notification))
        .map(|c| (format!("{}.{}", c.service, c.method), c.params.clone()))
        .collect()
}

/// Waits (10 s at most) until `seen` holds as many notifications as `want`, then compares.
fn assert_notified(seen: impl Fn() -> Vec<(String, Value)>, want: &[(String, Value)], who: &str) {
    let deadline = Instant::now() + Duration::from_secs(10);
    while seen().len() < want.len() && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(20));
    }
    let got = seen();
    assert_eq!(
        got.len(),
        want.len(),
        "{who} handled {got:?}, want {want:?}"
    );
    for (g, w) in got.iter().zip(want) {
        assert!(
            g.0 == w.0 && json_eq(&g.1, &w.1),
            "{who} handled {g:?}, want {w:?}"
        );
    }
}

/// A Rust call of `case` through the generated Rust client (typed) or `Client::call` (raw),
/// as the drivers' outcome JSON.
async fn rust_call(transport: &clamator_redis::RedisTransport, case: &Case) -> Value {
    use clamator_examples::generated::{arith, notifications};
    use clamator_examples::outcome_json;
    fn typed<P: serde::de::DeserializeOwned>(v: &Value) -> P {
        serde_json::from_value(v.clone()).unwrap()
    }
    fn value<R: serde::Serialize>(r: R) -> Option<Value> {
        Some(serde_json::to_value(r).unwrap())
    }
    let t = transport.clone();
    let p = &case.params;
    if case.raw {
        let raw = clamator_protocol::Client::new(t)
            .call::<_, Value>(case.service, case.method, p)
            .await;
        return outcome_json(raw.map(Some));
    }
    let outcome = match (case.service, case.method) {
        ("arith", m) => {
            let c = arith::ArithClient::new(t);
            match m {
                "add" => c.add(&typed(p)).await.map(value),
                "divide" => c.divide(&typed(p)).await.map(value),
                "echoText" => c.echo_text(&typed(p)).await.map(value),
                "slowAdd" => c.slow_add(&typed(p)).await.map(value),
                other => panic!("no arith.{other}"),
            }
        }
        ("notifications", "ping") => notifications::NotificationsClient::new(t)
            .ping(&typed(p))
            .await
            .map(|()| None),
        ("inventory", m) => {
            let c = inv::InventoryClient::new(t);
            match m {
                "addItem" => c.add_item(&typed(p)).await.map(value),
                "getItem" => c.get_item(&typed(p)).await.map(value),
                "itemChanged" => c.item_changed(&typed(p)).await.map(|()| None),
                "reserve" => c.reserve(&typed(p)).await.map(value),
                "search" => c.search(&typed(p)).await.map(value),
                "setMetadata" => c.set_metadata(&typed(p)).await.map(value),
                other => panic!("no inventory.{other}"),
            }
        }
        (s, m) => panic!("no {s}.{m}"),
    };
    outcome_json(outcome)
}

/// Starts `py/generated_server.py` (the generated abstract classes, implemented) and waits
/// for its `READY`.
fn start_generated_python_server(url: &str, prefix: &str) -> Server {
    let mut child = Command::new(python())
        .arg(root().join("tests/interop/py/generated_server.py"))
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let config = json!({"redisUrl": url, "keyPrefix": prefix, "instanceId": "gen-py"});
    let mut stdin = child.stdin.take().unwrap();
    stdin.write_all(config.to_string().as_bytes()).unwrap();
    drop(stdin);
    let lines = Arc::new(Mutex::new(Vec::new()));
    let stderr = Arc::new(Mutex::new(String::new()));
    let (ready_tx, ready_rx) = mpsc::channel();
    let (out, err) = (child.stdout.take().unwrap(), child.stderr.take().unwrap());
    let l = Arc::clone(&lines);
    let out_reader = std::thread::spawn(move || {
        for line in BufReader::new(out).lines().map_while(Result::ok) {
            if line == "READY" {
                let _ = ready_tx.send(());
            }
            l.lock().unwrap().push(line);
        }
    });
    let e = Arc::clone(&stderr);
    let err_reader = std::thread::spawn(move || {
        let mut text = String::new();
        let _ = BufReader::new(err).read_to_string(&mut text);
        e.lock().unwrap().push_str(&text);
    });
    let server = Server {
        child,
        lines,
        stderr,
        readers: vec![out_reader, err_reader],
    };
    assert!(
        ready_rx.recv_timeout(Duration::from_secs(20)).is_ok(),
        "generated_server.py never printed READY; stderr:\n{}",
        server.stderr.lock().unwrap()
    );
    server
}

#[test]
fn a_python_server_on_the_generated_classes_answers_the_rust_generated_clients() {
    let env = Env::new();
    let prefix = env.prefix("generated-py-server", Lang::Python, Lang::Rust);
    let server = start_generated_python_server(&env.url(), &prefix);
    let cases = generated_cases();
    let rt = tokio::runtime::Runtime::new().unwrap();
    rt.block_on(async {
        let transport = clamator_redis::RedisTransport::connect(
            clamator_redis::TransportConfig::new(&prefix).redis_url(env.url()),
        )
        .await
        .unwrap();
        for case in &cases {
            let outcome = rust_call(&transport, case).await;
            assert_case(case, &outcome, "Rust client → Python server");
        }
        transport.stop().await;
    });
    let lines = Arc::clone(&server.lines);
    let seen = || -> Vec<(String, Value)> {
        lines
            .lock()
            .unwrap()
            .iter()
            .filter_map(|l| serde_json::from_str::<Value>(l).ok())
            .filter_map(|v| Some((v.get("notified")?.as_str()?.to_owned(), v["params"].clone())))
            .collect()
    };
    assert_notified(seen, &notified(&cases), "the Python server");
    let handled = cases.iter().filter(|c| !c.raw).count() as u64;
    assert_eq!(server.stop(), handled);
    env.clean(&prefix);
}

/// The inventory of the generated-code scenarios, answering as `py/generated_server.py`'s.
#[derive(Default)]
struct Store {
    changes: Arc<Mutex<Vec<(String, Value)>>>,
}

impl inv::InventoryService for Store {
    async fn add_item(
        &self,
        p: inv::AddItemParams,
    ) -> Result<inv::AddItemResult, clamator_protocol::RpcError> {
        let answer = if p.dry_run {
            json!({"status": "rejected", "reason": "forbidden", "detail": "dry run"})
        } else if p.item.id == "dup" {
            json!({"status": "rejected", "reason": "duplicate", "detail": null})
        } else {
            json!({
                "status": "created", "id": "3b241101-e2bb-4255-8caf-4136c566a962",
                "createdAt": "2024-05-01T12:00:00Z",
            })
        };
        Ok(serde_json::from_value(answer).unwrap())
    }

    async fn get_item(
        &self,
        p: inv::GetItemParams,
    ) -> Result<inv::GetItemResult, clamator_protocol::RpcError> {
        let answer = if p.id == "lamp-1" {
            json!({"item": lamp(), "stock": {"main": 3, "backup": 0}})
        } else {
            json!({"item": null, "stock": {}})
        };
        Ok(serde_json::from_value(answer).unwrap())
    }

    async fn item_changed(
        &self,
        p: inv::ItemChangedParams,
    ) -> Result<(), clamator_protocol::RpcError> {
        let params = serde_json::to_value(p).unwrap();
        let change = ("inventory.itemChanged".to_owned(), params);
        self.changes.lock().unwrap().push(change);
        Ok(())
    }

    async fn reserve(
        &self,
        p: inv::ReserveParams,
    ) -> Result<inv::ReserveResult, clamator_protocol::RpcError> {
        inv::InventoryService::reserve(&Shelf, p).await
    }

    async fn search(
        &self,
        p: inv::SearchParams,
    ) -> Result<inv::SearchResult, clamator_protocol::RpcError> {
        let item: inv::Item = serde_json::from_value(lamp()).unwrap();
        let mut items = Vec::new();
        if item.name.to_lowercase().contains(&p.query.to_lowercase()) {
            items.push(item);
        }
        if let Some(f) = &p.filters {
            items.retain(|i| f.min_price.is_none_or(|min| i.price >= min));
            items.retain(|i| f.kinds.as_ref().is_none_or(|k| k.contains(&i.kind)));
        }
        let total = items.len() as i64;
        items.truncate(usize::try_from(p.limit).unwrap_or(0));
        let sort = serde_json::to_value(p.sort).unwrap();
        let next = format!("{}:{}", sort.as_str().unwrap(), p.limit);
        Ok(inv::SearchResult::new(items, total, Some(next)))
    }

    async fn set_metadata(
        &self,
        _: inv::SetMetadataParams,
    ) -> Result<inv::SetMetadataResult, clamator_protocol::RpcError> {
        Ok(inv::SetMetadataResult::new())
    }
}

#[test]
fn the_generated_python_clients_call_a_rust_server() {
    let env = Env::new();
    let prefix = env.prefix("generated-py-client", Lang::Rust, Lang::Python);
    let cases = generated_cases();
    let store = Store::default();
    let changes = Arc::clone(&store.changes);
    let pings = Arc::clone(&changes);
    let rt = tokio::runtime::Runtime::new().unwrap();
    let server = rt
        .block_on(async {
            let counter = clamator_examples::arith::Counter::default();
            let notifications =
                clamator_examples::arith::notifications_service(counter.clone(), move |tag| {
                    let params = tag.map_or(json!({}), |t| json!({"tag": t}));
                    let ping = ("notifications.ping".to_owned(), params);
                    pings.lock().unwrap().push(ping);
                })?;
            clamator_redis::RedisServer::builder(
                clamator_redis::ServerConfig::new(&prefix)
                    .redis_url(env.url())
                    .housekeeping_interval(Duration::from_secs(3600)),
            )
            .service(clamator_examples::arith::arith_service(counter)?)
            .service(notifications)
            .service(inv::inventory_service(store)?)
            .start()
            .await
        })
        .unwrap();
    let calls: Vec<Value> = cases
        .iter()
        .map(|c| {
            json!({"case": c.name, "service": c.service, "method": c.method,
                   "params": c.params, "raw": c.raw})
        })
        .collect();
    let mut child = Command::new(python())
        .arg(root().join("tests/interop/py/generated_client.py"))
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let input = json!({"redisUrl": env.url(), "keyPrefix": prefix, "calls": calls});
    child
        .stdin
        .take()
        .unwrap()
        .write_all(input.to_string().as_bytes())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    let line = stdout
        .lines()
        .rev()
        .find(|l| l.starts_with('{'))
        .unwrap_or_else(|| {
            panic!(
                "generated_client.py printed no results; stderr:\n{}",
                String::from_utf8_lossy(&out.stderr)
            )
        });
    let results: Value = serde_json::from_str(line).unwrap();
    for case in &cases {
        assert_case(
            case,
            &results["results"][case.name],
            "Python client → Rust server",
        );
    }
    assert_notified(
        || changes.lock().unwrap().clone(),
        &notified(&cases),
        "the Rust server",
    );
    // On the wire, the generated model left the unset `tag` out: `{}`, not `{"tag": null}`
    // (which clamator's TypeScript servers refuse).
    let mut conn = env.raw();
    let entries: Vec<(String, Vec<(String, String)>)> = redis::cmd("XRANGE")
        .arg(format!("{prefix}:cmds:notifications"))
        .arg("-")
        .arg("+")
        .query(&mut conn)
        .unwrap();
    let sent: Vec<Value> = entries
        .iter()
        .flat_map(|(_, fields)| fields)
        .filter(|(k, _)| k == "envelope")
        .map(|(_, v)| serde_json::from_str::<Value>(v).unwrap()["params"].clone())
        .collect();
    assert_eq!(sent, [json!({"tag": "x"}), json!({})], "pings on the wire");
    rt.block_on(server.stop());
    env.clean(&prefix);
}
