//! What a promotion reads: the images of both environments, paired; those left out and why;
//! when each tag reached the source, and the application commits between the two versions.

use std::collections::BTreeMap;

use super::super::Error;
use super::super::site::Site;
use super::request::PromoteRequest;
use crate::clock::Time;
use crate::config::ResolvedEnvironment;
use crate::forge::ForgeKind;
use crate::git::Tip;
use crate::history::{self, Change, Walk};
use crate::image::ImageName;
use crate::inventory::{Deployed, Inventory};
use crate::outcome::promotion::{Row, Skipped};
use crate::trailers;

/// What was read of both environments.
pub(super) struct Reading {
    pub from: ResolvedEnvironment,
    pub to: ResolvedEnvironment,
    pub source_tip: Tip,
    pub rows: Vec<Row>,
    pub skipped: Vec<Skipped>,
    /// The source walk (when the tags arrived, and the commits that set them).
    pub walk: Walk,
}

/// Reads both environments and pairs their images.
pub(super) fn read(
    args: &PromoteRequest,
    source: &mut Site,
    mut target_site: Option<&mut Site>,
    from_name: &str,
) -> Result<Reading, Error> {
    let from = source.environment(from_name)?;
    let source_tip = source.tip_of(&from)?;
    let source_inventory = Inventory::read(&source.store, &source_tip, &from.path)?;
    let (to, target_inventory, target_tip) = {
        let target: &mut Site = match target_site.as_deref_mut() {
            Some(site) => site,
            None => &mut *source,
        };
        let to = target.environment(&args.to)?;
        let tip = target.tip_of(&to)?;
        let inventory = Inventory::read(&target.store, &tip, &to.path)?;
        (to, inventory, tip)
    };
    let (pairs, skipped) = pair(
        &args.images,
        &source_inventory,
        &target_inventory,
        &from,
        &to,
    );
    // The target's side of the commit range: the application commit its version came from.
    let names: Vec<String> = pairs.iter().map(|(d, _)| d.image.clone()).collect();
    let target_walk = {
        let target: &mut Site = match target_site {
            Some(site) => site,
            None => &mut *source,
        };
        walk_for(target, &target_tip, &to.path, &names, args.max_commits)?
    };
    // When did each tag reach the source, and from which application commit.
    let walk = walk_for(source, &source_tip, &from.path, &names, args.max_commits)?;
    let rows = rows(&pairs, &walk, &target_walk);
    Ok(Reading {
        from,
        to,
        source_tip,
        rows,
        skipped,
        walk,
    })
}

/// The images to promote (each with its deployment in the source, and in the target), and
/// those left out with why.
fn pair<'a>(
    wanted: &[ImageName],
    source: &'a Inventory,
    target: &'a Inventory,
    from: &ResolvedEnvironment,
    to: &ResolvedEnvironment,
) -> (Vec<(&'a Deployed, Option<&'a Deployed>)>, Vec<Skipped>) {
    let mut skipped = Vec::new();
    let mut pairs = Vec::new();
    for name in wanted {
        if source.get(name).is_none() {
            skipped.push(Skipped {
                image: name.to_string(),
                reason: format!("not found in `{}` ({})", from.name, from.path),
            });
        }
    }
    for (name, deployed) in &source.images {
        if !wanted.is_empty() && !wanted.iter().any(|w| w.to_string() == *name) {
            continue;
        }
        let skip = |reason: String| Skipped {
            image: name.clone(),
            reason,
        };
        let Some(there) = target.images.get(name) else {
            skipped.push(skip(format!(
                "only in `{}`: `{}` does not reference it",
                from.name, to.name
            )));
            continue;
        };
        if deployed.mixed {
            skipped.push(skip(format!(
                "`{}` sets different tags for it ({}): make them agree first",
                from.name,
                deployed.places.join(", ")
            )));
            continue;
        }
        if deployed.tag.is_none() && deployed.digest.is_none() {
            skipped.push(skip(format!(
                "`{}` sets no tag or digest for it",
                from.name
            )));
            continue;
        }
        if deployed.version() == there.version() && !there.mixed {
            continue;
        }
        pairs.push((deployed, Some(there)));
    }
    for name in target.images.keys() {
        if !source.images.contains_key(name)
            && (wanted.is_empty() || wanted.iter().any(|w| w.to_string() == *name))
        {
            skipped.push(Skipped {
                image: name.clone(),
                reason: format!("only in `{}`", to.name),
            });
        }
    }
    (pairs, skipped)
}

