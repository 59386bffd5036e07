//! Where each node of a YAML document is, by key path, so that errors found after
//! deserialization (and errors serde-saphyr reports with a position only) can name
//! the field and point at the right line.

use std::fmt;

use granit_parser::{Event, Parser, ScalarStyle};

use super::shown::shown;

/// A 1-based line and column.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) struct Pos {
    pub line: usize,
    pub column: usize,
}

/// One step of a key path.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Seg {
    Key(String),
    Index(usize),
}

/// A key path from the document root, e.g. `promotion.order[2]`.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub(crate) struct KeyPath(pub Vec<Seg>);

impl KeyPath {
    pub fn root() -> Self {
        Self(Vec::new())
    }

    pub fn keys<'a>(keys: impl IntoIterator<Item = &'a str>) -> Self {
        Self(keys.into_iter().map(|k| Seg::Key(k.to_owned())).collect())
    }

    pub fn key(mut self, key: &str) -> Self {
        self.0.push(Seg::Key(key.to_owned()));
        self
    }

    pub fn index(mut self, index: usize) -> Self {
        self.0.push(Seg::Index(index));
        self
    }

    pub fn parent(&self) -> Self {
        let mut segs = self.0.clone();
        segs.pop();
        Self(segs)
    }

    pub fn is_root(&self) -> bool {
        self.0.is_empty()
    }

    /// The path with sequence indexes and environment names replaced by `*`, for lookups
    /// in tables of field descriptions.
    pub fn shape(&self) -> Vec<&str> {
        self.0
            .iter()
            .enumerate()
            .map(|(i, seg)| match seg {
                Seg::Index(_) => "*",
                Seg::Key(_) if i == 1 && self.first_key() == Some("environments") => "*",
                Seg::Key(k) => k.as_str(),
            })
            .collect()
    }

    pub fn first_key(&self) -> Option<&str> {
        match self.0.first() {
            Some(Seg::Key(k)) => Some(k),
            _ => None,
        }
    }

    pub fn last_key(&self) -> Option<&str> {
        match self.0.last() {
            Some(Seg::Key(k)) => Some(k),
            _ => None,
        }
    }
}

impl fmt::Display for KeyPath {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, seg) in self.0.iter().enumerate() {
            match seg {
                Seg::Key(k) if i == 0 => write!(f, "{}", shown(k))?,
                Seg::Key(k) => write!(f, ".{}", shown(k))?,
                Seg::Index(n) => write!(f, "[{n}]")?,
            }
        }
        Ok(())
    }
}

/// What kind of node a path leads to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum NodeKind {
    /// A scalar, with its text.
    Scalar(String),
    /// A null: empty, `~` or `null`, unquoted.
    Null,
    Mapping,
    Sequence,
    Alias,
}

impl NodeKind {
    /// A short description for "found ..." in messages.
    pub fn describe(&self) -> String {
        match self {
            Self::Null => "nothing (null)".to_owned(),
            Self::Scalar(text) => format!("`{}`", shown(text)),
            Self::Mapping => "a mapping".to_owned(),
            Self::Sequence => "a list".to_owned(),
            Self::Alias => "an alias".to_owned(),
        }
    }
}

/// A node of the document.
#[derive(Debug, Clone)]
pub(crate) struct Node {
    pub path: KeyPath,
    /// Where its key starts, for mapping values.
    pub key: Option<Pos>,
    /// Where the node itself starts.
    pub value: Pos,
    pub kind: NodeKind,
}

/// All nodes of the first document, in document order.
#[derive(Debug, Clone, Default)]
pub(crate) struct Index {
    nodes: Vec<Node>,
}

enum Frame {
    Map {
        path: KeyPath,
        pending: Option<(String, Pos)>,
        /// This mapping is itself a (complex) key of its parent.
        is_key: bool,
        start: Pos,
    },
    Seq {
        path: KeyPath,
        next: usize,
        is_key: bool,
        start: Pos,
    },
}

/// The document is not valid YAML.
#[derive(Debug, Clone)]
pub(crate) struct SyntaxError {
    pub pos: Pos,
    pub message: String,
}

