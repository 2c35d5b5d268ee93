//! Reading the change feed from the store: pages, cursors, filters, and
//! writes made through another replica.

use std::time::Duration;

use consent_core::{ConsentStore, Decision, FeedFilter, TenantId};

use crate::support::{TestStore, record};

on_every_backend!(pages_advance_the_cursor_to_the_head, another_replicas_writes_are_read);

async fn pages_advance_the_cursor_to_the_head(store: TestStore) {
    let s = &store.service;
    let tenant = TenantId::default_tenant();
    for i in 0..10 {
        let purpose = if i % 2 == 0 { "marketing" } else { "analytics" };
        s.record(&tenant, record(&format!("u{i}"), purpose, "", Decision::Granted)).await.unwrap();
    }
    let filter = FeedFilter { purposes: vec!["marketing".into()], ..FeedFilter::default() };
    let full = s.read_changes(&tenant, &filter, 0, 3).await.unwrap();
    assert_eq!(full.records.iter().map(|r| r.revision).collect::<Vec<_>>(), [1, 3, 5]);
    assert_eq!(full.cursor, 5, "a full page continues after its last record");
    let rest = s.read_changes(&tenant, &filter, full.cursor, 3).await.unwrap();
    assert_eq!(rest.records.iter().map(|r| r.revision).collect::<Vec<_>>(), [7, 9]);
    assert_eq!(rest.cursor, 10, "a short page has read up to the head");
    let idle = s.read_changes(&tenant, &filter, rest.cursor, 3).await.unwrap();
    assert!(idle.records.is_empty());
    assert_eq!(idle.cursor, 10);
}

async fn another_replicas_writes_are_read(store: TestStore) {
    let tenant = TenantId::default_tenant();
    let replica = store.replica().await;
    let mut woken = replica.store().commits();
    store.service.record(&tenant, record("u", "marketing", "", Decision::Granted)).await.unwrap();
    let page = replica.read_changes(&tenant, &FeedFilter::default(), 0, 10).await.unwrap();
    assert_eq!(page.records.len(), 1);
    if store.database.backend == consent_store::testing::Backend::Postgres {
        // LISTEN/NOTIFY wakes the other replica's subscribers.
        tokio::time::timeout(Duration::from_secs(10), woken.changed())
            .await
            .expect("the replica was not woken by the commit")
            .unwrap();
    }
}
