//! Rows to domain records and back, sealing and opening the values that
//! identify a person (docs/evidence.md#erasure).
//!
//! Sealed under the subject's data key, each bound to its record and field:
//! the identities (as JSON), and the evidence's `user_agent`, `ip`,
//! `proxy_ip`, `uri`, `message`, `metadata_json` and `consent_id` — the
//! values the log leaf commits to. `ip` and `user_agent` carry a filter tag
//! (a keyed hash) so queries can match them. Values stored before sealing
//! existed are read as they are.

use std::collections::{BTreeSet, HashMap};

use consent_core::{
    ConsentError, ConsentRecord, Decision, EventKind, Evidence, Identity, Signal, TenantId, Timestamp,
};
use consent_evidence::{Commitments, Leaf, Salt};
use consent_vault::{SubjectKey, Vault, is_sealed};
use sea_orm::ConnectionTrait;
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::entity::consent_record;
use crate::keys::{Keys, Sealing, keys_of, vault_error};

/// The evidence fields sealed, as (name, tagged for filters).
pub(crate) const SEALED_EVIDENCE: [(&str, bool); 7] = [
    ("user_agent", true),
    ("ip", true),
    ("proxy_ip", false),
    ("uri", false),
    ("message", false),
    ("metadata_json", false),
    ("consent_id", false),
];

/// What a record whose identifying values were removed keeps of them (the
/// `removed` column, as JSON).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub(crate) struct Removed {
    /// `erased` or `retention`.
    pub(crate) reason: String,
    /// The subject the record was filed under (erasure files it under the
    /// nil id), as the leaf names it.
    pub(crate) subject_id: String,
    /// The commitments of the values, as the leaf holds them.
    pub(crate) commitments: Commitments,
}

impl Removed {
    pub(crate) fn parse(row: &consent_record::Model) -> Result<Option<Self>, ConsentError> {
        if row.removed.is_empty() {
            return Ok(None);
        }
        serde_json::from_str(&row.removed)
            .map(Some)
            .map_err(|_| ConsentError::Internal(format!("stored record {} has a bad removed", row.id)))
    }

    /// What a `removed` that does not parse stands for in an export: no
    /// commitments, which no leaf of a record with values has.
    pub(crate) fn unreadable() -> Self {
        Self { reason: String::new(), subject_id: String::new(), commitments: Commitments::default() }
    }

    pub(crate) fn to_json(&self) -> String {
        // Plain strings: serializing cannot fail.
        serde_json::to_string(self).unwrap_or_default()
    }
}

/// What a sealed value is bound to: its record and field.
fn context(record_id: &str, field: &str) -> String {
    format!("{record_id}/{field}")
}

/// How to treat a value that does not open.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Opening {
    /// Fail the read: the database was changed behind the store's back.
    Strict,
    /// Read a marker instead, so an export still lists the record and the
    /// verifier names it.
    Lenient,
}

/// What an unopenable value reads as under [`Opening::Lenient`].
const UNOPENABLE: &str = "\u{fffd}unopenable";

