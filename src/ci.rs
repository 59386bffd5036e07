//! The CI that runs ferry: who invoked it, and where its results go.
//!
//! ferry runs as a step of an application's pipeline. This module answers two questions:
//!
//! - **Detection** ([`Context::detect`]): which CI is this (GitHub Actions or GitLab CI), and what
//!   does it say about the run — source repository, commit, branch, run URL, pull/merge request.
//!   Every variable is read through a lookup function, so callers (and tests) decide where the
//!   environment comes from; [`Context::from_env`] is the process-environment shorthand.
//! - **Publishing** ([`publish`]): hand ferry's results ([`Outputs`]) to the CI's own output
//!   mechanism — `$GITHUB_OUTPUT` and `$GITHUB_STEP_SUMMARY` on GitHub, a dotenv report file on
//!   GitLab.
//!
//! [`trailers()`] turns a [`Context`] into single-line audit trailers for commit messages.
//!
//! # Variables read
//!
//! | field | GitHub Actions | GitLab CI |
//! | --- | --- | --- |
//! | detection | `GITHUB_ACTIONS=true` | `GITLAB_CI=true` |
//! | `source_repo` | `GITHUB_SERVER_URL` + `/` + `GITHUB_REPOSITORY` | `CI_PROJECT_URL` |
//! | `source_commit` | event `pull_request.head.sha`, else `GITHUB_SHA` | `CI_MERGE_REQUEST_SOURCE_BRANCH_SHA`, else `CI_COMMIT_SHA` |
//! | `source_ref` | `GITHUB_HEAD_REF`, else event `pull_request.head.ref`, else `GITHUB_REF_NAME`, else `GITHUB_REF` minus `refs/heads/` / `refs/tags/` | `CI_MERGE_REQUEST_SOURCE_BRANCH_NAME`, else `CI_COMMIT_REF_NAME`, else `CI_COMMIT_BRANCH`, else `CI_COMMIT_TAG` |
//! | `run_url` | `…/actions/runs/GITHUB_RUN_ID` (+ `/attempts/GITHUB_RUN_ATTEMPT` when above 1) | `CI_PIPELINE_URL`, else `CI_JOB_URL` |
//! | `run_number` | `GITHUB_RUN_NUMBER` | `CI_PIPELINE_IID`, else `CI_PIPELINE_ID` |
//! | `run_attempt` | `GITHUB_RUN_ATTEMPT` | — |
//! | `workflow` | `GITHUB_WORKFLOW_REF`, else `GITHUB_WORKFLOW` | — |
//! | `change_request` | event `pull_request.number`, else `GITHUB_REF` = `refs/pull/<n>/merge` (or `/head`) | `CI_MERGE_REQUEST_IID` |
//! | `server_url` | `GITHUB_SERVER_URL` | `CI_SERVER_URL` |
//! | `api_url` | `GITHUB_API_URL` | `CI_API_V4_URL` |
//! | `actor` | `GITHUB_ACTOR` | `GITLAB_USER_LOGIN` |
//!
//! Rules that hold for every field:
//!
//! - A variable that is unset, empty or only whitespace counts as unset; values are trimmed.
//! - A number that does not parse as a `u64` counts as unset (and the next fallback is tried).
//! - The GitHub event payload (`GITHUB_EVENT_PATH`) is read only for the top-level
//!   `pull_request` object (present on `pull_request`, `pull_request_target`,
//!   `pull_request_review` and `pull_request_review_comment` events). A missing, unreadable,
//!   oversized (> 32 MiB) or malformed file is ignored silently and the plain variables are used.
//! - When both `GITHUB_ACTIONS` and `GITLAB_CI` say `true`, GitHub Actions wins.
//! - On a pull/merge request the *head* commit of the source branch is preferred over the
//!   ephemeral merge commit the CI checked out (`GITHUB_SHA` on `pull_request`, `CI_COMMIT_SHA`
//!   in GitLab merged-results pipelines): that commit is the one a person can find again.
//! - On GitLab `workflow` is always `None`: `CI_PIPELINE_SOURCE` names what *triggered* the
//!   pipeline (`push`, `merge_request_event`, …), not which pipeline definition ran, so it does
//!   not fit the field's meaning.
//! - In tag pipelines `source_ref` holds the tag name.
//!
//! Values in a [`Context`] are kept as the CI gave them (after trimming): branch names come
//! from whoever opened the pull request and are data, never markup. Every sink that needs a
//! single line ([`trailers()`], the GitLab dotenv file) sanitises them itself.
//!
//! # Output formats
//!
//! - **GitHub Actions**: each output is appended to `$GITHUB_OUTPUT` as `key=value`, or, when
//!   the value contains a CR or LF, in the documented multi-line form
//!   `key<<DELIMITER\nvalue\nDELIMITER\n` with a `ghadelimiter_<hex>` delimiter checked not to
//!   occur in the value. The summary is appended to `$GITHUB_STEP_SUMMARY` (a final newline is
//!   added when missing). An unset variable means that part is skipped. GitHub caps a step
//!   summary at 1 MiB; this module does not truncate.
//! - **GitLab CI**: a dotenv file (for `artifacts:reports:dotenv`) at `$FERRY_DOTENV`, or
//!   `ferry.env` in the working directory, is *rewritten* on every publish (even with no values)
//!   so a rerun in the same workspace never leaks stale values. Each output becomes
//!   `FERRY_<KEY>=value` with the key upper-cased and `-` turned into `_`. GitLab's dotenv format
//!   has no multi-line values, no quoting and trims values, so control characters (CR, LF, tab,
//!   …) are replaced by single spaces and the value is trimmed; a key given twice is written
//!   once, with its last value. GitLab expands `$VARIABLE` references in dotenv values when
//!   they are used; values are written verbatim. GitLab also limits the file's size and the
//!   number of variables (5 KiB and 20 by default, instance-configurable); that is not
//!   enforced here.
//!
//! Output keys must be non-empty and made of ASCII letters, digits, `-` and `_` (so they are
//! valid in both formats); [`publish`] refuses anything else before writing a byte.

use std::fs::{self, File, OpenOptions};
use std::hash::{BuildHasher, Hasher, RandomState};
use std::io::{self, Read, Write};
use std::path::{Path, PathBuf};

use serde::Serialize;
use serde_json::Value;

use crate::trailers;

/// File name of the GitLab dotenv report when `$FERRY_DOTENV` is not set.
pub const DEFAULT_DOTENV: &str = "ferry.env";

/// Prefix of every variable written to the GitLab dotenv report.
pub const DOTENV_PREFIX: &str = "FERRY_";

/// Largest GitHub event payload read; GitHub's own webhook payload cap is 25 MB.
const MAX_EVENT_BYTES: u64 = 32 << 20;

/// Where ferry is running.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Provider {
    /// GitHub Actions (`GITHUB_ACTIONS=true`).
    GithubActions,
    /// GitLab CI/CD (`GITLAB_CI=true`).
    GitlabCi,
}

impl Provider {
    /// The provider's stable identifier, as serialised: `github-actions` or `gitlab-ci`.
    #[must_use]
    pub const fn as_str(self) -> &'static str {
        match self {
            Provider::GithubActions => "github-actions",
            Provider::GitlabCi => "gitlab-ci",
        }
    }
}

