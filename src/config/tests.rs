use std::path::{Path, PathBuf};

use super::index::{Index, KeyPath, NodeKind, Pos};
use super::*;

const FULL: &str = r#"# yaml-language-server: $schema=./ferry.schema.json
version: 1
defaults:
  branch: main
  update: push
environments:
  staging:
    path: ./envs/staging/
    branch: main
    update: push
    hold: false
    tags: '^[0-9a-f]{7,40}$'
    labels: [env:staging]
    reviewers: [alice]
  production:
    path: envs/production
    update: pull-request
  dev:
    path: envs/dev
previews:
  branch: dynamic-envs
  directory: apps
  template: argocd
  ttl: 72h
  max: 20
  on-max: evict-oldest
  namespace-limit: 40
  release-limit: 30
  url: 'https://{slug}.preview.example.com'
  agent-namespace: argo
  comment: false
  deploy:
    repo: https://github.com/acme/manifests.git
    revision: v1
    path: previews/base
    images: helm
promotion:
  order: [dev, staging, production]
  gates:
    require-status: [continuous-delivery/cart-staging, 'kustomization/cart-staging/*']
    min-age: 1h
    windows: ["Mon-Fri 09:00-17:00 Europe/Berlin"]
commit:
  author:
    name: ferry[bot]
    email: ferry@users.noreply.github.com
  message: .ferry/commit.tera
"#;

fn parse(text: &str) -> Result<Config, ConfigError> {
    Config::parse(text, Path::new(FILE_NAME))
}

fn parse_ok(text: &str) -> Config {
    match parse(text) {
        Ok(config) => config,
        Err(err) => panic!("expected a valid config, got:\n{err}"),
    }
}

fn parse_err(text: &str) -> ConfigError {
    match parse(text) {
        Ok(config) => panic!("expected an error, got {config:?}"),
        Err(err) => err,
    }
}

/// Assert the position, that the message contains `message` and the hint contains `hint`.
#[track_caller]
fn assert_error(text: &str, line: usize, column: usize, message: &str, hint: &str) -> ConfigError {
    let err = parse_err(text);
    assert_eq!(
        (err.line, err.column),
        (Some(line), Some(column)),
        "position of:\n{err}"
    );
    assert!(err.message.contains(message), "message of:\n{err}");
    let got = err.hint.as_deref().unwrap_or_default();
    assert!(got.contains(hint), "hint of:\n{err}");
    assert_eq!(err.file, PathBuf::from(FILE_NAME));
    err
}

// ---------------------------------------------------------------- valid files

#[test]
fn full_config() {
    let config = parse_ok(FULL);
    assert_eq!(config.version, 1);
    assert_eq!(
        config.defaults,
        Defaults {
            branch: "main".into(),
            update: Update::Push
        }
    );
    let names: Vec<&str> = config.environment_names().collect();
    assert_eq!(names, ["staging", "production", "dev"], "order is kept");

    let staging = &config.environments["staging"];
    assert_eq!(staging.path.as_str(), "envs/staging", "path is normalized");
    assert_eq!(staging.branch.as_deref(), Some("main"));
    assert_eq!(staging.update, Some(Update::Push));
    assert!(!staging.hold);
    assert_eq!(staging.tags.as_deref(), Some("^[0-9a-f]{7,40}$"));
    assert_eq!(staging.labels, ["env:staging"]);
    assert_eq!(staging.reviewers, ["alice"]);
    assert_eq!(
        config.environments["production"].update,
        Some(Update::PullRequest)
    );

    let previews = &config.previews;
    assert_eq!(previews.branch, "dynamic-envs");
    assert_eq!(previews.directory.as_str(), "apps");
    assert_eq!(previews.template, Template::Argocd);
    assert_eq!(previews.ttl.as_secs(), 72 * 3600);
    assert_eq!(previews.max, Some(20));
    assert_eq!(previews.on_max, OnMax::EvictOldest);
    assert_eq!(previews.namespace_limit, 40);
    assert_eq!(previews.release_limit, 30);
    assert_eq!(previews.agent_namespace.as_deref(), Some("argo"));
    assert!(!previews.comment);
    assert_eq!(
        previews.deploy.repo.as_deref(),
        Some("https://github.com/acme/manifests.git")
    );
    assert_eq!(previews.deploy.revision.as_deref(), Some("v1"));
    assert_eq!(
        previews.deploy.path.as_ref().map(RelPath::as_str),
        Some("previews/base")
    );
    assert_eq!(previews.deploy.images, ImagesMode::Helm);
    assert_eq!(
        previews.url.as_deref(),
        Some("https://{slug}.preview.example.com")
    );

    let promotion = config.promotion.as_ref().expect("promotion");
    assert_eq!(promotion.order, ["dev", "staging", "production"]);
    assert_eq!(
        promotion.gates.require_status,
        [
            "continuous-delivery/cart-staging",
            "kustomization/cart-staging/*"
        ]
    );
    assert_eq!(promotion.gates.min_age.map(|d| d.as_secs()), Some(3600));
    assert_eq!(
        promotion.gates.windows,
        ["Mon-Fri 09:00-17:00 Europe/Berlin"]
    );

    assert_eq!(config.commit.author.name, "ferry[bot]");
    assert_eq!(config.commit.author.email, "ferry@users.noreply.github.com");
    assert_eq!(
        config.commit.message.as_ref().map(RelPath::as_str),
        Some(".ferry/commit.tera")
    );
}

