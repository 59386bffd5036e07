#![allow(dead_code)]
//! A stateful fake GitHub + GitLab API server for the integration tests.
//!
//! [`ForgeServer`] speaks the subset of GitHub REST v3 (under `/api/v3`, the GitHub Enterprise
//! layout, plus one GraphQL mutation at `/api/graphql`) and GitLab REST v4 (under `/api/v4`)
//! that ferry uses, with the paths, bodies, status codes, headers and fields of the official
//! references. It is backed by the bare repositories a [`GitServer`] serves
//! (`<root>/<owner>/<repo>.git`): branch tips, conflicts and merges are real git (see
//! [`git_ops`]), so what a test pushes through the git server is what the forge sees.
//!
//! Tests drive it through the real HTTP endpoints (a review, an approval) and through Rust
//! calls that stand for what people and CI do out of band: [`ForgeServer::protect`],
//! [`ForgeServer::set_pipeline`], [`ForgeServer::inject`] (faults), and read its state back
//! with [`ForgeServer::change_requests`], [`ForgeServer::requests`] and the like.
//!
//! axum serves it on a tokio runtime owned by a background thread; every request is handled
//! on a blocking thread (git commands block) holding the one state lock, so requests are
//! applied one at a time, as a consistent forge would. A handler that panics answers `500`;
//! dropping the server stops it and joins its thread.
//!
//! Where it is simpler than the real forges:
//! - one set of change requests per repository serves both APIs (a PR created on the GitHub
//!   side is MR `!1` on the GitLab side); users and numeric ids are shared too;
//! - permissions are per token (`Access` on every repository, or on a list), not per
//!   membership; git pushes are checked by the git server alone (read or write, any repo);
//! - approvals count only on the current head commit on both forges (GitHub "dismiss stale
//!   reviews", GitLab "remove approvals when commits are added");
//! - GitHub `rebase` merges make one commit with the merged tree (like `squash`) and are
//!   recorded as `rebase`; GitLab merges with the project merge method `merge` only;
//! - GitLab auto-merge follows "merge when pipeline succeeds" (an active head pipeline is
//!   needed to schedule it), not GitLab 17's "merge when checks pass";
//! - mergeability is computed on every read; GitHub's is `unknown` only when a test says so
//!   ([`ForgeServer::github_computing_mergeability`]), not after every push.
//!
//! What it simulates of GitHub as it really answers (docs.github.com REST reference):
//! - installation tokens get 403 "Resource not accessible by integration" from `GET /user`
//!   ([`ForgeServer::add_installation_token`]); their user is a `Bot` named `<app>[bot]`;
//! - classic branch protection beside rulesets ([`Protection::classic`]): `GET /rules/branches`
//!   lists only rulesets, `GET /branches/{b}` shows the required checks to readers, and
//!   `.../protection/required_pull_request_reviews` answers admins only (403 otherwise);
//! - fine-grained personal access tokens, which cannot hold "Checks" (check runs answer 403)
//!   and may lack "Commit statuses" ([`ForgeServer::add_fine_grained_token`]);
//! - reviewer requests refused whole (422, no culprit named, no one added) when one user is not
//!   a collaborator or one team is unknown ([`ForgeServer::add_team`]); a review drops its
//!   author from `requested_reviewers`;
//! - paginated combined statuses, check runs and rules (`per_page`, `page`, `Link`);
//! - `X-GitHub-Api-Version`: 400 for a version GitHub does not know; the headers of every
//!   request are kept ([`ForgeServer::github_request_headers`]).
//!
//! GitLab, what it simulates (each shape with its source in `gitlab.rs`'s module docs):
//! - tiers ([`ForgeServer::set_gitlab_tier`]): Premium (the default) has approval rules and
//!   answers `GET .../approvals` with the full approval state; Free has none, so a
//!   protection's `required_approvals` never blocks, and the approvals answer is the Free one
//!   (`user_has_approved`, `user_can_approve`, `approved` = anyone approved, `approved_by`);
//! - token kinds: personal tokens; project and group access tokens, whose bot users
//!   (`project_{id}_bot_{random}`, `group_{id}_bot_{random}`) `GET /user` names with
//!   `bot: true` ([`ForgeServer::add_gitlab_project_token`],
//!   [`ForgeServer::add_gitlab_group_token`]); `CI_JOB_TOKEN`, whose `GET /job` names the
//!   job's user and which every write refuses (`401`); `read_api` tokens, whose writes answer
//!   `403 insufficient_scope` ([`ForgeServer::add_gitlab_read_api_token`]);
//! - every refusal of `PUT .../merge`: `401` (a role that may not merge into the branch),
//!   `403` (scope), `405` (a merge check fails, a known conflict included), `409` (`sha` is
//!   not the head), `422` `Branch cannot be merged` when the merge itself fails
//!   ([`ForgeServer::fail_next_gitlab_merge`]), `406` instead on an older GitLab
//!   ([`ForgeServer::set_gitlab_legacy_merge_errors`]);
//! - what happens between two of ferry's calls ([`ForgeServer::gitlab_later`], GitHub's REST
//!   requests count too): a push to a branch, another run's note (a GitHub comment); notes are deleted by their author (or a Maintainer);
//! - pagination of every list (`per_page` honoured up to 100, 20 by default; `x-page`,
//!   `x-per-page`, `x-next-page` (empty on the last page), `x-prev-page`, `x-total`,
//!   `x-total-pages` and `Link` with `prev`/`next`/`first`/`last`).
//!
//! GitLab, where it still differs:
//! - `detailed_merge_status` is only ever `mergeable`, `unchecked`, `not_open`,
//!   `draft_status`, `conflict`, `not_approved`, `ci_must_pass` or `ci_still_running`; the
//!   other documented values (`need_rebase`, `discussions_not_resolved`,
//!   `requested_changes`, `merge_time`, `status_checks_must_pass`, ...) are covered by
//!   ferry's unit tests, not here;
//! - a conflict it knows of is a `405`; GitLab, whose mergeability is computed in the
//!   background, may instead answer `422` when its last computation predates the conflict;
//! - GitLab.com's Free projects (GitLab's EE code without a license) answer the approvals
//!   with the Premium shape and zero counts; only the self-managed Free (FOSS) shape is here;
//!   approvals refused outright (`403`/`404`) are played with faults ([`ForgeServer::inject`]);
//! - `CI_JOB_TOKEN` may read merge requests and notes of its own project here; GitLab lets
//!   it reach only the endpoints of its allowlist, which has no merge requests or notes (on
//!   a private project those answer as to an anonymous caller);
//! - scopes are `api` (every token) or `read_api` ([`ForgeServer::add_gitlab_read_api_token`]);
//!   roles are [`Access`] (`Read` = Reporter, `Write` = Developer, `Admin` = Maintainer);
//!   a group token sees the group's repositories known when it was made.

