//! Intempt's success and error responses.

use consent_adapter::{Failure, Outcome, VendorAdapter};
use consent_adapter_intempt::Intempt;
use consent_core::ConsentError;
use serde_json::json;

use crate::support::{decode, fixture, fixture_json, single, stored, suite};

#[test]
fn success_is_200_with_an_empty_object() {
    let record = stored(&single(decode(&fixture("consent-accept-analytics-desktop.json")).unwrap()));
    for route in [0, 1] {
        for written in [&[][..], std::slice::from_ref(&record)] {
            let response = Intempt.encode(route, &Outcome::Written(written.to_vec()));
            assert_eq!(response.status, 200);
            assert_eq!(response.body, Some(fixture_json("response-200.json")));
        }
    }
}

#[test]
fn every_failure_has_intempts_error_shape() {
    let cases = [
        (Failure::Unauthorized, 401, "Unauthorized"),
        (Failure::Forbidden, 403, "Forbidden"),
        (Failure::TooManyRequests, 429, "Too many requests"),
        (Failure::Internal, 500, "Internal server error"),
        (Failure::Unavailable, 503, "Service unavailable"),
        (Failure::bad("body", "Request body is empty"), 400, "Invalid request"),
    ];
    for (failure, status, error) in cases {
        let response = Intempt.encode_failure(&failure);
        assert_eq!(response.status, status, "{failure:?}");
        let body = response.body.unwrap();
        let object = body.as_object().unwrap();
        assert_eq!(object.len(), 2, "{body}");
        assert_eq!(object["error"], error);
        assert!(object["message"].as_str().is_some_and(|message| !message.is_empty()), "{body}");
    }
}

#[test]
fn consentd_validation_errors_name_intempts_fields() {
    let cases = [
        ("collected_at", "must not be in the future", "Invalid field 'timestamp': must not be in the future"),
        (
            "expires_at",
            "must be after collected_at",
            "Invalid field 'validUntil': must be after collected_at",
        ),
        (
            "decisions[0].purpose",
            "must be at most 128 characters",
            "Invalid field 'category': must be at most 128 characters",
        ),
        (
            "identities[0].value",
            "must be at most 256 characters",
            "Invalid field 'userId', 'email' or 'profileId': must be at most 256 characters",
        ),
        ("source", "must be at most 64 characters", "Invalid field 'source': must be at most 64 characters"),
    ];
    for (field, description, message) in cases {
        let failure = Failure::from(&ConsentError::invalid(field, description));
        let response = Intempt.encode_failure(&failure);
        assert_eq!(response.status, 400);
        assert_eq!(response.body, Some(json!({"error": "Invalid request", "message": message})));
    }
}

#[test]
fn conformance_responses_are_documented() {
    suite().responses_are_documented();
}
