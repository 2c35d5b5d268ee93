//! The SQL that mirrors the rules of `consent_core::check` (the reference:
//! docs/semantics.md#the-check-rule). Each function here answers from
//! indexes what its counterpart there computes from a subject's records;
//! `tests/it/check_rule.rs` compares them on random histories, on both
//! backends. Change a rule there, and its mirror here, together.

use consent_core::{
    ConsentError, ConsentRecord, CurrentChecks, EventKind, SubjectRef, TargetCheck, TenantId, Timestamp,
};
use consent_vault::Vault;
use sea_orm::sea_query::{Alias, Expr, ExprTrait, SimpleExpr};
use sea_orm::{ColumnTrait, ConnectionTrait, DatabaseConnection, EntityTrait, QueryFilter, QueryOrder};
use uuid::Uuid;

use crate::convert::open_row;
use crate::entity::{consent_record, consent_state};
use crate::error::db_error;
use crate::read;

/// When an upserted current-state row replaces the one there
/// ([`consent_core::check::recency`]: a later `collected_at`, or the same with the new
/// row's higher revision): the `WHERE` of the upsert's `DO UPDATE`.
pub(crate) const STATE_REPLACED_WHEN: &str = "consent_state.collected_at <= excluded.collected_at";

/// [`STATE_REPLACED_WHEN`] as an expression, for statements built by
/// sea-query.
pub(crate) fn state_replaced_when() -> SimpleExpr {
    Expr::col((consent_state::Entity, consent_state::Column::CollectedAt))
        .lte(Expr::col((Alias::new("excluded"), consent_state::Column::CollectedAt)))
}

/// [`consent_core::check::deciding_record`], read through indexes:
/// from the current state (at most four rows apply), or from history up to
/// `as_of`.
pub(crate) async fn deciding_record<C: ConnectionTrait>(
    db: &C,
    vault: &Vault,
    tenant: &TenantId,
    subject_id: Uuid,
    purpose: &str,
    target: &str,
    as_of: Option<Timestamp>,
) -> Result<Option<ConsentRecord>, ConsentError> {
    let Some(at) = as_of else {
        let deciding = consent_state::Entity::find()
            .filter(consent_state::Column::Tenant.eq(tenant.as_str()))
            .filter(consent_state::Column::SubjectId.eq(subject_id.to_string()))
            .filter(consent_state::Column::Purpose.is_in([purpose, ""]))
            .filter(consent_state::Column::Target.is_in([target, ""]))
            .order_by_desc(consent_state::Column::CollectedAt)
            .order_by_desc(consent_state::Column::Revision)
            .one(db)
            .await
            .map_err(db_error)?;
        return match deciding {
            Some(state) => read::record_row(db, vault, state.record_id).await,
            None => Ok(None),
        };
    };
    let row = consent_record::Entity::find()
        .filter(consent_record::Column::Tenant.eq(tenant.as_str()))
        .filter(consent_record::Column::SubjectId.eq(subject_id.to_string()))
        .filter(consent_record::Column::Purpose.is_in([purpose, ""]))
        .filter(consent_record::Column::Target.is_in([target, ""]))
        .filter(consent_record::Column::CollectedAt.lte(at.as_micros()))
        // An erasure's announcement decides nothing (check::applies_to).
        .filter(consent_record::Column::Kind.ne(EventKind::Erased.as_str()))
        .order_by_desc(consent_record::Column::CollectedAt)
        .order_by_desc(consent_record::Column::Revision)
        .one(db)
        .await
        .map_err(db_error)?;
    open_row(db, vault, row).await
}

/// [`consent_core::check::deciding_for_target`] among the current records, read through
/// the current state's (tenant, subject) key.
pub(crate) async fn latest_for_target<C: ConnectionTrait>(
    db: &C,
    vault: &Vault,
    tenant: &TenantId,
    subject_id: Uuid,
    target: &str,
    include_any_target: bool,
) -> Result<Option<ConsentRecord>, ConsentError> {
    let targets = if include_any_target { vec![target, ""] } else { vec![target] };
    let latest = consent_state::Entity::find()
        .filter(consent_state::Column::Tenant.eq(tenant.as_str()))
        .filter(consent_state::Column::SubjectId.eq(subject_id.to_string()))
        .filter(consent_state::Column::Target.is_in(targets))
        .order_by_desc(consent_state::Column::CollectedAt)
        .order_by_desc(consent_state::Column::Revision)
        .one(db)
        .await
        .map_err(db_error)?;
    match latest {
        Some(state) => read::record_row(db, vault, state.record_id).await,
        None => Ok(None),
    }
}

