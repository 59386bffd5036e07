//! The GitLab side: REST v4 under `/api/v4`, as the official reference describes it
//! (docs.gitlab.com/api). Parameters come from the query string, a JSON body, or a
//! form-encoded body (the `gitlab` crate sends forms: `labels=a,b`, `assignee_ids[]=1`), as
//! GitLab's Grape API merges them all.
//!
//! Where each answer comes from:
//! - `GET .../merge_requests/:iid/approvals`: Premium/Ultimate answer the approval state
//!   (`approvals_required`, `approvals_left`, `approved`, `approved_by`, ...,
//!   <https://docs.gitlab.com/api/merge_request_approvals/>); GitLab Free (the FOSS
//!   `API::Entities::MergeRequestApprovals`) answers only `user_has_approved`,
//!   `user_can_approve`, `approved` (`approvals.present?`) and `approved_by`;
//! - `PUT .../merge_requests/:iid/merge` (<https://docs.gitlab.com/api/merge_requests/#merge-a-merge-request>):
//!   `401 Unauthorized` (may not merge), `405 Method Not Allowed` (cannot be merged now),
//!   `409 SHA does not match HEAD of source branch: <sha>`, `422 Branch cannot be merged`
//!   (the merge failed; older GitLab answered and documented `406`), each as `{"message": ...}`.
//!   A conflict GitLab already knows of is a `405` (<https://gitlab.com/gitlab-org/gitlab/-/issues/364102>);
//!   unmerged dependencies are a `422` (<https://gitlab.com/nomadic-labs/marge-bot/-/merge_requests/26>);
//! - `detailed_merge_status` values: <https://docs.gitlab.com/api/merge_requests/#merge-status>;
//! - a token whose scope is too narrow: `403` `{"error": "insufficient_scope",
//!   "error_description": "The request requires higher privileges than provided by the
//!   access token.", "scope": "api"}`; scopes: <https://docs.gitlab.com/user/profile/personal_access_tokens/#personal-access-token-scopes>;
//! - project and group access tokens act as bot users `project_{project_id}_bot_{random_string}`
//!   and `group_{group_id}_bot_{random_string}`
//!   (<https://docs.gitlab.com/user/project/settings/project_access_tokens/#bot-users-for-projects>,
//!   <https://docs.gitlab.com/user/group/settings/group_access_tokens/>); `GET /user`
//!   (<https://docs.gitlab.com/api/users/#retrieve-the-authenticated-user>) carries `bot`;
//! - `CI_JOB_TOKEN`: `GET /job` names the job and its user
//!   (<https://docs.gitlab.com/api/jobs/#get-job-tokens-job>); the token reaches only the
//!   endpoints of <https://docs.gitlab.com/ci/jobs/ci_job_token/#job-token-feature-access>;
//! - notes: <https://docs.gitlab.com/api/notes/#merge-requests> (`DELETE` answers `204`);
//! - pagination headers: <https://docs.gitlab.com/api/rest/#pagination>.

use serde_json::{Map, Value, json};

use super::state::{
    Approval, AutoMerge, CommentRec, Cr, Forge, GitLabTier, MergeError, MergeStyle, State,
    StatusRec, TokenKind, gitlab_detailed_status, pipeline_active, ref_for_sha,
};
use super::{Access, CrState, Principal, Req, Resp, paginate, util};

fn message(status: u16, text: &str) -> Resp {
    Resp::json(status, &json!({"message": text}))
}

fn unauthorized() -> Resp {
    message(401, "401 Unauthorized")
}

fn forbidden() -> Resp {
    message(403, "403 Forbidden")
}

fn project_not_found() -> Resp {
    message(404, "404 Project Not Found")
}

/// `404 <What> Not Found`, GitLab's answer for a missing resource of a kind; a missing merge
/// request or note is `404 Not found`.
fn not_found(what: &str) -> Resp {
    if what.is_empty() {
        message(404, "404 Not found")
    } else {
        message(404, &format!("404 {what} Not Found"))
    }
}

/// Grape's answer to a missing or invalid parameter.
fn bad_param(text: &str) -> Resp {
    Resp::json(400, &json!({"error": text}))
}

fn time(millis: i64) -> Value {
    Value::String(util::iso_millis(millis))
}

fn opt_time(millis: Option<i64>) -> Value {
    millis.map_or(Value::Null, time)
}

/// The request's parameters: query string, then the body (JSON object or form).
struct Params(Map<String, Value>);

impl Params {
    fn from_req(req: &Req) -> Result<Params, Resp> {
        let mut map = Map::new();
        for (k, v) in &req.params {
            insert_form(&mut map, k, v);
        }
        let body = &req.body;
        if !body.iter().all(u8::is_ascii_whitespace) {
            let json = req
                .header("content-type")
                .is_some_and(|c| c.contains("json"))
                || body.first() == Some(&b'{');
            if json {
                match serde_json::from_slice::<Value>(body) {
                    Ok(Value::Object(o)) => map.extend(o),
                    _ => return Err(bad_param("The provided content-type is not supported")),
                }
            } else {
                let text = String::from_utf8_lossy(body);
                for (k, v) in util::parse_query(&text) {
                    insert_form(&mut map, &k, &v);
                }
            }
        }
        Ok(Params(map))
    }

    fn has(&self, key: &str) -> bool {
        self.0.contains_key(key)
    }

    fn str(&self, key: &str) -> Option<String> {
        match self.0.get(key)? {
            Value::String(s) => Some(s.clone()),
            Value::Number(n) => Some(n.to_string()),
            Value::Bool(b) => Some(b.to_string()),
            _ => None,
        }
    }

    fn bool(&self, key: &str) -> Option<bool> {
        match self.0.get(key)? {
            Value::Bool(b) => Some(*b),
            Value::String(s) => match s.as_str() {
                "true" | "1" | "yes" | "t" => Some(true),
                "false" | "0" | "no" | "f" | "" => Some(false),
                _ => None,
            },
            Value::Number(n) => Some(n.as_u64() != Some(0)),
            _ => None,
        }
    }

    /// An array, or a comma-separated string.
    fn list(&self, key: &str) -> Option<Vec<String>> {
        Some(match self.0.get(key)? {
            Value::Array(a) => a
                .iter()
                .filter_map(|v| match v {
                    Value::String(s) => Some(s.clone()),
                    Value::Number(n) => Some(n.to_string()),
                    _ => None,
                })
                .filter(|s| !s.is_empty())
                .collect(),
            Value::String(s) => s
                .split(',')
                .map(str::trim)
                .filter(|s| !s.is_empty())
                .map(str::to_owned)
                .collect(),
            Value::Number(n) => vec![n.to_string()],
            _ => return None,
        })
    }

    fn ids(&self, key: &str) -> Option<Vec<u64>> {
        self.list(key)
            .map(|l| l.iter().filter_map(|s| s.parse().ok()).collect())
    }
}

