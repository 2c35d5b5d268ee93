//! A server per test, and request builders.

use std::path::PathBuf;
use std::time::Duration;

use consent_proto::v1 as pb;
use consent_proto::v1::consent_service_client::ConsentServiceClient;
use consent_store::StoreOptions;
use consentd::config::{AuthMode, Config};
use consentd::server::{self, RunningServer};
use consentd_feed::FeedSettings;
use tempfile::TempDir;
use tonic::transport::Channel;

pub(crate) type Client = ConsentServiceClient<Channel>;

/// A consentd on loopback over its own SQLite file.
pub(crate) struct TestServer {
    pub(crate) running: Option<RunningServer>,
    pub(crate) dir: TempDir,
}

impl TestServer {
    pub(crate) async fn start() -> Self {
        Self::start_with(|_| {}).await
    }

    /// A server whose configuration `adjust` changed first.
    pub(crate) async fn start_with(adjust: impl FnOnce(&mut Config)) -> Self {
        let dir = tempfile::tempdir().expect("temp dir");
        let mut config = config_for(&database_path(&dir));
        adjust(&mut config);
        let running = server::start(&config).await.expect("server starts");
        Self { running: Some(running), dir }
    }

    pub(crate) fn running(&self) -> &RunningServer {
        self.running.as_ref().expect("server is running")
    }

    pub(crate) async fn client(&self) -> Client {
        let url = format!("http://{}", self.running().grpc_addr);
        ConsentServiceClient::connect(url).await.expect("client connects")
    }

    pub(crate) async fn channel(&self) -> Channel {
        Channel::from_shared(format!("http://{}", self.running().grpc_addr))
            .expect("valid url")
            .connect()
            .await
            .expect("channel connects")
    }

    /// Stops the server and starts a new one on the same database file.
    pub(crate) async fn restart(&mut self) {
        self.restart_with(|_| {}).await;
    }

    /// Stops the server and starts a new one on the same database file, with
    /// its configuration changed by `adjust`.
    pub(crate) async fn restart_with(&mut self, adjust: impl FnOnce(&mut Config)) {
        if let Some(running) = self.running.take() {
            running.shutdown().await.expect("clean shutdown");
        }
        let mut config = config_for(&database_path(&self.dir));
        adjust(&mut config);
        let running = server::start(&config).await.expect("server restarts");
        self.running = Some(running);
    }

    pub(crate) fn database_file(&self) -> PathBuf {
        database_path(&self.dir)
    }

    /// The server's SQLite URL, for the `consentd keys` and `tenants` commands.
    pub(crate) fn database_url(&self) -> String {
        format!("sqlite://{}?mode=rwc", self.database_file().display())
    }

    pub(crate) fn url(&self) -> String {
        format!("http://{}", self.running().grpc_addr)
    }
}

fn database_path(dir: &TempDir) -> PathBuf {
    dir.path().join("consentd.db")
}

pub(crate) fn config_for(path: &std::path::Path) -> Config {
    Config {
        store: StoreOptions::new(format!("sqlite://{}?mode=rwc", path.display())),
        grpc_listen: "127.0.0.1:0".parse().expect("addr"),
        http_listen: "127.0.0.1:0".parse().expect("addr"),
        auth: AuthMode::Disabled,
        migrate_on_start: true,
        log_format: None,
        health_interval: Duration::from_millis(200),
        key_secret: None,
        jwt: None,
        limits: consentd::config::ServerLimits::default(),
        tls: None,
        health_listen: None,
        gateway: consentd::config::GatewaySettings::default(),
        webhooks: test_webhooks(),
        shutdown_grace: Duration::from_secs(10),
        signals: consent_signals::SignalPolicies::default(),
        evidence: consentd::config::EvidenceSettings::default(),
        feed: FeedSettings {
            heartbeat_interval: Duration::from_millis(100),
            send_timeout: Duration::from_millis(300),
            poll_interval: Duration::from_millis(200),
            // Small pages, so reads cross page boundaries.
            page_size: 7,
            ..FeedSettings::default()
        },
    }
}

/// Webhooks to receivers on loopback, with quick retries and polls.
pub(crate) fn test_webhooks() -> consentd_webhooks::WebhookSettings {
    consentd_webhooks::WebhookSettings {
        allowed_urls: vec!["http://127.0.0.1:*".parse().expect("pattern")],
        allowed_networks: vec!["127.0.0.0/8".parse().expect("network")],
        connect_timeout: Duration::from_millis(500),
        response_timeout: Duration::from_secs(2),
        max_attempts: 4,
        retry_initial: Duration::from_millis(50),
        retry_max: Duration::from_millis(400),
        lease: Duration::from_secs(9),
        poll_interval: Duration::from_millis(100),
        ..consentd_webhooks::WebhookSettings::default()
    }
}

