//! The pages: the overview (its live part is redrawn by `live`), a service or subscriber,
//! one dead letter, and the live tail's page. Each reads what it shows with the CLI's own
//! functions, bounded: 100 pending entries and 100 dead letters at most per page, and
//! documents cut at 256 KiB.

use std::fmt::Write as _;

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{Html, IntoResponse, Response};
use axum::Json;
use clamator_redis::{keys, DeadLetters, RedisConnection};
use serde_json::Value;

use super::html::{self, esc, seg};
use super::sampler::{self, History};
use super::Shared;
use crate::commands::pending::{self, EntrySummary, EnvelopeReader, Filter};
use crate::commands::{dlq, services};
use crate::error::CliError;
use crate::{output, streams};

/// The most pending entries and dead letters a page lists.
pub(crate) const MAX_LISTED: usize = 100;

/// A page that could not be made.
pub(crate) struct PageError(StatusCode, String);

impl From<CliError> for PageError {
    fn from(e: CliError) -> Self {
        let status = match e.exit_code() {
            2 => StatusCode::BAD_REQUEST,
            1 => StatusCode::NOT_FOUND,
            _ => StatusCode::BAD_GATEWAY,
        };
        Self(status, e.to_string())
    }
}

impl PageError {
    /// Too much at once: 503.
    pub(crate) fn busy(why: String) -> Self {
        Self(StatusCode::SERVICE_UNAVAILABLE, why)
    }
}

impl IntoResponse for PageError {
    fn into_response(self) -> Response {
        refused(self.0, &self.1)
    }
}

/// A short page saying why not.
pub(crate) fn refused(status: StatusCode, why: &str) -> Response {
    let body = format!(
        "<h1>{}</h1><p class=\"error\">{}</p><p><a href=\"/\">overview</a></p>",
        status.as_u16(),
        esc(why)
    );
    (status, Html(html::page(status.as_str(), "", false, &body))).into_response()
}

/// Any other path.
pub(crate) async fn not_found() -> Response {
    refused(StatusCode::NOT_FOUND, "no such page")
}

fn check_name(name: &str) -> Result<(), PageError> {
    if clamator_protocol::names::is_valid_service(name) {
        Ok(())
    } else {
        Err(PageError(
            StatusCode::BAD_REQUEST,
            format!("invalid name {name:?} (it must match ^[a-z][a-z0-9-]*$)"),
        ))
    }
}

/// `/`: every service and publisher, live.
pub(crate) async fn overview(State(state): State<Shared>) -> Html<String> {
    let body = format!(
        "<h1>Overview</h1><div id=\"live\" data-live=\"/live/overview\">{}</div>",
        render_overview(&state)
    );
    Html(html::page(
        "overview",
        &state.prefix,
        state.allow_writes,
        &body,
    ))
}

/// `/api/overview`: what the overview shows, as JSON.
pub(crate) async fn overview_json(State(state): State<Shared>) -> Json<Value> {
    let history = state.history();
    Json(sampler::sample_json(&history, state.claim_idle))
}

const SPARK_W: u32 = 120;
const SPARK_H: u32 = 24;

fn spark(
    history: &History,
    name: &str,
    label: &str,
    f: fn(&sampler::Point) -> Option<f64>,
) -> String {
    let series = history.series(name, f);
    let last = series.last().copied().flatten();
    format!(
        "<span class=\"figure\">{}</span>{}",
        html::num(last),
        html::sparkline(&series, SPARK_W, SPARK_H, label)
    )
}

fn added(p: &sampler::Point) -> Option<f64> {
    p.added
}
fn acked(p: &sampler::Point) -> Option<f64> {
    p.acked
}
fn lag(p: &sampler::Point) -> Option<f64> {
    p.lag.map(|v| v as f64)
}
fn pending_count(p: &sampler::Point) -> Option<f64> {
    Some(p.pending as f64)
}
fn oldest_s(p: &sampler::Point) -> Option<f64> {
    p.oldest_ms.map(|v| (v as f64 / 100.0).round() / 10.0)
}
fn dead(p: &sampler::Point) -> Option<f64> {
    Some(p.dead_letters as f64)
}

