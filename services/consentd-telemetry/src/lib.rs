//! Logs, traces and metrics of consentd: the subscriber, the OpenTelemetry
//! exporters, the Prometheus registry behind `GET /metrics`, and the
//! instruments the request paths record into. The spans themselves are
//! made where the calls are (the gRPC layer, the vendor routes).
//!
//! - **Logs**: `tracing`, pretty on a terminal and JSON otherwise (or as
//!   configured), on stderr; `RUST_LOG` filters (default `info`).
//! - **Traces**: a server span per consent and webhook RPC and per vendor
//!   route, child of the caller's W3C trace context (`traceparent` in gRPC
//!   metadata or HTTP headers), exported over OTLP/gRPC when the standard
//!   `OTEL_EXPORTER_OTLP_ENDPOINT` (or `OTEL_EXPORTER_OTLP_TRACES_ENDPOINT`)
//!   names a collector.
//! - **Metrics**: OpenTelemetry instruments — RPC and vendor-route latency
//!   histograms by method and status (their counts are the call counts), open
//!   streams and their events' delay, write batch sizes, store pool usage,
//!   webhook attempts, backlog and parked subscriptions — exported
//!   over OTLP when an endpoint is set, and readable at any time in Prometheus
//!   text at `GET /metrics`.
//!
//! Nothing leaves the process unless an endpoint is configured; the standard
//! `OTEL_*` variables (service name, resource attributes, batch delays,
//! export interval, `OTEL_SDK_DISABLED`) apply.

use std::io::IsTerminal;
use std::sync::OnceLock;
use std::sync::atomic::{AtomicBool, Ordering};

use opentelemetry::metrics::{Counter, Histogram, Meter};
use opentelemetry::trace::TracerProvider as _;
use opentelemetry::{KeyValue, global};
use opentelemetry_http::HeaderExtractor;
use opentelemetry_sdk::Resource;
use opentelemetry_sdk::metrics::SdkMeterProvider;
use opentelemetry_sdk::propagation::TraceContextPropagator;
use opentelemetry_sdk::trace::SdkTracerProvider;
use tracing_subscriber::filter::Targets;
use tracing_subscriber::layer::SubscriberExt as _;
use tracing_subscriber::util::SubscriberInitExt as _;
use tracing_subscriber::{EnvFilter, Layer as _};

/// Log output format.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum, serde::Deserialize, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum LogFormat {
    /// Human-readable, for a terminal.
    Pretty,
    /// One JSON object per line, for containers.
    Json,
}

/// The instrumentation scope of every instrument and span.
pub const SCOPE: &str = "consentd";

/// Telemetry could not be set up.
#[derive(Debug, thiserror::Error)]
pub enum TelemetryError {
    /// An OTLP exporter could not be built (a malformed endpoint, say).
    #[error("otlp exporter: {0}")]
    Exporter(String),
    /// The Prometheus reader could not be built.
    #[error("prometheus exporter: {0}")]
    Prometheus(String),
}

/// The installed providers, flushed on shutdown.
#[derive(Debug)]
pub struct Telemetry {
    tracer: Option<SdkTracerProvider>,
    meter: SdkMeterProvider,
}

/// The registry `GET /metrics` renders, once metrics are installed.
static PROMETHEUS: OnceLock<prometheus::Registry> = OnceLock::new();

/// Whether spans leave the process (an OTLP trace endpoint is set).
static TRACES_EXPORTED: AtomicBool = AtomicBool::new(false);

/// Whether spans are exported. Without an exporter a call's span serves
/// only the log lines written inside it, so the request layers give it just
/// what those lines need (its request id and route): the logs' JSON
/// formatter formats every field of a span when it opens and again at each
/// `record`, which cost a cached vendor check a sixth of its CPU
/// (docs/benchmarks.md, "Vendor routes").
pub fn traces_exported() -> bool {
    TRACES_EXPORTED.load(Ordering::Relaxed)
}

/// Whether an OTLP endpoint is set for a signal (`TRACES` or `METRICS`) and
/// the signal is not switched off.
fn exports(signal: &str) -> bool {
    let set = |name: &str| std::env::var(name).is_ok_and(|value| !value.trim().is_empty());
    let off = |name: &str| std::env::var(name).is_ok_and(|value| value.eq_ignore_ascii_case("none"));
    let disabled = std::env::var("OTEL_SDK_DISABLED").is_ok_and(|value| value.eq_ignore_ascii_case("true"));
    !disabled
        && !off(&format!("OTEL_{signal}_EXPORTER"))
        && (set("OTEL_EXPORTER_OTLP_ENDPOINT") || set(&format!("OTEL_EXPORTER_OTLP_{signal}_ENDPOINT")))
}

