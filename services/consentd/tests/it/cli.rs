//! The `consentd` binary: serve on defaults-style flags, stop on SIGTERM;
//! `--help` documents the flags and their environment variables.

use std::process::Command;

use consent_proto::v1 as pb;
use consent_proto::v1::consent_service_client::ConsentServiceClient;

use crate::process::ConsentdProcess;
use crate::support::{identity, record};

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
async fn binary_serves_from_environment_and_stops_on_sigterm() {
    let dir = tempfile::tempdir().unwrap();
    let process = ConsentdProcess::spawn(dir.path(), &[]);
    let mut client = ConsentServiceClient::connect(process.url()).await.unwrap();
    record(&mut client, identity("email", "bin@example.com"), "marketing", "", pb::Decision::Granted).await;
    // The default database is the embedded SQLite file in the working directory.
    assert!(dir.path().join("consentd.db").exists());
    let status = process.terminate().await;
    assert!(status.success(), "exit status {status:?}");
}
