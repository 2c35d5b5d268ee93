//! The `consentd` binary: serve on defaults-style flags, stop on SIGTERM;
//! `--help` documents the flags and their environment variables.

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::time::Duration;

use consent_proto::v1 as pb;
use consent_proto::v1::consent_service_client::ConsentServiceClient;

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
    let mut child = Command::new(env!("CARGO_BIN_EXE_consentd"))
        .arg("serve")
        .current_dir(dir.path())
        .env("CONSENTD_GRPC_LISTEN", "127.0.0.1:0")
        .env("CONSENTD_HTTP_LISTEN", "127.0.0.1:0")
        .env("CONSENTD_LOG_FORMAT", "json")
        .env_remove("CONSENTD_DATABASE_URL")
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();

    // The log line "consentd is serving" carries the bound address.
    let stderr = child.stderr.take().unwrap();
    let (found, lines) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stderr).lines().map_while(Result::ok) {
            let _ = found.send(line);
        }
    });
    let grpc_addr = loop {
        let line = lines.recv_timeout(Duration::from_secs(60)).expect("server logs its address");
        let json: serde_json::Value = serde_json::from_str(&line).expect("json log line");
        if json["fields"]["message"] == "consentd is serving" {
            break json["fields"]["grpc_addr"].as_str().unwrap().to_owned();
        }
    };

    let mut client = ConsentServiceClient::connect(format!("http://{grpc_addr}")).await.unwrap();
    record(&mut client, identity("email", "bin@example.com"), "marketing", "", pb::Decision::Granted).await;
    // The default database is the embedded SQLite file in the working directory.
    assert!(dir.path().join("consentd.db").exists());

    let pid = child.id().to_string();
    assert!(Command::new("kill").args(["-TERM", &pid]).status().unwrap().success());
    let status = tokio::task::spawn_blocking(move || child.wait()).await.unwrap().unwrap();
    assert!(status.success(), "exit status {status:?}");
}
