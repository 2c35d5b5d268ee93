//! `webhook_subscriptions`: where to deliver which changes, how far delivery
//! got, its retry state, and which replica holds the delivery lease.

use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "webhook_subscriptions")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: String,
    pub tenant: String,
    pub format: String,
    pub url: String,
    pub filter_json: String,
    pub cursor: i64,
    pub state: String,
    pub failures: i32,
    pub next_attempt_at: Option<i64>,
    pub last_error: String,
    pub lease_owner: String,
    pub lease_until: i64,
    pub created_at: i64,
    pub parked_at: Option<i64>,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
