//! `check`, `get` and `query`.

use clap::Args;
use consent_client::Client;
use consent_client::proto::{
    CheckConsentRequest, ConsentStatus, CurrentRecordKey, Decision, GetConsentRequest, QueryConsentsRequest,
    get_consent_request,
};

use crate::format::parse_time;
use crate::format::status_name;
use crate::output::{Format, RecordSink, emit, print_check};
use crate::subject::{SubjectArgs, SubjectFilterArgs, parse_decision_flag};
use crate::{Failure, Outcome};

#[derive(Debug, Args)]
pub(crate) struct CheckArgs {
    #[command(flatten)]
    subject: SubjectArgs,
    /// The purpose
    #[arg(long)]
    purpose: String,
    /// The target [default: any]
    #[arg(long, default_value = "")]
    target: String,
    /// Answer as of this time (RFC 3339 or a date) [default: now]
    #[arg(long, value_parser = parse_time)]
    at: Option<prost_types::Timestamp>,
    /// Answer from a view that holds this revision (a write's revision)
    #[arg(long, default_value_t = 0)]
    min_revision: i64,
}

pub(crate) async fn check(client: &Client, args: CheckArgs, output: Format) -> Result<Outcome, Failure> {
    let response = client
        .check(CheckConsentRequest {
            subject: Some(args.subject.to_ref()),
            purpose: args.purpose,
            target: args.target,
            at: args.at,
            min_revision: args.min_revision,
        })
        .await?;
    print_check(output, &status_name(response.status), response.revision, response.record.as_ref())?;
    Ok(if response.status == ConsentStatus::Granted as i32 { Outcome::Done } else { Outcome::Negative })
}

#[derive(Debug, Args)]
pub(crate) struct GetArgs {
    /// The record's id
    #[arg(long, conflicts_with_all = ["subject_id", "identity", "purpose", "target"], required_unless_present_any = ["subject_id", "identity"])]
    record_id: Option<String>,
    #[command(flatten)]
    subject: SubjectFilterArgs,
    /// With a subject: the purpose of its current record [default: every
    /// purpose]
    #[arg(long, default_value = "")]
    purpose: String,
    /// With a subject: the target [default: any]
    #[arg(long, default_value = "")]
    target: String,
}

pub(crate) async fn get(client: &Client, args: GetArgs, output: Format) -> Result<Outcome, Failure> {
    let key = match args.record_id {
        Some(id) => get_consent_request::Key::RecordId(id),
        None => get_consent_request::Key::Current(CurrentRecordKey {
            subject: Some(args.subject.to_ref()),
            purpose: args.purpose,
            target: args.target,
        }),
    };
    let response = client.get(GetConsentRequest { key: Some(key) }).await?;
    let mut sink = RecordSink::new(output, true)?;
    if let Some(record) = &response.record {
        sink.write(record)?;
    }
    emit(&sink.finish()?)?;
    Ok(Outcome::Done)
}

/// A query's filter, shared by `query` and `export`.
#[derive(Debug, Clone, Args)]
pub(crate) struct FilterArgs {
    #[command(flatten)]
    subject: SubjectFilterArgs,
    /// Only this purpose
    #[arg(long)]
    purpose: Option<String>,
    /// Only this target
    #[arg(long)]
    target: Option<String>,
    /// Only this decision: granted, denied or limited
    #[arg(long, value_parser = parse_decision_flag)]
    decision: Option<Decision>,
    /// Only this source
    #[arg(long)]
    source: Option<String>,
    /// Only records collected at or after this time (RFC 3339 or a date)
    #[arg(long, value_parser = parse_time)]
    since: Option<prost_types::Timestamp>,
    /// Only records collected before this time
    #[arg(long, value_parser = parse_time)]
    until: Option<prost_types::Timestamp>,
    /// Only records with this evidence IP
    #[arg(long)]
    ip: Option<String>,
    /// Only records with this evidence country
    #[arg(long)]
    country: Option<String>,
    /// Every record, not only the current one per subject, purpose and
    /// target
    #[arg(long)]
    history: bool,
    /// Only current grants expiring before this time (the ones to renew)
    #[arg(long, value_parser = parse_time)]
    expiring_before: Option<prost_types::Timestamp>,
}

impl FilterArgs {
    pub(crate) fn request(&self) -> QueryConsentsRequest {
        QueryConsentsRequest {
            subject_id: self.subject.subject_id.clone().unwrap_or_default(),
            identity: self.subject.identity.clone(),
            purpose: self.purpose.clone().unwrap_or_default(),
            target: self.target.clone().unwrap_or_default(),
            decision: self.decision.unwrap_or(Decision::Unspecified) as i32,
            source: self.source.clone().unwrap_or_default(),
            collected_after: self.since,
            collected_before: self.until,
            ip: self.ip.clone().unwrap_or_default(),
            country: self.country.clone().unwrap_or_default(),
            history: self.history,
            expiring_before: self.expiring_before,
            ..QueryConsentsRequest::default()
        }
    }
}

#[derive(Debug, Args)]
pub(crate) struct QueryArgs {
    #[command(flatten)]
    filter: FilterArgs,
    /// At most this many records [default: all]
    #[arg(long)]
    limit: Option<usize>,
}

pub(crate) async fn query(client: &Client, args: QueryArgs, output: Format) -> Result<Outcome, Failure> {
    let mut request = args.filter.request();
    request.page_size = 1000;
    let mut left = args.limit.unwrap_or(usize::MAX);
    let mut sink = RecordSink::new(output, true)?;
    while left > 0 {
        let page = client.query(request.clone()).await?;
        for record in page.records.iter().take(left) {
            sink.write(record)?;
            left -= 1;
        }
        emit(&sink.take()?)?;
        if page.next_page_token.is_empty() {
            break;
        }
        request.page_token = page.next_page_token;
    }
    emit(&sink.finish()?)?;
    Ok(Outcome::Done)
}
