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

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::Path;

use serde::Serialize;

use super::Error;
use super::change_request;
use crate::ci::{self, Annotation, Level};
use crate::cli::CheckArgs;
use crate::clock::Time;
use crate::config::{self, Config, ConfigError, Positions, ResolvedEnvironment, Update};
use crate::exit::Exit;
use crate::git;
use crate::image::ImageName;
use crate::inventory::Inventory;
use crate::locate::{self, Want};
use crate::plan;
use crate::preview::{
    self, PreviewChangeRequest, PreviewContext, PreviewDeploy, PreviewError, PreviewImage,
    PreviewSource, Template,
};
use crate::render::{
    self, ChangeRequestContext, MessageContext, MessageImage, RenderError, Trailer,
};
use crate::report::{self, Output};
use crate::trailers;
use crate::tree;
use crate::yaml::Yaml;

/// How serious a finding is: errors fail the check, warnings and notices do not.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    Error,
    Warning,
    /// Something that was not checked, and why.
    Notice,
}

impl Severity {
    fn as_str(self) -> &'static str {
        match self {
            Severity::Error => "error",
            Severity::Warning => "warning",
            Severity::Notice => "notice",
        }
    }
}

/// One problem, at a file of the working tree (relative to its root) and a line when known.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Finding {
    pub level: Severity,
    pub file: String,
    pub line: Option<usize>,
    pub column: Option<usize>,
    pub message: String,
    pub hint: Option<String>,
}

impl Finding {
    /// `file:line:column: level: message`, then `  hint: ...`.
    fn text(&self) -> String {
        let mut text = self.file.clone();
        if let Some(line) = self.line {
            let _ = write!(text, ":{line}");
            if let Some(column) = self.column {
                let _ = write!(text, ":{column}");
            }
        }
        let _ = writeln!(text, ": {}: {}", self.level.as_str(), self.message);
        if let Some(hint) = &self.hint {
            let _ = writeln!(text, "  hint: {hint}");
        }
        text
    }

    fn annotation(&self) -> Annotation {
        let mut message = self.message.clone();
        if let Some(hint) = &self.hint {
            let _ = write!(message, "\nhint: {hint}");
        }
        Annotation {
            level: match self.level {
                Severity::Error => Level::Error,
                Severity::Warning => Level::Warning,
                Severity::Notice => Level::Notice,
            },
            file: Some(self.file.clone()),
            line: self.line,
            column: self.column,
            title: "ferry check".to_owned(),
            message,
        }
    }
}

/// Everything `ferry check` found, and what it looked at.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Report {
    pub findings: Vec<Finding>,
    /// Environments in `ferry.yaml`, and how many of them live on another branch.
    pub environments: usize,
    pub not_checked: usize,
    /// Templates rendered (built-in ones included).
    pub templates: usize,
    /// Errors that are files the agents and ferry refuse (a key defined twice): exit 4.
    pub refused: usize,
}

impl Report {
    fn count(&self, level: Severity) -> usize {
        self.findings.iter().filter(|f| f.level == level).count()
    }

    /// Whether nothing is wrong (warnings and notices allowed).
    #[must_use]
    pub fn passed(&self) -> bool {
        self.count(Severity::Error) == 0
    }

    /// `ferry check: 3 environments (1 not checked), 4 templates, 0 errors, 1 warning`.
    #[must_use]
    pub fn summary(&self) -> String {
        let mut environments = plural(self.environments, "environment");
        if self.not_checked > 0 {
            let _ = write!(environments, " ({} not checked)", self.not_checked);
        }
        format!(
            "ferry check: {environments}, {}, {}, {}",
            plural(self.templates, "template"),
            plural(self.count(Severity::Error), "error"),
            plural(self.count(Severity::Warning), "warning"),
        )
    }

    /// Every finding, then the summary.
    #[must_use]
    pub fn text(&self) -> String {
        let mut text: String = self.findings.iter().map(Finding::text).collect();
        text.push_str(&self.summary());
        text.push('\n');
        text
    }
}

fn plural(n: usize, word: &str) -> String {
    if n == 1 {
        format!("1 {word}")
    } else {
        format!("{n} {word}s")
    }
}

