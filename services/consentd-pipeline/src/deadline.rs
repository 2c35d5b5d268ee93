//! The deadline: a call ends after the smaller of the deadline its client
//! asked for and the server's cap.
//!
//! Not tonic's own `Server::timeout`: it sits outside every layer of ours
//! and answers CANCELLED, where a deadline is DEADLINE_EXCEEDED on gRPC and
//! the vendor's 503 on vendor routes; and not tower's `Timeout`, whose
//! duration is fixed where this one is per request.

use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

use tower::{Layer, Service, ServiceExt as _};

use super::refusal::{Arrival, Refusal};

/// See the module documentation.
#[derive(Debug, Clone)]
pub struct DeadlineLayer {
    cap: Duration,
}

impl DeadlineLayer {
    pub(super) fn new(cap: Duration) -> Self {
        Self { cap }
    }
}

impl<S> Layer<S> for DeadlineLayer {
    type Service = Deadline<S>;

    fn layer(&self, inner: S) -> Self::Service {
        Deadline { cap: self.cap, inner }
    }
}

/// See [`DeadlineLayer`].
#[derive(Debug, Clone)]
pub struct Deadline<S> {
    cap: Duration,
    inner: S,
}

impl<S, B> Service<http::Request<B>> for Deadline<S>
where
    S: Service<http::Request<B>> + Clone + Send + 'static,
    S::Error: Into<Refusal>,
    S::Future: Send,
    B: Send + 'static,
{
    type Response = S::Response;
    type Error = Refusal;
    type Future = Pin<Box<dyn Future<Output = Result<Self::Response, Self::Error>> + Send>>;

    fn poll_ready(&mut self, _cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, request: http::Request<B>) -> Self::Future {
        let asked = request.extensions().get::<Arrival>().and_then(|arrival| arrival.deadline);
        let deadline = asked.map_or(self.cap, |asked| asked.min(self.cap));
        let inner = self.inner.clone();
        Box::pin(async move {
            match tokio::time::timeout(deadline, inner.oneshot(request)).await {
                Ok(response) => response.map_err(Into::into),
                Err(_) => {
                    tracing::warn!(?deadline, "call exceeded its deadline");
                    Err(Refusal::DeadlineExceeded)
                }
            }
        })
    }
}
