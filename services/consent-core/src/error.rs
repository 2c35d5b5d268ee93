//! The one error type of the consent service, with a transport-neutral code
//! that the gRPC layer and the HTTP gateway each map exhaustively.

use thiserror::Error;

/// One problem with one request field.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FieldViolation {
    /// The field path, as the API names it: `decisions[0].purpose`.
    pub field: String,
    /// What is wrong, lower-case, no trailing period.
    pub description: String,
}

impl FieldViolation {
    /// A violation of `field`.
    pub fn new(field: impl Into<String>, description: impl Into<String>) -> Self {
        Self { field: field.into(), description: description.into() }
    }
}

/// Transport-neutral error codes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorCode {
    /// The client sent something malformed.
    InvalidArgument,
    /// What the request names does not exist.
    NotFound,
    /// The request conflicts with the current state.
    FailedPrecondition,
    /// A concurrent writer won; retrying may succeed.
    Aborted,
    /// A limit was reached.
    ResourceExhausted,
    /// The store cannot be reached; retrying later may succeed.
    Unavailable,
    /// A bug or an unexpected store failure.
    Internal,
}

/// Everything a consent operation can fail with.
#[derive(Debug, Clone, Error, PartialEq, Eq)]
pub enum ConsentError {
    /// One or more fields are invalid; nothing was written.
    #[error("invalid request: {}", summarize(.0))]
    InvalidArgument(Vec<FieldViolation>),
    /// What the request names does not exist.
    #[error("{0}")]
    NotFound(String),
    /// The request's expectation (such as `expected_revision`) does not hold.
    #[error("{message}")]
    FailedPrecondition {
        /// Machine-readable reason, such as `REVISION_MISMATCH`.
        reason: &'static str,
        /// Human-readable explanation.
        message: String,
    },
    /// A concurrent writer won a race; the request may be retried.
    #[error("{0}")]
    Aborted(String),
    /// A limit was reached.
    #[error("{0}")]
    ResourceExhausted(String),
    /// The store is unreachable.
    #[error("store unavailable: {0}")]
    Unavailable(String),
    /// An unexpected failure; the detail is logged, not sent to clients.
    #[error("internal error: {0}")]
    Internal(String),
}

fn summarize(violations: &[FieldViolation]) -> String {
    violations.iter().map(|v| format!("{}: {}", v.field, v.description)).collect::<Vec<_>>().join("; ")
}

impl ConsentError {
    /// An invalid-argument error for a single field.
    pub fn invalid(field: impl Into<String>, description: impl Into<String>) -> Self {
        Self::InvalidArgument(vec![FieldViolation::new(field, description)])
    }

    /// The transport-neutral code.
    pub const fn code(&self) -> ErrorCode {
        match self {
            Self::InvalidArgument(_) => ErrorCode::InvalidArgument,
            Self::NotFound(_) => ErrorCode::NotFound,
            Self::FailedPrecondition { .. } => ErrorCode::FailedPrecondition,
            Self::Aborted(_) => ErrorCode::Aborted,
            Self::ResourceExhausted(_) => ErrorCode::ResourceExhausted,
            Self::Unavailable(_) => ErrorCode::Unavailable,
            Self::Internal(_) => ErrorCode::Internal,
        }
    }
}

/// Collects field violations while a request is checked, so a client learns of
/// every problem at once.
#[derive(Debug, Default)]
pub struct Violations(pub(crate) Vec<FieldViolation>);

impl Violations {
    /// Records a problem with `field`.
    pub fn add(&mut self, field: impl Into<String>, description: impl Into<String>) {
        self.0.push(FieldViolation::new(field, description));
    }

    /// Whether no problem was found.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// `Ok` when no problem was found, else `InvalidArgument` with them all.
    pub fn into_result(self) -> Result<(), ConsentError> {
        if self.0.is_empty() { Ok(()) } else { Err(ConsentError::InvalidArgument(self.0)) }
    }
}
