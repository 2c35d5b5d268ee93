//! Bad input: INVALID_ARGUMENT with a BadRequest naming the field, nothing
//! written, never INTERNAL.

use consent_proto::v1 as pb;
use tonic::Code;
use tonic_types::StatusExt;

use crate::support::{Client, TestServer, by_id, by_identity, decision, history, identity, record_request};

enum Call {
    Record(pb::RecordConsentRequest),
    Update(pb::UpdateConsentRequest),
    Check(pb::CheckConsentRequest),
    Query(pb::QueryConsentsRequest),
    Get(pb::GetConsentRequest),
}

async fn send(client: &mut Client, call: Call) -> tonic::Status {
    let result = match call {
        Call::Record(r) => client.record_consent(r).await.map(drop),
        Call::Update(r) => client.update_consent(r).await.map(drop),
        Call::Check(r) => client.check_consent(r).await.map(drop),
        Call::Query(r) => client.query_consents(r).await.map(drop),
        Call::Get(r) => client.get_consent(r).await.map(drop),
    };
    result.expect_err("request must be rejected")
}

fn valid() -> pb::RecordConsentRequest {
    record_request(identity("email", "ok@example.com"), "marketing", "", pb::Decision::Granted)
}

fn with(change: impl FnOnce(&mut pb::RecordConsentRequest)) -> Call {
    let mut request = valid();
    change(&mut request);
    Call::Record(request)
}

fn metadata(json: &str) -> Option<pb::Evidence> {
    Some(pb::Evidence { metadata_json: json.into(), ..Default::default() })
}

fn update(change: impl FnOnce(&mut pb::UpdateConsentRequest)) -> Call {
    let mut request = pb::UpdateConsentRequest {
        subject: by_identity(identity("email", "ok@example.com")),
        purpose: "marketing".into(),
        decision: pb::Decision::Denied.into(),
        ..Default::default()
    };
    change(&mut request);
    Call::Update(request)
}

/// Every bad request of the suite: its name, the call, the field it names.
fn cases() -> Vec<(&'static str, Call, &'static str)> {
    let mut cases = record_cases();
    cases.extend(update_and_check_cases());
    cases.extend(read_cases());
    cases
}

fn record_cases() -> Vec<(&'static str, Call, &'static str)> {
    let long = |n: usize| "x".repeat(n);
    vec![
        ("no identities", with(|r| r.identities.clear()), "identities"),
        (
            "too many identities",
            with(|r| r.identities = (0..17).map(|i| identity("user_id", &i.to_string())).collect()),
            "identities",
        ),
        (
            "upper-case namespace",
            with(|r| r.identities[0].namespace = "Email".into()),
            "identities[0].namespace",
        ),
        ("empty identity value", with(|r| r.identities[0].value.clear()), "identities[0].value"),
        ("oversize identity value", with(|r| r.identities[0].value = long(257)), "identities[0].value"),
        ("no decisions", with(|r| r.decisions.clear()), "decisions"),
        (
            "too many decisions",
            with(|r| {
                r.decisions = (0..101).map(|i| decision(&i.to_string(), "", pb::Decision::Granted)).collect()
            }),
            "decisions",
        ),
        ("unspecified decision", with(|r| r.decisions[0].decision = 0), "decisions[0].decision"),
        ("unknown decision", with(|r| r.decisions[0].decision = 42), "decisions[0].decision"),
        ("oversize purpose", with(|r| r.decisions[0].purpose = long(129)), "decisions[0].purpose"),
        ("oversize target", with(|r| r.decisions[0].target = long(257)), "decisions[0].target"),
        ("repeated purpose and target", with(|r| r.decisions.push(r.decisions[0].clone())), "decisions[1]"),
        ("control character in source", with(|r| r.source = "web\n".into()), "source"),
        ("oversize source", with(|r| r.source = long(65)), "source"),
        ("malformed metadata", with(|r| r.evidence = metadata("{not json")), "evidence.metadata_json"),
        ("metadata not an object", with(|r| r.evidence = metadata("[1,2]")), "evidence.metadata_json"),
        (
            "oversize metadata",
            with(|r| r.evidence = metadata(&format!("{{\"a\":\"{}\"}}", long(17_000)))),
            "evidence.metadata_json",
        ),
        (
            "oversize user agent",
            with(|r| r.evidence = Some(pb::Evidence { user_agent: long(2049), ..Default::default() })),
            "evidence.user_agent",
        ),
        (
            "oversize city",
            with(|r| {
                r.evidence = Some(pb::Evidence {
                    geo: Some(pb::Geo { city: long(257), ..Default::default() }),
                    ..Default::default()
                })
            }),
            "evidence.geo.city",
        ),
        (
            "collected in the future",
            with(|r| r.collected_at = Some(prost_types::Timestamp { seconds: 4_000_000_000, nanos: 0 })),
            "collected_at",
        ),
        (
            "collected before 1970",
            with(|r| r.collected_at = Some(prost_types::Timestamp { seconds: -10, nanos: 0 })),
            "collected_at",
        ),
        (
            "invalid nanos",
            with(|r| r.collected_at = Some(prost_types::Timestamp { seconds: 10, nanos: -5 })),
            "collected_at",
        ),
        (
            "expiry before collection",
            with(|r| r.expires_at = Some(prost_types::Timestamp { seconds: 10, nanos: 0 })),
            "expires_at",
        ),
        (
            "expiry beyond year 9999",
            with(|r| r.expires_at = Some(prost_types::Timestamp { seconds: 253_402_300_800, nanos: 0 })),
            "expires_at",
        ),
        ("oversize idempotency key", with(|r| r.idempotency_key = long(129)), "idempotency_key"),
    ]
}

