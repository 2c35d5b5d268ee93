//! Bad input on every route is a 400 validation problem naming exactly the
//! vendor field at fault.

use consent_adapter::{Failure, VendorAdapter};
use consent_adapter_secureprivacy::{SecurePrivacy, route};
use serde_json::{Value, json};

use crate::support::{CLIENT_ID, Call, INTEGRATION_ID, bad_field, fixture_json, suite};

/// A documented request with one member replaced (`None`: removed).
fn with(fixture: &str, name: &str, value: Option<Value>) -> Value {
    let mut doc = fixture_json(fixture);
    let object = doc.as_object_mut().expect("an object");
    match value {
        Some(value) => object.insert(name.to_owned(), value),
        None => object.remove(name),
    };
    doc
}

fn record(name: &str, value: Option<Value>) -> Call {
    Call::to(route::RECORD).json(&with("record-request.json", name, value))
}

fn update(name: &str, value: Option<Value>) -> Call {
    Call::to(route::UPDATE).json(&with("update-request.json", name, value))
}

fn subscribe(name: &str, value: Option<Value>) -> Call {
    Call::to(route::SUBSCRIBE).json(&with("subscribe-request.json", name, value))
}

fn integration(name: &str, value: Option<Value>) -> Call {
    Call::to(route::INTEGRATION_RECORD).path("id", INTEGRATION_ID).json(&with(
        "integration-request.json",
        name,
        value,
    ))
}

fn check() -> Call {
    Call::to(route::CHECK)
}

fn list() -> Call {
    Call::to(route::LIST)
}

/// Every bad input, and the field it must be reported under.
fn table() -> Vec<(&'static str, Call, &'static str)> {
    [
        record_cases(),
        update_cases(),
        check_cases(),
        get_cases(),
        list_cases(),
        subscribe_cases(),
        integration_record_cases(),
        integration_get_cases(),
    ]
    .concat()
}

/// Record: bad inputs and the field each must be reported under.
fn record_cases() -> Vec<(&'static str, Call, &'static str)> {
    let long = |n: usize| json!("x".repeat(n));
    vec![
        ("record without ConsentGiven", record("ConsentGiven", None), "ConsentGiven"),
        ("record with ConsentGiven null", record("ConsentGiven", Some(Value::Null)), "ConsentGiven"),
        ("record with ConsentGiven empty", record("ConsentGiven", Some(json!(""))), "ConsentGiven"),
        ("record with ConsentGiven Yes", record("ConsentGiven", Some(json!("Yes"))), "ConsentGiven"),
        ("record with ConsentGiven a boolean", record("ConsentGiven", Some(json!(true))), "ConsentGiven"),
        ("record with ConsentGiven a number", record("ConsentGiven", Some(json!(1))), "ConsentGiven"),
        ("record with Metadata of 201 characters", record("Metadata", Some(long(201))), "Metadata"),
        ("record with Metadata a number", record("Metadata", Some(json!(7))), "Metadata"),
        ("record with CustomUserId a number", record("CustomUserId", Some(json!(42))), "CustomUserId"),
        ("record with CustomUserId too long", record("CustomUserId", Some(long(257))), "CustomUserId"),
        ("record with CustomUserId a control", record("CustomUserId", Some(json!("a\nb"))), "CustomUserId"),
        ("record with URI a number", record("URI", Some(json!(80))), "URI"),
        ("record with URI too long", record("URI", Some(long(2049))), "URI"),
        ("record with Reference a number", record("Reference", Some(json!(12))), "Reference"),
        ("record with Reference too long", record("Reference", Some(long(257))), "Reference"),
        ("record with ConsentType an object", record("ConsentType", Some(json!({}))), "ConsentType"),
        ("record with ConsentType too long", record("ConsentType", Some(long(129))), "ConsentType"),
        ("record with an empty body", Call::to(route::RECORD), "body"),
        ("record with a blank body", Call::to(route::RECORD).body(b"  \n"), "body"),
        ("record with an array body", Call::to(route::RECORD).body(b"[]"), "body"),
        ("record with a null body", Call::to(route::RECORD).body(b"null"), "body"),
        ("record with a string body", Call::to(route::RECORD).body(b"\"All\""), "body"),
        ("record with broken JSON", Call::to(route::RECORD).body(b"{\"ConsentGiven\":"), "body"),
    ]
}

/// Update: bad inputs and the field each must be reported under.
fn update_cases() -> Vec<(&'static str, Call, &'static str)> {
    let long = |n: usize| json!("x".repeat(n));
    vec![
        ("update without ClientId", update("ClientId", None), "ClientId"),
        ("update with ClientId not a UUID", update("ClientId", Some(json!("jane"))), "ClientId"),
        ("update with ClientId a number", update("ClientId", Some(json!(42))), "ClientId"),
        ("update without ConsentGiven", update("ConsentGiven", None), "ConsentGiven"),
        ("update with ConsentGiven Some", update("ConsentGiven", Some(json!("Some"))), "ConsentGiven"),
        ("update with Metadata of 201 characters", update("Metadata", Some(long(201))), "Metadata"),
        ("update with Reference an array", update("Reference", Some(json!(["a"]))), "Reference"),
        ("update with an empty body", Call::to(route::UPDATE), "body"),
        ("update with a number body", Call::to(route::UPDATE).body(b"42"), "body"),
    ]
}

