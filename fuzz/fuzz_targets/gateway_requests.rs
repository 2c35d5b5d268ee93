//! The whole server (`consentd::server::start`, authentication disabled, a
//! SQLite file) started once per process; each input is one HTTP/1.1 request
//! to its HTTP port over loopback: a method, a vendor route with fuzzed path
//! segments (or a fuzzed path), a query string, headers and a body.
//!
//! Oracle: the server answers every request (a status line before it closes
//! the connection, within a deadline) and never with 500.
#![no_main]

use std::io::{Read as _, Write as _};
use std::net::{SocketAddr, TcpStream};
use std::sync::OnceLock;
use std::time::Duration;

use arbitrary::Arbitrary;
use consent_store::StoreOptions;
use consentd::config::{AuthMode, Config, GatewaySettings, ServerLimits};
use consentd_feed::FeedSettings;
use consentd::server::RunningServer;
use consentd_webhooks::WebhookSettings;
use consentd_fuzz::adapter::Vendor;
use consentd_fuzz::json::{Body, Key, Text};
use consentd_fuzz::vendors;
use libfuzzer_sys::fuzz_target;
use tokio::runtime::Runtime;

/// How long the server may take to answer one request.
const DEADLINE: Duration = Duration::from_secs(30);

struct Harness {
    _runtime: Runtime,
    _server: RunningServer,
    _dir: tempfile::TempDir,
    http: SocketAddr,
    /// Every vendor route: (vendor, method, path template).
    routes: Vec<(&'static str, &'static str, &'static str)>,
}

fn config(dir: &std::path::Path) -> Config {
    let loopback = "127.0.0.1:0".parse().expect("addr");
    Config {
        store: StoreOptions::new(format!("sqlite://{}?mode=rwc", dir.join("consentd.db").display())),
        grpc_listen: loopback,
        http_listen: loopback,
        auth: AuthMode::Disabled,
        migrate_on_start: true,
        log_format: None,
        health_interval: Duration::from_millis(500),
        key_secret: None,
        jwt: None,
        limits: ServerLimits::default(),
        tls: None,
        health_listen: None,
        gateway: GatewaySettings::default(),
        // Subscriptions may only name a closed port on loopback: deliveries
        // never leave the machine.
        webhooks: WebhookSettings {
            allowed_urls: vec!["http://127.0.0.1:9".parse().expect("pattern")],
            allowed_networks: vec!["127.0.0.0/8".parse().expect("network")],
            connect_timeout: Duration::from_millis(200),
            response_timeout: Duration::from_millis(500),
            max_attempts: 2,
            retry_initial: Duration::from_millis(50),
            retry_max: Duration::from_millis(200),
            ..WebhookSettings::default()
        },
        shutdown_grace: Duration::from_secs(1),
        feed: FeedSettings::default(),
    }
}

fn harness() -> &'static Harness {
    static HARNESS: OnceLock<Harness> = OnceLock::new();
    HARNESS.get_or_init(|| {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .enable_all()
            .build()
            .expect("tokio runtime");
        let dir = consentd_fuzz::state_dir("gateway_requests");
        let server = runtime.block_on(consentd::server::start(&config(dir.path()))).expect("server starts");
        let routes = consentd_gateway::registry()
            .iter()
            .flat_map(|adapter| {
                let name = adapter.name();
                adapter.routes().iter().map(move |route| {
                    let method = match route.method {
                        consent_adapter::Method::Get => "GET",
                        consent_adapter::Method::Post => "POST",
                        consent_adapter::Method::Patch => "PATCH",
                    };
                    (name, method, route.path)
                })
            })
            .collect();
        Harness { http: server.http_addr, _runtime: runtime, _server: server, _dir: dir, routes }
    })
}

#[derive(Debug, Arbitrary)]
enum MethodChoice {
    /// The route's own method.
    Route,
    Get,
    Post,
    Patch,
    Put,
    Delete,
    Options,
}

#[derive(Debug, Arbitrary)]
enum Segment {
    /// Text, percent-encoded.
    Text(Text),
    /// Bytes, percent-encoded (may decode to invalid UTF-8).
    Bytes(Vec<u8>),
    /// As given, with only what HTTP forbids in a path encoded.
    Raw(String),
}

