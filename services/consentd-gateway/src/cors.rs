//! CORS on vendor routes: cookie banners in web pages are the vendors'
//! main clients. tower-http's `CorsLayer` answers preflights and adds the
//! response headers; this module decides which origins it allows and what
//! each path's preflight lists.
//!
//! An origin is allowed on a vendor's routes when it is in `[gateway]
//! cors_origins`, allowed on one of the vendor's bound accounts (`consentd
//! tenants bind … --origin`), or — for a request that carries a publishable
//! key in `?key=` (or the vendor's own key parameter, Intempt's `apiKey`) —
//! one of that key's origins. A preflight cannot say which account the
//! request will name (it is often in the body), so it is answered for the
//! vendor's accounts together; the call itself is then held to its account
//! (a publishable key to its own origins: `access.rs`).
//! Nothing else gets `Access-Control-Allow-Origin`, and no response allows
//! credentials (cookies): consent calls need none.

use std::collections::HashSet;
use std::net::IpAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use std::convert::Infallible;
use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};

use axum::body::Body;
use axum::http::request::Parts;
use axum::http::{HeaderName, HeaderValue, Method as HttpMethod, header};
use axum::response::Response;
use consent_adapter::{Credential, Method, Route, VendorAdapter};
use consent_core::BindingStore;
use consentd_auth::Authenticator;
use tower::{Layer, Service};
use tower_http::cors::{AllowOrigin, Cors, CorsLayer};

use crate::transport::{client_ip, peer, publishable_key};

/// How long the origins bound to a vendor's accounts are trusted before
/// they are read again: a new `--origin` works within this.
pub(crate) const ORIGINS_TTL: Duration = Duration::from_secs(1);

/// How long a browser may cache a preflight's answer.
const PREFLIGHT_MAX_AGE: Duration = Duration::from_secs(600);

/// Which origins one vendor's routes allow.
pub(crate) struct OriginPolicy<S> {
    vendor: &'static str,
    /// `[gateway] cors_origins`.
    global: Arc<Vec<String>>,
    store: S,
    authenticator: Option<Authenticator>,
    trusted_proxies: Arc<Vec<IpAddr>>,
    bound: Mutex<Option<(Instant, Arc<HashSet<String>>)>>,
}

impl<S: BindingStore + Clone> OriginPolicy<S> {
    pub(crate) fn new(
        vendor: &'static str,
        global: Arc<Vec<String>>,
        store: S,
        authenticator: Option<Authenticator>,
        trusted_proxies: Arc<Vec<IpAddr>>,
    ) -> Self {
        Self { vendor, global, store, authenticator, trusted_proxies, bound: Mutex::new(None) }
    }

    /// Whether a request from `origin`, carrying a publishable key (and the
    /// client address that pays for its lookup), may read the answer.
    async fn allows(&self, origin: &str, key: Option<(String, String)>) -> bool {
        if self.global.iter().any(|allowed| allowed == origin) {
            return true;
        }
        if let Some((key, client)) = key
            && let Some(authenticator) = &self.authenticator
            && let Ok(principal) = authenticator.authenticate_key(&key, &client).await
            && principal.account.as_ref().is_some_and(|account| {
                // consentd's own routes (Consent Mode) serve the pages of
                // every vendor's banner, whichever vendor the key records for.
                (account.vendor == self.vendor || self.vendor == consent_adapter_native::NAME)
                    && account.origins.iter().any(|o| o == origin)
            })
        {
            return true;
        }
        self.bound_origins().await.contains(origin)
    }

    /// Every origin allowed on one of the vendor's accounts, read at most
    /// once per [`ORIGINS_TTL`]; the last good read while the store fails.
    async fn bound_origins(&self) -> Arc<HashSet<String>> {
        let cached = self.bound.lock().unwrap_or_else(std::sync::PoisonError::into_inner).clone();
        if let Some((at, origins)) = &cached
            && at.elapsed() < ORIGINS_TTL
        {
            return Arc::clone(origins);
        }
        match self.store.allowed_origins(self.vendor).await {
            Ok(pairs) => {
                let origins: Arc<HashSet<String>> = Arc::new(pairs.into_iter().map(|(_, o)| o).collect());
                let mut bound = self.bound.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
                *bound = Some((Instant::now(), Arc::clone(&origins)));
                origins
            }
            Err(err) => {
                tracing::warn!(error = %err, vendor = self.vendor, "cannot read the accounts' origins");
                cached.map(|(_, origins)| origins).unwrap_or_default()
            }
        }
    }
}