pub fn run(args: &CheckArgs, output: Output) -> Result<Exit, Error> {
    let report = check(&args.dir, &ci::process_env)?;
    for finding in &report.findings {
        report::annotate(&finding.annotation());
    }
    if output == Output::Json {
        tracing::info!("{}", report.summary());
    }
    report::emit(output, &report.findings, &report.text())?;
    Ok(if report.passed() {
        Exit::Done
    } else if report.refused > 0 {
        Exit::Refused
    } else {
        Exit::Usage
    })
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

    /// Reads and validates `ferry.yaml`; `None` (with the finding) when it is missing or wrong.
    fn config(&mut self) -> Result<Option<Config>, Error> {
        let path = tree::inside(self.dir, config::FILE_NAME)?;
        let text = match std::fs::read(&path) {
            Ok(bytes) => bytes,
            Err(err) if err.kind() == std::io::ErrorKind::NotFound => {
                self.push(
                    Severity::Error,
                    config::FILE_NAME,
                    None,
                    format!("no {} in {}", config::FILE_NAME, self.dir.display()),
                    format!(
                        "run ferry check in the root of the environment repository, or give --dir; {} is described in docs/config.md",
                        config::FILE_NAME
                    ),
                );
                return Ok(None);
            }
            Err(err) => {
                self.push(
                    Severity::Error,
                    config::FILE_NAME,
                    None,
                    format!("cannot read {}: {err}", config::FILE_NAME),
                    None,
                );
                return Ok(None);
            }
        };
        let Ok(text) = String::from_utf8(text) else {
            self.push(
                Severity::Error,
                config::FILE_NAME,
                None,
                format!("{} is not valid UTF-8", config::FILE_NAME),
                "save the file as UTF-8".to_owned(),
            );
            return Ok(None);
        };
        match Config::parse(&text, Path::new(config::FILE_NAME)) {
            Ok(config) => {
                self.positions = Positions::of(&text);
                Ok(Some(config))
            }
            Err(err) => {
                self.config_error(err);
                Ok(None)
            }
        }
    }

    fn config_error(&mut self, err: ConfigError) {
        self.report.findings.push(Finding {
            level: Severity::Error,
            file: config::FILE_NAME.to_owned(),
            line: err.line,
            column: err.column,
            message: err.message,
            hint: err.hint,
        });
    }

    /// Checks one environment's directory; its images, when it lives on this branch.
    fn environment(
        &mut self,
        environment: &ResolvedEnvironment,
        branch: &str,
    ) -> Result<Option<Inventory>, Error> {
        let name = environment.name.as_str();
        let path = environment.path.as_str();
        if environment.branch != branch {
            let keys: &[&str] = if self
                .positions
                .key(&["environments", name, "branch"])
                .is_some()
            {
                &["environments", name, "branch"]
            } else {
                &["environments", name]
            };
            self.at_config(
                Severity::Notice,
                keys,
                true,
                format!(
                    "environment `{name}` not checked: lives on branch `{}`",
                    environment.branch
                ),
                format!(
                    "this working tree is checked as branch `{branch}`; run ferry check in a working tree of `{}` (its own CI) to check it",
                    environment.branch
                ),
            );
            self.report.not_checked += 1;
            return Ok(None);
        }
        let path_keys = ["environments", name, "path"];
        let root = tree::inside(self.dir, path)?;
        if let Some(what) = not_a_directory(&root) {
            self.at_config(
                Severity::Error,
                &path_keys,
                true,
                format!("environment `{name}`: `{path}` {what}"),
                format!(
                    "create the directory, or correct `environments.{name}.path`: it is relative to the repository root"
                ),
            );
            return Ok(None);
        }
        let files = tree::yaml_files(self.dir, &root)?;
        let mut read = Vec::new();
        for (file, content) in tree::scan(&root, &files, |file, content| {
            Some((
                file.to_owned(),
                match content {
                    tree::Content::Bytes(bytes) => Ok(bytes.to_vec()),
                    tree::Content::TooLarge { size, .. } => Err(size),
                },
            ))
        })? {
            match content {
                Ok(bytes) => {
                    self.references(&format!("{path}/{file}"), &bytes);
                    read.push((file, bytes));
                }
                Err(size) => self.too_large(&format!("{path}/{file}"), size),
            }
        }
        let inventory = Inventory::of_files(
            path,
            read.iter()
                .map(|(file, bytes)| (file.as_str(), bytes.as_slice())),
        );
        if inventory.images.is_empty() {
            let looked = if files.is_empty() {
                "it holds no YAML files".to_owned()
            } else {
                format!("looked in {}", plural(files.len(), "YAML file"))
            };
            self.at_config(
                Severity::Error,
                &path_keys,
                true,
                format!("environment `{name}`: no image references in `{path}` ({looked})"),
                format!(
                    "ferry bump changes the tags it finds in `image:` fields, kustomization `images:`, Helm `repository` + `tag` values, Argo CD parameters and Flux setters (docs/shapes.md); declare the environment's images in `{path}`, e.g. in its kustomization.yaml: `images: [{{name: ghcr.io/acme/cart, newTag: 1a2b3c4}}]`"
                ),
            );
        }
        Ok(Some(inventory))
    }

    /// A YAML file of an environment over the size limit: not read (its size is its
    /// metadata's); `ferry bump` refuses to change an image it mentions.
    fn too_large(&mut self, file: &str, size: u64) {
        let limit = plan::max_file_size();
        self.push(
            Severity::Warning,
            file,
            None,
            format!(
                "is {size} bytes, over the limit of {limit} bytes for a file ferry parses: ferry did not read it, and ferry bump refuses to change an image it mentions"
            ),
            format!(
                "split the file, or raise the limit with --max-file-size or FERRY_MAX_FILE_SIZE (e.g. {}MiB)",
                size.div_ceil(1 << 20).max(1)
            ),
        );
    }

    /// Warnings for one YAML file of an environment: it does not parse, or holds references
    /// `ferry bump` would refuse to change.
    fn references(&mut self, file: &str, bytes: &[u8]) {
        let Ok(text) = std::str::from_utf8(bytes) else {
            self.push(
                Severity::Warning,
                file,
                None,
                "is not UTF-8: ferry cannot read image references in it".to_owned(),
                "save the file as UTF-8".to_owned(),
            );
            return;
        };
        // Chart templates and the like are not YAML until rendered: literal references in a
        // templated file that parses are edited like any other (docs/shapes.md).
        let templated = text.contains("{{");
        let yaml = match Yaml::parse(text) {
            Ok(yaml) => yaml,
            Err(_) if templated => return,
            Err(err) => {
                self.push(
                    Severity::Warning,
                    file,
                    Some((err.line, err.column)),
                    format!(
                        "does not parse as YAML ({}): ferry cannot read image references in it",
                        err.message
                    ),
                    "fix the YAML; ferry bump refuses to change an image this file mentions"
                        .to_owned(),
                );
                return;
            }
        };
        // kubectl, kustomize and Argo CD refuse a file with a key defined twice; so do
        // set-image and bump (exit 4): the check fails with exit 4 too.
        for refusal in plan::duplicate_keys(&yaml) {
            self.push(
                Severity::Error,
                file,
                Some((refusal.line, refusal.column)),
                refusal.message,
                "ferry set-image and ferry bump refuse to edit this file (exit 4)".to_owned(),
            );
            self.report.refused += 1;
        }
        let file_name = file.rsplit('/').next().unwrap_or(file);
        let found = locate::locate(&yaml, file_name, Want::Any);
        for refusal in found.refusals {
            self.push(
                Severity::Warning,
                file,
                Some((refusal.line, refusal.column)),
                format!(
                    "ferry bump will refuse to change this reference: {}",
                    refusal.message
                ),
                "see docs/shapes.md for the shapes ferry edits".to_owned(),
            );
        }
    }

    /// Reads a template file named by `keys` in `ferry.yaml`; `Err(())` (with the finding)
    /// when it cannot be read.
    fn template_file(&mut self, keys: &[&str], path: Option<&str>) -> Result<Option<File>, ()> {
        let Some(path) = path else {
            return Ok(None);
        };
        let key = keys.join(".");
        let file = match tree::inside(self.dir, path) {
            Ok(file) => file,
            Err(err) => {
                self.outside.get_or_insert(err);
                return Err(());
            }
        };
        match std::fs::read(file) {
            Ok(bytes) => match String::from_utf8(bytes) {
                Ok(text) => Ok(Some((path.to_owned(), text))),
                Err(_) => {
                    self.push(
                        Severity::Error,
                        path,
                        None,
                        format!("the template named by `{key}` is not UTF-8"),
                        "save the file as UTF-8".to_owned(),
                    );
                    Err(())
                }
            },
            Err(err) => {
                let why = if err.kind() == std::io::ErrorKind::NotFound {
                    "which does not exist".to_owned()
                } else {
                    format!("which cannot be read: {err}")
                };
                self.at_config(
                    Severity::Error,
                    keys,
                    true,
                    format!("`{key}` names `{path}`, {why}"),
                    format!(
                        "add the template at `{path}` (relative to the repository root), or remove `{key}` to use the built-in one"
                    ),
                );
                Err(())
            }
        }
    }

    /// A template that failed: at its file and line for the repository's own, at the key of
    /// `ferry.yaml` that chose it for a built-in one.
    fn render_failed(
        &mut self,
        file: Option<&File>,
        keys: &[&str],
        err: &RenderError,
        sample: &Sample,
    ) {
        match file {
            Some((path, source)) => {
                // Preview errors come located already.
                let detail = if err.detail.starts_with("line ") {
                    err.detail.clone()
                } else {
                    preview::locate_undefined(source, &err.detail)
                };
                let (at, message) = template_error(&detail, &err.name);
                let (message, hint) = match message.strip_prefix(SYNTAX) {
                    Some(expected) => (
                        format!("template does not parse: {expected}"),
                        "fix the tera syntax here; an unclosed `{% if %}` or `{% for %}` is reported at the end of the file".to_owned(),
                    ),
                    None => (
                        format!("template does not render {}: {message}", sample.label),
                        format!(
                            "ferry checks it with sample values; a value that may be absent needs `{{% if … %}}`; the variables are listed in {}",
                            sample.docs
                        ),
                    ),
                };
                self.push(Severity::Error, path, at, message, hint);
            }
            None => {
                let (_, message) = template_error(&err.detail, &err.name);
                self.at_config(
                    Severity::Error,
                    keys,
                    true,
                    format!("{} does not render {}: {message}", err.name, sample.label),
                    "this is a bug in ferry; please report it with ferry.yaml".to_owned(),
                );
            }
        }
    }

    /// The commit message and change request templates, with sample values for each
    /// environment and with one and two images.
    fn commit_templates(&mut self, config: &Config, samples: &[(ResolvedEnvironment, Inventory)]) {
        let message_keys = ["commit", "message"];
        let title_keys = ["change-requests", "title"];
        let body_keys = ["change-requests", "body"];
        let message = self.template_file(
            &message_keys,
            config.commit.message.as_ref().map(config::RelPath::as_str),
        );
        let title = self.template_file(
            &title_keys,
            config
                .change_requests
                .title
                .as_ref()
                .map(config::RelPath::as_str),
        );
        let body = self.template_file(
            &body_keys,
            config
                .change_requests
                .body
                .as_ref()
                .map(config::RelPath::as_str),
        );
        self.report.templates += 3;

        let fallback = [(
            ResolvedEnvironment {
                name: "staging".to_owned(),
                path: "envs/staging".to_owned(),
                branch: config.defaults.branch.clone(),
                update: config.defaults.update,
                hold: false,
                hold_images: Vec::new(),
                hold_reason: None,
                tags: None,
                allow_mutable_tags: false,
                strict: false,
                labels: Vec::new(),
                reviewers: Vec::new(),
                assignees: Vec::new(),
            },
            Inventory::default(),
        )];
        let samples = if samples.is_empty() {
            &fallback[..]
        } else {
            samples
        };
        let contexts: Vec<(Sample, MessageContext)> = samples
            .iter()
            .flat_map(|(environment, inventory)| {
                [1, 2].map(|n| {
                    let context = message_context(environment, inventory, n);
                    let sample = Sample {
                        label: format!(
                            "for environment `{}` with {}",
                            environment.name,
                            plural(context.images.len(), "image")
                        ),
                        docs: "docs/config.md (`commit.message`, `change-requests`)",
                    };
                    (sample, context)
                })
            })
            .collect();

        if let Ok(message) = &message {
            let template = as_pair(message);
            if let Some((sample, err)) = contexts
                .iter()
                .find_map(|(sample, c)| Some((sample, render::commit_message(template, c).err()?)))
            {
                self.render_failed(message.as_ref(), &message_keys, &err, sample);
            }
        }
        let (Ok(title), Ok(body)) = (&title, &body) else {
            return;
        };
        let failed = contexts.iter().find_map(|(sample, c)| {
            let context = change_request_context(c);
            Some((
                sample,
                render::change_request(as_pair(title), as_pair(body), &context).err()?,
            ))
        });
        if let Some((sample, err)) = failed {
            let title_failed = match title {
                Some((path, _)) => err.name == *path,
                None => err.name.contains("title"),
            };
            if title_failed {
                self.render_failed(title.as_ref(), &title_keys, &err, sample);
            } else {
                self.render_failed(body.as_ref(), &body_keys, &err, sample);
            }
        }
    }

    /// `promotion.gates.require-status`: a warning for each context that neither Argo CD
    /// notifications nor Flux's notification-controller can post ([`gate_context_problem`]).
    fn gates(&mut self, config: &Config) {
        let keys = ["promotion", "gates", "require-status"];
        let Some(promotion) = &config.promotion else {
            return;
        };
        for (index, context) in promotion.gates.require_status.iter().enumerate() {
            let Some(problem) = gate_context_problem(context) else {
                continue;
            };
            let at = self
                .positions
                .item(&keys, index)
                .or_else(|| self.positions.key(&keys));
            let mut hint = match (&problem.instead, &problem.advice) {
                (Some(instead), Some(advice)) => format!("write `{instead}`, {advice}. "),
                (Some(instead), None) => format!("write `{instead}`. "),
                (None, _) => String::new(),
            };
            hint.push_str(
                "Argo CD notifications post `continuous-delivery/<application>`, Flux's notification-controller `kustomization/<name>/<id>` (configurations in docs/agents.md). If something else posts this exact name (a CI job, a Flux Provider's `commitStatusExpr`), the gate is right and this warning does not apply",
            );
            self.push(
                Severity::Warning,
                config::FILE_NAME,
                at,
                format!("promotion gate `{context}`: {}", problem.why),
                hint,
            );
        }
    }

    /// `previews`: the template renders and passes the checks made before pushing, and
    /// `deploy.path` exists.
    fn previews(&mut self, config: &Config, branch: &str) -> Result<(), Error> {
        let settings = &config.previews;
        let template_keys = ["previews", "template"];
        let file = match &settings.template {
            config::Template::File(path) => match self.template_file(&template_keys, Some(path)) {
                Ok(file) => file,
                Err(()) => {
                    self.report.templates += 1;
                    return self.deploy_path(config, branch);
                }
            },
            _ => None,
        };
        let template = match (&settings.template, &file) {
            (config::Template::Flux, _) => Template::Flux,
            (config::Template::File(_), Some((name, text))) => Template::File { name, text },
            _ => Template::Argocd,
        };
        self.report.templates += 1;
        if let Some(url) = &settings.url
            && !url.contains("{slug}")
        {
            self.at_config(
                Severity::Warning,
                &["previews", "url"],
                true,
                "`previews.url` has no `{slug}`: every preview gets the same address".to_owned(),
                "write `{slug}` where the preview's name goes, e.g. `https://{slug}.preview.example.com`".to_owned(),
            );
        }
        let deploy_path = match (&settings.deploy.path, &template) {
            (Some(path), _) => path.as_str().to_owned(),
            (None, Template::File { .. }) => String::new(),
            (None, _) => {
                self.at_config(
                    Severity::Error,
                    &["previews"],
                    false,
                    format!(
                        "`previews.deploy.path` is not set: the built-in {} template needs the directory a preview deploys",
                        settings.template
                    ),
                    "add it, e.g. `previews: {deploy: {path: previews/base}}` (a kustomization or chart without a namespace)".to_owned(),
                );
                return Ok(());
            }
        };
        let images = self.preview_images(config, branch)?;
        let sample = preview_context(config, &template, branch, deploy_path, images);
        let without = PreviewContext {
            change_request: None,
            images: sample.images.iter().take(1).cloned().collect(),
            ..sample.clone()
        };
        let docs = "docs/previews.md (Templates)";
        let samples = [
            (
                Sample {
                    label: format!(
                        "for merge request !{SAMPLE_CHANGE_REQUEST} of `{SAMPLE_BRANCH}`"
                    ),
                    docs,
                },
                sample,
            ),
            (
                Sample {
                    label: format!(
                        "for `{SAMPLE_BRANCH}` without a merge request (`preview up --name`)"
                    ),
                    docs,
                },
                without,
            ),
        ];
        let failed = samples.iter().find_map(|(sample, context)| {
            Some((sample, preview::render(&template, context).err()?))
        });
        if let Some((sample, err)) = failed {
            self.preview_failed(file.as_ref(), &err, sample);
        }
        self.deploy_path(config, branch)
    }

    fn preview_failed(&mut self, file: Option<&File>, err: &PreviewError, sample: &Sample) {
        let (message, hint) = match err {
            PreviewError::Render(err) => {
                return self.render_failed(file, &["previews", "template"], err, sample);
            }
            // `detail` is the parser's first line only (see `preview::check`).
            PreviewError::NotYaml { detail, .. } => (
                format!(
                    "the preview rendered {} is not valid YAML ({detail})",
                    sample.label
                ),
                "quote every value with the `yaml` filter: `{{ name | yaml }}`".to_owned(),
            ),
            PreviewError::Unmarked { missing, .. } => (
                format!(
                    "no resource of the preview rendered {} carries {missing}",
                    sample.label
                ),
                "ferry reads these annotations back to list, renew and collect previews; copy the `annotations:` block of a built-in template (docs/previews.md)".to_owned(),
            ),
            PreviewError::Refused {
                document, problem, ..
            } => (
                format!(
                    "document {document} of the preview rendered {} {problem}",
                    sample.label
                ),
                "ferry preview up refuses to push it (exit 4); see \"What ferry refuses\" in docs/previews.md".to_owned(),
            ),
        };
        match file {
            Some((path, _)) => self.push(Severity::Error, path, None, message, hint),
            None => self.at_config(
                Severity::Error,
                &["previews", "template"],
                true,
                format!("built-in preview template: {message}"),
                hint,
            ),
        }
    }

    /// The images of `previews.deploy.path` when it is here, else samples.
    fn preview_images(
        &self,
        config: &Config,
        branch: &str,
    ) -> Result<Vec<(String, String)>, Error> {
        let mut images: Vec<(String, String)> = Vec::new();
        if let Some(path) = local_deploy_path(config, branch) {
            let root = tree::inside(self.dir, path)?;
            if root.is_dir() {
                let files = tree::yaml_files(self.dir, &root)?;
                // A file over the size limit is reported by the environment's check.
                let read = tree::scan(&root, &files, |file, content| match content {
                    tree::Content::Bytes(bytes) => Some((file.to_owned(), bytes.to_vec())),
                    tree::Content::TooLarge { .. } => None,
                })?;
                let inventory = Inventory::of_files(
                    path,
                    read.iter()
                        .map(|(file, bytes)| (file.as_str(), bytes.as_slice())),
                );
                images.extend(
                    inventory
                        .images
                        .keys()
                        .map(|name| (name.clone(), SAMPLE_TAG.to_owned())),
                );
            }
        }
        for (name, _) in SAMPLE_IMAGES {
            if images.len() >= 2 {
                break;
            }
            if !images.iter().any(|(n, _)| n == name) {
                images.push(((*name).to_owned(), SAMPLE_TAG.to_owned()));
            }
        }
        images.truncate(2);
        Ok(images)
    }

    /// `previews.deploy.path` exists, when it is in this working tree.
    fn deploy_path(&mut self, config: &Config, branch: &str) -> Result<(), Error> {
        let deploy = &config.previews.deploy;
        let Some(path) = &deploy.path else {
            return Ok(());
        };
        let path = path.as_str();
        let keys = ["previews", "deploy", "path"];
        if let Some(repo) = &deploy.repo {
            self.at_config(
                Severity::Notice,
                &keys,
                true,
                format!("`previews.deploy.path` not checked: it lives in {repo}"),
                "check it in that repository".to_owned(),
            );
            return Ok(());
        }
        if local_deploy_path(config, branch).is_none() {
            let revision = deploy.revision.as_deref().unwrap_or_default();
            self.at_config(
                Severity::Notice,
                &keys,
                true,
                format!("`previews.deploy.path` not checked: it lives on `{revision}`"),
                format!("this working tree is checked as branch `{branch}`"),
            );
            return Ok(());
        }
        let root = tree::inside(self.dir, path)?;
        if let Some(what) = not_a_directory(&root) {
            self.at_config(
                Severity::Error,
                &keys,
                true,
                format!("`previews.deploy.path`: `{path}` {what}"),
                "create it, or correct the path: the directory of the kustomization (or chart) each preview deploys, relative to the repository root".to_owned(),
            );
            return Ok(());
        }
        let (wanted, names): (&str, &[&str]) = match deploy.images {
            config::ImagesMode::Kustomize => (
                "a kustomization.yaml",
                &["kustomization.yaml", "kustomization.yml", "Kustomization"],
            ),
            config::ImagesMode::Helm => ("a Chart.yaml", &["Chart.yaml"]),
        };
        if !names.iter().any(|n| root.join(n).is_file()) {
            self.at_config(
                Severity::Warning,
                &keys,
                true,
                format!("`previews.deploy.path`: `{path}` holds no {wanted}"),
                format!(
                    "with `deploy.images: {}` a preview deploys {wanted} from this directory",
                    deploy.images.as_str()
                ),
            );
        }
        Ok(())
    }
}

