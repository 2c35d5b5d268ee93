//! The consent domain: who decided what, for which purpose, and the evidence.

use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::time::Timestamp;

/// A tenant's slug, such as `acme`. It comes from the credential, never from a
/// request body.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub struct TenantId(String);

impl TenantId {
    /// The tenant every call acts for until credentials name one.
    pub fn default_tenant() -> Self {
        Self("default".to_owned())
    }

    /// A tenant from its slug.
    pub fn new(slug: impl Into<String>) -> Self {
        Self(slug.into())
    }

    /// The slug.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// A change-feed position: one per record, strictly increasing within a tenant.
pub type Revision = i64;

/// What a person decided.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum Decision {
    /// The person agreed.
    Granted,
    /// The person refused.
    Denied,
    /// The person agreed to a part only (essential-only, partial).
    Limited,
}

impl Decision {
    /// The stable name stored in the database.
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Granted => "granted",
            Self::Denied => "denied",
            Self::Limited => "limited",
        }
    }

    /// The decision stored under `name`.
    pub fn from_name(name: &str) -> Option<Self> {
        match name {
            "granted" => Some(Self::Granted),
            "denied" => Some(Self::Denied),
            "limited" => Some(Self::Limited),
            _ => None,
        }
    }
}

/// The answer of a consent check.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ConsentStatus {
    /// The deciding record grants the purpose.
    Granted,
    /// The deciding record denies the purpose.
    Denied,
    /// The deciding record grants a limited consent.
    Limited,
    /// The deciding record had expired at the time asked about.
    Expired,
    /// No record applies, or the subject was never seen.
    Unknown,
}

impl From<Decision> for ConsentStatus {
    fn from(decision: Decision) -> Self {
        match decision {
            Decision::Granted => Self::Granted,
            Decision::Denied => Self::Denied,
            Decision::Limited => Self::Limited,
        }
    }
}

/// What wrote a record to the log: a record or an update call, or the
/// expiry of the current record it copies.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum EventKind {
    /// Written by a record call.
    Recorded,
    /// Written by an update call.
    Updated,
    /// Written when the `expires_at` of the current record for its key
    /// passed: a copy of that record (its decision, times and evidence) with
    /// an id and revision of its own. It announces the change on the feed;
    /// the current record stays the one it copies.
    Expired,
    /// Written when a subject was erased (`EraseSubject`): it names the
    /// subject and carries nothing else of it (no identities, no evidence,
    /// all purposes, decision `denied` for a reader that ignores the kind).
    /// Never a current record, and no check reads it.
    Erased,
}

impl EventKind {
    /// The stable name stored in the database.
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Recorded => "recorded",
            Self::Updated => "updated",
            Self::Expired => "expired",
            Self::Erased => "erased",
        }
    }

    /// The kind stored under `name`.
    pub fn from_name(name: &str) -> Option<Self> {
        match name {
            "recorded" => Some(Self::Recorded),
            "updated" => Some(Self::Updated),
            "expired" => Some(Self::Expired),
            "erased" => Some(Self::Erased),
            _ => None,
        }
    }
}

/// A person's identifier in one namespace, such as `email` or `user_id`.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub struct Identity {
    /// Lower-case namespace.
    pub namespace: String,
    /// The identifier within the namespace.
    pub value: String,
}

impl Identity {
    /// An identity from its parts, as given.
    pub fn new(namespace: impl Into<String>, value: impl Into<String>) -> Self {
        Self { namespace: namespace.into(), value: value.into() }
    }
}

/// A subject named by its server id or by one of its identities.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum SubjectRef {
    /// The server's subject id.
    Id(Uuid),
    /// Any identity linked to the subject.
    Identity(Identity),
}

/// About what identities take in a record: their text, a `Vec` slot and
/// the tags around each.
pub fn identity_bytes(identities: &[Identity]) -> usize {
    identities.iter().map(|identity| identity.namespace.len() + identity.value.len() + 48).sum()
}

impl Evidence {
    /// The bytes of all its text.
    pub fn text_bytes(&self) -> usize {
        [
            &self.user_agent,
            &self.ip,
            &self.proxy_ip,
            &self.uri,
            &self.country,
            &self.region,
            &self.city,
            &self.notice_version,
            &self.policy_version,
            &self.message,
            &self.metadata_json,
            &self.consent_id,
            &self.vendor,
            &self.payload_digest,
            &self.tc_string,
            &self.gpp_string,
        ]
        .iter()
        .map(|text| text.len())
        .sum()
    }
}

