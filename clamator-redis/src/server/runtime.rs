//! The state a running server shares between its loops and entry tasks: the server-wide
//! [`ServerState`] and, per service, a [`ServiceRuntime`].

use std::collections::{BTreeSet, HashSet};

use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use clamator_protocol::Service;
use tokio::sync::{OwnedSemaphorePermit, Semaphore};
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use super::completer::{AckTarget, Completer, Completion, Finish};
use super::stats::Counters;
use crate::config::{ExactlyOnce, ServerConfig, ServiceOptions};
use crate::connection::{Connector, RedisConn};
use crate::keys;
use crate::log_limit::LogLimit;
use crate::stream::commands::Consumer;
use crate::stream::StreamEntry;
use crate::stream::StreamId;

/// Entries read per `XREADGROUP` at least (clamator's count), and at most.
const READ_COUNT: (usize, usize) = (16, 256);

/// State shared by all loops and entry tasks of one server.
pub(crate) struct ServerState {
    pub(crate) config: ServerConfig,
    pub(crate) connector: Connector,
    /// The shared connection for every non-blocking command.
    pub(crate) manager: RedisConn,
    /// `<prefix>:replies:`, the only namespace this server writes replies into.
    pub(crate) reply_prefix: String,
    /// Cancelled by `stop`: read nothing more.
    pub(crate) stopping: CancellationToken,
    /// Cancelled when the grace period is over: abandon in-flight handlers, unacknowledged.
    pub(crate) abort: CancellationToken,
    /// Every entry task.
    pub(crate) tasks: TaskTracker,
    pub(crate) counters: Counters,
    /// Writes replies and acks in batches.
    pub(crate) completer: Completer,
    /// Reply streams seen to be streams (or not to exist yet).
    pub(crate) reply_streams: KnownReplyStreams,
    /// Failed dead-letter writes, logged at most once per period.
    pub(crate) dead_letter_failures: LogLimit,
}

/// The reply streams this server has checked: a `reply-to` naming a key of another type is
/// refused before its handler runs, and the check costs one `TYPE` per client, not per call.
#[derive(Debug, Default)]
pub(crate) struct KnownReplyStreams(Mutex<HashSet<String>>);

impl KnownReplyStreams {
    /// Streams remembered at most; beyond that the memory starts over.
    const CAPACITY: usize = 10_000;

    pub(crate) fn contains(&self, key: &str) -> bool {
        self.0
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .contains(key)
    }

    pub(crate) fn insert(&self, key: &str) {
        let mut known = self.0.lock().unwrap_or_else(PoisonError::into_inner);
        if known.len() >= Self::CAPACITY {
            known.clear();
        }
        known.insert(key.to_owned());
    }
}

impl ServerState {
    /// Sleeps for `d` unless the server starts stopping; true when it slept the whole time.
    pub(crate) async fn pause(&self, d: Duration) -> bool {
        tokio::select! {
            () = self.stopping.cancelled() => false,
            () = tokio::time::sleep(d) => true,
        }
    }
}

/// What a subscription adds to a runtime.
#[derive(Debug)]
pub(crate) struct EventSettings {
    /// The subscribing service: the group's name.
    pub(crate) subscriber: String,
    /// Where its group starts when created.
    pub(crate) start_at: crate::events::StartAt,
    /// The delays between attempts of a failing handler.
    pub(crate) retry: crate::events::RetryDelays,
    /// Whether each event runs at most once for this subscriber.
    pub(crate) exactly_once: bool,
}

