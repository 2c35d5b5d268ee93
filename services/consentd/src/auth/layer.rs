//! The tower layer in front of the consent API, in this order:
//!
//! 1. health and reflection pass untouched (Kubernetes probes carry no key);
//! 2. a call beyond its connection's slots is refused with
//!    RESOURCE_EXHAUSTED (`connection.rs`), at once rather than queued;
//! 3. while the server shuts down, new calls are refused with UNAVAILABLE
//!    (clients retry on another replica; calls in flight finish);
//! 4. authenticate the bearer key → [`Principal`] (UNAUTHENTICATED), so
//!    nothing below spends work on strangers;
//! 5. the key's rate limit (RESOURCE_EXHAUSTED with a RetryInfo delay);
//! 6. load shedding: a cap on calls in flight on this server
//!    (RESOURCE_EXHAUSTED at once rather than queueing);
//! 7. the deadline cap: the call ends with DEADLINE_EXCEEDED after the
//!    smaller of the client's `grpc-timeout` and the server's cap.
//!
//! Every refusal is answered once the client has finished sending the
//! refused request ([`refuse`]).

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use tonic::Status;
use tonic::body::Body;
use tonic::codegen::http;
use tonic::codegen::{Body as _, Bytes};
use tonic::transport::server::TlsConnectInfo;
use tonic_types::{ErrorDetails, StatusExt};
use tower::{Layer, Service};

use super::{AuthError, Authenticator, Budget, Principal};
use crate::connection::ConnectionInfo;

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
            // Held until the response is ready (a stream's first message).
            let connection = connection_info(&request);
            let slot = connection.map(ConnectionInfo::admit);
            if let Some(None) = slot {
                let status = Status::resource_exhausted(
                    "this connection has as many calls running as it may; retry with backoff",
                );
                return Ok(refuse(request, status).await);
            }
            if shared.budget.draining() {
                let status = Status::unavailable("the server is shutting down; retry on another replica");
                return Ok(refuse(request, status).await);
            }
            let principal = match &shared.authenticator {
                None => Principal::anonymous(),
                Some(authenticator) => {
                    let bearer = request.headers().get("authorization").and_then(|v| v.to_str().ok());
                    let client = peer_ip(&request).map(|ip| ip.to_string()).unwrap_or_default();
                    match authenticator.authenticate(bearer, &client).await {
                        Ok(principal) => principal,
                        Err(err) => return Ok(refuse(request, auth_status(&err)).await),
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
                return Ok(refuse(request, status).await);
            }
            let Ok(_permit) = Arc::clone(&shared.budget.in_flight).try_acquire_owned() else {
                let status = Status::resource_exhausted("the server is at capacity; retry with backoff");
                return Ok(refuse(request, status).await);
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

/// A refused credential as a gRPC status.
fn auth_status(err: &AuthError) -> Status {
    match err {
        AuthError::Unauthenticated => Status::unauthenticated(err.to_string()),
        AuthError::TooManyLookups { retry_after } => Status::with_error_details(
            tonic::Code::ResourceExhausted,
            err.to_string(),
            ErrorDetails::with_retry_info(Some(*retry_after)),
        ),
        AuthError::Unavailable => Status::unavailable(err.to_string()),
        AuthError::Internal => Status::internal(err.to_string()),
    }
}

/// The longest a refusal waits for the rest of the refused request.
const REFUSAL_DRAIN: Duration = Duration::from_secs(1);

/// The most a refusal reads of the refused request (the largest message a
/// client may send by default).
const REFUSAL_DRAIN_BYTES: usize = 4 * 1024 * 1024;

/// Answers `request` with `status` once the client has finished sending it
/// (bounded by [`REFUSAL_DRAIN`] and [`REFUSAL_DRAIN_BYTES`]).
///
/// Answering before the request's last frame arrived leaves the stream half
/// open, and HTTP/2 resets it. h2 keeps only the latest few of the streams
/// it reset; the client's request frame that arrives after the stream is
/// forgotten is answered with a reset of h2's own, and those count against
/// `[limits] max_error_resets` for the connection's whole life. Under
/// overload a well-behaved client refused a few thousand times would be
/// sent away with GOAWAY, and the calls it had running on the connection
/// would fail with it.
async fn refuse(request: http::Request<Body>, status: Status) -> http::Response<Body> {
    let mut body = request.into_body();
    let drained = async {
        let mut read = 0;
        while let Some(frame) = std::future::poll_fn(|cx| Pin::new(&mut body).poll_frame(cx)).await {
            let Ok(frame) = frame else { return };
            read += frame.data_ref().map_or(0, Bytes::len);
            if read > REFUSAL_DRAIN_BYTES {
                return;
            }
        }
    };
    let _ = tokio::time::timeout(REFUSAL_DRAIN, drained).await;
    status.into_http()
}

/// The connection a call arrived on (plain TCP or TLS); none for calls
/// served without a listener of ours (tests that call the service).
fn connection_info(request: &http::Request<Body>) -> Option<&ConnectionInfo> {
    let extensions = request.extensions();
    extensions
        .get::<ConnectionInfo>()
        .or_else(|| extensions.get::<TlsConnectInfo<ConnectionInfo>>().map(TlsConnectInfo::get_ref))
}

/// The client's address, as the listener saw it.
fn peer_ip(request: &http::Request<Body>) -> Option<std::net::IpAddr> {
    connection_info(request)?.remote.map(|addr| addr.ip().to_canonical())
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
