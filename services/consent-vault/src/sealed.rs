//! Values sealed under a subject's data key.
//!
//! A sealed value is text, so it fits the columns plain values had:
//! `e1:<tag>:<base64(nonce || ciphertext || tag)>`, where `<tag>` is the
//! value's filter tag ([`crate::Vault::tag`]) or empty. The empty value is
//! stored empty: there is nothing in it to protect.

use std::fmt;

use base64::Engine as _;
use ring::aead::LessSafeKey;

use crate::{VaultError, aes_key, open_bytes, seal_bytes};

const PREFIX: &str = "e1:";

/// What the commitment salt is derived under.
const SALT_LABEL: &[u8] = b"consentd/commitment-salt/v1";

/// A subject's data key, unwrapped.
pub struct SubjectKey {
    key: LessSafeKey,
    salt: [u8; 32],
}

impl fmt::Debug for SubjectKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("SubjectKey(..)")
    }
}

impl SubjectKey {
    pub(crate) fn new(bytes: &[u8; 32]) -> Self {
        let salt = ring::hmac::sign(&ring::hmac::Key::new(ring::hmac::HMAC_SHA256, bytes), SALT_LABEL);
        let mut commitment_salt = [0u8; 32];
        commitment_salt.copy_from_slice(salt.as_ref());
        Self { key: aes_key(bytes), salt: commitment_salt }
    }

    /// The salt of the subject's log commitments, `HMAC-SHA256(data key,
    /// "consentd/commitment-salt/v1")`: kept nowhere, so destroying the key
    /// destroys it too. Disclosing it (a receipt does) discloses nothing of
    /// the key.
    pub fn commitment_salt(&self) -> [u8; 32] {
        self.salt
    }

    /// `plain` sealed, bound to `context` (the record and field it belongs
    /// to: a sealed value copied elsewhere does not open there).
    pub fn seal(&self, context: &str, plain: &str) -> Result<String, VaultError> {
        self.seal_tagged(context, plain, "")
    }

    /// As [`SubjectKey::seal`], with a filter tag in front.
    pub fn seal_tagged(&self, context: &str, plain: &str, tag: &str) -> Result<String, VaultError> {
        if plain.is_empty() {
            return Ok(String::new());
        }
        let sealed = seal_bytes(&self.key, context.as_bytes(), plain.as_bytes())?;
        Ok(format!("{PREFIX}{tag}:{}", base64::engine::general_purpose::STANDARD_NO_PAD.encode(sealed)))
    }

    /// The plain value of a sealed one (empty stays empty).
    pub fn open(&self, context: &str, sealed: &str) -> Result<String, VaultError> {
        if sealed.is_empty() {
            return Ok(String::new());
        }
        let body = sealed
            .strip_prefix(PREFIX)
            .and_then(|rest| rest.split_once(':'))
            .map(|(_, body)| body)
            .ok_or(VaultError::Undecryptable)?;
        let bytes = base64::engine::general_purpose::STANDARD_NO_PAD
            .decode(body)
            .map_err(|_| VaultError::Undecryptable)?;
        let plain = open_bytes(&self.key, context.as_bytes(), &bytes)?;
        String::from_utf8(plain).map_err(|_| VaultError::Undecryptable)
    }
}

/// Whether a stored value is sealed (written by this version) rather than
/// plain (written before values were sealed).
pub fn is_sealed(stored: &str) -> bool {
    stored.starts_with(PREFIX)
}

/// The start every value sealed with `tag` has: a filter for it is a prefix
/// match.
pub fn tag_prefix(tag: &str) -> String {
    format!("{PREFIX}{tag}:")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn seals_randomly_and_opens_only_in_its_context() {
        let key = SubjectKey::new(&[1; 32]);
        let a = key.seal("r1/ip", "192.0.2.1").unwrap();
        let b = key.seal("r1/ip", "192.0.2.1").unwrap();
        assert_ne!(a, b, "each sealing is randomised");
        assert!(is_sealed(&a) && !a.contains("192.0.2.1"));
        assert_eq!(key.open("r1/ip", &a).unwrap(), "192.0.2.1");
        assert!(key.open("r2/ip", &a).is_err());
        assert!(SubjectKey::new(&[2; 32]).open("r1/ip", &a).is_err());
        assert_eq!(key.seal("r1/ip", "").unwrap(), "");
        assert_eq!(key.open("r1/ip", "").unwrap(), "");
        let tagged = key.seal_tagged("r1/ip", "192.0.2.1", "abcd").unwrap();
        assert!(tagged.starts_with(&tag_prefix("abcd")));
        assert_eq!(key.open("r1/ip", &tagged).unwrap(), "192.0.2.1");
        assert_eq!(key.commitment_salt(), SubjectKey::new(&[1; 32]).commitment_salt());
        assert_ne!(key.commitment_salt(), SubjectKey::new(&[2; 32]).commitment_salt());
        for broken in ["e1::", "e1:x", "plain", &a[..a.len() - 2], &format!("{a}A")] {
            assert!(key.open("r1/ip", broken).is_err(), "{broken}");
        }
    }
}
