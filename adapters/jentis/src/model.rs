//! The wire types: JENTIS' request and response bodies as its documentation
//! names them, as serde types, and nothing else (decoding and mapping live in
//! `decode.rs`, responses in `encode.rs`).
//!
//! Here: the `ConsentSubmission` body of `POST /` as JENTIS publishes it
//! (OpenAPI 3.0.1, "JENTIS Custom API"), field for field. These types are
//! the normalised shape: what [`crate::Jentis`] decodes a request into and
//! what `encode_event` serialises. Unknown fields are ignored, never rejected
//! (the schema does not forbid them). The decoder does not use their
//! `Deserialize` implementations: it walks the JSON with consent-adapter's
//! field reader so that every problem names the vendor's dotted field path,
//! which serde's errors do not. The `Deserialize` implementations are as
//! lenient as the decoder where JENTIS' own documented example departs from
//! its schema (`version` and `data.identifier.user.id` sent as numbers).

use std::collections::BTreeMap;

use serde::{Deserialize, Deserializer, Serialize};
use serde_json::{Map, Value};

/// The whole request body.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ConsentSubmission {
    /// The version of the API definition; a string in the schema, the number
    /// `3` in the documented example.
    #[serde(deserialize_with = "text_or_integer")]
    pub version: String,
    /// The device or platform that sends the data.
    pub system: System,
    /// Which JENTIS container and environment the data is for.
    pub configuration: Configuration,
    /// The identifiers and the consent itself.
    pub data: Data,
}

/// `system`: the sending device or platform.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct System {
    /// `type`: the platform keyword (`web`, `app`, `http-api`, …).
    #[serde(rename = "type")]
    pub kind: String,
    /// `timestamp`: when the request was sent, in epoch milliseconds.
    pub timestamp: i64,
    /// `navigator-userAgent`: the user agent of the collecting device.
    #[serde(rename = "navigator-userAgent")]
    pub navigator_user_agent: String,
    /// `initiator`: the id of the JENTIS state this request executes.
    pub initiator: String,
    /// `href`: the page the consent was collected on.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub href: Option<String>,
    /// `requestType`: `sendBeacon` when sent with the Beacon API.
    #[serde(rename = "requestType", default, skip_serializing_if = "Option::is_none")]
    pub request_type: Option<String>,
    /// `domain`: the first-party cookie domain (type `web`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub domain: Option<String>,
}

/// `configuration`: the JENTIS account the data is for.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Configuration {
    /// `container`: the container short name.
    pub container: String,
    /// `environment`: `live`, `stage`, …
    pub environment: String,
    /// `version`: the container version, when debugging.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub version: Option<String>,
    /// `debugcode`: the Preview/Debug Monitor code, when debugging.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub debugcode: Option<String>,
}

/// `data`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Data {
    /// `identifier`: who, and which consent.
    pub identifier: Identifier,
    /// `consent`: the decisions.
    pub consent: ConsentState,
}

/// `data.identifier`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Identifier {
    /// `user`: the JENTIS user.
    pub user: UserIdentifier,
    /// `consent`: the consent document.
    pub consent: ConsentIdentifier,
}

/// `data.identifier.user`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct UserIdentifier {
    /// `id`: the JENTIS user id; a string in the schema, a number in the
    /// documented example.
    #[serde(deserialize_with = "text_or_integer")]
    pub id: String,
    /// `action`: `new` on the user's first request, else `update`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub action: Option<String>,
}

/// `data.identifier.consent`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ConsentIdentifier {
    /// `id`: the consent id, a UUIDv4.
    pub id: String,
    /// `action`: `new` on the user's first consent, else `update`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub action: Option<String>,
}

/// `data.consent`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ConsentState {
    /// `lastupdate`: when the person decided, in epoch milliseconds.
    pub lastupdate: i64,
    /// `data`: key-value pairs stored with the consent.
    #[serde(default)]
    pub data: Map<String, Value>,
    /// `send`: listed as required by the schema but neither typed nor
    /// described there, and absent from the documented example.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub send: Option<Value>,
    /// `userconsent`: like `send`, required by the schema, untyped, absent
    /// from the documented example.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub userconsent: Option<Value>,
    /// `vendors`: the decision per JENTIS vendor id.
    pub vendors: BTreeMap<String, VendorConsent>,
    /// `vendorsChanged`: the vendors whose decision changed with this request.
    #[serde(rename = "vendorsChanged", default)]
    pub vendors_changed: BTreeMap<String, VendorConsent>,
}

/// One vendor's consent status: `true`, `false` or `"ncm"` (Essential Mode).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(try_from = "RawVendorConsent", into = "RawVendorConsent")]
pub enum VendorConsent {
    /// `true`: consent granted.
    Granted,
    /// `false`: consent denied.
    Denied,
    /// `"ncm"`: Essential Mode, no consent mode.
    Ncm,
}

impl VendorConsent {
    /// The status a JSON value states, if it is one of the three.
    pub fn from_value(value: &Value) -> Option<Self> {
        match value {
            Value::Bool(true) => Some(Self::Granted),
            Value::Bool(false) => Some(Self::Denied),
            Value::String(text) if text == "ncm" => Some(Self::Ncm),
            Value::String(_) | Value::Null | Value::Number(_) | Value::Array(_) | Value::Object(_) => None,
        }
    }
}

/// The wire form of [`VendorConsent`].
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(untagged)]
enum RawVendorConsent {
    Flag(bool),
    Text(String),
}

impl TryFrom<RawVendorConsent> for VendorConsent {
    type Error = String;

    fn try_from(raw: RawVendorConsent) -> Result<Self, Self::Error> {
        match raw {
            RawVendorConsent::Flag(true) => Ok(Self::Granted),
            RawVendorConsent::Flag(false) => Ok(Self::Denied),
            RawVendorConsent::Text(text) if text == "ncm" => Ok(Self::Ncm),
            RawVendorConsent::Text(text) => Err(format!("must be true, false or \"ncm\", got {text:?}")),
        }
    }
}

impl From<VendorConsent> for RawVendorConsent {
    fn from(status: VendorConsent) -> Self {
        match status {
            VendorConsent::Granted => Self::Flag(true),
            VendorConsent::Denied => Self::Flag(false),
            VendorConsent::Ncm => Self::Text("ncm".to_owned()),
        }
    }
}

/// A string, or an integer taken as its decimal digits (see
/// [`integer_text`]).
fn text_or_integer<'de, D: Deserializer<'de>>(deserializer: D) -> Result<String, D::Error> {
    match Value::deserialize(deserializer)? {
        Value::String(text) => Ok(text),
        Value::Number(number) => {
            integer_text(&number).ok_or_else(|| serde::de::Error::custom("must be a string or an integer"))
        }
        Value::Null | Value::Bool(_) | Value::Array(_) | Value::Object(_) => {
            Err(serde::de::Error::custom("must be a string or an integer"))
        }
    }
}

/// The decimal digits of an integral JSON number: `3` → `"3"`,
/// `7.173716454587715e+22` → `"71737164545877150000000"` (JavaScript clients
/// send JENTIS' 23-digit user ids as numbers; the digits past a double's
/// precision are lost before the request is sent). `None` for a fraction.
pub(crate) fn integer_text(number: &serde_json::Number) -> Option<String> {
    if number.is_i64() || number.is_u64() {
        return Some(number.to_string());
    }
    let float = number.as_f64()?;
    // Rust prints a float without an exponent, with the shortest digits that
    // round-trip followed by zeros: the integer a JavaScript client meant.
    (float.is_finite() && float.fract() == 0.0).then(|| format!("{float}"))
}
