//! Erasure that keeps the proof (docs/evidence.md#erasure).
//!
//! Under the tenant's write lock, in the write's transaction: each of the
//! subject's records keeps what its log leaf needs — the commitments of its
//! identifying values, and the subject it was filed under — loses those
//! values, and is filed under the nil subject; the subject's identity links,
//! current state, data key and commitment salt are deleted; an `erased`
//! record announces it. Every leaf, so every proof and receipt issued
//! before, stays the same; nothing left opens or links back to the values.

use consent_core::{
    ConsentError, ConsentRecord, Decision, EraseSubject, EventKind, Evidence, Revision, TenantId, Timestamp,
    WriteOutcome,
};
use consent_evidence::Commitments;
use sea_orm::sea_query::Expr;
use sea_orm::{ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter, Statement};
use uuid::Uuid;

use crate::convert::{Opening, Removed, commitment_salt, from_row, keys_for_rows, row_key, to_row};
use crate::entity::{consent_record, legal_hold};
use crate::error::db_error;
use crate::keys::{Keys, Sealing};
use crate::{bulk, evidence, read};

/// Why a record's values went, as `removed` says.
pub(crate) const ERASED: &str = "erased";

/// The `source` of the record announcing an erasure.
pub(crate) const ERASURE_SOURCE: &str = "consentd.erase";

pub(crate) async fn erase<C: ConnectionTrait>(
    db: &C,
    vault: &Sealing,
    tenant: &TenantId,
    cmd: &EraseSubject,
    revision: Revision,
    now: Timestamp,
) -> Result<WriteOutcome, ConsentError> {
    let subject_id = read::subject_named(db, vault, tenant, &cmd.subject)
        .await?
        .ok_or_else(|| ConsentError::NotFound("no subject has this identity".to_owned()))?;
    let subject = subject_id.to_string();
    if legal_hold::Entity::find_by_id((tenant.as_str().to_owned(), subject.clone()))
        .one(db)
        .await
        .map_err(db_error)?
        .is_some()
    {
        return Err(ConsentError::FailedPrecondition {
            reason: "LEGAL_HOLD",
            message: format!("subject {subject} is on legal hold: release the hold before erasing it"),
        });
    }
    let rows = consent_record::Entity::find()
        .filter(consent_record::Column::Tenant.eq(tenant.as_str()))
        .filter(consent_record::Column::SubjectId.eq(subject.as_str()))
        .filter(consent_record::Column::Kind.ne(EventKind::Erased.as_str()))
        .all(db)
        .await
        .map_err(db_error)?;
    if rows.is_empty() {
        return Err(ConsentError::NotFound(format!("subject {subject} has no records to erase")));
    }
    let keys = keys_for_rows(db, vault, &rows).await?;
    // The salt the log commits under: a subject without a data key (its
    // records written before values were sealed) has a stored one, made here
    // if the log has not reached it yet — the way the builder makes it, so
    // a builder appending meanwhile commits under the same one.
    let keyed = !crate::keys::keys_of(db, vault, tenant, [subject_id]).await?.is_empty();
    let stored_salt = if keyed {
        evidence::subject_salt(db, tenant, subject_id).await?
    } else {
        evidence::salts_for(db, tenant, [subject.clone()].into()).await?.get(&subject).copied()
    };
    for row in rows {
        let removed = match Removed::parse(&row)? {
            // Removed by retention already: only the reason and the filing change.
            Some(removed) => Removed { reason: ERASED.to_owned(), ..removed },
            None => {
                let key = row_key(&keys, &row);
                let salt = commitment_salt(&row, stored_salt, key).ok_or_else(|| {
                    ConsentError::Internal(format!("subject {subject} has neither a data key nor a salt"))
                })?;
                let record = from_row(row.clone(), key, Opening::Strict)?;
                Removed {
                    reason: ERASED.to_owned(),
                    subject_id: subject.clone(),
                    commitments: Commitments::of(&record, &salt),
                }
            }
        };
        strip(db, &row.id, Uuid::nil(), &removed).await?;
    }
    forget_subject(db, tenant, &subject).await?;
    let announcement = ConsentRecord {
        id: Uuid::now_v7(),
        tenant: tenant.clone(),
        subject_id,
        identities: Vec::new(),
        purpose: String::new(),
        target: String::new(),
        decision: Decision::Denied,
        collected_at: now,
        expires_at: None,
        recorded_at: now,
        source: ERASURE_SOURCE.to_owned(),
        evidence: Evidence::default(),
        revision,
        kind: EventKind::Erased,
        implied_by: None,
        gpc_conflict: false,
    };
    // It holds nothing to seal: no key needed.
    bulk::write(db, &[], &[], &[to_row(&announcement, vault, &Keys::new())?], &[]).await?;
    Ok(WriteOutcome { subject_id, records: vec![announcement], revision, conflicting_identities: Vec::new() })
}

/// Empties a record's identifying values, keeping `removed`, and files it
/// under `subject_id`.
pub(crate) async fn strip<C: ConnectionTrait>(
    db: &C,
    record_id: &str,
    subject_id: Uuid,
    removed: &Removed,
) -> Result<(), ConsentError> {
    use consent_record::Column;

    let mut update = consent_record::Entity::update_many()
        .col_expr(Column::SubjectId, Expr::value(subject_id.to_string()))
        .col_expr(Column::Identities, Expr::value("[]"))
        .col_expr(Column::Removed, Expr::value(removed.to_json()));
    for column in [
        Column::UserAgent,
        Column::Ip,
        Column::ProxyIp,
        Column::Uri,
        Column::Message,
        Column::MetadataJson,
        Column::ConsentId,
    ] {
        update = update.col_expr(column, Expr::value(""));
    }
    update.filter(Column::Id.eq(record_id)).exec(db).await.map_err(db_error)?;
    Ok(())
}

/// Deletes what links to or opens the subject: its identity links, current
/// state, data key and salt; its writes' stored conflicts.
async fn forget_subject<C: ConnectionTrait>(
    db: &C,
    tenant: &TenantId,
    subject: &str,
) -> Result<(), ConsentError> {
    let backend = db.get_database_backend();
    let by_subject = [tenant.as_str().into(), subject.into()];
    for table in ["identities", "consent_state", "subject_keys", "subject_salts"] {
        let sql = format!("DELETE FROM {table} WHERE tenant = $1 AND subject_id = $2");
        db.execute_raw(Statement::from_sql_and_values(backend, sql, by_subject.clone()))
            .await
            .map_err(db_error)?;
    }
    let sql = "UPDATE idempotency_keys SET conflicts = '[]' WHERE tenant = $1 AND subject_id = $2";
    db.execute_raw(Statement::from_sql_and_values(backend, sql, by_subject)).await.map_err(db_error)?;
    Ok(())
}
