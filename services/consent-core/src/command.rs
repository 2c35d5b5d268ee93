//! The operations the service performs, as plain data. Every transport
//! (gRPC, vendor HTTP routes) builds these and hands them to the service.

use serde::Serialize;
use sha2::{Digest, Sha256};
use uuid::Uuid;

use crate::model::{
    ConsentRecord, ConsentStatus, Decision, Evidence, Identity, PurposeDecision, Revision, SubjectRef,
};
use crate::time::Timestamp;

/// Record decisions for one subject named by its identities.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct RecordConsent {
    /// The subject's identities; linked together.
    pub identities: Vec<Identity>,
    /// One decision per distinct purpose and target.
    pub decisions: Vec<PurposeDecision>,
    /// When the person decided; `None` means now.
    pub collected_at: Option<Timestamp>,
    /// When the decisions stop applying; `None` means never.
    pub expires_at: Option<Timestamp>,
    /// Where the decision came from.
    pub source: String,
    /// What proves the decision.
    pub evidence: Evidence,
    /// A retry with the same key returns the original result.
    pub idempotency_key: String,
}

/// Change the decision for an existing (subject, purpose, target).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct UpdateConsent {
    /// The subject.
    pub subject: SubjectRef,
    /// The purpose; empty means all purposes.
    pub purpose: String,
    /// The target; empty means any target.
    pub target: String,
    /// The new decision.
    pub decision: Decision,
    /// When the person decided; `None` means now.
    pub collected_at: Option<Timestamp>,
    /// When the new decision stops applying; `None` means never.
    pub expires_at: Option<Timestamp>,
    /// Where the decision came from; empty keeps the current record's source.
    pub source: String,
    /// What proves the new decision.
    pub evidence: Evidence,
    /// Apply only if the current record has this revision.
    pub expected_revision: Option<Revision>,
    /// A retry with the same key returns the original result.
    pub idempotency_key: String,
}

/// A write the store applies in one transaction.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub enum WriteCommand {
    /// See [`RecordConsent`].
    Record(RecordConsent),
    /// See [`UpdateConsent`].
    Update(UpdateConsent),
    /// Several record requests applied all or none, with consecutive
    /// revisions (one vendor request naming several people).
    RecordAll(Vec<RecordConsent>),
    /// Announces the expiries that are due: see [`ExpireDue`].
    Expire(ExpireDue),
    /// Erases a subject: see [`EraseSubject`].
    Erase(EraseSubject),
    /// Removes what retention no longer keeps: see [`RetainUntil`].
    Retain(RetainUntil),
}

/// Removes the identifying values of those of `records` (the tenant's,
/// found due outside the write lock) that still stopped being current before
/// `cutoff` (a later decision for their subject, purpose and target replaced
/// them, and both were recorded before it) and whose subject is not on legal
/// hold; their log leaves stay the same (docs/evidence.md#retention). Takes
/// no revisions.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct RetainUntil {
    /// Records that stopped being current before this are removed.
    pub cutoff: crate::Timestamp,
    /// The records to check again and remove (ids).
    pub records: Vec<String>,
}

/// Erases a subject (docs/evidence.md#erasure): its data key and every
/// identifying value are destroyed, its records stay in the log with their
/// identifying fields gone, and an [`crate::EventKind::Erased`] record
/// announces it. Takes its one revision under the tenant's write lock.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct EraseSubject {
    /// The subject.
    pub subject: SubjectRef,
}

/// Appends an [`crate::EventKind::Expired`] record for each current record
/// of the tenant whose `expires_at` is at or before `up_to` and whose expiry
/// was not announced yet, at most `limit`, in the order they expired. How
/// many that is is known only under the tenant's write lock, so the
/// command takes no revisions in advance; an expiry another replica
/// announced first is not announced again.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ExpireDue {
    /// Expiries at or before this time are due.
    pub up_to: crate::Timestamp,
    /// The most announced by one command.
    pub limit: usize,
}

impl WriteCommand {
    /// The idempotency key, empty when none was given.
    pub fn idempotency_key(&self) -> &str {
        match self {
            Self::Record(cmd) => &cmd.idempotency_key,
            Self::Update(cmd) => &cmd.idempotency_key,
            Self::RecordAll(_) | Self::Expire(_) | Self::Erase(_) | Self::Retain(_) => "",
        }
    }

    /// A digest of the whole command as the client sent it, so a retry that
    /// reuses a key with a different request is told apart from a true retry.
    pub fn digest(&self) -> String {
        // serde_json of plain data structs is deterministic (field order is
        // declaration order), which is all a digest needs.
        let encoded = serde_json::to_vec(self).unwrap_or_default();
        hex::encode(Sha256::digest(&encoded))
    }
}

/// What a write produced.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WriteOutcome {
    /// The subject written to.
    pub subject_id: Uuid,
    /// The records written, in request order.
    pub records: Vec<ConsentRecord>,
    /// The highest revision written.
    pub revision: Revision,
    /// Identities already linked to another subject; left where they were.
    pub conflicting_identities: Vec<Identity>,
}

