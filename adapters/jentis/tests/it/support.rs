//! Requests as the gateway builds them, and edits of JSON documents by
//! dotted path.

use consent_adapter::conformance::{Example, Suite};
use consent_adapter::{Decoded, Failure, Request, RequestEvidence, VendorAdapter};
use consent_adapter_jentis::Jentis;
use serde_json::{Value, json};

/// A vendor fixture's bytes, verbatim.
pub(crate) fn fixture(name: &str) -> Vec<u8> {
    let path = format!("{}/tests/fixtures/{name}", env!("CARGO_MANIFEST_DIR"));
    std::fs::read(&path).unwrap_or_else(|err| panic!("reading {path}: {err}"))
}

/// A fixture parsed as JSON.
pub(crate) fn fixture_json(name: &str) -> Value {
    serde_json::from_slice(&fixture(name)).expect("fixtures are JSON")
}

/// Listed as required but untyped, undescribed, and absent from the
/// documented example request, which must decode.
pub(crate) const NOT_ENFORCED: &[&str] = &["data.consent.send", "data.consent.userconsent"];

/// Every `required` entry of the schema, as a dotted path.
pub(crate) fn required_paths(schema: &Value, prefix: &str, out: &mut Vec<String>) {
    let join = |key: &str| if prefix.is_empty() { key.to_owned() } else { format!("{prefix}.{key}") };
    for name in schema["required"].as_array().into_iter().flatten().filter_map(Value::as_str) {
        out.push(join(name));
    }
    for (name, property) in schema["properties"].as_object().into_iter().flatten() {
        required_paths(property, &join(name), out);
    }
}

/// The `ConsentSubmission` schema JENTIS publishes (copied verbatim into
/// `tests/fixtures/openapi-consent-submission.json`).
pub(crate) fn schema() -> Value {
    let openapi = fixture_json("openapi-consent-submission.json");
    openapi["components"]["schemas"]["ConsentSubmission"].clone()
}

/// The conformance suite over JENTIS' documented example: every field the
/// published schema requires (but the two it leaves untyped), and the two
/// ids the mapping needs; success is `200` without content; failures are
/// `{"error", "field" (400 only), "message"}`.
pub(crate) fn suite() -> Suite<'static> {
    let mut required = Vec::new();
    required_paths(&schema(), "", &mut required);
    required.retain(|path| !NOT_ENFORCED.contains(&path.as_str()));
    required.extend(["data.identifier.user.id".to_owned(), "data.identifier.consent.id".to_owned()]);
    let example = example_headers().iter().fold(
        Example::new("request-documented-example.json", 0, fixture("request-documented-example.json")),
        |example, (name, value)| example.header(name, value),
    );
    let example = required.iter().fold(example, |example, path| example.requires(path)).answers(200, None);
    let bad_request =
        json!({ "error": "Bad Request", "field": "version", "message": "required field is missing" });
    let other = json!({ "error": "Unauthorized", "message": "a valid api key is required" });
    Suite::new(&Jentis, vec![example], bad_request, other)
}

/// JENTIS' documented example request body.
pub(crate) fn example() -> Value {
    fixture_json("request-documented-example.json")
}

/// The headers of JENTIS' documented example request, lower-cased as the
/// gateway passes them.
pub(crate) fn example_headers() -> Vec<(String, String)> {
    [
        ("host", "hash.customer.com"),
        ("authorization", "Bearer YOUR_SECRET_TOKEN"),
        ("content-type", "application/json"),
        ("accept", "*/*"),
    ]
    .into_iter()
    .map(|(name, value)| (name.to_owned(), value.to_owned()))
    .collect()
}

/// What the gateway knows beyond the body, for the example request.
pub(crate) fn http_evidence() -> RequestEvidence {
    RequestEvidence {
        user_agent: "jentis-server-client/1.0".to_owned(),
        client_ip: "198.51.100.23".to_owned(),
        origin: "https://ckion-demo.example".to_owned(),
        body_digest: "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08".to_owned(),
        proxy_ip: String::new(),
        gpc: false,
        country: String::new(),
        region: String::new(),
        city: String::new(),
    }
}

/// Decodes `body` as route 0 with the example's headers and `evidence`.
pub(crate) fn decode_with(body: &[u8], evidence: &RequestEvidence) -> Result<Decoded, Failure> {
    let headers = example_headers();
    let request = Request {
        route: 0,
        path_params: &[],
        query: &[],
        headers: &headers,
        body,
        evidence,
        received_at: consent_core::Timestamp::now(),
        fresh_id: uuid::Uuid::nil(),
    };
    Jentis.decode(&request)
}

/// Decodes `body` with the example request's HTTP evidence.
pub(crate) fn decode(body: &[u8]) -> Result<Decoded, Failure> {
    decode_with(body, &http_evidence())
}

/// Decodes a JSON document.
pub(crate) fn decode_json(doc: &Value) -> Result<Decoded, Failure> {
    decode(doc.to_string().as_bytes())
}

/// The field a bad request names; panics on success or another failure.
pub(crate) fn bad_field(result: Result<Decoded, Failure>) -> String {
    match result {
        Err(Failure::BadRequest { field, message }) => {
            assert!(!message.is_empty(), "a bad request for {field} explains itself");
            field
        }
        other => panic!("expected a bad request, got {other:?}"),
    }
}

/// Sets the value at a dotted path (`data.identifier.consent.id`), or
/// removes it for `None`. Parents must exist and be objects.
pub(crate) fn set(doc: &mut Value, path: &str, value: Option<Value>) {
    let (parent, key) = path.rsplit_once('.').map_or(("", path), |(parent, key)| (parent, key));
    let mut node = doc;
    if !parent.is_empty() {
        for segment in parent.split('.') {
            node = node.get_mut(segment).unwrap_or_else(|| panic!("{path}: no {segment}"));
        }
    }
    let object = node.as_object_mut().unwrap_or_else(|| panic!("{path}: parent is not an object"));
    match value {
        Some(value) => {
            object.insert(key.to_owned(), value);
        }
        None => {
            object.remove(key);
        }
    }
}

/// The example with one edit.
pub(crate) fn example_with(path: &str, value: Option<Value>) -> Value {
    let mut doc = example();
    set(&mut doc, path, value);
    doc
}
