//! Request validation and normalisation. Every check names the field path the
//! API uses, and all problems of a request are reported together.

use crate::command::{
    BatchCheckConsent, CheckConsent, GetConsent, RecordConsent, RecordFilter, UpdateConsent,
};
use crate::error::{ConsentError, Violations};
use crate::feed::{FeedStart, Subscribe};
use crate::model::{Evidence, Identity, SubjectRef};
use crate::time::Timestamp;

/// Identities one request may name.
pub const MAX_IDENTITIES: usize = 16;
/// Decisions one record request may carry.
pub const MAX_DECISIONS: usize = 100;
/// Decisions one record request's signals may imply (TCF purposes, the
/// tenant's TCF vendors, opt-out and GPC purposes).
pub const MAX_IMPLIED_DECISIONS: usize = 200;
/// Length of a TC or GPP string, in bytes.
pub const MAX_SIGNAL_LEN: usize = 16 * 1024;
/// Length of an identity namespace.
pub const MAX_NAMESPACE_LEN: usize = 64;
/// Length of an identity value.
pub const MAX_IDENTITY_VALUE_LEN: usize = 256;
/// Length of a purpose.
pub const MAX_PURPOSE_LEN: usize = 128;
/// Length of a target.
pub const MAX_TARGET_LEN: usize = 256;
/// Length of a source.
pub const MAX_SOURCE_LEN: usize = 64;
/// Length of an idempotency key.
pub const MAX_IDEMPOTENCY_KEY_LEN: usize = 128;
/// Length of the short evidence fields (IP, geo, versions, ids).
pub const MAX_SHORT_TEXT_LEN: usize = 256;
/// Checks in one BatchCheckConsent.
pub const MAX_BATCH_CHECKS: usize = 100;
/// Length of the long evidence fields (user agent, URI, message).
pub const MAX_LONG_TEXT_LEN: usize = 2048;
/// Size of the metadata JSON in bytes.
pub const MAX_METADATA_BYTES: usize = 16 * 1024;
/// The most the records of one request may hold together. Every decision
/// becomes a record carrying the request's identities and evidence, so a
/// request of a few hundred kilobytes with many decisions would otherwise
/// become megabytes of records — in the database, in memory, and in the
/// response, which clients accept up to 4 MiB by default (a committed write
/// whose answer the client cannot read).
pub const MAX_RECORDS_BYTES: usize = 3 * 1024 * 1024;

/// How far in the future `collected_at` may be, to allow for client clock skew.
pub const MAX_CLOCK_SKEW_MICROS: i64 = 5 * 60 * 1_000_000;

/// Checks a record request's signal strings before they are decoded, and
/// clears what only the server may set on its decisions.
pub fn signals(cmd: &mut RecordConsent) -> Result<(), ConsentError> {
    let mut v = Violations::default();
    for (value, field) in
        [(&cmd.evidence.tc_string, "evidence.tc_string"), (&cmd.evidence.gpp_string, "evidence.gpp_string")]
    {
        if value.len() > MAX_SIGNAL_LEN {
            v.add(field, format!("must be at most {MAX_SIGNAL_LEN} bytes"));
        }
    }
    for decision in &mut cmd.decisions {
        decision.implied_by = None;
        decision.gpc_conflict = false;
    }
    v.into_result()
}