/// What proves a decision: how, where and under which notice it was collected.
/// Empty strings mean "not given".
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Evidence {
    /// The user agent of the collecting device.
    pub user_agent: String,
    /// The IP address the decision came from.
    pub ip: String,
    /// The trusted proxy the request came through (the peer address), when
    /// `ip` was taken from its `X-Forwarded-For`; empty otherwise.
    pub proxy_ip: String,
    /// The page or screen where the decision was made.
    pub uri: String,
    /// Country of the person.
    pub country: String,
    /// Region or state of the person.
    pub region: String,
    /// City of the person.
    pub city: String,
    /// Version of the notice shown.
    pub notice_version: String,
    /// Version of the privacy policy in force.
    pub policy_version: String,
    /// Free text shown to or given by the person.
    pub message: String,
    /// A JSON object with further detail, as text.
    pub metadata_json: String,
    /// The consent id of the collecting system.
    pub consent_id: String,
    /// The vendor wire format the record arrived in.
    pub vendor: String,
    /// A digest of the raw vendor payload.
    pub payload_digest: String,
    /// The browser sent the Global Privacy Control signal. Serialized only
    /// when set, so a request's idempotency digest is what it was before
    /// the field existed.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub gpc: bool,
    /// An IAB TCF v2.2 TC string, as the CMP produced it. Serialized only
    /// when set, as `gpc`.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub tc_string: String,
    /// An IAB GPP string, as the CMP produced it. Serialized only when set.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub gpp_string: String,
}

/// The consent signal that implied a decision the request did not state.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum Signal {
    /// The evidence's TC string.
    Tcf,
    /// The evidence's GPP string.
    Gpp,
    /// The Global Privacy Control signal, under the tenant's GPC policy.
    Gpc,
}

impl Signal {
    /// The stable name stored in the database.
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Tcf => "tcf",
            Self::Gpp => "gpp",
            Self::Gpc => "gpc",
        }
    }

    /// The signal stored under `name`.
    pub fn from_name(name: &str) -> Option<Self> {
        match name {
            "tcf" => Some(Self::Tcf),
            "gpp" => Some(Self::Gpp),
            "gpc" => Some(Self::Gpc),
            _ => None,
        }
    }
}

/// One decision within a record request.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PurposeDecision {
    /// The purpose; empty means all purposes.
    pub purpose: String,
    /// The target; empty means any target.
    pub target: String,
    /// The decision.
    pub decision: Decision,
    /// The signal that implied the decision; `None` when the client stated
    /// it. Set by the server only (docs/signals.md).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub implied_by: Option<Signal>,
    /// A GPC denial and an explicit grant of the same purpose in one request
    /// (docs/signals.md#gpc): set on both. Set by the server only.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub gpc_conflict: bool,
}

impl PurposeDecision {
    /// A decision the client stated.
    pub fn stated(purpose: impl Into<String>, target: impl Into<String>, decision: Decision) -> Self {
        Self {
            purpose: purpose.into(),
            target: target.into(),
            decision,
            implied_by: None,
            gpc_conflict: false,
        }
    }
}

/// One immutable piece of evidence.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConsentRecord {
    /// The record id (UUIDv7).
    pub id: Uuid,
    /// The tenant the record belongs to.
    pub tenant: TenantId,
    /// The subject the record is about.
    pub subject_id: Uuid,
    /// The identities the request named.
    pub identities: Vec<Identity>,
    /// The purpose; empty means all purposes.
    pub purpose: String,
    /// The target; empty means any target.
    pub target: String,
    /// The decision.
    pub decision: Decision,
    /// When the person decided.
    pub collected_at: Timestamp,
    /// When the decision stops applying; `None` means never.
    pub expires_at: Option<Timestamp>,
    /// When the server stored the record.
    pub recorded_at: Timestamp,
    /// Where the decision came from.
    pub source: String,
    /// What proves the decision.
    pub evidence: Evidence,
    /// The record's revision.
    pub revision: Revision,
    /// Whether a record or an update call wrote it.
    pub kind: EventKind,
    /// The signal that implied the decision; `None` when stated.
    pub implied_by: Option<Signal>,
    /// See [`PurposeDecision::gpc_conflict`].
    pub gpc_conflict: bool,
}

impl ConsentRecord {
    /// Whether the record has expired at `at`: an expiry at exactly `at` has.
    pub fn is_expired_at(&self, at: Timestamp) -> bool {
        self.expires_at.is_some_and(|expires_at| expires_at <= at)
    }

    /// About how many bytes the record holds in memory — and, as its text
    /// dominates, about (and at least) what its protobuf or JSON encoding
    /// takes: what byte budgets (cache, feed buffers, response pages) count.
    pub fn approximate_bytes(&self) -> usize {
        let strings = self.tenant.as_str().len()
            + self.purpose.len()
            + self.target.len()
            + self.source.len()
            + self.evidence.text_bytes();
        strings + identity_bytes(&self.identities) + std::mem::size_of::<Self>() + 64
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn evidence_without_gpc_serializes_as_before_the_field() {
        // Idempotency digests hash the serialized command: a retry across
        // the upgrade that added `gpc` must digest the same.
        let serialized = serde_json::to_string(&Evidence::default()).unwrap();
        assert!(!serialized.contains("gpc"), "{serialized}");
        let with = serde_json::to_string(&Evidence { gpc: true, ..Evidence::default() }).unwrap();
        assert!(with.contains("\"gpc\":true"), "{with}");
        let read: Evidence = serde_json::from_str(&serialized).unwrap();
        assert!(!read.gpc);
    }
}
