//! The verifiable log in tables (docs/evidence.md): each tenant's records,
//! in revision order, appended to its Merkle tree right behind the commits
//! that wrote them — by a builder on every replica, never inside a write,
//! so writes do not wait for it. An append takes the tenant's `log_heads`
//! row lock, so two replicas never append the same record twice; it reads
//! only committed records, which have no gaps (revisions commit in order),
//! and stops at the first gap it sees all the same.
//!
//! Proofs and roots read a logarithmic number of stored hashes. Which ones
//! depends only on the sizes asked about, so a read runs the proof once
//! over placeholder hashes to learn the indexes, fetches them in one
//! query, and runs it again.

use std::cell::RefCell;
use std::collections::{BTreeSet, HashMap};

use consent_core::{ConsentError, EventKind, TenantId};
use consent_evidence::leaf::random_salt;
use consent_evidence::tree::{first_stored_index, hashes_to_store, stored_hash_index};
use consent_evidence::{
    Commitments, EvidenceError, ExportedLeaf, Hash, HashReader, LoggedRecord, LoggedValues, Salt,
};
use consent_vault::Vault;
use sea_orm::sea_query::{Expr, OnConflict, Query};
use sea_orm::{
    ColumnTrait, ConnectionTrait, DatabaseConnection, EntityTrait, QueryFilter, QueryOrder, QuerySelect,
    TransactionTrait,
};
use uuid::Uuid;

use crate::convert::{
    Opening, Removed, commitment_salt, from_row, holds_plain_values, keys_for_rows, row_key,
};
use crate::entity::{consent_record, log_checkpoint, log_head, subject_salt};
use crate::error::db_error;
use crate::{read, tiles};

/// The most records one append of the builder takes; it appends again at
/// once while a tenant's log is behind.
pub(crate) const APPENDS_PER_TRANSACTION: u64 = 5000;

/// Appends of one tenant in one round of the builder, at the most: other
/// tenants get their turn.
const APPENDS_PER_ROUND: usize = 20;

/// The most records one append transaction takes, whatever it is asked.
pub(crate) const MAX_APPENDS_PER_TRANSACTION: u64 = 100_000;

/// Rows per read by key and per salt insert.
const ROWS_PER_INSERT: usize = 300;

/// Stored hashes by index, and the indexes asked for that were not there.
#[derive(Default)]
pub(crate) struct Hashes {
    known: HashMap<u64, Hash>,
    missing: RefCell<BTreeSet<u64>>,
}

impl HashReader for Hashes {
    fn read_hashes(&self, indexes: &[u64]) -> Result<Vec<Hash>, consent_evidence::TreeError> {
        Ok(indexes
            .iter()
            .map(|index| {
                self.known.get(index).copied().unwrap_or_else(|| {
                    self.missing.borrow_mut().insert(*index);
                    Hash::default()
                })
            })
            .collect())
    }
}

fn evidence_error(err: EvidenceError) -> ConsentError {
    ConsentError::Internal(format!("verifiable log: {err}"))
}

/// Runs `proof` over the tenant's stored hashes.
pub(crate) async fn with_hashes<C: ConnectionTrait, T>(
    db: &C,
    tenant: &TenantId,
    proof: impl Fn(&Hashes) -> Result<T, EvidenceError>,
) -> Result<T, ConsentError> {
    let mut hashes = Hashes::default();
    // Placeholders: only which indexes it reads counts.
    drop(proof(&hashes));
    let wanted: Vec<u64> = hashes.missing.take().into_iter().collect();
    hashes.known = tiles::read_hashes(db, tenant, &wanted).await?;
    let result = proof(&hashes).map_err(evidence_error)?;
    if hashes.missing.borrow().is_empty() {
        Ok(result)
    } else {
        Err(ConsentError::Internal(format!("tenant {}'s log misses stored hashes", tenant.as_str())))
    }
}

/// How many records the tenant's log holds.
pub(crate) async fn size<C: ConnectionTrait>(db: &C, tenant: &TenantId) -> Result<u64, ConsentError> {
    let head = log_head::Entity::find_by_id(tenant.as_str().to_owned()).one(db).await.map_err(db_error)?;
    Ok(head.map_or(0, |head| u64::try_from(head.size).unwrap_or_default()))
}

