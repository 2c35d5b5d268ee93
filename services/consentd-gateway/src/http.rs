//! The HTTP port: `/healthz` (the process is up), `/readyz` (the store is
//! reachable and migrated, and no shutdown has begun), `/metrics`, and the
//! vendor gateway's routes.

use std::convert::Infallible;
use std::future::Future;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use axum::Router;
use axum::body::Body;
use axum::extract::{ConnectInfo, State};
use axum::http::StatusCode;
use axum::response::Response;
use axum::routing::get;
use consent_core::{ConsentService, ConsentStore};
use hyper::body::Body as _;
use hyper::body::Incoming;
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use hyper_util::server::conn::auto::Builder;
use hyper_util::server::graceful::GracefulShutdown;
use tokio::sync::Semaphore;
use tower::{Service, ServiceExt as _};
use tower_http::timeout::TimeoutBody;

/// What every connection to an HTTP port is held to (from `[limits]`).
#[derive(Debug, Clone, Copy)]
pub struct ConnectionLimits {
    /// How long a client may take to send its request headers.
    pub header_timeout: Duration,
    /// Streams the server may reset for a client's protocol errors on one
    /// HTTP/2 connection before it sends GOAWAY.
    pub max_error_resets: usize,
    /// How long a client may take to send a request's body.
    pub body_timeout: Duration,
    /// Connections the listener holds open at once.
    pub max_connections: usize,
}

