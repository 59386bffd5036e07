//! `ferry promote`, `status`, `history`, `wait` and `rollback` against the git smart-HTTP
//! server and the forge test server: the three layouts (directory, branch and repository per
//! environment), the one promotion change request superseded in place, each gate met and unmet,
//! merging with and without approval, snapshots of status and history, the agents' verdict,
//! and rollback with hold.

use std::process::Output;

use crate::support::forge::{CrState, LaterStatus};
use crate::support::lab::{KINDS, Kind, Lab, REPO, code, json_of, text};
use crate::support::remote;

/// 2024-01-01T00:00:00Z, a Monday: the date of every commit made by the test helpers.
const T0: i64 = 1_704_067_200;

const CONFIG: &str = "\
version: 1
environments:
  staging:
    path: envs/staging
  production:
    path: envs/production
    update: pull-request
promotion:
  order: [staging, production]
";

fn kustomization(cart: &str, web: &str) -> String {
    format!(
        "\
apiVersion: kustomize.config.k8s.io/v1beta1
kind: Kustomization
resources:
  - ../../base   # shared manifests
images:
  - name: ghcr.io/acme/cart
    newTag: {cart}
  - name: ghcr.io/acme/web
    newTag: \"{web}\"   # quoted on purpose
"
    )
}

const ONLY_STAGING: &str = "image: ghcr.io/acme/canary:5555555\n";

/// An environment repository with staging and production on `main`, both at 1111111.
fn new_lab(kind: Kind, config: &str) -> Lab {
    let first = kustomization("1111111", "2222222");
    Lab::new(
        kind,
        &[
            ("ferry.yaml", config.as_bytes()),
            ("envs/staging/kustomization.yaml", first.as_bytes()),
            ("envs/staging/canary.yaml", ONLY_STAGING.as_bytes()),
            ("envs/production/kustomization.yaml", first.as_bytes()),
        ],
    )
}

impl Lab {
    /// Runs ferry with `args` as the bot, at `now` when given.
    fn ferry(&self, args: &[&str], now: Option<i64>) -> Output {
        let mut cmd = self.command();
        if let Some(now) = now {
            cmd.env("FERRY_NOW", rfc3339(now));
        }
        cmd.args(args).output().expect("ferry runs")
    }

    /// A bump of staging as the app's CI would make it: with trailers, at `time`.
    fn staging_bump(&self, cart: &str, time: i64) -> String {
        let file = kustomization(cart, "2222222");
        remote::commit_files_at(
            &self.repo,
            "main",
            &[("envs/staging/kustomization.yaml", Some(file.as_bytes()))],
            &format!(
                "staging: bump cart to {cart}\n\nFerry-Source-Repo: https://github.com/acme/cart\nFerry-Source-Commit: {cart}\n"
            ),
            &format!("{time} +0000"),
        )
    }
}

fn rfc3339(unix: i64) -> String {
    ferry::clock::Time::from_unix(unix).to_string()
}

