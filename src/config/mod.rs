//! The environment repository's `ferry.yaml`: what ferry knows about the repository.
//!
//! [`Config::parse`] turns the text into typed settings, rejecting unknown fields and
//! invalid values with a [`ConfigError`] that points at `file:line:col` and carries a hint.
//! Every field is documented in `docs/config.md`; [`schema_json`] gives the JSON Schema
//! for editor completion (committed as `ferry.schema.json`).
//!
//! serde-saphyr reports the position of every deserialization error; to name the field in
//! the message (and to place errors found after deserialization, such as an unknown
//! environment in `promotion.order`), the document is also indexed by key path with
//! granit-parser (see `index.rs`).

mod duration;
mod error;
mod hold;
mod index;
mod path;
mod shown;

use std::borrow::Cow;
use std::collections::HashSet;
use std::fmt;
use std::path::{Path, PathBuf};

use indexmap::IndexMap;
use schemars::generate::SchemaSettings;
use schemars::{JsonSchema, Schema, SchemaGenerator, json_schema};
use serde::{Deserialize, Deserializer, Serialize, Serializer};

pub use duration::{DURATION_FORM, Duration, DurationError};
pub use error::ConfigError;
pub use hold::hold;
pub use path::{RelPath, RelPathError};

use error::{closest, invalid, suggestion, with_hint};
use index::{Index, KeyPath, NodeKind, Pos};
use shown::shown;

/// The name of the configuration file, at the root of an environment repository.
pub const FILE_NAME: &str = "ferry.yaml";

/// The configuration versions this ferry understands.
pub const SUPPORTED_VERSIONS: &[u32] = &[1];

/// What environment names look like (the JSON-schema pattern).
const ENVIRONMENT_NAME_PATTERN: &str = "^[a-z0-9][a-z0-9._-]*$";

/// Settings for a GitOps environment repository, read from `ferry.yaml` at its root.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
#[schemars(
    title = "ferry.yaml",
    description = "Settings for a GitOps environment repository managed by ferry. See docs/config.md."
)]
pub struct Config {
    /// The format version of this file. Only 1 is supported.
    #[serde(deserialize_with = "deserialize_version")]
    #[schemars(schema_with = "version_schema")]
    pub version: u32,
    /// Settings applied to every environment that does not set them itself.
    #[serde(default)]
    pub defaults: Defaults,
    /// The environments of this repository, by name, in the order written. Names start with a lowercase letter or digit and contain only a-z, 0-9, `.`, `_` and `-`.
    #[serde(default)]
    #[schemars(schema_with = "environments_schema")]
    pub environments: IndexMap<String, Environment>,
    /// Per-merge-request preview environments (`ferry preview`).
    #[serde(default)]
    pub previews: Previews,
    /// How changes move between environments (`ferry promote`, `ferry status`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub promotion: Option<Promotion>,
    /// How ferry writes commits.
    #[serde(default)]
    pub commit: Commit,
    /// How ferry writes pull/merge requests (`ferry bump --via pull-request`).
    #[serde(default)]
    pub change_requests: ChangeRequests,
}

impl Default for Config {
    /// Version 1 with no environments and every other setting at its default.
    fn default() -> Self {
        Self {
            version: 1,
            defaults: Defaults::default(),
            environments: IndexMap::new(),
            previews: Previews::default(),
            promotion: None,
            commit: Commit::default(),
            change_requests: ChangeRequests::default(),
        }
    }
}

/// Settings applied to environments that don't set them.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "kebab-case", default)]
pub struct Defaults {
    /// The git branch environments live on.
    pub branch: String,
    /// How changes reach the branch: `push` commits directly, `pull-request` opens a change request.
    pub update: Update,
}

impl Default for Defaults {
    fn default() -> Self {
        Self {
            branch: "main".to_owned(),
            update: Update::Push,
        }
    }
}

