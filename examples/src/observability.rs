//! Logs, traces and metrics for the example programs: what an operator would copy. Logs go
//! to stderr (`RUST_LOG`); with the `observability` feature, `--otlp-endpoint` exports traces
//! over OTLP/HTTP and `--metrics-addr` serves Prometheus text on `/metrics`.

use tracing_subscriber::prelude::*;

/// The observability flags of the example programs.
#[derive(clap::Args, Debug, Clone, Default)]
pub struct ObservabilityArgs {
    /// Serve Prometheus metrics on http://HOST:PORT/metrics (needs the `observability`
    /// feature).
    #[arg(long, value_name = "HOST:PORT")]
    pub metrics_addr: Option<std::net::SocketAddr>,
    /// Export traces over OTLP/HTTP to URL, e.g. http://127.0.0.1:4318/v1/traces (needs the
    /// `observability` feature).
    #[arg(long, value_name = "URL")]
    pub otlp_endpoint: Option<String>,
}

/// Keeps the trace exporter running; flushes it when dropped.
#[derive(Default)]
pub struct Telemetry {
    #[cfg(feature = "observability")]
    provider: Option<opentelemetry_sdk::trace::SdkTracerProvider>,
}

impl Drop for Telemetry {
    fn drop(&mut self) {
        #[cfg(feature = "observability")]
        if let Some(provider) = self.provider.take() {
            let _ = provider.shutdown();
        }
    }
}

/// The buckets, in seconds, of every `*_seconds` histogram (call, handler and queue-wait
/// durations): from 0.5 ms, about what one call over a local Redis takes, to 10 s, past
/// which a call has usually timed out. Pick them around your calls' timeouts and targets:
/// a bucket bound at each latency objective makes "share of calls under it" exact.
pub const LATENCY_BUCKETS: [f64; 14] = [
    0.000_5, 0.001, 0.002_5, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0,
];

/// Installs logging (`RUST_LOG`, else `default_filter`) and, with the feature, an
/// OpenTelemetry layer (always, so calls carry a trace context; exporting when
/// `--otlp-endpoint` is given) and the Prometheus exporter (`--metrics-addr`). Call it from
/// within the tokio runtime.
pub fn init(
    service_name: &str,
    default_filter: &str,
    args: &ObservabilityArgs,
) -> Result<Telemetry, String> {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| default_filter.into());
    let fmt = tracing_subscriber::fmt::layer()
        .with_writer(std::io::stderr)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()));
    #[cfg(not(feature = "observability"))]
    {
        let _ = service_name;
        if args.metrics_addr.is_some() || args.otlp_endpoint.is_some() {
            return Err(
                "--metrics-addr and --otlp-endpoint need the `observability` feature: \
                        cargo run -p clamator-examples --features observability --bin …"
                    .to_owned(),
            );
        }
        tracing_subscriber::registry().with(filter).with(fmt).init();
        Ok(Telemetry::default())
    }
    #[cfg(feature = "observability")]
    {
        use opentelemetry::trace::TracerProvider as _;
        let mut builder = opentelemetry_sdk::trace::SdkTracerProvider::builder().with_resource(
            opentelemetry_sdk::Resource::builder()
                .with_service_name(service_name.to_owned())
                .build(),
        );
        if let Some(endpoint) = &args.otlp_endpoint {
            use opentelemetry_otlp::WithExportConfig as _;
            let exporter = opentelemetry_otlp::SpanExporter::builder()
                .with_http()
                .with_endpoint(endpoint.clone())
                .build()
                .map_err(|e| format!("--otlp-endpoint {endpoint}: {e}"))?;
            builder = builder.with_batch_exporter(exporter);
        }
        let provider = builder.build();
        // The OpenTelemetry layer sees every span (they are at INFO) whatever RUST_LOG keeps
        // for the log, and no debug or trace events: those would become span events, and
        // enabling them globally would make every `trace!` in a hot path cost.
        // Lean: no busy/idle timing (an `Instant::now` at every poll of every span), no
        // thread or source-location attributes (the span's own fields say what matters), and
        // no OpenTelemetry context made current at every poll of every span: clamator
        // carries the trace context from the `tracing` span itself, and only code that asks
        // `opentelemetry::Context::current()` (other OpenTelemetry instrumentation) needs it.
        let otel = tracing_opentelemetry::layer()
            .with_tracked_inactivity(false)
            .with_context_activation(false)
            .with_threads(false)
            .with_location(false)
            .with_tracer(provider.tracer("clamator-examples"))
            .with_filter(tracing_subscriber::filter::LevelFilter::INFO);
        tracing_subscriber::registry()
            .with(otel)
            .with(fmt.with_filter(filter))
            .init();
        if let Some(addr) = args.metrics_addr {
            use metrics_exporter_prometheus::{Matcher, PrometheusBuilder};
            // Histograms with buckets, not the exporter's default summaries: quantiles of
            // one instance cannot be added up across a fleet, bucket counts can.
            PrometheusBuilder::new()
                .set_buckets_for_metric(Matcher::Suffix("_seconds".into()), &LATENCY_BUCKETS)
                .and_then(|b| b.with_http_listener(addr).install())
                .map_err(|e| format!("--metrics-addr {addr}: {e}"))?;
        }
        Ok(Telemetry {
            provider: Some(provider),
        })
    }
}
