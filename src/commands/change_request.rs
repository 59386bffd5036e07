//! Changes that go through a change request (a GitHub pull request, a GitLab merge request):
//! the stable branch they live on, and opening or updating the one change request for it.
//!
//! A bump of the same images in the same environment always uses the same branch,
//! `ferry/<environment>/<images>-<hash>`: a rerun, or a newer build, replaces the branch's one
//! commit (recomputed on the target branch's tip, force-pushed with a lease) and updates the
//! change request that is open for it, so there is never more than one.

use crate::forge::{ChangeRequest, ChangeRequestEdit, Forge, ForgeError, NewChangeRequest};
use crate::image::ImageName;
use crate::slug::fnv1a;

/// The label on every change request ferry opens: `ferry merge --env` finds them by it.
pub const LABEL: &str = "ferry";

/// Where every ferry change-request branch starts.
pub const BRANCH_PREFIX: &str = "ferry/";

/// Longest slug of an environment or image set in a branch name.
const MAX_SLUG: usize = 40;

/// The branch for a change to `images` in `environment`: `ferry/<environment>/<names>-<hash>`,
/// where `<names>` are the images' last path components and `<hash>` tells apart images with the
/// same last component (`ghcr.io/acme/cart`, `docker.io/other/cart`). The same set of images,
/// in any order, gives the same branch.
#[must_use]
pub fn head_branch(environment: &str, images: &[&ImageName]) -> String {
    let mut names: Vec<String> = images.iter().map(ToString::to_string).collect();
    names.sort();
    names.dedup();
    let mut short: Vec<String> = names
        .iter()
        .map(|n| n.rsplit('/').next().unwrap_or(n).to_owned())
        .collect();
    short.dedup();
    let hash = fnv1a(names.join("\n").as_bytes());
    format!(
        "{BRANCH_PREFIX}{}/{}-{:06x}",
        slug(environment),
        slug(&short.join("+")),
        hash & 0xff_ffff
    )
}

/// The one branch of `environment`'s promotion change request: `ferry/<environment>/promotion`.
/// Image branches end in a hash, so it never meets one.
#[must_use]
pub fn promotion_branch(environment: &str) -> String {
    format!("{BRANCH_PREFIX}{}/{PROMOTION}", slug(environment))
}

/// Whether `branch` is a promotion change request's.
#[must_use]
pub fn is_promotion_branch(branch: &str) -> bool {
    branch.starts_with(BRANCH_PREFIX) && branch.ends_with(&format!("/{PROMOTION}"))
}

const PROMOTION: &str = "promotion";

/// The branch of a rollback of `image` in `environment`: `ferry/<environment>/rollback-<name>-<hash>`.
#[must_use]
pub fn rollback_branch(environment: &str, image: &ImageName) -> String {
    let bump = head_branch(environment, &[image]);
    let prefix = environment_prefix(environment);
    format!(
        "{prefix}rollback-{}",
        bump.strip_prefix(&prefix).unwrap_or(&bump)
    )
}

/// The branch prefix of every change request for `environment`.
#[must_use]
pub fn environment_prefix(environment: &str) -> String {
    format!("{BRANCH_PREFIX}{}/", slug(environment))
}

/// The hidden marker in a change request's description that says ferry keeps it.
#[must_use]
pub fn marker(head: &str) -> String {
    format!("<!-- ferry:change-request head={head} -->")
}

/// Lowercase letters, digits, `.`, `_`, `+` and single `-`; nothing else reaches a branch name.
fn slug(text: &str) -> String {
    let mut out = String::new();
    for c in text.chars() {
        let c = c.to_ascii_lowercase();
        if c.is_ascii_alphanumeric() || matches!(c, '_' | '+') || (c == '.' && !out.ends_with('.'))
        {
            out.push(c);
        } else if !out.ends_with('-') && !out.is_empty() {
            out.push('-');
        }
        if out.len() >= MAX_SLUG {
            break;
        }
    }
    let out = out.trim_matches(|c| c == '-' || c == '.').to_owned();
    if out.is_empty() { "x".to_owned() } else { out }
}

/// What another command (a promotion, a rollback) sets in place of bump's own words: the change
/// request's branch, title, description and labels, and the commit's subject and trailers.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Preset {
    pub head: Option<String>,
    pub title: Option<String>,
    /// The description, without ferry's marker (added when it is sent).
    pub body: Option<String>,
    pub labels: Vec<String>,
    /// The commit message's first line.
    pub subject: Option<String>,
    pub trailers: Vec<(String, String)>,
    /// Put the environment on hold in ferry.yaml in the same commit, with this reason (empty:
    /// none).
    pub hold: Option<String>,
    /// Write even though the environment or image is on hold (a rollback).
    pub ignore_hold: bool,
}

