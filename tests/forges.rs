//! `ferry bump --via pull-request` and `ferry merge` against the forge test server (GitHub REST
//! and GraphQL, GitLab v4) backed by the real repositories of the git smart-HTTP server.
//! Every path runs on both forges.

use std::process::Output;
use std::time::Duration;

use crate::support::forge::{
    APP_PRIVATE_KEY_PEM, APP_PUBLIC_KEY_PEM, Access, CrState, Fault, FaultRule, Protection,
};
use crate::support::lab::{KINDS, Kind, Lab, REPO, code, json_of, text};
use crate::support::remote;

const READ_TOKEN: &str = "reader-token-41b0c6";

const CONFIG: &str = "\
version: 1
environments:
  staging:
    path: envs/staging
  production:
    path: envs/production
    update: pull-request
    labels: [env:production]
    reviewers: [alice]
    assignees: [alice]
";

const KUSTOMIZATION: &str = "\
apiVersion: kustomize.config.k8s.io/v1beta1
kind: Kustomization
resources:
  - ../../base   # shared manifests
images:
  - name: ghcr.io/acme/cart
    newTag: 1111111
  - name: ghcr.io/acme/web
    newTag: \"2222222\"   # quoted on purpose
";

/// An environment repository with staging and production at 1111111, and a reader's token.
fn new_lab(kind: Kind) -> Lab {
    let lab = Lab::new(
        kind,
        &[
            ("ferry.yaml", CONFIG.as_bytes()),
            ("envs/staging/kustomization.yaml", KUSTOMIZATION.as_bytes()),
            (
                "envs/production/kustomization.yaml",
                KUSTOMIZATION.as_bytes(),
            ),
        ],
    );
    lab.forge.add_token(READ_TOKEN, "reader", Access::Read);
    lab
}

impl Lab {
    fn bump(&self, args: &[&str]) -> Output {
        self.command()
            .arg("bump")
            .args(args)
            .output()
            .expect("ferry runs")
    }

    fn merge(&self, args: &[&str]) -> Output {
        self.command()
            .arg("merge")
            .args(args)
            .output()
            .expect("ferry runs")
    }

    /// API requests made (the forge log), after `clear_requests`.
    fn api_calls(&self) -> usize {
        self.forge.requests().len()
    }
}

fn bump_production(lab: &Lab, tag: &str) -> serde_json::Value {
    let out = lab.bump(&[
        "--env",
        "production",
        "--output",
        "json",
        &format!("ghcr.io/acme/cart={tag}"),
    ]);
    assert_eq!(code(&out), 0, "{}", text(&out));
    json_of(&out)
}

