//! `ferry check`: checks an environment repository's working tree, for the repository's own CI.
//!
//! What a later `ferry bump`, `ferry preview up` or `ferry promote` would trip over is found
//! here, in the pull request that introduces it: `ferry.yaml` is valid, every template ferry
//! would render (commit messages, change requests, previews) renders with realistic sample
//! values and a rendered preview passes the checks made before pushing, every environment's
//! directory exists and holds image references ferry can find, `previews.deploy.path`
//! exists, and each promotion gate's status context is one Argo CD or Flux can post.
//!
//! Each finding names a file relative to the working tree's root, with a line and a hint; in
//! GitHub Actions it is also an annotation on that line. Errors exit 2 (4 when a file is one
//! that ferry and the agents refuse: a key defined twice), warnings do not fail.

mod environment;
mod ferry_yaml;
mod gates;
mod previews;
mod samples;
mod templates;

use std::path::{Path, PathBuf};

use super::Error;
use crate::ci;
use crate::cli::CheckArgs;
use crate::config::{self, Config, Positions};
use crate::git;
use crate::outcome::check::{Finding, Report, Severity};
use crate::tree;

/// What `ferry check` was asked: the working tree to check.
#[derive(Debug, Clone)]
pub(crate) struct Request {
    pub dir: PathBuf,
}

impl Request {
    /// The request of `args`.
    #[must_use]
    pub fn resolve(args: &CheckArgs) -> Request {
        Request {
            dir: args.dir.clone(),
        }
    }
}

/// Checks the working tree of `request`, knowing which branch it stands for from the CI's
/// variables.
pub(crate) fn run(request: &Request) -> Result<Report, Error> {
    check(&request.dir, &ci::process_env)
}

/// Checks the working tree at `dir`; `env` reads the CI's variables (which branch this is).
pub fn check(dir: &Path, env: &dyn Fn(&str) -> Option<String>) -> Result<Report, Error> {
    let mut checker = Checker {
        dir,
        positions: Positions::default(),
        report: Report::default(),
        outside: None,
    };
    let Some(config) = checker.config()? else {
        return Ok(checker.report);
    };
    let branch = current_branch(dir, &config, env);
    checker.report.environments = config.environments.len();
    let mut samples = Vec::new();
    for name in config.environment_names() {
        let environment = config.environment(name)?;
        let inventory = checker.environment(&environment, &branch)?;
        samples.push((environment, inventory.unwrap_or_default()));
    }
    checker.commit_templates(&config, &samples);
    checker.gates(&config);
    if checker.positions.key(&["previews"]).is_some() {
        checker.previews(&config, &branch)?;
    }
    if let Some(err) = checker.outside.take() {
        return Err(err.into());
    }
    // Environments that share files (one directory inside another) find their problems twice.
    let mut seen = std::collections::HashSet::new();
    checker
        .report
        .findings
        .retain(|f| seen.insert((f.file.clone(), f.line, f.column, f.message.clone())));
    Ok(checker.report)
}

/// The branch this working tree stands for: the target of the pull/merge request being
/// checked, else the checked-out branch, else the CI's branch; the first of them that
/// `ferry.yaml` names (`defaults.branch` or an environment's `branch`), else `defaults.branch`.
/// A feature branch of the environment repository is a change to the branch it targets.
fn current_branch(dir: &Path, config: &Config, env: &dyn Fn(&str) -> Option<String>) -> String {
    let var = |key: &str| {
        env(key)
            .map(|v| v.trim().to_owned())
            .filter(|v| !v.is_empty())
    };
    let github = ci::in_github_actions(env);
    let gitlab = var("GITLAB_CI").is_some_and(|v| v.eq_ignore_ascii_case("true"));
    let mut candidates = Vec::new();
    if github {
        candidates.push(var("GITHUB_BASE_REF"));
    }
    if gitlab {
        candidates.push(var("CI_MERGE_REQUEST_TARGET_BRANCH_NAME"));
    }
    candidates.push(git::checked_out_branch(dir));
    if github && var("GITHUB_REF").is_some_and(|r| r.starts_with("refs/heads/")) {
        candidates.push(var("GITHUB_REF_NAME"));
    }
    if gitlab {
        candidates.push(var("CI_COMMIT_BRANCH"));
    }
    let known = |branch: &str| {
        branch == config.defaults.branch
            || config
                .environments
                .values()
                .any(|e| e.branch.as_deref() == Some(branch))
    };
    candidates
        .into_iter()
        .flatten()
        .find(|b| known(b))
        .unwrap_or_else(|| config.defaults.branch.clone())
}

