//! `ferry bump` against a real git smart-HTTP server (`git http-backend` behind basic auth on
//! 127.0.0.1): what lands, what is refused, and what must never leak.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use crate::support::git_http::{Access, Fault, GitServer, Service};
use crate::support::remote;

const TOKEN: &str = "ferry-test-token-5f2a9c";
const READ_TOKEN: &str = "ferry-read-token-77b1";

const CONFIG: &str = "\
version: 1
environments:
  staging:
    path: envs/staging
    tags: '[0-9a-f]{7,40}'
  production:
    path: envs/production
    hold: true
    hold-reason: release freeze until Monday
  qa:
    path: envs/qa
    hold-images: [ghcr.io/acme/web]
  preview:
    path: envs/preview
    branch: previews
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

/// A deployment per app, for the concurrency test.
fn deployment(app: usize) -> String {
    format!(
        "apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: app{app}\nspec:\n  template:\n    spec:\n      containers:\n        - name: app\n          image: ghcr.io/acme/app{app}:0000000 # app {app}\n"
    )
}

/// A served environment repository.
struct Env {
    _dir: tempfile::TempDir,
    root: PathBuf,
    server: GitServer,
    repo: PathBuf,
}

impl Env {
    fn new() -> Env {
        Env::with_files(&[])
    }

    fn with_files(extra: &[(String, String)]) -> Env {
        let dir = tempfile::tempdir().expect("tempdir");
        let root = dir.path().join("srv");
        std::fs::create_dir_all(&root).expect("mkdir");
        let mut files: Vec<(String, String)> = vec![
            ("ferry.yaml".into(), CONFIG.into()),
            (
                "envs/staging/kustomization.yaml".into(),
                KUSTOMIZATION.into(),
            ),
            (
                "envs/production/kustomization.yaml".into(),
                KUSTOMIZATION.into(),
            ),
            ("envs/qa/kustomization.yaml".into(), KUSTOMIZATION.into()),
            ("base/deployment.yaml".into(), deployment(0)),
        ];
        files.extend(extra.iter().cloned());
        let refs: Vec<(&str, &[u8])> = files
            .iter()
            .map(|(p, t)| (p.as_str(), t.as_bytes()))
            .collect();
        let repo = remote::bare_repo(&root, "env.git", "main", &refs);
        let server = GitServer::start(&root);
        server.add_user("ci", TOKEN, Access::Write);
        server.add_user("reader", READ_TOKEN, Access::Read);
        Env {
            root: dir.path().to_path_buf(),
            _dir: dir,
            server,
            repo,
        }
    }

    fn url(&self) -> String {
        self.server.url("env.git")
    }

    fn tip(&self) -> String {
        remote::branch_tip(&self.repo, "main").expect("main exists")
    }

    fn file(&self, path: &str) -> String {
        let files = remote::read_branch(&self.repo, "main");
        String::from_utf8(files.get(path).cloned().unwrap_or_default()).expect("utf-8")
    }

    /// `ferry bump --repo URL ARGS...` with the write token, isolated from the caller's CI.
    fn bump(&self, args: &[&str]) -> Output {
        self.bump_with(args, &[])
    }

    fn bump_with(&self, args: &[&str], env: &[(&str, &str)]) -> Output {
        let mut cmd = bump_command();
        cmd.arg("bump").arg("--repo").arg(self.url()).args(args);
        cmd.env("FERRY_TOKEN", TOKEN).env("FERRY_USERNAME", "ci");
        for (k, v) in env {
            cmd.env(k, v);
        }
        cmd.output().expect("ferry runs")
    }
}

/// `ferry bump --repo REPO ARGS...` with only the variables in `env` (no token unless given).
fn bump_at(repo: &str, args: &[&str], env: &[(&str, &str)]) -> Output {
    let mut cmd = bump_command();
    cmd.args(["bump", "--repo", repo]).args(args);
    for (k, v) in env {
        cmd.env(k, v);
    }
    cmd.output().expect("ferry runs")
}

/// The ferry binary with every variable that would change a bump's behaviour removed.
fn bump_command() -> Command {
    let mut cmd = crate::support::ferry();
    for var in [
        "GITHUB_ACTIONS",
        "GITLAB_CI",
        "GITHUB_TOKEN",
        "GITLAB_TOKEN",
        "CI_JOB_TOKEN",
        "GITHUB_OUTPUT",
        "GITHUB_STEP_SUMMARY",
        "FERRY_TOKEN",
        "FERRY_USERNAME",
        "FERRY_REPO",
        "FERRY_ATTEMPTS",
        "FERRY_CACHE_DIR",
        "FERRY_SIGN",
        "FERRY_SIGNING_KEY",
        "FERRY_SIGNING_KEY_FILE",
        "FERRY_DOTENV",
        "FERRY_RUN_NUMBER",
        "FERRY_SOURCE_REPO",
        "FERRY_SOURCE_REF",
        "FERRY_SOURCE_COMMIT",
    ] {
        cmd.env_remove(var);
    }
    cmd
}

fn code(out: &Output) -> i32 {
    out.status.code().expect("exited")
}

fn stdout(out: &Output) -> String {
    String::from_utf8_lossy(&out.stdout).into_owned()
}

fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

