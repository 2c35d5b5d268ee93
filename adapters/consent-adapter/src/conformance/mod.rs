//! The conformance suite every adapter passes, the way every vector source
//! and sink runs one compliance suite: an adapter's tests hand it the
//! vendor's documented examples (each request, the fields its route
//! requires, the response the vendor documents) and the documented error
//! bodies, and the suite checks that
//!
//! - every documented example decodes ([`Suite::examples_decode`]);
//! - what each decodes to, performed, encodes to the documented status and
//!   JSON shape, and every failure to the vendor's error shape with its
//!   status ([`Suite::responses_are_documented`]);
//! - removing any required field (or sending it as `null`) is a bad request
//!   naming that field, in the vendor's error body too
//!   ([`Suite::required_fields_are_named`]);
//! - arbitrary bytes and JSON, and truncated, mutated or pruned examples,
//!   never panic, decode to a bad request at worst, and decode the same way
//!   twice ([`Suite::properties`]).
//!
//! Every check panics with what broke, so each is one `#[test]` in the
//! adapter's `tests/it`. Behind the `conformance` feature: only tests need
//! proptest.

mod json;
mod outcome;
mod properties;
#[cfg(test)]
mod tests;

use consent_core::Timestamp;
use serde_json::Value;
use uuid::Uuid;

use crate::{Decoded, Failure, Request, RequestEvidence, Response, VendorAdapter};

/// Where a request carries a field.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Location {
    /// In the JSON body, by path: `data.identifier.consent.id`,
    /// `entities[0].nameSpace`.
    Body(String),
    /// A query parameter.
    Query(String),
    /// A path parameter of the route's template.
    Path(String),
    /// A header (lower-case name).
    Header(String),
}

/// A field a route requires, and the name a failure gives it when it is
/// missing (the vendor's: `IntegrationId` for the path parameter `id`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Required {
    /// Where the field is sent.
    pub at: Location,
    /// The field a bad request names.
    pub named: String,
}

/// A documented response: its status and, unless the vendor documents an
/// empty body, an example body whose shape every answer must have.
#[derive(Debug, Clone, PartialEq)]
pub struct Documented {
    /// The HTTP status.
    pub status: u16,
    /// An example body; `None` for an empty one.
    pub body: Option<Value>,
}

/// One documented request to one route, and what the vendor documents about
/// it.
#[derive(Debug, Clone, PartialEq)]
pub struct Example {
    /// What the example is, for messages: the fixture's name.
    pub name: String,
    /// The route's index in the adapter's `routes()`.
    pub route: usize,
    /// Path parameters by name.
    pub path_params: Vec<(String, String)>,
    /// Query parameters, in order.
    pub query: Vec<(String, String)>,
    /// Headers with lower-case names.
    pub headers: Vec<(String, String)>,
    /// The raw body.
    pub body: Vec<u8>,
    /// The fields the route requires.
    pub required: Vec<Required>,
    /// The documented answer to it.
    pub answer: Documented,
}

fn pair(name: &str, value: &str) -> (String, String) {
    (name.to_owned(), value.to_owned())
}

impl Example {
    /// `body` sent to `route`, answered `status` with an empty body until
    /// [`Example::answers`] says otherwise.
    pub fn new(name: &str, route: usize, body: impl Into<Vec<u8>>) -> Self {
        Self {
            name: name.to_owned(),
            route,
            path_params: Vec::new(),
            query: Vec::new(),
            headers: Vec::new(),
            body: body.into(),
            required: Vec::new(),
            answer: Documented { status: 200, body: None },
        }
    }

    /// With the path parameter `name`.
    pub fn path(mut self, name: &str, value: &str) -> Self {
        self.path_params.push(pair(name, value));
        self
    }

    /// With the query parameter `name`.
    pub fn query(mut self, name: &str, value: &str) -> Self {
        self.query.push(pair(name, value));
        self
    }

    /// With the header `name`.
    pub fn header(mut self, name: &str, value: &str) -> Self {
        self.headers.push(pair(name, value));
        self
    }

    /// Requires the body field at `path`, named by its path.
    pub fn requires(self, path: &str) -> Self {
        self.requires_at(Location::Body(path.to_owned()), path)
    }

    /// Requires the field at `at`, which a failure calls `named`.
    pub fn requires_at(mut self, at: Location, named: &str) -> Self {
        self.required.push(Required { at, named: named.to_owned() });
        self
    }