#[test]
fn a_bump_through_a_change_request_opens_one_and_updates_it_never_twice() {
    for kind in KINDS {
        let lab = new_lab(kind);
        let main_before = remote::branch_tip(&lab.repo, "main");

        lab.forge.clear_requests();
        let first = bump_production(&lab, "aaaaaaa");
        assert_eq!(first["status"], "proposed", "{kind:?}: {first}");
        let cr = &first["change_request"];
        assert_eq!(cr["action"], "opened", "{kind:?}");
        // GitHub: list, create, labels and assignees, reviewers. GitLab: who am I, list, the
        // user id of alice, create (labels, assignees and reviewers with it).
        let calls = lab.api_calls();
        assert!(
            calls <= 4,
            "{kind:?}: {calls} calls: {:?}",
            lab.forge.requests()
        );

        // The environment branch is untouched; the change is on the change request's branch.
        assert_eq!(
            remote::branch_tip(&lab.repo, "main"),
            main_before,
            "{kind:?}"
        );
        let head = cr["head_branch"].as_str().expect("head branch").to_owned();
        assert!(head.starts_with("ferry/production/cart-"), "{head}");
        let on_branch = remote::read_branch(&lab.repo, &head);
        let file =
            String::from_utf8_lossy(&on_branch["envs/production/kustomization.yaml"]).into_owned();
        assert_eq!(
            file,
            KUSTOMIZATION.replace("newTag: 1111111", "newTag: aaaaaaa"),
            "{kind:?}: only the tag bytes change"
        );
        let log = remote::log(&lab.repo, &head);
        assert_eq!(
            log[0].parents,
            vec![main_before.clone().expect("main")],
            "{kind:?}: one commit on main"
        );

        let open = lab.open();
        assert_eq!(open.len(), 1, "{kind:?}");
        assert_eq!(open[0].head, head);
        assert_eq!(open[0].base, "main");
        assert!(
            open[0].labels.contains(&"ferry".to_owned()),
            "{:?}",
            open[0].labels
        );
        assert!(
            open[0].labels.contains(&"env:production".to_owned()),
            "{:?}",
            open[0].labels
        );
        assert_eq!(open[0].reviewers, ["alice"], "{kind:?}");
        assert_eq!(open[0].assignees, ["alice"], "{kind:?}");
        assert!(open[0].title.contains("cart"), "{}", open[0].title);
        assert!(
            open[0].body.contains("`1111111`") && open[0].body.contains("`aaaaaaa`"),
            "{}",
            open[0].body
        );
        assert!(
            open[0].body.contains("<!-- ferry:change-request"),
            "{}",
            open[0].body
        );

        // A rerun changes nothing: no push, no new change request, no edit.
        lab.forge.clear_requests();
        let pushes = lab.git.pushes_accepted();
        let again = bump_production(&lab, "aaaaaaa");
        assert_eq!(
            again["change_request"]["action"], "unchanged",
            "{kind:?}: {again}"
        );
        assert_eq!(again["change_request"]["pushed"], false);
        assert_eq!(
            lab.git.pushes_accepted(),
            pushes,
            "{kind:?}: a rerun pushed"
        );
        assert!(
            lab.forge.requests().iter().all(|r| r.method == "GET"),
            "{kind:?}: a rerun wrote: {:?}",
            lab.forge.requests()
        );
        assert_eq!(lab.open().len(), 1);

        // A newer build replaces the branch's commit and updates the same change request.
        let newer = bump_production(&lab, "bbbbbbb");
        assert_eq!(
            newer["change_request"]["action"], "updated",
            "{kind:?}: {newer}"
        );
        assert_eq!(newer["change_request"]["number"], cr["number"]);
        let open = lab.open();
        assert_eq!(open.len(), 1, "{kind:?}");
        assert!(open[0].title.contains("bbbbbbb"), "{}", open[0].title);
        let log = remote::log(&lab.repo, &head);
        assert_eq!(log.len(), 2, "{kind:?}: recomputed on main, not stacked");
    }
}

#[test]
fn merge_waits_for_approval_then_merges_pinned_to_the_head() {
    for kind in KINDS {
        let lab = new_lab(kind);
        lab.require_approvals(1);
        let bumped = bump_production(&lab, "ccccccc");
        let number = bumped["change_request"]["number"].as_u64().expect("number");
        let number_arg = number.to_string();

        let waiting = lab.merge(&[&number_arg]);
        assert_eq!(code(&waiting), 11, "{kind:?}: {}", text(&waiting));
        assert!(
            text(&waiting).contains("approvals 0 of 1"),
            "{kind:?}: {}",
            text(&waiting)
        );
        assert!(
            lab.file("main", "envs/production/kustomization.yaml")
                .contains("1111111")
        );

        lab.approve(number);
        lab.forge.clear_requests();
        let merged = lab.merge(&[&number_arg, "--output", "json"]);
        assert_eq!(code(&merged), 0, "{kind:?}: {}", text(&merged));
        let report = json_of(&merged);
        assert_eq!(report["change_requests"][0]["status"], "merged", "{report}");
        // Readiness (2 reads) and the merge; GitLab's client also asks who it is.
        let limit = if kind == Kind::GitLab { 4 } else { 3 };
        assert!(
            lab.api_calls() <= limit,
            "{kind:?}: {:?}",
            lab.forge.requests()
        );
        assert!(
            lab.file("main", "envs/production/kustomization.yaml")
                .contains("newTag: ccccccc"),
            "{kind:?}: the merge is a real merge on the repository"
        );

        let again = lab.merge(&[&number_arg]);
        assert_eq!(code(&again), 0, "{}", text(&again));
        assert!(text(&again).contains("already merged"), "{}", text(&again));

        // The merged change is not proposed again.
        let rerun = bump_production(&lab, "ccccccc");
        assert_eq!(rerun["status"], "up-to-date", "{kind:?}: {rerun}");
        assert!(lab.open().is_empty());
    }
}

