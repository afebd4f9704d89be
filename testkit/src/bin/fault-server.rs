//! The test kit's server: the example `arith-server` (`arith` and `notifications` over Redis,
//! `READY` on stdout once serving, `{"pinged":"<tag>"}` per ping, `HANDLED:<n>` on stderr
//! after a graceful stop at SIGTERM or SIGINT) plus what only tests may want:
//!
//! * `--faulty`: also serve `faulty.badResult` (a result that breaks its schema, for -32603
//!   "Result validation failed") and `faulty.crash` (aborts the process: a poison request);
//! * `--fault-abort-after-reply-once MARKER`: abort once between writing a reply and
//!   acknowledging its request (clamator-redis's `fault-injection` feature), leaving MARKER
//!   behind so that a restarted server does not abort again;
//! * `--subscribe SUBSCRIBER --event-log FILE`: also subscribe, as SUBSCRIBER (from the
//!   oldest event), to the events of publisher `orders`: each run of its `orderPlaced`
//!   handler (payload `{"n": <int>, "sleepMs": <int>}`) appends `<instance id> <n>` to FILE
//!   as it starts, then sleeps `sleepMs`; with `--exactly-once` the subscription is exactly
//!   once, and `--concurrency` applies to it too;
//! * `--fault-abort-before-event-ack-once MARKER`: abort once after a subscriber's handler
//!   succeeded and before its event is acknowledged, as the reply fault does for calls.
//!
//! The crash tests and the interop suite drive it; nothing a user copies should.
#![allow(clippy::print_stdout, clippy::print_stderr)]

use std::io::Write as _;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use clamator_examples::arith::{self, Counter};
use clamator_protocol::{RpcError, Service};
use clamator_redis::{RedisServer, ServerConfig, ServiceOptions, StartAt, SubscriptionOptions};
use clap::Parser;

#[derive(Parser, Debug)]
#[command(about = "The arith server with the fault-injection flags of the tests")]
struct Args {
    #[command(flatten)]
    redis: clamator_redis::RedisArgs,
    /// Key prefix shared with the clients.
    #[arg(long)]
    key_prefix: String,
    /// Instance id (default: a random UUID).
    #[arg(long)]
    instance_id: Option<String>,
    /// Reclaim entries pending longer than this, in milliseconds.
    #[arg(long, default_value_t = 60_000)]
    claim_idle_ms: u64,
    /// Requests of one service processed at once (1 keeps stream order).
    #[arg(long, default_value_t = 1)]
    concurrency: usize,
    /// How long to wait for in-flight handlers at stop, in milliseconds.
    #[arg(long, default_value_t = 5_000)]
    shutdown_grace_ms: u64,
    /// Dead-letter a request delivered more often than this.
    #[arg(long, default_value_t = 5)]
    max_deliveries: u64,
    /// Run every request exactly once (idempotency records in Redis).
    #[arg(long)]
    exactly_once: bool,
    /// Also serve `faulty.badResult` (its result breaks its schema) and `faulty.crash`
    /// (aborts the process).
    #[arg(long)]
    faulty: bool,
    /// Abort once between a reply and its ack; the marker file says it happened.
    #[arg(long, value_name = "MARKER")]
    fault_abort_after_reply_once: Option<std::path::PathBuf>,
    /// Also subscribe, as this subscriber, to the events of `orders` (see --event-log).
    #[arg(long, value_name = "SUBSCRIBER", requires = "event_log")]
    subscribe: Option<String>,
    /// Where each run of the subscriber's handler appends `<instance id> <n>` as it starts.
    #[arg(long, value_name = "FILE", requires = "subscribe")]
    event_log: Option<PathBuf>,
    /// Abort once between an event's handler and its ack; the marker file says it happened.
    #[arg(long, value_name = "MARKER")]
    fault_abort_before_event_ack_once: Option<PathBuf>,
}

#[tokio::main]
async fn main() -> ExitCode {
    clamator_examples::init_tracing("warn");
    match run(Args::parse()).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("fault-server: {e}");
            ExitCode::FAILURE
        }
    }
}

