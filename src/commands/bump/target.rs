//! Where the change goes, resolved on a fetched tip: the environment of `ferry.yaml` (by
//! `--env`, or by `--path`), its branch, path, policy, commit author and templates.

use std::path::Path;

use super::super::{Error, read_config, read_template};
use super::request::{Request, no_forge_in};
use crate::ci::one_line;
use crate::config::{self, Config, ResolvedEnvironment, Update};
use crate::git::{Edit, Identity, Store, Tip};
use crate::policy::Policy;

/// Where the change goes, as resolved on a tip.
#[derive(Debug, Clone)]
pub(super) struct Target {
    /// The environment's name, or its path when given by --path.
    pub label: String,
    pub name: Option<String>,
    pub path: String,
    pub branch: Option<String>,
    pub policy: Policy,
    pub identity: Identity,
    /// The repository's commit-message template (path, text).
    pub template: Option<(String, String)>,
    /// The repository's templates of a change request's title and description.
    pub title_template: Option<(String, String)>,
    pub body_template: Option<(String, String)>,
    /// Whether ferry.yaml was read from the target branch itself (then every attempt re-reads it).
    pub config_on_branch: bool,
    /// How changes reach the branch (ferry.yaml's `update`, unless --via says otherwise).
    pub update: Update,
    /// Labels, reviewers and assignees of change requests, from ferry.yaml.
    pub labels: Vec<String>,
    pub reviewers: Vec<String>,
    pub assignees: Vec<String>,
    /// All or nothing: mentions left alone refuse the bump (`strict: true` in ferry.yaml).
    pub strict: bool,
}

/// Fetches the tip to change and (re)resolves the target on it.
pub(super) fn resolve(
    store: &mut dyn Store,
    request: &Request,
    target: &mut Option<Target>,
) -> Result<Tip, Error> {
    if let Some(known) = target.as_ref().filter(|t| !t.config_on_branch) {
        // ferry.yaml lives on another branch: it was read once; only the target moves.
        return Ok(store.fetch(known.branch.as_deref())?);
    }
    let first = store.fetch(request.branch.as_deref())?;
    let config = read_config(store, &first)?;
    let env = environment(store, request, &first, config.as_ref())?;
    let (tip, config_on_branch) = match &env {
        Some(env) if request.branch.is_none() && env.branch != first.branch => {
            (store.fetch(Some(&env.branch))?, false)
        }
        _ => (first, true),
    };
    let path = match (&env, &request.path) {
        (Some(env), _) if request.env.is_some() => env.path.clone(),
        (_, Some(path)) => path.clone(),
        (Some(env), None) => env.path.clone(),
        (None, None) => String::new(),
    };
    let templates = Templates::read(store, &tip, config.as_ref())?;
    let update = request
        .via
        .or(env.as_ref().map(|e| e.update))
        .unwrap_or(Update::Push);
    if update == Update::PullRequest && !request.dry_run {
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
    *target = Some(target_of(
        request,
        env.as_ref(),
        config.as_ref(),
        path,
        &tip,
        templates,
        config_on_branch,
        update,
    ));
    Ok(tip)
}

/// The environment the request names, by `--env` or by `--path`, in `config` read at `first`.
fn environment(
    store: &dyn Store,
    request: &Request,
    first: &Tip,
    config: Option<&Config>,
) -> Result<Option<ResolvedEnvironment>, Error> {
    Ok(match (&request.env, config) {
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
        (None, Some(config)) => by_path(config, request.path.as_deref().unwrap_or_default()),
        (None, None) => None,
    })
}

/// The repository's templates, read from the tip.
struct Templates {
    message: Option<(String, String)>,
    title: Option<(String, String)>,
    body: Option<(String, String)>,
}

impl Templates {
    fn read(store: &dyn Store, tip: &Tip, config: Option<&Config>) -> Result<Templates, Error> {
        Ok(Templates {
            message: read_template(
                store,
                tip,
                "commit.message",
                config.and_then(|c| c.commit.message.as_ref()),
            )?,
            title: read_template(
                store,
                tip,
                "change-requests.title",
                config.and_then(|c| c.change_requests.title.as_ref()),
            )?,
            body: read_template(
                store,
                tip,
                "change-requests.body",
                config.and_then(|c| c.change_requests.body.as_ref()),
            )?,
        })
    }
}

#[allow(clippy::too_many_arguments)]
fn target_of(
    request: &Request,
    env: Option<&ResolvedEnvironment>,
    config: Option<&Config>,
    path: String,
    tip: &Tip,
    templates: Templates,
    config_on_branch: bool,
    update: Update,
) -> Target {
    let policy = env.map_or_else(|| Policy::default_for(&path), Policy::of);
    let author = config.map(|c| c.commit.author.clone()).unwrap_or_default();
    let identity = Identity {
        name: request.author_name.clone().unwrap_or(author.name),
        email: request.author_email.clone().unwrap_or(author.email),
    };
    let label = env
        .filter(|_| request.env.is_some() || request.path.is_some())
        .map_or_else(
            || {
                if path.is_empty() {
                    "/".to_owned()
                } else {
                    path.clone()
                }
            },
            |e| e.name.clone(),
        );
    Target {
        label,
        name: env.map(|e| e.name.clone()),
        path,
        branch: Some(tip.branch.clone()),
        policy,
        identity,
        template: templates.message,
        title_template: templates.title,
        body_template: templates.body,
        config_on_branch,
        update,
        labels: env.map(|e| e.labels.clone()).unwrap_or_default(),
        reviewers: env.map(|e| e.reviewers.clone()).unwrap_or_default(),
        assignees: env.map(|e| e.assignees.clone()).unwrap_or_default(),
        strict: env.is_some_and(|e| e.strict),
    }
}

/// The environment of `config` whose path is `path` (normalized), if any: its holds and tag
/// policy apply to bumps by `--path` too.
fn by_path(config: &Config, path: &str) -> Option<ResolvedEnvironment> {
    config
        .environment_names()
        .filter_map(|name| config.environment(name).ok())
        .find(|env| env.path == path)
}

/// ferry.yaml with the target environment put on hold (`ferry rollback --hold`).
pub(super) fn hold_edit(
    store: &dyn Store,
    target: &Target,
    tip: &Tip,
    reason: &str,
) -> Result<Edit, Error> {
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
