//! The Merkle tree of RFC 9162 (RFC 6962's, as Certificate Transparency and
//! Go's checksum database use it), kept as its **stored hashes**: for each
//! record, its leaf hash and the hashes of the complete subtrees it closes
//! — about two hashes a record, appended and never rewritten
//! (`tlog_tiles`'s layout, the same as Go's `sumdb/tlog`). Proofs read a
//! logarithmic number of them.

use tlog_tiles::{
    Hash, HashReader, check_record, check_tree, prove_record, prove_tree, stored_hash_count,
    stored_hashes_for_record_hash, tree_hash,
};

use crate::error::EvidenceError;

pub use tlog_tiles::{Tile, stored_hash_index};

/// A log's stored hashes in memory: what a verifier rebuilds from an
/// exported log, and what tests use as a store.
#[derive(Debug, Clone, Default)]
pub struct MemoryTree {
    hashes: Vec<Hash>,
    size: u64,
}

impl HashReader for MemoryTree {
    fn read_hashes(&self, indexes: &[u64]) -> Result<Vec<Hash>, tlog_tiles::Error> {
        indexes
            .iter()
            .map(|&index| {
                usize::try_from(index)
                    .ok()
                    .and_then(|index| self.hashes.get(index).copied())
                    .ok_or(tlog_tiles::Error::IndexesNotInTree)
            })
            .collect()
    }
}

impl MemoryTree {
    /// Appends the record whose leaf hash is `leaf`: the stored hashes it
    /// adds.
    pub fn append(&mut self, leaf: Hash) -> Result<Vec<Hash>, EvidenceError> {
        let added = hashes_to_store(self.size, leaf, self)?;
        self.hashes.extend(&added);
        self.size += 1;
        Ok(added)
    }

    /// How many records the tree holds.
    pub const fn size(&self) -> u64 {
        self.size
    }

    /// The root hash of the tree's first `size` records.
    pub fn root(&self, size: u64) -> Result<Hash, EvidenceError> {
        root(size, self)
    }
}

/// The stored hashes that appending record `n` (0-based) with leaf hash
/// `leaf` adds, reading earlier ones from `reader`.
pub fn hashes_to_store<R: HashReader>(n: u64, leaf: Hash, reader: &R) -> Result<Vec<Hash>, EvidenceError> {
    stored_hashes_for_record_hash(n, leaf, reader).map_err(proof_error)
}

/// Where record `n`'s stored hashes start: the index of its leaf hash.
pub fn first_stored_index(n: u64) -> u64 {
    stored_hash_count(n)
}

/// The root hash of a tree of `size` records.
pub fn root<R: HashReader>(size: u64, reader: &R) -> Result<Hash, EvidenceError> {
    tree_hash(size, reader).map_err(proof_error)
}

/// The proof that the tree of `size` records holds record `index`.
pub fn inclusion_proof<R: HashReader>(size: u64, index: u64, reader: &R) -> Result<Vec<Hash>, EvidenceError> {
    prove_record(size, index, reader).map_err(proof_error)
}

/// Checks that `proof` shows the tree of `size` records with root `root`
/// holds `leaf` at `index`.
pub fn check_inclusion(
    proof: &[Hash],
    size: u64,
    root: Hash,
    index: u64,
    leaf: Hash,
) -> Result<(), EvidenceError> {
    if index >= size {
        return Err(EvidenceError::Proof(format!("record {index} is not in a tree of {size}")));
    }
    check_record(&proof.to_vec(), size, root, index, leaf).map_err(proof_error)
}

/// The proof that the tree of `second` records extends the tree of
/// `first`.
pub fn consistency_proof<R: HashReader>(
    second: u64,
    first: u64,
    reader: &R,
) -> Result<Vec<Hash>, EvidenceError> {
    prove_tree(second, first, reader).map_err(proof_error)
}

/// Checks that `proof` shows the tree of `second` records with root
/// `second_root` extends the tree of `first` records with root
/// `first_root`.
pub fn check_consistency(
    proof: &[Hash],
    second: u64,
    second_root: Hash,
    first: u64,
    first_root: Hash,
) -> Result<(), EvidenceError> {
    if first == 0 || first > second {
        return Err(EvidenceError::Proof(format!("no tree of {first} is a prefix of one of {second}")));
    }
    check_tree(&proof.to_vec(), second, second_root, first, first_root).map_err(proof_error)
}

fn proof_error(err: tlog_tiles::Error) -> EvidenceError {
    EvidenceError::Proof(err.to_string())
}
