//! What is pushed to open pages, as server-sent events: the overview's live part, redrawn
//! after every sample, and a service's tail as it passes.
//!
//! One tail per service, whatever the number of pages showing it: it starts with the first
//! viewer (on a connection of its own, as it blocks in `XREAD`) and stops when the last one
//! leaves. Each viewer gets the tail through a bounded channel: a page that cannot keep up
//! is told how many events it missed (`dropped`) instead of the dashboard queueing for it.

use std::collections::BTreeMap;
use std::convert::Infallible;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use axum::extract::{Path, State};
use axum::response::sse::{Event, KeepAlive, Sse};
use axum::response::{IntoResponse, Response};
use futures_util::stream;
use serde_json::{json, Value};
use tokio::sync::broadcast;

use super::pages::{render_overview, PageError};
use super::traffic::{bounded, counted_as, Feed};
use super::Shared;
use crate::commands::tail::{Options, Tailer};

/// The most services tailed at once (each tail holds a connection of its own).
pub(crate) const MAX_TAILS: usize = 16;

/// Events a viewer may fall behind before it is told it missed some.
const CHANNEL: usize = 256;

/// `/live/overview`: the overview's live part, now and after every sample.
pub(crate) async fn overview(State(state): State<Shared>) -> Response {
    let rx = state.changed.subscribe();
    let events = stream::unfold((state, rx, true), |(state, mut rx, first)| async move {
        if !first && rx.changed().await.is_err() {
            return None;
        }
        let html = render_overview(&state);
        let event = Event::default().event("overview").data(html);
        Some((Ok::<_, Infallible>(event), (state, rx, false)))
    });
    Sse::new(events)
        .keep_alive(KeepAlive::new().interval(Duration::from_secs(15)))
        .into_response()
}

/// `/live/tail/{name}`: the tail of a service, as JSON events.
pub(crate) async fn tail(
    State(state): State<Shared>,
    Path(name): Path<String>,
) -> Result<Response, PageError> {
    if !clamator_protocol::names::is_valid_service(&name) {
        return Err(crate::error::CliError::Usage(format!(
            "invalid service name {name:?} (it must match ^[a-z][a-z0-9-]*$)"
        ))
        .into());
    }
    let Some(rx) = subscribe(&state, &name) else {
        return Err(PageError::busy(format!(
            "{MAX_TAILS} services are tailed already; close a tail page first"
        )));
    };
    let events = stream::unfold(rx, |mut rx| async move {
        let event = match rx.recv().await {
            Ok(text) => Event::default().event("tail").data(text.as_ref()),
            Err(broadcast::error::RecvError::Lagged(n)) => {
                Event::default().event("dropped").data(n.to_string())
            }
            Err(broadcast::error::RecvError::Closed) => return None,
        };
        Some((Ok::<_, Infallible>(event), rx))
    });
    Ok(Sse::new(events)
        .keep_alive(KeepAlive::new().interval(Duration::from_secs(15)))
        .into_response())
}

/// A receiver of `name`'s tail, starting the tail when none runs; `None` when
/// [`MAX_TAILS`] others run.
fn subscribe(state: &Shared, name: &str) -> Option<broadcast::Receiver<Arc<str>>> {
    let mut tails = state.tails.lock().unwrap_or_else(PoisonError::into_inner);
    if let Some(feed) = tails.get(name) {
        if feed.tx.receiver_count() > 0 {
            return Some(feed.tx.subscribe());
        }
    }
    if tails.len() > 4 * MAX_TAILS {
        // Counts of tails nobody watches any more go first.
        tails.retain(|_, f| f.tx.receiver_count() > 0);
    }
    let running = tails.values().filter(|f| f.tx.receiver_count() > 0).count();
    if running >= MAX_TAILS {
        return None;
    }
    let (tx, rx) = broadcast::channel(CHANNEL);
    let feed = Feed {
        tx,
        stats: Arc::new(Mutex::new(BTreeMap::new())),
    };
    tails.insert(name.to_owned(), feed.clone());
    tokio::spawn(run_tail(state.clone(), name.to_owned(), feed));
    Some(rx)
}

/// Tails `name` while anyone watches; a failure is sent to the pages and retried.
async fn run_tail(state: Shared, name: String, feed: Feed) {
    let options = Options {
        count: None,
        reply_wait: Duration::from_secs(30),
        no_params: false,
        events: true,
    };
    let send = |event: Value| {
        let _ = feed.tx.send(Arc::from(event.to_string()));
    };
    'connect: while feed.tx.receiver_count() > 0 {
        let started = async {
            let mut conn = state.target.connect().await?;
            let tailer = Tailer::start(&mut conn, &state.prefix, &name, options.clone()).await?;
            Ok::<_, crate::error::CliError>((conn, tailer))
        };
        let (mut conn, mut tailer) = match started.await {
            Ok(started) => started,
            Err(e) => {
                send(json!({"kind": "error", "message": e.to_string()}));
                tokio::time::sleep(Duration::from_secs(1)).await;
                continue;
            }
        };
        send(json!({"kind": "status", "message": format!("tailing {name}")}));
        while feed.tx.receiver_count() > 0 {
            match tailer.next(&mut conn).await {
                Ok(events) => {
                    for event in events {
                        let event = bounded(event);
                        if let Some(method) = event["method"].as_str() {
                            let mut stats =
                                feed.stats.lock().unwrap_or_else(PoisonError::into_inner);
                            let key = counted_as(&stats, method).to_owned();
                            stats.entry(key).or_default().count(&event);
                        }
                        send(event);
                    }
                }
                Err(e) => {
                    send(json!({"kind": "error", "message": e.to_string()}));
                    tokio::time::sleep(Duration::from_secs(1)).await;
                    continue 'connect;
                }
            }
        }
    }
    // Nobody watches: the entry stays, so the service page keeps the counts until a new
    // tail replaces it.
}
