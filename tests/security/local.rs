//! See [the module list](super).
//!
//! Local files and messages: a checkout ferry edits or checks is written by whoever opened the
//! pull request. Symbolic links planted in it must not make ferry write or read outside the
//! tree, files outside must never be quoted, and text from the command line or the action's
//! inputs must not become workflow commands or terminal escapes in the log.

use std::os::unix::fs::{PermissionsExt, symlink};
use std::path::Path;
use std::process::{Command, Output};

use crate::support::lab::{code, text};
use crate::support::{ferry, write_tree};

const DEPLOYMENT: &str = "apiVersion: apps/v1
kind: Deployment
metadata:
  name: cart
spec:
  template:
    spec:
      containers:
        - name: cart
          image: ghcr.io/acme/cart:1.0
";

const CONFIG: &str = "version: 1
environments:
  staging:
    path: envs/staging
";

/// Both streams of a run, as one string.
fn both(out: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

/// Asserts that nothing in `out` can start a workflow command or move the terminal: no CR, no
/// ESC, and no line (as the runner splits them, at CR or LF) that starts with `::` unless ferry
/// wrote it (`::error title=`/`::error file=`, which carry the text escaped).
fn assert_not_forged(out: &Output, marker: &str) {
    let all = both(out);
    assert!(!all.contains('\r'), "a raw CR reached the log:\n{all:?}");
    assert!(!all.contains('\x1b'), "a raw ESC reached the log:\n{all:?}");
    for line in all.split(['\r', '\n']) {
        assert!(
            !line.trim_start().starts_with(&format!("::error::{marker}")),
            "a forged workflow command: {line:?}\n{all:?}"
        );
    }
}

/// The pid the next process will most likely get (Linux), to plant links for the names a
/// predictable temporary file would take.
fn next_pids(count: u32) -> std::ops::RangeInclusive<u32> {
    let last: u32 = std::fs::read_to_string("/proc/sys/kernel/ns_last_pid")
        .ok()
        .and_then(|s| s.trim().parse().ok())
        .unwrap_or(1);
    last + 1..=last + count
}

#[test]
fn set_image_does_not_write_through_a_planted_temporary_file_link() {
    let dir = tempfile::tempdir().unwrap();
    let repo = dir.path().join("repo");
    write_tree(&repo, &[("envs/staging/cart.yaml", DEPLOYMENT)]);
    let hooks = repo.join(".git/hooks");
    std::fs::create_dir_all(&hooks).unwrap();
    let hook = hooks.join("pre-commit");
    let original = "#!/bin/sh\nexit 0\n";
    std::fs::write(&hook, original).unwrap();
    std::fs::set_permissions(&hook, std::fs::Permissions::from_mode(0o644)).unwrap();
    // The names a temporary file next to the target would get from the next pids: each a link
    // to the hook, as a pull request can commit them.
    let staging = repo.join("envs/staging");
    let planted = next_pids(3000);
    for pid in planted.clone() {
        symlink(&hook, staging.join(format!(".cart.yaml.ferry-{pid}"))).unwrap();
    }
    let out = ferry()
        .args(["set-image", "-C"])
        .arg(&staging)
        .arg("ghcr.io/acme/cart=2.0")
        .output()
        .unwrap();
    assert_eq!(code(&out), 0, "{}", text(&out));
    assert_eq!(
        std::fs::read_to_string(&hook).unwrap(),
        original,
        "the hook was overwritten through a planted link"
    );
    assert_eq!(
        std::fs::metadata(&hook).unwrap().permissions().mode() & 0o777,
        0o644,
        "the hook's mode changed"
    );
    let cart = std::fs::read_to_string(staging.join("cart.yaml")).unwrap();
    assert!(cart.contains("ghcr.io/acme/cart:2.0"), "{cart}");
    // Nothing left behind: the planted links (still links) and the edited file.
    for entry in std::fs::read_dir(&staging).unwrap() {
        let entry = entry.unwrap();
        let name = entry.file_name().into_string().unwrap();
        let kind = entry.file_type().unwrap();
        assert!(
            name == "cart.yaml" || kind.is_symlink(),
            "left behind: {name}"
        );
    }
    assert_eq!(
        std::fs::read_dir(&staging).unwrap().count(),
        planted.count() + 1
    );
}

#[test]
fn set_image_refuses_a_target_file_that_links_out_of_the_tree() {
    let dir = tempfile::tempdir().unwrap();
    let outside = dir.path().join("outside");
    write_tree(&outside, &[("cart.yaml", DEPLOYMENT)]);
    let repo = dir.path().join("repo");
    write_tree(
        &repo,
        &[("ferry.yaml", CONFIG), ("envs/staging/web.yaml", "a: 1\n")],
    );
    symlink(
        outside.join("cart.yaml"),
        repo.join("envs/staging/cart.yaml"),
    )
    .unwrap();
    for args in [
        vec!["--env", "staging"],
        vec![], // --dir mode: the directory given is the tree
    ] {
        let mut cmd = ferry();
        cmd.arg("set-image").args(&args).arg("-C");
        if args.is_empty() {
            cmd.arg(repo.join("envs/staging"));
        } else {
            cmd.arg(&repo);
        }
        let out = cmd.arg("ghcr.io/acme/cart=2.0").output().unwrap();
        assert_eq!(code(&out), 4, "{args:?}: {}", text(&out));
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(
            stderr.contains("envs/staging/cart.yaml") || stderr.contains("cart.yaml"),
            "the message names the link: {stderr}"
        );
        assert!(
            stderr.contains(&outside.join("cart.yaml").display().to_string()),
            "the message names the link's target: {stderr}"
        );
        assert_eq!(
            std::fs::read_to_string(outside.join("cart.yaml")).unwrap(),
            DEPLOYMENT
        );
        assert!(
            std::fs::symlink_metadata(repo.join("envs/staging/cart.yaml"))
                .unwrap()
                .file_type()
                .is_symlink(),
            "the link was replaced"
        );
    }
}

#[test]
fn set_image_env_refuses_an_environment_directory_linked_outside() {
    let dir = tempfile::tempdir().unwrap();
    let outside = dir.path().join("outside");
    write_tree(&outside, &[("cart.yaml", DEPLOYMENT)]);
    let repo = dir.path().join("repo");
    write_tree(&repo, &[("ferry.yaml", CONFIG)]);
    std::fs::create_dir_all(repo.join("envs")).unwrap();
    symlink(&outside, repo.join("envs/staging")).unwrap();
    let out = ferry()
        .args(["set-image", "--env", "staging", "-C"])
        .arg(&repo)
        .arg("ghcr.io/acme/cart=2.0")
        .output()
        .unwrap();
    assert_eq!(code(&out), 4, "{}", text(&out));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("envs/staging"), "{stderr}");
    assert!(
        stderr.contains(&outside.display().to_string()),
        "names the target: {stderr}"
    );
    assert_eq!(
        std::fs::read_to_string(outside.join("cart.yaml")).unwrap(),
        DEPLOYMENT,
        "a file outside the repository was edited"
    );
    assert_eq!(std::fs::read_dir(&outside).unwrap().count(), 1);

    // A link that stays inside the repository is followed.
    std::fs::remove_file(repo.join("envs/staging")).unwrap();
    write_tree(&repo, &[("envs/real/cart.yaml", DEPLOYMENT)]);
    symlink("real", repo.join("envs/staging")).unwrap();
    let out = ferry()
        .args(["set-image", "--env", "staging", "-C"])
        .arg(&repo)
        .arg("ghcr.io/acme/cart=2.0")
        .output()
        .unwrap();
    assert_eq!(code(&out), 0, "{}", text(&out));
    let cart = std::fs::read_to_string(repo.join("envs/real/cart.yaml")).unwrap();
    assert!(cart.contains("cart:2.0"), "{cart}");
}

