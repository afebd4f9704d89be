//! `clamator services`: every service under the prefix, its command streams, consumer
//! groups and consumers, and whether it published a contract; and every publisher of
//! events, its event stream and the subscribers' groups on it.

use clamator_redis::RedisConnection;
use serde_json::{json, Value};

use crate::error::CliError;
use crate::output::{self, Table};
use crate::query::Query;
use crate::streams::{self, CommandStream};
use crate::Ctx;

/// Arguments of `clamator services`.
#[derive(clap::Args, Debug)]
pub(crate) struct Args {}

/// Runs `clamator services`.
pub(crate) async fn run(ctx: &Ctx, _args: Args) -> Result<(), CliError> {
    let prefix = ctx.prefix()?;
    let mut conn = ctx.connect().await?;
    let doc = collect(&mut conn, prefix).await?;
    if ctx.json {
        output::json(&doc);
        return Ok(());
    }
    let services = doc["services"].as_array().cloned().unwrap_or_default();
    let publishers = doc["publishers"].as_array().cloned().unwrap_or_default();
    if services.is_empty() && publishers.is_empty() {
        output::line(&format!("no services under prefix \"{prefix}\""));
        return Ok(());
    }
    if !services.is_empty() {
        print_tables(&services);
    }
    if !publishers.is_empty() {
        if !services.is_empty() {
            output::line("");
        }
        print_publishers(&publishers);
    }
    Ok(())
}

/// The document `services --json` prints (and the dashboard shows): every service under
/// `prefix` with its streams, groups and consumers, and every publisher with its
/// subscribers.
pub(crate) async fn collect(conn: &mut RedisConnection, prefix: &str) -> Result<Value, CliError> {
    let mut services = Vec::new();
    for (service, streams) in streams::all_services(conn, prefix).await? {
        services.push(describe_service(conn, prefix, &service, &streams).await?);
    }
    let mut publishers = Vec::new();
    for (publisher, key) in streams::all_publishers(conn, prefix).await? {
        let length: u64 = conn.query(redis::cmd("XLEN").arg(&key)).await?;
        publishers.push(json!({
            "publisher": publisher,
            "key": key,
            "length": length,
            "subscribers": groups(conn, &key).await?,
        }));
    }
    Ok(json!({
        "prefix": prefix,
        "services": services,
        "publishers": publishers,
    }))
}

/// The consumer groups of the stream `key`, each with its consumers, as the JSON document
/// describes them: a service's group on a command stream, the subscribers' on an event
/// stream.
async fn groups(conn: &mut RedisConnection, key: &str) -> Result<Vec<Value>, CliError> {
    let mut groups = Vec::new();
    for group in streams::groups(conn, key).await? {
        let consumers: Vec<Value> = streams::consumers(conn, key, &group.name)
            .await?
            .into_iter()
            .map(|c| {
                let instance = c
                    .name
                    .strip_prefix(&format!("{}:", group.name))
                    .map(str::to_owned);
                json!({
                    "name": c.name,
                    "instance": instance,
                    "pending": c.pending,
                    "idleMs": c.idle_ms,
                    "inactiveMs": c.inactive_ms,
                    "language": language(&c.name),
                })
            })
            .collect();
        groups.push(json!({
            "name": group.name,
            "pending": group.pending,
            "lag": group.lag,
            "lastDeliveredId": group.last_delivered_id,
            "entriesRead": group.entries_read,
            "consumers": consumers,
        }));
    }
    Ok(groups)
}

/// One service as the JSON document describes it.
async fn describe_service(
    conn: &mut RedisConnection,
    prefix: &str,
    service: &str,
    streams: &[CommandStream],
) -> Result<Value, CliError> {
    let contract = match crate::contract::fetch_published(conn, prefix, service).await {
        Ok(Some((doc, _))) => json!({
            "publishedBy": doc.get("publishedBy"),
            "publishedAt": doc.get("publishedAt"),
            "methods": doc.get("methods").and_then(Value::as_array).map_or(0, Vec::len),
        }),
        Ok(None) => Value::Null,
        Err(CliError::Remote(e)) => json!({ "error": e }),
        Err(e) => return Err(e),
    };
    let mut out_streams = Vec::new();
    for stream in streams {
        let length: u64 = conn.query(redis::cmd("XLEN").arg(&stream.key)).await?;
        let groups = groups(conn, &stream.key).await?;
        out_streams.push(json!({
            "key": stream.key,
            "partition": stream.partition,
            "length": length,
            "groups": groups,
        }));
    }
    Ok(json!({
        "service": service,
        "contract": contract,
        "streams": out_streams,
    }))
}

