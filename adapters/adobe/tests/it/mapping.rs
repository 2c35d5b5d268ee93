//! How Adobe's request maps to consentd beyond the documented example: the
//! decision, the account header, evidence, spellings and repeated people,
//! and what the adapter declares.

use consent_adapter::{Failure, RequestEvidence, VendorAdapter};
use consent_adapter_adobe::Adobe;
use consent_core::Decision;
use serde_json::json;

use crate::support::{CONSENT_REQUEST, Call, decode_json, expected_evidence, person};

#[test]
fn opting_in_grants_sale_and_sharing() {
    let mut body: serde_json::Value = serde_json::from_slice(CONSENT_REQUEST).expect("json");
    body["optOutOfSale"] = json!(false);
    let decoded = decode_json(&body).expect("decodes");
    assert_eq!(decoded.records().len(), 3);
    for record in decoded.records() {
        assert_eq!(record.decisions.len(), 1);
        assert_eq!(record.decisions[0].decision, Decision::Granted);
        assert_eq!(record.decisions[0].purpose, "sale_sharing");
        assert_eq!(record.decisions[0].target, "");
    }
}

#[test]
fn the_org_header_is_the_account_and_optional() {
    let call = Call::adobe(CONSENT_REQUEST).without_header("x-gw-ims-org-id");
    assert_eq!(call.decode().expect("decodes").account, None);
    let call = Call::adobe(CONSENT_REQUEST).with_header("x-gw-ims-org-id", "  ");
    assert_eq!(call.decode().expect("decodes").account, None);
    let call = Call::adobe(CONSENT_REQUEST).with_header("x-gw-ims-org-id", " OTHER@AdobeOrg ");
    assert_eq!(call.decode().expect("decodes").account.as_deref(), Some("OTHER@AdobeOrg"));
}

#[test]
fn the_api_key_header_is_ignored() {
    let with = Call::adobe(CONSENT_REQUEST).decode().expect("decodes");
    let without = Call::adobe(CONSENT_REQUEST).without_header("x-api-key").decode().expect("decodes");
    assert_eq!(with, without);
}

#[test]
fn evidence_from_the_body_is_empty_and_from_http_is_kept() {
    let mut call = Call::adobe(CONSENT_REQUEST);
    call.evidence = RequestEvidence {
        user_agent: "Mozilla/5.0".into(),
        client_ip: "2001:db8::1".into(),
        origin: "https://shop.acme.com".into(),
        body_digest: "abc123".into(),
        proxy_ip: String::new(),
        gpc: false,
        country: String::new(),
        region: String::new(),
        city: String::new(),
    };
    let decoded = call.decode().expect("decodes");
    for record in decoded.records() {
        let evidence = &record.evidence;
        assert_eq!(evidence.user_agent, "Mozilla/5.0");
        assert_eq!(evidence.ip, "2001:db8::1");
        assert_eq!(evidence.uri, "https://shop.acme.com");
        assert_eq!(evidence.payload_digest, "abc123");
        assert_eq!(evidence.vendor, "adobe");
        assert_eq!(evidence.consent_id, "");
        assert_eq!(evidence.metadata_json, "");
        assert_eq!(record.collected_at, None);
        assert_eq!(record.expires_at, None);
        assert_eq!(record.idempotency_key, "");
    }
}

#[test]
fn unknown_fields_and_the_lower_case_spelling_are_accepted() {
    let body = json!({
        "optOutOfSale": false,
        "regulation": "ccpa",
        "entities": [{ "namespace": "gaID", "values": ["GA1.2.3"], "comment": "x" }]
    });
    let decoded = decode_json(&body).expect("decodes");
    assert_eq!(decoded.records(), [person("gaid", "GA1.2.3", Decision::Granted, expected_evidence())]);
}

#[test]
fn a_person_named_twice_is_recorded_once() {
    let body = json!({
        "optOutOfSale": true,
        "entities": [
            { "nameSpace": "email", "values": ["dsmith@acme.com", "DSmith@acme.com"] },
            { "nameSpace": "EMAIL", "values": ["dsmith@acme.com"] },
            { "nameSpace": "ecid", "values": ["1", "1", "2"] }
        ]
    });
    let decoded = decode_json(&body).expect("decodes");
    let identities: Vec<_> = decoded
        .records()
        .iter()
        .map(|r| (r.identities[0].namespace.as_str(), r.identities[0].value.as_str()))
        .collect();
    assert_eq!(identities, [("email", "dsmith@acme.com"), ("ecid", "1"), ("ecid", "2")]);
}

#[test]
fn only_the_declared_route_is_decoded() {
    let mut call = Call::adobe(CONSENT_REQUEST);
    call.route = 1;
    assert_eq!(call.decode(), Err(Failure::Internal));
}

#[test]
fn the_adapter_declares_its_route_and_credential() {
    use consent_adapter::{Credential, Method, Route};
    assert_eq!(Adobe.name(), "adobe");
    assert_eq!(Adobe.routes(), [Route::keyed(Method::Post, "/data/core/privacy/consent")]);
    assert_eq!(Adobe.credentials(), [Credential::Bearer]);
}