/// The live part of the overview, as of the last sample.
pub(crate) fn render_overview(state: &Shared) -> String {
    let history = state.history();
    let mut out = String::new();
    if let Some(e) = &history.error {
        let _ = write!(
            out,
            "<p class=\"error\" id=\"sample-error\">The last sample failed: {} (trying again \
             every {}).</p>",
            esc(e),
            output::millis(u64::try_from(state.interval.as_millis()).unwrap_or(u64::MAX))
        );
    }
    let Some(latest) = history.latest.clone() else {
        out.push_str("<p>Sampling…</p>");
        return out;
    };
    let problems = sampler::problems(&history, state.claim_idle);
    out.push_str("<section id=\"problems\"><h2>Needs a look</h2>");
    if problems.is_empty() {
        out.push_str("<p class=\"ok\">Nothing stands out.</p>");
    } else {
        out.push_str("<ul class=\"problems\">");
        for p in &problems {
            let _ = write!(
                out,
                "<li><a href=\"/s/{}\">{}</a>: {}</li>",
                seg(owner_page(&p.name)),
                esc(&p.name),
                esc(&p.text)
            );
        }
        out.push_str("</ul>");
    }
    out.push_str("</section>");

    let services: Vec<Value> = latest.services["services"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    let mut rows = Vec::new();
    for s in &services {
        let name = s["service"].as_str().unwrap_or_default();
        rows.push(vec![
            format!(
                "<a class=\"service\" href=\"/s/{}\">{}</a>",
                seg(name),
                esc(name)
            ),
            esc(&s["consumers"].to_string()),
            spark(&history, name, "requests in per second", added),
            spark(&history, name, "acknowledged per second", acked),
            spark(&history, name, "lag", lag),
            spark(&history, name, "pending", pending_count),
            spark(&history, name, "oldest pending, seconds", oldest_s),
            spark(&history, name, "dead letters", dead),
        ]);
    }
    out.push_str("<section id=\"services\"><h2>Services</h2>");
    if rows.is_empty() {
        out.push_str("<p>No services under this prefix.</p>");
    } else {
        out.push_str(&html::table(
            "services",
            &[
                "service",
                "consumers",
                "requests/s",
                "acked/s",
                "lag",
                "pending",
                "oldest pending (s)",
                "dead letters",
            ],
            &rows,
        ));
    }
    out.push_str("</section>");

    let publishers: Vec<Value> = latest.publishers["services"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    if !publishers.is_empty() {
        let mut rows = Vec::new();
        for p in &publishers {
            let publisher = p["service"].as_str().unwrap_or_default();
            let groups: Vec<Value> = p["streams"]
                .as_array()
                .into_iter()
                .flatten()
                .flat_map(|s| s["groups"].as_array().cloned().unwrap_or_default())
                .collect();
            let events = spark(
                &history,
                &format!("events:{publisher}"),
                "events per second",
                added,
            );
            if groups.is_empty() {
                rows.push(vec![
                    esc(publisher),
                    events.clone(),
                    "-".into(),
                    String::new(),
                    String::new(),
                    String::new(),
                ]);
            }
            for g in &groups {
                let subscriber = g["name"].as_str().unwrap_or_default();
                let key = format!("{publisher}/{subscriber}");
                rows.push(vec![
                    esc(publisher),
                    events.clone(),
                    format!(
                        "<a class=\"subscriber\" href=\"/s/{}\">{}</a>",
                        seg(subscriber),
                        esc(subscriber)
                    ),
                    spark(&history, &key, "lag", lag),
                    spark(&history, &key, "pending", pending_count),
                    spark(&history, &key, "oldest pending, seconds", oldest_s),
                ]);
            }
        }
        out.push_str("<section id=\"publishers\"><h2>Events</h2>");
        out.push_str(&html::table(
            "publishers",
            &[
                "publisher",
                "events/s",
                "subscriber",
                "lag",
                "pending",
                "oldest pending (s)",
            ],
            &rows,
        ));
        out.push_str("</section>");
    }

    out.push_str(&consumers_table(&latest.consumers, None, state.claim_idle));
    let _ = write!(
        out,
        "<p class=\"note\">Sampled by this dashboard every {} (the reads of <code>clamator \
         stat</code>); last sample {} UTC, Redis's clock.</p>",
        output::millis(u64::try_from(state.interval.as_millis()).unwrap_or(u64::MAX)),
        esc(&output::utc(latest.redis_ms)),
    );
    out
}

/// The page of a problem's name: `publisher/subscriber` → the subscriber's, `events:p` →
/// the publisher's (its own service page, when it is one).
fn owner_page(name: &str) -> &str {
    match name.split_once('/') {
        Some((_, subscriber)) => subscriber,
        None => name.strip_prefix("events:").unwrap_or(name),
    }
}

fn consumers_table(
    consumers: &[sampler::Consumer],
    only: Option<&str>,
    claim_idle: std::time::Duration,
) -> String {
    let claim_ms = u64::try_from(claim_idle.as_millis()).unwrap_or(u64::MAX);
    let mut rows = Vec::new();
    for c in consumers {
        if only.is_some_and(|o| c.owner != o && !c.owner.ends_with(&format!("/{o}"))) {
            continue;
        }
        let quiet = c.info.inactive_ms.unwrap_or(c.info.idle_ms);
        let flag = if quiet > claim_ms {
            " <span class=\"bad\">past the claim time</span>"
        } else {
            ""
        };
        rows.push(vec![
            esc(&c.owner),
            format!("<span class=\"consumer\">{}</span>", esc(&c.info.name)),
            esc(services::language(&c.info.name).unwrap_or("-")),
            c.info.pending.to_string(),
            html::age(Some(c.info.idle_ms)),
            format!("{}{flag}", html::age(c.info.inactive_ms)),
            esc(&c.stream),
        ]);
    }
    let mut out = String::from("<section id=\"consumers\"><h2>Consumers</h2>");
    if rows.is_empty() {
        out.push_str("<p>No consumers.</p>");
    } else {
        out.push_str(&html::table(
            "consumers",
            &[
                "of",
                "consumer",
                "language",
                "pending",
                "idle",
                "not reading for",
                "stream",
            ],
            &rows,
        ));
    }
    out.push_str("</section>");
    out
}

/// Summaries of entries from the dashboard's cache, the rest read and kept.
struct Cached<'a>(&'a Shared);

impl EnvelopeReader for Cached<'_> {
    fn read<'b>(
        &'b mut self,
        conn: &'b mut RedisConnection,
        key: &'b str,
        ids: &'b [&'b str],
    ) -> futures_util::future::BoxFuture<'b, Result<Vec<Option<EntrySummary>>, CliError>> {
        Box::pin(async move {
            let lookup = |id: &str| {
                self.0
                    .summaries
                    .lock()
                    .unwrap_or_else(std::sync::PoisonError::into_inner)
                    .get(&(key.to_owned(), id.to_owned()))
                    .cloned()
            };
            let missing: Vec<&str> = ids
                .iter()
                .copied()
                .filter(|id| lookup(id).is_none())
                .collect();
            let read = pending::read_summaries(conn, key, &missing).await?;
            {
                let mut cache = self
                    .0
                    .summaries
                    .lock()
                    .unwrap_or_else(std::sync::PoisonError::into_inner);
                if cache.len() + read.len() > super::MAX_SUMMARIES {
                    cache.clear();
                }
                for (id, summary) in missing.iter().zip(read) {
                    cache.insert((key.to_owned(), (*id).to_owned()), summary);
                }
            }
            Ok(ids.iter().map(|id| lookup(id).flatten()).collect())
        })
    }
}