/// Check: bad inputs and the field each must be reported under.
fn check_cases() -> Vec<(&'static str, Call, &'static str)> {
    vec![
        ("check without ClientId", check(), "ClientId"),
        ("check with ClientId not a UUID", check().query("ClientId", "not-a-uuid"), "ClientId"),
        ("check with ClientId a number", check().json(&json!({ "ClientId": 7 })), "ClientId"),
        (
            "check with Reference a number",
            check().query("ClientId", CLIENT_ID).json(&json!({ "Reference": 7 })),
            "Reference",
        ),
        ("check with an array body", check().query("ClientId", CLIENT_ID).body(b"[1]"), "body"),
    ]
}

/// Get: bad inputs and the field each must be reported under.
fn get_cases() -> Vec<(&'static str, Call, &'static str)> {
    vec![
        ("get with ClientId not a UUID", Call::to(route::GET).path("ClientId", "123"), "ClientId"),
        ("get without ClientId", Call::to(route::GET), "ClientId"),
        (
            "get with Reference a control",
            Call::to(route::GET).path("ClientId", CLIENT_ID).query("Reference", "a\u{7}"),
            "Reference",
        ),
    ]
}

/// List: bad inputs and the field each must be reported under.
fn list_cases() -> Vec<(&'static str, Call, &'static str)> {
    vec![
        ("list with FromDate yesterday", list().query("FromDate", "yesterday"), "FromDate"),
        ("list with FromDate a number", list().json(&json!({ "FromDate": 20_261_130 })), "FromDate"),
        ("list with ToDate month 13", list().query("ToDate", "2026-13-01"), "ToDate"),
        ("list with ToDate day first", list().query("ToDate", "30.11.2026"), "ToDate"),
        (
            "list with ToDate before FromDate",
            list().query("FromDate", "2026-11-30").query("ToDate", "2026-11-29"),
            "ToDate",
        ),
        ("list with ConsentGiven yes", list().query("ConsentGiven", "yes"), "ConsentGiven"),
        ("list with ConsentGiven All", list().query("ConsentGiven", "All"), "ConsentGiven"),
        ("list with ConsentGiven a number", list().json(&json!({ "ConsentGiven": 1 })), "ConsentGiven"),
        ("list with a negative PageSize", list().query("PageSize", "-1"), "PageSize"),
        ("list with PageSize ten", list().query("PageSize", "ten"), "PageSize"),
        ("list with a fractional PageSize", list().json(&json!({ "PageSize": 1.5 })), "PageSize"),
        ("list with PageSize a boolean", list().json(&json!({ "PageSize": true })), "PageSize"),
        ("list with a malformed PageToken", list().query("PageToken", "garbage!"), "PageToken"),
        ("list with a PageToken of JSON junk", list().query("PageToken", "e30"), "PageToken"),
        ("list with IP a number", list().json(&json!({ "IP": 203 })), "IP"),
        ("list with CustomUserId a boolean", list().json(&json!({ "CustomUserId": false })), "CustomUserId"),
        ("list with State too long", list().query("State", &"s".repeat(257)), "State"),
        ("list with a string body", list().body(b"\"x\""), "body"),
    ]
}

/// Subscribe: bad inputs and the field each must be reported under.
fn subscribe_cases() -> Vec<(&'static str, Call, &'static str)> {
    vec![
        ("subscribe without WebhookUrl", subscribe("WebhookUrl", None), "WebhookUrl"),
        ("subscribe with WebhookUrl empty", subscribe("WebhookUrl", Some(json!(""))), "WebhookUrl"),
        (
            "subscribe with an ftp WebhookUrl",
            subscribe("WebhookUrl", Some(json!("ftp://x.example"))),
            "WebhookUrl",
        ),
        (
            "subscribe with a javascript WebhookUrl",
            subscribe("WebhookUrl", Some(json!("javascript:alert(1)"))),
            "WebhookUrl",
        ),
        ("subscribe with a bare scheme", subscribe("WebhookUrl", Some(json!("https://"))), "WebhookUrl"),
        (
            "subscribe with WebhookUrl too long",
            subscribe("WebhookUrl", Some(json!(format!("https://{}", "h".repeat(2041))))),
            "WebhookUrl",
        ),
        ("subscribe with WebhookUrl a number", subscribe("WebhookUrl", Some(json!(1))), "WebhookUrl"),
        ("subscribe with CustomUserId a number", subscribe("CustomUserId", Some(json!(1))), "CustomUserId"),
        ("subscribe with an empty body", Call::to(route::SUBSCRIBE), "body"),
    ]
}

