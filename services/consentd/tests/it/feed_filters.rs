//! Subscribe filters deliver exactly the matching events: a property test over
//! random events and random filters, against the reference matcher in
//! consent-core.

use consent_core::{ChangeFilter, ConsentRecord, Decision, EventKind, Evidence, TenantId, Timestamp};
use consent_proto::v1 as pb;
use proptest::prelude::*;
use uuid::Uuid;

use crate::subscriber::{Subscriber, revisions};
use crate::support::{TestServer, decision, identity};

const PURPOSES: [&str; 3] = ["", "marketing", "analytics"];
const TARGETS: [&str; 3] = ["", "vendor-a", "vendor-b"];
const SOURCES: [&str; 2] = ["web", "app"];
const SUBJECTS: [&str; 2] = ["s-0", "s-1"];

#[derive(Debug, Clone)]
struct Event {
    subject: usize,
    purpose: usize,
    target: usize,
    source: usize,
}

#[derive(Debug, Clone)]
struct Filter {
    subject: Option<usize>,
    purposes: Vec<usize>,
    targets: Vec<usize>,
    sources: Vec<usize>,
}

fn event() -> impl Strategy<Value = Event> {
    (0..2usize, 0..3usize, 0..3usize, 0..2usize).prop_map(|(subject, purpose, target, source)| Event {
        subject,
        purpose,
        target,
        source,
    })
}

fn filter() -> impl Strategy<Value = Filter> {
    (
        prop::option::of(0..2usize),
        prop::collection::btree_set(1..3usize, 0..=2),
        prop::collection::btree_set(1..3usize, 0..=2),
        prop::collection::btree_set(0..2usize, 0..=2),
    )
        .prop_map(|(subject, purposes, targets, sources)| Filter {
            subject,
            purposes: purposes.into_iter().collect(),
            targets: targets.into_iter().collect(),
            sources: sources.into_iter().collect(),
        })
}

/// The reference verdict for a stored record.
fn reference_matches(filter: &Filter, subject_ids: &[String], record: &pb::ConsentRecord) -> bool {
    let reference = ChangeFilter {
        subject_id: filter.subject.map(|s| Uuid::parse_str(&subject_ids[s]).unwrap()),
        purposes: filter.purposes.iter().map(|&p| PURPOSES[p].to_owned()).collect(),
        targets: filter.targets.iter().map(|&t| TARGETS[t].to_owned()).collect(),
        sources: filter.sources.iter().map(|&s| SOURCES[s].to_owned()).collect(),
    };
    reference.matches(&ConsentRecord {
        id: Uuid::parse_str(&record.id).unwrap(),
        tenant: TenantId::default_tenant(),
        subject_id: Uuid::parse_str(&record.subject_id).unwrap(),
        identities: Vec::new(),
        purpose: record.purpose.clone(),
        target: record.target.clone(),
        decision: Decision::Granted,
        collected_at: Timestamp::EPOCH,
        expires_at: None,
        recorded_at: Timestamp::EPOCH,
        source: record.source.clone(),
        evidence: Evidence::default(),
        revision: record.revision,
        kind: EventKind::Recorded,
        implied_by: None,
        gpc_conflict: false,
    })
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 16, ..ProptestConfig::default() })]

    #[test]
    fn filters_deliver_exactly_the_matching_events(events in prop::collection::vec(event(), 1..25), filter in filter()) {
        let runtime = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().unwrap();
        runtime.block_on(async move {
            let server = TestServer::start().await;
            let mut client = server.client().await;
            let mut stored = Vec::new();
            let mut subject_ids = vec![String::new(); SUBJECTS.len()];
            for e in &events {
                let response = client
                    .record_consent(pb::RecordConsentRequest {
                        identities: vec![identity("user_id", SUBJECTS[e.subject])],
                        decisions: vec![decision(PURPOSES[e.purpose], TARGETS[e.target], pb::Decision::Granted)],
                        source: SOURCES[e.source].to_owned(),
                        ..Default::default()
                    })
                    .await
                    .unwrap()
                    .into_inner();
                subject_ids[e.subject].clone_from(&response.subject_id);
                stored.extend(response.records);
            }
            // A subject never written to still has its deterministic id.
            let filter_subject = filter.subject.filter(|&s| !subject_ids[s].is_empty());
            let filter = Filter { subject: filter_subject, ..filter };
            let request = pb::SubscribeRequest {
                subject_id: filter.subject.map(|s| subject_ids[s].clone()).unwrap_or_default(),
                purposes: filter.purposes.iter().map(|&p| PURPOSES[p].to_owned()).collect(),
                targets: filter.targets.iter().map(|&t| TARGETS[t].to_owned()).collect(),
                sources: filter.sources.iter().map(|&s| SOURCES[s].to_owned()).collect(),
                from_beginning: true,
                ..Default::default()
            };
            let head = stored.last().unwrap().revision;
            let mut subscriber = Subscriber::open(&mut client, request).await.unwrap();
            let delivered = revisions(&subscriber.events_through(head).await);
            let expected: Vec<i64> = stored
                .iter()
                .filter(|r| reference_matches(&filter, &subject_ids, r))
                .map(|r| r.revision)
                .collect();
            assert_eq!(delivered, expected, "filter {filter:?}");
        });
    }
}
