//! The HTTP gateway: every enabled vendor adapter's routes, mounted
//! generically, each behind the request pipeline (`consentd_pipeline`: the
//! credential where the adapter says the vendor's clients put it → key →
//! tenant, the key's rate limit, the in-flight cap, the deadline), then
//! ([`call`]): decode; the scope the decoded operation needs; the named
//! vendor account checked against the tenant's bindings; the operation
//! (records applied all or none); the adapter's response. Keyless routes
//! (Secure Privacy's integration routes) decode first and take the tenant
//! the named account is bound to. Every failure is answered in the
//! vendor's own error shape.

mod access;
mod call;
mod cors;
pub mod http;
mod list;
mod mount;
mod observe;
mod port;
mod route;
pub mod tls;
mod transport;

use std::collections::BTreeMap;
use std::net::IpAddr;
use std::sync::Arc;

use axum::Router;
use axum::http::{HeaderName, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{MethodRouter, get_service, patch_service, post_service};
use consent_adapter::{Method, Route, VendorAdapter};
use consent_core::webhooks::WebhookStore;
use consent_core::{BindingStore, ConsentService, ConsentStore, KeyStore};
use tower::ServiceBuilder;

use consentd_pipeline::{Admission, Gate};
use consentd_webhooks::Webhooks;
use cors::BrowserCors;
pub use mount::{check_mounts, mounted_path};
use observe::ObserveLayer;
pub use port::{HttpPort, Serving, serve_gateway, serve_health};
use route::RouteHandler;
pub use transport::VendorTransport;

/// Every adapter this build knows: adding a vendor is a crate and one line.
pub fn registry() -> Vec<Arc<dyn VendorAdapter>> {
    vec![
        Arc::new(consent_adapter_adobe::Adobe),
        Arc::new(consent_adapter_intempt::Intempt),
        Arc::new(consent_adapter_jentis::Jentis),
        Arc::new(consent_adapter_secureprivacy::SecurePrivacy),
        Arc::new(consent_adapter_native::Native),
    ]
}

/// The names of every adapter this build knows.
pub fn known_adapters() -> Vec<&'static str> {
    registry().iter().map(|adapter| adapter.name()).collect()
}

/// What the gateway needs of its store: the consent log, the vendor
/// accounts' bindings, webhook subscriptions and the key store their
/// signing keys derive from.
pub trait GatewayStore: ConsentStore + BindingStore + WebhookStore + KeyStore + Clone {}

impl<S: ConsentStore + BindingStore + WebhookStore + KeyStore + Clone> GatewayStore for S {}

/// What every gateway call shares.
#[derive(Debug, Clone)]
pub struct Gateway<S> {
    /// The consent service (its store also keeps the vendor accounts'
    /// bindings).
    pub service: ConsentService<S>,
    /// The request pipeline's shared state (with gRPC): the authenticator
    /// (`None`: authentication disabled; calls act for tenant `default` and
    /// bindings are not checked), rate budgets, capacity and deadline.
    pub gate: Gate,
    /// Peers whose `X-Forwarded-For` is believed.
    pub trusted_proxies: Arc<Vec<IpAddr>>,
    /// Webhook subscriptions, for vendors that create them.
    pub webhooks: Webhooks<S>,
    /// About the most a listed page of records may weigh.
    pub max_response_bytes: usize,
    /// The most records a list streamed whole may hold (Secure Privacy's
    /// documented list): more is refused, in the vendor's shape.
    pub max_list_records: usize,
    /// Lists streamed whole at once on this server (`[gateway]
    /// max_whole_lists`); one more is refused with the vendor's 429.
    pub whole_lists: Arc<tokio::sync::Semaphore>,
    /// Browser origins allowed on every vendor account (`[gateway]
    /// cors_origins`, as `https://host[:port]`).
    pub cors_origins: Arc<Vec<String>>,
    /// Where each vendor's routes are served instead of its base path
    /// (`[gateway.mounts]`, checked by [`check_mounts`]).
    pub mounts: BTreeMap<String, String>,
    /// Where a request came from (trusted edge headers, a GeoIP2 database),
    /// for the records' evidence.
    pub locator: consentd_geo::Locator,
    /// The verifiable log's public keys, published at
    /// `/.well-known/consentd/log-keys` (the signing key's first).
    pub log_keys: Arc<dyn consent_evidence::LogKeys>,
}

