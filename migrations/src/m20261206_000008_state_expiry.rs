//! Expiry on the change feed: each current-state row knows when its record
//! expires and whether that expiry was announced (an `expired` event
//! appended to the log), so the sweeper finds what is due by an index
//! rather than by reading records. Rows of records that expired before this
//! migration are announced by the first sweep.

use sea_orm_migration::prelude::*;

#[derive(DeriveMigrationName)]
pub(crate) struct Migration;

#[derive(DeriveIden)]
enum ConsentState {
    Table,
    ExpiresAt,
    Expired,
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
            ColumnDef::new(ConsentState::ExpiresAt).big_integer().null().to_owned(),
            ColumnDef::new(ConsentState::Expired).boolean().not_null().default(false).to_owned(),
        ];
        for mut column in columns {
            manager
                .alter_table(Table::alter().table(ConsentState::Table).add_column(&mut column).to_owned())
                .await?;
        }
        manager
            .get_connection()
            .execute_unprepared(
                "UPDATE consent_state SET expires_at = \
                 (SELECT expires_at FROM consent_records WHERE consent_records.id = consent_state.record_id)",
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("consent_state_due_expiries")
                    .table(ConsentState::Table)
                    .col(ConsentState::Expired)
                    .col(ConsentState::ExpiresAt)
                    .to_owned(),
            )
            .await
    }
}
