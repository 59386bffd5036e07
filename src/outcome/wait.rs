//! What `ferry wait` concluded: the agents' verdict on an environment repository commit.

use serde::Serialize;

use crate::config::Duration;
use crate::exit::Exit;
use crate::forge::Check;
use crate::verdict::Verdict;

/// How the wait ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum WaitState {
    /// The status succeeded (or was neutral): exit 0.
    Success,
    /// The status failed: exit 13.
    Failure,
    /// No settled verdict before the timeout: exit 14.
    Timeout,
}

impl WaitState {
    /// The word for it, as CI outputs and JSON give it.
    #[must_use]
    pub fn as_str(self) -> &'static str {
        match self {
            WaitState::Success => "success",
            WaitState::Failure => "failure",
            WaitState::Timeout => "timeout",
        }
    }

    /// The documented exit code for it.
    #[must_use]
    pub fn exit(self) -> Exit {
        match self {
            WaitState::Success => Exit::Done,
            WaitState::Failure => Exit::Failed,
            WaitState::Timeout => Exit::Timeout,
        }
    }
}

/// The end of a wait. Serialized as `--output json` prints it; the fields skipped there are
/// what the messages need.
#[derive(Debug, Clone, Serialize)]
pub struct Waited {
    pub environment: String,
    /// The commit waited on (ferry's).
    pub commit: String,
    /// The commit whose status decided (ferry's, or a later commit of the branch containing
    /// it); `None` when no matching status was found.
    pub verdict_commit: Option<String>,
    pub context: String,
    pub state: WaitState,
    pub polls: u32,
    pub statuses: Vec<Check>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub target_url: Option<String>,
    /// The verdict of the last poll.
    #[serde(skip)]
    pub verdict: Verdict,
    /// The environment repository, as people read its URL.
    #[serde(skip)]
    pub repo: String,
    /// The environment's branch.
    #[serde(skip)]
    pub branch: String,
    #[serde(skip)]
    pub timeout: Duration,
    /// How many commits were asked about: `commit` and the later commits of the branch that
    /// contain it.
    #[serde(skip)]
    pub candidates: usize,
    /// Whether `commit` was among the newest commits of the branch (else only its own
    /// statuses were read).
    #[serde(skip)]
    pub on_branch: bool,
}
