//! Erasure and retention in the store, on both backends: the values that
//! identify a person are never stored as they are; after an erasure none
//! can be opened or found, checks know nothing of the subject, its records
//! stay with those values gone, and the log — every leaf, every proof —
//! is unchanged. Retention removes the same values from records that
//! stopped being current, except under a legal hold.

use std::path::{Path, PathBuf};

use consent_core::{
    CheckConsent, ConsentError, ConsentRecord, ConsentStatus, Decision, EraseSubject, EventKind, Evidence,
    Identity, PurposeDecision, QueryConsents, RecordConsent, RecordFilter, SubjectRef, TenantId, Timestamp,
};
use consent_evidence::{Checkpoint, LogKey, LogStore as _, LoggedValues, PublicKey, verify_log};
use consent_store::testing::Backend;
use sea_orm::{ConnectionTrait, Statement};
use uuid::Uuid;

use crate::support::{TestStore, ago};

on_every_backend!(
    erasure_keeps_every_proof_and_nothing_that_identifies,
    identifying_values_never_reach_the_database_files,
    a_legal_hold_stops_erasure_and_retention,
    retention_removes_only_what_stopped_being_current,
    another_master_key_is_refused,
);

/// Values that appear nowhere else: found in a file, they came from here.
struct Person {
    email: String,
    user_id: String,
    ip: String,
    user_agent: String,
    uri: String,
    marker: String,
}

impl Person {
    fn new() -> Self {
        let tag = Uuid::now_v7().simple().to_string().chars().rev().collect::<String>();
        Self {
            email: format!("erin-{tag}@example.com"),
            user_id: format!("user-{tag}"),
            ip: format!("2001:db8::{}", &tag[..4]),
            user_agent: format!("Agent/{tag}"),
            uri: format!("https://shop.example/{tag}"),
            marker: format!("note-{tag}"),
        }
    }

    fn values(&self) -> [&str; 6] {
        [&self.email, &self.user_id, &self.ip, &self.user_agent, &self.uri, &self.marker]
    }

    fn record(&self, purpose: &str, decision: Decision) -> RecordConsent {
        RecordConsent {
            identities: vec![Identity::new("email", &self.email), Identity::new("user_id", &self.user_id)],
            decisions: vec![PurposeDecision::stated(purpose, "", decision)],
            collected_at: None,
            expires_at: None,
            source: "web".into(),
            evidence: Evidence {
                ip: self.ip.clone(),
                user_agent: self.user_agent.clone(),
                uri: self.uri.clone(),
                message: self.marker.clone(),
                metadata_json: format!("{{\"note\":\"{}\"}}", self.marker),
                consent_id: format!("c-{}", self.marker),
                ..Evidence::default()
            },
            idempotency_key: String::new(),
        }
    }
}

fn acme() -> TenantId {
    TenantId::new("acme")
}

async fn check(
    store: &TestStore,
    subject: SubjectRef,
    purpose: &str,
    at: Option<Timestamp>,
) -> ConsentStatus {
    let cmd = CheckConsent { subject, purpose: purpose.into(), target: String::new(), at, min_revision: 0 };
    store.service.check(&acme(), cmd).await.unwrap().status
}

async fn history(store: &TestStore) -> Vec<ConsentRecord> {
    let filter = RecordFilter { history: true, ..RecordFilter::default() };
    let cmd = QueryConsents { filter, page_size: 1000, page_token: String::new() };
    store.service.query(&acme(), cmd, usize::MAX).await.unwrap().records
}

async fn signed_checkpoint(store: &TestStore, key: &LogKey) -> (u64, String) {
    let size = consent_evidence::log::catch_up(store.service.store(), &acme()).await.unwrap();
    let root = store.service.store().log_root(&acme(), size).await.unwrap();
    (size, Checkpoint { origin: "consentd/acme".into(), size, root, time: 1 }.sign(key).unwrap())
}

fn lines(exported: &[consent_evidence::ExportedLeaf]) -> String {
    exported.iter().map(|line| serde_json::to_string(line).unwrap() + "\n").collect()
}

