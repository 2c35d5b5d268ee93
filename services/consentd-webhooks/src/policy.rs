//! Where webhooks may be delivered: an allowlist of URL patterns, and no
//! private, loopback, link-local (cloud metadata) or otherwise non-public
//! address unless its network is explicitly allowed. Checked when a
//! subscription is created and again at every delivery, where the HTTP
//! client's resolver only ever hands out allowed addresses, so a name that
//! re-resolves to a private address (DNS rebinding) is never connected to.

use std::fmt;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::str::FromStr;
use std::sync::Arc;

use ipnet::IpNet;
use reqwest::Url;
use reqwest::dns::{Addrs, Name, Resolve, Resolving};

/// How long resolving a subscription's host may take.
const RESOLVE_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(5);

/// Why a URL or address is not allowed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct Refusal(pub String);

/// One allowlist entry: `scheme://host[:port][/path]`, where the host may
/// start with `*.` to allow its subdomains (not the domain itself). No port
/// allows the scheme's default port only, `:*` any port; a path allows that
/// path and the paths below it (`/consent` allows `/consent/x`, not
/// `/consent-admin`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UrlPattern {
    scheme: String,
    host: HostPattern,
    /// `None`: any port.
    port: Option<u16>,
    path: String,
    text: String,
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum HostPattern {
    Exact(String),
    /// `*.example.com` → `.example.com`.
    Subdomains(String),
}

impl FromStr for UrlPattern {
    type Err = String;

    fn from_str(text: &str) -> Result<Self, String> {
        let (scheme, rest) = text.split_once("://").ok_or_else(|| {
            format!("webhook url pattern {text:?} must look like https://host[:port][/path]")
        })?;
        if scheme != "http" && scheme != "https" {
            return Err(format!("webhook url pattern {text:?} must use http or https"));
        }
        let (subdomains, rest) = match rest.strip_prefix("*.") {
            Some(rest) => (true, rest),
            None => (false, rest),
        };
        let (authority, path) = rest.find('/').map_or((rest, ""), |slash| rest.split_at(slash));
        let (authority, any_port) = match authority.strip_suffix(":*") {
            Some(authority) => (authority, true),
            None => (authority, false),
        };
        // Parse the rest as a URL of its own to get the host, port and path
        // exactly as the URLs they are compared with are parsed.
        let url = Url::parse(&format!("{scheme}://{authority}{path}"))
            .map_err(|err| format!("webhook url pattern {text:?} is not valid: {err}"))?;
        let host = url
            .host_str()
            .filter(|h| !h.is_empty())
            .ok_or_else(|| format!("webhook url pattern {text:?} has no host"))?;
        if !url.username().is_empty() || url.password().is_some() || url.query().is_some() {
            return Err(format!("webhook url pattern {text:?} may not hold credentials or a query"));
        }
        let host = if subdomains {
            HostPattern::Subdomains(format!(".{host}"))
        } else {
            HostPattern::Exact(host.to_owned())
        };
        let port = if any_port { None } else { url.port_or_known_default() };
        let path = url.path().trim_end_matches('/').to_owned();
        Ok(Self { scheme: scheme.to_owned(), host, port, path, text: text.to_owned() })
    }
}

impl fmt::Display for UrlPattern {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.text)
    }
}

impl UrlPattern {
    fn matches(&self, url: &Url) -> bool {
        let Some(host) = url.host_str() else { return false };
        let host_ok = match &self.host {
            HostPattern::Exact(exact) => host == exact,
            HostPattern::Subdomains(suffix) => host.len() > suffix.len() && host.ends_with(suffix.as_str()),
        };
        let path_ok = url
            .path()
            .strip_prefix(self.path.as_str())
            .is_some_and(|rest| rest.is_empty() || rest.starts_with('/'));
        url.scheme() == self.scheme
            && host_ok
            && self.port.is_none_or(|port| url.port_or_known_default() == Some(port))
            && path_ok
    }
}

/// The delivery policy.
#[derive(Debug, Clone, Default)]
pub struct UrlPolicy {
    allowed_urls: Vec<UrlPattern>,
    allowed_networks: Vec<IpNet>,
}

