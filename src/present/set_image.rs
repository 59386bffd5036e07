//! How a set-image's outcome is told: the text on stdout, the JSON, annotations and the
//! diagnostics on stderr.

use std::path::Path;

use super::edits::{
    annotate, describe, list_changes, located, missing_text, refusal_text, unified_diff,
};
use crate::ci;
use crate::exit::Exit;
use crate::outcome::set_image::{SetImage, Status};
use crate::report::{self, Output};

/// Tells what was found wrong on stderr, prints the result and returns the exit code.
pub fn report(outcome: &SetImage, output: Output) -> std::io::Result<Exit> {
    let dir = outcome.dir.as_path();
    for w in &outcome.warnings {
        tracing::warn!("{}", located(dir, w));
    }
    for n in &outcome.notes {
        tracing::info!("{}", located(dir, n));
    }
    annotate(
        ci::Level::Warning,
        "ferry: left as it is",
        &outcome.warnings,
    );
    match outcome.status {
        Status::Refused => {
            report::diagnostics(&refusal_text(dir, &outcome.refusals));
            annotate(
                ci::Level::Error,
                "ferry: refused, nothing written",
                &outcome.refusals,
            );
        }
        Status::NotFound => report::diagnostics(&missing_text(
            &outcome.scanned.display().to_string(),
            outcome.files_read,
            &outcome.missing,
        )),
        _ => {}
    }
    report::emit(output, outcome, &text(outcome))?;
    Ok(outcome.status.exit())
}

/// The text on stdout.
#[must_use]
pub fn text(outcome: &SetImage) -> String {
    let dir: &Path = &outcome.dir;
    let mut text = String::new();
    let (changes, files) = (outcome.changes.len(), outcome.files.len());
    match outcome.status {
        Status::UpToDate => text.push_str(&format!(
            "Already up to date: {} reference(s) to {} already set.\n",
            outcome.references,
            describe(&outcome.updates)
        )),
        Status::DryRun => {
            for f in &outcome.files {
                text.push_str(&unified_diff(&f.path, &f.before, &f.after));
            }
            list_changes(&mut text, dir, &outcome.changes);
            text.push_str(&format!(
                "Dry run: would make {changes} change(s) in {files} file(s); nothing was written.\n"
            ));
        }
        Status::Changed => {
            list_changes(&mut text, dir, &outcome.changes);
            text.push_str(&format!(
                "Set {}: {changes} change(s) in {files} file(s).\n",
                describe(&outcome.updates)
            ));
        }
        Status::NotFound | Status::Refused => {}
    }
    if !outcome.warnings.is_empty() && outcome.status != Status::Refused {
        text.push_str(&format!(
            "Left as they are: {} mention(s) of the image(s), listed above with why and the fix (--strict refuses them).\n",
            outcome.warnings.len()
        ));
    }
    text
}