#[test]
fn defaults_applied() {
    let config = parse_ok(
        "version: 1\nenvironments:\n  staging:\n    path: envs/staging\n  production:\n    path: envs/production\n    branch: prod\n    update: pull-request\n",
    );
    assert_eq!(config.defaults, Defaults::default());
    assert_eq!(config.previews, Previews::default());
    assert_eq!(config.commit, Commit::default());
    assert_eq!(config.promotion, None);
    assert_eq!(config.previews.branch, "dynamic-envs");
    assert_eq!(config.previews.directory.as_str(), "apps");
    assert_eq!(config.previews.template, Template::Argocd);
    assert_eq!(config.previews.ttl.as_secs(), 168 * 3600);
    assert_eq!(config.previews.on_max, OnMax::Fail);
    assert_eq!(config.previews.namespace_limit, 63);
    assert_eq!(config.previews.release_limit, 53);
    assert_eq!(config.commit.author.name, "ferry[bot]");
    assert_eq!(config.commit.author.email, "ferry@users.noreply.github.com");

    let staging = config.environment("staging").expect("staging");
    assert_eq!(
        staging,
        ResolvedEnvironment {
            name: "staging".into(),
            path: "envs/staging".into(),
            branch: "main".into(),
            update: Update::Push,
            hold: false,
            hold_images: vec![],
            hold_reason: None,
            tags: None,
            allow_mutable_tags: false,
            strict: false,
            labels: vec![],
            reviewers: vec![],
            assignees: vec![],
        }
    );
    let production = config.environment("production").expect("production");
    assert_eq!(production.branch, "prod");
    assert_eq!(production.update, Update::PullRequest);
}

#[test]
fn defaults_section_applies_to_environments() {
    let config = parse_ok(
        "version: 1\ndefaults:\n  branch: gitops\n  update: pull-request\nenvironments:\n  staging: {path: s, hold: true}\n  production: {path: p, update: push}\n",
    );
    let staging = config.environment("staging").expect("staging");
    assert_eq!(staging.branch, "gitops");
    assert_eq!(staging.update, Update::PullRequest);
    assert!(staging.hold);
    let production = config.environment("production").expect("production");
    assert_eq!(production.branch, "gitops");
    assert_eq!(production.update, Update::Push);
}

#[test]
fn partial_sections_keep_other_defaults() {
    let config = parse_ok(
        "version: 1\ndefaults: {update: pull-request}\npreviews: {ttl: 2d}\ncommit: {author: {name: bot}}\n",
    );
    assert_eq!(config.defaults.branch, "main");
    assert_eq!(config.previews.ttl.as_secs(), 48 * 3600);
    assert_eq!(config.previews.branch, "dynamic-envs");
    assert_eq!(config.commit.author.name, "bot");
    assert_eq!(config.commit.author.email, "ferry@users.noreply.github.com");
}

#[test]
fn minimal_config_is_version_only() {
    let config = parse_ok("version: 1\n");
    assert_eq!(config, Config::default());
    assert!(config.environments.is_empty());
}

#[test]
fn templates() {
    let template = |text: &str| {
        parse_ok(&format!("version: 1\npreviews:\n  template: {text}\n"))
            .previews
            .template
    };
    assert_eq!(template("argocd"), Template::Argocd);
    assert_eq!(template("flux"), Template::Flux);
    assert_eq!(
        template("./.ferry/preview.yaml"),
        Template::File(".ferry/preview.yaml".into())
    );
    assert_eq!(
        template("templates/preview"),
        Template::File("templates/preview".into())
    );
    assert_eq!(Template::File("a/b.yaml".into()).to_string(), "a/b.yaml");
}

#[test]
fn anchors_and_merge_keys() {
    let config = parse_ok(
        "version: 1\nenvironments:\n  staging: &base\n    path: envs/staging\n    labels: [team:web]\n  production:\n    <<: *base\n    path: envs/production\n",
    );
    let production = &config.environments["production"];
    assert_eq!(production.path.as_str(), "envs/production");
    assert_eq!(production.labels, ["team:web"]);
}

#[test]
fn byte_order_mark_and_crlf() {
    let config = parse_ok("\u{feff}version: 1\r\nenvironments:\r\n  a: {path: x}\r\n");
    assert_eq!(config.environments["a"].path.as_str(), "x");
    assert_error(
        "\u{feff}version: 1\r\nenvironments:\r\n  a: {pth: x}\r\n",
        3,
        7,
        "unknown field `pth`",
        "did you mean `path`?",
    );
}

