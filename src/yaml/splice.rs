//! Applying edits to a YAML file's bytes, then proving nothing else changed.

use std::collections::HashMap;
use std::ops::Range;

use granit_parser::{Event, Parser};

/// One change to a file's bytes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Edit {
    /// Replace the scalar at `span` (its raw source, quotes included) with `text`, which must
    /// read back as `value`.
    Replace {
        span: Range<usize>,
        text: String,
        value: String,
    },
    /// Insert `text` at byte `at`; it must add the entry `key: value` at the end of the mapping
    /// whose source starts at byte `mapping`.
    Insert {
        at: usize,
        text: String,
        mapping: usize,
        key: String,
        value: String,
    },
    /// Remove the bytes at `span`: a whole `key: value` line of a block mapping, with the line
    /// break before it. The key's scalar starts at byte `key_at` and reads `key`; its value must
    /// be a scalar. Parsing the result must give the same documents without that entry.
    Remove {
        span: Range<usize>,
        key_at: usize,
        key: String,
    },
}

impl Edit {
    /// The order edits apply in: by position, and at one position a replacement of an empty
    /// value before an insert (`digest: &d` at the end of the line where `newTag` is added),
    /// and an insert at the end of a line before the removal of the next line. Two inserts at
    /// one position end a mapping and the mapping nested at its end: the nested one (which
    /// starts later) goes first, so that each entry lands in its own mapping.
    pub fn order(&self) -> (usize, u8, usize) {
        match self {
            Edit::Replace { span, .. } => (span.start, 0, 0),
            Edit::Insert { at, mapping, .. } => (*at, 1, usize::MAX - mapping),
            Edit::Remove { span, .. } => (span.start, 2, 0),
        }
    }

    fn start(&self) -> usize {
        self.order().0
    }
}

/// Why a splice was not accepted. Nothing is written when this happens.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SpliceError {
    #[error("two edits overlap at byte {0}")]
    Overlap(usize),
    #[error("the edited file no longer parses ({0}); nothing was written")]
    Reparse(String),
    #[error(
        "after editing, {found} where {expected} was expected (event {index}); nothing was written"
    )]
    Mismatch {
        index: usize,
        expected: String,
        found: String,
    },
}

/// Applies `edits` to `source` and verifies the result: parsing it again must give the same
/// documents, node for node, except the edited scalars (which must hold their new values), the
/// inserted entries and the removed ones.
pub fn apply(source: &str, edits: &[Edit]) -> Result<String, SpliceError> {
    let mut sorted: Vec<&Edit> = edits.iter().collect();
    sorted.sort_by_key(|e| e.order());
    let mut out = String::with_capacity(source.len() + 64);
    let mut pos = 0;
    for edit in &sorted {
        let start = edit.start();
        if start < pos {
            return Err(SpliceError::Overlap(start));
        }
        out.push_str(&source[pos..start]);
        match edit {
            Edit::Replace { span, text, .. } => {
                out.push_str(text);
                pos = span.end;
            }
            Edit::Insert { text, .. } => {
                out.push_str(text);
                pos = start;
            }
            Edit::Remove { span, .. } => pos = span.end,
        }
    }
    out.push_str(&source[pos..]);
    verify(source, &out, edits)?;
    Ok(out)
}

/// The data a node carries, for comparing two parses (positions and comments excluded).
#[derive(Debug, Clone, PartialEq, Eq)]
enum Sig {
    DocumentStart,
    DocumentEnd,
    Scalar {
        value: String,
        style: Option<u8>,
        anchor: Option<String>,
        tag: Option<String>,
    },
    Alias(String),
    SequenceStart {
        anchor: Option<String>,
        tag: Option<String>,
        flow: bool,
    },
    SequenceEnd,
    MappingStart {
        anchor: Option<String>,
        tag: Option<String>,
        flow: bool,
    },
    /// Carries the byte where the mapping started, so inserts can find their mapping.
    MappingEnd,
}

struct Signed {
    sig: Sig,
    start: usize,
    /// For MappingEnd: where the mapping started.
    opened_at: usize,
}

