//! Requests as the gateway builds them, and the records the documented
//! responses describe.

use consent_adapter::conformance::{Example, Location, Suite};
use consent_adapter::{Decoded, Failure, Request, RequestEvidence, Response, VendorAdapter};
use consent_adapter_secureprivacy::{SecurePrivacy, route};
use consent_core::{
    ConsentRecord, ConsentStatus, ConsentView, Decision, EventKind, Evidence, Identity, TenantId, Timestamp,
};
use serde_json::{Value, json};
use uuid::Uuid;

/// The person of the fixtures.
pub(crate) const CUSTOM_USER_ID: &str = "jane.doe@example.com";
/// Their ClientId in tenant `default`: UUIDv5 of `custom_user_id:<CUSTOM_USER_ID>` (docs/semantics.md#subjects-and-identities).
pub(crate) const CLIENT_ID: &str = "eeeef9fc-2711-5531-ab1a-6e44153cdafc";
/// The fixtures' consent target.
pub(crate) const REFERENCE: &str = "test-drive-booking";
/// The fixtures' integration.
pub(crate) const INTEGRATION_ID: &str = "hubspot-newsletter";
/// The fixtures' `Metadata` text.
pub(crate) const METADATA: &str = r#"{"model":"EX30","dealer":"Copenhagen"}"#;
/// The fixtures' `URI`.
pub(crate) const URI: &str = "https://www.northwind-motors.example/test-drive";
/// The browser of the fixtures.
pub(crate) const USER_AGENT: &str = "Mozilla/5.0 (Macintosh; Intel Mac OS X 14_5) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.5 Safari/605.1.15";

/// When the gateway received every test request.
pub(crate) fn received_at() -> Timestamp {
    at("2026-11-30T10:46:01.123456Z")
}

/// The fresh id of every test request.
pub(crate) fn fresh_id() -> Uuid {
    Uuid::from_u128(0x019a_d4a2_7b3f_7d00_8a11_5c0f_fee0_cafe)
}

/// An RFC 3339 instant.
pub(crate) fn at(text: &str) -> Timestamp {
    Timestamp::parse_rfc3339(text).unwrap_or_else(|| panic!("{text} is RFC 3339"))
}

pub(crate) fn client_id() -> Uuid {
    Uuid::parse_str(CLIENT_ID).expect("a UUID")
}

/// What the gateway learnt from the HTTP layer.
pub(crate) fn http_evidence() -> RequestEvidence {
    RequestEvidence {
        user_agent: USER_AGENT.to_owned(),
        client_ip: "203.0.113.7".to_owned(),
        origin: "https://www.northwind-motors.example".to_owned(),
        body_digest: "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08".to_owned(),
        proxy_ip: "10.0.4.12".to_owned(),
        gpc: false,
        country: String::new(),
        region: String::new(),
        city: String::new(),
    }
}

/// The evidence a decoded record carries when the body gives `uri` and
/// `metadata_json`.
pub(crate) fn evidence_with(uri: &str, metadata_json: &str) -> Evidence {
    let http = http_evidence();
    Evidence {
        user_agent: http.user_agent,
        ip: http.client_ip,
        proxy_ip: http.proxy_ip,
        uri: uri.to_owned(),
        metadata_json: metadata_json.to_owned(),
        vendor: "secureprivacy".to_owned(),
        payload_digest: http.body_digest,
        ..Evidence::default()
    }
}

/// `{"Metadata": "<text>"}` as the adapter stores it.
pub(crate) fn wrapped(text: &str) -> String {
    serde_json::json!({ "Metadata": text }).to_string()
}

/// A vendor fixture's bytes, verbatim.
pub(crate) fn fixture(name: &str) -> Vec<u8> {
    let path = format!("{}/tests/fixtures/{name}", env!("CARGO_MANIFEST_DIR"));
    std::fs::read(&path).unwrap_or_else(|err| panic!("reading {path}: {err}"))
}

/// A fixture parsed as JSON.
pub(crate) fn fixture_json(name: &str) -> Value {
    serde_json::from_slice(&fixture(name)).unwrap_or_else(|err| panic!("{name}: {err}"))
}

