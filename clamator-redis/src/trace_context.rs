//! W3C trace context across the Redis hop (feature `opentelemetry`). A client writes the
//! OpenTelemetry context of its call's span as `traceparent` (and `tracestate`) stream fields
//! after clamator's fields; a server makes them the remote parent of its span, so one call is
//! one trace across processes and languages. Without the feature, nothing is written and
//! incoming fields are ignored; peers that do not know the fields ignore them too.

#[cfg(feature = "opentelemetry")]
use crate::stream::fields;
use crate::stream::StreamEntry;

/// The current span's trace context as `(traceparent, tracestate)`, when it has one.
#[cfg(feature = "opentelemetry")]
pub(crate) fn current() -> Option<(String, Option<String>)> {
    use opentelemetry::trace::TraceContextExt as _;
    use tracing_opentelemetry::OpenTelemetrySpanExt as _;
    let cx = tracing::Span::current().context();
    let span = cx.span();
    let sc = span.span_context();
    if !sc.is_valid() {
        return None;
    }
    let parent = format!(
        "00-{}-{}-{:02x}",
        sc.trace_id(),
        sc.span_id(),
        sc.trace_flags().to_u8()
    );
    let state = sc.trace_state().header();
    Some((parent, (!state.is_empty()).then_some(state)))
}

/// Without the feature there is never a context to write.
#[cfg(not(feature = "opentelemetry"))]
pub(crate) fn current() -> Option<(String, Option<String>)> {
    None
}

/// Makes the context in the entry's `traceparent` / `tracestate` fields the remote parent of
/// `span`. A missing or malformed `traceparent` (a peer without tracing, a broken one)
/// leaves `span` a root.
#[cfg(feature = "opentelemetry")]
pub(crate) fn continue_from(span: &tracing::Span, entry: &StreamEntry) {
    use opentelemetry::trace::TraceContextExt as _;
    use tracing_opentelemetry::OpenTelemetrySpanExt as _;
    let traceparent = entry.text(fields::TRACEPARENT);
    let tracestate = entry.text(fields::TRACESTATE);
    let Some(sc) = traceparent.and_then(|p| parse(&p, tracestate.as_deref())) else {
        return;
    };
    let cx = opentelemetry::Context::new().with_remote_span_context(sc);
    // Fails only when no OpenTelemetry layer is installed: then there is nothing to join.
    let _ = span.set_parent(cx);
}

/// Without the feature the fields are not even looked up.
#[cfg(not(feature = "opentelemetry"))]
pub(crate) fn continue_from(_: &tracing::Span, _: &StreamEntry) {}

/// `00-<32 hex trace id>-<16 hex span id>-<2 hex flags>`, as W3C Trace Context defines it
/// (a later version's extra fields are ignored, as the spec asks).
#[cfg(feature = "opentelemetry")]
fn parse(traceparent: &str, tracestate: Option<&str>) -> Option<opentelemetry::trace::SpanContext> {
    use opentelemetry::trace::{SpanContext, SpanId, TraceFlags, TraceId, TraceState};
    let mut parts = traceparent.trim().split('-');
    let version = parts.next()?;
    let (trace, span, flags) = (parts.next()?, parts.next()?, parts.next()?);
    if version.len() != 2 || version == "ff" || (version == "00" && parts.next().is_some()) {
        return None;
    }
    let hex = |s: &str, n: usize| {
        s.len() == n
            && s.bytes()
                .all(|b| b.is_ascii_hexdigit() && !b.is_ascii_uppercase())
    };
    if !hex(version, 2) || !hex(trace, 32) || !hex(span, 16) || !hex(flags, 2) {
        return None;
    }
    let trace_id = TraceId::from_hex(trace).ok()?;
    let span_id = SpanId::from_hex(span).ok()?;
    let flags = TraceFlags::new(u8::from_str_radix(flags, 16).ok()? & 1);
    // W3C caps tracestate at 512 characters; a longer one (from a broken or hostile
    // writer) is dropped rather than parsed, and the trace goes on without it.
    let state = tracestate
        .filter(|s| s.len() <= 512)
        .and_then(|s| s.parse::<TraceState>().ok())
        .unwrap_or_default();
    let sc = SpanContext::new(trace_id, span_id, flags, true, state);
    sc.is_valid().then_some(sc)
}

#[cfg(all(test, feature = "opentelemetry"))]
mod tests {
    use super::*;

    #[test]
    fn traceparents_are_read_as_w3c_writes_them() {
        let sc = parse(
            "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
            Some("congo=t61rcWkgMzE"),
        )
        .unwrap();
        assert_eq!(
            sc.trace_id().to_string(),
            "4bf92f3577b34da6a3ce929d0e0e4736"
        );
        assert_eq!(sc.span_id().to_string(), "00f067aa0ba902b7");
        assert!(sc.is_sampled() && sc.is_remote());
        assert_eq!(sc.trace_state().header(), "congo=t61rcWkgMzE");
        let long = format!("k={}", "v".repeat(600));
        let sc = parse(
            "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
            Some(&long),
        )
        .unwrap();
        assert_eq!(
            sc.trace_state().header(),
            "",
            "an oversized tracestate is dropped"
        );
        for bad in [
            "",
            "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7",
            "00-00000000000000000000000000000000-00f067aa0ba902b7-01",
            "00-4bf92f3577b34da6a3ce929d0e0e4736-0000000000000000-01",
            "ff-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
            "00-4BF92F3577B34DA6A3CE929D0E0E4736-00f067aa0ba902b7-01",
            "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01-extra",
            "not a traceparent",
        ] {
            assert!(parse(bad, None).is_none(), "{bad}");
        }
        // A later version may append fields.
        assert!(parse(
            "01-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01-x",
            None
        )
        .is_some());
    }
}
