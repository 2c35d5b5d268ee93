//! Expiry on the change feed: when a current record's `expires_at` passes,
//! an `EXPIRED` event is appended and delivered like any other — live,
//! resumed across the expiry, once even with two replicas sweeping one
//! PostgreSQL database — while checks answer EXPIRED and the current record
//! stays the one that expired.

use std::collections::BTreeMap;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use consent_proto::v1 as pb;

use crate::subscriber::{Message, Subscriber};
use crate::support::{Client, TestServer, by_id, decision, identity, seconds_ago};

/// A timestamp `millis` from now (negative: in the past).
fn from_now(millis: i64) -> prost_types::Timestamp {
    let now = SystemTime::now().duration_since(UNIX_EPOCH).unwrap().as_millis() as i64 + millis;
    prost_types::Timestamp { seconds: now.div_euclid(1000), nanos: (now.rem_euclid(1000) * 1_000_000) as i32 }
}

/// A grant of `purpose` for `user`, collected a minute ago, expiring at
/// `expires_at`.
async fn grant(
    client: &mut Client,
    user: &str,
    purpose: &str,
    expires_at: prost_types::Timestamp,
) -> pb::ConsentRecord {
    let request = pb::RecordConsentRequest {
        identities: vec![identity("user_id", user)],
        decisions: vec![decision(purpose, "", pb::Decision::Granted)],
        collected_at: Some(seconds_ago(60)),
        expires_at: Some(expires_at),
        source: "web".into(),
        ..Default::default()
    };
    client.record_consent(request).await.unwrap().into_inner().records.remove(0)
}

/// Events until `expired` EXPIRED ones arrived (30 s at most).
async fn until_expired(subscriber: &mut Subscriber, expired: usize) -> Vec<pb::ConsentEvent> {
    let mut events = Vec::new();
    let give_up = tokio::time::Instant::now() + Duration::from_secs(30);
    while events.iter().filter(|e: &&pb::ConsentEvent| e.kind() == pb::EventKind::Expired).count() < expired {
        assert!(tokio::time::Instant::now() < give_up, "expiries never arrived: {events:?}");
        match subscriber.next().await {
            Message::Event(event) => events.push(event),
            Message::Heartbeat(_) => {}
            other @ (Message::End(_) | Message::Closed) => panic!("stream ended: {other:?}"),
        }
    }
    events
}

/// Each expired record's key → how many EXPIRED events named it.
fn expiries_by_key(events: &[pb::ConsentEvent]) -> BTreeMap<(String, String), usize> {
    let mut counts = BTreeMap::new();
    for event in events.iter().filter(|e| e.kind() == pb::EventKind::Expired) {
        let record = event.record.as_ref().unwrap();
        *counts.entry((record.subject_id.clone(), record.purpose.clone())).or_default() += 1;
    }
    counts
}

fn assert_in_revision_order(events: &[pb::ConsentEvent]) {
    let revisions: Vec<i64> = events.iter().map(|e| e.revision).collect();
    assert!(revisions.windows(2).all(|pair| pair[1] == pair[0] + 1), "gapless, in order: {revisions:?}");
}