/// What one service runs with.
pub(crate) struct ServiceRuntime {
    /// Shared by the runtimes of every partition of the service.
    pub(crate) service: Arc<Service>,
    /// Which partition of the service's command stream this runtime reads (0: the
    /// clamator-compatible one).
    pub(crate) partition: usize,
    /// The command stream and group, which is all the completer needs to acknowledge.
    pub(crate) target: Arc<AckTarget>,
    /// This server's consumer name in the group.
    pub(crate) consumer: String,
    /// `<prefix>:dlq:<service>`.
    pub(crate) dead_letters: String,
    /// One per handler allowed to run at once (the service's concurrency).
    pub(crate) permits: Arc<Semaphore>,
    /// Entries started and not yet finished (handler running, or reply and ack still on
    /// their way): `concurrency + 4 × read_count`. Handlers give their permit back before
    /// the reply is written, so without this bound a Redis slower than the handlers would
    /// let handled-but-unacknowledged entries pile up.
    pub(crate) unfinished: Arc<Semaphore>,
    /// `COUNT` of the consumer loop's reads: the concurrency, within [`READ_COUNT`], so a
    /// busy concurrent service fills its permits in one round trip.
    pub(crate) read_count: usize,
    /// The service's metric handles (nothing without the `metrics` feature).
    pub(crate) metrics: crate::instruments::ServiceMetrics,
    /// Set when this runtime is a subscription to a publisher's events rather than a
    /// service's command stream.
    pub(crate) events: Option<EventSettings>,
    /// Which requests run exactly once.
    exactly_once: ExactlyOnce,
    /// Methods whose handlers are never cancelled.
    never_cancel: BTreeSet<String>,
    /// Entries this server has taken and not finished: the reclaim loop must not claim
    /// them again from under their handler.
    held: Mutex<HashSet<String>>,
    /// The newest entry this server knows its group delivered (read by its consumer loop, or
    /// the group's position last seen in Redis): a vanished group is re-created after it.
    delivered: Mutex<Option<StreamId>>,
    /// When the leases of the held entries were last renewed (or the service started).
    last_renewal: Mutex<Instant>,
    /// Held entries another consumer took over while this server could not renew them.
    lost: Mutex<HashSet<String>>,
    /// Whether the consumer loop's last read reached Redis (set at start once the group is
    /// there), for [`RedisServer::is_ready`](crate::RedisServer::is_ready).
    pub(crate) reading: std::sync::atomic::AtomicBool,
}

impl ServiceRuntime {
    /// The runtime of partition `partition` of `service` (0 when it is not partitioned).
    pub(crate) fn new(
        config: &ServerConfig,
        service: Arc<Service>,
        options: &ServiceOptions,
        partition: usize,
    ) -> Self {
        let ServiceOptions {
            concurrency,
            exactly_once,
            never_cancel,
            partitions: _,
        } = options.clone();
        let prefix = &config.key_prefix;
        let read_count = concurrency.clamp(READ_COUNT.0, READ_COUNT.1);
        Self {
            target: Arc::new(AckTarget {
                service: service.name().to_owned(),
                stream: keys::command_stream_partition(prefix, service.name(), partition),
                group: keys::consumer_group_name(service.name()),
            }),
            consumer: keys::consumer_name(service.name(), &config.instance_id),
            dead_letters: keys::dead_letter_stream(prefix, service.name()),
            partition,
            metrics: crate::instruments::ServiceMetrics::new(&service),
            events: None,
            service,
            permits: Arc::new(Semaphore::new(concurrency)),
            unfinished: Arc::new(Semaphore::new(concurrency + 4 * read_count)),
            read_count,
            exactly_once,
            never_cancel,
            held: Mutex::new(HashSet::new()),
            delivered: Mutex::new(None),
            last_renewal: Mutex::new(Instant::now()),
            lost: Mutex::new(HashSet::new()),
            reading: std::sync::atomic::AtomicBool::new(false),
        }
    }

    /// The runtime of subscriber service `subscriber` taking the events of the publisher
    /// `events` is named after: the publisher's event stream, read through a group named
    /// after the subscriber; failures dead-lettered to the subscriber's dead-letter stream.
    pub(crate) fn subscription(
        config: &ServerConfig,
        events: Arc<Service>,
        subscriber: &str,
        options: &crate::events::SubscriptionOptions,
    ) -> Self {
        let mut rt = Self::new(
            config,
            events,
            &ServiceOptions::new().concurrency(options.concurrency),
            0,
        );
        let prefix = &config.key_prefix;
        rt.target = Arc::new(AckTarget {
            service: rt.service.name().to_owned(),
            stream: keys::event_stream(prefix, rt.service.name()),
            group: subscriber.to_owned(),
        });
        rt.consumer = keys::consumer_name(subscriber, &config.instance_id);
        rt.dead_letters = keys::dead_letter_stream(prefix, subscriber);
        rt.events = Some(EventSettings {
            subscriber: subscriber.to_owned(),
            start_at: options.start_at,
            retry: options.retry,
            exactly_once: options.exactly_once,
        });
        rt
    }

