//! Limits: each gives its documented code and the server keeps serving
//! everyone else.

use std::time::Duration;

use consent_proto::v1 as pb;
use consentd::config::AuthMode;
use tonic::Code;
use tonic_types::StatusExt;

use crate::auth::{create_key, keyed_client};
use crate::subscriber::Subscriber;
use crate::support::{TestServer, identity, record_request};

fn small_request() -> pb::RecordConsentRequest {
    record_request(identity("user_id", "u"), "marketing", "", pb::Decision::Granted)
}

#[tokio::test]
async fn an_oversize_message_is_refused_and_others_are_served() {
    let server = TestServer::start_with(|config| config.limits.max_message_bytes = 64 * 1024).await;
    let mut client = server.client().await;
    let mut oversize = small_request();
    oversize.evidence = Some(pb::Evidence { message: "x".repeat(100 * 1024), ..Default::default() });
    let err = client.record_consent(oversize).await.unwrap_err();
    assert_eq!(err.code(), Code::OutOfRange, "{err:?}");
    client.record_consent(small_request()).await.unwrap();
}

#[tokio::test]
async fn a_key_over_its_rate_is_told_when_to_retry_and_others_are_served() {
    let server = TestServer::start_with(|config| {
        config.auth = AuthMode::Required;
        config.limits.calls.rate_per_key = 1;
        config.limits.calls.burst_per_key = 3;
    })
    .await;
    let busy = create_key(&server.database_url(), "acme", &[]);
    let quiet = create_key(&server.database_url(), "acme", &[]);
    let mut client = keyed_client(&server.url(), &busy).await;
    for _ in 0..3 {
        client.record_consent(small_request()).await.unwrap();
    }
    let err = client.record_consent(small_request()).await.unwrap_err();
    assert_eq!(err.code(), Code::ResourceExhausted);
    let retry = err.get_details_retry_info().expect("RetryInfo").retry_delay.expect("a delay");
    assert!(retry > Duration::ZERO && retry <= Duration::from_secs(1));
    let mut other = keyed_client(&server.url(), &quiet).await;
    other.record_consent(small_request()).await.unwrap();

    // The vendor routes say the same in Retry-After (whole seconds, never 0).
    crate::vendors::bind(&server, "acme", "intempt", "demo-organization/demo-project");
    let path = format!("/demo-organization/projects/demo-project/consents/data?apiKey={busy}");
    let body = crate::http_client::fixture("intempt", "consent-accept-analytics-desktop.json");
    let response = crate::http_client::send(
        server.running().http_addr,
        "POST",
        &path,
        &[("content-type", "application/json")],
        &body,
    )
    .await;
    assert_eq!(response.status, 429, "{response:?}");
    assert_eq!(response.header("retry-after"), Some("1"), "{response:?}");
}

