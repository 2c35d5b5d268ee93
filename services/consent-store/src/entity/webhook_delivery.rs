//! `webhook_deliveries`: one row per delivery attempt.

use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "webhook_deliveries")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: String,
    pub subscription_id: String,
    pub tenant: String,
    pub event_id: String,
    pub revision: i64,
    pub attempt: i32,
    pub outcome: String,
    pub status_code: Option<i32>,
    pub error: String,
    pub latency_ms: i64,
    pub attempted_at: i64,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
