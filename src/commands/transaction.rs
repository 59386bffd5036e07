//! The compare-and-swap transaction every write of ferry goes through.
//!
//! An attempt fetches the branch's tip, recomputes what to write from that snapshot alone (a
//! pure plan: path → new bytes, or removal), commits, and pushes on the condition that the branch
//! is still at the fetched tip. When another writer got there first the attempt is thrown away
//! and the next one starts from the new tip, after a jittered exponential backoff: nothing is
//! rebased. A plan that finds nothing to change pushes nothing, so a rerun of a finished job is a
//! no-op.
//!
//! [`retry`] is the loop (used as is by `bump`, whose delivery through change requests has steps
//! of its own); [`transact`] is the whole transaction for commands that rewrite whole files
//! (`preview`), including a branch that does not exist yet.

use std::time::{Duration, Instant};

use super::Error;
use crate::git::{Edit, GitError, Identity, Signer, Store, Tip};

/// What one attempt of [`retry`] concluded.
pub(crate) enum Try<T> {
    /// Finished (pushed, or nothing to push): stop.
    Done(T),
    /// Lost a race or hit a network failure worth another attempt: `branch` moved or could not be
    /// reached; `slot` is how long a retry is expected to take (the backoff's unit).
    Again {
        error: GitError,
        branch: String,
        slot: Duration,
    },
}

/// Runs `attempt` (given its number, from 1) until it is done, at most `attempts` times, waiting
/// a jittered exponential backoff between attempts. Errors other than [`Try::Again`] stop at
/// once. When every attempt lost, the error names the branch, the last competing commit and what
/// to do.
pub(crate) fn retry<T>(
    store: &mut dyn Store,
    attempts: u32,
    mut attempt: impl FnMut(&mut dyn Store, u32) -> Result<Try<T>, Error>,
) -> Result<(T, u32), Error> {
    let mut last: Option<(GitError, String)> = None;
    let mut slot = Duration::from_millis(100);
    for n in 1..=attempts {
        if n > 1 {
            let wait = backoff(n, slot);
            tracing::info!(
                attempt = n,
                wait_ms = wait.as_millis() as u64,
                "retrying: {}",
                last.as_ref()
                    .map(|(e, _)| e.to_string())
                    .unwrap_or_default()
            );
            std::thread::sleep(wait);
        }
        match attempt(store, n)? {
            Try::Done(value) => return Ok((value, n)),
            Try::Again {
                error,
                branch,
                slot: next,
            } => {
                slot = next;
                last = Some((error, branch));
            }
        }
    }
    Err(gave_up(store, last, attempts))
}

/// The error after the last attempt lost: the competing commit is looked up when the push did
/// not say.
fn gave_up(store: &mut dyn Store, last: Option<(GitError, String)>, attempts: u32) -> Error {
    let (error, branch) = match last {
        Some((
            GitError::Conflict {
                repo,
                branch,
                expected,
                found: None,
            },
            _,
        )) => (
            GitError::Conflict {
                found: store.remote_tip(&branch).ok().flatten(),
                repo,
                branch: branch.clone(),
                expected,
            },
            branch,
        ),
        Some((e, branch)) => (e, branch),
        None => (
            GitError::Local {
                op: "writing".to_owned(),
                detail: "no attempt was made".to_owned(),
            },
            String::new(),
        ),
    };
    let hint = match &error {
        GitError::Conflict { found, .. } => format!(
            "\n  hint: `{branch}` changed on every attempt{}: other jobs are pushing to it continuously. Rerun the job, or raise --attempts (FERRY_ATTEMPTS)",
            found
                .as_deref()
                .map(|f| format!(" (last by commit {f})"))
                .unwrap_or_default()
        ),
        _ => "\n  hint: check the network path to the repository, then rerun the job".to_owned(),
    };
    Error::GaveUp {
        error: Box::new(error),
        attempts,
        hint,
    }
}

/// Jittered exponential backoff before attempt `attempt` (2, 3, ...): a random wait of up to
/// 2^attempt slots, where a slot is how long a retry takes (binary exponential backoff, as
/// Ethernet does: contenders spread over a window that doubles after each collision). At least
/// 10 ms, at most 30 s. Starting at 4 slots, rather than 1, trades a little latency for margin:
/// in a simulation of 32 jobs started together, the chance that any of them runs out of its 8
/// attempts fell from 0.5 % to 0.03 %.
pub(crate) fn backoff(attempt: u32, slot: Duration) -> Duration {
    let floor = Duration::from_millis(10);
    let window = crate::backoff::window(slot.max(floor), attempt, Duration::from_secs(30));
    crate::backoff::between(floor, window)
}

