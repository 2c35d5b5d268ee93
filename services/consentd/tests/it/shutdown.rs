//! Graceful shutdown of a real `consentd` process under load: SIGTERM turns
//! health NOT_SERVING, refuses new calls, lets calls in flight finish, ends
//! streams with a resumable status and exits within the grace period; no
//! acknowledged write is lost and no refused write was made.

use std::time::{Duration, Instant};

use consent_proto::v1 as pb;
use consent_proto::v1::consent_service_client::ConsentServiceClient;
use tonic::Code;
use tonic_health::pb::HealthCheckRequest;
use tonic_health::pb::health_check_response::ServingStatus;
use tonic_health::pb::health_client::HealthClient;
use tonic_types::StatusExt;

use crate::process::ConsentdProcess;
use crate::support::{identity, query_all, record_request};

const GRACE_MS: u64 = 5000;
const WRITERS: usize = 16;

async fn spawn(dir: &std::path::Path) -> ConsentdProcess {
    spawn_with_grace(dir, GRACE_MS).await
}

async fn spawn_with_grace(dir: &std::path::Path, grace_ms: u64) -> ConsentdProcess {
    let dir = dir.to_owned();
    tokio::task::spawn_blocking(move || {
        ConsentdProcess::spawn(
            &dir,
            &[("CONSENTD_AUTH", "disabled"), ("CONSENTD_SHUTDOWN_GRACE_MS", &grace_ms.to_string())],
        )
    })
    .await
    .unwrap()
}

/// One writer's calls: the identity written and how each call ended.
type Outcomes = Vec<(String, Result<i64, (Code, String)>)>;

/// Writes until a call fails (the server stopped taking calls) or `until`.
async fn write_until_refused(url: String, writer: usize, until: Instant) -> Outcomes {
    let mut outcomes = Vec::new();
    let Ok(mut client) = ConsentServiceClient::connect(url).await else { return outcomes };
    for call in 0.. {
        let user = format!("w{writer}-{call}");
        let request = record_request(identity("user_id", &user), "marketing", "", pb::Decision::Granted);
        let result = client
            .record_consent(request)
            .await
            .map(|response| response.into_inner().revision)
            .map_err(|status| (outcome_code(&status), status.message().to_owned()));
        let failed = result.is_err();
        outcomes.push((user, result));
        if failed || Instant::now() > until {
            break;
        }
    }
    outcomes
}

/// The code a failed call is judged by. A call the client opened on a stream
/// the server's GOAWAY had already excluded was never processed (RFC 9113
/// §6.8) and is safe to retry, but tonic maps that GOAWAY's `NO_ERROR` to
/// `INTERNAL` ("h2 protocol error"); it counts here as UNAVAILABLE, as gRPC
/// clients treat a refused stream.
fn outcome_code(status: &tonic::Status) -> Code {
    let mut source = std::error::Error::source(status);
    while let Some(error) = source {
        if let Some(h2) = error.downcast_ref::<h2::Error>() {
            let graceful = h2.is_go_away() && h2.is_remote() && h2.reason() == Some(h2::Reason::NO_ERROR);
            if graceful {
                return Code::Unavailable;
            }
        }
        source = error.source();
    }
    status.code()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_under_load_finishes_in_flight_calls_and_loses_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let process = spawn(dir.path()).await;
    let url = process.url();

    let channel = tonic::transport::Channel::from_shared(url.clone()).unwrap().connect().await.unwrap();
    let mut health = HealthClient::new(channel);
    let mut watch = health
        .watch(HealthCheckRequest { service: "consent.v1.ConsentService".into() })
        .await
        .unwrap()
        .into_inner();
    let first = watch.message().await.unwrap().unwrap();
    assert_eq!(first.status(), ServingStatus::Serving);
    let mut consent = ConsentServiceClient::connect(url.clone()).await.unwrap();
    let mut stream = consent
        .subscribe(pb::SubscribeRequest { from_beginning: true, ..Default::default() })
        .await
        .unwrap()
        .into_inner();

    let give_up = Instant::now() + Duration::from_secs(30);
    let writers: Vec<_> =
        (0..WRITERS).map(|writer| tokio::spawn(write_until_refused(url.clone(), writer, give_up))).collect();
    tokio::time::sleep(Duration::from_millis(700)).await;

    let stopping = tokio::spawn(async move {
        let signalled = Instant::now();
        let status = process.terminate().await;
        (status, signalled.elapsed())
    });

    // Health turns NOT_SERVING before the server goes away.
    let mut not_serving = false;
    while let Ok(Some(update)) = watch.message().await {
        if update.status() == ServingStatus::NotServing {
            not_serving = true;
            break;
        }
    }
    assert!(not_serving, "health never reported NOT_SERVING");

    // The stream ends resumably, naming where to resume.
    let ended = loop {
        match stream.message().await {
            Ok(Some(_)) => {}
            Ok(None) => panic!("the stream ended without a status"),
            Err(status) => break status,
        }
    };
    assert_eq!(ended.code(), Code::Unavailable, "{ended:?}");
    let info = ended.get_details_error_info().expect("ErrorInfo");
    assert!(info.metadata.contains_key("last_revision"), "{info:?}");

    let mut outcomes = Outcomes::new();
    for writer in writers {
        outcomes.extend(writer.await.unwrap());
    }
    let (exit, took) = stopping.await.unwrap();
    assert!(exit.success(), "consentd exited with {exit:?}");
    assert!(
        took < Duration::from_millis(GRACE_MS + 2000),
        "exit took {took:?}, the grace period is {GRACE_MS} ms"
    );

    assert_nothing_lost(dir.path(), &outcomes).await;
}

