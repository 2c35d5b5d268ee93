//! Multi-row writes of a group-commit batch: the identity links, the records
//! and the current-state upserts.
//!
//! SQLite takes sea-orm's multi-row `INSERT … VALUES`, a statement a table.
//! PostgreSQL takes one statement of fixed text for all three, the rows
//! passed as JSON (keyed by column name). A `VALUES` list has different text
//! for every row count, and a statement the connection has not prepared
//! costs PostgreSQL an extra round trip to parse and describe it (three of
//! those were a fifth of a batch's time); the fixed text is prepared once per
//! connection, and one statement instead of three saves two more round trips
//! a batch.

use std::sync::LazyLock;

use sea_orm::sea_query::{OnConflict, Query};
use sea_orm::{ConnectionTrait, DbBackend, EntityTrait, IdenStatic, IntoActiveModel, Iterable, Statement};
use serde::Serialize;

use consent_core::ConsentError;

use crate::dialect::Dialect;
use crate::entity::{consent_record, consent_state, identity, subject_key};
use crate::error::db_error;
use crate::rule;

/// Rows per statement: on SQLite well under its limit on bound parameters
/// (27 per record row); on PostgreSQL it bounds the JSON parameters.
pub(crate) const ROWS_PER_STATEMENT: usize = 500;

/// Writes new identity links and records, and moves the current state of
/// each key in `states` to its row unless the state already holds a
/// decision collected later (on a tie the new record, with the higher
/// revision, wins). At most one state row per key: an upsert may touch a row
/// once per statement. A duplicate link or record fails the write.
pub(crate) async fn write<C: ConnectionTrait>(
    db: &C,
    keys: &[subject_key::Model],
    links: &[identity::Model],
    records: &[consent_record::Model],
    states: &[consent_state::Model],
) -> Result<(), ConsentError> {
    if Dialect::of(db).rows_as_json() {
        return write_postgres(db, keys, links, records, states).await;
    }
    insert_sqlite::<_, subject_key::Entity>(db, keys).await?;
    insert_sqlite::<_, identity::Entity>(db, links).await?;
    insert_sqlite::<_, consent_record::Entity>(db, records).await?;
    upsert_state_sqlite(db, states).await
}

/// Inserts rows of one table: on PostgreSQL one statement of fixed text a
/// chunk (the rows one JSON parameter), which the server plans once; on
/// SQLite `VALUES` lists.
pub(crate) async fn insert<C, E>(db: &C, rows: &[E::Model]) -> Result<(), ConsentError>
where
    C: ConnectionTrait,
    E: EntityTrait,
    E::Model: IntoActiveModel<E::ActiveModel> + Serialize,
{
    if !Dialect::of(db).rows_as_json() {
        return insert_sqlite::<_, E>(db, rows).await;
    }
    let sql = insert_from_json::<E>("$1");
    for index in 0..rows.len().div_ceil(ROWS_PER_STATEMENT) {
        let statement = Statement::from_sql_and_values(
            DbBackend::Postgres,
            sql.as_str(),
            [json_chunk(rows, index)?.into()],
        );
        db.execute_raw(statement).await.map_err(db_error)?;
    }
    Ok(())
}

/// PostgreSQL: one statement of fixed text a chunk for all four tables,
/// each table's rows one JSON parameter expanded by
/// `jsonb_populate_recordset` into the table's row type. Inserts in `WITH`
/// run to completion whether or not the statement reads them.
async fn write_postgres<C: ConnectionTrait>(
    db: &C,
    keys: &[subject_key::Model],
    links: &[identity::Model],
    records: &[consent_record::Model],
    states: &[consent_state::Model],
) -> Result<(), ConsentError> {
    static WRITE: LazyLock<String> = LazyLock::new(|| {
        format!(
            "WITH keyed AS ({}), linked AS ({}), logged AS ({}) {} ON CONFLICT (tenant, subject_id, purpose, target) \
             DO UPDATE SET record_id = excluded.record_id, revision = excluded.revision, \
             collected_at = excluded.collected_at, expires_at = excluded.expires_at, \
             expired = excluded.expired WHERE {}",
            insert_from_json::<subject_key::Entity>("$4"),
            insert_from_json::<identity::Entity>("$1"),
            insert_from_json::<consent_record::Entity>("$2"),
            insert_from_json::<consent_state::Entity>("$3"),
            rule::STATE_REPLACED_WHEN,
        )
    });
    let statements = [links.len(), records.len(), states.len(), keys.len()]
        .into_iter()
        .map(|rows| rows.div_ceil(ROWS_PER_STATEMENT))
        .max()
        .unwrap_or(0);
    for index in 0..statements {
        let values = [
            json_chunk(links, index)?,
            json_chunk(records, index)?,
            json_chunk(states, index)?,
            json_chunk(keys, index)?,
        ];
        let statement = Statement::from_sql_and_values(
            DbBackend::Postgres,
            WRITE.as_str(),
            values.map(sea_orm::Value::from),
        );
        db.execute_raw(statement).await.map_err(db_error)?;
    }
    Ok(())
}

