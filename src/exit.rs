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

    /// Every exit, in code order.
    pub const ALL: [Exit; 16] = [
        Exit::Done,
        Exit::Failure,
        Exit::Usage,
        Exit::NotFound,
        Exit::Refused,
        Exit::Auth,
        Exit::Conflict,
        Exit::Rejected,
        Exit::Held,
        Exit::Stale,
        Exit::Policy,
        Exit::Waiting,
        Exit::Limit,
        Exit::Failed,
        Exit::Timeout,
        Exit::Stalled,
    ];

    /// The name scripts and people know the exit by; the README's table starts each meaning
    /// with it.
    pub const fn label(self) -> &'static str {
        match self {
            Exit::Done => "done",
            Exit::Failure => "unexpected failure",
            Exit::Usage => "usage or configuration error",
            Exit::NotFound => "no reference to a requested image was found",
            Exit::Refused => "refused",
            Exit::Auth => "authentication failed",
            Exit::Conflict => "conflict",
            Exit::Rejected => "rejected",
            Exit::Held => "on hold",
            Exit::Stale => "stale",
            Exit::Policy => "tag policy",
            Exit::Waiting => "waiting",
            Exit::Limit => "limit",
            Exit::Failed => "failed",
            Exit::Timeout => "timeout",
            Exit::Stalled => "stalled",
        }
    }

    /// What the exit means, in one line for `--help` (after the label).
    pub const fn summary(self) -> &'static str {
        match self {
            Exit::Done => ", or nothing to do (already up to date)",
            Exit::Failure => " (I/O, a bug)",
            Exit::Usage => " (bad image, tag, flag or ferry.yaml)",
            Exit::NotFound => "",
            Exit::Refused => ": a reference cannot be edited safely; nothing was written",
            Exit::Auth => ": the token is missing, wrong, or may not push",
            Exit::Conflict => ": the branch kept moving; every attempt lost the compare-and-swap",
            Exit::Rejected => {
                ": the server rejected the push (protected branch, hook); not retried"
            }
            Exit::Held => ": the environment or image is held in ferry.yaml",
            Exit::Stale => ": a newer run of the same source branch already deployed this image",
            Exit::Policy => {
                ": the tag is mutable (latest, ...) or does not match the environment's policy"
            }
            Exit::Waiting => {
                ": the pull/merge request is not ready to merge, or a promotion gate is unmet; rerun later"
            }
            Exit::Limit => {
                ": the most previews alive at once (previews.max) are running; nothing was written"
            }
            Exit::Failed => ": the status `ferry wait` waited for reports failure",
            Exit::Timeout => ": `ferry wait` ran out of time with the status pending or absent",
            Exit::Stalled => {
                ": a git server stopped answering (--git-timeout), or the command's --deadline passed"
            }
        }
    }
}

/// The exit codes as `--help` lists them, one line each, from [`Exit::ALL`].
#[must_use]
pub fn help() -> String {
    let mut text = String::from("Exit codes:");
    for exit in Exit::ALL {
        text.push_str(&format!(
            "\n {:>2}  {}{}",
            exit.code(),
            exit.label(),
            exit.summary()
        ));
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_are_distinct_and_in_order() {
        for (i, exit) in Exit::ALL.iter().enumerate() {
            assert_eq!(usize::from(exit.code()), i, "{exit:?}");
        }
    }

    /// The README's exit-code table has one row per exit, in order, each meaning starting with
    /// the exit's label: the documentation cannot drift from the enum.
    #[test]
    fn the_readme_table_matches_the_enum() {
        let readme = include_str!("../README.md");
        let rows: Vec<(u8, &str)> = readme
            .lines()
            .skip_while(|l| !l.starts_with("| code | meaning |"))
            .skip(2)
            .take_while(|l| l.starts_with('|'))
            .map(|l| {
                let mut cells = l.trim_matches('|').splitn(2, '|');
                let code = cells.next().unwrap_or_default().trim();
                let meaning = cells.next().unwrap_or_default().trim();
                (code.parse().expect("a code"), meaning)
            })
            .collect();
        assert_eq!(rows.len(), Exit::ALL.len(), "{rows:?}");
        for ((code, meaning), exit) in rows.iter().zip(Exit::ALL) {
            assert_eq!(*code, exit.code(), "{meaning}");
            assert!(
                meaning.starts_with(exit.label()),
                "README row {code} should start with `{}`: {meaning}",
                exit.label()
            );
        }
        let help = help();
        assert!(help.contains(" 15  stalled: a git server"), "{help}");
        assert!(help.contains("  0  done, or nothing to do"), "{help}");
    }
}
