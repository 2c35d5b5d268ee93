//! What a vendor's real client trips on, answered as the vendor would:
//! Intempt bodies naming no user or carrying a clock ahead of ours, JENTIS
//! clients posting to their base URL, Secure Privacy's list returned whole
//! (or refused loudly past the maximum), and the request's location as
//! evidence.

use std::net::{IpAddr, Ipv4Addr};
use std::time::Duration;

use consent_proto::v1 as pb;
use consentd::config::AuthMode;
use serde_json::{Value, json};

use crate::auth::{KeyedClient, create_key, keyed_client};
use crate::cors::INTEMPT_PATH;
use crate::http_client::{HttpResponse, fixture, send};
use crate::support::TestServer;
use crate::vendors::bind;

async fn keyed_server(
    adjust: impl FnOnce(&mut consentd::config::Config),
) -> (TestServer, String, KeyedClient) {
    let server = TestServer::start_with(|config| {
        config.auth = AuthMode::Required;
        adjust(config);
    })
    .await;
    let key = create_key(&server.database_url(), "acme", &[]);
    bind(&server, "acme", "intempt", "demo-organization/demo-project");
    bind(&server, "acme", "jentis", "ckion-demo/live");
    bind(&server, "acme", "secureprivacy", "int-7f3a");
    let client = keyed_client(&server.url(), &key).await;
    (server, key, client)
}

async fn history(client: &mut KeyedClient) -> Vec<pb::ConsentRecord> {
    let request = pb::QueryConsentsRequest { history: true, page_size: 1000, ..Default::default() };
    client.query_consents(request).await.unwrap().into_inner().records
}

async fn intempt(server: &TestServer, key: &str, body: &Value) -> HttpResponse {
    let path = format!("{INTEMPT_PATH}?apiKey={key}");
    let headers = [("content-type", "application/json")];
    send(server.running().http_addr, "POST", &path, &headers, body.to_string().as_bytes()).await
}

#[tokio::test]
async fn intempt_bodies_naming_no_user_or_a_clock_ahead_are_recorded_as_intempt_does() {
    let (server, key, mut client) = keyed_server(|_| {}).await;
    let now_ms =
        std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_millis() as i64;
    let anonymous =
        json!({"action": "accept", "timestamp": now_ms, "validUntil": "unlimited", "source": "web"});
    assert_eq!(intempt(&server, &key, &anonymous).await.status, 200);
    assert_eq!(intempt(&server, &key, &anonymous).await.status, 200);
    let records = history(&mut client).await;
    assert_eq!(records.len(), 2);
    assert_ne!(records[0].subject_id, records[1].subject_id, "each anonymous call is its own subject");
    assert_eq!(records[0].identities[0].namespace, "anonymous_id");

    let tomorrow = now_ms + 24 * 3600 * 1000;
    let ahead = json!({"action": "reject", "timestamp": tomorrow, "validUntil": "unlimited", "source": "web", "userId": "u-1"});
    assert_eq!(intempt(&server, &key, &ahead).await.status, 200);
    let record = history(&mut client).await.pop().unwrap();
    let collected = record.collected_at.unwrap();
    assert!(collected.seconds * 1000 < tomorrow - 3600 * 1000, "the server's clock: {collected:?}");
    let metadata: Value = serde_json::from_str(&record.evidence.unwrap().metadata_json).unwrap();
    assert_eq!(metadata["timestamp"], json!(tomorrow), "the client's value is kept as evidence");
}

#[tokio::test]
async fn jentis_mounted_at_the_root_takes_posts_to_its_base_url() {
    let (server, key, mut client) = keyed_server(|config| {
        config.gateway.mounts.insert("jentis".to_owned(), "/".to_owned());
    })
    .await;
    let bearer = format!("Bearer {key}");
    let headers = [("content-type", "application/json"), ("authorization", bearer.as_str())];
    let body = fixture("jentis", "request-documented-example.json");
    let http = server.running().http_addr;
    assert_eq!(send(http, "POST", "/", &headers, &body).await.status, 200);
    assert!(!history(&mut client).await.is_empty());
    assert_eq!(send(http, "POST", "/jentis", &headers, &body).await.status, 404, "moved, not copied");
}

