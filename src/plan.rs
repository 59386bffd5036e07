//! A pure plan: from file contents and requested image updates to new file contents.
//!
//! [`Planner::scan`] looks at one file (cheap byte prefilter, then parse and
//! [`locate`](crate::locate::locate)); [`Planner::plan`] combines the scans of a tree, resolves
//! Flux setter markers across files, computes every edit and splices it with verification. No
//! I/O happens here: the same plan serves a local directory and a git tree.

use std::collections::{BTreeMap, HashSet};
use std::sync::atomic::{AtomicU64, Ordering};

use memchr::memmem::Finder;
use serde::Serialize;

use crate::image::{self, ImageName, ImageUpdate};
use crate::locate::{
    self, Found, InsertPoint, MarkedField, Mention, Reason, Shape, Slot, Target, Want,
};
use crate::yaml::splice::{self, Edit, SpliceError};
use crate::yaml::{Style, Yaml, scalar};

/// The default largest file ferry parses: 16 MiB, far above any hand-written manifest or
/// values file, and small enough that parsing it costs little memory.
pub const DEFAULT_MAX_FILE_SIZE: u64 = 16 * 1024 * 1024;

static MAX_FILE_SIZE: AtomicU64 = AtomicU64::new(DEFAULT_MAX_FILE_SIZE);

/// Sets the largest file (in bytes) the planners of this process parse
/// (`--max-file-size` / `FERRY_MAX_FILE_SIZE`).
pub fn set_max_file_size(bytes: u64) {
    MAX_FILE_SIZE.store(bytes, Ordering::Relaxed);
}

/// The largest file (in bytes) ferry parses.
pub fn max_file_size() -> u64 {
    MAX_FILE_SIZE.load(Ordering::Relaxed)
}

/// Parses a size: bytes, or a number with a unit `K`/`KiB`, `M`/`MiB`, `G`/`GiB` (powers of
/// 1024, any letter case, optional space).
pub fn parse_size(text: &str) -> Result<u64, String> {
    let t = text.trim();
    let digits = t.find(|c: char| !c.is_ascii_digit()).unwrap_or(t.len());
    let (number, unit) = t.split_at(digits);
    let shift = match unit.trim().to_ascii_lowercase().as_str() {
        "" | "b" => 0,
        "k" | "kb" | "kib" => 10,
        "m" | "mb" | "mib" => 20,
        "g" | "gb" | "gib" => 30,
        _ => {
            return Err(format!(
                "`{text}` is not a size: give bytes, or a number with KiB, MiB or GiB (e.g. 16MiB)"
            ));
        }
    };
    number
        .parse::<u64>()
        .ok()
        .and_then(|n| n.checked_mul(1 << shift))
        .filter(|&n| n > 0)
        .ok_or_else(|| format!("`{text}` is not a size: give a positive number of bytes, or a number with KiB, MiB or GiB (e.g. 16MiB)"))
}

/// One file's content as a reader of files (such as [`crate::tree::scan`]) hands it to the
/// planner.
pub enum Content<'b> {
    /// The whole file.
    Bytes(&'b [u8]),
    /// A file over [`max_file_size`], as its size from the file's metadata said before anything
    /// was read (or that grew past the limit while being read): not loaded into memory. `reader`
    /// reads it from the start, for a look in bounded memory.
    TooLarge {
        size: u64,
        reader: &'b mut dyn std::io::Read,
    },
}

/// Whether a path names a file ferry reads: `*.yaml`, `*.yml` or `Kustomization`.
pub fn is_yaml_path(path: &str) -> bool {
    let name = path.rsplit('/').next().unwrap_or(path);
    name.ends_with(".yaml") || name.ends_with(".yml") || name == "Kustomization"
}

/// The directories of a tree's Helm charts (those holding a `Chart.yaml`), to tell chart
/// sources (`<chart>/templates/…`) apart from deployed files.
#[derive(Debug, Clone, Default)]
pub struct Charts(HashSet<String>);

impl Charts {
    /// The charts among `paths` (files relative to one root, `/`-separated).
    pub fn new<'p>(paths: impl IntoIterator<Item = &'p str>) -> Charts {
        Charts(
            paths
                .into_iter()
                .filter_map(|p| match p.rsplit_once('/') {
                    Some((dir, "Chart.yaml")) => Some(dir.to_owned()),
                    None if p == "Chart.yaml" => Some(String::new()),
                    _ => None,
                })
                .collect(),
        )
    }

    /// Whether `path` is below the `templates/` directory of one of the charts.
    pub fn is_source(&self, path: &str) -> bool {
        if self.0.is_empty() {
            return false;
        }
        let mut at = 0;
        while let Some(i) = path[at..].find("templates/") {
            let start = at + i;
            let dir = path[..start].trim_end_matches('/');
            if (start == 0 || path.as_bytes()[start - 1] == b'/') && self.0.contains(dir) {
                return true;
            }
            at = start + 1;
        }
        false
    }
}

/// One edited scalar (or added key), as reported to users.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Change {
    pub file: String,
    pub line: usize,
    pub column: usize,
    /// The normalized image name.
    pub image: String,
    pub shape: Shape,
    /// The scalar's value before; `None` for an added key.
    pub old: Option<String>,
    /// The value after; "" for a removed key.
    pub new: String,
    /// Whether the key's line was removed (a stale kustomize `digest` or `newTag`).
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub removed: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub note: Option<String>,
    /// For an added key: the insertion (byte in the old text, inserted text, bytes before the
    /// key), from which its place in the new text is computed.
    #[serde(skip)]
    pub(crate) inserted: Option<(usize, String, usize)>,
}

/// A warning or refusal with its file.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Notice {
    pub file: String,
    pub line: usize,
    pub column: usize,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reason: Option<Reason>,
    pub message: String,
}

/// A file's contents before and after.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FileEdit {
    pub path: String,
    pub before: String,
    pub after: String,
}

/// What applying the updates to a tree means.
#[derive(Debug, Clone, Default)]
pub struct Plan {
    /// Files whose bytes change, in path order.
    pub files: Vec<FileEdit>,
    pub changes: Vec<Change>,
    /// Mentions of the images that are left alone, with why and the fix (`--strict` turns
    /// them into refusals).
    pub warnings: Vec<Notice>,
    /// Places that name the images and need nothing (chart sources, Flux `ImageRepository`).
    pub notes: Vec<Notice>,
    /// References that must not be edited. When any exist, nothing may be written.
    pub refusals: Vec<Notice>,
    /// Requested images with no reference at all.
    pub missing: Vec<ImageName>,
    /// How many references to the requested images were found (changed or already current).
    pub references: usize,
}

