//! Adobe's responses: 202 with no payload, and the gateway error shape.

use consent_adapter::{Failure, Outcome, Response, VendorAdapter};
use consent_adapter_adobe::Adobe;
use consent_core::{Decision, Identity};
use serde_json::json;

use crate::support::{record, suite};

#[test]
fn success_is_202_with_no_payload() {
    let written = [record(vec![Identity::new("email", "dsmith@acme.com")], Decision::Denied)];
    assert_eq!(Adobe.encode(0, &Outcome::Written(written.to_vec())), Response::empty(202));
    assert_eq!(Adobe.encode(0, &Outcome::Written(Vec::new())), Response::empty(202));
}

#[test]
fn every_failure_has_adobes_error_shape() {
    for (failure, status) in [
        (Failure::Unauthorized, 401),
        (Failure::Forbidden, 403),
        (Failure::TooManyRequests, 429),
        (Failure::Internal, 500),
        (Failure::Unavailable, 503),
    ] {
        let response = Adobe.encode_failure(&failure);
        assert_eq!(response.status, status);
        let body = response.body.expect("error body");
        assert_eq!(body["error_code"], status.to_string());
        assert!(!body["message"].as_str().expect("message").is_empty());
        assert_eq!(body.as_object().map(serde_json::Map::len), Some(2));
    }
}

#[test]
fn events_are_adobe_requests_for_the_first_identity() {
    let denied = record(
        vec![Identity::new("email", "dsmith@acme.com"), Identity::new("ecid", "443636")],
        Decision::Denied,
    );
    assert_eq!(
        Adobe.encode_event(&denied),
        json!({ "optOutOfSale": true, "entities": [{ "nameSpace": "email", "values": ["dsmith@acme.com"] }] })
    );
    let granted = record(vec![Identity::new("ecid", "443636")], Decision::Granted);
    assert_eq!(
        Adobe.encode_event(&granted),
        json!({ "optOutOfSale": false, "entities": [{ "nameSpace": "ecid", "values": ["443636"] }] })
    );
    let limited = record(vec![Identity::new("ecid", "443636")], Decision::Limited);
    assert_eq!(Adobe.encode_event(&limited)["optOutOfSale"], false);
}

#[test]
fn conformance_responses_are_documented() {
    suite().responses_are_documented();
}
