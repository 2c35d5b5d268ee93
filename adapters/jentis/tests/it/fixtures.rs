//! JENTIS' documented example request, and variations of it a real client
//! sends, decode to exactly the expected command.

use consent_adapter::RequestEvidence;
use consent_core::{Decision, Evidence, Identity, PurposeDecision, RecordConsent, Timestamp};
use serde_json::json;

use crate::support::{decode, decode_json, decode_with, example, example_with, fixture, http_evidence};

const EXAMPLE_USER_AGENT: &str = "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/101.0.4951.67 Safari/537.36";

#[test]
fn documented_example_decodes_to_one_record() {
    let decoded =
        decode(&fixture("request-documented-example.json")).expect("the documented example decodes");
    assert_eq!(decoded.account.as_deref(), Some("ckion-demo/live"));
    let http = http_evidence();
    let expected = RecordConsent {
        // The example sends the user id as the number 7.173716454587715e+22.
        identities: vec![Identity::new("jentis_user_id", "71737164545877150000000")],
        decisions: vec![PurposeDecision {
            purpose: String::new(),
            target: "ga4".to_owned(),
            decision: Decision::Granted,
        }],
        collected_at: Some(Timestamp::from_micros(1_720_611_159_546_000)),
        expires_at: None,
        source: "http-api".to_owned(),
        evidence: Evidence {
            // The body's user agent and href win over the HTTP layer's.
            user_agent: EXAMPLE_USER_AGENT.to_owned(),
            ip: http.client_ip,
            uri: "https://stage-test.jtm-demo.com/?".to_owned(),
            // `"data": {}` carries nothing.
            metadata_json: String::new(),
            consent_id: "d40cfeb0-9526-43d7-96d3-02d5ae65df67".to_owned(),
            vendor: "jentis".to_owned(),
            payload_digest: http.body_digest,
            ..Evidence::default()
        },
        idempotency_key: String::new(),
    };
    assert_eq!(decoded.records(), vec![expected]);
}

#[test]
fn every_vendor_status_maps_and_decisions_are_ordered_by_vendor_id() {
    let mut doc = example();
    doc["data"]["consent"]["vendors"] = json!({ "ga4": true, "adw": false, "fb": "ncm" });
    let decoded = decode_json(&doc).expect("decodes");
    let decisions: Vec<(String, Decision)> = decoded.records()[0]
        .decisions
        .iter()
        .map(|decision| {
            assert_eq!(decision.purpose, "", "JENTIS decisions are for all purposes");
            (decision.target.clone(), decision.decision)
        })
        .collect();
    assert_eq!(
        decisions,
        [
            ("adw".to_owned(), Decision::Denied),
            ("fb".to_owned(), Decision::Limited),
            ("ga4".to_owned(), Decision::Granted),
        ]
    );
}

#[test]
fn string_user_id_and_version_as_the_schema_types_them() {
    let mut doc = example_with("version", Some(json!("3")));
    doc["data"]["identifier"]["user"]["id"] = json!("80791172425362871393019");
    let decoded = decode_json(&doc).expect("decodes");
    let record = &decoded.records()[0];
    assert_eq!(record.identities, [Identity::new("jentis_user_id", "80791172425362871393019")]);
}

#[test]
fn consent_data_becomes_metadata_json() {
    let doc = example_with("data.consent.data", Some(json!({ "cmp": "custom", "bannerVersion": 7 })));
    let decoded = decode_json(&doc).expect("decodes");
    let record = &decoded.records()[0];
    assert_eq!(record.evidence.metadata_json, r#"{"bannerVersion":7,"cmp":"custom"}"#);
}

#[test]
fn the_http_layer_fills_what_the_body_leaves_empty() {
    let mut doc = example_with("system.href", None);
    doc["system"]["navigator-userAgent"] = json!("");
    let http = http_evidence();
    let decoded = decode_json(&doc).expect("decodes");
    let record = &decoded.records()[0];
    assert_eq!(record.evidence.user_agent, http.user_agent);
    assert_eq!(record.evidence.uri, http.origin);

    let bare = decode_with(doc.to_string().as_bytes(), &RequestEvidence::default()).expect("decodes");
    assert_eq!(bare.records()[0].evidence.user_agent, "");
    assert_eq!(bare.records()[0].evidence.ip, "");
    assert_eq!(bare.records()[0].evidence.vendor, "jentis");
}

#[test]
fn unknown_and_unmapped_fields_are_ignored() {
    let mut doc = example();
    doc["tracking"] = json!({ "anything": [1, 2, 3] });
    doc["system"]["requestType"] = json!(42);
    doc["configuration"]["debugcode"] = json!(null);
    doc["data"]["identifier"]["user"]["action"] = json!("sometimes");
    doc["data"]["consent"]["send"] = json!(true);
    doc["data"]["consent"]["userconsent"] = json!({ "any": "shape" });
    let plain = decode_json(&example()).expect("decodes");
    assert_eq!(decode_json(&doc).expect("decodes").records(), plain.records());
}

#[test]
fn uppercase_consent_ids_are_uuids_too() {
    let doc = example_with("data.identifier.consent.id", Some(json!("D40CFEB0-9526-43D7-96D3-02D5AE65DF67")));
    let decoded = decode_json(&doc).expect("decodes");
    let record = &decoded.records()[0];
    assert_eq!(record.evidence.consent_id, "D40CFEB0-9526-43D7-96D3-02D5AE65DF67");
}

#[test]
fn the_route_index_and_request_parts_do_not_change_the_result() {
    let body = fixture("request-documented-example.json");
    let evidence = http_evidence();
    let query = vec![("debug".to_owned(), "1".to_owned())];
    let request = consent_adapter::Request {
        route: 0,
        path_params: &[],
        query: &query,
        headers: &[],
        body: &body,
        evidence: &evidence,
        received_at: consent_core::Timestamp::now(),
        fresh_id: uuid::Uuid::nil(),
    };
    let decoded = consent_adapter::VendorAdapter::decode(&consent_adapter_jentis::Jentis, &request);
    assert_eq!(decoded, decode(&body));
}
