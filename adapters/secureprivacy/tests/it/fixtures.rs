//! Secure Privacy's documented requests decode to exactly the expected
//! operation, and every response has exactly the documented keys.

use consent_adapter::{Decoded, Operation, Outcome, VendorAdapter};
use consent_adapter_secureprivacy::{SecurePrivacy, route};
use consent_core::{
    ConsentRecord, Decision, FeedFilter, Identity, PurposeDecision, QueryConsents, RecordConsent,
    RecordFilter, SubjectRef, UpdateLatest,
};
use serde_json::Value;

use crate::support::{
    CLIENT_ID, CUSTOM_USER_ID, Call, INTEGRATION_ID, METADATA, REFERENCE, URI, at, body, client_id,
    documented_record, documented_view, evidence_with, fixture, fixture_json, integration_record, keys,
    suite, wrapped,
};

#[test]
fn the_record_request_decodes_to_one_record() {
    let decoded = Call::to(route::RECORD).body(&fixture("record-request.json")).decode();
    let expected = Decoded::write(
        None,
        vec![RecordConsent {
            identities: vec![Identity::new("custom_user_id", CUSTOM_USER_ID)],
            decisions: vec![PurposeDecision::stated(
                "Dealership".to_owned(),
                REFERENCE.to_owned(),
                Decision::Granted,
            )],
            collected_at: None,
            expires_at: None,
            source: "api".to_owned(),
            evidence: evidence_with(URI, &wrapped(METADATA)),
            idempotency_key: String::new(),
        }],
    );
    assert_eq!(decoded, Ok(expected));
}

