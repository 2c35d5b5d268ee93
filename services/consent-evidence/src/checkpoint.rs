//! Signed checkpoints: a tenant log's size, root hash and time, as a
//! c2sp.org/tlog-checkpoint body signed as a c2sp.org/signed-note:
//!
//! ```text
//! consentd/acme
//! 42
//! <base64 root hash>
//! time 1796565000
//!
//! — consentd JvcZL+<base64 key id and signature>
//! ```
//!
//! The origin line is `<log name>/<tenant>`; the extension line `time`
//! says when the checkpoint was made (Unix seconds). Any signed-note tool
//! given the public key verifies it.

use signed_note::{Note, VerifierList};
use tlog_tiles::{Checkpoint as Body, Hash};

use crate::error::EvidenceError;
use crate::key::{LogKey, PublicKey};

/// A checkpoint's contents.
#[derive(Debug, Clone, PartialEq)]
pub struct Checkpoint {
    /// `<log name>/<tenant>`.
    pub origin: String,
    /// The tree size: how many records the log held.
    pub size: u64,
    /// The root hash at that size.
    pub root: Hash,
    /// When it was made, Unix seconds.
    pub time: i64,
}

impl Checkpoint {
    /// Signs the checkpoint with `key`: the signed note's text.
    pub fn sign(&self, key: &LogKey) -> Result<String, EvidenceError> {
        let extension = format!("time {}\n", self.time);
        let body = Body::new(&self.origin, self.size, self.root, &extension)
            .map_err(|e| EvidenceError::Checkpoint(e.to_string()))?;
        let mut note =
            Note::new(&body.to_bytes(), &[]).map_err(|e| EvidenceError::Checkpoint(e.to_string()))?;
        note.add_sigs(&[key.signer()]).map_err(|e| EvidenceError::Checkpoint(e.to_string()))?;
        String::from_utf8(note.to_bytes()).map_err(|e| EvidenceError::Checkpoint(e.to_string()))
    }

    /// Opens a signed checkpoint: its contents, when one of `keys` signed
    /// it.
    pub fn open(note: &str, keys: &[PublicKey]) -> Result<Self, EvidenceError> {
        let bad = |message: String| EvidenceError::Checkpoint(message);
        let note = Note::from_bytes(note.as_bytes()).map_err(|e| bad(e.to_string()))?;
        let verifiers = keys
            .iter()
            .map(|key| key.verifier().map(|v| Box::new(v) as Box<dyn signed_note::Verifier>))
            .collect::<Result<Vec<_>, _>>()?;
        note.verify(&VerifierList::new(verifiers)).map_err(|e| bad(format!("signature: {e}")))?;
        let body = Body::from_bytes(note.text()).map_err(|e| bad(e.to_string()))?;
        let time = body
            .extension()
            .lines()
            .find_map(|line| line.strip_prefix("time "))
            .and_then(|time| time.parse().ok())
            .ok_or_else(|| bad("no time line".to_owned()))?;
        Ok(Self { origin: body.origin().to_owned(), size: body.size(), root: *body.hash(), time })
    }
}

/// A log's origin: `<log name>/<tenant>`.
pub fn origin(log_name: &str, tenant: &str) -> String {
    format!("{log_name}/{tenant}")
}
