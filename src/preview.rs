//! Preview environments: the custom resource a preview is made of, rendered from a template and
//! checked before anything is pushed.
//!
//! A preview's inputs come partly from people ferry does not trust (a fork's branch name, a
//! merge request's title). They reach the rendered file only as values of the template's
//! context, through the `yaml` filter (one YAML string, whatever the text) and as
//! [`slug::preview_label`]s; never as template source. The result must then parse as YAML, hold only
//! the kinds the template may make, and name only what the preview owns: its resources are
//! named after the slug and live in the preview's namespace or the agent's; no namespace of the
//! environments or the cluster; a Namespace only with annotations that keep its agent from
//! adopting or deleting one that exists.

use std::collections::BTreeMap;

use serde::Serialize;

use crate::clock::Time;
use crate::render::{self, RenderError};
use crate::slug;

/// The annotations ferry reads back from a preview's file: what it is called, when it expires
/// and was last updated, and the change request it belongs to.
pub const ANNOTATION_NAME: &str = "ferry.dev/name";
pub const ANNOTATION_EXPIRES: &str = "ferry.dev/expires-at";
pub const ANNOTATION_UPDATED: &str = "ferry.dev/updated-at";
pub const ANNOTATION_CHANGE_REQUEST: &str = "ferry.dev/change-request";
pub const ANNOTATION_PROJECT: &str = "ferry.dev/project";
pub const ANNOTATION_CHANGE_REQUEST_URL: &str = "ferry.dev/change-request-url";

/// The built-in Argo CD `Application` template.
pub const ARGOCD: &str = include_str!("../templates/preview-argocd.yaml.tera");

/// The built-in Flux template: a `Namespace` and a `Kustomization`.
pub const FLUX: &str = include_str!("../templates/preview-flux.yaml.tera");

/// The kinds a built-in or repository template may make: (apiVersion, kind).
pub const ALLOWED_KINDS: &[(&str, &str)] = &[
    ("argoproj.io/v1alpha1", "Application"),
    ("v1", "Namespace"),
    ("kustomize.toolkit.fluxcd.io/v1", "Kustomization"),
    ("helm.toolkit.fluxcd.io/v2", "HelmRelease"),
    ("source.toolkit.fluxcd.io/v1", "GitRepository"),
];

/// Which template a preview is rendered from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Template<'a> {
    Argocd,
    Flux,
    /// The repository's own: its path (for messages) and text.
    File {
        name: &'a str,
        text: &'a str,
    },
}

impl Template<'_> {
    fn source(&self) -> (&str, &str) {
        match self {
            Template::Argocd => ("built-in argocd preview template", ARGOCD),
            Template::Flux => ("built-in flux preview template", FLUX),
            Template::File { name, text } => (name, text),
        }
    }

    /// Where the agent keeps its resources, unless the configuration says otherwise.
    #[must_use]
    pub fn default_agent_namespace(&self) -> &'static str {
        match self {
            Template::Flux => "flux-system",
            _ => "argocd",
        }
    }
}

/// One image of a preview.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct PreviewImage {
    /// The normalized name (`ghcr.io/acme/cart`).
    pub name: String,
    /// The name's last component (`cart`), for Helm value keys.
    pub short: String,
    pub tag: String,
    pub digest: Option<String>,
    /// `name:tag[@digest]`.
    pub reference: String,
    /// Every spelling of the name a manifest may use (`nginx`, `docker.io/library/nginx`, …),
    /// the familiar one first: kustomize matches `images:` names literally.
    pub names: Vec<String>,
    /// [`PreviewImage::reference`] for each of [`PreviewImage::names`].
    pub references: Vec<String>,
}

impl PreviewImage {
    /// The preview image for `image` at `tag` (empty for a digest-only request) and `digest`.
    pub fn new(image: &crate::image::ImageName, tag: &str, digest: Option<&str>) -> PreviewImage {
        let version = match digest {
            Some(d) if tag.is_empty() => format!("@{d}"),
            Some(d) => format!(":{tag}@{d}"),
            None => format!(":{tag}"),
        };
        let names = image.spellings();
        let name = image.to_string();
        PreviewImage {
            short: image.last_component().to_owned(),
            reference: format!("{name}{version}"),
            references: names.iter().map(|n| format!("{n}{version}")).collect(),
            names,
            name,
            tag: tag.to_owned(),
            digest: digest.map(str::to_owned),
        }
    }
}

/// The change request a preview belongs to.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct PreviewChangeRequest {
    pub number: u64,
    /// The web URL of the application repository it belongs to (where `gc` asks its state).
    pub project: Option<String>,
    pub url: Option<String>,
    pub title: Option<String>,
    pub author: Option<String>,
}

/// The application's source the images were built from.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct PreviewSource {
    pub repo: Option<String>,
    pub commit: Option<String>,
    pub branch: Option<String>,
}

/// What the preview deploys: the manifests' repository, revision and path, and how images are
/// set (`kustomize` images or `helm` parameters).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct PreviewDeploy {
    pub repo: String,
    pub revision: String,
    pub path: String,
    pub images: String,
}

