//! Where an image's tag lives in a YAML document: the shapes described in `docs/shapes.md`.
//!
//! [`locate`] walks a parsed file and returns [`Site`]s (references it may edit), [`Refusal`]s
//! (references it must not edit), warnings, and the Flux setter markers it saw. It decides
//! nothing about new values; [`crate::plan`] does.

use std::ops::Range;

use serde::Serialize;

use crate::image::{self, ImageName, Reference};
use crate::yaml::{Kind, NodeId, Style, Yaml};

/// The recognised shapes, as reported to users.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Shape {
    Reference,
    KustomizeOverride,
    KustomizeImages,
    HelmValues,
    HelmParameters,
    Setter,
}

impl Shape {
    pub fn as_str(self) -> &'static str {
        match self {
            Shape::Reference => "reference",
            Shape::KustomizeOverride => "kustomize-override",
            Shape::KustomizeImages => "kustomize-images",
            Shape::HelmValues => "helm-values",
            Shape::HelmParameters => "helm-parameters",
            Shape::Setter => "setter",
        }
    }
}

/// A scalar that may be rewritten, with what is needed to rewrite it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Slot {
    /// The bytes replaced.
    pub span: Range<usize>,
    /// Written before the new value: empty, or `": "` when an empty value (`tag:`) is filled
    /// by replacing its `:` indicator, or `" "` after an anchor or tag property.
    pub prefix: &'static str,
    pub value: String,
    pub style: Style,
    pub line: usize,
    pub column: usize,
}

/// Where a missing key can be added to a mapping (kustomize entries without `newTag`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InsertPoint {
    /// Where the mapping starts (identifies it when verifying).
    pub mapping: usize,
    pub at: usize,
    /// What goes before `key: value`: a line break and indentation, or `, ` in a flow mapping.
    pub lead: String,
    pub line: usize,
    pub column: usize,
}

/// What to rewrite for one reference.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Target {
    /// The scalar is a whole reference; `prefix_len` bytes before it are kept (`old=` in a
    /// kustomize override).
    Whole {
        slot: Slot,
        prefix_len: usize,
        reference: Reference,
    },
    /// The tag (and digest) are separate fields.
    Fields {
        tag: Option<Slot>,
        digest: Option<Slot>,
        insert: Option<InsertPoint>,
    },
}

/// One reference to an image that ferry may edit.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Site {
    pub image: ImageName,
    pub shape: Shape,
    pub target: Target,
}

impl Site {
    /// Where the site is reported: its tag (or whole reference), else where the tag would be
    /// added, else its digest.
    pub fn position(&self) -> (usize, usize) {
        match &self.target {
            Target::Whole { slot, .. }
            | Target::Fields {
                tag: Some(slot), ..
            } => (slot.line, slot.column),
            Target::Fields {
                insert: Some(p), ..
            } => (p.line, p.column),
            Target::Fields {
                digest: Some(slot), ..
            } => (slot.line, slot.column),
            Target::Fields { .. } => (0, 0),
        }
    }
}

/// Why a reference is not edited.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Reason {
    BlockScalar,
    SharedAnchor,
    Template,
    ParseError,
    MultiLine,
    EmptyValue,
    /// The file is larger than `--max-file-size`.
    TooLarge,
    /// A mapping defines a key twice.
    DuplicateKey,
}

impl Reason {
    pub fn as_str(self) -> &'static str {
        match self {
            Reason::BlockScalar => "block-scalar",
            Reason::SharedAnchor => "shared-anchor",
            Reason::Template => "template",
            Reason::ParseError => "parse-error",
            Reason::MultiLine => "multi-line",
            Reason::EmptyValue => "empty-value",
            Reason::TooLarge => "too-large",
            Reason::DuplicateKey => "duplicate-key",
        }
    }
}

/// A reference ferry found but will not edit.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Refusal {
    pub reason: Reason,
    pub line: usize,
    pub column: usize,
    pub message: String,
}

