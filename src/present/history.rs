//! `ferry history` for people: a line per change, or a Markdown table.

use std::fmt::Write as _;

use super::markdown::cell;
use crate::clock::Time;
use crate::history::Change;
use crate::inventory::short_tag;
use crate::outcome::history::History;
use crate::render::markdown_code;
use crate::report::{self, Output};
use crate::trailers;

/// Prints `history` in the format `output` asks for.
pub fn emit(output: Output, history: &History) -> std::io::Result<()> {
    let text = match output {
        Output::Markdown => markdown(history),
        _ => plain(history),
    };
    report::emit(output, history, &text)
}

fn source_of(change: &Change) -> String {
    let commit = change.trailer(trailers::SOURCE_COMMIT).map(short_tag);
    let repo = change.trailer(trailers::SOURCE_REPO);
    match (repo, commit) {
        (Some(repo), Some(commit)) => format!("{repo}@{commit}"),
        (None, Some(commit)) => commit,
        (Some(repo), None) => repo.to_owned(),
        (None, None) => String::new(),
    }
}

fn version(v: Option<&String>) -> String {
    v.map_or_else(|| "(none)".to_owned(), |v| short_tag(v))
}

fn cut_note(history: &History) -> Option<String> {
    let (commit, time) = history.oldest.as_ref()?;
    history.cut.then(|| {
        format!(
            "History is cut: read back to {} ({}); older commits were not read (raise --max-commits).",
            &commit[..12.min(commit.len())],
            Time::from_unix(*time)
        )
    })
}

/// A line per change, newest first.
#[must_use]
pub fn plain(history: &History) -> String {
    let mut text = String::new();
    if history.changes.is_empty() {
        let _ = writeln!(
            text,
            "No image changes found in `{}` (branch `{}`).",
            history.environment, history.branch
        );
    }
    for c in &history.changes {
        let source = source_of(c);
        let _ = writeln!(
            text,
            "{}  {}  {}  {} → {}  by {}  {}{}",
            Time::from_unix(c.time),
            &c.commit[..7.min(c.commit.len())],
            c.image,
            version(c.from.as_ref()),
            version(c.to.as_ref()),
            c.author,
            c.subject,
            if source.is_empty() {
                String::new()
            } else {
                format!("  (from {source})")
            }
        );
    }
    if let Some(note) = cut_note(history) {
        let _ = writeln!(text, "{note}");
    }
    text
}

/// A Markdown table of the changes, newest first.
#[must_use]
pub fn markdown(history: &History) -> String {
    let mut text = format!("### History of {}\n\n", markdown_code(&history.environment));
    text.push_str("| When | Commit | Image | Change | By | Source |\n|---|---|---|---|---|---|\n");
    for c in &history.changes {
        let _ = writeln!(
            text,
            "| {} | {} | {} | {} → {} | {} | {} |",
            Time::from_unix(c.time),
            cell(&c.commit[..7.min(c.commit.len())]),
            cell(&c.image),
            cell(&version(c.from.as_ref())),
            cell(&version(c.to.as_ref())),
            cell(&c.author),
            cell(&source_of(c)),
        );
    }
    if let Some(note) = cut_note(history) {
        let _ = writeln!(text, "\n{note}");
    }
    text
}