#[test]
fn a_lost_create_answer_does_not_duplicate_the_change_request() {
    for kind in KINDS {
        let lab = new_lab(kind);
        let create = match kind {
            Kind::GitHub => "/repos/acme/env/pulls",
            Kind::GitLab => "/merge_requests",
        };
        lab.forge
            .inject(FaultRule::new("POST", create, Fault::AfterProcessing(502)));
        let out = lab.bump(&["--env", "production", "ghcr.io/acme/cart=ddddddd"]);
        assert_eq!(code(&out), 0, "{kind:?}: {}", text(&out));
        assert!(
            lab.forge.pending_faults().is_empty(),
            "{kind:?}: the fault fired"
        );
        assert_eq!(
            lab.forge.change_requests(REPO).len(),
            1,
            "{kind:?}: duplicated"
        );
    }
}

#[test]
fn server_errors_rate_limits_and_slow_answers_are_survived() {
    for kind in KINDS {
        let lab = new_lab(kind);
        let list = match kind {
            Kind::GitHub => "/repos/acme/env/pulls",
            Kind::GitLab => "/merge_requests",
        };
        lab.forge
            .inject(FaultRule::new("GET", list, Fault::Status(502)));
        lab.forge.inject(FaultRule::new(
            "GET",
            list,
            Fault::RateLimit {
                retry_after_secs: 1,
                secondary: true,
            },
        ));
        lab.forge.inject(FaultRule::new(
            "GET",
            list,
            Fault::Delay(Duration::from_secs(10)),
        ));
        let out = lab
            .command()
            .args([
                "bump",
                "--env",
                "production",
                "-v",
                "ghcr.io/acme/cart=eeeeeee",
            ])
            .env("FERRY_API_TIMEOUT", "3")
            .output()
            .expect("ferry runs");
        assert_eq!(code(&out), 0, "{kind:?}: {}", text(&out));
        assert!(
            lab.forge.pending_faults().is_empty(),
            "{kind:?}: {:?}",
            lab.forge.pending_faults()
        );
        assert_eq!(lab.open().len(), 1);
        let log = text(&out);
        assert!(log.contains("rate limited"), "{kind:?}: {log}");
        assert!(
            log.contains("api calls"),
            "{kind:?}: -v reports the calls: {log}"
        );
    }
}

#[test]
fn a_rate_limit_longer_than_ferry_waits_fails_at_once_saying_so() {
    for kind in KINDS {
        let lab = new_lab(kind);
        let list = match kind {
            Kind::GitHub => "/repos/acme/env/pulls",
            Kind::GitLab => "/merge_requests",
        };
        lab.forge.inject(FaultRule::new(
            "GET",
            list,
            Fault::RateLimit {
                retry_after_secs: 3600,
                secondary: false,
            },
        ));
        let out = lab.bump(&["--env", "production", "ghcr.io/acme/cart=eeeeeee"]);
        assert_eq!(code(&out), 1, "{kind:?}: {}", text(&out));
        assert!(
            text(&out).contains("rate limited for another 3600 s"),
            "{}",
            text(&out)
        );
    }
}

#[test]
fn wrong_and_weak_tokens_are_explained_and_never_shown() {
    for kind in KINDS {
        let lab = new_lab(kind);
        // The git side accepts the reader's token for fetching; the API refuses its writes.
        let out = lab
            .command_as(Some(READ_TOKEN))
            .args(["merge", "1"])
            .output()
            .expect("ferry runs");
        assert_ne!(code(&out), 0, "{kind:?}: {}", text(&out));
        assert!(!text(&out).contains(READ_TOKEN), "{kind:?}: token shown");

        let out = lab
            .command_as(Some("not-a-token-9f8e7d"))
            .args(["merge", "1"])
            .output()
            .expect("ferry runs");
        assert_eq!(code(&out), 5, "{kind:?}: {}", text(&out));
        assert!(text(&out).contains("hint:"), "{}", text(&out));
        assert!(
            !text(&out).contains("not-a-token-9f8e7d"),
            "{kind:?}: token shown"
        );
    }
}

