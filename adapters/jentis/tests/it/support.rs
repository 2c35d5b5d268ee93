//! Requests as the gateway builds them, and edits of JSON documents by
//! dotted path.

use consent_adapter::{Decoded, Failure, Request, RequestEvidence, VendorAdapter};
use consent_adapter_jentis::Jentis;
use serde_json::Value;

/// A vendor fixture's bytes, verbatim.
pub(crate) fn fixture(name: &str) -> Vec<u8> {
    let path = format!("{}/tests/fixtures/{name}", env!("CARGO_MANIFEST_DIR"));
    std::fs::read(&path).unwrap_or_else(|err| panic!("reading {path}: {err}"))
}

/// A fixture parsed as JSON.
pub(crate) fn fixture_json(name: &str) -> Value {
    serde_json::from_slice(&fixture(name)).expect("fixtures are JSON")
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