/// `/s/{name}`: a service (or subscriber): charts, contract, consumers, traffic, pending
/// entries, dead letters.
pub(crate) async fn service(
    State(state): State<Shared>,
    Path(name): Path<String>,
) -> Result<Html<String>, PageError> {
    check_name(&name)?;
    let mut conn = state.conn.clone();
    let prefix = state.prefix.clone();
    let mut body = format!(
        "<h1>{n}</h1><p><a href=\"/s/{s}/tail\" id=\"tail-link\">live tail</a> · \
         <a href=\"/\">overview</a></p>",
        n = esc(&name),
        s = seg(&name)
    );
    {
        let history = state.history();
        let problems: Vec<_> = sampler::problems(&history, state.claim_idle)
            .into_iter()
            .filter(|p| owner_page(&p.name) == name)
            .collect();
        if !problems.is_empty() {
            body.push_str("<ul class=\"problems\">");
            for p in problems {
                let _ = write!(body, "<li>{}: {}</li>", esc(&p.name), esc(&p.text));
            }
            body.push_str("</ul>");
        }
        if history.points.contains_key(&name) {
            body.push_str("<section id=\"charts\" class=\"charts\">");
            for (label, f) in [
                ("requests/s", added as fn(&sampler::Point) -> Option<f64>),
                ("acked/s", acked),
                ("lag", lag),
                ("pending", pending_count),
                ("oldest pending (s)", oldest_s),
                ("dead letters", dead),
            ] {
                let series = history.series(&name, f);
                let _ = write!(
                    body,
                    "<figure><figcaption>{} <b>{}</b></figcaption>{}</figure>",
                    esc(label),
                    html::num(series.last().copied().flatten()),
                    html::sparkline(&series, 280, 60, label)
                );
            }
            body.push_str("</section>");
        }
        if let Some(latest) = &history.latest {
            body.push_str(&consumers_table(
                &latest.consumers,
                Some(&name),
                state.claim_idle,
            ));
        }
    }
    body.push_str(&contract_section(&mut conn, &prefix, &name).await?);
    body.push_str(&traffic_section(&state, &name));
    body.push_str(&pending_section(&state, &mut conn, &name).await?);
    body.push_str(&letters_section(&state, &mut conn, &name).await?);
    body.push_str(&subscriptions_section(&state, &name));
    Ok(Html(html::page(&name, &prefix, state.allow_writes, &body)))
}