/// Checks and normalises a record request in place, after its signals
/// added the decisions they imply.
pub fn record(cmd: &mut RecordConsent, now: Timestamp) -> Result<(), ConsentError> {
    let mut v = Violations::default();
    identities(&mut cmd.identities, &mut v);
    let stated = cmd.decisions.iter().filter(|d| d.implied_by.is_none()).count();
    if cmd.decisions.is_empty() {
        v.add("decisions", "at least one decision is required (or a signal that implies one)");
    } else if stated > MAX_DECISIONS {
        v.add("decisions", format!("at most {MAX_DECISIONS} decisions are allowed"));
    } else if cmd.decisions.len() - stated > MAX_IMPLIED_DECISIONS {
        v.add("evidence", format!("its signals imply more than {MAX_IMPLIED_DECISIONS} decisions"));
    }
    let mut seen = std::collections::HashSet::new();
    for (i, decision) in cmd.decisions.iter().enumerate() {
        purpose(&decision.purpose, &format!("decisions[{i}].purpose"), &mut v);
        target(&decision.target, &format!("decisions[{i}].target"), &mut v);
        // A GPC conflict keeps both the denial and the grant of one key.
        if !seen.insert((
            &decision.purpose,
            &decision.target,
            decision.gpc_conflict.then_some(decision.implied_by),
        )) {
            v.add(format!("decisions[{i}]"), "repeats the purpose and target of an earlier decision");
        }
    }
    times(cmd.collected_at, cmd.expires_at, now, &mut v);
    text(&cmd.source, "source", MAX_SOURCE_LEN, &mut v);
    evidence(&cmd.evidence, &mut v);
    text(&cmd.idempotency_key, "idempotency_key", MAX_IDEMPOTENCY_KEY_LEN, &mut v);
    let expanded = records_bytes(cmd);
    if expanded > MAX_RECORDS_BYTES {
        v.add(
            "decisions",
            format!(
                "{} decisions, each stored with this request's identities and evidence, would hold {} KiB; \
                 at most {} KiB: send fewer decisions per request, or less evidence",
                cmd.decisions.len(),
                expanded / 1024,
                MAX_RECORDS_BYTES / 1024
            ),
        );
    }
    v.into_result()
}

/// About what the records of a request will hold (see
/// [`crate::ConsentRecord::approximate_bytes`]).
fn records_bytes(cmd: &RecordConsent) -> usize {
    let shared = crate::model::identity_bytes(&cmd.identities)
        + cmd.evidence.text_bytes()
        + cmd.source.len()
        + std::mem::size_of::<crate::ConsentRecord>()
        + 64;
    cmd.decisions.iter().map(|d| shared + d.purpose.len() + d.target.len()).sum()
}

/// Checks and normalises an update request in place.
pub fn update(cmd: &mut UpdateConsent, now: Timestamp) -> Result<(), ConsentError> {
    let mut v = Violations::default();
    // An update states one decision; a signal string implies many, which
    // only a record request applies (and stores).
    for (value, field) in
        [(&cmd.evidence.tc_string, "evidence.tc_string"), (&cmd.evidence.gpp_string, "evidence.gpp_string")]
    {
        if !value.is_empty() {
            v.add(field, "is recorded with RecordConsent, which applies what it implies; an update cannot");
        }
    }
    subject(&mut cmd.subject, "subject", &mut v);
    purpose(&cmd.purpose, "purpose", &mut v);
    target(&cmd.target, "target", &mut v);
    times(cmd.collected_at, cmd.expires_at, now, &mut v);
    text(&cmd.source, "source", MAX_SOURCE_LEN, &mut v);
    evidence(&cmd.evidence, &mut v);
    if cmd.expected_revision.is_some_and(|r| r < 0) {
        v.add("expected_revision", "must not be negative");
    }
    text(&cmd.idempotency_key, "idempotency_key", MAX_IDEMPOTENCY_KEY_LEN, &mut v);
    v.into_result()
}

/// Checks and normalises a check request in place.
pub fn check(cmd: &mut CheckConsent) -> Result<(), ConsentError> {
    let mut v = Violations::default();
    subject(&mut cmd.subject, "subject", &mut v);
    purpose(&cmd.purpose, "purpose", &mut v);
    target(&cmd.target, "target", &mut v);
    if cmd.min_revision < 0 {
        v.add("min_revision", "must not be negative");
    }
    v.into_result()
}

