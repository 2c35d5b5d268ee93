//! Group commit: many concurrent writers, several tenants; one failing write
//! does not disturb the others in its batch.

use std::collections::{BTreeMap, HashSet};

use consent_core::{ConsentError, Decision, Identity, SubjectRef, TenantId, UpdateConsent};

use crate::support::{TestStore, record};

on_every_backend!(concurrent_writes_get_gapless_per_tenant_revisions, a_failing_write_rolls_back_alone);

async fn concurrent_writes_get_gapless_per_tenant_revisions(store: TestStore) {
    let tasks: Vec<_> = (0..300)
        .map(|i| {
            let service = store.service.clone();
            tokio::spawn(async move {
                let tenant = TenantId::new(format!("tenant-{}", i % 3));
                let outcome = service
                    .record(&tenant, record(&format!("user-{i}"), "marketing", "", Decision::Granted))
                    .await
                    .unwrap();
                (tenant, outcome.revision)
            })
        })
        .collect();
    let mut by_tenant: BTreeMap<TenantId, Vec<i64>> = BTreeMap::new();
    for task in tasks {
        let (tenant, revision) = task.await.unwrap();
        by_tenant.entry(tenant).or_default().push(revision);
    }
    for (tenant, mut revisions) in by_tenant {
        revisions.sort_unstable();
        assert_eq!(revisions, (1..=100).collect::<Vec<_>>(), "{tenant:?}");
    }
}

async fn a_failing_write_rolls_back_alone(store: TestStore) {
    let tenant = TenantId::default_tenant();
    let tasks: Vec<_> = (0..100)
        .map(|i| {
            let service = store.service.clone();
            let tenant = tenant.clone();
            tokio::spawn(async move {
                if i % 2 == 0 {
                    service
                        .record(&tenant, record(&format!("ok-{i}"), "marketing", "", Decision::Granted))
                        .await
                        .map(|o| o.revision)
                } else {
                    // Nothing to update: NOT_FOUND, in the middle of others' batches.
                    service
                        .update(
                            &tenant,
                            UpdateConsent {
                                subject: SubjectRef::Identity(Identity::new(
                                    "user_id",
                                    format!("missing-{i}"),
                                )),
                                purpose: "marketing".into(),
                                target: String::new(),
                                decision: Decision::Denied,
                                collected_at: None,
                                expires_at: None,
                                source: String::new(),
                                evidence: Default::default(),
                                expected_revision: None,
                                idempotency_key: String::new(),
                            },
                        )
                        .await
                        .map(|o| o.revision)
                }
            })
        })
        .collect();
    let mut revisions = HashSet::new();
    for (i, task) in tasks.into_iter().enumerate() {
        match task.await.unwrap() {
            Ok(revision) => {
                assert_eq!(i % 2, 0);
                revisions.insert(revision);
            }
            Err(err) => {
                assert_eq!(i % 2, 1);
                assert!(matches!(err, ConsentError::NotFound(_)), "{err:?}");
            }
        }
    }
    // Failed writes left no holes: the 50 successes hold revisions 1..=50.
    assert_eq!(revisions, (1..=50).collect());
}