/// What a plan decides, in the order it decides it: the one reading of a [`Plan`] that
/// `set-image` and `bump` both act on ([`Plan::verdict`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict<'p> {
    /// References that must not be edited: nothing may be written (even when others would
    /// change, and even when an image is also missing).
    Refused(&'p [Notice]),
    /// Requested images with no reference at all: nothing may be written.
    Missing(&'p [ImageName]),
    /// Every reference to the requested images already says what was asked: nothing to write.
    UpToDate {
        /// How many references were found.
        references: usize,
    },
    /// Edits to write.
    Changes {
        /// The files whose bytes change, in path order.
        files: &'p [FileEdit],
        /// Each reference that changes.
        changes: &'p [Change],
    },
}

impl Plan {
    /// What the plan decides: refused when any reference must not be edited, else missing when
    /// a requested image has no reference, else up to date when nothing changes, else changes.
    #[must_use]
    pub fn verdict(&self) -> Verdict<'_> {
        if !self.refusals.is_empty() {
            Verdict::Refused(&self.refusals)
        } else if !self.missing.is_empty() {
            Verdict::Missing(&self.missing)
        } else if self.changes.is_empty() {
            Verdict::UpToDate {
                references: self.references,
            }
        } else {
            Verdict::Changes {
                files: &self.files,
                changes: &self.changes,
            }
        }
    }

    /// All or nothing (`--strict`, `strict: true` in `ferry.yaml`): every mention that would be
    /// reported and left alone refuses the edit instead.
    pub fn refuse_reports(&mut self) {
        let mut moved = false;
        for mut w in std::mem::take(&mut self.warnings) {
            if w.reason.is_some_and(Reason::is_report) {
                w.message.push_str(" (refused: strict mode)");
                self.refusals.push(w);
                moved = true;
            } else {
                self.warnings.push(w);
            }
        }
        if moved {
            self.refusals
                .sort_by(|a, b| (&a.file, a.line, a.column).cmp(&(&b.file, b.line, b.column)));
        }
    }

    /// Puts every path below `prefix` (the plan was made for a subdirectory, such as an
    /// environment's path in its repository).
    pub fn relocate(&mut self, prefix: &str) {
        let prefix = prefix.trim_end_matches('/');
        if prefix.is_empty() {
            return;
        }
        let moved = |path: &mut String| *path = format!("{prefix}/{path}");
        self.files.iter_mut().for_each(|f| moved(&mut f.path));
        self.changes.iter_mut().for_each(|c| moved(&mut c.file));
        self.warnings.iter_mut().for_each(|n| moved(&mut n.file));
        self.notes.iter_mut().for_each(|n| moved(&mut n.file));
        self.refusals.iter_mut().for_each(|n| moved(&mut n.file));
    }
}

/// A plan that could not be made.
#[derive(Debug, thiserror::Error)]
pub enum PlanError {
    #[error("{0} is requested twice; give each image once")]
    Duplicate(String),
    #[error("{file}: {error}. This is a bug in ferry; please report it with the file")]
    Verify { file: String, error: SpliceError },
}

/// What one file holds for the requested images.
#[derive(Debug, Clone)]
pub struct Scan {
    pub path: String,
    pub text: String,
    pub found: Found,
}

/// Plans updates of a fixed set of images.
#[derive(Debug)]
pub struct Planner {
    updates: Vec<ImageUpdate>,
    names: Vec<ImageName>,
    needles: Vec<Finder<'static>>,
    /// Files larger than this that may reference the images are refused, not parsed.
    max_file_size: u64,
}

impl Planner {
    pub fn new(updates: Vec<ImageUpdate>) -> Result<Planner, PlanError> {
        let mut names: Vec<ImageName> = Vec::with_capacity(updates.len());
        for u in &updates {
            if names.contains(&u.image) {
                return Err(PlanError::Duplicate(u.image.familiar()));
            }
            names.push(u.image.clone());
        }
        let mut needles: Vec<Finder<'static>> = names
            .iter()
            .map(|n| Finder::new(n.last_component()).into_owned())
            .collect();
        needles.push(Finder::new("$imagepolicy").into_owned());
        Ok(Planner {
            updates,
            names,
            needles,
            max_file_size: max_file_size(),
        })
    }

    /// The same planner with another file size limit (bytes).
    #[must_use]
    pub fn with_max_file_size(mut self, bytes: u64) -> Planner {
        self.max_file_size = bytes;
        self
    }

    pub fn updates(&self) -> &[ImageUpdate] {
        &self.updates
    }

    /// Cheap test: a file that contains no requested image's last path component standing as a
    /// whole name component (nor a setter marker) cannot reference them. `cart` passes in
    /// `acme/cart:v1` and `name: cart`, not in `cart-worker`, `carts` or `cart.shop.svc`.
    pub fn may_reference(&self, bytes: &[u8]) -> bool {
        let (components, marker) = self.needles.split_at(self.needles.len() - 1);
        marker[0].find(bytes).is_some()
            || components.iter().any(|n| {
                let len = n.needle().len();
                n.find_iter(bytes).any(|at| stands_alone(bytes, at, len))
            })
    }

    /// Looks for the requested images in one file. `None` when the file has nothing to say.
    pub fn scan(&self, path: &str, bytes: &[u8]) -> Option<Scan> {
        if !self.may_reference(bytes) {
            return None;
        }
        if bytes.len() as u64 > self.max_file_size {
            return Some(self.too_large(path, bytes.len()));
        }
        let file_name = path.rsplit('/').next().unwrap_or(path);
        let (text, found) = match std::str::from_utf8(bytes) {
            Ok(text) => match Yaml::parse(text) {
                Ok(yaml) => {
                    let mut found = locate::locate(&yaml, file_name, Want::Names(&self.names));
                    if edits_or_reads(&found) {
                        refuse_duplicates(&yaml, &mut found);
                    }
                    (text, found)
                }
                Err(error) => (
                    text,
                    self.unparsable(
                        text,
                        &format!(
                            "it does not parse as YAML at {}:{}: {}",
                            error.line, error.column, error.message
                        ),
                    ),
                ),
            },
            Err(e) => {
                let lossy = String::from_utf8_lossy(bytes);
                let found = self.unparsable(
                    &lossy,
                    &format!(
                        "it is not UTF-8 (invalid byte at offset {})",
                        e.valid_up_to()
                    ),
                );
                return has_findings(&found).then(|| Scan {
                    path: path.to_owned(),
                    text: lossy.into_owned(),
                    found,
                });
            }
        };
        if !has_findings(&found) {
            return None;
        }
        Some(Scan {
            path: path.to_owned(),
            text: text.to_owned(),
            found,
        })
    }

    /// [`Planner::scan`] for a file read from disk by [`crate::tree::scan`]: a file over the
    /// size limit is looked at in bounded memory, a chunk at a time, and refused (not parsed)
    /// when it may reference the images.
    pub fn scan_content(&self, path: &str, content: Content<'_>) -> Option<Scan> {
        match content {
            Content::Bytes(bytes) => self.scan(path, bytes),
            Content::TooLarge { size, reader } => self
                .may_reference_read(reader)
                .then(|| self.too_large(path, usize::try_from(size).unwrap_or(usize::MAX))),
        }
    }

