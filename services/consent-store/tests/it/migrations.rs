//! Migrations: safe when several replicas start at once.

use consent_store::{SqlStore, StoreOptions};

use crate::support::TestStore;

on_every_backend!(replicas_migrating_at_once_all_succeed);

async fn replicas_migrating_at_once_all_succeed(store: TestStore) {
    // `store` is migrated already; start four more replicas on a fresh
    // database and migrate them concurrently.
    let fresh = consent_store::testing::TestDatabase::new(store.database.backend).await;
    let mut tasks = Vec::new();
    for _ in 0..4 {
        let url = fresh.url.clone();
        tasks.push(tokio::spawn(async move {
            let replica = SqlStore::connect(&StoreOptions::new(url)).await.unwrap();
            replica.migrate().await
        }));
    }
    for task in tasks {
        task.await.unwrap().expect("every replica's migration succeeds");
    }
    let replica = SqlStore::connect(&StoreOptions::new(fresh.url.clone())).await.unwrap();
    replica.migrate().await.expect("a second run finds nothing to do");
    consent_core::ConsentStore::ready(&replica).await.expect("ready after migrations");
}
