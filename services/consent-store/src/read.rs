//! Reads, each scoped by tenant. Generic over the connection so the write path
//! can make the same reads inside its transaction.

use consent_core::{
    ChangeFilter, ConsentError, ConsentRecord, Decision, EventKind, FirstCollected, Identity, Listed,
    RecordFilter, Revision, SubjectRef, TenantId, Timestamp,
};
use std::collections::HashMap;

use consent_vault::Vault;
use sea_orm::{
    ColumnTrait, Condition, ConnectionTrait, DatabaseConnection, DatabaseTransaction, EntityTrait,
    QueryFilter, QueryOrder, QuerySelect, TransactionTrait,
};
use uuid::Uuid;

use crate::cache::CurrentRecord;
use crate::convert::{open_row, open_rows};
use crate::entity::{consent_record, consent_state, identity, tenant_head};
use crate::error::db_error;

pub(crate) async fn subject_of<C: ConnectionTrait>(
    db: &C,
    vault: &Vault,
    tenant: &TenantId,
    wanted: &Identity,
) -> Result<Option<Uuid>, ConsentError> {
    // Identities are stored by pseudonym (docs/evidence.md#erasure).
    let pseudonym = vault.pseudonym(tenant.as_str(), &wanted.namespace, &wanted.value);
    let key = (tenant.as_str().to_owned(), wanted.namespace.clone(), pseudonym);
    let Some(row) = identity::Entity::find_by_id(key).one(db).await.map_err(db_error)? else {
        return Ok(None);
    };
    Uuid::parse_str(&row.subject_id)
        .map(Some)
        .map_err(|_| ConsentError::Internal(format!("identity row has a bad subject id {}", row.subject_id)))
}

/// The subject `subject` names, if there is one.
pub(crate) async fn subject_named<C: ConnectionTrait>(
    db: &C,
    vault: &Vault,
    tenant: &TenantId,
    subject: &SubjectRef,
) -> Result<Option<Uuid>, ConsentError> {
    match subject {
        SubjectRef::Id(id) => Ok(Some(*id)),
        SubjectRef::Identity(identity) => subject_of(db, vault, tenant, identity).await,
    }
}

/// A read-only transaction whose statements all see one state.
pub(crate) async fn snapshot(db: &DatabaseConnection) -> Result<DatabaseTransaction, ConsentError> {
    let (isolation, access) = crate::dialect::Dialect::of(db).snapshot_read();
    db.begin_with_config(isolation, access).await.map_err(db_error)
}

/// Ends a read transaction, keeping what was read (or its error).
pub(crate) async fn end<T>(
    txn: DatabaseTransaction,
    read: Result<T, ConsentError>,
) -> Result<T, ConsentError> {
    let read = read?;
    txn.commit().await.map_err(db_error)?;
    Ok(read)
}

pub(crate) async fn head_revision<C: ConnectionTrait>(
    db: &C,
    tenant: &TenantId,
) -> Result<Revision, ConsentError> {
    Ok(tenant_head::Entity::find_by_id(tenant.as_str().to_owned())
        .one(db)
        .await
        .map_err(db_error)?
        .map_or(0, |row| row.head))
}

pub(crate) async fn record_by_id<C: ConnectionTrait>(
    db: &C,
    vault: &Vault,
    tenant: &TenantId,
    id: Uuid,
) -> Result<Option<ConsentRecord>, ConsentError> {
    let row = consent_record::Entity::find_by_id(id.to_string())
        .filter(consent_record::Column::Tenant.eq(tenant.as_str()))
        .one(db)
        .await
        .map_err(db_error)?;
    open_row(db, vault, row).await
}

pub(crate) async fn current_record<C: ConnectionTrait>(
    db: &C,
    vault: &Vault,
    tenant: &TenantId,
    subject_id: Uuid,
    purpose: &str,
    target: &str,
) -> Result<Option<ConsentRecord>, ConsentError> {
    let key = (tenant.as_str().to_owned(), subject_id.to_string(), purpose.to_owned(), target.to_owned());
    let Some(state) = consent_state::Entity::find_by_id(key).one(db).await.map_err(db_error)? else {
        return Ok(None);
    };
    record_row(db, vault, state.record_id).await
}

