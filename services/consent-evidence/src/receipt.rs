//! A consent receipt: the record a person (or a regulator) is handed, with
//! what proves it, as one JWS (compact, `alg` EdDSA, `kid` the log key's
//! id) signed by the log's key.
//!
//! The payload uses the Kantara Initiative Consent Receipt 1.1 names where
//! they exist (`version`, `consentTimestamp`, `collectionMethod`,
//! `consentReceiptID`, `piiPrincipalId`, `piiControllers`, `services` with
//! their `purposes`, `sensitive`) and adds `evidence`: the record's leaf,
//! the disclosure of the values it commits to, its index in the tenant's
//! log, the inclusion proof and the signed checkpoint it proves against.

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use consent_core::{ConsentRecord, Timestamp};
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use serde::{Deserialize, Serialize};
use tlog_tiles::Hash;

use crate::error::EvidenceError;
use crate::key::LogKey;
use crate::leaf::{Disclosure, Leaf, Salt};

/// The Kantara Consent Receipt specification version the names follow.
pub const RECEIPT_VERSION: &str = "KI-CR-v1.1.0";

/// The longest inclusion proof a receipt may carry (a tree of 2^64 records
/// needs 64 hashes).
pub const MAX_PROOF_HASHES: usize = 64;

/// A receipt's payload.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[allow(missing_docs)]
pub struct Receipt {
    pub version: String,
    /// When the person decided, Unix seconds.
    #[serde(rename = "consentTimestamp")]
    pub consent_timestamp: i64,
    /// The record's source.
    #[serde(rename = "collectionMethod")]
    pub collection_method: String,
    /// The record id.
    #[serde(rename = "consentReceiptID")]
    pub consent_receipt_id: String,
    /// The first identity's value (all are in the disclosure).
    #[serde(rename = "piiPrincipalId")]
    pub pii_principal_id: String,
    /// The tenant.
    #[serde(rename = "piiControllers")]
    pub pii_controllers: Vec<Controller>,
    /// The target and its purpose with the decision.
    pub services: Vec<Service>,
    pub sensitive: bool,
    /// What proves the record.
    pub evidence: ReceiptEvidence,
}

/// A controller of a receipt.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Controller {
    /// The tenant.
    #[serde(rename = "piiController")]
    pub pii_controller: String,
}

/// A service of a receipt: the record's target.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Service {
    /// The target; `*` for any target.
    pub service: String,
    /// The record's purpose.
    pub purposes: Vec<Purpose>,
}

/// A purpose of a receipt.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Purpose {
    /// The purpose; `*` for all purposes.
    pub purpose: String,
    /// `EXPLICIT` when stated, `IMPLICIT` when a signal implied it.
    #[serde(rename = "consentType")]
    pub consent_type: String,
    /// `granted`, `denied` or `limited` (an extension of the names).
    pub decision: String,
    /// When it lapses, RFC 3339; empty for never.
    pub termination: String,
}

/// What proves a receipt's record.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ReceiptEvidence {
    /// The record's leaf.
    pub leaf: Leaf,
    /// The values the leaf commits to, and the salt.
    pub disclosure: Disclosure,
    /// The leaf's index in the log (`revision - 1`).
    pub log_index: u64,
    /// The inclusion proof, base64 hashes.
    pub inclusion_proof: Vec<String>,
    /// The signed checkpoint the proof is against.
    pub checkpoint: String,
}

impl Receipt {
    /// The receipt of `record` (committed under `salt`), included in the
    /// tree of `checkpoint` by `proof`.
    pub fn new(record: &ConsentRecord, salt: &Salt, proof: &[Hash], checkpoint: String) -> Self {
        let leaf = Leaf::of(record, salt);
        let any = |value: &str| if value.is_empty() { "*".to_owned() } else { value.to_owned() };
        Self {
            version: RECEIPT_VERSION.to_owned(),
            consent_timestamp: record.collected_at.as_micros().div_euclid(1_000_000),
            collection_method: record.source.clone(),
            consent_receipt_id: record.id.to_string(),
            pii_principal_id: record.identities.first().map(|i| i.value.clone()).unwrap_or_default(),
            pii_controllers: vec![Controller { pii_controller: record.tenant.as_str().to_owned() }],
            services: vec![Service {
                service: any(&record.target),
                purposes: vec![Purpose {
                    purpose: any(&record.purpose),
                    consent_type: if record.implied_by.is_some() { "IMPLICIT" } else { "EXPLICIT" }
                        .to_owned(),
                    decision: record.decision.as_str().to_owned(),
                    termination: record.expires_at.map(Timestamp::to_rfc3339).unwrap_or_default(),
                }],
            }],
            sensitive: false,
            evidence: ReceiptEvidence {
                log_index: leaf.index().unwrap_or_default(),
                leaf,
                disclosure: Disclosure::of(record, salt),
                inclusion_proof: proof.iter().map(|hash| STANDARD.encode(hash.0)).collect(),
                checkpoint,
            },
        }
    }

    /// The receipt as a compact JWS signed with `key`.
    pub fn sign(&self, key: &LogKey) -> Result<String, EvidenceError> {
        let mut header = Header::new(Algorithm::EdDSA);
        header.kid = Some(key.key_id());
        header.typ = Some("consent-receipt+jws".to_owned());
        let encoding = EncodingKey::from_ed_der(&key.pkcs8()?);
        jsonwebtoken::encode(&header, self, &encoding).map_err(|e| EvidenceError::Receipt(e.to_string()))
    }

    /// Whether the receipt's readable fields say what its leaf says: a
    /// receipt must not show one record and prove another.
    pub(crate) fn matches_leaf(&self) -> Result<(), String> {
        let leaf = &self.evidence.leaf;
        let any = |value: &str| if value.is_empty() { "*".to_owned() } else { value.to_owned() };
        let service = self.services.first().ok_or("services")?;
        let purpose = service.purposes.first().ok_or("services[0].purposes")?;
        let checks = [
            ("consentReceiptID", self.consent_receipt_id == leaf.id),
            ("consentTimestamp", self.consent_timestamp == leaf.collected_at.div_euclid(1_000_000)),
            ("collectionMethod", self.collection_method == leaf.source),
            ("piiControllers", self.pii_controllers.iter().map(|c| &c.pii_controller).eq([&leaf.tenant])),
            (
                "services",
                self.services.len() == 1
                    && service.purposes.len() == 1
                    && service.service == any(&leaf.target),
            ),
            ("services[0].purposes[0].purpose", purpose.purpose == any(&leaf.purpose)),
            ("services[0].purposes[0].decision", purpose.decision == leaf.decision),
            (
                "piiPrincipalId",
                self.evidence.disclosure.identities.first().map(|i| i.value.as_str()).unwrap_or_default()
                    == self.pii_principal_id,
            ),
            ("evidence.log_index", leaf.index() == Some(self.evidence.log_index)),
        ];
        match checks.iter().find(|(_, holds)| !holds) {
            Some((field, _)) => Err((*field).to_owned()),
            None => Ok(()),
        }
    }
}
