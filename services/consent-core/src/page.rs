//! Opaque page tokens (AIP-158): a versioned cursor bound to the query and the
//! tenant that produced it, so a token cannot be replayed against another query
//! or tenant.

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::command::RecordFilter;
use crate::error::ConsentError;
use crate::model::{Revision, TenantId};

/// Page size when the client asks for none.
pub const DEFAULT_PAGE_SIZE: u64 = 100;
/// Largest page; larger requests are lowered to it.
pub const MAX_PAGE_SIZE: u64 = 1000;

const TOKEN_VERSION: u8 = 1;

#[derive(Debug, Serialize, Deserialize)]
struct Cursor {
    /// Token format version.
    v: u8,
    /// Fingerprint of the tenant and filter the token belongs to.
    q: String,
    /// Revision of the last record on the previous page.
    r: Revision,
}

/// The effective page size for a requested one.
pub fn page_size(requested: i32) -> Result<u64, ConsentError> {
    match u64::try_from(requested) {
        Err(_) => Err(ConsentError::invalid("page_size", "must not be negative")),
        Ok(0) => Ok(DEFAULT_PAGE_SIZE),
        Ok(size) => Ok(size.min(MAX_PAGE_SIZE)),
    }
}

/// The token for the page after the record at `last_revision`.
pub fn encode(tenant: &TenantId, filter: &RecordFilter, last_revision: Revision) -> String {
    let cursor = Cursor { v: TOKEN_VERSION, q: fingerprint(tenant, filter), r: last_revision };
    URL_SAFE_NO_PAD.encode(serde_json::to_vec(&cursor).unwrap_or_default())
}

/// The revision a token continues after; 0 for the first page.
pub fn decode(tenant: &TenantId, filter: &RecordFilter, token: &str) -> Result<Revision, ConsentError> {
    if token.is_empty() {
        return Ok(0);
    }
    let invalid = |why: &str| ConsentError::invalid("page_token", why);
    let bytes = URL_SAFE_NO_PAD.decode(token).map_err(|_| invalid("is not a token this service issued"))?;
    let cursor: Cursor =
        serde_json::from_slice(&bytes).map_err(|_| invalid("is not a token this service issued"))?;
    if cursor.v != TOKEN_VERSION || cursor.r < 0 {
        return Err(invalid("is not a token this service issued"));
    }
    if cursor.q != fingerprint(tenant, filter) {
        return Err(invalid("belongs to a different query"));
    }
    Ok(cursor.r)
}

fn fingerprint(tenant: &TenantId, filter: &RecordFilter) -> String {
    let mut hasher = Sha256::new();
    hasher.update(tenant.as_str().as_bytes());
    hasher.update([0]);
    hasher.update(serde_json::to_vec(filter).unwrap_or_default());
    hex::encode(&hasher.finalize()[..12])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip() {
        let tenant = TenantId::default_tenant();
        let filter = RecordFilter::default();
        let token = encode(&tenant, &filter, 42);
        assert_eq!(decode(&tenant, &filter, &token).unwrap(), 42);
    }

    #[test]
    fn token_of_another_query_or_tenant_is_rejected() {
        let tenant = TenantId::default_tenant();
        let filter = RecordFilter::default();
        let token = encode(&tenant, &filter, 42);
        let other_filter = RecordFilter { purpose: "marketing".into(), ..RecordFilter::default() };
        assert!(decode(&tenant, &other_filter, &token).is_err());
        assert!(decode(&TenantId::new("acme"), &filter, &token).is_err());
        assert!(decode(&tenant, &filter, "not a token").is_err());
    }

    #[test]
    fn a_filter_without_an_expiry_bound_keeps_its_fingerprint() {
        // Tokens handed out before `expiring_before` existed fingerprinted
        // the filter without it: an unset bound must serialize the same.
        let serialized = serde_json::to_string(&RecordFilter::default()).unwrap();
        assert!(!serialized.contains("expiring_before"), "{serialized}");
        let tenant = TenantId::default_tenant();
        let token = encode(&tenant, &RecordFilter::default(), 7);
        let bounded = RecordFilter {
            expiring_before: Some(crate::time::Timestamp::from_micros(1)),
            ..RecordFilter::default()
        };
        assert!(decode(&tenant, &bounded, &token).is_err(), "a bounded query is another query");
    }

    #[test]
    fn page_size_follows_aip_158() {
        assert_eq!(page_size(0).unwrap(), DEFAULT_PAGE_SIZE);
        assert_eq!(page_size(5000).unwrap(), MAX_PAGE_SIZE);
        assert!(page_size(-1).is_err());
    }
}
