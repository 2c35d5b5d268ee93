//! Logs, traces and metrics.
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
//!   streams, write batch sizes, store pool usage, webhook attempts — exported
//!   over OTLP when an endpoint is set, and readable at any time in Prometheus
//!   text at `GET /metrics`.
//!
//! Nothing leaves the process unless an endpoint is configured; the standard
//! `OTEL_*` variables (service name, resource attributes, batch delays,
//! export interval, `OTEL_SDK_DISABLED`) apply.

use std::future::Future;
use std::io::IsTerminal;
use std::pin::Pin;
use std::sync::OnceLock;
use std::task::{Context, Poll};
use std::time::Instant;

use opentelemetry::metrics::{Counter, Histogram, Meter};
use opentelemetry::trace::TracerProvider as _;
use opentelemetry::{KeyValue, global};
use opentelemetry_http::HeaderExtractor;
use opentelemetry_sdk::Resource;
use opentelemetry_sdk::metrics::SdkMeterProvider;
use opentelemetry_sdk::propagation::TraceContextPropagator;
use opentelemetry_sdk::trace::SdkTracerProvider;
use tonic::body::Body;
use tonic::codegen::http;
use tower::{Layer, Service};
use tracing::Instrument as _;
use tracing_opentelemetry::OpenTelemetrySpanExt as _;
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
pub(crate) struct Instruments {
    /// `rpc.server.call.duration`, seconds, by service, method and status.
    pub(crate) rpc_duration: Histogram<f64>,
    /// `http.server.request.duration`, seconds, by vendor, route and status.
    pub(crate) http_duration: Histogram<f64>,
    /// `consentd.webhook.attempts`, by outcome.
    pub(crate) webhook_attempts: Counter<u64>,
}

/// The meter of this service.
pub(crate) fn meter() -> Meter {
    global::meter(SCOPE)
}

/// The instruments, made on first use.
pub(crate) fn instruments() -> &'static Instruments {
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
pub(crate) fn parent_context(headers: &http::HeaderMap) -> opentelemetry::Context {
    global::get_text_map_propagator(|propagator| propagator.extract(&HeaderExtractor(headers)))
}

/// The outermost gRPC layer: a server span per call (not for health checks
/// and reflection, which probes make all the time), child of the caller's
/// trace context, and the call-duration metric for every call.
#[derive(Debug, Clone, Copy, Default)]
pub struct TelemetryLayer;

impl<S> Layer<S> for TelemetryLayer {
    type Service = TelemetryService<S>;

    fn layer(&self, inner: S) -> Self::Service {
        TelemetryService { inner }
    }
}

/// See [`TelemetryLayer`].
#[derive(Debug, Clone)]
pub struct TelemetryService<S> {
    inner: S,
}

impl<S> Service<http::Request<Body>> for TelemetryService<S>
where
    S: Service<http::Request<Body>, Response = http::Response<Body>> + Clone + Send + 'static,
    S::Future: Send + 'static,
{
    type Response = http::Response<Body>;
    type Error = S::Error;
    type Future = Pin<Box<dyn Future<Output = Result<Self::Response, Self::Error>> + Send>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, request: http::Request<Body>) -> Self::Future {
        let clone = self.inner.clone();
        let mut inner = std::mem::replace(&mut self.inner, clone);
        let (service, method) = known_method(request.uri().path());
        let traced = !(service.starts_with("grpc.health.") || service.starts_with("grpc.reflection."));
        let span = if traced {
            let span = tracing::info_span!(
                "grpc",
                otel.name = %format!("{service}/{method}"),
                otel.kind = "server",
                otel.status_code = tracing::field::Empty,
                rpc.system = "grpc",
                rpc.service = %service,
                rpc.method = %method,
                rpc.grpc.status_code = tracing::field::Empty,
            );
            let _ = span.set_parent(parent_context(request.headers()));
            span
        } else {
            tracing::Span::none()
        };
        let mut call =
            CallRecord { span: span.clone(), started: Instant::now(), service, method, done: false };
        Box::pin(async move {
            let response = match inner.call(request).instrument(span).await {
                Ok(response) => response,
                Err(err) => {
                    call.finish(CODE_UNKNOWN);
                    return Err(err);
                }
            };
            // An error answered "trailers-only" has its status in the
            // headers; otherwise the status comes in the trailers, after the
            // last message — for a stream, when it ends.
            if let Some(code) = grpc_status(response.headers()) {
                call.finish(code);
                return Ok(response);
            }
            Ok(response.map(|body| Body::new(ObservedBody { inner: body, call })))
        })
    }
}