struct Checker<'a> {
    dir: &'a Path,
    /// Where keys are written in `ferry.yaml`.
    positions: Positions,
    report: Report,
    /// A file named in `ferry.yaml` that is a symbolic link leaving the working tree: not read,
    /// and the check is refused once the rest is checked.
    outside: Option<tree::TreeError>,
}

/// A template of the repository: its path and text.
type File = (String, String);

/// Which sample values a template was rendered with, for messages.
struct Sample {
    /// `for environment `staging` with 2 images`.
    label: String,
    /// Where the template's variables are documented.
    docs: &'static str,
}

impl Checker<'_> {
    fn push(
        &mut self,
        level: Severity,
        file: &str,
        at: Option<(usize, usize)>,
        message: String,
        hint: impl Into<Option<String>>,
    ) {
        self.report.findings.push(Finding {
            level,
            file: file.to_owned(),
            line: at.map(|(line, _)| line),
            column: at.map(|(_, column)| column),
            message,
            hint: hint.into(),
        });
    }

    /// A finding about `ferry.yaml` at the key (or, with `value`, the value) of `keys`.
    fn at_config(
        &mut self,
        level: Severity,
        keys: &[&str],
        value: bool,
        message: String,
        hint: impl Into<Option<String>>,
    ) {
        let at = if value {
            self.positions
                .value(keys)
                .or_else(|| self.positions.key(keys))
        } else {
            self.positions.key(keys)
        };
        self.push(level, config::FILE_NAME, at, message, hint);
    }
}

/// Why `path` is no directory ("does not exist", "is not a directory"), or `None` when it is one.
fn not_a_directory(path: &Path) -> Option<&'static str> {
    if path.is_dir() {
        None
    } else if path.exists() {
        Some("is not a directory")
    } else {
        Some("does not exist")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config(text: &str) -> Config {
        Config::parse(text, Path::new(config::FILE_NAME)).expect("valid")
    }

    const TWO_BRANCHES: &str = "version: 1\nenvironments:\n  staging:\n    path: envs/staging\n  production:\n    path: envs/production\n    branch: production\n";

    #[test]
    fn the_branch_is_the_pull_requests_target_then_the_checkout_then_the_default() {
        let config = config(TWO_BRANCHES);
        let nowhere = Path::new("/nonexistent/ferry-check");
        let env = |vars: &'static [(&'static str, &'static str)]| {
            move |key: &str| {
                vars.iter()
                    .find(|(k, _)| *k == key)
                    .map(|(_, v)| (*v).to_owned())
            }
        };
        assert_eq!(current_branch(nowhere, &config, &env(&[])), "main");
        let github_pr = env(&[
            ("GITHUB_ACTIONS", "true"),
            ("GITHUB_BASE_REF", "production"),
        ]);
        assert_eq!(current_branch(nowhere, &config, &github_pr), "production");
        let gitlab_push = env(&[("GITLAB_CI", "true"), ("CI_COMMIT_BRANCH", "production")]);
        assert_eq!(current_branch(nowhere, &config, &gitlab_push), "production");
        // Variables of a CI that is not running are not read.
        let stray = env(&[("GITHUB_BASE_REF", "production")]);
        assert_eq!(current_branch(nowhere, &config, &stray), "main");
        // A feature branch of the environment repository stands for the default branch.
        let feature = env(&[
            ("GITHUB_ACTIONS", "true"),
            ("GITHUB_REF", "refs/heads/add-qa"),
            ("GITHUB_REF_NAME", "add-qa"),
        ]);
        assert_eq!(current_branch(nowhere, &config, &feature), "main");
    }

    #[test]
    fn the_checked_out_branch_is_read_from_the_working_tree_root() {
        let dir = tempfile::tempdir().expect("tempdir");
        git::init_working_tree(dir.path(), "production").expect("init");
        assert_eq!(
            git::checked_out_branch(dir.path()).as_deref(),
            Some("production")
        );
        assert_eq!(
            current_branch(dir.path(), &config(TWO_BRANCHES), &|_| None),
            "production"
        );
        // Not a working tree's root: not searched upwards.
        let below = dir.path().join("envs");
        std::fs::create_dir(&below).expect("mkdir");
        assert_eq!(git::checked_out_branch(&below), None);
    }
}
