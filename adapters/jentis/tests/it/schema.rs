//! The decoder against JENTIS' published OpenAPI schema (copied verbatim
//! into `tests/fixtures/openapi-consent-submission.json`): every field the
//! schema lists as required is required, except the two the schema leaves
//! untyped and JENTIS' own example omits.

use serde_json::Value;

use crate::support::{bad_field, decode_json, example, example_with, fixture_json};

/// Listed as required but untyped, undescribed, and absent from the
/// documented example request, which must decode.
const NOT_ENFORCED: &[&str] = &["data.consent.send", "data.consent.userconsent"];

/// Every `required` entry of the schema, as a dotted path.
fn required_paths(schema: &Value, prefix: &str, out: &mut Vec<String>) {
    let join = |key: &str| if prefix.is_empty() { key.to_owned() } else { format!("{prefix}.{key}") };
    for name in schema["required"].as_array().into_iter().flatten().filter_map(Value::as_str) {
        out.push(join(name));
    }
    for (name, property) in schema["properties"].as_object().into_iter().flatten() {
        required_paths(property, &join(name), out);
    }
}

fn schema() -> Value {
    let openapi = fixture_json("openapi-consent-submission.json");
    openapi["components"]["schemas"]["ConsentSubmission"].clone()
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
fn the_documented_example_omits_the_unenforced_fields_and_decodes() {
    let doc = example();
    for path in NOT_ENFORCED {
        assert!(doc.pointer(&format!("/{}", path.replace('.', "/"))).is_none(), "{path}");
    }
    decode_json(&doc).expect("the documented example decodes");
}

#[test]
fn the_documented_success_response_has_no_content() {
    let openapi = fixture_json("openapi-consent-submission.json");
    let ok = &openapi["paths"]["/"]["post"]["responses"]["200"];
    assert_eq!(ok["description"], "Data submitted successfully");
    assert!(ok.get("content").is_none());
}
