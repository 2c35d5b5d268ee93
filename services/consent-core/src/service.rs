//! The consent service: every operation implemented once, for every transport.
//! It validates, resolves subjects and applies the check rule; the store does
//! the I/O.

use std::collections::HashMap;
use std::sync::Arc;

use uuid::Uuid;

use crate::check;
use crate::command::{
    BatchCheckConsent, BatchCheckOutcome, CheckConsent, CheckOutcome, CheckResult, ConsentView, EraseSubject,
    GetConsent, PurposeTarget, QueryConsents, QueryPage, RecordConsent, RecordFilter, UpdateConsent,
    UpdateLatest, WriteCommand, WriteOutcome,
};
use crate::error::ConsentError;
use crate::feed::{self, ChangeFilter, ChangePage, FeedFilter, FeedStart, Subscribe};
use crate::model::{ConsentRecord, ConsentStatus, Revision, SubjectRef, TenantId};
use crate::page;
use crate::signals::{CONSENT_MODE_TYPES, DecodedSignals, NoSignals, SignalPolicy};
use crate::store::{ConsentStore, CurrentCheck, SCAN_WINDOW};
use crate::time::Timestamp;
use crate::validate;

/// The consent operations over a store.
#[derive(Debug, Clone)]
pub struct ConsentService<S> {
    store: S,
    signals: Arc<dyn SignalPolicy>,
}

/// Google Consent Mode v2's view of a subject: each of
/// [`CONSENT_MODE_TYPES`] with whether it is granted, in that order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConsentModeOutcome {
    /// `(type, granted)` for each type.
    pub types: Vec<(&'static str, bool)>,
    /// The tenant's head revision the answer was read at.
    pub revision: Revision,
}

impl<S: ConsentStore> ConsentService<S> {
    /// A service over `store` that decodes no consent signals ([`NoSignals`]).
    pub fn new(store: S) -> Self {
        Self { store, signals: Arc::new(NoSignals) }
    }

    /// The same service applying `signals` to every record request.
    #[must_use]
    pub fn with_signals(mut self, signals: Arc<dyn SignalPolicy>) -> Self {
        self.signals = signals;
        self
    }

    /// The signal policy the service applies.
    pub fn signals(&self) -> &dyn SignalPolicy {
        self.signals.as_ref()
    }

    /// The underlying store.
    pub fn store(&self) -> &S {
        &self.store
    }

    /// Records decisions for a subject.
    pub async fn record(
        &self,
        tenant: &TenantId,
        mut cmd: RecordConsent,
    ) -> Result<WriteOutcome, ConsentError> {
        validate::signals(&mut cmd)?;
        self.signals.apply(tenant, &mut cmd)?;
        validate::record(&mut cmd, Timestamp::now())?;
        self.store.write(tenant, WriteCommand::Record(cmd)).await
    }

    /// Records several requests all or none, in one transaction: a vendor
    /// request naming several people. The outcome holds every record, in
    /// order; its subject is the first request's.
    pub async fn record_all(
        &self,
        tenant: &TenantId,
        mut cmds: Vec<RecordConsent>,
    ) -> Result<WriteOutcome, ConsentError> {
        if cmds.is_empty() {
            return Err(ConsentError::invalid("records", "at least one record is required"));
        }
        let now = Timestamp::now();
        for cmd in &mut cmds {
            validate::signals(cmd)?;
            self.signals.apply(tenant, cmd)?;
            validate::record(cmd, now)?;
        }
        self.store.write(tenant, WriteCommand::RecordAll(cmds)).await
    }

    /// Appends a new decision for an existing subject, purpose and target.
    pub async fn update(
        &self,
        tenant: &TenantId,
        mut cmd: UpdateConsent,
    ) -> Result<WriteOutcome, ConsentError> {
        validate::update(&mut cmd, Timestamp::now())?;
        self.store.write(tenant, WriteCommand::Update(cmd)).await
    }

