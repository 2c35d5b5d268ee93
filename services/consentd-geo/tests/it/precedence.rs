//! Headers and the database together: headers win field by field, and the
//! database fills in only where it agrees with the coarser fields the
//! headers gave.

use crate::support::{ip, location, locator_with, pairs, two_networks};

const MUNICH: &str = "81.2.69.10";

#[test]
fn the_database_fills_the_fields_headers_leave_out() {
    let database = two_networks();
    let locator = locator_with(&database);
    let headers = pairs(&[("CF-IPCountry", "DE")]);
    assert_eq!(locator.locate(&headers, Some(ip(MUNICH)), true), location("DE", "BY", "Munich"));
}

#[test]
fn a_header_city_overrides_the_database_city_only() {
    let database = two_networks();
    let locator = locator_with(&database);
    let headers = pairs(&[("X-Vercel-IP-City", "N%C3%BCrnberg")]);
    assert_eq!(locator.locate(&headers, Some(ip(MUNICH)), true), location("DE", "BY", "Nürnberg"));
}

#[test]
fn every_header_field_overrides_the_database() {
    let database = two_networks();
    let locator = locator_with(&database);
    let headers = pairs(&[
        ("CloudFront-Viewer-Country", "AT"),
        ("CloudFront-Viewer-Country-Region", "9"),
        ("CloudFront-Viewer-City", "Vienna"),
    ]);
    assert_eq!(locator.locate(&headers, Some(ip(MUNICH)), true), location("AT", "9", "Vienna"));
}

#[test]
fn database_fields_of_another_country_are_left_out() {
    let database = two_networks();
    let locator = locator_with(&database);
    let headers = pairs(&[("CF-IPCountry", "FR")]);
    assert_eq!(locator.locate(&headers, Some(ip(MUNICH)), true), location("FR", "", ""));
    // Another region of the same country: the database's city is of the
    // database's region, so it is left out too.
    let headers = pairs(&[("CF-IPCountry", "DE"), ("CF-Region-Code", "BE")]);
    assert_eq!(locator.locate(&headers, Some(ip(MUNICH)), true), location("DE", "BE", ""));
}

#[test]
fn untrusted_headers_leave_the_database_alone() {
    let database = two_networks();
    let locator = locator_with(&database);
    let headers = pairs(&[("CF-IPCountry", "FR"), ("X-Vercel-IP-City", "Lyon")]);
    assert_eq!(locator.locate(&headers, Some(ip(MUNICH)), false), location("DE", "BY", "Munich"));
}

#[test]
fn placeholder_headers_leave_the_database_alone() {
    let database = two_networks();
    let locator = locator_with(&database);
    let headers = pairs(&[("CF-IPCountry", "XX"), ("X-AppEngine-City", "?")]);
    assert_eq!(locator.locate(&headers, Some(ip(MUNICH)), true), location("DE", "BY", "Munich"));
}
