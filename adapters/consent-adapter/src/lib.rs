//! The vendor adapter interface. An adapter is pure translation: a vendor's
//! HTTP request (already read into memory) becomes consentd commands, and
//! consentd's outcome becomes the vendor's response. No I/O, no async, no web
//! framework types, so every adapter is unit-testable from the vendor's
//! documented examples and fuzzable.
//!
//! The HTTP gateway in `consentd` mounts every enabled adapter's routes,
//! authenticates with the credential locations the adapter names, checks the
//! account id the request names against the tenant's bindings, applies the
//! decoded records atomically, and answers with the adapter's encoding.

use consent_core::{ConsentError, ConsentRecord, Evidence, RecordConsent};

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
}

impl RequestEvidence {
    /// Fills what the vendor's body left empty: user agent, IP, URI (from the
    /// origin), the payload digest and the vendor's name.
    pub fn fill(&self, evidence: &mut Evidence, vendor: &str) {
        let fill = |field: &mut String, value: &str| {
            if field.is_empty() {
                value.clone_into(field);
            }
        };
        fill(&mut evidence.user_agent, &self.user_agent);
        fill(&mut evidence.ip, &self.client_ip);
        fill(&mut evidence.uri, &self.origin);
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
    /// JENTIS `container/environment`, Adobe IMS org), checked against the
    /// tenant's bindings; `None` when the format names none.
    pub account: Option<String>,
    /// Records to write, all or none, in order.
    pub records: Vec<RecordConsent>,
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

    /// The HTTP status every vendor uses for this failure.
    pub const fn status(&self) -> u16 {
        match self {
            Self::BadRequest { .. } => 400,
            Self::Unauthorized => 401,
            Self::Forbidden => 403,
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
            ConsentError::NotFound(message) => Self::bad("body", message.clone()),
            ConsentError::FailedPrecondition { message, .. } => Self::bad("body", message.clone()),
            ConsentError::Aborted(_) | ConsentError::Unavailable(_) => Self::Unavailable,
            ConsentError::ResourceExhausted(_) => Self::TooManyRequests,
            ConsentError::Internal(_) => Self::Internal,
        }
    }
}

/// A response: status and an optional JSON body.
#[derive(Debug, Clone, PartialEq)]
pub struct Response {
    /// The HTTP status.
    pub status: u16,
    /// The JSON body; `None` for an empty body.
    pub body: Option<serde_json::Value>,
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

    /// The request → the records to write (or the vendor-shaped failure).
    fn decode(&self, request: &Request<'_>) -> Result<Decoded, Failure>;

    /// The written records → the vendor's success response.
    fn encode(&self, route: usize, written: &[ConsentRecord]) -> Response;

    /// A failure → the vendor's error response.
    fn encode_failure(&self, failure: &Failure) -> Response;

    /// A record → the vendor's request body that would have produced it, to
    /// forward decisions to the vendor or migrate them there.
    fn encode_event(&self, record: &ConsentRecord) -> serde_json::Value;
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
