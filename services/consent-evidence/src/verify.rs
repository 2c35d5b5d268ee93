//! Offline verification, trusting nothing but public keys: a receipt, or a
//! whole exported log against a series of checkpoints. The first thing that
//! does not verify is named.

use base64::Engine as _;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use jsonwebtoken::{Algorithm, DecodingKey, Validation};
use serde::{Deserialize, Serialize};
use tlog_tiles::Hash;

use crate::checkpoint::Checkpoint;
use crate::error::EvidenceError;
use crate::key::PublicKey;
use crate::leaf::Leaf;
use crate::receipt::{MAX_PROOF_HASHES, Receipt};
use crate::tree::{MemoryTree, check_inclusion};

/// One line of an exported log: a record's leaf and the leaf hash the log
/// stored for it, in index order.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ExportedLeaf {
    /// The leaf as re-encoded from the stored record.
    pub leaf: Leaf,
    /// The leaf hash the log stored when it appended the record, base64.
    pub leaf_hash: String,
    /// The leaf hash the record's own row keeps (its write computed it, and
    /// the log appended it), base64; absent for a record written before rows
    /// kept one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub record_hash: Option<String>,
}

/// What a verified log held.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LogReport {
    /// Records checked.
    pub records: u64,
    /// Checkpoints checked, by size.
    pub checkpoints: Vec<u64>,
}

/// Verifies a receipt (a compact JWS) with `keys`: its signature, that its
/// disclosure is what its leaf commits to, that its checkpoint is signed,
/// and that the leaf is in the checkpoint's tree. Returns the receipt.
pub fn verify_receipt(jws: &str, keys: &[PublicKey]) -> Result<Receipt, EvidenceError> {
    let bad = |message: String| EvidenceError::Receipt(message);
    let header = jsonwebtoken::decode_header(jws.trim()).map_err(|e| bad(format!("header: {e}")))?;
    if header.alg != Algorithm::EdDSA {
        return Err(bad(format!("alg {:?} is not EdDSA", header.alg)));
    }
    let kid = header.kid.ok_or_else(|| bad("no kid".to_owned()))?;
    let key = keys
        .iter()
        .find(|key| key.key_id() == kid)
        .ok_or_else(|| bad(format!("kid {kid} is none of the keys given")))?;
    let decoding = DecodingKey::from_ed_components(&URL_SAFE_NO_PAD.encode(key.raw()))
        .map_err(|e| bad(format!("key: {e}")))?;
    let mut validation = Validation::new(Algorithm::EdDSA);
    validation.required_spec_claims.clear();
    validation.validate_exp = false;
    validation.validate_aud = false;
    let receipt = jsonwebtoken::decode::<Receipt>(jws.trim(), &decoding, &validation)
        .map_err(|e| bad(format!("signature or payload: {e}")))?
        .claims;
    receipt.matches_leaf().map_err(|field| bad(format!("{field} does not match the record's leaf")))?;
    let evidence = &receipt.evidence;
    let leaf = &evidence.leaf;
    leaf.check_disclosure(&evidence.disclosure)
        .map_err(|field| bad(format!("disclosure.{field} is not what the leaf commits to")))?;
    let checkpoint = Checkpoint::open(&evidence.checkpoint, keys)?;
    if !checkpoint.origin.ends_with(&format!("/{}", leaf.tenant)) {
        return Err(bad(format!(
            "checkpoint origin {} is not tenant {}'s log",
            checkpoint.origin, leaf.tenant
        )));
    }
    let proof = hashes(&evidence.inclusion_proof)?;
    check_inclusion(&proof, checkpoint.size, checkpoint.root, evidence.log_index, leaf.hash())?;
    Ok(receipt)
}

/// Verifies an exported log (one [`ExportedLeaf`] JSON per line, in index
/// order) against signed checkpoints: every record re-encodes to the leaf
/// hash the log stored, the records are the log's from index 0 with none
/// missing or moved, and every checkpoint is signed by one of `keys`, is
/// the log's origin, and has the root of the log's first `size` records.
pub fn verify_log(
    export: &str,
    checkpoints: &[String],
    keys: &[PublicKey],
) -> Result<LogReport, EvidenceError> {
    let mut tree = MemoryTree::default();
    let mut tenant: Option<String> = None;
    for (line_number, line) in export.lines().enumerate().filter(|(_, line)| !line.trim().is_empty()) {
        let line: ExportedLeaf = serde_json::from_str(line).map_err(|e| EvidenceError::Record {
            revision: i64::try_from(line_number).unwrap_or(i64::MAX) + 1,
            id: String::new(),
            message: format!("line {} is not an exported leaf: {e}", line_number + 1),
        })?;
        let leaf = &line.leaf;
        let record =
            |message: String| EvidenceError::Record { revision: leaf.revision, id: leaf.id.clone(), message };
        if leaf.index() != Some(tree.size()) {
            return Err(record(format!(
                "is where record {} belongs: a record was removed or the records were reordered",
                tree.size() + 1
            )));
        }
        match &tenant {
            Some(tenant) if *tenant != leaf.tenant => {
                return Err(record(format!("is tenant {}'s, not {tenant}'s", leaf.tenant)));
            }
            Some(_) => {}
            None => tenant = Some(leaf.tenant.clone()),
        }
        let stored = hash(&line.leaf_hash).map_err(|_| record("has a malformed leaf hash".to_owned()))?;
        if leaf.hash() != stored {
            return Err(record(
                "does not match the leaf hash the log stored: a stored value was changed".to_owned(),
            ));
        }
        if let Some(kept) = &line.record_hash
            && hash(kept).ok() != Some(stored)
        {
            return Err(record(
                "keeps a leaf hash that is not the log's: a stored value was changed".to_owned(),
            ));
        }
        tree.append(stored)?;
    }
    let mut opened =
        checkpoints.iter().map(|note| Checkpoint::open(note, keys)).collect::<Result<Vec<_>, _>>()?;
    opened.sort_by_key(|checkpoint| checkpoint.size);
    let mut sizes = Vec::new();
    for checkpoint in &opened {
        let mismatch = |message: String| EvidenceError::CheckpointMismatch { size: checkpoint.size, message };
        if let Some(tenant) = &tenant
            && !checkpoint.origin.ends_with(&format!("/{tenant}"))
        {
            return Err(mismatch(format!("origin {} is not tenant {tenant}'s log", checkpoint.origin)));
        }
        if checkpoint.size > tree.size() {
            return Err(mismatch(format!("the log holds only {} records", tree.size())));
        }
        if checkpoint.size > 0 && tree.root(checkpoint.size)? != checkpoint.root {
            return Err(mismatch(
                "its root is not the log's: records before it were changed, removed or reordered".to_owned(),
            ));
        }
        sizes.push(checkpoint.size);
    }
    Ok(LogReport { records: tree.size(), checkpoints: sizes })
}

/// Base64 hashes, at most [`MAX_PROOF_HASHES`].
pub fn hashes(encoded: &[String]) -> Result<Vec<Hash>, EvidenceError> {
    if encoded.len() > MAX_PROOF_HASHES {
        return Err(EvidenceError::Proof(format!(
            "{} hashes; a proof has at most {MAX_PROOF_HASHES}",
            encoded.len()
        )));
    }
    encoded.iter().map(|text| hash(text)).collect()
}

fn hash(text: &str) -> Result<Hash, EvidenceError> {
    let bytes = STANDARD.decode(text).map_err(|e| EvidenceError::Proof(format!("hash {text:?}: {e}")))?;
    bytes.try_into().map(Hash).map_err(|_| EvidenceError::Proof(format!("hash {text:?} is not 32 bytes")))
}
