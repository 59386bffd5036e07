//! How a bump's outcome is told: the text on stdout, the JSON, the step summary, the CI's
//! outputs and annotations, and the diagnostics on stderr.

use std::collections::BTreeMap;
use std::path::Path;

use serde::Serialize;

use super::edits::{
    annotate, describe, list_changes, located, missing_text, refusal_text, unified_diff,
};
use crate::ci::{self, Context, Outputs};
use crate::config::Update;
use crate::exit::Exit;
use crate::forge::ForgeKind;
use crate::image::Reference;
use crate::outcome::bump::{Action, Bump, Status};
use crate::render;
use crate::report::{self, Output};

/// The built-in step summary of a bump.
const SUMMARY: &str = include_str!("../../templates/bump-summary.md.tera");

/// Prints the result, writes the CI's outputs and returns the exit code.
pub fn report(bump: &Bump, context: Option<&Context>, output: Output) -> std::io::Result<Exit> {
    for w in &bump.warnings {
        tracing::warn!("{}", located(Path::new(""), w));
    }
    for n in &bump.notes {
        tracing::info!("{}", located(Path::new(""), n));
    }
    annotate(ci::Level::Warning, "ferry: left as it is", &bump.warnings);
    annotate(
        ci::Level::Error,
        "ferry: refused, nothing written",
        &bump.refusals,
    );
    if !bump.reasons.is_empty() {
        report::diagnostics(&reasons_text(bump));
    }
    let cwd = std::env::current_dir().unwrap_or_else(|_| Path::new(".").to_path_buf());
    match ci::publish(context, &ci::process_env, &cwd, &outputs(bump)) {
        Ok(files) => {
            for f in files {
                tracing::debug!(file = %f.display(), "wrote CI outputs");
            }
        }
        Err(e) => tracing::warn!("could not write the CI outputs: {e}"),
    }
    report::emit(output, bump, &text(bump))?;
    Ok(bump.exit())
}

/// What the attempt that concluded found wrong, on stderr: the references ferry refuses to
/// edit, or the images it did not find (with the closest names). Said as soon as the bump ends,
/// whoever runs it.
pub fn diagnostics(bump: &Bump) {
    match bump.status {
        Status::Refused => report::diagnostics(&refusal_text(Path::new(""), &bump.refusals)),
        Status::NotFound => {
            let path = bump.path.as_deref().unwrap_or_default();
            let label = format!(
                "{}:{}",
                bump.branch.as_deref().unwrap_or_default(),
                if path.is_empty() { "/" } else { path }
            );
            report::diagnostics(&missing_text(&label, bump.detail.files_read, &bump.missing));
        }
        _ => {}
    }
}

/// Why nothing was pushed (held, tag refused, stale).
fn reasons_text(bump: &Bump) -> String {
    let what = match bump.status {
        Status::Held => "on hold",
        Status::TagRefused => "tag refused",
        _ => "stale",
    };
    let mut lines = format!("error: nothing was pushed ({what}):\n");
    for r in &bump.reasons {
        lines.push_str(&format!("  {r}\n"));
    }
    lines
}

/// The text on stdout.
#[must_use]
pub fn text(bump: &Bump) -> String {
    let mut text = body(bump);
    if bump.status == Status::Pushed && bump.attempts > 1 {
        text.push_str(&format!(
            "Landed on attempt {} of {}.\n",
            bump.attempts, bump.detail.max_attempts
        ));
    }
    text
}

/// The result in one line: what a promotion or a rollback says of the bump it ran.
#[must_use]
pub fn one_line(bump: &Bump) -> String {
    body(bump)
        .lines()
        .last()
        .unwrap_or(bump.status.as_str())
        .to_owned()
}

/// The text on stdout but the attempts.
fn body(bump: &Bump) -> String {
    let mut text = String::new();
    match bump.status {
        Status::Pushed => {
            list_changes(&mut text, Path::new(""), &bump.changes);
            text.push_str(&pushed_line(bump));
        }
        Status::Proposed => {
            list_changes(&mut text, Path::new(""), &bump.changes);
            text.push_str(&proposed_lines(bump));
        }
        Status::DryRun => text.push_str(&dry_run_text(bump)),
        Status::UpToDate => text.push_str(&up_to_date_line(bump)),
        _ => {}
    }
    text
}

