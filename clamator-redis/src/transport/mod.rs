//! The client side over Redis, [`RedisTransport`]: requests go to `<prefix>:cmds:<service>`
//! with `XADD`, replies come back on this transport's own stream,
//! `<prefix>:replies:<instance id>`, read from `0` by one reader on a dedicated connection
//! and matched to waiting calls by id ([`replies`]).

mod health;
mod replies;

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use clamator_protocol::{BoxFuture, CallOptions, ClientTransport, Error, Response, RpcId};
use tokio::sync::oneshot;
use tokio::task::JoinHandle;
use tokio_util::sync::{CancellationToken, DropGuard};

use self::health::Health;
use self::replies::{lock, reply_loop, Pending, PendingGuard};
use crate::config::TransportConfig;
use crate::connection::{is_connection_error, Connector, RedisConn};
use crate::keys;
use crate::served::Served;
use crate::stream::commands::{self, RequestFields};

struct Inner {
    config: TransportConfig,
    manager: RedisConn,
    reply_stream: String,
    pending: Pending,
    stopped: AtomicBool,
    reader: Mutex<Option<JoinHandle<()>>>,
    stop: CancellationToken,
    health: Arc<Health>,
    /// Services seen served, for [`TransportConfig::fail_fast_without_server`].
    served: Served,
    /// Each partitioned service's number of partitions, and whose turn is next.
    partitions: std::collections::BTreeMap<String, (usize, std::sync::atomic::AtomicUsize)>,
    /// Stops the reply reader when the last handle goes away without `stop`.
    _reader_guard: DropGuard,
}

impl Inner {
    /// The partition a request to `service` goes to: 0 unless the service is partitioned;
    /// then the same one for the same idempotency key (a retry queues behind its first
    /// attempt), else the next in turn.
    fn partition_for(&self, service: &str, idempotency_key: Option<&str>) -> usize {
        self.partitions
            .get(service)
            .map_or(0, |(n, turn)| partition_of(*n, idempotency_key, turn))
    }
}

/// Partition 0 of 1; of `n`, the one `key` hashes to, else the next of `turn`.
fn partition_of(n: usize, key: Option<&str>, turn: &std::sync::atomic::AtomicUsize) -> usize {
    if n <= 1 {
        return 0;
    }
    match key {
        Some(key) => {
            // FNV-1a: stable across processes and releases, unlike the std hasher.
            let mut h: u64 = 0xcbf2_9ce4_8422_2325;
            for b in key.bytes() {
                h = (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3);
            }
            (h % n as u64) as usize
        }
        None => turn.fetch_add(1, Ordering::Relaxed) % n,
    }
}

/// The client side of clamator over Redis: a connected [`ClientTransport`] with its own
/// reply stream and reply reader. Cheap to clone (clones share one connection and one
/// reader). Hand it to a generated client (`ArithClient::new(transport)`) or to
/// [`Client::new`](clamator_protocol::Client::new), which take its
/// [default timeout](TransportConfig::default_timeout); [`stop`](Self::stop) it when done.
///
/// ```no_run
/// # async fn run() -> Result<(), clamator_protocol::Error> {
/// use clamator_protocol::Client;
/// use clamator_redis::{RedisTransport, TransportConfig};
/// use serde_json::{json, Value};
///
/// let transport = RedisTransport::connect(TransportConfig::new("app")).await?;
/// let client = Client::new(transport.clone());
/// let sum: Value = client.call("arith", "add", &json!({"a": 2, "b": 3})).await?;
/// transport.stop().await;
/// # Ok(()) }
/// ```
#[derive(Clone)]
pub struct RedisTransport {
    inner: Arc<Inner>,
}

impl Inner {
    async fn shutdown(&self) {
        if self.stopped.swap(true, Ordering::SeqCst) {
            return;
        }
        self.stop.cancel();
        let reader = self
            .reader
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .take();
        if let Some(reader) = reader {
            let _ = reader.await;
        }
        {
            // Dropping the senders fails every waiting call.
            let mut table = lock(&self.pending);
            table.closed = true;
            table.calls.clear();
        }
        let deleted = commands::delete(&mut self.manager.clone(), &self.reply_stream).await;
        if let Err(e) = deleted {
            tracing::debug!(error = %e, "could not delete the reply stream at stop");
        }
    }
}