/// Integration record: bad inputs and the field each must be reported under.
fn integration_record_cases() -> Vec<(&'static str, Call, &'static str)> {
    vec![
        (
            "integration without IntegrationId",
            Call::to(route::INTEGRATION_RECORD).json(&fixture_json("integration-request.json")),
            "IntegrationId",
        ),
        (
            "integration with IntegrationId empty",
            Call::to(route::INTEGRATION_RECORD)
                .path("id", "")
                .json(&fixture_json("integration-request.json")),
            "IntegrationId",
        ),
        (
            "integration with IntegrationId too long",
            Call::to(route::INTEGRATION_RECORD)
                .path("id", &"i".repeat(129))
                .json(&fixture_json("integration-request.json")),
            "IntegrationId",
        ),
        ("integration without ConsentGiven", integration("ConsentGiven", None), "ConsentGiven"),
        (
            "integration with ConsentGiven maybe",
            integration("ConsentGiven", Some(json!("maybe"))),
            "ConsentGiven",
        ),
        ("integration with ConsentType a number", integration("ConsentType", Some(json!(3))), "ConsentType"),
        (
            "integration with an empty body",
            Call::to(route::INTEGRATION_RECORD).path("id", INTEGRATION_ID),
            "body",
        ),
    ]
}

/// Integration get: bad inputs and the field each must be reported under.
fn integration_get_cases() -> Vec<(&'static str, Call, &'static str)> {
    vec![
        (
            "integration get with ClientId not a UUID",
            Call::to(route::INTEGRATION_GET).path("id", "jane").query("IntegrationId", INTEGRATION_ID),
            "ClientId",
        ),
        (
            "integration get without IntegrationId",
            Call::to(route::INTEGRATION_GET).path("id", CLIENT_ID),
            "IntegrationId",
        ),
        (
            "integration get with IntegrationId too long",
            Call::to(route::INTEGRATION_GET).path("id", CLIENT_ID).query("IntegrationId", &"i".repeat(129)),
            "IntegrationId",
        ),
    ]
}

#[test]
fn every_bad_input_names_its_field() {
    for (what, call, field) in table() {
        assert_eq!(bad_field(call.decode()), field, "{what}");
    }
}

#[test]
fn every_bad_input_is_a_validation_problem_naming_exactly_that_field() {
    for (what, call, field) in table() {
        let failure = call.decode().expect_err(what);
        let Failure::BadRequest { message, .. } = &failure else { panic!("{what}: {failure:?}") };
        let response = SecurePrivacy.encode_failure(&failure);
        assert_eq!(response.status, 400, "{what}");
        assert_eq!(
            response.body,
            Some(json!({
                "type": "https://tools.ietf.org/html/rfc9110#section-15.5.1",
                "title": "One or more validation errors occurred.",
                "status": 400,
                "errors": { field: [message] },
            })),
            "{what}"
        );
        assert!(message.chars().next().is_some_and(|c| !c.is_uppercase()), "{what}: {message}");
        assert!(!message.ends_with('.'), "{what}: {message}");
    }
}

#[test]
fn limits_are_inclusive() {
    let ok = |call: Call, what: &str| {
        assert!(call.decode().is_ok(), "{what}: {:?}", call.decode());
    };
    ok(record("Metadata", Some(json!("m".repeat(200)))), "Metadata of 200 characters");
    ok(record("Metadata", Some(json!("é".repeat(200)))), "Metadata of 200 non-ASCII characters");
    ok(record("CustomUserId", Some(json!("u".repeat(256)))), "CustomUserId of 256 characters");
    ok(record("ConsentType", Some(json!("t".repeat(128)))), "ConsentType of 128 characters");
    ok(record("Reference", Some(json!("r".repeat(256)))), "Reference of 256 characters");
    ok(
        Call::to(route::INTEGRATION_RECORD)
            .path("id", &"i".repeat(128))
            .json(&fixture_json("integration-request.json")),
        "IntegrationId of 128 characters",
    );
    ok(
        subscribe("WebhookUrl", Some(json!(format!("https://{}", "h".repeat(2040))))),
        "WebhookUrl of 2048 characters",
    );
    ok(subscribe("WebhookUrl", Some(json!("HTTP://crm.example/hook"))), "an upper-case scheme");
    ok(list().query("PageSize", "0"), "PageSize 0");
}

#[test]
fn a_metadata_with_control_characters_is_still_text() {
    // Metadata is stored as a JSON string: any text is representable.
    let decoded = record("Metadata", Some(json!("line one\nline two\u{7}"))).decode().expect("decodes");
    let evidence = &decoded.records()[0].evidence;
    assert_eq!(evidence.metadata_json, r#"{"Metadata":"line one\nline two\u0007"}"#);
}

#[test]
fn conformance_required_fields_are_named() {
    suite().required_fields_are_named();
}
