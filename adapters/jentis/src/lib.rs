//! The JENTIS adapter: JENTIS' Consent Submission Request
//! (`ConsentSubmission`, documented at
//! <https://docs.jentis.com/http-api-tracking/submission-interfaces/consent-submission-request>)
//! as consentd commands, served at `POST /jentis` (or wherever the operator
//! mounts JENTIS' base URL, `[gateway.mounts] jentis = "/"` on a host name
//! of its own) with `Authorization: Bearer <key>`, or from a web page with
//! `navigator.sendBeacon` (a `text/plain` body) and a publishable key in
//! the query (`?key=pk_…`).
//!
//! One submission becomes one [`consent_core::RecordConsent`]:
//!
//! | JENTIS | consentd |
//! |---|---|
//! | `data.identifier.user.id` (string, or a number as JENTIS' example sends it) | identity `jentis_user_id` |
//! | `data.consent.vendors` `{id: true / false / "ncm"}` | one decision per vendor: purpose empty (all purposes), target = vendor id, GRANTED / DENIED / LIMITED |
//! | `data.consent.lastupdate` (epoch ms) | `collected_at` |
//! | `system.type` | `source` |
//! | `system.navigator-userAgent`, `system.href` | evidence user agent, URI |
//! | `data.identifier.consent.id` (UUIDv4) | evidence consent id |
//! | `data.consent.data` (object; `{}` = none) | evidence metadata JSON |
//! | `configuration.container` / `configuration.environment` | account id `<container>/<environment>` |
//!
//! Required, per the published schema: `version`; `system.type`,
//! `system.timestamp`, `system.navigator-userAgent`, `system.initiator`;
//! `configuration.container`, `configuration.environment`;
//! `data.identifier.user`, `data.identifier.consent`; `data.consent.lastupdate`,
//! `data.consent.data`, `data.consent.vendors` (at least one vendor),
//! `data.consent.vendorsChanged`; plus `data.identifier.user.id` and
//! `data.identifier.consent.id`, which the mapping needs. The schema also
//! lists `data.consent.send` and `data.consent.userconsent` as required but
//! types and describes neither, and JENTIS' own example request omits both:
//! they are accepted, not required. Unknown fields are ignored.
//!
//! Success is `200` with no content, as documented. Failures are
//! `{"error": "<reason phrase>", "field": "<dotted path>" (400 only),
//! "message": "<text>"}`.

mod decode;
mod encode;
mod error;
pub mod model;

use consent_adapter::{
    Credential, Decoded, Failure, Method, Notification, Outcome, Request, Response, Route, VendorAdapter,
};
use consent_core::ConsentRecord;

/// The JENTIS Consent Submission adapter.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Jentis;

/// The adapter's routes: `POST /jentis` (index 0). Web clients may send it
/// with `navigator.sendBeacon` (JENTIS' `requestType: "sendBeacon"`).
pub const ROUTES: &[Route] = &[Route::keyed(Method::Post, "/jentis").beacon()];

/// JENTIS clients send their API key as a bearer token.
pub const CREDENTIALS: &[Credential] = &[Credential::Bearer];

impl VendorAdapter for Jentis {
    fn name(&self) -> &'static str {
        "jentis"
    }

    fn routes(&self) -> &'static [Route] {
        ROUTES
    }

    fn credentials(&self) -> &'static [Credential] {
        CREDENTIALS
    }

    fn base_path(&self) -> &'static str {
        // JENTIS clients post to the base URL itself.
        "/jentis"
    }

    fn decode(&self, request: &Request<'_>) -> Result<Decoded, Failure> {
        let submission = decode::submission(request.body)?;
        Ok(Decoded::write(
            Some(decode::account(&submission.configuration)),
            vec![decode::record(&submission, request, self.name())],
        ))
    }

    fn encode(&self, _route: usize, _outcome: &Outcome) -> Response {
        // One route, which only writes: the answer does not depend on what was written.
        encode::success()
    }

    fn encode_notification(&self, _notification: &Notification<'_>) -> Option<serde_json::Value> {
        // JENTIS documents no webhook format; its routes never decode a subscription.
        None
    }

    fn encode_failure(&self, failure: &Failure) -> Response {
        encode::failure(failure)
    }

    fn encode_event(&self, record: &ConsentRecord) -> serde_json::Value {
        encode::event(record)
    }
}
