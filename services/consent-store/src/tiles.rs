//! The verifiable log's stored hashes as tiles (c2sp.org/tlog-tiles) of
//! height [`HEIGHT`]: a row holds up to 256 hashes of one tree level (levels
//! 0, 8, 16, …), from which the stored hashes of the levels between are
//! recomputed. Appends rewrite the right-edge tile of each level as it
//! grows; a full tile is never written again.

use std::collections::{BTreeMap, HashMap};

use consent_core::{ConsentError, TenantId};
use consent_evidence::tree::{Tile, stored_hash_index};
use consent_evidence::{Hash, HashReader, TreeError};
use sea_orm::sea_query::OnConflict;
use sea_orm::{ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter};

use crate::entity::log_tile;
use crate::error::db_error;

/// Tree levels a tile spans: 256 hashes wide.
pub(crate) const HEIGHT: u8 = 8;

/// Bytes of one hash.
const HASH_BYTES: usize = 32;

/// Tiles per read or write statement.
const TILES_PER_STATEMENT: usize = 300;

/// A tile's key: its level and index.
type TileKey = (u8, u64);

/// The stored tiles with these keys that exist, as their data.
async fn read_tiles<C: ConnectionTrait>(
    db: &C,
    tenant: &TenantId,
    keys: impl IntoIterator<Item = TileKey>,
) -> Result<HashMap<TileKey, Vec<u8>>, ConsentError> {
    let mut by_level: BTreeMap<u8, Vec<i64>> = BTreeMap::new();
    for (level, index) in keys {
        by_level.entry(level).or_default().push(i64::try_from(index).unwrap_or(i64::MAX));
    }
    let mut tiles = HashMap::new();
    for (level, mut indexes) in by_level {
        indexes.sort_unstable();
        indexes.dedup();
        for chunk in indexes.chunks(TILES_PER_STATEMENT) {
            let rows = log_tile::Entity::find()
                .filter(log_tile::Column::Tenant.eq(tenant.as_str()))
                .filter(log_tile::Column::Level.eq(i32::from(level)))
                .filter(log_tile::Column::Idx.is_in(chunk.iter().copied()))
                .all(db)
                .await
                .map_err(db_error)?;
            for row in rows {
                tiles.insert((level, u64::try_from(row.idx).unwrap_or_default()), row.data);
            }
        }
    }
    Ok(tiles)
}

/// The stored hashes at these indexes that the tiles hold (an index past
/// the tree is left out).
pub(crate) async fn read_hashes<C: ConnectionTrait>(
    db: &C,
    tenant: &TenantId,
    indexes: &[u64],
) -> Result<HashMap<u64, Hash>, ConsentError> {
    let wanted: Vec<(u64, Tile)> =
        indexes.iter().map(|index| (*index, Tile::from_index(HEIGHT, *index))).collect();
    let tiles =
        read_tiles(db, tenant, wanted.iter().map(|(_, tile)| (tile.level(), tile.level_index()))).await?;
    let mut hashes = HashMap::with_capacity(wanted.len());
    for (index, tile) in wanted {
        let Some(data) = tiles.get(&(tile.level(), tile.level_index())) else { continue };
        let width = u32::try_from(data.len() / HASH_BYTES).unwrap_or_default();
        let stored = Tile::new(HEIGHT, tile.level(), tile.level_index(), width, false);
        // Narrower than the hash needs: not in the tree yet.
        if let Ok(hash) = stored.hash_at_index(data, index) {
            hashes.insert(index, hash);
        }
    }
    Ok(hashes)
}

/// Stored hashes by index, for building tiles.
struct Known(HashMap<u64, Hash>);

impl HashReader for Known {
    fn read_hashes(&self, indexes: &[u64]) -> Result<Vec<Hash>, TreeError> {
        indexes.iter().map(|index| self.0.get(index).copied().ok_or(TreeError::IndexesNotInTree)).collect()
    }
}

/// The tiles of a tree grown from `old` to `new` records, `added` the
/// stored hashes the growth made (by index): the right-edge tiles that
/// grew and the tiles it filled, as rows to upsert.
pub(crate) async fn grown<C: ConnectionTrait>(
    db: &C,
    tenant: &TenantId,
    old: u64,
    new: u64,
    added: HashMap<u64, Hash>,
) -> Result<Vec<log_tile::ActiveModel>, ConsentError> {
    let tiles = Tile::new_tiles(HEIGHT, old, new);
    // The hashes already in the tiles that grow.
    let stored = read_tiles(db, tenant, tiles.iter().map(|tile| (tile.level(), tile.level_index()))).await?;
    let mut known = added;
    for ((level, index), data) in &stored {
        for (i, hash) in data.chunks_exact(HASH_BYTES).enumerate() {
            let position = (index << HEIGHT) + u64::try_from(i).unwrap_or_default();
            let hash = Hash(hash.try_into().unwrap_or_default());
            known.insert(stored_hash_index(HEIGHT * level, position), hash);
        }
    }
    let known = Known(known);
    tiles
        .iter()
        .map(|tile| {
            let data = tile.read_data(&known).map_err(|err| {
                ConsentError::Internal(format!(
                    "tenant {}'s log misses a tile's hashes: {err}",
                    tenant.as_str()
                ))
            })?;
            Ok(log_tile::ActiveModel {
                tenant: sea_orm::Set(tenant.as_str().to_owned()),
                level: sea_orm::Set(i32::from(tile.level())),
                idx: sea_orm::Set(i64::try_from(tile.level_index()).unwrap_or(i64::MAX)),
                data: sea_orm::Set(data),
            })
        })
        .collect()
}

/// Writes tiles, replacing the narrower ones they extend.
pub(crate) async fn save<C: ConnectionTrait>(
    db: &C,
    rows: Vec<log_tile::ActiveModel>,
) -> Result<(), ConsentError> {
    for chunk in rows.chunks(TILES_PER_STATEMENT) {
        log_tile::Entity::insert_many(chunk.to_vec())
            .on_conflict(
                OnConflict::columns([
                    log_tile::Column::Tenant,
                    log_tile::Column::Level,
                    log_tile::Column::Idx,
                ])
                .update_column(log_tile::Column::Data)
                .to_owned(),
            )
            .exec_without_returning(db)
            .await
            .map_err(db_error)?;
    }
    Ok(())
}