const MARKER: &str = "SECRET_MARKER_7f3a";

#[test]
fn check_refuses_a_template_linked_outside_and_never_prints_it() {
    let dir = tempfile::tempdir().unwrap();
    let outside = dir.path().join("outside");
    let repo = dir.path().join("repo");
    let config = format!(
        "{CONFIG}previews:\n  template: .ferry/preview.yaml\n  deploy:\n    path: envs/staging\n"
    );
    write_tree(
        &repo,
        &[
            ("ferry.yaml", &config),
            ("envs/staging/cart.yaml", DEPLOYMENT),
            (
                "envs/staging/kustomization.yaml",
                "resources: [cart.yaml]\n",
            ),
        ],
    );
    std::fs::create_dir_all(repo.join(".ferry")).unwrap();
    symlink(outside.join("t.yaml"), repo.join(".ferry/preview.yaml")).unwrap();
    // Whatever the file holds (a tera error, a YAML error, a refused kind), it is not shown.
    for secret in [
        format!("{MARKER}=hunter2\nkind: {{{{ oops\n"),
        format!("{MARKER}: hunter2\nfoo: [\n"),
        format!("apiVersion: v1\nkind: {MARKER}\n"),
        format!("{{{{ {MARKER} }}}}\n"),
    ] {
        write_tree(&outside, &[("t.yaml", &secret)]);
        let out = ferry()
            .arg("check")
            .current_dir(&repo)
            .env("GITHUB_ACTIONS", "true")
            .output()
            .unwrap();
        let all = both(&out);
        assert!(!all.contains(MARKER), "the outside file was quoted:\n{all}");
        assert_eq!(code(&out), 4, "{}", text(&out));
        assert!(
            all.contains(".ferry/preview.yaml")
                && all.contains(&outside.join("t.yaml").display().to_string()),
            "names the link and its target:\n{all}"
        );
    }
}

