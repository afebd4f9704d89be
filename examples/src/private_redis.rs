//! A throwaway `redis-server` on a free loopback port: what the quickstart runs when no
//! `REDIS_URL` is given, so that it never touches a Redis you already run on 6379.
//!
//! Deliberately small (start, URL, killed on drop). The project's tests use the fuller
//! launchers of `clamator-testkit` (clusters, sentinels, TLS, pauses, restarts).

use std::io::{self, Read as _, Write as _};
use std::net::{TcpListener, TcpStream};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// A `redis-server` child process that keeps nothing on disk; killed when dropped.
#[derive(Debug)]
pub struct PrivateRedis {
    child: Child,
    port: u16,
}

impl PrivateRedis {
    /// Starts `redis-server` on a free port of 127.0.0.1 with nothing persisted, and waits
    /// (10 s at most) until it answers PING.
    pub fn start() -> io::Result<Self> {
        let mut last = io::Error::other("redis-server did not start");
        // A port found free can be taken before redis-server binds it; try a few.
        for _ in 0..5 {
            match Self::start_on(free_port()?) {
                Ok(redis) => return Ok(redis),
                Err(e) if e.kind() == io::ErrorKind::NotFound => return Err(e),
                Err(e) => last = e,
            }
        }
        Err(last)
    }

    fn start_on(port: u16) -> io::Result<Self> {
        let child = Command::new("redis-server")
            .args(["--port", &port.to_string(), "--bind", "127.0.0.1"])
            .args(["--save", "", "--appendonly", "no"])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .map_err(|e| match e.kind() {
                io::ErrorKind::NotFound => io::Error::new(
                    e.kind(),
                    "redis-server not found on PATH; install it (Debian/Ubuntu: apt-get install \
                     redis-server) or set REDIS_URL",
                ),
                _ => e,
            })?;
        // From here on, dropping `redis` kills the child, whichever way this returns.
        let mut redis = Self { child, port };
        let deadline = Instant::now() + Duration::from_secs(10);
        while !ping(port) {
            if let Some(status) = redis.child.try_wait()? {
                return Err(io::Error::other(format!(
                    "redis-server exited with {status}"
                )));
            }
            if Instant::now() > deadline {
                return Err(io::Error::other(
                    "redis-server did not answer PING within 10 s",
                ));
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        Ok(redis)
    }

    /// `redis://127.0.0.1:<port>`.
    pub fn url(&self) -> String {
        format!("redis://127.0.0.1:{}", self.port)
    }
}

impl Drop for PrivateRedis {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A loopback port free now (the test kit's launchers start their servers on such ports too).
pub fn free_port() -> io::Result<u16> {
    Ok(TcpListener::bind("127.0.0.1:0")?.local_addr()?.port())
}

/// Whether a Redis on `127.0.0.1:port` answers PING (a server still loading its data does
/// not).
pub fn ping(port: u16) -> bool {
    let Ok(mut s) =
        TcpStream::connect_timeout(&([127, 0, 0, 1], port).into(), Duration::from_millis(200))
    else {
        return false;
    };
    let _ = s.set_read_timeout(Some(Duration::from_millis(500)));
    let mut reply = [0u8; 7];
    s.write_all(b"*1\r\n$4\r\nPING\r\n").is_ok()
        && s.read_exact(&mut reply).is_ok()
        && &reply == b"+PONG\r\n"
}