    /// The service's name.
    pub(crate) fn name(&self) -> &str {
        self.service.name()
    }

    /// The subscriber's name, for a subscription (whose [`name`](Self::name) is the
    /// publisher's); `""` for a service.
    pub(crate) fn subscriber(&self) -> &str {
        self.events.as_ref().map_or("", |e| e.subscriber.as_str())
    }

    /// This server's consumer in the service's group.
    pub(crate) fn consumer(&self) -> Consumer<'_> {
        Consumer {
            stream: &self.target.stream,
            group: &self.target.group,
            name: &self.consumer,
        }
    }

    /// A completion of one of this service's entries: the one place one is built.
    pub(crate) fn completion(
        &self,
        entry_id: String,
        method: String,
        rpc_id: String,
        finish: Finish,
    ) -> Completion {
        Completion {
            target: Arc::clone(&self.target),
            entry_id,
            method,
            rpc_id,
            finish,
        }
    }

    /// Whether handlers of `method` may be cancelled when their caller gave up.
    pub(crate) fn cancellable(&self, method: &str) -> bool {
        !self.never_cancel.contains(method)
    }

    /// Whether requests of `method` run exactly once.
    pub(crate) fn runs_exactly_once(&self, method: &str) -> bool {
        self.exactly_once.covers(method)
    }

    /// Marks `entries` as held by this server, dropping any it already holds.
    pub(crate) fn hold(&self, entries: Vec<StreamEntry>) -> Vec<StreamEntry> {
        let mut held = self.held.lock().unwrap_or_else(PoisonError::into_inner);
        entries
            .into_iter()
            .filter(|e| held.insert(e.id.clone()))
            .collect()
    }

    /// Gives up an entry taken with [`hold`](Self::hold).
    pub(crate) fn release(&self, id: &str) {
        self.held
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .remove(id);
        self.lost
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .remove(id);
    }

    /// Records a lease renewal: `owned` are still this server's; the other `renewed` ids that
    /// are still held were taken over by another consumer (those no longer held were just
    /// finished and acknowledged). Returns how many were lost.
    pub(crate) fn renewed(&self, renewed: &[String], owned: &[String]) -> usize {
        *self
            .last_renewal
            .lock()
            .unwrap_or_else(PoisonError::into_inner) = Instant::now();
        let held = self.held.lock().unwrap_or_else(PoisonError::into_inner);
        let mut lost = self.lost.lock().unwrap_or_else(PoisonError::into_inner);
        let before = lost.len();
        lost.extend(
            renewed
                .iter()
                .filter(|id| held.contains(*id) && !owned.contains(id))
                .cloned(),
        );
        lost.len() - before
    }

    /// How long ago the leases were last renewed. Longer than the claim idle time means
    /// this process was paused or starved: another server may have reclaimed its entries.
    pub(crate) fn since_renewal(&self) -> Duration {
        self.last_renewal
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .elapsed()
    }

    /// Marks `id` as taken over by another consumer.
    pub(crate) fn mark_lost(&self, id: &str) {
        self.lost
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .insert(id.to_owned());
    }

    /// Whether `id` was found taken over by another consumer.
    pub(crate) fn is_lost(&self, id: &str) -> bool {
        self.lost
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .contains(id)
    }

    /// The ids of every held entry (for lease renewal), sorted so the order is stable.
    pub(crate) fn held_ids(&self) -> Vec<String> {
        let mut ids: Vec<String> = self
            .held
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .iter()
            .cloned()
            .collect();
        ids.sort_unstable();
        ids
    }

    /// Remembers that the group delivered everything up to `id` (the newest id seen wins).
    pub(crate) fn note_delivered(&self, id: &str) {
        let Some(id) = StreamId::parse(id) else {
            return;
        };
        let mut delivered = self
            .delivered
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        if delivered.is_none_or(|seen| id > seen) {
            *delivered = Some(id);
        }
    }

    /// The newest entry this server knows its group delivered, if any.
    pub(crate) fn delivered(&self) -> Option<StreamId> {
        *self
            .delivered
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
    }
}

