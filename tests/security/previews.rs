//! See [the module list](super). Attacks on `ferry preview` by whoever names a branch (a fork's
//! author), writes a repository template, or can write to the previews branch: the real binary
//! against the git smart-HTTP server and the forge test server, on GitHub and GitLab.

use std::process::{Command, Output};

use serde_json::{Value, json};

use crate::support::forge::{Access, ForgeServer, client};
use crate::support::git_http::GitServer;
use crate::support::lab::{ALICE_TOKEN, BOT_TOKEN, KINDS, Kind, Lab, code, json_of, text};
use crate::support::remote;

const BRANCH: &str = "dynamic-envs";
const T0: &str = "2026-11-23T12:00:00Z";
/// Long after every preview of these tests expired.
const LATER: &str = "2027-06-01T00:00:00Z";
const SHOP: &str = "acme/shop";

/// Environments named like the namespaces a branch would like to take.
const CONFIG: &str = "\
version: 1
environments:
  production:
    path: envs/production
  shop-staging:
    path: envs/shop-staging
previews:
  ttl: 72h
  url: https://{slug}.preview.example.com
  deploy:
    path: previews/base
";

/// The app-of-apps, kept by hand on the previews branch beside the previews (as some teams
/// do): no preview may redefine, replace or remove it.
const APP_OF_APPS: &str = "\
apiVersion: argoproj.io/v1alpha1
kind: Application
metadata: {name: previews, namespace: argocd}
spec:
  project: default
  source: {repoURL: 'https://example.invalid/env.git', targetRevision: dynamic-envs, path: apps}
  destination: {server: 'https://kubernetes.default.svc', namespace: argocd}
";

fn new_lab(kind: Kind, config: &str) -> Lab {
    let lab = Lab::new(
        kind,
        &[
            ("ferry.yaml", config.as_bytes()),
            (
                "previews/base/kustomization.yaml",
                b"resources: [deployment.yaml]\n",
            ),
            ("envs/production/kustomization.yaml", b"resources: []\n"),
            ("envs/shop-staging/kustomization.yaml", b"resources: []\n"),
        ],
    );
    lab.add_repo(SHOP, &[("README.md", b"the shop\n")]);
    lab
}

fn command(lab: &Lab) -> Command {
    let mut cmd = lab.command();
    cmd.env("FERRY_APP_REPO", lab.url(SHOP))
        .env("FERRY_NOW", T0)
        .current_dir(lab.dir.path());
    cmd
}

fn preview(lab: &Lab, args: &[&str]) -> Output {
    command(lab)
        .arg("preview")
        .args(args)
        .output()
        .expect("ferry runs")
}

fn ok(out: &Output) -> Value {
    assert_eq!(code(out), 0, "{}", text(out));
    json_of(out)
}

fn up(lab: &Lab, name: &str) -> Value {
    ok(&preview(
        lab,
        &[
            "up",
            "--output",
            "json",
            &format!("--name={name}"),
            "ghcr.io/acme/cart=1",
        ],
    ))
}

fn branch_files(lab: &Lab) -> std::collections::BTreeMap<String, Vec<u8>> {
    remote::read_branch(&lab.repo, BRANCH)
}

fn file_text(lab: &Lab, path: &str) -> String {
    lab.file(BRANCH, path)
}

fn documents(text: &str) -> Vec<Value> {
    serde_saphyr::from_multiple(text).expect("yaml")
}

/// Every name a branch could choose to be a real namespace or agent object.
const TAKEOVERS: &[&str] = &[
    "production",
    "shop-staging",
    "flux-system",
    "apps",
    "previews",
    "vault",
    "calico-system",
    "infrastructure",
    "argocd",
];

