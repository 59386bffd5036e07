//! `ferry check` on environment repositories in `tests/fixtures/check/<case>/`: each folder is a
//! small working tree, and its snapshot in `snapshots/` is what ferry prints (stdout, then the
//! exit code). After a deliberate change, review and accept the new snapshots with
//! `cargo insta review` (or `INSTA_UPDATE=always`).

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use crate::support::ferry;

/// Variables that say which CI runs ferry (and so which branch a working tree stands for):
/// removed so that these tests behave the same in ferry's own CI.
const CI_VARIABLES: &[&str] = &[
    "GITHUB_ACTIONS",
    "GITHUB_BASE_REF",
    "GITHUB_REF",
    "GITHUB_REF_NAME",
    "GITLAB_CI",
    "CI_MERGE_REQUEST_TARGET_BRANCH_NAME",
    "CI_COMMIT_BRANCH",
];

fn fixtures() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/check")
}

fn check(dir: &Path) -> Command {
    let mut cmd = ferry();
    for var in CI_VARIABLES {
        cmd.env_remove(var);
    }
    cmd.arg("check").arg("--dir").arg(dir);
    cmd
}

fn run(mut cmd: Command) -> Output {
    cmd.output().expect("ferry runs")
}

fn stdout(output: &Output) -> String {
    String::from_utf8_lossy(&output.stdout).into_owned()
}

fn stderr(output: &Output) -> String {
    String::from_utf8_lossy(&output.stderr).into_owned()
}

/// Compares what ferry printed for `case` (stdout, then the exit code) with its insta snapshot,
/// `tests/snapshots/ferry__check__<case>.snap`.
fn snapshot(case: &str, output: &Output) {
    let actual = format!(
        "{}exit: {}\n",
        stdout(output),
        output.status.code().unwrap_or(-1)
    );
    // The test harness captures this and shows it only when the snapshot differs.
    #[allow(clippy::print_stderr)]
    {
        eprintln!("stderr of ferry check ({case}):\n{}", stderr(output));
    }
    insta::with_settings!({
        description => format!("ferry check ({case}): stdout, then the exit code"),
        omit_expression => true,
    }, {
        insta::assert_snapshot!(case, actual);
    });
}

/// Runs `ferry check` on the fixture `case` and compares with its snapshot.
fn golden(case: &str) -> Output {
    let output = run(check(&fixtures().join(case)));
    snapshot(case, &output);
    output
}

#[test]
fn the_example_repository_passes() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("examples/shop-env");
    let output = run(check(&dir));
    assert_eq!(output.status.code(), Some(0), "{}", stderr(&output));
    snapshot("shop-env", &output);
}

#[test]
fn bad_yaml_is_reported_at_its_line() {
    let output = golden("bad-yaml");
    assert_eq!(output.status.code(), Some(2));
    assert!(
        stdout(&output).starts_with("ferry.yaml:5:"),
        "{}",
        stdout(&output)
    );
}

#[test]
fn an_unknown_key_is_reported_with_a_hint() {
    let output = golden("unknown-key");
    assert_eq!(output.status.code(), Some(2));
    let text = stdout(&output);
    assert!(text.contains("unknown field `pth`"), "{text}");
    assert!(text.contains("hint: did you mean `path`?"), "{text}");
}

#[test]
fn a_missing_environment_path_is_an_error() {
    let output = golden("missing-path");
    assert_eq!(output.status.code(), Some(2));
    assert!(stdout(&output).contains("`envs/prod` does not exist"));
}

#[test]
fn an_environment_without_image_references_is_an_error() {
    let output = golden("no-images");
    assert_eq!(output.status.code(), Some(2));
    assert!(stdout(&output).contains("no image references in `envs/staging`"));
}

#[test]
fn a_broken_preview_template_is_reported_at_its_line() {
    let output = golden("broken-preview-template");
    assert_eq!(output.status.code(), Some(2));
    assert!(
        stdout(&output).starts_with(".ferry/preview.yaml:10:"),
        "{}",
        stdout(&output)
    );
}

#[test]
fn a_broken_commit_template_is_reported_at_its_line() {
    let output = golden("broken-commit-template");
    assert_eq!(output.status.code(), Some(2));
    assert!(
        stdout(&output).starts_with(".ferry/commit.tera:"),
        "{}",
        stdout(&output)
    );
}

#[test]
fn a_preview_that_ferry_would_refuse_to_push_is_an_error() {
    let output = golden("preview-refused");
    assert_eq!(output.status.code(), Some(2));
    assert!(stdout(&output).contains("Secret"), "{}", stdout(&output));
}

#[test]
fn a_missing_preview_deploy_path_is_an_error() {
    let output = golden("deploy-path");
    assert_eq!(output.status.code(), Some(2));
    assert!(stdout(&output).contains("`previews/base` does not exist"));
}

#[test]
fn warnings_do_not_fail() {
    let output = golden("warnings");
    assert_eq!(output.status.code(), Some(0));
    assert!(
        stdout(&output).contains("2 warnings"),
        "{}",
        stdout(&output)
    );
}

