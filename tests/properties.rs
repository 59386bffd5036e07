//! Property tests: random YAML documents with one reference to `ghcr.io/acme/cart` inserted.
//!
//! Setting the image's tag must change only the tag bytes (A), keep every other datum (B), be
//! idempotent and invertible (C), and write plain scalars that read back as strings (D);
//! lookalike names beside the reference are never touched (E).
//!
//! F (issue 18 rule 7): files with several references in every shape, other images and
//! lookalikes, updated to a random tag or tag and digest: every byte that differs between
//! before and after lies inside a reported change (from its `line:column` to the end of that
//! scalar on that line; an added key is a whole inserted line, or `, key: value` inserted in a
//! flow mapping), and a second plan on the result has nothing to do.

use std::ops::Range;

use ferry::image::{ImageName, ImageUpdate};
use ferry::plan::{Plan, Planner};
use ferry::yaml::{Style, Yaml, scalar};
use proptest::prelude::*;
use proptest::sample::Index;
use serde_json::Value;

/// The image every generated document references once.
const IMAGE: &str = "ghcr.io/acme/cart";

/// Names that must never match `IMAGE`.
const LOOKALIKES: &[&str] = &[
    "ghcr.io/acme/cart-worker",
    "other.io/acme/cart",
    "ghcr.io/acme/cart/worker",
    "ghcr.io/acme/carts",
    "ghcr.io/acme2/cart",
    "acme/cart",
    "docker.io/acme/cart",
    "ghcr.io/acme/cart_x",
];

// --- the document model -------------------------------------------------------------------

/// How a generated scalar is written.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Quote {
    Plain,
    Single,
    Double,
}

/// Which tag a tracked scalar holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Mark {
    Reference,
    Lookalike,
}

#[derive(Debug, Clone)]
struct Scalar {
    quote: Quote,
    text: String,
    /// For tracked scalars: the tag is the last `tag_len` bytes of `text`.
    mark: Option<(Mark, usize)>,
}

impl Scalar {
    fn new(quote: Quote, text: impl Into<String>) -> Scalar {
        Scalar {
            quote,
            text: text.into(),
            mark: None,
        }
    }

    fn tracked(quote: Quote, prefix: &str, tag: &str, mark: Mark) -> Scalar {
        Scalar {
            quote,
            text: format!("{prefix}{tag}"),
            mark: Some((mark, tag.len())),
        }
    }
}

/// How a collection is laid out. `Compact` puts a mapping on its sequence item's dash line
/// (`- a: 1`) and a sequence under a key at the key's indentation (`k:\n- x`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Layout {
    Block,
    Compact,
    Flow,
}

#[derive(Debug, Clone)]
enum Node {
    Scalar(Scalar),
    /// A `|` block scalar (written double-quoted inside flow collections).
    Literal(Vec<String>),
    /// `*name` of an anchored scalar defined earlier in the document (never the reference).
    Alias(Index),
    Coll {
        keyed: bool,
        entries: Vec<Entry>,
        layout: Layout,
    },
}

/// A mapping entry (with a key) or a sequence item (without).
#[derive(Debug, Clone)]
struct Entry {
    key: Option<Scalar>,
    value: Node,
    deco: Deco,
}

/// What surrounds an entry: anchor, blank line and comment before it, end-of-line comment and
/// trailing whitespace.
#[derive(Debug, Clone, Default)]
struct Deco {
    anchor: bool,
    blank: bool,
    comment: Option<String>,
    eol: Option<String>,
    ws: Option<&'static str>,
}

#[derive(Debug, Clone)]
struct Doc {
    start_comment: Option<String>,
    header: Option<String>,
    root: Node,
    end_marker: bool,
}

#[derive(Debug, Clone)]
struct Source {
    docs: Vec<Doc>,
    explicit_start: bool,
    crlf: bool,
    bom: bool,
    final_newline: bool,
}

/// A value to insert somewhere, under `key` in a mapping (wrapped in a one-entry mapping when
/// it lands in a sequence).
#[derive(Debug, Clone)]
struct Unit {
    key: String,
    value: Node,
    deco: Deco,
    wrap: Layout,
}

/// The reference to insert, and what is needed to predict its edit.
#[derive(Debug, Clone)]
struct Reference {
    unit: Unit,
    old: String,
    /// A whole `name:tag` scalar (else a separate tag field).
    whole: bool,
    quote: Quote,
    kustomize: bool,
}

/// A generated file.
#[derive(Debug, Clone)]
struct Case {
    path: &'static str,
    text: String,
    old: String,
    whole: bool,
    quote: Quote,
    /// The bytes of the old tag in `text`.
    tag: Range<usize>,
    /// The bytes of each lookalike's tag in `text`.
    lookalikes: Vec<Range<usize>>,
}

// --- rendering ----------------------------------------------------------------------------

#[derive(Default)]
struct Writer {
    out: String,
    anchors: usize,
    /// Anchored scalars of the current document that aliases may reuse.
    aliasable: Vec<String>,
    marks: Vec<(Mark, Range<usize>)>,
}

