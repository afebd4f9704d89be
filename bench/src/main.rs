//! `clamator-bench`: calls/s, latency and memory of `arith` calls between a server process
//! and a client process over Redis, for clamator-rs or (`--baseline`) for hand-written
//! redis-rs code doing the same exchange without any clamator layer. Prints one JSON line.
//!
//! ```sh
//! cargo run --release -p clamator-bench -- --concurrency 64 --calls 20000
//! cargo run --release -p clamator-bench -- --concurrency 64 --calls 20000 --baseline
//! # On a private 3-master Redis Cluster, 3 services (one per shard), each with its own
//! # server and client processes:
//! cargo run --release -p clamator-bench -- --cluster --services 3 --concurrency 64 --calls 20000
//! # One service over 3 partitions (command streams on different slots):
//! cargo run --release -p clamator-bench -- --cluster --partitions 3 --concurrency 64 --calls 20000
//! # Events: 20,000 published by 64 publishers, to 3 subscriber services (one process each):
//! cargo run --release -p clamator-bench -- --events 3 --concurrency 64 --calls 20000
//! ```
//!
//! With `--services N` the figures are per service and summed. CPU seconds (user + system,
//! from `/proc`) are measured in every mode over the timed part: `client_cpu_s` by the client
//! process itself, `server_cpu_s` of the server process from just before the clients start
//! to just after they finish (their connect and warm-up call included), `redis_cpu_s` of each
//! private redis-server over the same span, and `cpu_s_per_10k_calls` puts them per 10,000
//! calls (client, server, Redis, total): on a CPU-bound machine that figure, not calls/s,
//! compares across machines and systems. Clock ticks are 10 ms, so short runs are coarse.
//!
//! Built with `--features mimalloc`, both processes allocate with mimalloc instead of the
//! system allocator: what an application's choice of allocator is worth (the library picks
//! none; see docs/benchmarks.md).
//!
//! Built with `--features count-allocs`, each process counts its allocations, and the line
//! gains `client_allocs_per_call` and `server_allocs_per_call` over the timed part (the
//! server's read, over its stdin, before the clients start and after they finish).
#![allow(clippy::print_stdout, clippy::print_stderr)]

#[cfg(feature = "count-allocs")]
mod allocs;

#[cfg(all(feature = "mimalloc", not(feature = "count-allocs")))]
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[cfg(all(feature = "mimalloc", feature = "count-allocs"))]
#[global_allocator]
static ALLOCATOR: allocs::Counting<mimalloc::MiMalloc> = allocs::Counting(mimalloc::MiMalloc);

#[cfg(all(not(feature = "mimalloc"), feature = "count-allocs"))]
#[global_allocator]
static ALLOCATOR: allocs::Counting<std::alloc::System> = allocs::Counting(std::alloc::System);

/// Allocations of this process so far, when counted (`--features count-allocs`).
fn allocations() -> Option<u64> {
    #[cfg(feature = "count-allocs")]
    {
        Some(allocs::allocations())
    }
    #[cfg(not(feature = "count-allocs"))]
    {
        None
    }
}

use std::collections::HashMap;
use std::io::{BufRead, BufReader, Write as _};
use std::process::{Command, ExitCode, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use clamator_examples::arith::{self, AddParams, ArithClient, EchoTextParams};
use clamator_redis::{
    Deployment, RedisArgs, RedisServer, RedisTransport, ServerConfig, ServiceOptions,
    TransportConfig,
};
use clamator_testkit::local_cluster::RedisCluster;
use clamator_testkit::local_redis::RedisProcess;
use clap::parser::ValueSource;
use clap::{CommandFactory, FromArgMatches, Parser, Subcommand};
use serde_json::{json, Value};

#[derive(Parser, Debug)]
#[command(about = "Benchmark clamator-rs calls over Redis", long_about = None)]
struct Args {
    #[command(subcommand)]
    role: Option<Role>,
    #[command(flatten)]
    bench: BenchArgs,
}

#[derive(clap::Args, Debug, Clone)]
struct BenchArgs {
    /// Where Redis is: the library's flags. Without `--redis-url` (or `REDIS_URL`), a
    /// private redis-server on a free port, or with `--cluster` a private cluster of
    /// `--cluster-masters` masters.
    #[command(flatten)]
    redis: RedisArgs,
    /// `--redis-url` when one was given (set after parsing).
    #[arg(skip)]
    redis_url: Option<String>,
    /// Masters of the private cluster `--cluster` starts without `--redis-url`.
    #[arg(long, default_value_t = 3, global = true)]
    cluster_masters: usize,
    /// Services measured at once, each with its own server and client process and its own
    /// command stream (on a private cluster, on different masters where there are enough).
    #[arg(long, default_value_t = 1, global = true)]
    services: usize,
    /// Measure with observability on (feature `observability`): an OpenTelemetry layer that
    /// records every span (exporting nowhere) and a Prometheus metrics recorder, in the server
    /// and client processes.
    #[arg(long, global = true)]
    observe: bool,
    /// Command streams per service (`ServiceOptions::partitions` on the server,
    /// `TransportConfig::partitions` on the client).
    #[arg(long, default_value_t = 1, global = true)]
    partitions: usize,
    /// Callers in flight at once.
    #[arg(long, default_value_t = 1, global = true)]
    concurrency: usize,
    /// Calls in all.
    #[arg(long, default_value_t = 10_000, global = true)]
    calls: usize,
    /// Call `echoText` with a text of this many bytes instead of `add`.
    #[arg(long, global = true)]
    payload_bytes: Option<usize>,
    /// Requests the server processes at once.
    #[arg(long, default_value_t = 1, global = true)]
    server_concurrency: usize,
    /// Hand-written redis-rs code, no clamator layers: the practical ceiling.
    #[arg(long, global = true)]
    baseline: bool,
    /// Measure the published Python clamator instead (its server and client, from the
    /// interop venv): the peer clamator-rs is compared with. Its server handles one
    /// request at a time whatever `--server-concurrency` says.
    #[arg(long, global = true, conflicts_with = "baseline")]
    peer_python: bool,
    /// Python with clamator-over-redis installed, for `--peer-python` (default: the venv
    /// the interop tests create, `target/interop-venv`).
    #[arg(long, global = true)]
    python: Option<std::path::PathBuf>,
    /// Tokio worker threads of the server and client processes (0: a current-thread
    /// runtime).
    #[arg(long, default_value_t = 2, global = true)]
    worker_threads: usize,
    /// Key prefix (set by the orchestrator for its children).
    #[arg(long, default_value = "bench", global = true)]
    key_prefix: String,
    /// Measure events instead of calls: publish `--calls` events (`--concurrency`
    /// publishers at once) to this many subscriber services, each in its own process, and
    /// report publishes/s and the time from publish to handler per subscriber.
    #[arg(long, default_value_t = 0, global = true)]
    events: usize,
    /// The subscriber group of a `serve --events` process (set by the orchestrator).
    #[arg(long, global = true, hide = true)]
    subscriber: Option<String>,
}

#[derive(Subcommand, Debug)]
enum Role {
    /// Serve until stdin closes (run by the orchestrator).
    Serve,
    /// Make the calls and print the figures (run by the orchestrator).
    Call,
}

fn main() -> ExitCode {
    let matches = Args::command().get_matches();
    let mut args = Args::from_arg_matches(&matches).unwrap_or_else(|e| e.exit());
    // No URL given means a private Redis: the flag's default is not a choice.
    if matches.value_source("redis_url") != Some(ValueSource::DefaultValue) {
        args.bench.redis_url = Some(args.bench.redis.redis_url.clone());
    }
    let _telemetry = match observe(args.bench.observe) {
        Ok(t) => t,
        Err(e) => {
            eprintln!("clamator-bench: {e}");
            return ExitCode::from(2);
        }
    };
    let runtime = match args.bench.worker_threads {
        0 => tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build(),
        n => tokio::runtime::Builder::new_multi_thread()
            .worker_threads(n)
            .enable_all()
            .build(),
    };
    let Ok(runtime) = runtime else {
        eprintln!("clamator-bench: cannot start the runtime");
        return ExitCode::FAILURE;
    };
    let result = match args.role {
        Some(Role::Serve) if args.bench.events > 0 => {
            runtime.block_on(events_bench::serve(args.bench))
        }
        Some(Role::Call) if args.bench.events > 0 => {
            runtime.block_on(events_bench::publish(args.bench))
        }
        Some(Role::Serve) => runtime.block_on(serve(args.bench)),
        Some(Role::Call) => runtime.block_on(call(args.bench)),
        None => orchestrate(args.bench),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("clamator-bench: {e}");
            ExitCode::FAILURE
        }
    }
}

