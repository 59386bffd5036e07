//! GitLab as it really answers, on every tier: the approvals answer of GitLab Free and of
//! Premium, approvals GitLab refuses to show, every way GitLab refuses a merge (401, 403, 405,
//! 406, 409, 422), ferry's note written with project and group access tokens (bot users) and
//! by two runs at once, and lists longer than a page. The real `ferry` binary and ferry's
//! library both run against the forge test server (`support::forge`, GitLab side).

use std::process::Output;
use std::time::Duration;

use ferry::forge::{
    CommentAction, Forge, ForgeArgs, ForgeError, ForgeKind, MergeMethod, NewChangeRequest, connect,
    resolve_settings,
};
use ferry::git::RepoUrl;
use secrecy::SecretString;
use serde_json::Value;

use crate::support::forge::{
    Access, Fault, FaultRule, GitLabEvent, GitLabLater, GitLabTier, Protection, client,
};
use crate::support::lab::{ALICE_TOKEN, BOT_TOKEN, Kind, Lab, REPO, code, json_of, text};
use crate::support::remote;

const CONFIG: &str = "\
version: 1
environments:
  production:
    path: envs/production
    update: pull-request
previews:
  ttl: 72h
  url: https://{slug}.preview.example.com
  deploy:
    path: previews/base
";

const KUSTOMIZATION: &str = "\
images:
  - name: ghcr.io/acme/cart
    newTag: 1111111
";

/// The application repository, whose merge requests get previews.
const SHOP: &str = "acme/shop";

/// An environment repository on GitLab with production behind merge requests, and an
/// application repository.
fn new_lab() -> Lab {
    let lab = Lab::new(
        Kind::GitLab,
        &[
            ("ferry.yaml", CONFIG.as_bytes()),
            (
                "envs/production/kustomization.yaml",
                KUSTOMIZATION.as_bytes(),
            ),
            (
                "previews/base/kustomization.yaml",
                b"resources: [deployment.yaml]\n",
            ),
        ],
    );
    lab.add_repo(SHOP, &[("README.md", b"the shop\n")]);
    lab
}

fn run(lab: &Lab, token: Option<&str>, args: &[&str]) -> Output {
    lab.command_as(token)
        .args(args)
        .output()
        .expect("ferry runs")
}

/// Bumps production through a merge request; its number and branch.
fn bump(lab: &Lab, tag: &str) -> (u64, String) {
    let out = run(
        lab,
        Some(BOT_TOKEN),
        &[
            "bump",
            "--env",
            "production",
            "--output",
            "json",
            &format!("ghcr.io/acme/cart={tag}"),
        ],
    );
    assert_eq!(code(&out), 0, "{}", text(&out));
    let json = json_of(&out);
    let cr = &json["change_request"];
    (
        cr["number"].as_u64().expect("number"),
        cr["head_branch"].as_str().expect("branch").to_owned(),
    )
}

/// `ferry merge NUMBER --output json` with `token`.
fn merge(lab: &Lab, token: &str, number: u64) -> Output {
    run(
        lab,
        Some(token),
        &["merge", &number.to_string(), "--output", "json"],
    )
}

/// The one change request of a `ferry merge --output json`.
fn merged_item(out: &Output) -> Value {
    json_of(out)["change_requests"][0].clone()
}

fn missing(item: &Value) -> Vec<String> {
    item["missing"]
        .as_array()
        .expect("missing")
        .iter()
        .map(|m| m.as_str().expect("text").to_owned())
        .collect()
}

/// A GET of the GitLab API as `token`.
fn gl_get(lab: &Lab, path: &str, token: &str) -> client::HttpResponse {
    client::request(
        "GET",
        &format!("{}{path}", lab.forge.gitlab_api_url()),
        &[("private-token", token)],
        None,
    )
    .expect("GitLab answers")
}

