//! `store_meta`: facts about the database itself, such as its id (which
//! resume tokens carry so a token from another database is rejected).

use sea_orm_migration::prelude::*;

#[derive(DeriveMigrationName)]
pub(crate) struct Migration;

#[derive(DeriveIden)]
enum StoreMeta {
    Table,
    Key,
    Value,
}

#[sea_orm_migration::async_trait::async_trait]
impl MigrationTrait for Migration {
    // SQLite runs DDL transactionally too: a crash mid-migration leaves no
    // half-built schema behind.
    fn use_transaction(&self) -> Option<bool> {
        Some(true)
    }

    // The trait declares `&SchemaManager` without a lifetime; async_trait needs the same spelling.
    #[allow(elided_lifetimes_in_paths)]
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table(StoreMeta::Table)
                    .col(ColumnDef::new(StoreMeta::Key).text().not_null().primary_key())
                    .col(ColumnDef::new(StoreMeta::Value).text().not_null())
                    .to_owned(),
            )
            .await
    }
}