/// Logs errors only; with `--observe`, spans and metrics are recorded as a traced and
/// measured application would.
fn observe(on: bool) -> Result<clamator_examples::observability::Telemetry, String> {
    if !on {
        clamator_examples::init_tracing("error");
        return Ok(Default::default());
    }
    if !cfg!(feature = "observability") {
        return Err("--observe needs the `observability` feature".to_owned());
    }
    let telemetry = clamator_examples::observability::init(
        "clamator-bench",
        "error",
        &clamator_examples::observability::ObservabilityArgs::default(),
    )?;
    #[cfg(feature = "observability")]
    metrics_exporter_prometheus::PrometheusBuilder::new()
        .install_recorder()
        .map_err(|e| format!("cannot install the metrics recorder: {e}"))?;
    Ok(telemetry)
}

type BoxResult<T> = Result<T, Box<dyn std::error::Error + Send + Sync>>;

/// The Redis a run uses: given, or private (one server or a cluster).
enum Private {
    None,
    Single(RedisProcess),
    Cluster(RedisCluster),
}

impl Private {
    fn pids(&self) -> Vec<u32> {
        match self {
            Self::None => Vec::new(),
            Self::Single(p) => p.pid().into_iter().collect(),
            Self::Cluster(c) => c.nodes.iter().filter_map(RedisProcess::pid).collect(),
        }
    }
}