/// Checks and normalises a batch of checks in place.
pub fn batch_check(cmd: &mut BatchCheckConsent) -> Result<(), ConsentError> {
    let mut v = Violations::default();
    subject(&mut cmd.subject, "subject", &mut v);
    if cmd.checks.is_empty() {
        v.add("checks", "must name at least one purpose and target");
    } else if cmd.checks.len() > MAX_BATCH_CHECKS {
        v.add("checks", format!("at most {MAX_BATCH_CHECKS} checks in one batch"));
    }
    for (i, check) in cmd.checks.iter().enumerate().take(MAX_BATCH_CHECKS) {
        // Checked under short names, so a valid check (the usual case)
        // formats no field path.
        let mut one = Violations::default();
        purpose(&check.purpose, "purpose", &mut one);
        target(&check.target, "target", &mut one);
        for violation in one.0 {
            v.add(format!("checks[{i}].{}", violation.field), violation.description);
        }
    }
    if cmd.min_revision < 0 {
        v.add("min_revision", "must not be negative");
    }
    v.into_result()
}

/// Checks and normalises a get request in place.
pub fn get(cmd: &mut GetConsent) -> Result<(), ConsentError> {
    let mut v = Violations::default();
    if let GetConsent::Current { subject: subject_ref, purpose: p, target: t } = cmd {
        subject(subject_ref, "current.subject", &mut v);
        purpose(p, "current.purpose", &mut v);
        target(t, "current.target", &mut v);
    }
    v.into_result()
}

/// Checks and normalises the key of a latest-record lookup in place.
pub fn latest(subject_ref: &mut SubjectRef, target_value: &str) -> Result<(), ConsentError> {
    let mut v = Violations::default();
    subject(subject_ref, "subject", &mut v);
    target(target_value, "target", &mut v);
    v.into_result()
}

/// Checks and normalises an erasure in place. The nil subject id is the
/// one erased records are filed under: it names nobody to erase.
pub fn erase(cmd: &mut crate::EraseSubject) -> Result<(), ConsentError> {
    let mut v = Violations::default();
    if cmd.subject == SubjectRef::Id(uuid::Uuid::nil()) {
        v.add("subject.subject_id", "must not be the nil id (erased records' subject)");
    }
    subject(&mut cmd.subject, "subject", &mut v);
    v.into_result()
}

/// Values one subscription filter list may hold.
pub const MAX_FILTER_VALUES: usize = 100;

/// Checks and normalises a subscription in place.
pub fn subscribe(cmd: &mut Subscribe) -> Result<(), ConsentError> {
    let mut v = Violations::default();
    if let Some(SubjectRef::Identity(item)) = cmd.filter.subject.as_mut() {
        identity(item, "identity", &mut v);
    }
    for (list, field, max_len) in [
        (&cmd.filter.purposes, "purposes", MAX_PURPOSE_LEN),
        (&cmd.filter.targets, "targets", MAX_TARGET_LEN),
        (&cmd.filter.sources, "sources", MAX_SOURCE_LEN),
    ] {
        if list.len() > MAX_FILTER_VALUES {
            v.add(field, format!("at most {MAX_FILTER_VALUES} values are allowed"));
        }
        for (i, value) in list.iter().enumerate() {
            text(value, &format!("{field}[{i}]"), max_len, &mut v);
        }
    }
    if let FeedStart::After(revision) = cmd.start
        && revision < 0
    {
        v.add("after_revision", "must not be negative");
    }
    v.into_result()
}

