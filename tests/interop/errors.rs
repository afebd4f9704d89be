//! Errors, both ways: each failure reaches the caller as the same JSON-RPC error (code,
//! message, data) whichever language serves, down to what a client refuses to send and what
//! a server refuses to read; and a Rust service's declared errors reach a Python caller.

use std::time::Duration;

use clamator_examples::generated::inventory as inv;
use serde_json::{json, Value};

use crate::harness::{
    assert_result, assert_rpc_error, both_ways, calls, client, probe_replies_until, raw_request,
    Env, Lang, ServerOpts,
};

#[test]
fn error_mapping() {
    both_ways("error-mapping", |_, t| {
        let x = t.exchange(
            ServerOpts::default(),
            calls(json!([{"method": "arith.divide", "params": {"a": 10, "b": 0}}])),
        );
        assert_rpc_error(&x.results[0], -32000, "division by zero", "divide by zero");
        assert_eq!(x.results[0]["data"], Value::Null);
    });
}

#[test]
fn validation_failure() {
    both_ways("validation", |_, t| {
        let x = t.exchange(
            ServerOpts::default(),
            calls(json!([{"method": "arith.add", "params": {"a": "two", "b": 3}}])),
        );
        let r = &x.results[0];
        assert_rpc_error(r, -32602, "invalid params", "add with a string");
        // Both sides name the failing field, each in its own layout (documented).
        let data = r["data"].to_string();
        assert!(
            data.contains("\"/a\"") || data.contains("[\"a\"]"),
            "{data}"
        );
    });
}

// ---- what clamator's suite leaves out --------------------------------------------------------

#[test]
fn invalid_result_is_an_internal_error() {
    both_ways("invalid-result", |_, t| {
        let opts = ServerOpts {
            faulty: true,
            ..ServerOpts::default()
        };
        let x = t.exchange(
            opts,
            calls(json!([{"method": "faulty.badResult", "params": {}}])),
        );
        assert_rpc_error(
            &x.results[0],
            -32603,
            "result validation failed",
            "bad result",
        );
    });
}

#[test]
fn unknown_method() {
    both_ways("unknown-method", |_, t| {
        let x = t.exchange(
            ServerOpts::default(),
            calls(json!([{"method": "arith.nope", "params": {}}])),
        );
        assert_rpc_error(&x.results[0], -32601, "method not found", "arith.nope");
        assert_eq!(x.results[0]["data"], Value::Null);
        assert_eq!(x.handled, 0);
    });
}

#[test]
fn hyphenated_method_names() {
    // clamator 0.1.9 tightened the method rule in Python too (its earlier docs said otherwise):
    // neither client sends `arith.do-thing`; each refuses it locally.
    both_ways("hyphen", |env, t| {
        let server = t.start_server(ServerOpts::default());
        let r = t.call(calls(json!([{"method": "arith.do-thing", "params": {}}])));
        assert_eq!(r[0]["kind"], "unknown-error", "{}", r[0]);
        assert!(
            r[0]["message"].as_str().unwrap().contains("invalid method"),
            "{}",
            r[0]
        );
        // What an older Python client would send: our server parses it and answers -32601;
        // the Python 0.1.9 server drops it as a poison message and the caller times out.
        let prefix = &t.prefix;
        raw_request(
            env,
            prefix,
            "arith",
            r#"{"jsonrpc": "2.0", "method": "arith.do-thing", "params": {}, "id": "h"}"#,
        );
        raw_request(
            env,
            prefix,
            "arith",
            r#"{"jsonrpc": "2.0", "method": "arith.add", "params": {"a": 1, "b": 1}, "id": "after"}"#,
        );
        // One server handles them in order: once "after" is answered, "h" was handled
        // (answered, or dropped), and no reply to it can come later.
        let replies = probe_replies_until(env, prefix, Duration::from_secs(10), |r| {
            r.iter().any(|r| r["id"] == "after")
        });
        let ids: Vec<&Value> = replies.iter().map(|r| &r["id"]).collect();
        match t.server {
            Lang::Rust => {
                assert_eq!(ids, [&json!("h"), &json!("after")], "{replies:?}");
                assert_eq!(replies[0]["error"]["code"], -32601);
            }
            Lang::Python => assert_eq!(ids, [&json!("after")], "{replies:?}"),
        }
        assert_eq!(server.stop(), 1);
    });
}

