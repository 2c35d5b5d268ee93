//! The consent semantics of docs/semantics.md, as every backend must implement them.

use consent_core::{
    CheckConsent, ConsentError, ConsentStatus, ConsentStore, Decision, GetConsent, Identity, QueryConsents,
    RecordFilter, SubjectRef, TenantId, UpdateConsent,
};

use crate::support::{TestStore, ago, record};

on_every_backend!(
    check_follows_the_latest_applicable_record,
    older_collected_at_is_history_not_state,
    expired_decider_never_falls_back,
    identities_link_and_conflicts_are_reported,
    idempotent_retries_write_once,
    updates_append_and_respect_expected_revision,
    queries_page_in_revision_order_per_tenant,
    tenants_never_see_each_other,
);

fn tenant() -> TenantId {
    TenantId::default_tenant()
}

async fn status(store: &TestStore, user: &str, purpose: &str, target: &str) -> ConsentStatus {
    store
        .service
        .check(
            &tenant(),
            CheckConsent {
                subject: SubjectRef::Identity(Identity::new("user_id", user)),
                purpose: purpose.into(),
                target: target.into(),
                at: None,
                min_revision: 0,
            },
        )
        .await
        .unwrap()
        .status
}

fn update(user: &str, purpose: &str, decision: Decision) -> UpdateConsent {
    UpdateConsent {
        subject: SubjectRef::Identity(Identity::new("user_id", user)),
        purpose: purpose.into(),
        target: String::new(),
        decision,
        collected_at: None,
        expires_at: None,
        source: String::new(),
        evidence: Default::default(),
        expected_revision: None,
        idempotency_key: String::new(),
    }
}

async fn check_follows_the_latest_applicable_record(store: TestStore) {
    let s = &store.service;
    s.record(&tenant(), record("u", "", "", Decision::Denied)).await.unwrap();
    assert_eq!(status(&store, "u", "marketing", "vendor-a").await, ConsentStatus::Denied);
    s.record(&tenant(), record("u", "marketing", "vendor-a", Decision::Granted)).await.unwrap();
    assert_eq!(status(&store, "u", "marketing", "vendor-a").await, ConsentStatus::Granted);
    assert_eq!(status(&store, "u", "marketing", "vendor-b").await, ConsentStatus::Denied);
    assert_eq!(status(&store, "nobody", "marketing", "").await, ConsentStatus::Unknown);
}

async fn older_collected_at_is_history_not_state(store: TestStore) {
    let s = &store.service;
    let mut newer = record("u", "marketing", "", Decision::Granted);
    newer.collected_at = Some(ago(60));
    s.record(&tenant(), newer).await.unwrap();
    let mut older = record("u", "marketing", "", Decision::Denied);
    older.collected_at = Some(ago(600));
    s.record(&tenant(), older).await.unwrap();
    assert_eq!(status(&store, "u", "marketing", "").await, ConsentStatus::Granted);
    let query = |history| QueryConsents {
        filter: RecordFilter { history, ..RecordFilter::default() },
        page_size: 0,
        page_token: String::new(),
    };
    assert_eq!(s.query(&tenant(), query(true), usize::MAX).await.unwrap().records.len(), 2);
    assert_eq!(s.query(&tenant(), query(false), usize::MAX).await.unwrap().records.len(), 1);
}

async fn expired_decider_never_falls_back(store: TestStore) {
    let s = &store.service;
    let mut grant = record("u", "marketing", "", Decision::Granted);
    grant.collected_at = Some(ago(600));
    s.record(&tenant(), grant).await.unwrap();
    let mut short = record("u", "marketing", "", Decision::Granted);
    short.collected_at = Some(ago(120));
    short.expires_at = Some(ago(60));
    s.record(&tenant(), short).await.unwrap();
    assert_eq!(status(&store, "u", "marketing", "").await, ConsentStatus::Expired);
}

async fn identities_link_and_conflicts_are_reported(store: TestStore) {
    let s = &store.service;
    let first = s.record(&tenant(), record("a", "marketing", "", Decision::Granted)).await.unwrap();
    let other = s.record(&tenant(), record("b", "marketing", "", Decision::Granted)).await.unwrap();
    // b's request also names a: the request's first known identity decides
    // the subject, and a stays where it is.
    let mut both = record("b", "analytics", "", Decision::Granted);
    both.identities.push(Identity::new("user_id", "a"));
    let second = s.record(&tenant(), both).await.unwrap();
    assert_eq!(second.subject_id, other.subject_id);
    assert_ne!(first.subject_id, second.subject_id);
    assert_eq!(second.conflicting_identities, [Identity::new("user_id", "a")]);
    let mut linked = record("b", "analytics", "", Decision::Denied);
    linked.identities.push(Identity::new("email", "b@example.com"));
    let third = s.record(&tenant(), linked).await.unwrap();
    assert_eq!(third.subject_id, second.subject_id);
    let found = s.store().subject_of(&tenant(), &Identity::new("email", "b@example.com")).await.unwrap();
    assert_eq!(found, Some(second.subject_id));
}

