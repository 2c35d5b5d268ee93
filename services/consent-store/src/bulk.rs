//! Multi-row writes of a group-commit batch: the identity links, the records
//! and the current-state upserts.
//!
//! SQLite takes sea-orm's multi-row `INSERT … VALUES`, a statement a table.
//! PostgreSQL takes one statement of fixed text for all three, the rows
//! passed as JSON. A `VALUES` list has different text for every row count,
//! and a statement the connection has not prepared costs PostgreSQL an extra
//! round trip to parse and describe it (three of those were a fifth of a
//! batch's time); the fixed text is prepared once per connection, and one
//! statement instead of three saves two more round trips a batch.

use sea_orm::sea_query::{Alias, Expr, ExprTrait, OnConflict, Query};
use sea_orm::{ConnectionTrait, DbBackend, EntityTrait, IntoActiveModel, Statement};
use serde::Serialize;

use consent_core::ConsentError;

use crate::entity::{consent_record, consent_state, identity};
use crate::error::db_error;

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
    links: &[identity::Model],
    records: &[consent_record::Model],
    states: &[consent_state::Model],
) -> Result<(), ConsentError> {
    if db.get_database_backend() == DbBackend::Postgres {
        return write_postgres(db, links, records, states).await;
    }
    insert_sqlite::<_, identity::Entity>(db, links).await?;
    insert_sqlite::<_, consent_record::Entity>(db, records).await?;
    upsert_state_sqlite(db, states).await
}

/// PostgreSQL: one statement of fixed text a chunk for all three tables,
/// each table's rows one JSON parameter expanded by
/// `jsonb_populate_recordset` into the table's own row type (which fixes the
/// columns and their order, so the text names none of them). Inserts in
/// `WITH` run to completion whether or not the statement reads them.
async fn write_postgres<C: ConnectionTrait>(
    db: &C,
    links: &[identity::Model],
    records: &[consent_record::Model],
    states: &[consent_state::Model],
) -> Result<(), ConsentError> {
    const WRITE: &str = "WITH linked AS (INSERT INTO identities \
        SELECT * FROM jsonb_populate_recordset(NULL::identities, $1::jsonb)), \
        logged AS (INSERT INTO consent_records \
        SELECT * FROM jsonb_populate_recordset(NULL::consent_records, $2::jsonb)) \
        INSERT INTO consent_state SELECT * FROM jsonb_populate_recordset(NULL::consent_state, $3::jsonb) \
        ON CONFLICT (tenant, subject_id, purpose, target) DO UPDATE SET record_id = excluded.record_id, \
        revision = excluded.revision, collected_at = excluded.collected_at \
        WHERE consent_state.collected_at <= excluded.collected_at";
    let statements = [links.len(), records.len(), states.len()]
        .into_iter()
        .map(|rows| rows.div_ceil(ROWS_PER_STATEMENT))
        .max()
        .unwrap_or(0);
    for index in 0..statements {
        let values = [json_chunk(links, index)?, json_chunk(records, index)?, json_chunk(states, index)?];
        let statement =
            Statement::from_sql_and_values(DbBackend::Postgres, WRITE, values.map(sea_orm::Value::from));
        db.execute_raw(statement).await.map_err(db_error)?;
    }
    Ok(())
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
            ]);
        }
        upsert.on_conflict(
            OnConflict::columns([Column::Tenant, Column::SubjectId, Column::Purpose, Column::Target])
                .update_columns([Column::RecordId, Column::Revision, Column::CollectedAt])
                .action_and_where(
                    Expr::col((consent_state::Entity, Column::CollectedAt))
                        .lte(Expr::col((Alias::new("excluded"), Column::CollectedAt))),
                )
                .to_owned(),
        );
        db.execute(&upsert).await.map_err(db_error)?;
    }
    Ok(())
}
