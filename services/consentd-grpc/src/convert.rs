//! Protobuf messages to domain commands and back. Conversion problems are
//! collected as field violations with the API's field paths.

use consent_core::error::Violations;
use consent_core::{
    BatchCheckConsent, BatchCheckOutcome, CheckConsent, CheckOutcome, ConsentError, ConsentModeOutcome,
    ConsentRecord, ConsentStatus, Decision, EraseSubject, EventKind, Evidence, FeedFilter, FeedStart,
    GetConsent, Identity, PurposeDecision, PurposeTarget, QueryConsents, QueryPage, RecordConsent,
    RecordFilter, Revision, Signal, SubjectRef, Subscribe, Timestamp, UpdateConsent, WriteOutcome,
};
use consent_proto::v1 as pb;
use uuid::Uuid;

pub(crate) fn record_request(req: pb::RecordConsentRequest) -> Result<RecordConsent, ConsentError> {
    let mut v = Violations::default();
    let decisions = req
        .decisions
        .into_iter()
        .enumerate()
        .map(|(i, d)| {
            PurposeDecision::stated(
                d.purpose,
                d.target,
                decision(d.decision, &format!("decisions[{i}].decision"), &mut v),
            )
        })
        .collect();
    let cmd = RecordConsent {
        identities: req.identities.into_iter().map(identity).collect(),
        decisions,
        collected_at: timestamp(req.collected_at, "collected_at", &mut v),
        expires_at: timestamp(req.expires_at, "expires_at", &mut v),
        source: req.source,
        evidence: evidence(req.evidence),
        idempotency_key: req.idempotency_key,
    };
    v.into_result().map(|()| cmd)
}

pub(crate) fn update_request(req: pb::UpdateConsentRequest) -> Result<UpdateConsent, ConsentError> {
    let mut v = Violations::default();
    let cmd = UpdateConsent {
        subject: subject(req.subject, "subject", &mut v),
        decision: decision(req.decision, "decision", &mut v),
        collected_at: timestamp(req.collected_at, "collected_at", &mut v),
        expires_at: timestamp(req.expires_at, "expires_at", &mut v),
        expected_revision: (req.expected_revision != 0).then_some(req.expected_revision),
        purpose: req.purpose,
        target: req.target,
        source: req.source,
        evidence: evidence(req.evidence),
        idempotency_key: req.idempotency_key,
    };
    v.into_result().map(|()| cmd)
}

pub(crate) fn check_request(req: pb::CheckConsentRequest) -> Result<CheckConsent, ConsentError> {
    let mut v = Violations::default();
    let cmd = CheckConsent {
        subject: subject(req.subject, "subject", &mut v),
        at: timestamp(req.at, "at", &mut v),
        purpose: req.purpose,
        target: req.target,
        min_revision: req.min_revision,
    };
    v.into_result().map(|()| cmd)
}

pub(crate) fn erase_request(req: pb::EraseSubjectRequest) -> Result<EraseSubject, ConsentError> {
    let mut v = Violations::default();
    let cmd = EraseSubject { subject: subject(req.subject, "subject", &mut v) };
    v.into_result().map(|()| cmd)
}

pub(crate) fn batch_check_request(
    req: pb::BatchCheckConsentRequest,
) -> Result<BatchCheckConsent, ConsentError> {
    let mut v = Violations::default();
    let cmd = BatchCheckConsent {
        subject: subject(req.subject, "subject", &mut v),
        checks: req
            .checks
            .into_iter()
            .map(|check| PurposeTarget { purpose: check.purpose, target: check.target })
            .collect(),
        at: timestamp(req.at, "at", &mut v),
        min_revision: req.min_revision,
    };
    v.into_result().map(|()| cmd)
}

pub(crate) fn query_request(req: pb::QueryConsentsRequest) -> Result<QueryConsents, ConsentError> {
    let mut v = Violations::default();
    let filter = RecordFilter {
        subject_id: optional_uuid(&req.subject_id, "subject_id", &mut v),
        identity: req.identity.map(identity),
        decisions: optional_decision(req.decision, "decision", &mut v).into_iter().collect(),
        collected_after: timestamp(req.collected_after, "collected_after", &mut v),
        collected_before: timestamp(req.collected_before, "collected_before", &mut v),
        expiring_before: timestamp(req.expiring_before, "expiring_before", &mut v),
        purpose: req.purpose,
        target: req.target,
        source: req.source,
        ip: req.ip,
        user_agent: req.user_agent,
        country: req.country,
        region: req.region,
        city: req.city,
        history: req.history,
        gpc_conflict: req.gpc_conflict,
    };
    let cmd = QueryConsents { filter, page_size: req.page_size, page_token: req.page_token };
    v.into_result().map(|()| cmd)
}

