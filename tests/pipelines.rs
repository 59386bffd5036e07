//! The GitHub Action (`action.yml`) run the way the Actions runner runs a composite action, and
//! the GitLab CI template's job scripts run the way a GitLab runner runs them: against the git
//! smart-HTTP server and the forge test server, with the runner's files and variables
//! (`GITHUB_OUTPUT`, `GITHUB_STEP_SUMMARY`, `GITHUB_ENV`, `GITHUB_PATH`; GitLab's `CI_*` and the
//! dotenv report).
//!
//! The emulation follows the runner's documented behaviour for what `action.yml` uses: inputs
//! with their defaults, `${{ inputs.* }}` and `${{ steps.*.outputs.* }}` expressions (anything
//! else fails the test, so the action cannot quietly depend on more), each `shell: bash` step
//! run as `bash --noprofile --norc -eo pipefail FILE`, per-step output and summary files, the
//! environment and path files applied to later steps, and later steps skipped after a failure.

use std::collections::BTreeMap;
use std::io::{Read, Write};
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};

use serde_json::Value;

use crate::support::forge::CrState;
use crate::support::lab::{BOT_TOKEN, Kind, Lab, REPO};
use crate::support::remote;

const VERSION: &str = "v0.0.1-test";

const CONFIG: &str = "\
version: 1
environments:
  staging:
    path: envs/staging
  production:
    path: envs/production
    update: pull-request
";

const KUSTOMIZATION: &str = "\
apiVersion: kustomize.config.k8s.io/v1beta1
kind: Kustomization
images:
  - name: ghcr.io/acme/cart
    newTag: 1111111   # set by ferry
";

/// A lab whose environment repository has staging (pushed) and production (through a change
/// request), each with one kustomization.
fn env_lab(kind: Kind) -> Lab {
    Lab::new(
        kind,
        &[
            ("ferry.yaml", CONFIG.as_bytes()),
            ("envs/staging/kustomization.yaml", KUSTOMIZATION.as_bytes()),
            (
                "envs/production/kustomization.yaml",
                KUSTOMIZATION.as_bytes(),
            ),
        ],
    )
}

/// The runner's target names for this machine.
fn runner_arch() -> &'static str {
    match std::env::consts::ARCH {
        "aarch64" => "ARM64",
        _ => "X64",
    }
}

fn release_target() -> &'static str {
    match std::env::consts::ARCH {
        "aarch64" => "aarch64-unknown-linux-musl",
        _ => "x86_64-unknown-linux-musl",
    }
}

