//! Webhook subscriptions and their delivery log: what the webhook relay and
//! its management API read and write. Not part of the consent API, so not on
//! the `ConsentStore` trait.
//!
//! A subscription's cursor is the last revision delivered; the relay moves it
//! only while it holds the subscription's lease, so one replica at a time
//! delivers a subscription and a cursor never moves backwards under it. An
//! operator's redelivery or a deletion clears the lease, which stops the
//! replica that held it at its next step.

use consent_core::{ConsentError, FeedFilter, Revision, TenantId, Timestamp};
use sea_orm::sea_query::Expr;
use sea_orm::{
    ColumnTrait, Condition, ConnectionTrait, DbBackend, EntityTrait, IntoActiveModel, PaginatorTrait,
    QueryFilter, QueryOrder, QuerySelect, Statement, TransactionTrait,
};
use uuid::Uuid;

use consent_core::webhooks::WebhookStore;

use crate::SqlStore;
use crate::dialect::Dialect;
use crate::entity::{webhook_delivery, webhook_subscription};
use crate::error::db_error;

mod model;

pub use consent_core::webhooks::{
    DeliveryAttempt, DeliveryOutcome, Lease, Progress, WebhookState, WebhookSubscription, event_id,
};

/// The advisory lock class of webhook creation on PostgreSQL (its two-key
/// space is apart from the migrations' one-key lock); the key is the
/// tenant's hash.
const CREATE_LOCK_CLASS: i32 = 0x7765_6268; // "webh"

fn owned_by(id: Uuid, owner: &str) -> Condition {
    Condition::all()
        .add(webhook_subscription::Column::Id.eq(id.to_string()))
        .add(webhook_subscription::Column::LeaseOwner.eq(owner))
        .add(webhook_subscription::Column::State.eq(WebhookState::Active.as_str()))
}

impl WebhookStore for SqlStore {
    /// Creates subscription `id`, which starts with the tenant's next change.
    /// Refused (FAILED_PRECONDITION) when the tenant already has
    /// `max_per_tenant`: the count and the insert are one transaction, and on
    /// PostgreSQL a per-tenant advisory lock keeps concurrent creations from
    /// both passing the count (on SQLite the second writer fails and retries).
    async fn create_webhook(
        &self,
        id: Uuid,
        tenant: &TenantId,
        format: &str,
        url: &str,
        filter: &FeedFilter,
        max_per_tenant: u64,
    ) -> Result<WebhookSubscription, ConsentError> {
        let txn = self.connection().begin().await.map_err(db_error)?;
        if Dialect::of(&txn).needs_explicit_locks() {
            txn.execute_raw(Statement::from_sql_and_values(
                DbBackend::Postgres,
                "SELECT pg_advisory_xact_lock($1, hashtext($2))",
                [CREATE_LOCK_CLASS.into(), tenant.as_str().into()],
            ))
            .await
            .map_err(db_error)?;
        }
        let existing = webhook_subscription::Entity::find()
            .filter(webhook_subscription::Column::Tenant.eq(tenant.as_str()))
            .count(&txn)
            .await
            .map_err(db_error)?;
        if existing >= max_per_tenant {
            return Err(ConsentError::FailedPrecondition {
                reason: "WEBHOOK_LIMIT_REACHED",
                message: format!(
                    "this tenant already has its maximum of {max_per_tenant} webhook subscriptions"
                ),
            });
        }
        let cursor = crate::read::head_revision(&txn, tenant).await?;
        let row = webhook_subscription::Model {
            id: id.to_string(),
            tenant: tenant.as_str().to_owned(),
            format: format.to_owned(),
            url: url.to_owned(),
            filter_json: serde_json::to_string(filter)
                .map_err(|err| ConsentError::Internal(format!("cannot encode a feed filter: {err}")))?,
            cursor,
            state: WebhookState::Active.as_str().to_owned(),
            failures: 0,
            next_attempt_at: None,
            last_error: String::new(),
            lease_owner: String::new(),
            lease_until: 0,
            created_at: Timestamp::now().as_micros(),
            parked_at: None,
        };
        webhook_subscription::Entity::insert(row.clone().into_active_model())
            .exec(&txn)
            .await
            .map_err(db_error)?;
        txn.commit().await.map_err(db_error)?;
        WebhookSubscription::try_from(row)
    }

