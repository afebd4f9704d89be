//! `clamator dashboard`: the services, queues, events and dead letters under a prefix, in a
//! browser, live. An HTTP server (axum on the CLI's tokio runtime) whose pages are written
//! on the server (`html`), charts included (SVG), with one small script for what is live
//! (server-sent events) and nothing fetched from elsewhere: it works where the machine has
//! no way out.
//!
//! Safe by default: it binds loopback; every request needs the access token printed at
//! start (`auth`); it changes nothing unless `--allow-writes`, and then only by POSTs that
//! carry the page's CSRF token, through the same functions as `clamator dlq` and
//! `clamator events`, with the same refusals; every response forbids inline scripts
//! (Content-Security-Policy) and framing. Reads are bounded: pending entries and dead
//! letters by count, documents shown by size, and one sampler (`sampler`) serves every
//! viewer.
//!
//! | module | what |
//! |---|---|
//! | `auth` | the access token, its cookie, CSRF and origin checks (decisions only) |
//! | `html` | escaping, page layout, tables, forms, SVG charts |
//! | `sampler` | the figures over time, and what stands out |
//! | `pages` | the overview, a service, a dead letter, the live tail's page |
//! | `live` | server-sent events: the overview redrawn, the tail as it passes |
//! | `traffic` | a running tail's feed, its counts per method, tail events cut to size |
//! | `actions` | replay, purge, republish, rewind (with `--allow-writes`) |

mod actions;
mod auth;
mod html;
mod live;
mod pages;
mod sampler;
mod traffic;

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use axum::extract::{Request, State};
use axum::http::{header, HeaderValue, StatusCode};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::Router;
use clamator_redis::{RedisConnection, RedisTarget};
use tokio::sync::watch;

use crate::commands::pending::EntrySummary;
use crate::error::CliError;
use crate::output;
use crate::Ctx;

use self::auth::{Access, Verdict};
use self::sampler::History;

/// Arguments of `clamator dashboard`.
#[derive(clap::Args, Debug)]
pub(crate) struct Args {
    /// Where to listen. Loopback by default: reach it through an SSH tunnel or a reverse
    /// proxy (docs/dashboard.md). Port 0 takes a free port.
    #[arg(long, default_value = "127.0.0.1:7878", value_name = "ADDR:PORT")]
    listen: SocketAddr,
    /// Show the write controls (replay, purge, republish, rewind) and accept them. Without
    /// it the dashboard changes nothing in Redis.
    #[arg(long)]
    allow_writes: bool,
    /// The access token (at least 16 letters, digits, `-`, `_`, `.`); a random one is made
    /// and printed when neither this nor the environment variable gives one.
    #[arg(
        long,
        env = "CLAMATOR_DASHBOARD_TOKEN",
        hide_env_values = true,
        value_name = "TOKEN"
    )]
    token: Option<String>,
    /// How often the dashboard samples the streams for its figures and charts.
    #[arg(long, default_value = "2s", value_parser = output::parse_duration)]
    interval: Duration,
    /// How far back the charts go.
    #[arg(long, default_value = "10m", value_parser = output::parse_duration)]
    history: Duration,
    /// The servers' claim time (`ServerConfig::claim_idle`, default 60 s): an oldest pending
    /// entry or a quiet consumer past it is flagged.
    #[arg(long, default_value = "60s", value_parser = output::parse_duration)]
    claim_idle: Duration,
}

/// What every handler shares.
pub(crate) struct Dashboard {
    prefix: String,
    target: RedisTarget,
    conn: RedisConnection,
    access: Access,
    allow_writes: bool,
    claim_idle: Duration,
    interval: Duration,
    history: Mutex<History>,
    changed: watch::Sender<u64>,
    /// What listings show of entries, by stream and id (entries never change): a big
    /// envelope is read once, not on every view.
    summaries: Mutex<HashMap<(String, String), Option<EntrySummary>>>,
    tails: Mutex<HashMap<String, traffic::Feed>>,
}

/// The shared state, as handlers take it.
type Shared = Arc<Dashboard>;

/// The most samples a chart keeps (`--history` / `--interval`).
const MAX_POINTS: usize = 10_000;

/// The most entry summaries kept; past it the cache starts again.
const MAX_SUMMARIES: usize = 10_000;