mod app_key;
pub mod client;
pub mod git_ops;
mod github;
mod gitlab;
mod state;
mod util;

use std::collections::BTreeSet;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::thread::{self, JoinHandle};
use std::time::Duration;

use axum::Router;
use axum::body::Body;
use axum::extract::State as AxumState;
use axum::http::{HeaderMap, HeaderName, HeaderValue, StatusCode};
use serde_json::{Value, json};

pub use app_key::{APP_PRIVATE_KEY_PEM, APP_PUBLIC_KEY_PEM, app_jwt};
pub use state::{GitLabEvent, GitLabLater, GitLabTier};
use state::{State, TokenKind};

use crate::support::git_http::GitServer;

/// The largest request body read (bigger ones are answered `413`).
const MAX_BODY: usize = 8 * 1024 * 1024;

/// What a token may do on the repositories it sees.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Access {
    /// Read: list and get; any write is refused (`403`).
    Read,
    /// Write (GitHub "push", GitLab Developer): open, edit, comment, set statuses, merge.
    Write,
    /// Admin (GitHub "admin", GitLab Maintainer): also merges where merging needs more than
    /// write access ([`Protection::merge_requires_admin`]).
    Admin,
}

/// The rules on one branch that merging into it must satisfy.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Protection {
    /// Approvals needed (GitHub: latest review per user on the head commit is `APPROVED`, from
    /// someone with write access; GitLab: approvals given on the current head commit).
    pub required_approvals: u32,
    /// GitHub status contexts (or check-run names) whose latest state on the head commit must
    /// be success.
    pub required_checks: Vec<String>,
    /// GitLab "Pipelines must succeed": the head pipeline must have succeeded.
    pub pipeline_must_succeed: bool,
    /// Only [`Access::Admin`] may merge (GitHub answers `405`, GitLab `401` to others).
    pub merge_requires_admin: bool,
    /// GitHub "require branches to be up to date": a head not containing the base tip is
    /// `behind` and cannot merge.
    pub strict: bool,
    /// GitHub: configured as classic branch protection rather than a ruleset. `GET
    /// /rules/branches/{b}` then lists nothing; `GET /branches/{b}` shows the required checks
    /// (to anyone who may read the repository) and `GET /branches/{b}/protection/
    /// required_pull_request_reviews` the approval count (to admins; others get 403). Merging
    /// is held to the same rules either way.
    pub classic: bool,
}

/// A failure the server plays instead of (or on top of) its normal answer.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Fault {
    /// Answer this status (with the forge's usual error body) without processing.
    Status(u16),
    /// Process the request fully (e.g. create the pull request), then answer this status: the
    /// answer is lost, the effect is not.
    AfterProcessing(u16),
    /// A rate limit, not processed. GitHub: `secondary` → `403` with `retry-after` and the
    /// "secondary rate limit" message, else `429` with `retry-after` and
    /// `x-ratelimit-remaining: 0`. GitLab: `429` with `retry-after` and
    /// `ratelimit-remaining: 0`.
    RateLimit {
        /// The `retry-after` header, in seconds.
        retry_after_secs: u64,
        /// GitHub's secondary (abuse) limit rather than the primary one.
        secondary: bool,
    },
    /// Wait this long before processing (tokio sleep: the server is slow, nothing blocks). A
    /// client that gives up meanwhile cancels the request: it is then not processed (and is
    /// logged with status [`CLIENT_GONE`]).
    Delay(Duration),
}

/// A fault for the next `times` authorized requests whose method is `method` (any when `*`)
/// and whose path (without query) contains `path_contains`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FaultRule {
    /// `GET`, `POST`, … or `*`.
    pub method: String,
    /// A substring of the request path, e.g. `/pulls` or `/merge_requests/1/merge`.
    pub path_contains: String,
    /// What happens.
    pub fault: Fault,
    /// How many more matching requests it applies to.
    pub times: usize,
}

impl FaultRule {
    /// A rule for the next one matching request.
    pub fn new(method: &str, path_contains: &str, fault: Fault) -> FaultRule {
        FaultRule {
            method: method.to_owned(),
            path_contains: path_contains.to_owned(),
            fault,
            times: 1,
        }
    }

    /// The same rule for the next `n` matching requests.
    #[must_use]
    pub fn times(mut self, n: usize) -> FaultRule {
        self.times = n;
        self
    }

    fn matches(&self, method: &str, path: &str) -> bool {
        self.times > 0
            && (self.method == "*" || self.method.eq_ignore_ascii_case(method))
            && path.contains(&self.path_contains)
    }
}

/// A commit status an agent posts out of band once the `after`-th request matching `method`
/// and `path_contains` has been answered: the agent finishing its sync while a client polls.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LaterStatus {
    /// `GET`, `POST`, … or `*`.
    pub method: String,
    /// A substring of the request path.
    pub path_contains: String,
    /// How many more matching requests are answered before it is posted.
    pub after: usize,
    /// `owner/name`.
    pub repo: String,
    pub sha: String,
    /// GitHub's `context`, GitLab's `name`.
    pub context: String,
    /// As the forge stores it (`success`, `failure`/`failed`, `pending`).
    pub state: String,
    pub target_url: Option<String>,
}