    /// Documents the answer: `status`, and an example body (`None`: empty).
    pub fn answers(mut self, status: u16, body: Option<Value>) -> Self {
        self.answer = Documented { status, body };
        self
    }

    /// The example's body as JSON, when it is JSON.
    fn json(&self) -> Option<Value> {
        serde_json::from_slice(&self.body).ok()
    }
}

/// One adapter, its documented examples and its documented error bodies.
#[derive(Clone)]
pub struct Suite<'a> {
    adapter: &'a dyn VendorAdapter,
    examples: Vec<Example>,
    bad_request: Value,
    other_failure: Value,
    cases: u32,
}

impl std::fmt::Debug for Suite<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Suite")
            .field("adapter", &self.adapter.name())
            .field("examples", &self.examples)
            .field("cases", &self.cases)
            .finish_non_exhaustive()
    }
}

/// When the suite's requests arrive: fixed, so decoding is repeatable.
fn received_at() -> Timestamp {
    Timestamp::from_micros(1_764_499_561_123_456)
}

/// The fresh id of every suite request.
const FRESH_ID: Uuid = Uuid::from_u128(0x019a_d4a2_7b3f_7d00_8a11_5c0f_c0f0_c0f0);

/// A failure of each kind a gateway answers with.
fn every_failure() -> [Failure; 8] {
    [
        Failure::bad("body", "is not valid JSON: EOF while parsing an object at line 1 column 1"),
        Failure::Unauthorized,
        Failure::Forbidden,
        Failure::NotFound("no such consent".to_owned()),
        Failure::Conflict("changed meanwhile".to_owned()),
        Failure::TooManyRequests,
        Failure::Unavailable,
        Failure::Internal,
    ]
}

impl<'a> Suite<'a> {
    /// The suite for `adapter`: `examples` are the vendor's documented
    /// requests; `bad_request` and `other_failure` are the vendor's error
    /// bodies for a bad request and for any other failure (their shapes).
    pub fn new(
        adapter: &'a dyn VendorAdapter,
        examples: Vec<Example>,
        bad_request: Value,
        other_failure: Value,
    ) -> Self {
        assert!(!examples.is_empty(), "{}: the suite needs the documented examples", adapter.name());
        Self { adapter, examples, bad_request, other_failure, cases: 256 }
    }

    /// Runs each property on `cases` generated inputs (256 unless set).
    #[must_use]
    pub const fn cases(mut self, cases: u32) -> Self {
        self.cases = cases;
        self
    }

    /// The examples, as given.
    pub fn examples(&self) -> &[Example] {
        &self.examples
    }

    /// Decodes `example` with `body` instead of its own.
    fn decode(&self, example: &Example, body: &[u8]) -> Result<Decoded, Failure> {
        self.decode_parts(example, &example.path_params, &example.query, &example.headers, body)
    }

    fn decode_parts(
        &self,
        example: &Example,
        path_params: &[(String, String)],
        query: &[(String, String)],
        headers: &[(String, String)],
        body: &[u8],
    ) -> Result<Decoded, Failure> {
        let evidence = RequestEvidence::default();
        self.adapter.decode(&Request {
            route: example.route,
            path_params,
            query,
            headers,
            body,
            evidence: &evidence,
            received_at: received_at(),
            fresh_id: FRESH_ID,
        })
    }

    /// Every documented example decodes.
    pub fn examples_decode(&self) {
        for example in &self.examples {
            if let Err(failure) = self.decode(example, &example.body) {
                panic!("{}: {} does not decode: {failure:?}", self.adapter.name(), example.name);
            }
        }
    }

    /// What each documented example decodes to, performed, is answered with
    /// the documented status and shape; every failure with its status and
    /// the vendor's error shape.
    pub fn responses_are_documented(&self) {
        for example in &self.examples {
            let decoded = self.decode(example, &example.body).unwrap_or_else(|failure| {
                panic!("{}: {} does not decode: {failure:?}", self.adapter.name(), example.name)
            });
            if let Err(problem) = self.answered_as_documented(example, &decoded) {
                panic!("{}: {}: {problem}", self.adapter.name(), example.name);
            }
        }
        for failure in every_failure() {
            let response = self.adapter.encode_failure(&failure);
            let documented = match failure {
                Failure::BadRequest { .. } => &self.bad_request,
                Failure::Unauthorized
                | Failure::Forbidden
                | Failure::NotFound(_)
                | Failure::Conflict(_)
                | Failure::TooManyRequests
                | Failure::Unavailable
                | Failure::Internal => &self.other_failure,
            };
            let shaped = Documented { status: failure.status(), body: Some(documented.clone()) };
            if let Err(problem) = same_answer(&response, &shaped) {
                panic!("{}: {failure:?}: {problem}", self.adapter.name());
            }
        }
    }

