//! Reading an import file into rows: our own JSONL or CSV (an export), or
//! another platform's CSV through a column mapping (docs/cli.md#import).

use std::collections::BTreeMap;

use consent_client::proto::{Decision, Identity};

use crate::format::{EvidenceRow, RecordRow, parse_decision, parse_time};

/// A row to import, or why it is not imported.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Row {
    /// The line the row starts on (1-based; a CSV header is line 1).
    pub(crate) line: u64,
    pub(crate) identities: Vec<Identity>,
    pub(crate) purpose: String,
    pub(crate) target: String,
    pub(crate) decision: Decision,
    pub(crate) collected_at: Option<prost_types::Timestamp>,
    pub(crate) expires_at: Option<prost_types::Timestamp>,
    pub(crate) source: String,
    pub(crate) evidence: EvidenceRow,
    /// Implied by one of the evidence's signals: the server derives it again
    /// from the evidence, so it is not sent as a decision.
    pub(crate) implied: bool,
    /// Written by an update: imported by one, so it stays one.
    pub(crate) updated: bool,
    /// Who the row is about, the same for all of a person's rows where the
    /// file says (our format's subject id), else the first identity: rows
    /// with one subject go through one lane, in file order.
    pub(crate) subject: String,
    /// What tells this row from an identical one elsewhere in the file: the
    /// record id of our format, else the line. Part of the idempotency key,
    /// so that repeated rows are each written (once).
    pub(crate) origin: String,
}

/// A row that is not imported.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum NotImported {
    /// Skipped on purpose (an expiry or erasure event, an erased subject's
    /// record): the reason.
    Skipped(&'static str),
    /// The row is wrong: its line, the field, what is wrong.
    Refused { line: u64, field: String, message: String },
}

/// Where each field of another platform's CSV comes from
/// (`--map COLUMN=FIELD`).
#[derive(Debug, Clone, Default)]
pub(crate) struct Mapping {
    /// Column name → field (`identity.<namespace>`, `purpose`, `target`,
    /// `decision`, `collected_at`, `expires_at`, `source`,
    /// `evidence.<field>`).
    pub(crate) columns: BTreeMap<String, String>,
    /// The purpose of rows without a purpose column.
    pub(crate) purpose: String,
    /// The source of rows without a source column.
    pub(crate) source: String,
}

/// `COLUMN=FIELD`, the field checked.
pub(crate) fn parse_map(text: &str) -> Result<(String, String), String> {
    let (column, field) = text
        .rsplit_once('=')
        .ok_or_else(|| format!("{text:?} is not COLUMN=FIELD (\"Email=identity.email\")"))?;
    let known = matches!(field, "purpose" | "target" | "decision" | "collected_at" | "expires_at" | "source")
        || field.strip_prefix("identity.").is_some_and(|ns| !ns.is_empty())
        || field.strip_prefix("evidence.").is_some_and(|name| EvidenceRow::default().set(name, "").is_ok());
    if !known {
        return Err(format!(
            "{field:?} is not a field: identity.<namespace>, purpose, target, decision, collected_at, expires_at, \
             source or evidence.<field>"
        ));
    }
    Ok((column.to_owned(), field.to_owned()))
}

/// A decision as other platforms spell it.
fn parse_foreign_decision(text: &str) -> Option<Decision> {
    parse_decision(text).or_else(|| {
        match text.trim().to_ascii_lowercase().replace(['-', '_', ' '], "").as_str() {
            "true" | "yes" | "1" | "optin" | "optedin" | "accepted" | "accept" | "allow" | "allowed"
            | "given" | "consented" | "granted" => Some(Decision::Granted),
            "false" | "no" | "0" | "optout" | "optedout" | "rejected" | "reject" | "deny" | "declined"
            | "withdrawn" | "revoked" => Some(Decision::Denied),
            "partial" | "essential" | "essentialonly" => Some(Decision::Limited),
            _ => None,
        }
    })
}

/// A time as other platforms spell it: RFC 3339, a date, or Unix seconds
/// or milliseconds.
fn parse_foreign_time(text: &str) -> Result<prost_types::Timestamp, String> {
    match text.trim().parse::<i64>() {
        // Ten or fewer digits are seconds (until the year 2286); more are
        // milliseconds.
        Ok(number) if number.abs() < 10_000_000_000 => {
            Ok(prost_types::Timestamp { seconds: number, nanos: 0 })
        }
        Ok(millis) => Ok(prost_types::Timestamp {
            seconds: millis.div_euclid(1000),
            nanos: i32::try_from(millis.rem_euclid(1000) * 1_000_000).unwrap_or(0),
        }),
        Err(_) => parse_time(text),
    }
}

fn refused(line: u64, field: &str, message: impl Into<String>) -> NotImported {
    NotImported::Refused { line, field: field.to_owned(), message: message.into() }
}