/// Appends up to `max` committed records of the tenant that its log does
/// not hold yet (at most [`MAX_APPENDS_PER_TRANSACTION`] at once); the
/// log's size after.
///
/// Optimistic, so that the write lock (SQLite's whole database) is held
/// only for the inserts: the records are read and hashed outside any write
/// transaction, against the size read first; the write transaction then
/// moves the tenant's head from that size, and finding it moved (another
/// replica appended them) writes nothing.
pub(crate) async fn append(
    db: &DatabaseConnection,
    vault: &Vault,
    tenant: &TenantId,
    max: u64,
) -> Result<u64, ConsentError> {
    let max = max.min(MAX_APPENDS_PER_TRANSACTION);
    let size = size(db, tenant).await?;
    let after = i64::try_from(size).unwrap_or(i64::MAX);
    // Each record's write computed its leaf hash (where its values were at
    // hand): the usual append reads only those.
    let written: Vec<(i64, String)> = consent_record::Entity::find()
        .select_only()
        .column(consent_record::Column::Revision)
        .column(consent_record::Column::LeafHash)
        .filter(consent_record::Column::Tenant.eq(tenant.as_str()))
        .filter(consent_record::Column::Revision.gt(after))
        .order_by_asc(consent_record::Column::Revision)
        .limit(max)
        .into_tuple()
        .all(db)
        .await
        .map_err(db_error)?;
    let leaf_hashes: Option<Vec<Hash>> = written
        .iter()
        .zip(after + 1..)
        .take_while(|((revision, _), expected)| revision == expected)
        .map(|((_, hash), _)| hex::decode(hash).ok().and_then(|bytes| bytes.try_into().ok()).map(Hash))
        .collect();
    let leaf_hashes = match leaf_hashes {
        Some(hashes) => hashes,
        // Records written before leaf hashes were: encoded here.
        None => encoded_leaf_hashes(db, vault, tenant, after, max).await?,
    };
    if leaf_hashes.is_empty() {
        return Ok(size);
    }
    let mut hashes =
        Hashes { known: tiles::read_hashes(db, tenant, &frontier(size)).await?, ..Hashes::default() };
    let mut added = HashMap::new();
    for (leaf_hash, n) in leaf_hashes.iter().zip(size..) {
        let stored = hashes_to_store(n, *leaf_hash, &hashes).map_err(evidence_error)?;
        for (index, hash) in (first_stored_index(n)..).zip(stored) {
            hashes.known.insert(index, hash);
            added.insert(index, hash);
        }
    }
    if !hashes.missing.borrow().is_empty() {
        return Err(ConsentError::Internal(format!("tenant {}'s log misses stored hashes", tenant.as_str())));
    }
    let new_size = size + u64::try_from(leaf_hashes.len()).unwrap_or_default();
    let rows = tiles::grown(db, tenant, size, new_size, added).await?;
    let txn = db.begin().await.map_err(db_error)?;
    if !move_head(&txn, tenant, size, new_size).await? {
        // Another appender moved it first; what it appended is the same.
        txn.rollback().await.map_err(db_error)?;
        return self::size(db, tenant).await;
    }
    tiles::save(&txn, rows).await?;
    txn.commit().await.map_err(db_error)?;
    Ok(new_size)
}

/// The leaf hashes of up to `max` records after revision `after`, encoded
/// from the records (their values opened): for records written before each
/// write stored its leaf hash.
async fn encoded_leaf_hashes(
    db: &DatabaseConnection,
    vault: &Vault,
    tenant: &TenantId,
    after: i64,
    max: u64,
) -> Result<Vec<Hash>, ConsentError> {
    let rows = consent_record::Entity::find()
        .filter(consent_record::Column::Tenant.eq(tenant.as_str()))
        .filter(consent_record::Column::Revision.gt(after))
        .order_by_asc(consent_record::Column::Revision)
        .limit(max)
        .all(db)
        .await
        .map_err(db_error)?;
    // Values stored plain commit under a stored salt, made first, in a write
    // of its own: a salt made for an append that then loses its race is
    // simply used by the next one.
    let plain: BTreeSet<String> =
        rows.iter().filter(|row| holds_plain_values(row)).map(|row| row.subject_id.clone()).collect();
    salts_for(db, tenant, plain).await?;
    // The records, their keys and salts from one snapshot: an erasure
    // committing meanwhile is seen whole or not at all.
    let txn = read::snapshot(db).await?;
    let rows = consent_record::Entity::find()
        .filter(consent_record::Column::Tenant.eq(tenant.as_str()))
        .filter(consent_record::Column::Revision.gt(after))
        .order_by_asc(consent_record::Column::Revision)
        .limit(max)
        .all(&txn)
        .await
        .map_err(db_error)?;
    let logged = logged_records(&txn, vault, tenant, rows, Opening::Strict).await;
    let logged = read::end(txn, logged).await?;
    Ok(logged
        .into_iter()
        .zip(after + 1..)
        .take_while(|(logged, expected)| logged.record.revision == *expected)
        .map(|(logged, _)| logged.leaf().hash())
        .collect())
}

