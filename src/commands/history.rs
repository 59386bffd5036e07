//! `ferry history`: who changed which image of an environment, and when, read from the
//! environment branch's commits (and their trailers), fetching older history only as needed.

use super::Error;
use super::site::{Access, Site};
use crate::cli::HistoryArgs;
use crate::history::{self, Change};
use crate::outcome::history::History;

/// What `ferry history` was asked, checked with no network call.
#[derive(Debug, Clone)]
pub(crate) struct Request {
    pub access: Access,
    pub env: String,
    /// Only this image's changes (normalized); `None`: every image's.
    pub image: Option<String>,
    /// At most this many changes (at least 1).
    pub limit: usize,
    /// At most this many commits read.
    pub max_commits: usize,
}

impl Request {
    /// The request of `args`: the repository's URL and the image name checked.
    pub fn resolve(args: &HistoryArgs) -> Result<Request, Error> {
        let image = match &args.image {
            Some(i) => Some(super::image_flag(i)?.to_string()),
            None => None,
        };
        Ok(Request {
            access: Access::of(&args.repo)?,
            env: args.env.clone(),
            image,
            limit: args.limit.max(1),
            max_commits: args.max_commits,
        })
    }
}

/// Reads the changes `request` asks for.
pub(crate) fn run(request: &Request) -> Result<History, Error> {
    let mut site = Site::open(&request.access)?;
    let env = site.environment(&request.env)?;
    let tip = site.tip_of(&env)?;
    let wanted = |name: &str| request.image.as_deref().is_none_or(|i| i == name);
    let limit = request.limit;
    let enough = |changes: &[Change]| changes.len() >= limit;
    let mut walk = history::walk(
        &mut site.store,
        &tip,
        &env.path,
        &wanted,
        request.max_commits,
        &enough,
    )?;
    let cut = walk.cut && walk.changes.len() < limit;
    walk.changes.truncate(limit);
    Ok(History {
        environment: env.name,
        branch: tip.branch,
        path: env.path,
        changes: walk.changes,
        cut,
        commits_read: walk.commits,
        oldest: walk.oldest,
    })
}
