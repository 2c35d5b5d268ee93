//! Legal holds (docs/evidence.md#legal-holds): a subject on hold is neither
//! erased nor touched by retention until the hold is released.

use consent_core::{ConsentError, SubjectRef, TenantId, Timestamp};
use sea_orm::sea_query::OnConflict;
use sea_orm::{ColumnTrait, EntityTrait, QueryFilter, QueryOrder};
use uuid::Uuid;

use crate::entity::legal_hold;
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
    /// The subject `subject` names; `NotFound` for an identity no subject has.
    async fn held_subject(&self, tenant: &TenantId, subject: &SubjectRef) -> Result<Uuid, ConsentError> {
        match subject {
            SubjectRef::Id(id) => Ok(*id),
            SubjectRef::Identity(identity) => {
                read::subject_of(self.connection(), self.vault().await?, tenant, identity)
                    .await?
                    .ok_or_else(|| ConsentError::NotFound("no subject has this identity".to_owned()))
            }
        }
    }

    /// Places a hold on a subject (again: keeps the first hold's reason);
    /// the subject's id.
    pub async fn place_legal_hold(
        &self,
        tenant: &TenantId,
        subject: &SubjectRef,
        reason: &str,
    ) -> Result<Uuid, ConsentError> {
        let subject_id = self.held_subject(tenant, subject).await?;
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
            .exec_without_returning(self.connection())
            .await
            .map_err(db_error)?;
        Ok(subject_id)
    }

    /// Releases a subject's hold; whether it had one.
    pub async fn release_legal_hold(
        &self,
        tenant: &TenantId,
        subject: &SubjectRef,
    ) -> Result<bool, ConsentError> {
        let subject_id = self.held_subject(tenant, subject).await?;
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
