//! The dedicated connection of a blocking read loop, on a plain TCP or Unix socket: our own,
//! because redis-rs hands back replies only as its tree of values, and a batch of stream
//! entries is the largest reply either side reads. [`RawConn`] sends a command, waits for the
//! one reply ([`Framer`]), and decodes a stream reply straight from its bytes
//! ([`resp::stream_reply`]); every other reply, and a stream reply of a shape that decoder
//! does not read, goes through redis-rs's parser, so commands on it behave as on redis-rs's
//! connections. TLS and Cluster connections stay redis-rs's.

use std::io;
use std::sync::Arc;
use std::time::Duration;

use bytes::{Bytes, BytesMut};
use redis::aio::ConnectionLike;
use redis::{
    Cmd, ConnectionAddr, ConnectionInfo, FromRedisValue, Pipeline, ProtocolVersion, RedisFuture,
    RedisResult, Value,
};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};

use crate::stream::commands::EntryReader;
use crate::stream::decode::ReadReply;
use crate::stream::resp::{self, Decoded, Framer};
use crate::stream::StreamEntry;

/// The read buffer's first size; it grows to the largest reply.
const FIRST_BUFFER: usize = 16 * 1024;

/// Room made before each socket read, at least.
const READ_ROOM: usize = 8 * 1024;

/// The largest reply whose buffer the connection reads on in: past it, the buffer goes with
/// the reply, so one batch of large entries does not keep a large buffer for the life of the
/// loop.
const MAX_KEPT_BUFFER: usize = 1024 * 1024;

/// A socket either way.
trait Io: AsyncRead + AsyncWrite + Unpin + Send {}
impl<T: AsyncRead + AsyncWrite + Unpin + Send> Io for T {}

/// A connection of our own to one Redis; clones share it (one command at a time).
#[derive(Clone)]
pub(crate) struct RawConn {
    inner: Arc<tokio::sync::Mutex<Inner>>,
    db: i64,
}

struct Inner {
    io: Box<dyn Io>,
    buf: BytesMut,
    framer: Framer,
    out: Vec<u8>,
    response_timeout: Duration,
    /// Set while a command is out: a command dropped before its reply came (its task was
    /// cut short) leaves the connection out of step, and it must not be used again.
    in_flight: bool,
}

impl RawConn {
    /// Whether `info` can be reached this way: plain TCP or a Unix socket.
    pub(crate) fn serves(info: &ConnectionInfo) -> bool {
        matches!(
            info.addr(),
            ConnectionAddr::Tcp(..) | ConnectionAddr::Unix(_)
        )
    }

    /// Connects to `info` and logs in (`HELLO 3` for RESP3, else `AUTH`, then `SELECT`),
    /// all within `connect_timeout`; each command after that within `response_timeout`.
    pub(crate) async fn connect(
        info: &ConnectionInfo,
        connect_timeout: Duration,
        response_timeout: Duration,
    ) -> RedisResult<Self> {
        let mut inner = tokio::time::timeout(connect_timeout, Inner::log_in(info))
            .await
            .map_err(|_| timed_out("connecting"))??;
        inner.response_timeout = response_timeout;
        Ok(Self {
            inner: Arc::new(tokio::sync::Mutex::new(inner)),
            db: info.redis_settings().db(),
        })
    }

    /// Sends `cmd`, a stream read (`XREADGROUP`, `XREAD`), and decodes its entries.
    async fn entries(&self, cmd: &Cmd) -> RedisResult<Vec<StreamEntry>> {
        let frame = self.inner.lock().await.frame(cmd).await?;
        match resp::stream_reply(&frame) {
            Decoded::Entries(entries) => Ok(entries),
            Decoded::Other => {
                let value = redis::parse_redis_value(&frame)?.extract_error()?;
                Ok(ReadReply::from_redis_value(value)?.0)
            }
        }
    }
}