/// A template of the repository as render takes it: (name, text).
fn as_pair(file: &Option<File>) -> Option<(&str, &str)> {
    file.as_ref()
        .map(|(name, text)| (name.as_str(), text.as_str()))
}

/// `previews.deploy.path` when it is in this working tree: no other repository, and the
/// revision (by default the branch `ferry.yaml` is read from) is this branch.
fn local_deploy_path<'c>(config: &'c Config, branch: &str) -> Option<&'c str> {
    let deploy = &config.previews.deploy;
    if deploy.repo.is_some() || deploy.revision.as_deref().is_some_and(|r| r != branch) {
        return None;
    }
    deploy.path.as_ref().map(config::RelPath::as_str)
}

/// How [`template_error`] starts the message of a syntax error.
const SYNTAX: &str = "syntax error: ";

/// Where a template failed and what tera said, on one line: `line N: …` (an undefined
/// variable, located by [`preview::locate_undefined`]) or ` --> L:C` (a syntax error).
fn template_error(detail: &str, name: &str) -> (Option<(usize, usize)>, String) {
    if let Some((_, rest)) = detail.split_once(" --> ")
        && let Some((position, _)) = rest.split_once(char::is_whitespace)
        && let Some((line, column)) = position.split_once(':')
        && let (Ok(line), Ok(column)) = (line.parse(), column.parse())
    {
        let expected = detail
            .lines()
            .find_map(|l| l.trim().strip_prefix("= "))
            .unwrap_or("invalid syntax");
        return (Some((line, column)), format!("{SYNTAX}{expected}"));
    }
    let (at, detail) = match detail
        .strip_prefix("line ")
        .and_then(|rest| rest.split_once(": "))
        .and_then(|(n, rest)| Some((n.parse::<usize>().ok()?, rest)))
    {
        Some((line, rest)) => (Some((line, 1)), rest),
        None => (None, detail),
    };
    let message = detail
        .replace(&format!("Failed to render '{name}': "), "")
        .replace(&format!(" while rendering '{name}'"), "");
    let message = message.split_whitespace().collect::<Vec<_>>().join(" ");
    (at, message)
}