#[test]
fn one_promotion_change_request_per_environment_is_opened_then_superseded_in_place() {
    for kind in KINDS {
        let lab = new_lab(kind, CONFIG);
        lab.staging_bump("aaaaaaa", T0 + 3600);
        let out = lab.ferry(
            &[
                "promote",
                "--from",
                "staging",
                "--to",
                "production",
                "--output",
                "json",
            ],
            Some(T0 + 7200),
        );
        assert_eq!(code(&out), 0, "{kind:?}: {}", text(&out));
        let report = json_of(&out);
        assert_eq!(report["status"], "proposed", "{kind:?}: {report}");
        let skipped = report["skipped"].to_string();
        assert!(skipped.contains("ghcr.io/acme/canary"), "{skipped}");
        let open = lab.open();
        assert_eq!(open.len(), 1, "{kind:?}");
        let cr = &open[0];
        assert_eq!(cr.head, "ferry/production/promotion");
        for label in ["ferry", "ferry:promotion", "env:production"] {
            assert!(
                cr.labels.contains(&label.to_owned()),
                "{kind:?}: {:?}",
                cr.labels
            );
        }
        assert!(cr.title.contains("staging → production"), "{}", cr.title);
        assert!(
            cr.body
                .contains("| `ghcr.io/acme/cart` | `1111111` → `aaaaaaa` |"),
            "{}",
            cr.body
        );
        assert!(
            cr.body
                .contains("https://github.com/acme/cart/compare/1111111...aaaaaaa"),
            "{}",
            cr.body
        );
        assert!(
            cr.body.contains("2024-01-01T01:00:00Z (1h ago)"),
            "{}",
            cr.body
        );
        assert!(
            cr.body.contains("`ghcr.io/acme/canary`: only in"),
            "{}",
            cr.body
        );
        // Only the tag bytes change, on the promotion branch; production is untouched.
        assert_eq!(
            lab.file(
                "ferry/production/promotion",
                "envs/production/kustomization.yaml"
            ),
            kustomization("aaaaaaa", "2222222")
        );
        assert_eq!(
            lab.file("main", "envs/production/kustomization.yaml"),
            kustomization("1111111", "2222222")
        );
        let message = &remote::log(&lab.repo, "ferry/production/promotion")[0].message;
        assert!(
            message.starts_with("production: promote from staging\n"),
            "{message}"
        );
        assert!(
            message.contains("Ferry-Promotion: staging -> production"),
            "{message}"
        );

        // The source moves again: `--to` alone finds staging in promotion.order, and the same
        // change request is updated, not duplicated.
        lab.staging_bump("bbbbbbb", T0 + 8000);
        let out = lab.ferry(&["promote", "--to", "production"], Some(T0 + 9000));
        assert_eq!(code(&out), 0, "{kind:?}: {}", text(&out));
        let open = lab.open();
        assert_eq!(open.len(), 1, "{kind:?}: superseded, not duplicated");
        assert_eq!(open[0].number, cr.number);
        assert!(open[0].title.contains("bbbbbbb"), "{}", open[0].title);
        assert!(
            open[0].body.contains("`1111111` → `bbbbbbb`"),
            "{}",
            open[0].body
        );
        assert_eq!(
            remote::log(&lab.repo, "ferry/production/promotion").len(),
            4,
            "{kind:?}: one commit on main's tip"
        );

        // A rerun changes nothing.
        let pushes = lab.git.pushes_accepted();
        let out = lab.ferry(&["promote", "--to", "production"], Some(T0 + 9000));
        assert_eq!(code(&out), 0, "{kind:?}: {}", text(&out));
        assert_eq!(
            lab.git.pushes_accepted(),
            pushes,
            "{kind:?}: a rerun pushed"
        );
    }
}

#[test]
fn promotion_works_across_branches_and_across_repositories() {
    // Branch per environment: staging lives on branch `staging`, production on `main` (push).
    let config = "\
version: 1
environments:
  staging:
    path: envs/staging
    branch: staging
  production:
    path: envs/production
promotion:
  order: [staging, production]
";
    let lab = new_lab(Kind::GitHub, config);
    let main = remote::branch_tip(&lab.repo, "main").expect("main");
    remote::git(&lab.repo, &["branch", "staging", &main]);
    let file = kustomization("ccccccc", "2222222");
    remote::commit_files(
        &lab.repo,
        "staging",
        &[("envs/staging/kustomization.yaml", Some(file.as_bytes()))],
        "staging: bump cart",
    );
    let out = lab.ferry(&["promote", "--to", "production", "--output", "json"], None);
    assert_eq!(code(&out), 0, "{}", text(&out));
    assert_eq!(json_of(&out)["status"], "promoted", "{}", text(&out));
    assert_eq!(
        lab.file("main", "envs/production/kustomization.yaml"),
        kustomization("ccccccc", "2222222")
    );
    assert!(lab.open().is_empty());

    // Repository per environment: production is its own repository with its own ferry.yaml.
    let prod_config = "version: 1\nenvironments:\n  production:\n    path: apps\n";
    let prod_file = kustomization("1111111", "2222222");
    let prod = lab.add_repo(
        "acme/prod",
        &[
            ("ferry.yaml", prod_config.as_bytes()),
            ("apps/kustomization.yaml", prod_file.as_bytes()),
        ],
    );
    let out = lab.ferry(
        &[
            "promote",
            "--from",
            "staging",
            "--to",
            "production",
            "--to-repo",
            &lab.url("acme/prod"),
            "--image",
            "ghcr.io/acme/cart",
        ],
        None,
    );
    assert_eq!(code(&out), 0, "{}", text(&out));
    let files = remote::read_branch(&prod, "main");
    assert_eq!(
        String::from_utf8_lossy(&files["apps/kustomization.yaml"]),
        kustomization("ccccccc", "2222222")
    );
}

