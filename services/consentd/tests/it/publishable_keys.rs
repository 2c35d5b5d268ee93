//! Publishable keys: a credential a web page may carry (`?key=pk_…`, since
//! a beacon cannot set headers). It records for its one vendor account,
//! from its origins, and reads nothing — on no route and not over gRPC.

use std::process::Command;

use consent_proto::v1 as pb;
use consentd::config::AuthMode;
use tonic::Code;

use crate::auth::{create_key, keyed_client};
use crate::cors::{ELSEWHERE, SHOP, bind_with_origins};
use crate::http_client::{HttpResponse, fixture, send};
use crate::support::TestServer;

const JENTIS_ACCOUNT: &str = "ckion-demo/live";

/// `consentd keys create --publishable` through the real binary.
pub(crate) fn create_publishable(
    database_url: &str,
    vendor: &str,
    account: &str,
    origins: &[&str],
) -> String {
    let mut command = Command::new(env!("CARGO_BIN_EXE_consentd"));
    command.args(["keys", "create", "--publishable", "--tenant", "acme", "--vendor", vendor]);
    command.args(["--external-id", account]);
    for origin in origins {
        command.args(["--origin", origin]);
    }
    let output = command.args(["--database-url", database_url]).output().unwrap();
    assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
    let key = String::from_utf8(output.stdout).unwrap().trim().to_owned();
    assert!(key.starts_with("pk_"), "{key}");
    key
}

async fn setup() -> (TestServer, String) {
    let server = TestServer::start_with(|config| config.auth = AuthMode::Required).await;
    bind_with_origins(&server.database_url(), "acme", "jentis", JENTIS_ACCOUNT, &[SHOP]);
    let key = create_publishable(&server.database_url(), "jentis", JENTIS_ACCOUNT, &[SHOP]);
    (server, key)
}

/// JENTIS' documented submission as `navigator.sendBeacon` sends it.
async fn beacon(server: &TestServer, key: &str, origin: Option<&str>) -> HttpResponse {
    let mut headers = vec![("content-type", "text/plain;charset=UTF-8")];
    headers.extend(origin.map(|origin| ("origin", origin)));
    let body = fixture("jentis", "request-documented-example.json");
    send(server.running().http_addr, "POST", &format!("/jentis?key={key}"), &headers, &body).await
}

async fn records(server: &TestServer) -> usize {
    let admin = create_key(&server.database_url(), "acme", &[]);
    let mut client = keyed_client(&server.url(), &admin).await;
    let request = pb::QueryConsentsRequest { history: true, page_size: 1000, ..Default::default() };
    client.query_consents(request).await.unwrap().into_inner().records.len()
}

#[tokio::test]
async fn a_beacon_with_a_publishable_key_records_from_its_origin_only() {
    let (server, key) = setup().await;
    let response = beacon(&server, &key, Some(SHOP)).await;
    assert_eq!(response.status, 200, "{response:?}");
    let written = records(&server).await;
    assert!(written > 0);

    for origin in [Some(ELSEWHERE), None] {
        let response = beacon(&server, &key, origin).await;
        assert_eq!(response.status, 403, "{origin:?}: {response:?}");
        assert_eq!(response.json()["error"], "Forbidden", "JENTIS' error shape: {response:?}");
    }
    assert_eq!(records(&server).await, written, "nothing more was written");
}

#[tokio::test]
async fn a_publishable_key_reads_nothing_and_works_nowhere_else() {
    let (server, key) = setup().await;
    let http = server.running().http_addr;
    // Another vendor's route, and a read: refused.
    let path = format!("/api/universalconsent?key={key}&CustomUserId=u-1");
    let response = send(http, "GET", &path, &[("origin", SHOP)], b"").await;
    assert_eq!(response.status, 403, "{response:?}");
    // A text/plain body only where the vendor's clients send beacons.
    let path = format!("/demo-organization/projects/demo-project/consents/data?key={key}");
    let body = fixture("intempt", "consent-accept-analytics-desktop.json");
    let headers = [("content-type", "text/plain"), ("origin", SHOP)];
    let response = send(http, "POST", &path, &headers, &body).await;
    assert_eq!(response.status, 400, "{response:?}");

    // gRPC: not even a write.
    let mut client = keyed_client(&server.url(), &key).await;
    let request = pb::QueryConsentsRequest { history: true, ..Default::default() };
    assert_eq!(client.query_consents(request).await.unwrap_err().code(), Code::PermissionDenied);
    let write = crate::support::record_request(
        crate::support::identity("user_id", "u"),
        "marketing",
        "",
        pb::Decision::Granted,
    );
    assert_eq!(client.record_consent(write).await.unwrap_err().code(), Code::PermissionDenied);
}

#[tokio::test]
async fn a_publishable_key_for_an_unbound_account_is_not_issued() {
    let server = TestServer::start_with(|config| config.auth = AuthMode::Required).await;
    let output = Command::new(env!("CARGO_BIN_EXE_consentd"))
        .args(["keys", "create", "--publishable", "--tenant", "acme", "--vendor", "jentis"])
        .args(["--external-id", "nobody/live", "--origin", SHOP, "--database-url", &server.database_url()])
        .output()
        .unwrap();
    assert!(!output.status.success());
    assert!(String::from_utf8_lossy(&output.stderr).contains("tenants bind"), "{output:?}");
    let output = Command::new(env!("CARGO_BIN_EXE_consentd"))
        .args(["keys", "create", "--publishable", "--tenant", "acme", "--vendor", "jentis"])
        .args(["--external-id", JENTIS_ACCOUNT, "--database-url", &server.database_url()])
        .output()
        .unwrap();
    assert!(!output.status.success(), "an origin is required");
}

#[tokio::test]
async fn each_address_spends_its_own_share_of_a_publishable_keys_rate() {
    let server = TestServer::start_with(|config| {
        config.auth = AuthMode::Required;
        config.limits.calls.rate_per_key = 1;
        config.limits.calls.burst_per_key = 1;
        config.gateway.trusted_proxies = vec![std::net::IpAddr::from([127, 0, 0, 1])];
    })
    .await;
    bind_with_origins(&server.database_url(), "acme", "jentis", JENTIS_ACCOUNT, &[SHOP]);
    let key = create_publishable(&server.database_url(), "jentis", JENTIS_ACCOUNT, &[SHOP]);
    let from = |address: &'static str| {
        let server = &server;
        let key = key.clone();
        async move {
            let headers = [("content-type", "text/plain"), ("origin", SHOP), ("x-forwarded-for", address)];
            let body = fixture("jentis", "request-documented-example.json");
            send(server.running().http_addr, "POST", &format!("/jentis?key={key}"), &headers, &body)
                .await
                .status
        }
    };
    assert_eq!(from("198.51.100.1").await, 200);
    assert_eq!(from("198.51.100.1").await, 429, "one visitor spent its share");
    assert_eq!(from("198.51.100.2").await, 200, "another visitor still records");
}