/// Serves files over plain HTTP on 127.0.0.1, counting requests: the release download site.
struct FileServer {
    addr: std::net::SocketAddr,
    requests: Arc<AtomicUsize>,
    stop: Arc<AtomicBool>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl FileServer {
    fn start(files: BTreeMap<String, Vec<u8>>) -> FileServer {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
        let addr = listener.local_addr().expect("addr");
        let requests = Arc::new(AtomicUsize::new(0));
        let stop = Arc::new(AtomicBool::new(false));
        let (count, stopping) = (requests.clone(), stop.clone());
        let thread = std::thread::spawn(move || {
            for stream in listener.incoming() {
                if stopping.load(Ordering::SeqCst) {
                    break;
                }
                let Ok(mut stream) = stream else { continue };
                let mut head = Vec::new();
                let mut byte = [0u8; 1];
                while !head.ends_with(b"\r\n\r\n") && stream.read(&mut byte).unwrap_or(0) == 1 {
                    head.push(byte[0]);
                }
                count.fetch_add(1, Ordering::SeqCst);
                let line = String::from_utf8_lossy(&head);
                let path = line.split_whitespace().nth(1).unwrap_or("/").to_owned();
                let (status, body) = match files.get(&path) {
                    Some(body) => ("200 OK", body.clone()),
                    None => ("404 Not Found", b"not found".to_vec()),
                };
                let _ = write!(
                    stream,
                    "HTTP/1.1 {status}\r\ncontent-length: {}\r\nconnection: close\r\n\r\n",
                    body.len()
                );
                let _ = stream.write_all(&body);
            }
        });
        FileServer {
            addr,
            requests,
            stop,
            thread: Some(thread),
        }
    }

    fn url(&self) -> String {
        format!("http://{}/releases/download", self.addr)
    }
}

impl Drop for FileServer {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        let _ = std::net::TcpStream::connect(self.addr);
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

/// The test binary packed as a release archive: (file name, bytes, SHA-256).
fn release_archive(dir: &Path) -> (String, Vec<u8>, String) {
    let stage = dir.join("stage");
    std::fs::create_dir_all(&stage).expect("mkdir");
    std::fs::copy(env!("CARGO_BIN_EXE_ferry"), stage.join("ferry")).expect("copy ferry");
    let name = format!("ferry-{VERSION}-{}.tar.gz", release_target());
    let archive = dir.join(&name);
    let status = Command::new("tar")
        .arg("-czf")
        .arg(&archive)
        .arg("-C")
        .arg(&stage)
        .arg("ferry")
        .status()
        .expect("tar runs");
    assert!(status.success());
    let out = Command::new("sha256sum")
        .arg(&archive)
        .output()
        .expect("sha256sum runs");
    let sha = String::from_utf8_lossy(&out.stdout)
        .split_whitespace()
        .next()
        .expect("a sum")
        .to_owned();
    (name, std::fs::read(&archive).expect("archive"), sha)
}

/// One run of the composite action.
#[derive(Debug, Default)]
struct ActionRun {
    /// The action's outputs, as a workflow sees them (`steps.<id>.outputs.*`).
    outputs: BTreeMap<String, String>,
    /// Each step's name and exit code, in order; steps after a failure are absent.
    steps: Vec<(String, i32)>,
    /// The step summaries, concatenated.
    summary: String,
    /// Everything the steps printed (stdout and stderr), workflow commands included.
    log: String,
    /// The values masked with `::add-mask::`.
    masks: Vec<String>,
    /// The annotations (`::error ...`, `::warning ...`) as printed.
    annotations: Vec<String>,
}

impl ActionRun {
    fn succeeded(&self) -> bool {
        self.steps.iter().all(|(_, code)| *code == 0)
    }
}

/// Evaluates the `${{ ... }}` expressions of `text` that a composite action may use here:
/// `inputs.*`, `steps.*.outputs.*`, and `github.*` (from the runner's `GITHUB_*` variables, empty
/// when unset, as the runner leaves an unknown context value).
fn evaluate(
    text: &str,
    inputs: &BTreeMap<String, String>,
    steps: &BTreeMap<String, BTreeMap<String, String>>,
    github: &BTreeMap<String, String>,
) -> String {
    let mut out = String::new();
    let mut rest = text;
    while let Some(start) = rest.find("${{") {
        out.push_str(&rest[..start]);
        let end = rest[start..].find("}}").expect("closed expression") + start;
        let expr = rest[start + 3..end].trim();
        let value = if let Some(name) = expr.strip_prefix("inputs.") {
            inputs
                .get(name)
                .unwrap_or_else(|| panic!("action.yml uses undeclared input `{name}`"))
                .clone()
        } else if let Some(path) = expr.strip_prefix("steps.") {
            let (id, output) = path
                .split_once(".outputs.")
                .unwrap_or_else(|| panic!("unsupported expression `{expr}`"));
            steps
                .get(id)
                .and_then(|o| o.get(output))
                .cloned()
                .unwrap_or_default()
        } else if let Some(name) = expr.strip_prefix("github.") {
            github.get(name).cloned().unwrap_or_default()
        } else {
            panic!("action.yml uses an expression this emulation does not know: `{expr}`")
        };
        out.push_str(&value);
        rest = &rest[end + 2..];
    }
    out.push_str(rest);
    out
}

/// Parses a `$GITHUB_OUTPUT` / `$GITHUB_ENV` file: `key=value` or `key<<DELIM` ... `DELIM`.
fn parse_file_commands(text: &str) -> Vec<(String, String)> {
    let mut values = Vec::new();
    let mut lines = text.lines();
    while let Some(line) = lines.next() {
        if line.is_empty() {
            continue;
        }
        if let Some((key, delimiter)) = line.split_once("<<")
            && !key.contains('=')
        {
            let mut value = Vec::new();
            for next in lines.by_ref() {
                if next == delimiter {
                    break;
                }
                value.push(next);
            }
            values.push((key.to_owned(), value.join("\n")));
        } else {
            let (key, value) = line
                .split_once('=')
                .unwrap_or_else(|| panic!("malformed file command line {line:?}"));
            values.push((key.to_owned(), value.to_owned()));
        }
    }
    values
}

/// Runs `action_dir/action.yml` with `with` as its inputs, on a runner whose environment adds
/// `runner_env`, in `workspace`.
fn run_action(
    action_dir: &Path,
    workspace: &Path,
    with: &[(&str, &str)],
    runner_env: &[(&str, String)],
) -> ActionRun {
    let text = std::fs::read_to_string(action_dir.join("action.yml")).expect("action.yml");
    let action: Value = serde_saphyr::from_str(&text).expect("action.yml parses");
    assert_eq!(action["runs"]["using"], "composite");
    let mut inputs = BTreeMap::new();
    for (name, spec) in action["inputs"].as_object().expect("inputs") {
        let default = spec["default"].as_str().unwrap_or_default();
        inputs.insert(name.clone(), default.to_owned());
    }
    for (name, value) in with {
        assert!(
            inputs.contains_key(*name),
            "input `{name}` is not declared in action.yml"
        );
        inputs.insert((*name).to_owned(), (*value).to_owned());
    }
    let github: BTreeMap<String, String> = runner_env
        .iter()
        .filter_map(|(key, value)| {
            let name = key.strip_prefix("GITHUB_")?;
            Some((name.to_ascii_lowercase(), value.clone()))
        })
        .collect();
    let temp = tempfile::tempdir().expect("runner temp");
    let mut run = ActionRun::default();
    let mut step_outputs: BTreeMap<String, BTreeMap<String, String>> = BTreeMap::new();
    let mut job_env: Vec<(String, String)> = Vec::new();
    let mut paths: Vec<String> = Vec::new();
    for (index, step) in action["runs"]["steps"]
        .as_array()
        .expect("steps")
        .iter()
        .enumerate()
    {
        let name = step["name"].as_str().unwrap_or("step").to_owned();
        assert_eq!(step["shell"], "bash", "{name}: every step runs in bash");
        let script = step["run"].as_str().expect("a run step");
        assert!(
            !script.contains("${{"),
            "{name}: expressions in `run:` paste input text into the script; pass them in `env:`"
        );
        let files = temp.path().join(format!("step{index}"));
        std::fs::create_dir_all(&files).expect("mkdir");
        let (output, summary, env_file, path_file) = (
            files.join("output"),
            files.join("summary"),
            files.join("env"),
            files.join("path"),
        );
        for f in [&output, &summary, &env_file, &path_file] {
            std::fs::write(f, "").expect("touch");
        }
        let script_file = files.join("script.sh");
        std::fs::write(&script_file, script).expect("script");
        let mut cmd = Command::new("bash");
        cmd.args(["--noprofile", "--norc", "-eo", "pipefail"])
            .arg(&script_file)
            .current_dir(workspace)
            .env_clear();
        let mut path_var = paths.iter().rev().cloned().collect::<Vec<_>>();
        path_var.push(std::env::var("PATH").unwrap_or_default());
        cmd.env("PATH", path_var.join(":"))
            .env("HOME", temp.path())
            .env("CI", "true")
            .env("GITHUB_ACTIONS", "true")
            .env("RUNNER_OS", "Linux")
            .env("RUNNER_ARCH", runner_arch())
            .env("RUNNER_TEMP", temp.path())
            .env("GITHUB_WORKSPACE", workspace)
            .env("GITHUB_ACTION_PATH", action_dir)
            .env("GITHUB_OUTPUT", &output)
            .env("GITHUB_STEP_SUMMARY", &summary)
            .env("GITHUB_ENV", &env_file)
            .env("GITHUB_PATH", &path_file);
        for (key, value) in runner_env {
            cmd.env(key, value);
        }
        for (key, value) in &job_env {
            cmd.env(key, value);
        }
        if let Some(env) = step["env"].as_object() {
            for (key, value) in env {
                let raw = match value {
                    Value::String(s) => s.clone(),
                    other => other.to_string(),
                };
                cmd.env(key, evaluate(&raw, &inputs, &step_outputs, &github));
            }
        }
        let out = cmd.output().expect("bash runs");
        let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
        let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
        for line in stdout.lines().chain(stderr.lines()) {
            if let Some(value) = line.strip_prefix("::add-mask::") {
                run.masks
                    .push(value.replace("%0A", "\n").replace("%25", "%"));
            } else if line.starts_with("::error") || line.starts_with("::warning") {
                run.annotations.push(line.to_owned());
            }
        }
        run.log.push_str(&stdout);
        run.log.push_str(&stderr);
        run.summary
            .push_str(&std::fs::read_to_string(&summary).expect("summary"));
        let code = out.status.code().unwrap_or(-1);
        run.steps.push((name, code));
        if let Some(id) = step["id"].as_str() {
            let text = std::fs::read_to_string(&output).expect("output file");
            step_outputs.insert(
                id.to_owned(),
                parse_file_commands(&text).into_iter().collect(),
            );
        }
        job_env.extend(parse_file_commands(
            &std::fs::read_to_string(&env_file).expect("env file"),
        ));
        paths.extend(
            std::fs::read_to_string(&path_file)
                .expect("path file")
                .lines()
                .filter(|l| !l.is_empty())
                .map(str::to_owned),
        );
        if code != 0 {
            break;
        }
    }
    for (name, spec) in action["outputs"].as_object().expect("outputs") {
        let value = spec["value"].as_str().expect("an output value");
        run.outputs.insert(
            name.clone(),
            evaluate(value, &inputs, &step_outputs, &github),
        );
    }
    run
}

/// The environment repository served over smart HTTP, the forge, and the release site.
struct Site {
    lab: Lab,
    releases: FileServer,
    sha256: String,
    workspace: PathBuf,
}

impl Site {
    fn new() -> Site {
        let lab = env_lab(Kind::GitHub);
        let (name, bytes, sha256) = release_archive(lab.dir.path());
        let releases = FileServer::start(
            [(format!("/releases/download/{VERSION}/{name}"), bytes)]
                .into_iter()
                .collect(),
        );
        let workspace = lab.dir.path().join("workspace");
        std::fs::create_dir_all(&workspace).expect("mkdir");
        Site {
            lab,
            releases,
            sha256,
            workspace,
        }
    }

