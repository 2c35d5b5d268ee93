//! The verifiable log in the store: records appended behind their commits
//! (once, with two replicas appending at once), exported and verified
//! against a signed checkpoint — and every stored column of a record,
//! changed in the database, named by the verifier.

use consent_core::{Decision, Evidence, Identity, PurposeDecision, RecordConsent, TenantId};
use consent_evidence::{Checkpoint, EvidenceError, LogKey, LogStore as _, PublicKey, verify_log};
use sea_orm::ConnectionTrait;

use crate::support::TestStore;

on_every_backend!(
    records_are_appended_once_and_verify,
    every_changed_column_names_its_record,
    tiles_hold_the_same_tree_across_tile_boundaries,
);

const RECORDS: i64 = 40;

async fn write_records(store: &TestStore) {
    for i in 0..RECORDS {
        let cmd = RecordConsent {
            identities: vec![Identity::new("email", format!("p{}@example.com", i % 7))],
            decisions: vec![PurposeDecision::stated(format!("purpose-{}", i % 3), "", Decision::Granted)],
            collected_at: None,
            expires_at: None,
            source: "web".into(),
            evidence: Evidence {
                ip: "203.0.113.7".into(),
                user_agent: "Mozilla/5.0".into(),
                uri: "https://shop.example/".into(),
                metadata_json: "{\"k\":1}".into(),
                ..Evidence::default()
            },
            idempotency_key: String::new(),
        };
        store.service.record(&TenantId::new("acme"), cmd).await.unwrap();
    }
}

fn export_lines(exported: &[consent_evidence::ExportedLeaf]) -> String {
    exported.iter().map(|line| serde_json::to_string(line).unwrap() + "\n").collect()
}

async fn signed_checkpoint(store: &TestStore, key: &LogKey, size: u64) -> String {
    let tenant = TenantId::new("acme");
    let root = store.service.store().log_root(&tenant, size).await.unwrap();
    Checkpoint { origin: "consentd/acme".into(), size, root, time: 1 }.sign(key).unwrap()
}

async fn records_are_appended_once_and_verify(store: TestStore) {
    write_records(&store).await;
    let tenant = TenantId::new("acme");
    let replica = store.replica().await;
    // Two replicas append at once, a few records at a time.
    let (a, b) = (store.service.store().clone(), replica.store().clone());
    let appenders = [a, b].map(|store| {
        let tenant = tenant.clone();
        tokio::spawn(async move {
            for _ in 0..30 {
                store.append_log(&tenant, 3).await.unwrap();
            }
        })
    });
    for appender in appenders {
        appender.await.unwrap();
    }
    assert_eq!(store.service.store().log_size(&tenant).await.unwrap(), 40);
    assert_eq!(store.service.store().append_log(&tenant, 100).await.unwrap(), 40, "nothing more to append");

    let key = LogKey::generate("consentd").unwrap();
    let keys = vec![PublicKey::parse(key.public()).unwrap()];
    let checkpoints =
        vec![signed_checkpoint(&store, &key, 17).await, signed_checkpoint(&store, &key, 40).await];
    let exported = store.service.store().export_log(&tenant).await.unwrap();
    let report = verify_log(&export_lines(&exported), &checkpoints, &keys).unwrap();
    assert_eq!((report.records, report.checkpoints), (40, vec![17, 40]));

    // Proofs from the store check against its roots.
    let root = store.service.store().log_root(&tenant, 40).await.unwrap();
    for index in [0, 16, 39] {
        let proof = store.service.store().log_inclusion_proof(&tenant, 40, index).await.unwrap();
        let leaf = exported[usize::try_from(index).unwrap()].leaf.hash();
        consent_evidence::tree::check_inclusion(&proof, 40, root, index, leaf).unwrap();
    }
    let proof = store.service.store().log_consistency_proof(&tenant, 40, 17).await.unwrap();
    let old_root = store.service.store().log_root(&tenant, 17).await.unwrap();
    consent_evidence::tree::check_consistency(&proof, 40, root, 17, old_root).unwrap();
}

