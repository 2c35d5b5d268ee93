//! `tenant_bindings`: vendor account ids and the tenant they belong to.

use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "tenant_bindings")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub vendor: String,
    #[sea_orm(primary_key, auto_increment = false)]
    pub external_id: String,
    pub tenant: String,
    pub created_at: i64,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
