//! Releases: the archive `.github/workflows/release.yml` publishes, installed the way the GitHub
//! Action installs it.
//!
//! The archive is made by the workflow's own script, `ci/release/package.sh`, and its checksum
//! recorded by the workflow's `ci/release/record-checksums.sh` from a `SHA256SUMS` made as the
//! workflow makes it; then `action.yml`'s install step runs `ci/action/install.sh` with the
//! environment that step's `env:` gives it (inputs, `github.action_repository`,
//! `github.server_url`), downloading over `file://` (curl reads it like `https://`).
//!
//! What differs from the workflow: the binary packed is the one `cargo test` built (debug
//! profile, the host's own target, default features) instead of `cargo build --release --locked
//! --target T`, named for the target this runner's OS and
//! architecture download (a release build takes minutes here). Packing, naming, checksums,
//! the download location and the install are the workflow's and the action's own.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use serde_json::Value;

const VERSION: &str = "v0.0.1-test";

fn root() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

/// The runner's `RUNNER_OS` and `RUNNER_ARCH` here, and the release target install.sh picks for
/// them.
fn runner() -> (&'static str, &'static str, &'static str) {
    let arch = if std::env::consts::ARCH == "aarch64" {
        "ARM64"
    } else {
        "X64"
    };
    let target = match (std::env::consts::OS, arch) {
        ("macos", "ARM64") => "aarch64-apple-darwin",
        ("macos", _) => "x86_64-apple-darwin",
        (_, "ARM64") => "aarch64-unknown-linux-musl",
        _ => "x86_64-unknown-linux-musl",
    };
    let os = if std::env::consts::OS == "macos" {
        "macOS"
    } else {
        "Linux"
    };
    (os, arch, target)
}

/// The binary packed: the one `cargo test` built.
fn binary() -> &'static str {
    env!("CARGO_BIN_EXE_ferry")
}

fn archive_name() -> String {
    format!("ferry-{VERSION}-{}.tar.gz", runner().2)
}