/// The current records of a subject (one per purpose and target), at most
/// `limit`: what the check cache keeps of it.
pub(crate) async fn current_records<C: ConnectionTrait>(
    db: &C,
    vault: &Vault,
    tenant: &TenantId,
    subject_id: Uuid,
    limit: u64,
) -> Result<Vec<ConsentRecord>, ConsentError> {
    let ids: Vec<String> = consent_state::Entity::find()
        .select_only()
        .column(consent_state::Column::RecordId)
        .filter(consent_state::Column::Tenant.eq(tenant.as_str()))
        .filter(consent_state::Column::SubjectId.eq(subject_id.to_string()))
        .limit(limit)
        .into_tuple()
        .all(db)
        .await
        .map_err(db_error)?;
    if ids.is_empty() {
        return Ok(Vec::new());
    }
    // Records never change once written: the ones the state named a moment
    // ago are still there.
    open_rows(db, vault, records_by_id(db, tenant, ids, Condition::all()).await?).await
}

/// Up to `limit` current records of a subject, each with the earliest
/// `collected_at` of its purpose and target: what the check cache keeps of
/// a subject.
pub(crate) async fn current_with_first<C: ConnectionTrait>(
    db: &C,
    vault: &Vault,
    tenant: &TenantId,
    subject_id: Uuid,
    limit: u64,
) -> Result<Vec<CurrentRecord>, ConsentError> {
    let records = current_records(db, vault, tenant, subject_id, limit).await?;
    if records.is_empty() || records.len() as u64 >= limit {
        // Nothing to date, or too many to keep: the caller reads no further.
        return Ok(records
            .into_iter()
            .map(|record| CurrentRecord { first_collected_at: record.collected_at, record })
            .collect());
    }
    let firsts: HashMap<(String, String), Timestamp> = first_collected(db, tenant, &[subject_id])
        .await?
        .into_iter()
        .map(|first| ((first.purpose, first.target), first.at))
        .collect();
    Ok(records
        .into_iter()
        .map(|record| {
            let first = firsts.get(&(record.purpose.clone(), record.target.clone())).copied();
            CurrentRecord { first_collected_at: first.unwrap_or(record.collected_at), record }
        })
        .collect())
}

/// The records with these ids that match `condition`, by their primary key
/// alone. Given the tenant too, SQLite (3.51) walks one of the indexes that
/// start with the tenant, every record of it, instead of probing the ids;
/// the tenant is checked here (the ids come from the tenant's own rows).
pub(crate) async fn records_by_id<C: ConnectionTrait>(
    db: &C,
    tenant: &TenantId,
    ids: Vec<String>,
    condition: Condition,
) -> Result<Vec<consent_record::Model>, ConsentError> {
    let mut rows = consent_record::Entity::find()
        .filter(condition.add(consent_record::Column::Id.is_in(ids)))
        .all(db)
        .await
        .map_err(db_error)?;
    rows.retain(|row| row.tenant == tenant.as_str());
    Ok(rows)
}

pub(crate) async fn record_row<C: ConnectionTrait>(
    db: &C,
    vault: &Vault,
    id: String,
) -> Result<Option<ConsentRecord>, ConsentError> {
    let row = consent_record::Entity::find_by_id(id).one(db).await.map_err(db_error)?;
    open_row(db, vault, row).await
}

/// For every key of these subjects, its earliest `collected_at`: one grouped
/// query over the (tenant, subject, purpose, target, collected_at) index.
pub(crate) async fn first_collected<C: ConnectionTrait>(
    db: &C,
    tenant: &TenantId,
    subject_ids: &[Uuid],
) -> Result<Vec<FirstCollected>, ConsentError> {
    use consent_record::Column;

    if subject_ids.is_empty() {
        return Ok(Vec::new());
    }
    let rows: Vec<(String, String, String, Option<i64>)> = consent_record::Entity::find()
        .select_only()
        .column(Column::SubjectId)
        .column(Column::Purpose)
        .column(Column::Target)
        .column_as(Column::CollectedAt.min(), "first")
        .filter(Column::Tenant.eq(tenant.as_str()))
        .filter(Column::SubjectId.is_in(subject_ids.iter().map(Uuid::to_string)))
        // An erasure's announcement decides nothing (consent_core::check).
        .filter(Column::Kind.ne(EventKind::Erased.as_str()))
        .group_by(Column::SubjectId)
        .group_by(Column::Purpose)
        .group_by(Column::Target)
        .into_tuple()
        .all(db)
        .await
        .map_err(db_error)?;
    rows.into_iter()
        .filter_map(|(subject, purpose, target, first)| Some((subject, purpose, target, first?)))
        .map(|(subject, purpose, target, first)| {
            let subject_id = Uuid::parse_str(&subject)
                .map_err(|_| ConsentError::Internal(format!("record has a bad subject id {subject}")))?;
            Ok(FirstCollected { subject_id, purpose, target, at: Timestamp::from_micros(first) })
        })
        .collect()
}

