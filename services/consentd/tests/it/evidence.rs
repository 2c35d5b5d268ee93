//! The verifiable log through the public interfaces: receipts over gRPC,
//! checked by `consentd verify` and by an independent check written here
//! from the documented encoding (docs/evidence.md); checkpoints and
//! consistency proofs; the public keys at the well-known route; a record
//! changed in the database named by `consentd verify --log`.

use std::path::Path;
use std::process::Command;

use base64::Engine as _;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use consent_proto::v1 as pb;
use consent_proto::v1::evidence_service_client::EvidenceServiceClient;
use ed25519_dalek::Verifier as _;
use serde_json::Value;
use sha2::{Digest, Sha256};
use tonic::Code;
use tonic::transport::Channel;

use crate::http_client::send;
use crate::support::{TestServer, identity, record_request};

async fn evidence_client(server: &TestServer) -> EvidenceServiceClient<Channel> {
    EvidenceServiceClient::new(server.channel().await)
}

/// Records `count` decisions; their ids.
async fn write(server: &TestServer, count: usize) -> Vec<String> {
    let mut client = server.client().await;
    let mut ids = Vec::new();
    for i in 0..count {
        let mut request = record_request(
            identity("email", &format!("p{i}@example.com")),
            "marketing",
            "",
            pb::Decision::Granted,
        );
        request.evidence = Some(pb::Evidence {
            ip: "203.0.113.7".into(),
            user_agent: "Mozilla/5.0".into(),
            ..Default::default()
        });
        let response = client.record_consent(request).await.unwrap().into_inner();
        ids.push(response.records[0].id.clone());
    }
    ids
}

fn verify(args: &[&str]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_consentd")).arg("verify").args(args).output().unwrap()
}

fn leaf_hash(bytes: &[u8]) -> [u8; 32] {
    Sha256::new().chain_update([0]).chain_update(bytes).finalize().into()
}

fn node_hash(left: &[u8], right: &[u8]) -> [u8; 32] {
    Sha256::new().chain_update([1]).chain_update(left).chain_update(right).finalize().into()
}

/// RFC 9162 §2.1.3.2: the root an inclusion proof implies.
fn root_from_proof(index: u64, size: u64, leaf: [u8; 32], proof: &[[u8; 32]]) -> Option<[u8; 32]> {
    let (mut fn_, mut sn, mut r) = (index, size - 1, leaf);
    for p in proof {
        if sn == 0 {
            return None;
        }
        if fn_ & 1 == 1 || fn_ == sn {
            r = node_hash(p, &r);
            if fn_ & 1 == 0 {
                while fn_ & 1 == 0 && fn_ != 0 {
                    fn_ >>= 1;
                    sn >>= 1;
                }
            }
        } else {
            r = node_hash(&r, p);
        }
        fn_ >>= 1;
        sn >>= 1;
    }
    (sn == 0).then_some(r)
}

/// The receipt checked without consent-evidence: JSON with sorted keys and
/// no whitespace is the leaf (serde_json's maps are ordered), HMAC-SHA256
/// commitments, RFC 9162 hashing, and ed25519 over the JWS and the note.
fn check_independently(jws: &str, public_key: &str) {
    let (name, rest) = public_key.split_once('+').unwrap();
    let key_data = STANDARD.decode(rest.split_once('+').unwrap().1).unwrap();
    assert_eq!(key_data[0], 1, "an ed25519 key");
    let key = ed25519_dalek::VerifyingKey::from_bytes(&key_data[1..].try_into().unwrap()).unwrap();
    let parts: Vec<&str> = jws.split('.').collect();
    let signature = ed25519_dalek::Signature::from_slice(&URL_SAFE_NO_PAD.decode(parts[2]).unwrap()).unwrap();
    key.verify(format!("{}.{}", parts[0], parts[1]).as_bytes(), &signature).expect("the JWS signature");
    let payload: Value = serde_json::from_slice(&URL_SAFE_NO_PAD.decode(parts[1]).unwrap()).unwrap();
    let evidence = &payload["evidence"];
    let leaf = &evidence["leaf"];
    // The commitments are of the disclosed values under the disclosed salt.
    let salt = hex::decode(evidence["disclosure"]["salt"].as_str().unwrap()).unwrap();
    let commit = |field: &str, value: &str| {
        use hmac::Mac as _;
        let mut mac = hmac::Hmac::<Sha256>::new_from_slice(&salt).unwrap();
        mac.update(format!("consentd/commitment/v1\n{field}\n{value}").as_bytes());
        hex::encode(mac.finalize().into_bytes())
    };
    assert_eq!(leaf["evidence"]["ip"], commit("ip", evidence["disclosure"]["ip"].as_str().unwrap()));
    let identity = &evidence["disclosure"]["identities"][0];
    let field = format!("identity:{}", identity["namespace"].as_str().unwrap());
    assert_eq!(leaf["identities"][0]["value"], commit(&field, identity["value"].as_str().unwrap()));
    assert_eq!(leaf["id"], payload["consentReceiptID"]);
    // The leaf in the checkpoint's tree.
    let canonical = serde_json::to_vec(leaf).unwrap();
    let proof: Vec<[u8; 32]> = evidence["inclusion_proof"]
        .as_array()
        .unwrap()
        .iter()
        .map(|hash| STANDARD.decode(hash.as_str().unwrap()).unwrap().try_into().unwrap())
        .collect();
    let note = evidence["checkpoint"].as_str().unwrap();
    let (text, signatures) = note.split_once("\n\n").unwrap();
    let lines: Vec<&str> = text.lines().collect();
    let size: u64 = lines[1].parse().unwrap();
    let root = STANDARD.decode(lines[2]).unwrap();
    let index = evidence["log_index"].as_u64().unwrap();
    let implied =
        root_from_proof(index, size, leaf_hash(&canonical), &proof).expect("a proof of the right length");
    assert_eq!(implied.as_slice(), root.as_slice(), "the leaf is in the checkpoint's tree");
    // The note's signature (c2sp.org/signed-note): "— <name> base64(id || sig)".
    let line = signatures.lines().next().unwrap();
    let (signer, blob) = line.strip_prefix("\u{2014} ").unwrap().split_once(' ').unwrap();
    assert_eq!(signer, name);
    let blob = STANDARD.decode(blob).unwrap();
    let note_signature = ed25519_dalek::Signature::from_slice(&blob[4..]).unwrap();
    key.verify(format!("{text}\n").as_bytes(), &note_signature).expect("the checkpoint's signature");
}

