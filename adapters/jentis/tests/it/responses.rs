//! What the gateway mounts, and the responses JENTIS clients get.

use consent_adapter::{Credential, Failure, Method, Outcome, Route, VendorAdapter};
use consent_adapter_jentis::Jentis;
use consent_core::ConsentError;
use serde_json::json;

use crate::support::{decode, fixture, fixture_json, suite};

#[test]
fn serves_post_jentis_with_a_bearer_key_and_to_beacons() {
    assert_eq!(Jentis.name(), "jentis");
    assert_eq!(Jentis.routes(), [Route::keyed(Method::Post, "/jentis").beacon()]);
    assert!(Jentis.routes()[0].beacon, "web clients send with navigator.sendBeacon");
    assert_eq!(Jentis.credentials(), [Credential::Bearer]);
    assert_eq!(Jentis.base_path(), "/jentis", "clients post to the base URL itself");
}

#[test]
fn success_is_200_without_content_as_documented() {
    let decoded = decode(&fixture("request-documented-example.json")).expect("decodes");
    assert_eq!(decoded.records().len(), 1);
    let response = Jentis.encode(0, &Outcome::Written(Vec::new()));
    assert_eq!(response.status, 200);
    assert_eq!(response.body, None);
}

#[test]
fn every_failure_has_its_status_and_the_error_shape() {
    let cases = [
        (Failure::Unauthorized, 401, "Unauthorized"),
        (Failure::Forbidden, 403, "Forbidden"),
        (Failure::TooManyRequests, 429, "Too Many Requests"),
        (Failure::Internal, 500, "Internal Server Error"),
        (Failure::Unavailable, 503, "Service Unavailable"),
    ];
    for (failure, status, error) in cases {
        let response = Jentis.encode_failure(&failure);
        assert_eq!(response.status, status, "{failure:?}");
        let body = response.body.expect("a JSON body");
        assert_eq!(body["error"], error);
        assert!(body.get("field").is_none(), "only a bad request names a field");
        let message = body["message"].as_str().expect("a message");
        assert!(!message.is_empty() && !message.ends_with('.'));
    }
}

#[test]
fn service_field_paths_are_reported_as_jentis_paths() {
    let cases = [
        ("collected_at", "data.consent.lastupdate"),
        ("source", "system.type"),
        ("identities[0].value", "data.identifier.user.id"),
        ("decisions[1].target", "data.consent.vendors"),
        ("evidence.user_agent", "system.navigator-userAgent"),
        ("evidence.uri", "system.href"),
        ("evidence.metadata_json", "data.consent.data"),
        ("evidence.consent_id", "data.identifier.consent.id"),
        ("body", "body"),
    ];
    for (core_field, vendor_field) in cases {
        let failure = Failure::from(&ConsentError::invalid(core_field, "must not be in the future"));
        let response = Jentis.encode_failure(&failure);
        assert_eq!(response.status, 400);
        assert_eq!(
            response.body,
            Some(json!({
                "error": "Bad Request",
                "field": vendor_field,
                "message": "must not be in the future",
            }))
        );
    }
}

#[test]
fn the_documented_success_response_has_no_content() {
    let openapi = fixture_json("openapi-consent-submission.json");
    let ok = &openapi["paths"]["/"]["post"]["responses"]["200"];
    assert_eq!(ok["description"], "Data submitted successfully");
    assert!(ok.get("content").is_none());
}

#[test]
fn conformance_responses_are_documented() {
    suite().responses_are_documented();
}
