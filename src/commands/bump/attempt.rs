//! The attempts of a bump: each one fetches the tip, resolves the target on it, checks holds and
//! the tag policy, plans the edit, checks the stale-write guard, commits and hands the commit
//! over to be delivered; another attempt follows a lost race or a network failure.

use std::time::{Duration, Instant};

use super::super::Error;
use super::super::missing::closest_to;
use super::super::transaction::{self, Try};
use super::propose::{self, head_branch_of};
use super::request::Request;
use super::scan::ScanCache;
use super::target::{self, Target, hold_edit};
use crate::ci::one_line;
use crate::config::Update;
use crate::git::{Edit, GitError, Store, Tip};
use crate::history;
use crate::image::{ImageName, ImageUpdate};
use crate::outcome::bump::{Bump, Detail, DryRun, Proposed, Status};
use crate::outcome::missing::Missing;
use crate::plan::{self, Change, Plan};
use crate::policy::Verdict;
use crate::present::bump::old_tag;
use crate::render::{self, MessageContext, MessageImage, Trailer};
use crate::stamps::{self, Stamps};
use crate::trailers;

/// What one attempt concluded.
enum Attempt {
    /// Stop here and report (nothing to push, refused, dry run...).
    Done(Box<Bump>),
    /// A commit is ready to push on this tip.
    Ready {
        tip: Tip,
        commit: String,
        outcome: Box<Bump>,
    },
}

/// The attempt loop: fetch, recompute, push; again on conflict or network failure (the shared
/// [`transaction::retry`]). Returns the outcome and the target last resolved.
pub(super) fn run(store: &mut dyn Store, request: &Request) -> Result<(Bump, Target), Error> {
    let mut target: Option<Target> = None;
    // A push whose answer was lost, and what it would report.
    let mut pushed: Option<(String, Box<Bump>)> = None;
    let mut scans_seen = ScanCache::default();
    let (mut outcome, attempts) = transaction::retry(store, request.attempts, |store, attempt| {
        // The backoff's unit: how long the attempt took, so that waits follow the repository's
        // size and the server's load instead of a fixed clock.
        let started = Instant::now();
        let again = |error: GitError, target: &Option<Target>, slot: Duration| Try::Again {
            error,
            branch: target
                .as_ref()
                .and_then(|t| t.branch.clone())
                .unwrap_or_default(),
            slot,
        };
        let tip = match target::resolve(store, request, &mut target) {
            Ok(tip) => tip,
            Err(Error::Git(e)) if e.is_retryable() => {
                return Ok(again(*e, &target, started.elapsed()));
            }
            Err(e) => return Err(e),
        };
        let fetched = Instant::now();
        let target_now = target.as_ref().expect("resolve sets the target");
        // A push whose answer was lost may have landed.
        if let Some((commit, outcome)) = pushed.take()
            && commit == tip.commit
        {
            let mut outcome = *outcome;
            outcome.commit = Some(commit);
            return Ok(Try::Done(outcome));
        }
        let (tip, commit, outcome) =
            match prepare(store, request, target_now, &tip, &mut scans_seen)? {
                Attempt::Done(outcome) => return Ok(Try::Done(*outcome)),
                Attempt::Ready {
                    tip,
                    commit,
                    outcome,
                } => (tip, commit, outcome),
            };
        match propose::deliver(store, request, target_now, &tip, &commit) {
            Ok(proposed) => Ok(Try::Done(delivered(*outcome, commit, proposed))),
            Err(e) if e.is_retryable() => {
                if matches!(e, GitError::Transport { .. } | GitError::Stalled { .. }) {
                    pushed = Some((commit, outcome));
                }
                // The first attempt's fetch is a whole tree, and in a herd of jobs started
                // together it is slow for everyone; a retry fetches only what changed. So the
                // first slot is the time from having the tip to the push's answer.
                let slot = if attempt == 1 {
                    fetched.elapsed()
                } else {
                    started.elapsed()
                };
                Ok(again(e, &target, slot))
            }
            Err(e) => Err(e.into()),
        }
    })?;
    outcome.attempts = attempts;
    let target = target.expect("an attempt resolves the target");
    Ok((outcome, target))
}