#[tokio::test]
async fn streams_beyond_a_tenants_cap_are_refused_and_other_tenants_are_served() {
    let server = TestServer::start_with(|config| {
        config.auth = AuthMode::Required;
        config.feed.max_streams_per_tenant = 2;
    })
    .await;
    let mut acme = keyed_client(&server.url(), &create_key(&server.database_url(), "acme", &[])).await;
    let mut other = keyed_client(&server.url(), &create_key(&server.database_url(), "other", &[])).await;
    let _first = Subscriber::open_keyed(&mut acme, pb::SubscribeRequest::default()).await.unwrap();
    let _second = Subscriber::open_keyed(&mut acme, pb::SubscribeRequest::default()).await.unwrap();
    let err = Subscriber::open_keyed(&mut acme, pb::SubscribeRequest::default()).await.err().unwrap();
    assert_eq!(err.code(), Code::ResourceExhausted);
    let _theirs = Subscriber::open_keyed(&mut other, pb::SubscribeRequest::default()).await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_call_past_the_deadline_cap_is_deadline_exceeded_and_health_still_answers() {
    use sea_orm::{ConnectionTrait, TransactionTrait};

    let server =
        TestServer::start_with(|config| config.limits.calls.max_deadline = Duration::from_millis(300)).await;
    // Another process holds the database's write lock, so a write cannot
    // finish within the cap.
    let other = sea_orm::Database::connect(server.database_url()).await.unwrap();
    let lock = other.begin().await.unwrap();
    lock.execute_unprepared("INSERT INTO store_meta (key, value) VALUES ('held', 'by the test')")
        .await
        .unwrap();

    let mut client = server.client().await;
    let err = client.record_consent(small_request()).await.unwrap_err();
    assert_eq!(err.code(), Code::DeadlineExceeded, "{err:?}");
    let mut health = tonic_health::pb::health_client::HealthClient::new(server.channel().await);
    health.check(tonic_health::pb::HealthCheckRequest { service: String::new() }).await.unwrap();
    // The vendor routes have the same cap, answered in the vendor's shape.
    let response = intempt_record(&server).await;
    assert_eq!(response.status, 503, "{response:?}");
    assert!(response.json()["error"].is_string());

    lock.rollback().await.unwrap();
    client.query_consents(pb::QueryConsentsRequest::default()).await.unwrap();
}

/// A raw HTTP/2 connection to the server, with its driver task.
async fn raw_h2(
    addr: std::net::SocketAddr,
) -> (h2::client::SendRequest<bytes::Bytes>, Option<h2::PingPong>, tokio::task::JoinHandle<()>) {
    let tcp = tokio::net::TcpStream::connect(addr).await.unwrap();
    let (sender, mut connection) = h2::client::handshake(tcp).await.unwrap();
    let ping_pong = connection.ping_pong();
    let driver = tokio::spawn(async move {
        let _ = connection.await;
    });
    (sender, ping_pong, driver)
}

fn query_request(addr: std::net::SocketAddr) -> tonic::codegen::http::Request<()> {
    tonic::codegen::http::Request::builder()
        .method("POST")
        .uri(format!("http://{addr}/consent.v1.ConsentService/QueryConsents"))
        .header("content-type", "application/grpc")
        .header("te", "trailers")
        .body(())
        .unwrap()
}

/// Raw HTTP/2 abuse: streams opened and reset at once (the rapid-reset
/// attack), many streams opened and never finished, and a burst of pings.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn http2_abuse_leaves_the_server_responsive() {
    let server = TestServer::start().await;
    let addr = server.running().grpc_addr;

    // Rapid reset: the server closes the connection long before 5000.
    let (sender, _, resetting) = raw_h2(addr).await;
    let mut sender = sender.ready().await.unwrap();
    let mut reset = 0;
    for _ in 0..5000 {
        let Ok(ready) = sender.clone().ready().await else { break };
        sender = ready;
        let Ok((response, mut body)) = sender.send_request(query_request(addr), false) else { break };
        body.send_reset(h2::Reason::CANCEL);
        drop(response);
        reset += 1;
    }
    assert!(reset < 5000, "the server never closed a connection that only reset streams");

    // Streams left open (headers, no body) as far as the server allows, and
    // pings in a tight loop on the same connection.
    let (sender, ping_pong, holding) = raw_h2(addr).await;
    let mut sender = sender.ready().await.unwrap();
    let mut open = Vec::new();
    for _ in 0..1000 {
        let Ok(Ok(ready)) = tokio::time::timeout(Duration::from_millis(200), sender.clone().ready()).await
        else {
            break;
        };
        sender = ready;
        let Ok(stream) = sender.send_request(query_request(addr), false) else { break };
        open.push(stream);
    }
    let mut pings = 0;
    if let Some(mut ping_pong) = ping_pong {
        while pings < 2000 && ping_pong.ping(h2::Ping::opaque()).await.is_ok() {
            pings += 1;
        }
    }
    // (h2 queues streams beyond the server's SETTINGS_MAX_CONCURRENT_STREAMS
    // on the client side, so the server holds at most that many.)
    eprintln!("abuser reset {reset} streams, opened {} unfinished, sent {pings} pings", open.len());

    // A well-behaved client on its own connection is served normally.
    let mut client = server.client().await;
    client.record_consent(small_request()).await.unwrap();
    client.query_consents(pb::QueryConsentsRequest::default()).await.unwrap();
    drop(open);
    resetting.abort();
    holding.abort();
}