/// Everything a preview template can use.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct PreviewContext {
    /// The preview's name as given (untrusted: quote it with `yaml`).
    pub name: String,
    /// The name as a DNS label: the resources' names.
    pub slug: String,
    /// The namespace the preview runs in (the slug, within the namespace limit).
    pub namespace: String,
    /// A Helm release name (the slug, within the release limit).
    pub release: String,
    /// Where the agent's resources live (`argocd`, `flux-system`).
    pub agent_namespace: String,
    /// The start of every name of a preview (`previews.prefix`).
    pub prefix: String,
    /// Namespaces no document may name besides [`slug::RESERVED_NAMESPACES`]: the repository's
    /// environments (their names and the namespaces they declare). Not given to templates.
    #[serde(skip)]
    pub reserved: Vec<String>,
    pub change_request: Option<PreviewChangeRequest>,
    pub source: PreviewSource,
    pub deploy: PreviewDeploy,
    pub images: Vec<PreviewImage>,
    /// `--set KEY=VALUE` values.
    pub values: BTreeMap<String, String>,
    /// The preview's address, from the configured pattern.
    pub url: Option<String>,
    /// RFC 3339 times: when the preview expires unless renewed, and its last update.
    pub expires_at: String,
    pub updated_at: String,
}

/// The names of a preview, from its (untrusted) name, the configured prefix and limits:
/// (slug, namespace, release). Every one is [`slug::preview_label`]: the prefix, a readable part
/// and the hash of the whole name, so no name is one a branch chose (`production`,
/// `flux-system`, another preview's slug). The slug names the file, the objects and the URL.
#[must_use]
pub fn names(
    name: &str,
    prefix: &str,
    namespace_limit: usize,
    release_limit: usize,
) -> (String, String, String) {
    let namespace = slug::preview_label(prefix, name, namespace_limit);
    let release = slug::preview_label(prefix, name, release_limit);
    (namespace.clone(), namespace, release)
}

/// The namespaces of the repository's own environments, which no preview may name: their
/// names (the usual namespace of an environment). [`slug::RESERVED_NAMESPACES`] and `kube-*`
/// are reserved besides.
#[must_use]
pub fn reserved_of(config: &crate::config::Config) -> Vec<String> {
    config.environments.keys().cloned().collect()
}

/// A rendered preview that failed its checks: nothing is pushed.
#[derive(Debug, thiserror::Error)]
pub enum PreviewError {
    #[error("preview template {0}")]
    Render(#[from] RenderError),
    #[error("{template}: the rendered preview is not valid YAML ({detail}); nothing was pushed")]
    NotYaml { template: String, detail: String },
    #[error(
        "{template}: no resource of the rendered preview carries {missing}; ferry reads these annotations back to list, renew and collect previews; copy the `annotations:` block of the built-in template (docs/previews.md); nothing was pushed"
    )]
    Unmarked { template: String, missing: String },
    #[error(
        "{template}: document {document} of the rendered preview {problem}; nothing was pushed"
    )]
    Refused {
        template: String,
        document: usize,
        problem: String,
    },
}

/// Renders a preview and checks the result (see [`check`]).
pub fn render(template: &Template<'_>, context: &PreviewContext) -> Result<String, PreviewError> {
    let (name, source) = template.source();
    let text = render::template_text(name, source, context).map_err(|mut err| {
        err.detail = locate_undefined(source, &err.detail);
        err
    })?;
    check(name, &text, context)?;
    Ok(text)
}

/// Names the template line of an undefined variable: tera says which variable, not where.
pub fn locate_undefined(source: &str, detail: &str) -> String {
    let Some(variable) = detail
        .split("Variable `")
        .nth(1)
        .and_then(|rest| rest.split('`').next())
    else {
        return detail.to_owned();
    };
    let line = source
        .lines()
        .enumerate()
        .find(|(_, line)| line.contains(variable) && (line.contains("{{") || line.contains("{%")));
    match line {
        Some((n, _)) => format!("line {}: {detail}", n + 1),
        None => detail.to_owned(),
    }
}

