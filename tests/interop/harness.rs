//! What every scenario shares: a private redis-server ([`Env`]), servers and client drivers of
//! either language ([`Server`], [`client`]), one direction of a scenario with its own key
//! prefix ([`Trial`]), and the one start/call/stop exchange most scenarios are
//! ([`Trial::exchange`]), with the assertions on what the drivers print.

use std::io::{BufRead, BufReader, Read, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use clamator_testkit::local_redis::RedisProcess;
use serde_json::{json, Value};

/// The workspace's root directory.
pub(crate) fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .unwrap()
        .to_owned()
}

/// The venv's python, created and filled from `requirements.txt` on first use.
pub(crate) fn python() -> PathBuf {
    clamator_testkit::python_peer::python().unwrap_or_else(|e| panic!("{e}"))
}

/// The language of a server or client driver.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Lang {
    Rust,
    Python,
}

impl Lang {
    /// The language's tag in key prefixes and logs.
    pub(crate) fn tag(self) -> &'static str {
        match self {
            Lang::Rust => "rs",
            Lang::Python => "py",
        }
    }
}

/// (server, client) for the two directions.
pub(crate) const DIRECTIONS: [(Lang, Lang); 2] =
    [(Lang::Rust, Lang::Python), (Lang::Python, Lang::Rust)];

/// A private redis-server and the scenario's unique key prefixes.
pub(crate) struct Env {
    redis: RedisProcess,
}

impl Env {
    /// Starts the redis-server.
    pub(crate) fn new() -> Self {
        Self {
            redis: RedisProcess::start().unwrap(),
        }
    }

    /// Its URL.
    pub(crate) fn url(&self) -> String {
        self.redis.url()
    }

