//! Pieces of Markdown shared by the renderings of several commands.

use crate::render::markdown_code;

/// A Markdown table cell: code, with `|` escaped.
#[must_use]
pub fn cell(text: &str) -> String {
    if text.is_empty() {
        return String::new();
    }
    markdown_code(text).replace('|', "\\|")
}
