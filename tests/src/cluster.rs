//! Harnesses for the deployment-mode tests: a private Redis Cluster ([`TestCluster`]) and a
//! private Sentinel deployment ([`TestSentinel`]), with configs, servers and transports in
//! the right mode, and a raw connection of that mode for poking at keys.

use clamator_redis::{Deployment, ServerConfig, TransportConfig};
use clamator_testkit::local_cluster::{RedisCluster, SentinelGroup};
use redis::cluster_async::ClusterConnection;

/// A private Redis Cluster plus a key prefix unique to the test.
pub struct TestCluster {
    /// The cluster.
    pub cluster: RedisCluster,
    /// A key prefix whose `arith` and `notifications` command streams live on different
    /// masters.
    pub prefix: String,
}

impl TestCluster {
    /// Starts a cluster of `masters` masters with `replicas` replicas each.
    pub fn start(masters: usize, replicas: usize) -> Self {
        let cluster = RedisCluster::start(masters, replicas).expect("start a local cluster");
        // Prefixes are random; pick one that puts the two services on different shards, so
        // every test here crosses shards.
        let prefix = loop {
            let prefix = format!("t-{}", uuid::Uuid::new_v4().simple());
            let arith = cluster
                .master_of(&clamator_redis::keys::command_stream(&prefix, "arith"))
                .unwrap();
            let notifications = cluster
                .master_of(&clamator_redis::keys::command_stream(
                    &prefix,
                    "notifications",
                ))
                .unwrap();
            if arith != notifications || masters == 1 {
                break prefix;
            }
        };
        Self { cluster, prefix }
    }

    /// A server config in cluster mode for this cluster and prefix.
    pub fn server_config(&self) -> ServerConfig {
        ServerConfig::new(&self.prefix)
            .redis_url(self.cluster.url())
            .deployment(Deployment::Cluster)
    }

    /// A transport config in cluster mode for this cluster and prefix.
    pub fn transport_config(&self) -> TransportConfig {
        TransportConfig::new(&self.prefix)
            .redis_url(self.cluster.url())
            .deployment(Deployment::Cluster)
    }

    /// A raw cluster connection for inspecting and poking at keys.
    pub async fn raw(&self) -> ClusterConnection {
        let nodes: Vec<String> = self.cluster.url().split(',').map(str::to_owned).collect();
        redis::cluster::ClusterClient::new(nodes)
            .unwrap()
            .get_async_connection()
            .await
            .unwrap()
    }

    /// `<prefix>:cmds:<service>`.
    pub fn cmds(&self, service: &str) -> String {
        clamator_redis::keys::command_stream(&self.prefix, service)
    }
}

/// A private Sentinel deployment (a master, a replica, three sentinels) plus a prefix.
pub struct TestSentinel {
    /// The deployment.
    pub group: SentinelGroup,
    /// A fresh key prefix.
    pub prefix: String,
}

impl TestSentinel {
    /// Starts it; sentinels count a master down after `down_after`.
    pub fn start(down_after: std::time::Duration) -> Self {
        Self {
            group: SentinelGroup::start("clamator", down_after).expect("start sentinels"),
            prefix: format!("t-{}", uuid::Uuid::new_v4().simple()),
        }
    }

    /// A server config in sentinel mode.
    pub fn server_config(&self) -> ServerConfig {
        ServerConfig::new(&self.prefix)
            .redis_url(self.group.url())
            .deployment(Deployment::sentinel(&self.group.name))
    }

    /// A transport config in sentinel mode.
    pub fn transport_config(&self) -> TransportConfig {
        TransportConfig::new(&self.prefix)
            .redis_url(self.group.url())
            .deployment(Deployment::sentinel(&self.group.name))
    }
}
