//! Revisions commit in order: a writer whose transaction stays open holds
//! back every later revision of its tenant, so a change-feed reader that reads
//! "revision > cursor" can never pass over a row that commits late.

use std::time::Duration;

use consent_core::{ConsentStore, Decision, FeedFilter, TenantId};
use sea_orm::{ConnectionTrait, Database, TransactionTrait};

use crate::support::{TestStore, record};

on_every_backend!(a_late_committing_writer_is_never_skipped);

const SLOW_RECORD: &str = "INSERT INTO consent_records (id, tenant, revision, subject_id, identities, purpose, target, \
    decision, collected_at, expires_at, recorded_at, source, kind, user_agent, ip, uri, country, region, city, \
    notice_version, policy_version, message, metadata_json, consent_id, vendor, payload_digest) VALUES \
    ('00000000-0000-7000-8000-000000000001', 'default', 1, '00000000-0000-5000-8000-000000000001', '[]', \
    'marketing', '', 'granted', 1, NULL, 1, 'slow', 'recorded', '', '', '', '', '', '', '', '', '', '', '', '', '')";

async fn a_late_committing_writer_is_never_skipped(store: TestStore) {
    let tenant = TenantId::default_tenant();
    // The slow writer takes revision 1 the way the store does (the head row),
    // then keeps its transaction open.
    let slow = Database::connect(store.database.url.clone()).await.unwrap();
    let txn = slow.begin().await.unwrap();
    txn.execute_unprepared("INSERT INTO tenant_heads (tenant, head) VALUES ('default', 1)").await.unwrap();
    txn.execute_unprepared(SLOW_RECORD).await.unwrap();

    // Five ordinary writes start meanwhile; they cannot commit before it.
    let writers: Vec<_> = (0..5)
        .map(|i| {
            let service = store.service.clone();
            let tenant = tenant.clone();
            tokio::spawn(async move {
                service
                    .record(&tenant, record(&format!("fast-{i}"), "marketing", "", Decision::Granted))
                    .await
            })
        })
        .collect();
    tokio::time::sleep(Duration::from_millis(500)).await;

    // A reader now sees nothing: no later revision is visible before the slow one.
    let before = store.service.read_changes(&tenant, &FeedFilter::default(), 0, 100).await.unwrap();
    assert!(before.records.is_empty(), "read {:?} while revision 1 was uncommitted", before.records);
    assert_eq!(before.cursor, 0);
    assert!(writers.iter().all(|w| !w.is_finished()), "a write committed ahead of an earlier revision");

    txn.commit().await.unwrap();
    for writer in writers {
        writer.await.unwrap().expect("write succeeds once the slow writer committed");
    }
    let after = store.service.read_changes(&tenant, &FeedFilter::default(), 0, 100).await.unwrap();
    let revisions: Vec<_> = after.records.iter().map(|r| r.revision).collect();
    assert_eq!(revisions, [1, 2, 3, 4, 5, 6]);
    assert_eq!(after.records[0].source, "slow");
    assert_eq!(store.service.store().head_revision(&tenant, 0).await.unwrap(), 6);
}
