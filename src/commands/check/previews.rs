//! `previews`: the template renders with sample values and passes the checks made before
//! pushing, and `previews.deploy.path` exists.

use super::samples::{
    SAMPLE_BRANCH, SAMPLE_CHANGE_REQUEST, SAMPLE_IMAGES, SAMPLE_TAG, preview_context,
};
use super::{Checker, Error, File, Sample, Severity, not_a_directory};
use crate::config::{self, Config};
use crate::inventory::Inventory;
use crate::preview::{self, PreviewContext, PreviewError, Template};
use crate::tree;

impl Checker<'_> {
    /// `previews`: the template renders and passes the checks made before pushing, and
    /// `deploy.path` exists.
    pub(super) fn previews(&mut self, config: &Config, branch: &str) -> Result<(), Error> {
        let settings = &config.previews;
        let template_keys = ["previews", "template"];
        let file = match &settings.template {
            config::Template::File(path) => match self.template_file(&template_keys, Some(path)) {
                Ok(file) => file,
                Err(()) => {
                    self.report.templates += 1;
                    return self.deploy_path(config, branch);
                }
            },
            _ => None,
        };
        let template = match (&settings.template, &file) {
            (config::Template::Flux, _) => Template::Flux,
            (config::Template::File(_), Some((name, text))) => Template::File { name, text },
            _ => Template::Argocd,
        };
        self.report.templates += 1;
        if let Some(url) = &settings.url
            && !url.contains("{slug}")
        {
            self.at_config(
                Severity::Warning,
                &["previews", "url"],
                true,
                "`previews.url` has no `{slug}`: every preview gets the same address".to_owned(),
                "write `{slug}` where the preview's name goes, e.g. `https://{slug}.preview.example.com`".to_owned(),
            );
        }
        let deploy_path = match (&settings.deploy.path, &template) {
            (Some(path), _) => path.as_str().to_owned(),
            (None, Template::File { .. }) => String::new(),
            (None, _) => {
                self.at_config(
                    Severity::Error,
                    &["previews"],
                    false,
                    format!(
                        "`previews.deploy.path` is not set: the built-in {} template needs the directory a preview deploys",
                        settings.template
                    ),
                    "add it, e.g. `previews: {deploy: {path: previews/base}}` (a kustomization or chart without a namespace)".to_owned(),
                );
                return Ok(());
            }
        };
        let images = self.preview_images(config, branch)?;
        let sample = preview_context(config, &template, branch, deploy_path, images);
        let samples = preview_samples(sample);
        let failed = samples.iter().find_map(|(sample, context)| {
            Some((sample, preview::render(&template, context).err()?))
        });
        if let Some((sample, err)) = failed {
            self.preview_failed(file.as_ref(), &err, sample);
        }
        self.deploy_path(config, branch)
    }

    pub(super) fn preview_failed(
        &mut self,
        file: Option<&File>,
        err: &PreviewError,
        sample: &Sample,
    ) {
        let (message, hint) = match err {
            PreviewError::Render(err) => {
                return self.render_failed(file, &["previews", "template"], err, sample);
            }
            // `detail` is the parser's first line only (see `preview::check`).
            PreviewError::NotYaml { detail, .. } => (
                format!(
                    "the preview rendered {} is not valid YAML ({detail})",
                    sample.label
                ),
                "quote every value with the `yaml` filter: `{{ name | yaml }}`".to_owned(),
            ),
            PreviewError::Unmarked { missing, .. } => (
                format!(
                    "no resource of the preview rendered {} carries {missing}",
                    sample.label
                ),
                "ferry reads these annotations back to list, renew and collect previews; copy the `annotations:` block of a built-in template (docs/previews.md)".to_owned(),
            ),
            PreviewError::Refused {
                document, problem, ..
            } => (
                format!(
                    "document {document} of the preview rendered {} {problem}",
                    sample.label
                ),
                "ferry preview up refuses to push it (exit 4); see \"What ferry refuses\" in docs/previews.md".to_owned(),
            ),
        };
        match file {
            Some((path, _)) => self.push(Severity::Error, path, None, message, hint),
            None => self.at_config(
                Severity::Error,
                &["previews", "template"],
                true,
                format!("built-in preview template: {message}"),
                hint,
            ),
        }
    }

    /// The images of `previews.deploy.path` when it is here, else samples.
    pub(super) fn preview_images(
        &self,
        config: &Config,
        branch: &str,
    ) -> Result<Vec<(String, String)>, Error> {
        let mut images: Vec<(String, String)> = Vec::new();
        if let Some(path) = local_deploy_path(config, branch) {
            let root = tree::inside(self.dir, path)?;
            if root.is_dir() {
                let files = tree::yaml_files(self.dir, &root)?;
                // A file over the size limit is reported by the environment's check.
                let read = tree::scan(&root, &files, |file, content| match content {
                    tree::Content::Bytes(bytes) => Some((file.to_owned(), bytes.to_vec())),
                    tree::Content::TooLarge { .. } => None,
                })?;
                let inventory = Inventory::of_files(
                    path,
                    read.iter()
                        .map(|(file, bytes)| (file.as_str(), bytes.as_slice())),
                );
                images.extend(
                    inventory
                        .images
                        .keys()
                        .map(|name| (name.clone(), SAMPLE_TAG.to_owned())),
                );
            }
        }
        for (name, _) in SAMPLE_IMAGES {
            if images.len() >= 2 {
                break;
            }
            if !images.iter().any(|(n, _)| n == name) {
                images.push(((*name).to_owned(), SAMPLE_TAG.to_owned()));
            }
        }
        images.truncate(2);
        Ok(images)
    }

    /// `previews.deploy.path` exists, when it is in this working tree.
    pub(super) fn deploy_path(&mut self, config: &Config, branch: &str) -> Result<(), Error> {
        let deploy = &config.previews.deploy;
        let Some(path) = &deploy.path else {
            return Ok(());
        };
        let path = path.as_str();
        let keys = ["previews", "deploy", "path"];
        if let Some(repo) = &deploy.repo {
            self.at_config(
                Severity::Notice,
                &keys,
                true,
                format!("`previews.deploy.path` not checked: it lives in {repo}"),
                "check it in that repository".to_owned(),
            );
            return Ok(());
        }
        if local_deploy_path(config, branch).is_none() {
            let revision = deploy.revision.as_deref().unwrap_or_default();
            self.at_config(
                Severity::Notice,
                &keys,
                true,
                format!("`previews.deploy.path` not checked: it lives on `{revision}`"),
                format!("this working tree is checked as branch `{branch}`"),
            );
            return Ok(());
        }
        let root = tree::inside(self.dir, path)?;
        if let Some(what) = not_a_directory(&root) {
            self.at_config(
                Severity::Error,
                &keys,
                true,
                format!("`previews.deploy.path`: `{path}` {what}"),
                "create it, or correct the path: the directory of the kustomization (or chart) each preview deploys, relative to the repository root".to_owned(),
            );
            return Ok(());
        }
        let (wanted, names): (&str, &[&str]) = match deploy.images {
            config::ImagesMode::Kustomize => (
                "a kustomization.yaml",
                &["kustomization.yaml", "kustomization.yml", "Kustomization"],
            ),
            config::ImagesMode::Helm => ("a Chart.yaml", &["Chart.yaml"]),
        };
        if !names.iter().any(|n| root.join(n).is_file()) {
            self.at_config(
                Severity::Warning,
                &keys,
                true,
                format!("`previews.deploy.path`: `{path}` holds no {wanted}"),
                format!(
                    "with `deploy.images: {}` a preview deploys {wanted} from this directory",
                    deploy.images.as_str()
                ),
            );
        }
        Ok(())
    }
}