/// Ask whether a purpose is allowed for a subject.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CheckConsent {
    /// The subject.
    pub subject: SubjectRef,
    /// The purpose; empty asks about all-purposes records only.
    pub purpose: String,
    /// The target; empty asks about any-target records only.
    pub target: String,
    /// The time to answer for; `None` means now.
    pub at: Option<Timestamp>,
    /// Read at least this fresh; 0 means any.
    pub min_revision: Revision,
}

/// Several checks of one subject at once, against one state.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BatchCheckConsent {
    /// The subject.
    pub subject: SubjectRef,
    /// The checks: each a purpose and a target, as [`CheckConsent`]'s.
    pub checks: Vec<PurposeTarget>,
    /// The time to answer for; `None` means now.
    pub at: Option<Timestamp>,
    /// Read at least this fresh; 0 means any.
    pub min_revision: Revision,
}

/// One check of a batch.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PurposeTarget {
    /// The purpose; empty asks about all-purposes records only.
    pub purpose: String,
    /// The target; empty asks about any-target records only.
    pub target: String,
}

/// The answers of a batch of checks.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BatchCheckOutcome {
    /// One answer per check, in the batch's order.
    pub results: Vec<CheckResult>,
    /// The head revision every answer was read at.
    pub revision: Revision,
}

/// The answer to one check of a batch.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CheckResult {
    /// The answer.
    pub status: ConsentStatus,
    /// The deciding record, if any.
    pub record: Option<ConsentRecord>,
}

/// The answer of a check.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CheckOutcome {
    /// The answer.
    pub status: ConsentStatus,
    /// The deciding record, if any.
    pub record: Option<ConsentRecord>,
    /// The head revision the answer was read at.
    pub revision: Revision,
}

/// Which records a query or a subscription wants. Empty strings and `None`
/// mean "any".
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct RecordFilter {
    /// Only this subject.
    pub subject_id: Option<Uuid>,
    /// Only the subject linked to this identity.
    pub identity: Option<Identity>,
    /// Only this purpose (exact).
    pub purpose: String,
    /// Only this target (exact).
    pub target: String,
    /// Only these decisions; empty means any.
    pub decisions: Vec<Decision>,
    /// Only this source.
    pub source: String,
    /// Only records collected at or after this time.
    pub collected_after: Option<Timestamp>,
    /// Only records collected before this time.
    pub collected_before: Option<Timestamp>,
    /// Only grants whose `expires_at` is before this time (current state
    /// only): the grants to renew. Left out of the serialized filter when
    /// unset, so page tokens made before the field existed still match
    /// their query's fingerprint.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub expiring_before: Option<Timestamp>,
    /// Only records marked `gpc_conflict` (when true). Serialized only when
    /// set, as `expiring_before`.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub gpc_conflict: bool,
    /// Only records with this evidence IP.
    pub ip: String,
    /// Only records with this evidence user agent.
    pub user_agent: String,
    /// Only records with this evidence country.
    pub country: String,
    /// Only records with this evidence region.
    pub region: String,
    /// Only records with this evidence city.
    pub city: String,
    /// Every record (true) or the current record per key (false).
    pub history: bool,
}

/// List records matching a filter, one page at a time.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct QueryConsents {
    /// Which records.
    pub filter: RecordFilter,
    /// Requested page size: 0 means the default, above the maximum is lowered.
    pub page_size: i32,
    /// The previous page's token; empty for the first page.
    pub page_token: String,
}

/// One page of records.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct QueryPage {
    /// The records, in revision order.
    pub records: Vec<ConsentRecord>,
    /// The next page's token; empty on the last page.
    pub next_page_token: String,
}

/// Change a subject's current decision for a target, whichever purpose it
/// is for: the latest current record for the subject and target gets a new
/// decision (Secure Privacy's update by client id and reference).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UpdateLatest {
    /// The subject.
    pub subject: SubjectRef,
    /// The target; empty means the any-target records.
    pub target: String,
    /// The new decision.
    pub decision: Decision,
    /// What proves the new decision.
    pub evidence: Evidence,
}

/// A current record with what a consent's life adds to it: when its key
/// (subject, purpose, target) was first decided, and the check answer now.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConsentView {
    /// The current record.
    pub record: ConsentRecord,
    /// The earliest `collected_at` of any record of the same key.
    pub first_collected_at: Timestamp,
    /// The record's decision now: its decision, or `Expired` once it has
    /// expired.
    pub status: ConsentStatus,
}

/// Which record `GetConsent` returns.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum GetConsent {
    /// The record with this id.
    ById(Uuid),
    /// The current record of a subject for a purpose and target.
    Current {
        /// The subject.
        subject: SubjectRef,
        /// The purpose; empty means the all-purposes record.
        purpose: String,
        /// The target; empty means the any-target record.
        target: String,
    },
}
