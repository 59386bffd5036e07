//! GitLab (REST API v4) through the `gitlab` crate's async client interface.
//!
//! Every request is a raw [`gitlab::api::AsyncClient::rest_async`] call sent through
//! [`Api`]: the crate's endpoint builders turn non-2xx answers into errors and drop the
//! headers, while ferry's retry policy needs the status, `retry-after` and `ratelimit-*`.
//! The client behind the interface is `RedirectFree`, not the crate's own `AsyncGitlab`:
//! the token travels in `PRIVATE-TOKEN` / `JOB-TOKEN`, which the redirect policy of the
//! crate's reqwest client (it strips only `Authorization` and cookies, and cannot be changed)
//! would carry to whatever host a redirect names. A redirect is reported instead, with where it
//! pointed.
//! URLs are built here from `--api-url`; the project is addressed by its URL-encoded path
//! (`group%2Fsub%2Fenv`), so no call is spent looking up its numeric id.
//!
//! `GitLabTransport` adds the token header (`PRIVATE-TOKEN`, or `JOB-TOKEN` for
//! `CI_JOB_TOKEN`) to each request, and ferry checks the token with its own `GET /user`
//! (`GET /job`): counted, retried, failures mapped to [`ForgeError::Auth`] with the usual
//! hints, and the user it names kept, because the sticky comment edits only notes that user
//! wrote.
//!
//! Call counts in the method docs are for the common path; the retry policy of [`Api`] may
//!
//! Modules: `transport` (connecting, the redirect-free client and its token header, requests
//! and pagination), `wire` (GitLab's answers as ferry reads them), `readiness` (what a merge
//! request's merge status and approvals mean); the [`Forge`] implementation is here.

mod readiness;
mod transport;
mod wire;

#[cfg(test)]
mod fixture;

use std::collections::HashMap;

use http::Method;
use serde::de::DeserializeOwned;
use serde_json::{Map, Value, json};

use super::api::{Api, Request, Response, server_message};
use super::{
    AutoMerge, ChangeRequest, ChangeRequestEdit, Check, Comment, CommentAction, CommitStatus,
    CrState, Forge, ForgeError, ForgeKind, ListFilter, MergeMethod, Merged, NewChangeRequest,
    Readiness, Refusal, StatusState,
};
use crate::repo_url::encode_component as encode;

use readiness::{pipeline_state, readiness_of};
use transport::{GitLabTransport, PER_PAGE};
use wire::{ApprovalsJson, MrJson, NoteJson, UserJson, change_request, non_empty};

const KIND: ForgeKind = ForgeKind::GitLab;

/// Why GitLab would not merge, when its answer does not say (a bare `405 Method Not Allowed`):
/// <https://docs.gitlab.com/api/merge_requests/#merge-a-merge-request>.
const MERGE_HINT: &str = "GitLab answers 405 when one of its merge checks fails (the merge request is a draft or not open, a pipeline must succeed, threads are unresolved, approvals are missing, it conflicts, or a project rule blocks it); `ferry merge` reads them again and lists what is missing: rerun it once that is done, or open the merge request to see which check fails";

/// What a 401 means on the merge endpoint: the token was valid at connect (`GET /user`), so it
/// is the user's right to merge, not the token, that is missing.
const MERGE_PERMISSION_HINT: &str = "GitLab answers 401 when the token's user may not merge this merge request: merging into a protected branch needs a role that is allowed to merge there (at least Developer, often Maintainer); project and group access tokens need such a role too";

/// A 403 on the merge endpoint that is not about the token's scope.
const MERGE_FORBIDDEN_HINT: &str = "GitLab refuses this token the merge: the token's role must be allowed to merge into the target branch (protected branches: 'Allowed to merge', often Maintainer), and a project or group access token must be active (not expired or revoked)";

/// 409 on the merge endpoint: `SHA does not match HEAD of source branch`.
const HEAD_MOVED_HINT: &str = "the source branch moved after ferry checked it (a push); ferry merges only the head it checked and never forces: rerun `ferry merge` to check the new head";

/// 422 (406 on older GitLab, whose API docs listed it): `Branch cannot be merged`.
const CANNOT_MERGE_HINT: &str = "GitLab could not merge the branch: a conflict that appeared after the check, a merge request it depends on that has not merged yet, the target branch moving during the merge, or a server hook refusing the merge commit; rerun `ferry merge` (it recomputes a ferry merge request on the target's new tip), or open the merge request to see GitLab's merge error";

/// A 403 whose body is GitLab's `insufficient_scope` (a `read_api` token that writes).
const SCOPE_HINT: &str = "the token's scope allows only reads (`read_api`, `read_repository`): opening and merging merge requests, notes and commit statuses need a token with the `api` scope";

