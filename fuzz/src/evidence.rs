//! Genuine evidence (a small log, its checkpoints, a receipt) and the
//! mutations the `evidence_verify` target applies to it: malformed
//! proofs, wrong sizes, swapped hashes, truncated signatures, changed
//! leaves, another tenant's checkpoint.

use arbitrary::Arbitrary;
use consent_core::{ConsentRecord, Decision, EventKind, Evidence, Identity, TenantId, Timestamp};
use consent_evidence::tree::{MemoryTree, check_consistency, check_inclusion, consistency_proof, inclusion_proof};
use consent_evidence::{Checkpoint, ExportedLeaf, Hash, Leaf, LogKey, PublicKey, Receipt, verify_log, verify_receipt};

const SALT: [u8; 32] = [3; 32];
const RECORDS: u64 = 13;

/// The evidence every input starts from.
pub struct Genuine {
    key: LogKey,
    keys: Vec<PublicKey>,
    records: Vec<ConsentRecord>,
    tree: MemoryTree,
    receipt: Receipt,
}

/// What the input changes.
#[derive(Debug, Arbitrary)]
pub enum Mutation {
    /// Bytes of the receipt's JWS replaced.
    ReceiptBytes { at: u16, bytes: Vec<u8> },
    /// The receipt cut short.
    ReceiptTruncated { len: u16 },
    /// A field of the receipt's payload changed, then signed by the log's key.
    ReceiptField { field: u8, text: String, number: u64 },
    /// An inclusion proof checked for other sizes, indexes and hashes.
    Inclusion { size: u64, index: u64, swap: u8, drop: u8, extra: Option<[u8; 32]> },
    /// A consistency proof checked for other sizes and hashes.
    Consistency { first: u64, second: u64, swap: u8, drop: u8 },
    /// An exported log's lines changed.
    Log { line: u8, text: String, checkpoint_size: u64 },
}

impl Genuine {
    /// A log of [`RECORDS`] records and the receipt of one.
    pub fn new() -> Self {
        let key = LogKey::generate("consentd").expect("a key");
        let keys = vec![PublicKey::parse(key.public()).expect("its public key")];
        let records: Vec<ConsentRecord> = (1..=i64::try_from(RECORDS).unwrap_or(1)).map(record).collect();
        let mut tree = MemoryTree::default();
        for record in &records {
            tree.append(Leaf::of(record, &SALT).hash()).expect("appended");
        }
        let proof = inclusion_proof(RECORDS, 5, &tree).expect("a proof");
        let receipt = Receipt::new(&records[5], &SALT, &proof, checkpoint(&key, &tree, "acme", RECORDS));
        Self { key, keys, records, tree, receipt }
    }