/// The outcome once the commit is delivered: pushed onto the branch, or proposed on the change
/// request's branch (its name, its commit, and whether this run pushed it).
fn delivered(mut outcome: Bump, commit: String, proposed: Option<(String, String, bool)>) -> Bump {
    match proposed {
        None => outcome.commit = Some(commit),
        Some((head_branch, head_sha, pushed)) => {
            outcome.status = Status::Proposed;
            outcome.commit = Some(head_sha.clone());
            outcome.detail.proposed = Some(Proposed {
                head_branch,
                head_sha,
                pushed,
            });
        }
    }
    outcome
}

/// What an attempt on `tip` for `target` reports, before its plan is known.
fn concluded(
    status: Status,
    store: &dyn Store,
    request: &Request,
    target: &Target,
    tip: &Tip,
) -> Bump {
    Bump {
        status,
        repo: store.url().clone(),
        branch: Some(tip.branch.clone()),
        environment: target.name.clone(),
        path: Some(target.path.clone()),
        commit: None,
        previous: Some(tip.commit.clone()),
        attempts: 0,
        changes: Vec::new(),
        warnings: Vec::new(),
        notes: Vec::new(),
        refusals: Vec::new(),
        missing: Vec::new(),
        reasons: Vec::new(),
        change_request: None,
        detail: Detail {
            label: Some(target.label.clone()),
            updates: request.planner.updates().to_vec(),
            max_attempts: request.attempts,
            update: target.update,
            ..Detail::default()
        },
    }
}

/// `outcome` with `plan`'s changes, notices and files.
fn with_plan(mut outcome: Bump, plan: Plan) -> Bump {
    outcome.changes = plan.changes;
    outcome.warnings = plan.warnings;
    outcome.notes = plan.notes;
    outcome.refusals = plan.refusals;
    outcome.detail.files = plan.files;
    outcome
}

/// One attempt on `tip`: checks, plan, commit. Pure with respect to the remote.
fn prepare(
    store: &mut dyn Store,
    request: &Request,
    target: &Target,
    tip: &Tip,
    scans_seen: &mut ScanCache,
) -> Result<Attempt, Error> {
    let done = |outcome: Bump| Ok(Attempt::Done(Box::new(outcome)));
    if let Some(outcome) = refused_by_policy(store, request, target, tip) {
        return done(outcome);
    }
    let plan = plan_on(store, request, target, tip, scans_seen)?;
    if !matches!(plan.verdict(), plan::Verdict::Changes { .. }) {
        return done(unchanged(store, request, target, tip, plan)?);
    }
    // The stale-write guard, for the images that would change.
    let changed: Vec<ImageUpdate> = request
        .planner
        .updates()
        .iter()
        .filter(|u| plan.changes.iter().any(|c| c.image == u.image.to_string()))
        .cloned()
        .collect();
    let (stamps_path, stamps) = read_stamps(store, target, tip)?;
    if !request.force {
        let stale: Vec<String> = changed
            .iter()
            .filter_map(|u| stamps.stale(&u.image.to_string(), &request.origin))
            .collect();
        if !stale.is_empty() {
            let mut outcome = concluded(Status::Stale, store, request, target, tip);
            outcome.reasons = stale;
            return done(with_plan(outcome, plan));
        }
    }
    let writes = writes(
        store,
        request,
        target,
        tip,
        &plan,
        &changed,
        (stamps_path, stamps),
    )?;
    let message = message(request, target, tip, &plan, &changed)?;
    let commit = store.commit(
        Some(tip),
        &writes,
        &message,
        &target.identity,
        request.signer.as_ref(),
    )?;
    tracing::debug!(commit, "committed");
    let mut outcome = with_plan(concluded(Status::Pushed, store, request, target, tip), plan);
    if request.dry_run {
        outcome.status = Status::DryRun;
        outcome.detail.dry_run = Some(DryRun {
            message,
            head_branch: (target.update == Update::PullRequest)
                .then(|| head_branch_of(request, target)),
        });
        outcome.commit = Some(commit);
        return done(outcome);
    }
    Ok(Attempt::Ready {
        tip: tip.clone(),
        commit,
        outcome: Box::new(outcome),
    })
}