/// A query parameter or path parameter, named as the vendor names it.
fn at_query(name: &str) -> Location {
    Location::Query(name.to_owned())
}

fn at_path(name: &str) -> Location {
    Location::Path(name.to_owned())
}

/// The conformance suite over Secure Privacy's documented requests, one
/// per route, each answered with its documented response; a bad request is
/// a validation problem (the suite's names the body), every other failure a
/// problem details body.
pub(crate) fn suite() -> Suite<'static> {
    let body = |name: &str| fixture(name);
    let answers = |name: &str| Some(fixture_json(name));
    let check = fixture_json("check-request.json");
    let query = |name: &str| check[name].as_str().map(str::to_owned).unwrap_or_default();
    let examples = vec![
        Example::new("record-request.json", route::RECORD, body("record-request.json"))
            .requires("ConsentGiven")
            .answers(200, answers("record-response.json")),
        Example::new("update-request.json", route::UPDATE, body("update-request.json"))
            .requires("ClientId")
            .requires("ConsentGiven")
            .answers(200, None),
        Example::new("check-request.json", route::CHECK, Vec::new())
            .query("ClientId", &query("ClientId"))
            .query("Reference", &query("Reference"))
            .requires_at(at_query("ClientId"), "ClientId")
            .answers(200, answers("check-response.json")),
        Example::new("get", route::GET, Vec::new())
            .path("ClientId", CLIENT_ID)
            .query("Reference", REFERENCE)
            .requires_at(at_path("ClientId"), "ClientId")
            .answers(200, answers("get-response.json")),
        Example::new("list-request.json", route::LIST, body("list-request.json"))
            .answers(200, answers("list-response.json")),
        Example::new("subscribe-request.json", route::SUBSCRIBE, body("subscribe-request.json"))
            .requires("WebhookUrl")
            .answers(200, Some(json!({ "SubscriptionId": "", "Secret": "" }))),
        Example::new("integration-request.json", route::INTEGRATION_RECORD, body("integration-request.json"))
            .path("id", INTEGRATION_ID)
            .requires_at(at_path("id"), "IntegrationId")
            .requires("ConsentGiven")
            .answers(200, answers("integration-response.json")),
        Example::new("integration get", route::INTEGRATION_GET, Vec::new())
            .path("id", CLIENT_ID)
            .query("IntegrationId", INTEGRATION_ID)
            .requires_at(at_path("id"), "ClientId")
            .requires_at(at_query("IntegrationId"), "IntegrationId")
            .answers(200, answers("integration-get-response.json")),
    ];
    let bad_request = json!({
        "type": "https://tools.ietf.org/html/rfc9110#section-15.5.1",
        "title": "One or more validation errors occurred.",
        "status": 400,
        "errors": { "body": ["is not valid JSON"] },
    });
    let other = json!({
        "type": "https://tools.ietf.org/html/rfc9110#section-15.5.2",
        "title": "Unauthorized",
        "status": 401,
        "detail": "a valid api key is required",
    });
    Suite::new(&SecurePrivacy, examples, bad_request, other)
}

/// One request to one route, built up part by part.
#[derive(Debug, Clone)]
pub(crate) struct Call {
    pub(crate) route: usize,
    pub(crate) path: Vec<(String, String)>,
    pub(crate) query: Vec<(String, String)>,
    pub(crate) headers: Vec<(String, String)>,
    pub(crate) body: Vec<u8>,
    pub(crate) evidence: RequestEvidence,
    pub(crate) received_at: Timestamp,
    pub(crate) fresh_id: Uuid,
}

impl Call {
    /// A request to `route` with the fixtures' HTTP layer and no body.
    pub(crate) fn to(route: usize) -> Self {
        Self {
            route,
            path: Vec::new(),
            query: Vec::new(),
            headers: [("content-type", "application/json"), ("user-agent", USER_AGENT)]
                .into_iter()
                .map(|(name, value)| (name.to_owned(), value.to_owned()))
                .collect(),
            body: Vec::new(),
            evidence: http_evidence(),
            received_at: received_at(),
            fresh_id: fresh_id(),
        }
    }

    pub(crate) fn path(mut self, name: &str, value: &str) -> Self {
        self.path.push((name.to_owned(), value.to_owned()));
        self
    }

