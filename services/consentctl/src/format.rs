//! The record file format of `export`, `import` and `--output json|csv`:
//! one record per JSON line, or per CSV row (docs/cli.md#the-record-format).
//! Field names are the proto's, in snake case; enums are their lower-case
//! names without the prefix; times are RFC 3339 in UTC. In CSV the evidence
//! is flattened to `evidence.<field>` columns and the identities are a JSON
//! array in one cell, since identity values may hold any character.

use consent_client::proto::{self, ConsentRecord, Decision, EventKind, Signal};
use serde::{Deserialize, Serialize};

/// One record as the files hold it.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub(crate) struct RecordRow {
    pub(crate) id: String,
    pub(crate) subject_id: String,
    pub(crate) identities: Vec<IdentityRow>,
    pub(crate) purpose: String,
    pub(crate) target: String,
    pub(crate) decision: String,
    pub(crate) collected_at: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) expires_at: Option<String>,
    pub(crate) recorded_at: String,
    pub(crate) source: String,
    pub(crate) revision: i64,
    pub(crate) kind: String,
    pub(crate) implied_by: String,
    pub(crate) gpc_conflict: bool,
    pub(crate) evidence: EvidenceRow,
}

/// An identity.
#[derive(Debug, Clone, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct IdentityRow {
    pub(crate) namespace: String,
    pub(crate) value: String,
}

/// The evidence; empty fields are left out of JSON.
#[derive(Debug, Clone, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub(crate) struct EvidenceRow {
    #[serde(skip_serializing_if = "String::is_empty")]
    pub(crate) user_agent: String,
    #[serde(skip_serializing_if = "String::is_empty")]
    pub(crate) ip: String,
    #[serde(skip_serializing_if = "String::is_empty")]
    pub(crate) proxy_ip: String,
    #[serde(skip_serializing_if = "String::is_empty")]
    pub(crate) uri: String,
    #[serde(skip_serializing_if = "String::is_empty")]
    pub(crate) country: String,
    #[serde(skip_serializing_if = "String::is_empty")]
    pub(crate) region: String,
    #[serde(skip_serializing_if = "String::is_empty")]
    pub(crate) city: String,
    #[serde(skip_serializing_if = "String::is_empty")]
    pub(crate) notice_version: String,
    #[serde(skip_serializing_if = "String::is_empty")]
    pub(crate) policy_version: String,
    #[serde(skip_serializing_if = "String::is_empty")]
    pub(crate) message: String,
    #[serde(skip_serializing_if = "String::is_empty")]
    pub(crate) metadata_json: String,
    #[serde(skip_serializing_if = "String::is_empty")]
    pub(crate) consent_id: String,
    #[serde(skip_serializing_if = "String::is_empty")]
    pub(crate) vendor: String,
    #[serde(skip_serializing_if = "String::is_empty")]
    pub(crate) payload_digest: String,
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub(crate) gpc: bool,
    #[serde(skip_serializing_if = "String::is_empty")]
    pub(crate) tc_string: String,
    #[serde(skip_serializing_if = "String::is_empty")]
    pub(crate) gpp_string: String,
}

/// The CSV columns, in order.
pub(crate) const CSV_COLUMNS: &[&str] = &[
    "id",
    "subject_id",
    "identities",
    "purpose",
    "target",
    "decision",
    "collected_at",
    "expires_at",
    "recorded_at",
    "source",
    "revision",
    "kind",
    "implied_by",
    "gpc_conflict",
    "evidence.user_agent",
    "evidence.ip",
    "evidence.proxy_ip",
    "evidence.uri",
    "evidence.country",
    "evidence.region",
    "evidence.city",
    "evidence.notice_version",
    "evidence.policy_version",
    "evidence.message",
    "evidence.metadata_json",
    "evidence.consent_id",
    "evidence.vendor",
    "evidence.payload_digest",
    "evidence.gpc",
    "evidence.tc_string",
    "evidence.gpp_string",
];

/// A proto timestamp in RFC 3339.
pub(crate) fn time_text(time: Option<&prost_types::Timestamp>) -> Option<String> {
    time.map(ToString::to_string)
}

/// An RFC 3339 time, or a date (midnight UTC).
pub(crate) fn parse_time(text: &str) -> Result<prost_types::Timestamp, String> {
    let text = text.trim();
    let full = if text.len() == 10 { format!("{text}T00:00:00Z") } else { text.to_owned() };
    full.parse().map_err(|_| format!("{text:?} is not an RFC 3339 time (2026-01-31T12:00:00Z) or a date"))
}

