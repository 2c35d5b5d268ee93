//! GetConsent: by record id, or the current record of a key.

use consent_proto::v1 as pb;
use tonic::Code;

use crate::support::{TestServer, by_identity, identity, record};

#[tokio::test]
async fn get_by_id_and_by_current_key() {
    let server = TestServer::start().await;
    let mut client = server.client().await;
    let subject = identity("user_id", "getter");
    let first = record(&mut client, subject.clone(), "marketing", "vendor-a", pb::Decision::Granted).await;
    let second = record(&mut client, subject.clone(), "marketing", "vendor-a", pb::Decision::Denied).await;

    let by_id = client
        .get_consent(pb::GetConsentRequest {
            key: Some(pb::get_consent_request::Key::RecordId(first.records[0].id.clone())),
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(by_id.record.unwrap(), first.records[0]);

    let current = client
        .get_consent(pb::GetConsentRequest {
            key: Some(pb::get_consent_request::Key::Current(pb::CurrentRecordKey {
                subject: by_identity(subject.clone()),
                purpose: "marketing".into(),
                target: "vendor-a".into(),
            })),
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(current.record.unwrap(), second.records[0]);

    let missing = client
        .get_consent(pb::GetConsentRequest {
            key: Some(pb::get_consent_request::Key::Current(pb::CurrentRecordKey {
                subject: by_identity(subject),
                purpose: "marketing".into(),
                target: String::new(),
            })),
        })
        .await
        .unwrap_err();
    assert_eq!(missing.code(), Code::NotFound);
    let missing = client
        .get_consent(pb::GetConsentRequest {
            key: Some(pb::get_consent_request::Key::RecordId(uuid::Uuid::now_v7().to_string())),
        })
        .await
        .unwrap_err();
    assert_eq!(missing.code(), Code::NotFound);
}
