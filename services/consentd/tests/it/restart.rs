//! Durability across restarts of the server on the same database file.

use consent_proto::v1 as pb;

use crate::support::{TestServer, by_identity, check, history, identity, record};

#[tokio::test]
async fn state_survives_a_restart() {
    let mut server = TestServer::start().await;
    let subject = identity("email", "durable@example.com");
    let written = {
        let mut client = server.client().await;
        record(&mut client, subject.clone(), "marketing", "", pb::Decision::Granted).await
    };
    server.restart().await;
    assert!(server.database_file().exists());

    let mut client = server.client().await;
    assert_eq!(
        check(&mut client, by_identity(subject.clone()), "marketing", "").await,
        pb::ConsentStatus::Granted
    );
    let history = history(&mut client).await;
    assert_eq!(history, written.records);

    // Revisions continue where they stopped.
    let next = record(&mut client, subject, "analytics", "", pb::Decision::Denied).await;
    assert_eq!(next.revision, written.revision + 1);
    assert_eq!(next.subject_id, written.subject_id);
}
