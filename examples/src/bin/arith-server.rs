//! Serves `arith` and `notifications` over Redis until SIGTERM or SIGINT.
//!
//! Prints `READY` on stdout once serving and `{"pinged":"<tag>"}` for each ping; on
//! SIGTERM/SIGINT stops gracefully, writes `HANDLED:<n>` to stderr and exits 0.
#![allow(clippy::print_stdout, clippy::print_stderr)]

use std::io::Write as _;
use std::process::ExitCode;
use std::time::Duration;

use clamator_examples::arith::{self, Counter};
use clamator_redis::{RedisServer, ServerConfig, ServiceOptions};
use clap::Parser;

#[derive(Parser, Debug)]
#[command(about = "Serve the arith and notifications services over Redis Streams")]
struct Args {
    #[command(flatten)]
    redis: clamator_redis::RedisArgs,
    #[command(flatten)]
    observability: clamator_examples::observability::ObservabilityArgs,
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
}

#[tokio::main]
async fn main() -> ExitCode {
    let args = Args::parse();
    let _telemetry =
        match clamator_examples::observability::init("arith-server", "warn", &args.observability) {
            Ok(t) => t,
            Err(e) => {
                eprintln!("arith-server: {e}");
                return ExitCode::from(2);
            }
        };
    match run(args).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("arith-server: {e}");
            ExitCode::FAILURE
        }
    }
}

async fn run(args: Args) -> Result<(), Box<dyn std::error::Error>> {
    let handled = Counter::default();
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
    if let Some(id) = args.instance_id {
        config = config.instance_id(id);
    }
    let mut options = ServiceOptions::new().concurrency(args.concurrency);
    if args.exactly_once {
        options = options.exactly_once(true);
    }
    let server = RedisServer::builder(config)
        .service_with(arith, options.clone())
        .service_with(notifications, options)
        .start()
        .await?;
    let until_signal = server.run_until_signal()?;
    {
        let mut out = std::io::stdout().lock();
        writeln!(out, "READY")?;
        out.flush()?;
    }
    until_signal.await;
    eprintln!("HANDLED:{}", handled.get());
    Ok(())
}