/// Starts Redis if needed, the server processes, then the client processes; prints one line.
fn orchestrate(args: BenchArgs) -> BoxResult<()> {
    let deployment = args.redis.deployment();
    if args.baseline && args.partitions > 1 {
        return Err("--baseline has one command stream; drop --partitions".into());
    }
    if args.baseline && deployment != Deployment::Standalone {
        return Err(
            "--baseline talks to one Redis only; drop --cluster / --sentinel-master".into(),
        );
    }
    let private = match (&args.redis_url, &deployment) {
        (Some(_), _) => Private::None,
        (None, Deployment::Cluster) => {
            Private::Cluster(RedisCluster::start(args.cluster_masters.max(1), 0)?)
        }
        (None, Deployment::Standalone) => Private::Single(RedisProcess::start()?),
        (None, _) => return Err("--sentinel-master needs --redis-url (the sentinels)".into()),
    };
    let url = match (&args.redis_url, &private) {
        (Some(url), _) => url.clone(),
        (None, Private::Single(p)) => p.url(),
        (None, Private::Cluster(c)) => c.url(),
        (None, Private::None) => String::new(),
    };
    let prefixes = service_prefixes(args.services.max(1), &private);
    if args.events > 0 {
        if args.baseline || args.peer_python || args.services > 1 || args.partitions > 1 {
            return Err(
                "--events measures clamator-rs events alone; drop --baseline, --peer-python, \
                 --services and --partitions"
                    .into(),
            );
        }
        return events_bench::orchestrate(&args, &url, &prefixes[0], &private.pids());
    }
    if args.peer_python {
        if args.services > 1 || deployment != Deployment::Standalone {
            return Err("--peer-python measures one service on one Redis".into());
        }
        return python_peer(&args, &url, &prefixes[0], &private.pids());
    }
    let exe = std::env::current_exe()?;
    let common = |role: &str, prefix: &str| {
        let mut c = Command::new(&exe);
        c.arg(role)
            .args(["--redis-url", &url, "--key-prefix", prefix])
            .args(deployment_flags(&args.redis.deployment()))
            .args([
                "--concurrency",
                &args.concurrency.to_string(),
                "--calls",
                &args.calls.to_string(),
            ])
            .args(["--server-concurrency", &args.server_concurrency.to_string()])
            .args(["--worker-threads", &args.worker_threads.to_string()])
            .args(["--partitions", &args.partitions.to_string()]);
        if args.observe {
            c.arg("--observe");
        }
        if let Some(p) = args.payload_bytes {
            c.args(["--payload-bytes", &p.to_string()]);
        }
        if args.baseline {
            c.arg("--baseline");
        }
        c
    };
    let mut servers = Vec::new();
    let mut server_lines = Vec::new();
    for prefix in &prefixes {
        let mut server = common("serve", prefix)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .spawn()?;
        let mut lines = BufReader::new(server.stdout.take().ok_or("no server stdout")?).lines();
        if lines.next().transpose()?.as_deref() != Some("READY") {
            return Err("the server did not start".into());
        }
        servers.push(server);
        server_lines.push(lines);
    }
    let server_allocs_before = server_allocations(&mut servers, &mut server_lines)?;
    let redis_cpu_before: Vec<f64> = private.pids().into_iter().map(cpu_seconds).collect();
    let server_cpu_before: Vec<f64> = servers.iter().map(|s| cpu_seconds(s.id())).collect();
    let clients = prefixes
        .iter()
        .map(|prefix| {
            common("call", prefix)
                .stdout(Stdio::piped())
                .stderr(Stdio::piped())
                .spawn()
        })
        .collect::<Result<Vec<_>, _>>()?;
    let mut all = Vec::new();
    for client in clients {
        let out = client.wait_with_output()?;
        if !out.status.success() {
            return Err(format!(
                "the client failed: {}",
                String::from_utf8_lossy(&out.stderr)
            )
            .into());
        }
        all.push(serde_json::from_slice::<Value>(&out.stdout)?);
    }
    let redis_cpu: Vec<f64> = private
        .pids()
        .into_iter()
        .map(cpu_seconds)
        .zip(&redis_cpu_before)
        .map(|(after, before)| round2(after - before))
        .collect();
    let server_allocs_after = server_allocations(&mut servers, &mut server_lines)?;
    for ((figures, before), after) in all
        .iter_mut()
        .zip(&server_allocs_before)
        .zip(&server_allocs_after)
    {
        if let (Some(before), Some(after), Some(calls)) = (before, after, figures["calls"].as_f64())
        {
            figures["server_allocs_per_call"] =
                json!(round2((after - before) as f64 / calls.max(1.0)));
        }
    }
    for ((figures, mut server), before) in all.iter_mut().zip(servers).zip(server_cpu_before) {
        figures["server_peak_rss_kib"] = json!(peak_rss_kib(server.id()));
        figures["server_cpu_s"] = json!(round2(cpu_seconds(server.id()) - before));
        drop(server.stdin.take()); // the server stops when its stdin closes
        server.wait()?;
    }
    let mut figures = if all.len() == 1 {
        all.remove(0)
    } else {
        let sum = |k: &str| all.iter().filter_map(|f| f[k].as_f64()).sum::<f64>();
        json!({
            "mode": all[0]["mode"],
            "partitions": args.partitions,
            "services": all.len(),
            "calls": sum("calls"),
            "failed": sum("failed"),
            "calls_per_sec": sum("calls_per_sec"),
            "client_cpu_s": round2(sum("client_cpu_s")),
            "server_cpu_s": round2(sum("server_cpu_s")),
            "per_service": all,
        })
    };
    figures["deployment"] = json!(match &deployment {
        Deployment::Cluster => "cluster",
        Deployment::Sentinel { .. } => "sentinel",
        _ => "standalone",
    });
    if !redis_cpu.is_empty() {
        figures["redis_cpu_s"] = json!(redis_cpu);
    }
    per_10k(&mut figures, redis_cpu.iter().sum());
    println!("{figures}");
    Ok(())
}

/// Each server's allocation count, asked over its stdin (`None` each without
/// `count-allocs`).
fn server_allocations(
    servers: &mut [std::process::Child],
    lines: &mut [std::io::Lines<BufReader<std::process::ChildStdout>>],
) -> BoxResult<Vec<Option<u64>>> {
    let mut out = Vec::new();
    for (server, lines) in servers.iter_mut().zip(lines.iter_mut()) {
        if allocations().is_none() {
            out.push(None);
            continue;
        }
        let stdin = server.stdin.as_mut().ok_or("no server stdin")?;
        writeln!(stdin, "ALLOCS")?;
        stdin.flush()?;
        let line = lines.next().transpose()?.unwrap_or_default();
        out.push(
            line.strip_prefix("ALLOCS ")
                .and_then(|n| n.trim().parse().ok()),
        );
    }
    Ok(out)
}

/// Adds `cpu_s_per_10k_calls`: the CPU seconds each process (client, server, Redis, and all
/// together) spent over the timed part, per 10,000 calls. On a CPU-bound machine this, not
/// calls/s, is what compares across machines and systems.
fn per_10k(figures: &mut Value, redis_cpu: f64) {
    let calls = figures["calls"].as_f64().unwrap_or(0.0);
    if calls <= 0.0 {
        return;
    }
    let per = |cpu: f64| (cpu * 10_000.0 / calls * 100.0).round() / 100.0;
    let client = figures["client_cpu_s"].as_f64().unwrap_or(0.0);
    let server = figures["server_cpu_s"].as_f64().unwrap_or(0.0);
    figures["cpu_s_per_10k_calls"] = json!({
        "client": per(client),
        "server": per(server),
        "redis": per(redis_cpu),
        "total": per(client + server + redis_cpu),
    });
}

fn round2(x: f64) -> f64 {
    (x * 100.0).round() / 100.0
}

