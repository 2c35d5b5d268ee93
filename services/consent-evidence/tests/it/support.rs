//! Records, a log of them, and its signed checkpoints.

use consent_core::{ConsentRecord, Decision, EventKind, Evidence, Identity, TenantId, Timestamp};
use consent_evidence::tree::MemoryTree;
use consent_evidence::{Checkpoint, ExportedLeaf, Leaf, LogKey, Salt};
use uuid::Uuid;

pub(crate) const SALT: Salt = [7; 32];

pub(crate) fn record(tenant: &str, revision: i64) -> ConsentRecord {
    ConsentRecord {
        id: Uuid::from_u128(u128::try_from(revision).unwrap()),
        tenant: TenantId::new(tenant),
        subject_id: Uuid::from_u128(42),
        identities: vec![Identity::new("email", format!("person{revision}@example.com"))],
        purpose: "marketing".to_owned(),
        target: if revision % 2 == 0 { String::new() } else { "vendor-a".to_owned() },
        decision: if revision % 3 == 0 { Decision::Denied } else { Decision::Granted },
        collected_at: Timestamp::from_micros(1_796_565_000_000_000 + revision),
        expires_at: None,
        recorded_at: Timestamp::from_micros(1_796_565_000_100_000 + revision),
        source: "web".to_owned(),
        evidence: Evidence {
            ip: "203.0.113.7".to_owned(),
            user_agent: "Mozilla/5.0 \"quoted\" ünïcode".to_owned(),
            uri: "https://shop.example/p?q=1".to_owned(),
            metadata_json: "{\"k\":1}".to_owned(),
            ..Evidence::default()
        },
        revision,
        kind: EventKind::Recorded,
        implied_by: None,
        gpc_conflict: false,
    }
}

/// A tenant's log of `count` records, its leaves and their stored hashes.
pub(crate) struct Log {
    pub(crate) records: Vec<ConsentRecord>,
    pub(crate) tree: MemoryTree,
    pub(crate) key: LogKey,
}

impl Log {
    pub(crate) fn new(tenant: &str, count: i64) -> Self {
        let records: Vec<_> = (1..=count).map(|revision| record(tenant, revision)).collect();
        let mut tree = MemoryTree::default();
        for record in &records {
            tree.append(Leaf::of(record, &SALT).hash()).unwrap();
        }
        Self { records, tree, key: LogKey::generate("consentd").unwrap() }
    }

    pub(crate) fn checkpoint(&self, size: u64) -> String {
        let tenant = self.records[0].tenant.as_str();
        let checkpoint = Checkpoint {
            origin: consent_evidence::checkpoint::origin("consentd", tenant),
            size,
            root: self.tree.root(size).unwrap(),
            time: 1_796_565_000,
        };
        checkpoint.sign(&self.key).unwrap()
    }

    pub(crate) fn export(&self) -> Vec<ExportedLeaf> {
        self.records
            .iter()
            .map(|record| {
                let leaf = Leaf::of(record, &SALT);
                let leaf_hash = base64_hash(&leaf);
                ExportedLeaf { leaf, leaf_hash, record_hash: None }
            })
            .collect()
    }

    pub(crate) fn public(&self) -> Vec<consent_evidence::PublicKey> {
        vec![consent_evidence::PublicKey::parse(self.key.public()).unwrap()]
    }
}

pub(crate) fn base64_hash(leaf: &Leaf) -> String {
    use base64::Engine as _;
    base64::engine::general_purpose::STANDARD.encode(leaf.hash().0)
}

pub(crate) fn lines(export: &[ExportedLeaf]) -> String {
    export.iter().map(|line| serde_json::to_string(line).unwrap() + "\n").collect()
}
