//! `ferry merge`: merge a change request once the forge says it may be merged.
//!
//! For one change request (by number) or every open ferry change request of an environment:
//! read approvals, checks and mergeability; merge, pinned to the head commit that was checked,
//! when nothing is missing; otherwise say what is missing and exit with the "waiting" code, or,
//! with `--auto-merge`, hand the merge to the forge (GitHub auto-merge, GitLab "merge when the
//! pipeline succeeds"). A change request that conflicts with its target is never merged.
//! Each change request is merged by `merging`; a promotion's by `promotion::merge_gated`, which
//! checks its gates again. What it concluded is an [`outcome::merge::Merge`], told by
//! [`present::merge`].
//!
//! [`outcome::merge::Merge`]: crate::outcome::merge::Merge
//! [`present::merge`]: crate::present::merge

use super::merging::{Item, Status, Which, credentials, merge_ready};
use super::{Error, change_request, promotion};
use crate::ci;
use crate::forge::{self, CrState, Forge, ListFilter};
use crate::outcome::merge::Merge;
use crate::report;

pub(crate) use super::merging::MergeRequest;

/// Merges what `request` names: each change request merged, waiting, or handed to the forge.
pub(crate) fn execute(request: &MergeRequest) -> Result<Merge, Error> {
    let (url, credentials) = credentials(request)?;
    if let Some(secret) = credentials.secret() {
        report::add_secret(secret);
    }
    let settings = forge::resolve_settings(
        &request.forge,
        &url,
        credentials.api_token(),
        &ci::process_env,
    )?;
    let forge = forge::connect(settings)?;
    let forge = forge.as_ref();
    let mut items = Vec::new();
    for number in numbers(forge, &request.which)? {
        items.push(merge_number(forge, request, number)?);
    }
    tracing::debug!(calls = forge.calls(), forge = %forge.kind(), "api calls");
    Ok(Merge {
        forge: forge.kind(),
        project: forge.project().to_owned(),
        change_requests: items,
        api_calls: forge.calls(),
        words: forge.words(),
        env: match &request.which {
            Which::Environment(env) => Some(env.clone()),
            Which::Number(_) => None,
        },
    })
}

/// The change requests to merge: the one named, or every open ferry change request of the
/// environment.
fn numbers(forge: &dyn Forge, which: &Which) -> Result<Vec<u64>, Error> {
    match which {
        Which::Number(number) => Ok(vec![*number]),
        Which::Environment(env) => {
            let prefix = change_request::environment_prefix(env);
            let open = forge.list(&ListFilter {
                state: Some(CrState::Open),
                labels: vec![change_request::LABEL.to_owned()],
                ..ListFilter::default()
            })?;
            Ok(open
                .into_iter()
                .filter(|cr| cr.head_branch.starts_with(&prefix))
                .map(|cr| cr.number)
                .collect())
        }
    }
}

/// Merges change request `number`: a promotion's gates are checked again before it merges
/// (`ferry promote --merge` runs).
fn merge_number(forge: &dyn Forge, request: &MergeRequest, number: u64) -> Result<Item, Error> {
    let readiness = forge.readiness(number)?;
    if change_request::is_promotion_branch(&readiness.head_branch)
        && readiness.state == CrState::Open
    {
        let mut item = promotion::merge_gated(request, &readiness, forge.words())?;
        if request.auto_merge && item.status == Status::Waiting {
            item.missing.push(
                "--auto-merge is not asked of the forge for a promotion: ferry checks its gates again when it merges; rerun later".to_owned(),
            );
        }
        Ok(item)
    } else {
        merge_ready(forge, request, &readiness)
    }
}
