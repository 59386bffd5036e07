//! Promotion time windows as `ferry.yaml` writes them: `Mon-Fri 09:00-17:00 Europe/Berlin`.
//!
//! A window is `DAYS HH:MM-HH:MM [ZONE]`:
//! - DAYS is a comma list (no spaces) of days and day ranges: `Mon`, `Mon-Fri`, `Sat,Sun`,
//!   `Fri-Mon` (a range may wrap over the end of the week), or `*` / `daily` for every day. Day
//!   names are three-letter abbreviations or full names, in any case (`mon`, `Monday`).
//! - The time range is wall-clock time in ZONE; the end may be `24:00`. An end before the start
//!   (`22:00-06:00`) runs over midnight into the next day: the days name the day it opens.
//! - ZONE is an IANA name (`Europe/Berlin`), `UTC`, or a fixed offset (`+02:00`, `-05:30`); it
//!   defaults to UTC. IANA names are looked up in the system's time zone database
//!   (`/usr/share/zoneinfo`, kept up to date by the OS), then in a copy of the database bundled
//!   into ferry, so a machine or container without tzdata reads them too.
//!
//! Wall-clock times follow the zone's daylight saving time: 09:00 Europe/Berlin is 07:00 UTC in
//! summer and 08:00 UTC in winter. A wall-clock time that a DST change skips or repeats is
//! resolved the "compatible" way (as RFC 5545 and JavaScript's Temporal do): a skipped time
//! (02:30 on the spring-forward night) is read with the offset before the change, which lands
//! after the gap (03:30 summer time); a repeated time (02:30 on the fall-back night) is its first
//! occurrence (still summer time). So `daily 02:00-04:00 Europe/Berlin` is open one hour on the
//! spring-forward night and three on the fall-back night, and `daily 02:30-03:30` does not open
//! on the spring-forward night at all.
//!
//! Instants are Unix seconds, so callers need not depend on the date-time library.

use std::borrow::Cow;
use std::fmt;
use std::str::FromStr;

use jiff::civil::{Date, Time};
use jiff::tz::{Offset, TimeZone, TimeZoneDatabase};
use jiff::{Span, Timestamp};
use schemars::{JsonSchema, Schema, SchemaGenerator, json_schema};
use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// The accepted form, for error messages and documentation.
pub const WINDOW_FORM: &str = "DAYS HH:MM-HH:MM [ZONE], \
     e.g. `Mon-Fri 09:00-17:00 Europe/Berlin`, `Sat,Sun 22:00-06:00 +02:00` or `daily 00:00-24:00`";

/// Day names, Monday first (the bit order of a window's days).
const DAY_NAMES: [&str; 7] = [
    "monday",
    "tuesday",
    "wednesday",
    "thursday",
    "friday",
    "saturday",
    "sunday",
];

/// Every day of the week.
const ALL_DAYS: u8 = 0b111_1111;

/// Minutes in a (wall-clock) day.
const DAY_MINUTES: u16 = 24 * 60;

/// How many days [`Window::next_open`] looks ahead before it gives up: more than a year, so a
/// window that a DST rule keeps shut on some days still finds its next opening.
const SEARCH_DAYS: usize = 800;

/// A promotion time window, such as `Mon-Fri 09:00-17:00 Europe/Berlin`.
///
/// See the [module documentation](self) for the grammar and how daylight saving time is handled.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Window {
    /// The text as written, trimmed.
    text: String,
    /// Bit `i` set: the window opens on weekday `i` (Monday is 0).
    days: u8,
    /// Opening wall-clock time, in minutes after midnight (`0..1440`).
    start: u16,
    /// Closing wall-clock time, in minutes after midnight (`0..=1440`, never equal to `start`).
    /// At or before `start`, or 1440, it is on the next day.
    end: u16,
    /// The zone of the wall-clock times.
    zone: TimeZone,
}

/// Why a time window string was rejected.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid time window `{text}`: {reason}; expected {WINDOW_FORM}")]
pub struct WindowError {
    text: String,
    reason: String,
}

impl WindowError {
    fn new(text: &str, reason: String) -> Self {
        Self {
            text: shown(text),
            reason,
        }
    }

    /// What is wrong with the text (naming the offending word), without the accepted form.
    #[must_use]
    pub fn reason(&self) -> &str {
        &self.reason
    }
}