#[test]
fn environment_names() {
    for name in ["a", "0", "staging", "eu-west.prod_2", "9x"] {
        assert!(is_valid_environment_name(name), "{name}");
    }
    for name in ["", "Staging", "-a", ".a", "_a", "a b", "a/b", "é"] {
        assert!(!is_valid_environment_name(name), "{name}");
    }
}

// ---------------------------------------------------------------- environment()

#[test]
fn unknown_environment_suggests_closest() {
    let config = parse_ok(FULL);
    let err = config.environment("stagin").expect_err("unknown");
    assert_eq!(err.message, "unknown environment `stagin`");
    assert_eq!(
        err.hint.as_deref(),
        Some("did you mean `staging`? Known environments: staging, production, dev")
    );
    assert_eq!((err.line, err.column), (None, None));
    assert_eq!(
        err.to_string(),
        "ferry.yaml: unknown environment `stagin`\n  hint: did you mean `staging`? Known environments: staging, production, dev"
    );

    let err = config.environment("qa").expect_err("unknown");
    assert_eq!(
        err.hint.as_deref(),
        Some("known environments: staging, production, dev")
    );

    let err = Config::default().environment("qa").expect_err("none");
    assert!(
        err.hint
            .as_deref()
            .is_some_and(|h| h.contains("no environments are defined")),
        "{err}"
    );
}

// ---------------------------------------------------------------- errors

#[test]
fn display_matches_documented_form() {
    let err = parse_err(
        "version: 1\ndefaults:\n  branch: main\nenvironments:\n  staging:\n    branch: main\n    pth: envs/staging\n",
    );
    assert_eq!(
        err.to_string(),
        "ferry.yaml:7:5: unknown field `pth` in environment \"staging\"\n  hint: did you mean `path`? Valid fields: path, branch, update, hold, hold-images, hold-reason, tags, allow-mutable-tags, strict, labels, reviewers, assignees"
    );
}

#[test]
fn syntax_errors() {
    assert_error(
        "version: 1\nenvironments:\n  staging:\n    path: [x\n",
        4,
        11,
        "invalid YAML: unclosed bracket '['",
        "indentation and quoting",
    );
    assert_error(
        "version: 1\nenvironments:\n  staging:\n    path: x\n\tbad: 1\n",
        4,
        11,
        "invalid YAML: while scanning a plain scalar, found a tab",
        "indentation",
    );
    assert_error(
        "version: 1\nenvironments:\n  staging:\n    path: 'x\n",
        4,
        11,
        "invalid YAML",
        "quoting",
    );
}

#[test]
fn unknown_fields() {
    assert_error(
        "version: 1\nenviroments: {}\n",
        2,
        1,
        "unknown field `enviroments` at the top level",
        "did you mean `environments`? Valid fields: version, defaults, environments, previews, promotion, commit",
    );
    assert_error(
        "version: 1\ncommit:\n  author:\n    nme: x\n",
        4,
        5,
        "unknown field `nme` in `commit.author`",
        "did you mean `name`? Valid fields: name, email",
    );
    assert_error(
        "version: 1\npreviews:\n  ttl: 1h\n  namespace: 20\n",
        4,
        3,
        "unknown field `namespace` in `previews`",
        "did you mean `namespace-limit`?",
    );
    assert_error(
        "version: 1\npromotion:\n  gates:\n    require_status: [a]\n",
        4,
        5,
        "unknown field `require_status` in `promotion.gates`",
        "did you mean `require-status`?",
    );
    // Nothing close: only the list.
    let err = assert_error(
        "version: 1\nzzz: 1\n",
        2,
        1,
        "unknown field `zzz` at the top level",
        "valid fields: version, defaults, environments, previews, promotion, commit",
    );
    assert!(!err.hint.unwrap_or_default().contains("did you mean"));
    // In a flow mapping.
    assert_error(
        "version: 1\nenvironments:\n  dev: {path: d, hld: true}\n",
        3,
        18,
        "unknown field `hld` in environment \"dev\"",
        "did you mean `hold`?",
    );
}