#[test]
fn each_gate_holds_a_promotion_until_it_is_met() {
    for kind in KINDS {
        let lab = new_lab(kind, CONFIG);
        let bumped = lab.staging_bump("aaaaaaa", T0 + 3600);
        let promote = |extra: &[&str], now: i64| {
            let mut args = vec!["promote", "--to", "production"];
            args.extend_from_slice(extra);
            lab.ferry(&args, Some(now))
        };
        // Too young: 30 minutes of 1 hour.
        let out = promote(&["--min-age", "1h"], T0 + 5400);
        assert_eq!(code(&out), 11, "{kind:?}: {}", text(&out));
        assert!(
            text(&out).contains("gate min-age 1h ghcr.io/acme/cart NOT met"),
            "{}",
            text(&out)
        );
        assert!(text(&out).contains("30m to go"), "{}", text(&out));
        assert!(
            lab.open().is_empty(),
            "{kind:?}: opened before the gate was met"
        );
        let out = promote(&["--min-age", "1h"], T0 + 7300);
        assert_eq!(code(&out), 0, "{kind:?}: {}", text(&out));
        assert_eq!(lab.open().len(), 1);

        // A status on the commit that brought the tag into staging.
        let out = promote(
            &["--require-status", "continuous-delivery/cart-staging"],
            T0 + 7300,
        );
        assert_eq!(code(&out), 11, "{kind:?}: {}", text(&out));
        assert!(
            text(&out).contains("no status `continuous-delivery/cart-staging`"),
            "{}",
            text(&out)
        );
        lab.agent_status(&bumped, "continuous-delivery/cart-staging", "failure");
        let out = promote(&["--require-status", "continuous-delivery/*"], T0 + 7300);
        assert_eq!(code(&out), 11, "{kind:?}: {}", text(&out));
        assert!(
            text(&out).contains("continuous-delivery/cart-staging failure"),
            "{}",
            text(&out)
        );
        lab.agent_status(&bumped, "continuous-delivery/cart-staging", "success");
        let out = promote(
            &["--require-status", "continuous-delivery/cart-staging"],
            T0 + 7300,
        );
        assert_eq!(code(&out), 0, "{kind:?}: {}", text(&out));

        // Time windows: Saturday is outside Mon-Fri; Monday 10:00 is inside.
        let saturday = T0 + 5 * 86_400 + 10 * 3600;
        let out = promote(&["--window", "Mon-Fri 09:00-17:00 UTC"], saturday);
        assert_eq!(code(&out), 11, "{kind:?}: {}", text(&out));
        assert!(
            text(&out).contains("next opening 2024-01-08T09:00:00Z"),
            "{}",
            text(&out)
        );
        let out = promote(&["--window", "Mon-Fri 09:00-17:00 UTC"], T0 + 10 * 3600);
        assert_eq!(code(&out), 0, "{kind:?}: {}", text(&out));
    }
}

#[test]
fn promote_merge_waits_for_approval_then_merges() {
    for kind in KINDS {
        let lab = new_lab(kind, CONFIG);
        lab.require_approvals(1);
        lab.staging_bump("aaaaaaa", T0);
        let out = lab.ferry(&["promote", "--to", "production", "--merge"], None);
        assert_eq!(code(&out), 11, "{kind:?}: {}", text(&out));
        assert!(text(&out).contains("approvals 0 of 1"), "{}", text(&out));
        let open = lab.open();
        assert_eq!(open.len(), 1);
        lab.approve(open[0].number);
        let out = lab.ferry(
            &[
                "promote",
                "--to",
                "production",
                "--merge",
                "--output",
                "json",
            ],
            None,
        );
        assert_eq!(code(&out), 0, "{kind:?}: {}", text(&out));
        assert_eq!(json_of(&out)["status"], "merged", "{}", text(&out));
        assert!(lab.open().is_empty());
        assert_eq!(
            lab.file("main", "envs/production/kustomization.yaml"),
            kustomization("aaaaaaa", "2222222")
        );
        // Nothing left to promote or merge.
        let out = lab.ferry(&["promote", "--to", "production", "--merge"], None);
        assert_eq!(code(&out), 0, "{kind:?}: {}", text(&out));
        assert!(text(&out).contains("Nothing to promote"), "{}", text(&out));
    }
}

