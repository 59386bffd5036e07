//! The agents' verdict on a change of the environment repository, as `ferry wait` and the
//! promotion's `require-status` gate read it.
//!
//! Argo CD notifications and Flux's notification-controller post a commit status on the
//! revision *they* synced: the branch's tip when they polled, which is ferry's commit only if
//! nothing landed after it. So the verdict on ferry's commit is read on that commit and on every
//! later commit of the branch that contains it, newest first:
//!
//! - the newest commit with a settled status (success or failure) decides;
//! - success there ends it: the deployed revision contains ferry's change;
//! - failure ends it only on the newest commit asked (nothing newer to retry with); a failure
//!   with newer commits above it is not final: agents retry, and a newer commit's success ends
//!   in success;
//! - pending statuses and commits without any status are passed over.
//!
//! [`candidates`] and [`judge`] are pure; the commands bring the history and the statuses.

use serde::Serialize;

use crate::forge::{self, Check, CheckState};
use crate::git::History;

/// How many commits of the branch, from its tip down to ferry's, are asked about: a change
/// further behind the tip than this is judged by its own commit alone.
pub const MAX_COMMITS: usize = 30;

/// The commits whose statuses speak for `commit`: newest first, from the tip of `history` down
/// to `commit` (or to the merge that brought it onto the branch, then `commit` itself).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Candidates {
    pub commits: Vec<String>,
    /// Whether `commit` was found in the branch's history read (else `commits` is `commit`
    /// alone: not on the branch, or more than [`MAX_COMMITS`] behind its tip).
    pub on_branch: bool,
}

/// The commits of `history` (a first-parent history, newest first) that contain `commit`,
/// newest first, at most [`MAX_COMMITS`] of them. A commit merged through a change request
/// sits on the branch as the merge commit: the candidates end with the merge, then `commit`.
#[must_use]
pub fn candidates(history: &History, commit: &str) -> Candidates {
    let mut commits = Vec::new();
    for info in history.commits.iter().take(MAX_COMMITS) {
        commits.push(info.id.clone());
        if info.id == commit {
            return Candidates {
                commits,
                on_branch: true,
            };
        }
        if info.parents.iter().skip(1).any(|p| p == commit) {
            commits.push(commit.to_owned());
            return Candidates {
                commits,
                on_branch: true,
            };
        }
    }
    Candidates {
        commits: vec![commit.to_owned()],
        on_branch: false,
    }
}

/// What the agents said about a change.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Verdict {
    /// `Success`, `Failure`, or `Pending` (nothing settled yet).
    pub state: CheckState,
    /// Whether the verdict is final: success, or failure on the newest commit asked.
    pub settled: bool,
    /// The commit the verdict came from: the one that decided, else the newest with a pending
    /// status, else `None` (no matching status on any commit asked).
    pub commit: Option<String>,
    /// The matching statuses on that commit.
    pub checks: Vec<Check>,
    /// How many commits were asked (newest first) before one decided.
    pub asked: usize,
}

impl Verdict {
    /// Where the verdict came from, for messages: its commit (short), and when that is not
    /// `commit` (ferry's), that it is a later commit of `branch` containing it.
    #[must_use]
    pub fn source(&self, commit: &str, branch: &str) -> String {
        match &self.commit {
            Some(c) if c != commit => format!(
                "{}, a later commit of `{branch}` that contains {}",
                short(c),
                short(commit)
            ),
            Some(c) => short(c).to_owned(),
            None => short(commit).to_owned(),
        }
    }
}

/// A commit id's first 12 digits.
#[must_use]
pub fn short(commit: &str) -> &str {
    &commit[..12.min(commit.len())]
}