/// Something worth telling that does not stop the edit.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Warning {
    pub line: usize,
    pub column: usize,
    pub message: String,
}

/// Which field a Flux setter marker names.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MarkedField {
    Tag,
    Digest,
}

/// A scalar carrying `# {"$imagepolicy": "NS:POLICY:tag"}` (or `:digest`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Marked {
    pub policy: String,
    pub field: MarkedField,
    pub line: usize,
    pub column: usize,
    pub slot: Result<Slot, Refusal>,
}

/// Which images to look for.
#[derive(Debug, Clone, Copy)]
pub enum Want<'a> {
    /// Exactly these (normalized) names.
    Names(&'a [ImageName]),
    /// Every image, for "did you mean": whole references count only under image-like keys.
    Any,
}

impl Want<'_> {
    fn wants(&self, name: &ImageName) -> bool {
        match self {
            Want::Names(names) => names.contains(name),
            Want::Any => true,
        }
    }
}

/// Everything found in one file.
#[derive(Debug, Clone, Default)]
pub struct Found {
    pub sites: Vec<Site>,
    pub refusals: Vec<Refusal>,
    pub warnings: Vec<Warning>,
    /// Setter policies and the image each names (`NS:POLICY` or `NS:POLICY:name` markers).
    pub policies: Vec<(String, ImageName)>,
    /// Scalars marked as a policy's tag or digest.
    pub marked: Vec<Marked>,
}

/// Whether a file name is a kustomization, where `images:` entries with only `name` count.
pub fn is_kustomization_file(file_name: &str) -> bool {
    matches!(
        file_name,
        "kustomization.yaml" | "kustomization.yml" | "Kustomization"
    )
}

/// Finds the references to the wanted images in every document of `yaml`.
pub fn locate(yaml: &Yaml<'_>, file_name: &str, want: Want<'_>) -> Found {
    let mut walker = Walker {
        y: yaml,
        want,
        found: Found::default(),
        kustomization: false,
    };
    for &root in &yaml.documents {
        walker.kustomization = is_kustomization_file(file_name)
            || yaml.get(root, "kind").and_then(|k| yaml.scalar(k)) == Some("Kustomization");
        walker.visit(root);
    }
    walker.found.refusals.sort_by_key(|r| (r.line, r.column));
    walker.found.refusals.dedup_by_key(|r| (r.line, r.column));
    walker.found
}

struct Walker<'y, 'a, 'w> {
    y: &'y Yaml<'a>,
    want: Want<'w>,
    found: Found,
    kustomization: bool,
}

