//! The gRPC port as a [`Transport`] of the request pipeline: the key comes
//! in `authorization: Bearer`, the deadline in `grpc-timeout`, the call
//! slots with the connection; a refusal is a status with rich details.

use std::marker::PhantomData;
use std::task::{Context, Poll};
use std::time::Duration;

use tonic::Status;
use tonic::body::Body;
use tonic::server::NamedService;
use tonic::transport::server::TlsConnectInfo;
use tonic_types::{ErrorDetails, StatusExt};
use tower::Service;

use crate::connection::ConnectionInfo;
use consentd_auth::AuthError;
use consentd_pipeline::{Arrival, Credential, Refusal, Transport};

/// See the module documentation.
#[derive(Debug, Clone, Copy, Default)]
pub struct GrpcTransport;

impl Transport for GrpcTransport {
    type ResponseBody = Body;

    fn arrival<B>(&self, request: &http::Request<B>) -> Arrival {
        let connection = connection_info(request);
        Arrival {
            credential: Credential::Key(bearer_key(request.headers())),
            client: connection
                .and_then(|info| info.remote)
                .map(|addr| addr.ip().to_canonical().to_string())
                .unwrap_or_default(),
            deadline: client_deadline(request.headers()),
            connection_slots: connection.map(|info| std::sync::Arc::clone(info.slots())),
        }
    }

    fn render(&self, refusal: &Refusal) -> http::Response<Body> {
        refusal_status(refusal).into_http()
    }
}

/// A refusal as a gRPC status: RESOURCE_EXHAUSTED (with a RetryInfo delay
/// where one is known) for limits, UNAVAILABLE for what another replica or
/// a later retry can serve.
fn refusal_status(refusal: &Refusal) -> Status {
    let message = refusal.to_string();
    match refusal {
        // A second, as the vendor routes' Retry-After says: capacity frees
        // as calls finish.
        Refusal::ConnectionFull | Refusal::Overloaded => Status::with_error_details(
            tonic::Code::ResourceExhausted,
            message,
            ErrorDetails::with_retry_info(Some(Duration::from_secs(1))),
        ),
        Refusal::Draining => Status::unavailable(message),
        Refusal::RateLimited { retry_after } | Refusal::Auth(AuthError::TooManyLookups { retry_after }) => {
            Status::with_error_details(
                tonic::Code::ResourceExhausted,
                message,
                ErrorDetails::with_retry_info(Some(*retry_after)),
            )
        }
        Refusal::Auth(AuthError::Unauthenticated) => Status::unauthenticated(message),
        Refusal::Auth(AuthError::Unavailable) => Status::unavailable(message),
        Refusal::Auth(AuthError::Internal) => Status::internal(message),
        Refusal::DeadlineExceeded => Status::deadline_exceeded(message),
    }
}

/// The key of an `authorization: Bearer <key>` header (the scheme is
/// case-insensitive, RFC 7235).
fn bearer_key(headers: &http::HeaderMap) -> Option<String> {
    let value = headers.get(http::header::AUTHORIZATION)?.to_str().ok()?;
    let scheme = value.get(..7)?;
    scheme.eq_ignore_ascii_case("bearer ").then(|| value[7..].trim().to_owned())
}

/// The connection a call arrived on (plain TCP or TLS); none for calls
/// served without a listener of ours.
fn connection_info<B>(request: &http::Request<B>) -> Option<&ConnectionInfo> {
    let extensions = request.extensions();
    extensions
        .get::<ConnectionInfo>()
        .or_else(|| extensions.get::<TlsConnectInfo<ConnectionInfo>>().map(TlsConnectInfo::get_ref))
}

/// The `grpc-timeout` the client sent (`<digits><unit>`).
fn client_deadline(headers: &http::HeaderMap) -> Option<Duration> {
    let value = headers.get("grpc-timeout")?.to_str().ok()?;
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

/// A gRPC service behind the pipeline, still routed by its name `N` (the
/// generated server's).
#[derive(Debug)]
pub struct Admitted<S, N> {
    inner: S,
    name: PhantomData<fn() -> N>,
}

impl<S, N> Admitted<S, N> {
    /// `inner` (the pipeline around a generated server of type `N`).
    pub fn new(inner: S) -> Self {
        Self { inner, name: PhantomData }
    }
}

impl<S: Clone, N> Clone for Admitted<S, N> {
    fn clone(&self) -> Self {
        Self::new(self.inner.clone())
    }
}

impl<S, N: NamedService> NamedService for Admitted<S, N> {
    const NAME: &'static str = N::NAME;
}

impl<S, N, R> Service<R> for Admitted<S, N>
where
    S: Service<R>,
{
    type Response = S::Response;
    type Error = S::Error;
    type Future = S::Future;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, request: R) -> Self::Future {
        self.inner.call(request)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bearer_scheme_is_case_insensitive() {
        for value in ["Bearer k.s", "bearer k.s", "BEARER  k.s "] {
            let mut headers = http::HeaderMap::new();
            headers.insert(http::header::AUTHORIZATION, value.parse().unwrap());
            assert_eq!(bearer_key(&headers).as_deref(), Some("k.s"), "{value}");
        }
        let mut headers = http::HeaderMap::new();
        headers.insert(http::header::AUTHORIZATION, "Basic a2V5".parse().unwrap());
        assert_eq!(bearer_key(&headers), None);
    }

    #[test]
    fn grpc_timeouts_parse_in_every_unit() {
        let deadline = |value: &str| {
            let mut headers = http::HeaderMap::new();
            headers.insert("grpc-timeout", value.parse().unwrap());
            client_deadline(&headers)
        };
        assert_eq!(deadline("2S"), Some(Duration::from_secs(2)));
        assert_eq!(deadline("150m"), Some(Duration::from_millis(150)));
        assert_eq!(deadline("1H"), Some(Duration::from_secs(3600)));
        assert_eq!(deadline("x"), None);
    }
}
