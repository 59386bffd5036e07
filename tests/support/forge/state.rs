//! What the fake forge remembers, and the rules both forges share: who may see and do what,
//! when a change request can merge, and the merge itself.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::path::{Path, PathBuf};

use rsa::RsaPublicKey;
use rsa::pkcs1::DecodeRsaPublicKey as _;
use rsa::pkcs8::DecodePublicKey as _;

use super::git_ops::{self, Identity, MergeTree};
use super::{
    Access, ChangeRequest, CheckRun, CrState, Fault, FaultRule, LaterStatus, Logged, Protection,
    util,
};
use crate::support::git_http::{self, Credentials};

/// What kind of token a token is.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum TokenKind {
    /// A personal (or project) access token.
    Personal,
    /// A GitHub App installation token.
    Installation { installation_id: u64 },
    /// A GitLab CI job token of job `job_id` in `repo`.
    Job { repo: String, job_id: u64 },
    /// A GitHub fine-grained personal access token: "Contents" and "Pull requests" as its
    /// access says, "Commit statuses: read" when `statuses`, and never "Checks" (GitHub offers
    /// that permission to Apps only): listing check runs answers 403.
    FineGrained { statuses: bool },
}

/// A GitLab tier, for what differs between them here: approval rules (and so the answer of
/// `GET .../approvals`) exist on Premium and Ultimate only.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum GitLabTier {
    /// GitLab Free (the FOSS code): no approval rules; `GET .../approvals` answers only
    /// `user_has_approved`, `user_can_approve`, `approved` (whether anyone approved) and
    /// `approved_by`.
    Free,
    /// Premium or Ultimate: approval rules, and the full approval state.
    #[default]
    Premium,
}

/// GitLab-only settings of a project.
#[derive(Clone, Debug, Default)]
pub struct GitLabProject {
    pub tier: GitLabTier,
    /// Answer `406` rather than `422` to a merge that fails (`Branch cannot be merged`), as
    /// older GitLab did (its API docs listed `406`).
    pub legacy_merge_errors: bool,
    /// Fail the next merge (`PUT .../merge`) after its checks passed: `422` (or `406`)
    /// `Branch cannot be merged`, nothing merged.
    pub fail_next_merge: bool,
}

/// What happens out of band on the GitLab side once a request has been answered.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum GitLabEvent {
    /// Someone pushes: `branch` of `repo` now points at `sha` (a commit already in it).
    MoveBranch {
        repo: String,
        branch: String,
        sha: String,
    },
    /// Someone (or another run of ferry) writes a note on merge request `number`.
    Note {
        repo: String,
        number: u64,
        author: String,
        body: String,
    },
}

/// A [`GitLabEvent`] that happens once the `after`-th request matching `method` and
/// `path_contains` has been answered.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct GitLabLater {
    /// `GET`, `POST`, … or `*`.
    pub method: String,
    /// A substring of the request path.
    pub path_contains: String,
    /// How many more matching requests are answered before it happens.
    pub after: usize,
    pub event: GitLabEvent,
}

/// GitLab-only state of the server.
#[derive(Default)]
pub struct GitLabState {
    /// Tokens with the `read_api` scope (and `read_repository`): every write is `403
    /// insufficient_scope`.
    pub read_only: BTreeSet<String>,
    /// Events still to happen.
    pub later: Vec<GitLabLater>,
}

pub struct User {
    pub login: String,
    pub id: u64,
    pub bot: bool,
}

pub struct Token {
    pub login: String,
    pub access: Access,
    pub repos: Option<BTreeSet<String>>,
    pub kind: TokenKind,
    pub expired: bool,
    pub expires_at: Option<i64>,
}

pub struct App {
    pub app_id: u64,
    pub slug: String,
    pub key: RsaPublicKey,
    pub installation_id: u64,
    pub repos: Vec<String>,
    pub created: i64,
}

/// A review on a GitHub pull request.
pub struct Review {
    pub id: u64,
    pub user: String,
    /// `APPROVED`, `CHANGES_REQUESTED` or `COMMENTED`.
    pub state: String,
    pub commit_id: String,
    pub body: String,
    pub submitted_at: i64,
    /// Whether the reviewer had write access: only their approvals count.
    pub can_write: bool,
}

/// An approval on a GitLab merge request.
pub struct Approval {
    pub user: String,
    pub at: i64,
    /// The head commit approved: an approval of an older head no longer counts (GitLab's
    /// "remove approvals when commits are added").
    pub sha: String,
}

/// Which API set auto-merge (they merge by different rules).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Forge {
    GitHub,
    GitLab,
}

pub struct AutoMerge {
    pub forge: Forge,
    /// GitHub `MERGE`/`SQUASH`/`REBASE`; GitLab `merge_when_pipeline_succeeds`.
    pub method: String,
    pub enabled_by: String,
    pub enabled_at: i64,
    pub commit_title: Option<String>,
    pub commit_message: Option<String>,
    pub squash: bool,
    pub remove_source_branch: bool,
}