/// Checks a rendered preview: every document parses, is a mapping with an `apiVersion` and
/// `kind` in [`ALLOWED_KINDS`], is named after the slug (`slug` or `slug-…`), and sits in the
/// preview's namespace or the agent's; a `Namespace` must be the preview's own.
pub fn check(template: &str, text: &str, context: &PreviewContext) -> Result<(), PreviewError> {
    let documents: Vec<serde_json::Value> =
        serde_saphyr::from_multiple(text).map_err(|err| PreviewError::NotYaml {
            template: template.to_owned(),
            // The parser's first line (what and where) only: its snippet would quote the
            // rendered text into the log.
            detail: err
                .to_string()
                .lines()
                .next()
                .unwrap_or_default()
                .trim()
                .to_owned(),
        })?;
    let refuse = |document: usize, problem: String| PreviewError::Refused {
        template: template.to_owned(),
        document,
        problem,
    };
    let documents: Vec<(usize, serde_json::Value)> = documents
        .into_iter()
        .enumerate()
        .filter(|(_, d)| !d.is_null())
        .map(|(i, d)| (i + 1, d))
        .collect();
    if documents.is_empty() {
        return Err(refuse(1, "is empty".to_owned()));
    }
    for (n, document) in &documents {
        let n = *n;
        let field = |path: &[&str]| -> Option<&str> {
            let mut value = document;
            for key in path {
                value = value.get(key)?;
            }
            value.as_str()
        };
        if !document.is_object() {
            return Err(refuse(n, "is not a mapping".to_owned()));
        }
        let api_version = field(&["apiVersion"]).unwrap_or_default();
        let kind = field(&["kind"]).unwrap_or_default();
        if !ALLOWED_KINDS.contains(&(api_version, kind)) {
            let allowed: Vec<String> = ALLOWED_KINDS
                .iter()
                .map(|(a, k)| format!("{k} ({a})"))
                .collect();
            return Err(refuse(
                n,
                format!(
                    "is a `{kind}` of `{api_version}`, which a preview may not make (allowed: {})",
                    allowed.join(", ")
                ),
            ));
        }
        let name = field(&["metadata", "name"]).unwrap_or_default();
        let slug = &context.slug;
        let namespace = field(&["metadata", "namespace"]);
        if !slug.starts_with(&context.prefix)
            || slug::is_reserved(&context.namespace, &context.reserved)
        {
            return Err(refuse(
                n,
                format!(
                    "would be preview `{slug}` in namespace `{}`, outside the preview space (names start with `{}` and are no environment's or agent's namespace)",
                    context.namespace, context.prefix
                ),
            ));
        }
        if kind == "Namespace" {
            if name != context.namespace {
                return Err(refuse(
                    n,
                    format!(
                        "makes namespace `{name}`, not the preview's own `{}`",
                        context.namespace
                    ),
                ));
            }
            if !never_pruned(document) {
                return Err(refuse(
                    n,
                    format!(
                        "makes namespace `{name}` that its agent could adopt and delete; annotate it `kustomize.toolkit.fluxcd.io/prune: disabled` and `kustomize.toolkit.fluxcd.io/ssa: IfNotPresent` (Flux) or `argocd.argoproj.io/sync-options: Prune=false` (Argo CD), as the built-in flux template does"
                    ),
                ));
            }
            continue;
        }
        if (name != slug && !name.starts_with(&format!("{slug}-")))
            || slug::is_reserved(name, &context.reserved)
        {
            return Err(refuse(
                n,
                format!(
                    "names a {kind} `{name}`; a preview's resources are named `{slug}` or `{slug}-…`"
                ),
            ));
        }
        if let Some(namespace) = namespace
            && namespace != context.namespace
            && namespace != context.agent_namespace
        {
            return Err(refuse(
                n,
                format!(
                    "puts {kind} `{name}` in namespace `{namespace}`; a preview's resources go in `{}` or `{}`",
                    context.namespace, context.agent_namespace
                ),
            ));
        }
        // Where an Application deploys to, where a Kustomization or HelmRelease puts things,
        // where Helm keeps its release records.
        for path in [
            &["spec", "destination", "namespace"][..],
            &["spec", "targetNamespace"][..],
            &["spec", "storageNamespace"][..],
        ] {
            if let Some(target) = field(path)
                && target != context.namespace
            {
                return Err(refuse(
                    n,
                    format!(
                        "deploys into namespace `{target}` ({}); a preview deploys into `{}`",
                        path.join("."),
                        context.namespace
                    ),
                ));
            }
        }
        for path in [
            &["spec", "releaseName"][..],
            &["spec", "source", "helm", "releaseName"][..],
        ] {
            if let Some(release) = field(path)
                && release != context.release
                && !release.starts_with(&format!("{slug}-"))
            {
                return Err(refuse(
                    n,
                    format!(
                        "names Helm release `{release}` ({}); a preview's release is `{}`",
                        path.join("."),
                        context.release
                    ),
                ));
            }
        }
    }
    let mut wanted = vec![
        (ANNOTATION_NAME, context.name.clone()),
        (ANNOTATION_EXPIRES, context.expires_at.clone()),
        (ANNOTATION_UPDATED, context.updated_at.clone()),
    ];
    if let Some(cr) = &context.change_request {
        wanted.push((ANNOTATION_CHANGE_REQUEST, cr.number.to_string()));
        if let Some(project) = &cr.project {
            wanted.push((ANNOTATION_PROJECT, project.clone()));
        }
    }
    let marked = documents.iter().any(|(_, document)| {
        wanted
            .iter()
            .all(|(key, value)| annotation(document, key) == Some(value.as_str()))
    });
    if !marked {
        let missing: Vec<String> = wanted
            .iter()
            .map(|(key, value)| format!("`{key}: {}`", render::yaml_string(value)))
            .collect();
        return Err(PreviewError::Unmarked {
            template: template.to_owned(),
            missing: missing.join(", "),
        });
    }
    Ok(())
}

/// Whether a `Namespace` document tells its agent never to delete it, nor to take over one that
/// exists: Flux's `kustomize.toolkit.fluxcd.io/prune: disabled` (skipped by garbage collection)
/// with `kustomize.toolkit.fluxcd.io/ssa: IfNotPresent` (applied only when absent), as labels or
/// annotations; or Argo CD's `argocd.argoproj.io/sync-options` holding `Prune=false`.
fn never_pruned(document: &serde_json::Value) -> bool {
    let meta = |key: &str| -> Option<&str> {
        let metadata = document.get("metadata")?;
        ["annotations", "labels"]
            .iter()
            .find_map(|kind| metadata.get(kind)?.get(key)?.as_str())
    };
    let flux = meta("kustomize.toolkit.fluxcd.io/prune")
        .is_some_and(|v| v.eq_ignore_ascii_case("disabled"))
        && meta("kustomize.toolkit.fluxcd.io/ssa")
            .is_some_and(|v| v.eq_ignore_ascii_case("ifnotpresent"));
    let argo = meta("argocd.argoproj.io/sync-options")
        .is_some_and(|v| v.split(',').any(|o| o.trim() == "Prune=false"));
    flux || argo
}