/// One key prefix per service; on a private cluster, chosen so that the command streams
/// land on different masters while there are masters left.
fn service_prefixes(n: usize, private: &Private) -> Vec<String> {
    let fresh = || format!("bench-{}", uuid::Uuid::new_v4().simple());
    let Private::Cluster(cluster) = private else {
        return (0..n).map(|_| fresh()).collect();
    };
    let masters = cluster.masters().len().max(1);
    let mut taken = Vec::new();
    let mut prefixes = Vec::new();
    while prefixes.len() < n {
        let prefix = fresh();
        let owner = cluster.master_of(&clamator_redis::keys::command_stream(&prefix, "arith"));
        match owner {
            Ok(owner) if taken.contains(&owner) && taken.len() < masters => continue,
            Ok(owner) => taken.push(owner),
            Err(_) => {}
        }
        prefixes.push(prefix);
    }
    prefixes
}

/// User plus system CPU time of a process so far, in seconds.
fn cpu_seconds(pid: u32) -> f64 {
    let Ok(stat) = std::fs::read_to_string(format!("/proc/{pid}/stat")) else {
        return 0.0;
    };
    // Fields after the command name (which may hold spaces) in parentheses; utime and stime
    // are the 14th and 15th fields, in clock ticks.
    let Some((_, rest)) = stat.rsplit_once(')') else {
        return 0.0;
    };
    let fields: Vec<&str> = rest.split_whitespace().collect();
    let ticks = |i: usize| {
        fields
            .get(i)
            .and_then(|v| v.parse::<f64>().ok())
            .unwrap_or(0.0)
    };
    // Linux reports them in USER_HZ: 100 on x86-64 and arm64.
    (ticks(11) + ticks(12)) / 100.0
}

/// Runs the Python peer's server and benchmark client (`tests/interop/py/`) and prints
/// their figures in the same shape as ours.
fn python_peer(args: &BenchArgs, url: &str, prefix: &str, redis_pids: &[u32]) -> BoxResult<()> {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let drivers = root.join("tests/interop/py");
    let python = args
        .python
        .clone()
        .unwrap_or_else(clamator_testkit::python_peer::venv_python);
    if !python.exists() {
        return Err(format!(
            "no Python peer at {}: run `cargo test -p clamator-testkit --test interop` once \
             (it creates that venv from tests/interop/py/requirements.txt), or pass --python",
            python.display()
        )
        .into());
    }
    let config = json!({"redisUrl": url, "keyPrefix": prefix});
    let mut server = Command::new(&python)
        .arg(drivers.join("server.py"))
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()?;
    let mut stdin = server.stdin.take().ok_or("no server stdin")?;
    writeln!(stdin, "{config}")?;
    let mut lines = BufReader::new(server.stdout.take().ok_or("no server stdout")?).lines();
    if lines.next().transpose()?.as_deref() != Some("READY") {
        let _ = server.kill();
        return Err("the Python server did not start".into());
    }
    let redis_before: f64 = redis_pids.iter().copied().map(cpu_seconds).sum();
    let server_before = cpu_seconds(server.id());
    let mut client = Command::new(&python)
        .arg(drivers.join("bench_client.py"))
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()?;
    let request = json!({
        "redisUrl": url,
        "keyPrefix": prefix,
        "calls": args.calls,
        "concurrency": args.concurrency,
        "payloadBytes": args.payload_bytes,
    });
    writeln!(client.stdin.take().ok_or("no client stdin")?, "{request}")?;
    let out = client.wait_with_output()?;
    let server_rss = peak_rss_kib(server.id());
    let server_cpu = cpu_seconds(server.id()) - server_before;
    let redis_cpu = redis_pids.iter().copied().map(cpu_seconds).sum::<f64>() - redis_before;
    let _ = server.kill();
    let _ = server.wait();
    if !out.status.success() {
        return Err("the Python client failed".into());
    }
    let mut figures: Value = serde_json::from_slice(&out.stdout)?;
    figures["mode"] = json!("python-peer");
    figures["concurrency"] = json!(args.concurrency);
    figures["payload_bytes"] = json!(args.payload_bytes);
    figures["server_concurrency"] = json!(1);
    figures["server_peak_rss_kib"] = json!(server_rss);
    figures["server_cpu_s"] = json!(round2(server_cpu));
    if !redis_pids.is_empty() {
        figures["redis_cpu_s"] = json!([round2(redis_cpu)]);
    }
    per_10k(&mut figures, redis_cpu);
    println!("{figures}");
    Ok(())
}

/// VmHWM of a process, in KiB.
fn peak_rss_kib(pid: u32) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
}

async fn serve(args: BenchArgs) -> BoxResult<()> {
    let url = args.redis_url.clone().unwrap_or_default();
    // Its stdin: `ALLOCS` asks for the allocation count (answered on stdout); its end
    // stops the server.
    let stop = tokio::task::spawn_blocking(|| {
        for line in std::io::stdin().lines() {
            let Ok(line) = line else { break };
            if line.trim() == "ALLOCS" {
                let mut out = std::io::stdout().lock();
                let n = allocations().map_or_else(|| "-".to_owned(), |n| n.to_string());
                let _ = writeln!(out, "ALLOCS {n}");
                let _ = out.flush();
            }
        }
    });
    if args.baseline {
        // READY only once the consumer group exists: a call that lands before it would
        // never be delivered.
        let (started, up) = tokio::sync::oneshot::channel();
        let task = tokio::spawn(baseline::serve(
            url,
            args.key_prefix.clone(),
            args.server_concurrency,
            started,
        ));
        if up.await.is_err() {
            return match task.await {
                Ok(Err(e)) => Err(format!("the baseline server did not start: {e}").into()),
                _ => Err("the baseline server did not start".into()),
            };
        }
        ready()?;
        stop.await?;
        task.abort();
        return Ok(());
    }
    let server = RedisServer::builder(
        ServerConfig::new(&args.key_prefix)
            .redis_url(url)
            .deployment(args.redis.deployment()),
    )
    .service_with(
        arith::arith_service(Default::default())?,
        ServiceOptions::new().concurrency(args.server_concurrency),
    )
    .start()
    .await?;
    ready()?;
    stop.await?;
    server.stop().await;
    Ok(())
}

