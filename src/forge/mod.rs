//! The forges that host environment repositories: GitHub and GitLab, behind one [`Forge`] trait.
//!
//! Commands speak of *change requests* (a GitHub pull request, a GitLab merge request) and never
//! ask which forge they talk to; messages use the forge's own words ([`Words`]). Each forge is
//! a thin layer that turns the trait's calls into its REST (and, for GitHub's auto-merge,
//! GraphQL) requests, sent through the forge's client crate (octocrab, gitlab). What both share
//! lives in [`api`]: one request at a time with a bounded retry policy that honours
//! `retry-after` and rate-limit reset headers, counting of calls, and errors that name the call,
//! the cause and the fix.
//!
//! The trait is synchronous: ferry's git work is blocking (libgit2), and each forge drives its
//! async client on its own current-thread tokio runtime.

pub mod api;
pub mod github;
pub mod gitlab;
mod select;

use std::fmt;

use secrecy::SecretString;
use serde::Serialize;

use crate::repo_url::{RepoUrl, encode_component};

pub use api::{ApiOptions, ForgeError, Refusal};
pub use select::{ForgeArgs, ForgeAuth, ForgeSettings, connect, graphql_url_for, resolve_settings};

/// Which forge hosts the environment repository.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, clap::ValueEnum)]
#[serde(rename_all = "lowercase")]
pub enum ForgeKind {
    #[value(name = "github")]
    GitHub,
    #[value(name = "gitlab")]
    GitLab,
}

impl ForgeKind {
    /// The forge's own words.
    #[must_use]
    pub const fn words(self) -> Words {
        match self {
            ForgeKind::GitHub => Words {
                forge: "GitHub",
                change_request: "pull request",
                short: "PR",
                sigil: "#",
            },
            ForgeKind::GitLab => Words {
                forge: "GitLab",
                change_request: "merge request",
                short: "MR",
                sigil: "!",
            },
        }
    }

    #[must_use]
    pub const fn as_str(self) -> &'static str {
        match self {
            ForgeKind::GitHub => "github",
            ForgeKind::GitLab => "gitlab",
        }
    }

    /// The forge whose web pages a repository probably has when nothing else says: GitLab on
    /// a host whose name says so, else GitHub.
    #[must_use]
    pub fn guess(repo: &RepoUrl) -> ForgeKind {
        if repo.host_says_gitlab() {
            ForgeKind::GitLab
        } else {
            ForgeKind::GitHub
        }
    }

    /// The web page of commit `sha` of `repo` on this forge (`…/commit/SHA`, GitLab's
    /// `…/-/commit/SHA`). `None` unless `repo` is an http(s) URL with a project path.
    #[must_use]
    pub fn commit_url(self, repo: &RepoUrl, sha: &str) -> Option<String> {
        self.web_page(repo, &format!("commit/{}", encode_component(sha)))
    }

    /// The web page comparing `from` with `to` (`…/compare/FROM...TO`, GitLab's
    /// `…/-/compare/FROM...TO`). `None` unless `repo` is an http(s) URL with a project path.
    #[must_use]
    pub fn compare_url(self, repo: &RepoUrl, from: &str, to: &str) -> Option<String> {
        let (from, to) = (encode_component(from), encode_component(to));
        self.web_page(repo, &format!("compare/{from}...{to}"))
    }

    fn web_page(self, repo: &RepoUrl, page: &str) -> Option<String> {
        let base = repo.web_base()?;
        Some(match self {
            ForgeKind::GitHub => format!("{base}/{page}"),
            ForgeKind::GitLab => format!("{base}/-/{page}"),
        })
    }
}

impl fmt::Display for ForgeKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.words().forge)
    }
}

/// How a forge names things, for messages.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Words {
    /// "GitHub", "GitLab".
    pub forge: &'static str,
    /// "pull request", "merge request".
    pub change_request: &'static str,
    /// "PR", "MR".
    pub short: &'static str,
    /// What precedes a change request's number: `#12` on GitHub, `!12` on GitLab.
    pub sigil: &'static str,
}

/// Where a change request stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum CrState {
    Open,
    /// Closed without being merged.
    Closed,
    Merged,
}

