//! Published contracts, the way gRPC server reflection lets tools describe a service without
//! its source: a server writes the contract of each service it serves to
//! `<prefix>:contracts:<service>` at start, a string holding one JSON document:
//!
//! ```json
//! {"service": "arith",
//!  "methods": [{"name": "add", "notification": false,
//!               "paramsSchema": {…}, "resultSchema": {…},
//!               "paramsHash": "<sha256 hex>", "resultHash": "<sha256 hex>"}],
//!  "events": [{"name": "added", "payloadSchema": {…}, "payloadHash": "<sha256 hex>"}],
//!  "errors": [{"name": "Overflow", "code": 4001, "message": "overflow"}],
//!  "publishedBy": "clamator-rs 0.1.0", "publishedAt": 1796000000000}
//! ```
//!
//! Clients can compare the hashes they were generated from with it
//! ([`TransportConfig::expect_contract`](crate::TransportConfig::expect_contract)). Only our
//! servers write the key; clamator's peers never read or write it.

use std::time::{SystemTime, UNIX_EPOCH};

use clamator_protocol::{ContractInfo, Error, Service};
use serde_json::{json, Value};

use crate::connection::{redis_failure, RedisConn};
use crate::keys;

/// The published document of `contract`.
pub(crate) fn document(contract: &ContractInfo) -> String {
    let schema = |text: &str| serde_json::from_str::<Value>(text).unwrap_or(Value::Null);
    let methods: Vec<Value> = contract
        .methods
        .iter()
        .map(|m| {
            json!({
                "name": m.name,
                "notification": m.notification,
                "paramsSchema": schema(m.params_schema),
                "resultSchema": m.result_schema.map(schema),
                "paramsHash": m.params_hash,
                "resultHash": m.result_hash,
            })
        })
        .collect();
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX));
    let events: Vec<Value> = contract
        .events
        .iter()
        .map(|e| {
            json!({
                "name": e.name,
                "payloadSchema": schema(e.payload_schema),
                "payloadHash": e.payload_hash,
            })
        })
        .collect();
    let errors: Vec<Value> = contract
        .errors
        .iter()
        .map(|e| json!({ "name": e.name, "code": e.code, "message": e.message }))
        .collect();
    json!({
        "service": contract.service,
        "methods": methods,
        "events": events,
        "errors": errors,
        "publishedBy": concat!("clamator-rs ", env!("CARGO_PKG_VERSION")),
        "publishedAt": now,
    })
    .to_string()
}

/// Writes the contract of every service that declares one. A failed write is logged, not
/// fatal: the contract is for tools and drift checks, and serving does not depend on it.
pub(crate) async fn publish<'a>(
    conn: &RedisConn,
    prefix: &str,
    services: impl Iterator<Item = &'a Service>,
) {
    for service in services {
        let Some(contract) = service.contract() else {
            continue;
        };
        let key = keys::contract_key(prefix, service.name());
        let written = redis::cmd("SET")
            .arg(&key)
            .arg(document(contract))
            .query_async::<()>(&mut conn.clone())
            .await;
        match written {
            Ok(()) => tracing::debug!(service = service.name(), key, "contract published"),
            Err(e) => tracing::warn!(
                service = service.name(),
                key,
                error = %e,
                "cannot publish the contract; serving goes on"
            ),
        }
    }
}

/// The most of a published contract a client reads: real contracts are kilobytes; a key
/// overwritten with something huge must not stall or bloat a connecting client.
const MAX_DOCUMENT_BYTES: usize = 4 << 20;