impl Window {
    /// Reads a window written as `DAYS HH:MM-HH:MM [ZONE]` (see the [module documentation](self)).
    pub fn parse(text: &str) -> Result<Window, WindowError> {
        let text = text.trim();
        let fail = |reason: String| WindowError::new(text, reason);
        let mut words = text.split_whitespace();
        let Some(days_word) = words.next() else {
            return Err(fail("it is empty".to_owned()));
        };
        let days = parse_days(days_word).map_err(fail)?;
        let Some(times_word) = words.next() else {
            return Err(fail(format!(
                "the time range is missing after `{}`, e.g. 09:00-17:00",
                shown(days_word)
            )));
        };
        let (start, end) = parse_times(times_word).map_err(fail)?;
        let zone = match words.next() {
            Some(word) => parse_zone(word).map_err(fail)?,
            None => TimeZone::UTC,
        };
        if let Some(extra) = words.next() {
            return Err(fail(format!(
                "unexpected word `{}` after the time zone",
                shown(extra)
            )));
        }
        Ok(Window {
            text: text.to_owned(),
            days,
            start,
            end,
            zone,
        })
    }

    /// Whether the window is open at `unix_seconds` (opening instant included, closing excluded).
    #[must_use]
    pub fn contains(&self, unix_seconds: i64) -> bool {
        let Some(today) = self.local_date(unix_seconds) else {
            return false;
        };
        // An opening on the day before (over midnight) or, around DST changes near midnight,
        // a day further on either side may cover this instant.
        let first = shift(today, -2).unwrap_or(today);
        days_from(first)
            .take(4)
            .filter_map(|date| self.occurrence(date))
            .any(|(open, close)| open <= unix_seconds && unix_seconds < close)
    }

    /// The next instant >= `unix_seconds` at which the window is open (None only if never).
    ///
    /// That is `unix_seconds` itself when the window is open then, and otherwise the next opening.
    /// An instant before the earliest one the date-time library represents (year -9999) is
    /// treated as that earliest one; after the latest one (year 9999) the window never opens.
    #[must_use]
    pub fn next_open(&self, unix_seconds: i64) -> Option<i64> {
        if self.contains(unix_seconds) {
            return Some(unix_seconds);
        }
        let from = unix_seconds.max(Timestamp::MIN.as_second());
        let today = self.local_date(from)?;
        let first = shift(today, -2).unwrap_or(today);
        // Openings are nearly in date order: only a DST change can put a later day's opening
        // a few hours before an earlier day's, so two more days after the first hit settle it.
        let mut best: Option<(i64, usize)> = None;
        for (index, date) in days_from(first).take(SEARCH_DAYS).enumerate() {
            if let Some((_, found_at)) = best
                && index > found_at + 2
            {
                break;
            }
            if let Some((open, _)) = self.occurrence(date)
                && open >= from
                && best.is_none_or(|(earliest, _)| open < earliest)
            {
                best = Some((open, index));
            }
        }
        best.map(|(open, _)| open)
    }

    /// The opening and closing instants of the window opening on local `date`, if it opens
    /// that day (and is not shut all of it by a DST change).
    fn occurrence(&self, date: Date) -> Option<(i64, i64)> {
        let weekday = date.weekday().to_monday_zero_offset();
        if self.days & (1 << weekday) == 0 {
            return None;
        }
        let open = self.instant(date, self.start)?;
        let close = if self.end <= self.start || self.end == DAY_MINUTES {
            self.instant(date.tomorrow().ok()?, self.end % DAY_MINUTES)?
        } else {
            self.instant(date, self.end)?
        };
        (open < close).then_some((open, close))
    }

    /// The instant of wall-clock time `minutes` after midnight on `date`, with the compatible
    /// disambiguation (a skipped time lands after the gap; a repeated one is the first).
    fn instant(&self, date: Date, minutes: u16) -> Option<i64> {
        let hour = i8::try_from(minutes / 60).ok()?;
        let minute = i8::try_from(minutes % 60).ok()?;
        let time = Time::new(hour, minute, 0, 0).ok()?;
        let timestamp = self.zone.to_timestamp(date.to_datetime(time)).ok()?;
        Some(timestamp.as_second())
    }

    /// The local date at `unix_seconds`, if the date-time library represents that instant.
    fn local_date(&self, unix_seconds: i64) -> Option<Date> {
        let timestamp = Timestamp::from_second(unix_seconds).ok()?;
        Some(self.zone.to_datetime(timestamp).date())
    }
}

/// Whether any window is open at `unix_seconds`; an empty list means always open.
#[must_use]
pub fn any_open(windows: &[Window], unix_seconds: i64) -> bool {
    windows.is_empty() || windows.iter().any(|w| w.contains(unix_seconds))
}

/// The earliest next opening across windows (see [`Window::next_open`]).
///
/// An empty list is always open, so the answer for it is `unix_seconds` itself, as [`any_open`]
/// has it.
#[must_use]
pub fn next_opening(windows: &[Window], unix_seconds: i64) -> Option<i64> {
    if windows.is_empty() {
        return Some(unix_seconds);
    }
    windows
        .iter()
        .filter_map(|w| w.next_open(unix_seconds))
        .min()
}

