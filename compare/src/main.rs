//! `clamator-compare`: the request/reply systems a Rust team could pick instead of RPC over
//! Redis Streams, measured the way `clamator-bench` measures clamator-rs, so that the two
//! print comparable figures.
//!
//! ```text
//! clamator-compare --system nats --concurrency 64 --server-concurrency 64 --calls 20000
//! ```
//!
//! Every run starts its own broker on free loopback ports (a private `nats-server`, or a
//! private RabbitMQ node with its own Erlang port mapper), then a server process and a client
//! process of this binary; it never touches a broker on a standard port. Each call is
//! `{"a":…,"b":…}` → `{"sum":…}`, parsed and written as JSON on both sides, as clamator-rs's
//! `arith.add` is:
//!
//! - `grpc`: tonic unary calls over one HTTP/2 connection, the messages in a JSON codec;
//! - `nats`: core NATS request/reply (async-nats), the server in a queue group;
//! - `amqp`: RabbitMQ RPC (lapin) with direct reply-to, the request queue not durable.
//!
//! It prints one JSON line with the fields of `clamator-bench`'s: calls/s, latency
//! percentiles, and the CPU seconds of the client, the server and the broker (its whole
//! process tree) over the timed part, also per 10,000 calls. Built with `--features mimalloc`,
//! the server and client allocate with mimalloc, as `clamator-bench` can.

#[cfg(feature = "mimalloc")]
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

mod amqp;
mod broker;
mod grpc;
mod nats;
mod proc;

use std::io::{BufRead, BufReader, Write};
use std::process::{Command, ExitCode, Stdio};
use std::time::{Duration, Instant};

use clap::{Parser, Subcommand, ValueEnum};
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};

type BoxResult<T> = Result<T, Box<dyn std::error::Error + Send + Sync>>;

#[derive(Parser, Debug)]
#[command(about = "Measure gRPC, NATS or RabbitMQ request/reply like clamator-bench")]
struct Args {
    #[command(subcommand)]
    role: Option<Role>,
    #[command(flatten)]
    bench: BenchArgs,
}

#[derive(clap::Args, Debug, Clone)]
struct BenchArgs {
    /// The system to measure.
    #[arg(long, value_enum, global = true, default_value = "nats")]
    system: System,
    /// Callers in flight at once.
    #[arg(long, default_value_t = 1, global = true)]
    concurrency: usize,
    /// Calls in all.
    #[arg(long, default_value_t = 10_000, global = true)]
    calls: usize,
    /// Requests the server handles at once.
    #[arg(long, default_value_t = 1, global = true)]
    server_concurrency: usize,
    /// Tokio worker threads of the server and client processes (0: a current-thread
    /// runtime).
    #[arg(long, default_value_t = 2, global = true)]
    worker_threads: usize,
    /// Where the server listens or the broker is (set by the orchestrator).
    #[arg(long, global = true, hide = true)]
    url: Option<String>,
}

#[derive(Subcommand, Debug)]
enum Role {
    /// Serve until stdin closes (run by the orchestrator).
    Serve,
    /// Make the calls and print the figures (run by the orchestrator).
    Call,
}

#[derive(ValueEnum, Debug, Clone, Copy, PartialEq, Eq)]
enum System {
    Grpc,
    Nats,
    Amqp,
}

impl System {
    fn name(self) -> &'static str {
        match self {
            System::Grpc => "grpc",
            System::Nats => "nats",
            System::Amqp => "amqp",
        }
    }
}

/// What every system's server takes.
#[derive(Debug, Serialize, Deserialize)]
pub struct AddParams {
    a: f64,
    b: f64,
}

/// What every system's server answers.
#[derive(Debug, Serialize, Deserialize)]
pub struct AddResult {
    sum: f64,
}

/// The handler of every system: JSON in, JSON out, as `arith.add`.
fn add_json(request: &[u8]) -> Vec<u8> {
    match serde_json::from_slice::<AddParams>(request) {
        Ok(p) => serde_json::to_vec(&AddResult { sum: p.a + p.b }).unwrap_or_default(),
        Err(e) => serde_json::to_vec(&json!({"error": e.to_string()})).unwrap_or_default(),
    }
}

fn main() -> ExitCode {
    let args = Args::parse();
    let threads = args.bench.worker_threads;
    let outcome = match args.role {
        None => orchestrate(&args.bench),
        Some(role) => if threads == 0 {
            tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
        } else {
            tokio::runtime::Builder::new_multi_thread()
                .worker_threads(threads)
                .enable_all()
                .build()
        }
        .map_err(Into::into)
        .and_then(|rt| {
            rt.block_on(async {
                match role {
                    Role::Serve => serve(&args.bench).await,
                    Role::Call => call(&args.bench).await,
                }
            })
        }),
    };
    match outcome {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("clamator-compare: {e}");
            ExitCode::FAILURE
        }
    }
}