async fn every_changed_column_names_its_record(store: TestStore) {
    write_records(&store).await;
    let tenant = TenantId::new("acme");
    store.service.store().append_log(&tenant, 100).await.unwrap();
    let key = LogKey::generate("consentd").unwrap();
    let keys = vec![PublicKey::parse(key.public()).unwrap()];
    let checkpoints = vec![signed_checkpoint(&store, &key, 40).await];
    let postgres = store.database.backend == consent_store::testing::Backend::Postgres;
    let flip = |column: &str| if postgres { format!("NOT {column}") } else { format!("1 - {column}") };
    // Each column of consent_records, changed on its own record, latest
    // first: the verifier names the earliest record that does not verify.
    let changes: Vec<(&str, String)> = vec![
        ("id", "'00000000-0000-7000-8000-000000000001'".into()),
        ("subject_id", "'00000000-0000-5000-8000-000000000002'".into()),
        ("identities", "'[{\"namespace\":\"email\",\"value\":\"someone@else.example\"}]'".into()),
        ("purpose", "purpose || 'x'".into()),
        ("target", "target || 'x'".into()),
        ("decision", "'denied'".into()),
        ("collected_at", "collected_at + 1".into()),
        ("expires_at", "1".into()),
        ("recorded_at", "recorded_at + 1".into()),
        ("source", "source || 'x'".into()),
        ("kind", "'updated'".into()),
        ("user_agent", "user_agent || 'x'".into()),
        ("ip", "'198.51.100.1'".into()),
        ("proxy_ip", "'198.51.100.2'".into()),
        ("gpc", flip("gpc")),
        ("uri", "uri || 'x'".into()),
        ("country", "'DE'".into()),
        ("region", "'BY'".into()),
        ("city", "'Munich'".into()),
        ("notice_version", "'v2'".into()),
        ("policy_version", "'v3'".into()),
        ("message", "'changed'".into()),
        ("metadata_json", "'{\"k\":2}'".into()),
        ("consent_id", "'c-1'".into()),
        ("vendor", "'jentis'".into()),
        ("payload_digest", "'ab'".into()),
        ("tc_string", "'CO'".into()),
        ("gpp_string", "'DB'".into()),
        ("implied_by", "'tcf'".into()),
        ("gpc_conflict", flip("gpc_conflict")),
        ("revision", "revision + 1000".into()),
        ("removed", "'x'".into()),
        ("leaf_hash", "'00'".into()),
        ("tenant", "'globex'".into()),
    ];
    assert!(changes.len() < 40);
    let db = sea_orm::Database::connect(store.database.url.as_str()).await.unwrap();
    for (column, revision) in changes.iter().zip((2..40).rev()) {
        let (column, value) = column;
        let sql = format!(
            "UPDATE consent_records SET {column} = {value} WHERE tenant = 'acme' AND revision = {revision}"
        );
        db.execute_unprepared(&sql).await.unwrap_or_else(|err| panic!("{sql}: {err}"));
        let exported = store.service.store().export_log(&tenant).await.unwrap();
        let error = verify_log(&export_lines(&exported), &checkpoints, &keys).unwrap_err();
        assert!(matches!(error, EvidenceError::Record { .. }), "{column}: {error}");
        assert!(
            error.to_string().contains(&format!("record {revision}")),
            "{column} of record {revision}: {error}"
        );
    }
}

/// More records than a tile holds, appended in uneven steps: the tiles give
/// the tree an in-memory one builds from the same leaves, at every size,
/// with proofs across tile boundaries.
async fn tiles_hold_the_same_tree_across_tile_boundaries(store: TestStore) {
    let tenant = TenantId::new("acme");
    let cmds: Vec<RecordConsent> = (0..600)
        .map(|i| RecordConsent {
            identities: vec![Identity::new("user_id", format!("u{i}"))],
            decisions: vec![PurposeDecision::stated("ads", "", Decision::Granted)],
            collected_at: None,
            expires_at: None,
            source: "web".into(),
            evidence: Evidence::default(),
            idempotency_key: String::new(),
        })
        .collect();
    for chunk in cmds.chunks(100) {
        store.service.record_all(&tenant, chunk.to_vec()).await.unwrap();
    }
    let (mut size, mut step) = (0, 1);
    while size < 600 {
        size = store.service.store().append_log(&tenant, step).await.unwrap();
        step = step * 7 % 300 + 1;
    }
    let mut memory = consent_evidence::tree::MemoryTree::default();
    let mut leaves = Vec::new();
    for exported in store.service.store().export_log(&tenant).await.unwrap() {
        leaves.push(exported.leaf.hash());
        memory.append(exported.leaf.hash()).unwrap();
    }
    let store = store.service.store();
    for size in [1, 2, 255, 256, 257, 300, 511, 512, 513, 599, 600] {
        let root = store.log_root(&tenant, size).await.unwrap();
        assert_eq!(root, memory.root(size).unwrap(), "root at {size}");
        for index in [0, size / 2, size - 1] {
            let proof = store.log_inclusion_proof(&tenant, size, index).await.unwrap();
            let leaf = leaves[usize::try_from(index).unwrap()];
            consent_evidence::tree::check_inclusion(&proof, size, root, index, leaf).unwrap();
        }
        for first in [1, 256, 257] {
            if first <= size {
                let proof = store.log_consistency_proof(&tenant, size, first).await.unwrap();
                let old = store.log_root(&tenant, first).await.unwrap();
                consent_evidence::tree::check_consistency(&proof, size, root, first, old).unwrap();
            }
        }
    }
}
