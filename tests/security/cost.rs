//! See [the module list](super).
//!
//! Cost and rejected files (issue 16, findings 5 and 8), against the real binary:
//! - a file over the per-file size limit is refused (exit 4, its size and the limit named) in
//!   `set-image` and in `bump` (files read from git);
//! - a mapping with a duplicate key, which kustomize, kubectl and Argo CD refuse, is refused
//!   with both lines instead of being edited;
//! - a runaway template (an enormous `range()`, output without end, nested loops that never
//!   end, a `set_global` that doubles a string) is stopped by the render budget in
//!   `ferry check` and in `bump`'s commit message.
//!
//! The limits are kept small here (`--max-file-size 1KiB`) so the tests stay fast; how much
//! memory and time ferry spends per byte is measured by the benchmarks, not here.

use std::path::Path;
use std::process::Output;

use crate::support::lab::{Kind, Lab, code, text};
use crate::support::{ferry, read_tree, write_tree};

const CART: &str = "ghcr.io/acme/cart";

fn deployment(image: &str, padding: usize) -> String {
    let mut text = format!(
        "apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: cart\nspec:\n  template:\n    spec:\n      containers:\n        - name: cart\n          image: {image}\n"
    );
    // Realistic bulk: environment variables.
    let mut i = 0;
    while text.len() < padding {
        if i == 0 {
            text.push_str("          env:\n");
        }
        text.push_str(&format!(
            "            - name: SETTING_{i}\n              value: \"some value\"\n"
        ));
        i += 1;
    }
    text
}

fn set_image(dir: &Path, extra: &[&str], update: &str) -> Output {
    ferry()
        .arg("set-image")
        .arg("--dir")
        .arg(dir)
        .args(extra)
        .arg(update)
        .env_remove("FERRY_MAX_FILE_SIZE")
        .output()
        .expect("ferry runs")
}

