//! The exit-code contract. Scripts branch on these numbers; they never change meaning.

/// Why ferry stopped. Each variant maps to one documented process exit code.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Exit {
    /// The work is done, or there was nothing to do (already up to date).
    Done,
    /// An unexpected failure: I/O, a bug. The message says what happened.
    Failure,
    /// The command line or `ferry.yaml` is wrong (bad image, bad tag, unknown key). Fix the input.
    Usage,
    /// No reference to a requested image was found. The message lists the closest names.
    NotFound,
    /// A reference was found that ferry will not edit safely (block scalar, shared anchor,
    /// template, unparsable file). Nothing was written; the message says where and why.
    /// Also: a file or directory to read is a symbolic link leading outside the repository, or
    /// a YAML file's name holds a control character; and `ferry check` found a key defined
    /// twice in one mapping.
    Refused,
    /// The token is missing, wrong, or may not do what was asked. The message names the
    /// permission.
    Auth,
    /// The branch kept moving: every attempt lost the compare-and-swap. The message names the
    /// competing commit.
    Conflict,
    /// The server declined the push (protected branch, hook). Not retried; the message carries
    /// the server's words.
    Rejected,
    /// The environment or the image is on hold in `ferry.yaml`.
    Held,
    /// A newer run of the same source branch already deployed the image (the stale-write guard).
    Stale,
    /// The tag is refused by the environment's tag policy (mutable tags, `tags:` expression).
    Policy,
    /// The change request is not ready to merge yet (approvals, checks, or the forge will merge
    /// it by itself): nothing failed, rerun later. The message says what is missing.
    Waiting,
    /// The most previews alive at once (`previews.max`) are running, and `previews.on-max` says
    /// fail: nothing was written.
    Limit,
    /// The agents reported failure: the commit status waited for (`ferry wait`) failed.
    Failed,
    /// Nothing decided in time: `ferry wait` timed out with the status still pending or absent.
    Timeout,
    /// A git server stalled past `--git-timeout` (or never connected within
    /// `--git-connect-timeout`), or the command's `--deadline` passed. The message names the
    /// operation; a push in flight either landed or not, and a rerun recognises it.
    Stalled,
}

impl Exit {
    /// The process exit code.
    pub const fn code(self) -> u8 {
        match self {
            Exit::Done => 0,
            Exit::Failure => 1,
            Exit::Usage => 2,
            Exit::NotFound => 3,
            Exit::Refused => 4,
            Exit::Auth => 5,
            Exit::Conflict => 6,
            Exit::Rejected => 7,
            Exit::Held => 8,
            Exit::Stale => 9,
            Exit::Policy => 10,
            Exit::Waiting => 11,
            Exit::Limit => 12,
            Exit::Failed => 13,
            Exit::Timeout => 14,
            Exit::Stalled => 15,
        }
    }
}
