#![allow(dead_code)]
//! Building and reading bare repositories with the git CLI, isolated from the caller's git
//! configuration and environment, with a fixed author, committer and date so that the same
//! steps always give the same object ids.
//!
//! Only `std` is used.

use std::collections::BTreeMap;
use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::sync::atomic::{AtomicU64, Ordering};

/// Author and committer name of every commit made through this module.
pub const AUTHOR_NAME: &str = "Ferry Test";
/// Author and committer e-mail of every commit made through this module.
pub const AUTHOR_EMAIL: &str = "ferry-test@example.invalid";
/// Author and committer date of every commit made through this module (2024-01-01 UTC).
pub const DATE: &str = "1704067200 +0000";

/// A `git` command run in `dir`, isolated: no inherited `GIT_*` variable, no system or
/// global config (`GIT_CONFIG_NOSYSTEM=1`, `GIT_CONFIG_GLOBAL=/dev/null`), no credential
/// prompt (`GIT_TERMINAL_PROMPT=0`), English messages (`LC_ALL=C`), and the fixed identity
/// and date above.
pub fn git_command(dir: &Path) -> Command {
    let mut cmd = Command::new("git");
    for (key, _) in std::env::vars_os() {
        if key.to_string_lossy().starts_with("GIT_") {
            cmd.env_remove(&key);
        }
    }
    cmd.current_dir(dir)
        .env_remove("SSH_ASKPASS")
        .env("GIT_CONFIG_NOSYSTEM", "1")
        .env("GIT_CONFIG_GLOBAL", "/dev/null")
        .env("GIT_TERMINAL_PROMPT", "0")
        .env("GIT_AUTHOR_NAME", AUTHOR_NAME)
        .env("GIT_AUTHOR_EMAIL", AUTHOR_EMAIL)
        .env("GIT_AUTHOR_DATE", DATE)
        .env("GIT_COMMITTER_NAME", AUTHOR_NAME)
        .env("GIT_COMMITTER_EMAIL", AUTHOR_EMAIL)
        .env("GIT_COMMITTER_DATE", DATE)
        .env("LC_ALL", "C")
        .stdin(Stdio::null());
    cmd
}

/// Runs `git args...` in `dir` (see [`git_command`]) and returns its output, whatever the
/// exit status.
pub fn git_output(dir: &Path, args: &[&str]) -> Output {
    git_command(dir)
        .args(args)
        .output()
        .unwrap_or_else(|e| panic!("cannot run git {args:?}: {e}"))
}

/// Runs `git args...` in `dir`; `Ok(stdout)` on success, `Err(stderr)` on failure.
pub fn try_git(dir: &Path, args: &[&str]) -> Result<String, String> {
    let out = git_output(dir, args);
    if out.status.success() {
        Ok(String::from_utf8_lossy(&out.stdout).into_owned())
    } else {
        Err(String::from_utf8_lossy(&out.stderr).into_owned())
    }
}

/// Runs `git args...` in `dir` (see [`git_command`]), panicking with its stderr on failure;
/// returns stdout.
pub fn git(dir: &Path, args: &[&str]) -> String {
    try_git(dir, args)
        .unwrap_or_else(|stderr| panic!("git {args:?} in {} failed:\n{stderr}", dir.display()))
}

/// Runs `git args...` in `dir` with `input` on stdin, panicking with its stderr on failure;
/// returns stdout as bytes.
pub fn git_with_input(dir: &Path, args: &[&str], input: &[u8]) -> Vec<u8> {
    run_with_input(git_command(dir), dir, args, input)
}

/// Runs `cmd args...` (a git command prepared for `dir`) with `input` on stdin, panicking with
/// its stderr on failure; returns stdout as bytes.
fn run_with_input(mut cmd: Command, dir: &Path, args: &[&str], input: &[u8]) -> Vec<u8> {
    let mut child = cmd
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("cannot run git {args:?}: {e}"));
    let mut stdin = child.stdin.take().expect("piped stdin");
    let out = std::thread::scope(|s| {
        s.spawn(move || {
            // A git that exits early closes its stdin: its exit status tells why.
            let _ = stdin.write_all(input);
        });
        child.wait_with_output()
    })
    .unwrap_or_else(|e| panic!("git {args:?}: {e}"));
    if !out.status.success() {
        panic!(
            "git {args:?} in {} failed:\n{}",
            dir.display(),
            String::from_utf8_lossy(&out.stderr)
        );
    }
    out.stdout
}

