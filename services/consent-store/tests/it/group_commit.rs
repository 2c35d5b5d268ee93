//! Group commit: many concurrent writers, several tenants; one failing write
//! does not disturb the others in its batch.

use std::collections::{BTreeMap, HashSet};

use std::collections::HashMap;

use consent_core::subject::subject_id_for;
use consent_core::{
    BatchCheckConsent, CheckConsent, ConsentError, ConsentStatus, Decision, GetConsent, Identity,
    PurposeTarget, SubjectRef, TenantId, Timestamp, UpdateConsent,
};
use uuid::Uuid;

use consent_core::ConsentService;
use consent_store::SqlStore;

use crate::support::{TestStore, ago, record};

on_every_backend!(
    concurrent_writes_get_gapless_per_tenant_revisions,
    a_failing_write_rolls_back_alone,
    batched_writes_do_what_writes_one_after_another_would,
    an_acknowledged_write_is_visible_to_every_replica,
    a_write_naming_a_hundred_people_costs_the_statements_of_one,
    a_vendor_check_of_a_target_is_answered_from_the_check_cache,
    a_batch_of_checks_costs_the_reads_of_one
);

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

/// Concurrent writes share batches (and the batch path that applies a
/// tenant's plain records together). Whatever the batching, the outcome must
/// be that of the writes applied one by one in revision order: subjects
/// chosen from identities linked by earlier writes, links made once, and the
/// current state the latest decision by collected_at (ties: revision).
async fn batched_writes_do_what_writes_one_after_another_would(store: TestStore) {
    let tenant = TenantId::default_tenant();
    let pool: Vec<Identity> = (0..6).map(|i| Identity::new("user_id", format!("shared-{i}"))).collect();
    let tasks: Vec<_> = (0..200usize)
        .map(|i| {
            let service = store.service.clone();
            let tenant = tenant.clone();
            // One or two identities from a small pool, out-of-order
            // collection times, two purposes.
            let mut cmd = record("unused", if i % 3 == 0 { "a" } else { "b" }, "", Decision::Granted);
            cmd.identities = vec![pool[i * 7 % 6].clone()];
            if i % 4 == 0 {
                cmd.identities.push(pool[(i * 5 + 1) % 6].clone());
                cmd.identities.dedup();
            }
            cmd.decisions[0].decision = if i % 2 == 0 { Decision::Granted } else { Decision::Denied };
            cmd.collected_at = Some(ago(i64::try_from(i * 7919 % 1000).unwrap()));
            tokio::spawn(async move {
                let identities = cmd.identities.clone();
                let outcome = service.record(&tenant, cmd).await.unwrap();
                (identities, outcome)
            })
        })
        .collect();
    let mut outcomes = Vec::new();
    for task in tasks {
        outcomes.push(task.await.unwrap());
    }
    outcomes.sort_by_key(|(_, outcome)| outcome.revision);

    // The same writes, one after another.
    let mut links: HashMap<Identity, Uuid> = HashMap::new();
    let mut state: HashMap<(Uuid, String), (Timestamp, i64, Uuid)> = HashMap::new();
    for (identities, outcome) in &outcomes {
        let subject = identities
            .iter()
            .find_map(|i| links.get(i).copied())
            .unwrap_or_else(|| subject_id_for(&tenant, &identities[0]));
        assert_eq!(outcome.subject_id, subject, "write at revision {}", outcome.revision);
        let conflicting: Vec<Identity> = identities
            .iter()
            .filter(|i| links.get(*i).is_some_and(|owner| *owner != subject))
            .cloned()
            .collect();
        assert_eq!(outcome.conflicting_identities, conflicting, "write at revision {}", outcome.revision);
        for identity in identities {
            links.entry(identity.clone()).or_insert(subject);
        }
        let record = &outcome.records[0];
        let key = (subject, record.purpose.clone());
        let candidate = (record.collected_at, record.revision, record.id);
        let current = state.entry(key).or_insert(candidate);
        if (candidate.0, candidate.1) >= (current.0, current.1) {
            *current = candidate;
        }
    }
    for ((subject, purpose), (_, _, expected)) in state {
        let current = store
            .service
            .get(
                &tenant,
                GetConsent::Current {
                    subject: SubjectRef::Id(subject),
                    purpose: purpose.clone(),
                    target: String::new(),
                },
            )
            .await
            .unwrap();
        assert_eq!(current.id, expected, "current record of {subject} for {purpose}");
    }
}

