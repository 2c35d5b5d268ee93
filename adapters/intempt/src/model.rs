//! The wire types: Intempt's request and response bodies as its documentation
//! names them, as serde types, and nothing else (decoding and mapping live in
//! `decode.rs`, responses in `encode.rs`, the field names in `field.rs`).
//!
//! Here: the consent body, as Intempt's OpenAPI definition describes it.
//! [`ConsentBody`] is the body consentd sends when it forwards a record to
//! Intempt (`encode_event`). Decoding reads the body as a JSON object instead
//! (see `decode.rs`): Intempt's clients send `timestamp` and `validUntil` as
//! numbers or strings, and every missing or malformed field must be reported
//! under its own name, which serde's derived errors do not do.

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

/// `action`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Action {
    /// The person agreed.
    Accept,
    /// The person declined.
    Reject,
}

impl Action {
    /// The action named `name`, exactly as the enum spells it.
    pub fn from_name(name: &str) -> Option<Self> {
        match name {
            "accept" => Some(Self::Accept),
            "reject" => Some(Self::Reject),
            _ => None,
        }
    }
}

/// The body of `POST …/consents/data`, in the shape consentd sends it:
/// times as strings of epoch milliseconds (the schema's `type: string`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ConsentBody {
    /// Accept or reject.
    pub action: Action,
    /// When the person decided, epoch milliseconds.
    pub timestamp: String,
    /// When the consent expires, epoch milliseconds, or `unlimited`.
    pub valid_until: String,
    /// Where the consent was given.
    pub source: String,
    /// The category; absent means every category.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub category: Option<String>,
    /// The client's user id.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub user_id: Option<String>,
    /// The person's email address.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub email: Option<String>,
    /// Intempt's profile id.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub profile_id: Option<String>,
    /// Free text about the decision.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
    /// Every other field (`sourceId`, `reason`, …): accepted, never rejected.
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

impl ConsentBody {
    /// The `validUntil` value for a consent that never expires.
    pub const UNLIMITED: &str = "unlimited";
}