#[test]
fn check_refuses_a_config_or_environment_linked_outside_and_never_prints_them() {
    let dir = tempfile::tempdir().unwrap();
    let outside = dir.path().join("outside");
    write_tree(
        &outside,
        &[
            ("ferry.yaml", &format!("version: 1\n{MARKER}: [\n")),
            ("env/bad.yaml", &format!("{MARKER}: [\n")),
        ],
    );
    // ferry.yaml itself a link out of the tree.
    let repo = dir.path().join("repo");
    write_tree(&repo, &[("envs/staging/cart.yaml", DEPLOYMENT)]);
    symlink(outside.join("ferry.yaml"), repo.join("ferry.yaml")).unwrap();
    let out = ferry().arg("check").current_dir(&repo).output().unwrap();
    assert!(!both(&out).contains(MARKER), "{}", text(&out));
    assert_eq!(code(&out), 4, "{}", text(&out));

    // An environment directory linked out of the tree, holding a file that does not parse.
    let repo = dir.path().join("repo2");
    write_tree(&repo, &[("ferry.yaml", CONFIG)]);
    std::fs::create_dir_all(repo.join("envs")).unwrap();
    symlink(outside.join("env"), repo.join("envs/staging")).unwrap();
    let out = ferry().arg("check").current_dir(&repo).output().unwrap();
    assert!(!both(&out).contains(MARKER), "{}", text(&out));
    assert_eq!(code(&out), 4, "{}", text(&out));
    assert!(both(&out).contains("envs/staging"), "{}", text(&out));
}

#[test]
fn command_line_text_cannot_forge_workflow_commands_or_escapes() {
    let dir = tempfile::tempdir().unwrap();
    let repo = dir.path().join("repo");
    write_tree(
        &repo,
        &[
            ("ferry.yaml", CONFIG),
            ("envs/staging/cart.yaml", DEPLOYMENT),
        ],
    );
    let evil = "\r::error::pwned\x1b[31m\x1b]0;title\x07";
    let cases: Vec<Vec<String>> = vec![
        // An image argument clap rejects, one ferry rejects, and one that is not found.
        vec!["set-image".into(), format!("ghcr.io/acme/cart{evil}=1.0")],
        vec!["set-image".into(), format!("ghcr.io/acme/cart=1.0{evil}")],
        vec![
            "set-image".into(),
            format!("ghcr.io/acme/cart=1.0@sha256:{evil}"),
        ],
        vec![
            "set-image".into(),
            "ghcr.io/acme/nothere=1.0".into(),
            "--dry-run".into(),
        ],
        // An environment name from the command line.
        vec![
            "set-image".into(),
            "--env".into(),
            format!("staging{evil}"),
            "ghcr.io/acme/cart=1.0".into(),
        ],
        // A directory.
        vec![
            "set-image".into(),
            "-C".into(),
            format!("nope{evil}"),
            "ghcr.io/acme/cart=1.0".into(),
        ],
        // A branch.
        vec![
            "bump".into(),
            "--repo".into(),
            "/nonexistent".into(),
            "--env".into(),
            "staging".into(),
            "--branch".into(),
            format!("main{evil}"),
            "ghcr.io/acme/cart=1.0".into(),
        ],
    ];
    for args in cases {
        let out = ferry()
            .args(&args)
            .current_dir(&repo)
            .env("GITHUB_ACTIONS", "true")
            .output()
            .unwrap();
        assert_ne!(code(&out), 0, "{args:?}: {}", text(&out));
        assert_not_forged(&out, "pwned");
    }
}