impl Telemetry {
    /// Installs logging, the trace exporter (when an endpoint is set), the
    /// meter provider (Prometheus always, OTLP when an endpoint is set) and
    /// the W3C trace-context propagator. Call once, inside the runtime,
    /// before the server starts (instruments bind to the provider installed
    /// when they are first used).
    pub fn init(format: Option<LogFormat>) -> Result<Self, TelemetryError> {
        global::set_text_map_propagator(TraceContextPropagator::new());
        let resource = resource();
        let tracer = if exports("TRACES") {
            let exporter = opentelemetry_otlp::SpanExporter::builder()
                .with_tonic()
                .build()
                .map_err(|err| TelemetryError::Exporter(err.to_string()))?;
            let provider = SdkTracerProvider::builder()
                .with_batch_exporter(exporter)
                .with_resource(resource.clone())
                .build();
            global::set_tracer_provider(provider.clone());
            TRACES_EXPORTED.store(true, Ordering::Relaxed);
            Some(provider)
        } else {
            None
        };
        let registry = prometheus::Registry::new();
        let prometheus_reader = opentelemetry_prometheus::exporter()
            .with_registry(registry.clone())
            .build()
            .map_err(|err| TelemetryError::Prometheus(err.to_string()))?;
        let mut meter = SdkMeterProvider::builder().with_resource(resource).with_reader(prometheus_reader);
        if exports("METRICS") {
            let exporter = opentelemetry_otlp::MetricExporter::builder()
                .with_tonic()
                .build()
                .map_err(|err| TelemetryError::Exporter(err.to_string()))?;
            meter = meter.with_periodic_exporter(exporter);
        }
        let meter = meter.build();
        global::set_meter_provider(meter.clone());
        let _ = PROMETHEUS.set(registry);

        // RUST_LOG filters the logs only: consentd's own spans are always
        // traced (`RUST_LOG=warn` must not switch tracing off).
        let otel_layer = tracer.as_ref().map(|provider| {
            tracing_opentelemetry::layer()
                .with_tracer(provider.tracer(SCOPE))
                .with_filter(Targets::new().with_target(SCOPE, tracing::Level::INFO))
        });
        let _ = tracing_subscriber::registry()
            .with(log_layer(format).with_filter(filter()))
            .with(otel_layer)
            .try_init();
        Ok(Self { tracer, meter })
    }

    /// Exports what is buffered and stops the exporters. Blocks while it
    /// flushes: call it from a blocking context.
    pub fn shutdown(self) {
        if let Some(tracer) = self.tracer
            && let Err(err) = tracer.shutdown()
        {
            tracing::warn!(error = %err, "cannot flush traces");
        }
        if let Err(err) = self.meter.shutdown() {
            tracing::warn!(error = %err, "cannot flush metrics");
        }
    }
}

/// Logging alone, for the commands other than `serve`.
pub fn init_logs(format: Option<LogFormat>) {
    // A second init (tests) keeps the first subscriber.
    let _ = tracing_subscriber::registry().with(log_layer(format).with_filter(filter())).try_init();
}

fn filter() -> EnvFilter {
    EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info"))
}

/// Logs go to stderr, so stdout stays free for command output such as a new
/// key.
fn log_layer<S>(format: Option<LogFormat>) -> Box<dyn tracing_subscriber::Layer<S> + Send + Sync>
where
    S: tracing::Subscriber + for<'span> tracing_subscriber::registry::LookupSpan<'span>,
{
    let format =
        format.unwrap_or(if std::io::stderr().is_terminal() { LogFormat::Pretty } else { LogFormat::Json });
    let layer = tracing_subscriber::fmt::layer().with_writer(std::io::stderr);
    match format {
        LogFormat::Pretty => layer.boxed(),
        LogFormat::Json => layer.json().boxed(),
    }
}

/// The resource: `OTEL_SERVICE_NAME` and `OTEL_RESOURCE_ATTRIBUTES` as
/// given, else service name `consentd`; the version.
fn resource() -> Resource {
    let mut builder =
        Resource::builder().with_attribute(KeyValue::new("service.version", env!("CARGO_PKG_VERSION")));
    if std::env::var("OTEL_SERVICE_NAME").is_err()
        && !std::env::var("OTEL_RESOURCE_ATTRIBUTES").is_ok_and(|attrs| attrs.contains("service.name="))
    {
        builder = builder.with_service_name(SCOPE);
    }
    builder.build()
}

/// The metrics in Prometheus text exposition format (empty before
/// [`Telemetry::init`]).
pub fn render_metrics() -> String {
    use prometheus::Encoder as _;
    let Some(registry) = PROMETHEUS.get() else { return String::new() };
    let mut text = Vec::new();
    if let Err(err) = prometheus::TextEncoder::new().encode(&registry.gather(), &mut text) {
        tracing::warn!(error = %err, "cannot encode metrics");
    }
    String::from_utf8(text).unwrap_or_default()
}

/// The instruments the request paths record into.
#[derive(Debug)]
pub struct Instruments {
    /// `rpc.server.call.duration`, seconds, by service, method and status.
    pub rpc_duration: Histogram<f64>,
    /// `http.server.request.duration`, seconds, by vendor, route and status.
    pub http_duration: Histogram<f64>,
    /// `consentd.webhook.attempts`, by outcome.
    pub webhook_attempts: Counter<u64>,
}

/// The meter of this service.
pub fn meter() -> Meter {
    global::meter(SCOPE)
}

/// The instruments, made on first use.
pub fn instruments() -> &'static Instruments {
    static INSTRUMENTS: OnceLock<Instruments> = OnceLock::new();
    INSTRUMENTS.get_or_init(|| {
        let meter = meter();
        Instruments {
            rpc_duration: meter
                .f64_histogram("rpc.server.call.duration")
                .with_unit("s")
                .with_description("Duration of gRPC calls handled, by method and status")
                .with_boundaries(LATENCY_BUCKETS.to_vec())
                .build(),
            http_duration: meter
                .f64_histogram("http.server.request.duration")
                .with_unit("s")
                .with_description("Duration of vendor HTTP requests handled, by vendor, route and status")
                .with_boundaries(LATENCY_BUCKETS.to_vec())
                .build(),
            webhook_attempts: meter
                .u64_counter("consentd.webhook.attempts")
                .with_description("Webhook delivery attempts, by outcome")
                .build(),
        }
    })
}

/// Latency buckets from 0.5 ms to 10 s: consentd answers checks in well
/// under a millisecond and durable writes in milliseconds.
const LATENCY_BUCKETS: [f64; 15] =
    [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 7.5, 10.0];

/// The caller's trace context from request headers.
pub fn parent_context(headers: &http::HeaderMap) -> opentelemetry::Context {
    global::get_text_map_propagator(|propagator| propagator.extract(&HeaderExtractor(headers)))
}
