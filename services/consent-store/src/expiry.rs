//! Expiry on the change feed. When the `expires_at` of a current record
//! passes, checks already answer `EXPIRED`; subscribers, who keep their own
//! copy of the state, learn it from an `expired` record appended to the log
//! — a revision like any other, so `Subscribe` and webhooks deliver it in
//! order and resumably.
//!
//! A sweeper on every replica looks, every `interval`, for current-state
//! rows whose expiry is due and not yet announced, and hands each tenant's
//! to the group committer as one [`ExpireDue`] write. That write re-reads
//! the due rows under the tenant's head lock, so an expiry two replicas
//! found at once is announced once, and revisions stay gapless (it takes as
//! many as it announces, after the batch's other writes of the tenant).
//! An announced row is marked; a new record for the key clears the mark.

use consent_core::{
    ConsentError, ConsentRecord, EventKind, ExpireDue, Revision, TenantId, Timestamp, WriteCommand,
    WriteOutcome,
};
use sea_orm::sea_query::Expr;
use sea_orm::{ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter, QueryOrder, QuerySelect};
use uuid::Uuid;

use crate::convert::{open_rows, to_row};
use crate::entity::{consent_record, consent_state};
use crate::error::db_error;
use crate::head::advance_head;
use crate::keys::Sealing;
use crate::new_keys::keys_for_writing;
use crate::{SqlStore, bulk, read};

/// The most expiries one write announces: a tenant with more due takes
/// several writes in a row.
pub(crate) const EXPIRIES_PER_WRITE: usize = 1000;

/// Tenants looked at per sweep.
const TENANTS_PER_SWEEP: u64 = 256;

/// Every tenant with an expiry due at `now` that was not announced.
pub(crate) async fn due_tenants<C: ConnectionTrait>(
    db: &C,
    now: Timestamp,
) -> Result<Vec<TenantId>, ConsentError> {
    use consent_state::Column;

    let tenants: Vec<String> = consent_state::Entity::find()
        .select_only()
        .column(Column::Tenant)
        .distinct()
        .filter(Column::Expired.eq(false))
        .filter(Column::ExpiresAt.lte(now.as_micros()))
        .limit(TENANTS_PER_SWEEP)
        .into_tuple()
        .all(db)
        .await
        .map_err(db_error)?;
    Ok(tenants.into_iter().map(TenantId::new).collect())
}

/// Announces the due expiries of `tenant` (see [`ExpireDue`]), from
/// `first_revision` on. The caller holds the tenant's head lock and took no
/// revisions for this write: it takes its own here.
pub(crate) async fn expire_due<C: ConnectionTrait>(
    db: &C,
    vault: &Sealing,
    tenant: &TenantId,
    cmd: &ExpireDue,
    first_revision: Revision,
    now: Timestamp,
) -> Result<WriteOutcome, ConsentError> {
    use consent_state::Column;

    let due: Vec<String> = consent_state::Entity::find()
        .select_only()
        .column(Column::RecordId)
        .filter(Column::Tenant.eq(tenant.as_str()))
        .filter(Column::Expired.eq(false))
        .filter(Column::ExpiresAt.lte(cmd.up_to.as_micros()))
        .order_by_asc(Column::ExpiresAt)
        .order_by_asc(Column::Revision)
        .limit(u64::try_from(cmd.limit.clamp(1, EXPIRIES_PER_WRITE)).unwrap_or(1))
        .into_tuple()
        .all(db)
        .await
        .map_err(db_error)?;
    let nothing = WriteOutcome {
        subject_id: Uuid::nil(),
        records: Vec::new(),
        revision: first_revision - 1,
        conflicting_identities: Vec::new(),
    };
    if due.is_empty() {
        return Ok(nothing);
    }
    let expired = announcements(db, vault, tenant, &due, first_revision, now).await?;
    let count = expired.len();
    advance_head(db, tenant, count).await?;
    // The log only: the current record stays the one that expired.
    // A subject whose records predate sealing gets its key here.
    let keys = keys_for_writing(db, vault, tenant, expired.iter().map(|record| record.subject_id)).await?;
    let rows: Vec<consent_record::Model> =
        expired.iter().map(|record| to_row(record, vault, &keys)).collect::<Result<_, _>>()?;
    bulk::write(db, &[], &[], &rows, &[]).await?;
    // The due-expiry index finds the rows (record ids have none here).
    consent_state::Entity::update_many()
        .col_expr(Column::Expired, Expr::value(true))
        .filter(Column::Expired.eq(false))
        .filter(Column::ExpiresAt.lte(cmd.up_to.as_micros()))
        .filter(Column::Tenant.eq(tenant.as_str()))
        .filter(Column::RecordId.is_in(due))
        .exec(db)
        .await
        .map_err(db_error)?;
    let revision = first_revision + i64::try_from(count).unwrap_or(i64::MAX) - 1;
    let subject_id = expired.first().map_or(Uuid::nil(), |record| record.subject_id);
    Ok(WriteOutcome { subject_id, records: expired, revision, ..nothing })
}

/// The `expired` records announcing the records `ids` (in that order), with
/// revisions from `first_revision` on.
async fn announcements<C: ConnectionTrait>(
    db: &C,
    vault: &Sealing,
    tenant: &TenantId,
    ids: &[String],
    first_revision: Revision,
    now: Timestamp,
) -> Result<Vec<ConsentRecord>, ConsentError> {
    // By primary key alone (see `read::records_by_id`): with the tenant in
    // the condition PostgreSQL walked the tenant's records instead, seconds
    // for 100,000 of them.
    let rows = read::records_by_id(db, tenant, ids.to_vec(), sea_orm::Condition::all()).await?;
    let mut records = open_rows(db, vault, rows).await?;
    let order: std::collections::HashMap<&str, usize> =
        ids.iter().enumerate().map(|(index, id)| (id.as_str(), index)).collect();
    records.sort_by_cached_key(|record| order.get(record.id.to_string().as_str()).copied());
    Ok(records
        .into_iter()
        .zip(first_revision..)
        .map(|(record, revision)| ConsentRecord {
            id: Uuid::now_v7(),
            recorded_at: now,
            revision,
            kind: EventKind::Expired,
            ..record
        })
        .collect())
}

/// One round of the sweeper (see the module documentation).
pub(crate) async fn sweep(store: SqlStore) {
    let now = Timestamp::now();
    let tenants = match due_tenants(store.connection(), now).await {
        Ok(tenants) => tenants,
        Err(err) => {
            tracing::warn!(error = %err, "cannot look for due expiries");
            return;
        }
    };
    for tenant in tenants {
        announce(&store, &tenant, now).await;
    }
}

/// Announces every expiry of `tenant` due at `now`, a write at a time.
async fn announce(store: &SqlStore, tenant: &TenantId, now: Timestamp) {
    loop {
        let command = WriteCommand::Expire(ExpireDue { up_to: now, limit: EXPIRIES_PER_WRITE });
        match store.parts.writer.write(tenant, command).await {
            Ok(outcome) if outcome.records.len() == EXPIRIES_PER_WRITE => {}
            Ok(_) => return,
            Err(err) => {
                tracing::warn!(error = %err, tenant = tenant.as_str(), "cannot announce expiries");
                return;
            }
        }
    }
}