pub(crate) fn get_request(req: pb::GetConsentRequest) -> Result<GetConsent, ConsentError> {
    let mut v = Violations::default();
    let cmd = match req.key {
        Some(pb::get_consent_request::Key::RecordId(id)) => {
            GetConsent::ById(optional_uuid(&id, "record_id", &mut v).unwrap_or_default())
        }
        Some(pb::get_consent_request::Key::Current(key)) => GetConsent::Current {
            subject: subject(key.subject, "current.subject", &mut v),
            purpose: key.purpose,
            target: key.target,
        },
        None => {
            v.add("key", "either record_id or current is required");
            GetConsent::ById(Uuid::nil())
        }
    };
    if let GetConsent::ById(id) = &cmd
        && id.is_nil()
        && v.is_empty()
    {
        v.add("record_id", "is required");
    }
    v.into_result().map(|()| cmd)
}

pub(crate) fn subscribe_request(req: pb::SubscribeRequest) -> Result<Subscribe, ConsentError> {
    let mut v = Violations::default();
    let subject = match (optional_uuid(&req.subject_id, "subject_id", &mut v), req.identity) {
        (Some(id), None) => Some(SubjectRef::Id(id)),
        (None, Some(id)) => Some(SubjectRef::Identity(identity(id))),
        (None, None) => None,
        (Some(_), Some(_)) => {
            v.add("identity", "give either subject_id or identity, not both");
            None
        }
    };
    let start = match (req.after_revision, req.from_beginning, req.resume_token.is_empty()) {
        (0, false, true) => FeedStart::Now,
        (0, true, true) => FeedStart::Beginning,
        (revision, false, true) => FeedStart::After(revision),
        (0, false, false) => FeedStart::Token(req.resume_token),
        (_, true, _) => {
            v.add("from_beginning", "cannot be combined with after_revision or resume_token");
            FeedStart::Now
        }
        (_, false, false) => {
            v.add("resume_token", "cannot be combined with after_revision");
            FeedStart::Now
        }
    };
    let cmd = Subscribe {
        filter: FeedFilter { subject, purposes: req.purposes, targets: req.targets, sources: req.sources },
        start,
    };
    v.into_result().map(|()| cmd)
}

pub(crate) fn record_response(outcome: WriteOutcome) -> pb::RecordConsentResponse {
    pb::RecordConsentResponse {
        subject_id: outcome.subject_id.to_string(),
        records: outcome.records.into_iter().map(record).collect(),
        revision: outcome.revision,
        conflicting_identities: outcome.conflicting_identities.into_iter().map(identity_pb).collect(),
    }
}

pub(crate) fn update_response(outcome: WriteOutcome) -> pb::UpdateConsentResponse {
    pb::UpdateConsentResponse {
        revision: outcome.revision,
        record: outcome.records.into_iter().next().map(record),
    }
}

pub(crate) fn check_response(outcome: CheckOutcome) -> pb::CheckConsentResponse {
    pb::CheckConsentResponse {
        status: status(outcome.status).into(),
        record: outcome.record.map(record),
        revision: outcome.revision,
    }
}

pub(crate) fn batch_check_response(outcome: BatchCheckOutcome) -> pb::BatchCheckConsentResponse {
    pb::BatchCheckConsentResponse {
        results: outcome
            .results
            .into_iter()
            .map(|result| pb::CheckResult {
                status: status(result.status).into(),
                record: result.record.map(record),
            })
            .collect(),
        revision: outcome.revision,
    }
}

fn status(status: ConsentStatus) -> pb::ConsentStatus {
    match status {
        ConsentStatus::Granted => pb::ConsentStatus::Granted,
        ConsentStatus::Denied => pb::ConsentStatus::Denied,
        ConsentStatus::Limited => pb::ConsentStatus::Limited,
        ConsentStatus::Expired => pb::ConsentStatus::Expired,
        ConsentStatus::Unknown => pb::ConsentStatus::Unknown,
    }
}

pub(crate) fn query_response(page: QueryPage) -> pb::QueryConsentsResponse {
    pb::QueryConsentsResponse {
        records: page.records.into_iter().map(record).collect(),
        next_page_token: page.next_page_token,
    }
}