    /// What the runner sets for a push to the application repository `acme/cart`, on a GitHub
    /// Enterprise Server whose git and API are the test servers.
    fn runner_env(&self) -> Vec<(&'static str, String)> {
        vec![
            ("GITHUB_SERVER_URL", self.lab.git.base_url()),
            ("GITHUB_API_URL", self.lab.forge.github_api_url()),
            ("GITHUB_REPOSITORY", "acme/cart".to_owned()),
            (
                "GITHUB_SHA",
                "9d8c7b6a5f4e3d2c1b0a9d8c7b6a5f4e3d2c1b0a".to_owned(),
            ),
            ("GITHUB_REF", "refs/heads/main".to_owned()),
            ("GITHUB_REF_NAME", "main".to_owned()),
            ("GITHUB_RUN_ID", "4242".to_owned()),
            ("GITHUB_RUN_NUMBER", "17".to_owned()),
            ("GITHUB_RUN_ATTEMPT", "1".to_owned()),
            ("GITHUB_ACTOR", "alice".to_owned()),
            ("GITHUB_EVENT_NAME", "push".to_owned()),
        ]
    }

    fn run(&self, with: &[(&str, &str)]) -> ActionRun {
        self.run_in(Path::new(env!("CARGO_MANIFEST_DIR")), with)
    }

