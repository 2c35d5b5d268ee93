//! Instants as microseconds since the Unix epoch: exact, ordered, and the same
//! integer on SQLite and PostgreSQL.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use serde::{Deserialize, Serialize};

/// An instant, in microseconds since 1970-01-01T00:00:00Z.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct Timestamp(i64);

impl Timestamp {
    /// The Unix epoch.
    pub const EPOCH: Self = Self(0);

    /// The instant `micros` microseconds after the epoch.
    pub const fn from_micros(micros: i64) -> Self {
        Self(micros)
    }

    /// Microseconds since the epoch.
    pub const fn as_micros(self) -> i64 {
        self.0
    }

    /// The current time of the system clock.
    pub fn now() -> Self {
        let since_epoch = SystemTime::now().duration_since(UNIX_EPOCH).unwrap_or(Duration::ZERO);
        Self(i64::try_from(since_epoch.as_micros()).unwrap_or(i64::MAX))
    }

    /// From seconds and nanoseconds since the epoch (the protobuf shape);
    /// `None` outside the range `google.protobuf.Timestamp` allows
    /// (0001-01-01 to 9999-12-31), which other clients would reject.
    pub fn from_seconds_nanos(seconds: i64, nanos: i32) -> Option<Self> {
        const MIN_SECONDS: i64 = -62_135_596_800;
        const MAX_SECONDS: i64 = 253_402_300_799;
        if !(0..1_000_000_000).contains(&nanos) || !(MIN_SECONDS..=MAX_SECONDS).contains(&seconds) {
            return None;
        }
        seconds.checked_mul(1_000_000)?.checked_add(i64::from(nanos) / 1_000).map(Self)
    }

    /// Seconds and nanoseconds since the epoch (the protobuf shape).
    pub fn to_seconds_nanos(self) -> (i64, i32) {
        let seconds = self.0.div_euclid(1_000_000);
        let micros = self.0.rem_euclid(1_000_000);
        // `micros` is below 10^6, so the nanoseconds fit an i32.
        (seconds, i32::try_from(micros * 1_000).unwrap_or(0))
    }

    /// RFC 3339 in UTC with microseconds: `2026-12-01T10:46:01.123456Z`.
    pub fn to_rfc3339(self) -> String {
        chrono::DateTime::from_timestamp_micros(self.0)
            .map_or_else(|| self.0.to_string(), |at| at.to_rfc3339_opts(chrono::SecondsFormat::Micros, true))
    }

    /// An RFC 3339 date-time with an offset (`2026-12-01T10:46:01Z`,
    /// `2026-12-01T11:46:01.5+01:00`); `None` for anything else or outside
    /// the protobuf range.
    pub fn parse_rfc3339(text: &str) -> Option<Self> {
        let at = chrono::DateTime::parse_from_rfc3339(text).ok()?;
        Self::from_seconds_nanos(at.timestamp(), i32::try_from(at.timestamp_subsec_nanos()).ok()?)
    }

    /// This instant moved by `micros` microseconds, saturating.
    pub const fn saturating_add_micros(self, micros: i64) -> Self {
        Self(self.0.saturating_add(micros))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rfc3339_round_trips_with_microseconds() {
        let at = Timestamp::from_micros(1_764_585_961_123_456);
        assert_eq!(at.to_rfc3339(), "2025-12-01T10:46:01.123456Z");
        assert_eq!(Timestamp::parse_rfc3339(&at.to_rfc3339()), Some(at));
        assert_eq!(
            Timestamp::parse_rfc3339("2025-12-01T11:46:01.123456+01:00"),
            Some(at),
            "offsets are honoured"
        );
        assert_eq!(Timestamp::parse_rfc3339("2025-12-01"), None);
        assert_eq!(Timestamp::parse_rfc3339("yesterday"), None);
    }
}