/// A pull request / merge request.
pub struct Cr {
    pub number: u64,
    pub id: u64,
    pub title: String,
    pub body: String,
    pub head: String,
    pub base: String,
    pub head_sha: String,
    pub state: CrState,
    pub draft: bool,
    pub author: String,
    pub labels: Vec<String>,
    pub assignees: Vec<String>,
    pub reviewers: Vec<String>,
    pub created: i64,
    pub updated: i64,
    pub closed_at: Option<i64>,
    pub merged_at: Option<i64>,
    pub merge_commit_sha: Option<String>,
    pub squash_commit_sha: Option<String>,
    pub merged_by: Option<String>,
    pub merge_method: Option<String>,
    pub auto_merge: Option<AutoMerge>,
    pub reviews: Vec<Review>,
    pub approvals: Vec<Approval>,
    pub remove_source_branch: bool,
    pub squash: bool,
}

pub struct CommentRec {
    pub id: u64,
    pub number: u64,
    pub author: String,
    pub body: String,
    pub created: i64,
    pub updated: i64,
}

pub struct StatusRec {
    pub id: u64,
    pub sha: String,
    pub context: String,
    pub state: String,
    pub target_url: Option<String>,
    pub description: Option<String>,
    pub creator: String,
    pub created: i64,
    pub updated: i64,
    /// GitLab only: the ref and the pipeline the status belongs to.
    pub git_ref: Option<String>,
    pub pipeline_id: Option<u64>,
}

pub struct Pipeline {
    pub id: u64,
    pub iid: u64,
    pub sha: String,
    pub git_ref: String,
    /// The status of its own jobs (set from Rust), `None` for an external pipeline made of
    /// commit statuses only.
    pub jobs: Option<String>,
    pub created: i64,
    pub updated: i64,
}

pub struct CheckRunRec {
    pub id: u64,
    pub sha: String,
    pub run: CheckRun,
    pub created: i64,
}

pub struct Label {
    pub id: u64,
    pub name: String,
    pub color: String,
}

pub struct Repo {
    /// `owner/name`.
    pub full: String,
    pub path: PathBuf,
    /// GitHub repository id and GitLab project id.
    pub id: u64,
    pub protections: BTreeMap<String, Protection>,
    pub crs: Vec<Cr>,
    pub comments: Vec<CommentRec>,
    pub statuses: Vec<StatusRec>,
    pub check_runs: Vec<CheckRunRec>,
    pub pipelines: Vec<Pipeline>,
    pub labels: Vec<Label>,
    pub allow_auto_merge: bool,
    pub author_can_approve: bool,
    /// GitLab-only settings.
    pub gitlab: GitLabProject,
    /// Branch → tip, as of the start of the current request.
    pub tips: BTreeMap<String, String>,
    pub created: i64,
}

impl Repo {
    pub fn owner(&self) -> &str {
        self.full.split('/').next().unwrap_or_default()
    }

    pub fn name(&self) -> &str {
        self.full.split('/').nth(1).unwrap_or_default()
    }

    pub fn cr(&self, number: u64) -> Option<&Cr> {
        self.crs.iter().find(|c| c.number == number)
    }

    pub fn cr_mut(&mut self, number: u64) -> Option<&mut Cr> {
        self.crs.iter_mut().find(|c| c.number == number)
    }

    pub fn default_branch(&self) -> String {
        git_ops::default_branch(&self.path).unwrap_or_else(|| "main".to_owned())
    }

    /// The protection of `branch` (none: the default, which requires nothing).
    pub fn protection(&self, branch: &str) -> Protection {
        self.protections.get(branch).cloned().unwrap_or_default()
    }

    /// The label named `name`, created (grey) if the repository has none yet.
    pub fn label_id(&mut self, name: &str, next_id: &mut u64) -> u64 {
        if let Some(l) = self.labels.iter().find(|l| l.name == name) {
            return l.id;
        }
        *next_id += 1;
        self.labels.push(Label {
            id: *next_id,
            name: name.to_owned(),
            color: "ededed".to_owned(),
        });
        *next_id
    }

    /// The latest pipeline of `sha`.
    pub fn head_pipeline(&self, sha: &str) -> Option<&Pipeline> {
        self.pipelines.iter().rev().find(|p| p.sha == sha)
    }

    /// A pipeline's status: its jobs' status combined with the latest commit status of each
    /// name attached to it (GitLab's composite status).
    pub fn pipeline_status(&self, pipeline: &Pipeline) -> String {
        let mut latest: BTreeMap<&str, &str> = BTreeMap::new();
        for s in self
            .statuses
            .iter()
            .filter(|s| s.pipeline_id == Some(pipeline.id))
        {
            latest.insert(&s.context, &s.state);
        }
        let mut states: Vec<&str> = latest.into_values().collect();
        if let Some(j) = &pipeline.jobs {
            states.push(j);
        }
        composite_status(&states)
    }
}

/// GitLab's composite status of several jobs: still going while any is, then failed,
/// canceled, skipped (all), or success.
pub fn composite_status(states: &[&str]) -> String {
    let any = |s: &[&str]| states.iter().any(|x| s.contains(x));
    let status = if states.is_empty() {
        "created"
    } else if any(&["running"]) {
        "running"
    } else if any(&["pending", "waiting_for_resource", "preparing", "scheduled"]) {
        "pending"
    } else if states.iter().all(|s| *s == "created") {
        "created"
    } else if any(&["created"]) {
        "running"
    } else if any(&["failed"]) {
        "failed"
    } else if any(&["canceled"]) {
        "canceled"
    } else if states.iter().all(|s| *s == "skipped") {
        "skipped"
    } else if any(&["manual"]) && !any(&["success"]) {
        "manual"
    } else {
        "success"
    };
    status.to_owned()
}

