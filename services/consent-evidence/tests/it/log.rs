//! A whole exported log against its checkpoints.

use consent_evidence::{EvidenceError, verify_log};

use crate::support::{Log, base64_hash, lines};

#[test]
fn an_untouched_log_verifies_against_every_checkpoint() {
    let log = Log::new("acme", 20);
    let checkpoints = [5, 13, 20].map(|size| log.checkpoint(size)).to_vec();
    let report = verify_log(&lines(&log.export()), &checkpoints, &log.public()).unwrap();
    assert_eq!((report.records, report.checkpoints), (20, vec![5, 13, 20]));
}

#[test]
fn a_changed_removed_or_moved_record_is_named() {
    let log = Log::new("acme", 12);
    let checkpoints = vec![log.checkpoint(12)];
    let keys = log.public();

    let mut changed = log.export();
    changed[6].leaf.purpose = "analytics".to_owned();
    let error = verify_log(&lines(&changed), &checkpoints, &keys).unwrap_err();
    assert!(matches!(&error, EvidenceError::Record { revision: 7, .. }), "{error}");

    // Changed with its stored leaf hash: the checkpoint no longer matches.
    let mut rehashed = log.export();
    rehashed[6].leaf.purpose = "analytics".to_owned();
    rehashed[6].leaf_hash = base64_hash(&rehashed[6].leaf);
    let error = verify_log(&lines(&rehashed), &checkpoints, &keys).unwrap_err();
    assert!(matches!(&error, EvidenceError::CheckpointMismatch { size: 12, .. }), "{error}");

    let mut removed = log.export();
    removed.remove(3);
    let error = verify_log(&lines(&removed), &checkpoints, &keys).unwrap_err();
    assert!(matches!(&error, EvidenceError::Record { revision: 5, .. }), "{error}");

    let mut moved = log.export();
    moved.swap(2, 3);
    assert!(matches!(verify_log(&lines(&moved), &checkpoints, &keys), Err(EvidenceError::Record { .. })));

    let short = log.export()[..10].to_vec();
    let error = verify_log(&lines(&short), &checkpoints, &keys).unwrap_err();
    assert!(matches!(&error, EvidenceError::CheckpointMismatch { size: 12, .. }), "{error}");
}

/// Found by the `evidence_verify` fuzz target (an oracle that expected any
/// cut to fail): records cut from the end of a log, past every checkpoint
/// given, leave a prefix that verifies against those checkpoints. Nothing
/// signed speaks for the records after the last checkpoint; a checkpoint
/// that covers them catches the cut.
#[test]
fn a_log_cut_after_its_last_checkpoint_is_a_prefix_and_verifies() {
    let log = Log::new("acme", 12);
    let export = log.export();
    let cut = lines(&export[..9]);
    let report = verify_log(&cut, &[log.checkpoint(9)], &log.public()).unwrap();
    assert_eq!(report.records, 9);
    let error = verify_log(&cut, &[log.checkpoint(9), log.checkpoint(12)], &log.public()).unwrap_err();
    assert!(matches!(error, EvidenceError::CheckpointMismatch { size: 12, .. }), "{error}");
}
