//! The README's try-it command, `examples/try-it.sh`, run as a new user would (with this test's
//! ferry binary), and what it needs from ferry: an environment repository that is a local bare
//! repository (a path), with no forge, no token and no network.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};

use crate::support::{self, remote};

fn text(out: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

/// The position of `needle` in `haystack`, at or after `from`, or a panic showing both.
fn find_after(haystack: &str, needle: &str, from: usize) -> usize {
    haystack[from..]
        .find(needle)
        .map(|i| i + from)
        .unwrap_or_else(|| panic!("`{needle}` not found after byte {from} of:\n{haystack}"))
}

#[test]
fn the_try_it_script_runs_ferrys_job_end_to_end() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let tmp = tempfile::tempdir().expect("temp dir");
    let out = Command::new("bash")
        .arg(root.join("examples/try-it.sh"))
        .current_dir(tmp.path())
        .env("FERRY", env!("CARGO_BIN_EXE_ferry"))
        .env("TMPDIR", tmp.path())
        // A token in the caller's environment must not reach ferry or the output.
        .env("FERRY_TOKEN", "try-it-secret-token-8c1f")
        .env("GITHUB_TOKEN", "try-it-secret-token-8c1f")
        .stdin(Stdio::null())
        .output()
        .expect("bash runs");
    let all = text(&out);
    assert!(out.status.success(), "try-it.sh failed:\n{all}");
    assert!(!all.contains("try-it-secret-token"), "{all}");

    // Each step, in order, with what it did.
    let mut at = 0;
    for expected in [
        "==> 1. An environment repository",
        "shop: staging and production environments",
        "==> 2. ferry bump",
        "Pushed ghcr.io/acme/cart=9d8c7b6: 2 change(s) in 2 file(s) of staging on `main`",
        "staging: bump ghcr.io/acme/cart to 9d8c7b6",
        "Ferry-Source-Commit: 9d8c7b6e5f4a3b2c1d0e9f8a7b6c5d4e3f2a1b0c",
        "==> 3. Two pipelines at once",
        "-- cart (exit 0):",
        "Pushed ghcr.io/acme/cart=a1b2c3d",
        "-- cart-worker (exit 0):",
        "Pushed ghcr.io/acme/cart-worker=a1b2c3d",
        "==> 4. ferry preview up / list / down",
        "Preview `preview-feature-one-click-checkout-",
        "created (apps/preview-feature-one-click-checkout-",
        "kind: Application",
        "- \"ghcr.io/acme/cart:f00dbab\"",
        "$ ferry preview list",
        "feature/one-click-checkout",
        "$ ferry preview down",
        "Removed preview `preview-feature-one-click-checkout-",
        "$ ferry preview list",
        "No previews on `dynamic-envs`.",
        "==> 5. ferry promote",
        "Promotion staging → production",
        "ghcr.io/acme/cart: 1a2b3c4 → a1b2c3d",
        "of production on `main`",
        "==> 6. ferry status",
        "ghcr.io/acme/cart         a1b2c3d",
        "Nothing pending promotion.",
        "==> 7. ferry history",
        "production: promote from staging",
        "==> 8. ferry rollback",
        "Rollback of ghcr.io/acme/cart in `production`: a1b2c3d → 1a2b3c4",
        "production: roll back cart to 1a2b3c4 (was a1b2c3d)",
        "Ferry-Rollback: ghcr.io/acme/cart a1b2c3d -> 1a2b3c4",
        "==> 9. The environment repository now",
    ] {
        at = find_after(&all, expected, at) + expected.len();
    }

    // `preview list` is a table whose columns line up, however long the slug.
    let header = all
        .lines()
        .find(|l| l.starts_with("SLUG"))
        .expect("a header");
    let row = all
        .lines()
        .find(|l| l.starts_with("preview-feature-one-click-checkout-"))
        .expect("a row");
    for column in ["MR", "UPDATED", "EXPIRES", "NAME"] {
        let at = header.find(column).expect("a column");
        assert!(
            row[..at].ends_with(' ') && !row[at..].starts_with(' '),
            "`{column}` does not line up:\n{header}\n{row}"
        );
    }

    // The final log holds every commit, the two concurrent bumps' included, on main; and the
    // previews branch with the preview's two commits.
    let log = &all[at..];
    for subject in [
        "production: roll back cart to 1a2b3c4 (was a1b2c3d)",
        "production: promote from staging",
        "staging: bump ghcr.io/acme/cart-worker to a1b2c3d",
        "staging: bump ghcr.io/acme/cart to a1b2c3d",
        "staging: bump ghcr.io/acme/cart to 9d8c7b6",
        "shop: staging and production environments",
        "preview: create preview-feature-one-click-checkout-",
        "preview: remove preview-feature-one-click-checkout-",
    ] {
        assert!(
            log.contains(subject),
            "`{subject}` not in the final log:\n{log}"
        );
    }
    assert!(log.contains("Done: 9 steps in"), "{log}");

    // Nothing is left behind: the script's temporary directory is gone.
    let left: Vec<_> = std::fs::read_dir(tmp.path())
        .expect("readable")
        .map(|e| e.expect("entry").file_name())
        .collect();
    assert!(left.is_empty(), "left behind: {left:?}");
}

