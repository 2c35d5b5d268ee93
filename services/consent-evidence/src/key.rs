//! The log's signing key: one ed25519 key in c2sp.org/signed-note's
//! encoding (`PRIVATE+KEY+<name>+<id>+<base64>`, the public half
//! `<name>+<id>+<base64>`), which signs both the checkpoints (as a note)
//! and the receipts (as a JWS, `alg` EdDSA, `kid` the note key id).

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use ed25519_dalek::pkcs8::EncodePrivateKey as _;
use signed_note::{StandardSigner, StandardVerifier, Verifier as _};

use crate::error::EvidenceError;

/// The note algorithm byte of an ed25519 key.
const ALG_ED25519: u8 = 1;

/// A signing key and what is derived from it.
pub struct LogKey {
    private: String,
    public: String,
    signer: StandardSigner,
    signing: ed25519_dalek::SigningKey,
}

impl std::fmt::Debug for LogKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Never the private key.
        f.debug_struct("LogKey").field("public", &self.public).finish_non_exhaustive()
    }
}

impl LogKey {
    /// A new random key named `name` (a log's name: no spaces or `+`).
    pub fn generate(name: &str) -> Result<Self, EvidenceError> {
        if !signed_note::is_key_name_valid(name) {
            return Err(EvidenceError::Key(format!("{name:?} is not a valid key name")));
        }
        let (private, _) = signed_note::generate_key(&mut rand_core::OsRng, name);
        Self::from_private(&private)
    }

    /// The key encoded as `PRIVATE+KEY+<name>+<id>+<base64>`.
    pub fn from_private(private: &str) -> Result<Self, EvidenceError> {
        let private = private.trim();
        let signer = StandardSigner::new(private).map_err(|e| EvidenceError::Key(e.to_string()))?;
        // The key data is the fifth part: base64, which may hold `+` itself.
        let encoded = private.splitn(5, '+').nth(4).unwrap_or_default();
        let bytes = STANDARD.decode(encoded).map_err(|e| EvidenceError::Key(e.to_string()))?;
        let seed: [u8; 32] = match bytes.split_first() {
            Some((&ALG_ED25519, seed)) => {
                seed.try_into().map_err(|_| EvidenceError::Key("not an ed25519 key".to_owned()))?
            }
            _ => return Err(EvidenceError::Key("not an ed25519 key".to_owned())),
        };
        let signing = ed25519_dalek::SigningKey::from_bytes(&seed);
        let name = signed_note::Signer::name(&signer).to_owned();
        let public = signed_note::new_ed25519_verifier_key(&name, &signing.verifying_key());
        Ok(Self { private: private.to_owned(), public, signer, signing })
    }

    /// The private key's encoding (to keep it).
    pub fn private(&self) -> &str {
        &self.private
    }

    /// The public key, `<name>+<id>+<base64>`: what verifiers are given.
    pub fn public(&self) -> &str {
        &self.public
    }

    /// The note key id, 8 hex digits: the receipts' `kid`.
    pub fn key_id(&self) -> String {
        format!("{:08x}", signed_note::Signer::key_id(&self.signer))
    }

    pub(crate) const fn signer(&self) -> &StandardSigner {
        &self.signer
    }

    /// The key as PKCS #8 DER, for the JWS signer.
    pub(crate) fn pkcs8(&self) -> Result<Vec<u8>, EvidenceError> {
        Ok(self.signing.to_pkcs8_der().map_err(|e| EvidenceError::Key(e.to_string()))?.as_bytes().to_vec())
    }
}

/// A public key, `<name>+<id>+<base64>`, as a verifier.
#[derive(Debug, Clone)]
pub struct PublicKey {
    encoded: String,
    id: u32,
    name: String,
    raw: [u8; 32],
}

impl PublicKey {
    /// Parses `<name>+<id>+<base64>`.
    pub fn parse(encoded: &str) -> Result<Self, EvidenceError> {
        let encoded = encoded.trim();
        let verifier = StandardVerifier::new(encoded).map_err(|e| EvidenceError::Key(e.to_string()))?;
        let bytes = STANDARD
            .decode(encoded.splitn(3, '+').nth(2).unwrap_or_default())
            .map_err(|e| EvidenceError::Key(e.to_string()))?;
        let raw = match bytes.split_first() {
            Some((&ALG_ED25519, raw)) => raw.try_into().ok(),
            _ => None,
        }
        .ok_or_else(|| EvidenceError::Key("not an ed25519 key".to_owned()))?;
        Ok(Self { encoded: encoded.to_owned(), id: verifier.key_id(), name: verifier.name().to_owned(), raw })
    }

    /// The encoding it was parsed from.
    pub fn encoded(&self) -> &str {
        &self.encoded
    }

    /// The note key id, 8 hex digits.
    pub fn key_id(&self) -> String {
        format!("{:08x}", self.id)
    }

    /// The key's name.
    pub fn name(&self) -> &str {
        &self.name
    }

    pub(crate) fn verifier(&self) -> Result<StandardVerifier, EvidenceError> {
        StandardVerifier::new(&self.encoded).map_err(|e| EvidenceError::Key(e.to_string()))
    }

    /// The raw 32-byte ed25519 public key.
    pub(crate) const fn raw(&self) -> &[u8; 32] {
        &self.raw
    }
}
