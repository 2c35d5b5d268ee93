//! What Secure Privacy's routes and the webhook relay need of every backend:
//! the latest record per target and a key's first decision; subscriptions
//! whose lease one replica holds at a time, whose cursor moves only under
//! that lease, and whose redelivery or deletion takes the lease away.

use consent_core::webhooks::WebhookStore as _;
use consent_core::{
    ConsentError, ConsentStore, Decision, FeedFilter, Identity, Revision, SubjectRef, TenantId, Timestamp,
    UpdateLatest,
};
use consent_store::{DeliveryAttempt, DeliveryOutcome, Lease, Progress, WebhookState, event_id};
use uuid::Uuid;

use crate::support::{TestStore, ago, record};

on_every_backend!(
    latest_for_target_is_the_newest_current_record_of_any_purpose,
    update_latest_keeps_the_purpose_and_needs_a_record,
    one_replica_holds_a_lease_and_moves_the_cursor,
    redelivery_and_deletion_take_the_lease_away,
    subscriptions_are_per_tenant_and_capped,
);

fn tenant() -> TenantId {
    TenantId::default_tenant()
}

fn user(name: &str) -> SubjectRef {
    SubjectRef::Identity(Identity::new("user_id", name))
}

fn lease(owner: &str, now: Timestamp) -> Lease<'_> {
    Lease { owner, now, until: now.saturating_add_micros(10_000_000) }
}

fn attempt(subscription_id: Uuid, revision: Revision, outcome: DeliveryOutcome) -> DeliveryAttempt {
    DeliveryAttempt {
        id: Uuid::now_v7(),
        subscription_id,
        event_id: event_id(subscription_id, revision),
        revision,
        attempt: 1,
        outcome,
        status_code: Some(200),
        error: String::new(),
        latency_ms: 3,
        attempted_at: Timestamp::now(),
    }
}

/// A subscription to every change of the default tenant.
async fn any_subscription(sql: &consent_store::SqlStore) -> consent_store::WebhookSubscription {
    sql.create_webhook(
        Uuid::now_v7(),
        &tenant(),
        "secureprivacy",
        "http://127.0.0.1/h",
        &FeedFilter::default(),
        10,
    )
    .await
    .unwrap()
}

/// Records a successful delivery of `revision` by `owner`: whether it held
/// the lease.
async fn delivered(sql: &consent_store::SqlStore, id: Uuid, revision: Revision, owner: &str) -> bool {
    let attempt = attempt(id, revision, DeliveryOutcome::Delivered);
    sql.record_delivery(&attempt, &tenant(), owner, &Progress::Delivered).await.unwrap()
}

async fn latest_for_target_is_the_newest_current_record_of_any_purpose(store: TestStore) {
    let s = &store.service;
    let mut older = record("u", "Call", "doc", Decision::Granted);
    let older_at = ago(60);
    older.collected_at = Some(older_at);
    s.record(&tenant(), older).await.unwrap();
    s.record(&tenant(), record("u", "Chat", "doc", Decision::Denied)).await.unwrap();
    s.record(&tenant(), record("u", "Call", "other", Decision::Limited)).await.unwrap();

    let latest = s.latest(&tenant(), &user("u"), "doc", false).await.unwrap().expect("a record for doc");
    assert_eq!((latest.record.purpose.as_str(), latest.record.decision), ("Chat", Decision::Denied));
    assert_eq!(latest.first_collected_at, latest.record.collected_at);
    assert!(s.latest(&tenant(), &user("u"), "none", false).await.unwrap().is_none());
    assert!(s.latest(&tenant(), &user("nobody"), "doc", false).await.unwrap().is_none());
    // A record for any target applies to every target, when asked to.
    s.record(&tenant(), record("u", "", "", Decision::Limited)).await.unwrap();
    let applicable =
        s.latest(&tenant(), &user("u"), "none", true).await.unwrap().expect("the any-target record");
    assert_eq!((applicable.record.target.as_str(), applicable.record.decision), ("", Decision::Limited));
    assert!(s.latest(&tenant(), &user("u"), "none", false).await.unwrap().is_none());

    // A key's first decision stays its creation time after later ones.
    let first = s.latest(&tenant(), &user("u"), "other", false).await.unwrap().unwrap().record.collected_at;
    s.record(&tenant(), record("u", "Call", "other", Decision::Denied)).await.unwrap();
    let view = s.latest(&tenant(), &user("u"), "other", false).await.unwrap().unwrap();
    assert_eq!(view.first_collected_at, first);
    assert!(view.record.collected_at > first);
    // One grouped read gives every key's first decision.
    let subject = view.record.subject_id;
    let firsts = s.store().first_collected(&tenant(), &[subject, uuid::Uuid::nil()]).await.unwrap();
    let call_doc = firsts.iter().find(|f| f.purpose == "Call" && f.target == "doc").expect("Call for doc");
    assert_eq!(call_doc.at, older_at);
    assert_eq!(firsts.len(), 4, "Call/doc, Chat/doc, Call/other, all/any: {firsts:?}");
    assert!(s.store().first_collected(&tenant(), &[]).await.unwrap().is_empty());
}

