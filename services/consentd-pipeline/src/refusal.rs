//! Why a request is refused before its handler, what a transport reads off
//! a request for the pipeline, and how a refused request is finished
//! reading before it is answered.

use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use http_body::Body;
use tokio::sync::Semaphore;

use consentd_auth::AuthError;

/// Why the pipeline refused a request.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Refusal {
    /// The connection has as many calls running as it may.
    #[error("this connection has as many calls running as it may; retry with backoff")]
    ConnectionFull,
    /// Shutdown began.
    #[error("the server is shutting down; retry on another replica")]
    Draining,
    /// The credential was refused, or could not be checked.
    #[error(transparent)]
    Auth(#[from] AuthError),
    /// The key (or the client address of a keyless route) spent its budget.
    #[error("rate limit exceeded for this key; retry after {retry_after:?}")]
    RateLimited {
        /// When a call would be admitted again.
        retry_after: Duration,
    },
    /// The server has as many calls in flight as it may.
    #[error("the server is at capacity; retry with backoff")]
    Overloaded,
    /// The call ran past its deadline.
    #[error("the call exceeded its deadline")]
    DeadlineExceeded,
}

impl Refusal {
    /// Whether the server, not the client, failed: a credential the store
    /// could not check, or a call that ran past its deadline. Such a
    /// refusal is logged as a warning.
    pub const fn is_servers_fault(&self) -> bool {
        matches!(self, Self::Auth(AuthError::Unavailable | AuthError::Internal) | Self::DeadlineExceeded)
    }
}

impl From<std::convert::Infallible> for Refusal {
    fn from(never: std::convert::Infallible) -> Self {
        match never {}
    }
}

/// What a request presents to prove who sends it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Credential {
    /// A key (`<id>.<secret>`), wherever the transport found it; `None`
    /// when the request carries none.
    Key(Option<String>),
    /// None needed before the body is read: the vendor account the body
    /// names is the credential. The client address pays `budget` instead of
    /// a key.
    Keyless {
        /// The rate budget the request spends.
        budget: String,
    },
}

/// What the transport read off a request, for the steps.
#[derive(Debug, Clone)]
pub struct Arrival {
    /// Its credential.
    pub credential: Credential,
    /// The client's address (as text; empty when unknown), which pays for
    /// key lookups the caches cannot answer.
    pub client: String,
    /// The deadline the client asked for, if its protocol has one.
    pub deadline: Option<Duration>,
    /// The call slots of the connection the request came on, where the
    /// transport limits calls per connection.
    pub connection_slots: Option<Arc<Semaphore>>,
}

/// How a transport reads requests and answers refusals.
pub trait Transport: Clone + Send + Sync + 'static {
    /// The body of the transport's responses.
    type ResponseBody;

    /// What `request` presents.
    fn arrival<B>(&self, request: &http::Request<B>) -> Arrival;

    /// `refusal` in the transport's shape.
    fn render(&self, refusal: &Refusal) -> http::Response<Self::ResponseBody>;
}

/// The longest a refusal waits for the rest of the refused request.
const DRAIN_TIME: Duration = Duration::from_secs(1);

/// The most a refusal reads of the refused request (the largest message a
/// gRPC client may send by default).
const DRAIN_BYTES: usize = 4 * 1024 * 1024;

/// `refusal`, once the client has finished sending `request` (bounded by
/// [`DRAIN_TIME`] and [`DRAIN_BYTES`]).
///
/// Answering before the request's last frame arrived leaves an HTTP/2
/// stream half open, and HTTP/2 resets it. h2 keeps only the latest few of
/// the streams it reset; the client's request frame that arrives after the
/// stream is forgotten is answered with a reset of h2's own, and those
/// count against `[limits] max_error_resets` for the connection's whole
/// life. Under overload a well-behaved client refused a few thousand times
/// would be sent away with GOAWAY, and the calls it had running on the
/// connection would fail with it.
pub(super) async fn drained<B>(request: http::Request<B>, refusal: Refusal) -> Refusal
where
    B: Body<Data = Bytes> + Unpin,
{
    let mut body = request.into_body();
    let drain = async {
        let mut read = 0;
        while let Some(frame) = std::future::poll_fn(|cx| Pin::new(&mut body).poll_frame(cx)).await {
            let Ok(frame) = frame else { return };
            read += frame.data_ref().map_or(0, Bytes::len);
            if read > DRAIN_BYTES {
                return;
            }
        }
    };
    let _ = tokio::time::timeout(DRAIN_TIME, drain).await;
    refusal
}
