//! The outermost gRPC layer: a server span per call (not for health checks
//! and reflection, which probes make all the time), child of the caller's
//! trace context, and the call-duration metric for every call, refused ones
//! too.

use std::future::Future;
use std::pin::Pin;
use std::sync::OnceLock;
use std::task::{Context, Poll};
use std::time::Instant;

use consentd_telemetry::{instruments, parent_context};
use opentelemetry::KeyValue;
use tonic::body::Body;
use tower::{Layer, Service};
use tracing::Instrument as _;
use tracing_opentelemetry::OpenTelemetrySpanExt as _;

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
        let exported = consentd_telemetry::traces_exported();
        let span = if traced && exported {
            let span = tracing::info_span!(
                "grpc",
                otel.name = %format_args!("{service}/{method}"),
                otel.kind = "server",
                otel.status_code = tracing::field::Empty,
                rpc.system = "grpc",
                rpc.service = %service,
                rpc.method = %method,
                rpc.grpc.status_code = tracing::field::Empty,
            );
            let _ = span.set_parent(parent_context(request.headers()));
            span
        } else if traced {
            // For the log lines inside the call only (see
            // `consentd_telemetry::traces_exported`).
            tracing::info_span!("grpc", rpc.method = method)
        } else {
            tracing::Span::none()
        };
        let mut call = CallRecord {
            span: span.clone(),
            exported,
            started: Instant::now(),
            service,
            method,
            done: false,
        };
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
    /// Whether `span` is exported, and so worth its status fields.
    exported: bool,
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
        if self.exported {
            self.span.record("rpc.grpc.status_code", code);
            if is_server_error(code) {
                self.span.record("otel.status_code", "ERROR");
            }
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