#[derive(Debug, Arbitrary)]
enum PathChoice {
    /// A vendor route (index modulo their number), `{param}` segments filled.
    Route(u8, Vec<Segment>),
    /// A vendor route with a suffix appended.
    RouteSuffix(u8, Vec<Segment>, String),
    /// The health and metrics endpoints.
    Health(u8),
    /// Anything.
    Raw(String),
}

#[derive(Debug, Arbitrary)]
enum Query {
    None,
    /// Pairs, form-encoded.
    Pairs(Vec<(Key, Text)>),
    /// As given (made valid for a request target).
    Raw(String),
}

#[derive(Debug, Arbitrary)]
enum HeaderName {
    Origin,
    Referer,
    UserAgent,
    ImsOrg,
    Authorization,
    ApiKey,
    ForwardedFor,
    RequestId,
    TraceParent,
    Accept,
    Other(String),
}

#[derive(Debug, Arbitrary)]
enum ContentType {
    None,
    Json,
    JsonCharset,
    Other(Text),
}

#[derive(Debug, Arbitrary)]
struct HttpInput {
    method: MethodChoice,
    path: PathChoice,
    query: Query,
    content_type: ContentType,
    headers: Vec<(HeaderName, Text)>,
    body: Body,
}

fn vendor_of(name: &str) -> &'static Vendor {
    match name {
        "adobe" => &vendors::ADOBE,
        "intempt" => &vendors::INTEMPT,
        "jentis" => &vendors::JENTIS,
        _ => &vendors::SECUREPRIVACY,
    }
}

