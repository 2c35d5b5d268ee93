//! One write, applied inside a transaction (a savepoint of a group-commit
//! batch). Every write first takes its tenant's head row, which serialises the
//! tenant's writers until commit: revisions commit in order, and the reads a
//! write makes (idempotency, current state, identities) cannot race another
//! writer of the same tenant, on any replica.

use std::collections::{BTreeMap, HashMap};

use consent_core::subject::subject_id_for;
use consent_core::{
    ConsentError, ConsentRecord, EventKind, Identity, RecordConsent, Revision, TenantId, Timestamp,
    UpdateConsent, WriteCommand, WriteOutcome,
};
use consent_vault::is_sealed;
use sea_orm::{
    ColumnTrait, ConnectionTrait, DbBackend, EntityTrait, IntoActiveModel, QueryFilter, QueryOrder, Statement,
};
use uuid::Uuid;

use crate::convert::{identities_from_json, identities_to_json, open_rows, to_row};
use crate::dialect::Dialect;
use crate::entity::{consent_record, consent_state, idempotency_key, identity, subject_key};
use crate::error::db_error;
use crate::head::advance_head;
use crate::keys::{Keys, Sealing, key_rows_by_chunk, keys_of, new_key, unwrap_key, vault_error};
use crate::new_keys::keys_for_writing;
use crate::{bulk, read};

/// What applying a write did.
#[derive(Debug)]
pub(crate) enum Applied {
    /// The write was performed; commit it.
    Written(WriteOutcome),
    /// The idempotency key was seen before: the original outcome, nothing to
    /// commit.
    Replayed(WriteOutcome),
}

/// How many revisions (records) a write takes.
pub(crate) fn revisions_needed(command: &WriteCommand) -> usize {
    match command {
        WriteCommand::Record(cmd) => cmd.decisions.len(),
        WriteCommand::Update(_) | WriteCommand::Erase(_) => 1,
        WriteCommand::RecordAll(cmds) => cmds.iter().map(|cmd| cmd.decisions.len()).sum(),
        // Known only under the tenant's lock: it takes them itself, last in
        // its batch (see `group_commit::prepare`).
        WriteCommand::Expire(_) | WriteCommand::Retain(_) => 0,
    }
}

/// Applies one write: takes its revisions from the tenant's head, then
/// writes (see [`apply_at`]).
pub(crate) async fn apply<C: ConnectionTrait>(
    db: &C,
    vault: &Sealing,
    tenant: &TenantId,
    command: &WriteCommand,
    now: Timestamp,
) -> Result<Applied, ConsentError> {
    let count = revisions_needed(command);
    let head = advance_head(db, tenant, count).await?;
    let first_revision = head - i64::try_from(count).unwrap_or(i64::MAX) + 1;
    apply_at(db, vault, tenant, command, first_revision, now).await
}

/// Applies one write whose revisions, from `first_revision` on, the caller
/// already took from the tenant's head (holding its lock until commit).
pub(crate) async fn apply_at<C: ConnectionTrait>(
    db: &C,
    vault: &Sealing,
    tenant: &TenantId,
    command: &WriteCommand,
    first_revision: Revision,
    now: Timestamp,
) -> Result<Applied, ConsentError> {
    if let Some(outcome) = replay(db, vault, tenant, command).await? {
        return Ok(Applied::Replayed(outcome));
    }
    let outcome = match command {
        WriteCommand::Record(cmd) => record(db, vault, tenant, cmd, first_revision, now).await?,
        WriteCommand::Update(cmd) => update(db, vault, tenant, cmd, first_revision, now).await?,
        WriteCommand::RecordAll(cmds) => record_all(db, vault, tenant, cmds, first_revision, now).await?,
        WriteCommand::Expire(cmd) => {
            crate::expiry::expire_due(db, vault, tenant, cmd, first_revision, now).await?
        }
        WriteCommand::Erase(cmd) => crate::erase::erase(db, vault, tenant, cmd, first_revision, now).await?,
        WriteCommand::Retain(cmd) => crate::retention::retain(db, vault, tenant, cmd, first_revision).await?,
    };
    remember(db, vault, tenant, command, &outcome, now).await?;
    Ok(Applied::Written(outcome))
}

