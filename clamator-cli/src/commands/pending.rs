//! `clamator pending <service|subscriber>`: the entries delivered to the consumers of a
//! service (or of a subscriber, on the event streams it reads) and not acknowledged yet (`XPENDING`, extended form), each with its consumer, idle time and
//! delivery count, and the method and JSON-RPC id its envelope names (`XRANGE` of its id).

use std::time::Duration;

use clamator_protocol::envelope::parse_envelope;
use clamator_protocol::{Envelope, RpcId};
use clamator_redis::RedisConnection;
use redis::Value;
use serde_json::{json, Value as Json};

use crate::error::CliError;
use crate::output::{self, Table};
use crate::query::Query;
use crate::streams::{self, field};
use crate::Ctx;

/// Arguments of `clamator pending`.
#[derive(clap::Args, Debug)]
pub(crate) struct Args {
    /// The service; or a subscriber (its group on every event stream it reads), or
    /// `publisher/subscriber` (its group on that publisher's events).
    service: String,
    /// At most this many entries per command stream, oldest first.
    #[arg(long, default_value_t = 100)]
    count: usize,
    /// Only entries idle at least this long: `30s`, `500ms`, …
    #[arg(long, value_parser = output::parse_duration)]
    min_idle: Option<Duration>,
    /// Only entries of this consumer.
    #[arg(long)]
    consumer: Option<String>,
}

/// One row of `XPENDING <key> <group> [IDLE ms] - + <count> [consumer]`.
#[derive(Debug, Clone, PartialEq, Eq)]
struct PendingRow {
    id: String,
    consumer: String,
    idle_ms: u64,
    deliveries: u64,
}

/// Which pending entries to list.
#[derive(Debug, Clone, Default)]
pub(crate) struct Filter {
    /// At most this many per stream, oldest first.
    pub(crate) count: usize,
    /// Only entries idle at least this long.
    pub(crate) min_idle: Option<Duration>,
    /// Only entries of this consumer.
    pub(crate) consumer: Option<String>,
}

/// The pending entries of a service or subscriber (as [`streams::resolve`] finds it): its
/// group, and one JSON row per entry, as `pending --json` prints them. Each stream's rows
/// come from one bounded `XPENDING`, and their envelopes are read by `envelopes`.
pub(crate) async fn collect(
    conn: &mut RedisConnection,
    prefix: &str,
    name: &str,
    filter: &Filter,
    envelopes: &mut (dyn EnvelopeReader + Send),
) -> Result<(String, Vec<Json>), CliError> {
    let (group, streams) = streams::resolve(conn, prefix, name).await?;
    let mut rows_json = Vec::new();
    for stream in &streams {
        let mut cmd = redis::cmd("XPENDING");
        cmd.arg(&stream.key).arg(&group);
        if let Some(idle) = filter.min_idle {
            cmd.arg("IDLE")
                .arg(u64::try_from(idle.as_millis()).unwrap_or(u64::MAX));
        }
        cmd.arg("-").arg("+").arg(filter.count.max(1));
        if let Some(consumer) = &filter.consumer {
            cmd.arg(consumer);
        }
        let reply: Option<Value> = conn.query_unless(&cmd, &["NOGROUP"]).await?;
        let rows = parse_pending(reply.unwrap_or(Value::Nil));
        if rows.is_empty() {
            continue;
        }
        let ids: Vec<&str> = rows.iter().map(|r| r.id.as_str()).collect();
        let summaries = envelopes.read(conn, &stream.key, &ids).await?;
        for (row, summary) in rows.iter().zip(summaries) {
            let found = summary.is_some();
            let summary = summary.unwrap_or_default();
            rows_json.push(json!({
                "stream": stream.key,
                "partition": stream.partition,
                "entryId": row.id,
                "consumer": row.consumer,
                "idleMs": row.idle_ms,
                "deliveries": row.deliveries,
                "method": summary.method,
                "rpcId": summary.rpc_id,
                "replyTo": summary.reply_to,
                "entryFound": found,
            }));
        }
    }
    Ok((group, rows_json))
}

/// What a listing shows of one stream entry's envelope.
#[derive(Debug, Clone, Default, PartialEq)]
pub(crate) struct EntrySummary {
    /// `service.method`, when the envelope names one.
    pub(crate) method: Option<String>,
    /// The JSON-RPC id.
    pub(crate) rpc_id: Json,
    /// The `reply-to` field.
    pub(crate) reply_to: Option<String>,
}

impl EntrySummary {
    /// The summary of an entry with these fields.
    pub(crate) fn of(fields: &streams::Fields) -> Self {
        let (method, rpc_id) = describe_envelope(field(fields, "envelope"));
        Self {
            method,
            rpc_id,
            reply_to: field(fields, "reply-to").map(str::to_owned),
        }
    }
}

/// Reads the summaries of entries of one stream (`None` for an entry that is gone).
pub(crate) trait EnvelopeReader {
    /// The summaries of `ids` of `key`, in order.
    fn read<'a>(
        &'a mut self,
        conn: &'a mut RedisConnection,
        key: &'a str,
        ids: &'a [&'a str],
    ) -> futures_util::future::BoxFuture<'a, Result<Vec<Option<EntrySummary>>, CliError>>;
}

/// Every envelope read from Redis, in one round trip per stream (one key, so one slot in a
/// cluster): what the CLI does, once per run.
pub(crate) struct ReadEach;