async fn erasure_keeps_every_proof_and_nothing_that_identifies(store: TestStore) {
    let (erin, other) = (Person::new(), Person::new());
    let service = &store.service;
    let erin_id =
        service.record(&acme(), erin.record("analytics", Decision::Granted)).await.unwrap().subject_id;
    service.record(&acme(), erin.record("ads", Decision::Denied)).await.unwrap();
    service.record(&acme(), other.record("analytics", Decision::Granted)).await.unwrap();
    service.record(&acme(), erin.record("ads", Decision::Granted)).await.unwrap();
    let key = LogKey::generate("consentd").unwrap();
    let keys = vec![PublicKey::parse(key.public()).unwrap()];
    let (size_before, before) = signed_checkpoint(&store, &key).await;
    let leaves_before = service.store().export_log(&acme()).await.unwrap();
    let by_email = || SubjectRef::Identity(Identity::new("email", &erin.email));
    assert_eq!(check(&store, by_email(), "ads", None).await, ConsentStatus::Granted);

    let revision = service.erase(&acme(), EraseSubject { subject: by_email() }).await.unwrap();

    // Checks know nothing of the subject, by any identity, by its id, now or
    // at a time before the erasure.
    for subject in
        [by_email(), SubjectRef::Identity(Identity::new("user_id", &erin.user_id)), SubjectRef::Id(erin_id)]
    {
        for at in [None, Some(ago(0))] {
            assert_eq!(
                check(&store, subject.clone(), "ads", at).await,
                ConsentStatus::Unknown,
                "{subject:?} {at:?}"
            );
        }
    }
    let other_ref = SubjectRef::Identity(Identity::new("email", &other.email));
    assert_eq!(check(&store, other_ref, "analytics", None).await, ConsentStatus::Granted);
    // Its records stay, filed under no subject, their identifying values gone.
    let records = history(&store).await;
    let erased: Vec<&ConsentRecord> = records.iter().filter(|r| r.subject_id == Uuid::nil()).collect();
    assert_eq!(erased.len(), 3);
    for record in &erased {
        assert!(record.identities.is_empty(), "{record:?}");
        let e = &record.evidence;
        assert!(
            [&e.ip, &e.user_agent, &e.uri, &e.message, &e.metadata_json, &e.consent_id]
                .iter()
                .all(|v| v.is_empty())
        );
        assert_eq!(record.source, "web", "what does not identify stays");
    }
    let announcement = records.iter().find(|r| r.kind == EventKind::Erased).expect("an erased event");
    assert_eq!((announcement.subject_id, announcement.revision), (erin_id, revision));
    assert!(records.iter().any(|r| r.identities.iter().any(|i| i.value == other.email)));

    // The log: every leaf the same, old and new checkpoints verify, a
    // removed record's proof still served from what it kept.
    let (_, after) = signed_checkpoint(&store, &key).await;
    let leaves_after = service.store().export_log(&acme()).await.unwrap();
    assert_eq!(leaves_after[..leaves_before.len()], leaves_before[..]);
    let report = verify_log(&lines(&leaves_after), &[before, after], &keys).unwrap();
    assert_eq!(report.records, u64::try_from(leaves_after.len()).unwrap());
    let logged = service.store().logged_record(&acme(), erased[0].id).await.unwrap().unwrap();
    assert!(matches!(logged.values, LoggedValues::Removed(_)));
    assert_eq!(logged.record.subject_id, erin_id, "the leaf names the subject it was filed under");
    let index = usize::try_from(logged.record.revision - 1).unwrap();
    assert_eq!(logged.leaf(), leaves_before[index].leaf);
    assert!(size_before > 0);

    // Done once: again, nothing to erase.
    let again = service.erase(&acme(), EraseSubject { subject: SubjectRef::Id(erin_id) }).await;
    assert!(matches!(again, Err(ConsentError::NotFound(_))), "{again:?}");
    // The same person deciding again is a subject anew.
    service.record(&acme(), erin.record("ads", Decision::Denied)).await.unwrap();
    assert_eq!(check(&store, by_email(), "ads", None).await, ConsentStatus::Denied);
    assert_eq!(check(&store, by_email(), "analytics", None).await, ConsentStatus::Unknown);
}

async fn identifying_values_never_reach_the_database_files(store: TestStore) {
    let erin = Person::new();
    let service = &store.service;
    service.record(&acme(), erin.record("analytics", Decision::Granted)).await.unwrap();
    service.record(&acme(), erin.record("ads", Decision::Denied)).await.unwrap();
    consent_evidence::log::catch_up(service.store(), &acme()).await.unwrap();
    let db = sea_orm::Database::connect(store.database.url.as_str()).await.unwrap();
    let wrapped = wrapped_keys(&db).await;
    assert_eq!(wrapped.len(), 1);
    let files = database_files(&store, &db).await;
    assert!(!files.is_empty());
    assert_absent(&files, &erin.values());

    service
        .erase(
            &acme(),
            EraseSubject { subject: SubjectRef::Identity(Identity::new("user_id", &erin.user_id)) },
        )
        .await
        .unwrap();
    assert!(wrapped_keys(&db).await.is_empty());
    let files = database_files(&store, &db).await;
    assert_absent(&files, &erin.values());
    if store.database.backend == Backend::Sqlite {
        // SQLite overwrites deleted rows (secure_delete): the destroyed key
        // is nowhere in the file. PostgreSQL leaves a deleted row's bytes
        // until the space is reused (docs/evidence.md#erasure).
        let raw: Vec<&[u8]> = wrapped.iter().map(String::as_bytes).collect();
        assert_absent_bytes(&files, &raw, &wrapped);
    }
}