/// `granted`, `denied` or `limited` (any case, with or without the
/// `DECISION_` prefix).
pub(crate) fn parse_decision(text: &str) -> Option<Decision> {
    let name = text.trim().to_ascii_uppercase();
    let name = name.strip_prefix("DECISION_").unwrap_or(&name);
    match name {
        "GRANTED" => Some(Decision::Granted),
        "DENIED" => Some(Decision::Denied),
        "LIMITED" => Some(Decision::Limited),
        _ => None,
    }
}

/// An enum's lower-case name without its prefix (`DECISION_GRANTED` →
/// `granted`).
fn short_name(name: &str, prefix: &str) -> String {
    name.strip_prefix(prefix).unwrap_or(name).to_ascii_lowercase()
}

pub(crate) fn decision_name(decision: i32) -> String {
    Decision::try_from(decision)
        .map_or_else(|_| decision.to_string(), |d| short_name(d.as_str_name(), "DECISION_"))
}

pub(crate) fn status_name(status: i32) -> String {
    proto::ConsentStatus::try_from(status)
        .map_or_else(|_| status.to_string(), |s| short_name(s.as_str_name(), "CONSENT_STATUS_"))
}

fn kind_name(kind: i32) -> String {
    EventKind::try_from(kind)
        .map_or_else(|_| kind.to_string(), |k| short_name(k.as_str_name(), "EVENT_KIND_"))
}

fn signal_name(signal: i32) -> String {
    match Signal::try_from(signal) {
        Ok(Signal::Unspecified) => String::new(),
        Ok(signal) => short_name(signal.as_str_name(), "SIGNAL_"),
        Err(_) => signal.to_string(),
    }
}

impl From<&ConsentRecord> for RecordRow {
    fn from(record: &ConsentRecord) -> Self {
        let evidence = record.evidence.clone().unwrap_or_default();
        let geo = evidence.geo.unwrap_or_default();
        Self {
            id: record.id.clone(),
            subject_id: record.subject_id.clone(),
            identities: record
                .identities
                .iter()
                .map(|identity| IdentityRow {
                    namespace: identity.namespace.clone(),
                    value: identity.value.clone(),
                })
                .collect(),
            purpose: record.purpose.clone(),
            target: record.target.clone(),
            decision: decision_name(record.decision),
            collected_at: time_text(record.collected_at.as_ref()).unwrap_or_default(),
            expires_at: time_text(record.expires_at.as_ref()),
            recorded_at: time_text(record.recorded_at.as_ref()).unwrap_or_default(),
            source: record.source.clone(),
            revision: record.revision,
            kind: kind_name(record.kind),
            implied_by: signal_name(record.implied_by),
            gpc_conflict: record.gpc_conflict,
            evidence: EvidenceRow {
                user_agent: evidence.user_agent,
                ip: evidence.ip,
                proxy_ip: evidence.proxy_ip,
                uri: evidence.uri,
                country: geo.country,
                region: geo.region,
                city: geo.city,
                notice_version: evidence.notice_version,
                policy_version: evidence.policy_version,
                message: evidence.message,
                metadata_json: evidence.metadata_json,
                consent_id: evidence.consent_id,
                vendor: evidence.vendor,
                payload_digest: evidence.payload_digest,
                gpc: evidence.gpc,
                tc_string: evidence.tc_string,
                gpp_string: evidence.gpp_string,
            },
        }
    }
}

impl EvidenceRow {
    /// The proto evidence; `None` when every field is empty.
    pub(crate) fn to_proto(&self) -> Option<proto::Evidence> {
        if *self == Self::default() {
            return None;
        }
        let geo = (!self.country.is_empty() || !self.region.is_empty() || !self.city.is_empty()).then(|| {
            proto::Geo { country: self.country.clone(), region: self.region.clone(), city: self.city.clone() }
        });
        Some(proto::Evidence {
            user_agent: self.user_agent.clone(),
            ip: self.ip.clone(),
            uri: self.uri.clone(),
            geo,
            notice_version: self.notice_version.clone(),
            policy_version: self.policy_version.clone(),
            message: self.message.clone(),
            metadata_json: self.metadata_json.clone(),
            consent_id: self.consent_id.clone(),
            vendor: self.vendor.clone(),
            payload_digest: self.payload_digest.clone(),
            proxy_ip: self.proxy_ip.clone(),
            gpc: self.gpc,
            tc_string: self.tc_string.clone(),
            gpp_string: self.gpp_string.clone(),
        })
    }