impl Walker<'_, '_, '_> {
    fn visit(&mut self, id: NodeId) {
        let y = self.y;
        match y.node(id).kind() {
            Kind::Alias { .. } => {}
            Kind::Scalar { .. } => {
                if !y.is_key(id) {
                    self.scalar(id);
                }
            }
            Kind::Mapping { .. } => {
                self.mapping(id);
                for (_, value) in y.entries(id) {
                    self.visit(value);
                }
            }
            Kind::Sequence { .. } => {
                self.parameters(id);
                for item in y.items(id) {
                    self.visit(item);
                }
            }
        }
    }

    fn refuse(&mut self, reason: Reason, line: usize, column: usize, message: String) {
        self.found.refusals.push(Refusal {
            reason,
            line,
            column,
            message,
        });
    }

    /// The key of the sequence holding `id`, when `id` is an item of a sequence under a key.
    fn list_key(&self, id: NodeId) -> Option<&str> {
        let parent = self.y.node(id).parent()?;
        match self.y.node(parent).kind() {
            Kind::Sequence { .. } => self.y.key_of(parent),
            _ => None,
        }
    }

    /// A scalar value: a whole reference, a kustomize override, or text to check for hidden
    /// references.
    fn scalar(&mut self, id: NodeId) {
        let y = self.y;
        let node = y.node(id);
        let (Kind::Scalar { style }, Some(value)) = (node.kind(), y.scalar(id)) else {
            return;
        };
        self.setter_marker(id);
        if style.is_block() {
            self.block_scalar(id);
            return;
        }
        if let Want::Names(names) = self.want
            && !names.iter().any(|n| value.contains(n.last_component()))
        {
            return;
        }
        let key = y.key_of(id);
        let in_images_list = self.list_key(id) == Some("images");
        if in_images_list
            && let Some((old, new)) = value.split_once('=')
            && let Ok(reference) = Reference::parse(new)
        {
            self.whole(id, reference, old.len() + 1, Shape::KustomizeOverride);
            return;
        }
        if let Ok(reference) = Reference::parse(value) {
            let tagged = reference.tag.is_some() || reference.digest.is_some();
            let image_key = key == Some("image");
            let counts = match self.want {
                Want::Names(_) => tagged || image_key,
                Want::Any => {
                    (tagged || image_key)
                        && (in_images_list
                            || key.is_some_and(|k| k.to_ascii_lowercase().contains("image")))
                }
            };
            if counts {
                self.whole(id, reference, 0, Shape::Reference);
                return;
            }
        }
        if let Want::Names(names) = self.want {
            for name in names {
                let mentions = image::mentions(value, name);
                if mentions.is_empty() {
                    continue;
                }
                if value.contains("{{") {
                    self.refuse(
                        Reason::Template,
                        node.line(),
                        node.column(),
                        format!("{name} is referenced inside a template expression; ferry edits literal values only. Set the tag in the values the template reads"),
                    );
                } else if mentions.iter().any(|m| m.tagged) {
                    self.found.warnings.push(Warning {
                        line: node.line(),
                        column: node.column(),
                        message: format!("{name} appears inside a longer string, which ferry does not edit; make the reference a value of its own"),
                    });
                }
            }
        }
    }

    fn whole(&mut self, id: NodeId, reference: Reference, prefix_len: usize, shape: Shape) {
        if !self.want.wants(&reference.name) {
            return;
        }
        let image = reference.name.clone();
        match self.slot(id, &image) {
            Ok(Some(slot)) => self.found.sites.push(Site {
                image,
                shape,
                target: Target::Whole {
                    slot,
                    prefix_len,
                    reference,
                },
            }),
            Ok(None) => {}
            Err(refusal) => self.found.refusals.push(refusal),
        }
    }

    /// The rewritable scalar at `id`, a refusal saying why it is not rewritable, or None when
    /// `id` is not a scalar at all.
    fn slot(&self, id: NodeId, image: &dyn std::fmt::Display) -> Result<Option<Slot>, Refusal> {
        let node = self.y.node(id);
        let refusal = |reason, message: String| Refusal {
            reason,
            line: node.line(),
            column: node.column(),
            message,
        };
        match node.kind() {
            Kind::Alias { target } => {
                let t = self.y.node(target);
                Err(refusal(
                    Reason::SharedAnchor,
                    format!(
                        "the value for {image} is an alias of &{} at line {}, shared with other uses; give this field its own value",
                        self.y.anchor(target).unwrap_or("?"),
                        t.line()
                    ),
                ))
            }
            Kind::Scalar { style } => {
                let value = self.y.scalar(id).unwrap_or_default();
                if style.is_block() {
                    return Err(refusal(
                        Reason::BlockScalar,
                        format!(
                            "the value for {image} is a block scalar; write it as a single-line value"
                        ),
                    ));
                }
                if let Some((shared, alias_line)) = self.y.shared_ancestor(id) {
                    let s = self.y.node(shared);
                    return Err(refusal(
                        Reason::SharedAnchor,
                        format!(
                            "the value for {image} is under the anchor &{} (line {}), which the alias at line {alias_line} reuses; editing it would change every use. Give each use its own value",
                            self.y.anchor(shared).unwrap_or("?"),
                            s.line()
                        ),
                    ));
                }
                if value.contains("{{") {
                    return Err(refusal(
                        Reason::Template,
                        format!(
                            "the value for {image} is a template expression; set the tag in the values the template reads"
                        ),
                    ));
                }
                let raw = &self.y.source[node.span()];
                if raw.contains(['\n', '\r']) {
                    return Err(refusal(
                        Reason::MultiLine,
                        format!("the value for {image} spans several lines; write it on one line"),
                    ));
                }
                let at = node.span().start;
                let (span, prefix, value) = if !node.span().is_empty() {
                    (node.span(), "", value.to_string())
                } else if self.y.source.as_bytes().get(at) == Some(&b':') {
                    // An empty value (`tag:`) sits at its `:` indicator: replace that with `: v2`.
                    (at..at + 1, ": ", String::new())
                } else if self.y.anchor(id).is_some() || self.y.tag(id).is_some() {
                    // `tag: &t` or `tag: !!str`: the empty value sits right after the property.
                    (at..at, " ", String::new())
                } else {
                    return Err(refusal(
                        Reason::EmptyValue,
                        format!(
                            "the value for {image} is empty where ferry cannot fill it; write a placeholder value"
                        ),
                    ));
                };
                Ok(Some(Slot {
                    span,
                    prefix,
                    value,
                    style,
                    line: node.line(),
                    column: node.column(),
                }))
            }
            _ => Ok(None),
        }
    }

    fn mapping(&mut self, id: NodeId) {
        if self.list_key(id) == Some("images") && self.kustomize_entry(id) {
            return;
        }
        self.helm_values(id);
    }

    /// A kustomize `images:` entry (`name`, `newName`, `newTag`, `digest`).
    fn kustomize_entry(&mut self, id: NodeId) -> bool {
        let y = self.y;
        let Some(name) = y.get(id, "name").and_then(|n| y.scalar(n)) else {
            return false;
        };
        let new_name = y.get(id, "newName");
        let new_tag = y.get(id, "newTag");
        let digest = y.get(id, "digest");
        if new_name.is_none() && new_tag.is_none() && digest.is_none() && !self.kustomization {
            return false;
        }
        let effective = new_name.and_then(|n| y.scalar(n)).unwrap_or(name);
        let Ok(image) = ImageName::parse(effective) else {
            return true;
        };
        if !self.want.wants(&image) {
            return true;
        }
        let tag = match new_tag.map(|t| self.slot(t, &image)).transpose() {
            Ok(t) => t.flatten(),
            Err(r) => return self.refused(r),
        };
        let digest = match digest.map(|d| self.slot(d, &image)).transpose() {
            Ok(d) => d.flatten(),
            Err(r) => return self.refused(r),
        };
        let insert = self.insert_point(id);
        if tag.is_none() && insert.is_none() {
            let node = y.node(id);
            return self.refused(Refusal {
                reason: Reason::BlockScalar,
                line: node.line(),
                column: node.column(),
                message: format!(
                    "the entry for {image} has no `newTag`, and one cannot be added after its last value, a block scalar that keeps its trailing lines (`|+`); add `newTag:` above it"
                ),
            });
        }
        self.found.sites.push(Site {
            image,
            shape: Shape::KustomizeImages,
            target: Target::Fields {
                tag,
                digest,
                insert,
            },
        });
        true
    }

    fn refused(&mut self, refusal: Refusal) -> bool {
        self.found.refusals.push(refusal);
        true
    }

    /// Where a new `key: value` entry goes at the end of mapping `id`.
    fn insert_point(&self, id: NodeId) -> Option<InsertPoint> {
        let y = self.y;
        let node = y.node(id);
        let Kind::Mapping { flow } = node.kind() else {
            return None;
        };
        let (first_key, last_value) = (y.entries(id).next()?.0, y.last_child(id)?);
        let src = y.source;
        if keeps_trailing_lines(y, last_value) {
            return None;
        }
        let end = y.content_end(last_value);
        if flow {
            let (line, column) = y.position(end);
            return Some(InsertPoint {
                mapping: node.span().start,
                at: end,
                lead: ", ".into(),
                line,
                column: column + 2,
            });
        }
        let bytes = src.as_bytes();
        let at = memchr::memchr2(b'\n', b'\r', &bytes[end..]).map_or(src.len(), |i| end + i);
        // The new line ends like the line it follows (YAML allows LF, CRLF and lone CR).
        let eol = match bytes.get(at..).unwrap_or_default() {
            [b'\r', b'\n', ..] => "\r\n",
            [b'\r', ..] => "\r",
            [_, ..] => "\n",
            [] => crate::yaml::line_break(src),
        };
        let indent = key_indent(src, y.node(first_key).span().start);
        let (line, _) = y.position(at);
        Some(InsertPoint {
            mapping: node.span().start,
            at,
            lead: format!("{eol}{}", " ".repeat(indent)),
            line: line + 1,
            column: indent + 1,
        })
    }

    /// Helm-style values: `tag` beside `repository` (with optional `registry`) or `name`.
    fn helm_values(&mut self, id: NodeId) {
        let y = self.y;
        // Most mappings have neither a `tag` nor a merge: skip resolving merges for them.
        if !y
            .entries(id)
            .any(|(k, _)| matches!(y.scalar(k), Some("tag" | "<<")))
        {
            return;
        }
        let get = |key: &str| y.merged_get(id, key);
        let Some((tag, tag_via_merge)) = get("tag") else {
            return;
        };
        let text = |v: NodeId| y.scalar(y.resolve(v));
        let name = match (get("repository"), get("name")) {
            (Some((repo, _)), _) => {
                match (get("registry").and_then(|(r, _)| text(r)), text(repo)) {
                    (Some(registry), Some(repo)) if !registry.is_empty() => {
                        format!("{}/{repo}", registry.trim_end_matches('/'))
                    }
                    (_, Some(repo)) => repo.to_owned(),
                    _ => return,
                }
            }
            (None, Some((name, _))) => match text(name) {
                Some(n) => n.to_owned(),
                None => return,
            },
            (None, None) => return,
        };
        let Ok(image) = ImageName::parse(&name) else {
            return;
        };
        if !self.want.wants(&image) {
            return;
        }
        if tag_via_merge {
            let node = y.node(tag);
            let r = Refusal {
                reason: Reason::SharedAnchor,
                line: node.line(),
                column: node.column(),
                message: format!(
                    "the tag for {image} comes from a `<<` merge of an anchored mapping shared with other uses; set `tag` in this mapping itself"
                ),
            };
            self.found.refusals.push(r);
            return;
        }
        let tag = match self.slot(tag, &image) {
            Ok(Some(slot)) => slot,
            Ok(None) => return,
            Err(r) => {
                self.found.refusals.push(r);
                return;
            }
        };
        let digest = match get("digest") {
            Some((d, false)) => match self.slot(d, &image) {
                Ok(slot) => slot,
                Err(r) => {
                    self.found.refusals.push(r);
                    return;
                }
            },
            _ => None,
        };
        self.found.sites.push(Site {
            image,
            shape: Shape::HelmValues,
            target: Target::Fields {
                tag: Some(tag),
                digest,
                insert: None,
            },
        });
    }

    /// `{name, value}` parameter lists: `<prefix>.tag` beside `<prefix>.repository` or
    /// `<prefix>.name`.
    fn parameters(&mut self, list: NodeId) {
        let y = self.y;
        let params: Vec<(&str, NodeId)> = y
            .items(list)
            .filter_map(|item| {
                let name = y.get(item, "name").and_then(|n| y.scalar(n))?;
                Some((name, y.get(item, "value")?))
            })
            .collect();
        if params.len() < 2 {
            return;
        }
        // The first parameter of each name, indexed: a list may hold thousands.
        let mut by_name: std::collections::HashMap<&str, NodeId> =
            std::collections::HashMap::with_capacity(params.len());
        for &(n, v) in &params {
            by_name.entry(n).or_insert(v);
        }
        let value = |key: &str| by_name.get(key).copied();
        let text = |key: &str| value(key).and_then(|v| y.scalar(v));
        for &(name, tag) in &params {
            let Some(prefix) = name
                .strip_suffix("tag")
                .filter(|p| p.is_empty() || p.ends_with('.'))
            else {
                continue;
            };
            let image_text = match (
                text(&format!("{prefix}repository")),
                text(&format!("{prefix}name")),
            ) {
                (Some(repo), _) => match text(&format!("{prefix}registry")) {
                    Some(registry) if !registry.is_empty() => {
                        format!("{}/{repo}", registry.trim_end_matches('/'))
                    }
                    _ => repo.to_owned(),
                },
                (None, Some(n)) => n.to_owned(),
                (None, None) => continue,
            };
            let Ok(image) = ImageName::parse(&image_text) else {
                continue;
            };
            if !self.want.wants(&image) {
                continue;
            }
            let tag = match self.slot(tag, &image) {
                Ok(Some(slot)) => slot,
                Ok(None) => continue,
                Err(r) => {
                    self.found.refusals.push(r);
                    continue;
                }
            };
            let digest = match value(&format!("{prefix}digest"))
                .map(|d| self.slot(d, &image))
                .transpose()
            {
                Ok(d) => d.flatten(),
                Err(r) => {
                    self.found.refusals.push(r);
                    continue;
                }
            };
            self.found.sites.push(Site {
                image,
                shape: Shape::HelmParameters,
                target: Target::Fields {
                    tag: Some(tag),
                    digest,
                    insert: None,
                },
            });
        }
    }

    /// A literal or folded block scalar: references inside it cannot be edited, so each one is
    /// a refusal (embedded YAML such as Argo CD `helm.values: |` is searched with every shape).
    fn block_scalar(&mut self, id: NodeId) {
        let Want::Names(names) = self.want else {
            return;
        };
        let node = self.y.node(id);
        let Some(value) = self.y.scalar(id) else {
            return;
        };
        if !names.iter().any(|n| value.contains(n.last_component())) {
            return;
        }
        let indent = node.column() - 1;
        let mut spots: Vec<(usize, usize, String)> = Vec::new();
        if let Ok(inner) = Yaml::parse(value) {
            let found = locate(&inner, "", self.want);
            for site in &found.sites {
                let (line, column) = site.position();
                spots.push((line, column, site.image.to_string()));
            }
            for r in &found.refusals {
                spots.push((r.line, r.column, "an image".into()));
            }
        }
        if spots.is_empty() {
            let lines = crate::yaml::LineIndex::new(value);
            for name in names {
                for m in image::mentions(value, name)
                    .into_iter()
                    .filter(|m| m.tagged)
                {
                    let (line, column) = lines.position(value, m.range.start);
                    spots.push((line, column, name.to_string()));
                }
            }
        }
        for (line, column, image) in spots {
            self.refuse(
                Reason::BlockScalar,
                node.line() + line - 1,
                column + indent,
                format!("{image} is referenced inside a block scalar (a `|` or `>` text), which ferry does not edit; move these values to structured YAML (for Argo CD, `helm.valuesObject` instead of `helm.values`)"),
            );
        }
    }

    /// Records Flux image-automation setter markers on the scalar `id`.
    fn setter_marker(&mut self, id: NodeId) {
        let y = self.y;
        let node = y.node(id);
        let Some(comment) = y.comment_on_line(node.line()) else {
            return;
        };
        // The marker belongs to the last scalar on its line.
        let rest = &y.source[node.span().end..];
        if !rest.trim_start_matches([' ', '\t']).starts_with('#') {
            return;
        }
        let Some((policy, field)) = setter_policy(comment) else {
            return;
        };
        let Some(value) = y.scalar(id) else { return };
        match field {
            None => {
                if let Ok(r) = Reference::parse(value) {
                    self.found.policies.push((policy.to_owned(), r.name));
                }
            }
            Some("name") => {
                if let Ok(name) = ImageName::parse(value) {
                    self.found.policies.push((policy.to_owned(), name));
                }
            }
            Some(f @ ("tag" | "digest")) => {
                let field = if f == "tag" {
                    MarkedField::Tag
                } else {
                    MarkedField::Digest
                };
                // The image is not known yet: name it by its policy in messages.
                let slot = match self.slot(id, &format!("policy {policy}")) {
                    Ok(Some(slot)) => Ok(slot),
                    Err(r) => Err(r),
                    Ok(None) => return,
                };
                self.found.marked.push(Marked {
                    policy: policy.to_owned(),
                    field,
                    line: node.line(),
                    column: node.column(),
                    slot,
                });
            }
            Some(_) => {}
        }
    }
}