/// Whether a GitLab pipeline status means "not finished".
pub fn pipeline_active(status: &str) -> bool {
    matches!(
        status,
        "created" | "waiting_for_resource" | "preparing" | "pending" | "running" | "scheduled"
    )
}

/// Everything that decides whether a change request can merge, computed from the repository.
pub struct Assessment {
    pub base_sha: Option<String>,
    /// `None` when the base branch is gone or git failed.
    pub merge: Option<MergeTree>,
    pub required_approvals: u32,
    pub approvals: u32,
    pub changes_requested: bool,
    /// Required checks not yet reported or still pending.
    pub missing_checks: Vec<String>,
    /// Required checks reported failing.
    pub failing_checks: Vec<String>,
    /// A check that is not required is failing.
    pub other_failing: bool,
    /// The head does not contain the base tip while the base requires up-to-date branches.
    pub behind: bool,
    pub protection: Protection,
    /// GitLab: the head pipeline's id and status.
    pub pipeline: Option<(u64, String)>,
}

impl Assessment {
    pub fn conflict(&self) -> bool {
        self.merge == Some(MergeTree::Conflict)
    }

    /// GitHub: blocked by reviews or required checks.
    pub fn github_blocked(&self) -> bool {
        self.approvals < self.required_approvals
            || (self.required_approvals > 0 && self.changes_requested)
            || !self.missing_checks.is_empty()
            || !self.failing_checks.is_empty()
    }

    pub fn approvals_left(&self) -> u32 {
        self.required_approvals.saturating_sub(self.approvals)
    }
}

/// GitHub's `mergeable` and `mergeable_state` of a pull request.
pub fn github_mergeability(cr: &Cr, a: &Assessment) -> (Option<bool>, &'static str) {
    if cr.state != CrState::Open {
        return (None, "unknown");
    }
    match &a.merge {
        None => (None, "unknown"),
        Some(MergeTree::Conflict) => (Some(false), "dirty"),
        Some(MergeTree::Clean(_)) => {
            let state = if cr.draft {
                "draft"
            } else if a.behind {
                "behind"
            } else if a.github_blocked() {
                "blocked"
            } else if a.other_failing {
                "unstable"
            } else {
                "clean"
            };
            (Some(true), state)
        }
    }
}

/// Why GitHub refuses to merge (the `405` message), or `None` when it may.
pub fn github_merge_refusal(cr: &Cr, a: &Assessment) -> Option<String> {
    if cr.state != CrState::Open {
        return Some("Pull Request is not mergeable".to_owned());
    }
    match &a.merge {
        None | Some(MergeTree::Conflict) => {
            return Some("Pull Request is not mergeable".to_owned());
        }
        Some(MergeTree::Clean(_)) => {}
    }
    if cr.draft {
        return Some("Pull Request is still a draft".to_owned());
    }
    if a.behind {
        return Some("Head branch is not up to date with the base branch".to_owned());
    }
    if a.approvals < a.required_approvals {
        let n = a.required_approvals;
        return Some(if n == 1 {
            "At least 1 approving review is required by reviewers with write access.".to_owned()
        } else {
            format!("At least {n} approving reviews are required by reviewers with write access.")
        });
    }
    if a.required_approvals > 0 && a.changes_requested {
        return Some("Changes have been requested.".to_owned());
    }
    let required = a.protection.required_checks.len();
    let problems = a.missing_checks.len() + a.failing_checks.len();
    if problems == 1 {
        if let Some(c) = a.missing_checks.first() {
            return Some(format!("Required status check \"{c}\" is expected."));
        }
        if let Some(c) = a.failing_checks.first() {
            return Some(format!("Required status check \"{c}\" is failing."));
        }
    }
    if problems > 1 {
        return Some(format!(
            "{problems} of {required} required status checks are expected."
        ));
    }
    None
}

/// GitLab's `detailed_merge_status` of a merge request. On GitLab Free (`free`) there are no
/// approval rules: approvals never block.
pub fn gitlab_detailed_status(cr: &Cr, a: &Assessment, free: bool) -> &'static str {
    if cr.state != CrState::Open {
        return "not_open";
    }
    if cr.draft {
        return "draft_status";
    }
    match &a.merge {
        None => return "unchecked",
        Some(MergeTree::Conflict) => return "conflict",
        Some(MergeTree::Clean(_)) => {}
    }
    if !free && a.approvals_left() > 0 {
        return "not_approved";
    }
    if a.protection.pipeline_must_succeed {
        return match &a.pipeline {
            None => "ci_must_pass",
            Some((_, s)) if pipeline_active(s) => "ci_still_running",
            Some((_, s)) if s == "success" => "mergeable",
            Some(_) => "ci_must_pass",
        };
    }
    "mergeable"
}

/// How to merge.
pub enum MergeStyle {
    GitHub {
        /// `merge`, `squash` or `rebase`.
        method: String,
        title: Option<String>,
        message: Option<String>,
    },
    GitLab {
        squash: bool,
        message: Option<String>,
        squash_message: Option<String>,
        remove_source: bool,
    },
}

