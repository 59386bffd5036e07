//! How `ferry merge` is told: each change request's result and what it waits for, the CI's
//! outputs and step summary.

use std::fmt::Write as _;

use crate::ci::{self, Context, Outputs};
use crate::forge::Words;
use crate::outcome::merge::{Item, Merge, Status};
use crate::render::{self, RenderError};
use crate::report::{self, Output};

/// The built-in step summary of `ferry merge`.
pub const SUMMARY: &str = include_str!("../../templates/merge-summary.md.tera");

/// One change request's result in one line.
#[must_use]
pub fn describe(item: &Item, words: Words) -> String {
    let name = if item.url.is_empty() {
        format!("{} {}{}", words.change_request, words.sigil, item.number)
    } else {
        format!(
            "{} {}{} ({})",
            words.change_request, words.sigil, item.number, item.url
        )
    };
    match item.status {
        Status::Merged => format!(
            "Merged {name}{}.",
            item.merge_sha
                .as_deref()
                .map(|s| format!(" ({})", &s[..s.len().min(12)]))
                .unwrap_or_default()
        ),
        Status::AlreadyMerged => format!("{name} is already merged: nothing to do."),
        Status::AutoMerge => format!(
            "{} will merge {name} once it is ready; waiting for:",
            words.forge
        ),
        Status::Waiting => format!("{name} is not ready to merge; waiting for:"),
        Status::Closed => format!("{name} is closed: nothing to merge."),
    }
}

/// One change request's result and, below it, what it waits for: lines that each end with a
/// line break.
#[must_use]
pub fn item_text(item: &Item, words: Words) -> String {
    let mut text = describe(item, words);
    text.push('\n');
    for missing in &item.missing {
        let _ = writeln!(text, "  - {missing}");
    }
    text
}

/// What `ferry merge` did, in words.
#[must_use]
pub fn text(merge: &Merge) -> String {
    let mut text = String::new();
    if merge.change_requests.is_empty() {
        let _ = writeln!(
            text,
            "No open {} of ferry for environment `{}`: nothing to merge.",
            merge.words.change_request,
            merge.env.as_deref().unwrap_or_default()
        );
    }
    for item in &merge.change_requests {
        text.push_str(&item_text(item, merge.words));
    }
    text
}

/// Publishes the CI's outputs and step summary.
pub fn publish(merge: &Merge) -> Result<(), RenderError> {
    let mut outputs = Outputs::default();
    let merged: Vec<&Item> = merge
        .change_requests
        .iter()
        .filter(|i| i.status == Status::Merged)
        .collect();
    outputs
        .set(
            "status",
            merge
                .change_requests
                .first()
                .map_or("nothing-to-merge", |i| i.status.as_str()),
        )
        .set("merged", (!merged.is_empty()).to_string())
        .set(
            "merge-sha",
            merged
                .first()
                .and_then(|i| i.merge_sha.clone())
                .unwrap_or_default(),
        );
    outputs.summary = summary(merge)?;
    ci::publish_or_warn(Context::from_env().as_ref(), &outputs);
    Ok(())
}

/// The step summary.
pub fn summary(merge: &Merge) -> Result<String, RenderError> {
    let context = serde_json::json!({ "text": text(merge) });
    render::template_text("built-in merge step summary", SUMMARY, &context)
}

/// Prints the result (text or JSON).
pub fn emit(merge: &Merge, output: Output) -> std::io::Result<()> {
    report::emit(output, merge, &text(merge))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::forge::ForgeKind;

    fn item(number: u64, status: Status, missing: &[&str]) -> Item {
        Item {
            number,
            url: format!("https://gitlab.example.com/acme/envs/-/merge_requests/{number}"),
            status,
            head_sha: "0123456789abcdef".to_owned(),
            merge_sha: (status == Status::Merged).then(|| "fedcba9876543210".to_owned()),
            missing: missing.iter().map(|m| (*m).to_owned()).collect(),
        }
    }

    #[test]
    fn the_step_summary_lists_each_change_request() {
        let merge = Merge {
            forge: ForgeKind::GitLab,
            project: "acme/envs".to_owned(),
            change_requests: vec![
                item(1, Status::Merged, &[]),
                item(2, Status::Waiting, &["1 approval", "pipeline"]),
                item(3, Status::AutoMerge, &["pipeline"]),
                item(4, Status::AlreadyMerged, &[]),
                item(5, Status::Closed, &[]),
            ],
            api_calls: 9,
            words: ForgeKind::GitLab.words(),
            env: None,
        };
        let shown = summary(&merge).unwrap();
        assert!(shown.ends_with("nothing to merge.\n"), "{shown:?}");
        insta::assert_snapshot!(shown);
        let nothing = Merge {
            change_requests: Vec::new(),
            env: Some("production".to_owned()),
            ..merge
        };
        insta::assert_snapshot!("nothing_to_merge", summary(&nothing).unwrap());
    }
}