/// Whether `id` is a block scalar with keep chomping (`|+`, `>2+`): its trailing line breaks are
/// part of its value, so nothing can be inserted after its content.
fn keeps_trailing_lines(y: &Yaml<'_>, id: NodeId) -> bool {
    let node = y.node(id);
    if !matches!(node.kind(), Kind::Scalar { style } if style.is_block()) {
        return false;
    }
    let before = y.source[..node.span().start].trim_end_matches([' ', '\t', '\n', '\r']);
    let header_line = &before[before.rfind(['\n', '\r']).map_or(0, |i| i + 1)..];
    let header_line = header_line.split(" #").next().unwrap_or_default();
    header_line
        .rfind(['|', '>'])
        .is_some_and(|i| header_line[i..].trim_end().contains('+'))
}

/// The indentation of a block mapping whose first key's content starts at byte `key`: the
/// column where that key's node begins, including an anchor or tag before it (`- &a name: x`
/// puts the mapping at the column of `&a`), after the `- ` of any enclosing sequence items.
fn key_indent(src: &str, key: usize) -> usize {
    let line_start = src[..key].rfind(['\n', '\r']).map_or(0, |i| i + 1);
    let prefix = &src[line_start..key];
    let mut rest = prefix;
    loop {
        let trimmed = rest.trim_start_matches([' ', '\t']);
        match trimmed.strip_prefix('-') {
            Some(after) if after.starts_with([' ', '\t']) => rest = after,
            _ => {
                rest = trimmed;
                break;
            }
        }
    }
    prefix[..prefix.len() - rest.len()].chars().count()
}

