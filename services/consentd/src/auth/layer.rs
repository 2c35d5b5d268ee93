//! The tower layer in front of the consent API, in this order:
//!
//! 1. health and reflection pass untouched (Kubernetes probes carry no key);
//! 2. while the server shuts down, new calls are refused with UNAVAILABLE
//!    (clients retry on another replica; calls in flight finish);
//! 3. authenticate the bearer key → [`Principal`] (UNAUTHENTICATED), so
//!    nothing below spends work on strangers;
//! 4. the key's rate limit (RESOURCE_EXHAUSTED with a RetryInfo delay);
//! 5. load shedding: a cap on calls in flight on this server
//!    (RESOURCE_EXHAUSTED at once rather than queueing);
//! 6. the deadline cap: the call ends with DEADLINE_EXCEEDED after the
//!    smaller of the client's `grpc-timeout` and the server's cap.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use tonic::Status;
use tonic::body::Body;
use tonic::codegen::http;
use tonic::transport::server::{TcpConnectInfo, TlsConnectInfo};
use tonic_types::{ErrorDetails, StatusExt};
use tower::{Layer, Service};

use super::{Authenticator, Budget, Principal};

/// Limits the layer enforces.
#[derive(Debug, Clone)]
pub struct Limits {
    /// Calls per second per key (token bucket refill rate).
    pub rate_per_key: u32,
    /// Bucket size: the burst a key may make at once.
    pub burst_per_key: u32,
    /// Calls in flight on this server before new ones are shed.
    pub max_in_flight: usize,
    /// The longest a unary call may run, whatever the client asks.
    pub max_deadline: Duration,
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            rate_per_key: 500,
            burst_per_key: 1000,
            max_in_flight: 2048,
            max_deadline: Duration::from_secs(30),
        }
    }
}

/// Wraps the gRPC routes with authentication and limits.
#[derive(Debug, Clone)]
pub struct AuthLayer {
    shared: Arc<Shared>,
}

#[derive(Debug)]
struct Shared {
    /// `None`: authentication disabled, every call is [`Principal::anonymous`].
    authenticator: Option<Authenticator>,
    budget: Budget,
}

impl AuthLayer {
    /// A layer that authenticates with `authenticator` (or, with `None`,
    /// lets every call act for tenant `default`) and spends `budget` (shared
    /// with the HTTP gateway).
    pub fn new(authenticator: Option<Authenticator>, budget: Budget) -> Self {
        Self { shared: Arc::new(Shared { authenticator, budget }) }
    }
}

impl<S> Layer<S> for AuthLayer {
    type Service = AuthService<S>;

    fn layer(&self, inner: S) -> Self::Service {
        AuthService { inner, shared: Arc::clone(&self.shared) }
    }
}

/// See [`AuthLayer`].
#[derive(Debug, Clone)]
pub struct AuthService<S> {
    inner: S,
    shared: Arc<Shared>,
}

/// Paths that need no key: probes and schema discovery.
fn is_public(path: &str) -> bool {
    path.starts_with("/grpc.health.v1.") || path.starts_with("/grpc.reflection.")
}

impl<S> Service<http::Request<Body>> for AuthService<S>
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

    fn call(&mut self, mut request: http::Request<Body>) -> Self::Future {
        // The ready inner service handles this call; a fresh clone waits for
        // the next (tower's documented pattern).
        let clone = self.inner.clone();
        let mut inner = std::mem::replace(&mut self.inner, clone);
        let shared = Arc::clone(&self.shared);
        Box::pin(async move {
            if is_public(request.uri().path()) {
                return inner.call(request).await;
            }
            if shared.budget.draining() {
                return Ok(
                    Status::unavailable("the server is shutting down; retry on another replica").into_http()
                );
            }
            let principal = match &shared.authenticator {
                None => Principal::anonymous(),
                Some(authenticator) => {
                    let bearer = request.headers().get("authorization").and_then(|v| v.to_str().ok());
                    let client = peer_ip(&request).map(|ip| ip.to_string()).unwrap_or_default();
                    match authenticator.authenticate(bearer, &client).await {
                        Ok(principal) => principal,
                        Err(status) => return Ok(status.into_http()),
                    }
                }
            };
            // Without keys there is nobody to charge: the in-flight cap below
            // still bounds the load.
            if let Some(key_id) = &principal.key_id
                && let Err(wait) = shared.budget.rate.take(key_id)
            {
                let status = Status::with_error_details(
                    tonic::Code::ResourceExhausted,
                    "rate limit exceeded for this key; retry after the RetryInfo delay",
                    ErrorDetails::with_retry_info(Some(wait)),
                );
                return Ok(status.into_http());
            }
            let Ok(_permit) = Arc::clone(&shared.budget.in_flight).try_acquire_owned() else {
                return Ok(
                    Status::resource_exhausted("the server is at capacity; retry with backoff").into_http()
                );
            };
            request.extensions_mut().insert(principal);
            let deadline = client_deadline(&request)
                .map_or(shared.budget.max_deadline, |d| d.min(shared.budget.max_deadline));
            match tokio::time::timeout(deadline, inner.call(request)).await {
                Ok(response) => response,
                Err(_) => Ok(Status::deadline_exceeded("the call exceeded its deadline").into_http()),
            }
        })
    }
}

/// The client's address, as the listener saw it (plain TCP or TLS).
fn peer_ip(request: &http::Request<Body>) -> Option<std::net::IpAddr> {
    let extensions = request.extensions();
    let tcp = extensions
        .get::<TcpConnectInfo>()
        .or_else(|| extensions.get::<TlsConnectInfo<TcpConnectInfo>>().map(TlsConnectInfo::get_ref))?;
    tcp.remote_addr().map(|addr| addr.ip().to_canonical())
}

/// The `grpc-timeout` the client sent (`<digits><unit>`).
fn client_deadline(request: &http::Request<Body>) -> Option<Duration> {
    let value = request.headers().get("grpc-timeout")?.to_str().ok()?;
    let (digits, unit) = value.split_at(value.len().checked_sub(1)?);
    let amount: u64 = digits.parse().ok()?;
    Some(match unit {
        "H" => Duration::from_secs(amount.saturating_mul(3600)),
        "M" => Duration::from_secs(amount.saturating_mul(60)),
        "S" => Duration::from_secs(amount),
        "m" => Duration::from_millis(amount),
        "u" => Duration::from_micros(amount),
        "n" => Duration::from_nanos(amount),
        _ => return None,
    })
}
