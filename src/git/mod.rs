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

mod auth;
mod cache;
mod cleanup;
mod limits;
pub mod sign;

use std::cell::{Cell, RefCell};
use std::fs::File;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::rc::Rc;

use git2::build::TreeUpdateBuilder;
use git2::{
    AutotagOption, Direction, ErrorClass, ErrorCode, FetchOptions, FileMode, ObjectType, Oid,
    ProxyOptions, PushOptions, RemoteCallbacks, RemoteRedirect, Repository, RepositoryInitOptions,
    Signature, TreeWalkMode, TreeWalkResult,
};

pub use crate::repo_url::{RepoUrl, Transport, UrlSecret};
pub use auth::{Credentials, TOKEN_VARIABLES, TokenSource};
pub use cleanup::install_signal_cleanup;
pub use limits::{
    DEFAULT_CONNECT_SECS, DEFAULT_DEADLINE_SECS, DEFAULT_STALL_SECS, Limits,
    configure as configure_limits, limits, remaining as deadline_remaining,
};
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

/// What went wrong talking to or writing the repository. Each message names the repository and
/// branch, the cause and what to do.
#[derive(Debug, thiserror::Error)]
pub enum GitError {
    #[error("{repo}: branch `{branch}` does not exist{}; pass an existing branch with --branch or set it in ferry.yaml", known_list(.known))]
    NoSuchBranch {
        repo: String,
        branch: String,
        known: Vec<String>,
    },
    #[error("`{0}` is not a valid branch name")]
    InvalidBranch(String),
    #[error(
        "{repo}: `{path}` does not exist on branch `{branch}`; check --path or the environment's `path` in ferry.yaml"
    )]
    NoSuchPath {
        repo: String,
        branch: String,
        path: String,
    },
    #[error("{repo}: authentication failed ({detail}) using {credentials}. {hint}")]
    Auth {
        repo: String,
        detail: String,
        credentials: String,
        hint: String,
    },
    #[error("{repo}: {detail}. {hint}")]
    NotFound {
        repo: String,
        detail: String,
        hint: String,
    },
    #[error("{repo}: `{branch}` moved while ferry was writing (expected {expected}, found {})", .found.as_deref().unwrap_or("a newer commit"))]
    Conflict {
        repo: String,
        branch: String,
        expected: String,
        found: Option<String>,
    },
    #[error("{repo}: the server rejected the push to `{branch}`: {reason}{}\n  hint: the branch is protected or a server hook refused the commit; ferry does not retry this. Let the bot push to `{branch}` (a bypass for its token or key), or send this environment's changes through pull requests (`update: pull-request` in ferry.yaml)", remote_text(.remote))]
    Rejected {
        repo: String,
        branch: String,
        reason: String,
        remote: String,
    },
    #[error("{repo}: network failure while {op}: {detail}")]
    Transport {
        repo: String,
        op: &'static str,
        detail: String,
    },
    #[error("{op}: {detail}")]
    Local { op: String, detail: String },
    /// The server stopped answering (or never connected) for longer than the timeout.
    #[error("{repo}: the server stalled while {op}: nothing arrived for {secs} s ({flag}). Check the git server or the network; raise {flag} if it is legitimately this slow{}", if *.op == "pushing" { ". The push either landed or not: rerun, and ferry recognises a change that landed" } else { "" })]
    Stalled {
        repo: String,
        op: &'static str,
        secs: u64,
        /// The flag that sets the timeout that fired.
        flag: &'static str,
    },
    /// The command's deadline passed.
    #[error("{repo}: the command's deadline ({secs} s, --deadline/FERRY_DEADLINE) passed {when} {op}. Raise --deadline if the run is legitimately this long, else check the git server{}", if *.op == "pushing" && *.when == "while" { ". The push either landed or not: rerun, and ferry recognises a change that landed" } else { "" })]
    Deadline {
        repo: String,
        op: &'static str,
        /// `before` or `while`.
        when: &'static str,
        secs: u64,
    },
    /// A `--cache-dir` ferry will not use.
    #[error("--cache-dir {dir}: {detail}")]
    Cache { dir: String, detail: String },
}

fn known_list(known: &[String]) -> String {
    if known.is_empty() {
        String::new()
    } else {
        let mut shown: Vec<&str> = known.iter().map(String::as_str).take(10).collect();
        if known.len() > 10 {
            shown.push("…");
        }
        format!(" (branches: {})", shown.join(", "))
    }
}

fn remote_text(remote: &str) -> String {
    let lines: Vec<&str> = remote
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .collect();
    if lines.is_empty() {
        String::new()
    } else {
        format!("\n  remote: {}", lines.join("\n  remote: "))
    }
}