/// Back up on the database in `dir`: every acknowledged write of
/// `outcomes` is there, and every refused one is not (no call ended
/// ambiguously).
async fn assert_nothing_lost(dir: &std::path::Path, outcomes: &Outcomes) {
    let restarted = spawn(dir).await;
    let mut client = ConsentServiceClient::connect(restarted.url()).await.unwrap();
    let stored: std::collections::HashSet<String> = query_all(
        &mut client,
        pb::QueryConsentsRequest { history: true, page_size: 1000, ..Default::default() },
    )
    .await
    .into_iter()
    .flat_map(|record| record.identities.into_iter().map(|id| id.value))
    .collect();
    let acknowledged = outcomes.iter().filter(|(_, result)| result.is_ok()).count();
    assert!(acknowledged > WRITERS, "the load ran: {acknowledged} writes acknowledged");
    for (user, result) in outcomes {
        match result {
            Ok(_) => assert!(stored.contains(user), "acknowledged write {user} was lost"),
            // Refused by the draining server (UNAVAILABLE), or never sent
            // once the connection was closing (the client's CANCELLED):
            // either way not written, so safe to retry elsewhere.
            Err((code, message)) => {
                assert!(matches!(code, Code::Unavailable | Code::Cancelled), "{user}: {code:?} {message}");
                assert!(!stored.contains(user), "{user} failed ({message}) yet was written");
            }
        }
    }
    restarted.stop().await;
}

/// Holds the SQLite file's write lock from another connection, as another
/// process would, until dropped (rolled back).
async fn hold_write_lock(dir: &std::path::Path) -> sea_orm::DatabaseTransaction {
    use sea_orm::{ConnectionTrait as _, TransactionTrait as _};
    let url = format!("sqlite://{}?mode=rwc", dir.join("consentd.db").display());
    let other = sea_orm::Database::connect(url).await.unwrap();
    let lock = other.begin().await.unwrap();
    lock.execute_unprepared("INSERT INTO store_meta (key, value) VALUES ('held', 'by the test')")
        .await
        .unwrap();
    lock
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_call_in_flight_finishes_after_sigterm_and_a_stuck_one_is_cut_at_the_grace_period() {
    let dir = tempfile::tempdir().unwrap();
    let process = spawn(dir.path()).await;
    let mut client = ConsentServiceClient::connect(process.url()).await.unwrap();
    let held = hold_write_lock(dir.path()).await;
    let write = tokio::spawn(async move {
        client
            .record_consent(record_request(
                identity("user_id", "slow"),
                "marketing",
                "",
                pb::Decision::Granted,
            ))
            .await
    });
    // The write is in flight, waiting for the lock, when SIGTERM arrives.
    tokio::time::sleep(Duration::from_millis(500)).await;
    let stopping = tokio::spawn(async move {
        let signalled = Instant::now();
        let status = process.terminate().await;
        (status, signalled.elapsed())
    });
    tokio::time::sleep(Duration::from_millis(1000)).await;
    assert!(!stopping.is_finished(), "consentd must wait for the call in flight");
    drop(held);
    let written = write.await.unwrap().expect("the call in flight completes");
    let (exit, _) = stopping.await.unwrap();
    assert!(exit.success(), "{exit:?}");
    // Its grace period (1 s) ends well before the store gives up waiting
    // for the lock (5 s).
    let restarted = spawn_with_grace(dir.path(), 1000).await;
    let mut client = ConsentServiceClient::connect(restarted.url()).await.unwrap();
    let history =
        query_all(&mut client, pb::QueryConsentsRequest { history: true, ..Default::default() }).await;
    assert_eq!(history.iter().map(|r| r.revision).collect::<Vec<_>>(), [written.into_inner().revision]);

    // A call that cannot finish is cut when the grace period ends.
    let held = hold_write_lock(dir.path()).await;
    let stuck = tokio::spawn(async move {
        client
            .record_consent(record_request(
                identity("user_id", "stuck"),
                "marketing",
                "",
                pb::Decision::Granted,
            ))
            .await
    });
    tokio::time::sleep(Duration::from_millis(500)).await;
    let signalled = Instant::now();
    let exit = restarted.terminate().await;
    let took = signalled.elapsed();
    assert!(!exit.success(), "a stop that cut calls short is reported: {exit:?}");
    assert!(took >= Duration::from_millis(900), "it waited for the grace period: {took:?}");
    assert!(took < Duration::from_millis(3500), "and no longer: {took:?}");
    assert!(stuck.await.unwrap().is_err());
    drop(held);
}