/// Why a merge did not happen.
#[derive(Debug)]
pub enum MergeError {
    Conflict,
    /// The base branch is gone.
    NoBase,
    /// The base branch moved while merging (compare-and-swap lost).
    BaseMoved,
    Git(String),
}

pub struct State {
    pub root: PathBuf,
    pub web: String,
    pub git_base: String,
    pub git: Credentials,
    pub users: Vec<User>,
    pub tokens: HashMap<String, Token>,
    pub apps: Vec<App>,
    pub repos: BTreeMap<String, Repo>,
    pub next_project_id: u64,
    pub next_id: u64,
    pub faults: Vec<FaultRule>,
    /// Statuses agents post once some requests are answered.
    pub later: Vec<LaterStatus>,
    pub log: Vec<Logged>,
    /// `Accept` and `X-GitHub-Api-Version` of each GitHub REST request.
    pub github_headers: Vec<(Option<String>, Option<String>)>,
    /// GitHub teams (`org/slug`) that exist and may be requested as reviewers.
    pub teams: BTreeSet<String>,
    /// How many more reads of one open pull request answer "mergeability still computing".
    pub github_computing: usize,
    /// GitLab-only state.
    pub gitlab: GitLabState,
    merge_cache: HashMap<(String, String, String), MergeTree>,
}

impl State {
    pub fn new(root: PathBuf, web: String, git_base: String, git: Credentials) -> State {
        let mut st = State {
            root,
            web,
            git_base,
            git,
            users: Vec::new(),
            tokens: HashMap::new(),
            apps: Vec::new(),
            repos: BTreeMap::new(),
            next_project_id: 1,
            next_id: 1000,
            github_headers: Vec::new(),
            teams: BTreeSet::new(),
            github_computing: 0,
            faults: Vec::new(),
            later: Vec::new(),
            log: Vec::new(),
            gitlab: GitLabState::default(),
            merge_cache: HashMap::new(),
        };
        // Ids in path order, so a test knows them without asking.
        for full in scan_repos(&st.root) {
            st.repo_mut(&full);
        }
        st
    }

    pub fn next_id(&mut self) -> u64 {
        self.next_id += 1;
        self.next_id
    }

    pub fn api_v3(&self) -> String {
        format!("{}/api/v3", self.web)
    }

    pub fn api_v4(&self) -> String {
        format!("{}/api/v4", self.web)
    }

    pub fn ensure_user(&mut self, login: &str, bot: bool) -> u64 {
        if let Some(u) = self.users.iter().find(|u| u.login == login) {
            return u.id;
        }
        let id = self.users.len() as u64 + 1;
        self.users.push(User {
            login: login.to_owned(),
            id,
            bot,
        });
        id
    }

    pub fn user(&self, login: &str) -> Option<&User> {
        self.users.iter().find(|u| u.login == login)
    }

    pub fn user_by_id(&self, id: u64) -> Option<&User> {
        self.users.iter().find(|u| u.id == id)
    }

    pub fn user_id(&self, login: &str) -> u64 {
        self.user(login).map_or(0, |u| u.id)
    }

    pub fn add_token(
        &mut self,
        token: &str,
        login: &str,
        access: Access,
        repos: Option<BTreeSet<String>>,
        kind: TokenKind,
    ) {
        self.ensure_user(login, false);
        let git_access = if access == Access::Read {
            git_http::Access::Read
        } else {
            git_http::Access::Write
        };
        let mut names = vec!["x-access-token", "oauth2", login];
        if matches!(kind, TokenKind::Job { .. }) {
            names = vec!["gitlab-ci-token"];
        }
        for name in names {
            self.git.add_token(name, token, git_access);
        }
        let expires_at =
            matches!(kind, TokenKind::Installation { .. }).then(|| util::now_secs() + 3600);
        self.tokens.insert(
            token.to_owned(),
            Token {
                login: login.to_owned(),
                access,
                repos,
                kind,
                expired: false,
                expires_at,
            },
        );
    }

    pub fn expire_token(&mut self, token: &str) {
        if let Some(t) = self.tokens.get_mut(token) {
            t.expired = true;
        }
        self.git.remove_token(token);
    }

    pub fn register_app(
        &mut self,
        app_id: u64,
        public_key_pem: &str,
        installation_id: u64,
        repos: Vec<String>,
    ) -> Result<(), String> {
        let (label, der) =
            util::pem_decode(public_key_pem).ok_or_else(|| "not a PEM block".to_owned())?;
        let key = match label.as_str() {
            "PUBLIC KEY" => RsaPublicKey::from_public_key_der(&der).map_err(|e| e.to_string())?,
            "RSA PUBLIC KEY" => RsaPublicKey::from_pkcs1_der(&der).map_err(|e| e.to_string())?,
            other => return Err(format!("a {other} is not an RSA public key")),
        };
        let slug = format!("test-app-{app_id}");
        self.ensure_user(&format!("{slug}[bot]"), true);
        self.apps.retain(|a| a.installation_id != installation_id);
        self.apps.push(App {
            app_id,
            slug,
            key,
            installation_id,
            repos,
            created: util::now_millis(),
        });
        Ok(())
    }

