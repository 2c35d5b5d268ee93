//! Every missing or malformed field is a bad request naming Intempt's field,
//! answered in Intempt's error shape.

use consent_adapter::{Failure, RequestEvidence, VendorAdapter};
use consent_adapter_intempt::Intempt;
use serde_json::{Value, json};

use crate::support::{NOW_MS, ORG, PROJECT, bad_field, decode, decode_parts, pairs, single, suite};

fn valid() -> Value {
    json!({
        "action": "accept",
        "timestamp": NOW_MS,
        "validUntil": NOW_MS + 1_000,
        "source": "desktop",
        "category": "analytics",
        "userId": "u-1",
        "email": "u@example.com",
        "profileId": "p-1",
        "message": "ok",
        "sourceId": 0
    })
}

/// Decodes `valid()` changed by `change`, expecting a bad request naming
/// `field`; checks the error response too.
fn expect_bad(field: &str, case: &str, change: impl FnOnce(&mut serde_json::Map<String, Value>)) {
    let mut body = valid();
    change(body.as_object_mut().unwrap());
    let result = decode(&serde_json::to_vec(&body).unwrap());
    let failure = result.clone().expect_err(case);
    assert_eq!(bad_field(result), field, "{case}: {body}");
    expect_intempt_shape(&failure, field, case);
}

fn expect_intempt_shape(failure: &Failure, field: &str, case: &str) {
    let response = Intempt.encode_failure(failure);
    assert_eq!(response.status, 400, "{case}");
    let body = response.body.expect("a JSON body");
    let object = body.as_object().expect("an object");
    assert_eq!(object.len(), 2, "{case}: {body}");
    assert_eq!(object["error"], "Invalid request", "{case}");
    let message = object["message"].as_str().expect("a string message");
    let named = if field == "body" { "Request body".to_owned() } else { format!("'{field}'") };
    assert!(message.contains(&named), "{case}: {message:?} does not name {named}");
}

#[test]
fn the_valid_body_decodes() {
    decode(&serde_json::to_vec(&valid()).unwrap()).unwrap();
}

#[test]
fn required_fields_missing_or_null() {
    for field in ["action", "timestamp", "validUntil", "source"] {
        expect_bad(field, &format!("{field} missing"), |body| {
            body.remove(field);
        });
        expect_bad(field, &format!("{field} null"), |body| {
            body.insert(field.into(), Value::Null);
        });
    }
}

#[test]
fn a_missing_required_field_is_worded_as_intempt_words_it() {
    let mut body = valid();
    body.as_object_mut().unwrap().remove("action");
    let failure = decode(&serde_json::to_vec(&body).unwrap()).unwrap_err();
    assert_eq!(
        Intempt.encode_failure(&failure).body,
        Some(crate::support::fixture_json("response-400.json"))
    );
}

#[test]
fn required_fields_malformed() {
    let table: &[(&str, &[Value])] = &[
        ("action", &[json!("maybe"), json!("Accept"), json!(""), json!(true), json!(1), json!(["accept"])]),
        (
            "timestamp",
            &[
                json!(""),
                json!("yesterday"),
                json!("1.7e12"),
                json!(-1),
                json!("-1769518152000"),
                json!(true),
                json!({}),
                json!([NOW_MS]),
                json!(u64::MAX),
                json!(1e300),
                json!("unlimited"),
            ],
        ),
        ("validUntil", &[json!(""), json!("never"), json!("forever"), json!(-5), json!(false), json!([])]),
        ("source", &[json!(""), json!("   "), json!(1), json!(true), json!({"type": "web"})]),
    ];
    for (field, values) in table {
        for value in *values {
            expect_bad(field, &format!("{field} = {value}"), |body| {
                body.insert((*field).into(), value.clone());
            });
        }
    }
}

#[test]
fn optional_fields_malformed() {
    for field in ["category", "userId", "email", "profileId", "message"] {
        for value in [json!(5), json!(true), json!([]), json!({"a": 1})] {
            expect_bad(field, &format!("{field} = {value}"), |body| {
                body.insert(field.into(), value.clone());
            });
        }
    }
}

#[test]
fn a_body_naming_no_user_records_a_new_anonymous_subject() {
    for empty in [false, true] {
        let mut body = valid();
        for field in ["userId", "email", "profileId"] {
            let object = body.as_object_mut().unwrap();
            if empty {
                object.insert(field.into(), json!(""));
            } else {
                object.remove(field);
            }
        }
        let record = single(decode(&serde_json::to_vec(&body).unwrap()).expect("accepted, as Intempt does"));
        assert_eq!(record.identities.len(), 1, "{body}");
        assert_eq!(record.identities[0].namespace, "anonymous_id");
        assert_eq!(record.identities[0].value, uuid::Uuid::nil().to_string(), "the request's fresh id");
    }
}

#[test]
fn a_timestamp_beyond_the_clock_skew_becomes_the_servers_time_and_stays_evidence() {
    let tomorrow_ms = (consent_core::Timestamp::now().as_micros() / 1_000) + 24 * 3600 * 1000;
    let mut body = valid();
    body["timestamp"] = json!(tomorrow_ms);
    let before = consent_core::Timestamp::now();
    let record = single(decode(&serde_json::to_vec(&body).unwrap()).expect("accepted, as Intempt does"));
    let collected = record.collected_at.expect("a time");
    assert!(collected >= before && collected < consent_core::Timestamp::from_micros(tomorrow_ms * 1_000));
    let metadata: Value = serde_json::from_str(&record.evidence.metadata_json).unwrap();
    assert_eq!(metadata["timestamp"], json!(tomorrow_ms), "the client's value is kept");

    // Within the allowance the client's time is the record's.
    let soon_ms = (consent_core::Timestamp::now().as_micros() / 1_000) + 60 * 1000;
    body["timestamp"] = json!(soon_ms);
    let record = single(decode(&serde_json::to_vec(&body).unwrap()).unwrap());
    assert_eq!(record.collected_at, Some(consent_core::Timestamp::from_micros(soon_ms * 1_000)));
    assert!(!record.evidence.metadata_json.contains("timestamp"));
}

#[test]
fn unusable_bodies_name_the_body() {
    let cases: &[&[u8]] =
        &[b"", b"  \n", b"{", b"[]", b"null", b"\"accept\"", b"42", b"{\"action\":}", b"\xff\xfe"];
    for body in cases {
        let result = decode(body);
        let case = String::from_utf8_lossy(body).into_owned();
        let failure = result.clone().expect_err(&case);
        assert_eq!(bad_field(result), "body", "{case:?}");
        expect_intempt_shape(&failure, "body", &case);
    }
}

#[test]
fn missing_path_parameters_are_named() {
    let body = serde_json::to_vec(&valid()).unwrap();
    for (params, field) in [
        (pairs(&[("projectName", PROJECT)]), "orgName"),
        (pairs(&[("orgName", ORG)]), "projectName"),
        (pairs(&[("orgName", ""), ("projectName", PROJECT)]), "orgName"),
    ] {
        let result = decode_parts(0, &params, &[], &[], &body, &RequestEvidence::default());
        assert_eq!(bad_field(result), field);
    }
}

#[test]
fn conformance_required_fields_are_named() {
    suite().required_fields_are_named();
}