pub(crate) fn to_row(
    record: &ConsentRecord,
    vault: &Sealing,
    keys: &Keys,
) -> Result<consent_record::Model, ConsentError> {
    let e = &record.evidence;
    let id = record.id.to_string();
    let needs_key = !record.identities.is_empty()
        || [&e.user_agent, &e.ip, &e.proxy_ip, &e.uri, &e.message, &e.metadata_json, &e.consent_id]
            .iter()
            .any(|value| !value.is_empty());
    let key = match keys.get(&record.subject_id) {
        Some(key) => Some(key),
        None if needs_key => {
            return Err(ConsentError::Internal(format!("subject {} has no data key", record.subject_id)));
        }
        None => None,
    };
    let seal = |field: &str, value: &str, tagged: bool| -> Result<String, ConsentError> {
        let Some(key) = key else { return Ok(String::new()) };
        let tag = if tagged && !value.is_empty() {
            vault.tag(record.tenant.as_str(), field, value)
        } else {
            String::new()
        };
        key.seal_tagged(&context(&id, field), value, &tag).map_err(vault_error)
    };
    let identities = if record.identities.is_empty() {
        "[]".to_owned()
    } else {
        seal("identities", &identities_to_json(&record.identities), false)?
    };
    let [user_agent, ip, proxy_ip, uri, message, metadata_json, consent_id] = SEALED_EVIDENCE
        .iter()
        .zip([&e.user_agent, &e.ip, &e.proxy_ip, &e.uri, &e.message, &e.metadata_json, &e.consent_id])
        .map(|((field, tagged), value)| seal(field, value, *tagged))
        .collect::<Result<Vec<_>, _>>()?
        .try_into()
        .unwrap_or_else(|_| unreachable!("seven fields in, seven out"));
    Ok(consent_record::Model {
        id,
        tenant: record.tenant.as_str().to_owned(),
        revision: record.revision,
        subject_id: record.subject_id.to_string(),
        identities,
        purpose: record.purpose.clone(),
        target: record.target.clone(),
        decision: record.decision.as_str().to_owned(),
        collected_at: record.collected_at.as_micros(),
        expires_at: record.expires_at.map(Timestamp::as_micros),
        recorded_at: record.recorded_at.as_micros(),
        source: record.source.clone(),
        kind: record.kind.as_str().to_owned(),
        user_agent,
        ip,
        proxy_ip,
        gpc: e.gpc,
        uri,
        country: e.country.clone(),
        region: e.region.clone(),
        city: e.city.clone(),
        notice_version: e.notice_version.clone(),
        policy_version: e.policy_version.clone(),
        message,
        metadata_json,
        consent_id,
        vendor: e.vendor.clone(),
        payload_digest: e.payload_digest.clone(),
        tc_string: e.tc_string.clone(),
        gpp_string: e.gpp_string.clone(),
        implied_by: record.implied_by.map_or("", Signal::as_str).to_owned(),
        gpc_conflict: record.gpc_conflict,
        removed: String::new(),
        // The values are at hand here: the log builder then needs only this.
        leaf_hash: if vault.leaf_hashes {
            hex::encode(
                Leaf::of(record, &key.map_or_else(Salt::default, SubjectKey::commitment_salt)).hash().0,
            )
        } else {
            String::new()
        },
    })
}

/// The salt the row's values commit under in its log leaf: sealed values
/// under the salt its subject's data key derives; values stored plain
/// (written before sealing) under the subject's stored salt; no values
/// under any (every commitment is empty).
pub(crate) fn commitment_salt(
    row: &consent_record::Model,
    stored: Option<Salt>,
    key: Option<&SubjectKey>,
) -> Option<Salt> {
    if has_sealed(row) {
        key.map(SubjectKey::commitment_salt)
    } else if holds_plain_values(row) {
        stored
    } else {
        Some(Salt::default())
    }
}

/// Whether the row holds identifying values stored plain (written before
/// sealing).
pub(crate) fn holds_plain_values(row: &consent_record::Model) -> bool {
    identifying_columns(row).iter().any(|value| !value.is_empty() && *value != "[]" && !is_sealed(value))
}

/// The columns of a row that hold values that can identify a person.
fn identifying_columns(row: &consent_record::Model) -> [&str; 8] {
    [
        &row.identities,
        &row.user_agent,
        &row.ip,
        &row.proxy_ip,
        &row.uri,
        &row.message,
        &row.metadata_json,
        &row.consent_id,
    ]
}

/// Whether any value of the row is sealed (it needs its subject's key).
fn has_sealed(row: &consent_record::Model) -> bool {
    identifying_columns(row).iter().any(|value| is_sealed(value))
}