/// The signatures of a file's events, one at a time: memory stays proportional to the nesting
/// depth, not to the file (a whole file of signatures took about 100 bytes per event, twice).
struct Signatures<'s> {
    source: &'s str,
    parser: Parser<'s, granit_parser::StrInput<'s>>,
    /// By anchor id (they count up from 1), where the anchor's name is in `source`: 8 bytes an
    /// anchor, where a map of strings took about 70 (a file of `[&a a,&a a,…]` has an anchor
    /// every five bytes, and two files are read side by side).
    names: Vec<(u32, u32)>,
    open: Vec<usize>,
    /// The last signature read, not handed out yet: an anchor event after it may complete it.
    held: Option<Signed>,
    done: bool,
}

impl<'s> Signatures<'s> {
    fn new(source: &'s str) -> Self {
        let options = granit_parser::options! { emit_anchor_events: true };
        Signatures {
            source,
            parser: Parser::new_from_str_with_options(source, options),
            names: Vec::new(),
            open: Vec::new(),
            held: None,
            done: false,
        }
    }

    /// The next signature, `None` at the end.
    fn next_sig(&mut self) -> Result<Option<Signed>, String> {
        loop {
            if self.done {
                return Ok(self.held.take());
            }
            let Some(next) = self.parser.next() else {
                self.done = true;
                continue;
            };
            let (event, span) = next.map_err(|e| e.to_string())?;
            if let Some(signed) = self.read(event, &span)
                && let Some(previous) = self.held.replace(signed)
            {
                return Ok(Some(previous));
            }
        }
    }

    /// The signature of one event (anchors complete the held one and give none).
    fn read(&mut self, event: Event<'s>, span: &granit_parser::Span) -> Option<Signed> {
        let source = self.source;
        let start = span.byte_range().map_or(0, |r| r.start);
        let tag = || {
            span.tag_span()
                .and_then(|t| t.slice(source))
                .map(str::to_owned)
        };
        let signed = |sig| Signed {
            sig,
            start,
            opened_at: 0,
        };
        match event {
            Event::StreamStart
            | Event::StreamEnd
            | Event::Comment(..)
            | Event::UnresolvedAlias(_) => None,
            Event::DocumentStart(..) => Some(signed(Sig::DocumentStart)),
            Event::DocumentEnd => Some(signed(Sig::DocumentEnd)),
            Event::Anchor(id, name) => {
                let at = span
                    .byte_range()
                    .map(|r| r.start + 1..r.end)
                    .filter(|r| self.source.get(r.clone()) == Some(name.as_ref()));
                if let Some(at) = at
                    && let (Ok(start), Ok(end)) = (u32::try_from(at.start), u32::try_from(at.end))
                {
                    if self.names.len() <= id {
                        self.names.resize(id + 1, (0, 0));
                    }
                    self.names[id] = (start, end);
                }
                if let Some(last) = &mut self.held {
                    match &mut last.sig {
                        Sig::Scalar { anchor, .. }
                        | Sig::SequenceStart { anchor, .. }
                        | Sig::MappingStart { anchor, .. } => {
                            *anchor = Some(name.into_owned());
                        }
                        _ => {}
                    }
                }
                None
            }
            Event::Alias(id) => Some(signed(Sig::Alias(
                self.names
                    .get(id)
                    .and_then(|&(start, end)| self.source.get(start as usize..end as usize))
                    .unwrap_or_default()
                    .to_owned(),
            ))),
            Event::Scalar(value, style, _, _) => Some(signed(Sig::Scalar {
                value: value.into_owned(),
                style: Some(style as u8),
                anchor: None,
                tag: tag(),
            })),
            Event::SequenceStart(style, _, _) => {
                self.open.push(start);
                Some(signed(Sig::SequenceStart {
                    anchor: None,
                    tag: tag(),
                    flow: style == granit_parser::StructureStyle::Flow,
                }))
            }
            Event::MappingStart(style, _, _) => {
                self.open.push(start);
                Some(signed(Sig::MappingStart {
                    anchor: None,
                    tag: tag(),
                    flow: style == granit_parser::StructureStyle::Flow,
                }))
            }
            Event::SequenceEnd => {
                self.open.pop();
                Some(signed(Sig::SequenceEnd))
            }
            Event::MappingEnd => Some(Signed {
                sig: Sig::MappingEnd,
                start,
                opened_at: self.open.pop().unwrap_or(0),
            }),
            // Events added by later parser versions carry no data ferry compares.
            _ => None,
        }
    }
}

