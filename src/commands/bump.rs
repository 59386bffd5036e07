//! `ferry bump`: set image tags in one environment of a remote environment repository, and push.
//!
//! Each attempt is a pure recomputation on a fresh tip: fetch the branch, read `ferry.yaml` and
//! the environment's files, check holds, the tag policy and the stale-write guard, plan the edit,
//! commit, and push with compare-and-swap on the fetched tip. When another writer got there
//! first the attempt is thrown away and the next one starts from the new tip (never a rebase of
//! text), after a jittered exponential backoff.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::fmt::Write as _;
use std::path::Path;
use std::time::{Duration, Instant};

use secrecy::{ExposeSecret, SecretString};
use serde::Serialize;

use super::change_request::{self, Action, Preset};
use super::missing::{Missing, closest_to};
use super::site::{self, Site};
use super::transaction::{self, Try};
use super::{Error, read_config, read_template, text};
use crate::ci::{self, Context, Outputs, one_line};
use crate::cli::{BumpArgs, Connection, SignFormat, Signing, Source, WriteArgs};
use crate::config::{self, Config, ResolvedEnvironment, Update};
use crate::exit::Exit;
use crate::forge::{self, Forge, ForgeKind};
use crate::git::sign::{self, KeySource};
use crate::git::{Edit, Entry, GitError, Identity, Remote, RepoUrl, Signer, Store, Tip, Transport};
use crate::history;
use crate::image::{ImageName, ImageUpdate, Reference};
use crate::plan::{self, Change, Notice, Plan, Planner, Scan};
use crate::policy::{Policy, Verdict};
use crate::render::{self, ChangeRequestContext, MessageContext, MessageImage, Trailer};
use crate::report::{self, Output};
use crate::stamps::{self, Origin, Stamps};
use crate::trailers;

/// The result, as printed with `--output json`.
#[derive(Debug, Serialize)]
struct Report<'a> {
    status: Status,
    repo: String,
    branch: Option<String>,
    environment: Option<String>,
    path: Option<String>,
    /// The commit pushed (or that would be pushed, for a dry run); for `up-to-date`, the commit
    /// that last set these images (the tip when the history read does not say).
    commit: Option<String>,
    /// The tip the change was made on.
    previous: Option<String>,
    attempts: u32,
    changes: &'a [Change],
    warnings: &'a [Notice],
    #[serde(skip_serializing_if = "<[Notice]>::is_empty")]
    notes: &'a [Notice],
    refusals: &'a [Notice],
    missing: Vec<Missing>,
    /// Why nothing was pushed (held, tag policy, stale), one message per reason.
    reasons: Vec<String>,
    /// The pull/merge request the change waits in (`--via pull-request`).
    #[serde(skip_serializing_if = "Option::is_none")]
    change_request: Option<ProposedReport>,
}

/// The change request of a proposed change, as reported.
#[derive(Debug, Clone, Serialize)]
struct ProposedReport {
    number: u64,
    url: String,
    /// The branch the change is on, and its commit.
    head_branch: String,
    head_sha: String,
    /// Whether the branch was pushed by this run (else it already held this change).
    pushed: bool,
    action: Action,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
enum Status {
    Pushed,
    /// The change waits in a change request (pull/merge request).
    Proposed,
    UpToDate,
    DryRun,
    NotFound,
    Refused,
    Held,
    TagRefused,
    Stale,
}

impl Status {
    fn exit(self) -> Exit {
        match self {
            Status::Pushed | Status::Proposed | Status::UpToDate | Status::DryRun => Exit::Done,
            Status::NotFound => Exit::NotFound,
            Status::Refused => Exit::Refused,
            Status::Held => Exit::Held,
            Status::TagRefused => Exit::Policy,
            Status::Stale => Exit::Stale,
        }
    }

    fn as_str(self) -> &'static str {
        match self {
            Status::Pushed => "pushed",
            Status::Proposed => "proposed",
            Status::UpToDate => "up-to-date",
            Status::DryRun => "dry-run",
            Status::NotFound => "not-found",
            Status::Refused => "refused",
            Status::Held => "held",
            Status::TagRefused => "tag-refused",
            Status::Stale => "stale",
        }
    }
}

/// Everything a bump needs besides the repository.
struct Request<'a> {
    args: &'a BumpArgs,
    /// What the command running this bump (a promotion, a rollback) says in bump's place.
    preset: Option<Preset>,
    planner: Planner,
    origin: Origin,
    trailers: Vec<Trailer>,
    signer: Option<Signer>,
}

/// Where the change goes, as resolved on a tip.
#[derive(Debug, Clone)]
struct Target {
    /// The environment's name, or its path when given by --path.
    label: String,
    name: Option<String>,
    path: String,
    branch: Option<String>,
    policy: Policy,
    identity: Identity,
    /// The repository's commit-message template (path, text).
    template: Option<(String, String)>,
    /// The repository's templates of a change request's title and description.
    title_template: Option<(String, String)>,
    body_template: Option<(String, String)>,
    /// Whether ferry.yaml was read from the target branch itself (then every attempt re-reads it).
    config_on_branch: bool,
    /// How changes reach the branch (ferry.yaml's `update`, unless --via says otherwise).
    update: Update,
    /// Labels, reviewers and assignees of change requests, from ferry.yaml.
    labels: Vec<String>,
    reviewers: Vec<String>,
    assignees: Vec<String>,
    /// All or nothing: mentions left alone refuse the bump (`strict: true` in ferry.yaml).
    strict: bool,
}

/// What one attempt concluded.
enum Attempt {
    /// Stop here and report (nothing to push, refused, dry run...).
    Done(Box<Outcome>),
    /// A commit is ready to push on this tip.
    Ready {
        tip: Tip,
        commit: String,
        outcome: Box<Outcome>,
    },
}

/// What is reported.
struct Outcome {
    status: Status,
    target: Option<Target>,
    tip: Option<Tip>,
    commit: Option<String>,
    plan: Plan,
    missing: Vec<Missing>,
    reasons: Vec<String>,
    text: String,
    /// Where a proposed change went: its branch and commit, and whether this run pushed it.
    proposed: Option<(String, String, bool)>,
    change_request: Option<ProposedReport>,
}

impl Outcome {
    fn new(status: Status, target: &Target, tip: &Tip) -> Outcome {
        Outcome {
            status,
            target: Some(target.clone()),
            tip: Some(tip.clone()),
            commit: None,
            plan: Plan::default(),
            missing: Vec::new(),
            reasons: Vec::new(),
            text: String::new(),
            proposed: None,
            change_request: None,
        }
    }
}

