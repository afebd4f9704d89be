//! A private `redis-server` on a free loopback port, for the tests and the bench: it
//! never touches a Redis already running on 6379, and it dies with its owner.

use std::io;
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use clamator_examples::private_redis::{free_port, ping};

/// A `redis-server` child process; killed (and its directory removed) on drop.
#[derive(Debug)]
pub struct RedisProcess {
    child: Option<Child>,
    port: u16,
    dir: PathBuf,
    args: Vec<String>,
    tls: bool,
    /// A cluster node's bus port (`--cluster-port`), chosen free like the port.
    bus_port: Option<u16>,
    /// A config file given first on the command line (sentinels need a writable one).
    config_file: Option<PathBuf>,
    /// Stopped with SIGSTOP and not resumed yet.
    paused: std::sync::atomic::AtomicBool,
}

/// The server binary the tests and the bench start: `$CLAMATOR_TEST_SERVER` (such as
/// `valkey-server`), else `redis-server`.
pub fn server_binary() -> String {
    std::env::var("CLAMATOR_TEST_SERVER")
        .ok()
        .filter(|b| !b.is_empty())
        .unwrap_or_else(|| "redis-server".to_owned())
}

/// The command-line client that goes with [`server_binary`]: `valkey-cli` beside
/// `valkey-server`, else `redis-cli`.
pub fn cli_binary() -> String {
    let server = server_binary();
    match server.strip_suffix("-server") {
        Some(base) => format!("{base}-cli"),
        None => "redis-cli".to_owned(),
    }
}

impl RedisProcess {
    /// Starts a redis-server with nothing persisted (`--save "" --appendonly no`).
    pub fn start() -> io::Result<Self> {
        Self::start_with(&["--save", "", "--appendonly", "no"])
    }

    /// Starts a redis-server with these extra arguments (e.g. `--appendonly yes`).
    pub fn start_with(args: &[&str]) -> io::Result<Self> {
        let dir = std::env::temp_dir().join(format!("clamator-redis-{}", uuid::Uuid::new_v4()));
        std::fs::create_dir_all(&dir)?;
        let mut process = Self {
            child: None,
            port: 0,
            dir,
            args: args.iter().map(|s| (*s).to_owned()).collect(),
            tls: false,
            bus_port: None,
            config_file: None,
            paused: Default::default(),
        };
        process.start_on_free_port()?;
        Ok(process)
    }

    /// Starts a Redis Cluster node (`--cluster-enabled yes`, its bus on a free port of its
    /// own) with these extra arguments; it joins a cluster when one is created over it.
    pub fn start_cluster_node(args: &[&str]) -> io::Result<Self> {
        let dir = std::env::temp_dir().join(format!("clamator-redis-{}", uuid::Uuid::new_v4()));
        std::fs::create_dir_all(&dir)?;
        let mut all = vec![
            "--cluster-enabled",
            "yes",
            "--cluster-config-file",
            "nodes.conf",
        ];
        all.extend_from_slice(args);
        let mut process = Self {
            child: None,
            port: 0,
            dir,
            args: all.iter().map(|s| (*s).to_owned()).collect(),
            tls: false,
            bus_port: Some(0),
            config_file: None,
            paused: Default::default(),
        };
        process.start_on_free_port()?;
        Ok(process)
    }

    /// Starts a sentinel watching the master `name` at `127.0.0.1:master_port` (quorum
    /// `quorum`), which declares a silent master down after `down_after`.
    pub fn start_sentinel(
        name: &str,
        master_port: u16,
        quorum: u32,
        down_after: Duration,
    ) -> io::Result<Self> {
        let dir = std::env::temp_dir().join(format!("clamator-redis-{}", uuid::Uuid::new_v4()));
        std::fs::create_dir_all(&dir)?;
        let conf = dir.join("sentinel.conf");
        std::fs::write(
            &conf,
            format!(
                "sentinel monitor {name} 127.0.0.1 {master_port} {quorum}\n\
                 sentinel down-after-milliseconds {name} {}\n\
                 sentinel failover-timeout {name} 10000\n\
                 sentinel parallel-syncs {name} 1\n",
                down_after.as_millis()
            ),
        )?;
        let mut process = Self {
            child: None,
            port: 0,
            dir,
            args: vec!["--sentinel".to_owned()],
            tls: false,
            bus_port: None,
            config_file: Some(conf),
            paused: Default::default(),
        };
        process.start_on_free_port()?;
        Ok(process)
    }