fn annotation<'a>(document: &'a serde_json::Value, key: &str) -> Option<&'a str> {
    document
        .get("metadata")?
        .get("annotations")?
        .get(key)?
        .as_str()
}

/// What ferry reads back from a preview's file.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Meta {
    /// The preview's name (untrusted text).
    pub name: String,
    pub expires_at: Option<Time>,
    pub updated_at: Option<Time>,
    pub change_request: Option<u64>,
    /// The application repository of the change request.
    pub project: Option<String>,
    pub change_request_url: Option<String>,
}

/// Reads the lifecycle annotations of a preview's file (the first resource that has
/// [`ANNOTATION_NAME`]). `Err` says why the file is not a preview of ferry's.
pub fn read_meta(text: &str) -> Result<Meta, String> {
    let documents: Vec<serde_json::Value> =
        serde_saphyr::from_multiple(text).map_err(|e| format!("not valid YAML ({e})"))?;
    let document = documents
        .iter()
        .find(|d| annotation(d, ANNOTATION_NAME).is_some())
        .ok_or_else(|| format!("no resource is annotated `{ANNOTATION_NAME}`"))?;
    let get = |key: &str| annotation(document, key).map(str::to_owned);
    let time = |key: &str| -> Result<Option<Time>, String> {
        get(key)
            .map(|t| Time::parse(&t).map_err(|e| format!("{key}: {e}")))
            .transpose()
    };
    let change_request = get(ANNOTATION_CHANGE_REQUEST)
        .map(|n| {
            n.parse::<u64>()
                .map_err(|_| format!("{ANNOTATION_CHANGE_REQUEST}: `{n}` is not a number"))
        })
        .transpose()?;
    Ok(Meta {
        name: get(ANNOTATION_NAME).unwrap_or_default(),
        expires_at: time(ANNOTATION_EXPIRES)?,
        updated_at: time(ANNOTATION_UPDATED)?,
        change_request,
        project: get(ANNOTATION_PROJECT),
        change_request_url: get(ANNOTATION_CHANGE_REQUEST_URL),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    pub(crate) fn context(name: &str) -> PreviewContext {
        let (slug, namespace, release) = names(name, "preview-", 63, 53);
        PreviewContext {
            name: name.to_owned(),
            url: Some(format!("https://{slug}.preview.example.com")),
            slug,
            namespace,
            release,
            agent_namespace: "argocd".to_owned(),
            prefix: "preview-".to_owned(),
            reserved: vec!["production".to_owned(), "staging".to_owned()],
            change_request: Some(PreviewChangeRequest {
                number: 42,
                project: Some("https://gitlab.example.com/acme/shop".to_owned()),
                url: Some("https://gitlab.example.com/acme/shop/-/merge_requests/42".to_owned()),
                title: Some("Add the new cart".to_owned()),
                author: Some("alice".to_owned()),
            }),
            source: PreviewSource {
                repo: Some("https://gitlab.example.com/acme/shop".to_owned()),
                commit: Some("9d8c7b6a5f4e3d2c1b0a9d8c7b6a5f4e3d2c1b0a".to_owned()),
                branch: Some(name.to_owned()),
            },
            deploy: PreviewDeploy {
                repo: "https://gitlab.example.com/acme/env.git".to_owned(),
                revision: "main".to_owned(),
                path: "previews/base".to_owned(),
                images: "kustomize".to_owned(),
            },
            images: vec![PreviewImage::new(
                &crate::image::ImageName::parse("ghcr.io/acme/cart").expect("name"),
                "9d8c7b6",
                None,
            )],
            values: BTreeMap::new(),
            expires_at: "2026-11-30T12:00:00Z".to_owned(),
            updated_at: "2026-11-23T12:00:00Z".to_owned(),
        }
    }

    #[test]
    fn both_built_in_templates_render_and_pass_their_checks() {
        for (template, agent) in [
            (Template::Argocd, "argocd"),
            (Template::Flux, "flux-system"),
        ] {
            let mut ctx = context("feature/new-cart");
            ctx.agent_namespace = agent.to_owned();
            let text = render(&template, &ctx).expect("render");
            assert!(text.contains(&ctx.slug), "{text}");
        }
    }

    #[test]
    fn hostile_names_and_titles_stay_data() {
        for hostile in [
            "x\nkind: Secret",
            "\"; kind: Secret #",
            "---\napiVersion: v1\nkind: Secret",
            "../../../etc",
            "{{ get_env(name=\"CI_JOB_TOKEN\") }}",
            "ｆｅａｔ",
            &"z".repeat(300),
            "",
        ] {
            for template in [Template::Argocd, Template::Flux] {
                let mut ctx = context(hostile);
                ctx.agent_namespace = template.default_agent_namespace().to_owned();
                if let Some(cr) = ctx.change_request.as_mut() {
                    cr.title = Some(hostile.to_owned());
                }
                let text = render(&template, &ctx).unwrap_or_else(|e| panic!("{hostile:?}: {e}"));
                let documents: Vec<serde_json::Value> =
                    serde_saphyr::from_multiple(&text).expect("yaml");
                let expected = if template == Template::Flux { 2 } else { 1 };
                assert_eq!(documents.len(), expected, "{hostile:?}:\n{text}");
                let annotations = &documents[expected - 1]["metadata"]["annotations"];
                assert_eq!(annotations["ferry.dev/name"], hostile, "{text}");
                assert!(
                    !text.contains("get_env(name=\"CI_JOB_TOKEN\") }}\n"),
                    "{text}"
                );
            }
        }
    }

    #[test]
    fn repository_templates_are_checked_before_anything_is_pushed() {
        let ctx = context("feature/new-cart");
        let refused = |text: &str| {
            let template = Template::File {
                name: ".ferry/preview.yaml",
                text,
            };
            render(&template, &ctx).expect_err(text).to_string()
        };
        let secret = refused("apiVersion: v1\nkind: Secret\nmetadata:\n  name: {{ slug }}\n");
        assert!(secret.contains("may not make"), "{secret}");
        let other = refused(
            "apiVersion: argoproj.io/v1alpha1\nkind: Application\nmetadata:\n  name: production\n",
        );
        assert!(other.contains("named"), "{other}");
        let elsewhere = refused(
            "apiVersion: argoproj.io/v1alpha1\nkind: Application\nmetadata:\n  name: {{ slug }}\n  namespace: kube-system\n",
        );
        assert!(elsewhere.contains("kube-system"), "{elsewhere}");
        let target = refused(
            "apiVersion: argoproj.io/v1alpha1\nkind: Application\nmetadata:\n  name: {{ slug }}\nspec:\n  destination:\n    namespace: production\n",
        );
        assert!(
            target.contains("deploys into namespace `production`"),
            "{target}"
        );
        let namespace = refused("apiVersion: v1\nkind: Namespace\nmetadata:\n  name: default\n");
        assert!(namespace.contains("not the preview's own"), "{namespace}");
        let broken = refused("a: [\n");
        assert!(broken.contains("not valid YAML"), "{broken}");
        let empty = refused("# nothing\n");
        assert!(empty.contains("empty"), "{empty}");
        let undefined = refused("apiVersion: v1\nkind: Namespace\nmetadata:\n  name: {{ nope }}\n");
        assert!(undefined.contains("line 4"), "{undefined}");
    }

    fn kinds_of(text: &str) -> Vec<serde_json::Value> {
        serde_saphyr::from_multiple(text).expect("yaml")
    }

    /// Fields the agent requires, with their JSON types, per the Argo CD `Application` and
    /// Flux `Kustomization` (v1) and core `Namespace` schemas.
    fn assert_layout(document: &serde_json::Value) {
        use serde_json::Value;
        let at = |path: &str| -> &Value { path.split('.').fold(document, |v, key| &v[key]) };
        let string = |path: &str| {
            assert!(at(path).is_string(), "{path} must be a string: {document}");
        };
        string("apiVersion");
        string("kind");
        string("metadata.name");
        match at("kind").as_str() {
            Some("Application") => {
                for path in [
                    "metadata.namespace",
                    "spec.project",
                    "spec.source.repoURL",
                    "spec.source.targetRevision",
                    "spec.source.path",
                    "spec.destination.server",
                    "spec.destination.namespace",
                ] {
                    string(path);
                }
                assert!(
                    at("spec.syncPolicy.automated.prune").is_boolean(),
                    "{document}"
                );
                assert!(
                    at("spec.syncPolicy.automated.selfHeal").is_boolean(),
                    "{document}"
                );
                let options = at("spec.syncPolicy.syncOptions")
                    .as_array()
                    .expect("syncOptions");
                assert!(options.iter().all(Value::is_string));
                assert!(options.contains(&Value::from("CreateNamespace=true")));
                let source = at("spec.source");
                match (source.get("kustomize"), source.get("helm")) {
                    (Some(kustomize), None) => {
                        let images = kustomize["images"].as_array().expect("kustomize.images");
                        assert!(!images.is_empty() && images.iter().all(Value::is_string));
                    }
                    (None, Some(helm)) => {
                        assert!(helm["releaseName"].is_string());
                        let parameters = helm["parameters"].as_array().expect("parameters");
                        assert!(
                            parameters
                                .iter()
                                .all(|p| p["name"].is_string() && p["value"].is_string())
                        );
                    }
                    _ => panic!("one of kustomize or helm: {document}"),
                }
            }
            Some("Kustomization") => {
                for path in [
                    "metadata.namespace",
                    "spec.interval",
                    "spec.path",
                    "spec.sourceRef.kind",
                    "spec.sourceRef.name",
                    "spec.targetNamespace",
                ] {
                    string(path);
                }
                assert!(
                    at("spec.prune").is_boolean(),
                    "prune is required: {document}"
                );
                let images = at("spec.images").as_array().expect("images");
                assert!(
                    images
                        .iter()
                        .all(|i| i["name"].is_string() && i["newTag"].is_string())
                );
            }
            Some("HelmRelease") => {
                for path in [
                    "metadata.namespace",
                    "spec.interval",
                    "spec.releaseName",
                    "spec.targetNamespace",
                    "spec.chart.spec.chart",
                    "spec.chart.spec.sourceRef.kind",
                    "spec.chart.spec.sourceRef.name",
                ] {
                    string(path);
                }
                assert!(at("spec.values").is_object(), "values: {document}");
                assert!(at("spec.values.image.repository").is_string(), "{document}");
                assert!(at("spec.values.image.tag").is_string(), "{document}");
            }
            Some("Namespace") => {}
            other => panic!("unexpected kind {other:?}"),
        }
    }

    #[test]
    fn kustomize_overrides_name_docker_hub_images_in_every_spelling() {
        // kustomize matches `images:` names literally: manifests saying `nginx:1.25` or
        // `acme/cart:v1` keep their tag unless the override spells the name their way.
        let mut context = context("feature/new-cart");
        context.images = vec![
            PreviewImage::new(
                &crate::image::ImageName::parse("acme/cart").expect("name"),
                "v2",
                None,
            ),
            PreviewImage::new(
                &crate::image::ImageName::parse("nginx").expect("name"),
                "1.27",
                None,
            ),
        ];
        let argocd = render(&Template::Argocd, &context).expect("argocd");
        let app = kinds_of(&argocd)
            .into_iter()
            .find(|d| d["kind"] == "Application")
            .expect("an Application");
        let overrides: Vec<&str> = app["spec"]["source"]["kustomize"]["images"]
            .as_array()
            .expect("images")
            .iter()
            .filter_map(|v| v.as_str())
            .collect();
        for want in [
            "acme/cart:v2",
            "docker.io/acme/cart:v2",
            "nginx:1.27",
            "library/nginx:1.27",
            "docker.io/library/nginx:1.27",
        ] {
            assert!(overrides.contains(&want), "{want} missing: {overrides:?}");
        }
        context.agent_namespace = "flux-system".to_owned();
        let flux = render(&Template::Flux, &context).expect("flux");
        let kustomization = kinds_of(&flux)
            .into_iter()
            .find(|d| d["kind"] == "Kustomization")
            .expect("a Kustomization");
        let names: Vec<&str> = kustomization["spec"]["images"]
            .as_array()
            .expect("images")
            .iter()
            .filter_map(|v| v["name"].as_str())
            .collect();
        for want in [
            "acme/cart",
            "docker.io/acme/cart",
            "nginx",
            "docker.io/library/nginx",
        ] {
            assert!(names.contains(&want), "{want} missing: {names:?}");
        }
    }

    #[test]
    fn a_long_branch_name_leaves_every_generated_name_valid() {
        // No `namePrefix`: with it, a 63-character slug made the base's Service names longer
        // than 63 characters, and renamed the Services the app's parts address each other by.
        let name = format!("feature/{}", "very-long-branch-name-".repeat(11));
        assert!(name.len() >= 250);
        let context = context(&name);
        for template in [Template::Argocd, Template::Flux] {
            let mut context = context.clone();
            if matches!(template, Template::Flux) {
                context.agent_namespace = "flux-system".to_owned();
            }
            let text = render(&template, &context).expect("renders");
            assert!(!text.contains("namePrefix"), "{text}");
            for document in kinds_of(&text) {
                let metadata = &document["metadata"];
                let object = metadata["name"].as_str().expect("a name");
                assert!(object.len() <= 63, "{object}");
                for namespace in [
                    &metadata["namespace"],
                    &document["spec"]["destination"]["namespace"],
                    &document["spec"]["targetNamespace"],
                ] {
                    if let Some(ns) = namespace.as_str() {
                        assert!(ns.len() <= 63, "{ns}");
                    }
                }
            }
        }
    }

    #[test]
    fn argocd_helm_parameters_keep_all_digit_tags_strings() {
        // `helm --set image.tag=1234567` makes a number; Argo CD's forceString makes it
        // `--set-string`. About 3% of 7-digit commit ids and every pipeline number are all digits.
        let mut argocd = context("feature/new-cart");
        argocd.deploy.images = "helm".to_owned();
        argocd.images[0].tag = "1234567".to_owned();
        let text = render(&Template::Argocd, &argocd).expect("argocd helm");
        let document = kinds_of(&text)
            .into_iter()
            .find(|d| d["kind"] == "Application")
            .expect("an Application");
        let parameters = document["spec"]["source"]["helm"]["parameters"]
            .as_array()
            .expect("parameters");
        let tag = parameters
            .iter()
            .find(|p| p["name"] == "image.tag")
            .expect("the tag parameter");
        assert_eq!(tag["value"], "1234567", "{text}");
        assert_eq!(tag["forceString"], true, "{text}");
    }

    #[test]
    fn a_digest_only_flux_preview_writes_no_empty_tag() {
        // `preview up IMAGE@sha256:…` has no tag: the override pins the digest alone.
        let mut flux = context("feature/new-cart");
        let digest = format!("sha256:{}", "b".repeat(64));
        flux.images[0] = PreviewImage::new(
            &crate::image::ImageName::parse("ghcr.io/acme/cart").expect("name"),
            "",
            Some(&digest),
        );
        let text = render(&Template::Flux, &flux).expect("flux");
        let document = kinds_of(&text)
            .into_iter()
            .find(|d| d["kind"] == "Kustomization")
            .expect("a Kustomization");
        let images = document["spec"]["images"].as_array().expect("images");
        assert!(!images.is_empty(), "{text}");
        for image in images {
            assert!(image.get("newTag").is_none(), "{text}");
            assert_eq!(image["digest"], digest.as_str(), "{text}");
        }
    }

    #[test]
    fn built_in_templates_match_their_snapshots_and_the_agents_layouts() {
        let mut argocd = context("feature/new-cart");
        let kustomize = render(&Template::Argocd, &argocd).expect("argocd");
        insta::assert_snapshot!("argocd-kustomize.yaml", kustomize);

        argocd.deploy.images = "helm".to_owned();
        argocd.images.push(PreviewImage::new(
            &crate::image::ImageName::parse("ghcr.io/acme/web").expect("name"),
            "1.2.3",
            None,
        ));
        let helm = render(&Template::Argocd, &argocd).expect("argocd helm");
        insta::assert_snapshot!("argocd-helm.yaml", helm);

        let mut flux = context("feature/new-cart");
        flux.agent_namespace = "flux-system".to_owned();
        flux.images[0].digest = Some(format!("sha256:{}", "a".repeat(64)));
        let flux_text = render(&Template::Flux, &flux).expect("flux");
        insta::assert_snapshot!("flux.yaml", flux_text);

        flux.deploy.images = "helm".to_owned();
        flux.deploy.path = "charts/shop".to_owned();
        let flux_helm = render(&Template::Flux, &flux).expect("flux helm");
        insta::assert_snapshot!("flux-helm.yaml", flux_helm);

        for text in [&kustomize, &helm, &flux_text, &flux_helm] {
            for document in kinds_of(text) {
                assert_layout(&document);
            }
        }
    }

    #[test]
    fn the_lifecycle_annotations_read_back_and_are_required() {
        let ctx = context("feature/new-cart");
        for template in [Template::Argocd, Template::Flux] {
            let text = render(&template, &ctx).expect("render");
            let meta = read_meta(&text).expect("meta");
            assert_eq!(meta.name, "feature/new-cart");
            assert_eq!(meta.change_request, Some(42));
            assert_eq!(
                meta.project.as_deref(),
                Some("https://gitlab.example.com/acme/shop")
            );
            assert_eq!(
                meta.expires_at.map(|t| t.to_string()).as_deref(),
                Some("2026-11-30T12:00:00Z")
            );
            assert_eq!(
                meta.updated_at.map(|t| t.to_string()).as_deref(),
                Some("2026-11-23T12:00:00Z")
            );
        }
        let bare = Template::File {
            name: ".ferry/preview.yaml",
            text: "apiVersion: v1\nkind: Namespace\nmetadata:\n  name: {{ namespace }}\n  annotations:\n    argocd.argoproj.io/sync-options: Prune=false\n",
        };
        let refused = render(&bare, &ctx).expect_err("unmarked").to_string();
        assert!(
            refused.contains("`ferry.dev/expires-at: \"2026-11-30T12:00:00Z\"`"),
            "{refused}"
        );
        assert!(read_meta("a: 1\n").is_err());
        assert!(read_meta("a: [\n").is_err());
    }

    proptest::proptest! {
        /// Whatever the name and title, both built-in templates render, pass their checks,
        /// and read back the name exactly; any text read as a preview file never panics.
        #[test]
        fn any_name_and_title_render_as_data(name in "\\PC{0,80}", title in "\\PC{0,80}", noise in ".{0,200}") {
            for template in [Template::Argocd, Template::Flux] {
                let mut ctx = context(&name);
                ctx.agent_namespace = template.default_agent_namespace().to_owned();
                if let Some(cr) = ctx.change_request.as_mut() {
                    cr.title = Some(title.clone());
                }
                let text = render(&template, &ctx).expect("renders");
                let meta = read_meta(&text).expect("meta");
                proptest::prop_assert_eq!(&meta.name, &name);
                proptest::prop_assert!(slug::is_dns_label(&ctx.slug, 63));
            }
            let _ = read_meta(&noise);
        }
    }

    #[test]
    fn documents_outside_the_preview_space_are_refused() {
        let ctx = context("feature/new-cart");
        let refused = |text: String| {
            let template = Template::File {
                name: ".ferry/preview.yaml",
                text: &text,
            };
            render(&template, &ctx).expect_err(&text).to_string()
        };
        let marks = "  annotations:\n    ferry.dev/name: {{ name | yaml }}\n    ferry.dev/expires-at: {{ expires_at | yaml }}\n    ferry.dev/updated-at: {{ updated_at | yaml }}\n";
        let helm = |spec: &str| {
            format!(
                "apiVersion: helm.toolkit.fluxcd.io/v2\nkind: HelmRelease\nmetadata:\n  name: {{{{ slug }}}}\n  namespace: argocd\n{marks}spec:\n  targetNamespace: {{{{ namespace }}}}\n{spec}"
            )
        };
        let storage = refused(helm("  storageNamespace: production\n"));
        assert!(storage.contains("spec.storageNamespace"), "{storage}");
        let release = refused(helm("  releaseName: production\n"));
        assert!(release.contains("Helm release `production`"), "{release}");
        // A Namespace its agent could adopt and later delete.
        let namespace = refused(
            "apiVersion: v1\nkind: Namespace\nmetadata:\n  name: {{ namespace }}\n".to_owned(),
        );
        assert!(namespace.contains("prune: disabled"), "{namespace}");
        // An environment's namespace, even when a (hand-made) context would give it.
        let mut own = ctx.clone();
        own.namespace = "production".to_owned();
        let text = render::template_text("t", ARGOCD, &own).expect("renders");
        let err = check("t", &text, &own).expect_err("reserved").to_string();
        assert!(err.contains("outside the preview space"), "{err}");
        // A slug without the prefix.
        let mut bare = ctx.clone();
        bare.slug = "feature-new-cart".to_owned();
        let text = render::template_text("t", ARGOCD, &bare).expect("renders");
        assert!(check("t", &text, &bare).is_err());
        // The release the context gives is fine.
        let ok = helm("  releaseName: {{ release }}\n  storageNamespace: {{ namespace }}\n");
        let template = Template::File {
            name: ".ferry/preview.yaml",
            text: &ok,
        };
        let mut plain = ctx.clone();
        plain.change_request = None;
        render(&template, &plain).expect("its own release and namespace");
    }

    /// A context for `name` under `prefix`, for `template` (kustomize or helm images).
    fn context_under(
        name: &str,
        prefix: &str,
        template: &Template<'_>,
        helm: bool,
    ) -> PreviewContext {
        let mut ctx = context(name);
        let (slug, namespace, release) = names(name, prefix, 63, 53);
        ctx.url = Some(format!("https://{slug}.preview.example.com"));
        ctx.slug = slug;
        ctx.namespace = namespace;
        ctx.release = release;
        ctx.prefix = prefix.to_owned();
        ctx.agent_namespace = template.default_agent_namespace().to_owned();
        if helm {
            ctx.deploy.images = "helm".to_owned();
        }
        ctx
    }

    /// Names a hostile branch would pick: reserved namespaces, agent objects, the prefix itself.
    fn hostile_name() -> impl proptest::strategy::Strategy<Value = String> {
        use proptest::prelude::*;
        prop_oneof![
            any::<String>(),
            proptest::sample::select(vec![
                "production",
                "staging",
                "shop-staging",
                "flux-system",
                "argocd",
                "default",
                "kube-system",
                "apps",
                "previews",
                "infrastructure",
                "preview-",
                "preview",
                "preview-x",
                "",
                "-",
                "\u{202e}",
                "ＰＲＯＤ",
            ])
            .prop_map(str::to_owned),
        ]
    }

    proptest::proptest! {
        /// Whatever the name and the (valid) prefix, every namespace and object name the
        /// built-in templates produce is inside the preview space: it starts with the prefix,
        /// is a DNS label within its limit, and the rendered file passes [`check`].
        #[test]
        fn every_name_stays_in_the_preview_space(
            name in hostile_name(),
            prefix in "[a-z][a-z0-9-]{0,16}-",
        ) {
            proptest::prop_assume!(slug::check_preview_prefix(&prefix).is_ok());
            for template in [Template::Argocd, Template::Flux] {
                for helm in [false, true] {
                    let ctx = context_under(&name, &prefix, &template, helm);
                    let text = render(&template, &ctx).expect("renders and passes the check");
                    proptest::prop_assert!(slug::is_dns_label(&ctx.namespace, 63));
                    proptest::prop_assert!(slug::is_dns_label(&ctx.release, 53));
                    proptest::prop_assert!(ctx.release.starts_with(&prefix));
                    for document in kinds_of(&text) {
                        let object = document["metadata"]["name"].as_str().expect("name");
                        proptest::prop_assert!(object.starts_with(&prefix), "{}", object);
                        proptest::prop_assert!(slug::is_dns_label(object, 63), "{}", object);
                        for target in [
                            &document["spec"]["destination"]["namespace"],
                            &document["spec"]["targetNamespace"],
                        ] {
                            if let Some(target) = target.as_str() {
                                proptest::prop_assert_eq!(target, ctx.namespace.as_str());
                            }
                        }
                        let namespace = document["metadata"]["namespace"].as_str();
                        proptest::prop_assert!(
                            namespace.is_none_or(|n| n == ctx.agent_namespace),
                            "{:?}", namespace
                        );
                        proptest::prop_assert!(!slug::is_reserved(object, &ctx.reserved));
                    }
                }
            }
        }

        /// Two distinct names never share a slug, namespace or release, tried with the names a
        /// squatter would pick: the other's slug, its slug without the prefix, near spellings.
        #[test]
        fn near_miss_names_never_share_a_slug(
            name in hostile_name(),
            prefix in "[a-z][a-z0-9-]{0,16}-",
        ) {
            proptest::prop_assume!(slug::check_preview_prefix(&prefix).is_ok());
            let (slug_a, _, release_a) = names(&name, &prefix, 63, 53);
            let mut misses = vec![
                slug_a.clone(),
                slug_a.trim_start_matches(prefix.as_str()).to_owned(),
                release_a.clone(),
                format!("{prefix}{name}"),
                format!("{name}-"),
                format!("{name}/"),
                name.to_uppercase(),
                name.replace('/', "-"),
                name.chars().rev().collect(),
            ];
            let mut truncated = name.clone();
            truncated.pop();
            misses.push(truncated);
            for other in misses.into_iter().filter(|o| *o != name) {
                let (slug_b, _, release_b) = names(&other, &prefix, 63, 53);
                proptest::prop_assert_ne!(&slug_a, &slug_b, "{:?} vs {:?}", name, other);
                proptest::prop_assert_ne!(&release_a, &release_b, "{:?} vs {:?}", name, other);
            }
        }
    }

    #[test]
    fn names_fit_their_consumers() {
        let long = "feature/".to_owned() + &"a".repeat(80);
        let (slug, namespace, release) = names(&long, "preview-", 63, 53);
        assert_eq!(slug, namespace);
        assert!(slug::is_dns_label(&namespace, 63));
        assert!(slug::is_dns_label(&release, 53));
        assert_eq!(release.len(), 53);
    }
}
