//! Build script: the commit `ferry --version` names, as the `FERRY_COMMIT` environment variable
//! of the compilation.
//!
//! In order: `FERRY_BUILD_COMMIT` when set (the release workflow and the container build, which
//! builds from a context without `.git`); `git rev-parse` when this package's directory is the
//! top of a git checkout (`cargo build` in a clone, `cargo install --git`); the `sha1` cargo
//! records in `.cargo_vcs_info.json` when it packages the crate (an install from crates.io);
//! else "unknown" and why. It never fails the build, and it reads no clock: the same commit
//! builds the same binary.
#![allow(
    clippy::print_stdout,
    reason = "a build script talks to cargo on stdout"
)]

use std::path::{Path, PathBuf};
use std::process::Command;

/// Hex digits of the commit `--version` shows: unambiguous in any repository of this size, and
/// the same whichever way the commit was found.
const SHORT: usize = 12;

fn main() {
    println!("cargo:rerun-if-changed=build.rs");
    println!("cargo:rerun-if-env-changed=FERRY_BUILD_COMMIT");
    let dir = PathBuf::from(std::env::var_os("CARGO_MANIFEST_DIR").unwrap_or_default());
    let commit = from_env()
        .or_else(|| from_git(&dir))
        .or_else(|| from_package(&dir))
        .unwrap_or_else(|| {
            "unknown: not built from a git checkout; set FERRY_BUILD_COMMIT to name it".to_owned()
        });
    println!("cargo:rustc-env=FERRY_COMMIT={commit}");
}

/// A commit id: 7 to 64 hex digits (SHA-1 or SHA-256), shortened, in lower case.
fn commit_id(text: &str) -> Option<String> {
    let text = text.trim();
    ((7..=64).contains(&text.len()) && text.bytes().all(|b| b.is_ascii_hexdigit()))
        .then(|| text[..text.len().min(SHORT)].to_ascii_lowercase())
}

fn from_env() -> Option<String> {
    let given = std::env::var("FERRY_BUILD_COMMIT").ok()?;
    let commit = commit_id(&given);
    if commit.is_none() && !given.trim().is_empty() {
        println!(
            "cargo:warning=FERRY_BUILD_COMMIT is not a commit id (7 to 64 hex digits); ignored"
        );
    }
    commit
}

fn git(dir: &Path, args: &[&str]) -> Option<String> {
    let out = Command::new("git")
        .arg("-C")
        .arg(dir)
        .args(args)
        .output()
        .ok()?;
    out.status
        .success()
        .then(|| String::from_utf8_lossy(&out.stdout).trim().to_owned())
        .filter(|s| !s.is_empty())
}

fn from_git(dir: &Path) -> Option<String> {
    let top = git(dir, &["rev-parse", "--show-toplevel"])?;
    // A package unpacked inside another repository (vendored sources, a monorepo) is not at
    // that repository's commit.
    if std::fs::canonicalize(top).ok()? != std::fs::canonicalize(dir).ok()? {
        return None;
    }
    // Build again when HEAD moves: HEAD itself (a checkout, a detached HEAD), the branch it
    // points to (a commit), packed refs, and the reftable of repositories that use one.
    let mut watched = vec![
        "HEAD".to_owned(),
        "packed-refs".to_owned(),
        "reftable".to_owned(),
    ];
    if let Some(branch) = git(dir, &["symbolic-ref", "-q", "HEAD"]) {
        watched.push(branch);
    }
    for name in &watched {
        let Some(path) = git(dir, &["rev-parse", "--git-path", name]) else {
            continue;
        };
        let path = dir.join(path);
        // A branch without its loose file (packed) gets one at its next commit: watch the
        // directory it will appear in.
        let path = if path.exists() {
            Some(path)
        } else if name.starts_with("refs/") {
            path.parent().filter(|p| p.exists()).map(Path::to_path_buf)
        } else {
            None
        };
        if let Some(path) = path {
            println!("cargo:rerun-if-changed={}", path.display());
        }
    }
    commit_id(&git(
        dir,
        &["rev-parse", &format!("--short={SHORT}"), "HEAD"],
    )?)
}

/// `"sha1": "<hex>"` from the `.cargo_vcs_info.json` that `cargo package` writes.
fn from_package(dir: &Path) -> Option<String> {
    let info = std::fs::read_to_string(dir.join(".cargo_vcs_info.json")).ok()?;
    let after = &info[info.find("\"sha1\"")? + "\"sha1\"".len()..];
    let value = after
        .trim_start()
        .strip_prefix(':')?
        .trim_start()
        .strip_prefix('"')?;
    commit_id(&value[..value.find('"')?])
}