/// Held or a tag refused by the environment's policy (a rollback writes through holds).
fn refused_by_policy(
    store: &dyn Store,
    request: &Request,
    target: &Target,
    tip: &Tip,
) -> Option<Bump> {
    let mut verdicts = target.policy.check(request.planner.updates());
    if request.preset.as_ref().is_some_and(|p| p.ignore_hold) {
        verdicts.retain(|v| !matches!(v, Verdict::Held(_)));
    }
    if verdicts.is_empty() {
        return None;
    }
    let held = verdicts.iter().any(|v| matches!(v, Verdict::Held(_)));
    let status = if held {
        Status::Held
    } else {
        Status::TagRefused
    };
    let mut outcome = concluded(status, store, request, target, tip);
    outcome.reasons = verdicts
        .into_iter()
        .map(|v| match v {
            Verdict::Held(m) | Verdict::Tag(m) => m,
        })
        .collect();
    Some(outcome)
}

/// The plan of the edit on `tip`, from the files that mention the images.
fn plan_on(
    store: &dyn Store,
    request: &Request,
    target: &Target,
    tip: &Tip,
    scans_seen: &mut ScanCache,
) -> Result<Plan, Error> {
    let planner = &request.planner;
    let entries = store.list_dir(tip, &target.path, &plan::is_yaml_path)?;
    tracing::debug!(files = entries.len(), path = target.path, "listed");
    let scans = scans_seen.scan(store, planner, &entries)?;
    tracing::debug!(referencing = scans.len(), "scanned");
    let mut plan = planner.plan(scans)?;
    plan.relocate(&target.path);
    if request.strict || target.strict {
        plan.refuse_reports();
    }
    Ok(plan)
}

/// A plan that changes nothing: refused, an image missing, or already up to date.
fn unchanged(
    store: &mut dyn Store,
    request: &Request,
    target: &Target,
    tip: &Tip,
    plan: Plan,
) -> Result<Bump, Error> {
    let outcome = match plan.verdict() {
        plan::Verdict::Missing(images) => {
            let mut outcome = concluded(Status::NotFound, store, request, target, tip);
            let (missing, files) = suggestions(store, tip, &target.path, images)?;
            outcome.missing = missing;
            outcome.detail.files_read = files;
            outcome
        }
        plan::Verdict::UpToDate { references } => {
            let mut outcome = concluded(Status::UpToDate, store, request, target, tip);
            // The commit to wait on is the one that set these images, not whatever came after.
            let set_by = last_set(store, tip, &target.path, request.planner.updates())?;
            outcome.commit = Some(set_by.unwrap_or_else(|| tip.commit.clone()));
            outcome.detail.references = references;
            outcome
        }
        plan::Verdict::Refused(_) | plan::Verdict::Changes { .. } => {
            concluded(Status::Refused, store, request, target, tip)
        }
    };
    Ok(with_plan(outcome, plan))
}

/// The environment's stamps file (its path and what it says), for the stale-write guard.
fn read_stamps(store: &dyn Store, target: &Target, tip: &Tip) -> Result<(String, Stamps), Error> {
    let stamps_path = stamps::path_for(&target.path);
    let (stamps, damaged) = match store.read_file(tip, &stamps_path)? {
        Some(bytes) => Stamps::parse(&bytes),
        None => (Stamps::default(), None),
    };
    if let Some(warning) = damaged {
        tracing::warn!("{stamps_path}: {warning}");
    }
    Ok((stamps_path, stamps))
}

/// What the commit writes: the edited files, the stamps of a CI run, and ferry.yaml's hold for
/// a rollback that asks for one.
fn writes(
    store: &dyn Store,
    request: &Request,
    target: &Target,
    tip: &Tip,
    plan: &Plan,
    changed: &[ImageUpdate],
    (stamps_path, mut stamps): (String, Stamps),
) -> Result<Vec<Edit>, Error> {
    let mut writes: Vec<Edit> = plan
        .files
        .iter()
        .map(|f| (f.path.clone(), Some(f.after.clone().into_bytes())))
        .collect();
    if request.origin.run.is_some() {
        for u in changed {
            stamps.record(&u.image.to_string(), &u.version(), &request.origin);
        }
        writes.push((stamps_path, Some(stamps.to_bytes())));
    }
    if let Some(reason) = request.preset.as_ref().and_then(|p| p.hold.as_ref()) {
        writes.push(hold_edit(store, target, tip, reason)?);
    }
    Ok(writes)
}