/// The routes of the `enabled` adapters, each behind its own pipeline, at
/// the paths `gateway.mounts` puts them, each path behind its vendor's CORS
/// answer.
pub fn routes<S: GatewayStore>(gateway: Gateway<S>, enabled: &[String]) -> Router {
    // Shared, not cloned, by every request (its parts are many).
    let gateway = Arc::new(gateway);
    let mut router = Router::new();
    for adapter in registry().into_iter().filter(|a| enabled.iter().any(|name| name == a.name())) {
        let policy = Arc::new(cors::OriginPolicy::new(
            adapter.name(),
            Arc::clone(&gateway.cors_origins),
            gateway.service.store().clone(),
            gateway.gate.authenticator().cloned(),
            Arc::clone(&gateway.trusted_proxies),
        ));
        let mount = gateway.mounts.get(adapter.name()).map(String::as_str);
        let mut by_path: BTreeMap<String, Vec<(usize, Route)>> = BTreeMap::new();
        for (index, route) in adapter.routes().iter().enumerate() {
            let path = mounted_path(adapter.as_ref(), route.path, mount);
            by_path.entry(path).or_default().push((index, *route));
        }
        for (path, routes) in by_path {
            let just_routes: Vec<Route> = routes.iter().map(|(_, route)| *route).collect();
            let cors = Arc::new(cors::layer(Arc::clone(&policy), adapter.as_ref(), &just_routes));
            // tower-http answers every OPTIONS as a preflight: the inner
            // service only completes the method router.
            let preflight = BrowserCors::new(Arc::clone(&cors), axum::routing::any(StatusCode::NOT_FOUND));
            let mut methods = MethodRouter::new().options_service(preflight);
            for (index, route) in routes {
                methods = methods.merge(route_service(&gateway, &adapter, index, &route, &cors));
            }
            router = router.route(&path, methods);
        }
    }
    router
}

/// One route's handler behind its path's CORS answer, its telemetry and
/// the request pipeline.
fn route_service<S: GatewayStore>(
    gateway: &Arc<Gateway<S>>,
    adapter: &Arc<dyn VendorAdapter>,
    index: usize,
    route: &Route,
    cors: &Arc<tower_http::cors::CorsLayer>,
) -> MethodRouter {
    let handler = RouteHandler { gateway: Arc::clone(gateway), adapter: Arc::clone(adapter), route: index };
    let transport = VendorTransport {
        adapter: Arc::clone(adapter),
        route: index,
        trusted_proxies: Arc::clone(&gateway.trusted_proxies),
    };
    let observe =
        ObserveLayer { vendor: adapter.name(), method: method_name(route.method), template: route.path };
    let service = ServiceBuilder::new()
        .layer(observe)
        .layer(Admission::new(transport, gateway.gate.clone()))
        .service(handler);
    let service = BrowserCors::new(Arc::clone(cors), service);
    match route.method {
        Method::Get => get_service(service),
        Method::Post => post_service(service),
        Method::Patch => patch_service(service),
    }
}

const fn method_name(method: Method) -> &'static str {
    match method {
        Method::Get => "GET",
        Method::Post => "POST",
        Method::Patch => "PATCH",
    }
}

/// An adapter's response as HTTP: status, JSON body and extra headers. A
/// 429 or 503 says when to retry (`Retry-After`, which Intempt's SDK reads):
/// `retry_after` where the refusal knows it, else a second.
pub(crate) fn http_response(reply: consent_adapter::Response) -> Response {
    http_response_retry(reply, None)
}

/// The same, with the delay a refusal knows.
pub(crate) fn http_response_retry(
    reply: consent_adapter::Response,
    retry_after: Option<std::time::Duration>,
) -> Response {
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
    let busy = matches!(status, StatusCode::TOO_MANY_REQUESTS | StatusCode::SERVICE_UNAVAILABLE);
    if busy && !response.headers().contains_key(axum::http::header::RETRY_AFTER) {
        // Whole seconds (RFC 9110), rounded up: never "retry at once".
        let seconds = retry_after.map_or(1, |delay| delay.as_secs() + u64::from(delay.subsec_nanos() > 0));
        response.headers_mut().insert(axum::http::header::RETRY_AFTER, HeaderValue::from(seconds.max(1)));
    }
    response
}

/// `application/x-www-form-urlencoded` pairs of a query string.
fn form_urlencoded_pairs(query: &str) -> Vec<(String, String)> {
    form_urlencoded::parse(query.as_bytes()).into_owned().collect()
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use consent_adapter::Response as Reply;

    use super::{http_response, http_response_retry};

    #[test]
    fn busy_answers_say_when_to_retry_in_whole_seconds() {
        let retry_after = |response: axum::response::Response| {
            response.headers().get("retry-after").map(|v| v.to_str().unwrap().to_owned())
        };
        assert_eq!(retry_after(http_response(Reply::empty(503))).as_deref(), Some("1"));
        let later = http_response_retry(Reply::empty(429), Some(Duration::from_millis(1500)));
        assert_eq!(retry_after(later).as_deref(), Some("2"), "rounded up");
        let soon = http_response_retry(Reply::empty(429), Some(Duration::from_millis(10)));
        assert_eq!(retry_after(soon).as_deref(), Some("1"), "never 0");
        assert_eq!(retry_after(http_response(Reply::empty(400))), None);
    }
}