pub(crate) fn record(record: ConsentRecord) -> pb::ConsentRecord {
    let e = record.evidence;
    pb::ConsentRecord {
        id: record.id.to_string(),
        subject_id: record.subject_id.to_string(),
        identities: record.identities.into_iter().map(identity_pb).collect(),
        purpose: record.purpose,
        target: record.target,
        decision: decision_pb(record.decision).into(),
        collected_at: Some(timestamp_pb(record.collected_at)),
        expires_at: record.expires_at.map(timestamp_pb),
        recorded_at: Some(timestamp_pb(record.recorded_at)),
        source: record.source,
        revision: record.revision,
        kind: event_kind_pb(record.kind).into(),
        implied_by: signal_pb(record.implied_by).into(),
        gpc_conflict: record.gpc_conflict,
        evidence: Some(pb::Evidence {
            user_agent: e.user_agent,
            ip: e.ip,
            uri: e.uri,
            geo: Some(pb::Geo { country: e.country, region: e.region, city: e.city }),
            notice_version: e.notice_version,
            policy_version: e.policy_version,
            message: e.message,
            metadata_json: e.metadata_json,
            consent_id: e.consent_id,
            vendor: e.vendor,
            payload_digest: e.payload_digest,
            proxy_ip: e.proxy_ip,
            gpc: e.gpc,
            tc_string: e.tc_string,
            gpp_string: e.gpp_string,
        }),
    }
}

const fn signal_pb(signal: Option<Signal>) -> pb::Signal {
    match signal {
        None => pb::Signal::Unspecified,
        Some(Signal::Tcf) => pb::Signal::Tcf,
        Some(Signal::Gpp) => pb::Signal::Gpp,
        Some(Signal::Gpc) => pb::Signal::Gpc,
    }
}

/// The consent mode view as its response.
pub(crate) fn consent_mode_response(outcome: ConsentModeOutcome) -> pb::GetConsentModeStateResponse {
    let value = |name: &str| {
        let granted = outcome.types.iter().any(|(type_name, granted)| *type_name == name && *granted);
        if granted { "granted" } else { "denied" }.to_owned()
    };
    pb::GetConsentModeStateResponse {
        state: Some(pb::ConsentModeState {
            ad_storage: value("ad_storage"),
            ad_user_data: value("ad_user_data"),
            ad_personalization: value("ad_personalization"),
            analytics_storage: value("analytics_storage"),
            functionality_storage: value("functionality_storage"),
            personalization_storage: value("personalization_storage"),
            security_storage: value("security_storage"),
        }),
        revision: outcome.revision,
    }
}

pub(crate) fn consent_mode_request(
    req: pb::GetConsentModeStateRequest,
) -> Result<(SubjectRef, Revision), ConsentError> {
    let mut v = Violations::default();
    let subject = subject(req.subject, "subject", &mut v);
    v.into_result().map(|()| (subject, req.min_revision))
}

/// A decoded signal (a JSON object) as a protobuf Struct.
pub(crate) fn signal_struct(view: Option<serde_json::Value>) -> Option<prost_types::Struct> {
    match view.map(json_value) {
        Some(prost_types::Value { kind: Some(prost_types::value::Kind::StructValue(fields)) }) => {
            Some(fields)
        }
        _ => None,
    }
}

fn json_value(value: serde_json::Value) -> prost_types::Value {
    use prost_types::value::Kind;
    let kind = match value {
        serde_json::Value::Null => Kind::NullValue(0),
        serde_json::Value::Bool(b) => Kind::BoolValue(b),
        // Struct numbers are doubles; the decoded ids and times fit exactly.
        #[allow(clippy::cast_precision_loss)]
        serde_json::Value::Number(n) => Kind::NumberValue(n.as_f64().unwrap_or_default()),
        serde_json::Value::String(s) => Kind::StringValue(s),
        serde_json::Value::Array(items) => {
            Kind::ListValue(prost_types::ListValue { values: items.into_iter().map(json_value).collect() })
        }
        serde_json::Value::Object(fields) => Kind::StructValue(prost_types::Struct {
            fields: fields.into_iter().map(|(k, v)| (k, json_value(v))).collect(),
        }),
    };
    prost_types::Value { kind: Some(kind) }
}

fn identity(id: pb::Identity) -> Identity {
    Identity::new(id.namespace, id.value)
}

