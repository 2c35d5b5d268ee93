//! Read-your-writes tokens, retries, and the self-resuming feed.

use std::time::Duration;

use consent_client::proto::{
    CheckConsentRequest, ConsentStatus, Decision, Identity, PurposeDecision, RecordConsentRequest,
    SubjectRef, SubscribeRequest, subject_ref,
};
use consent_client::{Client, ConnectOptions, Credentials, FeedItem, RetryPolicy};
use consentd::config::{AuthMode, Config, DatabaseArgs, ServeArgs};
use consentd::server::{self, RunningServer};
use futures_util::StreamExt;

use crate::proxy::Proxy;

/// A consentd on its own SQLite file, keys off.
async fn consentd(dir: &tempfile::TempDir, name: &str) -> RunningServer {
    consentd_with_heartbeats(dir, name, Duration::from_millis(200)).await
}

/// The same, sending heartbeats to idle streams this often.
async fn consentd_with_heartbeats(
    dir: &tempfile::TempDir,
    name: &str,
    heartbeats: Duration,
) -> RunningServer {
    let args = ServeArgs {
        database: DatabaseArgs {
            database_url: Some(format!("sqlite://{}?mode=rwc", dir.path().join(name).display())),
        },
        grpc_listen: Some("127.0.0.1:0".parse().expect("address")),
        http_listen: Some("127.0.0.1:0".parse().expect("address")),
        auth: Some(AuthMode::Disabled),
        ..ServeArgs::default()
    };
    let mut config = Config::load(&args).expect("configuration");
    config.feed.heartbeat_interval = heartbeats;
    server::start(&config).await.expect("server starts")
}

fn client(proxy: &Proxy, retry: RetryPolicy) -> Client {
    let mut options = ConnectOptions::new(proxy.addr.to_string(), Credentials::None);
    options.retry = retry;
    options.timeout = Some(Duration::from_secs(5));
    Client::connect(&options).expect("client")
}

fn grant(user: u32) -> RecordConsentRequest {
    RecordConsentRequest {
        identities: vec![Identity { namespace: "user_id".into(), value: user.to_string() }],
        decisions: vec![PurposeDecision {
            purpose: "analytics".into(),
            target: String::new(),
            decision: Decision::Granted as i32,
        }],
        ..RecordConsentRequest::default()
    }
}