impl Inner {
    /// Opens the socket and logs in, as [`RawConn::connect`] says.
    async fn log_in(info: &ConnectionInfo) -> RedisResult<Self> {
        let mut inner = Inner {
            io: open(info.addr()).await?,
            buf: BytesMut::with_capacity(FIRST_BUFFER),
            framer: Framer::default(),
            out: Vec::with_capacity(256),
            // The caller's connect timeout bounds the whole login.
            response_timeout: Duration::MAX,
            in_flight: false,
        };
        let settings = info.redis_settings();
        let login = match (settings.protocol(), settings.password()) {
            (ProtocolVersion::RESP3, password) => {
                let mut hello = redis::cmd("HELLO");
                hello.arg(3);
                if let Some(password) = password {
                    hello
                        .arg("AUTH")
                        .arg(settings.username().unwrap_or("default"))
                        .arg(password);
                }
                Some(hello)
            }
            (_, Some(password)) => {
                let mut auth = redis::cmd("AUTH");
                if let Some(user) = settings.username() {
                    auth.arg(user);
                }
                Some(auth.arg(password).clone())
            }
            (_, None) => None,
        };
        let select = (settings.db() != 0).then(|| redis::cmd("SELECT").arg(settings.db()).clone());
        for cmd in login.iter().chain(select.iter()) {
            inner.command(cmd).await?.extract_error()?;
        }
        if login.is_none() && select.is_none() {
            // Connected means answered, as with redis-rs's connections, which always say
            // something first: a paused or wedged server fails here, not at the first read.
            // Any answer will do (a user may be refused PING).
            inner.command(&redis::cmd("PING")).await?;
        }
        Ok(inner)
    }

    /// Sends `cmd` and waits for its reply's bytes.
    async fn frame(&mut self, cmd: &Cmd) -> RedisResult<Bytes> {
        self.out.clear();
        cmd.write_packed_command(&mut self.out);
        let mut reply = Bytes::new();
        self.exchange(1, |frame| reply = frame).await?;
        Ok(reply)
    }

    async fn command(&mut self, cmd: &Cmd) -> RedisResult<Value> {
        let frame = self.frame(cmd).await?;
        value_of(&frame)
    }

    /// Writes what is in `out` and hands each of `replies` replies to `take`, in order.
    async fn exchange(&mut self, replies: usize, mut take: impl FnMut(Bytes)) -> io::Result<()> {
        if self.in_flight {
            return Err(io::Error::new(
                io::ErrorKind::BrokenPipe,
                "connection left waiting for a reply by a command that was cut short",
            ));
        }
        self.in_flight = true;
        let limit = self.response_timeout;
        tokio::time::timeout(limit, async {
            self.io.write_all(&self.out).await?;
            for _ in 0..replies {
                take(self.next_frame().await?);
            }
            io::Result::Ok(())
        })
        .await
        .map_err(|_| timed_out("waiting for a reply"))??;
        self.in_flight = false;
        Ok(())
    }

    async fn next_frame(&mut self) -> io::Result<Bytes> {
        loop {
            let framed = self
                .framer
                .advance(&self.buf)
                .map_err(|e| io::Error::new(io::ErrorKind::InvalidData, e))?;
            if let Some(len) = framed {
                let frame = self.buf.split_to(len).freeze();
                if frame.len() > MAX_KEPT_BUFFER {
                    // The large allocation goes with the frame (and its entries); read on
                    // in a small one.
                    let mut fresh = BytesMut::with_capacity(FIRST_BUFFER.max(self.buf.len()));
                    fresh.extend_from_slice(&self.buf);
                    self.buf = fresh;
                }
                if frame.first() == Some(&b'>') {
                    // A RESP3 push (client tracking, say) is not the reply to anything.
                    continue;
                }
                return Ok(frame);
            }
            if self.buf.capacity() - self.buf.len() < READ_ROOM {
                self.buf.reserve(READ_ROOM.max(self.buf.len()));
            }
            if self.io.read_buf(&mut self.buf).await? == 0 {
                return Err(io::Error::new(
                    io::ErrorKind::UnexpectedEof,
                    "Redis closed the connection",
                ));
            }
        }
    }
}

async fn open(addr: &ConnectionAddr) -> io::Result<Box<dyn Io>> {
    match addr {
        ConnectionAddr::Tcp(host, port) => {
            let socket = tokio::net::TcpStream::connect((host.as_str(), *port)).await?;
            socket.set_nodelay(true)?;
            Ok(Box::new(socket))
        }
        #[cfg(unix)]
        ConnectionAddr::Unix(path) => Ok(Box::new(tokio::net::UnixStream::connect(path).await?)),
        _ => Err(io::Error::new(
            io::ErrorKind::Unsupported,
            "this connection takes plain TCP or a Unix socket",
        )),
    }
}

fn timed_out(what: &str) -> io::Error {
    io::Error::new(io::ErrorKind::TimedOut, format!("timed out {what}"))
}

impl EntryReader for RawConn {
    fn read_entries<'a>(&'a mut self, cmd: &'a Cmd) -> RedisFuture<'a, Vec<StreamEntry>> {
        Box::pin(self.entries(cmd))
    }
}

