//! What an environment runs: every image its files reference, with the tag (and digest) set
//! there, read with the same locator that edits them (so promotion reads exactly what a bump
//! would write).

use std::collections::BTreeMap;

use serde::Serialize;

use crate::git::{GitError, Store, Tip};
use crate::image::ImageName;
use crate::locate::{self, Target, Want};
use crate::plan;
use crate::yaml::Yaml;

/// One image of an environment.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Deployed {
    /// The normalized name.
    pub image: String,
    /// The tag set for it (the first place's, when places disagree).
    pub tag: Option<String>,
    pub digest: Option<String>,
    /// Where it is set: `file:line`, relative to the repository root.
    pub places: Vec<String>,
    /// Whether its places set different tags or digests (then promoting it is refused).
    pub mixed: bool,
}

impl Deployed {
    /// `TAG[@DIGEST]`, or `-` when no tag is set.
    #[must_use]
    pub fn version(&self) -> String {
        match (&self.tag, &self.digest) {
            (Some(t), Some(d)) => format!("{t}@{d}"),
            (Some(t), None) => t.clone(),
            (None, Some(d)) => format!("@{d}"),
            (None, None) => "-".to_owned(),
        }
    }

    /// The tag shortened for tables: a 40-digit commit id becomes its first 7 digits.
    #[must_use]
    pub fn short(&self) -> String {
        self.tag
            .as_deref()
            .map_or_else(|| "-".to_owned(), short_tag)
    }
}

/// A tag for tables: full commit ids (40 or 64 hex digits) are shortened to 7.
#[must_use]
pub fn short_tag(tag: &str) -> String {
    if (tag.len() == 40 || tag.len() == 64) && tag.bytes().all(|b| b.is_ascii_hexdigit()) {
        tag[..7].to_owned()
    } else {
        tag.to_owned()
    }
}

/// Every image of an environment, by normalized name.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Inventory {
    pub images: BTreeMap<String, Deployed>,
}

impl Inventory {
    /// The images of `files` (path relative to the environment's directory, bytes); `prefix`
    /// (the directory) is put before the paths reported.
    #[must_use]
    pub fn of_files<'a>(
        prefix: &str,
        files: impl IntoIterator<Item = (&'a str, &'a [u8])>,
    ) -> Self {
        let mut inventory = Inventory::default();
        for (path, bytes) in files {
            inventory.add_file(prefix, path, bytes);
        }
        inventory
    }

    /// The images under `path` at `tip`.
    pub fn read(store: &dyn Store, tip: &Tip, path: &str) -> Result<Self, GitError> {
        let blobs = store.read_dir(tip, path, &plan::is_yaml_path, &|_| true)?;
        Ok(Self::of_files(
            path,
            blobs.iter().map(|b| (b.path.as_str(), b.bytes.as_slice())),
        ))
    }

    /// The image named `name` (normalized).
    #[must_use]
    pub fn get(&self, name: &ImageName) -> Option<&Deployed> {
        self.images.get(&name.to_string())
    }

    fn add_file(&mut self, prefix: &str, path: &str, bytes: &[u8]) {
        // Like an unparsable file, a file over the size limit is not read (status only
        // reports; bump refuses it).
        if bytes.len() as u64 > plan::max_file_size() {
            return;
        }
        let Ok(text) = std::str::from_utf8(bytes) else {
            return;
        };
        let Ok(yaml) = Yaml::parse(text) else {
            return;
        };
        let file_name = path.rsplit('/').next().unwrap_or(path);
        let shown = if prefix.trim_matches('/').is_empty() {
            path.to_owned()
        } else {
            format!("{}/{path}", prefix.trim_matches('/'))
        };
        for mention in locate::locate(&yaml, file_name, Want::Any).mentions {
            let (tag, digest) = match &mention.target {
                Target::Whole { reference, .. } => (
                    reference.tag.as_ref().map(ToString::to_string),
                    reference.digest.as_ref().map(ToString::to_string),
                ),
                Target::Fields { tag, digest, .. } => (
                    tag.as_ref()
                        .map(|s| s.value.clone())
                        .filter(|v| !v.is_empty()),
                    digest
                        .as_ref()
                        .map(|s| s.value.clone())
                        .filter(|v| !v.is_empty()),
                ),
            };
            let (line, _) = mention.position();
            let name = mention.image.to_string();
            let place = format!("{shown}:{line}");
            match self.images.get_mut(&name) {
                Some(known) => {
                    if known.tag != tag || known.digest != digest {
                        known.mixed = true;
                    }
                    known.places.push(place);
                }
                None => {
                    self.images.insert(
                        name.clone(),
                        Deployed {
                            image: name,
                            tag,
                            digest,
                            places: vec![place],
                            mixed: false,
                        },
                    );
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_shape_is_read_with_its_tag() {
        let kustomization = b"images:\n  - name: ghcr.io/acme/cart\n    newTag: 1a2b3c4\n  - name: ghcr.io/acme/pay\n    newTag: v2\n    digest: sha256:aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa\n";
        let deployment = b"apiVersion: apps/v1\nkind: Deployment\nspec:\n  template:\n    spec:\n      containers:\n        - name: web\n          image: ghcr.io/acme/web:9f8e7d6\n";
        let values = b"image:\n  repository: ghcr.io/acme/api\n  tag: \"5.0.1\"\n";
        let inventory = Inventory::of_files(
            "envs/staging",
            [
                ("kustomization.yaml", &kustomization[..]),
                ("web.yaml", &deployment[..]),
                ("values.yaml", &values[..]),
            ],
        );
        let tags: Vec<(String, String)> = inventory
            .images
            .values()
            .map(|d| (d.image.clone(), d.version()))
            .collect();
        assert_eq!(
            tags,
            [
                ("ghcr.io/acme/api".to_owned(), "5.0.1".to_owned()),
                ("ghcr.io/acme/cart".to_owned(), "1a2b3c4".to_owned()),
                (
                    "ghcr.io/acme/pay".to_owned(),
                    format!("v2@sha256:{}", "a".repeat(64))
                ),
                ("ghcr.io/acme/web".to_owned(), "9f8e7d6".to_owned()),
            ]
        );
        assert_eq!(
            inventory.images["ghcr.io/acme/web"].places,
            ["envs/staging/web.yaml:8"]
        );
    }

    #[test]
    fn places_that_disagree_are_mixed() {
        let a = b"image: ghcr.io/acme/cart:1\n";
        let b = b"image: ghcr.io/acme/cart:2\n";
        let inventory = Inventory::of_files("", [("a.yaml", &a[..]), ("b.yaml", &b[..])]);
        let cart = &inventory.images["ghcr.io/acme/cart"];
        assert!(cart.mixed);
        assert_eq!(cart.places, ["a.yaml:1", "b.yaml:1"]);
    }

    #[test]
    fn commit_ids_are_shortened_for_tables() {
        assert_eq!(short_tag(&"a".repeat(40)), "aaaaaaa");
        assert_eq!(short_tag("v1.2.3"), "v1.2.3");
        assert_eq!(short_tag("9d8c7b6"), "9d8c7b6");
    }
}
