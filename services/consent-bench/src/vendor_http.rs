//! The vendor routes under load: Intempt's documented `consents/data` POST
//! (one decision, a new user each call, the key as the `apiKey` query
//! parameter), over HTTP/1.1 keep-alive connections as a vendor's server SDK
//! sends it, beside `RecordConsent` of one decision over gRPC at the same
//! concurrency.

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

/// One Intempt consent record a call, for a user never seen before.
pub(crate) fn intempt_record(http: std::net::SocketAddr, key: &str, connections: usize) -> Call {
    let mut connector = HttpConnector::new();
    connector.set_nodelay(true);
    let client: Client<HttpConnector, Full<Bytes>> =
        Client::builder(TokioExecutor::new()).pool_max_idle_per_host(connections).build(connector);
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
            })
            .to_string();
            let request = hyper::Request::post(&*uri)
                .header("content-type", "application/json")
                .body(Full::new(Bytes::from(body)))
                .map_err(|err| err.to_string())?;
            let response = client.request(request).await.map_err(|err| err.to_string())?;
            let status = response.status();
            // Read the body to the end: the connection is then reused.
            let _ = response.into_body().collect().await.map_err(|err| err.to_string())?;
            if status.is_success() { Ok(()) } else { Err(format!("HTTP {status}")) }
        })
    })
}
