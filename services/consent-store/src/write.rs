//! One write, applied inside a transaction (a savepoint of a group-commit
//! batch). Every write first takes its tenant's head row, which serialises the
//! tenant's writers until commit: revisions commit in order, and the reads a
//! write makes (idempotency, current state, identities) cannot race another
//! writer of the same tenant, on any replica.

use std::collections::HashMap;

use consent_core::subject::subject_id_for;
use consent_core::{
    ConsentError, ConsentRecord, EventKind, Identity, RecordConsent, Revision, SubjectRef, TenantId,
    Timestamp, UpdateConsent, WriteCommand, WriteOutcome,
};
use sea_orm::sea_query::{Expr, ExprTrait, OnConflict, Query};
use sea_orm::{
    ActiveValue, ColumnTrait, ConnectionTrait, EntityTrait, IntoActiveModel, QueryFilter, QueryOrder,
};
use uuid::Uuid;

use crate::convert::{from_rows, identities_from_json, identities_to_json, to_row};
use crate::entity::{consent_record, consent_state, idempotency_key, identity, tenant_head};
use crate::error::db_error;
use crate::read;

/// What applying a write did.
#[derive(Debug)]
pub(crate) enum Applied {
    /// The write was performed; commit it.
    Written(WriteOutcome),
    /// The idempotency key was seen before: the original outcome, nothing to
    /// commit.
    Replayed(WriteOutcome),
}

pub(crate) async fn apply<C: ConnectionTrait>(
    db: &C,
    tenant: &TenantId,
    command: &WriteCommand,
    now: Timestamp,
) -> Result<Applied, ConsentError> {
    let count = match command {
        WriteCommand::Record(cmd) => cmd.decisions.len(),
        WriteCommand::Update(_) => 1,
        WriteCommand::RecordAll(cmds) => cmds.iter().map(|cmd| cmd.decisions.len()).sum(),
    };
    let head = advance_head(db, tenant, count).await?;
    if let Some(outcome) = replay(db, tenant, command).await? {
        return Ok(Applied::Replayed(outcome));
    }
    let first_revision = head - i64::try_from(count).unwrap_or(i64::MAX) + 1;
    let outcome = match command {
        WriteCommand::Record(cmd) => record(db, tenant, cmd, first_revision, now).await?,
        WriteCommand::Update(cmd) => update(db, tenant, cmd, first_revision, now).await?,
        WriteCommand::RecordAll(cmds) => record_all(db, tenant, cmds, first_revision, now).await?,
    };
    remember(db, tenant, command, &outcome, now).await?;
    Ok(Applied::Written(outcome))
}

/// Takes `count` revisions from the tenant's counter and returns the new head.
/// The upsert locks the row until the transaction ends.
async fn advance_head<C: ConnectionTrait>(
    db: &C,
    tenant: &TenantId,
    count: usize,
) -> Result<Revision, ConsentError> {
    let count = i64::try_from(count).unwrap_or(i64::MAX);
    let statement = Query::insert()
        .into_table(tenant_head::Entity)
        .columns([tenant_head::Column::Tenant, tenant_head::Column::Head])
        .values_panic([tenant.as_str().into(), count.into()])
        .on_conflict(
            OnConflict::column(tenant_head::Column::Tenant)
                .value(
                    tenant_head::Column::Head,
                    Expr::col((tenant_head::Entity, tenant_head::Column::Head)).add(count),
                )
                .to_owned(),
        )
        .returning_col(tenant_head::Column::Head)
        .to_owned();
    let row = db
        .query_one(&statement)
        .await
        .map_err(db_error)?
        .ok_or_else(|| ConsentError::Internal("head upsert returned no row".to_owned()))?;
    row.try_get::<i64>("", "head").map_err(db_error)
}

async fn replay<C: ConnectionTrait>(
    db: &C,
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
    Ok(Some(WriteOutcome {
        subject_id: Uuid::parse_str(&seen.subject_id).map_err(|_| corrupt())?,
        records: from_rows(rows)?,
        revision: seen.last_revision,
        conflicting_identities: identities_from_json(&seen.conflicts).map_err(|_| corrupt())?,
    }))
}

async fn remember<C: ConnectionTrait>(
    db: &C,
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
    let row = idempotency_key::Model {
        tenant: tenant.as_str().to_owned(),
        key: key.to_owned(),
        digest: command.digest(),
        subject_id: outcome.subject_id.to_string(),
        first_revision,
        last_revision: outcome.revision,
        conflicts: identities_to_json(&outcome.conflicting_identities),
        created_at: now.as_micros(),
    };
    idempotency_key::Entity::insert(row.into_active_model()).exec(db).await.map_err(db_error)?;
    Ok(())
}

