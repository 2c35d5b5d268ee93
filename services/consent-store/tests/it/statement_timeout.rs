//! PostgreSQL: no statement the store runs may take longer than its
//! `statement_timeout`, so a stuck read gives its connection (and a core)
//! back with UNAVAILABLE instead of holding it.

use std::time::Duration;

use consent_core::{ConsentError, ConsentService, Decision, QueryConsents, RecordFilter, TenantId};
use consent_store::testing::{Backend, TestDatabase};
use consent_store::{SqlStore, StoreOptions};
use sea_orm::{ConnectionTrait, Database, TransactionTrait};

use crate::support::record;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_read_that_would_wait_forever_is_cancelled_at_the_statement_timeout() {
    let database = TestDatabase::new(Backend::Postgres).await;
    let mut options = StoreOptions::new(database.url.clone());
    options.statement_timeout = Duration::from_millis(300);
    options.cache_max_bytes = 0;
    let store = SqlStore::connect(&options).await.expect("connect");
    store.migrate().await.expect("migrate");
    let service = ConsentService::new(store);
    let tenant = TenantId::default_tenant();
    service.record(&tenant, record("u", "marketing", "", Decision::Granted)).await.expect("record");

    // Another session holds the records table; a read of it would wait for
    // as long as that lasts.
    let other = Database::connect(database.url.as_str()).await.expect("connect");
    let holder = other.begin().await.expect("begin");
    holder.execute_unprepared("LOCK TABLE consent_records IN ACCESS EXCLUSIVE MODE").await.expect("lock");

    let query = QueryConsents {
        filter: RecordFilter { history: true, ..RecordFilter::default() },
        page_size: 10,
        page_token: String::new(),
    };
    let outcome =
        tokio::time::timeout(Duration::from_secs(30), service.query(&tenant, query.clone(), usize::MAX))
            .await
            .expect("the read was not cancelled: it waited on the lock");
    assert!(matches!(outcome, Err(ConsentError::Unavailable(_))), "{outcome:?}");

    holder.rollback().await.expect("rollback");
    let page = service.query(&tenant, query, usize::MAX).await.expect("the same read once the lock is gone");
    assert_eq!(page.records.len(), 1);
}