/// One request as the server answered it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Logged {
    /// `GET`, `POST`, …
    pub method: String,
    /// The path, still percent-encoded, without the query.
    pub path: String,
    /// The query string without `?` (empty when none).
    pub query: String,
    /// The status sent; [`CLIENT_GONE`] (499) when the client gave up before the answer.
    pub status: u16,
    /// The login the request was authenticated as, if any (`app:<id>` for an app JWT).
    pub user: Option<String>,
    /// The fault applied to it, if one fired.
    pub fault: Option<Fault>,
}

/// Where a change request stands.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CrState {
    /// Open (GitHub `open`, GitLab `opened`).
    Open,
    /// Closed without merging.
    Closed,
    /// Merged.
    Merged,
}

/// A pull request or merge request as the server holds it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ChangeRequest {
    /// GitHub PR number / GitLab MR iid.
    pub number: u64,
    /// Title.
    pub title: String,
    /// Description (GitHub `body`, GitLab `description`), empty when none.
    pub body: String,
    /// The source branch.
    pub head: String,
    /// The target branch.
    pub base: String,
    /// The head branch's tip (the last one seen if the branch is gone).
    pub head_sha: String,
    /// Open, closed or merged.
    pub state: CrState,
    /// A draft (GitHub `draft`, GitLab `Draft:` title).
    pub draft: bool,
    /// The login that opened it.
    pub author: String,
    /// Label names, in the order added.
    pub labels: Vec<String>,
    /// Assignee logins.
    pub assignees: Vec<String>,
    /// Requested reviewer logins (a GitHub review removes its author from them).
    pub reviewers: Vec<String>,
    /// Auto-merge is on (GitHub auto-merge / GitLab merge when pipeline succeeds), with this
    /// merge method.
    pub auto_merge: Option<String>,
    /// The merge commit, once merged.
    pub merge_commit_sha: Option<String>,
    /// `merge`, `squash` or `rebase` once merged.
    pub merge_method: Option<String>,
    /// Who merged it (for auto-merge: who turned it on).
    pub merged_by: Option<String>,
    /// Users whose GitHub review is `APPROVED` or who approved on GitLab (any commit).
    pub approved_by: Vec<String>,
}

/// A comment (GitHub issue comment, GitLab note).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Comment {
    /// Its id (GitHub comment id, GitLab note id).
    pub id: u64,
    /// The author's login.
    pub author: String,
    /// Its text.
    pub body: String,
}

/// A commit status as posted.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Status {
    /// Its id.
    pub id: u64,
    /// GitHub `context` / GitLab `name`.
    pub context: String,
    /// As posted: `pending`, `success`, `failure`, `error` (GitHub), `running`, `failed`, …
    /// (GitLab).
    pub state: String,
    /// The link posted with it.
    pub target_url: Option<String>,
    /// The description posted with it.
    pub description: Option<String>,
    /// The login that posted it.
    pub creator: String,
}

/// A GitHub check run, set from Rust (check runs are written by CI apps, not by ferry).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CheckRun {
    /// The check's name (what a required check names).
    pub name: String,
    /// `queued`, `in_progress` or `completed`.
    pub status: String,
    /// When completed: `success`, `failure`, `neutral`, `cancelled`, `skipped`, `timed_out`,
    /// `action_required`.
    pub conclusion: Option<String>,
    /// Its page (a default one when `None`).
    pub html_url: Option<String>,
}

/// Which API a request belongs to.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Api {
    GitHub,
    GraphQl,
    GitLab,
    None,
}

impl Api {
    fn of_path(path: &str) -> Api {
        if path == "/api/graphql" {
            Api::GraphQl
        } else if path == "/api/v3" || path.starts_with("/api/v3/") {
            Api::GitHub
        } else if path == "/api/v4" || path.starts_with("/api/v4/") {
            Api::GitLab
        } else {
            Api::None
        }
    }
}

/// A request as handlers see it.
pub(crate) struct Req {
    /// `GET`, `POST`, …
    pub method: String,
    /// Still percent-encoded.
    pub path: String,
    /// The raw query string.
    pub query: String,
    /// The decoded query parameters, in order.
    pub params: Vec<(String, String)>,
    /// The request headers.
    pub headers: HeaderMap,
    /// The request body.
    pub body: Vec<u8>,
}

impl Req {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }

    /// The last value of query parameter `key`.
    pub fn query_param(&self, key: &str) -> Option<&str> {
        self.params
            .iter()
            .rev()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v.as_str())
    }
}

/// An answer.
pub(crate) struct Resp {
    /// The status.
    pub status: u16,
    /// Headers besides the ones every answer gets.
    pub headers: Vec<(String, String)>,
    /// The body (JSON text).
    pub body: Vec<u8>,
}

impl Resp {
    pub fn json(status: u16, value: &Value) -> Resp {
        Resp {
            status,
            headers: Vec::new(),
            body: serde_json::to_vec(value).unwrap_or_default(),
        }
    }

    /// An answer without a body (`204`).
    pub fn empty(status: u16) -> Resp {
        Resp {
            status,
            headers: Vec::new(),
            body: Vec::new(),
        }
    }

    #[must_use]
    pub fn header(mut self, name: &str, value: impl Into<String>) -> Resp {
        self.headers.push((name.to_owned(), value.into()));
        self
    }
}

/// Who a request is from.
#[derive(Clone, Debug)]
pub(crate) enum Principal {
    /// A token (personal, installation or job).
    Token {
        token: String,
        login: String,
        user_id: u64,
        access: Access,
        /// `None`: every repository.
        repos: Option<BTreeSet<String>>,
        kind: TokenKind,
    },
    /// A GitHub App, by a valid JWT.
    App { app_id: u64 },
}

impl Principal {
    fn label(&self) -> String {
        match self {
            Principal::Token { login, .. } => login.clone(),
            Principal::App { app_id } => format!("app:{app_id}"),
        }
    }

    /// The access on `repo`, `None` when the repository is invisible to it.
    pub fn access_to(&self, repo: &str) -> Option<Access> {
        match self {
            Principal::Token { access, repos, .. } => repos
                .as_ref()
                .is_none_or(|r| r.contains(repo))
                .then_some(*access),
            Principal::App { .. } => None,
        }
    }