async fn contract_section(
    conn: &mut RedisConnection,
    prefix: &str,
    name: &str,
) -> Result<String, PageError> {
    let mut out = String::from("<section id=\"contract\"><h2>Contract</h2>");
    match crate::contract::fetch_published(conn, prefix, name).await {
        Ok(None) => out.push_str("<p>No contract published under this name.</p>"),
        Err(CliError::Remote(e)) => {
            let _ = write!(out, "<p class=\"error\">{}</p>", esc(&e));
        }
        Err(e) => return Err(e.into()),
        Ok(Some((doc, _))) => {
            let _ = write!(
                out,
                "<p>Published by {} at {}.</p>",
                esc(&text(&doc["publishedBy"])),
                esc(&doc["publishedAt"]
                    .as_u64()
                    .map_or_else(|| text(&doc["publishedAt"]), |ms| output::utc(ms) + " UTC"))
            );
            let mut rows = Vec::new();
            for m in doc["methods"].as_array().into_iter().flatten() {
                let kind = if m["notification"] == Value::Bool(true) {
                    "notification"
                } else {
                    "call"
                };
                let schema = |k: &str| match &m[k] {
                    Value::Null => "-".to_owned(),
                    v => format!(
                        "<details><summary>schema</summary>{}</details>",
                        html::json_block(v)
                    ),
                };
                let errors = match m.get("errors") {
                    Some(Value::Null) | None => "-".to_owned(),
                    Some(v) => html::json_block(v),
                };
                rows.push(vec![
                    format!("<span class=\"method\">{}</span>", esc(&text(&m["name"]))),
                    kind.to_owned(),
                    schema("paramsSchema"),
                    schema("resultSchema"),
                    errors,
                ]);
            }
            out.push_str(&html::table(
                "methods",
                &["method", "kind", "params", "result", "declared errors"],
                &rows,
            ));
            if let Some(events) = doc.get("events").filter(|e| !e.is_null()) {
                out.push_str("<h3>Events</h3>");
                out.push_str(&html::json_block(events));
            }
        }
    }
    out.push_str("</section>");
    Ok(out)
}

