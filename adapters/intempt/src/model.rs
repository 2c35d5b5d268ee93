//! Intempt's request body, as its OpenAPI definition describes it.
//!
//! [`ConsentBody`] is the body consentd sends when it forwards a record to
//! Intempt (`encode_event`). Decoding reads the body as a JSON object instead
//! (see `decode.rs`): Intempt's clients send `timestamp` and `validUntil` as
//! numbers or strings, and every missing or malformed field must be reported
//! under its own name, which serde's derived errors do not do.

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

/// `action`: what the person decided.
pub(crate) const ACTION: &str = "action";
/// `timestamp`: when, in epoch milliseconds (the server SDKs send seconds).
pub(crate) const TIMESTAMP: &str = "timestamp";
/// `validUntil`: epoch milliseconds, or [`UNLIMITED`].
pub(crate) const VALID_UNTIL: &str = "validUntil";
/// `source`: `desktop`, `mobile`, …
pub(crate) const SOURCE: &str = "source";
/// `category`: the purpose; absent means every category.
pub(crate) const CATEGORY: &str = "category";
/// `userId`: the client's user id.
pub(crate) const USER_ID: &str = "userId";
/// `email`: the person's email address.
pub(crate) const EMAIL: &str = "email";
/// `profileId`: Intempt's profile id.
pub(crate) const PROFILE_ID: &str = "profileId";
/// `message`: free text about the decision.
pub(crate) const MESSAGE: &str = "message";

/// The fields with a meaning of their own; every other field the client sends
/// (`sourceId`, `reason`, `deviceInfo`, …) is kept as evidence metadata.
pub(crate) const KNOWN_FIELDS: [&str; 9] =
    [ACTION, TIMESTAMP, VALID_UNTIL, SOURCE, CATEGORY, USER_ID, EMAIL, PROFILE_ID, MESSAGE];

/// The identity fields, with the consentd namespace each maps to, in the
/// order identities are listed (the first names a new subject).
pub(crate) const IDENTITY_FIELDS: [(&str, &str); 3] =
    [(USER_ID, "user_id"), (EMAIL, "email"), (PROFILE_ID, "profile_id")];

/// The `validUntil` value for a consent that never expires.
pub(crate) const UNLIMITED: &str = "unlimited";

/// `action`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub(crate) enum Action {
    /// The person agreed.
    Accept,
    /// The person declined.
    Reject,
}

impl Action {
    /// The action named `name`, exactly as the enum spells it.
    pub(crate) fn from_name(name: &str) -> Option<Self> {
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
pub(crate) struct ConsentBody {
    /// Accept or reject.
    pub(crate) action: Action,
    /// When the person decided, epoch milliseconds.
    pub(crate) timestamp: String,
    /// When the consent expires, epoch milliseconds, or `unlimited`.
    pub(crate) valid_until: String,
    /// Where the consent was given.
    pub(crate) source: String,
    /// The category; absent means every category.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) category: Option<String>,
    /// The client's user id.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) user_id: Option<String>,
    /// The person's email address.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) email: Option<String>,
    /// Intempt's profile id.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) profile_id: Option<String>,
    /// Free text about the decision.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) message: Option<String>,
    /// Every other field (`sourceId`, `reason`, …): accepted, never rejected.
    #[serde(flatten)]
    pub(crate) extra: Map<String, Value>,
}
