//! The store's indexed check, and its read of the latest record for a
//! target (whatever the purpose) through the check cache and without it,
//! answer exactly what the reference rules in
//! `consent_core::check` compute from the full history, for random
//! histories, on both backends: every SQL mirror in `rule.rs` against its
//! rule.

use consent_core::check::{deciding_for_target, deciding_record, status_of};
use consent_core::{CheckConsent, ConsentRecord, ConsentService, Decision, SubjectRef, TenantId, Timestamp};
use consent_store::testing::Backend;
use consent_store::{SqlStore, StoreOptions};
use proptest::prelude::*;

use crate::support::{TestStore, ago, record};

const PURPOSES: [&str; 3] = ["", "analytics", "marketing"];
const TARGETS: [&str; 3] = ["", "vendor-a", "vendor-b"];

#[derive(Debug, Clone)]
struct Write {
    purpose: usize,
    target: usize,
    decision: Decision,
    /// Few distinct values, so ties on collected_at happen.
    collected_seconds_ago: i64,
    expires_after_seconds: Option<i64>,
}

fn write() -> impl Strategy<Value = Write> {
    (
        0..3usize,
        0..3usize,
        prop_oneof![Just(Decision::Granted), Just(Decision::Denied), Just(Decision::Limited)],
        prop::sample::select(vec![100i64, 200, 300, 400]),
        prop::option::of(prop::sample::select(vec![50i64, 150, 1000])),
    )
        .prop_map(|(purpose, target, decision, collected_seconds_ago, expires_after_seconds)| Write {
            purpose,
            target,
            decision,
            collected_seconds_ago,
            expires_after_seconds,
        })
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 16, ..ProptestConfig::default() })]

    #[test]
    fn sqlite_indexed_check_agrees_with_the_reference_rule(writes in prop::collection::vec(write(), 1..12)) {
        agrees_with_the_reference_rule(Backend::Sqlite, &writes);
    }

    #[test]
    fn postgres_indexed_check_agrees_with_the_reference_rule(writes in prop::collection::vec(write(), 1..12)) {
        agrees_with_the_reference_rule(Backend::Postgres, &writes);
    }
}

fn agrees_with_the_reference_rule(backend: Backend, writes: &[Write]) {
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    runtime.block_on(async move {
        let store = TestStore::open(backend).await;
        let tenant = TenantId::new("prop");
        let mut history: Vec<ConsentRecord> = Vec::new();
        for w in writes {
            let mut cmd = record("subject", PURPOSES[w.purpose], TARGETS[w.target], w.decision);
            let collected = ago(w.collected_seconds_ago);
            cmd.collected_at = Some(collected);
            cmd.expires_at = w.expires_after_seconds.map(|s| collected.saturating_add_micros(s * 1_000_000));
            let outcome = store.service.record(&tenant, cmd).await.unwrap();
            history.extend(outcome.records);
        }
        let subject = history[0].subject_id;
        let now = Timestamp::now();
        for purpose in PURPOSES {
            for target in TARGETS {
                for at in [None, Some(ago(250)), Some(ago(150))] {
                    let outcome = store
                        .service
                        .check(
                            &tenant,
                            CheckConsent {
                                subject: SubjectRef::Id(subject),
                                purpose: purpose.into(),
                                target: target.into(),
                                at,
                                min_revision: 0,
                            },
                        )
                        .await
                        .unwrap();
                    let at_time = at.unwrap_or(now);
                    let expected = deciding_record(&history, purpose, target, at_time);
                    assert_eq!(
                        outcome.record.as_ref().map(|r| r.id),
                        expected.map(|r| r.id),
                        "{purpose}/{target} at {at:?}"
                    );
                    assert_eq!(outcome.status, status_of(expected, at_time));
                }
            }
        }
        // The latest for a target, through the check cache and without it
        // (its SQL mirror), with when its purpose and target were first
        // collected.
        let uncached = {
            let mut options = StoreOptions::new(store.database.url.clone());
            options.cache_max_bytes = 0;
            ConsentService::new(SqlStore::connect(&options).await.expect("connect"))
        };
        for service in [&store.service, &uncached] {
            for target in TARGETS {
                for include_any_target in [false, true] {
                    let latest = service
                        .latest(&tenant, &SubjectRef::Id(subject), target, include_any_target)
                        .await
                        .unwrap();
                    let expected = deciding_for_target(&history, target, include_any_target);
                    assert_eq!(
                        latest.as_ref().map(|view| view.record.id),
                        expected.map(|r| r.id),
                        "latest for {target:?}, any target too: {include_any_target}"
                    );
                    let first = expected.and_then(|expected| {
                        history
                            .iter()
                            .filter(|r| r.purpose == expected.purpose && r.target == expected.target)
                            .map(|r| r.collected_at)
                            .min()
                    });
                    assert_eq!(
                        latest.map(|view| view.first_collected_at),
                        first,
                        "first collected for {target:?}"
                    );
                }
            }
        }
    });
}