/// A GitLab project's merge requests, notes and commit statuses, for one repository.
pub struct GitLab {
    api: Api<GitLabTransport>,
    /// `--api-url`, ending in `/api/v4`, no trailing slash.
    base: String,
    /// `group/sub/project`.
    project: String,
    /// `/projects/group%2Fsub%2Fproject`, the prefix of every project call.
    project_path: String,
    /// The token's user, from the connect check: ferry's sticky comment is the note it wrote.
    me: Option<UserJson>,
}

impl GitLab {
    fn get_mr(&self, number: u64) -> Result<MrJson, ForgeError> {
        self.fetch(&self.request(Method::GET, &self.mr_path(number)))
    }

    /// The open merge request from `head` into `base`: one list call (GitLab allows one).
    fn find_open_mr(&self, head: &str, base: &str) -> Result<Option<MrJson>, ForgeError> {
        let filter = ListFilter {
            state: Some(CrState::Open),
            head: Some(head.to_owned()),
            base: Some(base.to_owned()),
            labels: Vec::new(),
        };
        let mrs: Vec<MrJson> = self.get_all(&list_path(&self.project_path, &filter))?;
        Ok(mrs.into_iter().next())
    }

    /// Sends a create (a POST that is not safe to repeat). When its answer is lost (5xx,
    /// network), `look` checks whether it happened before the POST is sent once more.
    fn create<T>(
        &self,
        request: &Request,
        look: impl Fn() -> Result<Option<T>, ForgeError>,
    ) -> Result<T, ForgeError>
    where
        T: DeserializeOwned,
    {
        let mut tries = 0;
        loop {
            tries += 1;
            match self.fetch(request) {
                Ok(created) => return Ok(created),
                Err(err) if err.maybe_happened() => {
                    tracing::warn!(call = request.call, "{err}; looking whether it happened");
                    if let Some(found) = look()? {
                        return Ok(found);
                    }
                    if tries >= 2 {
                        return Err(err);
                    }
                }
                Err(err) => return Err(err),
            }
        }
    }

    /// GitLab user ids for user names, one `GET /users?username=` call per distinct name.
    fn user_ids(
        &self,
        names: &[&str],
        cache: &mut HashMap<String, u64>,
    ) -> Result<Vec<u64>, ForgeError> {
        let mut ids = Vec::with_capacity(names.len());
        for name in names {
            let key = name.to_ascii_lowercase();
            let id = match cache.get(&key) {
                Some(id) => *id,
                None => {
                    let request =
                        self.request(Method::GET, &format!("/users?username={}", encode(name)));
                    let users: Vec<UserJson> = self.fetch(&request)?;
                    let user = users
                        .iter()
                        .find(|u| u.username.eq_ignore_ascii_case(name))
                        .ok_or_else(|| {
                            ForgeError::Usage(format!(
                                "GitLab has no user `{name}` (asked as a reviewer or assignee): check the user names given"
                            ))
                        })?;
                    cache.insert(key, user.id);
                    user.id
                }
            };
            if !ids.contains(&id) {
                ids.push(id);
            }
        }
        Ok(ids)
    }

    /// The `PUT .../merge` request of `merge` and `enable_auto_merge`.
    fn merge_request(
        &self,
        number: u64,
        expected_head: &str,
        method: MergeMethod,
        auto: bool,
    ) -> Request {
        let mut body = json!({
            "sha": expected_head,
            "squash": method == MergeMethod::Squash,
            "should_remove_source_branch": true,
        });
        if auto {
            // GitLab 17.11 renamed the parameter; older servers know only the first name and
            // newer ones accept both.
            body["merge_when_pipeline_succeeds"] = Value::Bool(true);
            body["auto_merge"] = Value::Bool(true);
        }
        self.request(Method::PUT, &format!("{}/merge", self.mr_path(number)))
            .json(body)
    }