/// ferry's library connected to the lab's GitLab for `project`, with `token`.
fn connect_to(lab: &Lab, project: &str, token: &str) -> Box<dyn Forge> {
    let args = ForgeArgs {
        forge: Some(ForgeKind::GitLab),
        api_url: Some(lab.forge.gitlab_api_url()),
        api_timeout: 10,
        ..ForgeArgs::default()
    };
    let (url, _) = RepoUrl::parse(&lab.url(project)).expect("repository URL");
    let mut settings = resolve_settings(
        &args,
        &url,
        Some((SecretString::from(token.to_owned()), false)),
        &|_| None,
    )
    .expect("settings");
    settings.options.backoff = Duration::from_millis(5);
    connect(settings).unwrap_or_else(|err| panic!("connect: {err}"))
}

/// A new commit on `branch` of the bare repository, without moving `branch`: a push someone
/// makes later (see [`GitLabEvent::MoveBranch`]). Returns it.
fn commit_aside(lab: &Lab, branch: &str, path: &str, text: &str) -> String {
    let scratch = format!(
        "scratch/{}",
        remote::branch_tip(&lab.repo, branch).expect("tip")
    );
    remote::git(&lab.repo, &["branch", &scratch, branch]);
    remote::commit_files(
        &lab.repo,
        &scratch,
        &[(path, Some(text.as_bytes()))],
        "a push",
    )
}

/// Once `GET .../approvals` (readiness's last read) has been answered, `event` happens.
fn after_approvals_read(lab: &Lab, event: GitLabEvent) {
    lab.forge.gitlab_later(GitLabLater {
        method: "GET".to_owned(),
        path_contains: "/approvals".to_owned(),
        after: 1,
        event,
    });
}

#[test]
fn approvals_read_on_premium_and_on_free() {
    let lab = new_lab();
    lab.require_approvals(1);

    // Premium: the rule counts; the answer has counts.
    let (number, _) = bump(&lab, "2a2a2a2");
    let answer = gl_get(
        &lab,
        &format!("/projects/acme%2Fenv/merge_requests/{number}/approvals"),
        BOT_TOKEN,
    )
    .json();
    assert_eq!(answer["approvals_required"], 1, "{answer}");
    assert_eq!(answer["approvals_left"], 1, "{answer}");
    assert_eq!(answer["approved"], false, "{answer}");
    let out = merge(&lab, BOT_TOKEN, number);
    assert_eq!(code(&out), 11, "{}", text(&out));
    assert_eq!(missing(&merged_item(&out)), ["approvals 0 of 1"]);
    lab.approve(number);
    let out = merge(&lab, BOT_TOKEN, number);
    assert_eq!(code(&out), 0, "{}", text(&out));
    assert_eq!(merged_item(&out)["status"], "merged");

    // Free: no approval rules, so nothing is required; the answer has no counts, and
    // `approved` only says whether someone approved.
    lab.forge.set_gitlab_tier(REPO, GitLabTier::Free);
    let (number, _) = bump(&lab, "3b3b3b3");
    let path = format!("/projects/acme%2Fenv/merge_requests/{number}/approvals");
    let answer = gl_get(&lab, &path, BOT_TOKEN).json();
    let keys: Vec<&str> = answer
        .as_object()
        .expect("object")
        .keys()
        .map(String::as_str)
        .collect();
    assert_eq!(
        keys,
        [
            "approved",
            "approved_by",
            "user_can_approve",
            "user_has_approved"
        ],
        "{answer}"
    );
    assert_eq!(answer["approved"], false);
    // Someone approving shows in it, and changes nothing else.
    lab.approve(number);
    let answer = gl_get(&lab, &path, BOT_TOKEN).json();
    assert_eq!(answer["approved"], true, "{answer}");
    assert_eq!(answer["approved_by"][0]["user"]["username"], "alice");
    let out = merge(&lab, BOT_TOKEN, number);
    assert_eq!(code(&out), 0, "{}", text(&out));
    assert_eq!(merged_item(&out)["status"], "merged");

    // Free, nobody approved: merges all the same.
    let (number, _) = bump(&lab, "4c4c4c4");
    let out = merge(&lab, BOT_TOKEN, number);
    assert_eq!(code(&out), 0, "{}", text(&out));
    assert_eq!(merged_item(&out)["status"], "merged");
}