    /// Starts a redis-server that only speaks TLS, with a throwaway CA and server certificate
    /// for `127.0.0.1` made by the `openssl` command. Connect to [`url`](Self::url)
    /// (`rediss://…`) trusting [`ca_cert_pem`](Self::ca_cert_pem).
    pub fn start_tls() -> io::Result<Self> {
        let dir = std::env::temp_dir().join(format!("clamator-redis-{}", uuid::Uuid::new_v4()));
        std::fs::create_dir_all(&dir)?;
        make_certificates(&dir)?;
        let file = |name: &str| dir.join(name).to_string_lossy().into_owned();
        let args = vec![
            "--save".to_owned(),
            String::new(),
            "--appendonly".to_owned(),
            "no".to_owned(),
            "--tls-cert-file".to_owned(),
            file("server.crt"),
            "--tls-key-file".to_owned(),
            file("server.key"),
            "--tls-ca-cert-file".to_owned(),
            file("ca.crt"),
            "--tls-auth-clients".to_owned(),
            "no".to_owned(),
        ];
        let mut process = Self {
            child: None,
            port: 0,
            dir,
            args,
            tls: true,
            bus_port: None,
            config_file: None,
            paused: Default::default(),
        };
        process.start_on_free_port()?;
        Ok(process)
    }

    /// The CA certificate (PEM) a TLS server's certificate is signed with.
    pub fn ca_cert_pem(&self) -> io::Result<Vec<u8>> {
        std::fs::read(self.dir.join("ca.crt"))
    }

    fn start_on_free_port(&mut self) -> io::Result<()> {
        let mut last = None;
        // A port found free can be taken before redis binds it; try a few.
        for _ in 0..5 {
            self.port = free_port()?;
            if self.bus_port.is_some() {
                self.bus_port = Some(free_port()?);
            }
            match self.spawn() {
                Ok(()) => return Ok(()),
                Err(e) => last = Some(e),
            }
        }
        Err(last.unwrap_or_else(|| io::Error::other("redis-server did not start")))
    }