    /// [`Planner::may_reference`] over a reader, 1 MiB at a time: each chunk is looked at with
    /// the end of the one before, so a name across two chunks is seen. A read error counts as
    /// a possible reference (the file is then refused, not skipped).
    fn may_reference_read(&self, reader: &mut dyn std::io::Read) -> bool {
        const CHUNK: usize = 1 << 20;
        let overlap = self
            .needles
            .iter()
            .map(|n| n.needle().len())
            .max()
            .unwrap_or(0)
            + 2;
        let mut window: Vec<u8> = Vec::with_capacity(CHUNK + overlap);
        let mut chunk = vec![0u8; CHUNK];
        loop {
            let read = match reader.read(&mut chunk) {
                Ok(0) => return false,
                Ok(n) => n,
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
                Err(_) => return true,
            };
            let keep = window.len().min(overlap);
            window.drain(..window.len() - keep);
            window.extend_from_slice(&chunk[..read]);
            if self.may_reference(&window) {
                return true;
            }
        }
    }

    /// A file over the size limit that may reference the images: refused, without parsing it.
    fn too_large(&self, path: &str, size: usize) -> Scan {
        let limit = self.max_file_size;
        let mut found = Found::default();
        found.refusals.push(locate::Refusal {
            reason: Reason::TooLarge,
            line: 1,
            column: 1,
            message: format!(
                "the file is {size} bytes, over the limit of {limit} bytes for a file ferry parses; split it, or raise the limit with --max-file-size or FERRY_MAX_FILE_SIZE (e.g. {}MiB)",
                (size as u64).div_ceil(1 << 20).max(1)
            ),
        });
        Scan {
            path: path.to_owned(),
            text: String::new(),
            found,
        }
    }

    /// A file that cannot be parsed is refused where it mentions a requested image, and
    /// skipped otherwise. A template file (one holding `{{ … }}`) that does not parse as YAML
    /// is reported, not refused: it is not deployed as written.
    fn unparsable(&self, text: &str, why: &str) -> Found {
        let mut found = Found::default();
        let template = text.contains("{{");
        let lines = crate::yaml::LineIndex::new(text);
        for name in &self.names {
            for m in image::mentions(text, name) {
                let (line, column) = lines.position(text, m.range.start);
                if template {
                    found.warnings.push(locate::Warning {
                        line,
                        column,
                        reason: Some(Reason::Template),
                        message: format!(
                            "{name} is named in a template file that does not parse as YAML ({why}), which ferry does not edit; set the tag in the values the template reads"
                        ),
                    });
                    continue;
                }
                let (reason, message) = {
                    (
                        Reason::ParseError,
                        format!(
                            "{name} is referenced in a file ferry cannot read: {why}. Fix the file"
                        ),
                    )
                };
                found.refusals.push(locate::Refusal {
                    reason,
                    line,
                    column,
                    message,
                });
            }
        }
        found
    }

    /// A file below a Helm chart's `templates/` (beside its `Chart.yaml`): chart source, never
    /// parsed or edited. A note says so when it names a requested image.
    pub fn chart_source(&self, path: &str, bytes: &[u8]) -> Option<Scan> {
        if !self.may_reference(bytes) {
            return None;
        }
        let text = String::from_utf8_lossy(bytes);
        let lines = crate::yaml::LineIndex::new(&text);
        let mut found = Found::default();
        for name in &self.names {
            if let Some(m) = image::mentions(&text, name).first() {
                let (line, column) = lines.position(&text, m.range.start);
                found.notes.push(locate::Warning {
                    line,
                    column,
                    reason: None,
                    message: format!(
                        "{name} is named in a Helm chart's template (chart source, rendered by Helm), which ferry does not read or edit; set the tag in the chart's values"
                    ),
                });
            }
        }
        (!found.notes.is_empty()).then(|| Scan {
            path: path.to_owned(),
            text: String::new(),
            found,
        })
    }