impl UrlPolicy {
    /// URLs must match one of `allowed_urls` (none: no webhook is allowed);
    /// non-public addresses are refused unless inside `allowed_networks`.
    pub fn new(allowed_urls: Vec<UrlPattern>, allowed_networks: Vec<IpNet>) -> Self {
        Self { allowed_urls, allowed_networks }
    }

    /// The URL, parsed, if its syntax and the allowlist allow it (and, when
    /// its host is an IP literal, that address). Names are checked by
    /// [`UrlPolicy::check_resolved`] and at connection time.
    pub fn check_url(&self, url: &str) -> Result<Url, Refusal> {
        let parsed = Url::parse(url).map_err(|err| Refusal(format!("is not a valid URL: {err}")))?;
        if parsed.scheme() != "http" && parsed.scheme() != "https" {
            return Err(Refusal("must be an http or https URL".to_owned()));
        }
        if !parsed.username().is_empty() || parsed.password().is_some() {
            return Err(Refusal("must not contain credentials".to_owned()));
        }
        if parsed.fragment().is_some() {
            return Err(Refusal("must not contain a fragment".to_owned()));
        }
        if !self.allowed_urls.iter().any(|pattern| pattern.matches(&parsed)) {
            return Err(Refusal("is not in this server's webhook allowlist".to_owned()));
        }
        if let Some(ip) = literal_ip(&parsed) {
            self.check_address(ip)?;
        }
        Ok(parsed)
    }

    /// Resolves the URL's host: every address it resolves to must be allowed.
    pub async fn check_resolved(&self, url: &Url) -> Result<(), Refusal> {
        if literal_ip(url).is_some() {
            return Ok(());
        }
        let host = url.host_str().unwrap_or_default();
        let port = url.port_or_known_default().unwrap_or(443);
        let lookup = tokio::time::timeout(RESOLVE_TIMEOUT, tokio::net::lookup_host((host, port)))
            .await
            .map_err(|_| Refusal(format!("host {host} cannot be resolved in time")))?;
        let addresses: Vec<SocketAddr> =
            lookup.map_err(|err| Refusal(format!("host {host} cannot be resolved: {err}")))?.collect();
        if addresses.is_empty() {
            return Err(Refusal(format!("host {host} resolves to no address")));
        }
        addresses.iter().try_for_each(|address| self.check_address(address.ip()))
    }

    /// Whether deliveries may connect to `ip`.
    pub fn check_address(&self, ip: IpAddr) -> Result<(), Refusal> {
        let ip = ip.to_canonical();
        if is_public(ip) || self.allowed_networks.iter().any(|net| net.contains(&ip)) {
            Ok(())
        } else {
            Err(Refusal(format!("resolves to {ip}, a private, loopback, link-local or reserved address")))
        }
    }

    /// A resolver for the delivery client that hands out only allowed
    /// addresses of a name.
    pub fn resolver(self: &Arc<Self>) -> Arc<PolicyResolver> {
        Arc::new(PolicyResolver { policy: Arc::clone(self) })
    }
}

fn literal_ip(url: &Url) -> Option<IpAddr> {
    match url.host()? {
        url::Host::Ipv4(ip) => Some(IpAddr::V4(ip)),
        url::Host::Ipv6(ip) => Some(IpAddr::V6(ip)),
        url::Host::Domain(_) => None,
    }
}

/// Whether `ip` is a public unicast address: not private, loopback,
/// link-local (where cloud metadata services live), shared (CGNAT),
/// unspecified, multicast, broadcast, documentation, benchmarking or
/// otherwise reserved.
pub fn is_public(ip: IpAddr) -> bool {
    match ip.to_canonical() {
        IpAddr::V4(v4) => is_public_v4(v4),
        IpAddr::V6(v6) => is_public_v6(v6),
    }
}