/// The tag samples are set to: a short commit id.
const SAMPLE_TAG: &str = "9d8c7b6";
/// Images used when an environment has too few of its own, with their previous tags.
const SAMPLE_IMAGES: &[(&str, &str)] = &[
    ("ghcr.io/acme/cart", "1a2b3c4"),
    ("ghcr.io/acme/web", "v1.4.2"),
];
const SAMPLE_APP: &str = "https://gitlab.com/acme/shop";
const SAMPLE_ENV_REPO: &str = "https://gitlab.com/acme/env.git";
const SAMPLE_COMMIT: &str = "9d8c7b6a5f4e3d2c1b0a9d8c7b6a5f4e3d2c1b0a";
const SAMPLE_BRANCH: &str = "feature/login";
const SAMPLE_CHANGE_REQUEST: u64 = 42;
const SAMPLE_RUN: u64 = 1234;
const SAMPLE_TIME: &str = "2026-01-15T09:30:00Z";

/// What a bump of `n` images of `environment` would give a commit-message template: its own
/// images (with their current tags) when it has them.
fn message_context(
    environment: &ResolvedEnvironment,
    inventory: &Inventory,
    n: usize,
) -> MessageContext {
    let mut images: Vec<MessageImage> = inventory
        .images
        .values()
        .take(n)
        .map(|d| MessageImage {
            short: ImageName::parse(&d.image).map_or_else(|_| d.image.clone(), |i| i.familiar()),
            name: d.image.clone(),
            from: match d.version().as_str() {
                "-" => "(new)".to_owned(),
                v => v.to_owned(),
            },
            to: SAMPLE_TAG.to_owned(),
        })
        .collect();
    for (name, from) in SAMPLE_IMAGES {
        if images.len() >= n {
            break;
        }
        if !images.iter().any(|i| i.name == *name) {
            images.push(MessageImage {
                name: (*name).to_owned(),
                short: name.rsplit('/').next().unwrap_or(name).to_owned(),
                from: (*from).to_owned(),
                to: SAMPLE_TAG.to_owned(),
            });
        }
    }
    let trailer = |key: &str, value: String| Trailer {
        key: key.to_owned(),
        value,
    };
    let mut trailers = vec![
        trailer(trailers::SOURCE_REPO, SAMPLE_APP.to_owned()),
        trailer(trailers::SOURCE_COMMIT, SAMPLE_COMMIT.to_owned()),
        trailer(trailers::SOURCE_REF, SAMPLE_BRANCH.to_owned()),
        trailer(
            trailers::RUN_URL,
            format!("{SAMPLE_APP}/-/pipelines/{SAMPLE_RUN}"),
        ),
        trailer(trailers::RUN_NUMBER, SAMPLE_RUN.to_string()),
        trailer(trailers::CHANGE_REQUEST, SAMPLE_CHANGE_REQUEST.to_string()),
    ];
    if environment.update == Update::PullRequest {
        trailers.push(trailer(trailers::PATH, environment.path.clone()));
        for image in &images {
            trailers.push(trailer(
                trailers::UPDATE,
                format!("{}={}", image.name, image.to),
            ));
        }
    }
    MessageContext {
        environment: environment.name.clone(),
        path: environment.path.clone(),
        branch: environment.branch.clone(),
        changes: images.len(),
        files: 1,
        images,
        trailers,
    }
}

