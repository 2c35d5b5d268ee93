//! The same layers refuse the same way on both transports: one pipeline
//! around a gRPC path and one around Intempt's consent POST, each over a
//! handler that answers at once or only when let go. (Refusals that need a
//! key store, a running server or real clients are tested through the
//! ports in `tests/it/refusals.rs` and `tests/it/limits.rs`.)

use std::convert::Infallible;
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::Semaphore;
use tower::{Layer as _, ServiceExt as _};

use consentd_gateway::VendorTransport;
use consentd_grpc::GrpcTransport;
use consentd_pipeline::{Admission, Gate, Limits};

/// A handler that answers once `release` has a permit for it.
fn handler<B: Default>(
    release: Arc<Semaphore>,
) -> impl tower::Service<http::Request<B>, Response = http::Response<B>, Error = Infallible, Future: Send>
+ Clone
+ Send {
    tower::service_fn(move |_request: http::Request<B>| {
        let release = Arc::clone(&release);
        async move {
            let _ = release.acquire().await.map(|permit| permit.forget());
            Ok(http::Response::new(B::default()))
        }
    })
}

/// A gRPC call through `gate`'s pipeline: its status code (0 for OK).
async fn grpc_call(gate: &Gate, release: &Arc<Semaphore>) -> tonic::Code {
    let request = http::Request::builder()
        .uri("/consent.v1.ConsentService/RecordConsent")
        .body(tonic::body::Body::empty())
        .unwrap();
    let service = Admission::new(GrpcTransport, gate.clone()).layer(handler(Arc::clone(release)));
    let response = service.oneshot(request).await.unwrap();
    tonic::Status::from_header_map(response.headers()).map_or(tonic::Code::Ok, |status| status.code())
}

/// Intempt's consent POST through `gate`'s pipeline: its HTTP status and
/// body.
async fn vendor_call(gate: &Gate, release: &Arc<Semaphore>) -> (u16, serde_json::Value) {
    let adapter: Arc<dyn consent_adapter::VendorAdapter> = Arc::new(consent_adapter_intempt::Intempt);
    let route = adapter.routes().iter().position(|r| r.path.ends_with("/consents/data")).unwrap();
    let transport = VendorTransport { adapter, route, trusted_proxies: Arc::default() };
    let request = http::Request::builder().method("POST").body(axum::body::Body::empty()).unwrap();
    let service = Admission::new(transport, gate.clone()).layer(handler(Arc::clone(release)));
    let response = service.oneshot(request).await.unwrap();
    let status = response.status().as_u16();
    let body = axum::body::to_bytes(response.into_body(), 1 << 16).await.unwrap();
    (status, serde_json::from_slice(&body).unwrap_or_default())
}

/// Intempt's error shape: a `message`.
fn assert_intempt_error((status, body): &(u16, serde_json::Value), expected: u16) {
    assert_eq!(*status, expected, "{body}");
    assert!(body["message"].is_string(), "not Intempt's error shape: {body}");
}

#[tokio::test]
async fn draining_is_unavailable_on_both_transports() {
    let gate = Gate::new(&Limits::default(), None);
    let free = Arc::new(Semaphore::new(Semaphore::MAX_PERMITS));
    assert_eq!(grpc_call(&gate, &free).await, tonic::Code::Ok);
    assert_eq!(vendor_call(&gate, &free).await.0, 200);

    gate.draining_flag().store(true, std::sync::atomic::Ordering::Release);
    assert_eq!(grpc_call(&gate, &free).await, tonic::Code::Unavailable);
    assert_intempt_error(&vendor_call(&gate, &free).await, 503);
}

#[tokio::test]
async fn a_server_at_capacity_sheds_on_both_transports() {
    let gate = Gate::new(&Limits { max_in_flight: 1, ..Limits::default() }, None);
    let held = Arc::new(Semaphore::new(0));
    // One call in flight, from either port, holds the server's only slot.
    let first = tokio::spawn({
        let (gate, held) = (gate.clone(), Arc::clone(&held));
        async move { grpc_call(&gate, &held).await }
    });
    while gate.in_flight_available() > 0 {
        tokio::task::yield_now().await;
    }
    let free = Arc::new(Semaphore::new(Semaphore::MAX_PERMITS));
    assert_eq!(grpc_call(&gate, &free).await, tonic::Code::ResourceExhausted);
    assert_intempt_error(&vendor_call(&gate, &free).await, 429);

    held.add_permits(1);
    assert_eq!(first.await.unwrap(), tonic::Code::Ok);
    assert_eq!(vendor_call(&gate, &free).await.0, 200, "the slot is given back");
}

#[tokio::test]
async fn a_call_past_the_deadline_ends_on_both_transports() {
    let limits = Limits { max_deadline: Duration::from_millis(50), ..Limits::default() };
    let gate = Gate::new(&limits, None);
    let never = Arc::new(Semaphore::new(0));
    assert_eq!(grpc_call(&gate, &never).await, tonic::Code::DeadlineExceeded);
    assert_intempt_error(&vendor_call(&gate, &never).await, 503);
    assert_eq!(gate.in_flight_available(), limits.max_in_flight, "slots given back");
}