/// Records matching `filter` in `(after, up_to]`, in revision order, and
/// how far the read looked.
///
/// The current records (`history` false) are found in two steps of one
/// table each: the current state's rows by revision (a subject's by its
/// key), then their records by id with the filter. A log that is mostly
/// history is then never walked record by record to find the few still
/// current, and no plan depends on a planner's estimate of a join (with no
/// statistics yet, PostgreSQL nested a scan of the records inside a scan of
/// the state).
pub(crate) async fn list<C: ConnectionTrait>(
    db: &C,
    vault: &Vault,
    tenant: &TenantId,
    filter: &RecordFilter,
    after: Revision,
    up_to: Revision,
    limit: u64,
) -> Result<Listed, ConsentError> {
    use consent_record::Column;

    let mut condition = Condition::all();
    if !filter.decisions.is_empty() {
        condition = condition.add(Column::Decision.is_in(filter.decisions.iter().map(|d| d.as_str())));
    }
    if let Some(after) = filter.collected_after {
        condition = condition.add(Column::CollectedAt.gte(after.as_micros()));
    }
    if let Some(before) = filter.collected_before {
        condition = condition.add(Column::CollectedAt.lt(before.as_micros()));
    }
    if filter.gpc_conflict {
        condition = condition.add(Column::GpcConflict.eq(true));
    }
    if let Some(before) = filter.expiring_before {
        condition = condition
            .add(Column::Decision.eq(Decision::Granted.as_str()))
            .add(Column::ExpiresAt.lt(before.as_micros()));
    }
    for (column, value) in [
        (Column::Purpose, &filter.purpose),
        (Column::Target, &filter.target),
        (Column::Source, &filter.source),
        (Column::Country, &filter.country),
        (Column::Region, &filter.region),
        (Column::City, &filter.city),
    ] {
        if !value.is_empty() {
            condition = condition.add(column.eq(value.as_str()));
        }
    }
    // Sealed values match by their filter tag; values stored before
    // sealing, as they are.
    for (column, field, value) in
        [(Column::Ip, "ip", &filter.ip), (Column::UserAgent, "user_agent", &filter.user_agent)]
    {
        if !value.is_empty() {
            let prefix = consent_vault::tag_prefix(&vault.tag(tenant.as_str(), field, value));
            condition = condition
                .add(Condition::any().add(column.starts_with(prefix)).add(column.eq(value.as_str())));
        }
    }
    if filter.history {
        let condition = within(tenant, filter.subject_id, after, up_to).add(condition);
        return in_revision_order(db, vault, condition, up_to, limit).await;
    }
    let (ids, examined) = current_in(db, tenant, filter.subject_id, after, up_to, limit).await?;
    if ids.is_empty() {
        return Ok(Listed { records: Vec::new(), examined });
    }
    let mut rows = records_by_id(db, tenant, ids, condition).await?;
    rows.sort_unstable_by_key(|row| row.revision);
    Ok(Listed { records: open_rows(db, vault, rows).await?, examined })
}

/// The record ids of the current state in `(after, up_to]` (of one
/// subject, if given), at most `limit` by revision, and how far they reach.
async fn current_in<C: ConnectionTrait>(
    db: &C,
    tenant: &TenantId,
    subject_id: Option<Uuid>,
    after: Revision,
    up_to: Revision,
    limit: u64,
) -> Result<(Vec<String>, Revision), ConsentError> {
    use consent_state::Column;

    let select = consent_state::Entity::find()
        .select_only()
        .column(Column::RecordId)
        .column(Column::Revision)
        .filter(Column::Tenant.eq(tenant.as_str()));
    let mut rows: Vec<(String, i64)> = match subject_id {
        // A subject has one row per key it decided: all of them, by key,
        // and the rest here. Given a revision range and an order by it,
        // SQLite (3.51) walks the state's revision index instead.
        Some(subject_id) => {
            let mut rows: Vec<(String, i64)> = select
                .filter(Column::SubjectId.eq(subject_id.to_string()))
                .into_tuple()
                .all(db)
                .await
                .map_err(db_error)?;
            rows.retain(|(_, revision)| *revision > after);
            rows.sort_unstable_by_key(|(_, revision)| *revision);
            rows.truncate(usize::try_from(limit).unwrap_or(usize::MAX));
            rows
        }
        None => select
            .filter(Column::Revision.gt(after))
            .filter(Column::Revision.lte(up_to))
            .order_by_asc(Column::Revision)
            .limit(limit)
            .into_tuple()
            .all(db)
            .await
            .map_err(db_error)?,
    };
    let examined = reached(rows.len(), rows.last().map(|(_, revision)| *revision), up_to, limit);
    rows.retain(|(_, revision)| *revision <= up_to);
    Ok((rows.into_iter().map(|(id, _)| id).collect(), examined))
}

