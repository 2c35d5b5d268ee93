//! The vendor adapter interface. An adapter is pure translation: a vendor's
//! HTTP request (already read into memory) becomes a consentd operation, and
//! consentd's outcome becomes the vendor's response. No I/O, no async, no web
//! framework types, so every adapter is unit-testable from the vendor's
//! documented examples and fuzzable.
//!
//! The HTTP gateway in `consentd` mounts every enabled adapter's routes,
//! authenticates with the credential locations the adapter names (or, on
//! keyless routes, by the vendor account the request names), checks that
//! account against the tenant's bindings, performs the decoded operation
//! (records are applied atomically), and answers with the adapter's encoding.

#[cfg(feature = "conformance")]
pub mod conformance;
pub mod fields;

use consent_core::{
    BatchCheckConsent, BatchCheckOutcome, ConsentError, ConsentModeOutcome, ConsentRecord, ConsentView,
    Evidence, FeedFilter, QueryConsents, RecordConsent, RecordFilter, Revision, SubjectRef, Timestamp,
    UpdateLatest,
};
use uuid::Uuid;

/// An HTTP method a route answers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Method {
    /// GET.
    Get,
    /// POST.
    Post,
    /// PATCH.
    Patch,
}

/// One route: a method and a path template in axum syntax
/// (`/{orgName}/projects/{projectName}/consents/data`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Route {
    /// The method.
    pub method: Method,
    /// The path template; `{name}` segments become path parameters.
    pub path: &'static str,
    /// Who the route lets in.
    pub access: Access,
    /// Whether the vendor's web clients call it with `navigator.sendBeacon`,
    /// which sends its JSON as `text/plain` (and cannot set headers): such a
    /// body is read as JSON.
    pub beacon: bool,
}

impl Route {
    /// A route that needs an API key.
    pub const fn keyed(method: Method, path: &'static str) -> Self {
        Self { method, path, access: Access::Key, beacon: false }
    }

    /// A keyless route: the vendor account the request names stands in for
    /// a key (see [`Access::Account`]).
    pub const fn account(method: Method, path: &'static str) -> Self {
        Self { method, path, access: Access::Account, beacon: false }
    }

    /// The same route, called by beacons too.
    pub const fn beacon(self) -> Self {
        Self { beacon: true, ..self }
    }
}

/// How a route establishes the caller's tenant.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Access {
    /// An API key, from the first of the adapter's credential locations
    /// present; the key's tenant, and its account bindings checked.
    Key,
    /// No key: the vendor account the request names ([`Decoded::account`],
    /// required) stands in for one, and the tenant is the one it is bound
    /// to (Secure Privacy's integration routes). Such routes may only
    /// record, or read what the account itself recorded.
    Account,
}

/// Where a vendor's clients put their credential. The gateway tries the
/// adapter's locations in order and uses the first present.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Credential {
    /// `Authorization: Bearer <key>`.
    Bearer,
    /// A query parameter holding the whole key.
    Query(&'static str),
    /// `Authorization: Basic base64("<prefix>:<secret>")` for a key
    /// `<prefix>.<secret>` (how Intempt's server SDKs send their key).
    BasicPrefixSecret,
}

/// What the gateway knows about the HTTP request beyond its body: evidence
/// the adapter adds to the records it decodes.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RequestEvidence {
    /// The `User-Agent` header.
    pub user_agent: String,
    /// The client's IP: the peer address, or `X-Forwarded-For` from a
    /// trusted proxy.
    pub client_ip: String,
    /// The `Origin` header, else `Referer`.
    pub origin: String,
    /// Hex SHA-256 of the raw request body.
    pub body_digest: String,
    /// The peer address when it is a trusted proxy and `client_ip` came from
    /// its `X-Forwarded-For`; empty otherwise.
    pub proxy_ip: String,
    /// The request carried `Sec-GPC: 1` (Global Privacy Control).
    pub gpc: bool,
    /// Where the request came from, as the gateway worked it out (trusted
    /// edge headers, a GeoIP2 database): ISO 3166-1 alpha-2 country, the
    /// ISO 3166-2 subdivision code, the city's English name; empty when
    /// unknown.
    pub country: String,
    /// See [`RequestEvidence::country`].
    pub region: String,
    /// See [`RequestEvidence::country`].
    pub city: String,
}

