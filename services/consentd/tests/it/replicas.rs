//! Two consentd processes on one PostgreSQL database: writers on both,
//! subscribers on both, and every stream passes the change-feed checker over
//! the union of the writes.

use consent_proto::v1 as pb;
use consent_proto::v1::consent_service_client::ConsentServiceClient;
use consent_store::testing::TestDatabase;
use tokio::sync::watch;

use crate::feed_checker::{Filter, check_stream, subscribe, with_expiries, write};
use crate::process::ConsentdProcess;
use crate::support::{check_at_least, identity, record};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn subscribers_on_either_replica_see_every_write_in_order() {
    let database = TestDatabase::postgres().await;
    let dir = tempfile::tempdir().unwrap();
    let start = |url: String| {
        let dir = dir.path().to_owned();
        tokio::task::spawn_blocking(move || {
            ConsentdProcess::spawn(
                &dir,
                &[("CONSENTD_DATABASE_URL", url.as_str()), ("CONSENTD_AUTH", "disabled")],
            )
        })
    };
    // Both start, and migrate, at once.
    let (a, b) = tokio::join!(start(database.url.clone()), start(database.url.clone()));
    let (a, b) = (a.unwrap(), b.unwrap());
    for replica in [&a, &b] {
        assert_eq!(crate::health::http_get(replica.http_addr, "/readyz").await.0, 200);
    }
    let client_a = ConsentServiceClient::connect(a.url()).await.unwrap();
    let client_b = ConsentServiceClient::connect(b.url()).await.unwrap();

    // A write through A is visible on B at its revision.
    let mut writer_a = client_a.clone();
    let written =
        record(&mut writer_a, identity("user_id", "cross"), "marketing", "", pb::Decision::Granted).await;
    let mut reader_b = client_b.clone();
    let check =
        check_at_least(&mut reader_b, identity("user_id", "cross"), "marketing", written.revision).await;
    assert_eq!(check.status(), pb::ConsentStatus::Granted);

    let (head_sender, head) = watch::channel(written.revision);
    let (done_sender, writers_done) = watch::channel(false);
    let marketing = Filter { purposes: vec!["marketing".into()], targets: vec![], sources: vec![] };
    let all = Filter { purposes: vec![], targets: vec![], sources: vec![] };
    let subscribers = [
        ("all on A", client_a.clone(), all.clone()),
        ("all on B", client_b.clone(), all.clone()),
        ("marketing on A", client_a.clone(), marketing.clone()),
        ("marketing on B", client_b.clone(), marketing.clone()),
    ]
    .into_iter()
    .enumerate()
    .map(|(i, (name, client, filter))| {
        let task = tokio::spawn(subscribe(
            client,
            filter.clone(),
            31 * (i as u64 + 1),
            writers_done.clone(),
            head.clone(),
        ));
        (name, filter, task)
    })
    .collect::<Vec<_>>();

    let writers =
        [(client_a.clone(), 11), (client_a.clone(), 13), (client_b.clone(), 17), (client_b.clone(), 19)]
            .into_iter()
            .map(|(client, seed)| tokio::spawn(write(client, seed * 1_000_003, 30, head_sender.clone())))
            .collect::<Vec<_>>();
    let mut expiring = 0;
    for writer in writers {
        expiring += writer.await.unwrap();
    }
    let stored = with_expiries(&mut writer_a, expiring, &head_sender).await;
    done_sender.send(true).unwrap();

    let revisions: Vec<i64> = stored.iter().map(|r| r.revision).collect();
    assert_eq!(revisions, (1..=*head.borrow()).collect::<Vec<_>>(), "one gapless sequence across replicas");
    let mut sequences = Vec::new();
    for (name, filter, task) in subscribers {
        let segments = task.await.unwrap();
        let matching: Vec<i64> = stored.iter().filter(|r| filter.matches(r)).map(|r| r.revision).collect();
        sequences.push(check_stream(name, &segments, &matching));
    }
    assert_eq!(sequences[0], sequences[1], "agreement across replicas");
    assert_eq!(sequences[2], sequences[3], "agreement across replicas");

    a.stop().await;
    b.stop().await;
}
