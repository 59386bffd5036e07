//! Paths inside the environment repository, relative to its root.

use std::borrow::Cow;
use std::fmt;
use std::str::FromStr;

use schemars::{JsonSchema, Schema, SchemaGenerator, json_schema};
use serde::{Deserialize, Deserializer, Serialize, Serializer};

use super::error::with_hint;
use super::shown::shown;

/// A normalized path relative to the repository root, with `/` separators.
///
/// Rejected: empty paths (also `.` and `./`), absolute paths (`/x`, `C:/x`), backslashes,
/// `..` components and control characters. Normalized: `.` components and empty
/// components are dropped, so `./envs//staging/` becomes `envs/staging`.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct RelPath(String);

/// Why a path was rejected.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum RelPathError {
    /// Nothing left after normalization.
    #[error("the path is empty")]
    Empty,
    /// Starts with `/` or a drive letter.
    #[error("the path is absolute")]
    Absolute,
    /// Contains `\`.
    #[error("the path contains a backslash")]
    Backslash,
    /// Has a `..` component.
    #[error("the path contains a `..` component")]
    ParentDir,
    /// Contains a control character such as a newline or NUL.
    #[error("the path contains a control character")]
    Control,
}

impl RelPathError {
    /// How to fix it.
    #[must_use]
    pub fn hint(self) -> &'static str {
        match self {
            Self::Empty => {
                "name a directory or file below the repository root, e.g. `envs/staging`"
            }
            Self::Absolute => {
                "paths are relative to the repository root: drop the leading `/`, e.g. `envs/staging`"
            }
            Self::Backslash => "separate directories with `/`, e.g. `envs/staging`",
            Self::ParentDir => {
                "paths must stay inside the repository: remove the `..`, e.g. `envs/staging`"
            }
            Self::Control => "remove the control character (tab, newline, ...) from the path",
        }
    }
}

/// Normalizes a path relative to the repository root as CI scripts spell it: `./envs/staging/`,
/// `envs//staging` and `./envs/./staging` are all `envs/staging`. `.`, `./` and the empty path
/// are the root (`""`). Absolute paths, `..` components, backslashes and control characters are
/// rejected. Every path that comes from a flag or from `ferry.yaml` goes through here (through
/// [`RelPath::new`] where the root is not a valid answer).
fn normalize(text: &str) -> Result<String, RelPathError> {
    if text.chars().any(char::is_control) {
        return Err(RelPathError::Control);
    }
    if text.contains('\\') {
        return Err(RelPathError::Backslash);
    }
    let bytes = text.as_bytes();
    let drive_letter = bytes.len() >= 2 && bytes[0].is_ascii_alphabetic() && bytes[1] == b':';
    if text.starts_with('/') || drive_letter {
        return Err(RelPathError::Absolute);
    }
    let mut parts = Vec::new();
    for part in text.split('/') {
        match part {
            "" | "." => {}
            ".." => return Err(RelPathError::ParentDir),
            other => parts.push(other),
        }
    }
    Ok(parts.join("/"))
}

impl RelPath {
    /// Validate and normalize `text` (see [`RelPath::normalize`]); the root is not a valid `RelPath`.
    pub fn new(text: &str) -> Result<Self, RelPathError> {
        let path = Self::normalize(text)?;
        if path.is_empty() {
            return Err(RelPathError::Empty);
        }
        Ok(Self(path))
    }

    /// Normalizes `text` as [`RelPath::new`] does, but accepts the root (`.`, `./`, ``) as `""`:
    /// for `bump --path`, where the root is a valid directory to change.
    pub fn normalize(text: &str) -> Result<String, RelPathError> {
        normalize(text)
    }

    /// The normalized path.
    #[must_use]
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The normalized path as an owned string.
    #[must_use]
    pub fn into_string(self) -> String {
        self.0
    }
}

impl FromStr for RelPath {
    type Err = RelPathError;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        Self::new(text)
    }
}

impl AsRef<str> for RelPath {
    fn as_ref(&self) -> &str {
        &self.0
    }
}

impl AsRef<std::path::Path> for RelPath {
    fn as_ref(&self) -> &std::path::Path {
        std::path::Path::new(&self.0)
    }
}

impl fmt::Display for RelPath {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl Serialize for RelPath {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(&self.0)
    }
}

impl<'de> Deserialize<'de> for RelPath {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let text = String::deserialize(deserializer)?;
        Self::new(&text).map_err(|err| serde::de::Error::custom(path_error(&text, err)))
    }
}

/// The message (with hint) for a rejected path, as carried through serde.
pub(super) fn path_error(text: &str, err: RelPathError) -> String {
    with_hint(
        &format!("`{}` is not a valid relative path: {err}", shown(text)),
        err.hint(),
    )
}

/// The JSON schema of a relative path, shared with [`super::Template`].
pub(super) fn rel_path_schema(description: &str) -> Schema {
    json_schema!({
        "type": "string",
        "description": description,
        "minLength": 1,
        "allOf": [
            { "not": { "pattern": "^/" } },
            { "not": { "pattern": "^[A-Za-z]:" } },
            { "not": { "pattern": "\\\\" } },
            { "not": { "pattern": "(^|/)\\.\\.(/|$)" } }
        ]
    })
}

impl JsonSchema for RelPath {
    fn schema_name() -> Cow<'static, str> {
        "RelPath".into()
    }

    fn schema_id() -> Cow<'static, str> {
        concat!(module_path!(), "::RelPath").into()
    }

    fn json_schema(_generator: &mut SchemaGenerator) -> Schema {
        rel_path_schema(
            "A path relative to the repository root, with `/` separators; no leading `/`, no `..`, no backslashes.",
        )
    }
}

impl RelPath {
    /// A path known to be valid and normalized (built-in defaults).
    pub(super) fn trusted(path: &str) -> Self {
        debug_assert!(Self::new(path).is_ok_and(|p| p.as_str() == path));
        Self(path.to_owned())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_are_normalized_as_ci_scripts_spell_them() {
        for text in [
            "envs/staging",
            "./envs/staging/",
            "envs//staging",
            "./envs/./staging//",
            "././envs/staging",
        ] {
            assert_eq!(
                RelPath::normalize(text).as_deref(),
                Ok("envs/staging"),
                "{text}"
            );
            assert_eq!(
                RelPath::new(text).map(RelPath::into_string).as_deref(),
                Ok("envs/staging"),
                "{text}"
            );
        }
        for root in ["", ".", "./", "./."] {
            assert_eq!(RelPath::normalize(root).as_deref(), Ok(""), "{root:?}");
            assert_eq!(RelPath::new(root), Err(RelPathError::Empty), "{root:?}");
        }
        assert_eq!(RelPath::normalize("/envs"), Err(RelPathError::Absolute));
        assert_eq!(
            RelPath::normalize("./../envs"),
            Err(RelPathError::ParentDir)
        );
        assert_eq!(RelPath::normalize("envs\\x"), Err(RelPathError::Backslash));
    }
}