/// A pull request (GitHub) or merge request (GitLab).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ChangeRequest {
    /// The number people use: GitHub's PR number, GitLab's MR IID.
    pub number: u64,
    /// Its web page.
    pub url: String,
    pub title: String,
    pub body: String,
    /// The branch with the change.
    pub head_branch: String,
    /// The branch it goes into.
    pub base_branch: String,
    /// The commit at the head of the change, 40 hex digits.
    pub head_sha: String,
    pub state: CrState,
    pub labels: Vec<String>,
    pub draft: bool,
    /// Who opened it (login), when the forge says.
    pub author: Option<String>,
    /// Whose review is requested and still pending, as the forge lists them (GitHub drops a
    /// reviewer from the list once they reviewed; a team is `org/team`).
    pub reviewers: Vec<String>,
}

/// Which change requests [`Forge::list`] returns.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ListFilter {
    /// Only those in this state; all states when `None`.
    pub state: Option<CrState>,
    /// Only those from this head branch.
    pub head: Option<String>,
    /// Only those into this base branch.
    pub base: Option<String>,
    /// Only those carrying every one of these labels.
    pub labels: Vec<String>,
}

/// What a new change request says.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct NewChangeRequest {
    pub head: String,
    pub base: String,
    pub title: String,
    pub body: String,
    pub labels: Vec<String>,
    /// User names (logins) whose review is requested.
    pub reviewers: Vec<String>,
    /// User names (logins) the change request is assigned to.
    pub assignees: Vec<String>,
}

/// Changes to an open change request; `None` and empty lists leave a field as it is.
/// Labels, reviewers and assignees are added, never removed (people may have added their own).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ChangeRequestEdit {
    pub title: Option<String>,
    pub body: Option<String>,
    pub labels: Vec<String>,
    pub reviewers: Vec<String>,
    pub assignees: Vec<String>,
}

impl ChangeRequestEdit {
    /// Whether applying it to `current` would change nothing (so no call is made).
    #[must_use]
    pub fn is_noop_for(&self, current: &ChangeRequest) -> bool {
        self.title.as_ref().is_none_or(|t| *t == current.title)
            && self.body.as_ref().is_none_or(|b| *b == current.body)
            && self.labels.iter().all(|l| current.labels.contains(l))
            && self.reviewers.is_empty()
            && self.assignees.is_empty()
    }
}

/// A commit status (GitHub commit status, GitLab commit/pipeline status).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CommitStatus {
    /// The commit, 40 hex digits.
    pub sha: String,
    pub state: StatusState,
    /// The status's name, e.g. `ferry/staging`. Setting it again replaces it.
    pub context: String,
    pub description: String,
    pub target_url: Option<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum StatusState {
    Pending,
    Success,
    Failure,
    Error,
}

/// One check (GitHub status or check run, GitLab pipeline) on a change request's head.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Check {
    pub name: String,
    pub state: CheckState,
    /// Whether the forge requires it to pass before merging (when the forge says so).
    pub required: bool,
    pub url: Option<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum CheckState {
    Pending,
    Success,
    Failure,
    /// Skipped, neutral, cancelled without failing.
    Neutral,
}

/// Approvals of a change request.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct Approvals {
    /// Approvals given (on the current head, as the forge counts them).
    pub given: u32,
    /// Approvals required by the target branch's rules, when the forge tells.
    pub required: Option<u32>,
    /// Whether the forge considers the approval requirement met.
    pub satisfied: bool,
    /// Whether someone asked for changes (GitHub).
    pub changes_requested: bool,
}

/// Whether a change request can merge now, and if not, why.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Readiness {
    pub number: u64,
    /// The change request's web page.
    pub url: String,
    pub state: CrState,
    /// The branch with the change.
    pub head_branch: String,
    pub head_sha: String,
    pub approvals: Approvals,
    pub checks: Vec<Check>,
    /// The head conflicts with the base branch.
    pub conflicts: bool,
    /// The base branch's rules require the head to contain the base's tip, and it does not.
    pub behind: bool,
    /// The forge has not computed mergeability yet (ask again shortly).
    pub computing: bool,
    pub draft: bool,
    /// Whatever else the forge says blocks the merge, in its words (unresolved discussions,
    /// a branch that must be up to date, ...).
    pub other_blockers: Vec<String>,
    /// What the token could not read, each with the permission that would let it (GitHub check
    /// runs for a fine-grained token, classic branch protection without admin): what is
    /// missing is then told from the rest, and these lines say what went unchecked.
    pub unchecked: Vec<String>,
}