/// How ferry delivers a change to an environment's branch.
#[derive(
    Debug,
    Clone,
    Copy,
    PartialEq,
    Eq,
    Hash,
    Default,
    Serialize,
    Deserialize,
    JsonSchema,
    clap::ValueEnum,
)]
#[serde(rename_all = "kebab-case")]
pub enum Update {
    /// Commit and push to the branch directly.
    #[default]
    Push,
    /// Push a new branch and open a pull (merge) request against the environment's branch.
    PullRequest,
}

impl Update {
    /// The spelling used in `ferry.yaml`.
    #[must_use]
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Push => "push",
            Self::PullRequest => "pull-request",
        }
    }
}

impl fmt::Display for Update {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One environment, as written in `ferry.yaml` (see [`ResolvedEnvironment`] for the
/// settings with defaults applied).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
#[schemars(description = "An environment: a directory of the repository on a branch.")]
pub struct Environment {
    /// The environment's directory, relative to the repository root (e.g. envs/staging).
    pub path: RelPath,
    /// The git branch the environment lives on (default: defaults.branch).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub branch: Option<String>,
    /// How changes reach the branch: push or pull-request (default: defaults.update).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub update: Option<Update>,
    /// When true the environment is on hold: ferry refuses to bump it.
    #[serde(default)]
    pub hold: bool,
    /// Images on hold in this environment: ferry refuses to bump them (the rest of the environment is not held).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub hold_images: Vec<String>,
    /// Why the environment or its images are on hold; shown in the refusal.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub hold_reason: Option<String>,
    /// Tag policy: a regular expression that a new image tag must match in full.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tags: Option<String>,
    /// Accept mutable tags such as `latest` or `main` (refused by default: an environment must name an immutable version).
    #[serde(default)]
    pub allow_mutable_tags: bool,
    /// All or nothing: refuse a bump when any mention of an image would be left alone and reported (a placeholder, a block scalar, a template, a bare name), instead of editing the rest.
    #[serde(default)]
    pub strict: bool,
    /// Labels put on change requests for this environment.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub labels: Vec<String>,
    /// Reviewers requested on change requests for this environment.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub reviewers: Vec<String>,
    /// Users the change requests for this environment are assigned to.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub assignees: Vec<String>,
}

/// An environment with the defaults applied: what commands act on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ResolvedEnvironment {
    /// The environment's name (its key in `environments`).
    pub name: String,
    /// Its directory relative to the repository root, normalized (`envs/staging`).
    pub path: String,
    /// The git branch it lives on.
    pub branch: String,
    /// How changes reach that branch.
    pub update: Update,
    /// Whether bumps are refused.
    pub hold: bool,
    /// Images whose bumps are refused (as written; compare after normalizing).
    pub hold_images: Vec<String>,
    /// Why, when given.
    pub hold_reason: Option<String>,
    /// The tag policy (a regular expression the whole tag must match), if any.
    pub tags: Option<String>,
    /// Whether mutable tags (`latest`, …) are accepted.
    pub allow_mutable_tags: bool,
    /// Whether every mention left alone refuses the bump.
    pub strict: bool,
    /// Labels for change requests.
    pub labels: Vec<String>,
    /// Reviewers for change requests.
    pub reviewers: Vec<String>,
    /// Assignees of change requests.
    pub assignees: Vec<String>,
}

/// Per-merge-request preview environments.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "kebab-case", default)]
pub struct Previews {
    /// The git branch preview environments are written to.
    pub branch: String,
    /// The directory (relative to the repository root) that holds one entry per preview.
    pub directory: RelPath,
    /// What a preview is made from: argocd, flux, or the path of a template file in the repository.
    pub template: Template,
    /// How long a preview lives after its last update, e.g. 72h.
    pub ttl: Duration,
    /// The most previews alive at once (unset: no limit).
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 1))]
    pub max: Option<u32>,
    /// What happens when a new preview would exceed max: fail, or evict-oldest.
    pub on_max: OnMax,
    /// The longest a preview's namespace name may be (1 to 63).
    #[schemars(range(min = 1, max = 63))]
    pub namespace_limit: u32,
    /// The longest a preview's release name may be (1 to 53).
    #[schemars(range(min = 1, max = 53))]
    pub release_limit: u32,
    /// The start of every name a preview gets (its file, namespace, objects, Helm release and {slug}): a lowercase letter, then letters, digits and `-`, ending in `-`; not kube- or openshift-.
    pub prefix: String,
    /// The URL of a preview, with {slug} standing for the preview's name.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub url: Option<String>,
    /// Application repositories (web URLs) whose merge requests `preview gc` and `down` may ask about, besides the run's own (--app-repo, or the repository the CI runs for). A preview file naming any other is not asked about: it expires by its time to live.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub projects: Vec<String>,
    /// What a preview deploys: the manifests' repository, revision and path, and how image tags are set.
    pub deploy: PreviewDeploy,
    /// The namespace of the agent's resources (Argo CD Applications, Flux Kustomizations) [default: flux-system for the flux template, argocd otherwise].
    #[serde(skip_serializing_if = "Option::is_none")]
    pub agent_namespace: Option<String>,
    /// Keep one comment on the merge request up to date with the preview's address and tags.
    pub comment: bool,
}