async fn replay<C: ConnectionTrait>(
    db: &C,
    vault: &Sealing,
    tenant: &TenantId,
    command: &WriteCommand,
) -> Result<Option<WriteOutcome>, ConsentError> {
    let key = command.idempotency_key();
    if key.is_empty() {
        return Ok(None);
    }
    let Some(seen) = idempotency_key::Entity::find_by_id((tenant.as_str().to_owned(), key.to_owned()))
        .one(db)
        .await
        .map_err(db_error)?
    else {
        return Ok(None);
    };
    if seen.digest != command.digest() {
        return Err(ConsentError::invalid("idempotency_key", "was already used for a different request"));
    }
    let rows = consent_record::Entity::find()
        .filter(consent_record::Column::Tenant.eq(tenant.as_str()))
        .filter(consent_record::Column::Revision.between(seen.first_revision, seen.last_revision))
        .order_by_asc(consent_record::Column::Revision)
        .all(db)
        .await
        .map_err(db_error)?;
    let corrupt = || ConsentError::Internal(format!("idempotency key {key} has a bad stored outcome"));
    let subject_id = Uuid::parse_str(&seen.subject_id).map_err(|_| corrupt())?;
    let conflicts = if is_sealed(&seen.conflicts) {
        // Unopenable once the subject is erased: its conflicts went with it.
        let keys = keys_of(db, vault, tenant, [subject_id]).await?;
        keys.get(&subject_id)
            .and_then(|subject_key| subject_key.open(&conflicts_context(key), &seen.conflicts).ok())
            .unwrap_or_default()
    } else {
        seen.conflicts
    };
    Ok(Some(WriteOutcome {
        subject_id,
        records: open_rows(db, vault, rows).await?,
        revision: seen.last_revision,
        conflicting_identities: identities_from_json(&conflicts).map_err(|_| corrupt())?,
    }))
}

async fn remember<C: ConnectionTrait>(
    db: &C,
    vault: &Sealing,
    tenant: &TenantId,
    command: &WriteCommand,
    outcome: &WriteOutcome,
    now: Timestamp,
) -> Result<(), ConsentError> {
    let key = command.idempotency_key();
    if key.is_empty() {
        return Ok(());
    }
    let first_revision = outcome.records.first().map_or(outcome.revision, |r| r.revision);
    // Identities of other subjects, kept under this subject's key.
    let conflicts = if outcome.conflicting_identities.is_empty() {
        "[]".to_owned()
    } else {
        let keys = keys_for_writing(db, vault, tenant, [outcome.subject_id]).await?;
        let subject_key = keys.get(&outcome.subject_id).ok_or_else(|| {
            ConsentError::Internal(format!("subject {} has no data key", outcome.subject_id))
        })?;
        subject_key
            .seal(&conflicts_context(key), &identities_to_json(&outcome.conflicting_identities))
            .map_err(vault_error)?
    };
    let row = idempotency_key::Model {
        tenant: tenant.as_str().to_owned(),
        key: key.to_owned(),
        digest: command.digest(),
        subject_id: outcome.subject_id.to_string(),
        first_revision,
        last_revision: outcome.revision,
        conflicts,
        created_at: now.as_micros(),
    };
    idempotency_key::Entity::insert(row.into_active_model()).exec(db).await.map_err(db_error)?;
    Ok(())
}

async fn record<C: ConnectionTrait>(
    db: &C,
    vault: &Sealing,
    tenant: &TenantId,
    cmd: &RecordConsent,
    first_revision: Revision,
    now: Timestamp,
) -> Result<WriteOutcome, ConsentError> {
    let mut outcomes =
        record_together(db, vault, tenant, std::slice::from_ref(&cmd), first_revision, now).await?;
    outcomes.pop().ok_or_else(|| ConsentError::Internal("a record write produced no outcome".to_owned()))
}

