//! The GitHub side: REST v3 under `/api/v3` and the auto-merge GraphQL mutation at
//! `/api/graphql`, as the official reference describes them (docs.github.com/en/rest).

use rsa::pkcs1v15::{Signature, VerifyingKey};
use rsa::sha2::Sha256;
use rsa::signature::Verifier as _;
use serde_json::{Map, Value, json};

use super::state::{
    AutoMerge, CommentRec, Cr, Forge, MergeError, MergeStyle, Review, State, StatusRec, TokenKind,
    github_merge_refusal, github_mergeability,
};
use super::{Access, Api, CrState, Principal, Req, Resp, paginate, util};

const DOCS: &str = "https://docs.github.com/rest";

fn error(status: u16, message: &str) -> Resp {
    Resp::json(
        status,
        &json!({"message": message, "documentation_url": DOCS, "status": status.to_string()}),
    )
}

fn not_found() -> Resp {
    error(404, "Not Found")
}

fn validation_failed(errors: &Value) -> Resp {
    Resp::json(
        422,
        &json!({
            "message": "Validation Failed",
            "errors": errors,
            "documentation_url": DOCS,
            "status": "422"
        }),
    )
}

fn unprocessable(errors: &[&str]) -> Resp {
    Resp::json(
        422,
        &json!({
            "message": "Unprocessable Entity",
            "errors": errors,
            "documentation_url": DOCS,
            "status": "422"
        }),
    )
}

/// The API versions GitHub accepts in `X-GitHub-Api-Version`.
const SUPPORTED_VERSIONS: [&str; 2] = ["2022-11-28", "2026-03-10"];

fn is_installation(p: &Principal) -> bool {
    matches!(
        p,
        Principal::Token {
            kind: TokenKind::Installation { .. },
            ..
        }
    )
}

/// Whether `p` is a fine-grained token without `permission` ("checks", "statuses").
fn fine_grained_lacks(p: &Principal, permission: &str) -> bool {
    match p {
        Principal::Token {
            kind: TokenKind::FineGrained { statuses },
            ..
        } => permission == "checks" || (permission == "statuses" && !statuses),
        _ => false,
    }
}

/// The `403` a token without write access gets.
fn forbidden(p: &Principal) -> Resp {
    let installation = matches!(
        p,
        Principal::Token {
            kind: TokenKind::Installation { .. },
            ..
        }
    );
    error(
        403,
        if installation {
            "Resource not accessible by integration"
        } else {
            "Resource not accessible by personal access token"
        },
    )
}

fn body_json(req: &Req) -> Result<Value, Resp> {
    if req.body.iter().all(u8::is_ascii_whitespace) {
        return Ok(Value::Object(Map::new()));
    }
    serde_json::from_slice(&req.body).map_err(|_| error(400, "Problems parsing JSON"))
}

fn str_field<'a>(body: &'a Value, key: &str) -> Option<&'a str> {
    body.get(key).and_then(Value::as_str)
}

fn time(millis: i64) -> Value {
    Value::String(util::iso_seconds(millis))
}

fn opt_time(millis: Option<i64>) -> Value {
    millis.map_or(Value::Null, time)
}

/// Authenticates a GitHub request: `Authorization: Bearer <token>` or `token <token>`, or an
/// app's JWT.
pub fn authenticate(st: &mut State, req: &Req, api: Api) -> Result<Principal, Resp> {
    let Some(header) = req.header("authorization") else {
        return Err(if api == Api::GraphQl {
            Resp::json(
                401,
                &json!({
                    "message": "This endpoint requires you to be authenticated.",
                    "documentation_url": "https://docs.github.com/graphql/guides/forming-calls-with-graphql#authenticating-with-graphql"
                }),
            )
        } else {
            error(401, "Requires authentication")
        });
    };
    let bad = || error(401, "Bad credentials");
    let (scheme, credential) = header.trim().split_once(' ').ok_or_else(bad)?;
    let credential = credential.trim();
    if !scheme.eq_ignore_ascii_case("bearer") && !scheme.eq_ignore_ascii_case("token") {
        return Err(bad());
    }
    if looks_like_jwt(credential) {
        return verify_jwt(st, credential)
            .map(|app_id| Principal::App { app_id })
            .map_err(|m| error(401, &m));
    }
    let token = st.tokens.get(credential).ok_or_else(bad)?;
    let expired = token.expired || token.expires_at.is_some_and(|t| t <= util::now_secs());
    if expired || matches!(token.kind, TokenKind::Job { .. }) {
        return Err(bad());
    }
    let (login, access, repos, kind) = (
        token.login.clone(),
        token.access,
        token.repos.clone(),
        token.kind.clone(),
    );
    Ok(Principal::Token {
        token: credential.to_owned(),
        user_id: st.user_id(&login),
        login,
        access,
        repos,
        kind,
    })
}

fn looks_like_jwt(credential: &str) -> bool {
    credential.starts_with("eyJ") && credential.matches('.').count() == 2
}

/// Verifies an app's JWT (RS256, `iss` = app id, `exp` in the future and at most ten minutes
/// away); the app id, or GitHub's `401` message.
fn verify_jwt(st: &State, jwt: &str) -> Result<u64, String> {
    const UNDECODABLE: &str = "A JSON web token could not be decoded";
    let mut parts = jwt.split('.');
    let (Some(h), Some(p), Some(s)) = (parts.next(), parts.next(), parts.next()) else {
        return Err(UNDECODABLE.to_owned());
    };
    let decode_json = |part: &str| -> Option<Value> {
        serde_json::from_slice(&util::base64url_decode(part)?).ok()
    };
    let header = decode_json(h).ok_or(UNDECODABLE)?;
    let claims = decode_json(p).ok_or(UNDECODABLE)?;
    let signature = util::base64url_decode(s).ok_or(UNDECODABLE)?;
    if header.get("alg").and_then(Value::as_str) != Some("RS256") {
        return Err(UNDECODABLE.to_owned());
    }
    let app_id = match claims.get("iss") {
        Some(Value::Number(n)) => n.as_u64(),
        Some(Value::String(s)) => s.parse().ok(),
        _ => None,
    }
    .ok_or(UNDECODABLE)?;
    let app = st
        .apps
        .iter()
        .find(|a| a.app_id == app_id)
        .ok_or(UNDECODABLE)?;
    let signature = Signature::try_from(signature.as_slice()).map_err(|_| UNDECODABLE)?;
    let signing_input = format!("{h}.{p}");
    VerifyingKey::<Sha256>::new(app.key.clone())
        .verify(signing_input.as_bytes(), &signature)
        .map_err(|_| UNDECODABLE)?;
    let now = util::now_secs();
    let iat = claims.get("iat").and_then(Value::as_i64).ok_or(
        "'Issued at' claim ('iat') must be an Integer representing the time that the assertion was issued",
    )?;
    let exp = claims.get("exp").and_then(Value::as_i64).ok_or(
        "'Expiration time' claim ('exp') must be a numeric value representing the future time at which the assertion expires",
    )?;
    if iat > now + 60 {
        return Err("'Issued at' claim ('iat') must be an Integer representing the time that the assertion was issued".to_owned());
    }
    if exp <= now {
        return Err("'Expiration time' claim ('exp') must be a numeric value representing the future time at which the assertion expires".to_owned());
    }
    // Ten minutes at most, with a little slack for clock drift (GitHub allows some too).
    if exp - iat > 600 || exp > now + 600 + 30 {
        return Err("'Expiration time' claim ('exp') is too far in the future".to_owned());
    }
    Ok(app_id)
}

/// A GitHub user object (the `simple-user` schema).
fn user_json(st: &State, login: &str) -> Value {
    let api = st.api_v3();
    let web = &st.web;
    let (id, bot) = st.user(login).map_or((0, false), |u| (u.id, u.bot));
    let l = util::percent_encode(login);
    json!({
        "login": login,
        "id": id,
        "node_id": format!("U_kgDO{id:08}"),
        "avatar_url": format!("{web}/avatars/u/{id}?v=4"),
        "gravatar_id": "",
        "url": format!("{api}/users/{l}"),
        "html_url": format!("{web}/{l}"),
        "followers_url": format!("{api}/users/{l}/followers"),
        "following_url": format!("{api}/users/{l}/following{{/other_user}}"),
        "gists_url": format!("{api}/users/{l}/gists{{/gist_id}}"),
        "starred_url": format!("{api}/users/{l}/starred{{/owner}}{{/repo}}"),
        "subscriptions_url": format!("{api}/users/{l}/subscriptions"),
        "organizations_url": format!("{api}/users/{l}/orgs"),
        "repos_url": format!("{api}/users/{l}/repos"),
        "events_url": format!("{api}/users/{l}/events{{/privacy}}"),
        "received_events_url": format!("{api}/users/{l}/received_events"),
        "type": if bot { "Bot" } else { "User" },
        "user_view_type": "public",
        "site_admin": false
    })
}

/// The account owning a repository: a user when one has that login, else an organization.
fn owner_json(st: &State, owner: &str, repo_id: u64) -> Value {
    let mut v = user_json(st, owner);
    if st.user(owner).is_none() {
        v["id"] = json!(9_000_000 + repo_id);
        v["node_id"] = json!(format!("O_kgDO{:08}", 9_000_000 + repo_id));
        v["type"] = json!("Organization");
    }
    v
}