/// The query parameters a vendor's clients put their key in.
fn query_key_names(adapter: &dyn VendorAdapter) -> Vec<&'static str> {
    adapter
        .credentials()
        .iter()
        .filter_map(|location| match location {
            Credential::Query(name) => Some(*name),
            Credential::Bearer | Credential::BasicPrefixSecret => None,
        })
        .collect()
}

/// What `CorsLayer` sends in `Vary` (its default): a response to a call
/// without an `Origin` says it too, so a shared cache never gives it to a
/// browser whose call would have been answered differently.
const VARY: HeaderValue =
    HeaderValue::from_static("origin, access-control-request-method, access-control-request-headers");

/// CORS for the routes of one path: calls from a browser (an `Origin`
/// header) and preflights go through tower-http's `Cors`; the rest — every
/// server-to-server call — only get `Vary`, without the layer's per-call
/// work.
#[derive(Clone)]
pub(crate) struct BrowserCors<S> {
    layer: Arc<CorsLayer>,
    inner: S,
}

impl<S> BrowserCors<S> {
    pub(crate) fn new(layer: Arc<CorsLayer>, inner: S) -> Self {
        Self { layer, inner }
    }
}

impl<S> Service<axum::http::Request<Body>> for BrowserCors<S>
where
    S: Service<axum::http::Request<Body>, Response = Response, Error = Infallible> + Clone + Send + 'static,
    S::Future: Send + 'static,
{
    type Response = Response;
    type Error = Infallible;
    type Future = Pin<Box<dyn Future<Output = Result<Response, Infallible>> + Send>>;

    fn poll_ready(&mut self, _cx: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, request: axum::http::Request<Body>) -> Self::Future {
        if request.method() != HttpMethod::OPTIONS && !request.headers().contains_key(header::ORIGIN) {
            let call = self.inner.call(request);
            return Box::pin(async move {
                let mut response = call.await?;
                response.headers_mut().append(header::VARY, VARY);
                Ok(response)
            });
        }
        let mut cors: Cors<S> = self.layer.layer(self.inner.clone());
        Box::pin(async move { cors.call(request).await })
    }
}

/// The CORS layer of one path of a vendor: its preflight lists exactly the
/// methods of the vendor's routes on the path and the headers they read.
pub(crate) fn layer<S>(
    policy: Arc<OriginPolicy<S>>,
    adapter: &dyn VendorAdapter,
    routes: &[Route],
) -> CorsLayer
where
    S: BindingStore + Clone + Send + Sync + 'static,
{
    let methods: Vec<HttpMethod> = routes.iter().map(|route| http_method(route.method)).collect();
    let mut headers: Vec<HeaderName> = vec![HeaderName::from_static("x-request-id")];
    if routes.iter().any(|route| route.method != Method::Get) {
        headers.push(axum::http::header::CONTENT_TYPE);
    }
    if adapter.credentials().iter().any(|c| matches!(c, Credential::Bearer | Credential::BasicPrefixSecret)) {
        headers.push(axum::http::header::AUTHORIZATION);
    }
    headers.extend(adapter.request_headers().iter().map(|name| HeaderName::from_static(name)));
    let key_names = query_key_names(adapter);
    let allow_origin = AllowOrigin::async_predicate(move |origin: HeaderValue, parts: &Parts| {
        let policy = Arc::clone(&policy);
        // The future owns what it reads: the key, and the address that pays
        // for its lookup.
        let key = publishable_key(parts.uri.query(), &key_names).map(|key| {
            let (client, _) = client_ip(peer(&parts.extensions), &parts.headers, &policy.trusted_proxies);
            (key, client)
        });
        async move {
            match origin.to_str() {
                Ok(origin) => policy.allows(origin, key).await,
                Err(_) => false,
            }
        }
    });
    CorsLayer::new()
        .allow_origin(allow_origin)
        .allow_methods(methods)
        .allow_headers(headers)
        .expose_headers([
            axum::http::header::RETRY_AFTER,
            HeaderName::from_static("x-request-id"),
            HeaderName::from_static("x-next-page-token"),
        ])
        .max_age(PREFLIGHT_MAX_AGE)
}

const fn http_method(method: Method) -> HttpMethod {
    match method {
        Method::Get => HttpMethod::GET,
        Method::Post => HttpMethod::POST,
        Method::Patch => HttpMethod::PATCH,
    }
}