/// The commit's message: the repository's template (or the built-in one), the preset's subject.
fn message(
    request: &Request,
    target: &Target,
    tip: &Tip,
    plan: &Plan,
    changed: &[ImageUpdate],
) -> Result<String, Error> {
    let mut trailers = request.trailers();
    if target.update == Update::PullRequest {
        // What `ferry merge` needs to recompute the change on a newer tip.
        trailers.push(Trailer {
            key: trailers::PATH.to_owned(),
            value: target.path.clone(),
        });
        for u in changed {
            trailers.push(Trailer {
                key: trailers::UPDATE.to_owned(),
                value: u.argument(&u.image.to_string()),
            });
        }
    }
    let mut message = render::commit_message(
        target
            .template
            .as_ref()
            .map(|(name, text)| (name.as_str(), text.as_str())),
        &message_context(
            target,
            &tip.branch,
            (&plan.changes, plan.files.len()),
            request.planner.updates(),
            &trailers,
        ),
    )?;
    if let Some(subject) = request.preset.as_ref().and_then(|p| p.subject.as_ref()) {
        let rest = message.split_once('\n').map_or("", |(_, rest)| rest);
        message = format!("{}\n{rest}", one_line(subject));
    }
    Ok(message)
}

/// What the commit message's and the change request's templates read: the changes (and how
/// many files they are in) on `branch`.
pub(super) fn message_context(
    target: &Target,
    branch: &str,
    (changes, files): (&[Change], usize),
    updates: &[ImageUpdate],
    trailers: &[Trailer],
) -> MessageContext {
    let images = updates
        .iter()
        .filter_map(|u| {
            let name = u.image.to_string();
            let mut from: Vec<String> = Vec::new();
            for c in changes.iter().filter(|c| c.image == name) {
                let old = c.old.as_deref().map_or_else(|| "(new)".to_owned(), old_tag);
                if !from.contains(&old) {
                    from.push(old);
                }
            }
            (!from.is_empty()).then(|| MessageImage {
                short: u.image.familiar(),
                name,
                from: from.join(", "),
                to: u.version(),
            })
        })
        .collect();
    MessageContext {
        environment: target.label.clone(),
        path: target.path.clone(),
        branch: branch.to_owned(),
        images,
        changes: changes.len(),
        files,
        trailers: trailers.to_vec(),
    }
}

/// How far back an up-to-date bump looks for the commit that set its images.
const LAST_SET_COMMITS: usize = 200;

/// The newest commit of `tip`'s first-parent history that changed one of `updates`' images
/// under `path` (so it contains what every image runs now), from the history the environment's
/// commits tell; `None` when the images were set before the [`LAST_SET_COMMITS`] commits read.
fn last_set(
    store: &mut dyn Store,
    tip: &Tip,
    path: &str,
    updates: &[ImageUpdate],
) -> Result<Option<String>, Error> {
    let names: Vec<String> = updates.iter().map(|u| u.image.to_string()).collect();
    let wanted = |image: &str| names.iter().any(|n| n == image);
    let enough = |changes: &[history::Change]| !changes.is_empty();
    let walk = history::walk(store, tip, path, &wanted, LAST_SET_COMMITS, &enough)?;
    let found = walk.changes.first().map(|c| c.commit.clone());
    if found.is_none() {
        tracing::debug!(
            commits = walk.commits,
            "no commit in the history read sets these images; the tip stands for them"
        );
    }
    Ok(found)
}

/// For each missing image, the closest names referenced in the environment; and how many YAML
/// files were looked at. Only on the failure path: it reads every file.
fn suggestions(
    store: &dyn Store,
    tip: &Tip,
    path: &str,
    missing: &[ImageName],
) -> Result<(Vec<Missing>, usize), Error> {
    let blobs = store.read_dir(tip, path, &plan::is_yaml_path, &|_| true)?;
    let found: std::collections::BTreeSet<ImageName> = blobs
        .iter()
        .flat_map(|b| plan::images_in(&b.path, &b.bytes))
        .collect();
    Ok((closest_to(missing, &found), blobs.len()))
}
