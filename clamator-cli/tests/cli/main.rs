//! The `clamator` binary against private redis-servers: each test starts its own on a free
//! loopback port (never the Redis on 6379), serves what it needs in-process, runs the binary
//! and checks its `--json` output and exit code.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod acl;
// The dashboard in headless Chromium: step 3 of the test ladder.
#[cfg(feature = "full-tests")]
mod browser;
mod call;
mod dashboard;
// Clusters and sentinels, and the Python peer: step 3 of the test ladder.
#[cfg(feature = "full-tests")]
mod deployments;
mod describe;
mod dlq;
mod events;
#[cfg(feature = "full-tests")]
mod mixed_pool;
mod pending;
mod services;
mod stat;
mod tail;

use std::process::Stdio;
use std::time::Duration;

use clamator_examples::arith::{self, Counter};
use clamator_redis::{RedisServer, ServerConfig, ServiceOptions};
use clamator_testkit::local_redis::RedisProcess;
use serde_json::Value;

/// What one run of the binary printed, and how it exited.
#[derive(Debug)]
pub struct Run {
    /// The exit code (-1 when killed by a signal).
    pub code: i32,
    /// What it printed on stdout.
    pub stdout: String,
    /// What it printed on stderr.
    pub stderr: String,
}

impl Run {
    /// The one JSON document on stdout.
    pub fn json(&self) -> Value {
        serde_json::from_str(self.stdout.trim()).unwrap_or_else(|e| {
            panic!(
                "stdout is not one JSON document ({e}): {:?}; stderr: {:?}",
                self.stdout, self.stderr
            )
        })
    }
}

/// The binary with the environment it would read cleared, so only the flags count.
pub fn command(url: &str, prefix: &str, args: &[&str]) -> tokio::process::Command {
    let mut cmd = tokio::process::Command::new(env!("CARGO_BIN_EXE_clamator"));
    for var in [
        "REDIS_URL",
        "CLAMATOR_PREFIX",
        "CLAMATOR_REDIS_CLUSTER",
        "CLAMATOR_SENTINEL_MASTER",
        "CLAMATOR_TLS_CA_CERT",
    ] {
        cmd.env_remove(var);
    }
    cmd.args(["--redis-url", url, "--prefix", prefix])
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true);
    cmd
}

/// Runs the binary to its end (at most 30 s).
pub async fn clamator(url: &str, prefix: &str, args: &[&str]) -> Run {
    run(command(url, prefix, args)).await
}

/// Runs a prepared command to its end (at most 30 s).
pub async fn run(mut cmd: tokio::process::Command) -> Run {
    let out = tokio::time::timeout(Duration::from_secs(30), cmd.output())
        .await
        .expect("clamator did not finish within 30 s")
        .unwrap();
    Run {
        code: out.status.code().unwrap_or(-1),
        stdout: String::from_utf8(out.stdout).unwrap(),
        stderr: String::from_utf8(out.stderr).unwrap(),
    }
}

/// A raw connection for setting things up and looking at what the binary left.
///
/// Its response timeout is long: some tests fill Redis with scripts that take seconds on a
/// loaded machine, past redis-rs's default.
pub async fn redis_conn(redis: &RedisProcess) -> redis::aio::MultiplexedConnection {
    let config = redis::AsyncConnectionConfig::new()
        .set_response_timeout(Some(std::time::Duration::from_secs(60)));
    redis::Client::open(redis.url())
        .unwrap()
        .get_multiplexed_async_connection_with_config(&config)
        .await
        .unwrap()
}

