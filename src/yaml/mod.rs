//! A byte-span view of YAML, for edits that change only the bytes they mean to.
//!
//! [`Yaml::parse`] turns a file into a tree of nodes, each knowing the exact byte range it came
//! from, its anchor and how often aliases reuse it. [`scalar`] decides how a new value must be
//! written, and [`splice`] applies edits and proves, by parsing again, that nothing else moved.
//!
//! Memory is a small multiple of the file, whatever its shape: a node is 24 bytes (positions,
//! parent and kind packed in `u32`s), its children are found through the node order rather than
//! held in vectors, and a scalar's value is its span in the source unless escapes or folding
//! make it differ (then it is kept once, decoded, beside the nodes). Nodes are stored in chunks
//! of fixed size, so the tree never holds a half-empty doubled vector. Hence the limits of
//! [`MAX_SOURCE`] bytes and [`MAX_NODES`] nodes per file, which [`Yaml::parse`] checks.

pub mod scalar;
pub mod splice;

use std::collections::HashMap;
use std::ops::Range;

use granit_parser::{Event, Parser, Placement, ScalarStyle, StructureStyle};

/// Index of a node of a [`Yaml`] (document order: a node's descendants follow it).
pub type NodeId = usize;

/// The largest source (in bytes, exclusive) [`Yaml::parse`] reads: offsets, lines and columns
/// are stored as `u32`, with room for the decoded values beside the source. Far above
/// `--max-file-size`'s default of 16 MiB.
pub const MAX_SOURCE: usize = 1 << 30;

/// The most nodes one file may have: node ids are stored in 28 bits.
pub const MAX_NODES: usize = (1 << 28) - 2;

/// How many duplicate keys a [`Yaml`] keeps (it counts them all): each is reported with a
/// message, and a file of `{a,a,a,…}` has one every two bytes.
pub const MAX_DUPLICATES: usize = 100;

const ID_MASK: u32 = (1 << 28) - 1;
const CHUNK: usize = 1 << 12;

/// How a scalar is written in the source.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Style {
    Plain,
    SingleQuoted,
    DoubleQuoted,
    Literal,
    Folded,
}

impl Style {
    /// Block scalars (`|`, `>`) are refused for edits: their value is text, not a field.
    pub fn is_block(self) -> bool {
        matches!(self, Style::Literal | Style::Folded)
    }

    fn bits(self) -> u32 {
        match self {
            Style::Plain => 0,
            Style::SingleQuoted => 1,
            Style::DoubleQuoted => 2,
            Style::Literal => 3,
            Style::Folded => 4,
        }
    }

    fn from_bits(bits: u32) -> Style {
        match bits & 7 {
            0 => Style::Plain,
            1 => Style::SingleQuoted,
            2 => Style::DoubleQuoted,
            3 => Style::Literal,
            _ => Style::Folded,
        }
    }
}

/// What a node is. A scalar's value is [`Yaml::scalar`]; a collection's children are
/// [`Yaml::entries`] and [`Yaml::items`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Scalar {
        style: Style,
    },
    Mapping {
        flow: bool,
    },
    Sequence {
        flow: bool,
    },
    /// `*name`: a reuse of the node `target`.
    Alias {
        target: NodeId,
    },
}

/// A node's place in its parent.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Role {
    /// A document's root.
    Root,
    /// A mapping key.
    Key,
    /// A mapping value (its key is the node before it: [`Yaml::key_of`]).
    Value,
    /// A sequence item.
    Item,
}

const SCALAR: u32 = 0;
const MAPPING: u32 = 1;
const SEQUENCE: u32 = 2;
const ALIAS: u32 = 3;
/// In a scalar's `extra`: the value is decoded text, not its span.
const DECODED: u32 = 1 << 3;
/// In a collection's `extra`: a flow collection.
const FLOW: u32 = 1 << 31;

/// One node and where it sits in the source: 24 bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Node {
    start: u32,
    end: u32,
    line: u32,
    column: u32,
    /// Bits 0–27: the parent's id + 1 (0: a document root); 28–29: the kind; 30–31: the role.
    up: u32,
    /// Scalars: bits 0–2 the style, bit 3 [`DECODED`], bits 4–31 the index of the decoded
    /// value. Collections: bits 0–27 one past the last descendant, bit 31 [`FLOW`]. Aliases:
    /// the target.
    extra: u32,
}

impl Node {
    fn kind_bits(&self) -> u32 {
        (self.up >> 28) & 3
    }

    pub fn kind(&self) -> Kind {
        match self.kind_bits() {
            SCALAR => Kind::Scalar {
                style: Style::from_bits(self.extra),
            },
            MAPPING => Kind::Mapping {
                flow: self.extra & FLOW != 0,
            },
            SEQUENCE => Kind::Sequence {
                flow: self.extra & FLOW != 0,
            },
            _ => Kind::Alias {
                target: self.extra as usize,
            },
        }
    }

    /// Source bytes. Scalars: including quotes, excluding anchor, tag and comment. Flow
    /// collections: from the opening to the closing bracket. Block collections: from the first
    /// child to where the parser closed the collection.
    pub fn span(&self) -> Range<usize> {
        self.start as usize..self.end as usize
    }

