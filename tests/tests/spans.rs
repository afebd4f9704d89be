//! Spans: every call is a client span and a server span named `<service>/<method>` with the
//! OpenTelemetry RPC attributes; the server span says how long the entry waited in the
//! stream, ran in its handler and took to answer, and how it ended; failures carry their
//! code; with the `opentelemetry` feature a call is one trace across the Redis hop.
//!
//! A test binary of its own, its tests one at a time: each installs a subscriber for its
//! thread, and `tracing` caches per call site whether anyone listens, a cache that tests
//! starting and stopping subscribers on other threads at the same moment can leave stale.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex};

use std::time::Duration;

use clamator_examples::arith::{AddParams, DivideParams};
use clamator_protocol::CallOptions;
use clamator_tests::{TestRedis, WAIT};
use opentelemetry::trace::{SpanId, SpanKind, TracerProvider as _};
use opentelemetry_sdk::trace::{InMemorySpanExporter, SdkTracerProvider, SpanData};
use tracing::field::{Field, Visit};
use tracing::span::{Attributes, Id, Record};
use tracing::Subscriber;
use tracing_subscriber::layer::{Context, Layer};
use tracing_subscriber::prelude::*;
use tracing_subscriber::registry::LookupSpan;

/// A span as recorded: its name and its fields (as text).
#[derive(Debug, Clone, Default)]
struct Recorded {
    name: String,
    fields: BTreeMap<String, String>,
}

/// Every span opened while it is the default subscriber, with its fields as they are
/// recorded.
#[derive(Clone, Default)]
struct Spans(Arc<Mutex<HashMap<u64, Recorded>>>);

struct Fields<'a>(&'a mut BTreeMap<String, String>);

impl Visit for Fields<'_> {
    fn record_debug(&mut self, field: &Field, value: &dyn std::fmt::Debug) {
        self.0.insert(field.name().to_owned(), format!("{value:?}"));
    }

    fn record_str(&mut self, field: &Field, value: &str) {
        self.0.insert(field.name().to_owned(), value.to_owned());
    }
}

impl<S: Subscriber + for<'a> LookupSpan<'a>> Layer<S> for Spans {
    fn on_new_span(&self, attrs: &Attributes<'_>, id: &Id, _: Context<'_, S>) {
        let mut r = Recorded {
            name: attrs.metadata().name().to_owned(),
            ..Recorded::default()
        };
        attrs.record(&mut Fields(&mut r.fields));
        self.0.lock().unwrap().insert(id.into_u64(), r);
    }

    fn on_record(&self, id: &Id, values: &Record<'_>, _: Context<'_, S>) {
        if let Some(r) = self.0.lock().unwrap().get_mut(&id.into_u64()) {
            values.record(&mut Fields(&mut r.fields));
        }
    }
}

impl Spans {
    fn named(&self, name: &str, otel_name: &str) -> Vec<Recorded> {
        self.0
            .lock()
            .unwrap()
            .values()
            .filter(|r| {
                r.name == name && r.fields.get("otel.name").map(String::as_str) == Some(otel_name)
            })
            .cloned()
            .collect()
    }
}

/// One test at a time in this binary.
static ONE_AT_A_TIME: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

