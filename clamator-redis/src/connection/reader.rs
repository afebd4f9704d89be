//! The one reconnecting blocking reader: a loop that reads a stream with a blocking command
//! (`XREADGROUP`, `XREAD`) says only what to read and what to do with it; the reader owns the
//! dedicated connection, opens it again after a failure, waits out failures with backoff,
//! treats a topology change as a switch rather than an outage, and ends at its stop token —
//! while connecting, while waiting, and (where the loop allows it) mid-read.

use std::time::Duration;

use clamator_protocol::Error;
use tokio_util::sync::CancellationToken;

use super::{is_connection_error, is_topology_change, Connector, RedisConn};
use crate::backoff::Backoff;

/// Whether a read in progress may be dropped when the stop token fires.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum AtStop {
    /// Drop it: what it would have returned is not needed (a reply reader, a broadcast
    /// reader, whose connection goes with it).
    CutShort,
    /// Let it finish (within its `BLOCK` time): a consumer-group read cut short could have
    /// delivered entries to this consumer that nobody would see until they are reclaimed.
    Finish,
}

/// Why a read produced nothing.
#[derive(Debug)]
pub(crate) enum ReadError {
    /// No dedicated connection could be opened.
    Connect(Error),
    /// Redis answered the read with an error, or the connection broke during it.
    Redis(redis::RedisError),
}

impl ReadError {
    /// Whether Redis is unreachable (rather than answering with an error).
    pub(crate) fn is_outage(&self) -> bool {
        match self {
            Self::Connect(_) => true,
            Self::Redis(e) => is_connection_error(e),
        }
    }

    /// The Redis error, if Redis answered.
    pub(crate) fn redis(&self) -> Option<&redis::RedisError> {
        match self {
            Self::Connect(_) => None,
            Self::Redis(e) => Some(e),
        }
    }
}

impl std::fmt::Display for ReadError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Connect(e) => e.fmt(f),
            Self::Redis(e) => e.fmt(f),
        }
    }
}

/// What the reader does after a failed read: pure, so each arm is tested.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Recovery {
    /// Open a new connection before the next read (a broken connection, or a slot or
    /// master that moved: the new one follows the new topology).
    pub(crate) reconnect: bool,
    /// Start the backoff over: a topology change is a switch, not an outage, so look again
    /// soon whatever came before.
    pub(crate) reset_backoff: bool,
    /// Log at `info` (an expected switch) rather than `error`.
    pub(crate) quiet: bool,
}

/// How the reader recovers from `e`.
pub(crate) fn recovery(e: &ReadError) -> Recovery {
    match e {
        ReadError::Connect(_) => Recovery {
            reconnect: true,
            reset_backoff: false,
            quiet: false,
        },
        ReadError::Redis(e) => {
            let topology = is_topology_change(e.code());
            Recovery {
                reconnect: topology || is_connection_error(e),
                reset_backoff: topology,
                quiet: topology,
            }
        }
    }
}

/// A blocking reader on a connection of its own.
pub(crate) struct BlockingReader {
    connector: Connector,
    stop: CancellationToken,
    at_stop: AtStop,
    conn: Option<RedisConn>,
    backoff: Backoff,
    /// What reads, for logs: `consumer loop`, `reply reader`, ….
    what: &'static str,
    /// The service it reads for, for logs (empty for a transport's reply reader).
    service: String,
}

impl BlockingReader {
    /// A reader that connects on its first read.
    pub(crate) fn new(
        connector: Connector,
        stop: CancellationToken,
        at_stop: AtStop,
        what: &'static str,
        service: impl Into<String>,
    ) -> Self {
        Self {
            connector,
            stop,
            at_stop,
            conn: None,
            backoff: Backoff::new(),
            what,
            service: service.into(),
        }
    }

    /// Runs `read` on the dedicated connection, connecting first when there is none.
    /// `None` once stopped. After an error the reader has already dropped a connection that
    /// must be replaced and reset its backoff on a topology change; the loop decides what
    /// else to do and then usually calls [`pause`](Self::pause).
    pub(crate) async fn read<T>(
        &mut self,
        read: impl AsyncFnOnce(&mut RedisConn) -> redis::RedisResult<T>,
    ) -> Option<Result<T, ReadError>> {
        if self.stop.is_cancelled() {
            return None;
        }
        let conn = match &mut self.conn {
            Some(conn) => conn,
            None => {
                let connected = tokio::select! {
                    () = self.stop.cancelled() => return None,
                    c = self.connector.dedicated() => c,
                };
                match connected {
                    Ok(conn) => self.conn.insert(conn),
                    Err(e) => return Some(Err(ReadError::Connect(e))),
                }
            }
        };
        let result = match self.at_stop {
            AtStop::CutShort => tokio::select! {
                () = self.stop.cancelled() => return None,
                r = read(conn) => r,
            },
            AtStop::Finish => read(conn).await,
        };
        Some(match result {
            Ok(v) => {
                self.backoff.reset();
                Ok(v)
            }
            Err(e) => {
                let e = ReadError::Redis(e);
                let how = recovery(&e);
                if how.reconnect {
                    self.conn = None;
                }
                if how.reset_backoff {
                    self.backoff.reset();
                }
                Err(e)
            }
        })
    }

