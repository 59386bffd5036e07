//! GitHub (REST v3; GraphQL for auto-merge) through octocrab.
//!
//! Requests go through octocrab's raw methods (`_get`, `_post`, ...), which keep the status
//! and headers, so that [`api`](super::api)'s retry policy sees `retry-after` and the
//! rate-limit headers; answers are read into small structs holding only what ferry uses.
//!
//! Calls per operation: opening a pull request is one list (done by the caller), one create,
//! one issue edit for labels and assignees and one reviewer request (only what is asked).
//! Reading readiness is the pull and its reviews (2 calls), plus the branch rules, statuses
//! and check runs (3 more) only when GitHub says the pull request is not mergeable as it is.
//! A merge is one call.

use std::collections::HashMap;

use http::Method;
use http_body_util::BodyExt as _;
use octocrab::Octocrab;
use secrecy::{ExposeSecret, SecretString};
use serde::Deserialize;
use serde_json::json;

use super::api::{Api, Request, Response, Transport};
use super::{
    Approvals, AutoMerge, ChangeRequest, ChangeRequestEdit, Check, CheckState, Comment,
    CommentAction, CommitStatus, CrState, Forge, ForgeAuth, ForgeError, ForgeKind, ForgeSettings,
    ListFilter, MergeMethod, Merged, NewChangeRequest, Readiness, Refusal, StatusState,
};
use crate::repo_url::encode_component as encode;

const KIND: ForgeKind = ForgeKind::GitHub;

/// One page of a list: GitHub's maximum.
const PER_PAGE: u32 = 100;

/// The REST API version every request names (`X-GitHub-Api-Version`). 2022-11-28 is the
/// version every supported GitHub Enterprise Server accepts; github.com supports it at least
/// until March 2028 (24 months after 2026-03-10, whose breaking changes touch no endpoint
/// ferry calls). A server that does not know the version answers 400, so it is one constant.
pub const API_VERSION: &str = "2022-11-28";

/// The media type GitHub recommends for every REST request (`Accept`).
pub const MEDIA_TYPE: &str = "application/vnd.github+json";

/// How many more times readiness reads a pull request whose mergeability GitHub is still
/// computing (about 3.5 s with the default backoff).
const MERGEABILITY_READS: u32 = 3;

/// Most pages read from one list (10,000 items): a bound, not a limit anyone should meet.
const MAX_PAGES: u32 = 100;

/// A GitHub repository's pull requests, comments and statuses.
pub struct GitHub {
    api: Api<OctocrabTransport>,
    api_url: String,
    graphql_url: String,
    project: String,
    owner: String,
    minted: Option<SecretString>,
    /// The login ferry acts as (`GET /user`, or `<app-slug>[bot]`), once known: the sticky
    /// comment is only ever one of its own.
    me: std::cell::RefCell<Option<String>>,
}

/// Sends requests with octocrab's clients (their authentication, user agent and timeouts).
///
/// octocrab prefixes every request with its base URI, and adds App and installation
/// credentials only to requests without a host (or to api.github.com). So URLs are sent as
/// paths: below the REST base with one client, and below the server's root (for GitHub
/// Enterprise's GraphQL endpoint, `/api/graphql`, which is not below `/api/v3`) with another.
pub struct OctocrabTransport {
    rest: (Octocrab, String),
    root: (Octocrab, String),
}

/// Both clients of a transport, for `auth`.
fn transport(settings: &ForgeSettings, auth: &ForgeAuth) -> Result<OctocrabTransport, ForgeError> {
    let rest = settings.api_url.clone();
    let root = origin(&rest);
    Ok(OctocrabTransport {
        rest: (build_client(settings, &rest, auth)?, rest),
        root: (build_client(settings, &root, auth)?, root),
    })
}

/// `scheme://host[:port]` of a URL, as written: the prefix requests to the server's root
/// (GraphQL, the App's endpoints) are recognised by.
fn origin(url: &str) -> String {
    match url.split_once("://") {
        Some((scheme, rest)) => {
            let host = rest.split('/').next().unwrap_or_default();
            format!("{scheme}://{host}")
        }
        None => url.to_owned(),
    }
}

impl Transport for OctocrabTransport {
    async fn send(&self, request: &Request) -> Result<Response, String> {
        let below = |(client, base): &'_ (Octocrab, String)| {
            request
                .url
                .strip_prefix(base.as_str())
                .filter(|path| path.starts_with('/'))
                .map(|path| (client.clone(), path.to_owned()))
        };
        let Some((client, url)) = below(&self.rest).or_else(|| below(&self.root)) else {
            return Err(format!(
                "{} is not on the API's server {}",
                request.url, self.root.1
            ));
        };
        let client = &client;
        let url = url.as_str();
        let body = request.body.as_ref();
        let result = match request.method {
            Method::GET => client._get(url).await,
            Method::POST => client._post(url, body).await,
            Method::PATCH => client._patch(url, body).await,
            Method::PUT => client._put(url, body).await,
            Method::DELETE => client._delete(url, body).await,
            ref other => return Err(format!("method {other} is not used")),
        };
        let response = result.map_err(|err| describe_client_error(&err))?;
        let (parts, body) = response.into_parts();
        let body = body
            .collect()
            .await
            .map_err(|err| describe_client_error(&err))?
            .to_bytes()
            .to_vec();
        Ok(Response {
            status: parts.status.as_u16(),
            headers: parts.headers,
            body,
        })
    }
}

/// A network or client failure, in words (octocrab's errors carry no secrets; its Display is
/// short, so the source chain is added).
fn describe_client_error(err: &octocrab::Error) -> String {
    let mut text = err.to_string();
    let mut source = std::error::Error::source(err);
    while let Some(cause) = source {
        let cause = cause.to_string();
        if !text.contains(&cause) {
            text.push_str(": ");
            text.push_str(&cause);
        }
        source = cause_source(source);
    }
    text
}

fn cause_source<'a>(
    error: Option<&'a (dyn std::error::Error + 'static)>,
) -> Option<&'a (dyn std::error::Error + 'static)> {
    error.and_then(std::error::Error::source)
}