/// `key[]=v` appends to an array, `key=v` sets a string.
fn insert_form(map: &mut Map<String, Value>, key: &str, value: &str) {
    if let Some(base) = key.strip_suffix("[]") {
        let entry = map
            .entry(base.to_owned())
            .or_insert_with(|| Value::Array(Vec::new()));
        if let Value::Array(a) = entry {
            a.push(Value::String(value.to_owned()));
        } else {
            *entry = Value::Array(vec![Value::String(value.to_owned())]);
        }
    } else {
        map.insert(key.to_owned(), Value::String(value.to_owned()));
    }
}

/// Authenticates a GitLab request: `PRIVATE-TOKEN`, `Authorization: Bearer`, or `JOB-TOKEN`.
pub fn authenticate(st: &State, req: &Req) -> Result<Principal, Resp> {
    let (credential, job_header) = if let Some(t) = req.header("private-token") {
        (t.trim().to_owned(), false)
    } else if let Some(t) = req.header("job-token") {
        (t.trim().to_owned(), true)
    } else if let Some(h) = req.header("authorization") {
        match h.trim().split_once(' ') {
            Some((scheme, t)) if scheme.eq_ignore_ascii_case("bearer") => {
                (t.trim().to_owned(), false)
            }
            _ => return Err(unauthorized()),
        }
    } else if let Some(t) = req.query_param("private_token") {
        (t.to_owned(), false)
    } else if let Some(t) = req.query_param("job_token") {
        (t.to_owned(), true)
    } else {
        return Err(unauthorized());
    };
    let token = st.tokens.get(&credential).ok_or_else(unauthorized)?;
    let is_job = matches!(token.kind, TokenKind::Job { .. });
    // A job token only works as one, and a GitHub installation token not at all.
    if token.expired || is_job != job_header || matches!(token.kind, TokenKind::Installation { .. })
    {
        return Err(unauthorized());
    }
    Ok(Principal::Token {
        token: credential,
        user_id: st.user_id(&token.login),
        login: token.login.clone(),
        access: token.access,
        repos: token.repos.clone(),
        kind: token.kind.clone(),
    })
}

fn user_json(st: &State, login: &str) -> Value {
    let id = st.user_id(login);
    json!({
        "id": id,
        "username": login,
        "name": login,
        "state": "active",
        "locked": false,
        "avatar_url": format!("{}/uploads/-/system/user/avatar/{id}/avatar.png", st.web),
        "web_url": format!("{}/{login}", st.web)
    })
}

fn access_level(access: Access) -> u32 {
    match access {
        Access::Read => 20,
        Access::Write => 30,
        Access::Admin => 40,
    }
}

fn project_json(st: &State, full: &str, access: Option<Access>) -> Value {
    let Some(repo) = st.repos.get(full) else {
        return Value::Null;
    };
    let default = repo.default_branch();
    let pipeline_must_succeed = repo.protection(&default).pipeline_must_succeed;
    let owner = repo.owner();
    json!({
        "id": repo.id,
        "description": null,
        "name": repo.name(),
        "name_with_namespace": format!("{owner} / {}", repo.name()),
        "path": repo.name(),
        "path_with_namespace": full,
        "created_at": time(repo.created),
        "default_branch": default,
        "tag_list": [],
        "topics": [],
        "ssh_url_to_repo": format!("git@127.0.0.1:{full}.git"),
        "http_url_to_repo": format!("{}/{full}.git", st.git_base),
        "web_url": format!("{}/{full}", st.web),
        "readme_url": null,
        "forks_count": 0,
        "avatar_url": null,
        "star_count": 0,
        "last_activity_at": time(util::now_millis()),
        "namespace": {
            "id": 9_000_000 + repo.id,
            "name": owner,
            "path": owner,
            "kind": "group",
            "full_path": owner,
            "parent_id": null,
            "avatar_url": null,
            "web_url": format!("{}/groups/{owner}", st.web)
        },
        "visibility": "private",
        "archived": false,
        "empty_repo": repo.tips.is_empty(),
        "merge_method": "merge",
        "squash_option": "default_off",
        "merge_requests_enabled": true,
        "only_allow_merge_if_pipeline_succeeds": pipeline_must_succeed,
        "allow_merge_on_skipped_pipeline": false,
        "only_allow_merge_if_all_discussions_are_resolved": false,
        "remove_source_branch_after_merge": false,
        "merge_requests_author_approval": repo.author_can_approve,
        "permissions": {
            "project_access": access.map(|a| json!({
                "access_level": access_level(a),
                "notification_level": 3
            })),
            "group_access": null
        }
    })
}

fn pipeline_json(st: &State, full: &str, id: u64, detailed: bool) -> Value {
    let Some(repo) = st.repos.get(full) else {
        return Value::Null;
    };
    let Some(p) = repo.pipelines.iter().find(|p| p.id == id) else {
        return Value::Null;
    };
    let status = repo.pipeline_status(p);
    let mut v = json!({
        "id": p.id,
        "iid": p.iid,
        "project_id": repo.id,
        "sha": p.sha,
        "ref": p.git_ref,
        "status": status,
        "source": if p.jobs.is_some() { "push" } else { "external" },
        "created_at": time(p.created),
        "updated_at": time(p.updated),
        "web_url": format!("{}/{full}/-/pipelines/{}", st.web, p.id)
    });
    if detailed {
        let finished = !pipeline_active(&status);
        v["before_sha"] = json!("0000000000000000000000000000000000000000");
        v["tag"] = json!(false);
        v["yaml_errors"] = Value::Null;
        v["user"] = Value::Null;
        v["started_at"] = time(p.created);
        v["finished_at"] = if finished {
            time(p.updated)
        } else {
            Value::Null
        };
        v["committed_at"] = Value::Null;
        v["duration"] = Value::Null;
        v["queued_duration"] = Value::Null;
        v["coverage"] = Value::Null;
        v["detailed_status"] = json!({
            "icon": format!("status_{status}"),
            "text": status,
            "label": status,
            "group": status,
            "tooltip": status,
            "has_details": true,
            "details_path": format!("/{full}/-/pipelines/{}", p.id),
            "illustration": null,
            "favicon": format!("/assets/ci_favicons/favicon_status_{status}.png")
        });
        v["archived"] = json!(false);
    }
    v
}

fn is_draft_title(title: &str) -> bool {
    let t = title.trim_start().to_ascii_lowercase();
    t.starts_with("draft:")
        || t.starts_with("[draft]")
        || t.starts_with("(draft)")
        || t.starts_with("draft ")
        || t.starts_with("wip:")
        || t.starts_with("[wip]")
}

