//! Durations written the way people write them in YAML: `90s`, `15m`, `1h30m`, `2d`, `1w`.

use std::borrow::Cow;
use std::fmt;
use std::str::FromStr;

use schemars::{JsonSchema, Schema, SchemaGenerator, json_schema};
use serde::{Deserialize, Deserializer, Serialize, Serializer};

use super::error::with_hint;
use super::shown::shown;

/// The accepted form, for error messages and documentation.
pub const DURATION_FORM: &str = "whole numbers each followed by a unit (s, m, h, d or w), \
     largest unit first, e.g. 90s, 15m, 1h30m, 2d or 1w";

/// The units in the order they must appear, with their length in seconds.
const UNITS: [(char, u64); 5] = [
    ('w', 7 * 24 * 3600),
    ('d', 24 * 3600),
    ('h', 3600),
    ('m', 60),
    ('s', 1),
];

/// A span of time written as a duration string such as `72h` or `1h30m`.
///
/// The grammar is one or more `<digits><unit>` groups, units `s`, `m`, `h`, `d` (24h)
/// and `w` (7d), each unit at most once and the largest first. It is displayed and
/// serialized in hours, minutes and seconds (`2d` displays as `48h`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct Duration {
    secs: u64,
}

impl Duration {
    /// A duration of `secs` seconds.
    #[must_use]
    pub const fn from_secs(secs: u64) -> Self {
        Self { secs }
    }

    /// A duration of `hours` hours.
    #[must_use]
    pub const fn from_hours(hours: u64) -> Self {
        Self {
            secs: hours.saturating_mul(3600),
        }
    }

    /// The length in seconds.
    #[must_use]
    pub const fn as_secs(&self) -> u64 {
        self.secs
    }

    /// The same length as a [`std::time::Duration`].
    #[must_use]
    pub const fn as_std(&self) -> std::time::Duration {
        std::time::Duration::from_secs(self.secs)
    }
}

impl From<Duration> for std::time::Duration {
    fn from(value: Duration) -> Self {
        value.as_std()
    }
}

/// Why a duration string was rejected.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid duration `{text}`: {reason}; expected {DURATION_FORM}")]
pub struct DurationError {
    text: String,
    reason: &'static str,
}

impl DurationError {
    fn new(text: &str, reason: &'static str) -> Self {
        Self {
            text: shown(text),
            reason,
        }
    }

    /// What is wrong with the text, without the accepted form.
    #[must_use]
    pub fn reason(&self) -> &'static str {
        self.reason
    }
}

impl FromStr for Duration {
    type Err = DurationError;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        if text.is_empty() {
            return Err(DurationError::new(text, "it is empty"));
        }
        let mut secs: u64 = 0;
        // Index into UNITS of the next unit allowed: units must strictly decrease.
        let mut next_unit = 0;
        let mut rest = text;
        while !rest.is_empty() {
            let digits = rest.bytes().take_while(u8::is_ascii_digit).count();
            if digits == 0 {
                return Err(DurationError::new(
                    text,
                    "each unit must follow a whole number",
                ));
            }
            let (number, tail) = rest.split_at(digits);
            let Some(unit) = tail.chars().next() else {
                return Err(DurationError::new(text, "the number has no unit"));
            };
            let Some(offset) = UNITS.iter().position(|(u, _)| *u == unit) else {
                return Err(DurationError::new(
                    text,
                    "the unit must be one of s, m, h, d, w",
                ));
            };
            if offset < next_unit {
                return Err(DurationError::new(
                    text,
                    "each unit may appear once, largest first",
                ));
            }
            next_unit = offset + 1;
            let too_large = || DurationError::new(text, "it is too large");
            let value: u64 = number.parse().map_err(|_| too_large())?;
            let part = value.checked_mul(UNITS[offset].1).ok_or_else(too_large)?;
            secs = secs.checked_add(part).ok_or_else(too_large)?;
            rest = &tail[unit.len_utf8()..];
        }
        Ok(Self { secs })
    }
}

impl fmt::Display for Duration {
    /// Hours, minutes and seconds, largest first: `48h`, `1h30m`, `90s` is `1m30s`, zero is `0s`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.secs == 0 {
            return f.write_str("0s");
        }
        let (hours, minutes, seconds) = (self.secs / 3600, self.secs % 3600 / 60, self.secs % 60);
        for (value, unit) in [(hours, 'h'), (minutes, 'm'), (seconds, 's')] {
            if value > 0 {
                write!(f, "{value}{unit}")?;
            }
        }
        Ok(())
    }
}

impl Serialize for Duration {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for Duration {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let text = String::deserialize(deserializer)?;
        text.parse().map_err(|err: DurationError| {
            serde::de::Error::custom(with_hint(
                &format!("`{}` is not a duration: {}", shown(&text), err.reason()),
                &format!("write {DURATION_FORM}"),
            ))
        })
    }
}

impl JsonSchema for Duration {
    fn schema_name() -> Cow<'static, str> {
        "Duration".into()
    }

    fn schema_id() -> Cow<'static, str> {
        concat!(module_path!(), "::Duration").into()
    }

    fn json_schema(_generator: &mut SchemaGenerator) -> Schema {
        json_schema!({
            "type": "string",
            "description": "A duration: whole numbers each followed by a unit (s, m, h, d or w), largest unit first, e.g. 90s, 15m, 1h30m, 2d or 1w.",
            "pattern": "^([0-9]+w)?([0-9]+d)?([0-9]+h)?([0-9]+m)?([0-9]+s)?$",
            "minLength": 2,
            "examples": ["30m", "1h30m", "72h", "2d"]
        })
    }
}
