//! The compare-and-swap push: the fetched tip is the expected remote value (checked in libgit2's
//! push negotiation and by the server's ref update), a server's status is told apart as a
//! conflict (someone else moved the branch) or a rejection (hook, protected branch), and over the
//! local transport ferry writes the objects and moves the branch itself under its lock.

use std::cell::{Cell, RefCell};
use std::path::Path;
use std::rc::Rc;

use git2::{ErrorCode, Oid, PushOptions, RemoteRedirect, Repository};

use super::error::message_of;
use super::limits;
use super::remote::{PUSH_REFS, proxy};
use super::{GitError, Remote};

/// Whether a push status from the server means "someone else updated the branch first".
fn is_conflict_status(status: &str) -> bool {
    let s = status.to_ascii_lowercase();
    [
        "non-fast-forward",
        "fetch first",
        "failed to lock",
        "cannot lock ref",
        "failed to update ref",
        "stale info",
        "incorrect old value",
        "but expected",
    ]
    .iter()
    .any(|needle| s.contains(needle))
}

impl Remote {
    /// Pushes `commit` to `branch` if the remote branch is at `lease` (absent when `None`);
    /// `force` allows an update that is not a fast-forward.
    pub(super) fn push_ref(
        &mut self,
        branch: &str,
        lease: Option<&str>,
        commit: &str,
        force: bool,
    ) -> Result<(), GitError> {
        let oid = Oid::from_str(commit).map_err(|e| GitError::local("pushing", &e))?;
        let expected = match lease {
            Some(lease) => Oid::from_str(lease).map_err(|e| GitError::local("pushing", &e))?,
            None => Oid::ZERO_SHA1,
        };
        let local = format!("{PUSH_REFS}{branch}");
        self.starting("pushing")?;

        self.repo
            .reference(&local, oid, true, "ferry push")
            .map_err(|e| GitError::local("preparing the push", &e))?;
        let target = format!("refs/heads/{branch}");
        // libgit2's local transport sets the branch whatever it points at by then (it compares
        // with the value it listed when it connected): there ferry writes the objects into the
        // repository and moves the branch itself, under its lock, only if it is at `lease`.
        if let Some(path) = self.url.local_path() {
            let repo = self.url.to_string();
            let result = self.push_local(&path, &target, oid, lease.map(|_| expected));
            limits::doing(None);
            return result.map_err(|e| match e {
                // Still at the lease: another writer held the branch's lock, mid-update.
                LocalUpdate::Moved(found) => GitError::Conflict {
                    repo,
                    branch: branch.to_owned(),
                    expected: lease.unwrap_or("(absent)").to_owned(),
                    found: found
                        .filter(|f| lease.is_none() || *f != expected)
                        .map(|o| o.to_string()),
                },
                LocalUpdate::Failed(e) => GitError::Local {
                    op: format!("pushing to `{branch}` of {repo}"),
                    detail: message_of(&e),
                },
            });
        }
        let refused = Rc::new(Cell::new(false));
        let moved: RefCell<Option<Oid>> = RefCell::new(None);
        let status: RefCell<Option<String>> = RefCell::new(None);
        let remote_lines: RefCell<Vec<u8>> = RefCell::new(Vec::new());
        let result = {
            let mut callbacks = self.callbacks(&refused);
            callbacks.push_negotiation(|updates| {
                for u in updates {
                    if u.dst_refname() == Ok(target.as_str()) && u.src() != expected {
                        *moved.borrow_mut() = Some(u.src());
                        return Err(git2::Error::from_str("the branch moved"));
                    }
                }
                Ok(())
            });
            callbacks.push_update_reference(|_refname, reason| {
                if let Some(reason) = reason {
                    *status.borrow_mut() = Some(reason.to_owned());
                }
                Ok(())
            });
            callbacks.sideband_progress(|data| {
                remote_lines.borrow_mut().extend_from_slice(data);
                !limits::expired()
            });
            let mut options = PushOptions::new();
            options
                .remote_callbacks(callbacks)
                .proxy_options(proxy())
                .follow_redirects(RemoteRedirect::None);
            let mut remote = self
                .repo
                .remote_anonymous(self.url.as_str())
                .map_err(|e| GitError::local("preparing the remote", &e))?;
            let refspec = format!("{}{local}:{target}", if force { "+" } else { "" });
            remote.push(&[refspec.as_str()], Some(&mut options))
        };
        limits::doing(None);
        let repo = self.url.to_string();
        let conflict = |found: Option<Oid>| GitError::Conflict {
            repo: repo.clone(),
            branch: branch.to_owned(),
            expected: lease.unwrap_or("(absent)").to_owned(),
            found: found.filter(|o| !o.is_zero()).map(|o| o.to_string()),
        };
        if let Err(e) = result {
            if moved.borrow().is_some() || e.code() == ErrorCode::NotFastForward {
                return Err(conflict(*moved.borrow()));
            }
            return Err(self.remote_error("pushing", &e, refused.get()));
        }
        if let Some(reason) = status.into_inner() {
            if is_conflict_status(&reason) {
                return Err(conflict(None));
            }
            let remote = String::from_utf8_lossy(&remote_lines.into_inner()).into_owned();
            return Err(GitError::Rejected {
                repo,
                branch: branch.to_owned(),
                reason,
                remote,
            });
        }
        tracing::debug!(branch = branch, commit, "pushed");
        Ok(())
    }
}

