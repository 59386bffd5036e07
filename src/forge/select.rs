//! Which forge, where its API is, and how ferry authenticates to it.
//!
//! The forge is `--forge` when given, else inferred only when unambiguous: the repository is
//! on github.com or gitlab.com, or ferry runs in GitHub Actions / GitLab CI whose server is
//! the repository's host. Anything else is a usage error asking for `--forge`: a wrong guess
//! would send the token to the wrong API.
#![allow(rustdoc::bare_urls)] // the flags' doc comments are `--help` text, URLs included

use std::path::PathBuf;
use std::time::Duration;

use clap::Args;
use secrecy::{ExposeSecret, SecretString};

use super::api::ApiOptions;
use super::{Forge, ForgeError, ForgeKind, github, gitlab};
use crate::repo_url::{RepoUrl, ServerUrl, Transport};

/// Forge flags shared by the commands that call a forge's API.
#[derive(Debug, Clone, Default, Args)]
pub struct ForgeArgs {
    /// The forge hosting the environment repository [default: inferred from the host
    /// (github.com, gitlab.com) or from the CI ferry runs in].
    #[arg(long, value_name = "FORGE", value_enum, env = "FERRY_FORGE")]
    pub forge: Option<ForgeKind>,

    /// The forge's REST API base URL [default: $GITHUB_API_URL or $CI_API_V4_URL when running
    /// in that forge's CI; https://api.github.com; https://HOST/api/v3 for GitHub Enterprise;
    /// https://HOST/api/v4 for GitLab].
    #[arg(long, value_name = "URL", env = "FERRY_API_URL")]
    pub api_url: Option<String>,

    /// GitHub's GraphQL endpoint [default: $GITHUB_GRAPHQL_URL in GitHub Actions, else derived
    /// from the API URL: https://api.github.com/graphql, https://HOST/api/graphql].
    #[arg(long, value_name = "URL", env = "FERRY_GRAPHQL_URL")]
    pub graphql_url: Option<String>,

    /// Authenticate as this GitHub App: its private key is exchanged for an installation token
    /// of the environment repository, used for both git and the API.
    #[arg(long, value_name = "ID", env = "FERRY_GITHUB_APP_ID")]
    pub github_app_id: Option<u64>,

    /// The GitHub App's private key (PEM file) [default: the key's text in
    /// $FERRY_GITHUB_APP_KEY].
    #[arg(long, value_name = "FILE", env = "FERRY_GITHUB_APP_KEY_FILE")]
    pub github_app_key_file: Option<PathBuf>,

    /// The longest wait for a rate limit, in seconds; a longer one fails at once.
    #[arg(
        long,
        value_name = "SECONDS",
        env = "FERRY_API_MAX_WAIT",
        default_value_t = 60
    )]
    pub api_max_wait: u64,

    /// How long one API request may take, in seconds.
    #[arg(
        long,
        value_name = "SECONDS",
        env = "FERRY_API_TIMEOUT",
        default_value_t = 30
    )]
    pub api_timeout: u64,
}

/// How ferry authenticates to the forge's API.
pub enum ForgeAuth {
    /// A personal, fine-grained, project, group or workflow token.
    Token(SecretString),
    /// GitLab's `CI_JOB_TOKEN` (sent as `JOB-TOKEN`).
    JobToken(SecretString),
    /// A GitHub App: its id and private key (PEM).
    GitHubApp {
        app_id: u64,
        key: SecretString,
    },
    None,
}

impl std::fmt::Debug for ForgeAuth {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            ForgeAuth::Token(_) => "token",
            ForgeAuth::JobToken(_) => "job token",
            ForgeAuth::GitHubApp { .. } => "GitHub App",
            ForgeAuth::None => "none",
        })
    }
}

