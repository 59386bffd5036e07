//! [`Remote`]: the bare repository that mirrors one branch of the remote at a time, how it is
//! opened (a temporary directory or `--cache-dir`), how a connection to the server starts
//! (credentials callback, proxy, deadline), and its [`Store`] implementation, whose work is done
//! in the modules `fetch`, `read`, `commit` and `push`.

use std::cell::Cell;
use std::fs::File;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::rc::Rc;

use git2::{Direction, Oid, ProxyOptions, RemoteCallbacks, Repository, RepositoryInitOptions};

use super::error::message_of;
use super::limits::{self, limits};
use super::{
    Credentials, Edit, Entry, GitError, History, Identity, RepoUrl, Signer, Store, Tip, allocator,
    cache, cleanup,
};

/// A bare repository that mirrors one branch of the remote at a time.
pub struct Remote {
    pub(super) repo: Repository,
    pub(super) url: RepoUrl,
    pub(super) credentials: Credentials,
    pub(super) shallow: bool,
    /// Holds the temporary directory (deleted on drop) or the cache lock (released on drop).
    _keep: Keep,
}

#[allow(dead_code)]
enum Keep {
    Temp(Temp),
    Cache(File),
}

/// A temporary directory, registered for removal on SIGTERM/SIGINT while it lives.
struct Temp(tempfile::TempDir);

impl Drop for Temp {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(self.0.path());
        cleanup::unregister(self.0.path());
    }
}

/// Refs ferry keeps in its bare repository.
pub(super) const TIP_REFS: &str = "refs/ferry/tips/";
pub(super) const PUSH_REFS: &str = "refs/ferry/push/";
pub(super) const HAVE_REFS: &str = "refs/ferry/have/";

impl Remote {
    /// Prepares a bare repository for `url`: in a new temporary directory, or in `cache_dir`
    /// (created if needed, reused across runs, locked while in use).
    pub fn open(
        url: RepoUrl,
        credentials: Credentials,
        cache_dir: Option<&Path>,
    ) -> Result<Remote, GitError> {
        let (path, keep) = match cache_dir {
            None => {
                // 0700: the repository holds the environment's files, readable by no one else.
                let dir = tempfile::Builder::new()
                    .prefix("ferry-")
                    .permissions(std::fs::Permissions::from_mode(0o700))
                    .tempdir()
                    .map_err(|e| GitError::Local {
                        op: "creating a temporary directory".to_owned(),
                        detail: e.to_string(),
                    })?;
                cleanup::register(dir.path());
                (dir.path().join("repo.git"), Keep::Temp(Temp(dir)))
            }
            Some(dir) => {
                let name = cache::cache_name(&url);
                let lock = cache::prepare(dir, &name)?;
                (dir.join(name), Keep::Cache(lock))
            }
        };
        // Objects were hashed when the fetched pack was indexed, and ferry's own objects refer
        // only to objects it just read or wrote: checking again costs time and proves nothing.
        git2::opts::strict_hash_verification(false);
        git2::opts::strict_object_creation(false);
        // Each tree and commit is read once or twice: libgit2's object cache (up to 256 MB) would
        // only hold on to them; with 20,000 apps it held about 45 MB at the push.
        git2::opts::enable_caching(false);
        allocator::one_arena();
        if cache_dir.is_some() {
            // A restored CI cache may have been written by anyone who could write the cache:
            // hash every object read from it, and neutralise its configuration.
            git2::opts::strict_hash_verification(true);
            cache::sanitize(&path)?;
        }
        let repo = if path.join("HEAD").exists() {
            Repository::open_bare(&path).map_err(|e| GitError::Local {
                op: format!("opening the cached repository {}", path.display()),
                detail: format!("{}; delete the directory to start afresh", message_of(&e)),
            })?
        } else {
            let mut options = RepositoryInitOptions::new();
            options.bare(true).mkpath(true);
            Repository::init_opts(&path, &options)
                .map_err(|e| GitError::local(&format!("creating {}", path.display()), &e))?
        };
        Ok(Remote {
            repo,
            shallow: url.can_fetch_shallow(),
            url,
            credentials,
            _keep: keep,
        })
    }

    /// The directory of the bare repository.
    #[must_use]
    pub fn path(&self) -> PathBuf {
        self.repo.path().to_path_buf()
    }

