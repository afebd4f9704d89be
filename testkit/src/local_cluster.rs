//! Private Redis Cluster and Sentinel deployments on free loopback ports, for the tests and
//! `clamator-bench --cluster`: each node is a [`RedisProcess`], so they never touch a Redis
//! on a standard port and they die with their owner.

use std::io;
use std::process::Command;
use std::time::{Duration, Instant};

use crate::local_redis::{cli_binary, RedisProcess};

/// How long a cluster node may be silent before the others count it as failed, in our
/// local clusters: short, so failover tests finish in seconds.
pub const CLUSTER_NODE_TIMEOUT: Duration = Duration::from_millis(1000);

/// A local Redis Cluster: `masters` masters with `replicas` replicas each, all 16384 slots
/// assigned by `redis-cli --cluster create`.
#[derive(Debug)]
pub struct RedisCluster {
    /// Every node, in the order they were given to `--cluster create` (masters first).
    pub nodes: Vec<RedisProcess>,
}

impl RedisCluster {
    /// Starts the nodes, creates the cluster and waits until every node says it is ok.
    pub fn start(masters: usize, replicas: usize) -> io::Result<Self> {
        let timeout = CLUSTER_NODE_TIMEOUT.as_millis().to_string();
        let nodes = (0..masters * (1 + replicas))
            .map(|_| {
                RedisProcess::start_cluster_node(&[
                    "--save",
                    "",
                    "--appendonly",
                    "no",
                    "--cluster-node-timeout",
                    &timeout,
                    // A replica whose master died a moment ago may always take over.
                    "--cluster-replica-validity-factor",
                    "0",
                    // A replica's first sync starts at once (Redis waits 5 s by default for
                    // more replicas to share it).
                    "--repl-diskless-sync-delay",
                    "0",
                ])
            })
            .collect::<io::Result<Vec<_>>>()?;
        crate::tools::require(&cli_binary(), 3);
        let mut create = Command::new(cli_binary());
        create.arg("--cluster").arg("create");
        for n in &nodes {
            create.arg(format!("127.0.0.1:{}", n.port()));
        }
        create
            .args(["--cluster-replicas", &replicas.to_string(), "--cluster-yes"])
            .stdin(std::process::Stdio::null());
        let out = create.output()?;
        if !out.status.success() {
            return Err(io::Error::other(format!(
                "{} --cluster create failed: {}{}",
                cli_binary(),
                String::from_utf8_lossy(&out.stdout),
                String::from_utf8_lossy(&out.stderr)
            )));
        }
        let cluster = Self { nodes };
        cluster.wait_ok(Duration::from_secs(20))?;
        cluster.wait_replicas_synced(masters * replicas, Duration::from_secs(20))?;
        Ok(cluster)
    }