fn is_public_v4(ip: Ipv4Addr) -> bool {
    let [a, b, c, _] = ip.octets();
    !(a == 0                                  // "this network"
        || a == 10                            // private
        || a == 127                           // loopback
        || (a == 100 && (64..128).contains(&b)) // shared address space (CGNAT)
        || (a == 169 && b == 254)             // link-local, cloud metadata
        || (a == 172 && (16..32).contains(&b)) // private
        || (a == 192 && b == 0 && c == 0)     // IETF protocol assignments
        || (a == 192 && b == 0 && c == 2)     // documentation
        || (a == 192 && b == 168)             // private
        || (a == 198 && (18..20).contains(&b)) // benchmarking
        || (a == 198 && b == 51 && c == 100)  // documentation
        || (a == 203 && b == 0 && c == 113)   // documentation
        || a >= 224) // multicast, reserved, broadcast
}

fn is_public_v6(ip: Ipv6Addr) -> bool {
    let segments = ip.segments();
    // NAT64 (64:ff9b::/96) embeds an IPv4 address: judge that address.
    if segments[..6] == [0x64, 0xff9b, 0, 0, 0, 0] {
        let [hi, lo] = [segments[6], segments[7]];
        let v4 = Ipv4Addr::new((hi >> 8) as u8, hi as u8, (lo >> 8) as u8, lo as u8);
        return is_public_v4(v4);
    }
    // 6to4 (2002::/16) embeds an IPv4 address too.
    if segments[0] == 0x2002 {
        let [hi, lo] = [segments[1], segments[2]];
        let v4 = Ipv4Addr::new((hi >> 8) as u8, hi as u8, (lo >> 8) as u8, lo as u8);
        return is_public_v4(v4);
    }
    !(ip.is_unspecified()
        || ip.is_loopback()
        || ip.is_multicast()
        || segments[..3] == [0x64, 0xff9b, 1]   // local-use NAT64
        || segments[..4] == [0x100, 0, 0, 0]    // discard-only
        || (segments[0] == 0x2001 && segments[1] == 0) // Teredo: the address behind it is hidden
        || (segments[0] & 0xfe00) == 0xfc00   // unique local (fd00:ec2::254 metadata)
        || (segments[0] & 0xffc0) == 0xfe80   // link-local
        || (segments[0] & 0xffc0) == 0xfec0   // site-local (deprecated)
        || (segments[0] == 0x2001 && segments[1] == 0x0db8) // documentation
        || segments[..6] == [0, 0, 0, 0, 0, 0]) // IPv4-compatible (deprecated)
}

/// The delivery client's resolver: the system resolver, with every address
/// the policy refuses removed. A name left with none fails to connect, and
/// the failure is reported as a refusal.
#[derive(Debug)]
pub struct PolicyResolver {
    policy: Arc<UrlPolicy>,
}

/// The resolver found only refused addresses.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct RefusedAddress(pub Refusal);

