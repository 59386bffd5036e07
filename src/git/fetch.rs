//! Fetching: the remote's default branch and branch list (ls-remote, no objects), the
//! single-branch fetch of a tip (depth 1 unless history is asked for, the previous tip kept so
//! that only what changed is sent), and the first-parent history, deepened only as far as asked.

use std::cell::Cell;
use std::rc::Rc;

use git2::{AutotagOption, ErrorCode, FetchOptions, Oid, RemoteRedirect, Repository};

use super::limits;
use super::remote::{HAVE_REFS, TIP_REFS, proxy};
use super::{CommitInfo, GitError, History, Identity, Remote, Tip, allocator};

impl Remote {
    pub(super) fn default_branch(&self) -> Result<String, GitError> {
        // A HEAD naming a branch that does not exist (an empty repository, or `git init --bare`
        // left at `master` while `main` was pushed) is "not found", with no message.
        let head = self.connected("reading the default branch", |c| match c.default_branch() {
            Ok(b) => Ok(Some(b.as_str().unwrap_or_default().to_owned())),
            Err(e) if e.code() == ErrorCode::NotFound => Ok(None),
            Err(e) => Err(e),
        })?;
        let Some(head) = head else {
            return Err(GitError::NotFound {
                repo: self.url.to_string(),
                detail: "its HEAD names no branch that exists (an empty repository, or HEAD at a branch never pushed), so ferry cannot tell the default branch".to_owned(),
                hint: "Name the branch with --branch (--config-branch for preview, promote, status, history, rollback and wait), or point HEAD at it: git symbolic-ref HEAD refs/heads/main".to_owned(),
            });
        };
        head.strip_prefix("refs/heads/")
            .map(str::to_owned)
            .ok_or_else(|| GitError::Local {
                op: format!("reading the default branch of {}", self.url),
                detail: format!("HEAD points at `{head}`; pass --branch"),
            })
    }

    pub(super) fn list_branches(&self) -> Result<Vec<(String, String)>, GitError> {
        self.connected("listing branches", |c| {
            Ok(c.list()?
                .iter()
                .filter_map(|h| {
                    h.name()
                        .strip_prefix("refs/heads/")
                        .map(|b| (b.to_owned(), h.oid().to_string()))
                })
                .collect())
        })
    }

    /// Fetches the tip of `branch` with `depth` commits of history (when shallow).
    pub(super) fn fetch_depth(
        &mut self,
        branch: Option<&str>,
        depth: u32,
    ) -> Result<Tip, GitError> {
        let branch = match branch {
            Some(b) => b.to_owned(),
            None => self.default_branch()?,
        };
        if !git2::Reference::is_valid_name(&format!("refs/heads/{branch}")) {
            return Err(GitError::InvalidBranch(branch));
        }
        let local = format!("{TIP_REFS}{branch}");
        if let Ok(mut stale) = self.repo.find_reference(&local) {
            if let Some(oid) = stale.target()
                && self.repo.find_commit(oid).is_ok()
            {
                // libgit2 tells the server what it has from the local refs: keep the old tip
                // reachable so that only what changed since is sent.
                self.repo
                    .reference(
                        &format!("{HAVE_REFS}{branch}"),
                        oid,
                        true,
                        "ferry: fetched before",
                    )
                    .map_err(|e| GitError::local("keeping the previous tip", &e))?;
            }
            stale
                .delete()
                .map_err(|e| GitError::local("clearing the previous tip", &e))?;
        }
        self.starting("fetching")?;
        let refused = Rc::new(Cell::new(false));
        let result = {
            let mut remote = self
                .repo
                .remote_anonymous(self.url.as_str())
                .map_err(|e| GitError::local("preparing the remote", &e))?;
            let mut options = FetchOptions::new();
            options
                .remote_callbacks(self.callbacks(&refused))
                .proxy_options(proxy())
                // Not even to another path of the same host: `--repo` is where the token goes.
                .follow_redirects(RemoteRedirect::None)
                .download_tags(AutotagOption::None)
                .update_fetchhead(false);
            // Depth 1 unless history is asked for (a force-pushed branch never drags its
            // history in); the previous tip kept under HAVE_REFS makes the server send only
            // what changed since.
            if self.shallow {
                options.depth(i32::try_from(depth).unwrap_or(i32::MAX));
            }
            let refspec = format!("+refs/heads/{branch}:{local}");
            remote.fetch(&[refspec.as_str()], Some(&mut options), None)
        };
        result.map_err(|e| self.remote_error("fetching", &e, refused.get()))?;
        limits::doing(None);
        allocator::release_freed();
        let fetched = self.repo.find_reference(&local).ok().map(|r| r.target());
        match fetched {
            Some(target) => {
                let commit = target
                    .ok_or_else(|| GitError::Local {
                        op: "reading the fetched tip".to_owned(),
                        detail: format!("{local} is symbolic"),
                    })?
                    .to_string();
                tracing::debug!(branch, commit, shallow = self.shallow, "fetched");
                Ok(Tip { branch, commit })
            }
            None => {
                let known = self
                    .list_branches()
                    .map(|b| b.into_iter().map(|(name, _)| name).collect())
                    .unwrap_or_default();
                Err(GitError::NoSuchBranch {
                    repo: self.url.to_string(),
                    branch,
                    known,
                })
            }
        }
    }