pub fn run(args: &BumpArgs, output: Output) -> Result<Exit, Error> {
    let Executed {
        store,
        request,
        context,
        outcome,
        attempts,
    } = execute(args, None)?;
    finish(
        &store,
        &request,
        context.as_ref(),
        outcome,
        attempts,
        output,
    )
}

/// A bump that ran, before it is reported.
pub(crate) struct Executed<'a> {
    store: Remote,
    request: Request<'a>,
    context: Option<Context>,
    outcome: Outcome,
    attempts: u32,
}

impl Executed<'_> {
    /// The exit code the bump would report.
    pub(crate) fn exit(&self) -> Exit {
        self.outcome.status.exit()
    }

    /// The status word (`pushed`, `proposed`, `up-to-date`, ...).
    pub(crate) fn status_str(&self) -> &'static str {
        self.outcome.status.as_str()
    }

    /// The commit pushed or proposed (the tip, when up to date).
    pub(crate) fn commit(&self) -> Option<String> {
        self.outcome.commit.clone()
    }

    /// The web page of the change request, for a proposed change.
    pub(crate) fn change_request_url(&self) -> Option<String> {
        self.outcome
            .change_request
            .as_ref()
            .map(|cr| cr.url.clone())
    }

    /// The result in one line, and, for a proposed change, its change request's number and
    /// head commit.
    pub(crate) fn summary(&self) -> (String, Option<(u64, String)>) {
        let line = self
            .outcome
            .text
            .lines()
            .last()
            .unwrap_or(self.outcome.status.as_str())
            .to_owned();
        let proposed = self
            .outcome
            .change_request
            .as_ref()
            .map(|cr| (cr.number, cr.head_sha.clone()));
        (line, proposed)
    }
}

/// The arguments of a bump of `env` in `site` that another command runs with its own words (a
/// [`Preset`]): a promotion, a rollback.
pub(super) fn of_site(
    site: &Site,
    write: &WriteArgs,
    env: Option<String>,
    updates: Vec<ImageUpdate>,
    via: Option<Update>,
) -> BumpArgs {
    BumpArgs {
        updates,
        connection: Connection {
            repo: site.given.clone(),
            token: site.token(),
            username: None,
            ssh_key: None,
            // Not the site's cache: the site holds it locked.
            cache_dir: None,
        },
        branch: None,
        env,
        path: None,
        digest: None,
        dry_run: write.dry_run,
        // ferry.yaml's `strict: true` on the environment still applies.
        strict: false,
        // Promotions and rollbacks set versions on purpose: the stale-write guard is for
        // builds racing each other.
        force: true,
        commit: write.commit.clone(),
        signing: write.signing.clone(),
        source: Source::default(),
        via,
        labels: write.labels.clone(),
        reviewers: write.reviewers.clone(),
        assignees: Vec::new(),
        forge: site.forge_args().clone(),
    }
}

/// Runs a bump without reporting it.
pub(crate) fn execute(args: &BumpArgs, preset: Option<Preset>) -> Result<Executed<'_>, Error> {
    let updates = super::requested_updates(&args.updates, args.digest.as_ref())?;
    let planner = Planner::new(updates)?;
    let (url, url_secret) = RepoUrl::parse(&args.connection.repo).map_err(Error::Usage)?;
    if url_secret.is_some() {
        tracing::warn!(
            "--repo carries a password; it is used, but pass tokens in FERRY_TOKEN instead: URLs end up in logs"
        );
    }
    // A GitHub App's installation token serves git too: it is minted before the first fetch.
    let mut forge: Option<Box<dyn Forge>> = None;
    let (token, username) = if args.forge.github_app_id.is_some() {
        let settings = forge::resolve_settings(&args.forge, &url, None, &ci::process_env)?;
        let connected = forge::connect(settings)?;
        let minted = connected.minted_token();
        forge = Some(connected);
        (
            minted.or_else(|| args.connection.token.clone()),
            Some(
                args.connection
                    .username
                    .clone()
                    .unwrap_or_else(|| "x-access-token".to_owned()),
            ),
        )
    } else {
        (
            args.connection.token.clone(),
            args.connection.username.clone(),
        )
    };
    let credentials = site::credentials(
        &url,
        url_secret,
        token,
        username,
        args.connection.ssh_key.clone(),
    );
    let api_token = credentials.api_token();
    if args.via == Some(Update::PullRequest) {
        no_forge_in(&url, "--via pull-request")?;
    }
    // When --via pull-request says a forge is needed, find it before any network call.
    let mut settings = match (&forge, args.via) {
        (None, Some(Update::PullRequest)) => Some(forge::resolve_settings(
            &args.forge,
            &url,
            api_token.clone(),
            &ci::process_env,
        )?),
        _ => None,
    };
    let repo_url = url.clone();
    if let Some(path) = &args.path {
        target_path(path)?;
    }
    let context = Context::from_env();
    let request = Request {
        args,
        planner,
        origin: origin(context.as_ref(), &args.source),
        trailers: trailers(context.as_ref(), args, preset.as_ref()),
        signer: signer(&args.signing)?,
        preset,
    };
    tracing::debug!(repo = %url, credentials = %credentials.describe(), "opening");
    let mut store = Remote::open(url, credentials, args.connection.cache_dir.as_deref())?;
    let started = Instant::now();
    let (mut outcome, attempts) = bump(&mut store, &request)?;
    if outcome.proposed.is_some() {
        let forge = match forge {
            Some(forge) => forge,
            None => {
                let settings = match settings.take() {
                    Some(settings) => settings,
                    None => forge::resolve_settings(
                        &args.forge,
                        &repo_url,
                        api_token,
                        &ci::process_env,
                    )?,
                };
                forge::connect(settings)?
            }
        };
        propose(forge.as_ref(), &request, context.as_ref(), &mut outcome)?;
        tracing::debug!(calls = forge.calls(), forge = %forge.kind(), "api calls");
    }
    tracing::debug!(
        elapsed_ms = started.elapsed().as_millis() as u64,
        attempts,
        "done"
    );
    Ok(Executed {
        store,
        request,
        context,
        outcome,
        attempts,
    })
}

