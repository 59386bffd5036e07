//! Where an image's tag lives in a YAML document: the shapes described in `docs/shapes.md`.
//!
//! [`locate`] walks a parsed file and returns [`Mention`]s (references it may edit), [`Refusal`]s
//! (references it must not edit), warnings, and the Flux setter markers it saw. It decides
//! nothing about new values; [`crate::plan`] does.

use std::collections::{BTreeMap, HashMap};
use std::ops::Range;

use serde::Serialize;

use crate::image::{ImageName, Reference};
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
pub struct Mention {
    pub image: ImageName,
    pub shape: Shape,
    pub target: Target,
}

impl Mention {
    /// Where the mention is reported: its tag (or whole reference), else where the tag would be
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

/// Why a reference is not edited. The first group refuses the whole edit; the second
/// ([`Reason::is_report`]) is reported as a warning and blocks nothing (unless `--strict`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Reason {
    /// A scalar shared (by alias or merge) with a different image or a non-image value.
    SharedAnchor,
    /// One scalar claimed by two images (a Flux setter marker on another image's tag).
    TwoImages,
    ParseError,
    MultiLine,
    EmptyValue,
    /// The file is larger than `--max-file-size`.
    TooLarge,
    /// A mapping defines a key twice.
    DuplicateKey,
    /// Inside a literal or folded block scalar (text, not a field).
    BlockScalar,
    /// Inside a `{{ … }}` template expression.
    Template,
    /// A placeholder where the tag goes (`{TAG}`, `${TAG}`, `$(TAG)`).
    Placeholder,
    /// The image's name followed by a tag or digest that is not valid.
    InvalidReference,
    /// A reference inside a longer string.
    LongerString,
    /// The image named without a tag where ferry does not add one.
    Untagged,
    /// The edit needs a field the reference does not have (a digest for a digest-only pin).
    NoField,
}

impl Reason {
    pub fn as_str(self) -> &'static str {
        match self {
            Reason::SharedAnchor => "shared-anchor",
            Reason::TwoImages => "two-images",
            Reason::ParseError => "parse-error",
            Reason::MultiLine => "multi-line",
            Reason::EmptyValue => "empty-value",
            Reason::TooLarge => "too-large",
            Reason::DuplicateKey => "duplicate-key",
            Reason::BlockScalar => "block-scalar",
            Reason::Template => "template",
            Reason::Placeholder => "placeholder",
            Reason::InvalidReference => "invalid-reference",
            Reason::LongerString => "longer-string",
            Reason::Untagged => "untagged",
            Reason::NoField => "no-field",
        }
    }

    /// Whether a mention for this reason is reported and left alone (the other references are
    /// still edited) rather than refused: text, templates and values ferry does not edit.
    /// `--strict` refuses them too.
    pub fn is_report(self) -> bool {
        matches!(
            self,
            Reason::BlockScalar
                | Reason::Template
                | Reason::Placeholder
                | Reason::InvalidReference
                | Reason::LongerString
                | Reason::Untagged
                | Reason::NoField
        )
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

/// Something worth telling that does not stop the edit: a mention of an image ferry leaves
/// alone (with its reason), or a note.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Warning {
    pub line: usize,
    pub column: usize,
    pub reason: Option<Reason>,
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
    pub mentions: Vec<Mention>,
    pub refusals: Vec<Refusal>,
    /// Mentions of a wanted image that are left alone, with why and the fix.
    pub warnings: Vec<Warning>,
    /// Places that name a wanted image and need nothing (a Flux `ImageRepository`).
    pub notes: Vec<Warning>,
    /// Setter policies and the image each names (`NS:POLICY` or `NS:POLICY:name` markers).
    pub policies: Vec<(String, ImageName)>,
    /// Scalars marked as a policy's tag or digest.
    pub marked: Vec<Marked>,
    /// Scalars carrying a setter marker that a structured shape also reads as an image's tag,
    /// digest or reference (of any image): one scalar cannot belong to two images.
    pub owned: Vec<(Range<usize>, ImageName)>,
}

/// Whether a file name is a kustomization, where `images:` entries with only `name` count.
pub fn is_kustomization_file(file_name: &str) -> bool {
    matches!(
        file_name,
        "kustomization.yaml" | "kustomization.yml" | "Kustomization"
    )
}

/// The lists whose items are containers: an untagged `image:` there gets the tag, as
/// kustomize's image transformer does.
const CONTAINER_LISTS: [&str; 3] = ["containers", "initContainers", "ephemeralContainers"];

/// Finds the references to the wanted images in every document of `yaml`.
pub fn locate(yaml: &Yaml<'_>, file_name: &str, want: Want<'_>) -> Found {
    let mut walker = Walker {
        y: yaml,
        want,
        found: Found::default(),
        kustomization: false,
        kind: None,
        depth: 0,
        use_line: None,
        expanding: Vec::new(),
        budget: yaml.len().saturating_mul(4).clamp(10_000, 4_000_000),
        overflow: false,
        reach: HashMap::new(),
        claims: BTreeMap::new(),
    };
    for &root in &yaml.documents {
        walker.kind = yaml
            .get(root, "kind")
            .and_then(|k| yaml.scalar(yaml.resolve(k)));
        walker.kustomization =
            is_kustomization_file(file_name) || walker.kind == Some("Kustomization");
        walker.visit(root, &Ctx::default());
    }
    walker.settle_shared();
    let found = &mut walker.found;
    found.refusals.sort_by_key(|r| (r.line, r.column));
    found.refusals.dedup_by_key(|r| (r.line, r.column));
    found.warnings.sort_by_key(|w| (w.line, w.column));
    found.warnings.dedup_by_key(|w| (w.line, w.column));
    found.notes.sort_by_key(|w| (w.line, w.column));
    found.notes.dedup_by_key(|w| (w.line, w.column));
    walker.found
}

