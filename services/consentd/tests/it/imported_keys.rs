//! A client's existing vendor key, imported (`consentd keys import`), works
//! where the client sends it — Intempt's `apiKey` and Basic pair, JENTIS'
//! and Secure Privacy's bearer token — and on gRPC, so the client changes
//! only its base URL; revoking it takes effect within the key cache's life.

use std::process::Command;
use std::time::{Duration, Instant};

use base64::Engine as _;
use consent_proto::v1 as pb;
use consentd::config::AuthMode;
use tonic::Code;

use crate::auth::keyed_client;
use crate::cors::INTEMPT_PATH;
use crate::http_client::{HttpResponse, fixture, send};
use crate::support::{TestServer, identity, record_request};
use crate::vendors::bind;

/// `consentd keys import` through the real binary (write only, as by
/// default); its id.
fn import(server: &TestServer, vendor: &str, key: &str, account: Option<&str>) -> String {
    import_with(server, vendor, key, account, &[])
}

/// The same, with `scopes`.
fn import_with(
    server: &TestServer,
    vendor: &str,
    key: &str,
    account: Option<&str>,
    scopes: &[&str],
) -> String {
    let mut command = Command::new(env!("CARGO_BIN_EXE_consentd"));
    command.args(["keys", "import", "--tenant", "acme", "--vendor", vendor, "--key", key]);
    if let Some(account) = account {
        command.args(["--external-id", account]);
    }
    for scope in scopes {
        command.args(["--scope", scope]);
    }
    let output = command.args(["--database-url", &server.database_url()]).output().unwrap();
    assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
    let id = String::from_utf8(output.stdout).unwrap().trim().to_owned();
    assert!(id.starts_with("vk_"), "{id}");
    id
}

async fn setup() -> TestServer {
    let server = TestServer::start_with(|config| config.auth = AuthMode::Required).await;
    bind(&server, "acme", "intempt", "demo-organization/demo-project");
    bind(&server, "acme", "jentis", "ckion-demo/live");
    bind(&server, "acme", "secureprivacy", "int-7f3a");
    server
}

async fn intempt(server: &TestServer, query: &str, authorization: Option<&str>) -> HttpResponse {
    let mut headers = vec![("content-type", "application/json")];
    headers.extend(authorization.map(|value| ("authorization", value)));
    let body = fixture("intempt", "consent-accept-analytics-desktop.json");
    send(server.running().http_addr, "POST", &format!("{INTEMPT_PATH}{query}"), &headers, &body).await
}

#[tokio::test]
async fn an_imported_intempt_key_works_as_intempts_clients_send_it_and_on_grpc() {
    let server = setup().await;
    let (prefix, secret) = ("intempt-prefix", "s3cr3t-from-intempt");
    let vendor_key = format!("{prefix}.{secret}");
    import(&server, "intempt", &vendor_key, Some("demo-organization/demo-project"));

    let response = intempt(&server, &format!("?apiKey={vendor_key}"), None).await;
    assert_eq!(response.status, 200, "apiKey: {response:?}");
    let basic =
        format!("basic {}", base64::engine::general_purpose::STANDARD.encode(format!("{prefix}:{secret}")));
    let response = intempt(&server, "", Some(&basic)).await;
    assert_eq!(response.status, 200, "lower-case Basic pair: {response:?}");
    let response = intempt(&server, "?apiKey=intempt-prefix.wrong", None).await;
    assert_eq!(response.status, 401, "{response:?}");

    // Bound to one account, the key is for that account's routes only: no
    // gRPC call names an account.
    let mut client = keyed_client(&server.url(), &vendor_key).await;
    let request = || record_request(identity("user_id", "u-1"), "marketing", "", pb::Decision::Granted);
    assert_eq!(client.record_consent(request()).await.unwrap_err().code(), Code::PermissionDenied);
    // A vendor key imported for the vendor as a whole works on gRPC, with
    // the scopes it was given.
    let server_key = "intempt-server.sdk-secret";
    import_with(&server, "intempt", server_key, None, &["consent:write", "consent:read"]);
    let mut client = keyed_client(&server.url(), server_key).await;
    client.record_consent(request()).await.expect("an imported key works on gRPC");
    let history = pb::QueryConsentsRequest { history: true, ..Default::default() };
    assert!(!client.query_consents(history).await.unwrap().into_inner().records.is_empty());
    let subscribe = pb::SubscribeRequest::default();
    assert_eq!(
        client.subscribe(subscribe).await.unwrap_err().code(),
        Code::PermissionDenied,
        "not its scope"
    );
}