/// A merge request object; `single` adds what `GET …/merge_requests/:iid` adds (the head
/// pipeline, `diff_refs`, `user.can_merge`, …).
fn mr_json(st: &mut State, full: &str, iid: u64, single: bool, viewer: Option<Access>) -> Value {
    let assessment = st.assess(full, iid);
    let Some(repo) = st.repos.get(full) else {
        return Value::Null;
    };
    let Some(cr) = repo.cr(iid) else {
        return Value::Null;
    };
    let detailed = assessment.as_ref().map_or("unchecked", |a| {
        gitlab_detailed_status(cr, a, repo.gitlab.tier == GitLabTier::Free)
    });
    let conflict = assessment
        .as_ref()
        .is_some_and(super::state::Assessment::conflict);
    let state = match cr.state {
        CrState::Open => "opened",
        CrState::Closed => "closed",
        CrState::Merged => "merged",
    };
    let merged_by = cr
        .merged_by
        .as_ref()
        .map_or(Value::Null, |m| user_json(st, m));
    let merge_user = cr
        .merged_by
        .as_ref()
        .or(cr.auto_merge.as_ref().map(|a| &a.enabled_by))
        .map_or(Value::Null, |m| user_json(st, m));
    let assignees: Vec<Value> = cr.assignees.iter().map(|a| user_json(st, a)).collect();
    let notes = repo.comments.iter().filter(|c| c.number == iid).count();
    let mut v = json!({
        "id": cr.id,
        "iid": iid,
        "project_id": repo.id,
        "title": cr.title,
        "description": cr.body,
        "state": state,
        "imported": false,
        "imported_from": "none",
        "created_at": time(cr.created),
        "updated_at": time(cr.updated),
        "merged_by": merged_by,
        "merge_user": merge_user,
        "merged_at": opt_time(cr.merged_at),
        "merge_after": null,
        "prepared_at": time(cr.created),
        "closed_by": if cr.state == CrState::Closed { user_json(st, &cr.author) } else { Value::Null },
        "closed_at": if cr.state == CrState::Closed { opt_time(cr.closed_at) } else { Value::Null },
        "target_branch": cr.base,
        "source_branch": cr.head,
        "user_notes_count": notes,
        "upvotes": 0,
        "downvotes": 0,
        "author": user_json(st, &cr.author),
        "assignees": assignees,
        "assignee": assignees.first().cloned().unwrap_or(Value::Null),
        "reviewers": cr.reviewers.iter().map(|r| user_json(st, r)).collect::<Vec<_>>()
    });
    let more = json!({
        "source_project_id": repo.id,
        "target_project_id": repo.id,
        "labels": cr.labels,
        "draft": cr.draft,
        "work_in_progress": cr.draft,
        "milestone": null,
        "merge_when_pipeline_succeeds": cr.auto_merge.is_some(),
        "merge_status": if conflict { "cannot_be_merged" } else { "can_be_merged" },
        "detailed_merge_status": detailed,
        "sha": cr.head_sha,
        "merge_commit_sha": cr.merge_commit_sha,
        "squash_commit_sha": cr.squash_commit_sha,
        "discussion_locked": null,
        "should_remove_source_branch": cr.auto_merge.as_ref().map(|a| a.remove_source_branch),
        "force_remove_source_branch": cr.remove_source_branch,
        "reference": format!("!{iid}"),
        "references": {
            "short": format!("!{iid}"),
            "relative": format!("!{iid}"),
            "full": format!("{full}!{iid}")
        },
        "web_url": format!("{}/{full}/-/merge_requests/{iid}", st.web),
        "time_stats": {
            "time_estimate": 0,
            "total_time_spent": 0,
            "human_time_estimate": null,
            "human_total_time_spent": null
        },
        "squash": cr.squash,
        "squash_on_merge": cr.squash,
        "task_completion_status": {"count": 0, "completed_count": 0},
        "has_conflicts": conflict,
        "blocking_discussions_resolved": true,
        "approvals_before_merge": null
    });
    if let (Value::Object(v), Value::Object(more)) = (&mut v, more) {
        v.extend(more);
    }
    if single {
        let head_pipeline = repo.head_pipeline(&cr.head_sha).map(|p| p.id);
        let base_tip = assessment.as_ref().and_then(|a| a.base_sha.clone());
        let merge_base = base_tip
            .as_deref()
            .and_then(|b| super::git_ops::merge_base(&repo.path, b, &cr.head_sha));
        let can_merge = viewer.is_some_and(|a| {
            a >= Access::Write
                && (a >= Access::Admin || !repo.protection(&cr.base).merge_requires_admin)
        });
        v["subscribed"] = json!(false);
        v["changes_count"] = json!("1");
        v["latest_build_started_at"] = Value::Null;
        v["latest_build_finished_at"] = Value::Null;
        v["first_deployed_to_production_at"] = Value::Null;
        v["pipeline"] = head_pipeline.map_or(Value::Null, |id| pipeline_json(st, full, id, false));
        v["head_pipeline"] =
            head_pipeline.map_or(Value::Null, |id| pipeline_json(st, full, id, true));
        v["diff_refs"] = json!({
            "base_sha": merge_base,
            "head_sha": cr.head_sha,
            "start_sha": base_tip
        });
        v["merge_error"] = Value::Null;
        v["first_contribution"] = json!(false);
        v["user"] = json!({"can_merge": can_merge});
        v["diverged_commits_count"] = json!(0);
        v["rebase_in_progress"] = json!(false);
    }
    v
}

fn note_json(st: &State, full: &str, c: &CommentRec) -> Value {
    let (project_id, noteable_id) = st
        .repos
        .get(full)
        .map_or((0, 0), |r| (r.id, r.cr(c.number).map_or(0, |cr| cr.id)));
    json!({
        "id": c.id,
        "type": null,
        "body": c.body,
        "attachment": null,
        "author": user_json(st, &c.author),
        "created_at": time(c.created),
        "updated_at": time(c.updated),
        "system": false,
        "noteable_id": noteable_id,
        "noteable_type": "MergeRequest",
        "project_id": project_id,
        "resolvable": false,
        "confidential": false,
        "internal": false,
        "imported": false,
        "imported_from": "none",
        "noteable_iid": c.number,
        "commands_changes": {}
    })
}

fn status_json(st: &State, full: &str, s: &StatusRec) -> Value {
    let finished = !matches!(s.state.as_str(), "pending" | "running" | "created");
    json!({
        "id": s.id,
        "sha": s.sha,
        "ref": s.git_ref,
        "status": s.state,
        "name": s.context,
        "target_url": s.target_url,
        "description": s.description,
        "created_at": time(s.created),
        "started_at": if s.state == "pending" { Value::Null } else { time(s.created) },
        "finished_at": if finished { time(s.updated) } else { Value::Null },
        "allow_failure": false,
        "coverage": null,
        "pipeline_id": s.pipeline_id,
        "author": user_json(st, &s.creator),
        "project_id": st.repos.get(full).map_or(0, |r| r.id)
    })
}

