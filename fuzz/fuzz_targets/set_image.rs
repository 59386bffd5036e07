//! Fuzzes the locate/splice path of `ferry set-image` on arbitrary bytes.
//!
//! Input layout: the first byte chooses the requested update(s) and the file name; the rest is
//! the file's bytes. See `fuzz/README.md` for what is checked and how to run it.

#![no_main]

use std::sync::OnceLock;

use ferry::image::ImageUpdate;
use ferry::locate::{self, Found, InsertPoint, Slot, Target, Want};
use ferry::plan::{self, PlanError, Planner, Scan};
use ferry::yaml::Yaml;
use libfuzzer_sys::fuzz_target;

const DIGEST: &str = "sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef";

/// The requested updates, one planner each (the last one requests two images at once).
fn planners() -> &'static [Planner] {
    static PLANNERS: OnceLock<Vec<Planner>> = OnceLock::new();
    PLANNERS.get_or_init(|| {
        let nginx = format!("nginx=1.27@{DIGEST}");
        let sets: [&[&str]; 5] = [
            &["shop/cart=v2"],
            &["shop/cart=1234567"],
            &[&nginx],
            &["ghcr.io/acme/cart=2024-01-02"],
            &["shop/cart=v2", &nginx],
        ];
        sets.iter()
            .map(|set| {
                let updates = set
                    .iter()
                    .map(|u| ImageUpdate::parse(u).expect("valid update"))
                    .collect();
                Planner::new(updates).expect("no duplicates")
            })
            .collect()
    })
}

const FILES: [&str; 3] = ["values.yaml", "kustomization.yaml", "app.yaml"];

fuzz_target!(|data: &[u8]| {
    let Some((&selector, bytes)) = data.split_first() else {
        return;
    };
    let planners = planners();
    let planner = &planners[selector as usize % planners.len()];
    let file = FILES[(selector as usize / planners.len()) % FILES.len()];

    locate_any(file, bytes);
    set_image(data, planner, file, bytes);
});

/// `Yaml::parse` + `locate` with `Want::Any` (the "did you mean" path): no panic, and every
/// span it hands out lies inside the source on character boundaries.
fn locate_any(file: &str, bytes: &[u8]) {
    let Ok(text) = std::str::from_utf8(bytes) else {
        return;
    };
    if let Ok(yaml) = Yaml::parse(text) {
        for id in 0..yaml.len() {
            let span = yaml.node(id).span();
            check_range(text, span.start, span.end, "node span");
            // A value is its span, its span without quotes, or decoded text: never a panic.
            let _ = yaml.scalar(id);
        }
        let found = locate::locate(&yaml, file, Want::Any);
        check_found(text, &found);
    }
    let _ = plan::images_in(file, bytes);
}

/// Scan, plan, and check the plan's invariants; then plan again on the new text.
fn set_image(data: &[u8], planner: &Planner, file: &str, bytes: &[u8]) {
    let scans: Vec<_> = planner.scan(file, bytes).into_iter().collect();
    for scan in &scans {
        check_found(&scan.text, &scan.found);
    }
    if debug() {
        eprintln!("{scans:#?}");
    }
    let skip_invariants = known_issue(planner, &scans).is_some_and(|_| !no_skip());
    let first = match planner.plan(scans) {
        Ok(plan) => plan,
        Err(PlanError::Verify { error, .. }) => {
            let known = known_verify(planner, file, bytes);
            record_verify(data, &error.to_string(), known);
            return;
        }
        Err(e) => panic!("unexpected plan error: {e}"),
    };
    assert_eq!(
        first.changes.is_empty(),
        first.files.is_empty(),
        "changes reported without a changed file, or the reverse: {:?}",
        first.changes
    );
    assert!(first.files.len() <= 1, "one input file, several edited");
    let Some(edit) = first.files.first() else {
        return;
    };
    if skip_invariants {
        // Still check that the result parses; idempotence is known to fail (see known_issue).
        if let Err(e) = Yaml::parse(&edit.after) {
            panic!("the edited file no longer parses ({e}):\n{}", edit.after);
        }
        return;
    }
    assert_eq!(edit.path, file);
    assert_ne!(
        edit.after, edit.before,
        "a file listed as changed is unchanged"
    );
    if let Err(e) = Yaml::parse(&edit.after) {
        panic!("the edited file no longer parses ({e}):\n{}", edit.after);
    }
    // docs/shapes.md: a template expression is never edited (literal references beside it are).
    assert!(
        ferry::yaml::template_expressions(&edit.before) == ferry::yaml::template_expressions(&edit.after),
        "a template expression was edited: {:?}\nafter:\n{}",
        first.changes,
        edit.after
    );

    // Idempotence: the same request on the new text changes nothing and refuses nothing new.
    let again: Vec<_> = planner
        .scan(file, edit.after.as_bytes())
        .into_iter()
        .collect();
    let second = match planner.plan(again) {
        Ok(plan) => plan,
        Err(e) => panic!(
            "second run on the edited text failed ({e}); first run's changes: {:?}\nafter:\n{}",
            first.changes, edit.after
        ),
    };
    assert!(
        second.files.is_empty() && second.changes.is_empty(),
        "not idempotent: the second run changes {:?}\nfirst run's changes: {:?}\nafter first run:\n{}",
        second.changes,
        first.changes,
        edit.after
    );
    assert!(
        first.refusals.is_empty() || second.refusals.len() == first.refusals.len(),
        "the refusals changed after editing: {:?} then {:?}",
        first.refusals,
        second.refusals
    );
    assert!(
        !first.refusals.is_empty() || second.refusals.is_empty(),
        "the edit created refusals: {:?}\nafter:\n{}",
        second.refusals,
        edit.after
    );
    assert_eq!(
        first.missing, second.missing,
        "an image went missing after editing"
    );
}