fn ready() -> BoxResult<()> {
    let mut out = std::io::stdout().lock();
    writeln!(out, "READY")?;
    out.flush()?;
    Ok(())
}

async fn call(args: BenchArgs) -> BoxResult<()> {
    let url = args.redis_url.clone().unwrap_or_default();
    let latencies = Arc::new(Mutex::new(Histogram::new()));
    let text = "x".repeat(args.payload_bytes.unwrap_or(0));
    // Exactly `--calls` in all: the first `calls % concurrency` callers make one more.
    let callers = args.concurrency.max(1);
    let calls_of =
        |caller: usize| args.calls / callers + usize::from(caller < args.calls % callers);
    let started;
    let cpu_started;
    let allocs_started;
    if args.baseline {
        let client = baseline::Client::connect(&url, &args.key_prefix).await?;
        // One untimed call (as the Python peer's bench client makes), so the first
        // measured call pays for nothing but itself.
        if !client.add(0.0, 0.0).await {
            return Err("the warm-up call failed".into());
        }
        started = Instant::now();
        cpu_started = cpu_seconds(std::process::id());
        allocs_started = allocations();
        let tasks: Vec<_> = (0..args.concurrency)
            .map(|caller| {
                let (client, latencies, text) =
                    (client.clone(), Arc::clone(&latencies), text.clone());
                let payload = args.payload_bytes.is_some();
                let calls = calls_of(caller);
                tokio::spawn(async move {
                    for i in 0..calls {
                        let t = Instant::now();
                        let ok = if payload {
                            client.echo(&text).await
                        } else {
                            client.add(i as f64, 1.0).await
                        };
                        if ok {
                            latencies
                                .lock()
                                .unwrap_or_else(std::sync::PoisonError::into_inner)
                                .record(t.elapsed());
                        }
                    }
                })
            })
            .collect();
        for t in tasks {
            t.await?;
        }
    } else {
        let redis = RedisTransport::connect(
            TransportConfig::new(&args.key_prefix)
                .redis_url(&url)
                .deployment(args.redis.deployment()),
        )
        .await?;
        let client = ArithClient::new(redis.clone());
        client.add(&AddParams { a: 0.0, b: 0.0 }).await?;
        started = Instant::now();
        cpu_started = cpu_seconds(std::process::id());
        allocs_started = allocations();
        let tasks: Vec<_> = (0..args.concurrency)
            .map(|caller| {
                let (client, latencies, text) =
                    (client.clone(), Arc::clone(&latencies), text.clone());
                let payload = args.payload_bytes.is_some();
                let calls = calls_of(caller);
                tokio::spawn(async move {
                    for i in 0..calls {
                        let t = Instant::now();
                        let ok = if payload {
                            client
                                .echo_text(&EchoTextParams { text: text.clone() })
                                .await
                                .is_ok()
                        } else {
                            client
                                .add(&AddParams {
                                    a: i as f64,
                                    b: 1.0,
                                })
                                .await
                                .is_ok()
                        };
                        if ok {
                            latencies
                                .lock()
                                .unwrap_or_else(std::sync::PoisonError::into_inner)
                                .record(t.elapsed());
                        }
                    }
                })
            })
            .collect();
        for t in tasks {
            t.await?;
        }
        redis.stop().await;
    }
    let seconds = started.elapsed().as_secs_f64();
    let client_cpu = cpu_seconds(std::process::id()) - cpu_started;
    let client_allocs = allocations()
        .zip(allocs_started)
        .map(|(after, before)| after - before);
    let h = latencies
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
        .clone();
    let figures = json!({
        "mode": if args.baseline { "baseline" } else { "clamator-rs" },
        "allocator": if cfg!(feature = "mimalloc") { "mimalloc" } else { "system" },
        "calls": h.count,
        "failed": args.calls.saturating_sub(h.count as usize),
        "concurrency": args.concurrency,
        "payload_bytes": args.payload_bytes,
        "server_concurrency": args.server_concurrency,
        "partitions": args.partitions,
        "seconds": (seconds * 1000.0).round() / 1000.0,
        "calls_per_sec": (h.count as f64 / seconds).round(),
        "p50_us": h.percentile(0.50),
        "p90_us": h.percentile(0.90),
        "p99_us": h.percentile(0.99),
        "max_us": h.max_us,
        "client_peak_rss_kib": peak_rss_kib(std::process::id()),
        "client_cpu_s": round2(client_cpu),
    });
    let mut figures = figures;
    if let Some(n) = client_allocs {
        figures["client_allocs_per_call"] = json!(round2(n as f64 / (h.count.max(1) as f64)));
    }
    println!("{figures}");
    Ok(())
}

/// Call latencies in whole microseconds, in fixed memory, so a long run measures the
/// transport's memory rather than the benchmark's.
#[derive(Clone)]
struct Histogram {
    /// `counts[us]` for latencies below [`Histogram::EXACT_US`].
    counts: Vec<u32>,
    /// `coarse[ms]` for longer ones, in milliseconds up to [`Histogram::COARSE_MS`]; beyond
    /// that only `count` and `max_us` see them.
    coarse: Vec<u32>,
    count: u64,
    max_us: u64,
}

impl Histogram {
    const EXACT_US: usize = 200_000;
    const COARSE_MS: usize = 300_000;

    fn new() -> Self {
        Self {
            counts: vec![0; Self::EXACT_US],
            coarse: vec![0; Self::COARSE_MS],
            count: 0,
            max_us: 0,
        }
    }

    fn record(&mut self, d: Duration) {
        let us = u64::try_from(d.as_micros()).unwrap_or(u64::MAX);
        let slot = match usize::try_from(us) {
            Ok(us) if us < Self::EXACT_US => self.counts.get_mut(us),
            Ok(us) => self.coarse.get_mut(us / 1000),
            Err(_) => None,
        };
        if let Some(c) = slot {
            *c += 1;
        }
        self.count += 1;
        self.max_us = self.max_us.max(us);
    }

