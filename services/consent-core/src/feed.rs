//! The change feed's domain: which events a subscriber wants, where it
//! resumes, and the opaque resume token.

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use uuid::Uuid;

use crate::error::ConsentError;
use crate::model::{ConsentRecord, Revision, SubjectRef, TenantId};

/// Which events a subscriber wants. Empty lists mean "any".
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct FeedFilter {
    /// Only this subject (by id, or the subject an identity is linked to).
    pub subject: Option<SubjectRef>,
    /// Only these purposes; all-purposes records match too.
    pub purposes: Vec<String>,
    /// Only these targets; any-target records match too.
    pub targets: Vec<String>,
    /// Only these sources.
    pub sources: Vec<String>,
}

/// A [`FeedFilter`] with its subject resolved to an id, as the store applies it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ChangeFilter {
    /// Only this subject.
    pub subject_id: Option<Uuid>,
    /// Only these purposes; all-purposes records match too.
    pub purposes: Vec<String>,
    /// Only these targets; any-target records match too.
    pub targets: Vec<String>,
    /// Only these sources.
    pub sources: Vec<String>,
}

impl ChangeFilter {
    /// Whether `record` is an event this filter delivers (docs/semantics.md#the-change-feed: a purpose
    /// or target filter also matches records for all purposes or any target,
    /// because they change the answer for that purpose too). The reference the
    /// store's query must agree with.
    pub fn matches(&self, record: &ConsentRecord) -> bool {
        let listed_or_wildcard = |list: &[String], value: &str| {
            list.is_empty() || value.is_empty() || list.iter().any(|v| v == value)
        };
        self.subject_id.is_none_or(|id| id == record.subject_id)
            && listed_or_wildcard(&self.purposes, &record.purpose)
            && listed_or_wildcard(&self.targets, &record.target)
            && (self.sources.is_empty() || self.sources.contains(&record.source))
    }
}

/// Where a subscription starts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FeedStart {
    /// Live events only, from the head at subscription time.
    Now,
    /// Every stored event, then live ones.
    Beginning,
    /// Events after this revision.
    After(Revision),
    /// Events after the position of a resume token.
    Token(String),
}

/// Open a change feed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Subscribe {
    /// Which events.
    pub filter: FeedFilter,
    /// From where.
    pub start: FeedStart,
}

/// One read of the feed: the matching records above the cursor, and how far
/// the log has been read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChangePage {
    /// Matching records in revision order.
    pub records: Vec<ConsentRecord>,
    /// Every revision up to this one has been read: no event at or below it
    /// follows. The next read continues after it.
    pub cursor: Revision,
}

const TOKEN_VERSION: u8 = 1;

#[derive(Debug, Serialize, Deserialize)]
struct ResumeToken {
    v: u8,
    /// The database the revision belongs to.
    d: String,
    /// Fingerprint of the tenant.
    t: String,
    /// The revision to resume after.
    r: Revision,
}

/// The opaque token for resuming after `revision`.
pub fn resume_token(database_id: &str, tenant: &TenantId, revision: Revision) -> String {
    let token = ResumeToken {
        v: TOKEN_VERSION,
        d: database_id.to_owned(),
        t: tenant_fingerprint(tenant),
        r: revision,
    };
    URL_SAFE_NO_PAD.encode(serde_json::to_vec(&token).unwrap_or_default())
}

/// The revision a token resumes after; rejected when it comes from another
/// database or tenant, or is not a token at all.
pub fn resume_revision(database_id: &str, tenant: &TenantId, token: &str) -> Result<Revision, ConsentError> {
    let invalid = |why: &str| ConsentError::invalid("resume_token", why);
    let decoded: ResumeToken = URL_SAFE_NO_PAD
        .decode(token)
        .ok()
        .and_then(|bytes| serde_json::from_slice(&bytes).ok())
        .ok_or_else(|| invalid("is not a token this service issued"))?;
    if decoded.v != TOKEN_VERSION || decoded.r < 0 {
        return Err(invalid("is not a token this service issued"));
    }
    if decoded.d != database_id {
        return Err(invalid("comes from another database"));
    }
    if decoded.t != tenant_fingerprint(tenant) {
        return Err(invalid("belongs to another tenant"));
    }
    Ok(decoded.r)
}

fn tenant_fingerprint(tenant: &TenantId) -> String {
    hex::encode(&Sha256::digest(tenant.as_str().as_bytes())[..8])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn token_round_trips_and_is_bound_to_database_and_tenant() {
        let tenant = TenantId::default_tenant();
        let token = resume_token("db-1", &tenant, 42);
        assert_eq!(resume_revision("db-1", &tenant, &token).unwrap(), 42);
        assert!(resume_revision("db-2", &tenant, &token).is_err());
        assert!(resume_revision("db-1", &TenantId::new("acme"), &token).is_err());
        assert!(resume_revision("db-1", &tenant, "42").is_err());
    }
}