/// An entry held by this server, with its place among the service's unfinished entries;
/// both are given back however the entry's task ends.
pub(crate) struct Held {
    rt: Arc<ServiceRuntime>,
    id: String,
    _unfinished: OwnedSemaphorePermit,
}

impl Held {
    pub(crate) fn new(
        rt: &Arc<ServiceRuntime>,
        id: &str,
        unfinished: OwnedSemaphorePermit,
    ) -> Self {
        Self {
            rt: Arc::clone(rt),
            id: id.to_owned(),
            _unfinished: unfinished,
        }
    }
}

impl Drop for Held {
    fn drop(&mut self) {
        self.rt.release(&self.id);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(id: &str) -> StreamEntry {
        StreamEntry {
            id: id.to_owned(),
            fields: Vec::new(),
            delivery_count: None,
        }
    }

    fn runtime(concurrency: usize, exactly_once: ExactlyOnce) -> ServiceRuntime {
        let config = ServerConfig::new("p").instance_id("i");
        let service = Service::builder("svc").build().unwrap();
        let mut options = ServiceOptions::new()
            .concurrency(concurrency)
            .never_cancel("slow");
        options.exactly_once = exactly_once;
        ServiceRuntime::new(&config, Arc::new(service), &options, 0)
    }

    #[test]
    fn names_and_bounds_follow_the_config() {
        let rt = runtime(1, ExactlyOnce::Off);
        assert_eq!(rt.target.stream, "p:cmds:svc");
        assert_eq!(rt.target.group, "svc");
        assert_eq!(rt.consumer, "svc:i");
        assert_eq!(rt.dead_letters, "p:dlq:svc");
        assert_eq!(rt.read_count, 16);
        assert_eq!(rt.unfinished.available_permits(), 1 + 4 * 16);
        let busy = runtime(1000, ExactlyOnce::Off);
        assert_eq!(busy.read_count, 256);
    }

    #[test]
    fn holding_drops_entries_already_held() {
        let rt = runtime(1, ExactlyOnce::Off);
        assert_eq!(rt.hold(vec![entry("2-0"), entry("1-0")]).len(), 2);
        let again = rt.hold(vec![entry("1-0"), entry("3-0")]);
        assert_eq!(again, vec![entry("3-0")]);
        assert_eq!(rt.held_ids(), vec!["1-0", "2-0", "3-0"]);
        rt.release("2-0");
        assert_eq!(rt.held_ids(), vec!["1-0", "3-0"]);
    }

    #[test]
    fn handlers_are_cancellable_unless_their_method_opted_out() {
        let rt = runtime(1, ExactlyOnce::Off);
        assert!(rt.cancellable("add") && !rt.cancellable("slow"));
    }

    #[test]
    fn entries_another_consumer_took_are_lost_until_released() {
        let rt = runtime(1, ExactlyOnce::Off);
        rt.hold(vec![entry("1-0"), entry("2-0")]);
        let mut renewed = rt.held_ids();
        renewed.push("9-0".to_owned()); // finished meanwhile: not held, not lost
        assert_eq!(rt.renewed(&renewed, &["1-0".to_owned()]), 1);
        assert!(!rt.is_lost("9-0"));
        assert!(!rt.is_lost("1-0") && rt.is_lost("2-0"));
        assert!(rt.since_renewal() < Duration::from_secs(1));
        rt.release("2-0");
        assert!(!rt.is_lost("2-0"));
    }

    #[test]
    fn exactly_once_covers_what_was_chosen() {
        assert!(!runtime(1, ExactlyOnce::Off).runs_exactly_once("add"));
        assert!(runtime(1, ExactlyOnce::AllMethods).runs_exactly_once("add"));
        let some = runtime(1, ExactlyOnce::Methods(["add".to_owned()].into()));
        assert!(some.runs_exactly_once("add") && !some.runs_exactly_once("divide"));
    }
}