fn repo_json(st: &State, full: &str, access: Option<Access>) -> Value {
    let Some(repo) = st.repos.get(full) else {
        return Value::Null;
    };
    let api = format!("{}/repos/{full}", st.api_v3());
    let web = &st.web;
    let mut v = json!({
        "id": repo.id,
        "node_id": format!("R_kgDO{:08}", repo.id),
        "name": repo.name(),
        "full_name": full,
        "private": true,
        "owner": owner_json(st, repo.owner(), repo.id),
        "html_url": format!("{web}/{full}"),
        "description": null,
        "fork": false,
        "url": api,
        "clone_url": format!("{}/{full}.git", st.git_base),
        "git_url": format!("{}/{full}.git", st.git_base),
        "ssh_url": format!("git@127.0.0.1:{full}.git"),
        "svn_url": format!("{web}/{full}"),
        "homepage": null,
        "language": null,
        "default_branch": repo.default_branch(),
        "visibility": "private",
        "topics": [],
        "pushed_at": util::iso_seconds(util::now_millis()),
        "created_at": util::iso_seconds(repo.created),
        "updated_at": util::iso_seconds(repo.created),
        "allow_auto_merge": repo.allow_auto_merge
    });
    // The `*_url` templates every repository object carries.
    for (key, suffix) in [
        ("archive_url", "/{archive_format}{/ref}"),
        ("assignees_url", "/assignees{/user}"),
        ("blobs_url", "/git/blobs{/sha}"),
        ("branches_url", "/branches{/branch}"),
        ("collaborators_url", "/collaborators{/collaborator}"),
        ("comments_url", "/comments{/number}"),
        ("commits_url", "/commits{/sha}"),
        ("compare_url", "/compare/{base}...{head}"),
        ("contents_url", "/contents/{+path}"),
        ("contributors_url", "/contributors"),
        ("deployments_url", "/deployments"),
        ("downloads_url", "/downloads"),
        ("events_url", "/events"),
        ("forks_url", "/forks"),
        ("git_commits_url", "/git/commits{/sha}"),
        ("git_refs_url", "/git/refs{/sha}"),
        ("git_tags_url", "/git/tags{/sha}"),
        ("issue_comment_url", "/issues/comments{/number}"),
        ("issue_events_url", "/issues/events{/number}"),
        ("issues_url", "/issues{/number}"),
        ("keys_url", "/keys{/key_id}"),
        ("labels_url", "/labels{/name}"),
        ("languages_url", "/languages"),
        ("merges_url", "/merges"),
        ("milestones_url", "/milestones{/number}"),
        (
            "notifications_url",
            "/notifications{?since,all,participating}",
        ),
        ("pulls_url", "/pulls{/number}"),
        ("releases_url", "/releases{/id}"),
        ("stargazers_url", "/stargazers"),
        ("statuses_url", "/statuses/{sha}"),
        ("subscribers_url", "/subscribers"),
        ("subscription_url", "/subscription"),
        ("tags_url", "/tags"),
        ("teams_url", "/teams"),
        ("trees_url", "/git/trees{/sha}"),
        ("hooks_url", "/hooks"),
    ] {
        v[key] = json!(format!("{api}{suffix}"));
    }
    let open = repo.crs.iter().filter(|c| c.state == CrState::Open).count();
    for (key, value) in [
        ("forks_count", json!(0)),
        ("stargazers_count", json!(0)),
        ("watchers_count", json!(0)),
        ("size", json!(1)),
        ("open_issues_count", json!(open)),
        ("is_template", json!(false)),
        ("has_issues", json!(true)),
        ("has_projects", json!(false)),
        ("has_wiki", json!(false)),
        ("has_pages", json!(false)),
        ("has_downloads", json!(true)),
        ("archived", json!(false)),
        ("disabled", json!(false)),
        ("allow_rebase_merge", json!(true)),
        ("allow_squash_merge", json!(true)),
        ("allow_merge_commit", json!(true)),
        ("delete_branch_on_merge", json!(false)),
        ("allow_update_branch", json!(false)),
        ("web_commit_signoff_required", json!(false)),
        ("forks", json!(0)),
        ("open_issues", json!(open)),
        ("watchers", json!(0)),
    ] {
        v[key] = value;
    }
    if let Some(access) = access {
        v["permissions"] = json!({
            "admin": access >= Access::Admin,
            "maintain": access >= Access::Admin,
            "push": access >= Access::Write,
            "triage": access >= Access::Write,
            "pull": true
        });
    }
    v
}

fn label_json(st: &State, full: &str, name: &str) -> Value {
    let (id, color) = st
        .repos
        .get(full)
        .and_then(|r| r.labels.iter().find(|l| l.name == name))
        .map_or((0, "ededed".to_owned()), |l| (l.id, l.color.clone()));
    json!({
        "id": id,
        "node_id": format!("LA_kwDO{id:08}"),
        "url": format!("{}/repos/{full}/labels/{}", st.api_v3(), util::percent_encode(name)),
        "name": name,
        "color": color,
        "default": false,
        "description": null
    })
}

fn node_id(cr: &Cr) -> String {
    format!("PR_kwDO{:08}", cr.id)
}

fn links(api: &str, web: &str, full: &str, n: u64, head_sha: &str) -> Value {
    let base = format!("{api}/repos/{full}");
    json!({
        "self": {"href": format!("{base}/pulls/{n}")},
        "html": {"href": format!("{web}/{full}/pull/{n}")},
        "issue": {"href": format!("{base}/issues/{n}")},
        "comments": {"href": format!("{base}/issues/{n}/comments")},
        "review_comments": {"href": format!("{base}/pulls/{n}/comments")},
        "review_comment": {"href": format!("{base}/pulls/comments{{/number}}")},
        "commits": {"href": format!("{base}/pulls/{n}/commits")},
        "statuses": {"href": format!("{base}/statuses/{head_sha}")}
    })
}

/// A pull request object (the `pull-request` schema), with `mergeable` and `mergeable_state`
/// computed now from the repository.
fn pull_json(st: &mut State, full: &str, number: u64) -> Value {
    let assessment = st.assess(full, number);
    let Some(repo) = st.repos.get(full) else {
        return Value::Null;
    };
    let Some(cr) = repo.cr(number) else {
        return Value::Null;
    };
    let (mergeable, mergeable_state) = assessment
        .as_ref()
        .map_or((None, "unknown"), |a| github_mergeability(cr, a));
    let api = st.api_v3();
    let web = &st.web;
    let base_api = format!("{api}/repos/{full}");
    let html = format!("{web}/{full}/pull/{number}");
    let owner = repo.owner();
    let repo_obj = repo_json(st, full, None);
    let owner_obj = owner_json(st, owner, repo.id);
    let base_sha = repo
        .tips
        .get(&cr.base)
        .cloned()
        .or_else(|| assessment.as_ref().and_then(|a| a.base_sha.clone()))
        .unwrap_or_default();
    let assignees: Vec<Value> = cr.assignees.iter().map(|a| user_json(st, a)).collect();
    let comments = repo.comments.iter().filter(|c| c.number == number).count();
    let mut v = json!({
        "url": format!("{base_api}/pulls/{number}"),
        "id": cr.id,
        "node_id": node_id(cr),
        "html_url": html,
        "diff_url": format!("{html}.diff"),
        "patch_url": format!("{html}.patch"),
        "issue_url": format!("{base_api}/issues/{number}"),
        "commits_url": format!("{base_api}/pulls/{number}/commits"),
        "review_comments_url": format!("{base_api}/pulls/{number}/comments"),
        "review_comment_url": format!("{base_api}/pulls/comments{{/number}}"),
        "comments_url": format!("{base_api}/issues/{number}/comments"),
        "statuses_url": format!("{base_api}/statuses/{}", cr.head_sha),
        "number": number,
        "state": if cr.state == CrState::Open { "open" } else { "closed" },
        "locked": false,
        "title": cr.title,
        "user": user_json(st, &cr.author),
        "body": if cr.body.is_empty() { Value::Null } else { json!(cr.body) },
        "labels": cr.labels.iter().map(|l| label_json(st, full, l)).collect::<Vec<_>>(),
        "milestone": null,
        "active_lock_reason": null,
        "created_at": time(cr.created),
        "updated_at": time(cr.updated),
        "closed_at": opt_time(cr.closed_at),
        "merged_at": opt_time(cr.merged_at),
        "merge_commit_sha": cr.merge_commit_sha,
        "assignee": assignees.first().cloned().unwrap_or(Value::Null),
        "assignees": assignees,
        "requested_reviewers": cr.reviewers.iter().filter(|r| !r.contains('/')).map(|r| user_json(st, r)).collect::<Vec<_>>(),
        "requested_teams": cr.reviewers.iter().filter(|r| r.contains('/')).map(|t| team_json(st, t)).collect::<Vec<_>>()
    });
    let more = json!({
        "head": {
            "label": format!("{owner}:{}", cr.head),
            "ref": cr.head,
            "sha": cr.head_sha,
            "user": owner_obj,
            "repo": repo_obj
        },
        "base": {
            "label": format!("{owner}:{}", cr.base),
            "ref": cr.base,
            "sha": base_sha,
            "user": owner_obj,
            "repo": repo_obj
        },
        "_links": links(&api, web, full, number, &cr.head_sha),
        "author_association": "MEMBER",
        "auto_merge": cr.auto_merge.as_ref().map_or(Value::Null, |am| json!({
            "enabled_by": user_json(st, &am.enabled_by),
            "merge_method": am.method.to_lowercase(),
            "commit_title": am.commit_title,
            "commit_message": am.commit_message
        })),
        "draft": cr.draft,
        "merged": cr.state == CrState::Merged,
        "mergeable": mergeable,
        "rebaseable": mergeable,
        "mergeable_state": mergeable_state,
        "merged_by": cr.merged_by.as_ref().map_or(Value::Null, |m| user_json(st, m)),
        "comments": comments,
        "review_comments": 0,
        "maintainer_can_modify": false,
        "commits": 1,
        "additions": 0,
        "deletions": 0,
        "changed_files": 0
    });
    if let (Value::Object(v), Value::Object(more)) = (&mut v, more) {
        v.extend(more);
    }
    v
}