fn approvals_json(st: &mut State, full: &str, iid: u64, viewer: &str) -> Value {
    let assessment = st.assess(full, iid);
    let Some(repo) = st.repos.get(full) else {
        return Value::Null;
    };
    let Some(cr) = repo.cr(iid) else {
        return Value::Null;
    };
    let current: Vec<&Approval> = cr
        .approvals
        .iter()
        .filter(|a| a.sha == cr.head_sha)
        .collect();
    let required = assessment.as_ref().map_or(0, |a| a.required_approvals);
    let left = assessment
        .as_ref()
        .map_or(0, super::state::Assessment::approvals_left);
    let user_has_approved = current.iter().any(|a| a.user == viewer);
    let can_approve = !user_has_approved && (cr.author != viewer || repo.author_can_approve);
    if repo.gitlab.tier == GitLabTier::Free {
        // The FOSS entity (`API::Entities::MergeRequestApprovals`): no rules, no counts;
        // `approved` is whether anyone approved.
        return json!({
            "user_has_approved": user_has_approved,
            "user_can_approve": can_approve,
            "approved": !current.is_empty(),
            "approved_by": current
                .iter()
                .map(|a| json!({"user": user_json(st, &a.user), "approved_at": time(a.at)}))
                .collect::<Vec<_>>()
        });
    }
    let conflict = assessment
        .as_ref()
        .is_some_and(super::state::Assessment::conflict);
    json!({
        "id": cr.id,
        "iid": iid,
        "project_id": repo.id,
        "title": cr.title,
        "description": cr.body,
        "state": match cr.state {
            CrState::Open => "opened",
            CrState::Closed => "closed",
            CrState::Merged => "merged",
        },
        "created_at": time(cr.created),
        "updated_at": time(cr.updated),
        "merge_status": if conflict { "cannot_be_merged" } else { "can_be_merged" },
        "approved": left == 0,
        "approvals_required": required,
        "approvals_left": left,
        "require_password_to_approve": false,
        "approved_by": current
            .iter()
            .map(|a| json!({"user": user_json(st, &a.user), "approved_at": time(a.at)}))
            .collect::<Vec<_>>(),
        "suggested_approvers": [],
        "approvers": [],
        "approver_groups": [],
        "user_has_approved": user_has_approved,
        "user_can_approve": can_approve,
        "approval_rules_left": [],
        "has_approval_rules": required > 0,
        "merge_request_approvers_available": true,
        "multiple_approval_rules_available": false,
        "invalid_approvers_rules": []
    })
}

/// The routes a CI job token may call (GitLab's "Job token access" list, for the APIs here).
fn job_token_allowed(method: &str, segs: &[&str]) -> bool {
    matches!(
        (method, segs),
        ("GET", ["job"])
            | ("GET", ["projects", _, "merge_requests"])
            | ("GET", ["projects", _, "merge_requests", _])
            | ("GET", ["projects", _, "merge_requests", _, "notes"])
            | ("GET", ["projects", _, "merge_requests", _, "notes", _])
    )
}

/// Dispatches a request.
pub fn handle(st: &mut State, p: &Principal, req: &Req) -> Resp {
    let rest = req.path.strip_prefix("/api/v4").unwrap_or_default();
    let segs: Vec<String> = rest
        .split('/')
        .filter(|s| !s.is_empty())
        .map(|s| util::percent_decode(s, false))
        .collect();
    let segs: Vec<&str> = segs.iter().map(String::as_str).collect();
    let m = req.method.as_str();
    let job = match p {
        Principal::Token {
            kind: TokenKind::Job { repo, job_id },
            ..
        } => Some((repo.clone(), *job_id)),
        _ => None,
    };
    if job.is_some() && !job_token_allowed(m, &segs) {
        return unauthorized();
    }
    // A `read_api` token: GitLab's scope check answers before any route.
    if let Principal::Token { token, .. } = p
        && m != "GET"
        && st.gitlab.read_only.contains(token)
    {
        return Resp::json(
            403,
            &json!({
                "error": "insufficient_scope",
                "error_description": "The request requires higher privileges than provided by the access token.",
                "scope": "api"
            }),
        );
    }
    let params = match Params::from_req(req) {
        Ok(p) => p,
        Err(resp) => return resp,
    };
    match (m, segs.as_slice()) {
        ("GET", ["user"]) => {
            let mut v = user_json(st, p.login());
            v["created_at"] = time(util::now_millis());
            v["bio"] = json!("");
            v["public_email"] = Value::Null;
            v["email"] = json!(format!("{}@users.noreply.gitlab.example", p.login()));
            v["is_admin"] = json!(false);
            // Project and group access tokens act as bot users.
            v["bot"] = json!(st.user(p.login()).is_some_and(|u| u.bot));
            Resp::json(200, &v)
        }
        ("GET", ["job"]) => match job {
            Some((repo, job_id)) => get_job(st, p, &repo, job_id),
            None => unauthorized(),
        },
        ("GET", ["users"]) => {
            let name = params.str("username");
            let users: Vec<Value> = st
                .users
                .iter()
                .filter(|u| {
                    name.as_deref()
                        .is_none_or(|n| u.login.eq_ignore_ascii_case(n))
                })
                .map(|u| user_json(st, &u.login))
                .collect();
            paginate(&st.web, req, users, true)
        }
        (_, ["projects", id, rest @ ..]) => {
            let Some(full) = resolve_project(st, id) else {
                return project_not_found();
            };
            if let Some((job_repo, _)) = &job
                && *job_repo != full
            {
                return message(
                    403,
                    &format!(
                        "Authentication by CI/CD job token not allowed from {job_repo} to {full}."
                    ),
                );
            }
            let Some(access) = p.access_to(&full) else {
                return project_not_found();
            };
            project_route(st, p, req, &params, &full, access, rest)
        }
        _ => Resp::json(404, &json!({"error": "404 Not Found"})),
    }
}

fn resolve_project(st: &mut State, id: &str) -> Option<String> {
    if let Ok(n) = id.parse::<u64>() {
        return st.repo_by_id(n);
    }
    st.repo_mut(id).map(|r| r.full.clone())
}