impl fmt::Display for Window {
    /// The text as written, trimmed.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.text)
    }
}

impl FromStr for Window {
    type Err = WindowError;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        Window::parse(text)
    }
}

impl Serialize for Window {
    /// As its text.
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for Window {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let text = String::deserialize(deserializer)?;
        Window::parse(&text).map_err(serde::de::Error::custom)
    }
}

impl JsonSchema for Window {
    fn schema_name() -> Cow<'static, str> {
        "Window".into()
    }

    fn schema_id() -> Cow<'static, str> {
        concat!(module_path!(), "::Window").into()
    }

    fn json_schema(_generator: &mut SchemaGenerator) -> Schema {
        json_schema!({
            "type": "string",
            "description": "A time window: DAYS HH:MM-HH:MM [ZONE]. DAYS is a comma list of days (Mon or Monday) and day ranges (Mon-Fri, Fri-Mon), or * or daily; an end before the start runs over midnight, 24:00 is the end of the day; ZONE is an IANA name, UTC (the default) or an offset such as +02:00.",
            "minLength": 1,
            "examples": ["Mon-Fri 09:00-17:00 Europe/Berlin", "Sat,Sun 22:00-06:00 +02:00", "daily 00:00-24:00"]
        })
    }
}

/// Reads the DAYS word into a bit set (bit 0 is Monday).
fn parse_days(word: &str) -> Result<u8, String> {
    if word.contains(':') {
        return Err(format!(
            "the window must start with its days (e.g. Mon-Fri or daily), not `{}`",
            shown(word)
        ));
    }
    let mut days = 0u8;
    for item in word.split(',') {
        if item.is_empty() {
            return Err(format!(
                "the day list `{}` has an empty item (write days without spaces, e.g. Sat,Sun)",
                shown(word)
            ));
        }
        if item == "*" || item.eq_ignore_ascii_case("daily") {
            days = ALL_DAYS;
            continue;
        }
        match item.split_once('-') {
            Some((from, to)) => {
                let (first, last) = (day(from, word)?, day(to, word)?);
                let mut current = first;
                days |= 1 << current;
                while current != last {
                    current = (current + 1) % 7;
                    days |= 1 << current;
                }
            }
            None => days |= 1 << day(item, word)?,
        }
    }
    Ok(days)
}

/// The weekday number (Monday is 0) of a day name in `word`.
fn day(name: &str, word: &str) -> Result<u8, String> {
    if name.is_empty() {
        return Err(format!(
            "a day is missing in `{}` (write a range as Mon-Fri)",
            shown(word)
        ));
    }
    let lower = name.to_ascii_lowercase();
    let found = DAY_NAMES
        .iter()
        .position(|full| lower == *full || (lower.len() == 3 && full.starts_with(&lower)));
    match found.and_then(|index| u8::try_from(index).ok()) {
        Some(index) => Ok(index),
        None => Err(format!(
            "`{}` in `{}` is not a day (write Mon to Sun or Monday to Sunday, or * or daily)",
            shown(name),
            shown(word)
        )),
    }
}

/// Reads `HH:MM-HH:MM` into opening and closing minutes after midnight.
fn parse_times(word: &str) -> Result<(u16, u16), String> {
    let Some((start, end)) = word.split_once('-') else {
        return Err(format!(
            "`{}` is not a time range HH:MM-HH:MM such as 09:00-17:00",
            shown(word)
        ));
    };
    let start = clock(start, word, false)?;
    let end = clock(end, word, true)?;
    if start == end {
        return Err(format!(
            "the time range `{}` opens and closes at the same time (write 00:00-24:00 for the \
             whole day)",
            shown(word)
        ));
    }
    Ok((start, end))
}

/// Reads `HH:MM` (or `H:MM`) into minutes after midnight; `24:00` only as the end.
fn clock(part: &str, word: &str, is_end: bool) -> Result<u16, String> {
    let not_a_time = || {
        format!(
            "`{}` in `{}` is not a time HH:MM such as 09:00",
            shown(part),
            shown(word)
        )
    };
    let (hours, minutes) = part.split_once(':').ok_or_else(not_a_time)?;
    let digits = |s: &str, lengths: std::ops::RangeInclusive<usize>| {
        lengths.contains(&s.len()) && s.bytes().all(|b| b.is_ascii_digit())
    };
    if !digits(hours, 1..=2) || !digits(minutes, 2..=2) {
        return Err(not_a_time());
    }
    let hours: u16 = hours.parse().map_err(|_| not_a_time())?;
    let minutes: u16 = minutes.parse().map_err(|_| not_a_time())?;
    let in_range = minutes < 60 && (hours < 24 || (is_end && hours == 24 && minutes == 0));
    if !in_range {
        return Err(format!(
            "`{}` in `{}` is not a time of day (hours run 00-23 and minutes 00-59; 24:00 only \
             as the end)",
            shown(part),
            shown(word)
        ));
    }
    Ok(hours * 60 + minutes)
}

