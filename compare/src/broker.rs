//! Private brokers on free loopback ports, stopped when dropped.

use std::net::{TcpListener, TcpStream};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use crate::{proc, BoxResult, System};

/// A broker this run started (none for gRPC, whose server listens itself).
pub struct Broker {
    url: String,
    child: Option<Child>,
    /// Processes the broker left outside its tree: RabbitMQ's port mapper daemonizes.
    extra: Vec<u32>,
    dir: Option<PathBuf>,
}

fn free_port() -> BoxResult<u16> {
    Ok(TcpListener::bind("127.0.0.1:0")?.local_addr()?.port())
}

fn wait_for_port(port: u16, child: &mut Child, limit: Duration) -> BoxResult<()> {
    let started = Instant::now();
    while TcpStream::connect(("127.0.0.1", port)).is_err() {
        if let Some(status) = child.try_wait()? {
            return Err(format!("the broker exited at start ({status})").into());
        }
        if started.elapsed() > limit {
            return Err(
                format!("the broker did not listen on port {port} within {limit:?}").into(),
            );
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    Ok(())
}

impl Broker {
    pub fn start(system: System) -> BoxResult<Self> {
        match system {
            System::Grpc => Ok(Broker {
                url: format!("127.0.0.1:{}", free_port()?),
                child: None,
                extra: Vec::new(),
                dir: None,
            }),
            System::Nats => {
                let port = free_port()?;
                let mut child = Command::new("nats-server")
                    .args(["-a", "127.0.0.1", "-p", &port.to_string()])
                    .stdout(Stdio::null())
                    .stderr(Stdio::null())
                    .spawn()
                    .map_err(|e| {
                        format!(
                            "nats-server could not start ({e}); install the nats-server package"
                        )
                    })?;
                wait_for_port(port, &mut child, Duration::from_secs(10))?;
                Ok(Broker {
                    url: format!("nats://127.0.0.1:{port}"),
                    child: Some(child),
                    extra: Vec::new(),
                    dir: None,
                })
            }
            System::Amqp => Self::rabbitmq(),
        }
    }

    /// A RabbitMQ node of its own: its own node name, ports, Erlang port mapper, data and
    /// logs in a temporary directory, no plugins.
    fn rabbitmq() -> BoxResult<Self> {
        let (port, dist, epmd) = (free_port()?, free_port()?, free_port()?);
        let dir = std::env::temp_dir().join(format!("clamator-compare-rabbitmq-{port}"));
        std::fs::create_dir_all(dir.join("home"))?;
        std::fs::write(dir.join("enabled_plugins"), "[].\n")?;
        std::fs::write(
            dir.join("rabbitmq.conf"),
            format!("listeners.tcp.default = 127.0.0.1:{port}\n"),
        )?;
        let server = [
            "/usr/lib/rabbitmq/bin/rabbitmq-server",
            "/usr/sbin/rabbitmq-server",
        ]
        .into_iter()
        .find(|p| std::path::Path::new(p).exists())
        .ok_or("rabbitmq-server not found; install the rabbitmq-server package")?;
        let mut child = Command::new(server)
            .env("HOME", dir.join("home"))
            .env(
                "RABBITMQ_NODENAME",
                format!("clamator-compare-{port}@localhost"),
            )
            .env("RABBITMQ_NODE_IP_ADDRESS", "127.0.0.1")
            .env("RABBITMQ_NODE_PORT", port.to_string())
            .env("RABBITMQ_DIST_PORT", dist.to_string())
            .env("ERL_EPMD_PORT", epmd.to_string())
            .env("RABBITMQ_MNESIA_BASE", dir.join("mnesia"))
            .env("RABBITMQ_LOG_BASE", dir.join("log"))
            .env("RABBITMQ_ENABLED_PLUGINS_FILE", dir.join("enabled_plugins"))
            .env("RABBITMQ_CONFIG_FILE", dir.join("rabbitmq"))
            .env("RABBITMQ_PID_FILE", dir.join("pid"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()?;
        let waited = wait_for_port(port, &mut child, Duration::from_secs(60));
        // The port mapper detaches from the node; find it by its port to stop it afterwards.
        let extra = epmd_pids(epmd);
        let broker = Broker {
            url: format!("amqp://guest:guest@127.0.0.1:{port}/%2f"),
            child: Some(child),
            extra,
            dir: Some(dir),
        };
        waited?;
        Ok(broker)
    }

    /// Where clients and servers connect.
    pub fn url(&self) -> &str {
        &self.url
    }

    /// CPU seconds of the broker's processes so far.
    pub fn cpu_seconds(&self) -> f64 {
        let Some(child) = &self.child else {
            return 0.0;
        };
        proc::tree(child.id())
            .into_iter()
            .chain(self.extra.iter().copied())
            .map(proc::cpu_seconds)
            .sum()
    }
}

/// The `epmd` processes started with `ERL_EPMD_PORT=<port>`.
fn epmd_pids(port: u16) -> Vec<u32> {
    let wanted = format!("ERL_EPMD_PORT={port}");
    proc::pids()
        .filter(|pid| {
            let read = |f: &str| std::fs::read(format!("/proc/{pid}/{f}")).unwrap_or_default();
            let is_epmd = read("cmdline")
                .split(|b| *b == 0)
                .next()
                .is_some_and(|c| c.ends_with(b"epmd"));
            is_epmd
                && read("environ")
                    .split(|b| *b == 0)
                    .any(|v| v == wanted.as_bytes())
        })
        .collect()
}

impl Drop for Broker {
    fn drop(&mut self) {
        if let Some(child) = &mut self.child {
            let tree = proc::tree(child.id());
            for pid in tree.iter().rev().chain(&self.extra) {
                // SAFETY: kill has no memory preconditions; the pids are this run's.
                unsafe {
                    libc::kill(*pid as libc::pid_t, libc::SIGKILL);
                }
            }
            let _ = child.wait();
        }
        if let Some(dir) = &self.dir {
            let _ = std::fs::remove_dir_all(dir);
        }
    }
}
