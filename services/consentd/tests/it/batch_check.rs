//! BatchCheckConsent: several checks of one subject answered from one state,
//! each exactly as CheckConsent answers it, in request order.

use consent_proto::v1 as pb;
use consent_proto::v1::batch_check_consent_request::Check;
use tonic::Code;
use tonic_types::StatusExt;

use crate::support::{Client, TestServer, by_identity, check, identity, record};

fn checks(pairs: &[(&str, &str)]) -> Vec<Check> {
    pairs
        .iter()
        .map(|(purpose, target)| Check { purpose: (*purpose).into(), target: (*target).into() })
        .collect()
}

async fn batch(
    client: &mut Client,
    subject: Option<pb::SubjectRef>,
    pairs: &[(&str, &str)],
) -> Result<pb::BatchCheckConsentResponse, tonic::Status> {
    let request = pb::BatchCheckConsentRequest { subject, checks: checks(pairs), ..Default::default() };
    client.batch_check_consent(request).await.map(tonic::Response::into_inner)
}

#[tokio::test]
async fn each_answer_is_the_single_checks_in_request_order() {
    let server = TestServer::start().await;
    let mut client = server.client().await;
    let subject = identity("email", "batch@example.com");
    record(&mut client, subject.clone(), "", "", pb::Decision::Denied).await;
    record(&mut client, subject.clone(), "marketing", "", pb::Decision::Granted).await;
    let last = record(&mut client, subject.clone(), "analytics", "vendor-a", pb::Decision::Limited).await;
    let pairs = [
        ("marketing", "vendor-b"),
        ("analytics", "vendor-a"),
        ("analytics", "vendor-b"),
        ("", ""),
        ("marketing", ""),
        ("personalization", "vendor-a"),
        ("analytics", "vendor-a"),
        ("ads", ""),
    ];
    let answered = batch(&mut client, by_identity(subject.clone()), &pairs).await.unwrap();
    assert_eq!(answered.results.len(), pairs.len());
    assert!(
        answered.revision >= last.revision,
        "read at {} before the write {}",
        answered.revision,
        last.revision
    );
    for ((purpose, target), result) in pairs.iter().zip(&answered.results) {
        let single = check(&mut client, by_identity(subject.clone()), purpose, target).await;
        assert_eq!(result.status(), single, "{purpose}/{target}");
        let deciding = result.record.as_ref().expect("a deciding record");
        assert!(
            deciding.purpose.is_empty() || deciding.purpose == *purpose,
            "{purpose}/{target}: {deciding:?}"
        );
    }
    assert_eq!(answered.results[1].status(), pb::ConsentStatus::Limited);
    assert_eq!(answered.results[4].status(), pb::ConsentStatus::Granted);
    assert_eq!(answered.results[7].status(), pb::ConsentStatus::Denied);

    // A subject never seen: UNKNOWN for every check, with no record.
    let unknown =
        batch(&mut client, by_identity(identity("email", "nobody@example.com")), &pairs).await.unwrap();
    assert!(unknown.results.iter().all(|r| r.status() == pb::ConsentStatus::Unknown && r.record.is_none()));
    assert_eq!(unknown.results.len(), pairs.len());
}

#[tokio::test]
async fn a_bad_batch_names_its_field_and_a_revision_ahead_is_refused() {
    let server = TestServer::start().await;
    let mut client = server.client().await;
    let subject = by_identity(identity("email", "bad-batch@example.com"));
    let long = "x".repeat(129);
    let too_many: Vec<(&str, &str)> = (0..101).map(|_| ("marketing", "")).collect();
    for (pairs, field) in [
        (&[][..], "checks"),
        (&too_many[..], "checks"),
        (&[("marketing", ""), (long.as_str(), "")][..], "checks[1].purpose"),
        (&[("marketing", "web\n")][..], "checks[0].target"),
    ] {
        let status = batch(&mut client, subject.clone(), pairs).await.unwrap_err();
        assert_eq!(status.code(), Code::InvalidArgument, "{field}: {status:?}");
        let violations = status.get_details_bad_request().expect("BadRequest details").field_violations;
        assert!(violations.iter().any(|v| v.field == field), "{field}: {violations:?}");
    }
    let status = batch(&mut client, None, &[("marketing", "")]).await.unwrap_err();
    assert_eq!(status.code(), Code::InvalidArgument);

    let ahead = pb::BatchCheckConsentRequest {
        subject,
        checks: checks(&[("marketing", "")]),
        min_revision: 1_000_000,
        ..Default::default()
    };
    let status = client.batch_check_consent(ahead).await.unwrap_err();
    assert_eq!(status.code(), Code::FailedPrecondition, "{status:?}");
}