    /// The error for a refused merge, naming the call, GitLab's message, the cause and the
    /// fix (<https://docs.gitlab.com/api/merge_requests/#merge-a-merge-request>):
    /// - 401: the right to merge (the token itself was checked at connect);
    /// - 403: the token's scope (`insufficient_scope`) or a project rule;
    /// - 405: a merge check fails; 409: the head moved; 406 (older GitLab) / 422: the merge
    ///   itself failed. These are [`ForgeError::Refused`]: `ferry merge` reads the merge request
    ///   again and says what is missing (exit 11, waiting).
    fn merge_error(&self, request: &Request, response: &Response) -> ForgeError {
        let message = server_message(&response.body);
        let refused = |hint: &str| {
            ForgeError::Refused {
                forge: KIND,
                call: request.call.clone(),
                status: response.status,
                message: format!("{message}\n  hint: {hint}"),
                why: Refusal::Other,
            }
            .of_merge()
        };
        match response.status {
            401 if !self.api.job_token() => ForgeError::Auth {
                forge: KIND,
                call: request.call.clone(),
                status: 401,
                message,
                hint: MERGE_PERMISSION_HINT.to_owned(),
            },
            403 if !self.api.job_token() => ForgeError::Auth {
                forge: KIND,
                call: request.call.clone(),
                status: 403,
                hint: if is_scope_refusal(&message) {
                    SCOPE_HINT
                } else {
                    MERGE_FORBIDDEN_HINT
                }
                .to_owned(),
                message,
            },
            405 => refused(MERGE_HINT),
            406 | 422 => refused(CANNOT_MERGE_HINT),
            409 => refused(HEAD_MOVED_HINT),
            _ => refine(self.api.error(request, response, 1)),
        }
    }
}

/// Whether GitLab's message is its `insufficient_scope` refusal (`{"error":
/// "insufficient_scope", "error_description": "The request requires higher privileges than
/// provided by the access token.", "scope": "api"}`).
fn is_scope_refusal(message: &str) -> bool {
    message.contains("insufficient_scope")
}

/// GitLab's 403 for a token whose scope is too narrow gets the scope's hint rather than the
/// role's.
fn refine(err: ForgeError) -> ForgeError {
    match err {
        ForgeError::Auth {
            forge,
            call,
            status: 403,
            message,
            ..
        } if is_scope_refusal(&message) => ForgeError::Auth {
            forge,
            call,
            status: 403,
            message,
            hint: SCOPE_HINT.to_owned(),
        },
        other => other,
    }
}

impl Forge for GitLab {
    fn kind(&self) -> ForgeKind {
        KIND
    }

    fn project(&self) -> &str {
        &self.project
    }

    /// `GET /projects/:id/merge_requests`, newest first, one call per page of 100.
    fn list(&self, filter: &ListFilter) -> Result<Vec<ChangeRequest>, ForgeError> {
        let mrs: Vec<MrJson> = self.get_all(&list_path(&self.project_path, filter))?;
        Ok(mrs.iter().map(change_request).collect())
    }

    /// `GET /projects/:id/merge_requests/:iid`: 1 call.
    fn get(&self, number: u64) -> Result<ChangeRequest, ForgeError> {
        Ok(change_request(&self.get_mr(number)?))
    }

    /// Creates the merge request: 1 `GET /users?username=` per distinct reviewer or assignee,
    /// then `POST /projects/:id/merge_requests` (1 call without reviewers or assignees). A lost
    /// answer is followed by a look (1 call) before the POST is sent once more; a 409 "another
    /// open merge request already exists" returns that merge request (1 call).
    fn open(&self, new: &NewChangeRequest) -> Result<ChangeRequest, ForgeError> {
        // The caller has just looked for an open one (`find_open`): no second look before the
        // create, only after a create whose answer was lost or that GitLab calls a duplicate.
        let mut body = json!({
            "source_branch": new.head,
            "target_branch": new.base,
            "title": new.title,
            "description": new.body,
            "remove_source_branch": true,
        });
        if !new.labels.is_empty() {
            body["labels"] = Value::String(new.labels.join(","));
        }
        let mut cache = HashMap::new();
        let assignees = self.user_ids(&user_names(&new.assignees), &mut cache)?;
        let reviewers = self.user_ids(&user_names(&new.reviewers), &mut cache)?;
        if !assignees.is_empty() {
            body["assignee_ids"] = json!(assignees);
        }
        if !reviewers.is_empty() {
            body["reviewer_ids"] = json!(reviewers);
        }
        let request = self
            .request(
                Method::POST,
                &format!("{}/merge_requests", self.project_path),
            )
            .json(body);
        let look = || self.find_open_mr(&new.head, &new.base);
        match self.create(&request, look) {
            Ok(mr) => Ok(change_request(&mr)),
            Err(err) if err.status() == Some(409) => match look()? {
                Some(mr) => Ok(change_request(&mr)),
                None => Err(err),
            },
            Err(err) => Err(err),
        }
    }