fn traffic_section(state: &Shared, name: &str) -> String {
    let stats = super::traffic::method_stats(state, name);
    let mut out = String::from("<section id=\"traffic\"><h2>Traffic per method</h2>");
    if stats.is_empty() {
        let _ = write!(
            out,
            "<p class=\"note\">Counted while the <a href=\"/s/{}/tail\">live tail</a> is open.</p>",
            seg(name)
        );
    } else {
        let rows: Vec<Vec<String>> = stats
            .iter()
            .map(|(method, s)| {
                vec![
                    esc(method),
                    s.calls.to_string(),
                    s.errors.to_string(),
                    s.no_reply.to_string(),
                    s.mean_latency_ms()
                        .map_or_else(|| "-".to_owned(), |ms| format!("{ms:.1} ms")),
                ]
            })
            .collect();
        out.push_str(&html::table(
            "traffic",
            &["method", "seen", "errors", "no reply", "mean latency"],
            &rows,
        ));
        out.push_str("<p class=\"note\">Since the live tail was opened.</p>");
    }
    out.push_str("</section>");
    out
}

async fn pending_section(
    state: &Shared,
    conn: &mut RedisConnection,
    name: &str,
) -> Result<String, PageError> {
    let mut out = String::from("<section id=\"pending\"><h2>Pending</h2>");
    let filter = Filter {
        count: MAX_LISTED,
        ..Filter::default()
    };
    match pending::collect(conn, &state.prefix, name, &filter, &mut Cached(state)).await {
        Err(CliError::Remote(e)) => {
            let _ = write!(out, "<p>{}</p>", esc(&e));
        }
        Err(e) => return Err(e.into()),
        Ok((_, rows)) if rows.is_empty() => out.push_str("<p>Nothing pending.</p>"),
        Ok((group, rows)) => {
            let total = state
                .history()
                .points
                .get(name)
                .and_then(|r| r.back())
                .map(|p| p.pending);
            let _ = write!(
                out,
                "<p>Group <code>{}</code>: {} pending; the oldest {} per stream are listed.</p>",
                esc(&group),
                total.map_or_else(|| "?".to_owned(), |t| t.to_string()),
                MAX_LISTED
            );
            let cells: Vec<Vec<String>> = rows
                .iter()
                .map(|r| {
                    vec![
                        esc(&text(&r["entryId"])),
                        esc(&text(&r["consumer"])),
                        html::age(r["idleMs"].as_u64()),
                        esc(&text(&r["deliveries"])),
                        esc(&text(&r["method"])),
                        esc(&text(&r["rpcId"])),
                        esc(&text(&r["stream"])),
                    ]
                })
                .collect();
            out.push_str(&html::table(
                "pending",
                &[
                    "entry",
                    "consumer",
                    "age (idle)",
                    "deliveries",
                    "method",
                    "rpc id",
                    "stream",
                ],
                &cells,
            ));
        }
    }
    out.push_str("</section>");
    Ok(out)
}

async fn letters_section(
    state: &Shared,
    conn: &mut RedisConnection,
    name: &str,
) -> Result<String, PageError> {
    let stream = keys::dead_letter_stream(&state.prefix, name);
    let total: u64 = crate::query::Query::query(conn, redis::cmd("XLEN").arg(&stream)).await?;
    let letters = streams::range(conn, &stream, "-", "+", Some(MAX_LISTED)).await?;
    let mut out = format!(
        "<section id=\"dead-letters\"><h2>Dead letters</h2><p>{total} in <code>{}</code>{}.</p>",
        esc(&stream),
        if total > MAX_LISTED as u64 {
            format!("; the oldest {MAX_LISTED} are listed")
        } else {
            String::new()
        }
    );
    if !letters.is_empty() {
        let rows: Vec<Vec<String>> = letters
            .iter()
            .map(|(id, fields)| {
                let l = bounded_letter(name, id, fields);
                vec![
                    format!(
                        "<a class=\"letter\" href=\"/s/{}/dlq/{}\">{}</a>",
                        seg(name),
                        seg(id),
                        esc(id)
                    ),
                    esc(&text(&l["reason"])),
                    esc(&text(&l["deliveries"])),
                    format!("<span class=\"method\">{}</span>", esc(&text(&l["method"]))),
                    esc(&output::cut(&text(&l["error"]), 200)),
                ]
            })
            .collect();
        out.push_str(&html::table(
            "dead-letters",
            &["id", "reason", "deliveries", "method", "error"],
            &rows,
        ));
        if state.allow_writes {
            out.push_str(&html::form(
                &format!("/s/{}/purge", seg(name)),
                state.access.csrf(),
                &[],
                "<label>Type the name to delete every dead letter: \
                 <input name=\"confirm\" autocomplete=\"off\"></label> ",
                "Purge",
            ));
        }
    }
    out.push_str("</section>");
    Ok(out)
}

