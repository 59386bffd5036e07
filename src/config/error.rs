//! [`ConfigError`], and turning serde-saphyr's errors into messages that name the field,
//! point at `file:line:col` and say how to fix it.

use std::fmt;
use std::path::{Path, PathBuf};

use serde_saphyr::{DefaultMessageFormatter, Error as YamlError, MessageFormatter};

use super::FILE_NAME;
use super::index::{Index, KeyPath, NodeKind, Pos};
use super::shown::shown;

/// A problem with `ferry.yaml`: where it is, what is wrong, and how to fix it.
///
/// Displayed as `file:line:col: message`, followed by `\n  hint: ...` when there is a hint;
/// `file: message` when the position is unknown.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub struct ConfigError {
    /// The file, as given to [`super::Config::parse`] / [`super::Config::load`].
    pub file: PathBuf,
    /// 1-based line, when the problem has a position.
    pub line: Option<usize>,
    /// 1-based column (in characters), when the problem has a position.
    pub column: Option<usize>,
    /// What is wrong.
    pub message: String,
    /// How to fix it.
    pub hint: Option<String>,
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.file.display())?;
        if let Some(line) = self.line {
            write!(f, ":{line}")?;
            if let Some(column) = self.column {
                write!(f, ":{column}")?;
            }
        }
        write!(f, ": {}", self.message)?;
        if let Some(hint) = &self.hint {
            write!(f, "\n  hint: {hint}")?;
        }
        Ok(())
    }
}

impl ConfigError {
    pub(crate) fn new(
        file: &Path,
        pos: Option<Pos>,
        message: impl Into<String>,
        hint: Option<String>,
    ) -> Self {
        Self {
            file: file.to_path_buf(),
            line: pos.map(|p| p.line),
            column: pos.map(|p| p.column),
            message: message.into(),
            hint,
        }
    }

    pub(crate) fn pos(&self) -> Option<Pos> {
        Some(Pos {
            line: self.line?,
            column: self.column.unwrap_or(1),
        })
    }
}

/// Separates a message from its hint inside a serde custom error. User text in messages
/// is escaped with `escape_debug`, so it can never contain this character.
const HINT_SEPARATOR: char = '\u{1f}';

/// A serde custom-error text carrying a hint.
pub(crate) fn with_hint(message: &str, hint: &str) -> String {
    format!("{message}{HINT_SEPARATOR}{hint}")
}

/// Split a serde custom-error text made by [`with_hint`].
fn split_hint(text: &str) -> (String, Option<String>) {
    match text.split_once(HINT_SEPARATOR) {
        Some((message, hint)) => (message.to_owned(), Some(hint.to_owned())),
        None => (text.to_owned(), None),
    }
}

/// The candidate closest to `target`, if any is close enough to be a likely typo.
pub(crate) fn closest<'a>(
    target: &str,
    candidates: impl IntoIterator<Item = &'a str>,
) -> Option<&'a str> {
    let target = target.to_lowercase();
    let length = target.chars().count();
    let limit = (length / 3).clamp(1, 3);
    let mut best: Option<(usize, &str)> = None;
    for candidate in candidates {
        let lower = candidate.to_lowercase();
        let distance = if length >= 2 && lower.starts_with(&target) {
            // A prefix (`pul` for `pull-request`) is as good as one typo.
            1
        } else {
            // Levenshtein plus adjacent transpositions (`pull-reqeust`).
            strsim::osa_distance(&target, &lower)
        };
        if distance <= limit && best.is_none_or(|(d, _)| distance < d) {
            best = Some((distance, candidate));
        }
    }
    best.map(|(_, candidate)| candidate)
}

/// "did you mean `x`? Valid fields: a, b, c" for `label` "valid fields" (without the
/// question when nothing is close).
pub(crate) fn suggestion(target: &str, candidates: &[&str], label: &str) -> String {
    let list = if candidates.is_empty() {
        "(none)".to_owned()
    } else {
        candidates.join(", ")
    };
    match closest(target, candidates.iter().copied()) {
        Some(close) => {
            let mut chars = label.chars();
            let label: String = chars
                .next()
                .map(|first| first.to_uppercase().chain(chars).collect())
                .unwrap_or_default();
            format!("did you mean `{close}`? {label}: {list}")
        }
        None => format!("{label}: {list}"),
    }
}

/// " in environment \"staging\"", " in `previews`", " at the top level", or nothing when
/// the mapping is unknown.
fn context(container: Option<&KeyPath>) -> String {
    let Some(container) = container else {
        return String::new();
    };
    if container.is_root() {
        return " at the top level".to_owned();
    }
    match container.last_key() {
        Some(name) if container.shape() == ["environments", "*"] => {
            format!(" in environment \"{}\"", shown(name))
        }
        _ => format!(" in `{container}`"),
    }
}