/// What a change request should say and who should see it.
#[derive(Debug, Clone, Default)]
pub struct Proposal {
    pub head: String,
    pub base: String,
    pub title: String,
    pub body: String,
    pub labels: Vec<String>,
    pub reviewers: Vec<String>,
    pub assignees: Vec<String>,
}

/// What happened to the change request.
pub use crate::outcome::bump::Action;

/// Opens the change request for `proposal.head`, or brings the open one up to date (one list
/// call, then a create or an edit only when something differs).
pub fn open_or_update(
    forge: &dyn Forge,
    proposal: &Proposal,
) -> Result<(ChangeRequest, Action), ForgeError> {
    if let Some(open) = forge.find_open(&proposal.head, &proposal.base)? {
        let edit = ChangeRequestEdit {
            title: Some(proposal.title.clone()).filter(|t| *t != open.title),
            body: Some(proposal.body.clone()).filter(|b| b.trim_end() != open.body.trim_end()),
            labels: proposal
                .labels
                .iter()
                .filter(|l| !open.labels.contains(l))
                .cloned()
                .collect(),
            // Reviewers an earlier run could not add (its request failed after the change
            // request was created) are asked for again; the forge leaves out those who
            // already reviewed.
            reviewers: proposal
                .reviewers
                .iter()
                .filter(|r| !open.reviewers.contains(r))
                .cloned()
                .collect(),
            assignees: Vec::new(),
        };
        if edit.is_noop_for(&open) {
            return Ok((open, Action::Unchanged));
        }
        let updated = forge.update(open.number, &edit)?;
        // Only reviewers were missing, and none could be added (refused, or they reviewed
        // already): nothing changed.
        let same = updated.title == open.title
            && updated.body.trim_end() == open.body.trim_end()
            && updated.labels == open.labels
            && updated.reviewers == open.reviewers;
        let action = if same {
            Action::Unchanged
        } else {
            Action::Updated
        };
        return Ok((updated, action));
    }
    let opened = forge.open(&NewChangeRequest {
        head: proposal.head.clone(),
        base: proposal.base.clone(),
        title: proposal.title.clone(),
        body: proposal.body.clone(),
        labels: proposal.labels.clone(),
        reviewers: proposal.reviewers.clone(),
        assignees: proposal.assignees.clone(),
    })?;
    Ok((opened, Action::Opened))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn name(text: &str) -> ImageName {
        ImageName::parse(text).expect("image name")
    }

    #[test]
    fn branches_are_stable_readable_and_tell_images_apart() {
        let cart = name("ghcr.io/acme/cart");
        let other = name("docker.io/other/cart");
        let web = name("ghcr.io/acme/web");
        let one = head_branch("production", &[&cart]);
        assert!(one.starts_with("ferry/production/cart-"), "{one}");
        assert_eq!(one, head_branch("production", &[&cart]));
        assert_ne!(one, head_branch("production", &[&other]));
        assert_eq!(
            head_branch("staging", &[&cart, &web]),
            head_branch("staging", &[&web, &cart])
        );
        assert!(head_branch("staging", &[&cart, &web]).starts_with("ferry/staging/cart+web-"));
    }

    #[test]
    fn hostile_environment_names_cannot_shape_the_branch() {
        for hostile in ["../../main", "prod\n-x", "A B:C~^?*[\\", "", "....", "ü-ñ"] {
            let branch = head_branch(hostile, &[&name("nginx")]);
            let rest = branch.strip_prefix(BRANCH_PREFIX).expect("prefix");
            assert_eq!(rest.matches('/').count(), 1, "{branch}");
            assert!(
                rest.chars()
                    .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || "-_.+/".contains(c)),
                "{branch}"
            );
            assert!(!branch.contains(".."), "{branch}");
            assert!(!rest.starts_with(['-', '.']), "{branch}");
        }
        assert!(head_branch(&"x".repeat(500), &[&name("nginx")]).len() < 100);
    }

    #[test]
    fn promotion_and_rollback_branches_are_their_own() {
        let promotion = promotion_branch("Prod EU");
        assert_eq!(promotion, "ferry/prod-eu/promotion");
        assert!(is_promotion_branch(&promotion));
        assert!(promotion.starts_with(&environment_prefix("Prod EU")));
        let cart = name("ghcr.io/acme/cart");
        let rollback = rollback_branch("production", &cart);
        assert!(
            rollback.starts_with("ferry/production/rollback-cart-"),
            "{rollback}"
        );
        assert_ne!(rollback, head_branch("production", &[&cart]));
        assert!(!is_promotion_branch(&rollback));
        assert!(!is_promotion_branch(&head_branch("production", &[&cart])));
    }

    #[test]
    fn the_prefix_of_an_environment_matches_its_branches() {
        let branch = head_branch("Prod EU", &[&name("nginx")]);
        assert!(
            branch.starts_with(&environment_prefix("Prod EU")),
            "{branch}"
        );
    }
}