    /// The tenant's subscription with this id.
    async fn webhook(
        &self,
        tenant: &TenantId,
        id: Uuid,
    ) -> Result<Option<WebhookSubscription>, ConsentError> {
        webhook_subscription::Entity::find_by_id(id.to_string())
            .filter(webhook_subscription::Column::Tenant.eq(tenant.as_str()))
            .one(self.connection())
            .await
            .map_err(db_error)?
            .map(WebhookSubscription::try_from)
            .transpose()
    }

    /// The tenant's subscriptions with an id above `after`, oldest first.
    async fn webhooks(
        &self,
        tenant: &TenantId,
        after: Option<Uuid>,
        limit: u64,
    ) -> Result<Vec<WebhookSubscription>, ConsentError> {
        let mut query = webhook_subscription::Entity::find()
            .filter(webhook_subscription::Column::Tenant.eq(tenant.as_str()));
        if let Some(after) = after {
            query = query.filter(webhook_subscription::Column::Id.gt(after.to_string()));
        }
        let rows = query
            .order_by_asc(webhook_subscription::Column::Id)
            .limit(limit)
            .all(self.connection())
            .await
            .map_err(db_error)?;
        rows.into_iter().map(WebhookSubscription::try_from).collect()
    }

    /// Deletes a subscription and its delivery log; `false` when the tenant
    /// has no such subscription. The replica delivering it stops at its next
    /// step (its lease-guarded updates find no row).
    async fn delete_webhook(&self, tenant: &TenantId, id: Uuid) -> Result<bool, ConsentError> {
        let txn = self.connection().begin().await.map_err(db_error)?;
        let deleted = webhook_subscription::Entity::delete_many()
            .filter(webhook_subscription::Column::Id.eq(id.to_string()))
            .filter(webhook_subscription::Column::Tenant.eq(tenant.as_str()))
            .exec(&txn)
            .await
            .map_err(db_error)?
            .rows_affected;
        if deleted > 0 {
            webhook_delivery::Entity::delete_many()
                .filter(webhook_delivery::Column::SubscriptionId.eq(id.to_string()))
                .exec(&txn)
                .await
                .map_err(db_error)?;
        }
        txn.commit().await.map_err(db_error)?;
        Ok(deleted > 0)
    }

    /// Makes a subscription active again with a clean failure count, from its
    /// cursor or, when `from` is given, after that revision (a replay). The
    /// lease is cleared, so a replica still delivering it stops and the next
    /// claim starts from the new cursor. `None` when the tenant has no such
    /// subscription.
    async fn redeliver_webhook(
        &self,
        tenant: &TenantId,
        id: Uuid,
        from: Option<Revision>,
    ) -> Result<Option<WebhookSubscription>, ConsentError> {
        use webhook_subscription::Column;

        let mut update = webhook_subscription::Entity::update_many()
            .col_expr(Column::State, Expr::value(WebhookState::Active.as_str()))
            .col_expr(Column::Failures, Expr::value(0))
            .col_expr(Column::NextAttemptAt, Expr::value(Option::<i64>::None))
            .col_expr(Column::LastError, Expr::value(""))
            .col_expr(Column::ParkedAt, Expr::value(Option::<i64>::None))
            .col_expr(Column::LeaseOwner, Expr::value(""))
            .col_expr(Column::LeaseUntil, Expr::value(0_i64));
        if let Some(from) = from {
            update = update.col_expr(Column::Cursor, Expr::value(from));
        }
        let updated = update
            .filter(Column::Id.eq(id.to_string()))
            .filter(Column::Tenant.eq(tenant.as_str()))
            .exec(self.connection())
            .await
            .map_err(db_error)?
            .rows_affected;
        if updated == 0 {
            return Ok(None);
        }
        self.webhook(tenant, id).await
    }

