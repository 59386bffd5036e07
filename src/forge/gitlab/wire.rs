//! GitLab's answers as ferry reads them: merge requests (and their labels, pipelines and
//! authors), users, jobs, notes and approvals, `null` read as the default; and a merge request
//! as a [`ChangeRequest`].

use serde::{Deserialize, Deserializer};

use super::super::{ChangeRequest, Comment, CrState};

pub(super) fn cr_state(state: &str) -> CrState {
    match state {
        "opened" => CrState::Open,
        "merged" => CrState::Merged,
        // `locked` is GitLab's short-lived "merge in progress": not open for ferry's purposes.
        "closed" | "locked" => CrState::Closed,
        other => {
            tracing::warn!(
                state = other,
                "unknown GitLab merge request state; taken as closed"
            );
            CrState::Closed
        }
    }
}

pub(super) fn change_request(mr: &MrJson) -> ChangeRequest {
    ChangeRequest {
        number: mr.iid,
        url: mr.web_url.clone(),
        title: mr.title.clone(),
        body: mr.description.clone(),
        head_branch: mr.source_branch.clone(),
        base_branch: mr.target_branch.clone(),
        head_sha: mr.sha.clone(),
        state: cr_state(&mr.state),
        labels: mr.labels.iter().map(|l| l.name().to_owned()).collect(),
        draft: mr.draft || mr.work_in_progress,
        author: mr
            .author
            .as_ref()
            .map(|a| a.username.clone())
            .filter(|a| !a.is_empty()),
        reviewers: mr
            .reviewers
            .iter()
            .map(|r| r.username.clone())
            .filter(|r| !r.is_empty())
            .collect(),
    }
}

pub(super) fn non_empty(sha: Option<&String>) -> Option<String> {
    sha.filter(|s| !s.is_empty()).cloned()
}

/// Reads `null` as the default: GitLab sends `null` for many absent values.
fn nullable<'de, D, T>(deserializer: D) -> Result<T, D::Error>
where
    D: Deserializer<'de>,
    T: Deserialize<'de> + Default,
{
    Ok(Option::<T>::deserialize(deserializer)?.unwrap_or_default())
}

/// The fields of a GitLab merge request that ferry reads.
#[derive(Debug, Clone, Deserialize)]
pub(super) struct MrJson {
    pub(super) iid: u64,
    #[serde(default, deserialize_with = "nullable")]
    pub(super) web_url: String,
    #[serde(default, deserialize_with = "nullable")]
    pub(super) title: String,
    #[serde(default, deserialize_with = "nullable")]
    pub(super) description: String,
    #[serde(default, deserialize_with = "nullable")]
    pub(super) source_branch: String,
    #[serde(default, deserialize_with = "nullable")]
    pub(super) target_branch: String,
    #[serde(default, deserialize_with = "nullable")]
    pub(super) sha: String,
    #[serde(default, deserialize_with = "nullable")]
    pub(super) state: String,
    #[serde(default, deserialize_with = "nullable")]
    pub(super) labels: Vec<LabelJson>,
    #[serde(default, deserialize_with = "nullable")]
    pub(super) draft: bool,
    #[serde(default, deserialize_with = "nullable")]
    pub(super) work_in_progress: bool,
    #[serde(default, deserialize_with = "nullable")]
    pub(super) has_conflicts: bool,
    #[serde(default)]
    pub(super) detailed_merge_status: Option<String>,
    #[serde(default)]
    pub(super) merge_status: Option<String>,
    #[serde(default)]
    pub(super) head_pipeline: Option<PipelineJson>,
    #[serde(default)]
    pub(super) author: Option<UserJson>,
    #[serde(default, deserialize_with = "nullable")]
    pub(super) assignees: Vec<UserJson>,
    #[serde(default, deserialize_with = "nullable")]
    pub(super) reviewers: Vec<UserJson>,
    #[serde(default)]
    pub(super) merge_commit_sha: Option<String>,
    #[serde(default)]
    pub(super) squash_commit_sha: Option<String>,
    #[serde(default)]
    pub(super) merged_commit_sha: Option<String>,
    #[serde(default, deserialize_with = "nullable")]
    pub(super) merge_when_pipeline_succeeds: bool,
    #[serde(default, deserialize_with = "nullable")]
    pub(super) auto_merge_enabled: bool,
    #[serde(default)]
    pub(super) merge_error: Option<String>,
    /// GitLab 17.5+: the earliest time the merge request may merge (`merge_time`).
    #[serde(default)]
    pub(super) merge_after: Option<String>,
}