/// The label, the branch and the tip of the change, as the lines say them.
fn at(bump: &Bump) -> (&str, &str, &str) {
    (
        bump.detail.label.as_deref().unwrap_or_default(),
        bump.branch.as_deref().unwrap_or_default(),
        bump.previous.as_deref().map(short).unwrap_or_default(),
    )
}

fn pushed_line(bump: &Bump) -> String {
    let (label, branch, previous) = at(bump);
    format!(
        "Pushed {}: {} change(s) in {} file(s) of {label} on `{branch}` ({previous} → {}).\n",
        describe(&bump.detail.updates),
        bump.changes.len(),
        bump.detail.files.len(),
        short(bump.commit.as_deref().unwrap_or_default())
    )
}

fn proposed_lines(bump: &Bump) -> String {
    let (label, branch, _) = at(bump);
    let mut text = String::new();
    if let Some(proposed) = &bump.detail.proposed {
        text.push_str(&format!(
            "{} {}: {} change(s) in {} file(s) of {label} on branch `{}` ({} on `{branch}`).\n",
            if proposed.pushed {
                "Proposed"
            } else {
                "Already proposed"
            },
            describe(&bump.detail.updates),
            bump.changes.len(),
            bump.detail.files.len(),
            proposed.head_branch,
            short(&proposed.head_sha),
        ));
    }
    if let (Some(cr), Some(words)) = (&bump.change_request, &bump.detail.words) {
        text.push_str(&format!(
            "{} {} {}{}: {}\n",
            match cr.action {
                Action::Opened => "Opened",
                Action::Updated => "Updated",
                Action::Unchanged => "Up to date:",
            },
            words.change_request,
            words.sigil,
            cr.number,
            cr.url
        ));
    }
    text
}

fn dry_run_text(bump: &Bump) -> String {
    let mut text = String::new();
    for f in &bump.detail.files {
        text.push_str(&unified_diff(&f.path, &f.before, &f.after));
    }
    list_changes(&mut text, Path::new(""), &bump.changes);
    let Some(dry_run) = &bump.detail.dry_run else {
        return text;
    };
    let (_, branch, previous) = at(bump);
    let commit = short(bump.commit.as_deref().unwrap_or_default());
    let message = indent(&dry_run.message);
    let repo = &bump.repo;
    match (&dry_run.head_branch, bump.detail.update) {
        (Some(head), Update::PullRequest) => text.push_str(&format!(
            "Dry run: would put commit {commit} (on {previous}) on branch `{head}` of {repo} and open or update its change request into `{branch}`.\n\n{message}\n"
        )),
        _ => text.push_str(&format!(
            "Dry run: would push commit {commit} onto `{branch}` of {repo} (compare-and-swap: only if the branch is still at {previous}).\n\n{message}\n"
        )),
    }
    text
}

fn up_to_date_line(bump: &Bump) -> String {
    let (label, branch, previous) = at(bump);
    let set_by = match (&bump.commit, &bump.previous) {
        (Some(c), Some(tip)) if c != tip => format!("; set by {}", short(c)),
        _ => String::new(),
    };
    format!(
        "Already up to date: {} reference(s) to {} in {label} on `{branch}` already set (at {previous}{set_by}).\n",
        bump.detail.references,
        describe(&bump.detail.updates),
    )
}

/// The CI's outputs, with the step summary.
#[must_use]
pub fn outputs(bump: &Bump) -> Outputs {
    let changed = bump.status == Status::Pushed
        || (bump.status == Status::Proposed
            && bump.detail.proposed.as_ref().is_some_and(|p| p.pushed));
    let mut outputs = Outputs::default();
    outputs
        .set("status", bump.status.as_str())
        .set("changed", changed.to_string())
        .set("commit-sha", bump.commit.clone().unwrap_or_default())
        .set("push-attempts", bump.attempts.to_string());
    if let Some(branch) = &bump.branch {
        outputs.set("branch", branch.clone());
    }
    if let Some(label) = &bump.detail.label {
        outputs.set("environment", label.clone());
    }
    if let Some(cr) = &bump.change_request {
        outputs
            .set("pr-number", cr.number.to_string())
            .set("pr-url", cr.url.clone())
            .set("pr-action", cr.action.as_str())
            .set("head-branch", cr.head_branch.clone())
            .set("head-sha", cr.head_sha.clone());
    }
    outputs.summary = summary(bump).unwrap_or_else(|e| {
        tracing::warn!("could not write the step summary: {e}");
        String::new()
    });
    outputs
}

