//! The Adobe Experience Platform Privacy Service adapter: the `/consent`
//! endpoint's wire format (`POST /data/core/privacy/consent`), translated to
//! consentd commands and back. Pure translation: no I/O, no async.
//!
//! # Mapping
//!
//! - `optOutOfSale` (required boolean): `true` is [`Decision::Denied`],
//!   `false` is [`Decision::Granted`], for the purpose `sale_sharing` and any
//!   target.
//! - `entities` (required, non-empty): every value of every entity is a
//!   separate person, so one request becomes one [`RecordConsent`] per value,
//!   each with the single identity (`nameSpace` lower-cased, value). One
//!   invalid entity or value fails the whole request; nothing is decoded.
//!   A value repeated within a request names the same person once.
//! - `collected_at` is now, there is no expiry, the source is `api`, and the
//!   evidence comes from the HTTP layer (user agent, IP, origin, digest).
//! - The `x-gw-ims-org-id` header is the account id checked against the
//!   tenant's bindings.
//!
//! # Responses
//!
//! Success is `202 Accepted` with an empty body, as Adobe documents. Errors are
//! Adobe's gateway shape `{"error_code": "<code>", "message": "<text>"}`,
//! where the code is the HTTP status as a string (`"400"`, `"401"`, `"403"`,
//! `"429"`, `"500"`, `"503"`) and a bad request's message is
//! `"<field> <problem>"`, naming the field by its path in Adobe's body
//! (`entities[1].values[0] must not be empty`).
//!
//! [`Decision::Denied`]: consent_core::Decision::Denied
//! [`Decision::Granted`]: consent_core::Decision::Granted
//! [`RecordConsent`]: consent_core::RecordConsent

mod decode;
mod encode;
mod error;
pub mod model;

use consent_adapter::{
    Credential, Decoded, Failure, Method, Notification, Outcome, Request, Response, Route, VendorAdapter,
};
use consent_core::ConsentRecord;

pub use decode::{MAX_VALUES_PER_REQUEST, PURPOSE, SOURCE};

/// The one route: Adobe's `/consent` endpoint under Platform's path.
pub const CONSENT_PATH: &str = "/data/core/privacy/consent";

/// The header naming the IMS organization (the account id).
pub const ORG_HEADER: &str = "x-gw-ims-org-id";

const ROUTES: &[Route] = &[Route::keyed(Method::Post, CONSENT_PATH)];

/// Adobe sends `Authorization: Bearer {ACCESS_TOKEN}`; its `x-api-key` header
/// is accepted and ignored.
const CREDENTIALS: &[Credential] = &[Credential::Bearer];

/// The Adobe Privacy Service consent adapter.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Adobe;

impl VendorAdapter for Adobe {
    fn name(&self) -> &'static str {
        "adobe"
    }

    fn routes(&self) -> &'static [Route] {
        ROUTES
    }

    fn credentials(&self) -> &'static [Credential] {
        CREDENTIALS
    }

    fn request_headers(&self) -> &'static [&'static str] {
        &["x-api-key", ORG_HEADER]
    }

    fn decode(&self, request: &Request<'_>) -> Result<Decoded, Failure> {
        decode::decode(request, self.name())
    }

    fn encode(&self, _route: usize, _outcome: &Outcome) -> Response {
        // One route, which only writes: the answer does not depend on what was written.
        encode::success()
    }

    fn encode_notification(&self, _notification: &Notification<'_>) -> Option<serde_json::Value> {
        // Adobe documents no webhook format; its routes never decode a subscription.
        None
    }

    fn encode_failure(&self, failure: &Failure) -> Response {
        encode::failure(failure)
    }

    fn encode_event(&self, record: &ConsentRecord) -> serde_json::Value {
        encode::event(record)
    }
}