    /// `GET /projects/:id/merge_requests/:iid`, then, unless nothing would change,
    /// `PUT /projects/:id/merge_requests/:iid`: 1 or 2 calls, plus 1 `GET /users?username=` per
    /// reviewer or assignee not already on the merge request. GitLab replaces the reviewer and
    /// assignee lists, so the new ones are sent with those already there.
    fn update(&self, number: u64, edit: &ChangeRequestEdit) -> Result<ChangeRequest, ForgeError> {
        let current = self.get_mr(number)?;
        let cr = change_request(&current);
        let new_assignees = missing_users(&edit.assignees, &current.assignees);
        let new_reviewers = missing_users(&edit.reviewers, &current.reviewers);
        let plain = ChangeRequestEdit {
            reviewers: Vec::new(),
            assignees: Vec::new(),
            ..edit.clone()
        };
        if plain.is_noop_for(&cr) && new_assignees.is_empty() && new_reviewers.is_empty() {
            return Ok(cr);
        }
        let mut body = Map::new();
        if let Some(title) = edit.title.as_ref().filter(|t| **t != cr.title) {
            body.insert("title".to_owned(), Value::String(title.clone()));
        }
        if let Some(description) = edit.body.as_ref().filter(|b| **b != cr.body) {
            body.insert("description".to_owned(), Value::String(description.clone()));
        }
        let labels: Vec<&str> = edit
            .labels
            .iter()
            .filter(|l| !cr.labels.contains(l))
            .map(String::as_str)
            .collect();
        if !labels.is_empty() {
            body.insert("add_labels".to_owned(), Value::String(labels.join(",")));
        }
        let mut cache = HashMap::new();
        for (key, existing, new) in [
            ("assignee_ids", &current.assignees, new_assignees),
            ("reviewer_ids", &current.reviewers, new_reviewers),
        ] {
            if new.is_empty() {
                continue;
            }
            let mut ids: Vec<u64> = existing.iter().map(|u| u.id).collect();
            for id in self.user_ids(&new, &mut cache)? {
                if !ids.contains(&id) {
                    ids.push(id);
                }
            }
            body.insert(key.to_owned(), json!(ids));
        }
        let request = self
            .request(Method::PUT, &self.mr_path(number))
            .json(Value::Object(body));
        let updated: MrJson = self.fetch(&request)?;
        Ok(change_request(&updated))
    }

    /// `GET /projects/:id/merge_requests/:iid/notes` (every page of 100), then nothing when
    /// the note is unchanged, `PUT .../notes/:note_id` when it changed, or `POST .../notes`
    /// followed by one more read of the notes: 1 or 2 calls, 3 to create. Only a non-system
    /// note written by the token's user counts as ferry's: the user `GET /user` names (a
    /// project or group access token's bot user too) or, for `CI_JOB_TOKEN`, the job's user
    /// from `GET /job`.
    ///
    /// Two runs that both found no note may both create one: the read after the create sees
    /// both, and the run whose note is not the oldest deletes it (`DELETE .../notes/:note_id`)
    /// and makes the oldest say what it wrote, so one note is left.
    fn upsert_comment(
        &self,
        number: u64,
        marker: &str,
        body: &str,
    ) -> Result<(Comment, CommentAction), ForgeError> {
        let notes_path = format!("{}/notes", self.mr_path(number));
        if marker.is_empty() || !body.contains(marker) {
            return Err(ForgeError::Unexpected {
                forge: KIND,
                call: format!("upsert a note on {notes_path}"),
                message:
                    "the note's body does not carry its marker, so it could not be found again"
                        .to_owned(),
            });
        }
        let me = note_author(self.me.as_ref(), self.api.job_token(), &notes_path)?;
        let notes_query = format!("{notes_path}?sort=asc&order_by=created_at&per_page={PER_PAGE}");
        let find = || -> Result<Option<NoteJson>, ForgeError> {
            let notes: Vec<NoteJson> = self.get_all(&notes_query)?;
            Ok(find_marked(&notes, me, marker).cloned())
        };
        let edit = |note: NoteJson| -> Result<(Comment, CommentAction), ForgeError> {
            if note.body.trim_end() == body.trim_end() {
                return Ok((note.into_comment(), CommentAction::Unchanged));
            }
            let request = self
                .request(Method::PUT, &format!("{notes_path}/{}", note.id))
                .json(json!({ "body": body }));
            let updated: NoteJson = self.fetch(&request)?;
            Ok((updated.into_comment(), CommentAction::Updated))
        };
        if let Some(note) = find()? {
            return edit(note);
        }
        let request = self
            .request(Method::POST, &notes_path)
            .json(json!({ "body": body }));
        let created: NoteJson = self.create(&request, find)?;
        // Another run may have created one meanwhile: the oldest stays, ours goes.
        match find()? {
            Some(oldest) if oldest.id != created.id => {
                let request = self.request(Method::DELETE, &format!("{notes_path}/{}", created.id));
                let response = self.api.send(&request)?;
                if !(response.status == 404 || (200..300).contains(&response.status)) {
                    return Err(refine(self.api.error(&request, &response, 1)));
                }
                tracing::info!(
                    kept = oldest.id,
                    removed = created.id,
                    "another run wrote ferry's note at the same time; one is kept"
                );
                edit(oldest)
            }
            _ => Ok((created.into_comment(), CommentAction::Created)),
        }
    }

