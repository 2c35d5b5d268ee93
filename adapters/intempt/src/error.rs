//! Failures named with Intempt's field names and worded as Intempt words them
//! (`Required field 'action' is missing or invalid`).
//!
//! Intempt's error body carries no field of its own, only `error` and
//! `message`, so each message names its field in quotes; `encode.rs` sends the
//! messages built here verbatim.

use consent_adapter::Failure;
use consent_adapter::fields::{Wording, not_json_message};
use serde_json::Value;

use crate::field::{EMAIL, PROFILE_ID, USER_ID};

/// The pseudo-field for problems with the body as a whole.
pub(crate) const BODY: &str = consent_adapter::fields::BODY;

/// How the shared field reader words Intempt's failures.
pub(crate) static WORDING: IntemptWording = IntemptWording;

/// Intempt's wording: a field quoted by name in every message, the body
/// called `Request body`.
#[derive(Debug)]
pub(crate) struct IntemptWording;

impl Wording for IntemptWording {
    fn missing(&self, path: &str) -> Failure {
        missing(path)
    }

    fn empty_body(&self) -> Failure {
        body("is empty")
    }

    /// Only optional fields are read through the reader's typed accessors;
    /// a required field's type is checked where its meaning is.
    fn wrong_type(&self, path: &str, expected: &str, _got: &Value) -> Failure {
        invalid(path, &format!("must be {expected}"))
    }

    fn not_json(&self, error: &serde_json::Error) -> Failure {
        body(&not_json_message(error))
    }

    fn not_object(&self, _got: &Value) -> Failure {
        body("must be a JSON object")
    }
}

/// A required field is absent (or `null`): Intempt's own wording.
pub(crate) fn missing(field: &str) -> Failure {
    Failure::bad(field, format!("Required field '{field}' is missing or invalid"))
}

/// A required field is present but unusable.
pub(crate) fn invalid_required(field: &str, detail: &str) -> Failure {
    Failure::bad(field, format!("Required field '{field}' is missing or invalid: {detail}"))
}

/// An optional field is present but unusable.
pub(crate) fn invalid(field: &str, detail: &str) -> Failure {
    Failure::bad(field, format!("Field '{field}' is invalid: {detail}"))
}

/// The body is empty, not JSON, or not a JSON object.
pub(crate) fn body(detail: &str) -> Failure {
    Failure::bad(BODY, format!("Request body {detail}"))
}

/// A path parameter the route template names is absent or empty (a gateway
/// bug or a hand-built request).
pub(crate) fn path_param(name: &str) -> Failure {
    Failure::bad(name, format!("Path parameter '{name}' is missing"))
}

/// The `message` of a bad-request failure someone else built (the gateway's
/// mapping of consentd's validation errors), with consentd's field path turned
/// into the Intempt field it came from.
pub(crate) fn foreign_message(field: &str, message: &str) -> String {
    match vendor_field(field) {
        Some(vendor) => format!("Invalid field {vendor}: {message}"),
        None => format!("Invalid field '{field}': {message}"),
    }
}

/// Whether `message` is one this module built for `field`.
pub(crate) fn is_own_message(field: &str, message: &str) -> bool {
    field == BODY || message.contains(&format!("'{field}'"))
}

/// The Intempt field (quoted, for a message) that a consentd field path was
/// decoded from; `None` when consentd's path names nothing Intempt sends.
fn vendor_field(core_field: &str) -> Option<String> {
    let quoted = |name: &str| format!("'{name}'");
    if core_field == "collected_at" {
        Some(quoted("timestamp"))
    } else if core_field == "expires_at" {
        Some(quoted("validUntil"))
    } else if core_field == "source" {
        Some(quoted("source"))
    } else if core_field.starts_with("decisions") {
        Some(quoted("category"))
    } else if core_field.starts_with("identities") {
        Some(format!("'{USER_ID}', '{EMAIL}' or '{PROFILE_ID}'"))
    } else if core_field == "evidence.message" {
        Some(quoted("message"))
    } else if core_field == "evidence.metadata_json" {
        Some("'sourceId' or another extra field".to_owned())
    } else {
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn consentd_fields_are_named_as_intempt_names_them() {
        assert_eq!(
            foreign_message("collected_at", "must not be in the future"),
            "Invalid field 'timestamp': must not be in the future"
        );
        assert_eq!(
            foreign_message("decisions[0].purpose", "must be at most 128 characters"),
            "Invalid field 'category': must be at most 128 characters"
        );
        assert_eq!(foreign_message("evidence.ip", "bad"), "Invalid field 'evidence.ip': bad");
    }

    #[test]
    fn own_messages_are_recognised() {
        let Failure::BadRequest { field, message } = missing("action") else { unreachable!() };
        assert!(is_own_message(&field, &message));
        assert!(!is_own_message("collected_at", "must not be in the future"));
    }
}
