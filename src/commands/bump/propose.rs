//! The change-request path of a bump (`update: pull-request`): the commit goes onto a branch of
//! its own, with a lease, and a pull/merge request is opened or brought up to date.

use super::super::Error;
use super::super::change_request::{self, Proposal};
use super::attempt::message_context;
use super::request::Request;
use super::target::Target;
use crate::ci::{self, one_line};
use crate::config::Update;
use crate::forge::{Forge, ForgeKind};
use crate::git::{GitError, RepoUrl, Store, Tip};
use crate::image::ImageName;
use crate::outcome::bump::{Bump, ChangeRequest, Words};
use crate::render::{self, ChangeRequestContext};

/// Sends a ready commit where it goes: pushed onto the branch (`None`), or, for a change
/// request, onto the change's own branch with a lease (the branch, its commit, and whether it
/// was pushed: a branch that already holds the same change on the same tip is left alone, so
/// a rerun changes nothing).
pub(super) fn deliver(
    store: &mut dyn Store,
    request: &Request,
    target: &Target,
    tip: &Tip,
    commit: &str,
) -> Result<Option<(String, String, bool)>, GitError> {
    if target.update == Update::Push {
        store.push(tip, commit)?;
        return Ok(None);
    }
    let head = head_branch_of(request, target);
    let lease = match store.remote_tip(&head)? {
        Some(current) => {
            let fetched = store.fetch(Some(&head))?;
            if store.same_change(&fetched.commit, commit)? {
                tracing::debug!(
                    branch = head,
                    commit = fetched.commit,
                    "the branch holds this change already"
                );
                return Ok(Some((head, fetched.commit, false)));
            }
            tracing::debug!(
                branch = head,
                was = current,
                "replacing the branch's commit"
            );
            Some(fetched.commit)
        }
        None => None,
    };
    store.force_push(&head, lease.as_deref(), commit)?;
    Ok(Some((head, commit.to_owned(), true)))
}

/// The branch of this bump's change request.
pub(super) fn head_branch_of(request: &Request, target: &Target) -> String {
    if let Some(head) = request.preset.as_ref().and_then(|p| p.head.clone()) {
        return head;
    }
    let images: Vec<&ImageName> = request.planner.updates().iter().map(|u| &u.image).collect();
    change_request::head_branch(&target.label, &images)
}

/// Opens or updates the change request for a proposed change.
pub(super) fn propose(
    forge: &dyn Forge,
    request: &Request,
    target: &Target,
    outcome: &mut Bump,
) -> Result<(), Error> {
    let (Some(proposed), Some(base)) = (outcome.detail.proposed.clone(), outcome.branch.clone())
    else {
        return Ok(());
    };
    let words = forge.words();
    let mut rendering = rendering(request, target, outcome, &proposed.head_branch, &base);
    words
        .change_request
        .clone_into(&mut rendering.change_request);
    let (mut title, mut body) = render::change_request(
        as_pair(target.title_template.as_ref()),
        as_pair(target.body_template.as_ref()),
        &rendering,
    )?;
    let mut labels = vec![change_request::LABEL.to_owned()];
    if let Some(preset) = &request.preset {
        if let Some(preset_title) = &preset.title {
            title = one_line(preset_title);
        }
        if let Some(preset_body) = &preset.body {
            body = format!("{}\n\n{}\n", preset_body.trim_end(), rendering.marker);
        }
        labels.extend(preset.labels.iter().cloned());
    }
    let (labels, reviewers, assignees) = audience(request, target, labels);
    let proposal = Proposal {
        head: proposed.head_branch.clone(),
        base,
        title,
        body,
        labels,
        reviewers,
        assignees,
    };
    let (cr, action) = change_request::open_or_update(forge, &proposal)?;
    outcome.detail.words = Some(Words {
        change_request: words.change_request.to_owned(),
        sigil: words.sigil.to_owned(),
    });
    outcome.change_request = Some(ChangeRequest {
        number: cr.number,
        url: cr.url,
        head_branch: proposed.head_branch,
        head_sha: proposed.head_sha,
        pushed: proposed.pushed,
        action,
    });
    Ok(())
}

/// What the title and description templates read.
fn rendering(
    request: &Request,
    target: &Target,
    outcome: &Bump,
    head: &str,
    base: &str,
) -> ChangeRequestContext {
    let origin = &request.origin;
    let context = request.context.as_ref();
    let source_commit_url = match (origin.repo.as_deref(), origin.commit.as_deref(), context) {
        (Some(repo), Some(commit), Some(ctx)) => RepoUrl::parse(repo).ok().and_then(|(repo, _)| {
            let kind = match ctx.provider {
                ci::Provider::GitlabCi => ForgeKind::GitLab,
                ci::Provider::GithubActions => ForgeKind::GitHub,
            };
            kind.commit_url(&repo, commit)
        }),
        _ => None,
    };
    ChangeRequestContext {
        message: message_context(
            target,
            base,
            (&outcome.changes, outcome.detail.files.len()),
            request.planner.updates(),
            &request.trailers(),
        ),
        change_request: String::new(),
        head_branch: head.to_owned(),
        source_repo: origin.repo.clone(),
        source_commit: origin.commit.clone(),
        source_commit_url,
        source_ref: origin.source_ref.clone(),
        run_url: context
            .and_then(|c| c.run_url.clone())
            .map(|u| one_line(&u)),
        marker: change_request::marker(head),
    }
}

/// The labels (`labels` first), reviewers and assignees: ferry.yaml's, then the flags', each
/// once.
fn audience(
    request: &Request,
    target: &Target,
    mut labels: Vec<String>,
) -> (Vec<String>, Vec<String>, Vec<String>) {
    let mut reviewers = Vec::new();
    let mut assignees = Vec::new();
    for (list, extra) in [
        (&mut labels, [&target.labels, &request.labels]),
        (&mut reviewers, [&target.reviewers, &request.reviewers]),
        (&mut assignees, [&target.assignees, &request.assignees]),
    ] {
        for item in extra.into_iter().flatten() {
            let item = item.trim();
            if !item.is_empty() && !list.iter().any(|l| l == item) {
                list.push(item.to_owned());
            }
        }
    }
    (labels, reviewers, assignees)
}

/// A template as `render` takes it: (name, text).
fn as_pair(template: Option<&(String, String)>) -> Option<(&str, &str)> {
    template.map(|(name, text)| (name.as_str(), text.as_str()))
}
