//! The HTTP port: `/healthz` (the process is up) and `/readyz` (the store is
//! reachable and migrated). The vendor gateway mounts here later.

use std::future::Future;

use axum::Router;
use axum::extract::State;
use axum::http::StatusCode;
use axum::routing::get;
use consent_core::{ConsentService, ConsentStore};
use tokio::net::TcpListener;

use crate::server::ServerError;

pub(crate) async fn serve<S: ConsentStore + Clone>(
    listener: TcpListener,
    service: ConsentService<S>,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> Result<(), ServerError> {
    let app = Router::new()
        .route("/healthz", get(|| async { "ok" }))
        .route("/readyz", get(readyz::<S>))
        .with_state(service);
    axum::serve(listener, app).with_graceful_shutdown(shutdown).await.map_err(ServerError::Http)
}

async fn readyz<S: ConsentStore + Clone>(State(service): State<ConsentService<S>>) -> (StatusCode, String) {
    match service.ready().await {
        Ok(()) => (StatusCode::OK, "ready".to_owned()),
        Err(err) => (StatusCode::SERVICE_UNAVAILABLE, format!("not ready: {err}")),
    }
}