/// What a change request's title and description templates get for `message`.
fn change_request_context(message: &MessageContext) -> ChangeRequestContext {
    let names: Vec<ImageName> = message
        .images
        .iter()
        .filter_map(|i| ImageName::parse(&i.name).ok())
        .collect();
    let head = change_request::head_branch(&message.environment, &names.iter().collect::<Vec<_>>());
    ChangeRequestContext {
        message: message.clone(),
        change_request: "merge request".to_owned(),
        marker: change_request::marker(&head),
        head_branch: head,
        source_repo: Some(SAMPLE_APP.to_owned()),
        source_commit: Some(SAMPLE_COMMIT.to_owned()),
        source_commit_url: Some(format!("{SAMPLE_APP}/-/commit/{SAMPLE_COMMIT}")),
        source_ref: Some(SAMPLE_BRANCH.to_owned()),
        run_url: Some(format!("{SAMPLE_APP}/-/pipelines/{SAMPLE_RUN}")),
    }
}

/// What `ferry preview up` would give the template for merge request !42 of `feature/login`.
fn preview_context(
    config: &Config,
    template: &Template<'_>,
    branch: &str,
    deploy_path: String,
    images: Vec<(String, String)>,
) -> PreviewContext {
    let settings = &config.previews;
    let (slug, namespace, release) = preview::names(
        SAMPLE_BRANCH,
        &settings.prefix,
        settings.namespace_limit as usize,
        settings.release_limit as usize,
    );
    let updated = Time::parse(SAMPLE_TIME).unwrap_or_else(|_| Time::from_unix(0));
    let expires = updated.after(std::time::Duration::from(settings.ttl));
    PreviewContext {
        name: SAMPLE_BRANCH.to_owned(),
        agent_namespace: settings
            .agent_namespace
            .clone()
            .unwrap_or_else(|| template.default_agent_namespace().to_owned()),
        prefix: settings.prefix.clone(),
        reserved: preview::reserved_of(config),
        change_request: Some(PreviewChangeRequest {
            number: SAMPLE_CHANGE_REQUEST,
            project: Some(SAMPLE_APP.to_owned()),
            url: Some(format!(
                "{SAMPLE_APP}/-/merge_requests/{SAMPLE_CHANGE_REQUEST}"
            )),
            title: Some("Add the login page".to_owned()),
            author: Some("alice".to_owned()),
        }),
        source: PreviewSource {
            repo: Some(SAMPLE_APP.to_owned()),
            commit: Some(SAMPLE_COMMIT.to_owned()),
            branch: Some(SAMPLE_BRANCH.to_owned()),
        },
        deploy: PreviewDeploy {
            repo: settings
                .deploy
                .repo
                .clone()
                .unwrap_or_else(|| SAMPLE_ENV_REPO.to_owned()),
            revision: settings
                .deploy
                .revision
                .clone()
                .unwrap_or_else(|| branch.to_owned()),
            path: deploy_path,
            images: settings.deploy.images.as_str().to_owned(),
        },
        images: images
            .into_iter()
            .filter_map(|(name, tag)| {
                let image = ImageName::parse(&name).ok()?;
                Some(PreviewImage::new(&image, &tag, None))
            })
            .collect(),
        values: BTreeMap::new(),
        url: settings
            .url
            .as_ref()
            .map(|pattern| pattern.replace("{slug}", &slug)),
        expires_at: expires.to_string(),
        updated_at: updated.to_string(),
        slug,
        namespace,
        release,
    }
}