impl std::fmt::Debug for RedisTransport {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RedisTransport")
            .field("reply_stream", &self.inner.reply_stream)
            .finish_non_exhaustive()
    }
}

impl RedisTransport {
    /// Connects, checks the [expected contracts](TransportConfig::expect_contract), and
    /// starts the reply reader. Fails when Redis is unreachable, on contract drift with
    /// [`refuse_contract_drift`](TransportConfig::refuse_contract_drift), and before
    /// connecting on [partitions](TransportConfig::partitions) outside 1 to
    /// [`MAX_PARTITIONS`](crate::MAX_PARTITIONS).
    pub async fn connect(config: TransportConfig) -> Result<Self, Error> {
        for (service, &n) in &config.partitions {
            crate::server::check_partitions(service, n)?;
        }
        let connector = Connector::new(&config.connection)?;
        let manager = connector.shared().await?;
        check_contracts(&manager, &config).await?;
        let reply_stream = keys::reply_stream(&config.key_prefix, &config.instance_id);
        let pending: Pending = Arc::default();
        let stop = CancellationToken::new();
        let health = Arc::new(Health::default());
        let reader = tokio::spawn(reply_loop(
            connector,
            manager.clone(),
            reply_stream.clone(),
            Arc::clone(&pending),
            stop.clone(),
            Arc::clone(&health),
        ));
        tokio::spawn(keep_alive(
            manager.clone(),
            reply_stream.clone(),
            config.reply_stream_ttl,
            stop.clone(),
        ));
        Ok(Self {
            inner: Arc::new(Inner {
                partitions: config
                    .partitions
                    .iter()
                    .map(|(service, &n)| {
                        (service.clone(), (n, std::sync::atomic::AtomicUsize::new(0)))
                    })
                    .collect(),
                config,
                manager,
                reply_stream,
                pending,
                stopped: AtomicBool::new(false),
                reader: Mutex::new(Some(reader)),
                health,
                served: Served::default(),
                _reader_guard: stop.clone().drop_guard(),
                stop,
            }),
        })
    }

    /// This client's instance id.
    pub fn instance_id(&self) -> &str {
        &self.inner.config.instance_id
    }

    /// The stream replies arrive on.
    pub fn reply_stream(&self) -> &str {
        &self.inner.reply_stream
    }

    /// Stops: ends the reply reader, fails calls still waiting with "transport stopped", and
    /// deletes the reply stream. Idempotent; runs to the end even if this future is dropped.
    pub async fn stop(&self) {
        let inner = Arc::clone(&self.inner);
        let _ = tokio::spawn(async move { inner.shutdown().await }).await;
    }

    /// Adds a request (with this transport's reply stream) or a notification to the
    /// service's command stream.
    async fn add(
        &self,
        service: &str,
        envelope: &str,
        options: Option<&CallOptions>,
    ) -> Result<(), Error> {
        let trace = crate::trace_context::current();
        let fields = RequestFields {
            traceparent: trace.as_ref().map(|(parent, _)| parent.as_str()),
            tracestate: trace.as_ref().and_then(|(_, state)| state.as_deref()),
            envelope,
            reply_to: options.map(|_| self.inner.reply_stream.as_str()),
            deadline: options
                .and_then(|o| o.timeout)
                .and_then(crate::deadline::from_now),
            idempotency_key: options.and_then(|o| o.idempotency_key.as_deref()),
        };
        let stream = keys::command_stream_partition(
            &self.inner.config.key_prefix,
            service,
            self.inner.partition_for(service, fields.idempotency_key),
        );
        if self.inner.health.is_suspect() {
            self.revive_shared().await?;
        }
        if self.inner.config.fail_fast_without_server {
            self.inner
                .served
                .check(&self.inner.manager, &stream, service)
                .await?;
        }
        let added = crate::connection::through_topology_changes(|| {
            let mut conn = self.inner.manager.clone();
            let stream = &stream;
            async move { commands::add_request(&mut conn, stream, fields).await }
        })
        .await;
        self.settle(added, "xadd failed")
    }

