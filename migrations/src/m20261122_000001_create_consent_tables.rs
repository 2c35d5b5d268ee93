//! The consent tables: the append-only records log, the current state per
//! (subject, purpose, target), identities, idempotency keys and the per-tenant
//! revision counter.
//!
//! Instants are BIGINT microseconds since the epoch and ids are UUID text, so
//! the same schema and the same queries serve SQLite and PostgreSQL.

use sea_orm_migration::prelude::*;

#[derive(DeriveMigrationName)]
pub(crate) struct Migration;

#[derive(DeriveIden)]
enum TenantHeads {
    Table,
    Tenant,
    Head,
}

#[derive(DeriveIden)]
enum Identities {
    Table,
    Tenant,
    Namespace,
    Value,
    SubjectId,
    LinkedRevision,
}

#[derive(DeriveIden)]
enum ConsentRecords {
    Table,
    Id,
    Tenant,
    Revision,
    SubjectId,
    Identities,
    Purpose,
    Target,
    Decision,
    CollectedAt,
    ExpiresAt,
    RecordedAt,
    Source,
    Kind,
    UserAgent,
    Ip,
    Uri,
    Country,
    Region,
    City,
    NoticeVersion,
    PolicyVersion,
    Message,
    MetadataJson,
    ConsentId,
    Vendor,
    PayloadDigest,
}

#[derive(DeriveIden)]
enum ConsentState {
    Table,
    Tenant,
    SubjectId,
    Purpose,
    Target,
    RecordId,
    Revision,
    CollectedAt,
}

#[derive(DeriveIden)]
enum IdempotencyKeys {
    Table,
    Tenant,
    Key,
    Digest,
    SubjectId,
    FirstRevision,
    LastRevision,
    Conflicts,
    CreatedAt,
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
        create_tenant_heads(manager).await?;
        create_identities(manager).await?;
        create_consent_records(manager).await?;
        create_consent_state(manager).await?;
        create_idempotency_keys(manager).await
    }
}

/// The tenants' heads.
async fn create_tenant_heads(manager: &SchemaManager<'_>) -> Result<(), DbErr> {
    // The head row is locked by every write of its tenant until commit, so
    // revisions are assigned in commit order (docs/semantics.md#revisions).
    manager
        .create_table(
            Table::create()
                .table(TenantHeads::Table)
                .col(ColumnDef::new(TenantHeads::Tenant).text().not_null().primary_key())
                .col(ColumnDef::new(TenantHeads::Head).big_integer().not_null())
                .to_owned(),
        )
        .await
}

/// Identities and the subjects they name.
async fn create_identities(manager: &SchemaManager<'_>) -> Result<(), DbErr> {
    manager
        .create_table(
            Table::create()
                .table(Identities::Table)
                .col(ColumnDef::new(Identities::Tenant).text().not_null())
                .col(ColumnDef::new(Identities::Namespace).text().not_null())
                .col(ColumnDef::new(Identities::Value).text().not_null())
                .col(ColumnDef::new(Identities::SubjectId).text().not_null())
                .col(ColumnDef::new(Identities::LinkedRevision).big_integer().not_null())
                .primary_key(
                    Index::create().col(Identities::Tenant).col(Identities::Namespace).col(Identities::Value),
                )
                .to_owned(),
        )
        .await?;
    manager
        .create_index(
            Index::create()
                .name("identities_by_subject")
                .table(Identities::Table)
                .col(Identities::Tenant)
                .col(Identities::SubjectId)
                .to_owned(),
        )
        .await
}

