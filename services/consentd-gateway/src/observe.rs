//! Traces and measures each vendor call, refused ones too: a server span
//! per request (child of the caller's trace context) and the
//! `http.server.request.duration` histogram, by route, status and vendor.

use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};

use opentelemetry::KeyValue;
use tower::{Layer, Service, ServiceExt as _};
use tracing::Instrument as _;
use tracing_opentelemetry::OpenTelemetrySpanExt as _;

use consentd_pipeline::request_id;

/// What a vendor route's telemetry is labelled with.
#[derive(Debug, Clone, Copy)]
pub(super) struct ObserveLayer {
    pub(super) vendor: &'static str,
    pub(super) method: &'static str,
    pub(super) template: &'static str,
}

impl<S> Layer<S> for ObserveLayer {
    type Service = Observe<S>;

    fn layer(&self, inner: S) -> Self::Service {
        Observe { labels: *self, inner }
    }
}

/// See [`ObserveLayer`].
#[derive(Debug, Clone)]
pub(super) struct Observe<S> {
    labels: ObserveLayer,
    inner: S,
}

impl<S, B, R> Service<http::Request<B>> for Observe<S>
where
    S: Service<http::Request<B>, Response = http::Response<R>> + Clone + Send + 'static,
    S::Future: Send,
    B: Send + 'static,
{
    type Response = S::Response;
    type Error = S::Error;
    type Future = Pin<Box<dyn Future<Output = Result<Self::Response, Self::Error>> + Send>>;

    fn poll_ready(&mut self, _cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, request: http::Request<B>) -> Self::Future {
        let ObserveLayer { vendor, method, template } = self.labels;
        let exported = consentd_telemetry::traces_exported();
        let span = if exported {
            let span = tracing::info_span!(
                "vendor_request",
                otel.name = %format_args!("{method} {template}"),
                otel.kind = "server",
                otel.status_code = tracing::field::Empty,
                http.request.method = method,
                http.route = template,
                http.response.status_code = tracing::field::Empty,
                vendor,
                request_id = %request_id(request.headers()),
            );
            let _ = span.set_parent(consentd_telemetry::parent_context(request.headers()));
            span
        } else {
            // For the log lines inside the call only, and only with
            // RUST_LOG at debug: even two fields cost a cached check a
            // twentieth of its CPU (see `traces_exported`). The lines a
            // call logs at info and above name its request id themselves.
            tracing::debug_span!("vendor_request", http.route = template, request_id = %request_id(request.headers()))
        };
        let started = std::time::Instant::now();
        let inner = self.inner.clone();
        Box::pin(async move {
            let response = inner.oneshot(request).instrument(span.clone()).await?;
            let status = i64::from(response.status().as_u16());
            if exported {
                span.record("http.response.status_code", status);
                if status >= 500 {
                    span.record("otel.status_code", "ERROR");
                }
            }
            consentd_telemetry::instruments().http_duration.record(
                started.elapsed().as_secs_f64(),
                &[
                    KeyValue::new("http.request.method", method),
                    KeyValue::new("http.route", template),
                    KeyValue::new("http.response.status_code", status),
                    KeyValue::new("consentd.vendor", vendor),
                ],
            );
            Ok(response)
        })
    }
}
