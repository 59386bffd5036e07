//! [`GitError`]: what went wrong talking to or writing the repository, each message naming the
//! repository and branch, the cause and what to do; and [`message_of`], the words of a libgit2
//! error even when libgit2 gave none.

use git2::ErrorCode;

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

    pub(super) fn local(op: &str, e: &git2::Error) -> GitError {
        GitError::Local {
            op: op.to_owned(),
            detail: message_of(e),
        }
    }
}

/// What a libgit2 error says, never its empty message or "no error": libgit2 returns some
/// failures (a lookup that found nothing, a callback that gave up) with the message of the last
/// error it recorded, which may be none. Then the error's code and class say what happened.
pub(super) fn message_of(e: &git2::Error) -> String {
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

#[cfg(test)]
mod tests {
    use super::*;
    use git2::ErrorClass;

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
}