#[test]
fn branches_named_like_real_namespaces_and_agent_objects_get_names_under_the_prefix() {
    for kind in KINDS {
        let lab = new_lab(kind, CONFIG);
        remote::commit_files(
            &lab.repo,
            BRANCH,
            &[("apps/previews.yaml", Some(APP_OF_APPS.as_bytes()))],
            "the app-of-apps",
        );
        let before = branch_files(&lab);
        let mut slugs = Vec::new();
        for name in TAKEOVERS {
            let report = up(&lab, name);
            let slug = report["slug"].as_str().expect("slug").to_owned();
            for key in ["slug", "namespace", "release"] {
                let value = report[key].as_str().expect(key);
                assert!(
                    value.starts_with("preview-") && value != *name,
                    "{kind:?} {name}: {key} {value}"
                );
            }
            assert_eq!(report["file"], format!("apps/{slug}.yaml"), "{name}");
            assert_eq!(
                report["url"],
                format!("https://{slug}.preview.example.com"),
                "{name}"
            );
            let text = file_text(&lab, &format!("apps/{slug}.yaml"));
            for document in documents(&text) {
                let object = document["metadata"]["name"].as_str().expect("name");
                assert!(object.starts_with(&slug), "{name}: {object}\n{text}");
                let target = &document["spec"]["destination"]["namespace"];
                assert_eq!(target, &report["namespace"], "{name}\n{text}");
            }
            slugs.push((name, slug));
        }
        assert_eq!(
            file_text(&lab, "apps/previews.yaml"),
            APP_OF_APPS,
            "{kind:?}: the app-of-apps untouched"
        );
        for (name, slug) in &slugs {
            let out = preview(
                &lab,
                &["down", "--output", "json", &format!("--name={name}")],
            );
            let report = ok(&out);
            assert_eq!(report["status"], "removed", "{name}");
            assert_eq!(report["file"], format!("apps/{slug}.yaml"));
        }
        assert_eq!(
            branch_files(&lab)
                .into_iter()
                .filter(|(p, _)| p != "apps/README.md")
                .collect::<Vec<_>>(),
            before.into_iter().collect::<Vec<_>>(),
            "{kind:?}: down removed only the previews' own files"
        );
    }
}

#[test]
fn a_flux_preview_never_names_or_prunes_a_namespace_it_did_not_create() {
    let config = CONFIG.replace("  ttl: 72h\n", "  ttl: 72h\n  template: flux\n");
    let lab = new_lab(Kind::GitLab, &config);
    for name in ["production", "flux-system", "shop-staging"] {
        let report = up(&lab, name);
        let slug = report["slug"].as_str().expect("slug");
        let text = file_text(&lab, &format!("apps/{slug}.yaml"));
        for document in documents(&text) {
            let object = document["metadata"]["name"].as_str().expect("name");
            assert!(object.starts_with("preview-"), "{name}: {text}");
            if document["kind"] == "Namespace" {
                let annotations = &document["metadata"]["annotations"];
                // Flux: never deleted by garbage collection, never applied over one that exists.
                assert_eq!(
                    annotations["kustomize.toolkit.fluxcd.io/prune"], "disabled",
                    "{text}"
                );
                assert_eq!(
                    annotations["kustomize.toolkit.fluxcd.io/ssa"], "IfNotPresent",
                    "{text}"
                );
            } else {
                assert_eq!(document["spec"]["targetNamespace"], report["namespace"]);
            }
        }
    }
}

#[test]
fn a_branch_named_like_another_previews_slug_cannot_take_its_file_namespace_or_url() {
    for kind in KINDS {
        let lab = new_lab(kind, CONFIG);
        let first = up(&lab, "feat/a");
        let slug = first["slug"].as_str().expect("slug").to_owned();
        let file = format!("apps/{slug}.yaml");
        let before = file_text(&lab, &file);
        // The squatter: literally the first one's slug, then the part after the prefix.
        let unprefixed = slug.trim_start_matches("preview-").to_owned();
        for squatter in [
            slug.as_str(),
            unprefixed.as_str(),
            "feat-a",
            "preview-feat-a",
        ] {
            let second = up(&lab, squatter);
            for key in ["slug", "namespace", "release", "file", "url"] {
                assert_ne!(second[key], first[key], "{kind:?} {squatter}: {key}");
            }
            assert_eq!(
                file_text(&lab, &file),
                before,
                "{squatter}: first one untouched"
            );
        }
        let previews = branch_files(&lab)
            .into_keys()
            .filter(|p| p != "apps/README.md")
            .count();
        assert_eq!(previews, 5, "{kind:?}: one file each");
    }
}

