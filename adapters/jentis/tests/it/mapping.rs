//! How JENTIS' submission maps to consentd beyond the documented example:
//! vendor statuses, ids sent as strings, consent data, evidence from the
//! HTTP layer, ignored fields, and the submission `encode_event` builds.

use consent_adapter::{Failure, RequestEvidence, VendorAdapter};
use consent_adapter_jentis::Jentis;
use consent_core::{ConsentRecord, Decision, EventKind, Evidence, Identity, TenantId, Timestamp};
use serde_json::json;
use uuid::Uuid;

use crate::support::{decode, decode_json, decode_with, example, example_with, fixture, http_evidence};

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

#[test]
fn an_any_target_record_has_no_vendor_to_submit() {
    let record = ConsentRecord {
        id: Uuid::from_u128(1),
        tenant: TenantId::new("acme"),
        subject_id: Uuid::from_u128(2),
        identities: vec![Identity::new("jentis_user_id", "42")],
        purpose: String::new(),
        target: String::new(),
        decision: Decision::Granted,
        collected_at: Timestamp::from_micros(1_720_611_159_546_000),
        expires_at: None,
        recorded_at: Timestamp::from_micros(1_720_611_160_000_000),
        source: "web".to_owned(),
        evidence: Evidence::default(),
        revision: 1,
        kind: EventKind::Recorded,
        implied_by: None,
        gpc_conflict: false,
    };
    let event = Jentis.encode_event(&record);
    assert_eq!(event["data"]["consent"]["vendors"], json!({}));
    let failure = decode(event.to_string().as_bytes()).expect_err("nothing to record");
    assert_eq!(failure, Failure::bad("data.consent.vendors", "must name at least one vendor"));
}

#[test]
fn encode_event_matches_the_documented_shape() {
    let record = ConsentRecord {
        id: Uuid::from_u128(1),
        tenant: TenantId::new("ckion-demo"),
        subject_id: Uuid::from_u128(2),
        identities: vec![Identity::new("jentis_user_id", "71737164545877150000000")],
        purpose: String::new(),
        target: "ga4".to_owned(),
        decision: Decision::Limited,
        collected_at: Timestamp::from_micros(1_720_611_159_546_000),
        expires_at: None,
        recorded_at: Timestamp::from_micros(1_655_704_922_774_123),
        source: "http-api".to_owned(),
        evidence: Evidence {
            user_agent: "Mozilla/5.0".to_owned(),
            uri: "https://stage-test.jtm-demo.com/?".to_owned(),
            consent_id: "d40cfeb0-9526-43d7-96d3-02d5ae65df67".to_owned(),
            metadata_json: r#"{"cmp":"custom"}"#.to_owned(),
            ..Evidence::default()
        },
        revision: 1,
        kind: EventKind::Recorded,
        implied_by: None,
        gpc_conflict: false,
    };
    let expected = json!({
        "version": "3",
        "system": {
            "type": "http-api",
            "timestamp": 1_655_704_922_774_i64,
            "navigator-userAgent": "Mozilla/5.0",
            "initiator": "consentd",
            "href": "https://stage-test.jtm-demo.com/?",
        },
        "configuration": { "container": "ckion-demo", "environment": "live" },
        "data": {
            "identifier": {
                "user": { "id": "71737164545877150000000", "action": "new" },
                "consent": { "id": "d40cfeb0-9526-43d7-96d3-02d5ae65df67", "action": "new" },
            },
            "consent": {
                "lastupdate": 1_720_611_159_546_i64,
                "data": { "cmp": "custom" },
                "vendors": { "ga4": "ncm" },
                "vendorsChanged": { "ga4": "ncm" },
            },
        },
    });
    assert_eq!(Jentis.encode_event(&record), expected);
}
