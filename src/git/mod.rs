//! The git layer: fetch one branch's tip, read blobs, commit a tree built in memory, and push it
//! with compare-and-swap. Commands see only the [`Store`] trait; [`Remote`] implements it with
//! libgit2.
//!
//! How it stays cheap: the fetch is single-branch and depth 1 (full history only over the local
//! transport, where libgit2 cannot fetch shallow), into a bare repository in a temporary
//! directory or a reusable `--cache-dir`; nothing is checked out; only the blobs a command asks
//! for are read; the new tree rewrites only the trees on the changed paths.
//!
//! How it stays safe: the push names the fetched tip as the expected remote value (checked in
//! libgit2's push negotiation, and again by the server's ref update; over the local transport,
//! whose push would set the branch unconditionally, ferry moves the branch itself under the
//! reference's lock), so a concurrent writer makes
//! it fail with [`GitError::Conflict`] instead of being overwritten; a server that declines the
//! update (hook, protected branch) is reported as [`GitError::Rejected`] with its own words —
//! libgit2 reports those only through the push-update callback. The token is handed to libgit2
//! through the credentials callback, never written into a URL, a config file or an error, and
//! only to the `--repo` server (scheme, host and port): fetch and push follow no redirect, and
//! the callback refuses any other server. A `--cache-dir` is trusted for nothing but hashed
//! objects: its configuration is rewritten on every open (module `cache`), and no global or
//! system git configuration is read ([`configure_limits`]).
//!
//! How it never hangs: libgit2's connect and stall timeouts and a per-command deadline
//! ([`Limits`]) end a stalled transfer with [`GitError::Stalled`] or [`GitError::Deadline`]
//! (exit 15). Temporary repositories are created 0700 and removed on SIGTERM and SIGINT too
//! (module `cleanup`).
//!
//! Modules by concern: [`Remote`] and the [`Store`] implementation (`remote`), fetching and
//! history (`fetch`), reading trees and blobs (`read`), writing a commit in memory (`commit`),
//! the compare-and-swap push (`push`), what a libgit2 failure means (`failure`), the error type
//! (`error`), and the `--cache-dir` repository (`cache`).

mod allocator;
mod auth;
mod cache;
mod cleanup;
mod commit;
mod error;
mod failure;
mod fetch;
mod limits;
mod push;
mod read;
mod remote;
pub mod sign;

use std::path::Path;

use git2::Repository;

pub use crate::repo_url::{RepoUrl, Transport, UrlSecret};
pub use auth::{Credentials, TOKEN_VARIABLES, TokenSource};
pub use cleanup::install_signal_cleanup;
pub use error::GitError;
pub use limits::{
    DEFAULT_CONNECT_SECS, DEFAULT_DEADLINE_SECS, DEFAULT_STALL_SECS, Limits,
    configure as configure_limits, limits, remaining as deadline_remaining,
};
pub use remote::Remote;
pub use sign::Signer;

/// The tip of a branch, as fetched.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Tip {
    pub branch: String,
    /// The commit id, 40 hex digits.
    pub commit: String,
}

/// A file read from a tree: its path relative to the directory asked for, and its bytes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Blob {
    pub path: String,
    pub bytes: Vec<u8>,
}

/// A file in a tree, not yet read: its path relative to the directory listed, and its blob id.
/// Equal entries have equal bytes, so what was learnt from one can be reused.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Entry {
    pub path: String,
    /// The blob id, 40 hex digits.
    pub oid: String,
}

/// One file of a new commit, by its path from the repository root: its new bytes, or `None` to
/// remove it.
pub type Edit = (String, Option<Vec<u8>>);

/// One commit of a branch's history.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CommitInfo {
    /// 40 hex digits.
    pub id: String,
    /// The parents it records (whether or not they were fetched).
    pub parents: Vec<String>,
    pub author: Identity,
    /// When it was committed (the committer's time): when the change reached the branch.
    pub time: i64,
    pub message: String,
}

/// A first-parent history, newest first.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct History {
    pub commits: Vec<CommitInfo>,
    /// Whether it stops because older commits were not fetched (rather than at the first commit
    /// or at the limit asked for).
    pub cut: bool,
}

/// Who commits.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Identity {
    pub name: String,
    pub email: String,
}