/// Everything needed to connect to one repository's forge.
#[derive(Debug)]
pub struct ForgeSettings {
    pub kind: ForgeKind,
    /// The REST API base, without a trailing slash.
    pub api_url: String,
    /// GitHub's GraphQL endpoint.
    pub graphql_url: Option<String>,
    /// The repository's path on the forge (`owner/repo`, `group/sub/project`).
    pub project: String,
    pub auth: ForgeAuth,
    pub options: ApiOptions,
}

/// Resolves the forge for `repo`. `token` is the token ferry found for git (and whether it is
/// GitLab's `CI_JOB_TOKEN`); `env` looks up environment variables.
pub fn resolve_settings(
    args: &ForgeArgs,
    repo: &RepoUrl,
    token: Option<(SecretString, bool)>,
    env: &dyn Fn(&str) -> Option<String>,
) -> Result<ForgeSettings, ForgeError> {
    if repo.transport() == Transport::Local {
        return Err(ForgeError::Usage(format!(
            "{repo} is a local repository: change requests need the repository's URL on GitHub or GitLab (--repo https://...)"
        )));
    }
    let host = repo.host();
    let ci = CiServer::detect(env);
    let kind = match args.forge {
        Some(kind) => kind,
        None => infer(host, ci.as_ref()).ok_or_else(|| {
            ForgeError::Usage(format!(
                "cannot tell which forge hosts {repo}: give --forge github or --forge gitlab (FERRY_FORGE); ferry infers it only for github.com, gitlab.com, or the server of the CI it runs in"
            ))
        })?,
    };
    let in_own_ci = ci
        .as_ref()
        .is_some_and(|ci| ci.kind == kind && ci.host.eq_ignore_ascii_case(host));
    let api_url = match &args.api_url {
        Some(url) => url.clone(),
        None => default_api_url(kind, repo, in_own_ci, env),
    };
    let api_url = check_url(&api_url, "--api-url")?;
    let graphql_url = match kind {
        ForgeKind::GitLab => None,
        ForgeKind::GitHub => Some(match &args.graphql_url {
            Some(url) => check_url(url, "--graphql-url")?,
            None => match env("GITHUB_GRAPHQL_URL").filter(|_| in_own_ci && args.api_url.is_none())
            {
                Some(url) => check_url(&url, "GITHUB_GRAPHQL_URL")?,
                None => graphql_url_for(&api_url),
            },
        }),
    };
    let project = repo.project().map(str::to_owned).ok_or_else(|| {
        ForgeError::Usage(format!(
            "cannot read the repository's path on {kind} from {repo}: give --repo as https://HOST/OWNER/REPO"
        ))
    })?;
    let auth = auth(args, kind, token, env)?;
    Ok(ForgeSettings {
        kind,
        api_url,
        graphql_url,
        project,
        auth,
        options: ApiOptions {
            max_wait: Duration::from_secs(args.api_max_wait),
            // No request outlives the command's deadline.
            timeout: Duration::from_secs(args.api_timeout.max(1)).min(
                crate::git::deadline_remaining()
                    .unwrap_or_default()
                    .max(Duration::from_secs(1)),
            ),
            ..ApiOptions::default()
        },
    })
}

/// Connects to the forge of `settings` (for a GitHub App, this mints the installation token).
pub fn connect(settings: ForgeSettings) -> Result<Box<dyn Forge>, ForgeError> {
    Ok(match settings.kind {
        ForgeKind::GitHub => Box::new(github::GitHub::connect(settings)?),
        ForgeKind::GitLab => Box::new(gitlab::GitLab::connect(settings)?),
    })
}

/// The CI ferry runs in, and its server's host.
struct CiServer {
    kind: ForgeKind,
    host: String,
}

impl CiServer {
    fn detect(env: &dyn Fn(&str) -> Option<String>) -> Option<CiServer> {
        let server = |kind, variable| {
            env(variable).and_then(|url| {
                let host = ServerUrl::parse(&url)?.host();
                Some(CiServer { kind, host })
            })
        };
        if env("GITHUB_ACTIONS").as_deref() == Some("true") {
            server(ForgeKind::GitHub, "GITHUB_SERVER_URL")
        } else if env("GITLAB_CI").as_deref() == Some("true") {
            server(ForgeKind::GitLab, "CI_SERVER_URL")
        } else {
            None
        }
    }
}