impl Dashboard {
    fn history(&self) -> std::sync::MutexGuard<'_, History> {
        self.history.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

/// Runs `clamator dashboard`.
pub(crate) async fn run(ctx: &Ctx, args: Args) -> Result<(), CliError> {
    let prefix = ctx.prefix()?.to_owned();
    let target = ctx.target()?;
    // Every flag is checked before Redis is asked anything.
    if args.interval < Duration::from_millis(100) {
        return Err(CliError::Usage("--interval must be at least 100ms".into()));
    }
    let points = (args.history.as_millis() / args.interval.as_millis().max(1)).max(2);
    if points > MAX_POINTS as u128 {
        return Err(CliError::Usage(format!(
            "--history {} at --interval {} is {points} samples per chart; at most {MAX_POINTS} \
             are kept: sample less often or look less far back",
            output::millis(u64::try_from(args.history.as_millis()).unwrap_or(u64::MAX)),
            output::millis(u64::try_from(args.interval.as_millis()).unwrap_or(u64::MAX)),
        )));
    }
    if let Some(token) = &args.token {
        auth::check_token(token).map_err(CliError::Usage)?;
    }
    let conn = target.connect().await?;
    let listener = tokio::net::TcpListener::bind(args.listen)
        .await
        .map_err(|e| CliError::Usage(format!("cannot listen on {}: {e}", args.listen)))?;
    let addr = listener
        .local_addr()
        .map_err(|e| CliError::Usage(format!("cannot listen on {}: {e}", args.listen)))?;
    let access = Access::new(args.token, addr.port()).map_err(CliError::Usage)?;
    let (changed, _) = watch::channel(0);
    let state = Arc::new(Dashboard {
        prefix,
        target: target.clone(),
        conn,
        access,
        allow_writes: args.allow_writes,
        claim_idle: args.claim_idle,
        interval: args.interval,
        history: Mutex::new(History::new(usize::try_from(points).unwrap_or(MAX_POINTS))),
        changed,
        summaries: Mutex::new(HashMap::new()),
        tails: Mutex::new(HashMap::new()),
    });
    // On stderr, as every note: the URL carries the token, and scripts wait for this line.
    output::note(&format!(
        "clamator dashboard: http://{addr}/?token={} ({} on {target}, prefix \"{}\"; Ctrl-C to stop)",
        state.access.token(),
        if state.allow_writes {
            "writes allowed"
        } else {
            "read-only"
        },
        state.prefix,
    ));
    if !addr.ip().is_loopback() {
        output::note(
            "clamator dashboard: WARNING: listening beyond loopback, without TLS: put it \
             behind a reverse proxy that terminates TLS, or bind 127.0.0.1 and use an SSH \
             tunnel",
        );
    }
    tokio::spawn(sample_forever(state.clone()));
    let app = router(state);
    tokio::select! {
        _ = tokio::signal::ctrl_c() => Ok(()),
        served = axum::serve(listener, app) => served
            .map_err(|e| CliError::Transport(format!("the dashboard's server stopped: {e}"))),
    }
}

fn router(state: Shared) -> Router {
    let guarded = Router::new()
        .route("/", get(pages::overview))
        .route("/api/overview", get(pages::overview_json))
        .route("/s/{name}", get(pages::service))
        .route("/s/{name}/tail", get(pages::tail))
        .route("/s/{name}/dlq/{id}", get(pages::letter))
        .route("/s/{name}/dlq/{id}/replay", post(actions::replay))
        .route("/s/{name}/dlq/{id}/republish", post(actions::republish))
        .route("/s/{name}/purge", post(actions::purge))
        .route("/e/{publisher}/{subscriber}/rewind", post(actions::rewind))
        .route("/live/overview", get(live::overview))
        .route("/live/tail/{name}", get(live::tail))
        .fallback(pages::not_found)
        .layer(middleware::from_fn_with_state(state.clone(), guard));
    Router::new()
        .route("/assets/app.js", get(asset_js))
        .route("/assets/style.css", get(asset_css))
        .merge(guarded)
        .layer(middleware::from_fn(headers))
        .with_state(state)
}

/// Samples every `--interval`, for as long as the dashboard runs; a failure (Redis gone) is
/// shown on the pages and the next tick tries again.
async fn sample_forever(state: Shared) {
    let mut conn = state.conn.clone();
    let mut known = sampler::Streams::default();
    let mut previous = None;
    loop {
        match sampler::tick(&mut conn, &state.prefix, &mut known, &mut previous).await {
            Ok((sample, points)) => state.history().push(sample, points),
            Err(e) => {
                tracing::warn!(error = %e, "dashboard sample failed");
                let mut h = state.history();
                h.error = Some(e.to_string());
                h.version += 1;
            }
        }
        let version = state.history().version;
        state.changed.send_replace(version);
        tokio::time::sleep(state.interval).await;
    }
}

/// Lets a request through only with the token (see `auth`).
async fn guard(State(state): State<Shared>, request: Request, next: Next) -> Response {
    let verdict = {
        let header_text = |name: header::HeaderName| {
            request
                .headers()
                .get(name)
                .and_then(|v| v.to_str().ok())
                .map(str::to_owned)
        };
        state.access.check(
            request.uri().path(),
            request.uri().query(),
            header_text(header::COOKIE).as_deref(),
            header_text(header::AUTHORIZATION).as_deref(),
        )
    };
    match verdict {
        Verdict::Allow => next.run(request).await,
        Verdict::KeepAndRedirect(location) => {
            let mut response = StatusCode::SEE_OTHER.into_response();
            let headers = response.headers_mut();
            if let Ok(v) = HeaderValue::from_str(&location) {
                headers.insert(header::LOCATION, v);
            }
            if let Ok(v) = HeaderValue::from_str(&state.access.set_cookie()) {
                headers.insert(header::SET_COOKIE, v);
            }
            response
        }
        Verdict::Refuse => pages::refused(
            StatusCode::UNAUTHORIZED,
            "This dashboard needs its access token: open the URL `clamator dashboard` printed \
             when it started (…/?token=…), or send Authorization: Bearer <token>.",
        ),
    }
}

/// The headers every response carries: no inline script or style, nothing from elsewhere,
/// no framing, no sniffing, no caching, no referrer beyond the dashboard (a URL may carry
/// the token once; same-origin, as `no-referrer` would make browsers send `Origin: null` on
/// the dashboard's own forms).
async fn headers(request: Request, next: Next) -> Response {
    let mut response = next.run(request).await;
    let h = response.headers_mut();
    h.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(
            "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; \
             connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'",
        ),
    );
    h.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    h.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    h.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("same-origin"),
    );
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    response
}

async fn asset_js() -> impl IntoResponse {
    (
        [(header::CONTENT_TYPE, "text/javascript; charset=utf-8")],
        include_str!("assets/app.js"),
    )
}

async fn asset_css() -> impl IntoResponse {
    (
        [(header::CONTENT_TYPE, "text/css; charset=utf-8")],
        include_str!("assets/style.css"),
    )
}
