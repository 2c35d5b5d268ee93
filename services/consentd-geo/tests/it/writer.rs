//! The test-database writer checked against the real `maxminddb` reader:
//! the locator's tests mean something only if the files it writes are what
//! a GeoIP2 City database looks like to the reader the locator uses.

use maxminddb::{Reader, geoip2};

use crate::support::{ip, two_networks};

#[test]
fn metadata_is_that_of_a_geoip2_city_database() {
    let database = two_networks();
    let reader = Reader::open_readfile(&database.path).unwrap();
    let metadata = reader.metadata();
    assert_eq!(metadata.database_type, "GeoIP2-City");
    assert_eq!(metadata.ip_version, 6);
    assert_eq!(metadata.binary_format_major_version, 2);
    assert_eq!(metadata.binary_format_minor_version, 0);
    assert_eq!(metadata.languages, ["en"]);
    assert!([24, 28, 32].contains(&metadata.record_size), "{}", metadata.record_size);
    assert!(metadata.build_epoch > 0);
    assert_eq!(metadata.description.get("en").map(String::as_str), Some("consentd test database"));
    reader.verify().unwrap();
}

#[test]
fn records_decode_as_geoip2_city() {
    let database = two_networks();
    let reader = Reader::open_readfile(&database.path).unwrap();
    let result = reader.lookup(ip("81.2.69.200")).unwrap();
    // IPv4 networks sit under ::/96, as the reader expects.
    assert_eq!(result.network().unwrap().to_string(), "81.2.69.0/24");
    let city: geoip2::City<'_> = result.decode().unwrap().unwrap();
    assert_eq!(city.country.iso_code, Some("DE"));
    assert_eq!(city.subdivisions.len(), 1);
    assert_eq!(city.subdivisions[0].iso_code, Some("BY"));
    assert_eq!(city.city.names.english, Some("Munich"));

    let result = reader.lookup(ip("2a01:e0a::1")).unwrap();
    assert_eq!(result.network().unwrap().to_string(), "2a01:e0a::/32");
    let city: geoip2::City<'_> = result.decode().unwrap().unwrap();
    assert_eq!(city.country.iso_code, Some("FR"));
    assert_eq!(city.city.names.english, Some("Paris"));

    assert!(!reader.lookup(ip("81.2.70.1")).unwrap().has_data());
    assert!(!reader.lookup(ip("2001:db8::1")).unwrap().has_data());
}

#[test]
fn the_longer_prefix_wins_in_any_order() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("nested.mmdb");
    consentd_geo::testing::write_city_database(
        &path,
        &[((ip("198.51.100.0"), 28), "DE", "HH", "Hamburg"), ((ip("198.51.0.0"), 16), "DE", "", "")],
    )
    .unwrap();
    let reader = Reader::open_readfile(&path).unwrap();
    let country = |address: &str| {
        let city: geoip2::City<'_> = reader.lookup(ip(address)).unwrap().decode().unwrap().unwrap();
        (city.country.iso_code, city.city.names.english)
    };
    assert_eq!(country("198.51.100.3"), (Some("DE"), Some("Hamburg")));
    assert_eq!(country("198.51.100.16"), (Some("DE"), None));
    assert_eq!(country("198.51.7.7"), (Some("DE"), None));
}

#[test]
fn many_networks_all_resolve() {
    // Hundreds of nodes and records: pointers into the data section well
    // past the first ones still land on their records.
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("many.mmdb");
    let entries: Vec<_> = (0..=255u8)
        .map(|third| ((std::net::IpAddr::from([10, 0, third, 0]), 24), "DE", "BE", "Berlin"))
        .collect();
    consentd_geo::testing::write_city_database(&path, &entries).unwrap();
    let reader = Reader::open_readfile(&path).unwrap();
    reader.verify().unwrap();
    for third in [0u8, 17, 255] {
        let address = std::net::IpAddr::from([10, 0, third, 9]);
        let city: geoip2::City<'_> = reader.lookup(address).unwrap().decode().unwrap().unwrap();
        assert_eq!(city.city.names.english, Some("Berlin"), "{address}");
    }
}

#[test]
fn prefixes_beyond_the_address_length_are_refused() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("bad.mmdb");
    for network in [(ip("192.0.2.0"), 33), (ip("2001:db8::"), 129)] {
        let error =
            consentd_geo::testing::write_city_database(&path, &[(network, "DE", "", "")]).unwrap_err();
        assert_eq!(error.kind(), std::io::ErrorKind::InvalidInput);
    }
    assert!(!path.exists());
}
