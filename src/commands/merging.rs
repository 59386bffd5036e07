//! Merging one change request once the forge says it may be merged: approvals, checks and
//! mergeability read; the merge pinned to the head commit that was checked; a change that went
//! stale (conflicts, or behind its target) recomputed on the target's new tip first, from the
//! trailers of its commit; with `--auto-merge`, the merge handed to the forge. What `ferry merge`
//! does for each change request, and `ferry promote --merge` for its promotion.

use secrecy::SecretString;

use super::{Error, bump, change_request};
use crate::ci;
use crate::cli::MergeArgs;
use crate::exit::Exit;
use crate::forge::{self, AutoMerge, CrState, Forge, ForgeError, MergeMethod, Readiness, Refusal};
use crate::git::{Credentials, Remote, RepoUrl, Store};
pub(crate) use crate::outcome::merge::{Item, Status};
use crate::trailers;

/// A merge to do, clap-free: which change requests, of which repository, how.
#[derive(Debug, Clone)]
pub(crate) struct MergeRequest {
    pub which: Which,
    /// The repository, as given (a URL, a path).
    pub repo: String,
    pub method: MergeMethod,
    /// Hand the merge to the forge when approvals or checks are missing.
    pub auto_merge: bool,
    pub token: Option<SecretString>,
    pub forge: forge::ForgeArgs,
}

/// Which change requests to merge.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Which {
    Number(u64),
    /// Every open ferry change request of this environment.
    Environment(String),
}

impl MergeRequest {
    /// `ferry merge`'s arguments, checked: one change request or an environment, and the
    /// repository's URL.
    pub fn from_args(args: &MergeArgs) -> Result<MergeRequest, Error> {
        let which = match (args.number, &args.env) {
            (Some(number), _) => Which::Number(number),
            (None, Some(env)) => Which::Environment(env.clone()),
            (None, None) => {
                return Err(Error::Usage(
                    "give the change request's NUMBER, or --env NAME for all of an environment's"
                        .to_owned(),
                ));
            }
        };
        RepoUrl::parse(&args.repo).map_err(Error::Usage)?;
        Ok(MergeRequest {
            which,
            repo: args.repo.clone(),
            method: args.method,
            auto_merge: args.auto_merge,
            token: args.token.clone(),
            forge: args.forge.clone(),
        })
    }
}

/// The repository and the credentials for it, from `--repo` and the token.
pub(super) fn credentials(args: &MergeRequest) -> Result<(RepoUrl, Credentials), Error> {
    let (url, url_secret) = RepoUrl::parse(&args.repo).map_err(Error::Usage)?;
    let credentials = Credentials::resolve(
        &url,
        args.token.clone(),
        url_secret,
        None,
        None,
        &ci::process_env,
    );
    Ok((url, credentials))
}

/// Merges one change request if it is ready; else hands it to the forge or says what is missing.
pub(crate) fn merge_one(
    forge: &dyn Forge,
    args: &MergeRequest,
    number: u64,
) -> Result<Item, Error> {
    merge_ready(forge, args, &forge.readiness(number)?)
}

/// [`merge_one`] with the change request's readiness already read.
pub(super) fn merge_ready(
    forge: &dyn Forge,
    args: &MergeRequest,
    readiness: &Readiness,
) -> Result<Item, Error> {
    let number = readiness.number;
    let mut item = Item {
        number,
        url: readiness.url.clone(),
        status: Status::Waiting,
        head_sha: readiness.head_sha.clone(),
        merge_sha: None,
        missing: Vec::new(),
    };
    match readiness.state {
        CrState::Merged => {
            item.status = Status::AlreadyMerged;
            return Ok(item);
        }
        CrState::Closed => {
            item.status = Status::Closed;
            item.missing = readiness.missing(forge.words());
            return Ok(item);
        }
        CrState::Open => {}
    }
    if readiness.is_ready() {
        return merge_now(forge, args, readiness, item);
    }
    if readiness.conflicts || readiness.behind {
        // Never merged stale: the change is recomputed on the target's new tip.
        if let Some(line) = recompute(forge, args, number)? {
            let readiness = forge.readiness(number)?;
            item.head_sha = readiness.head_sha.clone();
            if readiness.is_ready() {
                return merge_now(forge, args, &readiness, item);
            }
            item.missing = readiness.missing(forge.words());
            item.missing
                .insert(0, format!("recomputed on the target's new tip: {line}"));
            return Ok(item);
        }
    }
    item.missing = readiness.missing(forge.words());
    let blocked_for_good = readiness.conflicts || readiness.draft;
    if args.auto_merge && !blocked_for_good {
        return hand_to_forge(forge, args, readiness, item);
    }
    if readiness.conflicts {
        let cr = forge.get(number)?;
        item.missing.push(if change_request::is_promotion_branch(&cr.head_branch) {
            "a promotion is recomputed from its source: rerun `ferry promote` (with --merge)"
                .to_owned()
        } else {
            "it is not ferry's (no Ferry-Update trailers on its branch): resolve the conflict, or rerun the bump".to_owned()
        });
    }
    Ok(item)
}