/// Reads the ZONE word: `UTC`, a fixed offset `±HH:MM`, or an IANA name.
fn parse_zone(word: &str) -> Result<TimeZone, String> {
    if word.eq_ignore_ascii_case("utc") {
        return Ok(TimeZone::UTC);
    }
    if word.starts_with(['+', '-']) {
        return fixed_offset(word).ok_or_else(|| {
            format!(
                "`{}` is not an offset (write ±HH:MM such as +02:00 or -05:30)",
                shown(word)
            )
        });
    }
    zone_named(jiff::tz::db(), word).ok_or_else(|| {
        format!(
            "`{}` is not a known time zone (write an IANA name such as Europe/Berlin, UTC, or an \
             offset such as +02:00)",
            shown(word)
        )
    })
}

/// A fixed offset `+HH:MM` or `-HH:MM` (hours 00-23, minutes 00-59).
fn fixed_offset(word: &str) -> Option<TimeZone> {
    let &[sign, h1, h2, b':', m1, m2] = word.as_bytes() else {
        return None;
    };
    if ![h1, h2, m1, m2].iter().all(u8::is_ascii_digit) {
        return None;
    }
    let hours = i32::from(h1 - b'0') * 10 + i32::from(h2 - b'0');
    let minutes = i32::from(m1 - b'0') * 10 + i32::from(m2 - b'0');
    if hours > 23 || minutes > 59 {
        return None;
    }
    let seconds = (hours * 60 + minutes) * 60;
    let seconds = if sign == b'-' { -seconds } else { seconds };
    Offset::from_seconds(seconds).ok().map(TimeZone::fixed)
}

/// The IANA zone `name` (any case) from `primary`, or else from the database bundled into ferry.
fn zone_named(primary: &TimeZoneDatabase, name: &str) -> Option<TimeZone> {
    primary
        .get(name)
        .or_else(|_| TimeZoneDatabase::bundled().get(name))
        .ok()
}

/// `date` moved by `days` days.
fn shift(date: Date, days: i64) -> Option<Date> {
    date.checked_add(Span::new().try_days(days).ok()?).ok()
}

/// `first` and the days after it, as far as the date-time library goes.
fn days_from(first: Date) -> impl Iterator<Item = Date> {
    std::iter::successors(Some(first), |date| date.tomorrow().ok())
}

