//! One vendor call after the request pipeline admitted it: decode, the
//! scope and account checks, the operation, the adapter's response.

use std::net::SocketAddr;
use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::RawPathParams;
use axum::http::HeaderMap;
use axum::response::Response;
use consent_adapter::{Failure, Operation, Outcome, Request, RequestEvidence, VendorAdapter};
use consent_core::{ConsentError, TenantId, Timestamp};
use sha2::{Digest, Sha256};

use crate::access::{account_tenant, keyed_tenant};
use crate::transport::{client_ip, header};
use crate::{Gateway, GatewayStore, http_response};
use consentd_auth::Principal;

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
    gateway: &Arc<Gateway<S>>,
    adapter: &Arc<dyn VendorAdapter>,
    parts: Parts<'_>,
) -> Response {
    let headers = parts.headers;
    match serve(gateway, adapter, parts).await {
        Ok(reply) => reply,
        Err(failure) => {
            let (vendor, request_id) = (adapter.name(), consentd_pipeline::request_id(headers));
            tracing::info!(status = failure.status(), vendor, request_id, "vendor request refused");
            http_response(adapter.encode_failure(&failure))
        }
    }
}

async fn serve<S: GatewayStore>(
    gateway: &Arc<Gateway<S>>,
    adapter: &Arc<dyn VendorAdapter>,
    parts: Parts<'_>,
) -> Result<Response, Failure> {
    let Parts { route, peer, principal, params, query, headers, body } = parts;
    let beacon = adapter.routes().get(route).is_some_and(|route| route.beacon);
    if !body.is_empty() && !json_body(headers, beacon) {
        let expected = if beacon { "application/json or text/plain" } else { "application/json" };
        return Err(Failure::bad("content-type", format!("must be {expected}")));
    }
    let query: Vec<(String, String)> = query.as_deref().map(crate::form_urlencoded_pairs).unwrap_or_default();
    let path_params: Vec<(String, String)> =
        params.iter().map(|(k, v)| (k.to_owned(), v.to_owned())).collect();
    let header_pairs: Vec<(String, String)> = headers
        .iter()
        .filter_map(|(name, value)| Some((name.as_str().to_owned(), value.to_str().ok()?.to_owned())))
        .collect();
    let evidence = request_evidence(gateway, peer, headers, &header_pairs, &body);
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
        Some(principal) => keyed_tenant(gateway, adapter.as_ref(), principal, &decoded, headers).await?,
        None => account_tenant(gateway, adapter.as_ref(), &decoded).await?,
    };
    if let Operation::ListAll(query) = decoded.operation {
        return crate::list::whole(gateway, adapter, tenant, query).await.map_err(|e| failure(&e, headers));
    }
    let outcome = perform(gateway, adapter.as_ref(), &tenant, decoded.operation)
        .await
        .map_err(|e| failure(&e, headers))?;
    Ok(http_response(adapter.encode(route, &outcome)))
}

/// Whether the body is JSON by its content type: `application/json`, or on
/// a route that beacons call, `text/plain` (what `navigator.sendBeacon`
/// sends a string as; the body is then read as JSON all the same).
fn json_body(headers: &HeaderMap, beacon: bool) -> bool {
    let media = headers
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split(';').next())
        .map(str::trim);
    media.is_some_and(|media| {
        media.eq_ignore_ascii_case("application/json") || (beacon && media.eq_ignore_ascii_case("text/plain"))
    })
}

/// What the HTTP layer knows of the request, for the records' evidence.
fn request_evidence<S>(
    gateway: &Gateway<S>,
    peer: SocketAddr,
    headers: &HeaderMap,
    header_pairs: &[(String, String)],
    body: &[u8],
) -> RequestEvidence {
    let (client_ip, proxy_ip) = client_ip(peer, headers, &gateway.trusted_proxies);
    let location = if gateway.locator.is_enabled() {
        // Edge headers are believed only from a trusted proxy, as
        // X-Forwarded-For is.
        let via_trusted_proxy = gateway.trusted_proxies.contains(&peer.ip().to_canonical());
        gateway.locator.locate(header_pairs, client_ip.parse().ok(), via_trusted_proxy)
    } else {
        consentd_geo::Location::default()
    };
    RequestEvidence {
        user_agent: header(headers, "user-agent"),
        client_ip,
        proxy_ip,
        // Sec-GPC's only valid value is "1" (the GPC specification).
        gpc: headers.get("sec-gpc").is_some_and(|value| value.as_bytes().trim_ascii() == b"1"),
        origin: Some(header(headers, "origin"))
            .filter(|o| !o.is_empty())
            .unwrap_or_else(|| header(headers, "referer")),
        body_digest: hex::encode(Sha256::digest(body)),
        country: location.country,
        region: location.region,
        city: location.city,
    }
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
        Operation::List(query) | Operation::ListAll(query) => {
            let filter = query.filter.clone();
            let page = service.query(tenant, query, gateway.max_response_bytes).await?;
            let views = service.views(tenant, page.records).await?;
            Outcome::Listed { views, next_page_token: page.next_page_token, filter }
        }
        Operation::BatchCheck(cmd) => Outcome::Checked(service.batch_check(tenant, cmd).await?),
        Operation::ConsentMode { subject, min_revision } => {
            Outcome::ConsentMode(service.consent_mode(tenant, subject, min_revision).await?)
        }
        Operation::Subscribe { filter, url } => {
            let (subscription, secret) =
                gateway.webhooks.create(tenant, adapter.name(), filter, &url).await?;
            Outcome::Subscribed { id: subscription.id.to_string(), secret }
        }
    })
}
