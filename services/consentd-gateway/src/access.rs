//! Whose call a vendor request is, once decoded: the tenant of its key
//! (holding the scope the operation needs, bound to the account the request
//! names, and for publishable keys from their origins), or on keyless
//! routes the tenant the named account is bound to.

use axum::http::HeaderMap;
use consent_adapter::{Failure, Need, Operation, VendorAdapter};
use consent_core::{SubjectRef, TenantId};
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
    if principal.publishable && matches!(decoded.operation, Operation::ConsentMode { .. }) {
        // The one read a publishable key makes (it holds no read scope),
        // for any of its tenant's subjects a page may name by a public
        // namespace.
        return consent_mode_holds(gateway, principal, &decoded.operation, headers);
    }
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

/// What a publishable key may do besides reading Consent Mode state
/// ([`consent_mode_holds`]): record, from a browser page on one of its
/// origins. A page elsewhere that
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
    from_its_origins(principal, headers)
}

/// Refuses a publishable key's request unless its `Origin` is one of the
/// key's.
fn from_its_origins(principal: &Principal, headers: &HeaderMap) -> Result<(), Failure> {
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

/// A publishable key reads a subject's Consent Mode state from one of its
/// origins, naming the subject by an identity in a namespace the tenant
/// made public (`[signals] consent_mode.public_namespaces`): a browser's own
/// pseudonymous id, which a page knows anyway. Anyone can copy the key and
/// forge an Origin outside a browser, so no other namespace is readable.
fn consent_mode_holds<S: GatewayStore>(
    gateway: &Gateway<S>,
    principal: Principal,
    operation: &Operation,
    headers: &HeaderMap,
) -> Result<TenantId, Failure> {
    from_its_origins(&principal, headers)?;
    let public = if let Operation::ConsentMode { subject: SubjectRef::Identity(identity), .. } = operation {
        gateway.service.signals().consent_mode_public(&principal.tenant, &identity.namespace)
    } else {
        false
    };
    if public {
        Ok(principal.tenant)
    } else {
        tracing::info!("publishable key asked for a subject outside the public namespaces");
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
        | Operation::Subscribe { .. }
        | Operation::BatchCheck(_)
        | Operation::ConsentMode { .. } => false,
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
