//! What can go wrong with keys.

/// A vault failure.
#[derive(Debug, thiserror::Error)]
pub enum VaultError {
    /// The value is not the output of sealing, or its key, context or bytes
    /// are not the ones it was sealed with.
    #[error("the sealed value does not open with this key")]
    Undecryptable,
    /// The system's random source failed.
    #[error("the system's random source failed")]
    Random,
    /// A master key that is not 32 bytes in hex or base64.
    #[error("the master key {0}")]
    BadMasterKey(String),
}