/// What the CI tells us about the run that invoked ferry. All optional except provider.
///
/// See the [module documentation](self) for the variables behind each field.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Context {
    /// The CI running ferry.
    pub provider: Provider,
    /// Web URL of the application (source) repository, e.g. `https://github.com/acme/shop`.
    pub source_repo: Option<String>,
    /// The source commit: on a pull/merge request the head of the source branch.
    pub source_commit: Option<String>,
    /// The source branch name (the tag name in tag pipelines).
    pub source_ref: Option<String>,
    /// Web URL of this CI run (GitHub workflow run attempt, GitLab pipeline).
    pub run_url: Option<String>,
    /// A number that increases with each run of the same pipeline.
    pub run_number: Option<u64>,
    /// The attempt of this run (GitHub re-runs); always `None` on GitLab.
    pub run_attempt: Option<u64>,
    /// The workflow that runs (GitHub `owner/repo/path@ref` or workflow name); `None` on GitLab.
    pub workflow: Option<String>,
    /// Pull request (GitHub) or merge request IID (GitLab) number.
    pub change_request: Option<u64>,
    /// Web URL of the CI server, e.g. `https://github.com`.
    pub server_url: Option<String>,
    /// Base URL of the forge's REST API (GitHub `GITHUB_API_URL`, GitLab v4 API).
    pub api_url: Option<String>,
    /// Login of the user who started the run.
    pub actor: Option<String>,
}

impl Context {
    /// Detects GitHub Actions (`GITHUB_ACTIONS == "true"`) or GitLab CI (`GITLAB_CI == "true"`);
    /// `None` elsewhere.
    ///
    /// `env` looks a variable up by name. On GitHub the event payload named by
    /// `GITHUB_EVENT_PATH` is read from the file system when present.
    #[must_use]
    pub fn detect(env: &dyn Fn(&str) -> Option<String>) -> Option<Context> {
        if is_true(env, "GITHUB_ACTIONS") {
            Some(github(env))
        } else if is_true(env, "GITLAB_CI") {
            Some(gitlab(env))
        } else {
            None
        }
    }

    /// [`detect`](Context::detect) over the process environment (see [`process_env`]).
    #[must_use]
    pub fn from_env() -> Option<Context> {
        Context::detect(&process_env)
    }
}

/// Looks a variable up in the process environment; unset or non-UTF-8 values are `None`.
///
/// This is the lookup to hand to [`Context::detect`] and [`publish`] outside tests.
#[must_use]
pub fn process_env(key: &str) -> Option<String> {
    std::env::var(key).ok()
}

/// Results a command hands to the CI: ordered key/value outputs plus a Markdown summary.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Outputs {
    /// Outputs in the order they are published; keys are kebab-case (`commit-sha`).
    pub values: Vec<(String, String)>,
    /// Markdown for the run's summary page (GitHub only); empty for none.
    pub summary: String,
}

impl Outputs {
    /// Sets `key` to `value`: replaces the value of an existing key in place, else appends.
    pub fn set(&mut self, key: impl Into<String>, value: impl Into<String>) -> &mut Self {
        let key = key.into();
        let value = value.into();
        match self.values.iter_mut().find(|(k, _)| *k == key) {
            Some(slot) => slot.1 = value,
            None => self.values.push((key, value)),
        }
        self
    }

    /// The value of `key`, if set.
    #[must_use]
    pub fn get(&self, key: &str) -> Option<&str> {
        self.values
            .iter()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v.as_str())
    }
}

/// Writes `outputs` where the CI reads them and returns the files written.
///
/// - GitHub: appends the values to `$GITHUB_OUTPUT` (when there are values) and the summary to
///   `$GITHUB_STEP_SUMMARY` (when it is not blank); an unset variable skips its part.
/// - GitLab: rewrites the dotenv file at `$FERRY_DOTENV`, or [`DEFAULT_DOTENV`] in `cwd`.
/// - Not in CI (`ctx` is `None`): writes nothing and returns an empty list.
///
/// Relative paths from the environment are resolved against `cwd`. See the
/// [module documentation](self) for the exact formats.
///
/// # Errors
///
/// `InvalidInput` when a key is empty or has a character other than ASCII letters, digits, `-`
/// and `_` (checked first, in or out of CI, so nothing is half-written); otherwise the I/O
/// error of the file that could not be written, with its path in the message.
pub fn publish(
    ctx: Option<&Context>,
    env: &dyn Fn(&str) -> Option<String>,
    cwd: &Path,
    outputs: &Outputs,
) -> io::Result<Vec<PathBuf>> {
    for (key, _) in &outputs.values {
        check_key(key)?;
    }
    let Some(ctx) = ctx else {
        return Ok(Vec::new());
    };
    match ctx.provider {
        Provider::GithubActions => publish_github(env, cwd, outputs),
        Provider::GitlabCi => publish_gitlab(env, cwd, outputs),
    }
}

/// [`publish`] from the current directory with the process environment; a failure is a warning
/// (the work itself is done and reported).
pub fn publish_or_warn(ctx: Option<&Context>, outputs: &Outputs) {
    let cwd = std::env::current_dir().unwrap_or_else(|_| PathBuf::from("."));
    match publish(ctx, &process_env, &cwd, outputs) {
        Ok(files) => {
            for f in files {
                tracing::debug!(file = %f.display(), "wrote CI outputs");
            }
        }
        Err(e) => tracing::warn!("could not write the CI outputs: {e}"),
    }
}

// ---------------------------------------------------------------------------------------------
// Workflow commands (GitHub Actions): masks and annotations

/// How serious an annotation is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Level {
    Error,
    Warning,
    Notice,
}

/// A message GitHub Actions shows on the run's page, at a file and line when known.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Annotation {
    pub level: Level,
    /// A path relative to the repository root (the environment repository's, for its files).
    pub file: Option<String>,
    pub line: Option<usize>,
    pub column: Option<usize>,
    pub title: String,
    pub message: String,
}

/// Whether this process runs as a GitHub Actions step.
#[must_use]
pub fn in_github_actions(env: &dyn Fn(&str) -> Option<String>) -> bool {
    is_true(env, "GITHUB_ACTIONS")
}

/// The `::add-mask::` commands hiding `secret` in the run's log (one per line of it), or none
/// outside GitHub Actions.
#[must_use]
pub fn mask_commands(env: &dyn Fn(&str) -> Option<String>, secret: &str) -> String {
    if !in_github_actions(env) {
        return String::new();
    }
    secret
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .map(|l| format!("::add-mask::{}\n", escape_data(l)))
        .collect()
}

/// The workflow command for `annotation` (`::error file=..,line=..,title=..::message`), or
/// nothing outside GitHub Actions.
#[must_use]
pub fn annotation_command(env: &dyn Fn(&str) -> Option<String>, annotation: &Annotation) -> String {
    if !in_github_actions(env) {
        return String::new();
    }
    let name = match annotation.level {
        Level::Error => "error",
        Level::Warning => "warning",
        Level::Notice => "notice",
    };
    let mut properties = Vec::new();
    if let Some(file) = &annotation.file {
        properties.push(format!("file={}", escape_property(file)));
        if let Some(line) = annotation.line {
            properties.push(format!("line={line}"));
            if let Some(column) = annotation.column {
                properties.push(format!("col={column}"));
            }
        }
    }
    if !annotation.title.is_empty() {
        properties.push(format!("title={}", escape_property(&annotation.title)));
    }
    format!(
        "::{name} {}::{}\n",
        properties.join(","),
        escape_data(annotation.message.trim_end())
    )
}

/// A workflow command's message: `%`, CR and LF escaped, as the runner unescapes them.
fn escape_data(text: &str) -> String {
    text.replace('%', "%25")
        .replace('\r', "%0D")
        .replace('\n', "%0A")
}

/// A workflow command's property value: also `:` and `,` escaped.
fn escape_property(text: &str) -> String {
    escape_data(text).replace(':', "%3A").replace(',', "%2C")
}

