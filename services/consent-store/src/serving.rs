//! What a server process needs of its store beyond the storage interfaces
//! of `consent-core` (consents, keys, bindings, webhooks): migrations, the
//! gauges of its pool and read standbys, and the vital tasks it runs. The
//! binary wires the server against [`ServingStore`] and gets its store from
//! [`open`], so no crate outside this one names [`SqlStore`].

use std::future::Future;

use consent_core::webhooks::WebhookStore;
use consent_core::{BindingStore, ConsentError, ConsentStore, KeyStore, SubjectRef, TenantId};
use uuid::Uuid;

use crate::{LegalHold, PoolUsage, Retention, SqlStore, StandbyStatus, StoreOptions, Vitals};

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

    /// Starts removing what retention no longer keeps (see
    /// [`SqlStore::spawn_retention`]).
    fn spawn_retention(&self, retention: Retention, interval: std::time::Duration);

    /// Removes the values of up to 500 records that stopped being current
    /// before `cutoff` (see [`SqlStore::apply_retention`]).
    fn apply_retention(
        &self,
        tenant: &TenantId,
        cutoff: consent_core::Timestamp,
    ) -> impl Future<Output = Result<(), ConsentError>> + Send;

    /// How many records retention would remove values of at `cutoff`.
    fn retention_due(
        &self,
        tenant: &TenantId,
        cutoff: consent_core::Timestamp,
    ) -> impl Future<Output = Result<u64, ConsentError>> + Send;

    /// Places a legal hold on a subject (see [`SqlStore::place_legal_hold`]).
    fn place_legal_hold(
        &self,
        tenant: &TenantId,
        subject: &SubjectRef,
        reason: &str,
    ) -> impl Future<Output = Result<Uuid, ConsentError>> + Send;

    /// Releases a subject's legal hold; whether it had one.
    fn release_legal_hold(
        &self,
        tenant: &TenantId,
        subject: &SubjectRef,
    ) -> impl Future<Output = Result<bool, ConsentError>> + Send;

    /// The tenant's legal holds.
    fn legal_holds(
        &self,
        tenant: &TenantId,
    ) -> impl Future<Output = Result<Vec<LegalHold>, ConsentError>> + Send;
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

    fn spawn_retention(&self, retention: Retention, interval: std::time::Duration) {
        SqlStore::spawn_retention(self, retention, interval);
    }

    fn apply_retention(
        &self,
        tenant: &TenantId,
        cutoff: consent_core::Timestamp,
    ) -> impl Future<Output = Result<(), ConsentError>> + Send {
        SqlStore::apply_retention(self, tenant, cutoff)
    }

    fn retention_due(
        &self,
        tenant: &TenantId,
        cutoff: consent_core::Timestamp,
    ) -> impl Future<Output = Result<u64, ConsentError>> + Send {
        SqlStore::retention_due(self, tenant, cutoff)
    }

    fn place_legal_hold(
        &self,
        tenant: &TenantId,
        subject: &SubjectRef,
        reason: &str,
    ) -> impl Future<Output = Result<Uuid, ConsentError>> + Send {
        SqlStore::place_legal_hold(self, tenant, subject, reason)
    }

    fn release_legal_hold(
        &self,
        tenant: &TenantId,
        subject: &SubjectRef,
    ) -> impl Future<Output = Result<bool, ConsentError>> + Send {
        SqlStore::release_legal_hold(self, tenant, subject)
    }

    fn legal_holds(
        &self,
        tenant: &TenantId,
    ) -> impl Future<Output = Result<Vec<LegalHold>, ConsentError>> + Send {
        SqlStore::legal_holds(self, tenant)
    }
}

/// The store `options` name (SQLite or PostgreSQL, by the URL's scheme),
/// connected; not migrated.
pub async fn open(options: &StoreOptions) -> Result<impl ServingStore + use<>, ConsentError> {
    SqlStore::connect(options).await
}