#[test]
fn approvals_gitlab_will_not_show_leave_the_merge_status_in_charge() {
    let lab = new_lab();
    lab.require_approvals(1);
    let (number, _) = bump(&lab, "5d5d5d5");
    for status in [403, 404] {
        // An instance without the endpoint, or a role that may not read it.
        lab.forge
            .inject(FaultRule::new("GET", "/approvals", Fault::Status(status)));
        let out = merge(&lab, BOT_TOKEN, number);
        assert_eq!(code(&out), 11, "{status}: {}", text(&out));
        let missing = missing(&merged_item(&out));
        assert_eq!(missing.len(), 1, "{missing:?}");
        assert!(
            missing[0].starts_with("approvals: GitLab requires more (`not_approved`)"),
            "{missing:?}"
        );
        assert!(
            missing[0].contains(&format!(
                "`GET /projects/acme%2Fenv/merge_requests/{number}/approvals` answered {status}"
            )),
            "{missing:?}"
        );
        assert!(text(&out).contains("cannot be read"), "{}", text(&out));
    }
    // Approved: the status says mergeable, which is enough without the counts.
    lab.approve(number);
    lab.forge
        .inject(FaultRule::new("GET", "/approvals", Fault::Status(403)));
    let out = merge(&lab, BOT_TOKEN, number);
    assert_eq!(code(&out), 0, "{}", text(&out));
    assert_eq!(merged_item(&out)["status"], "merged");
}

#[test]
fn a_head_that_moves_before_the_merge_is_reported_and_the_rerun_merges() {
    let lab = new_lab();
    let (number, branch) = bump(&lab, "6e6e6e6");
    let pushed = commit_aside(&lab, &branch, "NOTES.md", "a late push\n");
    after_approvals_read(
        &lab,
        GitLabEvent::MoveBranch {
            repo: REPO.to_owned(),
            branch: branch.clone(),
            sha: pushed.clone(),
        },
    );
    let out = merge(&lab, BOT_TOKEN, number);
    assert_eq!(code(&out), 11, "{}", text(&out));
    let item = merged_item(&out);
    assert_eq!(item["status"], "waiting");
    assert_eq!(
        item["head_sha"],
        pushed.as_str(),
        "the new head is reported"
    );
    let said = missing(&item).join("\n");
    assert!(
        said.contains(&format!(
            "GitLab declined the merge: SHA does not match HEAD of source branch: {pushed}"
        )),
        "{said}"
    );
    assert!(said.contains("hint: the source branch moved"), "{said}");
    assert!(said.contains("rerun `ferry merge`"), "{said}");
    assert_eq!(lab.open().len(), 1, "nothing merged");

    let out = merge(&lab, BOT_TOKEN, number);
    assert_eq!(code(&out), 0, "{}", text(&out));
    assert_eq!(merged_item(&out)["status"], "merged");
    let merge_commit = &remote::log(&lab.repo, "main")[0];
    assert!(merge_commit.parents.contains(&pushed), "{merge_commit:?}");
}

#[test]
fn a_merge_that_fails_after_its_checks_says_why_on_current_and_older_gitlab() {
    for legacy in [false, true] {
        let lab = new_lab();
        lab.forge.set_gitlab_legacy_merge_errors(REPO, legacy);
        let (number, _) = bump(&lab, "7f7f7f7");
        lab.forge.fail_next_gitlab_merge(REPO);
        let out = merge(&lab, BOT_TOKEN, number);
        assert_eq!(code(&out), 11, "{legacy}: {}", text(&out));
        let said = missing(&merged_item(&out)).join("\n");
        assert!(
            said.starts_with("GitLab declined the merge: Branch cannot be merged"),
            "{said}"
        );
        assert!(said.contains("GitLab could not merge the branch"), "{said}");
        let status = if legacy { 406 } else { 422 };
        let refused = lab
            .forge
            .requests()
            .into_iter()
            .filter(|r| r.method == "PUT" && r.path.ends_with("/merge"))
            .map(|r| r.status)
            .collect::<Vec<_>>();
        assert_eq!(refused, [status], "{legacy}");

        let out = merge(&lab, BOT_TOKEN, number);
        assert_eq!(code(&out), 0, "{legacy}: {}", text(&out));
        assert_eq!(merged_item(&out)["status"], "merged");
    }
}