fn check(user: u32) -> CheckConsentRequest {
    CheckConsentRequest {
        subject: Some(SubjectRef {
            subject: Some(subject_ref::Subject::Identity(Identity {
                namespace: "user_id".into(),
                value: user.to_string(),
            })),
        }),
        purpose: "analytics".into(),
        ..CheckConsentRequest::default()
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn a_check_carries_the_revision_of_the_last_write() {
    let dir = tempfile::tempdir().expect("dir");
    let (first, second) = (consentd(&dir, "first.db").await, consentd(&dir, "second.db").await);
    let proxy = Proxy::start(first.grpc_addr).await;
    let client = client(&proxy, RetryPolicy::default());
    let written = client.record(grant(1)).await.expect("recorded");
    client.record(grant(2)).await.expect("recorded");
    assert_eq!(client.last_revision(), written.revision + 1);
    let granted = client.check(check(1)).await.expect("checked");
    assert_eq!(granted.status, ConsentStatus::Granted as i32);

    // The address now reaches a store that has not seen those writes (as a
    // lagging replica would): the client's token makes the check refuse
    // rather than answer from it, and a clone carries the same token.
    proxy.point(Some(second.grpc_addr));
    proxy.cut();
    let refused = client.clone().check(check(1)).await.expect_err("the store is behind the token");
    assert_eq!(refused.code(), tonic::Code::FailedPrecondition, "{refused:?}");
    let fresh = self::client(&proxy, RetryPolicy::none());
    assert_eq!(fresh.check(check(1)).await.expect("checked").status, ConsentStatus::Unknown as i32);
}

#[tokio::test(flavor = "multi_thread")]
async fn calls_are_retried_with_backoff_while_the_server_is_away() {
    let dir = tempfile::tempdir().expect("dir");
    let server = consentd(&dir, "consentd.db").await;
    let proxy = Proxy::start(server.grpc_addr).await;
    let patient = client(&proxy, RetryPolicy::default());
    patient.record(grant(1)).await.expect("recorded");

    proxy.point(None);
    proxy.cut();
    let impatient = client(&proxy, RetryPolicy::none());
    let failed = impatient.check(check(1)).await.expect_err("the server is away");
    // The proxy takes the connection and closes it: the transport's error.
    assert!(
        matches!(failed.code(), tonic::Code::Unavailable | tonic::Code::Cancelled | tonic::Code::Unknown),
        "{failed:?}"
    );

    let back = proxy.clone();
    let addr = server.grpc_addr;
    tokio::spawn(async move {
        tokio::time::sleep(Duration::from_millis(400)).await;
        back.point(Some(addr));
    });
    // A write without a key is given one, so its retries cannot write twice.
    let written = patient.record(grant(2)).await.expect("recorded after retries");
    assert_eq!(written.records.len(), 1);
    let answer = patient.check(check(2)).await.expect("checked");
    assert_eq!(answer.status, ConsentStatus::Granted as i32);
}

#[tokio::test(flavor = "multi_thread")]
async fn the_feed_resumes_after_cuts_without_a_gap_or_a_duplicate() {
    let dir = tempfile::tempdir().expect("dir");
    let server = consentd(&dir, "consentd.db").await;
    let proxy = Proxy::start(server.grpc_addr).await;
    let writer = client(&proxy, RetryPolicy::default());
    for user in 1..=3 {
        writer.record(grant(user)).await.expect("recorded");
    }
    let follower = client(&proxy, RetryPolicy::default());
    let mut feed =
        follower.subscribe(SubscribeRequest { from_beginning: true, ..SubscribeRequest::default() });
    let mut seen = Vec::new();
    let mut next_user = 4;
    while seen.len() < 12 {
        let item = tokio::time::timeout(Duration::from_secs(30), feed.next())
            .await
            .unwrap_or_else(|_| panic!("no event after {seen:?}"))
            .expect("the feed goes on")
            .expect("no final error");
        if let FeedItem::Event(event) = item {
            seen.push(event.revision);
            // Every third event the connection is cut, and a write lands
            // while the feed is away.
            if event.revision % 3 == 0 {
                proxy.cut();
                writer.record(grant(next_user)).await.expect("recorded");
                writer.record(grant(next_user + 1)).await.expect("recorded");
                writer.record(grant(next_user + 2)).await.expect("recorded");
                next_user += 3;
            }
        }
    }
    assert_eq!(seen, (1..=12).collect::<Vec<i64>>());
}

/// The crate's example, run as written against a real consentd.
#[path = "../../examples/quickstart.rs"]
#[allow(dead_code)]
mod quickstart;

#[tokio::test(flavor = "multi_thread")]
async fn the_quickstart_example_runs_against_consentd() {
    let dir = tempfile::tempdir().expect("dir");
    let server = consentd(&dir, "consentd.db").await;
    let proxy = Proxy::start(server.grpc_addr).await;
    let said =
        quickstart::run(&client(&proxy, RetryPolicy::default()), "ann@example.com").await.expect("ran");
    assert_eq!(
        said,
        [
            "recorded at revision 1",
            "marketing: Granted",
            "updated at revision 2",
            "marketing: Denied",
            "feed: revision 2 Updated",
        ]
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_live_feed_cut_before_its_first_message_misses_nothing() {
    let dir = tempfile::tempdir().expect("dir");
    // No heartbeat comes in time to give the feed a resume token.
    let server = consentd_with_heartbeats(&dir, "consentd.db", Duration::from_secs(60)).await;
    let proxy = Proxy::start(server.grpc_addr).await;
    let mut direct = ConnectOptions::new(server.grpc_addr.to_string(), Credentials::None);
    direct.retry = RetryPolicy::default();
    let writer = Client::connect(&direct).expect("client");
    writer.record(grant(1)).await.expect("recorded");

    let follower = client(&proxy, RetryPolicy::default());
    // Live: events from now on.
    let mut feed = follower.subscribe(SubscribeRequest::default());
    tokio::time::sleep(Duration::from_millis(500)).await;
    // The feed is cut off, a write lands while it is away, and it comes back.
    proxy.point(None);
    proxy.cut();
    let written = writer.record(grant(2)).await.expect("recorded");
    tokio::time::sleep(Duration::from_millis(300)).await;
    proxy.point(Some(server.grpc_addr));
    let item = tokio::time::timeout(Duration::from_secs(20), feed.next())
        .await
        .expect("the write made while the feed was away arrives")
        .expect("the feed goes on")
        .expect("no final error");
    match item {
        FeedItem::Event(event) => assert_eq!(event.revision, written.revision),
        FeedItem::Heartbeat(heartbeat) => panic!("a heartbeat first: {heartbeat:?}"),
    }
}
