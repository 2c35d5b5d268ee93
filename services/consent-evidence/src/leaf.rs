//! The canonical encoding of a record as a log leaf.
//!
//! A leaf is the record as one JSON object: the keys of every object in
//! lexicographic order, no insignificant whitespace, UTF-8, strings escaped
//! as JSON requires (for these values this is RFC 8785's canonical form).
//! Its hash is RFC 9162's leaf hash, `SHA-256(0x00 || leaf)`.
//!
//! Values that can identify a person do not enter the leaf as they are:
//! each is a **commitment**, `hex(HMAC-SHA256(salt, "consentd/commitment/v1\n"
//! || field || "\n" || value))` with the subject's own random 32-byte salt
//! (an empty value stays empty). These are the identities' values (field
//! `identity:<namespace>`) and the evidence's `ip`, `proxy_ip`,
//! `user_agent`, `uri`, `message`, `metadata_json` and `consent_id`. With
//! the salt and the values (a receipt's [`Disclosure`]) anyone recomputes
//! the leaf; once the salt is destroyed (erasure) the commitments reveal
//! nothing, yet the leaf — and every proof over it — is unchanged.

use consent_core::{ConsentRecord, Identity, Timestamp};
use hmac::{Hmac, Mac};
use serde::{Deserialize, Serialize};
use sha2::Sha256;
use tlog_tiles::{Hash, record_hash};

/// The leaf encoding's version, the `v` of every leaf.
pub const LEAF_VERSION: u8 = 1;

/// The domain of commitments, so they cannot be confused with any other
/// HMAC of the same salt.
const COMMITMENT_DOMAIN: &str = "consentd/commitment/v1";

/// A subject's commitment salt.
pub type Salt = [u8; 32];

/// A record as its log leaf. Fields are declared in key order: serde
/// writes them in declaration order, which makes the encoding canonical.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Leaf {
    /// When the person decided, microseconds since the Unix epoch.
    pub collected_at: i64,
    /// `granted`, `denied` or `limited`.
    pub decision: String,
    /// The evidence, identifying values as commitments.
    pub evidence: LeafEvidence,
    /// When the decision lapses (microseconds), or null.
    pub expires_at: Option<i64>,
    /// See `ConsentRecord.gpc_conflict`.
    pub gpc_conflict: bool,
    /// The record id.
    pub id: String,
    /// The identities, values as commitments, in the record's order.
    pub identities: Vec<LeafIdentity>,
    /// `tcf`, `gpp`, `gpc`, or empty when stated.
    pub implied_by: String,
    /// `recorded`, `updated` or `expired`.
    pub kind: String,
    /// The purpose (empty: all purposes).
    pub purpose: String,
    /// When the server stored the record (microseconds).
    pub recorded_at: i64,
    /// The record's revision; the leaf's index is `revision - 1`.
    pub revision: i64,
    /// Where the decision came from.
    pub source: String,
    /// The subject id.
    pub subject_id: String,
    /// The target (empty: any target).
    pub target: String,
    /// The tenant whose log holds the leaf.
    pub tenant: String,
    /// [`LEAF_VERSION`].
    pub v: u8,
}

/// An identity in a leaf: its namespace, and its value's commitment.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LeafIdentity {
    /// The namespace, as it is.
    pub namespace: String,
    /// The value's commitment.
    pub value: String,
}

/// A record's evidence in a leaf (keys in order).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
#[allow(missing_docs)]
pub struct LeafEvidence {
    pub city: String,
    /// Commitment.
    pub consent_id: String,
    pub country: String,
    pub gpc: bool,
    pub gpp_string: String,
    /// Commitment.
    pub ip: String,
    /// Commitment.
    pub message: String,
    /// Commitment.
    pub metadata_json: String,
    pub notice_version: String,
    pub payload_digest: String,
    pub policy_version: String,
    /// Commitment.
    pub proxy_ip: String,
    pub region: String,
    pub tc_string: String,
    /// Commitment.
    pub uri: String,
    /// Commitment.
    pub user_agent: String,
    pub vendor: String,
}