#[test]
fn a_target_that_conflicts_before_the_merge_is_a_405_and_reported() {
    let lab = new_lab();
    let (number, _) = bump(&lab, "8a8a8a8");
    let conflicting = commit_aside(
        &lab,
        "main",
        "envs/production/kustomization.yaml",
        "images:\n  - name: ghcr.io/acme/cart\n    newTag: 9999999\n",
    );
    after_approvals_read(
        &lab,
        GitLabEvent::MoveBranch {
            repo: REPO.to_owned(),
            branch: "main".to_owned(),
            sha: conflicting.clone(),
        },
    );
    let out = merge(&lab, BOT_TOKEN, number);
    assert_eq!(code(&out), 11, "{}", text(&out));
    assert_eq!(
        missing(&merged_item(&out)),
        ["conflicts with the target branch"]
    );
    let puts: Vec<u16> = lab
        .forge
        .requests()
        .into_iter()
        .filter(|r| r.method == "PUT" && r.path.ends_with("/merge"))
        .map(|r| r.status)
        .collect();
    assert_eq!(puts, [405]);
    assert_eq!(
        remote::branch_tip(&lab.repo, "main").as_deref(),
        Some(conflicting.as_str()),
        "nothing merged"
    );
}

#[test]
fn a_token_that_may_not_merge_says_what_it_lacks() {
    let lab = new_lab();
    let (number, _) = bump(&lab, "9b9b9b9");

    // The role: only Maintainers may merge into main (401).
    lab.forge.protect(
        REPO,
        "main",
        Protection {
            merge_requires_admin: true,
            ..Protection::default()
        },
    );
    let out = merge(&lab, BOT_TOKEN, number);
    assert_eq!(code(&out), 5, "{}", text(&out));
    let said = text(&out);
    assert!(
        said.contains(&format!(
            "GitLab API `PUT /projects/acme%2Fenv/merge_requests/{number}/merge` answered 401: 401 Unauthorized"
        )),
        "{said}"
    );
    assert!(said.contains("allowed to merge there"), "{said}");

    // The scope: a `read_api` token reads readiness but may not write (403).
    lab.forge.protect(REPO, "main", Protection::default());
    let reader = "glpat-read-api-1b2c3d";
    lab.forge.add_gitlab_read_api_token(reader, "maintainer");
    let out = merge(&lab, reader, number);
    assert_eq!(code(&out), 5, "{}", text(&out));
    let said = text(&out);
    assert!(said.contains("answered 403: insufficient_scope"), "{said}");
    assert!(said.contains("need a token with the `api` scope"), "{said}");
    assert!(!said.contains(reader), "the token leaked: {said}");

    // The same token cannot open a merge request or write a note either, and says the same.
    let forge = connect_to(&lab, REPO, reader);
    let err = forge
        .open(&NewChangeRequest {
            head: "main".to_owned(),
            base: "main".to_owned(),
            title: "t".to_owned(),
            ..NewChangeRequest::default()
        })
        .expect_err("read_api");
    assert!(
        matches!(err, ForgeError::Auth { status: 403, .. }),
        "{err:?}"
    );
    assert!(err.to_string().contains("`api` scope"), "{err}");
    let err = forge
        .upsert_comment(number, "<!-- m -->", "<!-- m -->")
        .expect_err("read_api");
    assert!(err.to_string().contains("`api` scope"), "{err}");
    assert_eq!(lab.open().len(), 1);
}

