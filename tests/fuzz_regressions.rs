//! Inputs the fuzz target (`fuzz/`) once broke, replayed through the planner with the target's
//! invariants: no panic and no failed verification; a `{{ … }}` template expression is never
//! edited; an edited file parses again; planning again changes nothing and refuses nothing.

use std::path::Path;

use ferry::image::ImageUpdate;
use ferry::plan::{Plan, Planner};
use ferry::yaml::Yaml;

const DIGEST: &str = "sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef";

/// The fuzz target's update sets and file names.
fn update_sets() -> Vec<Vec<String>> {
    let nginx = format!("nginx=1.27@{DIGEST}");
    vec![
        vec!["shop/cart=v2".into()],
        vec!["shop/cart=1234567".into()],
        vec![nginx.clone()],
        vec!["ghcr.io/acme/cart=2024-01-02".into()],
        vec!["shop/cart=v2".into(), nginx],
    ]
}
const NAMES: &[&str] = &["values.yaml", "kustomization.yaml", "app.yaml"];

fn plan(updates: &[String], name: &str, bytes: &[u8], what: &str) -> Plan {
    let updates = updates
        .iter()
        .map(|u| ImageUpdate::parse(u).expect("valid update"))
        .collect();
    let planner = Planner::new(updates).expect("planner");
    let scans = planner.scan(name, bytes).into_iter().collect();
    planner
        .plan(scans)
        .unwrap_or_else(|e| panic!("{what}: {e}"))
}

#[test]
fn fuzz_findings_stay_fixed() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/fuzz");
    let mut inputs: Vec<_> = std::fs::read_dir(&dir)
        .expect("fixtures/fuzz")
        .map(|e| e.expect("entry").path())
        .collect();
    inputs.sort();
    assert!(inputs.len() >= 10, "the fuzz findings are missing");
    for input in inputs {
        let bytes = std::fs::read(&input).expect("readable");
        for updates in update_sets() {
            for name in NAMES {
                let what = format!("{} with {updates:?} as {name}", input.display());
                let first = plan(&updates, name, &bytes, &what);
                for file in &first.files {
                    assert_eq!(
                        ferry::yaml::template_expressions(&file.before),
                        ferry::yaml::template_expressions(&file.after),
                        "{what}: a template expression was edited"
                    );
                    assert!(
                        Yaml::parse(&file.after).is_ok(),
                        "{what}: the edited file does not parse"
                    );
                    let again = plan(&updates, name, file.after.as_bytes(), &what);
                    assert!(
                        again.files.is_empty() && again.changes.is_empty(),
                        "{what}: not idempotent: {:?}",
                        again.changes
                    );
                    assert!(
                        again.refusals.is_empty(),
                        "{what}: refused after editing: {:?}",
                        again.refusals
                    );
                }
            }
        }
    }
}
