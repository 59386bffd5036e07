//! Credentials for the environment repository: where the token comes from, which user name goes
//! with it, and the libgit2 credentials callback that asks only once and answers only the
//! repository's own server (scheme, host and port): a redirect, or configuration rewriting the
//! URL, never gets the token.

use std::cell::Cell;
use std::path::PathBuf;
use std::rc::Rc;

use git2::{Cred, CredentialType};
use secrecy::{ExposeSecret, SecretString};

use crate::repo_url::{RepoUrl, Transport, UrlSecret};

/// The environment variables a token is read from, in order of preference (after `--token`,
/// which clap also fills from `FERRY_TOKEN`).
pub const TOKEN_VARIABLES: &[&str] = &["GITHUB_TOKEN", "GITLAB_TOKEN", "CI_JOB_TOKEN"];

/// How the refusal to answer another server is recognised in libgit2's error.
pub(super) const ELSEWHERE: &str = "the server of --repo";

/// Where the token came from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TokenSource {
    /// `--token` or `FERRY_TOKEN`.
    Flag,
    /// The password part of `--repo`.
    Url,
    /// One of [`TOKEN_VARIABLES`].
    Variable(&'static str),
}

impl TokenSource {
    fn describe(&self) -> String {
        match self {
            Self::Flag => "--token/FERRY_TOKEN".to_owned(),
            Self::Url => "the --repo URL".to_owned(),
            Self::Variable(name) => format!("${name}"),
        }
    }
}

/// How ferry authenticates. Debug output never shows the token.
pub struct Credentials {
    token: Option<(SecretString, TokenSource)>,
    /// The repository the credentials are for: the callback answers no other server.
    origin: Option<RepoUrl>,
    user: String,
    ssh_key: Option<PathBuf>,
}

impl std::fmt::Debug for Credentials {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.describe())
    }
}

impl Credentials {
    /// Picks the token and user name for `url`: `--token`/`FERRY_TOKEN`, a password in the URL,
    /// then `GITHUB_TOKEN`, `GITLAB_TOKEN`, `CI_JOB_TOKEN`. The user name is `--username` when
    /// given, else what the forge expects for that kind of token.
    pub fn resolve(
        url: &RepoUrl,
        flag: Option<SecretString>,
        url_secret: Option<UrlSecret>,
        username: Option<String>,
        ssh_key: Option<PathBuf>,
        env: &dyn Fn(&str) -> Option<String>,
    ) -> Credentials {
        let mut url_user = None;
        let token = if let Some(t) = flag.filter(|t| !t.expose_secret().is_empty()) {
            Some((t, TokenSource::Flag))
        } else if let Some(secret) = url_secret {
            url_user = Some(secret.user);
            Some((secret.token, TokenSource::Url))
        } else {
            TOKEN_VARIABLES.iter().find_map(|name| {
                env(name)
                    .filter(|v| !v.is_empty())
                    .map(|v| (SecretString::from(v), TokenSource::Variable(name)))
            })
        };
        let user = username
            .filter(|u| !u.is_empty())
            .or(url_user)
            .unwrap_or_else(|| match &token {
                Some((_, TokenSource::Variable("CI_JOB_TOKEN"))) => "gitlab-ci-token".to_owned(),
                Some((_, TokenSource::Variable("GITLAB_TOKEN"))) => "oauth2".to_owned(),
                Some((_, TokenSource::Variable("GITHUB_TOKEN"))) => "x-access-token".to_owned(),
                _ => match url.user() {
                    Some(user) if url.transport() == Transport::Http => user.to_owned(),
                    _ if url.host_says_gitlab() => "oauth2".to_owned(),
                    _ => "x-access-token".to_owned(),
                },
            });
        Credentials {
            token,
            origin: Some(url.clone()),
            user,
            ssh_key,
        }
    }

    /// No credentials: for local repositories and tests.
    #[must_use]
    pub fn none() -> Credentials {
        Credentials {
            token: None,
            origin: None,
            user: String::new(),
            ssh_key: None,
        }
    }

    /// The token's text, for the secret filter of the output.
    #[must_use]
    pub fn secret(&self) -> Option<&str> {
        self.token.as_ref().map(|(t, _)| t.expose_secret())
    }

    /// The token and whether it is GitLab's `CI_JOB_TOKEN`, for the forge's API.
    #[must_use]
    pub fn api_token(&self) -> Option<(SecretString, bool)> {
        self.token.as_ref().map(|(token, source)| {
            (
                token.clone(),
                *source == TokenSource::Variable("CI_JOB_TOKEN"),
            )
        })
    }

    /// Whether a token was found.
    #[must_use]
    pub fn has_token(&self) -> bool {
        self.token.is_some()
    }

    /// Where the token came from and the user name, for messages.
    #[must_use]
    pub fn describe(&self) -> String {
        match &self.token {
            Some((_, source)) => format!(
                "the token from {} (user `{}`)",
                source.describe(),
                self.user
            ),
            None => {
                "no token (set FERRY_TOKEN, GITHUB_TOKEN, GITLAB_TOKEN or CI_JOB_TOKEN)".to_owned()
            }
        }
    }

    /// Refuses a request for credentials from any server but the repository's own.
    fn check_origin(&self, asked: &str) -> Result<(), git2::Error> {
        let Some(origin) = &self.origin else {
            return Ok(());
        };
        let asker = RepoUrl::parse(asked).ok().map(|(url, _)| url);
        if asker.as_ref().is_some_and(|a| origin.same_origin(a)) {
            return Ok(());
        }
        let shown = asker.map_or_else(|| "another server".to_owned(), |a| a.origin());
        Err(git2::Error::from_str(&format!(
            "ferry sends credentials only to {}, {ELSEWHERE}, and {shown} asked for them (the server redirected there, or git configuration rewrote the URL). Give the repository's new address in --repo if it moved",
            origin.origin()
        )))
    }

