//! Self-tests of the fake GitHub + GitLab server (`support::forge`): auth, the change-request
//! life cycles on both forges with real merges on the bare repositories, pagination, faults,
//! GitHub App tokens that push, and auto-merge.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use serde_json::{Value, json};

use crate::support::forge::client::{self, HttpResponse};
use crate::support::forge::{
    APP_PRIVATE_KEY_PEM, APP_PUBLIC_KEY_PEM, Access, CheckRun, CrState, Fault, FaultRule,
    ForgeServer, Protection, app_jwt,
};
use crate::support::git_http::GitServer;
use crate::support::remote;

/// alice: writes, opens the change requests.
const ALICE: &str = "alice-token-3f9a";
/// bob: writes, reviews.
const BOB: &str = "bob-token-8c21";
/// carol: reads only.
const CAROL: &str = "carol-token-51de";
/// dave: admin.
const DAVE: &str = "dave-token-0b7e";

/// Two bare repositories (`acme/env` with `main` and `feature`, `acme/other`), a git server and
/// a forge over them, with alice, bob, carol and dave.
struct World {
    // Fields drop in order: the servers stop before their directory goes.
    forge: ForgeServer,
    git: GitServer,
    dir: PathBuf,
    repo: PathBuf,
    _dir: tempfile::TempDir,
}

fn world() -> World {
    let dir = tempfile::tempdir().expect("temp dir");
    let root = dir.path().join("repos");
    let acme = root.join("acme");
    std::fs::create_dir_all(&acme).expect("mkdir");
    let repo = remote::bare_repo(
        &acme,
        "env.git",
        "main",
        &[
            ("envs/staging/app.yaml", b"image: web:v1\n"),
            ("README.md", b"environments\n"),
        ],
    );
    remote::bare_repo(&acme, "other.git", "main", &[("README.md", b"other\n")]);
    branch_from(&repo, "feature", "main");
    remote::commit_files(
        &repo,
        "feature",
        &[("envs/staging/app.yaml", Some(b"image: web:v2\n"))],
        "staging: web v2",
    );
    let git = GitServer::start(&root);
    let forge = ForgeServer::start(&git);
    forge.add_token(ALICE, "alice", Access::Write);
    forge.add_token(BOB, "bob", Access::Write);
    forge.add_token(CAROL, "carol", Access::Read);
    forge.add_token(DAVE, "dave", Access::Admin);
    World {
        forge,
        git,
        dir: dir.path().to_path_buf(),
        repo,
        _dir: dir,
    }
}

fn branch_from(repo: &Path, branch: &str, from: &str) {
    remote::git(repo, &["branch", branch, from]);
}

fn tip(repo: &Path, branch: &str) -> String {
    remote::branch_tip(repo, branch).expect("branch exists")
}

fn now() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_secs()).unwrap_or(0))
}

impl World {
    /// A GitHub REST call with `Authorization: Bearer <token>` (a JSON body when given).
    fn gh(&self, method: &str, path: &str, token: &str, body: Option<Value>) -> HttpResponse {
        let url = format!("{}{path}", self.forge.github_api_url());
        let auth = format!("Bearer {token}");
        let headers = [("authorization", auth.as_str())];
        match body {
            Some(b) => client::send_json(method, &url, &headers, &b),
            None => client::request(method, &url, &headers, None),
        }
        .unwrap_or_else(|e| panic!("{method} {url}: {e}"))
    }

    /// A GitLab call with `PRIVATE-TOKEN`, parameters form-encoded as the `gitlab` crate
    /// sends them (in the query for GET).
    fn gl(&self, method: &str, path: &str, token: &str, params: &[(&str, &str)]) -> HttpResponse {
        let url = format!("{}{path}", self.forge.gitlab_api_url());
        let headers = [("private-token", token)];
        if method == "GET" {
            client::request(method, &url, &headers, None)
        } else {
            client::send_form(method, &url, &headers, params)
        }
        .unwrap_or_else(|e| panic!("{method} {url}: {e}"))
    }

    fn open_pull(&self, head: &str, base: &str, title: &str) -> Value {
        let r = self.gh(
            "POST",
            "/repos/acme/env/pulls",
            ALICE,
            Some(json!({"title": title, "head": format!("acme:{head}"), "base": base, "body": ""})),
        );
        assert_eq!(r.status, 201, "{}", r.text());
        r.json()
    }

    fn open_mr(&self, source: &str, target: &str, title: &str) -> Value {
        let r = self.gl(
            "POST",
            "/projects/acme%2Fenv/merge_requests",
            ALICE,
            &[
                ("source_branch", source),
                ("target_branch", target),
                ("title", title),
            ],
        );
        assert_eq!(r.status, 201, "{}", r.text());
        r.json()
    }

    /// A branch off `main` with one commit writing `path`.
    fn branch_with(&self, branch: &str, path: &str, text: &str) -> String {
        branch_from(&self.repo, branch, "main");
        remote::commit_files(&self.repo, branch, &[(path, Some(text.as_bytes()))], branch)
    }
}

#[test]
fn github_tokens_are_enforced() {
    let w = world();
    assert_eq!(
        w.forge.github_api_url(),
        format!("{}/api/v3", w.forge.web_url())
    );
    assert_eq!(
        w.forge.github_graphql_url(),
        format!("{}/api/graphql", w.forge.web_url())
    );

    let r = w.gh("GET", "/repos/acme/env", "no-such-token", None);
    assert_eq!(r.status, 401);
    assert_eq!(r.json()["message"], "Bad credentials");
    assert_eq!(
        r.header("content-type"),
        Some("application/json; charset=utf-8")
    );
    assert!(r.header("x-github-request-id").is_some());
    assert!(r.header("x-ratelimit-remaining").is_some());

    let url = format!("{}/repos/acme/env", w.forge.github_api_url());
    let anonymous = client::request("GET", &url, &[], None).expect("request");
    assert_eq!(anonymous.status, 401);
    let old_style = client::request(
        "GET",
        &url,
        &[("authorization", &format!("token {BOB}"))],
        None,
    )
    .expect("request");
    assert_eq!(old_style.status, 200);

    w.forge.add_token("expiring", "erin", Access::Write);
    assert_eq!(w.gh("GET", "/repos/acme/env", "expiring", None).status, 200);
    w.forge.expire_token("expiring");
    assert_eq!(w.gh("GET", "/repos/acme/env", "expiring", None).status, 401);

    w.forge
        .add_scoped_token("scoped", "frank", Access::Write, &["acme/other"]);
    let hidden = w.gh("GET", "/repos/acme/env", "scoped", None);
    assert_eq!(hidden.status, 404);
    assert_eq!(hidden.json()["message"], "Not Found");
    assert_eq!(w.gh("GET", "/repos/acme/other", "scoped", None).status, 200);
    assert_eq!(w.gh("GET", "/repos/acme/missing", BOB, None).status, 404);

    let repo = w.gh("GET", "/repos/acme/env", CAROL, None);
    assert_eq!(repo.status, 200);
    let repo = repo.json();
    assert_eq!(repo["full_name"], "acme/env");
    assert_eq!(repo["default_branch"], "main");
    assert_eq!(repo["permissions"]["push"], false);
    assert_eq!(repo["permissions"]["pull"], true);
    let refused = w.gh(
        "POST",
        "/repos/acme/env/pulls",
        CAROL,
        Some(json!({"title": "t", "head": "acme:feature", "base": "main"})),
    );
    assert_eq!(refused.status, 403);
    assert_eq!(
        refused.json()["message"],
        "Resource not accessible by personal access token"
    );
    assert!(w.forge.change_requests("acme/env").is_empty());
}

