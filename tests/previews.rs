//! `ferry preview up/down/list/gc` against the git smart-HTTP server (the environment
//! repository) and the forge test server (the application repository's merge requests, on
//! GitHub and on GitLab): the whole lifecycle, the cap, expiry with an injected clock,
//! concurrent writers and hostile names.

use std::path::PathBuf;
use std::process::{Command, Output};

use serde_json::{Value, json};

use crate::support::forge::client;
use crate::support::lab::{ALICE_TOKEN, BOT_TOKEN, KINDS, Kind, Lab, code, json_of, text};
use crate::support::remote;

const BRANCH: &str = "dynamic-envs";
const T0: &str = "2026-11-23T12:00:00Z";
/// The note ferry writes when it creates the previews branch.
const README: &str = "apps/README.md";
/// The application repository, whose merge requests get previews.
const SHOP: &str = "acme/shop";

const CONFIG: &str = "\
version: 1
previews:
  ttl: 72h
  url: https://{slug}.preview.example.com
  deploy:
    path: previews/base
";

/// An environment repository (`acme/env`) configured by `config` and an application
/// repository (`acme/shop`) with branches for merge requests, served by both servers.
fn new_lab(kind: Kind, config: &str) -> Lab {
    let lab = Lab::new(
        kind,
        &[
            ("ferry.yaml", config.as_bytes()),
            (
                "previews/base/kustomization.yaml",
                b"resources: [deployment.yaml]\n",
            ),
        ],
    );
    lab.add_repo(SHOP, &[("README.md", b"the shop\n")]);
    lab
}

impl Lab {
    /// The bare application repository.
    fn shop(&self) -> PathBuf {
        self.root.join(format!("{SHOP}.git"))
    }

    fn shop_url(&self) -> String {
        self.url(SHOP)
    }

    /// The ferry binary, isolated from the caller's CI, pointed at these servers (the
    /// application repository too), at [`T0`], in the lab's directory.
    fn preview_command(&self) -> Command {
        let mut cmd = self.command();
        cmd.env("FERRY_APP_REPO", self.shop_url())
            .env("FERRY_NOW", T0)
            .current_dir(self.dir.path());
        cmd
    }

    fn preview(&self, args: &[&str]) -> Output {
        self.preview_command()
            .arg("preview")
            .args(args)
            .output()
            .expect("ferry runs")
    }

    /// Opens a merge request of `branch` (created from main) in the application repository.
    fn open_cr(&self, branch: &str, title: &str) -> u64 {
        remote::git(&self.shop(), &["branch", branch, "main"]);
        remote::commit_files(
            &self.shop(),
            branch,
            &[("CHANGES.md", Some(title.as_bytes()))],
            title,
        );
        let answer = match self.kind {
            Kind::GitHub => client::send_json(
                "POST",
                &format!("{}/repos/acme/shop/pulls", self.forge.github_api_url()),
                &[("authorization", &format!("token {ALICE_TOKEN}"))],
                &json!({"title": title, "head": branch, "base": "main", "body": ""}),
            ),
            Kind::GitLab => client::send_form(
                "POST",
                &format!(
                    "{}/projects/acme%2Fshop/merge_requests",
                    self.forge.gitlab_api_url()
                ),
                &[("private-token", ALICE_TOKEN)],
                &[
                    ("source_branch", branch),
                    ("target_branch", "main"),
                    ("title", title),
                ],
            ),
        }
        .expect("open");
        assert_eq!(answer.status, 201, "{}", answer.text());
        let json = answer.json();
        json["number"]
            .as_u64()
            .or_else(|| json["iid"].as_u64())
            .expect("number")
    }

    fn close_cr(&self, number: u64) {
        let answer = match self.kind {
            Kind::GitHub => client::send_json(
                "PATCH",
                &format!(
                    "{}/repos/acme/shop/pulls/{number}",
                    self.forge.github_api_url()
                ),
                &[("authorization", &format!("token {ALICE_TOKEN}"))],
                &json!({"state": "closed"}),
            ),
            Kind::GitLab => client::send_form(
                "PUT",
                &format!(
                    "{}/projects/acme%2Fshop/merge_requests/{number}",
                    self.forge.gitlab_api_url()
                ),
                &[("private-token", ALICE_TOKEN)],
                &[("state_event", "close")],
            ),
        }
        .expect("close");
        assert_eq!(answer.status, 200, "{}", answer.text());
    }

