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
//!
//! Modules: `transport` (the octocrab clients, connecting and authenticating, requests and
//! pagination), `wire` (GitHub's answers as ferry reads them), `readiness` (the rules, branch
//! protection, statuses and check runs behind a readiness report); the [`Forge`]
//! implementation is here.

mod readiness;
mod transport;
mod wire;

use std::collections::HashMap;

use http::Method;
use secrecy::SecretString;
use serde::Deserialize;
use serde_json::json;

use super::api::{Api, Request};
use super::{
    Approvals, AutoMerge, ChangeRequest, ChangeRequestEdit, Check, CheckState, Comment,
    CommentAction, CommitStatus, CrState, Forge, ForgeError, ForgeKind, ListFilter, MergeMethod,
    Merged, NewChangeRequest, Readiness, Refusal, StatusState,
};
use crate::repo_url::encode_component as encode;

pub use transport::OctocrabTransport;
use wire::{Pull, RawComment, User};

const KIND: ForgeKind = ForgeKind::GitHub;

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

impl GitHub {
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
    fn query_values_are_encoded() {
        assert_eq!(
            head_filter("acme", "ferry/prod/cart+x"),
            "acme:ferry%2Fprod%2Fcart%2Bx"
        );
        assert_eq!(truncate("abcdef", 4), "abc…");
    }
}
