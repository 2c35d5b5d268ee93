//! Legal holds (docs/evidence.md#legal-holds): a subject on hold is neither
//! erased nor touched by retention until the hold is released.

use consent_core::{ConsentError, EventKind, SubjectRef, TenantId, Timestamp};
use sea_orm::sea_query::OnConflict;
use sea_orm::{
    ColumnTrait, ConnectionTrait, DbBackend, EntityTrait, QueryFilter, QueryOrder, Statement,
    TransactionTrait,
};
use uuid::Uuid;

use crate::dialect::Dialect;
use crate::entity::{consent_record, legal_hold};
use crate::error::db_error;
use crate::{SqlStore, read};

/// A subject on legal hold.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LegalHold {
    /// The subject.
    pub subject_id: Uuid,
    /// Why, as the operator gave it.
    pub reason: String,
    /// When the hold was placed.
    pub placed_at: Timestamp,
}

impl SqlStore {
    /// Places a hold on a subject that has records (again: keeps the first
    /// hold's reason); the subject's id. Under the tenant's write lock, as
    /// erasures are: an erasure either sees the hold or is done before it.
    pub async fn place_legal_hold(
        &self,
        tenant: &TenantId,
        subject: &SubjectRef,
        reason: &str,
    ) -> Result<Uuid, ConsentError> {
        let txn = self.connection().begin().await.map_err(db_error)?;
        if Dialect::of(&txn).needs_explicit_locks() {
            txn.execute_raw(Statement::from_sql_and_values(
                DbBackend::Postgres,
                "SELECT head FROM tenant_heads WHERE tenant = $1 FOR UPDATE",
                [tenant.as_str().into()],
            ))
            .await
            .map_err(db_error)?;
        }
        let subject_id = held_subject(&txn, self.vault().await?, tenant, subject).await?;
        let has_records = consent_record::Entity::find()
            .filter(consent_record::Column::Tenant.eq(tenant.as_str()))
            .filter(consent_record::Column::SubjectId.eq(subject_id.to_string()))
            .filter(consent_record::Column::Kind.ne(EventKind::Erased.as_str()))
            .one(&txn)
            .await
            .map_err(db_error)?
            .is_some();
        if !has_records || subject_id.is_nil() {
            return Err(ConsentError::NotFound(format!("subject {subject_id} has no records to hold")));
        }
        let row = legal_hold::ActiveModel {
            tenant: sea_orm::Set(tenant.as_str().to_owned()),
            subject_id: sea_orm::Set(subject_id.to_string()),
            reason: sea_orm::Set(reason.to_owned()),
            created_at: sea_orm::Set(Timestamp::now().as_micros()),
        };
        legal_hold::Entity::insert(row)
            .on_conflict(
                OnConflict::columns([legal_hold::Column::Tenant, legal_hold::Column::SubjectId])
                    .do_nothing()
                    .to_owned(),
            )
            .exec_without_returning(&txn)
            .await
            .map_err(db_error)?;
        txn.commit().await.map_err(db_error)?;
        Ok(subject_id)
    }

    /// Releases a subject's hold; whether it had one.
    pub async fn release_legal_hold(
        &self,
        tenant: &TenantId,
        subject: &SubjectRef,
    ) -> Result<bool, ConsentError> {
        let subject_id = held_subject(self.connection(), self.vault().await?, tenant, subject).await?;
        let deleted = legal_hold::Entity::delete_by_id((tenant.as_str().to_owned(), subject_id.to_string()))
            .exec(self.connection())
            .await
            .map_err(db_error)?;
        Ok(deleted.rows_affected == 1)
    }

    /// The tenant's holds, oldest first.
    pub async fn legal_holds(&self, tenant: &TenantId) -> Result<Vec<LegalHold>, ConsentError> {
        legal_hold::Entity::find()
            .filter(legal_hold::Column::Tenant.eq(tenant.as_str()))
            .order_by_asc(legal_hold::Column::CreatedAt)
            .all(self.connection())
            .await
            .map_err(db_error)?
            .into_iter()
            .map(|row| {
                Ok(LegalHold {
                    subject_id: Uuid::parse_str(&row.subject_id).map_err(|_| {
                        ConsentError::Internal(format!("legal hold of a bad subject id {}", row.subject_id))
                    })?,
                    reason: row.reason,
                    placed_at: Timestamp::from_micros(row.created_at),
                })
            })
            .collect()
    }
}

/// The subject `subject` names; `NotFound` for an identity no subject has.
async fn held_subject<C: ConnectionTrait>(
    db: &C,
    vault: &consent_vault::Vault,
    tenant: &TenantId,
    subject: &SubjectRef,
) -> Result<Uuid, ConsentError> {
    read::subject_named(db, vault, tenant, subject)
        .await?
        .ok_or_else(|| ConsentError::NotFound("no subject has this identity".to_owned()))
}
