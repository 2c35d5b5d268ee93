//! Erasure and retention (docs/evidence.md#erasure): each subject's data
//! key, wrapped under the master key, base64 (`subject_keys`; erasure
//! deletes the row); what a record whose identifying values were removed keeps of them
//! (`consent_records.removed`: why, and their commitments, so its log leaf
//! stays the same); each record's log leaf hash, computed by its write
//! where its values are at hand (`consent_records.leaf_hash`, hex), which
//! the log builder appends; and the subjects on legal hold (`legal_holds`), which
//! neither erasure nor retention touches.

use sea_orm_migration::prelude::*;

#[derive(DeriveMigrationName)]
pub(crate) struct Migration;

#[derive(DeriveIden)]
enum SubjectKeys {
    Table,
    Tenant,
    SubjectId,
    Wrapped,
}

#[derive(DeriveIden)]
enum LegalHolds {
    Table,
    Tenant,
    SubjectId,
    Reason,
    CreatedAt,
}

#[derive(DeriveIden)]
enum ConsentRecords {
    Table,
    Removed,
    LeafHash,
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
                    .table(SubjectKeys::Table)
                    .col(ColumnDef::new(SubjectKeys::Tenant).string().not_null())
                    .col(ColumnDef::new(SubjectKeys::SubjectId).string().not_null())
                    .col(ColumnDef::new(SubjectKeys::Wrapped).text().not_null())
                    .primary_key(Index::create().col(SubjectKeys::Tenant).col(SubjectKeys::SubjectId))
                    .to_owned(),
            )
            .await?;
        manager
            .create_table(
                Table::create()
                    .table(LegalHolds::Table)
                    .col(ColumnDef::new(LegalHolds::Tenant).string().not_null())
                    .col(ColumnDef::new(LegalHolds::SubjectId).string().not_null())
                    .col(ColumnDef::new(LegalHolds::Reason).text().not_null())
                    .col(ColumnDef::new(LegalHolds::CreatedAt).big_integer().not_null())
                    .primary_key(Index::create().col(LegalHolds::Tenant).col(LegalHolds::SubjectId))
                    .to_owned(),
            )
            .await?;
        manager
            .alter_table(
                Table::alter()
                    .table(ConsentRecords::Table)
                    .add_column(ColumnDef::new(ConsentRecords::Removed).text().not_null().default(""))
                    .to_owned(),
            )
            .await?;
        manager
            .alter_table(
                Table::alter()
                    .table(ConsentRecords::Table)
                    .add_column(ColumnDef::new(ConsentRecords::LeafHash).text().not_null().default(""))
                    .to_owned(),
            )
            .await
    }
}
