//! The two ports refuse a call the same way for the same reason, each in its
//! own shape: a gRPC status, or the vendor's status and error body. One test
//! per reason; a write through `RecordConsent` beside Intempt's documented
//! consent POST (the key as `Authorization: Bearer`).

use consent_proto::v1 as pb;
use consentd::config::AuthMode;
use tonic::Code;

use crate::auth::{create_key, keyed_client};
use crate::http_client::{HttpResponse, fixture, send};
use crate::support::{TestServer, identity, record_request};

fn write() -> pb::RecordConsentRequest {
    record_request(identity("user_id", "u"), "marketing", "", pb::Decision::Granted)
}

/// Intempt's consent POST, with `key` as a bearer credential if given.
async fn intempt_write(server: &TestServer, key: Option<&str>) -> HttpResponse {
    let bearer = key.map(|key| format!("Bearer {key}"));
    let mut headers = vec![("content-type", "application/json")];
    if let Some(bearer) = &bearer {
        headers.push(("authorization", bearer.as_str()));
    }
    send(
        server.running().http_addr,
        "POST",
        "/demo-organization/projects/demo-project/consents/data",
        &headers,
        &fixture("intempt", "consent-accept-analytics-desktop.json"),
    )
    .await
}

/// The vendor's error body: Intempt answers errors with a `message`.
fn assert_vendor_error(response: &HttpResponse, status: u16) {
    assert_eq!(response.status, status, "{response:?}");
    assert!(response.json()["message"].is_string(), "not Intempt's error shape: {response:?}");
}

#[tokio::test]
async fn no_key_is_unauthenticated_on_both_ports() {
    let server = TestServer::start_with(|config| config.auth = AuthMode::Required).await;
    let err = server.client().await.record_consent(write()).await.unwrap_err();
    assert_eq!(err.code(), Code::Unauthenticated);
    assert_vendor_error(&intempt_write(&server, None).await, 401);
    // A key that does not exist is no better than none.
    let err = keyed_client(&server.url(), "ck_0000000000000000.bm90LWEta2V5LWF0LWFsbC1ub3QtYS1rZXktYXQtYWxs")
        .await
        .record_consent(write())
        .await
        .unwrap_err();
    assert_eq!(err.code(), Code::Unauthenticated);
    assert_vendor_error(
        &intempt_write(&server, Some("ck_0000000000000000.bm90LWEta2V5LWF0LWFsbC1ub3QtYS1rZXktYXQtYWxs"))
            .await,
        401,
    );
}

#[tokio::test]
async fn a_key_without_the_scope_is_denied_on_both_ports() {
    let server = TestServer::start_with(|config| config.auth = AuthMode::Required).await;
    let reader = create_key(&server.database_url(), "acme", &["consent:read"]);
    let err = keyed_client(&server.url(), &reader).await.record_consent(write()).await.unwrap_err();
    assert_eq!(err.code(), Code::PermissionDenied);
    assert_vendor_error(&intempt_write(&server, Some(&reader)).await, 403);
}

#[tokio::test]
async fn a_key_over_its_rate_is_refused_on_both_ports() {
    let server = TestServer::start_with(|config| {
        config.auth = AuthMode::Required;
        config.limits.calls.rate_per_key = 1;
        config.limits.calls.burst_per_key = 1;
    })
    .await;
    let key = create_key(&server.database_url(), "acme", &[]);
    let mut client = keyed_client(&server.url(), &key).await;
    // The bucket refills one call a second, so a token may come back between
    // draining it and the vendor call: drain and ask again until the vendor
    // route is refused (a refill is an accepted write, never another error).
    for _ in 0..5 {
        let mut refused = None;
        for _ in 0..5 {
            if let Err(err) = client.record_consent(write()).await {
                refused = Some(err);
                break;
            }
        }
        let err = refused.expect("the key's bucket never emptied");
        assert_eq!(err.code(), Code::ResourceExhausted, "{err:?}");
        let response = intempt_write(&server, Some(&key)).await;
        if response.status == 429 {
            assert_vendor_error(&response, 429);
            return;
        }
        assert_eq!(response.status, 200, "{response:?}");
    }
    panic!("the vendor route was never refused for the key's rate");
}

/// Request ids are outside the pipeline: refusals carry them too.
#[tokio::test]
async fn both_ports_echo_a_request_id_and_make_one_when_missing_or_unusable() {
    let server = TestServer::start_with(|config| config.auth = AuthMode::Required).await;
    let mut client = server.client().await;
    let mut request = tonic::Request::new(write());
    request.metadata_mut().insert("x-request-id", "trace-1.a:b_c".parse().unwrap());
    let refused = client.record_consent(request).await.unwrap_err();
    assert_eq!(refused.code(), Code::Unauthenticated);
    assert_eq!(refused.metadata().get("x-request-id").unwrap(), "trace-1.a:b_c");
    let mut request = tonic::Request::new(write());
    request.metadata_mut().insert("x-request-id", "has spaces".parse().unwrap());
    let refused = client.record_consent(request).await.unwrap_err();
    let made = refused.metadata().get("x-request-id").unwrap().to_str().unwrap();
    assert!(uuid::Uuid::parse_str(made).is_ok(), "{made}");

    let refused = intempt_write(&server, None).await;
    assert_vendor_error(&refused, 401);
    let made = refused.header("x-request-id").expect("a refusal has a request id too");
    assert_eq!(uuid::Uuid::parse_str(made).map(|id| id.get_version_num()), Ok(7), "{made}");
}