/// Every refusal of `PUT .../merge`, through ferry's library: the error names the call,
/// GitLab's own message, the cause and the fix.
#[test]
fn merge_refusals_name_the_call_gitlabs_message_the_cause_and_the_fix() {
    let lab = new_lab();
    let (number, _) = bump(&lab, "0d0d0d0");
    let forge = connect_to(&lab, REPO, BOT_TOKEN);
    let head = forge.get(number).expect("merge request").head_sha;
    let call = format!("`PUT /projects/acme%2Fenv/merge_requests/{number}/merge` answered");

    // 409: a head that is not the merge request's.
    let err = forge
        .merge(number, &"0".repeat(40), MergeMethod::Merge)
        .expect_err("a stale head");
    let said = err.to_string();
    assert!(
        matches!(err, ForgeError::Refused { status: 409, .. }),
        "{err:?}"
    );
    assert!(err.head_moved(), "{err:?}");
    assert!(
        said.contains(&format!(
            "{call} 409: SHA does not match HEAD of source branch: {head}"
        )),
        "{said}"
    );
    assert!(said.contains("hint: the source branch moved"), "{said}");

    // 405: a merge check fails (a draft).
    let update = client::send_form(
        "PUT",
        &format!(
            "{}/projects/acme%2Fenv/merge_requests/{number}",
            lab.forge.gitlab_api_url()
        ),
        &[("private-token", ALICE_TOKEN)],
        &[("title", "Draft: not yet")],
    )
    .expect("draft");
    assert_eq!(update.status, 200, "{}", update.text());
    let err = forge
        .merge(number, &head, MergeMethod::Merge)
        .expect_err("a draft");
    let said = err.to_string();
    assert!(
        matches!(err, ForgeError::Refused { status: 405, .. }),
        "{err:?}"
    );
    assert!(
        matches!(
            err,
            ForgeError::Refused {
                why: ferry::forge::Refusal::NotMergeable,
                ..
            }
        ) && !err.head_moved(),
        "{err:?}"
    );
    assert!(
        said.contains(&format!("{call} 405: 405 Method Not Allowed")),
        "{said}"
    );
    assert!(
        said.contains("hint: GitLab answers 405 when one of its merge checks fails"),
        "{said}"
    );

    // 422, and 406 from an older GitLab: the merge itself failed.
    client::send_form(
        "PUT",
        &format!(
            "{}/projects/acme%2Fenv/merge_requests/{number}",
            lab.forge.gitlab_api_url()
        ),
        &[("private-token", ALICE_TOKEN)],
        &[("title", "Ready")],
    )
    .expect("ready");
    for (legacy, status) in [(false, 422), (true, 406)] {
        lab.forge.set_gitlab_legacy_merge_errors(REPO, legacy);
        lab.forge.fail_next_gitlab_merge(REPO);
        let err = forge
            .merge(number, &head, MergeMethod::Merge)
            .expect_err("a failed merge");
        let said = err.to_string();
        assert_eq!(err.status(), Some(status), "{err:?}");
        assert!(matches!(err, ForgeError::Refused { .. }), "{err:?}");
        assert!(
            said.contains(&format!("{call} {status}: Branch cannot be merged")),
            "{said}"
        );
        assert!(
            said.contains("hint: GitLab could not merge the branch"),
            "{said}"
        );
    }

    // 401: the role (a Reporter).
    let reporter = "glpat-reporter-4e5f6a";
    lab.forge.add_token(reporter, "rita", Access::Read);
    let err = connect_to(&lab, REPO, reporter)
        .merge(number, &head, MergeMethod::Merge)
        .expect_err("a Reporter");
    let said = err.to_string();
    assert!(
        matches!(err, ForgeError::Auth { status: 401, .. }),
        "{err:?}"
    );
    assert!(
        said.contains(&format!("{call} 401: 401 Unauthorized")),
        "{said}"
    );
    assert!(said.contains("allowed to merge there"), "{said}");

    // 403: the scope.
    let reader = "glpat-read-api-7a8b9c";
    lab.forge.add_gitlab_read_api_token(reader, "rita");
    let err = connect_to(&lab, REPO, reader)
        .merge(number, &head, MergeMethod::Merge)
        .expect_err("read_api");
    let said = err.to_string();
    assert!(
        matches!(err, ForgeError::Auth { status: 403, .. }),
        "{err:?}"
    );
    assert!(said.contains(&format!("{call} 403: insufficient_scope; The request requires higher privileges than provided by the access token.")), "{said}");
    assert!(said.contains("`api` scope"), "{said}");

    // And after all that, the bot merges.
    let merged = forge
        .merge(number, &head, MergeMethod::Merge)
        .expect("merges");
    assert!(merged.sha.is_some());
}