/// A bare repository at `dir/env.git` with `apps` Deployments in `envs/staging/appN.yaml`.
fn local_env(dir: &Path, apps: usize) -> PathBuf {
    let files: Vec<(String, String)> = (0..apps)
        .map(|i| {
            (
                format!("envs/staging/app{i}.yaml"),
                format!(
                    "apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: app{i}\nspec:\n  template:\n    spec:\n      containers:\n        - name: app\n          image: ghcr.io/acme/app{i}:1.0.0\n"
                ),
            )
        })
        .collect();
    let files: Vec<(&str, &[u8])> = files
        .iter()
        .map(|(p, c)| (p.as_str(), c.as_bytes()))
        .collect();
    remote::bare_repo(dir, "env.git", "main", &files)
}

fn bump(repo: &Path, update: &str) -> Child {
    support::ferry()
        .args(["bump", "-q", "--path", "envs/staging", "--repo"])
        .arg(repo)
        .arg(update)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("ferry starts")
}

/// The compare-and-swap holds on the local transport too: libgit2's local push replaces the
/// branch whatever it points at by then, so ferry checks and moves the branch itself, under the
/// reference's lock. Rounds of concurrent bumps of different apps: every one lands, none is
/// overwritten by another (before the fix, about one round in six lost an update).
#[test]
fn concurrent_bumps_of_a_local_repository_lose_no_update() {
    const APPS: usize = 6;
    const ROUNDS: usize = 6;
    let tmp = tempfile::tempdir().expect("temp dir");
    let repo = local_env(tmp.path(), APPS);
    for round in 1..=ROUNDS {
        let tag = format!("1.{round}.0");
        let jobs: Vec<Child> = (0..APPS)
            .map(|i| bump(&repo, &format!("ghcr.io/acme/app{i}={tag}")))
            .collect();
        for (i, job) in jobs.into_iter().enumerate() {
            let out = job.wait_with_output().expect("ferry ran");
            assert!(
                out.status.success(),
                "round {round}, app{i}:\n{}",
                text(&out)
            );
        }
        let tree = remote::git(&repo, &["ls-tree", "-r", "main", "envs/staging"]);
        for i in 0..APPS {
            let file = remote::git(&repo, &["show", &format!("main:envs/staging/app{i}.yaml")]);
            assert!(
                file.contains(&format!("ghcr.io/acme/app{i}:{tag}")),
                "round {round}: app{i}'s bump was lost:\n{file}\n{tree}"
            );
        }
        let commits = remote::git(&repo, &["rev-list", "--count", "main"]);
        assert_eq!(
            commits.trim(),
            (1 + round * APPS).to_string(),
            "round {round}: one commit per bump"
        );
    }
}

/// A bare repository made with `git init --bare` where `init.defaultBranch` is unset has its HEAD
/// at `master` while the pushed branch is `main`: ferry says so and what to pass, instead of
/// libgit2's "no error".
#[test]
fn a_local_repository_whose_head_names_no_branch_is_explained() {
    let tmp = tempfile::tempdir().expect("temp dir");
    let repo = local_env(tmp.path(), 1);
    remote::git(&repo, &["symbolic-ref", "HEAD", "refs/heads/master"]);
    let out = support::ferry()
        .args(["bump", "--env", "staging", "--repo"])
        .arg(&repo)
        .arg("ghcr.io/acme/app0=1.1.0")
        .output()
        .expect("ferry runs");
    let all = text(&out);
    assert!(!out.status.success(), "{all}");
    assert!(!all.contains("no error"), "{all}");
    assert!(all.contains("HEAD"), "{all}");
    assert!(all.contains("--branch"), "{all}");
    // With the branch named, the same bump lands.
    let out = support::ferry()
        .args([
            "bump",
            "--path",
            "envs/staging",
            "--branch",
            "main",
            "--repo",
        ])
        .arg(&repo)
        .arg("ghcr.io/acme/app0=1.1.0")
        .output()
        .expect("ferry runs");
    assert!(out.status.success(), "{}", text(&out));
}

