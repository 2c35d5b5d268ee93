//! consentd outcomes → Adobe's responses, and records → Adobe request bodies.

use consent_adapter::{Failure, Response};
use consent_core::{ConsentRecord, Decision};
use serde_json::Value;

use crate::model::{ConsentRequest, Entity, ErrorBody};

/// Adobe's answer to an accepted consent request: `202 Accepted`, no payload.
pub(crate) const fn success() -> Response {
    Response::empty(202)
}

/// A failure in Adobe's gateway shape. The `error_code` is the HTTP status as
/// a string: Adobe's own codes are undocumented for this endpoint, and the
/// status is what its clients branch on.
pub(crate) fn failure(failure: &Failure) -> Response {
    let message = match failure {
        Failure::BadRequest { field, message } => format!("{field} {message}"),
        Failure::Unauthorized => "access token is missing or not valid".to_owned(),
        Failure::Forbidden => "access token is not allowed to act for this ims organization".to_owned(),
        Failure::NotFound(message) | Failure::Conflict(message) => message.clone(),
        Failure::TooManyRequests => "too many requests, retry later".to_owned(),
        Failure::Unavailable => "service unavailable, retry later".to_owned(),
        Failure::Internal => "internal server error".to_owned(),
    };
    let status = failure.status();
    Response::json(status, to_json(&ErrorBody { error_code: status.to_string(), message }))
}

/// The Adobe request that records `record`'s decision for its first identity.
/// Adobe's format carries one decision (sale or sharing) and identities only,
/// so a limited decision is sent as not opted out.
pub(crate) fn event(record: &ConsentRecord) -> Value {
    let body = ConsentRequest {
        opt_out_of_sale: record.decision == Decision::Denied,
        entities: record
            .identities
            .first()
            .map(|identity| Entity {
                name_space: identity.namespace.clone(),
                values: vec![identity.value.clone()],
            })
            .into_iter()
            .collect(),
    };
    to_json(&body)
}

fn to_json<T: serde::Serialize>(body: &T) -> Value {
    // Structs of strings, booleans and lists always serialise.
    serde_json::to_value(body).unwrap_or(Value::Null)
}