impl RequestEvidence {
    /// Fills what the vendor's body left empty: user agent, IP, URI (from the
    /// origin), location, the payload digest and the vendor's name.
    pub fn fill(&self, evidence: &mut Evidence, vendor: &str) {
        let fill = |field: &mut String, value: &str| {
            if field.is_empty() {
                value.clone_into(field);
            }
        };
        fill(&mut evidence.user_agent, &self.user_agent);
        fill(&mut evidence.ip, &self.client_ip);
        fill(&mut evidence.proxy_ip, &self.proxy_ip);
        // The header, or what the vendor's body said (none says it today).
        evidence.gpc |= self.gpc;
        fill(&mut evidence.uri, &self.origin);
        // A location the body gave (Secure Privacy's fingerprint) is the
        // client's word; the gateway's fills only what it left out.
        fill(&mut evidence.country, &self.country);
        fill(&mut evidence.region, &self.region);
        fill(&mut evidence.city, &self.city);
        evidence.payload_digest.clone_from(&self.body_digest);
        vendor.clone_into(&mut evidence.vendor);
    }
}

/// A request as the adapter sees it.
#[derive(Debug, Clone, Copy)]
pub struct Request<'a> {
    /// Which of the adapter's routes matched (an index into `routes()`).
    pub route: usize,
    /// Path parameters by name.
    pub path_params: &'a [(String, String)],
    /// Query parameters, in order.
    pub query: &'a [(String, String)],
    /// Headers with lower-case names.
    pub headers: &'a [(String, String)],
    /// The raw body.
    pub body: &'a [u8],
    /// Evidence from the HTTP layer.
    pub evidence: &'a RequestEvidence,
    /// When the gateway received the request: "now" for defaults such as a
    /// query's time window.
    pub received_at: Timestamp,
    /// A new id unique to this request (a UUIDv7), for formats that mint
    /// ids, such as an anonymous visitor's.
    pub fresh_id: Uuid,
}

impl Request<'_> {
    /// The path parameter `name`.
    pub fn path_param(&self, name: &str) -> Option<&str> {
        lookup(self.path_params, name)
    }

    /// The first query parameter `name`.
    pub fn query_param(&self, name: &str) -> Option<&str> {
        lookup(self.query, name)
    }

    /// The header `name` (lower-case).
    pub fn header(&self, name: &str) -> Option<&str> {
        lookup(self.headers, name)
    }
}

fn lookup<'a>(pairs: &'a [(String, String)], name: &str) -> Option<&'a str> {
    pairs.iter().find(|(key, _)| key == name).map(|(_, value)| value.as_str())
}

/// What a request asks for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Decoded {
    /// The vendor account id the request names (Intempt `org/project`,
    /// JENTIS `container/environment`, Adobe IMS org, Secure Privacy
    /// integration id), checked against the tenant's bindings; `None` when
    /// the format names none.
    pub account: Option<String>,
    /// What to do.
    pub operation: Operation,
}

impl Decoded {
    /// A request that writes `records`, all or none.
    pub fn write(account: Option<String>, records: Vec<RecordConsent>) -> Self {
        Self { account, operation: Operation::Record(records) }
    }

    /// The records a write request writes; empty for other operations.
    pub fn records(&self) -> &[RecordConsent] {
        match &self.operation {
            Operation::Record(records) => records,
            Operation::UpdateLatest(_)
            | Operation::Latest { .. }
            | Operation::List(_)
            | Operation::ListAll(_)
            | Operation::Subscribe { .. }
            | Operation::BatchCheck(_)
            | Operation::ConsentMode { .. } => &[],
        }
    }
}

/// A consentd operation a vendor request maps to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Operation {
    /// Write these records all or none, in order, with consecutive revisions.
    Record(Vec<RecordConsent>),
    /// Append a new decision to the subject's latest current record for a
    /// target, whatever its purpose.
    UpdateLatest(UpdateLatest),
    /// The subject's latest current record for a target, whatever its
    /// purpose.
    Latest {
        /// The subject.
        subject: SubjectRef,
        /// The target; empty means the any-target records.
        target: String,
        /// Whether the any-target records compete too (they apply to every
        /// target): the record that decides a check of the target.
        include_any_target: bool,
    },
    /// One page of records matching a filter.
    List(QueryConsents),
    /// Every record matching a filter (`page_size` and `page_token` unused),
    /// streamed as one list up to the gateway's configured maximum; more is
    /// refused before anything is sent.
    ListAll(QueryConsents),
    /// A webhook subscription: changes matching `filter` are POSTed to `url`
    /// in this adapter's notification format.
    Subscribe {
        /// Which changes.
        filter: FeedFilter,
        /// Where to deliver them.
        url: String,
    },
    /// Several checks of one subject from one state (consentd's own
    /// `BatchCheckConsent` over HTTP).
    BatchCheck(BatchCheckConsent),
    /// Google Consent Mode v2's view of a subject.
    ConsentMode {
        /// The subject.
        subject: SubjectRef,
        /// Answer from a state that includes at least this revision.
        min_revision: Revision,
    },
}