impl Readiness {
    /// Whether nothing blocks a merge.
    #[must_use]
    pub fn is_ready(&self) -> bool {
        self.state == CrState::Open
            && self.approvals.satisfied
            && !self.approvals.changes_requested
            && !self.conflicts
            && !self.behind
            && !self.computing
            && !self.draft
            && self.other_blockers.is_empty()
            && self
                .checks
                .iter()
                .filter(|c| c.required)
                .all(|c| matches!(c.state, CheckState::Success | CheckState::Neutral))
    }

    /// What is missing, one line each, in `words`.
    #[must_use]
    pub fn missing(&self, words: Words) -> Vec<String> {
        let mut missing = Vec::new();
        match self.state {
            CrState::Open => {}
            CrState::Closed => missing.push(format!("the {} is closed", words.change_request)),
            CrState::Merged => {
                missing.push(format!("the {} is already merged", words.change_request));
            }
        }
        if self.draft {
            missing.push(format!("the {} is a draft", words.change_request));
        }
        if self.approvals.changes_requested {
            missing.push("a reviewer requested changes".to_owned());
        }
        if !self.approvals.satisfied && !self.approvals.changes_requested {
            missing.push(match self.approvals.required {
                Some(required) => format!("approvals {} of {required}", self.approvals.given),
                None => format!("approvals: {} given, more required", self.approvals.given),
            });
        }
        for check in &self.checks {
            let state = match check.state {
                CheckState::Pending => "pending",
                CheckState::Failure => "failing",
                CheckState::Success | CheckState::Neutral => continue,
            };
            let required = if check.required { "required " } else { "" };
            missing.push(format!("{required}check `{}` is {state}", check.name));
        }
        if self.conflicts {
            missing.push("conflicts with the target branch".to_owned());
        }
        if self.computing {
            missing.push(format!("{} is still computing mergeability", words.forge));
        }
        missing.extend(self.other_blockers.iter().cloned());
        missing.extend(
            self.unchecked
                .iter()
                .map(|u| format!("could not check {u}")),
        );
        missing
    }
}

/// How a change request is merged.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, clap::ValueEnum)]
#[serde(rename_all = "lowercase")]
pub enum MergeMethod {
    /// A merge commit.
    #[default]
    Merge,
    /// One commit with the change request's changes.
    Squash,
    /// The head's commits replayed on the base (GitHub only; GitLab merges as its project is set).
    Rebase,
}

/// A merge that happened.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Merged {
    /// The commit now at the tip of the base branch, when the forge reports it.
    pub sha: Option<String>,
}

/// What asking the forge to merge by itself did.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case", tag = "result")]
pub enum AutoMerge {
    /// The forge will merge when approvals and checks are satisfied.
    Enabled,
    /// Nothing was pending, so the forge did not take it: merge directly.
    NothingPending,
    /// Nothing was pending and the forge merged at once.
    Merged(Merged),
}

/// A comment on a change request.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Comment {
    pub id: u64,
    pub body: String,
}

/// What [`Forge::upsert_comment`] did.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum CommentAction {
    Created,
    Updated,
    Unchanged,
}

/// The operations ferry needs from a forge, for one repository.
///
/// Every method is one or a few API calls; none retries beyond the shared policy of [`api`].
/// Numbers are GitHub PR numbers or GitLab MR IIDs.
pub trait Forge {
    fn kind(&self) -> ForgeKind;

    /// The repository, as the forge names it (`owner/repo`, `group/subgroup/project`).
    fn project(&self) -> &str;

    /// The forge's words, for messages.
    fn words(&self) -> Words {
        self.kind().words()
    }

