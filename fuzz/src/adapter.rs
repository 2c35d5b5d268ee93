//! The adapter-decode harness shared by the four `*_decode` targets: a
//! request built from the fuzz input as the gateway would build it, decoded;
//! then what the service would do next (validation) and what the gateway
//! would answer (the adapter's encoding), none of which may panic.
//!
//! Oracles beyond "no panic":
//! - a route the adapter declared never decodes to [`Failure::Internal`]
//!   (the gateway would answer 500);
//! - a keyless route ([`Access::Account`]) that decodes names its account and
//!   stays within it (else the gateway answers 500);
//! - every failure and response encodes to a status in 100..=599.
//!
//! With `CONSENTD_FUZZ_STRICT=1` in the environment, a decoded operation must
//! also pass consent-core's validation (the adapters aim for "a request the
//! adapter accepts is one the service accepts"), and the HTTP-layer evidence
//! is kept to what the gateway can produce (header values `to_str` accepts,
//! IP addresses). It is off by default: a mismatch is a 400 from the service
//! instead of from the adapter, not a crash. `CONSENTD_FUZZ_STRICT_IGNORE`
//! (comma-separated field paths, such as `collected_at`) tolerates known
//! mismatches on those fields.

use arbitrary::Arbitrary;
use consent_adapter::{
    Access, Decoded, Failure, Notification, Operation, Outcome, Request, RequestEvidence, VendorAdapter,
};
use consent_core::{
    ConsentError, ConsentRecord, ConsentStatus, ConsentView, EventKind, FeedStart, RecordConsent, Subscribe,
    TenantId, Timestamp, UpdateConsent, validate,
};
use uuid::Uuid;

use crate::json::{Body, Dict, Text};

/// A header the gateway would pass (names are lower-case).
#[derive(Debug, Clone, Arbitrary)]
pub enum HeaderName {
    /// `content-type`.
    ContentType,
    /// `origin`.
    Origin,
    /// `referer`.
    Referer,
    /// `user-agent`.
    UserAgent,
    /// `x-gw-ims-org-id` (Adobe's account).
    ImsOrg,
    /// `authorization`.
    Authorization,
    /// `x-api-key`.
    ApiKey,
    /// `x-forwarded-for`.
    ForwardedFor,
    /// Anything, lower-cased.
    Other(String),
}

impl HeaderName {
    fn name(&self) -> String {
        match self {
            Self::ContentType => "content-type".into(),
            Self::Origin => "origin".into(),
            Self::Referer => "referer".into(),
            Self::UserAgent => "user-agent".into(),
            Self::ImsOrg => "x-gw-ims-org-id".into(),
            Self::Authorization => "authorization".into(),
            Self::ApiKey => "x-api-key".into(),
            Self::ForwardedFor => "x-forwarded-for".into(),
            Self::Other(name) => name.to_ascii_lowercase(),
        }
    }
}

/// When the request arrived.
#[derive(Debug, Clone, Arbitrary)]
pub enum Received {
    /// Now, as the gateway sets it.
    Now,
    /// Now plus or minus up to ~68 years.
    Offset(i32),
}

/// Everything of one request, as structured fuzz input.
#[derive(Debug, Clone, Arbitrary)]
pub struct RequestInput {
    /// The route, modulo the adapter's routes.
    pub route: u8,
    /// Values for the route template's path parameters, in order (missing
    /// ones are empty).
    pub path: Vec<Text>,
    /// Query parameters.
    pub query: Vec<(crate::json::Key, Text)>,
    /// Headers.
    pub headers: Vec<(HeaderName, Text)>,
    /// The client's IP as the gateway saw it.
    pub client_ip: Text,
    /// The proxy's IP, when one forwarded the request.
    pub proxy_ip: Option<Text>,
    /// The body's digest bytes (hex-encoded into the evidence).
    pub digest: [u8; 32],
    /// When.
    pub received: Received,
    /// The request's fresh id.
    pub fresh_id: [u8; 16],
    /// The body.
    pub body: Body,
}

/// One vendor's fuzzing setup.
#[derive(Debug, Clone, Copy)]
pub struct Vendor {
    /// Its words.
    pub dict: Dict,
    /// Valid bodies to edit.
    pub templates: &'static [&'static str],
}

