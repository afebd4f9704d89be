//! Building a server: the services, subscriptions and broadcasts it serves, checked before
//! anything connects, then connected and started.

use std::collections::HashSet;
use std::sync::atomic::Ordering;
use std::sync::Arc;

use clamator_protocol::{Error, Service};
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;
use tracing::Instrument;

use super::completer::{Completer, WriterSettings};
use super::publisher::ServerPublisher;
use super::runtime::{KnownReplyStreams, ServerState, ServiceRuntime};
use super::stats::Counters;
use super::{broadcast, consume, groups, housekeeping, lease, reclaim, RedisServer};
use crate::config::{ServerConfig, ServiceOptions, MAX_PARTITIONS};
use crate::connection::Connector;
use crate::events::SubscriptionOptions;
use crate::keys;
use crate::log_limit::LogLimit;
use crate::stream::commands::ReplyLimits;

/// A lasting failure repeated for every entry is logged at most once per this period.
const FAILURE_LOG_PERIOD: std::time::Duration = std::time::Duration::from_secs(10);

/// Builds a [`RedisServer`]: add services, then [`start`](Self::start).
pub struct ServerBuilder {
    config: ServerConfig,
    services: Vec<(Service, ServiceOptions)>,
    subscriptions: Vec<(String, Service, SubscriptionOptions)>,
    broadcasts: Vec<Service>,
    publisher: ServerPublisher,
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
    pub(super) fn new(config: ServerConfig) -> Self {
        Self {
            config,
            services: Vec::new(),
            subscriptions: Vec::new(),
            broadcasts: Vec::new(),
            publisher: ServerPublisher::default(),
        }
    }

    /// A publisher of events on the connections of the server this builder starts, for the
    /// handlers of its services: give it to the service before adding that (a generated
    /// `<Service>Events::new(builder.publisher())`). It publishes once the server has
    /// started. Every call returns a handle to the same publisher.
    pub fn publisher(&self) -> ServerPublisher {
        self.publisher.clone()
    }

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
    /// after, with the default [`SubscriptionOptions`]: `events` holds one notification
    /// handler per event it wants (generated subscribers build it); the others are
    /// acknowledged unhandled. Each event is handled by one instance of `subscriber` (at
    /// least once), with the server's reclaim, leases and drain, retries with backoff, and
    /// the dead-letter stream `<prefix>:dlq:<subscriber>` for invalid payloads and events
    /// that failed `max_deliveries` times. See [`crate::events`].
    #[must_use]
    pub fn subscribe(self, subscriber: &str, events: Service) -> Self {
        self.subscribe_with(subscriber, events, SubscriptionOptions::new())
    }

    /// Subscribes like [`subscribe`](Self::subscribe), with `options` (where a new
    /// subscriber starts, concurrency, retry delays, exactly-once).
    #[must_use]
    pub fn subscribe_with(
        mut self,
        subscriber: &str,
        events: Service,
        options: SubscriptionOptions,
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
    /// at `$`), and starts the loops. Fails when Redis is unreachable, and before connecting
    /// when there are no services, on a duplicate service or subscription, an invalid
    /// subscriber name, a concurrency of 0 or partitions outside 1 to [`MAX_PARTITIONS`].
    pub async fn start(self) -> Result<RedisServer, Error> {
        self.check()?;
        let connector = Connector::new(&self.config.connection)?;
        let manager = connector.shared().await?;
        let completer = Completer::start(
            &connector,
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
        // Before any loop runs: a handler may publish from its first request.
        self.publisher.bind(&state);
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
            // A subscription's loops log under a span naming the publisher and the
            // subscriber: with two subscriptions to one publisher in a process, their
            // lines (which say `service`, the publisher) tell which one they are about.
            let span = match &rt.events {
                Some(events) => tracing::info_span!(
                    "clamator.subscription",
                    publisher = rt.name(),
                    subscriber = events.subscriber.as_str()
                ),
                None => tracing::Span::none(),
            };
            loops.spawn(
                consume::consume_loop(Arc::clone(&state), Arc::clone(rt)).instrument(span.clone()),
            );
            loops.spawn(
                reclaim::reclaim_loop(Arc::clone(&state), Arc::clone(rt)).instrument(span.clone()),
            );
            loops.spawn(
                lease::lease_loop(Arc::clone(&state), Arc::clone(rt)).instrument(span.clone()),
            );
            loops.spawn(
                housekeeping::housekeeping_loop(Arc::clone(&state), Arc::clone(rt))
                    .instrument(span),
            );
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

    /// What [`start`](Self::start) refuses before connecting, with the reason.
    fn check(&self) -> Result<(), Error> {
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
            check_partitions(s.name(), options.partitions)?;
            if options.concurrency == 0 {
                return Err(Error::InvalidArgument(format!(
                    "concurrency of service \"{}\" must be at least 1",
                    s.name()
                )));
            }
        }
        Ok(())
    }
}

/// The one rule for partitions, on servers and transports alike: 1 to [`MAX_PARTITIONS`].
pub(crate) fn check_partitions(service: &str, n: usize) -> Result<(), Error> {
    if (1..=MAX_PARTITIONS).contains(&n) {
        Ok(())
    } else {
        Err(Error::InvalidArgument(format!(
            "partitions of service \"{service}\" must be 1 to {MAX_PARTITIONS}, not {n}"
        )))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn service(name: &str) -> Service {
        Service::builder(name).build().unwrap()
    }

    fn refused(builder: ServerBuilder) -> String {
        builder.check().unwrap_err().to_string()
    }

    #[test]
    fn a_server_is_checked_before_it_connects() {
        let b = || RedisServer::builder(ServerConfig::new("p"));
        assert!(refused(b()).contains("at least one service"));
        assert!(b().service(service("a")).check().is_ok());
        assert!(
            refused(b().service(service("a")).service(service("a"))).contains("already registered")
        );
        assert!(
            refused(b().service_with(service("a"), ServiceOptions::new().concurrency(0)))
                .contains("concurrency of service \"a\"")
        );
        assert!(refused(b().subscribe("Bad Name", service("orders")))
            .contains("invalid subscriber name"));
        assert!(refused(
            b().subscribe("billing", service("orders"))
                .subscribe("billing", service("orders"))
        )
        .contains("subscribed twice"));
        assert!(refused(b().subscribe_with(
            "billing",
            service("orders"),
            SubscriptionOptions::new().concurrency(0)
        ))
        .contains("concurrency of subscriber"));
        assert!(b().broadcast(service("orders")).check().is_ok());
    }

    #[test]
    fn partitions_are_one_to_the_maximum_with_the_reason() {
        assert!(check_partitions("a", 1).is_ok());
        assert!(check_partitions("a", MAX_PARTITIONS).is_ok());
        for n in [0, MAX_PARTITIONS + 1] {
            let e = check_partitions("a", n).unwrap_err().to_string();
            assert!(e.contains("must be 1 to 256"), "{e}");
            assert!(e.contains(&format!("not {n}")), "{e}");
        }
        let b = RedisServer::builder(ServerConfig::new("p"))
            .service_with(service("a"), ServiceOptions::new().partitions(0));
        assert!(refused(b).contains("partitions of service \"a\""));
    }
}