/// Asks the forge to merge the change request by itself once it is ready (`--auto-merge`).
fn hand_to_forge(
    forge: &dyn Forge,
    args: &MergeRequest,
    readiness: &Readiness,
    mut item: Item,
) -> Result<Item, Error> {
    let number = readiness.number;
    let asked = match forge.enable_auto_merge(number, &readiness.head_sha, args.method) {
        // The forge declined to merge by itself (the head moved, a check it cannot wait
        // for, a branch it cannot merge): like a declined merge, the change request waits
        // and the forge's words say why.
        Err(ForgeError::Refused {
            why: Refusal::HeadMoved | Refusal::NotMergeable,
            message,
            ..
        }) => {
            item.missing.push(format!(
                "{} declined to merge by itself: {message}",
                forge.words().forge
            ));
            return Ok(item);
        }
        other => other?,
    };
    match asked {
        // Not blocked for good, so not conflicting: nothing more to say.
        AutoMerge::Enabled => item.status = Status::AutoMerge,
        AutoMerge::NothingPending => return merge_now(forge, args, readiness, item),
        AutoMerge::Merged(merged) => {
            item.status = Status::Merged;
            item.merge_sha = merged.sha;
            item.missing.clear();
        }
    }
    Ok(item)
}

/// Recomputes a ferry change request on the target branch's current tip from the updates its
/// commit records (`Ferry-Path`, `Ferry-Update` trailers), and updates its branch: the bump
/// that made it, run again. `None` when the change request is not one ferry can recompute.
fn recompute(forge: &dyn Forge, args: &MergeRequest, number: u64) -> Result<Option<String>, Error> {
    let cr = forge.get(number)?;
    if !cr.head_branch.starts_with(change_request::BRANCH_PREFIX)
        || change_request::is_promotion_branch(&cr.head_branch)
    {
        // A promotion is recomputed from its source environment by `ferry promote`.
        return Ok(None);
    }
    let message = head_message(args, &cr.head_branch)?;
    let trailer = |key: &str| trailers::values(&message, key);
    let updates = trailer(trailers::UPDATE);
    let Some(path) = trailer(trailers::PATH).into_iter().next() else {
        return Ok(None);
    };
    if updates.is_empty() {
        return Ok(None);
    }
    let first = |key: &str| trailer(key).into_iter().next();
    let recorded = bump::Recorded {
        repo: args.repo.clone(),
        token: args.token.clone(),
        forge: args.forge.clone(),
        base_branch: cr.base_branch.clone(),
        path,
        updates,
        source_repo: first(trailers::SOURCE_REPO),
        source_commit: first(trailers::SOURCE_COMMIT),
        source_ref: first(trailers::SOURCE_REF),
        run_number: first(trailers::RUN_NUMBER),
    };
    let invalid = |detail: String| {
        Error::Usage(format!(
            "cannot recompute {} {}{number} from its commit's trailers: {}",
            forge.words().change_request,
            forge.words().sigil,
            ci::one_line(&detail)
        ))
    };
    let request = bump::Request::recompute(recorded, &invalid)?;
    tracing::info!(
        number,
        branch = cr.head_branch,
        "recomputing on the target's new tip"
    );
    let executed = bump::execute(&request)?;
    let line = crate::present::bump::one_line(&executed);
    if executed.exit() != Exit::Done {
        return Err(Error::Usage(format!(
            "recomputing {} {}{number} on the new tip of `{}` did not propose it again: {line}",
            forge.words().change_request,
            forge.words().sigil,
            cr.base_branch
        )));
    }
    Ok(Some(line))
}

/// The message of the head commit of change request branch `branch` (a depth-1 fetch of it).
pub(crate) fn head_message(args: &MergeRequest, branch: &str) -> Result<String, Error> {
    let (url, credentials) = credentials(args)?;
    let mut store = Remote::open(url, credentials, None)?;
    let tip = store.fetch(Some(branch))?;
    Ok(store.commit_message(&tip.commit)?)
}

fn merge_now(
    forge: &dyn Forge,
    args: &MergeRequest,
    readiness: &Readiness,
    mut item: Item,
) -> Result<Item, Error> {
    match forge.merge(readiness.number, &readiness.head_sha, args.method) {
        Ok(merged) => {
            item.status = Status::Merged;
            item.merge_sha = merged.sha;
            Ok(item)
        }
        // The head moved after it was checked, or the forge disagrees: report, never force.
        Err(ForgeError::Refused {
            why: Refusal::HeadMoved | Refusal::NotMergeable,
            message,
            ..
        }) => {
            let now = forge.readiness(readiness.number)?;
            item.head_sha = now.head_sha.clone();
            item.missing = now.missing(forge.words());
            if item.missing.is_empty() {
                item.missing.push(format!(
                    "{} declined the merge: {message}",
                    forge.words().forge
                ));
            }
            if now.state == CrState::Merged {
                item.status = Status::AlreadyMerged;
                item.missing.clear();
            }
            Ok(item)
        }
        Err(err) => Err(err.into()),
    }
}