fn explain(out: &Output) -> String {
    format!(
        "exit {:?}\n--- stdout\n{}--- stderr\n{}",
        out.status.code(),
        stdout(out),
        stderr(out)
    )
}

/// Every line that differs between two texts, as (before, after).
fn changed_lines(before: &str, after: &str) -> Vec<(String, String)> {
    assert_eq!(before.lines().count(), after.lines().count());
    before
        .lines()
        .zip(after.lines())
        .filter(|(a, b)| a != b)
        .map(|(a, b)| (a.to_owned(), b.to_owned()))
        .collect()
}

#[test]
fn bump_pushes_only_the_tag_bytes_in_one_commit() {
    let env = Env::new();
    let before = env.tip();
    let cache = env.root.join("cache");
    let args = [
        "--env",
        "staging",
        "--cache-dir",
        cache.to_str().unwrap(),
        "ghcr.io/acme/cart=9d8c7b6",
        "ghcr.io/acme/web=abcdef0",
    ];
    let out = env.bump(&args);
    assert_eq!(code(&out), 0, "{}", explain(&out));
    let log = remote::log(&env.repo, "main");
    assert_eq!(log[0].parents, vec![before.clone()], "one commit on top");
    assert_eq!(log.len(), 2);
    let after = env.file("envs/staging/kustomization.yaml");
    assert_eq!(
        changed_lines(KUSTOMIZATION, &after),
        vec![
            (
                "    newTag: 1111111".to_owned(),
                "    newTag: 9d8c7b6".to_owned()
            ),
            (
                "    newTag: \"2222222\"   # quoted on purpose".to_owned(),
                "    newTag: \"abcdef0\"   # quoted on purpose".to_owned()
            ),
        ]
    );
    // Other environments and files are untouched.
    assert_eq!(env.file("envs/qa/kustomization.yaml"), KUSTOMIZATION);
    let message = &log[0].message;
    assert!(message.starts_with("staging: bump 2 images"), "{message}");
    assert!(
        message.contains("ghcr.io/acme/cart: 1111111 → 9d8c7b6"),
        "{message}"
    );
    assert!(log[0].raw.contains("author ferry[bot] <"), "{}", log[0].raw);
    assert!(stdout(&out).contains("Pushed"), "{}", explain(&out));

    // The fetched repository is shallow: one commit, nothing checked out.
    let cached: Vec<PathBuf> = std::fs::read_dir(&cache)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.is_dir())
        .collect();
    assert_eq!(cached.len(), 1, "{cached:?}");
    let shallow = std::fs::read_to_string(cached[0].join("shallow")).expect("a shallow repository");
    assert_eq!(shallow.lines().collect::<Vec<_>>(), vec![before.as_str()]);
    assert!(
        !cached[0].join("index").exists(),
        "no index: nothing checked out"
    );

    // Rerunning changes nothing.
    let again = env.bump(&args);
    assert_eq!(code(&again), 0, "{}", explain(&again));
    assert!(
        stdout(&again).contains("Already up to date"),
        "{}",
        explain(&again)
    );
    assert_eq!(remote::log(&env.repo, "main").len(), 2, "no new commit");
}

#[test]
fn dry_run_prints_the_diff_and_pushes_nothing() {
    let env = Env::new();
    let before = env.tip();
    let out = env.bump(&["--env", "staging", "--dry-run", "ghcr.io/acme/cart=9d8c7b6"]);
    assert_eq!(code(&out), 0, "{}", explain(&out));
    let text = stdout(&out);
    assert!(
        text.contains("--- a/envs/staging/kustomization.yaml"),
        "{text}"
    );
    assert!(
        text.contains("-    newTag: 1111111\n+    newTag: 9d8c7b6"),
        "{text}"
    );
    assert!(text.contains("would push commit"), "{text}");
    assert!(
        text.contains(&before[..12]),
        "names the expected tip: {text}"
    );
    assert_eq!(env.tip(), before);

    let out = env.bump(&[
        "--env",
        "staging",
        "--output",
        "json",
        "--dry-run",
        "ghcr.io/acme/cart=9d8c7b6",
    ]);
    assert_eq!(code(&out), 0, "{}", explain(&out));
    let report: serde_json::Value = serde_json::from_slice(&out.stdout).expect("one JSON document");
    assert_eq!(report["status"], "dry-run");
    assert_eq!(report["branch"], "main");
    assert_eq!(report["environment"], "staging");
    assert_eq!(report["previous"], before.as_str());
    assert_eq!(report["changes"][0]["new"], "9d8c7b6");
    assert_eq!(env.tip(), before);
}

#[test]
fn path_and_local_transports_work() {
    let env = Env::new();
    // --path with a file:// URL and with a plain path: full fetch (libgit2 cannot fetch
    // shallow locally), same result.
    let url = format!("file://{}", env.repo.display());
    let out = bump_at(
        &url,
        &["--path", "envs/staging", "ghcr.io/acme/cart=aaaaaaa"],
        &[],
    );
    assert_eq!(code(&out), 0, "{}", explain(&out));
    assert!(
        env.file("envs/staging/kustomization.yaml")
            .contains("newTag: aaaaaaa")
    );
    let out = bump_at(
        env.repo.to_str().unwrap(),
        &["--path", "envs/staging/", "ghcr.io/acme/cart=bbbbbbb"],
        &[],
    );
    assert_eq!(code(&out), 0, "{}", explain(&out));
    assert!(
        env.file("envs/staging/kustomization.yaml")
            .contains("newTag: bbbbbbb")
    );
    // --path still applies the policy of the environment with that path.
    let out = bump_at(
        &url,
        &["--path", "envs/production", "ghcr.io/acme/cart=ccccccc"],
        &[],
    );
    assert_eq!(code(&out), 8, "{}", explain(&out));
}