    /// 1-based line of the first byte.
    pub fn line(&self) -> usize {
        self.line as usize
    }

    /// 1-based column (in characters) of the first byte.
    pub fn column(&self) -> usize {
        self.column as usize
    }

    pub fn parent(&self) -> Option<NodeId> {
        match self.up & ID_MASK {
            0 => None,
            p => Some(p as usize - 1),
        }
    }

    /// What the node is to its parent.
    pub fn role(&self) -> Role {
        match self.up >> 30 {
            0 => Role::Root,
            1 => Role::Key,
            2 => Role::Value,
            _ => Role::Item,
        }
    }

    fn is_collection(&self) -> bool {
        matches!(self.kind_bits(), MAPPING | SEQUENCE)
    }
}

/// The nodes, in chunks of [`CHUNK`]: past the first chunk, storage grows one full chunk at a
/// time, never by doubling.
#[derive(Debug, Clone, Default)]
struct Nodes {
    chunks: Vec<Vec<Node>>,
    len: usize,
}

impl Nodes {
    fn push(&mut self, node: Node) {
        match self.chunks.last_mut() {
            Some(chunk) if chunk.len() < CHUNK => chunk.push(node),
            _ => {
                let mut chunk = Vec::with_capacity(if self.chunks.is_empty() { 16 } else { CHUNK });
                chunk.push(node);
                self.chunks.push(chunk);
            }
        }
        self.len += 1;
    }

    fn get(&self, id: NodeId) -> &Node {
        &self.chunks[id / CHUNK][id % CHUNK]
    }

    fn get_mut(&mut self, id: NodeId) -> &mut Node {
        &mut self.chunks[id / CHUNK][id % CHUNK]
    }
}

/// A text of the file: a range of the source, or, past the source's end, of the decoded texts
/// (`start - source.len()`).
type Text = (u32, u32);

/// A YAML file that failed to parse.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{line}:{column}: {message}")]
pub struct ParseError {
    pub line: usize,
    pub column: usize,
    pub message: String,
}

/// A parsed file: every document's root and every node, with source positions.
#[derive(Debug, Clone)]
pub struct Yaml<'a> {
    pub source: &'a str,
    pub documents: Vec<NodeId>,
    nodes: Nodes,
    /// Values that are not their source span (escapes, folding, block scalars), end to end.
    decoded: String,
    /// The decoded scalars' values, by the index in their node.
    values: Vec<Text>,
    /// For the few nodes aliases reuse: how many aliases, and the line of the first. Anchors,
    /// tags and alias counts live beside the nodes, not in them: most nodes have none.
    aliased: HashMap<u32, (u32, u32)>,
    /// Anchor names (without `&`), by node id, in id order.
    anchors: Vec<(u32, Text)>,
    /// Explicit tags as written (`!!str`), by node id, in id order.
    tags: Vec<(u32, Text)>,
    /// Comments to the right of content (without the `#`), by line, in line order.
    comments: Vec<(u32, Text)>,
    /// Keys defined twice in one mapping: (first key, repeated key), in source order; the
    /// first [`MAX_DUPLICATES`] found.
    duplicates: Vec<(u32, u32)>,
    /// How many keys are defined twice, all told.
    duplicate_count: usize,
    /// Built on the first call to [`Yaml::position`].
    lines: std::sync::OnceLock<LineIndex>,
}

/// The children of a collection, in order.
#[derive(Debug, Clone)]
pub struct Children<'y, 'a> {
    yaml: &'y Yaml<'a>,
    next: NodeId,
    end: NodeId,
}

impl Iterator for Children<'_, '_> {
    type Item = NodeId;

    fn next(&mut self) -> Option<NodeId> {
        (self.next < self.end).then(|| {
            let child = self.next;
            self.next = self.yaml.subtree_end(child);
            child
        })
    }
}

/// A mapping's entries as (key, value), in order.
#[derive(Debug, Clone)]
pub struct Entries<'y, 'a>(Children<'y, 'a>);

impl Iterator for Entries<'_, '_> {
    type Item = (NodeId, NodeId);

    fn next(&mut self) -> Option<(NodeId, NodeId)> {
        Some((self.0.next()?, self.0.next()?))
    }
}

