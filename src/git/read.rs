//! Reading what was fetched: one file, a directory's entries (listed, not read), blobs (on
//! several threads for big directories), a path's id, a commit's message, and whether two
//! commits make the same change.

use std::path::Path;

use git2::{FileMode, ObjectType, Oid, Repository, TreeWalkMode, TreeWalkResult};

use super::{Entry, GitError, Remote, Tip};

/// At most this many threads read blobs.
const READ_THREADS: usize = 4;
/// Below this many blobs per thread, another thread costs more than it saves.
const BLOBS_PER_THREAD: usize = 2_000;

/// Reads `entries` from `repo`, handing each to `visit` with `first` + its index.
fn visit_blobs_in(
    repo: &Repository,
    entries: &[Entry],
    first: usize,
    visit: &(dyn Fn(usize, &[u8]) + Sync),
) -> Result<(), GitError> {
    let odb = object_database(repo)?;
    for (i, entry) in entries.iter().enumerate() {
        visit(first + i, read_entry(&odb, entry)?.data());
    }
    Ok(())
}

fn object_database(repo: &Repository) -> Result<git2::Odb<'_>, GitError> {
    repo.odb()
        .map_err(|e| GitError::local("opening the object database", &e))
}

/// The blob of a listed entry.
fn read_entry<'o>(odb: &'o git2::Odb<'_>, entry: &Entry) -> Result<git2::OdbObject<'o>, GitError> {
    let oid = Oid::from_str(&entry.oid).map_err(|e| GitError::local("reading a blob", &e))?;
    odb.read(oid)
        .map_err(|e| GitError::local(&format!("reading {}", entry.path), &e))
}

impl Remote {
    /// The id of the tree or blob at `path` in `commit`: see [`Store::path_id`](super::Store::path_id).
    pub(super) fn id_at(&self, commit: &str, path: &str) -> Result<Option<String>, GitError> {
        let oid = Oid::from_str(commit).map_err(|e| GitError::local("reading a commit", &e))?;
        let commit = self
            .repo
            .find_commit(oid)
            .map_err(|e| GitError::local(&format!("reading commit {oid}"), &e))?;
        let tree = commit
            .tree()
            .map_err(|e| GitError::local("reading a commit's tree", &e))?;
        let path = path.trim_matches('/');
        if path.is_empty() {
            return Ok(Some(tree.id().to_string()));
        }
        Ok(tree
            .get_path(Path::new(path))
            .ok()
            .map(|e| e.id().to_string()))
    }

    /// The bytes of one file at `tip`: see [`Store::read_file`](super::Store::read_file).
    pub(super) fn file_at(&self, tip: &Tip, path: &str) -> Result<Option<Vec<u8>>, GitError> {
        let commit = self.commit_of(tip)?;
        let tree = commit
            .tree()
            .map_err(|e| GitError::local("reading the tip's tree", &e))?;
        let Ok(entry) = tree.get_path(Path::new(path)) else {
            return Ok(None);
        };
        if entry.kind() != Some(ObjectType::Blob) || entry.filemode() == i32::from(FileMode::Link) {
            return Ok(None);
        }
        let blob = self
            .repo
            .find_blob(entry.id())
            .map_err(|e| GitError::local(&format!("reading {path}"), &e))?;
        Ok(Some(blob.content().to_vec()))
    }

    /// The files below `dir` at `tip`, not read: see [`Store::list_dir`](super::Store::list_dir).
    pub(super) fn entries_below(
        &self,
        tip: &Tip,
        dir: &str,
        wanted_path: &dyn Fn(&str) -> bool,
    ) -> Result<Vec<Entry>, GitError> {
        let commit = self.commit_of(tip)?;
        let root = commit
            .tree()
            .map_err(|e| GitError::local("reading the tip's tree", &e))?;
        let dir = dir.trim_matches('/');
        let tree = if dir.is_empty() {
            root
        } else {
            let no_such = || GitError::NoSuchPath {
                repo: self.url.to_string(),
                branch: tip.branch.clone(),
                path: dir.to_owned(),
            };
            let entry = root.get_path(Path::new(dir)).map_err(|_| no_such())?;
            if entry.kind() != Some(ObjectType::Tree) {
                return Err(no_such());
            }
            self.repo
                .find_tree(entry.id())
                .map_err(|e| GitError::local(&format!("reading {dir}"), &e))?
        };
        let mut found: Vec<(String, Oid)> = Vec::new();
        tree.walk(TreeWalkMode::PreOrder, |parent, entry| {
            if entry.kind() == Some(ObjectType::Blob)
                && entry.filemode() != i32::from(FileMode::Link)
                && let Ok(name) = entry.name()
            {
                let path = format!("{parent}{name}");
                if wanted_path(&path) {
                    found.push((path, entry.id()));
                }
            }
            TreeWalkResult::Ok
        })
        .map_err(|e| GitError::local(&format!("listing {dir}"), &e))?;
        Ok(found
            .into_iter()
            .map(|(path, oid)| Entry {
                path,
                oid: oid.to_string(),
            })
            .collect())
    }

