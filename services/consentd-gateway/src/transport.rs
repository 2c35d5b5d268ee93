//! A vendor route as a [`Transport`] of the request pipeline: the key comes
//! from wherever the vendor's clients put it, keyless routes pay per client
//! address, and a refusal is the vendor's own error.

use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;

use axum::body::Body;
use axum::extract::ConnectInfo;
use axum::http::HeaderMap;
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use consent_adapter::{Access, Credential as Location, Failure, VendorAdapter};

use crate::http::PeerAddr;
use crate::http_response_retry;
use consentd_auth::AuthError;
use consentd_pipeline::{Arrival, Credential, Refusal, Transport};

/// One route of one vendor adapter.
#[derive(Clone)]
pub struct VendorTransport {
    /// The vendor's adapter.
    pub adapter: Arc<dyn VendorAdapter>,
    /// The adapter's index of the route.
    pub route: usize,
    /// Peers whose `X-Forwarded-For` is believed.
    pub trusted_proxies: Arc<Vec<IpAddr>>,
}

impl std::fmt::Debug for VendorTransport {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("VendorTransport")
            .field("vendor", &self.adapter.name())
            .field("route", &self.route)
            .finish()
    }
}

impl Transport for VendorTransport {
    type ResponseBody = Body;

    fn arrival<B>(&self, request: &http::Request<B>) -> Arrival {
        let (client, _) = client_ip(peer(request.extensions()), request.headers(), &self.trusted_proxies);
        let access = self.adapter.routes().get(self.route).map_or(Access::Key, |route| route.access);
        let credential = match access {
            Access::Key => Credential::Key(self.key(request)),
            Access::Account => Credential::Keyless { budget: format!("{}:ip:{client}", self.adapter.name()) },
        };
        Arrival { credential, client, deadline: None, connection_slots: None }
    }

    fn render(&self, refusal: &Refusal) -> http::Response<Body> {
        let retry_after = match refusal {
            Refusal::RateLimited { retry_after }
            | Refusal::Auth(AuthError::TooManyLookups { retry_after }) => Some(*retry_after),
            Refusal::ConnectionFull
            | Refusal::Draining
            | Refusal::Auth(_)
            | Refusal::Overloaded
            | Refusal::DeadlineExceeded => None,
        };
        http_response_retry(self.adapter.encode_failure(&refusal_failure(refusal)), retry_after)
    }
}

impl VendorTransport {
    /// The key from the first credential location the adapter names that is
    /// present.
    fn key<B>(&self, request: &http::Request<B>) -> Option<String> {
        let authorization = header(request.headers(), "authorization");
        let key = self.adapter.credentials().iter().find_map(|location| match location {
            Location::Bearer => strip_scheme(&authorization, "bearer ").map(|k| k.trim().to_owned()),
            Location::Query(name) => form_urlencoded::parse(request.uri().query()?.as_bytes())
                .find(|(k, _)| k == name)
                .map(|(_, v)| v.into_owned()),
            Location::BasicPrefixSecret => {
                let decoded = STANDARD.decode(strip_scheme(&authorization, "basic ")?.trim()).ok()?;
                let (prefix, secret) = std::str::from_utf8(&decoded).ok()?.split_once(':')?;
                Some(format!("{prefix}.{secret}"))
            }
        });
        // A publishable key may come in `?key=` on any vendor route: a
        // beacon cannot set headers.
        key.filter(|k| !k.is_empty()).or_else(|| publishable_key(request.uri().query(), &[]))
    }
}

/// `value` after `scheme` (its case ignored, RFC 7235).
fn strip_scheme<'a>(value: &'a str, scheme: &str) -> Option<&'a str> {
    let head = value.get(..scheme.len())?;
    head.eq_ignore_ascii_case(scheme).then(|| &value[scheme.len()..])
}

/// A refusal as the vendor's failure. A store outage is not a bad
/// credential: vendors' SDKs treat 401 as final, so it is a 503.
fn refusal_failure(refusal: &Refusal) -> Failure {
    match refusal {
        Refusal::Auth(AuthError::Unauthenticated) => Failure::Unauthorized,
        Refusal::ConnectionFull
        | Refusal::Overloaded
        | Refusal::RateLimited { .. }
        | Refusal::Auth(AuthError::TooManyLookups { .. }) => Failure::TooManyRequests,
        Refusal::Draining
        | Refusal::DeadlineExceeded
        | Refusal::Auth(AuthError::Unavailable | AuthError::Internal) => Failure::Unavailable,
    }
}

/// The peer of a request on our HTTP listener (plain or TLS), from its
/// extensions.
pub(super) fn peer(extensions: &http::Extensions) -> SocketAddr {
    extensions
        .get::<ConnectInfo<PeerAddr>>()
        .map_or(SocketAddr::from(([0, 0, 0, 0], 0)), |ConnectInfo(PeerAddr(addr))| *addr)
}

pub(super) fn header(headers: &HeaderMap, name: &str) -> String {
    headers.get(name).and_then(|v| v.to_str().ok()).unwrap_or_default().to_owned()
}

/// The client's address and the proxy it came through: the peer and no
/// proxy, unless the peer is a trusted proxy, in which case the right-most
/// `X-Forwarded-For` entry that is not a trusted proxy itself, and the peer.
pub(super) fn client_ip(peer: SocketAddr, headers: &HeaderMap, trusted: &[IpAddr]) -> (String, String) {
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

/// The query parameter a publishable key travels in (a beacon cannot set
/// headers).
pub(crate) const PUBLISHABLE_KEY_PARAM: &str = "key";

/// The publishable key a request carries in its query (`key`, or one of
/// the vendor's own query parameters in `names`), if any.
pub(crate) fn publishable_key(query: Option<&str>, names: &[&str]) -> Option<String> {
    form_urlencoded::parse(query?.as_bytes())
        .find(|(name, value)| {
            (name == PUBLISHABLE_KEY_PARAM || names.contains(&name.as_ref())) && value.starts_with("pk_")
        })
        .map(|(_, value)| value.into_owned())
}