    fn spawn(&mut self) -> io::Result<()> {
        let binary = server_binary();
        crate::tools::require(&binary, 2);
        let mut cmd = Command::new(&binary);
        if let Some(conf) = &self.config_file {
            cmd.arg(conf);
        }
        if let Some(bus) = self.bus_port {
            cmd.arg("--cluster-port").arg(bus.to_string());
        }
        if self.tls {
            cmd.args(["--port", "0", "--tls-port"]);
        } else {
            cmd.arg("--port");
        }
        cmd.arg(self.port.to_string())
            .arg("--bind")
            .arg("127.0.0.1")
            .arg("--dir")
            .arg(&self.dir)
            .arg("--logfile")
            .arg(self.dir.join("redis.log"))
            .args(&self.args)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null());
        die_with_parent(&mut cmd);
        let mut child = cmd.spawn().map_err(|e| {
            if e.kind() == io::ErrorKind::NotFound {
                io::Error::new(
                    e.kind(),
                    format!("{binary} not found on PATH; install it (Debian/Ubuntu: apt-get install {binary})"),
                )
            } else {
                e
            }
        })?;
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            if self.ready() {
                self.child = Some(child);
                if !self.tls {
                    self.check_product(&binary)?;
                }
                return Ok(());
            }
            if let Some(status) = child.try_wait()? {
                return Err(io::Error::other(format!(
                    "{binary} exited with {status} (log: {})",
                    self.dir.join("redis.log").display()
                )));
            }
            if Instant::now() > deadline {
                let _ = child.kill();
                let _ = child.wait();
                return Err(io::Error::other(
                    "redis-server did not answer PING within 10 s",
                ));
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// Makes sure the server that answers is the one asked for: a run meant for Valkey
    /// (`CLAMATOR_TEST_SERVER=valkey-server`) that reached a Redis would pass for the wrong
    /// server.
    fn check_product(&self, binary: &str) -> io::Result<()> {
        let info = info_server(self.port).unwrap_or_default();
        let valkey = info.contains("valkey_version:");
        if binary.contains("valkey") != valkey {
            return Err(io::Error::other(format!(
                "started {binary}, but the server on port {} says it is {}",
                self.port,
                if valkey { "Valkey" } else { "not Valkey" }
            )));
        }
        Ok(())
    }

    /// `redis://127.0.0.1:<port>`, or `rediss://…` for a TLS server.
    pub fn url(&self) -> String {
        let scheme = if self.tls { "rediss" } else { "redis" };
        format!("{scheme}://127.0.0.1:{}", self.port)
    }

    fn ready(&self) -> bool {
        if self.tls {
            // Redis binds its ports last in startup, so accepting means ready.
            TcpStream::connect_timeout(
                &([127, 0, 0, 1], self.port).into(),
                Duration::from_millis(200),
            )
            .is_ok()
        } else {
            ping(self.port)
        }
    }

    /// The port it listens on.
    pub fn port(&self) -> u16 {
        self.port
    }

    /// Its working directory (where AOF and RDB files go).
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// Pauses it with SIGSTOP, as a stalled machine would look: connections stay open and
    /// nothing answers.
    pub fn pause(&self) {
        self.signal(libc::SIGSTOP);
        self.paused.store(true, std::sync::atomic::Ordering::SeqCst);
    }

    /// Resumes it after [`pause`](Self::pause).
    pub fn resume(&self) {
        self.signal(libc::SIGCONT);
        self.paused
            .store(false, std::sync::atomic::Ordering::SeqCst);
    }

    /// Whether it is paused ([`pause`](Self::pause)d and not resumed).
    pub fn is_paused(&self) -> bool {
        self.paused.load(std::sync::atomic::Ordering::SeqCst)
    }

    #[allow(unsafe_code)]
    fn signal(&self, signal: libc::c_int) {
        if let Some(child) = &self.child {
            let Ok(pid) = libc::pid_t::try_from(child.id()) else {
                return;
            };
            // SAFETY: kill(2) on our own child's pid; no memory is touched.
            unsafe {
                libc::kill(pid, signal);
            }
        }
    }

    /// Its process id while it runs.
    pub fn pid(&self) -> Option<u32> {
        self.child.as_ref().map(Child::id)
    }

    /// Whether it is running (not killed).
    pub fn is_running(&self) -> bool {
        self.child.is_some()
    }

    /// Kills it with SIGKILL, as a crash would.
    pub fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// Starts it again on the same port, directory and arguments.
    pub fn restart(&mut self) -> io::Result<()> {
        self.kill();
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            match self.spawn() {
                Ok(()) => return Ok(()),
                // The old socket may linger for a moment.
                Err(e) if Instant::now() < deadline => {
                    let _ = e;
                    std::thread::sleep(Duration::from_millis(100));
                }
                Err(e) => return Err(e),
            }
        }
    }
}