    /// Erases a subject (docs/evidence.md#erasure); the revision of the
    /// `erased` record that announces it.
    pub async fn erase(&self, tenant: &TenantId, mut cmd: EraseSubject) -> Result<Revision, ConsentError> {
        validate::erase(&mut cmd)?;
        Ok(self.store.write(tenant, WriteCommand::Erase(cmd)).await?.revision)
    }

    /// Answers whether a purpose is allowed for a subject.
    pub async fn check(
        &self,
        tenant: &TenantId,
        mut cmd: CheckConsent,
    ) -> Result<CheckOutcome, ConsentError> {
        validate::check(&mut cmd)?;
        let CurrentCheck { revision, record } = self
            .store
            .check(tenant, &cmd.subject, &cmd.purpose, &cmd.target, cmd.at, cmd.min_revision)
            .await?;
        reached(cmd.min_revision, revision)?;
        let status = check::status_of(record.as_ref(), cmd.at.unwrap_or_else(Timestamp::now));
        Ok(CheckOutcome { status, record, revision })
    }

    /// Several checks of one subject, each by the rule of
    /// [`ConsentService::check`], answered from one state at the cost of
    /// one check.
    pub async fn batch_check(
        &self,
        tenant: &TenantId,
        mut cmd: BatchCheckConsent,
    ) -> Result<BatchCheckOutcome, ConsentError> {
        validate::batch_check(&mut cmd)?;
        let pairs: Vec<(&str, &str)> =
            cmd.checks.iter().map(|check| (check.purpose.as_str(), check.target.as_str())).collect();
        let answers = self.store.check_many(tenant, &cmd.subject, &pairs, cmd.at, cmd.min_revision).await?;
        reached(cmd.min_revision, answers.revision)?;
        let at = cmd.at.unwrap_or_else(Timestamp::now);
        let results = answers
            .records
            .into_iter()
            .map(|record| CheckResult { status: check::status_of(record.as_ref(), at), record })
            .collect();
        Ok(BatchCheckOutcome { results, revision: answers.revision })
    }

    /// Google Consent Mode v2's view of a subject: each type granted when
    /// the purpose the tenant maps it to is GRANTED for the subject (any
    /// target); one batch check.
    pub async fn consent_mode(
        &self,
        tenant: &TenantId,
        subject: SubjectRef,
        min_revision: Revision,
    ) -> Result<ConsentModeOutcome, ConsentError> {
        let purposes = self.signals.consent_mode_purposes(tenant);
        let checks: Vec<PurposeTarget> = purposes
            .iter()
            .flatten()
            .map(|purpose| PurposeTarget { purpose: purpose.clone(), target: String::new() })
            .collect();
        let (granted, revision) = if checks.is_empty() {
            // Nothing mapped: every type is denied, at the head revision.
            let cmd =
                BatchCheckConsent { subject, checks: vec![PurposeTarget::default()], at: None, min_revision };
            (Vec::new(), self.batch_check(tenant, cmd).await?.revision)
        } else {
            let cmd = BatchCheckConsent { subject, checks, at: None, min_revision };
            let outcome = self.batch_check(tenant, cmd).await?;
            let granted = outcome.results.iter().map(|r| r.status == ConsentStatus::Granted).collect();
            (granted, outcome.revision)
        };
        let mut answers = granted.into_iter();
        let types = CONSENT_MODE_TYPES
            .iter()
            .zip(&purposes)
            .map(|(name, purpose)| (*name, purpose.is_some() && answers.next().unwrap_or(false)))
            .collect();
        Ok(ConsentModeOutcome { types, revision })
    }

    /// The decoded view of a record's signals.
    pub fn decoded_signals(&self, record: &ConsentRecord) -> DecodedSignals {
        self.signals.decoded(&record.evidence)
    }

