//! What a libgit2 failure while talking to the server means: a deadline, a missing repository,
//! a stall, refused or missing credentials, a missing permission, a network failure to retry,
//! or a local problem; each turned into the [`GitError`] that says what to do.

use git2::{ErrorClass, ErrorCode, Repository};

use super::auth;
use super::error::message_of;
use super::limits::{self, limits};
use super::remote::Remote;
use super::{GitError, RepoUrl, Transport};

impl Remote {
    /// Turns a libgit2 failure while talking to the remote into a [`GitError`].
    pub(super) fn remote_error(
        &self,
        op: &'static str,
        e: &git2::Error,
        refused: bool,
    ) -> GitError {
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn http_statuses_are_read_from_libgit2_messages() {
        assert_eq!(http_status("unexpected http status code: 403"), Some(403));
        assert_eq!(
            http_status("request failed with status code: 401"),
            Some(401)
        );
        assert_eq!(http_status("early eof"), None);
    }
}