    fn merge_cr(&self, number: u64) {
        let answer = match self.kind {
            Kind::GitHub => client::send_json(
                "PUT",
                &format!(
                    "{}/repos/acme/shop/pulls/{number}/merge",
                    self.forge.github_api_url()
                ),
                &[("authorization", &format!("token {ALICE_TOKEN}"))],
                &json!({}),
            ),
            Kind::GitLab => client::send_form(
                "PUT",
                &format!(
                    "{}/projects/acme%2Fshop/merge_requests/{number}/merge",
                    self.forge.gitlab_api_url()
                ),
                &[("private-token", ALICE_TOKEN)],
                &[],
            ),
        }
        .expect("merge");
        assert_eq!(answer.status, 200, "{}", answer.text());
    }

    /// The previews branch's files, but the note ferry leaves in the directory.
    fn files(&self) -> Vec<(String, String)> {
        remote::read_branch(&self.repo, BRANCH)
            .into_iter()
            .filter(|(path, _)| path != README)
            .map(|(path, bytes)| (path, String::from_utf8(bytes).expect("utf-8")))
            .collect()
    }

    fn commits(&self) -> usize {
        if remote::branch_tip(&self.repo, BRANCH).is_none() {
            return 0;
        }
        remote::log(&self.repo, BRANCH).len()
    }

    fn comments(&self, number: u64) -> Vec<String> {
        self.forge
            .comments("acme/shop", number)
            .into_iter()
            .map(|c| c.body)
            .collect()
    }
}

fn ok(out: &Output) -> Value {
    assert_eq!(code(out), 0, "{}", text(out));
    json_of(out)
}

/// The one document of a rendered Argo CD preview.
fn application(text: &str) -> Value {
    let docs: Vec<Value> = serde_saphyr::from_multiple(text).expect("yaml");
    assert_eq!(docs.len(), 1, "{text}");
    docs.into_iter().next().expect("one")
}

