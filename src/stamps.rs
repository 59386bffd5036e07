//! The stale-write guard: an older pipeline that finishes last must not roll an environment back
//! over a newer one from the same source branch.
//!
//! The rule. Every bump made from CI records, per environment and image, where the tag came from:
//! the source repository, source branch, workflow and the CI's run number (GitHub's
//! `GITHUB_RUN_NUMBER`, GitLab's `CI_PIPELINE_IID`; both grow by one per run). A later bump of
//! the same image in the same environment **from the same repository, branch and workflow** is
//! refused as stale when its run number is *lower* than the recorded one. A bump from another
//! branch (a hotfix), another repository, a re-run of the same run, or one without a run number
//! (a person at a terminal) is not compared; `--force` skips the guard.
//!
//! Why a file and not commit trailers: ferry fetches the branch at depth 1, so only the tip
//! commit's trailers would be visible, and the tip is usually another image's bump. The records
//! live in `.ferry/stamps/<environment path>.stamps` (JSON, one entry per image), beside — never
//! inside — the manifests, so the manifests still change only in their tag bytes. The name has
//! no `.yaml`/`.json` extension, so neither Argo CD nor Flux takes it for a manifest.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

/// The directory of the records.
pub const DIR: &str = ".ferry/stamps";

/// Where a run comes from: the source of the tag being deployed.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Origin {
    /// The source repository's URL.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub repo: Option<String>,
    /// The source branch.
    #[serde(default, rename = "ref", skip_serializing_if = "Option::is_none")]
    pub source_ref: Option<String>,
    /// The CI workflow (GitHub), when known: run numbers count per workflow.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub workflow: Option<String>,
    /// The CI run number.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub run: Option<u64>,
    /// The source commit.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub commit: Option<String>,
}

/// What is recorded for one image.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Stamp {
    /// What was deployed: `TAG`, `TAG@DIGEST`, or `@DIGEST` for a digest-only request.
    pub tag: String,
    #[serde(flatten)]
    pub origin: Origin,
}

/// The records of one environment: per normalized image name, the last deploy from each
/// pipeline (source repository, branch, workflow), most recent first.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Stamps {
    #[serde(default)]
    images: BTreeMap<String, Vec<Stamp>>,
}

/// How many pipelines are remembered per image; the least recently deployed are forgotten.
pub const PIPELINES_KEPT: usize = 16;

/// The path of an environment's records, relative to the repository root.
#[must_use]
pub fn path_for(environment_path: &str) -> String {
    let path = environment_path.trim_matches('/');
    if path.is_empty() || path == "." {
        format!("{DIR}/_root.stamps")
    } else {
        format!("{DIR}/{path}.stamps")
    }
}

impl Origin {
    /// Whether both runs come from the same pipeline of the same branch, so that their run
    /// numbers can be compared.
    fn same_pipeline(&self, other: &Origin) -> bool {
        let same = |a: &Option<String>, b: &Option<String>| match (a, b) {
            (Some(a), Some(b)) => a == b,
            _ => false,
        };
        let same_workflow = match (&self.workflow, &other.workflow) {
            (Some(a), Some(b)) => a == b,
            _ => true,
        };
        same(&self.repo, &other.repo) && same(&self.source_ref, &other.source_ref) && same_workflow
    }
}

impl Stamps {
    /// Reads a records file. A damaged file is not fatal: the guard starts afresh, and the
    /// returned warning says so.
    #[must_use]
    pub fn parse(bytes: &[u8]) -> (Stamps, Option<String>) {
        match serde_json::from_slice(bytes) {
            Ok(stamps) => (stamps, None),
            Err(e) => (
                Stamps::default(),
                Some(format!(
                    "the stale-write records cannot be read ({e}); they are rewritten by this bump"
                )),
            ),
        }
    }