fn runtime() -> Result<tokio::runtime::Runtime, ForgeError> {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|err| ForgeError::Usage(format!("cannot start the API client: {err}")))
}

/// An octocrab client for `auth` (to be built inside a runtime).
fn build_client(
    settings: &ForgeSettings,
    base: &str,
    auth: &ForgeAuth,
) -> Result<Octocrab, ForgeError> {
    let api_url = base;
    let mut builder = Octocrab::builder()
        .base_uri(api_url)
        .map_err(|err| ForgeError::Usage(format!("--api-url {api_url}: {err}")))?
        .add_header(http::header::ACCEPT, MEDIA_TYPE.to_owned())
        .add_header(
            http::HeaderName::from_static("x-github-api-version"),
            API_VERSION.to_owned(),
        )
        .set_connect_timeout(Some(settings.options.timeout))
        .set_read_timeout(Some(settings.options.timeout));
    builder = match auth {
        ForgeAuth::Token(token) | ForgeAuth::JobToken(token) => {
            builder.personal_token(token.expose_secret().to_owned())
        }
        ForgeAuth::GitHubApp { app_id, key } => {
            let key = octocrab::EncodingKey::from_rsa_pem(key.expose_secret().as_bytes())
                .map_err(|err| {
                    ForgeError::Usage(format!(
                        "the GitHub App key is not an RSA private key in PEM form ({err}); give the .pem file GitHub generated for the App"
                    ))
                })?;
            builder.app(octocrab::models::AppId(*app_id), key)
        }
        ForgeAuth::None => builder,
    };
    builder
        .build()
        .map_err(|err| ForgeError::Usage(format!("cannot build the GitHub client: {err}")))
}

impl GitHub {
    /// Connects to the GitHub of `settings`. With a GitHub App, this asks for an installation
    /// token of the repository (2 calls).
    pub fn connect(settings: ForgeSettings) -> Result<GitHub, ForgeError> {
        let runtime = runtime()?;
        let client = {
            let _guard = runtime.enter();
            transport(&settings, &settings.auth)?
        };
        let owner = settings
            .project
            .split('/')
            .next()
            .unwrap_or_default()
            .to_owned();
        let graphql_url = settings
            .graphql_url
            .clone()
            .unwrap_or_else(|| super::graphql_url_for(&settings.api_url));
        let mut github = GitHub {
            api: Api::new(KIND, client, runtime, settings.options),
            api_url: settings.api_url.clone(),
            graphql_url,
            project: settings.project.clone(),
            owner,
            minted: None,
            me: std::cell::RefCell::new(None),
        };
        if let ForgeAuth::GitHubApp { .. } = settings.auth {
            let slug = github.app_slug()?;
            *github.me.borrow_mut() = Some(format!("{slug}[bot]"));
            let token = github.installation_token()?;
            let client = {
                let _guard = github.api.enter();
                transport(&settings, &ForgeAuth::Token(token.clone()))?
            };
            github.api.set_transport(client);
            github.minted = Some(token);
        }
        drop(settings); // the key and token are not kept
        Ok(github)
    }

    /// The App's slug (`GET /app`, with the App's own credentials): its comments are signed
    /// `<slug>[bot]`.
    fn app_slug(&self) -> Result<String, ForgeError> {
        #[derive(Deserialize)]
        struct App {
            slug: String,
        }
        let request = self.request(Method::GET, "/app");
        let app: App = self.api.call(&request)?.json(KIND, &request.call)?;
        Ok(app.slug)
    }

    /// The login the token acts as (1 call, the first time), or `None` for an installation
    /// token ferry did not mint (a workflow's `GITHUB_TOKEN`, an app-token step's): GitHub
    /// answers 403 to `GET /user` for those, and nothing else tells an installation token its
    /// App's name. Its comments are then told by their author being a bot (`is_own`).
    fn login(&self) -> Result<Option<String>, ForgeError> {
        #[derive(Deserialize)]
        struct Me {
            login: String,
        }
        if let Some(me) = self.me.borrow().as_ref() {
            return Ok(Some(me.clone()));
        }
        let request = self.request(Method::GET, "/user");
        let login = match self.api.call(&request) {
            Ok(response) => response.json::<Me>(KIND, &request.call)?.login,
            Err(ForgeError::Auth { status: 403, .. }) => return Ok(None),
            Err(err) => return Err(err),
        };
        *self.me.borrow_mut() = Some(login.clone());
        Ok(Some(login))
    }

    /// The App's installation on this repository, then a token for it limited to this
    /// repository.
    fn installation_token(&self) -> Result<SecretString, ForgeError> {
        #[derive(Deserialize)]
        struct Installation {
            id: u64,
        }
        #[derive(Deserialize)]
        struct Token {
            token: String,
        }
        let found = self.api.call(&self.request(
            Method::GET,
            &format!("/repos/{}/installation", self.project),
        ));
        let installation: Installation = match found {
            Ok(response) => response.json(KIND, "GET /repos/{owner}/{repo}/installation")?,
            Err(ForgeError::NotFound { call, .. }) => {
                return Err(ForgeError::Auth {
                    forge: KIND,
                    call,
                    status: 404,
                    message: "the GitHub App is not installed on this repository".to_owned(),
                    hint: format!(
                        "install the App on {} (Settings → GitHub Apps), with `Contents` and `Pull requests` write permissions",
                        self.project
                    ),
                });
            }
            Err(err) => return Err(err),
        };
        let name = self.project.rsplit('/').next().unwrap_or_default();
        let response = self.api.call(
            &self
                .request(
                    Method::POST,
                    &format!("/app/installations/{}/access_tokens", installation.id),
                )
                .json(json!({ "repositories": [name] })),
        )?;
        let token: Token = response.json(KIND, "POST /app/installations/{id}/access_tokens")?;
        crate::report::add_secret(&token.token);
        Ok(SecretString::from(token.token))
    }