/// `INSERT INTO t (columns) SELECT columns FROM jsonb_populate_recordset(…)`
/// with the entity's columns named on both sides: a column this version does
/// not know (added by a later migration, during a rolling upgrade) gets its
/// default, not the NULL the row type would give it.
fn insert_from_json<E: EntityTrait>(parameter: &str) -> String {
    let table = E::default().table_name().to_owned();
    let columns: Vec<&str> = E::Column::iter().map(|column| column.as_str()).collect();
    let columns = columns.join(", ");
    format!(
        "INSERT INTO {table} ({columns}) SELECT {columns} FROM jsonb_populate_recordset(NULL::{table}, {parameter}::jsonb)"
    )
}

/// The `index`th chunk of `rows` as a JSON array (empty past the end), the
/// column names as keys.
fn json_chunk<M: Serialize>(rows: &[M], index: usize) -> Result<String, ConsentError> {
    let chunk = rows.chunks(ROWS_PER_STATEMENT).nth(index).unwrap_or_default();
    serde_json::to_string(chunk)
        .map_err(|err| ConsentError::Internal(format!("rows do not serialise: {err}")))
}

async fn insert_sqlite<C, E>(db: &C, rows: &[E::Model]) -> Result<(), ConsentError>
where
    C: ConnectionTrait,
    E: EntityTrait,
    E::Model: IntoActiveModel<E::ActiveModel>,
{
    for chunk in rows.chunks(ROWS_PER_STATEMENT) {
        let models = chunk.iter().cloned().map(IntoActiveModel::into_active_model);
        E::insert_many(models).exec(db).await.map_err(db_error)?;
    }
    Ok(())
}