fn escape_double(value: &str) -> String {
    let mut out = String::from("\"");
    for c in value.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\t' => out.push_str("\\t"),
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

impl Writer {
    fn pad(&mut self, indent: usize) {
        self.out.extend(std::iter::repeat_n(' ', indent));
    }

    fn scalar(&mut self, s: &Scalar) {
        match s.quote {
            Quote::Plain => self.out.push_str(&s.text),
            Quote::Single => {
                self.out.push('\'');
                self.out.push_str(&s.text.replace('\'', "''"));
                self.out.push('\'');
            }
            Quote::Double => self.out.push_str(&escape_double(&s.text)),
        }
        if let Some((mark, len)) = s.mark {
            let end = self.out.len() - usize::from(s.quote != Quote::Plain);
            self.marks.push((mark, end - len..end));
        }
    }

    /// A new anchor name when `deco` asks for one on `node`.
    fn anchor(&mut self, deco: &Deco, node: &Node) -> Option<String> {
        if !deco.anchor || matches!(node, Node::Alias(_)) {
            return None;
        }
        self.anchors += 1;
        Some(format!("a{}", self.anchors))
    }

    /// Remembers an anchored scalar so that later aliases may reuse it.
    fn defined(&mut self, anchor: Option<String>, node: &Node) {
        if let (Some(name), Node::Scalar(Scalar { mark: None, .. })) = (anchor, node) {
            self.aliasable.push(name);
        }
    }

    fn inline(&mut self, node: &Node) {
        match node {
            Node::Scalar(s) => self.scalar(s),
            Node::Literal(lines) => {
                self.scalar(&Scalar::new(Quote::Double, lines.join("\n") + "\n"));
            }
            Node::Alias(i) => {
                if self.aliasable.is_empty() {
                    self.out.push_str("xalias");
                } else {
                    let name = self.aliasable[i.index(self.aliasable.len())].clone();
                    self.out.push('*');
                    self.out.push_str(&name);
                }
            }
            Node::Coll { keyed, entries, .. } => {
                self.out.push(if *keyed { '{' } else { '[' });
                for (n, e) in entries.iter().enumerate() {
                    if n > 0 {
                        self.out.push_str(", ");
                    }
                    if let Some(k) = &e.key {
                        self.scalar(k);
                        self.out.push_str(": ");
                    }
                    let anchor = self.anchor(&e.deco, &e.value);
                    if let Some(a) = &anchor {
                        self.out.push_str(&format!("&{a} "));
                    }
                    self.inline(&e.value);
                    self.defined(anchor, &e.value);
                }
                self.out.push(if *keyed { '}' } else { ']' });
            }
        }
    }

    fn end_line(&mut self, deco: &Deco) {
        if let Some(c) = &deco.eol {
            self.out.push_str(" #");
            self.out.push_str(c);
        }
        if let Some(ws) = deco.ws {
            self.out.push_str(ws);
        }
        self.out.push('\n');
    }

    /// Block entries at `indent`; with `inline_first` the first one continues the current line.
    fn block(&mut self, keyed: bool, entries: &[Entry], indent: usize, inline_first: bool) {
        for (n, e) in entries.iter().enumerate() {
            if n > 0 || !inline_first {
                if e.deco.blank {
                    self.out.push('\n');
                }
                if let Some(c) = &e.deco.comment {
                    self.pad(indent);
                    self.out.push('#');
                    self.out.push_str(c);
                    self.out.push('\n');
                }
                self.pad(indent);
            }
            match &e.key {
                Some(k) if keyed => {
                    self.scalar(k);
                    self.out.push(':');
                }
                _ => self.out.push('-'),
            }
            self.block_value(e, indent);
        }
    }

    /// What follows `key:` or `-` of a block entry at `indent`.
    fn block_value(&mut self, e: &Entry, indent: usize) {
        let anchor = self.anchor(&e.deco, &e.value);
        match &e.value {
            Node::Coll {
                keyed,
                entries,
                layout,
            } if !entries.is_empty() && *layout != Layout::Flow => {
                let compact = *layout == Layout::Compact && anchor.is_none();
                if let Some(a) = &anchor {
                    self.out.push_str(&format!(" &{a}"));
                }
                if compact && e.key.is_none() {
                    self.out.push(' ');
                    self.block(*keyed, entries, indent + 2, true);
                } else {
                    self.end_line(&e.deco);
                    let child = if compact && !*keyed {
                        indent
                    } else {
                        indent + 2
                    };
                    self.block(*keyed, entries, child, false);
                }
            }
            Node::Literal(lines) => {
                self.out.push(' ');
                if let Some(a) = &anchor {
                    self.out.push_str(&format!("&{a} "));
                }
                self.out.push('|');
                self.end_line(&e.deco);
                for line in lines {
                    self.pad(indent + 2);
                    self.out.push_str(line);
                    self.out.push('\n');
                }
            }
            other => {
                self.out.push(' ');
                if let Some(a) = &anchor {
                    self.out.push_str(&format!("&{a} "));
                }
                self.inline(other);
                self.defined(anchor, other);
                self.end_line(&e.deco);
            }
        }
    }

    fn root(&mut self, node: &Node) {
        match node {
            Node::Coll {
                keyed,
                entries,
                layout,
            } if !entries.is_empty() && *layout != Layout::Flow => {
                self.block(*keyed, entries, 0, false);
            }
            other => {
                self.inline(other);
                self.out.push('\n');
            }
        }
    }

    fn source(mut self, source: &Source) -> (String, Vec<(Mark, Range<usize>)>) {
        for (i, doc) in source.docs.iter().enumerate() {
            if i > 0 || source.explicit_start {
                self.out.push_str("---");
                if let Some(c) = &doc.start_comment {
                    self.out.push_str(" #");
                    self.out.push_str(c);
                }
                self.out.push('\n');
            }
            if let Some(h) = &doc.header {
                self.out.push('#');
                self.out.push_str(h);
                self.out.push('\n');
            }
            self.aliasable.clear();
            self.root(&doc.root);
            if doc.end_marker {
                self.out.push_str("...\n");
            }
        }
        let mut text = self.out;
        let mut marks = self.marks;
        if !source.final_newline {
            text.pop();
        }
        if source.crlf {
            let shift = |at: usize| at + text[..at].matches('\n').count();
            for (_, r) in &mut marks {
                *r = shift(r.start)..shift(r.end);
            }
            text = text.replace('\n', "\r\n");
        }
        if source.bom {
            text.insert(0, '\u{feff}');
            for (_, r) in &mut marks {
                *r = r.start + 3..r.end + 3;
            }
        }
        (text, marks)
    }
}

// --- inserting the reference and the lookalikes -------------------------------------------

/// Paths (document, then entry indexes) of every collection.
fn containers(node: &Node, path: &mut Vec<usize>, out: &mut Vec<Vec<usize>>) {
    if let Node::Coll { entries, .. } = node {
        out.push(path.clone());
        for (i, e) in entries.iter().enumerate() {
            path.push(i);
            containers(&e.value, path, out);
            path.pop();
        }
    }
}

fn insert(docs: &mut [Doc], unit: Unit, at: Index, position: Index) {
    let mut all = Vec::new();
    for (d, doc) in docs.iter().enumerate() {
        containers(&doc.root, &mut vec![d], &mut all);
    }
    let path = &all[at.index(all.len())];
    let mut node = &mut docs[path[0]].root;
    for &i in &path[1..] {
        let Node::Coll { entries, .. } = node else {
            panic!("a container path leads through a collection");
        };
        node = &mut entries[i].value;
    }
    let Node::Coll { keyed, entries, .. } = node else {
        panic!("a container path ends at a collection");
    };
    let key = Scalar::new(Quote::Plain, unit.key);
    let entry = if *keyed {
        Entry {
            key: Some(key),
            value: unit.value,
            deco: unit.deco,
        }
    } else {
        let inner = Entry {
            key: Some(key),
            value: unit.value,
            deco: Deco {
                anchor: unit.deco.anchor,
                ..Deco::default()
            },
        };
        Entry {
            key: None,
            value: Node::Coll {
                keyed: true,
                entries: vec![inner],
                layout: unit.wrap,
            },
            deco: Deco {
                anchor: false,
                ..unit.deco
            },
        }
    };
    let at = position.index(entries.len() + 1);
    entries.insert(at, entry);
}

fn build(
    mut source: Source,
    reference: Reference,
    lookalikes: Vec<Unit>,
    places: Vec<(Index, Index)>,
    path: &'static str,
) -> Case {
    let mut places = places.into_iter();
    let mut place = || places.next().expect("enough places");
    let (at, position) = place();
    insert(&mut source.docs, reference.unit, at, position);
    for (j, mut unit) in lookalikes.into_iter().enumerate() {
        unit.key = format!("look{j}");
        let (at, position) = place();
        insert(&mut source.docs, unit, at, position);
    }
    let (text, marks) = Writer::default().source(&source);
    let tag = marks
        .iter()
        .find(|(m, _)| *m == Mark::Reference)
        .map(|(_, r)| r.clone())
        .expect("the reference is rendered");
    let lookalikes = marks
        .into_iter()
        .filter(|(m, _)| *m == Mark::Lookalike)
        .map(|(_, r)| r)
        .collect();
    Case {
        path: if reference.kustomize {
            "overlays/prod/kustomization.yaml"
        } else {
            path
        },
        text,
        old: reference.old,
        whole: reference.whole,
        quote: reference.quote,
        tag,
        lookalikes,
    }
}

// --- strategies ---------------------------------------------------------------------------

/// Tags of the OCI grammar, biased towards ones that look like numbers, booleans or nulls.
fn oci_tag() -> impl Strategy<Value = String> {
    prop_oneof![
        4 => "[A-Za-z0-9_][A-Za-z0-9._-]{0,15}",
        1 => "[A-Za-z0-9_][A-Za-z0-9._-]{0,127}",
        2 => "[0-9]{1,10}|0[0-7]{1,4}|[0-9]{1,3}\\.[0-9]{0,3}|[0-9]{1,2}(\\.[0-9]{1,2}){2}",
        2 => "[0-9]{1,3}\\.?[eE]-?[0-9]{1,2}|[0-9]{1,2}_[0-9]{1,3}(\\.[0-9])?|[0-9]{4}-[0-9]{1,2}-[0-9]{1,2}",
        1 => "0[xXoObB][0-9a-fA-F_]{1,4}",
        1 => "[yYnN]|[yY][eE][sS]|[nN][oO]|[oO][nN]|[oO][fF][fF]|[tT][rR][uU][eE]|[fF][aA][lL][sS][eE]",
        1 => "[nN][uU][lL][lL]|[nN][aA][nN]|[iI][nN][fF]|_|__",
    ]
}

fn quote() -> impl Strategy<Value = Quote> {
    prop_oneof![4 => Just(Quote::Plain), 1 => Just(Quote::Single), 1 => Just(Quote::Double)]
}

fn layout() -> impl Strategy<Value = Layout> {
    prop_oneof![3 => Just(Layout::Block), 2 => Just(Layout::Compact), 1 => Just(Layout::Flow)]
}

/// Random text never holds `{{`: ferry refuses files with templates.
fn no_template(s: &str) -> String {
    s.replace('{', "{x")
}

fn comment() -> impl Strategy<Value = String> {
    prop_oneof![
        4 => "( [a-zA-Z0-9 :,'\"{}#-]{0,20})?".prop_map(|s| no_template(&s)),
        1 => oci_tag().prop_map(|t| format!(" was {IMAGE}:{t}")),
    ]
}

fn deco() -> impl Strategy<Value = Deco> {
    (
        prop::bool::weighted(0.15),
        prop::bool::weighted(0.1),
        prop::option::weighted(0.15, comment()),
        prop::option::weighted(0.15, comment()),
        prop::option::weighted(0.1, prop::sample::select(vec![" ", "  ", "\t"])),
    )
        .prop_map(|(anchor, blank, comment, eol, ws)| Deco {
            anchor,
            blank,
            comment,
            eol,
            ws,
        })
}

/// Decoration without an anchor, for the insides of inserted shapes.
fn plain_deco() -> impl Strategy<Value = Deco> {
    deco().prop_map(|d| Deco { anchor: false, ..d })
}

fn noise_scalar() -> impl Strategy<Value = Scalar> {
    let plain = |s: String| Scalar::new(Quote::Plain, s);
    prop_oneof![
        4 => "[a-z][a-z0-9]{0,6}( [a-z0-9][a-z0-9./-]{0,5}){0,2}".prop_map(plain),
        2 => "-?[0-9]{1,5}(\\.[0-9]{1,3})?".prop_map(plain),
        1 => prop::sample::select(vec!["true", "False", "null", "~", "yes", "on", "0755", "1e3", "2024-01-02"])
            .prop_map(move |s| plain(s.to_owned())),
        2 => "[a-zA-Z0-9 ,:#{}\\[\\]'\"!&*|>%@-]{0,12}"
            .prop_map(|s| Scalar::new(Quote::Single, no_template(&s))),
        2 => "[a-zA-Z0-9 ,:#{}'\"\\\\\n\t-]{0,12}"
            .prop_map(|s| Scalar::new(Quote::Double, no_template(&s))),
    ]
}

/// A mapping key: `x<word>_<index>`, unique within its mapping and never a word ferry reads.
fn key(quote: Quote, word: &str, index: usize) -> Scalar {
    Scalar::new(quote, format!("x{word}_{index}"))
}

fn key_part() -> impl Strategy<Value = (Quote, String)> {
    (quote(), "[a-z]{0,5}")
}

fn leaf() -> impl Strategy<Value = Node> {
    prop_oneof![
        8 => noise_scalar().prop_map(Node::Scalar),
        1 => prop::collection::vec("[a-z][a-z0-9 #:,{}-]{0,10}".prop_map(|s| no_template(&s)), 1..4)
            .prop_map(Node::Literal),
        1 => any::<Index>().prop_map(Node::Alias),
    ]
}

fn coll(inner: BoxedStrategy<Node>) -> impl Strategy<Value = Node> {
    (
        any::<bool>(),
        prop::collection::vec((key_part(), inner, deco()), 0..5),
        layout(),
    )
        .prop_map(|(keyed, raw, layout)| Node::Coll {
            keyed,
            entries: raw
                .into_iter()
                .enumerate()
                .map(|(i, ((q, word), value, deco))| Entry {
                    key: keyed.then(|| key(q, &word, i)),
                    value,
                    deco,
                })
                .collect(),
            layout,
        })
}

fn node() -> BoxedStrategy<Node> {
    leaf()
        .prop_recursive(3, 40, 5, |inner| prop_oneof![2 => leaf(), 3 => coll(inner)])
        .boxed()
}

fn doc() -> impl Strategy<Value = Doc> {
    (
        prop::option::weighted(0.2, comment()),
        prop::option::weighted(0.3, comment()),
        coll(node()),
        prop::bool::weighted(0.15),
    )
        .prop_map(|(start_comment, header, root, end_marker)| Doc {
            start_comment,
            header,
            root,
            end_marker,
        })
}

fn source() -> impl Strategy<Value = Source> {
    (
        prop::collection::vec(doc(), 1..4),
        any::<bool>(),
        prop::bool::weighted(0.3),
        prop::bool::weighted(0.2),
        prop::bool::weighted(0.8),
    )
        .prop_map(|(docs, explicit_start, crlf, bom, final_newline)| Source {
            docs,
            explicit_start,
            crlf,
            bom,
            final_newline,
        })
}

/// A mapping of named scalars plus noise entries, shuffled, in `layout`.
fn fields(
    named: Vec<(&'static str, Scalar)>,
    noise: Vec<((Quote, String), Scalar)>,
    decos: Vec<Deco>,
    layout: Layout,
    rotate: usize,
) -> Node {
    let mut entries: Vec<Entry> = named
        .into_iter()
        .map(|(k, v)| (Scalar::new(Quote::Plain, k), v))
        .chain(
            noise
                .into_iter()
                .enumerate()
                .map(|(i, ((q, w), v))| (key(q, &w, i), v)),
        )
        .zip(decos)
        .map(|((k, v), deco)| Entry {
            key: Some(k),
            value: Node::Scalar(v),
            deco,
        })
        .collect();
    let n = entries.len();
    entries.rotate_left(rotate % n.max(1));
    Node::Coll {
        keyed: true,
        entries,
        layout,
    }
}

fn noise_fields() -> impl Strategy<Value = Vec<((Quote, String), Scalar)>> {
    prop::collection::vec((key_part(), noise_scalar()), 0..3)
}

fn decos() -> impl Strategy<Value = Vec<Deco>> {
    prop::collection::vec(plain_deco(), 6)
}

/// A Helm values mapping with `tag` beside `repository`, `registry`+`repository` or `name`.
fn helm(tag: Scalar) -> impl Strategy<Value = Node> {
    (
        0..3usize,
        quote(),
        noise_fields(),
        decos(),
        prop_oneof![Just(Layout::Block), Just(Layout::Flow)],
        0..6usize,
    )
        .prop_map(move |(variant, q, noise, decos, layout, rotate)| {
            let mut named = match variant {
                0 => vec![("repository", Scalar::new(q, IMAGE))],
                1 => vec![
                    ("registry", Scalar::new(q, "ghcr.io")),
                    ("repository", Scalar::new(Quote::Plain, "acme/cart")),
                ],
                _ => vec![("name", Scalar::new(q, IMAGE))],
            };
            named.push(("tag", tag.clone()));
            fields(named, noise, decos, layout, rotate)
        })
}

fn reference() -> impl Strategy<Value = Reference> {
    (oci_tag(), quote(), 0..4usize, deco(), layout()).prop_flat_map(
        |(old, quote, shape, deco, wrap)| {
            let tracked = |prefix: &str| Scalar::tracked(quote, prefix, &old, Mark::Reference);
            let value: BoxedStrategy<Node> = match shape {
                0 => Just(Node::Scalar(tracked(&format!("{IMAGE}:")))).boxed(),
                1 => helm(tracked("")).boxed(),
                2 => parameters(tracked("")).boxed(),
                _ => kustomize(tracked("")).boxed(),
            };
            let key = ["image", "image", "parameters", "images"][shape];
            value.prop_map(move |value| Reference {
                unit: Unit {
                    key: key.to_owned(),
                    value,
                    deco: deco.clone(),
                    wrap,
                },
                old: old.clone(),
                whole: shape == 0,
                quote,
                kustomize: shape == 3,
            })
        },
    )
}

/// An Argo CD / helmfile `{name, value}` list with `<prefix>.repository` and `<prefix>.tag`.
fn parameters(tag: Scalar) -> impl Strategy<Value = Node> {
    (
        prop::sample::select(vec!["image.", "", "cart.image.", "global.image."]),
        quote(),
        prop::collection::vec(("[a-z]{1,5}", noise_scalar()), 0..3),
        layout(),
        layout(),
        any::<Index>(),
        any::<bool>(),
        prop::collection::vec(plain_deco(), 6),
    )
        .prop_map(
            move |(prefix, q, noise, outer, inner, spot, value_first, decos)| {
                let param = |name: String, value: Scalar| {
                    let mut e = vec![
                        Entry {
                            key: Some(Scalar::new(Quote::Plain, "name")),
                            value: Node::Scalar(Scalar::new(Quote::Plain, name)),
                            deco: Deco::default(),
                        },
                        Entry {
                            key: Some(Scalar::new(Quote::Plain, "value")),
                            value: Node::Scalar(value),
                            deco: Deco::default(),
                        },
                    ];
                    if value_first {
                        e.reverse();
                    }
                    Node::Coll {
                        keyed: true,
                        entries: e,
                        layout: inner,
                    }
                };
                let mut items = vec![param(format!("{prefix}repository"), Scalar::new(q, IMAGE))];
                for (i, (w, v)) in noise.into_iter().enumerate() {
                    items.push(param(format!("x{w}_{i}"), v));
                }
                let tag_item = param(format!("{prefix}tag"), tag.clone());
                items.insert(spot.index(items.len() + 1), tag_item);
                Node::Coll {
                    keyed: false,
                    entries: items
                        .into_iter()
                        .zip(decos.into_iter().chain(std::iter::repeat(Deco::default())))
                        .map(|(value, deco)| Entry {
                            key: None,
                            value,
                            deco,
                        })
                        .collect(),
                    layout: outer,
                }
            },
        )
}

/// A kustomize `images:` list with the entry for `IMAGE` and lookalike entries.
fn kustomize(tag: Scalar) -> impl Strategy<Value = Node> {
    (
        any::<bool>(),
        quote(),
        prop::collection::vec(
            (
                prop::sample::select(LOOKALIKES.to_vec()),
                oci_tag(),
                quote(),
            ),
            0..2,
        ),
        layout(),
        layout(),
        any::<Index>(),
        noise_fields(),
        decos(),
        0..6usize,
    )
        .prop_map(
            move |(new_name, q, others, outer, inner, spot, noise, decos, rotate)| {
                let named = if new_name {
                    vec![
                        ("name", Scalar::new(q, "cart")),
                        ("newName", Scalar::new(q, IMAGE)),
                        ("newTag", tag.clone()),
                    ]
                } else {
                    vec![("name", Scalar::new(q, IMAGE)), ("newTag", tag.clone())]
                };
                let mut items = vec![fields(named, noise, decos, inner, rotate)];
                for (name, t, tq) in others {
                    let look = vec![
                        ("name", Scalar::new(tq, name)),
                        ("newTag", Scalar::tracked(tq, "", &t, Mark::Lookalike)),
                    ];
                    let at = spot.index(items.len() + 1);
                    items.insert(
                        at,
                        fields(look, Vec::new(), vec![Deco::default(); 2], inner, 0),
                    );
                }
                Node::Coll {
                    keyed: false,
                    entries: items
                        .into_iter()
                        .map(|value| Entry {
                            key: None,
                            value,
                            deco: Deco::default(),
                        })
                        .collect(),
                    layout: outer,
                }
            },
        )
}

/// A name that must not match: a lookalike reference, a lookalike Helm mapping, or the image
/// inside a longer string.
fn lookalike() -> impl Strategy<Value = Unit> {
    let name = || prop::sample::select(LOOKALIKES.to_vec());
    let value = prop_oneof![
        (name(), oci_tag(), quote()).prop_map(|(n, t, q)| {
            Node::Scalar(Scalar::tracked(q, &format!("{n}:"), &t, Mark::Lookalike))
        }),
        (
            name(),
            oci_tag(),
            quote(),
            quote(),
            prop_oneof![Just(Layout::Block), Just(Layout::Flow)]
        )
            .prop_map(|(n, t, q, tq, layout)| {
                fields(
                    vec![
                        ("repository", Scalar::new(q, n)),
                        ("tag", Scalar::tracked(tq, "", &t, Mark::Lookalike)),
                    ],
                    Vec::new(),
                    vec![Deco::default(); 2],
                    layout,
                    0,
                )
            }),
        (oci_tag(), quote()).prop_map(|(t, q)| {
            Node::Scalar(Scalar::tracked(
                q,
                &format!("--image={IMAGE}:"),
                &t,
                Mark::Lookalike,
            ))
        }),
    ];
    (value, deco(), layout()).prop_map(|(value, deco, wrap)| Unit {
        key: String::new(),
        value,
        deco,
        wrap,
    })
}

fn case() -> impl Strategy<Value = Case> {
    (
        source(),
        reference(),
        prop::collection::vec(lookalike(), 0..3),
        prop::collection::vec((any::<Index>(), any::<Index>()), 4),
        prop::sample::select(vec!["values.yaml", "apps/cart/deployment.yaml", "app.yml"]),
    )
        .prop_map(|(source, reference, lookalikes, places, path)| {
            build(source, reference, lookalikes, places, path)
        })
}

/// A case and a new tag, sometimes the old one.
fn case_and_tag() -> impl Strategy<Value = (Case, String)> {
    (case(), oci_tag(), prop::bool::weighted(0.05)).prop_map(|(case, new, same)| {
        let new = if same { case.old.clone() } else { new };
        (case, new)
    })
}

// --- running ferry ------------------------------------------------------------------------

fn plan(path: &str, text: &str, tag: &str) -> Plan {
    let update = ImageUpdate::parse(&format!("{IMAGE}={tag}")).expect("a valid update");
    let planner = Planner::new(vec![update]).expect("one update");
    let scans = planner.scan(path, text.as_bytes()).into_iter().collect();
    planner.plan(scans).expect("the plan verifies")
}

/// The text after setting the tag to `new`, as ferry promises to write it.
fn expected(case: &Case, new: &str) -> String {
    let rendered = if case.whole || case.quote != Quote::Plain {
        new.to_owned()
    } else {
        scalar::render(new, Style::Plain)
    };
    format!(
        "{}{rendered}{}",
        &case.text[..case.tag.start],
        &case.text[case.tag.end..]
    )
}

fn data(text: &str) -> Result<Vec<Value>, TestCaseError> {
    serde_saphyr::from_multiple(text)
        .map_err(|e| TestCaseError::fail(format!("serde-saphyr cannot read {text:?}: {e}")))
}

/// Every leaf (or shape) where `a` and `b` differ, with its path.
fn differences(a: &Value, b: &Value, path: &str, out: &mut Vec<(String, Value, Value)>) {
    match (a, b) {
        (Value::Object(x), Value::Object(y)) if x.len() == y.len() && x.keys().eq(y.keys()) => {
            for (k, v) in x {
                differences(v, &y[k], &format!("{path}.{k}"), out);
            }
        }
        (Value::Array(x), Value::Array(y)) if x.len() == y.len() => {
            for (i, (v, w)) in x.iter().zip(y).enumerate() {
                differences(v, w, &format!("{path}[{i}]"), out);
            }
        }
        _ if a != b => out.push((path.to_owned(), a.clone(), b.clone())),
        _ => {}
    }
}

/// The value a tag field holds when written as `text` (the old tag of a plain field may be a
/// number, a boolean or a null).
fn read_alone(text: &str) -> Result<Value, TestCaseError> {
    let docs = data(&format!("k: {text}\n"))?;
    Ok(docs[0]["k"].clone())
}

// --- F: no byte outside a reported change -----------------------------------------------

/// Another image, which must stay as it is: a whole reference or a Helm mapping.
fn other_image() -> impl Strategy<Value = Unit> {
    let name = || prop::sample::select(vec!["ghcr.io/acme/web", "nginx", "quay.io/acme/cart-db"]);
    let value = prop_oneof![
        (name(), oci_tag(), quote())
            .prop_map(|(n, t, q)| Node::Scalar(Scalar::new(q, format!("{n}:{t}")))),
        (
            name(),
            oci_tag(),
            quote(),
            prop_oneof![Just(Layout::Block), Just(Layout::Flow)]
        )
            .prop_map(|(n, t, q, layout)| fields(
                vec![
                    ("repository", Scalar::new(q, n)),
                    ("tag", Scalar::new(q, t))
                ],
                Vec::new(),
                vec![Deco::default(); 2],
                layout,
                0,
            )),
    ];
    (value, deco(), layout()).prop_map(|(value, deco, wrap)| Unit {
        key: String::new(),
        value,
        deco,
        wrap,
    })
}

/// A file with 1 to 3 references to `IMAGE` (mixed shapes), other images and lookalikes, and
/// the update: a tag, sometimes with a digest.
#[derive(Debug, Clone)]
struct Several {
    path: &'static str,
    text: String,
    update: String,
}

fn several() -> impl Strategy<Value = Several> {
    (
        source(),
        prop::collection::vec(reference(), 1..4),
        prop::collection::vec(other_image(), 0..3),
        prop::collection::vec(lookalike(), 0..3),
        prop::collection::vec((any::<Index>(), any::<Index>()), 9),
        (oci_tag(), prop::option::weighted(0.25, "[0-9a-f]{64}")),
    )
        .prop_map(
            |(mut source, references, others, lookalikes, places, (tag, digest))| {
                let kustomize = references.iter().any(|r| r.kustomize);
                let mut places = places.into_iter();
                let units = references
                    .into_iter()
                    .enumerate()
                    .map(|(j, r)| {
                        let mut unit = r.unit;
                        if unit.key != "images" {
                            unit.key = format!("{}{j}", unit.key);
                        }
                        unit
                    })
                    .chain(others.into_iter().enumerate().map(|(j, mut unit)| {
                        unit.key = format!("other{j}");
                        unit
                    }))
                    .chain(lookalikes.into_iter().enumerate().map(|(j, mut unit)| {
                        unit.key = format!("look{j}");
                        unit
                    }));
                for unit in units {
                    let (at, position) = places.next().expect("enough places");
                    insert(&mut source.docs, unit, at, position);
                }
                let (text, _) = Writer::default().source(&source);
                let update = match digest {
                    Some(hex) => format!("{IMAGE}={tag}@sha256:{hex}"),
                    None => format!("{IMAGE}={tag}"),
                };
                Several {
                    path: if kustomize {
                        "overlays/prod/kustomization.yaml"
                    } else {
                        "values.yaml"
                    },
                    text,
                    update,
                }
            },
        )
}

fn plan_update(path: &str, text: &str, update: &str) -> Plan {
    let update = ImageUpdate::parse(update).expect("a valid update");
    let planner = Planner::new(vec![update]).expect("one update");
    let scans = planner.scan(path, text.as_bytes()).into_iter().collect();
    planner.plan(scans).expect("the plan verifies")
}

/// The byte offset in `line` of 1-based character column `column`.
fn byte_of(line: &str, column: usize) -> usize {
    line.char_indices()
        .nth(column - 1)
        .map_or(line.len(), |(i, _)| i)
}

/// Where the scalar starting at byte `start` of `line` ends (exclusive). Edited values
/// (references, tags, digests) hold no spaces, commas or brackets, so a plain one ends at the
/// first of those, a `#`, or the end of the line.
fn scalar_end(line: &str, start: usize) -> usize {
    let bytes = line.as_bytes();
    match bytes.get(start) {
        Some(b'\'') => {
            let mut i = start + 1;
            while i < bytes.len() {
                if bytes[i] == b'\'' {
                    if bytes.get(i + 1) == Some(&b'\'') {
                        i += 2;
                        continue;
                    }
                    return i + 1;
                }
                i += 1;
            }
            bytes.len()
        }
        Some(b'"') => {
            let mut i = start + 1;
            while i < bytes.len() {
                match bytes[i] {
                    b'\\' => i += 2,
                    b'"' => return i + 1,
                    _ => i += 1,
                }
            }
            bytes.len()
        }
        _ => bytes[start.min(bytes.len())..]
            .iter()
            // A plain scalar ends before white space (a tab too: `tag: v1\t` is `v1`).
            .position(|b| matches!(b, b' ' | b'\t' | b',' | b']' | b'}' | b'\r' | b'\n' | b'#'))
            .map_or(bytes.len(), |n| start + n),
    }
}

/// Checks that `after` differs from `before` only inside the reported `changes` (see F).
fn only_reported_bytes_differ(
    before: &str,
    after: &str,
    changes: &[&ferry::plan::Change],
) -> Result<(), String> {
    // Columns do not count a byte order mark; it must stay.
    let (before, after) = match (
        before.strip_prefix('\u{feff}'),
        after.strip_prefix('\u{feff}'),
    ) {
        (Some(b), Some(a)) => (b, a),
        (None, None) => (before, after),
        _ => return Err("the byte order mark changed".to_owned()),
    };
    let old: Vec<&str> = before.split_inclusive('\n').collect();
    let mut new: Vec<String> = after.split_inclusive('\n').map(str::to_owned).collect();
    // Added keys are found by their text (`digest: sha256:…` under the entry, or
    // `, digest: sha256:…` in a flow mapping); their reported positions (in the new file) are
    // checked by golden cases 265 and 266.
    let added: Vec<(&str, &str)> = changes
        .iter()
        .filter(|c| c.old.is_none())
        .map(|c| {
            let name = c
                .note
                .as_deref()
                .and_then(|n| n.split('`').nth(1))
                .unwrap_or("newTag");
            (name, c.new.as_str())
        })
        .collect();
    let holds = |text: &str, value: &str| {
        let text = text.trim_end();
        text == value || text == format!("\"{value}\"") || text == format!("'{value}'")
    };
    let mut whole = Vec::new();
    for &(name, value) in &added {
        let flow = format!(", {name}: ");
        let inline = new.iter().position(|l| {
            l.find(&flow).is_some_and(|k| {
                let at = k + flow.len();
                holds(&l[at..scalar_end(l, at)], value)
            })
        });
        match inline {
            Some(n) => {
                let l = new[n].clone();
                let k = l.find(&flow).expect("found above");
                let end = scalar_end(&l, k + flow.len());
                new[n] = format!("{}{}", &l[..k], &l[end..]);
            }
            None => whole.push((name, value)),
        }
    }
    // Whole added lines: walk both files; a line of `after` that is not the next line of
    // `before` and reads `name: value` for an added key (where `before` has no such key) is
    // an added line.
    let mut aligned: Vec<String> = Vec::with_capacity(old.len());
    let mut j = 0;
    for (i, b) in old.iter().enumerate() {
        while j < new.len() && new[j] != *b {
            let t = new[j].trim_start().trim_start_matches("- ");
            let hit = whole.iter().position(|&(name, value)| {
                t.strip_prefix(&format!("{name}: "))
                    .is_some_and(|v| holds(v, value))
                    && !b
                        .trim_start()
                        .trim_start_matches("- ")
                        .starts_with(&format!("{name}:"))
            });
            match hit {
                Some(h) => {
                    whole.remove(h);
                    j += 1;
                }
                None => break,
            }
        }
        let Some(a) = new.get(j) else {
            return Err(format!("line {} of before has no counterpart after", i + 1));
        };
        // A key added after a last line without a newline ends that line first.
        let a = if i + 1 == old.len() && !b.ends_with('\n') && j + 1 < new.len() {
            a.trim_end_matches(['\n', '\r']).to_owned()
        } else {
            a.clone()
        };
        aligned.push(a);
        j += 1;
    }
    let rest: Vec<&String> = new[j.min(new.len())..].iter().collect();
    let rest_added = rest.iter().all(|l| {
        let t = l.trim_start().trim_start_matches("- ");
        whole.iter().any(|&(name, value)| {
            t.strip_prefix(&format!("{name}: "))
                .is_some_and(|v| holds(v, value))
        })
    });
    if rest.len() != whole.len() || !rest_added {
        return Err(format!(
            "the added keys {whole:?} are not the lines left over: {rest:?}"
        ));
    }
    let new = aligned;
    for (i, (b, a)) in old.iter().zip(&new).enumerate() {
        // Edited scalars are reported at their line in the file before.
        let mut columns: Vec<usize> = changes
            .iter()
            .filter(|c| c.old.is_some() && c.line == i + 1)
            .map(|c| c.column)
            .collect();
        columns.sort_unstable();
        let (mut pb, mut pa) = (0, 0);
        for column in columns {
            let s = byte_of(b, column);
            let gap = &b[pb..s];
            if a.get(pa..pa + gap.len()) != Some(gap) {
                return Err(format!(
                    "line {}: bytes before column {column} changed: {b:?} -> {a:?}",
                    i + 1
                ));
            }
            let sa = pa + gap.len();
            pb = scalar_end(b, s);
            pa = scalar_end(a, sa);
        }
        if a.get(pa..) != Some(&b[pb..]) {
            return Err(format!(
                "line {}: bytes outside the reported changes differ: {b:?} -> {a:?}",
                i + 1
            ));
        }
    }
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    /// A: exactly the old tag's bytes are replaced, by the new tag (double-quoted when a
    /// plain field would not read back as a string); lookalikes and everything else stay.
    #[test]
    fn a_only_the_tag_bytes_change((case, new) in case_and_tag()) {
        prop_assert_eq!(&case.text[case.tag.clone()], case.old.as_str());
        prop_assert!(Yaml::parse(&case.text).is_ok(), "generated YAML does not parse");
        let p = plan(case.path, &case.text, &new);
        prop_assert!(p.refusals.is_empty(), "refused: {:?}", p.refusals);
        prop_assert_eq!(p.references, 1);
        // A plain tag field that reads as a number or boolean (`tag: 1.10`) is quoted even when
        // it already holds the requested value, so it reads as the string.
        let mistyped = !case.whole && case.quote == Quote::Plain && !scalar::plain_is_safe(&case.old);
        if case.old == new && !mistyped {
            prop_assert!(p.files.is_empty() && p.changes.is_empty());
            return Ok(());
        }
        prop_assert_eq!(p.files.len(), 1);
        prop_assert_eq!(p.changes.len(), 1);
        let file = &p.files[0];
        prop_assert_eq!(file.path.as_str(), case.path);
        prop_assert_eq!(&file.before, &case.text);
        let want = expected(&case, &new);
        prop_assert_eq!(&file.after, &want);
        // The lookalikes' tags are where they were (shifted past the edit) and unchanged.
        let delta = want.len() as isize - case.text.len() as isize;
        for r in &case.lookalikes {
            let moved = if r.start >= case.tag.end {
                r.start.wrapping_add_signed(delta)..r.end.wrapping_add_signed(delta)
            } else {
                r.clone()
            };
            prop_assert_eq!(&file.after[moved], &case.text[r.clone()]);
        }
        let change = &p.changes[0];
        let (old_value, new_value) = if case.whole {
            (format!("{IMAGE}:{}", case.old), format!("{IMAGE}:{new}"))
        } else {
            (case.old.clone(), new.clone())
        };
        prop_assert_eq!(change.old.as_deref(), Some(old_value.as_str()));
        prop_assert_eq!(&change.new, &new_value);
        let start = case.tag.start
            - usize::from(case.quote != Quote::Plain)
            - if case.whole { IMAGE.len() + 1 } else { 0 };
        let (line, _) = ferry::yaml::position(&case.text, start);
        prop_assert_eq!(change.line, line);
    }

    /// B: the edited file reads (with serde-saphyr) as the same data except the one tag,
    /// which is the new tag as a string.
    #[test]
    fn b_data_is_preserved_apart_from_the_tag((case, new) in case_and_tag()) {
        prop_assume!(case.old != new);
        let p = plan(case.path, &case.text, &new);
        prop_assert_eq!(p.files.len(), 1);
        let before = data(&case.text)?;
        let after = data(&p.files[0].after)?;
        prop_assert_eq!(before.len(), after.len());
        let mut diffs = Vec::new();
        for (i, (a, b)) in before.iter().zip(&after).enumerate() {
            differences(a, b, &format!("doc{i}"), &mut diffs);
        }
        prop_assert_eq!(diffs.len(), 1, "differences: {:?}", diffs);
        let (path, old_value, new_value) = &diffs[0];
        let (want_old, want_new) = if case.whole {
            (
                Value::String(format!("{IMAGE}:{}", case.old)),
                Value::String(format!("{IMAGE}:{new}")),
            )
        } else if case.quote == Quote::Plain {
            (read_alone(&case.old)?, Value::String(new.clone()))
        } else {
            (Value::String(case.old.clone()), Value::String(new.clone()))
        };
        prop_assert_eq!(old_value, &want_old, "old value at {}", path);
        prop_assert_eq!(new_value, &want_new, "new value at {} in {:?}", path, p.files[0].after);
    }

    /// C: planning the same update again changes nothing; planning the old tag gives the
    /// original bytes back whenever both tags are written the same way.
    #[test]
    fn c_idempotent_and_invertible((case, new) in case_and_tag()) {
        prop_assume!(case.old != new);
        let first = plan(case.path, &case.text, &new);
        prop_assert_eq!(first.files.len(), 1);
        let after = &first.files[0].after;
        let again = plan(case.path, after, &new);
        prop_assert!(again.files.is_empty(), "second run changed {:?}", again.files);
        prop_assert!(again.changes.is_empty() && again.refusals.is_empty());
        prop_assert_eq!(again.references, 1);
        let invertible = case.whole
            || case.quote != Quote::Plain
            || (scalar::plain_is_safe(&case.old) && scalar::plain_is_safe(&new));
        if invertible {
            let back = plan(case.path, after, &case.old);
            prop_assert_eq!(back.files.len(), 1);
            prop_assert_eq!(&back.files[0].after, &case.text);
        }
    }

    /// D: a tag ferry leaves plain reads back as that string, in block and flow context, and
    /// `render(_, Plain)` always reads back as the string.
    #[test]
    fn d_plain_tags_read_back_as_strings(tag in oci_tag()) {
        let string = Value::String(tag.clone());
        if scalar::plain_is_safe(&tag) {
            let block = data(&format!("key: {tag}\n"))?;
            prop_assert_eq!(&block[0]["key"], &string, "block `key: {}`", tag);
            let flow = data(&format!("[{tag}]\n"))?;
            prop_assert_eq!(&flow[0][0], &string, "flow `[{}]`", tag);
        }
        let rendered = scalar::render(&tag, Style::Plain);
        let back = data(&format!("key: {rendered}\n"))?;
        prop_assert_eq!(&back[0]["key"], &string, "rendered as {}", rendered);
    }

    /// E: a file with only lookalikes is left alone and the image is reported missing.
    #[test]
    fn e_lookalikes_alone_are_not_matched(
        mut source in source(),
        lookalikes in prop::collection::vec(lookalike(), 1..4),
        places in prop::collection::vec((any::<Index>(), any::<Index>()), 3),
        new in oci_tag(),
    ) {
        for (j, (mut unit, (at, position))) in lookalikes.into_iter().zip(places).enumerate() {
            unit.key = format!("look{j}");
            insert(&mut source.docs, unit, at, position);
        }
        let (text, _) = Writer::default().source(&source);
        let p = plan("values.yaml", &text, &new);
        prop_assert!(p.files.is_empty() && p.changes.is_empty() && p.refusals.is_empty());
        prop_assert_eq!(p.references, 0);
        prop_assert_eq!(p.missing, vec![ImageName::parse(IMAGE).expect("a valid name")]);
    }

    /// F: with several references, other images and lookalikes, and a random tag (or tag and
    /// digest), no byte outside a reported change changes, and a second plan does nothing.
    #[test]
    fn f_no_byte_outside_a_reported_change(case in several()) {
        prop_assert!(Yaml::parse(&case.text).is_ok(), "generated YAML does not parse");
        let p = plan_update(case.path, &case.text, &case.update);
        // Two kustomize lists may land in one mapping as a repeated `images` key.
        prop_assume!(!p.refusals.iter().any(|r| r.message.contains("twice") || format!("{:?}", r.reason).contains("Duplicate")));
        prop_assert!(p.refusals.is_empty(), "refused: {:?}", p.refusals);
        prop_assert!(p.references >= 1);
        prop_assert!(p.files.len() <= 1);
        if let Some(file) = p.files.first() {
            prop_assert_eq!(&file.before, &case.text);
            let changes: Vec<&ferry::plan::Change> =
                p.changes.iter().filter(|c| c.file == file.path).collect();
            prop_assert!(!changes.is_empty(), "a file changed with no change reported");
            if let Err(e) = only_reported_bytes_differ(&file.before, &file.after, &changes) {
                return Err(TestCaseError::fail(format!(
                    "{e}\nchanges: {changes:?}\nbefore:\n{}\nafter:\n{}",
                    file.before, file.after
                )));
            }
            let again = plan_update(case.path, &file.after, &case.update);
            prop_assert!(again.files.is_empty(), "second plan changed {:?}", again.files);
            prop_assert!(again.changes.is_empty(), "second plan: {:?}", again.changes);
            prop_assert!(again.refusals.is_empty(), "second plan refused: {:?}", again.refusals);
        } else {
            prop_assert!(p.changes.is_empty(), "changes reported, no file: {:?}", p.changes);
        }
    }
}

/// F found this: a plain tag followed by a tab, set to a value that must be quoted. Only the
/// scalar changes (the tab stays); the checker once took the tab for part of the scalar.
#[test]
fn f_a_tab_after_a_quoted_new_tag_stays() {
    let text = "images:\n  - name: ghcr.io/acme/cart #\n    newTag: ACs_nU\t\n    other1: {repository: nginx, tag: x}\n";
    let p = plan_update(
        "overlays/prod/kustomization.yaml",
        text,
        "ghcr.io/acme/cart=8E-20",
    );
    let file = p.files.first().expect("edited");
    assert_eq!(file.after, text.replace("ACs_nU", "\"8E-20\""));
    let changes: Vec<&ferry::plan::Change> = p.changes.iter().collect();
    only_reported_bytes_differ(&file.before, &file.after, &changes).expect("only the tag");
}