/// The record requests of a write that can join [`record_together`]:
/// plain records with no idempotency key to look up — one request, or a
/// vendor request naming several people.
pub(crate) fn plain_records(command: &WriteCommand) -> Option<&[RecordConsent]> {
    match command {
        WriteCommand::Record(cmd) if cmd.idempotency_key.is_empty() => Some(std::slice::from_ref(cmd)),
        WriteCommand::RecordAll(cmds) => Some(cmds),
        WriteCommand::Record(_)
        | WriteCommand::Update(_)
        | WriteCommand::Expire(_)
        | WriteCommand::Erase(_)
        | WriteCommand::Retain(_) => None,
    }
}

/// The outcome of a write of several record requests: every record in
/// order, every conflict, the last revision; the subject is the first
/// request's. `None` for no requests.
pub(crate) fn merged(outcomes: impl IntoIterator<Item = WriteOutcome>) -> Option<WriteOutcome> {
    outcomes.into_iter().reduce(|mut all, outcome| {
        all.records.extend(outcome.records);
        all.conflicting_identities.extend(outcome.conflicting_identities);
        all.revision = outcome.revision;
        all
    })
}

/// Record writes of one tenant, with revisions from `first_revision` on:
/// exactly what applying them one after another would do, in a fixed number
/// of statements however many there are — one lookup of every identity
/// named, then [`bulk::write`] of the new identity links, the records and
/// the current-state changes (one statement on PostgreSQL, three on SQLite).
pub(crate) async fn record_together<C: ConnectionTrait>(
    db: &C,
    vault: &Sealing,
    tenant: &TenantId,
    cmds: &[&RecordConsent],
    first_revision: Revision,
    now: Timestamp,
) -> Result<Vec<WriteOutcome>, ConsentError> {
    let named: Vec<&Identity> = cmds.iter().flat_map(|cmd| &cmd.identities).collect();
    let Linked { subjects: mut linked, wrapped } = linked_subjects(db, vault, tenant, &named).await?;
    let mut new_links = Vec::new();
    let mut records = Vec::new();
    let mut outcomes = Vec::with_capacity(cmds.len());
    let mut next = first_revision;
    for cmd in cmds {
        // The subject of the first already-known identity (known before this
        // write, or linked by an earlier write of the batch); else a new
        // subject whose id derives from the first identity (docs/semantics.md#subjects-and-identities).
        let subject_id = cmd
            .identities
            .iter()
            .find_map(|i| linked.get(i).copied())
            .unwrap_or_else(|| subject_id_for(tenant, &cmd.identities[0]));
        let conflicting_identities: Vec<Identity> = cmd
            .identities
            .iter()
            .filter(|i| linked.get(*i).is_some_and(|owner| *owner != subject_id))
            .cloned()
            .collect();
        for identity in &cmd.identities {
            if !linked.contains_key(identity) {
                linked.insert(identity.clone(), subject_id);
                new_links.push(identity::Model {
                    tenant: tenant.as_str().to_owned(),
                    namespace: identity.namespace.clone(),
                    value: vault.pseudonym(tenant.as_str(), &identity.namespace, &identity.value),
                    subject_id: subject_id.to_string(),
                    linked_revision: next,
                });
            }
        }
        let collected_at = collected_at_or_now(cmd.collected_at, now);
        let written: Vec<ConsentRecord> = cmd
            .decisions
            .iter()
            .zip(next..)
            .map(|(decision, revision)| ConsentRecord {
                id: Uuid::now_v7(),
                tenant: tenant.clone(),
                subject_id,
                identities: cmd.identities.clone(),
                purpose: decision.purpose.clone(),
                target: decision.target.clone(),
                decision: decision.decision,
                collected_at,
                expires_at: cmd.expires_at,
                recorded_at: now,
                source: cmd.source.clone(),
                evidence: cmd.evidence.clone(),
                revision,
                kind: EventKind::Recorded,
                implied_by: decision.implied_by,
                gpc_conflict: decision.gpc_conflict,
            })
            .collect();
        let revision = written.last().map_or(next, |r| r.revision);
        next = revision + 1;
        records.extend(written.iter().cloned());
        outcomes.push(WriteOutcome { subject_id, records: written, revision, conflicting_identities });
    }
    // The keys of the subjects written: those linked already came with
    // their links; the others (new subjects, and subjects written before
    // values were sealed) get one, stored with the records.
    let mut keys = Keys::new();
    let mut new_keys = Vec::new();
    for subject in records.iter().map(|record| record.subject_id) {
        if keys.contains_key(&subject) {
            continue;
        }
        let key = match wrapped.get(&subject) {
            Some(wrapped) => unwrap_key(vault, tenant, subject, wrapped)?,
            None => {
                let (key, row) = new_key(vault, tenant, subject)?;
                new_keys.push(row);
                key
            }
        };
        keys.insert(subject, key);
    }
    write_rows(db, vault, &keys, &new_keys, &new_links, &records).await?;
    Ok(outcomes)
}

