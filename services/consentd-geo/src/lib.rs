//! Where a request came from: the country, region and city that the gateway
//! records as consent evidence.
//!
//! Two sources, both optional and configured in [`LocationSettings`]:
//!
//! - headers that a trusted edge (CloudFront, Cloudflare, Vercel, App
//!   Engine, …) adds, believed only for requests that came through a trusted
//!   proxy, since any client can send them itself;
//! - a GeoIP2/GeoLite2 City or Country database, looked up by the client's
//!   address.
//!
//! Headers win for each field they give; the database fills the rest, as far
//! as it agrees with the coarser fields the headers gave (see
//! [`Locator::locate`]).

mod database;
mod error;
mod headers;
mod location;
mod settings;
mod values;

#[cfg(feature = "testing")]
pub mod testing;

use std::fmt;
use std::net::IpAddr;
use std::sync::Arc;

pub use error::GeoError;
pub use location::Location;
pub use settings::LocationSettings;

use database::Database;
use headers::HeaderNames;
use location::Fields;

/// Works out requests' locations. Cheap to clone: the opened database is
/// shared.
#[derive(Clone)]
pub struct Locator {
    inner: Arc<Inner>,
}

struct Inner {
    headers: HeaderNames,
    database: Option<Database>,
}

impl Locator {
    /// A locator for `settings`, opening the database if one is configured
    /// (an error naming the file if it cannot be read or is not a MaxMind
    /// DB).
    pub fn new(settings: &LocationSettings) -> Result<Self, GeoError> {
        let database = settings.geoip_database.as_deref().map(Database::open).transpose()?;
        Ok(Self { inner: Arc::new(Inner { headers: HeaderNames::new(settings), database }) })
    }

    /// Whether anything is configured (so the gateway can skip the work).
    pub fn is_enabled(&self) -> bool {
        !self.inner.headers.is_empty() || self.inner.database.is_some()
    }

    /// The location of a request.
    ///
    /// `headers`: (lower-case name, value) pairs, the first of a name
    /// counting; `client_ip`: the client's address as the gateway determined
    /// it; `via_trusted_proxy`: whether the headers may be believed.
    ///
    /// Each field comes from the first configured header that gives a usable
    /// value (placeholders such as `XX` are skipped), else from the database.
    /// The database fills a field only while it agrees with the coarser
    /// fields the headers gave: with a header's `FR`, the database's region
    /// and city of a German network are left out.
    pub fn locate(
        &self,
        headers: &[(String, String)],
        client_ip: Option<IpAddr>,
        via_trusted_proxy: bool,
    ) -> Location {
        let get = |name: &str| {
            headers
                .iter()
                .find(|(header, _)| header.eq_ignore_ascii_case(name))
                .map(|(_, value)| value.as_str())
        };
        self.locate_with(get, client_ip, via_trusted_proxy)
    }

    /// [`Locator::locate`] for a request's [`http::HeaderMap`]. Values that
    /// are not UTF-8 count as absent.
    pub fn locate_headers(
        &self,
        headers: &http::HeaderMap,
        client_ip: Option<IpAddr>,
        via_trusted_proxy: bool,
    ) -> Location {
        let get = |name: &str| headers.get(name).and_then(|value| std::str::from_utf8(value.as_bytes()).ok());
        self.locate_with(get, client_ip, via_trusted_proxy)
    }

    fn locate_with<'h>(
        &self,
        get: impl Fn(&str) -> Option<&'h str>,
        client_ip: Option<IpAddr>,
        via_trusted_proxy: bool,
    ) -> Location {
        // Without the edge in between, these headers are the client's own
        // claims about itself.
        let from_headers = if via_trusted_proxy { self.inner.headers.read(get) } else { Fields::default() };
        let from_database = match (&self.inner.database, client_ip) {
            (Some(database), Some(address)) if !from_headers.is_complete() => database.lookup(address),
            _ => Fields::default(),
        };
        from_headers.over(from_database)
    }
}

impl fmt::Debug for Locator {
    // The database's records stay out: the path and type say which it is.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Locator")
            .field("headers", &self.inner.headers)
            .field("database", &self.inner.database)
            .finish()
    }
}
