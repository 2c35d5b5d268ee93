//! The routes' answers as JSON, with the proto's field names.
//!
//! `POST /v1/batch-check` answers `{"results": [{"status": "GRANTED",
//! "record": {…} | null}], "revision": N}` (statuses without the proto's
//! `CONSENT_STATUS_` prefix); `GET /v1/consent-mode` answers
//! `{"ad_storage": "granted", …, "revision": N}`.

use consent_adapter::{Failure, Outcome, Response};
use consent_core::{ConsentRecord, ConsentStatus, Timestamp};
use serde_json::{Map, Value, json};

pub(crate) fn outcome(outcome: &Outcome) -> Response {
    match outcome {
        Outcome::Checked(checked) => {
            let results: Vec<Value> = checked
                .results
                .iter()
                .map(|result| {
                    json!({
                        "status": status(result.status),
                        "record": result.record.as_ref().map_or(Value::Null, record),
                    })
                })
                .collect();
            Response::json(200, json!({ "results": results, "revision": checked.revision }))
        }
        Outcome::ConsentMode(mode) => {
            let mut body: Map<String, Value> = mode
                .types
                .iter()
                .map(|(name, granted)| {
                    ((*name).to_owned(), Value::from(if *granted { "granted" } else { "denied" }))
                })
                .collect();
            body.insert("revision".to_owned(), Value::from(mode.revision));
            Response::json(200, Value::Object(body))
        }
        // These routes produce no other outcome.
        Outcome::Written(_) | Outcome::Latest(_) | Outcome::Listed { .. } | Outcome::Subscribed { .. } => {
            failure(&Failure::Internal)
        }
    }
}

const fn status(status: ConsentStatus) -> &'static str {
    match status {
        ConsentStatus::Granted => "GRANTED",
        ConsentStatus::Denied => "DENIED",
        ConsentStatus::Limited => "LIMITED",
        ConsentStatus::Expired => "EXPIRED",
        ConsentStatus::Unknown => "UNKNOWN",
    }
}

/// A record with the proto's field names (evidence left out: it is read
/// with GetConsent).
pub(crate) fn record(record: &ConsentRecord) -> Value {
    json!({
        "id": record.id.to_string(),
        "subject_id": record.subject_id.to_string(),
        "purpose": record.purpose,
        "target": record.target,
        "decision": record.decision.as_str().to_ascii_uppercase(),
        "collected_at": record.collected_at.to_rfc3339(),
        "expires_at": record.expires_at.map(Timestamp::to_rfc3339),
        "recorded_at": record.recorded_at.to_rfc3339(),
        "source": record.source,
        "revision": record.revision,
        "kind": record.kind.as_str().to_ascii_uppercase(),
        "implied_by": record.implied_by.map(|signal| signal.as_str().to_ascii_uppercase()),
        "gpc_conflict": record.gpc_conflict,
    })
}

/// Google's JSON error shape, with the field a client got wrong.
pub(crate) fn failure(failure: &Failure) -> Response {
    let (status, message, field) = match failure {
        Failure::BadRequest { field, message } => ("INVALID_ARGUMENT", message.clone(), Some(field.clone())),
        Failure::Unauthorized => ("UNAUTHENTICATED", "a valid API key is required".to_owned(), None),
        Failure::Forbidden => ("PERMISSION_DENIED", "the credential may not do this".to_owned(), None),
        Failure::NotFound(message) => ("NOT_FOUND", message.clone(), None),
        Failure::Conflict(message) => ("FAILED_PRECONDITION", message.clone(), None),
        Failure::TooManyRequests => ("RESOURCE_EXHAUSTED", "too many requests".to_owned(), None),
        Failure::Unavailable => ("UNAVAILABLE", "try again shortly".to_owned(), None),
        Failure::Internal => ("INTERNAL", "internal error".to_owned(), None),
    };
    let code = failure.status();
    let mut error = json!({ "code": code, "status": status, "message": message });
    if let Some(field) = field {
        error["field"] = Value::from(field);
    }
    Response::json(code, json!({ "error": error }))
}