pub(crate) fn identity(namespace: &str, value: &str) -> pb::Identity {
    pb::Identity { namespace: namespace.into(), value: value.into() }
}

pub(crate) fn decision(purpose: &str, target: &str, decision: pb::Decision) -> pb::PurposeDecision {
    pb::PurposeDecision { purpose: purpose.into(), target: target.into(), decision: decision.into() }
}

/// A record request for one identity and one decision, collected now.
pub(crate) fn record_request(
    identity: pb::Identity,
    purpose: &str,
    target: &str,
    choice: pb::Decision,
) -> pb::RecordConsentRequest {
    pb::RecordConsentRequest {
        identities: vec![identity],
        decisions: vec![decision(purpose, target, choice)],
        source: "web".into(),
        ..Default::default()
    }
}

/// A protobuf timestamp `seconds_ago` seconds before now.
pub(crate) fn seconds_ago(seconds_ago: i64) -> prost_types::Timestamp {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .expect("clock after epoch")
        .as_secs();
    prost_types::Timestamp { seconds: i64::try_from(now).expect("fits") - seconds_ago, nanos: 0 }
}

pub(crate) fn by_identity(identity: pb::Identity) -> Option<pb::SubjectRef> {
    Some(pb::SubjectRef { subject: Some(pb::subject_ref::Subject::Identity(identity)) })
}

pub(crate) fn by_id(subject_id: &str) -> Option<pb::SubjectRef> {
    Some(pb::SubjectRef { subject: Some(pb::subject_ref::Subject::SubjectId(subject_id.into())) })
}

pub(crate) async fn check(
    client: &mut Client,
    subject: Option<pb::SubjectRef>,
    purpose: &str,
    target: &str,
) -> pb::ConsentStatus {
    let response = client
        .check_consent(pb::CheckConsentRequest {
            subject,
            purpose: purpose.into(),
            target: target.into(),
            ..Default::default()
        })
        .await
        .expect("check succeeds")
        .into_inner();
    response.status()
}

/// A check of `purpose` (any target) that must reflect at least
/// `min_revision`.
pub(crate) async fn check_at_least(
    client: &mut Client,
    identity: pb::Identity,
    purpose: &str,
    min_revision: i64,
) -> pb::CheckConsentResponse {
    client
        .check_consent(pb::CheckConsentRequest {
            subject: by_identity(identity),
            purpose: purpose.into(),
            min_revision,
            ..Default::default()
        })
        .await
        .expect("check succeeds")
        .into_inner()
}

/// Every record of the query, following page tokens.
pub(crate) async fn query_all(
    client: &mut Client,
    mut request: pb::QueryConsentsRequest,
) -> Vec<pb::ConsentRecord> {
    let mut all = Vec::new();
    loop {
        let page = client.query_consents(request.clone()).await.expect("query succeeds").into_inner();
        all.extend(page.records);
        if page.next_page_token.is_empty() {
            return all;
        }
        request.page_token = page.next_page_token;
    }
}

/// Records one decision and returns the response.
pub(crate) async fn record(
    client: &mut Client,
    identity: pb::Identity,
    purpose: &str,
    target: &str,
    choice: pb::Decision,
) -> pb::RecordConsentResponse {
    client
        .record_consent(record_request(identity, purpose, target, choice))
        .await
        .expect("record succeeds")
        .into_inner()
}

/// Every stored record of the tenant, in revision order.
pub(crate) async fn history(client: &mut Client) -> Vec<pb::ConsentRecord> {
    query_all(client, pb::QueryConsentsRequest { history: true, ..Default::default() }).await
}

/// Two servers on one fresh PostgreSQL database.
pub(crate) async fn two_replicas() -> (consent_store::testing::TestDatabase, TestServer, TestServer) {
    let database = consent_store::testing::TestDatabase::postgres().await;
    let on_postgres =
        |config: &mut Config| config.store = consent_store::StoreOptions::new(database.url.clone());
    let a = TestServer::start_with(on_postgres).await;
    let b = TestServer::start_with(on_postgres).await;
    (database, a, b)
}
