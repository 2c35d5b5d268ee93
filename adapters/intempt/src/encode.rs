//! consentd's outcomes → Intempt's responses, and a record → the Intempt
//! request body that would have produced it.

use consent_adapter::{Failure, Response};
use consent_core::{ConsentRecord, Decision, Timestamp};
use serde_json::{Map, Value};

use crate::decode::{IDENTITY_FIELDS, KNOWN_FIELDS};
use crate::error;
use crate::model::{Action, ConsentBody};

/// `200 {}`: what Intempt answers when it has taken the consent.
pub(crate) fn success() -> Response {
    Response::json(200, Value::Object(Map::new()))
}

/// `{"error": "<short>", "message": "<text>"}` with the failure's status.
pub(crate) fn failure(failure: &Failure) -> Response {
    let (title, message) = match failure {
        Failure::BadRequest { field, message } => {
            let message = if error::is_own_message(field, message) {
                message.clone()
            } else {
                error::foreign_message(field, message)
            };
            ("Invalid request", message)
        }
        Failure::Unauthorized => ("Unauthorized", "Missing or invalid API key".to_owned()),
        Failure::Forbidden => {
            ("Forbidden", "The API key may not write to this organization and project".to_owned())
        }
        Failure::NotFound(message) => ("Not found", message.clone()),
        Failure::Conflict(message) => ("Conflict", message.clone()),
        Failure::TooManyRequests => ("Too many requests", "Rate limit exceeded, retry later".to_owned()),
        Failure::Unavailable => {
            ("Service unavailable", "The service is temporarily unavailable, retry later".to_owned())
        }
        Failure::Internal => ("Internal server error", "An unexpected error occurred".to_owned()),
    };
    let mut body = Map::new();
    body.insert("error".to_owned(), Value::from(title));
    body.insert("message".to_owned(), Value::from(message));
    Response::json(failure.status(), Value::Object(body))
}

/// The body `POST …/consents/data` takes to record `record`.
///
/// Intempt carries no target, no identity namespaces beyond its three
/// fields (the first identity of each is sent) and no decision between
/// accept and reject: a `LIMITED` decision is sent as `reject`, since
/// Intempt's accept would grant more than the person agreed to. Extra fields
/// kept in the metadata are sent back as the extra fields they came from.
pub(crate) fn event(record: &ConsentRecord) -> Value {
    let action = match record.decision {
        Decision::Granted => Action::Accept,
        Decision::Denied | Decision::Limited => Action::Reject,
    };
    let identity = |namespace: &str| {
        record.identities.iter().find(|identity| identity.namespace == namespace).map(|i| i.value.clone())
    };
    let [(_, user_id_ns), (_, email_ns), (_, profile_id_ns)] = IDENTITY_FIELDS;
    let non_empty = |text: &str| (!text.is_empty()).then(|| text.to_owned());
    let body = ConsentBody {
        action,
        timestamp: record.collected_at.as_micros().div_euclid(1_000).to_string(),
        // Rounded up, so a sub-millisecond expiry never moves before the
        // decision it follows.
        valid_until: record
            .expires_at
            .map_or_else(|| ConsentBody::UNLIMITED.to_owned(), |at| ceil_millis(at).to_string()),
        source: record.source.clone(),
        category: non_empty(&record.purpose),
        user_id: identity(user_id_ns),
        email: identity(email_ns),
        profile_id: identity(profile_id_ns),
        message: non_empty(&record.evidence.message),
        extra: extra_fields(&record.evidence.metadata_json),
    };
    serde_json::to_value(body).unwrap_or_else(|_| Value::Object(Map::new()))
}

fn ceil_millis(at: Timestamp) -> i64 {
    at.as_micros().div_euclid(1_000) + i64::from(at.as_micros().rem_euclid(1_000) != 0)
}

/// The metadata object's fields, less any that would shadow a field with a
/// meaning of its own; nothing when the metadata is not a JSON object.
fn extra_fields(metadata_json: &str) -> Map<String, Value> {
    match serde_json::from_str::<Value>(metadata_json) {
        Ok(Value::Object(mut map)) => {
            map.retain(|key, _| !KNOWN_FIELDS.contains(&key.as_str()));
            map
        }
        Ok(Value::Null | Value::Bool(_) | Value::Number(_) | Value::String(_) | Value::Array(_)) | Err(_) => {
            Map::new()
        }
    }
}