#[tokio::test]
async fn an_http_client_that_never_finishes_its_headers_is_disconnected() {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    let server =
        TestServer::start_with(|config| config.limits.http_header_timeout = Duration::from_millis(200)).await;
    let http = server.running().http_addr;
    let mut slow = tokio::net::TcpStream::connect(http).await.unwrap();
    slow.write_all(b"GET /healthz HTTP/1.1\r\nHost: consentd.test\r\n").await.unwrap();
    let mut rest = Vec::new();
    let closed = tokio::time::timeout(Duration::from_secs(10), slow.read_to_end(&mut rest)).await;
    assert!(closed.is_ok(), "the server kept a connection with unfinished headers open");
    assert_eq!(crate::health::http_get(http, "/healthz").await.0, 200, "others are still served");
}

/// Overload is refused at once, never queued: with a connection's calls all
/// running (writes held by a lock another process took), the next calls on
/// it are refused with RESOURCE_EXHAUSTED rather than waiting for a slot;
/// and a vendor route over the server's in-flight cap gets the vendor's 429.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn calls_beyond_capacity_are_refused_at_once_not_queued() {
    use sea_orm::{ConnectionTrait, TransactionTrait};

    let server = TestServer::start_with(|config| {
        config.limits.concurrency_per_connection = 2;
        config.limits.calls.max_in_flight = 4;
        config.limits.calls.max_deadline = Duration::from_secs(20);
    })
    .await;
    let other = sea_orm::Database::connect(server.database_url()).await.unwrap();
    let lock = other.begin().await.unwrap();
    lock.execute_unprepared("INSERT INTO store_meta (key, value) VALUES ('held', 'by the test')")
        .await
        .unwrap();

    // One connection, twelve writes at once: two run (and wait on the lock),
    // the others are refused without waiting for them.
    let client = server.client().await;
    let calls = spawn_writes(&client, "u", 12);
    // The ten refusals arrive while the two admitted writes still wait.
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    while calls.iter().filter(|call| call.is_finished()).count() < 10 {
        assert!(tokio::time::Instant::now() < deadline, "calls beyond the connection's limit were queued");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    assert_eq!(
        calls.iter().filter(|call| call.is_finished()).count(),
        10,
        "the admitted writes finished under the lock"
    );

    // A second connection fills the server's in-flight cap of four, and the
    // vendor route is refused in the vendor's shape.
    let second = server.client().await;
    let held = spawn_writes(&second, "v", 2);
    // Nothing holds those two back from starting: give them a moment.
    tokio::time::sleep(Duration::from_millis(300)).await;
    let response = intempt_record(&server).await;
    assert_eq!(response.status, 429, "{response:?}");
    assert_eq!(response.header("retry-after"), Some("1"), "Intempt's SDK reads Retry-After");

    lock.rollback().await.unwrap();
    // Refused: exactly the ten beyond the connection's limit. (The admitted
    // ones waited on the lock; they end as the store decides.)
    let mut refused = 0;
    for call in calls {
        if let Err(status) = call.await.unwrap()
            && status.code() == Code::ResourceExhausted
        {
            assert!(
                status.get_details_retry_info().is_some(),
                "RetryInfo on an overload refusal: {status:?}"
            );
            refused += 1;
        }
    }
    assert_eq!(refused, 10);
    for call in held {
        let _ = call.await.unwrap();
    }
}

/// `count` writes on `client`'s connection, each of its own user, all at
/// once.
fn spawn_writes(
    client: &crate::support::Client,
    prefix: &str,
    count: usize,
) -> Vec<tokio::task::JoinHandle<Result<(), tonic::Status>>> {
    (0..count)
        .map(|n| {
            let mut client = client.clone();
            let user = format!("{prefix}{n}");
            tokio::spawn(async move {
                let request =
                    record_request(identity("user_id", &user), "marketing", "", pb::Decision::Granted);
                client.record_consent(request).await.map(drop)
            })
        })
        .collect()
}