/// Serves `app` on `listener` (plain TCP or TLS) until `shutdown`, then lets
/// open connections finish for up to `drain`. A client must send its request
/// headers within the header timeout and its body within the body timeout
/// (slow-header and slow-body attacks: a body that stops arriving fails the
/// handler's read of it), an HTTP/2 connection that makes the server reset
/// too many streams is closed, the listener holds at most
/// `max_connections` connections (the next clients wait to be accepted),
/// and handlers see the peer address.
pub fn serve<L, A>(
    listener: L,
    app: A,
    limits: ConnectionLimits,
    drain: Duration,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> impl Future<Output = ()> + Send + 'static
where
    L: axum::serve::Listener<Addr = std::net::SocketAddr>,
    A: Service<http::Request<Body>, Response = Response, Error = Infallible> + Clone + Send + Sync + 'static,
    A::Future: Send,
{
    let mut builder = Builder::new(TokioExecutor::new());
    builder.http1().timer(TokioTimer::new()).header_read_timeout(limits.header_timeout);
    builder.http2().timer(TokioTimer::new()).max_local_error_reset_streams(limits.max_error_resets);
    let slots = Arc::new(Semaphore::new(limits.max_connections));
    async move { serve_with(listener, app, limits.body_timeout, builder, slots, drain, shutdown).await }
}

async fn serve_with<L, A>(
    mut listener: L,
    app: A,
    body_timeout: Duration,
    builder: Builder<TokioExecutor>,
    slots: Arc<Semaphore>,
    drain: Duration,
    shutdown: impl Future<Output = ()> + Send + 'static,
) where
    L: axum::serve::Listener<Addr = std::net::SocketAddr>,
    A: Service<http::Request<Body>, Response = Response, Error = Infallible> + Clone + Send + Sync + 'static,
    A::Future: Send,
{
    let graceful = GracefulShutdown::new();
    tokio::pin!(shutdown);
    loop {
        // A slot first, then the next connection: at the limit, clients wait
        // in the kernel's accept queue rather than in this process.
        let slot = tokio::select! {
            slot = Arc::clone(&slots).acquire_owned() => match slot {
                Ok(slot) => slot,
                Err(_) => break,
            },
            () = &mut shutdown => break,
        };
        tokio::select! {
            (io, peer) = listener.accept() => {
                let app = app.clone();
                // Each request: its body under the body timeout, the peer
                // for handlers, then the app (a layer on the router instead
                // would wrap every route, a boxed service each per call).
                let service = hyper::service::service_fn(move |request: http::Request<Incoming>| {
                    let mut request = request.map(|body| timed_body(body, body_timeout));
                    request.extensions_mut().insert(ConnectInfo(PeerAddr(peer)));
                    app.clone().oneshot(request)
                });
                let connection =
                    graceful.watch(builder.serve_connection_with_upgrades(TokioIo::new(io), service).into_owned());
                tokio::spawn(async move {
                    if let Err(err) = connection.await {
                        tracing::debug!(%peer, error = %err, "http connection ended with an error");
                    }
                    drop(slot);
                });
            }
            () = &mut shutdown => break,
        }
    }
    if tokio::time::timeout(drain, graceful.shutdown()).await.is_err() {
        tracing::warn!("http connections still open after the drain period");
    }
}

/// `body` failing once no frame of it arrives for `timeout` (a slow-body
/// attack fails the handler's read). A request without a body gets no
/// timer: tower-http's `TimeoutBody` starts one whenever it is polled.
fn timed_body(body: Incoming, timeout: Duration) -> Body {
    if body.is_end_stream() { Body::new(body) } else { Body::new(TimeoutBody::new(timeout, body)) }
}

/// The client's socket address, for handlers (plain TCP and TLS alike).
#[derive(Debug, Clone, Copy)]
pub struct PeerAddr(pub std::net::SocketAddr);

/// `GET /.well-known/consentd/log-keys`: the verifiable log's public keys,
/// `{"keys": ["<name>+<id>+<base64>", …]}`, the signing key's first. Public:
/// they are what anyone verifies checkpoints and receipts with.
pub(crate) fn log_key_route(keys: Arc<dyn consent_evidence::LogKeys>) -> Router {
    Router::new().route(
        "/.well-known/consentd/log-keys",
        get(move || {
            let keys = Arc::clone(&keys);
            async move {
                match keys.public_keys().await {
                    Ok(keys) => (StatusCode::OK, axum::Json(serde_json::json!({ "keys": keys }))),
                    Err(err) => {
                        tracing::warn!(error = %err, "cannot read the log's keys");
                        (
                            StatusCode::SERVICE_UNAVAILABLE,
                            axum::Json(serde_json::json!({ "error": "unavailable" })),
                        )
                    }
                }
            }
        }),
    )
}

/// `/healthz` (the process is up), `/readyz` (the store is usable and the
/// server is not shutting down) and `/metrics`.
pub fn health_routes<S: ConsentStore + Clone>(
    service: ConsentService<S>,
    draining: Arc<AtomicBool>,
) -> Router {
    Router::new()
        .route("/healthz", get(healthz::<S>))
        .route("/metrics", get(metrics))
        .route("/readyz", get(readyz::<S>))
        .with_state(Readiness { service, draining })
}

/// What `/readyz` consults.
#[derive(Debug, Clone)]
struct Readiness<S> {
    service: ConsentService<S>,
    /// Set when shutdown begins (as gRPC health turns NOT_SERVING).
    draining: Arc<AtomicBool>,
}

/// The metrics in Prometheus text exposition format.
async fn metrics() -> ([(axum::http::header::HeaderName, &'static str); 1], String) {
    (
        [(axum::http::header::CONTENT_TYPE, "text/plain; version=0.0.4; charset=utf-8")],
        consentd_telemetry::render_metrics(),
    )
}

/// Liveness: the process's vital tasks run. Never follows the database (an
/// outage makes the server unready, not dead).
async fn healthz<S: ConsentStore + Clone>(State(readiness): State<Readiness<S>>) -> (StatusCode, String) {
    match readiness.service.alive() {
        Ok(()) => (StatusCode::OK, "ok".to_owned()),
        Err(err) => (StatusCode::SERVICE_UNAVAILABLE, format!("not alive: {err}")),
    }
}

async fn readyz<S: ConsentStore + Clone>(State(readiness): State<Readiness<S>>) -> (StatusCode, String) {
    if readiness.draining.load(Ordering::Acquire) {
        return (StatusCode::SERVICE_UNAVAILABLE, "not ready: shutting down".to_owned());
    }
    match readiness.service.alive() {
        Ok(()) => {}
        Err(err) => return (StatusCode::SERVICE_UNAVAILABLE, format!("not ready: {err}")),
    }
    match readiness.service.ready().await {
        Ok(()) => (StatusCode::OK, "ready".to_owned()),
        Err(err) => (StatusCode::SERVICE_UNAVAILABLE, format!("not ready: {err}")),
    }
}