fn both(out: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

// ---------------------------------------------------------------------------------------------
// Per-file size limit

#[test]
fn set_image_refuses_a_file_over_the_size_limit_and_names_its_size() {
    let dir = tempfile::tempdir().unwrap();
    let big = deployment(&format!("{CART}:v1"), 3000);
    let size = big.len();
    write_tree(dir.path(), &[("apps/cart.yaml", &big)]);
    let before = read_tree(dir.path());

    let out = set_image(
        dir.path(),
        &["--max-file-size", "1KiB"],
        "ghcr.io/acme/cart=v2",
    );
    assert_eq!(code(&out), 4, "{}", text(&out));
    let all = both(&out);
    assert!(all.contains("apps/cart.yaml"), "{all}");
    assert!(all.contains(&format!("{size} bytes")), "{all}");
    assert!(all.contains("1024 bytes"), "{all}");
    assert!(all.contains("--max-file-size"), "{all}");
    assert!(all.contains("FERRY_MAX_FILE_SIZE"), "{all}");
    assert_eq!(read_tree(dir.path()), before, "nothing written");

    // The same limit through the environment variable; a raised limit lets the edit through.
    let out = ferry()
        .arg("set-image")
        .arg("--dir")
        .arg(dir.path())
        .arg("ghcr.io/acme/cart=v2")
        .env("FERRY_MAX_FILE_SIZE", "2000")
        .output()
        .unwrap();
    assert_eq!(code(&out), 4, "{}", text(&out));
    assert!(both(&out).contains("2000 bytes"), "{}", text(&out));
    let out = set_image(
        dir.path(),
        &["--max-file-size", "1MiB"],
        "ghcr.io/acme/cart=v2",
    );
    assert_eq!(code(&out), 0, "{}", text(&out));
    let after = std::fs::read_to_string(dir.path().join("apps/cart.yaml")).unwrap();
    assert_eq!(after, big.replace(":v1", ":v2"));
}

#[test]
fn an_oversized_file_that_cannot_reference_the_image_is_skipped_not_refused() {
    let dir = tempfile::tempdir().unwrap();
    let unrelated = deployment("ghcr.io/acme/payments:v1", 3000).replace("cart", "payments");
    let small = deployment(&format!("{CART}:v1"), 0);
    write_tree(
        dir.path(),
        &[
            ("apps/payments.yaml", &unrelated),
            ("apps/cart.yaml", &small),
        ],
    );
    let out = set_image(
        dir.path(),
        &["--max-file-size", "1KiB"],
        "ghcr.io/acme/cart=v2",
    );
    assert_eq!(code(&out), 0, "{}", text(&out));
    let after = std::fs::read_to_string(dir.path().join("apps/cart.yaml")).unwrap();
    assert!(after.contains("ghcr.io/acme/cart:v2"), "{after}");
}

/// A sparse file of 64 GiB whose first line references the image: its size is in its
/// metadata, its bytes are almost all holes.
fn sparse_file(path: &Path) -> u64 {
    let size = 64u64 << 30;
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    let file = std::fs::File::create(path).unwrap();
    std::io::Write::write_all(&mut &file, b"image: ghcr.io/acme/cart:v1\n").unwrap();
    file.set_len(size).unwrap();
    size
}

#[test]
fn a_file_over_the_limit_is_refused_by_its_size_without_being_loaded() {
    // Loading the file first (as before) needs 64 GiB of memory; its size from the metadata
    // and a look at its first megabyte are enough to refuse it.
    let dir = tempfile::tempdir().unwrap();
    let size = sparse_file(&dir.path().join("apps/huge.yaml"));
    write_tree(
        dir.path(),
        &[("apps/cart.yaml", &deployment(&format!("{CART}:v1"), 0))],
    );
    let out = set_image(
        dir.path(),
        &["--max-file-size", "1KiB"],
        "ghcr.io/acme/cart=v2",
    );
    assert_eq!(code(&out), 4, "{}", text(&out));
    let all = both(&out);
    assert!(all.contains("apps/huge.yaml"), "{all}");
    assert!(all.contains(&format!("{size} bytes")), "{all}");
    assert!(all.contains("1024 bytes"), "{all}");

    // `ferry check` does not read it either: a warning with its size.
    let repo = repository_with_commit_template("deploy {{ environment }}");
    sparse_file(&repo.path().join("envs/staging/huge.yaml"));
    let out = check_command(repo.path())
        .env("FERRY_MAX_FILE_SIZE", "1KiB")
        .output()
        .unwrap();
    assert_eq!(code(&out), 0, "{}", text(&out));
    let all = both(&out);
    assert!(all.contains("envs/staging/huge.yaml"), "{all}");
    assert!(all.contains(&format!("is {size} bytes")), "{all}");
}

#[test]
fn a_malformed_size_limit_is_a_usage_error() {
    let dir = tempfile::tempdir().unwrap();
    write_tree(
        dir.path(),
        &[("a.yaml", &deployment(&format!("{CART}:v1"), 0))],
    );
    let out = set_image(
        dir.path(),
        &["--max-file-size", "lots"],
        "ghcr.io/acme/cart=v2",
    );
    assert_eq!(code(&out), 2, "{}", text(&out));
    assert!(both(&out).contains("--max-file-size"), "{}", text(&out));
}

#[test]
fn bump_refuses_a_file_over_the_size_limit_read_from_git() {
    let big = deployment(&format!("{CART}:v1"), 3000);
    let size = big.len();
    let lab = Lab::new(Kind::GitHub, &[("envs/staging/cart.yaml", big.as_bytes())]);
    let tip = crate::support::remote::branch_tip(&lab.repo, "main");
    let out = lab
        .command()
        .args(["bump", "--path", "envs/staging", "ghcr.io/acme/cart=v2"])
        .env("FERRY_MAX_FILE_SIZE", "1KiB")
        .output()
        .unwrap();
    assert_eq!(code(&out), 4, "{}", text(&out));
    let all = both(&out);
    assert!(all.contains("envs/staging/cart.yaml"), "{all}");
    assert!(all.contains(&format!("{size} bytes")), "{all}");
    assert!(all.contains("--max-file-size"), "{all}");
    assert_eq!(
        crate::support::remote::branch_tip(&lab.repo, "main"),
        tip,
        "nothing pushed"
    );
}

// ---------------------------------------------------------------------------------------------
// Duplicate keys

const DUPLICATE_IMAGE: &str = "apiVersion: apps/v1
kind: Deployment
metadata:
  name: cart
spec:
  template:
    spec:
      containers:
        - name: cart
          image: ghcr.io/acme/cart:v1
          imagePullPolicy: IfNotPresent
          image: ghcr.io/acme/cart:v0
";

#[test]
fn set_image_refuses_a_duplicate_key_naming_both_lines() {
    let dir = tempfile::tempdir().unwrap();
    write_tree(dir.path(), &[("apps/cart.yaml", DUPLICATE_IMAGE)]);
    let before = read_tree(dir.path());
    let out = set_image(dir.path(), &[], "ghcr.io/acme/cart=v2");
    assert_eq!(code(&out), 4, "{}", text(&out));
    let all = both(&out);
    assert!(all.contains("apps/cart.yaml:12"), "{all}");
    assert!(all.contains("line 10"), "{all}");
    assert!(all.contains("`image`"), "{all}");
    assert_eq!(read_tree(dir.path()), before, "nothing written");
}

#[test]
fn a_duplicate_key_elsewhere_in_an_edited_file_is_refused_too() {
    let dir = tempfile::tempdir().unwrap();
    let text_ = "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: a\n  labels:\n    app: cart\n    app: shop\n---\napiVersion: v1\nkind: Pod\nmetadata:\n  name: b\nspec:\n  containers:\n    - name: c\n      image: ghcr.io/acme/cart:v1\n";
    write_tree(dir.path(), &[("apps/cart.yaml", text_)]);
    let out = set_image(dir.path(), &[], "ghcr.io/acme/cart=v2");
    assert_eq!(code(&out), 4, "{}", text(&out));
    let all = both(&out);
    assert!(all.contains("apps/cart.yaml:7"), "{all}");
    assert!(all.contains("line 6"), "{all}");
}

#[test]
fn a_duplicate_key_in_a_file_without_the_image_does_not_block_the_edit() {
    let dir = tempfile::tempdir().unwrap();
    let other = "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: a\n  name: b\n";
    write_tree(
        dir.path(),
        &[
            ("apps/other.yaml", other),
            ("apps/cart.yaml", &deployment(&format!("{CART}:v1"), 0)),
        ],
    );
    let out = set_image(dir.path(), &[], "ghcr.io/acme/cart=v2");
    assert_eq!(code(&out), 0, "{}", text(&out));
    let after = std::fs::read_to_string(dir.path().join("apps/other.yaml")).unwrap();
    assert_eq!(after, other);
}

#[test]
fn keys_that_differ_in_type_or_merge_keys_are_not_duplicates() {
    let dir = tempfile::tempdir().unwrap();
    let text_ = "base: &b {a: 1}\nmore: &m {c: 2}\nports:\n  1: one\n  \"1\": also-one\nx:\n  <<: *b\n  <<: *m\n  image: ghcr.io/acme/cart:v1\n";
    write_tree(dir.path(), &[("apps/cart.yaml", text_)]);
    let out = set_image(dir.path(), &[], "ghcr.io/acme/cart=v2");
    assert_eq!(code(&out), 0, "{}", text(&out));
}

#[test]
fn bump_refuses_a_duplicate_key_naming_both_lines() {
    let lab = Lab::new(
        Kind::GitLab,
        &[("envs/staging/cart.yaml", DUPLICATE_IMAGE.as_bytes())],
    );
    let tip = crate::support::remote::branch_tip(&lab.repo, "main");
    let out = lab
        .command()
        .args(["bump", "--path", "envs/staging", "ghcr.io/acme/cart=v2"])
        .output()
        .unwrap();
    assert_eq!(code(&out), 4, "{}", text(&out));
    let all = both(&out);
    assert!(all.contains("envs/staging/cart.yaml:12"), "{all}");
    assert!(all.contains("line 10"), "{all}");
    assert_eq!(crate::support::remote::branch_tip(&lab.repo, "main"), tip);
}

#[test]
fn check_reports_a_duplicate_key_with_both_lines_and_exits_4() {
    let dir = repository_with_commit_template("deploy {{ environment }}");
    let other = "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: a\n  name: b\n";
    write_tree(
        dir.path(),
        &[
            ("envs/staging/deployment.yaml", DUPLICATE_IMAGE),
            ("envs/staging/config.yaml", other),
        ],
    );
    let out = check(dir.path());
    assert_eq!(code(&out), 4, "{}", text(&out));
    let all = both(&out);
    // Both files: the one with an image and the one without (the agents refuse either).
    assert!(all.contains("envs/staging/deployment.yaml:12"), "{all}");
    assert!(all.contains("line 10"), "{all}");
    assert!(all.contains("envs/staging/config.yaml:5"), "{all}");
    assert!(all.contains("line 4"), "{all}");

    // Without the duplicates the same repository passes.
    write_tree(
        dir.path(),
        &[
            ("envs/staging/deployment.yaml", &deployment(CART, 0)),
            (
                "envs/staging/config.yaml",
                "apiVersion: v1\nkind: ConfigMap\n",
            ),
        ],
    );
    let out = check(dir.path());
    assert_eq!(code(&out), 0, "{}", text(&out));
}

#[test]
fn a_file_of_repeated_keys_gets_a_bounded_report() {
    // `{a,a,a,…}` repeats a key every two bytes: each repeat used to be a refusal of its own
    // (a message each, about 200 bytes of memory and output for 2 bytes of input).
    let dir = tempfile::tempdir().unwrap();
    let keys = vec!["a"; 5000].join(",");
    let text_ = format!("image: ghcr.io/acme/cart:v1\nx: {{{keys}}}\n");
    write_tree(dir.path(), &[("apps/cart.yaml", &text_)]);
    let out = set_image(dir.path(), &[], "ghcr.io/acme/cart=v2");
    assert_eq!(code(&out), 4, "{}", text(&out));
    let all = both(&out);
    let reported = all.matches("is defined twice").count();
    assert!((1..=100).contains(&reported), "{reported} refusals");
    assert!(
        all.contains("4899 more keys of this file are defined twice"),
        "{all}"
    );
}

// ---------------------------------------------------------------------------------------------
// Template budget

/// A repository for `ferry check` whose commit-message template is `template`.
fn repository_with_commit_template(template: &str) -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    write_tree(
        dir.path(),
        &[
            (
                "ferry.yaml",
                "version: 1\nenvironments:\n  staging:\n    path: envs/staging\ncommit:\n  message: .ferry/commit.tera\n",
            ),
            (".ferry/commit.tera", template),
            (
                "envs/staging/kustomization.yaml",
                "apiVersion: kustomize.config.k8s.io/v1beta1\nkind: Kustomization\nresources:\n  - deployment.yaml\nimages:\n  - name: ghcr.io/acme/cart\n    newTag: 1a2b3c4\n",
            ),
            (
                "envs/staging/deployment.yaml",
                &deployment("ghcr.io/acme/cart", 0),
            ),
        ],
    );
    dir
}