/// Opens a merge request of `branch` in the application repository, as alice.
fn open_shop_mr(lab: &Lab, branch: &str) -> u64 {
    let shop = lab.root.join(format!("{SHOP}.git"));
    remote::git(&shop, &["branch", branch, "main"]);
    remote::commit_files(
        &shop,
        branch,
        &[("CHANGES.md", Some(b"change\n".as_slice()))],
        branch,
    );
    let answer = client::send_form(
        "POST",
        &format!(
            "{}/projects/acme%2Fshop/merge_requests",
            lab.forge.gitlab_api_url()
        ),
        &[("private-token", ALICE_TOKEN)],
        &[
            ("source_branch", branch),
            ("target_branch", "main"),
            ("title", branch),
        ],
    )
    .expect("open");
    assert_eq!(answer.status, 201, "{}", answer.text());
    answer.json()["iid"].as_u64().expect("iid")
}

/// `ferry preview up` of `name` for merge request `number` of the shop, its note written with
/// `app_token`.
fn preview_up(lab: &Lab, number: u64, app_token: &str, tag: &str) -> Output {
    lab.command()
        .env("FERRY_APP_REPO", lab.url(SHOP))
        .env("FERRY_APP_TOKEN", app_token)
        .env("FERRY_NOW", "2026-11-23T12:00:00Z")
        .current_dir(lab.dir.path())
        .args([
            "preview",
            "up",
            "--output",
            "json",
            "--name",
            "feature/cart",
            "--mr",
            &number.to_string(),
            &format!("ghcr.io/acme/cart={tag}"),
        ])
        .output()
        .expect("ferry runs")
}

#[test]
fn a_project_access_token_bot_keeps_one_note_over_two_preview_runs() {
    let lab = new_lab();
    let number = open_shop_mr(&lab, "feature/cart");
    let token = "glpat-project-bot-5f4e3d";
    let bot = lab
        .forge
        .add_gitlab_project_token(token, SHOP, Access::Write);
    assert!(
        bot.starts_with(&format!("project_{}_bot_", lab.forge.project_id(SHOP))),
        "{bot}"
    );
    let me = gl_get(&lab, "/user", token).json();
    assert_eq!(me["username"], bot.as_str());
    assert_eq!(me["bot"], true);
    let out = preview_up(&lab, number, token, "1111111");
    assert_eq!(code(&out), 0, "{}", text(&out));
    // Someone quotes ferry's note, marker and all: theirs stays theirs.
    let first = lab.forge.comments(SHOP, number);
    assert_eq!(first.len(), 1, "{first:?}");
    assert_eq!(first[0].author, bot);
    lab.forge.add_note(
        SHOP,
        number,
        "alice",
        &format!("quoting:\n{}", first[0].body),
    );

    let out = preview_up(&lab, number, token, "2222222");
    assert_eq!(code(&out), 0, "{}", text(&out));
    let notes = lab.forge.comments(SHOP, number);
    let bots: Vec<_> = notes.iter().filter(|n| n.author == bot).collect();
    assert_eq!(bots.len(), 1, "{notes:?}");
    assert!(bots[0].body.contains("2222222"), "{}", bots[0].body);
    assert_eq!(notes.len(), 2, "alice's note is left alone: {notes:?}");
}