    /// The latency below which a fraction `q` of the calls fall (the nearest rank): to the
    /// microsecond below 200 ms, to the millisecond up to 300 s, `max_us` beyond.
    fn percentile(&self, q: f64) -> u64 {
        let rank = ((self.count as f64 * q) as u64).min(self.count.saturating_sub(1));
        let mut seen = 0u64;
        let exact = self.counts.iter().enumerate().map(|(us, c)| (us as u64, c));
        let coarse = self
            .coarse
            .iter()
            .enumerate()
            .skip(Self::EXACT_US / 1000)
            .map(|(ms, c)| (ms as u64 * 1000, c));
        for (us, c) in exact.chain(coarse) {
            seen += u64::from(*c);
            if seen > rank {
                return us.min(self.max_us);
            }
        }
        self.max_us
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_help_says_what_the_bench_is() {
        use clap::CommandFactory;
        let help = Args::command().render_long_help().to_string();
        assert!(
            help.starts_with("Benchmark clamator-rs calls over Redis"),
            "{help}"
        );
        // Not the doc comment of a flattened type, code example and all.
        assert!(!help.contains("```"), "{help}");
    }

    #[test]
    fn percentiles_above_200_ms_are_not_the_maximum() {
        let mut h = Histogram::new();
        for ms in [100u64, 250, 400, 900, 5_000] {
            for _ in 0..20 {
                h.record(Duration::from_millis(ms));
            }
        }
        assert_eq!(h.percentile(0.5), 400_000);
        assert_eq!(h.percentile(0.7), 900_000);
        assert_eq!(h.percentile(0.99), 5_000_000);
        assert_eq!(h.max_us, 5_000_000);
        assert_eq!(h.count, 100);
    }
}

/// The same exchange written directly against redis-rs: what the machine allows.
/// `--events N`: one publisher process, N subscriber processes (one subscriber service
/// each), one private Redis; publishes/s and publish-to-handler latency per subscriber.
mod events_bench {
    use super::*;
    use clamator_protocol::{RpcError, Service};

    fn now_us() -> u64 {
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| u64::try_from(d.as_micros()).unwrap_or(u64::MAX))
    }

    /// Starts the subscribers, then the publisher; prints one line.
    pub(super) fn orchestrate(
        args: &BenchArgs,
        url: &str,
        prefix: &str,
        redis_pids: &[u32],
    ) -> BoxResult<()> {
        let exe = std::env::current_exe()?;
        let common = |role: &str| {
            let mut c = Command::new(&exe);
            c.arg(role)
                .args(["--redis-url", url, "--key-prefix", prefix])
                .args(["--events", &args.events.to_string()])
                .args(["--calls", &args.calls.to_string()])
                .args(["--concurrency", &args.concurrency.to_string()])
                .args(["--worker-threads", &args.worker_threads.to_string()]);
            if args.observe {
                c.arg("--observe");
            }
            c
        };
        let mut subscribers = Vec::new();
        for i in 0..args.events {
            let mut child = common("serve")
                .args(["--subscriber", &format!("sub-{i}")])
                .stdin(Stdio::piped())
                .stdout(Stdio::piped())
                .spawn()?;
            let mut lines =
                BufReader::new(child.stdout.take().ok_or("no subscriber stdout")?).lines();
            if lines.next().transpose()?.as_deref() != Some("READY") {
                let _ = child.kill();
                return Err("a subscriber did not start".into());
            }
            subscribers.push((child, lines));
        }
        let redis_before: f64 = redis_pids.iter().copied().map(cpu_seconds).sum();
        let subs_before: Vec<f64> = subscribers
            .iter()
            .map(|(c, _)| cpu_seconds(c.id()))
            .collect();
        let out = common("call").stdout(Stdio::piped()).output()?;
        if !out.status.success() {
            return Err("the publisher failed".into());
        }
        let mut figures: Value = serde_json::from_slice(&out.stdout)?;
        let mut per = Vec::new();
        let mut server_cpu = 0.0;
        for ((mut child, mut lines), before) in subscribers.into_iter().zip(subs_before) {
            // Each prints its figures once it has handled every event.
            let line = lines
                .next()
                .transpose()?
                .ok_or("a subscriber ended early")?;
            server_cpu += cpu_seconds(child.id()) - before;
            per.push(serde_json::from_str::<Value>(&line)?);
            drop(child.stdin.take());
            child.wait()?;
        }
        let redis_cpu = redis_pids.iter().copied().map(cpu_seconds).sum::<f64>() - redis_before;
        figures["subscribers"] = json!(args.events);
        figures["server_cpu_s"] = json!(round2(server_cpu));
        if !redis_pids.is_empty() {
            figures["redis_cpu_s"] = json!([round2(redis_cpu)]);
        }
        figures["per_subscriber"] = json!(per);
        per_10k(&mut figures, redis_cpu);
        println!("{figures}");
        Ok(())
    }

    /// A subscriber: handles `--calls` events, prints its figures, runs until stdin closes.
    pub(super) async fn serve(args: BenchArgs) -> BoxResult<()> {
        let url = args.redis_url.clone().unwrap_or_default();
        let group = args
            .subscriber
            .clone()
            .unwrap_or_else(|| "sub-0".to_owned());
        let expected = args.calls as u64;
        let (done, finished) = tokio::sync::oneshot::channel::<Value>();
        let state = Arc::new(Mutex::new((Histogram::new(), None::<Instant>, Some(done))));
        let handler = {
            let state = Arc::clone(&state);
            move |p: Value| {
                let state = Arc::clone(&state);
                async move {
                    let sent = p["sentUs"].as_u64().unwrap_or(0);
                    let waited = Duration::from_micros(now_us().saturating_sub(sent));
                    let mut s = state
                        .lock()
                        .unwrap_or_else(std::sync::PoisonError::into_inner);
                    let first = *s.1.get_or_insert_with(Instant::now);
                    s.0.record(waited);
                    if s.0.count == expected {
                        let seconds = first.elapsed().as_secs_f64().max(1e-6);
                        let figures = json!({
                            "subscriber": true,
                            "delivered": s.0.count,
                            "delivered_per_sec": (s.0.count as f64 / seconds).round(),
                            "e2e_p50_us": s.0.percentile(0.50),
                            "e2e_p99_us": s.0.percentile(0.99),
                            "e2e_max_us": s.0.max_us,
                        });
                        if let Some(done) = s.2.take() {
                            let _ = done.send(figures);
                        }
                    }
                    Ok::<_, RpcError>(())
                }
            }
        };
        let events = Service::builder("bench")
            .notification("tick", handler)
            .build()?;
        let server = RedisServer::builder(ServerConfig::new(&args.key_prefix).redis_url(url))
            .subscribe(&group, events)
            .start()
            .await?;
        ready()?;
        let figures = finished.await?;
        {
            let mut out = std::io::stdout().lock();
            writeln!(out, "{figures}")?;
            out.flush()?;
        }
        tokio::task::spawn_blocking(|| {
            let mut sink = String::new();
            let _ = std::io::stdin().read_line(&mut sink);
        })
        .await?;
        server.stop().await;
        Ok(())
    }