/// The issue object GitHub answers issue endpoints with for a pull request.
fn issue_json(st: &mut State, full: &str, number: u64) -> Value {
    let Some(repo) = st.repos.get(full) else {
        return Value::Null;
    };
    let Some(cr) = repo.cr(number) else {
        return Value::Null;
    };
    let api = st.api_v3();
    let base_api = format!("{api}/repos/{full}");
    let assignees: Vec<Value> = cr.assignees.iter().map(|a| user_json(st, a)).collect();
    json!({
        "id": cr.id + 1,
        "node_id": format!("I_kwDO{:08}", cr.id),
        "url": format!("{base_api}/issues/{number}"),
        "repository_url": base_api,
        "labels_url": format!("{base_api}/issues/{number}/labels{{/name}}"),
        "comments_url": format!("{base_api}/issues/{number}/comments"),
        "events_url": format!("{base_api}/issues/{number}/events"),
        "html_url": format!("{}/{full}/pull/{number}", st.web),
        "number": number,
        "state": if cr.state == CrState::Open { "open" } else { "closed" },
        "state_reason": null,
        "title": cr.title,
        "body": if cr.body.is_empty() { Value::Null } else { json!(cr.body) },
        "user": user_json(st, &cr.author),
        "labels": cr.labels.iter().map(|l| label_json(st, full, l)).collect::<Vec<_>>(),
        "assignee": assignees.first().cloned().unwrap_or(Value::Null),
        "assignees": assignees,
        "milestone": null,
        "locked": false,
        "active_lock_reason": null,
        "comments": repo.comments.iter().filter(|c| c.number == number).count(),
        "pull_request": {
            "url": format!("{base_api}/pulls/{number}"),
            "html_url": format!("{}/{full}/pull/{number}", st.web),
            "diff_url": format!("{}/{full}/pull/{number}.diff", st.web),
            "patch_url": format!("{}/{full}/pull/{number}.patch", st.web),
            "merged_at": opt_time(cr.merged_at)
        },
        "closed_at": opt_time(cr.closed_at),
        "created_at": time(cr.created),
        "updated_at": time(cr.updated),
        "draft": cr.draft,
        "author_association": "MEMBER"
    })
}

fn comment_json(st: &State, full: &str, c: &CommentRec) -> Value {
    let api = st.api_v3();
    json!({
        "id": c.id,
        "node_id": format!("IC_kwDO{:08}", c.id),
        "url": format!("{api}/repos/{full}/issues/comments/{}", c.id),
        "html_url": format!("{}/{full}/pull/{}#issuecomment-{}", st.web, c.number, c.id),
        "issue_url": format!("{api}/repos/{full}/issues/{}", c.number),
        "body": c.body,
        "user": user_json(st, &c.author),
        "created_at": time(c.created),
        "updated_at": time(c.updated),
        "author_association": "MEMBER",
        "performed_via_github_app": null
    })
}

fn status_json(st: &State, full: &str, s: &StatusRec) -> Value {
    json!({
        "url": format!("{}/repos/{full}/statuses/{}", st.api_v3(), s.sha),
        "avatar_url": null,
        "id": s.id,
        "node_id": format!("SC_kwDO{:08}", s.id),
        "state": s.state,
        "description": s.description,
        "target_url": s.target_url,
        "context": s.context,
        "created_at": time(s.created),
        "updated_at": time(s.updated),
        "creator": user_json(st, &s.creator)
    })
}

fn review_json(st: &State, full: &str, number: u64, r: &Review) -> Value {
    let html = format!("{}/{full}/pull/{number}#pullrequestreview-{}", st.web, r.id);
    let pr_url = format!("{}/repos/{full}/pulls/{number}", st.api_v3());
    json!({
        "id": r.id,
        "node_id": format!("PRR_kwDO{:08}", r.id),
        "user": user_json(st, &r.user),
        "body": r.body,
        "state": r.state,
        "html_url": html,
        "pull_request_url": pr_url,
        "author_association": "MEMBER",
        "_links": {"html": {"href": html}, "pull_request": {"href": pr_url}},
        "submitted_at": if r.state == "PENDING" { Value::Null } else { time(r.submitted_at) },
        "commit_id": r.commit_id
    })
}

/// Dispatches a REST request.
pub fn handle(st: &mut State, p: &Principal, req: &Req) -> Resp {
    let rest = req.path.strip_prefix("/api/v3").unwrap_or_default();
    let segs: Vec<String> = rest
        .split('/')
        .filter(|s| !s.is_empty())
        .map(|s| util::percent_decode(s, false))
        .collect();
    let segs: Vec<&str> = segs.iter().map(String::as_str).collect();
    let m = req.method.as_str();
    let version = req.header("x-github-api-version").map(str::to_owned);
    st.github_headers
        .push((req.header("accept").map(str::to_owned), version.clone()));
    // GitHub answers 400 to a version it does not know (and takes 2022-11-28 when none is sent).
    if let Some(v) = version.filter(|v| !SUPPORTED_VERSIONS.contains(&v.as_str())) {
        return error(
            400,
            &format!(
                "Unsupported 'X-GitHub-Api-Version' header value: {v}. Supported versions are: {}",
                SUPPORTED_VERSIONS.join(", ")
            ),
        );
    }
    let is_app = matches!(p, Principal::App { .. });
    let app_route = matches!(
        (m, segs.as_slice()),
        ("GET", ["app"])
            | ("POST", ["app", "installations", _, "access_tokens"])
            | ("GET", ["repos", _, _, "installation"])
    );
    if app_route && !is_app {
        return error(401, "A JSON web token could not be decoded");
    }
    if !app_route && is_app {
        return error(401, "Bad credentials");
    }
    match (m, segs.as_slice()) {
        // An installation token has no user: "Resource not accessible by integration".
        ("GET", ["user"]) if is_installation(p) => forbidden(p),
        ("GET", ["user"]) => {
            let mut v = user_json(st, p.login());
            v["name"] = json!(p.login());
            v["email"] = Value::Null;
            Resp::json(200, &v)
        }
        ("GET", ["app"]) => get_app(st, p),
        ("POST", ["app", "installations", id, "access_tokens"]) => {
            create_installation_token(st, p, id, req)
        }
        ("GET", ["repos", o, r, "installation"]) => get_installation(st, p, &format!("{o}/{r}")),
        (_, ["repos", o, r, rest @ ..]) => repo_route(st, p, req, &format!("{o}/{r}"), rest),
        _ => not_found(),
    }
}

fn get_app(st: &State, p: &Principal) -> Resp {
    let Principal::App { app_id } = p else {
        return not_found();
    };
    let Some(app) = st.apps.iter().find(|a| a.app_id == *app_id) else {
        return not_found();
    };
    Resp::json(
        200,
        &json!({
            "id": app.app_id,
            "slug": app.slug,
            "node_id": format!("A_kwDO{:08}", app.app_id),
            "client_id": format!("Iv1.{:016x}", app.app_id),
            "owner": null,
            "name": app.slug,
            "description": "",
            "external_url": st.web,
            "html_url": format!("{}/apps/{}", st.web, app.slug),
            "created_at": time(app.created),
            "updated_at": time(app.created),
            "permissions": installation_permissions(),
            "events": [],
            "installations_count": 1
        }),
    )
}

fn installation_permissions() -> Value {
    json!({
        "checks": "read",
        "contents": "write",
        "issues": "write",
        "metadata": "read",
        "pull_requests": "write",
        "statuses": "write"
    })
}

fn installation_json(st: &State, installation_id: u64) -> Value {
    let Some(app) = st
        .apps
        .iter()
        .find(|a| a.installation_id == installation_id)
    else {
        return Value::Null;
    };
    let owner = app
        .repos
        .first()
        .and_then(|r| r.split('/').next())
        .unwrap_or("acme");
    let repo_id = app
        .repos
        .first()
        .and_then(|r| st.repos.get(r))
        .map_or(0, |r| r.id);
    let api = st.api_v3();
    json!({
        "id": installation_id,
        "account": owner_json(st, owner, repo_id),
        "repository_selection": "selected",
        "access_tokens_url": format!("{api}/app/installations/{installation_id}/access_tokens"),
        "repositories_url": format!("{api}/installation/repositories"),
        "html_url": format!("{}/organizations/{owner}/settings/installations/{installation_id}", st.web),
        "app_id": app.app_id,
        "app_slug": app.slug,
        "target_id": 9_000_000 + repo_id,
        "target_type": "Organization",
        "permissions": installation_permissions(),
        "events": [],
        "created_at": time(app.created),
        "updated_at": time(app.created),
        "single_file_name": null,
        "has_multiple_single_files": false,
        "single_file_paths": [],
        "suspended_by": null,
        "suspended_at": null
    })
}

