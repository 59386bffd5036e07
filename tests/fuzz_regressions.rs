//! Inputs the fuzz target (`fuzz/`) once broke, replayed through the planner with the target's
//! invariants: no panic; an edited file parses again; planning again changes nothing.

use std::path::Path;

use ferry::image::ImageUpdate;
use ferry::plan::{Plan, PlanError, Planner};
use ferry::yaml::Yaml;

const UPDATES: &[&str] = &[
    "shop/cart=v2",
    "shop/cart=1234567",
    "nginx=1.27@sha256:aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa",
    "ghcr.io/acme/cart=2024-01-02",
];
const NAMES: &[&str] = &["values.yaml", "kustomization.yaml", "app.yaml"];

fn plan(update: &str, name: &str, bytes: &[u8]) -> Result<Plan, PlanError> {
    let planner =
        Planner::new(vec![ImageUpdate::parse(update).expect("valid update")]).expect("planner");
    let scans = planner.scan(name, bytes).into_iter().collect();
    planner.plan(scans)
}

#[test]
fn fuzz_findings_stay_fixed() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/fuzz");
    let mut inputs: Vec<_> = std::fs::read_dir(&dir)
        .expect("fixtures/fuzz")
        .map(|e| e.expect("entry").path())
        .collect();
    inputs.sort();
    assert!(!inputs.is_empty());
    for input in inputs {
        let bytes = std::fs::read(&input).expect("readable");
        for update in UPDATES {
            for name in NAMES {
                let what = format!("{} with {update} as {name}", input.display());
                let Ok(first) = plan(update, name, &bytes) else {
                    continue;
                };
                for file in &first.files {
                    assert!(
                        Yaml::parse(&file.after).is_ok(),
                        "{what}: the edited file does not parse"
                    );
                    let again = plan(update, name, file.after.as_bytes())
                        .unwrap_or_else(|e| panic!("{what}: replanning failed: {e}"));
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
