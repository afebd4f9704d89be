//! The README's first command: a server and a client talking over Redis.
//!
//! With `REDIS_URL` unset it starts a private redis-server on a free port; with it set, it
//! uses that Redis under a fresh key prefix and deletes its keys afterwards.
#![allow(clippy::print_stdout, clippy::print_stderr)]

use std::process::ExitCode;

use clamator_examples::arith::{
    self, AddParams, ArithClient, Counter, DivideParams, EchoTextParams, NotificationsClient,
    PingParams,
};
use clamator_examples::private_redis::PrivateRedis;
use clamator_protocol::Client;
use clamator_redis::{RedisServer, RedisTransport, ServerConfig, TransportConfig};

/// The command line: no options, only `--help`.
#[derive(clap::Parser)]
#[command(
    about = "Run a clamator server and client over Redis: calls, an error, a notification",
    long_about = "Run a clamator server and client over Redis: calls, an error, a \
                  notification.\n\nWith REDIS_URL unset it starts a private redis-server on a \
                  free port; with it set, it uses that Redis under a fresh key prefix and \
                  deletes its keys afterwards."
)]
struct Args {}

#[tokio::main]
async fn main() -> ExitCode {
    let Args {} = clap::Parser::parse();
    // The demo provokes an invalid-params warning on purpose; keep its output clean.
    clamator_examples::init_tracing("error");
    match run().await {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("quickstart failed: {e}");
            ExitCode::FAILURE
        }
    }
}

async fn run() -> Result<(), Box<dyn std::error::Error>> {
    let (url, private) = match std::env::var("REDIS_URL") {
        Ok(url) if !url.is_empty() => (url, None),
        _ => {
            let redis = PrivateRedis::start()?;
            println!("started a private redis-server at {}", redis.url());
            (redis.url(), Some(redis))
        }
    };
    let prefix = format!("quickstart-{}", uuid::Uuid::new_v4());

    // Server side: register services, start serving.
    let handled = Counter::default();
    let (ping_tx, mut ping_rx) = tokio::sync::mpsc::unbounded_channel();
    let server = RedisServer::builder(ServerConfig::new(&prefix).redis_url(&url))
        .service(arith::arith_service(handled.clone())?)
        .service(arith::notifications_service(handled.clone(), move |tag| {
            let _ = ping_tx.send(tag);
        })?)
        .start()
        .await?;
    println!(
        "server {} serving arith and notifications under prefix {prefix}",
        server.instance_id()
    );

    // Client side: connect, call through the generated typed clients.
    let transport = RedisTransport::connect(TransportConfig::new(&prefix).redis_url(&url)).await?;
    let arith = ArithClient::new(transport.clone());
    let notifications = NotificationsClient::new(transport.clone());

    let r = arith.add(&AddParams { a: 2.0, b: 3.0 }).await?;
    println!("arith.add {{a: 2, b: 3}}        -> sum = {}", r.sum);
    let r = arith.divide(&DivideParams { a: 1.0, b: 4.0 }).await?;
    println!("arith.divide {{a: 1, b: 4}}     -> q = {}", r.q);
    let r = arith
        .echo_text(&EchoTextParams {
            text: "héllo, wörld".into(),
        })
        .await?;
    println!("arith.echoText \"héllo, wörld\" -> {:?}", r.text);
    match arith.divide(&DivideParams { a: 1.0, b: 0.0 }).await {
        Err(e) if e.code() == Some(-32000) => println!(
            "arith.divide {{a: 1, b: 0}}     -> error {}",
            e.as_rpc().map(|r| r.to_string()).unwrap_or_default()
        ),
        other => return Err(format!("expected a division-by-zero error, got {other:?}").into()),
    }
    // The untyped core client can send what the typed one would not let you write.
    let bad = Client::new(transport.clone())
        .call::<_, serde_json::Value>("arith", "add", &serde_json::json!({"a": "two", "b": 3}))
        .await
        .err()
        .and_then(|e| e.as_rpc().cloned());
    if let Some(e) = bad {
        println!(
            "arith.add {{a: \"two\", b: 3}}    -> error {} {}: {}",
            e.code, e.message, e.data["errors"][0]["message"]
        );
    }
    notifications
        .ping(&PingParams {
            tag: Some("hello".into()),
        })
        .await?;
    let tag = tokio::time::timeout(std::time::Duration::from_secs(5), ping_rx.recv())
        .await?
        .flatten()
        .unwrap_or_default();
    println!("notifications.ping {{tag: hello}} -> handled by the server with tag {tag:?}");

    transport.stop().await;
    let report = server.stop().await;
    println!(
        "stopped (drained: {}); the server ran {} handlers",
        report.drained,
        handled.get()
    );
    if private.is_none() {
        cleanup(&url, &prefix).await?;
    }
    Ok(())
}

/// Deletes this run's keys from a shared Redis.
async fn cleanup(url: &str, prefix: &str) -> Result<(), Box<dyn std::error::Error>> {
    let mut conn = redis::Client::open(url)?
        .get_multiplexed_async_connection()
        .await?;
    let keys: Vec<String> = redis::cmd("KEYS")
        .arg(format!("{prefix}:*"))
        .query_async(&mut conn)
        .await?;
    if !keys.is_empty() {
        redis::cmd("DEL").arg(keys).exec_async(&mut conn).await?;
    }
    Ok(())
}