    /// Applies `mutation` and checks the verifier's answer.
    pub fn check(&self, mutation: &Mutation) {
        match mutation {
            Mutation::ReceiptBytes { at, bytes } => {
                let jws = self.receipt.sign(&self.key).expect("signed");
                let mut changed = jws.clone().into_bytes();
                let at = usize::from(*at) % changed.len();
                for (offset, byte) in bytes.iter().enumerate() {
                    if let Some(slot) = changed.get_mut(at + offset) {
                        *slot = *byte;
                    }
                }
                let changed = String::from_utf8_lossy(&changed).into_owned();
                if changed != jws {
                    // A change to the signing input or the signature never verifies
                    // (a change inside base64 padding bits may decode the same).
                    if let Ok(receipt) = verify_receipt(&changed, &self.keys) {
                        assert_eq!(receipt, self.receipt, "a changed receipt verified as another");
                    }
                }
            }
            Mutation::ReceiptTruncated { len } => {
                let jws = self.receipt.sign(&self.key).expect("signed");
                let len = usize::from(*len) % jws.len();
                assert!(verify_receipt(&jws[..len], &self.keys).is_err(), "a truncated receipt verified");
            }
            Mutation::ReceiptField { field, text, number } => {
                let mut receipt = self.receipt.clone();
                let evidence = &mut receipt.evidence;
                match field % 8 {
                    0 => evidence.leaf.purpose.clone_from(text),
                    1 => evidence.disclosure.ip.clone_from(text),
                    2 => evidence.log_index = *number,
                    3 => evidence.inclusion_proof.reverse(),
                    4 => evidence.checkpoint = checkpoint(&self.key, &self.tree, "globex", RECORDS),
                    5 => evidence.checkpoint = checkpoint(&self.key, &self.tree, "acme", number % RECORDS + 1),
                    6 => evidence.inclusion_proof.push(text.clone()),
                    _ => receipt.consent_receipt_id.clone_from(text),
                }
                let jws = receipt.sign(&self.key).expect("signed");
                if receipt != self.receipt && verify_receipt(&jws, &self.keys).is_ok() {
                    // Only a change that leaves the evidence as it was may verify.
                    assert_eq!(receipt.evidence.leaf, self.receipt.evidence.leaf);
                    assert_eq!(receipt.evidence.log_index, self.receipt.evidence.log_index);
                }
            }
            Mutation::Inclusion { size, index, swap, drop, extra } => {
                let (size, index) = (size % (RECORDS + 2), index % (RECORDS + 2));
                let proof_size = size.clamp(1, RECORDS);
                let proof_index = index.min(proof_size - 1);
                let mut proof = inclusion_proof(proof_size, proof_index, &self.tree).expect("a proof");
                mutate(&mut proof, *swap, *drop);
                if let Some(extra) = extra {
                    proof.push(Hash(*extra));
                }
                let leaf = Leaf::of(&self.records[usize::try_from(index.min(RECORDS - 1)).unwrap_or(0)], &SALT).hash();
                let root = self.tree.root(proof_size).expect("a root");
                // The root is the genuine tree's; only its shape depends on
                // the size claimed. What a proof may show is that this leaf
                // is at `index` of that tree: true exactly when it is.
                if check_inclusion(&proof, size, root, index, leaf).is_ok() {
                    assert!(index < proof_size, "a leaf proved at {index} of a tree of {proof_size}");
                }
            }
            Mutation::Consistency { first, second, swap, drop } => {
                let (first, second) = (first % (RECORDS + 2), second % (RECORDS + 2));
                let (a, b) = (first.clamp(1, RECORDS), second.clamp(1, RECORDS));
                let (small, large) = (a.min(b), a.max(b));
                let mut proof = consistency_proof(large, small, &self.tree).expect("a proof");
                mutate(&mut proof, *swap, *drop);
                let roots = (self.tree.root(small).expect("root"), self.tree.root(large).expect("root"));
                // Both roots are the genuine tree's, the smaller one's a
                // prefix of the larger's: a proof may only say so.
                if check_consistency(&proof, second, roots.1, first, roots.0).is_ok() {
                    assert!(first <= second && first > 0, "a consistency proof verified for {first} > {second}");
                }
            }
            Mutation::Log { line, text, checkpoint_size } => {
                let mut lines: Vec<String> = self
                    .records
                    .iter()
                    .map(|record| {
                        let leaf = Leaf::of(record, &SALT);
                        let leaf_hash = base64(&leaf.hash());
                        serde_json::to_string(&ExportedLeaf { leaf, leaf_hash, record_hash: None }).expect("json")
                    })
                    .collect();
                let genuine = lines.join("\n");
                let at = usize::from(*line) % lines.len();
                lines[at].clone_from(text);
                let size = checkpoint_size % (RECORDS + 1);
                let checkpoints = vec![checkpoint(&self.key, &self.tree, "acme", size.max(1))];
                let changed = lines.join("\n");
                if changed != genuine && verify_log(&changed, &checkpoints, &self.keys).is_ok() {
                    // Only the genuine log, or a prefix of it (records cut
                    // from the end, past the checkpoint, are no record
                    // changed), may verify.
                    let kept: Vec<Option<ExportedLeaf>> = changed
                        .lines()
                        .filter(|line| !line.trim().is_empty())
                        .map(|line| serde_json::from_str(line).ok())
                        .collect();
                    let originals: Vec<Option<ExportedLeaf>> =
                        genuine.lines().map(|line| serde_json::from_str(line).ok()).collect();
                    assert!(
                        kept.len() <= originals.len() && kept[..] == originals[..kept.len()],
                        "a changed log verified"
                    );
                }
            }
        }
    }
}

impl Default for Genuine {
    fn default() -> Self {
        Self::new()
    }
}

fn mutate(proof: &mut Vec<Hash>, swap: u8, drop: u8) {
    if proof.len() >= 2 && swap % 3 == 1 {
        let len = proof.len();
        let i = usize::from(swap) % len;
        proof.swap(i, (i + 1) % len);
    }
    if !proof.is_empty() && drop % 4 == 1 {
        proof.remove(usize::from(drop) % proof.len());
    }
}

fn base64(hash: &Hash) -> String {
    use base64::Engine as _;
    base64::engine::general_purpose::STANDARD.encode(hash.0)
}

fn checkpoint(key: &LogKey, tree: &MemoryTree, tenant: &str, size: u64) -> String {
    let root = tree.root(size).expect("a root");
    Checkpoint { origin: format!("consentd/{tenant}"), size, root, time: 1 }.sign(key).expect("signed")
}

fn record(revision: i64) -> ConsentRecord {
    ConsentRecord {
        id: uuid::Uuid::from_u128(u128::try_from(revision).unwrap_or(0)),
        tenant: TenantId::new("acme"),
        subject_id: uuid::Uuid::from_u128(7),
        identities: vec![Identity::new("email", format!("p{revision}@example.com"))],
        purpose: "marketing".to_owned(),
        target: String::new(),
        decision: Decision::Granted,
        collected_at: Timestamp::from_micros(1_000_000 + revision),
        expires_at: None,
        recorded_at: Timestamp::from_micros(2_000_000 + revision),
        source: "web".to_owned(),
        evidence: Evidence { ip: "203.0.113.7".to_owned(), ..Evidence::default() },
        revision,
        kind: EventKind::Recorded,
        implied_by: None,
        gpc_conflict: false,
    }
}