/// What the step summary's template reads.
#[derive(Serialize)]
struct SummaryContext {
    label: String,
    branch: String,
    status: &'static str,
    repo: String,
    /// The commit pushed, as Markdown: linked when the forge is known.
    commit: String,
    change_request: Option<SummaryChangeRequest>,
    reasons: Vec<String>,
    rows: Vec<Row>,
}

#[derive(Serialize)]
struct SummaryChangeRequest {
    action: &'static str,
    number: u64,
    url: String,
    head_branch: String,
    head_short: String,
}

/// One row of the table: an image's move, and every place it moved.
#[derive(Serialize)]
struct Row {
    image: String,
    from: String,
    to: String,
    places: Vec<String>,
}

/// The Markdown step summary.
pub fn summary(bump: &Bump) -> Result<String, render::RenderError> {
    let sha = bump.commit.as_deref().unwrap_or_default();
    let commit = match ForgeKind::guess(&bump.repo).commit_url(&bump.repo, sha) {
        Some(link) => format!("[`{}`]({link})", short(sha)),
        None => format!("`{}`", short(sha)),
    };
    let mut rows: BTreeMap<(String, String, String), Vec<String>> = BTreeMap::new();
    for c in &bump.changes {
        let from = c.old.as_deref().map_or_else(|| "(new)".to_owned(), old_tag);
        rows.entry((c.image.clone(), from, old_tag(&c.new)))
            .or_default()
            .push(format!("{}:{}", c.file, c.line));
    }
    let context = SummaryContext {
        label: bump.detail.label.clone().unwrap_or_else(|| "?".to_owned()),
        branch: bump.branch.clone().unwrap_or_else(|| "?".to_owned()),
        status: bump.status.as_str(),
        repo: bump.repo.to_string(),
        commit,
        change_request: bump.change_request.as_ref().map(|cr| SummaryChangeRequest {
            action: cr.action.as_str(),
            number: cr.number,
            url: cr.url.clone(),
            head_branch: cr.head_branch.clone(),
            head_short: short(&cr.head_sha).to_owned(),
        }),
        reasons: bump.reasons.clone(),
        rows: rows
            .into_iter()
            .map(|((image, from, to), places)| Row {
                image,
                from,
                to,
                places,
            })
            .collect(),
    };
    render::template_text("built-in bump step summary", SUMMARY, &context)
}

/// The tag in a scalar's old value: the value itself for tag fields, the tag (and digest) part
/// of a whole reference.
#[must_use]
pub fn old_tag(old: &str) -> String {
    match Reference::parse(old) {
        Ok(r) if r.tag.is_some() || r.digest.is_some() => {
            let tag = r.tag.map(|t| t.to_string()).unwrap_or_default();
            match r.digest {
                Some(d) if tag.is_empty() => d.to_string(),
                Some(d) => format!("{tag}@{d}"),
                None => tag,
            }
        }
        _ => old.to_owned(),
    }
}

/// A commit's short form.
#[must_use]
pub fn short(commit: &str) -> &str {
    commit.get(..12).unwrap_or(commit)
}

