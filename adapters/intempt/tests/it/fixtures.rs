//! Intempt's documented request examples (`tests/fixtures/consent-*.json`).
//!
//! The documentation gives them as JavaScript around `JSON.stringify({…})`;
//! the fixtures are those objects verbatim, with `Date.now()` fixed to
//! [`NOW_MS`] (the page's last-modified time) so the bodies are JSON.

use consent_adapter::{Decoded, VendorAdapter};
use consent_adapter_intempt::Intempt;
use consent_core::{Decision, Evidence, Identity, PurposeDecision, RecordConsent};
use serde_json::json;

use crate::support::{
    ACCOUNT, FIXTURES, NOW_MS, ORG, PROJECT, YEAR_LATER_MS, decode, decode_parts, fixture, http_evidence, ms,
    pairs, single, stored, suite,
};

fn evidence(message: &str, metadata_json: &str) -> Evidence {
    let http = http_evidence();
    Evidence {
        user_agent: http.user_agent,
        ip: http.client_ip,
        uri: http.origin,
        message: message.into(),
        metadata_json: metadata_json.into(),
        vendor: "intempt".into(),
        payload_digest: http.body_digest,
        ..Evidence::default()
    }
}

#[test]
fn accept_analytics_consent_desktop_web_user() {
    let decoded = decode(&fixture("consent-accept-analytics-desktop.json")).unwrap();
    assert_eq!(
        decoded,
        Decoded::write(
            Some(ACCOUNT.into()),
            vec![RecordConsent {
                identities: vec![
                    Identity::new("user_id", "user@example.com"),
                    Identity::new("email", "user@example.com"),
                ],
                decisions: vec![PurposeDecision::stated("analytics", String::new(), Decision::Granted)],
                collected_at: Some(ms(NOW_MS)),
                expires_at: Some(ms(YEAR_LATER_MS)),
                source: "desktop".into(),
                evidence: evidence("User accepted analytics consent on cookie banner", r#"{"sourceId":0}"#),
                idempotency_key: String::new(),
            }],
        )
    );
}

#[test]
fn reject_marketing_consent_mobile_app_user() {
    let decoded = decode(&fixture("consent-reject-marketing-mobile.json")).unwrap();
    assert_eq!(
        decoded,
        Decoded::write(
            Some(ACCOUNT.into()),
            vec![RecordConsent {
                identities: vec![
                    Identity::new("user_id", "mobile.user@domain.com"),
                    Identity::new("profile_id", "profile_mobile_789"),
                ],
                decisions: vec![PurposeDecision::stated("marketing", String::new(), Decision::Denied)],
                collected_at: Some(ms(NOW_MS)),
                expires_at: None,
                source: "mobile".into(),
                evidence: evidence(
                    "User declined marketing notifications in mobile app settings",
                    r#"{"sourceId":2}"#
                ),
                idempotency_key: String::new(),
            }],
        )
    );
}

#[test]
fn the_documentation_pages_request_example() {
    let record = single(decode(&fixture("consent-page-request-example.json")).unwrap());
    assert_eq!(
        record.identities,
        [
            Identity::new("user_id", "user@example.com"),
            Identity::new("email", "user@example.com"),
            Identity::new("profile_id", "profile_abc123"),
        ]
    );
    assert_eq!(record.decisions, [PurposeDecision::stated("analytics", String::new(), Decision::Granted)]);
    assert_eq!(record.collected_at, Some(ms(NOW_MS)));
    assert_eq!(record.expires_at, Some(ms(YEAR_LATER_MS)));
    assert_eq!(record.source, "desktop");
    assert_eq!(
        record.evidence,
        evidence("User accepted analytics consent on cookie banner", r#"{"sourceId":0}"#)
    );
    assert_eq!(record.idempotency_key, "");
}

#[test]
fn the_server_sdk_route_with_a_basic_key_decodes_alike() {
    let body = fixture("consent-reject-marketing-mobile.json");
    let browser = decode(&body).unwrap();
    let sdk = decode_parts(
        1,
        &pairs(&[("orgName", ORG), ("projectName", PROJECT)]),
        &[],
        &pairs(&[
            ("content-type", "application/json"),
            ("authorization", "Basic aWRlbnRpZmllcjpzZWNyZXQ="),
            ("user-agent", "intempt-node-sdk/1.4.0"),
        ]),
        &body,
        &http_evidence(),
    )
    .unwrap();
    assert_eq!(sdk, browser);
}

#[test]
fn each_fixture_is_re_encoded_as_the_body_intempt_documents() {
    let record = stored(&single(decode(&fixture("consent-accept-analytics-desktop.json")).unwrap()));
    assert_eq!(
        Intempt.encode_event(&record),
        json!({
            "action": "accept",
            "timestamp": NOW_MS.to_string(),
            "validUntil": YEAR_LATER_MS.to_string(),
            "source": "desktop",
            "category": "analytics",
            "sourceId": 0,
            "userId": "user@example.com",
            "email": "user@example.com",
            "message": "User accepted analytics consent on cookie banner"
        })
    );

    let record = stored(&single(decode(&fixture("consent-reject-marketing-mobile.json")).unwrap()));
    assert_eq!(
        Intempt.encode_event(&record),
        json!({
            "action": "reject",
            "timestamp": NOW_MS.to_string(),
            "validUntil": "unlimited",
            "source": "mobile",
            "category": "marketing",
            "sourceId": 2,
            "profileId": "profile_mobile_789",
            "userId": "mobile.user@domain.com",
            "message": "User declined marketing notifications in mobile app settings"
        })
    );
}

#[test]
fn re_encoded_fixtures_decode_to_the_same_records() {
    for name in FIXTURES {
        let first = single(decode(&fixture(name)).unwrap());
        let body = serde_json::to_vec(&Intempt.encode_event(&stored(&first))).unwrap();
        assert_eq!(single(decode(&body).unwrap()), first, "{name}");
    }
}

#[test]
fn conformance_documented_examples_decode() {
    suite().examples_decode();
}
