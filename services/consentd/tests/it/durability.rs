//! Durability does not depend on the PostgreSQL server's defaults: with a
//! database whose default is `synchronous_commit = off` (a role, database or
//! managed parameter group can set it), consentd's write transactions still
//! commit with it `on`. A trigger on the records table sees the setting in
//! force inside each write transaction.

use consent_proto::v1 as pb;
use consent_store::StoreOptions;
use consent_store::testing::{TestDatabase, postgres_server_url};
use sea_orm::{ConnectionTrait, Database, DatabaseConnection};

use crate::support::{TestServer, by_identity, identity, record, record_request};

async fn setting(db: &DatabaseConnection) -> String {
    db.query_one_raw(sea_orm::Statement::from_string(
        sea_orm::DbBackend::Postgres,
        "SELECT current_setting('synchronous_commit') AS s",
    ))
    .await
    .unwrap()
    .unwrap()
    .try_get::<String>("", "s")
    .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn writes_commit_durably_when_the_database_default_is_not() {
    let database = TestDatabase::postgres().await;
    let name = database.postgres_name().unwrap().to_owned();
    let admin = Database::connect(format!("{}/postgres", postgres_server_url())).await.unwrap();
    admin
        .execute_unprepared(&format!("ALTER DATABASE \"{name}\" SET synchronous_commit = off"))
        .await
        .unwrap();
    admin.close().await.unwrap();
    // Every new session of this database starts with it off: so do the
    // connections consentd opens.
    let direct = Database::connect(&database.url).await.unwrap();
    assert_eq!(setting(&direct).await, "off");

    let server =
        TestServer::start_with(|config| config.store = StoreOptions::new(database.url.clone())).await;
    direct
        .execute_unprepared(
            "CREATE TABLE seen_synchronous_commit (setting text NOT NULL);
             CREATE FUNCTION note_synchronous_commit() RETURNS trigger LANGUAGE plpgsql AS $$
             BEGIN
               INSERT INTO seen_synchronous_commit VALUES (current_setting('synchronous_commit'));
               RETURN NULL;
             END $$;
             CREATE TRIGGER note_synchronous_commit AFTER INSERT ON consent_records
               FOR EACH STATEMENT EXECUTE FUNCTION note_synchronous_commit();",
        )
        .await
        .unwrap();

    // Writes through every path: single records, concurrent ones (batched
    // together), an update, and an idempotent replay beside a fresh write
    // (the one-savepoint-per-write path).
    let mut client = server.client().await;
    record(&mut client, identity("user_id", "ann"), "marketing", "", pb::Decision::Granted).await;
    let writes = (0..20).map(|n| {
        let mut client = client.clone();
        tokio::spawn(async move {
            record(&mut client, identity("user_id", &format!("u{n}")), "analytics", "", pb::Decision::Denied)
                .await
        })
    });
    for write in writes.collect::<Vec<_>>() {
        write.await.unwrap();
    }
    client
        .update_consent(pb::UpdateConsentRequest {
            subject: by_identity(identity("user_id", "ann")),
            purpose: "marketing".into(),
            decision: pb::Decision::Denied.into(),
            ..Default::default()
        })
        .await
        .unwrap();
    let mut keyed = record_request(identity("user_id", "bob"), "marketing", "", pb::Decision::Granted);
    keyed.idempotency_key = "bob-1".into();
    client.record_consent(keyed.clone()).await.unwrap();
    let (mut first, mut second) = (client.clone(), client.clone());
    let (replay, _) = tokio::join!(
        first.record_consent(keyed),
        record(&mut second, identity("user_id", "cy"), "marketing", "", pb::Decision::Granted)
    );
    replay.unwrap();

    let rows = direct
        .query_all_raw(sea_orm::Statement::from_string(
            sea_orm::DbBackend::Postgres,
            "SELECT setting FROM seen_synchronous_commit",
        ))
        .await
        .unwrap();
    let seen: Vec<String> = rows.iter().map(|row| row.try_get("", "setting").unwrap()).collect();
    assert!(!seen.is_empty(), "no write transaction was observed");
    assert!(seen.iter().all(|s| s == "on"), "write transactions ran with synchronous_commit {seen:?}");
    // Outside consentd's write transactions the database default still holds.
    assert_eq!(setting(&direct).await, "off");
    direct.close().await.unwrap();
}
