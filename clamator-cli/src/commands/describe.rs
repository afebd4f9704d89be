//! `clamator describe <service>[.method]`: the contract a service published
//! (`<prefix>:contracts:<service>`): its methods, their params and result schemas and
//! hashes.

use serde_json::{json, Value};

use crate::contract::fetch_published;
use crate::error::CliError;
use crate::output::{self, Table};
use crate::Ctx;

/// Arguments of `clamator describe`.
#[derive(clap::Args, Debug)]
pub(crate) struct Args {
    /// `<service>`, or `<service>.<method>` for one method's schemas.
    #[arg(value_name = "SERVICE[.METHOD]")]
    what: String,
}

/// Runs `clamator describe`.
pub(crate) async fn run(ctx: &Ctx, args: Args) -> Result<(), CliError> {
    let (service, method) = match args.what.split_once('.') {
        Some((s, m)) => (s, Some(m)),
        None => (args.what.as_str(), None),
    };
    if !clamator_protocol::names::is_valid_service(service) {
        return Err(CliError::Usage(format!(
            "invalid service name {service:?} (it must match ^[a-z][a-z0-9-]*$)"
        )));
    }
    let prefix = ctx.prefix()?;
    let mut conn = ctx.connect().await?;
    let Some((doc, key)) = fetch_published(&mut conn, prefix, service).await? else {
        return Err(CliError::Remote(format!(
            "no contract published for \"{service}\" (no key {}); servers publish theirs at start",
            clamator_redis::keys::contract_key(prefix, service)
        )));
    };
    let methods: Vec<Value> = doc
        .get("methods")
        .and_then(Value::as_array)
        .cloned()
        .ok_or_else(|| {
            CliError::Remote(format!(
                "the contract published at {key} is malformed: no \"methods\" list"
            ))
        })?;
    let name_of = |m: &Value| {
        m.get("name")
            .and_then(Value::as_str)
            .unwrap_or("")
            .to_owned()
    };

    if let Some(method) = method {
        let Some(m) = methods.iter().find(|m| name_of(m) == method) else {
            let names: Vec<String> = methods.iter().map(name_of).collect();
            return Err(CliError::Remote(format!(
                "{service} has no method \"{method}\" in its published contract; it has: {}",
                names.join(", ")
            )));
        };
        if ctx.json {
            output::json(&json!({
                "service": service,
                "publishedBy": doc.get("publishedBy"),
                "publishedAt": doc.get("publishedAt"),
                "method": m,
            }));
            return Ok(());
        }
        let field = |k: &str| m.get(k).cloned().unwrap_or(Value::Null);
        let kind = if field("notification") == json!(true) {
            "notification"
        } else {
            "call"
        };
        output::line(&format!("{service}.{method} ({kind})"));
        output::line(&format!("params hash: {}", text(&field("paramsHash"))));
        output::line(&format!("result hash: {}", text(&field("resultHash"))));
        output::line("params schema:");
        output::pretty(&field("paramsSchema"));
        if kind == "call" {
            output::line("result schema:");
            output::pretty(&field("resultSchema"));
        }
        return Ok(());
    }

    if ctx.json {
        output::json(&doc);
        return Ok(());
    }
    output::line(&format!(
        "{service}: {} methods, published by {} at {}",
        methods.len(),
        text(doc.get("publishedBy").unwrap_or(&Value::Null)),
        doc.get("publishedAt")
            .and_then(Value::as_u64)
            .map_or("-".to_owned(), |at| format!(
                "{} ({} ago)",
                output::utc(at),
                output::millis(output::now_ms().saturating_sub(at))
            )),
    ));
    let mut table = Table::new(&["METHOD", "KIND", "PARAMS", "PARAMS HASH", "RESULT HASH"]);
    for m in &methods {
        let notification = m.get("notification") == Some(&json!(true));
        table.row(vec![
            name_of(m),
            if notification { "notification" } else { "call" }.to_owned(),
            params_summary(m.get("paramsSchema")),
            short(m.get("paramsHash")),
            short(m.get("resultHash")),
        ]);
    }
    table.print();
    // Published by clamator-rs 0.2 and later; an older document has neither list.
    let list = |key: &str| {
        doc.get(key)
            .and_then(Value::as_array)
            .cloned()
            .unwrap_or_default()
    };
    let events = list("events");
    if !events.is_empty() {
        output::line("");
        let mut table = Table::new(&["EVENT", "PAYLOAD", "PAYLOAD HASH"]);
        for e in &events {
            table.row(vec![
                name_of(e),
                params_summary(e.get("payloadSchema")),
                short(e.get("payloadHash")),
            ]);
        }
        table.print();
    }
    let errors = list("errors");
    if !errors.is_empty() {
        output::line("");
        let mut table = Table::new(&["ERROR", "CODE", "MESSAGE"]);
        for e in &errors {
            table.row(vec![
                name_of(e),
                e.get("code").map_or("-".to_owned(), text),
                e.get("message").map_or("-".to_owned(), text),
            ]);
        }
        table.print();
    }
    Ok(())
}

fn text(v: &Value) -> String {
    match v {
        Value::Null => "-".to_owned(),
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

/// The first 12 hex digits of a hash.
fn short(v: Option<&Value>) -> String {
    v.and_then(Value::as_str)
        .map_or("-".to_owned(), |h| h.chars().take(12).collect())
}

/// An object schema's properties, required ones first and unmarked, optional ones with `?`:
/// `a, b, tag?`.
fn params_summary(schema: Option<&Value>) -> String {
    let Some(props) = schema
        .and_then(|s| s.get("properties"))
        .and_then(Value::as_object)
    else {
        return "-".to_owned();
    };
    let required: Vec<&str> = schema
        .and_then(|s| s.get("required"))
        .and_then(Value::as_array)
        .map(|r| r.iter().filter_map(Value::as_str).collect())
        .unwrap_or_default();
    let names: Vec<String> = props
        .keys()
        .map(|k| {
            if required.contains(&k.as_str()) {
                k.clone()
            } else {
                format!("{k}?")
            }
        })
        .collect();
    output::cut(&names.join(", "), 48)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn params_are_summarised_by_property() {
        let schema =
            json!({"type": "object", "properties": {"a": {}, "tag": {}}, "required": ["a"]});
        assert_eq!(params_summary(Some(&schema)), "a, tag?");
        assert_eq!(params_summary(None), "-");
        assert_eq!(short(Some(&json!("0123456789abcdef"))), "0123456789ab");
    }
}