    /// A new installation token of `installation_id` for `repos` (all of the installation's
    /// when `None`).
    pub fn mint_installation_token(&mut self, installation_id: u64, repos: &[String]) -> String {
        let slug = self
            .apps
            .iter()
            .find(|a| a.installation_id == installation_id)
            .map(|a| a.slug.clone())
            .unwrap_or_default();
        let token = format!("ghs_{}", util::random_alnum(36));
        self.add_token(
            &token,
            &format!("{slug}[bot]"),
            Access::Write,
            Some(repos.iter().cloned().collect()),
            TokenKind::Installation { installation_id },
        );
        token
    }

    /// The repository `owner/name`, known from now on if its bare repository exists.
    pub fn repo_mut(&mut self, full: &str) -> Option<&mut Repo> {
        if !self.repos.contains_key(full) {
            let mut parts = full.split('/');
            let (Some(owner), Some(name), None) = (parts.next(), parts.next(), parts.next()) else {
                return None;
            };
            let valid = |s: &str| !s.is_empty() && !s.starts_with('.') && !s.contains(['\\', '\0']);
            if !valid(owner) || !valid(name) {
                return None;
            }
            let path = self.root.join(owner).join(format!("{name}.git"));
            if !path.is_dir() {
                return None;
            }
            let id = self.next_project_id;
            self.next_project_id += 1;
            let tips = git_ops::branch_tips(&path);
            self.repos.insert(
                full.to_owned(),
                Repo {
                    full: full.to_owned(),
                    path,
                    id,
                    protections: BTreeMap::new(),
                    crs: Vec::new(),
                    comments: Vec::new(),
                    statuses: Vec::new(),
                    check_runs: Vec::new(),
                    pipelines: Vec::new(),
                    labels: Vec::new(),
                    allow_auto_merge: false,
                    author_can_approve: false,
                    gitlab: GitLabProject::default(),
                    tips,
                    created: util::now_millis(),
                },
            );
        }
        self.repos.get_mut(full)
    }

    /// The repository whose GitLab project id is `id`.
    pub fn repo_by_id(&self, id: u64) -> Option<String> {
        self.repos
            .values()
            .find(|r| r.id == id)
            .map(|r| r.full.clone())
    }

    /// Reads every known repository's branch tips, and moves each open change request's head
    /// to its branch's tip (a gone branch leaves the last one seen).
    pub fn refresh_all(&mut self) {
        let keys: Vec<String> = self.repos.keys().cloned().collect();
        for key in keys {
            self.refresh(&key);
        }
    }

    pub fn refresh(&mut self, full: &str) {
        let Some(repo) = self.repos.get_mut(full) else {
            return;
        };
        repo.tips = git_ops::branch_tips(&repo.path);
        for cr in repo.crs.iter_mut().filter(|c| c.state == CrState::Open) {
            if let Some(tip) = repo.tips.get(&cr.head) {
                cr.head_sha.clone_from(tip);
            }
        }
    }

    /// Counts an answered request against the scheduled statuses, posting those now due.
    pub fn post_later_statuses(&mut self, method: &str, path: &str) {
        let mut due = Vec::new();
        self.later.retain_mut(|l| {
            if (l.method == "*" || l.method.eq_ignore_ascii_case(method))
                && path.contains(&l.path_contains)
            {
                l.after = l.after.saturating_sub(1);
                if l.after == 0 {
                    due.push(l.clone());
                    return false;
                }
            }
            true
        });
        for l in due {
            let id = self.next_id();
            let now = util::now_millis();
            let full = l.repo.clone();
            if let Some(repo) = self.repos.get_mut(&full) {
                repo.statuses.push(StatusRec {
                    id,
                    sha: l.sha,
                    context: l.context,
                    state: l.state,
                    target_url: l.target_url,
                    description: None,
                    creator: "agent".to_owned(),
                    created: now,
                    updated: now,
                    git_ref: None,
                    pipeline_id: None,
                });
            }
            self.sweep_auto_merge(&full);
        }
    }

    /// Counts an answered GitLab request against the scheduled [`GitLabLater`] events, and
    /// makes those now due happen.
    pub fn run_gitlab_later(&mut self, method: &str, path: &str) {
        let mut due = Vec::new();
        self.gitlab.later.retain_mut(|l| {
            if (l.method == "*" || l.method.eq_ignore_ascii_case(method))
                && path.contains(&l.path_contains)
            {
                l.after = l.after.saturating_sub(1);
                if l.after == 0 {
                    due.push(l.event.clone());
                    return false;
                }
            }
            true
        });
        for event in due {
            match event {
                GitLabEvent::MoveBranch { repo, branch, sha } => {
                    let Some(r) = self.repos.get(&repo) else {
                        continue;
                    };
                    let path = r.path.clone();
                    let old = git_ops::branch_tips(&path)
                        .get(&branch)
                        .cloned()
                        .unwrap_or_else(|| "0".repeat(40));
                    if let Err(e) = git_ops::update_branch(&path, &branch, &sha, &old) {
                        panic!("fake forge: moving {repo} {branch} to {sha}: {e}");
                    }
                    self.refresh(&repo);
                }
                GitLabEvent::Note {
                    repo,
                    number,
                    author,
                    body,
                } => {
                    self.add_note(&repo, number, &author, &body);
                }
            }
        }
    }