/// What a field expects, and an example, by the shape of its path.
pub(crate) fn field_help(path: &KeyPath) -> Option<(&'static str, &'static str)> {
    let shape = path.shape();
    let help = match shape.as_slice() {
        [] => ("a mapping of settings", "version: 1"),
        ["version"] => ("the number 1", "version: 1"),
        ["defaults"] => ("a mapping", "defaults: {branch: main, update: push}"),
        ["defaults" | "environments", .., "branch"] => ("a git branch name", "branch: main"),
        ["defaults" | "environments", .., "update"] => {
            ("`push` or `pull-request`", "update: pull-request")
        }
        ["environments"] => (
            "a mapping from environment names to their settings",
            "environments: {staging: {path: envs/staging}}",
        ),
        ["environments", "*"] => (
            "a mapping of environment settings",
            "staging: {path: envs/staging}",
        ),
        ["environments", "*", "path"] => (
            "a directory relative to the repository root",
            "path: envs/staging",
        ),
        ["environments", "*", "hold"] => ("`true` or `false`", "hold: true"),
        ["environments", "*", "hold-images"] => {
            ("a list of image names", "hold-images: [ghcr.io/acme/cart]")
        }
        ["environments", "*", "hold-images", "*"] => {
            ("an image name", "hold-images: [ghcr.io/acme/cart]")
        }
        ["environments", "*", "hold-reason"] => (
            "a sentence saying why",
            "hold-reason: 'INC-42: payments outage, ask #ops'",
        ),
        ["environments", "*", "allow-mutable-tags"] => {
            ("`true` or `false`", "allow-mutable-tags: true")
        }
        ["environments", "*", "strict"] => ("`true` or `false`", "strict: true"),
        ["environments", "*", "tags"] => (
            "a regular expression the tag must fully match",
            "tags: '^[0-9a-f]{7,40}$'",
        ),
        ["environments", "*", "labels"] => ("a list of labels", "labels: [env:staging]"),
        ["environments", "*", "labels", "*"] => ("a label (a string)", "labels: [env:staging]"),
        ["environments", "*", "reviewers"] => ("a list of user names", "reviewers: [alice]"),
        ["environments", "*", "reviewers", "*"] => ("a user name", "reviewers: [alice]"),
        ["environments", "*", "assignees"] => ("a list of user names", "assignees: [alice]"),
        ["environments", "*", "assignees", "*"] => ("a user name", "assignees: [alice]"),
        ["previews"] => ("a mapping", "previews: {ttl: 72h}"),
        ["previews", "branch"] => ("a git branch name", "branch: dynamic-envs"),
        ["previews", "directory"] => (
            "a directory relative to the repository root",
            "directory: apps",
        ),
        ["previews", "template"] => (
            "`argocd`, `flux` or the path of a template file in the repository",
            "template: argocd",
        ),
        ["previews", "ttl"] => ("a duration", "ttl: 72h"),
        ["previews", "max"] => ("a whole number of at least 1", "max: 20"),
        ["previews", "on-max"] => ("`fail` or `evict-oldest`", "on-max: evict-oldest"),
        ["previews", "namespace-limit"] => ("a whole number from 1 to 63", "namespace-limit: 63"),
        ["previews", "release-limit"] => ("a whole number from 1 to 53", "release-limit: 53"),
        ["previews", "url"] => ("a URL pattern", "url: 'https://{slug}.preview.example.com'"),
        ["previews", "prefix"] => ("a lowercase name start ending in `-`", "prefix: preview-"),
        ["previews", "projects"] => (
            "a list of application repository URLs",
            "projects: ['https://gitlab.com/acme/shop']",
        ),
        ["previews", "agent-namespace"] => ("a namespace name", "agent-namespace: argocd"),
        ["previews", "comment"] => ("`true` or `false`", "comment: false"),
        ["previews", "deploy"] => ("a mapping", "deploy: {path: previews/base}"),
        ["previews", "deploy", "repo"] => {
            ("a repository URL", "repo: https://github.com/acme/env.git")
        }
        ["previews", "deploy", "revision"] => ("a branch, tag or commit", "revision: main"),
        ["previews", "deploy", "path"] => (
            "a directory relative to the repository root",
            "path: previews/base",
        ),
        ["previews", "deploy", "images"] => ("`kustomize` or `helm`", "images: helm"),
        ["promotion"] => ("a mapping", "promotion: {order: [staging, production]}"),
        ["promotion", "order"] => (
            "a list of environment names",
            "order: [dev, staging, production]",
        ),
        ["promotion", "order", "*"] => ("an environment name", "order: [staging, production]"),
        ["promotion", "gates"] => ("a mapping", "gates: {min-age: 1h}"),
        ["promotion", "gates", "require-status"] => (
            "a list of commit status contexts",
            "require-status: [continuous-delivery/cart-staging]",
        ),
        ["promotion", "gates", "require-status", "*"] => (
            "a commit status context",
            "require-status: [continuous-delivery/cart-staging]",
        ),
        ["promotion", "gates", "min-age"] => ("a duration", "min-age: 1h"),
        ["promotion", "gates", "windows"] => (
            "a list of time windows",
            "windows: ['Mon-Fri 09:00-17:00 Europe/Berlin']",
        ),
        ["promotion", "gates", "windows", "*"] => (
            "a time window",
            "windows: ['Mon-Fri 09:00-17:00 Europe/Berlin']",
        ),
        ["commit"] => ("a mapping", "commit: {author: {name: 'ferry[bot]'}}"),
        ["commit", "author"] => (
            "a mapping with `name` and `email`",
            "author: {name: 'ferry[bot]', email: ferry@users.noreply.github.com}",
        ),
        ["commit", "author", "name"] => ("a name", "name: 'ferry[bot]'"),
        ["commit", "author", "email"] => {
            ("an e-mail address", "email: ferry@users.noreply.github.com")
        }
        ["commit", "message"] => (
            "the path of a template file in the repository",
            "message: .ferry/commit.tera",
        ),
        ["change-requests"] => (
            "a mapping",
            "change-requests: {title: .ferry/change-request-title.tera}",
        ),
        ["change-requests", "title"] => (
            "the path of a template file in the repository",
            "title: .ferry/change-request-title.tera",
        ),
        ["change-requests", "body"] => (
            "the path of a template file in the repository",
            "body: .ferry/change-request-body.tera",
        ),
        _ => return None,
    };
    Some(help)
}