    fn request(&self, method: Method, path: &str) -> Request {
        Request::new(method, &self.api_url, path)
    }

    fn repo_path(&self, rest: &str) -> String {
        format!("/repos/{}{rest}", self.project)
    }

    /// Every page of a list, following `Link: <...>; rel="next"`.
    fn pages<T: serde::de::DeserializeOwned>(&self, path: &str) -> Result<Vec<T>, ForgeError> {
        self.pages_of(path, |page: Vec<T>| page)
    }

    /// Every page of a list whose pages are objects holding it (`{"check_runs": [...]}`, the
    /// combined status's `statuses`): `items` takes the list out of one page.
    fn pages_of<P: serde::de::DeserializeOwned, T>(
        &self,
        path: &str,
        items: impl Fn(P) -> Vec<T>,
    ) -> Result<Vec<T>, ForgeError> {
        let separator = if path.contains('?') { '&' } else { '?' };
        let mut request = self.request(
            Method::GET,
            &format!("{path}{separator}per_page={PER_PAGE}"),
        );
        let mut all = Vec::new();
        for _ in 0..MAX_PAGES {
            let response = self.api.call(&request)?;
            let page: P = response.json(KIND, &request.call)?;
            all.extend(items(page));
            match next_link(&response) {
                Some(next) => request.url = next,
                None => return Ok(all),
            }
        }
        Ok(all)
    }

    fn get_pull(&self, number: u64) -> Result<Pull, ForgeError> {
        let request = self.request(Method::GET, &self.repo_path(&format!("/pulls/{number}")));
        self.api.call(&request)?.json(KIND, &request.call)
    }

    fn create(&self, new: &NewChangeRequest) -> Result<Pull, ForgeError> {
        let request = self
            .request(Method::POST, &self.repo_path("/pulls"))
            .json(json!({
                "title": new.title,
                "head": new.head,
                "base": new.base,
                "body": new.body,
            }));
        self.api.call(&request)?.json(KIND, &request.call)
    }

    /// Adds labels and assignees (one call: a new pull request has none to keep).
    fn label_and_assign(&self, number: u64, new: &NewChangeRequest) -> Result<(), ForgeError> {
        if new.labels.is_empty() && new.assignees.is_empty() {
            return Ok(());
        }
        let mut body = serde_json::Map::new();
        if !new.labels.is_empty() {
            body.insert("labels".to_owned(), json!(new.labels));
        }
        if !new.assignees.is_empty() {
            body.insert("assignees".to_owned(), json!(new.assignees));
        }
        self.api.call(
            &self
                .request(Method::PATCH, &self.repo_path(&format!("/issues/{number}")))
                .json(serde_json::Value::Object(body)),
        )?;
        Ok(())
    }

    fn add_labels(&self, number: u64, labels: &[String]) -> Result<(), ForgeError> {
        if labels.is_empty() {
            return Ok(());
        }
        self.api.call(
            &self
                .request(
                    Method::POST,
                    &self.repo_path(&format!("/issues/{number}/labels")),
                )
                .json(json!({ "labels": labels }))
                .idempotent(),
        )?;
        Ok(())
    }

    fn add_assignees(&self, number: u64, assignees: &[String]) -> Result<(), ForgeError> {
        if assignees.is_empty() {
            return Ok(());
        }
        self.api.call(
            &self
                .request(
                    Method::POST,
                    &self.repo_path(&format!("/issues/{number}/assignees")),
                )
                .json(json!({ "assignees": assignees }))
                .idempotent(),
        )?;
        Ok(())
    }

    /// Requests `reviewers` (`org/team` names a team) in one call. When GitHub refuses the
    /// request (422: someone is not a collaborator, a team the token cannot see, the author),
    /// it names no culprit and adds no one: each is then requested alone, so the valid ones
    /// are added and each refused one is warned about by name. Returns the pull request as the
    /// last accepted request answered it (`None` when none was).
    fn request_reviewers(
        &self,
        number: u64,
        reviewers: &[String],
    ) -> Result<Option<Pull>, ForgeError> {
        if reviewers.is_empty() {
            return Ok(None);
        }
        let send = |names: &[String]| -> Result<Pull, ForgeError> {
            let (teams, users): (Vec<&String>, Vec<&String>) =
                names.iter().partition(|r| r.contains('/'));
            let teams: Vec<&str> = teams.iter().filter_map(|t| t.rsplit('/').next()).collect();
            let request = self
                .request(
                    Method::POST,
                    &self.repo_path(&format!("/pulls/{number}/requested_reviewers")),
                )
                .json(json!({ "reviewers": users, "team_reviewers": teams }))
                .idempotent();
            self.api.call(&request)?.json(KIND, &request.call)
        };
        let first = match send(reviewers) {
            Ok(pull) => return Ok(Some(pull)),
            Err(ForgeError::Refused {
                status: 422,
                message,
                ..
            }) => message,
            Err(err) => return Err(err),
        };
        let mut last = None;
        for reviewer in reviewers {
            let message = if reviewers.len() == 1 {
                first.clone()
            } else {
                match send(std::slice::from_ref(reviewer)) {
                    Ok(pull) => {
                        last = Some(pull);
                        continue;
                    }
                    Err(ForgeError::Refused {
                        status: 422,
                        message,
                        ..
                    }) => message,
                    Err(err) => return Err(err),
                }
            };
            tracing::warn!(
                "GitHub refused `{reviewer}` as a reviewer of pull request #{number}: {message} (a reviewer must be a collaborator with read access, a team must be visible to the token and have access to the repository, and the author cannot review)"
            );
        }
        Ok(last)
    }

    /// Those of `wanted` who already reviewed pull request `number` (GitHub drops them from
    /// the requested reviewers; requesting them again would ask for a new review).
    fn reviewed(&self, number: u64, wanted: &[String]) -> Result<Vec<String>, ForgeError> {
        #[derive(Deserialize)]
        struct Review {
            user: Option<User>,
        }
        if wanted.iter().all(|w| w.contains('/')) {
            return Ok(Vec::new());
        }
        let reviews: Vec<Review> =
            self.pages(&self.repo_path(&format!("/pulls/{number}/reviews")))?;
        Ok(wanted
            .iter()
            .filter(|w| {
                reviews
                    .iter()
                    .any(|r| r.user.as_ref().is_some_and(|u| u.login == **w))
            })
            .cloned()
            .collect())
    }