    pub fn login(&self) -> &str {
        match self {
            Principal::Token { login, .. } => login,
            Principal::App { .. } => "",
        }
    }
}

/// Locks a mutex, ignoring poisoning: a panicking handler must not wedge the server.
pub(crate) fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

/// State shared by the server handle and the request handlers.
pub(crate) struct Inner {
    state: Mutex<State>,
    /// GitHub API calls answered, for the `x-ratelimit-used` header.
    github_calls: AtomicU64,
}

/// What the first, quick phase of a request decided.
enum Begin {
    /// Answer this, nothing more to do.
    Done(Resp, Option<String>, Option<Fault>),
    /// Process the request for this principal, with this fault.
    Go(Principal, Option<Fault>),
}

impl Inner {
    /// Authenticates and picks the fault, under the state lock.
    fn begin(&self, req: &Req, api: Api) -> Begin {
        let mut st = lock(&self.state);
        let principal = match api {
            Api::GitHub | Api::GraphQl => github::authenticate(&mut st, req, api),
            Api::GitLab => gitlab::authenticate(&st, req),
            Api::None => {
                return Begin::Done(
                    Resp::json(404, &json!({"message": "Not Found"})),
                    None,
                    None,
                );
            }
        };
        let principal = match principal {
            Ok(p) => p,
            Err(resp) => return Begin::Done(resp, None, None),
        };
        let fault = st.take_fault(&req.method, &req.path);
        match &fault {
            Some(Fault::Status(code)) => Begin::Done(
                fault_status(api, *code),
                Some(principal.label()),
                fault.clone(),
            ),
            Some(Fault::RateLimit {
                retry_after_secs,
                secondary,
            }) => Begin::Done(
                rate_limited(api, *retry_after_secs, *secondary),
                Some(principal.label()),
                fault.clone(),
            ),
            _ => Begin::Go(principal, fault),
        }
    }

    /// Processes the request (on a blocking thread: git commands block).
    fn process(&self, req: &Req, principal: &Principal, api: Api) -> Resp {
        let mut st = lock(&self.state);
        st.refresh_all();
        let resp = match api {
            Api::GitHub => github::handle(&mut st, principal, req),
            Api::GraphQl => github::graphql(&mut st, principal, req),
            Api::GitLab => gitlab::handle(&mut st, principal, req),
            Api::None => Resp::json(404, &json!({"message": "Not Found"})),
        };
        st.post_later_statuses(&req.method, &req.path);
        // The comments (notes) and branches these events touch serve both APIs.
        if matches!(api, Api::GitLab | Api::GitHub) {
            st.run_gitlab_later(&req.method, &req.path);
        }
        resp
    }

    /// Adds the headers every answer of `api` carries.
    fn decorate(&self, api: Api, resp: &mut Resp) {
        resp.headers.push((
            "content-type".to_owned(),
            "application/json; charset=utf-8".to_owned(),
        ));
        if matches!(api, Api::GitHub | Api::GraphQl) {
            let used = self.github_calls.fetch_add(1, Ordering::SeqCst) + 1;
            let reset = util::now_secs() + 3600;
            let has = |h: &str| resp.headers.iter().any(|(k, _)| k.eq_ignore_ascii_case(h));
            let mut extra = vec![(
                "x-github-request-id",
                format!(
                    "{}:{}:{}:{}:{}",
                    util::random_hex(4).to_uppercase(),
                    util::random_hex(5).to_uppercase(),
                    util::random_hex(7).to_uppercase(),
                    util::random_hex(7).to_uppercase(),
                    util::random_hex(8).to_uppercase()
                ),
            )];
            if !has("x-ratelimit-limit") {
                extra.extend([
                    ("x-ratelimit-limit", "5000".to_owned()),
                    (
                        "x-ratelimit-remaining",
                        5000u64.saturating_sub(used).to_string(),
                    ),
                    ("x-ratelimit-reset", reset.to_string()),
                    ("x-ratelimit-used", used.to_string()),
                    (
                        "x-ratelimit-resource",
                        if api == Api::GraphQl {
                            "graphql"
                        } else {
                            "core"
                        }
                        .to_owned(),
                    ),
                ]);
            }
            extra.push(("x-github-api-version-selected", "2022-11-28".to_owned()));
            resp.headers
                .extend(extra.into_iter().map(|(k, v)| (k.to_owned(), v)));
        }
    }

    fn log(&self, entry: Logged) {
        lock(&self.state).log.push(entry);
    }
}

/// The answer of a [`Fault::Status`] or [`Fault::AfterProcessing`] fault.
fn fault_status(api: Api, code: u16) -> Resp {
    let reason = StatusCode::from_u16(code)
        .ok()
        .and_then(|s| s.canonical_reason())
        .unwrap_or("Error");
    match api {
        Api::GitLab => Resp::json(code, &json!({"message": format!("{code} {reason}")})),
        _ => Resp::json(
            code,
            &json!({"message": reason, "documentation_url": "https://docs.github.com/rest"}),
        ),
    }
}

/// The answer of a [`Fault::RateLimit`] fault.
fn rate_limited(api: Api, retry_after: u64, secondary: bool) -> Resp {
    let now = util::now_secs();
    let reset = now + i64::try_from(retry_after).unwrap_or(0);
    match api {
        Api::GitLab => Resp::json(429, &json!({"message": "Retry later"}))
            .header("retry-after", retry_after.to_string())
            .header("ratelimit-limit", "2000")
            .header("ratelimit-observed", "2001")
            .header("ratelimit-remaining", "0")
            .header("ratelimit-reset", reset.to_string()),
        _ if secondary => Resp::json(
            403,
            &json!({
                "message": format!(
                    "You have exceeded a secondary rate limit. Please wait a few minutes before \
                     you try again. If you reach out to GitHub Support for help, please include \
                     the request ID {}.",
                    util::random_hex(8).to_uppercase()
                ),
                "documentation_url": "https://docs.github.com/rest/overview/rate-limits-for-the-rest-api#about-secondary-rate-limits"
            }),
        )
        .header("retry-after", retry_after.to_string()),
        _ => Resp::json(
            429,
            &json!({
                "message": "API rate limit exceeded for user.",
                "documentation_url": "https://docs.github.com/rest/overview/rate-limits-for-the-rest-api"
            }),
        )
        .header("retry-after", retry_after.to_string())
        .header("x-ratelimit-limit", "5000")
        .header("x-ratelimit-remaining", "0")
        .header("x-ratelimit-used", "5000")
        .header("x-ratelimit-reset", reset.to_string())
        .header("x-ratelimit-resource", "core"),
    }
}

