//! The Rust side of the interop suite's client driver, speaking the same JSON-over-stdio
//! protocol as clamator's drivers and `tests/interop/py/client.py`:
//!
//! * stdin: one JSON object `{"redisUrl", "keyPrefix", "defaultTimeoutMs"?: 5000,
//!   "calls": [{"method": "arith.add", "params": …, "notification"?: bool, "timeoutMs"?: n}],
//!   "concurrent"?: n}`;
//! * stdout: one JSON line `{"results": [...]}`, one item per call, in order (with
//!   `concurrent` n > 1 the call list runs n times in parallel; results are copy 0's items,
//!   then copy 1's, …);
//! * exit 0 when results were printed, 2 on bad input.
#![allow(clippy::print_stdout, clippy::print_stderr)]

use std::io::Read as _;
use std::process::ExitCode;
use std::time::Duration;

use clamator_protocol::{CallOptions, Client, Error};
use clamator_redis::{RedisTransport, TransportConfig};
use serde::Deserialize;
use serde_json::{json, Value};

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Input {
    redis_url: String,
    key_prefix: String,
    #[serde(default = "default_timeout_ms")]
    default_timeout_ms: u64,
    calls: Vec<Call>,
    #[serde(default)]
    concurrent: Option<usize>,
}

fn default_timeout_ms() -> u64 {
    5_000
}

#[derive(Deserialize, Clone)]
#[serde(rename_all = "camelCase")]
struct Call {
    method: String,
    #[serde(default)]
    params: Value,
    #[serde(default)]
    notification: bool,
    #[serde(default)]
    timeout_ms: Option<u64>,
}

#[tokio::main]
async fn main() -> ExitCode {
    clamator_examples::init_tracing("error");
    let mut text = String::new();
    let input: Input = match std::io::stdin()
        .read_to_string(&mut text)
        .map_err(|e| e.to_string())
        .and_then(|_| serde_json::from_str(&text).map_err(|e| e.to_string()))
    {
        Ok(i) => i,
        Err(e) => {
            eprintln!("interop-client: bad stdin: {e}");
            return ExitCode::from(2);
        }
    };
    let config = TransportConfig::new(&input.key_prefix)
        .redis_url(&input.redis_url)
        .default_timeout(Duration::from_millis(input.default_timeout_ms));
    let results = match RedisTransport::connect(config).await {
        Ok(redis) => {
            let client = clamator_protocol::Client::new(redis.clone());
            let copies = input.concurrent.unwrap_or(1).max(1);
            let runs: Vec<_> = (0..copies)
                .map(|_| {
                    let (client, calls) = (client.clone(), input.calls.clone());
                    tokio::spawn(async move { run_all(&client, &calls).await })
                })
                .collect();
            let mut results = Vec::new();
            for run in runs {
                match run.await {
                    Ok(r) => results.extend(r),
                    Err(e) => results.push(
                        json!({"ok": false, "kind": "unknown-error", "message": e.to_string()}),
                    ),
                }
            }
            redis.stop().await;
            results
        }
        Err(e) => input
            .calls
            .iter()
            .map(|_| clamator_examples::outcome_json(Err(Error::transport(e.to_string()))))
            .collect(),
    };
    println!("{}", json!({ "results": results }));
    ExitCode::SUCCESS
}

async fn run_all(client: &Client, calls: &[Call]) -> Vec<Value> {
    let mut out = Vec::with_capacity(calls.len());
    for call in calls {
        let Some((service, method)) = call.method.split_once('.') else {
            out.push(json!({"ok": false, "kind": "unknown-error", "message": format!("bad method {:?}", call.method)}));
            continue;
        };
        let result = if call.notification {
            client
                .notify(service, method, &call.params)
                .await
                .map(|()| None)
        } else {
            let options = match call.timeout_ms {
                Some(ms) => CallOptions::timeout(Duration::from_millis(ms)),
                None => CallOptions::default(),
            };
            client
                .call_value(service, method, &call.params, options)
                .await
                .map(Some)
        };
        out.push(clamator_examples::outcome_json(result));
    }
    out
}