/// How far a read of at most `limit` rows in revision order, asked for up
/// to `up_to`, has looked: all the way when it came back short (`count`
/// below `limit`) or passed `up_to`, else to its `last` row.
fn reached(count: usize, last: Option<Revision>, up_to: Revision, limit: u64) -> Revision {
    match last {
        Some(last) if count as u64 >= limit && last <= up_to => last,
        Some(_) | None => up_to,
    }
}

/// One read of the change feed: matching records in `(after, up_to]`.
pub(crate) async fn changes<C: ConnectionTrait>(
    db: &C,
    vault: &Vault,
    tenant: &TenantId,
    filter: &ChangeFilter,
    after: Revision,
    up_to: Revision,
    limit: u64,
) -> Result<Vec<ConsentRecord>, ConsentError> {
    use consent_record::Column;

    let mut condition = within(tenant, filter.subject_id, after, up_to);
    // Records for all purposes or any target change the answer for every
    // purpose or target, so they match a purpose or target filter too.
    for (column, values) in [(Column::Purpose, &filter.purposes), (Column::Target, &filter.targets)] {
        if !values.is_empty() {
            condition = condition.add(column.is_in(values.iter().map(String::as_str).chain([""])));
        }
    }
    if !filter.sources.is_empty() {
        condition = condition.add(Column::Source.is_in(filter.sources.iter().map(String::as_str)));
    }
    Ok(in_revision_order(db, vault, condition, up_to, limit).await?.records)
}

/// The records of the tenant (of one subject, if given) in `(after,
/// up_to]`.
///
/// A subject's records are read without the upper bound in SQL, and the few
/// beyond it are dropped here: given both bounds of the revision and an
/// order by it, SQLite (3.51) walks the (tenant, revision) index and filters
/// every row of the window by subject, where (tenant, subject, revision)
/// seeks straight to them. Reading past `up_to` is safe: revisions become
/// visible in order, and the rows come in revision order, so every row up to
/// `up_to` comes before the first one past it.
fn within(tenant: &TenantId, subject_id: Option<Uuid>, after: Revision, up_to: Revision) -> Condition {
    use consent_record::Column;

    let condition = Condition::all().add(Column::Tenant.eq(tenant.as_str())).add(Column::Revision.gt(after));
    match subject_id {
        Some(subject_id) => condition.add(Column::SubjectId.eq(subject_id.to_string())),
        None => condition.add(Column::Revision.lte(up_to)),
    }
}

/// The first `limit` records matching `condition` up to `up_to`, by
/// revision: what query pages and feed reads both walk.
async fn in_revision_order<C: ConnectionTrait>(
    db: &C,
    vault: &Vault,
    condition: Condition,
    up_to: Revision,
    limit: u64,
) -> Result<Listed, ConsentError> {
    let mut rows = consent_record::Entity::find()
        .filter(condition)
        .order_by_asc(consent_record::Column::Revision)
        .limit(limit)
        .all(db)
        .await
        .map_err(db_error)?;
    let examined = reached(rows.len(), rows.last().map(|row| row.revision), up_to, limit);
    rows.retain(|row| row.revision <= up_to);
    Ok(Listed { records: open_rows(db, vault, rows).await?, examined })
}

/// The database's id, created on first use.
pub(crate) async fn database_id<C: ConnectionTrait>(db: &C) -> Result<String, ConsentError> {
    crate::admin::meta_value(db, "database_id", || Uuid::now_v7().to_string()).await
}
