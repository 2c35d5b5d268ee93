//! What the service needs from storage. The sea-orm store implements it for
//! SQLite and PostgreSQL; every method is scoped by tenant.

use std::future::Future;

use uuid::Uuid;

use tokio::sync::watch;

use crate::command::{RecordFilter, WriteCommand, WriteOutcome};
use crate::error::ConsentError;
use crate::feed::ChangeFilter;
use crate::model::{ConsentRecord, Identity, Revision, SubjectRef, TenantId};
use crate::time::Timestamp;

/// Most revisions one query page or feed read examines when no index
/// narrows it to a subject: a read filtered only by purpose, source, place
/// or time walks the tenant's log, and a rare value would otherwise make one
/// call scan all of it. The page ends at the window's end (with a token to
/// go on), so every call costs at most this many rows, however large the
/// log (AIP-158 allows a short, even empty, page with a next token).
pub const SCAN_WINDOW: Revision = 10_000;

/// One read of [`ConsentStore::list`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Listed {
    /// The matching records, in revision order.
    pub records: Vec<ConsentRecord>,
    /// Every match with a revision up to this one is in `records` (or
    /// `records` holds `limit` of them): the next read goes on after it.
    pub examined: Revision,
}

/// When one key (subject, purpose, target) was first decided.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FirstCollected {
    /// The subject.
    pub subject_id: Uuid,
    /// The purpose.
    pub purpose: String,
    /// The target.
    pub target: String,
    /// The earliest `collected_at` of the key's records.
    pub at: Timestamp,
}

/// What a check of the current state reads.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CurrentCheck {
    /// The tenant's revision the answer reflects: every write up to it is
    /// taken into account.
    pub revision: Revision,
    /// The deciding record (see [`crate::check`]); `None` when the subject is
    /// unknown or has no record that applies.
    pub record: Option<ConsentRecord>,
}

/// What a check of one target reads, whatever the purpose (the target-only
/// rule, [`crate::check::deciding_for_target`]): a vendor's check or read of
/// one target.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TargetCheck {
    /// The tenant's revision the answer reflects, as [`CurrentCheck`]'s.
    pub revision: Revision,
    /// The deciding current record, and the earliest `collected_at` of its
    /// purpose and target; `None` when the subject is unknown or has no
    /// record that applies.
    pub deciding: Option<(ConsentRecord, Timestamp)>,
}

/// The answers of several checks of one subject, from one state.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CurrentChecks {
    /// The tenant's revision every answer reflects, as [`CurrentCheck`]'s.
    pub revision: Revision,
    /// The deciding record of each check, in the order asked.
    pub records: Vec<Option<ConsentRecord>>,
}

