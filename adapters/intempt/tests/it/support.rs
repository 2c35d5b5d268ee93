//! Requests as Intempt's clients send them.

use consent_adapter::conformance::{Example, Location, Suite};
use consent_adapter::{Decoded, Failure, Request, RequestEvidence, VendorAdapter};
use consent_adapter_intempt::Intempt;
use consent_core::{ConsentRecord, EventKind, RecordConsent, TenantId, Timestamp};

/// The path parameters' documented defaults.
pub(crate) const ORG: &str = "demo-organization";
pub(crate) const PROJECT: &str = "demo-project";
pub(crate) const ACCOUNT: &str = "demo-organization/demo-project";

/// The documented example's `Date.now()`, fixed (2026-01-27T12:49:12Z).
pub(crate) const NOW_MS: i64 = 1_769_518_152_000;
/// `Date.now() + (365 * 24 * 60 * 60 * 1000)`.
pub(crate) const YEAR_LATER_MS: i64 = NOW_MS + 365 * 24 * 60 * 60 * 1000;

pub(crate) fn ms(millis: i64) -> Timestamp {
    Timestamp::from_micros(millis * 1_000)
}

pub(crate) fn pairs(items: &[(&str, &str)]) -> Vec<(String, String)> {
    items.iter().map(|&(key, value)| (key.to_owned(), value.to_owned())).collect()
}

/// What the gateway learnt from the HTTP layer of the browser call.
pub(crate) fn http_evidence() -> RequestEvidence {
    RequestEvidence {
        user_agent: "Mozilla/5.0 (Macintosh; Intel Mac OS X 14_5) AppleWebKit/605.1.15".into(),
        client_ip: "203.0.113.7".into(),
        origin: "https://shop.example.com".into(),
        body_digest: "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08".into(),
        proxy_ip: String::new(),
        gpc: false,
        country: String::new(),
        region: String::new(),
        city: String::new(),
    }
}

/// A fixture's bytes.
pub(crate) fn fixture(name: &str) -> Vec<u8> {
    let path = format!("{}/tests/fixtures/{name}", env!("CARGO_MANIFEST_DIR"));
    std::fs::read(&path).unwrap_or_else(|err| panic!("{path}: {err}"))
}

/// A fixture parsed as JSON.
pub(crate) fn fixture_json(name: &str) -> serde_json::Value {
    serde_json::from_slice(&fixture(name)).unwrap_or_else(|err| panic!("{name}: {err}"))
}

/// Intempt's documented request examples.
pub(crate) const FIXTURES: [&str; 3] = [
    "consent-accept-analytics-desktop.json",
    "consent-reject-marketing-mobile.json",
    "consent-page-request-example.json",
];

/// The conformance suite over Intempt's documented examples, sent as the
/// browser snippet (route 0) and as the server SDKs (route 1): the path's
/// organization and project and the body's `action`, `timestamp`,
/// `validUntil` and `source` are required; success is `200 {}`; every
/// failure has the shape of Intempt's documented 400.
pub(crate) fn suite() -> Suite<'static> {
    let mut examples = Vec::new();
    for name in FIXTURES {
        for (route, credential) in [(0, "apiKey"), (1, "authorization")] {
            let example = Example::new(name, route, fixture(name))
                .path("orgName", ORG)
                .path("projectName", PROJECT)
                .header("content-type", "application/json");
            let example = if credential == "apiKey" {
                example.query("apiKey", "identifier.secret")
            } else {
                example.header("authorization", "Basic aWRlbnRpZmllcjpzZWNyZXQ=")
            };
            let example = ["action", "timestamp", "validUntil", "source"]
                .into_iter()
                .fold(example, Example::requires)
                .requires_at(Location::Path("orgName".to_owned()), "orgName")
                .requires_at(Location::Path("projectName".to_owned()), "projectName")
                .answers(200, Some(fixture_json("response-200.json")));
            examples.push(example);
        }
    }
    let error = fixture_json("response-400.json");
    Suite::new(&Intempt, examples, error.clone(), error)
}

/// A request to either route with the given parts.
pub(crate) fn decode_parts(
    route: usize,
    path_params: &[(String, String)],
    query: &[(String, String)],
    headers: &[(String, String)],
    body: &[u8],
    evidence: &RequestEvidence,
) -> Result<Decoded, Failure> {
    decode_parts_at(route, path_params, query, headers, body, evidence, Timestamp::now())
}

fn decode_parts_at(
    route: usize,
    path_params: &[(String, String)],
    query: &[(String, String)],
    headers: &[(String, String)],
    body: &[u8],
    evidence: &RequestEvidence,
    received_at: Timestamp,
) -> Result<Decoded, Failure> {
    Intempt.decode(&Request {
        route,
        path_params,
        query,
        headers,
        body,
        evidence,
        received_at,
        fresh_id: uuid::Uuid::nil(),
    })
}

/// The documented browser call: route 0, `?apiKey=`, JSON content type.
pub(crate) fn decode(body: &[u8]) -> Result<Decoded, Failure> {
    decode_received(body, Timestamp::now())
}

/// The same, received at `received_at` (a time past every timestamp a test
/// sends keeps the client's times: see the clock-skew rule).
pub(crate) fn decode_received(body: &[u8], received_at: Timestamp) -> Result<Decoded, Failure> {
    decode_parts_at(
        0,
        &pairs(&[("orgName", ORG), ("projectName", PROJECT)]),
        &pairs(&[("apiKey", "identifier.secret")]),
        &pairs(&[
            ("content-type", "application/json"),
            ("user-agent", "Mozilla/5.0 (Macintosh; Intel Mac OS X 14_5) AppleWebKit/605.1.15"),
            ("origin", "https://shop.example.com"),
        ]),
        body,
        &http_evidence(),
        received_at,
    )
}

/// The last instant a timestamp can name: a server clock past every time a
/// test sends.
pub(crate) const END_OF_TIME: Timestamp = Timestamp::from_micros(253_402_300_799_999_999);

/// The one record a successful decode carries.
pub(crate) fn single(decoded: Decoded) -> RecordConsent {
    assert_eq!(decoded.account.as_deref(), Some(ACCOUNT));
    let [record]: [RecordConsent; 1] = decoded
        .records()
        .to_vec()
        .try_into()
        .unwrap_or_else(|records: Vec<_>| panic!("{} records", records.len()));
    record
}

/// The record the store would write for `cmd`.
pub(crate) fn stored(cmd: &RecordConsent) -> ConsentRecord {
    let decision = &cmd.decisions[0];
    ConsentRecord {
        id: Default::default(),
        tenant: TenantId::new("acme"),
        subject_id: Default::default(),
        identities: cmd.identities.clone(),
        purpose: decision.purpose.clone(),
        target: decision.target.clone(),
        decision: decision.decision,
        collected_at: cmd.collected_at.unwrap_or(Timestamp::EPOCH),
        expires_at: cmd.expires_at,
        recorded_at: Timestamp::from_micros(1_769_518_153_000_000),
        source: cmd.source.clone(),
        evidence: cmd.evidence.clone(),
        revision: 42,
        kind: EventKind::Recorded,
        implied_by: None,
        gpc_conflict: false,
    }
}

/// The bad-request failure's field, or a panic naming what came instead.
pub(crate) fn bad_field(result: Result<Decoded, Failure>) -> String {
    match result {
        Err(Failure::BadRequest { field, .. }) => field,
        other => panic!("expected a bad request, got {other:?}"),
    }
}
