//! Typed events, generated from `contracts/orders.json`: the generated publisher publishes
//! onto the event stream; a generated subscriber that implements one of the two events gets
//! only that one, the other acknowledged by its default; a payload breaking the schema is
//! refused on publish, naming the JSON Pointer, and one written raw past the typed publisher
//! is dead-lettered on receipt (`invalid-payload`) without reaching a handler.

use std::sync::{Arc, Mutex};

use clamator_examples::generated::orders::{
    orders_subscriber, Order, OrderCancelledPayload, OrderPlacedPayload, OrdersEvents,
    OrdersSubscriber, ORDERS_EVENTS,
};
use clamator_protocol::{Error, MemoryTransport, Router, RpcError};
use clamator_redis::{keys, RedisServer};
use clamator_tests::{wait_for, TestRedis, WAIT};
use serde_json::json;

/// Implements `orderPlaced` only: `orderCancelled` keeps its default.
#[derive(Clone, Default)]
struct Billing {
    placed: Arc<Mutex<Vec<OrderPlacedPayload>>>,
}

impl OrdersSubscriber for Billing {
    async fn order_placed(&self, payload: OrderPlacedPayload) -> Result<(), RpcError> {
        self.placed.lock().unwrap().push(payload);
        Ok(())
    }
}

fn order(id: &str, total: f64) -> Order {
    Order::new(id, total)
}

fn placed_ids(billing: &Billing) -> Vec<String> {
    let placed = billing.placed.lock().unwrap();
    placed.iter().map(|o| o.order_id.clone()).collect()
}

async fn xlen(t: &TestRedis, stream: &str) -> i64 {
    redis::cmd("XLEN")
        .arg(stream)
        .query_async(&mut t.raw().await)
        .await
        .unwrap()
}

async fn pending(t: &TestRedis, group: &str) -> i64 {
    let stream = keys::event_stream(&t.prefix, "orders");
    clamator_tests::pending_count(&mut t.raw().await, &stream, group).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_generated_subscriber_gets_the_events_it_implements_and_acks_the_others() {
    let t = TestRedis::start();
    let billing = Billing::default();
    let server = RedisServer::builder(t.server_config())
        .subscribe("billing", orders_subscriber(billing.clone()).unwrap())
        .start()
        .await
        .unwrap();
    let transport = t.transport().await;
    let events = OrdersEvents::new(transport.clone()).unwrap();

    let id = events.order_placed(&order("o-1", 42.5)).await.unwrap();
    assert!(id.contains('-'), "the stream entry id: {id}");
    let mut cancelled = OrderCancelledPayload::new("o-1");
    cancelled.reason = Some("changed my mind".into());
    events.order_cancelled(&cancelled).await.unwrap();
    events.order_placed(&order("o-2", 7.0)).await.unwrap();

    // Handled in publish order, so once o-2 is in, the cancellation went by before it.
    wait_for("both placed orders handled", WAIT, || async {
        placed_ids(&billing).len() == 2
    })
    .await;
    assert_eq!(placed_ids(&billing), ["o-1", "o-2"]);
    assert_eq!(billing.placed.lock().unwrap()[0].total, 42.5);
    wait_for("every event acknowledged", WAIT, || async {
        pending(&t, "billing").await == 0
    })
    .await;
    assert_eq!(
        xlen(&t, &keys::dead_letter_stream(&t.prefix, "billing")).await,
        0
    );
    server.stop().await;
    transport.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_invalid_payload_is_refused_on_publish_and_dead_lettered_on_receipt() {
    let t = TestRedis::start();
    let billing = Billing::default();
    let server = RedisServer::builder(t.server_config())
        .subscribe("billing", orders_subscriber(billing.clone()).unwrap())
        .start()
        .await
        .unwrap();
    let transport = t.transport().await;
    let events = OrdersEvents::new(transport.clone()).unwrap();

    // The type allows a negative total; the schema's `minimum: 0` does not.
    let err = events
        .order_placed(&order("o-1", -1.0))
        .await
        .expect_err("a negative total is refused");
    let Error::InvalidArgument(message) = &err else {
        panic!("expected InvalidArgument, got {err:?}");
    };
    assert!(message.contains("orders.orderPlaced"), "{message}");
    assert!(message.contains("/total"), "names the pointer: {message}");
    let stream = keys::event_stream(&t.prefix, "orders");
    assert_eq!(xlen(&t, &stream).await, 0, "nothing was published");

    // Past the typed publisher, the subscriber's validation catches it.
    transport
        .publish_event(
            "orders",
            "orderPlaced",
            &json!({"orderId": "o-2", "total": "lots"}),
        )
        .await
        .unwrap();
    events.order_placed(&order("o-3", 3.0)).await.unwrap();
    wait_for("the valid event handled", WAIT, || async {
        placed_ids(&billing).len() == 1
    })
    .await;
    let dead = t.dead_letters("billing").await;
    assert_eq!(dead.len(), 1, "{dead:?}");
    assert_eq!(dead[0].reason, "invalid-payload");
    assert!(
        dead[0].error.contains("/total"),
        "names the field: {dead:?}"
    );
    assert_eq!(placed_ids(&billing), ["o-3"], "the handler never saw o-2");
    server.stop().await;
    transport.stop().await;
}

#[tokio::test]
async fn in_process_the_memory_transport_hands_events_to_the_subscriber() {
    let billing = Billing::default();
    let router = Router::new()
        .with(orders_subscriber(billing.clone()).unwrap())
        .unwrap();
    let events = OrdersEvents::new(MemoryTransport::new(router)).unwrap();
    events.order_placed(&order("o-1", 1.0)).await.unwrap();
    events
        .order_cancelled(&OrderCancelledPayload::new("o-1"))
        .await
        .unwrap();
    wait_for("the event handled", WAIT, || async {
        placed_ids(&billing).len() == 1
    })
    .await;
    assert_eq!(ORDERS_EVENTS.len(), 2);
}