fn get_installation(st: &mut State, p: &Principal, full: &str) -> Resp {
    let Principal::App { app_id } = p else {
        return not_found();
    };
    let installation = st
        .apps
        .iter()
        .find(|a| a.app_id == *app_id && a.repos.iter().any(|r| r == full))
        .map(|a| a.installation_id);
    match installation {
        Some(id) if st.repo_mut(full).is_some() => Resp::json(200, &installation_json(st, id)),
        _ => not_found(),
    }
}

fn create_installation_token(st: &mut State, p: &Principal, id: &str, req: &Req) -> Resp {
    let Principal::App { app_id } = p else {
        return not_found();
    };
    let Some(app) = id.parse::<u64>().ok().and_then(|id| {
        st.apps
            .iter()
            .find(|a| a.installation_id == id && a.app_id == *app_id)
    }) else {
        return not_found();
    };
    let (installation_id, all) = (app.installation_id, app.repos.clone());
    let body = match body_json(req) {
        Ok(b) => b,
        Err(resp) => return resp,
    };
    let mut repos = all.clone();
    let mut listed = false;
    if let Some(names) = body.get("repositories").and_then(Value::as_array) {
        listed = true;
        repos.clear();
        for name in names {
            let found = name
                .as_str()
                .and_then(|n| all.iter().find(|r| r.split('/').nth(1) == Some(n)));
            match found {
                Some(r) => repos.push(r.clone()),
                None => {
                    return error(
                        422,
                        "There is at least one repository that does not exist or is not accessible to the parent installation.",
                    );
                }
            }
        }
    }
    if let Some(ids) = body.get("repository_ids").and_then(Value::as_array) {
        if !listed {
            repos.clear();
        }
        listed = true;
        for id in ids {
            let found = all
                .iter()
                .find(|r| st.repos.get(*r).map(|x| x.id) == id.as_u64());
            match found {
                Some(r) => repos.push(r.clone()),
                None => {
                    return error(
                        422,
                        "There is at least one repository that does not exist or is not accessible to the parent installation.",
                    );
                }
            }
        }
    }
    for r in &repos {
        st.repo_mut(r);
    }
    let token = st.mint_installation_token(installation_id, &repos);
    let expires = st
        .tokens
        .get(&token)
        .and_then(|t| t.expires_at)
        .unwrap_or_default();
    let mut v = json!({
        "token": token,
        "expires_at": util::iso_seconds(expires * 1000),
        "permissions": installation_permissions(),
        "repository_selection": "selected"
    });
    if listed {
        v["repositories"] = Value::Array(
            repos
                .iter()
                .map(|r| repo_json(st, r, Some(Access::Write)))
                .collect(),
        );
    }
    Resp::json(201, &v)
}

/// Routes below `/repos/{owner}/{repo}`.
fn repo_route(st: &mut State, p: &Principal, req: &Req, full: &str, rest: &[&str]) -> Resp {
    let Some(access) = p.access_to(full) else {
        return not_found();
    };
    if st.repo_mut(full).is_none() {
        return not_found();
    }
    let m = req.method.as_str();
    let write = access >= Access::Write;
    let number = |s: &str| s.parse::<u64>().ok();
    match (m, rest) {
        ("GET", []) => Resp::json(200, &repo_json(st, full, Some(access))),
        ("GET", ["pulls"]) => list_pulls(st, req, full),
        ("POST", ["pulls"]) if write => create_pull(st, p, req, full),
        ("GET", ["pulls", n]) => match number(n).filter(|n| has_cr(st, full, *n)) {
            Some(n) => {
                let mut v = pull_json(st, full, n);
                // Mergeability still being computed (after a push): null / "unknown".
                if st.github_computing > 0 && v["state"] == "open" {
                    st.github_computing -= 1;
                    v["mergeable"] = Value::Null;
                    v["mergeable_state"] = json!("unknown");
                    v["rebaseable"] = Value::Null;
                }
                Resp::json(200, &v)
            }
            None => not_found(),
        },
        ("PATCH", ["pulls", n]) if write => match number(n).filter(|n| has_cr(st, full, *n)) {
            Some(n) => update_pull(st, req, full, n),
            None => not_found(),
        },
        ("PUT", ["pulls", n, "merge"]) => match number(n).filter(|n| has_cr(st, full, *n)) {
            Some(_) if !write => forbidden(p),
            Some(n) => merge_pull(st, p, access, req, full, n),
            None => not_found(),
        },
        ("GET", ["pulls", n, "merge"]) => {
            let merged = number(n)
                .and_then(|n| {
                    st.repos
                        .get(full)?
                        .cr(n)
                        .map(|c| c.state == CrState::Merged)
                })
                .unwrap_or(false);
            if merged {
                Resp::empty(204)
            } else {
                not_found()
            }
        }
        ("GET", ["pulls", n, "reviews"]) => match number(n).filter(|n| has_cr(st, full, *n)) {
            Some(n) => {
                let items = st
                    .repos
                    .get(full)
                    .and_then(|r| r.cr(n))
                    .map_or_else(Vec::new, |c| {
                        c.reviews
                            .iter()
                            .map(|r| review_json(st, full, n, r))
                            .collect()
                    });
                paginate(&st.web, req, items, false)
            }
            None => not_found(),
        },
        ("POST", ["pulls", n, "reviews"]) => match number(n).filter(|n| has_cr(st, full, *n)) {
            Some(n) => create_review(st, p, write, req, full, n),
            None => not_found(),
        },
        ("POST", ["pulls", n, "requested_reviewers"]) if write => {
            match number(n).filter(|n| has_cr(st, full, *n)) {
                Some(n) => request_reviewers(st, req, full, n),
                None => not_found(),
            }
        }
        ("GET", ["pulls", n, "requested_reviewers"]) => {
            match number(n).filter(|n| has_cr(st, full, *n)) {
                Some(n) => {
                    let users = st
                        .repos
                        .get(full)
                        .and_then(|r| r.cr(n))
                        .map_or_else(Vec::new, |c| c.reviewers.clone());
                    let (teams, users): (Vec<String>, Vec<String>) =
                        users.into_iter().partition(|r| r.contains('/'));
                    Resp::json(
                        200,
                        &json!({
                            "users": users.iter().map(|u| user_json(st, u)).collect::<Vec<_>>(),
                            "teams": teams.iter().map(|t| team_json(st, t)).collect::<Vec<_>>()
                        }),
                    )
                }
                None => not_found(),
            }
        }
        ("GET", ["issues", n, "labels"]) => match number(n).filter(|n| has_cr(st, full, *n)) {
            Some(n) => {
                let items = st
                    .repos
                    .get(full)
                    .and_then(|r| r.cr(n))
                    .map_or_else(Vec::new, |c| {
                        c.labels.iter().map(|l| label_json(st, full, l)).collect()
                    });
                paginate(&st.web, req, items, false)
            }
            None => not_found(),
        },
        ("POST", ["issues", n, "labels"]) if write => {
            match number(n).filter(|n| has_cr(st, full, *n)) {
                Some(n) => add_labels(st, req, full, n),
                None => not_found(),
            }
        }
        ("PATCH", ["issues", n]) if write => match number(n).filter(|n| has_cr(st, full, *n)) {
            Some(n) => edit_issue(st, req, full, n),
            None => not_found(),
        },
        ("POST", ["issues", n, "assignees"]) if write => {
            match number(n).filter(|n| has_cr(st, full, *n)) {
                Some(n) => add_assignees(st, req, full, n),
                None => not_found(),
            }
        }
        ("GET", ["issues", n, "comments"]) => match number(n).filter(|n| has_cr(st, full, *n)) {
            Some(n) => {
                let items = st.repos.get(full).map_or_else(Vec::new, |r| {
                    r.comments
                        .iter()
                        .filter(|c| c.number == n)
                        .map(|c| comment_json(st, full, c))
                        .collect()
                });
                paginate(&st.web, req, items, false)
            }
            None => not_found(),
        },
        ("POST", ["issues", n, "comments"]) if write => {
            match number(n).filter(|n| has_cr(st, full, *n)) {
                Some(n) => create_comment(st, p, req, full, n),
                None => not_found(),
            }
        }
        ("GET", ["issues", "comments", id]) => {
            let found = number(id).and_then(|id| {
                st.repos
                    .get(full)?
                    .comments
                    .iter()
                    .find(|c| c.id == id)
                    .map(|c| comment_json(st, full, c))
            });
            found.map_or_else(not_found, |v| Resp::json(200, &v))
        }
        ("PATCH", ["issues", "comments", id]) if write => match number(id) {
            Some(id) => update_comment(st, req, full, id),
            None => not_found(),
        },
        ("DELETE", ["issues", "comments", id]) if write => match number(id) {
            Some(id) => delete_comment(st, full, id),
            None => not_found(),
        },
        ("POST", ["statuses", sha]) if write => create_status(st, p, req, full, sha),
        ("GET", ["commits", _, ..])
            if rest.last() == Some(&"check-runs") && fine_grained_lacks(p, "checks") =>
        {
            forbidden(p)
        }
        ("GET", ["commits", _, ..])
            if matches!(rest.last(), Some(&"status" | &"statuses"))
                && fine_grained_lacks(p, "statuses") =>
        {
            forbidden(p)
        }
        ("GET", ["commits", r @ .., "status"]) if !r.is_empty() => {
            combined_status(st, req, full, &r.join("/"))
        }
        ("GET", ["commits", r @ .., "statuses"]) if !r.is_empty() => {
            list_statuses(st, req, full, &r.join("/"))
        }
        ("GET", ["commits", r @ .., "check-runs"]) if !r.is_empty() => {
            check_runs(st, req, full, &r.join("/"))
        }
        ("GET", ["rules", "branches", b @ ..]) if !b.is_empty() => {
            branch_rules(st, req, full, &b.join("/"))
        }
        (
            "GET",
            [
                "branches",
                b @ ..,
                "protection",
                "required_pull_request_reviews",
            ],
        ) if !b.is_empty() => required_reviews(st, access, full, &b.join("/")),
        ("GET", ["branches", b @ ..]) if !b.is_empty() => get_branch(st, full, &b.join("/")),
        // A write route without write access.
        ("POST" | "PATCH" | "PUT" | "DELETE", _) if !write && known_write_route(rest) => {
            forbidden(p)
        }
        _ => not_found(),
    }
}