/// The log of consent records.
async fn create_consent_records(manager: &SchemaManager<'_>) -> Result<(), DbErr> {
    let text = |col: ConsentRecords| ColumnDef::new(col).text().not_null().to_owned();
    manager
        .create_table(
            Table::create()
                .table(ConsentRecords::Table)
                .col(ColumnDef::new(ConsentRecords::Id).text().not_null().primary_key())
                .col(text(ConsentRecords::Tenant))
                .col(ColumnDef::new(ConsentRecords::Revision).big_integer().not_null())
                .col(text(ConsentRecords::SubjectId))
                .col(text(ConsentRecords::Identities))
                .col(text(ConsentRecords::Purpose))
                .col(text(ConsentRecords::Target))
                .col(text(ConsentRecords::Decision))
                .col(ColumnDef::new(ConsentRecords::CollectedAt).big_integer().not_null())
                .col(ColumnDef::new(ConsentRecords::ExpiresAt).big_integer().null())
                .col(ColumnDef::new(ConsentRecords::RecordedAt).big_integer().not_null())
                .col(text(ConsentRecords::Source))
                .col(text(ConsentRecords::Kind))
                .col(text(ConsentRecords::UserAgent))
                .col(text(ConsentRecords::Ip))
                .col(text(ConsentRecords::Uri))
                .col(text(ConsentRecords::Country))
                .col(text(ConsentRecords::Region))
                .col(text(ConsentRecords::City))
                .col(text(ConsentRecords::NoticeVersion))
                .col(text(ConsentRecords::PolicyVersion))
                .col(text(ConsentRecords::Message))
                .col(text(ConsentRecords::MetadataJson))
                .col(text(ConsentRecords::ConsentId))
                .col(text(ConsentRecords::Vendor))
                .col(text(ConsentRecords::PayloadDigest))
                .to_owned(),
        )
        .await?;
    // The change feed and keyset pagination walk this index.
    manager
        .create_index(
            Index::create()
                .name("consent_records_by_revision")
                .table(ConsentRecords::Table)
                .col(ConsentRecords::Tenant)
                .col(ConsentRecords::Revision)
                .unique()
                .to_owned(),
        )
        .await?;
    // Point-in-time checks and per-subject history.
    manager
        .create_index(
            Index::create()
                .name("consent_records_by_subject")
                .table(ConsentRecords::Table)
                .col(ConsentRecords::Tenant)
                .col(ConsentRecords::SubjectId)
                .col(ConsentRecords::Purpose)
                .col(ConsentRecords::Target)
                .col(ConsentRecords::CollectedAt)
                .to_owned(),
        )
        .await
}

/// The current record of each subject, purpose and target.
async fn create_consent_state(manager: &SchemaManager<'_>) -> Result<(), DbErr> {
    manager
        .create_table(
            Table::create()
                .table(ConsentState::Table)
                .col(ColumnDef::new(ConsentState::Tenant).text().not_null())
                .col(ColumnDef::new(ConsentState::SubjectId).text().not_null())
                .col(ColumnDef::new(ConsentState::Purpose).text().not_null())
                .col(ColumnDef::new(ConsentState::Target).text().not_null())
                .col(ColumnDef::new(ConsentState::RecordId).text().not_null())
                .col(ColumnDef::new(ConsentState::Revision).big_integer().not_null())
                .col(ColumnDef::new(ConsentState::CollectedAt).big_integer().not_null())
                .primary_key(
                    Index::create()
                        .col(ConsentState::Tenant)
                        .col(ConsentState::SubjectId)
                        .col(ConsentState::Purpose)
                        .col(ConsentState::Target),
                )
                .to_owned(),
        )
        .await?;
    manager
        .create_index(
            Index::create()
                .name("consent_state_by_revision")
                .table(ConsentState::Table)
                .col(ConsentState::Tenant)
                .col(ConsentState::Revision)
                .unique()
                .to_owned(),
        )
        .await
}

/// Idempotency keys of writes.
async fn create_idempotency_keys(manager: &SchemaManager<'_>) -> Result<(), DbErr> {
    manager
        .create_table(
            Table::create()
                .table(IdempotencyKeys::Table)
                .col(ColumnDef::new(IdempotencyKeys::Tenant).text().not_null())
                .col(ColumnDef::new(IdempotencyKeys::Key).text().not_null())
                .col(ColumnDef::new(IdempotencyKeys::Digest).text().not_null())
                .col(ColumnDef::new(IdempotencyKeys::SubjectId).text().not_null())
                .col(ColumnDef::new(IdempotencyKeys::FirstRevision).big_integer().not_null())
                .col(ColumnDef::new(IdempotencyKeys::LastRevision).big_integer().not_null())
                .col(ColumnDef::new(IdempotencyKeys::Conflicts).text().not_null())
                .col(ColumnDef::new(IdempotencyKeys::CreatedAt).big_integer().not_null())
                .primary_key(Index::create().col(IdempotencyKeys::Tenant).col(IdempotencyKeys::Key))
                .to_owned(),
        )
        .await
}
