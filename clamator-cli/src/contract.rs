//! Contracts as the CLI knows them: a contract file (`contracts/<service>.json`, the format
//! clamator-codegen reads) or the contract a server published at
//! `<prefix>:contracts:<service>`, and checking params against them before a call.

use std::path::Path;

use clamator_protocol::SchemaValidator;
use clamator_redis::RedisConnection;
use serde_json::Value;

use crate::error::CliError;
use crate::query::Query;

/// One method of a contract.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct MethodSchema {
    /// The wire name.
    pub(crate) name: String,
    /// True for notifications.
    pub(crate) notification: bool,
    /// The params schema, standing alone (its `$ref`s resolve inside it).
    pub(crate) params: Value,
    /// The result schema; `None` for notifications.
    pub(crate) result: Option<Value>,
}

/// A service's contract.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Contract {
    /// The service name.
    pub(crate) service: String,
    /// The methods.
    pub(crate) methods: Vec<MethodSchema>,
    /// Where it came from, for messages: a file path or a Redis key.
    pub(crate) source: String,
}

impl Contract {
    /// Reads a contract file.
    pub(crate) fn from_file(path: &Path) -> Result<Self, CliError> {
        let text = std::fs::read_to_string(path)
            .map_err(|e| CliError::Usage(format!("cannot read {}: {e}", path.display())))?;
        let value: Value = serde_json::from_str(&text)
            .map_err(|e| CliError::Usage(format!("{} is not valid JSON: {e}", path.display())))?;
        Self::from_file_value(&value, &path.display().to_string()).map_err(CliError::Usage)
    }

    /// A contract in the file format: `{"service", "methods": {"<name>": {"params",
    /// "result"?, "notification"?}}, "$defs"?}`. Shared `$defs` are copied into each schema
    /// that has none, so `#/$defs/…` references resolve.
    fn from_file_value(value: &Value, source: &str) -> Result<Self, String> {
        let service = value
            .get("service")
            .and_then(Value::as_str)
            .ok_or_else(|| format!("{source}: a contract needs a \"service\" string"))?;
        let methods = value
            .get("methods")
            .and_then(Value::as_object)
            .ok_or_else(|| format!("{source}: a contract needs a \"methods\" object"))?;
        let defs = value.get("$defs").and_then(Value::as_object);
        let with_defs = |schema: &Value| -> Value {
            match (schema, defs) {
                (Value::Object(map), Some(defs)) if !map.contains_key("$defs") => {
                    let mut map = map.clone();
                    map.insert("$defs".to_owned(), Value::Object(defs.clone()));
                    Value::Object(map)
                }
                _ => schema.clone(),
            }
        };
        let mut out = Vec::new();
        for (name, def) in methods {
            let params = def
                .get("params")
                .ok_or_else(|| format!("{source}: method \"{name}\" has no params schema"))?;
            out.push(MethodSchema {
                name: name.clone(),
                notification: def.get("notification").and_then(Value::as_bool) == Some(true),
                params: with_defs(params),
                result: def.get("result").map(with_defs),
            });
        }
        Ok(Self {
            service: service.to_owned(),
            methods: out,
            source: source.to_owned(),
        })
    }

    /// A contract as servers publish it: `{"service", "methods": [{"name", "notification",
    /// "paramsSchema", "resultSchema", "paramsHash", "resultHash"}], "publishedBy",
    /// "publishedAt"}`.
    pub(crate) fn from_published(value: &Value, source: &str) -> Result<Self, CliError> {
        let bad = |what: &str| {
            CliError::Remote(format!(
                "the contract published at {source} is malformed: {what}"
            ))
        };
        let service = value
            .get("service")
            .and_then(Value::as_str)
            .ok_or_else(|| bad("no \"service\" string"))?;
        let methods = value
            .get("methods")
            .and_then(Value::as_array)
            .ok_or_else(|| bad("no \"methods\" list"))?;
        let mut out = Vec::new();
        for m in methods {
            let name = m
                .get("name")
                .and_then(Value::as_str)
                .ok_or_else(|| bad("a method without a \"name\""))?;
            out.push(MethodSchema {
                name: name.to_owned(),
                notification: m.get("notification").and_then(Value::as_bool) == Some(true),
                params: m
                    .get("paramsSchema")
                    .cloned()
                    .ok_or_else(|| bad(&format!("method \"{name}\" has no paramsSchema")))?,
                result: m.get("resultSchema").filter(|s| !s.is_null()).cloned(),
            });
        }
        Ok(Self {
            service: service.to_owned(),
            methods: out,
            source: source.to_owned(),
        })
    }