    /// The bytes of a listed blob: see [`Store::read_blob`](super::Store::read_blob).
    pub(super) fn blob_of(&self, entry: &Entry) -> Result<Vec<u8>, GitError> {
        let odb = object_database(&self.repo)?;
        Ok(read_entry(&odb, entry)?.data().to_vec())
    }

    /// Reads listed blobs on up to [`READ_THREADS`] threads: see [`Store::visit_blobs`](super::Store::visit_blobs).
    pub(super) fn visit_entries(
        &self,
        entries: &[Entry],
        visit: &(dyn Fn(usize, &[u8]) + Sync),
    ) -> Result<(), GitError> {
        // Inflating blobs is CPU-bound and the server is idle meanwhile: one thread per core,
        // each with its own handle on the repository (libgit2 shares the pack's memory windows
        // between them), each on a contiguous run of entries so that it reads the pack in order.
        let threads = std::thread::available_parallelism()
            .map_or(1, std::num::NonZero::get)
            .min(READ_THREADS)
            .min(entries.len().div_ceil(BLOBS_PER_THREAD));
        tracing::debug!(blobs = entries.len(), threads, "reading");
        if threads <= 1 {
            return visit_blobs_in(&self.repo, entries, 0, visit);
        }
        let chunk = entries.len().div_ceil(threads);
        let path = self.repo.path();
        std::thread::scope(|scope| {
            let others: Vec<_> = entries
                .chunks(chunk)
                .enumerate()
                .skip(1)
                .map(|(n, part)| {
                    scope.spawn(move || {
                        let repo = Repository::open_bare(path)
                            .map_err(|e| GitError::local("opening the repository again", &e))?;
                        visit_blobs_in(&repo, part, n * chunk, visit)
                    })
                })
                .collect();
            let mut result = visit_blobs_in(&self.repo, &entries[..chunk], 0, visit);
            for other in others {
                let other = other
                    .join()
                    .unwrap_or_else(|panic| std::panic::resume_unwind(panic));
                result = result.and(other);
            }
            result
        })
    }

    /// The message of a commit: see [`Store::commit_message`](super::Store::commit_message).
    pub(super) fn message_at(&self, commit: &str) -> Result<String, GitError> {
        let commit = Oid::from_str(commit)
            .and_then(|oid| self.repo.find_commit(oid))
            .map_err(|e| GitError::local("reading a commit", &e))?;
        Ok(String::from_utf8_lossy(commit.message_bytes()).into_owned())
    }

    /// Whether two commits make the same change: see [`Store::same_change`](super::Store::same_change).
    pub(super) fn same_tree_and_parents(&self, a: &str, b: &str) -> Result<bool, GitError> {
        // The tree and parents as the objects record them: a commit at the edge of a shallow
        // fetch has no parents as far as libgit2's commit API is concerned.
        let header = |id: &str| -> Result<Vec<Vec<u8>>, GitError> {
            let odb = self
                .repo
                .odb()
                .map_err(|e| GitError::local("reading a commit", &e))?;
            let object = Oid::from_str(id)
                .and_then(|oid| odb.read(oid))
                .map_err(|e| GitError::local("reading a commit", &e))?;
            Ok(object
                .data()
                .split(|&b| b == b'\n')
                .take_while(|line| !line.is_empty())
                .filter(|line| line.starts_with(b"tree ") || line.starts_with(b"parent "))
                .map(<[u8]>::to_vec)
                .collect())
        };
        Ok(header(a)? == header(b)?)
    }
}
