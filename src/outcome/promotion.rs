//! What `ferry promote` concluded: the images read in both environments, the gates checked,
//! and what was done (pushed, proposed, merged, waiting).

use serde::Serialize;

use super::merge::Item;
use crate::clock::Time;
use crate::exit::Exit;
use crate::forge::Words;

/// One image promoted.
#[derive(Debug, Clone, Serialize)]
pub struct Row {
    pub image: String,
    /// Its version in the target now (`None`: the target sets no tag).
    pub current: Option<String>,
    /// Its version in the source: what the target gets.
    pub new: String,
    /// When it reached the source environment (a lower bound when `since_cut`).
    pub since: Option<Time>,
    pub since_cut: bool,
    /// The source environment's commit that set it.
    pub source_commit: Option<String>,
    /// The application's repository and commits, from the bumps' trailers.
    pub app_repo: Option<String>,
    pub app_from: Option<String>,
    pub app_to: Option<String>,
    pub compare_url: Option<String>,
}

/// An image not promoted, and why.
#[derive(Debug, Clone, Serialize)]
pub struct Skipped {
    pub image: String,
    pub reason: String,
}

/// One gate and whether it is met.
#[derive(Debug, Clone, Serialize)]
pub struct Gate {
    pub gate: String,
    pub met: bool,
    pub detail: String,
    /// A link (a status's target URL).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub url: Option<String>,
}

/// What a promotion did.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Status {
    /// Pushed onto the target branch.
    Promoted,
    /// Waiting in the promotion change request.
    Proposed,
    Merged,
    UpToDate,
    DryRun,
    /// A gate is not met, or the change request is not ready to merge.
    Waiting,
    /// The bump of the target refused (hold, policy, ...): its exit code is kept.
    Refused,
}

impl Status {
    /// The status word (`promoted`, `up-to-date`, ...).
    #[must_use]
    pub fn as_str(self) -> &'static str {
        match self {
            Status::Promoted => "promoted",
            Status::Proposed => "proposed",
            Status::Merged => "merged",
            Status::UpToDate => "up-to-date",
            Status::DryRun => "dry-run",
            Status::Waiting => "waiting",
            Status::Refused => "refused",
        }
    }
}

/// Which way a promotion went once both environments were read and its gates checked.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Step {
    /// The target already runs what the source runs. `no_open_promotion`: `--merge` found no
    /// open promotion change request to merge.
    NothingToPromote { no_open_promotion: bool },
    /// A gate is not met: nothing was pushed or opened.
    GatesUnmet,
    /// The bump of the target ran; `summary` is its result in one line.
    Bumped { summary: String },
}

/// What a promotion read, checked and did, as printed with `--output json`.
#[derive(Debug, Clone, Serialize)]
pub struct Promotion {
    pub status: Status,
    pub from: String,
    pub to: String,
    pub source_commit: String,
    pub images: Vec<Row>,
    pub skipped: Vec<Skipped>,
    pub gates: Vec<Gate>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub commit: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub change_request: Option<ChangeRequest>,
    /// The source environment's directory (for the description).
    #[serde(skip)]
    pub from_path: String,
    #[serde(skip)]
    pub step: Step,
    /// How the target's forge names change requests, once a merge was tried.
    #[serde(skip)]
    pub words: Option<Words>,
    #[serde(skip)]
    pub exit: Exit,
}

/// The promotion's change request.
#[derive(Debug, Clone, Serialize)]
pub struct ChangeRequest {
    pub number: u64,
    pub url: String,
    pub head_branch: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub merge: Option<Item>,
}