fn indent(text: &str) -> String {
    text.lines()
        .map(|l| {
            if l.is_empty() {
                String::new()
            } else {
                format!("    {l}")
            }
        })
        .collect::<Vec<_>>()
        .join("\n")
        + "\n"
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::outcome::bump::{ChangeRequest, Detail};
    use crate::plan::Change;
    use crate::repo_url::RepoUrl;

    #[test]
    fn old_tags_are_read_from_whole_references() {
        assert_eq!(old_tag("ghcr.io/acme/cart:1.2.3"), "1.2.3");
        assert_eq!(old_tag("1a2b3c4"), "1a2b3c4");
        assert_eq!(old_tag("1.10"), "1.10");
    }

    #[test]
    fn one_line_flattens_hostile_values() {
        assert_eq!(
            ci::one_line("main\r\nSigned-off-by: x"),
            "main Signed-off-by: x"
        );
        assert_eq!(ci::one_line("  a\u{2028}b "), "a b");
    }

    fn change(file: &str, line: usize, image: &str, old: Option<&str>, new: &str) -> Change {
        Change {
            file: file.to_owned(),
            line,
            column: 7,
            image: image.to_owned(),
            shape: crate::locate::Shape::Reference,
            old: old.map(str::to_owned),
            new: new.to_owned(),
            removed: false,
            note: None,
            inserted: None,
        }
    }

    fn outcome(
        status: Status,
        repo: &str,
        labelled: bool,
        commit: Option<&str>,
        changes: bool,
        reasons: &[String],
        change_request: Option<&ChangeRequest>,
    ) -> Bump {
        let (repo, _) = RepoUrl::parse(repo).expect("url");
        let changes = if changes {
            vec![
                change(
                    "envs/staging/a.yaml",
                    3,
                    "ghcr.io/acme/cart",
                    Some("ghcr.io/acme/cart:1.0"),
                    "ghcr.io/acme/cart:1.1",
                ),
                change(
                    "envs/staging/b.yaml",
                    9,
                    "ghcr.io/acme/cart",
                    Some("1.0"),
                    "1.1",
                ),
                change(
                    "envs/staging/b.yaml",
                    12,
                    "docker.io/library/nginx",
                    None,
                    "1.27@sha256:0123",
                ),
            ]
        } else {
            Vec::new()
        };
        Bump {
            status,
            repo,
            branch: labelled.then(|| "main".to_owned()),
            environment: labelled.then(|| "staging".to_owned()),
            path: labelled.then(|| "envs/staging".to_owned()),
            commit: commit.map(str::to_owned),
            previous: None,
            attempts: 1,
            changes,
            warnings: Vec::new(),
            notes: Vec::new(),
            refusals: Vec::new(),
            missing: Vec::new(),
            reasons: reasons.to_vec(),
            change_request: change_request.cloned(),
            detail: Detail {
                label: labelled.then(|| "staging".to_owned()),
                ..Detail::default()
            },
        }
    }

    /// Every status's line, reasons with a `|`, and a table whose rows group places.
    #[test]
    fn the_step_summary_is_markdown() {
        let url = "https://github.com/acme/env.git";
        let local = "/srv/git/env";
        let cr = ChangeRequest {
            number: 42,
            url: "https://github.com/acme/env/pull/42".to_owned(),
            head_branch: "ferry/staging/cart-1234".to_owned(),
            head_sha: "0123456789abcdef0123".to_owned(),
            pushed: true,
            action: Action::Opened,
        };
        let sha = "fedcba9876543210fedc";
        let reasons = ["staging is on hold: a | b".to_owned(), "second".to_owned()];
        let mut all = String::new();
        for (status, url, labelled, commit, changes, reasons, cr) in [
            (Status::Pushed, url, true, Some(sha), true, &[][..], None),
            (Status::Pushed, local, true, Some(sha), false, &[][..], None),
            (
                Status::Proposed,
                url,
                true,
                Some(sha),
                true,
                &[][..],
                Some(&cr),
            ),
            (Status::Proposed, url, true, Some(sha), true, &[][..], None),
            (Status::UpToDate, url, true, Some(sha), false, &[][..], None),
            (Status::DryRun, url, true, Some(sha), true, &[][..], None),
            (Status::NotFound, url, false, None, false, &[][..], None),
            (Status::Refused, url, true, None, false, &[][..], None),
            (Status::Held, url, true, None, false, &reasons[..], None),
            (
                Status::TagRefused,
                url,
                true,
                None,
                false,
                &reasons[..],
                None,
            ),
            (Status::Stale, url, true, None, true, &reasons[..], None),
        ] {
            let bump = outcome(status, url, labelled, commit, changes, reasons, cr);
            all.push_str(&summary(&bump).expect("the built-in template renders"));
            all.push_str("<<<END>>>\n");
        }
        insta::assert_snapshot!("step_summary", all);
    }
}