    pub(super) fn callbacks<'a>(&'a self, refused: &Rc<Cell<bool>>) -> RemoteCallbacks<'a> {
        let mut callbacks = RemoteCallbacks::new();
        callbacks.credentials(self.credentials.callback(Rc::clone(refused)));
        // Returning false aborts the transfer: the deadline holds inside long transfers too.
        callbacks.transfer_progress(|_| !limits::expired());
        callbacks.sideband_progress(|_| !limits::expired());
        callbacks
    }

    /// Refuses to start `op` once the deadline has passed, and records it for the watchdog.
    pub(super) fn starting(&self, op: &'static str) -> Result<(), GitError> {
        if limits::expired() {
            return Err(GitError::Deadline {
                repo: self.url.to_string(),
                op,
                when: "before",
                secs: limits().deadline.as_secs(),
            });
        }
        limits::doing(Some(format!("{op} {}", self.url)));
        Ok(())
    }

    /// Connects for reading and hands the connection to `read` (ls-remote: no objects).
    pub(super) fn connected<T>(
        &self,
        op: &'static str,
        read: impl FnOnce(&git2::RemoteConnection<'_, '_, '_>) -> Result<T, git2::Error>,
    ) -> Result<T, GitError> {
        self.starting(op)?;
        let refused = Rc::new(Cell::new(false));
        let mut remote = self
            .repo
            .remote_anonymous(self.url.as_str())
            .map_err(|e| GitError::local("preparing the remote", &e))?;
        let callbacks = self.callbacks(&refused);
        let connection = remote
            .connect_auth(Direction::Fetch, Some(callbacks), Some(proxy()))
            .map_err(|e| self.remote_error(op, &e, refused.get()))?;
        let read = read(&connection).map_err(|e| self.remote_error(op, &e, refused.get()));
        limits::doing(None);
        read
    }

    pub(super) fn commit_of(&self, tip: &Tip) -> Result<git2::Commit<'_>, GitError> {
        let oid = Oid::from_str(&tip.commit).map_err(|e| GitError::local("reading the tip", &e))?;
        self.repo
            .find_commit(oid)
            .map_err(|e| GitError::local(&format!("reading commit {}", tip.commit), &e))
    }
}

pub(super) fn proxy() -> ProxyOptions<'static> {
    let mut proxy = ProxyOptions::new();
    proxy.auto();
    proxy
}

impl Store for Remote {
    fn fetch(&mut self, branch: Option<&str>) -> Result<Tip, GitError> {
        self.fetch_depth(branch, 1)
    }

    fn history(&mut self, tip: &Tip, limit: usize) -> Result<History, GitError> {
        self.deepened_history(tip, limit)
    }

    fn path_id(&self, commit: &str, path: &str) -> Result<Option<String>, GitError> {
        self.id_at(commit, path)
    }

    fn read_file(&self, tip: &Tip, path: &str) -> Result<Option<Vec<u8>>, GitError> {
        self.file_at(tip, path)
    }

    fn list_dir(
        &self,
        tip: &Tip,
        dir: &str,
        wanted_path: &dyn Fn(&str) -> bool,
    ) -> Result<Vec<Entry>, GitError> {
        self.entries_below(tip, dir, wanted_path)
    }

    fn read_blob(&self, entry: &Entry) -> Result<Vec<u8>, GitError> {
        self.blob_of(entry)
    }

    fn visit_blobs(
        &self,
        entries: &[Entry],
        visit: &(dyn Fn(usize, &[u8]) + Sync),
    ) -> Result<(), GitError> {
        self.visit_entries(entries, visit)
    }

    fn commit(
        &mut self,
        parent: Option<&Tip>,
        edits: &[Edit],
        message: &str,
        identity: &Identity,
        signer: Option<&Signer>,
    ) -> Result<String, GitError> {
        self.write_commit(parent, edits, message, identity, signer)
    }

    fn push(&mut self, tip: &Tip, commit: &str) -> Result<(), GitError> {
        self.push_ref(&tip.branch, Some(&tip.commit), commit, false)
    }

    fn force_push(
        &mut self,
        branch: &str,
        lease: Option<&str>,
        commit: &str,
    ) -> Result<(), GitError> {
        if !git2::Reference::is_valid_name(&format!("refs/heads/{branch}")) {
            return Err(GitError::InvalidBranch(branch.to_owned()));
        }
        self.push_ref(branch, lease, commit, true)
    }

    fn commit_message(&self, commit: &str) -> Result<String, GitError> {
        self.message_at(commit)
    }

    fn same_change(&self, a: &str, b: &str) -> Result<bool, GitError> {
        self.same_tree_and_parents(a, b)
    }

    fn remote_tip(&mut self, branch: &str) -> Result<Option<String>, GitError> {
        self.branch_tip(branch)
    }

    fn is_shallow(&self) -> bool {
        self.shallow
    }

    fn url(&self) -> &RepoUrl {
        &self.url
    }
}