/// An acknowledgement means committed, though on PostgreSQL the next batch
/// is applied while the last one commits: the moment its write returns,
/// every writer finds its record current through another replica (its own
/// connections, no cache of this one's).
async fn an_acknowledged_write_is_visible_to_every_replica(store: TestStore) {
    let reader = store.replica().await;
    let tenant = TenantId::default_tenant();
    let tasks: Vec<_> = (0..300)
        .map(|i| {
            let (writer, reader, tenant) = (store.service.clone(), reader.clone(), tenant.clone());
            tokio::spawn(async move {
                let purpose = if i % 2 == 0 { "a" } else { "b" };
                let written = writer
                    .record(&tenant, record(&format!("user-{}", i % 40), purpose, "", Decision::Granted))
                    .await
                    .unwrap();
                let current = reader
                    .get(
                        &tenant,
                        GetConsent::Current {
                            subject: SubjectRef::Id(written.subject_id),
                            purpose: purpose.to_owned(),
                            target: String::new(),
                        },
                    )
                    .await
                    .unwrap();
                // A later write of the same key may have landed since.
                assert!(
                    current.revision >= written.revision,
                    "write {i} at {} read {}",
                    written.revision,
                    current.revision
                );
            })
        })
        .collect();
    for task in tasks {
        task.await.unwrap();
    }
}

/// A vendor request naming many people is one batched write: one lookup of
/// every identity named and one bulk write, not a lookup and a write per
/// person. Counted on the statements the store runs; and the write does
/// what a hundred single writes would.
async fn a_write_naming_a_hundred_people_costs_the_statements_of_one(store: TestStore) {
    let tenant = TenantId::new("vendor-batch");
    let people = |n: usize, tag: &str| -> Vec<_> {
        (0..n).map(|i| record(&format!("{tag}-{i}"), "sale", "", Decision::Denied)).collect()
    };
    let statements_of = |n: usize, tag: &'static str| {
        let service = store.service.clone();
        let tenant = tenant.clone();
        let cmds = people(n, tag);
        async move {
            service.store().record_statements();
            let outcome = service.record_all(&tenant, cmds).await.unwrap();
            (outcome, consent_statements(&service).len())
        }
    };
    let (_, one) = statements_of(1, "one").await;
    let (outcome, hundred) = statements_of(100, "many").await;
    assert_eq!(hundred, one, "a write naming 100 people ran {hundred} statements, one naming 1 ran {one}");
    assert_eq!(outcome.records.len(), 100);
    let revisions: Vec<i64> = outcome.records.iter().map(|r| r.revision).collect();
    assert_eq!(revisions, (2..=101).collect::<Vec<_>>(), "revisions run on, in order");
    for (i, written) in outcome.records.iter().enumerate() {
        let identity = Identity::new("user_id", format!("many-{i}"));
        assert_eq!(
            written.subject_id,
            subject_id_for(&tenant, &identity),
            "each person is their own subject"
        );
    }
}