async fn update_latest_keeps_the_purpose_and_needs_a_record(store: TestStore) {
    let s = &store.service;
    s.record(&tenant(), record("v", "Newsletter", "doc", Decision::Granted)).await.unwrap();
    let update = |target: &str| UpdateLatest {
        subject: user("v"),
        target: target.into(),
        decision: Decision::Denied,
        evidence: Default::default(),
    };
    let written = s.update_latest(&tenant(), update("doc")).await.unwrap();
    assert_eq!(written.records[0].purpose, "Newsletter");
    assert_eq!(written.records[0].decision, Decision::Denied);
    let missing = s.update_latest(&tenant(), update("elsewhere")).await.unwrap_err();
    assert!(matches!(missing, ConsentError::NotFound(_)), "{missing:?}");
}

async fn one_replica_holds_a_lease_and_moves_the_cursor(store: TestStore) {
    let s = &store.service;
    let sql = s.store();
    s.record(&tenant(), record("w", "", "", Decision::Granted)).await.unwrap();
    let created = any_subscription(sql).await;
    assert_eq!(created.cursor, 1, "a subscription starts after the head");
    let now = Timestamp::now();

    let a = sql.claim_webhook(created.id, lease("a", now)).await.unwrap();
    assert!(a.is_some(), "free: claimed");
    assert!(sql.claim_webhook(created.id, lease("b", now)).await.unwrap().is_none(), "held by a");
    assert!(sql.claimable_webhooks(lease("b", now)).await.unwrap().is_empty());
    assert!(sql.renew_webhook(created.id, lease("a", now)).await.unwrap());
    assert!(!sql.renew_webhook(created.id, lease("b", now)).await.unwrap(), "only the holder renews");

    // Only the holder's deliveries count.
    assert!(!delivered(sql, created.id, 2, "b").await);
    assert!(delivered(sql, created.id, 2, "a").await);
    assert_eq!(sql.webhook(&tenant(), created.id).await.unwrap().unwrap().cursor, 2);
    assert_eq!(
        sql.webhook_deliveries(&tenant(), created.id, None, 10).await.unwrap().len(),
        1,
        "b's attempt was not logged"
    );

    // An expired lease is anyone's; a released one too.
    let later = now.saturating_add_micros(11_000_000);
    assert!(sql.claim_webhook(created.id, lease("b", later)).await.unwrap().is_some(), "expired: taken over");
    assert!(!delivered(sql, created.id, 3, "a").await, "a lost it");
    sql.release_webhooks("b").await.unwrap();
    assert_eq!(sql.claimable_webhooks(lease("c", now)).await.unwrap().len(), 1);

    // Failures count up, then park.
    assert!(sql.claim_webhook(created.id, lease("c", now)).await.unwrap().is_some());
    let mut failed = attempt(created.id, 3, DeliveryOutcome::Failed);
    failed.error = "receiver answered 500".into();
    let retry = Progress::Retry { next_attempt_at: later };
    assert!(sql.record_delivery(&failed, &tenant(), "c", &retry).await.unwrap());
    let waiting = sql.webhook(&tenant(), created.id).await.unwrap().unwrap();
    assert_eq!((waiting.failures, waiting.next_attempt_at, waiting.cursor), (1, Some(later), 2));
    assert_eq!(sql.parked_webhooks().await.unwrap(), 0, "retrying is not parked");
    failed.attempt = 2;
    failed.id = Uuid::now_v7();
    assert!(sql.record_delivery(&failed, &tenant(), "c", &Progress::Park).await.unwrap());
    let parked = sql.webhook(&tenant(), created.id).await.unwrap().unwrap();
    assert_eq!(
        (parked.state, parked.failures, parked.last_error.as_str()),
        (WebhookState::Parked, 2, "receiver answered 500")
    );
    assert!(sql.claimable_webhooks(lease("c", later)).await.unwrap().is_empty(), "parked: nobody delivers");
    assert_eq!(sql.parked_webhooks().await.unwrap(), 1);
    let log = sql.webhook_deliveries(&tenant(), created.id, None, 10).await.unwrap();
    assert_eq!(
        log.iter().map(|d| (d.revision, d.attempt)).collect::<Vec<_>>(),
        [(3, 2), (3, 1), (2, 1)],
        "newest first"
    );
    assert!(log.iter().all(|d| d.event_id == event_id(created.id, d.revision)));
    sql.redeliver_webhook(&tenant(), created.id, None).await.unwrap().expect("it exists");
    assert_eq!(sql.parked_webhooks().await.unwrap(), 0, "redelivered: active again");
}