fn subscriptions_section(state: &Shared, name: &str) -> String {
    let history = state.history();
    let Some(latest) = &history.latest else {
        return String::new();
    };
    let publishers: Vec<String> = latest.publishers["services"]
        .as_array()
        .into_iter()
        .flatten()
        .filter(|p| {
            p["streams"].as_array().into_iter().flatten().any(|s| {
                s["groups"]
                    .as_array()
                    .into_iter()
                    .flatten()
                    .any(|g| g["name"] == name)
            })
        })
        .filter_map(|p| p["service"].as_str().map(str::to_owned))
        .collect();
    if publishers.is_empty() {
        return String::new();
    }
    let mut out = String::from("<section id=\"subscriptions\"><h2>Subscribes to</h2><ul>");
    for p in publishers {
        let _ = write!(out, "<li>events of <b>{}</b>", esc(&p));
        if state.allow_writes {
            out.push_str(&html::form(
                &format!("/e/{}/{}/rewind", seg(&p), seg(name)),
                state.access.csrf(),
                &[],
                "<label>rewind to <input name=\"to\" value=\"10m\" size=\"8\"></label> ",
                "Rewind",
            ));
        }
        out.push_str("</li>");
    }
    out.push_str("</ul></section>");
    out
}

/// `/s/{name}/dlq/{id}`: one dead letter, and what may be done with it.
pub(crate) async fn letter(
    State(state): State<Shared>,
    Path((name, id)): Path<(String, String)>,
) -> Result<Html<String>, PageError> {
    check_name(&name)?;
    dlq::check_id(&id, false)?;
    let mut conn = state.conn.clone();
    let stream = keys::dead_letter_stream(&state.prefix, &name);
    let Some((id, fields)) = streams::range(&mut conn, &stream, &id, &id, Some(1))
        .await?
        .into_iter()
        .next()
    else {
        return Err(PageError(
            StatusCode::NOT_FOUND,
            format!("no dead letter {id} of {name} (in {stream})"),
        ));
    };
    let l = bounded_letter(&name, &id, &fields);
    let mut body = format!(
        "<h1>Dead letter {} of <a href=\"/s/{}\">{}</a></h1>",
        esc(&id),
        seg(&name),
        esc(&name)
    );
    let summary = [
        ("method", text(&l["method"])),
        ("rpc id", text(&l["rpcId"])),
        ("reason", text(&l["reason"])),
        ("deliveries", text(&l["deliveries"])),
        ("entry id", text(&l["entryId"])),
        (
            "dead since",
            l["at"].as_u64().map_or_else(|| "-".to_owned(), output::utc),
        ),
        (
            "caller's reply stream",
            crate::streams::field(&fields, "reply-to")
                .unwrap_or("-")
                .to_owned(),
        ),
    ];
    let rows: Vec<Vec<String>> = summary
        .iter()
        .map(|(k, v)| vec![esc(k), format!("<span class=\"v\">{}</span>", esc(v))])
        .collect();
    body.push_str(&html::table("letter", &["", ""], &rows));
    let _ = write!(
        body,
        "<h2>Error</h2><pre class=\"error-text\">{}</pre>",
        esc(&text(&l["error"]))
    );
    body.push_str("<h2>Envelope</h2>");
    match crate::streams::field(&fields, "envelope") {
        None => body.push_str("<p>None kept.</p>"),
        Some(envelope) if envelope.len() > MAX_PARSED_BYTES => {
            body.push_str(&html::text_block(envelope));
        }
        Some(envelope) => match serde_json::from_str::<Value>(envelope) {
            Ok(v) => body.push_str(&html::json_block(&v)),
            Err(_) => body.push_str(&html::text_block(envelope)),
        },
    }
    body.push_str("<h2>Every field</h2>");
    let field_rows: Vec<Vec<String>> = fields
        .iter()
        .filter(|(k, _)| k != "envelope")
        .map(|(k, v)| vec![esc(k), esc(&output::cut(v, 2000))])
        .collect();
    body.push_str(&html::table("fields", &["field", "value"], &field_rows));
    body.push_str("<h2>Actions</h2>");
    let base = format!("/s/{}/dlq/{}", seg(&name), seg(&id));
    let replay = DeadLetters::replay_refusal(&fields);
    let republish = DeadLetters::republish_target(&fields);
    if !state.allow_writes {
        body.push_str(
            "<p class=\"note\">Read-only: start the dashboard with <code>--allow-writes</code> \
             to replay, republish or purge (or use <code>clamator dlq</code> / \
             <code>clamator events</code>).</p>",
        );
    } else if let Ok(publisher) = &republish {
        let _ = write!(
            body,
            "<p>An event of <b>{}</b>: publish it again for this subscriber, or for every \
             subscriber.</p>",
            esc(publisher)
        );
        body.push_str(&html::form(
            &format!("{base}/republish"),
            state.access.csrf(),
            &[],
            "<label><input type=\"checkbox\" name=\"all\" value=\"yes\"> every subscriber</label> ",
            "Republish",
        ));
    } else if let Some(reason) = &replay {
        let _ = write!(
            body,
            "<p class=\"note\">Cannot be replayed: it {}.</p>",
            esc(reason)
        );
    } else {
        body.push_str(&html::form(
            &format!("{base}/replay"),
            state.access.csrf(),
            &[],
            "",
            "Replay",
        ));
    }
    Ok(Html(html::page(
        &format!("dead letter {id}"),
        &state.prefix,
        state.allow_writes,
        &body,
    )))
}