#[test]
fn wrong_types() {
    assert_error(
        "version: 1\nenvironments:\n  staging:\n    path: x\n    hold: 3\n",
        5,
        11,
        "invalid value for `environments.staging.hold`: expected `true` or `false`, found `3`",
        "for example: `hold: true`",
    );
    assert_error(
        "version: 1\nenvironments:\n  staging:\n    path: x\n    labels: a\n",
        5,
        13,
        "invalid value for `environments.staging.labels`: expected a list of labels, found `a`",
        "labels: [env:staging]",
    );
    assert_error(
        "version: 1\nenvironments:\n  staging:\n    path: x\n    labels: [a, {b: 1}]\n",
        5,
        17,
        "invalid value for `environments.staging.labels[1]`: expected a label (a string), found a mapping",
        "labels: [env:staging]",
    );
    assert_error(
        "version: 1\nenvironments:\n  staging: 5\n",
        3,
        12,
        "invalid value for `environments.staging`: expected a mapping of environment settings, found `5`",
        "staging: {path: envs/staging}",
    );
    assert_error(
        "version: 1\nenvironments:\n  staging:\n",
        3,
        10,
        "found nothing (null)",
        "staging: {path: envs/staging}",
    );
    assert_error(
        "version: 1\nenvironments: [a]\n",
        2,
        15,
        "invalid value for `environments`: expected a mapping from environment names to their settings, found a list",
        "environments: {staging: {path: envs/staging}}",
    );
    assert_error(
        "version: one\n",
        1,
        10,
        "invalid value for `version`: expected the number 1, found `one`",
        "version: 1",
    );
    assert_error(
        "version: 1\npreviews:\n  max: -1\n",
        3,
        8,
        "invalid value for `previews.max`: expected a whole number of at least 1, found `-1`",
        "max: 20",
    );
    assert_error(
        "- a\n- b\n",
        1,
        1,
        "ferry.yaml must be a mapping of settings, found a list",
        "start with `version: 1`",
    );
}

#[test]
fn invalid_enum_values() {
    assert_error(
        "version: 1\nenvironments:\n  staging:\n    path: x\n    update: pul\n",
        5,
        13,
        "invalid value `pul` for `environments.staging.update`",
        "did you mean `pull-request`? Valid values: push, pull-request",
    );
    assert_error(
        "version: 1\ndefaults:\n  update: merge\n",
        3,
        11,
        "invalid value `merge` for `defaults.update`",
        "valid values: push, pull-request",
    );
    assert_error(
        "version: 1\npreviews:\n  on-max: evict\n",
        3,
        11,
        "invalid value `evict` for `previews.on-max`",
        "did you mean `evict-oldest`? Valid values: fail, evict-oldest",
    );
    assert_error(
        "version: 1\npreviews:\n  template: argo\n",
        3,
        13,
        "invalid `previews.template`: unknown template `argo`",
        "did you mean `argocd`?",
    );
}

#[test]
fn invalid_durations() {
    assert_error(
        "version: 1\npreviews:\n  ttl: 72\n",
        3,
        8,
        "invalid `previews.ttl`: `72` is not a duration: the number has no unit",
        "(s, m, h, d or w)",
    );
    assert_error(
        "version: 1\npromotion:\n  gates:\n    min-age: 1 hour\n",
        4,
        14,
        "invalid `promotion.gates.min-age`: `1 hour` is not a duration",
        "e.g. 90s, 15m, 1h30m, 2d or 1w",
    );
    assert_error(
        "version: 1\npreviews:\n  ttl: 0s\n",
        3,
        8,
        "invalid `previews.ttl`: must be longer than 0s",
        "ttl: 72h",
    );
}

#[test]
fn invalid_paths() {
    assert_error(
        "version: 1\nenvironments:\n  staging: {path: /abs}\n",
        3,
        19,
        "invalid `environments.staging.path`: `/abs` is not a valid relative path: the path is absolute",
        "drop the leading `/`",
    );
    assert_error(
        "version: 1\nenvironments:\n  staging:\n    path: envs/../x\n",
        4,
        11,
        "the path contains a `..` component",
        "remove the `..`",
    );
    assert_error(
        "version: 1\nenvironments:\n  staging:\n    path: 'envs\\x'\n",
        4,
        11,
        "the path contains a backslash",
        "separate directories with `/`",
    );
    assert_error(
        "version: 1\nenvironments:\n  staging:\n    path: ./\n",
        4,
        11,
        "the path is empty",
        "below the repository root",
    );
    assert_error(
        "version: 1\npreviews:\n  directory: /apps\n",
        3,
        14,
        "invalid `previews.directory`",
        "drop the leading `/`",
    );
    assert_error(
        "version: 1\npreviews:\n  template: ../t.yaml\n",
        3,
        13,
        "`../t.yaml` is not a valid template path",
        "remove the `..`",
    );
    assert_error(
        "version: 1\ncommit:\n  message: /etc/msg\n",
        3,
        12,
        "invalid `commit.message`",
        "relative to the repository root",
    );
}

#[test]
fn invalid_names() {
    assert_error(
        "version: 1\nenvironments:\n  dev: {path: d}\n  Staging: {path: x}\n",
        4,
        3,
        "invalid environment name `Staging`",
        "did you mean `staging`? environment names start with a lowercase letter or digit",
    );
    assert_error(
        "version: 1\nenvironments:\n  'my env': {path: x}\n",
        3,
        3,
        "invalid environment name `my env`",
        "contain only a-z, 0-9",
    );
}

