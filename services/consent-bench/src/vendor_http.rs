//! The vendor routes under load, over HTTP/1.1 keep-alive connections as a
//! vendor's server SDK sends them: Intempt's documented `consents/data` POST
//! (one decision, a new user each call, the key as the `apiKey` query
//! parameter), Adobe's `/consent` POST naming 100 people, and Secure
//! Privacy's `consent-given` check of people recorded beforehand; and the
//! bare axum handler the check is compared with.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;

use crate::load::Call;

/// The Intempt account the bench's tenant is bound to.
pub(crate) const INTEMPT_ACCOUNT: &str = "bench-org/bench-project";

/// An HTTP/1.1 client keeping up to `connections` connections alive.
fn client(connections: usize) -> HttpClient {
    let mut connector = HttpConnector::new();
    connector.set_nodelay(true);
    Client::builder(TokioExecutor::new()).pool_max_idle_per_host(connections).build(connector)
}

type HttpClient = Client<HttpConnector, Full<Bytes>>;

/// Sends `request` and reads the answer to its end (the connection is then
/// reused): its body, or an error naming a status that is not a success.
async fn exchange(client: &HttpClient, request: hyper::Request<Full<Bytes>>) -> Result<Bytes, String> {
    let response = client.request(request).await.map_err(|err| err.to_string())?;
    let status = response.status();
    let body = response.into_body().collect().await.map_err(|err| err.to_string())?.to_bytes();
    if status.is_success() { Ok(body) } else { Err(format!("HTTP {status}")) }
}

fn post_json(
    uri: &str,
    headers: &[(&str, &str)],
    body: &serde_json::Value,
) -> Result<hyper::Request<Full<Bytes>>, String> {
    let mut request = hyper::Request::post(uri).header("content-type", "application/json");
    for (name, value) in headers {
        request = request.header(*name, *value);
    }
    request.body(Full::new(Bytes::from(body.to_string()))).map_err(|err| err.to_string())
}

/// One Intempt consent record a call, for a user never seen before.
pub(crate) fn intempt_record(http: std::net::SocketAddr, key: &str, connections: usize) -> Call {
    let client = client(connections);
    let (org, project) = INTEMPT_ACCOUNT.split_once('/').unwrap_or_default();
    let uri: Arc<str> = format!("http://{http}/{org}/projects/{project}/consents/data?apiKey={key}").into();
    let next = Arc::new(AtomicU64::new(0));
    Arc::new(move |_worker, _n| {
        let (client, uri) = (client.clone(), Arc::clone(&uri));
        let user = next.fetch_add(1, Ordering::Relaxed);
        Box::pin(async move {
            // The documented example's fields (adapters/intempt/tests/fixtures).
            let body = serde_json::json!({
                "action": "accept",
                "timestamp": 1_769_518_152_000_u64,
                "validUntil": 1_801_054_152_000_u64,
                "source": "desktop",
                "category": "marketing",
                "sourceId": 0,
                "userId": format!("h{user}@example.com"),
                "email": format!("h{user}@example.com"),
                "message": "consent-bench",
            });
            exchange(&client, post_json(&uri, &[], &body)?).await.map(drop)
        })
    })
}

/// The Adobe organization the bench's tenant is bound to.
pub(crate) const ADOBE_ORG: &str = "BENCH0000000000000000000@AdobeOrg";

/// People one Adobe request names.
pub(crate) const ADOBE_PEOPLE: usize = 100;