const CODE_CANCELLED: i32 = 1;
const CODE_UNKNOWN: i32 = 2;
/// The label for a path that names no method this server has.
const OTHER: &str = "_OTHER";

/// The service and method a request path names, if this server serves it;
/// `_OTHER` otherwise. Labels come only from this fixed set, so no client can
/// create metric series by sending made-up paths.
fn known_method(path: &str) -> (&'static str, &'static str) {
    static KNOWN: OnceLock<Vec<(&'static str, &'static str)>> = OnceLock::new();
    let known = KNOWN.get_or_init(|| {
        let mut known = vec![("grpc.reflection.v1.ServerReflection", "ServerReflectionInfo")];
        for encoded in [consent_proto::FILE_DESCRIPTOR_SET, tonic_health::pb::FILE_DESCRIPTOR_SET] {
            let Ok(set) = <prost_types::FileDescriptorSet as prost::Message>::decode(encoded) else {
                continue;
            };
            for file in set.file {
                for service in &file.service {
                    // Leaked once: a fixed, small set of names for the
                    // life of the process.
                    let service_name: &'static str =
                        Box::leak(format!("{}.{}", file.package(), service.name()).into_boxed_str());
                    for method in &service.method {
                        known.push((service_name, Box::leak(method.name().to_owned().into_boxed_str())));
                    }
                }
            }
        }
        known
    });
    let (service, method) = path.trim_start_matches('/').split_once('/').unwrap_or((path, ""));
    known
        .iter()
        .find(|(known_service, known_method)| *known_service == service && *known_method == method)
        .copied()
        .unwrap_or((OTHER, OTHER))
}

fn grpc_status(headers: &http::HeaderMap) -> Option<i32> {
    headers.get("grpc-status").and_then(|value| value.to_str().ok()).and_then(|value| value.parse().ok())
}

/// One call's span and duration, finished once its status is known.
struct CallRecord {
    span: tracing::Span,
    started: Instant,
    service: &'static str,
    method: &'static str,
    done: bool,
}

impl CallRecord {
    fn finish(&mut self, code: i32) {
        if std::mem::replace(&mut self.done, true) {
            return;
        }
        self.span.record("rpc.grpc.status_code", code);
        if is_server_error(code) {
            self.span.record("otel.status_code", "ERROR");
        }
        instruments().rpc_duration.record(
            self.started.elapsed().as_secs_f64(),
            &[
                KeyValue::new("rpc.system", "grpc"),
                KeyValue::new("rpc.service", self.service),
                KeyValue::new("rpc.method", self.method),
                KeyValue::new("rpc.grpc.status_code", i64::from(code)),
            ],
        );
    }
}

impl Drop for CallRecord {
    /// A response dropped before its trailers: the client went away, or
    /// the server cut the call at the end of the grace period.
    fn drop(&mut self) {
        self.finish(CODE_CANCELLED);
    }
}

/// A response body that reports the call's status when its trailers pass.
struct ObservedBody {
    inner: Body,
    call: CallRecord,
}

impl hyper::body::Body for ObservedBody {
    type Data = hyper::body::Bytes;
    type Error = tonic::Status;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<hyper::body::Frame<Self::Data>, Self::Error>>> {
        let this = self.get_mut();
        let polled = Pin::new(&mut this.inner).poll_frame(cx);
        match &polled {
            Poll::Ready(Some(Ok(frame))) => {
                if let Some(trailers) = frame.trailers_ref() {
                    this.call.finish(grpc_status(trailers).unwrap_or(CODE_UNKNOWN));
                }
            }
            Poll::Ready(Some(Err(status))) => this.call.finish(status.code() as i32),
            Poll::Ready(None) => this.call.finish(CODE_UNKNOWN),
            Poll::Pending => {}
        }
        polled
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> hyper::body::SizeHint {
        self.inner.size_hint()
    }
}

/// The gRPC codes that mark a server span as failed (OpenTelemetry's RPC
/// conventions): the server's fault, not the client's.
const fn is_server_error(code: i32) -> bool {
    matches!(code, 2 | 4 | 12 | 13 | 14 | 15)
}
