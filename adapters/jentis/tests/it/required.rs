//! Every required field, missing or malformed, is a bad request naming the
//! field's dotted path; the JENTIS error body names it too. Every field the
//! published schema requires is enforced, except the two the schema leaves
//! untyped and JENTIS' own example omits.

use consent_adapter::{Failure, VendorAdapter};
use consent_adapter_jentis::Jentis;
use serde_json::{Value, json};

use crate::support::{
    NOT_ENFORCED, bad_field, decode, decode_json, example, example_with, required_paths, schema, suite,
};

/// Each required field and wrong values for it.
fn table() -> Vec<(&'static str, Vec<Value>)> {
    vec![
        ("version", vec![json!(true), json!(1.5), json!([]), json!({})]),
        ("system", vec![json!("web"), json!([])]),
        ("system.type", vec![json!(42), json!(false), json!("web\u{7}")]),
        ("system.timestamp", vec![json!("1655704922774"), json!(1.5), json!(true), json!(u64::MAX)]),
        ("system.navigator-userAgent", vec![json!(1), json!({}), json!("x".repeat(2049))]),
        ("system.initiator", vec![json!({}), json!(7)]),
        ("configuration", vec![json!([]), json!("ckion-demo/live")]),
        ("configuration.container", vec![json!(7), json!(""), json!("a/b"), json!("ckion\ndemo")]),
        ("configuration.environment", vec![json!(false), json!(""), json!("live/x")]),
        ("data", vec![json!("x"), json!(1)]),
        ("data.identifier", vec![json!(1), json!([])]),
        ("data.identifier.user", vec![json!("u"), json!(7)]),
        (
            "data.identifier.user.id",
            vec![json!(true), json!(1.5), json!(""), json!({}), json!("u".repeat(257))],
        ),
        ("data.identifier.consent", vec![json!(1), json!("d40cfeb0-9526-43d7-96d3-02d5ae65df67")]),
        (
            "data.identifier.consent.id",
            vec![
                json!("not-a-uuid"),
                json!(7),
                // Version 1, not 4.
                json!("d40cfeb0-9526-13d7-96d3-02d5ae65df67"),
                // Version 4 but not the RFC 4122 variant.
                json!("d40cfeb0-9526-43d7-c6d3-02d5ae65df67"),
                // The simple and braced forms of a v4 id.
                json!("d40cfeb0952643d796d302d5ae65df67"),
                json!("{d40cfeb0-9526-43d7-96d3-02d5ae65df67}"),
            ],
        ),
        ("data.consent", vec![json!([]), json!(true)]),
        (
            "data.consent.lastupdate",
            vec![json!("1720611159546"), json!(-1), json!(1.5), json!(i64::MAX), json!(u64::MAX)],
        ),
        ("data.consent.data", vec![json!("x"), json!([]), json!({ "big": "x".repeat(17 * 1024) })]),
        ("data.consent.vendors", vec![json!([]), json!({}), json!("ga4"), json!({ "": true })]),
        ("data.consent.vendors.ga4", vec![json!("yes"), json!(1), json!("true"), json!("false"), json!({})]),
        ("data.consent.vendorsChanged", vec![json!([]), json!(true)]),
        ("data.consent.vendorsChanged.ga4", vec![json!("nope"), json!(0)]),
    ]
}

/// Fields whose absence is allowed even though the parent is the same.
const OPTIONAL_CHILDREN: &[&str] = &["data.consent.vendors.ga4", "data.consent.vendorsChanged.ga4"];

#[test]
fn missing_required_fields_are_named() {
    for (path, _) in table() {
        if OPTIONAL_CHILDREN.contains(&path) {
            continue;
        }
        for absent in [None, Some(Value::Null)] {
            let doc = example_with(path, absent.clone());
            assert_eq!(bad_field(decode_json(&doc)), path, "{path} set to {absent:?}");
        }
    }
}

#[test]
fn malformed_required_fields_are_named() {
    for (path, values) in table() {
        for value in values {
            let doc = example_with(path, Some(value.clone()));
            assert_eq!(bad_field(decode_json(&doc)), path, "{path} = {value}");
        }
    }
}

#[test]
fn vendor_ids_over_the_target_limit_are_named() {
    let long = "v".repeat(257);
    let doc = example_with("data.consent.vendors", Some(json!({ long.clone(): true })));
    assert_eq!(bad_field(decode_json(&doc)), format!("data.consent.vendors.{long}"));
}

#[test]
fn more_vendors_than_one_request_may_record_are_refused() {
    let vendors: serde_json::Map<String, Value> = (0..101).map(|i| (format!("v{i}"), json!(true))).collect();
    let doc = example_with("data.consent.vendors", Some(Value::Object(vendors)));
    assert_eq!(bad_field(decode_json(&doc)), "data.consent.vendors");
}

#[test]
fn malformed_optional_fields_that_are_mapped_are_named() {
    let doc = example_with("system.href", Some(json!(5)));
    assert_eq!(bad_field(decode_json(&doc)), "system.href");
}

#[test]
fn the_body_itself_must_be_a_json_object() {
    for body in
        [&b""[..], b"   \n", b"{", b"not json", b"[]", b"null", b"\"text\"", b"42", b"{\"version\":3,}"]
    {
        assert_eq!(bad_field(decode(body)), "body", "body {:?}", String::from_utf8_lossy(body));
    }
}

#[test]
fn a_bad_request_is_answered_in_the_jentis_error_shape() {
    for (path, values) in table() {
        let doc = example_with(path, Some(values[0].clone()));
        let failure = decode_json(&doc).expect_err("malformed");
        let response = Jentis.encode_failure(&failure);
        assert_eq!(response.status, 400);
        let body = response.body.expect("a JSON body");
        assert_eq!(body["error"], "Bad Request");
        assert_eq!(body["field"], path);
        let Failure::BadRequest { message, .. } = &failure else { panic!("bad request expected") };
        assert_eq!(body["message"], message.as_str());
        assert_eq!(body.as_object().map(serde_json::Map::len), Some(3));
    }
}

#[test]
fn every_required_field_of_the_published_schema_is_enforced() {
    let mut paths = Vec::new();
    required_paths(&schema(), "", &mut paths);
    assert!(paths.len() >= 16, "the schema lists its required fields: {paths:?}");
    for path in paths {
        if NOT_ENFORCED.contains(&path.as_str()) {
            assert!(example().pointer(&format!("/{}", path.replace('.', "/"))).is_none());
            continue;
        }
        let doc = example_with(&path, None);
        assert_eq!(bad_field(decode_json(&doc)), path, "removing {path}");
    }
}

#[test]
fn conformance_required_fields_are_named() {
    suite().required_fields_are_named();
}