/// One Adobe `/consent` POST a call, naming [`ADOBE_PEOPLE`] people never
/// seen before (email values), opted out of sale: one record each.
pub(crate) fn adobe_hundred(http: std::net::SocketAddr, key: &str, connections: usize) -> Call {
    let client = client(connections);
    let uri: Arc<str> = format!("http://{http}/data/core/privacy/consent").into();
    let bearer: Arc<str> = format!("Bearer {key}").into();
    let next = Arc::new(AtomicU64::new(0));
    Arc::new(move |_worker, _n| {
        let (client, uri, bearer) = (client.clone(), Arc::clone(&uri), Arc::clone(&bearer));
        let call = next.fetch_add(1, Ordering::Relaxed);
        Box::pin(async move {
            let values: Vec<String> = (0..ADOBE_PEOPLE).map(|i| format!("a{call}-{i}@example.com")).collect();
            // The documented example's shape (adapters/adobe/tests/fixtures).
            let body = serde_json::json!({
                "optOutOfSale": true,
                "entities": [{ "nameSpace": "email", "values": values }],
            });
            let headers = [("authorization", &*bearer), ("x-gw-ims-org-id", ADOBE_ORG)];
            exchange(&client, post_json(&uri, &headers, &body)?).await.map(drop)
        })
    })
}

/// The reference the Secure Privacy records and checks name.
const SP_REFERENCE: &str = "test-drive-booking";

/// Records `count` people through Secure Privacy's POST (its documented
/// example, a new `CustomUserId` each) and returns their `ClientId`s.
pub(crate) async fn secureprivacy_people(http: std::net::SocketAddr, key: &str, count: usize) -> Vec<String> {
    let client = client(8);
    let uri = format!("http://{http}/api/universalconsent");
    let bearer = format!("Bearer {key}");
    let mut ids = Vec::with_capacity(count);
    for person in 0..count {
        let body = serde_json::json!({
            "ConsentGiven": "All",
            "CustomUserId": format!("sp{person}@example.com"),
            "URI": "https://www.northwind-motors.example/test-drive",
            "Reference": SP_REFERENCE,
            "ConsentType": "Dealership",
        });
        let request = post_json(&uri, &[("authorization", &bearer)], &body).expect("a request");
        let answer = exchange(&client, request).await.expect("Secure Privacy records");
        let answer: serde_json::Value = serde_json::from_slice(&answer).expect("JSON");
        ids.push(answer["ClientId"].as_str().expect("a ClientId").to_owned());
    }
    ids
}

/// One `consent-given` check a call, of the people in `client_ids` in turn.
pub(crate) fn secureprivacy_check(
    http: std::net::SocketAddr,
    key: &str,
    client_ids: Arc<Vec<String>>,
    connections: usize,
) -> Call {
    let client = client(connections);
    let bearer: Arc<str> = format!("Bearer {key}").into();
    let next = Arc::new(AtomicU64::new(0));
    Arc::new(move |_worker, _n| {
        let (client, bearer, ids) = (client.clone(), Arc::clone(&bearer), Arc::clone(&client_ids));
        let n = usize::try_from(next.fetch_add(1, Ordering::Relaxed)).unwrap_or_default();
        Box::pin(async move {
            let id = ids.get(n % ids.len().max(1)).map_or("", String::as_str);
            let uri = format!(
                "http://{http}/api/universalconsent/consent-given?ClientId={id}&Reference={SP_REFERENCE}"
            );
            let request = hyper::Request::get(uri)
                .header("authorization", &*bearer)
                .body(Full::new(Bytes::new()))
                .map_err(|err| err.to_string())?;
            let body = exchange(&client, request).await?;
            // Checked, so a refusal or a wrong answer is never counted as served.
            if body.as_ref() == CONSENT_GIVEN_ALL { Ok(()) } else { Err(format!("answered {body:?}")) }
        })
    })
}

/// What `consent-given` answers for the people recorded.
pub(crate) const CONSENT_GIVEN_ALL: &[u8] = br#"{"ConsentGiven":"All"}"#;

/// The bare HTTP baseline's process: an axum handler on the same path that
/// answers [`CONSENT_GIVEN_ALL`] without reading anything, on loopback.
pub(crate) async fn serve_bare_http() {
    use axum::routing::get;
    let app = axum::Router::new().route(
        "/api/universalconsent/consent-given",
        get(|| async { ([("content-type", "application/json")], CONSENT_GIVEN_ALL) }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("loopback port");
    println!("bare-http serving on {}", listener.local_addr().expect("bound address"));
    axum::serve(listener, app).await.expect("bare server runs");
}
