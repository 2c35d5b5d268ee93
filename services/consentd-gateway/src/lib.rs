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

mod call;
pub mod http;
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
use consent_adapter::{Method, VendorAdapter};
use consent_core::webhooks::WebhookStore;
use consent_core::{BindingStore, ConsentService, ConsentStore, KeyStore};
use tower::ServiceBuilder;

use consentd_pipeline::{Admission, Gate};
use consentd_webhooks::Webhooks;
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
}

/// The routes of the `enabled` adapters, each behind its own pipeline.
pub fn routes<S: GatewayStore>(gateway: Gateway<S>, enabled: &[String]) -> Router {
    // Shared, not cloned, by every request (its parts are many).
    let gateway = Arc::new(gateway);
    let mut by_path: BTreeMap<&'static str, MethodRouter> = BTreeMap::new();
    for adapter in registry().into_iter().filter(|a| enabled.iter().any(|name| name == a.name())) {
        for (index, route) in adapter.routes().iter().enumerate() {
            let handler =
                RouteHandler { gateway: Arc::clone(&gateway), adapter: Arc::clone(&adapter), route: index };
            let transport = VendorTransport {
                adapter: Arc::clone(&adapter),
                route: index,
                trusted_proxies: Arc::clone(&gateway.trusted_proxies),
            };
            let observe = ObserveLayer {
                vendor: adapter.name(),
                method: method_name(route.method),
                template: route.path,
            };
            let service = ServiceBuilder::new()
                .layer(observe)
                .layer(Admission::new(transport, gateway.gate.clone()))
                .service(handler);
            let method = match route.method {
                Method::Get => get_service(service),
                Method::Post => post_service(service),
                Method::Patch => patch_service(service),
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
    router
}

const fn method_name(method: Method) -> &'static str {
    match method {
        Method::Get => "GET",
        Method::Post => "POST",
        Method::Patch => "PATCH",
    }
}

/// An adapter's response as HTTP: status, JSON body and extra headers.
pub(crate) fn http_response(reply: consent_adapter::Response) -> Response {
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

/// `application/x-www-form-urlencoded` pairs of a query string.
fn form_urlencoded_pairs(query: &str) -> Vec<(String, String)> {
    form_urlencoded::parse(query.as_bytes()).into_owned().collect()
}