    /// The libgit2 credentials callback for one operation. libgit2 calls it again after every
    /// refusal, forever; this one answers once and then records the refusal in `refused`.
    pub(super) fn callback(
        &self,
        refused: Rc<Cell<bool>>,
    ) -> impl FnMut(&str, Option<&str>, CredentialType) -> Result<Cred, git2::Error> + '_ {
        let mut answered = false;
        move |url, url_user, allowed| {
            if allowed.contains(CredentialType::USERNAME) {
                return Cred::username(url_user.unwrap_or("git"));
            }
            if let Err(e) = self.check_origin(url) {
                refused.set(true);
                return Err(e);
            }
            if answered {
                refused.set(true);
                return Err(git2::Error::from_str("the server refused the credentials"));
            }
            answered = true;
            if allowed.contains(CredentialType::USER_PASS_PLAINTEXT) {
                return match &self.token {
                    Some((token, _)) => Cred::userpass_plaintext(&self.user, token.expose_secret()),
                    None => {
                        refused.set(true);
                        Err(git2::Error::from_str(
                            "the server asks for credentials and no token was given",
                        ))
                    }
                };
            }
            if allowed.contains(CredentialType::SSH_KEY) {
                let user = url_user.unwrap_or("git");
                return match &self.ssh_key {
                    Some(key) => Cred::ssh_key(user, None, key, None),
                    None => Cred::ssh_key_from_agent(user),
                };
            }
            refused.set(true);
            Err(git2::Error::from_str(
                "the server asks for a kind of credentials ferry does not support",
            ))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env<'a>(vars: &'a [(&'a str, &'a str)]) -> impl Fn(&str) -> Option<String> + 'a {
        move |name| {
            vars.iter()
                .find(|(k, _)| *k == name)
                .map(|(_, v)| (*v).to_owned())
        }
    }

    fn creds(repo: &str, flag: Option<&str>, vars: &[(&str, &str)]) -> Credentials {
        let (url, secret) = RepoUrl::parse(repo).unwrap();
        Credentials::resolve(
            &url,
            flag.map(|f| SecretString::from(f.to_owned())),
            secret,
            None,
            None,
            &env(vars),
        )
    }

    #[test]
    fn the_flag_wins_over_variables() {
        let c = creds(
            "https://github.com/a/b",
            Some("flag"),
            &[("GITHUB_TOKEN", "gh")],
        );
        assert_eq!(c.secret(), Some("flag"));
        assert_eq!(c.user, "x-access-token");
    }

    #[test]
    fn each_variable_has_its_forge_user() {
        let c = creds("https://gitlab.com/a/b", None, &[("CI_JOB_TOKEN", "job")]);
        assert_eq!(
            (c.secret(), c.user.as_str()),
            (Some("job"), "gitlab-ci-token")
        );
        let c = creds(
            "https://gitlab.com/a/b",
            None,
            &[("GITLAB_TOKEN", "pat"), ("CI_JOB_TOKEN", "job")],
        );
        assert_eq!((c.secret(), c.user.as_str()), (Some("pat"), "oauth2"));
        let c = creds("https://ghe.corp/a/b", None, &[("GITHUB_TOKEN", "ghs")]);
        assert_eq!(
            (c.secret(), c.user.as_str()),
            (Some("ghs"), "x-access-token")
        );
        let c = creds("https://gitlab.corp/a/b", Some("t"), &[]);
        assert_eq!(c.user, "oauth2");
    }

    #[test]
    fn empty_values_do_not_count() {
        let c = creds(
            "https://github.com/a/b",
            Some(""),
            &[("GITHUB_TOKEN", ""), ("GITLAB_TOKEN", "x")],
        );
        assert_eq!(c.secret(), Some("x"));
        assert!(!creds("https://github.com/a/b", None, &[]).has_token());
    }

    #[test]
    fn the_callback_answers_only_the_repository_server() {
        let c = creds("http://127.0.0.1:8080/env.git", Some("tok"), &[]);
        let refused = Rc::new(Cell::new(false));
        let mut callback = c.callback(Rc::clone(&refused));
        for other in [
            "http://127.0.0.1:8081/env.git",
            "http://localhost:8080/env.git",
            "https://127.0.0.1:8080/env.git",
            "not a url at all",
        ] {
            let err = callback(other, None, CredentialType::USER_PASS_PLAINTEXT)
                .err()
                .unwrap_or_else(|| panic!("{other} got credentials"));
            assert!(
                err.message().contains("http://127.0.0.1:8080"),
                "{}",
                err.message()
            );
            assert!(!err.message().contains("tok"));
        }
        assert!(refused.get());
        let refused = Rc::new(Cell::new(false));
        let mut callback = c.callback(Rc::clone(&refused));
        assert!(
            callback(
                "http://127.0.0.1:8080/env.git/info/refs",
                None,
                CredentialType::USER_PASS_PLAINTEXT
            )
            .is_ok()
        );
        let c = creds("https://GitHub.com/a/b", Some("tok"), &[]);
        let mut callback = c.callback(Rc::new(Cell::new(false)));
        assert!(
            callback(
                "https://github.com:443/a/b",
                None,
                CredentialType::USER_PASS_PLAINTEXT
            )
            .is_ok()
        );
    }

    #[test]
    fn a_url_password_is_used_with_its_user() {
        let c = creds(
            "https://bot:pw@git.example.com/a/b",
            None,
            &[("GITHUB_TOKEN", "gh")],
        );
        assert_eq!((c.secret(), c.user.as_str()), (Some("pw"), "bot"));
        assert!(!format!("{c:?}").contains("pw"));
    }
}
