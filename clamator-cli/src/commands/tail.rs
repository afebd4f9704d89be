//! `clamator tail <service>`: requests as they arrive on the service's command stream(s),
//! each shown once its reply passes on the caller's reply stream (method, id, params,
//! latency, outcome); with `--events`, the events it publishes as they are added.
//!
//! Read-only: plain `XREAD`, never `XREADGROUP`, `XACK` or a consumer group, so tailing
//! changes nothing for servers or callers. Reply streams are found through the requests'
//! `reply-to` field and read from the request's time on. On a standalone Redis one blocking
//! `XREAD` covers every stream; on a cluster each stream is polled on its own (every 2 ms
//! while replies are awaited, 20 ms otherwise). Either way a caller that deletes its reply
//! stream as soon as it has read its reply (a one-shot `clamator call`) can take it away
//! before tail reads it: that request then shows as `noReply`. Long-lived callers keep
//! their reply streams.

use std::collections::{BTreeMap, HashMap};
use std::time::{Duration, Instant};

use clamator_protocol::envelope::parse_envelope;
use clamator_protocol::Envelope;
use clamator_redis::{Deployment, RedisConnection};
use redis::Value;
use serde_json::{json, Value as Json};

use crate::commands::pending::{describe_envelope, id_json};
use crate::error::CliError;
use crate::output;
use crate::query::Query;
use crate::streams::{self, field, Fields};
use crate::Ctx;

/// Arguments of `clamator tail`.
#[derive(clap::Args, Debug)]
pub(crate) struct Args {
    /// The service.
    service: String,
    /// Stop after this many requests and notifications have been shown.
    #[arg(long, value_name = "N")]
    count: Option<usize>,
    /// Show a request without its reply once it has waited this long (or its deadline
    /// passed).
    #[arg(long, default_value = "30s", value_parser = output::parse_duration)]
    reply_wait: Duration,
    /// Leave params and results out (they may hold personal data).
    #[arg(long)]
    no_params: bool,
    /// Follow the events the service publishes too (`<prefix>:events:<service>`), shown as
    /// they are added (kind `event`).
    #[arg(long)]
    events: bool,
}

/// A request seen, waiting for its reply.
#[derive(Debug, Clone)]
struct Waiting {
    event: Json,
    request_ms: u64,
    seen: Instant,
    deadline_ms: Option<u64>,
}

/// What a tail follows and shows.
#[derive(Debug, Clone)]
pub(crate) struct Options {
    /// Stop after this many.
    pub(crate) count: Option<usize>,
    /// Show a request without its reply once it has waited this long.
    pub(crate) reply_wait: Duration,
    /// Leave params and results out.
    pub(crate) no_params: bool,
    /// Follow the service's events too.
    pub(crate) events: bool,
}

/// A tail of one service: each [`next`](Self::next) reads once and returns the requests
/// (with their replies), notifications and events it can show. The CLI prints them; the
/// dashboard pushes them to the page.
pub(crate) struct Tailer {
    tail: Tail,
    prefix: String,
    service: String,
    rediscovered: Instant,
}

impl Tailer {
    /// Starts a tail of `service` from the streams' newest entries.
    pub(crate) async fn start(
        conn: &mut RedisConnection,
        prefix: &str,
        service: &str,
        options: Options,
    ) -> Result<Self, CliError> {
        if !clamator_protocol::names::is_valid_service(service) {
            return Err(CliError::Usage(format!(
                "invalid service name {service:?} (it must match ^[a-z][a-z0-9-]*$)"
            )));
        }
        let mut tail = Tail {
            args: options,
            events: None,
            shown: 0,
            out: Vec::new(),
            commands: BTreeMap::new(),
            replies: BTreeMap::new(),
            waiting: HashMap::new(),
        };
        // Streams there now are read from their newest entry; a partition that appears
        // later is new, so it is read from its start.
        for stream in streams::service_streams(conn, prefix, service).await? {
            let last = streams::stream_info(conn, &stream.key)
                .await?
                .and_then(|i| i.last_generated_id)
                .unwrap_or_else(|| "0-0".to_owned());
            tail.commands.insert(stream.key, last);
        }
        let base = clamator_redis::keys::command_stream(prefix, service);
        tail.commands
            .entry(base)
            .or_insert_with(|| "0-0".to_owned());
        if tail.args.events {
            let key = clamator_redis::keys::event_stream(prefix, service);
            let last = streams::stream_info(conn, &key)
                .await?
                .and_then(|i| i.last_generated_id)
                .unwrap_or_else(|| "0-0".to_owned());
            tail.events = Some(key.clone());
            tail.commands.insert(key, last);
        }
        Ok(Self {
            tail,
            prefix: prefix.to_owned(),
            service: service.to_owned(),
            rediscovered: Instant::now(),
        })
    }