async fn redelivery_and_deletion_take_the_lease_away(store: TestStore) {
    let sql = store.service.store();
    let created = any_subscription(sql).await;
    let now = Timestamp::now();
    assert!(sql.claim_webhook(created.id, lease("a", now)).await.unwrap().is_some());
    let redelivered = sql.redeliver_webhook(&tenant(), created.id, Some(0)).await.unwrap().unwrap();
    assert_eq!((redelivered.cursor, redelivered.state), (0, WebhookState::Active));
    assert!(!sql.renew_webhook(created.id, lease("a", now)).await.unwrap(), "the holder must start over");
    assert!(sql.claim_webhook(created.id, lease("b", now)).await.unwrap().is_some());

    assert!(sql.delete_webhook(&tenant(), created.id).await.unwrap());
    assert!(!sql.delete_webhook(&tenant(), created.id).await.unwrap());
    assert!(!sql.renew_webhook(created.id, lease("b", now)).await.unwrap());
    assert!(!delivered(sql, created.id, 1, "b").await);
    assert!(sql.redeliver_webhook(&tenant(), created.id, None).await.unwrap().is_none());
}

async fn subscriptions_are_per_tenant_and_capped(store: TestStore) {
    let sql = store.service.store();
    let acme = TenantId::new("acme");
    let filter =
        FeedFilter { purposes: vec!["marketing".into()], subject: Some(user("x")), ..FeedFilter::default() };
    let first = sql
        .create_webhook(Uuid::now_v7(), &acme, "secureprivacy", "http://127.0.0.1/1", &filter, 2)
        .await
        .unwrap();
    assert_eq!(first.filter, filter, "the filter round-trips");
    sql.create_webhook(Uuid::now_v7(), &acme, "secureprivacy", "http://127.0.0.1/2", &filter, 2)
        .await
        .unwrap();
    let capped = sql
        .create_webhook(Uuid::now_v7(), &acme, "secureprivacy", "http://127.0.0.1/3", &filter, 2)
        .await
        .unwrap_err();
    assert!(
        matches!(capped, ConsentError::FailedPrecondition { reason: "WEBHOOK_LIMIT_REACHED", .. }),
        "{capped:?}"
    );
    sql.create_webhook(Uuid::now_v7(), &tenant(), "secureprivacy", "http://127.0.0.1/4", &filter, 2)
        .await
        .unwrap();

    let listed = sql.webhooks(&acme, None, 10).await.unwrap();
    assert_eq!(listed.len(), 2);
    assert_eq!(sql.webhooks(&acme, Some(listed[0].id), 10).await.unwrap().len(), 1, "pages by id");
    assert!(sql.webhook(&tenant(), first.id).await.unwrap().is_none(), "another tenant's is invisible");
    assert!(!sql.delete_webhook(&tenant(), first.id).await.unwrap());
    assert!(sql.redeliver_webhook(&tenant(), first.id, None).await.unwrap().is_none());
}