impl<'a> Yaml<'a> {
    /// Parses every document of `source`.
    pub fn parse(source: &'a str) -> Result<Yaml<'a>, ParseError> {
        if source.len() >= MAX_SOURCE {
            return Err(ParseError {
                line: 1,
                column: 1,
                message: format!(
                    "the file is {} bytes; ferry parses files below {MAX_SOURCE} bytes (1 GiB)",
                    source.len()
                ),
            });
        }
        Builder::new(source).run()
    }

    /// How many nodes the file has.
    pub fn len(&self) -> usize {
        self.nodes.len
    }

    /// Whether the file has no node.
    pub fn is_empty(&self) -> bool {
        self.nodes.len == 0
    }

    pub fn node(&self, id: NodeId) -> Node {
        *self.nodes.get(id)
    }

    fn text(&self, (start, end): Text) -> &str {
        let (start, end) = (start as usize, end as usize);
        let len = self.source.len();
        if start < len || (start == len && end == len) {
            &self.source[start..end]
        } else {
            &self.decoded[start - len..end - len]
        }
    }

    /// The scalar value of `id`, if it is a scalar.
    pub fn scalar(&self, id: NodeId) -> Option<&str> {
        let node = self.nodes.get(id);
        if node.kind_bits() != SCALAR {
            return None;
        }
        if node.extra & DECODED != 0 {
            return Some(self.text(self.values[(node.extra >> 4) as usize]));
        }
        let span = node.span();
        Some(match Style::from_bits(node.extra) {
            Style::SingleQuoted | Style::DoubleQuoted => &self.source[span.start + 1..span.end - 1],
            _ => &self.source[span],
        })
    }

    /// One past the last node of `id`'s subtree.
    fn subtree_end(&self, id: NodeId) -> NodeId {
        let node = self.nodes.get(id);
        if node.is_collection() {
            (node.extra & ID_MASK) as usize
        } else {
            id + 1
        }
    }

    /// The children of a mapping (keys and values alternating) or sequence; none for others.
    pub fn children(&self, id: NodeId) -> Children<'_, 'a> {
        let end = if self.nodes.get(id).is_collection() {
            self.subtree_end(id)
        } else {
            id + 1
        };
        Children {
            yaml: self,
            next: id + 1,
            end,
        }
    }

    /// The entries of mapping `id` as (key, value), in source order; none if it is not one.
    pub fn entries(&self, id: NodeId) -> Entries<'_, 'a> {
        let mut children = self.children(id);
        if self.nodes.get(id).kind_bits() != MAPPING {
            children.end = children.next;
        }
        Entries(children)
    }

    /// The items of sequence `id`; none if it is not one.
    pub fn items(&self, id: NodeId) -> Children<'_, 'a> {
        let mut children = self.children(id);
        if self.nodes.get(id).kind_bits() != SEQUENCE {
            children.end = children.next;
        }
        children
    }

    /// The last child of collection `id` (in a mapping, its last value), found from its last
    /// descendant upwards: no walk over the other children.
    pub fn last_child(&self, id: NodeId) -> Option<NodeId> {
        let end = self.subtree_end(id);
        if !self.nodes.get(id).is_collection() || end == id + 1 {
            return None;
        }
        let mut child = end - 1;
        while let Some(parent) = self.nodes.get(child).parent() {
            if parent == id {
                return Some(child);
            }
            child = parent;
        }
        None
    }

    /// Follows aliases to the node they reuse.
    pub fn resolve(&self, mut id: NodeId) -> NodeId {
        // Aliases always point backwards, so this terminates.
        while let Kind::Alias { target } = self.nodes.get(id).kind() {
            id = target;
        }
        id
    }

    /// The value of `key` in mapping `map` (own entries only, last one wins as parsers do).
    pub fn get(&self, map: NodeId, key: &str) -> Option<NodeId> {
        let mut found = None;
        for (k, v) in self.entries(map) {
            if self.scalar(k) == Some(key) {
                found = Some(v);
            }
        }
        found
    }

    /// The value of `key` in mapping `map` as seen through `<<` merge keys: own entries win
    /// over merged ones, the first entry of a name wins, earlier merge sources win over later.
    /// With whether the value was reached through a merge (an alias).
    pub fn merged_get(&self, map: NodeId, key: &str) -> Option<(NodeId, bool)> {
        self.find_merged(map, key, false, 0)
    }

    fn find_merged(
        &self,
        map: NodeId,
        key: &str,
        via: bool,
        depth: usize,
    ) -> Option<(NodeId, bool)> {
        if depth > 16 {
            return None;
        }
        let merge = |k: NodeId| self.scalar(k) == Some("<<") && self.tag(k).is_none();
        if let Some((_, v)) = self
            .entries(map)
            .find(|&(k, _)| !merge(k) && self.scalar(k) == Some(key))
        {
            return Some((v, via));
        }
        for (_, m) in self.entries(map).filter(|&(k, _)| merge(k)) {
            let target = self.resolve(m);
            let via_alias = via || target != m;
            let found = match self.nodes.get(target).kind() {
                Kind::Mapping { .. } => self.find_merged(target, key, via_alias, depth + 1),
                Kind::Sequence { .. } => self.items(target).find_map(|item| {
                    let t = self.resolve(item);
                    self.find_merged(t, key, via_alias || t != item, depth + 1)
                }),
                _ => None,
            };
            if found.is_some() {
                return found;
            }
        }
        None
    }

    /// How many aliases reuse `id`.
    pub fn alias_uses(&self, id: NodeId) -> u32 {
        self.aliased.get(&(id as u32)).map_or(0, |&(uses, _)| uses)
    }

    fn by_id(&self, table: &[(u32, Text)], id: NodeId) -> Option<&str> {
        let id = u32::try_from(id).ok()?;
        let at = table.binary_search_by_key(&id, |&(n, _)| n).ok()?;
        Some(self.text(table[at].1))
    }

    /// The anchor name (without `&`) `id` defines, if any.
    pub fn anchor(&self, id: NodeId) -> Option<&str> {
        self.by_id(&self.anchors, id)
    }

    /// The explicit tag of `id` as written (`!!str`), if any.
    pub fn tag(&self, id: NodeId) -> Option<&str> {
        self.by_id(&self.tags, id)
    }

    /// The nearest node at or above `id` that aliases reuse, with the line of one such alias:
    /// editing below it would change every reuse too.
    pub fn shared_ancestor(&self, id: NodeId) -> Option<(NodeId, usize)> {
        if self.aliased.is_empty() {
            return None;
        }
        let mut cur = Some(id);
        while let Some(n) = cur {
            if let Some(&(_, line)) = self.aliased.get(&(n as u32)) {
                return Some((n, line as usize));
            }
            cur = self.nodes.get(n).parent();
        }
        None
    }

    /// The key under which `id` sits, when its parent is a mapping and the key a scalar.
    pub fn key_of(&self, id: NodeId) -> Option<&str> {
        let node = self.nodes.get(id);
        if node.role() != Role::Value {
            return None;
        }
        // A value follows its key's subtree: a scalar key is the node right before it.
        let key = self.nodes.get(id - 1);
        (key.role() == Role::Key && key.parent() == node.parent())
            .then(|| self.scalar(id - 1))
            .flatten()
    }

    /// Whether `id` is a mapping key (keys are never edited).
    pub fn is_key(&self, id: NodeId) -> bool {
        self.nodes.get(id).role() == Role::Key
    }

    /// The comment to the right of content on `line`, without the `#`.
    pub fn comment_on_line(&self, line: usize) -> Option<&str> {
        let line = u32::try_from(line).ok()?;
        let after = self.comments.partition_point(|&(l, _)| l <= line);
        let &(l, text) = self.comments.get(after.checked_sub(1)?)?;
        (l == line).then(|| self.text(text))
    }

    /// The byte offset just past the last content of `id` (for block collections, past the
    /// last child's content rather than where the parser closed the collection).
    pub fn content_end(&self, id: NodeId) -> usize {
        let node = self.node(id);
        let span = node.span();
        match node.kind() {
            Kind::Mapping { flow: false } | Kind::Sequence { flow: false } => self
                .last_child(id)
                .map_or(span.start, |last| self.content_end(last)),
            // A block scalar's span runs to the start of the next line; its content ends at
            // its last non-blank character, or, when it has no content, at its header (`|`).
            Kind::Scalar { style } if style.is_block() => {
                let blank = [' ', '\t', '\n', '\r'];
                let raw = &self.source[span.clone()];
                match raw.trim_end_matches(blank).len() {
                    0 => self.source[..span.start].trim_end_matches(blank).len(),
                    len => span.start + len,
                }
            }
            // An empty value sits at its `:` indicator: it ends after it.
            Kind::Scalar { .. }
                if span.is_empty() && self.source.as_bytes().get(span.start) == Some(&b':') =>
            {
                span.start + 1
            }
            _ => span.end,
        }
    }

    /// 1-based line and column of byte `offset`.
    pub fn position(&self, offset: usize) -> (usize, usize) {
        self.lines
            .get_or_init(|| LineIndex::new(self.source))
            .position(self.source, offset)
    }

    /// Keys defined twice in one mapping, as (first key, repeated key) node pairs in source
    /// order. YAML forbids them and kubectl, kustomize and Argo CD refuse such files, while
    /// other readers silently keep one of the values: ferry refuses to edit them.
    /// At most [`MAX_DUPLICATES`] of them: [`Yaml::duplicate_count`] counts them all.
    pub fn duplicate_keys(&self) -> impl ExactSizeIterator<Item = (NodeId, NodeId)> + '_ {
        self.duplicates
            .iter()
            .map(|&(first, second)| (first as usize, second as usize))
    }