/// What a preview deploys.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "kebab-case", default)]
pub struct PreviewDeploy {
    /// The repository of the manifests or chart [default: this environment repository].
    #[serde(skip_serializing_if = "Option::is_none")]
    pub repo: Option<String>,
    /// The branch, tag or commit of that repository [default: the branch ferry.yaml was read from].
    #[serde(skip_serializing_if = "Option::is_none")]
    pub revision: Option<String>,
    /// The directory of the kustomization or chart, relative to that repository's root.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub path: Option<RelPath>,
    /// How image tags are set: kustomize images, or helm parameters (image.repository, image.tag).
    pub images: ImagesMode,
}

/// How a preview's image tags reach what it deploys.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "kebab-case")]
pub enum ImagesMode {
    /// Kustomize `images:` overrides.
    #[default]
    Kustomize,
    /// Helm values `image.repository` and `image.tag` (`<name>.image.*` with several images).
    Helm,
}

impl ImagesMode {
    /// The spelling used in `ferry.yaml` and templates.
    #[must_use]
    pub fn as_str(self) -> &'static str {
        match self {
            ImagesMode::Kustomize => "kustomize",
            ImagesMode::Helm => "helm",
        }
    }
}

/// The longest namespace name Kubernetes accepts.
pub const MAX_NAMESPACE_LIMIT: u32 = 63;
/// The longest Helm release name.
pub const MAX_RELEASE_LIMIT: u32 = 53;

impl Default for Previews {
    fn default() -> Self {
        Self {
            branch: "dynamic-envs".to_owned(),
            directory: RelPath::trusted("apps"),
            template: Template::Argocd,
            ttl: Duration::from_hours(168),
            max: None,
            on_max: OnMax::Fail,
            namespace_limit: MAX_NAMESPACE_LIMIT,
            release_limit: MAX_RELEASE_LIMIT,
            prefix: crate::slug::DEFAULT_PREVIEW_PREFIX.to_owned(),
            url: None,
            projects: Vec::new(),
            deploy: PreviewDeploy::default(),
            agent_namespace: None,
            comment: true,
        }
    }
}

/// What happens when a new preview would exceed `previews.max`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "kebab-case")]
pub enum OnMax {
    /// Refuse to create the preview.
    #[default]
    Fail,
    /// Remove the least recently updated preview to make room.
    EvictOldest,
}

/// What a preview environment is made from.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Default)]
pub enum Template {
    /// An Argo CD `Application` (the built-in template).
    #[default]
    Argocd,
    /// A Flux `Kustomization` (the built-in template).
    Flux,
    /// A template file in the repository, by its normalized path from the repository root.
    File(String),
}

impl Template {
    /// The spelling used in `ferry.yaml`.
    #[must_use]
    pub fn as_str(&self) -> &str {
        match self {
            Self::Argocd => "argocd",
            Self::Flux => "flux",
            Self::File(path) => path,
        }
    }

