//! GitHub's answers as ferry reads them: pull requests, users, teams, labels, comments and
//! branch rules, each holding only the fields ferry uses (serde ignores the rest).

use serde::Deserialize;

use super::super::{ChangeRequest, Comment, CrState};

/// A pull request, as far as ferry reads it.
#[derive(Debug, Deserialize)]
pub(super) struct Pull {
    pub(super) number: u64,
    pub(super) node_id: String,
    pub(super) html_url: String,
    pub(super) title: String,
    pub(super) body: Option<String>,
    pub(super) state: String,
    pub(super) merged: Option<bool>,
    pub(super) merged_at: Option<String>,
    pub(super) draft: Option<bool>,
    pub(super) head: Ref,
    pub(super) base: Ref,
    #[serde(default)]
    pub(super) labels: Vec<Label>,
    pub(super) mergeable: Option<bool>,
    pub(super) mergeable_state: Option<String>,
    pub(super) user: Option<User>,
    #[serde(default)]
    pub(super) requested_reviewers: Vec<User>,
    #[serde(default)]
    pub(super) requested_teams: Vec<Team>,
}

#[derive(Debug, Deserialize)]
pub(super) struct Team {
    pub(super) slug: String,
}

#[derive(Debug, Deserialize)]
pub(super) struct Ref {
    #[serde(rename = "ref")]
    pub(super) name: String,
    pub(super) sha: String,
}

#[derive(Debug, Deserialize)]
pub(super) struct Label {
    pub(super) name: String,
}

#[derive(Debug, Deserialize)]
pub(super) struct User {
    pub(super) login: String,
    /// `User`, `Bot` (an App's or GitHub Actions' installation), `Organization`.
    #[serde(rename = "type", default)]
    pub(super) kind: Option<String>,
}

/// An issue comment, as far as ferry reads it.
#[derive(Debug, Deserialize)]
pub(super) struct RawComment {
    pub(super) id: u64,
    pub(super) body: Option<String>,
    pub(super) user: Option<User>,
}

impl RawComment {
    pub(super) fn into_comment(self) -> Comment {
        Comment {
            id: self.id,
            body: self.body.unwrap_or_default(),
        }
    }
}

/// A branch rule (`GET /repos/{owner}/{repo}/rules/branches/{branch}`).
#[derive(Debug, Deserialize)]
pub(super) struct Rule {
    pub(super) parameters: Option<RuleParameters>,
}

#[derive(Debug, Deserialize)]
pub(super) struct RuleParameters {
    pub(super) required_approving_review_count: Option<u32>,
    pub(super) required_status_checks: Option<Vec<RequiredCheck>>,
}

#[derive(Debug, Deserialize)]
pub(super) struct RequiredCheck {
    pub(super) context: String,
}

impl Pull {
    pub(super) fn state(&self) -> CrState {
        if self.merged == Some(true) || self.merged_at.is_some() {
            CrState::Merged
        } else if self.state == "open" {
            CrState::Open
        } else {
            CrState::Closed
        }
    }

    /// The change request; `owner` is the organisation its teams belong to.
    pub(super) fn into_change_request(self, owner: &str) -> ChangeRequest {
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
}
