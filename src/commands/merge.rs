//! `ferry merge`: merge a change request once the forge says it may be merged.
//!
//! For one change request (by number) or every open ferry change request of an environment:
//! read approvals, checks and mergeability; merge, pinned to the head commit that was checked,
//! when nothing is missing; otherwise say what is missing and exit with the "waiting" code, or,
//! with `--auto-merge`, hand the merge to the forge (GitHub auto-merge, GitLab "merge when the
//! pipeline succeeds"). A change request that conflicts with its target is never merged.
//! Each change request is merged by `merging`; a promotion's by `promotion::merge_gated`, which
//! checks its gates again.

use std::fmt::Write as _;

use serde::Serialize;

use super::merging::{Item, Status, credentials, describe, merge_ready};
use super::{Error, change_request, promotion};
use crate::ci::{self, Context, Outputs};
use crate::cli::MergeArgs;
use crate::exit::Exit;
use crate::forge::{self, CrState, ListFilter};
use crate::report::{self, Output};

#[derive(Debug, Serialize)]
struct Report {
    forge: forge::ForgeKind,
    project: String,
    change_requests: Vec<Item>,
    api_calls: u32,
}

pub fn run(args: &MergeArgs, output: Output) -> Result<Exit, Error> {
    let (url, credentials) = credentials(args)?;
    if let Some(secret) = credentials.secret() {
        report::add_secret(secret);
    }
    let settings =
        forge::resolve_settings(&args.forge, &url, credentials.api_token(), &ci::process_env)?;
    let forge = forge::connect(settings)?;
    let forge = forge.as_ref();
    let words = forge.words();

    let numbers: Vec<u64> = match (args.number, &args.env) {
        (Some(number), _) => vec![number],
        (None, Some(env)) => {
            let prefix = change_request::environment_prefix(env);
            let open = forge.list(&ListFilter {
                state: Some(CrState::Open),
                labels: vec![change_request::LABEL.to_owned()],
                ..ListFilter::default()
            })?;
            open.into_iter()
                .filter(|cr| cr.head_branch.starts_with(&prefix))
                .map(|cr| cr.number)
                .collect()
        }
        (None, None) => {
            return Err(Error::Usage(
                "give the change request's NUMBER, or --env NAME for all of an environment's"
                    .to_owned(),
            ));
        }
    };

    let mut items = Vec::new();
    let mut text = String::new();
    if numbers.is_empty() {
        let _ = writeln!(
            text,
            "No open {} of ferry for environment `{}`: nothing to merge.",
            words.change_request,
            args.env.as_deref().unwrap_or_default()
        );
    }
    for number in numbers {
        let readiness = forge.readiness(number)?;
        // A promotion's gates are checked again before it merges: `ferry promote --merge` runs.
        let item = if change_request::is_promotion_branch(&readiness.head_branch)
            && readiness.state == CrState::Open
        {
            let mut item = promotion::merge_gated(args, &readiness, words)?;
            if args.auto_merge && item.status == Status::Waiting {
                item.missing.push(
                    "--auto-merge is not asked of the forge for a promotion: ferry checks its gates again when it merges; rerun later".to_owned(),
                );
            }
            item
        } else {
            merge_ready(forge, args, &readiness)?
        };
        let _ = writeln!(text, "{}", describe(&item, words));
        for missing in &item.missing {
            let _ = writeln!(text, "  - {missing}");
        }
        items.push(item);
    }
    let exit = items
        .iter()
        .map(|i| i.status.exit())
        .max_by_key(|e| match e {
            Exit::Done => 0,
            Exit::Waiting => 1,
            _ => 2,
        })
        .unwrap_or(Exit::Done);
    tracing::debug!(calls = forge.calls(), forge = %forge.kind(), "api calls");

    let mut outputs = Outputs::default();
    let merged: Vec<&Item> = items
        .iter()
        .filter(|i| i.status == Status::Merged)
        .collect();
    outputs
        .set(
            "status",
            items
                .first()
                .map_or("nothing-to-merge", |i| i.status.as_str()),
        )
        .set("merged", (!merged.is_empty()).to_string())
        .set(
            "merge-sha",
            merged
                .first()
                .and_then(|i| i.merge_sha.clone())
                .unwrap_or_default(),
        );
    outputs.summary = format!("### ferry merge\n\n{text}");
    ci::publish_or_warn(Context::from_env().as_ref(), &outputs);
    let report = Report {
        forge: forge.kind(),
        project: forge.project().to_owned(),
        change_requests: items,
        api_calls: forge.calls(),
    };
    report::emit(output, &report, &text)?;
    Ok(exit)
}
