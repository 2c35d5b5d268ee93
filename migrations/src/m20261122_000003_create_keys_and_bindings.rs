//! API keys (only a keyed hash of each secret is stored) and tenant bindings
//! (which vendor account ids belong to which tenant).

use sea_orm_migration::prelude::*;

#[derive(DeriveMigrationName)]
pub(crate) struct Migration;

#[derive(DeriveIden)]
enum ApiKeys {
    Table,
    Id,
    Tenant,
    Hash,
    Scopes,
    CreatedAt,
    RevokedAt,
}

#[derive(DeriveIden)]
enum TenantBindings {
    Table,
    Vendor,
    ExternalId,
    Tenant,
    CreatedAt,
}

#[sea_orm_migration::async_trait::async_trait]
impl MigrationTrait for Migration {
    fn use_transaction(&self) -> Option<bool> {
        Some(true)
    }

    // The trait declares `&SchemaManager` without a lifetime; async_trait needs the same spelling.
    #[allow(elided_lifetimes_in_paths)]
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table(ApiKeys::Table)
                    // The key's public prefix.
                    .col(ColumnDef::new(ApiKeys::Id).text().not_null().primary_key())
                    .col(ColumnDef::new(ApiKeys::Tenant).text().not_null())
                    // HMAC-SHA256 of the secret part, hex.
                    .col(ColumnDef::new(ApiKeys::Hash).text().not_null())
                    // Space-separated scopes.
                    .col(ColumnDef::new(ApiKeys::Scopes).text().not_null())
                    .col(ColumnDef::new(ApiKeys::CreatedAt).big_integer().not_null())
                    .col(ColumnDef::new(ApiKeys::RevokedAt).big_integer().null())
                    .to_owned(),
            )
            .await?;
        // An external id belongs to exactly one tenant.
        manager
            .create_table(
                Table::create()
                    .table(TenantBindings::Table)
                    .col(ColumnDef::new(TenantBindings::Vendor).text().not_null())
                    .col(ColumnDef::new(TenantBindings::ExternalId).text().not_null())
                    .col(ColumnDef::new(TenantBindings::Tenant).text().not_null())
                    .col(ColumnDef::new(TenantBindings::CreatedAt).big_integer().not_null())
                    .primary_key(Index::create().col(TenantBindings::Vendor).col(TenantBindings::ExternalId))
                    .to_owned(),
            )
            .await
    }
}
