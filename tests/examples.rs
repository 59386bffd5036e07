//! The example pipelines and the example environment repositories they point to agree: every
//! image a pipeline in `examples/ci/` bumps (or previews) is one its environment repository
//! deploys, checked with `ferry set-image --dry-run` on the example, so that copying a pipeline
//! and its environment repository gives a first deploy that works (exit 3 otherwise). And every
//! status context ferry's documentation and examples show (`--context`, `require-status`) is one
//! Argo CD or Flux posts, checked with `ferry check`'s gate warning.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde_json::Value;

use crate::support::{ferry, write_tree};

fn root() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

/// The environment repositories the example pipelines name, and the example that is each one.
const ENVIRONMENT_REPOSITORIES: &[(&str, &str)] = &[
    ("https://github.com/acme/shop-env", "examples/shop-env"),
    (
        "https://gitlab.com/acme/web-env.git",
        "examples/custom-preview-env",
    ),
];

/// The tag the examples' expressions for a build's tag stand for.
const TAG: &str = "1a2b3c4";

/// What a pipeline asks ferry to deploy: `bump` into an environment, or `preview up`.
#[derive(Debug)]
struct Deploy {
    /// Where it is written, for messages: `examples/ci/github/build.yml: job deploy-staging`.
    at: String,
    repo: String,
    /// `Some(env)` for a bump, `None` for a preview.
    environment: Option<String>,
    images: Vec<(String, String)>,
}

/// `NAME=TAG` words of an `images` input or `FERRY_IMAGES`.
fn images(text: &str, at: &str) -> Vec<(String, String)> {
    let images: Vec<(String, String)> = text
        .split_whitespace()
        .map(|word| {
            let (name, tag) = word
                .split_once('=')
                .unwrap_or_else(|| panic!("{at}: `{word}` is not NAME=TAG"));
            (name.to_owned(), tag.to_owned())
        })
        .collect();
    assert!(!images.is_empty(), "{at}: no images");
    images
}

/// Replaces each `${{ EXPR }}` of a GitHub workflow by its value in `values`; an expression the
/// test does not know fails it (add it here when an example starts using it).
fn github_expand(text: &str, values: &BTreeMap<String, String>, at: &str) -> String {
    let mut out = String::new();
    let mut rest = text;
    while let Some(start) = rest.find("${{") {
        out.push_str(&rest[..start]);
        let end = rest[start..]
            .find("}}")
            .unwrap_or_else(|| panic!("{at}: unclosed ${{{{ in {text}"));
        let expr = rest[start + 3..start + end].trim();
        let value = values
            .get(expr)
            .unwrap_or_else(|| panic!("{at}: the test does not know `${{{{ {expr} }}}}`"));
        out.push_str(value);
        rest = &rest[start + end + 2..];
    }
    out.push_str(rest);
    out
}

/// The `bump` and `preview up` steps of the GitHub workflows that use ferry's action.
fn github_deploys() -> Vec<Deploy> {
    let mut deploys = Vec::new();
    let dir = root().join("examples/ci/github");
    let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
        .expect("examples/ci/github")
        .map(|e| e.expect("entry").path())
        .filter(|p| p.extension().is_some_and(|e| e == "yml"))
        .collect();
    files.sort();
    for file in files {
        let name = format!(
            "examples/ci/github/{}",
            file.file_name().expect("name").to_string_lossy()
        );
        let text = std::fs::read_to_string(&file).expect("workflow");
        let workflow: Value = serde_saphyr::from_str(&text).expect("the workflow parses");
        for (job_name, job) in workflow["jobs"].as_object().expect("jobs") {
            let mut values = BTreeMap::new();
            for env in [&workflow["env"], &job["env"]] {
                for (key, value) in env.as_object().into_iter().flatten() {
                    let value = value.as_str().expect("env values are strings");
                    values.insert(format!("env.{key}"), value.to_owned());
                }
            }
            // The build jobs' outputs: the tag they pushed.
            for need in job["needs"].as_str().into_iter().chain(
                job["needs"]
                    .as_array()
                    .into_iter()
                    .flatten()
                    .filter_map(Value::as_str),
            ) {
                values.insert(format!("needs.{need}.outputs.tag"), TAG.to_owned());
            }
            for step in job["steps"].as_array().into_iter().flatten() {
                let uses = step["uses"].as_str().unwrap_or_default();
                if !uses.starts_with("OWNER/ferry@") {
                    continue;
                }
                let with = &step["with"];
                let command = with["command"].as_str().expect("command");
                if command != "bump" && command != "preview up" {
                    continue;
                }
                let at = format!("{name}: job {job_name}, `{command}`");
                let input = |key: &str| {
                    with[key]
                        .as_str()
                        .map(|v| github_expand(v, &values, &at))
                        .unwrap_or_else(|| panic!("{at}: no `{key}`"))
                };
                deploys.push(Deploy {
                    repo: input("repo"),
                    environment: (command == "bump").then(|| input("environment")),
                    images: images(&input("images"), &at),
                    at,
                });
            }
        }
    }
    deploys
}