/// "for example: `...`" for the field at `path`.
fn example_hint(path: &KeyPath) -> Option<String> {
    field_help(path).map(|(_, example)| format!("for example: `{example}`"))
}

/// A field name for messages: "`previews.ttl`", or "the file" for the root.
fn field_name(path: &KeyPath) -> String {
    if path.is_root() {
        "the file".to_owned()
    } else {
        format!("`{path}`")
    }
}

/// The message for an invalid value found after deserialization or in a custom deserializer.
pub(crate) fn invalid(path: &KeyPath, message: &str) -> String {
    if path.is_root() {
        message.to_owned()
    } else {
        format!("invalid `{path}`: {message}")
    }
}

/// Describe serde-saphyr's "expected" text for people.
fn describe_expected(expected: &str) -> String {
    let expected = expected.trim();
    let lower = expected.to_lowercase();
    if lower.contains("bool") {
        "`true` or `false`".to_owned()
    } else if lower.contains("sequence") {
        "a list".to_owned()
    } else if lower.contains("map") || lower.contains("struct") {
        "a mapping".to_owned()
    } else if lower.contains("string") || lower.contains("str") {
        "a string".to_owned()
    } else if [
        "u8", "u16", "u32", "u64", "usize", "i8", "i16", "i32", "i64", "integer",
    ]
    .iter()
    .any(|t| lower.contains(t))
    {
        "a whole number".to_owned()
    } else {
        expected.to_owned()
    }
}

