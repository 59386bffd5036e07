//! `ferry history`: who changed which image of an environment, and when, read from the
//! environment branch's commits (and their trailers), fetching older history only as needed.

use std::fmt::Write as _;

use serde::Serialize;

use super::Error;
use super::site::{self, Site};
use crate::cli::HistoryArgs;
use crate::clock::Time;
use crate::exit::Exit;
use crate::history::{self, Change};
use crate::inventory::short_tag;
use crate::render::markdown_code;
use crate::report::{self, Output};
use crate::trailers;

#[derive(Debug, Serialize)]
struct Report<'a> {
    environment: &'a str,
    branch: &'a str,
    path: &'a str,
    changes: &'a [Change],
    /// Whether older history exists that was not read.
    cut: bool,
    commits_read: usize,
}

pub fn run(args: &HistoryArgs, output: Output) -> Result<Exit, Error> {
    let mut site = Site::open(&site::Access::of(&args.repo)?)?;
    let env = site.environment(&args.env)?;
    let tip = site.tip_of(&env)?;
    let image = match &args.image {
        Some(i) => Some(super::image_flag(i)?.to_string()),
        None => None,
    };
    let wanted = |name: &str| image.as_deref().is_none_or(|i| i == name);
    let limit = args.limit.max(1);
    let enough = |changes: &[Change]| changes.len() >= limit;
    let mut walk = history::walk(
        &mut site.store,
        &tip,
        &env.path,
        &wanted,
        args.max_commits,
        &enough,
    )?;
    let cut = walk.cut && walk.changes.len() < limit;
    walk.changes.truncate(limit);
    let text = match output {
        Output::Markdown => markdown(&env.name, &walk.changes, cut, walk.oldest.as_ref()),
        _ => plain(
            &env.name,
            &tip.branch,
            &walk.changes,
            cut,
            walk.oldest.as_ref(),
        ),
    };
    let report = Report {
        environment: &env.name,
        branch: &tip.branch,
        path: &env.path,
        changes: &walk.changes,
        cut,
        commits_read: walk.commits,
    };
    report::emit(output, &report, &text)?;
    Ok(Exit::Done)
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

fn cut_note(cut: bool, oldest: Option<&(String, i64)>) -> Option<String> {
    let (commit, time) = oldest?;
    cut.then(|| {
        format!(
            "History is cut: read back to {} ({}); older commits were not read (raise --max-commits).",
            &commit[..12.min(commit.len())],
            Time::from_unix(*time)
        )
    })
}

fn plain(
    env: &str,
    branch: &str,
    changes: &[Change],
    cut: bool,
    oldest: Option<&(String, i64)>,
) -> String {
    let mut text = String::new();
    if changes.is_empty() {
        let _ = writeln!(
            text,
            "No image changes found in `{env}` (branch `{branch}`)."
        );
    }
    for c in changes {
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
    if let Some(note) = cut_note(cut, oldest) {
        let _ = writeln!(text, "{note}");
    }
    text
}

fn markdown(env: &str, changes: &[Change], cut: bool, oldest: Option<&(String, i64)>) -> String {
    let mut text = format!("### History of {}\n\n", markdown_code(env));
    text.push_str("| When | Commit | Image | Change | By | Source |\n|---|---|---|---|---|---|\n");
    for c in changes {
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
    if let Some(note) = cut_note(cut, oldest) {
        let _ = writeln!(text, "\n{note}");
    }
    text
}

/// A Markdown table cell: code, with `|` escaped.
pub(crate) fn cell(text: &str) -> String {
    if text.is_empty() {
        return String::new();
    }
    markdown_code(text).replace('|', "\\|")
}
