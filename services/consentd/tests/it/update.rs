//! UpdateConsent: appends, never overwrites; NOT_FOUND; optimistic concurrency.

use consent_proto::v1 as pb;
use tonic::Code;
use tonic_types::StatusExt;

use crate::support::{
    TestServer, by_id, by_identity, check, history, identity, query_all, record, record_request,
};

fn update(subject: Option<pb::SubjectRef>, purpose: &str, choice: pb::Decision) -> pb::UpdateConsentRequest {
    pb::UpdateConsentRequest {
        subject,
        purpose: purpose.into(),
        decision: choice.into(),
        ..Default::default()
    }
}

#[tokio::test]
async fn update_appends_a_record_and_changes_the_answer() {
    let server = TestServer::start().await;
    let mut client = server.client().await;
    let subject = identity("user_id", "u-upd");
    let recorded = record(&mut client, subject.clone(), "marketing", "", pb::Decision::Granted).await;
    let updated = client
        .update_consent(update(by_identity(subject.clone()), "marketing", pb::Decision::Denied))
        .await
        .unwrap()
        .into_inner();
    let record = updated.record.unwrap();
    assert_eq!(record.kind(), pb::EventKind::Updated);
    assert_eq!(record.subject_id, recorded.subject_id);
    assert_eq!(record.source, "web", "source defaults to the current record's");
    assert!(updated.revision > recorded.revision);
    assert_eq!(check(&mut client, by_identity(subject), "marketing", "").await, pb::ConsentStatus::Denied);

    let history = query_all(
        &mut client,
        pb::QueryConsentsRequest { subject_id: recorded.subject_id, history: true, ..Default::default() },
    )
    .await;
    let decisions: Vec<_> = history.iter().map(pb::ConsentRecord::decision).collect();
    assert_eq!(decisions, [pb::Decision::Granted, pb::Decision::Denied]);
}

#[tokio::test]
async fn update_of_nothing_is_not_found_and_writes_nothing() {
    let server = TestServer::start().await;
    let mut client = server.client().await;
    let subject = identity("user_id", "u-upd-2");
    let err = client
        .update_consent(update(by_identity(subject.clone()), "marketing", pb::Decision::Denied))
        .await
        .unwrap_err();
    assert_eq!(err.code(), Code::NotFound);

    // Known subject, unknown purpose: also NOT_FOUND.
    let recorded = record(&mut client, subject, "analytics", "", pb::Decision::Granted).await;
    let err = client
        .update_consent(update(by_id(&recorded.subject_id), "marketing", pb::Decision::Denied))
        .await
        .unwrap_err();
    assert_eq!(err.code(), Code::NotFound);
    let all = history(&mut client).await;
    assert_eq!(all.len(), 1);
}

#[tokio::test]
async fn expected_revision_mismatch_is_failed_precondition() {
    let server = TestServer::start().await;
    let mut client = server.client().await;
    let subject = identity("user_id", "u-occ");
    let recorded = record(&mut client, subject.clone(), "marketing", "", pb::Decision::Granted).await;

    let mut first = update(by_identity(subject.clone()), "marketing", pb::Decision::Denied);
    first.expected_revision = recorded.revision;
    let won = client.update_consent(first.clone()).await.unwrap().into_inner();

    // A second writer that read the same revision loses.
    first.decision = pb::Decision::Limited.into();
    let err = client.update_consent(first).await.unwrap_err();
    assert_eq!(err.code(), Code::FailedPrecondition);
    assert_eq!(err.get_details_error_info().unwrap().reason, "REVISION_MISMATCH");
    assert_eq!(
        check(&mut client, by_identity(subject.clone()), "marketing", "").await,
        pb::ConsentStatus::Denied
    );

    let mut retry = update(by_identity(subject.clone()), "marketing", pb::Decision::Limited);
    retry.expected_revision = won.revision;
    client.update_consent(retry).await.unwrap();
    assert_eq!(check(&mut client, by_identity(subject), "marketing", "").await, pb::ConsentStatus::Limited);
}

#[tokio::test]
async fn a_future_stamped_grant_does_not_outrank_an_immediate_withdrawal() {
    let server = TestServer::start().await;
    let mut client = server.client().await;
    let subject = identity("user_id", "fast-clock");
    // A client whose clock runs four minutes ahead (within the allowed skew).
    let mut grant = record_request(subject.clone(), "marketing", "", pb::Decision::Granted);
    grant.collected_at = Some(crate::support::seconds_ago(-240));
    let recorded = client.record_consent(grant).await.unwrap().into_inner();
    let collected = recorded.records[0].collected_at.unwrap();
    let recorded_at = recorded.records[0].recorded_at.unwrap();
    assert!(
        (collected.seconds, collected.nanos) <= (recorded_at.seconds, recorded_at.nanos),
        "a decision cannot be collected after the server received it"
    );

    client
        .update_consent(update(by_identity(subject.clone()), "marketing", pb::Decision::Denied))
        .await
        .unwrap();
    assert_eq!(check(&mut client, by_identity(subject), "marketing", "").await, pb::ConsentStatus::Denied);
}
