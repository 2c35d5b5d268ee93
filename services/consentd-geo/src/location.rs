//! A request's location, and how what the headers say and what the database
//! says are put together.

/// Where a request came from. An empty string means unknown.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Location {
    /// The ISO 3166-1 alpha-2 country code, upper-case (`DE`).
    pub country: String,
    /// The subdivision part of the ISO 3166-2 code, as GeoIP2's
    /// `subdivisions[0].iso_code` gives it (`BY`).
    pub region: String,
    /// The city's name, in English where the source has languages.
    pub city: String,
}

/// What one source said; `None` where it said nothing usable.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct Fields {
    pub(crate) country: Option<String>,
    pub(crate) region: Option<String>,
    pub(crate) city: Option<String>,
}

impl Fields {
    /// Whether every field is known, so that no other source is needed.
    pub(crate) fn is_complete(&self) -> bool {
        self.country.is_some() && self.region.is_some() && self.city.is_some()
    }

    /// These fields (the headers') over `database`'s.
    ///
    /// Each field these give wins. The database fills a missing field only
    /// while it agrees with every coarser field these gave: a region means
    /// something only inside its country, and a city inside its region, so
    /// an edge's `FR` with the database's `BY` (of `DE`) would record a place
    /// that does not exist.
    pub(crate) fn over(self, database: Fields) -> Location {
        let mut agrees = true;
        Location {
            country: pick(self.country, database.country, &mut agrees),
            region: pick(self.region, database.region, &mut agrees),
            city: pick(self.city, database.city, &mut agrees),
        }
    }
}

/// One field, coarsest first: the given value if any (noting whether the
/// fallback agrees with it), else the fallback while it has agreed so far.
fn pick(given: Option<String>, fallback: Option<String>, agrees: &mut bool) -> String {
    match given {
        Some(value) => {
            *agrees &= fallback.as_deref() == Some(value.as_str());
            value
        }
        None if *agrees => fallback.unwrap_or_default(),
        None => String::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fields(country: &str, region: &str, city: &str) -> Fields {
        let known = |value: &str| (!value.is_empty()).then(|| value.to_owned());
        Fields { country: known(country), region: known(region), city: known(city) }
    }

    fn location(country: &str, region: &str, city: &str) -> Location {
        Location { country: country.to_owned(), region: region.to_owned(), city: city.to_owned() }
    }

    #[test]
    fn each_source_alone() {
        let munich = fields("DE", "BY", "Munich");
        assert_eq!(Fields::default().over(munich.clone()), location("DE", "BY", "Munich"));
        assert_eq!(munich.over(Fields::default()), location("DE", "BY", "Munich"));
        assert_eq!(Fields::default().over(Fields::default()), Location::default());
    }

    #[test]
    fn the_database_fills_what_the_headers_leave_out() {
        let database = fields("DE", "BY", "Munich");
        assert_eq!(fields("DE", "", "").over(database.clone()), location("DE", "BY", "Munich"));
        assert_eq!(fields("", "", "Nuremberg").over(database.clone()), location("DE", "BY", "Nuremberg"));
        assert_eq!(fields("DE", "BY", "").over(database), location("DE", "BY", "Munich"));
    }

    #[test]
    fn the_database_stops_where_it_disagrees() {
        let database = fields("DE", "BY", "Munich");
        assert_eq!(fields("FR", "", "").over(database.clone()), location("FR", "", ""));
        assert_eq!(fields("DE", "BE", "").over(database.clone()), location("DE", "BE", ""));
        assert_eq!(fields("", "BE", "").over(database), location("DE", "BE", ""));
    }

    #[test]
    fn complete_only_with_every_field() {
        assert!(fields("DE", "BY", "Munich").is_complete());
        assert!(!fields("DE", "BY", "").is_complete());
    }
}