#[test]
fn missing_required_fields() {
    assert_error(
        "version: 1\nenvironments:\n  staging:\n    hold: true\n",
        4,
        5,
        "missing required field `path` in environment \"staging\"",
        "add it, for example: `path: envs/staging`",
    );
    assert_error(
        "version: 1\nenvironments:\n  staging: {hold: true}\n",
        3,
        13,
        "missing required field `path` in environment \"staging\"",
        "path: envs/staging",
    );
    assert_error(
        "environments: {}\n",
        1,
        1,
        "missing required field `version` at the top level",
        "version: 1",
    );
}

#[test]
fn promotion_order_names_defined_environments() {
    assert_error(
        "version: 1\nenvironments:\n  dev: {path: d}\n  staging: {path: s}\npromotion:\n  order:\n    - dev\n    - stagin\n",
        8,
        7,
        "`promotion.order` names unknown environment `stagin`",
        "did you mean `staging`? Defined environments: dev, staging",
    );
    assert_error(
        "version: 1\nenvironments:\n  dev: {path: d}\npromotion:\n  order: [dev, prod]\n",
        5,
        16,
        "unknown environment `prod`",
        "defined environments: dev",
    );
    assert_error(
        "version: 1\nenvironments:\n  dev: {path: d}\npromotion:\n  order: [dev, dev]\n",
        5,
        16,
        "environment `dev` appears more than once in `promotion.order`",
        "list each environment once",
    );
}

#[test]
fn unsupported_version() {
    assert_error(
        "version: 2\n",
        1,
        10,
        "invalid `version`: unsupported version 2",
        "supported versions: 1",
    );
    // Reported before fields that version 1 does not know.
    assert_error(
        "future: true\nversion: 3\n",
        2,
        10,
        "unsupported version 3",
        "supported versions: 1",
    );
    // Also through deserialization, when the pre-check cannot read the number.
    assert_error(
        "version: !!int 0x2\n",
        1,
        16,
        "unsupported version 2",
        "supported versions: 1",
    );
}

#[test]
fn duplicate_keys() {
    assert_error(
        "version: 1\nenvironments:\n  staging: {path: x}\n  staging: {path: y}\n",
        4,
        3,
        "duplicate key `staging` in `environments`",
        "only once",
    );
}

#[test]
fn empty_and_multi_document_files() {
    assert_error("", 1, 1, "ferry.yaml is empty", "version: 1");
    assert_error("# nothing yet\n", 2, 1, "ferry.yaml is empty", "version: 1");
    assert_error(
        "version: 1\n---\nversion: 1\n",
        3,
        1,
        "more than one YAML document",
        "single document",
    );
}

#[test]
fn semantic_checks() {
    assert_error(
        "version: 1\npreviews:\n  namespace-limit: 64\n",
        3,
        20,
        "invalid `previews.namespace-limit`: must be from 1 to 63, found 64",
        "namespace-limit: 63",
    );
    assert_error(
        "version: 1\npreviews:\n  release-limit: 0\n",
        3,
        18,
        "must be from 1 to 53, found 0",
        "release-limit: 53",
    );
    assert_error(
        "version: 1\npreviews:\n  max: 0\n",
        3,
        8,
        "invalid `previews.max`: must be at least 1",
        "max: 20",
    );
    assert_error(
        "version: 1\nenvironments:\n  a:\n    path: x\n    tags: ''\n",
        5,
        11,
        "invalid `environments.a.tags`: must not be empty",
        "tags: ",
    );
    assert_error(
        "version: 1\nenvironments:\n  a:\n    path: x\n    branch: 'my branch'\n",
        5,
        13,
        "`my branch` is not a branch name",
        "branch: main",
    );
    assert_error(
        "version: 1\npromotion:\n  gates:\n    windows: ['']\n",
        4,
        15,
        "invalid `promotion.gates.windows[0]`: must not be empty",
        "windows:",
    );
}

#[test]
fn first_problem_in_document_is_reported() {
    // Both the max and the order are wrong; the max comes first in the file.
    assert_error(
        "version: 1\npreviews:\n  max: 0\nenvironments:\n  dev: {path: d}\npromotion:\n  order: [qa]\n",
        3,
        8,
        "previews.max",
        "max: 20",
    );
}

#[test]
fn user_text_is_sanitized() {
    let err =
        parse_err("version: 1\nenvironments:\n  a: {path: \"x\\e[31m\\u001f\\ny\", hold: 1}\n");
    assert!(!err.message.chars().any(char::is_control), "{err:?}");
    let err = parse_err("version: 1\n\"x\\u001f\": 1\n");
    assert!(!err.message.chars().any(char::is_control), "{err:?}");
    assert!(
        err.hint
            .as_deref()
            .is_some_and(|h| h.starts_with("valid fields")),
        "{err:?}"
    );
}

#[test]
fn error_display_without_position() {
    let err = ConfigError {
        file: PathBuf::from("repo/ferry.yaml"),
        line: None,
        column: None,
        message: "cannot read ferry.yaml".into(),
        hint: None,
    };
    assert_eq!(err.to_string(), "repo/ferry.yaml: cannot read ferry.yaml");
}