    /// What an XADD's outcome says of Redis's health, and the outcome as our result.
    fn settle<T>(&self, sent: redis::RedisResult<T>, what: &str) -> Result<T, Error> {
        match sent {
            Ok(v) => {
                self.inner.health.up();
                self.inner.health.shared_works();
                Ok(v)
            }
            Err(e) => {
                if is_connection_error(&e) {
                    self.inner.health.down();
                }
                Err(crate::connection::redis_failure(what, e))
            }
        }
    }

    /// Publishes event `event` of service `publisher` with `payload` to
    /// `<prefix>:events:<publisher>`, for every subscribing service (see [`crate::events`]).
    /// Resolves to the event's entry id once Redis has it. Generated publishers validate the
    /// payload against the event's schema first; this raw form does not.
    pub async fn publish_event<P>(
        &self,
        publisher: &str,
        event: &str,
        payload: &P,
    ) -> Result<String, Error>
    where
        P: serde::Serialize + ?Sized,
    {
        let envelope = crate::events::event_envelope(publisher, event, payload)?;
        // Stopped, Redis unreachable past `unreachable_limit`, or too large: as for calls.
        self.check_running(&envelope)?;
        if self.inner.health.is_suspect() {
            self.revive_shared().await?;
        }
        let config = &self.inner.config;
        let added = crate::events::add(
            &self.inner.manager,
            &config.key_prefix,
            config.event_stream_maxlen,
            publisher,
            &envelope,
        )
        .await;
        self.settle(added, "event XADD failed")
    }

    /// Moves subscriber group `subscriber` of `publisher`'s events back (or forward) to
    /// `to`: it is delivered every event published from then on again, for a replay. Events
    /// it has pending stay pending. Fails when the group does not exist.
    pub async fn rewind_subscriber(
        &self,
        publisher: &str,
        subscriber: &str,
        to: std::time::SystemTime,
    ) -> Result<(), Error> {
        crate::events::set_subscriber(
            &mut self.inner.manager.clone(),
            &self.inner.config.key_prefix,
            publisher,
            subscriber,
            crate::StartAt::Time(to),
        )
        .await
    }

    /// Makes sure the shared connection works before a request goes out on it, after a
    /// connection broke somewhere in this transport. On a stale connection the first ping
    /// fails and redis-rs starts reconnecting; if that attempt already failed while Redis was
    /// away, the second ping gets its error and starts another; the last waits for the new
    /// connection.
    async fn revive_shared(&self) -> Result<(), Error> {
        let mut conn = self.inner.manager.clone();
        let mut failure = None;
        for _ in 0..3 {
            match redis::cmd("PING").query_async::<()>(&mut conn).await {
                Err(e) if is_connection_error(&e) => failure = Some(e),
                // Any answer from Redis, even an error, shows the connection carries commands.
                _ => {
                    self.inner.health.shared_works();
                    return Ok(());
                }
            }
        }
        self.inner.health.down();
        Err(match failure {
            Some(e) => crate::connection::redis_failure("redis unreachable", e),
            None => Error::transport("redis unreachable"),
        })
    }

    fn check_running(&self, envelope: &str) -> Result<(), Error> {
        if self.inner.stopped.load(Ordering::SeqCst) {
            return Err(Error::transport("transport has been stopped"));
        }
        if let Some(down) = self.inner.health.down_for() {
            if down > self.inner.config.unreachable_limit {
                // Fail fast: calls would only wait out their timeouts.
                return Err(Error::transport(format!(
                    "Redis unreachable for {:.1} s (limit {:?}); failing fast until it is back",
                    down.as_secs_f64(),
                    self.inner.config.unreachable_limit
                )));
            }
        }
        crate::stream::check_size(envelope, self.inner.config.max_envelope_bytes)
    }
}

impl ClientTransport for RedisTransport {
    fn send<'a>(
        &'a self,
        service: &'a str,
        id: &'a RpcId,
        envelope: String,
        options: &'a CallOptions,
    ) -> BoxFuture<'a, Result<Response, Error>> {
        Box::pin(async move {
            self.check_running(&envelope)?;
            let key = id.key();
            let (tx, rx) = oneshot::channel();
            {
                let mut table = lock(&self.inner.pending);
                if table.closed {
                    return Err(Error::transport("transport has been stopped"));
                }
                table.calls.insert(key.clone(), tx);
            }
            let _guard = PendingGuard {
                pending: &self.inner.pending,
                key,
            };
            self.add(service, &envelope, Some(options)).await?;
            rx.await
                .map_err(|_| Error::transport("transport stopped"))?
        })
    }

    fn notify<'a>(
        &'a self,
        service: &'a str,
        envelope: String,
    ) -> BoxFuture<'a, Result<(), Error>> {
        Box::pin(async move {
            self.check_running(&envelope)?;
            self.add(service, &envelope, None).await
        })
    }

    fn default_timeout(&self) -> Option<Duration> {
        Some(self.inner.config.default_timeout)
    }
}