#[test]
fn a_preview_is_created_updated_in_place_and_removed_with_one_sticky_comment() {
    for kind in KINDS {
        let lab = new_lab(kind, CONFIG);
        let number = lab.open_cr("feature/new-cart", "New cart");

        let up = |tag: &str, now: &str| {
            lab.preview(&[
                "up",
                "--output",
                "json",
                "--name",
                "feature/new-cart",
                "--mr",
                &number.to_string(),
                "--now",
                now,
                &format!("ghcr.io/acme/cart={tag}"),
            ])
        };
        let first = ok(&up("1111111", T0));
        assert_eq!(first["status"], "created", "{kind:?}: {first}");
        let slug = first["slug"].as_str().expect("slug").to_owned();
        // Always the prefix, a readable part and the hash of the whole name.
        assert!(slug.starts_with("preview-feature-new-cart-"), "{slug}");
        assert_eq!(first["namespace"], slug.as_str());
        assert_eq!(
            first["url"],
            format!("https://{slug}.preview.example.com").as_str()
        );
        assert_eq!(first["expires_at"], "2026-11-26T12:00:00Z");

        // The branch did not exist: it was made, holding only the preview (and a note that
        // keeps the directory when the last preview goes).
        let all = remote::read_branch(&lab.repo, BRANCH);
        assert_eq!(all.len(), 2, "{kind:?}: {:?}", all.keys());
        assert!(all.contains_key(README), "{:?}", all.keys());
        let files = lab.files();
        let file = format!("apps/{slug}.yaml");
        assert_eq!(
            files.iter().map(|(p, _)| p.as_str()).collect::<Vec<_>>(),
            [file.as_str()],
            "{kind:?}"
        );
        let app = application(&files[0].1);
        assert_eq!(app["kind"], "Application");
        assert_eq!(app["metadata"]["name"], slug.as_str());
        assert_eq!(app["spec"]["destination"]["namespace"], slug.as_str());
        assert_eq!(
            app["spec"]["source"]["kustomize"]["images"][0],
            "ghcr.io/acme/cart:1111111"
        );
        assert_eq!(app["spec"]["source"]["path"], "previews/base");
        assert_eq!(app["spec"]["source"]["targetRevision"], "main");
        let annotations = &app["metadata"]["annotations"];
        assert_eq!(annotations["ferry.dev/name"], "feature/new-cart");
        assert_eq!(annotations["ferry.dev/change-request"], number.to_string());
        assert_eq!(annotations["ferry.dev/project"], lab.shop_url());
        assert_eq!(lab.commits(), 1);

        let comments = lab.comments(number);
        assert_eq!(comments.len(), 1, "{kind:?}: {comments:?}");
        assert!(
            comments[0].contains("ghcr.io/acme/cart:1111111"),
            "{comments:?}"
        );
        assert!(
            comments[0].contains(&format!("https://{slug}.preview.example.com")),
            "{comments:?}"
        );
        assert!(comments[0].contains(&slug), "{comments:?}");

        // Again, an hour later, with the same inputs: nothing changes.
        let again = ok(&up("1111111", "2026-11-23T13:00:00Z"));
        assert_eq!(again["status"], "unchanged", "{kind:?}: {again}");
        assert_eq!(lab.commits(), 1, "{kind:?}: no empty commit");
        assert_eq!(lab.comments(number), comments, "{kind:?}");

        // A new tag: the same file, updated in place; the same comment, edited.
        let second = ok(&up("2222222", "2026-11-23T14:00:00Z"));
        assert_eq!(second["status"], "updated", "{kind:?}: {second}");
        assert_eq!(
            second["slug"],
            slug.as_str(),
            "stable for the merge request"
        );
        assert_eq!(lab.commits(), 2);
        let files = lab.files();
        assert_eq!(files.len(), 1);
        let app = application(&files[0].1);
        assert_eq!(
            app["spec"]["source"]["kustomize"]["images"][0],
            "ghcr.io/acme/cart:2222222"
        );
        assert_eq!(
            app["metadata"]["annotations"]["ferry.dev/expires-at"],
            "2026-11-26T14:00:00Z"
        );
        let comments = lab.comments(number);
        assert_eq!(comments.len(), 1, "{kind:?}: edited, not added");
        assert!(
            comments[0].contains("ghcr.io/acme/cart:2222222"),
            "{comments:?}"
        );

        // Past half the time to live, the same inputs renew the expiry.
        let renewed = ok(&up("2222222", "2026-11-25T03:00:00Z"));
        assert_eq!(renewed["status"], "renewed", "{kind:?}: {renewed}");
        assert_eq!(renewed["expires_at"], "2026-11-28T03:00:00Z");
        assert_eq!(lab.commits(), 3);

        let listed = ok(&lab.preview(&["list", "--output", "json"]));
        assert_eq!(listed["previews"].as_array().map(Vec::len), Some(1));
        assert_eq!(listed["previews"][0]["slug"], slug.as_str());
        assert_eq!(listed["previews"][0]["change_request"], number);

        let down = |args: &[&str]| {
            let mut all = vec!["down", "--output", "json", "--name", "feature/new-cart"];
            all.extend_from_slice(args);
            lab.preview(&all)
        };
        let removed = ok(&down(&["--mr", &number.to_string()]));
        assert_eq!(removed["status"], "removed", "{kind:?}: {removed}");
        assert!(lab.files().is_empty(), "{kind:?}");
        assert!(
            remote::read_branch(&lab.repo, BRANCH).contains_key(README),
            "{kind:?}: the directory stays"
        );
        assert_eq!(lab.commits(), 4);
        let comments = lab.comments(number);
        assert_eq!(comments.len(), 1, "{kind:?}");
        assert!(comments[0].contains("Removed"), "{comments:?}");

        let absent = ok(&down(&[]));
        assert_eq!(absent["status"], "absent", "{kind:?}: {absent}");
        assert_eq!(
            lab.commits(),
            4,
            "{kind:?}: down of a missing preview is a no-op"
        );
    }
}

