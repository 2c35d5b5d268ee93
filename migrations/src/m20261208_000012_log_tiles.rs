//! The verifiable log's stored hashes as tiles (c2sp.org/tlog-tiles, height
//! 8): one row of up to 256 hashes of one level of the tree, where
//! `log_hashes` took a row for each hash (about two per record). The logs
//! are rebuilt from the records by the builder: their leaves are
//! deterministic (the salts and the commitments kept by erasure are in the
//! database), so the trees, and every checkpoint already signed, are the
//! same.

use sea_orm_migration::prelude::*;

#[derive(DeriveMigrationName)]
pub(crate) struct Migration;

#[derive(DeriveIden)]
enum LogTiles {
    Table,
    Tenant,
    Level,
    Idx,
    Data,
}

#[derive(DeriveIden)]
enum LogHashes {
    Table,
}

#[derive(DeriveIden)]
enum LogHeads {
    Table,
    Size,
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
                    .table(LogTiles::Table)
                    .col(ColumnDef::new(LogTiles::Tenant).string().not_null())
                    .col(ColumnDef::new(LogTiles::Level).integer().not_null())
                    .col(ColumnDef::new(LogTiles::Idx).big_integer().not_null())
                    .col(ColumnDef::new(LogTiles::Data).binary().not_null())
                    .primary_key(
                        Index::create().col(LogTiles::Tenant).col(LogTiles::Level).col(LogTiles::Idx),
                    )
                    .to_owned(),
            )
            .await?;
        manager.drop_table(Table::drop().table(LogHashes::Table).to_owned()).await?;
        manager.exec_stmt(Query::update().table(LogHeads::Table).value(LogHeads::Size, 0).to_owned()).await
    }
}