#[tokio::test]
async fn a_receipt_verifies_with_the_command_and_independently() {
    let server = TestServer::start().await;
    let ids = write(&server, 9).await;
    let mut evidence = evidence_client(&server).await;
    let receipt = evidence
        .get_receipt(pb::GetReceiptRequest { record_id: ids[4].clone() })
        .await
        .unwrap()
        .into_inner()
        .receipt;
    let checkpoint =
        evidence.get_checkpoint(pb::GetCheckpointRequest { fresh: false }).await.unwrap().into_inner();
    assert!(checkpoint.tree_size >= 5);
    let public_key = checkpoint.public_keys[0].clone();
    // The well-known route publishes the same keys.
    let response = send(server.running().http_addr, "GET", "/.well-known/consentd/log-keys", &[], b"").await;
    assert_eq!(response.status, 200, "{response:?}");
    assert_eq!(response.json()["keys"][0], public_key.as_str());

    check_independently(&receipt, &public_key);

    let dir = tempfile::tempdir().unwrap();
    let (key_file, receipt_file) = (dir.path().join("keys.txt"), dir.path().join("receipt.jws"));
    std::fs::write(&key_file, format!("{public_key}\n")).unwrap();
    std::fs::write(&receipt_file, &receipt).unwrap();
    let output =
        verify(&["--public-key", key_file.to_str().unwrap(), "--receipt", receipt_file.to_str().unwrap()]);
    assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
    assert!(String::from_utf8_lossy(&output.stdout).contains(&ids[4]));

    // One byte of the payload changed: refused, exit 1, naming why.
    let mut tampered: Vec<char> = receipt.chars().collect();
    let middle = receipt.find('.').unwrap() + 40;
    tampered[middle] = if tampered[middle] == 'A' { 'B' } else { 'A' };
    std::fs::write(&receipt_file, tampered.into_iter().collect::<String>()).unwrap();
    let output =
        verify(&["--public-key", key_file.to_str().unwrap(), "--receipt", receipt_file.to_str().unwrap()]);
    assert_eq!(output.status.code(), Some(1), "{}", String::from_utf8_lossy(&output.stderr));
    assert!(String::from_utf8_lossy(&output.stderr).contains("receipt"));
}