#[test]
fn merge_checks_a_promotions_gates_again_before_merging() {
    let window = "Mon-Fri 09:00-17:00 UTC";
    let monday = T0 + 10 * 3600;
    let saturday = T0 + 5 * 86_400 + 10 * 3600;
    let next_monday = T0 + 7 * 86_400 + 10 * 3600;
    for kind in KINDS {
        let lab = new_lab(kind, CONFIG);
        lab.require_approvals(1);
        let bumped = lab.staging_bump("aaaaaaa", T0);
        lab.agent_status(&bumped, "continuous-delivery/cart-staging", "success");
        let out = lab.ferry(
            &[
                "promote",
                "--to",
                "production",
                "--window",
                window,
                "--require-status",
                "continuous-delivery/*",
            ],
            Some(monday),
        );
        assert_eq!(code(&out), 0, "{kind:?}: {}", text(&out));
        let open = lab.open();
        assert_eq!(open.len(), 1, "{kind:?}");
        let number = open[0].number.to_string();
        lab.approve(open[0].number);

        // Approved, but the agent now reports the staging sync failed: the status gate holds it.
        lab.agent_status(&bumped, "continuous-delivery/cart-staging", "failure");
        let out = lab.ferry(&["merge", &number], Some(monday));
        assert_eq!(code(&out), 11, "{kind:?}: {}", text(&out));
        assert!(
            text(&out).contains(
                "gate status continuous-delivery/*: continuous-delivery/cart-staging failure"
            ),
            "{kind:?}: {}",
            text(&out)
        );
        lab.agent_status(&bumped, "continuous-delivery/cart-staging", "success");

        // Outside the window recorded when it was opened: waits, naming the next opening.
        let out = lab.ferry(&["merge", &number], Some(saturday));
        assert_eq!(code(&out), 11, "{kind:?}: {}", text(&out));
        assert!(
            text(&out).contains("gate window") && text(&out).contains("2024-01-08T09:00:00Z"),
            "{kind:?}: {}",
            text(&out)
        );
        assert_eq!(lab.open().len(), 1, "{kind:?}: merged outside its window");
        assert_eq!(
            lab.file("main", "envs/production/kustomization.yaml"),
            kustomization("1111111", "2222222")
        );

        // Every gate met: the scheduled `ferry merge --env production` merges it.
        let out = lab.ferry(
            &["merge", "--env", "production", "--output", "json"],
            Some(next_monday),
        );
        assert_eq!(code(&out), 0, "{kind:?}: {}", text(&out));
        assert_eq!(
            json_of(&out)["change_requests"][0]["status"],
            "merged",
            "{kind:?}: {}",
            text(&out)
        );
        assert!(lab.open().is_empty(), "{kind:?}");
        assert_eq!(
            lab.file("main", "envs/production/kustomization.yaml"),
            kustomization("aaaaaaa", "2222222")
        );
    }
}

#[test]
fn a_promotion_into_another_repository_goes_through_its_change_request() {
    let lab = new_lab(Kind::GitHub, CONFIG);
    lab.staging_bump("aaaaaaa", T0);
    let prod_config =
        "version: 1\nenvironments:\n  production:\n    path: apps\n    update: pull-request\n";
    let prod_file = kustomization("1111111", "2222222");
    let prod = lab.add_repo(
        "acme/prod",
        &[
            ("ferry.yaml", prod_config.as_bytes()),
            ("apps/kustomization.yaml", prod_file.as_bytes()),
        ],
    );
    let prod_url = lab.url("acme/prod");
    let promote = |now: i64| {
        lab.ferry(
            &[
                "promote",
                "--from",
                "staging",
                "--to",
                "production",
                "--to-repo",
                &prod_url,
                "--min-age",
                "1h",
                "--output",
                "json",
            ],
            Some(now),
        )
    };
    let out = promote(T0 + 7200);
    assert_eq!(code(&out), 0, "{}", text(&out));
    let report = json_of(&out);
    assert_eq!(report["status"], "proposed", "{}", text(&out));
    let number = report["change_request"]["number"].as_u64().expect("number");
    let open: Vec<_> = lab
        .forge
        .change_requests("acme/prod")
        .into_iter()
        .filter(|cr| cr.state == CrState::Open)
        .collect();
    assert_eq!(open.len(), 1);
    assert_eq!(open[0].head, "ferry/production/promotion");
    assert!(lab.open().is_empty(), "opened in the source repository");
    // A rerun supersedes nothing: the same change request, no push.
    let pushes = lab.git.pushes_accepted();
    let out = promote(T0 + 7300);
    assert_eq!(code(&out), 0, "{}", text(&out));
    assert_eq!(lab.git.pushes_accepted(), pushes, "a rerun pushed");

    // `ferry merge` in the target repository finds the source from the commit's trailers and
    // checks the gates there again before merging.
    let merge = |now: i64| {
        lab.ferry(
            &["merge", &number.to_string(), "--repo", &prod_url],
            Some(now),
        )
    };
    let head = remote::branch_tip(&prod, "ferry/production/promotion").expect("head");
    let message = remote::git(&prod, &["log", "-1", "--format=%B", &head]);
    assert!(
        message.contains("Ferry-Promotion: staging -> production")
            && message.contains(&format!("Ferry-Promoted-From-Repo: {}", lab.url(REPO)))
            && message.contains("Ferry-Gate: min-age=1h"),
        "{message}"
    );
    let out = merge(T0 + 7300);
    assert_eq!(code(&out), 0, "{}", text(&out));
    assert!(text(&out).contains("Merged"), "{}", text(&out));
    let files = remote::read_branch(&prod, "main");
    assert_eq!(
        String::from_utf8_lossy(&files["apps/kustomization.yaml"]),
        kustomization("aaaaaaa", "2222222")
    );
}