/// Records as the log holds them: opened, with their salts, or with the
/// commitments kept when their values were removed. `Opening::Lenient`
/// lists a record whose values do not open (or whose salt is gone) all
/// the same, with values its leaf cannot match: an export then names it.
async fn logged_records<C: ConnectionTrait>(
    db: &C,
    vault: &Vault,
    tenant: &TenantId,
    rows: Vec<consent_record::Model>,
    opening: Opening,
) -> Result<Vec<LoggedRecord>, ConsentError> {
    let keys = keys_for_rows(db, vault, &rows).await?;
    let subjects: BTreeSet<String> = rows
        .iter()
        .filter(|row| row.removed.is_empty() && row.kind != EventKind::Erased.as_str())
        .map(|row| row.subject_id.clone())
        .collect();
    let salts = read_salts(db, tenant, &subjects).await?;
    let mut logged = Vec::with_capacity(rows.len());
    for row in rows {
        let removed = match (Removed::parse(&row), opening) {
            (Ok(removed), _) => removed,
            (Err(_), Opening::Lenient) => Some(Removed::unreadable()),
            (Err(err), Opening::Strict) => return Err(err),
        };
        let key = row_key(&keys, &row);
        let salt = commitment_salt(&row, salts.get(&row.subject_id).copied(), key);
        let erased_kind = row.kind == EventKind::Erased.as_str();
        let mut record = from_row(row, key, opening)?;
        let values = match removed {
            Some(removed) => {
                // The leaf names the subject the record was filed under.
                record.subject_id = Uuid::parse_str(&removed.subject_id).unwrap_or_default();
                LoggedValues::Removed(removed.commitments)
            }
            // An erasure's announcement holds no values to commit.
            None if erased_kind => LoggedValues::Removed(Commitments::default()),
            None => match (salt, opening) {
                (Some(salt), _) => LoggedValues::Salted(salt),
                (None, Opening::Lenient) => LoggedValues::Removed(Removed::unreadable().commitments),
                (None, Opening::Strict) => {
                    return Err(ConsentError::Internal(format!(
                        "subject {} of tenant {} has no salt",
                        record.subject_id,
                        tenant.as_str()
                    )));
                }
            },
        };
        logged.push(LoggedRecord { record, values });
    }
    Ok(logged)
}

/// The tenant's record `record_id` as the log holds it.
pub(crate) async fn logged_record(
    db: &DatabaseConnection,
    vault: &Vault,
    tenant: &TenantId,
    record_id: uuid::Uuid,
) -> Result<Option<LoggedRecord>, ConsentError> {
    let txn = read::snapshot(db).await?;
    let logged = async {
        let row = consent_record::Entity::find_by_id(record_id.to_string())
            .filter(consent_record::Column::Tenant.eq(tenant.as_str()))
            .one(&txn)
            .await
            .map_err(db_error)?;
        let rows = row.into_iter().collect();
        Ok::<_, ConsentError>(logged_records(&txn, vault, tenant, rows, Opening::Strict).await?.pop())
    }
    .await;
    read::end(txn, logged).await
}

/// Moves the tenant's log head from `from` to `to`, as the transaction's
/// first write (which takes the row's lock, or SQLite's write lock, until
/// it ends); false when the head is no longer at `from`.
async fn move_head<C: ConnectionTrait>(
    db: &C,
    tenant: &TenantId,
    from: u64,
    to: u64,
) -> Result<bool, ConsentError> {
    let (from, to) = (i64::try_from(from).unwrap_or(i64::MAX), i64::try_from(to).unwrap_or(i64::MAX));
    let moved = log_head::Entity::update_many()
        .col_expr(log_head::Column::Size, Expr::value(to))
        .filter(log_head::Column::Tenant.eq(tenant.as_str()))
        .filter(log_head::Column::Size.eq(from))
        .exec(db)
        .await
        .map_err(db_error)?
        .rows_affected;
    if moved == 1 {
        return Ok(true);
    }
    if from != 0 {
        return Ok(false);
    }
    // The tenant's first append: its head row does not exist yet.
    let statement = Query::insert()
        .into_table(log_head::Entity)
        .columns([log_head::Column::Tenant, log_head::Column::Size])
        .values_panic([tenant.as_str().into(), to.into()])
        .on_conflict(OnConflict::column(log_head::Column::Tenant).do_nothing().to_owned())
        .to_owned();
    Ok(db.execute(&statement).await.map_err(db_error)?.rows_affected() == 1)
}

