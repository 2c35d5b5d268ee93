//! The Secure Privacy adapter: Secure Privacy's Universal Consent API, as
//! its documentation page describes it, as consentd operations. Clients send
//! `Authorization: Bearer <key>`, except on the integration routes, where the
//! IntegrationId (bound to a tenant) stands in for a key.
//!
//! | # | route | consentd operation | success |
//! |---|---|---|---|
//! | 0 | `POST /api/universalconsent` | record one decision | `200 {Created, ClientId}` |
//! | 1 | `PATCH /api/universalconsent` | update the latest record for (ClientId, Reference), whatever its ConsentType | `200`, no body |
//! | 2 | `GET /api/universalconsent/consent-given?ClientId=&Reference=` | latest record | `200 {ConsentGiven}` |
//! | 3 | `GET /api/universalconsent/{ClientId}?Reference=` | latest record | `200` the full record |
//! | 4 | `GET /api/universalconsent?CustomUserId=&…` | every matching current record, streamed (up to the gateway's `[gateway] max_list_records`, beyond which a 400 names `PageSize`); with `PageSize` or `PageToken`, one page | `200 [item…]`; paged: `x-next-page-token` |
//! | 5 | `POST /api/universalconsent/subscribe` | webhook subscription | `200 {SubscriptionId, Secret}` |
//! | 6 | `POST /api/universalconsent/integration/{id}` (`id` = IntegrationId), no key | record for the integration | `200 {Created, ClientId, Reference, CustomUserId}` |
//! | 7 | `GET /api/universalconsent/integration/{id}?IntegrationId=` (`id` = ClientId), no key | latest record for the integration | `200 {ClientId, Reference, ConsentGiven, Created, Metadata}` |
//!
//! Routes 6 and 7 name their path parameter `id` because the router cannot
//! hold two templates that differ only in a parameter's name. The subscribe
//! path is consentd's: Secure Privacy documents the fields, not the path.
//!
//! Field mapping:
//!
//! | Secure Privacy | consentd |
//! |---|---|
//! | `ConsentGiven` `All` / `Partial` / `None` (any case) | decision GRANTED / LIMITED / DENIED; read back from the check status, where EXPIRED and UNKNOWN are `None` |
//! | `CustomUserId` | identity `custom_user_id`; a record without one is an anonymous visitor: identity `anonymous_id` = the request's fresh id |
//! | `ClientId` (a UUID) | the subject id (deterministic per `CustomUserId`, docs/semantics.md#subjects-and-identities) |
//! | `ConsentType` (absent: all purposes) | purpose |
//! | `Reference` (absent: any target); the IntegrationId on route 6 | target |
//! | `URI` (absent: the `Origin` header) | evidence URI |
//! | `Metadata` (text, at most 200 characters) | evidence metadata JSON `{"Metadata": "<text>"}`; read back as that member, or the whole JSON of a record another transport wrote |
//! | `IntegrationId` | the vendor account, checked against the tenant's bindings |
//! | `Created` / `LastUpdated` | when the consent (person, purpose, target) was first decided / its current record's `collected_at`, RFC 3339 UTC |
//! | `Fingerprint` `IP`, `ProxifiedIP`, `UserAgent`, `City`, `State`, `Country` | evidence IP, proxy IP, user agent, city, region, country |
//! | list `ConsentGiven` (boolean) | `true`: GRANTED or LIMITED, `false`: DENIED |
//! | list `FromDate` / `ToDate` (a date, a date-time taken as UTC, or RFC 3339 with an offset; both inclusive) | `collected_after` / `collected_before` (a date: the next midnight; a date-time: the next microsecond); no `FromDate`: the last 7 days before the request |
//! | list `PageSize`, `PageToken` (consentd's extensions) | pages instead of the whole list: page size, and the core page token wrapped with the window's lower bound |
//! | `WebhookUrl` (http or https) | the subscription's delivery address; `CustomUserId`, `ConsentType`, `Reference` filter it |
//!
//! Every record's source is `api`, collected now, without expiry. Field
//! names match case-insensitively, as .NET binds them; unknown fields are
//! ignored. A GET takes its fields from the query string and from a JSON
//! object body, the query winning. Failures are ASP.NET Core problem
//! details: a bad request is a validation problem whose `errors` names the
//! vendor field (consentd's own field paths are translated back).

mod dates;
mod decode;
mod encode;
mod error;
pub mod field;
pub mod model;
mod page_token;
mod read;

use consent_adapter::{
    Credential, Decoded, Failure, Method, Notification, Outcome, Request, Response, Route, VendorAdapter,
};
use consent_core::{ConsentRecord, ConsentView};

/// The route indexes: a route's position in [`ROUTES`]. The gateway and
/// consentd's end-to-end tests depend on them.
pub mod route {
    /// `POST /api/universalconsent`: record.
    pub const RECORD: usize = 0;
    /// `PATCH /api/universalconsent`: update.
    pub const UPDATE: usize = 1;
    /// `GET /api/universalconsent/consent-given`: check.
    pub const CHECK: usize = 2;
    /// `GET /api/universalconsent/{ClientId}`: get.
    pub const GET: usize = 3;
    /// `GET /api/universalconsent`: filtered list.
    pub const LIST: usize = 4;
    /// `POST /api/universalconsent/subscribe`: webhook subscription.
    pub const SUBSCRIBE: usize = 5;
    /// `POST /api/universalconsent/integration/{id}`: integration record.
    pub const INTEGRATION_RECORD: usize = 6;
    /// `GET /api/universalconsent/integration/{id}`: integration get.
    pub const INTEGRATION_GET: usize = 7;
}

/// The Secure Privacy Universal Consent adapter.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct SecurePrivacy;

/// The adapter's routes, in [`route`] order.
pub const ROUTES: &[Route] = &[
    Route::keyed(Method::Post, "/api/universalconsent"),
    Route::keyed(Method::Patch, "/api/universalconsent"),
    Route::keyed(Method::Get, "/api/universalconsent/consent-given"),
    Route::keyed(Method::Get, "/api/universalconsent/{ClientId}"),
    Route::keyed(Method::Get, "/api/universalconsent"),
    Route::keyed(Method::Post, "/api/universalconsent/subscribe"),
    Route::account(Method::Post, "/api/universalconsent/integration/{id}"),
    Route::account(Method::Get, "/api/universalconsent/integration/{id}"),
];

/// Secure Privacy clients send their API key as a bearer token.
pub const CREDENTIALS: &[Credential] = &[Credential::Bearer];

/// The response header that carries the list's next page token.
pub const NEXT_PAGE_TOKEN_HEADER: &str = encode::NEXT_PAGE_TOKEN_HEADER;

impl VendorAdapter for SecurePrivacy {
    fn name(&self) -> &'static str {
        "secureprivacy"
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

    fn encode(&self, route: usize, outcome: &Outcome) -> Response {
        encode::encode(route, outcome)
    }

    fn encode_failure(&self, failure: &Failure) -> Response {
        encode::failure(failure)
    }

    fn encode_list_item(&self, view: &ConsentView) -> Option<serde_json::Value> {
        Some(encode::list_item_json(view))
    }

    fn encode_event(&self, record: &ConsentRecord) -> serde_json::Value {
        encode::event(record)
    }

    fn encode_notification(&self, notification: &Notification<'_>) -> Option<serde_json::Value> {
        Some(encode::notification(notification))
    }
}
