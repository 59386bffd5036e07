//! `ferry set-image`: set image tags everywhere they are referenced in a local directory.

use std::collections::BTreeSet;
use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::time::Instant;

use serde::Serialize;

use super::Error;
use crate::cli::{Output, SetImageArgs};
use crate::config::{self, Config};
use crate::exit::Exit;
use crate::image::{self, ImageName, ImageUpdate};
use crate::plan::{self, Change, Notice, Plan, Planner};
use crate::report;
use crate::tree;

/// The result, as printed with `--output json`.
#[derive(Debug, Serialize)]
struct Report<'a> {
    status: Status,
    dir: String,
    changes: &'a [Change],
    warnings: &'a [Notice],
    refusals: &'a [Notice],
    missing: Vec<Missing>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
enum Status {
    Changed,
    UpToDate,
    DryRun,
    NotFound,
    Refused,
}

#[derive(Debug, Serialize)]
struct Missing {
    /// The normalized name.
    image: String,
    /// The closest names found, normalized, best first.
    suggestions: Vec<String>,
    /// The same names in their short form, for people.
    #[serde(skip)]
    familiar: (String, Vec<String>),
}

pub fn run(args: &SetImageArgs, output: Output) -> Result<Exit, Error> {
    let updates = requested_updates(args)?;
    let (dir, env_path) = target_dir(args)?;
    let planner = Planner::new(updates)?;

    let started = Instant::now();
    let scanned = dir.join(&env_path);
    let files = tree::yaml_files(&scanned)?;
    let scans = tree::scan(&scanned, &files, |path, bytes| planner.scan(path, bytes))?;
    let relevant = scans.len();
    let mut plan = planner.plan(scans)?;
    plan.relocate(&env_path);
    tracing::debug!(
        dir = %scanned.display(),
        files = files.len(),
        relevant,
        references = plan.references,
        elapsed_ms = started.elapsed().as_millis() as u64,
        "planned"
    );
    for f in &plan.files {
        tracing::trace!(file = %f.path, bytes = f.after.len(), "verified edit");
    }

    let dir_label = dir.display().to_string();
    let mut text = String::new();
    for w in &plan.warnings {
        tracing::warn!("{}", located(&dir, w));
    }
    let (status, exit, missing) = if !plan.refusals.is_empty() {
        report::diagnostics(&refusal_text(&dir, &plan));
        (Status::Refused, Exit::Refused, Vec::new())
    } else if !plan.missing.is_empty() {
        let missing = suggestions(&scanned, &files, &plan.missing)?;
        let label = scanned.display().to_string();
        report::diagnostics(&missing_text(&label, files.len(), &missing));
        (Status::NotFound, Exit::NotFound, missing)
    } else if plan.changes.is_empty() {
        let _ = writeln!(
            text,
            "Already up to date: {} reference(s) to {} already set.",
            plan.references,
            describe(planner.updates())
        );
        (Status::UpToDate, Exit::Done, Vec::new())
    } else if args.dry_run {
        for f in &plan.files {
            text.push_str(&unified_diff(&f.path, &f.before, &f.after));
        }
        list_changes(&mut text, &dir, &plan);
        let _ = writeln!(
            text,
            "Dry run: would make {} change(s) in {} file(s); nothing was written.",
            plan.changes.len(),
            plan.files.len()
        );
        (Status::DryRun, Exit::Done, Vec::new())
    } else {
        for f in &plan.files {
            tree::write_atomic(&dir.join(&f.path), f.after.as_bytes())?;
        }
        list_changes(&mut text, &dir, &plan);
        let _ = writeln!(
            text,
            "Set {}: {} change(s) in {} file(s).",
            describe(planner.updates()),
            plan.changes.len(),
            plan.files.len()
        );
        (Status::Changed, Exit::Done, Vec::new())
    };
    let report = Report {
        status,
        dir: dir_label,
        changes: &plan.changes,
        warnings: &plan.warnings,
        refusals: &plan.refusals,
        missing,
    };
    report::emit(output, &report, &text)?;
    Ok(exit)
}

/// The updates from the command line, with `--digest` folded in.
fn requested_updates(args: &SetImageArgs) -> Result<Vec<ImageUpdate>, Error> {
    let mut updates = args.updates.clone();
    if let Some(digest) = &args.digest {
        match updates.as_mut_slice() {
            [one] if one.digest.is_none() => one.digest = Some(digest.clone()),
            [_] => {
                return Err(Error::Usage(
                    "--digest and IMAGE=TAG@DIGEST both give a digest; use one".into(),
                ));
            }
            _ => return Err(Error::Usage(
                "--digest needs exactly one IMAGE=TAG; with several images write IMAGE=TAG@DIGEST"
                    .into(),
            )),
        }
    }
    Ok(updates)
}

