//! Every required field, missing and malformed: a 400 naming the field in
//! Adobe's own terms, in Adobe's error shape, and nothing decoded.

use consent_adapter::VendorAdapter;
use consent_adapter_adobe::Adobe;
use serde_json::{Value, json};

use crate::support::{CONSENT_REQUEST, Call, bad_field, decode_json, suite};

fn documented() -> Value {
    serde_json::from_slice(CONSENT_REQUEST).expect("json")
}

type Mutation = fn(&mut Value);

fn remove(value: &mut Value, key: &str) {
    value.as_object_mut().expect("object").remove(key);
}

#[rustfmt::skip]
const CASES: &[(&str, Mutation, &str)] = &[
    ("optOutOfSale missing", |b| remove(b, "optOutOfSale"), "optOutOfSale"),
    ("optOutOfSale null", |b| b["optOutOfSale"] = Value::Null, "optOutOfSale"),
    ("optOutOfSale a string", |b| b["optOutOfSale"] = json!("true"), "optOutOfSale"),
    ("optOutOfSale a number", |b| b["optOutOfSale"] = json!(1), "optOutOfSale"),
    ("entities missing", |b| remove(b, "entities"), "entities"),
    ("entities null", |b| b["entities"] = Value::Null, "entities"),
    ("entities an object", |b| b["entities"] = json!({ "nameSpace": "email" }), "entities"),
    ("entities empty", |b| b["entities"] = json!([]), "entities"),
    ("entity a string", |b| b["entities"][1] = json!("ECID"), "entities[1]"),
    ("nameSpace missing", |b| remove(&mut b["entities"][0], "nameSpace"), "entities[0].nameSpace"),
    ("nameSpace null", |b| b["entities"][1]["nameSpace"] = Value::Null, "entities[1].nameSpace"),
    ("nameSpace a number", |b| b["entities"][0]["nameSpace"] = json!(7), "entities[0].nameSpace"),
    ("nameSpace empty", |b| b["entities"][1]["nameSpace"] = json!(""), "entities[1].nameSpace"),
    ("nameSpace with a space", |b| b["entities"][1]["nameSpace"] = json!("E CID"), "entities[1].nameSpace"),
    ("nameSpace starting with a digit", |b| b["entities"][0]["nameSpace"] = json!("1st"), "entities[0].nameSpace"),
    ("nameSpace not ascii", |b| b["entities"][0]["nameSpace"] = json!("émail"), "entities[0].nameSpace"),
    ("nameSpace too long", |b| b["entities"][0]["nameSpace"] = json!("a".repeat(65)), "entities[0].nameSpace"),
    ("values missing", |b| remove(&mut b["entities"][1], "values"), "entities[1].values"),
    ("values a string", |b| b["entities"][1]["values"] = json!("443636"), "entities[1].values"),
    ("values empty", |b| b["entities"][1]["values"] = json!([]), "entities[1].values"),
    ("value a number", |b| b["entities"][1]["values"][0] = json!(443636), "entities[1].values[0]"),
    ("value null", |b| b["entities"][1]["values"][0] = Value::Null, "entities[1].values[0]"),
    ("value empty", |b| b["entities"][0]["values"][1] = json!(""), "entities[0].values[1]"),
    ("value blank", |b| b["entities"][0]["values"][1] = json!("  "), "entities[0].values[1]"),
    ("value with a control character", |b| b["entities"][1]["values"][0] = json!("a\nb"), "entities[1].values[0]"),
    ("value too long", |b| b["entities"][1]["values"][0] = json!("9".repeat(257)), "entities[1].values[0]"),
    ("too many people", |b| b["entities"][1]["values"] = json!(vec!["1"; 1000]), "entities"),
];

#[test]
fn every_required_field_is_named_when_missing_or_malformed() {
    for (case, mutate, field) in CASES {
        let mut body = documented();
        mutate(&mut body);
        let failure = decode_json(&body).expect_err(case);
        assert_eq!(bad_field(Err(failure.clone())), *field, "{case}");

        let response = Adobe.encode_failure(&failure);
        assert_eq!(response.status, 400, "{case}");
        let body = response.body.expect("error body");
        assert_eq!(body["error_code"], "400", "{case}");
        let message = body["message"].as_str().expect("message");
        assert!(message.starts_with(&format!("{field} ")), "{case}: {message}");
        assert_eq!(body.as_object().map(serde_json::Map::len), Some(2), "{case}");
    }
}

#[test]
fn a_missing_field_reads_like_adobes_example() {
    let mut body = documented();
    remove(&mut body["entities"][0], "nameSpace");
    let response = Adobe.encode_failure(&decode_json(&body).expect_err("bad"));
    assert_eq!(
        response.body,
        Some(json!({ "error_code": "400", "message": "entities[0].nameSpace is required" }))
    );
}

#[test]
fn the_limit_on_people_is_exactly_1000() {
    let mut body = documented();
    body["entities"][1]["values"] = json!((0..998).map(|i| i.to_string()).collect::<Vec<_>>());
    assert_eq!(decode_json(&body).expect("1000 people").records().len(), 1000);
}

#[test]
fn a_body_that_is_not_a_json_object_is_named_body() {
    for body in [&b""[..], b"  \n", b"{", b"[]", b"null", b"\"optOutOfSale\"", b"{\"optOutOfSale\": tru}"] {
        let field = bad_field(Call::adobe(body).decode());
        assert_eq!(field, "body", "{}", String::from_utf8_lossy(body));
    }
}

#[test]
fn conformance_required_fields_are_named() {
    suite().required_fields_are_named();
}