    /// One page of a subscription's delivery log, newest first, below
    /// `before` when given.
    async fn webhook_deliveries(
        &self,
        tenant: &TenantId,
        subscription_id: Uuid,
        before: Option<Uuid>,
        limit: u64,
    ) -> Result<Vec<DeliveryAttempt>, ConsentError> {
        let mut query = webhook_delivery::Entity::find()
            .filter(webhook_delivery::Column::Tenant.eq(tenant.as_str()))
            .filter(webhook_delivery::Column::SubscriptionId.eq(subscription_id.to_string()));
        if let Some(before) = before {
            query = query.filter(webhook_delivery::Column::Id.lt(before.to_string()));
        }
        let rows = query
            .order_by_desc(webhook_delivery::Column::Id)
            .limit(limit)
            .all(self.connection())
            .await
            .map_err(db_error)?;
        rows.into_iter().map(DeliveryAttempt::try_from).collect()
    }

    /// Active subscriptions this replica holds or may claim (their lease
    /// expired or was released), oldest first.
    async fn claimable_webhooks(&self, lease: Lease<'_>) -> Result<Vec<WebhookSubscription>, ConsentError> {
        use webhook_subscription::Column;

        let rows = webhook_subscription::Entity::find()
            .filter(Column::State.eq(WebhookState::Active.as_str()))
            .filter(
                Condition::any()
                    .add(Column::LeaseOwner.eq(lease.owner))
                    .add(Column::LeaseUntil.lt(lease.now.as_micros())),
            )
            .order_by_asc(Column::Id)
            .all(self.connection())
            .await
            .map_err(db_error)?;
        rows.into_iter().map(WebhookSubscription::try_from).collect()
    }

    /// Claims or renews the lease of an active subscription: succeeds when
    /// this replica holds it or nobody does (an expired lease counts as
    /// none). One conditional update, so two replicas cannot both succeed.
    /// Returns the subscription as it is now, if the lease is ours.
    async fn claim_webhook(
        &self,
        id: Uuid,
        lease: Lease<'_>,
    ) -> Result<Option<WebhookSubscription>, ConsentError> {
        use webhook_subscription::Column;

        let claimed = webhook_subscription::Entity::update_many()
            .col_expr(Column::LeaseOwner, Expr::value(lease.owner))
            .col_expr(Column::LeaseUntil, Expr::value(lease.until.as_micros()))
            .filter(Column::Id.eq(id.to_string()))
            .filter(Column::State.eq(WebhookState::Active.as_str()))
            .filter(
                Condition::any()
                    .add(Column::LeaseOwner.eq(lease.owner))
                    .add(Column::LeaseUntil.lt(lease.now.as_micros())),
            )
            .exec(self.connection())
            .await
            .map_err(db_error)?
            .rows_affected;
        if claimed == 0 {
            return Ok(None);
        }
        webhook_subscription::Entity::find_by_id(id.to_string())
            .one(self.connection())
            .await
            .map_err(db_error)?
            .map(WebhookSubscription::try_from)
            .transpose()
    }

    /// Extends the lease this replica holds; `false` when it no longer
    /// holds it (a redelivery or deletion cleared it, or it was parked).
    async fn renew_webhook(&self, id: Uuid, lease: Lease<'_>) -> Result<bool, ConsentError> {
        Ok(webhook_subscription::Entity::update_many()
            .col_expr(webhook_subscription::Column::LeaseUntil, Expr::value(lease.until.as_micros()))
            .filter(owned_by(id, lease.owner))
            .exec(self.connection())
            .await
            .map_err(db_error)?
            .rows_affected
            > 0)
    }

    /// Gives up every lease `owner` holds (on shutdown), so another replica
    /// takes over at once.
    async fn release_webhooks(&self, owner: &str) -> Result<(), ConsentError> {
        use webhook_subscription::Column;

        webhook_subscription::Entity::update_many()
            .col_expr(Column::LeaseOwner, Expr::value(""))
            .col_expr(Column::LeaseUntil, Expr::value(0_i64))
            .filter(Column::LeaseOwner.eq(owner))
            .exec(self.connection())
            .await
            .map_err(db_error)?;
        Ok(())
    }