#[tokio::test]
async fn a_mount_that_collides_is_refused_at_start() {
    let mut config = crate::support::config_for(std::path::Path::new("/tmp/unused.db"));
    config.gateway.mounts.insert("jentis".to_owned(), "/data/core/privacy/consent".to_owned());
    let toml = config.to_toml();
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("consentd.toml");
    std::fs::write(&file, toml).unwrap();
    let output = std::process::Command::new(env!("CARGO_BIN_EXE_consentd"))
        .args(["config", "print", "--config"])
        .arg(&file)
        .output()
        .unwrap();
    assert!(!output.status.success());
    assert!(String::from_utf8_lossy(&output.stderr).contains("gateway.mounts"), "{output:?}");
}

async fn sp_record(server: &TestServer, key: &str, user: &str, extra: &[(&str, &str)]) {
    let bearer = format!("Bearer {key}");
    let mut headers = vec![("content-type", "application/json"), ("authorization", bearer.as_str())];
    headers.extend_from_slice(extra);
    let body =
        json!({"ConsentGiven": "All", "CustomUserId": user, "Reference": "dealer-1", "ConsentType": "Call"});
    let response = send(
        server.running().http_addr,
        "POST",
        "/api/universalconsent",
        &headers,
        body.to_string().as_bytes(),
    )
    .await;
    assert_eq!(response.status, 200, "{response:?}");
}

async fn sp_list(server: &TestServer, key: &str, query: &str) -> HttpResponse {
    let bearer = format!("Bearer {key}");
    let path = format!("/api/universalconsent{query}");
    send(server.running().http_addr, "GET", &path, &[("authorization", bearer.as_str())], b"").await
}

#[tokio::test]
async fn secure_privacys_list_is_whole_up_to_the_maximum_and_refused_beyond_it() {
    let (server, key, _) = keyed_server(|config| config.gateway.max_list_records = 250).await;
    // More than a page of the store's (1000 is the largest; 250 here need
    // several pages of the response size) and more than SP's old 100.
    for n in 0..240 {
        sp_record(&server, &key, &format!("user-{n}"), &[]).await;
    }
    let response = sp_list(&server, &key, "").await;
    assert_eq!(response.status, 200, "{response:?}");
    let items = response.json();
    assert_eq!(items.as_array().unwrap().len(), 240, "every record, not the first 100");
    assert_eq!(response.header("x-next-page-token"), None);

    // Pages remain for the clients that ask for them.
    let response = sp_list(&server, &key, "?PageSize=100").await;
    assert_eq!(response.json().as_array().unwrap().len(), 100);
    assert!(response.header("x-next-page-token").is_some());

    for n in 240..260 {
        sp_record(&server, &key, &format!("user-{n}"), &[]).await;
    }
    let response = sp_list(&server, &key, "").await;
    assert_eq!(response.status, 400, "{response:?}");
    let body = response.json();
    assert!(body["errors"]["PageSize"][0].as_str().unwrap().contains("more than 250"), "{body}");
}

#[tokio::test]
async fn the_location_comes_from_trusted_edge_headers_and_a_geoip_database() {
    let dir = tempfile::tempdir().unwrap();
    let database = dir.path().join("city.mmdb");
    consentd_geo::testing::write_city_database(
        &database,
        &[((IpAddr::V4(Ipv4Addr::new(81, 2, 69, 0)), 24), "GB", "ENG", "London")],
    )
    .unwrap();
    let (server, key, _) = keyed_server(|config| {
        config.gateway.trusted_proxies = vec![IpAddr::V4(Ipv4Addr::LOCALHOST)];
        config.gateway.location = consentd_geo::LocationSettings {
            country_headers: vec!["cf-ipcountry".to_owned()],
            geoip_database: Some(database.clone()),
            ..Default::default()
        };
    })
    .await;
    // Through the (trusted) edge: its country header, then the database.
    sp_record(&server, &key, "edge-user", &[("cf-ipcountry", "DE"), ("x-forwarded-for", "198.51.100.7")])
        .await;
    sp_record(&server, &key, "london-user", &[("x-forwarded-for", "81.2.69.160")]).await;

    let response = sp_list(&server, &key, "?Country=DE").await;
    let items = response.json();
    assert_eq!(items.as_array().unwrap().len(), 1, "{items}");
    assert_eq!(items[0]["Fingerprint"]["Country"], "DE", "{items}");
    let response = sp_list(&server, &key, "?City=London").await;
    let items = response.json();
    assert_eq!(items.as_array().unwrap().len(), 1, "{items}");
    assert_eq!(items[0]["Fingerprint"]["State"], "ENG", "{items}");
    assert_eq!(items[0]["Fingerprint"]["Country"], "GB", "{items}");
}

