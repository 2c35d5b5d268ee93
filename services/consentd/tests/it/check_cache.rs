//! The check cache never answers from a state older than what it reports:
//! checks right after writes — on the same server, and on another replica
//! with the write's revision as `min_revision` — under concurrent writes.

use consent_proto::v1 as pb;

use crate::support::{Client, TestServer, by_identity, check_at_least, identity, record, two_replicas};

/// Sequential writes of one subject (so each is the latest decision), each
/// followed by a check on `reader` carrying its revision: the answer must be
/// that write or a later one, never an older state.
async fn write_then_check(
    mut writer: Client,
    mut reader: Client,
    subject: String,
    rounds: usize,
    pass_revision: bool,
) {
    for round in 0..rounds {
        let (decision, status) = if round % 2 == 0 {
            (pb::Decision::Granted, pb::ConsentStatus::Granted)
        } else {
            (pb::Decision::Denied, pb::ConsentStatus::Denied)
        };
        let written = record(&mut writer, identity("user_id", &subject), "marketing", "", decision).await;
        let min_revision = if pass_revision { written.revision } else { 0 };
        let answer =
            check_at_least(&mut reader, identity("user_id", &subject), "marketing", min_revision).await;
        let record = answer.record.as_ref().expect("a deciding record");
        assert!(
            answer.revision >= written.revision,
            "{subject} round {round}: answered at {} < {}",
            answer.revision,
            written.revision
        );
        assert_eq!(
            record.revision, written.revision,
            "{subject} round {round}: answered from revision {}",
            record.revision
        );
        assert_eq!(answer.status(), status, "{subject} round {round}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_check_after_an_acknowledged_write_on_the_same_server_sees_it() {
    let server = TestServer::start().await;
    // Every check caches the state the next write replaces.
    let tasks: Vec<_> = (0..4)
        .map(|writer| {
            let server_url = server.url();
            tokio::spawn(async move {
                let client = crate::support::Client::connect(server_url).await.unwrap();
                write_then_check(client.clone(), client, format!("same-{writer}"), 60, false).await;
            })
        })
        .collect();
    for task in tasks {
        task.await.unwrap();
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_check_with_min_revision_on_another_replica_never_sees_an_older_state() {
    let (_database, a, b) = two_replicas().await;
    let (client_a, client_b) = (a.client().await, b.client().await);
    // Four writers, two on each replica, each checking on the other one; and
    // a reader that keeps the subjects in B's and A's caches meanwhile.
    let tasks: Vec<_> = (0..4)
        .map(|writer| {
            let (to, from) = if writer % 2 == 0 {
                (client_a.clone(), client_b.clone())
            } else {
                (client_b.clone(), client_a.clone())
            };
            tokio::spawn(write_then_check(to, from, format!("cross-{writer}"), 40, true))
        })
        .collect();
    let (mut warm_a, mut warm_b) = (client_a.clone(), client_b.clone());
    let warmer = tokio::spawn(async move {
        for round in 0..400 {
            let subject = format!("cross-{}", round % 4);
            for client in [&mut warm_a, &mut warm_b] {
                let _ = crate::support::check(
                    client,
                    by_identity(identity("user_id", &subject)),
                    "marketing",
                    "",
                )
                .await;
            }
        }
    });
    for task in tasks {
        task.await.unwrap();
    }
    warmer.await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_identity_checked_while_unknown_is_known_once_recorded() {
    let (_database, a, b) = two_replicas().await;
    let (mut on_a, mut on_b) = (a.client().await, b.client().await);
    let subject = by_identity(identity("email", "later@example.com"));
    // UNKNOWN is cached on both replicas...
    for client in [&mut on_a, &mut on_b] {
        assert_eq!(
            crate::support::check(client, subject.clone(), "marketing", "").await,
            pb::ConsentStatus::Unknown
        );
    }
    // ...and forgotten by the write, here and there.
    let written =
        record(&mut on_a, identity("email", "later@example.com"), "marketing", "", pb::Decision::Granted)
            .await;
    assert_eq!(
        crate::support::check(&mut on_a, subject.clone(), "marketing", "").await,
        pb::ConsentStatus::Granted
    );
    let on_b_answer =
        check_at_least(&mut on_b, identity("email", "later@example.com"), "marketing", written.revision)
            .await;
    assert_eq!(on_b_answer.status(), pb::ConsentStatus::Granted);
}

/// Replica A's commit-notice connection freezes (a proxy stops forwarding on
/// it but keeps both sockets open: no error ever reaches the listener). A
/// withdrawal acknowledged by replica B must still reach A's checks: every
/// check A begins once the staleness bound has passed since the
/// acknowledgement answers DENIED, and none answers GRANTED after a DENIED.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_frozen_notice_connection_never_leaves_a_withdrawal_unseen() {
    use std::time::{Duration, Instant};

    let database = consent_store::testing::TestDatabase::postgres().await;
    let server = consent_store::testing::postgres_server_url();
    let freezer = consent_store::testing::ListenerFreezer::start(server.rsplit('@').next().unwrap()).await;
    let proxied = format!("postgres://postgres@{}/{}", freezer.addr, database.postgres_name().unwrap());
    let bound = consent_store::StoreOptions::new("").notice_max_staleness;
    let a = TestServer::start_with(|config| config.store = consent_store::StoreOptions::new(proxied)).await;
    let b = TestServer::start_with(|config| {
        config.store = consent_store::StoreOptions::new(database.url.clone())
    })
    .await;
    let (mut on_a, mut on_b) = (a.client().await, b.client().await);
    let ann = || identity("user_id", "ann");

    let granted = record(&mut on_b, ann(), "marketing", "", pb::Decision::Granted).await;
    let warm = check_at_least(&mut on_a, ann(), "marketing", granted.revision).await;
    assert_eq!(warm.status(), pb::ConsentStatus::Granted);
    // From A's cache now, as fresh as its notices.
    let cached = check_at_least(&mut on_a, ann(), "marketing", 0).await;
    assert_eq!(cached.status(), pb::ConsentStatus::Granted);

    freezer.freeze_listeners();
    record(&mut on_b, ann(), "marketing", "", pb::Decision::Denied).await;
    let acknowledged = Instant::now();

    let mut answers = Vec::new();
    while acknowledged.elapsed() < bound + Duration::from_secs(3) {
        let began = Instant::now();
        let answer = check_at_least(&mut on_a, ann(), "marketing", 0).await;
        answers.push((began.duration_since(acknowledged), answer.status()));
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    for (at, status) in &answers {
        if *at >= bound {
            assert_eq!(
                *status,
                pb::ConsentStatus::Denied,
                "A answered {status:?} {at:?} after the withdrawal"
            );
        }
    }
    let first_denied = answers.iter().position(|(_, status)| *status == pb::ConsentStatus::Denied);
    let first_denied = first_denied.expect("A never saw the withdrawal");
    assert!(
        answers[first_denied..].iter().all(|(_, status)| *status == pb::ConsentStatus::Denied),
        "GRANTED after DENIED: {answers:?}"
    );
}
