//! Reading the location that a trusted edge (a CDN or load balancer) put in
//! the request's headers.

use crate::location::Fields;
use crate::settings::LocationSettings;
use crate::values;

/// The configured header names, lower-cased once so that each request only
/// compares.
#[derive(Debug, Clone, Default)]
pub(crate) struct HeaderNames {
    country: Vec<String>,
    region: Vec<String>,
    city: Vec<String>,
}

impl HeaderNames {
    pub(crate) fn new(settings: &LocationSettings) -> Self {
        Self {
            country: lower_case(&settings.country_headers),
            region: lower_case(&settings.region_headers),
            city: lower_case(&settings.city_headers),
        }
    }

    /// Whether no header is named at all.
    pub(crate) fn is_empty(&self) -> bool {
        self.country.is_empty() && self.region.is_empty() && self.city.is_empty()
    }

    /// Each field from the first named header that gives a usable value;
    /// `get` returns a header's value by its lower-case name.
    pub(crate) fn read<'h>(&self, get: impl Fn(&str) -> Option<&'h str>) -> Fields {
        Fields {
            country: first(&self.country, &get, values::country),
            region: first(&self.region, &get, values::region),
            city: first(&self.city, &get, values::city_header),
        }
    }
}

fn lower_case(names: &[String]) -> Vec<String> {
    names.iter().map(|name| name.trim().to_ascii_lowercase()).filter(|name| !name.is_empty()).collect()
}

/// A placeholder in one header (`XX`) moves on to the next name, so an edge
/// that does not know does not hide one further down the list that does.
fn first<'h>(
    names: &[String],
    get: &impl Fn(&str) -> Option<&'h str>,
    usable: fn(&str) -> Option<String>,
) -> Option<String> {
    names.iter().find_map(|name| get(name).and_then(usable))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn names(country: &[&str]) -> HeaderNames {
        HeaderNames::new(&LocationSettings {
            country_headers: country.iter().map(|name| (*name).to_owned()).collect(),
            ..LocationSettings::default()
        })
    }

    #[test]
    fn names_are_lower_cased_and_blank_ones_dropped() {
        let names = names(&["CF-IPCountry", " ", " X-Country "]);
        assert_eq!(names.country, ["cf-ipcountry", "x-country"]);
        assert!(!names.is_empty());
        assert!(HeaderNames::default().is_empty());
    }

    #[test]
    fn a_placeholder_moves_on_to_the_next_name() {
        let names = names(&["cf-ipcountry", "x-country"]);
        let fields = names.read(|name| match name {
            "cf-ipcountry" => Some("XX"),
            "x-country" => Some("at"),
            _ => None,
        });
        assert_eq!(fields.country.as_deref(), Some("AT"));
        assert_eq!(fields.region, None);
    }
}
