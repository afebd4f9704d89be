//! The service through its generated client, in process (no Redis).

use clamator_protocol::{codes, MemoryTransport, Router};
use orders_service::orders::{orders_service, OrdersClient, OrdersError, PlaceOrderParams};
use orders_service::Orders;

fn client() -> OrdersClient {
    let router = Router::new()
        .with(orders_service(Orders).expect("the contract compiles"))
        .expect("one service");
    OrdersClient::new(MemoryTransport::new(router))
}

#[tokio::test]
async fn an_order_is_placed() {
    let mut params = PlaceOrderParams::new("sku-7", 2);
    params.note = Some("gift wrap".into());
    let placed = client().place_order(&params).await.expect("placed");
    assert_eq!(placed.order_id, "order-7-2");
}

#[tokio::test]
async fn a_declared_error_comes_back_typed() {
    let err = client()
        .place_order(&PlaceOrderParams::new("pen", 1))
        .await
        .expect_err("unknown sku");
    assert_eq!(OrdersError::from_error(&err), Some(OrdersError::UnknownSku));
    assert_eq!(err.code(), Some(1001));
}

#[tokio::test]
async fn an_error_passed_up_with_question_mark_is_an_internal_error_without_its_cause() {
    let err = client()
        .place_order(&PlaceOrderParams::new("sku-x", 1))
        .await
        .expect_err("not a number");
    assert_eq!(err.code(), Some(codes::INTERNAL_ERROR));
    assert_eq!(OrdersError::from_error(&err), None);
    let rpc = err.as_rpc().expect("a remote error");
    assert_eq!(rpc.message, "Internal error");
    assert!(rpc.data.is_null(), "{:?}", rpc.data);
}

#[tokio::test]
async fn params_are_validated_against_the_contract() {
    let err = client()
        .place_order(&PlaceOrderParams::new("sku-1", 0))
        .await
        .expect_err("quantity below its minimum");
    assert_eq!(err.code(), Some(codes::INVALID_PARAMS));
}