/// Audit trailers for a commit message, in a fixed order and only those that are known:
/// [`trailers::SOURCE_REPO`], [`trailers::SOURCE_COMMIT`], [`trailers::SOURCE_REF`],
/// [`trailers::RUN_URL`], [`trailers::RUN_NUMBER`], [`trailers::CHANGE_REQUEST`].
///
/// Every value is forced onto one line: each run of control characters (CR, LF, tab, …) and
/// Unicode line/paragraph separators becomes a single space, and the result is trimmed; a value
/// left empty is omitted. A hostile branch name can therefore never start a trailer or a
/// paragraph of its own.
#[must_use]
pub fn trailers(ctx: &Context) -> Vec<(&'static str, String)> {
    let candidates = [
        (
            trailers::SOURCE_REPO,
            ctx.source_repo.as_deref().map(one_line),
        ),
        (
            trailers::SOURCE_COMMIT,
            ctx.source_commit.as_deref().map(one_line),
        ),
        (
            trailers::SOURCE_REF,
            ctx.source_ref.as_deref().map(one_line),
        ),
        (trailers::RUN_URL, ctx.run_url.as_deref().map(one_line)),
        (trailers::RUN_NUMBER, ctx.run_number.map(|n| n.to_string())),
        (
            trailers::CHANGE_REQUEST,
            ctx.change_request.map(|n| n.to_string()),
        ),
    ];
    candidates
        .into_iter()
        .filter_map(|(name, value)| value.filter(|v| !v.is_empty()).map(|v| (name, v)))
        .collect()
}

// ---------------------------------------------------------------------------------------------
// Detection

/// The trimmed value of `key`, or `None` when unset or blank.
fn var(env: &dyn Fn(&str) -> Option<String>, key: &str) -> Option<String> {
    non_blank(&env(key)?)
}

/// `value` trimmed, or `None` when blank.
fn non_blank(value: &str) -> Option<String> {
    let value = value.trim();
    (!value.is_empty()).then(|| value.to_owned())
}

/// The value of `key` as a number, or `None` when unset, blank or not a `u64`.
fn num(env: &dyn Fn(&str) -> Option<String>, key: &str) -> Option<u64> {
    var(env, key)?.parse().ok()
}

/// Whether `key` is set to `true` (any ASCII case, surrounding blanks ignored).
fn is_true(env: &dyn Fn(&str) -> Option<String>, key: &str) -> bool {
    var(env, key).is_some_and(|v| v.eq_ignore_ascii_case("true"))
}

fn github(env: &dyn Fn(&str) -> Option<String>) -> Context {
    let server_url = var(env, "GITHUB_SERVER_URL").and_then(|s| non_blank(s.trim_end_matches('/')));
    let source_repo = match (&server_url, var(env, "GITHUB_REPOSITORY")) {
        (Some(server), Some(repo)) => Some(format!("{server}/{}", repo.trim_matches('/'))),
        _ => None,
    };

    let event = var(env, "GITHUB_EVENT_PATH").and_then(|path| read_event(Path::new(&path)));
    let pull_request = event
        .as_ref()
        .and_then(|e| e.get("pull_request"))
        .filter(|pr| pr.is_object());
    let pr_str = |pointer: &str| {
        pull_request
            .and_then(|pr| pr.pointer(pointer))
            .and_then(Value::as_str)
            .and_then(non_blank)
    };

    let source_commit = pr_str("/head/sha").or_else(|| var(env, "GITHUB_SHA"));
    let git_ref = var(env, "GITHUB_REF");
    let source_ref = var(env, "GITHUB_HEAD_REF")
        .or_else(|| pr_str("/head/ref"))
        .or_else(|| var(env, "GITHUB_REF_NAME"))
        .or_else(|| {
            let r = git_ref.as_deref()?;
            let name = r
                .strip_prefix("refs/heads/")
                .or_else(|| r.strip_prefix("refs/tags/"))?;
            non_blank(name)
        });

    let run_attempt = num(env, "GITHUB_RUN_ATTEMPT");
    let run_url = match (&source_repo, num(env, "GITHUB_RUN_ID")) {
        (Some(repo_url), Some(run_id)) => Some(match run_attempt {
            Some(attempt) if attempt > 1 => {
                format!("{repo_url}/actions/runs/{run_id}/attempts/{attempt}")
            }
            _ => format!("{repo_url}/actions/runs/{run_id}"),
        }),
        _ => None,
    };

    let change_request = pull_request
        .and_then(|pr| pr.get("number"))
        .and_then(Value::as_u64)
        .or_else(|| git_ref.as_deref().and_then(pull_number_from_ref));

    Context {
        provider: Provider::GithubActions,
        source_repo,
        source_commit,
        source_ref,
        run_url,
        run_number: num(env, "GITHUB_RUN_NUMBER"),
        run_attempt,
        workflow: var(env, "GITHUB_WORKFLOW_REF").or_else(|| var(env, "GITHUB_WORKFLOW")),
        change_request,
        server_url,
        api_url: var(env, "GITHUB_API_URL"),
        actor: var(env, "GITHUB_ACTOR"),
    }
}

fn gitlab(env: &dyn Fn(&str) -> Option<String>) -> Context {
    Context {
        provider: Provider::GitlabCi,
        source_repo: var(env, "CI_PROJECT_URL"),
        source_commit: var(env, "CI_MERGE_REQUEST_SOURCE_BRANCH_SHA")
            .or_else(|| var(env, "CI_COMMIT_SHA")),
        source_ref: var(env, "CI_MERGE_REQUEST_SOURCE_BRANCH_NAME")
            .or_else(|| var(env, "CI_COMMIT_REF_NAME"))
            .or_else(|| var(env, "CI_COMMIT_BRANCH"))
            .or_else(|| var(env, "CI_COMMIT_TAG")),
        run_url: var(env, "CI_PIPELINE_URL").or_else(|| var(env, "CI_JOB_URL")),
        run_number: num(env, "CI_PIPELINE_IID").or_else(|| num(env, "CI_PIPELINE_ID")),
        run_attempt: None,
        workflow: None,
        change_request: num(env, "CI_MERGE_REQUEST_IID"),
        server_url: var(env, "CI_SERVER_URL"),
        api_url: var(env, "CI_API_V4_URL"),
        actor: var(env, "GITLAB_USER_LOGIN"),
    }
}

/// The GitHub event payload at `path`, or `None` when it cannot be read or parsed.
fn read_event(path: &Path) -> Option<Value> {
    let file = File::open(path).ok()?;
    let mut bytes = Vec::new();
    file.take(MAX_EVENT_BYTES + 1)
        .read_to_end(&mut bytes)
        .ok()?;
    if u64::try_from(bytes.len()).ok()? > MAX_EVENT_BYTES {
        return None;
    }
    serde_json::from_slice(&bytes).ok()
}

/// The pull request number in `refs/pull/<n>/merge` or `refs/pull/<n>/head`.
fn pull_number_from_ref(git_ref: &str) -> Option<u64> {
    let (number, kind) = git_ref.strip_prefix("refs/pull/")?.split_once('/')?;
    if kind != "merge" && kind != "head" {
        return None;
    }
    number.parse().ok()
}

/// `value` on one line, for trailers, titles and messages made from untrusted text: it is cut at
/// line breaks (`\n`, `\r`, vertical tab, form feed, NEL, U+2028, U+2029) and tabs, each part
/// trimmed, and the non-empty parts joined with one space; every other control character (ESC,
/// C0, C1) and every invisible format character ([`is_format`]: bidi overrides, zero-width
/// characters, BOM) is shown escaped as `\u{…}`, so no text can draw escape sequences, reorder
/// what is shown, or hide a character.
#[must_use]
pub fn one_line(value: &str) -> String {
    let mut out = String::with_capacity(value.len());
    let breaks = |c: char| {
        matches!(
            c,
            '\n' | '\r' | '\t' | '\u{0b}' | '\u{0c}' | '\u{85}' | '\u{2028}' | '\u{2029}'
        )
    };
    for part in value.split(breaks).map(str::trim).filter(|p| !p.is_empty()) {
        if !out.is_empty() {
            out.push(' ');
        }
        for c in part.chars() {
            if c.is_control() || is_format(c) {
                out.push_str(&format!("\\u{{{:x}}}", u32::from(c)));
            } else {
                out.push(c);
            }
        }
    }
    out
}