#[test]
fn an_environment_on_another_branch_is_found_through_ferry_yaml() {
    let env = Env::new();
    remote::git(&env.repo, &["branch", "previews", "main"]);
    remote::commit_files(
        &env.repo,
        "previews",
        &[("envs/preview/app.yaml", Some(deployment(7).as_bytes()))],
        "preview app",
    );
    let main_before = env.tip();
    let out = env.bump(&["--env", "preview", "ghcr.io/acme/app7=1234567"]);
    assert_eq!(code(&out), 0, "{}", explain(&out));
    assert_eq!(env.tip(), main_before, "main is untouched");
    let files = remote::read_branch(&env.repo, "previews");
    let text = String::from_utf8(files["envs/preview/app.yaml"].clone()).unwrap();
    assert!(
        text.contains("image: ghcr.io/acme/app7:1234567 # app 7"),
        "{text}"
    );
}

#[test]
fn a_wrong_token_fails_at_once_with_the_auth_code() {
    let env = Env::new();
    let mut cmd = bump_command();
    let out = cmd
        .args([
            "bump",
            "--repo",
            &env.url(),
            "--env",
            "staging",
            "ghcr.io/acme/cart=9d8c7b6",
        ])
        .env("FERRY_TOKEN", "wrong-token-123456")
        .output()
        .unwrap();
    assert_eq!(code(&out), 5, "{}", explain(&out));
    let err = stderr(&out);
    assert!(err.contains("authentication failed"), "{err}");
    assert!(
        err.contains("Contents: Read and write") || err.contains("write_repository"),
        "{err}"
    );
    assert!(!err.contains("wrong-token-123456"), "{err}");
    let unauthorized = env
        .server
        .requests()
        .iter()
        .filter(|r| r.status == Some(401))
        .count();
    assert!(
        unauthorized <= 3,
        "no credentials loop: {unauthorized} refusals"
    );

    // A token that may read but not push: the fetch works, the push fails with a hint.
    let out = bump_at(
        &env.url(),
        &["--env", "staging", "ghcr.io/acme/cart=9d8c7b6"],
        &[("FERRY_TOKEN", READ_TOKEN), ("FERRY_USERNAME", "reader")],
    );
    assert_eq!(code(&out), 5, "{}", explain(&out));
    assert!(stderr(&out).contains("push to"), "{}", explain(&out));

    // No token at all.
    let out = bump_at(
        &env.url(),
        &["--env", "staging", "ghcr.io/acme/cart=9d8c7b6"],
        &[],
    );
    assert_eq!(code(&out), 5, "{}", explain(&out));
    assert!(stderr(&out).contains("FERRY_TOKEN"), "{}", explain(&out));
}

#[test]
fn a_rejecting_hook_is_reported_and_not_retried() {
    let env = Env::new();
    crate::support::git_http::install_hook(
        &env.repo,
        "pre-receive",
        "#!/bin/sh\necho 'error: GH006: Protected branch update failed for refs/heads/main.' >&2\necho 'error: Changes must be made through a pull request.' >&2\nexit 1\n",
    );
    let before = env.tip();
    let out = env.bump(&["--env", "staging", "ghcr.io/acme/cart=9d8c7b6"]);
    assert_eq!(code(&out), 7, "{}", explain(&out));
    let err = stderr(&out);
    assert!(err.contains("rejected the push"), "{err}");
    assert!(
        err.contains("GH006: Protected branch update failed"),
        "{err}"
    );
    assert_eq!(env.tip(), before);
    let pushes = env
        .server
        .requests()
        .iter()
        .filter(|r| r.method == "POST" && r.path.ends_with("git-receive-pack"))
        .count();
    assert_eq!(pushes, 1, "a rejection is not retried");
}

/// A pre-receive hook that plays a competing pipeline: it moves `main` to a new commit just
/// before the pushed update is applied (once, or every time), so the push loses the
/// compare-and-swap.
fn install_competitor(repo: &Path, once: bool) {
    let guard = if once {
        "[ -f \"$GIT_DIR/competed\" ] && exit 0\ntouch \"$GIT_DIR/competed\"\n"
    } else {
        ""
    };
    crate::support::git_http::install_hook(
        repo,
        "pre-receive",
        &format!(
            "#!/bin/sh\ncat >/dev/null\n{guard}unset GIT_QUARANTINE_PATH\nexport GIT_AUTHOR_NAME=rival GIT_AUTHOR_EMAIL=rival@example.com GIT_COMMITTER_NAME=rival GIT_COMMITTER_EMAIL=rival@example.com\ntip=$(git rev-parse refs/heads/main)\nnew=$(git commit-tree \"$tip^{{tree}}\" -p \"$tip\" -m 'competing pipeline')\ngit update-ref refs/heads/main \"$new\" \"$tip\"\nexit 0\n"
        ),
    );
}

