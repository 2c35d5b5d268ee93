//! One vendor call after the request pipeline admitted it: decode, the
//! scope and account checks, the operation, the adapter's response.

use std::net::SocketAddr;

use axum::body::Bytes;
use axum::extract::RawPathParams;
use axum::http::HeaderMap;
use axum::response::Response;
use consent_adapter::{Failure, Need, Operation, Outcome, Request, RequestEvidence, VendorAdapter};
use consent_core::{ConsentError, TenantId, Timestamp};
use sha2::{Digest, Sha256};

use crate::transport::{client_ip, header};
use crate::{Gateway, GatewayStore, http_response};
use consentd_auth::{Principal, Scope};

/// The parts of one admitted HTTP request.
pub(crate) struct Parts<'a> {
    /// The adapter's index of the route.
    pub(crate) route: usize,
    pub(crate) peer: SocketAddr,
    /// The caller the pipeline established (none on keyless routes).
    pub(crate) principal: Option<Principal>,
    pub(crate) params: &'a RawPathParams,
    pub(crate) query: Option<String>,
    pub(crate) headers: &'a HeaderMap,
    pub(crate) body: Bytes,
}

/// Serves one call; every failure in the vendor's shape.
pub(crate) async fn handle<S: GatewayStore>(
    gateway: &Gateway<S>,
    adapter: &dyn VendorAdapter,
    parts: Parts<'_>,
) -> Response {
    let headers = parts.headers;
    match serve(gateway, adapter, parts).await {
        Ok(reply) => http_response(reply),
        Err(failure) => {
            let (vendor, request_id) = (adapter.name(), consentd_pipeline::request_id(headers));
            tracing::info!(status = failure.status(), vendor, request_id, "vendor request refused");
            http_response(adapter.encode_failure(&failure))
        }
    }
}

async fn serve<S: GatewayStore>(
    gateway: &Gateway<S>,
    adapter: &dyn VendorAdapter,
    parts: Parts<'_>,
) -> Result<consent_adapter::Response, Failure> {
    let Parts { route, peer, principal, params, query, headers, body } = parts;
    if !body.is_empty() {
        let json = headers
            .get("content-type")
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.split(';').next())
            .is_some_and(|media| media.trim().eq_ignore_ascii_case("application/json"));
        if !json {
            return Err(Failure::bad("content-type", "must be application/json"));
        }
    }
    let query: Vec<(String, String)> = query.as_deref().map(crate::form_urlencoded_pairs).unwrap_or_default();
    let path_params: Vec<(String, String)> =
        params.iter().map(|(k, v)| (k.to_owned(), v.to_owned())).collect();
    let header_pairs: Vec<(String, String)> = headers
        .iter()
        .filter_map(|(name, value)| Some((name.as_str().to_owned(), value.to_str().ok()?.to_owned())))
        .collect();
    let (client_ip, proxy_ip) = client_ip(peer, headers, &gateway.trusted_proxies);
    let evidence = RequestEvidence {
        user_agent: header(headers, "user-agent"),
        client_ip,
        proxy_ip,
        // Sec-GPC's only valid value is "1" (the GPC specification).
        gpc: headers.get("sec-gpc").is_some_and(|value| value.as_bytes().trim_ascii() == b"1"),
        origin: Some(header(headers, "origin"))
            .filter(|o| !o.is_empty())
            .unwrap_or_else(|| header(headers, "referer")),
        body_digest: hex::encode(Sha256::digest(&body)),
    };
    let decoded = adapter.decode(&Request {
        route,
        path_params: &path_params,
        query: &query,
        headers: &header_pairs,
        body: &body,
        evidence: &evidence,
        received_at: Timestamp::now(),
        // Unique by its random bits (no shared counter to lock).
        fresh_id: uuid::Uuid::new_v7(uuid::Timestamp::now(uuid::NoContext)),
    })?;
    let tenant = match principal {
        Some(principal) => keyed_tenant(gateway, adapter, principal, &decoded).await?,
        None => account_tenant(gateway, adapter, &decoded).await?,
    };
    let outcome =
        perform(gateway, adapter, &tenant, decoded.operation).await.map_err(|e| failure(&e, headers))?;
    Ok(adapter.encode(route, &outcome))
}

/// `err` as the vendor's failure. A failure of the server's own (the store
/// unavailable, an internal error) is logged with its cause and the call's
/// request id: without a trace exporter the call's span, which would carry
/// the id, is at debug level (observe.rs).
fn failure(err: &ConsentError, headers: &axum::http::HeaderMap) -> Failure {
    let failure = Failure::from(err);
    if failure.status() >= 500 {
        let request_id = consentd_pipeline::request_id(headers);
        tracing::warn!(error = %err, request_id, "vendor call failed");
    }
    failure
}

/// The tenant of a keyed route: the key's, if it holds the scope the
/// operation needs and the account the request names is bound to it.
async fn keyed_tenant<S: GatewayStore>(
    gateway: &Gateway<S>,
    adapter: &dyn VendorAdapter,
    principal: Principal,
    decoded: &consent_adapter::Decoded,
) -> Result<TenantId, Failure> {
    if !principal.allows(scope_for(decoded.operation.need())) {
        return Err(Failure::Forbidden);
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

/// The tenant of a keyless route: the one the account the request names is
/// bound to (that account is the credential). Anonymous callers spend a
/// budget per client address in the pipeline, then the account's own here.
async fn account_tenant<S: GatewayStore>(
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
        Operation::UpdateLatest(_) | Operation::List(_) | Operation::Subscribe { .. } => false,
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

/// Performs a decoded operation for `tenant` through the consent service.
async fn perform<S: GatewayStore>(
    gateway: &Gateway<S>,
    adapter: &dyn VendorAdapter,
    tenant: &TenantId,
    operation: Operation,
) -> Result<Outcome, ConsentError> {
    let service = &gateway.service;
    Ok(match operation {
        Operation::Record(records) => Outcome::Written(service.record_all(tenant, records).await?.records),
        Operation::UpdateLatest(update) => {
            Outcome::Written(service.update_latest(tenant, update).await?.records)
        }
        Operation::Latest { subject, target, include_any_target } => {
            Outcome::Latest(service.latest(tenant, &subject, &target, include_any_target).await?)
        }
        Operation::List(query) => {
            let filter = query.filter.clone();
            let page = service.query(tenant, query, gateway.max_response_bytes).await?;
            let views = service.views(tenant, page.records).await?;
            Outcome::Listed { views, next_page_token: page.next_page_token, filter }
        }
        Operation::Subscribe { filter, url } => {
            let (subscription, secret) =
                gateway.webhooks.create(tenant, adapter.name(), filter, &url).await?;
            Outcome::Subscribed { id: subscription.id.to_string(), secret }
        }
    })
}