fn known_write_route(rest: &[&str]) -> bool {
    matches!(
        rest,
        ["pulls"]
            | ["pulls", _]
            | ["pulls", _, "requested_reviewers"]
            | ["issues", _, "labels" | "assignees" | "comments"]
            | ["issues", "comments", _]
            | ["statuses", _]
    )
}

/// A team (`org/slug`) as GitHub lists it among requested reviewers.
fn team_json(st: &State, team: &str) -> Value {
    let (org, slug) = team.split_once('/').unwrap_or(("", team));
    json!({
        "id": team.len(),
        "name": slug,
        "slug": slug,
        "privacy": "closed",
        "permission": "pull",
        "url": format!("{}/orgs/{org}/teams/{slug}", st.api_v3()),
        "html_url": format!("{}/orgs/{org}/teams/{slug}", st.web)
    })
}

fn delete_comment(st: &mut State, full: &str, id: u64) -> Resp {
    let Some(repo) = st.repos.get_mut(full) else {
        return not_found();
    };
    let before = repo.comments.len();
    repo.comments.retain(|c| c.id != id);
    if repo.comments.len() == before {
        return not_found();
    }
    Resp::empty(204)
}

/// `GET /repos/{o}/{r}/branches/{branch}`: the branch, with the summary of its classic
/// protection that anyone who may read the repository sees.
fn get_branch(st: &State, full: &str, branch: &str) -> Resp {
    let Some(repo) = st.repos.get(full) else {
        return not_found();
    };
    let Some(sha) = repo.tips.get(branch).cloned() else {
        return error(404, "Branch not found");
    };
    let api = st.api_v3();
    let url = format!("{api}/repos/{full}/branches/{branch}");
    let classic = repo.protections.get(branch).filter(|p| p.classic);
    let mut v = json!({
        "name": branch,
        "commit": {"sha": sha, "url": format!("{api}/repos/{full}/commits/{sha}")},
        "_links": {"self": url, "html": format!("{}/{full}/tree/{branch}", st.web)},
        "protected": classic.is_some(),
        "protection_url": format!("{url}/protection"),
    });
    v["protection"] = match classic {
        Some(p) => json!({
            "enabled": true,
            "required_status_checks": {
                "enforcement_level": "non_admins",
                "contexts": p.required_checks,
                "checks": p.required_checks.iter().map(|c| json!({"context": c, "app_id": null})).collect::<Vec<_>>()
            }
        }),
        None => json!({
            "enabled": false,
            "required_status_checks": {"enforcement_level": "off", "contexts": [], "checks": []}
        }),
    };
    Resp::json(200, &v)
}

/// `GET .../branches/{branch}/protection/required_pull_request_reviews`: admins only.
fn required_reviews(st: &State, access: Access, full: &str, branch: &str) -> Resp {
    if access < Access::Admin {
        return error(403, "Must have admin rights to Repository.");
    }
    let Some(p) = st
        .repos
        .get(full)
        .and_then(|r| r.protections.get(branch))
        .filter(|p| p.classic)
    else {
        return error(404, "Branch not protected");
    };
    if p.required_approvals == 0 {
        return error(404, "Required pull request reviews not enabled");
    }
    let api = st.api_v3();
    Resp::json(
        200,
        &json!({
            "url": format!("{api}/repos/{full}/branches/{branch}/protection/required_pull_request_reviews"),
            "dismiss_stale_reviews": true,
            "require_code_owner_reviews": false,
            "require_last_push_approval": false,
            "required_approving_review_count": p.required_approvals
        }),
    )
}

fn has_cr(st: &State, full: &str, n: u64) -> bool {
    st.repos.get(full).is_some_and(|r| r.cr(n).is_some())
}

fn list_pulls(st: &mut State, req: &Req, full: &str) -> Resp {
    let state = req.query_param("state").unwrap_or("open");
    let owner = full.split('/').next().unwrap_or_default();
    // GitHub reads `head` only in the `user:ref` form; a bare branch name filters nothing.
    let head = req.query_param("head").and_then(|h| h.split_once(':'));
    let base = req.query_param("base");
    let sort = req.query_param("sort").unwrap_or("created");
    let direction = req
        .query_param("direction")
        .unwrap_or(if sort == "created" { "desc" } else { "asc" });
    let Some(repo) = st.repos.get(full) else {
        return not_found();
    };
    let mut picked: Vec<(u64, i64, i64)> = repo
        .crs
        .iter()
        .filter(|c| match state {
            "closed" => c.state != CrState::Open,
            "all" => true,
            _ => c.state == CrState::Open,
        })
        .filter(|c| head.is_none_or(|(o, b)| o == owner && c.head == b))
        .filter(|c| base.is_none_or(|b| c.base == b))
        .map(|c| (c.number, c.created, c.updated))
        .collect();
    match sort {
        "updated" => picked.sort_by_key(|&(n, _, u)| (u, n)),
        _ => picked.sort_by_key(|&(n, c, _)| (c, n)),
    }
    if direction == "desc" {
        picked.reverse();
    }
    let items: Vec<Value> = picked
        .iter()
        .map(|&(n, _, _)| pull_json(st, full, n))
        .collect();
    paginate(&st.web, req, items, false)
}

fn create_pull(st: &mut State, p: &Principal, req: &Req, full: &str) -> Resp {
    let body = match body_json(req) {
        Ok(b) => b,
        Err(resp) => return resp,
    };
    let missing: Vec<Value> = ["title", "head", "base"]
        .iter()
        .filter(|k| str_field(&body, k).is_none_or(str::is_empty))
        .map(|k| json!({"resource": "PullRequest", "code": "missing_field", "field": k}))
        .collect();
    if !missing.is_empty() {
        return validation_failed(&Value::Array(missing));
    }
    let title = str_field(&body, "title").unwrap_or_default().to_owned();
    let raw_head = str_field(&body, "head").unwrap_or_default();
    let base = str_field(&body, "base").unwrap_or_default().to_owned();
    let owner = full.split('/').next().unwrap_or_default().to_owned();
    let head = match raw_head.split_once(':') {
        Some((o, b)) if o == owner => b.to_owned(),
        Some(_) => String::new(),
        None => raw_head.to_owned(),
    };
    let Some(repo) = st.repos.get(full) else {
        return not_found();
    };
    let Some(head_sha) = repo.tips.get(&head).cloned() else {
        return validation_failed(
            &json!([{"resource": "PullRequest", "field": "head", "code": "invalid"}]),
        );
    };
    let Some(base_sha) = repo.tips.get(&base).cloned() else {
        return validation_failed(
            &json!([{"resource": "PullRequest", "field": "base", "code": "invalid"}]),
        );
    };
    if repo
        .crs
        .iter()
        .any(|c| c.state == CrState::Open && c.head == head && c.base == base)
    {
        return validation_failed(&json!([{
            "resource": "PullRequest",
            "code": "custom",
            "message": format!("A pull request already exists for {owner}:{head}.")
        }]));
    }
    if super::git_ops::is_ancestor(&repo.path, &head_sha, &base_sha) {
        return validation_failed(&json!([{
            "resource": "PullRequest",
            "code": "custom",
            "message": format!("No commits between {base} and {head}")
        }]));
    }
    let id = st.next_id();
    let now = util::now_millis();
    let Some(repo) = st.repos.get_mut(full) else {
        return not_found();
    };
    let number = repo.crs.iter().map(|c| c.number).max().unwrap_or(0) + 1;
    repo.crs.push(Cr {
        number,
        id,
        title,
        body: str_field(&body, "body").unwrap_or_default().to_owned(),
        head,
        base,
        head_sha,
        state: CrState::Open,
        draft: body.get("draft").and_then(Value::as_bool).unwrap_or(false),
        author: p.login().to_owned(),
        labels: Vec::new(),
        assignees: Vec::new(),
        reviewers: Vec::new(),
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
        remove_source_branch: false,
        squash: false,
    });
    let location = format!("{}/repos/{full}/pulls/{number}", st.api_v3());
    Resp::json(201, &pull_json(st, full, number)).header("location", location)
}