fn infer(host: &str, ci: Option<&CiServer>) -> Option<ForgeKind> {
    match host.to_ascii_lowercase().as_str() {
        "github.com" | "www.github.com" | "ssh.github.com" => Some(ForgeKind::GitHub),
        "gitlab.com" | "www.gitlab.com" | "altssh.gitlab.com" => Some(ForgeKind::GitLab),
        other => ci
            .filter(|ci| ci.host.eq_ignore_ascii_case(other))
            .map(|ci| ci.kind),
    }
}

/// The API URL for `repo`: the CI's when ferry runs in the CI of the repository's own server,
/// else derived from the repository's URL (the port of an http(s) URL kept).
fn default_api_url(
    kind: ForgeKind,
    repo: &RepoUrl,
    in_own_ci: bool,
    env: &dyn Fn(&str) -> Option<String>,
) -> String {
    let from_ci = match kind {
        ForgeKind::GitHub => "GITHUB_API_URL",
        ForgeKind::GitLab => "CI_API_V4_URL",
    };
    if in_own_ci && let Some(url) = env(from_ci).filter(|u| !u.is_empty()) {
        return url;
    }
    match kind {
        ForgeKind::GitHub => repo.github_api_base(),
        ForgeKind::GitLab => repo.gitlab_api_base(),
    }
}

/// GitHub's GraphQL endpoint for a REST base: `https://api.github.com/graphql` on github.com,
/// `https://HOST/api/graphql` on GitHub Enterprise Server (whose REST base is `/api/v3`: the
/// GraphQL endpoint is not below it).
#[must_use]
pub fn graphql_url_for(api_url: &str) -> String {
    let base = api_url.trim_end_matches('/');
    match base.strip_suffix("/api/v3") {
        Some(server) => format!("{server}/api/graphql"),
        None => format!("{base}/graphql"),
    }
}

fn check_url(url: &str, what: &str) -> Result<String, ForgeError> {
    let trimmed = url.trim().trim_end_matches('/');
    let Some(parsed) = ServerUrl::parse(trimmed) else {
        return Err(ForgeError::Usage(format!(
            "{what} `{trimmed}` is not an http(s) URL"
        )));
    };
    if parsed.has_credentials() {
        return Err(ForgeError::Usage(format!(
            "{what} carries credentials; give the token in FERRY_TOKEN instead"
        )));
    }
    Ok(trimmed.to_owned())
}