/// Replaces `$NAME` and `${NAME}` by their values in `values`; an unknown variable fails.
fn gitlab_expand(text: &str, values: &BTreeMap<&str, String>, at: &str) -> String {
    let mut out = String::new();
    let mut chars = text.char_indices().peekable();
    while let Some((i, c)) = chars.next() {
        if c != '$' {
            out.push(c);
            continue;
        }
        let braced = text[i + 1..].starts_with('{');
        let start = i + 1 + usize::from(braced);
        let len = text[start..]
            .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
            .unwrap_or(text.len() - start);
        let name = &text[start..start + len];
        let value = values
            .get(name)
            .unwrap_or_else(|| panic!("{at}: the test does not know ${name}"));
        out.push_str(value);
        let end = start + len + usize::from(braced);
        while chars.peek().is_some_and(|(j, _)| *j < end) {
            chars.next();
        }
    }
    out
}

/// The jobs of the GitLab pipeline that extend `.ferry-bump` or `.ferry-preview-up`.
fn gitlab_deploys() -> Vec<Deploy> {
    let name = "examples/ci/gitlab/.gitlab-ci.yml";
    let text = std::fs::read_to_string(root().join(name)).expect("the pipeline");
    // GitLab's predefined variables for the project the pipeline is written for: acme/web on
    // gitlab.com, whose registry image is registry.gitlab.com/acme/web.
    assert!(
        text.contains("(acme/web on gitlab.com)"),
        "{name} no longer says it is acme/web on gitlab.com: update the variables here"
    );
    let mut values: BTreeMap<&str, String> = BTreeMap::from([
        (
            "CI_REGISTRY_IMAGE",
            "registry.gitlab.com/acme/web".to_owned(),
        ),
        ("CI_COMMIT_SHORT_SHA", TAG.to_owned()),
    ]);
    let pipeline: Value = serde_saphyr::from_str(&text).expect("the pipeline parses");
    for (key, value) in pipeline["variables"].as_object().into_iter().flatten() {
        if let Some(value) = value.as_str() {
            values.insert(key.as_str(), value.to_owned());
        }
    }
    let mut deploys = Vec::new();
    for (job_name, job) in pipeline.as_object().expect("a mapping") {
        let extends = job["extends"].as_str().unwrap_or_default();
        if extends != ".ferry-bump" && extends != ".ferry-preview-up" {
            continue;
        }
        let at = format!("{name}: job {job_name}");
        let mut values = values.clone();
        for (key, value) in job["variables"].as_object().into_iter().flatten() {
            if let Some(value) = value.as_str() {
                values.insert(key.as_str(), value.to_owned());
            }
        }
        let variable = |key: &str| {
            values
                .get(key)
                .map(|v| gitlab_expand(v, &values, &at))
                .unwrap_or_else(|| panic!("{at}: no {key}"))
        };
        deploys.push(Deploy {
            repo: variable("FERRY_REPO"),
            environment: (extends == ".ferry-bump").then(|| variable("FERRY_ENVIRONMENT")),
            images: images(&variable("FERRY_IMAGES"), &at),
            at,
        });
    }
    deploys
}