    fn rules(&self, branch: &str) -> Result<Vec<Rule>, ForgeError> {
        match self.pages(&self.repo_path(&format!("/rules/branches/{}", encode(branch)))) {
            Ok(rules) => Ok(rules),
            // Rules unreadable or absent: the counts are then unknown, not an error.
            Err(ForgeError::NotFound { .. } | ForgeError::Auth { status: 403, .. }) => {
                Ok(Vec::new())
            }
            Err(err) => Err(err),
        }
    }

    /// The statuses and check runs of `sha`, `required` marked (and pending when they never
    /// reported). What the token may not read (a fine-grained token without "Commit statuses"
    /// or "Checks" read, which a fine-grained personal access token cannot be given) is skipped
    /// and named in `unchecked`.
    fn checks(
        &self,
        sha: &str,
        required: &[String],
        unchecked: &mut Vec<String>,
    ) -> Result<Vec<Check>, ForgeError> {
        let mut checks = readable(
            self.statuses_of(sha),
            "commit statuses (the token may not read them: give it \"Commit statuses: read\")",
            unchecked,
        )?;
        checks.extend(readable(
            self.check_runs_of(sha, None),
            "check runs (the token may not read them: a GitHub App or GITHUB_TOKEN with \"Checks: read\" can; a fine-grained personal access token cannot)",
            unchecked,
        )?);
        for check in &mut checks {
            check.required = required.contains(&check.name);
        }
        // A required check that never reported is expected, so pending.
        for name in required {
            if !checks.iter().any(|c| c.name == *name) {
                checks.push(Check {
                    name: name.clone(),
                    state: CheckState::Pending,
                    required: true,
                    url: None,
                });
            }
        }
        Ok(checks)
    }

    /// Classic branch protection of `branch`: the required contexts from `GET .../branches/
    /// {branch}` (1 call, read access), and, when the branch is protected, the required approval
    /// count from `GET .../protection/required_pull_request_reviews` (1 more call; admins only:
    /// unknown otherwise). `None` when the branch is not protected that way.
    fn classic_protection(&self, branch: &str) -> Result<Option<Classic>, ForgeError> {
        #[derive(Deserialize)]
        struct Branch {
            #[serde(default)]
            protected: bool,
            protection: Option<Protection>,
        }
        #[derive(Deserialize)]
        struct Protection {
            #[serde(default)]
            enabled: bool,
            required_status_checks: Option<StatusChecks>,
        }
        #[derive(Deserialize)]
        struct StatusChecks {
            #[serde(default)]
            contexts: Vec<String>,
            #[serde(default)]
            checks: Vec<RequiredCheck>,
        }
        #[derive(Deserialize)]
        struct Reviews {
            required_approving_review_count: Option<u32>,
        }
        let path = self.repo_path(&format!("/branches/{}", encode(branch)));
        let request = self.request(Method::GET, &path);
        let answer: Branch = match self.api.call(&request) {
            Ok(response) => response.json(KIND, &request.call)?,
            Err(ForgeError::NotFound { .. } | ForgeError::Auth { status: 403, .. }) => {
                return Ok(None);
            }
            Err(err) => return Err(err),
        };
        let Some(protection) = answer.protection.filter(|p| p.enabled && answer.protected) else {
            return Ok(None);
        };
        let mut contexts = Vec::new();
        if let Some(checks) = protection.required_status_checks {
            for context in checks
                .contexts
                .into_iter()
                .chain(checks.checks.into_iter().map(|c| c.context))
            {
                if !contexts.contains(&context) {
                    contexts.push(context);
                }
            }
        }
        let request = self.request(
            Method::GET,
            &format!("{path}/protection/required_pull_request_reviews"),
        );
        let approvals = match self.api.call(&request) {
            Ok(response) => {
                response
                    .json::<Reviews>(KIND, &request.call)?
                    .required_approving_review_count
            }
            // Not an admin, or no review requirement: unknown, told from GitHub's own verdict.
            Err(ForgeError::NotFound { .. } | ForgeError::Auth { status: 403, .. }) => None,
            Err(err) => return Err(err),
        };
        Ok(Some(Classic {
            contexts,
            approvals,
        }))
    }

    /// `GET /repos/{o}/{r}/commits/{sha}/status`: the latest status of each context.
    fn statuses_of(&self, sha: &str) -> Result<Vec<Check>, ForgeError> {
        #[derive(Deserialize)]
        struct Combined {
            statuses: Vec<Status>,
        }
        #[derive(Deserialize)]
        struct Status {
            context: String,
            state: String,
            target_url: Option<String>,
        }
        let statuses = self.pages_of(
            &self.repo_path(&format!("/commits/{sha}/status")),
            |page: Combined| page.statuses,
        )?;
        Ok(statuses
            .into_iter()
            .map(|status| Check {
                state: match status.state.as_str() {
                    "success" => CheckState::Success,
                    "failure" | "error" => CheckState::Failure,
                    _ => CheckState::Pending,
                },
                name: status.context,
                required: false,
                url: status.target_url.filter(|u| !u.is_empty()),
            })
            .collect())
    }