/// Runs an action script (`ci/action/NAME`) under bash as the runner does, with `env`.
fn action_script(name: &str, env: &[(&str, &str)]) -> Output {
    let temp = tempfile::tempdir().unwrap();
    let script = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("ci/action")
        .join(name);
    let output = temp.path().join("output");
    let github_path = temp.path().join("path");
    std::fs::write(&output, "").unwrap();
    std::fs::write(&github_path, "").unwrap();
    let mut cmd = Command::new("bash");
    cmd.args(["--noprofile", "--norc", "-eo", "pipefail"])
        .arg(&script)
        .current_dir(temp.path())
        .env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .env("GITHUB_ACTIONS", "true")
        .env("RUNNER_OS", "Linux")
        .env("RUNNER_ARCH", "X64")
        .env("RUNNER_TEMP", temp.path())
        .env("GITHUB_OUTPUT", &output)
        .env("GITHUB_PATH", &github_path);
    for (key, value) in env {
        cmd.env(key, value);
    }
    cmd.output().unwrap()
}

#[test]
fn the_actions_messages_escape_cr_lf_and_percent() {
    let evil = "x%0A\r::error::pwned\nsecond";
    for (script, env) in [
        ("install.sh", vec![("FERRY_ACTION_VERSION", evil)]),
        ("run.sh", vec![("FERRY_ACTION_DRY_RUN", evil)]),
        ("run.sh", vec![("FERRY_ACTION_IMAGES", "-\r::error::pwned")]),
    ] {
        let out = action_script(script, &env);
        assert_eq!(code(&out), 2, "{script}: {}", text(&out));
        assert_not_forged(&out, "pwned");
        let all = both(&out);
        let command = all
            .lines()
            .find(|l| l.starts_with("::error title=ferry action::"))
            .unwrap_or_else(|| panic!("{script}: no annotation:\n{all}"));
        assert!(
            command.contains("%0D::error::pwned"),
            "{script}: CR escaped as %0D: {command}"
        );
        if script == "install.sh" || env[0].0 == "FERRY_ACTION_DRY_RUN" {
            assert!(
                command.contains("x%250A%0D") && command.contains("%0Asecond"),
                "{script}: % and LF escaped: {command}"
            );
        }
    }
}

#[test]
fn a_file_name_in_the_checkout_cannot_forge_output() {
    let dir = tempfile::tempdir().unwrap();
    let repo = dir.path().join("repo");
    // (Format characters such as U+202E are refused alike once `ci::one_line` escapes them.)
    let name = "envs/staging/a\r::error::pwned\x1b[31m.yaml";
    write_tree(&repo, &[("ferry.yaml", CONFIG), (name, DEPLOYMENT)]);
    for args in [
        vec!["set-image", "--env", "staging", "ghcr.io/acme/cart=2.0"],
        vec![
            "set-image",
            "--env",
            "staging",
            "--dry-run",
            "ghcr.io/acme/cart=2.0",
        ],
        vec!["check"],
    ] {
        let out = ferry()
            .args(&args)
            .current_dir(&repo)
            .env("GITHUB_ACTIONS", "true")
            .output()
            .unwrap();
        assert_eq!(code(&out), 4, "{args:?}: {}", text(&out));
        assert_not_forged(&out, "pwned");
    }
    assert_eq!(
        std::fs::read_to_string(repo.join(name)).unwrap(),
        DEPLOYMENT
    );
}
