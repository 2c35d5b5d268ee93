//! `record` and `update`.

use clap::Args;
use consent_client::Client;
use consent_client::proto::{Decision, PurposeDecision, RecordConsentRequest, UpdateConsentRequest};

use crate::format::parse_time;
use crate::output::{Format, print_written};
use crate::subject::{EvidenceArgs, SubjectArgs, parse_decision_flag, parse_identity, purpose_target};
use crate::{Failure, Outcome};

#[derive(Debug, Args)]
pub(crate) struct RecordArgs {
    /// The subject's identities, NAMESPACE=VALUE (1 to 16; linked together)
    #[arg(long = "identity", required = true, value_parser = parse_identity)]
    identities: Vec<consent_client::proto::Identity>,
    /// A purpose granted, PURPOSE[:TARGET] (repeatable)
    #[arg(long = "grant", value_parser = purpose_target)]
    grants: Vec<(String, String)>,
    /// A purpose denied, PURPOSE[:TARGET] (repeatable)
    #[arg(long = "deny", value_parser = purpose_target)]
    denials: Vec<(String, String)>,
    /// A purpose granted in part (essential only), PURPOSE[:TARGET]
    /// (repeatable)
    #[arg(long = "limit", value_parser = purpose_target)]
    limits: Vec<(String, String)>,
    /// When the person decided (RFC 3339 or a date) [default: now]
    #[arg(long, value_parser = parse_time)]
    collected_at: Option<prost_types::Timestamp>,
    /// When the decisions stop applying [default: never]
    #[arg(long, value_parser = parse_time)]
    expires_at: Option<prost_types::Timestamp>,
    /// Where the decision came from: web, mobile, app, api, …
    #[arg(long, default_value = "api")]
    source: String,
    /// A retry with the same key writes nothing [default: a fresh key]
    #[arg(long)]
    idempotency_key: Option<String>,
    #[command(flatten)]
    evidence: EvidenceArgs,
}

pub(crate) async fn record(client: &Client, args: RecordArgs, output: Format) -> Result<Outcome, Failure> {
    let decide = |list: Vec<(String, String)>, decision: Decision| {
        list.into_iter().map(move |(purpose, target)| PurposeDecision {
            purpose,
            target,
            decision: decision as i32,
        })
    };
    let decisions = decide(args.grants, Decision::Granted)
        .chain(decide(args.denials, Decision::Denied))
        .chain(decide(args.limits, Decision::Limited))
        .collect();
    let request = RecordConsentRequest {
        identities: args.identities,
        decisions,
        collected_at: args.collected_at,
        expires_at: args.expires_at,
        source: args.source,
        evidence: args.evidence.to_proto(),
        idempotency_key: args.idempotency_key.unwrap_or_default(),
    };
    let response = client.record(request).await?;
    print_written(output, &response.records, response.revision)?;
    Ok(Outcome::Done)
}

#[derive(Debug, Args)]
pub(crate) struct UpdateArgs {
    #[command(flatten)]
    subject: SubjectArgs,
    /// The purpose [default: every purpose]
    #[arg(long, default_value = "")]
    purpose: String,
    /// The target [default: any target]
    #[arg(long, default_value = "")]
    target: String,
    /// The new decision: granted, denied or limited
    #[arg(long, value_parser = parse_decision_flag)]
    decision: Decision,
    /// Update only if the current record still has this revision
    #[arg(long)]
    expected_revision: Option<i64>,
    /// When the person decided [default: now]
    #[arg(long, value_parser = parse_time)]
    collected_at: Option<prost_types::Timestamp>,
    /// When the new decision stops applying [default: never]
    #[arg(long, value_parser = parse_time)]
    expires_at: Option<prost_types::Timestamp>,
    /// Where the decision came from [default: the current record's source]
    #[arg(long)]
    source: Option<String>,
    /// A retry with the same key writes nothing [default: a fresh key]
    #[arg(long)]
    idempotency_key: Option<String>,
    #[command(flatten)]
    evidence: EvidenceArgs,
}

pub(crate) async fn update(client: &Client, args: UpdateArgs, output: Format) -> Result<Outcome, Failure> {
    let request = UpdateConsentRequest {
        subject: Some(args.subject.to_ref()),
        purpose: args.purpose,
        target: args.target,
        decision: args.decision as i32,
        expires_at: args.expires_at,
        evidence: args.evidence.to_proto(),
        expected_revision: args.expected_revision.unwrap_or_default(),
        idempotency_key: args.idempotency_key.unwrap_or_default(),
        collected_at: args.collected_at,
        source: args.source.unwrap_or_default(),
    };
    let response = client.update(request).await?;
    print_written(output, response.record.as_slice(), response.revision)?;
    Ok(Outcome::Done)
}
