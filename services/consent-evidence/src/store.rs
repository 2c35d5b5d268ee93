//! What the evidence log needs of its store: the tenants' trees, the
//! records as logged, the checkpoints kept, and the log's signing key.

use std::future::Future;

use consent_core::{ConsentError, TenantId};
use tlog_tiles::Hash;
use uuid::Uuid;

use consent_core::ConsentRecord;

use crate::leaf::{Commitments, Salt};

/// The verifiable log's storage.
pub trait LogStore: Send + Sync {
    /// Appends up to `max` committed records the tenant's log does not hold
    /// yet; its size after.
    fn append_log(
        &self,
        tenant: &TenantId,
        max: u64,
    ) -> impl Future<Output = Result<u64, ConsentError>> + Send;

    /// How many records the tenant's log holds.
    fn log_size(&self, tenant: &TenantId) -> impl Future<Output = Result<u64, ConsentError>> + Send;

    /// The root of the tenant's log at `size` records.
    fn log_root(
        &self,
        tenant: &TenantId,
        size: u64,
    ) -> impl Future<Output = Result<Hash, ConsentError>> + Send;

    /// The proof that the tenant's log of `size` records holds record
    /// `index`.
    fn log_inclusion_proof(
        &self,
        tenant: &TenantId,
        size: u64,
        index: u64,
    ) -> impl Future<Output = Result<Vec<Hash>, ConsentError>> + Send;

    /// The proof that the tenant's log of `second` records extends the one
    /// of `first`.
    fn log_consistency_proof(
        &self,
        tenant: &TenantId,
        second: u64,
        first: u64,
    ) -> impl Future<Output = Result<Vec<Hash>, ConsentError>> + Send;

    /// The record `record_id` as its leaf encodes it, and how its
    /// identifying values enter the leaf; `None` when the tenant has no
    /// such record.
    fn logged_record(
        &self,
        tenant: &TenantId,
        record_id: Uuid,
    ) -> impl Future<Output = Result<Option<LoggedRecord>, ConsentError>> + Send;

    /// Keeps a signed checkpoint (one per size; a second of a size is
    /// ignored).
    fn save_checkpoint(
        &self,
        tenant: &TenantId,
        size: u64,
        time: i64,
        note: &str,
    ) -> impl Future<Output = Result<(), ConsentError>> + Send;

    /// The tenant's largest checkpoint: its size and signed note.
    fn latest_checkpoint(
        &self,
        tenant: &TenantId,
    ) -> impl Future<Output = Result<Option<(u64, String)>, ConsentError>> + Send;

    /// The tenant's checkpoint of exactly `size` records, if one was made.
    fn checkpoint_at(
        &self,
        tenant: &TenantId,
        size: u64,
    ) -> impl Future<Output = Result<Option<String>, ConsentError>> + Send;

    /// Every checkpoint of the tenant, by size: (size, signed note).
    fn checkpoints(
        &self,
        tenant: &TenantId,
    ) -> impl Future<Output = Result<Vec<(u64, String)>, ConsentError>> + Send;

    /// The tenant's log as its leaves re-encoded from the stored records,
    /// each with the leaf hash the log stored, in index order (what
    /// [`crate::verify_log`] reads).
    fn export_log(
        &self,
        tenant: &TenantId,
    ) -> impl Future<Output = Result<Vec<crate::ExportedLeaf>, ConsentError>> + Send;

    /// Tenants whose log holds records their latest checkpoint does not.
    fn tenants_to_checkpoint(&self) -> impl Future<Output = Result<Vec<TenantId>, ConsentError>> + Send;

    /// The log's signing key kept in the database (`initial` the first
    /// time), for a server given none in its configuration.
    fn stored_log_key(&self, initial: String) -> impl Future<Output = Result<String, ConsentError>> + Send;
}

/// A record as the log holds it.
#[derive(Debug, Clone)]
pub struct LoggedRecord {
    /// The record: its subject is the one the leaf names, even after
    /// erasure files the record under no subject.
    pub record: ConsentRecord,
    /// Its identifying values' commitments.
    pub values: LoggedValues,
}

/// How a logged record's identifying values enter its leaf.
#[derive(Debug, Clone)]
pub enum LoggedValues {
    /// The values are in the record, committed under its subject's salt.
    Salted(Salt),
    /// The values are gone (erasure, retention); their commitments were
    /// kept.
    Removed(Commitments),
}

impl LoggedRecord {
    /// The record's leaf.
    pub fn leaf(&self) -> crate::Leaf {
        match &self.values {
            LoggedValues::Salted(salt) => crate::Leaf::of(&self.record, salt),
            LoggedValues::Removed(commitments) => crate::Leaf::with(&self.record, commitments.clone()),
        }
    }
}