/// A row of our own format.
pub(crate) fn from_record(line: u64, record: RecordRow) -> Result<Row, NotImported> {
    match record.kind.as_str() {
        "expired" => return Err(NotImported::Skipped("expiry events are made again by the server")),
        "erased" => return Err(NotImported::Skipped("erasure events")),
        _ => {}
    }
    if record.identities.is_empty() {
        if record.subject_id.trim_matches(['0', '-']).is_empty() {
            return Err(NotImported::Skipped("records of erased subjects"));
        }
        return Err(refused(line, "identities", "at least one identity is required"));
    }
    let decision = parse_decision(&record.decision).ok_or_else(|| {
        refused(line, "decision", format!("{:?} is not granted, denied or limited", record.decision))
    })?;
    let collected_at = if record.collected_at.is_empty() {
        None
    } else {
        Some(parse_time(&record.collected_at).map_err(|message| refused(line, "collected_at", message))?)
    };
    let expires_at = match &record.expires_at {
        Some(text) => Some(parse_time(text).map_err(|message| refused(line, "expires_at", message))?),
        None => None,
    };
    let identities: Vec<Identity> = record
        .identities
        .into_iter()
        .map(|identity| Identity { namespace: identity.namespace, value: identity.value })
        .collect();
    let subject = if record.subject_id.is_empty() { first_identity(&identities) } else { record.subject_id };
    Ok(Row {
        line,
        identities,
        purpose: record.purpose,
        target: record.target,
        decision,
        collected_at,
        expires_at,
        source: record.source,
        evidence: record.evidence,
        implied: !record.implied_by.is_empty(),
        updated: record.kind == "updated",
        subject,
        origin: if record.id.is_empty() { format!("line {line}") } else { record.id },
    })
}

/// A row of another platform's CSV, through `mapping`.
pub(crate) fn from_mapped(
    line: u64,
    mapping: &Mapping,
    header: &csv::StringRecord,
    cells: &csv::StringRecord,
) -> Result<Row, NotImported> {
    let mut row = Row {
        line,
        identities: Vec::new(),
        purpose: mapping.purpose.clone(),
        target: String::new(),
        decision: Decision::Unspecified,
        collected_at: None,
        expires_at: None,
        source: mapping.source.clone(),
        evidence: EvidenceRow::default(),
        implied: false,
        updated: false,
        subject: String::new(),
        origin: format!("line {line}"),
    };
    for (column, cell) in header.iter().zip(cells.iter()) {
        let Some(field) = mapping.columns.get(column) else { continue };
        let fail = |message: String| refused(line, column, message);
        match field.as_str() {
            "purpose" => row.purpose = cell.to_owned(),
            "target" => row.target = cell.to_owned(),
            "source" => row.source = cell.to_owned(),
            "decision" => {
                row.decision = parse_foreign_decision(cell).ok_or_else(|| {
                    fail(format!("{cell:?} is not a decision (granted, denied, limited, true, opt-out, …)"))
                })?;
            }
            "collected_at" if !cell.trim().is_empty() => {
                row.collected_at = Some(parse_foreign_time(cell).map_err(fail)?)
            }
            "expires_at" if !cell.trim().is_empty() => {
                row.expires_at = Some(parse_foreign_time(cell).map_err(fail)?)
            }
            "collected_at" | "expires_at" => {}
            field => {
                if let Some(namespace) = field.strip_prefix("identity.") {
                    if !cell.is_empty() {
                        row.identities
                            .push(Identity { namespace: namespace.to_owned(), value: cell.to_owned() });
                    }
                } else if let Some(name) = field.strip_prefix("evidence.") {
                    row.evidence.set(name, cell).map_err(fail)?;
                }
            }
        }
    }
    if row.identities.is_empty() {
        return Err(refused(line, "identities", "no identity column of the mapping has a value"));
    }
    if row.decision == Decision::Unspecified {
        return Err(refused(line, "decision", "the mapping names no decision column"));
    }
    row.subject = first_identity(&row.identities);
    Ok(row)
}

/// `namespace=value` of the first identity.
fn first_identity(identities: &[Identity]) -> String {
    identities
        .first()
        .map(|identity| format!("{}={}", identity.namespace, identity.value))
        .unwrap_or_default()
}

/// The row on JSONL line `line`.
pub(crate) fn jsonl_row(line: u64, bytes: &[u8]) -> Result<Row, NotImported> {
    serde_json::from_slice::<RecordRow>(bytes)
        .map_err(|err| refused(line, &json_field(&err), err.to_string()))
        .and_then(|record| from_record(line, record))
}

/// The field a JSON error names, if it names one.
fn json_field(err: &serde_json::Error) -> String {
    let text = err.to_string();
    text.split('`').nth(1).unwrap_or("").to_owned()
}