/// The identifying values of a record and the salt of their commitments:
/// what a receipt discloses so that its reader can recompute the leaf.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Disclosure {
    /// The subject's salt, hex.
    pub salt: String,
    /// The identities, in the record's order.
    pub identities: Vec<Identity>,
    /// The evidence's identifying values, by field name.
    pub consent_id: String,
    #[allow(missing_docs)]
    pub ip: String,
    #[allow(missing_docs)]
    pub message: String,
    #[allow(missing_docs)]
    pub metadata_json: String,
    #[allow(missing_docs)]
    pub proxy_ip: String,
    #[allow(missing_docs)]
    pub uri: String,
    #[allow(missing_docs)]
    pub user_agent: String,
}

/// The commitment of `value` of `field` under `salt`; empty for an empty
/// value.
pub fn commitment(salt: &Salt, field: &str, value: &str) -> String {
    if value.is_empty() {
        return String::new();
    }
    // HMAC takes a key of any length; a 32-byte one never fails.
    let mut mac = <Hmac<Sha256> as Mac>::new_from_slice(salt).unwrap_or_else(|_| unreachable!());
    mac.update(COMMITMENT_DOMAIN.as_bytes());
    mac.update(b"\n");
    mac.update(field.as_bytes());
    mac.update(b"\n");
    mac.update(value.as_bytes());
    hex::encode(mac.finalize().into_bytes())
}

fn identity_field(namespace: &str) -> String {
    format!("identity:{namespace}")
}

/// The commitments of a record's identifying values: what the leaf holds
/// of them, and what is kept of a record whose values were erased or
/// removed by retention, so its leaf is the same ever after.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
#[allow(missing_docs)]
pub struct Commitments {
    pub identities: Vec<LeafIdentity>,
    pub consent_id: String,
    pub ip: String,
    pub message: String,
    pub metadata_json: String,
    pub proxy_ip: String,
    pub uri: String,
    pub user_agent: String,
}

impl Commitments {
    /// The commitments of `record`'s values under `salt`.
    pub fn of(record: &ConsentRecord, salt: &Salt) -> Self {
        let e = &record.evidence;
        let commit = |field: &str, value: &str| commitment(salt, field, value);
        Self {
            identities: record
                .identities
                .iter()
                .map(|identity| LeafIdentity {
                    namespace: identity.namespace.clone(),
                    value: commit(&identity_field(&identity.namespace), &identity.value),
                })
                .collect(),
            consent_id: commit("consent_id", &e.consent_id),
            ip: commit("ip", &e.ip),
            message: commit("message", &e.message),
            metadata_json: commit("metadata_json", &e.metadata_json),
            proxy_ip: commit("proxy_ip", &e.proxy_ip),
            uri: commit("uri", &e.uri),
            user_agent: commit("user_agent", &e.user_agent),
        }
    }
}

impl Leaf {
    /// The leaf of `record`, its identifying values committed under `salt`.
    pub fn of(record: &ConsentRecord, salt: &Salt) -> Self {
        Self::with(record, Commitments::of(record, salt))
    }