#[test]
fn a_lost_compare_and_swap_is_recomputed_on_the_new_tip() {
    let env = Env::new();
    install_competitor(&env.repo, true);
    let out = env.bump(&["--env", "staging", "ghcr.io/acme/cart=9d8c7b6"]);
    assert_eq!(code(&out), 0, "{}", explain(&out));
    assert!(
        stdout(&out).contains("Landed on attempt 2"),
        "{}",
        explain(&out)
    );
    let log = remote::log(&env.repo, "main");
    assert_eq!(log.len(), 3, "initial, the rival, ferry's");
    assert_eq!(log[1].message.trim(), "competing pipeline");
    assert_eq!(
        log[0].parents,
        vec![log[1].oid.clone()],
        "built on the rival's commit"
    );
    assert!(
        env.file("envs/staging/kustomization.yaml")
            .contains("newTag: 9d8c7b6")
    );
}

#[test]
fn a_branch_that_never_stops_moving_exhausts_the_attempts() {
    let env = Env::new();
    install_competitor(&env.repo, false);
    let out = env.bump(&[
        "--env",
        "staging",
        "--attempts",
        "3",
        "ghcr.io/acme/cart=9d8c7b6",
    ]);
    assert_eq!(code(&out), 6, "{}", explain(&out));
    let err = stderr(&out);
    let rival = env.tip();
    assert!(err.contains("gave up after 3 attempt(s)"), "{err}");
    assert!(
        err.contains(&rival),
        "names the competing commit {rival}: {err}"
    );
    assert!(
        !env.file("envs/staging/kustomization.yaml")
            .contains("9d8c7b6")
    );
}

#[test]
fn sixteen_concurrent_bumps_all_land() {
    let apps: Vec<(String, String)> = (0..16)
        .map(|i| (format!("envs/staging/app{i}.yaml"), deployment(i)))
        .collect();
    let env = Env::with_files(&apps);
    let children: Vec<_> = (0..16)
        .map(|i| {
            let mut cmd = bump_command();
            cmd.args([
                "bump",
                "--repo",
                &env.url(),
                "--env",
                "staging",
                &format!("ghcr.io/acme/app{i}={i:07x}a"),
            ])
            .env("FERRY_TOKEN", TOKEN)
            .env("FERRY_USERNAME", "ci")
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped());
            cmd.spawn().expect("spawn")
        })
        .collect();
    for child in children {
        let out = child.wait_with_output().unwrap();
        assert_eq!(code(&out), 0, "{}", explain(&out));
    }
    let files = remote::read_branch(&env.repo, "main");
    for i in 0..16 {
        let text = String::from_utf8(files[&format!("envs/staging/app{i}.yaml")].clone()).unwrap();
        assert!(
            text.contains(&format!("image: ghcr.io/acme/app{i}:{i:07x}a # app {i}")),
            "app{i}: {text}"
        );
    }
    assert_eq!(
        remote::log(&env.repo, "main").len(),
        17,
        "one commit per bump"
    );
}

#[test]
fn a_large_environment_is_read_on_several_threads_and_every_reference_found() {
    // Enough files for ferry to split the reading between threads: references in the first
    // and in the last of them must both be found, and nothing else touched.
    let mut files: Vec<(String, String)> = (0..4_500)
        .map(|i| (format!("envs/staging/apps/app{i:04}.yaml"), deployment(i)))
        .collect();
    files.push((
        "envs/staging/apps/a-cart.yaml".into(),
        "image: ghcr.io/acme/cart:1111111\n".into(),
    ));
    let env = Env::with_files(&files);
    let before = remote::read_branch(&env.repo, "main");
    let out = env.bump(&["-v", "--env", "staging", "ghcr.io/acme/cart=abcdef1"]);
    assert_eq!(code(&out), 0, "{}", explain(&out));
    let after = remote::read_branch(&env.repo, "main");
    let changed: Vec<&String> = after
        .iter()
        .filter(|(path, bytes)| before.get(*path) != Some(bytes))
        .map(|(path, _)| path)
        .collect();
    assert_eq!(
        changed,
        [
            "envs/staging/apps/a-cart.yaml",
            "envs/staging/kustomization.yaml"
        ],
        "{}",
        explain(&out)
    );
    if std::thread::available_parallelism().map_or(1, usize::from) > 1 {
        assert!(
            stderr(&out).contains("threads=2") || stderr(&out).contains("threads=3"),
            "{}",
            explain(&out)
        );
    }
    assert_eq!(
        env.file("envs/staging/apps/a-cart.yaml"),
        "image: ghcr.io/acme/cart:abcdef1\n"
    );
    assert!(
        env.file("envs/staging/kustomization.yaml")
            .contains("newTag: abcdef1\n"),
        "{}",
        env.file("envs/staging/kustomization.yaml")
    );
}

