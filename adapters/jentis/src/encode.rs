//! consentd outcomes → JENTIS responses, and records → JENTIS request bodies.

use std::collections::BTreeMap;

use consent_adapter::{Failure, Response};
use consent_core::{ConsentRecord, Decision, EventKind};
use serde_json::{Map, Value, json};
use uuid::Builder;

use crate::decode::{USER_NAMESPACE, is_uuid_v4};
use crate::error::vendor_field;
use crate::model::{
    Configuration, ConsentIdentifier, ConsentState, ConsentSubmission, Data, Identifier, System,
    UserIdentifier, VendorConsent,
};

/// The success status JENTIS documents: `200` "Data submitted
/// successfully", no content.
pub(crate) const SUCCESS_STATUS: u16 = 200;

/// `version` in the bodies `encode_event` builds, as JENTIS' own example
/// request has it (a string, as the schema types it).
pub(crate) const API_VERSION: &str = "3";
/// `system.type` when a record has no source.
pub(crate) const DEFAULT_SYSTEM_TYPE: &str = "http-api";
/// `system.initiator`: the JENTIS state id; consentd executes none.
pub(crate) const INITIATOR: &str = "consentd";
/// `configuration.environment`: a record does not carry the account it came
/// through, so events name the tenant's `live` environment.
pub(crate) const DEFAULT_ENVIRONMENT: &str = "live";

/// The response to a stored submission.
pub(crate) const fn success() -> Response {
    Response::empty(SUCCESS_STATUS)
}

/// A failure → `{"error", "field" (400 only), "message"}` with its status.
pub(crate) fn failure(failure: &Failure) -> Response {
    let body = match failure {
        Failure::BadRequest { field, message } => {
            json!({ "error": "Bad Request", "field": vendor_field(field), "message": message })
        }
        Failure::Unauthorized => json!({
            "error": "Unauthorized",
            "message": "a valid api key is required: Authorization: Bearer <key>",
        }),
        Failure::Forbidden => json!({
            "error": "Forbidden",
            "message": "the api key may not submit consent for this container and environment",
        }),
        Failure::NotFound(message) => json!({ "error": "Not Found", "message": message }),
        Failure::Conflict(message) => json!({ "error": "Conflict", "message": message }),
        Failure::TooManyRequests => json!({
            "error": "Too Many Requests",
            "message": "too many requests, retry later",
        }),
        Failure::Unavailable => json!({
            "error": "Service Unavailable",
            "message": "the consent store is unavailable, retry later",
        }),
        Failure::Internal => json!({
            "error": "Internal Server Error",
            "message": "the request could not be processed",
        }),
    };
    Response::json(failure.status(), body)
}

/// A record → the `ConsentSubmission` that records its decision for its
/// target. What a record does not carry is filled with constants: `version`
/// [`API_VERSION`], `system.initiator` [`INITIATOR`], the tenant's slug as
/// `configuration.container` with environment [`DEFAULT_ENVIRONMENT`], and
/// `system.timestamp` from `recorded_at`.
pub(crate) fn event(record: &ConsentRecord) -> Value {
    let status = status(record.decision);
    // An any-target record names no vendor: the submission carries no
    // vendor entry (JENTIS can only express per-vendor decisions).
    let vendors: BTreeMap<String, VendorConsent> = if record.target.is_empty() {
        BTreeMap::new()
    } else {
        BTreeMap::from([(record.target.clone(), status)])
    };
    let action = match record.kind {
        EventKind::Recorded => "new",
        // An expiry or an erasure changes what the consent says, as an
        // update does (JENTIS' actions are only `new` and `update`).
        EventKind::Updated | EventKind::Expired | EventKind::Erased => "update",
    };
    let submission = ConsentSubmission {
        version: API_VERSION.to_owned(),
        system: System {
            kind: if record.source.is_empty() {
                DEFAULT_SYSTEM_TYPE.to_owned()
            } else {
                record.source.clone()
            },
            timestamp: millis(record.recorded_at.as_micros()),
            navigator_user_agent: record.evidence.user_agent.clone(),
            initiator: INITIATOR.to_owned(),
            href: (!record.evidence.uri.is_empty()).then(|| record.evidence.uri.clone()),
            request_type: None,
            domain: None,
        },
        configuration: Configuration {
            container: record.tenant.as_str().to_owned(),
            environment: DEFAULT_ENVIRONMENT.to_owned(),
            version: None,
            debugcode: None,
        },
        data: Data {
            identifier: Identifier {
                user: UserIdentifier { id: user_id(record), action: Some(action.to_owned()) },
                consent: ConsentIdentifier { id: consent_id(record), action: Some(action.to_owned()) },
            },
            consent: ConsentState {
                lastupdate: millis(record.collected_at.as_micros()),
                data: metadata(&record.evidence.metadata_json),
                send: None,
                userconsent: None,
                vendors_changed: vendors.clone(),
                vendors,
            },
        },
    };
    // Plain structs with string keys: serialising cannot fail.
    serde_json::to_value(submission).unwrap_or(Value::Null)
}

/// consentd's decision → the vendor status.
pub(crate) const fn status(decision: Decision) -> VendorConsent {
    match decision {
        Decision::Granted => VendorConsent::Granted,
        Decision::Denied => VendorConsent::Denied,
        Decision::Limited => VendorConsent::Ncm,
    }
}

/// Microseconds → milliseconds, rounding down.
const fn millis(micros: i64) -> i64 {
    micros.div_euclid(1_000)
}

/// The record's JENTIS user id; a record that came another way is sent under
/// its subject id (stable and pseudonymous, unlike an e-mail address).
fn user_id(record: &ConsentRecord) -> String {
    record
        .identities
        .iter()
        .find(|identity| identity.namespace == USER_NAMESPACE)
        .map_or_else(|| record.subject_id.to_string(), |identity| identity.value.clone())
}

/// The record's consent id when it is the UUIDv4 JENTIS requires, else a v4
/// id derived from the record id (the same record always gets the same one).
fn consent_id(record: &ConsentRecord) -> String {
    let given = &record.evidence.consent_id;
    if is_uuid_v4(given) {
        return given.clone();
    }
    Builder::from_random_bytes(record.id.into_bytes()).into_uuid().hyphenated().to_string()
}

/// The metadata JSON as `data.consent.data`: its object, or `{}`.
fn metadata(json: &str) -> Map<String, Value> {
    serde_json::from_str::<Map<String, Value>>(json).unwrap_or_default()
}
