//! Schema hashes and the manifest, in clamator's format (SHA-256 of the compact schema JSON,
//! key order kept).

use crate::names::locale_cmp;

use serde_json::{Map, Value};
use sha2::{Digest, Sha256};

/// The manifest's `generatedBy`.
pub(crate) fn generated_by() -> String {
    format!("clamator-rs/codegen v{}", env!("CARGO_PKG_VERSION"))
}

/// SHA-256, lowercase hex, of `schema` written as `JSON.stringify` writes it: compact, keys
/// in their order, non-ASCII raw, integral numbers without a fraction. For a schema exactly
/// as zod-to-json-schema emits it, this equals clamator's hash.
pub(crate) fn schema_hash(schema: &Value) -> String {
    let digest = Sha256::digest(js_stringify(schema).as_bytes());
    digest.iter().map(|b| format!("{b:02x}")).collect()
}

/// `JSON.stringify(value)`.
pub(crate) fn js_stringify(value: &Value) -> String {
    let mut out = String::new();
    write_js(value, &mut out);
    out
}

fn write_js(value: &Value, out: &mut String) {
    match value {
        Value::Object(map) => {
            out.push('{');
            for (i, (k, v)) in map.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                out.push_str(&Value::String(k.clone()).to_string());
                out.push(':');
                write_js(v, out);
            }
            out.push('}');
        }
        Value::Array(items) => {
            out.push('[');
            for (i, v) in items.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                write_js(v, out);
            }
            out.push(']');
        }
        Value::Number(n) => match n.as_f64() {
            // JavaScript has one number type: 5.0 prints as 5.
            Some(f) if !n.is_i64() && !n.is_u64() && f.fract() == 0.0 && f.abs() < 1e21 => {
                // `{:.0}` keeps the sign of -0.0; JavaScript prints it as 0.
                out.push_str(&format!("{:.0}", if f == 0.0 { 0.0 } else { f }));
            }
            _ => out.push_str(&n.to_string()),
        },
        other => out.push_str(&other.to_string()),
    }
}

/// One method's hashes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct MethodHashes {
    /// The wire name.
    pub(crate) name: String,
    /// Hash of the params schema.
    pub(crate) params_hash: String,
    /// Hash of the result schema; `None` for notifications.
    pub(crate) result_hash: Option<String>,
}

/// One event's hash.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct EventHash {
    /// The wire name.
    pub(crate) name: String,
    /// Hash of the payload schema.
    pub(crate) payload_hash: String,
}

/// One service's entries in the manifest.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct ServiceHashes {
    /// The service name.
    pub(crate) service: String,
    /// Its methods.
    pub(crate) methods: Vec<MethodHashes>,
    /// Its events; empty for most.
    pub(crate) events: Vec<EventHash>,
}

/// The manifest text: two-space JSON with a trailing newline, services and methods sorted
/// as clamator sorts them.
///
/// Events go in a top-level `events` object (`{"<service>": {"<event>": {"payloadHash"}}}`)
/// written only when some contract has events: `contracts` keeps clamator's layout, which
/// clamator's tools read as service → method → hashes, so an event there would pass for a
/// method; and a manifest of contracts without events stays byte for byte what it was.
pub(crate) fn manifest_json(services: &[ServiceHashes]) -> String {
    let mut sorted: Vec<&ServiceHashes> = services.iter().collect();
    sorted.sort_by(|a, b| locale_cmp(&a.service, &b.service));
    let mut contracts = Map::new();
    let mut events = Map::new();
    for ServiceHashes {
        service,
        methods,
        events: service_events,
    } in sorted
    {
        if !service_events.is_empty() {
            let mut es: Vec<&EventHash> = service_events.iter().collect();
            es.sort_by(|a, b| locale_cmp(&a.name, &b.name));
            let mut obj = Map::new();
            for e in es {
                let mut h = Map::new();
                h.insert("payloadHash".into(), Value::String(e.payload_hash.clone()));
                obj.insert(e.name.clone(), Value::Object(h));
            }
            events.insert(service.clone(), Value::Object(obj));
        }
        let mut ms: Vec<&MethodHashes> = methods.iter().collect();
        ms.sort_by(|a, b| locale_cmp(&a.name, &b.name));
        let mut obj = Map::new();
        for m in ms {
            let mut h = Map::new();
            h.insert("paramsHash".into(), Value::String(m.params_hash.clone()));
            h.insert(
                "resultHash".into(),
                m.result_hash.clone().map_or(Value::Null, Value::String),
            );
            obj.insert(m.name.clone(), Value::Object(h));
        }
        contracts.insert(service.clone(), Value::Object(obj));
    }
    let mut root = Map::new();
    root.insert("generatedBy".into(), Value::String(generated_by()));
    root.insert("contracts".into(), Value::Object(contracts));
    if !events.is_empty() {
        root.insert("events".into(), Value::Object(events));
    }
    let mut text = serde_json::to_string_pretty(&Value::Object(root)).unwrap_or_default();
    text.push('\n');
    text
}

/// Replaces every `{"$ref": "#/$defs/X"}` with the definition, so one schema stands alone
/// (for hashing, and for validation without the `$defs`). Recursive refs were refused when
/// lowering.
pub(crate) fn inline_refs(schema: &Value, defs: &Map<String, Value>) -> Value {
    inline(schema, defs, 0)
}

fn inline(schema: &Value, defs: &Map<String, Value>, depth: usize) -> Value {
    if depth > 64 {
        return schema.clone();
    }
    match schema {
        Value::Object(map) => {
            if let Some(target) = map
                .get("$ref")
                .and_then(Value::as_str)
                .and_then(crate::load::def_name)
            {
                if let Some(def) = defs.get(target) {
                    return inline(def, defs, depth + 1);
                }
            }
            Value::Object(
                map.iter()
                    .map(|(k, v)| (k.clone(), inline(v, defs, depth + 1)))
                    .collect(),
            )
        }
        Value::Array(items) => {
            Value::Array(items.iter().map(|v| inline(v, defs, depth + 1)).collect())
        }
        other => other.clone(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn orders_like_locale_compare() {
        let mut v = vec!["addX", "adda", "add1", "add-x", "add_x", "Add"];
        v.sort_by(|a, b| locale_cmp(a, b));
        assert_eq!(v, ["Add", "add_x", "add-x", "add1", "adda", "addX"]);
        let mut v = vec!["slowAdd", "echoText", "divide", "add"];
        v.sort_by(|a, b| locale_cmp(a, b));
        assert_eq!(v, ["add", "divide", "echoText", "slowAdd"]);
    }

    #[test]
    fn stringifies_numbers_as_javascript_does() {
        let v: Value = serde_json::from_str(r#"{"b":5.0,"a":[1,2.5,-0.0,"é"]}"#).unwrap();
        assert_eq!(js_stringify(&v), r#"{"b":5,"a":[1,2.5,0,"é"]}"#);
    }
}