/// The operations commands need from a repository. Paths are `/`-separated and relative to the
/// repository root.
pub trait Store {
    /// Fetches the tip of `branch` (the remote's default branch when `None`).
    fn fetch(&mut self, branch: Option<&str>) -> Result<Tip, GitError>;
    /// The bytes of one file at `tip`, `None` when absent.
    fn read_file(&self, tip: &Tip, path: &str) -> Result<Option<Vec<u8>>, GitError>;
    /// The files below `dir` at `tip` whose path (relative to `dir`) passes `wanted_path`, with
    /// their blob ids; nothing is read. Symbolic links and submodules are skipped. An absent
    /// `dir` is [`GitError::NoSuchPath`].
    fn list_dir(
        &self,
        tip: &Tip,
        dir: &str,
        wanted_path: &dyn Fn(&str) -> bool,
    ) -> Result<Vec<Entry>, GitError>;
    /// The bytes of a blob listed by [`Store::list_dir`].
    fn read_blob(&self, entry: &Entry) -> Result<Vec<u8>, GitError>;
    /// Reads the blobs of `entries` (listed by [`Store::list_dir`]) and hands each to `visit`
    /// with its index in `entries`. `visit` may be called from several threads at once, in no
    /// particular order.
    fn visit_blobs(
        &self,
        entries: &[Entry],
        visit: &(dyn Fn(usize, &[u8]) + Sync),
    ) -> Result<(), GitError> {
        for (i, entry) in entries.iter().enumerate() {
            visit(i, &self.read_blob(entry)?);
        }
        Ok(())
    }
    /// The files below `dir` whose path passes `wanted_path` and whose bytes then pass
    /// `wanted_bytes`.
    fn read_dir(
        &self,
        tip: &Tip,
        dir: &str,
        wanted_path: &dyn Fn(&str) -> bool,
        wanted_bytes: &dyn Fn(&[u8]) -> bool,
    ) -> Result<Vec<Blob>, GitError> {
        let mut blobs = Vec::new();
        for entry in self.list_dir(tip, dir, wanted_path)? {
            let bytes = self.read_blob(&entry)?;
            if wanted_bytes(&bytes) {
                blobs.push(Blob {
                    path: entry.path,
                    bytes,
                });
            }
        }
        Ok(blobs)
    }
    /// Writes a commit on top of `parent` whose tree is `parent`'s with `edits` applied: a file
    /// with `Some(bytes)` is written, with `None` removed. Without a parent the commit is the
    /// first of a new branch, its tree only the written files. Returns the commit id. Nothing is
    /// pushed.
    fn commit(
        &mut self,
        parent: Option<&Tip>,
        edits: &[Edit],
        message: &str,
        identity: &Identity,
        signer: Option<&Signer>,
    ) -> Result<String, GitError>;
    /// Pushes `commit` to `tip.branch` if, and only if, the branch is still at `tip.commit`.
    fn push(&mut self, tip: &Tip, commit: &str) -> Result<(), GitError>;
    /// Sets `branch` to `commit` whatever their ancestry (a change request's branch, which is
    /// recomputed rather than extended), if, and only if, the branch is still at `lease`
    /// (absent when `None`): a force-with-lease.
    fn force_push(
        &mut self,
        branch: &str,
        lease: Option<&str>,
        commit: &str,
    ) -> Result<(), GitError>;
    /// Whether two fetched or written commits make the same change: the same tree on the same
    /// parents.
    fn same_change(&self, a: &str, b: &str) -> Result<bool, GitError>;
    /// The message of a fetched or written commit.
    fn commit_message(&self, commit: &str) -> Result<String, GitError>;
    /// Asks the remote where `branch` is now (one small round trip, no objects).
    fn remote_tip(&mut self, branch: &str) -> Result<Option<String>, GitError>;
    /// Whether fetches are shallow (depth 1).
    fn is_shallow(&self) -> bool;
    /// The first-parent history of `tip`, newest first, at most `limit` commits. A shallow
    /// fetch is deepened as needed (and only as far as needed, doubling), so the cost follows how
    /// far back the caller looks, not the repository's age.
    fn history(&mut self, tip: &Tip, limit: usize) -> Result<History, GitError>;
    /// The id of the tree or blob at `path` in `commit` (the root tree for an empty path), or
    /// `None` when absent: equal ids, equal contents.
    fn path_id(&self, commit: &str, path: &str) -> Result<Option<String>, GitError>;
    /// The repository, for messages.
    fn url(&self) -> &RepoUrl;
}

/// The branch checked out in the working tree whose root is `dir`: `None` when `dir` is not the
/// root of a git working tree (nothing is searched upwards) or its HEAD is no branch (CI
/// checkouts are often detached).
#[must_use]
pub fn checked_out_branch(dir: &Path) -> Option<String> {
    let repo = Repository::open(dir).ok()?;
    let head = repo.find_reference("HEAD").ok()?;
    let target = head.symbolic_target().ok().flatten()?;
    target.strip_prefix("refs/heads/").map(str::to_owned)
}

/// Creates an empty working tree at `dir` whose HEAD names `branch`, for tests of
/// [`checked_out_branch`]'s callers.
///
/// # Errors
/// When libgit2 cannot create the repository or set its HEAD.
#[cfg(test)]
pub(crate) fn init_working_tree(dir: &Path, branch: &str) -> Result<(), GitError> {
    let repo = Repository::init(dir).map_err(|e| GitError::local("creating a repository", &e))?;
    repo.set_head(&format!("refs/heads/{branch}"))
        .map_err(|e| GitError::local("setting HEAD", &e))
}

#[cfg(test)]
mod tests {
    use super::*;
    use git2::Signature;

    #[test]
    fn the_checked_out_branch_is_read_from_the_working_tree_root() {
        let dir = tempfile::tempdir().expect("tempdir");
        init_working_tree(dir.path(), "production").expect("init");
        assert_eq!(
            checked_out_branch(dir.path()).as_deref(),
            Some("production")
        );
        // Not a working tree's root: not searched upwards.
        let below = dir.path().join("envs");
        std::fs::create_dir(&below).expect("mkdir");
        assert_eq!(checked_out_branch(&below), None);
        // A detached HEAD is no branch.
        let repo = Repository::open(dir.path()).expect("open");
        let tree = repo
            .treebuilder(None)
            .and_then(|t| t.write())
            .expect("tree");
        let tree = repo.find_tree(tree).expect("tree");
        let who = Signature::now("t", "t@example.com").expect("signature");
        let commit = repo
            .commit(None, &who, &who, "c", &tree, &[])
            .expect("commit");
        repo.set_head_detached(commit).expect("detach");
        assert_eq!(checked_out_branch(dir.path()), None);
    }
}