fn get_job(st: &mut State, p: &Principal, full: &str, job_id: u64) -> Resp {
    let Some(repo) = st.repo_mut(full) else {
        return project_not_found();
    };
    let branch = repo.default_branch();
    let sha = repo.tips.get(&branch).cloned().unwrap_or_default();
    let project_id = repo.id;
    let now = util::now_millis();
    Resp::json(
        200,
        &json!({
            "id": job_id,
            "status": "running",
            "stage": "deploy",
            "name": "ferry",
            "ref": branch,
            "tag": false,
            "coverage": null,
            "allow_failure": false,
            "created_at": time(now),
            "started_at": time(now),
            "finished_at": null,
            "erased_at": null,
            "duration": 1.0,
            "queued_duration": 0.1,
            "user": user_json(st, p.login()),
            "commit": {
                "id": sha,
                "short_id": sha.get(..8).unwrap_or_default(),
                "title": "",
                "message": ""
            },
            "pipeline": {
                "id": job_id + 1,
                "project_id": project_id,
                "ref": branch,
                "sha": sha,
                "status": "running"
            },
            "web_url": format!("{}/{full}/-/jobs/{job_id}", st.web),
            "project": {"ci_job_token_scope_enabled": true},
            "artifacts": [],
            "runner": null,
            "failure_reason": null,
            "tag_list": []
        }),
    )
}

fn project_route(
    st: &mut State,
    p: &Principal,
    req: &Req,
    params: &Params,
    full: &str,
    access: Access,
    rest: &[&str],
) -> Resp {
    let m = req.method.as_str();
    let write = access >= Access::Write;
    let iid_of = |s: &str, st: &State| {
        s.parse::<u64>()
            .ok()
            .filter(|n| st.repos.get(full).is_some_and(|r| r.cr(*n).is_some()))
    };
    match (m, rest) {
        ("GET", []) => Resp::json(200, &project_json(st, full, Some(access))),
        ("GET", ["merge_requests"]) => list_mrs(st, req, params, full),
        ("POST", ["merge_requests"]) if write => create_mr(st, p, params, full, access),
        ("POST", ["merge_requests"]) => forbidden(),
        (_, ["merge_requests", iid, tail @ ..]) => {
            let Some(iid) = iid_of(iid, st) else {
                return not_found("");
            };
            mr_route(st, p, req, params, full, access, iid, tail)
        }
        ("POST", ["statuses", sha]) if write => create_status(st, p, params, full, sha),
        ("POST", ["statuses", _]) => forbidden(),
        ("GET", ["repository", "commits", sha, "statuses"]) => {
            list_statuses(st, req, params, full, sha)
        }
        ("GET", ["pipelines"]) => {
            let sha = params.str("sha");
            let git_ref = params.str("ref");
            let status = params.str("status");
            let ids: Vec<u64> = st.repos.get(full).map_or_else(Vec::new, |r| {
                r.pipelines
                    .iter()
                    .rev()
                    .filter(|p| sha.as_deref().is_none_or(|s| p.sha == s))
                    .filter(|p| git_ref.as_deref().is_none_or(|g| p.git_ref == g))
                    .filter(|p| status.as_deref().is_none_or(|s| r.pipeline_status(p) == s))
                    .map(|p| p.id)
                    .collect()
            });
            let items = ids
                .iter()
                .map(|id| pipeline_json(st, full, *id, false))
                .collect();
            paginate(&st.web, req, items, true)
        }
        _ => Resp::json(404, &json!({"error": "404 Not Found"})),
    }
}

#[allow(clippy::too_many_arguments)] // the route's whole context, passed once
fn mr_route(
    st: &mut State,
    p: &Principal,
    req: &Req,
    params: &Params,
    full: &str,
    access: Access,
    iid: u64,
    tail: &[&str],
) -> Resp {
    let m = req.method.as_str();
    let write = access >= Access::Write;
    match (m, tail) {
        ("GET", []) => Resp::json(200, &mr_json(st, full, iid, true, Some(access))),
        ("PUT", []) if write => update_mr(st, p, params, full, iid, access),
        ("GET", ["notes"]) => {
            let desc = params.str("sort").as_deref() != Some("asc");
            let by_updated = params.str("order_by").as_deref() == Some("updated_at");
            let mut notes: Vec<(i64, u64)> = st.repos.get(full).map_or_else(Vec::new, |r| {
                r.comments
                    .iter()
                    .filter(|c| c.number == iid)
                    .map(|c| (if by_updated { c.updated } else { c.created }, c.id))
                    .collect()
            });
            notes.sort_unstable();
            if desc {
                notes.reverse();
            }
            let items = notes
                .iter()
                .filter_map(|(_, id)| {
                    let r = st.repos.get(full)?;
                    r.comments
                        .iter()
                        .find(|c| c.id == *id)
                        .map(|c| note_json(st, full, c))
                })
                .collect();
            paginate(&st.web, req, items, true)
        }
        ("GET", ["notes", id]) => {
            let found = id.parse::<u64>().ok().and_then(|id| {
                st.repos
                    .get(full)?
                    .comments
                    .iter()
                    .find(|c| c.id == id && c.number == iid)
                    .map(|c| note_json(st, full, c))
            });
            found.map_or_else(|| not_found(""), |v| Resp::json(200, &v))
        }
        ("POST", ["notes"]) if write => create_note(st, p, params, full, iid),
        ("PUT", ["notes", id]) if write => update_note(st, p, params, full, iid, id),
        ("DELETE", ["notes", id]) => delete_note(st, p, full, iid, id, access),
        ("GET", ["approvals"]) => Resp::json(200, &approvals_json(st, full, iid, p.login())),
        ("POST", ["approve"]) => approve(st, p, params, full, iid, write),
        ("POST", ["unapprove"]) => {
            let login = p.login().to_owned();
            let head = st
                .repos
                .get(full)
                .and_then(|r| r.cr(iid))
                .map(|c| c.head_sha.clone())
                .unwrap_or_default();
            let Some(cr) = st.repos.get_mut(full).and_then(|r| r.cr_mut(iid)) else {
                return not_found("");
            };
            let before = cr.approvals.len();
            cr.approvals.retain(|a| !(a.user == login && a.sha == head));
            if cr.approvals.len() == before {
                return not_found("");
            }
            Resp::json(201, &approvals_json(st, full, iid, &login))
        }
        ("PUT", ["merge"]) => merge_mr(st, p, params, full, iid, access),
        ("POST", ["cancel_merge_when_pipeline_succeeds"]) if write => {
            let Some(cr) = st.repos.get_mut(full).and_then(|r| r.cr_mut(iid)) else {
                return not_found("");
            };
            if cr.state == CrState::Closed {
                return message(406, "Can't cancel the automatic merge");
            }
            cr.auto_merge = None;
            Resp::json(201, &mr_json(st, full, iid, true, Some(access)))
        }
        ("GET", ["pipelines"]) => {
            let head = st
                .repos
                .get(full)
                .and_then(|r| r.cr(iid))
                .map(|c| c.head_sha.clone())
                .unwrap_or_default();
            let ids: Vec<u64> = st.repos.get(full).map_or_else(Vec::new, |r| {
                r.pipelines
                    .iter()
                    .rev()
                    .filter(|p| p.sha == head)
                    .map(|p| p.id)
                    .collect()
            });
            let items = ids
                .iter()
                .map(|id| pipeline_json(st, full, *id, false))
                .collect();
            paginate(&st.web, req, items, true)
        }
        ("PUT" | "POST", _) if !write => forbidden(),
        _ => Resp::json(404, &json!({"error": "404 Not Found"})),
    }
}

