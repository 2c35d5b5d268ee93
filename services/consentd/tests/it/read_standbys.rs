//! `consentd serve --read-database-url`: a real process reads from a real hot
//! standby, keeps `min_revision` across it, and leaves it for the primary
//! while its replay is paused (and says so in its log).

use std::time::Duration;

use consent_proto::v1 as pb;
use consent_proto::v1::consent_service_client::ConsentServiceClient;
use consent_store::testing::ReplicatedPostgres;

use crate::process::ConsentdProcess;
use crate::support::{by_identity, identity, record_request};

async fn check(
    client: &mut ConsentServiceClient<tonic::transport::Channel>,
    min_revision: i64,
) -> pb::CheckConsentResponse {
    client
        .check_consent(pb::CheckConsentRequest {
            subject: by_identity(identity("user_id", "ann")),
            purpose: "marketing".into(),
            min_revision,
            ..Default::default()
        })
        .await
        .expect("check")
        .into_inner()
}

/// The `consentd_store_standby_in_use` value `/metrics` reports for the
/// one standby.
async fn standby_in_use(process: &ConsentdProcess) -> String {
    let (code, body) = crate::health::http_get(process.http_addr, "/metrics").await;
    assert_eq!(code, 200, "{body}");
    body.lines()
        .find(|line| {
            line.starts_with("consentd_store_standby_in_use{") && line.contains("standby=\"127.0.0.1:")
        })
        .and_then(|line| line.rsplit(' ').next())
        .unwrap_or_else(|| panic!("no standby gauge in /metrics:\n{body}"))
        .to_owned()
}

async fn until_logged(process: &ConsentdProcess, message: &str) {
    for _ in 0..300 {
        if process.log().iter().any(|line| line.contains(message)) {
            return;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("never logged {message:?}; the log:\n{}", process.log().join("\n"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn serve_reads_from_a_standby_and_leaves_it_while_its_replay_is_paused() {
    let cluster = ReplicatedPostgres::start();
    let dir = tempfile::tempdir().unwrap();
    let config = "[store]\ncache_max_mib = 0\nstandby_max_lag_ms = 400\n";
    let (primary, standby) = (cluster.primary_url(), cluster.standby_url());
    let env = [
        ("CONSENTD_AUTH", "disabled"),
        ("CONSENTD_DATABASE_URL", primary.as_str()),
        ("CONSENTD_READ_DATABASE_URLS", standby.as_str()),
    ];
    let process = ConsentdProcess::start(dir.path(), config, &env).await;
    let mut client = ConsentServiceClient::connect(process.url()).await.unwrap();

    let granted = client
        .record_consent(record_request(identity("user_id", "ann"), "marketing", "", pb::Decision::Granted))
        .await
        .unwrap()
        .into_inner();
    cluster.wait_for_replay();
    until_logged(&process, "standby caught up; it serves reads").await;
    assert_eq!(standby_in_use(&process).await, "1");
    let (_, metrics) = crate::health::http_get(process.http_addr, "/metrics").await;
    assert!(metrics.lines().any(|line| line.starts_with("consentd_store_standby_lag_seconds{")), "{metrics}");
    let answer = check(&mut client, granted.revision).await;
    assert_eq!(answer.status(), pb::ConsentStatus::Granted);

    cluster.pause_replay();
    let denied = client
        .record_consent(record_request(identity("user_id", "ann"), "marketing", "", pb::Decision::Denied))
        .await
        .unwrap()
        .into_inner();
    let answer = check(&mut client, denied.revision).await;
    assert_eq!(
        answer.status(),
        pb::ConsentStatus::Denied,
        "min_revision was not kept across the paused standby"
    );
    until_logged(&process, "standby is behind or unreachable").await;
    assert_eq!(standby_in_use(&process).await, "0");
    for _ in 0..10 {
        assert_eq!(check(&mut client, 0).await.status(), pb::ConsentStatus::Denied);
    }
    cluster.resume_replay();
    cluster.wait_for_replay();
    for _ in 0..10 {
        assert_eq!(check(&mut client, 0).await.status(), pb::ConsentStatus::Denied);
    }
}