/// The `{name}` parameters of a route template, in order.
fn template_params(path: &str) -> Vec<&str> {
    path.split('/')
        .filter_map(|segment| segment.strip_prefix('{').and_then(|rest| rest.strip_suffix('}')))
        .collect()
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// A header value in strict mode: visible ASCII and space, at most 256
/// characters. (The gateway also passes a tab inside a value, and values of
/// any length; the service then refuses evidence with a tab or over 2048
/// characters with a 400. Strict mode leaves that known case out, to find
/// mismatches that come from the body.) Outside strict mode any text is used.
fn http_value(text: &str) -> String {
    text.chars().filter(|c| c.is_ascii_graphic() || *c == ' ').take(256).collect::<String>().trim().to_owned()
}

/// The client or proxy address: in strict mode an IP address (as the
/// gateway takes it from the peer or `X-Forwarded-For`), else any text.
fn ip(text: &str) -> String {
    if !strict() || text.parse::<std::net::IpAddr>().is_ok() {
        text.to_owned()
    } else {
        let n = text.len();
        format!("203.0.{}.{}", n % 256, (n / 256) % 256)
    }
}

/// Fields whose violations strict mode tolerates:
/// `CONSENTD_FUZZ_STRICT_IGNORE=collected_at,expires_at`.
fn strict_ignored() -> &'static [String] {
    static IGNORED: std::sync::OnceLock<Vec<String>> = std::sync::OnceLock::new();
    IGNORED.get_or_init(|| {
        std::env::var("CONSENTD_FUZZ_STRICT_IGNORE")
            .unwrap_or_default()
            .split(',')
            .map(str::trim)
            .filter(|field| !field.is_empty())
            .map(str::to_owned)
            .collect()
    })
}

fn strict() -> bool {
    static STRICT: std::sync::OnceLock<bool> = std::sync::OnceLock::new();
    *STRICT.get_or_init(|| std::env::var_os("CONSENTD_FUZZ_STRICT").is_some_and(|v| v == "1"))
}

/// Decodes one fuzz input with `adapter`, and checks the oracles.
pub fn run(adapter: &dyn VendorAdapter, vendor: &Vendor, input: &RequestInput) {
    let routes = adapter.routes();
    let route = usize::from(input.route) % routes.len();
    let dict = &vendor.dict;
    let names = template_params(routes[route].path);
    let path_params: Vec<(String, String)> = names
        .iter()
        .enumerate()
        .map(|(i, name)| ((*name).to_owned(), input.path.get(i).map(|t| t.resolve(dict)).unwrap_or_default()))
        .collect();
    let query: Vec<(String, String)> =
        input.query.iter().map(|(key, value)| (key.resolve(dict), value.resolve(dict))).collect();
    let headers: Vec<(String, String)> = input
        .headers
        .iter()
        .map(|(name, value)| {
            let value = value.resolve(dict);
            (name.name(), if strict() { http_value(&value) } else { value })
        })
        .collect();
    let header = |name: &str| {
        headers.iter().find(|(key, _)| key == name).map(|(_, value)| value.clone()).unwrap_or_default()
    };
    let origin = Some(header("origin")).filter(|o| !o.is_empty()).unwrap_or_else(|| header("referer"));
    let evidence = RequestEvidence {
        user_agent: header("user-agent"),
        client_ip: ip(&input.client_ip.resolve(dict)),
        origin,
        body_digest: hex(&input.digest),
        proxy_ip: input.proxy_ip.as_ref().map(|proxy| ip(&proxy.resolve(dict))).unwrap_or_default(),
        gpc: header("sec-gpc") == "1",
        country: String::new(),
        region: String::new(),
        city: String::new(),
    };
    let now = Timestamp::now();
    let received_at = match input.received {
        Received::Now => now,
        Received::Offset(seconds) => now.saturating_add_micros(i64::from(seconds) * 1_000_000),
    };
    let body = input.body.bytes(dict, vendor.templates);
    let request = Request {
        route,
        path_params: &path_params,
        query: &query,
        headers: &headers,
        body: &body,
        evidence: &evidence,
        received_at,
        fresh_id: Uuid::from_bytes(input.fresh_id),
    };
    match adapter.decode(&request) {
        Err(failure) => {
            assert!(
                failure != Failure::Internal,
                "{}: route {route} ({}) decoded to Failure::Internal, which the gateway answers 500",
                adapter.name(),
                routes[route].path
            );
            check_failure(adapter, &failure);
        }
        Ok(decoded) => {
            if routes[route].access == Access::Account {
                check_keyless(adapter, route, &decoded);
            }
            after_decode(adapter, route, decoded, received_at, request.fresh_id);
        }
    }
}