    /// The first-parent chain from `commit`, as far as it was fetched, at most `limit` long.
    pub(super) fn walk(&self, commit: &str, limit: usize) -> Result<History, GitError> {
        let mut history = History::default();
        let mut next =
            Some(Oid::from_str(commit).map_err(|e| GitError::local("reading a commit", &e))?);
        while let Some(oid) = next.take() {
            let commit = self
                .repo
                .find_commit(oid)
                .map_err(|e| GitError::local(&format!("reading commit {oid}"), &e))?;
            // The parents as recorded: libgit2 shows a commit at the shallow edge as parentless.
            let recorded = recorded_parents(&self.repo, oid)?;
            let author = commit.author();
            let info = CommitInfo {
                id: oid.to_string(),
                parents: recorded.clone(),
                author: Identity {
                    name: String::from_utf8_lossy(author.name_bytes()).into_owned(),
                    email: String::from_utf8_lossy(author.email_bytes()).into_owned(),
                },
                time: commit.committer().when().seconds(),
                message: String::from_utf8_lossy(commit.message_bytes()).into_owned(),
            };
            history.commits.push(info);
            if history.commits.len() >= limit {
                break;
            }
            if let Some(first) = recorded.first() {
                let parent =
                    Oid::from_str(first).map_err(|e| GitError::local("reading a commit", &e))?;
                if commit.parent_count() > 0 && self.repo.find_commit(parent).is_ok() {
                    next = Some(parent);
                } else {
                    history.cut = true;
                }
            }
        }
        Ok(history)
    }

    /// The first-parent history of `tip`, deepening a shallow fetch as needed: see
    /// [`Store::history`](super::Store::history).
    pub(super) fn deepened_history(
        &mut self,
        tip: &Tip,
        limit: usize,
    ) -> Result<History, GitError> {
        let mut history = self.walk(&tip.commit, limit)?;
        // Deepen by doubling (at least to what is asked), so that a long walk costs a few
        // fetches, each sending only the commits and trees not yet here.
        while history.cut && self.shallow {
            let have = history.commits.len();
            let depth = have.saturating_mul(2).max(32).min(limit);
            if depth <= have {
                break;
            }
            tracing::debug!(branch = tip.branch, depth, "deepening the fetch");
            self.fetch_depth(Some(&tip.branch), u32::try_from(depth).unwrap_or(u32::MAX))?;
            let deeper = self.walk(&tip.commit, limit)?;
            if deeper.commits.len() <= have {
                // Nothing older came (the branch moved away from `tip`, or the server's own
                // copy is shallow).
                return Ok(deeper);
            }
            history = deeper;
        }
        Ok(history)
    }

    /// Where `branch` is on the remote now: see [`Store::remote_tip`](super::Store::remote_tip).
    pub(super) fn branch_tip(&mut self, branch: &str) -> Result<Option<String>, GitError> {
        Ok(self
            .list_branches()?
            .into_iter()
            .find(|(name, _)| name == branch)
            .map(|(_, oid)| oid))
    }
}

/// The parents a commit's object records.
fn recorded_parents(repo: &Repository, oid: Oid) -> Result<Vec<String>, GitError> {
    let odb = repo
        .odb()
        .map_err(|e| GitError::local("reading a commit", &e))?;
    let object = odb
        .read(oid)
        .map_err(|e| GitError::local("reading a commit", &e))?;
    Ok(object
        .data()
        .split(|&b| b == b'\n')
        .take_while(|line| !line.is_empty())
        .filter_map(|line| line.strip_prefix(b"parent "))
        .map(|id| String::from_utf8_lossy(id).trim().to_owned())
        .collect())
}