#[tokio::test]
async fn proofs_tie_records_and_checkpoints_together() {
    let server = TestServer::start().await;
    let ids = write(&server, 5).await;
    let mut evidence = evidence_client(&server).await;
    let first = evidence.get_checkpoint(pb::GetCheckpointRequest { fresh: true }).await.unwrap().into_inner();
    write(&server, 6).await;
    let second =
        evidence.get_checkpoint(pb::GetCheckpointRequest { fresh: true }).await.unwrap().into_inner();
    assert_eq!((first.tree_size, second.tree_size), (5, 11));
    let keys = vec![consent_evidence::PublicKey::parse(&first.public_keys[0]).unwrap()];
    let (old, new) = (
        consent_evidence::Checkpoint::open(&first.checkpoint, &keys).unwrap(),
        consent_evidence::Checkpoint::open(&second.checkpoint, &keys).unwrap(),
    );
    let proof = evidence
        .get_consistency_proof(pb::GetConsistencyProofRequest { first_size: 5, second_size: 11 })
        .await
        .unwrap()
        .into_inner();
    let hashes: Vec<_> =
        proof.hashes.iter().map(|h| consent_evidence::Hash(h.as_slice().try_into().unwrap())).collect();
    consent_evidence::tree::check_consistency(&hashes, 11, new.root, 5, old.root).unwrap();

    let inclusion = evidence
        .get_inclusion_proof(pb::GetInclusionProofRequest { record_id: ids[2].clone(), tree_size: 5 })
        .await
        .unwrap()
        .into_inner();
    assert_eq!((inclusion.leaf_index, inclusion.tree_size), (2, 5));
    assert_eq!(inclusion.checkpoint, first.checkpoint, "the checkpoint of that size");
    let proof: Vec<[u8; 32]> = inclusion.hashes.iter().map(|h| h.as_slice().try_into().unwrap()).collect();
    let root = root_from_proof(2, 5, leaf_hash(inclusion.leaf.as_bytes()), &proof).unwrap();
    assert_eq!(root.as_slice(), old.root.0.as_slice());

    // Sizes the log cannot prove: refused as the caller's mistake.
    for (first_size, second_size) in [(0, 5), (6, 5), (5, 1000)] {
        let refused = evidence
            .get_consistency_proof(pb::GetConsistencyProofRequest { first_size, second_size })
            .await
            .unwrap_err();
        assert_eq!(refused.code(), Code::InvalidArgument, "{first_size}, {second_size}: {refused:?}");
    }
    let refused = evidence
        .get_inclusion_proof(pb::GetInclusionProofRequest { record_id: ids[2].clone(), tree_size: 2 })
        .await
        .unwrap_err();
    assert_eq!(refused.code(), Code::InvalidArgument, "a tree that does not hold the record");
    let refused = evidence.get_receipt(pb::GetReceiptRequest { record_id: "nope".into() }).await.unwrap_err();
    assert_eq!(refused.code(), Code::InvalidArgument);
    let missing = uuid::Uuid::now_v7().to_string();
    let refused = evidence.get_receipt(pb::GetReceiptRequest { record_id: missing }).await.unwrap_err();
    assert_eq!(refused.code(), Code::NotFound);
}

#[tokio::test]
async fn a_record_changed_in_the_database_is_named_by_verify() {
    let server = TestServer::start().await;
    write(&server, 8).await;
    let mut evidence = evidence_client(&server).await;
    let checkpoint =
        evidence.get_checkpoint(pb::GetCheckpointRequest { fresh: true }).await.unwrap().into_inner();
    let dir = tempfile::tempdir().unwrap();
    let key_file = dir.path().join("keys.txt");
    std::fs::write(&key_file, checkpoint.public_keys.join("\n")).unwrap();
    let export = |out: &Path| {
        let output = Command::new(env!("CARGO_BIN_EXE_consentd"))
            .args(["evidence", "export", "--tenant", "default", "--out", out.to_str().unwrap()])
            .args(["--database-url", &server.database_url()])
            .output()
            .unwrap();
        assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
    };
    let verify_export = |out: &Path| {
        let checkpoint_file = out.join("checkpoint-8.txt");
        verify(&[
            "--public-key",
            key_file.to_str().unwrap(),
            "--log",
            out.join("log.jsonl").to_str().unwrap(),
            "--checkpoint",
            checkpoint_file.to_str().unwrap(),
        ])
    };
    let clean = dir.path().join("clean");
    export(&clean);
    let output = verify_export(&clean);
    assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
    assert!(String::from_utf8_lossy(&output.stdout).contains("8 records"));

    // Someone with write access to the database changes a decision.
    let db = sea_orm::Database::connect(server.database_url().as_str()).await.unwrap();
    sea_orm::ConnectionTrait::execute_unprepared(
        &db,
        "UPDATE consent_records SET decision = 'denied' WHERE revision = 6",
    )
    .await
    .unwrap();
    let changed = dir.path().join("changed");
    export(&changed);
    let output = verify_export(&changed);
    assert_eq!(output.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("record 6 "), "{stderr}");
}

#[tokio::test]
async fn with_the_log_off_a_receipt_is_built_when_asked() {
    // `[evidence] log = false`: writes hash nothing and nothing is appended
    // in the background; asking for evidence builds the log from the records.
    let server = TestServer::start_with(|config| {
        config.evidence.log = false;
        config.store.leaf_hashes = false;
    })
    .await;
    let ids = write(&server, 3).await;
    let mut evidence = evidence_client(&server).await;
    let receipt =
        evidence.get_receipt(pb::GetReceiptRequest { record_id: ids[1].clone() }).await.unwrap().into_inner();
    let checkpoint =
        evidence.get_checkpoint(pb::GetCheckpointRequest { fresh: false }).await.unwrap().into_inner();
    assert_eq!(checkpoint.tree_size, 3);
    check_independently(&receipt.receipt, &checkpoint.public_keys[0]);
}
