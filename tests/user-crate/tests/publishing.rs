//! The service that publishes, from docs/getting-started.md: in process with a recording
//! publisher (no Redis), then served by a `RedisServer` whose handler publishes through the
//! server's own connection to a subscriber in another server.

use std::time::Duration;

use clamator_protocol::{MemoryTransport, RecordingPublisher, Router, RpcError};
use clamator_redis::{RedisServer, RedisTransport, ServerConfig, TransportConfig};
use orders_service::orders::{
    orders_service, orders_subscriber, OrderPlacedPayload, OrdersClient, OrdersEvents,
    OrdersSubscriber, PlaceOrderParams,
};
use orders_service::PublishingOrders;

#[tokio::test]
async fn placing_an_order_publishes_it() {
    let recorder = RecordingPublisher::new();
    let events = OrdersEvents::new(recorder.clone()).expect("the contract compiles");
    let router = Router::new()
        .with(orders_service(PublishingOrders { events }).expect("the contract compiles"))
        .expect("one service");
    let client = OrdersClient::new(MemoryTransport::new(router));
    let placed = client
        .place_order(&PlaceOrderParams::new("sku-7", 2))
        .await
        .expect("placed");
    let published = recorder.events();
    assert_eq!(published.len(), 1);
    assert_eq!(published[0].event, "orderPlaced");
    assert_eq!(published[0].payload["orderId"], placed.order_id.as_str());
    assert_eq!(published[0].payload["sku"], "sku-7");
}

/// A subscriber that hands each order placed to the test.
struct Billing(tokio::sync::mpsc::UnboundedSender<OrderPlacedPayload>);

impl OrdersSubscriber for Billing {
    async fn order_placed(&self, payload: OrderPlacedPayload) -> Result<(), RpcError> {
        let _ = self.0.send(payload);
        Ok(())
    }
}

/// A redis-server of its own on a free port, killed when dropped.
struct Redis(std::process::Child, u16);

impl Redis {
    fn start() -> Self {
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .expect("a free port")
            .port();
        let child = std::process::Command::new("redis-server")
            .args(["--port", &port.to_string(), "--bind", "127.0.0.1"])
            .args(["--save", "", "--appendonly", "no"])
            .stdout(std::process::Stdio::null())
            .spawn()
            .expect("redis-server on the PATH (apt-get install redis-server)");
        let deadline = std::time::Instant::now() + Duration::from_secs(10);
        while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(
                std::time::Instant::now() < deadline,
                "redis-server did not start"
            );
            std::thread::sleep(Duration::from_millis(20));
        }
        Self(child, port)
    }

    fn url(&self) -> String {
        format!("redis://127.0.0.1:{}", self.1)
    }
}

impl Drop for Redis {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_handler_publishes_through_its_server_to_another_servers_subscriber() {
    let redis = Redis::start();
    let config = || ServerConfig::new("shop").redis_url(redis.url());

    // As getting-started serves it: the publisher comes from the builder.
    let builder = RedisServer::builder(config());
    let events = OrdersEvents::new(builder.publisher()).expect("the contract compiles");
    let server = builder
        .service(orders_service(PublishingOrders { events }).expect("the contract compiles"))
        .start()
        .await
        .expect("the orders server starts");

    let (tx, mut placed) = tokio::sync::mpsc::unbounded_channel();
    let billing = RedisServer::builder(config())
        .subscribe(
            "billing",
            orders_subscriber(Billing(tx)).expect("the contract compiles"),
        )
        .start()
        .await
        .expect("the billing server starts");

    let transport = RedisTransport::connect(TransportConfig::new("shop").redis_url(redis.url()))
        .await
        .expect("connected");
    let client = OrdersClient::new(transport.clone());
    let order = client
        .place_order(&PlaceOrderParams::new("sku-9", 1))
        .await
        .expect("placed");
    let event = tokio::time::timeout(Duration::from_secs(10), placed.recv())
        .await
        .expect("billing got the event within 10 s")
        .expect("an event");
    assert_eq!(event.order_id, order.order_id);
    assert_eq!(event.sku, "sku-9");

    transport.stop().await;
    billing.stop().await;
    server.stop().await;
}
