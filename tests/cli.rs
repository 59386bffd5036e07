//! The command line as users meet it: help, exit codes, `--env`, output formats, the bundled
//! example.

use std::path::Path;

use serde_json::Value;

use crate::support::{copy_tree, read_tree, run, write_tree};

fn stdout(out: &std::process::Output) -> String {
    String::from_utf8_lossy(&out.stdout).into_owned()
}

fn stderr(out: &std::process::Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

fn example() -> (tempfile::TempDir, std::path::PathBuf) {
    let tmp = tempfile::tempdir().expect("tempdir");
    let repo = tmp.path().join("shop-env");
    copy_tree(
        &Path::new(env!("CARGO_MANIFEST_DIR")).join("examples/shop-env"),
        &repo,
    );
    (tmp, repo)
}

#[test]
fn help_names_the_commands_and_the_exit_codes() {
    let out = run(&["--help"]);
    assert!(out.status.success());
    let text = stdout(&out);
    for needle in [
        "set-image",
        "schema",
        "--output",
        "Exit codes:",
        "4  refused",
    ] {
        assert!(text.contains(needle), "--help lacks {needle:?}:\n{text}");
    }
    let text = stdout(&run(&["set-image", "--help"]));
    for needle in [
        "IMAGE=TAG",
        "--dry-run",
        "--env",
        "--digest",
        "Kustomization",
        "Exit codes:",
    ] {
        assert!(
            text.contains(needle) || text.contains(&needle.to_lowercase()),
            "set-image --help lacks {needle:?}:\n{text}"
        );
    }
}

#[test]
fn usage_errors_exit_2_and_say_what_is_valid() {
    let dir = tempfile::tempdir().expect("tempdir");
    let d = dir.path().to_str().expect("utf-8 path");
    let cases: &[(&[&str], &str)] = &[
        (
            &["set-image", "-C", d, "shop/cart=v1/2"],
            "a tag is 1–128 characters",
        ),
        (&["set-image", "-C", d, "shop/cart:v1=v2"], "shop/cart=v2"),
        (&["set-image", "-C", d, "shop/cart"], "IMAGE=TAG"),
        (
            &[
                "set-image",
                "-C",
                d,
                "--digest",
                "sha256:12",
                "shop/cart=v2",
            ],
            "sha256",
        ),
        (
            &[
                "set-image",
                "-C",
                d,
                "--digest",
                &format!("sha256:{}", "a".repeat(64)),
                "a/b=1",
                "c/d=2",
            ],
            "exactly one IMAGE=TAG",
        ),
        (
            &[
                "set-image",
                "-C",
                d,
                "shop/cart=v1",
                "docker.io/shop/cart=v2",
            ],
            "requested twice",
        ),
        (
            &["set-image", "-C", &format!("{d}/nope"), "shop/cart=v2"],
            "no such directory",
        ),
        (&["set-image"], "IMAGE=TAG"),
    ];
    for (args, needle) in cases {
        let out = run(args);
        assert_eq!(out.status.code(), Some(2), "{args:?}: {}", stderr(&out));
        assert!(
            stderr(&out).contains(needle),
            "{args:?}: stderr lacks {needle:?}: {}",
            stderr(&out)
        );
    }
}

#[test]
fn example_dry_run_shows_the_diff_and_writes_nothing() {
    let (_tmp, repo) = example();
    let before = read_tree(&repo);
    let out = run(&[
        "set-image",
        "--dry-run",
        "--dir",
        repo.to_str().expect("utf-8"),
        "--env",
        "staging",
        "ghcr.io/acme/cart=9d8c7b6",
    ]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let text = stdout(&out);
    assert!(
        text.contains("--- a/envs/staging/kustomization.yaml"),
        "{text}"
    );
    assert!(
        text.contains("-    newTag: 3f9c2e1\n+    newTag: 9d8c7b6"),
        "{text}"
    );
    assert!(text.contains("report-cronjob.yaml:14:22: \"ghcr.io/acme/cart:3f9c2e1\" → \"ghcr.io/acme/cart:9d8c7b6\" [reference]"), "{text}");
    assert!(
        text.contains("would make 2 change(s) in 2 file(s)"),
        "{text}"
    );
    assert_eq!(read_tree(&repo), before, "a dry run wrote files");
}

#[test]
fn example_set_then_rerun_is_up_to_date() {
    let (_tmp, repo) = example();
    let args = [
        "set-image",
        "--dir",
        repo.to_str().expect("utf-8"),
        "--env",
        "staging",
        "ghcr.io/acme/cart=9d8c7b6",
    ];
    let out = run(&args);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let kustomization =
        std::fs::read_to_string(repo.join("envs/staging/kustomization.yaml")).expect("read");
    assert!(kustomization.contains("  - name: ghcr.io/acme/cart\n    newTag: 9d8c7b6\n"));
    assert!(kustomization.contains("  - name: ghcr.io/acme/cart-worker   # a different image: never touched by a cart bump\n    newTag: 3f9c2e1\n"));
    let production =
        std::fs::read_to_string(repo.join("envs/production/kustomization.yaml")).expect("read");
    assert!(
        production.contains("newTag: 1a2b3c4"),
        "another environment changed"
    );
    let snapshot = read_tree(&repo);
    let again = run(&args);
    assert_eq!(again.status.code(), Some(0));
    assert!(
        stdout(&again).contains("Already up to date: 2 reference(s)"),
        "{}",
        stdout(&again)
    );
    assert_eq!(read_tree(&repo), snapshot, "a rerun changed files");
}

#[test]
fn unknown_environment_is_a_config_error_with_the_closest_name() {
    let (_tmp, repo) = example();
    let out = run(&[
        "set-image",
        "--dir",
        repo.to_str().expect("utf-8"),
        "--env",
        "stagign",
        "ghcr.io/acme/cart=9d8c7b6",
    ]);
    assert_eq!(out.status.code(), Some(2));
    let err = stderr(&out);
    assert!(err.contains("staging"), "{err}");
    assert!(
        err.contains("shop-env/ferry.yaml"),
        "the error names the file it read: {err}"
    );
}

#[test]
fn not_found_exits_3_with_did_you_mean() {
    let (_tmp, repo) = example();
    let out = run(&[
        "set-image",
        "--dir",
        repo.to_str().expect("utf-8"),
        "ghcr.io/acme/kart=9d8c7b6",
    ]);
    assert_eq!(out.status.code(), Some(3));
    let err = stderr(&out);
    assert!(err.contains("no reference to ghcr.io/acme/kart"), "{err}");
    assert!(err.contains("did you mean ghcr.io/acme/cart"), "{err}");
}

#[test]
fn refusal_exits_4_and_writes_nothing() {
    let dir = tempfile::tempdir().expect("tempdir");
    write_tree(
        dir.path(),
        &[
            ("ok.yaml", "image: shop/cart:v1\n"),
            (
                "values.yaml",
                "cart:\n  repository: shop/cart\n  tag: &t v1\napi:\n  repository: shop/api\n  tag: *t\n",
            ),
        ],
    );
    let before = read_tree(dir.path());
    let out = run(&[
        "set-image",
        "-C",
        dir.path().to_str().expect("utf-8"),
        "shop/cart=v2",
    ]);
    assert_eq!(out.status.code(), Some(4));
    let err = stderr(&out);
    assert!(err.contains("values.yaml:3:11: shared-anchor:"), "{err}");
    assert!(
        err.contains("shop/api's value (the use at line 6)"),
        "{err}"
    );
    assert_eq!(read_tree(dir.path()), before);
}

#[test]
fn a_block_scalar_is_reported_and_the_rest_is_edited() {
    let dir = tempfile::tempdir().expect("tempdir");
    write_tree(
        dir.path(),
        &[
            ("ok.yaml", "image: shop/cart:v1\n"),
            (
                "app.yaml",
                "spec:\n  source:\n    helm:\n      values: |\n        image: shop/cart:v1\n",
            ),
        ],
    );
    let out = run(&[
        "set-image",
        "-C",
        dir.path().to_str().expect("utf-8"),
        "shop/cart=v2",
    ]);
    assert_eq!(out.status.code(), Some(0));
    let err = stderr(&out);
    assert!(
        err.contains("app.yaml:5:16: docker.io/shop/cart is named inside a block scalar"),
        "{err}"
    );
    assert!(err.contains("helm.valuesObject"), "{err}");
    assert!(
        stdout(&out).contains("Left as they are: 1 mention(s)"),
        "{}",
        stdout(&out)
    );
    let tree = read_tree(dir.path());
    assert_eq!(tree["ok.yaml"], b"image: shop/cart:v2\n");
    assert!(String::from_utf8_lossy(&tree["app.yaml"]).contains("image: shop/cart:v1"));
}

#[test]
fn json_output_is_one_document_and_logs_stay_on_stderr() {
    let (_tmp, repo) = example();
    let out = run(&[
        "-v",
        "--output",
        "json",
        "set-image",
        "--dir",
        repo.to_str().expect("utf-8"),
        "--env",
        "staging",
        "ghcr.io/acme/cart=9d8c7b6",
    ]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let json: Value = serde_json::from_str(&stdout(&out)).expect("stdout is one JSON document");
    assert_eq!(json["status"], "changed");
    assert_eq!(json["changes"].as_array().map(Vec::len), Some(2));
    assert_eq!(json["changes"][0]["shape"], "kustomize-images");
    let err = stderr(&out);
    let log_lines: Vec<Value> = err
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{e}: {l}")))
        .collect();
    assert!(
        log_lines
            .iter()
            .any(|l| l["message"] == "using configuration"),
        "{err}"
    );
}

#[test]
fn quiet_hides_warnings() {
    let dir = tempfile::tempdir().expect("tempdir");
    write_tree(
        dir.path(),
        &[(
            "a.yaml",
            "image: shop/cart:v1\nargs: [\"--image=shop/cart:v1\"]\n",
        )],
    );
    let d = dir.path().to_str().expect("utf-8");
    let loud = run(&["set-image", "-C", d, "shop/cart=v2"]);
    assert!(
        stderr(&loud).contains("a.yaml:2:8: docker.io/shop/cart is named inside a longer string"),
        "{}",
        stderr(&loud)
    );
    let quiet = run(&["-q", "set-image", "-C", d, "shop/cart=v3"]);
    assert_eq!(quiet.status.code(), Some(0));
    assert_eq!(stderr(&quiet), "");
}

#[test]
fn schema_command_prints_the_committed_schema() {
    let out = run(&["schema"]);
    assert!(out.status.success());
    let committed =
        std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("ferry.schema.json"))
            .expect("ferry.schema.json");
    assert_eq!(
        stdout(&out),
        committed,
        "run `ferry schema > ferry.schema.json`"
    );
    let schema: Value = serde_json::from_str(&committed).expect("schema is JSON");
    assert!(schema["properties"]["environments"].is_object(), "{schema}");
}

/// The commit `ferry --version` must name: FERRY_BUILD_COMMIT when the build was given one, else
/// HEAD when this package is the top of a git checkout, else none (it says "unknown").
fn expected_commit() -> Option<String> {
    if let Ok(given) = std::env::var("FERRY_BUILD_COMMIT")
        && given.len() >= 7
        && given.bytes().all(|b| b.is_ascii_hexdigit())
    {
        return Some(given.to_ascii_lowercase());
    }
    let manifest = Path::new(env!("CARGO_MANIFEST_DIR"));
    let git = |args: &[&str]| {
        let out = std::process::Command::new("git")
            .arg("-C")
            .arg(manifest)
            .args(args)
            .output()
            .ok()?;
        out.status
            .success()
            .then(|| String::from_utf8_lossy(&out.stdout).trim().to_owned())
    };
    let top = git(&["rev-parse", "--show-toplevel"])?;
    (std::fs::canonicalize(top).ok()? == std::fs::canonicalize(manifest).ok()?)
        .then(|| git(&["rev-parse", "HEAD"]))
        .flatten()
}

#[test]
fn version_names_the_version_and_the_commit() {
    for flag in ["--version", "-V"] {
        let out = run(&[flag]);
        assert!(out.status.success(), "{flag}: {}", stderr(&out));
        let text = stdout(&out);
        let prefix = format!("ferry {} (commit ", env!("CARGO_PKG_VERSION"));
        let commit = text
            .strip_prefix(&prefix)
            .and_then(|rest| rest.strip_suffix(")\n"))
            .unwrap_or_else(|| panic!("{flag} is not `{prefix}…)`: {text:?}"));
        match expected_commit() {
            Some(full) => assert!(
                commit.len() >= 7 && full.starts_with(commit),
                "{flag} names commit {commit:?}, expected a prefix of {full}"
            ),
            None => assert!(commit.starts_with("unknown"), "{flag}: {text:?}"),
        }
    }
}

#[test]
fn completions_name_ferry_and_its_commands_in_every_shell() {
    for shell in ["bash", "zsh", "fish", "powershell", "elvish"] {
        let out = run(&["completions", shell]);
        assert!(out.status.success(), "{shell}: {}", stderr(&out));
        let script = stdout(&out);
        for needle in ["ferry", "set-image", "promote", "preview", "dry-run"] {
            assert!(
                script.contains(needle),
                "{shell} completion lacks {needle:?}:\n{script}"
            );
        }
    }
    let out = run(&["completions", "tcsh"]);
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    for shell in ["bash", "zsh", "fish", "powershell"] {
        assert!(stderr(&out).contains(shell), "{}", stderr(&out));
    }
}

#[test]
fn bash_completion_parses_and_completes_commands() {
    let dir = tempfile::tempdir().expect("tempdir");
    let script = dir.path().join("ferry.bash");
    let out = run(&["completions", "bash"]);
    assert!(out.status.success(), "{}", stderr(&out));
    std::fs::write(&script, &out.stdout).expect("write the completion");
    let syntax = std::process::Command::new("bash")
        .arg("-n")
        .arg(&script)
        .output()
        .expect("bash runs");
    assert!(syntax.status.success(), "bash -n: {}", stderr(&syntax));
    // What bash's programmable completion does on TAB: the function the script registered, with
    // the words typed so far.
    let complete = |words: &[&str]| {
        let line = words.join(" ");
        let program = format!(
            "source {script:?}; COMP_WORDS=({words}); COMP_CWORD={cword}; COMP_LINE={line:?}; \
             COMP_POINT={point}; fn=$(complete -p ferry | sed -n 's/.*-F \\([^ ]*\\) .*/\\1/p'); \
             \"$fn\" ferry {last:?} {prev:?}; printf '%s\\n' \"${{COMPREPLY[@]}}\"",
            words = words
                .iter()
                .map(|w| format!("{w:?}"))
                .collect::<Vec<_>>()
                .join(" "),
            cword = words.len() - 1,
            point = line.len(),
            last = words[words.len() - 1],
            prev = words[words.len() - 2],
        );
        let out = std::process::Command::new("bash")
            .args(["-c", &program])
            .output()
            .expect("bash runs");
        assert!(out.status.success(), "{program}: {}", stderr(&out));
        stdout(&out)
    };
    let offered = complete(&["ferry", "pro"]);
    assert_eq!(offered.trim(), "promote", "ferry pro<TAB>: {offered:?}");
    let offered = complete(&["ferry", "preview", ""]);
    for sub in ["up", "down", "list", "gc"] {
        assert!(
            offered.lines().any(|l| l == sub),
            "ferry preview <TAB> lacks {sub}: {offered:?}"
        );
    }
}

/// The names a man page gives, with roff's escaped hyphens as plain ones.
fn roff_text(roff: &str) -> String {
    roff.replace("\\-", "-")
}

#[test]
fn man_page_describes_every_command() {
    let out = run(&["man"]);
    assert!(out.status.success(), "{}", stderr(&out));
    let page = stdout(&out);
    assert!(page.starts_with(".ie") || page.starts_with(".TH"), "{page}");
    assert!(page.contains(".TH ferry 1"), "{page}");
    let text = roff_text(&page);
    for command in [
        "set-image",
        "bump",
        "merge",
        "preview",
        "promote",
        "rollback",
        "status",
        "history",
        "wait",
        "check",
        "schema",
        "completions",
    ] {
        assert!(
            text.contains(&format!("ferry-{command}(1)")),
            "the man page lacks {command}:\n{text}"
        );
    }
    assert!(text.contains("Exit codes:"), "{text}");

    // One page per command, as the release archive ships them.
    let dir = tempfile::tempdir().expect("tempdir");
    let pages = dir.path().join("man1");
    let out = run(&["man", "--out-dir", pages.to_str().expect("utf-8 path")]);
    assert!(out.status.success(), "{}", stderr(&out));
    for (file, needle) in [
        ("ferry.1", "ferry-bump(1)"),
        ("ferry-bump.1", "--attempts"),
        ("ferry-preview-up.1", "ferry-preview-up"),
        ("ferry-completions.1", "powershell"),
    ] {
        let page =
            std::fs::read_to_string(pages.join(file)).unwrap_or_else(|e| panic!("{file}: {e}"));
        assert!(page.contains(".TH "), "{file}: {page}");
        assert!(
            roff_text(&page).contains(needle),
            "{file} lacks {needle}:\n{page}"
        );
    }
    assert!(!pages.join("ferry-man.1").exists(), "`ferry man` is hidden");
}