/// The stored hashes appending to a tree of `size` records may read: the
/// roots of the complete subtrees at its right edge, one a level. Records
/// appended after it read those, or hashes the same append made.
fn frontier(size: u64) -> Vec<u64> {
    (0..64_u8)
        .take_while(|level| size >> level > 0)
        .map(|level| stored_hash_index(level, (size >> level) - 1))
        .collect()
}

/// The salts of `subjects`, made for those without one.
pub(crate) async fn salts_for<C: ConnectionTrait>(
    db: &C,
    tenant: &TenantId,
    subjects: BTreeSet<String>,
) -> Result<HashMap<String, Salt>, ConsentError> {
    let mut salts = read_salts(db, tenant, &subjects).await?;
    let new: Vec<subject_salt::ActiveModel> = subjects
        .iter()
        .filter(|subject| !salts.contains_key(*subject))
        .map(|subject| subject_salt::ActiveModel {
            tenant: sea_orm::Set(tenant.as_str().to_owned()),
            subject_id: sea_orm::Set(subject.clone()),
            salt: sea_orm::Set(random_salt().to_vec()),
        })
        .collect();
    if !new.is_empty() {
        for chunk in new.chunks(ROWS_PER_INSERT) {
            subject_salt::Entity::insert_many(chunk.to_vec())
                .on_conflict(
                    OnConflict::columns([subject_salt::Column::Tenant, subject_salt::Column::SubjectId])
                        .do_nothing()
                        .to_owned(),
                )
                .exec_without_returning(db)
                .await
                .map_err(db_error)?;
        }
        salts = read_salts(db, tenant, &subjects).await?;
    }
    Ok(salts)
}

pub(crate) async fn read_salts<C: ConnectionTrait>(
    db: &C,
    tenant: &TenantId,
    subjects: &BTreeSet<String>,
) -> Result<HashMap<String, Salt>, ConsentError> {
    let mut salts = HashMap::new();
    let subjects: Vec<&String> = subjects.iter().collect();
    for chunk in subjects.chunks(ROWS_PER_INSERT) {
        let rows = subject_salt::Entity::find()
            .filter(subject_salt::Column::Tenant.eq(tenant.as_str()))
            .filter(subject_salt::Column::SubjectId.is_in(chunk.iter().map(|s| s.as_str())))
            .all(db)
            .await
            .map_err(db_error)?;
        for row in rows {
            if let Ok(salt) = Salt::try_from(row.salt.as_slice()) {
                salts.insert(row.subject_id, salt);
            }
        }
    }
    Ok(salts)
}

/// The tenant's log as its leaves re-encoded from the stored records, each
/// with the leaf hash the log stored, in index order.
pub(crate) async fn export(
    db: &DatabaseConnection,
    vault: &Vault,
    tenant: &TenantId,
) -> Result<Vec<ExportedLeaf>, ConsentError> {
    use base64::Engine as _;
    let txn = read::snapshot(db).await?;
    let logged = async {
        let size = size(&txn, tenant).await?;
        let rows = consent_record::Entity::find()
            .filter(consent_record::Column::Tenant.eq(tenant.as_str()))
            .filter(consent_record::Column::Revision.lte(i64::try_from(size).unwrap_or(i64::MAX)))
            .order_by_asc(consent_record::Column::Revision)
            .all(&txn)
            .await
            .map_err(db_error)?;
        let leaf_indexes: Vec<u64> = (0..size).map(first_stored_index).collect();
        let stored = tiles::read_hashes(&txn, tenant, &leaf_indexes).await?;
        let kept: HashMap<i64, String> =
            rows.iter().map(|row| (row.revision, row.leaf_hash.clone())).collect();
        let logged = logged_records(&txn, vault, tenant, rows, Opening::Lenient).await?;
        Ok::<_, ConsentError>((logged, stored, kept))
    }
    .await;
    let (logged, stored, kept) = read::end(txn, logged).await?;
    let base64 = |bytes: &[u8]| base64::engine::general_purpose::STANDARD.encode(bytes);
    Ok(logged
        .iter()
        .map(|logged| {
            let index = u64::try_from(logged.record.revision - 1).unwrap_or_default();
            let leaf_hash = stored.get(&first_stored_index(index)).map(|hash| hash.0).unwrap_or_default();
            // As the row keeps it; what is not hex is shown as it is, and
            // does not verify.
            let record_hash = kept
                .get(&logged.record.revision)
                .filter(|hash| !hash.is_empty())
                .map(|hash| hex::decode(hash).map_or_else(|_| hash.clone(), |bytes| base64(&bytes)));
            ExportedLeaf { leaf: logged.leaf(), leaf_hash: base64(&leaf_hash), record_hash }
        })
        .collect())
}