    /// Writes a note (comment) by `author` on change request `number` of `full`; its id.
    pub fn add_note(&mut self, full: &str, number: u64, author: &str, body: &str) -> u64 {
        self.ensure_user(author, false);
        let id = self.next_id();
        let now = util::now_millis();
        if let Some(repo) = self.repos.get_mut(full) {
            repo.comments.push(CommentRec {
                id,
                number,
                author: author.to_owned(),
                body: body.to_owned(),
                created: now,
                updated: now,
            });
        }
        id
    }

    /// Takes one use of the first fault rule matching the request.
    pub fn take_fault(&mut self, method: &str, path: &str) -> Option<Fault> {
        let rule = self.faults.iter_mut().find(|r| r.matches(method, path))?;
        rule.times -= 1;
        Some(rule.fault.clone())
    }

    fn merge_outcome(&mut self, full: &str, base: &str, head: &str) -> Option<MergeTree> {
        let key = (full.to_owned(), base.to_owned(), head.to_owned());
        if let Some(m) = self.merge_cache.get(&key) {
            return Some(m.clone());
        }
        let path = self.repos.get(full)?.path.clone();
        let outcome = git_ops::merge_tree(&path, base, head).ok()?;
        self.merge_cache.insert(key, outcome.clone());
        Some(outcome)
    }

    /// Computes what decides whether change request `number` of `full` can merge.
    pub fn assess(&mut self, full: &str, number: u64) -> Option<Assessment> {
        let repo = self.repos.get(full)?;
        let cr = repo.cr(number)?;
        let base_sha = repo.tips.get(&cr.base).cloned();
        let head_sha = cr.head_sha.clone();
        let protection = repo.protection(&cr.base);
        // GitHub: the latest review of each user on the current head; COMMENTED reviews do
        // not change a user's verdict.
        let mut verdicts: BTreeMap<&str, (&str, bool)> = BTreeMap::new();
        for r in cr
            .reviews
            .iter()
            .filter(|r| r.commit_id == head_sha && r.state != "COMMENTED")
        {
            verdicts.insert(&r.user, (&r.state, r.can_write));
        }
        let gh_approvals = verdicts
            .values()
            .filter(|(s, w)| *s == "APPROVED" && *w)
            .count();
        let changes_requested = verdicts.values().any(|(s, _)| *s == "CHANGES_REQUESTED");
        let gl_approvals: BTreeSet<&str> = cr
            .approvals
            .iter()
            .filter(|a| a.sha == head_sha)
            .map(|a| a.user.as_str())
            .collect();
        let approvals = u32::try_from(gh_approvals.max(gl_approvals.len())).unwrap_or(u32::MAX);
        // Checks: the latest status of each context and the latest check run of each name.
        let mut checks: BTreeMap<String, Check> = BTreeMap::new();
        for s in repo.statuses.iter().filter(|s| s.sha == head_sha) {
            let c = match s.state.as_str() {
                "success" => Check::Success,
                "pending" | "running" | "created" => Check::Pending,
                "skipped" => Check::Success,
                _ => Check::Failure,
            };
            checks.insert(s.context.clone(), c);
        }
        for r in repo.check_runs.iter().filter(|r| r.sha == head_sha) {
            let c = match (r.run.status.as_str(), r.run.conclusion.as_deref()) {
                ("completed", Some("success" | "neutral" | "skipped")) => Check::Success,
                ("completed", _) => Check::Failure,
                _ => Check::Pending,
            };
            checks.insert(r.run.name.clone(), c);
        }
        let mut missing_checks = Vec::new();
        let mut failing_checks = Vec::new();
        for name in &protection.required_checks {
            match checks.get(name) {
                Some(Check::Success) => {}
                Some(Check::Failure) => failing_checks.push(name.clone()),
                Some(Check::Pending) | None => missing_checks.push(name.clone()),
            }
        }
        let other_failing = checks
            .iter()
            .any(|(n, c)| *c == Check::Failure && !protection.required_checks.contains(n));
        let pipeline = repo
            .head_pipeline(&head_sha)
            .map(|p| (p.id, repo.pipeline_status(p)));
        let path = repo.path.clone();
        let behind = protection.strict
            && base_sha
                .as_deref()
                .is_some_and(|b| !git_ops::is_ancestor(&path, b, &head_sha));
        let merge = match &base_sha {
            Some(b) => self.merge_outcome(full, b, &head_sha),
            None => None,
        };
        Some(Assessment {
            base_sha,
            merge,
            required_approvals: protection.required_approvals,
            approvals,
            changes_requested,
            missing_checks,
            failing_checks,
            other_failing,
            behind,
            protection,
            pipeline,
        })
    }