#[test]
fn gitlab_tokens_are_enforced() {
    let w = world();
    let url = format!("{}/user", w.forge.gitlab_api_url());
    let anonymous = client::request("GET", &url, &[], None).expect("request");
    assert_eq!(anonymous.status, 401);
    assert_eq!(anonymous.json()["message"], "401 Unauthorized");
    let me = w.gl("GET", "/user", BOB, &[]);
    assert_eq!(me.status, 200);
    assert_eq!(me.json()["username"], "bob");
    let bearer = client::request(
        "GET",
        &url,
        &[("authorization", &format!("Bearer {BOB}"))],
        None,
    )
    .expect("request");
    assert_eq!(bearer.status, 200);

    let project = w.gl("GET", "/projects/acme%2Fenv", CAROL, &[]);
    assert_eq!(project.status, 200);
    let project = project.json();
    assert_eq!(project["path_with_namespace"], "acme/env");
    let id = w.forge.project_id("acme/env");
    assert_eq!(project["id"], id);
    assert_eq!(
        w.gl("GET", &format!("/projects/{id}"), CAROL, &[]).json()["path_with_namespace"],
        "acme/env"
    );
    let refused = w.gl(
        "POST",
        "/projects/acme%2Fenv/merge_requests",
        CAROL,
        &[
            ("source_branch", "feature"),
            ("target_branch", "main"),
            ("title", "t"),
        ],
    );
    assert_eq!(refused.status, 403);
    assert_eq!(refused.json()["message"], "403 Forbidden");

    w.forge
        .add_scoped_token("scoped", "frank", Access::Write, &["acme/other"]);
    let hidden = w.gl("GET", "/projects/acme%2Fenv", "scoped", &[]);
    assert_eq!(hidden.status, 404);
    assert_eq!(hidden.json()["message"], "404 Project Not Found");

    // CI job tokens: `GET /job`, reading merge requests of their own project, nothing more.
    let job_id = w.forge.add_job_token("job-token", "alice", "acme/env");
    let job_headers = [("job-token", "job-token")];
    let base = w.forge.gitlab_api_url();
    let job = client::request("GET", &format!("{base}/job"), &job_headers, None).expect("job");
    assert_eq!(job.status, 200);
    assert_eq!(job.json()["id"], job_id);
    let list = client::request(
        "GET",
        &format!("{base}/projects/acme%2Fenv/merge_requests"),
        &job_headers,
        None,
    )
    .expect("list");
    assert_eq!(list.status, 200);
    let create = client::request(
        "POST",
        &format!("{base}/projects/acme%2Fenv/merge_requests"),
        &job_headers,
        Some(b"source_branch=feature&target_branch=main&title=t"),
    )
    .expect("create");
    assert_eq!(create.status, 401);
    let elsewhere = client::request(
        "GET",
        &format!("{base}/projects/acme%2Fother/merge_requests"),
        &job_headers,
        None,
    )
    .expect("elsewhere");
    assert_eq!(elsewhere.status, 403);
    assert_eq!(w.gl("GET", "/user", "job-token", &[]).status, 401);
}

#[test]
fn github_pull_request_is_blocked_then_merged_for_real() {
    let w = world();
    w.forge.protect(
        "acme/env",
        "main",
        Protection {
            required_approvals: 1,
            required_checks: vec!["ci".to_owned()],
            ..Protection::default()
        },
    );
    let main_before = tip(&w.repo, "main");
    let feature = tip(&w.repo, "feature");

    let pr = w.open_pull("feature", "main", "Bump web to v2");
    assert_eq!(pr["number"], 1);
    assert_eq!(pr["state"], "open");
    assert_eq!(pr["body"], Value::Null);
    assert_eq!(pr["head"]["sha"], feature.as_str());
    assert_eq!(pr["head"]["label"], "acme:feature");
    assert_eq!(pr["base"]["sha"], main_before.as_str());
    assert_eq!(pr["mergeable"], true);
    assert_eq!(pr["mergeable_state"], "blocked");
    assert_eq!(
        pr["html_url"],
        format!("{}/acme/env/pull/1", w.forge.web_url())
    );

    let listed = w.gh(
        "GET",
        "/repos/acme/env/pulls?state=open&head=acme:feature",
        CAROL,
        None,
    );
    assert_eq!(listed.status, 200);
    assert_eq!(listed.json().as_array().map(Vec::len), Some(1));
    let none = w.gh("GET", "/repos/acme/env/pulls?head=acme:nope", CAROL, None);
    assert_eq!(none.json().as_array().map(Vec::len), Some(0));

    let duplicate = w.gh(
        "POST",
        "/repos/acme/env/pulls",
        ALICE,
        Some(json!({"title": "again", "head": "feature", "base": "main"})),
    );
    assert_eq!(duplicate.status, 422);
    assert_eq!(duplicate.json()["message"], "Validation Failed");
    assert_eq!(
        duplicate.json()["errors"][0]["message"],
        "A pull request already exists for acme:feature."
    );
    let no_head = w.gh(
        "POST",
        "/repos/acme/env/pulls",
        ALICE,
        Some(json!({"title": "t", "head": "acme:nope", "base": "main"})),
    );
    assert_eq!(no_head.status, 422);
    assert_eq!(no_head.json()["errors"][0]["field"], "head");
    assert_eq!(no_head.json()["errors"][0]["code"], "invalid");

    let rules = w
        .gh("GET", "/repos/acme/env/rules/branches/main", CAROL, None)
        .json();
    assert_eq!(rules[0]["type"], "pull_request");
    assert_eq!(rules[0]["parameters"]["required_approving_review_count"], 1);
    assert_eq!(rules[1]["type"], "required_status_checks");
    assert_eq!(
        rules[1]["parameters"]["required_status_checks"][0]["context"],
        "ci"
    );
    assert_eq!(
        w.gh("GET", "/repos/acme/env/rules/branches/feature", CAROL, None)
            .json(),
        json!([])
    );

    let merge = |sha: &str| {
        w.gh(
            "PUT",
            "/repos/acme/env/pulls/1/merge",
            ALICE,
            Some(json!({"merge_method": "merge", "sha": sha})),
        )
    };
    let blocked = merge(&feature);
    assert_eq!(blocked.status, 405);
    assert_eq!(
        blocked.json()["message"],
        "At least 1 approving review is required by reviewers with write access."
    );

    let own = w.gh(
        "POST",
        "/repos/acme/env/pulls/1/reviews",
        ALICE,
        Some(json!({"event": "APPROVE"})),
    );
    assert_eq!(own.status, 422);
    assert_eq!(
        own.json()["errors"][0],
        "Can not approve your own pull request"
    );
    assert_eq!(w.forge.approve_github("acme/env", 1, BOB), 200);
    let reviews = w
        .gh("GET", "/repos/acme/env/pulls/1/reviews", CAROL, None)
        .json();
    assert_eq!(reviews[0]["state"], "APPROVED");
    assert_eq!(reviews[0]["user"]["login"], "bob");
    assert_eq!(reviews[0]["commit_id"], feature.as_str());

    let blocked = merge(&feature);
    assert_eq!(blocked.status, 405);
    assert_eq!(
        blocked.json()["message"],
        "Required status check \"ci\" is expected."
    );
    let status = w.gh(
        "POST",
        &format!("/repos/acme/env/statuses/{feature}"),
        ALICE,
        Some(json!({"state": "success", "context": "ci", "target_url": "http://ci/1"})),
    );
    assert_eq!(status.status, 201);
    let combined = w
        .gh("GET", "/repos/acme/env/commits/feature/status", CAROL, None)
        .json();
    assert_eq!(combined["state"], "success");
    assert_eq!(combined["sha"], feature.as_str());
    assert_eq!(combined["statuses"][0]["context"], "ci");
    let bad_state = w.gh(
        "POST",
        &format!("/repos/acme/env/statuses/{feature}"),
        ALICE,
        Some(json!({"state": "green"})),
    );
    assert_eq!(bad_state.status, 422);

    let pr = w.gh("GET", "/repos/acme/env/pulls/1", CAROL, None).json();
    assert_eq!(pr["mergeable_state"], "clean");
    let stale = merge(&"0".repeat(40));
    assert_eq!(stale.status, 409);
    assert_eq!(
        stale.json()["message"],
        "Head branch was modified. Review and try the merge again."
    );
    assert_eq!(
        w.gh(
            "PUT",
            "/repos/acme/env/pulls/1/merge",
            CAROL,
            Some(json!({}))
        )
        .status,
        403
    );

    let merged = merge(&feature);
    assert_eq!(merged.status, 200, "{}", merged.text());
    let merged = merged.json();
    assert_eq!(merged["merged"], true);
    assert_eq!(merged["message"], "Pull Request successfully merged");
    let sha = merged["sha"].as_str().expect("sha").to_owned();

    let log = remote::log(&w.repo, "main");
    let commit = &log[0];
    assert_eq!(commit.oid, sha);
    assert_eq!(commit.parents, vec![main_before.clone(), feature.clone()]);
    assert_eq!(
        commit.message,
        "Merge pull request #1 from acme/feature\n\nBump web to v2\n"
    );
    assert!(commit.committer.starts_with("GitHub <noreply@github.com>"));
    assert!(commit.author.starts_with("alice <"));
    assert_eq!(
        remote::read_branch(&w.repo, "main")["envs/staging/app.yaml"],
        b"image: web:v2\n"
    );

    let pr = w.gh("GET", "/repos/acme/env/pulls/1", CAROL, None).json();
    assert_eq!(pr["state"], "closed");
    assert_eq!(pr["merged"], true);
    assert_eq!(pr["merge_commit_sha"], sha.as_str());
    assert_eq!(pr["merged_by"]["login"], "alice");
    assert_eq!(merge(&feature).status, 405);
    assert_eq!(
        w.gh("GET", "/repos/acme/env/pulls/1/merge", CAROL, None)
            .status,
        204
    );
    let snapshot = &w.forge.change_requests("acme/env")[0];
    assert_eq!(snapshot.state, CrState::Merged);
    assert_eq!(snapshot.merge_method.as_deref(), Some("merge"));
    assert_eq!(snapshot.approved_by, vec!["bob".to_owned()]);
    assert_eq!(
        w.gh("GET", "/repos/acme/env/pulls?state=open", CAROL, None)
            .json()
            .as_array()
            .map(Vec::len),
        Some(0)
    );
}

