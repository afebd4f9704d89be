//! Serves `orders` until SIGINT or SIGTERM: `CLAMATOR_PREFIX=shop REDIS_URL=redis://… orders-service`.

use std::process::ExitCode;

use clamator_redis::{RedisServer, ServerConfig, ServiceOptions};

#[tokio::main]
async fn main() -> ExitCode {
    // The error as people read it (`Display`), where `?` out of `main` prints its `Debug`.
    match serve().await {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("orders: {e}");
            ExitCode::FAILURE
        }
    }
}

async fn serve() -> Result<(), Box<dyn std::error::Error>> {
    let server = RedisServer::builder(ServerConfig::from_env()?)
        .service_with(
            orders_service::orders::orders_service(orders_service::Orders)?,
            ServiceOptions::new().concurrency(16),
        )
        .start()
        .await?;
    let until_signal = server.run_until_signal()?;
    println!("serving orders");
    let report = until_signal.await;
    println!("stopped; drained: {}", report.drained);
    Ok(())
}