// ---------------------------------------------------------------- files

#[test]
fn load_and_find() {
    let dir = tempfile::tempdir().expect("tempdir");
    assert_eq!(Config::find(dir.path()).expect("find"), None);

    let missing = dir.path().join(FILE_NAME);
    let err = Config::load(&missing).expect_err("missing");
    assert_eq!(err.file, missing);
    assert!(err.message.starts_with("cannot read ferry.yaml"), "{err}");

    std::fs::write(&missing, FULL).expect("write");
    let (file, config) = Config::find(dir.path()).expect("find").expect("present");
    assert_eq!(file, missing);
    assert_eq!(config, Config::load(&missing).expect("load"));

    std::fs::write(&missing, "version: 1\nnope: 1\n").expect("write");
    let err = Config::find(dir.path()).expect_err("invalid");
    assert_eq!(err.file, missing);
    assert_eq!((err.line, err.column), (Some(2), Some(1)));
    assert!(
        err.to_string()
            .starts_with(&format!("{}:2:1: ", missing.display()))
    );

    std::fs::write(&missing, b"version: 1\n\xff\n").expect("write");
    let err = Config::load(&missing).expect_err("not utf-8");
    assert!(err.message.contains("not valid UTF-8"), "{err}");

    // Only the directory itself is searched.
    let sub = dir.path().join("sub");
    std::fs::create_dir(&sub).expect("mkdir");
    assert_eq!(Config::find(&sub).expect("find"), None);

    // A directory called ferry.yaml is an error, not "absent".
    std::fs::create_dir(sub.join(FILE_NAME)).expect("mkdir");
    assert!(Config::find(&sub).is_err());
}

// ---------------------------------------------------------------- durations

#[test]
fn duration_parsing() {
    let secs = |text: &str| text.parse::<Duration>().map(|d| d.as_secs());
    assert_eq!(secs("1h30m"), Ok(5400));
    assert_eq!(secs("72h"), Ok(72 * 3600));
    assert_eq!(secs("2d"), Ok(2 * 86400));
    assert_eq!(secs("1w"), Ok(7 * 86400));
    assert_eq!(secs("90s"), Ok(90));
    assert_eq!(secs("0s"), Ok(0));
    assert_eq!(
        secs("1w2d3h4m5s"),
        Ok(7 * 86400 + 2 * 86400 + 3 * 3600 + 4 * 60 + 5)
    );
    assert_eq!(secs("168h"), Ok(7 * 86400));

    for bad in [
        "",
        "h",
        "72",
        "1h30",
        "30m1h",
        "1h1h",
        "1H",
        "1.5h",
        "-1h",
        " 1h",
        "1h ",
        "1 h",
        "1y",
        "h1",
        "99999999999999999999s",
        "40000000000000w",
    ] {
        let err = bad.parse::<Duration>().expect_err(bad);
        assert!(
            err.to_string()
                .contains("expected whole numbers each followed by a unit"),
            "{err}"
        );
    }
    assert_eq!(
        "1h30".parse::<Duration>().map_err(|e| e.reason()),
        Err("the number has no unit")
    );
    assert_eq!(
        "30m1h".parse::<Duration>().map_err(|e| e.reason()),
        Err("each unit may appear once, largest first")
    );
}

#[test]
fn duration_display_and_serde() {
    assert_eq!(Duration::from_secs(0).to_string(), "0s");
    assert_eq!(Duration::from_secs(5400).to_string(), "1h30m");
    assert_eq!(Duration::from_secs(90).to_string(), "1m30s");
    assert_eq!(Duration::from_hours(48).to_string(), "48h");
    assert_eq!(Duration::from_secs(3661).to_string(), "1h1m1s");
    for secs in [0, 1, 59, 60, 3600, 5400, 86400 * 9 + 7] {
        let d = Duration::from_secs(secs);
        assert_eq!(d.to_string().parse::<Duration>(), Ok(d));
    }
    assert_eq!(
        serde_json::to_string(&Duration::from_secs(5400)).expect("json"),
        "\"1h30m\""
    );
    assert_eq!(
        std::time::Duration::from(Duration::from_secs(7)),
        std::time::Duration::from_secs(7)
    );
}

// ---------------------------------------------------------------- paths

#[test]
fn path_normalization() {
    let norm = |text: &str| RelPath::new(text).map(RelPath::into_string);
    assert_eq!(norm("x"), Ok("x".into()));
    assert_eq!(norm("./x/"), Ok("x".into()));
    assert_eq!(norm("envs/staging/"), Ok("envs/staging".into()));
    assert_eq!(norm("./a//b/./c/"), Ok("a/b/c".into()));
    assert_eq!(norm(".ferry/commit.tera"), Ok(".ferry/commit.tera".into()));
    assert_eq!(norm("a..b/c"), Ok("a..b/c".into()));
}