    /// Logs a failed read and waits the backoff's next delay; false when stopped meanwhile.
    pub(crate) async fn pause(&mut self, e: &ReadError) -> bool {
        let delay = self.backoff.next_delay();
        let (what, service) = (self.what, self.service.as_str());
        if recovery(e).quiet {
            tracing::info!(service, error = %e, ?delay, "redis topology changed; the {what} reads again on a new connection");
        } else {
            tracing::error!(service, error = %e, ?delay, "redis {what} failed; retrying");
        }
        self.sleep(delay).await
    }

    /// Waits the backoff's next delay without logging (the loop said why); false when
    /// stopped meanwhile.
    pub(crate) async fn back_off(&mut self) -> bool {
        let delay = self.backoff.next_delay();
        self.sleep(delay).await
    }

    async fn sleep(&self, delay: Duration) -> bool {
        tokio::select! {
            () = self.stop.cancelled() => false,
            () = tokio::time::sleep(delay) => true,
        }
    }

    /// The delay the next failure would wait, without taking it (for the live tests).
    #[cfg(all(test, feature = "redis-tests"))]
    fn next_step(&self) -> Duration {
        self.backoff.peek()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The error Redis answers with `-<code> …`, as redis-rs reads it off the wire.
    fn server_error(code: &str) -> ReadError {
        let wire = format!("-{code} something\r\n");
        let e = match redis::parse_redis_value(wire.as_bytes()).and_then(|v| v.extract_error()) {
            Err(e) => e,
            Ok(v) => panic!("not an error: {v:?}"),
        };
        assert_eq!(e.code(), Some(code));
        ReadError::Redis(e)
    }

    #[test]
    fn a_topology_change_reconnects_at_once_quietly() {
        for code in [
            "MOVED",
            "ASK",
            "TRYAGAIN",
            "CLUSTERDOWN",
            "READONLY",
            "UNBLOCKED",
            "LOADING",
        ] {
            let e = server_error(code);
            assert_eq!(
                recovery(&e),
                Recovery {
                    reconnect: true,
                    reset_backoff: true,
                    quiet: true
                },
                "{code}: {e}"
            );
            assert!(!e.is_outage());
        }
    }

    #[test]
    fn a_broken_connection_reconnects_with_growing_delays() {
        let broken = ReadError::Redis(redis::RedisError::from(std::io::Error::new(
            std::io::ErrorKind::ConnectionReset,
            "reset",
        )));
        let want = Recovery {
            reconnect: true,
            reset_backoff: false,
            quiet: false,
        };
        assert_eq!(recovery(&broken), want);
        assert!(broken.is_outage());
        let refused = ReadError::Connect(Error::transport("refused"));
        assert_eq!(recovery(&refused), want);
        assert!(refused.is_outage());
    }

    #[test]
    fn another_error_keeps_the_connection() {
        let e = server_error("NOGROUP");
        assert_eq!(
            recovery(&e),
            Recovery {
                reconnect: false,
                reset_backoff: false,
                quiet: false
            }
        );
        assert_eq!(e.redis().and_then(|e| e.code()), Some("NOGROUP"));
    }

    /// Against a real redis-server: killed, restarted, unblocked, paused (step 2 of the test
    /// ladder, `--features redis-tests`).
    #[cfg(feature = "redis-tests")]
    mod live {
        use super::*;
        use crate::target::RedisTarget;
        use clamator_testkit::local_redis::RedisProcess;

        /// A bound on waits that must end, not a timing assertion.
        const WAIT: Duration = Duration::from_secs(20);

        fn reader(
            redis: &RedisProcess,
            stop: &CancellationToken,
            at_stop: AtStop,
        ) -> BlockingReader {
            let settings = RedisTarget::new(redis.url()).connect_timeout(Duration::from_secs(2));
            let connector = Connector::new(&settings).unwrap();
            BlockingReader::new(connector, stop.clone(), at_stop, "test reader", "t")
        }

        async fn ping(reader: &mut BlockingReader) -> Option<Result<String, ReadError>> {
            reader
                .read(async |c| redis::cmd("PING").query_async::<String>(c).await)
                .await
        }

        #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
        async fn it_reconnects_after_a_restart_and_starts_its_backoff_over() {
            let mut redis = RedisProcess::start().unwrap();
            let stop = CancellationToken::new();
            let mut reader = reader(&redis, &stop, AtStop::Finish);
            assert_eq!(ping(&mut reader).await.unwrap().unwrap(), "PONG");
            redis.kill();
            // The connection broke: dropped, and every new one refused, with growing delays.
            let broken = ping(&mut reader).await.unwrap().unwrap_err();
            assert!(broken.is_outage(), "{broken}");
            assert!(reader.conn.is_none(), "a broken connection is dropped");
            let mut steps = vec![reader.next_step()];
            for _ in 0..3 {
                assert!(reader.pause(&broken).await, "not stopped");
                let refused = ping(&mut reader).await.unwrap().unwrap_err();
                assert!(matches!(refused, ReadError::Connect(_)), "{refused}");
                steps.push(reader.next_step());
            }
            assert!(
                steps.windows(2).all(|w| w[1] > w[0]),
                "the backoff grows while Redis is away: {steps:?}"
            );
            redis.restart().unwrap();
            let back = tokio::time::timeout(WAIT, async {
                loop {
                    match ping(&mut reader).await.unwrap() {
                        Ok(pong) => return pong,
                        Err(e) => assert!(reader.pause(&e).await),
                    }
                }
            })
            .await
            .expect("reads again once Redis is back");
            assert_eq!(back, "PONG");
            assert_eq!(
                reader.next_step(),
                crate::backoff::MIN_DELAY,
                "reset after a read"
            );
        }

        #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
        async fn a_topology_change_starts_the_backoff_over_on_a_new_connection() {
            let redis = RedisProcess::start().unwrap();
            let stop = CancellationToken::new();
            let mut reader = reader(&redis, &stop, AtStop::CutShort);
            assert_eq!(ping(&mut reader).await.unwrap().unwrap(), "PONG");
            // Failures before it (an outage) had grown the backoff.
            assert!(reader.back_off().await && reader.back_off().await);
            assert!(reader.next_step() > crate::backoff::MIN_DELAY);
            // A blocked XREAD unblocked with an error is what a read gets when its slot moved
            // or its master became a replica: `UNBLOCKED`, a topology change.
            let (tx, rx) = tokio::sync::oneshot::channel();
            let url = redis.url();
            let unblocker = tokio::spawn(async move {
                let id: i64 = rx.await.unwrap();
                let mut other = redis::Client::open(url)
                    .unwrap()
                    .get_multiplexed_async_connection()
                    .await
                    .unwrap();
                // Until the read is blocked, there is nothing to unblock.
                loop {
                    let n: i64 = redis::cmd("CLIENT")
                        .arg("UNBLOCK")
                        .arg(id)
                        .arg("ERROR")
                        .query_async(&mut other)
                        .await
                        .unwrap();
                    if n == 1 {
                        return;
                    }
                    tokio::time::sleep(Duration::from_millis(10)).await;
                }
            });
            let read = reader
                .read(async |c| {
                    let id: i64 = redis::cmd("CLIENT").arg("ID").query_async(c).await?;
                    let _ = tx.send(id);
                    redis::cmd("XREAD")
                        .arg("BLOCK")
                        .arg(10_000)
                        .arg("STREAMS")
                        .arg("nothing")
                        .arg("$")
                        .query_async::<redis::Value>(c)
                        .await
                })
                .await
                .unwrap();
            unblocker.await.unwrap();
            let e = read.unwrap_err();
            assert_eq!(e.redis().and_then(|e| e.code()), Some("UNBLOCKED"), "{e}");
            assert!(reader.conn.is_none(), "read again on a new connection");
            assert_eq!(
                reader.next_step(),
                crate::backoff::MIN_DELAY,
                "a switch is not an outage: the backoff starts over"
            );
            assert_eq!(ping(&mut reader).await.unwrap().unwrap(), "PONG");
        }

        #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
        async fn it_stops_while_connecting_and_mid_read_when_allowed() {
            let redis = RedisProcess::start().unwrap();
            // A paused server accepts the connection and never answers the handshake.
            redis.pause();
            let stop = CancellationToken::new();
            let mut connecting = reader(&redis, &stop, AtStop::Finish);
            let stopper = {
                let stop = stop.clone();
                tokio::spawn(async move {
                    tokio::time::sleep(Duration::from_millis(200)).await;
                    stop.cancel();
                })
            };
            let ended = tokio::time::timeout(WAIT, ping(&mut connecting)).await;
            assert!(matches!(ended, Ok(None)), "stopped while connecting");
            stopper.await.unwrap();
            assert!(
                !connecting
                    .pause(&ReadError::Connect(Error::transport("x")))
                    .await
            );
            redis.resume();

            // Mid-read: a cut-short reader ends at once; a finishing one returns its read.
            for (at_stop, finishes) in [(AtStop::CutShort, false), (AtStop::Finish, true)] {
                let stop = CancellationToken::new();
                let mut reader = reader(&redis, &stop, at_stop);
                assert_eq!(ping(&mut reader).await.unwrap().unwrap(), "PONG");
                let stopper = {
                    let stop = stop.clone();
                    tokio::spawn(async move {
                        tokio::time::sleep(Duration::from_millis(200)).await;
                        stop.cancel();
                    })
                };
                let read = tokio::time::timeout(
                    WAIT,
                    reader.read(async |c| {
                        redis::cmd("XREAD")
                            .arg("BLOCK")
                            .arg(1_000)
                            .arg("STREAMS")
                            .arg("nothing")
                            .arg("$")
                            .query_async::<redis::Value>(c)
                            .await
                    }),
                )
                .await
                .expect("the read ends");
                stopper.await.unwrap();
                assert_eq!(read.is_some(), finishes, "{at_stop:?}");
                // Stopped: no further read starts.
                assert!(ping(&mut reader).await.is_none());
            }
        }
    }
}