/// Several record requests in one savepoint, revisions running on: the
/// same few statements as one request (see [`record_together`]).
async fn record_all<C: ConnectionTrait>(
    db: &C,
    vault: &Sealing,
    tenant: &TenantId,
    cmds: &[RecordConsent],
    first_revision: Revision,
    now: Timestamp,
) -> Result<WriteOutcome, ConsentError> {
    let cmds: Vec<&RecordConsent> = cmds.iter().collect();
    let outcomes = record_together(db, vault, tenant, &cmds, first_revision, now).await?;
    merged(outcomes).ok_or_else(|| ConsentError::invalid("records", "at least one record is required"))
}

async fn update<C: ConnectionTrait>(
    db: &C,
    vault: &Sealing,
    tenant: &TenantId,
    cmd: &UpdateConsent,
    revision: Revision,
    now: Timestamp,
) -> Result<WriteOutcome, ConsentError> {
    let not_found =
        || ConsentError::NotFound("no consent exists for this subject, purpose and target".to_owned());
    let subject_id = read::subject_named(db, vault, tenant, &cmd.subject).await?.ok_or_else(not_found)?;
    let current = read::current_record(db, vault, tenant, subject_id, &cmd.purpose, &cmd.target)
        .await?
        .ok_or_else(not_found)?;
    if let Some(expected) = cmd.expected_revision
        && expected != current.revision
    {
        return Err(ConsentError::FailedPrecondition {
            reason: "REVISION_MISMATCH",
            message: format!(
                "expected_revision {expected} does not match the current revision {}",
                current.revision
            ),
        });
    }
    let record = ConsentRecord {
        id: Uuid::now_v7(),
        tenant: tenant.clone(),
        subject_id,
        identities: current.identities,
        purpose: cmd.purpose.clone(),
        target: cmd.target.clone(),
        decision: cmd.decision,
        collected_at: collected_at_or_now(cmd.collected_at, now),
        expires_at: cmd.expires_at,
        recorded_at: now,
        source: if cmd.source.is_empty() { current.source } else { cmd.source.clone() },
        evidence: cmd.evidence.clone(),
        revision,
        kind: EventKind::Updated,
        implied_by: None,
        gpc_conflict: false,
    };
    let keys = keys_for_writing(db, vault, tenant, [subject_id]).await?;
    write_rows(db, vault, &keys, &[], &[], std::slice::from_ref(&record)).await?;
    Ok(WriteOutcome { subject_id, records: vec![record], revision, conflicting_identities: Vec::new() })
}

/// When the decision was made: the client's time, but never later than the
/// server received it. Validation allows a few minutes of client clock skew;
/// a decision stamped in the future would otherwise outrank, until that
/// future arrives, a withdrawal made right after it.
fn collected_at_or_now(collected_at: Option<Timestamp>, now: Timestamp) -> Timestamp {
    collected_at.map_or(now, |at| at.min(now))
}