#[test]
fn github_mergeability_follows_the_repository() {
    let w = world();
    // main and `clash` change the same line: dirty.
    remote::commit_files(
        &w.repo,
        "main",
        &[("envs/staging/app.yaml", Some(b"image: web:v9\n"))],
        "hotfix",
    );
    let pr = w.open_pull("feature", "main", "conflicting");
    assert_eq!(pr["mergeable"], false);
    assert_eq!(pr["mergeable_state"], "dirty");
    let refused = w.gh(
        "PUT",
        "/repos/acme/env/pulls/1/merge",
        ALICE,
        Some(json!({})),
    );
    assert_eq!(refused.status, 405);
    assert_eq!(refused.json()["message"], "Pull Request is not mergeable");

    // A failing check nobody requires: unstable, still mergeable.
    let head = w.branch_with("docs", "docs/readme.md", "hello\n");
    let pr = w.open_pull("docs", "main", "docs");
    assert_eq!(pr["mergeable_state"], "clean");
    let number = pr["number"].as_u64().expect("number");
    w.forge.add_check_run(
        "acme/env",
        &head,
        CheckRun {
            name: "lint".to_owned(),
            status: "completed".to_owned(),
            conclusion: Some("failure".to_owned()),
            html_url: None,
        },
    );
    let runs = w
        .gh(
            "GET",
            &format!("/repos/acme/env/commits/{head}/check-runs"),
            CAROL,
            None,
        )
        .json();
    assert_eq!(runs["total_count"], 1);
    assert_eq!(runs["check_runs"][0]["conclusion"], "failure");
    let pr = w
        .gh(
            "GET",
            &format!("/repos/acme/env/pulls/{number}"),
            CAROL,
            None,
        )
        .json();
    assert_eq!(pr["mergeable_state"], "unstable");

    // The head moves with its branch; a draft says so.
    let moved = remote::commit_files(&w.repo, "docs", &[("docs/more.md", Some(b"x\n"))], "more");
    let pr = w
        .gh(
            "GET",
            &format!("/repos/acme/env/pulls/{number}"),
            CAROL,
            None,
        )
        .json();
    assert_eq!(pr["head"]["sha"], moved.as_str());
    assert_eq!(pr["mergeable_state"], "clean");
    let draft = w.branch_with("wip", "wip.md", "wip\n");
    let r = w.gh(
        "POST",
        "/repos/acme/env/pulls",
        ALICE,
        Some(json!({"title": "wip", "head": "wip", "base": "main", "draft": true})),
    );
    assert_eq!(r.status, 201);
    assert_eq!(r.json()["mergeable_state"], "draft");
    assert_eq!(r.json()["head"]["sha"], draft.as_str());
}