/// Durable storage of consent records.
pub trait ConsentStore: Send + Sync + 'static {
    /// Everything a check needs, in one step: the revision the answer
    /// reflects and the deciding record of the subject `subject` names, for
    /// `purpose` and `target`, from the current state (`at` is `None`) or from
    /// the records collected up to `at`. The reads are made against one
    /// consistent state: the revision is never ahead of what the record was
    /// read from. A store may answer from a cache it keeps consistent with
    /// every committed write, or from a replica of the database; it should
    /// then try to reflect at least `min_revision` (waiting briefly, or
    /// reading the primary), and the caller refuses an answer below it.
    fn check(
        &self,
        tenant: &TenantId,
        subject: &SubjectRef,
        purpose: &str,
        target: &str,
        at: Option<Timestamp>,
        min_revision: Revision,
    ) -> impl Future<Output = Result<CurrentCheck, ConsentError>> + Send;

    /// [`ConsentStore::check`] for several `(purpose, target)` pairs of one
    /// subject, against one consistent state, at the cost of one check: the
    /// subject is resolved once, and a store that caches a subject's
    /// current records answers every pair from them.
    fn check_many(
        &self,
        tenant: &TenantId,
        subject: &SubjectRef,
        pairs: &[(&str, &str)],
        at: Option<Timestamp>,
        min_revision: Revision,
    ) -> impl Future<Output = Result<CurrentChecks, ConsentError>> + Send;

    /// Applies a validated write in one transaction and returns once it has
    /// committed. A write with an idempotency key already seen returns the
    /// original outcome and writes nothing.
    fn write(
        &self,
        tenant: &TenantId,
        command: WriteCommand,
    ) -> impl Future<Output = Result<WriteOutcome, ConsentError>> + Send;

    /// The subject linked to `identity`, if any.
    fn subject_of(
        &self,
        tenant: &TenantId,
        identity: &Identity,
    ) -> impl Future<Output = Result<Option<Uuid>, ConsentError>> + Send;

    /// The current record for exactly this subject, purpose and target.
    fn current_record(
        &self,
        tenant: &TenantId,
        subject_id: Uuid,
        purpose: &str,
        target: &str,
    ) -> impl Future<Output = Result<Option<ConsentRecord>, ConsentError>> + Send;

    /// A check of `target` now, whatever the purpose, of the subject
    /// `subject` names: the latest current record for `target` (with
    /// `include_any_target`, the any-target records compete too) and when
    /// its purpose and target were first collected. Consistent as
    /// [`ConsentStore::check`] is, and answered from the same cache where
    /// the store keeps one.
    fn check_target(
        &self,
        tenant: &TenantId,
        subject: &SubjectRef,
        target: &str,
        include_any_target: bool,
    ) -> impl Future<Output = Result<TargetCheck, ConsentError>> + Send;

    /// The latest current record (by `collected_at`, then revision) of a
    /// subject for `target`, whatever its purpose; with `include_any_target`,
    /// the any-target records (which apply to every target) compete too.
    /// Read from the primary: a write builds on it.
    fn latest_for_target(
        &self,
        tenant: &TenantId,
        subject_id: Uuid,
        target: &str,
        include_any_target: bool,
    ) -> impl Future<Output = Result<Option<ConsentRecord>, ConsentError>> + Send;

    /// For every (purpose, target) of these subjects, the earliest
    /// `collected_at` of its records: when each consent was first decided.
    fn first_collected(
        &self,
        tenant: &TenantId,
        subject_ids: &[Uuid],
    ) -> impl Future<Output = Result<Vec<FirstCollected>, ConsentError>> + Send;

    /// The record with this id.
    fn record_by_id(
        &self,
        tenant: &TenantId,
        id: Uuid,
    ) -> impl Future<Output = Result<Option<ConsentRecord>, ConsentError>> + Send;

    /// Records matching `filter` with a revision in `(after, up_to]`, in
    /// revision order, at most `limit`, and how far it looked: a store may
    /// stop before `up_to` with fewer than `limit` records when it examined
    /// as many rows as it will in one call. `filter.identity` is resolved by
    /// the caller. Read from a state that holds every revision up to `up_to`.
    fn list(
        &self,
        tenant: &TenantId,
        filter: &RecordFilter,
        after: Revision,
        up_to: Revision,
        limit: u64,
    ) -> impl Future<Output = Result<Listed, ConsentError>> + Send;

    /// Records matching `filter` with a revision in `(after, up_to]`, in
    /// revision order, at most `limit`: one read of the change feed. Read
    /// from a state that holds every revision up to `up_to`.
    fn changes(
        &self,
        tenant: &TenantId,
        filter: &ChangeFilter,
        after: Revision,
        up_to: Revision,
        limit: u64,
    ) -> impl Future<Output = Result<Vec<ConsentRecord>, ConsentError>> + Send;

    /// A signal that changes after each commit of this store handle: the
    /// change feed's wake-up. The log stays the truth; a subscriber re-reads
    /// it when woken (and also on a timer, for commits made elsewhere).
    fn commits(&self) -> watch::Receiver<u64>;

    /// An id unique to this database, so resume tokens from another one are
    /// told apart.
    fn database_id(&self) -> impl Future<Output = Result<String, ConsentError>> + Send;

    /// The tenant's highest committed revision (0 before its first write),
    /// as seen by a replica of the database that has reached `at_least` if
    /// one can be had (else the primary's): lower than `at_least` only when
    /// the tenant has not reached it.
    fn head_revision(
        &self,
        tenant: &TenantId,
        at_least: Revision,
    ) -> impl Future<Output = Result<Revision, ConsentError>> + Send;

    /// Whether the store's own background tasks (a committer, a listener)
    /// still run: liveness, which never touches the database. The error
    /// names the task that died and why.
    fn alive(&self) -> Result<(), ConsentError>;

    /// Whether the store answers and its schema is up to date.
    fn ready(&self) -> impl Future<Output = Result<(), ConsentError>> + Send;
}