    /// Combines the scans of a whole tree (in path order) into a plan.
    pub fn plan(&self, scans: Vec<Scan>) -> Result<Plan, PlanError> {
        let mut plan = Plan::default();
        // Setter policies naming a requested image, from any file.
        let mut policies: BTreeMap<String, ImageName> = BTreeMap::new();
        for scan in &scans {
            for (policy, name) in &scan.found.policies {
                if let Some(wanted) = self.names.iter().find(|n| *n == name) {
                    policies
                        .entry(policy.clone())
                        .or_insert_with(|| wanted.clone());
                }
            }
        }
        // Every policy of the tree, whichever image it names.
        let mut all_policies: BTreeMap<String, ImageName> = BTreeMap::new();
        for scan in &scans {
            for (policy, name) in &scan.found.policies {
                all_policies
                    .entry(policy.clone())
                    .or_insert_with(|| name.clone());
            }
        }
        let mut seen: Vec<bool> = vec![false; self.names.len()];
        for scan in scans {
            let file = scan.path.as_str();
            let notice = |line, column, reason, message: &str| Notice {
                file: file.to_owned(),
                line,
                column,
                reason,
                message: message.to_owned(),
            };
            for w in &scan.found.warnings {
                plan.warnings
                    .push(notice(w.line, w.column, w.reason, &w.message));
            }
            for n in &scan.found.notes {
                plan.notes.push(notice(n.line, n.column, None, &n.message));
            }
            for r in &scan.found.refusals {
                plan.refusals
                    .push(notice(r.line, r.column, Some(r.reason), &r.message));
            }
            let mut mentions: Vec<Mention> = scan.found.mentions;
            // A policy's `:tag` and `:digest` markers in one file are one reference: the digest
            // follows the tag (set with it, or cleared when only the tag changes).
            let digest_of = |policy: &str| {
                scan.found
                    .marked
                    .iter()
                    .find_map(|d| match (&d.slot, d.field) {
                        (Ok(slot), MarkedField::Digest) if d.policy == policy => Some(slot.clone()),
                        _ => None,
                    })
            };
            for m in &scan.found.marked {
                let Some(image) = policies.get(m.policy.as_str()) else {
                    continue;
                };
                let paired = |m: &locate::Marked| {
                    scan.found.marked.iter().any(|t| {
                        t.policy == m.policy && t.field == MarkedField::Tag && t.slot.is_ok()
                    })
                };
                if m.field == MarkedField::Digest && m.slot.is_ok() && paired(m) {
                    continue;
                }
                match &m.slot {
                    Err(r) if r.reason.is_report() => {
                        plan.warnings
                            .push(notice(r.line, r.column, Some(r.reason), &r.message));
                    }
                    Err(r) => {
                        plan.refusals
                            .push(notice(r.line, r.column, Some(r.reason), &r.message));
                    }
                    Ok(slot) => {
                        let (tag, digest) = match m.field {
                            MarkedField::Tag => (Some(slot.clone()), digest_of(&m.policy)),
                            MarkedField::Digest => (None, Some(slot.clone())),
                        };
                        mentions.push(Mention {
                            image: image.clone(),
                            shape: Shape::Setter,
                            target: Target::Fields {
                                tag,
                                digest,
                                insert: None,
                            },
                        });
                    }
                }
            }
            // A scalar a setter marker gives to one image and a structured shape to another
            // belongs to neither: Flux and ferry would fight over it.
            for m in &scan.found.marked {
                let (Ok(slot), Some(marked_image)) = (&m.slot, all_policies.get(m.policy.as_str()))
                else {
                    continue;
                };
                let owner = scan
                    .found
                    .owned
                    .iter()
                    .find(|(span, owner)| *span == slot.span && owner != marked_image);
                let Some((_, owner)) = owner else {
                    continue;
                };
                if !self.names.contains(owner) && !self.names.contains(marked_image) {
                    continue;
                }
                mentions.retain(|s| !mention_slots(s).any(|x| x.span == slot.span));
                let message = format!(
                    "this value is {owner}'s, and the setter marker of policy {} on its line gives it to {marked_image}: Flux and ferry would each write their own image's tag here. Move the marker to {marked_image}'s own field, or remove it",
                    m.policy
                );
                plan.refusals
                    .push(notice(m.line, m.column, Some(Reason::TwoImages), &message));
            }
            // One scalar can be reached by two shapes (`tag: shop/cart:v1` is a Helm tag and a
            // whole reference; a setter marker on a Helm tag): the whole reference wins, as it
            // keeps the value's form, and each scalar is edited once.
            mentions.sort_by_key(|s| !matches!(s.target, Target::Whole { .. }));
            // A set, not a list: a file may hold 100,000 references.
            let mut held: HashSet<(usize, usize)> = HashSet::new();
            mentions.retain(|mention| {
                let spans: Vec<(usize, usize)> = mention_slots(mention)
                    .map(|s| (s.span.start, s.span.end))
                    .collect();
                let fresh = !spans.iter().any(|s| held.contains(s));
                held.extend(spans);
                fresh
            });
            let mut edits: Vec<Edit> = Vec::new();
            let first_change = plan.changes.len();
            for mention in &mentions {
                let Some(i) = self.names.iter().position(|n| *n == mention.image) else {
                    continue;
                };
                seen[i] = true;
                plan.references += 1;
                let mut out = SiteEdits {
                    file,
                    text: &scan.text,
                    mention,
                    edits: &mut edits,
                    changes: &mut plan.changes,
                    warnings: &mut plan.warnings,
                };
                out.apply(&self.updates[i]);
            }
            edits.sort_by_key(Edit::order);
            // The same scalar may be reached twice (a setter marker on a Helm tag); two inserts
            // at one place (`newTag` and `digest`) are different edits and both stay.
            edits.dedup();
            if !edits.is_empty() {
                let after =
                    splice::apply(&scan.text, &edits).map_err(|error| PlanError::Verify {
                        file: file.to_owned(),
                        error,
                    })?;
                place_added_keys(&mut plan.changes[first_change..], &edits, &after);
                if after != scan.text {
                    plan.files.push(FileEdit {
                        path: file.to_owned(),
                        before: scan.text,
                        after,
                    });
                }
            }
        }
        plan.missing = self
            .names
            .iter()
            .zip(&seen)
            .filter(|(_, seen)| !**seen)
            .map(|(n, _)| n.clone())
            .collect();
        plan.changes
            .sort_by(|a, b| (&a.file, a.line, a.column).cmp(&(&b.file, b.line, b.column)));
        plan.changes.dedup();
        plan.refusals
            .sort_by(|a, b| (&a.file, a.line, a.column).cmp(&(&b.file, b.line, b.column)));
        plan.refusals
            .dedup_by(|a, b| a.file == b.file && a.line == b.line && a.column == b.column);
        Ok(plan)
    }
}

/// Reports each added key where it is in the new text: after every edit before it (other
/// keys added above it, longer or shorter values earlier on its line, removed lines).
fn place_added_keys(changes: &mut [Change], edits: &[Edit], after: &str) {
    if changes.iter().all(|c| c.inserted.is_none()) {
        return;
    }
    let lines = crate::yaml::LineIndex::new(after);
    for c in changes {
        let Some((at, text, lead)) = &c.inserted else {
            continue;
        };
        let mut offset = *at as isize;
        for e in edits {
            if matches!(e, Edit::Insert { at: a, text: t, .. } if a == at && t == text) {
                break;
            }
            offset += match e {
                Edit::Replace { span, text, .. } => text.len() as isize - span.len() as isize,
                Edit::Insert { text, .. } => text.len() as isize,
                Edit::Remove { span, .. } => -(span.len() as isize),
            };
        }
        let key = usize::try_from(offset).unwrap_or(0) + lead;
        (c.line, c.column) = lines.position(after, key);
    }
}

fn has_findings(f: &Found) -> bool {
    edits_or_reads(f) || !f.warnings.is_empty() || !f.notes.is_empty()
}

/// Whether ferry would edit the file or read a value from it (then its duplicate keys matter).
fn edits_or_reads(f: &Found) -> bool {
    !(f.mentions.is_empty()
        && f.refusals.is_empty()
        && f.policies.is_empty()
        && f.marked.is_empty())
}

/// A file ferry would edit (or that mentions the images) with a key defined twice in one
/// mapping is refused at each repeated key: kubectl, kustomize and Argo CD refuse the file,
/// and which of the two values other readers keep differs. Its references are not edited.
fn refuse_duplicates(yaml: &Yaml<'_>, found: &mut Found) {
    if yaml.duplicate_count() == 0 {
        return;
    }
    found.refusals.extend(duplicate_keys(yaml));
    found.refusals.sort_by_key(|r| (r.line, r.column));
}

/// A refusal at each key of `yaml` defined twice in its mapping, naming both lines (`ferry
/// check` reports them too). Only the first [`crate::yaml::MAX_DUPLICATES`] are kept (a file of
/// `{a,a,a,…}` has one every two bytes): the last one counts the others.
pub fn duplicate_keys(yaml: &Yaml<'_>) -> Vec<locate::Refusal> {
    let mut refusals: Vec<locate::Refusal> = yaml
        .duplicate_keys()
        .map(|(first, second)| {
            let (a, b) = (yaml.node(first), yaml.node(second));
            let mut key = crate::ci::one_line(yaml.scalar(second).unwrap_or_default());
            if key.chars().count() > 60 {
                key = key.chars().take(59).collect::<String>() + "…";
            }
            locate::Refusal {
                reason: Reason::DuplicateKey,
                line: b.line(),
                column: b.column(),
                message: format!(
                    "the key `{key}` is defined twice in one mapping, at line {} and line {}; kubectl, kustomize and Argo CD refuse such a file. Remove one of them",
                    a.line(),
                    b.line()
                ),
            }
        })
        .collect();
    let more = yaml.duplicate_count() - refusals.len();
    if more > 0
        && let Some(last) = refusals.last_mut()
    {
        last.message.push_str(&format!(
            " ({more} more keys of this file are defined twice)"
        ));
    }
    refusals
}

