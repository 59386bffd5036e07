//! What `ferry set-image` concluded about a local directory.

use std::path::PathBuf;

use serde::Serialize;

use super::missing::Missing;
use crate::exit::Exit;
use crate::image::ImageUpdate;
use crate::plan::{Change, FileEdit, Notice};

/// The result of a set-image, as printed with `--output json` (the fields not skipped).
#[derive(Debug, Serialize)]
pub struct SetImage {
    pub status: Status,
    /// The root reported paths are relative to, as given.
    #[serde(serialize_with = "as_display")]
    pub dir: PathBuf,
    pub changes: Vec<Change>,
    pub warnings: Vec<Notice>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub notes: Vec<Notice>,
    pub refusals: Vec<Notice>,
    pub missing: Vec<Missing>,
    /// The directory that was scanned (below `dir`), named when an image is missing.
    #[serde(skip)]
    pub scanned: PathBuf,
    /// How many YAML files were read.
    #[serde(skip)]
    pub files_read: usize,
    /// The updates asked for.
    #[serde(skip)]
    pub updates: Vec<ImageUpdate>,
    /// How many references already said what was asked (up to date).
    #[serde(skip)]
    pub references: usize,
    /// The files that change (or would, for a dry run).
    #[serde(skip)]
    pub files: Vec<FileEdit>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Status {
    Changed,
    UpToDate,
    DryRun,
    NotFound,
    Refused,
}

impl Status {
    /// The documented exit code of this result.
    #[must_use]
    pub fn exit(self) -> Exit {
        match self {
            Status::Changed | Status::UpToDate | Status::DryRun => Exit::Done,
            Status::NotFound => Exit::NotFound,
            Status::Refused => Exit::Refused,
        }
    }
}

fn as_display<S: serde::Serializer>(
    dir: &std::path::Path,
    serializer: S,
) -> Result<S::Ok, S::Error> {
    serializer.collect_str(&dir.display())
}