/// The preview of `sample` (for a merge request, with its images), and the same preview without
/// a merge request and with one image (`preview up --name`).
fn preview_samples(sample: PreviewContext) -> [(Sample, PreviewContext); 2] {
    let without = PreviewContext {
        change_request: None,
        images: sample.images.iter().take(1).cloned().collect(),
        ..sample.clone()
    };
    let docs = "docs/previews.md (Templates)";
    [
        (
            Sample {
                label: format!("for merge request !{SAMPLE_CHANGE_REQUEST} of `{SAMPLE_BRANCH}`"),
                docs,
            },
            sample,
        ),
        (
            Sample {
                label: format!(
                    "for `{SAMPLE_BRANCH}` without a merge request (`preview up --name`)"
                ),
                docs,
            },
            without,
        ),
    ]
}

/// `previews.deploy.path` when it is in this working tree: no other repository, and the
/// revision (by default the branch `ferry.yaml` is read from) is this branch.
fn local_deploy_path<'c>(config: &'c Config, branch: &str) -> Option<&'c str> {
    let deploy = &config.previews.deploy;
    if deploy.repo.is_some() || deploy.revision.as_deref().is_some_and(|r| r != branch) {
        return None;
    }
    deploy.path.as_ref().map(config::RelPath::as_str)
}