    pub(crate) fn query(mut self, name: &str, value: &str) -> Self {
        self.query.push((name.to_owned(), value.to_owned()));
        self
    }

    /// Every member of a JSON object as a query parameter (strings as they
    /// are, other values as their JSON text).
    pub(crate) fn query_from(mut self, object: &Value) -> Self {
        for (name, value) in object.as_object().expect("an object") {
            let text = value.as_str().map_or_else(|| value.to_string(), str::to_owned);
            self.query.push((name.clone(), text));
        }
        self
    }

    pub(crate) fn json(self, body: &Value) -> Self {
        self.body(body.to_string().as_bytes())
    }

    pub(crate) fn body(mut self, body: &[u8]) -> Self {
        self.body = body.to_vec();
        self
    }

    pub(crate) fn evidence(mut self, evidence: RequestEvidence) -> Self {
        self.evidence = evidence;
        self
    }

    pub(crate) fn received(mut self, at: Timestamp) -> Self {
        self.received_at = at;
        self
    }

    pub(crate) fn decode(&self) -> Result<Decoded, Failure> {
        SecurePrivacy.decode(&Request {
            route: self.route,
            path_params: &self.path,
            query: &self.query,
            headers: &self.headers,
            body: &self.body,
            evidence: &self.evidence,
            received_at: self.received_at,
            fresh_id: self.fresh_id,
        })
    }
}

/// The bad request's field; panics on success or another failure.
pub(crate) fn bad_field(result: Result<Decoded, Failure>) -> String {
    match result {
        Err(Failure::BadRequest { field, message }) => {
            assert!(!message.is_empty(), "a bad request for {field} explains itself");
            field
        }
        other => panic!("expected a bad request, got {other:?}"),
    }
}

/// The JSON body of a response; panics without one.
pub(crate) fn body(response: &Response) -> &Value {
    response.body.as_ref().expect("a JSON body")
}

/// The record of the get response fixture, as the store holds it.
pub(crate) fn documented_record() -> ConsentRecord {
    ConsentRecord {
        id: Uuid::parse_str("019ad4a2-7b3e-7c41-9f2a-3d5e8c1b6a70").expect("a UUID"),
        tenant: TenantId::default_tenant(),
        subject_id: client_id(),
        identities: vec![Identity::new("custom_user_id", CUSTOM_USER_ID)],
        purpose: "Dealership".to_owned(),
        target: REFERENCE.to_owned(),
        decision: Decision::Granted,
        collected_at: received_at(),
        expires_at: None,
        recorded_at: received_at(),
        source: "api".to_owned(),
        evidence: Evidence {
            user_agent: USER_AGENT.to_owned(),
            ip: "203.0.113.7".to_owned(),
            proxy_ip: "10.0.4.12".to_owned(),
            uri: URI.to_owned(),
            country: "DK".to_owned(),
            region: "Capital Region".to_owned(),
            city: "Copenhagen".to_owned(),
            metadata_json: wrapped(METADATA),
            vendor: "secureprivacy".to_owned(),
            payload_digest: "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08".to_owned(),
            ..Evidence::default()
        },
        revision: 42,
        kind: EventKind::Recorded,
        implied_by: None,
        gpc_conflict: false,
    }
}

/// The view of the get response fixture: first decided on 2 November.
pub(crate) fn documented_view() -> ConsentView {
    ConsentView {
        record: documented_record(),
        first_collected_at: at("2026-11-02T09:15:30Z"),
        status: ConsentStatus::Granted,
    }
}

/// The record the integration fixtures describe.
pub(crate) fn integration_record() -> ConsentRecord {
    ConsentRecord {
        purpose: "EmailMarketing".to_owned(),
        target: INTEGRATION_ID.to_owned(),
        evidence: Evidence { metadata_json: String::new(), ..documented_record().evidence },
        ..documented_record()
    }
}

/// The sorted keys of a JSON object.
pub(crate) fn keys(value: &Value) -> Vec<String> {
    let mut keys: Vec<String> = value.as_object().expect("an object").keys().cloned().collect();
    keys.sort();
    keys
}