async fn idempotent_retries_write_once(store: TestStore) {
    let s = &store.service;
    let mut cmd = record("u", "marketing", "", Decision::Granted);
    cmd.idempotency_key = "k".into();
    let first = s.record(&tenant(), cmd.clone()).await.unwrap();
    let again = s.record(&tenant(), cmd.clone()).await.unwrap();
    assert_eq!(first, again);
    cmd.decisions[0].decision = Decision::Denied;
    assert!(matches!(s.record(&tenant(), cmd).await, Err(ConsentError::InvalidArgument(_))));
    assert_eq!(s.store().head_revision(&tenant(), 0).await.unwrap(), 1);
}

async fn updates_append_and_respect_expected_revision(store: TestStore) {
    let s = &store.service;
    assert!(matches!(
        s.update(&tenant(), update("u", "marketing", Decision::Denied)).await,
        Err(ConsentError::NotFound(_))
    ));
    let recorded = s.record(&tenant(), record("u", "marketing", "", Decision::Granted)).await.unwrap();
    let mut stale = update("u", "marketing", Decision::Denied);
    stale.expected_revision = Some(recorded.revision + 5);
    assert!(matches!(s.update(&tenant(), stale).await, Err(ConsentError::FailedPrecondition { .. })));
    let mut fresh = update("u", "marketing", Decision::Denied);
    fresh.expected_revision = Some(recorded.revision);
    s.update(&tenant(), fresh).await.unwrap();
    assert_eq!(status(&store, "u", "marketing", "").await, ConsentStatus::Denied);
    let current = s
        .get(
            &tenant(),
            GetConsent::Current {
                subject: SubjectRef::Identity(Identity::new("user_id", "u")),
                purpose: "marketing".into(),
                target: String::new(),
            },
        )
        .await
        .unwrap();
    assert_eq!(current.decision, Decision::Denied);
}

async fn queries_page_in_revision_order_per_tenant(store: TestStore) {
    let s = &store.service;
    for i in 0..25 {
        s.record(&tenant(), record(&format!("u{i}"), "marketing", "", Decision::Granted)).await.unwrap();
    }
    // Pages end by count, or by bytes (a budget smaller than one record
    // still gives one record a page): either way every record comes once.
    for (page_size, max_bytes, most_per_page) in [(4, usize::MAX, 4), (1000, 1, 1)] {
        let mut token = String::new();
        let mut seen = Vec::new();
        loop {
            let page = s
                .query(
                    &tenant(),
                    QueryConsents {
                        filter: RecordFilter { history: true, ..RecordFilter::default() },
                        page_size,
                        page_token: token,
                    },
                    max_bytes,
                )
                .await
                .unwrap();
            assert!(page.records.len() <= most_per_page);
            seen.extend(page.records.iter().map(|r| r.revision));
            if page.next_page_token.is_empty() {
                break;
            }
            token = page.next_page_token;
        }
        assert_eq!(seen, (1..=25).collect::<Vec<_>>());
    }
}

async fn tenants_never_see_each_other(store: TestStore) {
    let s = &store.service;
    let acme = TenantId::new("acme");
    let other = TenantId::new("other");
    let written = s.record(&acme, record("u", "marketing", "", Decision::Granted)).await.unwrap();
    s.record(&other, record("u", "marketing", "", Decision::Denied)).await.unwrap();
    let record_id = written.records[0].id;
    assert!(matches!(s.get(&other, GetConsent::ById(record_id)).await, Err(ConsentError::NotFound(_))));
    let check = s
        .check(
            &other,
            CheckConsent {
                subject: SubjectRef::Id(written.subject_id),
                purpose: "marketing".into(),
                target: String::new(),
                at: None,
                min_revision: 0,
            },
        )
        .await
        .unwrap();
    assert_eq!(check.status, ConsentStatus::Unknown, "subject ids are tenant-scoped");
    let page = s
        .query(
            &other,
            QueryConsents {
                filter: RecordFilter { history: true, ..RecordFilter::default() },
                page_size: 0,
                page_token: String::new(),
            },
            usize::MAX,
        )
        .await
        .unwrap();
    assert_eq!(page.records.len(), 1);
    assert_eq!(page.records[0].decision, Decision::Denied);
}
