//! A JWT bearer token as a [`Principal`]: the tenant and scopes from the
//! claims `[auth.jwt]` names, the rate budget of the token's subject, valid
//! until its `exp`.

use consent_core::TenantId;
use consentd_jwt::{JwtRejection, JwtVerifier};

use crate::{AuthError, Principal, Scope};

/// The caller a token names, or `Unauthenticated` when it does not verify
/// (the reason is logged: clients get no oracle).
pub(crate) async fn principal(verifier: &JwtVerifier, token: &str) -> Result<Principal, AuthError> {
    let verified = verifier.verify(token).await.map_err(|rejection: JwtRejection| {
        tracing::debug!(%rejection, "bearer token refused");
        AuthError::Unauthenticated
    })?;
    if !valid_tenant(&verified.tenant) {
        tracing::debug!(tenant = %verified.tenant, "bearer token names an invalid tenant");
        return Err(AuthError::Unauthenticated);
    }
    Ok(Principal {
        tenant: TenantId::new(verified.tenant),
        // The budget the token's calls spend: one per issuer and subject.
        key_id: Some(format!("jwt:{}#{}", verified.issuer, verified.subject)),
        scopes: verified.scopes.iter().filter_map(|s| Scope::parse(s)).collect(),
        account: None,
        publishable: false,
        expires_at: Some(verified.expires_at),
    })
}

/// Tenant names as `consentd keys create --tenant` takes them: 1 to 64
/// lower-case letters, digits or '-'.
fn valid_tenant(tenant: &str) -> bool {
    (1..=64).contains(&tenant.len())
        && tenant.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
}