/// The context Argo CD notifications post, as Argo CD's documentation and docs/agents.md
/// configure it: `continuous-delivery/{{.app.metadata.name}}`.
const ARGOCD_PREFIX: &str = "continuous-delivery/";
/// The kind of the Flux objects whose events the notification-controller posts as commit
/// statuses, `<kind>/<name>/<id>` in lower case (the id: the first 8 hex digits of the
/// Provider's UID).
const FLUX_PREFIX: &str = "kustomization/";

/// Why a gate's context cannot be posted by an agent, and what to write instead.
#[derive(Debug, Clone, PartialEq, Eq)]
struct ContextProblem {
    why: String,
    /// The context to write instead.
    instead: Option<String>,
    /// What to know about it.
    advice: Option<String>,
}

/// Why neither Argo CD notifications (`continuous-delivery/<application>`) nor Flux's
/// notification-controller (`kustomization/<name>/<id>`) can post a status named `context`
/// (a trailing `*` matches a prefix, as the gate reads it, so the pattern must be able to match
/// one of those names); `None` when one of them can.
fn gate_context_problem(context: &str) -> Option<ContextProblem> {
    let (text, pattern) = match context.strip_suffix('*') {
        Some(prefix) => (prefix, true),
        None => (context, false),
    };
    if argocd_can_post(text, pattern) || flux_can_post(text, pattern) {
        return None;
    }
    let star = if pattern { "*" } else { "" };
    let lower = text.to_ascii_lowercase();
    let problem = |why: &str, instead: Option<String>| {
        Some(ContextProblem {
            why: why.to_owned(),
            instead,
            advice: None,
        })
    };
    if let Some(rest) = lower.strip_prefix("helmrelease/") {
        let name = rest.split('/').next().unwrap_or_default();
        let release = if name.is_empty() {
            "the HelmRelease".to_owned()
        } else {
            format!("the HelmRelease `{name}`")
        };
        return Some(ContextProblem {
            why: "Flux posts commit statuses for Kustomizations, not for HelmReleases (from Flux 2.8 on, for one only when its annotation `event.toolkit.fluxcd.io/commit` names the commit, which a file cannot do for the commit that changes it)".to_owned(),
            instead: Some(format!("{FLUX_PREFIX}<name>/*")),
            advice: Some(format!(
                "<name> being the Kustomization that applies {release}: with `spec.wait: true` or a `healthChecks` entry for the HelmRelease its status waits for the Helm upgrade too, else it says only that the HelmRelease object was applied"
            )),
        });
    }
    if lower != text && (argocd_can_post(&lower, pattern) || flux_can_post(&lower, pattern)) {
        return problem(
            "Flux names its statuses in lower case, Argo CD application names are lower case, and ferry compares names exactly",
            Some(format!("{lower}{star}")),
        );
    }
    if let Some(rest) = lower.strip_prefix("argocd/") {
        return problem(
            "Argo CD posts no `argocd/…` status of its own: its notifications post the label their template sets (`continuous-delivery/<application>` in Argo CD's documentation)",
            Some(format!("{ARGOCD_PREFIX}{rest}{star}")),
        );
    }
    if let Some(rest) = lower.strip_prefix("flux/") {
        let instead = if pattern || rest.contains('/') || rest.is_empty() {
            format!("{FLUX_PREFIX}<name>/*")
        } else {
            format!("{FLUX_PREFIX}{rest}/*")
        };
        return problem(
            "Flux's notification-controller names its statuses `<kind>/<name>/<id>`, e.g. `kustomization/apps/1a2b3c4d`",
            Some(instead),
        );
    }
    if let Some(rest) = text.strip_prefix(FLUX_PREFIX)
        && !pattern
        && !rest.is_empty()
        && is_name(rest)
    {
        return problem(
            "Flux appends an id to the name: `kustomization/<name>/<id>`, the id being the first 8 hex digits of the Provider's UID",
            Some(format!("{FLUX_PREFIX}{rest}/*")),
        );
    }
    if text == ARGOCD_PREFIX.trim_end_matches('/') || text == ARGOCD_PREFIX {
        return problem(
            "Argo CD notifications name the status after the application: `continuous-delivery/<application>`",
            Some(format!("{ARGOCD_PREFIX}<application>")),
        );
    }
    if text == FLUX_PREFIX.trim_end_matches('/') || text == FLUX_PREFIX {
        return problem(
            "Flux names the status after the Kustomization, with an id: `kustomization/<name>/<id>`",
            Some(format!("{FLUX_PREFIX}<name>/*")),
        );
    }
    problem("neither Argo CD nor Flux posts a status of this name", None)
}