    fn parse(text: &str) -> Result<Self, (String, String)> {
        match text {
            "argocd" => return Ok(Self::Argocd),
            "flux" => return Ok(Self::Flux),
            _ => {}
        }
        const HINT: &str = "use `argocd`, `flux`, or the path of a template file in the repository, e.g. `.ferry/preview.yaml`";
        // A bare word is a misspelt built-in rather than a file name.
        if !text.contains(['/', '.']) {
            let hint = match closest(text, ["argocd", "flux"]) {
                Some(close) => format!("did you mean `{close}`? {HINT}"),
                None => HINT.to_owned(),
            };
            return Err((format!("unknown template `{}`", shown(text)), hint));
        }
        RelPath::new(text)
            .map(|path| Self::File(path.into_string()))
            .map_err(|err| {
                (
                    format!("`{}` is not a valid template path: {err}", shown(text)),
                    err.hint().to_owned(),
                )
            })
    }
}

impl fmt::Display for Template {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl Serialize for Template {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(self.as_str())
    }
}

impl<'de> Deserialize<'de> for Template {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let text = String::deserialize(deserializer)?;
        Self::parse(&text)
            .map_err(|(message, hint)| serde::de::Error::custom(with_hint(&message, &hint)))
    }
}

impl JsonSchema for Template {
    fn schema_name() -> Cow<'static, str> {
        "Template".into()
    }

    fn schema_id() -> Cow<'static, str> {
        concat!(module_path!(), "::Template").into()
    }

    fn json_schema(_generator: &mut SchemaGenerator) -> Schema {
        let file =
            path::rel_path_schema("The path of a template file, relative to the repository root.");
        json_schema!({
            "description": "argocd or flux (built-in templates), or the path of a template file in the repository.",
            "anyOf": [
                { "type": "string", "enum": ["argocd", "flux"] },
                file
            ]
        })
    }
}

/// How changes move between environments.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct Promotion {
    /// The environments in promotion order, e.g. [dev, staging, production]; each must be defined under environments.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(inner(regex(pattern = ENVIRONMENT_NAME_PATTERN)))]
    pub order: Vec<String>,
    /// Conditions a promotion must meet.
    #[serde(default)]
    pub gates: Gates,
}

/// Conditions a promotion must meet.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "kebab-case", default)]
pub struct Gates {
    /// Commit status contexts that must be successful on the source environment's commit.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub require_status: Vec<String>,
    /// How long a change must have been in the source environment before it is promoted, e.g. 1h.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub min_age: Option<Duration>,
    /// Time windows in which promotions are allowed, e.g. "Mon-Fri 09:00-17:00 Europe/Berlin".
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub windows: Vec<String>,
}

/// How ferry writes commits.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "kebab-case", default)]
pub struct Commit {
    /// The author of ferry's commits.
    pub author: Author,
    /// The path of a commit-message template in the repository, e.g. .ferry/commit.tera.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub message: Option<RelPath>,
}

/// How ferry writes pull/merge requests.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "kebab-case", default)]
pub struct ChangeRequests {
    /// The path of a title template in the repository, e.g. .ferry/change-request-title.tera.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub title: Option<RelPath>,
    /// The path of a description template in the repository, e.g. .ferry/change-request-body.tera.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub body: Option<RelPath>,
}

/// The author of ferry's commits.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "kebab-case", default)]
pub struct Author {
    /// The author name.
    pub name: String,
    /// The author e-mail address.
    pub email: String,
}

impl Default for Author {
    fn default() -> Self {
        Self {
            name: "ferry[bot]".to_owned(),
            email: "ferry@users.noreply.github.com".to_owned(),
        }
    }
}

fn version_problem(version: u64) -> Option<(String, String)> {
    if SUPPORTED_VERSIONS.iter().any(|v| u64::from(*v) == version) {
        return None;
    }
    let supported: Vec<String> = SUPPORTED_VERSIONS.iter().map(u32::to_string).collect();
    Some((
        format!("unsupported version {version}"),
        format!(
            "supported versions: {}; set `version: 1` (a newer ferry may be needed for other versions)",
            supported.join(", ")
        ),
    ))
}

