//! A store on a fresh database of either backend.

use consent_core::{ConsentService, Decision, Evidence, Identity, PurposeDecision, RecordConsent, Timestamp};
use consent_store::testing::{Backend, TestDatabase};
use consent_store::{SqlStore, StoreOptions};

pub(crate) struct TestStore {
    pub(crate) service: ConsentService<SqlStore>,
    pub(crate) database: TestDatabase,
}

impl TestStore {
    pub(crate) async fn open(backend: Backend) -> Self {
        let database = TestDatabase::new(backend).await;
        let store = SqlStore::connect(&StoreOptions::new(database.url.clone())).await.expect("connect");
        store.migrate().await.expect("migrate");
        Self { service: ConsentService::new(store), database }
    }

    /// A second, independent store handle on the same database (another
    /// replica's pool and committer).
    pub(crate) async fn replica(&self) -> ConsentService<SqlStore> {
        let store = SqlStore::connect(&StoreOptions::new(self.database.url.clone())).await.expect("connect");
        ConsentService::new(store)
    }
}

pub(crate) fn record(user: &str, purpose: &str, target: &str, decision: Decision) -> RecordConsent {
    RecordConsent {
        identities: vec![Identity::new("user_id", user)],
        decisions: vec![PurposeDecision::stated(purpose, target, decision)],
        collected_at: None,
        expires_at: None,
        source: "api".into(),
        evidence: Evidence::default(),
        idempotency_key: String::new(),
    }
}

/// The instant `seconds` before now.
pub(crate) fn ago(seconds: i64) -> Timestamp {
    Timestamp::now().saturating_add_micros(-seconds * 1_000_000)
}