#[test]
fn a_repository_template_that_reaches_outside_the_preview_space_pushes_nothing() {
    let config = CONFIG.replace(
        "  ttl: 72h\n",
        "  ttl: 72h\n  template: .ferry/preview.yaml\n",
    );
    let marks = "    ferry.dev/name: {{ name | yaml }}\n    ferry.dev/expires-at: {{ expires_at | yaml }}\n    ferry.dev/updated-at: {{ updated_at | yaml }}\n";
    let templates = [
        // An object named like the app-of-apps.
        format!(
            "apiVersion: argoproj.io/v1alpha1\nkind: Application\nmetadata:\n  name: apps\n  namespace: argocd\n  annotations:\n{marks}spec:\n  destination:\n    namespace: {{{{ namespace }}}}\n"
        ),
        // Deploying into an environment's namespace.
        format!(
            "apiVersion: argoproj.io/v1alpha1\nkind: Application\nmetadata:\n  name: {{{{ slug }}}}\n  namespace: argocd\n  annotations:\n{marks}spec:\n  destination:\n    namespace: production\n"
        ),
        // A Helm release stored in (and so replacing) production's release records.
        format!(
            "apiVersion: helm.toolkit.fluxcd.io/v2\nkind: HelmRelease\nmetadata:\n  name: {{{{ slug }}}}\n  namespace: {{{{ agent_namespace }}}}\n  annotations:\n{marks}spec:\n  releaseName: production\n  targetNamespace: {{{{ namespace }}}}\n  storageNamespace: production\n"
        ),
    ];
    for template in templates {
        let lab = new_lab(Kind::GitHub, &config);
        remote::commit_files(
            &lab.repo,
            "main",
            &[(".ferry/preview.yaml", Some(template.as_bytes()))],
            "template",
        );
        let out = preview(&lab, &["up", "--name", "feature/x", "ghcr.io/acme/cart=1"]);
        assert_eq!(code(&out), 4, "{template}\n{}", text(&out));
        assert!(
            String::from_utf8_lossy(&out.stderr).contains("production")
                || String::from_utf8_lossy(&out.stderr).contains("`apps`"),
            "{}",
            text(&out)
        );
        assert!(
            remote::branch_tip(&lab.repo, BRANCH).is_none(),
            "nothing pushed"
        );

        // `ferry check` on a checkout reports the same.
        let checkout = lab.dir.path().join("checkout");
        crate::support::write_tree(
            &checkout,
            &[
                ("ferry.yaml", config.as_str()),
                (".ferry/preview.yaml", template.as_str()),
                ("previews/base/kustomization.yaml", "resources: []\n"),
                ("envs/production/kustomization.yaml", "resources: []\n"),
                ("envs/shop-staging/kustomization.yaml", "resources: []\n"),
            ],
        );
        let out = crate::support::ferry()
            .args(["check", "--dir"])
            .arg(&checkout)
            .env_remove("GITHUB_ACTIONS")
            .env_remove("GITLAB_CI")
            .output()
            .expect("ferry runs");
        assert_ne!(code(&out), 0, "{template}\n{}", text(&out));
        assert!(text(&out).contains("preview"), "{}", text(&out));
    }
}

/// A second forge on another port that records what it is asked: the attacker's host.
struct Elsewhere {
    _dir: tempfile::TempDir,
    _git: GitServer,
    forge: ForgeServer,
}

fn elsewhere() -> Elsewhere {
    let dir = tempfile::tempdir().expect("tempdir");
    let root = dir.path().join("srv");
    std::fs::create_dir_all(root.join("evil")).expect("mkdir");
    remote::bare_repo(&root, "evil/shop.git", "main", &[("x", b"x\n")]);
    let git = GitServer::start(&root);
    let forge = ForgeServer::start(&git);
    forge.add_token(BOT_TOKEN, "ferry-bot", Access::Write);
    Elsewhere {
        _dir: dir,
        _git: git,
        forge,
    }
}

