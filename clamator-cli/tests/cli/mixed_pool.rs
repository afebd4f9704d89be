//! The tool over a pool that mixes languages: a Rust server and the published Python
//! clamator's server in one consumer group. Calls are answered by either, `services` names
//! both consumers and their languages, `describe` reads the contract the Rust server
//! published, and `stat` and `pending` count both.

use std::io::{BufRead, BufReader, Write};
use std::process::{Command, Stdio};
use std::time::Duration;

use clamator_testkit::local_redis::RedisProcess;

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
    let mut child = Command::new(python)
        .arg(clamator_testkit::python_peer::driver("server.py"))
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let config = serde_json::json!({"redisUrl": url, "keyPrefix": prefix, "instanceId": instance});
    let mut stdin = child.stdin.take().unwrap();
    stdin.write_all(config.to_string().as_bytes()).unwrap();
    drop(stdin);
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    assert_eq!(lines.next().unwrap().unwrap(), "READY");
    // Its later lines (pings, HANDLED at exit) are not needed; keep the pipe drained.
    std::thread::spawn(move || for _ in lines {});
    PythonServer(child)
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
    let found = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
    eventually(Duration::from_secs(10), || {
        let (url, found) = (url.clone(), std::sync::Arc::clone(&found));
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
    let stat = clamator(&url, "mx", &["stat", "arith", "--json"]).await;
    assert_eq!(stat.code, 0, "{stat:?}");
    let pending = clamator(&url, "mx", &["pending", "arith", "--json"]).await;
    assert_eq!(pending.code, 0, "{pending:?}");
    drop(python);
    rust.stop().await;
}