/// Compares each expected contract with the published one: drift is a warning, or an
/// error with [`refuse_contract_drift`](TransportConfig::refuse_contract_drift).
async fn check_contracts(manager: &RedisConn, config: &TransportConfig) -> Result<(), Error> {
    for contract in &config.expected_contracts {
        let drift = match crate::contracts::drift(manager, &config.key_prefix, contract).await {
            Ok(drift) => drift,
            // Only a refusing client must know; for the others the check is advisory.
            Err(e) if !config.refuse_contract_drift => {
                tracing::warn!(service = contract.service, error = %e, "cannot check this client's contract against the published one");
                continue;
            }
            Err(e) => return Err(e),
        };
        if drift.is_empty() {
            continue;
        }
        let listed = drift.join("; ");
        if config.refuse_contract_drift {
            return Err(Error::protocol(format!(
                "the {} contract this client was generated from differs from the one its servers \
                 published: {listed}",
                contract.service
            )));
        }
        tracing::warn!(service = contract.service, drift = %listed, "this client's contract differs from the one its servers published");
    }
    Ok(())
}

/// Refreshes the reply stream's time to live every third of it while the client runs, so
/// the stream of a client that vanished without `stop` expires on its own.
async fn keep_alive(manager: RedisConn, key: String, ttl: Duration, stop: CancellationToken) {
    loop {
        // PEXPIRE does nothing to a key that does not exist yet; servers set the TTL when
        // they create the stream with a reply.
        let refreshed = commands::expire(&mut manager.clone(), &key, ttl).await;
        if let Err(e) = refreshed {
            tracing::debug!(error = %e, "could not refresh the reply stream's TTL");
        }
        tokio::select! {
            () = stop.cancelled() => return,
            () = tokio::time::sleep(ttl / 3) => {}
        }
    }
}

/// What generated `<Service>Events` publishers publish through: the same as
/// [`RedisTransport::publish_event`], the payload already checked against its schema.
impl clamator_protocol::EventPublisher for RedisTransport {
    fn publish<'a>(
        &'a self,
        publisher: &'a str,
        event: &'a str,
        payload: serde_json::Value,
    ) -> BoxFuture<'a, Result<String, Error>> {
        Box::pin(async move { self.publish_event(publisher, event, &payload).await })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn requests_take_turns_over_partitions_and_a_key_keeps_its_own() {
        let turn = std::sync::atomic::AtomicUsize::new(0);
        assert_eq!(partition_of(1, None, &turn), 0);
        assert_eq!(partition_of(1, Some("k"), &turn), 0);
        let turns: Vec<usize> = (0..8).map(|_| partition_of(4, None, &turn)).collect();
        assert_eq!(turns, [0, 1, 2, 3, 0, 1, 2, 3]);
        let keyed = partition_of(4, Some("order-42"), &turn);
        assert!((0..8).all(|_| partition_of(4, Some("order-42"), &turn) == keyed));
        let spread: std::collections::BTreeSet<usize> = (0..64)
            .map(|i| partition_of(4, Some(&format!("order-{i}")), &turn))
            .collect();
        assert_eq!(spread.len(), 4, "keys land on every partition");
    }

    #[tokio::test]
    async fn partitions_outside_the_limit_are_refused_before_connecting() {
        // Nothing listens on port 1: the refusal comes before any connection is tried.
        let base = || TransportConfig::new("p").redis_url("redis://127.0.0.1:1");
        for n in [0, crate::MAX_PARTITIONS + 1] {
            let e = RedisTransport::connect(base().partitions("orders", n))
                .await
                .unwrap_err()
                .to_string();
            assert!(
                e.contains("partitions of service \"orders\" must be 1 to 256"),
                "{e}"
            );
        }
    }
}
