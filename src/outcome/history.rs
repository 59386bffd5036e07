//! What `ferry history` found: the image changes of one environment, newest first.

use serde::Serialize;

use crate::history::Change;

/// The changes read from an environment branch's commits. Serialized as `--output json`
/// prints it.
#[derive(Debug, Clone, Serialize)]
pub struct History {
    pub environment: String,
    pub branch: String,
    pub path: String,
    pub changes: Vec<Change>,
    /// Whether older history exists that was not read.
    pub cut: bool,
    pub commits_read: usize,
    /// The oldest commit read and its time (Unix seconds), when any was.
    #[serde(skip)]
    pub oldest: Option<(String, i64)>,
}
