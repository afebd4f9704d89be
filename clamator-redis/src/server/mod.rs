//! The Redis server transport: the public face ([`RedisServer`], [`ServerBuilder`], stop)
//! over the loops that serve each service.
//!
//! Per service, a server runs a [consumer loop](consume) (`XREADGROUP … COUNT n BLOCK 1000`
//! on a dedicated connection, `n` being the concurrency but at least clamator's 16), a
//! [reclaim loop](reclaim), [lease renewal](lease) and [housekeeping]. Each entry is
//! handled on its own [task](entry) holding one of the service's `concurrency` permits
//! while its handler runs; with the default of one permit, handlers run strictly one after
//! another in stream order, clamator's in-order invariant. Replies and acks go out in
//! batches through the [completer]; an entry is acknowledged only after Redis accepted its
//! reply.
//!
//! Imports run one way: this file and the [`builder`] → the loops → [`entry`] (and [`event`])
//! → [`screen`], [`decide`], [`exactly_once`], [`retire`], [`span`] → [`runtime`] →
//! [`completer`].

mod broadcast;
mod builder;
mod completer;
mod consume;
mod decide;
mod entry;
mod event;
mod exactly_once;
mod groups;
mod housekeeping;
mod lease;
mod publisher;
mod reclaim;
mod retire;
mod runtime;
mod screen;
mod span;
mod stats;

use std::sync::atomic::Ordering;
use std::sync::Arc;

use clamator_protocol::Error;
use tokio_util::task::TaskTracker;

pub(crate) use self::builder::check_partitions;
pub use self::builder::ServerBuilder;
pub use self::publisher::ServerPublisher;
use self::runtime::{ServerState, ServiceRuntime};
pub use self::stats::ServerStats;
use crate::config::ServerConfig;
use crate::connection::BLOCK;

/// A running server. Stop it with [`stop`](Self::stop); dropping it stops it abruptly
/// (handlers still running are abandoned unacknowledged and reclaimed elsewhere later;
/// replies already handed to the reply writer are still written and acknowledged while
/// the runtime lives).
///
/// ```no_run
/// # async fn run() -> Result<(), clamator_protocol::Error> {
/// use clamator_protocol::{RpcError, Service};
/// use clamator_redis::{RedisServer, ServerConfig};
/// use serde_json::Value;
///
/// let echo = Service::builder("echo")
///     .method("say", |p: Value| async move { Ok::<_, RpcError>(p) })
///     .build()?;
/// let server = RedisServer::builder(ServerConfig::new("app")).service(echo).start().await?;
/// // ... serve until told to stop ...
/// server.stop().await;
/// # Ok(()) }
/// ```
pub struct RedisServer {
    state: Arc<ServerState>,
    loops: TaskTracker,
    services: Vec<Arc<ServiceRuntime>>,
}

impl std::fmt::Debug for RedisServer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RedisServer")
            .field("instance_id", &self.state.config.instance_id)
            .field(
                "services",
                &self.services.iter().map(|r| r.name()).collect::<Vec<_>>(),
            )
            .finish()
    }
}

/// How a [`RedisServer::stop`] went.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub struct StopReport {
    /// True when every in-flight entry finished (handler, reply and ack) within the grace
    /// period.
    pub drained: bool,
}

impl RedisServer {
    /// Starts building a server with `config`.
    pub fn builder(config: ServerConfig) -> ServerBuilder {
        ServerBuilder::new(config)
    }

    /// This server's instance id.
    pub fn instance_id(&self) -> &str {
        &self.state.config.instance_id
    }

    /// A publisher of events on this server's connections (the same as
    /// [`ServerBuilder::publisher`] hands out before the start).
    pub fn publisher(&self) -> ServerPublisher {
        let publisher = ServerPublisher::default();
        publisher.bind(&self.state);
        publisher
    }

    /// What this server has done since it started.
    pub fn stats(&self) -> ServerStats {
        self.state.counters.snapshot()
    }

