//! A tenant's verifiable log as the service offers it: checkpoints (at an
//! interval and on demand), inclusion and consistency proofs, receipts.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

use consent_core::{ConsentError, ConsentStore, TenantId, Timestamp};
use tlog_tiles::Hash;
use tokio::sync::OnceCell;
use uuid::Uuid;

use crate::checkpoint::{Checkpoint, origin};
use crate::key::LogKey;

use crate::receipt::Receipt;
use crate::store::{LogStore, LoggedRecord, LoggedValues};

/// Records one append on demand takes (a record is usually appended
/// within the builder's interval already).
const APPENDS_ON_DEMAND: u64 = 10_000;

/// A signed checkpoint and what it says.
#[derive(Debug, Clone, PartialEq)]
pub struct SignedCheckpoint {
    /// The tree size.
    pub size: u64,
    /// The signed note.
    pub note: String,
}

/// A record's inclusion proof.
#[derive(Debug, Clone, PartialEq)]
pub struct Inclusion {
    /// The record's index in the log (`revision - 1`).
    pub index: u64,
    /// The tree size the proof is for.
    pub size: u64,
    /// The proof's hashes.
    pub hashes: Vec<Hash>,
    /// The tree's root.
    pub root: Hash,
    /// The signed checkpoint of that size, when one was made.
    pub checkpoint: Option<String>,
    /// The record's leaf, canonically encoded.
    pub leaf: String,
}

/// The evidence operations over a store.
#[derive(Clone)]
pub struct EvidenceLog<S> {
    store: S,
    /// The signing key: the configured one, or the one kept in the database,
    /// read (or made) when first needed — not at start, when the database
    /// may not be migrated yet.
    key: Arc<OnceCell<Arc<LogKey>>>,
    /// The name a key made for the database gets.
    name: String,
    /// Public keys of earlier signing keys, still published.
    previous: Arc<Vec<String>>,
}

impl<S> std::fmt::Debug for EvidenceLog<S> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("EvidenceLog")
            .field("key", &self.key)
            .field("name", &self.name)
            .finish_non_exhaustive()
    }
}

fn internal(err: crate::EvidenceError) -> ConsentError {
    ConsentError::Internal(format!("verifiable log: {err}"))
}

/// The log's public keys, for who publishes them (the HTTP port's
/// well-known route) without knowing the store.
pub trait LogKeys: std::fmt::Debug + Send + Sync {
    /// The public keys, the signing key's first.
    fn public_keys(&self) -> Pin<Box<dyn Future<Output = Result<Vec<String>, ConsentError>> + Send + '_>>;
}

impl<S: LogStore + ConsentStore + Clone + 'static> LogKeys for EvidenceLog<S> {
    fn public_keys(&self) -> Pin<Box<dyn Future<Output = Result<Vec<String>, ConsentError>> + Send + '_>> {
        Box::pin(EvidenceLog::public_keys(self))
    }
}