/// `ferry set-image --dry-run --output json` of `images` in `dir` (with `--env` when given):
/// the images it found nothing of, or the reason it failed.
fn missing(dir: &Path, environment: Option<&str>, images: &[(String, String)]) -> Vec<String> {
    let mut cmd = ferry();
    cmd.args(["set-image", "--dry-run", "--output", "json", "--dir"])
        .arg(dir);
    if let Some(environment) = environment {
        cmd.args(["--env", environment]);
    }
    cmd.args(images.iter().map(|(name, tag)| format!("{name}={tag}")));
    let output = cmd.output().expect("ferry runs");
    if output.status.code() != Some(0) {
        return vec![format!(
            "exit {:?}: {}",
            output.status.code(),
            String::from_utf8_lossy(&output.stderr)
        )];
    }
    let result: Value = serde_json::from_slice(&output.stdout).expect("JSON");
    let changed: Vec<&str> = result["changes"]
        .as_array()
        .expect("changes")
        .iter()
        .filter_map(|c| c["image"].as_str())
        .collect();
    images
        .iter()
        .filter(|(name, _)| !changed.contains(&name.as_str()))
        .map(|(name, _)| format!("{name}: not changed ({result})"))
        .collect()
}

#[test]
fn every_image_an_example_pipeline_deploys_is_one_its_environment_repository_deploys() {
    let deploys: Vec<Deploy> = github_deploys()
        .into_iter()
        .chain(gitlab_deploys())
        .collect();
    // build.yml and preview.yml on GitHub, deploy-staging and preview on GitLab.
    assert!(
        deploys.iter().filter(|d| d.environment.is_some()).count() >= 2
            && deploys.iter().filter(|d| d.environment.is_none()).count() >= 2,
        "{deploys:#?}"
    );
    let mut problems = Vec::new();
    for deploy in &deploys {
        let Some((_, example)) = ENVIRONMENT_REPOSITORIES
            .iter()
            .find(|(repo, _)| *repo == deploy.repo)
        else {
            problems.push(format!(
                "{}: the environment repository {} is none of the examples (ENVIRONMENT_REPOSITORIES)",
                deploy.at, deploy.repo
            ));
            continue;
        };
        let example = root().join(example);
        let missing = match &deploy.environment {
            Some(environment) => missing(&example, Some(environment), &deploy.images),
            None => {
                // A preview deploys previews.deploy.path of the same repository.
                let config = ferry::config::Config::load(&example.join("ferry.yaml"))
                    .unwrap_or_else(|e| panic!("{}: {e:?}", example.display()));
                assert_eq!(config.previews.deploy.repo, None, "{}", deploy.at);
                let path = config.previews.deploy.path.expect("previews.deploy.path");
                missing(&example.join(path.as_str()), None, &deploy.images)
            }
        };
        problems.extend(missing.into_iter().map(|m| {
            format!(
                "{} ({} of {}): {m}",
                deploy.at,
                deploy.environment.as_deref().unwrap_or("preview"),
                deploy.repo
            )
        }));
    }
    assert!(problems.is_empty(), "{}", problems.join("\n"));
}

/// Every status context written after `--context`, `--require-status`, `require-status=` or
/// `require-status:` (a flow or block list) in `text`, placeholders (`NAME`, `<…>`) left out.
fn contexts_in(text: &str) -> Vec<String> {
    fn token(rest: &str) -> &str {
        let rest = rest.trim_start();
        if let Some(quote) = rest.chars().next().filter(|c| *c == '\'' || *c == '"') {
            let body = &rest[1..];
            return &body[..body.find(quote).unwrap_or(body.len())];
        }
        let end = rest
            .find(|c: char| c.is_whitespace() || "`,)]".contains(c))
            .unwrap_or(rest.len());
        &rest[..end]
    }
    let mut found = Vec::new();
    for keyword in ["--context", "require-status"] {
        let mut from = 0;
        while let Some(i) = text[from..].find(keyword) {
            let start = from + i + keyword.len();
            from = start;
            let rest = text[start..].trim_start_matches([' ', '\t', '=', ':']);
            if keyword == "require-status" && rest.starts_with('[') {
                let list = &rest[1..rest.find(']').unwrap_or(rest.len())];
                found.extend(list.split(',').map(|item| token(item).to_owned()));
            } else if keyword == "require-status" && rest.starts_with('\n') {
                for line in rest.lines().skip(1) {
                    let line = line.trim_start();
                    if line.starts_with('#') {
                        continue;
                    }
                    let Some(item) = line.strip_prefix("- ") else {
                        break;
                    };
                    found.push(token(item).to_owned());
                }
            } else {
                found.push(token(rest).to_owned());
            }
        }
    }
    // Placeholders, and what follows the word in prose or code (`"require-status"] => (`).
    found.retain(|c| {
        !c.is_empty()
            && !c.contains(|ch: char| ch.is_whitespace() || "<>[]()\"'".contains(ch))
            && c.chars().any(|ch| !ch.is_ascii_uppercase())
    });
    found
}