async fn upsert_state_sqlite<C: ConnectionTrait>(
    db: &C,
    rows: &[consent_state::Model],
) -> Result<(), ConsentError> {
    use consent_state::Column;

    for chunk in rows.chunks(ROWS_PER_STATEMENT) {
        let mut upsert = Query::insert()
            .into_table(consent_state::Entity)
            .columns([
                Column::Tenant,
                Column::SubjectId,
                Column::Purpose,
                Column::Target,
                Column::RecordId,
                Column::Revision,
                Column::CollectedAt,
                Column::ExpiresAt,
                Column::Expired,
            ])
            .to_owned();
        for row in chunk {
            upsert.values_panic([
                row.tenant.as_str().into(),
                row.subject_id.as_str().into(),
                row.purpose.as_str().into(),
                row.target.as_str().into(),
                row.record_id.as_str().into(),
                row.revision.into(),
                row.collected_at.into(),
                row.expires_at.into(),
                row.expired.into(),
            ]);
        }
        upsert.on_conflict(
            OnConflict::columns([Column::Tenant, Column::SubjectId, Column::Purpose, Column::Target])
                .update_columns([
                    Column::RecordId,
                    Column::Revision,
                    Column::CollectedAt,
                    Column::ExpiresAt,
                    Column::Expired,
                ])
                .action_and_where(rule::state_replaced_when())
                .to_owned(),
        );
        db.execute(&upsert).await.map_err(db_error)?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeSet;

    use sea_orm::{ConnectionTrait, EntityTrait, IdenStatic, Iterable, PaginatorTrait};
    use serde::Serialize;

    use super::{ROWS_PER_STATEMENT, write};
    use crate::entity::{consent_record, consent_state, identity};
    use crate::testing::{Backend, TestDatabase};
    use crate::{SqlStore, StoreOptions};

    /// The PostgreSQL statement takes each row's values by column name: the
    /// serialised models must carry exactly the columns (a serde or sea-orm
    /// rename would otherwise write NULL or fail).
    fn keys_are_columns<E: EntityTrait>(model: &E::Model)
    where
        E::Model: Serialize,
    {
        let json = serde_json::to_value(model).unwrap();
        let keys: BTreeSet<String> = json.as_object().unwrap().keys().cloned().collect();
        let columns: BTreeSet<String> = E::Column::iter().map(|c| c.as_str().to_owned()).collect();
        assert_eq!(keys, columns);
    }

    fn rows(count: usize) -> (Vec<identity::Model>, Vec<consent_record::Model>, Vec<consent_state::Model>) {
        let mut links = Vec::new();
        let mut records = Vec::new();
        let mut states = Vec::new();
        for i in 0..count {
            let revision = i64::try_from(i).unwrap() + 1;
            let subject_id = uuid::Uuid::now_v7().to_string();
            let id = uuid::Uuid::now_v7().to_string();
            links.push(identity::Model {
                tenant: "t".to_owned(),
                namespace: "user_id".to_owned(),
                value: format!("it's \"{i}\" ü"),
                subject_id: subject_id.clone(),
                linked_revision: revision,
            });
            records.push(consent_record::Model {
                id: id.clone(),
                tenant: "t".to_owned(),
                revision,
                subject_id: subject_id.clone(),
                identities: "[]".to_owned(),
                purpose: "p".to_owned(),
                target: String::new(),
                decision: "granted".to_owned(),
                collected_at: 1_796_189_313_925_656,
                expires_at: (i % 2 == 0).then_some(i64::MAX),
                recorded_at: 1_796_189_313_925_656,
                source: "s".to_owned(),
                kind: "recorded".to_owned(),
                user_agent: String::new(),
                ip: String::new(),
                proxy_ip: String::new(),
                gpc: false,
                uri: String::new(),
                country: String::new(),
                region: String::new(),
                city: String::new(),
                notice_version: String::new(),
                policy_version: String::new(),
                message: String::new(),
                metadata_json: String::new(),
                consent_id: String::new(),
                vendor: String::new(),
                payload_digest: String::new(),
                tc_string: "CPXxRfAPXxRfAAfKABENB-CgAAAAAAAAAAYgAAAAAAAA".to_owned(),
                gpp_string: String::new(),
                implied_by: "tcf".to_owned(),
                gpc_conflict: true,
                removed: String::new(),
                leaf_hash: String::new(),
            });
            states.push(consent_state::Model {
                tenant: "t".to_owned(),
                subject_id,
                purpose: "p".to_owned(),
                target: String::new(),
                record_id: id,
                revision,
                collected_at: 1_796_189_313_925_656,
                expires_at: None,
                expired: false,
            });
        }
        (links, records, states)
    }

    /// A fresh, migrated database (dropped with the first value).
    async fn migrated(backend: Backend) -> (TestDatabase, SqlStore) {
        let database = TestDatabase::new(backend).await;
        let store = SqlStore::connect(&StoreOptions::new(database.url.clone())).await.unwrap();
        store.migrate().await.unwrap();
        (database, store)
    }

    #[test]
    fn serialised_models_carry_exactly_their_columns() {
        let (links, records, states) = rows(1);
        keys_are_columns::<identity::Entity>(&links[0]);
        keys_are_columns::<consent_record::Entity>(&records[0]);
        keys_are_columns::<consent_state::Entity>(&states[0]);
    }

    /// More rows than one statement takes, with quotes and non-ASCII text
    /// and the extremes of the integer columns: every row lands as written.
    async fn every_row_of_every_chunk_lands(backend: Backend) {
        let (_database, store) = migrated(backend).await;
        let count = ROWS_PER_STATEMENT * 2 + 7;
        let (links, records, states) = rows(count);
        write(&store.parts.db, &[], &links, &records, &states).await.unwrap();
        assert_eq!(identity::Entity::find().count(&store.parts.db).await.unwrap(), count as u64);
        assert_eq!(consent_state::Entity::find().count(&store.parts.db).await.unwrap(), count as u64);
        let mut stored = consent_record::Entity::find().all(&store.parts.db).await.unwrap();
        stored.sort_by_key(|r| r.revision);
        assert_eq!(stored, records);
        let mut stored_links = identity::Entity::find().all(&store.parts.db).await.unwrap();
        stored_links.sort_by_key(|l| l.linked_revision);
        assert_eq!(stored_links, links);
    }

    /// A later migration adds a column with a default while replicas of this
    /// version still write (a rolling upgrade): their rows get the default.
    async fn a_column_added_later_gets_its_default(backend: Backend) {
        let (_database, store) = migrated(backend).await;
        for table in ["subject_keys", "identities", "consent_records", "consent_state"] {
            store
                .parts
                .db
                .execute_unprepared(&format!(
                    "ALTER TABLE {table} ADD COLUMN added_later TEXT NOT NULL DEFAULT 'x'"
                ))
                .await
                .unwrap();
        }
        let (links, records, states) = rows(3);
        write(&store.parts.db, &[], &links, &records, &states).await.unwrap();
        assert_eq!(consent_record::Entity::find().count(&store.parts.db).await.unwrap(), 3);
    }

    #[tokio::test]
    async fn sqlite_a_column_added_later_gets_its_default() {
        a_column_added_later_gets_its_default(Backend::Sqlite).await;
    }

    #[tokio::test]
    async fn postgres_a_column_added_later_gets_its_default() {
        a_column_added_later_gets_its_default(Backend::Postgres).await;
    }

    #[tokio::test]
    async fn sqlite_every_row_of_every_chunk_lands() {
        every_row_of_every_chunk_lands(Backend::Sqlite).await;
    }

    #[tokio::test]
    async fn postgres_every_row_of_every_chunk_lands() {
        every_row_of_every_chunk_lands(Backend::Postgres).await;
    }
}