#[test]
fn github_labels_assignees_reviewers_and_comments() {
    let w = world();
    w.forge.add_user("bob");
    w.open_pull("feature", "main", "Bump");

    let labels = w.gh(
        "POST",
        "/repos/acme/env/issues/1/labels",
        ALICE,
        Some(json!({"labels": ["ferry", "staging"]})),
    );
    assert_eq!(labels.status, 200);
    let names: Vec<String> = labels
        .json()
        .as_array()
        .expect("array")
        .iter()
        .filter_map(|l| l["name"].as_str().map(str::to_owned))
        .collect();
    assert_eq!(names, ["ferry", "staging"]);

    let assigned = w.gh(
        "POST",
        "/repos/acme/env/issues/1/assignees",
        ALICE,
        Some(json!({"assignees": ["bob", "nobody-knows-me"]})),
    );
    assert_eq!(assigned.status, 201);
    assert_eq!(assigned.json()["assignees"][0]["login"], "bob");
    assert_eq!(
        assigned.json()["assignees"].as_array().map(Vec::len),
        Some(1)
    );

    let own = w.gh(
        "POST",
        "/repos/acme/env/pulls/1/requested_reviewers",
        ALICE,
        Some(json!({"reviewers": ["alice"]})),
    );
    assert_eq!(own.status, 422);
    assert_eq!(
        own.json()["message"],
        "Review cannot be requested from pull request author."
    );
    let unknown = w.gh(
        "POST",
        "/repos/acme/env/pulls/1/requested_reviewers",
        ALICE,
        Some(json!({"reviewers": ["ghost"]})),
    );
    assert_eq!(unknown.status, 422);
    let requested = w.gh(
        "POST",
        "/repos/acme/env/pulls/1/requested_reviewers",
        ALICE,
        Some(json!({"reviewers": ["bob"]})),
    );
    assert_eq!(requested.status, 201);
    assert_eq!(requested.json()["requested_reviewers"][0]["login"], "bob");

    let comment = w.gh(
        "POST",
        "/repos/acme/env/issues/1/comments",
        ALICE,
        Some(json!({"body": "plan: 1 change"})),
    );
    assert_eq!(comment.status, 201);
    let id = comment.json()["id"].as_u64().expect("id");
    let edited = w.gh(
        "PATCH",
        &format!("/repos/acme/env/issues/comments/{id}"),
        ALICE,
        Some(json!({"body": "plan: 2 changes"})),
    );
    assert_eq!(edited.status, 200);
    let listed = w
        .gh("GET", "/repos/acme/env/issues/1/comments", CAROL, None)
        .json();
    assert_eq!(listed[0]["body"], "plan: 2 changes");
    assert_eq!(listed[0]["user"]["login"], "alice");
    let comments = w.forge.comments("acme/env", 1);
    assert_eq!(comments.len(), 1);
    assert_eq!(comments[0].body, "plan: 2 changes");
    assert_eq!(
        w.gh("GET", "/repos/acme/env/issues/9/comments", CAROL, None)
            .status,
        404
    );

    let snapshot = &w.forge.change_requests("acme/env")[0];
    assert_eq!(snapshot.labels, ["ferry", "staging"]);
    assert_eq!(snapshot.assignees, ["bob"]);
    assert_eq!(snapshot.reviewers, ["bob"]);

    let patched = w.gh(
        "PATCH",
        "/repos/acme/env/pulls/1",
        ALICE,
        Some(json!({"title": "Bump web", "body": "new body", "state": "closed"})),
    );
    assert_eq!(patched.status, 200);
    assert_eq!(patched.json()["title"], "Bump web");
    assert_eq!(patched.json()["body"], "new body");
    assert_eq!(patched.json()["state"], "closed");
    assert_eq!(patched.json()["merged"], false);
}

#[test]
fn gitlab_merge_request_needs_approval_and_pipeline_then_merges_for_real() {
    let w = world();
    w.forge.protect(
        "acme/env",
        "main",
        Protection {
            required_approvals: 1,
            pipeline_must_succeed: true,
            ..Protection::default()
        },
    );
    let main_before = tip(&w.repo, "main");
    let feature = tip(&w.repo, "feature");
    let created = w.gl(
        "POST",
        "/projects/acme%2Fenv/merge_requests",
        ALICE,
        &[
            ("source_branch", "feature"),
            ("target_branch", "main"),
            ("title", "Bump web to v2"),
            ("description", "why"),
            ("labels", "ferry,staging"),
            ("remove_source_branch", "true"),
        ],
    );
    assert_eq!(created.status, 201, "{}", created.text());
    let mr = created.json();
    assert_eq!(mr["iid"], 1);
    assert_eq!(mr["state"], "opened");
    assert_eq!(mr["sha"], feature.as_str());
    assert_eq!(mr["labels"], json!(["ferry", "staging"]));
    assert_eq!(mr["detailed_merge_status"], "not_approved");
    assert_eq!(
        mr["web_url"],
        format!("{}/acme/env/-/merge_requests/1", w.forge.web_url())
    );

    let duplicate = w.gl(
        "POST",
        "/projects/acme%2Fenv/merge_requests",
        ALICE,
        &[
            ("source_branch", "feature"),
            ("target_branch", "main"),
            ("title", "again"),
        ],
    );
    assert_eq!(duplicate.status, 409);
    assert_eq!(
        duplicate.json()["message"][0],
        "Another open merge request already exists for this source branch: !1"
    );
    let missing = w.gl(
        "POST",
        "/projects/acme%2Fenv/merge_requests",
        ALICE,
        &[
            ("source_branch", "nope"),
            ("target_branch", "main"),
            ("title", "t"),
        ],
    );
    assert_eq!(missing.status, 400);
    assert_eq!(
        w.gl("POST", "/projects/acme%2Fenv/merge_requests", ALICE, &[])
            .json()["error"],
        "source_branch is missing, target_branch is missing, title is missing"
    );

    let listed = w.gl(
        "GET",
        "/projects/acme%2Fenv/merge_requests?state=opened&source_branch=feature&labels=ferry",
        CAROL,
        &[],
    );
    assert_eq!(listed.status, 200);
    assert_eq!(listed.header("x-total"), Some("1"));
    assert_eq!(listed.json()[0]["iid"], 1);

    let merge = |params: &[(&str, &str)]| {
        w.gl(
            "PUT",
            "/projects/acme%2Fenv/merge_requests/1/merge",
            ALICE,
            params,
        )
    };
    let refused = merge(&[]);
    assert_eq!(refused.status, 405);
    assert_eq!(refused.json()["message"], "405 Method Not Allowed");

    let own = w.gl(
        "POST",
        "/projects/acme%2Fenv/merge_requests/1/approve",
        ALICE,
        &[],
    );
    assert_eq!(own.status, 401);
    let wrong_sha = w.gl(
        "POST",
        "/projects/acme%2Fenv/merge_requests/1/approve",
        BOB,
        &[("sha", "1234567")],
    );
    assert_eq!(wrong_sha.status, 409);
    assert_eq!(w.forge.approve_gitlab("acme/env", 1, BOB), 201);
    assert_eq!(w.forge.approve_gitlab("acme/env", 1, BOB), 401);
    let approvals = w
        .gl(
            "GET",
            "/projects/acme%2Fenv/merge_requests/1/approvals",
            CAROL,
            &[],
        )
        .json();
    assert_eq!(approvals["approved"], true);
    assert_eq!(approvals["approvals_required"], 1);
    assert_eq!(approvals["approvals_left"], 0);
    assert_eq!(approvals["approved_by"][0]["user"]["username"], "bob");

    let get = || {
        w.gl("GET", "/projects/acme%2Fenv/merge_requests/1", CAROL, &[])
            .json()
    };
    assert_eq!(get()["detailed_merge_status"], "ci_must_pass");
    assert_eq!(get()["head_pipeline"], Value::Null);
    assert_eq!(merge(&[]).status, 405);
    let pipeline = w.forge.set_pipeline("acme/env", &feature, "running");
    let mr = get();
    assert_eq!(mr["detailed_merge_status"], "ci_still_running");
    assert_eq!(mr["head_pipeline"]["id"], pipeline);
    assert_eq!(mr["head_pipeline"]["status"], "running");
    assert_eq!(mr["head_pipeline"]["sha"], feature.as_str());
    assert_eq!(merge(&[]).status, 405);
    assert_eq!(
        w.forge.set_pipeline("acme/env", &feature, "success"),
        pipeline
    );
    assert_eq!(get()["detailed_merge_status"], "mergeable");

    let stale = merge(&[("sha", "0".repeat(40).as_str())]);
    assert_eq!(stale.status, 409);
    assert_eq!(
        stale.json()["message"],
        format!("SHA does not match HEAD of source branch: {feature}")
    );
    let carol = w.gl(
        "PUT",
        "/projects/acme%2Fenv/merge_requests/1/merge",
        CAROL,
        &[],
    );
    assert_eq!(carol.status, 401);

    let merged = merge(&[
        ("sha", feature.as_str()),
        ("should_remove_source_branch", "true"),
    ]);
    assert_eq!(merged.status, 200, "{}", merged.text());
    let mr = merged.json();
    assert_eq!(mr["state"], "merged");
    let sha = mr["merge_commit_sha"]
        .as_str()
        .expect("merge sha")
        .to_owned();
    let commit = &remote::log(&w.repo, "main")[0];
    assert_eq!(commit.oid, sha);
    assert_eq!(commit.parents, vec![main_before, feature]);
    assert_eq!(
        commit.message,
        "Merge branch 'feature' into 'main'\n\nBump web to v2\n\nSee merge request acme/env!1\n"
    );
    assert_eq!(remote::branch_tip(&w.repo, "feature"), None);
    assert_eq!(merge(&[]).status, 405);
    let id = w.forge.project_id("acme/env");
    assert_eq!(
        w.gl(
            "GET",
            &format!("/projects/{id}/merge_requests/1"),
            CAROL,
            &[]
        )
        .json()["state"],
        "merged"
    );
}