    /// One page of records matching a filter.
    ///
    /// A page also ends, with a next page token, before its records pass
    /// `max_bytes` (by [`ConsentRecord::approximate_bytes`]; at least one
    /// record is always returned), so a response stays under the message
    /// size clients accept.
    pub async fn query(
        &self,
        tenant: &TenantId,
        mut cmd: QueryConsents,
        max_bytes: usize,
    ) -> Result<QueryPage, ConsentError> {
        validate::filter(&mut cmd.filter)?;
        let limit = page::page_size(cmd.page_size)?;
        let after = page::decode(tenant, &cmd.filter, &cmd.page_token)?;
        let empty = QueryPage { records: Vec::new(), next_page_token: String::new() };

        let mut resolved = cmd.filter.clone();
        if let Some(identity) = resolved.identity.take() {
            match self.store.subject_of(tenant, &identity).await? {
                None => return Ok(empty),
                Some(found) if resolved.subject_id.is_some_and(|id| id != found) => return Ok(empty),
                Some(found) => resolved.subject_id = Some(found),
            }
        }
        // A filter no index serves makes the read walk the log, skipping
        // what does not match: a window bounds the walk.
        let head = self.store.head_revision(tenant, 0).await?;
        let up_to = if resolved.subject_id.is_none() && narrows(&resolved) {
            head.min(after.saturating_add(SCAN_WINDOW))
        } else {
            head
        };
        if up_to <= after {
            return Ok(empty);
        }
        // One extra row tells whether another page follows.
        let listed = self.store.list(tenant, &resolved, after, up_to, limit + 1).await?;
        let mut records = listed.records;
        let mut keep = usize::try_from(limit).unwrap_or(usize::MAX).min(records.len());
        let mut bytes = 0;
        for (index, record) in records.iter().enumerate().take(keep) {
            bytes += record.approximate_bytes();
            if bytes > max_bytes && index > 0 {
                keep = index;
                break;
            }
        }
        let more = records.len() > keep;
        records.truncate(keep);
        let next_page_token = match records.last() {
            Some(last) if more => page::encode(tenant, &cmd.filter, last.revision),
            // The read stopped before the log did (its window, or as many
            // rows as one call examines): go on after what it examined.
            Some(_) | None if listed.examined < head => page::encode(tenant, &cmd.filter, listed.examined),
            Some(_) | None => String::new(),
        };
        Ok(QueryPage { records, next_page_token })
    }

    /// One record, by id or as the current record of a key.
    pub async fn get(&self, tenant: &TenantId, mut cmd: GetConsent) -> Result<ConsentRecord, ConsentError> {
        validate::get(&mut cmd)?;
        let found = match cmd {
            GetConsent::ById(id) => self.store.record_by_id(tenant, id).await?,
            GetConsent::Current { subject, purpose, target } => match self.resolve(tenant, &subject).await? {
                Some(subject_id) => self.store.current_record(tenant, subject_id, &purpose, &target).await?,
                None => None,
            },
        };
        found.ok_or_else(|| ConsentError::NotFound("no such consent record".to_owned()))
    }

    /// The latest current record of a subject for a target, whatever its
    /// purpose, as a view; `None` when the subject has none. With
    /// `include_any_target` the any-target records compete too (they apply to
    /// the target): the record that decides whether the subject consented to
    /// the target at all. A check like [`ConsentService::check`], answered
    /// from the store's check cache where it keeps one.
    pub async fn latest(
        &self,
        tenant: &TenantId,
        subject: &SubjectRef,
        target: &str,
        include_any_target: bool,
    ) -> Result<Option<ConsentView>, ConsentError> {
        let mut subject = subject.clone();
        validate::latest(&mut subject, target)?;
        let answer = self.store.check_target(tenant, &subject, target, include_any_target).await?;
        let now = Timestamp::now();
        Ok(answer.deciding.map(|(record, first_collected_at)| view(record, first_collected_at, now)))
    }