    /// Whether `--count` has been shown.
    pub(crate) fn done(&self) -> bool {
        self.tail.done()
    }

    /// Reads once (blocking up to 200 ms on one Redis) and returns what can be shown now.
    pub(crate) async fn next(&mut self, conn: &mut RedisConnection) -> Result<Vec<Json>, CliError> {
        let tail = &mut self.tail;
        if self.rediscovered.elapsed() > Duration::from_secs(2) {
            for stream in streams::service_streams(conn, &self.prefix, &self.service).await? {
                tail.commands
                    .entry(stream.key)
                    .or_insert_with(|| "0-0".to_owned());
            }
            self.rediscovered = Instant::now();
        }
        let read = tail.read(conn).await?;
        let mut got = false;
        for (key, entries) in read {
            got |= !entries.is_empty();
            if tail.commands.contains_key(&key) {
                for (id, fields) in entries {
                    tail.commands.insert(key.clone(), id.clone());
                    tail.request(&key, &id, &fields);
                }
            } else if tail.replies.contains_key(&key) {
                for (id, fields) in entries {
                    tail.replies.insert(key.clone(), id.clone());
                    tail.reply(&key, &id, &fields);
                }
            }
        }
        tail.expire();
        if !got && conn.deployment() == &Deployment::Cluster {
            // Polling: quickly while replies are awaited, gently otherwise.
            let pause = if tail.waiting.is_empty() { 20 } else { 2 };
            tokio::time::sleep(Duration::from_millis(pause)).await;
        }
        Ok(std::mem::take(&mut tail.out))
    }
}

/// Runs `clamator tail`.
pub(crate) async fn run(ctx: &Ctx, args: Args) -> Result<(), CliError> {
    let prefix = ctx.prefix()?.to_owned();
    let target = ctx.target()?;
    let mut conn = target.connect().await?;
    let options = Options {
        count: args.count,
        reply_wait: args.reply_wait,
        no_params: args.no_params,
        events: args.events,
    };
    let mut tailer = Tailer::start(&mut conn, &prefix, &args.service, options).await?;
    // On stderr, with --json too: scripts can wait for it before sending traffic.
    output::note(&format!(
        "tailing {} on {} (read-only; Ctrl-C to stop)",
        args.service, target
    ));
    loop {
        if tailer.done() {
            return Ok(());
        }
        let shown = tokio::select! {
            _ = tokio::signal::ctrl_c() => return Ok(()),
            shown = tailer.next(&mut conn) => shown?,
        };
        for event in &shown {
            print_event(ctx.json, event);
        }
    }
}

struct Tail {
    args: Options,
    /// The service's event stream, when `--events` follows it (read as a command stream is).
    events: Option<String>,
    shown: usize,
    /// Shown since the last read, for the caller to print or push.
    out: Vec<Json>,
    /// Command streams and the last id read from each.
    commands: BTreeMap<String, String>,
    /// Reply streams with requests waiting, and the last id read from each.
    replies: BTreeMap<String, String>,
    /// Requests waiting for a reply: by reply stream, then by JSON-RPC id.
    waiting: HashMap<String, HashMap<String, Waiting>>,
}

impl Tail {
    fn done(&self) -> bool {
        self.args.count.is_some_and(|n| self.shown >= n)
    }