#[test]
fn gitlab_merges_when_the_pipeline_succeeds() {
    let w = world();
    w.forge.protect(
        "acme/env",
        "main",
        Protection {
            pipeline_must_succeed: true,
            ..Protection::default()
        },
    );
    let feature = tip(&w.repo, "feature");
    w.open_mr("feature", "main", "Bump");
    let other = w.branch_with("docs", "docs.md", "docs\n");
    w.open_mr("docs", "main", "Docs");

    // No pipeline at all: merge_when_pipeline_succeeds is refused.
    let no_pipeline = w.gl(
        "PUT",
        "/projects/acme%2Fenv/merge_requests/2/merge",
        ALICE,
        &[("merge_when_pipeline_succeeds", "true")],
    );
    assert_eq!(no_pipeline.status, 405);

    w.forge.set_pipeline("acme/env", &feature, "running");
    let scheduled = w.gl(
        "PUT",
        "/projects/acme%2Fenv/merge_requests/1/merge",
        ALICE,
        &[
            ("merge_when_pipeline_succeeds", "true"),
            ("sha", feature.as_str()),
        ],
    );
    assert_eq!(scheduled.status, 200, "{}", scheduled.text());
    assert_eq!(scheduled.json()["state"], "opened");
    assert_eq!(scheduled.json()["merge_when_pipeline_succeeds"], true);
    assert_eq!(
        w.forge.change_requests("acme/env")[0].auto_merge.as_deref(),
        Some("merge_when_pipeline_succeeds")
    );

    w.forge.set_pipeline("acme/env", &feature, "success");
    let snapshot = &w.forge.change_requests("acme/env")[0];
    assert_eq!(snapshot.state, CrState::Merged);
    assert_eq!(
        remote::log(&w.repo, "main")[0].parents[1],
        feature,
        "a real merge commit"
    );

    // Commit statuses join the commit's pipeline: a failed one fails it.
    let status = w.gl(
        "POST",
        &format!("/projects/acme%2Fenv/statuses/{other}"),
        ALICE,
        &[("state", "failed"), ("name", "ferry/plan")],
    );
    assert_eq!(status.status, 201, "{}", status.text());
    assert_eq!(status.json()["status"], "failed");
    let mr = w
        .gl("GET", "/projects/acme%2Fenv/merge_requests/2", CAROL, &[])
        .json();
    assert_eq!(mr["head_pipeline"]["status"], "failed");
    assert_eq!(mr["detailed_merge_status"], "ci_must_pass");
    let statuses = w
        .gl(
            "GET",
            &format!("/projects/acme%2Fenv/repository/commits/{other}/statuses"),
            CAROL,
            &[],
        )
        .json();
    assert_eq!(statuses[0]["name"], "ferry/plan");
    let twice = |state: &str| {
        w.gl(
            "POST",
            &format!("/projects/acme%2Fenv/statuses/{other}"),
            ALICE,
            &[("state", state), ("name", "ferry/apply")],
        )
        .status
    };
    assert_eq!(twice("running"), 201);
    assert_eq!(twice("running"), 400, "GitLab refuses running -> running");
    assert_eq!(w.forge.statuses("acme/env", &other).len(), 2);
}

#[test]
fn gitlab_conflicts_and_edits() {
    let w = world();
    remote::commit_files(
        &w.repo,
        "main",
        &[("envs/staging/app.yaml", Some(b"image: web:v9\n"))],
        "hotfix",
    );
    w.open_mr("feature", "main", "Bump");
    let mr = w
        .gl("GET", "/projects/acme%2Fenv/merge_requests/1", CAROL, &[])
        .json();
    assert_eq!(mr["has_conflicts"], true);
    assert_eq!(mr["merge_status"], "cannot_be_merged");
    assert_eq!(mr["detailed_merge_status"], "conflict");
    assert_eq!(
        w.gl(
            "PUT",
            "/projects/acme%2Fenv/merge_requests/1/merge",
            ALICE,
            &[]
        )
        .status,
        405
    );

    let bob = w.forge.add_user("bob").to_string();
    let edited = w.gl(
        "PUT",
        "/projects/acme%2Fenv/merge_requests/1",
        ALICE,
        &[
            ("title", "Draft: Bump"),
            ("add_labels", "ferry"),
            ("assignee_ids[]", bob.as_str()),
            ("reviewer_ids[]", bob.as_str()),
        ],
    );
    assert_eq!(edited.status, 200, "{}", edited.text());
    let mr = edited.json();
    assert_eq!(mr["draft"], true);
    assert_eq!(mr["detailed_merge_status"], "draft_status");
    assert_eq!(mr["labels"], json!(["ferry"]));
    assert_eq!(mr["assignees"][0]["username"], "bob");
    assert_eq!(mr["reviewers"][0]["username"], "bob");

    let note = w.gl(
        "POST",
        "/projects/acme%2Fenv/merge_requests/1/notes",
        ALICE,
        &[("body", "plan")],
    );
    assert_eq!(note.status, 201);
    let id = note.json()["id"].as_u64().expect("id");
    let updated = w.gl(
        "PUT",
        &format!("/projects/acme%2Fenv/merge_requests/1/notes/{id}"),
        ALICE,
        &[("body", "plan v2")],
    );
    assert_eq!(updated.status, 200);
    let notes = w
        .gl(
            "GET",
            "/projects/acme%2Fenv/merge_requests/1/notes",
            CAROL,
            &[],
        )
        .json();
    assert_eq!(notes[0]["body"], "plan v2");
    assert_eq!(notes[0]["noteable_iid"], 1);

    let users = w.gl("GET", "/users?username=bob", CAROL, &[]).json();
    assert_eq!(users[0]["username"], "bob");
    assert_eq!(
        w.gl("GET", "/users?username=ghost", CAROL, &[]).json(),
        json!([])
    );

    let closed = w.gl(
        "PUT",
        "/projects/acme%2Fenv/merge_requests/1",
        ALICE,
        &[("state_event", "close")],
    );
    assert_eq!(closed.json()["state"], "closed");
    assert_eq!(
        w.gl(
            "GET",
            "/projects/acme%2Fenv/merge_requests?state=opened",
            CAROL,
            &[]
        )
        .json(),
        json!([])
    );
}