fn list_mrs(st: &mut State, req: &Req, params: &Params, full: &str) -> Resp {
    let state = params.str("state").unwrap_or_else(|| "all".to_owned());
    let source = params.str("source_branch");
    let target = params.str("target_branch");
    let labels = params.list("labels").unwrap_or_default();
    let author = params.str("author_username");
    let iids = params.ids("iids");
    let by_updated = params.str("order_by").as_deref() == Some("updated_at");
    let asc = params.str("sort").as_deref() == Some("asc");
    let Some(repo) = st.repos.get(full) else {
        return project_not_found();
    };
    let matches_labels = |cr: &Cr| match labels.as_slice() {
        [] => true,
        [one] if one.eq_ignore_ascii_case("none") => cr.labels.is_empty(),
        [one] if one.eq_ignore_ascii_case("any") => !cr.labels.is_empty(),
        wanted => wanted.iter().all(|l| cr.labels.contains(l)),
    };
    let mut picked: Vec<(i64, u64)> = repo
        .crs
        .iter()
        .filter(|c| match state.as_str() {
            "opened" => c.state == CrState::Open,
            "closed" => c.state == CrState::Closed,
            "merged" => c.state == CrState::Merged,
            "locked" => false,
            _ => true,
        })
        .filter(|c| source.as_deref().is_none_or(|s| c.head == s))
        .filter(|c| target.as_deref().is_none_or(|t| c.base == t))
        .filter(|c| author.as_deref().is_none_or(|a| c.author == a))
        .filter(|c| iids.as_ref().is_none_or(|i| i.contains(&c.number)))
        .filter(|c| matches_labels(c))
        .map(|c| (if by_updated { c.updated } else { c.created }, c.number))
        .collect();
    picked.sort_unstable();
    if !asc {
        picked.reverse();
    }
    let items = picked
        .iter()
        .map(|(_, n)| mr_json(st, full, *n, false, None))
        .collect();
    paginate(&st.web, req, items, true)
}

fn create_mr(st: &mut State, p: &Principal, params: &Params, full: &str, access: Access) -> Resp {
    let missing: Vec<&str> = ["source_branch", "target_branch", "title"]
        .into_iter()
        .filter(|k| params.str(k).is_none_or(|v| v.is_empty()))
        .collect();
    if !missing.is_empty() {
        return bad_param(
            &missing
                .iter()
                .map(|k| format!("{k} is missing"))
                .collect::<Vec<_>>()
                .join(", "),
        );
    }
    let source = params.str("source_branch").unwrap_or_default();
    let target = params.str("target_branch").unwrap_or_default();
    let title = params.str("title").unwrap_or_default();
    let Some(repo) = st.repos.get(full) else {
        return project_not_found();
    };
    if source == target {
        return Resp::json(
            409,
            &json!({"message": ["You can't use same project/branch for source and target"]}),
        );
    }
    let mut invalid = Map::new();
    if !repo.tips.contains_key(&source) {
        invalid.insert("source_branch".to_owned(), json!(["does not exist"]));
    }
    if !repo.tips.contains_key(&target) {
        invalid.insert("target_branch".to_owned(), json!(["does not exist"]));
    }
    if !invalid.is_empty() {
        return Resp::json(400, &json!({"message": invalid}));
    }
    if let Some(dup) = repo
        .crs
        .iter()
        .find(|c| c.state == CrState::Open && c.head == source && c.base == target)
    {
        return Resp::json(
            409,
            &json!({"message": [format!(
                "Another open merge request already exists for this source branch: !{}",
                dup.number
            )]}),
        );
    }
    let head_sha = repo.tips.get(&source).cloned().unwrap_or_default();
    let labels = params.list("labels").unwrap_or_default();
    let assignees = users_of(st, params, "assignee_ids", "assignee_id");
    let reviewers = users_of(st, params, "reviewer_ids", "reviewer_id");
    let id = st.next_id();
    let now = util::now_millis();
    let mut next = st.next_id;
    let Some(repo) = st.repos.get_mut(full) else {
        return project_not_found();
    };
    for l in &labels {
        repo.label_id(l, &mut next);
    }
    let number = repo.crs.iter().map(|c| c.number).max().unwrap_or(0) + 1;
    repo.crs.push(Cr {
        number,
        id,
        draft: is_draft_title(&title),
        title,
        body: params.str("description").unwrap_or_default(),
        head: source,
        base: target,
        head_sha,
        state: CrState::Open,
        author: p.login().to_owned(),
        labels,
        assignees,
        reviewers,
        created: now,
        updated: now,
        closed_at: None,
        merged_at: None,
        merge_commit_sha: None,
        squash_commit_sha: None,
        merged_by: None,
        merge_method: None,
        auto_merge: None,
        reviews: Vec::new(),
        approvals: Vec::new(),
        remove_source_branch: params.bool("remove_source_branch").unwrap_or(false),
        squash: params.bool("squash").unwrap_or(false),
    });
    st.next_id = next;
    Resp::json(201, &mr_json(st, full, number, true, Some(access)))
}

/// The logins of the user ids in `key` (array or comma list) or the single `single_key`;
/// `0` or an empty list means nobody. `None` when neither is given.
fn users_of_opt(st: &State, params: &Params, key: &str, single_key: &str) -> Option<Vec<String>> {
    let ids = if params.has(key) {
        params.ids(key).unwrap_or_default()
    } else if params.has(single_key) {
        params.ids(single_key).unwrap_or_default()
    } else {
        return None;
    };
    Some(
        ids.iter()
            .filter(|&&id| id != 0)
            .filter_map(|&id| st.user_by_id(id).map(|u| u.login.clone()))
            .collect(),
    )
}

fn users_of(st: &State, params: &Params, key: &str, single_key: &str) -> Vec<String> {
    users_of_opt(st, params, key, single_key).unwrap_or_default()
}