#[test]
fn the_update_request_decodes_to_an_update_of_the_latest_record() {
    let decoded = Call::to(route::UPDATE).body(&fixture("update-request.json")).decode();
    let expected = Decoded {
        account: None,
        operation: Operation::UpdateLatest(UpdateLatest {
            subject: SubjectRef::Id(client_id()),
            target: REFERENCE.to_owned(),
            decision: Decision::Denied,
            // No URI in the update body: the Origin header.
            evidence: evidence_with(
                "https://www.northwind-motors.example",
                &wrapped(r#"{"reason":"withdrawn by phone"}"#),
            ),
        }),
    };
    assert_eq!(decoded, Ok(expected));
}

#[test]
fn the_check_request_decodes_from_a_body_and_from_the_query() {
    let expected = Ok(Decoded {
        account: None,
        operation: Operation::Latest {
            subject: SubjectRef::Id(client_id()),
            target: REFERENCE.to_owned(),
            include_any_target: true,
        },
    });
    let request = fixture_json("check-request.json");
    assert_eq!(Call::to(route::CHECK).json(&request).decode(), expected);
    assert_eq!(Call::to(route::CHECK).query_from(&request).decode(), expected);
}

#[test]
fn the_get_request_takes_the_client_id_from_the_path() {
    let decoded = Call::to(route::GET).path("ClientId", CLIENT_ID).query("Reference", REFERENCE).decode();
    let expected = Decoded {
        account: None,
        operation: Operation::Latest {
            subject: SubjectRef::Id(client_id()),
            target: REFERENCE.to_owned(),
            include_any_target: false,
        },
    };
    assert_eq!(decoded, Ok(expected));
}

#[test]
fn the_integration_request_records_for_the_integration() {
    let decoded = Call::to(route::INTEGRATION_RECORD)
        .path("id", INTEGRATION_ID)
        .body(&fixture("integration-request.json"))
        .decode();
    let expected = Decoded::write(
        Some(INTEGRATION_ID.to_owned()),
        vec![RecordConsent {
            identities: vec![Identity::new("custom_user_id", CUSTOM_USER_ID)],
            decisions: vec![PurposeDecision::stated(
                "EmailMarketing".to_owned(),
                INTEGRATION_ID.to_owned(),
                Decision::Granted,
            )],
            collected_at: None,
            expires_at: None,
            source: "api".to_owned(),
            evidence: evidence_with("https://www.northwind-motors.example", ""),
            idempotency_key: String::new(),
        }],
    );
    assert_eq!(decoded, Ok(expected));
}

#[test]
fn the_integration_get_names_the_integration_as_account_and_target() {
    let decoded = Call::to(route::INTEGRATION_GET)
        .path("id", CLIENT_ID)
        .query("IntegrationId", INTEGRATION_ID)
        .decode();
    let expected = Decoded {
        account: Some(INTEGRATION_ID.to_owned()),
        operation: Operation::Latest {
            subject: SubjectRef::Id(client_id()),
            target: INTEGRATION_ID.to_owned(),
            include_any_target: false,
        },
    };
    assert_eq!(decoded, Ok(expected));
}

#[test]
fn the_list_request_decodes_from_a_body_and_from_the_query() {
    let expected = Ok(Decoded {
        account: None,
        // The documented call names no page: the whole list.
        operation: Operation::ListAll(QueryConsents {
            filter: RecordFilter {
                subject_id: None,
                identity: Some(Identity::new("custom_user_id", CUSTOM_USER_ID)),
                purpose: "Dealership".to_owned(),
                target: REFERENCE.to_owned(),
                decisions: vec![Decision::Granted, Decision::Limited],
                source: String::new(),
                collected_after: Some(at("2026-11-01T00:00:00Z")),
                // `ToDate` 2026-11-30 includes that whole day.
                collected_before: Some(at("2026-12-01T00:00:00Z")),
                expiring_before: None,
                gpc_conflict: false,
                ip: "203.0.113.7".to_owned(),
                user_agent: crate::support::USER_AGENT.to_owned(),
                country: "DK".to_owned(),
                region: "Capital Region".to_owned(),
                city: "Copenhagen".to_owned(),
                history: false,
            },
            page_size: 0,
            page_token: String::new(),
        }),
    });
    let request = fixture_json("list-request.json");
    assert_eq!(Call::to(route::LIST).json(&request).decode(), expected);
    assert_eq!(Call::to(route::LIST).query_from(&request).decode(), expected);
}

#[test]
fn the_subscribe_request_decodes_to_a_filtered_subscription() {
    let decoded = Call::to(route::SUBSCRIBE).body(&fixture("subscribe-request.json")).decode();
    let expected = Decoded {
        account: None,
        operation: Operation::Subscribe {
            filter: FeedFilter {
                subject: Some(SubjectRef::Identity(Identity::new("custom_user_id", CUSTOM_USER_ID))),
                purposes: vec!["Dealership".to_owned()],
                targets: vec![REFERENCE.to_owned()],
                sources: Vec::new(),
            },
            url: "https://crm.northwind-motors.example/hooks/consent".to_owned(),
        },
    };
    assert_eq!(decoded, Ok(expected));
}

fn written(records: Vec<ConsentRecord>) -> Outcome {
    Outcome::Written(records)
}

/// `actual` has exactly the keys of `documented`, nested objects included.
fn assert_same_keys(actual: &Value, documented: &Value, what: &str) {
    assert_eq!(keys(actual), keys(documented), "{what}");
    for (key, value) in documented.as_object().into_iter().flatten() {
        if value.is_object() {
            assert_same_keys(&actual[key], value, &format!("{what}.{key}"));
        }
    }
}

#[test]
fn the_record_response_is_the_documented_one() {
    let response = SecurePrivacy.encode(route::RECORD, &written(vec![documented_record()]));
    assert_eq!(response.status, 200);
    assert_same_keys(body(&response), &fixture_json("record-response.json"), "record response");
    assert_eq!(body(&response), &fixture_json("record-response.json"));
}

#[test]
fn the_get_response_is_the_documented_one() {
    let response = SecurePrivacy.encode(route::GET, &Outcome::Latest(Some(documented_view())));
    assert_eq!(response.status, 200);
    assert_same_keys(body(&response), &fixture_json("get-response.json"), "get response");
    assert_eq!(body(&response), &fixture_json("get-response.json"));
}

#[test]
fn the_check_response_is_the_documented_one() {
    let response = SecurePrivacy.encode(route::CHECK, &Outcome::Latest(Some(documented_view())));
    assert_eq!(response.status, 200);
    assert_eq!(body(&response), &fixture_json("check-response.json"));
}

#[test]
fn the_integration_responses_are_the_documented_ones() {
    let record = integration_record();
    let response = SecurePrivacy.encode(route::INTEGRATION_RECORD, &written(vec![record.clone()]));
    assert_eq!(response.status, 200);
    assert_same_keys(body(&response), &fixture_json("integration-response.json"), "integration response");
    assert_eq!(body(&response), &fixture_json("integration-response.json"));

    let view = consent_core::ConsentView {
        record,
        first_collected_at: crate::support::received_at(),
        status: consent_core::ConsentStatus::Granted,
    };
    let response = SecurePrivacy.encode(route::INTEGRATION_GET, &Outcome::Latest(Some(view)));
    assert_eq!(response.status, 200);
    assert_same_keys(body(&response), &fixture_json("integration-get-response.json"), "integration get");
    assert_eq!(body(&response), &fixture_json("integration-get-response.json"));
}

#[test]
fn the_list_response_items_are_the_documented_ones() {
    let outcome = Outcome::Listed {
        views: vec![documented_view()],
        next_page_token: String::new(),
        filter: RecordFilter::default(),
    };
    let response = SecurePrivacy.encode(route::LIST, &outcome);
    assert_eq!(response.status, 200);
    let documented = fixture_json("list-response.json");
    let (Some(item), Some(documented_item)) = (body(&response).get(0), documented.get(0)) else {
        panic!("one item in each");
    };
    assert_same_keys(item, documented_item, "list item");
    assert_eq!(body(&response), &documented);
}

#[test]
fn conformance_documented_examples_decode() {
    suite().examples_decode();
}