fn deserialize_version<'de, D: Deserializer<'de>>(deserializer: D) -> Result<u32, D::Error> {
    let version = u32::deserialize(deserializer)?;
    match version_problem(u64::from(version)) {
        None => Ok(version),
        Some((message, hint)) => Err(serde::de::Error::custom(with_hint(&message, &hint))),
    }
}

fn version_schema(_generator: &mut SchemaGenerator) -> Schema {
    json_schema!({
        "type": "integer",
        "const": 1
    })
}

fn environments_schema(generator: &mut SchemaGenerator) -> Schema {
    let environment = generator.subschema_for::<Environment>();
    json_schema!({
        "type": "object",
        "propertyNames": { "pattern": ENVIRONMENT_NAME_PATTERN },
        "additionalProperties": environment
    })
}

fn first_line(text: &str) -> String {
    text.lines()
        .map(str::trim)
        .rfind(|l| !l.is_empty())
        .unwrap_or(text)
        .to_owned()
}

/// Whether `name` is a valid environment name: `[a-z0-9][a-z0-9._-]*`.
#[must_use]
pub fn is_valid_environment_name(name: &str) -> bool {
    let mut chars = name.chars();
    chars
        .next()
        .is_some_and(|c| c.is_ascii_lowercase() || c.is_ascii_digit())
        && chars
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || matches!(c, '.' | '_' | '-'))
}

impl Config {
    /// Parse the text of a `ferry.yaml`; `file` is used in error messages only.
    pub fn parse(text: &str, file: &Path) -> Result<Config, ConfigError> {
        let text = text.strip_prefix('\u{feff}').unwrap_or(text);
        let index = Index::build(text).map_err(|err| {
            ConfigError::new(
                file,
                Some(err.pos),
                format!("invalid YAML: {}", shown(&err.message)),
                Some("check the indentation and quoting at this position".to_owned()),
            )
        })?;
        check_version_first(&index, file)?;
        let options = serde_saphyr::options! {
            with_snippet: false,
        };
        let config: Config = serde_saphyr::from_str_with_options(text, options)
            .map_err(|err| error::from_yaml(&err, &index, file))?;
        let mut problems = Problems {
            index: &index,
            file,
            found: Vec::new(),
        };
        config.validate(&mut problems);
        match problems.first() {
            Some(problem) => Err(problem),
            None => Ok(config),
        }
    }

    /// Read and parse the file at `file`.
    pub fn load(file: &Path) -> Result<Config, ConfigError> {
        let text = std::fs::read_to_string(file).map_err(|err| read_error(file, &err))?;
        Self::parse(&text, file)
    }

    /// Look for `ferry.yaml` in `dir` (only there, not in its parents); `Ok(None)` when absent.
    pub fn find(dir: &Path) -> Result<Option<(PathBuf, Config)>, ConfigError> {
        let file = dir.join(FILE_NAME);
        match std::fs::read_to_string(&file) {
            Ok(text) => Self::parse(&text, &file).map(|config| Some((file, config))),
            Err(err) if err.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(err) => Err(read_error(&file, &err)),
        }
    }

    /// The names of the environments, in the order written.
    pub fn environment_names(&self) -> impl Iterator<Item = &str> {
        self.environments.keys().map(String::as_str)
    }

    /// The named environment with defaults applied, or an error that lists the known
    /// environments and suggests the closest name.
    pub fn environment(&self, name: &str) -> Result<ResolvedEnvironment, ConfigError> {
        let Some(environment) = self.environments.get(name) else {
            let names: Vec<&str> = self.environment_names().collect();
            let hint = if names.is_empty() {
                format!("no environments are defined: add one under `environments:` in {FILE_NAME}")
            } else {
                suggestion(name, &names, "known environments")
            };
            return Err(ConfigError::new(
                Path::new(FILE_NAME),
                None,
                format!("unknown environment `{}`", shown(name)),
                Some(hint),
            ));
        };
        Ok(ResolvedEnvironment {
            name: name.to_owned(),
            path: environment.path.as_str().to_owned(),
            branch: environment
                .branch
                .clone()
                .unwrap_or_else(|| self.defaults.branch.clone()),
            update: environment.update.unwrap_or(self.defaults.update),
            hold: environment.hold,
            hold_images: environment.hold_images.clone(),
            hold_reason: environment.hold_reason.clone(),
            tags: environment.tags.clone(),
            allow_mutable_tags: environment.allow_mutable_tags,
            strict: environment.strict,
            labels: environment.labels.clone(),
            reviewers: environment.reviewers.clone(),
            assignees: environment.assignees.clone(),
        })
    }