impl Resolve for PolicyResolver {
    fn resolve(&self, name: Name) -> Resolving {
        let policy = Arc::clone(&self.policy);
        Box::pin(async move {
            let host = name.as_str().to_owned();
            let resolved: Vec<SocketAddr> = tokio::net::lookup_host((host.as_str(), 0)).await?.collect();
            let mut last_refusal = None;
            let allowed: Vec<SocketAddr> = resolved
                .into_iter()
                .filter(|address| match policy.check_address(address.ip()) {
                    Ok(()) => true,
                    Err(refusal) => {
                        last_refusal = Some(refusal);
                        false
                    }
                })
                .collect();
            if allowed.is_empty() {
                let refusal =
                    last_refusal.unwrap_or_else(|| Refusal(format!("host {host} resolves to no address")));
                return Err(Box::new(RefusedAddress(refusal)) as Box<dyn std::error::Error + Send + Sync>);
            }
            Ok(Box::new(allowed.into_iter()) as Addrs)
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn policy(urls: &[&str], networks: &[&str]) -> UrlPolicy {
        UrlPolicy::new(
            urls.iter().map(|u| u.parse().unwrap()).collect(),
            networks.iter().map(|n| n.parse().unwrap()).collect(),
        )
    }

    #[test]
    fn patterns_match_scheme_host_port_and_path() {
        let p = policy(
            &["https://hooks.example.com", "https://*.example.org:8443/consent/", "http://127.0.0.1:*"],
            &["127.0.0.0/8"],
        );
        assert!(p.check_url("https://hooks.example.com/anything?x=1").is_ok());
        assert!(p.check_url("https://hooks.example.com:443/").is_ok(), "the default port");
        assert!(
            p.check_url("https://hooks.example.com:9999/").is_err(),
            "no port in the pattern: the default"
        );
        assert!(p.check_url("http://hooks.example.com/").is_err(), "scheme must match");
        assert!(p.check_url("https://hooks.example.com.evil.net/").is_err());
        assert!(p.check_url("https://evil.net/?https://hooks.example.com").is_err());
        assert!(p.check_url("https://hooks.example.com@evil.net/").is_err());
        assert!(p.check_url("https://a.example.org:8443/consent/x").is_ok());
        assert!(p.check_url("https://example.org:8443/consent/x").is_err(), "*. is subdomains only");
        assert!(p.check_url("https://a.example.org:8443/other").is_err(), "path prefix");
        assert!(p.check_url("https://a.example.org:8443/consent").is_ok(), "the path itself");
        assert!(p.check_url("https://a.example.org:8443/consent-admin").is_err(), "a whole segment");
        assert!(p.check_url("https://a.example.org/consent/x").is_err(), "port");
        assert!(p.check_url("http://127.0.0.1:4000/hook").is_ok());
        assert!(p.check_url("ftp://hooks.example.com/").is_err());
        assert!(p.check_url("not a url").is_err());
    }

    #[test]
    fn non_public_addresses_are_refused_unless_their_network_is_allowed() {
        let p = policy(
            &[
                "http://*.test",
                "http://10.1.2.3",
                "http://[fd00:ec2::254]",
                "http://169.254.169.254",
                "http://0x7f.1:*",
                "http://[::ffff:a9fe:a9fe]",
            ],
            &[],
        );
        assert!(p.check_url("http://10.1.2.3/").is_err());
        assert!(p.check_url("http://169.254.169.254/latest/meta-data").is_err(), "cloud metadata");
        assert!(p.check_url("http://[fd00:ec2::254]/").is_err(), "cloud metadata over IPv6");
        // Other spellings of an address are parsed as the address.
        assert!(p.check_url("http://0x7f.1:8080/").is_err(), "127.0.0.1 in hex");
        assert!(p.check_url("http://[::ffff:169.254.169.254]/").is_err(), "IPv4-mapped metadata");
        // Other spellings of an address are parsed as the address.
        assert!(p.check_url("http://0x7f.1:8080/").is_err(), "127.0.0.1 in hex");
        assert!(p.check_url("http://[::ffff:169.254.169.254]/").is_err(), "IPv4-mapped metadata");
        for private in [
            "127.0.0.1",
            "10.0.0.1",
            "172.16.5.4",
            "192.168.1.1",
            "169.254.0.1",
            "100.64.0.1",
            "0.0.0.0",
            "::1",
            "fe80::1",
            "fc00::1",
            "::ffff:127.0.0.1",
            "64:ff9b::a00:1",
            "64:ff9b:1::1",
            "2002:7f00:1::",
            "2001:0:4136:e378::1",
            "100::1",
            "224.0.0.1",
        ] {
            assert!(p.check_address(private.parse().unwrap()).is_err(), "{private}");
        }
        for public in ["93.184.216.34", "8.8.8.8", "2606:4700::1111", "64:ff9b::808:808", "2002:808:808::1"] {
            assert!(p.check_address(public.parse().unwrap()).is_ok(), "{public}");
        }
        let allowed = policy(&[], &["10.0.0.0/8"]);
        assert!(allowed.check_address("10.9.9.9".parse().unwrap()).is_ok());
        assert!(allowed.check_address("192.168.0.1".parse().unwrap()).is_err());
    }

    #[test]
    fn bad_patterns_are_rejected() {
        for bad in ["hooks.example.com", "ftp://x", "https://", "https://user:pw@x", "https://x/?q=1"] {
            assert!(bad.parse::<UrlPattern>().is_err(), "{bad}");
        }
    }
}