/// Intempt's documented consent POST, on the vendor route.
async fn intempt_record(server: &TestServer) -> crate::http_client::HttpResponse {
    crate::http_client::send(
        server.running().http_addr,
        "POST",
        "/demo-organization/projects/demo-project/consents/data",
        &[("content-type", "application/json")],
        &crate::http_client::fixture("intempt", "consent-accept-analytics-desktop.json"),
    )
    .await
}

/// A call the store does not finish is ended at the deadline cap on both
/// ports, each in its own shape: DEADLINE_EXCEEDED over gRPC, the vendor's
/// 503 on a vendor route (before, a vendor call had no deadline and waited
/// as long as the store did). Another session holds the records table on
/// PostgreSQL, whose statement timeout is set far beyond the test's patience.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_call_the_store_does_not_finish_ends_at_the_deadline_on_both_ports() {
    use sea_orm::{ConnectionTrait, TransactionTrait};

    let database = consent_store::testing::TestDatabase::postgres().await;
    let server = TestServer::start_with(|config| {
        config.store = consent_store::StoreOptions::new(database.url.clone());
        config.store.statement_timeout = Duration::from_secs(300);
        config.limits.calls.max_deadline = Duration::from_millis(500);
    })
    .await;
    let other = sea_orm::Database::connect(database.url.as_str()).await.unwrap();
    let holder = other.begin().await.unwrap();
    holder.execute_unprepared("LOCK TABLE consent_records IN ACCESS EXCLUSIVE MODE").await.unwrap();
    let guard = Duration::from_secs(30);

    let mut client = server.client().await;
    let outcome = tokio::time::timeout(guard, client.record_consent(small_request()))
        .await
        .expect("the gRPC call was held past its deadline");
    assert_eq!(outcome.unwrap_err().code(), Code::DeadlineExceeded);

    let response = tokio::time::timeout(guard, intempt_record(&server))
        .await
        .expect("the vendor call was held past its deadline");
    assert_eq!(response.status, 503, "{response:?}");
    // Intempt's error shape.
    assert!(response.json()["message"].is_string(), "{response:?}");
    holder.rollback().await.unwrap();
}

/// A vendor request whose body stops arriving is answered, in the vendor's
/// shape naming the body, once the body timeout passes: it does not hold its
/// connection and handler for as long as the client likes (the slow-body
/// attack; the header timeout covers only the headers).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_body_that_stops_arriving_is_answered_at_the_body_timeout() {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    let server =
        TestServer::start_with(|config| config.limits.http_body_timeout = Duration::from_millis(300)).await;
    let mut stream = tokio::net::TcpStream::connect(server.running().http_addr).await.unwrap();
    let head = "POST /demo-organization/projects/demo-project/consents/data HTTP/1.1\r\nHost: consentd.test\r\n\
                content-type: application/json\r\ncontent-length: 100\r\n\r\n{\"consents\":";
    stream.write_all(head.as_bytes()).await.unwrap();
    let mut answer = Vec::new();
    tokio::time::timeout(Duration::from_secs(30), stream.read_to_end(&mut answer))
        .await
        .expect("the server waited for the rest of the body")
        .unwrap();
    let answer = String::from_utf8_lossy(&answer);
    assert!(answer.starts_with("HTTP/1.1 400"), "{answer}");
    assert!(answer.contains("body"), "{answer}");

    // Everyone else is still served.
    assert_eq!(intempt_record(&server).await.status, 200);
}

/// An HTTP listener holds at most `max_http_connections` connections: the
/// next client is accepted only when one of them closes, and is then served.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_http_listener_holds_at_most_its_connection_limit() {
    let server = TestServer::start_with(|config| config.limits.max_http_connections = 2).await;
    let addr = server.running().http_addr;
    let first = tokio::net::TcpStream::connect(addr).await.unwrap();
    let second = tokio::net::TcpStream::connect(addr).await.unwrap();
    // The kernel completes the third handshake; consentd does not take the
    // connection while two are open.
    let third = tokio::spawn(crate::health::http_get(addr, "/healthz"));
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert!(!third.is_finished(), "a third connection was served while two were open");
    drop(first);
    let (status, _) = tokio::time::timeout(Duration::from_secs(30), third)
        .await
        .expect("the waiting client was never served")
        .unwrap();
    assert_eq!(status, 200);
    drop(second);
}
