//! Helpers shared by the integration tests: a private redis-server per test, servers and
//! clients wired to it, and raw Redis access for poking at streams.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::future::Future;
use std::time::{Duration, Instant};

use clamator_examples::arith::{self, Counter};
use clamator_examples::local_redis::RedisProcess;
use clamator_redis::{ClientConfig, RedisClient, RedisServer, ServerConfig};
use redis::aio::MultiplexedConnection;

pub use clamator_examples;

/// A private redis-server for one test, plus a key prefix unique to the test.
pub struct TestRedis {
    /// The redis-server process.
    pub process: RedisProcess,
    /// A fresh key prefix.
    pub prefix: String,
}

impl TestRedis {
    /// Starts a redis-server without persistence.
    pub fn start() -> Self {
        Self::start_with(&["--save", "", "--appendonly", "no"])
    }

    /// Starts a redis-server with these arguments.
    pub fn start_with(args: &[&str]) -> Self {
        let process = RedisProcess::start_with(args).expect("start a private redis-server");
        Self {
            process,
            prefix: format!("t-{}", uuid::Uuid::new_v4().simple()),
        }
    }

    /// Its URL.
    pub fn url(&self) -> String {
        self.process.url()
    }

    /// A server config for this Redis and prefix.
    pub fn server_config(&self) -> ServerConfig {
        ServerConfig::new(&self.prefix).redis_url(self.url())
    }

    /// A client config for this Redis and prefix.
    pub fn client_config(&self) -> ClientConfig {
        ClientConfig::new(&self.prefix).redis_url(self.url())
    }

    /// Starts a server with the arith service (and notifications, pings discarded).
    pub async fn arith_server(
        &self,
        config: ServerConfig,
        concurrency: usize,
    ) -> (RedisServer, Counter) {
        let handled = Counter::default();
        let server = RedisServer::builder(config)
            .service_with_concurrency(arith::arith_service(handled.clone()).unwrap(), concurrency)
            .service(arith::notifications_service(handled.clone(), |_| {}).unwrap())
            .start()
            .await
            .expect("start server");
        (server, handled)
    }

    /// A connected client with the default config.
    pub async fn client(&self) -> RedisClient {
        RedisClient::connect(self.client_config())
            .await
            .expect("connect client")
    }

    /// A raw connection for inspecting and poking at keys.
    pub async fn raw(&self) -> MultiplexedConnection {
        redis::Client::open(self.url())
            .unwrap()
            .get_multiplexed_async_connection()
            .await
            .unwrap()
    }

    /// `<prefix>:cmds:<service>`.
    pub fn cmds(&self, service: &str) -> String {
        clamator_redis::keys::command_stream(&self.prefix, service)
    }
}

/// Number of entries pending in `group` of `stream`.
pub async fn pending_count(conn: &mut MultiplexedConnection, stream: &str, group: &str) -> i64 {
    let summary: redis::Value = redis::cmd("XPENDING")
        .arg(stream)
        .arg(group)
        .query_async(conn)
        .await
        .unwrap();
    match summary {
        redis::Value::Array(parts) => match parts.first() {
            Some(redis::Value::Int(n)) => *n,
            other => panic!("unexpected XPENDING reply {other:?}"),
        },
        other => panic!("unexpected XPENDING reply {other:?}"),
    }
}

/// The envelopes on a stream, oldest first.
pub async fn stream_envelopes(
    conn: &mut MultiplexedConnection,
    key: &str,
) -> Vec<serde_json::Value> {
    let reply: redis::streams::StreamRangeReply = redis::cmd("XRANGE")
        .arg(key)
        .arg("-")
        .arg("+")
        .query_async(conn)
        .await
        .unwrap();
    reply
        .ids
        .iter()
        .filter_map(|e| e.get::<String>("envelope"))
        .map(|s| serde_json::from_str(&s).unwrap())
        .collect()
}

/// Polls `check` every 20 ms until it is true; panics with `what` after `limit`. A bounded
/// wait for something that must happen, not a timing assertion.
pub async fn wait_for<F, Fut>(what: &str, limit: Duration, mut check: F)
where
    F: FnMut() -> Fut,
    Fut: Future<Output = bool>,
{
    let deadline = Instant::now() + limit;
    while !check().await {
        assert!(Instant::now() < deadline, "gave up waiting for: {what}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// Waits until nothing is pending in `group` of `stream`. The ack follows the reply, so a
/// caller can hold its answer a moment before the entry is acknowledged.
pub async fn wait_all_acked(conn: &MultiplexedConnection, stream: &str, group: &str) {
    wait_for(
        &format!("every entry of {stream} acknowledged"),
        Duration::from_secs(10),
        || {
            let mut conn = conn.clone();
            async move { pending_count(&mut conn, stream, group).await == 0 }
        },
    )
    .await;
}

/// Creates `group` on `stream` at `$` (with `MKSTREAM`), as a server would at start, so
/// requests written now wait in the group for a server started later.
pub async fn create_group(conn: &MultiplexedConnection, stream: &str, group: &str) {
    let _: () = redis::cmd("XGROUP")
        .arg("CREATE")
        .arg(stream)
        .arg(group)
        .arg("$")
        .arg("MKSTREAM")
        .query_async(&mut conn.clone())
        .await
        .unwrap();
}

/// Waits until `stream` holds `len` entries.
pub async fn wait_stream_len(conn: &MultiplexedConnection, stream: &str, len: usize) {
    wait_for(
        &format!("{len} entries on {stream}"),
        Duration::from_secs(10),
        || {
            let mut conn = conn.clone();
            async move {
                redis::cmd("XLEN")
                    .arg(stream)
                    .query_async::<usize>(&mut conn)
                    .await
                    .unwrap()
                    == len
            }
        },
    )
    .await;
}
