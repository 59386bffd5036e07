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
//! add attempts, which [`Forge::calls`] counts too.

use std::collections::HashMap;

use gitlab::api::{ApiError, AsyncClient as _};
use http::header::{ACCEPT, CONTENT_TYPE, LOCATION};
use http::{HeaderName, HeaderValue, Method};
use secrecy::{ExposeSecret, SecretString};
use serde::de::DeserializeOwned;
use serde::{Deserialize, Deserializer};
use serde_json::{Map, Value, json};

use super::api::{Api, Request, Response, Transport, server_message};
use super::{
    Approvals, AutoMerge, ChangeRequest, ChangeRequestEdit, Check, CheckState, Comment,
    CommentAction, CommitStatus, CrState, Forge, ForgeAuth, ForgeError, ForgeKind, ForgeSettings,
    ListFilter, MergeMethod, Merged, NewChangeRequest, Readiness, Refusal, StatusState,
};
use crate::repo_url::{ServerUrl, encode_component as encode};

const KIND: ForgeKind = ForgeKind::GitLab;

/// GitLab's largest page.
const PER_PAGE: u32 = 100;

/// A bound on pages followed, against a server whose pagination never ends.
const MAX_PAGES: u32 = 1000;

const USER_AGENT: &str = concat!("ferry/", env!("CARGO_PKG_VERSION"));

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
    /// Connects to the GitLab of `settings` and checks the token with one call
    /// (`GET /user`, or `GET /job` for `CI_JOB_TOKEN`), counted in [`Forge::calls`].
    ///
    /// # Errors
    /// [`ForgeError::Usage`] when the API URL does not end in `/api/v4` or there is no token;
    /// [`ForgeError::Auth`] when GitLab refuses the token; any error of the check call.
    pub fn connect(settings: ForgeSettings) -> Result<GitLab, ForgeError> {
        let ForgeSettings {
            api_url,
            project,
            auth,
            options,
            ..
        } = settings;
        client_host(&api_url)?;
        if project.is_empty() {
            return Err(ForgeError::Usage(
                "the GitLab project path is empty: give --repo as https://HOST/GROUP/PROJECT"
                    .to_owned(),
            ));
        }
        let (credentials, job) = credentials(auth)?;
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .map_err(|err| ForgeError::Unexpected {
                forge: KIND,
                call: "start the HTTP runtime".to_owned(),
                message: err.to_string(),
            })?;
        let client = RedirectFree::new(&api_url).map_err(|err| {
            ForgeError::Usage(format!(
                "cannot set up a GitLab client for {api_url}: {err}"
            ))
        })?;
        let mut api = Api::new(
            KIND,
            GitLabTransport {
                client,
                credentials,
            },
            runtime,
            options,
        );
        api.set_job_token(job);
        let project_path = format!("/projects/{}", encode(&project));
        let mut gitlab = GitLab {
            api,
            base: api_url,
            project,
            project_path,
            me: None,
        };
        gitlab.me = gitlab.whoami(job)?;
        Ok(gitlab)
    }

    /// The token's user: `GET /user`, or the job's user from `GET /job` for a job token.
    fn whoami(&self, job: bool) -> Result<Option<UserJson>, ForgeError> {
        let path = if job { "/job" } else { "/user" };
        let request = Request::new(Method::GET, &self.base, path);
        let response = match self.call(&request) {
            Ok(response) => response,
            Err(ForgeError::NotFound { .. }) => {
                return Err(ForgeError::Usage(format!(
                    "GitLab API `GET {path}` answered 404 at {}: --api-url must be GitLab's REST API, https://HOST/api/v4 (or https://HOST/PREFIX/api/v4)",
                    self.base
                )));
            }
            Err(err) => return Err(err),
        };
        if job {
            let job: JobJson = response.json(KIND, &request.call)?;
            Ok(job.user)
        } else {
            response.json(KIND, &request.call).map(Some)
        }
    }

    fn request(&self, method: Method, path: &str) -> Request {
        Request::new(method, &self.base, path)
    }

    fn mr_path(&self, number: u64) -> String {
        format!("{}/merge_requests/{number}", self.project_path)
    }

    /// One call, its answer as `T`.
    fn fetch<T: DeserializeOwned>(&self, request: &Request) -> Result<T, ForgeError> {
        self.call(request)?.json(KIND, &request.call)
    }

    /// `GET` of `path` (whose query sets `per_page`), every page: one call per page.
    fn get_all<T: DeserializeOwned>(&self, path: &str) -> Result<Vec<T>, ForgeError> {
        let mut request = self.request(Method::GET, path);
        let mut items = Vec::new();
        let mut page = 1;
        for _ in 0..MAX_PAGES {
            let response = self.call(&request)?;
            let mut batch: Vec<T> = response.json(KIND, &request.call)?;
            items.append(&mut batch);
            match next_page(&response, &request.url, &self.base, page) {
                Some((next, url)) => {
                    page = next;
                    request.url = url;
                }
                None => return Ok(items),
            }
        }
        Err(ForgeError::Unexpected {
            forge: KIND,
            call: request.call,
            message: format!(
                "more than {MAX_PAGES} pages of {PER_PAGE}: the pagination does not end"
            ),
        })
    }

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

    /// One call under the retry policy; a non-2xx answer is an error ([`refine`]d).
    fn call(&self, request: &Request) -> Result<Response, ForgeError> {
        self.api.call(request).map_err(refine)
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

/// The token header, added to each request (never logged: the value is marked sensitive).
struct Credentials {
    header: HeaderName,
    token: SecretString,
}

/// ferry's [`Transport`] for GitLab: the crate's client interface over [`RedirectFree`].
struct GitLabTransport {
    client: RedirectFree,
    credentials: Credentials,
}

impl Transport for GitLabTransport {
    async fn send(&self, request: &Request) -> Result<Response, String> {
        let (builder, body) = http_request(request, &self.credentials)?;
        let answer = self
            .client
            .rest_async(builder, body)
            .await
            .map_err(|err| describe(&err))?;
        let status = answer.status().as_u16();
        let headers = answer.headers().clone();
        let mut body = answer.body().to_vec();
        if status / 100 == 3 {
            let to = headers
                .get(LOCATION)
                .map(|l| crate::ci::one_line(&String::from_utf8_lossy(l.as_bytes())))
                .unwrap_or_default();
            body = serde_json::to_vec(&json!({
                "message": format!(
                    "a redirect to `{to}`, which ferry does not follow (the token would go along); give --api-url the final address"
                )
            }))
            .unwrap_or_default();
        }
        Ok(Response {
            status,
            headers,
            body,
        })
    }
}

/// A client for the `gitlab` crate's [`gitlab::api::AsyncClient`] interface whose reqwest
/// client follows no redirect, so that the token headers never leave the API's host.
struct RedirectFree {
    http: reqwest::Client,
    /// `--api-url` with a trailing `/`: where the crate's endpoints are joined.
    base: url::Url,
}

/// A failure of [`RedirectFree`]: the request could not be built, or sending it failed.
#[derive(Debug, thiserror::Error)]
enum ClientError {
    #[error("cannot build the request: {0}")]
    Request(#[from] http::Error),
    #[error(transparent)]
    Send(#[from] reqwest::Error),
}

impl RedirectFree {
    fn new(api_url: &str) -> Result<RedirectFree, String> {
        let base = url::Url::parse(&format!("{}/", api_url.trim_end_matches('/')))
            .map_err(|err| err.to_string())?;
        let http = reqwest::Client::builder()
            .user_agent(USER_AGENT)
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .map_err(|err| describe(&err))?;
        Ok(RedirectFree { http, base })
    }
}

impl gitlab::api::RestClient for RedirectFree {
    type Error = ClientError;

    fn rest_endpoint(&self, endpoint: &str) -> Result<url::Url, ApiError<ClientError>> {
        Ok(self.base.join(endpoint)?)
    }
}

#[async_trait::async_trait]
impl gitlab::api::AsyncClient for RedirectFree {
    async fn rest_async(
        &self,
        request: http::request::Builder,
        body: Vec<u8>,
    ) -> Result<http::Response<bytes::Bytes>, ApiError<ClientError>> {
        let client = |err: ClientError| ApiError::client(err);
        let request = request.body(body).map_err(|e| client(e.into()))?;
        let request = reqwest::Request::try_from(request).map_err(|e| client(e.into()))?;
        let answer = self
            .http
            .execute(request)
            .await
            .map_err(|e| client(e.into()))?;
        let mut response = http::Response::builder()
            .status(answer.status())
            .version(answer.version());
        if let Some(headers) = response.headers_mut() {
            headers.extend(answer.headers().iter().map(|(k, v)| (k.clone(), v.clone())));
        }
        let body = answer.bytes().await.map_err(|e| client(e.into()))?;
        response.body(body).map_err(|e| client(e.into()))
    }
}

/// The `http` request for `request`. Everything is validated here: the crate unwraps the
/// builder's headers, which would panic on a builder holding an error.
fn http_request(
    request: &Request,
    credentials: &Credentials,
) -> Result<(http::request::Builder, Vec<u8>), String> {
    let uri: http::Uri = request
        .url
        .parse()
        .map_err(|err| format!("cannot send to an invalid URL: {err}"))?;
    let mut token = HeaderValue::from_str(credentials.token.expose_secret())
        .map_err(|_| "the token cannot be sent in an HTTP header".to_owned())?;
    token.set_sensitive(true);
    let mut builder = http::Request::builder()
        .method(request.method.clone())
        .uri(uri)
        .header(ACCEPT, HeaderValue::from_static("application/json"))
        .header(credentials.header.clone(), token);
    let body = match &request.body {
        Some(json) => {
            builder = builder.header(CONTENT_TYPE, HeaderValue::from_static("application/json"));
            serde_json::to_vec(json).map_err(|err| format!("cannot encode the request: {err}"))?
        }
        None => Vec::new(),
    };
    Ok((builder, body))
}

/// A transport failure with its causes ("connection refused", "dns error"), each once.
fn describe(err: &(dyn std::error::Error + 'static)) -> String {
    let mut message = err.to_string();
    let mut source = err.source();
    while let Some(cause) = source {
        let text = cause.to_string();
        if !message.contains(&text) {
            message.push_str(": ");
            message.push_str(&text);
        }
        source = cause.source();
    }
    message
}

/// The token header for `auth`, and whether it is a job token (checked with `GET /job`).
fn credentials(auth: ForgeAuth) -> Result<(Credentials, bool), ForgeError> {
    let (header, token, job) = match auth {
        ForgeAuth::Token(token) => (HeaderName::from_static("private-token"), token, false),
        ForgeAuth::JobToken(token) => (HeaderName::from_static("job-token"), token, true),
        ForgeAuth::GitHubApp { .. } => {
            return Err(ForgeError::Usage(
                "a GitHub App authenticates to GitHub only: GitLab takes a project or group access token with the `api` scope (FERRY_TOKEN)".to_owned(),
            ));
        }
        ForgeAuth::None => {
            return Err(ForgeError::Usage(
                "GitLab's API needs a token: set FERRY_TOKEN (or GITLAB_TOKEN) to a project or group access token with the `api` scope".to_owned(),
            ));
        }
    };
    // A token read from a file often ends in a newline, which no header may carry.
    let token = SecretString::from(token.expose_secret().trim().to_owned());
    if token.expose_secret().is_empty() || HeaderValue::from_str(token.expose_secret()).is_err() {
        return Err(ForgeError::Usage(
            "the GitLab token is empty or holds characters an HTTP header cannot carry: check FERRY_TOKEN".to_owned(),
        ));
    }
    Ok((Credentials { header, token }, job))
}

/// The crate's `host[/prefix]` and whether to use plain http, from an API URL that must end
/// in `/api/v4` (the crate appends it itself).
fn client_host(api_url: &str) -> Result<(String, bool), ForgeError> {
    let usage = || {
        ForgeError::Usage(format!(
            "--api-url `{api_url}` is not a GitLab REST API URL: it must be https://HOST/api/v4, or https://HOST/PREFIX/api/v4 for a GitLab served under a path"
        ))
    };
    let server = ServerUrl::parse(api_url).ok_or_else(usage)?;
    let url = server.as_url();
    if url.query().is_some() || url.fragment().is_some() || server.has_credentials() {
        return Err(usage());
    }
    let prefix = url
        .path()
        .trim_end_matches('/')
        .strip_suffix("/api/v4")
        .ok_or_else(usage)?;
    Ok((
        format!("{}{prefix}", server.authority()),
        url.scheme() == "http",
    ))
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

/// The next page's number and URL after `page`: GitLab's `x-next-page` (empty on the last
/// page), else a `Link: <...>; rel="next"` below the API base (a link elsewhere would take
/// the token with it, so it is not followed).
fn next_page(response: &Response, url: &str, base: &str, page: u32) -> Option<(u32, String)> {
    let header = |name: &str| response.headers.get(name).and_then(|v| v.to_str().ok());
    if let Some(next) = header("x-next-page") {
        let next = next.trim();
        if next.is_empty() {
            return None;
        }
        let number = next.parse::<u32>().ok().filter(|n| *n > page)?;
        return Some((number, with_page(url, number)));
    }
    // Scanned rather than split on commas: a URL's query may hold some (`labels=a,b`).
    let mut rest = header("link")?;
    while let Some(start) = rest.find('<') {
        let after = &rest[start + 1..];
        let end = after.find('>')?;
        let target = &after[..end];
        let tail = &after[end + 1..];
        let params_end = tail.find('<').unwrap_or(tail.len());
        let is_next = tail[..params_end]
            .split([';', ','])
            .any(|p| matches!(p.trim(), "rel=\"next\"" | "rel=next"));
        if is_next {
            return target
                .starts_with(&format!("{base}/"))
                .then(|| (page + 1, target.to_owned()));
        }
        rest = &tail[params_end..];
    }
    None
}

/// `url` with its `page` parameter set to `page`.
fn with_page(url: &str, page: u32) -> String {
    let (path, query) = url.split_once('?').unwrap_or((url, ""));
    let mut params: Vec<&str> = query
        .split('&')
        .filter(|p| !p.is_empty() && !p.starts_with("page="))
        .collect();
    let page = format!("page={page}");
    params.push(&page);
    format!("{path}?{}", params.join("&"))
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

fn cr_state(state: &str) -> CrState {
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

fn change_request(mr: &MrJson) -> ChangeRequest {
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

fn non_empty(sha: Option<&String>) -> Option<String> {
    sha.filter(|s| !s.is_empty()).cloned()
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

/// A pipeline status as a check state.
fn pipeline_state(status: &str) -> CheckState {
    match status {
        "success" => CheckState::Success,
        "failed" | "canceled" | "canceling" => CheckState::Failure,
        "skipped" | "manual" => CheckState::Neutral,
        _ => CheckState::Pending,
    }
}

/// The detailed merge status, or (GitLab before 15.6) one derived from `merge_status`.
fn detailed_status(mr: &MrJson) -> &str {
    if let Some(status) = mr
        .detailed_merge_status
        .as_deref()
        .filter(|s| !s.is_empty())
    {
        return status;
    }
    match mr.merge_status.as_deref() {
        Some("cannot_be_merged") => "conflict",
        Some("unchecked" | "checking" | "cannot_be_merged_recheck") => "checking",
        _ => "mergeable",
    }
}

/// What a `detailed_merge_status` value means for ferry. The values are those of
/// <https://docs.gitlab.com/api/merge_requests/#merge-status> (and the older names
/// `blocked_status` and `external_status_checks`).
#[derive(Debug, Clone, PartialEq, Eq)]
enum StatusMeaning {
    /// Nothing blocks the merge.
    Mergeable,
    /// GitLab is still working it out: ask again shortly.
    Computing,
    Conflict,
    Draft,
    NotApproved,
    ChangesRequested,
    /// The project merges by fast-forward (or semi-linear history) and the source branch is
    /// behind the target.
    NeedRebase,
    /// A pipeline must succeed (`ci_must_pass`) or is still running (`ci_still_running`).
    Pipeline,
    NotOpen,
    /// Anything else that blocks, said in words.
    Blocked(String),
}

/// Why the source branch must be rebased, and what to do about it.
const NEED_REBASE: &str = "the source branch is behind the target branch and the project merges only branches rebased onto it (fast-forward or semi-linear merges): `ferry merge` recomputes a ferry merge request on the target's tip; rebase any other (GitLab's Rebase button)";

fn status_meaning(status: &str, mr: &MrJson) -> StatusMeaning {
    let blocked = |text: &str| StatusMeaning::Blocked(text.to_owned());
    match status {
        "mergeable" => StatusMeaning::Mergeable,
        "checking" | "unchecked" | "preparing" | "approvals_syncing" => StatusMeaning::Computing,
        "conflict" => StatusMeaning::Conflict,
        "draft_status" => StatusMeaning::Draft,
        "not_approved" => StatusMeaning::NotApproved,
        "requested_changes" => StatusMeaning::ChangesRequested,
        "need_rebase" => StatusMeaning::NeedRebase,
        "ci_must_pass" | "ci_still_running" => StatusMeaning::Pipeline,
        "not_open" => StatusMeaning::NotOpen,
        "discussions_not_resolved" => {
            blocked("unresolved discussions: the project requires every thread to be resolved")
        }
        "commits_status" => blocked(
            "the source branch is gone or has no commits on top of the target branch (GitLab's `commits_status`)",
        ),
        "merge_request_blocked" | "blocked_status" => {
            blocked("blocked by another merge request, which must merge first")
        }
        "merge_time" => StatusMeaning::Blocked(match mr.merge_after.as_deref() {
            Some(after) if !after.is_empty() => {
                format!("scheduled: the merge request may not merge before {after}")
            }
            _ => "scheduled: the merge request may not merge before the time set on it".to_owned(),
        }),
        "jira_association_missing" => {
            blocked("the title or description must name a Jira issue (a project setting)")
        }
        "status_checks_must_pass" | "external_status_checks" => {
            blocked("external status checks must pass")
        }
        "security_policy_violations" => blocked(
            "the project's security policies are not satisfied (merge request approval policies)",
        ),
        "locked_paths" => blocked(
            "paths this merge request changes are locked by another user: they must be unlocked",
        ),
        "locked_lfs_files" => blocked(
            "LFS files this merge request changes are locked by another user: they must be unlocked",
        ),
        "title_regex" => blocked("the title does not match the pattern the project requires"),
        other => StatusMeaning::Blocked(format!(
            "GitLab reports `{other}`: open the merge request to see which merge check fails"
        )),
    }
}

/// Readiness from the merge request and its approvals (`Err` when they could not be read:
/// why). GitLab's `detailed_merge_status` is authoritative; the approvals only say how many.
///
/// Both answers of `GET .../approvals` fit: GitLab Free without approval rules (the FOSS
/// entity: `approved` is whether anyone approved, no `approvals_required`/`approvals_left`) and
/// Premium/Ultimate (or GitLab.com, whose Free projects run the same code): `approvals_left` 0
/// when nothing is required.
fn readiness_of(mr: &MrJson, approvals: Result<&ApprovalsJson, &str>) -> Readiness {
    let status = detailed_status(mr);
    let state = cr_state(&mr.state);
    let count = |n: i64| u32::try_from(n.max(0)).unwrap_or(u32::MAX);
    let approvals_state = match approvals {
        Ok(approvals) => {
            let left = approvals.approvals_left.map(count);
            Approvals {
                given: u32::try_from(approvals.approved_by.len()).unwrap_or(u32::MAX),
                required: approvals.approvals_required.map(count),
                // Without approval rules (GitLab Free) there is no `approvals_left`: nothing
                // is required, and `approved` only says whether someone approved.
                // `not_approved` below overrides either way.
                satisfied: left.unwrap_or(0) == 0 || approvals.approved.unwrap_or(false),
                changes_requested: false,
            }
        }
        // Unknown: GitLab's status alone says whether approvals are missing (below).
        Err(_) => Approvals {
            given: 0,
            required: None,
            satisfied: true,
            changes_requested: false,
        },
    };
    let mut readiness = Readiness {
        number: mr.iid,
        url: mr.web_url.clone(),
        state,
        head_branch: mr.source_branch.clone(),
        head_sha: mr.sha.clone(),
        approvals: approvals_state,
        checks: Vec::new(),
        conflicts: mr.has_conflicts,
        behind: false,
        computing: false,
        draft: mr.draft || mr.work_in_progress,
        other_blockers: Vec::new(),
        unchecked: Vec::new(),
    };
    let pipeline_required = matches!(status, "ci_must_pass" | "ci_still_running");
    if let Some(pipeline) = &mr.head_pipeline {
        readiness.checks.push(Check {
            name: "pipeline".to_owned(),
            state: pipeline_state(&pipeline.status),
            required: pipeline_required,
            url: pipeline.web_url.clone(),
        });
    }
    match status_meaning(status, mr) {
        StatusMeaning::Mergeable => {}
        StatusMeaning::Computing => readiness.computing = true,
        StatusMeaning::Conflict => readiness.conflicts = true,
        StatusMeaning::Draft => readiness.draft = true,
        StatusMeaning::NotApproved => match approvals {
            Ok(_) => readiness.approvals.satisfied = false,
            Err(why) => readiness.other_blockers.push(format!(
                "approvals: GitLab requires more (`not_approved`), and who approved could not be read ({why})"
            )),
        },
        StatusMeaning::ChangesRequested => {
            // GitLab blocks until that reviewer approves.
            readiness.approvals.changes_requested = true;
        }
        StatusMeaning::NeedRebase => {
            readiness.behind = true;
            readiness.other_blockers.push(NEED_REBASE.to_owned());
        }
        StatusMeaning::Pipeline => {
            let blocked = readiness.checks.iter().any(|c| {
                c.required && matches!(c.state, CheckState::Pending | CheckState::Failure)
            });
            if !blocked {
                if mr.head_pipeline.is_none() && status == "ci_still_running" {
                    readiness.checks.push(Check {
                        name: "pipeline".to_owned(),
                        state: CheckState::Pending,
                        required: true,
                        url: None,
                    });
                } else if mr.head_pipeline.is_none() {
                    readiness
                        .other_blockers
                        .push("a pipeline must succeed, and the head commit has none".to_owned());
                } else {
                    // The head pipeline passed or was skipped, yet GitLab still wants one to
                    // succeed (skipped pipelines may not count): GitLab decides.
                    readiness.other_blockers.push(format!(
                        "GitLab requires a successful pipeline (`{status}`)"
                    ));
                }
            }
        }
        StatusMeaning::NotOpen => {
            if state == CrState::Open {
                readiness
                    .other_blockers
                    .push("GitLab reports `not_open`".to_owned());
            }
        }
        StatusMeaning::Blocked(why) => readiness.other_blockers.push(why),
    }
    readiness
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
struct MrJson {
    iid: u64,
    #[serde(default, deserialize_with = "nullable")]
    web_url: String,
    #[serde(default, deserialize_with = "nullable")]
    title: String,
    #[serde(default, deserialize_with = "nullable")]
    description: String,
    #[serde(default, deserialize_with = "nullable")]
    source_branch: String,
    #[serde(default, deserialize_with = "nullable")]
    target_branch: String,
    #[serde(default, deserialize_with = "nullable")]
    sha: String,
    #[serde(default, deserialize_with = "nullable")]
    state: String,
    #[serde(default, deserialize_with = "nullable")]
    labels: Vec<LabelJson>,
    #[serde(default, deserialize_with = "nullable")]
    draft: bool,
    #[serde(default, deserialize_with = "nullable")]
    work_in_progress: bool,
    #[serde(default, deserialize_with = "nullable")]
    has_conflicts: bool,
    #[serde(default)]
    detailed_merge_status: Option<String>,
    #[serde(default)]
    merge_status: Option<String>,
    #[serde(default)]
    head_pipeline: Option<PipelineJson>,
    #[serde(default)]
    author: Option<UserJson>,
    #[serde(default, deserialize_with = "nullable")]
    assignees: Vec<UserJson>,
    #[serde(default, deserialize_with = "nullable")]
    reviewers: Vec<UserJson>,
    #[serde(default)]
    merge_commit_sha: Option<String>,
    #[serde(default)]
    squash_commit_sha: Option<String>,
    #[serde(default)]
    merged_commit_sha: Option<String>,
    #[serde(default, deserialize_with = "nullable")]
    merge_when_pipeline_succeeds: bool,
    #[serde(default, deserialize_with = "nullable")]
    auto_merge_enabled: bool,
    #[serde(default)]
    merge_error: Option<String>,
    /// GitLab 17.5+: the earliest time the merge request may merge (`merge_time`).
    #[serde(default)]
    merge_after: Option<String>,
}

/// A label: a name, or an object with `with_labels_details=true`.
#[derive(Debug, Clone, Deserialize)]
#[serde(untagged)]
enum LabelJson {
    Name(String),
    Detailed { name: String },
}

impl LabelJson {
    fn name(&self) -> &str {
        match self {
            LabelJson::Name(name) | LabelJson::Detailed { name } => name,
        }
    }
}

#[derive(Debug, Clone, Deserialize)]
struct PipelineJson {
    #[serde(default, deserialize_with = "nullable")]
    status: String,
    #[serde(default)]
    web_url: Option<String>,
}

#[derive(Debug, Clone, Deserialize)]
struct UserJson {
    id: u64,
    #[serde(default, deserialize_with = "nullable")]
    username: String,
}

/// `GET /job`'s answer: the job's user.
#[derive(Debug, Deserialize)]
struct JobJson {
    #[serde(default)]
    user: Option<UserJson>,
}

#[derive(Debug, Clone, Deserialize)]
struct NoteJson {
    id: u64,
    #[serde(default, deserialize_with = "nullable")]
    body: String,
    #[serde(default)]
    author: Option<UserJson>,
    #[serde(default, deserialize_with = "nullable")]
    system: bool,
}

impl NoteJson {
    fn into_comment(self) -> Comment {
        Comment {
            id: self.id,
            body: self.body,
        }
    }
}

#[derive(Debug, Deserialize)]
struct ApprovalsJson {
    #[serde(default)]
    approved: Option<bool>,
    #[serde(default)]
    approvals_required: Option<i64>,
    #[serde(default)]
    approvals_left: Option<i64>,
    /// Counted, not read: who approved does not matter to ferry.
    #[serde(default, deserialize_with = "nullable")]
    approved_by: Vec<serde::de::IgnoredAny>,
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::forge::ApiOptions;

    fn mr(json: Value) -> MrJson {
        serde_json::from_value(json).expect("merge request")
    }

    fn approvals(json: Value) -> ApprovalsJson {
        serde_json::from_value(json).expect("approvals")
    }

    fn open_mr(status: &str) -> Value {
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

    fn all_approved() -> ApprovalsJson {
        approvals(json!({
            "approved": true, "approvals_required": 1, "approvals_left": 0,
            "approved_by": [{ "user": { "id": 9, "username": "alice" } }],
        }))
    }

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

    #[test]
    fn a_mergeable_merge_request_is_ready() {
        let mut json = open_mr("mergeable");
        json["head_pipeline"] = json!({
            "id": 5, "sha": "a".repeat(40), "status": "success",
            "web_url": "https://gitlab.example.com/g/env/-/pipelines/5",
        });
        let readiness = readiness_of(&mr(json), Ok(&all_approved()));
        assert!(readiness.is_ready(), "{readiness:?}");
        assert_eq!(readiness.approvals.given, 1);
        assert_eq!(readiness.approvals.required, Some(1));
        assert_eq!(
            readiness.checks,
            [Check {
                name: "pipeline".to_owned(),
                state: CheckState::Success,
                required: false,
                url: Some("https://gitlab.example.com/g/env/-/pipelines/5".to_owned()),
            }]
        );

        // GitLab Free: no approval rules, no `approvals_left`, nobody approved.
        let free = approvals(json!({ "approved": false, "approved_by": [] }));
        assert!(readiness_of(&mr(open_mr("mergeable")), Ok(&free)).is_ready());
    }

    #[test]
    fn missing_approvals_are_reported() {
        let waiting = approvals(json!({
            "approved": false, "approvals_required": 2, "approvals_left": 1,
            "approved_by": [{ "user": { "id": 9, "username": "alice" } }],
        }));
        let readiness = readiness_of(&mr(open_mr("not_approved")), Ok(&waiting));
        assert!(!readiness.is_ready());
        assert_eq!(readiness.missing(KIND.words()), ["approvals 1 of 2"]);

        // GitLab's status wins over counts that look satisfied.
        let readiness = readiness_of(&mr(open_mr("not_approved")), Ok(&all_approved()));
        assert!(!readiness.approvals.satisfied);

        let readiness = readiness_of(&mr(open_mr("requested_changes")), Ok(&all_approved()));
        assert!(readiness.approvals.changes_requested && !readiness.is_ready());
    }

    #[test]
    fn a_running_pipeline_is_a_pending_required_check() {
        let mut json = open_mr("ci_still_running");
        json["head_pipeline"] = json!({ "id": 5, "status": "running", "web_url": null });
        let readiness = readiness_of(&mr(json), Ok(&all_approved()));
        assert!(!readiness.is_ready());
        assert_eq!(
            readiness.missing(KIND.words()),
            ["required check `pipeline` is pending"]
        );

        // A failed pipeline the project requires.
        let mut json = open_mr("ci_must_pass");
        json["head_pipeline"] = json!({ "id": 5, "status": "failed" });
        let readiness = readiness_of(&mr(json), Ok(&all_approved()));
        assert_eq!(readiness.checks[0].state, CheckState::Failure);
        assert!(readiness.checks[0].required && !readiness.is_ready());

        // Required, but there is no pipeline at all.
        let readiness = readiness_of(&mr(open_mr("ci_must_pass")), Ok(&all_approved()));
        assert!(!readiness.is_ready());
        assert_eq!(
            readiness.other_blockers,
            ["a pipeline must succeed, and the head commit has none"]
        );

        // Skipped, and GitLab does not count skipped pipelines as successful.
        let mut json = open_mr("ci_must_pass");
        json["head_pipeline"] = json!({ "id": 5, "status": "skipped" });
        let readiness = readiness_of(&mr(json), Ok(&all_approved()));
        assert_eq!(readiness.checks[0].state, CheckState::Neutral);
        assert!(!readiness.is_ready());

        for (status, state) in [
            ("success", CheckState::Success),
            ("failed", CheckState::Failure),
            ("canceled", CheckState::Failure),
            ("skipped", CheckState::Neutral),
            ("manual", CheckState::Neutral),
            ("created", CheckState::Pending),
            ("waiting_for_resource", CheckState::Pending),
            ("pending", CheckState::Pending),
        ] {
            assert_eq!(pipeline_state(status), state, "{status}");
        }
    }

    #[test]
    fn conflicts_computing_and_drafts_block_the_merge() {
        let readiness = readiness_of(&mr(open_mr("conflict")), Ok(&all_approved()));
        assert!(readiness.conflicts && !readiness.is_ready());

        let mut json = open_mr("mergeable");
        json["has_conflicts"] = json!(true);
        assert!(readiness_of(&mr(json), Ok(&all_approved())).conflicts);

        for status in ["checking", "unchecked", "preparing", "approvals_syncing"] {
            let readiness = readiness_of(&mr(open_mr(status)), Ok(&all_approved()));
            assert!(readiness.computing && !readiness.is_ready(), "{status}");
        }

        let readiness = readiness_of(&mr(open_mr("draft_status")), Ok(&all_approved()));
        assert!(readiness.draft && !readiness.is_ready());
        let mut json = open_mr("mergeable");
        json["draft"] = json!(true);
        assert!(readiness_of(&mr(json), Ok(&all_approved())).draft);

        // Before GitLab 15.6 there is only `merge_status`.
        let mut json = open_mr("mergeable");
        json["detailed_merge_status"] = Value::Null;
        json["merge_status"] = json!("cannot_be_merged");
        assert!(readiness_of(&mr(json), Ok(&all_approved())).conflicts);
    }

    #[test]
    fn other_statuses_are_named_as_blockers() {
        // A merged merge request is not open; that is enough said.
        let mut json = open_mr("not_open");
        json["state"] = json!("merged");
        let readiness = readiness_of(&mr(json), Ok(&all_approved()));
        assert!(readiness.other_blockers.is_empty() && readiness.state == CrState::Merged);
        // A value GitLab adds later still blocks, and says where to look.
        let readiness = readiness_of(&mr(open_mr("some_new_check")), Ok(&all_approved()));
        assert_eq!(
            readiness.missing(KIND.words()),
            [
                "GitLab reports `some_new_check`: open the merge request to see which merge check fails"
            ]
        );
        assert!(!readiness.is_ready());
    }

    /// Every `detailed_merge_status` of <https://docs.gitlab.com/api/merge_requests/#merge-status>
    /// (and the older names `blocked_status`, `external_status_checks`): what ferry says is
    /// missing, in words, or that GitLab is still computing (ask again).
    #[test]
    fn every_documented_merge_status_says_what_is_missing() {
        const COMPUTING: &str = "GitLab is still computing mergeability";
        let table: &[(&str, &[&str])] = &[
            ("mergeable", &[]),
            ("checking", &[COMPUTING]),
            ("unchecked", &[COMPUTING]),
            ("preparing", &[COMPUTING]),
            ("approvals_syncing", &[COMPUTING]),
            ("conflict", &["conflicts with the target branch"]),
            ("draft_status", &["the merge request is a draft"]),
            ("not_approved", &["approvals 0 of 1"]),
            ("requested_changes", &["a reviewer requested changes"]),
            ("need_rebase", &[NEED_REBASE]),
            (
                "ci_must_pass",
                &["a pipeline must succeed, and the head commit has none"],
            ),
            (
                "ci_still_running",
                &["required check `pipeline` is pending"],
            ),
            ("not_open", &["GitLab reports `not_open`"]),
            (
                "discussions_not_resolved",
                &["unresolved discussions: the project requires every thread to be resolved"],
            ),
            (
                "commits_status",
                &[
                    "the source branch is gone or has no commits on top of the target branch (GitLab's `commits_status`)",
                ],
            ),
            (
                "merge_request_blocked",
                &["blocked by another merge request, which must merge first"],
            ),
            (
                "blocked_status",
                &["blocked by another merge request, which must merge first"],
            ),
            (
                "merge_time",
                &["scheduled: the merge request may not merge before the time set on it"],
            ),
            (
                "jira_association_missing",
                &["the title or description must name a Jira issue (a project setting)"],
            ),
            (
                "status_checks_must_pass",
                &["external status checks must pass"],
            ),
            (
                "external_status_checks",
                &["external status checks must pass"],
            ),
            (
                "security_policy_violations",
                &[
                    "the project's security policies are not satisfied (merge request approval policies)",
                ],
            ),
            (
                "locked_paths",
                &[
                    "paths this merge request changes are locked by another user: they must be unlocked",
                ],
            ),
            (
                "locked_lfs_files",
                &[
                    "LFS files this merge request changes are locked by another user: they must be unlocked",
                ],
            ),
            (
                "title_regex",
                &["the title does not match the pattern the project requires"],
            ),
        ];
        let waiting = approvals(json!({
            "approved": false, "approvals_required": 1, "approvals_left": 1, "approved_by": [],
        }));
        for (status, missing) in table {
            // `not_approved` comes with counts that say so; every other status with none left.
            let counts = if *status == "not_approved" {
                &waiting
            } else {
                &all_approved()
            };
            let readiness = readiness_of(&mr(open_mr(status)), Ok(counts));
            assert_eq!(readiness.missing(KIND.words()), *missing, "{status}");
            assert_eq!(readiness.is_ready(), missing.is_empty(), "{status}");
            let computing = missing.first() == Some(&COMPUTING);
            assert_eq!(readiness.computing, computing, "{status}");
        }
        // `need_rebase` is the branch being behind: `ferry merge` recomputes ferry's own.
        let readiness = readiness_of(&mr(open_mr("need_rebase")), Ok(&all_approved()));
        assert!(readiness.behind);
        assert!(
            NEED_REBASE.contains("`ferry merge` recomputes"),
            "{NEED_REBASE}"
        );
        assert!(NEED_REBASE.contains("Rebase"), "{NEED_REBASE}");
        // `merge_time` names the time when GitLab gives it.
        let mut json = open_mr("merge_time");
        json["merge_after"] = json!("2026-12-01T08:00:00.000Z");
        assert_eq!(
            readiness_of(&mr(json), Ok(&all_approved())).other_blockers,
            ["scheduled: the merge request may not merge before 2026-12-01T08:00:00.000Z"]
        );
    }

    #[test]
    fn approvals_read_on_every_tier() {
        // GitLab Free (the FOSS entity): no rules, so no counts; `approved` is whether anyone
        // approved. Nobody did, and nothing is required.
        let free_none = approvals(json!({
            "user_has_approved": false, "user_can_approve": true,
            "approved": false, "approved_by": [],
        }));
        let readiness = readiness_of(&mr(open_mr("mergeable")), Ok(&free_none));
        assert!(readiness.is_ready(), "{readiness:?}");
        assert_eq!(
            readiness.approvals,
            Approvals {
                given: 0,
                required: None,
                satisfied: true,
                changes_requested: false
            }
        );
        // Free, someone approved.
        let free_one = approvals(json!({
            "user_has_approved": false, "user_can_approve": true, "approved": true,
            "approved_by": [{ "user": { "id": 9, "username": "alice" }, "approved_at": "2026-01-01T00:00:00Z" }],
        }));
        let readiness = readiness_of(&mr(open_mr("mergeable")), Ok(&free_one));
        assert_eq!((readiness.approvals.given, readiness.is_ready()), (1, true));

        // GitLab.com Free or Premium without rules (the EE entity): zero required, zero left.
        let ee_none = approvals(json!({
            "id": 1, "iid": 7, "project_id": 3, "title": "t", "state": "opened",
            "merge_status": "can_be_merged", "approved": true, "approvals_required": 0,
            "approvals_left": 0, "require_password_to_approve": false, "approved_by": [],
            "suggested_approvers": [], "approvers": [], "approver_groups": [],
            "user_has_approved": false, "user_can_approve": true, "approval_rules_left": [],
            "has_approval_rules": false, "merge_request_approvers_available": false,
            "multiple_approval_rules_available": false, "invalid_approvers_rules": [],
        }));
        let readiness = readiness_of(&mr(open_mr("mergeable")), Ok(&ee_none));
        assert!(readiness.is_ready());
        assert_eq!(readiness.approvals.required, Some(0));

        // Premium with a rule of two, one given: GitLab says `not_approved`.
        let premium = approvals(json!({
            "approved": false, "approvals_required": 2, "approvals_left": 1,
            "approved_by": [{ "user": { "id": 9, "username": "alice" } }],
            "approval_rules_left": [{ "id": 1, "name": "Maintainers", "rule_type": "regular" }],
        }));
        let readiness = readiness_of(&mr(open_mr("not_approved")), Ok(&premium));
        assert_eq!(readiness.missing(KIND.words()), ["approvals 1 of 2"]);

        // Null where a list or count is expected.
        let nulls =
            approvals(json!({ "approved": null, "approvals_left": null, "approved_by": null }));
        assert!(readiness_of(&mr(open_mr("mergeable")), Ok(&nulls)).is_ready());
    }

    #[test]
    fn unreadable_approvals_leave_the_merge_status_in_charge() {
        let why = "`GET /projects/g%2Fenv/merge_requests/7/approvals` answered 403: 403 Forbidden";
        // Mergeable: nothing is missing, the approvals simply are not counted.
        let readiness = readiness_of(&mr(open_mr("mergeable")), Err(why));
        assert!(readiness.is_ready(), "{readiness:?}");
        assert_eq!(readiness.approvals.required, None);
        // Not approved: said so, with why the counts are unknown, and not ready.
        let readiness = readiness_of(&mr(open_mr("not_approved")), Err(why));
        assert!(!readiness.is_ready());
        assert_eq!(
            readiness.missing(KIND.words()),
            [format!(
                "approvals: GitLab requires more (`not_approved`), and who approved could not be read ({why})"
            )]
        );
        // Everything else still reads from the status.
        let readiness = readiness_of(&mr(open_mr("ci_still_running")), Err(why));
        assert_eq!(
            readiness.missing(KIND.words()),
            ["required check `pipeline` is pending"]
        );
    }

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
    fn api_urls_give_the_clients_host_and_prefix() {
        let ok = |url: &str| client_host(url).expect(url);
        assert_eq!(
            ok("https://gitlab.com/api/v4"),
            ("gitlab.com".to_owned(), false)
        );
        assert_eq!(
            ok("https://example.com/gitlab/api/v4/"),
            ("example.com/gitlab".to_owned(), false)
        );
        assert_eq!(
            ok("http://127.0.0.1:8080/api/v4"),
            ("127.0.0.1:8080".to_owned(), true)
        );
        for bad in [
            "https://gitlab.com",
            "https://gitlab.com/api/v3",
            "https://gitlab.com/api/v4?private_token=x",
            "https:///api/v4",
            "ftp://gitlab.com/api/v4",
        ] {
            let err = client_host(bad).expect_err(bad);
            assert!(
                matches!(&err, ForgeError::Usage(m) if m.contains("/api/v4")),
                "{bad}: {err}"
            );
        }
    }

    #[test]
    fn connecting_checks_the_url_and_token_before_any_call() {
        let settings = |api_url: &str, auth| ForgeSettings {
            kind: KIND,
            api_url: api_url.to_owned(),
            graphql_url: None,
            project: "g/env".to_owned(),
            auth,
            options: ApiOptions::default(),
        };
        let secret = || SecretString::from("glpat-s3cr3t".to_owned());
        let Err(err) = GitLab::connect(settings("https://gitlab.com", ForgeAuth::Token(secret())))
        else {
            panic!("connected without /api/v4");
        };
        assert!(!err.to_string().contains("s3cr3t"), "{err}");
        let Err(err) = GitLab::connect(settings("https://gitlab.com/api/v4", ForgeAuth::None))
        else {
            panic!("connected without a token");
        };
        assert!(err.to_string().contains("FERRY_TOKEN"), "{err}");
        let bad = ForgeAuth::Token(SecretString::from("bad\u{7f}token".to_owned()));
        let Err(err) = GitLab::connect(settings("https://gitlab.com/api/v4", bad)) else {
            panic!("connected with an unsendable token");
        };
        assert!(!err.to_string().contains("bad"), "{err}");
    }

    #[test]
    fn requests_carry_a_sensitive_token_and_json() {
        let credentials = Credentials {
            header: HeaderName::from_static("private-token"),
            token: SecretString::from("glpat-s3cr3t".to_owned()),
        };
        let request = Request::new(
            Method::POST,
            "https://gitlab.example.com/api/v4",
            "/projects/g%2Fenv/merge_requests",
        )
        .json(json!({ "title": "t" }));
        let (builder, body) = http_request(&request, &credentials).expect("request");
        let headers = builder.headers_ref().expect("headers");
        let token = headers.get("private-token").expect("token header");
        assert!(token.is_sensitive());
        assert!(!format!("{headers:?}").contains("s3cr3t"));
        assert_eq!(
            headers.get(CONTENT_TYPE).map(HeaderValue::as_bytes),
            Some(&b"application/json"[..])
        );
        assert_eq!(
            builder.uri_ref().map(ToString::to_string).as_deref(),
            Some("https://gitlab.example.com/api/v4/projects/g%2Fenv/merge_requests")
        );
        assert_eq!(body, br#"{"title":"t"}"#);
        assert_eq!(request.call, "POST /projects/g%2Fenv/merge_requests");
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
    fn pagination_follows_gitlab_headers() {
        let response = |headers: &[(&'static str, &str)]| {
            let mut map = http::HeaderMap::new();
            for (name, value) in headers {
                map.insert(*name, value.parse().expect("header"));
            }
            Response {
                status: 200,
                headers: map,
                body: Vec::new(),
            }
        };
        let base = "https://gl.example.com/api/v4";
        let url = format!("{base}/projects/g%2Fenv/merge_requests?state=all&per_page=100");
        assert_eq!(
            next_page(&response(&[("x-next-page", "2")]), &url, base, 1),
            Some((2, format!("{url}&page=2")))
        );
        let second = format!("{url}&page=2");
        assert_eq!(
            next_page(&response(&[("x-next-page", "3")]), &second, base, 2),
            Some((3, format!("{url}&page=3")))
        );
        assert_eq!(
            next_page(&response(&[("x-next-page", "")]), &url, base, 1),
            None
        );
        // A page that does not advance would loop.
        assert_eq!(
            next_page(&response(&[("x-next-page", "1")]), &url, base, 1),
            None
        );
        let link = format!(
            "<{base}/x?labels=a,b&page=1>; rel=\"prev\", <{base}/x?labels=a,b&page=2>; rel=\"next\", <{base}/x?page=9>; rel=\"last\""
        );
        assert_eq!(
            next_page(&response(&[("link", &link)]), &url, base, 1),
            Some((2, format!("{base}/x?labels=a,b&page=2")))
        );
        // A link off the API would take the token elsewhere.
        let elsewhere = "<https://evil.example.com/api/v4/x?page=2>; rel=\"next\"";
        assert_eq!(
            next_page(&response(&[("link", elsewhere)]), &url, base, 1),
            None
        );
        assert_eq!(next_page(&response(&[]), &url, base, 1), None);
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
