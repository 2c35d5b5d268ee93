//! Keys bound to a vendor account, and the browser origins allowed on an
//! account:
//!
//! - `api_keys.vendor`, `api_keys.external_id`: the vendor account a
//!   publishable key (`pk_…`) records for, or that an imported vendor key
//!   (`vk_…`, a client's existing credential) is bound to; null for
//!   ordinary keys (`ck_…`), which act for their whole tenant.
//! - `api_keys.origins`: the browser origins a publishable key may be used
//!   from, space-separated.
//! - `binding_origins`: the browser origins allowed on a bound vendor
//!   account (`consentd tenants bind … --origin`), which CORS answers for.

use sea_orm_migration::prelude::*;

#[derive(DeriveMigrationName)]
pub(crate) struct Migration;

#[derive(DeriveIden)]
enum ApiKeys {
    Table,
    Vendor,
    ExternalId,
    Origins,
}

#[derive(DeriveIden)]
enum BindingOrigins {
    Table,
    Vendor,
    ExternalId,
    Origin,
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
        // One column per statement: SQLite alters one thing at a time.
        let columns = [
            ColumnDef::new(ApiKeys::Vendor).string().null().to_owned(),
            ColumnDef::new(ApiKeys::ExternalId).string().null().to_owned(),
            ColumnDef::new(ApiKeys::Origins).text().not_null().default("").to_owned(),
        ];
        for mut column in columns {
            manager
                .alter_table(Table::alter().table(ApiKeys::Table).add_column(&mut column).to_owned())
                .await?;
        }
        manager
            .create_table(
                Table::create()
                    .table(BindingOrigins::Table)
                    .if_not_exists()
                    .col(ColumnDef::new(BindingOrigins::Vendor).string().not_null())
                    .col(ColumnDef::new(BindingOrigins::ExternalId).string().not_null())
                    .col(ColumnDef::new(BindingOrigins::Origin).string().not_null())
                    .col(ColumnDef::new(BindingOrigins::CreatedAt).big_integer().not_null())
                    .primary_key(
                        Index::create()
                            .col(BindingOrigins::Vendor)
                            .col(BindingOrigins::ExternalId)
                            .col(BindingOrigins::Origin),
                    )
                    .to_owned(),
            )
            .await
    }
}