fn update_pull(st: &mut State, req: &Req, full: &str, number: u64) -> Resp {
    let body = match body_json(req) {
        Ok(b) => b,
        Err(resp) => return resp,
    };
    let Some(repo) = st.repos.get(full) else {
        return not_found();
    };
    if let Some(base) = str_field(&body, "base")
        && !repo.tips.contains_key(base)
    {
        return validation_failed(&json!([{
            "resource": "PullRequest",
            "code": "custom",
            "field": "base",
            "message": format!("Proposed base branch '{base}' was not found")
        }]));
    }
    let Some(cr) = repo.cr(number) else {
        return not_found();
    };
    let new_state = str_field(&body, "state");
    match new_state {
        None | Some("open" | "closed") => {}
        Some(_) => {
            return validation_failed(
                &json!([{"resource": "PullRequest", "code": "invalid", "field": "state"}]),
            );
        }
    }
    if cr.state == CrState::Merged && new_state.is_some() {
        return validation_failed(&json!([{
            "resource": "PullRequest",
            "code": "custom",
            "field": "state",
            "message": "state cannot be changed. The pull request has been merged."
        }]));
    }
    if new_state == Some("open")
        && cr.state == CrState::Closed
        && repo
            .crs
            .iter()
            .any(|c| c.state == CrState::Open && c.head == cr.head && c.base == cr.base)
    {
        return validation_failed(&json!([{
            "resource": "PullRequest",
            "code": "custom",
            "message": format!("A pull request already exists for {}:{}.", repo.owner(), cr.head)
        }]));
    }
    let now = util::now_millis();
    if let Some(cr) = st.repos.get_mut(full).and_then(|r| r.cr_mut(number)) {
        if let Some(t) = str_field(&body, "title") {
            cr.title = t.to_owned();
        }
        if let Some(b) = body.get("body") {
            cr.body = b.as_str().unwrap_or_default().to_owned();
        }
        if let Some(b) = str_field(&body, "base") {
            cr.base = b.to_owned();
        }
        match new_state {
            Some("closed") if cr.state == CrState::Open => {
                cr.state = CrState::Closed;
                cr.closed_at = Some(now);
                cr.auto_merge = None;
            }
            Some("open") if cr.state == CrState::Closed => {
                cr.state = CrState::Open;
                cr.closed_at = None;
            }
            _ => {}
        }
        cr.updated = now;
    }
    st.refresh(full);
    Resp::json(200, &pull_json(st, full, number))
}

/// The names in a JSON list whose items are names or `{"name": ...}` objects; `None` when
/// `list` is not a list.
fn names_in(list: Option<&Value>) -> Option<Vec<String>> {
    list.and_then(Value::as_array).map(|items| {
        items
            .iter()
            .filter_map(|v| {
                v.as_str()
                    .or_else(|| v.get("name").and_then(Value::as_str))
                    .map(str::to_owned)
            })
            .collect()
    })
}

fn add_labels(st: &mut State, req: &Req, full: &str, number: u64) -> Resp {
    let body = match body_json(req) {
        Ok(b) => b,
        Err(resp) => return resp,
    };
    // `{"labels": [...]}` or a bare array; each a name or `{"name": ...}`.
    let list = if body.is_array() {
        Some(&body)
    } else {
        body.get("labels")
    };
    let names = names_in(list).unwrap_or_default();
    let mut next = st.next_id;
    let now = util::now_millis();
    if let Some(repo) = st.repos.get_mut(full) {
        for name in &names {
            repo.label_id(name, &mut next);
        }
        if let Some(cr) = repo.cr_mut(number) {
            for name in names {
                if !cr.labels.contains(&name) {
                    cr.labels.push(name);
                }
            }
            cr.updated = now;
        }
    }
    st.next_id = next;
    let labels = st
        .repos
        .get(full)
        .and_then(|r| r.cr(number))
        .map(|c| c.labels.clone())
        .unwrap_or_default();
    Resp::json(
        200,
        &Value::Array(labels.iter().map(|l| label_json(st, full, l)).collect()),
    )
}

/// `PATCH /repos/{owner}/{repo}/issues/{issue_number}`: `labels` and `assignees`, when given,
/// replace the lists (GitHub's "Update an issue"); unknown assignees are left out. A pull
/// request is an issue, so its number works here.
fn edit_issue(st: &mut State, req: &Req, full: &str, number: u64) -> Resp {
    let body = match body_json(req) {
        Ok(b) => b,
        Err(resp) => return resp,
    };
    let labels = names_in(body.get("labels"));
    let assignees = names_in(body.get("assignees")).map(|list| {
        list.into_iter()
            .filter(|u| st.user(u).is_some())
            .collect::<Vec<_>>()
    });
    let title = body.get("title").and_then(Value::as_str).map(str::to_owned);
    let text = body.get("body").and_then(Value::as_str).map(str::to_owned);
    let mut next = st.next_id;
    let now = util::now_millis();
    if let Some(repo) = st.repos.get_mut(full) {
        for name in labels.iter().flatten() {
            repo.label_id(name, &mut next);
        }
        if let Some(cr) = repo.cr_mut(number) {
            if let Some(labels) = labels {
                cr.labels = labels;
            }
            if let Some(assignees) = assignees {
                cr.assignees = assignees;
            }
            if let Some(title) = title {
                cr.title = title;
            }
            if let Some(text) = text {
                cr.body = text;
            }
            cr.updated = now;
        }
    }
    st.next_id = next;
    Resp::json(200, &issue_json(st, full, number))
}

fn add_assignees(st: &mut State, req: &Req, full: &str, number: u64) -> Resp {
    let body = match body_json(req) {
        Ok(b) => b,
        Err(resp) => return resp,
    };
    // Users GitHub does not know are silently left out.
    let known: Vec<String> = names_in(body.get("assignees"))
        .unwrap_or_default()
        .into_iter()
        .filter(|u| st.user(u).is_some())
        .collect();
    let now = util::now_millis();
    if let Some(cr) = st.repos.get_mut(full).and_then(|r| r.cr_mut(number)) {
        for u in known {
            if !cr.assignees.contains(&u) {
                cr.assignees.push(u);
            }
        }
        cr.updated = now;
    }
    Resp::json(201, &issue_json(st, full, number))
}

fn request_reviewers(st: &mut State, req: &Req, full: &str, number: u64) -> Resp {
    let body = match body_json(req) {
        Ok(b) => b,
        Err(resp) => return resp,
    };
    let reviewers: Vec<String> = names_in(body.get("reviewers")).unwrap_or_default();
    // Teams are named by slug, in the repository owner's organisation.
    let owner = full.split('/').next().unwrap_or_default();
    let teams: Vec<String> = names_in(body.get("team_reviewers"))
        .unwrap_or_default()
        .into_iter()
        .map(|t| format!("{owner}/{t}"))
        .collect();
    let unknown_team = teams.iter().any(|t| !st.teams.contains(t));
    let author = st
        .repos
        .get(full)
        .and_then(|r| r.cr(number))
        .map(|c| c.author.clone())
        .unwrap_or_default();
    if reviewers.contains(&author) {
        return error(422, "Review cannot be requested from pull request author.");
    }
    // GitHub refuses the whole request, adding no one, and names no culprit.
    if unknown_team || reviewers.iter().any(|r| st.user(r).is_none()) {
        return error(
            422,
            &format!(
                "Reviews may only be requested from collaborators. One or more of the users or teams you specified is not a collaborator of the {full} repository."
            ),
        );
    }
    let now = util::now_millis();
    if let Some(cr) = st.repos.get_mut(full).and_then(|r| r.cr_mut(number)) {
        for r in reviewers.into_iter().chain(teams) {
            if !cr.reviewers.contains(&r) {
                cr.reviewers.push(r);
            }
        }
        cr.updated = now;
    }
    Resp::json(201, &pull_json(st, full, number))
}

fn create_comment(st: &mut State, p: &Principal, req: &Req, full: &str, number: u64) -> Resp {
    let body = match body_json(req) {
        Ok(b) => b,
        Err(resp) => return resp,
    };
    let Some(text) = str_field(&body, "body").filter(|t| !t.is_empty()) else {
        return validation_failed(
            &json!([{"resource": "IssueComment", "code": "missing_field", "field": "body"}]),
        );
    };
    let id = st.next_id();
    let now = util::now_millis();
    let rec = CommentRec {
        id,
        number,
        author: p.login().to_owned(),
        body: text.to_owned(),
        created: now,
        updated: now,
    };
    let v = comment_json(st, full, &rec);
    if let Some(repo) = st.repos.get_mut(full) {
        repo.comments.push(rec);
    }
    let location = v["url"].as_str().unwrap_or_default().to_owned();
    Resp::json(201, &v).header("location", location)
}

fn update_comment(st: &mut State, req: &Req, full: &str, id: u64) -> Resp {
    let body = match body_json(req) {
        Ok(b) => b,
        Err(resp) => return resp,
    };
    let Some(text) = str_field(&body, "body").filter(|t| !t.is_empty()) else {
        return validation_failed(
            &json!([{"resource": "IssueComment", "code": "missing_field", "field": "body"}]),
        );
    };
    let now = util::now_millis();
    let Some(repo) = st.repos.get_mut(full) else {
        return not_found();
    };
    let Some(c) = repo.comments.iter_mut().find(|c| c.id == id) else {
        return not_found();
    };
    c.body = text.to_owned();
    c.updated = now;
    let snapshot = CommentRec {
        id: c.id,
        number: c.number,
        author: c.author.clone(),
        body: c.body.clone(),
        created: c.created,
        updated: c.updated,
    };
    Resp::json(200, &comment_json(st, full, &snapshot))
}