    /// `POST /projects/:id/statuses/:sha`: 1 call, retried like an idempotent request (it sets
    /// the status of `name`, it does not add one). GitLab refuses (400) to post a state the
    /// status already has; that refusal is success.
    fn set_status(&self, status: &CommitStatus) -> Result<(), ForgeError> {
        let state = gitlab_state(status.state);
        let mut body = json!({
            "state": state,
            "name": status.context,
            "description": status.description,
        });
        if let Some(url) = &status.target_url {
            body["target_url"] = Value::String(url.clone());
        }
        let request = self
            .request(
                Method::POST,
                &format!("{}/statuses/{}", self.project_path, encode(&status.sha)),
            )
            .json(body)
            .idempotent();
        let response = self.api.send(&request)?;
        match response.status {
            200..=299 => Ok(()),
            400 if is_same_state_refusal(&server_message(&response.body), state) => {
                tracing::debug!(
                    call = request.call,
                    state,
                    "the status already has this state"
                );
                Ok(())
            }
            _ => Err(refine(self.api.error(&request, &response, 1))),
        }
    }

    /// `GET /projects/:id/repository/commits/:sha/statuses` (the latest of each name; only
    /// `context` when it is a plain name): 1 call per page.
    fn commit_statuses(&self, sha: &str, context: &str) -> Result<Vec<Check>, ForgeError> {
        #[derive(serde::Deserialize)]
        struct StatusJson {
            name: String,
            status: String,
            target_url: Option<String>,
        }
        let filter = if context.ends_with('*') {
            String::new()
        } else {
            format!("&name={}", encode(context))
        };
        let statuses: Vec<StatusJson> = self.get_all(&format!(
            "{}/repository/commits/{}/statuses?per_page={PER_PAGE}{filter}",
            self.project_path,
            encode(sha)
        ))?;
        Ok(statuses
            .into_iter()
            .filter(|s| super::context_matches(context, &s.name))
            .map(|s| Check {
                state: pipeline_state(&s.status),
                name: s.name,
                required: false,
                url: s.target_url.filter(|u| !u.is_empty()),
            })
            .collect())
    }

    /// `GET /projects/:id/merge_requests/:iid` and `GET .../approvals`: 2 calls. GitLab's
    /// `detailed_merge_status` is authoritative: whenever it is not `mergeable`, the result is
    /// not ready, and says why. The approvals answer differs by tier (see `readiness_of`);
    /// where GitLab refuses it (403, or 404 from a GitLab without the endpoint or a role that
    /// may not read it), the merge status alone decides and the approvals are reported unknown.
    fn readiness(&self, number: u64) -> Result<Readiness, ForgeError> {
        let mr = self.get_mr(number)?;
        let request = self.request(Method::GET, &format!("{}/approvals", self.mr_path(number)));
        let response = self.api.send(&request)?;
        let approvals: ApprovalsJson = match response.status {
            200..=299 => response.json(KIND, &request.call)?,
            403 | 404 if !self.api.job_token() => {
                let why = format!(
                    "`{}` answered {}: {}",
                    request.call,
                    response.status,
                    server_message(&response.body)
                );
                tracing::warn!(
                    "approvals of merge request !{number} cannot be read ({why}); GitLab's merge status decides alone"
                );
                return Ok(readiness_of(&mr, Err(&why)));
            }
            _ => return Err(refine(self.api.error(&request, &response, 1))),
        };
        Ok(readiness_of(&mr, Ok(&approvals)))
    }

    /// `PUT /projects/:id/merge_requests/:iid/merge` pinned to `expected_head`: 1 call. A 409
    /// is the head having moved (`Refused`, status 409). A 405 after a retried PUT may be the
    /// retry finding the first attempt's merge done (its answer was lost): then one `GET`
    /// tells that from a real refusal. GitLab merges as its project is set up (merge commit,
    /// fast-forward); `Rebase` is not a per-merge choice there.
    fn merge(
        &self,
        number: u64,
        expected_head: &str,
        method: MergeMethod,
    ) -> Result<Merged, ForgeError> {
        let request = self.merge_request(number, expected_head, method, false);
        let before = self.api.calls();
        let response = self.api.send(&request)?;
        let retried = self.api.calls().saturating_sub(before) > 1;
        if (200..300).contains(&response.status) {
            let mr: MrJson = response.json(KIND, &request.call)?;
            return merged_of(&mr).ok_or_else(|| ForgeError::Unexpected {
                forge: KIND,
                call: request.call.clone(),
                message: format!(
                    "GitLab accepted the merge but the merge request is still {}{}",
                    mr.state,
                    mr.merge_error
                        .as_deref()
                        .map(|e| format!(": {e}"))
                        .unwrap_or_default()
                ),
            });
        }
        if response.status == 405
            && retried
            && let Ok(mr) = self.get_mr(number)
            && mr.state == "merged"
            && mr.sha == expected_head
        {
            return Ok(merged_of(&mr).unwrap_or(Merged { sha: None }));
        }
        Err(self.merge_error(&request, &response))
    }

