//! See [the module list](super).
//!
//! Transport attacks: a git server that redirects the token elsewhere, a restored cache whose
//! git configuration sends fetch, push and token to another server, a server that stalls, and
//! CI cancellation leaving temporary repositories behind. Each runs the real binary against
//! local servers on 127.0.0.1, bounded: a child still running after [`BOUND`] is killed and
//! the test fails.

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use crate::support::git_http::{Access, Fault, GitServer, Service};
use crate::support::redirect::Redirector;
use crate::support::remote;
use crate::support::stall::BlackHole;

const TOKEN: &str = "transport-secret-token-9e1f4b";

/// No run of ferry in this file may take longer.
const BOUND: Duration = Duration::from_secs(60);

const CONFIG: &str = "version: 1\nenvironments:\n  staging:\n    path: envs/staging\n";

const KUSTOMIZATION: &str = "\
apiVersion: kustomize.config.k8s.io/v1beta1
kind: Kustomization
images:
  - name: ghcr.io/acme/cart
    newTag: 1111111
";

const FILES: &[(&str, &[u8])] = &[
    ("ferry.yaml", CONFIG.as_bytes()),
    ("envs/staging/kustomization.yaml", KUSTOMIZATION.as_bytes()),
];

/// The environment repository `env.git` served by a git server that wants [`TOKEN`].
struct Served {
    dir: tempfile::TempDir,
    repo: PathBuf,
    server: GitServer,
}

fn served() -> Served {
    let dir = tempfile::tempdir().expect("tempdir");
    let root = dir.path().join("srv");
    std::fs::create_dir_all(&root).expect("mkdir");
    let repo = remote::bare_repo(&root, "env.git", "main", FILES);
    let server = GitServer::start(&root);
    server.add_user("ci", TOKEN, Access::Write);
    Served { dir, repo, server }
}

/// `ferry bump --repo REPO --env staging ghcr.io/acme/cart=<tag> ARGS...` with [`TOKEN`],
/// isolated from the caller's CI.
fn bump(repo: &str, tag: &str, args: &[&str]) -> Command {
    let mut cmd = crate::support::ferry();
    for (key, _) in std::env::vars() {
        if ["FERRY_", "GITHUB_", "GITLAB_", "CI_"]
            .iter()
            .any(|p| key.starts_with(p))
        {
            cmd.env_remove(key);
        }
    }
    cmd.args(["bump", "--repo", repo, "--env", "staging"])
        .args(args)
        .arg(format!("ghcr.io/acme/cart={tag}"))
        .env("FERRY_TOKEN", TOKEN)
        .env("FERRY_USERNAME", "ci");
    cmd
}

/// Kills `pid` (the test's own child) with `signal`.
fn signal(pid: u32, signal: &str) {
    let status = Command::new("kill")
        .args([&format!("-{signal}"), &pid.to_string()])
        .status()
        .expect("kill runs");
    assert!(status.success(), "kill -{signal} {pid}");
}

/// Waits for `child` at most [`BOUND`]; kills it and fails the test beyond.
fn finish(child: Child) -> (Output, Duration) {
    let started = Instant::now();
    let pid = child.id();
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        let _ = tx.send(child.wait_with_output());
    });
    match rx.recv_timeout(BOUND) {
        Ok(out) => (out.expect("ferry ran"), started.elapsed()),
        Err(_) => {
            signal(pid, "KILL");
            panic!("ferry still ran after {BOUND:?}: killed");
        }
    }
}

fn run(mut cmd: Command) -> (Output, Duration) {
    let child = cmd
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("ferry starts");
    finish(child)
}

