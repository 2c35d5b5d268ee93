//! A database outage, made by cutting a loopback TCP proxy between consentd
//! and PostgreSQL (never by stopping the shared server): calls fail fast with
//! UNAVAILABLE, health turns NOT_SERVING, the service recovers by itself, no
//! acknowledged write is lost and a subscriber resumes without a gap.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use consent_proto::v1 as pb;
use consent_store::StoreOptions;
use consent_store::testing::{TestDatabase, postgres_server_url};
use tonic::Code;
use tonic_health::pb::HealthCheckRequest;
use tonic_health::pb::health_check_response::ServingStatus;
use tonic_health::pb::health_client::HealthClient;

use crate::health::http_get;
use crate::process::TcpProxy;
use crate::subscriber::{Message, Subscriber};
use crate::support::{Client, TestServer, history, identity, record_request};

/// Polls the gRPC health status until it is `wanted` (bounded).
async fn wait_for_health(health: &mut HealthClient<tonic::transport::Channel>, wanted: ServingStatus) {
    for _ in 0..100 {
        let status = health
            .check(HealthCheckRequest { service: "consent.v1.ConsentService".into() })
            .await
            .unwrap()
            .into_inner()
            .status();
        if status == wanted {
            return;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("health never became {wanted:?}");
}

/// Writes until told to stop; returns the acknowledged records and the codes
/// of the failed calls.
async fn keep_writing(mut client: Client, stop: Arc<AtomicBool>) -> (Vec<pb::ConsentRecord>, Vec<Code>) {
    let mut acknowledged = Vec::new();
    let mut failures = Vec::new();
    let mut n = 0;
    while !stop.load(Ordering::Relaxed) {
        n += 1;
        let mut request = tonic::Request::new(record_request(
            identity("user_id", &format!("load-{n}")),
            "marketing",
            "",
            pb::Decision::Granted,
        ));
        request.set_timeout(Duration::from_secs(15));
        match client.record_consent(request).await {
            Ok(response) => acknowledged.extend(response.into_inner().records),
            Err(status) => {
                failures.push(status.code());
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
        }
    }
    (acknowledged, failures)
}

/// Follows the feed from the beginning, resuming after every end, until a
/// heartbeat reaches `final_head` once `done` is set.
async fn follow(
    mut client: Client,
    done: Arc<AtomicBool>,
    final_head: Arc<std::sync::atomic::AtomicI64>,
) -> (Vec<i64>, usize) {
    let mut delivered = Vec::new();
    let mut position = 0;
    let mut resumes = 0;
    loop {
        let request = if position == 0 {
            pb::SubscribeRequest { from_beginning: true, ..Default::default() }
        } else {
            pb::SubscribeRequest { after_revision: position, ..Default::default() }
        };
        let Ok(mut stream) = Subscriber::open(&mut client, request).await else {
            tokio::time::sleep(Duration::from_millis(100)).await;
            continue;
        };
        loop {
            match stream.next().await {
                Message::Event(event) => {
                    position = event.revision;
                    delivered.push(event.revision);
                }
                Message::Heartbeat(beat) => {
                    position = beat.revision;
                    if done.load(Ordering::Relaxed) && beat.revision >= final_head.load(Ordering::Relaxed) {
                        return (delivered, resumes);
                    }
                }
                Message::End(status) => {
                    assert_eq!(status.code(), Code::Unavailable, "{status:?}");
                    resumes += 1;
                    break;
                }
                Message::Closed => break,
            }
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_outage_fails_fast_loses_nothing_and_heals() {
    let database = TestDatabase::postgres().await;
    let server_addr = postgres_server_url().rsplit('@').next().unwrap().to_owned();
    let proxy = TcpProxy::start(&server_addr).await;
    let proxied_url = format!("postgres://postgres@{}/{}", proxy.addr, database.postgres_name().unwrap());
    let server = TestServer::start_with(|config| {
        let mut store = StoreOptions::new(proxied_url);
        store.acquire_timeout = Duration::from_secs(2);
        config.store = store;
        config.health_interval = Duration::from_millis(100);
    })
    .await;
    let client = server.client().await;
    let mut health = HealthClient::new(server.channel().await);

    let stop_writing = Arc::new(AtomicBool::new(false));
    let writer = tokio::spawn(keep_writing(client.clone(), Arc::clone(&stop_writing)));
    let done = Arc::new(AtomicBool::new(false));
    let final_head = Arc::new(std::sync::atomic::AtomicI64::new(i64::MAX));
    let follower = tokio::spawn(follow(client.clone(), Arc::clone(&done), Arc::clone(&final_head)));
    tokio::time::sleep(Duration::from_millis(500)).await;

    proxy.cut();
    wait_for_health(&mut health, ServingStatus::NotServing).await;
    assert_eq!(http_get(server.running().http_addr, "/readyz").await.0, 503);
    // Unready, not dead: a liveness probe must not restart the pod for an
    // outage of the database.
    let server_health = health.check(HealthCheckRequest { service: String::new() }).await.unwrap();
    assert_eq!(server_health.into_inner().status(), ServingStatus::Serving);
    assert_eq!(http_get(server.running().http_addr, "/healthz").await.0, 200);
    // A call now fails fast with UNAVAILABLE: within its deadline, so not
    // DEADLINE_EXCEEDED, and not a hang.
    let mut probe = client.clone();
    let mut request = tonic::Request::new(record_request(
        identity("user_id", "during"),
        "marketing",
        "",
        pb::Decision::Granted,
    ));
    request.set_timeout(Duration::from_secs(15));
    assert_eq!(probe.record_consent(request).await.unwrap_err().code(), Code::Unavailable);
    tokio::time::sleep(Duration::from_millis(500)).await;

    proxy.restore();
    wait_for_health(&mut health, ServingStatus::Serving).await;
    assert_eq!(http_get(server.running().http_addr, "/readyz").await.0, 200);
    tokio::time::sleep(Duration::from_millis(500)).await;
    stop_writing.store(true, Ordering::Relaxed);
    let (acknowledged, failures) = writer.await.unwrap();
    assert!(!acknowledged.is_empty());
    assert!(
        failures.iter().all(|code| *code == Code::Unavailable),
        "failures during the outage: {failures:?}"
    );

    let mut reader = client.clone();
    let stored = history(&mut reader).await;
    let stored_ids: std::collections::HashSet<_> = stored.iter().map(|r| r.id.clone()).collect();
    assert!(acknowledged.iter().all(|r| stored_ids.contains(&r.id)), "an acknowledged write was lost");

    final_head.store(stored.last().unwrap().revision, Ordering::Relaxed);
    done.store(true, Ordering::Relaxed);
    let (delivered, resumes) = follower.await.unwrap();
    assert!(resumes >= 1, "the subscriber's stream should have ended during the outage");
    let expected: Vec<i64> = stored.iter().map(|r| r.revision).collect();
    assert_eq!(delivered, expected, "the subscriber missed or repeated events across the outage");
}