#[test]
fn status_and_history_read_the_commits_and_match_their_snapshots() {
    let lab = new_lab(Kind::GitHub, CONFIG);
    lab.staging_bump("aaaaaaa", T0 + 3600);
    lab.staging_bump("bbbbbbb", T0 + 7200);
    let prod = kustomization("aaaaaaa", "2222222");
    remote::commit_files_at(
        &lab.repo,
        "main",
        &[("envs/production/kustomization.yaml", Some(prod.as_bytes()))],
        "production: promote from staging\n\nFerry-Promotion: staging -> production\n",
        &format!("{} +0000", T0 + 10_800),
    );
    let stdout = |out: &Output| {
        assert_eq!(code(out), 0, "{}", text(out));
        let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
        // insta compares without trailing whitespace: the output ends with one line break.
        assert_eq!(stdout.trim_end().len() + 1, stdout.len(), "{stdout:?}");
        stdout
    };
    // Snapshots in tests/snapshots/ (`cargo insta review`, or INSTA_UPDATE=always, writes them).
    insta::assert_snapshot!("status.txt", stdout(&lab.ferry(&["status"], None)));
    insta::assert_snapshot!(
        "status.md",
        stdout(&lab.ferry(&["status", "--output", "markdown"], None)),
    );
    insta::assert_snapshot!(
        "status.json",
        stdout(&lab.ferry(&["status", "--output", "json"], None)),
    );
    insta::assert_snapshot!(
        "history.txt",
        stdout(&lab.ferry(&["history", "--env", "staging"], None)),
    );
    insta::assert_snapshot!(
        "history.md",
        stdout(&lab.ferry(
            &[
                "history",
                "--env",
                "staging",
                "--image",
                "ghcr.io/acme/cart",
                "--output",
                "markdown",
            ],
            None,
        )),
    );
}

#[test]
fn history_fetches_more_only_as_needed_and_says_when_it_is_cut() {
    let lab = new_lab(Kind::GitHub, CONFIG);
    for i in 0..40 {
        remote::commit_files(
            &lab.repo,
            "main",
            &[("README.md", Some(format!("{i}\n").as_bytes()))],
            "unrelated",
        );
    }
    lab.staging_bump("aaaaaaa", T0 + 60);
    for i in 40..45 {
        remote::commit_files(
            &lab.repo,
            "main",
            &[("README.md", Some(format!("{i}\n").as_bytes()))],
            "unrelated",
        );
    }
    // The change is 6 commits back: found on the first, shallow read.
    let out = lab.ferry(
        &[
            "history", "--env", "staging", "--limit", "1", "--output", "json",
        ],
        None,
    );
    assert_eq!(code(&out), 0, "{}", text(&out));
    let report = json_of(&out);
    assert_eq!(report["changes"][0]["to"], "aaaaaaa", "{report}");
    assert_eq!(report["cut"], false);
    assert!(
        report["commits_read"].as_u64().expect("n") <= 16,
        "{report}"
    );
    // Everything: the first commit is 46 back, past two deepenings.
    let out = lab.ferry(&["history", "--env", "staging", "--output", "json"], None);
    let report = json_of(&out);
    assert_eq!(report["cut"], false, "{report}");
    // The first commit adds cart, web and canary; then cart changes once.
    assert_eq!(
        report["changes"].as_array().expect("changes").len(),
        4,
        "{report}"
    );
    // A limit that stops before: said so.
    let out = lab.ferry(
        &["history", "--env", "staging", "--max-commits", "10"],
        None,
    );
    assert_eq!(code(&out), 0, "{}", text(&out));
    assert!(text(&out).contains("History is cut"), "{}", text(&out));
    // Status too: web's version in staging is older than the 10 commits read.
    let out = lab.ferry(&["status", "--max-commits", "10", "--output", "json"], None);
    assert_eq!(code(&out), 0, "{}", text(&out));
    let report = json_of(&out);
    assert_eq!(
        report["images"]["ghcr.io/acme/web"]["staging"]["cut"], true,
        "{report}"
    );
    // cart changed 6 commits back: inside what was read.
    assert_eq!(
        report["images"]["ghcr.io/acme/cart"]["staging"]["cut"], false,
        "{report}"
    );
    let out = lab.ferry(&["status", "--max-commits", "10"], None);
    assert!(
        text(&out).contains("History is cut: `<` marks"),
        "{}",
        text(&out)
    );
    assert!(
        String::from_utf8_lossy(&out.stdout).contains(" <2024-"),
        "{}",
        text(&out)
    );
}