/// Rewrites the preview file `path` on the previews branch as someone with write access to it
/// would: its change request annotations now name `project`'s merge request 1.
fn point_at(lab: &Lab, path: &str, project: &str) {
    let text = file_text(lab, path);
    let planted = text.replace(
        "    ferry.dev/name:",
        &format!(
            "    ferry.dev/change-request: \"1\"\n    ferry.dev/project: \"{project}\"\n    ferry.dev/name:"
        ),
    );
    assert_ne!(planted, text);
    remote::commit_files(
        &lab.repo,
        BRANCH,
        &[(path, Some(planted.as_bytes()))],
        "plant",
    );
}

#[test]
fn a_preview_file_never_sends_the_token_to_the_forge_it_names() {
    for kind in KINDS {
        let lab = new_lab(kind, CONFIG);
        let evil = elsewhere();
        let project = format!("{}/evil/shop", evil.forge.web_url());
        let report = up(&lab, "feat/planted");
        let file = report["file"].as_str().expect("file").to_owned();
        point_at(&lab, &file, &project);
        let asked_before = lab.forge.requests().len();

        // gc, with the lab's API configured and with the API derived from the project's URL.
        for derived in [false, true] {
            let mut cmd = command(&lab);
            if derived {
                cmd.env_remove("FERRY_API_URL");
            }
            let out = cmd
                .args(["preview", "gc", "--output", "json"])
                .output()
                .expect("ferry runs");
            assert_eq!(code(&out), 0, "{kind:?}: {}", text(&out));
            let stderr = String::from_utf8_lossy(&out.stderr);
            assert!(stderr.contains("previews.projects"), "{stderr}");
            assert_eq!(json_of(&out)["kept"], 1, "open until it expires");
        }
        // It still expires by its time to live, without asking anyone.
        let out = command(&lab)
            .args(["preview", "gc", "--output", "json", "--now", LATER])
            .output()
            .expect("ferry runs");
        assert_eq!(json_of(&out)["removed"].as_array().map(Vec::len), Some(1));

        // down (which comments on the change request) does not ask either.
        let report = up(&lab, "feat/planted");
        point_at(&lab, report["file"].as_str().expect("file"), &project);
        let out = preview(&lab, &["down", "--name", "feat/planted"]);
        assert_eq!(code(&out), 0, "{}", text(&out));

        assert!(
            evil.forge.requests().is_empty(),
            "{kind:?}: the other host was asked: {:?}",
            evil.forge.requests()
        );
        let asked: Vec<String> = lab.forge.requests()[asked_before..]
            .iter()
            .map(|r| r.path.clone())
            .collect();
        assert!(
            asked.iter().all(|p| !p.contains("evil")),
            "{kind:?}: the lab was asked about another project: {asked:?}"
        );
    }
}

#[test]
fn an_allowed_project_is_asked_and_others_are_not() {
    let lab = new_lab(Kind::GitHub, CONFIG);
    // A merge request of the shop: the run's own application repository is always allowed.
    remote::git(
        &lab.root.join("acme/shop.git"),
        &["branch", "feat/ok", "main"],
    );
    remote::commit_files(
        &lab.root.join("acme/shop.git"),
        "feat/ok",
        &[("CHANGES.md", Some(b"ok".as_slice()))],
        "ok",
    );
    let answer = client::send_json(
        "POST",
        &format!("{}/repos/acme/shop/pulls", lab.forge.github_api_url()),
        &[("authorization", &format!("token {ALICE_TOKEN}"))],
        &json!({"title": "ok", "head": "feat/ok", "base": "main", "body": ""}),
    )
    .expect("open");
    assert_eq!(answer.status, 201, "{}", answer.text());
    let number = answer.json()["number"].as_u64().expect("number");
    let out = preview(
        &lab,
        &[
            "up",
            "--output",
            "json",
            "--name",
            "feat/ok",
            "--mr",
            &number.to_string(),
            "ghcr.io/acme/cart=1",
        ],
    );
    ok(&out);
    // gc run from another repository's pipeline still asks the shop when ferry.yaml lists it.
    let listed = CONFIG.replace(
        "  ttl: 72h\n",
        &format!("  ttl: 72h\n  projects: ['{}']\n", lab.url(SHOP)),
    );
    remote::commit_files(
        &lab.repo,
        "main",
        &[("ferry.yaml", Some(listed.as_bytes()))],
        "allow the shop",
    );
    let before = lab.forge.requests().len();
    let out = command(&lab)
        .env_remove("FERRY_APP_REPO")
        .args(["preview", "gc", "--output", "json"])
        .output()
        .expect("ferry runs");
    assert_eq!(json_of(&out)["kept"], 1, "{}", text(&out));
    let asked: Vec<String> = lab.forge.requests()[before..]
        .iter()
        .map(|r| r.path.clone())
        .collect();
    assert!(
        asked
            .iter()
            .any(|p| p.contains(&format!("acme/shop/pulls/{number}"))),
        "{asked:?}"
    );
}

