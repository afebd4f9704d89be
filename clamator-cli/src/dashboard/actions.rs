//! The writes, with `--allow-writes` only: each a POST carrying the page's CSRF token (see
//! `auth`), done by the same function as the CLI command it mirrors, with the same
//! refusals: `dlq replay`, `dlq purge`, `events republish`, `events rewind`.

use axum::extract::{Path, State};
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::Response;
use axum::Form;
use serde::Deserialize;
use serde_json::Value;

use super::html::{esc, seg};
use super::pages::{done_page, refused, text, PageError};
use super::Shared;
use crate::commands::{dlq, events};

/// The fields the forms send.
#[derive(Debug, Deserialize)]
pub(crate) struct Fields {
    csrf: Option<String>,
    /// Republish: for every subscriber.
    all: Option<String>,
    /// Rewind: where to.
    to: Option<String>,
    /// Purge: the name typed again.
    confirm: Option<String>,
}

/// The refusal of a write that may not go ahead, if it may not.
fn refusal(state: &Shared, headers: &HeaderMap, fields: &Fields) -> Option<Response> {
    let h = |name: header::HeaderName| headers.get(name).and_then(|v| v.to_str().ok());
    state
        .access
        .check_write(
            state.allow_writes,
            h(header::ORIGIN),
            h(header::HOST),
            fields.csrf.as_deref(),
        )
        .err()
        .map(|why| refused(StatusCode::FORBIDDEN, why))
}

/// The page after a write: what was done, what was skipped and why.
fn outcome(
    state: &Shared,
    title: &str,
    back: &str,
    done: &[String],
    skipped: &[Value],
) -> Response {
    let mut body = format!("<h1>{}</h1>", esc(title));
    for d in done {
        body.push_str(&format!("<p class=\"ok done\">{}</p>", esc(d)));
    }
    for s in skipped {
        body.push_str(&format!(
            "<p class=\"error skipped\">skipped {}: {}</p>",
            esc(&text(&s["id"])),
            esc(&text(&s["reason"]))
        ));
    }
    body.push_str(&format!("<p><a href=\"{}\">back</a></p>", esc(back)));
    let status = if skipped.is_empty() {
        StatusCode::OK
    } else {
        StatusCode::CONFLICT
    };
    done_page(state, title, status, &body)
}

/// `POST /s/{name}/dlq/{id}/replay`: `clamator dlq replay <name> <id>`.
pub(crate) async fn replay(
    State(state): State<Shared>,
    Path((name, id)): Path<(String, String)>,
    headers: HeaderMap,
    Form(fields): Form<Fields>,
) -> Result<Response, PageError> {
    if let Some(refusal) = refusal(&state, &headers, &fields) {
        return Ok(refusal);
    }
    let mut conn = state.conn.clone();
    let doc = dlq::replay_letters(
        &state.target,
        &state.prefix,
        &mut conn,
        &name,
        dlq::Which::Ids(vec![id.clone()]),
        false,
    )
    .await?;
    tracing::info!(service = %name, dead_letter = %id, "dashboard: dead letter replayed");
    let done: Vec<String> = doc["replayed"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|r| {
            format!(
                "replayed {} ({}) as {}",
                text(&r["id"]),
                text(&r["method"]),
                text(&r["newId"])
            )
        })
        .collect();
    let skipped = doc["skipped"].as_array().cloned().unwrap_or_default();
    Ok(outcome(
        &state,
        "Replay",
        &format!("/s/{}", seg(&name)),
        &done,
        &skipped,
    ))
}

/// `POST /s/{name}/dlq/{id}/republish`: `clamator events republish <name> <id>
/// [--all-subscribers]`.
pub(crate) async fn republish(
    State(state): State<Shared>,
    Path((name, id)): Path<(String, String)>,
    headers: HeaderMap,
    Form(fields): Form<Fields>,
) -> Result<Response, PageError> {
    if let Some(refusal) = refusal(&state, &headers, &fields) {
        return Ok(refusal);
    }
    dlq::check_id(&id, false)?;
    let all = fields.all.as_deref() == Some("yes");
    let mut conn = state.conn.clone();
    let (done, skipped) = events::republish_letters(
        &state.target,
        &state.prefix,
        &mut conn,
        &name,
        std::slice::from_ref(&id),
        all,
        false,
    )
    .await?;
    let done: Vec<String> = done
        .iter()
        .map(|d| {
            format!(
                "republished {} on {}'s events as {}, for {}",
                text(&d["id"]),
                text(&d["publisher"]),
                text(&d["newId"]),
                if all {
                    "every subscriber"
                } else {
                    name.as_str()
                }
            )
        })
        .collect();
    Ok(outcome(
        &state,
        "Republish",
        &format!("/s/{}", seg(&name)),
        &done,
        &skipped,
    ))
}

/// `POST /s/{name}/purge`: `clamator dlq purge <name> --yes`, with the name typed again in
/// place of the terminal's question.
pub(crate) async fn purge(
    State(state): State<Shared>,
    Path(name): Path<String>,
    headers: HeaderMap,
    Form(fields): Form<Fields>,
) -> Result<Response, PageError> {
    if let Some(refusal) = refusal(&state, &headers, &fields) {
        return Ok(refusal);
    }
    if fields.confirm.as_deref().map(str::trim) != Some(name.as_str()) {
        return Ok(refused(
            StatusCode::BAD_REQUEST,
            "purge cancelled; nothing deleted: type the name to confirm",
        ));
    }
    let purged = dlq::purge_letters(&state.target, &state.prefix, &name).await?;
    tracing::info!(service = %name, purged, "dashboard: dead letters purged");
    Ok(outcome(
        &state,
        "Purge",
        &format!("/s/{}", seg(&name)),
        &[format!("purged {purged} dead letters of {name}")],
        &[],
    ))
}

/// `POST /e/{publisher}/{subscriber}/rewind`: `clamator events rewind <publisher>
/// <subscriber> --to <to>`.
pub(crate) async fn rewind(
    State(state): State<Shared>,
    Path((publisher, subscriber)): Path<(String, String)>,
    headers: HeaderMap,
    Form(fields): Form<Fields>,
) -> Result<Response, PageError> {
    if let Some(refusal) = refusal(&state, &headers, &fields) {
        return Ok(refusal);
    }
    let to = fields.to.clone().unwrap_or_default();
    let stream =
        events::rewind_group(&state.conn, &state.prefix, &publisher, &subscriber, &to).await?;
    tracing::info!(%publisher, %subscriber, %to, "dashboard: subscriber rewound");
    Ok(outcome(
        &state,
        "Rewind",
        &format!("/s/{}", seg(&subscriber)),
        &[format!(
            "{subscriber} on {stream} moved to {to}: it is delivered every event from there on"
        )],
        &[],
    ))
}