/// Reads the statuses of `commits` (newest first) with `statuses` until one decides (see the
/// module documentation).
///
/// # Errors
/// The first error of `statuses`.
pub fn judge<E>(
    commits: &[String],
    mut statuses: impl FnMut(&str) -> Result<Vec<Check>, E>,
) -> Result<Verdict, E> {
    let mut pending: Option<(String, Vec<Check>)> = None;
    for (i, commit) in commits.iter().enumerate() {
        let checks = statuses(commit)?;
        if checks.is_empty() {
            continue;
        }
        match forge::overall(&checks) {
            CheckState::Pending => {
                if pending.is_none() {
                    pending = Some((commit.clone(), checks));
                }
            }
            CheckState::Failure => {
                return Ok(Verdict {
                    state: CheckState::Failure,
                    settled: i == 0,
                    commit: Some(commit.clone()),
                    checks,
                    asked: i + 1,
                });
            }
            CheckState::Success | CheckState::Neutral => {
                return Ok(Verdict {
                    state: CheckState::Success,
                    settled: true,
                    commit: Some(commit.clone()),
                    checks,
                    asked: i + 1,
                });
            }
        }
    }
    let (commit, checks) = pending.map_or((None, Vec::new()), |(c, k)| (Some(c), k));
    Ok(Verdict {
        state: CheckState::Pending,
        settled: false,
        commit,
        checks,
        asked: commits.len(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::git::{CommitInfo, Identity};

    fn info(id: &str, parents: &[&str]) -> CommitInfo {
        CommitInfo {
            id: id.to_owned(),
            parents: parents.iter().map(|p| (*p).to_owned()).collect(),
            author: Identity {
                name: "a".to_owned(),
                email: "a@example.invalid".to_owned(),
            },
            time: 0,
            message: String::new(),
        }
    }

    fn history(commits: &[(&str, &[&str])]) -> History {
        History {
            commits: commits.iter().map(|(id, p)| info(id, p)).collect(),
            cut: false,
        }
    }

    fn check(state: CheckState) -> Check {
        Check {
            name: "continuous-delivery/cart-staging".to_owned(),
            state,
            required: false,
            url: None,
        }
    }

    fn strings(v: &[&str]) -> Vec<String> {
        v.iter().map(|s| (*s).to_owned()).collect()
    }

    #[test]
    fn candidates_run_from_the_tip_down_to_the_commit() {
        let h = history(&[("c", &["b"]), ("b", &["a"]), ("a", &["0"]), ("0", &[])]);
        let c = candidates(&h, "b");
        assert_eq!(c.commits, strings(&["c", "b"]));
        assert!(c.on_branch);
        assert_eq!(candidates(&h, "c").commits, strings(&["c"]));
    }

    #[test]
    fn a_merged_head_is_reached_through_its_merge_commit() {
        // m merges the change request's head h into the branch.
        let h = history(&[("n", &["m"]), ("m", &["a", "h"]), ("a", &[])]);
        let c = candidates(&h, "h");
        assert_eq!(c.commits, strings(&["n", "m", "h"]));
        assert!(c.on_branch);
    }

    #[test]
    fn a_commit_not_on_the_branch_is_asked_alone() {
        let h = history(&[("b", &["a"]), ("a", &[])]);
        let c = candidates(&h, "x");
        assert_eq!(c.commits, strings(&["x"]));
        assert!(!c.on_branch);
        // Further back than MAX_COMMITS: the commit alone too.
        let ids: Vec<String> = (0..=MAX_COMMITS).map(|i| format!("c{i}")).collect();
        let long = History {
            commits: ids.iter().map(|id| info(id, &[])).collect(),
            cut: false,
        };
        let last = &ids[MAX_COMMITS];
        assert_eq!(candidates(&long, last).commits, vec![last.clone()]);
    }

    fn verdict(commits: &[&str], posted: &[(&str, CheckState)]) -> Verdict {
        judge::<()>(&strings(commits), |c| {
            Ok(posted
                .iter()
                .filter(|(on, _)| *on == c)
                .map(|(_, s)| check(*s))
                .collect())
        })
        .expect("no error")
    }

    #[test]
    fn success_on_a_later_commit_is_success() {
        let v = verdict(&["new", "mine"], &[("new", CheckState::Success)]);
        assert_eq!(v.state, CheckState::Success);
        assert!(v.settled);
        assert_eq!(v.commit.as_deref(), Some("new"));
        assert_eq!(v.asked, 1);
    }

    #[test]
    fn failure_then_success_on_a_later_commit_is_success() {
        let v = verdict(
            &["new", "mine"],
            &[("mine", CheckState::Failure), ("new", CheckState::Success)],
        );
        assert_eq!(v.state, CheckState::Success);
        assert_eq!(v.commit.as_deref(), Some("new"));
    }

    #[test]
    fn failure_with_nothing_newer_is_final() {
        let v = verdict(&["mine"], &[("mine", CheckState::Failure)]);
        assert_eq!(v.state, CheckState::Failure);
        assert!(v.settled);
        let v = verdict(
            &["new", "mine"],
            &[("mine", CheckState::Success), ("new", CheckState::Failure)],
        );
        assert_eq!((v.state, v.settled), (CheckState::Failure, true));
        assert_eq!(v.commit.as_deref(), Some("new"));
    }

    #[test]
    fn failure_below_a_newer_commit_waits_for_it() {
        let v = verdict(&["new", "mine"], &[("mine", CheckState::Failure)]);
        assert_eq!(v.state, CheckState::Failure);
        assert!(!v.settled);
        assert_eq!(v.commit.as_deref(), Some("mine"));
        assert_eq!(v.asked, 2);
        // A newer pending status does not hide the older verdict, nor settle it.
        let v = verdict(
            &["new", "mine"],
            &[("mine", CheckState::Failure), ("new", CheckState::Pending)],
        );
        assert_eq!((v.state, v.settled), (CheckState::Failure, false));
    }

    #[test]
    fn success_below_a_pending_commit_is_success() {
        let v = verdict(
            &["new", "mine"],
            &[("mine", CheckState::Success), ("new", CheckState::Pending)],
        );
        assert_eq!((v.state, v.settled), (CheckState::Success, true));
        assert_eq!(v.commit.as_deref(), Some("mine"));
    }

    #[test]
    fn nothing_settled_is_pending_and_names_the_newest_pending_commit() {
        let v = verdict(&["new", "mine"], &[("mine", CheckState::Pending)]);
        assert_eq!((v.state, v.settled), (CheckState::Pending, false));
        assert_eq!(v.commit.as_deref(), Some("mine"));
        let v = verdict(&["new", "mine"], &[]);
        assert_eq!(v.state, CheckState::Pending);
        assert_eq!(v.commit, None);
        assert!(v.checks.is_empty());
        assert_eq!(v.asked, 2);
    }
}
