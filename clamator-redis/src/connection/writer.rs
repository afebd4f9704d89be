//! A connection of its own for one writing loop (the server's reply writer and its acker):
//! in standalone mode over plain TCP or a Unix socket, clamator-redis's own connection, whose
//! replies are read without redis-rs's parser and which sends each pipeline straight, with no
//! queue between the loop and the socket; over TLS, in Cluster and in Sentinel mode, the
//! shared connection, which follows the topology.
//!
//! A connection that broke is opened again for the next batch. While Redis stays unreachable,
//! a batch fails at once until a short delay has passed (100 ms, doubling to 1 s), so the
//! loop does not wait a connect timeout per batch; a failed batch leaves its entries pending,
//! as it did on the shared connection.

use std::time::{Duration, Instant};

use redis::{FromRedisValue, Pipeline, RedisResult};

use super::{is_connection_error, needs_new_connection, Clients, Connector, RawConn, RedisConn};
use crate::backoff::Backoff;

/// The longest wait between two attempts to open the connection again.
const MAX_RETRY_DELAY: Duration = Duration::from_secs(1);

/// The connection of one writing loop.
pub(crate) struct Writer {
    connector: Connector,
    /// What the loop writes over when it has no connection of its own.
    shared: RedisConn,
    /// Whether the loop has a connection of its own (standalone, not TLS).
    own: bool,
    conn: Option<RedisConn>,
    /// No new connection is tried before then (after one failed to open).
    retry_at: Option<Instant>,
    backoff: Backoff,
}

impl Writer {
    /// A writer over `connector`'s target; `shared` is used where a connection of its own is
    /// not (TLS, Cluster, Sentinel).
    pub(crate) fn new(connector: Connector, shared: RedisConn) -> Self {
        let own = match &connector.clients {
            Clients::Standalone(client) => RawConn::serves(client.get_connection_info()),
            Clients::Cluster(_) | Clients::Sentinel(_) => false,
        };
        Self {
            connector,
            shared,
            own,
            conn: None,
            retry_at: None,
            backoff: Backoff::new(),
        }
    }

    /// Sends `pipe` and reads its replies. When the connection turns out to be broken (Redis
    /// restarted since the last batch: the loss is only seen on use), the pipeline is sent
    /// once more on a new connection, so it must be one that may run twice: a reply written
    /// twice is read once (its call stops waiting at the first), and acknowledging or trimming
    /// again changes nothing.
    pub(crate) async fn query<T: FromRedisValue>(&mut self, pipe: &Pipeline) -> RedisResult<T> {
        if !self.own {
            return pipe.query_async(&mut self.shared.clone()).await;
        }
        let had_connection = self.conn.is_some();
        match self.send(pipe).await {
            Err(e) if had_connection && is_connection_error(&e) => self.send(pipe).await,
            sent => sent,
        }
    }

    async fn send<T: FromRedisValue>(&mut self, pipe: &Pipeline) -> RedisResult<T> {
        if self.conn.is_none() {
            let opened = self.open().await?;
            self.conn = Some(opened);
        }
        let Some(conn) = &mut self.conn else {
            return pipe.query_async(&mut self.shared.clone()).await;
        };
        let sent = pipe.query_async(conn).await;
        if let Err(e) = &sent {
            if needs_new_connection(e) {
                self.conn = None;
            }
        }
        sent
    }

    /// Opens the connection, or fails at once while the delay after a failed attempt runs.
    async fn open(&mut self) -> RedisResult<RedisConn> {
        if self.retry_at.is_some_and(|at| Instant::now() < at) {
            return Err(redis::RedisError::from(std::io::Error::new(
                std::io::ErrorKind::NotConnected,
                "Redis unreachable; the connection is opened again shortly",
            )));
        }
        let Clients::Standalone(client) = &self.connector.clients else {
            return Ok(self.shared.clone());
        };
        let settings = &self.connector.settings;
        match RawConn::connect(
            client.get_connection_info(),
            settings.connect_timeout,
            settings.response_timeout,
        )
        .await
        {
            Ok(conn) => {
                self.retry_at = None;
                self.backoff.reset();
                Ok(RedisConn::Raw(conn))
            }
            Err(e) => {
                let delay = self.backoff.next_delay().min(MAX_RETRY_DELAY);
                self.retry_at = Some(Instant::now() + delay);
                Err(e)
            }
        }
    }
}

#[cfg(all(test, feature = "redis-tests"))]
mod tests {
    use super::*;
    use crate::target::RedisTarget;
    use clamator_testkit::local_redis::RedisProcess;

    async fn writer(url: &str) -> Result<Writer, clamator_protocol::Error> {
        let connector = Connector::new(&RedisTarget::new(url))?;
        let shared = connector.shared().await?;
        Ok(Writer::new(connector, shared))
    }

    fn incr() -> Pipeline {
        let mut pipe = redis::pipe();
        pipe.cmd("INCR").arg("w:n");
        pipe
    }

    #[tokio::test]
    async fn a_writer_opens_its_connection_again_after_redis_restarts() {
        let mut redis = RedisProcess::start().unwrap();
        let mut w = writer(&redis.url()).await.unwrap();
        assert!(w.own, "standalone over TCP has a connection of its own");
        let (n,): (i64,) = w.query(&incr()).await.unwrap();
        assert_eq!(n, 1);
        assert!(matches!(w.conn, Some(RedisConn::Raw(_))));

        redis.kill();
        let failed: RedisResult<(i64,)> = w.query(&incr()).await;
        assert!(failed.is_err());
        assert!(w.conn.is_none(), "a broken connection is let go");
        // Unreachable: the next batch fails without waiting for a connect timeout.
        let _: RedisResult<(i64,)> = w.query(&incr()).await;
        let started = Instant::now();
        let at_once: RedisResult<(i64,)> = w.query(&incr()).await;
        assert!(at_once.is_err());
        assert!(started.elapsed() < Duration::from_millis(50));

        redis.restart().unwrap();
        // A connection broken under the writer (Redis restarted between two batches) is
        // replaced within the batch that finds it broken.
        tokio::time::sleep(MAX_RETRY_DELAY).await;
        let (n,): (i64,) = w.query(&incr()).await.unwrap();
        assert_eq!(n, 1, "a fresh, empty Redis");
        redis.kill();
        redis.restart().unwrap();
        let (n,): (i64,) = w.query(&incr()).await.unwrap();
        assert_eq!(n, 1, "the first batch after a restart is written");
        let mut n = None;
        for _ in 0..50 {
            if let Ok((v,)) = w.query::<(i64,)>(&incr()).await {
                n = Some(v);
                break;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        assert_eq!(n, Some(2));
    }

    #[tokio::test]
    async fn errors_in_a_pipeline_are_its_results_and_keep_the_connection() {
        let redis = RedisProcess::start().unwrap();
        let mut w = writer(&redis.url()).await.unwrap();
        let mut pipe = redis::pipe();
        pipe.ignore_errors();
        pipe.cmd("SET").arg("w:s").arg("x");
        pipe.cmd("INCR").arg("w:s");
        pipe.cmd("XADD").arg("w:s").arg("*").arg("f").arg("v");
        let results: Vec<RedisResult<redis::Value>> = w.query(&pipe).await.unwrap();
        assert!(results[0].is_ok());
        assert!(results[1].is_err());
        assert_eq!(results[2].as_ref().unwrap_err().code(), Some("WRONGTYPE"));
        assert!(w.conn.is_some());
    }
}
