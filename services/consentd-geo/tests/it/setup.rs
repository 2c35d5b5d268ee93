//! Building a locator: what it reports, and what a bad database file gives.

use std::path::Path;

use consentd_geo::{GeoError, LocationSettings, Locator};

use crate::support::{locator_with, two_networks};

fn with_database(path: &Path) -> LocationSettings {
    LocationSettings { geoip_database: Some(path.to_owned()), ..LocationSettings::default() }
}

#[test]
fn is_enabled_by_any_header_or_a_database() {
    assert!(!Locator::new(&LocationSettings::default()).unwrap().is_enabled());
    assert!(Locator::new(&LocationSettings::common_edge_headers()).unwrap().is_enabled());
    let city_only =
        LocationSettings { city_headers: vec!["X-City".to_owned()], ..LocationSettings::default() };
    assert!(Locator::new(&city_only).unwrap().is_enabled());
    let database = two_networks();
    assert!(Locator::new(&with_database(&database.path)).unwrap().is_enabled());
    // Blank names are no names.
    let blank = LocationSettings {
        country_headers: vec![String::new(), " ".to_owned()],
        ..LocationSettings::default()
    };
    assert!(!Locator::new(&blank).unwrap().is_enabled());
}

#[test]
fn a_missing_database_is_an_error_naming_the_file() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("GeoLite2-City.mmdb");
    let error = Locator::new(&with_database(&path)).unwrap_err();
    assert!(matches!(error, GeoError::Read { .. }), "{error:?}");
    let message = error.to_string();
    assert!(message.contains(&path.display().to_string()), "{message}");
    assert!(message.contains("cannot read"), "{message}");
}

#[test]
fn a_garbage_database_is_an_error_naming_the_file() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("GeoLite2-City.mmdb");
    for garbage in [&b""[..], b"not a database at all", &[0xAB, 0xCD, 0xEF, b'M', b'a'][..]] {
        std::fs::write(&path, garbage).unwrap();
        let error = Locator::new(&with_database(&path)).unwrap_err();
        assert!(matches!(error, GeoError::NotMaxMindDb { .. }), "{error:?}");
        let message = error.to_string();
        assert!(message.contains(&path.display().to_string()), "{message}");
        assert!(message.contains("not a MaxMind DB"), "{message}");
    }
}

#[test]
fn a_directory_is_an_error_naming_it() {
    let dir = tempfile::tempdir().unwrap();
    let error = Locator::new(&with_database(dir.path())).unwrap_err();
    assert!(error.to_string().contains(&dir.path().display().to_string()), "{error}");
}

#[test]
fn debug_names_the_database_without_its_contents() {
    let database = two_networks();
    let locator = locator_with(&database);
    let clone = locator.clone();
    let debug = format!("{locator:?}");
    assert!(debug.contains("GeoIP2-City-Test.mmdb"), "{debug}");
    assert!(debug.contains("GeoIP2-City"), "{debug}");
    assert!(debug.contains("cf-ipcountry"), "{debug}");
    assert!(!debug.contains("Munich"), "{debug}");
    // Clones share the opened database.
    assert_eq!(format!("{clone:?}"), debug);
}