#[test]
fn dropped_connections_during_fetch_and_push_are_survived() {
    let env = Env::new();
    env.server
        .inject(Service::UploadPack, Fault::DropMidResponse);
    env.server
        .inject(Service::ReceivePack, Fault::DropBeforeBackend);
    let out = env.bump(&["--env", "staging", "ghcr.io/acme/cart=9d8c7b6"]);
    assert_eq!(code(&out), 0, "{}", explain(&out));
    assert!(
        env.file("envs/staging/kustomization.yaml")
            .contains("newTag: 9d8c7b6")
    );
    assert_eq!(remote::log(&env.repo, "main").len(), 2);

    // The push lands but its answer is lost: the retry sees its own commit, adds nothing.
    env.server
        .inject(Service::ReceivePack, Fault::DropAfterBackend);
    let out = env.bump(&["--env", "staging", "ghcr.io/acme/cart=aaaaaaa"]);
    assert_eq!(code(&out), 0, "{}", explain(&out));
    assert!(stdout(&out).contains("Pushed"), "{}", explain(&out));
    assert_eq!(
        remote::log(&env.repo, "main").len(),
        3,
        "exactly one new commit"
    );
}

#[test]
fn the_stale_write_guard_refuses_an_older_run_of_the_same_branch() {
    let env = Env::new();
    let ci = |run: &str| {
        vec![
            (
                "FERRY_SOURCE_REPO",
                "https://github.com/acme/cart".to_owned(),
            ),
            ("FERRY_SOURCE_REF", "main".to_owned()),
            ("FERRY_RUN_NUMBER", run.to_owned()),
        ]
    };
    let run = |tag: &str, vars: Vec<(&'static str, String)>, extra: &[&str]| {
        let pairs: Vec<(&str, &str)> = vars.iter().map(|(k, v)| (*k, v.as_str())).collect();
        let image = format!("ghcr.io/acme/cart={tag}");
        let mut args = vec!["--env", "staging"];
        args.extend_from_slice(extra);
        args.push(&image);
        env.bump_with(&args, &pairs)
    };
    let out = run("bbbbbbb", ci("12"), &[]);
    assert_eq!(code(&out), 0, "{}", explain(&out));
    let stamps = env.file(".ferry/stamps/envs/staging.stamps");
    assert!(stamps.contains("\"run\": 12"), "{stamps}");

    let out = run("aaaaaaa", ci("11"), &[]);
    assert_eq!(code(&out), 9, "{}", explain(&out));
    assert!(stderr(&out).contains("run 12"), "{}", explain(&out));
    assert!(
        env.file("envs/staging/kustomization.yaml")
            .contains("newTag: bbbbbbb")
    );

    // Another branch of the same repository is not compared.
    let mut hotfix = ci("3");
    hotfix[1].1 = "hotfix".to_owned();
    let out = run("ccccccc", hotfix, &[]);
    assert_eq!(code(&out), 0, "{}", explain(&out));

    // The hotfix in between does not hide run 12 of main; --force deploys the older build.
    let out = run("aaaaaaa", ci("11"), &[]);
    assert_eq!(code(&out), 9, "{}", explain(&out));
    let out = run("aaaaaaa", ci("11"), &["--force"]);
    assert_eq!(code(&out), 0, "{}", explain(&out));
    assert!(
        env.file("envs/staging/kustomization.yaml")
            .contains("newTag: aaaaaaa")
    );
}

#[test]
fn holds_and_tag_policies_refuse_with_their_own_codes() {
    let env = Env::new();
    let before = env.tip();
    let cases: &[(&[&str], i32, &str)] = &[
        (
            &["--env", "staging", "ghcr.io/acme/cart=latest"],
            10,
            "mutable tag",
        ),
        (
            &["--env", "staging", "ghcr.io/acme/cart=v1.2.3"],
            10,
            "tag policy",
        ),
        (
            &["--env", "production", "ghcr.io/acme/cart=9d8c7b6"],
            8,
            "release freeze until Monday",
        ),
        (
            &["--env", "qa", "ghcr.io/acme/web=9d8c7b6"],
            8,
            "hold-images",
        ),
        (
            &["--env", "staging", "ghcr.io/acme/cartt=9d8c7b6"],
            3,
            "did you mean ghcr.io/acme/cart",
        ),
    ];
    for (args, want, says) in cases {
        let out = env.bump(args);
        assert_eq!(code(&out), *want, "{args:?}: {}", explain(&out));
        assert!(stderr(&out).contains(says), "{args:?}: {}", explain(&out));
    }
    // The unheld image of qa is fine.
    let out = env.bump(&["--env", "qa", "ghcr.io/acme/cart=9d8c7b6"]);
    assert_eq!(code(&out), 0, "{}", explain(&out));
    assert_eq!(remote::log(&env.repo, "main")[0].parents, vec![before]);
}

#[test]
fn commits_signed_with_an_ssh_key_verify() {
    let env = Env::new();
    let key = env.root.join("signing_key");
    let status = Command::new("ssh-keygen")
        .args(["-q", "-t", "ed25519", "-N", "", "-C", "ferry-test", "-f"])
        .arg(&key)
        .status()
        .expect("ssh-keygen runs");
    assert!(status.success());
    let out = env.bump(&[
        "--env",
        "staging",
        "--signing-key",
        key.to_str().unwrap(),
        "ghcr.io/acme/cart=9d8c7b6",
    ]);
    assert_eq!(code(&out), 0, "{}", explain(&out));
    let public = std::fs::read_to_string(key.with_extension("pub")).unwrap();
    let signers = env.root.join("allowed_signers");
    std::fs::write(&signers, format!("ferry@users.noreply.github.com {public}")).unwrap();
    let tip = env.tip();
    let verify = Command::new("git")
        .args(["-c", "gpg.format=ssh", "-c"])
        .arg(format!("gpg.ssh.allowedSignersFile={}", signers.display()))
        .args(["verify-commit", &tip])
        .current_dir(&env.repo)
        .env("GIT_CONFIG_GLOBAL", "/dev/null")
        .env("GIT_CONFIG_NOSYSTEM", "1")
        .output()
        .unwrap();
    assert!(
        verify.status.success(),
        "{}",
        String::from_utf8_lossy(&verify.stderr)
    );
    assert!(String::from_utf8_lossy(&verify.stderr).contains("Good \"git\" signature"));
}