/// The failure encodes without panicking, to a real status.
fn check_failure(adapter: &dyn VendorAdapter, failure: &Failure) {
    let response = adapter.encode_failure(failure);
    assert!((100..=599).contains(&response.status), "encode_failure gave status {}", response.status);
    if let Some(body) = &response.body {
        let _ = serde_json::to_vec(body);
    }
}

/// What the gateway demands of a keyless route's decoding (`account_tenant`
/// and `keyless_scope_holds` in consentd's gateway): otherwise it answers 500.
fn check_keyless(adapter: &dyn VendorAdapter, route: usize, decoded: &Decoded) {
    let Some(account) = &decoded.account else {
        panic!("{}: keyless route {route} decoded no account", adapter.name());
    };
    let holds = match &decoded.operation {
        Operation::Record(records) => {
            records.iter().flat_map(|record| &record.decisions).all(|decision| &decision.target == account)
        }
        Operation::Latest { target, include_any_target, .. } => target == account && !include_any_target,
        Operation::UpdateLatest(_)
        | Operation::List(_)
        | Operation::ListAll(_)
        | Operation::Subscribe { .. }
        | Operation::BatchCheck(_)
        | Operation::ConsentMode { .. } => false,
    };
    assert!(
        holds,
        "{}: keyless route {route} decoded an operation beyond its account {account:?}",
        adapter.name()
    );
}

/// A validation outcome: an error becomes the vendor's failure, encoded; in
/// strict mode an error is a finding.
fn validated(adapter: &dyn VendorAdapter, what: &str, result: Result<(), ConsentError>) -> bool {
    match result {
        Ok(()) => true,
        Err(err) => {
            let failure = Failure::from(&err);
            check_failure(adapter, &failure);
            let ignored = match &err {
                ConsentError::InvalidArgument(violations) => {
                    violations.iter().all(|v| strict_ignored().iter().any(|field| *field == v.field))
                }
                _ => false,
            };
            assert!(
                !strict() || ignored,
                "{}: the adapter decoded a {what} that consent-core rejects: {err:?}",
                adapter.name()
            );
            false
        }
    }
}

/// The records the store would write for a valid record command (one per
/// decision), for the encoders.
fn records_of(
    cmd: &RecordConsent,
    now: Timestamp,
    subject_id: Uuid,
    first_revision: i64,
) -> Vec<ConsentRecord> {
    cmd.decisions
        .iter()
        .enumerate()
        .map(|(i, decision)| ConsentRecord {
            id: Uuid::now_v7(),
            tenant: TenantId::default_tenant(),
            subject_id,
            identities: cmd.identities.clone(),
            purpose: decision.purpose.clone(),
            target: decision.target.clone(),
            decision: decision.decision,
            collected_at: cmd.collected_at.unwrap_or(now),
            expires_at: cmd.expires_at,
            recorded_at: now,
            source: cmd.source.clone(),
            evidence: cmd.evidence.clone(),
            revision: first_revision + i64::try_from(i).unwrap_or(0),
            kind: EventKind::Recorded,
            implied_by: None,
            gpc_conflict: false,
        })
        .collect()
}