/// The attempt loop: fetch, recompute, push; again on conflict or network failure (the shared
/// [`transaction::retry`]).
fn bump(store: &mut dyn Store, request: &Request<'_>) -> Result<(Outcome, u32), Error> {
    let mut target: Option<Target> = None;
    // A push whose answer was lost, and what it would report.
    let mut pushed: Option<(String, Box<Outcome>)> = None;
    let mut scans_seen = ScanCache::default();
    transaction::retry(store, request.args.commit.attempts, |store, attempt| {
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
        let tip = match resolve(store, request, &mut target) {
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
            pushed_line(&mut outcome, request, &commit);
            outcome.commit = Some(commit);
            return Ok(Try::Done(outcome));
        }
        let (tip, commit, mut outcome) =
            match prepare(store, request, target_now, &tip, &mut scans_seen)? {
                Attempt::Done(outcome) => return Ok(Try::Done(*outcome)),
                Attempt::Ready {
                    tip,
                    commit,
                    outcome,
                } => (tip, commit, outcome),
            };
        match deliver(store, request, target_now, &tip, &commit) {
            Ok(proposed) => {
                let updates = request.planner.updates();
                match &proposed {
                    None => {
                        pushed_line(&mut outcome, request, &commit);
                        outcome.commit = Some(commit.clone());
                    }
                    Some((head, sha, pushed)) => {
                        outcome.status = Status::Proposed;
                        outcome.commit = Some(sha.clone());
                        let _ = writeln!(
                            outcome.text,
                            "{} {}: {} change(s) in {} file(s) of {} on branch `{head}` ({} on `{}`).",
                            if *pushed {
                                "Proposed"
                            } else {
                                "Already proposed"
                            },
                            text::describe(updates),
                            outcome.plan.changes.len(),
                            outcome.plan.files.len(),
                            target_now.label,
                            short(sha),
                            tip.branch,
                        );
                    }
                }
                outcome.proposed = proposed;
                Ok(Try::Done(*outcome))
            }
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
    })
}

/// The line that says what was pushed, from the tip the commit was made on.
fn pushed_line(outcome: &mut Outcome, request: &Request<'_>, commit: &str) {
    let (Some(target), Some(tip)) = (&outcome.target, &outcome.tip) else {
        return;
    };
    let line = format!(
        "Pushed {}: {} change(s) in {} file(s) of {} on `{}` ({} → {}).\n",
        text::describe(request.planner.updates()),
        outcome.plan.changes.len(),
        outcome.plan.files.len(),
        target.label,
        tip.branch,
        short(&tip.commit),
        short(commit)
    );
    outcome.text.push_str(&line);
}

/// Opens or updates the change request for a proposed change.
fn propose(
    forge: &dyn Forge,
    request: &Request<'_>,
    context: Option<&Context>,
    outcome: &mut Outcome,
) -> Result<(), Error> {
    let (Some((head, sha, pushed)), Some(target), Some(tip)) = (
        outcome.proposed.clone(),
        outcome.target.clone(),
        outcome.tip.clone(),
    ) else {
        return Ok(());
    };
    let args = request.args;
    let updates = request.planner.updates();
    let words = forge.words();
    let origin = &request.origin;
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
    let rendering = ChangeRequestContext {
        message: message_context(&target, &tip, &outcome.plan, updates, &request.trailers),
        change_request: words.change_request.to_owned(),
        head_branch: head.clone(),
        source_repo: origin.repo.clone(),
        source_commit: origin.commit.clone(),
        source_commit_url,
        source_ref: origin.source_ref.clone(),
        run_url: context
            .and_then(|c| c.run_url.clone())
            .map(|u| one_line(&u)),
        marker: change_request::marker(&head),
    };
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
    let mut reviewers = Vec::new();
    let mut assignees = Vec::new();
    for (list, extra) in [
        (&mut labels, [&target.labels, &args.labels]),
        (&mut reviewers, [&target.reviewers, &args.reviewers]),
        (&mut assignees, [&target.assignees, &args.assignees]),
    ] {
        for item in extra.into_iter().flatten() {
            let item = item.trim();
            if !item.is_empty() && !list.iter().any(|l| l == item) {
                list.push(item.to_owned());
            }
        }
    }
    let proposal = change_request::Proposal {
        head: head.clone(),
        base: tip.branch.clone(),
        title,
        body,
        labels,
        reviewers,
        assignees,
    };
    let (cr, action) = change_request::open_or_update(forge, &proposal)?;
    let _ = writeln!(
        outcome.text,
        "{} {} {}{}: {}",
        match action {
            Action::Opened => "Opened",
            Action::Updated => "Updated",
            Action::Unchanged => "Up to date:",
        },
        words.change_request,
        words.sigil,
        cr.number,
        cr.url
    );
    outcome.change_request = Some(ProposedReport {
        number: cr.number,
        url: cr.url,
        head_branch: head,
        head_sha: sha,
        pushed,
        action,
    });
    Ok(())
}

/// Sends a ready commit where it goes: pushed onto the branch (`None`), or, for a change
/// request, onto the change's own branch with a lease (the branch, its commit, and whether it
/// was pushed: a branch that already holds the same change on the same tip is left alone, so
/// a rerun changes nothing).
fn deliver(
    store: &mut dyn Store,
    request: &Request<'_>,
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
fn head_branch_of(request: &Request<'_>, target: &Target) -> String {
    if let Some(head) = request.preset.as_ref().and_then(|p| p.head.clone()) {
        return head;
    }
    let images: Vec<&ImageName> = request.planner.updates().iter().map(|u| &u.image).collect();
    change_request::head_branch(&target.label, &images)
}

/// Fetches the tip to change and (re)resolves the target on it.
fn resolve(
    store: &mut dyn Store,
    request: &Request<'_>,
    target: &mut Option<Target>,
) -> Result<Tip, Error> {
    let args = request.args;
    if let Some(known) = target.as_ref().filter(|t| !t.config_on_branch) {
        // ferry.yaml lives on another branch: it was read once; only the target moves.
        return Ok(store.fetch(known.branch.as_deref())?);
    }
    let first = store.fetch(args.branch.as_deref())?;
    let config = read_config(store, &first)?;
    let env = match (&args.env, &config) {
        (Some(name), Some(config)) => Some(config.environment(name).map_err(|mut e| {
            e.file = Path::new(config::FILE_NAME).to_path_buf();
            e
        })?),
        (Some(name), None) => {
            return Err(Error::Usage(format!(
                "--env {}: there is no {} on branch `{}` of {}; pass the environment's directory with --path",
                one_line(name),
                config::FILE_NAME,
                one_line(&first.branch),
                store.url()
            )));
        }
        (None, Some(config)) => by_path(
            config,
            &target_path(args.path.as_deref().unwrap_or_default())?,
        ),
        (None, None) => None,
    };
    let (tip, config_on_branch) = match &env {
        Some(env) if args.branch.is_none() && env.branch != first.branch => {
            (store.fetch(Some(&env.branch))?, false)
        }
        _ => (first, true),
    };
    let path = match (&env, &args.path) {
        (Some(env), _) if args.env.is_some() => env.path.clone(),
        (_, Some(path)) => target_path(path)?,
        (Some(env), None) => env.path.clone(),
        (None, None) => String::new(),
    };
    let policy = env
        .as_ref()
        .map_or_else(|| Policy::default_for(&path), Policy::of);
    let author = config
        .as_ref()
        .map(|c| c.commit.author.clone())
        .unwrap_or_default();
    let identity = Identity {
        name: args.commit.author_name.clone().unwrap_or(author.name),
        email: args.commit.author_email.clone().unwrap_or(author.email),
    };
    let template = read_template(
        store,
        &tip,
        "commit.message",
        config.as_ref().and_then(|c| c.commit.message.as_ref()),
    )?;
    let title_template = read_template(
        store,
        &tip,
        "change-requests.title",
        config
            .as_ref()
            .and_then(|c| c.change_requests.title.as_ref()),
    )?;
    let body_template = read_template(
        store,
        &tip,
        "change-requests.body",
        config
            .as_ref()
            .and_then(|c| c.change_requests.body.as_ref()),
    )?;
    let update = args
        .via
        .or(env.as_ref().map(|e| e.update))
        .unwrap_or(Update::Push);
    if update == Update::PullRequest && !args.dry_run {
        // Found in ferry.yaml: said before the change request's branch is pushed.
        no_forge_in(
            store.url(),
            &format!(
                "environment `{}` has `update: pull-request` in {}",
                env.as_ref().map_or("", |e| e.name.as_str()),
                config::FILE_NAME
            ),
        )?;
    }
    *target = Some(Target {
        label: env
            .as_ref()
            .filter(|_| args.env.is_some() || args.path.is_some())
            .map_or_else(
                || {
                    if path.is_empty() {
                        "/".to_owned()
                    } else {
                        path.clone()
                    }
                },
                |e| e.name.clone(),
            ),
        name: env.as_ref().map(|e| e.name.clone()),
        path,
        branch: Some(tip.branch.clone()),
        policy,
        identity,
        template,
        title_template,
        body_template,
        config_on_branch,
        update,
        labels: env.as_ref().map(|e| e.labels.clone()).unwrap_or_default(),
        reviewers: env
            .as_ref()
            .map(|e| e.reviewers.clone())
            .unwrap_or_default(),
        assignees: env
            .as_ref()
            .map(|e| e.assignees.clone())
            .unwrap_or_default(),
        strict: env.as_ref().is_some_and(|e| e.strict),
    });
    Ok(tip)
}

/// A change request needs a forge, which a local repository (a path, `file://`) does not have.
fn no_forge_in(url: &RepoUrl, what: &str) -> Result<(), Error> {
    if url.transport() != Transport::Local {
        return Ok(());
    }
    Err(Error::Usage(format!(
        "{what}: the change goes through a pull/merge request, and {url} is a local repository, with no forge to open one on: pass --via push to push to the branch directly, or give --repo as the repository's URL on GitHub or GitLab"
    )))
}

/// ferry.yaml with the target environment put on hold (`ferry rollback --hold`).
fn hold_edit(store: &dyn Store, target: &Target, tip: &Tip, reason: &str) -> Result<Edit, Error> {
    let name = target.name.as_deref().ok_or_else(|| {
        Error::Usage("--hold needs an environment of ferry.yaml (--env)".to_owned())
    })?;
    let bytes = store
        .read_file(tip, config::FILE_NAME)?
        .filter(|_| target.config_on_branch)
        .ok_or_else(|| {
            Error::Usage(format!(
                "--hold: {} is not on branch `{}` with the environment; put `hold: true` in it by hand",
                config::FILE_NAME,
                one_line(&tip.branch)
            ))
        })?;
    let text = String::from_utf8_lossy(&bytes);
    let reason = Some(reason).filter(|r| !r.trim().is_empty());
    let held = config::hold(&text, name, reason)
        .map_err(|e| Error::Usage(format!("--hold: cannot edit {}: {e}", config::FILE_NAME)))?;
    Ok((config::FILE_NAME.to_owned(), Some(held.into_bytes())))
}

/// A template as `render` takes it: (name, text).
fn as_pair(template: Option<&(String, String)>) -> Option<(&str, &str)> {
    template.map(|(name, text)| (name.as_str(), text.as_str()))
}

/// `--path` as the repository path it names: `./envs/staging/` is `envs/staging`, `.` the root
/// (`""`). Absolute paths and `..` are refused (exit 2), as are backslashes and control
/// characters.
fn target_path(path: &str) -> Result<String, Error> {
    use config::RelPathError;
    config::RelPath::normalize(path).map_err(|e| {
        Error::Usage(match e {
            RelPathError::Absolute | RelPathError::ParentDir => format!(
                "--path {}: give a directory relative to the repository root, without `..`",
                one_line(path)
            ),
            other => format!("--path {}: {other}; {}", one_line(path), other.hint()),
        })
    })
}

/// The environment of `config` whose path is `path` (normalized), if any: its holds and tag policy apply to
/// bumps by `--path` too.
fn by_path(config: &Config, path: &str) -> Option<ResolvedEnvironment> {
    config
        .environment_names()
        .filter_map(|name| config.environment(name).ok())
        .find(|env| env.path == path)
}

/// What each file said, by path and blob id, across attempts: a retry reads and parses only the
/// files that changed since the previous tip. Most files do not mention the images: those are
/// kept as a compact key only (an environment of 20,000 apps has about 50,000 files).
#[derive(Default)]
struct ScanCache {
    silent: HashSet<ScanKey>,
    found: HashMap<ScanKey, Scan>,
}

/// A file by path and blob id (equal keys, equal bytes and equal reading).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
struct ScanKey {
    path: Box<str>,
    oid: [u8; 20],
}

impl ScanKey {
    fn of(entry: &Entry) -> ScanKey {
        let mut oid = [0u8; 20];
        let hex = entry.oid.as_bytes();
        for (i, byte) in oid.iter_mut().enumerate() {
            let digit = |at: usize| {
                hex.get(at)
                    .and_then(|d| char::from(*d).to_digit(16))
                    .unwrap_or(0) as u8
            };
            *byte = digit(2 * i) << 4 | digit(2 * i + 1);
        }
        ScanKey {
            path: entry.path.as_str().into(),
            oid,
        }
    }
}

impl ScanCache {
    /// The scans of `entries`, in their order: from the cache, or read (in parallel) and scanned.
    fn scan(
        &mut self,
        store: &dyn Store,
        planner: &Planner,
        entries: &[Entry],
    ) -> Result<Vec<Scan>, GitError> {
        let keys: Vec<ScanKey> = entries.iter().map(ScanKey::of).collect();
        let unknown: Vec<usize> = (0..entries.len())
            .filter(|&i| !self.silent.contains(&keys[i]) && !self.found.contains_key(&keys[i]))
            .collect();
        // On a first attempt every file is unknown: read them in place.
        let copied: Vec<Entry>;
        let to_read = if unknown.len() == entries.len() {
            entries
        } else {
            copied = unknown.iter().map(|&i| entries[i].clone()).collect();
            &copied
        };
        let charts = plan::Charts::new(entries.iter().map(|e| e.path.as_str()));
        let read = std::sync::Mutex::new(Vec::new());
        store.visit_blobs(to_read, &|i, bytes| {
            let path = &to_read[i].path;
            let scan = if charts.is_source(path) {
                planner.chart_source(path, bytes)
            } else {
                planner.scan(path, bytes)
            };
            if let Some(scan) = scan {
                read.lock()
                    .unwrap_or_else(std::sync::PoisonError::into_inner)
                    .push((i, scan));
            }
        })?;
        let mut read = read
            .into_inner()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        read.sort_unstable_by_key(|(i, _)| *i);
        let mut read = read.into_iter().peekable();
        let mut unknown = unknown.iter().enumerate().peekable();
        let mut scans = Vec::new();
        for (i, key) in keys.into_iter().enumerate() {
            if let Some((n, _)) = unknown.next_if(|(_, at)| **at == i) {
                match read.next_if(|(at, _)| *at == n) {
                    Some((_, scan)) => {
                        scans.push(scan.clone());
                        self.found.insert(key, scan);
                    }
                    None => {
                        self.silent.insert(key);
                    }
                }
            } else if let Some(scan) = self.found.get(&key) {
                scans.push(scan.clone());
            }
        }
        Ok(scans)
    }
}

/// One attempt on `tip`: checks, plan, commit. Pure with respect to the remote.
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

fn prepare(
    store: &mut dyn Store,
    request: &Request<'_>,
    target: &Target,
    tip: &Tip,
    scans_seen: &mut ScanCache,
) -> Result<Attempt, Error> {
    let updates = request.planner.updates();
    let mut verdicts = target.policy.check(updates);
    if request.preset.as_ref().is_some_and(|p| p.ignore_hold) {
        verdicts.retain(|v| !matches!(v, Verdict::Held(_)));
    }
    if !verdicts.is_empty() {
        let held = verdicts.iter().any(|v| matches!(v, Verdict::Held(_)));
        let mut outcome = Outcome::new(
            if held {
                Status::Held
            } else {
                Status::TagRefused
            },
            target,
            tip,
        );
        outcome.reasons = verdicts
            .into_iter()
            .map(|v| match v {
                Verdict::Held(m) | Verdict::Tag(m) => m,
            })
            .collect();
        return Ok(Attempt::Done(Box::new(outcome)));
    }

    let planner = &request.planner;
    let entries = store.list_dir(tip, &target.path, &plan::is_yaml_path)?;
    tracing::debug!(files = entries.len(), path = target.path, "listed");
    let scans = scans_seen.scan(store, planner, &entries)?;
    tracing::debug!(referencing = scans.len(), "scanned");
    let mut plan = planner.plan(scans)?;
    plan.relocate(&target.path);
    if request.args.strict || target.strict {
        plan.refuse_reports();
    }

    let (files, changes) = match plan.verdict() {
        plan::Verdict::Refused(_) => {
            let mut outcome = Outcome::new(Status::Refused, target, tip);
            report::diagnostics(&text::refusal_text(Path::new(""), &plan));
            outcome.plan = plan;
            return Ok(Attempt::Done(Box::new(outcome)));
        }
        plan::Verdict::Missing(images) => {
            let mut outcome = Outcome::new(Status::NotFound, target, tip);
            let (missing, files) = suggestions(store, tip, &target.path, images)?;
            let label = format!(
                "{}:{}",
                tip.branch,
                if target.path.is_empty() {
                    "/"
                } else {
                    &target.path
                }
            );
            report::diagnostics(&text::missing_text(&label, files, &missing));
            outcome.missing = missing;
            outcome.plan = plan;
            return Ok(Attempt::Done(Box::new(outcome)));
        }
        plan::Verdict::UpToDate { references } => {
            let mut outcome = Outcome::new(Status::UpToDate, target, tip);
            // The commit to wait on is the one that set these images, not whatever came after.
            let set_by = last_set(store, tip, &target.path, updates)?;
            let _ = writeln!(
                outcome.text,
                "Already up to date: {references} reference(s) to {} in {} on `{}` already set (at {}{}).",
                text::describe(updates),
                target.label,
                tip.branch,
                short(&tip.commit),
                match &set_by {
                    Some(c) if *c != tip.commit => format!("; set by {}", short(c)),
                    _ => String::new(),
                }
            );
            outcome.commit = Some(set_by.unwrap_or_else(|| tip.commit.clone()));
            outcome.plan = plan;
            return Ok(Attempt::Done(Box::new(outcome)));
        }
        plan::Verdict::Changes { files, changes } => (files, changes),
    };

    // The stale-write guard, for the images that would change.
    let stamps_path = stamps::path_for(&target.path);
    let (mut stamps, damaged) = match store.read_file(tip, &stamps_path)? {
        Some(bytes) => Stamps::parse(&bytes),
        None => (Stamps::default(), None),
    };
    if let Some(warning) = damaged {
        tracing::warn!("{stamps_path}: {warning}");
    }
    let changed: Vec<&ImageUpdate> = updates
        .iter()
        .filter(|u| changes.iter().any(|c| c.image == u.image.to_string()))
        .collect();
    if !request.args.force {
        let stale: Vec<String> = changed
            .iter()
            .filter_map(|u| stamps.stale(&u.image.to_string(), &request.origin))
            .collect();
        if !stale.is_empty() {
            let mut outcome = Outcome::new(Status::Stale, target, tip);
            outcome.reasons = stale;
            outcome.plan = plan;
            return Ok(Attempt::Done(Box::new(outcome)));
        }
    }

    let mut writes: Vec<Edit> = files
        .iter()
        .map(|f| (f.path.clone(), Some(f.after.clone().into_bytes())))
        .collect();
    if request.origin.run.is_some() {
        for u in &changed {
            stamps.record(&u.image.to_string(), &tag_text(u), &request.origin);
        }
        writes.push((stamps_path, Some(stamps.to_bytes())));
    }
    if let Some(reason) = request.preset.as_ref().and_then(|p| p.hold.as_ref()) {
        writes.push(hold_edit(store, target, tip, reason)?);
    }
    let mut trailers = request.trailers.clone();
    if target.update == Update::PullRequest {
        // What `ferry merge` needs to recompute the change on a newer tip.
        trailers.push(Trailer {
            key: trailers::PATH.to_owned(),
            value: target.path.clone(),
        });
        for u in &changed {
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
        &message_context(target, tip, &plan, updates, &trailers),
    )?;
    if let Some(subject) = request.preset.as_ref().and_then(|p| p.subject.as_ref()) {
        let rest = message.split_once('\n').map_or("", |(_, rest)| rest);
        message = format!("{}\n{rest}", one_line(subject));
    }
    let commit = store.commit(
        Some(tip),
        &writes,
        &message,
        &target.identity,
        request.signer.as_ref(),
    )?;
    tracing::debug!(commit, "committed");

    let mut outcome = Outcome::new(Status::Pushed, target, tip);
    if request.args.dry_run {
        outcome.status = Status::DryRun;
        for f in &plan.files {
            outcome
                .text
                .push_str(&text::unified_diff(&f.path, &f.before, &f.after));
        }
        text::list_changes(&mut outcome.text, Path::new(""), &plan);
        if target.update == Update::PullRequest {
            let _ = writeln!(
                outcome.text,
                "Dry run: would put commit {} (on {}) on branch `{}` of {} and open or update its change request into `{}`.\n\n{}",
                short(&commit),
                short(&tip.commit),
                head_branch_of(request, target),
                store.url(),
                tip.branch,
                indent(&message)
            );
        } else {
            let _ = writeln!(
                outcome.text,
                "Dry run: would push commit {} onto `{}` of {} (compare-and-swap: only if the branch is still at {}).\n\n{}",
                short(&commit),
                tip.branch,
                store.url(),
                short(&tip.commit),
                indent(&message)
            );
        }
        outcome.commit = Some(commit);
        outcome.plan = plan;
        return Ok(Attempt::Done(Box::new(outcome)));
    }
    text::list_changes(&mut outcome.text, Path::new(""), &plan);
    outcome.plan = plan;
    Ok(Attempt::Ready {
        tip: tip.clone(),
        commit,
        outcome: Box::new(outcome),
    })
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

/// `TAG`, `TAG@DIGEST` or `@DIGEST` (a digest-only request).
fn tag_text(u: &ImageUpdate) -> String {
    u.version()
}

fn message_context(
    target: &Target,
    tip: &Tip,
    plan: &Plan,
    updates: &[ImageUpdate],
    trailers: &[Trailer],
) -> MessageContext {
    let images = updates
        .iter()
        .filter_map(|u| {
            let name = u.image.to_string();
            let mut from: Vec<String> = Vec::new();
            for c in plan.changes.iter().filter(|c| c.image == name) {
                let old = c.old.as_deref().map_or_else(|| "(new)".to_owned(), old_tag);
                if !from.contains(&old) {
                    from.push(old);
                }
            }
            (!from.is_empty()).then(|| MessageImage {
                short: u.image.familiar(),
                name,
                from: from.join(", "),
                to: tag_text(u),
            })
        })
        .collect();
    MessageContext {
        environment: target.label.clone(),
        path: target.path.clone(),
        branch: tip.branch.clone(),
        images,
        changes: plan.changes.len(),
        files: plan.files.len(),
        trailers: trailers.to_vec(),
    }
}

/// The tag in a scalar's old value: the value itself for tag fields, the tag (and digest) part
/// of a whole reference.
fn old_tag(old: &str) -> String {
    match Reference::parse(old) {
        Ok(r) if r.tag.is_some() || r.digest.is_some() => {
            let tag = r.tag.map(|t| t.to_string()).unwrap_or_default();
            match r.digest {
                Some(d) if tag.is_empty() => d.to_string(),
                Some(d) => format!("{tag}@{d}"),
                None => tag,
            }
        }
        _ => old.to_owned(),
    }
}

/// Where the tag comes from, for the stale-write guard: the CI's context with flags on top.
fn origin(context: Option<&Context>, source: &Source) -> Origin {
    let mut origin = context.map_or_else(Origin::default, |c| Origin {
        repo: c.source_repo.clone(),
        source_ref: c.source_ref.clone(),
        workflow: c.workflow.clone(),
        run: c.run_number,
        commit: c.source_commit.clone(),
    });
    if let Some(repo) = &source.source_repo {
        origin.repo = Some(one_line(repo));
    }
    if let Some(r) = &source.source_ref {
        origin.source_ref = Some(one_line(r));
    }
    if let Some(c) = &source.source_commit {
        origin.commit = Some(one_line(c));
    }
    if let Some(n) = source.run_number {
        origin.run = Some(n);
    }
    origin
}

/// The audit trailers: the CI's, with flags on top.
fn trailers(context: Option<&Context>, args: &BumpArgs, preset: Option<&Preset>) -> Vec<Trailer> {
    let mut list: Vec<(String, String)> = context
        .map(ci::trailers)
        .unwrap_or_default()
        .into_iter()
        .map(|(k, v)| (k.to_owned(), v))
        .collect();
    let mut set = |key: &str, value: Option<String>| {
        if let Some(value) = value.map(|v| one_line(&v)).filter(|v| !v.is_empty()) {
            match list.iter_mut().find(|(k, _)| k == key) {
                Some(entry) => entry.1 = value,
                None => list.push((key.to_owned(), value)),
            }
        }
    };
    set(trailers::SOURCE_REPO, args.source.source_repo.clone());
    set(trailers::SOURCE_COMMIT, args.source.source_commit.clone());
    set(trailers::SOURCE_REF, args.source.source_ref.clone());
    set(
        trailers::RUN_NUMBER,
        args.source.run_number.map(|n| n.to_string()),
    );
    if let Some(preset) = preset {
        for (key, value) in &preset.trailers {
            list.push((key.clone(), one_line(value)));
        }
    }
    list.into_iter()
        .map(|(key, value)| Trailer { key, value })
        .collect()
}

/// The signer from --sign, --signing-key and $FERRY_SIGNING_KEY.
fn signer(args: &Signing) -> Result<Option<Signer>, Error> {
    let inline = std::env::var("FERRY_SIGNING_KEY")
        .ok()
        .filter(|k| !k.trim().is_empty())
        .map(SecretString::from);
    if let Some(key) = &inline {
        for line in key.expose_secret().lines() {
            report::add_secret(line);
        }
    }
    let format = match (args.sign, &args.signing_key, &inline) {
        (Some(f), _, _) => f,
        (None, None, None) => return Ok(None),
        (None, _, _) => SignFormat::Ssh,
    };
    let (format, source) = match format {
        SignFormat::Ssh => (
            sign::Format::Ssh,
            match (&args.signing_key, inline) {
                (Some(file), _) => KeySource::File(file.into()),
                (None, Some(key)) => KeySource::Inline(key),
                (None, None) => {
                    return Err(Error::Usage(
                        "--sign ssh needs a key: --signing-key FILE or the key itself in $FERRY_SIGNING_KEY".to_owned(),
                    ));
                }
            },
        ),
        SignFormat::Gpg => (
            sign::Format::Gpg,
            match (&args.signing_key, inline) {
                (Some(key), _) if Path::new(key).is_file() => KeySource::File(key.into()),
                (Some(id), _) => KeySource::KeyId(id.clone()),
                (None, Some(key)) => KeySource::Inline(key),
                (None, None) => {
                    return Err(Error::Usage(
                        "--sign gpg needs a key: --signing-key KEYID (or an armored key file), or the armored key in $FERRY_SIGNING_KEY".to_owned(),
                    ));
                }
            },
        ),
    };
    let signer = Signer::new(format, source).map_err(|e| Error::Sign(e.to_string()))?;
    tracing::debug!(signer = %signer.describe(), "signing commits");
    Ok(Some(signer))
}

fn short(commit: &str) -> &str {
    commit.get(..12).unwrap_or(commit)
}

fn indent(text: &str) -> String {
    text.lines()
        .map(|l| {
            if l.is_empty() {
                String::new()
            } else {
                format!("    {l}")
            }
        })
        .collect::<Vec<_>>()
        .join("\n")
        + "\n"
}

/// Prints the result, writes the CI's outputs and returns the exit code.
fn finish(
    store: &Remote,
    request: &Request<'_>,
    context: Option<&Context>,
    outcome: Outcome,
    attempts: u32,
    output: Output,
) -> Result<Exit, Error> {
    let Outcome {
        status,
        target,
        tip,
        commit,
        plan,
        missing,
        reasons,
        mut text,
        proposed,
        change_request,
    } = outcome;
    for w in &plan.warnings {
        tracing::warn!("{}", text::located(Path::new(""), w));
    }
    for n in &plan.notes {
        tracing::info!("{}", text::located(Path::new(""), n));
    }
    text::annotate(ci::Level::Warning, "ferry: left as it is", &plan.warnings);
    text::annotate(
        ci::Level::Error,
        "ferry: refused, nothing written",
        &plan.refusals,
    );
    if !reasons.is_empty() {
        let what = match status {
            Status::Held => "on hold",
            Status::TagRefused => "tag refused",
            _ => "stale",
        };
        let mut lines = format!("error: nothing was pushed ({what}):\n");
        for r in &reasons {
            let _ = writeln!(lines, "  {r}");
        }
        report::diagnostics(&lines);
    }
    if status == Status::Pushed && attempts > 1 {
        let _ = writeln!(
            text,
            "Landed on attempt {attempts} of {}.",
            request.args.commit.attempts
        );
    }
    let changed = status == Status::Pushed
        || (status == Status::Proposed && proposed.as_ref().is_some_and(|(_, _, pushed)| *pushed));
    let mut outputs = Outputs::default();
    outputs
        .set("status", status.as_str())
        .set("changed", changed.to_string())
        .set("commit-sha", commit.clone().unwrap_or_default())
        .set("push-attempts", attempts.to_string());
    if let Some(branch) = tip.as_ref().map(|t| t.branch.clone()) {
        outputs.set("branch", branch);
    }
    if let Some(t) = &target {
        outputs.set("environment", t.label.clone());
    }
    if let Some(cr) = &change_request {
        outputs
            .set("pr-number", cr.number.to_string())
            .set("pr-url", cr.url.clone())
            .set("pr-action", cr.action.as_str())
            .set("head-branch", cr.head_branch.clone())
            .set("head-sha", cr.head_sha.clone());
    }
    outputs.summary = summary(
        store.url(),
        status,
        target.as_ref(),
        commit.as_deref(),
        &plan,
        &reasons,
        change_request.as_ref(),
    );
    let cwd = std::env::current_dir().unwrap_or_else(|_| Path::new(".").to_path_buf());
    match ci::publish(context, &ci::process_env, &cwd, &outputs) {
        Ok(files) => {
            for f in files {
                tracing::debug!(file = %f.display(), "wrote CI outputs");
            }
        }
        Err(e) => tracing::warn!("could not write the CI outputs: {e}"),
    }
    let report = Report {
        status,
        repo: store.url().to_string(),
        branch: tip.as_ref().map(|t| t.branch.clone()),
        environment: target.as_ref().and_then(|t| t.name.clone()),
        path: target.as_ref().map(|t| t.path.clone()),
        commit,
        previous: tip.map(|t| t.commit),
        attempts,
        changes: &plan.changes,
        warnings: &plan.warnings,
        notes: &plan.notes,
        refusals: &plan.refusals,
        missing,
        reasons,
        change_request,
    };
    report::emit(output, &report, &text)?;
    Ok(status.exit())
}

/// The Markdown step summary.
fn summary(
    url: &RepoUrl,
    status: Status,
    target: Option<&Target>,
    commit: Option<&str>,
    plan: &Plan,
    reasons: &[String],
    change_request: Option<&ProposedReport>,
) -> String {
    let mut md = String::new();
    let label = target.map_or("?", |t| t.label.as_str());
    let branch = target.and_then(|t| t.branch.as_deref()).unwrap_or("?");
    let _ = writeln!(md, "### ferry bump: {label}\n");
    let line = match status {
        Status::Pushed => {
            let sha = commit.unwrap_or_default();
            let shown = match ForgeKind::guess(url).commit_url(url, sha) {
                Some(link) => format!("[`{}`]({link})", short(sha)),
                None => format!("`{}`", short(sha)),
            };
            format!("Pushed {shown} to `{branch}` of {url}.")
        }
        Status::Proposed => match change_request {
            Some(cr) => format!(
                "Proposed in [{} (#{})]({}), branch `{}` at `{}`.",
                cr.action.as_str(),
                cr.number,
                cr.url,
                cr.head_branch,
                short(&cr.head_sha)
            ),
            None => "Proposed.".to_owned(),
        },
        Status::UpToDate => format!("Already up to date on `{branch}`."),
        Status::DryRun => "Dry run: nothing was pushed.".to_owned(),
        Status::NotFound => "No reference to the image was found: nothing was pushed.".to_owned(),
        Status::Refused => "A reference cannot be edited safely: nothing was pushed.".to_owned(),
        Status::Held | Status::TagRefused | Status::Stale => {
            format!("Nothing was pushed ({}).", status.as_str())
        }
    };
    let _ = writeln!(md, "{line}\n");
    for r in reasons {
        let _ = writeln!(md, "- {}", r.replace('|', "\\|"));
    }
    if !plan.changes.is_empty() {
        md.push_str("| Image | From | To | Where |\n| --- | --- | --- | --- |\n");
        let mut rows: BTreeMap<(String, String, String), Vec<String>> = BTreeMap::new();
        for c in &plan.changes {
            let from = c.old.as_deref().map_or_else(|| "(new)".to_owned(), old_tag);
            rows.entry((c.image.clone(), from, old_tag(&c.new)))
                .or_default()
                .push(format!("{}:{}", c.file, c.line));
        }
        for ((image, from, to), places) in rows {
            let _ = writeln!(
                md,
                "| `{image}` | `{from}` | `{to}` | {} |",
                places.join(", ")
            );
        }
    }
    md
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn old_tags_are_read_from_whole_references() {
        assert_eq!(old_tag("ghcr.io/acme/cart:1.2.3"), "1.2.3");
        assert_eq!(old_tag("1a2b3c4"), "1a2b3c4");
        assert_eq!(old_tag("1.10"), "1.10");
    }

    #[test]
    fn one_line_flattens_hostile_values() {
        assert_eq!(
            one_line("main\r\nSigned-off-by: x"),
            "main Signed-off-by: x"
        );
        assert_eq!(one_line("  a\u{2028}b "), "a b");
    }

    fn change(file: &str, line: usize, image: &str, old: Option<&str>, new: &str) -> Change {
        Change {
            file: file.to_owned(),
            line,
            column: 7,
            image: image.to_owned(),
            shape: crate::locate::Shape::Reference,
            old: old.map(str::to_owned),
            new: new.to_owned(),
            removed: false,
            note: None,
            inserted: None,
        }
    }

    /// Every status's line, reasons with a `|`, and a table whose rows group places.
    #[test]
    fn the_step_summary_is_markdown() {
        let (url, _) = RepoUrl::parse("https://github.com/acme/env.git").expect("url");
        let (local, _) = RepoUrl::parse("/srv/git/env").expect("url");
        let target = Target {
            label: "staging".to_owned(),
            name: Some("staging".to_owned()),
            path: "envs/staging".to_owned(),
            branch: Some("main".to_owned()),
            policy: Policy::default_for("staging"),
            identity: Identity {
                name: "ferry".to_owned(),
                email: "ferry@example.com".to_owned(),
            },
            template: None,
            title_template: None,
            body_template: None,
            config_on_branch: true,
            update: Update::Push,
            labels: Vec::new(),
            reviewers: Vec::new(),
            assignees: Vec::new(),
            strict: false,
        };
        let plan = Plan {
            changes: vec![
                change(
                    "envs/staging/a.yaml",
                    3,
                    "ghcr.io/acme/cart",
                    Some("ghcr.io/acme/cart:1.0"),
                    "ghcr.io/acme/cart:1.1",
                ),
                change(
                    "envs/staging/b.yaml",
                    9,
                    "ghcr.io/acme/cart",
                    Some("1.0"),
                    "1.1",
                ),
                change(
                    "envs/staging/b.yaml",
                    12,
                    "docker.io/library/nginx",
                    None,
                    "1.27@sha256:0123",
                ),
            ],
            ..Plan::default()
        };
        let cr = ProposedReport {
            number: 42,
            url: "https://github.com/acme/env/pull/42".to_owned(),
            head_branch: "ferry/staging/cart-1234".to_owned(),
            head_sha: "0123456789abcdef0123".to_owned(),
            pushed: true,
            action: Action::Opened,
        };
        let sha = "fedcba9876543210fedc";
        let reasons = vec!["staging is on hold: a | b".to_owned(), "second".to_owned()];
        let mut all = String::new();
        for (status, url, target, commit, plan, reasons, cr) in [
            (
                Status::Pushed,
                &url,
                Some(&target),
                Some(sha),
                &plan,
                &[][..],
                None,
            ),
            (
                Status::Pushed,
                &local,
                Some(&target),
                Some(sha),
                &Plan::default(),
                &[][..],
                None,
            ),
            (
                Status::Proposed,
                &url,
                Some(&target),
                Some(sha),
                &plan,
                &[][..],
                Some(&cr),
            ),
            (
                Status::Proposed,
                &url,
                Some(&target),
                Some(sha),
                &plan,
                &[][..],
                None,
            ),
            (
                Status::UpToDate,
                &url,
                Some(&target),
                Some(sha),
                &Plan::default(),
                &[][..],
                None,
            ),
            (
                Status::DryRun,
                &url,
                Some(&target),
                Some(sha),
                &plan,
                &[][..],
                None,
            ),
            (
                Status::NotFound,
                &url,
                None,
                None,
                &Plan::default(),
                &[][..],
                None,
            ),
            (
                Status::Refused,
                &url,
                Some(&target),
                None,
                &Plan::default(),
                &[][..],
                None,
            ),
            (
                Status::Held,
                &url,
                Some(&target),
                None,
                &Plan::default(),
                &reasons[..],
                None,
            ),
            (
                Status::TagRefused,
                &url,
                Some(&target),
                None,
                &Plan::default(),
                &reasons[..],
                None,
            ),
            (
                Status::Stale,
                &url,
                Some(&target),
                None,
                &plan,
                &reasons[..],
                None,
            ),
        ] {
            all.push_str(&summary(url, status, target, commit, plan, reasons, cr));
            all.push_str("<<<END>>>\n");
        }
        insta::assert_snapshot!("step_summary", all);
    }
}