    /// `GET /repos/{o}/{r}/commits/{sha}/check-runs`, only those named `name` when given.
    fn check_runs_of(&self, sha: &str, name: Option<&str>) -> Result<Vec<Check>, ForgeError> {
        #[derive(Deserialize)]
        struct Runs {
            check_runs: Vec<Run>,
        }
        #[derive(Deserialize)]
        struct Run {
            name: String,
            status: String,
            conclusion: Option<String>,
            html_url: Option<String>,
        }
        let filter = name.map_or_else(String::new, |n| format!("?check_name={}", encode(n)));
        let runs = self.pages_of(
            &self.repo_path(&format!("/commits/{sha}/check-runs{filter}")),
            |page: Runs| page.check_runs,
        )?;
        Ok(runs
            .into_iter()
            .map(|run| Check {
                state: if run.status == "completed" {
                    match run.conclusion.as_deref() {
                        Some("success") => CheckState::Success,
                        Some("neutral" | "skipped") => CheckState::Neutral,
                        _ => CheckState::Failure,
                    }
                } else {
                    CheckState::Pending
                },
                name: run.name,
                required: false,
                url: run.html_url,
            })
            .collect())
    }
}

impl Forge for GitHub {
    fn kind(&self) -> ForgeKind {
        KIND
    }

    fn project(&self) -> &str {
        &self.project
    }

    fn list(&self, filter: &ListFilter) -> Result<Vec<ChangeRequest>, ForgeError> {
        let state = match filter.state {
            Some(CrState::Open) => "open",
            Some(CrState::Closed | CrState::Merged) => "closed",
            None => "all",
        };
        let mut path = self.repo_path(&format!("/pulls?state={state}&sort=created&direction=desc"));
        if let Some(head) = &filter.head {
            path.push_str(&format!("&head={}", head_filter(&self.owner, head)));
        }
        if let Some(base) = &filter.base {
            path.push_str(&format!("&base={}", encode(base)));
        }
        let pulls: Vec<Pull> = self.pages(&path)?;
        Ok(pulls
            .into_iter()
            .map(|p| p.into_change_request(&self.owner))
            .filter(|cr| filter.state.is_none_or(|s| s == cr.state))
            .filter(|cr| filter.labels.iter().all(|l| cr.labels.contains(l)))
            .collect())
    }

    fn get(&self, number: u64) -> Result<ChangeRequest, ForgeError> {
        Ok(self.get_pull(number)?.into_change_request(&self.owner))
    }

    fn open(&self, new: &NewChangeRequest) -> Result<ChangeRequest, ForgeError> {
        let pull = match self.create(new) {
            Ok(pull) => pull,
            Err(err) if err.maybe_happened() || err.status() == Some(422) => {
                // The answer was lost (or GitHub says one exists): look before trying again.
                match self.find_open(&new.head, &new.base)? {
                    Some(existing) => {
                        tracing::info!(
                            number = existing.number,
                            "the pull request exists already; using it"
                        );
                        return Ok(existing);
                    }
                    None if err.maybe_happened() => self.create(new)?,
                    None => return Err(err),
                }
            }
            Err(err) => return Err(err),
        };
        self.label_and_assign(pull.number, new)?;
        // The answer to the create lists no reviewers yet; the reviewer request's does.
        let pull = self
            .request_reviewers(pull.number, &new.reviewers)?
            .unwrap_or(pull);
        let mut cr = pull.into_change_request(&self.owner);
        for label in &new.labels {
            if !cr.labels.contains(label) {
                cr.labels.push(label.clone());
            }
        }
        Ok(cr)
    }

    fn update(&self, number: u64, edit: &ChangeRequestEdit) -> Result<ChangeRequest, ForgeError> {
        let mut body = serde_json::Map::new();
        if let Some(title) = &edit.title {
            body.insert("title".to_owned(), json!(title));
        }
        if let Some(text) = &edit.body {
            body.insert("body".to_owned(), json!(text));
        }
        let pull = if body.is_empty() {
            None
        } else {
            let request = self
                .request(Method::PATCH, &self.repo_path(&format!("/pulls/{number}")))
                .json(serde_json::Value::Object(body));
            Some(self.api.call(&request)?.json::<Pull>(KIND, &request.call)?)
        };
        self.add_labels(number, &edit.labels)?;
        self.add_assignees(number, &edit.assignees)?;
        let reviewed = self.reviewed(number, &edit.reviewers)?;
        let reviewers: Vec<String> = edit
            .reviewers
            .iter()
            .filter(|r| !reviewed.contains(r))
            .cloned()
            .collect();
        let requested = self.request_reviewers(number, &reviewers)?;
        // The freshest answer: the reviewer request's, else the edit's, else a read.
        let mut cr = match requested.or(pull) {
            Some(pull) => pull.into_change_request(&self.owner),
            None => self.get(number)?,
        };
        for label in &edit.labels {
            if !cr.labels.contains(label) {
                cr.labels.push(label.clone());
            }
        }
        Ok(cr)
    }