/// Why a branch of a local repository was not moved.
enum LocalUpdate {
    /// It is not at the expected commit (or is being updated right now): this commit, if any.
    Moved(Option<Oid>),
    Failed(git2::Error),
}

impl Remote {
    /// A push over the local transport: writes the objects of commit `oid` that the repository
    /// at `path` lacks into it as one pack (no reference of its own, which other processes'
    /// listings could trip over), then moves the branch.
    fn push_local(
        &self,
        path: &Path,
        target: &str,
        oid: Oid,
        expected: Option<Oid>,
    ) -> Result<(), LocalUpdate> {
        let remote = Repository::open(path).map_err(LocalUpdate::Failed)?;
        let odb = remote.odb().map_err(LocalUpdate::Failed)?;
        let pack = || -> Result<(), git2::Error> {
            let commit = self.repo.find_commit(oid)?;
            let mut walk = self.repo.revwalk()?;
            walk.push(oid)?;
            for parent in commit.parent_ids() {
                if odb.exists(parent) {
                    walk.hide(parent)?;
                }
            }
            let mut builder = self.repo.packbuilder()?;
            builder.insert_walk(&mut walk)?;
            let mut writer = odb.packwriter()?;
            let mut written = Ok(());
            builder.foreach(|bytes| {
                written = std::io::Write::write_all(&mut writer, bytes);
                written.is_ok() && !limits::expired()
            })?;
            written.map_err(|e| git2::Error::from_str(&e.to_string()))?;
            writer.commit()?;
            Ok(())
        };
        pack().map_err(LocalUpdate::Failed)?;
        update_local_branch(path, target, oid, expected)
    }
}

/// The compare-and-swap of a push over the local transport: in the repository at `path`, moves
/// `target` to `oid` if it is at `expected` (if it is absent when `None`), under the reference's
/// lock file as git itself does.
fn update_local_branch(
    path: &Path,
    target: &str,
    oid: Oid,
    expected: Option<Oid>,
) -> Result<(), LocalUpdate> {
    let repo = Repository::open(path).map_err(LocalUpdate::Failed)?;
    let updated = match expected {
        Some(expected) => repo.reference_matching(target, oid, true, expected, "ferry push"),
        None => repo.reference(target, oid, false, "ferry push"),
    };
    match updated {
        Ok(_) => Ok(()),
        Err(e) => match e.code() {
            ErrorCode::Modified | ErrorCode::Exists | ErrorCode::Locked | ErrorCode::NotFound => {
                Err(LocalUpdate::Moved(repo.refname_to_id(target).ok()))
            }
            _ => Err(LocalUpdate::Failed(e)),
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use git2::Signature;

    #[test]
    fn conflict_statuses_are_told_from_rejections() {
        for s in [
            "non-fast-forward",
            "fetch first",
            "failed to update ref",
            "cannot lock ref 'refs/heads/main': is at 1 but expected 2",
        ] {
            assert!(is_conflict_status(s), "{s}");
        }
        for s in [
            "pre-receive hook declined",
            "protected branch hook declined",
            "hook declined",
            "deny updating a hidden ref",
        ] {
            assert!(!is_conflict_status(s), "{s}");
        }
    }

    #[test]
    fn a_local_branch_moves_only_from_the_expected_commit() {
        let dir = tempfile::tempdir().unwrap();
        let repo = Repository::init_bare(dir.path()).unwrap();
        let empty = repo.treebuilder(None).unwrap().write().unwrap();
        let tree = repo.find_tree(empty).unwrap();
        let who = Signature::now("t", "t@example.invalid").unwrap();
        let commit = |message: &str| repo.commit(None, &who, &who, message, &tree, &[]).unwrap();
        let (a, b, c) = (commit("a"), commit("b"), commit("c"));
        let main = "refs/heads/main";
        repo.reference(main, a, false, "").unwrap();
        let at = |name: &str| repo.refname_to_id(name).ok();

        // Someone else moved main to b: the update from a is refused and says where main is.
        repo.reference(main, b, true, "").unwrap();
        match update_local_branch(dir.path(), main, c, Some(a)) {
            Err(LocalUpdate::Moved(found)) => assert_eq!(found, Some(b)),
            _ => panic!("moved from a commit it was not at"),
        }
        assert_eq!(at(main), Some(b));

        // From the commit it is at, it moves; a branch expected absent is not overwritten.
        assert!(update_local_branch(dir.path(), main, c, Some(b)).is_ok());
        assert_eq!(at(main), Some(c));
        assert!(matches!(
            update_local_branch(dir.path(), main, a, None),
            Err(LocalUpdate::Moved(Some(found))) if found == c
        ));
        assert!(update_local_branch(dir.path(), "refs/heads/new", a, None).is_ok());
        assert_eq!(at("refs/heads/new"), Some(a));
    }
}