    /// The latest current record of a subject for a target, whatever its
    /// purpose, from the primary: what an update builds on.
    async fn latest_on_primary(
        &self,
        tenant: &TenantId,
        subject: &SubjectRef,
        target: &str,
    ) -> Result<Option<ConsentRecord>, ConsentError> {
        let mut subject = subject.clone();
        validate::latest(&mut subject, target)?;
        match self.resolve(tenant, &subject).await? {
            Some(subject_id) => self.store.latest_for_target(tenant, subject_id, target, false).await,
            None => Ok(None),
        }
    }

    /// Appends a new decision to the latest current record of a subject for a
    /// target, keeping its purpose: NOT_FOUND when there is none. A
    /// concurrent write to that record makes it try again with the new one.
    pub async fn update_latest(
        &self,
        tenant: &TenantId,
        cmd: UpdateLatest,
    ) -> Result<WriteOutcome, ConsentError> {
        const ATTEMPTS: usize = 3;
        let mut attempt = 0;
        loop {
            attempt += 1;
            let current = self
                .latest_on_primary(tenant, &cmd.subject, &cmd.target)
                .await?
                .ok_or_else(|| ConsentError::NotFound("no consent for this subject and target".to_owned()))?;
            let update = UpdateConsent {
                subject: SubjectRef::Id(current.subject_id),
                purpose: current.purpose,
                target: cmd.target.clone(),
                decision: cmd.decision,
                collected_at: None,
                expires_at: None,
                source: String::new(),
                evidence: cmd.evidence.clone(),
                expected_revision: Some(current.revision),
                idempotency_key: String::new(),
            };
            match self.update(tenant, update).await {
                Err(ConsentError::FailedPrecondition { reason: "REVISION_MISMATCH", .. })
                    if attempt < ATTEMPTS => {}
                other => return other,
            }
        }
    }

    /// Current records as views: when each one's key was first decided (one
    /// query for them all), and each one's status now.
    pub async fn views(
        &self,
        tenant: &TenantId,
        records: Vec<ConsentRecord>,
    ) -> Result<Vec<ConsentView>, ConsentError> {
        let mut subjects: Vec<Uuid> = records.iter().map(|r| r.subject_id).collect();
        subjects.sort_unstable();
        subjects.dedup();
        let firsts: HashMap<(Uuid, String, String), Timestamp> = self
            .store
            .first_collected(tenant, &subjects)
            .await?
            .into_iter()
            .map(|first| ((first.subject_id, first.purpose, first.target), first.at))
            .collect();
        let now = Timestamp::now();
        Ok(records
            .into_iter()
            .map(|record| {
                let key = (record.subject_id, record.purpose.clone(), record.target.clone());
                let first = firsts.get(&key).copied().unwrap_or(record.collected_at);
                view(record, first, now)
            })
            .collect())
    }

    /// Validates a subscription and returns its filter and the revision it
    /// starts after.
    pub async fn open_feed(
        &self,
        tenant: &TenantId,
        mut cmd: Subscribe,
    ) -> Result<(FeedFilter, Revision), ConsentError> {
        validate::subscribe(&mut cmd)?;
        let (cursor, field) = match cmd.start {
            FeedStart::Now => (None, "after_revision"),
            FeedStart::Beginning => (Some(0), "from_beginning"),
            FeedStart::After(revision) => (Some(revision), "after_revision"),
            FeedStart::Token(token) => {
                let database_id = self.store.database_id().await?;
                (Some(feed::resume_revision(&database_id, tenant, &token)?), "resume_token")
            }
        };
        // Read where the cursor is reached, so a resume on a replica behind
        // the one that handed out the token is not refused.
        let head = self.store.head_revision(tenant, cursor.unwrap_or(0)).await?;
        let cursor = cursor.unwrap_or(head);
        if cursor > head {
            return Err(ConsentError::FailedPrecondition {
                reason: "REVISION_NOT_REACHED",
                message: format!("{field} revision {cursor} is ahead of the head revision {head}"),
            });
        }
        Ok((cmd.filter, cursor))
    }