    /// A key prefix of its own for one direction of `scenario`.
    pub(crate) fn prefix(&self, scenario: &str, server: Lang, client: Lang) -> String {
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

    /// One direction of `scenario` on this Redis, under a prefix of its own.
    pub(crate) fn trial(&self, scenario: &str, server: Lang, client: Lang) -> Trial {
        Trial {
            server,
            client,
            prefix: self.prefix(scenario, server, client),
            server_url: self.url(),
            client_url: self.url(),
        }
    }

    /// A plain connection, for poking at streams.
    pub(crate) fn raw(&self) -> redis::Connection {
        redis::Client::open(self.url())
            .unwrap()
            .get_connection()
            .unwrap()
    }

    /// Checks that the run kept to its prefix (it wrote keys, all of them under
    /// `<prefix>:`; the runs before it were cleaned), then deletes them.
    pub(crate) fn clean(&self, prefix: &str) {
        let mut conn = self.raw();
        let keys: Vec<String> = redis::cmd("KEYS").arg("*").query(&mut conn).unwrap();
        let outside: Vec<&String> = keys
            .iter()
            .filter(|k| !k.starts_with(&format!("{prefix}:")))
            .collect();
        assert!(
            outside.is_empty(),
            "keys outside the run's prefix {prefix}: {outside:?}"
        );
        assert!(!keys.is_empty(), "the run wrote no key under {prefix}");
        let _: i64 = redis::cmd("DEL").arg(&keys).query(&mut conn).unwrap();
    }

    /// The pending entries of `<prefix>:cmds:arith`, as text that names their consumers.
    pub(crate) fn pending_consumers(&self, prefix: &str) -> String {
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

/// Runs `scenario` in both directions, each with its own prefix, cleaning up after.
pub(crate) fn both_ways(name: &str, scenario: impl Fn(&Env, &Trial)) {
    let env = Env::new();
    for (server, client) in DIRECTIONS {
        let trial = env.trial(name, server, client);
        eprintln!("interop: {name} ({}→{})", client.tag(), server.tag());
        scenario(&env, &trial);
        env.clean(&trial.prefix);
    }
}

/// One direction of a scenario: which language serves and which calls, under which key
/// prefix, and where each finds Redis (the same URL, except on deployments each language
/// reaches differently).
pub(crate) struct Trial {
    /// The server's language.
    pub(crate) server: Lang,
    /// The client's language.
    pub(crate) client: Lang,
    /// The key prefix of this direction.
    pub(crate) prefix: String,
    /// Where the server connects.
    pub(crate) server_url: String,
    /// Where the client connects.
    pub(crate) client_url: String,
}

/// What one [`Trial::exchange`] saw.
pub(crate) struct Exchange {
    /// The client's results, one per call.
    pub(crate) results: Vec<Value>,
    /// The `HANDLED:<n>` the server reported when it stopped.
    pub(crate) handled: u64,
    /// The `{"pinged": …}` lines the server printed.
    pub(crate) pings: Vec<Value>,
}

impl Trial {
    /// Starts a server of this trial's language with `opts`.
    pub(crate) fn start_server(&self, opts: ServerOpts<'_>) -> Server {
        Server::start(self.server, &self.server_url, &self.prefix, opts)
    }

    /// Runs a client driver of this trial's language on `input` and returns its results.
    pub(crate) fn call(&self, input: Value) -> Vec<Value> {
        client(self.client, &self.client_url, &self.prefix, input)
    }

    /// The exchange most scenarios are: a server started with `opts`, the client's calls,
    /// the server stopped (SIGTERM, exit 0, `HANDLED:<n>`).
    pub(crate) fn exchange(&self, opts: ServerOpts<'_>, input: Value) -> Exchange {
        self.exchange_then(opts, input, |_| {})
    }

    /// [`exchange`](Self::exchange), with `before_stop` run once the client is done and
    /// while the server still runs: to wait for what the server does after answering
    /// (handling notifications, say).
    pub(crate) fn exchange_then(
        &self,
        opts: ServerOpts<'_>,
        input: Value,
        before_stop: impl FnOnce(&Server),
    ) -> Exchange {
        let server = self.start_server(opts);
        let results = self.call(input);
        before_stop(&server);
        let lines = Arc::clone(&server.lines);
        let handled = server.stop();
        let pings = pings_in(&lines.lock().unwrap());
        Exchange {
            results,
            handled,
            pings,
        }
    }
}

/// A server process of either language.
pub(crate) struct Server {
    child: Child,
    /// Its stdout, line by line.
    pub(crate) lines: Arc<Mutex<Vec<String>>>,
    stderr: Arc<Mutex<String>>,
    /// The threads reading stdout and stderr; they end at the pipes' end of file.
    readers: Vec<std::thread::JoinHandle<()>>,
}

/// How a [`Server`] is started.
#[derive(Clone, Copy)]
pub(crate) struct ServerOpts<'a> {
    /// Its instance id (its consumer is `arith:<instance>`).
    pub(crate) instance: &'a str,
    /// How long a request stays pending before another server may reclaim it.
    pub(crate) claim_idle_ms: u64,
    /// Also serve the `faulty` service.
    pub(crate) faulty: bool,
    /// Handlers at once (Rust servers only; clamator's serve one at a time).
    pub(crate) concurrency: usize,
    /// Python servers only: `arith.add` answers with one more field than the contract the
    /// Rust side was generated from (a newer server).
    pub(crate) newer_add: bool,
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
    /// Starts a server of `lang` (the test kit's `fault-server`, or `py/server.py`) and
    /// waits for its `READY`.
    pub(crate) fn start(lang: Lang, url: &str, prefix: &str, opts: ServerOpts<'_>) -> Self {
        match lang {
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
                let child = cmd
                    .stdin(Stdio::null())
                    .stdout(Stdio::piped())
                    .stderr(Stdio::piped())
                    .spawn()
                    .unwrap();
                Self::watch(child, "Rust server")
            }
            Lang::Python => {
                let config = json!({
                    "redisUrl": url, "keyPrefix": prefix, "instanceId": opts.instance,
                    "consumerClaimIdleMs": opts.claim_idle_ms, "faulty": opts.faulty,
                    "newerAdd": opts.newer_add,
                });
                Self::start_python("server.py", &config)
            }
        }
    }

    /// Starts the Python driver `script` of `py/` with `config` on its stdin and waits for
    /// its `READY`.
    pub(crate) fn start_python(script: &str, config: &Value) -> Self {
        let mut child = Command::new(python())
            .arg(clamator_testkit::python_peer::driver(script))
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let mut stdin = child.stdin.take().unwrap();
        stdin.write_all(config.to_string().as_bytes()).unwrap();
        drop(stdin);
        Self::watch(child, script)
    }

    /// Reads the child's stdout and stderr on threads of their own and waits (20 s at most)
    /// for `READY`.
    fn watch(mut child: Child, what: &str) -> Self {
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
                "{what} never printed READY; stderr:\n{}",
                server.stderr.lock().unwrap()
            );
        }
        server
    }

    /// The `{"pinged": …}` lines it printed so far.
    pub(crate) fn pings(&self) -> Vec<Value> {
        pings_in(&self.lines.lock().unwrap())
    }

    /// Waits (10 s at most) until it printed `n` pings.
    pub(crate) fn wait_for_pings(&self, n: usize) {
        let deadline = Instant::now() + Duration::from_secs(10);
        while self.pings().len() < n {
            assert!(
                Instant::now() < deadline,
                "pings not handled: {:?}",
                self.pings()
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// SIGTERM, wait, and the `HANDLED:<n>` it reported.
    pub(crate) fn stop(mut self) -> u64 {
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

    /// SIGKILL, as a crash would.
    pub(crate) fn kill(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        self.kill();
    }
}

/// The `{"pinged": …}` lines among a server's stdout lines.
fn pings_in(lines: &[String]) -> Vec<Value> {
    lines
        .iter()
        .filter_map(|l| serde_json::from_str::<Value>(l).ok())
        .filter(|v| v.get("pinged").is_some())
        .collect()
}

/// Runs a client driver and returns its results.
pub(crate) fn client(lang: Lang, url: &str, prefix: &str, input: Value) -> Vec<Value> {
    client_results(lang, spawn_client(lang, url, prefix, input))
}

/// Starts a client driver (the test kit's `interop-client`, or `py/client.py`) with its
/// input written; [`client_results`] collects what it prints.
pub(crate) fn spawn_client(lang: Lang, url: &str, prefix: &str, input: Value) -> Child {
    let mut input = input;
    input["redisUrl"] = json!(url);
    input["keyPrefix"] = json!(prefix);
    let mut cmd = match lang {
        Lang::Rust => Command::new(env!("CARGO_BIN_EXE_interop-client")),
        Lang::Python => {
            let mut c = Command::new(python());
            c.arg(clamator_testkit::python_peer::driver("client.py"));
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
pub(crate) fn client_results(lang: Lang, mut child: Child) -> Vec<Value> {
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

/// A client driver's input making the calls of `list`.
pub(crate) fn calls(list: Value) -> Value {
    json!({ "calls": list })
}

/// `r` is a result equal (as numbers) to `expected`.
pub(crate) fn assert_result(r: &Value, expected: Value, what: &str) {
    assert_eq!(r["kind"], "result", "{what}: {r}");
    // Python writes 5.0 where TypeScript and Rust may write 5: compare as numbers.
    assert!(
        json_eq(&r["result"], &expected),
        "{what}: got {}, want {expected}",
        r["result"]
    );
}

/// JSON equality with numbers compared by value (`5.0` equals `5`).
pub(crate) fn json_eq(a: &Value, b: &Value) -> bool {
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

/// `r` is an rpc-error of `code` whose message contains `message` (ignoring case).
pub(crate) fn assert_rpc_error(r: &Value, code: i64, message: &str, what: &str) {
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

/// XADDs a raw request envelope to `service` with replies to `<prefix>:replies:probe`.
pub(crate) fn raw_request(env: &Env, prefix: &str, service: &str, envelope: &str) {
    raw_request_with(env, prefix, service, envelope, &[]);
}

/// [`raw_request`] with `extra` fields after clamator's.
pub(crate) fn raw_request_with(
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
pub(crate) fn probe_replies(env: &Env, prefix: &str, want: usize, wait: Duration) -> Vec<Value> {
    probe_replies_until(env, prefix, wait, |r| r.len() >= want)
}

/// The replies on `<prefix>:replies:probe` once `done` holds for them, or after `wait`.
pub(crate) fn probe_replies_until(
    env: &Env,
    prefix: &str,
    wait: Duration,
    done: impl Fn(&[Value]) -> bool,
) -> Vec<Value> {
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
        if done(&replies) || Instant::now() >= deadline {
            return replies;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// Has `caller` call `arith.slowAdd {1, 2}` (sleeping `sleep_ms`) on a thread of its own, and
/// returns once the server instance `holder` holds the request, so that killing it leaves the
/// request pending for another server's reclaim loop. Join the handle for the results.
pub(crate) fn slow_call_held_by(
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
