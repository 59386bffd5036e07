//! A byte-span view of YAML, for edits that change only the bytes they mean to.
//!
//! [`Yaml::parse`] turns a file into a tree of nodes, each knowing the exact byte range it came
//! from, its anchor and how often aliases reuse it. [`scalar`] decides how a new value must be
//! written, and [`splice`] applies edits and proves, by parsing again, that nothing else moved.

pub mod scalar;
pub mod splice;

use std::borrow::Cow;
use std::collections::HashMap;
use std::ops::Range;

use granit_parser::{Event, Parser, Placement, ScalarStyle, StructureStyle};

/// Index of a node in [`Yaml::nodes`].
pub type NodeId = usize;

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
}

/// What a node holds.
#[derive(Debug, Clone)]
pub enum Kind<'a> {
    Scalar {
        value: Cow<'a, str>,
        style: Style,
    },
    /// Entries as (key, value) node pairs, in source order.
    Mapping {
        entries: Vec<(NodeId, NodeId)>,
        flow: bool,
    },
    Sequence {
        items: Vec<NodeId>,
        flow: bool,
    },
    /// `*name`: a reuse of the node `target`.
    Alias {
        target: NodeId,
    },
}

/// One node and where it sits in the source.
#[derive(Debug, Clone)]
pub struct Node<'a> {
    pub kind: Kind<'a>,
    /// Source bytes. Scalars: including quotes, excluding anchor, tag and comment. Flow
    /// collections: from the opening to the closing bracket. Block collections: from the first
    /// child to where the parser closed the collection.
    pub span: Range<usize>,
    /// 1-based line of the first byte.
    pub line: usize,
    /// 1-based column (in characters) of the first byte.
    pub column: usize,
    pub parent: Option<NodeId>,
    /// What the node is to its parent.
    pub role: Role,
}

/// A node's place in its parent.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Role {
    /// A document's root.
    Root,
    /// A mapping key.
    Key,
    /// A mapping value, with its key.
    Value(NodeId),
    /// A sequence item.
    Item,
}

/// A comment to the right of content on the same line (`image: x # comment`).
#[derive(Debug, Clone)]
pub struct LineComment {
    pub line: usize,
    pub text: String,
}

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
    pub nodes: Vec<Node<'a>>,
    /// How many aliases reuse a node, for the few nodes they reuse. Anchors, tags and alias
    /// counts live beside the nodes, not in them: most nodes have none, and a node is kept
    /// small (a file of `[a,a,a,…]` has a node per two bytes).
    alias_uses: HashMap<NodeId, u32>,
    /// Anchor names (without `&`) of the nodes that define one.
    anchors: HashMap<NodeId, String>,
    /// Explicit tags as written (`!!str`) of the nodes that carry one.
    tags: HashMap<NodeId, String>,
    /// For each reused node, the line of its first alias.
    first_alias_line: HashMap<NodeId, usize>,
    comments: HashMap<usize, String>,
    /// Keys defined twice in one mapping: (first key, repeated key), in source order.
    duplicates: Vec<(NodeId, NodeId)>,
    /// Built on the first call to [`Yaml::position`].
    lines: std::sync::OnceLock<LineIndex>,
}

enum Frame {
    Mapping {
        node: NodeId,
        pending_key: Option<NodeId>,
    },
    Sequence {
        node: NodeId,
    },
}

impl<'a> Yaml<'a> {
    /// Parses every document of `source`.
    pub fn parse(source: &'a str) -> Result<Yaml<'a>, ParseError> {
        Builder::new(source).run()
    }

    pub fn node(&self, id: NodeId) -> &Node<'a> {
        &self.nodes[id]
    }

    /// The scalar value of `id`, if it is a scalar.
    pub fn scalar(&self, id: NodeId) -> Option<&str> {
        match &self.nodes[id].kind {
            Kind::Scalar { value, .. } => Some(value),
            _ => None,
        }
    }

    /// Follows aliases to the node they reuse.
    pub fn resolve(&self, mut id: NodeId) -> NodeId {
        // Aliases always point backwards, so this terminates.
        while let Kind::Alias { target } = self.nodes[id].kind {
            id = target;
        }
        id
    }

