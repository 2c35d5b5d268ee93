//! The `[gateway.location]` settings: which edge headers to believe and
//! which GeoIP2 database to read.

use std::path::PathBuf;

use serde::{Deserialize, Serialize};

/// `[gateway.location]`: where the gateway may learn a request's location.
///
/// Nothing is believed by default: a header counts only when it is named here
/// (and then only for requests that came through a trusted proxy), and a
/// database is read only when one is named.
#[derive(Debug, Clone, PartialEq, Eq, Default, Deserialize, Serialize)]
#[serde(default, deny_unknown_fields)]
pub struct LocationSettings {
    /// Header names giving the country (ISO 3166-1 alpha-2), tried in order
    /// (case-insensitive). Default: empty (none believed).
    pub country_headers: Vec<String>,
    /// Header names giving the region (the subdivision part of an ISO 3166-2
    /// code, such as `BY`), tried in order (case-insensitive). Default: empty.
    pub region_headers: Vec<String>,
    /// Header names giving the city's name, tried in order
    /// (case-insensitive); percent-encoding in their values is decoded.
    /// Default: empty.
    pub city_headers: Vec<String>,
    /// A GeoIP2/GeoLite2 City or Country database (.mmdb). Default: none.
    pub geoip_database: Option<PathBuf>,
}

impl LocationSettings {
    /// Settings naming the well-known headers of CloudFront, Cloudflare,
    /// Vercel and App Engine, in that order, and no database.
    ///
    /// Name only the headers that the deployment's own edge sets (or strips
    /// from what clients send): an edge passes on other headers as the client
    /// wrote them, and these lists are tried in order until one gives a value.
    pub fn common_edge_headers() -> Self {
        Self {
            country_headers: names(&[
                "CloudFront-Viewer-Country",
                "CF-IPCountry",
                "X-Vercel-IP-Country",
                "X-AppEngine-Country",
            ]),
            region_headers: names(&[
                "CloudFront-Viewer-Country-Region",
                // Cloudflare's "visitor location headers" managed transform.
                "CF-Region-Code",
                "X-Vercel-IP-Country-Region",
                "X-AppEngine-Region",
            ]),
            city_headers: names(&[
                "CloudFront-Viewer-City",
                "CF-IPCity",
                "X-Vercel-IP-City",
                "X-AppEngine-City",
            ]),
            geoip_database: None,
        }
    }
}

fn names(names: &[&str]) -> Vec<String> {
    names.iter().map(|name| (*name).to_owned()).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_believe_nothing() {
        let settings: LocationSettings = toml::from_str("").unwrap();
        assert_eq!(settings, LocationSettings::default());
        assert!(settings.country_headers.is_empty());
        assert!(settings.geoip_database.is_none());
    }

    #[test]
    fn reads_every_field() {
        let settings: LocationSettings = toml::from_str(
            r#"
            country_headers = ["CF-IPCountry"]
            region_headers = ["X-Region"]
            city_headers = ["X-City"]
            geoip_database = "/var/lib/geoip/GeoLite2-City.mmdb"
            "#,
        )
        .unwrap();
        assert_eq!(settings.country_headers, ["CF-IPCountry"]);
        assert_eq!(settings.region_headers, ["X-Region"]);
        assert_eq!(settings.city_headers, ["X-City"]);
        assert_eq!(settings.geoip_database, Some(PathBuf::from("/var/lib/geoip/GeoLite2-City.mmdb")));
    }

    #[test]
    fn unknown_fields_are_refused() {
        let error = toml::from_str::<LocationSettings>("country_header = [\"CF-IPCountry\"]")
            .unwrap_err()
            .to_string();
        assert!(error.contains("country_header"), "{error}");
    }

    #[test]
    fn common_edge_headers_name_every_edge_for_every_field() {
        let settings = LocationSettings::common_edge_headers();
        for list in [&settings.country_headers, &settings.region_headers, &settings.city_headers] {
            assert_eq!(list.len(), 4, "{list:?}");
        }
        assert_eq!(settings.country_headers[0], "CloudFront-Viewer-Country");
        assert!(settings.geoip_database.is_none());
    }
}