    /// New entries of every stream watched: one blocking `XREAD` on one Redis, a poll of
    /// each stream on a cluster.
    async fn read(
        &self,
        conn: &mut RedisConnection,
    ) -> Result<Vec<(String, Vec<(String, Fields)>)>, CliError> {
        let keys: Vec<(&String, &String)> =
            self.commands.iter().chain(self.replies.iter()).collect();
        if conn.deployment() != &Deployment::Cluster {
            let mut cmd = redis::cmd("XREAD");
            cmd.arg("COUNT")
                .arg(100)
                .arg("BLOCK")
                .arg(200)
                .arg("STREAMS");
            for (key, _) in &keys {
                cmd.arg(key.as_str());
            }
            for (_, id) in &keys {
                cmd.arg(id.as_str());
            }
            let reply: Value = conn.query(&cmd).await?;
            Ok(read_reply(reply))
        } else {
            let mut out = Vec::new();
            for (key, id) in keys {
                let mut cmd = redis::cmd("XREAD");
                cmd.arg("COUNT").arg(100).arg("STREAMS").arg(key).arg(id);
                let reply: Value = conn.query(&cmd).await?;
                out.extend(read_reply(reply));
            }
            Ok(out)
        }
    }

    fn request(&mut self, stream: &str, id: &str, fields: &Fields) {
        let request_ms = output::id_ms(id).unwrap_or(0);
        let envelope = field(fields, "envelope");
        let parsed = envelope.map(|e| parse_envelope(e.as_bytes()));
        let mut event = json!({
            "entryId": id,
            "stream": stream,
            "at": request_ms,
        });
        match parsed {
            Some(Ok(Envelope::Request(r))) => {
                event["kind"] = json!("request");
                event["method"] = json!(format!("{}.{}", r.service, r.method));
                event["rpcId"] = id_json(&r.id);
                if !self.args.no_params {
                    event["params"] = r.params.into_value();
                }
                let Some(reply_to) = field(fields, "reply-to") else {
                    event["outcome"] = json!("noReplyTo");
                    self.show(&event);
                    return;
                };
                event["replyTo"] = json!(reply_to);
                let deadline_ms = field(fields, "deadline").and_then(|d| d.parse().ok());
                if !self.replies.contains_key(reply_to) {
                    // Replies come after their request; a second of margin for clocks of
                    // different cluster nodes.
                    let from = request_ms.saturating_sub(1000);
                    self.replies
                        .insert(reply_to.to_owned(), format!("{from}-0"));
                }
                self.waiting.entry(reply_to.to_owned()).or_default().insert(
                    r.id.key(),
                    Waiting {
                        event,
                        request_ms,
                        seen: Instant::now(),
                        deadline_ms,
                    },
                );
            }
            Some(Ok(Envelope::Notification(n))) => {
                // An event is a notification on the service's event stream.
                let kind = if self.events.as_deref() == Some(stream) {
                    "event"
                } else {
                    "notification"
                };
                event["kind"] = json!(kind);
                event["method"] = json!(format!("{}.{}", n.service, n.method));
                if !self.args.no_params {
                    event["params"] = n.params.into_value();
                }
                event["outcome"] = json!(kind);
                self.show(&event);
            }
            _ => {
                let (method, rpc_id) = describe_envelope(envelope);
                event["kind"] = json!("malformed");
                event["method"] = json!(method);
                event["rpcId"] = rpc_id;
                event["outcome"] = json!("malformed");
                self.show(&event);
            }
        }
    }

    fn reply(&mut self, stream: &str, id: &str, fields: &Fields) {
        let Some(Ok(Envelope::Response(response))) =
            field(fields, "envelope").map(|e| parse_envelope(e.as_bytes()))
        else {
            return;
        };
        let Some(rpc) = response.id else { return };
        let Some(waiting) = self
            .waiting
            .get_mut(stream)
            .and_then(|w| w.remove(&rpc.key()))
        else {
            return;
        };
        let mut event = waiting.event;
        event["latencyMs"] = json!(output::id_ms(id)
            .unwrap_or(waiting.request_ms)
            .saturating_sub(waiting.request_ms));
        event["replyId"] = json!(id);
        match response.outcome {
            Ok(result) => {
                event["outcome"] = json!("ok");
                if !self.args.no_params {
                    event["result"] = result.into_value();
                }
            }
            Err(e) => {
                event["outcome"] = json!("error");
                event["error"] = json!({"code": e.code, "message": e.message, "data": e.data});
            }
        }
        self.forget_idle(stream);
        self.show(&event);
    }

