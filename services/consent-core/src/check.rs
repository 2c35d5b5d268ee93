//! The check rule (docs/semantics.md#the-check-rule): among the current records that apply to a
//! purpose and target, the latest by `collected_at` (ties: by revision)
//! decides; an expired decider answers `Expired`, never an older grant.
//!
//! Every rule a check can use is here, as the reference implementation.
//! The store answers from indexes with SQL that mirrors these functions
//! (`consent-store/src/rule.rs`); property tests hold each mirror to them on
//! both backends.

use std::cmp::Ordering;

use crate::model::{ConsentRecord, ConsentStatus, EventKind};
use crate::time::Timestamp;

/// Whether `record` applies to a question about `purpose` and `target`: its
/// purpose is that purpose or all purposes, its target that target or any.
/// An erasure's announcement decides nothing.
pub fn applies_to(record: &ConsentRecord, purpose: &str, target: &str) -> bool {
    record.kind != EventKind::Erased
        && (record.purpose == purpose || record.purpose.is_empty())
        && (record.target == target || record.target.is_empty())
}

/// Whether `record` applies to a question about `target` whatever the
/// purpose (whether a subject consented to a vendor or integration at all,
/// as Secure Privacy asks): its target is that target, or, with
/// `include_any_target`, any target.
pub fn applies_to_target(record: &ConsentRecord, target: &str, include_any_target: bool) -> bool {
    record.kind != EventKind::Erased
        && (record.target == target || (include_any_target && record.target.is_empty()))
}

/// Orders records by recency of the decision: `collected_at`, then revision.
pub fn recency(a: &ConsentRecord, b: &ConsentRecord) -> Ordering {
    (a.collected_at, a.revision).cmp(&(b.collected_at, b.revision))
}

/// The answer given the deciding record (the latest applicable one).
pub fn status_of(deciding: Option<&ConsentRecord>, at: Timestamp) -> ConsentStatus {
    match deciding {
        None => ConsentStatus::Unknown,
        Some(record) if record.is_expired_at(at) => ConsentStatus::Expired,
        Some(record) => record.decision.into(),
    }
}

/// The deciding record among a subject's current records (one per purpose
/// and target) for a question about `purpose` and `target` now.
pub fn deciding_current<'a>(
    current: impl IntoIterator<Item = &'a ConsentRecord>,
    purpose: &str,
    target: &str,
) -> Option<&'a ConsentRecord> {
    current.into_iter().filter(|record| applies_to(record, purpose, target)).max_by(|a, b| recency(a, b))
}

/// The deciding record among a subject's records (its current ones or its
/// whole history: the latest is the same) for a question about `target`
/// whatever the purpose: the latest that applies to the target.
pub fn deciding_for_target<'a>(
    records: impl IntoIterator<Item = &'a ConsentRecord>,
    target: &str,
    include_any_target: bool,
) -> Option<&'a ConsentRecord> {
    records
        .into_iter()
        .filter(|record| applies_to_target(record, target, include_any_target))
        .max_by(|a, b| recency(a, b))
}

/// The deciding record among `records` (any history of one subject) for a
/// question about `purpose` and `target` at time `at`: the reference
/// implementation the store's indexed queries must agree with.
pub fn deciding_record<'a>(
    records: impl IntoIterator<Item = &'a ConsentRecord>,
    purpose: &str,
    target: &str,
    at: Timestamp,
) -> Option<&'a ConsentRecord> {
    deciding_current(records.into_iter().filter(|record| record.collected_at <= at), purpose, target)
}

#[cfg(test)]
mod tests {
    use uuid::Uuid;

    use super::*;
    use crate::model::{Decision, EventKind, Evidence, TenantId};

    fn record(
        purpose: &str,
        target: &str,
        decision: Decision,
        collected: i64,
        revision: i64,
    ) -> ConsentRecord {
        ConsentRecord {
            id: Uuid::now_v7(),
            tenant: TenantId::default_tenant(),
            subject_id: Uuid::nil(),
            identities: vec![],
            purpose: purpose.into(),
            target: target.into(),
            decision,
            collected_at: Timestamp::from_micros(collected),
            expires_at: None,
            recorded_at: Timestamp::from_micros(collected),
            source: String::new(),
            evidence: Evidence::default(),
            revision,
            kind: EventKind::Recorded,
            implied_by: None,
            gpc_conflict: false,
        }
    }

    #[test]
    fn all_purposes_record_applies_to_every_purpose() {
        let records = [record("", "", Decision::Denied, 10, 1)];
        let at = Timestamp::from_micros(100);
        let got = deciding_record(&records, "marketing", "vendor-a", at);
        assert_eq!(status_of(got, at), ConsentStatus::Denied);
    }

    #[test]
    fn latest_collected_wins_over_later_revision() {
        let records = [
            record("marketing", "", Decision::Granted, 20, 1),
            record("marketing", "", Decision::Denied, 10, 2),
        ];
        let at = Timestamp::from_micros(100);
        assert_eq!(status_of(deciding_record(&records, "marketing", "", at), at), ConsentStatus::Granted);
    }

    #[test]
    fn expired_decider_never_falls_back() {
        let mut newer = record("marketing", "", Decision::Granted, 20, 2);
        newer.expires_at = Some(Timestamp::from_micros(50));
        let records = [record("marketing", "", Decision::Granted, 10, 1), newer];
        let at = Timestamp::from_micros(50);
        assert_eq!(status_of(deciding_record(&records, "marketing", "", at), at), ConsentStatus::Expired);
    }

    #[test]
    fn other_purposes_and_targets_do_not_apply() {
        let records = [
            record("analytics", "", Decision::Granted, 10, 1),
            record("marketing", "vendor-b", Decision::Granted, 10, 2),
        ];
        let at = Timestamp::from_micros(100);
        assert_eq!(
            status_of(deciding_record(&records, "marketing", "vendor-a", at), at),
            ConsentStatus::Unknown
        );
    }
}
