//! grpc.health.v1, server reflection, and the HTTP health endpoints.

use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio_stream::StreamExt;
use tonic_health::pb::HealthCheckRequest;
use tonic_health::pb::health_check_response::ServingStatus;
use tonic_health::pb::health_client::HealthClient;
use tonic_reflection::pb::v1::ServerReflectionRequest;
use tonic_reflection::pb::v1::server_reflection_client::ServerReflectionClient;
use tonic_reflection::pb::v1::server_reflection_request::MessageRequest;
use tonic_reflection::pb::v1::server_reflection_response::MessageResponse;

use crate::support::TestServer;

/// The status line of a plain HTTP/1.1 GET.
pub(crate) async fn http_get(addr: std::net::SocketAddr, path: &str) -> (u16, String) {
    let mut stream = tokio::net::TcpStream::connect(addr).await.unwrap();
    let request = format!("GET {path} HTTP/1.1\r\nHost: test\r\nConnection: close\r\n\r\n");
    stream.write_all(request.as_bytes()).await.unwrap();
    let mut response = String::new();
    stream.read_to_string(&mut response).await.unwrap();
    let code = response.split_whitespace().nth(1).unwrap().parse().unwrap();
    let body = response.split("\r\n\r\n").nth(1).unwrap_or_default().to_owned();
    (code, body)
}

async fn health_of(client: &mut HealthClient<tonic::transport::Channel>, service: &str) -> ServingStatus {
    client.check(HealthCheckRequest { service: service.into() }).await.unwrap().into_inner().status()
}

#[tokio::test]
async fn health_reports_serving_for_the_server_and_the_consent_service() {
    let server = TestServer::start().await;
    let mut health = HealthClient::new(server.channel().await);
    assert_eq!(health_of(&mut health, "").await, ServingStatus::Serving);
    assert_eq!(health_of(&mut health, "consent.v1.ConsentService").await, ServingStatus::Serving);
    assert_eq!(http_get(server.running().http_addr, "/healthz").await.0, 200);
    assert_eq!(http_get(server.running().http_addr, "/readyz").await.0, 200);
}

#[tokio::test]
async fn reflection_lists_the_consent_service() {
    let server = TestServer::start().await;
    let mut reflection = ServerReflectionClient::new(server.channel().await);
    let request = ServerReflectionRequest {
        host: String::new(),
        message_request: Some(MessageRequest::ListServices(String::new())),
    };
    let mut responses =
        reflection.server_reflection_info(tokio_stream::iter([request])).await.unwrap().into_inner();
    let response = responses.next().await.unwrap().unwrap();
    let Some(MessageResponse::ListServicesResponse(list)) = response.message_response else {
        panic!("unexpected reflection response");
    };
    let names: Vec<_> = list.service.into_iter().map(|s| s.name).collect();
    assert!(names.contains(&"consent.v1.ConsentService".to_owned()), "{names:?}");
    assert!(names.contains(&"grpc.health.v1.Health".to_owned()), "{names:?}");
}

#[tokio::test]
async fn not_serving_until_migrations_are_applied() {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}?mode=rwc", dir.path().join("consentd.db").display());
    let mut config = crate::support::config_for(&dir.path().join("consentd.db"));
    config.migrate_on_start = false;
    config.health_interval = Duration::from_millis(100);
    let running = consentd::server::start(&config).await.unwrap();
    let channel = tonic::transport::Channel::from_shared(format!("http://{}", running.grpc_addr))
        .unwrap()
        .connect()
        .await
        .unwrap();
    let mut health = HealthClient::new(channel);
    assert_eq!(health_of(&mut health, "consent.v1.ConsentService").await, ServingStatus::NotServing);
    assert_eq!(http_get(running.http_addr, "/readyz").await.0, 503);
    // Liveness does not follow the store: an unready server is not dead.
    assert_eq!(health_of(&mut health, "").await, ServingStatus::Serving);
    assert_eq!(http_get(running.http_addr, "/healthz").await.0, 200);

    // `consentd migrate` on the same file, from the real binary.
    let status = std::process::Command::new(env!("CARGO_BIN_EXE_consentd"))
        .args(["migrate", "--database-url", &url])
        .status()
        .unwrap();
    assert!(status.success());

    let mut serving = false;
    for _ in 0..50 {
        if health_of(&mut health, "consent.v1.ConsentService").await == ServingStatus::Serving {
            serving = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(serving, "health never turned SERVING after migrate");
    assert_eq!(http_get(running.http_addr, "/readyz").await.0, 200);
    running.shutdown().await.unwrap();
}