    /// Waits until `replicas` nodes are replicas whose first sync with their master is done
    /// (`master_link_status:up`): before that a replica holds none of its master's data, and
    /// a master killed then takes everything it held with it, whatever the failover does.
    pub fn wait_replicas_synced(&self, replicas: usize, limit: Duration) -> io::Result<()> {
        let deadline = Instant::now() + limit;
        loop {
            let synced = self
                .nodes
                .iter()
                .filter(|n| n.is_running())
                .filter(|n| {
                    cli(n.port(), &["INFO", "replication"]).is_ok_and(|info| {
                        info.contains("role:slave")
                            && info.contains("master_link_status:up")
                            && info.contains("master_sync_in_progress:0")
                    })
                })
                .count();
            if synced >= replicas {
                return Ok(());
            }
            if Instant::now() > deadline {
                return Err(io::Error::other(format!(
                    "{synced} of {replicas} replicas synced with their master"
                )));
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// Waits until every running node reports `cluster_state:ok` and knows every other.
    pub fn wait_ok(&self, limit: Duration) -> io::Result<()> {
        let deadline = Instant::now() + limit;
        let running = self.nodes.iter().filter(|n| n.is_running()).count();
        loop {
            let all_ok = self.nodes.iter().filter(|n| n.is_running()).all(|n| {
                cli(n.port(), &["CLUSTER", "INFO"]).is_ok_and(|info| {
                    info.contains("cluster_state:ok")
                        && info
                            .lines()
                            .find_map(|l| l.strip_prefix("cluster_known_nodes:"))
                            .and_then(|v| v.trim().parse::<usize>().ok())
                            .is_some_and(|known| known >= running)
                })
            });
            if all_ok {
                return Ok(());
            }
            if Instant::now() > deadline {
                return Err(io::Error::other("the local cluster did not become ok"));
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// The seed-node list for `--redis-url` in cluster mode: every node, comma-separated.
    pub fn url(&self) -> String {
        self.nodes
            .iter()
            .map(|n| format!("redis://127.0.0.1:{}", n.port()))
            .collect::<Vec<_>>()
            .join(",")
    }

    /// The index in [`nodes`](Self::nodes) of the master serving `key` now, as the first
    /// running node's `CLUSTER NODES` tells.
    pub fn master_of(&self, key: &str) -> io::Result<usize> {
        let slot = key_slot(key);
        let port = self
            .cluster_nodes()?
            .into_iter()
            .find(|n| n.master && n.slots.iter().any(|r| r.contains(&slot)))
            .map(|n| n.port)
            .ok_or_else(|| io::Error::other(format!("no master owns the slot of {key}")))?;
        self.index_of(port)
    }

    /// The indexes of the masters that are up and own slots.
    pub fn masters(&self) -> Vec<usize> {
        self.cluster_nodes()
            .unwrap_or_default()
            .into_iter()
            .filter(|n| n.master && !n.slots.is_empty())
            .filter_map(|n| self.index_of(n.port).ok())
            .collect()
    }

    fn index_of(&self, port: u16) -> io::Result<usize> {
        self.nodes
            .iter()
            .position(|n| n.port() == port)
            .ok_or_else(|| io::Error::other(format!("port {port} is not one of ours")))
    }

    fn cluster_nodes(&self) -> io::Result<Vec<NodeLine>> {
        let mut last = io::Error::other("no node is running");
        for n in self.nodes.iter().filter(|n| n.is_running()) {
            match cli(n.port(), &["CLUSTER", "NODES"]) {
                Ok(text) => return Ok(text.lines().filter_map(NodeLine::parse).collect()),
                Err(e) => last = e,
            }
        }
        Err(last)
    }

    /// Moves the slot of `key` from node `from` to node `to` with its keys, the way
    /// `redis-cli --cluster reshard` does: IMPORTING / MIGRATING, MIGRATE in batches, then
    /// SETSLOT NODE on both. Clients see ASK and then MOVED meanwhile.
    pub fn migrate_slot_of(&self, key: &str, from: usize, to: usize) -> io::Result<()> {
        let slot = key_slot(key).to_string();
        let (src, dst) = (self.nodes[from].port(), self.nodes[to].port());
        let src_id = cli(src, &["CLUSTER", "MYID"])?.trim().to_owned();
        let dst_id = cli(dst, &["CLUSTER", "MYID"])?.trim().to_owned();
        cli(dst, &["CLUSTER", "SETSLOT", &slot, "IMPORTING", &src_id])?;
        cli(src, &["CLUSTER", "SETSLOT", &slot, "MIGRATING", &dst_id])?;
        loop {
            let keys = cli(src, &["CLUSTER", "GETKEYSINSLOT", &slot, "100"])?;
            let keys: Vec<&str> = keys
                .lines()
                .map(str::trim)
                .filter(|k| !k.is_empty())
                .collect();
            if keys.is_empty() {
                break;
            }
            let port = dst.to_string();
            let mut args = vec!["MIGRATE", "127.0.0.1", &port, "", "0", "5000", "KEYS"];
            args.extend(keys);
            cli(src, &args)?;
        }
        cli(dst, &["CLUSTER", "SETSLOT", &slot, "NODE", &dst_id])?;
        cli(src, &["CLUSTER", "SETSLOT", &slot, "NODE", &dst_id])?;
        Ok(())
    }

    /// The index of a replica of master `master`.
    pub fn replica_of(&self, master: usize) -> io::Result<usize> {
        let nodes = self.cluster_nodes()?;
        let port = self.nodes[master].port();
        let id = nodes
            .iter()
            .find(|n| n.port == port)
            .map(|n| n.id.clone())
            .ok_or_else(|| io::Error::other("master not in CLUSTER NODES"))?;
        let replica = nodes
            .iter()
            .find(|n| n.master_id.as_deref() == Some(id.as_str()))
            .ok_or_else(|| io::Error::other("the master has no replica"))?;
        self.index_of(replica.port)
    }

    /// A planned failover: node `replica` takes over from its master with
    /// `CLUSTER FAILOVER` (the master pauses writes until the replica caught up, so nothing
    /// acknowledged is lost); waits until it serves the slot of `key`.
    pub fn manual_failover(&self, replica: usize, key: &str, limit: Duration) -> io::Result<()> {
        cli(self.nodes[replica].port(), &["CLUSTER", "FAILOVER"])?;
        let deadline = Instant::now() + limit;
        while self.master_of(key).ok() != Some(replica) {
            if Instant::now() > deadline {
                return Err(io::Error::other("the manual failover did not finish"));
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        Ok(())
    }

    /// Waits until a replica has taken over the slots of killed master `dead`.
    pub fn wait_failover(&self, key: &str, dead: usize, limit: Duration) -> io::Result<usize> {
        let deadline = Instant::now() + limit;
        loop {
            if let Ok(owner) = self.master_of(key) {
                if owner != dead && self.nodes[owner].is_running() {
                    self.wait_ok(deadline.saturating_duration_since(Instant::now()))?;
                    return Ok(owner);
                }
            }
            if Instant::now() > deadline {
                return Err(io::Error::other("no replica took over"));
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

/// A local Sentinel deployment: one master, one replica, three sentinels (quorum 2).
#[derive(Debug)]
pub struct SentinelGroup {
    /// The first master (index 0) and its replica (index 1).
    pub servers: Vec<RedisProcess>,
    /// The three sentinels.
    pub sentinels: Vec<RedisProcess>,
    /// The master's name in the sentinels.
    pub name: String,
}

impl SentinelGroup {
    /// Starts it and waits until every sentinel knows the replica and the other sentinels.
    pub fn start(name: &str, down_after: Duration) -> io::Result<Self> {
        // The replica's first sync starts at once (Redis waits 5 s by default for more
        // replicas to share it); start waits for it to be done.
        let args = [
            "--save",
            "",
            "--appendonly",
            "no",
            "--repl-diskless-sync-delay",
            "0",
        ];
        let master = RedisProcess::start_with(&args)?;
        let master_port = master.port().to_string();
        let mut replica_args = args.to_vec();
        replica_args.extend(["--replicaof", "127.0.0.1", &master_port]);
        let replica = RedisProcess::start_with(&replica_args)?;
        let sentinels = (0..3)
            .map(|_| RedisProcess::start_sentinel(name, master.port(), 2, down_after))
            .collect::<io::Result<Vec<_>>>()?;
        let group = Self {
            servers: vec![master, replica],
            sentinels,
            name: name.to_owned(),
        };
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            let ready = group.sentinels.iter().all(|s| {
                cli(s.port(), &["SENTINEL", "MASTER", name]).is_ok_and(|info| {
                    let field = |f: &str| {
                        let lines: Vec<&str> = info.lines().map(str::trim).collect();
                        lines
                            .iter()
                            .position(|l| *l == f)
                            .and_then(|i| lines.get(i + 1))
                            .and_then(|v| v.parse::<u32>().ok())
                    };
                    field("num-slaves") == Some(1) && field("num-other-sentinels") == Some(2)
                })
            }) && cli(group.servers[1].port(), &["INFO", "replication"])
                .is_ok_and(|i| i.contains("master_link_status:up"));
            if ready {
                return Ok(group);
            }
            if Instant::now() > deadline {
                return Err(io::Error::other(
                    "the sentinels did not discover each other",
                ));
            }
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    /// The sentinel list for `--redis-url` in sentinel mode.
    pub fn url(&self) -> String {
        self.sentinels
            .iter()
            .map(|s| format!("redis://127.0.0.1:{}", s.port()))
            .collect::<Vec<_>>()
            .join(",")
    }

    /// The port the sentinels name as master now.
    pub fn master_port(&self) -> io::Result<u16> {
        for s in self
            .sentinels
            .iter()
            .filter(|s| s.is_running() && !s.is_paused())
        {
            if let Ok(addr) = cli(
                s.port(),
                &["SENTINEL", "GET-MASTER-ADDR-BY-NAME", &self.name],
            ) {
                if let Some(port) = addr.lines().nth(1).and_then(|p| p.trim().parse().ok()) {
                    return Ok(port);
                }
            }
        }
        Err(io::Error::other("no sentinel names a master"))
    }

    /// Asks the first sentinel for a failover now (`SENTINEL FAILOVER`): the old master
    /// stays up and becomes a replica.
    pub fn force_failover(&self) -> io::Result<()> {
        cli(
            self.sentinels[0].port(),
            &["SENTINEL", "FAILOVER", &self.name],
        )
        .map(|_| ())
    }

    /// Waits until the sentinels name a master other than `old_port` and it says it is one.
    pub fn wait_failover(&self, old_port: u16, limit: Duration) -> io::Result<u16> {
        let deadline = Instant::now() + limit;
        loop {
            if let Ok(port) = self.master_port() {
                if port != old_port && cli(port, &["ROLE"]).is_ok_and(|r| r.starts_with("master")) {
                    return Ok(port);
                }
            }
            if Instant::now() > deadline {
                return Err(io::Error::other("the sentinels did not fail over"));
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

/// One line of `CLUSTER NODES`: `<id> <ip:port@bus> <flags> <master> <ping> <pong> <epoch>
/// <link> <slot ranges…>`.
struct NodeLine {
    id: String,
    /// The master's id, for a replica.
    master_id: Option<String>,
    port: u16,
    master: bool,
    slots: Vec<std::ops::RangeInclusive<u16>>,
}

impl NodeLine {
    fn parse(line: &str) -> Option<Self> {
        let fields: Vec<&str> = line.split_whitespace().collect();
        let port = fields
            .get(1)?
            .split('@')
            .next()?
            .rsplit(':')
            .next()?
            .parse()
            .ok()?;
        let flags = fields.get(2)?;
        let master = flags.split(',').any(|f| f == "master")
            && !flags.split(',').any(|f| f == "fail" || f == "fail?");
        let slots = fields
            .iter()
            .skip(8)
            .filter(|r| !r.starts_with('['))
            .filter_map(|r| match r.split_once('-') {
                Some((a, b)) => Some(a.parse().ok()?..=b.parse().ok()?),
                None => {
                    let s = r.parse().ok()?;
                    Some(s..=s)
                }
            })
            .collect();
        Some(Self {
            id: (*fields.first()?).to_owned(),
            master_id: fields
                .get(3)
                .filter(|m| **m != "-")
                .map(|m| (*m).to_owned()),
            port,
            master,
            slots,
        })
    }
}

/// Runs one command through the command-line client; its output, or an error with it. A
/// node that does not answer within 5 s (paused, say) is an error, not a hang.
pub fn cli(port: u16, args: &[&str]) -> io::Result<String> {
    let mut child = Command::new(cli_binary())
        .args(["-h", "127.0.0.1", "-p", &port.to_string()])
        .args(args)
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()?;
    let deadline = Instant::now() + Duration::from_secs(5);
    while child.try_wait()?.is_none() {
        if Instant::now() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            return Err(io::Error::other(format!(
                "{} {}: no answer from port {port} within 5 s",
                cli_binary(),
                args.join(" ")
            )));
        }
        std::thread::sleep(Duration::from_millis(5));
    }
    let out = child.wait_with_output()?;
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    if !out.status.success() || text.starts_with("ERR") || text.starts_with("(error)") {
        return Err(io::Error::other(format!(
            "{} {}: {text}{}",
            cli_binary(),
            args.join(" "),
            String::from_utf8_lossy(&out.stderr)
        )));
    }
    Ok(text)
}

/// The cluster slot of a key (CRC16/XMODEM of the key or its `{hash tag}`, mod 16384).
pub fn key_slot(key: &str) -> u16 {
    let bytes = key.as_bytes();
    let hashed = match bytes.iter().position(|&b| b == b'{') {
        Some(open) => match bytes[open + 1..].iter().position(|&b| b == b'}') {
            Some(len) if len > 0 => &bytes[open + 1..open + 1 + len],
            _ => bytes,
        },
        None => bytes,
    };
    let mut crc: u16 = 0;
    for &b in hashed {
        crc ^= u16::from(b) << 8;
        for _ in 0..8 {
            crc = if crc & 0x8000 != 0 {
                (crc << 1) ^ 0x1021
            } else {
                crc << 1
            };
        }
    }
    crc % 16384
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn key_slots_match_redis() {
        // Values from the Redis Cluster specification and CLUSTER KEYSLOT.
        assert_eq!(key_slot("123456789"), 12739);
        assert_eq!(key_slot("foo"), 12182);
        assert_eq!(key_slot("{user1000}.following"), key_slot("user1000"));
        assert_eq!(key_slot("foo{}{bar}"), key_slot("foo{}{bar}"));
    }
}