/// Parses a setter marker comment `{"$imagepolicy": "NS:POLICY[:FIELD]"}` into the policy
/// (`NS:POLICY`) and the field.
pub fn setter_policy(comment: &str) -> Option<(&str, Option<&str>)> {
    let after = &comment[comment.find("\"$imagepolicy\"")? + "\"$imagepolicy\"".len()..];
    let after = after
        .trim_start()
        .strip_prefix(':')?
        .trim_start()
        .strip_prefix('"')?;
    let value = &after[..after.find('"')?];
    let mut parts = value.splitn(3, ':');
    let (ns, name) = (parts.next()?, parts.next()?);
    if ns.is_empty() || name.is_empty() {
        return None;
    }
    let policy = &value[..ns.len() + 1 + name.len()];
    Some((policy, parts.next()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn find(src: &str, file: &str, image: &str) -> Found {
        let names = [ImageName::parse(image).unwrap()];
        locate(&Yaml::parse(src).unwrap(), file, Want::Names(&names))
    }

    #[test]
    fn setter_policy_forms() {
        assert_eq!(
            setter_policy(r#" {"$imagepolicy": "flux-system:podinfo"}"#),
            Some(("flux-system:podinfo", None))
        );
        assert_eq!(
            setter_policy(r#"{"$imagepolicy":"ns:p:tag"}"#),
            Some(("ns:p", Some("tag")))
        );
        assert_eq!(setter_policy(" plain comment"), None);
    }

    #[test]
    fn finds_whole_references_but_not_keys_or_longer_strings() {
        let src = "image: shop/cart:v1\nshop/cart:v2: x\nargs: [\"--image=shop/cart:v1\"]\nother: shop/cart-worker:v1\n";
        let f = find(src, "a.yaml", "shop/cart");
        assert_eq!(f.sites.len(), 1);
        assert_eq!(f.sites[0].shape, Shape::Reference);
        assert_eq!(f.warnings.len(), 1);
        assert_eq!(f.warnings[0].line, 3);
    }

    #[test]
    fn helm_registry_and_repository() {
        let src = "image:\n  registry: ghcr.io\n  repository: shop/cart\n  tag: v1\n  digest: ''\n";
        let f = find(src, "values.yaml", "ghcr.io/shop/cart");
        assert_eq!(f.sites.len(), 1);
        let Target::Fields {
            tag: Some(tag),
            digest: Some(d),
            ..
        } = &f.sites[0].target
        else {
            panic!()
        };
        assert_eq!((tag.value.as_str(), tag.line), ("v1", 4));
        assert_eq!(d.style, Style::SingleQuoted);
    }

    #[test]
    fn kustomize_entry_without_new_tag_gets_an_insert_point() {
        let src = "images:\r\n  - name: shop/cart  # app\r\n";
        let f = find(src, "kustomization.yaml", "shop/cart");
        let Target::Fields {
            tag: None,
            insert: Some(p),
            ..
        } = &f.sites[0].target
        else {
            panic!("{f:?}")
        };
        assert_eq!(p.lead, "\r\n    ");
        assert_eq!(p.at, src.len() - 2);
        // Outside a kustomization file an entry with only `name` is not an image entry.
        assert!(find(src, "other.yaml", "shop/cart").sites.is_empty());
    }

    #[test]
    fn key_indent_counts_properties_and_sequence_dashes() {
        for (src, want) in [
            ("- name: x", 2),
            ("- &a name: x", 2),
            ("  - !!str name: x", 4),
            ("- - k: v", 4),
            ("x:\n  k: v", 2),
            ("k: v", 0),
        ] {
            let key = src
                .rfind('k')
                .filter(|_| src.contains("k:"))
                .unwrap_or_else(|| src.find("name").unwrap());
            assert_eq!(key_indent(src, key), want, "{src:?}");
        }
    }

    #[test]
    fn shared_anchor_is_refused() {
        let src = "a: &img shop/cart:v1\nb: *img\n";
        let f = find(src, "x.yaml", "shop/cart");
        assert!(f.sites.is_empty());
        assert_eq!(f.refusals[0].reason, Reason::SharedAnchor);
        assert_eq!((f.refusals[0].line, f.refusals[0].column), (1, 9));
    }

    #[test]
    fn block_scalar_helm_values_are_refused_at_the_inner_line() {
        let src = "spec:\n  helm:\n    values: |\n      image:\n        repository: shop/cart\n        tag: v1\n";
        let f = find(src, "app.yaml", "shop/cart");
        assert!(f.sites.is_empty());
        assert_eq!(f.refusals.len(), 1);
        assert_eq!(f.refusals[0].reason, Reason::BlockScalar);
        assert_eq!((f.refusals[0].line, f.refusals[0].column), (6, 14));
    }

    #[test]
    fn parameters_with_prefix() {
        let src = "parameters:\n- name: image.registry\n  value: ghcr.io\n- name: image.repository\n  value: shop/cart\n- name: image.tag\n  value: \"v1\"\n";
        let f = find(src, "app.yaml", "ghcr.io/shop/cart");
        assert_eq!(f.sites.len(), 1);
        assert_eq!(f.sites[0].shape, Shape::HelmParameters);
    }
}