#[test]
fn gate_contexts_no_agent_posts_are_warnings_at_their_line() {
    let output = golden("gate-contexts");
    // Warnings: the check passes.
    assert_eq!(output.status.code(), Some(0), "{}", stderr(&output));
    let text = stdout(&output);
    assert!(text.contains("4 warnings"), "{text}");
    // The two forms the agents post pass; each other one is named at its line, with the fix.
    assert!(
        !text.contains("`continuous-delivery/cart-staging`:"),
        "{text}"
    );
    assert!(!text.contains("`kustomization/cart-staging/*`:"), "{text}");
    assert!(
        text.contains("ferry.yaml:13:9: warning: promotion gate `argocd/cart-staging`:"),
        "{text}"
    );
    assert!(
        text.contains("write `continuous-delivery/cart-staging`"),
        "{text}"
    );
    assert!(
        text.contains("ferry.yaml:14:9: warning: promotion gate `kustomization/cart-staging`:"),
        "{text}"
    );
    assert!(
        text.contains("write `kustomization/cart-staging/*`"),
        "{text}"
    );
    assert!(
        text.contains("not for HelmReleases") && text.contains("docs/agents.md"),
        "{text}"
    );

    // The same findings as JSON, and as annotations in GitHub Actions.
    let mut cmd = check(&fixtures().join("gate-contexts"));
    cmd.args(["--output", "json"]).env("GITHUB_ACTIONS", "true");
    let output = run(cmd);
    assert_eq!(output.status.code(), Some(0));
    let findings: serde_json::Value =
        serde_json::from_slice(&output.stdout).expect("stdout is JSON");
    let findings = findings.as_array().expect("an array");
    assert_eq!(findings.len(), 4, "{findings:?}");
    assert!(findings.iter().all(|f| f["level"] == "warning"));
    assert_eq!(findings[0]["file"], "ferry.yaml");
    assert_eq!(findings[0]["line"], 13);
    assert_eq!(
        findings[3]["message"],
        "promotion gate `ci/smoke-test`: neither Argo CD nor Flux posts a status of this name"
    );
    let hint = findings[3]["hint"].as_str().expect("a hint");
    assert!(
        hint.contains("`continuous-delivery/<application>`")
            && hint.contains("`kustomization/<name>/<id>`")
            && hint.contains("docs/agents.md"),
        "{hint}"
    );
    assert!(
        stderr(&output).contains("::warning file=ferry.yaml,line=15,col=9,"),
        "{}",
        stderr(&output)
    );
}

#[test]
fn an_environment_on_another_branch_is_not_checked() {
    let output = golden("other-branch");
    assert_eq!(output.status.code(), Some(0), "{}", stdout(&output));
    assert!(
        stdout(&output).contains("not checked: lives on branch `production`"),
        "{}",
        stdout(&output)
    );
}

#[test]
fn a_pull_request_into_the_other_branch_checks_that_branch() {
    // GitHub Actions, pull request into `production`: production is checked (and its directory
    // is missing here), staging is not.
    let mut cmd = check(&fixtures().join("other-branch"));
    cmd.env("GITHUB_ACTIONS", "true")
        .env("GITHUB_BASE_REF", "production");
    let output = run(cmd);
    assert_eq!(output.status.code(), Some(2), "{}", stdout(&output));
    let text = stdout(&output);
    assert!(
        text.contains("environment `staging` not checked: lives on branch `main`"),
        "{text}"
    );
    assert!(text.contains("`envs/production` does not exist"), "{text}");
}

#[test]
fn github_actions_gets_annotations_with_repository_paths() {
    let mut cmd = check(&fixtures().join("unknown-key"));
    cmd.env("GITHUB_ACTIONS", "true");
    let output = run(cmd);
    assert_eq!(output.status.code(), Some(2));
    let err = stderr(&output);
    assert!(
        err.contains("::error file=ferry.yaml,line=4,col=5,"),
        "{err}"
    );
    assert!(err.contains("hint: did you mean `path`?"), "{err}");

    let mut cmd = check(&fixtures().join("warnings"));
    cmd.env("GITHUB_ACTIONS", "true");
    let err = stderr(&run(cmd));
    assert!(
        err.contains("::warning file=envs/staging/broken.yaml,line="),
        "{err}"
    );

    // Outside GitHub Actions, no workflow commands.
    let err = stderr(&run(check(&fixtures().join("unknown-key"))));
    assert!(!err.contains("::error"), "{err}");
}

#[test]
fn json_output_is_an_array_of_findings() {
    let mut cmd = check(&fixtures().join("missing-path"));
    cmd.args(["--output", "json"]);
    let output = run(cmd);
    assert_eq!(output.status.code(), Some(2));
    let findings: serde_json::Value =
        serde_json::from_slice(&output.stdout).expect("stdout is JSON");
    let findings = findings.as_array().expect("an array");
    assert_eq!(findings.len(), 1, "{findings:?}");
    let finding = &findings[0];
    assert_eq!(finding["level"], "error");
    assert_eq!(finding["file"], "ferry.yaml");
    assert_eq!(finding["line"], 6);
    assert!(finding["hint"].is_string());

    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("examples/shop-env");
    let mut cmd = check(&dir);
    cmd.args(["--output", "json"]);
    let output = run(cmd);
    assert_eq!(output.status.code(), Some(0));
    assert_eq!(
        serde_json::from_slice::<serde_json::Value>(&output.stdout).expect("JSON"),
        serde_json::json!([])
    );
}

#[test]
fn a_directory_without_ferry_yaml_is_an_error() {
    let dir = tempfile::tempdir().expect("tempdir");
    let output = run(check(dir.path()));
    assert_eq!(output.status.code(), Some(2));
    assert!(
        stdout(&output).starts_with("ferry.yaml: error: no ferry.yaml in "),
        "{}",
        stdout(&output)
    );
}
