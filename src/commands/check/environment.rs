//! Each environment's directory: it exists, its YAML files parse, and it holds image
//! references `ferry bump` can change.

use super::{Checker, Error, Severity, not_a_directory};
use crate::config::ResolvedEnvironment;
use crate::inventory::Inventory;
use crate::locate::{self, Want};
use crate::plan;
use crate::present::check::plural;
use crate::tree;
use crate::yaml::Yaml;

impl Checker<'_> {
    /// Checks one environment's directory; its images, when it lives on this branch.
    pub(super) fn environment(
        &mut self,
        environment: &ResolvedEnvironment,
        branch: &str,
    ) -> Result<Option<Inventory>, Error> {
        let name = environment.name.as_str();
        let path = environment.path.as_str();
        if environment.branch != branch {
            self.on_other_branch(environment, branch);
            return Ok(None);
        }
        let path_keys = ["environments", name, "path"];
        let root = tree::inside(self.dir, path)?;
        if let Some(what) = not_a_directory(&root) {
            self.at_config(
                Severity::Error,
                &path_keys,
                true,
                format!("environment `{name}`: `{path}` {what}"),
                format!(
                    "create the directory, or correct `environments.{name}.path`: it is relative to the repository root"
                ),
            );
            return Ok(None);
        }
        let files = tree::yaml_files(self.dir, &root)?;
        let mut read = Vec::new();
        for (file, content) in tree::scan(&root, &files, |file, content| {
            Some((
                file.to_owned(),
                match content {
                    tree::Content::Bytes(bytes) => Ok(bytes.to_vec()),
                    tree::Content::TooLarge { size, .. } => Err(size),
                },
            ))
        })? {
            match content {
                Ok(bytes) => {
                    self.references(&format!("{path}/{file}"), &bytes);
                    read.push((file, bytes));
                }
                Err(size) => self.too_large(&format!("{path}/{file}"), size),
            }
        }
        let inventory = Inventory::of_files(
            path,
            read.iter()
                .map(|(file, bytes)| (file.as_str(), bytes.as_slice())),
        );
        if inventory.images.is_empty() {
            let looked = if files.is_empty() {
                "it holds no YAML files".to_owned()
            } else {
                format!("looked in {}", plural(files.len(), "YAML file"))
            };
            self.at_config(
                Severity::Error,
                &path_keys,
                true,
                format!("environment `{name}`: no image references in `{path}` ({looked})"),
                format!(
                    "ferry bump changes the tags it finds in `image:` fields, kustomization `images:`, Helm `repository` + `tag` values, Argo CD parameters and Flux setters (docs/shapes.md); declare the environment's images in `{path}`, e.g. in its kustomization.yaml: `images: [{{name: ghcr.io/acme/cart, newTag: 1a2b3c4}}]`"
                ),
            );
        }
        Ok(Some(inventory))
    }

    /// A notice that `environment` is not checked here: it lives on another branch.
    fn on_other_branch(&mut self, environment: &ResolvedEnvironment, branch: &str) {
        let name = environment.name.as_str();
        let keys: &[&str] = if self
            .positions
            .key(&["environments", name, "branch"])
            .is_some()
        {
            &["environments", name, "branch"]
        } else {
            &["environments", name]
        };
        self.at_config(
            Severity::Notice,
            keys,
            true,
            format!(
                "environment `{name}` not checked: lives on branch `{}`",
                environment.branch
            ),
            format!(
                "this working tree is checked as branch `{branch}`; run ferry check in a working tree of `{}` (its own CI) to check it",
                environment.branch
            ),
        );
        self.report.not_checked += 1;
    }

    /// A YAML file of an environment over the size limit: not read (its size is its
    /// metadata's); `ferry bump` refuses to change an image it mentions.
    pub(super) fn too_large(&mut self, file: &str, size: u64) {
        let limit = plan::max_file_size();
        self.push(
            Severity::Warning,
            file,
            None,
            format!(
                "is {size} bytes, over the limit of {limit} bytes for a file ferry parses: ferry did not read it, and ferry bump refuses to change an image it mentions"
            ),
            format!(
                "split the file, or raise the limit with --max-file-size or FERRY_MAX_FILE_SIZE (e.g. {}MiB)",
                size.div_ceil(1 << 20).max(1)
            ),
        );
    }

    /// Warnings for one YAML file of an environment: it does not parse, or holds references
    /// `ferry bump` would refuse to change.
    pub(super) fn references(&mut self, file: &str, bytes: &[u8]) {
        let Ok(text) = std::str::from_utf8(bytes) else {
            self.push(
                Severity::Warning,
                file,
                None,
                "is not UTF-8: ferry cannot read image references in it".to_owned(),
                "save the file as UTF-8".to_owned(),
            );
            return;
        };
        // Chart templates and the like are not YAML until rendered: literal references in a
        // templated file that parses are edited like any other (docs/shapes.md).
        let templated = text.contains("{{");
        let yaml = match Yaml::parse(text) {
            Ok(yaml) => yaml,
            Err(_) if templated => return,
            Err(err) => {
                self.push(
                    Severity::Warning,
                    file,
                    Some((err.line, err.column)),
                    format!(
                        "does not parse as YAML ({}): ferry cannot read image references in it",
                        err.message
                    ),
                    "fix the YAML; ferry bump refuses to change an image this file mentions"
                        .to_owned(),
                );
                return;
            }
        };
        // kubectl, kustomize and Argo CD refuse a file with a key defined twice; so do
        // set-image and bump (exit 4): the check fails with exit 4 too.
        for refusal in plan::duplicate_keys(&yaml) {
            self.push(
                Severity::Error,
                file,
                Some((refusal.line, refusal.column)),
                refusal.message,
                "ferry set-image and ferry bump refuse to edit this file (exit 4)".to_owned(),
            );
            self.report.refused += 1;
        }
        let file_name = file.rsplit('/').next().unwrap_or(file);
        let found = locate::locate(&yaml, file_name, Want::Any);
        for refusal in found.refusals {
            self.push(
                Severity::Warning,
                file,
                Some((refusal.line, refusal.column)),
                format!(
                    "ferry bump will refuse to change this reference: {}",
                    refusal.message
                ),
                "see docs/shapes.md for the shapes ferry edits".to_owned(),
            );
        }
    }
}
