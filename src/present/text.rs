//! Text shared by the commands that edit tags (`set-image`, `bump`): change lists, refusals,
//! missing images, diffs, and notices as CI annotations.

use std::fmt::Write as _;
use std::path::Path;

use crate::image::ImageUpdate;
use crate::plan::{Notice, Plan};

/// The updates as the command line gives them: `IMAGE=TAG, IMAGE=TAG`.
#[must_use]
pub fn describe(updates: &[ImageUpdate]) -> String {
    let parts: Vec<String> = updates.iter().map(|u| u.argument(&u.written)).collect();
    parts.join(", ")
}

/// `path:line:column` of a place in a file below `dir`, as editors and terminals link it.
#[must_use]
pub fn place(dir: &Path, file: &str, line: usize, column: usize) -> String {
    format!("{}:{line}:{column}", dir.join(file).display())
}

/// A notice at its place: `path:line:column: message`.
#[must_use]
pub fn located(dir: &Path, n: &Notice) -> String {
    format!("{}: {}", place(dir, &n.file, n.line, n.column), n.message)
}

/// A line per change of `plan` (`place: old → new [shape]`), with its note.
pub fn list_changes(text: &mut String, dir: &Path, plan: &Plan) {
    for c in &plan.changes {
        let old = c
            .old
            .as_deref()
            .map_or_else(|| "(added)".to_owned(), |o| format!("{o:?}"));
        let at = place(dir, &c.file, c.line, c.column);
        let new = if c.removed {
            "(removed)".to_owned()
        } else {
            format!("{:?}", c.new)
        };
        let _ = writeln!(text, "{at}: {old} → {new} [{}]", c.shape.as_str());
        if let Some(note) = &c.note {
            let _ = writeln!(text, "  note: {note}");
        }
    }
}

/// The error for a plan with refusals: each refused reference at its place, with why.
#[must_use]
pub fn refusal_text(dir: &Path, plan: &Plan) -> String {
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

/// An error and a hint for each image of `missing` not referenced in the `files` YAML files
/// below `dir`: each given as its name and the closest names found (short forms, best first).
pub fn missing_text<'a>(
    dir: &str,
    files: usize,
    missing: impl IntoIterator<Item = (&'a str, &'a [String])>,
) -> String {
    let mut text = String::new();
    for (image, suggestions) in missing {
        let _ = writeln!(
            text,
            "error: no reference to {image} in the {files} YAML file(s) below {dir}; nothing was written"
        );
        if suggestions.is_empty() {
            text.push_str("  hint: check the image name and --dir; names are compared after normalization (nginx = docker.io/library/nginx)\n");
        } else {
            let _ = writeln!(text, "  hint: did you mean {}?", suggestions.join(", "));
        }
    }
    text
}

/// A unified diff of one file, with `a/` and `b/` paths as git prints them.
#[must_use]
pub fn unified_diff(path: &str, before: &str, after: &str) -> String {
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

/// Each notice as a CI annotation at its file and line (GitHub Actions only; see
/// [`crate::report::annotate`]).
pub fn annotate(level: crate::ci::Level, title: &str, notices: &[Notice]) {
    for n in notices {
        crate::report::annotate(&crate::ci::Annotation {
            level,
            file: Some(n.file.clone()),
            line: Some(n.line),
            column: Some(n.column),
            title: title.to_owned(),
            message: n.message.clone(),
        });
    }
}