/// `people` people each granting `purposes` purposes over gRPC: current
/// records for the Secure Privacy list, quickly.
async fn current_records(client: &mut KeyedClient, people: usize, purposes: usize) {
    for person in 0..people {
        let request = pb::RecordConsentRequest {
            identities: vec![pb::Identity {
                namespace: "custom_user_id".into(),
                value: format!("p-{person}"),
            }],
            decisions: (0..purposes)
                .map(|p| crate::support::decision(&format!("purpose-{p}"), "", pb::Decision::Granted))
                .collect(),
            source: "web".into(),
            ..Default::default()
        };
        client.record_consent(request).await.unwrap();
    }
}

#[tokio::test]
async fn a_whole_list_of_many_pages_is_one_json_array() {
    let (server, key, mut client) = keyed_server(|_| {}).await;
    // More than a page of the store's (1,000 records).
    current_records(&mut client, 25, 100).await;
    let response = sp_list(&server, &key, "").await;
    assert_eq!(response.status, 200);
    let items = response.json();
    assert_eq!(items.as_array().expect("one JSON array").len(), 2500);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_reader_that_stalls_holds_a_whole_list_slot_only_for_a_while() {
    let (server, key, mut client) = keyed_server(|config| config.gateway.max_whole_lists = 1).await;
    // About 11 MiB: more than the sockets between us hold (the server's
    // send buffer alone grows to 4 MiB on loopback).
    current_records(&mut client, 300, 100).await;
    let http = server.running().http_addr;
    // A small receive window: the server cannot push the list into the
    // sockets' buffers and finish it (loopback buffers grow to megabytes).
    let socket = tokio::net::TcpSocket::new_v4().unwrap();
    socket.set_recv_buffer_size(4096).unwrap();
    let mut stalled = socket.connect(http).await.unwrap();
    let request =
        format!("GET /api/universalconsent HTTP/1.1\r\nhost: t\r\nauthorization: Bearer {key}\r\n\r\n");
    tokio::io::AsyncWriteExt::write_all(&mut stalled, request.as_bytes()).await.unwrap();
    let started = std::time::Instant::now();
    // Its answer has begun (the list counted, its slot taken) before any
    // other list is asked for: else the two race for the one slot and the
    // stalled request may be the one refused (seen in CI).
    let mut status_line = [0_u8; 12];
    tokio::time::timeout(
        Duration::from_secs(30),
        tokio::io::AsyncReadExt::read_exact(&mut stalled, &mut status_line),
    )
    .await
    .expect("the stalled list's answer begins")
    .unwrap();
    assert_eq!(&status_line, b"HTTP/1.1 200", "{}", String::from_utf8_lossy(&status_line));
    // The stalled list holds the one slot: another is refused at once, in
    // Secure Privacy's shape.
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    loop {
        let response = sp_list(&server, &key, "?Country=XX").await;
        if response.status == 429 {
            assert!(response.header("retry-after").is_some());
            break;
        }
        assert!(std::time::Instant::now() < deadline, "the stalled list never held its slot: {response:?}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    // Left unread past the send timeout, it is broken off and the slot freed.
    let deadline = std::time::Instant::now() + Duration::from_secs(40);
    loop {
        let response = sp_list(&server, &key, "?Country=XX").await;
        if response.status == 200 {
            break;
        }
        assert!(std::time::Instant::now() < deadline, "the slot was never freed: {response:?}");
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
    assert!(started.elapsed() >= Duration::from_secs(5), "freed before the send timeout: it was not stalled");
    drop(stalled);
}
