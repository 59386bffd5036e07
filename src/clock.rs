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
    /// or an offset `±HH:MM`. `t` or a space may separate date and time; `z` is accepted.
    pub fn parse(text: &str) -> Result<Time, String> {
        let bad = || format!("`{text}` is not an RFC 3339 time such as 2026-11-23T12:00:00Z");
        let b = text.trim().as_bytes();
        if b.len() < 20 {
            return Err(bad());
        }
        let num = |range: std::ops::Range<usize>| -> Result<i64, String> {
            let part = b.get(range).ok_or_else(bad)?;
            if part.iter().all(u8::is_ascii_digit) {
                Ok(part.iter().fold(0i64, |n, d| n * 10 + i64::from(d - b'0')))
            } else {
                Err(bad())
            }
        };
        if b[4] != b'-' || b[7] != b'-' || !matches!(b[10], b'T' | b't' | b' ') {
            return Err(bad());
        }
        if b[13] != b':' || b[16] != b':' {
            return Err(bad());
        }
        let (year, month, day) = (num(0..4)?, num(5..7)?, num(8..10)?);
        let (hour, minute, second) = (num(11..13)?, num(14..16)?, num(17..19)?);
        if !(1..=12).contains(&month)
            || day < 1
            || day > days_in_month(year, month)
            || hour > 23
            || minute > 59
            || second > 60
        {
            return Err(bad());
        }
        let mut rest = &b[19..];
        if let Some(fraction) = rest.strip_prefix(b".") {
            let digits = fraction.iter().take_while(|c| c.is_ascii_digit()).count();
            if digits == 0 {
                return Err(bad());
            }
            rest = &fraction[digits..];
        }
        let offset = match rest {
            [b'Z' | b'z'] => 0,
            [sign @ (b'+' | b'-'), h1, h2, b':', m1, m2] => {
                let digits = [*h1, *h2, *m1, *m2];
                if !digits.iter().all(u8::is_ascii_digit) {
                    return Err(bad());
                }
                let hours = i64::from((h1 - b'0') * 10 + (h2 - b'0'));
                let minutes = i64::from((m1 - b'0') * 10 + (m2 - b'0'));
                let offset = hours * 3600 + minutes * 60;
                if *sign == b'-' { -offset } else { offset }
            }
            _ => return Err(bad()),
        };
        let days = days_from_civil(year, month, day);
        Ok(Time(
            days * 86_400 + hour * 3600 + minute * 60 + second.min(59) - offset,
        ))
    }
}

impl serde::Serialize for Time {
    /// As its RFC 3339 text.
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}

impl fmt::Display for Time {
    /// RFC 3339 in UTC, whole seconds: `2026-11-23T12:00:00Z`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let days = self.0.div_euclid(86_400);
        let secs = self.0.rem_euclid(86_400);
        let (year, month, day) = civil_from_days(days);
        write!(
            f,
            "{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}Z",
            secs / 3600,
            secs % 3600 / 60,
            secs % 60
        )
    }
}

fn is_leap(year: i64) -> bool {
    (year % 4 == 0 && year % 100 != 0) || year % 400 == 0
}

fn days_in_month(year: i64, month: i64) -> i64 {
    match month {
        2 if is_leap(year) => 29,
        2 => 28,
        4 | 6 | 9 | 11 => 30,
        _ => 31,
    }
}

/// Days since 1970-01-01 of a proleptic Gregorian date (Howard Hinnant's `days_from_civil`).
fn days_from_civil(year: i64, month: i64, day: i64) -> i64 {
    let y = if month <= 2 { year - 1 } else { year };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (month + 9) % 12;
    let doy = (153 * mp + 2) / 5 + day - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

/// The date of a day count since 1970-01-01 (the inverse of [`days_from_civil`]).
fn civil_from_days(days: i64) -> (i64, i64, i64) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    (year, month, day)
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
            "2026-11-23T12:00:00+0100",
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
