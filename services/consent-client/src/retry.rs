//! Which failures are worth another attempt, and how long to wait between
//! attempts: exponential backoff with jitter (backon), capped.

use std::future::Future;
use std::time::Duration;

use backon::{ExponentialBuilder, Retryable};
use tonic::Code;

/// How calls are retried. Only calls a retry cannot duplicate are retried:
/// reads, and writes that carry an idempotency key.
#[derive(Debug, Clone)]
pub struct RetryPolicy {
    /// Attempts after the first; 0 turns retries off.
    pub max_retries: usize,
    /// The wait after the first failure; it doubles with each further one.
    pub initial_backoff: Duration,
    /// The longest wait between attempts.
    pub max_backoff: Duration,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        Self {
            max_retries: 5,
            initial_backoff: Duration::from_millis(100),
            max_backoff: Duration::from_secs(5),
        }
    }
}

impl RetryPolicy {
    /// No retries.
    pub fn none() -> Self {
        Self { max_retries: 0, ..Self::default() }
    }

    /// The backoff schedule; jittered so that clients cut off together do
    /// not come back together.
    pub(crate) fn backoff(&self) -> ExponentialBuilder {
        ExponentialBuilder::default()
            .with_min_delay(self.initial_backoff)
            .with_max_delay(self.max_backoff)
            .with_max_times(self.max_retries)
            .with_jitter()
    }

    /// Runs `call`, again after a transient failure (the caller makes sure
    /// a repeat cannot do anything twice).
    pub(crate) async fn run<T, F, Fut>(&self, call: F) -> Result<T, tonic::Status>
    where
        F: FnMut() -> Fut,
        Fut: Future<Output = Result<tonic::Response<T>, tonic::Status>>,
    {
        call.retry(self.backoff())
            .when(transient)
            .notify(|status: &tonic::Status, wait: Duration| {
                tracing::debug!(code = ?status.code(), message = status.message(), ?wait, "retrying");
            })
            .await
            .map(tonic::Response::into_inner)
    }
}

/// A failure the same call may not meet again: the server or the path to it
/// was unavailable, overloaded, or gave up on the call, or the connection
/// broke under the call (tonic reports a write to a connection the peer
/// closed as `UNKNOWN` with the transport error as its source). Client
/// mistakes (`INVALID_ARGUMENT`, `NOT_FOUND`, `FAILED_PRECONDITION`, …) are
/// final.
pub(crate) fn transient(status: &tonic::Status) -> bool {
    matches!(
        status.code(),
        Code::Unavailable | Code::ResourceExhausted | Code::Aborted | Code::DeadlineExceeded
    ) || from_transport(status)
}

/// Whether the status stands for a transport failure rather than an answer.
fn from_transport(status: &tonic::Status) -> bool {
    let mut source = std::error::Error::source(status);
    while let Some(error) = source {
        if error.is::<tonic::transport::Error>() {
            return true;
        }
        source = error.source();
    }
    false
}

/// An idempotency key for a write that came without one.
pub(crate) fn fresh_idempotency_key() -> String {
    format!("consent-client:{}", uuid::Uuid::now_v7())
}