    /// Merges change request `number` of `full` as `by`, for real: a commit on the bare
    /// repository, the base branch moved by compare-and-swap.
    pub fn perform_merge(
        &mut self,
        full: &str,
        number: u64,
        style: &MergeStyle,
        by: &str,
    ) -> Result<String, MergeError> {
        let by_id = self.user_id(by);
        let repo = self.repos.get(full).ok_or(MergeError::NoBase)?;
        let cr = repo.cr(number).ok_or(MergeError::NoBase)?;
        let path = repo.path.clone();
        let tips = git_ops::branch_tips(&path);
        let base_tip = tips.get(&cr.base).cloned().ok_or(MergeError::NoBase)?;
        let head = cr.head_sha.clone();
        let tree = match git_ops::merge_tree(&path, &base_tip, &head).map_err(MergeError::Git)? {
            MergeTree::Conflict => return Err(MergeError::Conflict),
            MergeTree::Clean(t) => t,
        };
        let (title, head_branch, base_branch) =
            (cr.title.clone(), cr.head.clone(), cr.base.clone());
        let owner = repo.owner().to_owned();
        let mut squash_sha = None;
        let (merge_sha, method) = match style {
            MergeStyle::GitHub {
                method,
                title: commit_title,
                message,
            } => {
                let author = Identity {
                    name: by.to_owned(),
                    email: format!("{by_id}+{by}@users.noreply.github.com"),
                };
                let committer = Identity {
                    name: "GitHub".to_owned(),
                    email: "noreply@github.com".to_owned(),
                };
                let sha = if method == "merge" {
                    let subject = commit_title.clone().unwrap_or_else(|| {
                        format!("Merge pull request #{number} from {owner}/{head_branch}")
                    });
                    let body = message.clone().unwrap_or_else(|| title.clone());
                    let text = if body.is_empty() {
                        subject
                    } else {
                        format!("{subject}\n\n{body}")
                    };
                    git_ops::commit_tree(
                        &path,
                        &tree,
                        &[&base_tip, &head],
                        &text,
                        &author,
                        &committer,
                    )
                } else {
                    // squash, and rebase (simplified: one commit with the merged tree, as a
                    // squash makes, but recorded as a rebase).
                    let subject = commit_title
                        .clone()
                        .unwrap_or_else(|| format!("{title} (#{number})"));
                    let body = message.clone().unwrap_or_else(|| {
                        if method == "rebase" {
                            git_ops::message_of(&path, &head)
                        } else {
                            git_ops::subjects(&path, &base_tip, &head)
                                .iter()
                                .map(|s| format!("* {s}"))
                                .collect::<Vec<_>>()
                                .join("\n")
                        }
                    });
                    let text = if body.is_empty() {
                        subject
                    } else {
                        format!("{subject}\n\n{body}")
                    };
                    git_ops::commit_tree(&path, &tree, &[&base_tip], &text, &author, &committer)
                }
                .map_err(MergeError::Git)?;
                (sha, method.clone())
            }
            MergeStyle::GitLab {
                squash,
                message,
                squash_message,
                ..
            } => {
                let who = Identity {
                    name: by.to_owned(),
                    email: format!("{by}@users.noreply.gitlab.example"),
                };
                let mut second_parent = head.clone();
                if *squash {
                    let start = git_ops::merge_base(&path, &base_tip, &head)
                        .ok_or_else(|| MergeError::Git("no merge base".to_owned()))?;
                    let head_tree = git_ops::tree_of(&path, &head)
                        .ok_or_else(|| MergeError::Git("no head tree".to_owned()))?;
                    let text = squash_message.clone().unwrap_or_else(|| title.clone());
                    let sha = git_ops::commit_tree(&path, &head_tree, &[&start], &text, &who, &who)
                        .map_err(MergeError::Git)?;
                    second_parent.clone_from(&sha);
                    squash_sha = Some(sha);
                }
                let text = message.clone().unwrap_or_else(|| {
                    format!(
                        "Merge branch '{head_branch}' into '{base_branch}'\n\n{title}\n\nSee merge request {full}!{number}"
                    )
                });
                let sha = git_ops::commit_tree(
                    &path,
                    &tree,
                    &[&base_tip, &second_parent],
                    &text,
                    &who,
                    &who,
                )
                .map_err(MergeError::Git)?;
                (sha, "merge".to_owned())
            }
        };
        git_ops::update_branch(&path, &base_branch, &merge_sha, &base_tip)
            .map_err(|_| MergeError::BaseMoved)?;
        let remove_source = matches!(
            style,
            MergeStyle::GitLab {
                remove_source: true,
                ..
            }
        );
        if remove_source {
            // Compare-and-swap on the merged head: a branch that moved meanwhile stays.
            let _ = git_ops::delete_branch(&path, &head_branch, &head);
        }
        let now = util::now_millis();
        if let Some(cr) = self.repos.get_mut(full).and_then(|r| r.cr_mut(number)) {
            cr.state = CrState::Merged;
            cr.merged_at = Some(now);
            cr.closed_at = Some(now);
            cr.updated = now;
            cr.merge_commit_sha = Some(merge_sha.clone());
            cr.squash_commit_sha = squash_sha;
            cr.merged_by = Some(by.to_owned());
            cr.merge_method = Some(method);
            cr.auto_merge = None;
        }
        self.refresh(full);
        Ok(merge_sha)
    }