fn identity_pb(id: Identity) -> pb::Identity {
    pb::Identity { namespace: id.namespace, value: id.value }
}

pub(crate) fn subject_pb(subject: SubjectRef) -> pb::SubjectRef {
    pb::SubjectRef {
        subject: Some(match subject {
            SubjectRef::Id(id) => pb::subject_ref::Subject::SubjectId(id.to_string()),
            SubjectRef::Identity(id) => pb::subject_ref::Subject::Identity(identity_pb(id)),
        }),
    }
}

fn evidence(evidence: Option<pb::Evidence>) -> Evidence {
    let e = evidence.unwrap_or_default();
    let geo = e.geo.unwrap_or_default();
    Evidence {
        user_agent: e.user_agent,
        ip: e.ip,
        uri: e.uri,
        country: geo.country,
        region: geo.region,
        city: geo.city,
        notice_version: e.notice_version,
        policy_version: e.policy_version,
        message: e.message,
        metadata_json: e.metadata_json,
        consent_id: e.consent_id,
        vendor: e.vendor,
        payload_digest: e.payload_digest,
        proxy_ip: e.proxy_ip,
        gpc: e.gpc,
        tc_string: e.tc_string,
        gpp_string: e.gpp_string,
    }
}

fn subject(subject: Option<pb::SubjectRef>, field: &str, v: &mut Violations) -> SubjectRef {
    match subject.and_then(|s| s.subject) {
        Some(pb::subject_ref::Subject::SubjectId(id)) => match Uuid::parse_str(&id) {
            Ok(id) => SubjectRef::Id(id),
            Err(_) => {
                v.add(format!("{field}.subject_id"), "must be a UUID");
                SubjectRef::Id(Uuid::nil())
            }
        },
        Some(pb::subject_ref::Subject::Identity(id)) => SubjectRef::Identity(identity(id)),
        None => {
            v.add(field, "either subject_id or identity is required");
            SubjectRef::Id(Uuid::nil())
        }
    }
}

fn optional_uuid(text: &str, field: &str, v: &mut Violations) -> Option<Uuid> {
    if text.is_empty() {
        return None;
    }
    Uuid::parse_str(text).inspect_err(|_| v.add(field, "must be a UUID")).ok()
}

/// A required decision; on a problem the violation is recorded and a
/// placeholder returned (the request is rejected before it is used).
fn decision(value: i32, field: &str, v: &mut Violations) -> Decision {
    match optional_decision(value, field, v) {
        Some(decision) => decision,
        None => {
            if pb::Decision::try_from(value) == Ok(pb::Decision::Unspecified) {
                v.add(field, "is required");
            }
            Decision::Denied
        }
    }
}

fn optional_decision(value: i32, field: &str, v: &mut Violations) -> Option<Decision> {
    match pb::Decision::try_from(value) {
        Ok(pb::Decision::Granted) => Some(Decision::Granted),
        Ok(pb::Decision::Denied) => Some(Decision::Denied),
        Ok(pb::Decision::Limited) => Some(Decision::Limited),
        Ok(pb::Decision::Unspecified) => None,
        Err(_) => {
            v.add(field, format!("{value} is not a known decision"));
            None
        }
    }
}

fn decision_pb(decision: Decision) -> pb::Decision {
    match decision {
        Decision::Granted => pb::Decision::Granted,
        Decision::Denied => pb::Decision::Denied,
        Decision::Limited => pb::Decision::Limited,
    }
}

fn timestamp(value: Option<prost_types::Timestamp>, field: &str, v: &mut Violations) -> Option<Timestamp> {
    let value = value?;
    let converted = Timestamp::from_seconds_nanos(value.seconds, value.nanos);
    if converted.is_none() {
        v.add(field, "is not a valid timestamp");
    }
    converted
}

pub(crate) fn timestamp_pb(value: Timestamp) -> prost_types::Timestamp {
    let (seconds, nanos) = value.to_seconds_nanos();
    prost_types::Timestamp { seconds, nanos }
}

/// What wrote a record, as the proto names it.
pub(crate) const fn event_kind_pb(kind: EventKind) -> pb::EventKind {
    match kind {
        EventKind::Recorded => pb::EventKind::Recorded,
        EventKind::Updated => pb::EventKind::Updated,
        EventKind::Expired => pb::EventKind::Expired,
        EventKind::Erased => pb::EventKind::Erased,
    }
}