#[test]
fn params_null() {
    // `params: null`: we read it as `{}` (as TypeScript does), so the missing fields are
    // reported; Python rejects null itself. Either way the caller gets -32602.
    both_ways("params-null", |_, t| {
        let x = t.exchange(
            ServerOpts::default(),
            calls(json!([{"method": "arith.add", "params": null}])),
        );
        let r = &x.results[0];
        assert_rpc_error(r, -32602, "invalid params", "add with params null");
        let data = r["data"].to_string();
        match t.server {
            Lang::Rust => assert!(data.contains("missing required property"), "{data}"),
            Lang::Python => assert!(data.contains("model_type"), "{data}"),
        }
    });
}

// ---- declared application errors ---------------------------------------------------------

/// An inventory whose only working method is `reserve`: enough to answer with the errors its
/// contract declares.
pub(crate) struct Shelf;

impl inv::InventoryService for Shelf {
    async fn add_item(
        &self,
        _: inv::AddItemParams,
    ) -> Result<inv::AddItemResult, clamator_protocol::RpcError> {
        Err(clamator_protocol::RpcError::method_not_found())
    }

    async fn get_item(
        &self,
        _: inv::GetItemParams,
    ) -> Result<inv::GetItemResult, clamator_protocol::RpcError> {
        Err(clamator_protocol::RpcError::method_not_found())
    }

    async fn item_changed(
        &self,
        _: inv::ItemChangedParams,
    ) -> Result<(), clamator_protocol::RpcError> {
        Ok(())
    }

    async fn reserve(
        &self,
        p: inv::ReserveParams,
    ) -> Result<inv::ReserveResult, clamator_protocol::RpcError> {
        if p.id != "lamp-1" {
            return Err(inv::InventoryError::ItemNotFound.into());
        }
        if p.quantity > 3 {
            return Err(inv::InventoryError::OutOfStock(inv::OutOfStockData::new(3)).into());
        }
        Ok(inv::ReserveResult::new(3 - p.quantity))
    }

    async fn search(
        &self,
        _: inv::SearchParams,
    ) -> Result<inv::SearchResult, clamator_protocol::RpcError> {
        Err(clamator_protocol::RpcError::method_not_found())
    }

    async fn set_metadata(
        &self,
        _: inv::SetMetadataParams,
    ) -> Result<inv::SetMetadataResult, clamator_protocol::RpcError> {
        Err(clamator_protocol::RpcError::method_not_found())
    }
}

#[test]
fn declared_errors_reach_a_python_caller_as_json_rpc_errors() {
    let env = Env::new();
    let prefix = env.prefix("declared-errors", Lang::Rust, Lang::Python);
    let rt = tokio::runtime::Runtime::new().unwrap();
    let server = rt
        .block_on(async {
            clamator_redis::RedisServer::builder(
                clamator_redis::ServerConfig::new(&prefix).redis_url(env.url()),
            )
            .service(inv::inventory_service(Shelf)?)
            .start()
            .await
        })
        .unwrap();
    let r = client(
        Lang::Python,
        &env.url(),
        &prefix,
        calls(json!([
            {"method": "inventory.reserve", "params": {"id": "lamp-1", "quantity": 2}},
            {"method": "inventory.reserve", "params": {"id": "lamp-1", "quantity": 5}},
            {"method": "inventory.reserve", "params": {"id": "nope", "quantity": 1}},
        ])),
    );
    assert_result(&r[0], json!({"remaining": 1}), "reserve in stock");
    assert_rpc_error(&r[1], 4009, "not enough stock", "reserve too many");
    assert_eq!(r[1]["data"], json!({"available": 3}), "{}", r[1]);
    assert_rpc_error(&r[2], 4004, "item not found", "reserve an unknown item");
    assert_eq!(r[2]["data"], Value::Null, "{}", r[2]);
    rt.block_on(server.stop());
    env.clean(&prefix);
}