/// Serves `arith` and `notifications` (its pings go to `on_ping`) under `prefix`, with
/// `arith` over `partitions` command streams.
pub async fn serve(
    redis: &RedisProcess,
    prefix: &str,
    instance: &str,
    partitions: usize,
    on_ping: impl Fn(Option<String>) + Send + Sync + 'static,
) -> RedisServer {
    let server = RedisServer::builder(
        ServerConfig::new(prefix)
            .redis_url(redis.url())
            .instance_id(instance),
    )
    .service_with(
        arith::arith_service(Counter::default()).unwrap(),
        ServiceOptions::new().partitions(partitions).concurrency(4),
    )
    .service(arith::notifications_service(Counter::default(), on_ping).unwrap())
    .start()
    .await
    .unwrap();
    // Every consumer loop has read once, so every consumer exists in its group.
    eventually(Duration::from_secs(10), || {
        let ready = server.is_ready();
        async move { ready }
    })
    .await;
    server
}

/// `contracts/arith.json` as servers publish it, by `publisher`.
pub fn published_arith(publisher: &str) -> Value {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../contracts/arith.json");
    let file: Value = serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
    let methods: Vec<Value> = file["methods"]
        .as_object()
        .unwrap()
        .iter()
        .map(|(name, m)| {
            serde_json::json!({
                "name": name,
                "notification": false,
                "paramsSchema": m["params"],
                "resultSchema": m["result"],
                "paramsHash": format!("{name}-params-hash"),
                "resultHash": format!("{name}-result-hash"),
            })
        })
        .collect();
    serde_json::json!({
        "service": "arith",
        "methods": methods,
        "publishedBy": publisher,
        "publishedAt": 1_700_000_000_000u64,
    })
}

/// Publishes `doc` as the contract of `service` (what servers will do at start).
pub async fn publish(redis: &RedisProcess, prefix: &str, service: &str, doc: &Value) {
    let mut conn = redis_conn(redis).await;
    let _: () = redis::cmd("SET")
        .arg(clamator_redis::keys::contract_key(prefix, service))
        .arg(doc.to_string())
        .query_async(&mut conn)
        .await
        .unwrap();
}

/// The path of a contract file of this repository.
pub fn contract_file(name: &str) -> String {
    format!("{}/../contracts/{name}", env!("CARGO_MANIFEST_DIR"))
}