#[test]
fn path_rejection() {
    let err = |text: &str| RelPath::new(text).expect_err(text);
    assert_eq!(err(""), RelPathError::Empty);
    assert_eq!(err("."), RelPathError::Empty);
    assert_eq!(err("./"), RelPathError::Empty);
    assert_eq!(err("//"), RelPathError::Absolute);
    assert_eq!(err("/etc"), RelPathError::Absolute);
    assert_eq!(err("C:/x"), RelPathError::Absolute);
    assert_eq!(err("a\\b"), RelPathError::Backslash);
    assert_eq!(err(".."), RelPathError::ParentDir);
    assert_eq!(err("../x"), RelPathError::ParentDir);
    assert_eq!(err("a/../b"), RelPathError::ParentDir);
    assert_eq!(err("a/.."), RelPathError::ParentDir);
    assert_eq!(err("a\nb"), RelPathError::Control);
    assert_eq!(err("a\0b"), RelPathError::Control);
}

// ---------------------------------------------------------------- suggestions

#[test]
fn closest_names() {
    use super::error::closest;
    let fields = [
        "path",
        "branch",
        "update",
        "hold",
        "tags",
        "labels",
        "reviewers",
    ];
    assert_eq!(closest("pth", fields), Some("path"));
    assert_eq!(closest("brnach", fields), Some("branch"));
    assert_eq!(closest("reviewer", fields), Some("reviewers"));
    assert_eq!(closest("Labels", fields), Some("labels"));
    assert_eq!(closest("upd", fields), Some("update"));
    assert_eq!(closest("xyz", fields), None);
    assert_eq!(
        closest("environment", ["environments"]),
        Some("environments")
    );
    assert_eq!(
        closest("prod", ["staging", "production"]),
        Some("production")
    );
    assert_eq!(closest("x", ["staging"]), None);
}

// ---------------------------------------------------------------- index

#[test]
fn index_positions() {
    let index = Index::build(
        "version: 1\nenvironments:\n  staging:\n    path: x\n    labels: [a, b]\npromotion:\n  order:\n    - dev\n",
    )
    .expect("valid");
    let at = |line, column| Pos { line, column };
    let path = KeyPath::keys(["environments", "staging", "path"]);
    assert_eq!(index.value_pos(&path), Some(at(4, 11)));
    assert_eq!(index.key_pos(&path), Some(at(4, 5)));
    let label = KeyPath::keys(["environments", "staging", "labels"]).index(1);
    assert_eq!(index.value_pos(&label), Some(at(5, 17)));
    assert_eq!(label.to_string(), "environments.staging.labels[1]");
    let order = KeyPath::keys(["promotion", "order"]).index(0);
    assert_eq!(index.value_pos(&order), Some(at(8, 7)));
    let node = index.get(&KeyPath::keys(["version"])).expect("version");
    assert_eq!(node.kind, NodeKind::Scalar("1".into()));
    assert_eq!(
        index.value_at(at(4, 5)).map(|n| n.path.to_string()),
        Some("environments.staging".into())
    );
    assert!(Index::build("a: [").is_err());
}

// ---------------------------------------------------------------- schema

#[test]
fn schema_is_json_and_covers_every_key() {
    let text = schema_json();
    assert!(text.ends_with("}\n"));
    let schema: serde_json::Value = serde_json::from_str(&text).expect("valid JSON");
    assert_eq!(
        schema["$schema"],
        "https://json-schema.org/draft/2020-12/schema"
    );
    assert_eq!(schema["additionalProperties"], false);
    let properties = schema["properties"].as_object().expect("properties");
    for key in [
        "version",
        "defaults",
        "environments",
        "previews",
        "promotion",
        "commit",
    ] {
        assert!(properties.contains_key(key), "schema lacks `{key}`");
    }
    assert_eq!(schema["required"], serde_json::json!(["version"]));
    assert_eq!(schema["properties"]["version"]["const"], 1);
    let defs = &schema["$defs"];
    for (def, keys) in [
        (
            "Environment",
            &[
                "path",
                "branch",
                "update",
                "hold",
                "tags",
                "labels",
                "reviewers",
            ][..],
        ),
        (
            "Previews",
            &[
                "branch",
                "directory",
                "template",
                "ttl",
                "max",
                "on-max",
                "namespace-limit",
                "release-limit",
                "url",
            ][..],
        ),
        ("Gates", &["require-status", "min-age", "windows"][..]),
        ("Commit", &["author", "message"][..]),
        ("Author", &["name", "email"][..]),
        ("Defaults", &["branch", "update"][..]),
        ("Promotion", &["order", "gates"][..]),
    ] {
        for key in keys {
            assert!(
                defs[def]["properties"].get(key).is_some(),
                "schema lacks `{def}.{key}`"
            );
        }
        assert_eq!(defs[def]["additionalProperties"], false, "{def}");
    }
}