fn update_mr(
    st: &mut State,
    p: &Principal,
    params: &Params,
    full: &str,
    iid: u64,
    access: Access,
) -> Resp {
    let _ = p;
    let assignees = users_of_opt(st, params, "assignee_ids", "assignee_id");
    let reviewers = users_of_opt(st, params, "reviewer_ids", "reviewer_id");
    let labels = params.list("labels");
    let add = params.list("add_labels").unwrap_or_default();
    let remove = params.list("remove_labels").unwrap_or_default();
    let state_event = params.str("state_event");
    if let Some(e) = &state_event
        && e != "close"
        && e != "reopen"
    {
        return bad_param("state_event does not have a valid value");
    }
    if let Some(t) = params.str("target_branch")
        && st.repos.get(full).is_some_and(|r| !r.tips.contains_key(&t))
    {
        return Resp::json(
            400,
            &json!({"message": {"target_branch": ["does not exist"]}}),
        );
    }
    let now = util::now_millis();
    let mut next = st.next_id;
    let Some(repo) = st.repos.get_mut(full) else {
        return project_not_found();
    };
    for l in labels.iter().flatten().chain(&add) {
        repo.label_id(l, &mut next);
    }
    let Some(cr) = repo.cr_mut(iid) else {
        return not_found("");
    };
    if let Some(t) = params.str("title") {
        cr.draft = is_draft_title(&t);
        cr.title = t;
    }
    if let Some(d) = params.str("description") {
        cr.body = d;
    }
    if let Some(t) = params.str("target_branch") {
        cr.base = t;
    }
    if let Some(l) = labels {
        cr.labels = l;
    }
    for l in add {
        if !cr.labels.contains(&l) {
            cr.labels.push(l);
        }
    }
    cr.labels.retain(|l| !remove.contains(l));
    if let Some(a) = assignees {
        cr.assignees = a;
    }
    if let Some(r) = reviewers {
        cr.reviewers = r;
    }
    if let Some(b) = params.bool("remove_source_branch") {
        cr.remove_source_branch = b;
    }
    if let Some(b) = params.bool("squash") {
        cr.squash = b;
    }
    match state_event.as_deref() {
        Some("close") if cr.state == CrState::Open => {
            cr.state = CrState::Closed;
            cr.closed_at = Some(now);
            cr.auto_merge = None;
        }
        Some("reopen") if cr.state == CrState::Closed => {
            cr.state = CrState::Open;
            cr.closed_at = None;
        }
        _ => {}
    }
    cr.updated = now;
    st.next_id = next;
    st.refresh(full);
    Resp::json(200, &mr_json(st, full, iid, true, Some(access)))
}

fn create_note(st: &mut State, p: &Principal, params: &Params, full: &str, iid: u64) -> Resp {
    let Some(body) = params.str("body").filter(|b| !b.is_empty()) else {
        return bad_param("body is missing");
    };
    let id = st.next_id();
    let now = util::now_millis();
    let rec = CommentRec {
        id,
        number: iid,
        author: p.login().to_owned(),
        body,
        created: now,
        updated: now,
    };
    let v = note_json(st, full, &rec);
    if let Some(repo) = st.repos.get_mut(full) {
        repo.comments.push(rec);
    }
    Resp::json(201, &v)
}

fn update_note(
    st: &mut State,
    p: &Principal,
    params: &Params,
    full: &str,
    iid: u64,
    id: &str,
) -> Resp {
    let Some(body) = params.str("body").filter(|b| !b.is_empty()) else {
        return bad_param("body is missing");
    };
    let now = util::now_millis();
    let Some(repo) = st.repos.get_mut(full) else {
        return project_not_found();
    };
    let Some(c) = id.parse::<u64>().ok().and_then(|id| {
        repo.comments
            .iter_mut()
            .find(|c| c.id == id && c.number == iid)
    }) else {
        return message(404, "404 Not found");
    };
    // Only the author edits a note (a maintainer may not either, on GitLab).
    if c.author != p.login() {
        return forbidden();
    }
    c.body = body;
    c.updated = now;
    let rec = CommentRec {
        id: c.id,
        number: c.number,
        author: c.author.clone(),
        body: c.body.clone(),
        created: c.created,
        updated: c.updated,
    };
    Resp::json(200, &note_json(st, full, &rec))
}

/// `DELETE .../notes/:note_id`: `204`; only its author or a Maintainer may (`403`).
fn delete_note(
    st: &mut State,
    p: &Principal,
    full: &str,
    iid: u64,
    id: &str,
    access: Access,
) -> Resp {
    let Some(repo) = st.repos.get_mut(full) else {
        return project_not_found();
    };
    let Some(index) = id.parse::<u64>().ok().and_then(|id| {
        repo.comments
            .iter()
            .position(|c| c.id == id && c.number == iid)
    }) else {
        return message(404, "404 Not found");
    };
    if repo.comments[index].author != p.login() && access < Access::Admin {
        return forbidden();
    }
    repo.comments.remove(index);
    Resp::empty(204)
}

fn approve(
    st: &mut State,
    p: &Principal,
    params: &Params,
    full: &str,
    iid: u64,
    write: bool,
) -> Resp {
    let login = p.login().to_owned();
    let Some(repo) = st.repos.get(full) else {
        return project_not_found();
    };
    let Some(cr) = repo.cr(iid) else {
        return not_found("");
    };
    let already = cr
        .approvals
        .iter()
        .any(|a| a.user == login && a.sha == cr.head_sha);
    let own = cr.author == login && !repo.author_can_approve;
    if !write || already || own || cr.state != CrState::Open {
        return unauthorized();
    }
    if let Some(sha) = params.str("sha")
        && sha != cr.head_sha
    {
        return message(
            409,
            &format!("SHA does not match HEAD of source branch: {}", cr.head_sha),
        );
    }
    let head = cr.head_sha.clone();
    if let Some(cr) = st.repos.get_mut(full).and_then(|r| r.cr_mut(iid)) {
        cr.approvals.push(Approval {
            user: login.clone(),
            at: util::now_millis(),
            sha: head,
        });
    }
    let v = approvals_json(st, full, iid, &login);
    st.sweep_auto_merge(full);
    Resp::json(201, &v)
}

