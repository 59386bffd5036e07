//! Helpers shared by the integration tests: the real binary, trees on disk, comparisons.

pub mod forge;
pub mod git_http;
pub mod lab;
pub mod redirect;
pub mod remote;
pub mod stall;

use std::collections::BTreeMap;
use std::path::Path;
use std::process::{Command, Output};

/// A command running the `ferry` binary built for these tests, isolated from the caller's
/// environment variables that change ferry's behaviour.
pub fn ferry() -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_ferry"));
    cmd.env_remove("FERRY_OUTPUT").env_remove("RUST_LOG");
    cmd
}

/// Runs `ferry args...` and returns its output.
pub fn run(args: &[&str]) -> Output {
    ferry().args(args).output().expect("ferry runs")
}

/// Every file below `dir` as relative `/`-separated path → bytes.
pub fn read_tree(dir: &Path) -> BTreeMap<String, Vec<u8>> {
    let mut out = BTreeMap::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for entry in std::fs::read_dir(&d).expect("readable dir") {
            let entry = entry.expect("dir entry");
            let path = entry.path();
            if entry.file_type().expect("file type").is_dir() {
                stack.push(path);
            } else {
                let rel = path
                    .strip_prefix(dir)
                    .expect("below dir")
                    .to_string_lossy()
                    .replace('\\', "/");
                out.insert(rel, std::fs::read(&path).expect("readable file"));
            }
        }
    }
    out
}

/// Copies the tree `from` into `to` (created).
pub fn copy_tree(from: &Path, to: &Path) {
    for (rel, bytes) in read_tree(from) {
        let dest = to.join(&rel);
        std::fs::create_dir_all(dest.parent().expect("has parent")).expect("mkdir");
        std::fs::write(dest, bytes).expect("write");
    }
}

/// Writes `files` (relative path → text) below `dir`.
pub fn write_tree(dir: &Path, files: &[(&str, &str)]) {
    for (rel, text) in files {
        let dest = dir.join(rel);
        std::fs::create_dir_all(dest.parent().expect("has parent")).expect("mkdir");
        std::fs::write(dest, text).expect("write");
    }
}

/// Describes how two trees differ, or `None` when they are byte-identical.
pub fn tree_diff(
    expected: &BTreeMap<String, Vec<u8>>,
    actual: &BTreeMap<String, Vec<u8>>,
) -> Option<String> {
    let mut out = String::new();
    for (path, want) in expected {
        match actual.get(path) {
            None => out.push_str(&format!("  missing file {path}\n")),
            Some(got) if got != want => {
                out.push_str(&format!("  {path} differs:\n"));
                let (w, g) = (String::from_utf8_lossy(want), String::from_utf8_lossy(got));
                for (i, (wl, gl)) in w
                    .split_inclusive('\n')
                    .zip(g.split_inclusive('\n'))
                    .enumerate()
                {
                    if wl != gl {
                        out.push_str(&format!(
                            "    line {}: expected {wl:?}\n    line {}:      got {gl:?}\n",
                            i + 1,
                            i + 1
                        ));
                        break;
                    }
                }
                if w.split_inclusive('\n').count() != g.split_inclusive('\n').count()
                    || w.len() != g.len()
                {
                    out.push_str(&format!(
                        "    expected {} bytes, got {}\n",
                        want.len(),
                        got.len()
                    ));
                }
            }
            Some(_) => {}
        }
    }
    for path in actual.keys().filter(|p| !expected.contains_key(*p)) {
        out.push_str(&format!("  unexpected file {path}\n"));
    }
    (!out.is_empty()).then_some(out)
}
