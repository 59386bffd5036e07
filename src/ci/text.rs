//! Untrusted text made safe to show on one line: [`one_line`] and [`is_format`].

/// `value` on one line, for trailers, titles and messages made from untrusted text: it is cut at
/// line breaks (`\n`, `\r`, vertical tab, form feed, NEL, U+2028, U+2029) and tabs, each part
/// trimmed, and the non-empty parts joined with one space; every other control character (ESC,
/// C0, C1) and every invisible format character ([`is_format`]: bidi overrides, zero-width
/// characters, BOM) is shown escaped as `\u{…}`, so no text can draw escape sequences, reorder
/// what is shown, or hide a character.
#[must_use]
pub fn one_line(value: &str) -> String {
    let mut out = String::with_capacity(value.len());
    let breaks = |c: char| {
        matches!(
            c,
            '\n' | '\r' | '\t' | '\u{0b}' | '\u{0c}' | '\u{85}' | '\u{2028}' | '\u{2029}'
        )
    };
    for part in value.split(breaks).map(str::trim).filter(|p| !p.is_empty()) {
        if !out.is_empty() {
            out.push(' ');
        }
        for c in part.chars() {
            if c.is_control() || is_format(c) {
                out.push_str(&format!("\\u{{{:x}}}", u32::from(c)));
            } else {
                out.push(c);
            }
        }
    }
    out
}

/// Whether `c` is an invisible Unicode format character (general category Cf: bidi embeddings,
/// overrides and isolates, zero-width spaces and joiners, the BOM, invisible operators, tags):
/// characters that change how text around them is shown without showing themselves.
#[must_use]
pub fn is_format(c: char) -> bool {
    matches!(
        c,
        '\u{ad}'
            | '\u{600}'..='\u{605}'
            | '\u{61c}'
            | '\u{6dd}'
            | '\u{70f}'
            | '\u{890}'..='\u{891}'
            | '\u{8e2}'
            | '\u{180e}'
            | '\u{200b}'..='\u{200f}'
            | '\u{202a}'..='\u{202e}'
            | '\u{2060}'..='\u{2064}'
            | '\u{2066}'..='\u{206f}'
            | '\u{feff}'
            | '\u{fff9}'..='\u{fffb}'
            | '\u{110bd}'
            | '\u{110cd}'
            | '\u{13430}'..='\u{1343f}'
            | '\u{1bca0}'..='\u{1bca3}'
            | '\u{1d173}'..='\u{1d17a}'
            | '\u{e0001}'
            | '\u{e0020}'..='\u{e007f}'
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_line_collapses_and_trims() {
        assert_eq!(one_line("  a\n\n b  "), "a b");
        assert_eq!(one_line("a  b\u{2028}c"), "a  b c");
        assert_eq!(one_line("\na\n"), "a");
        assert_eq!(one_line("plain"), "plain");
        assert_eq!(one_line("\r\n"), "");
    }

    #[test]
    fn one_line_shows_controls_and_format_characters_escaped() {
        assert_eq!(one_line("a\u{1b}[31mb"), "a\\u{1b}[31mb");
        assert_eq!(one_line("feat\u{202e}cod.exe"), "feat\\u{202e}cod.exe");
        assert_eq!(
            one_line("x\u{200b}y\u{feff}\u{9b}"),
            "x\\u{200b}y\\u{feff}\\u{9b}"
        );
        assert_eq!(
            one_line("t\nSigned-off-by: evil\u{2066}"),
            "t Signed-off-by: evil\\u{2066}"
        );
        assert_eq!(one_line("tab\there"), "tab here");
        assert_eq!(one_line("\u{7f}"), "\\u{7f}");
        assert_eq!(one_line("é ü 日本"), "é ü 日本");
        for c in ['\u{ad}', '\u{61c}', '\u{2069}', '\u{e0041}'] {
            assert!(is_format(c), "{c:?}");
        }
        assert!(!is_format('a') && !is_format('\u{2028}'));
    }
}