/// A mistyped path is not a network failure worth eight attempts: ferry says at once that there
/// is no repository there (exit 2).
#[test]
fn a_local_repository_that_does_not_exist_is_reported_at_once() {
    let tmp = tempfile::tempdir().expect("temp dir");
    let missing = tmp.path().join("nope.git");
    let not_a_repo = tmp.path().join("plain");
    std::fs::create_dir(&not_a_repo).expect("mkdir");
    for (repo, says) in [
        (missing.display().to_string(), "does not exist"),
        (format!("file://{}", missing.display()), "does not exist"),
        (not_a_repo.display().to_string(), "is not a git repository"),
    ] {
        let out = support::ferry()
            .args([
                "bump",
                "--env",
                "staging",
                "--repo",
                &repo,
                "ghcr.io/acme/app0=1.1.0",
            ])
            .output()
            .expect("ferry runs");
        let all = text(&out);
        assert_eq!(out.status.code(), Some(2), "{repo}: {all}");
        assert!(all.contains(says), "{repo}: {all}");
        assert!(!all.contains("retrying"), "{repo}: {all}");
        assert!(!all.contains("network failure"), "{repo}: {all}");
    }
}

/// An environment updated through pull requests (`update: pull-request`, as shop-env's
/// production) cannot be written in a local repository, which has no forge: ferry says so and
/// how to push instead, before it pushes anything (before: the change request's branch was
/// pushed, then the forge was looked for).
#[test]
fn a_pull_request_environment_of_a_local_repository_is_refused_before_any_push() {
    let tmp = tempfile::tempdir().expect("temp dir");
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("examples/shop-env");
    let mut files = Vec::new();
    for (path, bytes) in support::read_tree(&root) {
        files.push((path, bytes));
    }
    let files: Vec<(&str, &[u8])> = files
        .iter()
        .map(|(p, b)| (p.as_str(), b.as_slice()))
        .collect();
    let repo = remote::bare_repo(tmp.path(), "env.git", "main", &files);
    let ferry = |args: &[&str]| {
        support::ferry()
            .args(args)
            .arg("--repo")
            .arg(&repo)
            .output()
            .expect("ferry runs")
    };
    let bumped = ferry(&["bump", "--env", "staging", "ghcr.io/acme/cart=2.0.0"]);
    assert!(bumped.status.success(), "{}", text(&bumped));
    let branches = || {
        remote::git(
            &repo,
            &["for-each-ref", "--format=%(refname)", "refs/heads"],
        )
    };
    let before = branches();
    for args in [
        &["bump", "--env", "production", "ghcr.io/acme/cart=2.0.0"][..],
        &["promote", "--to", "production"][..],
        &[
            "rollback",
            "--env",
            "staging",
            "--image",
            "ghcr.io/acme/cart",
            "--via",
            "pull-request",
        ][..],
    ] {
        let out = ferry(args);
        let all = text(&out);
        assert_eq!(out.status.code(), Some(2), "{args:?}: {all}");
        assert!(all.contains("--via push"), "{args:?}: {all}");
        assert_eq!(branches(), before, "{args:?} pushed a branch");
    }
    // The way out it names works.
    let out = ferry(&["promote", "--to", "production", "--via", "push"]);
    assert!(out.status.success(), "{}", text(&out));
}

/// The README's first screen shows two commands, in this order: the try-it script this module
/// runs, and the test command. If either changes, this test and the README change together.
#[test]
fn the_readme_first_screen_shows_the_try_it_and_the_test_command() {
    let readme = std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("README.md"))
        .expect("README.md");
    let first_section = readme.find("\n## ").expect("a second-level heading");
    let first_screen = &readme[..first_section];
    let commands: Vec<&str> = first_screen
        .split("```sh\n")
        .skip(1)
        .map(|block| block.split("```").next().unwrap_or_default().trim())
        .collect();
    assert_eq!(
        commands,
        ["bash examples/try-it.sh", "cargo test"],
        "{first_screen}"
    );
    assert!(
        first_screen.contains("```mermaid\nflowchart"),
        "a Mermaid picture of the flow: {first_screen}"
    );
}
