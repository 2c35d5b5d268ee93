//! Rows into requests: adjacent rows that were one decision event (the same
//! identities, times, source and evidence) go back into one RecordConsent,
//! as they were recorded, and each request gets an idempotency key derived
//! from its content, so a rerun of the same file writes nothing twice. A
//! row an update wrote is imported by an update, alone.

use base64::Engine as _;
use consent_client::proto::{
    PurposeDecision, RecordConsentRequest, SubjectRef, UpdateConsentRequest, subject_ref,
};
use prost::Message as _;
use sha2::{Digest as _, Sha256};

use super::rows::Row;

/// The most decisions one request may carry.
const MAX_DECISIONS: usize = 100;

/// Rows that become one request.
#[derive(Debug, Clone, Default)]
pub(crate) struct Group {
    pub(crate) rows: Vec<Row>,
}

impl Group {
    /// Whether `row` belongs to this decision event.
    pub(crate) fn takes(&self, row: &Row) -> bool {
        let Some(first) = self.rows.first() else { return true };
        self.rows.len() < MAX_DECISIONS
            && !first.updated
            && !row.updated
            && first.identities == row.identities
            && first.collected_at == row.collected_at
            && first.expires_at == row.expires_at
            && first.source == row.source
            && first.evidence == row.evidence
            // A GPC conflict's implied denial shares its grant's purpose:
            // implied rows are not sent, so they never collide.
            && !self.rows.iter().any(|other| {
                !other.implied && !row.implied && other.purpose == row.purpose && other.target == row.target
            })
    }

    /// The subject's lane key: rows of one person are sent in file order.
    pub(crate) fn subject_key(&self) -> &str {
        self.rows.first().map_or("", |row| row.subject.as_str())
    }

    /// The update a lone updated row makes; `None` for a group to record.
    pub(crate) fn update(&self) -> Option<UpdateConsentRequest> {
        let [row] = self.rows.as_slice() else { return None };
        if !row.updated {
            return None;
        }
        let mut request = UpdateConsentRequest {
            subject: Some(SubjectRef {
                subject: row.identities.first().cloned().map(subject_ref::Subject::Identity),
            }),
            purpose: row.purpose.clone(),
            target: row.target.clone(),
            decision: row.decision as i32,
            expires_at: row.expires_at,
            evidence: row.evidence.to_proto(),
            expected_revision: 0,
            idempotency_key: String::new(),
            collected_at: row.collected_at,
            source: row.source.clone(),
        };
        request.idempotency_key = self.key(&request.encode_to_vec());
        Some(request)
    }

    /// The request that records the group (an updated row whose subject has
    /// no record yet, in a current-state export, is recorded too), its
    /// idempotency key derived from everything else in it.
    pub(crate) fn request(&self) -> RecordConsentRequest {
        let Some(first) = self.rows.first() else { return RecordConsentRequest::default() };
        let mut request = RecordConsentRequest {
            identities: first.identities.clone(),
            decisions: self
                .rows
                .iter()
                .filter(|row| !row.implied)
                .map(|row| PurposeDecision {
                    purpose: row.purpose.clone(),
                    target: row.target.clone(),
                    decision: row.decision as i32,
                })
                .collect(),
            collected_at: first.collected_at,
            expires_at: first.expires_at,
            source: first.source.clone(),
            evidence: first.evidence.to_proto(),
            idempotency_key: String::new(),
        };
        request.idempotency_key = self.key(&request.encode_to_vec());
        request
    }

    /// The idempotency key of a request's encoding (without a key) and the
    /// origins of its rows.
    fn key(&self, encoded: &[u8]) -> String {
        let mut hash = Sha256::new();
        hash.update(encoded);
        for row in &self.rows {
            hash.update(b"\n");
            hash.update(row.origin.as_bytes());
        }
        format!(
            "consentctl-import:{}",
            base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(hash.finalize())
        )
    }

    /// Each row alone (to find which row of a refused request is wrong).
    pub(crate) fn split(self) -> Vec<Self> {
        self.rows.into_iter().map(|row| Self { rows: vec![row] }).collect()
    }
}