#[test]
fn ci_outputs_and_trailers_come_from_the_ci_context() {
    let env = Env::new();
    let outputs = env.root.join("github_output");
    let summary = env.root.join("step_summary");
    let vars = [
        ("GITHUB_ACTIONS", "true"),
        ("GITHUB_SERVER_URL", "https://github.com"),
        ("GITHUB_REPOSITORY", "acme/cart"),
        ("GITHUB_SHA", "9d8c7b6a5f4e3d2c1b0a9d8c7b6a5f4e3d2c1b0a"),
        ("GITHUB_REF_NAME", "main"),
        ("GITHUB_RUN_ID", "4242"),
        ("GITHUB_RUN_NUMBER", "77"),
        ("GITHUB_OUTPUT", outputs.to_str().unwrap()),
        ("GITHUB_STEP_SUMMARY", summary.to_str().unwrap()),
    ];
    let out = env.bump_with(&["--env", "staging", "ghcr.io/acme/cart=9d8c7b6"], &vars);
    assert_eq!(code(&out), 0, "{}", explain(&out));
    let tip = env.tip();
    let written = std::fs::read_to_string(&outputs).unwrap();
    assert!(
        written.contains(&format!("commit-sha={tip}\n")),
        "{written}"
    );
    assert!(written.contains("changed=true\n"), "{written}");
    let md = std::fs::read_to_string(&summary).unwrap();
    assert!(
        md.contains("ferry bump: staging")
            && md.contains("| `ghcr.io/acme/cart` | `1111111` | `9d8c7b6` |"),
        "{md}"
    );
    let message = &remote::log(&env.repo, "main")[0].message;
    for trailer in [
        "Ferry-Source-Repo: https://github.com/acme/cart",
        "Ferry-Source-Commit: 9d8c7b6a5f4e3d2c1b0a9d8c7b6a5f4e3d2c1b0a",
        "Ferry-Source-Ref: main",
        "Ferry-Run-Url: https://github.com/acme/cart/actions/runs/4242",
        "Ferry-Run-Number: 77",
    ] {
        assert!(message.contains(trailer), "{trailer} in {message}");
    }

    // GitLab: a dotenv report; the rerun says nothing changed. Another pipeline's commit landed
    // after ferry's: the commit to wait on is still the one that set cart, not the tip.
    let other = remote::commit_files(
        &env.repo,
        "main",
        &[("envs/staging/notes.md", Some(b"not an image\n".as_slice()))],
        "staging: notes",
    );
    assert_ne!(other, tip);
    let dotenv = env.root.join("ferry.env");
    let gitlab = [
        ("GITLAB_CI", "true"),
        ("CI_PROJECT_URL", "https://gitlab.com/acme/cart"),
        ("CI_COMMIT_SHA", "9d8c7b6a5f4e3d2c1b0a9d8c7b6a5f4e3d2c1b0a"),
        ("CI_COMMIT_REF_NAME", "main"),
        ("CI_PIPELINE_IID", "5"),
        ("FERRY_DOTENV", dotenv.to_str().unwrap()),
    ];
    let out = env.bump_with(&["--env", "staging", "ghcr.io/acme/cart=9d8c7b6"], &gitlab);
    assert_eq!(code(&out), 0, "{}", explain(&out));
    let written = std::fs::read_to_string(&dotenv).unwrap();
    assert!(written.contains("FERRY_CHANGED=false\n"), "{written}");
    assert!(
        written.contains(&format!("FERRY_COMMIT_SHA={tip}\n")),
        "{written}"
    );
    assert!(
        stdout(&out).contains(&format!("set by {}", &tip[..12])),
        "{}",
        explain(&out)
    );
    // The same in JSON.
    let out = env.bump_with(
        &[
            "--env",
            "staging",
            "--output",
            "json",
            "ghcr.io/acme/cart=9d8c7b6",
        ],
        &[],
    );
    assert_eq!(code(&out), 0, "{}", explain(&out));
    let json: serde_json::Value = serde_json::from_slice(&out.stdout).expect("json");
    assert_eq!(json["status"], "up-to-date", "{json}");
    assert_eq!(json["commit"], tip.as_str(), "{json}");
}