/// `/s/{name}/tail`: the live tail's page (the rows come from `/live/tail/{name}`).
pub(crate) async fn tail(
    State(state): State<Shared>,
    Path(name): Path<String>,
) -> Result<Html<String>, PageError> {
    check_name(&name)?;
    let body = format!(
        "<h1>Live tail of <a href=\"/s/{s}\">{n}</a></h1>\
         <p class=\"controls\"><button type=\"button\" id=\"pause\">Pause</button> \
         <span id=\"tail-status\">connecting…</span> \
         <span id=\"tail-skipped\"></span></p>\
         <p class=\"note\">Requests with their replies, notifications and events as they pass \
         (plain XREAD: nothing is acknowledged or changed). The newest {max} are kept; params \
         and results over 2 KiB are cut.</p>\
         <table class=\"tail\" id=\"tail\" data-live=\"/live/tail/{s}\" data-max=\"{max}\"><thead><tr>\
         <th>time</th><th>kind</th><th>method</th><th>rpc id</th><th>params</th>\
         <th>outcome</th><th>latency</th><th>result / error</th></tr></thead>\
         <tbody></tbody></table>",
        s = seg(&name),
        n = esc(&name),
        max = super::traffic::MAX_ROWS,
    );
    Ok(Html(html::page(
        &format!("tail {name}"),
        &state.prefix,
        state.allow_writes,
        &body,
    )))
}

/// The most of an envelope a page parses: servers keep dead letters under 256 KiB, so a
/// bigger one was written by hand, and is shown as text, cut, not parsed.
const MAX_PARSED_BYTES: usize = 1 << 20;

/// [`dlq::letter_json`] of a letter, without parsing an envelope past [`MAX_PARSED_BYTES`].
fn bounded_letter(name: &str, id: &str, fields: &streams::Fields) -> Value {
    let big = streams::field(fields, "envelope").map_or(0, str::len);
    if big <= MAX_PARSED_BYTES {
        return dlq::letter_json(name, id, fields);
    }
    let small: streams::Fields = fields
        .iter()
        .filter(|(k, _)| k != "envelope")
        .cloned()
        .collect();
    let mut l = dlq::letter_json(name, id, &small);
    l["method"] = Value::String(format!("(an envelope of {big} bytes, not read)"));
    l
}

/// A JSON value as text: strings as they are, `-` for null (the CLI's table cell).
pub(crate) use crate::output::cell as text;

/// The page a write answers with: its title, status and body.
pub(crate) fn done_page(state: &Shared, title: &str, status: StatusCode, body: &str) -> Response {
    (
        status,
        Html(html::page(title, &state.prefix, state.allow_writes, body)),
    )
        .into_response()
}