fn auth(
    args: &ForgeArgs,
    kind: ForgeKind,
    token: Option<(SecretString, bool)>,
    env: &dyn Fn(&str) -> Option<String>,
) -> Result<ForgeAuth, ForgeError> {
    if let Some(app_id) = args.github_app_id {
        if kind != ForgeKind::GitHub {
            return Err(ForgeError::Usage(
                "--github-app-id is for GitHub; GitLab takes a project or group access token"
                    .to_owned(),
            ));
        }
        let key = match (&args.github_app_key_file, env("FERRY_GITHUB_APP_KEY")) {
            (Some(path), _) => std::fs::read_to_string(path).map_err(|err| {
                ForgeError::Usage(format!(
                    "cannot read the GitHub App key {}: {err}",
                    path.display()
                ))
            })?,
            (None, Some(text)) if !text.trim().is_empty() => text,
            _ => {
                return Err(ForgeError::Usage(
                    "--github-app-id needs the App's private key: --github-app-key-file FILE or its text in FERRY_GITHUB_APP_KEY".to_owned(),
                ));
            }
        };
        return Ok(ForgeAuth::GitHubApp {
            app_id,
            key: SecretString::from(key.replace("\\n", "\n").replace("\r\n", "\n")),
        });
    }
    Ok(match token {
        Some((token, true)) if kind == ForgeKind::GitLab => ForgeAuth::JobToken(token),
        Some((token, _)) if !token.expose_secret().is_empty() => ForgeAuth::Token(token),
        _ => ForgeAuth::None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env_of(pairs: &'static [(&'static str, &'static str)]) -> impl Fn(&str) -> Option<String> {
        move |key| {
            pairs
                .iter()
                .find(|(k, _)| *k == key)
                .map(|(_, v)| (*v).to_owned())
        }
    }

    fn settings(
        args: &ForgeArgs,
        repo: &str,
        env: &'static [(&'static str, &'static str)],
    ) -> Result<ForgeSettings, ForgeError> {
        let (url, _) = RepoUrl::parse(repo).expect("url");
        resolve_settings(
            args,
            &url,
            Some((SecretString::from("t0ken"), false)),
            &env_of(env),
        )
    }

    #[test]
    fn a_derived_api_url_keeps_the_repository_port() {
        let forge = |kind| ForgeArgs {
            forge: Some(kind),
            ..ForgeArgs::default()
        };
        let gh = settings(
            &forge(ForgeKind::GitHub),
            "https://git.corp:8443/acme/env",
            &[],
        )
        .expect("github");
        assert_eq!(gh.api_url, "https://git.corp:8443/api/v3");
        assert_eq!(
            gh.graphql_url.as_deref(),
            Some("https://git.corp:8443/api/graphql")
        );
        let gl = settings(
            &forge(ForgeKind::GitLab),
            "http://git.corp:8080/g/env.git",
            &[],
        )
        .expect("gitlab");
        assert_eq!(gl.api_url, "http://git.corp:8080/api/v4");
        // A default port is no port; an ssh port is not the web server's.
        let gl =
            settings(&forge(ForgeKind::GitLab), "https://git.corp:443/g/env", &[]).expect("gitlab");
        assert_eq!(gl.api_url, "https://git.corp/api/v4");
        let gl = settings(
            &forge(ForgeKind::GitLab),
            "ssh://git@git.corp:2222/g/env.git",
            &[],
        )
        .expect("gitlab");
        assert_eq!(gl.api_url, "https://git.corp/api/v4");
    }

    #[test]
    fn the_forge_is_inferred_only_when_unambiguous() {
        let none = ForgeArgs::default();
        let gh = settings(&none, "https://github.com/acme/env.git", &[]).expect("github");
        assert_eq!(gh.kind, ForgeKind::GitHub);
        assert_eq!(gh.api_url, "https://api.github.com");
        assert_eq!(
            gh.graphql_url.as_deref(),
            Some("https://api.github.com/graphql")
        );
        assert_eq!(gh.project, "acme/env");

        let gl = settings(&none, "git@gitlab.com:group/sub/env.git", &[]).expect("gitlab");
        assert_eq!(gl.kind, ForgeKind::GitLab);
        assert_eq!(gl.api_url, "https://gitlab.com/api/v4");
        assert_eq!(gl.project, "group/sub/env");
        assert_eq!(gl.graphql_url, None);

        let err =
            settings(&none, "https://git.example.com/acme/env.git", &[]).expect_err("ambiguous");
        assert!(err.to_string().contains("--forge"), "{err}");

        // In the CI of that very server, it is the CI's forge and API.
        let in_gitlab_ci = settings(
            &none,
            "https://git.example.com/acme/env.git",
            &[
                ("GITLAB_CI", "true"),
                ("CI_SERVER_URL", "https://git.example.com"),
                ("CI_API_V4_URL", "https://git.example.com/gitlab/api/v4"),
            ],
        )
        .expect("gitlab ci");
        assert_eq!(in_gitlab_ci.kind, ForgeKind::GitLab);
        assert_eq!(
            in_gitlab_ci.api_url,
            "https://git.example.com/gitlab/api/v4"
        );

        // A CI on another server says nothing about this repository.
        let elsewhere = settings(
            &none,
            "https://git.example.com/acme/env.git",
            &[
                ("GITHUB_ACTIONS", "true"),
                ("GITHUB_SERVER_URL", "https://github.com"),
            ],
        );
        assert!(elsewhere.is_err());
    }

    #[test]
    fn github_enterprise_urls_are_derived_correctly() {
        let args = ForgeArgs {
            forge: Some(ForgeKind::GitHub),
            ..ForgeArgs::default()
        };
        let ghe = settings(&args, "https://ghe.example.com/acme/env.git", &[]).expect("ghe");
        assert_eq!(ghe.api_url, "https://ghe.example.com/api/v3");
        assert_eq!(
            ghe.graphql_url.as_deref(),
            Some("https://ghe.example.com/api/graphql")
        );

        let in_actions = settings(
            &ForgeArgs::default(),
            "https://ghe.example.com/acme/env.git",
            &[
                ("GITHUB_ACTIONS", "true"),
                ("GITHUB_SERVER_URL", "https://ghe.example.com"),
                ("GITHUB_API_URL", "https://ghe.example.com/api/v3"),
                ("GITHUB_GRAPHQL_URL", "https://ghe.example.com/api/graphql"),
            ],
        )
        .expect("actions");
        assert_eq!(in_actions.kind, ForgeKind::GitHub);
        assert_eq!(
            in_actions.graphql_url.as_deref(),
            Some("https://ghe.example.com/api/graphql")
        );

        assert_eq!(
            graphql_url_for("http://127.0.0.1:9/api/v3/"),
            "http://127.0.0.1:9/api/graphql"
        );
        assert_eq!(
            graphql_url_for("https://api.github.com"),
            "https://api.github.com/graphql"
        );
    }

    #[test]
    fn urls_and_app_flags_are_checked() {
        let args = ForgeArgs {
            api_url: Some("ftp://x".to_owned()),
            ..ForgeArgs::default()
        };
        assert!(settings(&args, "https://github.com/a/b", &[]).is_err());
        let args = ForgeArgs {
            api_url: Some("https://user:secret@api.example.com".to_owned()),
            ..ForgeArgs::default()
        };
        let err = settings(&args, "https://github.com/a/b", &[]).expect_err("credentials");
        assert!(!err.to_string().contains("secret"), "{err}");

        let app = ForgeArgs {
            github_app_id: Some(12),
            ..ForgeArgs::default()
        };
        let err = settings(&app, "https://github.com/a/b", &[]).expect_err("no key");
        assert!(err.to_string().contains("FERRY_GITHUB_APP_KEY"), "{err}");
        let with_key = settings(
            &app,
            "https://github.com/a/b",
            &[(
                "FERRY_GITHUB_APP_KEY",
                "-----BEGIN RSA PRIVATE KEY-----\\nx\\n-----END RSA PRIVATE KEY-----",
            )],
        )
        .expect("key");
        assert!(matches!(
            with_key.auth,
            ForgeAuth::GitHubApp { app_id: 12, .. }
        ));
        assert!(
            settings(
                &app,
                "https://gitlab.com/a/b",
                &[("FERRY_GITHUB_APP_KEY", "k")]
            )
            .is_err()
        );

        let (local, _) = RepoUrl::parse("/srv/env").expect("path");
        assert!(resolve_settings(&ForgeArgs::default(), &local, None, &env_of(&[])).is_err());
    }

    #[test]
    fn gitlab_job_tokens_are_sent_as_such() {
        let (url, _) = RepoUrl::parse("https://gitlab.com/g/p.git").expect("url");
        let s = resolve_settings(
            &ForgeArgs::default(),
            &url,
            Some((SecretString::from("job"), true)),
            &env_of(&[]),
        )
        .expect("settings");
        assert!(matches!(s.auth, ForgeAuth::JobToken(_)));
    }
}