async fn run(args: Args) -> Result<(), Box<dyn std::error::Error>> {
    let handled = Counter::default();
    // `faulty` counts its handler runs apart (the examples' counter only counts theirs);
    // HANDLED reports the sum, as the Python server's single counter does.
    let faulty_handled = Arc::new(AtomicU64::new(0));
    let arith = arith::arith_service(handled.clone())?;
    let notifications = arith::notifications_service(handled.clone(), |tag| {
        let line = serde_json::json!({ "pinged": tag });
        let mut out = std::io::stdout().lock();
        let _ = writeln!(out, "{line}");
        let _ = out.flush();
    })?;
    let mut config = ServerConfig::new(args.key_prefix)
        .redis(args.redis.target()?)
        .claim_idle(Duration::from_millis(args.claim_idle_ms))
        .shutdown_grace(Duration::from_millis(args.shutdown_grace_ms))
        .max_deliveries(args.max_deliveries);
    if let Some(marker) = args.fault_abort_after_reply_once {
        config = config.fault_abort_after_reply_once(marker);
    }
    if let Some(marker) = args.fault_abort_before_event_ack_once {
        config = config.fault_abort_before_event_ack_once(marker);
    }
    let instance = args
        .instance_id
        .unwrap_or_else(|| uuid::Uuid::new_v4().to_string());
    config = config.instance_id(instance.clone());
    // The subscriber's handler runs count in HANDLED too.
    let events_handled = Arc::new(AtomicU64::new(0));
    let mut options = ServiceOptions::new().concurrency(args.concurrency);
    if args.exactly_once {
        options = options.exactly_once(true);
    }
    let mut builder = RedisServer::builder(config)
        .service_with(arith, options.clone())
        .service_with(notifications, options);
    if args.faulty {
        builder = builder.service(clamator_testkit::faulty::faulty_service(Arc::clone(
            &faulty_handled,
        ))?);
    }
    if let (Some(subscriber), Some(log)) = (args.subscribe, args.event_log) {
        let orders = orders_subscriber(instance, log, Arc::clone(&events_handled))?;
        let subscription = SubscriptionOptions::new()
            .start_at(StartAt::Oldest)
            .concurrency(args.concurrency)
            .exactly_once(args.exactly_once);
        builder = builder.subscribe_with(&subscriber, orders, subscription);
    }
    let server = builder.start().await?;
    let until_signal = server.run_until_signal()?;
    {
        let mut out = std::io::stdout().lock();
        writeln!(out, "READY")?;
        out.flush()?;
    }
    until_signal.await;
    let runs = handled.get()
        + faulty_handled.load(Ordering::Relaxed)
        + events_handled.load(Ordering::Relaxed);
    eprintln!("HANDLED:{runs}");
    Ok(())
}

/// The `orders` events as the `--subscribe` mode takes them: `orderPlaced` appends
/// `<instance> <n>` to `log` as each run starts (before anything can crash it), then sleeps
/// the payload's `sleepMs`.
fn orders_subscriber(
    instance: String,
    log: PathBuf,
    runs: Arc<AtomicU64>,
) -> Result<Service, clamator_protocol::Error> {
    let (instance, log) = (Arc::new(instance), Arc::new(log));
    Service::builder("orders")
        .notification("orderPlaced", move |p: serde_json::Value| {
            let (instance, log, runs) =
                (Arc::clone(&instance), Arc::clone(&log), Arc::clone(&runs));
            async move {
                runs.fetch_add(1, Ordering::Relaxed);
                let n = p["n"].as_u64().unwrap_or(u64::MAX);
                let appended = std::fs::OpenOptions::new()
                    .create(true)
                    .append(true)
                    .open(log.as_path())
                    .and_then(|mut f| f.write_all(format!("{instance} {n}\n").as_bytes()));
                if let Err(e) = appended {
                    return Err(RpcError::new(-32000, format!("event log: {e}")));
                }
                let sleep = p["sleepMs"].as_u64().unwrap_or(0);
                tokio::time::sleep(Duration::from_millis(sleep)).await;
                Ok(())
            }
        })
        .build()
}
