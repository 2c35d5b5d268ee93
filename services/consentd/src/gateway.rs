//! The HTTP gateway: every enabled vendor adapter's routes, mounted
//! generically. Each call: credential (where the adapter says the vendor's
//! clients put it) → key → tenant; the key's rate limit; decode; the scope
//! the decoded operation needs; the named vendor account checked against the
//! tenant's bindings; the operation (records applied all or none); the
//! adapter's response. Keyless routes (Secure Privacy's integration routes)
//! decode first and take the tenant the named account is bound to. Every
//! failure is answered in the vendor's own error shape.

use std::collections::BTreeMap;
use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;

use axum::Router;
use axum::body::Bytes;
use axum::extract::rejection::{BytesRejection, RawPathParamsRejection};
use axum::extract::{ConnectInfo, RawPathParams, RawQuery, State};
use axum::http::{HeaderMap, HeaderName, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{MethodRouter, get, patch, post};
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use consent_adapter::{
    Access, Credential, Failure, Method, Need, Operation, Outcome, Request, RequestEvidence, VendorAdapter,
};
use consent_core::{ConsentError, ConsentService, TenantId, Timestamp};
use consent_store::SqlStore;
use opentelemetry::KeyValue;
use sha2::{Digest, Sha256};
use tracing::Instrument as _;
use tracing_opentelemetry::OpenTelemetrySpanExt as _;

use crate::auth::{AuthError, Authenticator, Budget, Principal, Scope};
use crate::http::PeerAddr;
use crate::webhooks::Webhooks;

/// Every adapter this build knows: adding a vendor is a crate and one line.
pub fn registry() -> Vec<Arc<dyn VendorAdapter>> {
    vec![
        Arc::new(consent_adapter_adobe::Adobe),
        Arc::new(consent_adapter_intempt::Intempt),
        Arc::new(consent_adapter_jentis::Jentis),
        Arc::new(consent_adapter_secureprivacy::SecurePrivacy),
    ]
}

/// The names of every adapter this build knows.
pub fn known_adapters() -> Vec<&'static str> {
    registry().iter().map(|adapter| adapter.name()).collect()
}

/// What every gateway call shares.
#[derive(Debug, Clone)]
pub(crate) struct Gateway {
    pub(crate) service: ConsentService<SqlStore>,
    pub(crate) store: SqlStore,
    /// `None`: authentication disabled; calls act for tenant `default` and
    /// bindings are not checked.
    pub(crate) authenticator: Option<Authenticator>,
    /// The per-key rate, in-flight cap and deadline, shared with gRPC.
    pub(crate) budget: Budget,
    /// Peers whose `X-Forwarded-For` is believed.
    pub(crate) trusted_proxies: Arc<Vec<IpAddr>>,
    /// Webhook subscriptions, for vendors that create them.
    pub(crate) webhooks: Webhooks,
    /// About the most a listed page of records may weigh.
    pub(crate) max_response_bytes: usize,
}

/// The routes of the `enabled` adapters.
pub(crate) fn routes(gateway: Gateway, enabled: &[String]) -> Router {
    let mut by_path: BTreeMap<&'static str, MethodRouter<Gateway>> = BTreeMap::new();
    for adapter in registry().into_iter().filter(|a| enabled.iter().any(|name| name == a.name())) {
        for (index, route) in adapter.routes().iter().enumerate() {
            let adapter = Arc::clone(&adapter);
            let handler = move |state: State<Gateway>,
                                peer: ConnectInfo<PeerAddr>,
                                params: Result<RawPathParams, RawPathParamsRejection>,
                                query: RawQuery,
                                headers: HeaderMap,
                                body: Result<Bytes, BytesRejection>| {
                let adapter = Arc::clone(&adapter);
                async move {
                    // Extraction failures are answered in the vendor's shape too.
                    let (params, body) = match (params, body) {
                        (Ok(params), Ok(body)) => (params, body),
                        (Err(_), _) => {
                            return failure_response(
                                adapter.as_ref(),
                                &Failure::bad("path", "is not valid UTF-8"),
                            );
                        }
                        (_, Err(rejection)) => {
                            let failure = Failure::bad("body", format!("cannot be read: {rejection}"));
                            return failure_response(adapter.as_ref(), &failure);
                        }
                    };
                    handle(state.0, adapter.as_ref(), index, peer.0.0, &params, query.0, &headers, body).await
                }
            };
            let method = match route.method {
                Method::Get => get(handler),
                Method::Post => post(handler),
                Method::Patch => patch(handler),
            };
            let merged = match by_path.remove(route.path) {
                Some(existing) => existing.merge(method),
                None => method,
            };
            by_path.insert(route.path, merged);
        }
    }
    let mut router = Router::new();
    for (path, methods) in by_path {
        router = router.route(path, methods);
    }
    router.with_state(gateway)
}