/// Whether `bytes[at..at + len]` is a whole name component: not preceded by a name character
/// or `.`, not followed by a name character or `/`, nor by a `.` that continues a name
/// (`cart.shop`; `cart.` at the end of a sentence stands alone).
fn stands_alone(bytes: &[u8], at: usize, len: usize) -> bool {
    let name = |b: &u8| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'-');
    let joined_before = at
        .checked_sub(1)
        .and_then(|i| bytes.get(i))
        .is_some_and(|b| name(b) || *b == b'.');
    let joined_after = match bytes.get(at + len..).unwrap_or_default() {
        [b'.', next, ..] => name(next),
        [b, ..] => name(b) || *b == b'/',
        [] => false,
    };
    !joined_before && !joined_after
}

/// The scalars a mention would rewrite.
fn mention_slots(mention: &Mention) -> impl Iterator<Item = &Slot> {
    let (whole, tag, digest) = match &mention.target {
        Target::Whole { slot, .. } => (Some(slot), None, None),
        Target::Fields { tag, digest, .. } => (None, tag.as_ref(), digest.as_ref()),
    };
    whole.into_iter().chain(tag).chain(digest)
}

/// The line holding `key: <slot>` as the only entry on it, in a block mapping: the bytes to
/// remove (the line, with the line break before it, so an insert at the end of the line before
/// stays valid) and where the key starts. `None` when the key shares its line (the first key
/// after `- `, a flow mapping), carries a property or a quoted spelling, or the value has an
/// anchor, a tag or text after it other than a comment.
fn entry_line(text: &str, slot: &Slot, key: &str) -> Option<(std::ops::Range<usize>, usize)> {
    if !slot.prefix.is_empty() || slot.span.is_empty() {
        return None;
    }
    let start = slot.span.start;
    let line_start = text.get(..start)?.rfind(['\n', '\r']).map(|i| i + 1)?;
    let lead = &text[line_start..start];
    let indent = lead.len() - lead.trim_start_matches(' ').len();
    let separator = lead[indent..]
        .strip_prefix(key)?
        .trim_start_matches([' ', '\t'])
        .strip_prefix(':')?;
    if separator.is_empty() || !separator.bytes().all(|b| b == b' ' || b == b'\t') {
        return None;
    }
    let end = slot.span.end;
    let line_end = text[end..]
        .find(['\n', '\r'])
        .map_or(text.len(), |i| end + i);
    let tail = text[end..line_end].trim_start_matches([' ', '\t']);
    if !(tail.is_empty() || tail.starts_with('#')) {
        return None;
    }
    let break_len = if text[..line_start].ends_with("\r\n") {
        2
    } else {
        1
    };
    Some((line_start - break_len..line_end, line_start + indent))
}

/// Collects the edits and reports for one mention.
struct SiteEdits<'p> {
    file: &'p str,
    /// The file's text, to find whole lines to remove.
    text: &'p str,
    mention: &'p Mention,
    edits: &'p mut Vec<Edit>,
    changes: &'p mut Vec<Change>,
    warnings: &'p mut Vec<Notice>,
}