/// Tenants whose log is behind their head revision.
pub(crate) async fn tenants_behind<C: ConnectionTrait>(db: &C) -> Result<Vec<TenantId>, ConsentError> {
    let heads: Vec<(String, i64)> = crate::entity::tenant_head::Entity::find()
        .select_only()
        .column(crate::entity::tenant_head::Column::Tenant)
        .column(crate::entity::tenant_head::Column::Head)
        .into_tuple()
        .all(db)
        .await
        .map_err(db_error)?;
    let logs: HashMap<String, i64> = log_head::Entity::find()
        .all(db)
        .await
        .map_err(db_error)?
        .into_iter()
        .map(|head| (head.tenant, head.size))
        .collect();
    Ok(heads
        .into_iter()
        .filter(|(tenant, head)| logs.get(tenant).copied().unwrap_or(0) < *head)
        .map(|(tenant, _)| TenantId::new(tenant))
        .collect())
}

/// Keeps a signed checkpoint.
pub(crate) async fn save_checkpoint<C: ConnectionTrait>(
    db: &C,
    tenant: &TenantId,
    size: u64,
    time: i64,
    note: &str,
) -> Result<(), ConsentError> {
    let row = log_checkpoint::ActiveModel {
        tenant: sea_orm::Set(tenant.as_str().to_owned()),
        size: sea_orm::Set(i64::try_from(size).unwrap_or(i64::MAX)),
        time: sea_orm::Set(time),
        note: sea_orm::Set(note.to_owned()),
    };
    log_checkpoint::Entity::insert(row)
        .on_conflict(
            OnConflict::columns([log_checkpoint::Column::Tenant, log_checkpoint::Column::Size])
                .do_nothing()
                .to_owned(),
        )
        .exec_without_returning(db)
        .await
        .map_err(db_error)?;
    Ok(())
}

/// The tenant's checkpoints, by size.
pub(crate) async fn checkpoints<C: ConnectionTrait>(
    db: &C,
    tenant: &TenantId,
) -> Result<Vec<(u64, String)>, ConsentError> {
    Ok(log_checkpoint::Entity::find()
        .filter(log_checkpoint::Column::Tenant.eq(tenant.as_str()))
        .order_by_asc(log_checkpoint::Column::Size)
        .all(db)
        .await
        .map_err(db_error)?
        .into_iter()
        .map(|row| (u64::try_from(row.size).unwrap_or_default(), row.note))
        .collect())
}

/// One round of the builder: appends behind the commits for every tenant
/// whose log is behind.
pub(crate) async fn build(store: crate::SqlStore) {
    let db = store.connection();
    let tenants = match tenants_behind(db).await {
        Ok(tenants) => tenants,
        Err(err) => {
            tracing::warn!(error = %err, "cannot look for records to append to the log");
            return;
        }
    };
    let vault = match store.vault().await {
        Ok(vault) => vault,
        Err(err) => {
            tracing::warn!(error = %err, "cannot open the vault to append to the log");
            return;
        }
    };
    for tenant in tenants {
        let mut size = None;
        for _ in 0..APPENDS_PER_ROUND {
            match append(db, vault, &tenant, APPENDS_PER_TRANSACTION).await {
                Ok(grown) if Some(grown) != size => size = Some(grown),
                Ok(_) => break,
                Err(err) => {
                    tracing::warn!(error = %err, tenant = tenant.as_str(), "cannot append to the log");
                    break;
                }
            }
        }
    }
}

/// The tenant's largest checkpoint.
pub(crate) async fn latest_checkpoint<C: ConnectionTrait>(
    db: &C,
    tenant: &TenantId,
) -> Result<Option<(u64, String)>, ConsentError> {
    Ok(log_checkpoint::Entity::find()
        .filter(log_checkpoint::Column::Tenant.eq(tenant.as_str()))
        .order_by_desc(log_checkpoint::Column::Size)
        .one(db)
        .await
        .map_err(db_error)?
        .map(|row| (u64::try_from(row.size).unwrap_or_default(), row.note)))
}

