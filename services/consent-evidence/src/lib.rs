//! Verifiable consent evidence, as Certificate Transparency makes a log
//! verifiable (RFC 9162): every record of a tenant is a leaf of the
//! tenant's Merkle log, in revision order; the log's key signs checkpoints
//! of it (c2sp.org/tlog-checkpoint as a c2sp.org/signed-note, ed25519);
//! inclusion and consistency proofs tie a record to a checkpoint and one
//! checkpoint to the next; a receipt carries a record with its proof as one
//! signed document. A verifier needs nothing but the public key.
//!
//! - [`leaf`]: the canonical encoding of a record, with its identifying
//!   values as commitments so that erasure leaves every proof intact;
//! - [`tree`]: the tree as stored hashes, proofs and their checks;
//! - [`key`], [`checkpoint`]: the signing key and signed checkpoints;
//! - [`receipt`], [`verify`]: receipts, and offline verification of a
//!   receipt or of a whole exported log.
//!
//! All but [`log`] are pure (no I/O, no clock): [`log`]'s `EvidenceLog`
//! serves the operations over a [`LogStore`] and signs with the time.

pub mod checkpoint;
mod error;
pub mod key;
pub mod leaf;
pub mod log;
pub mod receipt;
mod store;
pub mod tree;
pub mod verify;

pub use checkpoint::Checkpoint;
pub use error::EvidenceError;
pub use key::{LogKey, PublicKey};
pub use leaf::{Commitments, Disclosure, Leaf, Salt};
pub use log::{EvidenceLog, Inclusion, LogKeys, SignedCheckpoint};
pub use receipt::Receipt;
pub use store::{LogStore, LoggedRecord, LoggedValues};
pub use tlog_tiles::{Error as TreeError, Hash, HashReader};
pub use verify::{ExportedLeaf, LogReport, verify_log, verify_receipt};
