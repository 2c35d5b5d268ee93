//! `log_tiles`: a tenant log's stored Merkle hashes as tiles of height 8
//! (c2sp.org/tlog-tiles): up to 256 hashes of one tree level each.

use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "log_tiles")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub tenant: String,
    /// The tile level: it holds hashes of tree level `8 * level`.
    #[sea_orm(primary_key, auto_increment = false)]
    pub level: i32,
    /// The tile's index within its level.
    #[sea_orm(primary_key, auto_increment = false)]
    pub idx: i64,
    /// The hashes, 32 bytes each, as many as the tile is wide.
    pub data: Vec<u8>,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