async fn record<C: ConnectionTrait>(
    db: &C,
    tenant: &TenantId,
    cmd: &RecordConsent,
    first_revision: Revision,
    now: Timestamp,
) -> Result<WriteOutcome, ConsentError> {
    let linked = linked_subjects(db, tenant, &cmd.identities).await?;
    // The subject of the first already-known identity; else a new subject whose
    // id derives from the first identity (DESIGN §3).
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
    let new_links: Vec<identity::ActiveModel> = cmd
        .identities
        .iter()
        .filter(|i| !linked.contains_key(*i))
        .map(|i| {
            identity::Model {
                tenant: tenant.as_str().to_owned(),
                namespace: i.namespace.clone(),
                value: i.value.clone(),
                subject_id: subject_id.to_string(),
                linked_revision: first_revision,
            }
            .into_active_model()
        })
        .collect();
    if !new_links.is_empty() {
        identity::Entity::insert_many(new_links).exec(db).await.map_err(db_error)?;
    }

    let collected_at = collected_at_or_now(cmd.collected_at, now);
    let records: Vec<ConsentRecord> = cmd
        .decisions
        .iter()
        .zip(first_revision..)
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
        })
        .collect();
    insert_records(db, &records).await?;
    let revision = records.last().map_or(first_revision, |r| r.revision);
    Ok(WriteOutcome { subject_id, records, revision, conflicting_identities })
}

/// Several record requests in one savepoint, revisions running on.
async fn record_all<C: ConnectionTrait>(
    db: &C,
    tenant: &TenantId,
    cmds: &[RecordConsent],
    first_revision: Revision,
    now: Timestamp,
) -> Result<WriteOutcome, ConsentError> {
    let mut merged: Option<WriteOutcome> = None;
    let mut next = first_revision;
    for cmd in cmds {
        let outcome = record(db, tenant, cmd, next, now).await?;
        next = outcome.revision + 1;
        match merged.as_mut() {
            None => merged = Some(outcome),
            Some(all) => {
                all.records.extend(outcome.records);
                all.conflicting_identities.extend(outcome.conflicting_identities);
                all.revision = outcome.revision;
            }
        }
    }
    merged.ok_or_else(|| ConsentError::invalid("records", "at least one record is required"))
}

async fn update<C: ConnectionTrait>(
    db: &C,
    tenant: &TenantId,
    cmd: &UpdateConsent,
    revision: Revision,
    now: Timestamp,
) -> Result<WriteOutcome, ConsentError> {
    let not_found =
        || ConsentError::NotFound("no consent exists for this subject, purpose and target".to_owned());
    let subject_id = match &cmd.subject {
        SubjectRef::Id(id) => *id,
        SubjectRef::Identity(identity) => {
            read::subject_of(db, tenant, identity).await?.ok_or_else(not_found)?
        }
    };
    let current = read::current_record(db, tenant, subject_id, &cmd.purpose, &cmd.target)
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
    };
    insert_records(db, std::slice::from_ref(&record)).await?;
    Ok(WriteOutcome { subject_id, records: vec![record], revision, conflicting_identities: Vec::new() })
}

/// When the decision was made: the client's time, but never later than the
/// server received it. Validation allows a few minutes of client clock skew;
/// a decision stamped in the future would otherwise outrank, until that
/// future arrives, a withdrawal made right after it.
fn collected_at_or_now(collected_at: Option<Timestamp>, now: Timestamp) -> Timestamp {
    collected_at.map_or(now, |at| at.min(now))
}

/// The subjects already linked to any of `identities`.
async fn linked_subjects<C: ConnectionTrait>(
    db: &C,
    tenant: &TenantId,
    identities: &[Identity],
) -> Result<HashMap<Identity, Uuid>, ConsentError> {
    let mut linked = HashMap::new();
    for wanted in identities {
        if let Some(subject_id) = read::subject_of(db, tenant, wanted).await? {
            linked.insert(wanted.clone(), subject_id);
        }
    }
    Ok(linked)
}

/// Appends records to the log and moves the current state of each key to the
/// record unless the state already holds a later decision (by collected_at;
/// on a tie the new record wins, having the higher revision).
async fn insert_records<C: ConnectionTrait>(db: &C, records: &[ConsentRecord]) -> Result<(), ConsentError> {
    let rows: Vec<consent_record::ActiveModel> =
        records.iter().map(|r| to_row(r).into_active_model()).collect();
    consent_record::Entity::insert_many(rows).exec(db).await.map_err(db_error)?;
    for record in records {
        let key = (
            record.tenant.as_str().to_owned(),
            record.subject_id.to_string(),
            record.purpose.clone(),
            record.target.clone(),
        );
        let current = consent_state::Entity::find_by_id(key).one(db).await.map_err(db_error)?;
        let state = consent_state::ActiveModel {
            tenant: ActiveValue::Set(record.tenant.as_str().to_owned()),
            subject_id: ActiveValue::Set(record.subject_id.to_string()),
            purpose: ActiveValue::Set(record.purpose.clone()),
            target: ActiveValue::Set(record.target.clone()),
            record_id: ActiveValue::Set(record.id.to_string()),
            revision: ActiveValue::Set(record.revision),
            collected_at: ActiveValue::Set(record.collected_at.as_micros()),
        };
        match current {
            None => {
                consent_state::Entity::insert(state).exec(db).await.map_err(db_error)?;
            }
            Some(existing) if existing.collected_at <= record.collected_at.as_micros() => {
                consent_state::Entity::update(state).exec(db).await.map_err(db_error)?;
            }
            Some(_) => {}
        }
    }
    Ok(())
}
