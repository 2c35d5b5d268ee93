//! Webhooks delivered from the change feed, to a receiver on loopback:
//! signed and in order, retried through a receiver's outage, resumed after a
//! crash, parked and redelivered, refused outside the allowlist or on private
//! addresses, delivered by one replica at a time. (Managed over gRPC:
//! `webhook_admin.rs`.)

use std::collections::BTreeMap;
use std::time::Duration;

use consent_proto::v1 as pb;
use consent_proto::v1::consent_service_client::ConsentServiceClient;
use consent_proto::v1::webhook_service_client::WebhookServiceClient;
use serde_json::{Value, json};
use tonic::Code;
use tonic::transport::Channel;

use crate::http_client::{HttpResponse, send};
use crate::process::ConsentdProcess;
use crate::support::{Client, TestServer, by_identity, identity, record, two_replicas};
use crate::webhook_receiver::{Delivery, Receiver};

const WAIT: Duration = Duration::from_secs(30);

/// Subscribes through Secure Privacy's route (auth disabled).
async fn subscribe(http: std::net::SocketAddr, body: &Value) -> HttpResponse {
    let bytes = serde_json::to_vec(body).unwrap();
    send(http, "POST", "/api/universalconsent/subscribe", &[("content-type", "application/json")], &bytes)
        .await
}

/// Subscribes and returns the subscription id and secret.
async fn subscribed(http: std::net::SocketAddr, body: Value) -> (String, String) {
    let response = subscribe(http, &body).await;
    assert_eq!(response.status, 200, "{response:?}");
    let json = response.json();
    (json["SubscriptionId"].as_str().unwrap().to_owned(), json["Secret"].as_str().unwrap().to_owned())
}

async fn webhooks(server: &TestServer) -> WebhookServiceClient<Channel> {
    WebhookServiceClient::new(server.channel().await)
}

async fn subscription(client: &mut WebhookServiceClient<Channel>, id: &str) -> pb::WebhookSubscription {
    client
        .get_webhook_subscription(pb::GetWebhookSubscriptionRequest { id: id.into() })
        .await
        .unwrap()
        .into_inner()
        .subscription
        .unwrap()
}