    /// Whether this server is serving: not stopping, and the last read of every service's
    /// consumer loop (each partition's) reached Redis. False while Redis is unreachable or a
    /// failover is under way; true again once the loops read again. Meant for a readiness
    /// endpoint (Kubernetes `readinessProbe` and the like).
    ///
    /// ```no_run
    /// # async fn f(server: clamator_redis::RedisServer) {
    /// let status = if server.is_ready() { 200 } else { 503 };
    /// # let _ = status; }
    /// ```
    pub fn is_ready(&self) -> bool {
        !self.state.stopping.is_cancelled()
            && self
                .services
                .iter()
                .all(|rt| rt.reading.load(Ordering::Relaxed))
    }

    /// Stops gracefully: reads nothing more (a blocking read in progress returns within its
    /// 1 s `BLOCK` and what it got is still handled), lets in-flight handlers finish within
    /// the [shutdown grace](ServerConfig::shutdown_grace), and acknowledges only finished
    /// work. Handlers still running after the grace period are abandoned unacknowledged,
    /// for another server to reclaim. Idempotent: a second call waits for the same end.
    pub async fn stop(&self) -> StopReport {
        let state = &self.state;
        state.stopping.cancel();
        let grace = state.config.shutdown_grace;
        let drained = tokio::time::timeout(grace.saturating_add(BLOCK), self.wait_for_loops())
            .await
            .is_ok();
        if !drained {
            tracing::warn!(
                instance_id = %state.config.instance_id,
                ?grace,
                "shutdown grace period over; abandoning in-flight handlers unacknowledged"
            );
            state.abort.cancel();
            self.wait_for_loops().await;
        }
        tracing::info!(instance_id = %state.config.instance_id, drained, "clamator server stopped");
        StopReport { drained }
    }

    /// Serves until the process gets SIGINT (Ctrl-C) or SIGTERM, then [stops](Self::stop)
    /// gracefully; a second signal during the drain abandons what is still running (left
    /// unacknowledged, for another server to reclaim; the report then says not drained).
    ///
    /// The signal handlers are installed by this call, before the returned future is
    /// awaited, so a signal that arrives in between (say, after a readiness line is
    /// printed) is not lost:
    ///
    /// ```no_run
    /// # async fn serve(service: clamator_protocol::Service) -> Result<(), clamator_protocol::Error> {
    /// use clamator_redis::{RedisServer, ServerConfig};
    /// let server = RedisServer::builder(ServerConfig::from_env()?)
    ///     .service(service)
    ///     .start()
    ///     .await?;
    /// let until_signal = server.run_until_signal()?;
    /// println!("ready");
    /// let report = until_signal.await;
    /// println!("stopped; drained: {}", report.drained);
    /// # Ok(()) }
    /// ```
    ///
    /// Fails only when the signal handlers cannot be installed.
    #[cfg(unix)]
    pub fn run_until_signal(
        &self,
    ) -> Result<impl std::future::Future<Output = StopReport> + '_, Error> {
        use tokio::signal::unix::{signal, SignalKind};
        let install = |kind| {
            signal(kind).map_err(|e| Error::transport_with("cannot install a signal handler", e))
        };
        let (mut term, mut int) = (
            install(SignalKind::terminate())?,
            install(SignalKind::interrupt())?,
        );
        Ok(async move {
            let which = next_signal(&mut term, &mut int).await;
            tracing::info!(instance_id = %self.state.config.instance_id, signal = which, "stopping: draining in-flight work (a second signal aborts)");
            let stop = self.stop();
            tokio::pin!(stop);
            tokio::select! {
                report = &mut stop => report,
                _ = next_signal(&mut term, &mut int) => {
                    tracing::warn!(instance_id = %self.state.config.instance_id, "second signal: abandoning in-flight handlers unacknowledged");
                    self.state.abort.cancel();
                    stop.await;
                    StopReport { drained: false }
                }
            }
        })
    }

    async fn wait_for_loops(&self) {
        self.loops.wait().await;
        self.state.tasks.close();
        self.state.tasks.wait().await;
    }
}

/// The name of the next of the two signals a server stops on.
#[cfg(unix)]
async fn next_signal(
    term: &mut tokio::signal::unix::Signal,
    int: &mut tokio::signal::unix::Signal,
) -> &'static str {
    tokio::select! {
        _ = term.recv() => "SIGTERM",
        _ = int.recv() => "SIGINT",
    }
}

impl Drop for RedisServer {
    fn drop(&mut self) {
        self.state.stopping.cancel();
        self.state.abort.cancel();
    }
}
