//! Requests as Adobe's clients send them.

use consent_adapter::conformance::{Example, Suite};
use consent_adapter::{Decoded, Failure, Request, RequestEvidence, VendorAdapter};
use consent_adapter_adobe::Adobe;
use consent_core::{
    ConsentRecord, Decision, EventKind, Evidence, Identity, PurposeDecision, RecordConsent, TenantId,
    Timestamp,
};
use serde_json::json;

/// The organization id of the examples, in Adobe's `<hex>@AdobeOrg` form.
pub(crate) const ORG_ID: &str = "5A3E1C2B5E8D4F7A0A495C12@AdobeOrg";

/// Adobe's documented request.
pub(crate) const CONSENT_REQUEST: &[u8] = include_bytes!("../fixtures/consent-request.json");

/// The headers of Adobe's curl example.
const HEADERS: [(&str, &str); 5] = [
    ("authorization", "Bearer eyJhbGciOiJSUzI1NiJ9.token"),
    ("content-type", "application/json"),
    ("x-api-key", "acme-privacy-client"),
    ("x-gw-ims-org-id", ORG_ID),
    ("user-agent", "curl/8.5.0"),
];

/// The conformance suite over Adobe's documented example: every field of
/// the body is required; success is 202 without a payload; every failure is
/// the gateway's `{"error_code", "message"}` (Adobe documents none for this
/// endpoint: the shape is the one `lib.rs` states).
pub(crate) fn suite() -> Suite<'static> {
    let example = HEADERS
        .iter()
        .fold(Example::new("consent-request.json", 0, CONSENT_REQUEST), |example, (name, value)| {
            example.header(name, value)
        })
        .requires("optOutOfSale")
        .requires("entities")
        .requires("entities[0].nameSpace")
        .requires("entities[0].values")
        .requires("entities[1].nameSpace")
        .requires("entities[1].values")
        .answers(202, None);
    let error = json!({ "error_code": "400", "message": "entities[0].nameSpace is required" });
    Suite::new(&Adobe, vec![example], error.clone(), error)
}

/// What the HTTP layer saw.
pub(crate) fn http_evidence() -> RequestEvidence {
    RequestEvidence {
        user_agent: "curl/8.5.0".into(),
        client_ip: "198.51.100.7".into(),
        origin: String::new(),
        body_digest: "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08".into(),
        proxy_ip: String::new(),
        gpc: false,
        country: String::new(),
        region: String::new(),
        city: String::new(),
    }
}

/// An HTTP request, owned.
#[derive(Debug, Clone)]
pub(crate) struct Call {
    pub(crate) route: usize,
    pub(crate) headers: Vec<(String, String)>,
    pub(crate) body: Vec<u8>,
    pub(crate) evidence: RequestEvidence,
}

impl Call {
    /// `POST /data/core/privacy/consent` with the headers of Adobe's curl
    /// example.
    pub(crate) fn adobe(body: impl Into<Vec<u8>>) -> Self {
        Self {
            route: 0,
            headers: HEADERS.iter().map(|(k, v)| ((*k).to_owned(), (*v).to_owned())).collect(),
            body: body.into(),
            evidence: http_evidence(),
        }
    }

    /// The same call without the header `name`.
    pub(crate) fn without_header(mut self, name: &str) -> Self {
        self.headers.retain(|(key, _)| key != name);
        self
    }

    /// The same call with the header `name` set to `value`.
    pub(crate) fn with_header(mut self, name: &str, value: &str) -> Self {
        self = self.without_header(name);
        self.headers.push((name.to_owned(), value.to_owned()));
        self
    }

    pub(crate) fn decode(&self) -> Result<Decoded, Failure> {
        let request = Request {
            route: self.route,
            path_params: &[],
            query: &[],
            headers: &self.headers,
            body: &self.body,
            evidence: &self.evidence,
            received_at: consent_core::Timestamp::now(),
            fresh_id: uuid::Uuid::nil(),
        };
        Adobe.decode(&request)
    }
}

/// Decodes a JSON body sent as Adobe's example sends it.
pub(crate) fn decode_json(body: &serde_json::Value) -> Result<Decoded, Failure> {
    Call::adobe(serde_json::to_vec(body).expect("json")).decode()
}

/// The evidence every record of a [`Call::adobe`] carries.
pub(crate) fn expected_evidence() -> Evidence {
    Evidence {
        user_agent: "curl/8.5.0".into(),
        ip: "198.51.100.7".into(),
        payload_digest: http_evidence().body_digest,
        vendor: "adobe".into(),
        ..Evidence::default()
    }
}

/// The record command for one person.
pub(crate) fn person(namespace: &str, value: &str, decision: Decision, evidence: Evidence) -> RecordConsent {
    RecordConsent {
        identities: vec![Identity::new(namespace, value)],
        decisions: vec![PurposeDecision::stated("sale_sharing", String::new(), decision)],
        collected_at: None,
        expires_at: None,
        source: "api".into(),
        evidence,
        idempotency_key: String::new(),
    }
}

/// The field a bad request names; panics on anything else.
pub(crate) fn bad_field(result: Result<Decoded, Failure>) -> String {
    match result {
        Err(Failure::BadRequest { field, .. }) => field,
        other => panic!("expected a bad request, got {other:?}"),
    }
}

/// A stored record of `identities`' decision.
pub(crate) fn record(identities: Vec<Identity>, decision: Decision) -> ConsentRecord {
    ConsentRecord {
        id: Default::default(),
        tenant: TenantId::new("acme"),
        subject_id: Default::default(),
        identities,
        purpose: "sale_sharing".into(),
        target: String::new(),
        decision,
        collected_at: Timestamp::from_micros(1_700_000_000_000_000),
        expires_at: None,
        recorded_at: Timestamp::from_micros(1_700_000_000_000_001),
        source: "api".into(),
        evidence: Evidence::default(),
        revision: 7,
        kind: EventKind::Recorded,
        implied_by: None,
        gpc_conflict: false,
    }
}