impl Index {
    /// Index `text`, or say why it is not valid YAML.
    pub fn build(text: &str) -> Result<Self, SyntaxError> {
        let mut nodes = Vec::new();
        let mut stack: Vec<Frame> = Vec::new();
        let mut seen_root = false;
        for item in Parser::new_from_str(text) {
            let (event, span) = item.map_err(|err| SyntaxError {
                pos: Pos {
                    line: err.marker().line(),
                    column: err.marker().col() + 1,
                },
                message: err.info(),
            })?;
            let pos = Pos {
                line: span.start.line(),
                column: span.start.col() + 1,
            };
            let kind = match event {
                Event::Scalar(value, ScalarStyle::Plain, _, None)
                    if matches!(value.as_ref(), "" | "~" | "null" | "Null" | "NULL") =>
                {
                    NodeKind::Null
                }
                Event::Scalar(value, ..) => NodeKind::Scalar(value.into_owned()),
                Event::MappingStart(..) => NodeKind::Mapping,
                Event::SequenceStart(..) => NodeKind::Sequence,
                Event::Alias(..) => NodeKind::Alias,
                Event::MappingEnd | Event::SequenceEnd => {
                    let Some(Frame::Map { is_key, start, .. } | Frame::Seq { is_key, start, .. }) =
                        stack.pop()
                    else {
                        continue;
                    };
                    finish_child(&mut stack, is_key, start);
                    continue;
                }
                Event::DocumentEnd => break,
                _ => continue,
            };
            // Where does this node go?
            let (path, key, is_key) = match stack.last() {
                None if seen_root => break,
                None => {
                    seen_root = true;
                    (KeyPath::root(), None, false)
                }
                Some(Frame::Map { path, pending, .. }) => match pending {
                    None => (path.clone(), None, true),
                    Some((k, kpos)) => (path.clone().key(k), Some(*kpos), false),
                },
                Some(Frame::Seq { path, next, .. }) => (path.clone().index(*next), None, false),
            };
            let container = matches!(kind, NodeKind::Mapping | NodeKind::Sequence);
            if is_key {
                if container {
                    push_frame(&mut stack, &kind, path, true, pos);
                } else if let Some(Frame::Map { pending, .. }) = stack.last_mut() {
                    let text = match &kind {
                        NodeKind::Scalar(s) => s.clone(),
                        _ => "?".to_owned(),
                    };
                    *pending = Some((text, pos));
                }
                continue;
            }
            nodes.push(Node {
                path: path.clone(),
                key,
                value: pos,
                kind: kind.clone(),
            });
            if container {
                push_frame(&mut stack, &kind, path, false, pos);
            } else {
                finish_child(&mut stack, false, pos);
            }
        }
        Ok(Self { nodes })
    }

    /// The node at `path`.
    pub fn get(&self, path: &KeyPath) -> Option<&Node> {
        self.nodes.iter().find(|n| &n.path == path)
    }

    /// Where the node at `path` starts.
    pub fn value_pos(&self, path: &KeyPath) -> Option<Pos> {
        self.get(path).map(|n| n.value)
    }

    /// Where the key of the node at `path` starts (its value when it has no key).
    pub fn key_pos(&self, path: &KeyPath) -> Option<Pos> {
        self.get(path).map(|n| n.key.unwrap_or(n.value))
    }

    /// The outermost node starting at `pos`.
    pub fn value_at(&self, pos: Pos) -> Option<&Node> {
        self.nodes.iter().find(|n| n.value == pos)
    }

    /// The mapping entry whose key starts at `pos`.
    pub fn key_at(&self, pos: Pos) -> Option<&Node> {
        self.nodes.iter().find(|n| n.key == Some(pos))
    }

    /// The last node starting at or before `pos`.
    pub fn before(&self, pos: Pos) -> Option<&Node> {
        self.nodes.iter().rev().find(|n| n.value <= pos)
    }

    /// Whether the document has any node at all.
    pub fn is_empty(&self) -> bool {
        self.nodes.is_empty()
    }
}

fn push_frame(stack: &mut Vec<Frame>, kind: &NodeKind, path: KeyPath, is_key: bool, start: Pos) {
    stack.push(match kind {
        NodeKind::Mapping => Frame::Map {
            path,
            pending: None,
            is_key,
            start,
        },
        _ => Frame::Seq {
            path,
            next: 0,
            is_key,
            start,
        },
    });
}

/// A child of the top frame is complete: advance the mapping or sequence.
fn finish_child(stack: &mut [Frame], child_was_key: bool, child_start: Pos) {
    match stack.last_mut() {
        Some(Frame::Map { pending, .. }) => {
            if child_was_key {
                *pending = Some(("?".to_owned(), child_start));
            } else {
                *pending = None;
            }
        }
        Some(Frame::Seq { next, .. }) => *next += 1,
        None => {}
    }
}