/// How the published contract of a service differs from the one a client was generated
/// from: one line per difference. Empty when they match or when none is published. Fails
/// only when Redis cannot be asked (unreachable, or an ACL without read access to the key).
pub(crate) async fn drift(
    conn: &RedisConn,
    prefix: &str,
    expected: &ContractInfo,
) -> Result<Vec<String>, Error> {
    let key = keys::contract_key(prefix, expected.service);
    let read: Result<Option<Vec<u8>>, _> = redis::cmd("GETRANGE")
        .arg(&key)
        .arg(0)
        .arg(MAX_DOCUMENT_BYTES)
        .query_async(&mut conn.clone())
        .await;
    let published = match read {
        Ok(Some(bytes)) if bytes.is_empty() => return Ok(Vec::new()),
        Ok(Some(bytes)) => bytes,
        Ok(None) => return Ok(Vec::new()),
        Err(e) if e.code() == Some("WRONGTYPE") => {
            return Ok(vec![format!("{key} is not a string")]);
        }
        Err(e) => return Err(redis_failure(format!("cannot read {key}"), e)),
    };
    if published.len() > MAX_DOCUMENT_BYTES {
        return Ok(vec![format!(
            "{key} holds more than {} MiB, not a contract",
            MAX_DOCUMENT_BYTES >> 20
        )]);
    }
    Ok(differences(expected, &String::from_utf8_lossy(&published)))
}

fn differences(expected: &ContractInfo, published: &str) -> Vec<String> {
    let service = expected.service;
    let Ok(doc) = serde_json::from_str::<Value>(published) else {
        return vec![format!("{service}: the published contract is not JSON")];
    };
    let methods = doc["methods"].as_array().map(Vec::as_slice).unwrap_or(&[]);
    let find = |name: &str| methods.iter().find(|m| m["name"] == name);
    let mut out = Vec::new();
    for m in expected.methods {
        let Some(p) = find(m.name) else {
            out.push(format!("{service}.{}: not served", m.name));
            continue;
        };
        if p["paramsHash"] != m.params_hash {
            out.push(format!(
                "{service}.{}: params schema differs (ours {}, served {})",
                m.name, m.params_hash, p["paramsHash"]
            ));
        }
        if p["resultHash"] != json!(m.result_hash) {
            out.push(format!(
                "{service}.{}: result schema differs (ours {}, served {})",
                m.name,
                m.result_hash.unwrap_or("none"),
                p["resultHash"]
            ));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use clamator_protocol::MethodInfo;

    use super::*;

    static ARITH: ContractInfo = ContractInfo {
        service: "arith",
        methods: &[MethodInfo {
            name: "add",
            notification: false,
            params_schema: r#"{"type":"object"}"#,
            result_schema: Some(r#"{"type":"object"}"#),
            params_hash: "aa",
            result_hash: Some("bb"),
        }],
        events: &[clamator_protocol::EventInfo {
            name: "added",
            payload_schema: r#"{"type":"object","required":["sum"]}"#,
            payload_hash: "dd",
        }],
        errors: &[clamator_protocol::ErrorInfo {
            name: "Overflow",
            code: 4001,
            message: "overflow",
        }],
    };

    #[test]
    fn a_published_document_matches_its_own_contract() {
        let doc = document(&ARITH);
        let v: Value = serde_json::from_str(&doc).unwrap();
        assert_eq!(v["service"], "arith");
        assert_eq!(v["methods"][0]["paramsSchema"], json!({"type": "object"}));
        assert_eq!(v["methods"][0]["resultHash"], "bb");
        assert_eq!(v["events"][0]["name"], "added");
        assert_eq!(v["events"][0]["payloadSchema"]["required"][0], "sum");
        assert_eq!(v["events"][0]["payloadHash"], "dd");
        assert_eq!(
            v["errors"],
            json!([{"name": "Overflow", "code": 4001, "message": "overflow"}])
        );
        assert!(differences(&ARITH, &doc).is_empty());
    }

    #[test]
    fn drift_names_each_difference() {
        let doc = document(&ARITH).replace("\"bb\"", "\"cc\"");
        let d = differences(&ARITH, &doc);
        assert_eq!(d.len(), 1, "{d:?}");
        assert!(d[0].contains("arith.add: result schema differs"), "{d:?}");
        let none = r#"{"service":"arith","methods":[]}"#;
        assert_eq!(differences(&ARITH, none), ["arith.add: not served"]);
        assert_eq!(
            differences(&ARITH, "{oops"),
            ["arith: the published contract is not JSON"]
        );
    }
}