    /// Logs an attempt and applies its progress to the subscription, in one
    /// transaction, if this replica still holds the lease. Returns whether it
    /// did: `false` means the lease was lost (taken over, released by a
    /// redelivery, or the subscription deleted or parked), the attempt is not
    /// logged, and the caller must stop.
    async fn record_delivery(
        &self,
        attempt: &DeliveryAttempt,
        tenant: &TenantId,
        owner: &str,
        progress: &Progress,
    ) -> Result<bool, ConsentError> {
        use webhook_subscription::Column;

        let failures = i32::try_from(attempt.attempt).unwrap_or(i32::MAX);
        let txn = self.connection().begin().await.map_err(db_error)?;
        let mut update = webhook_subscription::Entity::update_many();
        update = match progress {
            Progress::Delivered => update
                .col_expr(Column::Cursor, Expr::value(attempt.revision))
                .col_expr(Column::Failures, Expr::value(0))
                .col_expr(Column::NextAttemptAt, Expr::value(Option::<i64>::None))
                .col_expr(Column::LastError, Expr::value("")),
            Progress::Retry { next_attempt_at } => update
                .col_expr(Column::Failures, Expr::value(failures))
                .col_expr(Column::NextAttemptAt, Expr::value(next_attempt_at.as_micros()))
                .col_expr(Column::LastError, Expr::value(attempt.error.as_str())),
            Progress::Park => update
                .col_expr(Column::Failures, Expr::value(failures))
                .col_expr(Column::NextAttemptAt, Expr::value(Option::<i64>::None))
                .col_expr(Column::LastError, Expr::value(attempt.error.as_str()))
                .col_expr(Column::State, Expr::value(WebhookState::Parked.as_str()))
                .col_expr(Column::ParkedAt, Expr::value(attempt.attempted_at.as_micros()))
                .col_expr(Column::LeaseOwner, Expr::value(""))
                .col_expr(Column::LeaseUntil, Expr::value(0_i64)),
        };
        let held = update
            .filter(owned_by(attempt.subscription_id, owner))
            .exec(&txn)
            .await
            .map_err(db_error)?
            .rows_affected
            > 0;
        if !held {
            txn.rollback().await.map_err(db_error)?;
            return Ok(false);
        }
        let row = webhook_delivery::Model {
            id: attempt.id.to_string(),
            subscription_id: attempt.subscription_id.to_string(),
            tenant: tenant.as_str().to_owned(),
            event_id: attempt.event_id.to_string(),
            revision: attempt.revision,
            attempt: i32::try_from(attempt.attempt).unwrap_or(i32::MAX),
            outcome: attempt.outcome.as_str().to_owned(),
            status_code: attempt.status_code.map(i32::from),
            error: attempt.error.clone(),
            latency_ms: i64::try_from(attempt.latency_ms).unwrap_or(i64::MAX),
            attempted_at: attempt.attempted_at.as_micros(),
        };
        webhook_delivery::Entity::insert(row.into_active_model()).exec(&txn).await.map_err(db_error)?;
        txn.commit().await.map_err(db_error)?;
        Ok(true)
    }

    /// Deletes delivery log entries older than `before`; returns how many.
    async fn prune_deliveries(&self, before: Timestamp) -> Result<u64, ConsentError> {
        Ok(webhook_delivery::Entity::delete_many()
            .filter(webhook_delivery::Column::AttemptedAt.lt(before.as_micros()))
            .exec(self.connection())
            .await
            .map_err(db_error)?
            .rows_affected)
    }

    /// A count over the subscriptions table, which holds at most
    /// `max_per_tenant` rows per tenant: as cheap as the claim query each
    /// relay poll already makes.
    async fn parked_webhooks(&self) -> Result<u64, ConsentError> {
        webhook_subscription::Entity::find()
            .filter(webhook_subscription::Column::State.eq(WebhookState::Parked.as_str()))
            .count(self.connection())
            .await
            .map_err(db_error)
    }
}