/// The subjects already linked to any of `identities`, looked up by the
/// whole primary key (tenant, namespace, value) of each.
async fn linked_subjects<C: ConnectionTrait>(
    db: &C,
    vault: &Sealing,
    tenant: &TenantId,
    identities: &[&Identity],
) -> Result<Linked, ConsentError> {
    // Stored by pseudonym: looked up by it, and mapped back.
    let mut by_pseudonym: HashMap<(String, String), &Identity> = identities
        .iter()
        .map(|identity| {
            let pseudonym = vault.pseudonym(tenant.as_str(), &identity.namespace, &identity.value);
            ((identity.namespace.clone(), pseudonym), *identity)
        })
        .collect();
    let stored: Vec<Identity> =
        by_pseudonym.keys().map(|(namespace, pseudonym)| Identity::new(namespace, pseudonym)).collect();
    let mut wanted: Vec<&Identity> = stored.iter().collect();
    wanted.sort_unstable();
    let postgres = Dialect::of(db).rows_as_json();
    let rows = if postgres {
        linked_rows_postgres(db, tenant, &wanted).await?
    } else {
        linked_rows_by_namespace(db, tenant, &wanted).await?
    };
    let mut linked = Linked { subjects: HashMap::with_capacity(rows.len()), wrapped: HashMap::new() };
    for (namespace, value, subject_id, wrapped) in rows {
        let subject_id = Uuid::parse_str(&subject_id)
            .map_err(|_| ConsentError::Internal(format!("identity row has a bad subject id {subject_id}")))?;
        if let Some(identity) = by_pseudonym.remove(&(namespace, value)) {
            linked.subjects.insert(identity.clone(), subject_id);
        }
        if let Some(wrapped) = wrapped {
            linked.wrapped.insert(subject_id, wrapped);
        }
    }
    if !postgres {
        // PostgreSQL's lookup brought the keys along; here, one more read.
        let subjects: std::collections::BTreeSet<String> =
            linked.subjects.values().map(Uuid::to_string).collect();
        for (subject_id, wrapped) in key_rows_by_chunk(db, tenant, &subjects).await? {
            if let Ok(subject_id) = Uuid::parse_str(&subject_id) {
                linked.wrapped.insert(subject_id, wrapped);
            }
        }
    }
    Ok(linked)
}

/// The subjects already linked to identities, and the wrapped data keys of
/// those that have one.
struct Linked {
    subjects: HashMap<Identity, Uuid>,
    wrapped: HashMap<Uuid, String>,
}

/// (namespace, value, subject id, its wrapped key if PostgreSQL read it
/// along) of the identities linked already.
type LinkedRows = Vec<(String, String, String, Option<String>)>;

/// One query per namespace (and per [`bulk::ROWS_PER_STATEMENT`] values),
/// `namespace = ? AND value IN (…)`, which SQLite answers from the primary
/// key. (An OR of (namespace, value) pairs made it scan the table.)
async fn linked_rows_by_namespace<C: ConnectionTrait>(
    db: &C,
    tenant: &TenantId,
    wanted: &[&Identity],
) -> Result<LinkedRows, ConsentError> {
    use identity::Column;

    let mut by_namespace: BTreeMap<&str, Vec<&str>> = BTreeMap::new();
    for identity in wanted {
        by_namespace.entry(identity.namespace.as_str()).or_default().push(identity.value.as_str());
    }
    let mut linked = Vec::new();
    for (namespace, values) in by_namespace {
        for chunk in values.chunks(bulk::ROWS_PER_STATEMENT) {
            let rows = identity::Entity::find()
                .filter(Column::Tenant.eq(tenant.as_str()))
                .filter(Column::Namespace.eq(namespace))
                .filter(Column::Value.is_in(chunk.iter().copied()))
                .all(db)
                .await
                .map_err(db_error)?;
            linked.extend(rows.into_iter().map(|row| (row.namespace, row.value, row.subject_id, None)));
        }
    }
    Ok(linked)
}

