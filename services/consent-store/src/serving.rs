//! What a server process needs of its store beyond the storage interfaces
//! of `consent-core` (consents, keys, bindings, webhooks): migrations, the
//! gauges of its pool and read standbys, and the vital tasks it runs. The
//! binary wires the server against [`ServingStore`] and gets its store from
//! [`open`], so no crate outside this one names [`SqlStore`].

use std::future::Future;

use consent_core::webhooks::WebhookStore;
use consent_core::{BindingStore, ConsentError, ConsentStore, KeyStore};

use crate::{PoolUsage, SqlStore, StandbyStatus, StoreOptions, Vitals};

/// Every interface the server uses, and what running it takes.
pub trait ServingStore:
    ConsentStore + KeyStore + BindingStore + WebhookStore + consent_evidence::LogStore + Clone
{
    /// Applies pending migrations (see [`SqlStore::migrate`]).
    fn migrate(&self) -> impl Future<Output = Result<(), ConsentError>> + Send;

    /// How busy the connection pool is now.
    fn pool_usage(&self) -> PoolUsage;

    /// The read standbys' state now (none on SQLite).
    fn standbys(&self) -> Vec<StandbyStatus>;

    /// The process's vital tasks: the store's own among them, and others
    /// parts of the process add theirs.
    fn vitals(&self) -> &Vitals;

    /// Starts announcing expiries on the change feed (see
    /// [`SqlStore::spawn_expiry`]).
    fn spawn_expiry(&self, interval: std::time::Duration);

    /// Starts appending committed records to the verifiable log (see
    /// [`SqlStore::spawn_log_builder`]).
    fn spawn_log_builder(&self, interval: std::time::Duration);
}

impl ServingStore for SqlStore {
    fn migrate(&self) -> impl Future<Output = Result<(), ConsentError>> + Send {
        SqlStore::migrate(self)
    }

    fn pool_usage(&self) -> PoolUsage {
        SqlStore::pool_usage(self)
    }

    fn standbys(&self) -> Vec<StandbyStatus> {
        SqlStore::standbys(self)
    }

    fn vitals(&self) -> &Vitals {
        SqlStore::vitals(self)
    }

    fn spawn_expiry(&self, interval: std::time::Duration) {
        SqlStore::spawn_expiry(self, interval);
    }

    fn spawn_log_builder(&self, interval: std::time::Duration) {
        SqlStore::spawn_log_builder(self, interval);
    }
}

/// The store `options` name (SQLite or PostgreSQL, by the URL's scheme),
/// connected; not migrated.
pub async fn open(options: &StoreOptions) -> Result<impl ServingStore + use<>, ConsentError> {
    SqlStore::connect(options).await
}