/// `ferry check --dir dir`, outside any CI.
fn check_command(dir: &Path) -> std::process::Command {
    let mut cmd = ferry();
    for (key, _) in std::env::vars() {
        if key.starts_with("GITHUB_") || key.starts_with("GITLAB_") || key.starts_with("CI") {
            cmd.env_remove(key);
        }
    }
    cmd.env_remove("FERRY_MAX_FILE_SIZE");
    cmd.arg("check").arg("--dir").arg(dir);
    cmd
}

fn check(dir: &Path) -> Output {
    check_command(dir).output().unwrap()
}

/// `ferry check` stops `template` with exit 2, naming the template file and `what`.
fn check_stops(template: &str, what: &str) {
    let dir = repository_with_commit_template(template);
    let out = check(dir.path());
    assert_eq!(code(&out), 2, "{template}\n{}", text(&out));
    let all = both(&out);
    assert!(all.contains(".ferry/commit.tera"), "{all}");
    assert!(all.contains(what), "{template}\n{all}");
}

#[test]
fn an_enormous_range_is_refused() {
    // The 120-byte template that used 9 GB: range() builds the whole array first.
    check_stops(
        "{% for i in range(end=4000000000) %}{{ i }}{% endfor %}{{ environment }}",
        "range",
    );
}

