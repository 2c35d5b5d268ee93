//! `consent_records`: the append-only log of every decision, with its evidence.

use sea_orm::entity::prelude::*;
use serde::Serialize;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel, Serialize)]
#[sea_orm(table_name = "consent_records")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: String,
    pub tenant: String,
    pub revision: i64,
    pub subject_id: String,
    /// JSON array of `{namespace, value}`.
    pub identities: String,
    pub purpose: String,
    pub target: String,
    pub decision: String,
    pub collected_at: i64,
    pub expires_at: Option<i64>,
    pub recorded_at: i64,
    pub source: String,
    pub kind: String,
    pub user_agent: String,
    pub ip: String,
    pub proxy_ip: String,
    pub gpc: bool,
    pub uri: String,
    pub country: String,
    pub region: String,
    pub city: String,
    pub notice_version: String,
    pub policy_version: String,
    pub message: String,
    pub metadata_json: String,
    pub consent_id: String,
    pub vendor: String,
    pub payload_digest: String,
    pub tc_string: String,
    pub gpp_string: String,
    /// The signal that implied the decision; empty when stated.
    pub implied_by: String,
    pub gpc_conflict: bool,
    /// Empty while the identifying values are here; else why they went and
    /// their commitments (`convert::Removed` as JSON).
    pub removed: String,
    /// The record's log leaf hash, hex, computed by the write that stored
    /// it (empty for records written before it was).
    pub leaf_hash: String,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
