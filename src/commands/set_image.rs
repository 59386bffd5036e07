//! `ferry set-image`: set image tags everywhere they are referenced in a local directory.

use std::collections::BTreeSet;
use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::time::Instant;

use serde::Serialize;

use super::Error;
use super::missing::{Missing, closest_to};
use super::text::{describe, list_changes, located, missing_text, refusal_text, unified_diff};
use crate::cli::SetImageArgs;
use crate::config::{self, Config};
use crate::exit::Exit;
use crate::image::ImageName;
use crate::plan::{self, Change, Notice, Planner, Verdict};
use crate::report::{self, Output};
use crate::tree;

/// The result, as printed with `--output json`.
#[derive(Debug, Serialize)]
struct Report<'a> {
    status: Status,
    dir: String,
    changes: &'a [Change],
    warnings: &'a [Notice],
    #[serde(skip_serializing_if = "<[Notice]>::is_empty")]
    notes: &'a [Notice],
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

pub fn run(args: &SetImageArgs, output: Output) -> Result<Exit, Error> {
    let updates = super::requested_updates(&args.updates, args.digest.as_ref())?;
    let (dir, env_path, tree, strict) = target_dir(args)?;
    let planner = Planner::new(updates)?;

    let started = Instant::now();
    let scanned = dir.join(&env_path);
    let files = tree::yaml_files(&tree, &scanned)?;
    let charts = plan::Charts::new(files.iter().map(String::as_str));
    let scans = tree::scan(&scanned, &files, |path, content| match content {
        tree::Content::Bytes(bytes) if charts.is_source(path) => planner.chart_source(path, bytes),
        _ if charts.is_source(path) => None,
        content => planner.scan_content(path, content),
    })?;
    let relevant = scans.len();
    let mut plan = planner.plan(scans)?;
    plan.relocate(&env_path);
    if args.strict || strict {
        plan.refuse_reports();
    }
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
    for n in &plan.notes {
        tracing::info!("{}", located(&dir, n));
    }
    super::text::annotate(
        crate::ci::Level::Warning,
        "ferry: left as it is",
        &plan.warnings,
    );
    let (status, exit, missing) = match plan.verdict() {
        Verdict::Refused(refusals) => {
            report::diagnostics(&refusal_text(&dir, &plan));
            super::text::annotate(
                crate::ci::Level::Error,
                "ferry: refused, nothing written",
                refusals,
            );
            (Status::Refused, Exit::Refused, Vec::new())
        }
        Verdict::Missing(images) => {
            let missing = suggestions(&scanned, &files, images)?;
            let label = scanned.display().to_string();
            report::diagnostics(&missing_text(&label, files.len(), &missing));
            (Status::NotFound, Exit::NotFound, missing)
        }
        Verdict::UpToDate { references } => {
            let _ = writeln!(
                text,
                "Already up to date: {references} reference(s) to {} already set.",
                describe(planner.updates())
            );
            (Status::UpToDate, Exit::Done, Vec::new())
        }
        Verdict::Changes { files, changes } if args.dry_run => {
            for f in files {
                text.push_str(&unified_diff(&f.path, &f.before, &f.after));
            }
            list_changes(&mut text, &dir, &plan);
            let _ = writeln!(
                text,
                "Dry run: would make {} change(s) in {} file(s); nothing was written.",
                changes.len(),
                files.len()
            );
            (Status::DryRun, Exit::Done, Vec::new())
        }
        Verdict::Changes { files, changes } => {
            for f in files {
                tree::write_atomic(&dir.join(&f.path), f.after.as_bytes())?;
            }
            list_changes(&mut text, &dir, &plan);
            let _ = writeln!(
                text,
                "Set {}: {} change(s) in {} file(s).",
                describe(planner.updates()),
                changes.len(),
                files.len()
            );
            (Status::Changed, Exit::Done, Vec::new())
        }
    };
    if !plan.warnings.is_empty() && !matches!(plan.verdict(), Verdict::Refused(_)) {
        let _ = writeln!(
            text,
            "Left as they are: {} mention(s) of the image(s), listed above with why and the fix (--strict refuses them).",
            plan.warnings.len()
        );
    }
    let report = Report {
        status,
        dir: dir_label,
        changes: &plan.changes,
        warnings: &plan.warnings,
        notes: &plan.notes,
        refusals: &plan.refusals,
        missing,
    };
    report::emit(output, &report, &text)?;
    Ok(exit)
}

/// The root that reported paths are relative to (--dir, or the directory of ferry.yaml), the
/// directory to edit below it (the --env environment's path, or nothing), and the working tree
/// nothing is read or written outside of (the directory of ferry.yaml with --env, else the
/// checkout --dir is in, see [`tree::root_of`]). A symbolic link on the way that leaves the
/// tree is refused.
fn target_dir(args: &SetImageArgs) -> Result<(PathBuf, String, PathBuf, bool), Error> {
    let (root, env_path, tree, strict) = match &args.env {
        None => {
            let tree = tree::root_of(&args.dir);
            if args.dir.is_dir() {
                tree::inside(&tree, &tree::root_of_relative(&tree, &args.dir))?;
            }
            (args.dir.clone(), String::new(), tree, false)
        }
        Some(name) => {
            let file = match &args.config {
                Some(file) => file.clone(),
                None => tree::inside(&args.dir, config::FILE_NAME)?,
            };
            let config = Config::load(&file)?;
            tracing::info!(config = %file.display(), "using configuration");
            let env = config.environment(name).map_err(|mut e| {
                e.file.clone_from(&file);
                e
            })?;
            let root = file.parent().unwrap_or(Path::new(".")).to_path_buf();
            tree::inside(&root, &env.path)?;
            (root.clone(), env.path, root, env.strict)
        }
    };
    let dir = root.join(&env_path);
    if !dir.is_dir() {
        return Err(Error::Usage(format!(
            "{}: no such directory; pass the directory holding the environment's YAML with --dir",
            crate::ci::one_line(&dir.display().to_string())
        )));
    }
    Ok((root, env_path, tree, strict))
}

/// For each missing image, the closest image names referenced anywhere below `dir`.
fn suggestions(dir: &Path, files: &[String], missing: &[ImageName]) -> Result<Vec<Missing>, Error> {
    let found: BTreeSet<ImageName> = tree::scan(dir, files, |path, content| match content {
        tree::Content::Bytes(bytes) => Some(plan::images_in(path, bytes)),
        // Too large to parse: no suggestions from it.
        tree::Content::TooLarge { .. } => None,
    })?
    .into_iter()
    .flatten()
    .collect();
    Ok(closest_to(missing, &found))
}
