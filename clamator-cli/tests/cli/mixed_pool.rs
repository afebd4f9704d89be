//! The tool over a pool that mixes languages: a Rust server and the published Python
//! clamator's server in one consumer group. Calls are answered by either, `services` names
//! both consumers and their languages, `describe` reads the contract the Rust server
//! published, and `stat` and `pending` count both.

use std::io::{BufRead, BufReader, Write};
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use clamator_protocol::{CallOptions, Client};
use clamator_redis::{RedisTransport, TransportConfig};
use clamator_testkit::local_redis::RedisProcess;
use serde_json::{json, Value};

use crate::{clamator, eventually, serve};

/// The Python clamator's server (`tests/interop/py/server.py`), killed when dropped.
struct PythonServer(std::process::Child);

impl Drop for PythonServer {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn python_server(url: &str, prefix: &str, instance: &str) -> PythonServer {
    let python = clamator_testkit::python_peer::python().unwrap_or_else(|e| panic!("{e}"));
    let mut child = PythonServer(
        Command::new(python)
            .arg(clamator_testkit::python_peer::driver("server.py"))
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .unwrap(),
    );
    let config = serde_json::json!({"redisUrl": url, "keyPrefix": prefix, "instanceId": instance});
    let mut stdin = child.0.stdin.take().unwrap();
    stdin.write_all(config.to_string().as_bytes()).unwrap();
    drop(stdin);
    // Its first line is READY. Read on a thread of its own, so a server that never gets
    // ready fails the test instead of hanging it; the thread then keeps the pipe drained
    // (pings, HANDLED at exit) and ends when the process does.
    let mut lines = BufReader::new(child.0.stdout.take().unwrap()).lines();
    let (ready, first) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let _ = ready.send(lines.next());
        for _ in lines {}
    });
    match first.recv_timeout(Duration::from_secs(30)) {
        Ok(Some(Ok(line))) if line == "READY" => child,
        Ok(other) => panic!("the Python server printed {other:?} instead of READY"),
        Err(_) => panic!("the Python server printed no READY within 30 s"),
    }
}

