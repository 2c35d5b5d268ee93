//! The HTTP port: `/healthz` (the process is up), `/readyz` (the store is
//! reachable and migrated), and the vendor gateway's routes.

use std::future::Future;

use axum::Router;
use axum::extract::State;
use axum::extract::connect_info::Connected;
use axum::http::StatusCode;
use axum::routing::get;
use axum::serve::IncomingStream;
use consent_core::{ConsentService, ConsentStore};

use crate::server::ServerError;

/// Serves `app` on `listener` (plain TCP or TLS) until `shutdown`; handlers
/// see the peer address.
pub(crate) async fn serve<L>(
    listener: L,
    app: Router,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> Result<(), ServerError>
where
    L: axum::serve::Listener<Addr = std::net::SocketAddr>,
    PeerAddr: for<'a> Connected<IncomingStream<'a, L>>,
{
    axum::serve(listener, app.into_make_service_with_connect_info::<PeerAddr>())
        .with_graceful_shutdown(shutdown)
        .await
        .map_err(ServerError::Http)
}

/// The client's socket address, for handlers (plain TCP and TLS alike).
#[derive(Debug, Clone, Copy)]
pub(crate) struct PeerAddr(pub(crate) std::net::SocketAddr);

impl Connected<IncomingStream<'_, tokio::net::TcpListener>> for PeerAddr {
    fn connect_info(stream: IncomingStream<'_, tokio::net::TcpListener>) -> Self {
        Self(*stream.remote_addr())
    }
}

impl Connected<IncomingStream<'_, crate::tls::TlsListener>> for PeerAddr {
    fn connect_info(stream: IncomingStream<'_, crate::tls::TlsListener>) -> Self {
        Self(*stream.remote_addr())
    }
}

/// `/healthz` (the process is up) and `/readyz` (the store is usable).
pub(crate) fn health_routes<S: ConsentStore + Clone>(service: ConsentService<S>) -> Router {
    Router::new()
        .route("/healthz", get(|| async { "ok" }))
        .route("/readyz", get(readyz::<S>))
        .with_state(service)
}

async fn readyz<S: ConsentStore + Clone>(State(service): State<ConsentService<S>>) -> (StatusCode, String) {
    match service.ready().await {
        Ok(()) => (StatusCode::OK, "ready".to_owned()),
        Err(err) => (StatusCode::SERVICE_UNAVAILABLE, format!("not ready: {err}")),
    }
}