fn merge_mr(
    st: &mut State,
    p: &Principal,
    params: &Params,
    full: &str,
    iid: u64,
    access: Access,
) -> Resp {
    let assessment = st.assess(full, iid);
    let Some(repo) = st.repos.get(full) else {
        return project_not_found();
    };
    let Some(cr) = repo.cr(iid) else {
        return not_found("");
    };
    let admin_only = repo.protection(&cr.base).merge_requires_admin;
    if access < Access::Write || (admin_only && access < Access::Admin) {
        return unauthorized();
    }
    let (legacy_errors, fail_next) = (repo.gitlab.legacy_merge_errors, repo.gitlab.fail_next_merge);
    let Some(a) = assessment else {
        return message(405, "405 Method Not Allowed");
    };
    let auto = params.bool("merge_when_pipeline_succeeds").unwrap_or(false)
        || params.bool("auto_merge").unwrap_or(false);
    let detailed = gitlab_detailed_status(cr, &a, repo.gitlab.tier == GitLabTier::Free);
    let pipeline_status = a.pipeline.as_ref().map(|(_, s)| s.as_str());
    // GitLab's `automatically_mergeable?`: auto-merge asked, an active head pipeline, and
    // nothing but checks (approvals, CI) in the way.
    let automatically = auto
        && pipeline_status.is_some_and(pipeline_active)
        && matches!(
            detailed,
            "mergeable" | "ci_still_running" | "ci_must_pass" | "not_approved"
        );
    // `immediately_mergeable?`: with auto-merge asked, only a succeeded pipeline merges now.
    let immediately = if auto {
        pipeline_status == Some("success") && detailed == "mergeable"
    } else {
        detailed == "mergeable"
    };
    if !immediately && !automatically {
        return message(405, "405 Method Not Allowed");
    }
    if let Some(sha) = params.str("sha")
        && sha != cr.head_sha
    {
        return message(
            409,
            &format!("SHA does not match HEAD of source branch: {}", cr.head_sha),
        );
    }
    let squash = params.bool("squash").unwrap_or(cr.squash);
    let remove_source = params
        .bool("should_remove_source_branch")
        .unwrap_or(cr.remove_source_branch);
    let commit_message = params.str("merge_commit_message");
    if automatically {
        let now = util::now_millis();
        if let Some(cr) = st.repos.get_mut(full).and_then(|r| r.cr_mut(iid)) {
            cr.auto_merge = Some(AutoMerge {
                forge: Forge::GitLab,
                method: "merge_when_pipeline_succeeds".to_owned(),
                enabled_by: p.login().to_owned(),
                enabled_at: now,
                commit_title: None,
                commit_message,
                squash,
                remove_source_branch: remove_source,
            });
            cr.updated = now;
        }
        return Resp::json(200, &mr_json(st, full, iid, true, Some(access)));
    }
    let style = MergeStyle::GitLab {
        squash,
        message: commit_message,
        squash_message: params.str("squash_commit_message"),
        remove_source,
    };
    // `Branch cannot be merged`: 422 now, 406 on older GitLab.
    let cannot_merge = if legacy_errors { 406 } else { 422 };
    if fail_next {
        if let Some(repo) = st.repos.get_mut(full) {
            repo.gitlab.fail_next_merge = false;
        }
        return message(cannot_merge, "Branch cannot be merged");
    }
    match st.perform_merge(full, iid, &style, p.login()) {
        Ok(_) => Resp::json(200, &mr_json(st, full, iid, true, Some(access))),
        Err(MergeError::Conflict | MergeError::BaseMoved | MergeError::NoBase) => {
            message(cannot_merge, "Branch cannot be merged")
        }
        Err(MergeError::Git(e)) => message(500, &format!("500 Internal Server Error: {e}")),
    }
}

/// GitLab's name for the event that moves a status to `state`.
fn transition_event(state: &str) -> &'static str {
    match state {
        "pending" => "enqueue",
        "running" => "run",
        "success" => "succeed",
        "failed" => "drop",
        "canceled" => "cancel",
        _ => "skip",
    }
}

fn create_status(st: &mut State, p: &Principal, params: &Params, full: &str, sha: &str) -> Resp {
    let Some(state) = params.str("state") else {
        return bad_param("state is missing");
    };
    if !matches!(
        state.as_str(),
        "pending" | "running" | "success" | "failed" | "canceled" | "skipped"
    ) {
        return bad_param("state does not have a valid value");
    }
    let Some(path) = st.repos.get(full).map(|r| r.path.clone()) else {
        return project_not_found();
    };
    let Some(full_sha) = super::git_ops::resolve_commit(&path, sha).filter(|s| s.starts_with(sha))
    else {
        return not_found("Commit");
    };
    let name = params
        .str("name")
        .or_else(|| params.str("context"))
        .unwrap_or_else(|| "default".to_owned());
    let id = st.next_id();
    let new_pipeline_id = st.next_id();
    let now = util::now_millis();
    let Some(repo) = st.repos.get_mut(full) else {
        return project_not_found();
    };
    let git_ref = params
        .str("ref")
        .unwrap_or_else(|| ref_for_sha(repo, &full_sha));
    if let Some(prev) =
        repo.statuses.iter().rev().find(|s| {
            s.sha == full_sha && s.context == name && s.git_ref.as_deref() == Some(&git_ref)
        })
        && prev.state == state
        && matches!(state.as_str(), "pending" | "running")
    {
        let event = transition_event(&state);
        return bad_param_message(&format!(
            "Cannot transition status via :{event} from :{state} (Reason(s): Status cannot transition via \"{event}\")"
        ));
    }
    // The status joins the latest pipeline of the commit, or makes an external one.
    let pipeline_id = match params
        .str("pipeline_id")
        .and_then(|s| s.parse::<u64>().ok())
    {
        Some(id) if repo.pipelines.iter().any(|p| p.id == id) => id,
        Some(_) => return not_found("Pipeline"),
        None => match repo.pipelines.iter().rev().find(|p| p.sha == full_sha) {
            Some(p) => p.id,
            None => {
                let iid = repo.pipelines.len() as u64 + 1;
                repo.pipelines.push(super::state::Pipeline {
                    id: new_pipeline_id,
                    iid,
                    sha: full_sha.clone(),
                    git_ref: git_ref.clone(),
                    jobs: None,
                    created: now,
                    updated: now,
                });
                new_pipeline_id
            }
        },
    };
    if let Some(pl) = repo.pipelines.iter_mut().find(|p| p.id == pipeline_id) {
        pl.updated = now;
    }
    let rec = StatusRec {
        id,
        sha: full_sha,
        context: name,
        state,
        target_url: params.str("target_url"),
        description: params.str("description"),
        creator: p.login().to_owned(),
        created: now,
        updated: now,
        git_ref: Some(git_ref),
        pipeline_id: Some(pipeline_id),
    };
    let v = status_json(st, full, &rec);
    if let Some(repo) = st.repos.get_mut(full) {
        repo.statuses.push(rec);
    }
    st.sweep_auto_merge(full);
    Resp::json(201, &v)
}

fn bad_param_message(text: &str) -> Resp {
    message(400, text)
}

fn list_statuses(st: &State, req: &Req, params: &Params, full: &str, sha: &str) -> Resp {
    let Some(repo) = st.repos.get(full) else {
        return project_not_found();
    };
    let Some(full_sha) = super::git_ops::resolve_commit(&repo.path, sha) else {
        return not_found("Commit");
    };
    let git_ref = params.str("ref");
    let name = params.str("name");
    let all = params.bool("all").unwrap_or(false);
    let mut picked: Vec<&StatusRec> = Vec::new();
    for s in repo
        .statuses
        .iter()
        .filter(|s| s.sha == full_sha)
        .filter(|s| git_ref.is_none() || s.git_ref == git_ref)
        .filter(|s| name.as_deref().is_none_or(|n| s.context == n))
    {
        if !all {
            picked.retain(|x| x.context != s.context);
        }
        picked.push(s);
    }
    let items = picked.iter().map(|s| status_json(st, full, s)).collect();
    paginate(&st.web, req, items, true)
}
