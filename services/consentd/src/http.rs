//! The HTTP port: `/healthz` (the process is up) and `/readyz` (the store is
//! reachable and migrated). The vendor gateway mounts here later.

use std::future::Future;

use axum::Router;
use axum::extract::State;
use axum::http::StatusCode;
use axum::routing::get;
use consent_core::{ConsentService, ConsentStore};

use crate::server::ServerError;

/// Serves the HTTP routes on `listener` (plain TCP or TLS) until `shutdown`.
pub(crate) async fn serve<S, L>(
    listener: L,
    service: ConsentService<S>,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> Result<(), ServerError>
where
    S: ConsentStore + Clone,
    L: axum::serve::Listener,
    L::Addr: std::fmt::Debug,
{
    axum::serve(listener, health_routes(service))
        .with_graceful_shutdown(shutdown)
        .await
        .map_err(ServerError::Http)
}

/// `/healthz` (the process is up) and `/readyz` (the store is usable).
fn health_routes<S: ConsentStore + Clone>(service: ConsentService<S>) -> Router {
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