/// The tenant's checkpoint of `size` records.
pub(crate) async fn checkpoint_at<C: ConnectionTrait>(
    db: &C,
    tenant: &TenantId,
    size: u64,
) -> Result<Option<String>, ConsentError> {
    let key = (tenant.as_str().to_owned(), i64::try_from(size).unwrap_or(i64::MAX));
    Ok(log_checkpoint::Entity::find_by_id(key).one(db).await.map_err(db_error)?.map(|row| row.note))
}

/// Tenants whose log is larger than their latest checkpoint.
pub(crate) async fn tenants_to_checkpoint<C: ConnectionTrait>(db: &C) -> Result<Vec<TenantId>, ConsentError> {
    let mut tenants = Vec::new();
    for head in log_head::Entity::find().all(db).await.map_err(db_error)? {
        let tenant = TenantId::new(head.tenant);
        let latest = latest_checkpoint(db, &tenant).await?.map_or(0, |(size, _)| size);
        if u64::try_from(head.size).unwrap_or_default() > latest {
            tenants.push(tenant);
        }
    }
    Ok(tenants)
}

/// The subject's salt.
pub(crate) async fn subject_salt<C: ConnectionTrait>(
    db: &C,
    tenant: &TenantId,
    subject_id: uuid::Uuid,
) -> Result<Option<Salt>, ConsentError> {
    let key = (tenant.as_str().to_owned(), subject_id.to_string());
    let row = subject_salt::Entity::find_by_id(key).one(db).await.map_err(db_error)?;
    Ok(row.and_then(|row| Salt::try_from(row.salt.as_slice()).ok()))
}

impl consent_evidence::LogStore for crate::SqlStore {
    async fn append_log(&self, tenant: &TenantId, max: u64) -> Result<u64, ConsentError> {
        append(self.connection(), self.vault().await?, tenant, max).await
    }

    async fn log_size(&self, tenant: &TenantId) -> Result<u64, ConsentError> {
        size(self.connection(), tenant).await
    }

    async fn log_root(&self, tenant: &TenantId, size: u64) -> Result<Hash, ConsentError> {
        with_hashes(self.connection(), tenant, |hashes| consent_evidence::tree::root(size, hashes)).await
    }

    async fn log_inclusion_proof(
        &self,
        tenant: &TenantId,
        size: u64,
        index: u64,
    ) -> Result<Vec<Hash>, ConsentError> {
        with_hashes(self.connection(), tenant, |hashes| {
            consent_evidence::tree::inclusion_proof(size, index, hashes)
        })
        .await
    }

    async fn log_consistency_proof(
        &self,
        tenant: &TenantId,
        second: u64,
        first: u64,
    ) -> Result<Vec<Hash>, ConsentError> {
        with_hashes(self.connection(), tenant, |hashes| {
            consent_evidence::tree::consistency_proof(second, first, hashes)
        })
        .await
    }

    async fn logged_record(
        &self,
        tenant: &TenantId,
        record_id: uuid::Uuid,
    ) -> Result<Option<LoggedRecord>, ConsentError> {
        logged_record(self.connection(), self.vault().await?, tenant, record_id).await
    }

    async fn save_checkpoint(
        &self,
        tenant: &TenantId,
        size: u64,
        time: i64,
        note: &str,
    ) -> Result<(), ConsentError> {
        save_checkpoint(self.connection(), tenant, size, time, note).await
    }

    async fn latest_checkpoint(&self, tenant: &TenantId) -> Result<Option<(u64, String)>, ConsentError> {
        latest_checkpoint(self.connection(), tenant).await
    }

    async fn checkpoint_at(&self, tenant: &TenantId, size: u64) -> Result<Option<String>, ConsentError> {
        checkpoint_at(self.connection(), tenant, size).await
    }

    async fn checkpoints(&self, tenant: &TenantId) -> Result<Vec<(u64, String)>, ConsentError> {
        checkpoints(self.connection(), tenant).await
    }

    async fn export_log(&self, tenant: &TenantId) -> Result<Vec<ExportedLeaf>, ConsentError> {
        export(self.connection(), self.vault().await?, tenant).await
    }

    async fn tenants_to_checkpoint(&self) -> Result<Vec<TenantId>, ConsentError> {
        tenants_to_checkpoint(self.connection()).await
    }

    async fn stored_log_key(&self, initial: String) -> Result<String, ConsentError> {
        crate::admin::meta_value(self.connection(), "log_signing_key", || initial).await
    }
}
