//! CORS on the vendor routes: a preflight is answered for the origins
//! allowed on the vendor's accounts (`tenants bind --origin`) and in
//! `[gateway] cors_origins`, with exactly the methods and headers of the
//! path's routes; any other origin gets no `Access-Control-Allow-Origin`,
//! and no answer ever allows credentials.

use std::process::Command;

use consentd::config::AuthMode;

use crate::http_client::{HttpResponse, fixture, send};
use crate::support::TestServer;

pub(crate) const SHOP: &str = "https://shop.example";
pub(crate) const ELSEWHERE: &str = "https://elsewhere.example";
const GLOBAL: &str = "https://global.example";
pub(crate) const INTEMPT_PATH: &str = "/demo-organization/projects/demo-project/consents/data";

/// `consentd tenants bind` with browser origins, through the real binary.
pub(crate) fn bind_with_origins(
    database_url: &str,
    tenant: &str,
    vendor: &str,
    account: &str,
    origins: &[&str],
) {
    let mut command = Command::new(env!("CARGO_BIN_EXE_consentd"));
    command.args(["tenants", "bind", "--tenant", tenant, "--vendor", vendor, "--external-id", account]);
    for origin in origins {
        command.args(["--origin", origin]);
    }
    let output = command.args(["--database-url", database_url]).output().unwrap();
    assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
}

async fn cors_server() -> TestServer {
    let server = TestServer::start_with(|config| {
        config.auth = AuthMode::Required;
        config.gateway.cors_origins = vec![GLOBAL.to_owned()];
    })
    .await;
    bind_with_origins(&server.database_url(), "acme", "intempt", "demo-organization/demo-project", &[SHOP]);
    server
}

async fn preflight(
    server: &TestServer,
    path: &str,
    origin: &str,
    method: &str,
    headers: &str,
) -> HttpResponse {
    let request = [
        ("origin", origin),
        ("access-control-request-method", method),
        ("access-control-request-headers", headers),
    ];
    send(server.running().http_addr, "OPTIONS", path, &request, b"").await
}

fn listed(response: &HttpResponse, header: &str) -> Vec<String> {
    let mut values: Vec<String> = response
        .header(header)
        .unwrap_or_default()
        .split(',')
        .map(|v| v.trim().to_ascii_lowercase())
        .filter(|v| !v.is_empty())
        .collect();
    values.sort();
    values
}

#[tokio::test]
async fn a_preflight_from_an_allowed_origin_lists_exactly_the_routes_methods_and_headers() {
    let server = cors_server().await;
    for origin in [SHOP, GLOBAL] {
        let response = preflight(&server, INTEMPT_PATH, origin, "POST", "content-type").await;
        assert!(response.status < 300, "{response:?}");
        assert_eq!(response.header("access-control-allow-origin"), Some(origin), "{response:?}");
        assert_eq!(listed(&response, "access-control-allow-methods"), ["post"]);
        assert_eq!(
            listed(&response, "access-control-allow-headers"),
            ["authorization", "content-type", "x-request-id"]
        );
        assert_eq!(response.header("access-control-allow-credentials"), None);
        assert!(response.header("access-control-max-age").is_some());
    }
    // Secure Privacy's list path answers GET and POST (and its own headers
    // are only those): a path's preflight lists what its routes use.
    let response = preflight(&server, "/api/universalconsent", GLOBAL, "GET", "authorization").await;
    assert_eq!(listed(&response, "access-control-allow-methods"), ["get", "patch", "post"]);
    let response = preflight(&server, "/data/core/privacy/consent", GLOBAL, "POST", "x-api-key").await;
    assert_eq!(
        listed(&response, "access-control-allow-headers"),
        ["authorization", "content-type", "x-api-key", "x-gw-ims-org-id", "x-request-id"]
    );
}

#[tokio::test]
async fn another_origin_gets_no_allow_origin_and_nothing_is_reflected() {
    let server = cors_server().await;
    let response = preflight(&server, INTEMPT_PATH, ELSEWHERE, "POST", "content-type").await;
    assert_eq!(response.header("access-control-allow-origin"), None, "{response:?}");
    assert_eq!(response.header("access-control-allow-credentials"), None);
    // An origin allowed on another vendor's accounts is not one of this
    // vendor's.
    let response = preflight(&server, "/jentis", SHOP, "POST", "content-type").await;
    assert_eq!(response.header("access-control-allow-origin"), None, "{response:?}");
}

#[tokio::test]
async fn an_origin_bound_later_is_allowed_within_a_second() {
    let server = cors_server().await;
    let before = preflight(&server, "/jentis", ELSEWHERE, "POST", "content-type").await;
    assert_eq!(before.header("access-control-allow-origin"), None);
    bind_with_origins(&server.database_url(), "acme", "jentis", "ckion-demo/live", &[ELSEWHERE]);
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(3);
    loop {
        let after = preflight(&server, "/jentis", ELSEWHERE, "POST", "content-type").await;
        if after.header("access-control-allow-origin") == Some(ELSEWHERE) {
            break;
        }
        assert!(std::time::Instant::now() < deadline, "the new origin was never allowed");
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
}

#[tokio::test]
async fn an_actual_call_from_an_allowed_origin_may_read_its_answer() {
    let server = cors_server().await;
    let key = crate::auth::create_key(&server.database_url(), "acme", &[]);
    let path = format!("{INTEMPT_PATH}?apiKey={key}");
    let body = fixture("intempt", "consent-accept-analytics-desktop.json");
    let headers = [("content-type", "application/json"), ("origin", SHOP)];
    let response = send(server.running().http_addr, "POST", &path, &headers, &body).await;
    assert_eq!(response.status, 200, "{response:?}");
    assert_eq!(response.header("access-control-allow-origin"), Some(SHOP));
    let exposed = listed(&response, "access-control-expose-headers");
    assert!(exposed.contains(&"retry-after".to_owned()), "{exposed:?}");
    let headers = [("content-type", "application/json"), ("origin", ELSEWHERE)];
    let response = send(server.running().http_addr, "POST", &path, &headers, &body).await;
    assert_eq!(response.header("access-control-allow-origin"), None);
    // A call without an Origin (a server's) still says the answer varies by
    // it, so a shared cache never hands it to a browser.
    let headers = [("content-type", "application/json")];
    let response = send(server.running().http_addr, "POST", &path, &headers, &body).await;
    assert_eq!(response.status, 200);
    assert!(response.header("vary").is_some_and(|vary| vary.contains("origin")), "{response:?}");
    assert_eq!(response.header("access-control-allow-origin"), None);
}

#[tokio::test]
async fn a_publishable_keys_own_origins_are_allowed_for_requests_that_carry_it() {
    let server = cors_server().await;
    let page = "https://only-the-key.example";
    let key = crate::publishable_keys::create_publishable(
        &server.database_url(),
        "intempt",
        "demo-organization/demo-project",
        &[page],
    );
    // In Intempt's own apiKey, as its snippet sends it, and in `key`.
    for param in ["apiKey", "key"] {
        let response =
            preflight(&server, &format!("{INTEMPT_PATH}?{param}={key}"), page, "POST", "content-type").await;
        assert_eq!(response.header("access-control-allow-origin"), Some(page), "{param}: {response:?}");
    }
    let without = preflight(&server, INTEMPT_PATH, page, "POST", "content-type").await;
    assert_eq!(without.header("access-control-allow-origin"), None, "not without the key");
}