    /// The evidence field a CSV column names, to read or write.
    fn field(&mut self, name: &str) -> Option<&mut String> {
        Some(match name {
            "user_agent" => &mut self.user_agent,
            "ip" => &mut self.ip,
            "proxy_ip" => &mut self.proxy_ip,
            "uri" => &mut self.uri,
            "country" => &mut self.country,
            "region" => &mut self.region,
            "city" => &mut self.city,
            "notice_version" => &mut self.notice_version,
            "policy_version" => &mut self.policy_version,
            "message" => &mut self.message,
            "metadata_json" => &mut self.metadata_json,
            "consent_id" => &mut self.consent_id,
            "vendor" => &mut self.vendor,
            "payload_digest" => &mut self.payload_digest,
            "tc_string" => &mut self.tc_string,
            "gpp_string" => &mut self.gpp_string,
            _ => return None,
        })
    }

    /// Sets the evidence field `name` from text; `Err` names what is wrong.
    pub(crate) fn set(&mut self, name: &str, value: &str) -> Result<(), String> {
        if name == "gpc" {
            self.gpc = parse_bool(value).ok_or_else(|| format!("{value:?} is not true or false"))?;
            return Ok(());
        }
        let field = self.field(name).ok_or_else(|| format!("no evidence field {name:?}"))?;
        value.clone_into(field);
        Ok(())
    }
}

/// `true`/`false` (and empty as false), as CSV cells spell them.
pub(crate) fn parse_bool(text: &str) -> Option<bool> {
    match text.trim().to_ascii_lowercase().as_str() {
        "true" | "1" | "yes" => Some(true),
        "false" | "0" | "no" | "" => Some(false),
        _ => None,
    }
}

impl RecordRow {
    /// The CSV cells, in [`CSV_COLUMNS`] order.
    pub(crate) fn csv_cells(&self) -> Vec<String> {
        let identities = serde_json::to_string(&self.identities).unwrap_or_default();
        let mut cells = vec![
            self.id.clone(),
            self.subject_id.clone(),
            identities,
            self.purpose.clone(),
            self.target.clone(),
            self.decision.clone(),
            self.collected_at.clone(),
            self.expires_at.clone().unwrap_or_default(),
            self.recorded_at.clone(),
            self.source.clone(),
            self.revision.to_string(),
            self.kind.clone(),
            self.implied_by.clone(),
            self.gpc_conflict.to_string(),
        ];
        let mut evidence = self.evidence.clone();
        for column in &CSV_COLUMNS[cells.len()..] {
            let name = column.trim_start_matches("evidence.");
            cells.push(match evidence.field(name) {
                Some(value) => value.clone(),
                None => evidence.gpc.to_string(),
            });
        }
        cells
    }

    /// A row from CSV cells under `header` (our export's columns, in any
    /// order; missing columns are empty). `Err` names the column.
    pub(crate) fn from_csv(
        header: &csv::StringRecord,
        row: &csv::StringRecord,
    ) -> Result<Self, (String, String)> {
        let mut record = Self::default();
        for (column, cell) in header.iter().zip(row.iter()) {
            let fail = |message: String| (column.to_owned(), message);
            match column {
                "id" => record.id = cell.to_owned(),
                "subject_id" => record.subject_id = cell.to_owned(),
                "identities" => {
                    record.identities = if cell.is_empty() {
                        Vec::new()
                    } else {
                        serde_json::from_str(cell)
                            .map_err(|err| fail(format!("not a JSON array of identities: {err}")))?
                    }
                }
                "purpose" => record.purpose = cell.to_owned(),
                "target" => record.target = cell.to_owned(),
                "decision" => record.decision = cell.to_owned(),
                "collected_at" => record.collected_at = cell.to_owned(),
                "expires_at" => record.expires_at = (!cell.is_empty()).then(|| cell.to_owned()),
                "recorded_at" => record.recorded_at = cell.to_owned(),
                "source" => record.source = cell.to_owned(),
                "revision" => {
                    record.revision = if cell.is_empty() {
                        0
                    } else {
                        cell.parse().map_err(|_| fail("not an integer".to_owned()))?
                    }
                }
                "kind" => record.kind = cell.to_owned(),
                "implied_by" => record.implied_by = cell.to_owned(),
                "gpc_conflict" => {
                    record.gpc_conflict =
                        parse_bool(cell).ok_or_else(|| fail("not true or false".to_owned()))?
                }
                other => match other.strip_prefix("evidence.") {
                    Some(name) => record.evidence.set(name, cell).map_err(fail)?,
                    None => return Err(fail("not a column of the record format".to_owned())),
                },
            }
        }
        Ok(record)
    }
}