    /// How many keys are defined twice in their mapping, all told.
    pub fn duplicate_count(&self) -> usize {
        self.duplicate_count
    }

    /// How a mapping key compares with the others of its mapping: its text, and whether it is
    /// something other than a string (a plain `1`, `true` or `null` is not the string `"1"`).
    /// Merge keys (`<<`) and keys that are collections or aliases do not take part.
    fn key_identity(&self, id: NodeId) -> Option<(&str, bool)> {
        let Kind::Scalar { style } = self.nodes.get(id).kind() else {
            return None;
        };
        let value = self.scalar(id)?;
        let plain = style == Style::Plain && self.tag(id).is_none();
        if plain && value == "<<" {
            return None;
        }
        Some((value, plain && !scalar::plain_is_safe(value)))
    }
}

/// The line break `text` uses (its first one), `\n` when it has none.
pub fn line_break(text: &str) -> &'static str {
    let bytes = text.as_bytes();
    match memchr::memchr2(b'\n', b'\r', bytes) {
        Some(i) if bytes[i] == b'\r' && bytes.get(i + 1) == Some(&b'\n') => "\r\n",
        Some(i) if bytes[i] == b'\r' => "\r",
        _ => "\n",
    }
}

/// Where the lines of a text start, for finding many positions in it without scanning it from
/// the start each time (a file may hold 100,000 references). 8 bytes per line, allocated once
/// (a text of line breaks has a line per byte).
#[derive(Debug, Clone)]
pub struct LineIndex {
    starts: Vec<usize>,
}