fn text(out: &Output) -> String {
    format!(
        "exit {:?}\n--- stdout\n{}\n--- stderr\n{}",
        out.status.code(),
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

fn staging(served: &Served) -> String {
    let files = remote::read_branch(&served.repo, "main");
    String::from_utf8(
        files
            .get("envs/staging/kustomization.yaml")
            .cloned()
            .unwrap_or_default(),
    )
    .expect("utf-8")
}

// ---------------------------------------------------------------------------------------------
// The token goes to the repository's host, and nowhere else.

/// A server that moved answers `302` to another host: the token must not follow.
#[test]
fn a_redirect_to_another_host_gets_no_token() {
    let victim = served();
    let port = victim.server.addr().port();
    let redirector = Redirector::start(&format!("http://localhost:{port}"));
    let (out, _) = run(bump(&redirector.url("env.git"), "2222222", &[]));
    assert_ne!(out.status.code(), Some(0), "{}", text(&out));
    assert!(!redirector.seen().is_empty(), "ferry asked the redirector");
    let offered: Vec<_> = victim
        .server
        .requests()
        .into_iter()
        .filter(|r| r.offered_user.is_some())
        .collect();
    assert!(
        offered.is_empty(),
        "the token reached the other host: {offered:?}\n{}",
        text(&out)
    );
    assert!(!text(&out).contains(TOKEN));
    assert!(staging(&victim).contains("1111111"));
}

/// A redirect to another port of the same host: libgit2 calls that the same site and follows
/// it, so the credentials callback itself must refuse a URL that is not the repository's.
#[test]
fn a_redirect_to_another_port_gets_no_token() {
    let victim = served();
    let port = victim.server.addr().port();
    let redirector = Redirector::start(&format!("http://127.0.0.1:{port}"));
    let (out, _) = run(bump(&redirector.url("env.git"), "2222222", &[]));
    assert_eq!(out.status.code(), Some(5), "{}", text(&out));
    let offered: Vec<_> = victim
        .server
        .requests()
        .into_iter()
        .filter(|r| r.offered_user.is_some())
        .collect();
    assert!(offered.is_empty(), "the token reached {port}: {offered:?}");
    let err = stderr(&out);
    assert!(
        err.contains(&redirector.url("")) || err.contains(&format!("127.0.0.1:{port}")),
        "the error names the hosts: {err}"
    );
    assert!(!err.contains(TOKEN));
    assert!(staging(&victim).contains("1111111"));
}

/// The bare repository ferry keeps in `cache`.
fn cached_repo(cache: &Path) -> PathBuf {
    std::fs::read_dir(cache)
        .expect("cache dir")
        .map(|e| e.expect("entry").path())
        .find(|p| p.is_dir() && p.join("HEAD").exists())
        .expect("a cached repository")
}

/// A restored CI cache whose git configuration points fetch and push elsewhere (`insteadOf`,
/// `pushInsteadOf`), adds headers, a proxy and remotes: ferry still talks only to `--repo`, and
/// nothing of the configuration is used or left.
#[test]
fn a_poisoned_cache_cannot_send_the_token_elsewhere() {
    let good = served();
    let evil = served();
    let cache = good.dir.path().join("cache");
    let url = good.server.url("env.git");
    let (out, _) = run(bump(
        &url,
        "2222222",
        &["--cache-dir", cache.to_str().expect("utf-8")],
    ));
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    let repo = cached_repo(&cache);
    let evil_base = evil.server.base_url();
    let good_base = good.server.base_url();
    let poison = format!(
        "[url \"{evil_base}/\"]\n\tinsteadOf = {good_base}/\n\tpushInsteadOf = {good_base}/\n\
         [http]\n\textraHeader = X-Poisoned: 1\n\tproxy = {evil_base}\n\tfollowRedirects = true\n\
         [remote \"origin\"]\n\turl = {evil_base}/env.git\n"
    );
    let config = repo.join("config");
    let mut text_config = std::fs::read_to_string(&config).expect("config");
    text_config.push_str(&poison);
    std::fs::write(&config, text_config).expect("poison");
    std::fs::create_dir_all(repo.join("objects/info")).expect("mkdir");
    std::fs::write(
        repo.join("objects/info/alternates"),
        evil.repo.join("objects").display().to_string(),
    )
    .expect("alternates");

    let (out, _) = run(bump(
        &url,
        "3333333",
        &["--cache-dir", cache.to_str().expect("utf-8")],
    ));
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    assert!(
        evil.server.requests().is_empty(),
        "the poisoned cache sent ferry to {evil_base}: {:?}",
        evil.server.requests()
    );
    assert!(staging(&good).contains("3333333"), "{}", text(&out));
    let after = std::fs::read_to_string(&config).expect("config");
    assert!(
        !after.contains("insteadOf") && !after.contains("extraHeader") && !after.contains("proxy"),
        "the cache's config still redirects: {after}"
    );
    assert!(!repo.join("objects/info/alternates").exists());
    for (path, bytes) in crate::support::read_tree(&cache) {
        assert!(
            !String::from_utf8_lossy(&bytes).contains(TOKEN),
            "the token is in the cache: {path}"
        );
    }
}

/// A cache directory that is a symbolic link (to somewhere an attacker prepared) is refused.
#[test]
fn a_cache_directory_that_is_a_link_is_refused() {
    let good = served();
    let elsewhere = good.dir.path().join("elsewhere");
    std::fs::create_dir_all(&elsewhere).expect("mkdir");
    let cache = good.dir.path().join("cache");
    std::os::unix::fs::symlink(&elsewhere, &cache).expect("symlink");
    let (out, _) = run(bump(
        &good.server.url("env.git"),
        "2222222",
        &["--cache-dir", cache.to_str().expect("utf-8")],
    ));
    assert_eq!(out.status.code(), Some(2), "{}", text(&out));
    assert!(stderr(&out).contains("symbolic link"), "{}", text(&out));
    assert!(
        std::fs::read_dir(&elsewhere).expect("dir").next().is_none(),
        "ferry wrote through the link"
    );
    assert!(staging(&good).contains("1111111"));
}

// ---------------------------------------------------------------------------------------------
// Nothing waits forever.

/// A server that accepts the connection and never answers: ferry gives up after the stall
/// timeout, saying which operation stalled, with the exit code for it.
#[test]
fn a_server_that_never_answers_is_given_up_on() {
    let hole = BlackHole::start();
    let (out, took) = run(bump(
        &hole.url("env.git"),
        "2222222",
        &["--git-timeout", "2", "--attempts", "1"],
    ));
    assert_eq!(out.status.code(), Some(15), "{}", text(&out));
    let err = stderr(&out);
    assert!(err.contains("stalled"), "{err}");
    assert!(err.contains(&hole.url("env.git")), "{err}");
    assert!(
        err.contains("--git-timeout"),
        "the error says what to change: {err}"
    );
    assert!(took < BOUND);
}

/// The fetch's POST is read and never answered.
#[test]
fn a_fetch_that_stalls_is_given_up_on() {
    let served = served();
    served
        .server
        .inject(Service::UploadPack, Fault::StallBeforeBackend);
    let (out, _) = run(bump(
        &served.server.url("env.git"),
        "2222222",
        &["--git-timeout", "2", "--attempts", "1"],
    ));
    assert_eq!(out.status.code(), Some(15), "{}", text(&out));
    let err = stderr(&out);
    assert!(err.contains("fetching") && err.contains("stalled"), "{err}");
    assert!(staging(&served).contains("1111111"));
}

/// A push that stalls before the server applies it: nothing lands, and ferry says so.
#[test]
fn a_push_that_stalls_before_landing_changes_nothing() {
    let served = served();
    served
        .server
        .inject(Service::ReceivePack, Fault::StallBeforeBackend);
    let (out, _) = run(bump(
        &served.server.url("env.git"),
        "2222222",
        &["--git-timeout", "2", "--attempts", "1"],
    ));
    assert_eq!(out.status.code(), Some(15), "{}", text(&out));
    assert!(stderr(&out).contains("pushing"), "{}", text(&out));
    assert!(staging(&served).contains("1111111"), "nothing landed");
    assert_eq!(served.server.pushes_accepted(), 0);
}

/// A push that lands and whose answer never comes: the next attempt recognises the commit on
/// the branch, so the run succeeds and nothing is pushed twice.
#[test]
fn a_push_that_landed_but_stalled_is_recognised() {
    let served = served();
    served
        .server
        .inject(Service::ReceivePack, Fault::StallAfterBackend);
    let (out, _) = run(bump(
        &served.server.url("env.git"),
        "2222222",
        &["--git-timeout", "2"],
    ));
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    assert!(staging(&served).contains("2222222"));
    assert_eq!(served.server.pushes_accepted(), 1, "{}", text(&out));
    assert_eq!(
        remote::log(&served.repo, "main").len(),
        2,
        "one commit added"
    );
}

/// The command's deadline ends a run even while a transfer is blocked with a long stall
/// timeout.
#[test]
fn the_deadline_ends_a_blocked_run() {
    let hole = BlackHole::start();
    let (out, took) = run(bump(
        &hole.url("env.git"),
        "2222222",
        &["--git-timeout", "120", "--deadline", "3"],
    ));
    assert_eq!(out.status.code(), Some(15), "{}", text(&out));
    let err = stderr(&out);
    assert!(err.contains("deadline"), "{err}");
    assert!(err.contains("--deadline"), "{err}");
    assert!(took < Duration::from_secs(30), "{took:?}");
}

// ---------------------------------------------------------------------------------------------
// Temporary repositories: 0700, and removed on SIGTERM and SIGINT.

fn cancelled_run_cleans_up(sig: &str, code: i32) {
    let hole = BlackHole::start();
    let tmp = tempfile::tempdir().expect("tempdir");
    let mut cmd = bump(&hole.url("env.git"), "2222222", &["--git-timeout", "60"]);
    cmd.env("TMPDIR", tmp.path());
    let child = cmd
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("ferry starts");
    // Until ferry is inside the fetch: its temporary repository exists by then.
    let started = Instant::now();
    while hole.accepted() == 0 {
        assert!(started.elapsed() < BOUND, "ferry never connected");
        std::thread::sleep(Duration::from_millis(20));
    }
    let dirs: Vec<PathBuf> = std::fs::read_dir(tmp.path())
        .expect("tmp")
        .map(|e| e.expect("entry").path())
        .collect();
    assert_eq!(dirs.len(), 1, "one temporary directory: {dirs:?}");
    let mode = std::fs::metadata(&dirs[0])
        .expect("metadata")
        .permissions()
        .mode();
    assert_eq!(mode & 0o777, 0o700, "{}: {mode:o}", dirs[0].display());
    signal(child.id(), sig);
    let (out, _) = finish(child);
    assert_eq!(out.status.code(), Some(code), "{}", text(&out));
    let left: Vec<_> = std::fs::read_dir(tmp.path())
        .expect("tmp")
        .map(|e| e.expect("entry").path())
        .collect();
    assert!(left.is_empty(), "left behind: {left:?}");
}

#[test]
fn sigterm_removes_the_temporary_repository() {
    cancelled_run_cleans_up("TERM", 143);
}

#[test]
fn sigint_removes_the_temporary_repository() {
    cancelled_run_cleans_up("INT", 130);
}

// ---------------------------------------------------------------------------------------------
// The forges' API clients: a redirect to another host gets no token either.

/// The forge's API answers `302` to another host (`localhost` instead of `127.0.0.1`): that
/// host must see no `Authorization`, `PRIVATE-TOKEN` or `JOB-TOKEN` header.
#[test]
fn an_api_redirect_to_another_host_gets_no_token() {
    for (forge, base) in [("github", ""), ("gitlab", "/api/v4")] {
        // The other host, which itself redirects nowhere useful.
        let elsewhere = Redirector::start("http://127.0.0.1:9");
        let port = elsewhere
            .url("")
            .trim_end_matches('/')
            .rsplit(':')
            .next()
            .map(str::to_owned);
        let api = Redirector::start(&format!("http://localhost:{}", port.expect("port")));
        let mut cmd = crate::support::ferry();
        for (key, _) in std::env::vars() {
            if ["FERRY_", "GITHUB_", "GITLAB_", "CI_"]
                .iter()
                .any(|p| key.starts_with(p))
            {
                cmd.env_remove(key);
            }
        }
        cmd.args([
            "merge",
            "1",
            "--repo",
            "https://git.example.invalid/acme/env",
        ])
        .args(["--forge", forge, "--api-url"])
        .arg(format!("{}{base}", api.url("").trim_end_matches('/')))
        .env("FERRY_TOKEN", TOKEN)
        .env("CI_JOB_TOKEN", TOKEN);
        let (out, _) = run(cmd);
        assert_ne!(out.status.code(), Some(0), "{forge}: {}", text(&out));
        assert!(!api.seen().is_empty(), "{forge}: ferry asked the API");
        let leaked: Vec<_> = elsewhere
            .seen()
            .into_iter()
            .filter(|s| {
                s.headers
                    .iter()
                    .any(|h| ["authorization", "private-token", "job-token"].contains(&h.as_str()))
            })
            .collect();
        assert!(
            leaked.is_empty(),
            "{forge}: the token followed the redirect: {leaked:?}\n{}",
            text(&out)
        );
        assert!(!text(&out).contains(TOKEN), "{forge}: {}", text(&out));
    }
}
