//! The git work of the fake forge, done on the bare repositories the git server serves, with
//! the git CLI (isolated like every test git command: see [`remote::git_command`]).
//!
//! Merges are real: `git merge-tree --write-tree` computes the merged tree (or reports the
//! conflict), `git commit-tree` makes the commit, and `git update-ref <ref> <new> <old>` moves
//! the branch only if nobody moved it meanwhile (a push through the git server may race us).

use std::collections::BTreeMap;
use std::io::Write as _;
use std::path::Path;
use std::process::{Command, Stdio};

use crate::support::remote;

/// Who a commit names as author or committer.
#[derive(Clone, Debug)]
pub struct Identity {
    /// The name.
    pub name: String,
    /// The e-mail address.
    pub email: String,
}

/// The outcome of merging two commits' trees.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum MergeTree {
    /// No conflict: the merged tree's id.
    Clean(String),
    /// At least one conflict.
    Conflict,
}

fn run(repo: &Path, args: &[&str], input: Option<&[u8]>, env: &[(&str, &str)]) -> Output {
    let mut cmd: Command = remote::git_command(repo);
    cmd.args(args);
    for (k, v) in env {
        cmd.env(k, v);
    }
    cmd.stdin(if input.is_some() {
        Stdio::piped()
    } else {
        Stdio::null()
    })
    .stdout(Stdio::piped())
    .stderr(Stdio::piped());
    let mut child = match cmd.spawn() {
        Ok(c) => c,
        Err(e) => {
            return Output {
                code: None,
                stdout: String::new(),
                stderr: format!("cannot run git {args:?}: {e}"),
            };
        }
    };
    if let (Some(data), Some(mut stdin)) = (input, child.stdin.take()) {
        // A git that exits early closes its stdin; its status says why.
        let _ = stdin.write_all(data);
    }
    match child.wait_with_output() {
        Ok(out) => Output {
            code: out.status.code(),
            stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
        },
        Err(e) => Output {
            code: None,
            stdout: String::new(),
            stderr: format!("git {args:?}: {e}"),
        },
    }
}

/// What one git command did.
struct Output {
    code: Option<i32>,
    stdout: String,
    stderr: String,
}

impl Output {
    fn ok(self) -> Result<String, String> {
        if self.code == Some(0) {
            Ok(self.stdout)
        } else {
            Err(self.stderr.trim().to_owned())
        }
    }
}

/// Every branch of `repo` → its tip commit id.
pub fn branch_tips(repo: &Path) -> BTreeMap<String, String> {
    let out = run(
        repo,
        &[
            "for-each-ref",
            "--format=%(objectname) %(refname:strip=2)",
            "refs/heads",
        ],
        None,
        &[],
    );
    out.ok()
        .unwrap_or_default()
        .lines()
        .filter_map(|l| l.split_once(' '))
        .map(|(oid, name)| (name.to_owned(), oid.to_owned()))
        .collect()
}

/// The branch `HEAD` points at (the default branch), if any.
pub fn default_branch(repo: &Path) -> Option<String> {
    // A bare repository's HEAD is a one-line file: reading it spares a process per answer.
    if let Ok(text) = std::fs::read_to_string(repo.join("HEAD"))
        && let Some(branch) = text.trim().strip_prefix("ref: refs/heads/")
    {
        return Some(branch.to_owned());
    }
    run(repo, &["symbolic-ref", "--short", "HEAD"], None, &[])
        .ok()
        .ok()
        .map(|s| s.trim().to_owned())
        .filter(|s| !s.is_empty())
}

/// The commit `rev` names (a full or abbreviated id, a branch, a tag), if it is one.
pub fn resolve_commit(repo: &Path, rev: &str) -> Option<String> {
    if rev.is_empty() || rev.starts_with('-') {
        return None;
    }
    object_id(repo, &format!("{rev}^{{commit}}"))
}

/// Whether `ancestor` is reachable from `descendant` (equal counts).
pub fn is_ancestor(repo: &Path, ancestor: &str, descendant: &str) -> bool {
    run(
        repo,
        &["merge-base", "--is-ancestor", ancestor, descendant],
        None,
        &[],
    )
    .code
        == Some(0)
}