    /// Checks that need the whole document: names, ranges, references between sections.
    fn validate(&self, problems: &mut Problems<'_>) {
        let root = KeyPath::root();
        let defaults = root.clone().key("defaults");
        problems.branch(&self.defaults.branch, &defaults.clone().key("branch"));

        let environments = root.clone().key("environments");
        for (name, environment) in &self.environments {
            let at = environments.clone().key(name);
            if !is_valid_environment_name(name) {
                let lower = name.to_lowercase();
                let close = if is_valid_environment_name(&lower) {
                    format!("did you mean `{}`? ", shown(&lower))
                } else {
                    String::new()
                };
                problems.at_key(
                    &at,
                    format!("invalid environment name `{}`", shown(name)),
                    format!(
                        "{close}environment names start with a lowercase letter or digit and contain only a-z, 0-9, `.`, `_` and `-`"
                    ),
                );
            }
            if let Some(branch) = &environment.branch {
                problems.branch(branch, &at.clone().key("branch"));
            }
            if let Some(tags) = &environment.tags {
                problems.non_empty(tags, &at.clone().key("tags"));
                if let Err(err) = regex::Regex::new(tags) {
                    problems.value(
                        &at.clone().key("tags"),
                        &format!(
                            "`{}` is not a valid regular expression: {}",
                            shown(tags),
                            first_line(&err.to_string())
                        ),
                    );
                }
            }
            for (i, image) in environment.hold_images.iter().enumerate() {
                if let Err(err) = crate::image::ImageName::parse(image) {
                    problems.value(
                        &at.clone().key("hold-images").index(i),
                        &format!("`{}` is not an image name: {err}", shown(image)),
                    );
                }
            }
            if let Some(reason) = &environment.hold_reason {
                problems.non_empty(reason, &at.clone().key("hold-reason"));
            }
            problems.non_empty_list(&environment.labels, &at.clone().key("labels"));
            problems.non_empty_list(&environment.reviewers, &at.clone().key("reviewers"));
            problems.non_empty_list(&environment.assignees, &at.clone().key("assignees"));
        }

        let previews = root.clone().key("previews");
        problems.branch(&self.previews.branch, &previews.clone().key("branch"));
        if self.previews.ttl.as_secs() == 0 {
            problems.value(&previews.clone().key("ttl"), "must be longer than 0s");
        }
        if self.previews.max == Some(0) {
            problems.value(&previews.clone().key("max"), "must be at least 1, found 0");
        }
        problems.range(
            self.previews.namespace_limit,
            MAX_NAMESPACE_LIMIT,
            &previews.clone().key("namespace-limit"),
        );
        problems.range(
            self.previews.release_limit,
            MAX_RELEASE_LIMIT,
            &previews.clone().key("release-limit"),
        );
        if let Some(url) = &self.previews.url {
            problems.non_empty(url, &previews.clone().key("url"));
        }
        match crate::slug::check_preview_prefix(&self.previews.prefix) {
            Err(why) => problems.value(&previews.clone().key("prefix"), &why),
            Ok(()) => {
                let least = self.previews.prefix.len() + crate::slug::PREVIEW_HASH_DIGITS;
                for (limit, key) in [
                    (self.previews.namespace_limit, "namespace-limit"),
                    (self.previews.release_limit, "release-limit"),
                ] {
                    if (limit as usize) < least {
                        problems.value(
                            &previews.clone().key(key),
                            &format!(
                                "must leave room for previews.prefix and the {}-digit hash: at least {least}",
                                crate::slug::PREVIEW_HASH_DIGITS
                            ),
                        );
                    }
                }
            }
        }
        problems.non_empty_list(&self.previews.projects, &previews.clone().key("projects"));
        if let Some(namespace) = &self.previews.agent_namespace
            && !crate::slug::is_dns_label(namespace, 63)
        {
            problems.value(
                &previews.clone().key("agent-namespace"),
                "must be a namespace name (lowercase letters, digits and `-`, at most 63)",
            );
        }
        let deploy = previews.clone().key("deploy");
        if let Some(repo) = &self.previews.deploy.repo {
            problems.non_empty(repo, &deploy.clone().key("repo"));
        }
        if let Some(revision) = &self.previews.deploy.revision {
            problems.non_empty(revision, &deploy.clone().key("revision"));
        }

        if let Some(promotion) = &self.promotion {
            let promotion_path = root.clone().key("promotion");
            let order = promotion_path.clone().key("order");
            let names: Vec<&str> = self.environment_names().collect();
            let mut seen = HashSet::new();
            for (i, name) in promotion.order.iter().enumerate() {
                let at = order.clone().index(i);
                if !self.environments.contains_key(name) {
                    let hint = if names.is_empty() {
                        "no environments are defined: add them under `environments:`".to_owned()
                    } else {
                        suggestion(name, &names, "defined environments")
                    };
                    problems.push(
                        problems.index.value_pos(&at),
                        format!(
                            "`promotion.order` names unknown environment `{}`",
                            shown(name)
                        ),
                        hint,
                    );
                } else if !seen.insert(name.as_str()) {
                    problems.push(
                        problems.index.value_pos(&at),
                        format!(
                            "environment `{}` appears more than once in `promotion.order`",
                            shown(name)
                        ),
                        "list each environment once, from first to last stage".to_owned(),
                    );
                }
            }
            let gates = promotion_path.key("gates");
            problems.non_empty_list(
                &promotion.gates.require_status,
                &gates.clone().key("require-status"),
            );
            problems.non_empty_list(&promotion.gates.windows, &gates.clone().key("windows"));
        }

        let author = root.key("commit").key("author");
        problems.non_empty(&self.commit.author.name, &author.clone().key("name"));
        problems.non_empty(&self.commit.author.email, &author.clone().key("email"));
    }
}