/// Starts the broker, the server process, then the client process; prints one line.
fn orchestrate(args: &BenchArgs) -> BoxResult<()> {
    let broker = broker::Broker::start(args.system)?;
    let exe = std::env::current_exe()?;
    let common = |role: &str| {
        let mut cmd = Command::new(&exe);
        cmd.arg(role)
            .args(["--system", args.system.name()])
            .args(["--url", broker.url()])
            .args(["--concurrency", &args.concurrency.to_string()])
            .args(["--calls", &args.calls.to_string()])
            .args(["--server-concurrency", &args.server_concurrency.to_string()])
            .args(["--worker-threads", &args.worker_threads.to_string()]);
        cmd
    };
    let mut server = common("serve")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()?;
    let mut ready = String::new();
    if let Some(out) = server.stdout.take() {
        BufReader::new(out).read_line(&mut ready)?;
    }
    if ready.trim() != "READY" {
        let _ = server.kill();
        return Err("the server process did not start".into());
    }
    let broker_before = broker.cpu_seconds();
    let server_before = proc::cpu_seconds(server.id());
    let client = common("call").stdout(Stdio::piped()).output()?;
    let server_cpu = proc::cpu_seconds(server.id()) - server_before;
    let broker_cpu = broker.cpu_seconds() - broker_before;
    // Closing stdin stops the server.
    drop(server.stdin.take());
    let _ = server.wait();
    drop(broker);
    if !client.status.success() {
        return Err("the client process failed".into());
    }
    let stdout = String::from_utf8_lossy(&client.stdout);
    let mut figures: Value = serde_json::from_str(stdout.lines().last().unwrap_or_default())?;
    figures["server_cpu_s"] = json!(round2(server_cpu));
    let calls = figures["calls"].as_f64().unwrap_or(0.0).max(1.0);
    let per = |cpu: f64| (cpu * 10_000.0 / calls * 100.0).round() / 100.0;
    let client_cpu = figures["client_cpu_s"].as_f64().unwrap_or(0.0);
    figures["broker_cpu_s"] = json!(round2(broker_cpu));
    figures["cpu_s_per_10k_calls"] = json!({
        "client": per(client_cpu),
        "server": per(server_cpu),
        "broker": per(broker_cpu),
        "total": per(client_cpu + server_cpu + broker_cpu),
    });
    println!("{figures}");
    Ok(())
}

async fn serve(args: &BenchArgs) -> BoxResult<()> {
    let url = args.url.clone().unwrap_or_default();
    let limit = args.server_concurrency.max(1);
    // Each server runs until stdin closes; the orchestrator closes it when the client is done.
    let server = match args.system {
        System::Grpc => grpc::serve(&url, limit).await?,
        System::Nats => nats::serve(&url, limit).await?,
        System::Amqp => amqp::serve(&url, limit).await?,
    };
    let mut out = std::io::stdout().lock();
    writeln!(out, "READY")?;
    out.flush()?;
    drop(out);
    tokio::task::spawn_blocking(|| {
        let mut sink = String::new();
        while std::io::stdin()
            .read_line(&mut sink)
            .map(|n| n > 0)
            .unwrap_or(false)
        {}
    })
    .await?;
    server.abort();
    Ok(())
}

/// A system's client, shared by every caller.
#[derive(Clone)]
enum Client {
    Grpc(grpc::Client),
    Nats(nats::Client),
    Amqp(amqp::Client),
}

impl Client {
    async fn add(&self, a: f64, b: f64) -> bool {
        let request = AddParams { a, b };
        let answer = match self {
            Client::Grpc(c) => c.add(request).await,
            Client::Nats(c) => c.add(&request).await,
            Client::Amqp(c) => c.add(&request).await,
        };
        answer.is_some_and(|r| r.sum == a + b)
    }
}

async fn call(args: &BenchArgs) -> BoxResult<()> {
    let url = args.url.clone().unwrap_or_default();
    let client = match args.system {
        System::Grpc => Client::Grpc(grpc::Client::connect(&url).await?),
        System::Nats => Client::Nats(nats::Client::connect(&url).await?),
        System::Amqp => Client::Amqp(amqp::Client::connect(&url).await?),
    };
    // One untimed call, as clamator-bench makes, so the first measured call pays only for
    // itself.
    if !client.add(0.0, 0.0).await {
        return Err("the warm-up call failed".into());
    }
    let callers = args.concurrency.max(1);
    let calls_of =
        |caller: usize| args.calls / callers + usize::from(caller < args.calls % callers);
    let started = Instant::now();
    let cpu_started = proc::cpu_seconds(std::process::id());
    let tasks: Vec<_> = (0..callers)
        .map(|caller| {
            let client = client.clone();
            let calls = calls_of(caller);
            tokio::spawn(async move {
                let mut latencies = Vec::with_capacity(calls);
                for i in 0..calls {
                    let t = Instant::now();
                    if client.add(i as f64, 1.0).await {
                        latencies.push(t.elapsed());
                    }
                }
                latencies
            })
        })
        .collect();
    let mut latencies = Vec::with_capacity(args.calls);
    for t in tasks {
        latencies.extend(t.await?);
    }
    let seconds = started.elapsed().as_secs_f64();
    let client_cpu = proc::cpu_seconds(std::process::id()) - cpu_started;
    latencies.sort_unstable();
    let at = |q: f64| -> u128 {
        let rank = ((latencies.len() as f64 * q) as usize).min(latencies.len().saturating_sub(1));
        latencies.get(rank).map_or(0, Duration::as_micros)
    };
    let figures = json!({
        "mode": args.system.name(),
        "allocator": if cfg!(feature = "mimalloc") { "mimalloc" } else { "system" },
        "calls": latencies.len(),
        "failed": args.calls.saturating_sub(latencies.len()),
        "concurrency": args.concurrency,
        "server_concurrency": args.server_concurrency,
        "seconds": (seconds * 1000.0).round() / 1000.0,
        "calls_per_sec": (latencies.len() as f64 / seconds).round(),
        "p50_us": at(0.50),
        "p90_us": at(0.90),
        "p99_us": at(0.99),
        "max_us": latencies.last().map_or(0, Duration::as_micros),
        "client_cpu_s": round2(client_cpu),
    });
    println!("{figures}");
    Ok(())
}

fn round2(x: f64) -> f64 {
    (x * 100.0).round() / 100.0
}