    fn run_in(&self, action_dir: &Path, with: &[(&str, &str)]) -> ActionRun {
        self.run_on(action_dir, with, &[])
    }

    /// [`Site::run_in`] on a runner whose environment also has `extra`.
    fn run_on(
        &self,
        action_dir: &Path,
        with: &[(&str, &str)],
        extra: &[(&'static str, String)],
    ) -> ActionRun {
        let url = self.releases.url();
        let repo = self.lab.url(REPO);
        let mut all: Vec<(&str, &str)> = vec![
            ("version", VERSION),
            ("download-url", &url),
            ("sha256", &self.sha256),
            ("repo", &repo),
            ("token", BOT_TOKEN),
            ("forge", "github"),
        ];
        all.retain(|(k, _)| !with.iter().any(|(w, _)| w == k));
        all.extend_from_slice(with);
        let mut runner_env = self.runner_env();
        runner_env.extend_from_slice(extra);
        run_action(action_dir, &self.workspace, &all, &runner_env)
    }
}

/// The token never shows in what the run printed, in its outputs or its summary, except in the
/// `::add-mask::` command that hides it.
fn assert_no_token(run: &ActionRun) {
    assert!(
        run.masks.iter().any(|m| m == BOT_TOKEN),
        "the token was not masked: {:?}\n{}",
        run.masks,
        run.log
    );
    for line in run.log.lines() {
        assert!(
            line.starts_with("::add-mask::") || !line.contains(BOT_TOKEN),
            "the token is in the log: {line}"
        );
    }
    assert!(!run.summary.contains(BOT_TOKEN));
    assert!(run.outputs.values().all(|v| !v.contains(BOT_TOKEN)));
}

#[test]
fn the_action_installs_a_verified_release_and_bumps_with_outputs_and_a_summary() {
    let site = Site::new();
    let run = site.run(&[
        ("environment", "staging"),
        ("images", "ghcr.io/acme/cart=9d8c7b6"),
    ]);
    assert!(run.succeeded(), "{:?}\n{}", run.steps, run.log);
    assert_eq!(site.releases.requests.load(Ordering::SeqCst), 1);
    let tip = remote::branch_tip(&site.lab.repo, "main").expect("main");
    assert_eq!(run.outputs["commit-sha"], tip, "{:?}", run.outputs);
    assert_eq!(run.outputs["changed"], "true");
    assert_eq!(run.outputs["status"], "pushed");
    assert_eq!(run.outputs["exit-code"], "0");
    assert_eq!(run.outputs["pr-url"], "");
    assert!(
        site.lab
            .file("main", "envs/staging/kustomization.yaml")
            .contains("newTag: 9d8c7b6   # set by ferry")
    );
    // The commit says where it came from: the runner's variables.
    let message = remote::git(&site.lab.repo, &["log", "-1", "--format=%B", "main"]);
    assert!(
        message.contains(&format!(
            "Ferry-Source-Repo: {}/acme/cart",
            site.lab.git.base_url()
        )) && message.contains("/acme/cart/actions/runs/4242"),
        "{message}"
    );
    assert!(
        run.summary.contains("ghcr.io/acme/cart") && run.summary.contains("9d8c7b6"),
        "{}",
        run.summary
    );
    // With a link to the commit on the forge's web pages.
    assert!(
        run.summary.contains(&format!("/acme/env/commit/{tip})")),
        "{}",
        run.summary
    );
    assert_no_token(&run);

    // Rerun: nothing changes, and the outputs say so.
    let pushes = site.lab.git.pushes_accepted();
    let run = site.run(&[
        ("environment", "staging"),
        ("images", "ghcr.io/acme/cart=9d8c7b6"),
    ]);
    assert!(run.succeeded(), "{}", run.log);
    assert_eq!(run.outputs["changed"], "false");
    assert_eq!(run.outputs["status"], "up-to-date");
    assert_eq!(site.lab.git.pushes_accepted(), pushes);
}

#[test]
fn the_action_builds_ferry_from_its_own_source_without_a_version() {
    // A runner with a Rust toolchain (its cargo and rustup homes); the build goes to a target
    // directory of its own below this one's, so a rerun on the same machine is incremental.
    // The runner's cargo settings make the release profile unoptimized: what this test checks
    // is that the action builds and runs ferry from its source, not the optimizer, and a cold
    // optimized build would be a third of the suite's time on a 2-core machine.
    let site = Site::new();
    let home = std::env::var("HOME").unwrap_or_default();
    let manifest = Path::new(env!("CARGO_MANIFEST_DIR"));
    let toolchain = vec![
        (
            "CARGO_HOME",
            std::env::var("CARGO_HOME").unwrap_or_else(|_| format!("{home}/.cargo")),
        ),
        (
            "RUSTUP_HOME",
            std::env::var("RUSTUP_HOME").unwrap_or_else(|_| format!("{home}/.rustup")),
        ),
        (
            "CARGO_TARGET_DIR",
            manifest.join("target/action-install").display().to_string(),
        ),
        ("CARGO_PROFILE_RELEASE_OPT_LEVEL", "0".to_owned()),
        ("CARGO_PROFILE_RELEASE_DEBUG", "false".to_owned()),
        ("CARGO_PROFILE_RELEASE_CODEGEN_UNITS", "256".to_owned()),
    ];
    let run = site.run_on(
        manifest,
        &[
            ("version", ""),
            ("sha256", ""),
            ("environment", "staging"),
            ("images", "ghcr.io/acme/cart=9d8c7b6"),
        ],
        &toolchain,
    );
    assert!(run.succeeded(), "{:?}\n{}", run.steps, run.log);
    assert!(
        run.log.contains("Building ferry from the action's source"),
        "{}",
        run.log
    );
    assert_eq!(
        site.releases.requests.load(Ordering::SeqCst),
        0,
        "nothing is downloaded"
    );
    assert_eq!(run.outputs["changed"], "true", "{:?}", run.outputs);
    assert!(
        site.lab
            .file("main", "envs/staging/kustomization.yaml")
            .contains("newTag: 9d8c7b6")
    );
}

#[test]
fn the_action_refuses_a_release_whose_checksum_differs() {
    let site = Site::new();
    let wrong = "0".repeat(64);
    let run = site.run(&[
        ("sha256", &wrong),
        ("environment", "staging"),
        ("images", "ghcr.io/acme/cart=9d8c7b6"),
    ]);
    assert_eq!(run.steps.len(), 1, "ferry ran after a failed install");
    assert_ne!(run.steps[0].1, 0);
    assert!(
        run.annotations
            .iter()
            .any(|a| a.starts_with("::error title=ferry action::SHA-256 of ")),
        "{:?}\n{}",
        run.annotations,
        run.log
    );
    assert!(
        site.lab
            .file("main", "envs/staging/kustomization.yaml")
            .contains("1111111")
    );

    // Without a sha256 input, the checksum recorded beside the action is what counts.
    let copy = tempfile::tempdir().expect("tempdir");
    let action = copy.path();
    std::fs::copy(
        Path::new(env!("CARGO_MANIFEST_DIR")).join("action.yml"),
        action.join("action.yml"),
    )
    .expect("copy action.yml");
    std::fs::create_dir_all(action.join("ci/action")).expect("mkdir");
    for file in ["install.sh", "run.sh"] {
        std::fs::copy(
            Path::new(env!("CARGO_MANIFEST_DIR"))
                .join("ci/action")
                .join(file),
            action.join("ci/action").join(file),
        )
        .expect("copy script");
    }
    let run = site.run_in(
        action,
        &[
            ("sha256", ""),
            ("environment", "staging"),
            ("images", "ghcr.io/acme/cart=9d8c7b6"),
        ],
    );
    assert!(!run.succeeded());
    assert!(run.log.contains("no SHA-256 known for"), "{}", run.log);
    std::fs::write(
        action.join("ci/action/checksums.txt"),
        format!("{VERSION} {} {}\n", release_target(), site.sha256),
    )
    .expect("checksums");
    let run = site.run_in(
        action,
        &[
            ("sha256", ""),
            ("environment", "staging"),
            ("images", "ghcr.io/acme/cart=9d8c7b6"),
        ],
    );
    assert!(run.succeeded(), "{:?}\n{}", run.steps, run.log);
    assert_eq!(run.outputs["changed"], "true");
}

#[test]
fn the_action_proposes_through_a_pull_request_and_waits_as_told() {
    let site = Site::new();
    let run = site.run(&[
        ("environment", "production"),
        ("images", "ghcr.io/acme/cart=9d8c7b6"),
    ]);
    assert!(run.succeeded(), "{:?}\n{}", run.steps, run.log);
    assert_eq!(run.outputs["status"], "proposed", "{:?}", run.outputs);
    let open: Vec<_> = site
        .lab
        .forge
        .change_requests(REPO)
        .into_iter()
        .filter(|cr| cr.state == CrState::Open)
        .collect();
    assert_eq!(open.len(), 1);
    assert_eq!(run.outputs["pr-number"], open[0].number.to_string());
    assert!(
        run.outputs["pr-url"].ends_with(&format!("/pull/{}", open[0].number)),
        "{:?}",
        run.outputs
    );
    assert_no_token(&run);

    // A scheduled merge: no approval rule here, so it merges; with one it would wait.
    site.lab.require_approvals(1);
    let run = site.run(&[("command", "merge"), ("environment", "production")]);
    assert!(!run.succeeded(), "waiting fails the step by default");
    assert_eq!(run.outputs["exit-code"], "11", "{}", run.log);
    let run = site.run(&[
        ("command", "merge"),
        ("environment", "production"),
        ("waiting-is-success", "true"),
    ]);
    assert!(run.succeeded(), "{:?}\n{}", run.steps, run.log);
    assert_eq!(run.outputs["exit-code"], "11");
    assert!(run.summary.contains("approvals 0 of 1"), "{}", run.summary);
}

#[test]
fn the_action_turns_errors_into_annotations_at_the_file_and_line() {
    let site = Site::new();
    // A ferry.yaml with a mistake on line 4.
    remote::commit_files(
        &site.lab.repo,
        "main",
        &[(
            "ferry.yaml",
            Some(b"version: 1\nenvironments:\n  staging:\n    pth: envs/staging\n".as_slice()),
        )],
        "break ferry.yaml",
    );
    let run = site.run(&[
        ("environment", "staging"),
        ("images", "ghcr.io/acme/cart=9d8c7b6"),
    ]);
    assert_eq!(run.outputs["exit-code"], "2", "{}", run.log);
    assert!(
        run.annotations
            .iter()
            .any(|a| a.starts_with("::error file=ferry.yaml,line=4,")),
        "{:?}\n{}",
        run.annotations,
        run.log
    );

    // Inputs are data: a hostile command input is refused before anything runs.
    let run = site.run(&[("command", "bump;rm")]);
    assert_eq!(run.outputs["exit-code"], "2", "{}", run.log);
    assert!(run.log.contains("the 'command' input holds"), "{}", run.log);
}

// ---------------------------------------------------------------------------------------------
// The GitLab CI template

/// A hidden job of `ci/gitlab/ferry.gitlab-ci.yml` with its `extends` chain merged the way
/// GitLab merges it (hashes deeply, the rest replaced): its variables and its script.
fn gitlab_job(name: &str) -> (Vec<(String, String)>, String, Value) {
    let text = std::fs::read_to_string(
        Path::new(env!("CARGO_MANIFEST_DIR")).join("ci/gitlab/ferry.gitlab-ci.yml"),
    )
    .expect("the template");
    let template: Value = serde_saphyr::from_str(&text).expect("the template parses");
    let mut chain = vec![template[name].clone()];
    while let Some(parent) = chain.last().and_then(|j| j["extends"].as_str()) {
        chain.push(template[parent].clone());
    }
    let mut job = serde_json::Map::new();
    for level in chain.iter().rev() {
        for (key, value) in level.as_object().expect("a job") {
            match (job.get_mut(key), value) {
                (Some(Value::Object(into)), Value::Object(from)) => {
                    into.extend(from.clone());
                }
                _ => {
                    job.insert(key.clone(), value.clone());
                }
            }
        }
    }
    let mut variables: Vec<(String, String)> = Vec::new();
    for scope in [
        &template["variables"],
        &Value::Object(job.clone())["variables"],
    ] {
        for (key, value) in scope.as_object().into_iter().flatten() {
            let value = match value {
                Value::Object(v) => v["value"].as_str().unwrap_or_default().to_owned(),
                Value::String(s) => s.clone(),
                other => other.to_string(),
            };
            variables.push((key.clone(), value));
        }
    }
    // The runner runs `before_script` and `script` as one shell script.
    let script = job["before_script"]
        .as_array()
        .into_iter()
        .flatten()
        .chain(job["script"].as_array().expect("a script"))
        .map(|line| line.as_str().expect("a script line").to_owned())
        .collect::<Vec<_>>()
        .join("\n");
    (variables, script, Value::Object(job))
}

/// Runs a job's script as a GitLab runner's bash shell does (`set -eo pipefail`), in an empty
/// build directory (`GIT_STRATEGY: none`), with ferry on PATH: its exit code, the dotenv
/// report and the log.
fn run_gitlab_job(
    name: &str,
    lab: &Lab,
    variables: &[(&str, String)],
) -> (i32, BTreeMap<String, String>, String) {
    let (job_variables, script, _) = gitlab_job(name);
    let build = lab
        .dir
        .path()
        .join(format!("build-{}", name.trim_start_matches('.')));
    std::fs::create_dir_all(&build).expect("mkdir");
    let script_file = build.join(".script.sh");
    std::fs::write(&script_file, &script).expect("script");
    let bin = Path::new(env!("CARGO_BIN_EXE_ferry"))
        .parent()
        .expect("bin dir")
        .to_path_buf();
    let mut cmd = Command::new("bash");
    cmd.args(["--noprofile", "--norc", "-eo", "pipefail"])
        .arg(&script_file)
        .current_dir(&build)
        .env_clear()
        .env(
            "PATH",
            format!(
                "{}:{}",
                bin.display(),
                std::env::var("PATH").unwrap_or_default()
            ),
        )
        .env("HOME", lab.dir.path())
        .env("CI", "true")
        .env("GITLAB_CI", "true")
        .env("CI_SERVER_URL", lab.git.base_url())
        .env("CI_API_V4_URL", lab.forge.gitlab_api_url())
        .env(
            "CI_PROJECT_URL",
            format!("{}/acme/shop", lab.git.base_url()),
        )
        .env("CI_PROJECT_PATH", "acme/shop")
        .env(
            "CI_PIPELINE_URL",
            format!("{}/acme/shop/-/pipelines/99", lab.git.base_url()),
        )
        .env("CI_PIPELINE_IID", "99")
        .env("CI_COMMIT_SHA", "9d8c7b6a5f4e3d2c1b0a9d8c7b6a5f4e3d2c1b0a")
        .env("CI_COMMIT_SHORT_SHA", "9d8c7b6a")
        .env("GITLAB_USER_LOGIN", "alice")
        .env("FERRY_REPO", lab.url(REPO))
        .env("FERRY_TOKEN", BOT_TOKEN);
    for (key, value) in &job_variables {
        if key != "GIT_STRATEGY" {
            cmd.env(key, value);
        }
    }
    for (key, value) in variables {
        cmd.env(key, value);
    }
    let out = cmd.output().expect("bash runs");
    let log = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    let report = std::fs::read_to_string(build.join("ferry.env")).unwrap_or_default();
    let report = report
        .lines()
        .filter_map(|l| l.split_once('='))
        .map(|(k, v)| (k.to_owned(), v.to_owned()))
        .collect();
    (out.status.code().unwrap_or(-1), report, log)
}

#[test]
fn the_gitlab_template_bumps_and_reports_through_its_dotenv_file() {
    let lab = env_lab(Kind::GitLab);
    let (code, _, log) = run_gitlab_job(
        ".ferry-bump",
        &lab,
        &[
            ("CI_PIPELINE_SOURCE", "push".to_owned()),
            ("CI_COMMIT_BRANCH", "main".to_owned()),
            ("FERRY_ENVIRONMENT", "staging".to_owned()),
            (
                "FERRY_IMAGES",
                "ghcr.io/acme/cart=9d8c7b6 ghcr.io/acme/*=never-globbed".to_owned(),
            ),
            ("FERRY_ARGS", "--attempts 3".to_owned()),
        ],
    );
    // The second image is no image name: ferry refuses the command line, nothing is pushed.
    assert_eq!(code, 2, "{log}");
    assert!(log.contains("ghcr.io/acme/*"), "{log}");
    let (code, report, log) = run_gitlab_job(
        ".ferry-bump",
        &lab,
        &[
            ("FERRY_ENVIRONMENT", "staging".to_owned()),
            ("FERRY_IMAGES", "ghcr.io/acme/cart=9d8c7b6".to_owned()),
            ("FERRY_ARGS", "--attempts 3".to_owned()),
        ],
    );
    assert_eq!(code, 0, "{log}");
    let tip = remote::branch_tip(&lab.repo, "main").expect("main");
    assert_eq!(report.get("FERRY_COMMIT_SHA"), Some(&tip), "{report:?}");
    assert_eq!(report["FERRY_CHANGED"], "true");
    assert_eq!(report["FERRY_STATUS"], "pushed");
    let message = remote::git(&lab.repo, &["log", "-1", "--format=%B", "main"]);
    assert!(message.contains("Ferry-Run-Url: "), "{message}");
    assert!(message.contains("/acme/shop/-/pipelines/99"), "{message}");

    // Through a merge request: the dotenv report carries its address for later jobs.
    let (code, report, log) = run_gitlab_job(
        ".ferry-bump",
        &lab,
        &[
            ("FERRY_ENVIRONMENT", "production".to_owned()),
            ("FERRY_IMAGES", "ghcr.io/acme/cart=9d8c7b6".to_owned()),
        ],
    );
    assert_eq!(code, 0, "{log}");
    assert_eq!(report["FERRY_STATUS"], "proposed", "{report:?}");
    let open: Vec<_> = lab
        .forge
        .change_requests(REPO)
        .into_iter()
        .filter(|cr| cr.state == CrState::Open)
        .collect();
    assert_eq!(open.len(), 1);
    assert_eq!(report["FERRY_PR_NUMBER"], open[0].number.to_string());
    assert!(
        report["FERRY_PR_URL"].contains("/-/merge_requests/"),
        "{report:?}"
    );

    // A scheduled merge waits for approval with exit 11, which the job allows.
    lab.require_approvals(1);
    let (code, _, log) = run_gitlab_job(
        ".ferry-merge",
        &lab,
        &[("FERRY_ENVIRONMENT", "production".to_owned())],
    );
    assert_eq!(code, 11, "{log}");
    let (_, _, job) = gitlab_job(".ferry-merge");
    assert_eq!(job["allow_failure"]["exit_codes"], serde_json::json!([11]));
}

#[test]
fn the_gitlab_template_brings_a_preview_up_with_its_environment_url_and_down() {
    let config = "\
version: 1
previews:
  ttl: 72h
  url: https://{slug}.preview.example.com
  deploy:
    path: previews/base
";
    let lab = Lab::new(
        Kind::GitLab,
        &[
            ("ferry.yaml", config.as_bytes()),
            (
                "previews/base/kustomization.yaml",
                b"resources: [deployment.yaml]\n",
            ),
        ],
    );
    let shop = lab.add_repo("acme/shop", &[("README.md", b"the shop\n")]);
    remote::git(&shop, &["branch", "feature/login", "main"]);
    remote::commit_files(
        &shop,
        "feature/login",
        &[("login.txt", Some(b"login".as_slice()))],
        "login",
    );
    let status = crate::support::forge::client::send_json(
        "POST",
        &format!(
            "{}/projects/acme%2Fshop/merge_requests",
            lab.forge.gitlab_api_url()
        ),
        &[("private-token", crate::support::lab::ALICE_TOKEN)],
        &serde_json::json!({"title": "Login", "source_branch": "feature/login", "target_branch": "main"}),
    )
    .map_or(0, |r| r.status);
    assert_eq!(status, 201);
    let mr = lab.forge.change_requests("acme/shop")[0].number;
    let mr_vars = |source: &str| {
        vec![
            ("CI_PIPELINE_SOURCE", source.to_owned()),
            ("CI_MERGE_REQUEST_IID", mr.to_string()),
            (
                "CI_MERGE_REQUEST_SOURCE_BRANCH_NAME",
                "feature/login".to_owned(),
            ),
            (
                "CI_MERGE_REQUEST_PROJECT_URL",
                format!("{}/acme/shop", lab.git.base_url()),
            ),
            ("CI_COMMIT_REF_SLUG", "feature-login".to_owned()),
            ("FERRY_APP_REPO", lab.url("acme/shop")),
            ("FERRY_IMAGES", "ghcr.io/acme/shop=9d8c7b6".to_owned()),
        ]
    };
    let (code, report, log) =
        run_gitlab_job(".ferry-preview-up", &lab, &mr_vars("merge_request_event"));
    assert_eq!(code, 0, "{log}");
    let url = report.get("FERRY_PREVIEW_URL").expect("a preview URL");
    assert!(
        url.starts_with("https://preview-feature-login-") && url.ends_with(".preview.example.com"),
        "{report:?}"
    );
    // GitLab takes the environment's URL from the report's variable.
    let (_, _, job) = gitlab_job(".ferry-preview-up");
    assert_eq!(job["environment"]["url"], "$FERRY_PREVIEW_URL");
    assert_eq!(job["environment"]["name"], "review/$CI_COMMIT_REF_SLUG");
    assert!(job["environment"]["auto_stop_in"].is_string());
    let files = remote::read_branch(&lab.repo, "dynamic-envs");
    assert!(
        files
            .keys()
            .any(|f| f.starts_with("apps/preview-feature-login-")),
        "{:?}",
        files.keys().collect::<Vec<_>>()
    );

    let (code, report, log) =
        run_gitlab_job(".ferry-preview-down", &lab, &mr_vars("merge_request_event"));
    assert_eq!(code, 0, "{log}");
    assert_eq!(
        report.get("FERRY_STATUS").map(String::as_str),
        Some("removed"),
        "{report:?}"
    );
    let files = remote::read_branch(&lab.repo, "dynamic-envs");
    assert!(
        !files
            .keys()
            .any(|f| f.starts_with("apps/preview-feature-login-"))
    );
    let (_, _, job) = gitlab_job(".ferry-preview-down");
    assert_eq!(job["environment"]["action"], "stop");
}
