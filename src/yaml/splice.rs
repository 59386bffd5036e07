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
}

impl Edit {
    /// The order edits apply in: by position, and at one position a replacement of an empty
    /// value before an insert (`digest: &d` at the end of the line where `newTag` is added).
    pub fn order(&self) -> (usize, u8) {
        match self {
            Edit::Replace { span, .. } => (span.start, 0),
            Edit::Insert { at, .. } => (*at, 1),
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
/// documents, node for node, except the edited scalars (which must hold their new values) and
/// the inserted entries.
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

fn signatures(source: &str) -> Result<Vec<Signed>, String> {
    let options = granit_parser::options! { emit_anchor_events: true };
    let mut out: Vec<Signed> = Vec::new();
    let mut names: HashMap<usize, String> = HashMap::new();
    let mut open: Vec<usize> = Vec::new();
    for next in Parser::new_from_str_with_options(source, options) {
        let (event, span) = next.map_err(|e| e.to_string())?;
        let start = span.byte_range().map_or(0, |r| r.start);
        let tag = span
            .tag_span()
            .and_then(|t| t.slice(source))
            .map(str::to_owned);
        let sig = match event {
            Event::StreamStart
            | Event::StreamEnd
            | Event::Comment(..)
            | Event::UnresolvedAlias(_) => continue,
            Event::DocumentStart(..) => Sig::DocumentStart,
            Event::DocumentEnd => Sig::DocumentEnd,
            Event::Anchor(id, name) => {
                names.insert(id, name.to_string());
                if let Some(last) = out.last_mut() {
                    match &mut last.sig {
                        Sig::Scalar { anchor, .. }
                        | Sig::SequenceStart { anchor, .. }
                        | Sig::MappingStart { anchor, .. } => {
                            *anchor = Some(name.into_owned());
                        }
                        _ => {}
                    }
                }
                continue;
            }
            Event::Alias(id) => Sig::Alias(names.get(&id).cloned().unwrap_or_default()),
            Event::Scalar(value, style, _, _) => Sig::Scalar {
                value: value.into_owned(),
                style: Some(style as u8),
                anchor: None,
                tag,
            },
            Event::SequenceStart(style, _, _) => {
                open.push(start);
                Sig::SequenceStart {
                    anchor: None,
                    tag,
                    flow: style == granit_parser::StructureStyle::Flow,
                }
            }
            Event::MappingStart(style, _, _) => {
                open.push(start);
                Sig::MappingStart {
                    anchor: None,
                    tag,
                    flow: style == granit_parser::StructureStyle::Flow,
                }
            }
            Event::SequenceEnd => {
                open.pop();
                Sig::SequenceEnd
            }
            Event::MappingEnd => {
                let opened_at = open.pop().unwrap_or(0);
                out.push(Signed {
                    sig: Sig::MappingEnd,
                    start,
                    opened_at,
                });
                continue;
            }
            // Events added by later parser versions carry no data ferry compares.
            _ => continue,
        };
        out.push(Signed {
            sig,
            start,
            opened_at: 0,
        });
    }
    Ok(out)
}

fn plain_scalar(value: &str) -> Sig {
    Sig::Scalar {
        value: value.to_owned(),
        style: None,
        anchor: None,
        tag: None,
    }
}

fn verify(before: &str, after: &str, edits: &[Edit]) -> Result<(), SpliceError> {
    let old = signatures(before).map_err(SpliceError::Reparse)?;
    let new = signatures(after).map_err(SpliceError::Reparse)?;
    // Indexed once, so that verifying is linear in the number of edits (a file may hold
    // 100,000 references).
    let mut replaced_at: HashMap<usize, &String> = HashMap::new();
    let mut inserted_in: HashMap<usize, Vec<(&String, &String)>> = HashMap::new();
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
        }
    }
    let mut expected: Vec<Sig> = Vec::with_capacity(old.len() + 2 * edits.len());
    for signed in old {
        match &signed.sig {
            Sig::Scalar { anchor, tag, .. } => {
                let replaced = replaced_at.get(&signed.start).copied();
                match replaced {
                    // The style of an edited scalar may change (plain → quoted).
                    Some(value) => expected.push(Sig::Scalar {
                        value: value.clone(),
                        style: None,
                        anchor: anchor.clone(),
                        tag: tag.clone(),
                    }),
                    None => expected.push(signed.sig),
                }
            }
            Sig::MappingEnd => {
                for (key, value) in inserted_in.get(&signed.opened_at).into_iter().flatten() {
                    expected.push(plain_scalar(key));
                    expected.push(plain_scalar(value));
                }
                expected.push(Sig::MappingEnd);
            }
            _ => expected.push(signed.sig),
        }
    }
    let found: Vec<Sig> = new.into_iter().map(|s| s.sig).collect();
    for (index, pair) in expected.iter().zip(found.iter()).enumerate() {
        if !same(pair.0, pair.1) {
            return Err(SpliceError::Mismatch {
                index,
                expected: describe(pair.0),
                found: describe(pair.1),
            });
        }
    }
    if expected.len() != found.len() {
        let index = expected.len().min(found.len());
        return Err(SpliceError::Mismatch {
            index,
            expected: expected
                .get(index)
                .map_or_else(|| "the end".to_owned(), describe),
            found: found
                .get(index)
                .map_or_else(|| "the end".to_owned(), describe),
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
    fn rejects_overlaps() {
        let src = "a: v1\n";
        let e = replace(src, "v1", "v2", "v2");
        assert_eq!(
            apply(src, &[e.clone(), e]).unwrap_err(),
            SpliceError::Overlap(3)
        );
    }
}