    /// Change requests matching `filter`, newest first, all pages.
    fn list(&self, filter: &ListFilter) -> Result<Vec<ChangeRequest>, ForgeError>;

    /// The one open change request from `head` into `base`, if any.
    fn find_open(&self, head: &str, base: &str) -> Result<Option<ChangeRequest>, ForgeError> {
        let filter = ListFilter {
            state: Some(CrState::Open),
            head: Some(head.to_owned()),
            base: Some(base.to_owned()),
            labels: Vec::new(),
        };
        Ok(self.list(&filter)?.into_iter().next())
    }

    /// One change request.
    fn get(&self, number: u64) -> Result<ChangeRequest, ForgeError>;

    /// Opens a change request, with its labels, reviewers and assignees. When the create call
    /// fails in a way that may have left it created (a lost answer), the open change request
    /// for `head` is looked up before anything is retried, so it is never duplicated.
    fn open(&self, new: &NewChangeRequest) -> Result<ChangeRequest, ForgeError>;

    /// Edits an open change request; returns it as it now is.
    fn update(&self, number: u64, edit: &ChangeRequestEdit) -> Result<ChangeRequest, ForgeError>;

    /// The comment carrying `marker` (an HTML comment, invisible when rendered) is created
    /// once, then edited in place. `body` must contain `marker`.
    fn upsert_comment(
        &self,
        number: u64,
        marker: &str,
        body: &str,
    ) -> Result<(Comment, CommentAction), ForgeError>;

    /// Sets a commit status.
    fn set_status(&self, status: &CommitStatus) -> Result<(), ForgeError>;

    /// The latest statuses (and, on GitHub, check runs) on commit `sha` whose name matches
    /// `context` ([`context_matches`]): what agents such as Flux's notification-controller or
    /// Argo CD notifications report. One call when a commit status matches (GitHub asks for
    /// check runs only when none does).
    fn commit_statuses(&self, sha: &str, context: &str) -> Result<Vec<Check>, ForgeError>;

    /// Approvals, checks and mergeability of a change request.
    fn readiness(&self, number: u64) -> Result<Readiness, ForgeError>;

    /// Merges, if and only if the head is still `expected_head`.
    fn merge(
        &self,
        number: u64,
        expected_head: &str,
        method: MergeMethod,
    ) -> Result<Merged, ForgeError>;

    /// Asks the forge to merge by itself once approvals and checks are satisfied (GitHub
    /// auto-merge, GitLab "merge when the pipeline succeeds"), pinned to `expected_head`.
    fn enable_auto_merge(
        &self,
        number: u64,
        expected_head: &str,
        method: MergeMethod,
    ) -> Result<AutoMerge, ForgeError>;

    /// How many API calls this forge has made so far.
    fn calls(&self) -> u32;

    /// A token ferry minted for this repository (a GitHub App's installation token), which git
    /// must use too.
    fn minted_token(&self) -> Option<SecretString> {
        None
    }
}

/// Whether a status named `name` matches `pattern`: the same name, or, for a pattern ending in
/// `*`, a name starting with what precedes it (`kustomization/*`).
#[must_use]
pub fn context_matches(pattern: &str, name: &str) -> bool {
    match pattern.strip_suffix('*') {
        Some(prefix) => name.starts_with(prefix),
        None => name == pattern,
    }
}