/// The message of a caught panic.
fn panic_message(payload: &(dyn std::any::Any + Send)) -> String {
    payload
        .downcast_ref::<String>()
        .cloned()
        .or_else(|| payload.downcast_ref::<&str>().map(|s| (*s).to_owned()))
        .unwrap_or_else(|| "panic".to_owned())
}

/// The status logged for a request whose client went away before its answer (nginx's "client
/// closed request"): its processing was cancelled if it had not started, else it went on.
pub const CLIENT_GONE: u16 = 499;

/// Logs a request whose handling was dropped (its client gave up) as [`CLIENT_GONE`].
struct Pending {
    inner: Arc<Inner>,
    entry: Option<Logged>,
}

impl Drop for Pending {
    fn drop(&mut self) {
        if let Some(entry) = self.entry.take() {
            self.inner.log(entry);
        }
    }
}

/// Every request goes through here: read the body, authenticate, apply a fault, process on a
/// blocking thread, log, answer.
async fn entry(
    AxumState(inner): AxumState<Arc<Inner>>,
    request: axum::extract::Request,
) -> axum::response::Response {
    let (parts, body) = request.into_parts();
    let method = parts.method.as_str().to_owned();
    let path = parts.uri.path().to_owned();
    let query = parts.uri.query().unwrap_or_default().to_owned();
    let api = Api::of_path(&path);
    let (resp, user, fault) = match axum::body::to_bytes(body, MAX_BODY).await {
        Err(_) => (
            Resp::json(413, &json!({"message": "request body too large"})),
            None,
            None,
        ),
        Ok(bytes) => {
            let req = Req {
                method: method.clone(),
                path: path.clone(),
                params: util::parse_query(&query),
                query: query.clone(),
                headers: parts.headers,
                body: bytes.to_vec(),
            };
            match inner.begin(&req, api) {
                Begin::Done(resp, user, fault) => (resp, user, fault),
                Begin::Go(principal, fault) => {
                    let user = Some(principal.label());
                    // If the client gives up from here on, the request is still logged.
                    let mut pending = Pending {
                        inner: Arc::clone(&inner),
                        entry: Some(Logged {
                            method: method.clone(),
                            path: path.clone(),
                            query: query.clone(),
                            status: CLIENT_GONE,
                            user: user.clone(),
                            fault: fault.clone(),
                        }),
                    };
                    if let Some(Fault::Delay(d)) = &fault {
                        tokio::time::sleep(*d).await;
                    }
                    let worker = Arc::clone(&inner);
                    let joined = tokio::task::spawn_blocking(move || {
                        std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
                            worker.process(&req, &principal, api)
                        }))
                    })
                    .await;
                    let mut resp = match joined {
                        Ok(Ok(resp)) => resp,
                        Ok(Err(payload)) => Resp::json(
                            500,
                            &json!({"message": format!(
                                "fake forge handler panicked: {}",
                                panic_message(payload.as_ref())
                            )}),
                        ),
                        Err(e) => Resp::json(
                            500,
                            &json!({"message": format!("fake forge handler failed: {e}")}),
                        ),
                    };
                    if let Some(Fault::AfterProcessing(code)) = &fault {
                        resp = fault_status(api, *code);
                    }
                    pending.entry = None;
                    (resp, user, fault)
                }
            }
        }
    };
    let mut resp = resp;
    inner.decorate(api, &mut resp);
    inner.log(Logged {
        method,
        path,
        query,
        status: resp.status,
        user,
        fault,
    });
    let mut builder = http::Response::builder().status(resp.status);
    for (k, v) in &resp.headers {
        if let (Ok(name), Ok(value)) = (
            HeaderName::from_bytes(k.as_bytes()),
            HeaderValue::from_str(v),
        ) {
            builder = builder.header(name, value);
        }
    }
    builder
        .body(Body::from(resp.body))
        .unwrap_or_else(|_| http::Response::new(Body::empty()))
}

/// Answers one page of `items` with the forge's pagination headers (`per_page` at most 100,
/// `page` from 1; GitHub defaults to 30 a page, GitLab to 20).
pub(crate) fn paginate(web: &str, req: &Req, items: Vec<Value>, gitlab: bool) -> Resp {
    let per_page = req
        .query_param("per_page")
        .and_then(|v| v.parse::<usize>().ok())
        .filter(|&n| n > 0)
        .map_or(if gitlab { 20 } else { 30 }, |n| n.min(100));
    let page = req
        .query_param("page")
        .and_then(|v| v.parse::<usize>().ok())
        .filter(|&n| n > 0)
        .unwrap_or(1);
    let total = items.len();
    let pages = total.div_ceil(per_page).max(1);
    let slice: Vec<Value> = items
        .into_iter()
        .skip((page - 1).saturating_mul(per_page))
        .take(per_page)
        .collect();
    let link_to = |p: usize| {
        let mut pairs: Vec<(String, String)> = req
            .params
            .iter()
            .filter(|(k, _)| k != "page" && k != "per_page")
            .cloned()
            .collect();
        pairs.push(("page".to_owned(), p.to_string()));
        pairs.push(("per_page".to_owned(), per_page.to_string()));
        format!("{web}{}?{}", req.path, util::build_query(&pairs))
    };
    let mut links = Vec::new();
    if page > 1 {
        links.push(format!("<{}>; rel=\"prev\"", link_to(page - 1)));
    }
    if page < pages {
        links.push(format!("<{}>; rel=\"next\"", link_to(page + 1)));
    }
    if gitlab || page > 1 {
        links.push(format!("<{}>; rel=\"first\"", link_to(1)));
    }
    if gitlab || page < pages {
        links.push(format!("<{}>; rel=\"last\"", link_to(pages)));
    }
    let mut resp = Resp::json(200, &Value::Array(slice));
    if !links.is_empty() && (gitlab || pages > 1) {
        resp = resp.header("link", links.join(", "));
    }
    if gitlab {
        let next = if page < pages {
            (page + 1).to_string()
        } else {
            String::new()
        };
        let prev = if page > 1 {
            (page - 1).to_string()
        } else {
            String::new()
        };
        resp = resp
            .header("x-page", page.to_string())
            .header("x-per-page", per_page.to_string())
            .header("x-next-page", next)
            .header("x-prev-page", prev)
            .header("x-total", total.to_string())
            .header("x-total-pages", pages.to_string());
    }
    resp
}

