//! User text in `ferry.yaml`'s messages: the one escaping every config message uses (below the
//! document index and the errors, which both show keys and values).

/// User text made safe to print: control characters (newlines, escape sequences, the
/// hint separator) and invisible format characters (bidi overrides, zero-width characters: see
/// [`crate::ci::is_format`]) are escaped, everything else is kept as written.
pub(crate) fn shown(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        if c.is_control() || crate::ci::is_format(c) {
            out.extend(c.escape_default());
        } else {
            out.push(c);
        }
    }
    out
}
