//! Reads on a real hot standby (PostgreSQL streaming replication): they
//! go there while it keeps up, `min_revision` holds across it, and a
//! standby whose replay is paused or that is stopped is left for the primary
//! and taken back once it catches up.

use std::time::{Duration, Instant};

use consent_core::{
    CheckConsent, ConsentService, ConsentStatus, Decision, FeedFilter, GetConsent, Identity, SubjectRef,
    TenantId, WriteOutcome,
};
use consent_store::testing::ReplicatedPostgres;
use consent_store::{SqlStore, StoreOptions};

use crate::support::record;

/// A store on the primary that reads from the standby; no check cache, so
/// every check reads a database.
async fn store_on(cluster: &ReplicatedPostgres) -> ConsentService<SqlStore> {
    let mut options = StoreOptions::new(cluster.primary_url());
    options.read_database_urls = vec![cluster.standby_url()];
    options.cache_max_bytes = 0;
    options.standby_max_lag = Duration::from_millis(400);
    options.standby_wait = Duration::from_millis(50);
    let store = SqlStore::connect(&options).await.expect("connect");
    store.migrate().await.expect("migrate");
    store.record_statements();
    ConsentService::new(store)
}

fn tenant() -> TenantId {
    TenantId::default_tenant()
}

fn check(user: &str, min_revision: i64) -> CheckConsent {
    CheckConsent {
        subject: SubjectRef::Identity(Identity::new("user_id", user)),
        purpose: "marketing".into(),
        target: String::new(),
        at: None,
        min_revision,
    }
}

/// Waits until the standby is in use (`true`) or out of use (`false`).
async fn until_standby_in_use(service: &ConsentService<SqlStore>, in_use: bool) {
    let deadline = Instant::now() + Duration::from_secs(30);
    while service.store().standbys()[0].in_use != in_use {
        assert!(
            Instant::now() < deadline,
            "the standby never became in_use = {in_use}: {:?}",
            service.store().standbys()
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// The reads of consent data since the last look that ran on the standby
/// (the monitor's own probes of its replay position are not counted).
fn standby_reads(service: &ConsentService<SqlStore>) -> Vec<String> {
    service
        .store()
        .take_statements()
        .into_iter()
        .filter(|(database, statement)| *database == "standby" && statement.sql.contains("FROM \""))
        .map(|(_, statement)| statement.to_string())
        .collect()
}

fn on_standby(service: &ConsentService<SqlStore>) -> usize {
    standby_reads(service).len()
}

/// A primary, its standby and a store on them, after `user` granted
/// marketing and the standby replayed it and serves reads.
async fn granted_and_replayed(user: &str) -> (ReplicatedPostgres, ConsentService<SqlStore>, WriteOutcome) {
    let cluster = ReplicatedPostgres::start();
    let service = store_on(&cluster).await;
    let written =
        service.record(&tenant(), record(user, "marketing", "", Decision::Granted)).await.expect("record");
    cluster.wait_for_replay();
    until_standby_in_use(&service, true).await;
    (cluster, service, written)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn min_revision_reads_its_own_writes_through_the_standby_under_concurrent_writes() {
    let (_cluster, service, _) = granted_and_replayed("warm-up").await;
    service.store().take_statements();

    // Writers flip their own user's decision and at once check it with the
    // write's revision, get the record and read it on the feed; other
    // writers keep the primary busy meanwhile.
    let mut writers = tokio::task::JoinSet::new();
    for writer in 0..8 {
        let service = service.clone();
        writers.spawn(async move {
            let user = format!("writer-{writer}");
            for round in 0..25 {
                let decision = if round % 2 == 0 { Decision::Granted } else { Decision::Denied };
                let written = service
                    .record(&tenant(), record(&user, "marketing", "", decision))
                    .await
                    .expect("record");
                let outcome = service.check(&tenant(), check(&user, written.revision)).await.expect("check");
                assert!(outcome.revision >= written.revision, "a check answered below its min_revision");
                let expected = if decision == Decision::Granted {
                    ConsentStatus::Granted
                } else {
                    ConsentStatus::Denied
                };
                assert_eq!(outcome.status, expected, "{user} round {round}: the check missed its own write");
                let record_id = written.records[0].id;
                service.get(&tenant(), GetConsent::ById(record_id)).await.expect("get");
                let page = service
                    .read_changes(&tenant(), &FeedFilter::default(), written.revision - 1, 10)
                    .await
                    .expect("read changes");
                assert_eq!(page.records.first().map(|r| r.id), Some(record_id), "the feed missed the write");
            }
        });
    }
    while let Some(done) = writers.join_next().await {
        done.expect("writer");
    }
    assert!(on_standby(&service) > 0, "no read went to the standby");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_paused_replay_takes_the_standby_out_of_use_until_it_catches_up() {
    let (cluster, service, _) = granted_and_replayed("u").await;

    cluster.pause_replay();
    let withdrawn =
        service.record(&tenant(), record("u", "marketing", "", Decision::Denied)).await.expect("record");
    // With the revision, the answer is the primary's at once.
    let outcome = service.check(&tenant(), check("u", withdrawn.revision)).await.expect("check");
    assert_eq!(outcome.status, ConsentStatus::Denied);

    // Without it, the standby may answer only while within its lag; once
    // out of use, every check sees the withdrawal.
    until_standby_in_use(&service, false).await;
    service.store().take_statements();
    for _ in 0..20 {
        let outcome = service.check(&tenant(), check("u", 0)).await.expect("check");
        assert_eq!(outcome.status, ConsentStatus::Denied, "a standby behind by more than its lag answered");
    }
    let served = standby_reads(&service);
    assert!(
        served.is_empty(),
        "a standby out of use served reads: {served:?} {:?}",
        service.store().standbys()
    );

    cluster.resume_replay();
    until_standby_in_use(&service, true).await;
    for _ in 0..20 {
        let outcome = service.check(&tenant(), check("u", 0)).await.expect("check");
        assert_eq!(outcome.status, ConsentStatus::Denied);
    }
    assert!(on_standby(&service) > 0, "the standby was not taken back");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stopped_standby_is_left_for_the_primary_and_taken_back_when_it_returns() {
    let (cluster, service, written) = granted_and_replayed("u").await;

    cluster.stop_standby();
    // No read fails: the first one on the lost standby is answered by the
    // primary, and the standby is out of use from then on.
    for round in 0..20 {
        let outcome =
            service.check(&tenant(), check("u", 0)).await.expect("a check failed with the standby down");
        assert_eq!(outcome.status, ConsentStatus::Granted, "round {round}");
        service.get(&tenant(), GetConsent::ById(written.records[0].id)).await.expect("get");
    }
    until_standby_in_use(&service, false).await;

    cluster.start_standby();
    until_standby_in_use(&service, true).await;
    service.store().take_statements();
    for _ in 0..20 {
        service.check(&tenant(), check("u", 0)).await.expect("check");
    }
    assert!(on_standby(&service) > 0, "the standby was not taken back");
}