#[test]
fn in_gitlab_ci_the_name_and_merge_request_come_from_the_pipeline_and_a_dotenv_is_written() {
    let lab = new_lab(Kind::GitLab, CONFIG);
    let number = lab.open_cr("feat/Login_Page", "Login");
    let dotenv = lab.dir.path().join("preview.env");
    let out = lab
        .preview_command()
        .env("GITLAB_CI", "true")
        .env("CI_PROJECT_URL", lab.shop_url())
        .env("CI_MERGE_REQUEST_IID", number.to_string())
        .env("CI_MERGE_REQUEST_SOURCE_BRANCH_NAME", "feat/Login_Page")
        .env("CI_COMMIT_SHA", "9d8c7b6a5f4e3d2c1b0a9d8c7b6a5f4e3d2c1b0a")
        .env("FERRY_DOTENV", &dotenv)
        .env_remove("FERRY_APP_REPO")
        .args(["preview", "up", "ghcr.io/acme/login=abc1234"])
        .output()
        .expect("runs");
    assert_eq!(code(&out), 0, "{}", text(&out));
    let report = std::fs::read_to_string(&dotenv).expect("dotenv written");
    let value = |key: &str| {
        report
            .lines()
            .find_map(|l| l.strip_prefix(&format!("{key}=")))
            .unwrap_or_else(|| panic!("{key} in {report}"))
            .to_owned()
    };
    let slug = value("FERRY_SLUG");
    assert!(slug.starts_with("preview-feat-login-page-"), "{report}");
    assert_eq!(value("FERRY_NAMESPACE"), slug);
    assert_eq!(
        value("FERRY_PREVIEW_URL"),
        format!("https://{slug}.preview.example.com")
    );
    let files = lab.files();
    let app = application(&files[0].1);
    let annotations = &app["metadata"]["annotations"];
    assert_eq!(annotations["ferry.dev/name"], "feat/Login_Page");
    assert_eq!(annotations["ferry.dev/change-request"], number.to_string());
    assert_eq!(
        annotations["ferry.dev/source-commit"],
        "9d8c7b6a5f4e3d2c1b0a9d8c7b6a5f4e3d2c1b0a"
    );
    assert_eq!(lab.comments(number).len(), 1);
}

#[test]
fn gc_removes_previews_of_closed_and_merged_requests_and_expired_ones_in_one_commit() {
    for kind in KINDS {
        let lab = new_lab(kind, CONFIG);
        let open = lab.open_cr("feature/open", "Open");
        let closed = lab.open_cr("feature/closed", "Closed");
        let merged = lab.open_cr("feature/merged", "Merged");
        for (name, number) in [
            ("feature/open", Some(open)),
            ("feature/closed", Some(closed)),
            ("feature/merged", Some(merged)),
            ("nightly", None),
        ] {
            let mut args = vec!["up", "--name", name, "ghcr.io/acme/cart=1111111"];
            let number = number.map(|n| n.to_string());
            if let Some(n) = &number {
                args.extend(["--mr", n.as_str()]);
            }
            let out = lab.preview(&args);
            assert_eq!(code(&out), 0, "{kind:?}: {}", text(&out));
        }
        assert_eq!(lab.commits(), 4);
        lab.close_cr(closed);
        lab.merge_cr(merged);

        let dry = ok(&lab.preview(&["gc", "--dry-run", "--output", "json"]));
        assert_eq!(dry["status"], "dry-run", "{kind:?}: {dry}");
        assert_eq!(dry["removed"].as_array().map(Vec::len), Some(2), "{dry}");
        assert_eq!(lab.commits(), 4, "a dry run pushes nothing");

        let gc = ok(&lab.preview(&["gc", "--output", "json"]));
        assert_eq!(gc["status"], "removed", "{kind:?}: {gc}");
        let mut reasons: Vec<String> = gc["removed"]
            .as_array()
            .expect("removed")
            .iter()
            .map(|r| r["reason"].as_str().expect("reason").to_owned())
            .collect();
        reasons.sort();
        assert_eq!(
            reasons,
            [
                format!("change request {closed} is closed"),
                format!("change request {merged} is merged")
            ],
            "{kind:?}"
        );
        assert_eq!(gc["kept"], 2);
        assert_eq!(lab.commits(), 5, "{kind:?}: one commit");
        let left: Vec<String> = lab.files().into_iter().map(|(p, _)| p).collect();
        assert_eq!(left.len(), 2, "{left:?}");
        assert!(left.iter().any(|p| p.contains("feature-open-")), "{left:?}");
        assert!(
            left.iter().any(|p| p.starts_with("apps/preview-nightly-")),
            "{left:?}"
        );
        assert!(
            lab.comments(closed)[0].contains("is closed"),
            "{kind:?}: {:?}",
            lab.comments(closed)
        );

        let again = ok(&lab.preview(&["gc", "--output", "json"]));
        assert_eq!(again["status"], "nothing", "{kind:?}: {again}");
        assert_eq!(lab.commits(), 5, "{kind:?}: idempotent");

        // Three days later (the TTL), what was not renewed has expired.
        let later = ok(&lab.preview(&["gc", "--output", "json", "--now", "2026-11-26T12:00:01Z"]));
        assert_eq!(later["status"], "removed", "{kind:?}: {later}");
        assert_eq!(later["removed"].as_array().map(Vec::len), Some(2));
        assert!(
            later["removed"][0]["reason"]
                .as_str()
                .is_some_and(|r| r.starts_with("expired at 2026-11-26T12:00:00Z")),
            "{later}"
        );
        assert!(lab.files().is_empty());
        assert_eq!(lab.commits(), 6);
    }
}

