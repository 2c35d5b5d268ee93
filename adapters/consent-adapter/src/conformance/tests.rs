//! The suite against a toy adapter, whole and broken in each way the suite
//! is there to catch.

use consent_core::{ConsentRecord, Decision, Evidence, Identity, PurposeDecision, RecordConsent};
use serde_json::{Value, json};

use super::{Example, Location, Suite};
use crate::fields::{BODY, Body, Wording};
use crate::{
    Credential, Decoded, Failure, Method, Notification, Outcome, Request, Response, Route, VendorAdapter,
};

#[derive(Debug)]
struct ToyWording;

impl Wording for ToyWording {
    fn missing(&self, path: &str) -> Failure {
        Failure::bad(path, "is required")
    }

    fn empty_body(&self) -> Failure {
        self.missing(BODY)
    }
}

static WORDING: ToyWording = ToyWording;

/// `{"user": {"id": "…"}}` with the `x-account` header → one grant; the ways
/// it can be broken.
#[derive(Debug, Clone, Copy, Default)]
struct Toy {
    /// A missing `user.id` is recorded as an empty one.
    lenient: bool,
    /// Success is 201, not the documented 200.
    undocumented_status: bool,
    /// A `note` that is not a string panics.
    fragile: bool,
}

const ROUTES: &[Route] = &[Route::keyed(Method::Post, "/toy")];

impl VendorAdapter for Toy {
    fn name(&self) -> &'static str {
        "toy"
    }

    fn routes(&self) -> &'static [Route] {
        ROUTES
    }

    fn credentials(&self) -> &'static [Credential] {
        &[Credential::Bearer]
    }

    fn decode(&self, request: &Request<'_>) -> Result<Decoded, Failure> {
        let account = request.header("x-account").ok_or_else(|| Failure::bad("x-account", "is required"))?;
        let body = Body::parse(request.body, &WORDING)?;
        let user = body.root().required_object("user")?;
        let id = match user.required_str("id") {
            Err(_) if self.lenient => "",
            other => other?,
        };
        let note = body.root().get("note").cloned();
        assert!(!(self.fragile && note.is_some_and(|note| !note.is_string())), "a fragile decoder");
        let record = RecordConsent {
            identities: vec![Identity::new("toy", id)],
            decisions: vec![PurposeDecision::stated(String::new(), String::new(), Decision::Granted)],
            collected_at: None,
            expires_at: None,
            source: "api".to_owned(),
            evidence: Evidence::default(),
            idempotency_key: String::new(),
        };
        Ok(Decoded::write(Some(account.to_owned()), vec![record]))
    }

    fn encode(&self, _route: usize, _outcome: &Outcome) -> Response {
        Response::json(if self.undocumented_status { 201 } else { 200 }, json!({ "ok": true }))
    }

    fn encode_failure(&self, failure: &Failure) -> Response {
        let message = if let Failure::BadRequest { field, message } = failure {
            format!("{field} {message}")
        } else {
            format!("{failure:?}")
        };
        Response::json(failure.status(), json!({ "error": message }))
    }

    fn encode_event(&self, _record: &ConsentRecord) -> Value {
        Value::Null
    }

    fn encode_notification(&self, _notification: &Notification<'_>) -> Option<Value> {
        None
    }
}

fn suite(toy: &Toy) -> Suite<'_> {
    let example = Example::new("toy.json", 0, br#"{"user": {"id": "u-1"}, "note": "boom"}"#.to_vec())
        .header("x-account", "acme")
        .requires("user")
        .requires("user.id")
        .requires_at(Location::Header("x-account".to_owned()), "x-account")
        .answers(200, Some(json!({ "ok": false })));
    let error = json!({ "error": "…" });
    Suite::new(toy, vec![example], error.clone(), error).cases(64)
}

#[test]
fn a_conforming_adapter_passes() {
    suite(&Toy::default()).run();
}

#[test]
#[should_panic(expected = "answered 201, documented 200")]
fn an_undocumented_status_is_caught() {
    suite(&Toy { undocumented_status: true, ..Toy::default() }).responses_are_documented();
}

#[test]
#[should_panic(expected = "toy.json with user.id removed: decodes")]
fn a_required_field_taken_as_optional_is_caught() {
    suite(&Toy { lenient: true, ..Toy::default() }).required_fields_are_named();
}

#[test]
#[should_panic(expected = "a fragile decoder")]
fn a_panic_on_some_input_is_caught() {
    suite(&Toy { fragile: true, ..Toy::default() }).properties();
}