fn create_status(st: &mut State, p: &Principal, req: &Req, full: &str, sha: &str) -> Resp {
    let body = match body_json(req) {
        Ok(b) => b,
        Err(resp) => return resp,
    };
    let state = str_field(&body, "state").unwrap_or_default();
    if !matches!(state, "error" | "failure" | "pending" | "success") {
        return validation_failed(&json!([{
            "resource": "Status",
            "code": "custom",
            "field": "state",
            "message": "state is not included in the list"
        }]));
    }
    let Some(path) = st.repos.get(full).map(|r| r.path.clone()) else {
        return not_found();
    };
    let Some(full_sha) = super::git_ops::resolve_commit(&path, sha).filter(|s| s.starts_with(sha))
    else {
        return error(422, &format!("No commit found for SHA: {sha}"));
    };
    let id = st.next_id();
    let now = util::now_millis();
    let opt = |k: &str| str_field(&body, k).map(str::to_owned);
    let rec = StatusRec {
        id,
        sha: full_sha,
        context: opt("context").unwrap_or_else(|| "default".to_owned()),
        state: state.to_owned(),
        target_url: opt("target_url"),
        description: opt("description"),
        creator: p.login().to_owned(),
        created: now,
        updated: now,
        git_ref: None,
        pipeline_id: None,
    };
    let v = status_json(st, full, &rec);
    if let Some(repo) = st.repos.get_mut(full) {
        repo.statuses.push(rec);
    }
    st.sweep_auto_merge(full);
    Resp::json(201, &v)
}

fn resolve_ref(st: &State, full: &str, r: &str) -> Option<String> {
    let repo = st.repos.get(full)?;
    let r = r.strip_prefix("heads/").unwrap_or(r);
    repo.tips
        .get(r)
        .cloned()
        .or_else(|| super::git_ops::resolve_commit(&repo.path, r))
}

fn combined_status(st: &State, req: &Req, full: &str, r: &str) -> Resp {
    let Some(sha) = resolve_ref(st, full, r) else {
        return error(422, &format!("No commit found for SHA: {r}"));
    };
    let Some(repo) = st.repos.get(full) else {
        return not_found();
    };
    let mut latest: Vec<&StatusRec> = Vec::new();
    for s in repo.statuses.iter().filter(|s| s.sha == sha) {
        latest.retain(|x| x.context != s.context);
        latest.push(s);
    }
    let state = if latest
        .iter()
        .any(|s| matches!(s.state.as_str(), "failure" | "error" | "failed"))
    {
        "failure"
    } else if latest.is_empty() || latest.iter().any(|s| s.state != "success") {
        "pending"
    } else {
        "success"
    };
    let api = st.api_v3();
    // `statuses` is paginated (`per_page`, `page`, `Link`), like GitHub's.
    let total = latest.len();
    let page = paginate(
        &st.web,
        req,
        latest
            .iter()
            .rev()
            .map(|s| status_json(st, full, s))
            .collect(),
        false,
    );
    let statuses: Value = serde_json::from_slice(&page.body).unwrap_or(Value::Array(Vec::new()));
    let mut resp = Resp::json(
        200,
        &json!({
            "state": state,
            "statuses": statuses,
            "sha": sha,
            "total_count": total,
            "repository": repo_json(st, full, None),
            "commit_url": format!("{api}/repos/{full}/commits/{sha}"),
            "url": format!("{api}/repos/{full}/commits/{sha}/status")
        }),
    );
    resp.headers = page.headers;
    resp
}

fn list_statuses(st: &State, req: &Req, full: &str, r: &str) -> Resp {
    let Some(sha) = resolve_ref(st, full, r) else {
        return error(422, &format!("No commit found for SHA: {r}"));
    };
    let items = st.repos.get(full).map_or_else(Vec::new, |repo| {
        repo.statuses
            .iter()
            .rev()
            .filter(|s| s.sha == sha)
            .map(|s| status_json(st, full, s))
            .collect()
    });
    paginate(&st.web, req, items, false)
}

fn check_runs(st: &State, req: &Req, full: &str, r: &str) -> Resp {
    let Some(sha) = resolve_ref(st, full, r) else {
        return error(422, &format!("No commit found for SHA: {r}"));
    };
    let Some(repo) = st.repos.get(full) else {
        return not_found();
    };
    let name = req.query_param("check_name");
    let status = req.query_param("status");
    let api = st.api_v3();
    let runs: Vec<Value> = repo
        .check_runs
        .iter()
        .rev()
        .filter(|c| c.sha == sha)
        .filter(|c| name.is_none_or(|n| c.run.name == n))
        .filter(|c| status.is_none_or(|s| c.run.status == s))
        .map(|c| {
            let url = format!("{api}/repos/{full}/check-runs/{}", c.id);
            let html = c
                .run
                .html_url
                .clone()
                .unwrap_or_else(|| format!("{}/{full}/runs/{}", st.web, c.id));
            json!({
                "id": c.id,
                "head_sha": c.sha,
                "node_id": format!("CR_kwDO{:08}", c.id),
                "external_id": "",
                "url": url,
                "html_url": html,
                "details_url": html,
                "status": c.run.status,
                "conclusion": c.run.conclusion,
                "started_at": time(c.created),
                "completed_at": if c.run.status == "completed" { time(c.created) } else { Value::Null },
                "output": {
                    "title": null,
                    "summary": null,
                    "text": null,
                    "annotations_count": 0,
                    "annotations_url": format!("{url}/annotations")
                },
                "name": c.run.name,
                "check_suite": {"id": c.id + 1},
                "app": null,
                "pull_requests": []
            })
        })
        .collect();
    let total = runs.len();
    let page = paginate(&st.web, req, runs, false);
    let items: Value = serde_json::from_slice(&page.body).unwrap_or(Value::Array(Vec::new()));
    let mut resp = Resp::json(200, &json!({"total_count": total, "check_runs": items}));
    resp.headers = page.headers;
    resp
}

fn branch_rules(st: &State, req: &Req, full: &str, branch: &str) -> Resp {
    let Some(repo) = st.repos.get(full) else {
        return not_found();
    };
    // Classic branch protection is not a ruleset: it does not show here.
    let Some(p) = repo.protections.get(branch).filter(|p| !p.classic) else {
        return paginate(&st.web, req, Vec::new(), false);
    };
    let ruleset_id = repo.id * 100 + 1;
    let mut rules = Vec::new();
    if p.required_approvals > 0 {
        rules.push(json!({
            "type": "pull_request",
            "ruleset_source_type": "Repository",
            "ruleset_source": full,
            "ruleset_id": ruleset_id,
            "parameters": {
                "required_approving_review_count": p.required_approvals,
                // Approvals of an older head do not count here (see `assess`).
                "dismiss_stale_reviews_on_push": true,
                "require_code_owner_review": false,
                "require_last_push_approval": false,
                "required_review_thread_resolution": false,
                "allowed_merge_methods": ["merge", "squash", "rebase"]
            }
        }));
    }
    if !p.required_checks.is_empty() {
        rules.push(json!({
            "type": "required_status_checks",
            "ruleset_source_type": "Repository",
            "ruleset_source": full,
            "ruleset_id": ruleset_id,
            "parameters": {
                "strict_required_status_checks_policy": p.strict,
                "do_not_enforce_on_create": false,
                "required_status_checks": p
                    .required_checks
                    .iter()
                    .map(|c| json!({"context": c}))
                    .collect::<Vec<_>>()
            }
        }));
    }
    paginate(&st.web, req, rules, false)
}

fn create_review(
    st: &mut State,
    p: &Principal,
    write: bool,
    req: &Req,
    full: &str,
    number: u64,
) -> Resp {
    let body = match body_json(req) {
        Ok(b) => b,
        Err(resp) => return resp,
    };
    let state = match str_field(&body, "event") {
        Some("APPROVE") => "APPROVED",
        Some("REQUEST_CHANGES") => "CHANGES_REQUESTED",
        Some("COMMENT") => "COMMENTED",
        None | Some("") => "PENDING",
        Some(_) => {
            return validation_failed(
                &json!([{"resource": "PullRequestReview", "code": "invalid", "field": "event"}]),
            );
        }
    };
    let Some(cr) = st.repos.get(full).and_then(|r| r.cr(number)) else {
        return not_found();
    };
    if cr.author == p.login() {
        match state {
            "APPROVED" => return unprocessable(&["Can not approve your own pull request"]),
            "CHANGES_REQUESTED" => {
                return unprocessable(&["Can not request changes on your own pull request"]);
            }
            _ => {}
        }
    }
    let text = str_field(&body, "body").unwrap_or_default().to_owned();
    if matches!(state, "CHANGES_REQUESTED" | "COMMENTED") && text.is_empty() {
        return unprocessable(&["Review Body can't be blank"]);
    }
    let commit_id =
        str_field(&body, "commit_id").map_or_else(|| cr.head_sha.clone(), str::to_owned);
    let id = st.next_id();
    let review = Review {
        id,
        user: p.login().to_owned(),
        state: state.to_owned(),
        commit_id,
        body: text,
        submitted_at: util::now_millis(),
        can_write: write,
    };
    let v = review_json(st, full, number, &review);
    if let Some(cr) = st.repos.get_mut(full).and_then(|r| r.cr_mut(number)) {
        cr.reviewers.retain(|r| *r != review.user);
        cr.reviews.push(review);
    }
    st.sweep_auto_merge(full);
    Resp::json(200, &v)
}