const fn method_name(method: Method) -> &'static str {
    match method {
        Method::Get => "GET",
        Method::Post => "POST",
        Method::Patch => "PATCH",
    }
}

/// A failure in the adapter's shape, outside the request pipeline.
fn failure_response(adapter: &dyn VendorAdapter, failure: &Failure) -> Response {
    http_response(adapter.encode_failure(failure))
}

/// An adapter's response as HTTP: status, JSON body and extra headers.
fn http_response(reply: consent_adapter::Response) -> Response {
    let status = StatusCode::from_u16(reply.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    let mut response = match reply.body {
        Some(json) => (status, axum::Json(json)).into_response(),
        None => status.into_response(),
    };
    for (name, value) in reply.headers {
        if let (Ok(name), Ok(value)) =
            (HeaderName::from_bytes(name.as_bytes()), HeaderValue::from_str(&value))
        {
            response.headers_mut().insert(name, value);
        }
    }
    response
}

#[allow(clippy::too_many_arguments)] // the parts of one HTTP request
async fn handle(
    gateway: Gateway,
    adapter: &dyn VendorAdapter,
    route: usize,
    peer: SocketAddr,
    params: &RawPathParams,
    query: Option<String>,
    headers: &HeaderMap,
    body: Bytes,
) -> Response {
    let request_id = headers
        .get("x-request-id")
        .and_then(|v| v.to_str().ok())
        .filter(|v| {
            !v.is_empty()
                && v.len() <= 128
                && v.bytes().all(|b| b.is_ascii_alphanumeric() || b"._:-".contains(&b))
        })
        .map_or_else(|| uuid::Uuid::now_v7().to_string(), str::to_owned);
    // A server span per request, child of the caller's trace context.
    let (method, template) =
        adapter.routes().get(route).map_or(("", ""), |r| (method_name(r.method), r.path));
    let span = tracing::info_span!(
        "vendor_request",
        otel.name = %format!("{method} {template}"),
        otel.kind = "server",
        otel.status_code = tracing::field::Empty,
        http.request.method = method,
        http.route = template,
        http.response.status_code = tracing::field::Empty,
        vendor = adapter.name(),
        %request_id,
    );
    let _ = span.set_parent(crate::telemetry::parent_context(headers));
    let started = std::time::Instant::now();
    let query: Vec<(String, String)> = query.as_deref().map(form_urlencoded_pairs).unwrap_or_default();
    // The same deadline as a gRPC call's cap: a call stuck behind a lock or
    // a slow store is answered (503, retry later) rather than held.
    let deadline = gateway.budget.max_deadline;
    let call = serve_call(&gateway, adapter, route, peer, params, &query, headers, &body);
    let result = tokio::time::timeout(deadline, call).instrument(span.clone()).await.unwrap_or_else(|_| {
        tracing::warn!(?deadline, "vendor request exceeded its deadline");
        Err(Failure::Unavailable)
    });
    let _entered = span.enter();
    let reply = match result {
        Ok(reply) => reply,
        Err(failure) => {
            tracing::info!(status = failure.status(), "vendor request refused");
            adapter.encode_failure(&failure)
        }
    };
    span.record("http.response.status_code", i64::from(reply.status));
    if reply.status >= 500 {
        span.record("otel.status_code", "ERROR");
    }
    crate::telemetry::instruments().http_duration.record(
        started.elapsed().as_secs_f64(),
        &[
            KeyValue::new("http.request.method", method),
            KeyValue::new("http.route", template),
            KeyValue::new("http.response.status_code", i64::from(reply.status)),
            KeyValue::new("consentd.vendor", adapter.name()),
        ],
    );
    let mut response = http_response(reply);
    if let Ok(value) = HeaderValue::from_str(&request_id) {
        response.headers_mut().insert("x-request-id", value);
    }
    response
}

#[allow(clippy::too_many_arguments)] // the parts of one HTTP request
async fn serve_call(
    gateway: &Gateway,
    adapter: &dyn VendorAdapter,
    route: usize,
    peer: SocketAddr,
    params: &RawPathParams,
    query: &[(String, String)],
    headers: &HeaderMap,
    body: &Bytes,
) -> Result<consent_adapter::Response, Failure> {
    if gateway.budget.draining() {
        return Err(Failure::Unavailable);
    }
    let access = adapter.routes().get(route).map_or(Access::Key, |r| r.access);
    let (client_ip, proxy_ip) = client_ip(peer, headers, &gateway.trusted_proxies);
    // A keyed route authenticates before anything else is looked at.
    let principal = match access {
        Access::Key => {
            let principal = authenticate(gateway, adapter, query, headers, &client_ip).await?;
            take_rate(gateway, principal.key_id.as_deref())?;
            Some(principal)
        }
        Access::Account => None,
    };
    // At capacity: refused at once, as gRPC refuses (RESOURCE_EXHAUSTED),
    // with the vendor's own 429.
    let Ok(_permit) = Arc::clone(&gateway.budget.in_flight).try_acquire_owned() else {
        return Err(Failure::TooManyRequests);
    };
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
    let path_params: Vec<(String, String)> =
        params.iter().map(|(k, v)| (k.to_owned(), v.to_owned())).collect();
    let header_pairs: Vec<(String, String)> = headers
        .iter()
        .filter_map(|(name, value)| Some((name.as_str().to_owned(), value.to_str().ok()?.to_owned())))
        .collect();
    let evidence = RequestEvidence {
        user_agent: header(headers, "user-agent"),
        client_ip,
        proxy_ip,
        origin: Some(header(headers, "origin"))
            .filter(|o| !o.is_empty())
            .unwrap_or_else(|| header(headers, "referer")),
        body_digest: hex::encode(Sha256::digest(body)),
    };
    let decoded = adapter.decode(&Request {
        route,
        path_params: &path_params,
        query,
        headers: &header_pairs,
        body,
        evidence: &evidence,
        received_at: Timestamp::now(),
        fresh_id: uuid::Uuid::now_v7(),
    })?;
    let tenant = match principal {
        Some(principal) => {
            if !principal.allows(scope_for(decoded.operation.need())) {
                return Err(Failure::Forbidden);
            }
            if gateway.authenticator.is_some()
                && let Some(account) = &decoded.account
                && bound_tenant(gateway, adapter, account).await?.as_ref() != Some(&principal.tenant)
            {
                tracing::info!(account = %account, "vendor account not bound to the key's tenant");
                return Err(Failure::Forbidden);
            }
            principal.tenant
        }
        None => account_tenant(gateway, adapter, &decoded, &evidence.client_ip).await?,
    };
    let outcome =
        perform(gateway, adapter, &tenant, decoded.operation).await.map_err(|e| Failure::from(&e))?;
    Ok(adapter.encode(route, &outcome))
}

/// The tenant of a keyless route: the one the account the request names is
/// bound to (that account is the credential). Anonymous callers spend a
/// budget per client address before the lookup, then the account's own.
async fn account_tenant(
    gateway: &Gateway,
    adapter: &dyn VendorAdapter,
    decoded: &consent_adapter::Decoded,
    client_ip: &str,
) -> Result<TenantId, Failure> {
    let Some(account) = &decoded.account else {
        tracing::error!(vendor = adapter.name(), "a keyless route decoded no account");
        return Err(Failure::Internal);
    };
    if !keyless_scope_holds(&decoded.operation, account) {
        tracing::error!(vendor = adapter.name(), "a keyless route decoded an operation beyond its account");
        return Err(Failure::Internal);
    }
    if gateway.authenticator.is_none() {
        return Ok(TenantId::default_tenant());
    }
    take_rate(gateway, Some(&format!("{}:ip:{client_ip}", adapter.name())))?;
    let tenant = bound_tenant(gateway, adapter, account).await?.ok_or_else(|| {
        tracing::info!(account = %account, "keyless request for an account bound to no tenant");
        Failure::Unauthorized
    })?;
    take_rate(gateway, Some(&format!("{}:account:{account}", adapter.name())))?;
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

async fn bound_tenant(
    gateway: &Gateway,
    adapter: &dyn VendorAdapter,
    account: &str,
) -> Result<Option<TenantId>, Failure> {
    gateway.store.bound_tenant(adapter.name(), account).await.map_err(|e| Failure::from(&e))
}

/// Spends one call of a rate budget (none without authentication).
fn take_rate(gateway: &Gateway, budget: Option<&str>) -> Result<(), Failure> {
    match budget {
        Some(id) if gateway.budget.rate.take(id).is_err() => Err(Failure::TooManyRequests),
        Some(_) | None => Ok(()),
    }
}

const fn scope_for(need: Need) -> Scope {
    match need {
        Need::Write => Scope::Write,
        Need::Read => Scope::Read,
        Need::Subscribe => Scope::Subscribe,
    }
}

/// Performs a decoded operation for `tenant` through the consent service.
async fn perform(
    gateway: &Gateway,
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

/// The key from the first credential location the adapter names that is
/// present, checked.
async fn authenticate(
    gateway: &Gateway,
    adapter: &dyn VendorAdapter,
    query: &[(String, String)],
    headers: &HeaderMap,
    client_ip: &str,
) -> Result<Principal, Failure> {
    let Some(authenticator) = &gateway.authenticator else {
        return Ok(Principal::anonymous());
    };
    let authorization = header(headers, "authorization");
    let key = adapter.credentials().iter().find_map(|location| match location {
        Credential::Bearer => authorization.strip_prefix("Bearer ").map(|k| k.trim().to_owned()),
        Credential::Query(name) => query.iter().find(|(k, _)| k == name).map(|(_, v)| v.clone()),
        Credential::BasicPrefixSecret => {
            let decoded = STANDARD.decode(authorization.strip_prefix("Basic ")?.trim()).ok()?;
            let (prefix, secret) = std::str::from_utf8(&decoded).ok()?.split_once(':')?;
            Some(format!("{prefix}.{secret}"))
        }
    });
    let key = key.filter(|k| !k.is_empty()).ok_or(Failure::Unauthorized)?;
    authenticator.authenticate_key(&key, client_ip).await.map_err(|err| match err {
        AuthError::Unauthenticated => Failure::Unauthorized,
        AuthError::TooManyLookups { .. } => Failure::TooManyRequests,
        // A store outage is not a bad credential: vendors' SDKs treat 401 as final.
        AuthError::Unavailable | AuthError::Internal => Failure::Unavailable,
    })
}

fn header(headers: &HeaderMap, name: &str) -> String {
    headers.get(name).and_then(|v| v.to_str().ok()).unwrap_or_default().to_owned()
}

/// The client's address and the proxy it came through: the peer and no
/// proxy, unless the peer is a trusted proxy, in which case the right-most
/// `X-Forwarded-For` entry that is not a trusted proxy itself, and the peer.
fn client_ip(peer: SocketAddr, headers: &HeaderMap, trusted: &[IpAddr]) -> (String, String) {
    // `::ffff:10.0.0.1` on a dual-stack listener is the IPv4 peer 10.0.0.1.
    let peer_ip = peer.ip().to_canonical();
    if !trusted.contains(&peer_ip) {
        return (peer_ip.to_string(), String::new());
    }
    // A proxy may append its own header line rather than extend the first:
    // read them all, in order.
    let forwarded: Vec<&str> =
        headers.get_all("x-forwarded-for").iter().filter_map(|value| value.to_str().ok()).collect();
    forwarded
        .iter()
        .flat_map(|line| line.split(','))
        .rev()
        .filter_map(|entry| entry.trim().parse::<IpAddr>().ok().map(|ip| ip.to_canonical()))
        .find(|ip| !trusted.contains(ip))
        .map_or_else(|| (peer_ip.to_string(), String::new()), |ip| (ip.to_string(), peer_ip.to_string()))
}

/// `application/x-www-form-urlencoded` pairs of a query string.
fn form_urlencoded_pairs(query: &str) -> Vec<(String, String)> {
    serde_urlencoded::from_str::<Vec<(String, String)>>(query).unwrap_or_default()
}