    /// Reads the feed after `after`: at most `limit` matching records, and the
    /// revision up to which the log has been read. Only revisions at or below
    /// the head are read, and every revision up to the head has committed (the
    /// store assigns revisions in commit order), so nothing read past can
    /// appear later.
    pub async fn read_changes(
        &self,
        tenant: &TenantId,
        filter: &FeedFilter,
        after: Revision,
        limit: u64,
    ) -> Result<ChangePage, ConsentError> {
        let head = self.store.head_revision(tenant, after).await?;
        if head <= after {
            return Ok(ChangePage { records: Vec::new(), cursor: after });
        }
        let subject_id = match &filter.subject {
            None => None,
            Some(subject) => match self.resolve(tenant, subject).await? {
                Some(id) => Some(id),
                // An identity linked to no subject yet matches nothing so far.
                None => return Ok(ChangePage { records: Vec::new(), cursor: head }),
            },
        };
        let change_filter = ChangeFilter {
            subject_id,
            purposes: filter.purposes.clone(),
            targets: filter.targets.clone(),
            sources: filter.sources.clone(),
        };
        // A filter no index serves makes the read walk the log, skipping
        // what does not match: a window bounds the walk.
        let narrowed = !(change_filter.purposes.is_empty()
            && change_filter.targets.is_empty()
            && change_filter.sources.is_empty());
        let up_to =
            if subject_id.is_none() && narrowed { head.min(after.saturating_add(SCAN_WINDOW)) } else { head };
        let records = self.store.changes(tenant, &change_filter, after, up_to, limit).await?;
        let cursor = match records.last() {
            Some(last) if records.len() as u64 >= limit => last.revision,
            Some(_) | None => up_to,
        };
        Ok(ChangePage { records, cursor })
    }

    /// The resume token for `revision`.
    pub async fn resume_token(&self, tenant: &TenantId, revision: Revision) -> Result<String, ConsentError> {
        let database_id = self.store.database_id().await?;
        Ok(feed::resume_token(&database_id, tenant, revision))
    }

    /// Whether the store's background tasks still run (liveness).
    pub fn alive(&self) -> Result<(), ConsentError> {
        self.store.alive()
    }

    /// Whether the store is reachable and migrated.
    pub async fn ready(&self) -> Result<(), ConsentError> {
        self.store.ready().await
    }

    async fn resolve(&self, tenant: &TenantId, subject: &SubjectRef) -> Result<Option<Uuid>, ConsentError> {
        match subject {
            SubjectRef::Id(id) => Ok(Some(*id)),
            SubjectRef::Identity(identity) => self.store.subject_of(tenant, identity).await,
        }
    }
}

/// A current record as a view at `now`: when its purpose and target were
/// first collected (no later than the record itself), and its status.
fn view(record: ConsentRecord, first_collected: Timestamp, now: Timestamp) -> ConsentView {
    let first_collected_at = first_collected.min(record.collected_at);
    let status = check::status_of(Some(&record), now);
    ConsentView { record, first_collected_at, status }
}

/// Whether `filter` can leave out records of the log it walks (beyond the
/// subject, which has an index of its own): such a read is windowed.
fn narrows(filter: &RecordFilter) -> bool {
    !(filter.purpose.is_empty()
        && filter.target.is_empty()
        && filter.source.is_empty()
        && filter.ip.is_empty()
        && filter.user_agent.is_empty()
        && filter.country.is_empty()
        && filter.region.is_empty()
        && filter.city.is_empty()
        && filter.decisions.is_empty()
        && filter.collected_after.is_none()
        && filter.collected_before.is_none()
        && filter.expiring_before.is_none()
        && !filter.gpc_conflict)
}

/// Refuses an answer read at `revision` when the caller asked for at least
/// `min_revision`.
fn reached(min_revision: Revision, revision: Revision) -> Result<(), ConsentError> {
    if min_revision > revision {
        return Err(ConsentError::FailedPrecondition {
            reason: "REVISION_NOT_REACHED",
            message: format!("min_revision {min_revision} is ahead of the store's head revision {revision}"),
        });
    }
    Ok(())
}
