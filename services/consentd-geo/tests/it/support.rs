//! Shared helpers: header pairs, and a test database in a temporary folder.

use std::net::IpAddr;
use std::path::PathBuf;

use consentd_geo::{Location, LocationSettings, Locator};
use tempfile::TempDir;

/// `(lower-case name, value)` pairs, as the gateway passes them.
pub(crate) fn pairs(headers: &[(&str, &str)]) -> Vec<(String, String)> {
    headers.iter().map(|(name, value)| (name.to_ascii_lowercase(), (*value).to_owned())).collect()
}

pub(crate) fn ip(address: &str) -> IpAddr {
    address.parse().unwrap()
}

pub(crate) fn location(country: &str, region: &str, city: &str) -> Location {
    Location { country: country.to_owned(), region: region.to_owned(), city: city.to_owned() }
}

/// A GeoIP2-City database with two networks, kept while the value lives.
pub(crate) struct TestDatabase {
    _dir: TempDir,
    pub(crate) path: PathBuf,
}

/// Munich's IPv4 network and an IPv6 network in Paris.
pub(crate) fn two_networks() -> TestDatabase {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("GeoIP2-City-Test.mmdb");
    consentd_geo::testing::write_city_database(
        &path,
        &[((ip("81.2.69.0"), 24), "DE", "BY", "Munich"), ((ip("2a01:e0a::"), 32), "FR", "IDF", "Paris")],
    )
    .unwrap();
    TestDatabase { _dir: dir, path }
}

/// A locator reading `database` and believing the common edge headers.
pub(crate) fn locator_with(database: &TestDatabase) -> Locator {
    Locator::new(&LocationSettings {
        geoip_database: Some(database.path.clone()),
        ..LocationSettings::common_edge_headers()
    })
    .unwrap()
}