/// Polls the subscription until `done` holds for it.
async fn wait_for_state(
    client: &mut WebhookServiceClient<Channel>,
    id: &str,
    done: impl Fn(&pb::WebhookSubscription) -> bool,
) -> pb::WebhookSubscription {
    let deadline = tokio::time::Instant::now() + WAIT;
    loop {
        let state = subscription(client, id).await;
        if done(&state) {
            return state;
        }
        assert!(tokio::time::Instant::now() < deadline, "not reached: {state:?}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// The delivery log, oldest first.
async fn log(client: &mut WebhookServiceClient<Channel>, id: &str) -> Vec<pb::WebhookDelivery> {
    let mut all = Vec::new();
    let mut page_token = String::new();
    loop {
        let page = client
            .list_webhook_deliveries(pb::ListWebhookDeliveriesRequest {
                subscription_id: id.into(),
                page_size: 3,
                page_token,
            })
            .await
            .unwrap()
            .into_inner();
        all.extend(page.deliveries);
        if page.next_page_token.is_empty() {
            all.reverse();
            return all;
        }
        page_token = page.next_page_token;
    }
}

async fn record_n(client: &mut Client, n: usize, purpose: &str) -> Vec<i64> {
    let mut revisions = Vec::new();
    for i in 0..n {
        let response =
            record(client, identity("user_id", &format!("p{i}")), purpose, "", pb::Decision::Granted).await;
        revisions.push(response.revision);
    }
    revisions
}

/// Revisions in the order they were first delivered successfully.
fn first_accepted(deliveries: &[Delivery]) -> Vec<i64> {
    let mut seen = Vec::new();
    for delivery in deliveries.iter().filter(|d| (200..300).contains(&d.answered)) {
        if !seen.contains(&delivery.revision()) {
            seen.push(delivery.revision());
        }
    }
    seen
}

fn covers(revisions: &[i64]) -> impl Fn(&[Delivery]) -> bool + '_ {
    move |deliveries| {
        let accepted = first_accepted(deliveries);
        revisions.iter().all(|r| accepted.contains(r))
    }
}

#[tokio::test]
async fn changes_arrive_signed_in_order_with_stable_event_ids() {
    let server = TestServer::start().await;
    let receiver = Receiver::start().await;
    let (id, secret) = subscribed(
        server.running().http_addr,
        json!({"WebhookUrl": receiver.url("/hooks/consent"), "ConsentType": "marketing"}),
    )
    .await;
    assert!(secret.starts_with("whsec_"), "{secret}");
    let mut client = server.client().await;
    // Only marketing and all-purposes changes match.
    let mut expected = Vec::new();
    for (i, purpose) in ["marketing", "analytics", "", "marketing", "analytics"].iter().enumerate() {
        let written =
            record(&mut client, identity("user_id", &format!("u{i}")), purpose, "", pb::Decision::Granted)
                .await;
        if *purpose != "analytics" {
            expected.push(written.revision);
        }
    }
    let updated = client
        .update_consent(pb::UpdateConsentRequest {
            subject: by_identity(identity("user_id", "u0")),
            purpose: "marketing".into(),
            decision: pb::Decision::Denied.into(),
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner();
    expected.push(updated.revision);

    let deliveries = receiver.wait_until(WAIT, "every matching change", covers(&expected)).await;
    assert_eq!(first_accepted(&deliveries), expected, "in revision order, nothing else");
    let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_secs();
    for delivery in &deliveries {
        assert!(delivery.signature_verifies(&secret), "signature of {delivery:?}");
        assert!(!delivery.signature_verifies("whsec_AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA="));
        let timestamp: u64 = delivery.header("webhook-timestamp").parse().unwrap();
        assert!(now.abs_diff(timestamp) < 300);
        assert_eq!(delivery.body["EventId"], delivery.event_id());
        assert_eq!(delivery.body["SubscriptionId"], id.as_str());
        assert_eq!(delivery.header("content-type"), "application/json");
    }
    let last = deliveries.last().unwrap();
    assert_eq!(last.body["EventType"], "consent.updated");
    assert_eq!(last.body["Consent"]["ConsentGiven"], "None");
    assert_eq!(last.body["Consent"]["ConsentType"], "marketing");
    assert_eq!(deliveries[0].body["EventType"], "consent.recorded");
    assert_eq!(deliveries[0].body["Consent"]["ConsentGiven"], "All");
    let ids: std::collections::HashSet<&str> = deliveries.iter().map(Delivery::event_id).collect();
    assert_eq!(ids.len(), deliveries.len(), "one event id per change");

    // The cursor follows the acknowledgements.
    let mut management = webhooks(&server).await;
    let last = *expected.last().unwrap();
    let state = wait_for_state(&mut management, &id, |s| s.cursor_revision == last).await;
    assert_eq!(state.state(), pb::WebhookState::Active);
}

#[tokio::test]
async fn a_failing_receiver_is_retried_until_it_recovers() {
    let server = TestServer::start().await;
    let receiver = Receiver::start().await;
    receiver.fail_next(3);
    let (id, secret) =
        subscribed(server.running().http_addr, json!({"WebhookUrl": receiver.url("/h")})).await;
    let mut client = server.client().await;
    let revisions = record_n(&mut client, 3, "marketing").await;

    let deliveries = receiver.wait_until(WAIT, "all changes after the outage", covers(&revisions)).await;
    assert_eq!(first_accepted(&deliveries), revisions);
    // The first change was tried four times, with the same event id each time.
    let first: Vec<&Delivery> = deliveries.iter().filter(|d| d.revision() == revisions[0]).collect();
    assert_eq!(first.iter().map(|d| d.answered).collect::<Vec<_>>(), [503, 503, 503, 200]);
    assert!(first.iter().all(|d| d.event_id() == first[0].event_id() && d.signature_verifies(&secret)));

    let mut management = webhooks(&server).await;
    let entries = wait_for_log(&mut management, &id, 6).await;
    let summary: Vec<(i64, u32, pb::DeliveryOutcome, u32)> =
        entries.iter().map(|e| (e.revision, e.attempt, e.outcome(), e.status_code)).collect();
    assert_eq!(
        summary,
        [
            (revisions[0], 1, pb::DeliveryOutcome::Failed, 503),
            (revisions[0], 2, pb::DeliveryOutcome::Failed, 503),
            (revisions[0], 3, pb::DeliveryOutcome::Failed, 503),
            (revisions[0], 4, pb::DeliveryOutcome::Delivered, 200),
            (revisions[1], 1, pb::DeliveryOutcome::Delivered, 200),
            (revisions[2], 1, pb::DeliveryOutcome::Delivered, 200),
        ]
    );
    assert!(entries[0].error.contains("503"), "{:?}", entries[0]);
    assert_eq!(entries[0].event_id, first[0].event_id());
    // The retries waited: backoff, not a hot loop.
    let attempts: Vec<i64> = entries[..4]
        .iter()
        .map(|e| {
            e.attempt_time.unwrap().seconds * 1_000_000 + i64::from(e.attempt_time.unwrap().nanos) / 1000
        })
        .collect();
    assert!(attempts.windows(2).all(|w| w[1] - w[0] >= 25_000), "{attempts:?}");
    let state = wait_for_state(&mut management, &id, |s| s.cursor_revision == revisions[2]).await;
    assert_eq!((state.failures, state.last_error.as_str()), (0, ""));
}

#[tokio::test]
async fn a_permanently_failing_receiver_is_parked_and_can_be_redelivered() {
    let server = TestServer::start().await;
    let receiver = Receiver::start().await;
    receiver.answer(500);
    let (id, _) = subscribed(server.running().http_addr, json!({"WebhookUrl": receiver.url("/h")})).await;
    let mut client = server.client().await;
    let revisions = record_n(&mut client, 2, "marketing").await;

    let mut management = webhooks(&server).await;
    let parked = wait_for_state(&mut management, &id, |s| s.state() == pb::WebhookState::Parked).await;
    assert_eq!(parked.failures, 4, "max_attempts in the test configuration");
    assert!(parked.last_error.contains("500"), "{parked:?}");
    assert!(parked.park_time.is_some());
    assert_eq!(parked.cursor_revision, revisions[0] - 1, "nothing was acknowledged");
    tokio::time::sleep(Duration::from_millis(600)).await;
    assert_eq!(receiver.deliveries().len(), 4, "a parked subscription is not attempted");

    receiver.answer(200);
    let redelivered = management
        .redeliver_webhook_subscription(pb::RedeliverWebhookSubscriptionRequest {
            id: id.clone(),
            after_revision: None,
        })
        .await
        .unwrap()
        .into_inner()
        .subscription
        .unwrap();
    assert_eq!(redelivered.state(), pb::WebhookState::Active);
    assert_eq!(redelivered.failures, 0);
    let deliveries = receiver.wait_until(WAIT, "delivery after redelivery", covers(&revisions)).await;
    assert_eq!(first_accepted(&deliveries), revisions);

    // A replay from revision 0 delivers both again, with the same event ids.
    let before: BTreeMap<i64, String> =
        deliveries.iter().map(|d| (d.revision(), d.event_id().to_owned())).collect();
    let accepted_before = receiver.accepted().len();
    management
        .redeliver_webhook_subscription(pb::RedeliverWebhookSubscriptionRequest {
            id: id.clone(),
            after_revision: Some(0),
        })
        .await
        .unwrap();
    let replayed = receiver
        .wait_until(WAIT, "the replay", |d| {
            d.iter().filter(|d| d.answered == 200).count() >= accepted_before + 2
        })
        .await;
    for delivery in &replayed {
        assert_eq!(before[&delivery.revision()], delivery.event_id());
    }
    let beyond = management
        .redeliver_webhook_subscription(pb::RedeliverWebhookSubscriptionRequest {
            id,
            after_revision: Some(99),
        })
        .await
        .unwrap_err();
    assert_eq!(beyond.code(), Code::InvalidArgument);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_crash_in_the_middle_loses_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("consentd.toml");
    std::fs::write(
        &config,
        r#"
[webhooks]
allowed_urls = ["http://127.0.0.1:*"]
allowed_networks = ["127.0.0.0/8"]
connect_timeout_ms = 500
response_timeout_ms = 1500
lease_ms = 8000
retry_initial_ms = 50
retry_max_ms = 200
poll_interval_ms = 100
"#,
    )
    .unwrap();
    let config = config.to_str().unwrap().to_owned();
    let spawn = || {
        let dir = dir.path().to_owned();
        let config = config.clone();
        tokio::task::spawn_blocking(move || {
            ConsentdProcess::spawn(&dir, &[("CONSENTD_AUTH", "disabled"), ("CONSENTD_CONFIG", &config)])
        })
    };
    let first = spawn().await.unwrap();
    let receiver = Receiver::start().await;
    receiver.delay(Duration::from_millis(150));
    let (_, secret) = subscribed(first.http_addr, json!({"WebhookUrl": receiver.url("/h")})).await;
    let mut client = ConsentServiceClient::connect(first.url()).await.unwrap();
    let revisions = record_n(&mut client, 20, "marketing").await;
    receiver.wait_until(WAIT, "a few deliveries", |d| first_accepted(d).len() >= 5).await;
    drop(first); // SIGKILL, mid-delivery

    let second = spawn().await.unwrap();
    let deliveries = receiver
        .wait_until(Duration::from_secs(60), "every change after the crash", covers(&revisions))
        .await;
    assert_eq!(first_accepted(&deliveries), revisions, "in order, none missing");
    let mut event_ids: BTreeMap<i64, &str> = BTreeMap::new();
    for delivery in &deliveries {
        assert!(delivery.signature_verifies(&secret));
        let id = event_ids.entry(delivery.revision()).or_insert(delivery.event_id());
        assert_eq!(*id, delivery.event_id(), "a repeated delivery carries the same event id");
    }
    drop(second);
}

#[tokio::test]
async fn urls_outside_the_allowlist_or_on_private_addresses_are_refused_when_subscribing() {
    let receiver = Receiver::start().await;
    let port = receiver.addr.port();
    let server = TestServer::start_with(|config| {
        config.webhooks.allowed_urls =
            ["http://127.0.0.1:*", "http://localhost:*", "http://169.254.169.254", "http://10.0.0.5"]
                .iter()
                .map(|p| p.parse().unwrap())
                .collect();
        config.webhooks.allowed_networks = Vec::new();
    })
    .await;
    let http = server.running().http_addr;
    for (url, why) in [
        (format!("http://example.org:{port}/h"), "allowlist"),
        (format!("https://127.0.0.1:{port}/h"), "allowlist"),
        (format!("http://127.0.0.1:{port}/h"), "127.0.0.1"),
        (format!("http://localhost:{port}/h"), "private"),
        ("http://169.254.169.254/latest/meta-data/".to_owned(), "169.254.169.254"),
        ("http://10.0.0.5/h".to_owned(), "10.0.0.5"),
        ("http://user:pw@127.0.0.1/h".to_owned(), "credentials"),
        ("not a url".to_owned(), "http"),
    ] {
        let response = subscribe(http, &json!({"WebhookUrl": url})).await;
        assert_eq!(response.status, 400, "{url}: {response:?}");
        let body = response.json();
        let message = body["errors"]["WebhookUrl"][0].as_str().unwrap_or_else(|| panic!("{url}: {body}"));
        assert!(message.contains(why), "{url}: {message}");
    }
    let listed = webhooks(&server)
        .await
        .list_webhook_subscriptions(pb::ListWebhookSubscriptionsRequest::default())
        .await
        .unwrap()
        .into_inner();
    assert!(listed.subscriptions.is_empty(), "nothing was subscribed");
}

#[tokio::test]
async fn deliveries_are_refused_when_the_policy_no_longer_allows_the_url() {
    let with_localhost = |config: &mut consentd::config::Config| {
        config.webhooks.allowed_urls.push("http://localhost:*".parse().unwrap());
    };
    let mut server = TestServer::start_with(with_localhost).await;
    let receiver = Receiver::start().await;
    // A name, so the delivery-time check is the client's resolver's.
    let url = format!("http://localhost:{}/h", receiver.addr.port());
    let (id, _) = subscribed(server.running().http_addr, json!({"WebhookUrl": url})).await;

    // Loopback is no longer an allowed network: localhost resolves to refused
    // addresses only, and nothing is sent.
    server
        .restart_with(|config| {
            with_localhost(config);
            config.webhooks.allowed_networks = Vec::new();
        })
        .await;
    let mut client = server.client().await;
    let revisions = record_n(&mut client, 1, "marketing").await;
    let mut management = webhooks(&server).await;
    let refused = wait_for_log(&mut management, &id, 1).await;
    assert_eq!(refused[0].outcome(), pb::DeliveryOutcome::Refused, "{refused:?}");
    assert!(refused[0].error.contains("a private, loopback"), "{refused:?}");
    assert_eq!(refused[0].revision, revisions[0]);

    // A name's refusal may pass later (DNS changes): retried, then parked.
    wait_for_state(&mut management, &id, |s| s.state() == pb::WebhookState::Parked).await;
    let attempts = log(&mut management, &id).await.len();
    assert_eq!(attempts, 4, "max_attempts of the test configuration");

    // The URL is no longer in the allowlist (loopback is allowed again).
    server
        .restart_with(|config| {
            config.webhooks.allowed_urls = vec!["https://hooks.example.com".parse().unwrap()]
        })
        .await;
    let mut management = webhooks(&server).await;
    management
        .redeliver_webhook_subscription(pb::RedeliverWebhookSubscriptionRequest {
            id: id.clone(),
            after_revision: None,
        })
        .await
        .unwrap();
    // A URL outside the allowlist cannot pass until the configuration
    // changes: parked at once.
    let parked = wait_for_state(&mut management, &id, |s| s.state() == pb::WebhookState::Parked).await;
    assert!(parked.last_error.contains("allowlist"), "{parked:?}");
    let entries = log(&mut management, &id).await;
    assert_eq!(entries.len(), attempts + 1, "{entries:?}");
    assert_eq!(entries[attempts].outcome(), pb::DeliveryOutcome::Refused);
    assert!(receiver.deliveries().is_empty(), "nothing reached the receiver");
}

async fn wait_for_log(
    management: &mut WebhookServiceClient<Channel>,
    id: &str,
    entries: usize,
) -> Vec<pb::WebhookDelivery> {
    let deadline = tokio::time::Instant::now() + WAIT;
    loop {
        let found = log(management, id).await;
        if found.len() >= entries {
            return found;
        }
        assert!(tokio::time::Instant::now() < deadline, "only {found:?}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_replica_at_a_time_delivers_a_subscription() {
    let (_database, a, b) = two_replicas().await;
    let receiver = Receiver::start().await;
    receiver.delay(Duration::from_millis(20));
    subscribed(a.running().http_addr, json!({"WebhookUrl": receiver.url("/h")})).await;
    let (mut client_a, mut client_b) = (a.client().await, b.client().await);
    let mut revisions = Vec::new();
    for i in 0..30 {
        let client = if i % 2 == 0 { &mut client_a } else { &mut client_b };
        revisions.push(
            record(client, identity("user_id", &format!("r{i}")), "marketing", "", pb::Decision::Granted)
                .await
                .revision,
        );
    }
    let deliveries = receiver.wait_until(WAIT, "writes through both replicas", covers(&revisions)).await;
    assert_eq!(first_accepted(&deliveries), revisions);
    assert_eq!(receiver.max_in_flight(), 1, "never two deliveries of one subscription at once");
    assert_eq!(deliveries.len(), revisions.len(), "no replica repeated another's delivery");

    // The replica that delivered may stop: the other takes over.
    a.running.unwrap().shutdown().await.unwrap();
    let more = vec![
        record(&mut client_b, identity("user_id", "after"), "marketing", "", pb::Decision::Denied)
            .await
            .revision,
    ];
    receiver.wait_until(WAIT, "a change after one replica stopped", covers(&more)).await;
    assert_eq!(receiver.max_in_flight(), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_slow_backlog_longer_than_the_lease_keeps_one_sender() {
    // A lease of 9 s, attempts of 1.2 s: ten changes outlast it.
    let (_database, a, b) = two_replicas().await;
    let receiver = Receiver::start().await;
    receiver.delay(Duration::from_millis(1200));
    subscribed(a.running().http_addr, json!({"WebhookUrl": receiver.url("/h")})).await;
    let mut client = a.client().await;
    let revisions = record_n(&mut client, 10, "marketing").await;
    let deliveries =
        receiver.wait_until(Duration::from_secs(60), "the whole backlog", covers(&revisions)).await;
    assert_eq!(first_accepted(&deliveries), revisions);
    assert_eq!(receiver.max_in_flight(), 1, "the other replica never took over mid-backlog");
    assert_eq!(deliveries.len(), revisions.len(), "nothing was sent twice");
    drop(b);
}