impl ConnectionLike for RawConn {
    fn req_packed_command<'a>(&'a mut self, cmd: &'a Cmd) -> RedisFuture<'a, Value> {
        Box::pin(async move { self.inner.lock().await.command(cmd).await })
    }

    fn req_packed_commands<'a>(
        &'a mut self,
        pipeline: &'a Pipeline,
        offset: usize,
        count: usize,
    ) -> RedisFuture<'a, Vec<Value>> {
        Box::pin(async move {
            let mut inner = self.inner.lock().await;
            inner.out = pipeline.get_packed_pipeline();
            let mut frames = Vec::with_capacity(offset + count);
            inner
                .exchange(offset + count, |frame| frames.push(frame))
                .await?;
            frames[offset..].iter().map(|f| value_of(f)).collect()
        })
    }

    fn get_db(&self) -> i64 {
        self.db
    }
}

/// A reply as a redis-rs value: the simple kinds write commands get read directly, the rest
/// by redis-rs's parser.
fn value_of(frame: &[u8]) -> RedisResult<Value> {
    match crate::stream::resp::simple_value(frame) {
        Some(value) => Ok(value),
        None => redis::parse_redis_value(frame),
    }
}

#[cfg(all(test, feature = "redis-tests"))]
mod tests {
    use super::*;
    use crate::stream::commands::{self, Consumer};
    use crate::stream::resp::stream_reply;
    use clamator_testkit::local_redis::RedisProcess;
    use redis::IntoConnectionInfo;

    const SECOND: Duration = Duration::from_secs(1);

    async fn connect(url: &str) -> RedisResult<RawConn> {
        RawConn::connect(&url.into_connection_info()?, SECOND, 2 * SECOND).await
    }

    /// The bytes of `cmd`'s reply.
    async fn frame_of(conn: &RawConn, cmd: &Cmd) -> RedisResult<Bytes> {
        conn.inner.lock().await.frame(cmd).await
    }

    /// Real replies, RESP2 and RESP3: every one is read from its bytes (not left to
    /// redis-rs), into the entries redis-rs's parser and our value decoder make of them.
    #[tokio::test]
    async fn real_stream_replies_are_read_from_bytes_as_redis_rs_reads_them() {
        let redis = RedisProcess::start().unwrap();
        let mut setup = connect(&redis.url()).await.unwrap();
        let big = "x".repeat(200_000);
        let binary: Vec<u8> = (0..=255).collect();
        let mut cases = 0;
        for (url, s) in [
            (redis.url(), "s2"),
            (format!("{}?protocol=resp3", redis.url()), "s3"),
        ] {
            for (i, envelope) in ["{}", "", big.as_str(), "é\r\n$3\r\n*-1"]
                .iter()
                .enumerate()
            {
                let _: String = redis::cmd("XADD")
                    .arg(s)
                    .arg("*")
                    .arg("type")
                    .arg("rpc")
                    .arg("envelope")
                    .arg(*envelope)
                    .arg("n")
                    .arg(i)
                    .arg("bin")
                    .arg(&binary[..])
                    .query_async(&mut setup)
                    .await
                    .unwrap();
            }
            let _: () = redis::cmd("XGROUP")
                .arg("CREATE")
                .arg(s)
                .arg("g")
                .arg("0")
                .query_async(&mut setup)
                .await
                .unwrap();
            let mut conn = connect(&url).await.unwrap();
            let read_all = redis::cmd("XREAD")
                .arg("COUNT")
                .arg(10)
                .arg("STREAMS")
                .arg(s)
                .arg("missing")
                .arg("0")
                .arg("0")
                .clone();
            let group = |consumer: &str, from: &str| {
                redis::cmd("XREADGROUP")
                    .arg("GROUP")
                    .arg("g")
                    .arg(consumer)
                    .arg("COUNT")
                    .arg(3)
                    .arg("STREAMS")
                    .arg(s)
                    .arg(from)
                    .clone()
            };
            let timed_out = redis::cmd("XREAD")
                .arg("BLOCK")
                .arg(10)
                .arg("STREAMS")
                .arg(s)
                .arg("$")
                .clone();
            let consumer = format!("c{cases}");
            let first = group(&consumer, ">");
            let history = group(&consumer, "0");
            let mut replies = Vec::new();
            for cmd in [&read_all, &first, &timed_out] {
                replies.push(frame_of(&conn, cmd).await.unwrap());
            }
            // An entry deleted while pending comes back from the history with nil fields.
            let deleted: String = {
                let Decoded::Entries(e) = stream_reply(replies.last().unwrap()) else {
                    unreachable!()
                };
                assert!(e.is_empty(), "the BLOCK timed out");
                let Decoded::Entries(e) = stream_reply(&replies[1]) else {
                    panic!("left aside")
                };
                e[0].id.clone()
            };
            let _: i64 = redis::cmd("XDEL")
                .arg(s)
                .arg(&deleted)
                .query_async(&mut setup)
                .await
                .unwrap();
            replies.push(frame_of(&conn, &history).await.unwrap());
            for frame in &replies {
                let Decoded::Entries(fast) = stream_reply(frame) else {
                    panic!("a real reply left aside: {frame:?}")
                };
                let value = redis::parse_redis_value(frame).unwrap();
                assert_eq!(fast, ReadReply::from_redis_value(value).unwrap().0);
                cases += 1;
            }
            let Decoded::Entries(all) = stream_reply(&replies[0]) else {
                unreachable!()
            };
            assert_eq!(all.len(), 4, "{url}");
            assert_eq!(all[2].field("envelope").map(<[u8]>::len), Some(big.len()));
            assert_eq!(all[3].field("bin"), Some(&binary[..]));
            let Decoded::Entries(history) = stream_reply(&replies[3]) else {
                unreachable!()
            };
            assert!(history[0].fields.is_empty(), "deleted while pending");
            // Through the reader's own call, too.
            let consumer = Consumer {
                stream: s,
                group: "g",
                name: "other",
            };
            let got = commands::read_group(&mut conn, consumer, 10, Duration::from_millis(10))
                .await
                .unwrap();
            assert_eq!(got, all[3..], "the one entry the first consumer left");
            let err = conn
                .read_entries(
                    &redis::cmd("XREADGROUP")
                        .arg("GROUP")
                        .arg("nope")
                        .arg("c")
                        .arg("STREAMS")
                        .arg(s)
                        .arg(">")
                        .clone(),
                )
                .await
                .unwrap_err();
            assert_eq!(err.code(), Some("NOGROUP"), "{err}");
            let pong: String = redis::cmd("PING").query_async(&mut conn).await.unwrap();
            assert_eq!(pong, "PONG", "still in step after an error");
        }
        assert_eq!(cases, 8);
    }