/// Waits until `check` holds, at most `limit`.
pub async fn eventually<F, Fut>(limit: Duration, mut check: F)
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let deadline = tokio::time::Instant::now() + limit;
    while !check().await {
        assert!(
            tokio::time::Instant::now() < deadline,
            "condition not met within {limit:?}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn usage_errors_exit_2_and_name_what_is_wrong() {
    // No Redis is needed: each is refused before connecting.
    let url = "redis://127.0.0.1:1";
    let no_prefix = {
        let mut cmd = command(url, "", &["services", "--json"]);
        cmd.env_remove("CLAMATOR_PREFIX");
        run(cmd).await
    };
    assert_eq!(no_prefix.code, 2, "{no_prefix:?}");
    assert_eq!(no_prefix.json()["error"]["kind"], "usage");
    assert!(no_prefix.stderr.contains("--prefix"), "{no_prefix:?}");

    let list_without_mode = clamator("redis://a:1,b:2", "p", &["services"]).await;
    assert_eq!(list_without_mode.code, 2, "{list_without_mode:?}");
    assert!(list_without_mode.stderr.contains("--cluster"));

    let unknown = clamator(url, "p", &["frobnicate"]).await;
    assert_eq!(unknown.code, 2, "{unknown:?}");
    let bad_duration = clamator(url, "p", &["call", "arith.add", "--timeout", "soon"]).await;
    assert_eq!(bad_duration.code, 2, "{bad_duration:?}");
    assert!(bad_duration.stderr.contains("not a duration"));

    let too_long = clamator(
        url,
        "p",
        &["dashboard", "--history", "100h", "--interval", "100ms"],
    )
    .await;
    assert_eq!(too_long.code, 2, "{too_long:?}");
    assert!(too_long.stderr.contains("at most 10000"), "{too_long:?}");
    let short_token = clamator(url, "p", &["dashboard", "--token", "short"]).await;
    assert_eq!(short_token.code, 2, "{short_token:?}");

    let help = clamator(url, "p", &["--help"]).await;
    assert_eq!(help.code, 0);
    for command in [
        "call",
        "services",
        "describe",
        "stat",
        "pending",
        "dlq",
        "tail",
        "acl",
        "dashboard",
    ] {
        assert!(
            help.stdout.contains(command),
            "{command} missing from --help"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unreachable_redis_exits_3_for_every_command() {
    // A port nothing listens on: bind one, then free it.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let url = format!("redis://127.0.0.1:{port}");
    for args in [
        &["call", "arith.add", "{}", "--no-validate"][..],
        &["services"],
        &["describe", "arith"],
        &["stat"],
        &["pending", "arith"],
        &["dlq", "list", "arith"],
        &["tail", "arith", "--count", "1"],
    ] {
        let mut all = args.to_vec();
        all.push("--json");
        let out = clamator(&url, "p", &all).await;
        assert_eq!(out.code, 3, "{args:?}: {out:?}");
        assert_eq!(out.json()["error"]["kind"], "transport", "{args:?}");
    }
}

/// A subscriber of `orders.orderPlaced` that counts its runs in `runs`; with `fixed`, it
/// fails ("billing is broken") until `fixed` is set.
pub fn orders_subscriber(
    runs: std::sync::Arc<std::sync::atomic::AtomicU64>,
    fixed: Option<std::sync::Arc<std::sync::atomic::AtomicBool>>,
) -> clamator_protocol::Service {
    use std::sync::atomic::Ordering;
    clamator_protocol::Service::builder("orders")
        .notification("orderPlaced", move |_: Value| {
            let ok = fixed.as_ref().is_none_or(|f| f.load(Ordering::SeqCst));
            if ok {
                runs.fetch_add(1, Ordering::SeqCst);
            }
            async move {
                if ok {
                    Ok(())
                } else {
                    Err(clamator_protocol::RpcError::new(
                        -32000,
                        "billing is broken",
                    ))
                }
            }
        })
        .build()
        .unwrap()
}

/// Five `orders.orderPlaced` events on `<prefix>:events:orders` and the subscriber group
/// `billing`, whose consumer `billing:rust-1` read the first two and acknowledged neither:
/// what a subscriber stopped mid-work leaves.
pub async fn subscriber_behind(conn: &mut redis::aio::MultiplexedConnection, prefix: &str) {
    let stream = format!("{prefix}:events:orders");
    for n in 0..5 {
        let _: String = redis::cmd("XADD")
            .arg(&stream)
            .arg("*")
            .arg("type")
            .arg("event")
            .arg("envelope")
            .arg(format!(
                r#"{{"jsonrpc":"2.0","method":"orders.orderPlaced","params":{{"n":{n}}}}}"#
            ))
            .query_async(conn)
            .await
            .unwrap();
    }
    taken_and_left(conn, &stream, "billing", "billing:rust-1", Some(2)).await;
}

/// The group `group` on `stream`, from its first entry, and `consumer` reading (`count` or
/// every entry) and never acknowledging: what a consumer that died mid-work leaves pending.
pub async fn taken_and_left(
    conn: &mut redis::aio::MultiplexedConnection,
    stream: &str,
    group: &str,
    consumer: &str,
    count: Option<usize>,
) {
    let _: () = redis::cmd("XGROUP")
        .arg("CREATE")
        .arg(stream)
        .arg(group)
        .arg("0")
        .query_async(conn)
        .await
        .unwrap();
    let mut read = redis::cmd("XREADGROUP");
    read.arg("GROUP").arg(group).arg(consumer);
    if let Some(n) = count {
        read.arg("COUNT").arg(n);
    }
    let _: redis::Value = read
        .arg("STREAMS")
        .arg(stream)
        .arg(">")
        .query_async(conn)
        .await
        .unwrap();
}
