//! What `ferry merge` concluded (and `ferry promote --merge` for its change request): one
//! [`Item`] per change request.

use serde::Serialize;

use crate::exit::Exit;
use crate::forge::{ForgeKind, Words};

/// What happened to one change request.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Status {
    Merged,
    AlreadyMerged,
    /// The forge will merge it when approvals and checks are satisfied.
    AutoMerge,
    Waiting,
    Closed,
}

impl Status {
    /// The exit code of a change request in this state.
    #[must_use]
    pub fn exit(self) -> Exit {
        match self {
            Status::Merged | Status::AlreadyMerged | Status::AutoMerge => Exit::Done,
            Status::Waiting => Exit::Waiting,
            Status::Closed => Exit::Usage,
        }
    }

    /// The status word (`merged`, `already-merged`, ...).
    #[must_use]
    pub fn as_str(self) -> &'static str {
        match self {
            Status::Merged => "merged",
            Status::AlreadyMerged => "already-merged",
            Status::AutoMerge => "auto-merge",
            Status::Waiting => "waiting",
            Status::Closed => "closed",
        }
    }
}

/// One change request's result, as printed with `--output json`.
#[derive(Debug, Clone, Serialize)]
pub struct Item {
    pub number: u64,
    pub url: String,
    pub status: Status,
    pub head_sha: String,
    /// The commit the merge made, when the forge reports it.
    pub merge_sha: Option<String>,
    /// What is missing before it can merge.
    pub missing: Vec<String>,
}

/// What `ferry merge` did, as printed with `--output json`.
#[derive(Debug, Serialize)]
pub struct Merge {
    pub forge: ForgeKind,
    pub project: String,
    pub change_requests: Vec<Item>,
    pub api_calls: u32,
    /// How the forge names change requests.
    #[serde(skip)]
    pub words: Words,
    /// The environment whose change requests were merged (`--env`), if one was named.
    #[serde(skip)]
    pub env: Option<String>,
}

impl Merge {
    /// The exit code: the worst of the change requests' (done, then waiting, then the rest).
    #[must_use]
    pub fn exit(&self) -> Exit {
        self.change_requests
            .iter()
            .map(|i| i.status.exit())
            .max_by_key(|e| match e {
                Exit::Done => 0,
                Exit::Waiting => 1,
                _ => 2,
            })
            .unwrap_or(Exit::Done)
    }
}
