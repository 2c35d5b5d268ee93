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

/// Durable storage of consent records.
pub trait ConsentStore: Send + Sync + 'static {
    /// Everything a check of the current state needs, in one step: the
    /// revision the answer reflects and the deciding record of the subject
    /// `subject` names, for `purpose` and `target`. A store may answer from a
    /// cache it keeps consistent with every committed write; it should then
    /// try to reflect at least `min_revision` (waiting briefly, or reading
    /// the database), and the caller refuses an answer below it.
    fn current_check(
        &self,
        tenant: &TenantId,
        subject: &SubjectRef,
        purpose: &str,
        target: &str,
        min_revision: Revision,
    ) -> impl Future<Output = Result<CurrentCheck, ConsentError>> + Send;

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

    /// The record that decides a check about `purpose` and `target` (see
    /// [`crate::check`]): from the current state when `as_of` is `None`, else
    /// from the records collected up to `as_of`.
    fn deciding_record(
        &self,
        tenant: &TenantId,
        subject_id: Uuid,
        purpose: &str,
        target: &str,
        as_of: Option<Timestamp>,
    ) -> impl Future<Output = Result<Option<ConsentRecord>, ConsentError>> + Send;

    /// The current record for exactly this subject, purpose and target.
    fn current_record(
        &self,
        tenant: &TenantId,
        subject_id: Uuid,
        purpose: &str,
        target: &str,
    ) -> impl Future<Output = Result<Option<ConsentRecord>, ConsentError>> + Send;

    /// The latest current record (by `collected_at`, then revision) of a
    /// subject for `target`, whatever its purpose; with `include_any_target`,
    /// the any-target records (which apply to every target) compete too.
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

    /// Records matching `filter` with a revision above `after`, in revision
    /// order, at most `limit`. `filter.identity` is resolved by the caller.
    fn list(
        &self,
        tenant: &TenantId,
        filter: &RecordFilter,
        after: Revision,
        limit: u64,
    ) -> impl Future<Output = Result<Vec<ConsentRecord>, ConsentError>> + Send;

    /// Records matching `filter` with a revision in `(after, up_to]`, in
    /// revision order, at most `limit`: one read of the change feed.
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

    /// The tenant's highest committed revision (0 before its first write).
    fn head_revision(&self, tenant: &TenantId)
    -> impl Future<Output = Result<Revision, ConsentError>> + Send;

    /// Whether the store's own background tasks (a committer, a listener)
    /// still run: liveness, which never touches the database. The error
    /// names the task that died and why.
    fn alive(&self) -> Result<(), ConsentError>;

    /// Whether the store answers and its schema is up to date.
    fn ready(&self) -> impl Future<Output = Result<(), ConsentError>> + Send;
}

/// A check of the current state read straight from the store's tables, in
/// three reads (head, subject, deciding record): what a store without a
/// cache answers [`ConsentStore::current_check`] with, and what a caching
/// store reads through to. The head is read first, so the answer reflects
/// at least that revision.
pub async fn read_current_check<S: ConsentStore>(
    store: &S,
    tenant: &TenantId,
    subject: &SubjectRef,
    purpose: &str,
    target: &str,
) -> Result<CurrentCheck, ConsentError> {
    let revision = store.head_revision(tenant).await?;
    let subject_id = match subject {
        SubjectRef::Id(id) => Some(*id),
        SubjectRef::Identity(identity) => store.subject_of(tenant, identity).await?,
    };
    let record = match subject_id {
        Some(subject_id) => store.deciding_record(tenant, subject_id, purpose, target, None).await?,
        None => None,
    };
    Ok(CurrentCheck { revision, record })
}