#[test]
fn wait_reports_the_agents_verdict() {
    for kind in KINDS {
        let lab = new_lab(kind, CONFIG);
        let commit = lab.staging_bump("aaaaaaa", T0);
        let wait = |context: &str| {
            lab.ferry(
                &[
                    "wait",
                    "--env",
                    "staging",
                    "--context",
                    context,
                    "--timeout",
                    "1s",
                    "--interval",
                    "1s",
                ],
                None,
            )
        };
        lab.agent_status(&commit, "kustomization/staging/3f2a9c1d", "success");
        let out = wait("kustomization/staging/3f2a9c1d");
        assert_eq!(code(&out), 0, "{kind:?}: {}", text(&out));
        assert!(
            text(&out).contains("https://argocd.example.invalid/applications/cart"),
            "{}",
            text(&out)
        );
        lab.agent_status(&commit, "kustomization/other/3f2a9c1d", "failure");
        let out = wait("kustomization/other/3f2a9c1d");
        assert_eq!(code(&out), 13, "{kind:?}: {}", text(&out));
        let out = wait("kustomization/never/3f2a9c1d");
        assert_eq!(code(&out), 14, "{kind:?}: {}", text(&out));
        assert!(
            text(&out).contains("no such status was posted"),
            "{}",
            text(&out)
        );

        // Pending at the first poll; the agent reports success while ferry waits.
        lab.agent_status(&commit, "kustomization/slow/3f2a9c1d", "pending");
        let polls_before = status_polls(&lab);
        lab.forge.post_status_later(LaterStatus {
            method: "GET".to_owned(),
            path_contains: "/status".to_owned(),
            after: 1,
            repo: REPO.to_owned(),
            sha: commit.clone(),
            context: "kustomization/slow/3f2a9c1d".to_owned(),
            state: "success".to_owned(),
            target_url: Some("https://flux.example.invalid/slow".to_owned()),
        });
        let out = lab.ferry(
            &[
                "wait",
                "--env",
                "staging",
                "--context",
                "kustomization/slow/3f2a9c1d",
                "--timeout",
                "1m",
                "--interval",
                "1s",
            ],
            None,
        );
        assert_eq!(code(&out), 0, "{kind:?}: {}", text(&out));
        assert!(
            text(&out).contains("https://flux.example.invalid/slow"),
            "{}",
            text(&out)
        );
        assert_eq!(
            status_polls(&lab) - polls_before,
            2,
            "{kind:?}: one status query per poll, two polls"
        );
    }
}