/// Validation as the service runs it, then the adapter's encoders on what
/// the operation would produce.
fn after_decode(adapter: &dyn VendorAdapter, route: usize, decoded: Decoded, now: Timestamp, fresh: Uuid) {
    match decoded.operation {
        Operation::Record(mut records) => after_record(adapter, route, &mut records, now, fresh),
        Operation::UpdateLatest(update) => {
            let mut subject = update.subject.clone();
            validated(adapter, "latest lookup", validate::latest(&mut subject, &update.target));
            // The update the service then applies to the latest record (its
            // purpose is the record's: empty here).
            let mut cmd = UpdateConsent {
                subject: update.subject,
                purpose: String::new(),
                target: update.target,
                decision: update.decision,
                collected_at: None,
                expires_at: None,
                source: String::new(),
                evidence: update.evidence,
                expected_revision: Some(1),
                idempotency_key: String::new(),
            };
            validated(adapter, "update", validate::update(&mut cmd, now));
            check_status(adapter.encode(route, &Outcome::Written(Vec::new())));
        }
        Operation::Latest { mut subject, target, .. } => {
            validated(adapter, "latest lookup", validate::latest(&mut subject, &target));
            check_status(adapter.encode(route, &Outcome::Latest(None)));
        }
        Operation::ListAll(mut query) => {
            validated(adapter, "query filter", validate::filter(&mut query.filter));
        }
        Operation::List(mut query) => {
            if validated(adapter, "query filter", validate::filter(&mut query.filter)) {
                let tenant = TenantId::default_tenant();
                validated(adapter, "page size", consent_core::page::page_size(query.page_size).map(drop));
                validated(
                    adapter,
                    "page token",
                    consent_core::page::decode(&tenant, &query.filter, &query.page_token).map(drop),
                );
                let token = consent_core::page::encode(&tenant, &query.filter, 42);
                check_status(adapter.encode(
                    route,
                    &Outcome::Listed { views: Vec::new(), next_page_token: token, filter: query.filter },
                ));
            }
        }
        Operation::Subscribe { filter, url } => {
            let _ = url;
            let mut cmd = Subscribe { filter, start: FeedStart::Now };
            validated(adapter, "subscription", validate::subscribe(&mut cmd));
            check_status(adapter.encode(
                route,
                &Outcome::Subscribed { id: Uuid::nil().to_string(), secret: "secret".into() },
            ));
        }
        Operation::BatchCheck(mut cmd) => {
            validated(adapter, "batch check", validate::batch_check(&mut cmd));
            let outcome = consent_core::BatchCheckOutcome { results: Vec::new(), revision: 0 };
            check_status(adapter.encode(route, &Outcome::Checked(outcome)));
        }
        Operation::ConsentMode { mut subject, .. } => {
            validated(adapter, "consent mode subject", validate::latest(&mut subject, ""));
            let outcome = consent_core::ConsentModeOutcome { types: Vec::new(), revision: 0 };
            check_status(adapter.encode(route, &Outcome::ConsentMode(outcome)));
        }
    }
}

/// Records as the service validates and writes them, then every route's
/// encoders over what was written: records written through one route are
/// read back through the others (an outcome a route never produces answers
/// 500, which is fine here).
fn after_record(adapter: &dyn VendorAdapter, route: usize, records: &mut [RecordConsent], now: Timestamp, fresh: Uuid) {
    let mut written = Vec::new();
    for (n, cmd) in records.iter_mut().enumerate() {
        if validated(adapter, "record", validate::record(cmd, now)) {
            let revision = i64::try_from(n).unwrap_or(0) * 100 + 1;
            written.extend(records_of(cmd, now, fresh, revision));
        }
    }
    let mut views = Vec::new();
    for record in &written {
        let _ = serde_json::to_vec(&adapter.encode_event(record));
        let view = ConsentView {
            record: record.clone(),
            first_collected_at: record.collected_at,
            status: ConsentStatus::Granted,
        };
        let event_id = record.id.to_string();
        if let Some(body) = adapter.encode_notification(&Notification {
            event_id: &event_id,
            subscription_id: "sub",
            view: &view,
        }) {
            let _ = serde_json::to_vec(&body);
        }
        if let Some(item) = adapter.encode_list_item(&view) {
            let _ = serde_json::to_vec(&item);
        }
        views.push(view);
    }
    check_status(adapter.encode(route, &Outcome::Written(written)));
    for other in 0..adapter.routes().len() {
        for view in &views {
            check_status(adapter.encode(other, &Outcome::Latest(Some(view.clone()))));
        }
        check_status(adapter.encode(
            other,
            &Outcome::Listed {
                views: views.clone(),
                next_page_token: String::new(),
                filter: consent_core::RecordFilter::default(),
            },
        ));
    }
}

/// An encoder's answer is a real HTTP status.
fn check_status(response: consent_adapter::Response) {
    assert!((100..=599).contains(&response.status), "encode gave status {}", response.status);
}
