//! `ferry bump`: set image tags in one environment of a remote environment repository, and push.
//!
//! Each attempt is a pure recomputation on a fresh tip: fetch the branch, read `ferry.yaml` and
//! the environment's files, check holds, the tag policy and the stale-write guard, plan the edit,
//! commit, and push with compare-and-swap on the fetched tip. When another writer got there
//! first the attempt is thrown away and the next one starts from the new tip (never a rebase of
//! text), after a jittered exponential backoff.
//!
//! `Request` (`request.rs`) is what a bump is asked, checked before any network call;
//! `execute` runs it and returns the outcome ([`crate::outcome::bump`]), which
//! [`crate::present::bump`] tells. `target.rs` resolves where the change goes on a tip,
//! `attempt.rs` is one attempt (checks, plan, guard, commit), `propose.rs` the change-request
//! path, `scan.rs` the files read across attempts.

mod attempt;
mod propose;
mod request;
mod scan;
mod target;

use std::time::Instant;

use super::Error;
use super::site::{self, Site};
use crate::ci;
use crate::cli::WriteArgs;
use crate::config::Update;
use crate::forge::{self, Forge};
use crate::git::Remote;
use crate::image::ImageUpdate;
use crate::outcome::bump::Bump;
use crate::present;
use secrecy::SecretString;

pub(crate) use request::{Recorded, Request};

/// The request of a bump of `env` in `site` that another command runs with its own words (a
/// [`Request::with_preset`]): a promotion, a rollback.
pub(super) fn of_site(
    site: &Site,
    write: &WriteArgs,
    env: Option<String>,
    updates: Vec<ImageUpdate>,
    via: Option<Update>,
) -> Result<Request, Error> {
    Request::of_site(site, write, env, updates, via)
}

/// Runs a bump: opens the repository, makes the attempts, and opens or updates the change
/// request of a proposed change. The outcome is not reported (but for what an attempt found
/// wrong, said on stderr at once).
pub(crate) fn execute(request: &Request) -> Result<Bump, Error> {
    let Login {
        forge,
        token,
        username,
    } = login(request)?;
    let credentials = site::credentials(
        &request.repo,
        request.url_secret.clone(),
        token,
        username,
        request.ssh_key.clone(),
    );
    let api_token = credentials.api_token();
    // When --via pull-request says a forge is needed, find it before any network call.
    let mut settings = match (&forge, request.via) {
        (None, Some(Update::PullRequest)) => Some(forge::resolve_settings(
            &request.forge,
            &request.repo,
            api_token.clone(),
            &ci::process_env,
        )?),
        _ => None,
    };
    tracing::debug!(repo = %request.repo, credentials = %credentials.describe(), "opening");
    let mut store = Remote::open(
        request.repo.clone(),
        credentials,
        request.cache_dir.as_deref(),
    )?;
    let started = Instant::now();
    let (mut outcome, target) = attempt::run(&mut store, request)?;
    present::bump::diagnostics(&outcome);
    if outcome.detail.proposed.is_some() {
        let forge = match forge {
            Some(forge) => forge,
            None => {
                let settings = match settings.take() {
                    Some(settings) => settings,
                    None => forge::resolve_settings(
                        &request.forge,
                        &request.repo,
                        api_token,
                        &ci::process_env,
                    )?,
                };
                forge::connect(settings)?
            }
        };
        propose::propose(forge.as_ref(), request, &target, &mut outcome)?;
        tracing::debug!(calls = forge.calls(), forge = %forge.kind(), "api calls");
    }
    tracing::debug!(
        elapsed_ms = started.elapsed().as_millis() as u64,
        attempts = outcome.attempts,
        "done"
    );
    Ok(outcome)
}

/// The token and user name git uses, and the forge when a GitHub App is configured.
struct Login {
    forge: Option<Box<dyn Forge>>,
    token: Option<SecretString>,
    username: Option<String>,
}

/// The login of `request`: a GitHub App's installation token serves git too, so it is minted
/// before the first fetch.
fn login(request: &Request) -> Result<Login, Error> {
    if request.forge.github_app_id.is_none() {
        return Ok(Login {
            forge: None,
            token: request.token.clone(),
            username: request.username.clone(),
        });
    }
    let settings = forge::resolve_settings(&request.forge, &request.repo, None, &ci::process_env)?;
    let connected = forge::connect(settings)?;
    let minted = connected.minted_token();
    let username = request
        .username
        .clone()
        .unwrap_or_else(|| "x-access-token".to_owned());
    Ok(Login {
        forge: Some(connected),
        token: minted.or_else(|| request.token.clone()),
        username: Some(username),
    })
}
