//! What the GitLab tests share: merge requests and approvals as GitLab answers them.

use serde_json::{Value, json};

use super::wire::{ApprovalsJson, MrJson};

pub(super) fn mr(json: Value) -> MrJson {
    serde_json::from_value(json).expect("merge request")
}

pub(super) fn approvals(json: Value) -> ApprovalsJson {
    serde_json::from_value(json).expect("approvals")
}

pub(super) fn open_mr(status: &str) -> Value {
    json!({
        "id": 101, "iid": 7, "project_id": 3, "title": "Bump api", "description": "body",
        "state": "opened", "source_branch": "ferry/bump-api", "target_branch": "main",
        "sha": "a".repeat(40), "labels": ["ferry"], "draft": false, "work_in_progress": false,
        "has_conflicts": false, "merge_status": "can_be_merged",
        "detailed_merge_status": status,
        "web_url": "https://gitlab.example.com/g/env/-/merge_requests/7",
        "head_pipeline": null,
    })
}

pub(super) fn all_approved() -> ApprovalsJson {
    approvals(json!({
        "approved": true, "approvals_required": 1, "approvals_left": 0,
        "approved_by": [{ "user": { "id": 9, "username": "alice" } }],
    }))
}
