//! Idempotency keys: a retried write returns the original result, once.

use consent_proto::v1 as pb;
use tonic::Code;
use tonic_types::StatusExt;

use crate::support::{TestServer, history, identity, record, record_request};

#[tokio::test]
async fn retried_record_writes_once_and_returns_the_original() {
    let server = TestServer::start().await;
    let mut client = server.client().await;
    let mut request =
        record_request(identity("email", "idem@example.com"), "marketing", "", pb::Decision::Granted);
    request.idempotency_key = "banner-click-1".into();

    let first = client.record_consent(request.clone()).await.unwrap().into_inner();
    let retries = futures_util::future::join_all((0..5).map(|_| {
        let mut client = client.clone();
        let request = request.clone();
        async move { client.record_consent(request).await.unwrap().into_inner() }
    }))
    .await;
    for retry in retries {
        assert_eq!(retry, first);
    }
    let all = history(&mut client).await;
    assert_eq!(all.len(), 1);
}

#[tokio::test]
async fn concurrent_first_attempts_with_one_key_write_once() {
    let server = TestServer::start().await;
    let client = server.client().await;
    let mut request =
        record_request(identity("email", "race@example.com"), "marketing", "", pb::Decision::Granted);
    request.idempotency_key = "same-key".into();
    let outcomes = futures_util::future::join_all((0..20).map(|_| {
        let mut client = client.clone();
        let request = request.clone();
        async move { client.record_consent(request).await.unwrap().into_inner() }
    }))
    .await;
    assert!(outcomes.iter().all(|o| *o == outcomes[0]));
    let mut client = client;
    let all = history(&mut client).await;
    assert_eq!(all.len(), 1);
}

#[tokio::test]
async fn retried_update_writes_once() {
    let server = TestServer::start().await;
    let mut client = server.client().await;
    let subject = identity("user_id", "idem-upd");
    record(&mut client, subject.clone(), "marketing", "", pb::Decision::Granted).await;
    let request = pb::UpdateConsentRequest {
        subject: crate::support::by_identity(subject),
        purpose: "marketing".into(),
        decision: pb::Decision::Denied.into(),
        idempotency_key: "withdraw-1".into(),
        ..Default::default()
    };
    let first = client.update_consent(request.clone()).await.unwrap().into_inner();
    let second = client.update_consent(request).await.unwrap().into_inner();
    assert_eq!(first, second);
    let all = history(&mut client).await;
    assert_eq!(all.len(), 2);
}

#[tokio::test]
async fn key_reused_for_a_different_request_is_rejected() {
    let server = TestServer::start().await;
    let mut client = server.client().await;
    let mut request =
        record_request(identity("email", "reuse@example.com"), "marketing", "", pb::Decision::Granted);
    request.idempotency_key = "k-1".into();
    client.record_consent(request.clone()).await.unwrap();
    request.decisions[0].decision = pb::Decision::Denied.into();
    let err = client.record_consent(request).await.unwrap_err();
    assert_eq!(err.code(), Code::InvalidArgument);
    let violations = err.get_details_bad_request().unwrap().field_violations;
    assert_eq!(violations[0].field, "idempotency_key");
}
