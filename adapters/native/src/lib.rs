//! consentd's own JSON routes on the HTTP port, for callers that cannot
//! speak gRPC — a tag manager in a web page above all:
//!
//! - `POST /v1/batch-check`: `BatchCheckConsent`, its request and response
//!   as JSON with the proto's field names ([`decode`] and [`encode`] give
//!   the shapes); an API key with `consent:read` as a bearer token.
//! - `GET /v1/consent-mode?namespace=NS&value=V` (or `?subject_id=ID`,
//!   optionally `&min_revision=N`): Google Consent Mode v2's seven types,
//!   each `granted` or `denied`, and the revision. An API key with
//!   `consent:read`, or from a web page a publishable key (`?key=pk_…`)
//!   from one of its origins, naming the subject in a namespace the tenant
//!   made public (docs/signals.md#consent-mode).
//!
//! Failures are `{"error": {"code": 400, "status": "INVALID_ARGUMENT",
//! "message": "…", "field": "…"}}`, as Google's JSON APIs shape them.

mod decode;
mod encode;

use consent_adapter::{
    Credential, Decoded, Failure, Method, Notification, Outcome, Request, Response, Route, VendorAdapter,
};
use consent_core::ConsentRecord;

/// The adapter's name, where a vendor's would be.
pub const NAME: &str = "consentd";

/// consentd's own routes.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Native;

/// `POST /v1/batch-check` (index 0) and `GET /v1/consent-mode` (index 1).
pub const ROUTES: &[Route] =
    &[Route::keyed(Method::Post, "/v1/batch-check"), Route::keyed(Method::Get, "/v1/consent-mode")];

/// An API key as a bearer token; the gateway also takes a publishable key
/// as `?key=` on every route.
pub const CREDENTIALS: &[Credential] = &[Credential::Bearer];

impl VendorAdapter for Native {
    fn name(&self) -> &'static str {
        NAME
    }

    fn routes(&self) -> &'static [Route] {
        ROUTES
    }

    fn credentials(&self) -> &'static [Credential] {
        CREDENTIALS
    }

    fn base_path(&self) -> &'static str {
        "/v1"
    }

    fn decode(&self, request: &Request<'_>) -> Result<Decoded, Failure> {
        let operation = match request.route {
            0 => decode::batch_check(request.body)?,
            _ => decode::consent_mode(request)?,
        };
        Ok(Decoded { account: None, operation })
    }

    fn encode(&self, _route: usize, outcome: &Outcome) -> Response {
        encode::outcome(outcome)
    }

    fn encode_failure(&self, failure: &Failure) -> Response {
        encode::failure(failure)
    }

    fn encode_event(&self, record: &ConsentRecord) -> serde_json::Value {
        encode::record(record)
    }

    fn encode_notification(&self, _notification: &Notification<'_>) -> Option<serde_json::Value> {
        // No route of these creates a webhook subscription.
        None
    }
}
