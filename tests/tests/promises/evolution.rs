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

/// A server publishes the contract of each generated service it serves, for the `clamator`
/// tool and for clients that check for drift; `publish_contracts(false)` turns it off.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn servers_publish_their_contracts() {
    use clamator_examples::generated::arith::ARITH_CONTRACT;
    let t = TestRedis::start();
    let key = clamator_redis::keys::contract_key(&t.prefix, "arith");
    let raw = t.raw().await;
    let (quiet, _) = t
        .arith_server(t.server_config().publish_contracts(false), 1)
        .await;
    let none: Option<String> = redis::cmd("GET")
        .arg(&key)
        .query_async(&mut raw.clone())
        .await
        .unwrap();
    assert_eq!(none, None, "publish_contracts(false) writes nothing");
    quiet.stop().await;

    let h = t.arith(t.server_config(), 1).await;
    let doc: String = redis::cmd("GET")
        .arg(&key)
        .query_async(&mut raw.clone())
        .await
        .unwrap();
    let doc: Value = serde_json::from_str(&doc).unwrap();
    assert_eq!(doc["service"], "arith");
    let methods = doc["methods"].as_array().unwrap();
    assert_eq!(methods.len(), ARITH_CONTRACT.methods.len());
    for m in ARITH_CONTRACT.methods {
        let published = methods.iter().find(|p| p["name"] == m.name).unwrap();
        assert_eq!(published["paramsHash"], m.params_hash);
        assert_eq!(published["resultHash"], json!(m.result_hash));
        let schema: Value = serde_json::from_str(m.params_schema).unwrap();
        assert_eq!(published["paramsSchema"], schema);
    }
    assert!(doc["publishedAt"].as_u64().unwrap() > 0);
    h.stop().await;
}

/// A client checks the contract it was generated from against the published one: a match
/// connects; drift is a warning by default and an error naming the method with
/// `refuse_contract_drift`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn clients_find_contract_drift_at_connect() {
    use clamator_examples::generated::arith::ARITH_CONTRACT;
    let t = TestRedis::start();
    let h = t.arith(t.server_config(), 1).await;
    let expecting = || {
        t.transport_config()
            .expect_contract(&ARITH_CONTRACT)
            .refuse_contract_drift(true)
    };
    let matching = clamator_redis::RedisTransport::connect(expecting())
        .await
        .unwrap();
    let r = ArithClient::new(matching.clone())
        .add(&AddParams::new(1.0, 1.0))
        .await
        .unwrap();
    assert_eq!(r.sum, 2.0);
    matching.stop().await;

    // A server deployed from a newer contract changed `divide`'s result schema.
    let key = clamator_redis::keys::contract_key(&t.prefix, "arith");
    let raw = t.raw().await;
    let doc: String = redis::cmd("GET")
        .arg(&key)
        .query_async(&mut raw.clone())
        .await
        .unwrap();
    let divide = ARITH_CONTRACT.method("divide").unwrap();
    let changed = doc.replace(divide.result_hash.unwrap(), &"0".repeat(64));
    let _: () = redis::cmd("SET")
        .arg(&key)
        .arg(changed)
        .query_async(&mut raw.clone())
        .await
        .unwrap();
    let err = clamator_redis::RedisTransport::connect(expecting())
        .await
        .unwrap_err();
    let text = err.to_string();
    assert!(
        text.contains("arith.divide: result schema differs"),
        "{text}"
    );
    assert!(!text.contains("arith.add"), "{text}");
    // Without refusing, the same drift is a warning and the client works.
    let warned = clamator_redis::RedisTransport::connect(
        t.transport_config().expect_contract(&ARITH_CONTRACT),
    )
    .await
    .unwrap();
    warned.stop().await;

    // Whatever else the key holds is drift too, named, and never read past 4 MiB.
    let _: () = redis::cmd("SET")
        .arg(&key)
        .arg("x".repeat(5 << 20))
        .query_async(&mut raw.clone())
        .await
        .unwrap();
    let text = clamator_redis::RedisTransport::connect(expecting())
        .await
        .unwrap_err()
        .to_string();
    assert!(text.contains("holds more than 4 MiB"), "{text}");
    let _: () = redis::cmd("DEL")
        .arg(&key)
        .query_async(&mut raw.clone())
        .await
        .unwrap();
    let _: () = redis::cmd("HSET")
        .arg(&key)
        .arg("a")
        .arg("b")
        .query_async(&mut raw.clone())
        .await
        .unwrap();
    let text = clamator_redis::RedisTransport::connect(expecting())
        .await
        .unwrap_err()
        .to_string();
    assert!(text.contains("is not a string"), "{text}");
    h.stop().await;
}
