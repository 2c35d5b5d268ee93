//! What can go wrong with evidence, and what a verifier reports.

/// A failure to make, read or verify evidence.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum EvidenceError {
    /// A signing or public key is malformed.
    #[error("key: {0}")]
    Key(String),
    /// A checkpoint is malformed, or its signature does not verify with any
    /// key given.
    #[error("checkpoint: {0}")]
    Checkpoint(String),
    /// A proof is malformed or does not prove what it claims.
    #[error("proof: {0}")]
    Proof(String),
    /// A receipt is malformed, or its signature or contents do not verify.
    #[error("receipt: {0}")]
    Receipt(String),
    /// A record of an exported log does not match its leaf hash, or the log
    /// is not in order.
    #[error("record {revision} ({id}): {message}")]
    Record {
        /// The record's revision.
        revision: i64,
        /// The record's id.
        id: String,
        /// What does not verify.
        message: String,
    },
    /// A checkpoint of an exported log does not match the log's records.
    #[error("checkpoint of size {size}: {message}")]
    CheckpointMismatch {
        /// The checkpoint's tree size.
        size: u64,
        /// What does not verify.
        message: String,
    },
}