impl SiteEdits<'_> {
    fn apply(&mut self, update: &ImageUpdate) {
        match (&self.mention.target, &update.tag) {
            (
                Target::Whole {
                    slot,
                    prefix_len,
                    reference,
                },
                _,
            ) => self.whole(slot, *prefix_len, reference, update),
            (
                Target::Fields {
                    tag: tag_slot,
                    digest,
                    insert,
                },
                Some(tag),
            ) => self.tag_fields(
                tag_slot.as_ref(),
                digest.as_ref(),
                insert.as_ref(),
                tag,
                update.digest.as_ref(),
            ),
            (
                Target::Fields {
                    tag: tag_slot,
                    digest,
                    insert,
                },
                None,
            ) => {
                if let Some(d) = &update.digest {
                    self.digest_fields(tag_slot.as_ref(), digest.as_ref(), insert.as_ref(), d);
                }
            }
        }
    }

    /// A whole reference: `name:TAG[@DIGEST]`, or `name@DIGEST` for a digest-only request.
    fn whole(
        &mut self,
        slot: &Slot,
        prefix_len: usize,
        reference: &image::Reference,
        update: &ImageUpdate,
    ) {
        let keep = &slot.value[..(prefix_len + reference.written_name.len()).min(slot.value.len())];
        let Some(tag) = &update.tag else {
            let Some(d) = &update.digest else { return };
            // A tag beside the requested digest names content already pinned: keep it.
            if reference.digest.as_ref() == Some(d) {
                return;
            }
            let note = reference.tag.as_ref().map(|old| {
                format!(
                    "removed the tag {old}: the digest alone now names the image, as kustomize writes it; pass IMAGE=TAG@DIGEST to keep a tag beside it"
                )
            });
            self.set(slot, &format!("{keep}@{d}"), note);
            return;
        };
        let mut new = format!("{keep}:{tag}");
        // A digest beside an unchanged tag is not known to be stale: keep it.
        let kept = reference
            .digest
            .as_ref()
            .filter(|_| update.digest.is_none() && reference.tag.as_ref() == Some(tag));
        if let Some(d) = update.digest.as_ref().or(kept) {
            new.push('@');
            new.push_str(d.as_str());
        }
        let note = match (&reference.digest, &update.digest) {
            (Some(old), None) if new != slot.value => Some(format!(
                "removed the digest {old}, which pinned the previous image; pass IMAGE=TAG@DIGEST to pin the new one"
            )),
            _ => None,
        };
        self.set(slot, &new, note);
    }

    /// Separate fields, a tag requested (with or without a digest).
    fn tag_fields(
        &mut self,
        tag_slot: Option<&Slot>,
        digest: Option<&Slot>,
        insert: Option<&InsertPoint>,
        tag: &image::Tag,
        new_digest: Option<&image::Digest>,
    ) {
        let tag = tag.as_str();
        let tag_changes = match (tag_slot, insert) {
            (Some(slot), _) => self.set(slot, tag, None),
            (None, Some(point)) => {
                self.insert(point, "newTag", tag);
                true
            }
            (None, None) => false,
        };
        match (new_digest, digest, insert) {
            (Some(d), Some(slot), _) => {
                self.set(slot, d.as_str(), None);
            }
            (Some(d), None, Some(point)) => self.insert(point, "digest", d.as_str()),
            (Some(_), None, None) => {
                let at = tag_slot;
                self.warnings.push(Notice {
                    file: self.file.to_owned(),
                    line: at.map_or(0, |s| s.line),
                    column: at.map_or(0, |s| s.column),
                    reason: Some(Reason::NoField),
                    message: format!(
                        "{} has no digest field here; only the tag was set. Add a `digest` field beside the tag (one the chart or tool reads), or pin by tag alone",
                        self.mention.image
                    ),
                });
            }
            // A digest beside an unchanged tag is not known to be stale: keep it.
            (None, Some(slot), _) if tag_changes && !slot.value.is_empty() => {
                let stale = format!("the digest {}, which pinned the previous image", slot.value);
                if self.mention.shape == Shape::KustomizeImages {
                    self.remove_or_clear(
                        slot,
                        "digest",
                        insert,
                        format!(
                            "removed the `digest` line: {stale}; pass IMAGE=TAG@DIGEST to pin the new one"
                        ),
                        &stale,
                    );
                } else {
                    let note = format!("cleared {stale}; pass IMAGE=TAG@DIGEST to pin the new one");
                    self.set(slot, "", Some(note));
                }
            }
            // A `:digest` setter field alone: the tag is set elsewhere, this digest would still
            // pin the previous image.
            (None, Some(slot), None)
                if tag_slot.is_none()
                    && !slot.value.is_empty()
                    && self.mention.shape == Shape::Setter =>
            {
                self.warnings.push(Notice {
                    file: self.file.to_owned(),
                    line: slot.line,
                    column: slot.column,
                    reason: Some(Reason::NoField),
                    message: format!(
                        "{}: this `:digest` setter field still pins the previous image, and a tag-only request cannot set it; pass IMAGE=TAG@DIGEST",
                        self.mention.image
                    ),
                });
            }
            (None, _, _) => {}
        }
    }

    /// Separate fields, only a digest requested (`IMAGE@DIGEST`). The digest field is set
    /// (added in a kustomize entry); a tag beside it stays, except a kustomize entry's
    /// `newTag`, which goes as `kustomize edit set image IMAGE@DIGEST` drops it. Without a
    /// digest field the reference is not edited, and a warning says so.
    fn digest_fields(
        &mut self,
        tag_slot: Option<&Slot>,
        digest: Option<&Slot>,
        insert: Option<&InsertPoint>,
        d: &image::Digest,
    ) {
        let kustomize = self.mention.shape == Shape::KustomizeImages;
        let add = match (digest, insert) {
            (None, Some(point)) if kustomize => Some(point),
            _ => None,
        };
        let changed = match digest {
            Some(slot) => self.set(slot, d.as_str(), None),
            None if add.is_some() => true,
            None => {
                self.no_digest_field(tag_slot);
                return;
            }
        };
        if kustomize
            && changed
            && let Some(slot) = tag_slot.filter(|s| !s.value.is_empty())
        {
            let why = "kustomize uses the digest alone, as `kustomize edit set image IMAGE@DIGEST` writes it";
            self.remove_or_clear(
                slot,
                "newTag",
                insert,
                format!("removed the `newTag` line ({}): {why}", slot.value),
                &format!("the tag {}: {why}", slot.value),
            );
        }
        // After the removal, so that the added line is reported where it lands.
        if let Some(point) = add {
            self.insert(point, "digest", d.as_str());
        }
    }

    /// The warning for a digest-only request where the reference has no digest field.
    fn no_digest_field(&mut self, tag_slot: Option<&Slot>) {
        let (line, column) =
            tag_slot.map_or_else(|| self.mention.position(), |s| (s.line, s.column));
        let image = &self.mention.image;
        let message = if self.mention.shape == Shape::Setter {
            format!(
                "{image}: a digest-only request does not edit this `:tag` setter field; the digest is written where a `{{\"$imagepolicy\": \"NS:POLICY:digest\"}}` marker names it (add one if there is none), or pass IMAGE=TAG@DIGEST to set the tag too"
            )
        } else {
            format!(
                "{image} has no digest field here, so a digest-only request cannot pin it and this reference was not edited; add a `digest` field that the chart reads beside the tag, or pass IMAGE=TAG@DIGEST"
            )
        };
        self.warnings.push(Notice {
            file: self.file.to_owned(),
            line,
            column,
            reason: Some(Reason::NoField),
            message,
        });
    }

    /// Removes the `key` line of a kustomize entry when it stands alone on its line in a block
    /// mapping; otherwise sets its value to "" (kustomize reads an empty field as absent).
    fn remove_or_clear(
        &mut self,
        slot: &Slot,
        key: &str,
        insert: Option<&InsertPoint>,
        removed: String,
        what: &str,
    ) {
        let block = insert.is_some_and(|p| p.lead.contains(['\n', '\r']));
        match entry_line(self.text, slot, key).filter(|_| block) {
            Some((span, key_at)) => {
                self.edits.push(Edit::Remove {
                    span,
                    key_at,
                    key: key.to_owned(),
                });
                self.changes.push(Change {
                    file: self.file.to_owned(),
                    line: slot.line,
                    column: slot.column,
                    image: self.mention.image.to_string(),
                    shape: self.mention.shape,
                    old: Some(slot.value.clone()),
                    new: String::new(),
                    removed: true,
                    note: Some(removed),
                    inserted: None,
                });
            }
            None => {
                let note = format!(
                    "cleared {what}; the `{key}` key shares its line (a flow mapping or the entry's first key), so it was set to \"\" rather than removed"
                );
                self.set(slot, "", Some(note));
            }
        }
    }

    /// Sets `slot` to `value`; whether that changes anything. A plain scalar that already holds
    /// `value` but reads as a number or boolean (`tag: 1.10`) is quoted so it reads as the string.
    fn set(&mut self, slot: &Slot, value: &str, note: Option<String>) -> bool {
        let mistyped =
            slot.style == Style::Plain && !value.is_empty() && !scalar::plain_is_safe(value);
        if slot.value == value && !mistyped {
            return false;
        }
        let note = match note {
            None if slot.value == value => Some(format!(
                "quoted the value: unquoted, `{value}` reads as a number, boolean or date, not as the string"
            )),
            other => other,
        };
        self.edits.push(Edit::Replace {
            span: slot.span.clone(),
            text: format!("{}{}", slot.prefix, scalar::render(value, slot.style)),
            value: value.to_owned(),
        });
        self.changes.push(Change {
            file: self.file.to_owned(),
            line: slot.line,
            column: slot.column,
            image: self.mention.image.to_string(),
            shape: self.mention.shape,
            old: Some(slot.value.clone()),
            new: value.to_owned(),
            removed: false,
            note,
            inserted: None,
        });
        true
    }

    fn insert(&mut self, point: &InsertPoint, key: &str, value: &str) {
        // Where the key lands in the new text is computed once the file's edits are known
        // ([`place_added_keys`]); until then, where it would be with no other edit.
        let (line, column) = (point.line, point.column);
        let text = format!(
            "{}{key}: {}",
            point.lead,
            scalar::render(value, Style::Plain)
        );
        let text_copy = text.clone();
        self.edits.push(Edit::Insert {
            at: point.at,
            text,
            mapping: point.mapping,
            key: key.to_owned(),
            value: value.to_owned(),
        });
        self.changes.push(Change {
            file: self.file.to_owned(),
            line,
            column,
            image: self.mention.image.to_string(),
            shape: self.mention.shape,
            old: None,
            new: value.to_owned(),
            removed: false,
            note: Some(format!("added `{key}`")),
            inserted: Some((point.at, text_copy, point.lead.len())),
        });
    }
}