#[test]
fn the_token_never_leaks() {
    let env = Env::new();
    let tmp = env.root.join("tmp");
    let cache = env.root.join("cache");
    std::fs::create_dir_all(&tmp).unwrap();
    let outputs = env.root.join("github_output");
    let vars = [
        ("TMPDIR", tmp.to_str().unwrap()),
        ("GITHUB_ACTIONS", "true"),
        ("GITHUB_OUTPUT", outputs.to_str().unwrap()),
    ];
    let mut seen = String::new();
    for args in [
        vec![
            "-vv",
            "--env",
            "staging",
            "--cache-dir",
            cache.to_str().unwrap(),
            "ghcr.io/acme/cart=9d8c7b6",
        ],
        vec![
            "-vv",
            "--env",
            "staging",
            "--output",
            "json",
            "ghcr.io/acme/cart=aaaaaaa",
        ],
        vec!["-vv", "--env", "staging", "ghcr.io/acme/cart=latest"],
    ] {
        let out = env.bump_with(&args, &vars);
        seen.push_str(&explain(&out));
    }
    // Failing paths print URLs and server messages: still no token.
    crate::support::git_http::install_hook(
        &env.repo,
        "pre-receive",
        "#!/bin/sh\nenv >&2\nexit 1\n",
    );
    let out = env.bump_with(
        &["-vv", "--env", "staging", "ghcr.io/acme/cart=bbbbbbb"],
        &vars,
    );
    assert_eq!(code(&out), 7, "{}", explain(&out));
    seen.push_str(&explain(&out));
    let url_token = env
        .server
        .url("env.git")
        .replace("http://", &format!("http://ci:{TOKEN}@"));
    let out = bump_command()
        .args([
            "bump",
            "-vv",
            "--repo",
            &url_token,
            "--env",
            "staging",
            "ghcr.io/acme/cart=bbbbbbb",
        ])
        .env("TMPDIR", &tmp)
        .output()
        .unwrap();
    seen.push_str(&explain(&out));
    // In GitHub Actions the token is handed to the runner once, to be masked: that line is the
    // runner's, never shown in the log.
    assert!(
        seen.contains(&format!("::add-mask::{TOKEN}\n")),
        "the token is not masked in GitHub Actions:\n{seen}"
    );
    let shown: String = seen
        .lines()
        .filter(|l| !l.starts_with("::add-mask::"))
        .collect::<Vec<_>>()
        .join("\n");
    assert!(
        !shown.contains(TOKEN),
        "the token appears in the output:\n{seen}"
    );
    for dir in [&tmp, &cache, &env.root.join("github_output")] {
        for (path, bytes) in read_all(dir) {
            assert!(
                !String::from_utf8_lossy(&bytes).contains(TOKEN),
                "the token appears in {path}"
            );
        }
    }
    assert!(
        std::fs::read_dir(&tmp).unwrap().next().is_none(),
        "temporary repositories are removed"
    );
}

/// Every file below `path` (or the file itself).
fn read_all(path: &Path) -> BTreeMap<String, Vec<u8>> {
    if path.is_file() {
        return BTreeMap::from([(path.display().to_string(), std::fs::read(path).unwrap())]);
    }
    if !path.exists() {
        return BTreeMap::new();
    }
    crate::support::read_tree(path)
}

#[test]
fn a_path_spelled_as_ci_scripts_spell_it_is_the_environment() {
    // Issue 18 rule 6: `./envs/staging/`, `envs//staging` and `./envs/./staging` are `envs/staging`,
    // over the smart-HTTP transport and with the environment's policy applied.
    let env = Env::new();
    for (path, tag) in [
        ("./envs/staging/", "aaaaaaa"),
        ("envs//staging", "bbbbbbb"),
        ("./envs/./staging//", "ccccccc"),
    ] {
        let out = env.bump(&[
            "--path",
            path,
            "--output",
            "json",
            &format!("ghcr.io/acme/cart={tag}"),
        ]);
        assert_eq!(code(&out), 0, "--path {path}: {}", explain(&out));
        let report: serde_json::Value = serde_json::from_slice(&out.stdout).expect("JSON");
        assert_eq!(report["status"], "pushed", "--path {path}: {report}");
        assert_eq!(report["path"], "envs/staging", "--path {path}: {report}");
        assert_eq!(report["environment"], "staging", "--path {path}: {report}");
        assert!(
            env.file("envs/staging/kustomization.yaml")
                .contains(&format!("newTag: {tag}")),
            "--path {path}"
        );
    }
    // The environment's policy (hold) still applies when its path is spelled with `./`.
    let out = env.bump(&["--path", "./envs/production/", "ghcr.io/acme/cart=ddddddd"]);
    assert_eq!(code(&out), 8, "{}", explain(&out));
    // `..` and absolute paths are still refused, with today's messages.
    for path in ["../envs/staging", "envs/../staging", "/envs/staging"] {
        let out = env.bump(&["--path", path, "ghcr.io/acme/cart=eeeeeee"]);
        assert_eq!(code(&out), 2, "--path {path}: {}", explain(&out));
        assert!(
            stderr(&out).contains("give a directory relative to the repository root, without `..`"),
            "--path {path}: {}",
            explain(&out)
        );
    }
}

#[test]
fn a_head_naming_a_missing_branch_is_explained_not_no_error() {
    // Issue 18 rule 6: libgit2's "no error" never reaches the user.
    let env = Env::new();
    remote::git(&env.repo, &["symbolic-ref", "HEAD", "refs/heads/gone"]);
    let out = env.bump(&["--path", "envs/staging", "ghcr.io/acme/cart=aaaaaaa"]);
    let err = stderr(&out);
    assert_ne!(code(&out), 0, "{}", explain(&out));
    assert!(
        !err.to_lowercase().contains("no error"),
        "{}",
        explain(&out)
    );
    assert!(
        err.contains("HEAD names no branch that exists") && err.contains("--branch"),
        "says what happened and what to do: {}",
        explain(&out)
    );
}