    /// A batch of large entries grows the read buffer for that reply only.
    #[tokio::test]
    async fn one_large_reply_does_not_keep_a_large_buffer() {
        let redis = RedisProcess::start().unwrap();
        let mut conn = connect(&redis.url()).await.unwrap();
        let add = |value: String| {
            redis::cmd("XADD")
                .arg("b")
                .arg("*")
                .arg("envelope")
                .arg(value)
                .clone()
        };
        let big: String = add("x".repeat(5 << 20))
            .query_async(&mut conn)
            .await
            .unwrap();
        let got = commands::read_after(&mut conn, "b", "0", 10, Duration::from_millis(10))
            .await
            .unwrap();
        assert_eq!(got[0].field("envelope").map(<[u8]>::len), Some(5 << 20));
        drop(got);
        let _: String = add("small".into()).query_async(&mut conn).await.unwrap();
        let got = commands::read_after(&mut conn, "b", &big, 10, Duration::from_millis(10))
            .await
            .unwrap();
        assert_eq!(got[0].field("envelope"), Some(&b"small"[..]));
        let kept = conn.inner.lock().await.buf.capacity();
        assert!(kept <= MAX_KEPT_BUFFER, "{kept} bytes kept");
    }

    /// A RESP3 push (here a client-tracking invalidation) is not taken for a reply.
    #[tokio::test]
    async fn a_push_is_not_taken_for_a_reply() {
        let redis = RedisProcess::start().unwrap();
        let mut conn = connect(&format!("{}?protocol=resp3", redis.url()))
            .await
            .unwrap();
        let mut other = connect(&redis.url()).await.unwrap();
        let _: () = redis::cmd("CLIENT")
            .arg("TRACKING")
            .arg("ON")
            .query_async(&mut conn)
            .await
            .unwrap();
        let _: Option<String> = redis::cmd("GET")
            .arg("k")
            .query_async(&mut conn)
            .await
            .unwrap();
        let _: () = redis::cmd("SET")
            .arg("k")
            .arg("v")
            .query_async(&mut other)
            .await
            .unwrap();
        tokio::time::sleep(Duration::from_millis(50)).await;
        let got: String = redis::cmd("GET")
            .arg("k")
            .query_async(&mut conn)
            .await
            .unwrap();
        assert_eq!(got, "v", "the invalidation push was skipped");
        let pong: String = redis::cmd("PING").query_async(&mut conn).await.unwrap();
        assert_eq!(pong, "PONG");
    }