impl<S: LogStore + ConsentStore + Clone + 'static> EvidenceLog<S> {
    /// The log over `store`, signing with `key` — or, without one, with the
    /// key kept in the database (made the first time, named `name`) — and
    /// publishing `previous` public keys beside its own.
    pub fn new(store: S, key: Option<LogKey>, name: &str, previous: Vec<String>) -> Self {
        let key = Arc::new(key.map_or_else(OnceCell::new, |key| OnceCell::new_with(Some(Arc::new(key)))));
        Self { store, key, name: name.to_owned(), previous: Arc::new(previous) }
    }

    async fn key(&self) -> Result<Arc<LogKey>, ConsentError> {
        self.key
            .get_or_try_init(|| async {
                let made = LogKey::generate(&self.name).map_err(internal)?;
                let kept = self.store.stored_log_key(made.private().to_owned()).await?;
                LogKey::from_private(&kept).map(Arc::new).map_err(internal)
            })
            .await
            .cloned()
    }

    async fn caught_up(&self, tenant: &TenantId) -> Result<u64, ConsentError> {
        catch_up(&self.store, tenant).await
    }

    /// The public keys: the signing key's first, then earlier ones.
    pub async fn public_keys(&self) -> Result<Vec<String>, ConsentError> {
        let key = self.key().await?;
        let mut keys = vec![key.public().to_owned()];
        keys.extend(self.previous.iter().filter(|previous| *previous != key.public()).cloned());
        Ok(keys)
    }

    /// The tenant's latest checkpoint; with `fresh`, or when there is none,
    /// or when it does not cover the records committed so far, a new one,
    /// made now over every committed record.
    pub async fn checkpoint(&self, tenant: &TenantId, fresh: bool) -> Result<SignedCheckpoint, ConsentError> {
        let size = self.caught_up(tenant).await?;
        match self.store.latest_checkpoint(tenant).await? {
            Some((latest, note)) if !fresh && latest >= size => Ok(SignedCheckpoint { size: latest, note }),
            _ => self.sign(tenant, size).await,
        }
    }

    async fn sign(&self, tenant: &TenantId, size: u64) -> Result<SignedCheckpoint, ConsentError> {
        let root = if size == 0 { tlog_tiles::EMPTY_HASH } else { self.store.log_root(tenant, size).await? };
        let time = Timestamp::now().as_micros().div_euclid(1_000_000);
        let key = self.key().await?;
        let name = signed_note_name(key.public());
        let checkpoint = Checkpoint { origin: origin(&name, tenant.as_str()), size, root, time };
        let note = checkpoint.sign(&key).map_err(internal)?;
        self.store.save_checkpoint(tenant, size, time, &note).await?;
        // Another replica may have signed this size first: serve the kept one.
        let note = self.store.checkpoint_at(tenant, size).await?.unwrap_or(note);
        Ok(SignedCheckpoint { size, note })
    }

    /// The proof that record `record_id` is in the tenant's log: against
    /// `tree_size`, or the latest checkpoint (a new one when none covers
    /// the record).
    pub async fn inclusion(
        &self,
        tenant: &TenantId,
        record_id: Uuid,
        tree_size: Option<u64>,
    ) -> Result<Inclusion, ConsentError> {
        Ok(self.proved(tenant, record_id, tree_size).await?.1)
    }

    /// The record as logged and its inclusion proof.
    async fn proved(
        &self,
        tenant: &TenantId,
        record_id: Uuid,
        tree_size: Option<u64>,
    ) -> Result<(LoggedRecord, Inclusion), ConsentError> {
        let not_found = || ConsentError::NotFound("no such consent record".to_owned());
        let record = self.store.record_by_id(tenant, record_id).await?.ok_or_else(not_found)?;
        let index = u64::try_from(record.revision - 1).unwrap_or_default();
        let (size, checkpoint) = match tree_size {
            Some(size) => {
                let held = self.caught_up(tenant).await?;
                if size > held || size <= index {
                    return Err(ConsentError::invalid(
                        "tree_size",
                        format!(
                            "must hold the record (more than {index}) and at most the log's {held} records"
                        ),
                    ));
                }
                (size, self.store.checkpoint_at(tenant, size).await?)
            }
            None => {
                // The record is committed, so a checkpoint over every
                // committed record (the latest, or a new one) holds it.
                let checkpoint = self.checkpoint(tenant, false).await?;
                if checkpoint.size <= index {
                    return Err(ConsentError::Unavailable("the record is not in the log yet".to_owned()));
                }
                (checkpoint.size, Some(checkpoint.note))
            }
        };
        let hashes = self.store.log_inclusion_proof(tenant, size, index).await?;
        let root = self.store.log_root(tenant, size).await?;
        // Read once the log holds it: its subject's salt exists by then.
        let logged = self.store.logged_record(tenant, record_id).await?.ok_or_else(not_found)?;
        let leaf = String::from_utf8(logged.leaf().to_bytes()).unwrap_or_default();
        Ok((logged, Inclusion { index, size, hashes, root, checkpoint, leaf }))
    }

    /// The proof that the tenant's log of `second` records extends the one
    /// of `first`.
    pub async fn consistency(
        &self,
        tenant: &TenantId,
        first: u64,
        second: u64,
    ) -> Result<Vec<Hash>, ConsentError> {
        let held = self.caught_up(tenant).await?;
        if first == 0 || first > second || second > held {
            return Err(ConsentError::invalid(
                "first_size",
                format!("need 1 <= first_size <= second_size <= {held} (the log's size)"),
            ));
        }
        self.store.log_consistency_proof(tenant, second, first).await
    }

    /// The receipt of record `record_id`: the record, its disclosure, its
    /// inclusion proof and the checkpoint, as a JWS signed by the log's key.
    pub async fn receipt(&self, tenant: &TenantId, record_id: Uuid) -> Result<String, ConsentError> {
        let (logged, inclusion) = self.proved(tenant, record_id, None).await?;
        let LoggedValues::Salted(salt) = logged.values else {
            // Its values are gone, so nothing can disclose them: receipts
            // issued before still verify, and its inclusion proof (which
            // holds the leaf) is still served.
            return Err(ConsentError::FailedPrecondition {
                reason: "VALUES_REMOVED",
                message:
                    "the record's identifying values were removed (erasure or retention); its inclusion \
                          proof is still served"
                        .to_owned(),
            });
        };
        let checkpoint = inclusion.checkpoint.unwrap_or_default();
        Receipt::new(&logged.record, &salt, &inclusion.hashes, checkpoint)
            .sign(&*self.key().await?)
            .map_err(internal)
    }

    /// Makes a checkpoint of every tenant whose log grew, every `interval`,
    /// until the task is dropped.
    pub async fn checkpoint_every(self, interval: Duration) {
        let mut ticks = tokio::time::interval(interval);
        ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        ticks.tick().await;
        loop {
            ticks.tick().await;
            let tenants = match self.store.tenants_to_checkpoint().await {
                Ok(tenants) => tenants,
                Err(err) => {
                    tracing::warn!(error = %err, "cannot look for logs to checkpoint");
                    continue;
                }
            };
            for tenant in tenants {
                if let Err(err) = self.checkpoint(&tenant, true).await {
                    tracing::warn!(error = %err, tenant = tenant.as_str(), "cannot checkpoint the log");
                }
            }
        }
    }
}

/// Appends every record the tenant has committed so far (the builder
/// usually has), an append's worth at a time; the log's size.
pub async fn catch_up<S: LogStore>(store: &S, tenant: &TenantId) -> Result<u64, ConsentError> {
    let mut size = store.log_size(tenant).await?;
    loop {
        let grown = store.append_log(tenant, APPENDS_ON_DEMAND).await?;
        if grown == size {
            return Ok(size);
        }
        size = grown;
    }
}

/// The name of a `<name>+<id>+<key>` public key.
fn signed_note_name(public: &str) -> String {
    public.split('+').next().unwrap_or_default().to_owned()
}