    /// The method called `name`; a usage error naming the methods there are otherwise.
    pub(crate) fn method(&self, name: &str) -> Result<&MethodSchema, CliError> {
        self.methods.iter().find(|m| m.name == name).ok_or_else(|| {
            let names: Vec<&str> = self.methods.iter().map(|m| m.name.as_str()).collect();
            CliError::Usage(format!(
                "{} has no method \"{name}\" in its contract ({}); it has: {}",
                self.service,
                self.source,
                names.join(", ")
            ))
        })
    }

    /// Checks `params` of `method` as servers do (draft 7, `null` accepted for optional
    /// properties); every problem is reported with its JSON Pointer.
    pub(crate) fn check_params(&self, method: &str, params: &Value) -> Result<(), CliError> {
        let m = self.method(method)?;
        let validator = SchemaValidator::new(m.params.clone())
            .map_err(|e| {
                CliError::Usage(format!(
                    "the params schema of {}.{method} ({}) does not compile: {e}",
                    self.service, self.source
                ))
            })?
            .accepting_null_for_optional();
        validator.validate(params).map_err(|issues| {
            let listed: Vec<String> = issues
                .iter()
                .map(|i| {
                    let at = if i.path.is_empty() { "(root)" } else { &i.path };
                    format!("{at}: {}", i.message)
                })
                .collect();
            CliError::Invalid {
                message: format!(
                    "params of {}.{method} do not match its contract ({}): {}",
                    self.service,
                    self.source,
                    listed.join("; ")
                ),
                issues,
            }
        })
    }
}

/// The most of a published contract read: what clamator-redis's drift check reads too.
const MAX_DOCUMENT_BYTES: usize = 4 << 20;

/// The contract document published for `service`, if any: `GETRANGE
/// <prefix>:contracts:<service> 0 <4 MiB>` (bounded, as clamator-redis reads it).
pub(crate) async fn fetch_published(
    conn: &mut RedisConnection,
    prefix: &str,
    service: &str,
) -> Result<Option<(Value, String)>, CliError> {
    let key = clamator_redis::keys::contract_key(prefix, service);
    let bytes: Vec<u8> = conn
        .query(
            redis::cmd("GETRANGE")
                .arg(&key)
                .arg(0)
                .arg(MAX_DOCUMENT_BYTES),
        )
        .await?;
    // A missing key reads as empty.
    if bytes.is_empty() {
        return Ok(None);
    }
    if bytes.len() > MAX_DOCUMENT_BYTES {
        return Err(CliError::Remote(format!(
            "{key} holds more than {} MiB: not a contract",
            MAX_DOCUMENT_BYTES >> 20
        )));
    }
    let value: Value = serde_json::from_slice(&bytes).map_err(|e| {
        CliError::Remote(format!(
            "the contract published at {key} is not valid JSON: {e}"
        ))
    })?;
    Ok(Some((value, key)))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn file_contracts_carry_their_defs_into_each_schema() {
        let file = json!({
            "service": "shop",
            "$defs": {"Item": {"type": "object", "properties": {"sku": {"type": "string"}}, "required": ["sku"]}},
            "methods": {"add": {"params": {"type": "object", "properties": {"item": {"$ref": "#/$defs/Item"}}, "required": ["item"]},
                                 "result": {"type": "null"}}}
        });
        let c = Contract::from_file_value(&file, "shop.json").unwrap();
        assert!(c
            .check_params("add", &json!({"item": {"sku": "a"}}))
            .is_ok());
        let e = c.check_params("add", &json!({"item": {}})).unwrap_err();
        assert_eq!(e.exit_code(), 2);
        assert!(e.to_string().contains("/item"), "{e}");
        let missing = c.method("remove").unwrap_err();
        assert!(missing.to_string().contains("it has: add"), "{missing}");
    }

    #[test]
    fn published_contracts_read_their_schemas() {
        let doc = json!({"service": "arith", "methods": [
            {"name": "add", "notification": false, "paramsSchema": {"type": "object", "required": ["a"]},
             "resultSchema": null, "paramsHash": "x", "resultHash": null}]});
        let c = Contract::from_published(&doc, "p:contracts:arith").unwrap();
        assert!(c.check_params("add", &json!({})).is_err());
        assert!(Contract::from_published(&json!({"service": 1}), "k").is_err());
    }
}
