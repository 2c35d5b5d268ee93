//! Webhook subscriptions (a cursor into the change feed per subscription, its
//! retry state and a delivery lease) and their delivery log; and the proxy
//! address of a record's evidence (Secure Privacy's `ProxifiedIP`).

use sea_orm_migration::prelude::*;

#[derive(DeriveMigrationName)]
pub(crate) struct Migration;

#[derive(DeriveIden)]
enum ConsentRecords {
    Table,
    ProxyIp,
}

#[derive(DeriveIden)]
enum WebhookSubscriptions {
    Table,
    Id,
    Tenant,
    Format,
    Url,
    FilterJson,
    Cursor,
    State,
    Failures,
    NextAttemptAt,
    LastError,
    LeaseOwner,
    LeaseUntil,
    CreatedAt,
    ParkedAt,
}

#[derive(DeriveIden)]
enum WebhookDeliveries {
    Table,
    Id,
    SubscriptionId,
    Tenant,
    EventId,
    Revision,
    Attempt,
    Outcome,
    StatusCode,
    Error,
    LatencyMs,
    AttemptedAt,
}

fn text<T: IntoIden>(name: T) -> ColumnDef {
    ColumnDef::new(name).text().not_null().to_owned()
}

fn bigint<T: IntoIden>(name: T) -> ColumnDef {
    ColumnDef::new(name).big_integer().not_null().to_owned()
}

#[sea_orm_migration::async_trait::async_trait]
impl MigrationTrait for Migration {
    fn use_transaction(&self) -> Option<bool> {
        Some(true)
    }

    // The trait declares `&SchemaManager` without a lifetime; async_trait needs the same spelling.
    #[allow(elided_lifetimes_in_paths)]
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        add_proxy_ip(manager).await?;
        create_webhook_subscriptions(manager).await?;
        create_webhook_deliveries(manager).await
    }
}

/// The proxy a vendor request came through, beside the client's address.
async fn add_proxy_ip(manager: &SchemaManager<'_>) -> Result<(), DbErr> {
    manager
        .alter_table(
            Table::alter()
                .table(ConsentRecords::Table)
                .add_column(ColumnDef::new(ConsentRecords::ProxyIp).text().not_null().default(""))
                .to_owned(),
        )
        .await
}

/// Webhook subscriptions and their delivery cursors and leases.
async fn create_webhook_subscriptions(manager: &SchemaManager<'_>) -> Result<(), DbErr> {
    manager
        .create_table(
            Table::create()
                .table(WebhookSubscriptions::Table)
                .col(ColumnDef::new(WebhookSubscriptions::Id).text().not_null().primary_key())
                .col(text(WebhookSubscriptions::Tenant))
                // The adapter whose notification format deliveries use.
                .col(text(WebhookSubscriptions::Format))
                .col(text(WebhookSubscriptions::Url))
                .col(text(WebhookSubscriptions::FilterJson))
                // Every matching change up to this revision was delivered.
                .col(bigint(WebhookSubscriptions::Cursor))
                // 'active' or 'parked'.
                .col(text(WebhookSubscriptions::State))
                // Failed attempts at the change after the cursor.
                .col(ColumnDef::new(WebhookSubscriptions::Failures).integer().not_null())
                .col(ColumnDef::new(WebhookSubscriptions::NextAttemptAt).big_integer().null())
                .col(text(WebhookSubscriptions::LastError))
                // The replica delivering this subscription, until lease_until.
                .col(text(WebhookSubscriptions::LeaseOwner))
                .col(bigint(WebhookSubscriptions::LeaseUntil))
                .col(bigint(WebhookSubscriptions::CreatedAt))
                .col(ColumnDef::new(WebhookSubscriptions::ParkedAt).big_integer().null())
                .to_owned(),
        )
        .await?;
    manager
        .create_index(
            Index::create()
                .name("webhook_subscriptions_by_tenant")
                .table(WebhookSubscriptions::Table)
                .col(WebhookSubscriptions::Tenant)
                .col(WebhookSubscriptions::Id)
                .to_owned(),
        )
        .await
}

/// The log of delivery attempts.
async fn create_webhook_deliveries(manager: &SchemaManager<'_>) -> Result<(), DbErr> {
    manager
        .create_table(
            Table::create()
                .table(WebhookDeliveries::Table)
                .col(ColumnDef::new(WebhookDeliveries::Id).text().not_null().primary_key())
                .col(text(WebhookDeliveries::SubscriptionId))
                .col(text(WebhookDeliveries::Tenant))
                .col(text(WebhookDeliveries::EventId))
                .col(bigint(WebhookDeliveries::Revision))
                .col(ColumnDef::new(WebhookDeliveries::Attempt).integer().not_null())
                // 'delivered', 'failed' or 'refused'.
                .col(text(WebhookDeliveries::Outcome))
                .col(ColumnDef::new(WebhookDeliveries::StatusCode).integer().null())
                .col(text(WebhookDeliveries::Error))
                .col(bigint(WebhookDeliveries::LatencyMs))
                .col(bigint(WebhookDeliveries::AttemptedAt))
                .to_owned(),
        )
        .await?;
    manager
        .create_index(
            Index::create()
                .name("webhook_deliveries_by_subscription")
                .table(WebhookDeliveries::Table)
                .col(WebhookDeliveries::SubscriptionId)
                .col(WebhookDeliveries::Id)
                .to_owned(),
        )
        .await?;
    // Retention pruning deletes by age.
    manager
        .create_index(
            Index::create()
                .name("webhook_deliveries_by_age")
                .table(WebhookDeliveries::Table)
                .col(WebhookDeliveries::AttemptedAt)
                .to_owned(),
        )
        .await
}
