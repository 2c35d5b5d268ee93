//! The Global Privacy Control signal as evidence: whether the person's
//! browser sent `Sec-GPC: 1` (or the gRPC caller said it did) when the
//! decision was collected. Records written before are without it (false).

use sea_orm_migration::prelude::*;

#[derive(DeriveMigrationName)]
pub(crate) struct Migration;

#[derive(DeriveIden)]
enum ConsentRecords {
    Table,
    Gpc,
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
            .alter_table(
                Table::alter()
                    .table(ConsentRecords::Table)
                    .add_column(ColumnDef::new(ConsentRecords::Gpc).boolean().not_null().default(false))
                    .to_owned(),
            )
            .await
    }
}
