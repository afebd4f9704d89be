//! Contract evolution between peers deployed on their own schedules: a newer server may add
//! result fields (older clients ignore them); a param an older server does not know is
//! refused with -32602 before its handler runs (so deploy servers first).

use clamator_examples::generated::arith::{AddParams, ArithClient};
use clamator_protocol::{codes, CallOptions, Client, Service};
use clamator_redis::RedisServer;
use clamator_tests::TestRedis;
use serde_json::{json, Value};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_result_field_added_by_a_newer_server_does_not_break_an_older_client() {
    let t = TestRedis::start();
    // The newer `arith.add` answers with a field the client was not generated with; the
    // call has had its effect, so failing it would invite a retry.
    let newer = Service::builder("arith")
        .method("add", |p: Value| async move {
            let sum = p["a"].as_f64().unwrap_or(0.0) + p["b"].as_f64().unwrap_or(0.0);
            Ok(json!({"sum": sum, "estimatedDelivery": "2026-12-01"}))
        })
        .build()
        .unwrap();
    let server = RedisServer::builder(t.server_config())
        .service(newer)
        .start()
        .await
        .unwrap();
    let arith = ArithClient::new(t.transport().await);
    let r = arith.add(&AddParams::new(2.0, 3.0)).await.unwrap();
    assert_eq!(r.sum, 5.0);
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_param_an_older_server_does_not_know_is_refused_with_invalid_params() {
    let t = TestRedis::start();
    let (server, handled) = t.arith_server(t.server_config(), 1).await;
    let client = Client::new(t.transport().await);
    let newer_params = json!({"a": 1, "b": 2, "note": "gift wrap"});
    let e = client
        .call_value("arith", "add", &newer_params, CallOptions::default())
        .await
        .unwrap_err();
    assert_eq!(e.code(), Some(codes::INVALID_PARAMS), "{e}");
    assert_eq!(
        handled.get(),
        0,
        "the handler ran on params it does not know"
    );
    server.stop().await;
}
