//! Rows to domain records and back.

use consent_core::{
    ConsentError, ConsentRecord, Decision, EventKind, Evidence, Identity, Signal, TenantId, Timestamp,
};
use uuid::Uuid;

use crate::entity::consent_record;

pub(crate) fn to_row(record: &ConsentRecord) -> consent_record::Model {
    let e = &record.evidence;
    consent_record::Model {
        id: record.id.to_string(),
        tenant: record.tenant.as_str().to_owned(),
        revision: record.revision,
        subject_id: record.subject_id.to_string(),
        identities: identities_to_json(&record.identities),
        purpose: record.purpose.clone(),
        target: record.target.clone(),
        decision: record.decision.as_str().to_owned(),
        collected_at: record.collected_at.as_micros(),
        expires_at: record.expires_at.map(Timestamp::as_micros),
        recorded_at: record.recorded_at.as_micros(),
        source: record.source.clone(),
        kind: record.kind.as_str().to_owned(),
        user_agent: e.user_agent.clone(),
        ip: e.ip.clone(),
        proxy_ip: e.proxy_ip.clone(),
        gpc: e.gpc,
        uri: e.uri.clone(),
        country: e.country.clone(),
        region: e.region.clone(),
        city: e.city.clone(),
        notice_version: e.notice_version.clone(),
        policy_version: e.policy_version.clone(),
        message: e.message.clone(),
        metadata_json: e.metadata_json.clone(),
        consent_id: e.consent_id.clone(),
        vendor: e.vendor.clone(),
        payload_digest: e.payload_digest.clone(),
        tc_string: e.tc_string.clone(),
        gpp_string: e.gpp_string.clone(),
        implied_by: record.implied_by.map_or("", Signal::as_str).to_owned(),
        gpc_conflict: record.gpc_conflict,
    }
}

pub(crate) fn from_row(row: consent_record::Model) -> Result<ConsentRecord, ConsentError> {
    let corrupt = |what: &str| ConsentError::Internal(format!("stored record {} has a bad {what}", row.id));
    Ok(ConsentRecord {
        id: Uuid::parse_str(&row.id).map_err(|_| corrupt("id"))?,
        tenant: TenantId::new(row.tenant.clone()),
        subject_id: Uuid::parse_str(&row.subject_id).map_err(|_| corrupt("subject id"))?,
        identities: identities_from_json(&row.identities).map_err(|_| corrupt("identities"))?,
        decision: Decision::from_name(&row.decision).ok_or_else(|| corrupt("decision"))?,
        kind: EventKind::from_name(&row.kind).ok_or_else(|| corrupt("kind"))?,
        // Empty for a decision the request stated.
        implied_by: match row.implied_by.as_str() {
            "" => None,
            name => Some(Signal::from_name(name).ok_or_else(|| corrupt("implied_by"))?),
        },
        gpc_conflict: row.gpc_conflict,
        collected_at: Timestamp::from_micros(row.collected_at),
        expires_at: row.expires_at.map(Timestamp::from_micros),
        recorded_at: Timestamp::from_micros(row.recorded_at),
        revision: row.revision,
        purpose: row.purpose,
        target: row.target,
        source: row.source,
        evidence: Evidence {
            user_agent: row.user_agent,
            ip: row.ip,
            proxy_ip: row.proxy_ip,
            gpc: row.gpc,
            uri: row.uri,
            country: row.country,
            region: row.region,
            city: row.city,
            notice_version: row.notice_version,
            policy_version: row.policy_version,
            message: row.message,
            metadata_json: row.metadata_json,
            consent_id: row.consent_id,
            vendor: row.vendor,
            payload_digest: row.payload_digest,
            tc_string: row.tc_string,
            gpp_string: row.gpp_string,
        },
    })
}

pub(crate) fn from_rows(rows: Vec<consent_record::Model>) -> Result<Vec<ConsentRecord>, ConsentError> {
    rows.into_iter().map(from_row).collect()
}

pub(crate) fn identities_to_json(identities: &[Identity]) -> String {
    serde_json::to_string(identities).unwrap_or_else(|_| "[]".to_owned())
}

pub(crate) fn identities_from_json(json: &str) -> Result<Vec<Identity>, serde_json::Error> {
    serde_json::from_str(json)
}