#[test]
fn auto_merge_hands_the_merge_to_the_forge() {
    for kind in KINDS {
        let lab = new_lab(kind);
        let bumped = bump_production(&lab, "fffffff");
        let number = bumped["change_request"]["number"].as_u64().expect("number");
        let head_sha = bumped["change_request"]["head_sha"]
            .as_str()
            .expect("head sha")
            .to_owned();
        match kind {
            Kind::GitHub => {
                lab.forge.set_allow_auto_merge(REPO, true);
                lab.require_approvals(1);
            }
            Kind::GitLab => {
                lab.forge.protect(
                    REPO,
                    "main",
                    Protection {
                        pipeline_must_succeed: true,
                        ..Protection::default()
                    },
                );
                lab.forge.set_pipeline(REPO, &head_sha, "running");
            }
        }
        let out = lab.merge(&[&number.to_string(), "--auto-merge", "--output", "json"]);
        assert_eq!(code(&out), 0, "{kind:?}: {}", text(&out));
        assert_eq!(
            json_of(&out)["change_requests"][0]["status"],
            "auto-merge",
            "{}",
            text(&out)
        );
        assert!(
            lab.file("main", "envs/production/kustomization.yaml")
                .contains("1111111")
        );

        // When what was missing arrives, the forge merges by itself.
        match kind {
            Kind::GitHub => lab.approve(number),
            Kind::GitLab => {
                lab.forge.set_pipeline(REPO, &head_sha, "success");
            }
        }
        let cr = lab
            .forge
            .change_requests(REPO)
            .into_iter()
            .find(|cr| cr.number == number)
            .expect("change request");
        assert_eq!(cr.state, CrState::Merged, "{kind:?}: {cr:?}");
        assert!(
            lab.file("main", "envs/production/kustomization.yaml")
                .contains("newTag: fffffff")
        );
    }
}

#[test]
fn auto_merge_of_a_ready_change_request_merges_it_directly() {
    for kind in KINDS {
        let lab = new_lab(kind);
        if kind == Kind::GitHub {
            lab.forge.set_allow_auto_merge(REPO, true);
        }
        let bumped = bump_production(&lab, "1234abc");
        let number = bumped["change_request"]["number"].as_u64().expect("number");
        let out = lab.merge(&[&number.to_string(), "--auto-merge"]);
        assert_eq!(code(&out), 0, "{kind:?}: {}", text(&out));
        assert!(
            lab.file("main", "envs/production/kustomization.yaml")
                .contains("newTag: 1234abc"),
            "{kind:?}"
        );
    }
}

#[test]
fn merge_by_environment_merges_every_open_ferry_change_request_of_it() {
    for kind in KINDS {
        let lab = new_lab(kind);
        bump_production(&lab, "abcdef1");
        let web = lab.bump(&["--env", "production", "ghcr.io/acme/web=abcdef2"]);
        assert_eq!(code(&web), 0, "{}", text(&web));
        assert_eq!(lab.open().len(), 2);
        let out = lab.merge(&["--env", "production"]);
        assert_eq!(code(&out), 0, "{kind:?}: {}", text(&out));
        let file = lab.file("main", "envs/production/kustomization.yaml");
        assert!(
            file.contains("newTag: abcdef1") && file.contains("newTag: \"abcdef2\""),
            "{kind:?}: {file}"
        );
        assert!(lab.open().is_empty());

        let none = lab.merge(&["--env", "production"]);
        assert_eq!(code(&none), 0, "{}", text(&none));
        assert!(text(&none).contains("nothing to merge"), "{}", text(&none));
    }
}