fn merge_pull(
    st: &mut State,
    p: &Principal,
    access: Access,
    req: &Req,
    full: &str,
    number: u64,
) -> Resp {
    let body = match body_json(req) {
        Ok(b) => b,
        Err(resp) => return resp,
    };
    let method = str_field(&body, "merge_method")
        .unwrap_or("merge")
        .to_owned();
    if !matches!(method.as_str(), "merge" | "squash" | "rebase") {
        return validation_failed(
            &json!([{"resource": "PullRequest", "code": "invalid", "field": "merge_method"}]),
        );
    }
    let assessment = st.assess(full, number);
    let Some(cr) = st.repos.get(full).and_then(|r| r.cr(number)) else {
        return not_found();
    };
    if cr.state != CrState::Open {
        return error(405, "Pull Request is not mergeable");
    }
    if let Some(sha) = str_field(&body, "sha")
        && sha != cr.head_sha
    {
        return error(
            409,
            "Head branch was modified. Review and try the merge again.",
        );
    }
    let Some(a) = assessment else {
        return error(405, "Pull Request is not mergeable");
    };
    if a.protection.merge_requires_admin && access < Access::Admin {
        return error(
            405,
            "You're not authorized to push to this branch. Visit https://docs.github.com/repositories/configuring-branches-and-merges-in-your-repository/managing-protected-branches/about-protected-branches for more information.",
        );
    }
    if let Some(message) = github_merge_refusal(cr, &a) {
        return error(405, &message);
    }
    let style = MergeStyle::GitHub {
        method,
        title: str_field(&body, "commit_title").map(str::to_owned),
        message: str_field(&body, "commit_message").map(str::to_owned),
    };
    match st.perform_merge(full, number, &style, p.login()) {
        Ok(sha) => Resp::json(
            200,
            &json!({"sha": sha, "merged": true, "message": "Pull Request successfully merged"}),
        ),
        Err(MergeError::Conflict | MergeError::NoBase) => {
            error(405, "Pull Request is not mergeable")
        }
        Err(MergeError::BaseMoved) => error(
            405,
            "Base branch was modified. Review and try the merge again.",
        ),
        Err(MergeError::Git(e)) => error(500, &format!("merge failed: {e}")),
    }
}

/// `POST /api/graphql`: the `enablePullRequestAutoMerge` mutation (and `disable…`); anything
/// else is answered with a GraphQL error.
pub fn graphql(st: &mut State, p: &Principal, req: &Req) -> Resp {
    if req.method != "POST" {
        return not_found();
    }
    let Principal::Token { .. } = p else {
        return error(401, "Bad credentials");
    };
    let Ok(body) = serde_json::from_slice::<Value>(&req.body) else {
        return Resp::json(
            200,
            &json!({"errors": [{"message": "Problems parsing JSON"}]}),
        );
    };
    let query = body
        .get("query")
        .and_then(Value::as_str)
        .unwrap_or_default();
    let variables = body.get("variables").cloned().unwrap_or(Value::Null);
    let field = if query.contains("enablePullRequestAutoMerge") {
        "enablePullRequestAutoMerge"
    } else if query.contains("disablePullRequestAutoMerge") {
        "disablePullRequestAutoMerge"
    } else {
        return Resp::json(
            200,
            &json!({"errors": [{
                "message": "This fake GitHub GraphQL endpoint only knows the enablePullRequestAutoMerge and disablePullRequestAutoMerge mutations",
                "locations": [{"line": 1, "column": 1}]
            }]}),
        );
    };
    let fail = |kind: &str, message: &str| {
        Resp::json(
            200,
            &json!({
                "data": {field: null},
                "errors": [{
                    "type": kind,
                    "path": [field],
                    "locations": [{"line": 2, "column": 3}],
                    "message": message
                }]
            }),
        )
    };
    let Some(pr_id) = graphql_arg(query, &variables, "pullRequestId") else {
        return fail(
            "INVALID_ARGUMENTS",
            "Argument 'pullRequestId' on InputObject is required",
        );
    };
    let found = st.repos.values().find_map(|r| {
        r.crs
            .iter()
            .find(|c| node_id(c) == pr_id)
            .map(|c| (r.full.clone(), c.number))
    });
    let Some((full, number)) = found else {
        return fail(
            "NOT_FOUND",
            &format!("Could not resolve to a node with the global id of '{pr_id}'."),
        );
    };
    match p.access_to(&full) {
        None => {
            return fail(
                "NOT_FOUND",
                &format!("Could not resolve to a node with the global id of '{pr_id}'."),
            );
        }
        Some(a) if a < Access::Write => {
            let verb = if field.starts_with("enable") {
                "Enable"
            } else {
                "Disable"
            };
            return fail(
                "FORBIDDEN",
                &format!(
                    "{} does not have the correct permissions to execute `{verb}PullRequestAutoMerge`",
                    p.login()
                ),
            );
        }
        Some(_) => {}
    }
    let assessment = st.assess(&full, number);
    let Some(repo) = st.repos.get(&full) else {
        return fail("NOT_FOUND", "repository gone");
    };
    let Some(cr) = repo.cr(number) else {
        return fail("NOT_FOUND", "pull request gone");
    };
    if field == "disablePullRequestAutoMerge" {
        if let Some(cr) = st.repos.get_mut(&full).and_then(|r| r.cr_mut(number)) {
            cr.auto_merge = None;
        }
        return Resp::json(
            200,
            &json!({"data": {field: {"clientMutationId": null, "pullRequest": {
                "id": pr_id, "number": number, "autoMergeRequest": null
            }}}}),
        );
    }
    if !repo.allow_auto_merge {
        return fail(
            "UNPROCESSABLE",
            "Auto merge is not allowed for this repository",
        );
    }
    if cr.state != CrState::Open {
        return fail(
            "UNPROCESSABLE",
            "Pull request is not in the correct state to enable auto-merge",
        );
    }
    if let Some(expected) = graphql_arg(query, &variables, "expectedHeadOid")
        && expected != cr.head_sha
    {
        return fail(
            "UNPROCESSABLE",
            "The expected head OID does not match the head of the pull request",
        );
    }
    let state = assessment
        .as_ref()
        .map_or("unknown", |a| github_mergeability(cr, a).1);
    if state == "clean" {
        return fail(
            "UNPROCESSABLE",
            "Pull request Pull request is in clean status",
        );
    }
    let method =
        graphql_arg(query, &variables, "mergeMethod").unwrap_or_else(|| "MERGE".to_owned());
    if !matches!(method.as_str(), "MERGE" | "SQUASH" | "REBASE") {
        return fail(
            "INVALID_ARGUMENTS",
            &format!("Argument 'mergeMethod' on InputObject has an invalid value ({method})."),
        );
    }
    let now = util::now_millis();
    let auto = AutoMerge {
        forge: Forge::GitHub,
        method: method.clone(),
        enabled_by: p.login().to_owned(),
        enabled_at: now,
        commit_title: graphql_arg(query, &variables, "commitHeadline"),
        commit_message: graphql_arg(query, &variables, "commitBody"),
        squash: method == "SQUASH",
        remove_source_branch: false,
    };
    let url = format!("{}/{full}/pull/{number}", st.web);
    if let Some(cr) = st.repos.get_mut(&full).and_then(|r| r.cr_mut(number)) {
        cr.auto_merge = Some(auto);
        cr.updated = now;
    }
    let enabled_by = user_json(st, p.login());
    // Requirements may already be met but for a running check: GitHub merges as soon as they are.
    st.sweep_auto_merge(&full);
    Resp::json(
        200,
        &json!({"data": {field: {
            "clientMutationId": null,
            "pullRequest": {
                "id": pr_id,
                "number": number,
                "url": url,
                "state": "OPEN",
                "autoMergeRequest": {
                    "enabledAt": util::iso_seconds(now),
                    "mergeMethod": method,
                    "enabledBy": {"login": enabled_by["login"]}
                }
            }
        }}}),
    )
}

/// The value of argument `name` of the mutation's input: from `variables` (the `input`
/// object, or top-level), or written in the query (`name: "value"`, `name: ENUM`, or
/// `name: $var`).
fn graphql_arg(query: &str, variables: &Value, name: &str) -> Option<String> {
    let as_text = |v: &Value| match v {
        Value::String(s) => Some(s.clone()),
        Value::Null => None,
        other => Some(other.to_string()),
    };
    if let Some(v) = variables
        .get("input")
        .and_then(|i| i.get(name))
        .or_else(|| variables.get(name))
    {
        return as_text(v);
    }
    let mut rest = query;
    while let Some(pos) = rest.find(name) {
        let after = &rest[pos + name.len()..];
        let before_ok = rest[..pos]
            .chars()
            .next_back()
            .is_none_or(|c| !c.is_alphanumeric() && c != '$' && c != '_');
        if before_ok && let Some(after) = after.trim_start().strip_prefix(':') {
            let after = after.trim_start();
            if let Some(quoted) = after.strip_prefix('"') {
                return quoted.split('"').next().map(str::to_owned);
            }
            let word: String = after
                .chars()
                .take_while(|c| c.is_alphanumeric() || *c == '_' || *c == '$')
                .collect();
            if let Some(var) = word.strip_prefix('$') {
                return variables.get(var).and_then(as_text);
            }
            if !word.is_empty() {
                return Some(word);
            }
        }
        rest = &rest[pos + name.len()..];
    }
    None
}
