//! What counts as a country, region or city value, wherever it came from:
//! edges and databases say "unknown" in their own ways, and a value that is
//! not of the expected form is treated as absent rather than recorded as
//! evidence.

use percent_encoding::percent_decode_str;

/// Country values that edges send when they do not know: Cloudflare's `XX`
/// (no data) and `T1` (Tor exit), and App Engine's `ZZ`.
const UNKNOWN_COUNTRIES: [&str; 3] = ["XX", "T1", "ZZ"];

/// The city App Engine sends when it could not resolve one.
const UNKNOWN_CITY: &str = "?";

/// No real city name comes near this; a longer value is not a name.
const MAX_CITY_CHARS: usize = 128;

/// An ISO 3166-1 alpha-2 code, upper-cased; `None` for placeholders and
/// anything that is not two letters.
pub(crate) fn country(value: &str) -> Option<String> {
    let code = value.trim().to_ascii_uppercase();
    let is_alpha2 = code.len() == 2 && code.bytes().all(|byte| byte.is_ascii_uppercase());
    (is_alpha2 && !UNKNOWN_COUNTRIES.contains(&code.as_str())).then_some(code)
}

/// The subdivision part of an ISO 3166-2 code (one to three letters or
/// digits), upper-cased: App Engine sends it in lower case.
pub(crate) fn region(value: &str) -> Option<String> {
    let value = value.trim();
    // A whole ISO 3166-2 code (`US-CA`) keeps its subdivision part, which is
    // what CloudFront, Vercel and GeoIP2 give.
    let code = match value.split_once('-') {
        Some((country, subdivision))
            if country.len() == 2 && country.bytes().all(|byte| byte.is_ascii_alphabetic()) =>
        {
            subdivision
        }
        _ => value,
    };
    let is_code = (1..=3).contains(&code.len()) && code.bytes().all(|byte| byte.is_ascii_alphanumeric());
    is_code.then(|| code.to_ascii_uppercase())
}

/// A city's name as given; `None` for placeholders, and for values that are
/// empty, too long or hold control characters.
pub(crate) fn city(value: &str) -> Option<String> {
    let name = value.trim();
    let is_name = !name.is_empty()
        && name != UNKNOWN_CITY
        && name.chars().count() <= MAX_CITY_CHARS
        && !name.chars().any(char::is_control);
    is_name.then(|| name.to_owned())
}

/// A city from a header: percent-decoded first, since Vercel encodes the name
/// (`S%C3%A3o%20Paulo`) to keep the header ASCII. Other edges send names that
/// never hold `%` followed by two hex digits, so decoding them changes nothing.
pub(crate) fn city_header(value: &str) -> Option<String> {
    city(&percent_decode_str(value).decode_utf8_lossy())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn countries_are_upper_case_alpha2_codes() {
        assert_eq!(country("de").as_deref(), Some("DE"));
        assert_eq!(country(" US ").as_deref(), Some("US"));
        for rejected in ["", "XX", "xx", "T1", "ZZ", "DEU", "D", "Germany", "1A", "D-"] {
            assert_eq!(country(rejected), None, "{rejected:?}");
        }
    }

    #[test]
    fn regions_are_subdivision_codes() {
        assert_eq!(region("BY").as_deref(), Some("BY"));
        assert_eq!(region("ca").as_deref(), Some("CA"));
        assert_eq!(region("US-CA").as_deref(), Some("CA"));
        assert_eq!(region("13").as_deref(), Some("13"));
        assert_eq!(region("ENG").as_deref(), Some("ENG"));
        for rejected in ["", " ", "?", "California", "US-", "B Y", "ABCD"] {
            assert_eq!(region(rejected), None, "{rejected:?}");
        }
    }

    #[test]
    fn cities_are_names() {
        assert_eq!(city(" Munich ").as_deref(), Some("Munich"));
        assert_eq!(city("mountain view").as_deref(), Some("mountain view"));
        for rejected in ["", "  ", "?", "Mun\nich"] {
            assert_eq!(city(rejected), None, "{rejected:?}");
        }
        assert_eq!(city(&"a".repeat(MAX_CITY_CHARS + 1)), None);
        assert!(city(&"ä".repeat(MAX_CITY_CHARS)).is_some());
    }

    #[test]
    fn city_headers_are_percent_decoded() {
        assert_eq!(city_header("S%C3%A3o%20Paulo").as_deref(), Some("São Paulo"));
        assert_eq!(city_header("Seattle").as_deref(), Some("Seattle"));
        assert_eq!(city_header("100% Town").as_deref(), Some("100% Town"));
        // Decoding must not smuggle in what the plain checks refuse.
        assert_eq!(city_header("Mun%0Aich"), None);
        assert_eq!(city_header("%3F"), None);
    }
}