/// The files that show contexts to users: README, docs, examples, the config error examples.
fn documentation() -> Vec<PathBuf> {
    let mut files = vec![root().join("README.md"), root().join("src/config/error.rs")];
    let mut stack = vec![root().join("docs"), root().join("examples")];
    while let Some(dir) = stack.pop() {
        for entry in std::fs::read_dir(&dir).expect("dir") {
            let path = entry.expect("entry").path();
            if path.is_dir() {
                stack.push(path);
            } else if path
                .extension()
                .is_some_and(|e| ["md", "yml", "yaml", "tera", "sh"].iter().any(|x| e == *x))
            {
                files.push(path);
            }
        }
    }
    files.sort();
    files
}

#[test]
fn every_status_context_the_docs_and_examples_show_is_one_an_agent_posts() {
    let mut contexts: Vec<(String, String)> = Vec::new();
    for file in documentation() {
        let text = std::fs::read_to_string(&file).expect("text");
        let name = file
            .strip_prefix(root())
            .expect("below the root")
            .display()
            .to_string();
        contexts.extend(contexts_in(&text).into_iter().map(|c| (name.clone(), c)));
    }
    let shown: Vec<&str> = contexts.iter().map(|(_, c)| c.as_str()).collect();
    for expected in [
        "continuous-delivery/cart-staging",
        "kustomization/cart-staging/*",
        "continuous-delivery/web-staging",
    ] {
        assert!(
            shown.contains(&expected),
            "{expected} not found in {contexts:?}"
        );
    }
    // All of them as gates of one ferry.yaml: `ferry check` warns about any that neither agent
    // can post.
    let dir = tempfile::tempdir().expect("tempdir");
    let mut config = String::from(
        "version: 1\nenvironments:\n  staging:\n    path: envs/staging\npromotion:\n  gates:\n    require-status:\n",
    );
    for (_, context) in &contexts {
        config.push_str(&format!("      - '{context}'\n"));
    }
    write_tree(
        dir.path(),
        &[
            ("ferry.yaml", config.as_str()),
            (
                "envs/staging/kustomization.yaml",
                "images:\n  - name: ghcr.io/acme/cart\n    newTag: 1a2b3c4\n",
            ),
        ],
    );
    let output = ferry()
        .env_remove("GITHUB_ACTIONS")
        .env_remove("GITLAB_CI")
        .args(["check", "--dir"])
        .arg(dir.path())
        .output()
        .expect("ferry runs");
    let text = String::from_utf8_lossy(&output.stdout);
    assert_eq!(output.status.code(), Some(0), "{text}");
    let warned: Vec<String> = text
        .lines()
        .filter(|l| l.contains("warning: promotion gate"))
        .map(|l| {
            let line: usize = l
                .split(':')
                .nth(1)
                .and_then(|n| n.parse().ok())
                .unwrap_or(0);
            // Line 8 of the generated file is the first context.
            let (file, context) = line
                .checked_sub(8)
                .and_then(|i| contexts.get(i))
                .map_or(("?", "?"), |(f, c)| (f.as_str(), c.as_str()));
            format!("{file}: `{context}`: {l}")
        })
        .collect();
    assert!(warned.is_empty(), "{}", warned.join("\n"));
    assert!(text.contains("0 warnings"), "{text}");
}

#[test]
fn contexts_are_found_after_flags_and_in_lists() {
    let text = "ferry wait --context 'kustomization/a/*' --timeout 1m\n\
                args: --context=continuous-delivery/b\n\
                see `--context\n'kustomization/c/*'`\n\
                require-status: [continuous-delivery/d, 'kustomization/e/*']  # x\n\
                require-status:\n  # comment\n  - continuous-delivery/f\n  - \"kustomization/g/*\"\nnext: 1\n\
                `Ferry-Gate: require-status=continuous-delivery/*`\n\
                `--require-status CONTEXT` (`require-status`) --context NAME <app>\n\
                [\"promotion\", \"gates\", \"require-status\"] => (\n";
    assert_eq!(
        contexts_in(text),
        [
            "kustomization/a/*",
            "continuous-delivery/b",
            "kustomization/c/*",
            "continuous-delivery/d",
            "kustomization/e/*",
            "continuous-delivery/f",
            "kustomization/g/*",
            "continuous-delivery/*",
        ]
    );
}