    /// ferry's comment is the one carrying `marker` whose author is ferry (`is_own`): the
    /// oldest such is edited in place. After creating one, the list is read again: when two
    /// runs raced and both created, the newer is deleted, so one comment stays.
    fn upsert_comment(
        &self,
        number: u64,
        marker: &str,
        body: &str,
    ) -> Result<(Comment, CommentAction), ForgeError> {
        if marker.is_empty() || !body.contains(marker) {
            return Err(ForgeError::Unexpected {
                forge: KIND,
                call: format!("upsert a comment on pull request #{number}"),
                message:
                    "the comment's body does not carry its marker, so it could not be found again"
                        .to_owned(),
            });
        }
        let me = self.login()?;
        let comments_path = self.repo_path(&format!("/issues/{number}/comments"));
        let own = |comments: Vec<RawComment>| -> Vec<RawComment> {
            let mut own: Vec<RawComment> = comments
                .into_iter()
                .filter(|c| is_own(c, me.as_deref(), marker))
                .collect();
            own.sort_by_key(|c| c.id);
            own
        };
        let existing = own(self.pages(&comments_path)?).into_iter().next();
        let (request, action) = match existing {
            Some(c) if c.body.as_deref() == Some(body) => {
                return Ok((
                    Comment {
                        id: c.id,
                        body: body.to_owned(),
                    },
                    CommentAction::Unchanged,
                ));
            }
            Some(c) => (
                self.request(
                    Method::PATCH,
                    &self.repo_path(&format!("/issues/comments/{}", c.id)),
                ),
                CommentAction::Updated,
            ),
            None => (
                self.request(Method::POST, &comments_path),
                CommentAction::Created,
            ),
        };
        let request = request.json(json!({ "body": body }));
        let raw: RawComment = self.api.call(&request)?.json(KIND, &request.call)?;
        if action != CommentAction::Created {
            return Ok((raw.into_comment(), action));
        }
        // Now the author is known: ferry's own login from here on.
        if me.is_none()
            && let Some(user) = &raw.user
        {
            *self.me.borrow_mut() = Some(user.login.clone());
        }
        let again = own(self.pages(&comments_path)?);
        match again.first() {
            Some(first) if first.id != raw.id => {
                // Another run created one first: keep that one, with this body.
                let delete = self.request(
                    Method::DELETE,
                    &self.repo_path(&format!("/issues/comments/{}", raw.id)),
                );
                match self.api.call(&delete) {
                    Ok(_) | Err(ForgeError::NotFound { .. }) => {}
                    Err(err) => return Err(err),
                }
                if first.body.as_deref() == Some(body) {
                    return Ok((
                        Comment {
                            id: first.id,
                            body: body.to_owned(),
                        },
                        CommentAction::Updated,
                    ));
                }
                let request = self
                    .request(
                        Method::PATCH,
                        &self.repo_path(&format!("/issues/comments/{}", first.id)),
                    )
                    .json(json!({ "body": body }));
                let kept: RawComment = self.api.call(&request)?.json(KIND, &request.call)?;
                Ok((kept.into_comment(), CommentAction::Updated))
            }
            _ => Ok((raw.into_comment(), CommentAction::Created)),
        }
    }

    fn set_status(&self, status: &CommitStatus) -> Result<(), ForgeError> {
        let state = match status.state {
            StatusState::Pending => "pending",
            StatusState::Success => "success",
            StatusState::Failure => "failure",
            StatusState::Error => "error",
        };
        let mut body = json!({
            "state": state,
            "context": status.context,
            "description": truncate(&status.description, 140),
        });
        if let Some(url) = &status.target_url {
            body["target_url"] = json!(url);
        }
        self.api.call(
            &self
                .request(
                    Method::POST,
                    &self.repo_path(&format!("/statuses/{}", status.sha)),
                )
                .json(body)
                .idempotent(),
        )?;
        Ok(())
    }

    /// `GET .../commits/{sha}/status`, then, when no status matches, `GET .../check-runs`.
    fn commit_statuses(&self, sha: &str, context: &str) -> Result<Vec<Check>, ForgeError> {
        let statuses: Vec<Check> = self
            .statuses_of(sha)?
            .into_iter()
            .filter(|c| super::context_matches(context, &c.name))
            .collect();
        if !statuses.is_empty() {
            return Ok(statuses);
        }
        let exact = (!context.ends_with('*')).then_some(context);
        Ok(self
            .check_runs_of(sha, exact)?
            .into_iter()
            .filter(|c| super::context_matches(context, &c.name))
            .collect())
    }

    fn readiness(&self, number: u64) -> Result<Readiness, ForgeError> {
        #[derive(Deserialize)]
        struct Review {
            user: Option<User>,
            state: String,
        }
        // GitHub computes mergeability in the background after a push to either branch:
        // `mergeable` is null (`mergeable_state` "unknown") until then. Read again a few times,
        // pausing as the retry policy does, before reporting it as still computing.
        let mut pull = self.get_pull(number)?;
        for attempt in 1..=MERGEABILITY_READS {
            let computing =
                pull.mergeable.is_none() || pull.mergeable_state.as_deref() == Some("unknown");
            if pull.state() != CrState::Open || !computing {
                break;
            }
            tracing::debug!(number, attempt, "GitHub is still computing mergeability");
            self.api.pause(attempt);
            pull = self.get_pull(number)?;
        }
        let reviews: Vec<Review> =
            self.pages(&self.repo_path(&format!("/pulls/{number}/reviews")))?;
        // The latest opinion of each reviewer counts; comments are not opinions.
        let mut latest: HashMap<String, String> = HashMap::new();
        for review in reviews {
            let who = review.user.map(|u| u.login).unwrap_or_default();
            match review.state.as_str() {
                "APPROVED" | "CHANGES_REQUESTED" | "DISMISSED" => {
                    latest.insert(who, review.state);
                }
                _ => {}
            }
        }
        let given = latest.values().filter(|s| *s == "APPROVED").count() as u32;
        let changes_requested = latest.values().any(|s| s == "CHANGES_REQUESTED");
        let state_word = pull.mergeable_state.clone().unwrap_or_default();
        let mergeable_now = matches!(state_word.as_str(), "clean" | "unstable" | "has_hooks");
        let mut readiness = Readiness {
            number,
            url: pull.html_url.clone(),
            state: pull.state(),
            head_branch: pull.head.name.clone(),
            head_sha: pull.head.sha.clone(),
            approvals: Approvals {
                given,
                required: None,
                satisfied: true,
                changes_requested,
            },
            checks: Vec::new(),
            conflicts: pull.mergeable == Some(false) || state_word == "dirty",
            behind: state_word == "behind",
            computing: pull.state() == CrState::Open
                && (pull.mergeable.is_none() || state_word == "unknown"),
            draft: pull.draft.unwrap_or(false),
            other_blockers: Vec::new(),
            unchecked: Vec::new(),
        };
        if readiness.state != CrState::Open || mergeable_now {
            return Ok(readiness);
        }
        // Not mergeable as it is: find out why. The base branch's rules come from rulesets
        // (`rules/branches`) and from classic branch protection (its required checks are in the
        // branch's own answer, readable with read access; its approval count only by admins).
        let rules = self.rules(&pull.base.name)?;
        let mut required_approvals = rules
            .iter()
            .filter_map(|r| r.parameters.as_ref()?.required_approving_review_count)
            .max();
        let mut required_checks: Vec<String> = rules
            .iter()
            .filter_map(|r| r.parameters.as_ref()?.required_status_checks.as_ref())
            .flatten()
            .map(|c| c.context.clone())
            .collect();
        if let Some(classic) = self.classic_protection(&pull.base.name)? {
            for context in classic.contexts {
                if !required_checks.contains(&context) {
                    required_checks.push(context);
                }
            }
            required_approvals = match (required_approvals, classic.approvals) {
                (Some(a), Some(b)) => Some(a.max(b)),
                (a, b) => a.or(b),
            };
        }
        readiness.checks =
            self.checks(&pull.head.sha, &required_checks, &mut readiness.unchecked)?;
        readiness.approvals.required = required_approvals;
        readiness.approvals.satisfied = !changes_requested
            && match required_approvals {
                Some(required) => given >= required,
                // Unknown rules: blocked with every check green means reviews are missing.
                None => {
                    state_word != "blocked"
                        || readiness
                            .checks
                            .iter()
                            .any(|c| !matches!(c.state, CheckState::Success | CheckState::Neutral))
                }
            };
        if state_word == "behind" {
            readiness
                .other_blockers
                .push("the branch must be up to date with its base branch".to_owned());
        }
        if state_word == "blocked"
            && readiness.approvals.satisfied
            && readiness
                .checks
                .iter()
                .filter(|c| c.required)
                .all(|c| matches!(c.state, CheckState::Success | CheckState::Neutral))
            && !readiness.draft
        {
            readiness.other_blockers.push(
                "GitHub reports the pull request as blocked by the branch's rules".to_owned(),
            );
        }
        Ok(readiness)
    }