/// What an operation needs of the caller's key.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Need {
    /// The `consent:write` scope.
    Write,
    /// The `consent:read` scope.
    Read,
    /// The `consent:subscribe` scope.
    Subscribe,
}

impl Operation {
    /// The scope the operation needs.
    pub const fn need(&self) -> Need {
        match self {
            Self::Record(_) | Self::UpdateLatest(_) => Need::Write,
            Self::Latest { .. }
            | Self::List(_)
            | Self::ListAll(_)
            | Self::BatchCheck(_)
            | Self::ConsentMode { .. } => Need::Read,
            Self::Subscribe { .. } => Need::Subscribe,
        }
    }
}

/// What an operation produced, for the adapter to encode.
// One per call, made once and read in place: boxing the view would cost an
// allocation on the hot lookup to save a move of a few hundred bytes.
#[allow(clippy::large_enum_variant)]
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// The records written ([`Operation::Record`], [`Operation::UpdateLatest`]).
    Written(Vec<ConsentRecord>),
    /// The latest record, if any ([`Operation::Latest`]).
    Latest(Option<ConsentView>),
    /// One page ([`Operation::List`]).
    Listed {
        /// The records, as views.
        views: Vec<ConsentView>,
        /// The next page's token; empty on the last page.
        next_page_token: String,
        /// The filter the page was read with.
        filter: RecordFilter,
    },
    /// A webhook subscription was created ([`Operation::Subscribe`]).
    Subscribed {
        /// The subscription's id.
        id: String,
        /// The secret that signs its deliveries: shown this once.
        secret: String,
    },
    /// The answers of a batch ([`Operation::BatchCheck`]).
    Checked(BatchCheckOutcome),
    /// The Consent Mode view ([`Operation::ConsentMode`]).
    ConsentMode(ConsentModeOutcome),
}

/// A change to notify a webhook subscriber of.
#[derive(Debug, Clone, Copy)]
pub struct Notification<'a> {
    /// Unique per subscription and change, the same on every retry: the
    /// receiver's de-duplication key.
    pub event_id: &'a str,
    /// The subscription.
    pub subscription_id: &'a str,
    /// The record the change wrote (its kind and revision included).
    pub view: &'a ConsentView,
}

/// Why a request failed, in terms every vendor's error shape can express.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Failure {
    /// A field is missing or malformed; nothing was written.
    BadRequest {
        /// The field, as the vendor's format names it (`action`,
        /// `data.identifier.consent.id`).
        field: String,
        /// What is wrong.
        message: String,
    },
    /// No valid credential.
    Unauthorized,
    /// The credential's tenant does not own the account the request names,
    /// or lacks the scope.
    Forbidden,
    /// What the request names does not exist.
    NotFound(String),
    /// The request conflicts with the current state (a concurrent change).
    Conflict(String),
    /// A limit was reached; retry later.
    TooManyRequests,
    /// The store is unavailable; retry later.
    Unavailable,
    /// A bug or an unexpected failure.
    Internal,
}

impl Failure {
    /// A bad-request failure for `field`.
    pub fn bad(field: impl Into<String>, message: impl Into<String>) -> Self {
        Self::BadRequest { field: field.into(), message: message.into() }
    }

    /// A bad-request failure for a `field` of the wrong JSON type.
    pub fn wrong_type(field: &str, expected: &str, got: &serde_json::Value) -> Self {
        Self::bad(field, format!("must be {expected}, got {}", json_kind(got)))
    }

    /// The HTTP status every vendor uses for this failure.
    pub const fn status(&self) -> u16 {
        match self {
            Self::BadRequest { .. } => 400,
            Self::Unauthorized => 401,
            Self::Forbidden => 403,
            Self::NotFound(_) => 404,
            Self::Conflict(_) => 409,
            Self::TooManyRequests => 429,
            Self::Unavailable => 503,
            Self::Internal => 500,
        }
    }
}