#[test]
fn a_closed_merge_request_gets_no_preview() {
    let lab = new_lab(Kind::GitHub, CONFIG);
    let number = lab.open_cr("feature/late", "Late");
    lab.close_cr(number);
    let out = ok(&lab.preview(&[
        "up",
        "--output",
        "json",
        "--name",
        "feature/late",
        "--mr",
        &number.to_string(),
        "ghcr.io/acme/cart=1111111",
    ]));
    assert_eq!(out["status"], "change-request-closed", "{out}");
    assert_eq!(lab.commits(), 0, "the branch is not even made");
}

#[test]
fn the_cap_refuses_a_new_preview_or_evicts_the_least_recently_updated() {
    let capped = format!("{CONFIG}  max: 2\n");
    let lab = new_lab(Kind::GitHub, &capped);
    for (name, now) in [
        ("alpha", "2026-11-23T12:00:00Z"),
        ("beta", "2026-11-23T13:00:00Z"),
    ] {
        let out = lab.preview(&["up", "--name", name, "--now", now, "ghcr.io/acme/cart=1"]);
        assert_eq!(code(&out), 0, "{}", text(&out));
    }
    let refused = lab.preview(&[
        "up",
        "--name",
        "gamma",
        "--now",
        "2026-11-23T14:00:00Z",
        "ghcr.io/acme/cart=1",
    ]);
    assert_eq!(code(&refused), 12, "{}", text(&refused));
    let stderr = String::from_utf8_lossy(&refused.stderr);
    assert!(stderr.contains("previews.max"), "{stderr}");
    assert!(stderr.contains("evict-oldest"), "{stderr}");
    assert_eq!(lab.commits(), 2, "nothing written");
    // An existing preview is still updated at the cap.
    let update = ok(&lab.preview(&[
        "up",
        "--output",
        "json",
        "--name",
        "alpha",
        "--now",
        "2026-11-23T15:00:00Z",
        "ghcr.io/acme/cart=2",
    ]));
    assert_eq!(update["status"], "updated", "{update}");

    // Evict the oldest instead: now beta (alpha was just updated).
    remote::commit_files(
        &lab.repo,
        "main",
        &[(
            "ferry.yaml",
            Some(format!("{capped}  on-max: evict-oldest\n").as_bytes()),
        )],
        "evict",
    );
    let evicting = ok(&lab.preview(&[
        "up",
        "--output",
        "json",
        "--name",
        "gamma",
        "--now",
        "2026-11-23T16:00:00Z",
        "ghcr.io/acme/cart=1",
    ]));
    assert_eq!(evicting["status"], "created", "{evicting}");
    let evicted = evicting["evicted"].as_array().expect("evicted");
    assert_eq!(evicted.len(), 1, "{evicting}");
    assert!(
        evicted[0]
            .as_str()
            .is_some_and(|s| s.starts_with("preview-beta-")),
        "{evicting}"
    );
    let mut left: Vec<String> = lab.files().into_iter().map(|(p, _)| p).collect();
    left.sort();
    assert_eq!(left.len(), 2, "{left:?}");
    assert!(left[0].starts_with("apps/preview-alpha-"), "{left:?}");
    assert!(left[1].starts_with("apps/preview-gamma-"), "{left:?}");
    assert_eq!(lab.commits(), 4, "created and evicted in one commit");
}