    /// The file's bytes: pretty JSON, keys sorted, one trailing newline.
    #[must_use]
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut bytes = serde_json::to_vec_pretty(self).unwrap_or_default();
        bytes.push(b'\n');
        bytes
    }

    /// The most recent record for `image`, if any.
    #[must_use]
    pub fn latest(&self, image: &str) -> Option<&Stamp> {
        self.images.get(image).and_then(|list| list.first())
    }

    /// Why setting `image` from `ours` would be a stale write, or `None` when it is not.
    #[must_use]
    pub fn stale(&self, image: &str, ours: &Origin) -> Option<String> {
        let mine = ours.run?;
        let recorded = self
            .images
            .get(image)?
            .iter()
            .find(|s| ours.same_pipeline(&s.origin))?;
        let theirs = recorded.origin.run?;
        if theirs <= mine {
            return None;
        }
        Some(format!(
            "{image}: run {theirs} of {} ({}) already deployed `{}`; this is run {mine}, older: writing would roll the environment back. Nothing was pushed; run with --force to deploy this older build anyway",
            recorded.origin.repo.as_deref().unwrap_or("?"),
            recorded.origin.source_ref.as_deref().unwrap_or("?"),
            recorded.tag,
        ))
    }

    /// Records that `image` is now at `tag`, from `origin`.
    /// Runs of other pipelines stay recorded (up to [`PIPELINES_KEPT`]), so a hotfix deployed in
    /// between does not make an older run of the main branch look new.
    pub fn record(&mut self, image: &str, tag: &str, origin: &Origin) {
        let list = self.images.entry(image.to_owned()).or_default();
        let same = |s: &Stamp| {
            s.origin.repo == origin.repo
                && s.origin.source_ref == origin.source_ref
                && s.origin.workflow == origin.workflow
        };
        if let Some(i) = list.iter().position(same) {
            // A forced deploy of an older run keeps the newer run's record: the guard's
            // high-water mark never goes down.
            if let (Some(old), Some(new)) = (list[i].origin.run, origin.run)
                && old > new
            {
                return;
            }
            list.remove(i);
        }
        list.insert(
            0,
            Stamp {
                tag: tag.to_owned(),
                origin: origin.clone(),
            },
        );
        list.truncate(PIPELINES_KEPT);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn origin(repo: &str, r: &str, run: Option<u64>) -> Origin {
        Origin {
            repo: Some(repo.to_owned()),
            source_ref: Some(r.to_owned()),
            workflow: None,
            run,
            commit: None,
        }
    }

    #[test]
    fn an_older_run_of_the_same_branch_is_stale() {
        let mut stamps = Stamps::default();
        stamps.record(
            "ghcr.io/acme/cart",
            "bbbbbbb",
            &origin("https://github.com/acme/cart", "main", Some(12)),
        );
        let message = stamps
            .stale(
                "ghcr.io/acme/cart",
                &origin("https://github.com/acme/cart", "main", Some(11)),
            )
            .unwrap();
        assert!(
            message.contains("run 12") && message.contains("--force"),
            "{message}"
        );
        for ok in [
            origin("https://github.com/acme/cart", "main", Some(12)),
            origin("https://github.com/acme/cart", "main", Some(13)),
            origin("https://github.com/acme/cart", "hotfix", Some(3)),
            origin("https://github.com/acme/other", "main", Some(3)),
            origin("https://github.com/acme/cart", "main", None),
        ] {
            assert_eq!(stamps.stale("ghcr.io/acme/cart", &ok), None, "{ok:?}");
        }
        assert_eq!(
            stamps.stale("ghcr.io/acme/web", &origin("r", "main", Some(1))),
            None
        );
    }

    #[test]
    fn a_hotfix_in_between_does_not_hide_the_newest_main_run() {
        let mut stamps = Stamps::default();
        stamps.record("i", "main12", &origin("r", "main", Some(12)));
        stamps.record("i", "fix3", &origin("r", "hotfix", Some(3)));
        assert_eq!(stamps.latest("i").map(|s| s.tag.as_str()), Some("fix3"));
        assert!(stamps.stale("i", &origin("r", "main", Some(11))).is_some());
        assert!(stamps.stale("i", &origin("r", "main", Some(13))).is_none());
        // A forced older deploy does not lower the high-water mark.
        stamps.record("i", "main10", &origin("r", "main", Some(10)));
        assert!(stamps.stale("i", &origin("r", "main", Some(11))).is_some());
        for n in 0..40 {
            stamps.record("i", "t", &origin("r", &format!("b{n}"), Some(1)));
        }
        assert_eq!(stamps.images["i"].len(), PIPELINES_KEPT);
    }

    #[test]
    fn different_workflows_are_not_compared() {
        let mut stamps = Stamps::default();
        let mut a = origin("r", "main", Some(50));
        a.workflow = Some("build.yml".to_owned());
        stamps.record("i", "t", &a);
        let mut b = origin("r", "main", Some(2));
        b.workflow = Some("release.yml".to_owned());
        assert_eq!(stamps.stale("i", &b), None);
        b.workflow = Some("build.yml".to_owned());
        assert!(stamps.stale("i", &b).is_some());
    }

    #[test]
    fn records_round_trip_and_damage_is_survived() {
        let mut stamps = Stamps::default();
        stamps.record("i", "t", &origin("r", "main", Some(7)));
        let bytes = stamps.to_bytes();
        assert_eq!(Stamps::parse(&bytes), (stamps, None));
        let (empty, warning) = Stamps::parse(b"{nope");
        assert_eq!(empty, Stamps::default());
        assert!(warning.is_some());
    }

    #[test]
    fn paths_mirror_the_environment_path() {
        assert_eq!(
            path_for("envs/staging"),
            ".ferry/stamps/envs/staging.stamps"
        );
        assert_eq!(path_for(""), ".ferry/stamps/_root.stamps");
    }
}
