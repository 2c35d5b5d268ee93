//! The vendor gateway end to end: the vendors' documented requests over real
//! HTTP, their documented answers, and the mapped decisions seen over gRPC.

use std::process::Command;

use consent_proto::v1 as pb;
use consentd::config::AuthMode;

use crate::auth::{KeyedClient, create_key, keyed_client};
use crate::http_client::{fixture, send};
use crate::support::{TestServer, by_identity, identity};

const ADOBE_ORG: &str = "5A3E1C2B5E8D4F7A0A495C12@AdobeOrg";

pub(crate) fn bind(server: &TestServer, tenant: &str, vendor: &str, external_id: &str) {
    let status = Command::new(env!("CARGO_BIN_EXE_consentd"))
        .args(["tenants", "bind", "--tenant", tenant, "--vendor", vendor, "--external-id", external_id])
        .args(["--database-url", &server.database_url()])
        .status()
        .unwrap();
    assert!(status.success());
}

/// A server with auth required, a key for tenant acme bound to the fixtures'
/// vendor accounts, and a gRPC client with that key.
async fn setup() -> (TestServer, String, KeyedClient) {
    let server = TestServer::start_with(|config| config.auth = AuthMode::Required).await;
    let key = create_key(&server.database_url(), "acme", &[]);
    bind(&server, "acme", "intempt", "demo-organization/demo-project");
    bind(&server, "acme", "jentis", "ckion-demo/live");
    bind(&server, "acme", "adobe", ADOBE_ORG);
    let client = keyed_client(&server.url(), &key).await;
    (server, key, client)
}

