//! The location from the GeoIP2 database alone.

use consentd_geo::{Location, LocationSettings, Locator};

use crate::support::{ip, location, two_networks};

fn database_locator(database: &crate::support::TestDatabase) -> Locator {
    Locator::new(&LocationSettings {
        geoip_database: Some(database.path.clone()),
        ..LocationSettings::default()
    })
    .unwrap()
}

#[test]
fn an_ipv4_address_in_its_network() {
    let database = two_networks();
    let locator = database_locator(&database);
    for address in ["81.2.69.0", "81.2.69.142", "81.2.69.255"] {
        assert_eq!(
            locator.locate(&[], Some(ip(address)), false),
            location("DE", "BY", "Munich"),
            "{address}"
        );
    }
}

#[test]
fn an_ipv6_address_in_its_network() {
    let database = two_networks();
    let locator = database_locator(&database);
    assert_eq!(locator.locate(&[], Some(ip("2a01:e0a:1f:2::7")), false), location("FR", "IDF", "Paris"));
}

#[test]
fn an_ipv4_mapped_ipv6_address_is_looked_up_as_ipv4() {
    let database = two_networks();
    let locator = database_locator(&database);
    assert_eq!(locator.locate(&[], Some(ip("::ffff:81.2.69.7")), false), location("DE", "BY", "Munich"));
}

#[test]
fn addresses_in_no_network_find_nothing() {
    let database = two_networks();
    let locator = database_locator(&database);
    for address in ["81.2.70.1", "81.2.68.255", "127.0.0.1", "10.1.2.3", "::1", "2a02::1", "fe80::1"] {
        assert_eq!(locator.locate(&[], Some(ip(address)), true), Location::default(), "{address}");
    }
    assert_eq!(locator.locate(&[], None, true), Location::default());
}

#[test]
fn a_record_without_city_or_region_gives_the_country() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("country.mmdb");
    consentd_geo::testing::write_city_database(&path, &[((ip("192.0.2.0"), 24), "NL", "", "")]).unwrap();
    let locator =
        Locator::new(&LocationSettings { geoip_database: Some(path), ..LocationSettings::default() })
            .unwrap();
    assert_eq!(locator.locate(&[], Some(ip("192.0.2.9")), false), location("NL", "", ""));
}
