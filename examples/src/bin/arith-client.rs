//! Makes one call (or sends one notification) over Redis and prints one JSON line:
//! `{"ok":true,"kind":"result","result":…}`, `{"ok":true,"kind":"notification"}`,
//! `{"ok":false,"kind":"rpc-error","code":…,"message":…,"data":…}`,
//! `{"ok":false,"kind":"transport-error","message":…}` or
//! `{"ok":false,"kind":"unknown-error","message":…}`. Exits 0 when ok, 1 otherwise, 2 on
//! bad arguments.
#![allow(clippy::print_stdout, clippy::print_stderr)]

use std::process::ExitCode;
use std::time::Duration;

use clamator_protocol::CallOptions;
use clamator_redis::{RedisTransport, TransportConfig};
use clap::Parser;
use serde_json::Value;

#[derive(Parser, Debug)]
#[command(about = "Call a clamator service over Redis Streams")]
struct Args {
    #[command(flatten)]
    redis: clamator_redis::RedisArgs,
    #[command(flatten)]
    observability: clamator_examples::observability::ObservabilityArgs,
    /// Key prefix shared with the servers.
    #[arg(long)]
    key_prefix: String,
    /// Call timeout in milliseconds.
    #[arg(long, default_value_t = 30_000)]
    timeout_ms: u64,
    /// Send a notification instead of a call.
    #[arg(long)]
    notify: bool,
    /// `<service>.<method>`, e.g. `arith.add`.
    method: String,
    /// Params as JSON.
    #[arg(default_value = "{}")]
    params: String,
}

#[tokio::main(flavor = "current_thread")]
async fn main() -> ExitCode {
    let args = Args::parse();
    let _telemetry =
        match clamator_examples::observability::init("arith-client", "warn", &args.observability) {
            Ok(t) => t,
            Err(e) => {
                eprintln!("arith-client: {e}");
                return ExitCode::from(2);
            }
        };
    let Some((service, method)) = args.method.split_once('.') else {
        eprintln!(
            "arith-client: method must be <service>.<method>, got {:?}",
            args.method
        );
        return ExitCode::from(2);
    };
    let params: Value = match serde_json::from_str(&args.params) {
        Ok(p) => p,
        Err(e) => {
            eprintln!("arith-client: params are not JSON: {e}");
            return ExitCode::from(2);
        }
    };
    let target = match args.redis.target() {
        Ok(target) => target,
        Err(e) => {
            eprintln!("arith-client: {e}");
            return ExitCode::from(2);
        }
    };
    let config = TransportConfig::new(&args.key_prefix)
        .redis(target)
        .default_timeout(Duration::from_millis(args.timeout_ms));
    let line = match RedisTransport::connect(config).await {
        Err(e) => clamator_examples::outcome_json(Err(e)),
        Ok(redis) => {
            let client = clamator_protocol::Client::new(redis.clone());
            let result = if args.notify {
                client.notify(service, method, &params).await.map(|()| None)
            } else {
                client
                    .call_value(service, method, &params, CallOptions::default())
                    .await
                    .map(Some)
            };
            redis.stop().await;
            clamator_examples::outcome_json(result)
        }
    };
    println!("{line}");
    if line["ok"] == true {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    }
}