    /// The value of `key` in mapping `map` (own entries only, last one wins as parsers do).
    pub fn get(&self, map: NodeId, key: &str) -> Option<NodeId> {
        match &self.nodes[map].kind {
            Kind::Mapping { entries, .. } => entries
                .iter()
                .rev()
                .find(|(k, _)| self.scalar(*k) == Some(key))
                .map(|&(_, v)| v),
            _ => None,
        }
    }

    /// The entries of `map` as seen through `<<` merge keys: own entries win over merged ones.
    /// Each value comes with whether it was reached through a merge (an alias).
    pub fn merged_entries(&self, map: NodeId) -> Vec<(NodeId, NodeId, bool)> {
        let mut out: Vec<(NodeId, NodeId, bool)> = Vec::new();
        let mut seen: std::collections::HashSet<&str> = std::collections::HashSet::new();
        self.collect_merged(map, false, &mut out, &mut seen, 0);
        out
    }

    fn collect_merged<'s>(
        &'s self,
        map: NodeId,
        via: bool,
        out: &mut Vec<(NodeId, NodeId, bool)>,
        seen: &mut std::collections::HashSet<&'s str>,
        depth: usize,
    ) {
        let Kind::Mapping { entries, .. } = &self.nodes[map].kind else {
            return;
        };
        if depth > 16 {
            return;
        }
        let mut merges = Vec::new();
        for &(k, v) in entries {
            match self.scalar(k) {
                Some("<<") if self.tag(k).is_none() => merges.push(v),
                Some(name) if seen.insert(name) => out.push((k, v, via)),
                _ => {}
            }
        }
        // Merged keys come after own keys, so own keys win; earlier merge sources win over later.
        for m in merges {
            let target = self.resolve(m);
            let via_alias = via || target != m;
            match &self.nodes[target].kind {
                Kind::Mapping { .. } => {
                    self.collect_merged(target, via_alias, out, seen, depth + 1);
                }
                Kind::Sequence { items, .. } => {
                    for &item in items {
                        let t = self.resolve(item);
                        self.collect_merged(t, via_alias || t != item, out, seen, depth + 1);
                    }
                }
                _ => {}
            }
        }
    }

    /// How many aliases reuse `id`.
    pub fn alias_uses(&self, id: NodeId) -> u32 {
        self.alias_uses.get(&id).copied().unwrap_or(0)
    }

    /// The anchor name (without `&`) `id` defines, if any.
    pub fn anchor(&self, id: NodeId) -> Option<&str> {
        self.anchors.get(&id).map(String::as_str)
    }

    /// The explicit tag of `id` as written (`!!str`), if any.
    pub fn tag(&self, id: NodeId) -> Option<&str> {
        self.tags.get(&id).map(String::as_str)
    }

    /// The nearest node at or above `id` that aliases reuse, with the line of one such alias:
    /// editing below it would change every reuse too.
    pub fn shared_ancestor(&self, id: NodeId) -> Option<(NodeId, usize)> {
        let mut cur = Some(id);
        while let Some(n) = cur {
            if self.alias_uses(n) > 0 {
                return Some((n, self.first_alias_line.get(&n).copied().unwrap_or(0)));
            }
            cur = self.nodes[n].parent;
        }
        None
    }

    /// The key under which `id` sits, when its parent is a mapping.
    pub fn key_of(&self, id: NodeId) -> Option<&str> {
        match self.nodes[id].role {
            Role::Value(key) => self.scalar(key),
            _ => None,
        }
    }

    /// Whether `id` is a mapping key (keys are never edited).
    pub fn is_key(&self, id: NodeId) -> bool {
        self.nodes[id].role == Role::Key
    }

    /// The comment to the right of content on `line`, without the `#`.
    pub fn comment_on_line(&self, line: usize) -> Option<&str> {
        self.comments.get(&line).map(String::as_str)
    }

    /// The byte offset just past the last content of `id` (for block collections, past the
    /// last child's content rather than where the parser closed the collection).
    pub fn content_end(&self, id: NodeId) -> usize {
        let node = &self.nodes[id];
        match &node.kind {
            Kind::Mapping {
                entries,
                flow: false,
            } => entries
                .last()
                .map_or(node.span.start, |&(_, v)| self.content_end(v)),
            Kind::Sequence { items, flow: false } => items
                .last()
                .map_or(node.span.start, |&v| self.content_end(v)),
            // A block scalar's span runs to the start of the next line; its content ends at
            // its last non-blank character, or, when it has no content, at its header (`|`).
            Kind::Scalar { style, .. } if style.is_block() => {
                let blank = [' ', '\t', '\n', '\r'];
                let raw = &self.source[node.span.clone()];
                match raw.trim_end_matches(blank).len() {
                    0 => self.source[..node.span.start].trim_end_matches(blank).len(),
                    len => node.span.start + len,
                }
            }
            // An empty value sits at its `:` indicator: it ends after it.
            Kind::Scalar { .. }
                if node.span.is_empty()
                    && self.source.as_bytes().get(node.span.start) == Some(&b':') =>
            {
                node.span.start + 1
            }
            _ => node.span.end,
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
    pub fn duplicate_keys(&self) -> &[(NodeId, NodeId)] {
        &self.duplicates
    }
}

/// How a mapping key compares with the others of its mapping: its text, and whether it is
/// something other than a string (a plain `1`, `true` or `null` is not the string `"1"`).
/// Merge keys (`<<`) and keys that are collections or aliases do not take part.
fn key_identity<'k>(node: &'k Node<'_>, tagged: bool) -> Option<(&'k str, bool)> {
    match &node.kind {
        Kind::Scalar { value, style } => {
            let plain = *style == Style::Plain && !tagged;
            if plain && value == "<<" {
                return None;
            }
            Some((value, plain && !scalar::plain_is_safe(value)))
        }
        _ => None,
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
/// the start each time (a file may hold 100,000 references). 8 bytes per line.
#[derive(Debug, Clone)]
pub struct LineIndex {
    starts: Vec<usize>,
}

impl LineIndex {
    pub fn new(text: &str) -> LineIndex {
        let bytes = text.as_bytes();
        let mut starts = vec![0];
        for i in memchr::memchr2_iter(b'\n', b'\r', bytes) {
            // A CRLF counts once, at its LF.
            if bytes[i] == b'\r' && bytes.get(i + 1) == Some(&b'\n') {
                continue;
            }
            starts.push(i + 1);
        }
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

struct Builder<'a> {
    source: &'a str,
    nodes: Vec<Node<'a>>,
    documents: Vec<NodeId>,
    alias_uses: HashMap<NodeId, u32>,
    anchor_names: HashMap<NodeId, String>,
    tags: HashMap<NodeId, String>,
    first_alias_line: HashMap<NodeId, usize>,
    comments: HashMap<usize, String>,
    duplicates: Vec<(NodeId, NodeId)>,
    anchors: HashMap<usize, NodeId>,
    stack: Vec<Frame>,
}

impl<'a> Builder<'a> {
    fn new(source: &'a str) -> Self {
        Builder {
            source,
            nodes: Vec::new(),
            documents: Vec::new(),
            alias_uses: HashMap::new(),
            anchor_names: HashMap::new(),
            tags: HashMap::new(),
            first_alias_line: HashMap::new(),
            comments: HashMap::new(),
            duplicates: Vec::new(),
            anchors: HashMap::new(),
            stack: Vec::new(),
        }
    }

    fn run(mut self) -> Result<Yaml<'a>, ParseError> {
        let options = granit_parser::options! { emit_anchor_events: true };
        let mut last_node: Option<NodeId> = None;
        for next in Parser::new_from_str_with_options(self.source, options) {
            let (event, span) = next.map_err(|e| ParseError {
                line: e.marker().line(),
                column: e.marker().col() + 1,
                message: e.info().to_string(),
            })?;
            let range = span.byte_range().unwrap_or(0..0);
            let line = span.start.line();
            let column = span.start.col() + 1;
            let tag = span
                .tag_span()
                .and_then(|t| t.slice(self.source))
                .map(str::to_owned);
            match event {
                Event::StreamStart | Event::StreamEnd | Event::DocumentEnd => {}
                Event::DocumentStart(..) => self.anchors.clear(),
                Event::Comment(text, Placement::Right) => {
                    self.comments.insert(line, text.into_owned());
                }
                Event::Comment(..) => {}
                Event::Anchor(_, name) => {
                    if let Some(id) = last_node {
                        self.anchor_names.insert(id, name.into_owned());
                    }
                }
                Event::Alias(anchor) => {
                    let Some(&target) = self.anchors.get(&anchor) else {
                        return Err(ParseError {
                            line,
                            column,
                            message: "alias to an unknown anchor".into(),
                        });
                    };
                    *self.alias_uses.entry(target).or_insert(0) += 1;
                    self.first_alias_line.entry(target).or_insert(line);
                    // The alias also reuses everything inside the target.
                    last_node = Some(self.push(Kind::Alias { target }, range, line, column, None));
                }
                Event::UnresolvedAlias(_) => {
                    return Err(ParseError {
                        line,
                        column,
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
                    let kind = Kind::Scalar { value, style };
                    last_node = Some(self.add(kind, anchor, range, line, column, tag));
                }
                Event::MappingStart(style, anchor, _) => {
                    let flow = style == StructureStyle::Flow;
                    let kind = Kind::Mapping {
                        entries: Vec::new(),
                        flow,
                    };
                    last_node = Some(self.add(kind, anchor, range, line, column, tag));
                }
                Event::SequenceStart(style, anchor, _) => {
                    let flow = style == StructureStyle::Flow;
                    let kind = Kind::Sequence {
                        items: Vec::new(),
                        flow,
                    };
                    last_node = Some(self.add(kind, anchor, range, line, column, tag));
                }
                Event::MappingEnd | Event::SequenceEnd => {
                    let frame = self.stack.pop();
                    if let Some(Frame::Mapping { node, .. } | Frame::Sequence { node }) = frame {
                        self.nodes[node].span.end = range.end.max(self.nodes[node].span.start);
                    }
                    if let Some(Frame::Mapping { node, .. }) = frame {
                        self.find_duplicates(node);
                    }
                }
                // Events added by later parser versions carry no data ferry needs.
                _ => {}
            }
        }
        Ok(Yaml {
            source: self.source,
            documents: self.documents,
            nodes: self.nodes,
            alias_uses: self.alias_uses,
            anchors: self.anchor_names,
            tags: self.tags,
            first_alias_line: self.first_alias_line,
            comments: self.comments,
            duplicates: {
                let mut d = self.duplicates;
                d.sort_unstable_by_key(|&(_, second)| second);
                d
            },
            lines: std::sync::OnceLock::new(),
        })
    }

    /// Records the keys of mapping `map` that repeat an earlier key of the same mapping.
    /// Linear for the usual small mappings, O(n log n) for large ones.
    fn find_duplicates(&mut self, map: NodeId) {
        let Kind::Mapping { entries, .. } = &self.nodes[map].kind else {
            return;
        };
        let (nodes, tags) = (&self.nodes, &self.tags);
        let ident = |k: NodeId| key_identity(&nodes[k], tags.contains_key(&k));
        if entries.len() <= 16 {
            for (i, &(second, _)) in entries.iter().enumerate() {
                let Some(id) = ident(second) else { continue };
                if let Some(&(first, _)) = entries[..i].iter().find(|&&(k, _)| ident(k) == Some(id))
                {
                    self.duplicates.push((first, second));
                }
            }
            return;
        }
        let mut keys: Vec<((&str, bool), NodeId)> = entries
            .iter()
            .filter_map(|&(k, _)| ident(k).map(|id| (id, k)))
            .collect();
        // Stable: among equal keys, source order; each repeat is paired with the first.
        keys.sort_by(|a, b| a.0.cmp(&b.0));
        let mut found = Vec::new();
        let mut first = 0;
        for i in 1..keys.len() {
            if keys[i].0 == keys[first].0 {
                found.push((keys[first].1, keys[i].1));
            } else {
                first = i;
            }
        }
        self.duplicates.extend(found);
    }

    /// Adds a node with its anchor (`anchor` 0 for none); a collection becomes the open one.
    fn add(
        &mut self,
        kind: Kind<'a>,
        anchor: usize,
        span: Range<usize>,
        line: usize,
        column: usize,
        tag: Option<String>,
    ) -> NodeId {
        let frame = match kind {
            Kind::Mapping { .. } => Some(true),
            Kind::Sequence { .. } => Some(false),
            _ => None,
        };
        let id = self.push(kind, span, line, column, tag);
        if anchor != 0 {
            self.anchors.insert(anchor, id);
        }
        match frame {
            Some(true) => self.stack.push(Frame::Mapping {
                node: id,
                pending_key: None,
            }),
            Some(false) => self.stack.push(Frame::Sequence { node: id }),
            None => {}
        }
        id
    }

    /// Adds a node and attaches it to the open collection (or makes it a document root).
    fn push(
        &mut self,
        kind: Kind<'a>,
        span: Range<usize>,
        line: usize,
        column: usize,
        tag: Option<String>,
    ) -> NodeId {
        let id = self.nodes.len();
        let parent = match self.stack.last() {
            Some(Frame::Mapping { node, .. } | Frame::Sequence { node }) => Some(*node),
            None => None,
        };
        let role = match self.stack.last_mut() {
            None => {
                self.documents.push(id);
                Role::Root
            }
            Some(Frame::Sequence { node }) => {
                if let Kind::Sequence { items, .. } = &mut self.nodes[*node].kind {
                    items.push(id);
                }
                Role::Item
            }
            Some(Frame::Mapping { node, pending_key }) => match pending_key.take() {
                None => {
                    *pending_key = Some(id);
                    Role::Key
                }
                Some(key) => {
                    if let Kind::Mapping { entries, .. } = &mut self.nodes[*node].kind {
                        entries.push((key, id));
                    }
                    Role::Value(key)
                }
            },
        };
        self.nodes.push(Node {
            kind,
            span,
            line,
            column,
            parent,
            role,
        });
        if let Some(tag) = tag {
            self.tags.insert(id, tag);
        }
        id
    }
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
        assert_eq!(&src[y.node(a).span.clone()], "\"v1\"");
        assert_eq!(y.anchor(a), Some("x"));
        assert_eq!(y.alias_uses(a), 1);
        assert_eq!(y.comment_on_line(1), Some(" note"));
        let b = y.get(root, "b").unwrap();
        assert_eq!(y.resolve(b), a);
        assert_eq!(y.shared_ancestor(a), Some((a, 2)));
    }

    #[test]
    fn merged_entries_prefer_own_keys_and_mark_merges() {
        let src = "base: &b {repository: shop/cart, tag: v0}\nimg:\n  <<: *b\n  tag: v1\n";
        let y = parse(src);
        let img = y.get(y.documents[0], "img").unwrap();
        let entries = y.merged_entries(img);
        let find = |k: &str| {
            entries
                .iter()
                .find(|(key, _, _)| y.scalar(*key) == Some(k))
                .copied()
        };
        let (_, tag, via) = find("tag").unwrap();
        assert_eq!(y.scalar(tag), Some("v1"));
        assert!(!via);
        let (_, repo, via) = find("repository").unwrap();
        assert_eq!(y.scalar(repo), Some("shop/cart"));
        assert!(via);
    }

    #[test]
    fn block_collection_content_end_stops_at_last_value() {
        let src = "- name: a\n  newName: b  # c\n\n- name: z\n";
        let y = parse(src);
        let Kind::Sequence { items, .. } = &y.node(y.documents[0]).kind else {
            panic!()
        };
        assert_eq!(&src[..y.content_end(items[0])], "- name: a\n  newName: b");
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
        assert_eq!(&src[y.node(b).span.clone()], "2");
    }
}