    /// The publisher: `--calls` events from `--concurrency` tasks.
    pub(super) async fn publish(args: BenchArgs) -> BoxResult<()> {
        let url = args.redis_url.clone().unwrap_or_default();
        let transport =
            RedisTransport::connect(TransportConfig::new(&args.key_prefix).redis_url(&url)).await?;
        let latencies = Arc::new(Mutex::new(Histogram::new()));
        let publishers = args.concurrency.max(1);
        let started = Instant::now();
        let cpu_started = cpu_seconds(std::process::id());
        let tasks: Vec<_> = (0..publishers)
            .map(|p| {
                let (transport, latencies) = (transport.clone(), Arc::clone(&latencies));
                let n = args.calls / publishers + usize::from(p < args.calls % publishers);
                tokio::spawn(async move {
                    for _ in 0..n {
                        let t = Instant::now();
                        let sent = transport
                            .publish_event("bench", "tick", &json!({ "sentUs": now_us() }))
                            .await;
                        if sent.is_ok() {
                            latencies
                                .lock()
                                .unwrap_or_else(std::sync::PoisonError::into_inner)
                                .record(t.elapsed());
                        }
                    }
                })
            })
            .collect();
        for t in tasks {
            t.await?;
        }
        let seconds = started.elapsed().as_secs_f64();
        let client_cpu = cpu_seconds(std::process::id()) - cpu_started;
        transport.stop().await;
        let h = latencies
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .clone();
        println!(
            "{}",
            json!({
                "mode": "events",
                "calls": h.count,
                "failed": args.calls.saturating_sub(h.count as usize),
                "concurrency": args.concurrency,
                "seconds": (seconds * 1000.0).round() / 1000.0,
                "publish_per_sec": (h.count as f64 / seconds).round(),
                "publish_p50_us": h.percentile(0.50),
                "publish_p99_us": h.percentile(0.99),
                "client_cpu_s": round2(client_cpu),
            })
        );
        Ok(())
    }
}

mod baseline {
    use super::*;
    use redis::aio::{ConnectionManager, MultiplexedConnection};
    use tokio::sync::{mpsc, oneshot};

    /// A stream entry's fields, in order.
    type Fields = Vec<(Vec<u8>, Vec<u8>)>;

    fn entries(v: redis::Value) -> Vec<(String, Fields)> {
        let mut out = Vec::new();
        if let redis::Value::Array(streams) = v {
            for s in streams {
                if let redis::Value::Array(mut kv) = s {
                    if let Some(redis::Value::Array(items)) = kv.pop() {
                        for item in items {
                            if let redis::Value::Array(mut parts) = item {
                                let fields = match parts.pop() {
                                    Some(redis::Value::Array(f)) => f
                                        .chunks(2)
                                        .filter_map(|c| match (c.first(), c.get(1)) {
                                            (
                                                Some(redis::Value::BulkString(k)),
                                                Some(redis::Value::BulkString(v)),
                                            ) => Some((k.clone(), v.clone())),
                                            _ => None,
                                        })
                                        .collect(),
                                    _ => Vec::new(),
                                };
                                if let Some(redis::Value::BulkString(id)) = parts.pop() {
                                    out.push((String::from_utf8_lossy(&id).into_owned(), fields));
                                }
                            }
                        }
                    }
                }
            }
        }
        out
    }

