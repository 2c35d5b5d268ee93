//! A deployment under test: a fresh database and a fresh `consentd` process
//! (so its peak RSS is the workload's own), with API-key authentication on
//! as in production (the key's rate limit raised out of the way), the bench
//! tenant's vendor accounts bound, and gRPC clients that carry its key.

use std::path::Path;

use consent_proto::v1::consent_service_client::ConsentServiceClient;
use consent_store::testing::{Backend, TestDatabase};
use tonic::metadata::{Ascii, MetadataValue};
use tonic::service::Interceptor;
use tonic::service::interceptor::InterceptedService;
use tonic::transport::Channel;

use crate::process::Server;

const KEY_SECRET: &str = "consent-bench-key-secret";

/// The server configuration of every run: limits that would throttle a
/// benchmark (one key sending everything) are raised.
const CONFIG: &str = r#"
[limits]
rate_per_key = 100000000
burst_per_key = 100000000
max_in_flight = 100000

[subscribe]
max_streams = 10000
max_streams_per_tenant = 10000
"#;

/// Adds the bearer key to every call.
#[derive(Debug, Clone)]
pub(crate) struct Bearer(MetadataValue<Ascii>);

impl Interceptor for Bearer {
    fn call(&mut self, mut request: tonic::Request<()>) -> Result<tonic::Request<()>, tonic::Status> {
        request.metadata_mut().insert("authorization", self.0.clone());
        Ok(request)
    }
}

pub(crate) type Client = ConsentServiceClient<InterceptedService<Channel, Bearer>>;

/// A consentd process on a fresh database, with a key for tenant `bench`.
#[derive(Debug)]
pub(crate) struct Deployment {
    pub(crate) server: Server,
    bearer: Bearer,
    _database: TestDatabase,
    _dir: tempfile::TempDir,
}

impl Deployment {
    pub(crate) async fn start(binary: &Path, backend: Backend) -> Self {
        Self::start_with(binary, backend, true).await
    }

    /// With `cache` false, consentd runs with its check cache off.
    pub(crate) async fn start_with(binary: &Path, backend: Backend, cache: bool) -> Self {
        let store = if cache { "" } else { "\n[store]\ncache_max_mib = 0\n" };
        Self::start_configured(binary, backend, store).await
    }

    /// With `extra` appended to the configuration file (tables the common
    /// part does not have).
    pub(crate) async fn start_configured(binary: &Path, backend: Backend, extra: &str) -> Self {
        Self::start_with_config(binary, backend, &format!("{CONFIG}{extra}")).await
    }

    /// With exactly `config` as its configuration file.
    pub(crate) async fn start_with_config(binary: &Path, backend: Backend, config: &str) -> Self {
        let text = config;
        let database = TestDatabase::new(backend).await;
        let dir = tempfile::tempdir().expect("temporary directory");
        let config = dir.path().join("consentd.toml");
        std::fs::write(&config, text).expect("config written");
        let admin = |args: &[&str]| {
            let output = std::process::Command::new(binary)
                .args(args)
                .env("CONSENTD_DATABASE_URL", &database.url)
                .env("CONSENTD_KEY_SECRET", KEY_SECRET)
                .output()
                .expect("consentd runs");
            assert!(
                output.status.success(),
                "consentd {args:?}: {}",
                String::from_utf8_lossy(&output.stderr)
            );
            String::from_utf8(output.stdout).expect("utf-8").trim().to_owned()
        };
        admin(&["migrate"]);
        let key = admin(&["keys", "create", "--tenant", "bench", "--scope", "admin"]);
        let account = crate::vendor_http::INTEMPT_ACCOUNT;
        admin(&["tenants", "bind", "--tenant", "bench", "--vendor", "intempt", "--external-id", account]);
        let org = crate::vendor_http::ADOBE_ORG;
        admin(&["tenants", "bind", "--tenant", "bench", "--vendor", "adobe", "--external-id", org]);
        let server = Server::consentd(binary, &database.url, KEY_SECRET, &config, dir.path());
        let bearer = Bearer(format!("Bearer {key}").parse().expect("ascii key"));
        Self { server, bearer, _database: database, _dir: dir }
    }

    /// The database's URL.
    pub(crate) fn database_url(&self) -> &str {
        &self._database.url
    }

    /// consentd's HTTP port.
    pub(crate) fn http(&self) -> std::net::SocketAddr {
        self.server.http.expect("consentd reports its HTTP address")
    }

    /// The deployment's API key.
    pub(crate) fn key(&self) -> &str {
        self.bearer().trim_start_matches("Bearer ")
    }

    /// The `authorization` header value of the deployment's key.
    pub(crate) fn bearer(&self) -> &str {
        self.bearer.0.to_str().unwrap_or_default()
    }

    /// `count` clients, each on its own HTTP/2 connection.
    pub(crate) async fn clients(&self, count: usize) -> Vec<Client> {
        clients(&self.server.url, self.bearer.clone(), count).await
    }
}

pub(crate) async fn clients(url: &str, bearer: Bearer, count: usize) -> Vec<Client> {
    let mut clients = Vec::with_capacity(count);
    for _ in 0..count {
        let channel = Channel::from_shared(url.to_owned()).expect("url").connect().await.expect("connects");
        clients.push(ConsentServiceClient::with_interceptor(channel, bearer.clone()));
    }
    clients
}

pub(crate) fn anonymous() -> Bearer {
    Bearer(MetadataValue::from_static("Bearer none"))
}