fn run(cmd: &mut Command) -> Output {
    let out = cmd.output().expect("the command runs");
    assert!(
        out.status.success(),
        "{cmd:?} failed: {}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    out
}

fn sha256_of(path: &Path) -> String {
    let out = if cfg!(target_os = "macos") {
        run(Command::new("shasum").args(["-a", "256"]).arg(path))
    } else {
        run(Command::new("sha256sum").arg(path))
    };
    String::from_utf8_lossy(&out.stdout)
        .split_whitespace()
        .next()
        .expect("a sum")
        .to_owned()
}

/// `ci/release/package.sh` on the test binary: the archive's path.
fn package(outdir: &Path) -> PathBuf {
    let out = run(Command::new("bash")
        .arg(root().join("ci/release/package.sh"))
        .arg(VERSION)
        .arg(runner().2)
        .arg(binary())
        .arg(outdir)
        .env("SOURCE_DATE_EPOCH", "1700000000"));
    let path = PathBuf::from(String::from_utf8_lossy(&out.stdout).trim());
    assert_eq!(path, outdir.join(archive_name()));
    path
}

/// A copy of the action as a workflow checks it out (`action.yml`, `ci/action/`), with
/// `checksums` as its `ci/action/checksums.txt`.
fn action_checkout(dir: &Path, checksums: &str) -> PathBuf {
    let action = dir.join("action");
    std::fs::create_dir_all(action.join("ci/action")).expect("mkdir");
    std::fs::copy(root().join("action.yml"), action.join("action.yml")).expect("action.yml");
    for file in ["install.sh", "run.sh"] {
        std::fs::copy(
            root().join("ci/action").join(file),
            action.join("ci/action").join(file),
        )
        .expect("script");
    }
    std::fs::write(action.join("ci/action/checksums.txt"), checksums).expect("checksums");
    action
}

/// The result of the action's install step.
struct Install {
    output: Output,
    /// Lines the step appended to `$GITHUB_PATH`.
    path: Vec<String>,
    runner_temp: tempfile::TempDir,
}

impl Install {
    fn log(&self) -> String {
        format!(
            "{}{}",
            String::from_utf8_lossy(&self.output.stdout),
            String::from_utf8_lossy(&self.output.stderr)
        )
    }

    fn installed(&self) -> PathBuf {
        self.runner_temp.path().join("ferry-action/bin/ferry")
    }
}

/// Runs `action.yml`'s install step as the runner does: its `env:` evaluated from `with` (over
/// the inputs' defaults) and the `github` context, then its `run:` script with bash.
fn install_step(action: &Path, with: &[(&str, &str)], github: &[(&str, &str)]) -> Install {
    let text = std::fs::read_to_string(action.join("action.yml")).expect("action.yml");
    let spec: Value = serde_saphyr::from_str(&text).expect("action.yml parses");
    let mut inputs: BTreeMap<String, String> = spec["inputs"]
        .as_object()
        .expect("inputs")
        .iter()
        .map(|(name, input)| {
            let default = input["default"].as_str().unwrap_or_default().to_owned();
            (name.clone(), default)
        })
        .collect();
    for (name, value) in with {
        assert!(inputs.contains_key(*name), "no input `{name}`");
        inputs.insert((*name).to_owned(), (*value).to_owned());
    }
    let github: BTreeMap<&str, &str> = github.iter().copied().collect();
    let step = spec["runs"]["steps"]
        .as_array()
        .expect("steps")
        .iter()
        .find(|s| s["name"] == "Install ferry")
        .expect("an install step");
    let runner_temp = tempfile::tempdir().expect("runner temp");
    let path_file = runner_temp.path().join("github_path");
    std::fs::write(&path_file, "").expect("touch");
    let mut cmd = Command::new("bash");
    cmd.args(["--noprofile", "--norc", "-eo", "pipefail", "-c"])
        .arg(step["run"].as_str().expect("run"))
        .env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .env("HOME", runner_temp.path())
        .env("RUNNER_OS", runner().0)
        .env("RUNNER_ARCH", runner().1)
        .env("RUNNER_TEMP", runner_temp.path())
        .env("GITHUB_ACTIONS", "true")
        .env("GITHUB_ACTION_PATH", action)
        .env("GITHUB_PATH", &path_file);
    for (key, value) in step["env"].as_object().expect("env") {
        let value = value.as_str().expect("a string");
        let expr = value
            .strip_prefix("${{")
            .and_then(|v| v.strip_suffix("}}"))
            .map(str::trim)
            .unwrap_or_else(|| panic!("{key}: not one expression: {value}"));
        let evaluated = if let Some(name) = expr.strip_prefix("inputs.") {
            inputs[name].clone()
        } else if let Some(name) = expr.strip_prefix("github.") {
            github.get(name).copied().unwrap_or_default().to_owned()
        } else {
            panic!("{key}: an expression the runner emulation does not know: {expr}");
        };
        cmd.env(key, evaluated);
    }
    let output = cmd.output().expect("bash runs");
    let path = std::fs::read_to_string(&path_file)
        .expect("GITHUB_PATH")
        .lines()
        .map(str::to_owned)
        .collect();
    Install {
        output,
        path,
        runner_temp,
    }
}

/// A release site on disk: `<dir>/<server>/<owner>/<repo>/releases/download/<version>/<archive>`,
/// as a `file://` URL of the server.
fn publish(dir: &Path, archive: &Path, repository: &str) -> String {
    let server = dir.join("server");
    let folder = server
        .join(repository)
        .join("releases/download")
        .join(VERSION);
    std::fs::create_dir_all(&folder).expect("mkdir");
    std::fs::copy(archive, folder.join(archive_name())).expect("publish");
    format!("file://{}", server.display())
}

/// The workflow's `SHA256SUMS` (`sha256sum *.tar.gz` in the folder of the archives) and the
/// lines `ci/release/record-checksums.sh` makes of it.
fn recorded_checksums(dist: &Path) -> String {
    let sums = run(Command::new("bash")
        .arg("-c")
        .arg("sha256sum ferry-*.tar.gz 2>/dev/null || shasum -a 256 ferry-*.tar.gz")
        .current_dir(dist));
    std::fs::write(dist.join("SHA256SUMS"), &sums.stdout).expect("SHA256SUMS");
    let checksums = dist.join("checksums.txt");
    std::fs::write(&checksums, "# header kept\n").expect("checksums");
    run(Command::new("bash")
        .arg(root().join("ci/release/record-checksums.sh"))
        .arg(VERSION)
        .arg(dist.join("SHA256SUMS"))
        .arg(&checksums));
    std::fs::read_to_string(&checksums).expect("checksums")
}

#[test]
fn the_release_archive_holds_the_binary_its_man_page_and_completions_reproducibly() {
    let dir = tempfile::tempdir().expect("tempdir");
    let archive = package(&dir.path().join("a"));
    let listing = run(Command::new("tar").arg("-tzf").arg(&archive));
    let mut members: Vec<String> = String::from_utf8_lossy(&listing.stdout)
        .lines()
        .map(str::to_owned)
        .collect();
    members.sort();
    assert_eq!(
        members,
        [
            "README.md",
            "completions/",
            "completions/_ferry",
            "completions/_ferry.ps1",
            "completions/ferry.bash",
            "completions/ferry.fish",
            "ferry",
            "ferry.1",
        ]
    );
    // The same inputs give the same bytes: the sums in SHA256SUMS can be reproduced.
    let again = package(&dir.path().join("b"));
    assert_eq!(sha256_of(&archive), sha256_of(&again));
    // And the binary in it is the one that was packed.
    let unpacked = dir.path().join("unpacked");
    std::fs::create_dir_all(&unpacked).expect("mkdir");
    run(Command::new("tar")
        .arg("-xzf")
        .arg(&archive)
        .arg("-C")
        .arg(&unpacked));
    assert_eq!(
        std::fs::read(unpacked.join("ferry")).expect("ferry"),
        std::fs::read(binary()).expect("test binary")
    );
    let man = std::fs::read_to_string(unpacked.join("ferry.1")).expect("man page");
    assert!(man.contains(".TH"), "not roff: {man:.200}");
}

#[test]
fn the_action_installs_the_release_from_its_own_repository_with_the_recorded_checksum() {
    let dir = tempfile::tempdir().expect("tempdir");
    let dist = dir.path().join("dist");
    let archive = package(&dist);
    let checksums = recorded_checksums(&dist);
    let sha = sha256_of(&archive);
    assert_eq!(
        checksums,
        format!("# header kept\n{VERSION} {} {sha}\n", runner().2)
    );
    let server = publish(dir.path(), &archive, "owner/ferry");
    let action = action_checkout(dir.path(), &checksums);

    // No download-url, no sha256: the action's own repository and its recorded checksum.
    let install = install_step(
        &action,
        &[("version", VERSION)],
        &[
            ("action_repository", "owner/ferry"),
            ("server_url", &server),
        ],
    );
    assert!(install.output.status.success(), "{}", install.log());
    assert!(
        install.log().contains(&format!(
            "Downloading {server}/owner/ferry/releases/download/{VERSION}/{}",
            archive_name()
        )),
        "{}",
        install.log()
    );
    assert_eq!(
        std::fs::read(install.installed()).expect("installed"),
        std::fs::read(binary()).expect("test binary")
    );
    assert_eq!(
        install.path,
        [install
            .installed()
            .parent()
            .expect("bin")
            .display()
            .to_string()]
    );

    // Recording the same release again changes nothing; other sums for it are refused.
    let again = dist.join("checksums.txt");
    let before = std::fs::read_to_string(&again).expect("checksums");
    run(Command::new("bash")
        .arg(root().join("ci/release/record-checksums.sh"))
        .arg(VERSION)
        .arg(dist.join("SHA256SUMS"))
        .arg(&again));
    assert_eq!(std::fs::read_to_string(&again).expect("checksums"), before);
    std::fs::write(
        dist.join("SHA256SUMS"),
        format!("{}  {}\n", "1".repeat(64), archive_name()),
    )
    .expect("SHA256SUMS");
    let out = Command::new("bash")
        .arg(root().join("ci/release/record-checksums.sh"))
        .arg(VERSION)
        .arg(dist.join("SHA256SUMS"))
        .arg(&again)
        .output()
        .expect("runs");
    assert!(!out.status.success());
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("already records"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(std::fs::read_to_string(&again).expect("checksums"), before);
}

#[test]
fn an_explicit_download_url_wins_and_a_wrong_checksum_installs_nothing() {
    let dir = tempfile::tempdir().expect("tempdir");
    let archive = package(&dir.path().join("dist"));
    let sha = sha256_of(&archive);
    // A mirror (GitHub Enterprise Server, an air-gapped runner): the archive is only there.
    let mirror = publish(&dir.path().join("mirror"), &archive, "ferry");
    let mirror = format!("{mirror}/ferry/releases/download");
    let action = action_checkout(dir.path(), "");
    let github = [
        ("action_repository", "owner/ferry"),
        ("server_url", "file:///nonexistent"),
    ];

    let install = install_step(
        &action,
        &[
            ("version", VERSION),
            ("download-url", &mirror),
            ("sha256", &sha.to_uppercase()),
        ],
        &github,
    );
    assert!(install.output.status.success(), "{}", install.log());
    assert!(install.installed().is_file());

    let wrong = "0".repeat(64);
    let install = install_step(
        &action,
        &[
            ("version", VERSION),
            ("download-url", &mirror),
            ("sha256", &wrong),
        ],
        &github,
    );
    assert!(!install.output.status.success());
    assert!(
        install.log().contains(&format!(
            "::error title=ferry action::SHA-256 of {} is {sha}, expected {wrong}",
            archive_name()
        )),
        "{}",
        install.log()
    );
    assert!(
        !install.installed().exists(),
        "a refused archive was installed"
    );
    assert!(install.path.is_empty(), "{:?}", install.path);

    // No sha256 input and nothing recorded for the version: refused before any download.
    let install = install_step(
        &action,
        &[("version", VERSION), ("download-url", &mirror)],
        &github,
    );
    assert!(!install.output.status.success());
    assert!(
        install.log().contains("no SHA-256 known for"),
        "{}",
        install.log()
    );
    assert!(!install.log().contains("Downloading"), "{}", install.log());
    assert!(!install.installed().exists());
}

#[test]
fn without_the_actions_repository_or_a_download_url_the_install_says_what_to_set() {
    let dir = tempfile::tempdir().expect("tempdir");
    let action = action_checkout(dir.path(), "");
    // `uses: ./` (or a composite action nested in another): github.action_repository is empty.
    let install = install_step(
        &action,
        &[("version", VERSION), ("sha256", &"a".repeat(64))],
        &[("server_url", "https://github.com")],
    );
    assert!(!install.output.status.success());
    let log = install.log();
    assert!(
        log.contains("::error title=ferry action::the action's own repository is unknown here")
            && log.contains("set the 'download-url' input"),
        "{log}"
    );
    assert!(!log.contains("Downloading"), "{log}");
    assert!(!install.installed().exists());
}

#[test]
fn no_file_names_a_placeholder_owner_for_ferry() {
    // Where ferry is downloaded from comes from the action's repository or an input; the docs
    // say OWNER/ferry where a reader puts the repository they use.
    let out = Command::new("git")
        .args(["grep", "-n", "-I", "-i", "acme/ferry", "--", "."])
        .current_dir(root())
        .env("GIT_CONFIG_GLOBAL", "/dev/null")
        .env("GIT_CONFIG_NOSYSTEM", "1")
        .output()
        .expect("git runs");
    // git grep: 0 found, 1 nothing found, more an error.
    assert!(
        out.status.code().is_some_and(|code| code <= 1),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let text = String::from_utf8_lossy(&out.stdout);
    let hits: Vec<&str> = text
        .lines()
        .filter(|line| !line.starts_with("tests/release.rs:"))
        .collect();
    assert!(
        hits.is_empty(),
        "placeholder owner in:\n{}",
        hits.join("\n")
    );
}

#[test]
fn the_release_workflow_pins_its_actions_limits_its_permissions_and_packs_with_the_tested_scripts()
{
    let text =
        std::fs::read_to_string(root().join(".github/workflows/release.yml")).expect("release.yml");
    let workflow: Value = serde_saphyr::from_str(&text).expect("release.yml parses");
    assert_eq!(
        workflow["permissions"],
        Value::Object(Default::default()),
        "top-level permissions: {{}}"
    );
    let mut runs = String::new();
    for (id, job) in workflow["jobs"].as_object().expect("jobs") {
        assert!(
            job["permissions"].is_object(),
            "job {id} states its permissions"
        );
        for step in job["steps"].as_array().expect("steps") {
            if let Some(script) = step["run"].as_str() {
                assert!(!script.contains("${{"), "{id}: an expression in `run:`");
                runs.push_str(script);
            }
        }
    }
    // Every action by full commit SHA, its release in the comment.
    let pinned = regex::Regex::new(
        r"^\s*(?:-\s+)?uses: [A-Za-z0-9_.-]+/[A-Za-z0-9_./-]+@[0-9a-f]{40} # v\d+\.\d+\.\d+$",
    )
    .expect("regex");
    let uses: Vec<&str> = text
        .lines()
        .filter(|line| {
            line.trim_start()
                .trim_start_matches("- ")
                .starts_with("uses:")
        })
        .collect();
    assert!(!uses.is_empty());
    for line in uses {
        assert!(pinned.is_match(line), "not pinned to a commit: {line}");
    }
    // The archives and the checksums are made by the scripts the tests above run.
    assert!(runs.contains("ci/release/package.sh \"$TAG\""), "{runs}");
    assert!(
        runs.contains("ci/release/record-checksums.sh \"$TAG\""),
        "{runs}"
    );
}

/// Every CI output ferry publishes (`.set("key", …)` in `src/present/` and `src/commands/`) is
/// declared in `action.yml`, so a workflow can read it as `steps.<id>.outputs.<key>`.
#[test]
fn the_action_declares_every_output_ferry_publishes() {
    fn sources(dir: &Path, into: &mut Vec<PathBuf>) {
        for entry in std::fs::read_dir(dir).expect("a source directory") {
            let path = entry.expect("entry").path();
            if path.is_dir() {
                sources(&path, into);
            } else if path.extension().is_some_and(|e| e == "rs") {
                into.push(path);
            }
        }
    }
    let mut files = Vec::new();
    sources(&root().join("src/present"), &mut files);
    sources(&root().join("src/commands"), &mut files);
    let mut published = std::collections::BTreeSet::new();
    for path in files {
        let text = std::fs::read_to_string(&path).expect("source");
        let mut rest = text.as_str();
        while let Some(at) = rest.find(".set(") {
            rest = &rest[at + ".set(".len()..];
            let arg = rest.trim_start();
            if let Some(quoted) = arg.strip_prefix('"')
                && let Some(end) = quoted.find('"')
                && quoted[..end]
                    .bytes()
                    .all(|b| b.is_ascii_lowercase() || b == b'-')
            {
                published.insert(quoted[..end].to_owned());
            }
        }
    }
    assert!(published.contains("commit-sha") && published.contains("target-url"));
    let action: Value = serde_saphyr::from_str(
        &std::fs::read_to_string(root().join("action.yml")).expect("action.yml"),
    )
    .expect("action.yml parses");
    let declared = action["outputs"].as_object().expect("outputs");
    let missing: Vec<&String> = published
        .iter()
        .filter(|k| !declared.contains_key(*k))
        .collect();
    assert!(
        missing.is_empty(),
        "action.yml does not declare {missing:?}"
    );
    for (key, output) in declared {
        assert_eq!(
            output["value"],
            format!("${{{{ steps.run.outputs.{key} }}}}"),
            "output {key}"
        );
    }
}