    /// The leaf of `record` with these commitments of its identifying
    /// values (the record's own values are not read).
    pub fn with(record: &ConsentRecord, commitments: Commitments) -> Self {
        let e = &record.evidence;
        Self {
            collected_at: record.collected_at.as_micros(),
            decision: record.decision.as_str().to_owned(),
            evidence: LeafEvidence {
                city: e.city.clone(),
                consent_id: commitments.consent_id,
                country: e.country.clone(),
                gpc: e.gpc,
                gpp_string: e.gpp_string.clone(),
                ip: commitments.ip,
                message: commitments.message,
                metadata_json: commitments.metadata_json,
                notice_version: e.notice_version.clone(),
                payload_digest: e.payload_digest.clone(),
                policy_version: e.policy_version.clone(),
                proxy_ip: commitments.proxy_ip,
                region: e.region.clone(),
                tc_string: e.tc_string.clone(),
                uri: commitments.uri,
                user_agent: commitments.user_agent,
                vendor: e.vendor.clone(),
            },
            expires_at: record.expires_at.map(Timestamp::as_micros),
            gpc_conflict: record.gpc_conflict,
            id: record.id.to_string(),
            identities: commitments.identities,
            implied_by: record.implied_by.map_or("", consent_core::Signal::as_str).to_owned(),
            kind: record.kind.as_str().to_owned(),
            purpose: record.purpose.clone(),
            recorded_at: record.recorded_at.as_micros(),
            revision: record.revision,
            source: record.source.clone(),
            subject_id: record.subject_id.to_string(),
            target: record.target.clone(),
            tenant: record.tenant.as_str().to_owned(),
            v: LEAF_VERSION,
        }
    }

    /// The canonical encoding.
    pub fn to_bytes(&self) -> Vec<u8> {
        // Plain data of strings, integers, booleans and null: serializing
        // it cannot fail.
        serde_json::to_vec(self).unwrap_or_default()
    }

    /// RFC 9162's leaf hash of the encoding.
    pub fn hash(&self) -> Hash {
        record_hash(&self.to_bytes())
    }

    /// The leaf's index in its tenant's log.
    pub fn index(&self) -> Option<u64> {
        u64::try_from(self.revision).ok()?.checked_sub(1)
    }

    /// Whether `disclosure` holds the values this leaf commits to; the
    /// first field that differs otherwise.
    pub fn check_disclosure(&self, disclosure: &Disclosure) -> Result<(), String> {
        let salt = parse_salt(&disclosure.salt).ok_or_else(|| "salt".to_owned())?;
        if disclosure.identities.len() != self.identities.len() {
            return Err("identities".to_owned());
        }
        for (i, (shown, committed)) in disclosure.identities.iter().zip(&self.identities).enumerate() {
            if shown.namespace != committed.namespace
                || commitment(&salt, &identity_field(&shown.namespace), &shown.value) != committed.value
            {
                return Err(format!("identities[{i}]"));
            }
        }
        let e = &self.evidence;
        for (field, value, committed) in [
            ("consent_id", &disclosure.consent_id, &e.consent_id),
            ("ip", &disclosure.ip, &e.ip),
            ("message", &disclosure.message, &e.message),
            ("metadata_json", &disclosure.metadata_json, &e.metadata_json),
            ("proxy_ip", &disclosure.proxy_ip, &e.proxy_ip),
            ("uri", &disclosure.uri, &e.uri),
            ("user_agent", &disclosure.user_agent, &e.user_agent),
        ] {
            if commitment(&salt, field, value) != *committed {
                return Err(format!("evidence.{field}"));
            }
        }
        Ok(())
    }
}

impl Disclosure {
    /// What `record` discloses under `salt`.
    pub fn of(record: &ConsentRecord, salt: &Salt) -> Self {
        let e = &record.evidence;
        Self {
            salt: hex::encode(salt),
            identities: record.identities.clone(),
            consent_id: e.consent_id.clone(),
            ip: e.ip.clone(),
            message: e.message.clone(),
            metadata_json: e.metadata_json.clone(),
            proxy_ip: e.proxy_ip.clone(),
            uri: e.uri.clone(),
            user_agent: e.user_agent.clone(),
        }
    }
}

/// A salt from its hex.
pub fn parse_salt(text: &str) -> Option<Salt> {
    hex::decode(text).ok()?.try_into().ok()
}

/// A new random salt.
pub fn random_salt() -> Salt {
    let mut salt = [0; 32];
    rand_core::RngCore::fill_bytes(&mut rand_core::OsRng, &mut salt);
    salt
}