async fn wrapped_keys(db: &sea_orm::DatabaseConnection) -> Vec<String> {
    let rows = db
        .query_all_raw(Statement::from_string(db.get_database_backend(), "SELECT wrapped FROM subject_keys"))
        .await
        .unwrap();
    rows.iter().map(|row| row.try_get::<String>("", "wrapped").unwrap()).collect()
}

/// The database's files, flushed: SQLite's file after a checkpoint that
/// empties the WAL (and the WAL), or PostgreSQL's data files of this
/// database and its whole WAL after a CHECKPOINT.
async fn database_files(store: &TestStore, db: &sea_orm::DatabaseConnection) -> Vec<PathBuf> {
    match store.database.backend {
        Backend::Sqlite => {
            db.execute_unprepared("PRAGMA wal_checkpoint(TRUNCATE)").await.unwrap();
            let path =
                store.database.url.trim_start_matches("sqlite://").split('?').next().unwrap().to_owned();
            let mut files = vec![PathBuf::from(&path)];
            files.extend(
                [format!("{path}-wal"), format!("{path}-shm")]
                    .map(PathBuf::from)
                    .into_iter()
                    .filter(|p| p.exists()),
            );
            files
        }
        Backend::Postgres => {
            db.execute_unprepared("CHECKPOINT").await.unwrap();
            let one = |sql: &str| {
                let sql = Statement::from_string(sea_orm::DbBackend::Postgres, sql);
                async move { db.query_one_raw(sql).await.unwrap().unwrap() }
            };
            let data: String = one("SHOW data_directory").await.try_get("", "data_directory").unwrap();
            let oid: i64 =
                one("SELECT oid::bigint AS oid FROM pg_database WHERE datname = current_database()")
                    .await
                    .try_get("", "oid")
                    .unwrap();
            let mut files = Vec::new();
            for dir in [Path::new(&data).join("base").join(oid.to_string()), Path::new(&data).join("pg_wal")]
            {
                for entry in std::fs::read_dir(&dir).unwrap_or_else(|err| panic!("{}: {err}", dir.display()))
                {
                    let path = entry.unwrap().path();
                    if path.is_file() {
                        files.push(path);
                    }
                }
            }
            files
        }
    }
}

fn assert_absent(files: &[PathBuf], values: &[&str]) {
    let raw: Vec<&[u8]> = values.iter().map(|v| v.as_bytes()).collect();
    let names: Vec<String> = values.iter().map(|v| (*v).to_owned()).collect();
    assert_absent_bytes(files, &raw, &names);
}

fn assert_absent_bytes(files: &[PathBuf], needles: &[&[u8]], names: &[String]) {
    for file in files {
        let Ok(bytes) = std::fs::read(file) else { continue };
        for (needle, name) in needles.iter().zip(names) {
            assert!(!bytes.windows(needle.len()).any(|w| w == *needle), "{name} is in {}", file.display());
        }
    }
}

async fn a_legal_hold_stops_erasure_and_retention(store: TestStore) {
    let held = Person::new();
    let service = &store.service;
    let subject = service.record(&acme(), held.record("ads", Decision::Granted)).await.unwrap().subject_id;
    service.record(&acme(), held.record("ads", Decision::Denied)).await.unwrap();
    consent_evidence::log::catch_up(service.store(), &acme()).await.unwrap();
    let by_email = SubjectRef::Identity(Identity::new("email", &held.email));
    assert_eq!(service.store().place_legal_hold(&acme(), &by_email, "case 42").await.unwrap(), subject);
    let holds = service.store().legal_holds(&acme()).await.unwrap();
    assert_eq!((holds.len(), holds[0].reason.as_str()), (1, "case 42"));
    let nobody = SubjectRef::Id(Uuid::now_v7());
    let refused = service.store().place_legal_hold(&acme(), &nobody, "case 43").await;
    assert!(matches!(refused, Err(ConsentError::NotFound(_))), "{refused:?}");
    match service.erase(&acme(), EraseSubject { subject: by_email.clone() }).await {
        Err(ConsentError::FailedPrecondition { reason: "LEGAL_HOLD", .. }) => {}
        other => panic!("{other:?}"),
    }
    service.store().apply_retention(&acme(), ago(-10)).await.unwrap();
    assert!(history(&store).await.iter().all(|r| !r.identities.is_empty()), "nothing removed under hold");
    assert_eq!(check(&store, by_email.clone(), "ads", None).await, ConsentStatus::Denied);

    assert!(service.store().release_legal_hold(&acme(), &by_email).await.unwrap());
    assert!(!service.store().release_legal_hold(&acme(), &by_email).await.unwrap());
    service.erase(&acme(), EraseSubject { subject: by_email.clone() }).await.unwrap();
    assert_eq!(check(&store, by_email, "ads", None).await, ConsentStatus::Unknown);
}