/// Every image name referenced in a file, under image-like keys and in the structured shapes,
/// for "did you mean" suggestions.
pub fn images_in(path: &str, bytes: &[u8]) -> Vec<ImageName> {
    if bytes.len() as u64 > max_file_size() {
        return Vec::new();
    }
    let Ok(text) = std::str::from_utf8(bytes) else {
        return Vec::new();
    };
    let Ok(yaml) = Yaml::parse(text) else {
        return Vec::new();
    };
    let file_name = path.rsplit('/').next().unwrap_or(path);
    let found = locate::locate(&yaml, file_name, Want::Any);
    let mut names: Vec<ImageName> = found
        .mentions
        .into_iter()
        .map(|s| s.image)
        .chain(found.policies.into_iter().map(|(_, n)| n))
        .collect();
    names.sort();
    names.dedup();
    names
}

#[cfg(test)]
mod tests {
    use super::*;

    fn plan(files: &[(&str, &str)], updates: &[&str]) -> Plan {
        let updates = updates
            .iter()
            .map(|u| ImageUpdate::parse(u).unwrap())
            .collect();
        let planner = Planner::new(updates).unwrap();
        let scans = files
            .iter()
            .filter_map(|(p, t)| planner.scan(p, t.as_bytes()))
            .collect();
        planner.plan(scans).unwrap()
    }

    #[test]
    fn verdict_changes_with_the_files_and_changes() {
        let p = plan(&[("a.yaml", "image: shop/cart:v1\n")], &["shop/cart=v2"]);
        let Verdict::Changes { files, changes } = p.verdict() else {
            panic!("{:?}", p.verdict());
        };
        assert_eq!(files.len(), 1);
        assert_eq!(files[0].after, "image: shop/cart:v2\n");
        assert_eq!(changes.len(), 1);
        assert_eq!(changes[0].new, "shop/cart:v2");
    }

    #[test]
    fn verdict_up_to_date_counts_the_references() {
        let p = plan(
            &[
                ("a.yaml", "image: shop/cart:v2\n"),
                ("b.yaml", "image: shop/cart:v2\n"),
            ],
            &["shop/cart=v2"],
        );
        assert_eq!(p.verdict(), Verdict::UpToDate { references: 2 });
    }

    #[test]
    fn verdict_missing_names_the_images_with_no_reference() {
        let p = plan(
            &[("a.yaml", "image: shop/cart:v1\n")],
            &["shop/cart=v2", "shop/web=v3"],
        );
        let Verdict::Missing(images) = p.verdict() else {
            panic!("{:?}", p.verdict());
        };
        assert_eq!(images, [ImageName::parse("shop/web").unwrap()]);
    }

    #[test]
    fn verdict_refused_comes_before_missing_and_changes() {
        let mut p = plan(
            &[("a.yaml", "image: shop/cart:v1\n")],
            &["shop/cart=v2", "shop/web=v3"],
        );
        let refusal = Notice {
            file: "b.yaml".into(),
            line: 1,
            column: 8,
            message: "refused".into(),
            reason: None,
        };
        p.refusals.push(refusal.clone());
        assert_eq!(p.verdict(), Verdict::Refused(&[refusal]));
        // A refusal alone, with nothing missing and a change planned, still refuses.
        p.missing.clear();
        assert!(matches!(p.verdict(), Verdict::Refused(_)));
        assert!(!p.changes.is_empty());
    }

    #[test]
    fn prefilter_needs_the_last_component_as_a_whole_name() {
        let planner =
            Planner::new(vec![ImageUpdate::parse("ghcr.io/acme/cart=v2").unwrap()]).unwrap();
        for yes in [
            "image: ghcr.io/acme/cart:v1",
            "name: cart",
            "x: acme/cart@sha256",
            "a=ghcr.io/acme/cart:v1",
            "repository: acme/cart\n",
            "see cart.",
            "# {\"$imagepolicy\": \"ns:p:tag\"}",
        ] {
            assert!(planner.may_reference(yes.as_bytes()), "{yes}");
        }
        for no in [
            "image: acme/cart-worker:v1",
            "carts",
            "url: http://cart.shop.svc",
            "acme/cart/worker:v1",
            "mycart",
            "cart_x",
            ".cart",
        ] {
            assert!(!planner.may_reference(no.as_bytes()), "{no}");
        }
    }

    #[test]
    fn whole_reference_keeps_name_and_drops_stale_digest() {
        let d = "sha256:".to_owned() + &"a".repeat(64);
        let src = format!("image: nginx:1.25@{d} # pinned\n");
        let p = plan(&[("a.yaml", &src)], &["docker.io/library/nginx=1.27"]);
        assert_eq!(p.files[0].after, "image: nginx:1.27 # pinned\n");
        assert!(
            p.changes[0]
                .note
                .as_deref()
                .unwrap()
                .contains("removed the digest")
        );
    }

    #[test]
    fn numeric_tag_is_quoted_in_plain_fields_only() {
        let src = "image:\n  repository: shop/cart\n  tag: v1\nsidecar: shop/cart:v1\n";
        let p = plan(&[("values.yaml", src)], &["shop/cart=1234567"]);
        assert_eq!(
            p.files[0].after,
            "image:\n  repository: shop/cart\n  tag: \"1234567\"\nsidecar: shop/cart:1234567\n"
        );
    }

    #[test]
    fn setter_markers_pair_across_files() {
        let a = "image: ghcr.io/shop/cart:v1 # {\"$imagepolicy\": \"flux-system:cart\"}\n";
        let b = "values:\n  appTag: v1 # {\"$imagepolicy\": \"flux-system:cart:tag\"}\n";
        let p = plan(&[("a.yaml", a), ("b.yaml", b)], &["ghcr.io/shop/cart=v2"]);
        assert_eq!(p.files.len(), 2);
        assert_eq!(p.files[1].after, b.replace("v1", "v2"));
        assert_eq!(p.changes[1].shape, Shape::Setter);
    }

    #[test]
    fn kustomize_entry_gets_new_tag_inserted() {
        let src = "images:\n- name: shop/cart\n  newName: ghcr.io/shop/cart # moved\nresources: [a.yaml]\n";
        let p = plan(&[("kustomization.yaml", src)], &["ghcr.io/shop/cart=v2"]);
        assert_eq!(
            p.files[0].after,
            "images:\n- name: shop/cart\n  newName: ghcr.io/shop/cart # moved\n  newTag: v2\nresources: [a.yaml]\n"
        );
        assert_eq!((p.changes[0].line, p.changes[0].column), (4, 3));
    }

    #[test]
    fn up_to_date_has_no_files_and_missing_is_reported() {
        let src = "image: shop/cart:v2\n";
        let p = plan(&[("a.yaml", src)], &["shop/cart=v2", "shop/api=v1"]);
        assert!(p.files.is_empty() && p.changes.is_empty());
        assert_eq!(p.references, 1);
        assert_eq!(p.missing, vec![ImageName::parse("shop/api").unwrap()]);
    }