    fn merge(
        &self,
        number: u64,
        expected_head: &str,
        method: MergeMethod,
    ) -> Result<Merged, ForgeError> {
        #[derive(Deserialize)]
        struct Answer {
            sha: Option<String>,
        }
        let method = match method {
            MergeMethod::Merge => "merge",
            MergeMethod::Squash => "squash",
            MergeMethod::Rebase => "rebase",
        };
        let request = self
            .request(
                Method::PUT,
                &self.repo_path(&format!("/pulls/{number}/merge")),
            )
            .json(json!({ "sha": expected_head, "merge_method": method }));
        let answer: Answer = self
            .api
            .call(&request)
            .map_err(ForgeError::of_merge)?
            .json(KIND, &request.call)?;
        Ok(Merged { sha: answer.sha })
    }

    fn enable_auto_merge(
        &self,
        number: u64,
        expected_head: &str,
        method: MergeMethod,
    ) -> Result<AutoMerge, ForgeError> {
        #[derive(Deserialize)]
        struct Answer {
            errors: Option<Vec<GraphqlError>>,
        }
        #[derive(Deserialize)]
        struct GraphqlError {
            message: String,
        }
        let pull = self.get_pull(number)?;
        let method = match method {
            MergeMethod::Merge => "MERGE",
            MergeMethod::Squash => "SQUASH",
            MergeMethod::Rebase => "REBASE",
        };
        let mut request = Request::new(Method::POST, &self.graphql_url, "")
            .json(json!({
                "query": "mutation($id: ID!, $sha: GitObjectID!, $method: PullRequestMergeMethod!) { enablePullRequestAutoMerge(input: {pullRequestId: $id, expectedHeadOid: $sha, mergeMethod: $method}) { pullRequest { number autoMergeRequest { enabledAt } } } }",
                "variables": { "id": pull.node_id, "sha": expected_head, "method": method },
            }))
            .idempotent();
        request.call = "POST graphql enablePullRequestAutoMerge".to_owned();
        let answer: Answer = self
            .api
            .call(&request)
            .map_err(ForgeError::of_merge)?
            .json(KIND, &request.call)?;
        let Some(errors) = answer.errors.filter(|e| !e.is_empty()) else {
            return Ok(AutoMerge::Enabled);
        };
        let message = errors
            .iter()
            .map(|e| e.message.as_str())
            .collect::<Vec<_>>()
            .join("; ");
        // GitHub refuses auto-merge when nothing is pending ("... is in clean status").
        if message.contains("clean status") {
            return Ok(AutoMerge::NothingPending);
        }
        let hint = if message
            .to_ascii_lowercase()
            .contains("auto merge is not allowed")
        {
            " (enable \"Allow auto-merge\" in the repository's settings, or merge without --auto-merge)"
        } else {
            ""
        };
        Err(ForgeError::Refused {
            forge: KIND,
            call: request.call,
            status: 200,
            message: format!("{message}{hint}"),
            why: Refusal::Other,
        })
    }

    fn calls(&self) -> u32 {
        self.api.calls()
    }

    fn minted_token(&self) -> Option<SecretString> {
        self.minted.clone()
    }
}

/// A pull request, as far as ferry reads it.
#[derive(Debug, Deserialize)]
struct Pull {
    number: u64,
    node_id: String,
    html_url: String,
    title: String,
    body: Option<String>,
    state: String,
    merged: Option<bool>,
    merged_at: Option<String>,
    draft: Option<bool>,
    head: Ref,
    base: Ref,
    #[serde(default)]
    labels: Vec<Label>,
    mergeable: Option<bool>,
    mergeable_state: Option<String>,
    user: Option<User>,
    #[serde(default)]
    requested_reviewers: Vec<User>,
    #[serde(default)]
    requested_teams: Vec<Team>,
}

#[derive(Debug, Deserialize)]
struct Team {
    slug: String,
}

#[derive(Debug, Deserialize)]
struct Ref {
    #[serde(rename = "ref")]
    name: String,
    sha: String,
}

#[derive(Debug, Deserialize)]
struct Label {
    name: String,
}

#[derive(Debug, Deserialize)]
struct User {
    login: String,
    /// `User`, `Bot` (an App's or GitHub Actions' installation), `Organization`.
    #[serde(rename = "type", default)]
    kind: Option<String>,
}

/// An issue comment, as far as ferry reads it.
#[derive(Debug, Deserialize)]
struct RawComment {
    id: u64,
    body: Option<String>,
    user: Option<User>,
}