impl GitError {
    /// Whether trying again (after fetching again) may succeed.
    #[must_use]
    pub fn is_retryable(&self) -> bool {
        matches!(
            self,
            GitError::Conflict { .. } | GitError::Transport { .. } | GitError::Stalled { .. }
        )
    }

    fn local(op: &str, e: &git2::Error) -> GitError {
        GitError::Local {
            op: op.to_owned(),
            detail: message_of(e),
        }
    }
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

/// What a libgit2 error says, never its empty message or "no error": libgit2 returns some
/// failures (a lookup that found nothing, a callback that gave up) with the message of the last
/// error it recorded, which may be none. Then the error's code and class say what happened.
fn message_of(e: &git2::Error) -> String {
    let message = e.message().trim();
    if !message.is_empty() && !message.eq_ignore_ascii_case("no error") {
        return message.to_owned();
    }
    let what = match e.code() {
        ErrorCode::NotFound => "something it looked for does not exist".to_owned(),
        ErrorCode::Exists => "something it would create already exists".to_owned(),
        ErrorCode::Auth => "the credentials were refused".to_owned(),
        ErrorCode::Locked => "a lock file is in the way".to_owned(),
        ErrorCode::NotFastForward => "the update is not a fast-forward".to_owned(),
        ErrorCode::User => "the operation was stopped".to_owned(),
        code => format!("it failed ({code:?})"),
    };
    format!(
        "libgit2 gave no message: {what} ({:?} error); run with -vv for details",
        e.class()
    )
}

/// A bare repository that mirrors one branch of the remote at a time.
pub struct Remote {
    repo: Repository,
    url: RepoUrl,
    credentials: Credentials,
    shallow: bool,
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
const TIP_REFS: &str = "refs/ferry/tips/";
const PUSH_REFS: &str = "refs/ferry/push/";
const HAVE_REFS: &str = "refs/ferry/have/";

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
                let name = cache_name(url.as_str());
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