/// Creates `root/name` as a bare repository whose `HEAD` is `branch`, with one commit
/// ("Initial commit") on `branch` holding exactly `files` (relative `/`-separated paths,
/// directories created as needed, mode 100644). Returns the repository's path.
pub fn bare_repo(root: &Path, name: &str, branch: &str, files: &[(&str, &[u8])]) -> PathBuf {
    let repo = root.join(name);
    std::fs::create_dir_all(&repo).unwrap_or_else(|e| panic!("mkdir {}: {e}", repo.display()));
    git(
        &repo,
        &["init", "--quiet", "--bare", "--initial-branch", branch],
    );
    let files: Vec<(&str, Option<&[u8]>)> = files.iter().map(|&(p, b)| (p, Some(b))).collect();
    commit_files(&repo, branch, &files, "Initial commit");
    repo
}

/// Adds one commit on top of `branch` of the bare repository `repo` (a root commit when the
/// branch does not exist yet): each `(path, Some(bytes))` writes a file, each
/// `(path, None)` deletes one. Works with plumbing on a temporary index, no work tree. The
/// branch moves with a compare-and-swap, so a concurrent update of it makes this panic.
/// Returns the new commit's id.
pub fn commit_files(
    repo: &Path,
    branch: &str,
    files: &[(&str, Option<&[u8]>)],
    message: &str,
) -> String {
    commit_files_at(repo, branch, files, message, DATE)
}

/// [`commit_files`] with the author and committer date `date` (`SECONDS ZONE`, e.g.
/// `1704067200 +0000`).
pub fn commit_files_at(
    repo: &Path,
    branch: &str,
    files: &[(&str, Option<&[u8]>)],
    message: &str,
    date: &str,
) -> String {
    static NEXT_INDEX: AtomicU64 = AtomicU64::new(0);
    let parent = branch_tip(repo, branch);
    let index = std::env::temp_dir().join(format!(
        "ferry-test-index-{}-{}",
        std::process::id(),
        NEXT_INDEX.fetch_add(1, Ordering::SeqCst)
    ));
    let index_str = index.to_str().expect("temp dir path is UTF-8").to_owned();
    let run = |args: &[&str], input: &[u8]| -> String {
        let mut cmd = git_command(repo);
        cmd.env("GIT_INDEX_FILE", &index_str)
            .env("GIT_AUTHOR_DATE", date)
            .env("GIT_COMMITTER_DATE", date);
        let out = run_with_input(cmd, repo, args, input);
        String::from_utf8_lossy(&out).trim().to_owned()
    };
    match &parent {
        Some(p) => run(&["read-tree", p.as_str()], b""),
        None => run(&["read-tree", "--empty"], b""),
    };
    let mut index_info = Vec::new();
    for (path, content) in files {
        let path = path.trim_start_matches('/');
        match content {
            Some(bytes) => {
                let oid = run(&["hash-object", "-w", "--stdin"], bytes);
                index_info.extend_from_slice(format!("100644 {oid}\t{path}\n").as_bytes());
            }
            None => {
                // Mode 0 removes the path from the index.
                index_info.extend_from_slice(
                    format!("0 0000000000000000000000000000000000000000\t{path}\n").as_bytes(),
                );
            }
        }
    }
    if !index_info.is_empty() {
        run(&["update-index", "--index-info"], &index_info);
    }
    let tree = run(&["write-tree"], b"");
    let mut message = message.to_owned();
    if !message.ends_with('\n') {
        message.push('\n');
    }
    let commit = match &parent {
        Some(p) => run(
            &["commit-tree", tree.as_str(), "-p", p.as_str()],
            message.as_bytes(),
        ),
        None => run(&["commit-tree", tree.as_str()], message.as_bytes()),
    };
    let refname = format!("refs/heads/{branch}");
    let old = parent.unwrap_or_default(); // empty: the ref must not exist yet
    run(
        &[
            "update-ref",
            refname.as_str(),
            commit.as_str(),
            old.as_str(),
        ],
        b"",
    );
    let _ = std::fs::remove_file(&index);
    commit
}

/// The commit id at the tip of `branch`, or `None` when the branch does not exist.
pub fn branch_tip(repo: &Path, branch: &str) -> Option<String> {
    let refname = format!("refs/heads/{branch}^{{commit}}");
    let out = git_output(
        repo,
        &["rev-parse", "--verify", "--quiet", refname.as_str()],
    );
    out.status
        .success()
        .then(|| String::from_utf8_lossy(&out.stdout).trim().to_owned())
}

