//! Schema migrations for consentd: forward-only, one file per step, the same
//! on SQLite and PostgreSQL. `consentd migrate` and `consentd serve` run them.

pub use sea_orm_migration::MigratorTrait;
use sea_orm_migration::prelude::*;

mod m20261122_000001_create_consent_tables;
mod m20261122_000002_create_store_meta;
mod m20261122_000003_create_keys_and_bindings;
mod m20261201_000004_webhooks_and_proxy_ip;
mod m20261206_000005_subject_revision_index;
mod m20261206_000006_evidence_gpc;
mod m20261206_000007_key_accounts_and_origins;
mod m20261206_000008_state_expiry;
mod m20261207_000009_record_signals;
mod m20261207_000010_evidence_log;
mod m20261208_000011_erasure;
mod m20261208_000012_log_tiles;

/// Every migration, in order.
#[derive(Debug)]
pub struct Migrator;

#[sea_orm_migration::async_trait::async_trait]
impl MigratorTrait for Migrator {
    fn migrations() -> Vec<Box<dyn MigrationTrait>> {
        vec![
            Box::new(m20261122_000001_create_consent_tables::Migration),
            Box::new(m20261122_000002_create_store_meta::Migration),
            Box::new(m20261122_000003_create_keys_and_bindings::Migration),
            Box::new(m20261201_000004_webhooks_and_proxy_ip::Migration),
            Box::new(m20261206_000005_subject_revision_index::Migration),
            Box::new(m20261206_000006_evidence_gpc::Migration),
            Box::new(m20261206_000007_key_accounts_and_origins::Migration),
            Box::new(m20261206_000008_state_expiry::Migration),
            Box::new(m20261207_000009_record_signals::Migration),
            Box::new(m20261207_000010_evidence_log::Migration),
            Box::new(m20261208_000011_erasure::Migration),
            Box::new(m20261208_000012_log_tiles::Migration),
        ]
    }
}