    fn field<'a>(fields: &'a [(Vec<u8>, Vec<u8>)], name: &str) -> Option<&'a [u8]> {
        fields
            .iter()
            .find(|(k, _)| k == name.as_bytes())
            .map(|(_, v)| v.as_slice())
    }

    /// A connection for blocking reads: its response timeout must outlast `BLOCK 1000`.
    async fn blocking_connection(client: &redis::Client) -> BoxResult<MultiplexedConnection> {
        let config =
            redis::AsyncConnectionConfig::new().set_response_timeout(Some(Duration::from_secs(6)));
        Ok(client
            .get_multiplexed_async_connection_with_config(&config)
            .await?)
    }

    /// Serves until aborted; `started` fires once the consumer group exists.
    pub(super) async fn serve(
        url: String,
        prefix: String,
        concurrency: usize,
        started: oneshot::Sender<()>,
    ) -> BoxResult<()> {
        let client = redis::Client::open(url.as_str())?;
        let manager = ConnectionManager::new(client.clone()).await?;
        let mut reader = blocking_connection(&client).await?;
        let stream = format!("{prefix}:cmds:arith");
        let _: redis::RedisResult<()> = redis::cmd("XGROUP")
            .arg("CREATE")
            .arg(&stream)
            .arg("arith")
            .arg("$")
            .arg("MKSTREAM")
            .query_async(&mut manager.clone())
            .await;
        let _ = started.send(());
        let permits = Arc::new(tokio::sync::Semaphore::new(concurrency.max(1)));
        // The same batching as clamator-rs: one pipeline of reply XADDs per batch, then
        // one XACK for the entries whose reply was written; permits end with the handler.
        let (replies, mut replies_rx) = mpsc::unbounded_channel::<(String, Vec<u8>, String)>();
        let (acks, mut acks_rx) = mpsc::unbounded_channel::<String>();
        let mut writer = manager.clone();
        tokio::spawn(async move {
            while let Some(batch) = drain(&mut replies_rx).await {
                let mut pipe = redis::pipe();
                for (_, to, reply) in &batch {
                    pipe.cmd("XADD")
                        .arg(to)
                        .arg("MAXLEN")
                        .arg("~")
                        .arg(1024)
                        .arg("*")
                        .arg("type")
                        .arg("rpc")
                        .arg("envelope")
                        .arg(reply)
                        .ignore();
                }
                if pipe.exec_async(&mut writer).await.is_ok() {
                    for (id, _, _) in batch {
                        let _ = acks.send(id);
                    }
                }
            }
        });
        let (mut acker, group_stream) = (manager.clone(), stream.clone());
        tokio::spawn(async move {
            while let Some(ids) = drain(&mut acks_rx).await {
                let _: redis::RedisResult<i64> = redis::cmd("XACK")
                    .arg(&group_stream)
                    .arg("arith")
                    .arg(&ids)
                    .query_async(&mut acker)
                    .await;
            }
        });
        loop {
            let v: redis::Value = redis::cmd("XREADGROUP")
                .arg("GROUP")
                .arg("arith")
                .arg("arith:base")
                .arg("COUNT")
                .arg(concurrency.clamp(16, 256))
                .arg("BLOCK")
                .arg(1000)
                .arg("STREAMS")
                .arg(&stream)
                .arg(">")
                .query_async(&mut reader)
                .await?;
            for (id, fields) in entries(v) {
                let permit = Arc::clone(&permits).acquire_owned().await?;
                let replies = replies.clone();
                tokio::spawn(async move {
                    let (Some(env), Some(reply_to)) =
                        (field(&fields, "envelope"), field(&fields, "reply-to"))
                    else {
                        return;
                    };
                    let Ok(req) = serde_json::from_slice::<Value>(env) else {
                        return;
                    };
                    let result = match req["method"].as_str() {
                        Some("arith.echoText") => json!({"text": req["params"]["text"]}),
                        _ => {
                            json!({"sum": req["params"]["a"].as_f64().unwrap_or(0.0) + req["params"]["b"].as_f64().unwrap_or(0.0)})
                        }
                    };
                    let reply =
                        json!({"jsonrpc": "2.0", "id": req["id"], "result": result}).to_string();
                    drop(permit);
                    let _ = replies.send((id, reply_to.to_vec(), reply));
                });
            }
        }
    }

    /// One waiting item and whatever else is queued already, up to 256 (as clamator-rs).
    async fn drain<T>(rx: &mut mpsc::UnboundedReceiver<T>) -> Option<Vec<T>> {
        let mut batch = vec![rx.recv().await?];
        while batch.len() < 256 {
            match rx.try_recv() {
                Ok(item) => batch.push(item),
                Err(_) => break,
            }
        }
        Some(batch)
    }

    type Waiters = Arc<Mutex<HashMap<String, oneshot::Sender<Value>>>>;

    #[derive(Clone)]
    pub(super) struct Client {
        manager: ConnectionManager,
        stream: String,
        replies: String,
        waiters: Waiters,
    }

    impl Client {
        pub(super) async fn connect(url: &str, prefix: &str) -> BoxResult<Self> {
            let client = redis::Client::open(url)?;
            let manager = ConnectionManager::new(client.clone()).await?;
            let mut reader = blocking_connection(&client).await?;
            let replies = format!("{prefix}:replies:{}", uuid::Uuid::new_v4());
            let waiters: Waiters = Arc::default();
            let (key, w) = (replies.clone(), Arc::clone(&waiters));
            tokio::spawn(async move {
                let mut last = "0".to_owned();
                loop {
                    let Ok(v) = redis::cmd("XREAD")
                        .arg("BLOCK")
                        .arg(1000)
                        .arg("STREAMS")
                        .arg(&key)
                        .arg(&last)
                        .query_async::<redis::Value>(&mut reader)
                        .await
                    else {
                        return;
                    };
                    for (id, fields) in entries(v) {
                        if let Some(env) = field(&fields, "envelope")
                            .and_then(|e| serde_json::from_slice::<Value>(e).ok())
                        {
                            let waiter = env["id"].as_str().and_then(|i| w.lock().ok()?.remove(i));
                            if let Some(tx) = waiter {
                                let _ = tx.send(env);
                            }
                        }
                        last = id;
                    }
                }
            });
            Ok(Self {
                manager,
                stream: format!("{prefix}:cmds:arith"),
                replies,
                waiters,
            })
        }

        async fn call(&self, method: &str, params: Value) -> bool {
            let id = uuid::Uuid::new_v4().to_string();
            let (tx, rx) = oneshot::channel();
            if let Ok(mut w) = self.waiters.lock() {
                w.insert(id.clone(), tx);
            }
            let env =
                json!({"jsonrpc": "2.0", "method": method, "params": params, "id": id}).to_string();
            let sent: redis::RedisResult<()> = redis::cmd("XADD")
                .arg(&self.stream)
                .arg("*")
                .arg("type")
                .arg("rpc")
                .arg("envelope")
                .arg(env)
                .arg("reply-to")
                .arg(&self.replies)
                .exec_async(&mut self.manager.clone())
                .await;
            sent.is_ok()
                && tokio::time::timeout(Duration::from_secs(30), rx)
                    .await
                    .is_ok_and(|r| r.is_ok())
        }

        pub(super) async fn add(&self, a: f64, b: f64) -> bool {
            self.call("arith.add", json!({"a": a, "b": b})).await
        }

        pub(super) async fn echo(&self, text: &str) -> bool {
            self.call("arith.echoText", json!({"text": text})).await
        }
    }
}

/// The deployment flags that name `deployment`, for a child process.
fn deployment_flags(deployment: &Deployment) -> Vec<String> {
    match deployment {
        Deployment::Sentinel { master } => vec!["--sentinel-master".to_owned(), master.clone()],
        Deployment::Cluster => vec!["--cluster".to_owned()],
        _ => Vec::new(),
    }
}