/// Every file at the tip of `branch` as `/`-separated path → bytes (symlinks as their
/// target text; submodules left out). Panics when the branch does not exist.
pub fn read_branch(repo: &Path, branch: &str) -> BTreeMap<String, Vec<u8>> {
    let refname = format!("refs/heads/{branch}");
    let listing = git(repo, &["ls-tree", "-r", "-z", refname.as_str()]);
    let mut entries = Vec::new();
    for record in listing.split('\0').filter(|r| !r.is_empty()) {
        let (meta, path) = record.split_once('\t').expect("ls-tree record has a tab");
        let mut meta = meta.split(' ');
        let (_mode, kind, oid) = (meta.next(), meta.next(), meta.next());
        if kind == Some("blob") {
            entries.push((path.to_owned(), oid.expect("ls-tree oid").to_owned()));
        }
    }
    let request: String = entries.iter().map(|(_, oid)| format!("{oid}\n")).collect();
    let objects = cat_file_batch(repo, &request);
    entries
        .into_iter()
        .zip(objects)
        .map(|((path, _), (_, bytes))| (path, bytes))
        .collect()
}

/// `git cat-file --batch` over the newline-separated object names in `request`: each
/// object's type and content, in order.
fn cat_file_batch(repo: &Path, request: &str) -> Vec<(String, Vec<u8>)> {
    if request.is_empty() {
        return Vec::new();
    }
    let out = git_with_input(repo, &["cat-file", "--batch"], request.as_bytes());
    let mut rest = out.as_slice();
    let mut objects = Vec::new();
    while !rest.is_empty() {
        let eol = rest
            .iter()
            .position(|&b| b == b'\n')
            .expect("cat-file header line");
        let header = String::from_utf8_lossy(&rest[..eol]).into_owned();
        let mut fields = header.split(' ');
        let (_oid, kind, size) = (fields.next(), fields.next(), fields.next());
        let (Some(kind), Some(size)) = (kind, size.and_then(|s| s.parse::<usize>().ok())) else {
            panic!("cat-file --batch: unexpected header {header:?}");
        };
        let start = eol + 1;
        objects.push((kind.to_owned(), rest[start..start + size].to_vec()));
        rest = &rest[start + size + 1..];
    }
    objects
}

/// One commit as stored.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Commit {
    /// Its id.
    pub oid: String,
    /// Its tree's id.
    pub tree: String,
    /// Its parents' ids, in order.
    pub parents: Vec<String>,
    /// The `author` header's value (`Name <email> seconds zone`).
    pub author: String,
    /// The `committer` header's value (`Name <email> seconds zone`).
    pub committer: String,
    /// The message exactly as stored (everything after the headers' empty line, usually
    /// ending with `\n`).
    pub message: String,
    /// The whole object as `git cat-file -p` shows it.
    pub raw: String,
}

impl Commit {
    /// The message's first line.
    pub fn summary(&self) -> &str {
        self.message.lines().next().unwrap_or_default()
    }

    fn parse(oid: &str, raw: &str) -> Commit {
        let (headers, message) = raw.split_once("\n\n").unwrap_or((raw, ""));
        let mut commit = Commit {
            oid: oid.to_owned(),
            tree: String::new(),
            parents: Vec::new(),
            author: String::new(),
            committer: String::new(),
            message: message.to_owned(),
            raw: raw.to_owned(),
        };
        // Continuation lines of multi-line headers (gpgsig) start with a space: skipped.
        for line in headers.lines().filter(|l| !l.starts_with(' ')) {
            let (key, value) = line.split_once(' ').unwrap_or((line, ""));
            match key {
                "tree" => commit.tree = value.to_owned(),
                "parent" => commit.parents.push(value.to_owned()),
                "author" => commit.author = value.to_owned(),
                "committer" => commit.committer = value.to_owned(),
                _ => {}
            }
        }
        commit
    }
}

/// The commits reachable from `branch`, newest first (topological order); empty when the
/// branch does not exist.
pub fn log(repo: &Path, branch: &str) -> Vec<Commit> {
    let Some(tip) = branch_tip(repo, branch) else {
        return Vec::new();
    };
    let oids = git(repo, &["rev-list", "--topo-order", tip.as_str()]);
    let oids: Vec<&str> = oids.lines().filter(|l| !l.is_empty()).collect();
    let request: String = oids.iter().map(|oid| format!("{oid}\n")).collect();
    cat_file_batch(repo, &request)
        .into_iter()
        .zip(oids)
        .map(|((_, bytes), oid)| Commit::parse(oid, &String::from_utf8_lossy(&bytes)))
        .collect()
}