fn update_and_check_cases() -> Vec<(&'static str, Call, &'static str)> {
    vec![
        ("update without subject", update(|r| r.subject = None), "subject"),
        (
            "update with a malformed subject id",
            update(|r| r.subject = by_id("not-a-uuid")),
            "subject.subject_id",
        ),
        (
            "update with a bad identity",
            update(|r| r.subject = by_identity(identity("", "x"))),
            "subject.identity.namespace",
        ),
        ("update without decision", update(|r| r.decision = 0), "decision"),
        ("update with negative expected revision", update(|r| r.expected_revision = -3), "expected_revision"),
        (
            "check without subject",
            Call::Check(pb::CheckConsentRequest { purpose: "marketing".into(), ..Default::default() }),
            "subject",
        ),
        (
            "check with negative min_revision",
            Call::Check(pb::CheckConsentRequest {
                subject: by_identity(identity("email", "ok@example.com")),
                min_revision: -1,
                ..Default::default()
            }),
            "min_revision",
        ),
    ]
}

fn read_cases() -> Vec<(&'static str, Call, &'static str)> {
    vec![
        (
            "query with a bad page token",
            Call::Query(pb::QueryConsentsRequest { page_token: "garbage!".into(), ..Default::default() }),
            "page_token",
        ),
        (
            "query with a negative page size",
            Call::Query(pb::QueryConsentsRequest { page_size: -5, ..Default::default() }),
            "page_size",
        ),
        (
            "query with a malformed subject id",
            Call::Query(pb::QueryConsentsRequest { subject_id: "nope".into(), ..Default::default() }),
            "subject_id",
        ),
        (
            "query with an unknown decision",
            Call::Query(pb::QueryConsentsRequest { decision: 9, ..Default::default() }),
            "decision",
        ),
        (
            "query with an empty time range",
            Call::Query(pb::QueryConsentsRequest {
                collected_after: Some(prost_types::Timestamp { seconds: 100, nanos: 0 }),
                collected_before: Some(prost_types::Timestamp { seconds: 50, nanos: 0 }),
                ..Default::default()
            }),
            "collected_before",
        ),
        ("get without key", Call::Get(pb::GetConsentRequest { key: None }), "key"),
        (
            "get with a malformed record id",
            Call::Get(pb::GetConsentRequest {
                key: Some(pb::get_consent_request::Key::RecordId("x".into())),
            }),
            "record_id",
        ),
    ]
}

#[tokio::test]
async fn every_bad_request_names_its_field_and_writes_nothing() {
    let server = TestServer::start().await;
    let mut client = server.client().await;
    for (name, call, field) in cases() {
        let status = send(&mut client, call).await;
        assert_eq!(status.code(), Code::InvalidArgument, "{name}: {status:?}");
        let fields: Vec<String> = status
            .get_details_bad_request()
            .unwrap_or_else(|| panic!("{name}: no BadRequest details"))
            .field_violations
            .into_iter()
            .map(|v| v.field)
            .collect();
        assert!(fields.iter().any(|f| f == field), "{name}: expected {field}, got {fields:?}");
    }
    let stored = history(&mut client).await;
    assert!(stored.is_empty(), "rejected requests wrote {stored:?}");
}