/// A vendor's check or read of one target (`ConsentService::latest`, what
/// Secure Privacy's `consent-given` and integration read are) is a check
/// like CheckConsent: once the subject is cached it reads nothing from the
/// database, and a write of the subject is seen by the next read.
async fn a_vendor_check_of_a_target_is_answered_from_the_check_cache(store: TestStore) {
    let tenant = TenantId::new("vendor-check");
    let service = &store.service;
    let written = service.record(&tenant, record("jane", "ads", "site", Decision::Granted)).await.unwrap();
    let subject = SubjectRef::Id(written.subject_id);
    let first = service.latest(&tenant, &subject, "site", true).await.unwrap().unwrap();
    assert_eq!(first.record.decision, Decision::Granted);

    // On PostgreSQL the cache answers once its commit notices are proven
    // fresh (a marker's round trip): until then checks read the tables.
    let mut reads = Vec::new();
    for _ in 0..50 {
        service.store().record_statements();
        for _ in 0..3 {
            let view = service.latest(&tenant, &subject, "site", true).await.unwrap().unwrap();
            assert_eq!(view.record.id, first.record.id);
            assert_eq!(view.first_collected_at, first.first_collected_at);
        }
        reads = consent_statements(service);
        if reads.is_empty() {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    assert!(reads.is_empty(), "a cached vendor check read the database: {reads:?}");

    service.record(&tenant, record("jane", "ads", "site", Decision::Denied)).await.unwrap();
    let view = service.latest(&tenant, &subject, "site", true).await.unwrap().unwrap();
    assert_eq!(view.record.decision, Decision::Denied, "the write invalidated the cached subject");
    assert_eq!(view.first_collected_at, first.first_collected_at, "first collected is the first decision's");
}

/// A batch of eight checks costs the reads of one check: a subject the
/// cache must load is loaded once for the whole batch, and a cached one
/// answers every check without reading.
async fn a_batch_of_checks_costs_the_reads_of_one(store: TestStore) {
    let tenant = TenantId::new("batch-check");
    let service = &store.service;
    let written = service.record(&tenant, record("joan", "ads", "site", Decision::Granted)).await.unwrap();
    let subject = SubjectRef::Id(written.subject_id);
    let one = CheckConsent {
        subject: subject.clone(),
        purpose: "ads".into(),
        target: "site".into(),
        at: None,
        min_revision: 0,
    };
    let purposes = ["ads", "p1", "p2", "p3", "p4", "p5", "p6", "p7"];
    let batch = BatchCheckConsent {
        subject,
        checks: purposes
            .iter()
            .map(|p| PurposeTarget { purpose: (*p).into(), target: "site".into() })
            .collect(),
        at: None,
        min_revision: 0,
    };
    service.store().record_statements();
    // On PostgreSQL the cache answers once its commit notices are proven
    // fresh: until then checks read the tables each time.
    let mut warm = usize::MAX;
    for _ in 0..50 {
        service.batch_check(&tenant, batch.clone()).await.unwrap();
        consent_statements(service);
        service.batch_check(&tenant, batch.clone()).await.unwrap();
        warm = consent_statements(service).len();
        if warm == 0 {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    assert_eq!(warm, 0, "a batch of a cached subject read the database");

    // A write of the subject invalidates it: the next check loads it.
    service.record(&tenant, record("joan", "other", "", Decision::Denied)).await.unwrap();
    consent_statements(service);
    service.check(&tenant, one).await.unwrap();
    let single = consent_statements(service).len();
    service.record(&tenant, record("joan", "other", "", Decision::Granted)).await.unwrap();
    consent_statements(service);
    let answers = service.batch_check(&tenant, batch.clone()).await.unwrap();
    let batched = consent_statements(service).len();
    assert_eq!(answers.results.len(), purposes.len());
    assert_eq!(answers.results[0].status, ConsentStatus::Granted);
    assert!(answers.results[1..].iter().all(|r| r.status == ConsentStatus::Unknown), "{answers:?}");
    assert!(single > 0, "the single check after a write loaded the subject");
    assert_eq!(batched, single, "a cold batch of 8 costs what one cold check costs");

    // A batch at a time is read from the tables, in one snapshot: the same
    // answers.
    let at_now = BatchCheckConsent { at: Some(Timestamp::now()), ..batch };
    let from_tables = service.batch_check(&tenant, at_now).await.unwrap();
    let statuses = |outcome: &consent_core::BatchCheckOutcome| {
        outcome.results.iter().map(|r| r.status).collect::<Vec<_>>()
    };
    assert_eq!(statuses(&from_tables), statuses(&answers));
}

/// The statements the store ran since recording began that touch consents
/// (records, state, identities, heads), forgetting them: on PostgreSQL the
/// check cache's heartbeat (a marker notice) runs beside whatever a test
/// counts.
fn consent_statements(service: &ConsentService<SqlStore>) -> Vec<sea_orm::Statement> {
    service
        .store()
        .take_statements()
        .into_iter()
        .map(|(_, statement)| statement)
        .filter(|statement| {
            ["consent_", "identities", "tenant_heads"].iter().any(|table| statement.sql.contains(table))
        })
        .collect()
}
