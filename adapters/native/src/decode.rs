//! The routes' requests as operations.
//!
//! `POST /v1/batch-check` takes
//! `{"subject": {"subject_id": "…"} | {"identity": {"namespace": "…", "value": "…"}},
//! "checks": [{"purpose": "…", "target": "…"}], "at": "RFC 3339", "min_revision": N}`
//! (`at` and `min_revision` optional; `min_revision` a number or a string,
//! as proto JSON writes 64-bit integers).

use consent_adapter::{Failure, Operation, Request};
use consent_core::{BatchCheckConsent, Identity, PurposeTarget, Revision, SubjectRef, Timestamp};
use serde::Deserialize;
use uuid::Uuid;

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct BatchCheckBody {
    subject: Option<SubjectBody>,
    #[serde(default)]
    checks: Vec<CheckBody>,
    at: Option<String>,
    min_revision: Option<serde_json::Value>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct SubjectBody {
    subject_id: Option<String>,
    identity: Option<IdentityBody>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct IdentityBody {
    namespace: String,
    value: String,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct CheckBody {
    #[serde(default)]
    purpose: String,
    #[serde(default)]
    target: String,
}

/// `POST /v1/batch-check`.
pub(crate) fn batch_check(body: &[u8]) -> Result<Operation, Failure> {
    if body.is_empty() {
        return Err(Failure::bad("body", "is empty: a JSON object is required"));
    }
    let body: BatchCheckBody = serde_json::from_slice(body)
        .map_err(|err| Failure::bad("body", format!("is not a batch check: {err}")))?;
    let subject = match body.subject {
        Some(SubjectBody { subject_id: Some(id), identity: None }) => subject_id(&id, "subject.subject_id")?,
        Some(SubjectBody { subject_id: None, identity: Some(identity) }) => {
            SubjectRef::Identity(Identity::new(identity.namespace, identity.value))
        }
        _ => return Err(Failure::bad("subject", "exactly one of subject_id and identity is required")),
    };
    let at = body.at.as_deref().map(|at| timestamp(at, "at")).transpose()?;
    let min_revision = body.min_revision.as_ref().map(|value| revision(value, "min_revision")).transpose()?;
    let checks =
        body.checks.into_iter().map(|c| PurposeTarget { purpose: c.purpose, target: c.target }).collect();
    Ok(Operation::BatchCheck(BatchCheckConsent {
        subject,
        checks,
        at,
        min_revision: min_revision.unwrap_or(0),
    }))
}

/// `GET /v1/consent-mode?namespace=NS&value=V` or `?subject_id=ID`.
pub(crate) fn consent_mode(request: &Request<'_>) -> Result<Operation, Failure> {
    let subject = match (request.query_param("subject_id"), request.query_param("namespace")) {
        (Some(id), None) => subject_id(id, "subject_id")?,
        (None, Some(namespace)) => {
            let value = request
                .query_param("value")
                .ok_or_else(|| Failure::bad("value", "is required with namespace"))?;
            SubjectRef::Identity(Identity::new(namespace, value))
        }
        _ => return Err(Failure::bad("subject_id", "either subject_id or namespace and value is required")),
    };
    let min_revision = request
        .query_param("min_revision")
        .map(|text| revision(&serde_json::Value::String(text.to_owned()), "min_revision"))
        .transpose()?
        .unwrap_or(0);
    Ok(Operation::ConsentMode { subject, min_revision })
}

fn subject_id(text: &str, field: &str) -> Result<SubjectRef, Failure> {
    Uuid::parse_str(text).map(SubjectRef::Id).map_err(|_| Failure::bad(field, "must be a UUID"))
}

fn timestamp(text: &str, field: &str) -> Result<Timestamp, Failure> {
    Timestamp::parse_rfc3339(text).ok_or_else(|| Failure::bad(field, "must be an RFC 3339 time"))
}

fn revision(value: &serde_json::Value, field: &str) -> Result<Revision, Failure> {
    let parsed = match value {
        serde_json::Value::Number(number) => number.as_i64(),
        serde_json::Value::String(text) => text.parse().ok(),
        serde_json::Value::Null
        | serde_json::Value::Bool(_)
        | serde_json::Value::Array(_)
        | serde_json::Value::Object(_) => None,
    };
    parsed
        .filter(|revision| *revision >= 0)
        .ok_or_else(|| Failure::bad(field, "must be a revision (a whole number, 0 or more)"))
}