impl RawComment {
    fn into_comment(self) -> Comment {
        Comment {
            id: self.id,
            body: self.body.unwrap_or_default(),
        }
    }
}

/// Whether `comment` is ferry's: it carries `marker` and ferry wrote it. With ferry's login
/// known (a user's token, an App's token ferry minted), the author is that login; without it
/// (an installation token made elsewhere: `GET /user` is 403), the author is a bot (`type:
/// Bot`, `<app>[bot]`), never a person, so a person who quotes the marker keeps their comment.
fn is_own(comment: &RawComment, me: Option<&str>, marker: &str) -> bool {
    let Some(user) = &comment.user else {
        return false;
    };
    let by_me = match me {
        Some(me) => user.login == me,
        None => user.kind.as_deref() == Some("Bot") && user.login.ends_with("[bot]"),
    };
    by_me && comment.body.as_deref().is_some_and(|b| b.contains(marker))
}

/// A branch rule (`GET /repos/{owner}/{repo}/rules/branches/{branch}`).
#[derive(Debug, Deserialize)]
struct Rule {
    parameters: Option<RuleParameters>,
}

#[derive(Debug, Deserialize)]
struct RuleParameters {
    required_approving_review_count: Option<u32>,
    required_status_checks: Option<Vec<RequiredCheck>>,
}

#[derive(Debug, Deserialize)]
struct RequiredCheck {
    context: String,
}

impl Pull {
    fn state(&self) -> CrState {
        if self.merged == Some(true) || self.merged_at.is_some() {
            CrState::Merged
        } else if self.state == "open" {
            CrState::Open
        } else {
            CrState::Closed
        }
    }

    /// The change request; `owner` is the organisation its teams belong to.
    fn into_change_request(self, owner: &str) -> ChangeRequest {
        let reviewers = self
            .requested_reviewers
            .iter()
            .map(|u| u.login.clone())
            .chain(
                self.requested_teams
                    .iter()
                    .map(|t| format!("{owner}/{}", t.slug)),
            )
            .collect();
        ChangeRequest {
            reviewers,
            state: self.state(),
            number: self.number,
            url: self.html_url,
            title: self.title,
            body: self.body.unwrap_or_default(),
            head_branch: self.head.name,
            base_branch: self.base.name,
            head_sha: self.head.sha,
            labels: self.labels.into_iter().map(|l| l.name).collect(),
            draft: self.draft.unwrap_or(false),
            author: self.user.map(|u| u.login),
        }
    }
}

/// Classic branch protection, as far as the token may read it.
struct Classic {
    /// Required status contexts and check names.
    contexts: Vec<String>,
    /// Required approvals, when readable (admins).
    approvals: Option<u32>,
}

/// `result`, or, when GitHub answers 403 (the token may not read this), nothing, with `what`
/// noted in `unchecked`.
fn readable<T>(
    result: Result<Vec<T>, ForgeError>,
    what: &str,
    unchecked: &mut Vec<String>,
) -> Result<Vec<T>, ForgeError> {
    match result {
        Ok(items) => Ok(items),
        Err(ForgeError::Auth { status: 403, .. }) => {
            unchecked.push(what.to_owned());
            Ok(Vec::new())
        }
        Err(err) => Err(err),
    }
}

/// The `rel="next"` target of a `Link` header.
fn next_link(response: &Response) -> Option<String> {
    let link = response.headers.get("link")?.to_str().ok()?;
    link.split(',').find_map(|part| {
        let (target, params) = part.split_once(';')?;
        params
            .split(';')
            .any(|p| p.trim() == "rel=\"next\"")
            .then(|| {
                target
                    .trim()
                    .trim_start_matches('<')
                    .trim_end_matches('>')
                    .to_owned()
            })
    })
}

/// The `head` filter of the pulls list: `owner:branch`, each part encoded, the `:` GitHub reads
/// between them kept.
fn head_filter(owner: &str, head: &str) -> String {
    format!("{}:{}", encode(owner), encode(head))
}

fn truncate(text: &str, max: usize) -> String {
    if text.chars().count() <= max {
        text.to_owned()
    } else {
        let cut: String = text.chars().take(max - 1).collect();
        format!("{cut}…")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pull_requests_are_read_from_githubs_answer() {
        let pull: Pull = serde_json::from_str(
            r#"{"number": 7, "node_id": "PR_kw", "html_url": "https://github.com/a/b/pull/7",
                "title": "Bump", "body": null, "state": "closed", "merged": true,
                "merged_at": "2026-01-01T00:00:00Z", "draft": false,
                "head": {"ref": "ferry/prod/cart", "sha": "aaaa", "label": "a:ferry/prod/cart"},
                "base": {"ref": "main", "sha": "bbbb"}, "labels": [{"id": 1, "name": "ferry"}],
                "mergeable": null, "mergeable_state": "unknown", "extra": {"ignored": true}}"#,
        )
        .expect("pull");
        let cr = pull.into_change_request("acme");
        assert_eq!(cr.state, CrState::Merged);
        assert_eq!(cr.body, "");
        assert_eq!(cr.head_branch, "ferry/prod/cart");
        assert_eq!(cr.labels, ["ferry"]);
    }

    #[test]
    fn next_links_are_followed() {
        let mut headers = http::HeaderMap::new();
        headers.insert(
            "link",
            "<https://api.github.com/x?page=2>; rel=\"next\", <https://api.github.com/x?page=5>; rel=\"last\""
                .parse()
                .expect("header"),
        );
        let response = Response {
            status: 200,
            headers,
            body: Vec::new(),
        };
        assert_eq!(
            next_link(&response).as_deref(),
            Some("https://api.github.com/x?page=2")
        );
    }

    #[test]
    fn query_values_are_encoded() {
        assert_eq!(
            head_filter("acme", "ferry/prod/cart+x"),
            "acme:ferry%2Fprod%2Fcart%2Bx"
        );
        assert_eq!(truncate("abcdef", 4), "abc…");
    }
}
