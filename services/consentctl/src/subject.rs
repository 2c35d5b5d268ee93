//! The flags that name a subject, identities and evidence, shared by the
//! commands that take them.

use clap::Args;
use consent_client::proto::{self, Decision, Identity, SubjectRef, subject_ref};

use crate::format::{EvidenceRow, parse_decision};

/// `NAMESPACE=VALUE`.
pub(crate) fn parse_identity(text: &str) -> Result<Identity, String> {
    match text.split_once('=') {
        Some((namespace, value)) if !namespace.is_empty() => {
            Ok(Identity { namespace: namespace.to_owned(), value: value.to_owned() })
        }
        _ => Err(format!("{text:?} is not NAMESPACE=VALUE (email=ada@example.com)")),
    }
}

/// A decision flag: granted, denied or limited.
pub(crate) fn parse_decision_flag(text: &str) -> Result<Decision, String> {
    parse_decision(text).ok_or_else(|| format!("{text:?} is not granted, denied or limited"))
}

/// One subject, by id or by an identity.
#[derive(Debug, Clone, Args)]
#[group(required = true, multiple = false)]
pub(crate) struct SubjectArgs {
    /// The subject's id (a UUID)
    #[arg(long)]
    subject_id: Option<String>,
    /// An identity linked to the subject, NAMESPACE=VALUE
    #[arg(long, value_parser = parse_identity)]
    identity: Option<Identity>,
}

impl SubjectArgs {
    pub(crate) fn to_ref(&self) -> SubjectRef {
        subject_ref(self.subject_id.as_ref(), self.identity.as_ref())
    }
}

/// The subject an id or an identity names (the id if both).
fn subject_ref(subject_id: Option<&String>, identity: Option<&Identity>) -> SubjectRef {
    let subject = match (subject_id, identity) {
        (Some(id), _) => subject_ref::Subject::SubjectId(id.clone()),
        (None, Some(identity)) => subject_ref::Subject::Identity(identity.clone()),
        (None, None) => subject_ref::Subject::SubjectId(String::new()),
    };
    SubjectRef { subject: Some(subject) }
}

/// Optional filters on a subject (queries and the feed).
#[derive(Debug, Clone, Default, Args)]
pub(crate) struct SubjectFilterArgs {
    /// Only this subject (a UUID)
    #[arg(long, conflicts_with = "identity")]
    pub(crate) subject_id: Option<String>,
    /// Only the subject linked to this identity, NAMESPACE=VALUE
    #[arg(long, value_parser = parse_identity)]
    pub(crate) identity: Option<Identity>,
}

impl SubjectFilterArgs {
    /// The subject these flags name (`get` of a current record).
    pub(crate) fn to_ref(&self) -> SubjectRef {
        subject_ref(self.subject_id.as_ref(), self.identity.as_ref())
    }
}

/// The evidence flags of record and update.
#[derive(Debug, Clone, Default, Args)]
pub(crate) struct EvidenceArgs {
    /// Evidence: the user agent of the device
    #[arg(long)]
    user_agent: Option<String>,
    /// Evidence: the IP address the decision came from
    #[arg(long)]
    ip: Option<String>,
    /// Evidence: the page or screen of the decision
    #[arg(long)]
    uri: Option<String>,
    /// Evidence: the notice version shown
    #[arg(long)]
    notice_version: Option<String>,
    /// Evidence: the privacy policy version in force
    #[arg(long)]
    policy_version: Option<String>,
    /// Evidence: free text shown to or given by the person
    #[arg(long)]
    message: Option<String>,
    /// Evidence: a JSON object of further detail
    #[arg(long)]
    metadata_json: Option<String>,
    /// Evidence: the collecting system's consent id
    #[arg(long)]
    consent_id: Option<String>,
    /// Evidence: an IAB TCF v2.2 TC string (its decisions are recorded too)
    #[arg(long)]
    tc_string: Option<String>,
    /// Evidence: an IAB GPP string (its decisions are recorded too)
    #[arg(long)]
    gpp_string: Option<String>,
    /// Evidence: the browser sent Global Privacy Control
    #[arg(long)]
    gpc: bool,
    /// Evidence: ISO 3166-1 country
    #[arg(long)]
    country: Option<String>,
}

impl EvidenceArgs {
    pub(crate) fn to_proto(&self) -> Option<proto::Evidence> {
        let text = |value: &Option<String>| value.clone().unwrap_or_default();
        EvidenceRow {
            user_agent: text(&self.user_agent),
            ip: text(&self.ip),
            uri: text(&self.uri),
            notice_version: text(&self.notice_version),
            policy_version: text(&self.policy_version),
            message: text(&self.message),
            metadata_json: text(&self.metadata_json),
            consent_id: text(&self.consent_id),
            tc_string: text(&self.tc_string),
            gpp_string: text(&self.gpp_string),
            gpc: self.gpc,
            country: text(&self.country),
            ..EvidenceRow::default()
        }
        .to_proto()
    }
}

/// A `PURPOSE[:TARGET]` flag (an empty purpose is every purpose).
pub(crate) fn purpose_target(text: &str) -> Result<(String, String), String> {
    Ok(match text.split_once(':') {
        Some((purpose, target)) => (purpose.to_owned(), target.to_owned()),
        None => (text.to_owned(), String::new()),
    })
}