impl LineIndex {
    pub fn new(text: &str) -> LineIndex {
        let bytes = text.as_bytes();
        let breaks = || {
            memchr::memchr2_iter(b'\n', b'\r', bytes)
                // A CRLF counts once, at its LF.
                .filter(|&i| !(bytes[i] == b'\r' && bytes.get(i + 1) == Some(&b'\n')))
        };
        let mut starts = Vec::with_capacity(breaks().count() + 1);
        starts.push(0);
        starts.extend(breaks().map(|i| i + 1));
        LineIndex { starts }
    }

    /// 1-based line and column (in characters) of byte `offset` in `text`, the text this index
    /// was made from: the same answer as [`position`].
    pub fn position(&self, text: &str, offset: usize) -> (usize, usize) {
        let offset = offset.min(text.len());
        let line = self.starts.partition_point(|&start| start <= offset);
        let line_start = self.starts[line - 1];
        let column = 1 + text
            .get(line_start..offset)
            .map_or(offset - line_start, |s| s.chars().count());
        (line, column)
    }
}

/// 1-based line and column (in characters) of byte `offset` in `text`. Line breaks are LF,
/// CRLF or a lone CR, as in YAML. Scans `text` up to `offset`: for many positions in one text,
/// use a [`LineIndex`].
pub fn position(text: &str, offset: usize) -> (usize, usize) {
    let offset = offset.min(text.len());
    let before = &text.as_bytes()[..offset];
    let mut line = 1;
    let mut line_start = 0;
    for i in memchr::memchr2_iter(b'\n', b'\r', before) {
        // A CRLF counts once, at its LF.
        if before[i] == b'\r' && text.as_bytes().get(i + 1) == Some(&b'\n') {
            continue;
        }
        line += 1;
        line_start = i + 1;
    }
    let column = 1 + text
        .get(line_start..offset)
        .map_or(offset - line_start, |s| s.chars().count());
    (line, column)
}

/// Every `{{ … }}` template expression of a text (closed by `}}`), in order: what no edit may
/// change (the fuzz target's and the regression tests' invariant).
pub fn template_expressions(text: &str) -> Vec<&str> {
    let mut out = Vec::new();
    let mut rest = text;
    while let Some(open) = rest.find("{{") {
        let tail = &rest[open..];
        let Some(close) = tail.find("}}") else {
            break;
        };
        out.push(&tail[..close + 2]);
        rest = &tail[close + 2..];
    }
    out
}

/// An open collection while building.
struct Frame {
    node: u32,
    mapping: bool,
    /// In a mapping: the next child is a value.
    value_next: bool,
}

struct Builder<'a> {
    y: Yaml<'a>,
    /// By the parser's anchor id (which counts up from 1 through the whole stream), the node
    /// that defines it, plus one (0: none): 4 bytes an anchor, where a map took about 40.
    anchors: Vec<u32>,
    /// The first anchor id of the current document: aliases reach no further back.
    document_anchors: usize,
    stack: Vec<Frame>,
}

/// `n` as a `u32`, which [`MAX_SOURCE`] guarantees for offsets, lines and columns.
fn small(n: usize) -> u32 {
    u32::try_from(n).unwrap_or(u32::MAX)
}

impl<'a> Builder<'a> {
    fn new(source: &'a str) -> Self {
        Builder {
            y: Yaml {
                source,
                documents: Vec::new(),
                nodes: Nodes::default(),
                decoded: String::new(),
                values: Vec::new(),
                aliased: HashMap::new(),
                anchors: Vec::new(),
                tags: Vec::new(),
                comments: Vec::new(),
                duplicates: Vec::new(),
                duplicate_count: 0,
                lines: std::sync::OnceLock::new(),
            },
            anchors: Vec::new(),
            document_anchors: 0,
            stack: Vec::new(),
        }
    }

    /// `value` as a [`Text`]: the source range `candidate` when it holds exactly `value`,
    /// else a copy among the decoded texts.
    fn text(&mut self, value: &str, candidate: Option<Range<usize>>) -> Text {
        let source = self.y.source;
        if let Some(range) = candidate
            && source.get(range.clone()) == Some(value)
        {
            return (small(range.start), small(range.end));
        }
        let start = source.len() + self.y.decoded.len();
        self.y.decoded.push_str(value);
        (small(start), small(start + value.len()))
    }

