//! Golden fixtures for `ferry set-image`: `tests/fixtures/set-image/<case>/` holds the input tree
//! (`before/`), the expected tree (`after/`, absent when nothing may change) and `case.yaml`
//! (arguments, exit code, and the changes, refusals and warnings the JSON output must list).
//! The `after/` trees are data (whole directory trees, compared byte for byte), not `insta`
//! snapshots; but they are accepted the way every snapshot of this project is:
//! `INSTA_UPDATE=always cargo test golden` rewrites `after/` from what ferry does, for review
//! with `git diff`.
//!
//! Every case is also run a second time, with the same arguments, on the tree the first run
//! left (issue 18 rule 7, idempotency): the second run must not change a byte; a case that
//! exited 0 must exit 0 again, with status `up-to-date` when the first run changed files and
//! with the same status otherwise (`up-to-date` stays `up-to-date`, and a `--dry-run` case,
//! rerun as it is on its unchanged tree, stays `dry-run` with the same changes); any other
//! case must exit with the same code again (a refusal stays a refusal, a usage error a usage
//! error).

use std::path::{Path, PathBuf};

use serde::Deserialize;
use serde_json::Value;

use crate::support::{copy_tree, ferry, read_tree, tree_diff};

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Case {
    description: String,
    args: Vec<String>,
    exit: i32,
    status: Option<String>,
    changes: Option<Vec<serde_json::Map<String, Value>>>,
    refusals: Option<Vec<serde_json::Map<String, Value>>>,
    warnings: Option<Vec<serde_json::Map<String, Value>>>,
    suggestions: Option<Vec<String>>,
}

fn cases() -> Vec<PathBuf> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/set-image");
    let mut cases: Vec<PathBuf> = std::fs::read_dir(&root)
        .expect("fixture directory")
        .map(|e| e.expect("entry").path())
        .filter(|p| p.join("case.yaml").is_file())
        .collect();
    cases.sort();
    cases
}

/// Checks that `actual` (a JSON array) has exactly the entries of `expected`, in order, each
/// matching on the fields the fixture gives.
fn compare_list(
    what: &str,
    expected: &[serde_json::Map<String, Value>],
    actual: &Value,
    problems: &mut Vec<String>,
) {
    let actual = actual.as_array().cloned().unwrap_or_default();
    if expected.len() != actual.len() {
        problems.push(format!(
            "expected {} {what}, got {}: {}",
            expected.len(),
            actual.len(),
            Value::Array(actual.clone())
        ));
        return;
    }
    for (i, (want, got)) in expected.iter().zip(&actual).enumerate() {
        for (key, value) in want {
            if got.get(key) != Some(value) && !(value.is_null() && got.get(key).is_none()) {
                problems.push(format!(
                    "{what}[{i}].{key}: expected {value}, got {}",
                    got.get(key).unwrap_or(&Value::Null)
                ));
            }
        }
    }
}

/// `ferry set-image --dir TREE --output json ARGS…`.
fn set_image(tree: &Path, args: &[String]) -> Result<std::process::Output, String> {
    ferry()
        .arg("set-image")
        .arg("--dir")
        .arg(tree)
        .args(["--output", "json"])
        .args(args)
        .output()
        .map_err(|e| e.to_string())
}

/// The second run of a case on the tree its first run left: nothing may change (see the
/// module doc).
fn check_rerun(
    case: &Case,
    tree: &Path,
    first: &std::process::Output,
    problems: &mut Vec<String>,
) -> Result<(), String> {
    let before = read_tree(tree);
    let out = set_image(tree, &case.args)?;
    if let Some(diff) = tree_diff(&before, &read_tree(tree)) {
        problems.push(format!("rerun changed the tree:\n{diff}"));
    }
    let first_code = first.status.code();
    if out.status.code() != first_code {
        problems.push(format!(
            "rerun exit code {:?}, expected {first_code:?} as the first run: {}",
            out.status.code(),
            String::from_utf8_lossy(&out.stderr).trim()
        ));
    }
    if first_code != Some(0) {
        return Ok(());
    }
    let json = |bytes: &[u8]| serde_json::from_slice::<Value>(bytes).unwrap_or(Value::Null);
    let (first, again) = (json(&first.stdout), json(&out.stdout));
    let expected = match first["status"].as_str() {
        Some("changed") => "up-to-date",
        Some(other) => other,
        None => return Ok(()),
    };
    if again["status"] != Value::String(expected.to_owned()) {
        problems.push(format!(
            "rerun status {}, expected {expected}",
            again["status"]
        ));
    }
    let changes = if expected == "dry-run" {
        first["changes"].clone()
    } else {
        Value::Array(Vec::new())
    };
    if again["changes"].as_array().cloned().unwrap_or_default()
        != changes.as_array().cloned().unwrap_or_default()
    {
        problems.push(format!(
            "rerun changes {}, expected {changes}",
            again["changes"]
        ));
    }
    Ok(())
}

