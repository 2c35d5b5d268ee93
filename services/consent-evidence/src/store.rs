//! What the evidence log needs of its store: the tenants' trees, the
//! subjects' salts, the checkpoints kept, and the log's signing key.

use std::future::Future;

use consent_core::{ConsentError, TenantId};
use tlog_tiles::Hash;
use uuid::Uuid;

use crate::leaf::Salt;

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

    /// The subject's commitment salt; `None` before its first record was
    /// appended (or after erasure).
    fn subject_salt(
        &self,
        tenant: &TenantId,
        subject_id: Uuid,
    ) -> impl Future<Output = Result<Option<Salt>, ConsentError>> + Send;

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