/// One row per image promoted: its versions, when it reached the source, and the application
/// commits between the target's version and the source's.
fn rows(pairs: &[(&Deployed, Option<&Deployed>)], walk: &Walk, target_walk: &Walk) -> Vec<Row> {
    let target_trailers: BTreeMap<String, Vec<(String, String)>> =
        history::latest_by_image(target_walk)
            .into_iter()
            .map(|(image, change)| (image, change.trailers.clone()))
            .collect();
    let latest = history::latest_by_image(walk);
    let mut rows = Vec::new();
    for &(deployed, there) in pairs {
        let change: Option<&&Change> = latest.get(&deployed.image);
        let app_repo = change
            .and_then(|c| c.trailer(trailers::SOURCE_REPO))
            .map(str::to_owned)
            .filter(|r| safe_url(r));
        let app_to = change
            .and_then(|c| c.trailer(trailers::SOURCE_COMMIT))
            .map(str::to_owned)
            .or_else(|| deployed.tag.clone().filter(|t| looks_like_commit(t)));
        let app_from = target_trailers
            .get(&deployed.image)
            .and_then(|t| {
                t.iter()
                    .find(|(k, _)| k == trailers::SOURCE_COMMIT)
                    .map(|(_, v)| v.clone())
            })
            .or_else(|| {
                there
                    .and_then(|t| t.tag.clone())
                    .filter(|t| looks_like_commit(t))
            });
        let compare_url = match (&app_repo, &app_from, &app_to) {
            (Some(repo), Some(a), Some(b)) if a != b => crate::git::RepoUrl::parse(repo)
                .ok()
                .and_then(|(url, _)| ForgeKind::guess(&url).compare_url(&url, a, b)),
            _ => None,
        };
        rows.push(Row {
            image: deployed.image.clone(),
            current: there.map(Deployed::version),
            new: deployed.version(),
            since: change.map(|c| Time::from_unix(c.time)).or_else(|| {
                walk.oldest
                    .as_ref()
                    .filter(|_| walk.cut)
                    .map(|(_, t)| Time::from_unix(*t))
            }),
            since_cut: change.is_none() && walk.cut,
            source_commit: change.map(|c| c.commit.clone()),
            app_repo,
            app_from,
            app_to,
            compare_url,
        });
    }
    rows
}

/// Walks `path`'s history until every image of `names` has its latest change.
fn walk_for(
    site: &mut Site,
    tip: &Tip,
    path: &str,
    names: &[String],
    max_commits: usize,
) -> Result<Walk, Error> {
    if names.is_empty() {
        return Ok(Walk::default());
    }
    let wanted = |image: &str| names.iter().any(|n| n == image);
    let enough = |changes: &[Change]| names.iter().all(|n| changes.iter().any(|c| c.image == *n));
    Ok(history::walk(
        &mut site.store,
        tip,
        path,
        &wanted,
        max_commits,
        &enough,
    )?)
}

/// Whether a tag reads as a commit id (7 to 40 hex digits).
fn looks_like_commit(tag: &str) -> bool {
    (7..=40).contains(&tag.len()) && tag.bytes().all(|b| b.is_ascii_hexdigit())
}

/// Whether a URL from a trailer may go into a link.
fn safe_url(url: &str) -> bool {
    (url.starts_with("https://") || url.starts_with("http://"))
        && !url
            .chars()
            .any(|c| c.is_whitespace() || c.is_control() || "()[]<>|`\"'".contains(c))
}