    /// The merge `PUT` with `merge_when_pipeline_succeeds` and `auto_merge`: 1 call.
    /// - GitLab set auto-merge, or is finishing a merge (`locked`) → `Enabled`;
    /// - GitLab merged at once (recent versions do when nothing is pending) → `Merged`;
    /// - 405 (GitLab refuses auto-merge when there is no pipeline), or an answer that shows
    ///   none of these → `NothingPending`: the caller merges directly, and GitLab's own checks
    ///   decide that merge.
    fn enable_auto_merge(
        &self,
        number: u64,
        expected_head: &str,
        method: MergeMethod,
    ) -> Result<AutoMerge, ForgeError> {
        let request = self.merge_request(number, expected_head, method, true);
        let response = self.api.send(&request)?;
        match response.status {
            200..=299 => {
                let mr: MrJson = response.json(KIND, &request.call)?;
                Ok(auto_merge_of(&mr))
            }
            405 => Ok(AutoMerge::NothingPending),
            _ => Err(self.merge_error(&request, &response)),
        }
    }

    /// Every attempt so far, the connect check included.
    fn calls(&self) -> u32 {
        self.api.calls()
    }
}

/// The list call's path and query for `filter`.
fn list_path(project_path: &str, filter: &ListFilter) -> String {
    let state = match filter.state {
        None => "all",
        Some(CrState::Open) => "opened",
        Some(CrState::Closed) => "closed",
        Some(CrState::Merged) => "merged",
    };
    let mut query = format!("state={state}");
    if let Some(head) = &filter.head {
        query.push_str(&format!("&source_branch={}", encode(head)));
    }
    if let Some(base) = &filter.base {
        query.push_str(&format!("&target_branch={}", encode(base)));
    }
    if !filter.labels.is_empty() {
        let labels: Vec<String> = filter.labels.iter().map(|l| encode(l)).collect();
        query.push_str(&format!("&labels={}", labels.join(",")));
    }
    format!(
        "{project_path}/merge_requests?{query}&order_by=created_at&sort=desc&per_page={PER_PAGE}"
    )
}

/// The user names of `names` without a leading `@`, empty ones dropped.
fn user_names(names: &[String]) -> Vec<&str> {
    names
        .iter()
        .map(|n| n.trim().trim_start_matches('@'))
        .filter(|n| !n.is_empty())
        .collect()
}

/// The names in `wanted` that are not among `present` (GitLab user names ignore case).
fn missing_users<'a>(wanted: &'a [String], present: &[UserJson]) -> Vec<&'a str> {
    let mut missing: Vec<&str> = Vec::new();
    for name in user_names(wanted) {
        let known = present
            .iter()
            .any(|u| u.username.eq_ignore_ascii_case(name))
            || missing.iter().any(|m| m.eq_ignore_ascii_case(name));
        if !known {
            missing.push(name);
        }
    }
    missing
}

/// GitLab's name for a commit status state. GitLab has one failed state for both failures
/// and errors.
fn gitlab_state(state: StatusState) -> &'static str {
    match state {
        StatusState::Pending => "pending",
        StatusState::Success => "success",
        StatusState::Failure | StatusState::Error => "failed",
    }
}

/// Whether a 400 from `POST .../statuses/:sha` refuses to set the state the status already
/// has: "Cannot transition status via :run from :running (Reason(s): ...)".
fn is_same_state_refusal(message: &str, state: &str) -> bool {
    let Some((_, rest)) = message.split_once("Cannot transition status via") else {
        return false;
    };
    let Some((_, from)) = rest.split_once("from :") else {
        return false;
    };
    let current: String = from
        .chars()
        .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
        .collect();
    current == state
}

/// The first note carrying `marker` that the user `me` wrote, system notes aside (GitLab
/// writes those, and they quote titles and descriptions that may carry the marker).
fn find_marked<'a>(notes: &'a [NoteJson], me: u64, marker: &str) -> Option<&'a NoteJson> {
    notes.iter().find(|note| {
        !note.system
            && note.author.as_ref().is_some_and(|a| a.id == me)
            && note.body.contains(marker)
    })
}