    /// Merges every open change request of `full` whose auto-merge is on and whose
    /// requirements are now met (as the forges do when a review, status or pipeline lands).
    pub fn sweep_auto_merge(&mut self, full: &str) {
        let numbers: Vec<u64> = self.repos.get(full).map_or_else(Vec::new, |r| {
            r.crs
                .iter()
                .filter(|c| c.state == CrState::Open && c.auto_merge.is_some())
                .map(|c| c.number)
                .collect()
        });
        for number in numbers {
            let Some(a) = self.assess(full, number) else {
                continue;
            };
            let Some(cr) = self.repos.get(full).and_then(|r| r.cr(number)) else {
                continue;
            };
            let Some(am) = &cr.auto_merge else {
                continue;
            };
            let (ready, style, by) = match am.forge {
                Forge::GitHub => {
                    let (_, state) = github_mergeability(cr, &a);
                    (
                        matches!(state, "clean" | "unstable" | "has_hooks"),
                        MergeStyle::GitHub {
                            method: am.method.to_lowercase(),
                            title: am.commit_title.clone(),
                            message: am.commit_message.clone(),
                        },
                        am.enabled_by.clone(),
                    )
                }
                // Merge when pipeline succeeds waits for the pipeline whatever the project's
                // "pipelines must succeed" setting says.
                Forge::GitLab => (
                    gitlab_detailed_status(
                        cr,
                        &a,
                        self.repos
                            .get(full)
                            .is_some_and(|r| r.gitlab.tier == GitLabTier::Free),
                    ) == "mergeable"
                        && a.pipeline.as_ref().is_some_and(|(_, s)| s == "success"),
                    MergeStyle::GitLab {
                        squash: am.squash,
                        message: am.commit_message.clone(),
                        squash_message: None,
                        remove_source: am.remove_source_branch,
                    },
                    am.enabled_by.clone(),
                ),
            };
            if ready {
                // A failed attempt leaves auto-merge on, to try again on the next event.
                let _ = self.perform_merge(full, number, &style, &by);
            }
        }
    }

    /// Sets (or creates) the pipeline of `sha`; returns its id.
    pub fn set_pipeline(&mut self, full: &str, sha: &str, status: &str) -> u64 {
        let next = self.next_id();
        let now = util::now_millis();
        let Some(repo) = self.repo_mut(full) else {
            return 0;
        };
        if let Some(p) = repo.pipelines.iter_mut().rev().find(|p| p.sha == sha) {
            p.jobs = Some(status.to_owned());
            p.updated = now;
            return p.id;
        }
        let git_ref = ref_for_sha(repo, sha);
        let iid = repo.pipelines.len() as u64 + 1;
        repo.pipelines.push(Pipeline {
            id: next,
            iid,
            sha: sha.to_owned(),
            git_ref,
            jobs: Some(status.to_owned()),
            created: now,
            updated: now,
        });
        next
    }

    pub fn add_check_run(&mut self, full: &str, sha: &str, run: CheckRun) -> u64 {
        let id = self.next_id();
        let now = util::now_millis();
        if let Some(repo) = self.repo_mut(full) {
            repo.check_runs.push(CheckRunRec {
                id,
                sha: sha.to_owned(),
                run,
                created: now,
            });
        }
        id
    }

    pub fn snapshot(&mut self, full: &str) -> Vec<ChangeRequest> {
        let Some(repo) = self.repo_mut(full) else {
            return Vec::new();
        };
        repo.crs
            .iter()
            .map(|c| {
                let mut approved_by: Vec<String> = c
                    .reviews
                    .iter()
                    .filter(|r| r.state == "APPROVED")
                    .map(|r| r.user.clone())
                    .chain(c.approvals.iter().map(|a| a.user.clone()))
                    .collect();
                approved_by.sort();
                approved_by.dedup();
                ChangeRequest {
                    number: c.number,
                    title: c.title.clone(),
                    body: c.body.clone(),
                    head: c.head.clone(),
                    base: c.base.clone(),
                    head_sha: c.head_sha.clone(),
                    state: c.state,
                    draft: c.draft,
                    author: c.author.clone(),
                    labels: c.labels.clone(),
                    assignees: c.assignees.clone(),
                    reviewers: c.reviewers.clone(),
                    auto_merge: c.auto_merge.as_ref().map(|a| a.method.clone()),
                    merge_commit_sha: c.merge_commit_sha.clone(),
                    merge_method: c.merge_method.clone(),
                    merged_by: c.merged_by.clone(),
                    approved_by,
                }
            })
            .collect()
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Check {
    Success,
    Pending,
    Failure,
}

/// The branch a GitLab pipeline or status of `sha` runs for: an open merge request's source
/// branch at that commit, else any branch at it, else the default branch.
pub fn ref_for_sha(repo: &Repo, sha: &str) -> String {
    repo.crs
        .iter()
        .find(|c| c.state == CrState::Open && c.head_sha == sha)
        .map(|c| c.head.clone())
        .or_else(|| {
            repo.tips
                .iter()
                .find(|(_, tip)| *tip == sha)
                .map(|(b, _)| b.clone())
        })
        .unwrap_or_else(|| repo.default_branch())
}

/// `owner/name` of every `<root>/<owner>/<name>.git` directory, sorted.
fn scan_repos(root: &Path) -> Vec<String> {
    let mut out = Vec::new();
    let Ok(owners) = std::fs::read_dir(root) else {
        return out;
    };
    for owner in owners.flatten() {
        if !owner.path().is_dir() {
            continue;
        }
        let Ok(repos) = std::fs::read_dir(owner.path()) else {
            continue;
        };
        for repo in repos.flatten() {
            let name = repo.file_name().to_string_lossy().into_owned();
            if let Some(name) = name.strip_suffix(".git")
                && repo.path().is_dir()
            {
                out.push(format!("{}/{name}", owner.file_name().to_string_lossy()));
            }
        }
    }
    out.sort();
    out
}
