//! The location from trusted edge headers alone.

use consentd_geo::{Location, LocationSettings, Locator};

use crate::support::{ip, location, pairs};

fn edge_locator() -> Locator {
    Locator::new(&LocationSettings::common_edge_headers()).unwrap()
}

#[test]
fn believed_only_via_a_trusted_proxy() {
    let headers = pairs(&[
        ("CloudFront-Viewer-Country", "DE"),
        ("CloudFront-Viewer-Country-Region", "BY"),
        ("CloudFront-Viewer-City", "Munich"),
    ]);
    let locator = edge_locator();
    assert_eq!(locator.locate(&headers, None, true), location("DE", "BY", "Munich"));
    assert_eq!(locator.locate(&headers, None, false), Location::default());
    assert_eq!(locator.locate(&headers, Some(ip("81.2.69.1")), false), Location::default());
}

#[test]
fn names_are_tried_in_the_configured_order() {
    let headers = pairs(&[("cf-ipcountry", "AT"), ("x-vercel-ip-country", "CH")]);
    let order = |names: &[&str]| {
        let locator = Locator::new(&LocationSettings {
            country_headers: names.iter().map(|name| (*name).to_owned()).collect(),
            ..LocationSettings::default()
        })
        .unwrap();
        locator.locate(&headers, None, true).country
    };
    assert_eq!(order(&["CF-IPCountry", "X-Vercel-IP-Country"]), "AT");
    assert_eq!(order(&["X-Vercel-IP-Country", "CF-IPCountry"]), "CH");
    // Names are matched whatever their case on either side.
    assert_eq!(order(&["X-VERCEL-IP-COUNTRY"]), "CH");
    let mixed = vec![("CF-IPCountry".to_owned(), "AT".to_owned())];
    let locator = Locator::new(&LocationSettings {
        country_headers: vec!["cf-ipcountry".to_owned()],
        ..LocationSettings::default()
    })
    .unwrap();
    assert_eq!(locator.locate(&mixed, None, true).country, "AT");
}

#[test]
fn unnamed_headers_are_not_read() {
    let locator = Locator::new(&LocationSettings {
        country_headers: vec!["X-Vercel-IP-Country".to_owned()],
        ..LocationSettings::default()
    })
    .unwrap();
    let headers = pairs(&[("CF-IPCountry", "AT"), ("X-Vercel-IP-City", "Wien")]);
    assert_eq!(locator.locate(&headers, None, true), Location::default());
}

#[test]
fn placeholders_are_ignored() {
    let locator = edge_locator();
    for unknown in ["XX", "T1", "ZZ", "", "  "] {
        let headers = pairs(&[("CF-IPCountry", unknown)]);
        assert_eq!(locator.locate(&headers, None, true), Location::default(), "{unknown:?}");
    }
    // A placeholder leaves the field to the next name in the list.
    let headers = pairs(&[("CF-IPCountry", "T1"), ("X-AppEngine-Country", "nl")]);
    assert_eq!(locator.locate(&headers, None, true).country, "NL");
    // App Engine's unknown city and an empty region are no values either.
    let headers =
        pairs(&[("X-AppEngine-Country", "US"), ("X-AppEngine-Region", ""), ("X-AppEngine-City", "?")]);
    assert_eq!(locator.locate(&headers, None, true), location("US", "", ""));
}

#[test]
fn vercel_city_is_percent_decoded() {
    let headers = pairs(&[
        ("X-Vercel-IP-Country", "BR"),
        ("X-Vercel-IP-Country-Region", "SP"),
        ("X-Vercel-IP-City", "S%C3%A3o%20Paulo"),
    ]);
    assert_eq!(edge_locator().locate(&headers, None, true), location("BR", "SP", "São Paulo"));
}

#[test]
fn app_engine_values_are_normalised() {
    let headers = pairs(&[
        ("X-AppEngine-Country", "us"),
        ("X-AppEngine-Region", "ca"),
        ("X-AppEngine-City", "mountain view"),
    ]);
    assert_eq!(edge_locator().locate(&headers, None, true), location("US", "CA", "mountain view"));
}

#[test]
fn a_header_map_reads_the_same() {
    let mut map = http::HeaderMap::new();
    map.insert("cf-ipcountry", http::HeaderValue::from_static("DE"));
    map.insert("cf-region-code", http::HeaderValue::from_static("BE"));
    map.insert("x-vercel-ip-city", http::HeaderValue::from_static("Berlin"));
    let locator = edge_locator();
    assert_eq!(locator.locate_headers(&map, None, true), location("DE", "BE", "Berlin"));
    assert_eq!(locator.locate_headers(&map, None, false), Location::default());
}
