//! `ferry status`: the matrix of images × environments, each cell the tag, when it changed and
//! from which source commit, and what is pending promotion (an environment running something
//! other than the one before it in `promotion.order`).

use std::collections::BTreeMap;

use super::Error;
use super::site::{Access, Site};
use crate::cli::StatusArgs;
use crate::clock::Time;
use crate::config::Config;
use crate::history::{self, Change};
use crate::inventory::Inventory;
use crate::outcome::status::{Cell, Pending, Status};
use crate::trailers;

/// What `ferry status` was asked, checked with no network call.
#[derive(Debug, Clone)]
pub(crate) struct Request {
    pub access: Access,
    /// Only these environments (none: all of them).
    pub envs: Vec<String>,
    /// Only these images, normalized (none: all of them).
    pub images: Vec<String>,
    /// At most this many commits read per environment.
    pub max_commits: usize,
}

impl Request {
    /// The request of `args`: the repository's URL and the image names checked.
    pub fn resolve(args: &StatusArgs) -> Result<Request, Error> {
        let images = args
            .images
            .iter()
            .map(|i| super::image_flag(i).map(|n| n.to_string()))
            .collect::<Result<_, _>>()?;
        Ok(Request {
            access: Access::of(&args.repo)?,
            envs: args.envs.clone(),
            images,
            max_commits: args.max_commits,
        })
    }
}

/// Reads what every environment (or those asked for) runs.
pub(crate) fn run(request: &Request) -> Result<Status, Error> {
    let mut site = Site::open(&request.access)?;
    let config = site.config()?.clone();
    let order: Vec<String> = config
        .promotion
        .as_ref()
        .map(|p| p.order.clone())
        .unwrap_or_default();
    let names = environment_names(&site, &config, &order, &request.envs)?;
    let mut matrix: BTreeMap<String, BTreeMap<String, Cell>> = BTreeMap::new();
    for name in &names {
        for (image, cell) in cells(&mut site, name, request)? {
            matrix.entry(image).or_default().insert(name.clone(), cell);
        }
    }
    let pending = pending(&order, &names, &matrix);
    Ok(Status {
        environments: names,
        images: matrix,
        pending,
    })
}

/// The environments shown, in promotion order then the others': those of `wanted` (each
/// checked to exist), or all of them.
fn environment_names(
    site: &Site,
    config: &Config,
    order: &[String],
    wanted: &[String],
) -> Result<Vec<String>, Error> {
    let mut names: Vec<String> = order.to_vec();
    for name in config.environment_names() {
        if !names.iter().any(|n| n == name) {
            names.push(name.to_owned());
        }
    }
    if !wanted.is_empty() {
        for name in wanted {
            site.environment(name)?;
        }
        names.retain(|n| wanted.contains(n));
    }
    Ok(names)
}

/// The cells of the environment `name`: each image it runs (of those asked for), with when it
/// changed to that version, read from the branch's history.
fn cells(site: &mut Site, name: &str, request: &Request) -> Result<Vec<(String, Cell)>, Error> {
    let env = site.environment(name)?;
    let tip = site.tip_of(&env)?;
    let inventory = Inventory::read(&site.store, &tip, &env.path)?;
    let present: Vec<String> = inventory
        .images
        .keys()
        .filter(|i| request.images.is_empty() || request.images.contains(i))
        .cloned()
        .collect();
    let wanted = |image: &str| present.iter().any(|p| p == image);
    let enough = |changes: &[Change]| {
        present
            .iter()
            .all(|p| changes.iter().any(|c| c.image == *p))
    };
    let walk = history::walk(
        &mut site.store,
        &tip,
        &env.path,
        &wanted,
        request.max_commits,
        &enough,
    )?;
    let latest = history::latest_by_image(&walk);
    let cut_at = walk
        .oldest
        .as_ref()
        .filter(|_| walk.cut)
        .map(|(_, t)| Time::from_unix(*t));
    Ok(present
        .iter()
        .map(|image| {
            let change = latest.get(image);
            let cell = Cell {
                version: inventory.images[image].version(),
                since: change.map(|c| Time::from_unix(c.time)).or(cut_at),
                cut: change.is_none() && walk.cut,
                commit: change.map(|c| c.commit.clone()),
                source_commit: change
                    .and_then(|c| c.trailer(trailers::SOURCE_COMMIT))
                    .map(str::to_owned),
            };
            (image.clone(), cell)
        })
        .collect())
}

/// Each image whose version differs between consecutive environments of `order` (both shown).
fn pending(
    order: &[String],
    names: &[String],
    matrix: &BTreeMap<String, BTreeMap<String, Cell>>,
) -> Vec<Pending> {
    let mut pending = Vec::new();
    for pair in order.windows(2) {
        let (from, to) = (&pair[0], &pair[1]);
        if !names.contains(from) || !names.contains(to) {
            continue;
        }
        for (image, cells) in matrix {
            if let (Some(a), Some(b)) = (cells.get(from), cells.get(to))
                && a.version != b.version
            {
                pending.push(Pending {
                    image: image.clone(),
                    from: from.clone(),
                    to: to.clone(),
                    version: a.version.clone(),
                    current: b.version.clone(),
                });
            }
        }
    }
    pending
}