/// The user id whose notes are ferry's. `None` when GitLab named no user (a `GET /job` whose
/// job has none): ferry then cannot tell its note from a copy, and says so rather than write
/// a second one.
fn note_author(me: Option<&UserJson>, job: bool, notes_path: &str) -> Result<u64, ForgeError> {
    me.map(|u| u.id).ok_or_else(|| ForgeError::Unexpected {
        forge: KIND,
        call: format!("GET {notes_path}"),
        message: if job {
            "GitLab's `GET /job` named no user for this CI_JOB_TOKEN, so ferry cannot tell its own note (and a job token may not write notes): give a project or group access token with the `api` scope (FERRY_APP_TOKEN for an application repository)".to_owned()
        } else {
            "GitLab did not name the token's user, so ferry cannot tell its own note from a copy and writes none: give a project, group or personal access token with the `api` scope".to_owned()
        },
    })
}

/// The merge a merge answer reports, if it merged: the tip of the target branch is the merge
/// commit, else (fast-forward) the squash commit, else what newer GitLab calls
/// `merged_commit_sha`. `locked` means GitLab is finishing the merge.
fn merged_of(mr: &MrJson) -> Option<Merged> {
    match mr.state.as_str() {
        "merged" => Some(Merged {
            sha: non_empty(mr.merge_commit_sha.as_ref())
                .or_else(|| non_empty(mr.squash_commit_sha.as_ref()))
                .or_else(|| non_empty(mr.merged_commit_sha.as_ref())),
        }),
        "locked" => Some(Merged { sha: None }),
        _ => None,
    }
}

/// See [`GitLab::enable_auto_merge`].
fn auto_merge_of(mr: &MrJson) -> AutoMerge {
    if mr.state == "merged" {
        return AutoMerge::Merged(merged_of(mr).unwrap_or(Merged { sha: None }));
    }
    let pending = mr.merge_when_pipeline_succeeds || mr.auto_merge_enabled || mr.state == "locked";
    if pending && mr.state != "merged" {
        AutoMerge::Enabled
    } else {
        AutoMerge::NothingPending
    }
}
#[cfg(test)]
mod tests {
    use super::fixture::{mr, open_mr};
    use super::*;

    #[test]
    fn a_narrow_scope_gets_the_scope_hint_and_no_user_no_note() {
        let message = server_message(
            br#"{"error":"insufficient_scope","error_description":"The request requires higher privileges than provided by the access token.","scope":"api"}"#,
        );
        let err = refine(ForgeError::Auth {
            forge: KIND,
            call: "POST /projects/g%2Fenv/merge_requests".to_owned(),
            status: 403,
            message,
            hint: "the role".to_owned(),
        });
        let text = err.to_string();
        assert!(text.contains("insufficient_scope"), "{text}");
        assert!(
            text.contains("hint: ") && text.contains("`api` scope"),
            "{text}"
        );
        // A 403 about the role keeps its hint.
        let err = refine(ForgeError::Auth {
            forge: KIND,
            call: "PUT /x".to_owned(),
            status: 403,
            message: "403 Forbidden".to_owned(),
            hint: "the role".to_owned(),
        });
        assert!(err.to_string().ends_with("hint: the role"), "{err}");

        let me: UserJson = serde_json::from_value(
            json!({ "id": 77, "username": "project_3_bot_4ffca233d8298ea1", "bot": true }),
        )
        .expect("user");
        assert_eq!(note_author(Some(&me), false, "/n").expect("id"), 77);
        for job in [false, true] {
            let err = note_author(None, job, "/projects/g%2Fenv/merge_requests/7/notes")
                .expect_err("no user");
            let text = err.to_string();
            assert!(text.contains("cannot tell its own note"), "{text}");
            assert!(text.contains("access token"), "{text}");
            assert_eq!(text.contains("CI_JOB_TOKEN"), job, "{text}");
        }
    }

    #[test]
    fn paths_and_queries_are_encoded() {
        assert_eq!(encode("group/sub/env"), "group%2Fsub%2Fenv");
        assert_eq!(encode("ferry/bump api~1.2"), "ferry%2Fbump%20api~1.2");
        let filter = ListFilter {
            state: Some(CrState::Open),
            head: Some("ferry/x".to_owned()),
            base: Some("main".to_owned()),
            labels: vec!["ferry".to_owned(), "env:prod".to_owned()],
        };
        assert_eq!(
            list_path("/projects/g%2Fenv", &filter),
            "/projects/g%2Fenv/merge_requests?state=opened&source_branch=ferry%2Fx&target_branch=main&labels=ferry,env%3Aprod&order_by=created_at&sort=desc&per_page=100"
        );
        assert!(
            list_path("/p", &ListFilter::default())
                .starts_with("/p/merge_requests?state=all&order_by")
        );
    }

