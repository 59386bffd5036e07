//! `ferry set-image`: set image tags everywhere they are referenced in a local directory.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::time::Instant;

use super::Error;
use super::missing::closest_to;
use crate::cli::SetImageArgs;
use crate::config::{self, Config};
use crate::image::ImageName;
use crate::outcome::missing::Missing;
use crate::outcome::set_image::{SetImage, Status};
use crate::plan::{self, Planner, Verdict};
use crate::tree;

/// Plans the updates in the directory and writes them (unless a dry run): the outcome, which
/// [`crate::present::set_image`] tells.
pub fn execute(args: &SetImageArgs) -> Result<SetImage, Error> {
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
    let (status, missing) = match plan.verdict() {
        Verdict::Refused(_) => (Status::Refused, Vec::new()),
        Verdict::Missing(images) => (Status::NotFound, suggestions(&scanned, &files, images)?),
        Verdict::UpToDate { .. } => (Status::UpToDate, Vec::new()),
        Verdict::Changes { .. } if args.dry_run => (Status::DryRun, Vec::new()),
        Verdict::Changes { files, .. } => {
            for f in files {
                tree::write_atomic(&dir.join(&f.path), f.after.as_bytes())?;
            }
            (Status::Changed, Vec::new())
        }
    };
    Ok(SetImage {
        status,
        dir,
        changes: plan.changes,
        warnings: plan.warnings,
        notes: plan.notes,
        refusals: plan.refusals,
        missing,
        scanned,
        files_read: files.len(),
        updates: planner.updates().to_vec(),
        references: plan.references,
        files: plan.files,
    })
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
