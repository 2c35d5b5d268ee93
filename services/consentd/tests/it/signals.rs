//! Consent signals through the public interfaces: TC and GPP strings decoded
//! on RecordConsent into the decisions they imply (and shown decoded by
//! GetConsent), malformed strings refused with their offset, the GPC policy
//! and its conflicts, BatchCheckConsent and the Consent Mode view over gRPC
//! and HTTP.

use std::collections::BTreeMap;

use consent_proto::v1 as pb;
use consent_proto::v1::batch_check_consent_request::Check;
use consent_signals::{ConsentModeMapping, GpcPolicy, GpcPrecedence, SignalMapping, SignalPolicies};
use consentd::config::{AuthMode, Config};
use tonic::Code;
use tonic_types::StatusExt;

use crate::auth::{create_key, keyed_client};
use crate::cors::{ELSEWHERE, INTEMPT_PATH, SHOP, bind_with_origins};
use crate::http_client::{fixture, send};
use crate::publishable_keys::create_publishable;
use crate::support::{Client, TestServer, by_identity, check, decision, identity};

/// IAB's example (lib_tcstring's fixture): CMP 27, purposes 1 to 3
/// consented, vendors 2, 6 and 8 of 8.
const TC_STRING: &str = "COvFyGBOvFyGBAbAAAENAPCAAOAAAAAAAAAAAEEUACCKAAA";
/// IAB's GPP example: a usca section opted out of sale and sharing.
const GPP_STRING: &str = "DBABBg~BVVVVVVY";

fn with_signals(config: &mut Config, mapping: SignalMapping) {
    config.signals = SignalPolicies::new(mapping, BTreeMap::new()).unwrap();
}

fn gpc_policy(prefer: GpcPrecedence) -> SignalMapping {
    SignalMapping {
        gpc: GpcPolicy { enabled: true, prefer, ..GpcPolicy::default() },
        ..SignalMapping::default()
    }
}

fn signal_request(
    person: &str,
    evidence: pb::Evidence,
    decisions: Vec<pb::PurposeDecision>,
) -> pb::RecordConsentRequest {
    pb::RecordConsentRequest {
        identities: vec![identity("email", person)],
        decisions,
        source: "web".into(),
        evidence: Some(evidence),
        ..Default::default()
    }
}

fn find<'a>(records: &'a [pb::ConsentRecord], purpose: &str, target: &str) -> Vec<&'a pb::ConsentRecord> {
    records.iter().filter(|r| r.purpose == purpose && r.target == target).collect()
}

async fn status(client: &mut Client, person: &str, purpose: &str, target: &str) -> pb::ConsentStatus {
    check(client, by_identity(identity("email", person)), purpose, target).await
}