/// Checked before deserialization so that a file written for another version is reported
/// as such rather than by its first unknown field.
fn check_version_first(index: &Index, file: &Path) -> Result<(), ConfigError> {
    let path = KeyPath::keys(["version"]);
    let Some(node) = index.get(&path) else {
        return Ok(());
    };
    let NodeKind::Scalar(text) = &node.kind else {
        return Ok(());
    };
    let Ok(version) = text.trim().parse::<u64>() else {
        return Ok(());
    };
    match version_problem(version) {
        None => Ok(()),
        Some((message, hint)) => Err(ConfigError::new(
            file,
            Some(node.value),
            invalid(&path, &message),
            Some(hint),
        )),
    }
}

fn read_error(file: &Path, err: &std::io::Error) -> ConfigError {
    let (message, hint) = match err.kind() {
        std::io::ErrorKind::NotFound => (
            format!("cannot read {FILE_NAME}: {err}"),
            Some(format!(
                "create {FILE_NAME} at the root of the environment repository (see docs/config.md)"
            )),
        ),
        std::io::ErrorKind::InvalidData => (
            format!("{FILE_NAME} is not valid UTF-8"),
            Some("save the file as UTF-8".to_owned()),
        ),
        _ => (format!("cannot read {FILE_NAME}: {err}"), None),
    };
    ConfigError::new(file, None, message, hint)
}

/// Problems found after deserialization; the first in the document is reported.
struct Problems<'a> {
    index: &'a Index,
    file: &'a Path,
    found: Vec<ConfigError>,
}

