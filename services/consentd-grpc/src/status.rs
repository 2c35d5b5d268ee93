//! Consent errors to gRPC statuses: one exhaustive mapping, with the field
//! violations as `google.rpc.BadRequest` and reasons as `google.rpc.ErrorInfo`.

use std::collections::HashMap;

use consent_core::ConsentError;
use tonic::{Code, Status};
use tonic_types::{ErrorDetails, StatusExt};

/// The `ErrorInfo.domain` of every error this service reports.
pub(crate) const ERROR_DOMAIN: &str = "consentd.consent.v1";

pub(crate) fn to_status(err: ConsentError) -> Status {
    match err {
        ConsentError::InvalidArgument(violations) => {
            let message = ConsentError::InvalidArgument(violations.clone()).to_string();
            let mut details = ErrorDetails::new();
            for violation in violations {
                details.add_bad_request_violation(violation.field, violation.description);
            }
            Status::with_error_details(Code::InvalidArgument, message, details)
        }
        ConsentError::NotFound(message) => Status::not_found(message),
        ConsentError::FailedPrecondition { reason, message } => Status::with_error_details(
            Code::FailedPrecondition,
            message,
            ErrorDetails::with_error_info(reason, ERROR_DOMAIN, HashMap::new()),
        ),
        ConsentError::Aborted(message) => Status::aborted(message),
        ConsentError::ResourceExhausted(message) => Status::resource_exhausted(message),
        ConsentError::Unavailable(message) => Status::unavailable(message),
        ConsentError::Internal(detail) => {
            // The detail may carry driver text; it goes to the log, not the client.
            tracing::error!(%detail, "internal error");
            Status::internal("internal error")
        }
    }
}