/// The fake GitHub + GitLab server. See the module documentation.
pub struct ForgeServer {
    addr: SocketAddr,
    inner: Arc<Inner>,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    thread: Option<JoinHandle<()>>,
}

impl ForgeServer {
    /// Starts serving the repositories of `git` (same root directory) on `127.0.0.1` with an
    /// ephemeral port. Tokens added here are registered with `git` too, so they push.
    pub fn start(git: &GitServer) -> ForgeServer {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind 127.0.0.1:0");
        listener
            .set_nonblocking(true)
            .expect("non-blocking listener");
        let addr = listener.local_addr().expect("listener address");
        let web = format!("http://{addr}");
        let state = State::new(
            git.root().to_path_buf(),
            web.clone(),
            git.base_url(),
            git.credentials(),
        );
        let inner = Arc::new(Inner {
            state: Mutex::new(state),
            github_calls: AtomicU64::new(0),
        });
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .max_blocking_threads(8)
            .enable_all()
            .thread_name("forge-server-rt")
            .build()
            .expect("tokio runtime");
        let app = Router::new().fallback(entry).with_state(Arc::clone(&inner));
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let thread = thread::Builder::new()
            .name("forge-server".into())
            .spawn(move || {
                runtime.block_on(async move {
                    let Ok(listener) = tokio::net::TcpListener::from_std(listener) else {
                        return;
                    };
                    let (graceful, on_graceful) = tokio::sync::oneshot::channel::<()>();
                    let server = tokio::spawn(
                        axum::serve(listener, app)
                            .with_graceful_shutdown(async move {
                                let _ = on_graceful.await;
                            })
                            .into_future(),
                    );
                    // Dropping the sender (the server handle) also stops.
                    let _ = stopped.await;
                    let _ = graceful.send(());
                    // Connections still busy (a delayed answer) get a little time; a client
                    // holding one open forever must not keep the test binary alive.
                    let _ = tokio::time::timeout(Duration::from_secs(2), server).await;
                });
                runtime.shutdown_timeout(Duration::from_millis(500));
            })
            .expect("spawn forge server thread");
        ForgeServer {
            addr,
            inner,
            stop: Some(stop),
            thread: Some(thread),
        }
    }