/// The consumers `clamator pending --json` names, sorted, once.
fn pending_consumers(doc: &Value) -> Vec<String> {
    let mut names: Vec<String> = doc["entries"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["consumer"].as_str().unwrap().to_owned())
        .collect();
    names.sort();
    names.dedup();
    names
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_pool_of_a_rust_and_a_python_server_is_seen_and_served_whole() {
    let redis = RedisProcess::start().unwrap();
    let url = redis.url();
    let rust = serve(&redis, "mx", "rust-1", 1, |_| {}).await;
    let python = tokio::task::spawn_blocking({
        let url = url.clone();
        move || python_server(&url, "mx", "py-1")
    })
    .await
    .unwrap();
    // Enough calls that both consumers get some (each reads whenever it is free).
    for i in 0..12 {
        let params = format!(r#"{{"a":{i},"b":1}}"#);
        let out = clamator(&url, "mx", &["call", "arith.add", &params, "--json"]).await;
        assert_eq!(out.code, 0, "{out:?}");
        assert_eq!(out.json()["result"]["sum"], f64::from(i + 1), "{out:?}");
    }
    let consumers = |doc: &serde_json::Value| -> Vec<(String, String)> {
        doc["services"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|s| s["service"] == "arith")
            .flat_map(|s| {
                s["streams"][0]["groups"][0]["consumers"]
                    .as_array()
                    .unwrap()
                    .clone()
            })
            .map(|c| {
                (
                    c["name"].as_str().unwrap_or("").to_owned(),
                    c["language"].as_str().unwrap_or("").to_owned(),
                )
            })
            .collect()
    };
    let found = Arc::new(Mutex::new(Vec::new()));
    eventually(Duration::from_secs(10), || {
        let (url, found) = (url.clone(), Arc::clone(&found));
        async move {
            let out = clamator(&url, "mx", &["services", "--json"]).await;
            let now = consumers(&out.json());
            let both = now.len() == 2;
            *found.lock().unwrap() = now;
            both
        }
    })
    .await;
    let mut seen = found.lock().unwrap().clone();
    seen.sort();
    assert_eq!(
        seen,
        [
            ("arith:py-1".to_owned(), "python".to_owned()),
            ("arith:rust-1".to_owned(), "rust".to_owned())
        ]
    );
    let described = clamator(&url, "mx", &["describe", "arith", "--json"]).await;
    assert_eq!(described.code, 0, "{described:?}");
    let methods = described.json()["methods"].as_array().unwrap().clone();
    assert!(methods.iter().any(|m| m["name"] == "add"), "{methods:?}");

    // Under load (4 callers, slowAdd 300 ms), both servers hold requests: `pending` names
    // both consumers and `stat` counts both.
    let transport = RedisTransport::connect(TransportConfig::new("mx").redis_url(&url))
        .await
        .unwrap();
    let running = Arc::new(AtomicBool::new(true));
    let callers: Vec<_> = (0..4)
        .map(|w| {
            let (client, running) = (Client::new(transport.clone()), Arc::clone(&running));
            tokio::spawn(async move {
                let mut calls = 0u64;
                while running.load(Ordering::SeqCst) {
                    let r: Value = client
                        .call_with(
                            "arith",
                            "slowAdd",
                            &json!({"a": w, "b": calls, "sleepMs": 300}),
                            CallOptions::timeout(Duration::from_secs(20)),
                        )
                        .await
                        .unwrap();
                    assert_eq!(r["sum"].as_f64(), Some(f64::from(w) + calls as f64), "{r}");
                    calls += 1;
                }
                calls
            })
        })
        .collect();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
    let held = loop {
        let out = clamator(&url, "mx", &["pending", "arith", "--json"]).await;
        assert_eq!(out.code, 0, "{out:?}");
        let doc = out.json();
        if pending_consumers(&doc) == ["arith:py-1", "arith:rust-1"] {
            break doc;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "pending never named both consumers within 20 s; last: {doc}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    };
    assert_eq!(held["service"], "arith", "{held}");
    for entry in held["entries"].as_array().unwrap() {
        assert_eq!(entry["method"], "arith.slowAdd", "{held}");
        assert_eq!(entry["entryFound"], true, "{held}");
    }
    let stat = clamator(&url, "mx", &["stat", "arith", "--json"]).await;
    assert_eq!(stat.code, 0, "{stat:?}");
    let doc = stat.json();
    let arith = &doc["services"][0];
    assert_eq!(arith["service"], "arith", "{doc}");
    assert_eq!(arith["consumers"], 2, "{doc}");
    assert_eq!(arith["streams"][0]["groups"][0]["name"], "arith", "{doc}");
    assert_eq!(arith["streams"][0]["groups"][0]["consumers"], 2, "{doc}");

    // Once the load stops and everything is acknowledged: nothing pending, and every
    // request counted.
    running.store(false, Ordering::SeqCst);
    let mut made = 12;
    for caller in callers {
        made += tokio::time::timeout(Duration::from_secs(30), caller)
            .await
            .expect("a caller did not stop within 30 s")
            .unwrap();
    }
    transport.stop().await;
    let settled = Arc::new(Mutex::new(Value::Null));
    eventually(Duration::from_secs(20), || {
        let (url, settled) = (url.clone(), Arc::clone(&settled));
        async move {
            let out = clamator(&url, "mx", &["stat", "arith", "--json"]).await;
            assert_eq!(out.code, 0, "{out:?}");
            let doc = out.json();
            let idle = doc["services"][0]["pending"] == 0;
            *settled.lock().unwrap() = doc;
            idle
        }
    })
    .await;
    let doc = settled.lock().unwrap().clone();
    let arith = &doc["services"][0];
    assert_eq!(arith["consumers"], 2, "{doc}");
    assert_eq!(arith["deadLetters"], 0, "{doc}");
    let stream = &arith["streams"][0];
    assert_eq!(stream["entriesAdded"], made, "{doc}");
    assert_eq!(stream["groups"][0]["entriesRead"], made, "{doc}");
    assert_eq!(stream["groups"][0]["lag"], 0, "{doc}");
    let pending = clamator(&url, "mx", &["pending", "arith", "--json"]).await;
    assert_eq!(pending.code, 0, "{pending:?}");
    assert_eq!(
        pending.json(),
        json!({"service": "arith", "group": "arith", "entries": []})
    );
    drop(python);
    rust.stop().await;
}