/// The root that reported paths are relative to (--dir, or the directory of ferry.yaml), and the
/// directory to edit below it (the --env environment's path, or nothing).
fn target_dir(args: &SetImageArgs) -> Result<(PathBuf, String), Error> {
    let (root, env_path) = match &args.env {
        None => (args.dir.clone(), String::new()),
        Some(name) => {
            let file = args
                .config
                .clone()
                .unwrap_or_else(|| args.dir.join(config::FILE_NAME));
            let config = Config::load(&file)?;
            tracing::info!(config = %file.display(), "using configuration");
            let env = config.environment(name).map_err(|mut e| {
                e.file.clone_from(&file);
                e
            })?;
            (
                file.parent().unwrap_or(Path::new(".")).to_path_buf(),
                env.path,
            )
        }
    };
    let dir = root.join(&env_path);
    if !dir.is_dir() {
        return Err(Error::Usage(format!(
            "{}: no such directory; pass the directory holding the environment's YAML with --dir",
            dir.display()
        )));
    }
    Ok((root, env_path))
}

fn describe(updates: &[ImageUpdate]) -> String {
    let parts: Vec<String> = updates
        .iter()
        .map(|u| match &u.digest {
            Some(d) => format!("{}={}@{d}", u.written, u.tag),
            None => format!("{}={}", u.written, u.tag),
        })
        .collect();
    parts.join(", ")
}

/// `path:line:column` of a place in a file below `dir`, as editors and terminals link it.
fn place(dir: &Path, file: &str, line: usize, column: usize) -> String {
    format!("{}:{line}:{column}", dir.join(file).display())
}

fn located(dir: &Path, n: &Notice) -> String {
    format!("{}: {}", place(dir, &n.file, n.line, n.column), n.message)
}

fn list_changes(text: &mut String, dir: &Path, plan: &Plan) {
    for c in &plan.changes {
        let old = c
            .old
            .as_deref()
            .map_or_else(|| "(added)".to_owned(), |o| format!("{o:?}"));
        let at = place(dir, &c.file, c.line, c.column);
        let _ = writeln!(text, "{at}: {old} → {:?} [{}]", c.new, c.shape.as_str());
        if let Some(note) = &c.note {
            let _ = writeln!(text, "  note: {note}");
        }
    }
}

fn refusal_text(dir: &Path, plan: &Plan) -> String {
    let mut text = format!(
        "error: ferry will not edit {} reference(s); nothing was written:\n",
        plan.refusals.len()
    );
    for r in &plan.refusals {
        let reason = r.reason.map_or("refused", |r| r.as_str());
        let _ = writeln!(
            text,
            "  {}: {reason}: {}",
            place(dir, &r.file, r.line, r.column),
            r.message
        );
    }
    text
}

fn missing_text(dir: &str, files: usize, missing: &[Missing]) -> String {
    let mut text = String::new();
    for m in missing {
        let _ = writeln!(
            text,
            "error: no reference to {} in the {files} YAML file(s) below {dir}; nothing was written",
            m.image
        );
        if m.suggestions.is_empty() {
            text.push_str("  hint: check the image name and --dir; names are compared after normalization (nginx = docker.io/library/nginx)\n");
        } else {
            let _ = writeln!(text, "  hint: did you mean {}?", m.familiar.1.join(", "));
        }
    }
    text
}

/// For each missing image, the closest image names referenced anywhere below `dir`.
fn suggestions(dir: &Path, files: &[String], missing: &[ImageName]) -> Result<Vec<Missing>, Error> {
    let found: BTreeSet<ImageName> =
        tree::scan(dir, files, |path, bytes| Some(plan::images_in(path, bytes)))?
            .into_iter()
            .flatten()
            .collect();
    Ok(missing
        .iter()
        .map(|m| {
            let close = image::closest(m, &found, 5);
            Missing {
                image: m.to_string(),
                suggestions: close.iter().map(ToString::to_string).collect(),
                familiar: (m.familiar(), close.iter().map(|n| n.familiar()).collect()),
            }
        })
        .collect())
}

/// A unified diff of one file, with `a/` and `b/` paths as git prints them.
fn unified_diff(path: &str, before: &str, after: &str) -> String {
    let diff = similar::TextDiff::from_lines(before, after);
    let mut out = String::new();
    let _ = write!(
        out,
        "{}",
        diff.unified_diff()
            .context_radius(3)
            .header(&format!("a/{path}"), &format!("b/{path}"))
    );
    if !out.ends_with('\n') {
        out.push('\n');
    }
    out
}