/// Agents post on the revision they synced: the branch's tip at their poll. Another pipeline's
/// commit lands after ferry's bump, before the agent posts: `wait` and the `require-status`
/// gate read the later commit too, say which commit decided, and follow a failure then a
/// success.
#[test]
fn wait_and_the_status_gate_read_the_revision_the_agent_synced() {
    for kind in KINDS {
        let lab = new_lab(kind, CONFIG);
        // ferry's bump, through the binary: its commit is what a waiting job is handed.
        let out = lab.ferry(
            &[
                "bump",
                "--env",
                "staging",
                "--output",
                "json",
                "ghcr.io/acme/cart=aaaaaaa",
            ],
            Some(T0),
        );
        assert_eq!(code(&out), 0, "{kind:?}: {}", text(&out));
        let mine = json_of(&out)["commit"].as_str().expect("commit").to_owned();
        // Another pipeline's commit, then the agent syncs the tip.
        let later = remote::commit_files_at(
            &lab.repo,
            "main",
            &[("envs/staging/notes.md", Some(b"not an image\n".as_slice()))],
            "staging: notes",
            &format!("{} +0000", T0 + 60),
        );
        // A rerun of the bump changes nothing and hands on ferry's commit, not the tip.
        let out = lab.ferry(
            &[
                "bump",
                "--env",
                "staging",
                "--output",
                "json",
                "ghcr.io/acme/cart=aaaaaaa",
            ],
            Some(T0 + 120),
        );
        assert_eq!(code(&out), 0, "{kind:?}: {}", text(&out));
        assert_eq!(json_of(&out)["status"], "up-to-date");
        assert_eq!(json_of(&out)["commit"], mine.as_str(), "{kind:?}");

        // `ferry wait` on ferry's commit, its report as JSON or as text.
        let wait_as = |output: &str, context: &str, timeout: &str| {
            lab.ferry(
                &[
                    "--output",
                    output,
                    "wait",
                    "--env",
                    "staging",
                    "--commit",
                    &mine,
                    "--context",
                    context,
                    "--timeout",
                    timeout,
                    "--interval",
                    "1s",
                ],
                None,
            )
        };
        let wait = |context: &str, timeout: &str| wait_as("json", context, timeout);
        let wait_text = |context: &str, timeout: &str| wait_as("text", context, timeout);
        // Success on the later commit only: success, and it says where.
        lab.agent_status(&later, "continuous-delivery/ok", "success");
        let out = wait("continuous-delivery/ok", "1s");
        assert_eq!(code(&out), 0, "{kind:?}: {}", text(&out));
        let report = json_of(&out);
        assert_eq!(report["verdict_commit"], later.as_str(), "{report}");
        assert_eq!(report["commit"], mine.as_str(), "{report}");
        let out = wait_text("continuous-delivery/ok", "1s");
        assert!(
            text(&out).contains(&format!(
                "succeeded on {}, a later commit of `main` that contains {}",
                &later[..12],
                &mine[..12]
            )),
            "{kind:?}: {}",
            text(&out)
        );

        // Failure on ferry's commit, success on the later one (the agent retried): success.
        lab.agent_status(&mine, "continuous-delivery/retry", "failure");
        lab.agent_status(&later, "continuous-delivery/retry", "success");
        let out = wait("continuous-delivery/retry", "1s");
        assert_eq!(code(&out), 0, "{kind:?}: {}", text(&out));

        // Failure on the newest commit: final at once.
        lab.agent_status(&later, "continuous-delivery/broken", "failure");
        let polls = status_polls(&lab);
        let out = wait("continuous-delivery/broken", "1m");
        assert_eq!(code(&out), 13, "{kind:?}: {}", text(&out));
        assert_eq!(json_of(&out)["polls"], 1, "{kind:?}: {}", text(&out));
        assert_eq!(
            status_polls(&lab) - polls,
            1,
            "{kind:?}: the newest commit decided"
        );

        // Failure on ferry's commit with a newer commit not yet judged: not final. The agent
        // then posts success on the newer commit while ferry waits.
        lab.agent_status(&mine, "continuous-delivery/slow", "failure");
        lab.forge.post_status_later(LaterStatus {
            method: "GET".to_owned(),
            path_contains: "/status".to_owned(),
            after: 2,
            repo: REPO.to_owned(),
            sha: later.clone(),
            context: "continuous-delivery/slow".to_owned(),
            state: "success".to_owned(),
            target_url: Some("https://argocd.example.invalid/applications/cart-staging".to_owned()),
        });
        let out = wait("continuous-delivery/slow", "1m");
        assert_eq!(code(&out), 0, "{kind:?}: {}", text(&out));
        assert_eq!(json_of(&out)["verdict_commit"], later.as_str());
        assert!(json_of(&out)["polls"].as_u64().expect("polls") >= 2);
        // Nothing on the newer commit by the timeout: the failure stands, and says so.
        lab.agent_status(&mine, "continuous-delivery/stuck", "failure");
        let out = wait_text("continuous-delivery/stuck", "1s");
        assert_eq!(code(&out), 13, "{kind:?}: {}", text(&out));
        assert!(
            text(&out).contains("newer commits of `main` had no verdict"),
            "{kind:?}: {}",
            text(&out)
        );
        // Nothing anywhere: a timeout that names both commits' absence.
        let out = wait_text("continuous-delivery/never", "1s");
        assert_eq!(code(&out), 14, "{kind:?}: {}", text(&out));
        assert!(
            text(&out).contains("or the 1 later commit(s) of `main` that contain it"),
            "{kind:?}: {}",
            text(&out)
        );

        // The promotion gate reads the same way.
        let promote = |context: &str| {
            lab.ferry(
                &[
                    "promote",
                    "--to",
                    "production",
                    "--dry-run",
                    "--require-status",
                    context,
                ],
                Some(T0 + 3600),
            )
        };
        let out = promote("continuous-delivery/retry");
        assert_eq!(code(&out), 0, "{kind:?}: {}", text(&out));
        assert!(
            text(&out).contains(&format!("on {}, a later commit of `main`", &later[..12])),
            "{kind:?}: {}",
            text(&out)
        );
        let out = promote("continuous-delivery/stuck");
        assert_eq!(code(&out), 11, "{kind:?}: {}", text(&out));
        assert!(
            text(&out).contains("newer commits have no verdict yet"),
            "{kind:?}: {}",
            text(&out)
        );
        let out = promote("continuous-delivery/broken");
        assert_eq!(code(&out), 11, "{kind:?}: {}", text(&out));
        let out = promote("continuous-delivery/never");
        assert_eq!(code(&out), 11, "{kind:?}: {}", text(&out));
        assert!(
            text(&out).contains(&format!(
                "no status `continuous-delivery/never` on {} or a later commit",
                &mine[..12]
            )),
            "{kind:?}: {}",
            text(&out)
        );
    }
}

