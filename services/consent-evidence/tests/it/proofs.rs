//! The tree and its proofs, and the leaf's encoding.

use consent_evidence::tree::{
    MemoryTree, check_consistency, check_inclusion, consistency_proof, inclusion_proof,
};
use consent_evidence::{Checkpoint, Hash, Leaf, LogKey, PublicKey};

use crate::support::{Log, SALT, record};

#[test]
fn every_record_is_proved_in_every_tree_that_holds_it_and_nowhere_else() {
    let log = Log::new("acme", 33);
    for size in 1..=33_u64 {
        let root = log.tree.root(size).unwrap();
        for index in 0..size {
            let leaf = Leaf::of(&log.records[usize::try_from(index).unwrap()], &SALT).hash();
            let proof = inclusion_proof(size, index, &log.tree).unwrap();
            check_inclusion(&proof, size, root, index, leaf).unwrap();
            // Another index, another size, another leaf: refused.
            if index + 1 < size {
                assert!(check_inclusion(&proof, size, root, index + 1, leaf).is_err());
            }
            if size > 1 {
                let smaller = log.tree.root(size - 1).unwrap();
                assert!(check_inclusion(&proof, size - 1, smaller, index.min(size - 2), leaf).is_err());
            }
            assert!(check_inclusion(&proof, size, root, index, Hash([1; 32])).is_err());
        }
        assert!(check_inclusion(&[], size, root, size, Hash([0; 32])).is_err(), "past the tree");
    }
}

#[test]
fn every_tree_is_proved_to_extend_every_smaller_one() {
    let log = Log::new("acme", 21);
    for second in 1..=21_u64 {
        for first in 1..=second {
            let proof = consistency_proof(second, first, &log.tree).unwrap();
            let (first_root, second_root) = (log.tree.root(first).unwrap(), log.tree.root(second).unwrap());
            check_consistency(&proof, second, second_root, first, first_root).unwrap();
            assert!(check_consistency(&proof, second, second_root, first, Hash([9; 32])).is_err());
            if let Some(first_hash) = proof.first() {
                // A swapped or dropped hash is refused.
                let mut swapped = proof.clone();
                swapped[0] = Hash([first_hash.0[0] ^ 1; 32]);
                assert!(check_consistency(&swapped, second, second_root, first, first_root).is_err());
                assert!(check_consistency(&proof[1..], second, second_root, first, first_root).is_err());
            }
        }
        assert!(
            check_consistency(&[], second, log.tree.root(second).unwrap(), second + 1, Hash([0; 32]))
                .is_err()
        );
        assert!(check_consistency(&[], second, log.tree.root(second).unwrap(), 0, Hash([0; 32])).is_err());
    }
}

#[test]
fn the_root_is_rfc_9162s() {
    // RFC 9162 §2.1.1: MTH of one leaf is SHA-256(0x00 || d), of two
    // SHA-256(0x01 || MTH(d0) || MTH(d1)).
    use sha2::{Digest, Sha256};
    let mut tree = MemoryTree::default();
    let leaves = [b"first".as_slice(), b"second".as_slice(), b"third".as_slice()];
    let leaf = |data: &[u8]| Hash(Sha256::new().chain_update([0]).chain_update(data).finalize().into());
    let node = |l: Hash, r: Hash| {
        Hash(Sha256::new().chain_update([1]).chain_update(l.0).chain_update(r.0).finalize().into())
    };
    for data in leaves {
        tree.append(leaf(data)).unwrap();
    }
    assert_eq!(tree.root(1).unwrap(), leaf(leaves[0]));
    assert_eq!(tree.root(2).unwrap(), node(leaf(leaves[0]), leaf(leaves[1])));
    assert_eq!(tree.root(3).unwrap(), node(node(leaf(leaves[0]), leaf(leaves[1])), leaf(leaves[2])));
}

#[test]
fn the_leaf_is_canonical_json_with_identifying_values_committed() {
    let record = record("acme", 5);
    let leaf = Leaf::of(&record, &SALT);
    let text = String::from_utf8(leaf.to_bytes()).unwrap();
    let value: serde_json::Value = serde_json::from_str(&text).unwrap();
    // Keys in order, no whitespace: re-serializing a sorted map gives the same text.
    assert_eq!(serde_json::to_string(&value).unwrap(), text);
    assert!(!text.contains("person5@example.com") && !text.contains("203.0.113.7"), "{text}");
    assert_eq!(value["evidence"]["ip"].as_str().unwrap().len(), 64);
    assert_eq!(value["purpose"], "marketing");
    // Another salt: other commitments, another leaf.
    assert_ne!(Leaf::of(&record, &[8; 32]).hash(), leaf.hash());
    let disclosure = consent_evidence::Disclosure::of(&record, &SALT);
    leaf.check_disclosure(&disclosure).unwrap();
    let mut wrong = disclosure;
    wrong.user_agent.push('!');
    assert_eq!(leaf.check_disclosure(&wrong), Err("evidence.user_agent".to_owned()));
}

#[test]
fn a_checkpoint_opens_only_with_its_key_and_unchanged() {
    let log = Log::new("acme", 4);
    let note = log.checkpoint(4);
    let opened = Checkpoint::open(&note, &log.public()).unwrap();
    assert_eq!((opened.origin.as_str(), opened.size, opened.time), ("consentd/acme", 4, 1_796_565_000));
    assert_eq!(opened.root, log.tree.root(4).unwrap());
    assert!(
        note.starts_with("consentd/acme\n4\n") && note.contains("\ntime 1796565000\n\n\u{2014} consentd "),
        "{note}"
    );

    let other = PublicKey::parse(LogKey::generate("consentd").unwrap().public()).unwrap();
    assert!(Checkpoint::open(&note, &[other]).is_err(), "another key");
    let tampered = note.replacen("\n4\n", "\n5\n", 1);
    assert!(Checkpoint::open(&tampered, &log.public()).is_err(), "another size");
    let truncated = &note[..note.len() - 10];
    assert!(Checkpoint::open(truncated, &log.public()).is_err(), "a truncated signature");
    // The private key round-trips, and its public half is the one given.
    let again = LogKey::from_private(log.key.private()).unwrap();
    assert_eq!(again.public(), log.key.public());
    assert!(LogKey::from_private("PRIVATE+KEY+x+00000000+AAAA").is_err());
}

/// Found by the `evidence_verify` fuzz target (an oracle that expected a
/// proof to fail for any other size): the size only shapes the proof's
/// path, so a proof checks against the root it is given. For leaf 0 the
/// trees of 13 and 14 records have the same path, and the proof shows,
/// truly, that leaf 0 is in the tree whose root it was given. What binds a
/// size to its root is the signed checkpoint: receipts and logs are
/// checked against both together.
#[test]
fn a_proof_is_about_the_root_it_is_given_and_the_checkpoint_binds_the_size() {
    let log = Log::new("acme", 14);
    let (root13, root14) = (log.tree.root(13).unwrap(), log.tree.root(14).unwrap());
    let leaf = Leaf::of(&log.records[0], &SALT).hash();
    let proof = inclusion_proof(13, 0, &log.tree).unwrap();
    check_inclusion(&proof, 14, root13, 0, leaf).unwrap();
    assert!(check_inclusion(&proof, 14, root14, 0, leaf).is_err(), "not in the tree of 14 records");
}
