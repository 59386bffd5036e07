//! What `ferry check` found in an environment repository's working tree.

use serde::Serialize;

use crate::exit::Exit;

/// How serious a finding is: errors fail the check, warnings and notices do not.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    Error,
    Warning,
    /// Something that was not checked, and why.
    Notice,
}

impl Severity {
    /// The word for it, as the findings print it.
    #[must_use]
    pub fn as_str(self) -> &'static str {
        match self {
            Severity::Error => "error",
            Severity::Warning => "warning",
            Severity::Notice => "notice",
        }
    }
}

/// One problem, at a file of the working tree (relative to its root) and a line when known.
/// Serialized as `--output json` prints each finding.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Finding {
    pub level: Severity,
    pub file: String,
    pub line: Option<usize>,
    pub column: Option<usize>,
    pub message: String,
    pub hint: Option<String>,
}

/// Everything `ferry check` found, and what it looked at.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Report {
    pub findings: Vec<Finding>,
    /// Environments in `ferry.yaml`, and how many of them live on another branch.
    pub environments: usize,
    pub not_checked: usize,
    /// Templates rendered (built-in ones included).
    pub templates: usize,
    /// Errors that are files the agents and ferry refuse (a key defined twice): exit 4.
    pub refused: usize,
}

impl Report {
    /// How many findings are at `level`.
    #[must_use]
    pub fn count(&self, level: Severity) -> usize {
        self.findings.iter().filter(|f| f.level == level).count()
    }

    /// Whether nothing is wrong (warnings and notices allowed).
    #[must_use]
    pub fn passed(&self) -> bool {
        self.count(Severity::Error) == 0
    }

    /// The documented exit code: 0 when it passed, 4 when a file is one that ferry and the
    /// agents refuse, else 2.
    #[must_use]
    pub fn exit(&self) -> Exit {
        if self.passed() {
            Exit::Done
        } else if self.refused > 0 {
            Exit::Refused
        } else {
            Exit::Usage
        }
    }
}