#[tokio::test]
async fn a_live_subscriber_receives_each_expiry_once_in_order() {
    let server = TestServer::start().await;
    let mut client = server.client().await;
    let request = pb::SubscribeRequest { from_beginning: true, ..Default::default() };
    let mut subscriber = Subscriber::open(&mut client, request).await.unwrap();
    let soon = grant(&mut client, "ann", "marketing", from_now(800)).await;
    let past = grant(&mut client, "bob", "analytics", from_now(-1000)).await;
    let lasting = grant(&mut client, "cat", "marketing", from_now(3_600_000)).await;

    let events = until_expired(&mut subscriber, 2).await;
    assert_in_revision_order(&events);
    let counts = expiries_by_key(&events);
    assert_eq!(counts.len(), 2, "{counts:?}");
    assert!(counts.values().all(|&n| n == 1), "{counts:?}");
    let expired: Vec<&pb::ConsentRecord> = events
        .iter()
        .filter(|e| e.kind() == pb::EventKind::Expired)
        .map(|e| e.record.as_ref().unwrap())
        .collect();
    for record in &expired {
        let original = if record.subject_id == soon.subject_id { &soon } else { &past };
        assert_ne!(record.id, original.id, "an event of its own");
        assert_eq!(record.decision, original.decision, "a copy of the record that expired");
        assert_eq!(record.expires_at, original.expires_at);
        assert_eq!(record.kind(), pb::EventKind::Expired);
    }
    assert!(expired.iter().all(|r| r.subject_id != lasting.subject_id));

    // Checks answer EXPIRED; the current record is still the one that
    // expired; the history holds the announcement.
    let check = client
        .check_consent(pb::CheckConsentRequest {
            subject: by_id(&past.subject_id),
            purpose: "analytics".into(),
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(check.status(), pb::ConsentStatus::Expired);
    assert_eq!(check.record.unwrap().id, past.id);
    let current = client
        .query_consents(pb::QueryConsentsRequest {
            subject_id: past.subject_id.clone(),
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner()
        .records;
    let ids: Vec<&str> = current.iter().map(|r| r.id.as_str()).collect();
    assert_eq!(ids, [past.id.as_str()]);

    // Nothing is announced twice: a later sweep finds nothing more.
    tokio::time::sleep(Duration::from_millis(800)).await;
    let head = client
        .query_consents(pb::QueryConsentsRequest { history: true, page_size: 100, ..Default::default() })
        .await
        .unwrap()
        .into_inner()
        .records
        .len();
    assert_eq!(head, 5, "three grants and two expiries");
}

#[tokio::test]
async fn a_subscriber_resuming_across_the_expiry_receives_it_once() {
    let server = TestServer::start().await;
    let mut client = server.client().await;
    let request = pb::SubscribeRequest { from_beginning: true, ..Default::default() };
    let mut subscriber = Subscriber::open(&mut client, request).await.unwrap();
    let record = grant(&mut client, "dan", "marketing", from_now(700)).await;
    let resume_token = loop {
        match subscriber.next().await {
            Message::Event(event) => {
                assert_eq!(event.revision, record.revision);
                break event.resume_token;
            }
            Message::Heartbeat(_) => {}
            other @ (Message::End(_) | Message::Closed) => panic!("{other:?}"),
        }
    };
    drop(subscriber);
    // Away while it expires, then back from where it left off.
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let request = pb::SubscribeRequest { resume_token, ..Default::default() };
    let mut subscriber = Subscriber::open(&mut client, request).await.unwrap();
    let events = until_expired(&mut subscriber, 1).await;
    assert_eq!(events.len(), 1, "only what came after the token: {events:?}");
    assert_eq!(events[0].revision, record.revision + 1);
    assert_eq!(events[0].record.as_ref().unwrap().subject_id, record.subject_id);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_postgres_replicas_announce_each_expiry_once() {
    let (_database, a, b) = crate::support::two_replicas().await;
    let mut writer = a.client().await;
    let mut reader = b.client().await;
    let request = pb::SubscribeRequest { from_beginning: true, ..Default::default() };
    let mut subscriber = Subscriber::open(&mut reader, request).await.unwrap();
    let users: Vec<String> = (0..20).map(|n| format!("user-{n}")).collect();
    for (n, user) in users.iter().enumerate() {
        grant(&mut writer, user, "marketing", from_now(300 + 50 * n as i64)).await;
    }
    let events = until_expired(&mut subscriber, users.len()).await;
    assert_in_revision_order(&events);
    let counts = expiries_by_key(&events);
    assert_eq!(counts.len(), users.len());
    assert!(counts.values().all(|&n| n == 1), "each once: {counts:?}");
    // Both replicas kept sweeping; still nothing twice.
    tokio::time::sleep(Duration::from_millis(1000)).await;
    let history = writer
        .query_consents(pb::QueryConsentsRequest { history: true, page_size: 1000, ..Default::default() })
        .await
        .unwrap()
        .into_inner()
        .records;
    assert_eq!(history.len(), users.len() * 2);
}

#[tokio::test]
async fn webhooks_receive_the_expiry_as_the_vendors_event() {
    let server = TestServer::start().await;
    let receiver = crate::webhook_receiver::Receiver::start().await;
    let body = serde_json::json!({"WebhookUrl": receiver.url("/hooks"), "ConsentType": "marketing"});
    let response = crate::http_client::send(
        server.running().http_addr,
        "POST",
        "/api/universalconsent/subscribe",
        &[("content-type", "application/json")],
        body.to_string().as_bytes(),
    )
    .await;
    assert_eq!(response.status, 200, "{response:?}");
    let mut client = server.client().await;
    let record = grant(&mut client, "eve", "marketing", from_now(500)).await;
    let expired = |deliveries: &[crate::webhook_receiver::Delivery]| {
        deliveries.iter().any(|d| d.body["EventType"] == "consent.expired")
    };
    let deliveries = receiver.wait_until(Duration::from_secs(30), "the expiry", expired).await;
    let revisions: Vec<i64> = deliveries.iter().map(crate::webhook_receiver::Delivery::revision).collect();
    assert_eq!(revisions, [record.revision, record.revision + 1], "in order, once each");
    let expiry = &deliveries[1];
    assert_eq!(expiry.body["EventType"], "consent.expired");
    assert_eq!(expiry.body["Consent"]["ConsentType"], "marketing");
    assert_eq!(expiry.body["Consent"]["ConsentGiven"], "None", "read back as the check answers");
}
