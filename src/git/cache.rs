//! `--cache-dir`: a bare repository kept between runs, typically restored from a CI cache that
//! other jobs (fork pull requests among them) may have written. ferry trusts none of it but the
//! objects, and those only after hashing them again (strict hash verification):
//!
//! - the directory must be a real directory (not a symbolic link) owned by the current user,
//!   and the repository inside it too; the lock file is opened without following links;
//! - on every open the repository's `config` is rewritten to a fixed minimal content, so no
//!   `url.*.insteadOf`, `pushInsteadOf`, `http.proxy`, `http.extraHeader`,
//!   `http.followRedirects`, `remote.*` or `core.*` setting of the cache applies;
//! - files that make libgit2 read objects, refs or history from elsewhere are removed:
//!   `objects/info/alternates`, `objects/info/http-alternates`, `commondir`, `info/grafts`.

use std::fs::{File, OpenOptions};
use std::io::Write as _;
use std::os::unix::fs::{DirBuilderExt as _, MetadataExt as _, OpenOptionsExt as _};
use std::path::Path;

use url::Url;

use super::{GitError, RepoUrl};

/// The only configuration a cached repository keeps.
const CONFIG: &str = "[core]\n\trepositoryformatversion = 0\n\tfilemode = true\n\tbare = true\n";

/// Files of a repository that point libgit2 elsewhere.
const REMOVED: &[&str] = &[
    "objects/info/alternates",
    "objects/info/http-alternates",
    "commondir",
    "gitdir",
    "info/grafts",
];

fn refuse(dir: &Path, detail: impl Into<String>) -> GitError {
    GitError::Cache {
        dir: dir.display().to_string(),
        detail: detail.into(),
    }
}

/// Checks that `path`, when it exists, is a directory (not a link) owned by the current user.
fn check_dir(dir: &Path, path: &Path) -> Result<bool, GitError> {
    let meta = match std::fs::symlink_metadata(path) {
        Ok(meta) => meta,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(false),
        Err(e) => {
            return Err(refuse(
                dir,
                format!("cannot inspect {}: {e}", path.display()),
            ));
        }
    };
    if meta.file_type().is_symlink() {
        return Err(refuse(
            dir,
            format!(
                "{} is a symbolic link; ferry does not follow links in its cache: give a real directory (or delete the link)",
                path.display()
            ),
        ));
    }
    if !meta.is_dir() {
        return Err(refuse(
            dir,
            format!("{} is not a directory", path.display()),
        ));
    }
    let me = current_uid();
    if meta.uid() != me {
        return Err(refuse(
            dir,
            format!(
                "{} belongs to user {}, not to the user running ferry ({me}); delete it or give a directory of your own",
                path.display(),
                meta.uid()
            ),
        ));
    }
    Ok(true)
}

fn current_uid() -> u32 {
    // SAFETY: getuid takes no argument, cannot fail and touches no memory of ours.
    #[allow(unsafe_code, reason = "libc's getuid has no safe wrapper in std")]
    unsafe {
        libc::getuid()
    }
}

/// Checks (or creates, 0700) the cache directory and takes the lock of repository `name` in
/// it.
pub(super) fn prepare(dir: &Path, name: &str) -> Result<File, GitError> {
    if !check_dir(dir, dir)? {
        std::fs::DirBuilder::new()
            .recursive(true)
            .mode(0o700)
            .create(dir)
            .map_err(|e| GitError::Local {
                op: format!("creating the cache directory {}", dir.display()),
                detail: e.to_string(),
            })?;
        check_dir(dir, dir)?;
    }
    check_dir(dir, &dir.join(name))?;
    let lock_path = dir.join(format!("{name}.lock"));
    let lock = OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(false)
        .mode(0o600)
        .custom_flags(libc::O_NOFOLLOW)
        .open(&lock_path)
        .map_err(|e| {
            refuse(
                dir,
                format!(
                    "cannot open the lock {} ({e}); it must be a regular file, not a link",
                    lock_path.display()
                ),
            )
        })?;
    lock.lock().map_err(|e| GitError::Local {
        op: format!("locking {}", lock_path.display()),
        detail: e.to_string(),
    })?;
    Ok(lock)
}

