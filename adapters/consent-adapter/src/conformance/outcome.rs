//! What consentd would answer a decoded request with, without a store: the
//! records a write writes, a current record for a read, one page for a list,
//! a subscription. Enough for an adapter's `encode` to show its shapes.

use consent_core::subject::subject_id_for;
use consent_core::{
    ConsentRecord, ConsentStatus, ConsentView, Decision, EventKind, Evidence, Identity, SubjectRef, TenantId,
    Timestamp,
};
use uuid::Uuid;

use crate::{Decoded, Operation, Outcome};

/// The outcome of `decoded` performed at `now`.
pub(crate) fn performed(decoded: &Decoded, now: Timestamp) -> Outcome {
    let tenant = TenantId::default_tenant();
    match &decoded.operation {
        Operation::Record(commands) => {
            let mut records = Vec::new();
            for command in commands {
                for decision in &command.decisions {
                    let mut record = record(&tenant, &command.identities, decision.decision, now);
                    record.purpose.clone_from(&decision.purpose);
                    record.target.clone_from(&decision.target);
                    record.collected_at = command.collected_at.unwrap_or(now);
                    record.expires_at = command.expires_at;
                    record.source.clone_from(&command.source);
                    record.evidence = command.evidence.clone();
                    records.push(record);
                }
            }
            number(&mut records);
            Outcome::Written(records)
        }
        Operation::UpdateLatest(update) => {
            let mut record = subject_record(&tenant, &update.subject, update.decision, now);
            record.target.clone_from(&update.target);
            record.evidence = update.evidence.clone();
            record.kind = EventKind::Updated;
            Outcome::Written(vec![record])
        }
        Operation::Latest { subject, target, .. } => {
            let mut record = subject_record(&tenant, subject, Decision::Granted, now);
            record.target.clone_from(target);
            Outcome::Latest(Some(view(record)))
        }
        Operation::List(query) | Operation::ListAll(query) => {
            let filter = &query.filter;
            let identities: Vec<Identity> = filter.identity.iter().cloned().collect();
            let mut record = record(&tenant, &identities, Decision::Granted, now);
            record.purpose.clone_from(&filter.purpose);
            record.target.clone_from(&filter.target);
            Outcome::Listed {
                views: vec![view(record)],
                next_page_token: String::new(),
                filter: filter.clone(),
            }
        }
        Operation::Subscribe { .. } => {
            Outcome::Subscribed { id: "subscription-1".to_owned(), secret: "whsec_conformance".to_owned() }
        }
        Operation::BatchCheck(cmd) => {
            let results = cmd
                .checks
                .iter()
                .map(|check| {
                    let mut record = subject_record(&tenant, &cmd.subject, Decision::Granted, now);
                    record.purpose.clone_from(&check.purpose);
                    record.target.clone_from(&check.target);
                    consent_core::CheckResult {
                        status: consent_core::ConsentStatus::Granted,
                        record: Some(record),
                    }
                })
                .collect();
            Outcome::Checked(consent_core::BatchCheckOutcome { results, revision: 1 })
        }
        Operation::ConsentMode { .. } => Outcome::ConsentMode(consent_core::ConsentModeOutcome {
            types: consent_core::CONSENT_MODE_TYPES.iter().map(|name| (*name, true)).collect(),
            revision: 1,
        }),
    }
}

/// A record of `identities`' subject, as the store would write it.
fn record(tenant: &TenantId, identities: &[Identity], decision: Decision, now: Timestamp) -> ConsentRecord {
    ConsentRecord {
        id: Uuid::from_u128(1),
        tenant: tenant.clone(),
        subject_id: identities.first().map_or_else(Uuid::nil, |identity| subject_id_for(tenant, identity)),
        identities: identities.to_vec(),
        purpose: String::new(),
        target: String::new(),
        decision,
        collected_at: now,
        expires_at: None,
        recorded_at: now,
        source: String::new(),
        evidence: Evidence::default(),
        revision: 1,
        kind: EventKind::Recorded,
        implied_by: None,
        gpc_conflict: false,
    }
}

/// A record of the subject a read or an update names.
fn subject_record(
    tenant: &TenantId,
    subject: &SubjectRef,
    decision: Decision,
    now: Timestamp,
) -> ConsentRecord {
    match subject {
        SubjectRef::Id(id) => ConsentRecord { subject_id: *id, ..record(tenant, &[], decision, now) },
        SubjectRef::Identity(identity) => record(tenant, std::slice::from_ref(identity), decision, now),
    }
}

/// Consecutive ids and revisions, as one transaction gives them.
fn number(records: &mut [ConsentRecord]) {
    for (n, record) in (1_u32..).zip(records.iter_mut()) {
        record.id = Uuid::from_u128(u128::from(n));
        record.revision = i64::from(n);
    }
}

fn view(record: ConsentRecord) -> ConsentView {
    ConsentView { first_collected_at: record.collected_at, status: ConsentStatus::Granted, record }
}
