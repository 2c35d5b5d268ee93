//! Consent signals on records: the TC and GPP strings of the evidence, the
//! signal that implied a decision (empty when the request stated it), and
//! the mark of a GPC conflict. Existing records stated their decisions and
//! had no signal strings, which the defaults say.

use sea_orm_migration::prelude::*;

#[derive(DeriveMigrationName)]
pub(crate) struct Migration;

#[derive(DeriveIden)]
enum ConsentRecords {
    Table,
    TcString,
    GppString,
    ImpliedBy,
    GpcConflict,
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
            ColumnDef::new(ConsentRecords::TcString).text().not_null().default("").to_owned(),
            ColumnDef::new(ConsentRecords::GppString).text().not_null().default("").to_owned(),
            ColumnDef::new(ConsentRecords::ImpliedBy).string().not_null().default("").to_owned(),
            ColumnDef::new(ConsentRecords::GpcConflict).boolean().not_null().default(false).to_owned(),
        ];
        for mut column in columns {
            manager
                .alter_table(Table::alter().table(ConsentRecords::Table).add_column(&mut column).to_owned())
                .await?;
        }
        Ok(())
    }
}