/// The record of a row, its sealed values opened with `key`.
pub(crate) fn from_row(
    row: consent_record::Model,
    key: Option<&SubjectKey>,
    opening: Opening,
) -> Result<ConsentRecord, ConsentError> {
    let corrupt = |what: &str| ConsentError::Internal(format!("stored record {} has a bad {what}", row.id));
    let open = |field: &str, stored: &str| -> Result<String, ConsentError> {
        if !is_sealed(stored) {
            return Ok(stored.to_owned());
        }
        match key.map(|key| key.open(&context(&row.id, field), stored)) {
            Some(Ok(plain)) => Ok(plain),
            _ if opening == Opening::Lenient => Ok(UNOPENABLE.to_owned()),
            None => {
                Err(ConsentError::Internal(format!("the subject key of stored record {} is gone", row.id)))
            }
            Some(Err(_)) => Err(corrupt(field)),
        }
    };
    let identities = open("identities", &row.identities)?;
    let identities = match identities_from_json(&identities) {
        Ok(identities) => identities,
        Err(_) if opening == Opening::Lenient => vec![Identity::new("", UNOPENABLE)],
        Err(_) => return Err(corrupt("identities")),
    };
    let evidence = Evidence {
        user_agent: open("user_agent", &row.user_agent)?,
        ip: open("ip", &row.ip)?,
        proxy_ip: open("proxy_ip", &row.proxy_ip)?,
        gpc: row.gpc,
        uri: open("uri", &row.uri)?,
        country: row.country.clone(),
        region: row.region.clone(),
        city: row.city.clone(),
        notice_version: row.notice_version.clone(),
        policy_version: row.policy_version.clone(),
        message: open("message", &row.message)?,
        metadata_json: open("metadata_json", &row.metadata_json)?,
        consent_id: open("consent_id", &row.consent_id)?,
        vendor: row.vendor.clone(),
        payload_digest: row.payload_digest.clone(),
        tc_string: row.tc_string.clone(),
        gpp_string: row.gpp_string.clone(),
    };
    Ok(ConsentRecord {
        id: Uuid::parse_str(&row.id).map_err(|_| corrupt("id"))?,
        tenant: TenantId::new(row.tenant.clone()),
        subject_id: Uuid::parse_str(&row.subject_id).map_err(|_| corrupt("subject id"))?,
        identities,
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
        evidence,
    })
}

/// The data keys the rows' sealed values need, by tenant.
pub(crate) async fn keys_for_rows<C: ConnectionTrait>(
    db: &C,
    vault: &Vault,
    rows: &[consent_record::Model],
) -> Result<HashMap<String, Keys>, ConsentError> {
    let mut wanted: HashMap<&str, BTreeSet<Uuid>> = HashMap::new();
    for row in rows.iter().filter(|row| has_sealed(row)) {
        if let Ok(subject) = Uuid::parse_str(&row.subject_id) {
            wanted.entry(row.tenant.as_str()).or_default().insert(subject);
        }
    }
    let mut keys = HashMap::with_capacity(wanted.len());
    for (tenant, subjects) in wanted {
        keys.insert(tenant.to_owned(), keys_of(db, vault, &TenantId::new(tenant), subjects).await?);
    }
    Ok(keys)
}

/// The records of rows, their sealed values opened.
pub(crate) async fn open_rows<C: ConnectionTrait>(
    db: &C,
    vault: &Vault,
    rows: Vec<consent_record::Model>,
) -> Result<Vec<ConsentRecord>, ConsentError> {
    let keys = keys_for_rows(db, vault, &rows).await?;
    rows.into_iter()
        .map(|row| {
            let key = row_key(&keys, &row);
            from_row(row, key, Opening::Strict)
        })
        .collect()
}

/// The key of the row's subject among `keys`.
pub(crate) fn row_key<'a>(
    keys: &'a HashMap<String, Keys>,
    row: &consent_record::Model,
) -> Option<&'a SubjectKey> {
    let subject = Uuid::parse_str(&row.subject_id).ok()?;
    keys.get(&row.tenant)?.get(&subject)
}

/// The record of one row, its sealed values opened.
pub(crate) async fn open_row<C: ConnectionTrait>(
    db: &C,
    vault: &Vault,
    row: Option<consent_record::Model>,
) -> Result<Option<ConsentRecord>, ConsentError> {
    let Some(row) = row else { return Ok(None) };
    Ok(open_rows(db, vault, vec![row]).await?.pop())
}

pub(crate) fn identities_to_json(identities: &[Identity]) -> String {
    serde_json::to_string(identities).unwrap_or_else(|_| "[]".to_owned())
}

pub(crate) fn identities_from_json(json: &str) -> Result<Vec<Identity>, serde_json::Error> {
    if json.is_empty() {
        return Ok(Vec::new());
    }
    serde_json::from_str(json)
}
