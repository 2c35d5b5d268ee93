//! Keys for erasure by destroying keys ("crypto-shredding", docs/evidence.md#erasure).
//!
//! Every subject has a random 256-bit **data key**. The values that can
//! identify the subject are stored only **sealed** under it (AES-256-GCM), and
//! the data key is stored only **wrapped** under the deployment's master key.
//! Destroying the wrapped key erases every sealed value at once, in every
//! copy of the database that no longer holds the key.
//!
//! Lookups by identity cannot use sealed values (each sealing is randomised),
//! so identities are found by **pseudonym**: an HMAC of the value under a
//! secret of the tenant derived from the master key. Query filters on
//! evidence (IP, user agent) use **tags** made the same way.
//!
//! How keys are wrapped is pluggable ([`KeyWrap`]): the default,
//! [`MasterKeyWrap`], wraps under the configured master key; a KMS would be
//! another implementation.

mod error;
mod master;
mod sealed;

pub use error::VaultError;
pub use master::MasterKey;
pub use sealed::{SubjectKey, is_sealed, tag_prefix};

use std::fmt;
use std::sync::Arc;

use ring::aead::{AES_256_GCM, Aad, LessSafeKey, Nonce, UnboundKey};
use ring::hmac;
use ring::rand::{SecureRandom, SystemRandom};

/// Wraps and unwraps subject data keys: the pluggable part of key storage.
/// `context` names the key's owner (tenant and subject): a wrapped key moved
/// to another subject does not unwrap.
pub trait KeyWrap: Send + Sync + fmt::Debug {
    /// `key`, wrapped.
    fn wrap(&self, context: &str, key: &[u8; 32]) -> Result<Vec<u8>, VaultError>;
    /// The key `wrapped` holds.
    fn unwrap(&self, context: &str, wrapped: &[u8]) -> Result<[u8; 32], VaultError>;
}

/// The default [`KeyWrap`]: AES-256-GCM under a key derived from the master
/// key, a random 96-bit nonce per wrapping (`nonce || ciphertext || tag`).
pub struct MasterKeyWrap {
    key: LessSafeKey,
}

impl fmt::Debug for MasterKeyWrap {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("MasterKeyWrap")
    }
}

impl MasterKeyWrap {
    /// Wraps under `master`.
    pub fn new(master: &MasterKey) -> Self {
        Self { key: aes_key(&master.derive("key-wrap")) }
    }
}

impl KeyWrap for MasterKeyWrap {
    fn wrap(&self, context: &str, key: &[u8; 32]) -> Result<Vec<u8>, VaultError> {
        seal_bytes(&self.key, context.as_bytes(), key)
    }

    fn unwrap(&self, context: &str, wrapped: &[u8]) -> Result<[u8; 32], VaultError> {
        let plain = open_bytes(&self.key, context.as_bytes(), wrapped)?;
        <[u8; 32]>::try_from(plain.as_slice()).map_err(|_| VaultError::Undecryptable)
    }
}

/// What a store needs to seal, open and find a subject's values.
#[derive(Clone)]
pub struct Vault {
    wrap: Arc<dyn KeyWrap>,
    pseudonyms: hmac::Key,
}

impl fmt::Debug for Vault {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Vault").field("wrap", &self.wrap).finish_non_exhaustive()
    }
}

impl Vault {
    /// The default vault: keys wrapped under `master`, pseudonyms keyed by it.
    pub fn new(master: &MasterKey) -> Self {
        Self::with_wrap(master, Arc::new(MasterKeyWrap::new(master)))
    }

    /// Keys wrapped by `wrap`; pseudonyms still keyed by `master` (they must
    /// stay the same for as long as the data does).
    pub fn with_wrap(master: &MasterKey, wrap: Arc<dyn KeyWrap>) -> Self {
        Self { wrap, pseudonyms: hmac::Key::new(hmac::HMAC_SHA256, &master.derive("pseudonyms")) }
    }

    /// A new data key for a subject, and its wrapping to store.
    pub fn new_subject_key(&self, tenant: &str, subject: &str) -> Result<(SubjectKey, Vec<u8>), VaultError> {
        let mut key = [0u8; 32];
        SystemRandom::new().fill(&mut key).map_err(|_| VaultError::Random)?;
        let wrapped = self.wrap.wrap(&key_context(tenant, subject), &key)?;
        Ok((SubjectKey::new(&key), wrapped))
    }

    /// The data key a stored wrapping holds.
    pub fn subject_key(&self, tenant: &str, subject: &str, wrapped: &[u8]) -> Result<SubjectKey, VaultError> {
        Ok(SubjectKey::new(&self.wrap.unwrap(&key_context(tenant, subject), wrapped)?))
    }