#[test]
fn lists_are_paginated_with_link_headers() {
    let w = world();
    for i in 1..=5 {
        w.branch_with(&format!("f{i}"), &format!("f{i}.txt"), "x\n");
        w.open_pull(&format!("f{i}"), "main", &format!("change {i}"));
    }
    let page1 = w.gh("GET", "/repos/acme/env/pulls?per_page=2", CAROL, None);
    assert_eq!(page1.json().as_array().map(Vec::len), Some(2));
    assert_eq!(page1.json()[0]["number"], 5, "newest first");
    let next = page1.link("next").expect("rel=next");
    assert!(next.contains("page=2"), "{next}");
    assert!(next.starts_with(&w.forge.github_api_url()), "{next}");
    assert!(page1.link("last").expect("rel=last").contains("page=3"));
    assert!(page1.link("prev").is_none());

    let auth = format!("Bearer {CAROL}");
    let page2 = client::request("GET", &next, &[("authorization", &auth)], None).expect("page 2");
    assert_eq!(page2.json()[0]["number"], 3);
    assert!(page2.link("prev").is_some());
    assert!(page2.link("first").is_some());
    let page3 = client::request(
        "GET",
        &page2.link("next").expect("next"),
        &[("authorization", &auth)],
        None,
    )
    .expect("page 3");
    assert_eq!(page3.json().as_array().map(Vec::len), Some(1));
    assert!(page3.link("next").is_none());
    let all = w.gh("GET", "/repos/acme/env/pulls?per_page=100", CAROL, None);
    assert_eq!(all.json().as_array().map(Vec::len), Some(5));
    assert!(all.header("link").is_none());

    // The same change requests through GitLab's API.
    let gl1 = w.gl(
        "GET",
        "/projects/acme%2Fenv/merge_requests?per_page=2&state=opened",
        CAROL,
        &[],
    );
    assert_eq!(gl1.header("x-total"), Some("5"));
    assert_eq!(gl1.header("x-total-pages"), Some("3"));
    assert_eq!(gl1.header("x-page"), Some("1"));
    assert_eq!(gl1.header("x-per-page"), Some("2"));
    assert_eq!(gl1.header("x-next-page"), Some("2"));
    assert!(gl1.link("next").expect("next").contains("state=opened"));
    let gl3 = w.gl(
        "GET",
        "/projects/acme%2Fenv/merge_requests?per_page=2&page=3",
        CAROL,
        &[],
    );
    assert_eq!(gl3.header("x-next-page"), Some(""));
    assert_eq!(gl3.json().as_array().map(Vec::len), Some(1));
    assert!(gl3.link("next").is_none());
    assert!(gl3.link("first").is_some());
}

#[test]
fn faults_fire_for_matching_authorized_requests() {
    let w = world();
    // Status: not processed.
    w.forge.inject(FaultRule::new(
        "POST",
        "/repos/acme/env/pulls",
        Fault::Status(502),
    ));
    let body = json!({"title": "t", "head": "feature", "base": "main"});
    let unauthorized = w.gh("POST", "/repos/acme/env/pulls", "wrong", Some(body.clone()));
    assert_eq!(
        unauthorized.status, 401,
        "auth comes first, the fault waits"
    );
    let failed = w.gh("POST", "/repos/acme/env/pulls", ALICE, Some(body.clone()));
    assert_eq!(failed.status, 502);
    assert!(w.forge.change_requests("acme/env").is_empty());
    assert!(w.forge.pending_faults().is_empty());

    // AfterProcessing: the pull request exists, the answer is lost.
    w.forge.inject(FaultRule::new(
        "POST",
        "/pulls",
        Fault::AfterProcessing(502),
    ));
    let lost = w.gh("POST", "/repos/acme/env/pulls", ALICE, Some(body.clone()));
    assert_eq!(lost.status, 502);
    assert_eq!(w.forge.change_requests("acme/env").len(), 1);
    let found = w.gh(
        "GET",
        "/repos/acme/env/pulls?head=acme:feature",
        ALICE,
        None,
    );
    assert_eq!(found.json()[0]["number"], 1);

    // Several times, any method.
    w.forge
        .inject(FaultRule::new("*", "/repos/acme/env/pulls/1", Fault::Status(500)).times(2));
    assert_eq!(
        w.gh("GET", "/repos/acme/env/pulls/1", ALICE, None).status,
        500
    );
    assert_eq!(
        w.gh("GET", "/repos/acme/env/pulls/1", ALICE, None).status,
        500
    );
    assert_eq!(
        w.gh("GET", "/repos/acme/env/pulls/1", ALICE, None).status,
        200
    );

    // Rate limits.
    w.forge.inject(FaultRule::new(
        "GET",
        "/repos/acme/env",
        Fault::RateLimit {
            retry_after_secs: 7,
            secondary: false,
        },
    ));
    let primary = w.gh("GET", "/repos/acme/env", ALICE, None);
    assert_eq!(primary.status, 429);
    assert_eq!(primary.header("retry-after"), Some("7"));
    assert_eq!(primary.header("x-ratelimit-remaining"), Some("0"));
    w.forge.inject(FaultRule::new(
        "GET",
        "/repos/acme/env",
        Fault::RateLimit {
            retry_after_secs: 3,
            secondary: true,
        },
    ));
    let secondary = w.gh("GET", "/repos/acme/env", ALICE, None);
    assert_eq!(secondary.status, 403);
    assert_eq!(secondary.header("retry-after"), Some("3"));
    assert!(
        secondary.json()["message"]
            .as_str()
            .is_some_and(|m| m.contains("secondary rate limit"))
    );
    w.forge.inject(FaultRule::new(
        "GET",
        "/api/v4/projects",
        Fault::RateLimit {
            retry_after_secs: 5,
            secondary: false,
        },
    ));
    let gitlab = w.gl("GET", "/projects/acme%2Fenv", ALICE, &[]);
    assert_eq!(gitlab.status, 429);
    assert_eq!(gitlab.header("retry-after"), Some("5"));
    assert_eq!(gitlab.header("ratelimit-remaining"), Some("0"));

    // Delay: a normal answer, late.
    w.forge.inject(FaultRule::new(
        "GET",
        "/projects/acme%2Fenv",
        Fault::Delay(Duration::from_millis(300)),
    ));
    let started = Instant::now();
    let slow = w.gl("GET", "/projects/acme%2Fenv", ALICE, &[]);
    assert_eq!(slow.status, 200);
    assert!(started.elapsed() >= Duration::from_millis(300));

    let log = w.forge.requests();
    let faulted: Vec<u16> = log
        .iter()
        .filter(|l| l.fault.is_some())
        .map(|l| l.status)
        .collect();
    assert_eq!(faulted, [502, 502, 500, 500, 429, 403, 429, 200]);
    assert!(
        log.iter()
            .any(|l| l.path == "/api/v4/projects/acme%2Fenv" && l.user.as_deref() == Some("alice"))
    );
    let with_query = log
        .iter()
        .find(|l| l.query == "head=acme:feature")
        .expect("query logged apart");
    assert_eq!(with_query.path, "/api/v3/repos/acme/env/pulls");
    w.forge.clear_requests();
    assert!(w.forge.requests().is_empty());

    // A client that does not wait that long times out (the request is then cancelled).
    w.forge.inject(FaultRule::new(
        "GET",
        "/repos/acme/env",
        Fault::Delay(Duration::from_millis(600)),
    ));
    let url = format!("{}/repos/acme/env", w.forge.github_api_url());
    let auth = format!("Bearer {ALICE}");
    let gave_up = client::request_with_timeout(
        "GET",
        &url,
        &[("authorization", &auth)],
        None,
        Duration::from_millis(100),
    );
    assert!(gave_up.is_err(), "{gave_up:?}");
}