    fn run(mut self) -> Result<Yaml<'a>, ParseError> {
        let source = self.y.source;
        let options = granit_parser::options! { emit_anchor_events: true };
        let mut last_node: Option<u32> = None;
        for next in Parser::new_from_str_with_options(source, options) {
            let (event, span) = next.map_err(|e| ParseError {
                line: e.marker().line(),
                column: e.marker().col() + 1,
                message: e.info().to_string(),
            })?;
            let range = span.byte_range().unwrap_or(0..0);
            let at = Place {
                range: range.clone(),
                line: small(span.start.line()),
                column: small(span.start.col() + 1),
                tag: span
                    .tag_span()
                    .and_then(|t| t.byte_range())
                    .filter(|r| source.get(r.clone()).is_some()),
            };
            let too_many = || ParseError {
                line: span.start.line(),
                column: span.start.col() + 1,
                message: format!(
                    "the file has more than {MAX_NODES} nodes, more than ferry parses; split it"
                ),
            };
            match event {
                Event::StreamStart | Event::StreamEnd | Event::DocumentEnd => {}
                Event::DocumentStart(..) => self.document_anchors = self.anchors.len(),
                Event::Comment(text, Placement::Right) => {
                    let candidate = range.start + 1..range.end;
                    let text = self.text(&text, Some(candidate));
                    self.y.comments.push((at.line, text));
                }
                Event::Comment(..) => {}
                Event::Anchor(_, name) => {
                    if let Some(id) = last_node {
                        let text = self.text(&name, Some(range.start + 1..range.end));
                        self.y.anchors.push((id, text));
                    }
                }
                Event::Alias(anchor) => {
                    let known = self.anchors.get(anchor).copied();
                    let Some(target) = known
                        .filter(|&node| node > 0 && anchor >= self.document_anchors)
                        .map(|node| node - 1)
                    else {
                        return Err(ParseError {
                            line: span.start.line(),
                            column: span.start.col() + 1,
                            message: "alias to an unknown anchor".into(),
                        });
                    };
                    let use_ = self.y.aliased.entry(target).or_insert((0, at.line));
                    use_.0 = use_.0.saturating_add(1);
                    // The alias also reuses everything inside the target.
                    let id = self.push(ALIAS, target, at).ok_or_else(too_many)?;
                    last_node = Some(id);
                }
                Event::UnresolvedAlias(_) => {
                    return Err(ParseError {
                        line: span.start.line(),
                        column: span.start.col() + 1,
                        message: "alias to an unknown anchor".into(),
                    });
                }
                Event::Scalar(value, style, anchor, _) => {
                    let style = match style {
                        ScalarStyle::Plain => Style::Plain,
                        ScalarStyle::SingleQuoted => Style::SingleQuoted,
                        ScalarStyle::DoubleQuoted => Style::DoubleQuoted,
                        ScalarStyle::Literal => Style::Literal,
                        ScalarStyle::Folded => Style::Folded,
                    };
                    // Most values are their source span (without the quotes): only the others
                    // are kept, decoded.
                    let raw = match style {
                        Style::Plain => source.get(range.clone()),
                        Style::SingleQuoted | Style::DoubleQuoted if range.len() >= 2 => {
                            source.get(range.start + 1..range.end - 1)
                        }
                        _ => None,
                    };
                    let mut extra = style.bits();
                    if raw != Some(value.as_ref()) {
                        let index = small(self.y.values.len());
                        if index > ID_MASK {
                            return Err(too_many());
                        }
                        let text = self.text(&value, None);
                        self.y.values.push(text);
                        extra |= DECODED | (index << 4);
                    }
                    let id = self.push(SCALAR, extra, at).ok_or_else(too_many)?;
                    self.anchored(anchor, id);
                    last_node = Some(id);
                }
                Event::MappingStart(style, anchor, _) => {
                    let flow = if style == StructureStyle::Flow {
                        FLOW
                    } else {
                        0
                    };
                    let id = self.push(MAPPING, flow, at).ok_or_else(too_many)?;
                    self.open(id, true, anchor);
                    last_node = Some(id);
                }
                Event::SequenceStart(style, anchor, _) => {
                    let flow = if style == StructureStyle::Flow {
                        FLOW
                    } else {
                        0
                    };
                    let id = self.push(SEQUENCE, flow, at).ok_or_else(too_many)?;
                    self.open(id, false, anchor);
                    last_node = Some(id);
                }
                Event::MappingEnd | Event::SequenceEnd => {
                    if let Some(frame) = self.stack.pop() {
                        let end = small(self.y.nodes.len);
                        let node = self.y.nodes.get_mut(frame.node as usize);
                        node.end = small(range.end).max(node.start);
                        node.extra |= end;
                        if frame.mapping {
                            self.find_duplicates(frame.node as usize);
                        }
                    }
                }
                // Events added by later parser versions carry no data ferry needs.
                _ => {}
            }
        }
        let mut yaml = self.y;
        // Stable: the last comment of a line wins, as it did.
        yaml.comments.sort_by_key(|&(line, _)| line);
        yaml.duplicates.sort_unstable_by_key(|&(_, second)| second);
        Ok(yaml)
    }

    fn anchored(&mut self, anchor: usize, id: u32) {
        if anchor != 0 {
            if self.anchors.len() <= anchor {
                self.anchors.resize(anchor + 1, 0);
            }
            self.anchors[anchor] = id + 1;
        }
    }

    fn open(&mut self, id: u32, mapping: bool, anchor: usize) {
        self.anchored(anchor, id);
        self.stack.push(Frame {
            node: id,
            mapping,
            value_next: false,
        });
    }

    /// Records the keys of mapping `map` that repeat an earlier key of the same mapping.
    /// Linear for the usual small mappings, O(n log n) for large ones.
    fn find_duplicates(&mut self, map: NodeId) {
        let y = &self.y;
        let room = MAX_DUPLICATES.saturating_sub(y.duplicates.len());
        let mut found = Vec::new();
        let mut count = 0;
        let mut record = |first: NodeId, second: NodeId| {
            count += 1;
            if found.len() < room {
                found.push((small(first), small(second)));
            }
        };
        if y.entries(map).nth(16).is_none() {
            let keys: Vec<(NodeId, Option<(&str, bool)>)> = y
                .entries(map)
                .map(|(k, _)| (k, y.key_identity(k)))
                .collect();
            for (i, &(second, id)) in keys.iter().enumerate() {
                let Some(id) = id else { continue };
                if let Some(&(first, _)) = keys[..i].iter().find(|(_, k)| *k == Some(id)) {
                    record(first, second);
                }
            }
        } else {
            // 8 bytes a key: a mapping may have millions.
            let mut keys: Vec<(u32, bool)> = y
                .entries(map)
                .filter_map(|(k, _)| y.key_identity(k).map(|(_, other)| (small(k), other)))
                .collect();
            let ident =
                |&(k, other): &(u32, bool)| (y.scalar(k as usize).unwrap_or_default(), other);
            // Stable: among equal keys, source order; each repeat is paired with the first.
            keys.sort_by(|a, b| ident(a).cmp(&ident(b)));
            let mut first = 0;
            for i in 1..keys.len() {
                if ident(&keys[i]) == ident(&keys[first]) {
                    record(keys[first].0 as usize, keys[i].0 as usize);
                } else {
                    first = i;
                }
            }
        }
        self.y.duplicate_count += count;
        self.y.duplicates.extend(found);
    }

    /// Adds a node and attaches it to the open collection (or makes it a document root).
    /// `None` past [`MAX_NODES`].
    fn push(&mut self, kind: u32, extra: u32, at: Place) -> Option<u32> {
        let id = self.y.nodes.len;
        if id >= MAX_NODES {
            return None;
        }
        let id32 = small(id);
        let (parent, role) = match self.stack.last_mut() {
            None => {
                self.y.documents.push(id);
                (0, 0)
            }
            Some(frame) if !frame.mapping => (frame.node + 1, 3),
            Some(frame) => {
                let role = if frame.value_next { 2 } else { 1 };
                frame.value_next = !frame.value_next;
                (frame.node + 1, role)
            }
        };
        self.y.nodes.push(Node {
            start: small(at.range.start),
            end: small(at.range.end),
            line: at.line,
            column: at.column,
            up: parent | (kind << 28) | (role << 30),
            extra,
        });
        if let Some(tag) = at.tag {
            self.y.tags.push((id32, (small(tag.start), small(tag.end))));
        }
        Some(id32)
    }
}

