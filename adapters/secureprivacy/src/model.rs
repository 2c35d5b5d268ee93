//! The wire types: Secure Privacy's request and response bodies as its
//! documentation names them, as serde types, and nothing else (decoding and
//! mapping live in `decode.rs` and `read.rs`, responses in `encode.rs`, the
//! field names in `field.rs`).
//!
//! Here: the bodies Universal Consent documents, field for field, with the
//! vendor's PascalCase names (`URI`, `IP` as spelled there). Requests are not deserialised through these types: Secure Privacy is a
//! .NET service whose model binding matches names case-insensitively and
//! takes GET fields from the query string too, so the decoder walks the
//! JSON (and the query) itself and names the vendor's field in every
//! problem. [`RecordRequest`] is the normalised record body that
//! `encode_event` sends; everything else here is what the adapter answers.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

/// `ConsentGiven` as the record, update, check and get bodies carry it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum ConsentGiven {
    /// `All`: consent to everything asked.
    All,
    /// `Partial`: consent to a part (consentd's LIMITED).
    Partial,
    /// `None`: no consent.
    None,
}

impl ConsentGiven {
    /// The value a client sent, matched case-insensitively as .NET's enum
    /// binding does; `None` (the Rust one) for anything else.
    pub fn parse(text: &str) -> Option<Self> {
        [Self::All, Self::Partial, Self::None]
            .into_iter()
            .find(|value| value.as_str().eq_ignore_ascii_case(text))
    }

    /// The documented spelling.
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::All => "All",
            Self::Partial => "Partial",
            Self::None => "None",
        }
    }
}

/// The record body, `POST /api/universalconsent`; absent optional fields
/// are left out.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RecordRequest {
    /// `ConsentGiven`.
    #[serde(rename = "ConsentGiven")]
    pub consent_given: ConsentGiven,
    /// `CustomUserId`; absent for an anonymous visitor.
    #[serde(rename = "CustomUserId", default, skip_serializing_if = "Option::is_none")]
    pub custom_user_id: Option<String>,
    /// `URI`; absent: the `Origin` header.
    #[serde(rename = "URI", default, skip_serializing_if = "Option::is_none")]
    pub uri: Option<String>,
    /// `Metadata`.
    #[serde(rename = "Metadata", default, skip_serializing_if = "Option::is_none")]
    pub metadata: Option<String>,
    /// `Reference`; absent: any target.
    #[serde(rename = "Reference", default, skip_serializing_if = "Option::is_none")]
    pub reference: Option<String>,
    /// `ConsentType`; absent: all purposes.
    #[serde(rename = "ConsentType", default, skip_serializing_if = "Option::is_none")]
    pub consent_type: Option<String>,
}

/// The record response: when, and for whom.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct RecordResponse {
    /// When the consent was collected (RFC 3339).
    pub created: String,
    /// The person's id: the same `CustomUserId` always yields the same one.
    pub client_id: String,
}

/// The full record, `GET /api/universalconsent/{ClientId}` (and the
/// `Consent` of a webhook notification).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct ConsentResponse {
    /// The record id.
    pub id: String,
    /// When this consent (person, type, reference) was first given.
    pub created: String,
    /// When its current decision was given.
    pub last_updated: String,
    /// Where it was given.
    #[serde(rename = "URI")]
    pub uri: String,
    /// The current decision.
    pub consent_given: ConsentGiven,
    /// The purpose.
    pub consent_type: String,
    /// The metadata text.
    pub metadata: String,
    /// The target.
    pub reference: String,
    /// The client's id for the person; empty when none was given.
    pub custom_user_id: String,
    /// Secure Privacy's id for the person.
    pub client_id: String,
}

/// The check response, `GET /api/universalconsent/consent-given`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct CheckResponse {
    /// The current decision.
    pub consent_given: ConsentGiven,
}

/// One item of the list, `GET /api/universalconsent`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct ListItem {
    /// The record id.
    pub id: String,
    /// When this consent was first given.
    pub created: String,
    /// When its current decision was given.
    pub last_updated: String,
    /// Whether any consent (`All` or `Partial`) was given.
    pub consent_given: bool,
    /// Where it was given.
    #[serde(rename = "URI")]
    pub uri: String,
    /// The purpose.
    pub consent_type: String,
    /// The metadata text.
    pub metadata: String,
    /// The target.
    pub reference: String,
    /// Secure Privacy's id for the person.
    pub client_id: String,
    /// Who gave it, from where.
    pub fingerprint: Fingerprint,
}

/// A list item's `Fingerprint`: the request's evidence.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct Fingerprint {
    /// The client's id for the person.
    pub custom_user_id: String,
    /// The person's IP.
    #[serde(rename = "IP")]
    pub ip: String,
    /// The trusted proxy the request came through.
    #[serde(rename = "ProxifiedIP")]
    pub proxified_ip: String,
    /// The person's user agent.
    pub user_agent: String,
    /// The person's city.
    pub city: String,
    /// The person's state or region.
    pub state: String,
    /// The person's country.
    pub country: String,
}

/// The integration record response,
/// `POST /api/universalconsent/integration/{IntegrationId}`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct IntegrationRecordResponse {
    /// When the consent was collected.
    pub created: String,
    /// Secure Privacy's id for the person.
    pub client_id: String,
    /// The integration the consent was recorded for.
    pub reference: String,
    /// The client's id for the person; empty when none was given.
    pub custom_user_id: String,
}

/// The integration get response,
/// `GET /api/universalconsent/integration/{ClientId}?IntegrationId=`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct IntegrationConsentResponse {
    /// Secure Privacy's id for the person.
    pub client_id: String,
    /// The integration.
    pub reference: String,
    /// The current decision.
    pub consent_given: ConsentGiven,
    /// When this consent was first given.
    pub created: String,
    /// The metadata text.
    pub metadata: String,
}

/// The subscribe response (consentd's: the vendor documents `200 OK`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct SubscribeResponse {
    /// The subscription's id.
    pub subscription_id: String,
    /// The secret that signs the deliveries; shown this once.
    pub secret: String,
}

/// A webhook delivery's body.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct NotificationBody {
    /// The receiver's de-duplication key: the same on every retry.
    pub event_id: String,
    /// `consent.recorded` or `consent.updated`.
    pub event_type: String,
    /// The subscription.
    pub subscription_id: String,
    /// The record's revision (its position in the change feed).
    pub revision: i64,
    /// The consent, as the get route answers it.
    pub consent: ConsentResponse,
}

/// An ASP.NET Core problem details body, for every failure but a bad request.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ProblemDetails {
    /// The RFC section that defines the status.
    #[serde(rename = "type")]
    pub kind: String,
    /// The status's reason phrase.
    pub title: String,
    /// The HTTP status.
    pub status: u16,
    /// What went wrong.
    pub detail: String,
}

/// ASP.NET Core's validation problem details: the answer to a bad request,
/// the problems listed by field.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ValidationProblemDetails {
    /// The RFC section that defines 400.
    #[serde(rename = "type")]
    pub kind: String,
    /// `One or more validation errors occurred.`, as ASP.NET words it.
    pub title: String,
    /// 400.
    pub status: u16,
    /// The problems, by the vendor's field name.
    pub errors: BTreeMap<String, Vec<String>>,
}