#[test]
fn github_app_installation_token_works_for_the_api_and_git() {
    let w = world();
    // The private key is what ferry gets (GitHub hands out PKCS#1 PEM files).
    assert!(APP_PRIVATE_KEY_PEM.starts_with("-----BEGIN RSA PRIVATE KEY-----\n"));
    w.forge
        .register_github_app(4242, APP_PUBLIC_KEY_PEM, 77, &["acme/env"]);
    let jwt = app_jwt(4242, now() - 60, now() + 540);

    let installation = w.gh("GET", "/repos/acme/env/installation", &jwt, None);
    assert_eq!(installation.status, 200, "{}", installation.text());
    assert_eq!(installation.json()["id"], 77);
    assert_eq!(installation.json()["app_id"], 4242);
    assert_eq!(
        w.gh("GET", "/repos/acme/other/installation", &jwt, None)
            .status,
        404
    );
    let minted = w.gh("POST", "/app/installations/77/access_tokens", &jwt, None);
    assert_eq!(minted.status, 201, "{}", minted.text());
    let minted = minted.json();
    let token = minted["token"].as_str().expect("token").to_owned();
    assert!(token.starts_with("ghs_"), "{token}");
    assert!(minted["expires_at"].as_str().is_some());
    assert_eq!(minted["repository_selection"], "selected");
    assert_eq!(minted["permissions"]["contents"], "write");

    assert_eq!(w.gh("GET", "/repos/acme/env", &token, None).status, 200);
    assert_eq!(w.gh("GET", "/repos/acme/other", &token, None).status, 404);
    assert_eq!(
        w.gh("POST", "/app/installations/77/access_tokens", &token, None)
            .status,
        401,
        "an installation token is no JWT"
    );
    let pr = w.gh(
        "POST",
        "/repos/acme/env/pulls",
        &token,
        Some(json!({"title": "from the app", "head": "feature", "base": "main"})),
    );
    assert_eq!(pr.status, 201);
    assert_eq!(pr.json()["user"]["login"], "test-app-4242[bot]");
    assert_eq!(pr.json()["user"]["type"], "Bot");

    // The token pushes through the git server as x-access-token.
    let url = w.git.authed_url("acme/env.git", "x-access-token", &token);
    remote::git(&w.dir, &["clone", "--quiet", &url, "work"]);
    let work = w.dir.join("work");
    std::fs::write(work.join("pushed.txt"), "by the app\n").expect("write");
    remote::git(&work, &["add", "pushed.txt"]);
    remote::git(&work, &["commit", "--quiet", "-m", "app push"]);
    remote::git(
        &work,
        &["push", "--quiet", "origin", "HEAD:refs/heads/app-branch"],
    );
    assert_eq!(
        remote::read_branch(&w.repo, "app-branch")["pushed.txt"],
        b"by the app\n"
    );

    // Bad JWTs.
    let too_long = app_jwt(4242, now(), now() + 3600);
    let r = w.gh(
        "POST",
        "/app/installations/77/access_tokens",
        &too_long,
        None,
    );
    assert_eq!(r.status, 401);
    assert_eq!(
        r.json()["message"],
        "'Expiration time' claim ('exp') is too far in the future"
    );
    let expired = app_jwt(4242, now() - 700, now() - 100);
    assert_eq!(
        w.gh(
            "POST",
            "/app/installations/77/access_tokens",
            &expired,
            None
        )
        .status,
        401
    );
    // One signature character changed (not the last: its low bits are padding).
    let at = jwt.len() - 10;
    let swapped = if &jwt[at..=at] == "A" { "B" } else { "A" };
    let forged = format!("{}{swapped}{}", &jwt[..at], &jwt[at + 1..]);
    let r = w.gh("POST", "/app/installations/77/access_tokens", &forged, None);
    assert_eq!(r.status, 401);
    assert_eq!(r.json()["message"], "A JSON web token could not be decoded");
    let unknown_app = app_jwt(1, now() - 60, now() + 540);
    assert_eq!(
        w.gh("GET", "/repos/acme/env/installation", &unknown_app, None)
            .status,
        401
    );
    let scoped = w.gh(
        "POST",
        "/app/installations/77/access_tokens",
        &jwt,
        Some(json!({"repositories": ["other"]})),
    );
    assert_eq!(scoped.status, 422);
}

