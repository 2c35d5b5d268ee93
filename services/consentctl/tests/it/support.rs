//! A consentd per test (in this process, over its own SQLite file, keys
//! required), and consentctl runs against it.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::Arc;
use std::time::Duration;

use consent_core::TenantId;
use consentd::config::{AuthMode, Config, ServeArgs};
use consentd::server::{self, RunningServer};
use consentd_auth::{Authenticator, Scope};
use tempfile::TempDir;

/// A consentd and a key for its tenant `default`.
pub(crate) struct Server {
    running: Option<RunningServer>,
    pub(crate) dir: TempDir,
    pub(crate) addr: SocketAddr,
    pub(crate) key: String,
}

fn config(database: &Path, grpc_listen: SocketAddr) -> Config {
    config_with(database, grpc_listen, |_| {})
}

fn config_with(database: &Path, grpc_listen: SocketAddr, adjust: impl FnOnce(&mut ServeArgs)) -> Config {
    let mut args = ServeArgs {
        database: consentd::config::DatabaseArgs {
            database_url: Some(format!("sqlite://{}?mode=rwc", database.display())),
        },
        grpc_listen: Some(grpc_listen),
        http_listen: Some("127.0.0.1:0".parse().expect("address")),
        auth: Some(AuthMode::Required),
        ..ServeArgs::default()
    };
    adjust(&mut args);
    let mut config = Config::load(&args).expect("configuration");
    // Quick heartbeats, so a follower's resume point moves while idle.
    config.feed.heartbeat_interval = Duration::from_millis(200);
    config
}

impl Server {
    pub(crate) async fn start() -> Self {
        Self::start_with(|_| {}).await
    }

    /// A server whose flags `adjust` changed first.
    pub(crate) async fn start_with(adjust: impl FnOnce(&mut ServeArgs)) -> Self {
        let dir = tempfile::tempdir().expect("temporary directory");
        let config =
            config_with(&dir.path().join("consentd.db"), "127.0.0.1:0".parse().expect("address"), adjust);
        let store = consent_store::open(&config.store).await.expect("store opens");
        consent_store::ServingStore::migrate(&store).await.expect("migrations");
        let authenticator = Authenticator::new(Arc::new(store), None).await.expect("authenticator");
        let key = authenticator
            .create(&TenantId::new("default"), &[Scope::Read, Scope::Write, Scope::Subscribe])
            .await
            .expect("key created")
            .key;
        let running = server::start(&config).await.expect("server starts");
        Self { addr: running.grpc_addr, running: Some(running), dir, key }
    }

    /// Stops the server and starts it again on the same port and file.
    pub(crate) async fn restart(&mut self) {
        self.stop().await;
        let config = config(&self.dir.path().join("consentd.db"), self.addr);
        self.running = Some(server::start(&config).await.expect("server restarts"));
    }

    /// Stops the server.
    pub(crate) async fn stop(&mut self) {
        if let Some(running) = self.running.take() {
            running.shutdown().await.expect("clean shutdown");
        }
    }

    /// consentctl with this server's address and key in its environment.
    pub(crate) fn command(&self) -> Command {
        let mut command = Command::new(env!("CARGO_BIN_EXE_consentctl"));
        command
            .env("CONSENTD_ADDR", self.addr.to_string())
            .env("CONSENTD_KEY", &self.key)
            .env_remove("CONSENTCTL_PROFILE")
            .current_dir(self.dir.path());
        command
    }

    /// Runs consentctl with `args` to the end.
    pub(crate) async fn ctl(&self, args: &[&str]) -> Run {
        let mut command = self.command();
        command.args(args);
        let output = tokio::task::spawn_blocking(move || command.output().expect("consentctl runs"))
            .await
            .expect("consentctl finished");
        Run(output)
    }

    pub(crate) fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }
}

/// A finished consentctl run.
pub(crate) struct Run(pub(crate) Output);

impl Run {
    pub(crate) fn code(&self) -> i32 {
        self.0.status.code().expect("exited")
    }

    pub(crate) fn stdout(&self) -> String {
        String::from_utf8_lossy(&self.0.stdout).into_owned()
    }

    pub(crate) fn stderr(&self) -> String {
        String::from_utf8_lossy(&self.0.stderr).into_owned()
    }

    /// Asserts exit code `code`, showing the output otherwise.
    pub(crate) fn expect(self, code: i32) -> Self {
        assert_eq!(self.code(), code, "stdout:\n{}\nstderr:\n{}", self.stdout(), self.stderr());
        self
    }

    /// Standard output as one JSON value.
    pub(crate) fn json(&self) -> serde_json::Value {
        serde_json::from_str(&self.stdout()).unwrap_or_else(|err| panic!("{err}: {}", self.stdout()))
    }

    /// Standard output as JSON lines.
    pub(crate) fn json_lines(&self) -> Vec<serde_json::Value> {
        self.stdout().lines().map(|line| serde_json::from_str(line).expect("a JSON line")).collect()
    }
}

/// What a record says, without what the database that holds it chose (id,
/// subject id, revision, recorded_at): equal for the same decision in two
/// databases.
pub(crate) fn content(record: &serde_json::Value) -> String {
    let mut record = record.clone();
    let object = record.as_object_mut().expect("a record object");
    for key in ["id", "subject_id", "revision", "recorded_at"] {
        object.remove(key);
    }
    record.to_string()
}