    /// The pseudonym of an identity value, for lookups: `hex(HMAC-SHA256(k,
    /// tenant || 0 || namespace || 0 || value))`, `k` derived from the
    /// master key. Equal values give equal pseudonyms within a tenant only.
    pub fn pseudonym(&self, tenant: &str, namespace: &str, value: &str) -> String {
        self.keyed(&["identity", tenant, namespace, value], 32)
    }

    /// The tag of an evidence value (`field` names it), for equality filters:
    /// a shorter keyed hash of the same kind as [`Vault::pseudonym`].
    pub fn tag(&self, tenant: &str, field: &str, value: &str) -> String {
        self.keyed(&["tag", tenant, field, value], 16)
    }

    fn keyed(&self, parts: &[&str], len: usize) -> String {
        let mut context = hmac::Context::with_key(&self.pseudonyms);
        for (index, part) in parts.iter().enumerate() {
            if index > 0 {
                context.update(&[0]);
            }
            context.update(part.as_bytes());
        }
        hex::encode(&context.sign().as_ref()[..len])
    }
}

/// What a subject's wrapped key is bound to.
fn key_context(tenant: &str, subject: &str) -> String {
    format!("consentd/subject-key/v1\n{tenant}\n{subject}")
}

fn aes_key(bytes: &[u8; 32]) -> LessSafeKey {
    // 32 bytes is AES-256's key length: this cannot fail.
    LessSafeKey::new(UnboundKey::new(&AES_256_GCM, bytes).unwrap_or_else(|_| unreachable!()))
}

/// `nonce || ciphertext || tag` of `plain` under `key`, bound to `aad`.
fn seal_bytes(key: &LessSafeKey, aad: &[u8], plain: &[u8]) -> Result<Vec<u8>, VaultError> {
    let mut nonce = [0u8; 12];
    SystemRandom::new().fill(&mut nonce).map_err(|_| VaultError::Random)?;
    let mut out = plain.to_vec();
    key.seal_in_place_append_tag(Nonce::assume_unique_for_key(nonce), Aad::from(aad), &mut out)
        .map_err(|_| VaultError::Undecryptable)?;
    let mut sealed = nonce.to_vec();
    sealed.extend_from_slice(&out);
    Ok(sealed)
}

/// The plaintext of [`seal_bytes`]'s output.
fn open_bytes(key: &LessSafeKey, aad: &[u8], sealed: &[u8]) -> Result<Vec<u8>, VaultError> {
    if sealed.len() < 12 + AES_256_GCM.tag_len() {
        return Err(VaultError::Undecryptable);
    }
    let (nonce, body) = sealed.split_at(12);
    let nonce = Nonce::try_assume_unique_for_key(nonce).map_err(|_| VaultError::Undecryptable)?;
    let mut body = body.to_vec();
    let plain = key.open_in_place(nonce, Aad::from(aad), &mut body).map_err(|_| VaultError::Undecryptable)?;
    Ok(plain.to_vec())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn vault() -> Vault {
        Vault::new(&MasterKey::from_bytes([7; 32]))
    }

    #[test]
    fn a_wrapped_key_opens_only_for_its_subject_and_master() {
        let vault = vault();
        let (key, wrapped) = vault.new_subject_key("acme", "s-1").unwrap();
        let sealed = key.seal("r1/ip", "192.0.2.1").unwrap();
        let again = vault.subject_key("acme", "s-1", &wrapped).unwrap();
        assert_eq!(again.open("r1/ip", &sealed).unwrap(), "192.0.2.1");
        assert!(vault.subject_key("acme", "s-2", &wrapped).is_err());
        assert!(vault.subject_key("globex", "s-1", &wrapped).is_err());
        let other = Vault::new(&MasterKey::from_bytes([8; 32]));
        assert!(other.subject_key("acme", "s-1", &wrapped).is_err());
        let mut flipped = wrapped;
        flipped[20] ^= 1;
        assert!(vault.subject_key("acme", "s-1", &flipped).is_err());
    }

    #[test]
    fn pseudonyms_are_keyed_and_scoped() {
        let vault = vault();
        let a = vault.pseudonym("acme", "email", "a@example.com");
        assert_eq!(a, vault.pseudonym("acme", "email", "a@example.com"));
        assert_eq!(a.len(), 64);
        assert_ne!(a, vault.pseudonym("globex", "email", "a@example.com"));
        assert_ne!(a, vault.pseudonym("acme", "phone", "a@example.com"));
        // The separator keeps the parts apart.
        assert_ne!(vault.pseudonym("acme", "e", "mail"), vault.pseudonym("acme", "em", "ail"));
        let other = Vault::new(&MasterKey::from_bytes([8; 32]));
        assert_ne!(a, other.pseudonym("acme", "email", "a@example.com"));
        assert_eq!(vault.tag("acme", "ip", "192.0.2.1").len(), 32);
    }
}