impl EnvelopeReader for ReadEach {
    fn read<'a>(
        &'a mut self,
        conn: &'a mut RedisConnection,
        key: &'a str,
        ids: &'a [&'a str],
    ) -> futures_util::future::BoxFuture<'a, Result<Vec<Option<EntrySummary>>, CliError>> {
        Box::pin(read_summaries(conn, key, ids))
    }
}

/// The summaries of `ids` of `key`, read with one pipeline of `XRANGE id id`.
pub(crate) async fn read_summaries(
    conn: &mut RedisConnection,
    key: &str,
    ids: &[&str],
) -> Result<Vec<Option<EntrySummary>>, CliError> {
    if ids.is_empty() {
        return Ok(Vec::new());
    }
    let mut pipe = redis::pipe();
    for id in ids {
        pipe.cmd("XRANGE").arg(key).arg(*id).arg(*id);
    }
    let ranges: Vec<Value> = pipe.query_async(conn).await.map_err(CliError::from)?;
    Ok(ranges
        .into_iter()
        .map(|range| {
            streams::entries(range)
                .into_iter()
                .next()
                .map(|(_, fields)| EntrySummary::of(&fields))
        })
        .collect())
}

/// Runs `clamator pending`.
pub(crate) async fn run(ctx: &Ctx, args: Args) -> Result<(), CliError> {
    let prefix = ctx.prefix()?;
    let mut conn = ctx.connect().await?;
    let service = args.service.as_str();
    let filter = Filter {
        count: args.count,
        min_idle: args.min_idle,
        consumer: args.consumer,
    };
    let (group, rows_json) = collect(&mut conn, prefix, service, &filter, &mut ReadEach).await?;
    if ctx.json {
        output::json(&json!({ "service": service, "group": group, "entries": rows_json }));
        return Ok(());
    }
    if rows_json.is_empty() {
        output::line(&format!("nothing pending for {service}"));
        return Ok(());
    }
    let mut table = Table::new(&[
        "ENTRY",
        "CONSUMER",
        "IDLE",
        "DELIVERIES",
        "METHOD",
        "RPC ID",
    ]);
    for r in &rows_json {
        let text = output::cell;
        table.row(vec![
            text(&r["entryId"]),
            text(&r["consumer"]),
            r["idleMs"].as_u64().map_or("-".to_owned(), output::millis),
            text(&r["deliveries"]),
            if r["entryFound"] == json!(false) {
                "(entry gone)".to_owned()
            } else {
                text(&r["method"])
            },
            text(&r["rpcId"]),
        ]);
    }
    table.print();
    Ok(())
}

/// The rows of an extended `XPENDING` reply: `[[id, consumer, idle, deliveries], …]`.
fn parse_pending(reply: Value) -> Vec<PendingRow> {
    let Value::Array(items) = reply else {
        return Vec::new();
    };
    items
        .into_iter()
        .filter_map(|item| {
            let Value::Array(parts) = item else {
                return None;
            };
            let num = |i: usize| streams::int(parts.get(i)).map(i64::unsigned_abs);
            Some(PendingRow {
                id: parts.first().and_then(streams::text)?,
                consumer: parts.get(1).and_then(streams::text)?,
                idle_ms: num(2).unwrap_or(0),
                deliveries: num(3).unwrap_or(0),
            })
        })
        .collect()
}

/// The `service.method` and the JSON-RPC id an envelope names: parsed as servers parse it,
/// else read from whatever JSON there is.
pub(crate) fn describe_envelope(envelope: Option<&str>) -> (Option<String>, Json) {
    let Some(text) = envelope else {
        return (None, Json::Null);
    };
    match parse_envelope(text.as_bytes()) {
        Ok(Envelope::Request(r)) => (Some(format!("{}.{}", r.service, r.method)), id_json(&r.id)),
        Ok(Envelope::Notification(n)) => (Some(format!("{}.{}", n.service, n.method)), Json::Null),
        _ => {
            let raw: Json = serde_json::from_str(text).unwrap_or(Json::Null);
            (
                raw.get("method").and_then(Json::as_str).map(str::to_owned),
                raw.get("id").cloned().unwrap_or(Json::Null),
            )
        }
    }
}

/// An id as JSON, its type kept: a string, or a number.
pub(crate) fn id_json(id: &RpcId) -> Json {
    match id {
        RpcId::Str(s) => Json::String(s.clone()),
        RpcId::Int(n) => Json::Number(n.clone()),
        other => Json::String(other.key()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pending_rows_and_envelopes_read() {
        let bulk = |s: &str| Value::BulkString(s.as_bytes().to_vec());
        let rows = parse_pending(Value::Array(vec![Value::Array(vec![
            bulk("1-0"),
            bulk("arith:a"),
            Value::Int(1500),
            Value::Int(2),
        ])]));
        assert_eq!(
            rows,
            [PendingRow {
                id: "1-0".into(),
                consumer: "arith:a".into(),
                idle_ms: 1500,
                deliveries: 2
            }]
        );
        let (method, id) = describe_envelope(Some(
            r#"{"jsonrpc":"2.0","id":"x1","method":"arith.add","params":{}}"#,
        ));
        assert_eq!(method.as_deref(), Some("arith.add"));
        assert_eq!(id, json!("x1"));
        let (method, id) = describe_envelope(Some("not json"));
        assert_eq!((method, id), (None, Json::Null));
    }
}