#[test]
fn output_past_the_budget_stops_the_render() {
    check_stops(
        "{% for i in range(end=10000) %}{% for j in range(end=10000) %}xxxxxxxxxxxxxxxx{% endfor %}{% endfor %}",
        "output budget",
    );
}

#[test]
fn a_nested_loop_that_never_ends_stops_at_the_time_budget() {
    check_stops(
        "{% for i in range(end=10000) %}{% for j in range(end=10000) %}{% for k in range(end=10000) %}{% if k == 1 %}{% endif %}{% endfor %}{% endfor %}{% endfor %}{{ environment }}",
        "time budget",
    );
}

#[test]
fn a_set_global_inside_a_loop_is_refused_before_rendering() {
    // Doubles a string 64 times without printing it: memory, not output, would run out.
    check_stops(
        "{% set_global s = \"xx\" %}{% for i in range(end=64) %}{% set_global s = s ~ s %}{% endfor %}{{ environment }}",
        "set_global",
    );
}

#[test]
fn a_runaway_commit_template_stops_bump_before_anything_is_pushed() {
    let template = "{% for i in range(end=10000) %}{% for j in range(end=10000) %}{% for k in range(end=10000) %}{% endfor %}{% endfor %}{% endfor %}deploy";
    let config = "version: 1\nenvironments:\n  staging:\n    path: envs/staging\ncommit:\n  message: .ferry/commit.tera\n";
    let deploy = deployment(&format!("{CART}:v1"), 0);
    let lab = Lab::new(
        Kind::GitHub,
        &[
            ("ferry.yaml", config.as_bytes()),
            (".ferry/commit.tera", template.as_bytes()),
            ("envs/staging/cart.yaml", deploy.as_bytes()),
        ],
    );
    let tip = crate::support::remote::branch_tip(&lab.repo, "main");
    let out = lab
        .command()
        .args(["bump", "--env", "staging", "ghcr.io/acme/cart=v2"])
        .output()
        .unwrap();
    assert_eq!(code(&out), 2, "{}", text(&out));
    let all = both(&out);
    assert!(all.contains(".ferry/commit.tera"), "{all}");
    assert!(all.contains("time budget"), "{all}");
    assert_eq!(crate::support::remote::branch_tip(&lab.repo, "main"), tip);
}