async fn status(
    client: &mut KeyedClient,
    id: pb::Identity,
    purpose: &str,
    target: &str,
) -> pb::ConsentStatus {
    client
        .check_consent(pb::CheckConsentRequest {
            subject: by_identity(id),
            purpose: purpose.into(),
            target: target.into(),
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner()
        .status()
}

async fn history_len(client: &mut KeyedClient) -> usize {
    client
        .query_consents(pb::QueryConsentsRequest { history: true, page_size: 1000, ..Default::default() })
        .await
        .unwrap()
        .into_inner()
        .records
        .len()
}

#[tokio::test]
async fn adobe_documented_request_creates_one_subject_per_value() {
    let (server, key, mut client) = setup().await;
    let http = server.running().http_addr;
    let bearer = format!("Bearer {key}");
    let headers = [
        ("authorization", bearer.as_str()),
        ("content-type", "application/json"),
        ("x-api-key", "client-id"),
        ("x-gw-ims-org-id", ADOBE_ORG),
    ];
    let response =
        send(http, "POST", "/data/core/privacy/consent", &headers, &fixture("adobe", "consent-request.json"))
            .await;
    assert_eq!(response.status, 202, "{response:?}");
    assert!(response.body.is_empty());
    assert!(response.header("x-request-id").is_some());

    for person in [
        identity("email", "dsmith@acme.com"),
        identity("email", "ajones@acme.com"),
        identity("ecid", "443636576799758681021090721276"),
    ] {
        assert_eq!(status(&mut client, person, "sale_sharing", "").await, pb::ConsentStatus::Denied);
    }
    let records = client
        .query_consents(pb::QueryConsentsRequest { history: true, ..Default::default() })
        .await
        .unwrap()
        .into_inner()
        .records;
    let subjects: std::collections::HashSet<_> = records.iter().map(|r| r.subject_id.clone()).collect();
    assert_eq!(subjects.len(), 3, "three people, three subjects");
    let evidence = records[0].evidence.clone().unwrap();
    assert_eq!(evidence.vendor, "adobe");
    assert_eq!(evidence.payload_digest.len(), 64);
    let revisions: Vec<_> = records.iter().map(|r| r.revision).collect();
    assert_eq!(revisions, [1, 2, 3], "one transaction, consecutive revisions");

    // One invalid entity: nothing of the request is written.
    let bad = br#"{"optOutOfSale": false, "entities": [{"nameSpace": "email", "values": ["x@acme.com"]}, {"nameSpace": "ECID", "values": [""]}]}"#;
    let response = send(http, "POST", "/data/core/privacy/consent", &headers, bad).await;
    assert_eq!(response.status, 400);
    let body = response.json();
    assert!(
        body["error_code"].is_string() && body["message"].as_str().unwrap().contains("entities[1].values[0]"),
        "{body}"
    );
    assert_eq!(history_len(&mut client).await, 3);

    // Without a key: 401 in Adobe's shape; an org not bound to the tenant: 403.
    let unauthenticated = send(
        http,
        "POST",
        "/data/core/privacy/consent",
        &headers[1..],
        &fixture("adobe", "consent-request.json"),
    )
    .await;
    assert_eq!(unauthenticated.status, 401);
    assert!(unauthenticated.json()["error_code"].is_string());
    let foreign = [headers[0], headers[1], ("x-gw-ims-org-id", "OTHER@AdobeOrg")];
    let response =
        send(http, "POST", "/data/core/privacy/consent", &foreign, &fixture("adobe", "consent-request.json"))
            .await;
    assert_eq!(response.status, 403);
    assert_eq!(history_len(&mut client).await, 3);
}

#[tokio::test]
async fn intempt_documented_requests_with_every_credential_form() {
    let (server, key, mut client) = setup().await;
    let http = server.running().http_addr;
    let json = ("content-type", "application/json");
    let body = fixture("intempt", "consent-accept-analytics-desktop.json");

    // The apiKey query parameter (the documented form).
    let path = format!("/demo-organization/projects/demo-project/consents/data?apiKey={key}");
    let response = send(http, "POST", &path, &[json], &body).await;
    assert_eq!(response.status, 200, "{response:?}");
    assert_eq!(response.json(), serde_json::json!({}));
    assert_eq!(
        status(&mut client, identity("email", "user@example.com"), "analytics", "").await,
        pb::ConsentStatus::Granted
    );

    // Basic <prefix>:<secret> on the /v1 path (Intempt's server SDKs).
    use base64::Engine as _;
    let (prefix, secret) = key.split_once('.').unwrap();
    let basic =
        format!("Basic {}", base64::engine::general_purpose::STANDARD.encode(format!("{prefix}:{secret}")));
    let reject = fixture("intempt", "consent-reject-marketing-mobile.json");
    let response = send(
        http,
        "POST",
        "/v1/demo-organization/projects/demo-project/consents/data",
        &[json, ("authorization", &basic)],
        &reject,
    )
    .await;
    assert_eq!(response.status, 200, "{response:?}");
    let written = history_len(&mut client).await;
    assert_eq!(written, 2);

    // The documented 400 for a missing action, and nothing written.
    let mut missing: serde_json::Value = serde_json::from_slice(&body).unwrap();
    missing.as_object_mut().unwrap().remove("action");
    let response = send(http, "POST", &path, &[json], missing.to_string().as_bytes()).await;
    assert_eq!(response.status, 400);
    assert_eq!(
        response.json(),
        serde_json::from_slice::<serde_json::Value>(&fixture("intempt", "response-400.json")).unwrap()
    );

    // A project not bound to the key's tenant: 403; no key: 401.
    let foreign = format!("/someone-else/projects/demo-project/consents/data?apiKey={key}");
    assert_eq!(send(http, "POST", &foreign, &[json], &body).await.status, 403);
    let anonymous =
        send(http, "POST", "/demo-organization/projects/demo-project/consents/data", &[json], &body).await;
    assert_eq!(anonymous.status, 401);
    assert_eq!(anonymous.json()["error"], "Unauthorized");
    assert_eq!(history_len(&mut client).await, written);
}

#[tokio::test]
async fn jentis_documented_request_records_one_decision_per_vendor() {
    let (server, key, mut client) = setup().await;
    let http = server.running().http_addr;
    let bearer = format!("Bearer {key}");
    let headers = [("authorization", bearer.as_str()), ("content-type", "application/json")];
    let body = fixture("jentis", "request-documented-example.json");
    let response = send(http, "POST", "/jentis", &headers, &body).await;
    assert_eq!(response.status, 200, "{response:?}");
    let user = identity("jentis_user_id", "71737164545877150000000");
    assert_eq!(status(&mut client, user.clone(), "analytics", "ga4").await, pb::ConsentStatus::Granted);
    assert_eq!(status(&mut client, user, "analytics", "other-vendor").await, pb::ConsentStatus::Unknown);

    // A bad consent id names the field; a container not bound to the tenant is 403.
    let mut bad: serde_json::Value = serde_json::from_slice(&body).unwrap();
    bad["data"]["identifier"]["consent"]["id"] = "not-a-uuid".into();
    let response = send(http, "POST", "/jentis", &headers, bad.to_string().as_bytes()).await;
    assert_eq!(response.status, 400);
    assert_eq!(response.json()["field"], "data.identifier.consent.id");
    let mut foreign: serde_json::Value = serde_json::from_slice(&body).unwrap();
    foreign["configuration"]["container"] = "someone-else".into();
    assert_eq!(send(http, "POST", "/jentis", &headers, foreign.to_string().as_bytes()).await.status, 403);
    // Over the body limit: the vendor's error shape, naming the body.
    let huge = vec![b' '; 2 * 1024 * 1024];
    let response = send(http, "POST", "/jentis", &headers, &huge).await;
    assert_eq!(response.status, 400);
    assert_eq!(response.json()["field"], "body");
    // Neither JSON nor a beacon's text/plain: the content type is checked
    // before anything else is read.
    let response =
        send(http, "POST", "/jentis", &[headers[0], ("content-type", "application/xml")], &body).await;
    assert_eq!(response.status, 400);
    assert_eq!(response.json()["field"], "content-type");
    assert_eq!(history_len(&mut client).await, 1);
}

#[tokio::test]
async fn disabled_adapters_are_not_served() {
    let server = TestServer::start_with(|config| config.gateway.adapters = vec!["intempt".into()]).await;
    let response =
        send(server.running().http_addr, "POST", "/jentis", &[("content-type", "application/json")], b"{}")
            .await;
    assert_eq!(response.status, 404);
}

#[tokio::test]
async fn client_ip_comes_from_x_forwarded_for_only_behind_a_trusted_proxy() {
    let server =
        TestServer::start_with(|config| config.gateway.trusted_proxies = vec!["127.0.0.1".parse().unwrap()])
            .await;
    let http = server.running().http_addr;
    let body = fixture("intempt", "consent-accept-analytics-desktop.json");
    // The client forged the first line; the trusted proxy appended its own.
    let headers = [
        ("content-type", "application/json"),
        ("x-forwarded-for", "198.51.100.66"),
        ("x-forwarded-for", "203.0.113.7, 127.0.0.1"),
    ];
    let response =
        send(http, "POST", "/demo-organization/projects/demo-project/consents/data", &headers, &body).await;
    assert_eq!(response.status, 200, "{response:?}");
    let mut client = server.client().await;
    let stored = crate::support::history(&mut client).await;
    assert_eq!(stored[0].evidence.as_ref().unwrap().ip, "203.0.113.7");

    // Without a trusted proxy the header is ignored.
    let direct = TestServer::start().await;
    let response = send(
        direct.running().http_addr,
        "POST",
        "/demo-organization/projects/demo-project/consents/data",
        &headers,
        &body,
    )
    .await;
    assert_eq!(response.status, 200);
    let mut client = direct.client().await;
    assert_eq!(crate::support::history(&mut client).await[0].evidence.as_ref().unwrap().ip, "127.0.0.1");
}