/// Where an event sits.
struct Place {
    range: Range<usize>,
    line: u32,
    column: u32,
    tag: Option<Range<usize>>,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(s: &str) -> Yaml<'_> {
        Yaml::parse(s).expect("parses")
    }

    #[test]
    fn spans_cover_quotes_but_not_anchor_or_comment() {
        let src = "a: &x \"v1\" # note\nb: *x\n";
        let y = parse(src);
        let root = y.documents[0];
        let a = y.get(root, "a").unwrap();
        assert_eq!(&src[y.node(a).span()], "\"v1\"");
        assert_eq!(y.anchor(a), Some("x"));
        assert_eq!(y.alias_uses(a), 1);
        assert_eq!(y.comment_on_line(1), Some(" note"));
        let b = y.get(root, "b").unwrap();
        assert_eq!(y.resolve(b), a);
        assert_eq!(y.shared_ancestor(a), Some((a, 2)));
    }

    #[test]
    fn merged_get_prefers_own_keys_and_marks_merges() {
        let src = "base: &b {repository: shop/cart, tag: v0}\nimg:\n  <<: *b\n  tag: v1\n";
        let y = parse(src);
        let img = y.get(y.documents[0], "img").unwrap();
        let (tag, via) = y.merged_get(img, "tag").unwrap();
        assert_eq!(y.scalar(tag), Some("v1"));
        assert!(!via);
        let (repo, via) = y.merged_get(img, "repository").unwrap();
        assert_eq!(y.scalar(repo), Some("shop/cart"));
        assert!(via);
        assert_eq!(y.merged_get(img, "registry"), None);
    }

    #[test]
    fn block_collection_content_end_stops_at_last_value() {
        let src = "- name: a\n  newName: b  # c\n\n- name: z\n";
        let y = parse(src);
        let first = y.items(y.documents[0]).next().unwrap();
        assert_eq!(&src[..y.content_end(first)], "- name: a\n  newName: b");
    }

    #[test]
    fn block_scalar_content_ends_at_its_last_character() {
        let src = "a: |\n  one\n  two\n\nb: 1\n";
        let y = parse(src);
        let a = y.get(y.documents[0], "a").unwrap();
        assert_eq!(&src[..y.content_end(a)], "a: |\n  one\n  two");
    }

    #[test]
    fn positions_are_one_based_and_count_characters() {
        let src = "é: x\nkey: 'v'\n";
        assert_eq!(position(src, 0), (1, 1));
        assert_eq!(position(src, 4), (1, 4));
        assert_eq!(position(src, src.find('\'').unwrap()), (2, 6));
    }

    #[test]
    fn the_line_index_agrees_with_position() {
        let src = "a\r\nb\rc\n\né: x\r\n\r\r\n";
        let index = LineIndex::new(src);
        assert_eq!(index.starts.capacity(), index.starts.len(), "sized once");
        for offset in (0..=src.len()).filter(|&o| src.is_char_boundary(o)) {
            assert_eq!(
                index.position(src, offset),
                position(src, offset),
                "at {offset}"
            );
        }
    }

    #[test]
    fn parse_errors_carry_line_and_column() {
        let err = Yaml::parse("k: v\n  bad: [\n").unwrap_err();
        assert_eq!(err.line, 2);
        assert!(err.column > 1);
    }

    #[test]
    fn documents_and_bom() {
        let src = "\u{feff}a: 1\r\n---\r\nb: 2\r\n";
        let y = parse(src);
        assert_eq!(y.documents.len(), 2);
        let b = y.get(y.documents[1], "b").unwrap();
        assert_eq!(&src[y.node(b).span()], "2");
    }

    #[test]
    fn a_node_is_24_bytes() {
        assert_eq!(size_of::<Node>(), 24);
    }

    #[test]
    fn values_are_spans_unless_decoding_changes_them() {
        let src =
            "a: plain\nb: 'q'\nc: \"d\"\ne: \"x\\ty\"\nf: 'it''s'\ng: two\n  lines\nh: |\n  text\n";
        let y = parse(src);
        let root = y.documents[0];
        let value = |k: &str| y.scalar(y.get(root, k).unwrap()).unwrap();
        assert_eq!(
            [
                value("a"),
                value("b"),
                value("c"),
                value("e"),
                value("f"),
                value("g"),
                value("h")
            ],
            ["plain", "q", "d", "x\ty", "it's", "two lines", "text\n"]
        );
        // Only e, f, g and h are kept decoded; the keys and other values are their spans.
        assert_eq!(y.values.len(), 4);
        assert_eq!(y.decoded, "x\tyit'stwo linestext\n");
    }

    #[test]
    fn children_entries_and_keys_follow_the_node_order() {
        let src = "? [a, b]\n: v\nk: {x: 1, y: [2, 3]}\nl:\n- &r z\n- q\n*r : w\n";
        let y = parse(src);
        let root = y.documents[0];
        assert_eq!(y.entries(root).count(), 4);
        let (complex, v) = y.entries(root).next().unwrap();
        assert_eq!(
            y.items(complex)
                .map(|i| y.scalar(i).unwrap())
                .collect::<Vec<_>>(),
            ["a", "b"]
        );
        assert_eq!(y.scalar(v), Some("v"));
        assert_eq!(y.key_of(v), None, "a collection key is not a name");
        let k = y.get(root, "k").unwrap();
        assert_eq!(y.key_of(k), Some("k"));
        let inner = y.get(k, "y").unwrap();
        assert_eq!(y.key_of(inner), Some("y"));
        assert_eq!(y.last_child(k), Some(inner));
        assert_eq!(y.last_child(inner).and_then(|i| y.scalar(i)), Some("3"));
        assert_eq!(y.node(inner).parent(), Some(k));
        assert_eq!(y.node(inner).role(), Role::Value);
        assert_eq!(y.items(k).count(), 0, "a mapping has no items");
        assert_eq!(y.entries(inner).count(), 0, "a sequence has no entries");
        let list = y.get(root, "l").unwrap();
        assert_eq!(y.node(list).kind(), Kind::Sequence { flow: false });
        let first = y.items(list).next().unwrap();
        assert_eq!(y.anchor(first), Some("r"));
        assert_eq!(y.alias_uses(first), 1);
        assert_eq!(y.shared_ancestor(first), Some((first, 7)));
        assert!(y.comment_on_line(1).is_none());
    }

    #[test]
    fn duplicate_keys_in_small_and_large_mappings() {
        let small = parse("a: 1\nb: 2\na: 3\n'1': x\n1: y\n");
        let pairs: Vec<_> = small.duplicate_keys().collect();
        assert_eq!(pairs.len(), 1);
        assert_eq!(
            (small.node(pairs[0].0).line(), small.node(pairs[0].1).line()),
            (1, 3)
        );
        let keys: Vec<String> = (0..40).map(|i| format!("k{i}: {i}")).collect();
        let large = format!("{}\nk7: again\nk39: again\n", keys.join("\n"));
        let y = parse(&large);
        let lines: Vec<_> = y
            .duplicate_keys()
            .map(|(a, b)| (y.node(a).line(), y.node(b).line()))
            .collect();
        assert_eq!(lines, [(8, 41), (40, 42)]);
        // `{a,a,a,…}`: every repeat counted, the first hundred kept.
        let many = format!("{{{}}}", vec!["a"; 300].join(","));
        let y = parse(&many);
        assert_eq!(
            (y.duplicate_count(), y.duplicate_keys().len()),
            (299, MAX_DUPLICATES)
        );
    }
}