/// Whether `c` is an invisible Unicode format character (general category Cf: bidi embeddings,
/// overrides and isolates, zero-width spaces and joiners, the BOM, invisible operators, tags):
/// characters that change how text around them is shown without showing themselves.
#[must_use]
pub fn is_format(c: char) -> bool {
    matches!(
        c,
        '\u{ad}'
            | '\u{600}'..='\u{605}'
            | '\u{61c}'
            | '\u{6dd}'
            | '\u{70f}'
            | '\u{890}'..='\u{891}'
            | '\u{8e2}'
            | '\u{180e}'
            | '\u{200b}'..='\u{200f}'
            | '\u{202a}'..='\u{202e}'
            | '\u{2060}'..='\u{2064}'
            | '\u{2066}'..='\u{206f}'
            | '\u{feff}'
            | '\u{fff9}'..='\u{fffb}'
            | '\u{110bd}'
            | '\u{110cd}'
            | '\u{13430}'..='\u{1343f}'
            | '\u{1bca0}'..='\u{1bca3}'
            | '\u{1d173}'..='\u{1d17a}'
            | '\u{e0001}'
            | '\u{e0020}'..='\u{e007f}'
    )
}

// ---------------------------------------------------------------------------------------------
// Publishing

/// Accepts keys valid as GitHub output names and, prefixed, as GitLab dotenv variable names.
fn check_key(key: &str) -> io::Result<()> {
    let valid = !key.is_empty()
        && key
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_');
    if valid {
        Ok(())
    } else {
        Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            format!("invalid CI output key {key:?}: use ASCII letters, digits, '-' and '_' only"),
        ))
    }
}

/// `path` from the environment, resolved against `cwd` when relative.
fn resolve(cwd: &Path, path: &str) -> PathBuf {
    let path = Path::new(path);
    if path.is_absolute() {
        path.to_path_buf()
    } else {
        cwd.join(path)
    }
}

/// `error` with `path` in its message, keeping its kind.
fn at(path: &Path, error: &io::Error) -> io::Error {
    io::Error::new(error.kind(), format!("{}: {error}", path.display()))
}

/// Appends `text` to `path` (created when missing) in one write.
fn append(path: &Path, text: &str) -> io::Result<()> {
    let mut file = OpenOptions::new()
        .create(true)
        .append(true)
        .open(path)
        .map_err(|e| at(path, &e))?;
    file.write_all(text.as_bytes()).map_err(|e| at(path, &e))
}

fn publish_github(
    env: &dyn Fn(&str) -> Option<String>,
    cwd: &Path,
    outputs: &Outputs,
) -> io::Result<Vec<PathBuf>> {
    let mut written = Vec::new();
    if !outputs.values.is_empty()
        && let Some(path) = var(env, "GITHUB_OUTPUT")
    {
        let path = resolve(cwd, &path);
        append(&path, &github_output_text(&outputs.values))?;
        written.push(path);
    }
    if !outputs.summary.trim().is_empty()
        && let Some(path) = var(env, "GITHUB_STEP_SUMMARY")
    {
        let path = resolve(cwd, &path);
        let mut text = String::with_capacity(outputs.summary.len() + 1);
        text.push_str(&outputs.summary);
        if !text.ends_with('\n') {
            text.push('\n');
        }
        append(&path, &text)?;
        written.push(path);
    }
    Ok(written)
}

/// The `$GITHUB_OUTPUT` lines for `values`: `key=value`, or the heredoc form for values with a
/// CR or LF (the runner splits lines on LF, and on CRLF on Windows).
fn github_output_text(values: &[(String, String)]) -> String {
    let mut out = String::new();
    for (key, value) in values {
        out.push_str(key);
        if value.contains(['\n', '\r']) {
            let delimiter = heredoc_delimiter(value);
            out.push_str("<<");
            out.push_str(&delimiter);
            out.push('\n');
            out.push_str(value);
            out.push('\n');
            out.push_str(&delimiter);
        } else {
            out.push('=');
            out.push_str(value);
        }
        out.push('\n');
    }
    out
}

/// A `ghadelimiter_<hex>` delimiter that does not occur anywhere in `value`.
fn heredoc_delimiter(value: &str) -> String {
    // RandomState is seeded from the OS per thread, so delimiters are hard to predict; the
    // containment check makes them correct whatever the value holds.
    let state = RandomState::new();
    let mut counter: u64 = 0;
    loop {
        let mut hasher = state.build_hasher();
        hasher.write_u64(counter);
        hasher.write(value.as_bytes());
        let delimiter = format!("ghadelimiter_{:016x}", hasher.finish());
        if !value.contains(&delimiter) {
            return delimiter;
        }
        counter += 1;
    }
}

fn publish_gitlab(
    env: &dyn Fn(&str) -> Option<String>,
    cwd: &Path,
    outputs: &Outputs,
) -> io::Result<Vec<PathBuf>> {
    let path =
        var(env, "FERRY_DOTENV").map_or_else(|| cwd.join(DEFAULT_DOTENV), |p| resolve(cwd, &p));
    fs::write(&path, dotenv_text(&outputs.values)).map_err(|e| at(&path, &e))?;
    Ok(vec![path])
}

/// The dotenv variable name of output `key`: `FERRY_` + upper-cased key with `-` → `_`.
fn dotenv_key(key: &str) -> String {
    let mut name = String::with_capacity(DOTENV_PREFIX.len() + key.len());
    name.push_str(DOTENV_PREFIX);
    name.extend(key.chars().map(|c| {
        if c == '-' {
            '_'
        } else {
            c.to_ascii_uppercase()
        }
    }));
    name
}