#[test]
fn a_change_request_that_conflicts_is_recomputed_on_the_new_tip_never_merged_stale() {
    for kind in KINDS {
        let lab = new_lab(kind);
        lab.require_approvals(1);
        let bumped = bump_production(&lab, "0a0a0a0");
        let number = bumped["change_request"]["number"].as_u64().expect("number");
        let head = bumped["change_request"]["head_branch"]
            .as_str()
            .expect("head")
            .to_owned();
        lab.approve(number);
        // Someone changes the same line on main: the change request now conflicts.
        let edited = KUSTOMIZATION.replace("newTag: 1111111", "newTag: 9999999");
        let hotfix = remote::commit_files(
            &lab.repo,
            "main",
            &[(
                "envs/production/kustomization.yaml",
                Some(edited.as_bytes()),
            )],
            "hotfix",
        );

        // `ferry merge` recomputes it on the new tip instead of merging it stale; the approval
        // was for the old commit, so it waits for a new one.
        let out = lab.merge(&[&number.to_string()]);
        assert_eq!(code(&out), 11, "{kind:?}: {}", text(&out));
        assert!(
            text(&out).contains("recomputed"),
            "{kind:?}: {}",
            text(&out)
        );
        assert!(
            lab.file("main", "envs/production/kustomization.yaml")
                .contains("9999999")
        );
        let log = remote::log(&lab.repo, &head);
        assert_eq!(
            log[0].parents,
            vec![hotfix.clone()],
            "{kind:?}: rebuilt on the hotfix"
        );
        let on_branch = remote::read_branch(&lab.repo, &head);
        assert_eq!(
            String::from_utf8_lossy(&on_branch["envs/production/kustomization.yaml"]),
            KUSTOMIZATION.replace("newTag: 1111111", "newTag: 0a0a0a0"),
            "{kind:?}: the change, recomputed, not a textual rebase"
        );
        assert_eq!(lab.open().len(), 1, "{kind:?}: the same change request");

        lab.approve(number);
        let out = lab.merge(&[&number.to_string()]);
        assert_eq!(code(&out), 0, "{kind:?}: {}", text(&out));
        assert!(
            lab.file("main", "envs/production/kustomization.yaml")
                .contains("newTag: 0a0a0a0")
        );
    }
}

#[test]
fn a_github_app_installation_token_serves_the_api_and_git() {
    let lab = new_lab(Kind::GitHub);
    lab.forge
        .register_github_app(4242, APP_PUBLIC_KEY_PEM, 77, &[REPO]);
    let out = lab
        .command_as(None)
        .args([
            "bump",
            "--env",
            "production",
            "--github-app-id",
            "4242",
            "--output",
            "json",
            "ghcr.io/acme/cart=5a5a5a5",
        ])
        .env("FERRY_GITHUB_APP_KEY", APP_PRIVATE_KEY_PEM)
        .output()
        .expect("ferry runs");
    assert_eq!(code(&out), 0, "{}", text(&out));
    assert_eq!(json_of(&out)["change_request"]["action"], "opened");
    assert!(
        !text(&out).contains("PRIVATE KEY"),
        "the key leaked: {}",
        text(&out)
    );
    // The branch was pushed with the minted token (no other credentials were given).
    assert_eq!(lab.open().len(), 1);
}

#[test]
fn the_forge_must_be_named_when_it_cannot_be_inferred() {
    let lab = new_lab(Kind::GitHub);
    let out = lab
        .command()
        .env_remove("FERRY_FORGE")
        .args([
            "bump",
            "--env",
            "production",
            "--via",
            "pull-request",
            "ghcr.io/acme/cart=1b1b1b1",
        ])
        .output()
        .expect("ferry runs");
    assert_eq!(code(&out), 2, "{}", text(&out));
    assert!(text(&out).contains("--forge"), "{}", text(&out));
    // Nothing was pushed: the check comes before any network call.
    assert_eq!(lab.git.pushes_accepted(), 0);
}

#[test]
fn a_pull_request_behind_a_strict_branch_is_brought_up_to_date_then_merged() {
    let lab = new_lab(Kind::GitHub);
    lab.forge.protect(
        REPO,
        "main",
        Protection {
            strict: true,
            ..Protection::default()
        },
    );
    let bumped = bump_production(&lab, "7c7c7c7");
    let number = bumped["change_request"]["number"].as_u64().expect("number");
    // Main moves elsewhere: no conflict, but the branch is behind.
    let moved = remote::commit_files(
        &lab.repo,
        "main",
        &[("README.md", Some(b"env repo\n".as_slice()))],
        "docs",
    );
    let out = lab.merge(&[&number.to_string(), "--output", "json"]);
    assert_eq!(code(&out), 0, "{}", text(&out));
    assert_eq!(json_of(&out)["change_requests"][0]["status"], "merged");
    let files = remote::read_branch(&lab.repo, "main");
    assert_eq!(files["README.md"], b"env repo\n");
    assert!(
        String::from_utf8_lossy(&files["envs/production/kustomization.yaml"])
            .contains("newTag: 7c7c7c7")
    );
    let merge = &remote::log(&lab.repo, "main")[0];
    assert!(merge.parents.contains(&moved), "{merge:?}");
}