fn run_case(dir: &Path) -> Result<(), String> {
    let text = std::fs::read_to_string(dir.join("case.yaml")).map_err(|e| e.to_string())?;
    let case: Case = serde_saphyr::from_str(&text).map_err(|e| format!("case.yaml: {e}"))?;
    let work = tempfile::tempdir().map_err(|e| e.to_string())?;
    let tree = work.path().join("tree");
    let before = read_tree(&dir.join("before"));
    copy_tree(&dir.join("before"), &tree);

    let out = set_image(&tree, &case.args)?;
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    let mut problems = Vec::new();
    if out.status.code() != Some(case.exit) {
        problems.push(format!(
            "exit code {:?}, expected {}",
            out.status.code(),
            case.exit
        ));
    }
    let after_dir = dir.join("after");
    let actual = read_tree(&tree);
    if std::env::var("INSTA_UPDATE").is_ok_and(|v| v == "always")
        && out.status.code() == Some(case.exit)
    {
        let _ = std::fs::remove_dir_all(&after_dir);
        if actual != before {
            copy_tree(&tree, &after_dir);
        }
    }
    let expected = if after_dir.is_dir() {
        read_tree(&after_dir)
    } else {
        before
    };
    if let Some(diff) = tree_diff(&expected, &actual) {
        problems.push(format!(
            "tree differs from {}:\n{diff}",
            if after_dir.is_dir() {
                "after/"
            } else {
                "before/ (no change expected)"
            }
        ));
    }
    if case.exit != 2 {
        match serde_json::from_str::<Value>(&stdout) {
            Err(e) => problems.push(format!("stdout is not JSON ({e}): {stdout}")),
            Ok(json) => {
                if let Some(status) = &case.status
                    && json["status"] != Value::String(status.clone())
                {
                    problems.push(format!("status {}, expected {status}", json["status"]));
                }
                if let Some(changes) = &case.changes {
                    compare_list("changes", changes, &json["changes"], &mut problems);
                }
                if let Some(refusals) = &case.refusals {
                    compare_list("refusals", refusals, &json["refusals"], &mut problems);
                }
                if let Some(warnings) = &case.warnings {
                    compare_list("warnings", warnings, &json["warnings"], &mut problems);
                }
                if let Some(suggestions) = &case.suggestions {
                    let got: Vec<String> = json["missing"]
                        .as_array()
                        .into_iter()
                        .flatten()
                        .flat_map(|m| m["suggestions"].as_array().cloned().unwrap_or_default())
                        .filter_map(|s| s.as_str().map(str::to_owned))
                        .collect();
                    if !got.starts_with(suggestions) {
                        problems.push(format!(
                            "suggestions {got:?}, expected to start with {suggestions:?}"
                        ));
                    }
                }
            }
        }
    }
    if problems.is_empty() {
        check_rerun(&case, &tree, &out, &mut problems)?;
    }
    if problems.is_empty() {
        Ok(())
    } else {
        Err(format!(
            "{}\n  ({})\n  - {}\n  stderr: {}",
            dir.file_name().unwrap_or_default().to_string_lossy(),
            case.description,
            problems.join("\n  - "),
            stderr.trim()
        ))
    }
}

#[test]
fn set_image_golden_fixtures() {
    let cases = cases();
    assert!(
        cases.len() >= 150,
        "expected at least 150 fixture cases, found {}",
        cases.len()
    );
    let failures: Vec<String> = cases.iter().filter_map(|c| run_case(c).err()).collect();
    assert!(
        failures.is_empty(),
        "{} of {} fixture cases failed:\n\n{}",
        failures.len(),
        cases.len(),
        failures.join("\n\n")
    );
}
