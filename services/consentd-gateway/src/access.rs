//! Whose call a vendor request is, once decoded: the tenant of its key
//! (holding the scope the operation needs, bound to the account the request
//! names, and for publishable keys from their origins), or on keyless
//! routes the tenant the named account is bound to.

use axum::http::HeaderMap;
use consent_adapter::{Failure, Need, Operation, VendorAdapter};
use consent_core::TenantId;
use consentd_auth::{Principal, Scope};

use crate::{Gateway, GatewayStore};

/// The tenant of a keyed route: the key's, if it holds the scope the
/// operation needs, the account the request names is bound to it, and a key
/// bound to an account (publishable, imported) is used for that account —
/// a publishable key only to record, from one of its origins.
pub(crate) async fn keyed_tenant<S: GatewayStore>(
    gateway: &Gateway<S>,
    adapter: &dyn VendorAdapter,
    principal: Principal,
    decoded: &consent_adapter::Decoded,
    headers: &HeaderMap,
) -> Result<TenantId, Failure> {
    if !principal.allows(scope_for(decoded.operation.need())) {
        return Err(Failure::Forbidden);
    }
    if let Some(bound) = &principal.account {
        // A key bound to an account acts only where the request names that
        // account: a request naming none (Secure Privacy's lookups by
        // person, lists) would reach the whole tenant.
        let other_account = match (&bound.external_id, &decoded.account) {
            (Some(id), Some(named)) => id != named,
            (Some(_), None) => true,
            (None, _) => false,
        };
        if bound.vendor != adapter.name() || other_account {
            tracing::info!(vendor = %bound.vendor, "a key bound to another vendor account");
            return Err(Failure::Forbidden);
        }
    }
    if principal.publishable {
        publishable_holds(&principal, &decoded.operation, headers)?;
    }
    if gateway.gate.authenticator().is_some()
        && let Some(account) = &decoded.account
        && bound_tenant(gateway, adapter, account).await?.as_ref() != Some(&principal.tenant)
    {
        tracing::info!(account = %account, "vendor account not bound to the key's tenant");
        return Err(Failure::Forbidden);
    }
    Ok(principal.tenant)
}

/// What a publishable key may do: record (nothing else, reads least of
/// all), from a browser page on one of its origins. A page elsewhere that
/// copied the key is refused even where its browser sends without asking
/// (a beacon is never preflighted).
fn publishable_holds(
    principal: &Principal,
    operation: &Operation,
    headers: &HeaderMap,
) -> Result<(), Failure> {
    if !matches!(operation, Operation::Record(_)) {
        return Err(Failure::Forbidden);
    }
    let origin = headers.get(axum::http::header::ORIGIN).and_then(|value| value.to_str().ok());
    let allowed = principal.account.as_ref().is_some_and(|account| {
        origin.is_some_and(|origin| account.origins.iter().any(|allowed| allowed == origin))
    });
    if allowed {
        Ok(())
    } else {
        tracing::info!(origin = origin.unwrap_or_default(), "publishable key used from another origin");
        Err(Failure::Forbidden)
    }
}

/// The tenant of a keyless route: the one the account the request names is
/// bound to (that account is the credential). Anonymous callers spend a
/// budget per client address in the pipeline, then the account's own here.
pub(crate) async fn account_tenant<S: GatewayStore>(
    gateway: &Gateway<S>,
    adapter: &dyn VendorAdapter,
    decoded: &consent_adapter::Decoded,
) -> Result<TenantId, Failure> {
    let Some(account) = &decoded.account else {
        tracing::error!(vendor = adapter.name(), "a keyless route decoded no account");
        return Err(Failure::Internal);
    };
    if !keyless_scope_holds(&decoded.operation, account) {
        tracing::error!(vendor = adapter.name(), "a keyless route decoded an operation beyond its account");
        return Err(Failure::Internal);
    }
    if gateway.gate.authenticator().is_none() {
        return Ok(TenantId::default_tenant());
    }
    let tenant = bound_tenant(gateway, adapter, account).await?.ok_or_else(|| {
        tracing::info!(account = %account, "keyless request for an account bound to no tenant");
        Failure::Unauthorized
    })?;
    take_rate(gateway, &format!("{}:account:{account}", adapter.name()))?;
    Ok(tenant)
}

/// What a keyless route may do: record for its account, or read what it
/// recorded — the account is the target of every record it touches, so an
/// account id never reaches a tenant's other consents.
fn keyless_scope_holds(operation: &Operation, account: &str) -> bool {
    match operation {
        Operation::Record(records) => {
            records.iter().flat_map(|record| &record.decisions).all(|decision| decision.target == account)
        }
        Operation::Latest { target, include_any_target, .. } => target == account && !include_any_target,
        Operation::UpdateLatest(_)
        | Operation::List(_)
        | Operation::ListAll(_)
        | Operation::Subscribe { .. } => false,
    }
}

async fn bound_tenant<S: GatewayStore>(
    gateway: &Gateway<S>,
    adapter: &dyn VendorAdapter,
    account: &str,
) -> Result<Option<TenantId>, Failure> {
    gateway.service.store().bound_tenant(adapter.name(), account).await.map_err(|e| Failure::from(&e))
}

/// Spends one call of a rate budget.
fn take_rate<S: GatewayStore>(gateway: &Gateway<S>, budget: &str) -> Result<(), Failure> {
    gateway.gate.rate().take(budget).map_err(|_| Failure::TooManyRequests)
}

const fn scope_for(need: Need) -> Scope {
    match need {
        Need::Write => Scope::Write,
        Need::Read => Scope::Read,
        Need::Subscribe => Scope::Subscribe,
    }
}
