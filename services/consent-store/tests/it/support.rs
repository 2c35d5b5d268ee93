//! A store on a fresh SQLite file.

use consent_core::{ConsentService, Decision, Evidence, Identity, PurposeDecision, RecordConsent, Timestamp};
use consent_store::{SqlStore, StoreOptions};
use tempfile::TempDir;

pub(crate) struct TestStore {
    pub(crate) service: ConsentService<SqlStore>,
    _dir: TempDir,
}

impl TestStore {
    pub(crate) async fn open() -> Self {
        let dir = tempfile::tempdir().expect("temp dir");
        let url = format!("sqlite://{}?mode=rwc", dir.path().join("store.db").display());
        let store = SqlStore::connect(&StoreOptions::new(url)).await.expect("connect");
        store.migrate().await.expect("migrate");
        Self { service: ConsentService::new(store), _dir: dir }
    }
}

pub(crate) fn record(user: &str, purpose: &str, target: &str, decision: Decision) -> RecordConsent {
    RecordConsent {
        identities: vec![Identity::new("user_id", user)],
        decisions: vec![PurposeDecision { purpose: purpose.into(), target: target.into(), decision }],
        collected_at: None,
        expires_at: None,
        source: "api".into(),
        evidence: Evidence::default(),
        idempotency_key: String::new(),
    }
}

/// Microseconds of `seconds` before now.
pub(crate) fn ago(seconds: i64) -> Timestamp {
    Timestamp::now().saturating_add_micros(-seconds * 1_000_000)
}