/// Convert a serde-saphyr error into a [`ConfigError`], using `index` to name the field.
pub(crate) fn from_yaml(err: &YamlError, index: &Index, file: &Path) -> ConfigError {
    let (err, pos) = unwrap_yaml(err);
    let value_path = |pos: Option<Pos>| -> Option<KeyPath> {
        let pos = pos?;
        index
            .value_at(pos)
            .or_else(|| index.key_at(pos))
            .or_else(|| index.before(pos))
            .map(|n| n.path.clone())
    };
    let found =
        |pos: Option<Pos>| -> Option<NodeKind> { index.value_at(pos?).map(|n| n.kind.clone()) };
    match err {
        YamlError::SerdeUnknownField {
            field, expected, ..
        } => {
            let container = pos.and_then(|pos| {
                index
                    .key_at(pos)
                    .map(|n| n.path.parent())
                    .or_else(|| index.value_at(pos).map(|n| n.path.clone()))
            });
            ConfigError::new(
                file,
                pos,
                format!(
                    "unknown field `{}`{}",
                    shown(field),
                    context(container.as_ref())
                ),
                Some(suggestion(field, expected, "valid fields")),
            )
        }
        YamlError::SerdeMissingField { field, .. } => {
            let container = pos.and_then(|pos| {
                index
                    .value_at(pos)
                    .filter(|n| n.kind == NodeKind::Mapping)
                    .map(|n| n.path.clone())
                    .or_else(|| index.key_at(pos).map(|n| n.path.parent()))
            });
            let hint = container
                .as_ref()
                .and_then(|container| field_help(&container.clone().key(field)))
                .map(|(_, example)| format!("add it, for example: `{example}`"));
            ConfigError::new(
                file,
                pos,
                format!(
                    "missing required field `{field}`{}",
                    context(container.as_ref())
                ),
                hint,
            )
        }
        YamlError::SerdeUnknownVariant {
            variant, expected, ..
        } => {
            let path = value_path(pos).unwrap_or_default();
            ConfigError::new(
                file,
                pos,
                format!(
                    "invalid value `{}` for {}",
                    shown(variant),
                    field_name(&path)
                ),
                Some(suggestion(variant, expected, "valid values")),
            )
        }
        YamlError::SerdeInvalidType { expected, .. }
        | YamlError::SerdeInvalidValue { expected, .. }
        | YamlError::SerdeInvalidLength { expected, .. } => {
            type_error(file, pos, value_path(pos), found(pos), expected)
        }
        YamlError::InvalidScalar { ty, .. } => {
            type_error(file, pos, value_path(pos), found(pos), ty)
        }
        YamlError::Unexpected { expected, .. } => {
            type_error(file, pos, value_path(pos), found(pos), expected)
        }
        YamlError::InvalidBooleanStrict { .. } => {
            type_error(file, pos, value_path(pos), found(pos), "boolean")
        }
        YamlError::NullIntoString { .. } => {
            type_error(file, pos, value_path(pos), found(pos), "string")
        }
        YamlError::Message { msg, .. } => {
            let (message, hint) = split_hint(msg);
            let path = value_path(pos).unwrap_or_default();
            ConfigError::new(file, pos, invalid(&path, &message), hint)
        }
        YamlError::DuplicateMappingKey { key, .. } => {
            let container = pos.and_then(|pos| index.key_at(pos).map(|n| n.path.parent()));
            let key = key
                .as_deref()
                .map(|k| format!(" `{}`", shown(k)))
                .unwrap_or_default();
            ConfigError::new(
                file,
                pos,
                format!("duplicate key{key}{}", context(container.as_ref())),
                Some("each key may appear only once in a mapping: remove or rename one of them".to_owned()),
            )
        }
        YamlError::Eof { .. } if index.is_empty() => ConfigError::new(
            file,
            pos,
            format!("{FILE_NAME} is empty"),
            Some(
                "start with `version: 1`, then describe the repository, e.g. `environments: {staging: {path: envs/staging}}`"
                    .to_owned(),
            ),
        ),
        YamlError::MultipleDocuments { .. } => ConfigError::new(
            file,
            pos,
            "the file holds more than one YAML document",
            Some(format!(
                "{FILE_NAME} must be a single document: remove the `---` separator and merge the documents"
            )),
        ),
        other => {
            let text = DefaultMessageFormatter.format_message(other);
            ConfigError::new(
                file,
                pos,
                format!("invalid YAML: {}", shown(&text)),
                Some("check the indentation and quoting at this position".to_owned()),
            )
        }
    }
}

/// The innermost error (aliases and snippets unwrapped) and where it happened (the alias
/// use for errors inside aliased content).
fn unwrap_yaml(err: &YamlError) -> (&YamlError, Option<Pos>) {
    let to_pos = |loc: serde_saphyr::Location| Pos {
        line: usize::try_from(loc.line()).unwrap_or(usize::MAX),
        column: usize::try_from(loc.column()).unwrap_or(usize::MAX),
    };
    let pos = err.location().map(to_pos);
    let mut inner = err.without_snippet();
    while let YamlError::AliasError { error, .. } | YamlError::WithSnippet { error, .. } = inner {
        inner = error;
    }
    (inner, pos)
}

fn type_error(
    file: &Path,
    pos: Option<Pos>,
    path: Option<KeyPath>,
    found: Option<NodeKind>,
    expected: &str,
) -> ConfigError {
    let path = path.unwrap_or_default();
    let expected = field_help(&path)
        .map(|(expected, _)| expected.to_owned())
        .unwrap_or_else(|| describe_expected(expected));
    let found = found
        .map(|kind| format!(", found {}", kind.describe()))
        .unwrap_or_default();
    if path.is_root() {
        return ConfigError::new(
            file,
            pos,
            format!("{FILE_NAME} must be {expected}{found}"),
            Some("start with `version: 1`, then settings such as `environments:`".to_owned()),
        );
    }
    ConfigError::new(
        file,
        pos,
        format!("invalid value for `{path}`: expected {expected}{found}"),
        example_hint(&path),
    )
}
