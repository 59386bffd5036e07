//! Writing a commit in memory: the parent's tree with the edits applied (only the trees on the
//! changed paths are rewritten), an executable file kept executable, signed when a [`Signer`]
//! is given. Nothing is checked out and nothing is pushed.

use std::path::Path;

use git2::build::TreeUpdateBuilder;
use git2::{FileMode, Signature};

use super::error::message_of;
use super::{Edit, GitError, Identity, Remote, Signer, Tip};

impl Remote {
    /// Writes a commit on `parent` with `edits` applied: see [`Store::commit`](super::Store::commit).
    pub(super) fn write_commit(
        &mut self,
        parent: Option<&Tip>,
        edits: &[Edit],
        message: &str,
        identity: &Identity,
        signer: Option<&Signer>,
    ) -> Result<String, GitError> {
        let parent_commit = parent.map(|tip| self.commit_of(tip)).transpose()?;
        let base = match &parent_commit {
            Some(commit) => commit
                .tree()
                .map_err(|e| GitError::local("reading the tip's tree", &e))?,
            None => {
                let empty = self
                    .repo
                    .treebuilder(None)
                    .and_then(|builder| builder.write())
                    .map_err(|e| GitError::local("writing an empty tree", &e))?;
                self.repo
                    .find_tree(empty)
                    .map_err(|e| GitError::local("reading an empty tree", &e))?
            }
        };
        let mut update = TreeUpdateBuilder::new();
        for (path, bytes) in edits {
            let Some(bytes) = bytes else {
                update.remove(path.as_str());
                continue;
            };
            let blob = self
                .repo
                .blob(bytes)
                .map_err(|e| GitError::local(&format!("writing {path}"), &e))?;
            let mode = match base.get_path(Path::new(path)) {
                Ok(entry) if entry.filemode() == i32::from(FileMode::BlobExecutable) => {
                    FileMode::BlobExecutable
                }
                _ => FileMode::Blob,
            };
            update.upsert(path.as_str(), blob, mode);
        }
        let tree_id = update
            .create_updated(&self.repo, &base)
            .map_err(|e| GitError::local("building the new tree", &e))?;
        let tree = self
            .repo
            .find_tree(tree_id)
            .map_err(|e| GitError::local("reading the new tree", &e))?;
        let parents: Vec<&git2::Commit<'_>> = parent_commit.iter().collect();
        let signature = Signature::now(&identity.name, &identity.email).map_err(|e| {
            GitError::Local {
                op: "making the commit signature".to_owned(),
                detail: format!(
                    "{}; check the author name and e-mail (commit.author in ferry.yaml, --author-name, --author-email)",
                    message_of(&e)
                ),
            }
        })?;
        let oid = match signer {
            None => self
                .repo
                .commit(None, &signature, &signature, message, &tree, &parents)
                .map_err(|e| GitError::local("writing the commit", &e))?,
            Some(signer) => {
                let buffer = self
                    .repo
                    .commit_create_buffer(&signature, &signature, message, &tree, &parents)
                    .map_err(|e| GitError::local("preparing the commit", &e))?;
                let text = buffer.as_str().map_err(|_| GitError::Local {
                    op: "preparing the commit".to_owned(),
                    detail: "the commit is not UTF-8".to_owned(),
                })?;
                let signature = signer.sign(text.as_bytes()).map_err(|e| GitError::Local {
                    op: "signing the commit".to_owned(),
                    detail: e.to_string(),
                })?;
                self.repo
                    .commit_signed(text, &signature, None)
                    .map_err(|e| GitError::local("writing the signed commit", &e))?
            }
        };
        Ok(oid.to_string())
    }
}