impl Drop for RedisProcess {
    fn drop(&mut self) {
        self.kill();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// A CA and a server certificate for 127.0.0.1 signed by it, via the `openssl` command.
fn make_certificates(dir: &Path) -> io::Result<()> {
    std::fs::write(
        dir.join("server.ext"),
        "subjectAltName=IP:127.0.0.1,DNS:localhost\nbasicConstraints=CA:FALSE\nkeyUsage=digitalSignature,keyEncipherment\nextendedKeyUsage=serverAuth\n",
    )?;
    let steps: [&[&str]; 3] = [
        &[
            "req",
            "-x509",
            "-newkey",
            "ec",
            "-pkeyopt",
            "ec_paramgen_curve:prime256v1",
            "-nodes",
            "-keyout",
            "ca.key",
            "-out",
            "ca.crt",
            "-days",
            "2",
            "-subj",
            "/CN=clamator test CA",
        ],
        &[
            "req",
            "-newkey",
            "ec",
            "-pkeyopt",
            "ec_paramgen_curve:prime256v1",
            "-nodes",
            "-keyout",
            "server.key",
            "-out",
            "server.csr",
            "-subj",
            "/CN=127.0.0.1",
        ],
        &[
            "x509",
            "-req",
            "-in",
            "server.csr",
            "-CA",
            "ca.crt",
            "-CAkey",
            "ca.key",
            "-CAcreateserial",
            "-out",
            "server.crt",
            "-days",
            "2",
            "-extfile",
            "server.ext",
        ],
    ];
    crate::tools::require("openssl", 2);
    for args in steps {
        let out = Command::new("openssl")
            .args(args)
            .current_dir(dir)
            .output()
            .map_err(|e| {
                io::Error::new(
                    e.kind(),
                    format!("cannot run openssl to make test certificates: {e}"),
                )
            })?;
        if !out.status.success() {
            return Err(io::Error::other(format!(
                "openssl {} failed: {}",
                args[0],
                String::from_utf8_lossy(&out.stderr)
            )));
        }
    }
    Ok(())
}

/// `INFO server` of the Redis on `127.0.0.1:port`, as text; `None` when it cannot be read.
fn info_server(port: u16) -> Option<String> {
    use std::io::{Read as _, Write as _};
    let mut s =
        TcpStream::connect_timeout(&([127, 0, 0, 1], port).into(), Duration::from_millis(500))
            .ok()?;
    s.set_read_timeout(Some(Duration::from_secs(2))).ok()?;
    s.write_all(b"*2\r\n$4\r\nINFO\r\n$6\r\nserver\r\n").ok()?;
    // A bulk string: `$<len>\r\n<text>\r\n`.
    let mut reply = Vec::new();
    let mut buf = [0u8; 4096];
    loop {
        let n = s.read(&mut buf).ok()?;
        if n == 0 {
            return None;
        }
        reply.extend_from_slice(&buf[..n]);
        let text = String::from_utf8_lossy(&reply);
        let (head, body) = text.strip_prefix('$')?.split_once("\r\n")?;
        let len: usize = head.parse().ok()?;
        if body.len() >= len {
            return Some(body[..len].to_owned());
        }
        if reply.len() > 1 << 20 {
            return None;
        }
    }
}

/// Makes the child get SIGKILL when the thread that started it ends, so a test binary that
/// is killed does not leave redis-servers behind.
#[allow(unsafe_code)]
fn die_with_parent(cmd: &mut Command) {
    use std::os::unix::process::CommandExt as _;
    // SAFETY: prctl is async-signal-safe and touches no memory of the parent.
    unsafe {
        cmd.pre_exec(|| {
            libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL);
            Ok(())
        });
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn the_server_that_answers_is_the_one_asked_for() {
        let redis = RedisProcess::start().unwrap();
        let info = info_server(redis.port()).unwrap();
        assert!(info.contains("_version:"), "{info}");
        let started = server_binary();
        assert!(redis.check_product(&started).is_ok());
        // Told it was the other server, the check refuses.
        let other = if started.contains("valkey") {
            "redis-server"
        } else {
            "valkey-server"
        };
        let e = redis.check_product(other).unwrap_err().to_string();
        assert!(e.contains("says it is"), "{e}");
    }
}