async fn retention_removes_only_what_stopped_being_current(store: TestStore) {
    let erin = Person::new();
    let service = &store.service;
    let subject = service.record(&acme(), erin.record("ads", Decision::Granted)).await.unwrap().subject_id;
    service.record(&acme(), erin.record("analytics", Decision::Granted)).await.unwrap();
    service.record(&acme(), erin.record("ads", Decision::Denied)).await.unwrap();
    let key = LogKey::generate("consentd").unwrap();
    let keys = vec![PublicKey::parse(key.public()).unwrap()];
    let (_, before) = signed_checkpoint(&store, &key).await;
    let leaves_before = service.store().export_log(&acme()).await.unwrap();

    // Nothing stopped being current before an hour ago.
    service.store().apply_retention(&acme(), ago(3600)).await.unwrap();
    assert!(history(&store).await.iter().all(|r| !r.identities.is_empty()));

    service.store().apply_retention(&acme(), ago(-10)).await.unwrap();
    let records = history(&store).await;
    let [first, second, third] = &records[..] else { panic!("{records:?}") };
    // The replaced grant lost its identifying values, and stays the subject's.
    assert_eq!((first.purpose.as_str(), first.subject_id), ("ads", subject));
    assert!(first.identities.is_empty() && first.evidence.ip.is_empty() && first.evidence.uri.is_empty());
    // The current records keep theirs.
    for current in [second, third] {
        assert_eq!(current.identities.len(), 2, "{current:?}");
        assert_eq!(current.evidence.ip, erin.ip);
    }
    let by_email = SubjectRef::Identity(Identity::new("email", &erin.email));
    assert_eq!(check(&store, by_email.clone(), "ads", None).await, ConsentStatus::Denied);
    assert_eq!(
        check(&store, by_email.clone(), "ads", Some(first.collected_at)).await,
        ConsentStatus::Granted
    );
    // The log is the same.
    let leaves_after = service.store().export_log(&acme()).await.unwrap();
    assert_eq!(leaves_after, leaves_before);
    verify_log(&lines(&leaves_after), &[before], &keys).unwrap();
    // A later erasure takes the rest.
    service.erase(&acme(), EraseSubject { subject: by_email }).await.unwrap();
    let (_, after) = signed_checkpoint(&store, &key).await;
    let leaves = service.store().export_log(&acme()).await.unwrap();
    assert_eq!(leaves[..leaves_before.len()], leaves_before[..]);
    verify_log(&lines(&leaves), &[after], &keys).unwrap();
}

/// A database remembers the master key its subject keys are wrapped under:
/// a replica given another is refused, naming the setting, and writes
/// nothing.
async fn another_master_key_is_refused(store: TestStore) {
    let erin = Person::new();
    store.service.record(&acme(), erin.record("ads", Decision::Granted)).await.unwrap();
    let mut options = consent_store::StoreOptions::new(store.database.url.clone());
    options.master_key = Some(consent_vault::MasterKey::from_bytes([7; 32]));
    let other = consent_core::ConsentService::new(consent_store::SqlStore::connect(&options).await.unwrap());
    let by_email = || SubjectRef::Identity(Identity::new("email", &erin.email));
    let cmd = CheckConsent {
        subject: by_email(),
        purpose: "ads".into(),
        target: String::new(),
        at: None,
        min_revision: 0,
    };
    match other.check(&acme(), cmd).await {
        Err(ConsentError::Unavailable(message)) => assert!(message.contains("master key"), "{message}"),
        other => panic!("{other:?}"),
    }
    assert!(other.record(&acme(), erin.record("ads", Decision::Denied)).await.is_err());
    assert_eq!(check(&store, by_email(), "ads", None).await, ConsentStatus::Granted);
}