/// The best common ancestor of two commits.
pub fn merge_base(repo: &Path, a: &str, b: &str) -> Option<String> {
    run(repo, &["merge-base", a, b], None, &[])
        .ok()
        .ok()
        .map(|s| s.trim().to_owned())
        .filter(|s| s.len() == 40)
}

/// Merges the trees of `base` and `head` without touching any ref or work tree.
pub fn merge_tree(repo: &Path, base: &str, head: &str) -> Result<MergeTree, String> {
    let out = run(
        repo,
        &["merge-tree", "--write-tree", "--no-messages", base, head],
        None,
        &[],
    );
    match out.code {
        Some(0) => {
            let tree = out.stdout.lines().next().unwrap_or_default().trim();
            if tree.len() == 40 {
                Ok(MergeTree::Clean(tree.to_owned()))
            } else {
                Err(format!("git merge-tree printed {:?}", out.stdout))
            }
        }
        Some(1) => Ok(MergeTree::Conflict),
        _ => Err(out.stderr.trim().to_owned()),
    }
}

/// The tree of a commit.
pub fn tree_of(repo: &Path, commit: &str) -> Option<String> {
    object_id(repo, &format!("{commit}^{{tree}}"))
}

/// The id `git rev-parse --verify` gives `spec`, if it names an object.
fn object_id(repo: &Path, spec: &str) -> Option<String> {
    run(repo, &["rev-parse", "--verify", "--quiet", spec], None, &[])
        .ok()
        .ok()
        .map(|s| s.trim().to_owned())
        .filter(|s| s.len() == 40)
}

/// The subjects of the commits in `base..head`, oldest first.
pub fn subjects(repo: &Path, base: &str, head: &str) -> Vec<String> {
    let range = format!("{base}..{head}");
    run(
        repo,
        &["log", "--reverse", "--format=%s", &range],
        None,
        &[],
    )
    .ok()
    .unwrap_or_default()
    .lines()
    .map(str::to_owned)
    .collect()
}

/// The full message of a commit.
pub fn message_of(repo: &Path, commit: &str) -> String {
    run(repo, &["log", "-1", "--format=%B", commit], None, &[])
        .ok()
        .unwrap_or_default()
        .trim_end()
        .to_owned()
}

/// Makes a commit of `tree` with `parents`; the author and committer dates are now.
pub fn commit_tree(
    repo: &Path,
    tree: &str,
    parents: &[&str],
    message: &str,
    author: &Identity,
    committer: &Identity,
) -> Result<String, String> {
    let mut args = vec!["commit-tree", tree];
    for p in parents {
        args.push("-p");
        args.push(p);
    }
    let date = format!("{} +0000", super::util::now_secs());
    let mut message = message.to_owned();
    if !message.ends_with('\n') {
        message.push('\n');
    }
    run(
        repo,
        &args,
        Some(message.as_bytes()),
        &[
            ("GIT_AUTHOR_NAME", &author.name),
            ("GIT_AUTHOR_EMAIL", &author.email),
            ("GIT_AUTHOR_DATE", &date),
            ("GIT_COMMITTER_NAME", &committer.name),
            ("GIT_COMMITTER_EMAIL", &committer.email),
            ("GIT_COMMITTER_DATE", &date),
        ],
    )
    .ok()
    .map(|s| s.trim().to_owned())
}

/// Moves `refs/heads/<branch>` from `old` to `new`, failing if it is no longer at `old`.
pub fn update_branch(repo: &Path, branch: &str, new: &str, old: &str) -> Result<(), String> {
    let refname = format!("refs/heads/{branch}");
    run(repo, &["update-ref", &refname, new, old], None, &[])
        .ok()
        .map(drop)
}

/// Deletes `refs/heads/<branch>` if it is still at `old`.
pub fn delete_branch(repo: &Path, branch: &str, old: &str) -> Result<(), String> {
    let refname = format!("refs/heads/{branch}");
    run(repo, &["update-ref", "-d", &refname, old], None, &[])
        .ok()
        .map(drop)
}
