//! When and by whom an environment's images changed, read from the branch's commits: each
//! commit that changed the environment's directory is compared with its first parent, with the
//! same reader as [`crate::inventory`]. Trailers (`Ferry-Source-Repo`, …) say where a change came
//! from.
//!
//! The walk reads only as far back as the question needs, deepening a shallow fetch as it goes
//! ([`Store::history`]), and says so when it stops at the fetched edge (`cut`): then "since" is
//! only a lower bound.

use std::collections::{BTreeMap, HashMap};

use serde::Serialize;

use crate::git::{CommitInfo, GitError, Store, Tip};
use crate::inventory::{Deployed, Inventory};

/// One image's version changing in one commit.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Change {
    /// The commit on the environment's branch that made the change (a merge commit, when it
    /// came through a change request).
    pub commit: String,
    /// When it reached the branch, in unix seconds.
    pub time: i64,
    pub author: String,
    /// The first line of the commit's message.
    pub subject: String,
    pub image: String,
    /// `TAG[@DIGEST]` before (`None`: the image was added).
    pub from: Option<String>,
    /// `TAG[@DIGEST]` after (`None`: the image was removed).
    pub to: Option<String>,
    /// The commit's trailers (the merged change's, for a merge commit), in order.
    pub trailers: Vec<(String, String)>,
}

impl Change {
    /// The value of trailer `key`, if present.
    #[must_use]
    pub fn trailer(&self, key: &str) -> Option<&str> {
        self.trailers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(key))
            .map(|(_, v)| v.as_str())
    }
}

/// What a walk found.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Walk {
    /// Newest first.
    pub changes: Vec<Change>,
    /// Whether the walk stopped at the edge of what the server sent or of `limit` commits, with
    /// older history unread.
    pub cut: bool,
    /// The oldest commit read, and its time.
    pub oldest: Option<(String, i64)>,
    /// How many commits were read.
    pub commits: usize,
}

impl Walk {
    /// The newest change of `image`: when it got the version it has now.
    #[must_use]
    pub fn latest(&self, image: &str) -> Option<&Change> {
        self.changes.iter().find(|c| c.image == image)
    }
}

/// Walks the first-parent history of `tip` for changes to the images of `path`, newest first,
/// reading at most `limit` commits, and stops as soon as `enough` says the changes found so far
/// answer the question.
pub fn walk(
    store: &mut dyn Store,
    tip: &Tip,
    path: &str,
    wanted: &dyn Fn(&str) -> bool,
    limit: usize,
    enough: &dyn Fn(&[Change]) -> bool,
) -> Result<Walk, GitError> {
    let mut inventories: HashMap<Option<String>, Inventory> = HashMap::new();
    let limit = limit.max(1);
    let mut asked = 16.min(limit);
    loop {
        let history = store.history(tip, asked)?;
        let walk = compare(store, tip, path, wanted, &history.commits, &mut inventories)?;
        let reached_root = !history.cut && history.commits.len() < asked;
        if reached_root || enough(&walk.changes) {
            return Ok(walk);
        }
        if history.cut || asked >= limit {
            // Older commits could not be fetched, or were not to be read.
            return Ok(Walk { cut: true, ..walk });
        }
        asked = asked.saturating_mul(4).min(limit);
    }
}

/// The changes along `commits` (newest first), each commit against the next.
fn compare(
    store: &dyn Store,
    tip: &Tip,
    path: &str,
    wanted: &dyn Fn(&str) -> bool,
    commits: &[CommitInfo],
    inventories: &mut HashMap<Option<String>, Inventory>,
) -> Result<Walk, GitError> {
    let mut walk = Walk {
        commits: commits.len(),
        oldest: commits.last().map(|c| (c.id.clone(), c.time)),
        ..Walk::default()
    };
    let mut ids = Vec::with_capacity(commits.len());
    for commit in commits {
        ids.push(store.path_id(&commit.id, path)?);
    }
    for (i, commit) in commits.iter().enumerate() {
        let older: Option<&Option<String>> = ids.get(i + 1);
        let root = commit.parents.is_empty();
        if older.is_none() && !root {
            // The parent was not read: what this commit changed is unknown.
            break;
        }
        let empty = None;
        let before_id = older.unwrap_or(&empty);
        if *before_id == ids[i] {
            continue;
        }
        let after = inventory_at(store, tip, path, &commit.id, &ids[i], inventories)?;
        let before = match commits.get(i + 1) {
            Some(parent) => inventory_at(store, tip, path, &parent.id, before_id, inventories)?,
            None => Inventory::default(),
        };
        let trailers = trailers_of(store, commit);
        let subject = commit.message.lines().next().unwrap_or_default().to_owned();
        let mut names: Vec<&String> = after.images.keys().chain(before.images.keys()).collect();
        names.sort();
        names.dedup();
        for name in names {
            if !wanted(name) {
                continue;
            }
            let from = before.images.get(name).map(Deployed::version);
            let to = after.images.get(name).map(Deployed::version);
            if from != to {
                walk.changes.push(Change {
                    commit: commit.id.clone(),
                    time: commit.time,
                    author: commit.author.name.clone(),
                    subject: subject.clone(),
                    image: name.clone(),
                    from,
                    to,
                    trailers: trailers.clone(),
                });
            }
        }
    }
    Ok(walk)
}

fn inventory_at(
    store: &dyn Store,
    tip: &Tip,
    path: &str,
    commit: &str,
    id: &Option<String>,
    inventories: &mut HashMap<Option<String>, Inventory>,
) -> Result<Inventory, GitError> {
    if id.is_none() {
        return Ok(Inventory::default());
    }
    if let Some(known) = inventories.get(id) {
        return Ok(known.clone());
    }
    let at = Tip {
        branch: tip.branch.clone(),
        commit: commit.to_owned(),
    };
    let inventory = Inventory::read(store, &at, path)?;
    inventories.insert(id.clone(), inventory.clone());
    Ok(inventory)
}

/// The trailers of a commit; for a merge commit without any, those of the merged commit (a
/// change request's), when it was fetched.
fn trailers_of(store: &dyn Store, commit: &CommitInfo) -> Vec<(String, String)> {
    let own = crate::trailers::parse(&commit.message);
    if !own.is_empty() || commit.parents.len() < 2 {
        return own;
    }
    store
        .commit_message(&commit.parents[1])
        .map(|m| crate::trailers::parse(&m))
        .unwrap_or_default()
}

/// Each image's newest change in `walk`, by name.
#[must_use]
pub fn latest_by_image(walk: &Walk) -> BTreeMap<String, &Change> {
    let mut latest = BTreeMap::new();
    for change in &walk.changes {
        latest.entry(change.image.clone()).or_insert(change);
    }
    latest
}
