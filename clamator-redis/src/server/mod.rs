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
//! Imports run one way: this file → the loops → [`entry`] → [`screen`] /
//! [`exactly_once`] → [`runtime`] → [`completer`].

mod broadcast;
mod completer;
mod consume;
mod decide;
mod entry;
mod event;
mod exactly_once;
mod groups;
mod housekeeping;
mod lease;
mod reclaim;
mod retire;
mod runtime;
mod screen;
mod span;

use std::collections::HashSet;
use std::sync::atomic::Ordering;
use std::sync::Arc;

use clamator_protocol::{Error, Service};
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use self::completer::{Completer, WriterSettings};
use self::runtime::{Counters, KnownReplyStreams, ServerState, ServiceRuntime};
use crate::config::{ServerConfig, ServiceOptions};
use crate::connection::{Connector, BLOCK};
use crate::keys;
use crate::log_limit::LogLimit;

/// A lasting failure repeated for every entry is logged at most once per this period.
const FAILURE_LOG_PERIOD: std::time::Duration = std::time::Duration::from_secs(10);
use crate::stream::commands::ReplyLimits;

/// The most partitions a service may have: each is a consumer loop, a reclaim loop and a
/// blocking connection per server, so far more would cost more than it spreads.
pub const MAX_PARTITIONS: usize = 256;

/// What a server has done since it started.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct ServerStats {
    /// Requests and notifications dispatched to their service: those whose params failed
    /// validation (answered -32602 without running the handler) count here too.
    pub handled: u64,
    /// Requests skipped because their deadline had passed.
    pub expired: u64,
    /// Entries taken over from other consumers.
    pub reclaimed: u64,
    /// Malformed or refused entries (dead-lettered without running a handler).
    pub malformed: u64,
    /// Entries moved to the dead-letter stream, for any reason: malformed or refused ones,
    /// and those delivered `max_deliveries` times.
    pub dead_lettered: u64,
    /// Handlers cancelled because their call's deadline passed or they ran past
    /// `max_handler_time`.
    pub cancelled: u64,
    /// Exactly-once requests answered from their stored reply instead of running again.
    pub replayed: u64,
    /// Replies Redis refused to store (the entry stays pending and runs again).
    pub reply_write_failures: u64,
    /// Handlers running now.
    pub in_flight: u64,
    /// Events trimmed from an event stream over its cap before a subscriber group had
    /// received them (counted by this server's housekeeping, for every group of the stream).
    pub events_lost: u64,
}

/// Builds a [`RedisServer`]: add services, then [`start`](Self::start).
pub struct ServerBuilder {
    config: ServerConfig,
    services: Vec<(Service, ServiceOptions)>,
    subscriptions: Vec<(String, Service, crate::events::SubscriptionOptions)>,
    broadcasts: Vec<Service>,
}

impl std::fmt::Debug for ServerBuilder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ServerBuilder")
            .field("config", &self.config)
            .field(
                "services",
                &self
                    .services
                    .iter()
                    .map(|(s, o)| (s.name(), o))
                    .collect::<Vec<_>>(),
            )
            .field(
                "subscriptions",
                &self
                    .subscriptions
                    .iter()
                    .map(|(sub, s, o)| (sub, s.name(), o))
                    .collect::<Vec<_>>(),
            )
            .field(
                "broadcasts",
                &self
                    .broadcasts
                    .iter()
                    .map(Service::name)
                    .collect::<Vec<_>>(),
            )
            .finish()
    }
}

impl ServerBuilder {
    /// Serves `service` with the default [`ServiceOptions`]: one request at a time, in
    /// stream order (clamator's invariant), at least once.
    #[must_use]
    pub fn service(self, service: Service) -> Self {
        self.service_with(service, ServiceOptions::new())
    }

    /// Serves `service` with `options` (its concurrency, and which of its methods run
    /// exactly once).
    #[must_use]
    pub fn service_with(mut self, service: Service, options: ServiceOptions) -> Self {
        let service = if self.config.show_error_details {
            service.show_error_details(true)
        } else {
            service
        };
        self.services.push((service, options));
        self
    }

