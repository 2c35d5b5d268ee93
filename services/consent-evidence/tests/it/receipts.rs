//! Receipts: signed, self-contained, and refused when any part is changed.

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use consent_evidence::tree::inclusion_proof;
use consent_evidence::{LogKey, PublicKey, Receipt, verify_receipt};

use crate::support::{Log, SALT};

fn receipt(log: &Log, index: usize, size: u64) -> Receipt {
    let proof = inclusion_proof(size, u64::try_from(index).unwrap(), &log.tree).unwrap();
    Receipt::new(&log.records[index], &SALT, &proof, log.checkpoint(size))
}

/// The JWS with its payload replaced by `receipt` (the signature kept).
fn with_payload(jws: &str, receipt: &Receipt) -> String {
    let parts: Vec<&str> = jws.split('.').collect();
    let payload = URL_SAFE_NO_PAD.encode(serde_json::to_vec(receipt).unwrap());
    format!("{}.{payload}.{}", parts[0], parts[2])
}

#[test]
fn a_receipt_verifies_with_the_public_key_alone() {
    let log = Log::new("acme", 13);
    for index in [0, 6, 12] {
        let receipt = receipt(&log, index, 13);
        let jws = receipt.sign(&log.key).unwrap();
        let verified = verify_receipt(&jws, &log.public()).unwrap();
        assert_eq!(verified, receipt);
        assert_eq!(verified.consent_receipt_id, log.records[index].id.to_string());
        assert_eq!(verified.version, "KI-CR-v1.1.0");
    }
}

#[test]
fn a_changed_receipt_is_refused_naming_what_does_not_verify() {
    let log = Log::new("acme", 9);
    let good = receipt(&log, 4, 9);
    let jws = good.sign(&log.key).unwrap();
    let keys = log.public();

    // Re-signed with another key, or given another key to check with.
    let stranger = LogKey::generate("consentd").unwrap();
    assert!(verify_receipt(&good.sign(&stranger).unwrap(), &keys).is_err());
    assert!(verify_receipt(&jws, &[PublicKey::parse(stranger.public()).unwrap()]).is_err());
    // A payload changed under the signature.
    let mut changed = good.clone();
    changed.services[0].purposes[0].decision = "denied".to_owned();
    assert!(verify_receipt(&with_payload(&jws, &changed), &keys).is_err());
    // A truncated signature.
    assert!(verify_receipt(&jws[..jws.len() - 4], &keys).is_err());

    // Changed and re-signed by the log's own key: the contents still do
    // not verify.
    let resigned = |receipt: &Receipt| receipt.sign(&log.key).unwrap();
    let mut decision = good.clone();
    decision.services[0].purposes[0].decision = "denied".to_owned();
    let error = verify_receipt(&resigned(&decision), &keys).unwrap_err().to_string();
    assert!(error.contains("decision"), "{error}");
    let mut leaf = good.clone();
    leaf.evidence.leaf.decision = "denied".to_owned();
    leaf.services[0].purposes[0].decision = "denied".to_owned();
    assert!(verify_receipt(&resigned(&leaf), &keys).unwrap_err().to_string().contains("proof"));
    let mut disclosure = good.clone();
    disclosure.evidence.disclosure.ip = "198.51.100.1".to_owned();
    assert!(
        verify_receipt(&resigned(&disclosure), &keys)
            .unwrap_err()
            .to_string()
            .contains("disclosure.evidence.ip")
    );
    let mut swapped = good.clone();
    swapped.evidence.inclusion_proof.swap(0, 1);
    assert!(verify_receipt(&resigned(&swapped), &keys).is_err());
    let mut longer = good.clone();
    longer.evidence.inclusion_proof = vec![longer.evidence.inclusion_proof[0].clone(); 65];
    assert!(verify_receipt(&resigned(&longer), &keys).is_err());
    // A proof against a tree of another size, or another tenant's log.
    let mut other_size = good.clone();
    other_size.evidence.checkpoint = log.checkpoint(8);
    assert!(verify_receipt(&resigned(&other_size), &keys).is_err());
    let other_tenant = Log { key: LogKey::from_private(log.key.private()).unwrap(), ..Log::new("globex", 9) };
    let mut foreign = good;
    foreign.evidence.checkpoint = other_tenant.checkpoint(9);
    assert!(verify_receipt(&resigned(&foreign), &keys).unwrap_err().to_string().contains("tenant"));
}