/// Whether Argo CD notifications can post a status named `text` (or, for a pattern, one
/// starting with it): `continuous-delivery/<application>`.
fn argocd_can_post(text: &str, pattern: bool) -> bool {
    if pattern && ARGOCD_PREFIX.starts_with(text) {
        return true;
    }
    text.strip_prefix(ARGOCD_PREFIX)
        .is_some_and(|app| (pattern || !app.is_empty()) && is_name(app))
}

/// Whether Flux's notification-controller can post a status named `text` (or, for a pattern,
/// one starting with it): `kustomization/<name>/<id>`, all in lower case.
fn flux_can_post(text: &str, pattern: bool) -> bool {
    if pattern && FLUX_PREFIX.starts_with(text) {
        return true;
    }
    let Some(rest) = text.strip_prefix(FLUX_PREFIX) else {
        return false;
    };
    match rest.split_once('/') {
        Some((name, id)) => {
            !name.is_empty()
                && is_name(name)
                && (pattern || !id.is_empty())
                && id
                    .chars()
                    .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')
        }
        // Only a pattern can stop inside the name.
        None => pattern && is_name(rest),
    }
}

/// Whether `text` consists of the characters of a Kubernetes object name (lower case letters,
/// digits, `-` and `.`): what an Application or Kustomization is called.
fn is_name(text: &str) -> bool {
    text.chars()
        .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-' || c == '.')
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

    #[test]
    fn template_errors_are_located_and_put_on_one_line() {
        let syntax = "Failed to parse '.ferry/p.yaml':  --> 2:9\n  |\n2 | b {% if %}\n  |         ^---\n  |\n  = expected a value that can be negated";
        assert_eq!(
            template_error(syntax, ".ferry/p.yaml"),
            (
                Some((2, 9)),
                "syntax error: expected a value that can be negated".to_owned()
            )
        );
        let undefined = "line 4: Failed to render '.ferry/p.yaml': Variable `nope` not found in context while rendering '.ferry/p.yaml'";
        assert_eq!(
            template_error(undefined, ".ferry/p.yaml"),
            (
                Some((4, 1)),
                "Variable `nope` not found in context".to_owned()
            )
        );
        assert_eq!(
            template_error("the template rendered an empty commit message", "c.tera"),
            (
                None,
                "the template rendered an empty commit message".to_owned()
            )
        );
    }

    #[test]
    fn findings_read_as_file_line_message_and_hint() {
        let finding = Finding {
            level: Severity::Error,
            file: "ferry.yaml".to_owned(),
            line: Some(4),
            column: Some(5),
            message: "unknown field `pth`".to_owned(),
            hint: Some("did you mean `path`?".to_owned()),
        };
        assert_eq!(
            finding.text(),
            "ferry.yaml:4:5: error: unknown field `pth`\n  hint: did you mean `path`?\n"
        );
        let annotation = finding.annotation();
        assert_eq!(annotation.file.as_deref(), Some("ferry.yaml"));
        assert_eq!((annotation.line, annotation.column), (Some(4), Some(5)));
        assert_eq!(
            annotation.message,
            "unknown field `pth`\nhint: did you mean `path`?"
        );
        let report = Report {
            findings: vec![
                Finding {
                    level: Severity::Warning,
                    line: None,
                    column: None,
                    hint: None,
                    ..finding.clone()
                },
                finding,
            ],
            environments: 3,
            not_checked: 1,
            templates: 1,
            refused: 0,
        };
        assert!(!report.passed());
        assert_eq!(
            report.summary(),
            "ferry check: 3 environments (1 not checked), 1 template, 1 error, 1 warning"
        );
        assert!(
            report
                .text()
                .starts_with("ferry.yaml: warning: unknown field `pth`\nferry.yaml:4:5: error:")
        );
    }

    #[test]
    fn samples_use_the_environments_own_images() {
        let mut environment = config(TWO_BRANCHES)
            .environment("production")
            .expect("defined");
        environment.update = Update::PullRequest;
        let inventory = Inventory::of_files(
            "envs/production",
            [(
                "kustomization.yaml",
                &b"images:\n  - name: ghcr.io/acme/pay\n    newTag: v2.0.1\n"[..],
            )],
        );
        let two = message_context(&environment, &inventory, 2);
        let images: Vec<(&str, &str, &str)> = two
            .images
            .iter()
            .map(|i| (i.name.as_str(), i.from.as_str(), i.to.as_str()))
            .collect();
        assert_eq!(
            images,
            [
                ("ghcr.io/acme/pay", "v2.0.1", SAMPLE_TAG),
                ("ghcr.io/acme/cart", "1a2b3c4", SAMPLE_TAG)
            ]
        );
        assert!(
            two.trailers
                .iter()
                .any(|t| t.key == trailers::PATH && t.value == "envs/production")
        );
        let message = render::commit_message(None, &message_context(&environment, &inventory, 1))
            .expect("renders");
        assert!(
            message.starts_with("production: bump ghcr.io/acme/pay to 9d8c7b6\n"),
            "{message}"
        );
        let request = change_request_context(&two);
        assert!(request.head_branch.starts_with("ferry/production/"));
        assert!(request.marker.contains(&request.head_branch));
    }

    #[test]
    fn contexts_the_agents_post_pass() {
        for context in [
            "continuous-delivery/cart-staging",
            "continuous-delivery/*",
            "continuous-delivery/cart-*",
            "continuous*",
            "*",
            "kustomization/cart-staging/1a2b3c4d",
            "kustomization/cart-staging/*",
            "kustomization/cart-staging*",
            "kustomization/*",
            "kustom*",
            // An id set by the Provider's commitStatusExpr (Flux 2.6 and later).
            "kustomization/apps/staging-eu",
        ] {
            assert_eq!(gate_context_problem(context), None, "{context}");
        }
    }

    #[test]
    fn contexts_nothing_posts_are_explained_with_the_right_form() {
        let instead = |context: &str| {
            gate_context_problem(context)
                .unwrap_or_else(|| panic!("{context} passed"))
                .instead
        };
        assert_eq!(
            instead("argocd/cart-staging").as_deref(),
            Some("continuous-delivery/cart-staging")
        );
        assert_eq!(
            instead("argocd/*").as_deref(),
            Some("continuous-delivery/*")
        );
        assert_eq!(
            instead("flux/staging").as_deref(),
            Some("kustomization/staging/*")
        );
        assert_eq!(
            instead("kustomization/apps").as_deref(),
            Some("kustomization/apps/*")
        );
        assert_eq!(
            instead("Kustomization/apps/*").as_deref(),
            Some("kustomization/apps/*")
        );
        assert_eq!(
            instead("continuous-delivery").as_deref(),
            Some("continuous-delivery/<application>")
        );
        assert_eq!(
            instead("kustomization/").as_deref(),
            Some("kustomization/<name>/*")
        );
        // A HelmRelease: the Kustomization that applies it.
        let helm = gate_context_problem("helmrelease/cart-worker/*").expect("warned");
        assert!(helm.why.contains("not for HelmReleases"), "{}", helm.why);
        assert_eq!(helm.instead.as_deref(), Some("kustomization/<name>/*"));
        assert!(
            helm.advice
                .as_deref()
                .is_some_and(|a| a.contains("HelmRelease `cart-worker`")),
            "{helm:?}"
        );
        // Anything else: what the agents post, no guess.
        let other = gate_context_problem("ci/build").expect("warned");
        assert_eq!(
            other.why,
            "neither Argo CD nor Flux posts a status of this name"
        );
        assert_eq!(other.instead, None);
        // Shapes the agents cannot produce.
        for context in [
            "kustomization/a/b/c",
            "kustomization/apps/1a2b3c4d/*",
            "continuous-delivery/cart/staging",
            "continuous-delivery/Cart",
            "gitrepository/flux-system/1a2b3c4d",
        ] {
            assert!(gate_context_problem(context).is_some(), "{context}");
        }
    }
}