    /// Subscribes service `subscriber` to the events of the publisher `events` is named
    /// after: `events` holds one notification handler per event it wants (generated
    /// subscribers build it); the others are acknowledged unhandled. Each event is handled
    /// by one instance of `subscriber` (at least once), with the server's reclaim, leases
    /// and drain, retries with backoff, and the dead-letter stream
    /// `<prefix>:dlq:<subscriber>` for invalid payloads and events that failed
    /// `max_deliveries` times. See [`crate::events`].
    #[must_use]
    pub fn subscribe(
        mut self,
        subscriber: &str,
        events: Service,
        options: crate::events::SubscriptionOptions,
    ) -> Self {
        self.subscriptions
            .push((subscriber.to_owned(), events, options));
        self
    }

    /// Every instance sees every event of the publisher `events` is named after, published
    /// while it runs (for cache invalidation, config reloads): no group, no acks, nothing
    /// retried or reclaimed — at most once. See [`crate::events`].
    #[must_use]
    pub fn broadcast(mut self, events: Service) -> Self {
        self.broadcasts.push(events);
        self
    }

    /// Connects, creates each service's consumer group where missing (with `MKSTREAM`,
    /// starting [`max_request_age`](ServerConfig::max_request_age) ago, where clamator starts
    /// at `$`), and starts the loops. Fails when Redis is unreachable, when there are no
    /// services, on a duplicate service, or on a concurrency of 0.
    pub async fn start(self) -> Result<RedisServer, Error> {
        if self.services.is_empty() && self.subscriptions.is_empty() && self.broadcasts.is_empty() {
            return Err(Error::InvalidArgument(
                "a server needs at least one service, subscription or broadcast".into(),
            ));
        }
        let mut subscribed = HashSet::new();
        for (subscriber, events, options) in &self.subscriptions {
            if !clamator_protocol::names::is_valid_service(subscriber) {
                return Err(Error::InvalidArgument(format!(
                    "invalid subscriber name \"{subscriber}\" (must match ^[a-z][a-z0-9-]*$)"
                )));
            }
            if !subscribed.insert((subscriber.clone(), events.name().to_owned())) {
                return Err(Error::InvalidArgument(format!(
                    "\"{subscriber}\" subscribed twice to the events of \"{}\"",
                    events.name()
                )));
            }
            if options.concurrency == 0 {
                return Err(Error::InvalidArgument(format!(
                    "concurrency of subscriber \"{subscriber}\" must be at least 1"
                )));
            }
        }
        let mut seen = HashSet::new();
        for (s, options) in &self.services {
            if !seen.insert(s.name().to_owned()) {
                return Err(Error::InvalidArgument(format!(
                    "service \"{}\" already registered on this server",
                    s.name()
                )));
            }
            if !(1..=MAX_PARTITIONS).contains(&options.partitions) {
                return Err(Error::InvalidArgument(format!(
                    "partitions of service \"{}\" must be 1 to {MAX_PARTITIONS}, not {}",
                    s.name(),
                    options.partitions
                )));
            }
            if options.concurrency == 0 {
                return Err(Error::InvalidArgument(format!(
                    "concurrency of service \"{}\" must be at least 1",
                    s.name()
                )));
            }
        }
        let connector = Connector::new(&self.config.connection)?;
        let manager = connector.shared().await?;
        let completer = Completer::start(
            manager.clone(),
            WriterSettings {
                limits: ReplyLimits {
                    maxlen: self.config.reply_stream_maxlen,
                    retention: self.config.reply_retention,
                    ttl: self.config.reply_stream_ttl,
                },
                fault_abort_after_reply_once: self.config.fault_abort_after_reply_once.clone(),
            },
        );
        let services: Vec<Arc<ServiceRuntime>> = self
            .services
            .into_iter()
            .flat_map(|(service, options)| {
                let service = Arc::new(service);
                (0..options.partitions)
                    .map(|partition| {
                        Arc::new(ServiceRuntime::new(
                            &self.config,
                            Arc::clone(&service),
                            &options,
                            partition,
                        ))
                    })
                    .collect::<Vec<_>>()
            })
            .chain(
                self.subscriptions
                    .iter()
                    .map(|(subscriber, events, options)| {
                        Arc::new(ServiceRuntime::subscription(
                            &self.config,
                            Arc::new(events.clone()),
                            subscriber,
                            options,
                        ))
                    }),
            )
            .collect();
        let broadcasts: Vec<Arc<Service>> = self.broadcasts.into_iter().map(Arc::new).collect();
        let state = Arc::new(ServerState {
            completer,
            reply_prefix: keys::reply_stream_prefix(&self.config.key_prefix),
            config: self.config,
            connector,
            manager,
            stopping: CancellationToken::new(),
            abort: CancellationToken::new(),
            tasks: TaskTracker::new(),
            counters: Counters::default(),
            reply_streams: KnownReplyStreams::default(),
            dead_letter_failures: LogLimit::new(FAILURE_LOG_PERIOD),
        });
        for rt in &services {
            groups::ensure_group(&state, rt).await?;
            rt.reading.store(true, Ordering::Relaxed);
        }
        if state.config.publish_contracts {
            // A subscription's service is named after the publisher: the publisher publishes
            // its own contract, never its subscribers.
            let served = services
                .iter()
                .filter(|rt| rt.partition == 0 && rt.events.is_none());
            crate::contracts::publish(
                &state.manager,
                &state.config.key_prefix,
                served.map(|rt| &*rt.service),
            )
            .await;
        }
        let loops = TaskTracker::new();
        for rt in &services {
            loops.spawn(consume::consume_loop(Arc::clone(&state), Arc::clone(rt)));
            loops.spawn(reclaim::reclaim_loop(Arc::clone(&state), Arc::clone(rt)));
            loops.spawn(lease::lease_loop(Arc::clone(&state), Arc::clone(rt)));
            loops.spawn(housekeeping::housekeeping_loop(
                Arc::clone(&state),
                Arc::clone(rt),
            ));
        }
        for events in broadcasts {
            loops.spawn(broadcast::broadcast_loop(Arc::clone(&state), events));
        }
        loops.close();
        // Which server this is only decides what newer commands could be used; a server
        // that does not answer HELLO is served as the Redis 7.0 baseline.
        let server = match crate::connection::ServerInfo::detect(&mut state.manager.clone()).await {
            Ok(info) => info.to_string(),
            Err(e) => format!("unknown ({e})"),
        };
        tracing::info!(
            instance_id = %state.config.instance_id,
            services = ?services.iter().map(|r| r.name()).collect::<Vec<_>>(),
            redis = %state.connector.display_url(),
            %server,
            "clamator server started"
        );
        Ok(RedisServer {
            state,
            loops,
            services,
        })
    }
}

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
        ServerBuilder {
            config,
            services: Vec::new(),
            subscriptions: Vec::new(),
            broadcasts: Vec::new(),
        }
    }

    /// This server's instance id.
    pub fn instance_id(&self) -> &str {
        &self.state.config.instance_id
    }

    /// What this server has done since it started.
    pub fn stats(&self) -> ServerStats {
        let c = &self.state.counters;
        ServerStats {
            handled: c.handled.load(Ordering::Relaxed),
            expired: c.expired.load(Ordering::Relaxed),
            reclaimed: c.reclaimed.load(Ordering::Relaxed),
            malformed: c.malformed.load(Ordering::Relaxed),
            dead_lettered: c.dead_lettered.load(Ordering::Relaxed),
            cancelled: c.cancelled.load(Ordering::Relaxed),
            replayed: c.replayed.load(Ordering::Relaxed),
            reply_write_failures: c.reply_write_failures.load(Ordering::Relaxed),
            events_lost: c.events_lost.load(Ordering::Relaxed),
            in_flight: c.in_flight.load(Ordering::Relaxed),
        }
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