fn plain_scalar(value: &str) -> Sig {
    Sig::Scalar {
        value: value.to_owned(),
        style: None,
        anchor: None,
        tag: None,
    }
}

/// Parses `before` and `after` side by side and compares them event by event: `after` must be
/// `before` with the edits, nothing else. Linear in the files and the edits; memory
/// proportional to the edits and the nesting depth.
fn verify(before: &str, after: &str, edits: &[Edit]) -> Result<(), SpliceError> {
    // Indexed once, so that verifying is linear in the number of edits (a file may hold
    // 100,000 references).
    let mut replaced_at: HashMap<usize, &String> = HashMap::new();
    let mut inserted_in: HashMap<usize, Vec<(&String, &String)>> = HashMap::new();
    let mut removed_at: HashMap<usize, &String> = HashMap::new();
    for e in edits {
        match e {
            Edit::Replace { span, value, .. } => {
                replaced_at.entry(span.start).or_insert(value);
            }
            Edit::Insert {
                mapping,
                key,
                value,
                ..
            } => inserted_in.entry(*mapping).or_default().push((key, value)),
            Edit::Remove { key_at, key, .. } => {
                removed_at.insert(*key_at, key);
            }
        }
    }
    let mut old = Signatures::new(before);
    let mut new = Signatures::new(after);
    let mut expected: std::collections::VecDeque<Sig> = std::collections::VecDeque::new();
    let mut index = 0;
    loop {
        if expected.is_empty() {
            let Some(signed) = old.next_sig().map_err(SpliceError::Reparse)? else {
                break;
            };
            match signed.sig {
                Sig::Scalar { value, .. } if removed_at.contains_key(&signed.start) => {
                    // The removed key, then its value, must be gone from `after`.
                    let key = removed_at[&signed.start];
                    let gone = old.next_sig().map_err(SpliceError::Reparse)?;
                    if value != **key
                        || !matches!(
                            gone,
                            Some(Signed {
                                sig: Sig::Scalar { .. },
                                ..
                            })
                        )
                    {
                        return Err(SpliceError::Mismatch {
                            index,
                            expected: format!("the entry `{key}` with a scalar value"),
                            found: format!("scalar {value:?}"),
                        });
                    }
                    continue;
                }
                Sig::Scalar { anchor, tag, .. } if replaced_at.contains_key(&signed.start) => {
                    // The style of an edited scalar may change (plain → quoted).
                    expected.push_back(Sig::Scalar {
                        value: replaced_at[&signed.start].clone(),
                        style: None,
                        anchor,
                        tag,
                    });
                }
                Sig::MappingEnd => {
                    for (key, value) in inserted_in.get(&signed.opened_at).into_iter().flatten() {
                        expected.push_back(plain_scalar(key));
                        expected.push_back(plain_scalar(value));
                    }
                    expected.push_back(Sig::MappingEnd);
                }
                sig => expected.push_back(sig),
            }
        }
        let Some(want) = expected.pop_front() else {
            continue;
        };
        let found = new.next_sig().map_err(SpliceError::Reparse)?;
        match found {
            Some(got) if same(&want, &got.sig) => {}
            other => {
                return Err(SpliceError::Mismatch {
                    index,
                    expected: describe(&want),
                    found: other.map_or_else(|| "the end".to_owned(), |g| describe(&g.sig)),
                });
            }
        }
        index += 1;
    }
    // Drain `after`: it must end where `before` did, and parse to its end.
    if let Some(extra) = new.next_sig().map_err(SpliceError::Reparse)? {
        return Err(SpliceError::Mismatch {
            index,
            expected: "the end".to_owned(),
            found: describe(&extra.sig),
        });
    }
    Ok(())
}

