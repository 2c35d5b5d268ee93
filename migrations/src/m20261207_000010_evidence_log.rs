//! The verifiable log (docs/evidence.md): each tenant's Merkle tree as its
//! stored hashes (`log_hashes`, about two per record, appended and never
//! rewritten), how many records it holds (`log_heads`, whose row lock
//! serialises a tenant's appenders across replicas), each subject's
//! commitment salt (`subject_salts`; erasure destroys it), and the signed
//! checkpoints (`log_checkpoints`).

use sea_orm_migration::prelude::*;

#[derive(DeriveMigrationName)]
pub(crate) struct Migration;

#[derive(DeriveIden)]
enum LogHashes {
    Table,
    Tenant,
    Idx,
    Hash,
}

#[derive(DeriveIden)]
enum LogHeads {
    Table,
    Tenant,
    Size,
}

#[derive(DeriveIden)]
enum SubjectSalts {
    Table,
    Tenant,
    SubjectId,
    Salt,
}

#[derive(DeriveIden)]
enum LogCheckpoints {
    Table,
    Tenant,
    Size,
    Time,
    Note,
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
                    .table(LogHashes::Table)
                    .col(ColumnDef::new(LogHashes::Tenant).string().not_null())
                    .col(ColumnDef::new(LogHashes::Idx).big_integer().not_null())
                    .col(ColumnDef::new(LogHashes::Hash).binary().not_null())
                    .primary_key(Index::create().col(LogHashes::Tenant).col(LogHashes::Idx))
                    .to_owned(),
            )
            .await?;
        manager
            .create_table(
                Table::create()
                    .table(LogHeads::Table)
                    .col(ColumnDef::new(LogHeads::Tenant).string().not_null().primary_key())
                    .col(ColumnDef::new(LogHeads::Size).big_integer().not_null())
                    .to_owned(),
            )
            .await?;
        manager
            .create_table(
                Table::create()
                    .table(SubjectSalts::Table)
                    .col(ColumnDef::new(SubjectSalts::Tenant).string().not_null())
                    .col(ColumnDef::new(SubjectSalts::SubjectId).string().not_null())
                    .col(ColumnDef::new(SubjectSalts::Salt).binary().not_null())
                    .primary_key(Index::create().col(SubjectSalts::Tenant).col(SubjectSalts::SubjectId))
                    .to_owned(),
            )
            .await?;
        manager
            .create_table(
                Table::create()
                    .table(LogCheckpoints::Table)
                    .col(ColumnDef::new(LogCheckpoints::Tenant).string().not_null())
                    .col(ColumnDef::new(LogCheckpoints::Size).big_integer().not_null())
                    .col(ColumnDef::new(LogCheckpoints::Time).big_integer().not_null())
                    .col(ColumnDef::new(LogCheckpoints::Note).text().not_null())
                    .primary_key(Index::create().col(LogCheckpoints::Tenant).col(LogCheckpoints::Size))
                    .to_owned(),
            )
            .await
    }
}