// One thread, so every task of the server and the transport runs under this test's
// subscriber (a thread's default).
#[tokio::test(flavor = "current_thread")]
async fn calls_are_client_and_server_spans_with_rpc_attributes() {
    let _one = ONE_AT_A_TIME.lock().await;
    let spans = Spans::default();
    let _default =
        tracing::subscriber::set_default(tracing_subscriber::registry().with(spans.clone()));
    let t = TestRedis::start();
    let h = t.arith(t.server_config(), 1).await;
    let r = h.arith.add(&AddParams { a: 1.0, b: 2.0 }).await.unwrap();
    assert_eq!(r.sum, 3.0);
    let err = h
        .arith
        .divide(&DivideParams { a: 1.0, b: 0.0 })
        .await
        .unwrap_err();
    assert_eq!(err.code(), Some(-32000));
    // The server span is closed once the reply is written and acknowledged.
    clamator_tests::wait_for("the server spans recorded", WAIT, || async {
        spans
            .named("rpc.server", "arith/divide")
            .first()
            .is_some_and(|s| s.fields.contains_key("clamator.outcome"))
    })
    .await;
    h.stop().await;

    let client = &spans.named("rpc.client", "arith/add")[0];
    let f = |r: &Recorded, k: &str| r.fields.get(k).cloned().unwrap_or_default();
    assert_eq!(f(client, "rpc.system.name"), "jsonrpc");
    assert_eq!(f(client, "rpc.service"), "arith");
    assert_eq!(f(client, "rpc.method"), "add");
    assert_eq!(f(client, "otel.kind"), "client");
    let id = f(client, "jsonrpc.request.id");
    assert!(!id.is_empty(), "{client:?}");

    let server = spans
        .named("rpc.server", "arith/add")
        .into_iter()
        .find(|s| f(s, "jsonrpc.request.id") == id)
        .expect("the server span of the same request");
    assert_eq!(f(&server, "otel.kind"), "server");
    assert_eq!(f(&server, "rpc.method"), "add");
    assert_eq!(f(&server, "clamator.outcome"), "ok");
    assert_eq!(f(&server, "clamator.delivery_count"), "1");
    assert!(
        f(&server, "messaging.message.id").contains('-'),
        "{server:?}"
    );
    assert!(
        f(&server, "clamator.queue_wait_ms").parse::<u64>().is_ok(),
        "{server:?}"
    );
    for field in ["clamator.handler_ms", "clamator.reply_ms"] {
        assert!(
            f(&server, field).parse::<f64>().is_ok(),
            "{field}: {server:?}"
        );
    }

    let failed_client = &spans.named("rpc.client", "arith/divide")[0];
    assert_eq!(f(failed_client, "error.type"), "rpc_error");
    assert_eq!(f(failed_client, "jsonrpc.error.code"), "-32000");
    let failed_server = &spans.named("rpc.server", "arith/divide")[0];
    assert_eq!(f(failed_server, "clamator.outcome"), "error");
    assert_eq!(f(failed_server, "jsonrpc.error.code"), "-32000");
}

/// An event whose handler fails twice and then succeeds: the entry's span names the
/// subscriber and counts 3 attempts; each retry has its own span with its own handler time
/// and outcome (before, the retries wrote over the entry span's fields, and no span said
/// which subscriber it was).
#[tokio::test(flavor = "current_thread")]
async fn an_events_retries_each_have_a_span_and_name_the_subscriber() {
    use clamator_redis::{RedisServer, RetryDelays, SubscriptionOptions};
    let _one = ONE_AT_A_TIME.lock().await;
    let spans = Spans::default();
    let _default =
        tracing::subscriber::set_default(tracing_subscriber::registry().with(spans.clone()));
    let t = TestRedis::start();
    let calls = Arc::new(std::sync::atomic::AtomicU64::new(0));
    let seen = Arc::clone(&calls);
    let events = clamator_protocol::Service::builder("orders")
        .notification("orderPlaced", move |_: serde_json::Value| {
            let n = seen.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
            async move {
                if n < 2 {
                    Err(clamator_protocol::RpcError::new(-32000, "not yet"))
                } else {
                    Ok(())
                }
            }
        })
        .build()
        .unwrap();
    let quick = RetryDelays::new(Duration::from_millis(10), 1, Duration::from_millis(10));
    let server = RedisServer::builder(t.server_config())
        .subscribe_with("billing", events, SubscriptionOptions::new().retry(quick))
        .start()
        .await
        .unwrap();
    let transport = t.transport().await;
    transport
        .publish_event("orders", "orderPlaced", &serde_json::json!({"n": 1}))
        .await
        .unwrap();
    clamator_tests::wait_for("the event handled", WAIT, || async {
        spans
            .named("rpc.server", "orders/orderPlaced")
            .first()
            .is_some_and(|s| s.fields.contains_key("clamator.outcome"))
    })
    .await;
    transport.stop().await;
    server.stop().await;

    let f = |r: &Recorded, k: &str| r.fields.get(k).cloned().unwrap_or_default();
    let entry = &spans.named("rpc.server", "orders/orderPlaced")[0];
    assert_eq!(f(entry, "clamator.subscriber"), "billing", "{entry:?}");
    assert_eq!(f(entry, "clamator.attempts"), "3", "{entry:?}");
    assert_eq!(f(entry, "clamator.outcome"), "ok", "{entry:?}");
    let mut retries = spans.named("clamator.event.retry", "orders/orderPlaced retry");
    retries.sort_by_key(|r| f(r, "clamator.attempt"));
    let summary: Vec<(String, String)> = retries
        .iter()
        .map(|r| (f(r, "clamator.attempt"), f(r, "clamator.outcome")))
        .collect();
    assert_eq!(
        summary,
        [("2".into(), "error".into()), ("3".into(), "ok".into())]
    );
    assert!(retries
        .iter()
        .all(|r| f(r, "clamator.handler_ms").parse::<f64>().is_ok()));
}

