//! RecordConsent: subjects, identities and what a record returns.

use consent_proto::v1 as pb;
use uuid::Uuid;

use crate::support::{TestServer, by_identity, check, decision, identity, record, record_request};

#[tokio::test]
async fn record_returns_records_with_consecutive_revisions() {
    let server = TestServer::start().await;
    let mut client = server.client().await;
    let response = client
        .record_consent(pb::RecordConsentRequest {
            identities: vec![identity("email", "ann@example.com")],
            decisions: vec![
                decision("analytics", "", pb::Decision::Granted),
                decision("marketing", "", pb::Decision::Denied),
                decision("marketing", "vendor-a", pb::Decision::Limited),
            ],
            source: "web".into(),
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner();
    let revisions: Vec<i64> = response.records.iter().map(|r| r.revision).collect();
    assert_eq!(revisions, [1, 2, 3]);
    assert_eq!(response.revision, 3);
    assert!(response.records.iter().all(|r| r.subject_id == response.subject_id));
    assert!(response.records.iter().all(|r| Uuid::parse_str(&r.id).unwrap().get_version_num() == 7));
    assert!(response.records.iter().all(|r| r.recorded_at.is_some() && r.collected_at.is_some()));
    assert_eq!(response.records[2].decision(), pb::Decision::Limited);
    assert_eq!(response.records[2].kind(), pb::EventKind::Recorded);
}

#[tokio::test]
async fn same_custom_user_id_always_yields_the_same_subject_id() {
    // Two independent deployments (databases) must mint the same id.
    let first = TestServer::start().await;
    let second = TestServer::start().await;
    let request = record_request(identity("custom_user_id", "cu-42"), "analytics", "", pb::Decision::Granted);
    let a = first.client().await.record_consent(request.clone()).await.unwrap().into_inner();
    let b = second.client().await.record_consent(request.clone()).await.unwrap().into_inner();
    let again = first.client().await.record_consent(request).await.unwrap().into_inner();
    assert_eq!(a.subject_id, b.subject_id);
    assert_eq!(a.subject_id, again.subject_id);

    // The documented formula: UUIDv5(UUIDv5(URL, "consentd:tenant:default"), "custom_user_id:cu-42").
    let tenant_ns = Uuid::new_v5(&Uuid::NAMESPACE_URL, b"consentd:tenant:default");
    assert_eq!(a.subject_id, Uuid::new_v5(&tenant_ns, b"custom_user_id:cu-42").to_string());
}

#[tokio::test]
async fn subject_is_found_by_any_linked_identity() {
    let server = TestServer::start().await;
    let mut client = server.client().await;
    let response = client
        .record_consent(pb::RecordConsentRequest {
            identities: vec![identity("email", "Bob@Example.com"), identity("user_id", "u-7")],
            decisions: vec![decision("marketing", "", pb::Decision::Granted)],
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner();

    // Emails compare case-insensitively.
    for linked in [identity("email", "bob@example.com"), identity("user_id", "u-7")] {
        assert_eq!(
            check(&mut client, by_identity(linked), "marketing", "").await,
            pb::ConsentStatus::Granted
        );
    }

    // A later record naming only the second identity lands on the same subject.
    let later = record(&mut client, identity("user_id", "u-7"), "analytics", "", pb::Decision::Denied).await;
    assert_eq!(later.subject_id, response.subject_id);
    assert_eq!(
        check(&mut client, by_identity(identity("email", "bob@example.com")), "analytics", "").await,
        pb::ConsentStatus::Denied
    );
}

#[tokio::test]
async fn identity_linked_elsewhere_is_reported_not_moved() {
    let server = TestServer::start().await;
    let mut client = server.client().await;
    let carol =
        record(&mut client, identity("email", "carol@example.com"), "marketing", "", pb::Decision::Granted)
            .await;
    let dave = record(&mut client, identity("user_id", "dave"), "marketing", "", pb::Decision::Denied).await;

    // Dave's request also names Carol's email: it is not merged into Dave.
    let response = client
        .record_consent(pb::RecordConsentRequest {
            identities: vec![identity("user_id", "dave"), identity("email", "carol@example.com")],
            decisions: vec![decision("analytics", "", pb::Decision::Granted)],
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(response.subject_id, dave.subject_id);
    assert_eq!(response.conflicting_identities, [identity("email", "carol@example.com")]);
    assert_eq!(
        check(&mut client, by_identity(identity("email", "carol@example.com")), "marketing", "").await,
        pb::ConsentStatus::Granted
    );
    assert_ne!(carol.subject_id, dave.subject_id);
}

/// The Global Privacy Control signal is evidence: kept as sent, false when
/// not sent, on the records a check answers with.
#[tokio::test]
async fn the_gpc_signal_is_kept_as_evidence() {
    let server = TestServer::start().await;
    let mut client = server.client().await;
    let mut with_gpc = record_request(identity("email", "gpc@example.com"), "sale", "", pb::Decision::Denied);
    with_gpc.evidence.get_or_insert_with(Default::default).gpc = true;
    let written = client.record_consent(with_gpc).await.unwrap().into_inner();
    assert!(written.records[0].evidence.as_ref().unwrap().gpc);
    let without =
        record(&mut client, identity("email", "no-gpc@example.com"), "sale", "", pb::Decision::Granted).await;
    assert!(!without.records[0].evidence.as_ref().unwrap().gpc);

    let answer = client
        .check_consent(pb::CheckConsentRequest {
            subject: by_identity(identity("email", "gpc@example.com")),
            purpose: "sale".into(),
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner();
    assert!(answer.record.unwrap().evidence.unwrap().gpc, "stored and read back");
}
