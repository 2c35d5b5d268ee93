//! JENTIS' documented example request decodes to exactly the expected
//! command, though it omits two fields the schema lists as required.

use consent_core::{Decision, Evidence, Identity, PurposeDecision, RecordConsent, Timestamp};

use crate::support::{NOT_ENFORCED, decode, decode_json, example, fixture, http_evidence, suite};

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
        decisions: vec![PurposeDecision::stated(String::new(), "ga4".to_owned(), Decision::Granted)],
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
fn the_documented_example_omits_the_unenforced_fields_and_decodes() {
    let doc = example();
    for path in NOT_ENFORCED {
        assert!(doc.pointer(&format!("/{}", path.replace('.', "/"))).is_none(), "{path}");
    }
    decode_json(&doc).expect("the documented example decodes");
}

#[test]
fn conformance_documented_examples_decode() {
    suite().examples_decode();
}
