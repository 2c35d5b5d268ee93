//! The `consentd` binary: serve on defaults-style flags, stop on SIGTERM;
//! `--help` documents the flags and their environment variables.

use std::process::Command;

use consent_proto::v1 as pb;
use consent_proto::v1::consent_service_client::ConsentServiceClient;

use crate::auth::keyed_client;
use crate::process::ConsentdProcess;
use crate::support::{identity, record_request};

#[test]
fn help_documents_flags_and_environment() {
    let output = Command::new(env!("CARGO_BIN_EXE_consentd")).args(["serve", "--help"]).output().unwrap();
    let help = String::from_utf8(output.stdout).unwrap();
    for expected in [
        "--database-url",
        "CONSENTD_DATABASE_URL",
        "--grpc-listen",
        "CONSENTD_GRPC_LISTEN",
        "--http-listen",
        "CONSENTD_HTTP_LISTEN",
        "--auth",
        "CONSENTD_AUTH",
        "--config",
        "CONSENTD_CONFIG",
    ] {
        assert!(help.contains(expected), "help lacks {expected}:\n{help}");
    }
}

#[tokio::test]
async fn binary_bootstraps_a_key_serves_with_it_and_stops_on_sigterm() {
    let dir = tempfile::tempdir().unwrap();
    let process = ConsentdProcess::spawn(dir.path(), &[]);
    // Auth is required by default; a fresh database gets one key, printed once.
    let key = process.bootstrap_key.clone().expect("serve printed a bootstrap key on stderr");
    let (id, secret) = key.split_once('.').expect("key is <prefix>.<secret>");
    assert!(id.starts_with("ck_"));
    assert!(secret.len() >= 22, "at least 128 random bits");

    let mut anonymous = ConsentServiceClient::connect(process.url()).await.unwrap();
    let request =
        record_request(identity("email", "bin@example.com"), "marketing", "", pb::Decision::Granted);
    assert_eq!(
        anonymous.record_consent(request.clone()).await.unwrap_err().code(),
        tonic::Code::Unauthenticated
    );

    let mut client = keyed_client(&process.url(), &key).await;
    client.record_consent(request).await.unwrap();
    // The default database is the embedded SQLite file in the working directory.
    assert!(dir.path().join("consentd.db").exists());
    process.stop().await;

    // A restart on the same database prints no new key — not even after every
    // key was revoked.
    let url = format!("sqlite://{}?mode=rwc", dir.path().join("consentd.db").display());
    let revoke = Command::new(env!("CARGO_BIN_EXE_consentd"))
        .args(["keys", "revoke", id, "--database-url", &url])
        .status();
    assert!(revoke.unwrap().success());
    let again = ConsentdProcess::spawn(dir.path(), &[]);
    assert!(again.bootstrap_key.is_none());
    again.stop().await;
}

/// The signal handlers are in place before the "serving" line: a SIGTERM
/// sent the moment a supervisor sees it is a graceful stop, not a kill (it
/// once raced the handler's installation and lost now and then).
#[tokio::test]
async fn sigterm_right_after_the_serving_line_is_a_clean_stop() {
    let dir = tempfile::tempdir().unwrap();
    for _ in 0..5 {
        ConsentdProcess::spawn(dir.path(), &[]).stop().await;
    }
}

#[tokio::test]
async fn key_commands_read_the_same_config_file_as_serve() {
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("consentd.toml");
    let database = format!("sqlite://{}?mode=rwc", dir.path().join("from-file.db").display());
    std::fs::write(
        &config,
        format!("database_url = \"{database}\"\nkey_secret = \"secret-kept-in-the-file\"\n"),
    )
    .unwrap();
    let config_path = config.to_str().unwrap();

    let output = Command::new(env!("CARGO_BIN_EXE_consentd"))
        .args(["keys", "create", "--tenant", "acme", "--config", config_path])
        .env_remove("CONSENTD_KEY_SECRET")
        .env_remove("CONSENTD_DATABASE_URL")
        .output()
        .unwrap();
    assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
    let key = String::from_utf8(output.stdout).unwrap().trim().to_owned();

    // serve with the same file: the key hashed under the file's secret works.
    let process = ConsentdProcess::spawn(dir.path(), &[("CONSENTD_CONFIG", config_path)]);
    assert!(process.bootstrap_key.is_none(), "the database already had a key");
    let mut client = keyed_client(&process.url(), &key).await;
    client.query_consents(pb::QueryConsentsRequest::default()).await.unwrap();
    assert!(dir.path().join("from-file.db").exists());
    process.stop().await;
}
