//! CheckConsent: the check rule of docs/semantics.md#the-check-rule through the public API.

use consent_proto::v1 as pb;

use crate::support::{
    TestServer, by_id, by_identity, check, check_at_least, identity, query_all, record, record_request,
    seconds_ago,
};

#[tokio::test]
async fn all_purposes_record_applies_to_every_purpose_and_target() {
    let server = TestServer::start().await;
    let mut client = server.client().await;
    let subject = identity("email", "all@example.com");
    record(&mut client, subject.clone(), "", "", pb::Decision::Denied).await;
    for (purpose, target) in [("marketing", ""), ("analytics", "vendor-a"), ("", "")] {
        assert_eq!(
            check(&mut client, by_identity(subject.clone()), purpose, target).await,
            pb::ConsentStatus::Denied,
            "{purpose}/{target}"
        );
    }

    // A later, more specific grant decides for its own purpose only.
    record(&mut client, subject.clone(), "marketing", "", pb::Decision::Granted).await;
    assert_eq!(
        check(&mut client, by_identity(subject.clone()), "marketing", "vendor-a").await,
        pb::ConsentStatus::Granted
    );
    assert_eq!(check(&mut client, by_identity(subject), "analytics", "").await, pb::ConsentStatus::Denied);
}

#[tokio::test]
async fn target_specific_record_does_not_apply_to_other_targets() {
    let server = TestServer::start().await;
    let mut client = server.client().await;
    let subject = identity("user_id", "t-1");
    record(&mut client, subject.clone(), "marketing", "vendor-a", pb::Decision::Granted).await;
    assert_eq!(
        check(&mut client, by_identity(subject.clone()), "marketing", "vendor-a").await,
        pb::ConsentStatus::Granted
    );
    assert_eq!(
        check(&mut client, by_identity(subject.clone()), "marketing", "vendor-b").await,
        pb::ConsentStatus::Unknown
    );
    assert_eq!(check(&mut client, by_identity(subject), "marketing", "").await, pb::ConsentStatus::Unknown);
}

#[tokio::test]
async fn older_collected_at_is_kept_as_history_but_does_not_change_state() {
    let server = TestServer::start().await;
    let mut client = server.client().await;
    let subject = identity("user_id", "late-arrival");
    let mut newer = record_request(subject.clone(), "marketing", "", pb::Decision::Granted);
    newer.collected_at = Some(seconds_ago(60));
    let first = client.record_consent(newer).await.unwrap().into_inner();

    // An offline device syncs a decision made earlier: evidence, not state.
    let mut older = record_request(subject.clone(), "marketing", "", pb::Decision::Denied);
    older.collected_at = Some(seconds_ago(3600));
    client.record_consent(older).await.unwrap();

    assert_eq!(
        check(&mut client, by_identity(subject.clone()), "marketing", "").await,
        pb::ConsentStatus::Granted
    );
    let history = query_all(
        &mut client,
        pb::QueryConsentsRequest {
            subject_id: first.subject_id.clone(),
            history: true,
            ..Default::default()
        },
    )
    .await;
    assert_eq!(history.len(), 2);
    let current = query_all(
        &mut client,
        pb::QueryConsentsRequest { subject_id: first.subject_id, ..Default::default() },
    )
    .await;
    assert_eq!(current.len(), 1);
    assert_eq!(current[0].decision(), pb::Decision::Granted);
}

#[tokio::test]
async fn expired_decider_is_expired_and_never_falls_back() {
    let server = TestServer::start().await;
    let mut client = server.client().await;
    let subject = identity("user_id", "expiring");
    let mut old_grant = record_request(subject.clone(), "marketing", "", pb::Decision::Granted);
    old_grant.collected_at = Some(seconds_ago(7200));
    client.record_consent(old_grant).await.unwrap();

    let mut short_grant = record_request(subject.clone(), "marketing", "", pb::Decision::Granted);
    short_grant.collected_at = Some(seconds_ago(120));
    short_grant.expires_at = Some(seconds_ago(60));
    client.record_consent(short_grant).await.unwrap();

    let response = client
        .check_consent(pb::CheckConsentRequest {
            subject: by_identity(subject.clone()),
            purpose: "marketing".into(),
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(response.status(), pb::ConsentStatus::Expired);
    assert!(response.record.unwrap().expires_at.is_some());

    // Asked about a time before the expiry, the same record grants.
    let response = client
        .check_consent(pb::CheckConsentRequest {
            subject: by_identity(subject),
            purpose: "marketing".into(),
            at: Some(seconds_ago(90)),
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(response.status(), pb::ConsentStatus::Granted);
}

#[tokio::test]
async fn point_in_time_check_answers_from_history() {
    let server = TestServer::start().await;
    let mut client = server.client().await;
    let subject = identity("user_id", "timeline");
    let mut granted = record_request(subject.clone(), "marketing", "", pb::Decision::Granted);
    granted.collected_at = Some(seconds_ago(3600));
    client.record_consent(granted).await.unwrap();
    let mut denied = record_request(subject.clone(), "marketing", "", pb::Decision::Denied);
    denied.collected_at = Some(seconds_ago(60));
    client.record_consent(denied).await.unwrap();

    let at = |seconds| pb::CheckConsentRequest {
        subject: by_identity(subject.clone()),
        purpose: "marketing".into(),
        at: Some(seconds_ago(seconds)),
        ..Default::default()
    };
    let status = |r: pb::CheckConsentResponse| r.status();
    assert_eq!(
        status(client.check_consent(at(7200)).await.unwrap().into_inner()),
        pb::ConsentStatus::Unknown
    );
    assert_eq!(
        status(client.check_consent(at(1800)).await.unwrap().into_inner()),
        pb::ConsentStatus::Granted
    );
    assert_eq!(status(client.check_consent(at(10)).await.unwrap().into_inner()), pb::ConsentStatus::Denied);
}

#[tokio::test]
async fn unknown_subject_is_unknown_not_an_error() {
    let server = TestServer::start().await;
    let mut client = server.client().await;
    assert_eq!(
        check(&mut client, by_identity(identity("email", "nobody@example.com")), "marketing", "").await,
        pb::ConsentStatus::Unknown
    );
    assert_eq!(
        check(&mut client, by_id("8f8e0d3c-1b2a-5c4d-9e8f-7a6b5c4d3e2f"), "marketing", "").await,
        pb::ConsentStatus::Unknown
    );
}

#[tokio::test]
async fn check_sees_an_acknowledged_write_and_honours_min_revision() {
    let server = TestServer::start().await;
    let mut client = server.client().await;
    let subject = identity("user_id", "fresh");
    let written = record(&mut client, subject.clone(), "marketing", "", pb::Decision::Granted).await;
    let response = check_at_least(&mut client, subject.clone(), "marketing", written.revision).await;
    assert_eq!(response.status(), pb::ConsentStatus::Granted);
    assert!(response.revision >= written.revision);

    // A revision the store has not reached is refused, not answered stale.
    let err = client
        .check_consent(pb::CheckConsentRequest {
            subject: by_identity(subject),
            purpose: "marketing".into(),
            min_revision: written.revision + 1000,
            ..Default::default()
        })
        .await
        .unwrap_err();
    assert_eq!(err.code(), tonic::Code::FailedPrecondition);
}