/// An Argo CD Application in staging that names the cart image inside `helm.values: |` text.
const BLOCK_VALUES_APP: &str = "\
apiVersion: argoproj.io/v1alpha1
kind: Application
metadata:
  name: cart-tools
spec:
  source:
    helm:
      values: |
        image:
          repository: ghcr.io/acme/cart
          tag: 1111111
";

#[test]
fn a_mention_ferry_leaves_alone_is_reported_not_refused_and_strict_refuses_it() {
    let env = Env::with_files(&[(
        "envs/staging/tools-app.yaml".to_owned(),
        BLOCK_VALUES_APP.to_owned(),
    )]);
    let before = env.tip();

    // --strict: all or nothing; nothing is pushed and the mention is the refusal.
    let out = env.bump(&[
        "--env",
        "staging",
        "--strict",
        "ghcr.io/acme/cart=9d8c7b6",
        "--output",
        "json",
    ]);
    assert_eq!(code(&out), 4, "{}", explain(&out));
    assert_eq!(env.tip(), before);
    let json: serde_json::Value = serde_json::from_str(&stdout(&out)).expect("json");
    assert_eq!(json["refusals"][0]["reason"], "block-scalar", "{json}");
    assert_eq!(json["refusals"][0]["file"], "envs/staging/tools-app.yaml");

    // By default the structured reference is bumped; the mention is a warning with file:line,
    // a GitHub annotation, and a JSON entry.
    let out = env.bump_with(
        &[
            "--env",
            "staging",
            "ghcr.io/acme/cart=9d8c7b6",
            "--output",
            "json",
        ],
        &[("GITHUB_ACTIONS", "true")],
    );
    assert_eq!(code(&out), 0, "{}", explain(&out));
    assert_ne!(env.tip(), before);
    assert!(
        env.file("envs/staging/kustomization.yaml")
            .contains("newTag: 9d8c7b6")
    );
    assert_eq!(env.file("envs/staging/tools-app.yaml"), BLOCK_VALUES_APP);
    let json: serde_json::Value = serde_json::from_str(&stdout(&out)).expect("json");
    assert_eq!(json["status"], "pushed", "{json}");
    assert_eq!(json["warnings"][0]["reason"], "block-scalar", "{json}");
    assert_eq!(json["warnings"][0]["line"], 11, "{json}");
    let err = stderr(&out);
    assert!(
        err.contains("::warning file=envs/staging/tools-app.yaml,line=11,col=16"),
        "{err}"
    );

    // A rerun has nothing to change: up to date, exit 0, the mention still reported.
    let tip = env.tip();
    let out = env.bump(&[
        "--env",
        "staging",
        "ghcr.io/acme/cart=9d8c7b6",
        "--output",
        "json",
    ]);
    assert_eq!(code(&out), 0, "{}", explain(&out));
    assert_eq!(env.tip(), tip);
    let json: serde_json::Value = serde_json::from_str(&stdout(&out)).expect("json");
    assert_eq!(json["status"], "up-to-date", "{json}");
    assert_eq!(json["warnings"].as_array().map(Vec::len), Some(1), "{json}");
}

#[test]
fn a_digest_only_bump_lands_and_a_rerun_changes_nothing() {
    let env = Env::new();
    let digest = format!("sha256:{}", "0734cfde".repeat(8));
    let pin = format!("ghcr.io/acme/cart@{digest}");
    let vars = [
        ("FERRY_SOURCE_REPO", "https://github.com/acme/cart"),
        ("FERRY_SOURCE_REF", "main"),
        ("FERRY_RUN_NUMBER", "7"),
    ];
    let before = env.file("envs/qa/kustomization.yaml");
    let out = env.bump_with(&["--env", "qa", &pin], &vars);
    assert_eq!(code(&out), 0, "{}", explain(&out));
    let after = env.file("envs/qa/kustomization.yaml");
    // The entry's newTag line is replaced by a digest line; nothing else moves.
    assert_eq!(
        changed_lines(&before, &after),
        [(
            "    newTag: 1111111".to_owned(),
            format!("    digest: {digest}")
        )]
    );
    let commit = &remote::log(&env.repo, "main")[0];
    assert!(commit.message.contains(&digest), "{}", commit.message);
    let stamps = env.file(".ferry/stamps/envs/qa.stamps");
    assert!(
        stamps.contains(&format!("\"tag\": \"@{digest}\"")),
        "{stamps}"
    );

    // A rerun finds the digest in place: exit 0, no commit.
    let tip = env.tip();
    let out = env.bump_with(&["--env", "qa", "--output", "json", &pin], &vars);
    assert_eq!(code(&out), 0, "{}", explain(&out));
    let report: serde_json::Value = serde_json::from_slice(&out.stdout).expect("one JSON document");
    assert_eq!(report["status"], "up-to-date", "{}", explain(&out));
    assert_eq!(env.tip(), tip);

    // A tag policy cannot check a digest-only request: refused, with the way out.
    let out = env.bump(&["--env", "staging", &pin]);
    assert_eq!(code(&out), 10, "{}", explain(&out));
    assert!(
        stderr(&out).contains("pass IMAGE=TAG@DIGEST"),
        "{}",
        explain(&out)
    );
    assert_eq!(env.tip(), tip);
}