/// Percent-encodes every byte outside RFC 3986's unreserved set.
fn encode_all(bytes: &[u8], out: &mut String) {
    for &b in bytes {
        if b.is_ascii_alphanumeric() || b"-._~".contains(&b) {
            out.push(char::from(b));
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
}

/// Keeps what a request target may hold as is (`keep` adds to the visible
/// ASCII that stays), percent-encoding the rest.
fn encode_target(text: &str, keep_slash: bool, out: &mut String) {
    for &b in text.as_bytes() {
        let allowed = b.is_ascii_graphic() && b != b'#' && b != b'?' && (keep_slash || b != b'/');
        if allowed {
            out.push(char::from(b));
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
}

fn segment(segment: Option<&Segment>, vendor: &Vendor, out: &mut String) {
    match segment {
        None => out.push('x'),
        Some(Segment::Text(text)) => encode_all(text.resolve(&vendor.dict).as_bytes(), out),
        Some(Segment::Bytes(bytes)) => encode_all(bytes, out),
        Some(Segment::Raw(text)) => encode_target(text, false, out),
    }
}

/// Header values: no CR, LF or NUL (or other controls but tab); bytes
/// above ASCII stay (HTTP allows them; the gateway skips such values).
fn header_value(text: &str) -> String {
    text.chars().filter(|c| *c == '\t' || !c.is_control()).collect::<String>().trim().to_owned()
}

const RESERVED: &[&str] = &[
    "host",
    "content-length",
    "transfer-encoding",
    "connection",
    "content-type",
    "expect",
    "upgrade",
    "te",
    "trailer",
];

fn header_name(name: &HeaderName) -> String {
    match name {
        HeaderName::Origin => "Origin".into(),
        HeaderName::Referer => "Referer".into(),
        HeaderName::UserAgent => "User-Agent".into(),
        HeaderName::ImsOrg => "x-gw-ims-org-id".into(),
        HeaderName::Authorization => "Authorization".into(),
        HeaderName::ApiKey => "x-api-key".into(),
        HeaderName::ForwardedFor => "X-Forwarded-For".into(),
        HeaderName::RequestId => "x-request-id".into(),
        HeaderName::TraceParent => "traceparent".into(),
        HeaderName::Accept => "Accept".into(),
        HeaderName::Other(text) => {
            // An HTTP token.
            let token: String = text
                .chars()
                .filter(|c| c.is_ascii_alphanumeric() || "!#$%&'*+-.^_`|~".contains(*c))
                .take(64)
                .collect();
            if token.is_empty() || RESERVED.contains(&token.to_ascii_lowercase().as_str()) {
                format!("x-fuzz-{token}")
            } else {
                token
            }
        }
    }
}

/// The request's bytes.
fn build(input: &HttpInput, h: &Harness) -> Vec<u8> {
    let (mut method, mut vendor) = ("GET", vendor_of("secureprivacy"));
    let mut target = String::new();
    let fill = |index: u8, segments: &[Segment], target: &mut String| {
        let (name, route_method, template) = h.routes[usize::from(index) % h.routes.len()];
        let vendor = vendor_of(name);
        let mut params = segments.iter();
        for part in template.split('/').skip(1) {
            target.push('/');
            if part.starts_with('{') {
                segment(params.next(), vendor, target);
            } else {
                target.push_str(part);
            }
        }
        (route_method, vendor)
    };
    match &input.path {
        PathChoice::Route(index, segments) => (method, vendor) = fill(*index, segments, &mut target),
        PathChoice::RouteSuffix(index, segments, suffix) => {
            (method, vendor) = fill(*index, segments, &mut target);
            encode_target(suffix, true, &mut target);
        }
        PathChoice::Health(which) => {
            target.push_str(["/healthz", "/readyz", "/metrics"][usize::from(*which) % 3]);
        }
        PathChoice::Raw(text) => {
            target.push('/');
            encode_target(text, true, &mut target);
        }
    }
    match &input.query {
        Query::None => {}
        Query::Pairs(pairs) => {
            for (i, (key, value)) in pairs.iter().enumerate() {
                target.push(if i == 0 { '?' } else { '&' });
                encode_all(key.resolve(&vendor.dict).as_bytes(), &mut target);
                target.push('=');
                encode_all(value.resolve(&vendor.dict).as_bytes(), &mut target);
            }
        }
        Query::Raw(text) => {
            target.push('?');
            for &b in text.as_bytes() {
                if b.is_ascii_graphic() && b != b'#' {
                    target.push(char::from(b));
                } else {
                    target.push_str(&format!("%{b:02X}"));
                }
            }
        }
    }
    let method = match input.method {
        MethodChoice::Route => method,
        MethodChoice::Get => "GET",
        MethodChoice::Post => "POST",
        MethodChoice::Patch => "PATCH",
        MethodChoice::Put => "PUT",
        MethodChoice::Delete => "DELETE",
        MethodChoice::Options => "OPTIONS",
    };
    let body = input.body.bytes(&vendor.dict, vendor.templates);
    let mut head = format!("{method} {target} HTTP/1.1\r\nHost: {}\r\nConnection: close\r\n", h.http);
    match &input.content_type {
        ContentType::None => {}
        ContentType::Json => head.push_str("Content-Type: application/json\r\n"),
        ContentType::JsonCharset => head.push_str("Content-Type: application/json; charset=utf-8\r\n"),
        ContentType::Other(text) => {
            head.push_str(&format!("Content-Type: {}\r\n", header_value(&text.resolve(&vendor.dict))));
        }
    }
    for (name, value) in input.headers.iter().take(16) {
        head.push_str(&format!("{}: {}\r\n", header_name(name), header_value(&value.resolve(&vendor.dict))));
    }
    head.push_str(&format!("Content-Length: {}\r\n\r\n", body.len()));
    let mut bytes = head.into_bytes();
    bytes.extend(body);
    bytes
}

fuzz_target!(|input: HttpInput| {
    let h = harness();
    let request = build(&input, h);
    let mut stream = TcpStream::connect(h.http).expect("connect to the server");
    stream.set_read_timeout(Some(DEADLINE)).expect("timeout");
    stream.set_write_timeout(Some(DEADLINE)).expect("timeout");
    // The server may answer (and close) before reading a body it refuses:
    // a failed write is judged by what can still be read.
    let _ = stream.write_all(&request);
    let mut response = Vec::new();
    let read = stream.read_to_end(&mut response);
    let shown = String::from_utf8_lossy(&request[..request.len().min(2000)]).into_owned();
    if response.is_empty() {
        panic!("no response ({read:?}) to:\n{shown}");
    }
    let text = String::from_utf8_lossy(&response[..response.len().min(2000)]).into_owned();
    let status: Option<u16> = text
        .strip_prefix("HTTP/1.1 ")
        .or_else(|| text.strip_prefix("HTTP/1.0 "))
        .and_then(|rest| rest.get(..3))
        .and_then(|code| code.parse().ok());
    let Some(status) = status else {
        panic!("not an HTTP response:\n{text}\nto:\n{shown}");
    };
    assert!(status != 500, "500 Internal Server Error:\n{text}\nto:\n{shown}");
});