    /// It logs in as the URL says: a user and password, a database, RESP3; and a wrong
    /// password is Redis's refusal, not a hang.
    #[tokio::test]
    async fn it_logs_in_as_the_url_says() {
        let redis = RedisProcess::start().unwrap();
        let mut admin = connect(&redis.url()).await.unwrap();
        let _: () = redis::cmd("ACL")
            .arg("SETUSER")
            .arg("reader")
            .arg("on")
            .arg(">secret")
            .arg("~*")
            .arg("+@all")
            .query_async(&mut admin)
            .await
            .unwrap();
        let base = redis.url().replace("redis://", "");
        for (url, db) in [
            (format!("redis://reader:secret@{base}/3"), 3),
            (format!("redis://reader:secret@{base}/2?protocol=resp3"), 2),
        ] {
            let mut conn = connect(&url).await.unwrap();
            assert_eq!(conn.get_db(), db);
            let who: String = redis::cmd("ACL")
                .arg("WHOAMI")
                .query_async(&mut conn)
                .await
                .unwrap();
            assert_eq!(who, "reader");
            let _: () = redis::cmd("SET")
                .arg("k")
                .arg(db)
                .query_async(&mut conn)
                .await
                .unwrap();
            let mut check = redis::pipe();
            check.cmd("SELECT").arg(db).ignore().cmd("GET").arg("k");
            let (got,): (i64,) = check.query_async(&mut admin).await.unwrap();
            assert_eq!(got, db, "{url}");
        }
        let wrong = connect(&format!("redis://reader:wrong@{base}"))
            .await
            .err()
            .unwrap();
        assert!(wrong.to_string().contains("WRONGPASS"), "{wrong}");
    }

    /// A Unix socket, through the same connector the loops use.
    #[cfg(unix)]
    #[tokio::test]
    async fn it_reads_over_a_unix_socket() {
        let redis =
            RedisProcess::start_with(&["--save", "", "--unixsocket", "redis.sock"]).unwrap();
        let socket = redis.dir().join("redis.sock");
        let settings = crate::target::RedisTarget::new(format!("unix://{}", socket.display()));
        let connector = crate::connection::Connector::new(&settings).unwrap();
        let mut conn = connector.dedicated().await.unwrap();
        assert_eq!(format!("{conn:?}"), "RedisConn::DedicatedRaw");
        let _: String = redis::cmd("XADD")
            .arg("u")
            .arg("*")
            .arg("envelope")
            .arg("{}")
            .query_async(&mut conn)
            .await
            .unwrap();
        let got = commands::read_after(&mut conn, "u", "0", 10, Duration::from_millis(10))
            .await
            .unwrap();
        assert_eq!(got.len(), 1);
        assert_eq!(got[0].field("envelope"), Some(&b"{}"[..]));
    }

    /// A paused Redis times the command out, and the connection is not used again; a
    /// command cut short leaves it unusable too.
    #[tokio::test]
    async fn a_reply_that_does_not_come_breaks_the_connection() {
        let redis = RedisProcess::start().unwrap();
        let info = redis.url().into_connection_info().unwrap();
        let mut conn = RawConn::connect(&info, SECOND, Duration::from_millis(300))
            .await
            .unwrap();
        redis.pause();
        let e = redis::cmd("PING")
            .query_async::<String>(&mut conn)
            .await
            .unwrap_err();
        redis.resume();
        assert!(crate::connection::is_connection_error(&e), "{e}");
        let again = redis::cmd("PING")
            .query_async::<String>(&mut conn)
            .await
            .unwrap_err();
        assert!(crate::connection::is_connection_error(&again), "{again}");

        let mut conn = RawConn::connect(&info, SECOND, 2 * SECOND).await.unwrap();
        let blocked = redis::cmd("XREAD")
            .arg("BLOCK")
            .arg(500)
            .arg("STREAMS")
            .arg("nothing")
            .arg("$")
            .clone();
        let cut =
            tokio::time::timeout(Duration::from_millis(50), conn.read_entries(&blocked)).await;
        assert!(cut.is_err(), "cut short");
        let e = redis::cmd("PING")
            .query_async::<String>(&mut conn)
            .await
            .unwrap_err();
        assert!(crate::connection::is_connection_error(&e), "{e}");
    }
}