/// Equality where an expected scalar without a style (an edited or inserted one) accepts any
/// style and tag.
fn same(expected: &Sig, found: &Sig) -> bool {
    match (expected, found) {
        (
            Sig::Scalar {
                value: v1,
                style: None,
                anchor: a1,
                ..
            },
            Sig::Scalar {
                value: v2,
                anchor: a2,
                ..
            },
        ) => v1 == v2 && a1 == a2,
        _ => expected == found,
    }
}

fn describe(sig: &Sig) -> String {
    match sig {
        Sig::Scalar { value, .. } => format!("scalar {value:?}"),
        Sig::Alias(name) => format!("alias *{name}"),
        other => format!("{other:?}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn replace(src: &str, old: &str, new_text: &str, value: &str) -> Edit {
        let start = src.find(old).unwrap();
        Edit::Replace {
            span: start..start + old.len(),
            text: new_text.into(),
            value: value.into(),
        }
    }

    #[test]
    fn replaces_only_the_span() {
        let src = "a: &x v1 # keep\r\nb: 'q'\r\n";
        let out = apply(src, &[replace(src, "v1", "\"1234\"", "1234")]).unwrap();
        assert_eq!(out, "a: &x \"1234\" # keep\r\nb: 'q'\r\n");
    }

    #[test]
    fn inserts_entries_into_the_right_mapping() {
        let src = "images:\n- name: a\n  newName: b\n- name: c\n";
        let at = src.find("b\n").unwrap() + 1;
        let mapping = src.find("name: a").unwrap();
        let edit = Edit::Insert {
            at,
            text: "\n  newTag: v2".into(),
            mapping,
            key: "newTag".into(),
            value: "v2".into(),
        };
        let out = apply(src, &[edit]).unwrap();
        assert_eq!(
            out,
            "images:\n- name: a\n  newName: b\n  newTag: v2\n- name: c\n"
        );
    }

    fn remove_line(src: &str, line: &str, key: &str) -> Edit {
        let start = src.find(line).unwrap();
        let key_at = start + line.find(key).unwrap();
        let before = src[..start].trim_end_matches(['\n', '\r']).len();
        Edit::Remove {
            span: before..start + line.len(),
            key_at,
            key: key.into(),
        }
    }

    #[test]
    fn removes_an_entry_line_and_nothing_else() {
        let src =
            "images:\r\n- name: a\r\n  digest: sha256:x # old\r\n  newTag: v1\r\n- name: b\r\n";
        let edits = [
            remove_line(src, "  digest: sha256:x # old", "digest"),
            replace(src, "v1", "v2", "v2"),
        ];
        let out = apply(src, &edits).unwrap();
        assert_eq!(out, "images:\r\n- name: a\r\n  newTag: v2\r\n- name: b\r\n");
        // The last line of a file without a final line break.
        let src = "- name: a\n  digest: d";
        let out = apply(src, &[remove_line(src, "  digest: d", "digest")]).unwrap();
        assert_eq!(out, "- name: a");
        // Removed, and an entry added at the end of the line before: both verified.
        let src = "i:\n- name: a\n  newTag: v1\nx: 1\n";
        let at = src.find("v1").unwrap() + 2;
        let insert = Edit::Insert {
            at,
            text: "\n  digest: d".into(),
            mapping: src.find("name").unwrap(),
            key: "digest".into(),
            value: "d".into(),
        };
        let out = apply(src, &[remove_line(src, "  newTag: v1", "newTag"), insert]).unwrap();
        assert_eq!(out, "i:\n- name: a\n  digest: d\nx: 1\n");
    }

    #[test]
    fn rejects_a_removal_that_takes_more_or_the_wrong_key() {
        let src = "a: 1\nb: 2\nc: 3\n";
        // Two lines removed, one declared.
        let mut two = remove_line(src, "b: 2", "b");
        if let Edit::Remove { span, .. } = &mut two {
            span.end += "\nc: 3".len();
        }
        assert!(matches!(
            apply(src, &[two]),
            Err(SpliceError::Mismatch { .. })
        ));
        // The key at `key_at` is not the one declared.
        let wrong = Edit::Remove {
            span: 4..8,
            key_at: 5,
            key: "c".into(),
        };
        assert!(matches!(
            apply(src, &[wrong]),
            Err(SpliceError::Mismatch { .. })
        ));
        // A key whose value is a mapping is not a one-line entry.
        let src = "a: 1\nb:\n  c: 2\nd: 3\n";
        let nested = Edit::Remove {
            span: 4..8,
            key_at: 5,
            key: "b".into(),
        };
        assert!(apply(src, &[nested]).is_err());
    }

    #[test]
    fn rejects_an_edit_that_changes_structure() {
        let src = "a: v1\nb: c\n";
        let err = apply(src, &[replace(src, "v1", "v2\nz: 1", "v2")]).unwrap_err();
        assert!(matches!(err, SpliceError::Mismatch { .. }), "{err:?}");
    }

    #[test]
    fn rejects_an_edit_whose_value_reads_differently() {
        let src = "a: v1\n";
        let err = apply(src, &[replace(src, "v1", "v2 # x", "v2 # x")]).unwrap_err();
        assert!(matches!(err, SpliceError::Mismatch { .. }), "{err:?}");
    }

    #[test]
    fn verifies_anchors_aliases_and_the_end_while_streaming() {
        let src = "a: &x v1\nb: *x\nc: [&y 1, *y]\n---\nd: e\n";
        let out = apply(src, &[replace(src, "e", "f", "f")]).unwrap();
        assert_eq!(out, src.replace("d: e", "d: f"));
        // An anchor renamed, a document added: both caught.
        let err = apply(src, &[replace(src, "&x v1", "&z v1", "v1")]).unwrap_err();
        assert!(matches!(err, SpliceError::Mismatch { .. }), "{err:?}");
        let err = apply(src, &[replace(src, "e\n", "e\n---\nx: 1\n", "e")]).unwrap_err();
        assert!(
            matches!(&err, SpliceError::Mismatch { expected, .. } if expected == "the end"),
            "{err:?}"
        );
    }

    proptest::proptest! {
        /// Replacing one scalar among many, in block and flow collections, gives exactly the
        /// text with those bytes replaced, and a replacement that adds a node is refused.
        #[test]
        fn one_replacement_among_many_is_exact(
            words in proptest::collection::vec("[a-z]{1,6}", 1..60),
            pick in 0usize..60,
            new_word in "[a-z]{1,6}",
            flow in proptest::bool::ANY,
        ) {
            let i = pick % words.len();
            let src = if flow {
                format!("items: [{}]\nafter: x\n", words.join(", "))
            } else {
                let lines: Vec<String> = words.iter().map(|w| format!("- {w}\n")).collect();
                format!("items:\n{}after: x\n", lines.concat())
            };
            let mut starts = Vec::new();
            let mut at = src.find(if flow { '[' } else { '-' }).unwrap();
            for w in &words {
                at = at + src[at..].find(w.as_str()).unwrap();
                starts.push(at);
                at += w.len();
            }
            let span = starts[i]..starts[i] + words[i].len();
            let edit = Edit::Replace { span: span.clone(), text: new_word.clone(), value: new_word.clone() };
            let out = apply(&src, &[edit]).unwrap();
            let mut want = src.clone();
            want.replace_range(span.clone(), &new_word);
            proptest::prop_assert_eq!(out, want);
            let extra = if flow { format!("{new_word}, z") } else { format!("{new_word}\n- z") };
            let bad = Edit::Replace { span, text: extra, value: new_word.clone() };
            proptest::prop_assert!(apply(&src, &[bad]).is_err());
        }
    }

    #[test]
    fn rejects_overlaps() {
        let src = "a: v1\n";
        let e = replace(src, "v1", "v2", "v2");
        assert_eq!(
            apply(src, &[e.clone(), e]).unwrap_err(),
            SpliceError::Overlap(3)
        );
    }
}
