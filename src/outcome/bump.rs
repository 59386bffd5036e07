//! What `ferry bump` concluded: pushed, proposed in a change request, up to date, or why
//! nothing was written. Promotions and rollbacks run a bump and read this too.

use serde::Serialize;

use super::missing::Missing;
use crate::config::Update;
use crate::exit::Exit;
use crate::image::ImageUpdate;
use crate::plan::{Change, FileEdit, Notice};
use crate::repo_url::RepoUrl;

/// The result of a bump, as printed with `--output json` (the fields not skipped).
#[derive(Debug, Clone, Serialize)]
pub struct Bump {
    pub status: Status,
    #[serde(serialize_with = "as_display")]
    pub repo: RepoUrl,
    pub branch: Option<String>,
    pub environment: Option<String>,
    pub path: Option<String>,
    /// The commit pushed (or that would be pushed, for a dry run); for `up-to-date`, the commit
    /// that last set these images (the tip when the history read does not say).
    pub commit: Option<String>,
    /// The tip the change was made on.
    pub previous: Option<String>,
    pub attempts: u32,
    pub changes: Vec<Change>,
    pub warnings: Vec<Notice>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub notes: Vec<Notice>,
    pub refusals: Vec<Notice>,
    pub missing: Vec<Missing>,
    /// Why nothing was pushed (held, tag policy, stale), one message per reason.
    pub reasons: Vec<String>,
    /// The pull/merge request the change waits in (`--via pull-request`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub change_request: Option<ChangeRequest>,
    /// The rest is for people, not for the JSON.
    #[serde(skip)]
    pub detail: Detail,
}

/// What the text and the step summary tell besides the JSON's fields.
#[derive(Debug, Clone, Default)]
pub struct Detail {
    /// The environment's name, or its path when given by --path (`/` for the root).
    pub label: Option<String>,
    /// The updates asked for.
    pub updates: Vec<ImageUpdate>,
    /// The files that change (or would, for a dry run).
    pub files: Vec<FileEdit>,
    /// How many references already said what was asked (up to date).
    pub references: usize,
    /// How many attempts the bump could make.
    pub max_attempts: u32,
    /// How the change reaches the branch.
    pub update: Update,
    /// Where a proposed change went.
    pub proposed: Option<Proposed>,
    /// For a dry run: the commit's message, and the change request's branch it would go to.
    pub dry_run: Option<DryRun>,
    /// The words of the forge the change request is on.
    pub words: Option<Words>,
    /// How many YAML files were read, when an image is missing.
    pub files_read: usize,
}

/// Where a proposed change went: its branch and commit, and whether this run pushed it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Proposed {
    pub head_branch: String,
    pub head_sha: String,
    pub pushed: bool,
}

/// What a dry run would have done.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DryRun {
    pub message: String,
    /// The change request's branch (`update: pull-request`).
    pub head_branch: Option<String>,
}

/// How the forge names a change request: "pull request" and `#`, or "merge request" and `!`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Words {
    pub change_request: String,
    pub sigil: String,
}

/// The change request of a proposed change, as reported.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ChangeRequest {
    pub number: u64,
    pub url: String,
    /// The branch the change is on, and its commit.
    pub head_branch: String,
    pub head_sha: String,
    /// Whether the branch was pushed by this run (else it already held this change).
    pub pushed: bool,
    pub action: Action,
}

/// What happened to the change request.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Action {
    Opened,
    Updated,
    Unchanged,
}

impl Action {
    #[must_use]
    pub fn as_str(self) -> &'static str {
        match self {
            Action::Opened => "opened",
            Action::Updated => "updated",
            Action::Unchanged => "unchanged",
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Status {
    Pushed,
    /// The change waits in a change request (pull/merge request).
    Proposed,
    UpToDate,
    DryRun,
    NotFound,
    Refused,
    Held,
    TagRefused,
    Stale,
}

impl Status {
    /// The documented exit code of this result.
    #[must_use]
    pub fn exit(self) -> Exit {
        match self {
            Status::Pushed | Status::Proposed | Status::UpToDate | Status::DryRun => Exit::Done,
            Status::NotFound => Exit::NotFound,
            Status::Refused => Exit::Refused,
            Status::Held => Exit::Held,
            Status::TagRefused => Exit::Policy,
            Status::Stale => Exit::Stale,
        }
    }

    /// The status word (`pushed`, `proposed`, `up-to-date`, ...).
    #[must_use]
    pub fn as_str(self) -> &'static str {
        match self {
            Status::Pushed => "pushed",
            Status::Proposed => "proposed",
            Status::UpToDate => "up-to-date",
            Status::DryRun => "dry-run",
            Status::NotFound => "not-found",
            Status::Refused => "refused",
            Status::Held => "held",
            Status::TagRefused => "tag-refused",
            Status::Stale => "stale",
        }
    }
}

impl Bump {
    /// The exit code the bump reports.
    #[must_use]
    pub fn exit(&self) -> Exit {
        self.status.exit()
    }

    /// The web page of the change request, for a proposed change.
    #[must_use]
    pub fn change_request_url(&self) -> Option<String> {
        self.change_request.as_ref().map(|cr| cr.url.clone())
    }

    /// For a proposed change, its change request's number and head commit.
    #[must_use]
    pub fn proposed(&self) -> Option<(u64, String)> {
        self.change_request
            .as_ref()
            .map(|cr| (cr.number, cr.head_sha.clone()))
    }
}

fn as_display<S: serde::Serializer>(repo: &RepoUrl, serializer: S) -> Result<S::Ok, S::Error> {
    serializer.collect_str(repo)
}