impl From<&ConsentError> for Failure {
    fn from(err: &ConsentError) -> Self {
        match err {
            ConsentError::InvalidArgument(violations) => violations.first().map_or_else(
                || Self::bad("body", "invalid request"),
                |v| Self::bad(&v.field, &v.description),
            ),
            ConsentError::NotFound(message) => Self::NotFound(message.clone()),
            ConsentError::FailedPrecondition { message, .. } => Self::Conflict(message.clone()),
            ConsentError::Aborted(_) | ConsentError::Unavailable(_) => Self::Unavailable,
            ConsentError::ResourceExhausted(_) => Self::TooManyRequests,
            ConsentError::Internal(_) => Self::Internal,
        }
    }
}

/// The JSON type of a value, for messages: `a string`, `null`, …
pub const fn json_kind(value: &serde_json::Value) -> &'static str {
    match value {
        serde_json::Value::Null => "null",
        serde_json::Value::Bool(_) => "a boolean",
        serde_json::Value::Number(_) => "a number",
        serde_json::Value::String(_) => "a string",
        serde_json::Value::Array(_) => "an array",
        serde_json::Value::Object(_) => "an object",
    }
}

/// A response: status, an optional JSON body and extra headers.
#[derive(Debug, Clone, PartialEq)]
pub struct Response {
    /// The HTTP status.
    pub status: u16,
    /// The JSON body; `None` for an empty body.
    pub body: Option<serde_json::Value>,
    /// Headers beyond the content type (lower-case names).
    pub headers: Vec<(&'static str, String)>,
}

impl Response {
    /// A response with a JSON body.
    pub const fn json(status: u16, body: serde_json::Value) -> Self {
        Self { status, body: Some(body), headers: Vec::new() }
    }

    /// A response without a body.
    pub const fn empty(status: u16) -> Self {
        Self { status, body: None, headers: Vec::new() }
    }
}

/// One vendor's wire format.
pub trait VendorAdapter: Send + Sync + 'static {
    /// The vendor's name: `adobe`, `intempt`, `jentis`, `secureprivacy`. Also
    /// the vendor of tenant bindings and `evidence.vendor`.
    fn name(&self) -> &'static str;

    /// The routes this adapter serves.
    fn routes(&self) -> &'static [Route];

    /// Where clients put their credential, in the order to try.
    fn credentials(&self) -> &'static [Credential];

    /// The part of the routes' paths that is the vendor's base URL rather
    /// than its API (`/jentis`: JENTIS clients post to the base URL
    /// itself); an operator may mount the routes elsewhere in its place.
    fn base_path(&self) -> &'static str {
        ""
    }

    /// Request headers the vendor's clients send beyond `content-type` and
    /// `authorization` (a browser asks leave to send them: CORS).
    fn request_headers(&self) -> &'static [&'static str] {
        &[]
    }

    /// One listed record as an item of the vendor's list response, for a
    /// list streamed whole ([`Operation::ListAll`]); `None` for a vendor
    /// whose routes never decode one.
    fn encode_list_item(&self, view: &ConsentView) -> Option<serde_json::Value> {
        let _ = view;
        None
    }

    /// The request → the operation to perform (or the vendor-shaped
    /// failure).
    fn decode(&self, request: &Request<'_>) -> Result<Decoded, Failure>;

    /// The operation's outcome → the vendor's response for `route`.
    fn encode(&self, route: usize, outcome: &Outcome) -> Response;

    /// A failure → the vendor's error response.
    fn encode_failure(&self, failure: &Failure) -> Response;

    /// A record → the vendor's request body that would have produced it, to
    /// forward decisions to the vendor or migrate them there.
    fn encode_event(&self, record: &ConsentRecord) -> serde_json::Value;

    /// A change → the body of a webhook delivery in the vendor's format;
    /// `None` for a vendor that defines no webhooks (its routes then never
    /// decode [`Operation::Subscribe`]).
    fn encode_notification(&self, notification: &Notification<'_>) -> Option<serde_json::Value>;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn evidence_fills_only_what_is_missing() {
        let http = RequestEvidence {
            user_agent: "ua".into(),
            client_ip: "203.0.113.9".into(),
            origin: "https://shop.example".into(),
            body_digest: "abc".into(),
            proxy_ip: String::new(),
            gpc: false,
            country: String::new(),
            region: String::new(),
            city: String::new(),
        };
        let mut evidence = Evidence { user_agent: "from-body".into(), ..Evidence::default() };
        http.fill(&mut evidence, "intempt");
        assert_eq!(evidence.user_agent, "from-body");
        assert_eq!(evidence.ip, "203.0.113.9");
        assert_eq!(evidence.uri, "https://shop.example");
        assert_eq!(evidence.payload_digest, "abc");
        assert_eq!(evidence.vendor, "intempt");
    }
}