#[test]
fn a_gitlab_job_token_cannot_open_merge_requests_and_says_what_to_use() {
    let lab = new_lab(Kind::GitLab);
    let job = "job-token-0c1d2e";
    lab.forge.add_job_token(job, "ferry-bot", REPO);
    let out = lab
        .command_as(None)
        .env("CI_JOB_TOKEN", job)
        .args(["bump", "--env", "production", "ghcr.io/acme/cart=3e3e3e3"])
        .output()
        .expect("ferry runs");
    assert_eq!(code(&out), 5, "{}", text(&out));
    assert!(text(&out).contains("CI_JOB_TOKEN"), "{}", text(&out));
    assert!(!text(&out).contains(job), "token shown: {}", text(&out));
}

#[test]
fn the_repository_can_bring_its_own_title_and_description_templates() {
    for kind in KINDS {
        let lab = new_lab(kind);
        let config = format!(
            "{CONFIG}change-requests:\n  title: .ferry/title.tera\n  body: .ferry/body.tera\n"
        );
        remote::commit_files(
            &lab.repo,
            "main",
            &[
                ("ferry.yaml", Some(config.as_bytes())),
                (
                    ".ferry/title.tera",
                    Some(b"[{{ environment }}] {% for i in images %}{{ i.short }}@{{ i.to }}{% endfor %}\nsecond line".as_slice()),
                ),
                (
                    ".ferry/body.tera",
                    Some(b"Deploys {{ head_branch | md_code }} as a {{ change_request }}.".as_slice()),
                ),
            ],
            "templates",
        );
        let out = bump_production(&lab, "4d4d4d4");
        let head = out["change_request"]["head_branch"].as_str().expect("head");
        let open = lab.open();
        assert_eq!(open.len(), 1, "{kind:?}");
        assert_eq!(
            open[0].title, "[production] ghcr.io/acme/cart@4d4d4d4 second line",
            "{kind:?}"
        );
        let words = match kind {
            Kind::GitHub => "pull request",
            Kind::GitLab => "merge request",
        };
        assert!(
            open[0]
                .body
                .starts_with(&format!("Deploys `{head}` as a {words}.")),
            "{kind:?}: {}",
            open[0].body
        );
        // The marker ferry finds its change requests by is kept even when a template drops it.
        assert!(
            open[0].body.contains("<!-- ferry:change-request"),
            "{}",
            open[0].body
        );
    }
}

#[test]
fn a_dry_run_says_which_branch_and_change_request_and_touches_nothing() {
    for kind in KINDS {
        let lab = new_lab(kind);
        let out = lab.bump(&[
            "--env",
            "production",
            "--dry-run",
            "ghcr.io/acme/cart=6b6b6b6",
        ]);
        assert_eq!(code(&out), 0, "{kind:?}: {}", text(&out));
        let stdout = String::from_utf8_lossy(&out.stdout);
        assert!(stdout.contains("-    newTag: 1111111"), "{stdout}");
        assert!(
            stdout.contains("on branch `ferry/production/cart-"),
            "{stdout}"
        );
        assert!(
            stdout.contains("open or update its change request into `main`"),
            "{stdout}"
        );
        assert!(lab.forge.change_requests(REPO).is_empty(), "{kind:?}");
        assert!(
            lab.forge.requests().is_empty(),
            "{kind:?}: a dry run called the API"
        );
        assert_eq!(lab.git.pushes_accepted(), 0);
    }
}