/// What a plan made of one snapshot of the branch.
pub(crate) enum Planned<T> {
    /// Nothing to write: the branch already says what was asked.
    Nothing(T),
    /// Write these edits in one commit with this message.
    Write {
        edits: Vec<Edit>,
        message: String,
        value: T,
    },
}

/// How a transaction writes.
pub(crate) struct Transaction<'a> {
    /// The branch written; created (as a branch of its own, without history) when absent and
    /// `create` is set.
    pub branch: &'a str,
    pub create: bool,
    pub attempts: u32,
    pub identity: &'a Identity,
    pub signer: Option<&'a Signer>,
    /// Plan and commit, but push nothing.
    pub dry_run: bool,
}

/// What a transaction did.
#[derive(Debug)]
pub(crate) struct Committed<T> {
    /// What the last plan returned.
    pub value: T,
    /// The commit pushed (or, for a dry run, made and not pushed); `None` when nothing changed.
    pub commit: Option<String>,
    pub attempts: u32,
}

/// Runs a transaction: fetch `tx.branch`, `plan` on the snapshot (`None` when the branch is
/// absent), commit and push with compare-and-swap, again from the new tip when the branch moved.
/// A push whose answer was lost is recognised on the next attempt when the branch holds its
/// commit.
pub(crate) fn transact<T>(
    store: &mut dyn Store,
    tx: &Transaction<'_>,
    mut plan: impl FnMut(&dyn Store, Option<&Tip>) -> Result<Planned<T>, Error>,
) -> Result<Committed<T>, Error> {
    // A push whose answer was lost: its commit, and what it would report.
    let mut sent: Option<(String, Committed<T>)> = None;
    let (outcome, attempts) = retry(store, tx.attempts, |store, _| {
        let started = Instant::now();
        let again = |error: GitError| Try::Again {
            error,
            branch: tx.branch.to_owned(),
            slot: started.elapsed(),
        };
        let tip = match store.fetch(Some(tx.branch)) {
            Ok(tip) => Some(tip),
            Err(GitError::NoSuchBranch { .. }) if tx.create => None,
            Err(e) if e.is_retryable() => return Ok(again(e)),
            Err(e) => return Err(e.into()),
        };
        if let Some((commit, done)) = sent.take()
            && tip.as_ref().is_some_and(|t| t.commit == commit)
        {
            return Ok(Try::Done(done));
        }
        let (edits, message, value) = match plan(store, tip.as_ref())? {
            Planned::Nothing(value) => {
                let done = Committed {
                    value,
                    commit: None,
                    attempts: 0,
                };
                return Ok(Try::Done(done));
            }
            Planned::Write {
                edits,
                message,
                value,
            } => (edits, message, value),
        };
        let commit = store.commit(tip.as_ref(), &edits, &message, tx.identity, tx.signer)?;
        let done = Committed {
            value,
            commit: Some(commit.clone()),
            attempts: 0,
        };
        if tx.dry_run {
            return Ok(Try::Done(done));
        }
        let pushed = match &tip {
            Some(tip) => store.push(tip, &commit),
            None => store.force_push(tx.branch, None, &commit),
        };
        match pushed {
            Ok(()) => {
                tracing::debug!(branch = tx.branch, commit, "pushed");
                Ok(Try::Done(done))
            }
            Err(e) if e.is_retryable() => {
                if matches!(e, GitError::Transport { .. } | GitError::Stalled { .. }) {
                    sent = Some((commit, done));
                }
                Ok(again(e))
            }
            Err(e) => Err(e.into()),
        }
    })?;
    Ok(Committed {
        attempts,
        ..outcome
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_windows_double_in_units_of_a_retry() {
        let slot = Duration::from_millis(10);
        for attempt in 2..=12 {
            let window = (10u64 << attempt).min(30_000);
            let waits: Vec<u64> = (0..50)
                .map(|_| backoff(attempt, slot).as_millis() as u64)
                .collect();
            assert!(
                waits.iter().all(|w| (10..=window).contains(w)),
                "{attempt}: {waits:?}"
            );
            assert!(waits.iter().any(|w| *w != waits[0]), "jittered: {waits:?}");
        }
        assert!(backoff(40, Duration::from_secs(10)) <= Duration::from_secs(30));
    }
}
