//! Nothing stops silently: when a vital task of the process dies — the group
//! committer, the commit-notice listener, the webhook relay — liveness fails
//! (`/healthz` 503, gRPC health `""` NOT_SERVING) and the log says why, so
//! the orchestrator restarts the process; the restart loses no acknowledged
//! write. The faults are injected with fail points compiled into test builds
//! only, in a real `consentd` process.

use std::time::Duration;

use consent_proto::v1 as pb;
use consent_proto::v1::consent_service_client::ConsentServiceClient;
use consent_store::testing::{Backend, TestDatabase};
use tonic_health::pb::HealthCheckRequest;
use tonic_health::pb::health_check_response::ServingStatus;
use tonic_health::pb::health_client::HealthClient;

use crate::health::http_get;
use crate::process::ConsentdProcess;
use crate::support::{history, identity, record_request};

async fn spawn(dir: &std::path::Path, database_url: &str, failpoints: Option<&str>) -> ConsentdProcess {
    let mut env = vec![("CONSENTD_AUTH", "disabled"), ("CONSENTD_DATABASE_URL", database_url)];
    env.extend(failpoints.map(|failpoints| ("FAILPOINTS", failpoints)));
    ConsentdProcess::start(dir, "", &env).await
}

/// Waits (bounded) until `/healthz` fails; its body.
async fn wait_until_dead(process: &ConsentdProcess) -> String {
    for _ in 0..200 {
        let (code, body) = http_get(process.http_addr, "/healthz").await;
        if code == 503 {
            return body;
        }
        assert_eq!(code, 200, "{body}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("liveness never failed; the log:\n{}", process.log().join("\n"));
}

/// Waits (bounded: the health loop runs every 5 s) until gRPC health for
/// the server (`""`) reports `wanted`.
async fn wait_for_server_health(process: &ConsentdProcess, wanted: ServingStatus) {
    let channel = tonic::transport::Channel::from_shared(process.url()).unwrap().connect().await.unwrap();
    let mut health = HealthClient::new(channel);
    for _ in 0..150 {
        let status = health.check(HealthCheckRequest { service: String::new() }).await.unwrap();
        if status.into_inner().status() == wanted {
            return;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("gRPC health for the server never became {wanted:?}");
}

/// The log says which task died and why.
fn assert_logged(process: &ConsentdProcess, task: &str, why: &str) {
    let log = process.log();
    assert!(
        log.iter()
            .any(|line| line.contains("a vital task died") && line.contains(task) && line.contains(why)),
        "the log does not say the {task} died of {why}:\n{}",
        log.join("\n")
    );
}

async fn a_panic_in_the_commit_task_fails_liveness_and_a_restart_loses_nothing(backend: Backend) {
    let database = TestDatabase::new(backend).await;
    let dir = tempfile::tempdir().unwrap();
    // The first five commits go through; the sixth panics in the commit task.
    let failing =
        spawn(dir.path(), &database.url, Some("store::commit=5*off->panic(injected commit fault)")).await;
    let mut client = ConsentServiceClient::connect(failing.url()).await.unwrap();
    let mut acknowledged = Vec::new();
    let mut refused = None;
    for n in 0..20 {
        let request =
            record_request(identity("user_id", &format!("u{n}")), "marketing", "", pb::Decision::Granted);
        match client.record_consent(request).await {
            Ok(response) => acknowledged.extend(response.into_inner().records),
            Err(status) => {
                refused = Some(status);
                break;
            }
        }
    }
    assert_eq!(acknowledged.len(), 5, "the first five writes commit");
    let refused = refused.expect("the write after them fails");
    assert_eq!(refused.code(), tonic::Code::Unavailable, "{refused:?}");

    let body = wait_until_dead(&failing).await;
    assert!(body.contains("group committer") && body.contains("injected commit fault"), "{body}");
    wait_for_server_health(&failing, ServingStatus::NotServing).await;
    assert_eq!(http_get(failing.http_addr, "/readyz").await.0, 503);
    assert_logged(&failing, "group committer", "injected commit fault");

    // What the orchestrator does next: kill and start again.
    failing.kill();
    let restarted = spawn(dir.path(), &database.url, None).await;
    assert_eq!(http_get(restarted.http_addr, "/healthz").await.0, 200);
    wait_for_server_health(&restarted, ServingStatus::Serving).await;
    let mut client = ConsentServiceClient::connect(restarted.url()).await.unwrap();
    let stored = history(&mut client).await;
    for record in &acknowledged {
        assert_eq!(stored.iter().filter(|stored| stored.id == record.id).count(), 1, "{record:?}");
    }
    client
        .record_consent(record_request(identity("user_id", "after"), "marketing", "", pb::Decision::Granted))
        .await
        .expect("writes work again after the restart");
    restarted.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_panic_in_the_commit_task_fails_liveness_on_sqlite() {
    a_panic_in_the_commit_task_fails_liveness_and_a_restart_loses_nothing(Backend::Sqlite).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_panic_in_the_commit_task_fails_liveness_on_postgres() {
    a_panic_in_the_commit_task_fails_liveness_and_a_restart_loses_nothing(Backend::Postgres).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_dead_notice_listener_fails_liveness() {
    let database = TestDatabase::postgres().await;
    let dir = tempfile::tempdir().unwrap();
    let process = spawn(dir.path(), &database.url, Some("store::notice=panic(injected notice fault)")).await;
    let mut client = ConsentServiceClient::connect(process.url()).await.unwrap();
    // The write's commit notice reaches the listener, which dies of it.
    client
        .record_consent(record_request(identity("user_id", "u"), "marketing", "", pb::Decision::Granted))
        .await
        .unwrap();
    let body = wait_until_dead(&process).await;
    assert!(body.contains("commit notice listener"), "{body}");
    wait_for_server_health(&process, ServingStatus::NotServing).await;
    assert_logged(&process, "commit notice listener", "injected notice fault");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_dead_webhook_relay_fails_liveness() {
    let database = TestDatabase::sqlite();
    let dir = tempfile::tempdir().unwrap();
    let process = spawn(dir.path(), &database.url, Some("webhooks::relay=panic(injected relay fault)")).await;
    let body = wait_until_dead(&process).await;
    assert!(body.contains("webhook relay"), "{body}");
    wait_for_server_health(&process, ServingStatus::NotServing).await;
    assert_logged(&process, "webhook relay", "injected relay fault");
}
