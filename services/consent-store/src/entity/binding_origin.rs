//! `binding_origins`: the browser origins allowed on a bound vendor account.

use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "binding_origins")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub vendor: String,
    #[sea_orm(primary_key, auto_increment = false)]
    pub external_id: String,
    #[sea_orm(primary_key, auto_increment = false)]
    pub origin: String,
    pub created_at: i64,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