#[test]
fn every_field_has_help() {
    // Each field's description in errors (field_help) covers every key in the schema.
    let schema: serde_json::Value = serde_json::from_str(&schema_json()).expect("json");
    let mut missing = Vec::new();
    let sections = [
        (KeyPath::root(), "#"),
        (KeyPath::keys(["defaults"]), "Defaults"),
        (KeyPath::keys(["environments", "x"]), "Environment"),
        (KeyPath::keys(["previews"]), "Previews"),
        (KeyPath::keys(["promotion"]), "Promotion"),
        (KeyPath::keys(["promotion", "gates"]), "Gates"),
        (KeyPath::keys(["commit"]), "Commit"),
        (KeyPath::keys(["commit", "author"]), "Author"),
    ];
    for (path, def) in sections {
        let properties = if def == "#" {
            &schema["properties"]
        } else {
            &schema["$defs"][def]["properties"]
        };
        for key in properties.as_object().expect("properties").keys() {
            let field = path.clone().key(key);
            if error::field_help(&field).is_none() {
                missing.push(field.to_string());
            }
        }
    }
    assert!(missing.is_empty(), "no help for {missing:?}");
}

#[test]
fn docs_cover_every_key() {
    let docs = include_str!("../../docs/config.md");
    let headings: Vec<&str> = docs.lines().filter(|l| l.starts_with('#')).collect();
    let schema: serde_json::Value = serde_json::from_str(&schema_json()).expect("json");
    let sections = [
        ("", "#"),
        ("defaults.", "Defaults"),
        ("environments.NAME.", "Environment"),
        ("previews.", "Previews"),
        ("previews.deploy.", "PreviewDeploy"),
        ("promotion.", "Promotion"),
        ("promotion.gates.", "Gates"),
        ("commit.", "Commit"),
        ("commit.author.", "Author"),
    ];
    let mut missing = Vec::new();
    for (prefix, def) in sections {
        let properties = if def == "#" {
            &schema["properties"]
        } else {
            &schema["$defs"][def]["properties"]
        };
        for key in properties.as_object().expect("properties").keys() {
            if matches!(
                (def, key.as_str()),
                ("Promotion", "gates") | ("Commit", "author")
            ) {
                continue;
            }
            let wanted = format!("`{prefix}{key}`");
            if !headings.iter().any(|h| h.ends_with(&wanted)) {
                missing.push(wanted);
            }
        }
    }
    assert!(
        missing.is_empty(),
        "docs/config.md has no heading for {missing:?}"
    );
    assert!(docs.contains("ferry schema > ferry.schema.json"));
    assert!(docs.contains("# yaml-language-server: $schema="));
}

#[test]
fn docs_example_is_valid() {
    let docs = include_str!("../../docs/config.md");
    let mut examples = 0;
    let mut rest = docs;
    while let Some(start) = rest.find("```yaml\n") {
        let body = &rest[start + "```yaml\n".len()..];
        let end = body.find("```").expect("closed code block");
        let text = &body[..end];
        if text.contains("version:") {
            parse_ok(text);
            examples += 1;
        }
        rest = &body[end + 3..];
    }
    assert!(examples >= 4, "found {examples} examples");
}

#[test]
fn preview_prefixes_and_the_room_they_leave_are_checked() {
    assert_error(
        "version: 1\npreviews:\n  prefix: kube-\n",
        3,
        11,
        "`previews.prefix`",
        "",
    );
    assert_error(
        "version: 1\npreviews:\n  prefix: preview\n",
        3,
        11,
        "end with `-`",
        "",
    );
    assert_error(
        "version: 1\npreviews:\n  prefix: pr-\n  namespace-limit: 10\n",
        4,
        20,
        "at least 15",
        "",
    );
    let config = parse_ok(
        "version: 1\npreviews:\n  prefix: pr-\n  projects: ['https://gitlab.com/acme/shop']\n",
    );
    assert_eq!(config.previews.prefix, "pr-");
    assert_eq!(config.previews.projects, ["https://gitlab.com/acme/shop"]);
    assert_eq!(Config::default().previews.prefix, "preview-");
}

#[test]
fn user_text_in_config_errors_shows_controls_and_format_characters_escaped() {
    let shown = shown("prod\u{202e}uction\u{1b}[31m\n");
    assert!(!shown.contains('\u{202e}') && !shown.contains('\u{1b}') && !shown.contains('\n'));
    assert!(shown.starts_with("prod\\u{202e}uction"), "{shown}");
}

#[test]
fn positions_name_items_of_a_list() {
    let text = "version: 1\npromotion:\n  gates:\n    require-status:\n      - continuous-delivery/cart-staging\n      - 'kustomization/cart-staging/*'\n    windows: [daily]\n";
    let positions = Positions::of(text);
    let keys = ["promotion", "gates", "require-status"];
    assert_eq!(positions.item(&keys, 0), Some((5, 9)));
    assert_eq!(positions.item(&keys, 1), Some((6, 9)));
    assert_eq!(positions.item(&keys, 2), None);
    assert_eq!(
        positions.item(&["promotion", "gates", "windows"], 0),
        Some((7, 15))
    );
}