/// Where a node sits as the document means it: through an alias, a node sits where the alias
/// is, not where its anchor is written.
#[derive(Debug, Clone, Copy, Default)]
struct Ctx<'c> {
    /// The key this node is the value of.
    key: Option<&'c str>,
    /// When the node is an item of a sequence: that sequence's key.
    list: Option<&'c str>,
    /// The enclosing collection's context.
    up: Option<&'c Ctx<'c>>,
}

impl Ctx<'_> {
    /// Whether this is the `image` of a container (an item of `containers`, …).
    fn container_image(&self) -> bool {
        self.key == Some("image")
            && self
                .up
                .and_then(|m| m.list)
                .is_some_and(|l| CONTAINER_LISTS.contains(&l))
    }

    /// Whether this is an image volume's `reference` (`volumes[].image.reference`).
    fn volume_image(&self) -> bool {
        self.key == Some("reference")
            && self.up.is_some_and(|m| {
                m.key == Some("image") && m.up.and_then(|v| v.list) == Some("volumes")
            })
    }
}

/// How a walk reached a node.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Use {
    /// Where it is written.
    Written,
    /// Through an alias (`*a`).
    Alias,
    /// Through a `<<: *a` merge key.
    Merge,
}

/// A shape's claim on a scalar that aliases or merges may reach more than once.
#[derive(Debug)]
struct Claim {
    /// Which use of the scalar (its n-th visit) the claim was made in.
    index: usize,
    image: ImageName,
    /// What the claim means for a wanted image; `None` for other images.
    outcome: Option<Result<Option<Mention>, Refusal>>,
}

struct Walker<'y, 'a, 'w> {
    y: &'y Yaml<'a>,
    want: Want<'w>,
    found: Found,
    kustomization: bool,
    /// The current document's `kind`.
    kind: Option<&'y str>,
    /// How many aliases deep the walk is (0: the nodes where they are written).
    depth: usize,
    /// The line of the alias (or merge key) that brought the walk here, and how.
    use_line: Option<(usize, Use)>,
    /// Alias targets being walked (an alias inside its own anchor is not followed).
    expanding: Vec<NodeId>,
    /// How many more nodes may be walked through aliases.
    budget: usize,
    overflow: bool,
    /// Each visit of a scalar under an aliased anchor: the line of that use, and how.
    reach: HashMap<NodeId, Vec<(usize, Use)>>,
    /// The claims on such scalars.
    claims: BTreeMap<NodeId, Vec<Claim>>,
}

impl<'y> Walker<'y, '_, '_> {
    fn visit(&mut self, id: NodeId, ctx: &Ctx<'_>) {
        let y = self.y;
        if self.depth > 0 {
            if self.budget == 0 {
                self.overflow = true;
                return;
            }
            self.budget -= 1;
        }
        match y.node(id).kind() {
            Kind::Alias { target } => {
                if self.expanding.contains(&target) {
                    return;
                }
                let line = y.node(id).line();
                self.through(target, (line, Use::Alias), |w| w.visit(target, ctx));
            }
            Kind::Scalar { .. } => {
                if y.is_key(id) {
                    return;
                }
                self.scalar(id, ctx);
                if self.tracked(id) {
                    let at = self.use_line.unwrap_or((y.node(id).line(), Use::Written));
                    self.reach.entry(id).or_default().push(at);
                }
            }
            Kind::Mapping { .. } => {
                self.mapping(id, ctx);
                for (key, value) in y.entries(id) {
                    // Aliased merge sources are walked below, as this mapping's entries.
                    if is_merge_key(y, key)
                        && (y.resolve(value) != value
                            || matches!(y.node(value).kind(), Kind::Sequence { .. }))
                    {
                        continue;
                    }
                    let child = Ctx {
                        key: y.scalar(key),
                        list: None,
                        up: Some(ctx),
                    };
                    self.visit(value, &child);
                }
                // Entries merged in from aliased mappings are part of this mapping too.
                for (key, value, line) in self.merged_entries(id) {
                    let child = Ctx {
                        key: Some(key),
                        list: None,
                        up: Some(ctx),
                    };
                    self.through(value, (line, Use::Merge), |w| w.visit(value, &child));
                }
            }
            Kind::Sequence { .. } => {
                self.parameters(id, ctx);
                let child = Ctx {
                    key: None,
                    list: ctx.key,
                    up: Some(ctx),
                };
                for item in y.items(id) {
                    self.visit(item, &child);
                }
            }
        }
    }

    /// Walks `f` as a use of `target` reached through an alias or merge key at `line`.
    fn through(&mut self, target: NodeId, at: (usize, Use), f: impl FnOnce(&mut Self)) {
        let saved = self.use_line.replace(at);
        self.expanding.push(target);
        self.depth += 1;
        f(self);
        self.depth -= 1;
        self.expanding.pop();
        self.use_line = saved;
    }