/// A subject's deciding records for several `(purpose, target)` pairs, in
/// order, on one database.
pub(crate) async fn deciding_records<C: ConnectionTrait>(
    db: &C,
    vault: &Vault,
    tenant: &TenantId,
    subject_id: Uuid,
    pairs: &[(&str, &str)],
    as_of: Option<Timestamp>,
) -> Result<Vec<Option<ConsentRecord>>, ConsentError> {
    let mut records = Vec::with_capacity(pairs.len());
    for (purpose, target) in pairs {
        records.push(deciding_record(db, vault, tenant, subject_id, purpose, target, as_of).await?);
    }
    Ok(records)
}

/// [`check_many`] of several pairs in one snapshot of `db`, so no write
/// commits between two of its answers (docs/semantics.md: a batch never
/// mixes the state before a write with the state after it). One pair needs
/// no transaction: its head is read first, so its revision is never ahead
/// of what its record was read from.
pub(crate) async fn check_many_at_once(
    db: &DatabaseConnection,
    vault: &Vault,
    tenant: &TenantId,
    subject: &SubjectRef,
    pairs: &[(&str, &str)],
    at: Option<Timestamp>,
) -> Result<CurrentChecks, ConsentError> {
    if pairs.len() < 2 {
        return check_many(db, vault, tenant, subject, pairs, at).await;
    }
    let txn = read::snapshot(db).await?;
    let checks = check_many(&txn, vault, tenant, subject, pairs, at).await;
    read::end(txn, checks).await
}

/// [`deciding_records`] of several pairs in one snapshot of `db`, as
/// [`check_many_at_once`].
pub(crate) async fn deciding_records_at_once(
    db: &DatabaseConnection,
    vault: &Vault,
    tenant: &TenantId,
    subject_id: Uuid,
    pairs: &[(&str, &str)],
) -> Result<Vec<Option<ConsentRecord>>, ConsentError> {
    if pairs.len() < 2 {
        return deciding_records(db, vault, tenant, subject_id, pairs, None).await;
    }
    let txn = read::snapshot(db).await?;
    let records = deciding_records(&txn, vault, tenant, subject_id, pairs, None).await;
    read::end(txn, records).await
}

/// The checks of `pairs` for the subject `subject` names, with the head
/// revision, on one database: the subject is resolved once.
pub(crate) async fn check_many<C: ConnectionTrait>(
    db: &C,
    vault: &Vault,
    tenant: &TenantId,
    subject: &SubjectRef,
    pairs: &[(&str, &str)],
    at: Option<Timestamp>,
) -> Result<CurrentChecks, ConsentError> {
    let revision = read::head_revision(db, tenant).await?;
    let records = match read::subject_named(db, vault, tenant, subject).await? {
        Some(subject_id) => deciding_records(db, vault, tenant, subject_id, pairs, at).await?,
        None => vec![None; pairs.len()],
    };
    Ok(CurrentChecks { revision, records })
}

/// The target-only rule's deciding record of a subject and when its purpose
/// and target were first collected, on one database.
pub(crate) async fn target_decision<C: ConnectionTrait>(
    db: &C,
    vault: &Vault,
    tenant: &TenantId,
    subject_id: Uuid,
    target: &str,
    include_any_target: bool,
) -> Result<Option<(ConsentRecord, Timestamp)>, ConsentError> {
    let Some(record) = latest_for_target(db, vault, tenant, subject_id, target, include_any_target).await?
    else {
        return Ok(None);
    };
    let first = read::first_collected(db, tenant, &[subject_id])
        .await?
        .into_iter()
        .find(|first| first.purpose == record.purpose && first.target == record.target)
        .map_or(record.collected_at, |first| first.at);
    Ok(Some((record, first)))
}

/// A whole check of one target on one database, as [`check`] is.
pub(crate) async fn check_target<C: ConnectionTrait>(
    db: &C,
    vault: &Vault,
    tenant: &TenantId,
    subject: &SubjectRef,
    target: &str,
    include_any_target: bool,
) -> Result<TargetCheck, ConsentError> {
    let revision = read::head_revision(db, tenant).await?;
    let subject_id = read::subject_named(db, vault, tenant, subject).await?;
    let deciding = match subject_id {
        Some(subject_id) => {
            target_decision(db, vault, tenant, subject_id, target, include_any_target).await?
        }
        None => None,
    };
    Ok(TargetCheck { revision, deciding })
}
