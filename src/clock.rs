//! Wall-clock times as ferry writes and reads them: whole seconds in UTC, RFC 3339
//! (`2026-11-23T12:00:00Z`). Commands take "now" as an input (`--now`), so expiry can be tested
//! and asked about ("what would `gc` remove tomorrow?") without waiting.

use std::fmt;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// A point in time, in whole seconds since the Unix epoch (UTC).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Time(i64);

impl Time {
    /// The system clock.
    #[must_use]
    pub fn now() -> Time {
        let secs = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| d.as_secs());
        Time(i64::try_from(secs).unwrap_or(i64::MAX))
    }

    #[must_use]
    pub const fn from_unix(secs: i64) -> Time {
        Time(secs)
    }

    #[must_use]
    pub const fn unix(self) -> i64 {
        self.0
    }

    /// `self` plus `d` (saturating).
    #[must_use]
    pub fn after(self, d: Duration) -> Time {
        Time(
            self.0
                .saturating_add(i64::try_from(d.as_secs()).unwrap_or(i64::MAX)),
        )
    }

    /// How long from `self` until `later` (zero when `later` is not later).
    #[must_use]
    pub fn until(self, later: Time) -> Duration {
        Duration::from_secs(u64::try_from(later.0.saturating_sub(self.0)).unwrap_or(0))
    }

    /// Reads an RFC 3339 date-time: `YYYY-MM-DDTHH:MM:SS`, optional fraction (dropped), then `Z`
    /// or an offset `±HH:MM` (jiff's reading: `t` or a space may separate date and time, `z`
    /// is accepted, and so are ISO 8601's offsets without a colon).
    pub fn parse(text: &str) -> Result<Time, String> {
        let bad = || format!("`{text}` is not an RFC 3339 time such as 2026-11-23T12:00:00Z");
        let stamp: jiff::Timestamp = text.trim().parse().map_err(|_| bad())?;
        Ok(Time(stamp.as_second()))
    }
}

impl serde::Serialize for Time {
    /// As its RFC 3339 text.
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}

impl fmt::Display for Time {
    /// RFC 3339 in UTC, whole seconds: `2026-11-23T12:00:00Z` (clamped to the years 1-9999 on
    /// either side).
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let secs = self.0.clamp(
            jiff::Timestamp::MIN.as_second() + 1,
            jiff::Timestamp::MAX.as_second(),
        );
        let stamp = jiff::Timestamp::from_second(secs).unwrap_or(jiff::Timestamp::UNIX_EPOCH);
        write!(f, "{stamp}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn known_times_print_and_read_back() {
        assert_eq!(Time::from_unix(0).to_string(), "1970-01-01T00:00:00Z");
        assert_eq!(
            Time::from_unix(1_795_435_200).to_string(),
            "2026-11-23T12:00:00Z"
        );
        assert_eq!(
            Time::parse("2026-11-23T12:00:00Z"),
            Ok(Time::from_unix(1_795_435_200))
        );
        assert_eq!(
            Time::parse("2026-11-23T13:00:00.123+01:00"),
            Ok(Time::from_unix(1_795_435_200))
        );
        assert_eq!(
            Time::parse("2024-02-29 00:00:00z").map(|t| t.to_string()),
            Ok("2024-02-29T00:00:00Z".to_owned())
        );
        for bad in [
            "",
            "2026-11-23",
            "2026-13-01T00:00:00Z",
            "2025-02-29T00:00:00Z",
            "2026-11-23T24:00:00Z",
            "2026-11-23T12:00:00",
            "2026-11-23T12:00:00.Z",
            "２026-11-23T12:00:00Z",
        ] {
            assert!(Time::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn arithmetic_saturates() {
        let t = Time::from_unix(100);
        assert_eq!(t.after(Duration::from_secs(50)), Time::from_unix(150));
        assert_eq!(t.until(Time::from_unix(160)), Duration::from_secs(60));
        assert_eq!(t.until(Time::from_unix(10)), Duration::ZERO);
        assert_eq!(
            Time::from_unix(i64::MAX).after(Duration::MAX).unix(),
            i64::MAX
        );
    }

    proptest! {
        #[test]
        fn every_time_reads_back_as_itself(secs in -62_135_596_800i64..253_402_300_799) {
            let t = Time::from_unix(secs);
            prop_assert_eq!(Time::parse(&t.to_string()), Ok(t));
        }
    }
}