    /// The entries a mapping gets from `<<` merge keys naming aliased mappings (inline merged
    /// mappings are walked where they are written), minus its own keys: earlier sources win.
    fn merged_entries(&self, map: NodeId) -> Vec<(&'y str, NodeId, usize)> {
        let y = self.y;
        let sources = merge_sources(y, map, None);
        if sources.is_empty() {
            return Vec::new();
        }
        let mut taken: Vec<&str> = y
            .entries(map)
            .filter(|&(k, _)| !is_merge_key(y, k))
            .filter_map(|(k, _)| y.scalar(k))
            .collect();
        let mut out = Vec::new();
        self.collect_merged(&sources, &mut taken, &mut out, 0);
        out
    }

    /// The entries of `sources` (mappings, each with the line of the `<<` that brought it)
    /// whose keys are not `taken` yet, then those of the mappings they merge in turn.
    fn collect_merged(
        &self,
        sources: &[(NodeId, usize)],
        taken: &mut Vec<&'y str>,
        out: &mut Vec<(&'y str, NodeId, usize)>,
        depth: usize,
    ) {
        let y = self.y;
        if depth > 16 {
            return;
        }
        for &(source, line) in sources {
            if !matches!(y.node(source).kind(), Kind::Mapping { .. }) {
                continue;
            }
            for (k, v) in y.entries(source) {
                if !is_merge_key(y, k)
                    && let Some(key) = y.scalar(k)
                    && !taken.contains(&key)
                {
                    taken.push(key);
                    out.push((key, v, line));
                }
            }
            let nested = merge_sources(y, source, Some(line));
            self.collect_merged(&nested, taken, out, depth + 1);
        }
    }

    /// Whether a scalar sits under an anchor that aliases reuse: its uses are counted, and an
    /// edit is made only when every use means the same image.
    fn tracked(&self, id: NodeId) -> bool {
        self.y.shared_ancestor(id).is_some()
    }

    fn refuse(&mut self, reason: Reason, line: usize, column: usize, message: String) {
        self.reject(Refusal {
            reason,
            line,
            column,
            message,
        });
    }

    /// Records why a reference is not edited: a report (warning) for text, templates and
    /// placeholders, a refusal otherwise.
    fn reject(&mut self, r: Refusal) {
        if r.reason.is_report() {
            if self.depth == 0 {
                self.found.warnings.push(Warning {
                    line: r.line,
                    column: r.column,
                    reason: Some(r.reason),
                    message: r.message,
                });
            }
        } else {
            self.found.refusals.push(r);
        }
    }

    fn note(&mut self, line: usize, column: usize, message: String) {
        if self.depth == 0 {
            self.found.notes.push(Warning {
                line,
                column,
                reason: None,
                message,
            });
        }
    }

    /// A shape's claim that the scalar `primary` (resolved through aliases) is `image`'s tag,
    /// digest or reference, with what it means when `image` is wanted.
    fn offer(
        &mut self,
        primary: Option<NodeId>,
        image: ImageName,
        outcome: impl FnOnce(&Self) -> Result<Option<Mention>, Refusal>,
    ) {
        let wanted = self.want.wants(&image);
        if let Some(p) = primary {
            let node = self.y.node(p);
            if self.depth == 0
                && matches!(node.kind(), Kind::Scalar { .. })
                && self
                    .y
                    .comment_on_line(node.line())
                    .is_some_and(|c| c.contains("$imagepolicy"))
            {
                self.found.owned.push((node.span(), image.clone()));
            }
            if self.tracked(p) {
                let index = self.reach.get(&p).map_or(0, Vec::len);
                let outcome = wanted.then(|| outcome(self));
                self.claims.entry(p).or_default().push(Claim {
                    index,
                    image,
                    outcome,
                });
                return;
            }
        }
        if !wanted {
            return;
        }
        match outcome(self) {
            Ok(Some(mention)) => self.found.mentions.push(mention),
            Ok(None) => {}
            Err(r) => self.reject(r),
        }
    }

    /// Decides the scalars under aliased anchors: edited once when every use of the scalar
    /// means the same image, refused when a use means another image or no image at all.
    fn settle_shared(&mut self) {
        let y = self.y;
        for (id, claims) in std::mem::take(&mut self.claims) {
            let Some(first) = claims.iter().find(|c| c.outcome.is_some()) else {
                continue;
            };
            let image = first.image.clone();
            let node = y.node(id);
            let uses = self.reach.get(&id).cloned().unwrap_or_default();
            let (anchor, anchor_line) = match y.shared_ancestor(id) {
                Some((a, _)) => (y.anchor(a).unwrap_or("?").to_owned(), y.node(a).line()),
                None => ("?".to_owned(), node.line()),
            };
            let refusal = |message: String| Refusal {
                reason: Reason::SharedAnchor,
                line: node.line(),
                column: node.column(),
                message,
            };
            if self.overflow {
                self.reject(refusal(format!(
                    "the value for {image} is under the anchor &{anchor} (line {anchor_line}), and the file reuses anchors more often than ferry follows; give this field its own value"
                )));
                continue;
            }
            if let Some(other) = claims.iter().find(|c| c.image != image) {
                let at = uses.get(other.index).map_or(anchor_line, |u| u.0);
                self.reject(refusal(format!(
                    "the value for {image} is under the anchor &{anchor} (line {anchor_line}), which is also {}'s value (the use at line {at}); editing it would change both. Give each image its own value",
                    other.image
                )));
                continue;
            }
            // A block of defaults that only `<<` merges reuse is not itself a use: where it is
            // written it need not name the image.
            let defaults = uses.iter().all(|u| u.1 != Use::Alias);
            let unclaimed = (0..uses.len()).find(|&u| {
                let claimed = claims.iter().any(|c| c.index == u);
                !(claimed || defaults && uses[u].1 == Use::Written)
            });
            if let Some(u) = unclaimed {
                self.reject(refusal(format!(
                    "the value for {image} is under the anchor &{anchor} (line {anchor_line}), which the use at line {} reuses for something other than {image}; editing it would change that too. Give this field its own value",
                    uses[u].0
                )));
                continue;
            }
            let mut refused = false;
            for claim in claims {
                match claim.outcome {
                    Some(Ok(Some(mention))) if !self.found.mentions.contains(&mention) => {
                        self.found.mentions.push(mention);
                    }
                    Some(Err(r)) if !refused => {
                        refused = true;
                        let depth = std::mem::replace(&mut self.depth, 0);
                        self.reject(r);
                        self.depth = depth;
                    }
                    _ => {}
                }
            }
        }
    }

    /// A scalar value: a whole reference, a kustomize override, or text to check for mentions
    /// ferry does not edit.
    fn scalar(&mut self, id: NodeId, ctx: &Ctx<'_>) {
        let y = self.y;
        let node = y.node(id);
        let (Kind::Scalar { style }, Some(value)) = (node.kind(), y.scalar(id)) else {
            return;
        };
        if self.depth == 0 {
            self.setter_marker(id);
        }
        if style.is_block() {
            if self.depth == 0 {
                self.block_scalar(id);
            }
            return;
        }
        if let Want::Names(names) = self.want
            && !names.iter().any(|n| value.contains(n.last_component()))
        {
            return;
        }
        let key = ctx.key;
        let in_images_list = ctx.list == Some("images");
        if in_images_list
            && let Some((old, new)) = value.split_once('=')
            && let Ok(reference) = Reference::parse(new)
        {
            self.whole(id, reference, old.len() + 1, Shape::KustomizeOverride);
            return;
        }
        if let Ok(reference) = Reference::parse(value) {
            let tagged = reference.tag.is_some() || reference.digest.is_some();
            let runs = ctx.container_image() || ctx.volume_image();
            if matches!(self.kind, Some("ImageRepository" | "ImagePolicy")) && key == Some("image")
            {
                if self.want.wants(&reference.name) {
                    self.note(node.line(), node.column(), format!(
                        "{} is the repository a Flux ImageRepository scans for tags, not a deployed image; ferry leaves it as it is",
                        reference.name
                    ));
                }
                return;
            }
            let counts = match self.want {
                Want::Names(_) => tagged || runs,
                Want::Any => {
                    runs || (tagged
                        && (in_images_list
                            || key.is_some_and(|k| k.to_ascii_lowercase().contains("image"))))
                }
            };
            if counts {
                self.whole(id, reference, 0, Shape::Reference);
                return;
            }
            if key == Some("image") && self.want.wants(&reference.name) {
                self.refuse(
                    Reason::Untagged,
                    node.line(),
                    node.column(),
                    format!(
                        "{} is named without a tag outside a container's `image:`, so ferry does not know it runs there and adds no tag; if it is a deployed image, write its tag (`{value}:TAG`)",
                        reference.name
                    ),
                );
                return;
            }
            if !tagged {
                return;
            }
        }
        let Want::Names(names) = self.want else {
            return;
        };
        for name in names {
            // One report per image and value: the first place it is named.
            if let Some((range, pin)) = pins(value, name).into_iter().next() {
                let whole = range == (0..value.len());
                let (reason, message) = if value.contains("{{") {
                    (
                        Reason::Template,
                        format!(
                            "{name} is named inside a template expression (`{}`), which ferry does not edit; set the tag in the values the template reads",
                            crate::ci::one_line(&value[range])
                        ),
                    )
                } else {
                    match pin {
                        Pin::Placeholder => (
                            Reason::Placeholder,
                            format!(
                                "`{}` holds a placeholder where {name}'s tag goes, filled in by another tool; ferry does not edit it. If the file is deployed as written, replace the placeholder with a tag",
                                crate::ci::one_line(&value[range])
                            ),
                        ),
                        Pin::Invalid if whole => (
                            Reason::InvalidReference,
                            format!(
                                "`{}` names {name} with a tag or digest that is not valid (a tag is up to 128 of [A-Za-z0-9_.-]; a digest is an algorithm, `:` and at least 32 hex digits), so ferry does not edit it; fix the value",
                                crate::ci::one_line(&value[range])
                            ),
                        ),
                        Pin::Invalid | Pin::Valid => (
                            Reason::LongerString,
                            format!(
                                "{name} is named inside a longer string (`{}`), which ferry does not edit; make the reference a value of its own",
                                crate::ci::one_line(&value[range])
                            ),
                        ),
                    }
                };
                self.refuse(reason, node.line(), node.column(), message);
            }
        }
    }

    fn whole(&mut self, id: NodeId, reference: Reference, prefix_len: usize, shape: Shape) {
        let image = reference.name.clone();
        self.offer(Some(id), image.clone(), |w| {
            Ok(w.slot(id, &image)?.map(|slot| Mention {
                image: image.clone(),
                shape,
                target: Target::Whole {
                    slot,
                    prefix_len,
                    reference,
                },
            }))
        });
    }

    /// The rewritable scalar at `id` (through aliases, the anchored scalar), a refusal saying
    /// why it is not rewritable, or None when `id` is not a scalar at all.
    fn slot(&self, id: NodeId, image: &dyn std::fmt::Display) -> Result<Option<Slot>, Refusal> {
        let id = self.y.resolve(id);
        let node = self.y.node(id);
        let refusal = |reason, message: String| Refusal {
            reason,
            line: node.line(),
            column: node.column(),
            message,
        };
        match node.kind() {
            Kind::Scalar { style } => {
                let value = self.y.scalar(id).unwrap_or_default();
                if style.is_block() {
                    return Err(refusal(
                        Reason::BlockScalar,
                        format!(
                            "the value for {image} is a block scalar (`|` or `>`), which ferry does not edit; write it as a single-line value"
                        ),
                    ));
                }
                if value.contains("{{") {
                    return Err(refusal(
                        Reason::Template,
                        format!(
                            "the value for {image} is a template expression, which ferry does not edit; set the tag in the values the template reads"
                        ),
                    ));
                }
                if let Some(p) = placeholder_in(value) {
                    return Err(refusal(
                        Reason::Placeholder,
                        format!(
                            "the value for {image} holds a placeholder (`{}`), filled in by another tool; ferry does not edit it. If the file is deployed as written, replace the placeholder with a tag",
                            crate::ci::one_line(p)
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

    fn mapping(&mut self, id: NodeId, ctx: &Ctx<'_>) {
        if ctx.list == Some("images") && self.kustomize_entry(id) {
            return;
        }
        self.helm_values(id);
    }

    /// The scalar text of `key` in mapping `id` (own entries, through aliases).
    fn text_of(&self, id: NodeId, key: &str) -> Option<&'y str> {
        self.y
            .get(id, key)
            .and_then(|n| self.y.scalar(self.y.resolve(n)))
    }

    /// A kustomize `images:` entry (`name`, `newName`, `newTag`, `digest`).
    fn kustomize_entry(&mut self, id: NodeId) -> bool {
        let y = self.y;
        let Some(name) = self.text_of(id, "name") else {
            return false;
        };
        let new_name = y.get(id, "newName");
        let new_tag = y.get(id, "newTag");
        let digest = y.get(id, "digest");
        if new_name.is_none() && new_tag.is_none() && digest.is_none() && !self.kustomization {
            return false;
        }
        let effective = self.text_of(id, "newName").unwrap_or(name);
        let Ok(image) = ImageName::parse(effective) else {
            return true;
        };
        let node = y.node(id);
        let primary = new_tag.or(digest).map(|n| y.resolve(n));
        self.offer(primary, image.clone(), |w| {
            let tag = new_tag.map(|t| w.slot(t, &image)).transpose()?.flatten();
            let digest = digest.map(|d| w.slot(d, &image)).transpose()?.flatten();
            let insert = w.insert_point(id);
            if tag.is_none() && insert.is_none() {
                return Err(Refusal {
                    reason: Reason::EmptyValue,
                    line: node.line(),
                    column: node.column(),
                    message: format!(
                        "the entry for {image} has no `newTag`, and one cannot be added after its last value, a block scalar that keeps its trailing lines (`|+`); add `newTag:` above it"
                    ),
                });
            }
            Ok(Some(Mention {
                image: image.clone(),
                shape: Shape::KustomizeImages,
                target: Target::Fields {
                    tag,
                    digest,
                    insert,
                },
            }))
        });
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
        // Most mappings have none of these keys: skip resolving merges for them.
        if !y
            .entries(id)
            .any(|(k, _)| matches!(y.scalar(k), Some("tag" | "<<" | "repository")))
        {
            return;
        }
        let get = |key: &str| y.merged_get(id, key);
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
        let Some((tag, _)) = get("tag") else {
            // `repository` alone names where images come from; the chart picks the tag.
            if let Some((repo, _)) = get("repository")
                && self.want.wants(&image)
                && self.depth == 0
            {
                let node = y.node(y.resolve(repo));
                self.refuse(
                    Reason::Untagged,
                    node.line(),
                    node.column(),
                    format!(
                        "{image} is named by a `repository` with no `tag` beside it (the chart picks the tag, often its appVersion), so ferry has nothing to set; add `tag:` to this mapping to pin it"
                    ),
                );
            }
            return;
        };
        let digest = get("digest");
        let primary = y.resolve(tag);
        self.offer(Some(primary), image.clone(), |w| {
            let Some(tag) = w.slot(tag, &image)? else {
                return Ok(None);
            };
            let digest = match digest {
                Some((d, _)) => w.slot(d, &image)?,
                None => None,
            };
            Ok(Some(Mention {
                image: image.clone(),
                shape: Shape::HelmValues,
                target: Target::Fields {
                    tag: Some(tag),
                    digest,
                    insert: None,
                },
            }))
        });
    }

    /// `{name, value}` parameter lists: `<prefix>.tag` beside `<prefix>.repository` or
    /// `<prefix>.name`.
    fn parameters(&mut self, list: NodeId, _ctx: &Ctx<'_>) {
        let y = self.y;
        let params: Vec<(&str, NodeId)> = y
            .items(list)
            .filter_map(|item| {
                let item = y.resolve(item);
                let name = self.text_of(item, "name")?;
                Some((name, y.get(item, "value")?))
            })
            .collect();
        if params.len() < 2 {
            return;
        }
        // The first parameter of each name, indexed: a list may hold thousands.
        let mut by_name: HashMap<&str, NodeId> = HashMap::with_capacity(params.len());
        for &(n, v) in &params {
            by_name.entry(n).or_insert(v);
        }
        let value = |key: &str| by_name.get(key).copied();
        let text = |key: &str| value(key).and_then(|v| y.scalar(y.resolve(v)));
        let image_of = |prefix: &str| -> Option<ImageName> {
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
                (None, None) => return None,
            };
            ImageName::parse(&image_text).ok()
        };
        for &(name, tag) in &params {
            if let Some(prefix) = name
                .strip_suffix("repository")
                .filter(|p| p.is_empty() || p.ends_with('.'))
                && value(&format!("{prefix}tag")).is_none()
                && self.depth == 0
                && let Some(image) = image_of(prefix)
                && self.want.wants(&image)
            {
                let node = y.node(y.resolve(tag));
                self.refuse(
                    Reason::Untagged,
                    node.line(),
                    node.column(),
                    format!(
                        "{image} is named by the parameter `{name}` with no `{prefix}tag` beside it, so ferry has nothing to set; add a `{prefix}tag` parameter to pin it"
                    ),
                );
                continue;
            }
            let Some(prefix) = name
                .strip_suffix("tag")
                .filter(|p| p.is_empty() || p.ends_with('.'))
            else {
                continue;
            };
            let Some(image) = image_of(prefix) else {
                continue;
            };
            let digest = value(&format!("{prefix}digest"));
            self.offer(Some(y.resolve(tag)), image.clone(), |w| {
                let Some(tag) = w.slot(tag, &image)? else {
                    return Ok(None);
                };
                let digest = digest.map(|d| w.slot(d, &image)).transpose()?.flatten();
                Ok(Some(Mention {
                    image: image.clone(),
                    shape: Shape::HelmParameters,
                    target: Target::Fields {
                        tag: Some(tag),
                        digest,
                        insert: None,
                    },
                }))
            });
        }
    }

    /// A literal or folded block scalar: text, not fields. Each reference inside it is reported
    /// (embedded YAML such as Argo CD `helm.values: |` is searched with every shape, and the
    /// report points at the value ferry would have edited).
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
            for mention in &found.mentions {
                let (line, column) = mention.position();
                spots.push((line, column, mention.image.to_string()));
            }
            for r in found.refusals.iter().chain(
                &found
                    .warnings
                    .iter()
                    .map(|w| Refusal {
                        reason: Reason::BlockScalar,
                        line: w.line,
                        column: w.column,
                        message: String::new(),
                    })
                    .collect::<Vec<_>>(),
            ) {
                spots.push((r.line, r.column, "an image".into()));
            }
        }
        if spots.is_empty() {
            let lines = crate::yaml::LineIndex::new(value);
            for name in names {
                for (range, _) in pins(value, name) {
                    let (line, column) = lines.position(value, range.start);
                    spots.push((line, column, name.to_string()));
                }
            }
        }
        for (line, column, image) in spots {
            self.refuse(
                Reason::BlockScalar,
                node.line() + line - 1,
                column + indent,
                format!("{image} is named inside a block scalar (a `|` or `>` text), which ferry does not edit; if it is deployed from there, move these values to structured YAML (for Argo CD, `helm.valuesObject` instead of `helm.values`)"),
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
                let slot = match y.shared_ancestor(id) {
                    Some((shared, alias_line)) => Err(Refusal {
                        reason: Reason::SharedAnchor,
                        line: node.line(),
                        column: node.column(),
                        message: format!(
                            "the value set by the setter marker of policy {policy} is under the anchor &{} (line {}), which the alias at line {alias_line} reuses; editing it would change every use. Give it its own value",
                            y.anchor(shared).unwrap_or("?"),
                            y.node(shared).line()
                        ),
                    }),
                    None => match self.slot(id, &format!("policy {policy}")) {
                        Ok(Some(slot)) => Ok(slot),
                        Err(r) => Err(r),
                        Ok(None) => return,
                    },
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

/// Whether `key` is a `<<` merge key (not a quoted or tagged `<<` string).
fn is_merge_key(y: &Yaml<'_>, key: NodeId) -> bool {
    y.scalar(key) == Some("<<") && y.tag(key).is_none()
}

/// The aliased mappings the `<<` keys of `map` merge in (`<<: *a` or `<<: [*a, *b]`), each with
/// the line of its `<<` key, or `line` when given (a merge reached through another merge).
fn merge_sources(y: &Yaml<'_>, map: NodeId, line: Option<usize>) -> Vec<(NodeId, usize)> {
    let mut out = Vec::new();
    for (k, v) in y.entries(map).filter(|&(k, _)| is_merge_key(y, k)) {
        let at = line.unwrap_or_else(|| y.node(k).line());
        let items: Vec<NodeId> = match y.node(v).kind() {
            Kind::Sequence { .. } => y.items(v).collect(),
            _ => vec![v],
        };
        for item in items {
            if let Kind::Alias { target } = y.node(item).kind() {
                out.push((target, at));
            }
        }
    }
    out
}

/// How the text after an image's name pins it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Pin {
    /// A valid tag or digest.
    Valid,
    /// A placeholder another tool fills in (`{TAG}`, `${TAG}`, `$(TAG)`, `{{ .tag }}`, `<tag>`).
    Placeholder,
    /// A tag or digest that is not valid (`@sha256:abc`, `:v1!`).
    Invalid,
}

/// The start of a placeholder in a tag, if the value holds one.
fn placeholder_in(value: &str) -> Option<&str> {
    value
        .match_indices(['{', '$', '<', '%'])
        .find_map(|(at, _)| {
            let rest = &value[at..];
            let is = rest.starts_with("${")
                || rest.starts_with("$(")
                || rest.starts_with('{') && rest.contains('}')
                || rest.starts_with('<') && rest.contains('>')
                || rest.starts_with('%') && rest[1..].contains('%');
            is.then_some(rest)
        })
}

/// Every place `text` names `name` with something after it that pins a version: `name:…` or
/// `name@…`, whether or not that makes a valid reference. The range covers the name and the
/// pin up to the next space, quote or comma.
fn pins(text: &str, name: &ImageName) -> Vec<(Range<usize>, Pin)> {
    let needle = name.last_component();
    let bytes = text.as_bytes();
    let mut out = Vec::new();
    if needle.is_empty() {
        return out;
    }
    let name_byte =
        |b: u8| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-' | b'/' | b':');
    let mut scanned = 0;
    for (hit, _) in text.match_indices(needle) {
        if hit < scanned {
            continue;
        }
        let end = hit + needle.len();
        // The name starts after the last byte that cannot be part of it (`=` ends a flag).
        let start = bytes[..hit]
            .iter()
            .rposition(|&b| !name_byte(b))
            .map_or(0, |i| i + 1);
        let Ok(found) = ImageName::parse(&text[start..end]) else {
            continue;
        };
        if &found != name {
            continue;
        }
        let Some(&sep @ (b':' | b'@')) = bytes.get(end) else {
            continue;
        };
        let stop = bytes[end..]
            .iter()
            .position(|&b| b.is_ascii_whitespace() || matches!(b, b'"' | b'\'' | b',' | b']'))
            .map_or(bytes.len(), |i| end + i);
        // A `{{ … }}` with spaces inside runs to its closing braces.
        let stop = match text[end..].find("{{") {
            Some(open) if end + open < stop => text[end + open..]
                .find("}}")
                .map_or(stop, |close| (end + open + close + 2).max(stop)),
            _ => stop,
        };
        scanned = stop;
        let pin_text = &text[end + 1..stop];
        if pin_text.is_empty() || (sep == b':' && pin_text.starts_with('/')) {
            continue;
        }
        let pin = if placeholder_in(pin_text).is_some() {
            Pin::Placeholder
        } else if Reference::parse(&text[start..stop]).is_ok() {
            Pin::Valid
        } else {
            Pin::Invalid
        };
        out.push((start..stop, pin));
    }
    out
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
        assert_eq!(f.mentions.len(), 1);
        assert_eq!(f.mentions[0].shape, Shape::Reference);
        assert_eq!(f.warnings.len(), 1);
        assert_eq!(f.warnings[0].line, 3);
    }

    #[test]
    fn helm_registry_and_repository() {
        let src = "image:\n  registry: ghcr.io\n  repository: shop/cart\n  tag: v1\n  digest: ''\n";
        let f = find(src, "values.yaml", "ghcr.io/shop/cart");
        assert_eq!(f.mentions.len(), 1);
        let Target::Fields {
            tag: Some(tag),
            digest: Some(d),
            ..
        } = &f.mentions[0].target
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
        } = &f.mentions[0].target
        else {
            panic!("{f:?}")
        };
        assert_eq!(p.lead, "\r\n    ");
        assert_eq!(p.at, src.len() - 2);
        // Outside a kustomization file an entry with only `name` is not an image entry.
        assert!(find(src, "other.yaml", "shop/cart").mentions.is_empty());
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
    fn anchor_reused_for_the_same_image_is_one_mention() {
        let src = "a: &img shop/cart:v1\nb: *img\n";
        let f = find(src, "x.yaml", "shop/cart");
        assert!(f.refusals.is_empty(), "{f:?}");
        assert_eq!(f.mentions.len(), 1);
        assert_eq!(f.mentions[0].position(), (1, 9));
    }

    #[test]
    fn anchor_shared_with_another_image_or_a_non_image_value_is_refused() {
        let other =
            "a:\n  repository: shop/cart\n  tag: &t v1\nb:\n  repository: shop/api\n  tag: *t\n";
        let f = find(other, "values.yaml", "shop/cart");
        assert!(f.mentions.is_empty());
        assert_eq!(f.refusals[0].reason, Reason::SharedAnchor);
        assert!(
            f.refusals[0].message.contains("shop/api"),
            "{}",
            f.refusals[0].message
        );
        let label = "a:\n  repository: shop/cart\n  tag: &t v1\nlabels:\n  version: *t\n";
        let f = find(label, "values.yaml", "shop/cart");
        assert!(f.mentions.is_empty());
        assert_eq!((f.refusals[0].line, f.refusals[0].column), (3, 11));
        assert!(
            f.refusals[0].message.contains("line 5"),
            "{}",
            f.refusals[0].message
        );
    }

    #[test]
    fn merge_that_sets_its_own_tag_is_edited_there() {
        let src = "base: &base\n  repository: shop/cart\n  tag: v1\nprod:\n  <<: *base\n  tag: v1\nother:\n  <<: *base\n  repository: shop/api\n  tag: v3\n";
        let f = find(src, "values.yaml", "shop/cart");
        assert!(f.refusals.is_empty(), "{f:?}");
        let mut at: Vec<_> = f.mentions.iter().map(Mention::position).collect();
        at.sort_unstable();
        assert_eq!(at, [(3, 8), (6, 8)]);
    }

    #[test]
    fn aliases_are_followed_within_a_budget() {
        // A billion laughs: each level doubles the uses of the one below.
        let mut src = String::from("a: &a0 shop/cart:v1\n");
        for i in 1..40 {
            src.push_str(&format!("l{i}: &a{i} [*a{}, *a{}]\n", i - 1, i - 1));
        }
        let f = find(&src, "x.yaml", "shop/cart");
        assert!(f.mentions.is_empty());
        assert_eq!(f.refusals[0].reason, Reason::SharedAnchor);
    }

    #[test]
    fn block_scalar_helm_values_are_reported_at_the_inner_line() {
        let src = "spec:\n  helm:\n    values: |\n      image:\n        repository: shop/cart\n        tag: v1\n";
        let f = find(src, "app.yaml", "shop/cart");
        assert!(f.mentions.is_empty() && f.refusals.is_empty());
        assert_eq!(f.warnings.len(), 1);
        assert_eq!(f.warnings[0].reason, Some(Reason::BlockScalar));
        assert_eq!((f.warnings[0].line, f.warnings[0].column), (6, 14));
    }

    #[test]
    fn placeholders_and_invalid_pins_are_reported() {
        for (value, reason) in [
            ("shop/cart:{TAG}", Reason::Placeholder),
            ("shop/cart:${TAG}", Reason::Placeholder),
            ("shop/cart:$(TAG)", Reason::Placeholder),
            ("'shop/cart:{{ .Values.tag }}'", Reason::Template),
            ("shop/cart@sha256:abc", Reason::InvalidReference),
            ("shop/cart:v1@sha256:0123", Reason::InvalidReference),
        ] {
            let src = format!(
                "containers:\n- name: a\n  image: {value}\n- name: b\n  image: shop/cart:v1\n"
            );
            let f = find(&src, "d.yaml", "shop/cart");
            assert_eq!(f.mentions.len(), 1, "{value}");
            assert_eq!(f.warnings.len(), 1, "{value}: {f:?}");
            assert_eq!(f.warnings[0].reason, Some(reason), "{value}");
            assert_eq!(f.warnings[0].line, 3, "{value}");
        }
    }

    #[test]
    fn bare_names_get_a_tag_only_where_a_container_runs_them() {
        let src = "spec:\n  containers:\n  - name: a\n    image: shop/cart\n  volumes:\n  - name: v\n    image:\n      reference: shop/cart\n  values:\n    image: shop/cart\n";
        let f = find(src, "pod.yaml", "shop/cart");
        let mut at: Vec<_> = f.mentions.iter().map(Mention::position).collect();
        at.sort_unstable();
        assert_eq!(at, [(4, 12), (8, 18)]);
        assert_eq!(f.warnings.len(), 1);
        assert_eq!(f.warnings[0].reason, Some(Reason::Untagged));
        let flux = "apiVersion: image.toolkit.fluxcd.io/v1beta2\nkind: ImageRepository\nmetadata:\n  name: cart\nspec:\n  image: shop/cart\n";
        let f = find(flux, "repo.yaml", "shop/cart");
        assert!(f.mentions.is_empty() && f.warnings.is_empty());
        assert_eq!(f.notes.len(), 1);
    }

    #[test]
    fn helm_repository_without_tag_is_reported() {
        let src = "image:\n  repository: shop/cart\n  pullPolicy: Always\n";
        let f = find(src, "values.yaml", "shop/cart");
        assert!(f.mentions.is_empty());
        assert_eq!(f.warnings[0].reason, Some(Reason::Untagged));
        assert_eq!((f.warnings[0].line, f.warnings[0].column), (2, 15));
    }

    #[test]
    fn parameters_with_prefix() {
        let src = "parameters:\n- name: image.registry\n  value: ghcr.io\n- name: image.repository\n  value: shop/cart\n- name: image.tag\n  value: \"v1\"\n";
        let f = find(src, "app.yaml", "ghcr.io/shop/cart");
        assert_eq!(f.mentions.len(), 1);
        assert_eq!(f.mentions[0].shape, Shape::HelmParameters);
    }
}
