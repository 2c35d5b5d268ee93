//! `idempotency_keys`: what each keyed write produced, to answer its retries.

use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "idempotency_keys")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub tenant: String,
    #[sea_orm(primary_key, auto_increment = false)]
    pub key: String,
    /// Digest of the original request.
    pub digest: String,
    pub subject_id: String,
    pub first_revision: i64,
    pub last_revision: i64,
    /// JSON array of the identities reported as conflicting.
    pub conflicts: String,
    pub created_at: i64,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