/// The dotenv report for `values`: one `NAME=value` line each, single-line values, and each
/// name once (its last value, at its first position).
fn dotenv_text(values: &[(String, String)]) -> String {
    let mut lines: Vec<(String, String)> = Vec::with_capacity(values.len());
    for (key, value) in values {
        let name = dotenv_key(key);
        let value = one_line(value);
        match lines.iter_mut().find(|(n, _)| *n == name) {
            Some(slot) => slot.1 = value,
            None => lines.push((name, value)),
        }
    }
    let mut out = String::new();
    for (name, value) in lines {
        out.push_str(&name);
        out.push('=');
        out.push_str(&value);
        out.push('\n');
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    /// A lookup over fixed pairs: tests never touch the process environment.
    fn env_of(pairs: &[(&str, &str)]) -> impl Fn(&str) -> Option<String> + use<> {
        let map: HashMap<String, String> = pairs
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect();
        move |key| map.get(key).cloned()
    }

    fn s(value: &str) -> Option<String> {
        Some(value.to_owned())
    }

    const GITHUB_BASE: &[(&str, &str)] = &[
        ("CI", "true"),
        ("GITHUB_ACTIONS", "true"),
        ("GITHUB_SERVER_URL", "https://github.com"),
        ("GITHUB_API_URL", "https://api.github.com"),
        ("GITHUB_REPOSITORY", "acme/shop"),
        ("GITHUB_RUN_ID", "9876543210"),
        ("GITHUB_RUN_NUMBER", "57"),
        ("GITHUB_RUN_ATTEMPT", "1"),
        ("GITHUB_WORKFLOW", "build"),
        (
            "GITHUB_WORKFLOW_REF",
            "acme/shop/.github/workflows/build.yml@refs/heads/main",
        ),
        ("GITHUB_ACTOR", "octocat"),
    ];

    fn github_env(extra: &[(&str, &str)]) -> impl Fn(&str) -> Option<String> + use<> {
        let mut pairs: Vec<(&str, &str)> = GITHUB_BASE.to_vec();
        pairs.extend_from_slice(extra);
        env_of(&pairs)
    }

    #[test]
    fn github_push_event() {
        let env = github_env(&[
            ("GITHUB_EVENT_NAME", "push"),
            ("GITHUB_SHA", "0123456789abcdef0123456789abcdef01234567"),
            ("GITHUB_REF", "refs/heads/main"),
            ("GITHUB_REF_NAME", "main"),
            ("GITHUB_HEAD_REF", ""),
        ]);
        let ctx = Context::detect(&env).expect("GitHub Actions detected");
        assert_eq!(
            ctx,
            Context {
                provider: Provider::GithubActions,
                source_repo: s("https://github.com/acme/shop"),
                source_commit: s("0123456789abcdef0123456789abcdef01234567"),
                source_ref: s("main"),
                run_url: s("https://github.com/acme/shop/actions/runs/9876543210"),
                run_number: Some(57),
                run_attempt: Some(1),
                workflow: s("acme/shop/.github/workflows/build.yml@refs/heads/main"),
                change_request: None,
                server_url: s("https://github.com"),
                api_url: s("https://api.github.com"),
                actor: s("octocat"),
            }
        );
    }

    #[test]
    fn github_pull_request_event_prefers_payload_head() {
        let dir = tempfile::tempdir().expect("tempdir");
        let event = dir.path().join("event.json");
        fs::write(
            &event,
            r#"{"action":"synchronize","number":42,
               "pull_request":{"number":42,
                 "head":{"sha":"feedfacefeedfacefeedfacefeedfacefeedface","ref":"feature/login"},
                 "base":{"sha":"baseba5ebaseba5ebaseba5ebaseba5ebaseba5e","ref":"main"}}}"#,
        )
        .expect("write event");
        let event_path = event.to_str().expect("utf-8 path");
        let env = github_env(&[
            ("GITHUB_EVENT_NAME", "pull_request"),
            ("GITHUB_EVENT_PATH", event_path),
            ("GITHUB_SHA", "mergemergemergemergemergemergemergemerge"),
            ("GITHUB_REF", "refs/pull/42/merge"),
            ("GITHUB_REF_NAME", "42/merge"),
            ("GITHUB_HEAD_REF", "feature/login"),
            ("GITHUB_BASE_REF", "main"),
        ]);
        let ctx = Context::detect(&env).expect("detected");
        assert_eq!(
            ctx.source_commit,
            s("feedfacefeedfacefeedfacefeedfacefeedface")
        );
        assert_eq!(ctx.source_ref, s("feature/login"));
        assert_eq!(ctx.change_request, Some(42));
    }

    #[test]
    fn github_pull_request_payload_number_wins_over_ref() {
        // pull_request_target runs on the base ref: only the payload knows the PR.
        let dir = tempfile::tempdir().expect("tempdir");
        let event = dir.path().join("event.json");
        fs::write(
            &event,
            r#"{"pull_request":{"number":7,"head":{"sha":"abc1234","ref":"fix"}}}"#,
        )
        .expect("write event");
        let env = github_env(&[
            ("GITHUB_EVENT_NAME", "pull_request_target"),
            ("GITHUB_EVENT_PATH", event.to_str().expect("utf-8 path")),
            ("GITHUB_SHA", "basebasebase"),
            ("GITHUB_REF", "refs/heads/main"),
            ("GITHUB_REF_NAME", "main"),
            ("GITHUB_HEAD_REF", "fix"),
        ]);
        let ctx = Context::detect(&env).expect("detected");
        assert_eq!(ctx.change_request, Some(7));
        assert_eq!(ctx.source_commit, s("abc1234"));
        assert_eq!(ctx.source_ref, s("fix"));
    }

    #[test]
    fn github_pull_request_without_readable_event_falls_back_to_env() {
        let dir = tempfile::tempdir().expect("tempdir");
        let malformed = dir.path().join("malformed.json");
        fs::write(&malformed, "{not json").expect("write");
        let missing = dir.path().join("missing.json");
        let wrong_shape = dir.path().join("wrong.json");
        fs::write(&wrong_shape, r#"{"pull_request":"nope"}"#).expect("write");
        for path in [&malformed, &missing, &wrong_shape] {
            let env = github_env(&[
                ("GITHUB_EVENT_NAME", "pull_request"),
                ("GITHUB_EVENT_PATH", path.to_str().expect("utf-8 path")),
                ("GITHUB_SHA", "mergesha"),
                ("GITHUB_REF", "refs/pull/13/merge"),
                ("GITHUB_REF_NAME", "13/merge"),
                ("GITHUB_HEAD_REF", "topic"),
            ]);
            let ctx = Context::detect(&env).expect("detected");
            assert_eq!(ctx.source_commit, s("mergesha"), "{}", path.display());
            assert_eq!(ctx.change_request, Some(13), "{}", path.display());
            assert_eq!(ctx.source_ref, s("topic"), "{}", path.display());
        }
    }

    #[test]
    fn github_run_attempt_two_url() {
        let env = github_env(&[("GITHUB_RUN_ATTEMPT", "2"), ("GITHUB_SHA", "abc")]);
        let ctx = Context::detect(&env).expect("detected");
        assert_eq!(ctx.run_attempt, Some(2));
        assert_eq!(
            ctx.run_url,
            s("https://github.com/acme/shop/actions/runs/9876543210/attempts/2")
        );
    }

    #[test]
    fn github_enterprise_server_url_and_ref_fallback() {
        let env = env_of(&[
            ("GITHUB_ACTIONS", "true"),
            ("GITHUB_SERVER_URL", "https://ghe.example.com/"),
            ("GITHUB_REPOSITORY", "team/app"),
            ("GITHUB_RUN_ID", "5"),
            ("GITHUB_REF", "refs/tags/v1.2.3"),
            ("GITHUB_WORKFLOW", "release"),
        ]);
        let ctx = Context::detect(&env).expect("detected");
        assert_eq!(ctx.source_repo, s("https://ghe.example.com/team/app"));
        assert_eq!(ctx.server_url, s("https://ghe.example.com"));
        assert_eq!(
            ctx.run_url,
            s("https://ghe.example.com/team/app/actions/runs/5")
        );
        assert_eq!(ctx.source_ref, s("v1.2.3"));
        assert_eq!(ctx.workflow, s("release"));
        assert_eq!(ctx.run_attempt, None);
    }

    #[test]
    fn pull_numbers_from_refs() {
        assert_eq!(pull_number_from_ref("refs/pull/42/merge"), Some(42));
        assert_eq!(pull_number_from_ref("refs/pull/42/head"), Some(42));
        assert_eq!(pull_number_from_ref("refs/pull/x/merge"), None);
        assert_eq!(pull_number_from_ref("refs/pull/42/other"), None);
        assert_eq!(pull_number_from_ref("refs/heads/pull/42/merge"), None);
    }

    #[test]
    fn gitlab_merge_request_pipeline() {
        let env = env_of(&[
            ("CI", "true"),
            ("GITLAB_CI", "true"),
            ("CI_SERVER_URL", "https://gitlab.example.com"),
            ("CI_API_V4_URL", "https://gitlab.example.com/api/v4"),
            ("CI_PROJECT_URL", "https://gitlab.example.com/acme/shop"),
            ("CI_PIPELINE_SOURCE", "merge_request_event"),
            ("CI_COMMIT_SHA", "mergedresultsha"),
            ("CI_MERGE_REQUEST_SOURCE_BRANCH_SHA", "sourceheadsha"),
            ("CI_COMMIT_REF_NAME", "feature/cart"),
            ("CI_MERGE_REQUEST_SOURCE_BRANCH_NAME", "feature/cart"),
            ("CI_MERGE_REQUEST_TARGET_BRANCH_NAME", "main"),
            ("CI_MERGE_REQUEST_IID", "31"),
            ("CI_PIPELINE_ID", "1200345"),
            ("CI_PIPELINE_IID", "812"),
            (
                "CI_PIPELINE_URL",
                "https://gitlab.example.com/acme/shop/-/pipelines/1200345",
            ),
            (
                "CI_JOB_URL",
                "https://gitlab.example.com/acme/shop/-/jobs/99",
            ),
            ("GITLAB_USER_LOGIN", "alice"),
        ]);
        assert_eq!(
            Context::detect(&env),
            Some(Context {
                provider: Provider::GitlabCi,
                source_repo: s("https://gitlab.example.com/acme/shop"),
                source_commit: s("sourceheadsha"),
                source_ref: s("feature/cart"),
                run_url: s("https://gitlab.example.com/acme/shop/-/pipelines/1200345"),
                run_number: Some(812),
                run_attempt: None,
                workflow: None,
                change_request: Some(31),
                server_url: s("https://gitlab.example.com"),
                api_url: s("https://gitlab.example.com/api/v4"),
                actor: s("alice"),
            })
        );
    }

    #[test]
    fn gitlab_branch_pipeline() {
        let env = env_of(&[
            ("GITLAB_CI", "true"),
            ("CI_PROJECT_URL", "https://gitlab.com/acme/shop"),
            ("CI_PIPELINE_SOURCE", "push"),
            ("CI_COMMIT_SHA", "c0ffee"),
            ("CI_COMMIT_BRANCH", "main"),
            ("CI_COMMIT_REF_NAME", "main"),
            ("CI_MERGE_REQUEST_SOURCE_BRANCH_SHA", ""),
            ("CI_PIPELINE_ID", "1200346"),
            ("CI_JOB_URL", "https://gitlab.com/acme/shop/-/jobs/100"),
        ]);
        let ctx = Context::detect(&env).expect("GitLab detected");
        assert_eq!(ctx.provider, Provider::GitlabCi);
        assert_eq!(ctx.source_commit, s("c0ffee"));
        assert_eq!(ctx.source_ref, s("main"));
        assert_eq!(ctx.change_request, None);
        assert_eq!(
            ctx.run_number,
            Some(1_200_346),
            "falls back to CI_PIPELINE_ID"
        );
        assert_eq!(
            ctx.run_url,
            s("https://gitlab.com/acme/shop/-/jobs/100"),
            "falls back to CI_JOB_URL"
        );
        assert_eq!(ctx.workflow, None);
    }

    #[test]
    fn gitlab_tag_pipeline_uses_tag_name() {
        let env = env_of(&[("GITLAB_CI", "true"), ("CI_COMMIT_TAG", "v2.0.0")]);
        let ctx = Context::detect(&env).expect("detected");
        assert_eq!(ctx.source_ref, s("v2.0.0"));
    }

    #[test]
    fn not_in_ci() {
        assert_eq!(Context::detect(&env_of(&[])), None);
        assert_eq!(
            Context::detect(&env_of(&[("CI", "true"), ("GITHUB_ACTIONS", "false")])),
            None
        );
        assert_eq!(Context::detect(&env_of(&[("GITLAB_CI", "")])), None);
    }

    #[test]
    fn github_wins_when_both_claim() {
        let env = env_of(&[("GITHUB_ACTIONS", "true"), ("GITLAB_CI", "true")]);
        assert_eq!(
            Context::detect(&env).map(|c| c.provider),
            Some(Provider::GithubActions)
        );
    }

    #[test]
    fn empty_values_and_bad_numbers_are_none() {
        let env = env_of(&[
            ("GITHUB_ACTIONS", "true"),
            ("GITHUB_SERVER_URL", ""),
            ("GITHUB_REPOSITORY", "acme/shop"),
            ("GITHUB_SHA", "   "),
            ("GITHUB_HEAD_REF", ""),
            ("GITHUB_REF_NAME", ""),
            ("GITHUB_REF", ""),
            ("GITHUB_RUN_ID", "12"),
            ("GITHUB_RUN_NUMBER", "twelve"),
            ("GITHUB_RUN_ATTEMPT", "-1"),
            ("GITHUB_WORKFLOW_REF", ""),
            ("GITHUB_WORKFLOW", ""),
            ("GITHUB_EVENT_PATH", ""),
            ("GITHUB_API_URL", ""),
            ("GITHUB_ACTOR", ""),
        ]);
        let ctx = Context::detect(&env).expect("detected");
        assert_eq!(
            ctx,
            Context {
                provider: Provider::GithubActions,
                source_repo: None,
                source_commit: None,
                source_ref: None,
                run_url: None,
                run_number: None,
                run_attempt: None,
                workflow: None,
                change_request: None,
                server_url: None,
                api_url: None,
                actor: None,
            }
        );

        let env = env_of(&[
            ("GITLAB_CI", "true"),
            ("CI_PIPELINE_IID", "x"),
            ("CI_PIPELINE_ID", "77"),
            ("CI_MERGE_REQUEST_IID", ""),
            ("CI_MERGE_REQUEST_SOURCE_BRANCH_NAME", ""),
            ("CI_COMMIT_REF_NAME", "dev"),
            ("CI_PIPELINE_URL", ""),
        ]);
        let ctx = Context::detect(&env).expect("detected");
        assert_eq!(ctx.run_number, Some(77));
        assert_eq!(ctx.change_request, None);
        assert_eq!(ctx.source_ref, s("dev"));
        assert_eq!(ctx.run_url, None);
    }

    #[test]
    fn provider_serialises_kebab_case() {
        assert_eq!(
            serde_json::to_string(&Provider::GithubActions).expect("json"),
            r#""github-actions""#
        );
        assert_eq!(
            serde_json::to_string(&Provider::GitlabCi).expect("json"),
            r#""gitlab-ci""#
        );
        assert_eq!(Provider::GitlabCi.as_str(), "gitlab-ci");
    }

    // --- publishing -----------------------------------------------------------------------

    fn github_ctx() -> Context {
        Context::detect(&github_env(&[])).expect("detected")
    }

    fn gitlab_ctx() -> Context {
        Context::detect(&env_of(&[("GITLAB_CI", "true")])).expect("detected")
    }

    /// Parses a `$GITHUB_OUTPUT` file the way the Actions runner does on Linux: lines end at
    /// LF; `name=value` when `=` comes before any `<<`, else `name<<DELIM` and the lines up to
    /// one equal to `DELIM`, joined without the LF before the delimiter.
    fn parse_github_output(text: &str) -> Vec<(String, String)> {
        fn next_line(rest: &mut &str) -> Option<String> {
            if rest.is_empty() {
                return None;
            }
            let (line, tail) = rest.split_once('\n').expect("every line ends with LF");
            *rest = tail;
            Some(line.to_owned())
        }
        let mut result = Vec::new();
        let mut rest = text;
        while let Some(line) = next_line(&mut rest) {
            if line.is_empty() {
                continue;
            }
            let equals = line.find('=');
            let heredoc = line.find("<<");
            match (equals, heredoc) {
                (Some(e), h) if h.is_none_or(|h| e < h) => {
                    result.push((line[..e].to_owned(), line[e + 1..].to_owned()));
                }
                (_, Some(h)) => {
                    let (name, delimiter) = (&line[..h], &line[h + 2..]);
                    assert!(!name.is_empty() && !delimiter.is_empty());
                    let mut value_lines = Vec::new();
                    loop {
                        let next = next_line(&mut rest).expect("matching delimiter found");
                        if next == delimiter {
                            break;
                        }
                        value_lines.push(next);
                    }
                    result.push((name.to_owned(), value_lines.join("\n")));
                }
                _ => panic!("invalid format {line:?}"),
            }
        }
        result
    }

    #[test]
    fn github_output_single_and_multi_line_values_round_trip() {
        let dir = tempfile::tempdir().expect("tempdir");
        let output = dir.path().join("github_output");
        // The runner creates the file; ferry must append to what earlier steps wrote.
        fs::write(&output, "earlier=step\n").expect("seed");
        let env = env_of(&[("GITHUB_OUTPUT", output.to_str().expect("utf-8 path"))]);

        let mut outputs = Outputs::default();
        outputs
            .set("changed", "true")
            .set("commit-sha", "0123abcd")
            .set("empty", "")
            .set("tricky", "a=b<<c")
            .set("notes", "line one\nline two\n\nghadelimiter_0 inside\n")
            .set("crlf", "first\r\nsecond")
            .set("only-newline", "\n");
        let written = publish(Some(&github_ctx()), &env, dir.path(), &outputs).expect("publish");
        assert_eq!(written, vec![output.clone()]);

        let text = fs::read_to_string(&output).expect("read back");
        assert!(text.contains("changed=true\n"), "{text}");
        assert!(text.contains("notes<<ghadelimiter_"), "{text}");
        let mut expected = vec![("earlier".to_owned(), "step".to_owned())];
        expected.extend(outputs.values.iter().cloned());
        assert_eq!(parse_github_output(&text), expected);
    }

    #[test]
    fn heredoc_delimiter_avoids_value() {
        for value in ["x\ny", "ghadelimiter_\n", "\n\n\n"] {
            let delimiter = heredoc_delimiter(value);
            assert!(delimiter.starts_with("ghadelimiter_"));
            assert!(!value.contains(&delimiter));
        }
        let text = github_output_text(&[("k".to_owned(), "a\nb".to_owned())]);
        let delimiter = text
            .lines()
            .next()
            .and_then(|l| l.strip_prefix("k<<"))
            .expect("heredoc header");
        assert_eq!(text, format!("k<<{delimiter}\na\nb\n{delimiter}\n"));
    }

    #[test]
    fn step_summary_is_appended() {
        let dir = tempfile::tempdir().expect("tempdir");
        let summary = dir.path().join("step_summary.md");
        let env = env_of(&[("GITHUB_STEP_SUMMARY", summary.to_str().expect("utf-8 path"))]);
        let ctx = github_ctx();

        let first = Outputs {
            values: Vec::new(),
            summary: "## ferry\n\n| image | tag |\n| --- | --- |\n| web | v1 |".to_owned(),
        };
        let second = Outputs {
            values: Vec::new(),
            summary: "second run\n".to_owned(),
        };
        assert_eq!(
            publish(Some(&ctx), &env, dir.path(), &first).expect("first"),
            vec![summary.clone()]
        );
        assert_eq!(
            publish(Some(&ctx), &env, dir.path(), &second).expect("second"),
            vec![summary.clone()]
        );
        let text = fs::read_to_string(&summary).expect("read back");
        assert_eq!(
            text,
            "## ferry\n\n| image | tag |\n| --- | --- |\n| web | v1 |\nsecond run\n"
        );
    }

    #[test]
    fn github_skips_unset_targets_and_blank_summary() {
        let dir = tempfile::tempdir().expect("tempdir");
        let mut outputs = Outputs::default();
        outputs.set("changed", "false");
        outputs.summary = "  \n".to_owned();
        let summary = dir.path().join("summary.md");
        let env = env_of(&[
            ("GITHUB_OUTPUT", ""),
            ("GITHUB_STEP_SUMMARY", summary.to_str().expect("utf-8 path")),
        ]);
        let written = publish(Some(&github_ctx()), &env, dir.path(), &outputs).expect("publish");
        assert!(written.is_empty());
        assert!(!summary.exists());
    }

    /// Parses a dotenv report the way GitLab does: `^(.*?)=(.*)$` per line, both sides
    /// stripped; any line without `=` (blank lines included) is an error.
    fn parse_gitlab_dotenv(text: &str) -> Vec<(String, String)> {
        text.lines()
            .map(|line| {
                let (key, value) = line.split_once('=').expect("valid dotenv line");
                assert!(
                    key.trim()
                        .bytes()
                        .all(|b| b.is_ascii_alphanumeric() || b == b'_'),
                    "GitLab key {key:?}"
                );
                (key.trim().to_owned(), value.trim().to_owned())
            })
            .collect()
    }

    #[test]
    fn gitlab_dotenv_at_ferry_dotenv_is_rewritten() {
        let dir = tempfile::tempdir().expect("tempdir");
        let target = dir.path().join("out").join("build.env");
        fs::create_dir(dir.path().join("out")).expect("mkdir");
        let env = env_of(&[("FERRY_DOTENV", target.to_str().expect("utf-8 path"))]);
        let ctx = gitlab_ctx();

        let mut first = Outputs::default();
        first.set("stale", "old");
        publish(Some(&ctx), &env, dir.path(), &first).expect("first");

        let mut outputs = Outputs::default();
        outputs
            .set("commit-sha", "0123abcd")
            .set("changed", "true")
            .set("notes", "line one\r\nline two\n")
            .set("url", "https://x.example/?a=b");
        let written = publish(Some(&ctx), &env, dir.path(), &outputs).expect("publish");
        assert_eq!(written, vec![target.clone()]);
        let text = fs::read_to_string(&target).expect("read back");
        assert_eq!(
            text,
            "FERRY_COMMIT_SHA=0123abcd\nFERRY_CHANGED=true\nFERRY_NOTES=line one line two\n\
             FERRY_URL=https://x.example/?a=b\n"
        );
        assert_eq!(
            parse_gitlab_dotenv(&text),
            vec![
                ("FERRY_COMMIT_SHA".to_owned(), "0123abcd".to_owned()),
                ("FERRY_CHANGED".to_owned(), "true".to_owned()),
                ("FERRY_NOTES".to_owned(), "line one line two".to_owned()),
                ("FERRY_URL".to_owned(), "https://x.example/?a=b".to_owned()),
            ]
        );
    }

    #[test]
    fn gitlab_dotenv_default_path_and_relative_override() {
        let dir = tempfile::tempdir().expect("tempdir");
        let ctx = gitlab_ctx();
        let mut outputs = Outputs::default();
        outputs.set("changed", "false");

        let written =
            publish(Some(&ctx), &env_of(&[]), dir.path(), &outputs).expect("default path");
        let default = dir.path().join(DEFAULT_DOTENV);
        assert_eq!(written, vec![default.clone()]);
        assert_eq!(
            fs::read_to_string(&default).expect("read"),
            "FERRY_CHANGED=false\n"
        );

        let env = env_of(&[("FERRY_DOTENV", "vars.env")]);
        let written = publish(Some(&ctx), &env, dir.path(), &outputs).expect("relative path");
        assert_eq!(written, vec![dir.path().join("vars.env")]);

        // With nothing to say the file is still rewritten, empty, so no stale value survives.
        let written =
            publish(Some(&ctx), &env_of(&[]), dir.path(), &Outputs::default()).expect("empty");
        assert_eq!(written, vec![default.clone()]);
        assert_eq!(fs::read_to_string(&default).expect("read"), "");
    }

    #[test]
    fn dotenv_keys_and_duplicates() {
        assert_eq!(dotenv_key("commit-sha"), "FERRY_COMMIT_SHA");
        assert_eq!(dotenv_key("Preview_URL2"), "FERRY_PREVIEW_URL2");
        let values = [
            ("a-b".to_owned(), "1".to_owned()),
            ("c".to_owned(), "2".to_owned()),
            ("a_b".to_owned(), "3".to_owned()),
        ];
        assert_eq!(dotenv_text(&values), "FERRY_A_B=3\nFERRY_C=2\n");
    }

    #[test]
    fn not_in_ci_writes_nothing() {
        let dir = tempfile::tempdir().expect("tempdir");
        let output = dir.path().join("out");
        let env = env_of(&[
            ("GITHUB_OUTPUT", output.to_str().expect("utf-8 path")),
            ("FERRY_DOTENV", "x.env"),
        ]);
        let mut outputs = Outputs::default();
        outputs.set("changed", "true");
        outputs.summary = "hello".to_owned();
        assert!(
            publish(None, &env, dir.path(), &outputs)
                .expect("publish")
                .is_empty()
        );
        assert_eq!(fs::read_dir(dir.path()).expect("list").count(), 0);
    }

    #[test]
    fn invalid_keys_are_refused_before_writing() {
        let dir = tempfile::tempdir().expect("tempdir");
        let output = dir.path().join("out");
        let env = env_of(&[("GITHUB_OUTPUT", output.to_str().expect("utf-8 path"))]);
        for bad in ["", "a=b", "a<<b", "new\nline", "sp ace", "dot.ted", "é"] {
            let mut outputs = Outputs::default();
            outputs.set("good", "1").set(bad, "2");
            let err = publish(Some(&github_ctx()), &env, dir.path(), &outputs)
                .expect_err("invalid key refused");
            assert_eq!(err.kind(), io::ErrorKind::InvalidInput, "{bad:?}");
            let err = publish(None, &env, dir.path(), &outputs).expect_err("refused out of CI");
            assert_eq!(err.kind(), io::ErrorKind::InvalidInput, "{bad:?}");
        }
        assert!(!output.exists());
    }

    #[test]
    fn write_errors_name_the_file() {
        let dir = tempfile::tempdir().expect("tempdir");
        let target = dir.path().join("no-such-dir").join("ferry.env");
        let env = env_of(&[("FERRY_DOTENV", target.to_str().expect("utf-8 path"))]);
        let err = publish(Some(&gitlab_ctx()), &env, dir.path(), &Outputs::default())
            .expect_err("missing directory");
        assert_eq!(err.kind(), io::ErrorKind::NotFound);
        assert!(err.to_string().contains("no-such-dir"), "{err}");
    }

    #[test]
    fn outputs_set_replaces_in_place() {
        let mut outputs = Outputs::default();
        outputs.set("a", "1").set("b", "2").set("a", "3");
        assert_eq!(
            outputs.values,
            vec![
                ("a".to_owned(), "3".to_owned()),
                ("b".to_owned(), "2".to_owned())
            ]
        );
        assert_eq!(outputs.get("a"), Some("3"));
        assert_eq!(outputs.get("c"), None);
    }

    // --- trailers -------------------------------------------------------------------------

    #[test]
    fn trailers_in_order_and_only_known() {
        let env = github_env(&[
            ("GITHUB_SHA", "abc123"),
            ("GITHUB_REF", "refs/pull/42/merge"),
            ("GITHUB_REF_NAME", "42/merge"),
            ("GITHUB_HEAD_REF", "feature/x"),
        ]);
        let ctx = Context::detect(&env).expect("detected");
        assert_eq!(
            trailers(&ctx),
            vec![
                (
                    trailers::SOURCE_REPO,
                    "https://github.com/acme/shop".to_owned()
                ),
                (trailers::SOURCE_COMMIT, "abc123".to_owned()),
                (trailers::SOURCE_REF, "feature/x".to_owned()),
                (
                    trailers::RUN_URL,
                    "https://github.com/acme/shop/actions/runs/9876543210".to_owned()
                ),
                (trailers::RUN_NUMBER, "57".to_owned()),
                (trailers::CHANGE_REQUEST, "42".to_owned()),
            ]
        );
        assert_eq!(
            trailers(&gitlab_ctx()),
            Vec::<(&str, String)>::new(),
            "nothing known, nothing written"
        );
    }

    #[test]
    fn trailers_strip_newlines() {
        let mut ctx = gitlab_ctx();
        ctx.source_ref = s("evil\r\n\r\nSigned-off-by: mallory\nFerry-Source-Commit: 0000");
        ctx.source_repo = s("https://x.example/a\u{2028}b\u{85}c\td");
        ctx.source_commit = s("\n\r\n");
        ctx.change_request = Some(9);
        let got = trailers(&ctx);
        assert_eq!(
            got,
            vec![
                (
                    trailers::SOURCE_REPO,
                    "https://x.example/a b c d".to_owned()
                ),
                (
                    trailers::SOURCE_REF,
                    "evil Signed-off-by: mallory Ferry-Source-Commit: 0000".to_owned()
                ),
                (trailers::CHANGE_REQUEST, "9".to_owned()),
            ]
        );
        for (_, value) in &got {
            assert!(!value.contains(['\r', '\n']), "{value:?}");
        }
    }

    #[test]
    fn one_line_collapses_and_trims() {
        assert_eq!(one_line("  a\n\n b  "), "a b");
        assert_eq!(one_line("a  b\u{2028}c"), "a  b c");
        assert_eq!(one_line("\na\n"), "a");
        assert_eq!(one_line("plain"), "plain");
        assert_eq!(one_line("\r\n"), "");
    }

    #[test]
    fn one_line_shows_controls_and_format_characters_escaped() {
        assert_eq!(one_line("a\u{1b}[31mb"), "a\\u{1b}[31mb");
        assert_eq!(one_line("feat\u{202e}cod.exe"), "feat\\u{202e}cod.exe");
        assert_eq!(
            one_line("x\u{200b}y\u{feff}\u{9b}"),
            "x\\u{200b}y\\u{feff}\\u{9b}"
        );
        assert_eq!(
            one_line("t\nSigned-off-by: evil\u{2066}"),
            "t Signed-off-by: evil\\u{2066}"
        );
        assert_eq!(one_line("tab\there"), "tab here");
        assert_eq!(one_line("\u{7f}"), "\\u{7f}");
        assert_eq!(one_line("é ü 日本"), "é ü 日本");
        for c in ['\u{ad}', '\u{61c}', '\u{2069}', '\u{e0041}'] {
            assert!(is_format(c), "{c:?}");
        }
        assert!(!is_format('a') && !is_format('\u{2028}'));
    }

    #[test]
    fn annotations_are_workflow_commands_with_escaped_properties_and_message() {
        let actions = env_of(&[("GITHUB_ACTIONS", "true")]);
        let annotation = Annotation {
            level: Level::Error,
            file: Some("envs/a,b:c.yaml".to_owned()),
            line: Some(7),
            column: Some(3),
            title: "ferry: exit 4".to_owned(),
            message: "refused: 100% sure\nsecond line\n".to_owned(),
        };
        assert_eq!(
            annotation_command(&actions, &annotation),
            "::error file=envs/a%2Cb%3Ac.yaml,line=7,col=3,title=ferry%3A exit 4::refused: 100%25 sure%0Asecond line\n"
        );
        // No line without a file; no column without a line.
        let bare = Annotation {
            level: Level::Warning,
            file: None,
            line: Some(3),
            column: None,
            title: String::new(),
            message: "m".to_owned(),
        };
        assert_eq!(annotation_command(&actions, &bare), "::warning ::m\n");
        // Nothing outside GitHub Actions (GitLab has no such command).
        let gitlab = env_of(&[("GITLAB_CI", "true")]);
        assert_eq!(annotation_command(&gitlab, &annotation), "");
    }

    #[test]
    fn annotations_escape_cr_so_no_text_starts_a_command() {
        let actions = env_of(&[("GITHUB_ACTIONS", "true")]);
        let annotation = Annotation {
            level: Level::Error,
            file: Some("a\r::error::x.yaml".to_owned()),
            line: None,
            column: None,
            title: "t\r\n".to_owned(),
            message: "m\r::error::forged%0A".to_owned(),
        };
        let command = annotation_command(&actions, &annotation);
        assert_eq!(
            command,
            "::error file=a%0D%3A%3Aerror%3A%3Ax.yaml,title=t%0D%0A::m%0D::error::forged%250A\n"
        );
        assert_eq!(command.matches(['\r', '\n']).count(), 1);
    }

    #[test]
    fn masks_cover_each_line_of_a_secret_in_github_actions_only() {
        let actions = env_of(&[("GITHUB_ACTIONS", "true")]);
        assert_eq!(
            mask_commands(&actions, "ghs_abc\nsecond%line\n"),
            "::add-mask::ghs_abc\n::add-mask::second%25line\n"
        );
        assert_eq!(mask_commands(&env_of(&[]), "ghs_abc"), "");
    }
}
