//! The deployment's master key.

use std::fmt;

use base64::Engine as _;
use ring::hmac;
use ring::rand::{SecureRandom, SystemRandom};

use crate::VaultError;

/// 32 secret bytes every other key derives from or is wrapped under.
#[derive(Clone)]
pub struct MasterKey([u8; 32]);

impl fmt::Debug for MasterKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("MasterKey(..)")
    }
}

impl MasterKey {
    /// The key of these bytes.
    pub const fn from_bytes(bytes: [u8; 32]) -> Self {
        Self(bytes)
    }

    /// A new random key.
    pub fn generate() -> Result<Self, VaultError> {
        let mut bytes = [0u8; 32];
        SystemRandom::new().fill(&mut bytes).map_err(|_| VaultError::Random)?;
        Ok(Self(bytes))
    }

    /// Parses a key file's text: 32 bytes as 64 hex digits or as base64,
    /// surrounding whitespace ignored (`openssl rand -hex 32` writes one).
    pub fn parse(text: &str) -> Result<Self, VaultError> {
        let text = text.trim();
        let bytes = if text.len() == 64 {
            hex::decode(text).map_err(|_| VaultError::BadMasterKey("is not valid hex".to_owned()))?
        } else {
            base64::engine::general_purpose::STANDARD
                .decode(text)
                .map_err(|_| VaultError::BadMasterKey("is neither 64 hex digits nor base64".to_owned()))?
        };
        let bytes = <[u8; 32]>::try_from(bytes.as_slice())
            .map_err(|_| VaultError::BadMasterKey(format!("has {} bytes, not 32", bytes.len())))?;
        Ok(Self(bytes))
    }

    /// The key as 64 hex digits, as [`MasterKey::parse`] reads it.
    pub fn to_hex(&self) -> String {
        hex::encode(self.0)
    }

    /// A public fingerprint of the key (16 bytes of a subkey, hex): a
    /// database keeps it to refuse a different master key.
    pub fn fingerprint(&self) -> String {
        hex::encode(&self.derive("fingerprint")[..16])
    }

    /// The subkey for `purpose`: `HMAC-SHA256(master, "consentd/vault/v1/" ||
    /// purpose)`, so no two uses share a key.
    pub(crate) fn derive(&self, purpose: &str) -> [u8; 32] {
        let key = hmac::Key::new(hmac::HMAC_SHA256, &self.0);
        let tag = hmac::sign(&key, format!("consentd/vault/v1/{purpose}").as_bytes());
        let mut out = [0u8; 32];
        out.copy_from_slice(tag.as_ref());
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_hex_and_base64_and_refuses_other_lengths() {
        let hex = "00".repeat(31) + "ff";
        assert_eq!(MasterKey::parse(&format!(" {hex}\n")).unwrap().0[31], 0xff);
        let b64 = base64::engine::general_purpose::STANDARD.encode([9u8; 32]);
        assert_eq!(MasterKey::parse(&b64).unwrap().0, [9; 32]);
        assert!(MasterKey::parse("abcd").unwrap_err().to_string().contains("3 bytes"));
        assert!(MasterKey::parse(&"zz".repeat(32)).is_err());
        assert_ne!(
            MasterKey::from_bytes([1; 32]).fingerprint(),
            MasterKey::from_bytes([2; 32]).fingerprint()
        );
        let key = MasterKey::generate().unwrap();
        assert_eq!(MasterKey::parse(&key.to_hex()).unwrap().0, key.0);
    }
}