    /// Whether `decoded`, performed, is answered as `example` documents.
    fn answered_as_documented(&self, example: &Example, decoded: &Decoded) -> Result<(), String> {
        let response = self.adapter.encode(example.route, &outcome::performed(decoded, received_at()));
        same_answer(&response, &example.answer)
    }

    /// Each required field, removed or sent as `null`, is a bad request
    /// naming it, and the vendor's error body names it too.
    pub fn required_fields_are_named(&self) {
        for example in &self.examples {
            for required in &example.required {
                for (how, result) in self.without(example, required) {
                    let what =
                        format!("{}: {} with {} {how}", self.adapter.name(), example.name, required.named);
                    let failure = result.err().unwrap_or_else(|| panic!("{what}: decodes"));
                    self.names(&failure, &required.named, &what);
                }
            }
        }
    }

    /// `example` decoded without `required`, each way it can be left out.
    fn without(
        &self,
        example: &Example,
        required: &Required,
    ) -> Vec<(&'static str, Result<Decoded, Failure>)> {
        let drop = |pairs: &[(String, String)], name: &str| -> Vec<(String, String)> {
            pairs.iter().filter(|(key, _)| key != name).cloned().collect()
        };
        let (path_params, query, headers) = (&example.path_params, &example.query, &example.headers);
        match &required.at {
            Location::Body(path) => {
                let doc = example.json().unwrap_or_else(|| panic!("{}: the body is not JSON", example.name));
                let mut removed = doc.clone();
                assert!(json::remove(&mut removed, path), "{}: no {path} to remove", example.name);
                let mut null = doc;
                json::set(&mut null, path, Value::Null);
                vec![
                    ("removed", self.decode(example, removed.to_string().as_bytes())),
                    ("null", self.decode(example, null.to_string().as_bytes())),
                ]
            }
            Location::Query(name) => {
                vec![(
                    "removed",
                    self.decode_parts(example, path_params, &drop(query, name), headers, &example.body),
                )]
            }
            Location::Path(name) => {
                vec![(
                    "removed",
                    self.decode_parts(example, &drop(path_params, name), query, headers, &example.body),
                )]
            }
            Location::Header(name) => {
                vec![(
                    "removed",
                    self.decode_parts(example, path_params, query, &drop(headers, name), &example.body),
                )]
            }
        }
    }

    /// `failure` is a bad request for `named`, and the vendor's answer to it
    /// is a 400 whose body mentions `named`.
    fn names(&self, failure: &Failure, named: &str, what: &str) {
        let Failure::BadRequest { field, message } = failure else {
            panic!("{what}: {failure:?}, not a bad request");
        };
        assert_eq!(field, named, "{what}: names {field} ({message})");
        assert!(!message.is_empty(), "{what}: says nothing");
        let response = self.adapter.encode_failure(failure);
        assert_eq!(response.status, 400, "{what}");
        let body = response.body.map(|body| body.to_string()).unwrap_or_default();
        assert!(body.contains(named), "{what}: the error body {body} does not name {named}");
    }

    /// The properties every decoder keeps, whatever arrives (see
    /// [`properties`]).
    pub fn properties(&self) {
        properties::run(self);
    }

    /// Runs every check: the whole suite in one call.
    pub fn run(&self) {
        self.examples_decode();
        self.responses_are_documented();
        self.required_fields_are_named();
        self.properties();
    }
}

/// Whether `response` has the documented status and body shape.
fn same_answer(response: &Response, documented: &Documented) -> Result<(), String> {
    if response.status != documented.status {
        return Err(format!("answered {}, documented {}", response.status, documented.status));
    }
    match (&response.body, &documented.body) {
        (None, None) => Ok(()),
        (Some(actual), Some(documented)) => json::same_shape(actual, documented, ""),
        (Some(actual), None) => Err(format!("documented an empty body, got {actual}")),
        (None, Some(_)) => Err("answered an empty body, documented one".to_owned()),
    }
}