#[tokio::test]
async fn a_tc_string_records_what_it_implies_and_get_shows_its_decode() {
    let server = TestServer::start_with(|config| {
        with_signals(config, SignalMapping { tcf_vendors: vec![2, 3], ..SignalMapping::default() });
    })
    .await;
    let mut client = server.client().await;
    let evidence = pb::Evidence { tc_string: TC_STRING.into(), ..Default::default() };
    // The person's own word on purpose 2 is the record, not the string's.
    let stated = vec![decision("tcf.purpose.2", "", pb::Decision::Denied)];
    let response = client
        .record_consent(signal_request("tcf@example.com", evidence, stated))
        .await
        .unwrap()
        .into_inner();
    let records = response.records;
    assert_eq!(records.len(), 11 + 2, "eleven purposes and the two listed vendors: {records:#?}");
    let purpose_1 = find(&records, "tcf.purpose.1", "");
    assert_eq!(purpose_1.len(), 1);
    assert_eq!(
        (purpose_1[0].decision(), purpose_1[0].implied_by()),
        (pb::Decision::Granted, pb::Signal::Tcf)
    );
    let purpose_2 = find(&records, "tcf.purpose.2", "");
    assert_eq!(purpose_2.len(), 1, "the stated decision only");
    assert_eq!(
        (purpose_2[0].decision(), purpose_2[0].implied_by()),
        (pb::Decision::Denied, pb::Signal::Unspecified)
    );
    assert_eq!(find(&records, "tcf.purpose.4", "")[0].decision(), pb::Decision::Denied);
    assert!(records.iter().all(|r| r.evidence.as_ref().unwrap().tc_string == TC_STRING));

    // Checks answer from the implied records; vendors by their own purpose.
    let person = "tcf@example.com";
    assert_eq!(status(&mut client, person, "tcf.purpose.3", "").await, pb::ConsentStatus::Granted);
    assert_eq!(status(&mut client, person, "tcf.purpose.2", "").await, pb::ConsentStatus::Denied);
    let checks = [
        ("tcf.vendor_consent", "tcf.vendor.2"),
        ("tcf.vendor_consent", "tcf.vendor.3"),
        ("tcf.purpose.1", ""),
    ]
    .map(|(purpose, target)| Check { purpose: purpose.into(), target: target.into() })
    .to_vec();
    let batch = client
        .batch_check_consent(pb::BatchCheckConsentRequest {
            subject: by_identity(identity("email", person)),
            checks,
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner();
    let statuses: Vec<_> = batch.results.iter().map(pb::CheckResult::status).collect();
    assert_eq!(statuses, [pb::ConsentStatus::Granted, pb::ConsentStatus::Denied, pb::ConsentStatus::Granted]);

    // GetConsent: the string beside its decode.
    let got = client
        .get_consent(pb::GetConsentRequest {
            key: Some(pb::get_consent_request::Key::RecordId(purpose_1[0].id.clone())),
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(got.record.unwrap().evidence.unwrap().tc_string, TC_STRING);
    let tcf = got.tcf.expect("the decoded TC string");
    let number = |name: &str| match tcf.fields.get(name).and_then(|v| v.kind.clone()) {
        Some(prost_types::value::Kind::NumberValue(n)) => n,
        other => panic!("{name}: {other:?}"),
    };
    assert!((number("cmp_id") - 27.0).abs() < f64::EPSILON);
    assert!(tcf.fields.contains_key("purposes_consent") && tcf.fields.contains_key("vendor_consents"));
    assert!(got.gpp.is_none());
}

#[tokio::test]
async fn a_gpp_opt_out_denies_the_configured_purposes_without_stated_decisions() {
    let server = TestServer::start_with(|config| with_signals(config, SignalMapping::default())).await;
    let mut client = server.client().await;
    let evidence = pb::Evidence { gpp_string: GPP_STRING.into(), ..Default::default() };
    let records = client
        .record_consent(signal_request("gpp@example.com", evidence, Vec::new()))
        .await
        .unwrap()
        .into_inner()
        .records;
    let mut named: Vec<_> =
        records.iter().map(|r| (r.purpose.as_str(), r.decision(), r.implied_by())).collect();
    named.sort_by_key(|(purpose, ..)| *purpose);
    assert_eq!(
        named,
        [("sale", pb::Decision::Denied, pb::Signal::Gpp), ("sharing", pb::Decision::Denied, pb::Signal::Gpp)]
    );
    assert_eq!(status(&mut client, "gpp@example.com", "sale", "").await, pb::ConsentStatus::Denied);
    // A string that implies nothing, and no decision stated: refused.
    let nothing = pb::Evidence { gpp_string: "DBABTA~1YNN".into(), ..Default::default() };
    let refused =
        client.record_consent(signal_request("gpp@example.com", nothing, Vec::new())).await.unwrap_err();
    assert_eq!(refused.code(), Code::InvalidArgument, "{refused:?}");
}

#[tokio::test]
async fn a_malformed_string_is_refused_naming_its_field_and_offset_and_writes_nothing() {
    let server = TestServer::start_with(|config| with_signals(config, SignalMapping::default())).await;
    let mut client = server.client().await;
    let cases = [
        (
            "evidence.tc_string",
            pb::Evidence { tc_string: "COvFyGBOvFyGBAbAAAENAPCAAOA".into(), ..Default::default() },
        ),
        ("evidence.gpp_string", pb::Evidence { gpp_string: "DBABBg~B*VVVVVY".into(), ..Default::default() }),
    ];
    for (field, evidence) in cases {
        let request = signal_request(
            "bad@example.com",
            evidence,
            vec![decision("analytics", "", pb::Decision::Granted)],
        );
        let refused = client.record_consent(request).await.unwrap_err();
        assert_eq!(refused.code(), Code::InvalidArgument, "{refused:?}");
        let violations = refused.get_details_bad_request().expect("field violations").field_violations;
        assert_eq!(violations[0].field, field, "{violations:?}");
        assert!(violations[0].description.contains(" at "), "names the offset: {violations:?}");
    }
    // An update states one decision: a string is refused there.
    client
        .record_consent(signal_request(
            "bad@example.com",
            pb::Evidence::default(),
            vec![decision("analytics", "", pb::Decision::Granted)],
        ))
        .await
        .unwrap();
    let update = pb::UpdateConsentRequest {
        subject: by_identity(identity("email", "bad@example.com")),
        purpose: "analytics".into(),
        decision: pb::Decision::Denied.into(),
        evidence: Some(pb::Evidence { tc_string: TC_STRING.into(), ..Default::default() }),
        ..Default::default()
    };
    let refused = client.update_consent(update).await.unwrap_err();
    assert_eq!(refused.code(), Code::InvalidArgument, "{refused:?}");
    let history = client
        .query_consents(pb::QueryConsentsRequest { history: true, ..Default::default() })
        .await
        .unwrap()
        .into_inner()
        .records;
    assert_eq!(history.len(), 1, "only the plain record was written");
}

#[tokio::test]
async fn gpc_is_evidence_only_unless_the_tenant_policy_is_on() {
    let mut server = TestServer::start().await;
    let mut client = server.client().await;
    let gpc = pb::Evidence { gpc: true, ..Default::default() };
    let records = client
        .record_consent(signal_request(
            "off@example.com",
            gpc.clone(),
            vec![decision("sale", "", pb::Decision::Granted)],
        ))
        .await
        .unwrap()
        .into_inner()
        .records;
    assert_eq!(records.len(), 1, "policy off: evidence only");
    assert!(records[0].evidence.as_ref().unwrap().gpc && !records[0].gpc_conflict);

    // On, preferring the person's explicit choice: both kept, both marked,
    // the grant current.
    server.restart_with(|config| with_signals(config, gpc_policy(GpcPrecedence::Explicit))).await;
    let mut client = server.client().await;
    let request = signal_request(
        "explicit@example.com",
        gpc.clone(),
        vec![decision("sale", "", pb::Decision::Granted), decision("marketing", "", pb::Decision::Granted)],
    );
    let records = client.record_consent(request).await.unwrap().into_inner().records;
    let sale = find(&records, "sale", "");
    assert_eq!(sale.len(), 2, "{records:#?}");
    assert!(sale.iter().all(|r| r.gpc_conflict));
    assert_eq!(sale[0].implied_by(), pb::Signal::Gpc);
    assert_eq!(sale[0].decision(), pb::Decision::Denied);
    assert_eq!(find(&records, "sharing", "")[0].implied_by(), pb::Signal::Gpc);
    assert!(!find(&records, "marketing", "")[0].gpc_conflict, "not a GPC purpose");
    assert_eq!(status(&mut client, "explicit@example.com", "sale", "").await, pb::ConsentStatus::Granted);
    assert_eq!(status(&mut client, "explicit@example.com", "sharing", "").await, pb::ConsentStatus::Denied);
    let conflicts = |history| pb::QueryConsentsRequest { gpc_conflict: true, history, ..Default::default() };
    let marked = client.query_consents(conflicts(true)).await.unwrap().into_inner().records;
    assert_eq!(marked.len(), 2, "the denial and the grant: {marked:#?}");
    let current = client.query_consents(conflicts(false)).await.unwrap().into_inner().records;
    assert_eq!(current.len(), 1);
    assert_eq!(current[0].decision(), pb::Decision::Granted);

    // Preferring GPC: the denial is current.
    server.restart_with(|config| with_signals(config, gpc_policy(GpcPrecedence::Gpc))).await;
    let mut client = server.client().await;
    let request =
        signal_request("signal@example.com", gpc.clone(), vec![decision("sale", "", pb::Decision::Granted)]);
    client.record_consent(request).await.unwrap();
    assert_eq!(status(&mut client, "signal@example.com", "sale", "").await, pb::ConsentStatus::Denied);

    // Sec-GPC on a vendor route: JENTIS' documented submission.
    let body = fixture("jentis", "request-documented-example.json");
    let headers = [("content-type", "application/json"), ("sec-gpc", "1")];
    let response = send(server.running().http_addr, "POST", "/jentis", &headers, &body).await;
    assert_eq!(response.status, 200, "{response:?}");
    let history = client
        .query_consents(pb::QueryConsentsRequest {
            history: true,
            purpose: "sharing".into(),
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner()
        .records;
    let from_jentis: Vec<_> =
        history.iter().filter(|r| r.evidence.as_ref().is_some_and(|e| e.vendor == "jentis")).collect();
    assert_eq!(from_jentis.len(), 1, "{history:#?}");
    assert_eq!(from_jentis[0].implied_by(), pb::Signal::Gpc);
    assert!(from_jentis[0].evidence.as_ref().unwrap().gpc);

    // A conflict over HTTP: Intempt's banner accepts "sale" from a browser
    // that sends GPC. Both kept and marked; this tenant prefers GPC.
    let body = serde_json::json!({
        "action": "accept", "source": "desktop", "category": "sale", "userId": "intempt-gpc", "validUntil": "unlimited",
        "timestamp": u64::try_from(std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_millis()).unwrap(),
    });
    let response =
        send(server.running().http_addr, "POST", INTEMPT_PATH, &headers, body.to_string().as_bytes()).await;
    assert_eq!(response.status, 200, "{response:?}");
    let person = by_identity(identity("user_id", "intempt-gpc"));
    assert_eq!(check(&mut client, person, "sale", "").await, pb::ConsentStatus::Denied);
    let marked = client
        .query_consents(pb::QueryConsentsRequest {
            identity: Some(identity("user_id", "intempt-gpc")),
            gpc_conflict: true,
            history: true,
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner()
        .records;
    let decisions: Vec<_> = marked.iter().map(|r| (r.decision(), r.implied_by())).collect();
    assert_eq!(
        decisions,
        [(pb::Decision::Granted, pb::Signal::Unspecified), (pb::Decision::Denied, pb::Signal::Gpc)]
    );
}

fn consent_mode_mapping() -> SignalMapping {
    SignalMapping {
        consent_mode: ConsentModeMapping {
            ad_storage: Some("marketing".into()),
            ad_user_data: Some("marketing".into()),
            analytics_storage: Some("analytics".into()),
            public_namespaces: vec!["device_id".into()],
            ..ConsentModeMapping::default()
        },
        ..SignalMapping::default()
    }
}

#[tokio::test]
async fn batch_checks_and_consent_mode_answer_over_grpc_and_http() {
    let server = TestServer::start_with(|config| {
        config.auth = AuthMode::Required;
        with_signals(config, consent_mode_mapping());
    })
    .await;
    let database_url = server.database_url();
    let admin = create_key(&database_url, "acme", &[]);
    let mut client = keyed_client(&server.url(), &admin).await;
    let device = identity("device_id", "d-1");
    let request = pb::RecordConsentRequest {
        identities: vec![device.clone(), identity("email", "mode@example.com")],
        decisions: vec![
            decision("marketing", "", pb::Decision::Granted),
            decision("analytics", "", pb::Decision::Denied),
        ],
        ..Default::default()
    };
    client.record_consent(request).await.unwrap();

    let mode = client
        .get_consent_mode_state(pb::GetConsentModeStateRequest {
            subject: by_identity(device.clone()),
            min_revision: 0,
        })
        .await
        .unwrap()
        .into_inner();
    let state = mode.state.unwrap();
    assert_eq!(
        [
            &state.ad_storage,
            &state.ad_user_data,
            &state.ad_personalization,
            &state.analytics_storage,
            &state.security_storage
        ],
        ["granted", "granted", "denied", "denied", "denied"]
    );
    assert!(mode.revision >= 2);

    // BatchCheckConsent over HTTP with the API key.
    let http = server.running().http_addr;
    let bearer = format!("Bearer {admin}");
    let body = serde_json::json!({
        "subject": {"identity": {"namespace": "email", "value": "mode@example.com"}},
        "checks": [{"purpose": "marketing"}, {"purpose": "analytics"}, {"purpose": "other"}],
    });
    let headers = [("content-type", "application/json"), ("authorization", bearer.as_str())];
    let response = send(http, "POST", "/v1/batch-check", &headers, body.to_string().as_bytes()).await;
    assert_eq!(response.status, 200, "{response:?}");
    let json = response.json();
    let statuses: Vec<_> = json["results"].as_array().unwrap().iter().map(|r| r["status"].clone()).collect();
    assert_eq!(statuses, ["GRANTED", "DENIED", "UNKNOWN"]);
    assert_eq!(json["results"][0]["record"]["purpose"], "marketing");
    assert!(json["results"][2]["record"].is_null());
    let refused = send(http, "POST", "/v1/batch-check", &headers, br#"{"checks": []}"#).await;
    assert_eq!(refused.status, 400, "{refused:?}");
    assert_eq!(refused.json()["error"]["field"], "subject");

    // The Consent Mode route with a publishable key, as a tag manager calls it.
    bind_with_origins(&database_url, "acme", "jentis", "ckion-demo/live", &[SHOP]);
    let key = create_publishable(&database_url, "jentis", "ckion-demo/live", &[SHOP]);
    let path = |namespace: &str, value: &str| {
        format!("/v1/consent-mode?namespace={namespace}&value={value}&key={key}")
    };
    let response = send(http, "GET", &path("device_id", "d-1"), &[("origin", SHOP)], b"").await;
    assert_eq!(response.status, 200, "{response:?}");
    let json = response.json();
    assert_eq!(
        (json["ad_storage"].as_str(), json["analytics_storage"].as_str()),
        (Some("granted"), Some("denied"))
    );
    assert_eq!(response.header("access-control-allow-origin"), Some(SHOP));
    // Another origin, or a namespace the tenant did not make public: refused.
    let elsewhere = send(http, "GET", &path("device_id", "d-1"), &[("origin", ELSEWHERE)], b"").await;
    assert_eq!(elsewhere.status, 403, "{elsewhere:?}");
    let email = send(http, "GET", &path("email", "mode@example.com"), &[("origin", SHOP)], b"").await;
    assert_eq!(email.status, 403, "{email:?}");
    assert_eq!(email.json()["error"]["status"], "PERMISSION_DENIED");
    // The publishable key still reads nothing else.
    let batch = send(
        http,
        "POST",
        &format!("/v1/batch-check?key={key}"),
        &[("content-type", "application/json"), ("origin", SHOP)],
        body.to_string().as_bytes(),
    )
    .await;
    assert_eq!(batch.status, 403, "{batch:?}");
}