/// The language of the server behind a consumer, when its name tells. Rust
/// (`ServerConfig`), Python and TypeScript clamator all name consumers
/// `<service>:<instance id>` with a random UUID v4 for the instance id by default, so the
/// name tells only when a deployment chose instance ids that say it: `None` otherwise.
pub(crate) fn language(consumer: &str) -> Option<&'static str> {
    let instance = consumer.split_once(':').map_or(consumer, |(_, i)| i);
    let lower = instance.to_ascii_lowercase();
    let word = |w: &str| {
        lower
            .split(|c: char| !c.is_ascii_alphanumeric())
            .any(|part| part == w)
    };
    if word("rust") || word("rs") {
        Some("rust")
    } else if word("python") || word("py") {
        Some("python")
    } else if word("typescript") || word("ts") || word("node") {
        Some("typescript")
    } else {
        None
    }
}

fn print_tables(services: &[Value]) {
    let text = output::cell;
    let mut table = Table::new(&[
        "SERVICE",
        "STREAM",
        "LENGTH",
        "GROUP",
        "CONSUMERS",
        "PENDING",
        "LAG",
        "CONTRACT",
    ]);
    let mut consumers = Table::new(&[
        "CONSUMER", "SERVICE", "STREAM", "PENDING", "IDLE", "INACTIVE", "LANGUAGE",
    ]);
    for s in services {
        let service = text(&s["service"]);
        let contract = match &s["contract"] {
            Value::Null => "no".to_owned(),
            c if c.get("error").is_some() => "malformed".to_owned(),
            c => format!("yes ({})", text(&c["publishedBy"])),
        };
        let streams = s["streams"].as_array().cloned().unwrap_or_default();
        if streams.is_empty() {
            table.row(vec![
                service.clone(),
                "-".into(),
                "-".into(),
                "-".into(),
                "-".into(),
                "-".into(),
                "-".into(),
                contract.clone(),
            ]);
        }
        for stream in &streams {
            let groups = stream["groups"].as_array().cloned().unwrap_or_default();
            let first_cells = |group: &str, n: String, pending: String, lag: String| {
                vec![
                    service.clone(),
                    text(&stream["key"]),
                    text(&stream["length"]),
                    group.to_owned(),
                    n,
                    pending,
                    lag,
                    contract.clone(),
                ]
            };
            if groups.is_empty() {
                table.row(first_cells("-", "0".into(), "-".into(), "-".into()));
            }
            for g in &groups {
                let list = g["consumers"].as_array().cloned().unwrap_or_default();
                table.row(first_cells(
                    &text(&g["name"]),
                    list.len().to_string(),
                    text(&g["pending"]),
                    text(&g["lag"]),
                ));
                for c in &list {
                    consumers.row(vec![
                        text(&c["name"]),
                        service.clone(),
                        text(&stream["key"]),
                        text(&c["pending"]),
                        c["idleMs"].as_u64().map_or("-".into(), output::millis),
                        c["inactiveMs"].as_u64().map_or("-".into(), output::millis),
                        text(&c["language"]),
                    ]);
                }
            }
        }
    }
    table.print();
    if !consumers.is_empty() {
        output::line("");
        consumers.print();
    }
}

/// The publishers' table: one row per subscriber group on each event stream.
fn print_publishers(publishers: &[Value]) {
    let text = output::cell;
    let mut table = Table::new(&[
        "PUBLISHER",
        "STREAM",
        "LENGTH",
        "SUBSCRIBER",
        "CONSUMERS",
        "PENDING",
        "LAG",
    ]);
    for p in publishers {
        let cells = |subscriber: String, n: String, pending: String, lag: String| {
            vec![
                text(&p["publisher"]),
                text(&p["key"]),
                text(&p["length"]),
                subscriber,
                n,
                pending,
                lag,
            ]
        };
        let subscribers = p["subscribers"].as_array().cloned().unwrap_or_default();
        if subscribers.is_empty() {
            table.row(cells("-".into(), "0".into(), "-".into(), "-".into()));
        }
        for g in &subscribers {
            let n = g["consumers"].as_array().map_or(0, Vec::len);
            table.row(cells(
                text(&g["name"]),
                n.to_string(),
                text(&g["pending"]),
                text(&g["lag"]),
            ));
        }
    }
    table.print();
}

#[cfg(test)]
mod tests {
    use super::language;

    #[test]
    fn a_uuid_instance_tells_no_language() {
        assert_eq!(language("arith:0b8e1f0e-5c1a-4b7e-9d52-3f0f6f7f2a10"), None);
        assert_eq!(language("arith:worker-py-3"), Some("python"));
        assert_eq!(language("arith:rust-a"), Some("rust"));
        // A word, not a substring: "copy" is not Python.
        assert_eq!(language("arith:copy-1"), None);
    }
}