/// `text` with control characters escaped, for error messages.
fn shown(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        if c.is_control() {
            out.extend(c.escape_default());
        } else {
            out.push(c);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    /// Unix seconds of an RFC 3339 instant.
    fn at(text: &str) -> i64 {
        text.parse::<Timestamp>()
            .unwrap_or_else(|e| panic!("{text}: {e}"))
            .as_second()
    }

    fn window(text: &str) -> Window {
        Window::parse(text).unwrap_or_else(|e| panic!("{e}"))
    }

    fn error(text: &str) -> String {
        match Window::parse(text) {
            Ok(w) => panic!("`{text}` parsed as {w:?}"),
            Err(e) => e.to_string(),
        }
    }

    #[test]
    fn every_form_parses() {
        let mon_fri = window("Mon-Fri 09:00-17:00 Europe/Berlin");
        assert_eq!(mon_fri.days, 0b001_1111);
        assert_eq!((mon_fri.start, mon_fri.end), (9 * 60, 17 * 60));
        assert_eq!(mon_fri.zone.iana_name(), Some("Europe/Berlin"));

        assert_eq!(window("Sat,Sun 10:00-12:00").days, 0b110_0000);
        assert_eq!(window("Sat,Sun 10:00-12:00").zone, TimeZone::UTC);
        assert_eq!(window("Fri-Mon 10:00-12:00").days, 0b111_0001);
        assert_eq!(window("Sun-Sun 10:00-12:00").days, 0b100_0000);
        assert_eq!(window("Mon,Wed-Thu,sat 10:00-12:00").days, 0b010_1101);
        assert_eq!(window("Monday-FRIDAY 10:00-12:00").days, 0b001_1111);
        assert_eq!(window("tue 10:00-12:00").days, 0b000_0010);
        for every_day in ["*", "daily", "Daily", "DAILY", "Mon,*"] {
            assert_eq!(window(&format!("{every_day} 10:00-12:00")).days, ALL_DAYS);
        }

        let night = window("daily 22:00-06:00 utc");
        assert_eq!((night.start, night.end), (22 * 60, 6 * 60));
        assert_eq!(night.zone, TimeZone::UTC);
        let whole = window("* 00:00-24:00 UTC");
        assert_eq!((whole.start, whole.end), (0, DAY_MINUTES));
        assert_eq!(window("Mon 9:30-17:05").start, 9 * 60 + 30);

        let plus = window("Mon 09:00-17:00 +02:00");
        assert_eq!(
            plus.zone,
            TimeZone::fixed(Offset::from_seconds(7200).unwrap())
        );
        let minus = window("Mon 09:00-17:00 -05:30");
        assert_eq!(
            minus.zone,
            TimeZone::fixed(Offset::from_seconds(-(5 * 3600 + 1800)).unwrap())
        );
        assert_eq!(
            window("Mon 09:00-17:00 america/new_york").zone.iana_name(),
            Some("America/New_York")
        );
    }

    #[test]
    fn display_is_the_trimmed_text_and_serde_round_trips() {
        let w = window("  Mon-Fri  09:00-17:00\tEurope/Berlin \n");
        assert_eq!(w.to_string(), "Mon-Fri  09:00-17:00\tEurope/Berlin");
        assert_eq!(
            "Sat 10:00-11:00".parse::<Window>(),
            Ok(window("Sat 10:00-11:00"))
        );
        let json = serde_json::to_string(&w).unwrap();
        assert_eq!(json, r#""Mon-Fri  09:00-17:00\tEurope/Berlin""#);
        assert_eq!(serde_json::from_str::<Window>(&json).unwrap(), w);
        let bad = serde_json::from_str::<Window>(r#""Mon 25:00-26:00""#).unwrap_err();
        assert!(bad.to_string().contains("`25:00`"), "{bad}");
    }

    #[test]
    fn bad_windows_say_what_is_wrong_where() {
        let cases = [
            ("", "it is empty"),
            ("   ", "it is empty"),
            ("Mnn 09:00-17:00", "`Mnn` in `Mnn` is not a day"),
            ("Mon-Fry 09:00-17:00", "`Fry` in `Mon-Fry` is not a day"),
            ("Mo 09:00-17:00", "`Mo` in `Mo` is not a day"),
            ("Mon- 09:00-17:00", "a day is missing in `Mon-`"),
            (
                "Sat, Sun 09:00-17:00",
                "the day list `Sat,` has an empty item",
            ),
            ("09:00-17:00 UTC", "must start with its days"),
            ("Mon-Fri", "the time range is missing after `Mon-Fri`"),
            ("Mon 0900-1700", "`0900` in `0900-1700` is not a time HH:MM"),
            ("Mon 09:00", "`09:00` is not a time range"),
            ("Mon 09:00-17", "`17` in `09:00-17` is not a time HH:MM"),
            (
                "Mon 09:0-17:00",
                "`09:0` in `09:0-17:00` is not a time HH:MM",
            ),
            ("Mon 9h-17h", "`9h` in `9h-17h` is not a time HH:MM"),
            (
                "Mon 09:00-17:00-18:00",
                "`17:00-18:00` in `09:00-17:00-18:00`",
            ),
            (
                "Mon 25:00-26:00",
                "`25:00` in `25:00-26:00` is not a time of day",
            ),
            (
                "Mon 09:00-24:30",
                "`24:30` in `09:00-24:30` is not a time of day",
            ),
            (
                "Mon 24:00-06:00",
                "`24:00` in `24:00-06:00` is not a time of day",
            ),
            (
                "Mon 09:60-17:00",
                "`09:60` in `09:60-17:00` is not a time of day",
            ),
            ("Mon 09:00-09:00", "opens and closes at the same time"),
            (
                "Mon 09:00-17:00 Europe/Berln",
                "`Europe/Berln` is not a known time zone",
            ),
            ("Mon 09:00-17:00 CEST", "`CEST` is not a known time zone"),
            ("Mon 09:00-17:00 +2", "`+2` is not an offset"),
            ("Mon 09:00-17:00 +0200", "`+0200` is not an offset"),
            ("Mon 09:00-17:00 +24:00", "`+24:00` is not an offset"),
            ("Mon 09:00-17:00 UTC extra", "unexpected word `extra`"),
            ("Mon\u{0} 09:00-17:00", "`Mon\\u{0}`"),
        ];
        for (text, reason) in cases {
            let message = error(text);
            assert!(message.contains(reason), "{text:?}: {message}");
            assert!(
                message.contains("e.g. `Mon-Fri 09:00-17:00 Europe/Berlin`"),
                "{text:?}: {message}"
            );
        }
        assert_eq!(
            error("Mon 25:00-26:00"),
            "invalid time window `Mon 25:00-26:00`: `25:00` in `25:00-26:00` is not a time of \
             day (hours run 00-23 and minutes 00-59; 24:00 only as the end); expected DAYS \
             HH:MM-HH:MM [ZONE], e.g. `Mon-Fri 09:00-17:00 Europe/Berlin`, `Sat,Sun \
             22:00-06:00 +02:00` or `daily 00:00-24:00`"
        );
        assert_eq!(
            Window::parse("Tue 1:00-2:00 Mars/Olympus").map_err(|e| e.reason().to_owned()),
            Err(
                "`Mars/Olympus` is not a known time zone (write an IANA name such as \
                 Europe/Berlin, UTC, or an offset such as +02:00)"
                    .to_owned()
            )
        );
    }

    #[test]
    fn berlin_office_hours_follow_daylight_saving_time() {
        let w = window("Mon-Fri 09:00-17:00 Europe/Berlin");
        // Summer (CEST, UTC+2): Wednesday 2026-07-15 09:00-17:00 is 07:00-15:00 UTC.
        assert!(!w.contains(at("2026-07-15T06:59:59Z")));
        assert!(w.contains(at("2026-07-15T07:00:00Z")));
        assert!(w.contains(at("2026-07-15T14:59:59Z")));
        assert!(!w.contains(at("2026-07-15T15:00:00Z")));
        // Winter (CET, UTC+1): Wednesday 2026-01-14 09:00-17:00 is 08:00-16:00 UTC.
        assert!(!w.contains(at("2026-01-14T07:00:00Z")));
        assert!(!w.contains(at("2026-01-14T07:59:59Z")));
        assert!(w.contains(at("2026-01-14T08:00:00Z")));
        assert!(w.contains(at("2026-01-14T15:59:59Z")));
        assert!(!w.contains(at("2026-01-14T16:00:00Z")));
        // Not at the weekend.
        assert!(!w.contains(at("2026-07-18T10:00:00Z")));
        assert!(!w.contains(at("2026-07-19T10:00:00Z")));
        // Monday of the spring-forward weekend (2026-03-29) is already summer time.
        assert!(w.contains(at("2026-03-30T07:00:00Z")));
        assert!(!w.contains(at("2026-03-30T06:59:59Z")));
    }

    #[test]
    fn skipped_and_repeated_wall_clock_times_are_compatible() {
        // Spring forward, 2026-03-29: 02:00 CET jumps to 03:00 CEST (01:00 UTC).
        let two_to_four = window("daily 02:00-04:00 Europe/Berlin");
        // 02:00 does not exist: it opens after the gap, at 03:00 CEST, for one hour.
        assert!(!two_to_four.contains(at("2026-03-29T00:59:59Z")));
        assert!(two_to_four.contains(at("2026-03-29T01:00:00Z")));
        assert!(!two_to_four.contains(at("2026-03-29T02:00:00Z")));
        assert_eq!(
            two_to_four.next_open(at("2026-03-28T23:00:00Z")),
            Some(at("2026-03-29T01:00:00Z"))
        );
        // Wholly inside the gap: 02:30 is read as 03:30 CEST, the same as the end: shut.
        let in_gap = window("daily 02:30-03:30 Europe/Berlin");
        assert!(!in_gap.contains(at("2026-03-29T01:30:00Z")));
        assert_eq!(
            in_gap.next_open(at("2026-03-29T00:00:00Z")),
            Some(at("2026-03-30T00:30:00Z"))
        );
        // Fall back, 2026-10-25: 03:00 CEST goes back to 02:00 CET (01:00 UTC). 02:30 happens
        // twice; the window opens at the first (CEST, 00:30 UTC) and closes at 05:00 CET.
        let fold = window("daily 02:30-05:00 Europe/Berlin");
        assert!(!fold.contains(at("2026-10-25T00:29:59Z")));
        assert!(fold.contains(at("2026-10-25T00:30:00Z")));
        assert!(fold.contains(at("2026-10-25T03:59:59Z")));
        assert!(!fold.contains(at("2026-10-25T04:00:00Z")));
    }

    #[test]
    fn windows_over_midnight_belong_to_their_opening_day() {
        // Friday 2026-11-20 22:00 to Saturday 06:00, UTC.
        let w = window("Fri 22:00-06:00");
        assert!(!w.contains(at("2026-11-20T21:59:59Z")));
        assert!(w.contains(at("2026-11-20T22:00:00Z")));
        assert!(w.contains(at("2026-11-21T00:00:00Z")));
        assert!(w.contains(at("2026-11-21T05:59:59Z")));
        assert!(!w.contains(at("2026-11-21T06:00:00Z")));
        // Saturday night is not Friday night.
        assert!(!w.contains(at("2026-11-21T23:00:00Z")));
        // Thursday night neither, though it runs into Friday.
        assert!(!w.contains(at("2026-11-20T01:00:00Z")));
        // Sunday night runs into Monday, over the end of the week.
        let sunday = window("Sun 23:00-02:00");
        assert!(sunday.contains(at("2026-11-23T01:00:00Z")));
        assert!(!sunday.contains(at("2026-11-24T01:00:00Z")));
        // 24:00 is midnight at the end of the day.
        let evening = window("Mon 18:00-24:00");
        assert!(evening.contains(at("2026-11-23T23:59:59Z")));
        assert!(!evening.contains(at("2026-11-24T00:00:00Z")));
    }

    #[test]
    fn day_ranges_wrap_over_the_end_of_the_week() {
        let w = window("Fri-Mon 10:00-12:00");
        for open_day in ["2026-11-20", "2026-11-21", "2026-11-22", "2026-11-23"] {
            assert!(
                w.contains(at(&format!("{open_day}T11:00:00Z"))),
                "{open_day}"
            );
        }
        for shut_day in ["2026-11-24", "2026-11-25", "2026-11-26"] {
            assert!(
                !w.contains(at(&format!("{shut_day}T11:00:00Z"))),
                "{shut_day}"
            );
        }
        // From a Tuesday the next opening is Friday.
        assert_eq!(
            w.next_open(at("2026-11-24T11:00:00Z")),
            Some(at("2026-11-27T10:00:00Z"))
        );
    }

    #[test]
    fn fixed_offsets_shift_the_wall_clock() {
        let east = window("daily 09:00-17:00 +02:00");
        assert!(east.contains(at("2026-01-14T07:00:00Z")));
        assert!(east.contains(at("2026-07-15T07:00:00Z")));
        assert!(!east.contains(at("2026-07-15T15:00:00Z")));
        let west = window("daily 09:00-17:00 -05:30");
        assert!(!west.contains(at("2026-07-15T14:29:59Z")));
        assert!(west.contains(at("2026-07-15T14:30:00Z")));
        assert!(west.contains(at("2026-07-15T22:29:59Z")));
        assert!(!west.contains(at("2026-07-15T22:30:00Z")));
        // The local day decides the weekday: Monday 01:00 at +02:00 is Sunday 23:00 UTC.
        let monday = window("Mon 00:00-02:00 +02:00");
        assert!(monday.contains(at("2026-11-22T23:00:00Z")));
        assert!(!monday.contains(at("2026-11-23T01:00:00Z")));
    }

    #[test]
    fn next_open_is_now_or_the_next_opening() {
        let w = window("Mon-Fri 09:00-17:00 Europe/Berlin");
        // Open now.
        let now = at("2026-07-15T10:00:00Z");
        assert_eq!(w.next_open(now), Some(now));
        // Later the same day, before opening.
        assert_eq!(
            w.next_open(at("2026-07-15T05:00:00Z")),
            Some(at("2026-07-15T07:00:00Z"))
        );
        // At closing time: the next morning.
        assert_eq!(
            w.next_open(at("2026-07-15T15:00:00Z")),
            Some(at("2026-07-16T07:00:00Z"))
        );
        // Friday evening: Monday morning.
        assert_eq!(
            w.next_open(at("2026-07-17T18:00:00Z")),
            Some(at("2026-07-20T07:00:00Z"))
        );
        // Over the spring-forward weekend: Friday 09:00 CET is 08:00 UTC, Monday 09:00 CEST 07:00.
        assert_eq!(
            w.next_open(at("2026-03-27T16:30:00Z")),
            Some(at("2026-03-30T07:00:00Z"))
        );
        // No instant outside the date-time library's range panics.
        assert!(!w.contains(i64::MIN));
        assert!(!w.contains(i64::MAX));
        assert_eq!(w.next_open(i64::MAX), None);
        assert!(w.next_open(i64::MIN).is_some_and(|t| w.contains(t)));
    }

    #[test]
    fn lists_of_windows() {
        let weekdays = window("Mon-Fri 09:00-17:00 Europe/Berlin");
        let saturday = window("Sat 10:00-12:00 UTC");
        let both = [weekdays, saturday];
        let friday_evening = at("2026-07-17T18:00:00Z");
        assert!(!any_open(&both, friday_evening));
        assert_eq!(
            next_opening(&both, friday_evening),
            Some(at("2026-07-18T10:00:00Z"))
        );
        assert!(any_open(&both, at("2026-07-18T11:00:00Z")));
        assert!(any_open(&both, at("2026-07-17T10:00:00Z")));
        // No windows: always open.
        assert!(any_open(&[], friday_evening));
        assert_eq!(next_opening(&[], friday_evening), Some(friday_evening));
    }

    #[test]
    fn zones_resolve_without_a_system_database() {
        // As on a machine without /usr/share/zoneinfo: the bundled copy answers.
        let berlin = zone_named(&TimeZoneDatabase::none(), "europe/berlin");
        assert_eq!(
            berlin.as_ref().and_then(TimeZone::iana_name),
            Some("Europe/Berlin")
        );
        assert!(zone_named(&TimeZoneDatabase::none(), "Europe/Berln").is_none());
    }

    /// Windows to check the properties against: DST zones (including Lord Howe's half-hour
    /// shift, Santiago's at midnight, Apia's skipped day), offsets, over-midnight, wrapping
    /// ranges.
    const ZONES: [&str; 9] = [
        "UTC",
        "Europe/Berlin",
        "America/New_York",
        "America/Santiago",
        "Australia/Lord_Howe",
        "Asia/Kolkata",
        "Pacific/Apia",
        "+14:00",
        "-09:30",
    ];

    fn clock_text(minutes: u16) -> String {
        format!("{:02}:{:02}", minutes / 60, minutes % 60)
    }

    fn any_window() -> impl Strategy<Value = Window> {
        (
            1u8..=ALL_DAYS,
            0u16..DAY_MINUTES,
            1u16..=DAY_MINUTES,
            0..ZONES.len(),
        )
            .prop_filter("empty time range", |(_, start, end, _)| start != end)
            .prop_map(|(days, start, end, zone)| {
                let days: Vec<&str> = (0..7)
                    .filter(|d| days & (1 << d) != 0)
                    .map(|d| &DAY_NAMES[d][..3])
                    .collect();
                let text = format!(
                    "{} {}-{} {}",
                    days.join(","),
                    clock_text(start),
                    clock_text(end),
                    ZONES[zone]
                );
                window(&text)
            })
    }

    /// The properties `next_open` promises, at instant `t`.
    fn check_next_open(w: &Window, t: i64) -> Result<(), TestCaseError> {
        let next = w.next_open(t);
        if w.contains(t) {
            prop_assert_eq!(next, Some(t));
        }
        let Some(next) = next else {
            return Err(TestCaseError::fail(format!("{w} never opens after {t}")));
        };
        prop_assert!(next >= t);
        prop_assert!(
            w.contains(next),
            "{} is shut at next_open({}) = {}",
            w,
            t,
            next
        );
        if next > t {
            // The window opened just then, not before.
            prop_assert!(!w.contains(next - 1), "{} is open before {}", w, next);
        }
        Ok(())
    }

    #[test]
    fn next_open_holds_minute_by_minute_over_dst_changes() {
        let windows = [
            "daily 02:00-04:00 Europe/Berlin",
            "daily 02:30-03:30 Europe/Berlin",
            "Sat,Sun 23:00-02:30 Europe/Berlin",
            "Sun 00:00-24:00 Europe/Berlin",
            // Samoa skipped Friday 2011-12-30 altogether (from UTC-10 to UTC+14).
            "Fri 09:00-17:00 Pacific/Apia",
            "Thu,Sat 20:00-04:00 Pacific/Apia",
            "daily 00:00-24:00 Pacific/Apia",
        ];
        let spans = [
            ("2026-03-27T00:00:00Z", "2026-03-31T00:00:00Z"),
            ("2026-10-23T00:00:00Z", "2026-10-27T00:00:00Z"),
            ("2011-12-28T00:00:00Z", "2012-01-02T00:00:00Z"),
        ];
        for text in windows {
            let w = window(text);
            for (from, to) in spans {
                for t in (at(from)..at(to)).step_by(60) {
                    if let Err(e) = check_next_open(&w, t) {
                        panic!("{text} at {t}: {e}");
                    }
                }
            }
        }
    }

    proptest! {
        #[test]
        fn next_open_is_an_open_instant(
            w in any_window(),
            // 1900 to 2100.
            t in -2_208_988_800i64..4_102_444_800,
        ) {
            check_next_open(&w, t)?;
        }

        #[test]
        fn next_open_is_an_open_instant_around_dst_changes(
            w in any_window(),
            // From some instant between 1970 and 2050, the next transition of the window's zone.
            from in 0i64..2_524_608_000,
            // Up to two days either side of it.
            delta in -172_800i64..172_800,
        ) {
            let from = Timestamp::from_second(from).map_err(|e| TestCaseError::fail(e.to_string()))?;
            let change = w.zone.following(from).next().map_or(from, |c| c.timestamp());
            check_next_open(&w, change.as_second() + delta)?;
        }
    }
}