/// PostgreSQL: one statement of fixed text for any number of identities,
/// each looked up by its whole key. The `IN (…)` form is planned from the
/// table's statistics, and until the first ANALYZE of a growing table they
/// say one row per (tenant, namespace): the plan then filters every link of
/// the namespace (measured: 2–3 ms a batch at 20,000 links, growing with the
/// table). The lateral subquery with `LIMIT 1` cannot be flattened, so each
/// wanted identity is one index probe whatever the statistics say.
async fn linked_rows_postgres<C: ConnectionTrait>(
    db: &C,
    tenant: &TenantId,
    wanted: &[&Identity],
) -> Result<LinkedRows, ConsentError> {
    // The subject's wrapped key comes along (a primary-key probe each): a
    // write needs it, and a statement of its own would cost a round trip.
    const LOOKUP: &str = "SELECT linked.namespace, linked.value, linked.subject_id, k.wrapped \
        FROM jsonb_to_recordset($2::jsonb) AS wanted(namespace text, value text) \
        CROSS JOIN LATERAL (SELECT namespace, value, subject_id FROM identities \
        WHERE tenant = $1 AND namespace = wanted.namespace AND value = wanted.value LIMIT 1) AS linked \
        LEFT JOIN subject_keys k ON k.tenant = $1 AND k.subject_id = linked.subject_id";
    let wanted = serde_json::to_string(wanted)
        .map_err(|err| ConsentError::Internal(format!("identities do not serialise: {err}")))?;
    let statement =
        Statement::from_sql_and_values(DbBackend::Postgres, LOOKUP, [tenant.as_str().into(), wanted.into()]);
    let rows = db.query_all_raw(statement).await.map_err(db_error)?;
    rows.iter()
        .map(|row| {
            Ok((
                row.try_get::<String>("", "namespace").map_err(db_error)?,
                row.try_get::<String>("", "value").map_err(db_error)?,
                row.try_get::<String>("", "subject_id").map_err(db_error)?,
                row.try_get::<Option<String>>("", "wrapped").map_err(db_error)?,
            ))
        })
        .collect()
}

/// Writes new data keys and identity links, appends `records` (their
/// values sealed with `keys`) and moves the current state of their keys
/// (see [`state_changes`]).
async fn write_rows<C: ConnectionTrait>(
    db: &C,
    vault: &Sealing,
    keys: &Keys,
    new_keys: &[subject_key::Model],
    links: &[identity::Model],
    records: &[ConsentRecord],
) -> Result<(), ConsentError> {
    let rows: Vec<consent_record::Model> =
        records.iter().map(|record| to_row(record, vault, keys)).collect::<Result<_, _>>()?;
    bulk::write(db, new_keys, links, &rows, &state_changes(records)).await
}

/// The current-state rows `records` leave behind: for each key, the latest
/// of them by collected_at (on a tie the later revision), as applying them
/// one by one would. One row per key ([`bulk::write`] upserts each once).
fn state_changes(records: &[ConsentRecord]) -> Vec<consent_state::Model> {
    let mut latest: BTreeMap<(&str, Uuid, &str, &str), &ConsentRecord> = BTreeMap::new();
    for record in records {
        let key =
            (record.tenant.as_str(), record.subject_id, record.purpose.as_str(), record.target.as_str());
        let entry = latest.entry(key).or_insert(record);
        if consent_core::check::recency(record, entry).is_ge() {
            *entry = record;
        }
    }
    latest
        .into_values()
        .map(|record| consent_state::Model {
            tenant: record.tenant.as_str().to_owned(),
            subject_id: record.subject_id.to_string(),
            purpose: record.purpose.clone(),
            target: record.target.clone(),
            record_id: record.id.to_string(),
            revision: record.revision,
            collected_at: record.collected_at.as_micros(),
            expires_at: record.expires_at.map(Timestamp::as_micros),
            expired: false,
        })
        .collect()
}

/// What a write's sealed conflicts are bound to: its idempotency key.
fn conflicts_context(key: &str) -> String {
    format!("idempotency/{key}/conflicts")
}