#[test]
fn graphql_auto_merge_then_merge_on_approval() {
    let w = world();
    w.forge.protect(
        "acme/env",
        "main",
        Protection {
            required_approvals: 1,
            ..Protection::default()
        },
    );
    let main_before = tip(&w.repo, "main");
    let pr = w.open_pull("feature", "main", "Bump");
    let node_id = pr["node_id"].as_str().expect("node id").to_owned();
    let head = pr["head"]["sha"].as_str().expect("sha").to_owned();
    let mutation = "mutation($input: EnablePullRequestAutoMergeInput!) {\n  enablePullRequestAutoMerge(input: $input) {\n    pullRequest { number autoMergeRequest { enabledAt mergeMethod } }\n  }\n}";
    let enable = |expected: &str, method: &str| {
        client::send_json(
            "POST",
            &w.forge.github_graphql_url(),
            &[("authorization", &format!("Bearer {ALICE}"))],
            &json!({"query": mutation, "variables": {"input": {
                "pullRequestId": node_id, "expectedHeadOid": expected, "mergeMethod": method
            }}}),
        )
        .expect("graphql")
    };

    let refused = enable(&head, "SQUASH");
    assert_eq!(refused.status, 200);
    let refused = refused.json();
    assert_eq!(refused["data"]["enablePullRequestAutoMerge"], Value::Null);
    assert_eq!(refused["errors"][0]["type"], "UNPROCESSABLE");
    assert_eq!(
        refused["errors"][0]["message"],
        "Auto merge is not allowed for this repository"
    );

    w.forge.set_allow_auto_merge("acme/env", true);
    let stale = enable(&"0".repeat(40), "SQUASH").json();
    assert!(stale["errors"][0]["message"].as_str().is_some());
    let enabled = enable(&head, "SQUASH").json();
    assert_eq!(
        enabled["data"]["enablePullRequestAutoMerge"]["pullRequest"]["autoMergeRequest"]["mergeMethod"],
        "SQUASH",
        "{enabled}"
    );
    let pr = w.gh("GET", "/repos/acme/env/pulls/1", CAROL, None).json();
    assert_eq!(pr["auto_merge"]["merge_method"], "squash");
    assert_eq!(pr["auto_merge"]["enabled_by"]["login"], "alice");
    assert_eq!(pr["state"], "open");

    // The approval meets the last requirement: the server merges.
    assert_eq!(w.forge.approve_github("acme/env", 1, BOB), 200);
    let snapshot = &w.forge.change_requests("acme/env")[0];
    assert_eq!(snapshot.state, CrState::Merged);
    assert_eq!(snapshot.merge_method.as_deref(), Some("squash"));
    let commit = &remote::log(&w.repo, "main")[0];
    assert_eq!(commit.parents, vec![main_before], "a squash has one parent");
    assert_eq!(commit.summary(), "Bump (#1)");

    // Already clean: GitHub refuses auto-merge.
    w.branch_with("dev", "dev.txt", "dev\n");
    branch_from(&w.repo, "docs", "dev");
    remote::commit_files(&w.repo, "docs", &[("docs.md", Some(b"d\n"))], "docs");
    let clean = w.open_pull("docs", "dev", "Docs");
    let body = json!({"query": format!(
        "mutation {{ enablePullRequestAutoMerge(input: {{pullRequestId: \"{}\", mergeMethod: MERGE}}) {{ clientMutationId }} }}",
        clean["node_id"].as_str().expect("node id")
    )});
    let r = client::send_json(
        "POST",
        &w.forge.github_graphql_url(),
        &[("authorization", &format!("Bearer {ALICE}"))],
        &body,
    )
    .expect("graphql")
    .json();
    assert_eq!(
        r["errors"][0]["message"],
        "Pull request Pull request is in clean status"
    );
    let unknown = client::send_json(
        "POST",
        &w.forge.github_graphql_url(),
        &[("authorization", &format!("Bearer {ALICE}"))],
        &json!({"query": "{ viewer { login } }"}),
    )
    .expect("graphql");
    assert_eq!(unknown.status, 200);
    assert!(unknown.json()["errors"][0]["message"].as_str().is_some());
}

#[test]
fn server_stops_on_drop() {
    let w = world();
    let addr = w.forge.addr();
    assert_eq!(w.gh("GET", "/repos/acme/env", BOB, None).status, 200);
    let started = Instant::now();
    drop(w.forge);
    assert!(started.elapsed() < Duration::from_secs(5));
    assert!(std::net::TcpStream::connect(addr).is_err());
}

/// Every GitHub object the server answers with is what octocrab (the client ferry uses)
/// expects: its models deserialize them.
#[test]
fn github_objects_fit_octocrab_models() {
    fn fits<T: serde::de::DeserializeOwned>(what: &str, v: &Value) {
        if let Err(e) = serde_json::from_value::<T>(v.clone()) {
            panic!("{what} does not fit octocrab's model: {e}\n{v:#}");
        }
    }
    use octocrab::models;

    let w = world();
    w.forge
        .register_github_app(7, APP_PUBLIC_KEY_PEM, 70, &["acme/env"]);
    let pr = w.open_pull("feature", "main", "Bump");
    fits::<models::pulls::PullRequest>("a pull request", &pr);
    let head = pr["head"]["sha"].as_str().expect("sha").to_owned();
    fits::<Vec<models::pulls::PullRequest>>(
        "a pull request list",
        &w.gh("GET", "/repos/acme/env/pulls", BOB, None).json(),
    );
    fits::<models::Repository>(
        "a repository",
        &w.gh("GET", "/repos/acme/env", BOB, None).json(),
    );
    fits::<models::Author>("a user", &w.gh("GET", "/user", BOB, None).json());
    let review = w.gh(
        "POST",
        "/repos/acme/env/pulls/1/reviews",
        BOB,
        Some(json!({"event": "APPROVE"})),
    );
    fits::<models::pulls::Review>("a review", &review.json());
    fits::<Vec<models::pulls::Review>>(
        "a review list",
        &w.gh("GET", "/repos/acme/env/pulls/1/reviews", BOB, None)
            .json(),
    );
    let labels = w.gh(
        "POST",
        "/repos/acme/env/issues/1/labels",
        ALICE,
        Some(json!({"labels": ["ferry"]})),
    );
    fits::<Vec<models::Label>>("labels", &labels.json());
    let issue = w.gh(
        "POST",
        "/repos/acme/env/issues/1/assignees",
        ALICE,
        Some(json!({"assignees": ["bob"]})),
    );
    fits::<models::issues::Issue>("an issue", &issue.json());
    let comment = w.gh(
        "POST",
        "/repos/acme/env/issues/1/comments",
        ALICE,
        Some(json!({"body": "hello"})),
    );
    fits::<models::issues::Comment>("a comment", &comment.json());
    let status = w.gh(
        "POST",
        &format!("/repos/acme/env/statuses/{head}"),
        ALICE,
        Some(json!({"state": "pending", "context": "ci"})),
    );
    fits::<models::Status>("a status", &status.json());
    fits::<models::CombinedStatus>(
        "a combined status",
        &w.gh(
            "GET",
            &format!("/repos/acme/env/commits/{head}/status"),
            BOB,
            None,
        )
        .json(),
    );
    w.forge.add_check_run(
        "acme/env",
        &head,
        CheckRun {
            name: "build".to_owned(),
            status: "in_progress".to_owned(),
            conclusion: None,
            html_url: None,
        },
    );
    fits::<models::checks::ListCheckRuns>(
        "check runs",
        &w.gh(
            "GET",
            &format!("/repos/acme/env/commits/{head}/check-runs"),
            BOB,
            None,
        )
        .json(),
    );
    let jwt = app_jwt(7, now() - 60, now() + 540);
    fits::<models::Installation>(
        "an installation",
        &w.gh("GET", "/repos/acme/env/installation", &jwt, None)
            .json(),
    );
    fits::<models::InstallationToken>(
        "an installation token",
        &w.gh(
            "POST",
            "/app/installations/70/access_tokens",
            &jwt,
            Some(json!({"repositories": ["env"]})),
        )
        .json(),
    );
    w.forge.set_allow_auto_merge("acme/env", true);
    w.forge.protect(
        "acme/env",
        "main",
        Protection {
            required_checks: vec!["ci".to_owned()],
            ..Protection::default()
        },
    );
    let body = json!({"query": format!(
        "mutation {{ enablePullRequestAutoMerge(input: {{pullRequestId: \"{}\"}}) {{ clientMutationId }} }}",
        pr["node_id"].as_str().expect("node id")
    )});
    let enabled = client::send_json(
        "POST",
        &w.forge.github_graphql_url(),
        &[("authorization", &format!("Bearer {ALICE}"))],
        &body,
    )
    .expect("graphql")
    .json();
    assert!(enabled["errors"].is_null(), "{enabled}");
    let pr = w.gh("GET", "/repos/acme/env/pulls/1", BOB, None).json();
    assert_eq!(pr["auto_merge"]["merge_method"], "merge");
    fits::<models::pulls::PullRequest>("a pull request with auto-merge", &pr);
    let merged = w.gh(
        "PUT",
        "/repos/acme/env/pulls/1/merge",
        ALICE,
        Some(json!({"sha": head})),
    );
    assert_eq!(merged.status, 405, "ci is still pending");
}