    #[test]
    fn status_states_map_to_gitlabs() {
        assert_eq!(gitlab_state(StatusState::Pending), "pending");
        assert_eq!(gitlab_state(StatusState::Success), "success");
        assert_eq!(gitlab_state(StatusState::Failure), "failed");
        assert_eq!(gitlab_state(StatusState::Error), "failed");

        let refusal = |from: &str| {
            format!(
                "Cannot transition status via :enqueue from :{from} (Reason(s): Status cannot transition via \"enqueue\")"
            )
        };
        assert!(is_same_state_refusal(&refusal("pending"), "pending"));
        assert!(is_same_state_refusal(
            "Cannot transition status via :run from :running",
            "running"
        ));
        assert!(is_same_state_refusal(
            "Cannot transition status via :drop from :failed",
            "failed"
        ));
        assert!(!is_same_state_refusal(&refusal("success"), "pending"));
        assert!(!is_same_state_refusal(&refusal("pending_x"), "pending"));
        assert!(!is_same_state_refusal("state is invalid", "pending"));
    }

    #[test]
    fn ferrys_note_is_found_among_others() {
        let notes: Vec<NoteJson> = serde_json::from_value(json!([
            { "id": 1, "body": "<!-- ferry:env --> quoted", "system": true, "author": { "id": 42, "username": "ferry-bot" } },
            { "id": 2, "body": "<!-- ferry:env --> copied by a person", "system": false, "author": { "id": 7, "username": "alice" } },
            { "id": 3, "body": "unrelated", "system": false, "author": { "id": 42, "username": "ferry-bot" } },
            { "id": 4, "body": "<!-- ferry:env --> plan", "system": false, "author": { "id": 42, "username": "ferry-bot" } },
            { "id": 5, "body": "<!-- ferry:env --> later", "system": false, "author": { "id": 42, "username": "ferry-bot" } },
            { "id": 6, "body": null, "author": null },
        ]))
        .expect("notes");
        assert_eq!(
            find_marked(&notes, 42, "<!-- ferry:env -->").map(|n| n.id),
            Some(4)
        );
        assert_eq!(
            find_marked(&notes, 42, "<!-- ferry:other -->").map(|n| n.id),
            None
        );
        assert_eq!(
            find_marked(&notes, 99, "<!-- ferry:env -->").map(|n| n.id),
            None
        );
    }

    #[test]
    fn merge_answers_say_what_happened() {
        let mut json = open_mr("not_open");
        json["state"] = json!("merged");
        json["merge_commit_sha"] = json!("b".repeat(40));
        json["squash_commit_sha"] = json!("c".repeat(40));
        assert_eq!(
            merged_of(&mr(json.clone())),
            Some(Merged {
                sha: Some("b".repeat(40))
            })
        );
        json["merge_commit_sha"] = Value::Null;
        assert_eq!(
            merged_of(&mr(json.clone())),
            Some(Merged {
                sha: Some("c".repeat(40))
            })
        );
        // Merged at once.
        json["merge_when_pipeline_succeeds"] = json!(true);
        assert_eq!(
            auto_merge_of(&mr(json)),
            AutoMerge::Merged(Merged {
                sha: Some("c".repeat(40))
            })
        );
        assert_eq!(merged_of(&mr(open_mr("mergeable"))), None);
        let mut locked = open_mr("not_open");
        locked["state"] = json!("locked");
        assert_eq!(merged_of(&mr(locked.clone())), Some(Merged { sha: None }));
        assert_eq!(auto_merge_of(&mr(locked)), AutoMerge::Enabled);

        let mut json = open_mr("ci_still_running");
        json["merge_when_pipeline_succeeds"] = json!(true);
        assert_eq!(auto_merge_of(&mr(json)), AutoMerge::Enabled);
        assert_eq!(
            auto_merge_of(&mr(open_mr("mergeable"))),
            AutoMerge::NothingPending
        );
    }

    #[test]
    fn reviewers_already_there_are_not_looked_up() {
        let present: Vec<UserJson> =
            serde_json::from_value(json!([{ "id": 1, "username": "Alice" }])).expect("users");
        let wanted = [
            "@alice".to_owned(),
            "bob".to_owned(),
            "Bob".to_owned(),
            " ".to_owned(),
        ];
        assert_eq!(missing_users(&wanted, &present), ["bob"]);
    }
}
