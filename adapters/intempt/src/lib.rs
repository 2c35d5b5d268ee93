//! The Intempt consent wire format.
//!
//! Intempt's clients record one decision per call:
//! `POST /{orgName}/projects/{projectName}/consents/data?apiKey=<key>` (the
//! browser snippet) or the same path under `/v1/` (Intempt's server SDKs, which
//! send their key as `Authorization: Basic base64("<prefix>:<secret>")`), with a
//! JSON body such as
//!
//! ```json
//! {"action": "accept", "timestamp": 1769518152000, "validUntil": "unlimited",
//!  "source": "desktop", "category": "analytics", "userId": "user@example.com"}
//! ```
//!
//! The adapter turns that into one [`RecordConsent`](consent_core::RecordConsent):
//!
//! | Intempt | consentd |
//! |---|---|
//! | `orgName`/`projectName` (path) | the account `<orgName>/<projectName>` |
//! | `action` `accept` / `reject` | decision `GRANTED` / `DENIED` |
//! | `category` (absent or empty: all purposes) | purpose |
//! | `timestamp`, epoch ms (below 10^11: epoch seconds) | `collected_at`; more than 5 min ahead of the time received (the clock-skew allowance), that time instead, the client's value kept in `evidence.metadata_json` as `timestamp` |
//! | `validUntil`, epoch ms or `"unlimited"` | `expires_at` |
//! | `source` | source |
//! | `userId`, `email`, `profileId` | identities `user_id`, `email`, `profile_id`; with none, a new anonymous subject: identity `anonymous_id` = the request's fresh id |
//! | `message` | `evidence.message` |
//! | `sourceId` and every other field | `evidence.metadata_json` |
//!
//! It answers `200 {}` on success and `{"error": …, "message": …}` on failure,
//! as Intempt does. Pure translation: no I/O, no clock (the time received is
//! the gateway's).

mod decode;
mod encode;
mod error;
mod field;
pub mod model;

use consent_adapter::{
    Credential, Decoded, Failure, Method, Notification, Outcome, Request, Response, Route, VendorAdapter,
};
use consent_core::ConsentRecord;

/// The Intempt adapter.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Intempt;

/// Both routes decode alike: the path Intempt documents, and the one its
/// server SDKs call.
const ROUTES: &[Route] = &[
    Route::keyed(Method::Post, "/{orgName}/projects/{projectName}/consents/data"),
    Route::keyed(Method::Post, "/v1/{orgName}/projects/{projectName}/consents/data"),
];

/// The documented `apiKey` query parameter first, then the server SDKs' Basic
/// header, then a plain Bearer token.
const CREDENTIALS: &[Credential] =
    &[Credential::Query("apiKey"), Credential::BasicPrefixSecret, Credential::Bearer];

impl VendorAdapter for Intempt {
    fn name(&self) -> &'static str {
        "intempt"
    }

    fn routes(&self) -> &'static [Route] {
        ROUTES
    }

    fn credentials(&self) -> &'static [Credential] {
        CREDENTIALS
    }

    fn decode(&self, request: &Request<'_>) -> Result<Decoded, Failure> {
        decode::decode(request, self.name())
    }

    fn encode(&self, _route: usize, _outcome: &Outcome) -> Response {
        // Two routes (the same endpoint), which only writes: the answer does not depend on what was written.
        encode::success()
    }

    fn encode_notification(&self, _notification: &Notification<'_>) -> Option<serde_json::Value> {
        // Intempt documents no webhook format; its routes never decode a subscription.
        None
    }

    fn encode_failure(&self, failure: &Failure) -> Response {
        encode::failure(failure)
    }

    fn encode_event(&self, record: &ConsentRecord) -> serde_json::Value {
        encode::event(record)
    }
}
