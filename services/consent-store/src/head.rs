//! Each tenant's head revision: the counter every write takes its
//! revisions from, whose row lock serialises the tenant's writers until
//! commit.

use consent_core::{ConsentError, Revision, TenantId};
use sea_orm::ConnectionTrait;
use sea_orm::sea_query::{Expr, ExprTrait, OnConflict, Query};

use crate::entity::tenant_head;
use crate::error::db_error;

/// Takes `count` revisions from the tenant's counter and returns the new head.
/// The upsert locks the row until the transaction ends.
pub(crate) async fn advance_head<C: ConnectionTrait>(
    db: &C,
    tenant: &TenantId,
    count: usize,
) -> Result<Revision, ConsentError> {
    let count = i64::try_from(count).unwrap_or(i64::MAX);
    let statement = Query::insert()
        .into_table(tenant_head::Entity)
        .columns([tenant_head::Column::Tenant, tenant_head::Column::Head])
        .values_panic([tenant.as_str().into(), count.into()])
        .on_conflict(
            OnConflict::column(tenant_head::Column::Tenant)
                .value(
                    tenant_head::Column::Head,
                    Expr::col((tenant_head::Entity, tenant_head::Column::Head)).add(count),
                )
                .to_owned(),
        )
        .returning_col(tenant_head::Column::Head)
        .to_owned();
    let row = db
        .query_one(&statement)
        .await
        .map_err(db_error)?
        .ok_or_else(|| ConsentError::Internal("head upsert returned no row".to_owned()))?;
    row.try_get::<i64>("", "head").map_err(db_error)
}