#[test]
fn concurrent_previews_of_different_merge_requests_all_land() {
    let lab = new_lab(Kind::GitLab, CONFIG);
    let names: Vec<String> = (0..6).map(|i| format!("feature/parallel-{i}")).collect();
    // Every job starts before any finishes, on a branch that does not exist yet.
    let children: Vec<_> = names
        .iter()
        .map(|name| {
            lab.preview_command()
                .args(["preview", "up", "--name", name, "ghcr.io/acme/cart=1111111"])
                .stdout(std::process::Stdio::piped())
                .stderr(std::process::Stdio::piped())
                .spawn()
                .expect("spawn")
        })
        .collect();
    for child in children {
        let out = child.wait_with_output().expect("wait");
        assert_eq!(code(&out), 0, "{}", text(&out));
    }
    let files = lab.files();
    assert_eq!(files.len(), names.len(), "{files:?}");
    for name in &names {
        let slug = name.replace('/', "-");
        assert!(
            files
                .iter()
                .any(|(p, _)| p.starts_with(&format!("apps/preview-{slug}-"))),
            "{name}: {files:?}"
        );
    }
    assert_eq!(lab.commits(), names.len(), "one commit each, nothing lost");
}

#[test]
fn hostile_names_stay_data_and_never_leave_the_preview_directory() {
    let lab = new_lab(Kind::GitHub, CONFIG);
    let long = "x".repeat(300);
    let hostile = [
        "it's \"quoted\"",
        "line\nkind: Secret",
        "---\napiVersion: v1\nkind: Secret",
        "../../etc/passwd",
        "/etc/passwd",
        "{{ get_env(name=\"FERRY_TOKEN\") }}",
        "ｆｅａｔ／ｃａｒｔ",
        long.as_str(),
        "///",
        // Namespaces the cluster and its agents own: never taken (nor deleted with the preview).
        "flux-system",
        "kube-system",
        "default",
        "argocd",
    ];
    for name in hostile {
        let flag = format!("--name={name}");
        let out = lab.preview(&["up", "--output", "json", &flag, "ghcr.io/acme/cart=1"]);
        let report = ok(&out);
        let slug = report["slug"].as_str().expect("slug").to_owned();
        assert!(
            slug.len() <= 63
                && slug
                    .bytes()
                    .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
                && !slug.starts_with('-')
                && !slug.ends_with('-'),
            "{name:?}: {slug}"
        );
        assert_eq!(report["file"], format!("apps/{slug}.yaml"), "{name:?}");
        assert!(
            !["flux-system", "kube-system", "default", "argocd"]
                .contains(&report["namespace"].as_str().expect("namespace")),
            "{name:?}: {report}"
        );
        let files = lab.files();
        let (_, file) = files
            .iter()
            .find(|(p, _)| *p == format!("apps/{slug}.yaml"))
            .unwrap_or_else(|| panic!("{name:?}: {files:?}"));
        let app = application(file);
        assert_eq!(app["kind"], "Application", "{name:?}");
        assert_eq!(app["metadata"]["annotations"]["ferry.dev/name"], name);
        assert!(!file.contains(BOT_TOKEN));
    }
    let files = lab.files();
    assert_eq!(
        files.len(),
        hostile.len(),
        "one preview per name, no collisions"
    );
    assert!(
        files
            .iter()
            .all(|(p, _)| p.starts_with("apps/") && p.matches('/').count() == 1),
        "{files:?}"
    );
}

#[test]
fn a_repository_template_that_makes_something_else_pushes_nothing() {
    let config = "\
version: 1
previews:
  template: .ferry/preview.yaml
";
    let lab = new_lab(Kind::GitHub, config);
    remote::commit_files(
        &lab.repo,
        "main",
        &[(
            ".ferry/preview.yaml",
            Some(
                b"apiVersion: v1\nkind: Secret\nmetadata:\n  name: {{ slug | yaml }}\n  annotations:\n    ferry.dev/name: {{ name | yaml }}\n"
                    .as_slice(),
            ),
        )],
        "template",
    );
    let out = lab.preview(&["up", "--name", "feature/x", "ghcr.io/acme/cart=1"]);
    assert_eq!(code(&out), 4, "{}", text(&out));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("may not make"), "{stderr}");
    assert!(stderr.contains(".ferry/preview.yaml"), "{stderr}");
    assert_eq!(lab.commits(), 0, "nothing pushed");

    // Without previews.deploy.path the built-in template says what to set.
    let bare = new_lab(Kind::GitHub, "version: 1\n");
    let out = bare.preview(&["up", "--name", "x", "ghcr.io/acme/cart=1"]);
    assert_eq!(code(&out), 2, "{}", text(&out));
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("previews.deploy.path"),
        "{}",
        text(&out)
    );
}