    fn state(&self) -> MutexGuard<'_, State> {
        lock(&self.inner.state)
    }

    /// Runs `f` on repository `repo`, which must exist: naming a missing one is a test bug.
    fn with_repo<T>(&self, repo: &str, f: impl FnOnce(&mut state::Repo) -> T) -> T {
        let mut st = self.state();
        let r = st.repo_mut(repo).unwrap_or_else(|| {
            panic!("fake forge: no bare repository {repo}.git below the git server's root")
        });
        f(r)
    }

    /// The address the server listens on.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// `http://127.0.0.1:PORT`: where web links (`html_url`, `web_url`) point.
    pub fn web_url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// `http://127.0.0.1:PORT/api/v3`: the GitHub REST API (GitHub Enterprise layout).
    pub fn github_api_url(&self) -> String {
        format!("http://{}/api/v3", self.addr)
    }

    /// `http://127.0.0.1:PORT/api/graphql`: the GitHub GraphQL API.
    pub fn github_graphql_url(&self) -> String {
        format!("http://{}/api/graphql", self.addr)
    }

    /// `http://127.0.0.1:PORT/api/v4`: the GitLab REST API.
    pub fn gitlab_api_url(&self) -> String {
        format!("http://{}/api/v4", self.addr)
    }

    /// Adds a user (idempotent); returns its numeric id (the same on both forges).
    pub fn add_user(&self, login: &str) -> u64 {
        self.state().ensure_user(login, false)
    }

    /// Adds a token of `login` (added as a user if needed) with `access` to every repository.
    /// The git server accepts it too, as the password of `x-access-token`, `oauth2` and
    /// `login`.
    pub fn add_token(&self, token: &str, login: &str, access: Access) {
        self.state()
            .add_token(token, login, access, None, TokenKind::Personal);
    }

    /// Like [`ForgeServer::add_token`], but the token sees only `repos` (`owner/name`): any
    /// other repository is `404` to it.
    pub fn add_scoped_token(&self, token: &str, login: &str, access: Access, repos: &[&str]) {
        let repos = repos.iter().map(|r| (*r).to_owned()).collect();
        self.state()
            .add_token(token, login, access, Some(repos), TokenKind::Personal);
    }

    /// Adds a GitLab CI job token (`CI_JOB_TOKEN`) of a job run by `login` in `repo`; returns
    /// the job's id. It authenticates only what GitLab lets job tokens call (`GET /job`,
    /// listing and reading merge requests and their notes) and only on `repo`; for git it
    /// pushes as `gitlab-ci-token`.
    pub fn add_job_token(&self, token: &str, login: &str, repo: &str) -> u64 {
        let mut st = self.state();
        let job_id = st.next_id();
        let repos = BTreeSet::from([repo.to_owned()]);
        st.add_token(
            token,
            login,
            Access::Write,
            Some(repos),
            TokenKind::Job {
                repo: repo.to_owned(),
                job_id,
            },
        );
        job_id
    }

    /// Adds a GitHub App installation token made outside ferry (a workflow's app-token step):
    /// it acts as `<slug>[bot]` (a `Bot` user) with write access to every repository, and,
    /// like GitHub, answers 403 to `GET /user`.
    pub fn add_installation_token(&self, token: &str, slug: &str) {
        let mut st = self.state();
        let login = format!("{slug}[bot]");
        st.ensure_user(&login, true);
        let installation_id = st.next_id();
        st.add_token(
            token,
            &login,
            Access::Write,
            None,
            TokenKind::Installation { installation_id },
        );
    }

    /// Adds a GitHub fine-grained personal access token of `login` with "Contents" and "Pull
    /// requests" at `access`, "Commit statuses: read" when `statuses`, and no "Checks"
    /// (fine-grained tokens cannot have it): check runs answer 403.
    pub fn add_fine_grained_token(&self, token: &str, login: &str, access: Access, statuses: bool) {
        self.state().add_token(
            token,
            login,
            access,
            None,
            TokenKind::FineGrained { statuses },
        );
    }

    /// GitHub computing mergeability in the background (as after a push): the next `reads`
    /// reads of an open pull request (`GET /pulls/{n}`) answer `mergeable: null`,
    /// `mergeable_state: "unknown"`.
    pub fn github_computing_mergeability(&self, reads: usize) {
        self.state().github_computing = reads;
    }

    /// Adds a GitHub team (`org/slug`) that may be requested as a reviewer (any other team
    /// is refused, as GitHub refuses a team the token cannot see or without access).
    pub fn add_team(&self, team: &str) {
        self.state().teams.insert(team.to_owned());
    }

    /// The `Accept` and `X-GitHub-Api-Version` headers of every GitHub REST request so far
    /// (`None` when absent).
    pub fn github_request_headers(&self) -> Vec<(Option<String>, Option<String>)> {
        self.state().github_headers.clone()
    }

    /// Makes `token` expired: the APIs answer `401` and the git server refuses it.
    pub fn expire_token(&self, token: &str) {
        self.state().expire_token(token);
    }

    /// Sets the protection of `branch` in `repo` (`owner/name`).
    pub fn protect(&self, repo: &str, branch: &str, protection: Protection) {
        self.with_repo(repo, |r| {
            r.protections.insert(branch.to_owned(), protection);
        });
    }

    /// GitHub's "Allow auto-merge" repository setting (off by default, as on GitHub).
    pub fn set_allow_auto_merge(&self, repo: &str, allow: bool) {
        self.with_repo(repo, |r| r.allow_auto_merge = allow);
    }

    /// GitLab's "Prevent approval by author" turned off (`true`) or on (`false`, the
    /// default here): whether an author may approve their own merge request.
    pub fn set_author_can_approve(&self, repo: &str, allow: bool) {
        self.with_repo(repo, |r| r.author_can_approve = allow);
    }

    /// The GitLab project id of `repo` (assigned 1, 2, … in path order at start, then in
    /// order of first use).
    pub fn project_id(&self, repo: &str) -> u64 {
        self.with_repo(repo, |r| r.id)
    }

    /// Sets the status of the GitLab pipeline of `sha` (created if there is none): `created`,
    /// `pending`, `running`, `success`, `failed`, `canceled`, `skipped` or `manual`. Returns
    /// the pipeline's id. Merge requests waiting to merge when the pipeline succeeds merge now
    /// if they can.
    pub fn set_pipeline(&self, repo: &str, sha: &str, status: &str) -> u64 {
        assert!(
            matches!(
                status,
                "created"
                    | "pending"
                    | "running"
                    | "success"
                    | "failed"
                    | "canceled"
                    | "skipped"
                    | "manual"
                    | "scheduled"
                    | "preparing"
                    | "waiting_for_resource"
            ),
            "fake forge: {status:?} is no GitLab pipeline status"
        );
        self.with_repo(repo, |_| ());
        let mut st = self.state();
        st.refresh_all();
        let id = st.set_pipeline(repo, sha, status);
        st.sweep_auto_merge(repo);
        id
    }

    /// GitLab's tier for `repo`: on [`GitLabTier::Free`] there are no approval rules (a
    /// protection's `required_approvals` does not count on the GitLab side) and `GET
    /// .../approvals` answers the Free shape. [`GitLabTier::Premium`] is the default.
    pub fn set_gitlab_tier(&self, repo: &str, tier: GitLabTier) {
        self.with_repo(repo, |r| r.gitlab.tier = tier);
    }

    /// Makes GitLab answer a failed merge (`Branch cannot be merged`) with `406`, as GitLab
    /// did in older versions (their API docs list it), rather than `422`.
    pub fn set_gitlab_legacy_merge_errors(&self, repo: &str, legacy: bool) {
        self.with_repo(repo, |r| r.gitlab.legacy_merge_errors = legacy);
    }

    /// The next GitLab merge of `repo` whose checks pass fails in the merge itself (a
    /// server hook refused the merge commit, the target moved meanwhile): `422` (or `406`)
    /// `Branch cannot be merged`, and nothing merges.
    pub fn fail_next_gitlab_merge(&self, repo: &str) {
        self.with_repo(repo, |r| r.gitlab.fail_next_merge = true);
    }

    /// Adds a GitLab project access token of `repo` with the role `access`: GitLab makes a
    /// bot user `project_{id}_bot_{random}` for it, which `GET /user` names (`bot: true`) and
    /// which writes what the token writes. It sees only `repo`. Returns the bot's user name.
    pub fn add_gitlab_project_token(&self, token: &str, repo: &str, access: Access) -> String {
        let id = self.project_id(repo);
        let login = format!("project_{id}_bot_{}", util::random_hex(16));
        let mut st = self.state();
        st.ensure_user(&login, true);
        let repos = BTreeSet::from([repo.to_owned()]);
        st.add_token(token, &login, access, Some(repos), TokenKind::Personal);
        login
    }

    /// Adds a GitLab group access token of `group` (every `group/*` repository known now)
    /// with the role `access`; its bot user is `group_{id}_bot_{random}`. Returns the bot's
    /// user name.
    pub fn add_gitlab_group_token(&self, token: &str, group: &str, access: Access) -> String {
        let mut st = self.state();
        let id = st.next_id();
        let login = format!("group_{id}_bot_{}", util::random_hex(16));
        st.ensure_user(&login, true);
        let repos = st
            .repos
            .keys()
            .filter(|full| full.split('/').next() == Some(group))
            .cloned()
            .collect();
        st.add_token(token, &login, access, Some(repos), TokenKind::Personal);
        login
    }

    /// Adds a token of `login` with only the `read_api` (and `read_repository`) scope: every
    /// GitLab API write answers `403 insufficient_scope`. Git accepts it for reads only.
    pub fn add_gitlab_read_api_token(&self, token: &str, login: &str) {
        let mut st = self.state();
        st.add_token(token, login, Access::Read, None, TokenKind::Personal);
        st.gitlab.read_only.insert(token.to_owned());
    }

    /// Schedules a [`GitLabEvent`] (a push, another run's note) for once the requests
    /// `later` names have been answered: what happens between two of ferry's calls.
    pub fn gitlab_later(&self, later: GitLabLater) {
        self.state().gitlab.later.push(later);
    }

    /// Writes a note by `author` on change request `number` of `repo`, out of band (many at
    /// once, for pagination); returns its id.
    pub fn add_note(&self, repo: &str, number: u64, author: &str, body: &str) -> u64 {
        self.with_repo(repo, |_| ());
        self.state().add_note(repo, number, author, body)
    }

    /// Adds a GitHub check run on `sha`; returns its id.
    pub fn add_check_run(&self, repo: &str, sha: &str, run: CheckRun) -> u64 {
        self.with_repo(repo, |_| ());
        let mut st = self.state();
        st.refresh_all();
        let id = st.add_check_run(repo, sha, run);
        st.sweep_auto_merge(repo);
        id
    }

    /// Registers a GitHub App whose JWTs verify with `public_key_pem` (SPKI `PUBLIC KEY` or
    /// PKCS#1 `RSA PUBLIC KEY`), installed as `installation_id` on `repos` (`owner/name`).
    /// Installation tokens it mints write to those repositories, through the API and git.
    pub fn register_github_app(
        &self,
        app_id: u64,
        public_key_pem: &str,
        installation_id: u64,
        repos: &[&str],
    ) {
        let repos = repos.iter().map(|r| (*r).to_owned()).collect();
        self.state()
            .register_app(app_id, public_key_pem, installation_id, repos)
            .unwrap_or_else(|e| panic!("register_github_app: {e}"));
    }

    /// The change requests of `repo`, by number.
    pub fn change_requests(&self, repo: &str) -> Vec<ChangeRequest> {
        let mut st = self.state();
        st.refresh_all();
        st.snapshot(repo)
    }

    /// The comments (notes) of change request `number` of `repo`, oldest first.
    pub fn comments(&self, repo: &str, number: u64) -> Vec<Comment> {
        let mut st = self.state();
        st.repo_mut(repo).map_or_else(Vec::new, |r| {
            r.comments
                .iter()
                .filter(|c| c.number == number)
                .map(|c| Comment {
                    id: c.id,
                    author: c.author.clone(),
                    body: c.body.clone(),
                })
                .collect()
        })
    }

    /// The commit statuses posted on `sha` of `repo`, oldest first (every one, not only the
    /// latest per context).
    pub fn statuses(&self, repo: &str, sha: &str) -> Vec<Status> {
        let mut st = self.state();
        st.repo_mut(repo).map_or_else(Vec::new, |r| {
            r.statuses
                .iter()
                .filter(|s| s.sha == sha)
                .map(|s| Status {
                    id: s.id,
                    context: s.context.clone(),
                    state: s.state.clone(),
                    target_url: s.target_url.clone(),
                    description: s.description.clone(),
                    creator: s.creator.clone(),
                })
                .collect()
        })
    }

    /// Queues a fault rule. Rules are tried in the order queued; only authenticated requests
    /// consume them.
    pub fn inject(&self, rule: FaultRule) {
        self.state().faults.push(rule);
    }

    /// Posts a commit status once the requests `later` names have been answered (see
    /// [`LaterStatus`]).
    pub fn post_status_later(&self, later: LaterStatus) {
        self.state().later.push(later);
    }

    /// The fault rules that still have requests to apply to.
    pub fn pending_faults(&self) -> Vec<FaultRule> {
        self.state()
            .faults
            .iter()
            .filter(|r| r.times > 0)
            .cloned()
            .collect()
    }

    /// Every request answered so far, oldest first. A request is logged before its answer is
    /// sent, so once a client has its answer, the request is here.
    pub fn requests(&self) -> Vec<Logged> {
        self.state().log.clone()
    }

    /// Forgets the request log.
    pub fn clear_requests(&self) {
        self.state().log.clear();
    }

    /// Approves GitHub pull request `number` of `repo` as the owner of `token`, through the
    /// real endpoint (`POST /repos/{o}/{r}/pulls/{n}/reviews`, event `APPROVE`). Returns the
    /// status.
    pub fn approve_github(&self, repo: &str, number: u64, token: &str) -> u16 {
        let url = format!(
            "{}/repos/{repo}/pulls/{number}/reviews",
            self.github_api_url()
        );
        client::send_json(
            "POST",
            &url,
            &[("authorization", &format!("Bearer {token}"))],
            &json!({"event": "APPROVE", "body": "Looks good"}),
        )
        .map_or(0, |r| r.status)
    }

    /// Approves GitLab merge request `iid` of `repo` as the owner of `token`, through the real
    /// endpoint (`POST /projects/:id/merge_requests/:iid/approve`). Returns the status.
    pub fn approve_gitlab(&self, repo: &str, iid: u64, token: &str) -> u16 {
        let url = format!(
            "{}/projects/{}/merge_requests/{iid}/approve",
            self.gitlab_api_url(),
            util::percent_encode(repo)
        );
        client::request("POST", &url, &[("private-token", token)], None).map_or(0, |r| r.status)
    }
}

impl Drop for ForgeServer {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}
