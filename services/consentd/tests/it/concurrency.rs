//! Many writers at once: the state is the latest decision, history keeps all.

use std::collections::HashSet;

use consent_proto::v1 as pb;

use crate::support::{TestServer, by_identity, history, identity, query_all, record_request, seconds_ago};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_hundred_concurrent_records_leave_the_latest_collected_as_state() {
    let server = TestServer::start().await;
    let client = server.client().await;
    let subject = identity("user_id", "contended");

    // Collection times are a permutation, so exactly one call is the latest.
    let calls = (0..200i64).map(|i| {
        let mut client = client.clone();
        let mut request = record_request(
            subject.clone(),
            "marketing",
            "",
            if i % 2 == 0 { pb::Decision::Granted } else { pb::Decision::Denied },
        );
        request.collected_at = Some(seconds_ago(1000 + (i * 7919) % 200));
        tokio::spawn(async move { client.record_consent(request).await.unwrap().into_inner() })
    });
    let mut responses = Vec::new();
    for call in calls {
        responses.push(call.await.unwrap());
    }

    let latest = responses
        .iter()
        .map(|r| &r.records[0])
        .max_by_key(|r| r.collected_at.as_ref().map(|t| (t.seconds, t.nanos)))
        .unwrap()
        .clone();
    let mut client = client;
    let check = client
        .check_consent(pb::CheckConsentRequest {
            subject: by_identity(subject),
            purpose: "marketing".into(),
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(check.record.unwrap().id, latest.id);

    let history = history(&mut client).await;
    let stored: HashSet<_> = history.iter().map(|r| r.id.clone()).collect();
    assert_eq!(history.len(), 200);
    assert!(responses.iter().all(|r| stored.contains(&r.records[0].id)));
    let revisions: HashSet<_> = history.iter().map(|r| r.revision).collect();
    assert_eq!(revisions, (1..=200).collect(), "revisions are unique and gapless");

    let current = query_all(&mut client, pb::QueryConsentsRequest::default()).await;
    assert_eq!(current.len(), 1);
    assert_eq!(current[0].id, latest.id);
}