/// Checks and normalises a query filter in place.
pub fn filter(filter: &mut RecordFilter) -> Result<(), ConsentError> {
    let mut v = Violations::default();
    if let Some(identity_filter) = filter.identity.as_mut() {
        identity(identity_filter, "identity", &mut v);
    }
    purpose(&filter.purpose, "purpose", &mut v);
    target(&filter.target, "target", &mut v);
    text(&filter.source, "source", MAX_SOURCE_LEN, &mut v);
    for (value, field, max) in [
        (&filter.ip, "ip", MAX_SHORT_TEXT_LEN),
        (&filter.user_agent, "user_agent", MAX_LONG_TEXT_LEN),
        (&filter.country, "country", MAX_SHORT_TEXT_LEN),
        (&filter.region, "region", MAX_SHORT_TEXT_LEN),
        (&filter.city, "city", MAX_SHORT_TEXT_LEN),
    ] {
        text(value, field, max, &mut v);
    }
    if let (Some(after), Some(before)) = (filter.collected_after, filter.collected_before)
        && before <= after
    {
        v.add("collected_before", "must be after collected_after");
    }
    if filter.expiring_before.is_some() && filter.history {
        v.add("expiring_before", "applies to the current state only: history must be false");
    }
    v.into_result()
}

fn identities(list: &mut Vec<Identity>, v: &mut Violations) {
    if list.is_empty() {
        v.add("identities", "at least one identity is required");
        return;
    }
    if list.len() > MAX_IDENTITIES {
        v.add("identities", format!("at most {MAX_IDENTITIES} identities are allowed"));
        return;
    }
    for (i, item) in list.iter_mut().enumerate() {
        identity(item, &format!("identities[{i}]"), v);
    }
    // The same identity twice says nothing new; keep the first.
    let mut seen = std::collections::HashSet::new();
    list.retain(|item| seen.insert(item.clone()));
}

fn subject(subject_ref: &mut SubjectRef, field: &str, v: &mut Violations) {
    match subject_ref {
        SubjectRef::Id(_) => {}
        SubjectRef::Identity(item) => identity(item, &format!("{field}.identity"), v),
    }
}

/// Checks an identity and normalises it: email addresses compare
/// case-insensitively and without surrounding space.
fn identity(item: &mut Identity, field: &str, v: &mut Violations) {
    let namespace_ok = !item.namespace.is_empty()
        && item.namespace.len() <= MAX_NAMESPACE_LEN
        && item.namespace.starts_with(|c: char| c.is_ascii_lowercase())
        && item
            .namespace
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || matches!(c, '_' | '-' | '.'));
    if !namespace_ok {
        v.add(
            format!("{field}.namespace"),
            format!(
                "must be 1 to {MAX_NAMESPACE_LEN} lower-case letters, digits, '_', '-' or '.', starting with a letter"
            ),
        );
    }
    if item.namespace == "email" {
        item.value = item.value.trim().to_lowercase();
    }
    if item.value.is_empty() {
        v.add(format!("{field}.value"), "is required");
    } else {
        text(&item.value, &format!("{field}.value"), MAX_IDENTITY_VALUE_LEN, v);
    }
}

fn purpose(value: &str, field: &str, v: &mut Violations) {
    text(value, field, MAX_PURPOSE_LEN, v);
}

fn target(value: &str, field: &str, v: &mut Violations) {
    text(value, field, MAX_TARGET_LEN, v);
}

fn times(collected_at: Option<Timestamp>, expires_at: Option<Timestamp>, now: Timestamp, v: &mut Violations) {
    if let Some(collected) = collected_at {
        if collected < Timestamp::EPOCH {
            v.add("collected_at", "must not be before 1970-01-01T00:00:00Z");
        } else if collected > now.saturating_add_micros(MAX_CLOCK_SKEW_MICROS) {
            v.add("collected_at", "must not be in the future");
        }
    }
    if let Some(expires) = expires_at
        && expires <= collected_at.unwrap_or(now)
    {
        v.add("expires_at", "must be after collected_at");
    }
}