/// A label: a name, or an object with `with_labels_details=true`.
#[derive(Debug, Clone, Deserialize)]
#[serde(untagged)]
pub(super) enum LabelJson {
    Name(String),
    Detailed { name: String },
}

impl LabelJson {
    pub(super) fn name(&self) -> &str {
        match self {
            LabelJson::Name(name) | LabelJson::Detailed { name } => name,
        }
    }
}

#[derive(Debug, Clone, Deserialize)]
pub(super) struct PipelineJson {
    #[serde(default, deserialize_with = "nullable")]
    pub(super) status: String,
    #[serde(default)]
    pub(super) web_url: Option<String>,
}

#[derive(Debug, Clone, Deserialize)]
pub(super) struct UserJson {
    pub(super) id: u64,
    #[serde(default, deserialize_with = "nullable")]
    pub(super) username: String,
}

/// `GET /job`'s answer: the job's user.
#[derive(Debug, Deserialize)]
pub(super) struct JobJson {
    #[serde(default)]
    pub(super) user: Option<UserJson>,
}

#[derive(Debug, Clone, Deserialize)]
pub(super) struct NoteJson {
    pub(super) id: u64,
    #[serde(default, deserialize_with = "nullable")]
    pub(super) body: String,
    #[serde(default)]
    pub(super) author: Option<UserJson>,
    #[serde(default, deserialize_with = "nullable")]
    pub(super) system: bool,
}

impl NoteJson {
    pub(super) fn into_comment(self) -> Comment {
        Comment {
            id: self.id,
            body: self.body,
        }
    }
}

#[derive(Debug, Deserialize)]
pub(super) struct ApprovalsJson {
    #[serde(default)]
    pub(super) approved: Option<bool>,
    #[serde(default)]
    pub(super) approvals_required: Option<i64>,
    #[serde(default)]
    pub(super) approvals_left: Option<i64>,
    /// Counted, not read: who approved does not matter to ferry.
    #[serde(default, deserialize_with = "nullable")]
    pub(super) approved_by: Vec<serde::de::IgnoredAny>,
}
#[cfg(test)]
mod tests {
    use serde_json::{Value, json};

    use super::super::fixture::{mr, open_mr};
    use super::*;

    #[test]
    fn merge_requests_map_to_change_requests() {
        let mut json = open_mr("mergeable");
        json["description"] = Value::Null;
        json["labels"] = json!(["ferry", "env:staging"]);
        json["unknown_field"] = json!({ "nested": true });
        let cr = change_request(&mr(json));
        assert_eq!(
            cr,
            ChangeRequest {
                number: 7,
                url: "https://gitlab.example.com/g/env/-/merge_requests/7".to_owned(),
                title: "Bump api".to_owned(),
                body: String::new(),
                head_branch: "ferry/bump-api".to_owned(),
                base_branch: "main".to_owned(),
                head_sha: "a".repeat(40),
                state: CrState::Open,
                labels: vec!["ferry".to_owned(), "env:staging".to_owned()],
                draft: false,
                author: None,
                reviewers: Vec::new(),
            }
        );

        // Minimal answers, detailed labels, the old draft flag.
        let minimal = mr(json!({
            "iid": 2, "state": "locked", "labels": [{ "id": 1, "name": "ferry" }],
            "work_in_progress": true, "assignees": null,
        }));
        let cr = change_request(&minimal);
        assert_eq!((cr.number, cr.state, cr.draft), (2, CrState::Closed, true));
        assert_eq!(cr.labels, ["ferry"]);
        assert!(cr.body.is_empty() && cr.head_sha.is_empty());
    }

    #[test]
    fn merge_request_states_map_to_change_request_states() {
        for (state, expected) in [
            ("opened", CrState::Open),
            ("merged", CrState::Merged),
            ("closed", CrState::Closed),
            ("locked", CrState::Closed),
        ] {
            assert_eq!(cr_state(state), expected, "{state}");
        }
    }
}