/// The status queries answered so far (`/status`, `/statuses`, `/check-runs`).
fn status_polls(lab: &Lab) -> usize {
    lab.forge
        .requests()
        .iter()
        .filter(|r| {
            r.method == "GET" && (r.path.contains("/status") || r.path.contains("/check-runs"))
        })
        .count()
}

#[test]
fn rollback_sets_an_earlier_tag_and_can_hold_the_environment() {
    let lab = new_lab(Kind::GitLab, CONFIG);
    lab.staging_bump("aaaaaaa", T0 + 60);
    lab.staging_bump("bbbbbbb", T0 + 120);
    let out = lab.ferry(
        &[
            "rollback",
            "--env",
            "staging",
            "--image",
            "ghcr.io/acme/cart",
        ],
        None,
    );
    assert_eq!(code(&out), 0, "{}", text(&out));
    assert_eq!(
        lab.file("main", "envs/staging/kustomization.yaml"),
        kustomization("aaaaaaa", "2222222")
    );
    let message = &remote::log(&lab.repo, "main")[0].message;
    assert!(
        message.starts_with("staging: roll back cart to aaaaaaa (was bbbbbbb)"),
        "{message}"
    );

    let out = lab.ferry(
        &[
            "rollback",
            "--env",
            "staging",
            "--image",
            "ghcr.io/acme/cart",
            "--to",
            "1111111",
            "--hold",
            "--reason",
            "bad build",
        ],
        None,
    );
    assert_eq!(code(&out), 0, "{}", text(&out));
    // An all-digit tag is quoted so that it stays a string.
    assert_eq!(
        lab.file("main", "envs/staging/kustomization.yaml"),
        kustomization("\"1111111\"", "2222222")
    );
    let config = lab.file("main", "ferry.yaml");
    assert_eq!(
        config,
        CONFIG.replace(
            "  staging:\n    path",
            "  staging:\n    hold: true\n    hold-reason: \"bad build\"\n    path"
        )
    );
    // A bump is now refused as held; a second rollback still works.
    let out = lab.ferry(
        &["bump", "--env", "staging", "ghcr.io/acme/cart=ccccccc"],
        None,
    );
    assert_eq!(code(&out), 8, "{}", text(&out));
    let out = lab.ferry(
        &[
            "rollback",
            "--env",
            "staging",
            "--image",
            "ghcr.io/acme/cart",
            "--to",
            "9999999",
        ],
        None,
    );
    assert_eq!(code(&out), 2, "{}", text(&out));
    assert!(text(&out).contains("earlier versions: "), "{}", text(&out));

    // Where the environment takes changes through change requests, so does its rollback.
    let prod = kustomization("aaaaaaa", "2222222");
    remote::commit_files(
        &lab.repo,
        "main",
        &[("envs/production/kustomization.yaml", Some(prod.as_bytes()))],
        "production: promote",
    );
    let out = lab.ferry(
        &[
            "rollback",
            "--env",
            "production",
            "--image",
            "ghcr.io/acme/cart",
            "--output",
            "json",
        ],
        None,
    );
    assert_eq!(code(&out), 0, "{}", text(&out));
    let open = lab.open();
    assert_eq!(open.len(), 1, "{}", text(&out));
    assert!(
        open[0].head.starts_with("ferry/production/rollback-cart-"),
        "{}",
        open[0].head
    );
    assert!(
        open[0]
            .title
            .contains("Roll back cart in production to 1111111"),
        "{}",
        open[0].title
    );
}