/// Names and ids come from the wire: a request for a 500 KB method name with a 100 KB id
/// makes a span named `arith/unknown` that records at most a few dozen bytes of each (before,
/// the span carried all of both, 600 KB per exported span).
#[tokio::test(flavor = "current_thread")]
async fn spans_record_bounded_names_and_ids_from_the_wire() {
    let _one = ONE_AT_A_TIME.lock().await;
    let spans = Spans::default();
    let _default =
        tracing::subscriber::set_default(tracing_subscriber::registry().with(spans.clone()));
    let t = TestRedis::start();
    let (server, _handled) = t.arith_server(t.server_config(), 1).await;
    let raw = t.raw().await;
    let method = "m".repeat(500_000);
    let id = "i".repeat(100_000);
    let envelope =
        format!(r#"{{"jsonrpc":"2.0","id":"{id}","method":"arith.{method}","params":{{}}}}"#);
    let reply_to = format!("{}:replies:huge-names", t.prefix);
    clamator_tests::xadd(
        &raw,
        &t.cmds("arith"),
        &[
            ("type", "rpc"),
            ("envelope", &envelope),
            ("reply-to", &reply_to),
        ],
    )
    .await;
    clamator_tests::wait_for("the server span recorded", WAIT, || async {
        spans
            .named("rpc.server", "arith/unknown")
            .first()
            .is_some_and(|s| s.fields.contains_key("clamator.outcome"))
    })
    .await;
    server.stop().await;
    let span = &spans.named("rpc.server", "arith/unknown")[0];
    let recorded: usize = span.fields.values().map(String::len).sum();
    assert!(recorded < 1_000, "{recorded} bytes recorded: {span:?}");
    let method_field = span.fields.get("rpc.method").cloned().unwrap_or_default();
    assert!(
        method_field.starts_with("mmm") && method_field.ends_with('…'),
        "{method_field}"
    );
    let id_field = span
        .fields
        .get("jsonrpc.request.id")
        .cloned()
        .unwrap_or_default();
    assert!(
        id_field.starts_with("iii") && id_field.len() < 100,
        "{id_field}"
    );
}

/// An in-memory OpenTelemetry exporter behind a `tracing-opentelemetry` layer, the default
/// subscriber of this thread while the guard lives.
fn otel_exporter() -> (InMemorySpanExporter, tracing::subscriber::DefaultGuard) {
    let exporter = InMemorySpanExporter::default();
    let provider = SdkTracerProvider::builder()
        .with_simple_exporter(exporter.clone())
        .build();
    let layer = tracing_opentelemetry::layer().with_tracer(provider.tracer("clamator-tests"));
    let guard = tracing::subscriber::set_default(tracing_subscriber::registry().with(layer));
    (exporter, guard)
}

/// The finished spans of a kind and name.
fn finished(exporter: &InMemorySpanExporter, kind: SpanKind, name: &str) -> Vec<SpanData> {
    exporter
        .get_finished_spans()
        .unwrap()
        .into_iter()
        .filter(|s| s.span_kind == kind && s.name == name)
        .collect()
}

/// With the `opentelemetry` feature and an OpenTelemetry layer installed, a call is one trace
/// across the Redis hop: the server span's parent is the client span (through the
/// `traceparent` stream field), a redelivery after a reclaim joins the same trace, and an
/// entry without trace fields (as the Python and TypeScript peers write) is a root span.
#[tokio::test(flavor = "current_thread")]
async fn one_call_is_one_trace_across_redis() {
    let _one = ONE_AT_A_TIME.lock().await;
    let (exporter, _default) = otel_exporter();
    let t = TestRedis::start();
    let h = t.arith(t.server_config(), 1).await;
    h.arith.add(&AddParams { a: 1.0, b: 2.0 }).await.unwrap();
    // The server span ends once the reply is acknowledged, just after the caller has it.
    let finished = |kind: SpanKind, name: &str| finished(&exporter, kind, name);
    clamator_tests::wait_for("the server span", WAIT, || {
        let done = !finished(SpanKind::Server, "arith/add").is_empty();
        async move { done }
    })
    .await;
    let client = finished(SpanKind::Client, "arith/add").remove(0);
    let server = finished(SpanKind::Server, "arith/add").remove(0);
    assert_eq!(
        server.span_context.trace_id(),
        client.span_context.trace_id()
    );
    assert_eq!(server.parent_span_id, client.span_context.span_id());

    // An entry without trace fields starts a trace of its own.
    let raw = t.raw().await;
    let envelope = r#"{"jsonrpc":"2.0","method":"notifications.ping","params":{}}"#;
    clamator_tests::xadd(
        &raw,
        &t.cmds("notifications"),
        &[("type", "rpc"), ("envelope", envelope)],
    )
    .await;
    clamator_tests::wait_for("the ping's server span", WAIT, || {
        let done = !finished(SpanKind::Server, "notifications/ping").is_empty();
        async move { done }
    })
    .await;
    let ping = finished(SpanKind::Server, "notifications/ping").remove(0);
    assert_eq!(ping.parent_span_id, SpanId::INVALID);
    assert_ne!(ping.span_context.trace_id(), client.span_context.trace_id());

    // A request a dying consumer took is reclaimed; its second delivery joins its trace.
    h.server.stop().await;
    let stream = t.cmds("arith");
    let call = {
        let arith = h.arith.clone();
        tokio::spawn(async move {
            arith
                .add_with(&AddParams { a: 2.0, b: 2.0 }, CallOptions::timeout(WAIT))
                .await
        })
    };
    clamator_tests::wait_for(
        "the request taken by a consumer that dies",
        WAIT,
        || async {
            let taken =
                clamator_tests::take_as_dead_consumer(&raw, &stream, "arith", "arith:dead", 10)
                    .await;
            matches!(taken, redis::Value::Array(ref streams) if !streams.is_empty())
        },
    )
    .await;
    let config = t.server_config().claim_idle(Duration::from_millis(200));
    let (server, _) = t.arith_server(config, 1).await;
    assert_eq!(call.await.unwrap().unwrap().sum, 4.0);
    clamator_tests::wait_for("the reclaimed request's server span", WAIT, || {
        let done = finished(SpanKind::Server, "arith/add").len() == 2;
        async move { done }
    })
    .await;
    let second_client = finished(SpanKind::Client, "arith/add")
        .into_iter()
        .find(|s| s.span_context.trace_id() != client.span_context.trace_id())
        .expect("the second call's client span");
    let reclaimed = finished(SpanKind::Server, "arith/add")
        .into_iter()
        .find(|s| s.span_context.trace_id() == second_client.span_context.trace_id())
        .expect("the reclaimed delivery in the caller's trace");
    assert_eq!(
        reclaimed.parent_span_id,
        second_client.span_context.span_id()
    );
    assert!(
        reclaimed
            .attributes
            .iter()
            .any(|kv| kv.key.as_str() == "clamator.delivery_count" && kv.value.as_str() == "2"),
        "{:?}",
        reclaimed.attributes
    );
    h.transport.stop().await;
    server.stop().await;
}

/// A request from the published Python client carries no trace fields: a Rust server serves
/// it and starts a trace of its own, a root server span with the RPC attributes.
#[tokio::test(flavor = "current_thread")]
#[cfg_attr(
    not(feature = "full-tests"),
    ignore = "needs the Python peer: step 3 of the test ladder, --features full-tests"
)]
async fn a_python_callers_request_is_a_root_server_span() {
    let _one = ONE_AT_A_TIME.lock().await;
    let (exporter, _default) = otel_exporter();
    let t = TestRedis::start();
    let (server, _) = t.arith_server(t.server_config(), 1).await;
    let input = serde_json::json!({
        "redisUrl": t.url(),
        "keyPrefix": t.prefix,
        "calls": [{"method": "arith.add", "params": {"a": 2, "b": 5}}],
    })
    .to_string();
    // The Python client blocks this thread's runtime no longer than its own run.
    let out = tokio::task::spawn_blocking(move || {
        let python = clamator_testkit::python_peer::python().unwrap();
        clamator_testkit::process::output_within(
            std::process::Command::new(python)
                .arg(clamator_testkit::python_peer::driver("client.py")),
            Some(input.as_bytes()),
            std::time::Duration::from_secs(60),
        )
        .unwrap()
    })
    .await
    .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{stdout}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let results: serde_json::Value = serde_json::from_str(stdout.trim()).unwrap();
    assert_eq!(
        results["results"][0]["result"]["sum"],
        serde_json::json!(7.0),
        "{results}"
    );
    clamator_tests::wait_for("the server span", WAIT, || {
        let done = !finished(&exporter, SpanKind::Server, "arith/add").is_empty();
        async move { done }
    })
    .await;
    let span = finished(&exporter, SpanKind::Server, "arith/add").remove(0);
    assert_eq!(span.parent_span_id, SpanId::INVALID, "a root span");
    let attribute = |key: &str| {
        span.attributes
            .iter()
            .find(|kv| kv.key.as_str() == key)
            .map(|kv| kv.value.as_str().into_owned())
    };
    assert_eq!(attribute("rpc.service").as_deref(), Some("arith"));
    assert_eq!(attribute("rpc.method").as_deref(), Some("add"));
    assert!(
        attribute("jsonrpc.request.id").is_some_and(|id| !id.is_empty()),
        "{:?}",
        span.attributes
    );
    server.stop().await;
}