/// The documented fine-grained token (Contents and Pull requests; no Checks, which GitHub
/// does not offer such tokens; here no Commit statuses either): `ferry merge` on a pull
/// request waiting for approval says what is missing and what it could not check (exit 11),
/// instead of failing on GitHub's 403 (exit 5).
#[test]
fn merge_with_a_fine_grained_token_waits_and_says_what_it_could_not_check() {
    let lab = new_lab(Kind::GitHub);
    lab.require_approvals(1);
    let bumped = bump_production(&lab, "aaaaaaa");
    let number = bumped["change_request"]["number"].as_u64().expect("number");
    lab.forge
        .add_fine_grained_token("github_pat_11finegrained", "deployer", Access::Write, false);
    let out = lab
        .command_as(Some("github_pat_11finegrained"))
        .args(["merge", &number.to_string()])
        .output()
        .expect("ferry runs");
    assert_eq!(code(&out), 11, "{}", text(&out));
    let said = text(&out);
    assert!(said.contains("approvals 0 of 1"), "{said}");
    assert!(said.contains("could not check check runs"), "{said}");
    assert!(said.contains("could not check commit statuses"), "{said}");
}

/// GitHub refuses a reviewer request naming anyone it cannot take, and adds no one: the bump
/// still succeeds, the valid reviewer is requested, the refused one is named in a warning.
#[test]
fn a_bump_whose_reviewer_github_refuses_still_requests_the_others() {
    let config = CONFIG.replace("reviewers: [alice]", "reviewers: [alice, mallory]");
    let lab = Lab::new(
        Kind::GitHub,
        &[
            ("ferry.yaml", config.as_bytes()),
            ("envs/staging/kustomization.yaml", KUSTOMIZATION.as_bytes()),
            (
                "envs/production/kustomization.yaml",
                KUSTOMIZATION.as_bytes(),
            ),
        ],
    );
    let out = lab.bump(&[
        "--env",
        "production",
        "--output",
        "json",
        "ghcr.io/acme/cart=aaaaaaa",
    ]);
    assert_eq!(code(&out), 0, "{}", text(&out));
    assert!(
        text(&out).contains("refused `mallory` as a reviewer"),
        "{}",
        text(&out)
    );
    let open = lab.open();
    assert_eq!(open.len(), 1);
    assert_eq!(open[0].reviewers, ["alice"]);
    // The rerun changes nothing (mallory is still refused, said again).
    let out = lab.bump(&[
        "--env",
        "production",
        "--output",
        "json",
        "ghcr.io/acme/cart=aaaaaaa",
    ]);
    assert_eq!(code(&out), 0, "{}", text(&out));
    assert_eq!(json_of(&out)["change_request"]["action"], "unchanged");
}

/// Right after a push GitHub answers `mergeable: null` while it computes: `ferry merge` reads
/// again (pausing like its retries) and merges once GitHub knows.
#[test]
fn merge_reads_again_while_github_computes_mergeability() {
    let lab = new_lab(Kind::GitHub);
    let bumped = bump_production(&lab, "aaaaaaa");
    let number = bumped["change_request"]["number"].as_u64().expect("number");
    lab.forge.github_computing_mergeability(2);
    let out = lab.merge(&[&number.to_string()]);
    assert_eq!(code(&out), 0, "{}", text(&out));
    assert_eq!(lab.forge.change_requests(REPO)[0].state, CrState::Merged);
}

/// GitLab declining "merge when the pipeline succeeds" (409: the head moved; 422: the branch
/// cannot be merged) leaves the merge request waiting with GitLab's words, exit 11, never an
/// error exit. (A 405 there means nothing is pending: ferry merges at once.)
#[test]
fn a_declined_auto_merge_waits_and_says_why() {
    for status in [409, 422] {
        let lab = new_lab(Kind::GitLab);
        let bumped = bump_production(&lab, "fffffff");
        let number = bumped["change_request"]["number"].as_u64().expect("number");
        let head_sha = bumped["change_request"]["head_sha"]
            .as_str()
            .expect("head sha")
            .to_owned();
        lab.forge.protect(
            REPO,
            "main",
            Protection {
                pipeline_must_succeed: true,
                ..Protection::default()
            },
        );
        lab.forge.set_pipeline(REPO, &head_sha, "running");
        lab.forge
            .inject(FaultRule::new("PUT", "/merge", Fault::Status(status)));
        let out = lab.merge(&[&number.to_string(), "--auto-merge"]);
        assert_eq!(code(&out), 11, "{status}: {}", text(&out));
        assert!(
            text(&out).contains("GitLab declined to merge by itself"),
            "{status}: {}",
            text(&out)
        );
    }
}