impl Problems<'_> {
    fn push(&mut self, pos: Option<Pos>, message: String, hint: String) {
        self.found
            .push(ConfigError::new(self.file, pos, message, Some(hint)));
    }

    fn hint_for(path: &KeyPath) -> String {
        error::field_help(path)
            .map(|(_, example)| format!("for example: `{example}`"))
            .unwrap_or_else(|| "see docs/config.md".to_owned())
    }

    /// An invalid value at `path`.
    fn value(&mut self, path: &KeyPath, message: &str) {
        let pos = self.index.value_pos(path);
        self.push(pos, invalid(path, message), Self::hint_for(path));
    }

    /// A problem with the key at `path`.
    fn at_key(&mut self, path: &KeyPath, message: String, hint: String) {
        let pos = self.index.key_pos(path);
        self.push(pos, message, hint);
    }

    fn non_empty(&mut self, text: &str, path: &KeyPath) {
        if text.trim().is_empty() {
            self.value(path, "must not be empty");
        }
    }

    fn non_empty_list(&mut self, items: &[String], path: &KeyPath) {
        for (i, item) in items.iter().enumerate() {
            self.non_empty(item, &path.clone().index(i));
        }
    }

    fn branch(&mut self, branch: &str, path: &KeyPath) {
        if branch.trim().is_empty() {
            self.value(path, "must not be empty");
        } else if branch.chars().any(|c| c.is_whitespace() || c.is_control()) {
            self.value(
                path,
                &format!(
                    "`{}` is not a branch name: it contains whitespace",
                    shown(branch)
                ),
            );
        }
    }

    fn range(&mut self, value: u32, max: u32, path: &KeyPath) {
        if !(1..=max).contains(&value) {
            self.value(path, &format!("must be from 1 to {max}, found {value}"));
        }
    }

    /// The problem that comes first in the document (those without a position last).
    fn first(self) -> Option<ConfigError> {
        self.found
            .into_iter()
            .enumerate()
            .min_by_key(|(i, err)| (err.pos().is_none(), err.pos(), *i))
            .map(|(_, err)| err)
    }
}

/// Where keys are written in the text of a `ferry.yaml`, for messages about values that are
/// checked after loading (`ferry check`: a path that does not exist, a template that fails).
#[derive(Debug, Clone, Default)]
pub struct Positions(Index);

impl Positions {
    /// The positions in `text`; none at all when it is not YAML.
    #[must_use]
    pub fn of(text: &str) -> Self {
        let text = text.strip_prefix('\u{feff}').unwrap_or(text);
        Self(Index::build(text).unwrap_or_default())
    }

    /// The 1-based (line, column) of the key at `keys` (e.g. `["environments", "staging"]`).
    #[must_use]
    pub fn key(&self, keys: &[&str]) -> Option<(usize, usize)> {
        let pos = self.0.key_pos(&KeyPath::keys(keys.iter().copied()))?;
        Some((pos.line, pos.column))
    }

    /// The 1-based (line, column) of the value at `keys`.
    #[must_use]
    pub fn value(&self, keys: &[&str]) -> Option<(usize, usize)> {
        let pos = self.0.value_pos(&KeyPath::keys(keys.iter().copied()))?;
        Some((pos.line, pos.column))
    }

    /// The 1-based (line, column) of item `index` of the sequence at `keys`.
    #[must_use]
    pub fn item(&self, keys: &[&str], index: usize) -> Option<(usize, usize)> {
        let pos = self
            .0
            .value_pos(&KeyPath::keys(keys.iter().copied()).index(index))?;
        Some((pos.line, pos.column))
    }
}

/// The JSON Schema (draft 2020-12) of `ferry.yaml`, pretty-printed with a trailing newline.
/// The committed `ferry.schema.json` is exactly this text (`ferry schema > ferry.schema.json`).
#[must_use]
pub fn schema_json() -> String {
    let schema = SchemaSettings::draft2020_12()
        .for_deserialize()
        .into_generator()
        .into_root_schema_for::<Config>();
    // Serializing a JSON value to a string cannot fail.
    let mut text = serde_json::to_string_pretty(schema.as_value()).unwrap_or_default();
    text.push('\n');
    text
}

#[cfg(test)]
mod tests;

#[cfg(test)]
mod schema_file_tests {
    /// The committed schema is regenerated with `ferry schema > ferry.schema.json`.
    #[test]
    fn committed_schema_matches() {
        assert_eq!(
            super::schema_json(),
            include_str!("../../ferry.schema.json")
        );
    }
}