#[test]
fn a_group_access_token_bot_finds_its_note_again() {
    let lab = new_lab();
    let number = open_shop_mr(&lab, "feature/group");
    let token = "glpat-group-bot-6a7b8c";
    let bot = lab
        .forge
        .add_gitlab_group_token(token, "acme", Access::Write);
    assert!(bot.starts_with("group_") && bot.contains("_bot_"), "{bot}");
    let forge = connect_to(&lab, SHOP, token);
    let marker = "<!-- ferry:preview:feature/group -->";
    let first = format!("{marker}\nfirst");
    let (created, action) = forge.upsert_comment(number, marker, &first).expect("note");
    assert_eq!(action, CommentAction::Created);
    let second = format!("{marker}\nsecond");
    let (updated, action) = forge.upsert_comment(number, marker, &second).expect("note");
    assert_eq!((action, updated.id), (CommentAction::Updated, created.id));
    let notes = lab.forge.comments(SHOP, number);
    assert_eq!(notes.len(), 1, "{notes:?}");
    assert_eq!(notes[0].author, bot);
}

#[test]
fn two_runs_that_write_the_note_at_once_leave_one() {
    let lab = new_lab();
    let number = open_shop_mr(&lab, "feature/race");
    let forge = connect_to(&lab, SHOP, BOT_TOKEN);
    let marker = "<!-- ferry:preview:feature/race -->";
    // The other run's note lands between this run's read (which found none) and its write.
    lab.forge.gitlab_later(GitLabLater {
        method: "GET".to_owned(),
        path_contains: "/notes".to_owned(),
        after: 1,
        event: GitLabEvent::Note {
            repo: SHOP.to_owned(),
            number,
            author: "ferry-bot".to_owned(),
            body: format!("{marker}\nfrom the other run"),
        },
    });
    let ours = format!("{marker}\nfrom this run");
    let (kept, action) = forge.upsert_comment(number, marker, &ours).expect("note");
    assert_eq!(
        action,
        CommentAction::Updated,
        "the older note now says ours"
    );
    let notes = lab.forge.comments(SHOP, number);
    assert_eq!(notes.len(), 1, "{notes:?}");
    assert_eq!(
        (notes[0].id, notes[0].body.as_str()),
        (kept.id, ours.as_str())
    );
    let deletes = lab
        .forge
        .requests()
        .into_iter()
        .filter(|r| r.method == "DELETE" && r.path.contains("/notes/"))
        .count();
    assert_eq!(deletes, 1, "this run's own note went");
    // And the next run finds it.
    let (again, action) = forge.upsert_comment(number, marker, &ours).expect("note");
    assert_eq!((action, again.id), (CommentAction::Unchanged, kept.id));
}

#[test]
fn notes_and_statuses_are_read_past_the_first_page() {
    let lab = new_lab();
    let number = open_shop_mr(&lab, "feature/busy");
    for i in 0..105 {
        lab.forge
            .add_note(SHOP, number, "alice", &format!("review comment {i}"));
    }
    // ferry's note is the 106th: on the second page of 100.
    for tag in ["1111111", "2222222"] {
        let out = preview_up(&lab, number, BOT_TOKEN, tag);
        assert_eq!(code(&out), 0, "{}", text(&out));
    }
    let notes = lab.forge.comments(SHOP, number);
    assert_eq!(notes.len(), 106, "one note of ferry's");
    assert!(notes[105].body.contains("2222222"));
    let pages: Vec<String> = lab
        .forge
        .requests()
        .into_iter()
        .filter(|r| r.method == "GET" && r.path.ends_with("/notes"))
        .map(|r| r.query)
        .collect();
    assert!(pages.iter().any(|q| q.contains("page=2")), "{pages:?}");

    // Statuses: 101 of other agents, then the one asked for.
    let sha = remote::branch_tip(&lab.repo, "main").expect("main");
    for i in 0..101 {
        lab.agent_status(&sha, &format!("other/{i:03}"), "success");
    }
    lab.agent_status(&sha, "argo/cart", "pending");
    lab.forge.clear_requests();
    let forge = connect_to(&lab, REPO, BOT_TOKEN);
    let found = forge.commit_statuses(&sha, "argo/*").expect("statuses");
    assert_eq!(found.len(), 1, "{found:?}");
    assert_eq!(found[0].name, "argo/cart");
    let pages = lab
        .forge
        .requests()
        .into_iter()
        .filter(|r| r.path.ends_with("/statuses"))
        .count();
    assert_eq!(pages, 2, "two pages of 100");
}