#[tokio::test]
async fn imported_bearer_tokens_work_for_jentis_and_secure_privacy() {
    let server = setup().await;
    import(&server, "jentis", "jentis-token-1234567890", None);
    import_with(&server, "secureprivacy", "sp-key-abcdef", None, &["consent:write", "consent:read"]);
    import(&server, "secureprivacy", "sp-key-of-one-integration", Some("int-7f3a"));
    let http = server.running().http_addr;
    let body = fixture("jentis", "request-documented-example.json");
    let headers = [("content-type", "application/json"), ("authorization", "bearer jentis-token-1234567890")];
    let response = send(http, "POST", "/jentis", &headers, &body).await;
    assert_eq!(response.status, 200, "lower-case bearer: {response:?}");

    let headers = [("authorization", "Bearer sp-key-abcdef")];
    let path = "/api/universalconsent?CustomUserId=nobody";
    let response = send(http, "GET", path, &headers, b"").await;
    assert_eq!(response.status, 200, "{response:?}");
    // A key of one integration cannot list the tenant: the list names no
    // integration.
    let headers = [("authorization", "Bearer sp-key-of-one-integration")];
    let response = send(http, "GET", path, &headers, b"").await;
    assert_eq!(response.status, 403, "{response:?}");
    // The key is the vendor's: another vendor's route refuses it.
    let headers = [("content-type", "application/json"), ("authorization", "Bearer sp-key-abcdef")];
    let response = send(http, "POST", "/jentis", &headers, &body).await;
    assert_eq!(response.status, 403, "{response:?}");
}

#[tokio::test]
async fn a_key_imported_for_one_account_is_refused_for_another_and_twice() {
    let server = setup().await;
    bind(&server, "acme", "intempt", "other-org/other-project");
    import(&server, "intempt", "bound-key.1", Some("other-org/other-project"));
    let response = intempt(&server, "?apiKey=bound-key.1", None).await;
    assert_eq!(response.status, 403, "{response:?}");
    let output = Command::new(env!("CARGO_BIN_EXE_consentd"))
        .args(["keys", "import", "--tenant", "acme", "--vendor", "intempt", "--key", "bound-key.1"])
        .args(["--database-url", &server.database_url()])
        .output()
        .unwrap();
    assert!(!output.status.success());
    assert!(String::from_utf8_lossy(&output.stderr).contains("imported already"), "{output:?}");
    // A key shaped like one of ours would be checked as ours, never found.
    let ours = format!("ck_0123456789abcdef.{}", "a".repeat(43));
    let output = Command::new(env!("CARGO_BIN_EXE_consentd"))
        .args(["keys", "import", "--tenant", "acme", "--vendor", "intempt", "--key", &ours])
        .args(["--database-url", &server.database_url()])
        .output()
        .unwrap();
    assert!(!output.status.success(), "{output:?}");
}

#[tokio::test]
async fn revoking_an_imported_key_takes_effect_within_a_second() {
    let server = setup().await;
    let id = import_with(&server, "jentis", "jentis-token-to-revoke", None, &["consent:read"]);
    let mut client = keyed_client(&server.url(), "jentis-token-to-revoke").await;
    let request = || pb::QueryConsentsRequest { history: true, ..Default::default() };
    client.query_consents(request()).await.unwrap();
    let revoked = Command::new(env!("CARGO_BIN_EXE_consentd"))
        .args(["keys", "revoke", &id, "--database-url", &server.database_url()])
        .status()
        .unwrap();
    assert!(revoked.success());
    let deadline = Instant::now() + Duration::from_secs(2);
    loop {
        match client.query_consents(request()).await {
            Err(status) if status.code() == Code::Unauthenticated => break,
            Ok(_) => assert!(Instant::now() < deadline, "still accepted 2 s after revocation"),
            Err(other) => panic!("{other:?}"),
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}