/// Neutralises what a cached repository at `path` could redirect: its configuration and the
/// files that point elsewhere. Nothing to do for a repository not created yet.
pub(super) fn sanitize(path: &Path) -> Result<(), GitError> {
    if !path.join("HEAD").exists() {
        return Ok(());
    }
    let failed = |what: &Path, e: std::io::Error| GitError::Local {
        op: format!("cleaning the cached repository {}", path.display()),
        detail: format!(
            "{}: {e}; delete the directory to start afresh",
            what.display()
        ),
    };
    for name in REMOVED {
        let file = path.join(name);
        match std::fs::remove_file(&file) {
            Err(e) if e.kind() != std::io::ErrorKind::NotFound => {
                // A directory planted under that name: remove it too.
                std::fs::remove_dir_all(&file).map_err(|_| failed(&file, e))?;
            }
            _ => {}
        }
    }
    // Replaced, not edited: a link planted as `config` is removed, not followed.
    let config = path.join("config");
    match std::fs::remove_file(&config) {
        Err(e) if e.kind() != std::io::ErrorKind::NotFound => return Err(failed(&config, e)),
        _ => {}
    }
    let mut file = OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(&config)
        .map_err(|e| failed(&config, e))?;
    file.write_all(CONFIG.as_bytes())
        .map_err(|e| failed(&config, e))?;
    Ok(())
}

/// A stable directory name for a repository in the cache: the last segment of its path and a
/// hash of the URL as [`RepoUrl`] shows it (never a password: `RepoUrl` holds none).
pub(super) fn cache_name(url: &RepoUrl) -> String {
    let last: String = last_segment(url)
        .unwrap_or_default()
        .chars()
        .filter(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'))
        .take(40)
        .collect();
    let last = last.trim_start_matches('.');
    // FNV-1a: stable across runs and Rust versions.
    let mut hash: u64 = 0xcbf2_9ce4_8422_2325;
    for b in url.as_str().bytes() {
        hash ^= u64::from(b);
        hash = hash.wrapping_mul(0x0100_0000_01b3);
    }
    format!(
        "{}-{hash:016x}",
        if last.is_empty() { "repo" } else { last }
    )
}

/// The last segment of the repository's path as the `url` crate reads it (`env.git`): the
/// directory's name for a local repository, the project's last segment for the scp-like form
/// (`git@host:acme/env.git`, which is no URL).
fn last_segment(url: &RepoUrl) -> Option<String> {
    if let Some(path) = url.local_path() {
        return path
            .file_name()
            .map(|name| name.to_string_lossy().into_owned());
    }
    match Url::parse(url.as_str()) {
        Ok(parsed) => parsed
            .path_segments()?
            .rfind(|segment| !segment.is_empty())
            .map(str::to_owned),
        Err(_) => url.project()?.split('/').next_back().map(str::to_owned),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cache_names_are_stable_and_safe() {
        let name = |spec: &str| cache_name(&RepoUrl::parse(spec).expect(spec).0);
        let a = name("https://github.com/acme/env.git");
        assert!(a.starts_with("env.git-"), "{a}");
        assert_eq!(a, name("https://github.com/acme/env.git"));
        assert_ne!(a, name("https://github.com/other/env.git"));
        let b = name("/srv/../..");
        assert!(!b.starts_with('.'), "{b}");
        assert!(!b.contains('/'));
        // The hash is of the URL as shown, the token taken out: the same directory with or
        // without one.
        assert_eq!(
            a,
            name("https://x-access-token:secret@github.com/acme/env.git")
        );
        assert!(name("git@github.com:acme/env.git").starts_with("env-"));
        assert!(name("file:///srv/env.git").starts_with("env.git-"));
    }
}
