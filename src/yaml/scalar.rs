//! How a new scalar value is written so that it reads back as the same string.
//!
//! Kubernetes tools read YAML 1.1 (sigs.k8s.io/yaml) while newer tools read YAML 1.2, so a plain
//! scalar is left unquoted only when it is a string under both: `on`, `0755`, `1_000` and
//! `2024-01-02` are not strings in YAML 1.1 and get quotes.

use super::Style;

/// Writes `value` in `style`. Plain scalars that would not read back as a string are
/// double-quoted. Block styles are never produced (edits inside them are refused upstream).
pub fn render(value: &str, style: Style) -> String {
    match style {
        Style::Plain if plain_is_safe(value) => value.to_owned(),
        Style::SingleQuoted if !value.chars().any(needs_escape) => {
            format!("'{}'", value.replace('\'', "''"))
        }
        _ => double_quoted(value),
    }
}

/// `value` as a double-quoted YAML scalar that reads back as exactly `value`, whatever it
/// contains: quotes, backslashes, line breaks (`\n`, `\r`, NEL, U+2028, U+2029), other control
/// characters and invisible format characters ([`crate::ci::is_format`]: bidi overrides,
/// zero-width characters, written as `\u202E` escapes), `---`, `{{ }}`, `#`.
///
/// The one YAML quoting of ferry: the edit engine's quoted values, `ferry.yaml` edits
/// (`hold-reason`), and the `yaml` filter of templates (as [`crate::render::yaml_string`]).
/// Untrusted text (branch names, titles) reaches YAML only through this.
#[must_use]
pub fn double_quoted(value: &str) -> String {
    let mut out = String::with_capacity(value.len() + 2);
    out.push('"');
    for c in value.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            '\u{85}' => out.push_str("\\N"),
            '\u{2028}' => out.push_str("\\L"),
            '\u{2029}' => out.push_str("\\P"),
            c if crate::ci::is_format(c) => {
                // Shown escaped (bidi overrides, zero-width characters): the file shows them,
                // the value reads back exactly.
                let code = u32::from(c);
                if code <= 0xffff {
                    out.push_str(&format!("\\u{code:04X}"));
                } else {
                    out.push_str(&format!("\\U{code:08X}"));
                }
            }
            c if c.is_control() => {
                let code = u32::from(c);
                if code <= 0xff {
                    out.push_str(&format!("\\x{code:02X}"));
                } else {
                    out.push_str(&format!("\\u{code:04X}"));
                }
            }
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

/// Whether `c` can only be written as an escape (in double quotes): what a single-quoted or
/// plain scalar cannot carry and read back, or would carry invisibly.
fn needs_escape(c: char) -> bool {
    c.is_control() || crate::ci::is_format(c) || matches!(c, '\u{2028}' | '\u{2029}')
}

/// Whether `value` can be written as a plain scalar and still read as this exact string under
/// YAML 1.1 and 1.2, in block and flow context.
pub fn plain_is_safe(value: &str) -> bool {
    let Some(first) = value.chars().next() else {
        return false;
    };
    if "-?:,[]{}#&*!|>'\"%@`".contains(first) || first.is_whitespace() {
        return false;
    }
    if value.ends_with(|c: char| c.is_whitespace() || c == ':')
        || value.contains(": ")
        || value.contains(" #")
        || value.contains([',', '[', ']', '{', '}'])
        || value.chars().any(needs_escape)
    {
        return false;
    }
    !(is_null_or_bool(value)
        || is_int(value)
        || is_float(value)
        || is_timestamp(value)
        || value == "<<"
        || value == "=")
}

/// Nulls and booleans. Booleans are matched in any letter case: some readers accept `tRUE`.
fn is_null_or_bool(v: &str) -> bool {
    let lower = v.to_ascii_lowercase();
    matches!(
        lower.as_str(),
        "true" | "false" | "yes" | "no" | "on" | "off" | "y" | "n"
    ) || matches!(
        v,
        "~" | "null"
            | "Null"
            | "NULL"
            | "true"
            | "True"
            | "TRUE"
            | "false"
            | "False"
            | "FALSE"
            | "y"
            | "Y"
            | "yes"
            | "Yes"
            | "YES"
            | "n"
            | "N"
            | "no"
            | "No"
            | "NO"
            | "on"
            | "On"
            | "ON"
            | "off"
            | "Off"
            | "OFF"
    )
}

fn strip_sign(v: &str) -> &str {
    v.strip_prefix(['-', '+']).unwrap_or(v)
}

fn all(s: &str, f: impl Fn(u8) -> bool) -> bool {
    !s.is_empty() && s.bytes().all(f)
}

/// Integers of YAML 1.2 core and 1.1 (binary, octal, hex, underscores, base 60).
fn is_int(v: &str) -> bool {
    let v = strip_sign(v);
    // Go's number parsing (behind sigs.k8s.io/yaml) also accepts `0X`, `0O` and `0B`.
    let radix = |prefix: &str| {
        v.get(..2)
            .filter(|p| p.eq_ignore_ascii_case(prefix))
            .map(|_| &v[2..])
    };
    if let Some(rest) = radix("0b") {
        return all(rest, |b| matches!(b, b'0' | b'1' | b'_'));
    }
    if let Some(rest) = radix("0x") {
        return all(rest, |b| b.is_ascii_hexdigit() || b == b'_');
    }
    if let Some(rest) = radix("0o") {
        return all(rest, |b| matches!(b, b'0'..=b'7' | b'_'));
    }
    is_decimal(v) || is_sexagesimal(v)
}

/// `[0-9][0-9_]*`: decimal, 1.1 octal (`0755`) and underscored (`1_000`) integers.
fn is_decimal(v: &str) -> bool {
    v.as_bytes().first().is_some_and(u8::is_ascii_digit)
        && all(v, |b| b.is_ascii_digit() || b == b'_')
}

/// `[0-9][0-9_]*(:[0-5]?[0-9])+`: YAML 1.1 base-60 integers such as `12:30`.
fn is_sexagesimal(v: &str) -> bool {
    let mut parts = v.split(':');
    let head = parts.next().unwrap_or_default();
    let mut rest = parts.peekable();
    rest.peek().is_some()
        && is_decimal(head)
        && rest.all(|p| {
            let b = p.as_bytes();
            match b {
                [d] => d.is_ascii_digit(),
                [t, d] => matches!(t, b'0'..=b'5') && d.is_ascii_digit(),
                _ => false,
            }
        })
}

/// Floats of YAML 1.2 core and 1.1: `1.10`, `.5`, `1e3`, `1_000.5`, `.inf`, `.NaN`, `1:30.5`.
fn is_float(v: &str) -> bool {
    if matches!(v, ".nan" | ".NaN" | ".NAN") {
        return true;
    }
    let v = strip_sign(v);
    if matches!(v, ".inf" | ".Inf" | ".INF") {
        return true;
    }
    let (mantissa, exponent) = match v.find(['e', 'E']) {
        Some(i) => (&v[..i], Some(&v[i + 1..])),
        None => (v, None),
    };
    if let Some(exp) = exponent
        && !all(strip_sign(exp), |b| b.is_ascii_digit())
    {
        return false;
    }
    // Base 60 with a fraction (YAML 1.1).
    if let Some((int, frac)) = mantissa.rsplit_once('.')
        && int.contains(':')
        && is_sexagesimal(int)
        && frac.bytes().all(|b| b.is_ascii_digit() || b == b'_')
    {
        return true;
    }
    let (int, frac) = match mantissa.split_once('.') {
        Some((i, f)) => (i, Some(f)),
        None => (mantissa, None),
    };
    let int_ok = int.is_empty() || is_decimal(int);
    let frac_ok = frac.is_none_or(|f| f.bytes().all(|b| b.is_ascii_digit() || b == b'_'));
    let has_digit = mantissa.bytes().any(|b| b.is_ascii_digit());
    int_ok && frac_ok && has_digit && (frac.is_some() || exponent.is_some())
}

/// YAML 1.1 timestamps start with a `YYYY-M-D` date.
fn is_timestamp(v: &str) -> bool {
    let b = v.as_bytes();
    if b.len() < 8 || !b[..4].iter().all(u8::is_ascii_digit) || b[4] != b'-' {
        return false;
    }
    let rest = &v[5..];
    let mut parts = rest.splitn(3, '-');
    let month = parts.next().unwrap_or_default();
    let day_and_time = parts.next().unwrap_or_default();
    let day: String = day_and_time
        .chars()
        .take_while(char::is_ascii_digit)
        .collect();
    (1..=2).contains(&month.len())
        && month.bytes().all(|c| c.is_ascii_digit())
        && (1..=2).contains(&day.len())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ordinary_tags_stay_plain() {
        for v in [
            "v2",
            "1a2b3c4",
            "3.2.1",
            "main-abc123",
            "sha-9f8e7d",
            "1.2.3-rc.1",
            "latest",
            "v1.10",
            "deadbeef",
            "e3",
            "1.2.3_4",
            "shop/cart:1234567",
            "localhost:5000/shop/cart:v1",
        ] {
            assert!(plain_is_safe(v), "{v} should stay plain");
            assert_eq!(render(v, Style::Plain), v);
        }
    }

    #[test]
    fn values_that_are_not_strings_get_quotes() {
        for v in [
            "1234567",
            "0X1F",
            "0O17",
            "0B101",
            "tRUE",
            "oN",
            "OfF",
            "yEs",
            "1.10",
            "1e3",
            "1E-3",
            "0755",
            "0x1F",
            "0o17",
            "0b101",
            "1_000",
            "12:30",
            "1:30.5",
            ".5",
            "+1",
            "-1",
            "on",
            "Off",
            "yes",
            "Y",
            "n",
            "null",
            "~",
            "NULL",
            "true",
            "False",
            "2024-01-02",
            "2024-1-2T10:00:00",
            ".inf",
            "-.Inf",
            ".NaN",
            "",
            "<<",
            "=",
            "-x",
            "a: b",
            "a #b",
            "x,y",
            "tail ",
        ] {
            assert!(!plain_is_safe(v), "{v:?} must be quoted");
            assert_eq!(render(v, Style::Plain), double_quoted(v));
        }
    }

    #[test]
    fn one_quoting_escapes_what_no_style_could_carry() {
        // Was two functions: the engine's wrote NEL, C1 controls and bidi overrides raw and
        // `\x1b` in lowercase; the templates' escaped them all (`\x1B`). One now, the latter.
        assert_eq!(double_quoted("a\u{1b}b"), "\"a\\x1Bb\"");
        assert_eq!(double_quoted("a\u{85}b"), "\"a\\Nb\"");
        assert_eq!(double_quoted("a\u{2028}b\u{2029}"), "\"a\\Lb\\P\"");
        assert_eq!(double_quoted("a\u{9b}b"), "\"a\\x9Bb\"");
        assert_eq!(double_quoted("x\u{202e}y"), "\"x\\u202Ey\"");
        assert_eq!(
            crate::render::yaml_string("x\u{202e}y"),
            double_quoted("x\u{202e}y")
        );
        // A single-quoted or plain value that cannot carry such a character is double-quoted.
        for v in ["a\u{85}b", "a\u{2028}b", "x\u{202e}y", "a\u{1b}b"] {
            assert_eq!(render(v, Style::SingleQuoted), double_quoted(v), "{v:?}");
            assert_eq!(render(v, Style::Plain), double_quoted(v), "{v:?}");
        }
    }

    #[test]
    fn quoted_styles_are_kept() {
        assert_eq!(render("v2", Style::SingleQuoted), "'v2'");
        assert_eq!(render("it's", Style::SingleQuoted), "'it''s'");
        assert_eq!(render("v2", Style::DoubleQuoted), "\"v2\"");
        assert_eq!(
            render("a\"b\\c\n", Style::DoubleQuoted),
            "\"a\\\"b\\\\c\\n\""
        );
    }
}