    const D: &str = "sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef";

    #[test]
    fn digest_only_whole_reference_drops_the_tag_and_keeps_a_pinned_one() {
        let src = "a: shop/cart:v1 # app\nb: [shop/cart]\n";
        let p = plan(&[("a.yaml", src)], &[&format!("shop/cart@{D}")]);
        assert_eq!(
            p.files[0].after,
            format!("a: shop/cart@{D} # app\nb: [shop/cart]\n")
        );
        assert!(
            p.changes[0]
                .note
                .as_deref()
                .unwrap()
                .contains("removed the tag v1")
        );
        // Already at the digest, beside a tag: nothing to do.
        let src = format!("image: shop/cart:v1@{D}\n");
        let p = plan(&[("a.yaml", &src)], &[&format!("shop/cart@{D}")]);
        assert!(p.files.is_empty() && p.changes.is_empty());
        assert_eq!(p.references, 1);
    }

    #[test]
    fn kustomize_digest_only_sets_digest_and_removes_new_tag() {
        let src = "images:\n- name: shop/cart\n  newTag: v1 # pinned\nresources: [a.yaml]\n";
        let p = plan(&[("kustomization.yaml", src)], &[&format!("shop/cart@{D}")]);
        assert_eq!(
            p.files[0].after,
            format!("images:\n- name: shop/cart\n  digest: {D}\nresources: [a.yaml]\n")
        );
        let lines: Vec<(usize, bool)> = p.changes.iter().map(|c| (c.line, c.removed)).collect();
        assert_eq!(lines, [(3, false), (3, true)]);
        // A rerun changes nothing.
        let again = plan(
            &[("kustomization.yaml", &p.files[0].after)],
            &[&format!("shop/cart@{D}")],
        );
        assert!(again.files.is_empty());
        // The digest key present: replaced in place; newTag first after `- `: cleared.
        let src = "images:\n- newTag: v1\n  name: shop/cart\n  digest: sha256:abc\n";
        let p = plan(&[("kustomization.yaml", src)], &[&format!("shop/cart@{D}")]);
        assert_eq!(
            p.files[0].after,
            format!("images:\n- newTag: \"\"\n  name: shop/cart\n  digest: {D}\n")
        );
        assert!(
            p.changes[0]
                .note
                .as_deref()
                .unwrap()
                .contains("shares its line")
        );
    }

    #[test]
    fn kustomize_tag_request_removes_a_stale_digest_line() {
        let d = format!("digest: {D}");
        let src = format!("images:\r\n- name: shop/cart\r\n  {d}\r\n  newTag: v1\r\n");
        let p = plan(&[("kustomization.yaml", &src)], &["shop/cart=v2"]);
        assert_eq!(
            p.files[0].after,
            "images:\r\n- name: shop/cart\r\n  newTag: v2\r\n"
        );
        let removal = p.changes.iter().find(|c| c.removed).unwrap();
        assert_eq!((removal.line, removal.old.as_deref()), (3, Some(D)));
        assert!(
            removal
                .note
                .as_deref()
                .unwrap()
                .starts_with("removed the `digest` line")
        );
        // In a flow mapping the line cannot go: the digest is set to "".
        let src = format!("images:\n- {{name: shop/cart, newTag: v1, {d}}}\n");
        let p = plan(&[("kustomization.yaml", &src)], &["shop/cart=v2"]);
        assert_eq!(
            p.files[0].after,
            "images:\n- {name: shop/cart, newTag: v2, digest: \"\"}\n"
        );
        // Unchanged tag: the digest is not known to be stale and stays.
        let src = format!("images:\n- name: shop/cart\n  newTag: v2\n  {d}\n");
        assert!(
            plan(&[("kustomization.yaml", &src)], &["shop/cart=v2"])
                .files
                .is_empty()
        );
    }

    #[test]
    fn entry_line_is_only_a_lone_block_entry() {
        let slot = |text: &str, value: &str| {
            let start = text.find(value).unwrap();
            Slot {
                span: start..start + value.len(),
                prefix: "",
                value: value.to_owned(),
                style: Style::Plain,
                line: 1,
                column: 1,
            }
        };
        let text = "- name: a\n  digest: x  # c\n  b: 1\n";
        let (span, key_at) = entry_line(text, &slot(text, "x"), "digest").unwrap();
        assert_eq!(&text[span], "\n  digest: x  # c");
        assert_eq!(&text[key_at..key_at + 6], "digest");
        for no in [
            "- digest: x\n",
            "- {name: a,\n   digest: x}\n",
            "- name: a\n  digest: &d x\n",
            "- name: a\n  \"digest\": x\n",
            "- name: a\n  digest:x-y\n",
        ] {
            assert_eq!(entry_line(no, &slot(no, "x"), "digest"), None, "{no:?}");
        }
    }

    #[test]
    fn digest_only_fields_set_the_digest_or_warn() {
        let pin = format!("shop/cart@{D}");
        let src = "image:\n  repository: shop/cart\n  tag: v1\n  digest: \"\"\n";
        let p = plan(&[("values.yaml", src)], &[&pin]);
        assert_eq!(p.files[0].after, src.replace("\"\"", &format!("\"{D}\"")));
        assert!(p.warnings.is_empty());
        let src = "image:\n  repository: shop/cart\n  tag: v1\n";
        let p = plan(&[("values.yaml", src)], &[&pin]);
        assert!(p.files.is_empty() && p.changes.is_empty());
        assert_eq!((p.warnings[0].line, p.warnings[0].column), (3, 8));
        assert!(
            p.warnings[0].message.contains("add a `digest` field"),
            "{:?}",
            p.warnings
        );
        let a = "image: ghcr.io/shop/cart:v1 # {\"$imagepolicy\": \"flux-system:cart\"}\n";
        let b = "t: v1 # {\"$imagepolicy\": \"flux-system:cart:tag\"}\nd: x # {\"$imagepolicy\": \"flux-system:cart:digest\"}\n";
        let p = plan(
            &[("a.yaml", a), ("b.yaml", b)],
            &[&format!("ghcr.io/{pin}")],
        );
        assert_eq!(p.files[1].after, b.replace("d: x", &format!("d: {D}")));
        // The policy's `:tag` and `:digest` markers in one file are one reference.
        assert!(p.warnings.is_empty(), "{:?}", p.warnings);
        // A `:tag` marker without a `:digest` one cannot take the pin: a warning says where.
        let c = "t: v1 # {\"$imagepolicy\": \"flux-system:cart:tag\"}\n";
        let p = plan(
            &[("a.yaml", a), ("c.yaml", c)],
            &[&format!("ghcr.io/{pin}")],
        );
        assert!(
            p.warnings[0].message.contains("`:tag` setter"),
            "{:?}",
            p.warnings
        );
    }
}
