//! Observability: every call is a client span and a server span named `<service>/<method>`
//! with the OpenTelemetry RPC attributes; the server span says how long the entry waited in
//! the stream, how it ended, and holds the handler's span; failures carry their code.

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex};

use clamator_examples::arith::{AddParams, DivideParams};
use clamator_tests::{TestRedis, WAIT};
use tracing::field::{Field, Visit};
use tracing::span::{Attributes, Id, Record};
use tracing::Subscriber;
use tracing_subscriber::layer::{Context, Layer};
use tracing_subscriber::prelude::*;
use tracing_subscriber::registry::LookupSpan;

/// A span as recorded: its name, its fields (as text), and its parent's name.
#[derive(Debug, Clone, Default)]
struct Recorded {
    name: String,
    fields: BTreeMap<String, String>,
    parent: Option<String>,
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
    fn on_new_span(&self, attrs: &Attributes<'_>, id: &Id, ctx: Context<'_, S>) {
        let mut r = Recorded {
            name: attrs.metadata().name().to_owned(),
            parent: ctx
                .span(id)
                .and_then(|s| s.parent())
                .map(|p| p.name().to_owned()),
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

// One thread, so every task of the server and the transport runs under this test's
// subscriber (a thread's default).
#[tokio::test(flavor = "current_thread")]
async fn calls_are_client_and_server_spans_with_rpc_attributes() {
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
    let handlers = spans
        .0
        .lock()
        .unwrap()
        .values()
        .filter(|s| s.name == "rpc.handler" && s.parent.as_deref() == Some("rpc.server"))
        .count();
    assert!(handlers >= 2, "handler spans inside the server spans");

    let failed_client = &spans.named("rpc.client", "arith/divide")[0];
    assert_eq!(f(failed_client, "error.type"), "rpc_error");
    assert_eq!(f(failed_client, "jsonrpc.error.code"), "-32000");
    let failed_server = &spans.named("rpc.server", "arith/divide")[0];
    assert_eq!(f(failed_server, "clamator.outcome"), "error");
    assert_eq!(f(failed_server, "jsonrpc.error.code"), "-32000");
}