    /// Shows requests that waited too long, as without a reply.
    fn expire(&mut self) {
        let now_ms = output::now_ms();
        let mut late = Vec::new();
        for (stream, calls) in &mut self.waiting {
            let wait = self.args.reply_wait;
            let expired: Vec<String> = calls
                .iter()
                .filter(|(_, w)| {
                    w.seen.elapsed() > wait
                        || w.deadline_ms
                            .is_some_and(|d| now_ms > d.saturating_add(2000))
                })
                .map(|(k, _)| k.clone())
                .collect();
            for k in expired {
                if let Some(w) = calls.remove(&k) {
                    late.push((stream.clone(), w));
                }
            }
        }
        for (stream, w) in late {
            let mut event = w.event;
            event["outcome"] = json!("noReply");
            self.forget_idle(&stream);
            self.show(&event);
        }
    }

    /// Stops reading a reply stream nobody waits on any more.
    fn forget_idle(&mut self, stream: &str) {
        if self.waiting.get(stream).is_none_or(HashMap::is_empty) {
            self.waiting.remove(stream);
            self.replies.remove(stream);
        }
    }

    fn show(&mut self, event: &Json) {
        if self.done() {
            return;
        }
        self.shown += 1;
        self.out.push(event.clone());
    }
}

/// Prints one tail event: a JSON line, or a line for people.
fn print_event(json: bool, event: &Json) {
    if json {
        output::json(event);
        return;
    }
    let text = output::cell;
    let mut line = format!(
        "{}  {}  {}",
        clock(event["at"].as_u64().unwrap_or(0)),
        text(&event["method"]),
        match &event["rpcId"] {
            Json::Null => "-".to_owned(),
            id => format!("id={}", text(id)),
        }
    );
    if let Some(params) = event.get("params") {
        line.push_str("  ");
        line.push_str(&output::cut(&params.to_string(), 120));
    }
    line.push_str("  → ");
    line.push_str(&text(&event["outcome"]));
    if let Some(ms) = event.get("latencyMs").and_then(Json::as_u64) {
        line.push_str(&format!(" {ms}ms"));
    }
    if let Some(result) = event.get("result") {
        line.push(' ');
        line.push_str(&output::cut(&result.to_string(), 120));
    }
    if let Some(e) = event.get("error") {
        line.push_str(&format!(" {} {}", text(&e["code"]), text(&e["message"])));
    }
    output::line(&line);
}

/// The streams of an `XREAD` reply: `[[key, [[id, fields], …]], …]` (RESP2) or a map.
fn read_reply(reply: Value) -> Vec<(String, Vec<(String, Fields)>)> {
    let items: Vec<(Value, Value)> = match reply {
        Value::Array(items) => items
            .into_iter()
            .filter_map(|s| match s {
                Value::Array(mut kv) if kv.len() == 2 => {
                    let entries = kv.pop()?;
                    Some((kv.pop()?, entries))
                }
                _ => None,
            })
            .collect(),
        Value::Map(items) => items,
        _ => Vec::new(),
    };
    items
        .into_iter()
        .filter_map(|(k, v)| Some((streams::text(&k)?, streams::entries(v))))
        .collect()
}

/// `HH:MM:SS.mmm` (UTC) of epoch milliseconds.
fn clock(ms: u64) -> String {
    let day = ms % 86_400_000;
    format!(
        "{:02}:{:02}:{:02}.{:03}",
        day / 3_600_000,
        day / 60_000 % 60,
        day / 1000 % 60,
        day % 1000
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_clock_reads_utc() {
        assert_eq!(clock(1_700_000_000_123), "22:13:20.123");
    }

    #[test]
    fn xread_replies_read_per_stream() {
        let bulk = |s: &str| Value::BulkString(s.as_bytes().to_vec());
        let reply = Value::Array(vec![Value::Array(vec![
            bulk("p:cmds:arith"),
            Value::Array(vec![Value::Array(vec![
                bulk("5-0"),
                Value::Array(vec![bulk("type"), bulk("rpc")]),
            ])]),
        ])]);
        let read = read_reply(reply);
        assert_eq!(read[0].0, "p:cmds:arith");
        assert_eq!(read[0].1[0].0, "5-0");
        assert!(read_reply(Value::Nil).is_empty());
    }
}
