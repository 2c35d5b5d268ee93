//! The HTTP ports: the vendor gateway's (with `/healthz`, `/readyz` and
//! `/metrics`), and an optional plain health port; each with request ids,
//! the connection limits, TLS when configured, and TCP_NODELAY.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::AtomicBool;
use std::time::Duration;

use axum::serve::ListenerExt as _;
use consent_core::{ConsentService, ConsentStore};
use consentd_pipeline::request_ids;
use tokio::net::{TcpListener, TcpStream};
use tower::ServiceBuilder;

use crate::http::{self, ConnectionLimits};
use crate::tls::{TlsListener, acceptor};
use crate::{Gateway, GatewayStore};
use consentd_pipeline::TlsPem;

/// How an HTTP port is held.
#[derive(Debug, Clone)]
pub struct HttpPort {
    /// What every connection is held to.
    pub limits: ConnectionLimits,
    /// How long open connections may finish after shutdown began.
    pub drain: Duration,
    /// The largest request body a vendor route reads.
    pub max_body_bytes: usize,
    /// The port's certificate, if it speaks TLS.
    pub tls: Option<TlsPem>,
}

/// A port being served, until its shutdown.
pub type Serving = Pin<Box<dyn Future<Output = ()> + Send>>;

/// Serves the `enabled` vendors' routes of `gateway`, beside the health
/// routes, on `listener`, until `shutdown`. An error: the TLS material is
/// unusable.
pub fn serve_gateway<S: GatewayStore>(
    listener: TcpListener,
    gateway: Gateway<S>,
    enabled: &[String],
    draining: Arc<AtomicBool>,
    port: &HttpPort,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> Result<Serving, String> {
    let router = http::health_routes(gateway.service.clone(), draining)
        .merge(http::log_key_route(Arc::clone(&gateway.log_keys)))
        .merge(crate::routes(gateway, enabled));
    // Around the router, not on it: `Router::layer` wraps every route, a
    // boxed service each per call.
    let app = ServiceBuilder::new()
        .layer(request_ids())
        .layer(axum::extract::DefaultBodyLimit::max(port.max_body_bytes))
        .service(router);
    Ok(match &port.tls {
        Some(tls) => {
            let listener = TlsListener::new(listener, acceptor(tls)?).map_err(|err| err.to_string())?;
            Box::pin(http::serve(listener, app, port.limits, port.drain, shutdown))
        }
        None => Box::pin(http::serve(unbuffered(listener), app, port.limits, port.drain, shutdown)),
    })
}

/// Serves only the health routes on `listener` (plain HTTP, for probes that
/// cannot speak the main port's TLS), until `shutdown`.
pub fn serve_health<S: ConsentStore + Clone>(
    listener: TcpListener,
    service: ConsentService<S>,
    draining: Arc<AtomicBool>,
    port: &HttpPort,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> Serving {
    let app = http::health_routes(service, draining);
    Box::pin(http::serve(unbuffered(listener), app, port.limits, port.drain, shutdown))
}

/// A listener whose connections have TCP_NODELAY: a reply is written in
/// pieces, and with Nagle's algorithm on, the later pieces wait for the
/// client's delayed ACK — about 40 ms a call on Linux.
fn unbuffered(listener: TcpListener) -> axum::serve::TapIo<TcpListener, fn(&mut TcpStream)> {
    listener.tap_io(set_nodelay)
}

fn set_nodelay(tcp: &mut TcpStream) {
    if let Err(err) = tcp.set_nodelay(true) {
        tracing::debug!(error = %err, "cannot set TCP_NODELAY");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The ~40 ms a call that Nagle's algorithm and delayed ACKs cost was
    /// found by the benchmark harness; this pins the cause.
    #[tokio::test]
    async fn accepted_connections_have_tcp_nodelay() {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let mut http = unbuffered(listener);
        let _client = tokio::net::TcpStream::connect(addr).await.unwrap();
        let (accepted, _) = axum::serve::Listener::accept(&mut http).await;
        assert!(accepted.nodelay().unwrap(), "HTTP connection without TCP_NODELAY");
    }
}