fn evidence(evidence: &Evidence, v: &mut Violations) {
    for (value, field, max) in [
        (&evidence.user_agent, "evidence.user_agent", MAX_LONG_TEXT_LEN),
        (&evidence.ip, "evidence.ip", MAX_SHORT_TEXT_LEN),
        (&evidence.proxy_ip, "evidence.proxy_ip", MAX_SHORT_TEXT_LEN),
        (&evidence.uri, "evidence.uri", MAX_LONG_TEXT_LEN),
        (&evidence.country, "evidence.geo.country", MAX_SHORT_TEXT_LEN),
        (&evidence.region, "evidence.geo.region", MAX_SHORT_TEXT_LEN),
        (&evidence.city, "evidence.geo.city", MAX_SHORT_TEXT_LEN),
        (&evidence.notice_version, "evidence.notice_version", MAX_SHORT_TEXT_LEN),
        (&evidence.policy_version, "evidence.policy_version", MAX_SHORT_TEXT_LEN),
        (&evidence.message, "evidence.message", MAX_LONG_TEXT_LEN),
        (&evidence.consent_id, "evidence.consent_id", MAX_SHORT_TEXT_LEN),
        (&evidence.vendor, "evidence.vendor", MAX_SHORT_TEXT_LEN),
        (&evidence.payload_digest, "evidence.payload_digest", MAX_SHORT_TEXT_LEN),
    ] {
        text(value, field, max, v);
    }
    metadata(&evidence.metadata_json, v);
}

fn metadata(json: &str, v: &mut Violations) {
    const FIELD: &str = "evidence.metadata_json";
    if json.is_empty() {
        return;
    }
    if json.len() > MAX_METADATA_BYTES {
        v.add(FIELD, format!("must be at most {MAX_METADATA_BYTES} bytes"));
        return;
    }
    match serde_json::from_str::<serde_json::Value>(json) {
        Ok(serde_json::Value::Object(_)) => {}
        Ok(_) => v.add(FIELD, "must be a JSON object"),
        Err(err) => v.add(FIELD, format!("is not valid JSON: {err}")),
    }
}

/// A free-text field: bounded length, no control characters.
fn text(value: &str, field: &str, max_chars: usize, v: &mut Violations) {
    if value.chars().count() > max_chars {
        v.add(field, format!("must be at most {max_chars} characters"));
    } else if value.chars().any(char::is_control) {
        v.add(field, "must not contain control characters");
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::FieldViolation;
    use crate::model::{Decision, PurposeDecision};

    fn valid_record() -> RecordConsent {
        RecordConsent {
            identities: vec![Identity::new("email", " A@Example.com ")],
            decisions: vec![PurposeDecision::stated("marketing", String::new(), Decision::Granted)],
            collected_at: None,
            expires_at: None,
            source: "web".into(),
            evidence: Evidence::default(),
            idempotency_key: String::new(),
        }
    }

    fn fields(err: ConsentError) -> Vec<String> {
        let ConsentError::InvalidArgument(list) = err else {
            panic!("expected invalid argument, got {err:?}");
        };
        list.into_iter().map(|FieldViolation { field, .. }| field).collect()
    }

    #[test]
    fn email_identities_are_normalised() {
        let mut cmd = valid_record();
        record(&mut cmd, Timestamp::now()).unwrap();
        assert_eq!(cmd.identities[0].value, "a@example.com");
    }

    #[test]
    fn every_problem_is_reported_with_its_field_path() {
        let mut cmd = valid_record();
        cmd.identities.push(Identity::new("Email", ""));
        cmd.decisions.push(cmd.decisions[0].clone());
        cmd.evidence.metadata_json = "[1]".into();
        cmd.collected_at = Some(Timestamp::now().saturating_add_micros(3_600_000_000));
        let got = fields(record(&mut cmd, Timestamp::now()).unwrap_err());
        assert_eq!(
            got,
            [
                "identities[1].namespace",
                "identities[1].value",
                "decisions[1]",
                "collected_at",
                "evidence.metadata_json",
            ]
        );
    }

    #[test]
    fn expiry_must_follow_collection() {
        let mut cmd = valid_record();
        cmd.collected_at = Some(Timestamp::from_micros(2_000));
        cmd.expires_at = Some(Timestamp::from_micros(1_000));
        assert_eq!(fields(record(&mut cmd, Timestamp::now()).unwrap_err()), ["expires_at"]);
    }
}