/// Known bugs, reported and kept as fixtures in `tests/fixtures/fuzz/`, that would otherwise
/// fire on most inputs of their shape and hide new findings: return a name for inputs that match
/// one. For those the plan still runs (no panic allowed, the result must parse) but the plan
/// invariants are not checked. `FERRY_FUZZ_NO_SKIP=1` checks them anyway. None at present; the
/// earlier patterns were fixed: kustomize-digest-insert-dropped (an entry with neither `newTag`
/// nor `digest` and a request with a digest; c348cb4) and template-file-setter-marker (a file
/// holding `{{` with setter-marked scalars; 1379aba).
fn known_issue(_planner: &Planner, _scans: &[Scan]) -> Option<&'static str> {
    None
}

/// Known causes of `PlanError::Verify` (reported, with fixtures): inputs matching them are not
/// recorded in `FERRY_FUZZ_VERIFY_DIR`, so that only new kinds show up there. Only called after
/// a `Verify` error, so it may be slow. None is open: the causes found so far are listed in
/// fuzz/README.md with the commits that fixed them.
fn known_verify(_planner: &Planner, _file: &str, _bytes: &[u8]) -> Option<&'static str> {
    None
}

fn debug() -> bool {
    static DEBUG: OnceLock<bool> = OnceLock::new();
    *DEBUG.get_or_init(|| std::env::var_os("FERRY_FUZZ_DEBUG").is_some())
}

fn no_skip() -> bool {
    static NO_SKIP: OnceLock<bool> = OnceLock::new();
    *NO_SKIP.get_or_init(|| std::env::var_os("FERRY_FUZZ_NO_SKIP").is_some())
}

fn check_found(text: &str, found: &Found) {
    let slot = |s: &Slot| {
        check_range(text, s.span.start, s.span.end, "slot");
        assert!(!s.style.is_block(), "a block scalar slot: {s:?}");
        assert!(
            !text[s.span.clone()].contains('\n'),
            "a multi-line slot: {s:?}"
        );
    };
    let insert = |p: &InsertPoint| {
        check_range(text, p.at, p.at, "insert point");
        check_range(text, p.mapping, p.mapping, "insert mapping");
        assert!(
            p.mapping <= p.at,
            "an insert point before its mapping: {p:?}"
        );
    };
    for mention in &found.mentions {
        match &mention.target {
            Target::Whole {
                slot: s,
                prefix_len,
                reference,
            } => {
                slot(s);
                let keep = prefix_len + reference.written_name.len();
                assert!(
                    keep <= s.value.len() && s.value.is_char_boundary(keep),
                    "the kept name is not a prefix of the value: {mention:?}"
                );
            }
            Target::Fields {
                tag,
                digest,
                insert: point,
            } => {
                tag.iter().chain(digest).for_each(slot);
                point.iter().for_each(insert);
            }
        }
    }
    for m in &found.marked {
        if let Ok(s) = &m.slot {
            slot(s);
        }
    }
}

fn check_range(text: &str, start: usize, end: usize, what: &str) {
    assert!(
        start <= end && end <= text.len(),
        "{what} {start}..{end} out of bounds (len {})",
        text.len()
    );
    assert!(
        text.is_char_boundary(start) && text.is_char_boundary(end),
        "{what} {start}..{end} not on character boundaries"
    );
}

/// A `PlanError::Verify` is allowed (the splice verifier refused to write), but may be a
/// locator bug: fail on it when `FERRY_FUZZ_STRICT_VERIFY` is set; otherwise keep the input in
/// `FERRY_FUZZ_VERIFY_DIR` (when set) unless it matches a known cause (see `known_verify`).
fn record_verify(data: &[u8], error: &str, known: Option<&str>) {
    if std::env::var_os("FERRY_FUZZ_STRICT_VERIFY").is_some() {
        panic!("the splice verifier rejected the plan ({known:?}): {error}");
    }
    if known.is_some() && !no_skip() {
        return;
    }
    if let Some(dir) = std::env::var_os("FERRY_FUZZ_VERIFY_DIR") {
        use std::hash::{DefaultHasher, Hash, Hasher};
        let mut h = DefaultHasher::new();
        data.hash(&mut h);
        let dir = std::path::PathBuf::from(dir);
        let path = dir.join(format!("verify-{:016x}", h.finish()));
        if !path.exists() {
            let _ = std::fs::create_dir_all(&dir);
            let _ = std::fs::write(&path, data);
            let _ = std::fs::write(path.with_extension("txt"), error);
        }
    }
}