    fn callbacks<'a>(&'a self, refused: &Rc<Cell<bool>>) -> RemoteCallbacks<'a> {
        let mut callbacks = RemoteCallbacks::new();
        callbacks.credentials(self.credentials.callback(Rc::clone(refused)));
        // Returning false aborts the transfer: the deadline holds inside long transfers too.
        callbacks.transfer_progress(|_| !limits::expired());
        callbacks.sideband_progress(|_| !limits::expired());
        callbacks
    }

    /// Refuses to start `op` once the deadline has passed, and records it for the watchdog.
    fn starting(&self, op: &'static str) -> Result<(), GitError> {
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

    /// Turns a libgit2 failure while talking to the remote into a [`GitError`].
    fn remote_error(&self, op: &'static str, e: &git2::Error, refused: bool) -> GitError {
        let repo = self.url.to_string();
        let message = message_of(e);
        let lower = message.to_ascii_lowercase();
        let status = http_status(&lower);
        if limits::expired() {
            return GitError::Deadline {
                repo,
                op,
                when: "while",
                secs: limits().deadline.as_secs(),
            };
        }
        // libgit2 calls a path with no repository an "unsupported URL protocol": not a network
        // failure to retry, a --repo to correct.
        if let Some(path) = self.url.local_path() {
            let detail = if !path.exists() {
                Some("the directory does not exist".to_owned())
            } else {
                Repository::open(&path)
                    .err()
                    .map(|e| format!("it is not a git repository ({})", message_of(&e)))
            };
            if let Some(detail) = detail {
                return GitError::NotFound {
                    repo,
                    detail,
                    hint: "Check --repo: the path or file:// URL of the environment repository, a bare repository (git init --bare)".to_owned(),
                };
            }
        }
        if e.code() == ErrorCode::Timeout || lower.contains("timed out") {
            let limits = limits();
            let (secs, flag) = if lower.contains("connect") {
                (limits.connect.as_secs(), "--git-connect-timeout")
            } else {
                (limits.stall.as_secs(), "--git-timeout")
            };
            return GitError::Stalled {
                repo,
                op,
                secs,
                flag,
            };
        }
        if refused && message.contains(auth::ELSEWHERE) {
            // A redirect or rewritten URL asked for the token: not a credentials problem.
            return GitError::Auth {
                repo,
                detail: message,
                credentials: self.credentials.describe(),
                hint: "The token was not sent.".to_owned(),
            };
        }
        if refused || e.code() == ErrorCode::Auth || status == Some(401) {
            let hint = if self.credentials.has_token() || self.url.transport() != Transport::Http {
                format!(
                    "The credentials are missing, expired or wrong. {}",
                    permission_hint(&self.url, op)
                )
            } else {
                format!(
                    "Set a token in FERRY_TOKEN (or GITHUB_TOKEN, GITLAB_TOKEN, CI_JOB_TOKEN). {}",
                    permission_hint(&self.url, op)
                )
            };
            return GitError::Auth {
                repo,
                detail: message,
                credentials: self.credentials.describe(),
                hint,
            };
        }
        if status == Some(403) {
            return GitError::Auth {
                repo,
                detail: format!("{message} (403: the token may not do this)"),
                credentials: self.credentials.describe(),
                hint: permission_hint(&self.url, op),
            };
        }
        if status == Some(404) || lower.contains("not found") && op == "fetching" {
            return GitError::NotFound {
                repo,
                detail: message,
                hint: "Check --repo; forges also answer 404 when the token may not read a private repository".to_owned(),
            };
        }
        if e.code() == ErrorCode::Certificate
            || e.class() == ErrorClass::Ssl && lower.contains("certificate")
        {
            return GitError::Local {
                op: format!("{op} {repo}"),
                detail: format!(
                    "{message}; the server's TLS certificate is not trusted (set SSL_CERT_FILE to the CA bundle)"
                ),
            };
        }
        let transport = matches!(
            e.class(),
            ErrorClass::Net | ErrorClass::Http | ErrorClass::Ssl | ErrorClass::Os | ErrorClass::Ssh
        ) || lower.contains("early eof")
            || lower.contains("unexpected eof")
            || lower.contains("connection")
            || lower.contains("failed to")
                && (lower.contains("send") || lower.contains("read") || lower.contains("receive"))
            || status.is_some_and(|s| s >= 500 || s == 429);
        if transport {
            return GitError::Transport {
                repo,
                op,
                detail: message,
            };
        }
        GitError::Local {
            op: format!("{op} {repo}"),
            detail: message,
        }
    }

    /// Connects for reading and hands the connection to `read` (ls-remote: no objects).
    fn connected<T>(
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

    fn default_branch(&self) -> Result<String, GitError> {
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

    fn list_branches(&self) -> Result<Vec<(String, String)>, GitError> {
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

    fn commit_of(&self, tip: &Tip) -> Result<git2::Commit<'_>, GitError> {
        let oid = Oid::from_str(&tip.commit).map_err(|e| GitError::local("reading the tip", &e))?;
        self.repo
            .find_commit(oid)
            .map_err(|e| GitError::local(&format!("reading commit {}", tip.commit), &e))
    }

    /// Fetches the tip of `branch` with `depth` commits of history (when shallow).
    fn fetch_depth(&mut self, branch: Option<&str>, depth: u32) -> Result<Tip, GitError> {
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
    fn walk(&self, commit: &str, limit: usize) -> Result<History, GitError> {
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

/// Keeps glibc's allocator from holding memory ferry no longer uses (Linux with glibc only).
///
/// Indexing a fetched pack takes about 35 MB of heap with 20,000 apps; once freed, glibc keeps it
/// (fragmented), and reading the environment's blobs then maps most of the pack on top of it:
/// `malloc_trim` after the fetch hands the free pages back, so the process's peak is the
/// indexing, not the sum of both. The threads that read blobs would each get an arena of their
/// own (about 10 MB more at the peak); one arena is enough for two or four threads that spend
/// their time inflating.
mod allocator {
    /// Called once, before any thread starts.
    pub(super) fn one_arena() {
        #[cfg(all(target_os = "linux", target_env = "gnu"))]
        // SAFETY: mallopt takes no pointer and only sets a glibc tunable.
        #[allow(unsafe_code, reason = "glibc's mallopt has no safe wrapper")]
        unsafe {
            libc::mallopt(libc::M_ARENA_MAX, 1);
        }
    }

    pub(super) fn release_freed() {
        #[cfg(all(target_os = "linux", target_env = "gnu"))]
        // SAFETY: malloc_trim takes no pointer; it walks glibc's own arenas under their locks.
        #[allow(unsafe_code, reason = "glibc's malloc_trim has no safe wrapper")]
        unsafe {
            libc::malloc_trim(0);
        }
    }
}

fn proxy() -> ProxyOptions<'static> {
    let mut proxy = ProxyOptions::new();
    proxy.auto();
    proxy
}

/// The HTTP status in a libgit2 message such as "unexpected http status code: 403".
fn http_status(lower: &str) -> Option<u16> {
    let at = lower.find("status code: ")? + "status code: ".len();
    lower[at..]
        .chars()
        .take_while(char::is_ascii_digit)
        .collect::<String>()
        .parse()
        .ok()
}

fn permission_hint(url: &RepoUrl, op: &str) -> String {
    let write = op.starts_with("push");
    if url.transport() == Transport::Ssh {
        return "Check that the SSH key (ssh-agent or FERRY_SSH_KEY) is a deploy key with write access".to_owned();
    }
    let (github, gitlab) = (
        "GitHub: a fine-grained token or GitHub App installation token with `Contents: Read and write` on this repository (the workflow's own GITHUB_TOKEN cannot push to another repository)",
        "GitLab: a project or group access token with the `write_repository` scope and at least the Developer role (CI_JOB_TOKEN can push only to its own project, when allowed)",
    );
    let need = if write { "push to" } else { "read" };
    if url.host_says_gitlab() {
        format!("The token must be able to {need} the repository. {gitlab}")
    } else if url.host_says_github() {
        format!("The token must be able to {need} the repository. {github}")
    } else {
        format!("The token must be able to {need} the repository. {github}. {gitlab}")
    }
}

/// A stable directory name for a URL in the cache: its last path component and a hash.
fn cache_name(url: &str) -> String {
    let last: String = url
        .trim_end_matches('/')
        .rsplit(['/', ':'])
        .next()
        .unwrap_or("repo")
        .chars()
        .filter(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'))
        .take(40)
        .collect();
    let last = last.trim_start_matches('.');
    // FNV-1a: stable across runs and Rust versions.
    let mut hash: u64 = 0xcbf2_9ce4_8422_2325;
    for b in url.bytes() {
        hash ^= u64::from(b);
        hash = hash.wrapping_mul(0x0100_0000_01b3);
    }
    format!(
        "{}-{hash:016x}",
        if last.is_empty() { "repo" } else { last }
    )
}

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

impl Store for Remote {
    fn fetch(&mut self, branch: Option<&str>) -> Result<Tip, GitError> {
        self.fetch_depth(branch, 1)
    }

    fn history(&mut self, tip: &Tip, limit: usize) -> Result<History, GitError> {
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

    fn path_id(&self, commit: &str, path: &str) -> Result<Option<String>, GitError> {
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

    fn read_file(&self, tip: &Tip, path: &str) -> Result<Option<Vec<u8>>, GitError> {
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

    fn list_dir(
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

    fn read_blob(&self, entry: &Entry) -> Result<Vec<u8>, GitError> {
        let odb = object_database(&self.repo)?;
        Ok(read_entry(&odb, entry)?.data().to_vec())
    }

    fn visit_blobs(
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

    fn commit(
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
        let commit = Oid::from_str(commit)
            .and_then(|oid| self.repo.find_commit(oid))
            .map_err(|e| GitError::local("reading a commit", &e))?;
        Ok(String::from_utf8_lossy(commit.message_bytes()).into_owned())
    }

    fn same_change(&self, a: &str, b: &str) -> Result<bool, GitError> {
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

    fn remote_tip(&mut self, branch: &str) -> Result<Option<String>, GitError> {
        Ok(self
            .list_branches()?
            .into_iter()
            .find(|(name, _)| name == branch)
            .map(|(_, oid)| oid))
    }

    fn is_shallow(&self) -> bool {
        self.shallow
    }

    fn url(&self) -> &RepoUrl {
        &self.url
    }
}

impl Remote {
    /// Pushes `commit` to `branch` if the remote branch is at `lease` (absent when `None`);
    /// `force` allows an update that is not a fast-forward.
    fn push_ref(
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

    #[test]
    fn http_statuses_are_read_from_libgit2_messages() {
        assert_eq!(http_status("unexpected http status code: 403"), Some(403));
        assert_eq!(
            http_status("request failed with status code: 401"),
            Some(401)
        );
        assert_eq!(http_status("early eof"), None);
    }

    #[test]
    fn a_libgit2_error_without_a_message_says_what_happened() {
        for text in ["", "no error", "No error"] {
            let e = git2::Error::new(ErrorCode::NotFound, ErrorClass::Reference, text);
            let message = message_of(&e);
            assert!(!message.to_lowercase().contains("no error"), "{message}");
            assert!(message.contains("does not exist"), "{message}");
            assert!(message.contains("Reference"), "{message}");
        }
        let e = git2::Error::new(ErrorCode::GenericError, ErrorClass::Net, "early EOF");
        assert_eq!(message_of(&e), "early EOF");
    }

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

    #[test]
    fn cache_names_are_stable_and_safe() {
        let a = cache_name("https://github.com/acme/env.git");
        assert!(a.starts_with("env.git-"), "{a}");
        assert_eq!(a, cache_name("https://github.com/acme/env.git"));
        assert_ne!(a, cache_name("https://github.com/other/env.git"));
        let b = cache_name("/srv/../..");
        assert!(!b.starts_with('.'), "{b}");
        assert!(!b.contains('/'));
    }
}