/// What no output may carry raw: workflow commands at a line's start, escape sequences, fake
/// trailers, bidi controls.
fn assert_unforgeable(what: &str, text: &str) {
    for line in text.lines() {
        let line = line.trim_start();
        assert!(
            !line.starts_with("::"),
            "{what}: workflow command: {line:?}"
        );
        assert!(
            !line.starts_with("Signed-off-by"),
            "{what}: fake trailer: {line:?}"
        );
    }
    for c in text.chars() {
        let control = c.is_control() && c != '\n' && c != '\t';
        let invisible = matches!(
            c,
            '\u{200b}'..='\u{200f}'
                | '\u{202a}'..='\u{202e}'
                | '\u{2060}'..='\u{2064}'
                | '\u{2066}'..='\u{2069}'
                | '\u{feff}'
        );
        assert!(!control && !invisible, "{what}: raw {c:?} in {text:?}");
    }
}

#[test]
fn names_and_files_planted_on_the_previews_branch_cannot_forge_output() {
    for kind in KINDS {
        let lab = new_lab(kind, CONFIG);
        let hostile = "feat\u{202e}x ::error::pwned \u{1b}[31mred\nSigned-off-by: evil";
        let report = up(&lab, hostile);
        let own = report["file"].as_str().expect("file").to_owned();
        // Files planted by hand, with ferry's annotations, under names ferry never writes.
        let planted = file_text(&lab, &own);
        let foreign = [
            "apps/::error::pwned.yaml",
            "apps/x\u{1b}[31mred.yaml",
            "apps/feat\u{202e}lmth.yaml",
            "apps/production.yaml",
        ];
        let files: Vec<(&str, Option<&[u8]>)> = foreign
            .iter()
            .map(|f| (*f, Some(planted.as_bytes())))
            .collect();
        remote::commit_files(&lab.repo, BRANCH, &files, "plant");

        let list = preview(&lab, &["list"]);
        assert_eq!(code(&list), 0, "{}", text(&list));
        let shown = String::from_utf8_lossy(&list.stdout);
        assert_unforgeable("list", &shown);
        assert_unforgeable("list stderr", &String::from_utf8_lossy(&list.stderr));
        assert!(shown.contains("\\u{202e}"), "{shown}");

        let json = preview(&lab, &["list", "--output", "json"]);
        let raw = String::from_utf8_lossy(&json.stdout).to_string();
        assert_unforgeable("list json", &raw);
        let listed = json_of(&json);
        let previews = listed["previews"].as_array().expect("previews");
        assert_eq!(previews.len(), 1, "{kind:?}: only ferry's own: {listed}");
        assert_eq!(previews[0]["file"], own.as_str());
        assert_eq!(previews[0]["name"], hostile, "JSON reads back exactly");
        assert_eq!(
            listed["other_files"].as_array().map(Vec::len),
            Some(foreign.len()),
            "{listed}"
        );

        let gc = command(&lab)
            .args(["preview", "gc", "--now", LATER])
            .output()
            .expect("ferry runs");
        assert_eq!(code(&gc), 0, "{}", text(&gc));
        assert_unforgeable("gc", &String::from_utf8_lossy(&gc.stdout));
        assert_unforgeable("gc stderr", &String::from_utf8_lossy(&gc.stderr));
        let commit = &remote::log(&lab.repo, BRANCH)[0];
        assert_unforgeable("gc commit", &commit.message);
        let left = branch_files(&lab);
        assert!(
            !left.contains_key(&own),
            "ferry's own expired preview is collected"
        );
        for file in foreign {
            assert!(
                left.contains_key(file),
                "{kind:?}: {file:?} is not ferry's: left alone"
            );
        }
    }
}
