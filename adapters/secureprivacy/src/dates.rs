//! The list's `FromDate` and `ToDate`: what a client may send, and the
//! window each names.

use consent_adapter::Failure;
use consent_core::Timestamp;

use crate::error::invalid;
use crate::read::shown;

const DAY_MICROS: i64 = 24 * 60 * 60 * 1_000_000;

/// A list date as the client meant it: a whole day, or an instant.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum DateBound {
    /// `2026-11-30`: that day, from midnight UTC.
    Date(Timestamp),
    /// `2026-11-30T12:00:00` (UTC), with an optional offset and fraction.
    DateTime(Timestamp),
}

impl DateBound {
    /// RFC 3339 with an offset, a date-time without one (taken as UTC, as
    /// .NET binds an unqualified `DateTime` on a UTC server), or a date.
    pub(crate) fn parse(name: &str, text: &str) -> Result<Self, Failure> {
        if let Some(at) = Timestamp::parse_rfc3339(text) {
            return Ok(Self::DateTime(at));
        }
        let is_date = text.len() == 10
            && text
                .bytes()
                .enumerate()
                .all(|(i, b)| if i == 4 || i == 7 { b == b'-' } else { b.is_ascii_digit() });
        if is_date {
            if let Some(at) = Timestamp::parse_rfc3339(&format!("{text}T00:00:00Z")) {
                return Ok(Self::Date(at));
            }
        } else if let Some(at) = Timestamp::parse_rfc3339(&format!("{text}Z")) {
            // Only a full date and time makes `<text>Z` RFC 3339: the
            // offset was all that was missing.
            return Ok(Self::DateTime(at));
        }
        Err(invalid(
            name,
            format!(
                "must be a date (2026-11-30) or a date-time (2026-11-30T12:00:00, optionally with an offset), got {}",
                shown(text)
            ),
        ))
    }

    /// The first instant the bound includes.
    pub(crate) const fn start(self) -> Timestamp {
        match self {
            Self::Date(at) | Self::DateTime(at) => at,
        }
    }

    /// The first instant after the bound: `ToDate` includes the whole day,
    /// or the instant itself.
    pub(crate) const fn end_exclusive(self) -> Timestamp {
        match self {
            Self::Date(at) => at.saturating_add_micros(DAY_MICROS),
            Self::DateTime(at) => at.saturating_add_micros(1),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(text: &str) -> Timestamp {
        Timestamp::parse_rfc3339(text).unwrap_or(Timestamp::EPOCH)
    }

    #[test]
    fn dates_dates_with_time_and_offsets_parse() {
        let parse = |text| DateBound::parse("FromDate", text);
        assert_eq!(parse("2026-11-30"), Ok(DateBound::Date(at("2026-11-30T00:00:00Z"))));
        assert_eq!(parse("2026-11-30T12:00:00"), Ok(DateBound::DateTime(at("2026-11-30T12:00:00Z"))));
        assert_eq!(parse("2026-11-30T12:00:00.25"), Ok(DateBound::DateTime(at("2026-11-30T12:00:00.25Z"))));
        assert_eq!(parse("2026-11-30T13:00:00+01:00"), Ok(DateBound::DateTime(at("2026-11-30T12:00:00Z"))));
        for bad in
            ["", "2026-11-31", "2026-1-30", "30/11/2026", "2026-11-30T25:00:00", "2026-11-30T12:00", "now"]
        {
            assert!(parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn to_date_includes_the_whole_day_or_the_instant() {
        let day = DateBound::Date(at("2026-11-30T00:00:00Z"));
        assert_eq!(day.end_exclusive(), at("2026-12-01T00:00:00Z"));
        let instant = DateBound::DateTime(at("2026-11-30T12:00:00Z"));
        assert_eq!(instant.end_exclusive(), at("2026-11-30T12:00:00.000001Z"));
    }
}
