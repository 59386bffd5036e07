//! What `ferry preview up|down|list|gc` concluded. The `*Report` types are the JSON each prints
//! with `--output json`; the types around them add what the text, the comment and the step
//! summary need besides.

use serde::Serialize;

use crate::forge::{CrState, ForgeKind};
use crate::preview::{Meta, PreviewContext};

/// What one `ferry preview` command concluded.
#[derive(Debug)]
pub enum Outcome {
    Up(Box<Up>),
    Down(DownReport),
    List(ListReport),
    Gc(GcReport),
}

// ---------------------------------------------------------------------------------------------
// up

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum UpStatus {
    Created,
    Updated,
    /// Same content; the expiry was renewed.
    Renewed,
    Unchanged,
    DryRun,
    /// The change request is closed or merged: no preview.
    ChangeRequestClosed,
}

impl UpStatus {
    #[must_use]
    pub fn as_str(self) -> &'static str {
        match self {
            UpStatus::Created => "created",
            UpStatus::Updated => "updated",
            UpStatus::Renewed => "renewed",
            UpStatus::Unchanged => "unchanged",
            UpStatus::DryRun => "dry-run",
            UpStatus::ChangeRequestClosed => "change-request-closed",
        }
    }
}

/// `ferry preview up --output json`.
#[derive(Debug, Clone, Serialize)]
pub struct UpReport {
    pub status: UpStatus,
    pub name: String,
    pub slug: String,
    pub namespace: String,
    pub release: String,
    pub file: String,
    pub branch: String,
    pub url: Option<String>,
    pub commit: Option<String>,
    pub change_request: Option<u64>,
    pub updated_at: String,
    pub expires_at: String,
    /// Previews removed to make room (previews.on-max: evict-oldest).
    pub evicted: Vec<String>,
    pub attempts: u32,
}

/// What `up` did: a preview written (or found up to date), or none for a closed change request.
#[derive(Debug, Clone)]
pub struct Up {
    pub report: UpReport,
    pub result: UpResult,
}

#[derive(Debug, Clone)]
pub enum UpResult {
    /// The change request is not open: no preview was written.
    Closed {
        forge: ForgeKind,
        number: u64,
        state: CrState,
    },
    /// The preview as rendered.
    Live {
        /// The forge of the change request (its words name it in the comment).
        forge: ForgeKind,
        /// The context the file was rendered from.
        context: Box<PreviewContext>,
        /// The rendered file.
        text: String,
        /// `previews.max`, which evictions kept to.
        max: Option<u32>,
    },
}

// ---------------------------------------------------------------------------------------------
// down

/// `ferry preview down --output json`.
#[derive(Debug, Clone, Serialize)]
pub struct DownReport {
    /// `removed`, `absent` (nothing to do) or `dry-run`.
    pub status: &'static str,
    pub name: String,
    pub slug: String,
    pub file: String,
    pub branch: String,
    pub commit: Option<String>,
    pub attempts: u32,
}

// ---------------------------------------------------------------------------------------------
// list

/// A preview found on the branch.
#[derive(Debug, Clone, Serialize)]
pub struct Live {
    pub slug: String,
    pub file: String,
    #[serde(flatten)]
    pub meta: Meta,
}

/// `ferry preview list --output json`.
#[derive(Debug, Clone, Serialize)]
pub struct ListReport {
    pub branch: String,
    pub directory: String,
    /// The branch's tip (`None`: the branch does not exist yet).
    pub commit: Option<String>,
    pub previews: Vec<Listed>,
    /// Files in the directory that are not previews of ferry's, with why.
    pub other_files: Vec<OtherFile>,
}

#[derive(Debug, Clone, Serialize)]
pub struct Listed {
    #[serde(flatten)]
    pub live: Live,
    pub expired: bool,
}

/// A file of the preview directory that is not a preview of ferry's, and why.
#[derive(Debug, Clone, Serialize)]
pub struct OtherFile {
    pub file: String,
    pub reason: String,
}

// ---------------------------------------------------------------------------------------------
// gc

/// A preview `gc` removed, and why.
#[derive(Debug, Clone, Serialize)]
pub struct Collected {
    pub slug: String,
    pub file: String,
    pub name: String,
    pub change_request: Option<u64>,
    pub reason: String,
}

/// `ferry preview gc --output json`.
#[derive(Debug, Clone, Serialize)]
pub struct GcReport {
    /// `removed`, `nothing` or `dry-run`.
    pub status: &'static str,
    pub branch: String,
    pub commit: Option<String>,
    pub removed: Vec<Collected>,
    pub kept: usize,
    pub attempts: u32,
}