/// What several matching statuses say together: failed if any failed, pending if any is
/// pending (or none reported), else successful.
#[must_use]
pub fn overall(checks: &[Check]) -> CheckState {
    if checks.iter().any(|c| c.state == CheckState::Failure) {
        CheckState::Failure
    } else if checks.is_empty() || checks.iter().any(|c| c.state == CheckState::Pending) {
        CheckState::Pending
    } else {
        CheckState::Success
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Was `git::web_page`'s test: the same links, now from the forge's kind.
    #[test]
    fn web_pages_follow_the_forge_form_and_drop_credentials() {
        let page = |repo: &str, kind: Option<ForgeKind>, sha: &str| {
            let (url, _) = RepoUrl::parse(repo).expect("url");
            kind.unwrap_or_else(|| ForgeKind::guess(&url))
                .commit_url(&url, sha)
        };
        assert_eq!(
            page("https://github.com/acme/env.git", None, "abc").as_deref(),
            Some("https://github.com/acme/env/commit/abc")
        );
        let (gitlab, _) = RepoUrl::parse("https://oauth2@gitlab.example.com/g/env/").expect("url");
        assert_eq!(
            ForgeKind::guess(&gitlab)
                .compare_url(&gitlab, "a", "b")
                .as_deref(),
            Some("https://gitlab.example.com/g/env/-/compare/a...b")
        );
        assert_eq!(page("git@github.com:acme/env.git", None, "abc"), None);
        assert_eq!(page("file:///srv/env", None, "abc"), None);
        assert_eq!(page("https://github.com", None, "abc"), None);
        // The CI's word beats the host's name; a `.git` and a password never reach a link
        // (bump's source commit link kept both).
        assert_eq!(
            page(
                "https://u:SECRET@git.corp/acme/shop.git",
                Some(ForgeKind::GitLab),
                "abc"
            )
            .as_deref(),
            Some("https://git.corp/acme/shop/-/commit/abc")
        );
        // A commit named by a trailer is data: it cannot add a path or a query.
        assert_eq!(
            page("https://github.com/a/b", None, "x/../y?z").as_deref(),
            Some("https://github.com/a/b/commit/x%2F..%2Fy%3Fz")
        );
    }

    fn readiness() -> Readiness {
        Readiness {
            number: 7,
            url: String::new(),
            state: CrState::Open,
            head_branch: "ferry/production/cart-0a1b2c3d".to_owned(),
            head_sha: "a".repeat(40),
            approvals: Approvals {
                given: 1,
                required: Some(1),
                satisfied: true,
                changes_requested: false,
            },
            checks: vec![Check {
                name: "ci".to_owned(),
                state: CheckState::Success,
                required: true,
                url: None,
            }],
            conflicts: false,
            behind: false,
            computing: false,
            draft: false,
            other_blockers: Vec::new(),
            unchecked: Vec::new(),
        }
    }

    #[test]
    fn readiness_lists_what_is_missing_in_the_forges_words() {
        let ready = readiness();
        assert!(ready.is_ready());
        assert!(ready.missing(ForgeKind::GitHub.words()).is_empty());

        let mut waiting = readiness();
        waiting.approvals = Approvals {
            given: 1,
            required: Some(2),
            satisfied: false,
            changes_requested: false,
        };
        waiting.checks.push(Check {
            name: "lint".to_owned(),
            state: CheckState::Pending,
            required: true,
            url: None,
        });
        waiting.checks.push(Check {
            name: "optional".to_owned(),
            state: CheckState::Failure,
            required: false,
            url: None,
        });
        waiting.conflicts = true;
        assert!(!waiting.is_ready());
        assert_eq!(
            waiting.missing(ForgeKind::GitLab.words()),
            [
                "approvals 1 of 2",
                "required check `lint` is pending",
                "check `optional` is failing",
                "conflicts with the target branch",
            ]
        );

        // A failing check that is not required does not block the merge.
        let mut optional = readiness();
        optional.checks[0].required = false;
        optional.checks[0].state = CheckState::Failure;
        assert!(optional.is_ready());
    }

    #[test]
    fn an_edit_that_changes_nothing_is_seen_as_such() {
        let current = ChangeRequest {
            number: 1,
            url: String::new(),
            title: "t".to_owned(),
            body: "b".to_owned(),
            head_branch: "h".to_owned(),
            base_branch: "main".to_owned(),
            head_sha: "a".repeat(40),
            state: CrState::Open,
            labels: vec!["ferry".to_owned(), "team".to_owned()],
            draft: false,
            author: None,
            reviewers: Vec::new(),
        };
        let mut edit = ChangeRequestEdit {
            title: Some("t".to_owned()),
            body: Some("b".to_owned()),
            labels: vec!["ferry".to_owned()],
            ..ChangeRequestEdit::default()
        };
        assert!(edit.is_noop_for(&current));
        edit.body = Some("new".to_owned());
        assert!(!edit.is_noop_for(&current));
    }
}
