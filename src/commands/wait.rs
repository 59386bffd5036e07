//! `ferry wait`: wait for the agents' verdict on an environment repository commit, a commit
//! status posted by Flux's notification-controller or Argo CD notifications. The agents post on
//! the revision they synced, which may be a later commit of the branch than ferry's: each poll
//! asks about ferry's commit and every later commit of the branch that contains it, newest first
//! ([`crate::verdict`]), and refetches the branch only when its tip moved. Polls pause longer and
//! longer until success (exit 0), failure (13) or the timeout (14). The verdict's commit and the
//! status's target URL are printed either way.

use std::time::{Duration, Instant};

use super::Error;
use super::site::{Access, Site};
use crate::cli::WaitArgs;
use crate::config::{self, ResolvedEnvironment};
use crate::forge::{CheckState, Forge};
use crate::git::{Store as _, Tip};
use crate::history::{self, Change};
use crate::outcome::wait::{WaitState, Waited};
use crate::verdict::{self, Candidates, Verdict};

/// The longest pause between polls.
const MAX_INTERVAL: Duration = Duration::from_secs(30);

/// What `ferry wait` was asked, checked with no network call.
#[derive(Debug, Clone)]
pub(crate) struct Request {
    pub access: Access,
    pub env: String,
    /// The commit to wait on; `None`: the newest commit that changed the environment.
    pub commit: Option<String>,
    /// The status context (a trailing `*` matches a prefix).
    pub context: String,
    pub timeout: config::Duration,
    /// The first pause between polls.
    pub interval: config::Duration,
}

impl Request {
    /// The request of `args`: the repository's URL checked.
    pub fn resolve(args: &WaitArgs) -> Result<Request, Error> {
        Ok(Request {
            access: Access::of(&args.repo)?,
            env: args.env.clone(),
            commit: args.commit.as_ref().map(|c| c.trim().to_owned()),
            context: args.context.clone(),
            timeout: args.timeout,
            interval: args.interval,
        })
    }
}

/// Waits until the agents' verdict on the commit of `request` settles, or the timeout.
pub(crate) fn run(request: &Request) -> Result<Waited, Error> {
    let mut site = Site::open(&request.access)?;
    let env = site.environment(&request.env)?;
    let mut tip = site.tip_of(&env)?;
    let commit = match &request.commit {
        Some(commit) => commit.clone(),
        None => newest_change(&mut site, &env, &tip)?,
    };
    let candidates = candidates_on(&mut site, &tip, &commit)?;
    let forge = site.forge()?;
    let mut poll = Poll {
        site: &mut site,
        forge: forge.as_ref(),
        context: &request.context,
        commit: &commit,
        candidates,
    };
    let (verdict, polls) = poll.until_settled(&mut tip, request)?;
    let candidates = poll.candidates;
    let state = match verdict.state {
        CheckState::Success | CheckState::Neutral => WaitState::Success,
        CheckState::Failure => WaitState::Failure,
        CheckState::Pending => WaitState::Timeout,
    };
    Ok(Waited {
        environment: env.name,
        verdict_commit: verdict.commit.clone(),
        context: request.context.clone(),
        state,
        polls,
        statuses: verdict.checks.clone(),
        target_url: verdict.checks.iter().find_map(|c| c.url.clone()),
        verdict,
        repo: site.url.to_string(),
        branch: tip.branch,
        timeout: request.timeout,
        candidates: candidates.commits.len(),
        on_branch: candidates.on_branch,
        commit,
    })
}

/// The newest commit of `tip` that changed the environment `env` (its tip when none did in the
/// last 200 commits).
fn newest_change(site: &mut Site, env: &ResolvedEnvironment, tip: &Tip) -> Result<String, Error> {
    let walk = history::walk(
        &mut site.store,
        tip,
        &env.path,
        &|_| true,
        200,
        &|changes: &[Change]| !changes.is_empty(),
    )?;
    Ok(walk
        .changes
        .first()
        .map_or_else(|| tip.commit.clone(), |c| c.commit.clone()))
}

/// The polls of one wait: the commits asked about, and where to ask.
struct Poll<'a> {
    site: &'a mut Site,
    forge: &'a dyn Forge,
    context: &'a str,
    /// The commit waited on.
    commit: &'a str,
    candidates: Candidates,
}

/// The commits of `tip`'s branch whose statuses speak for `commit`.
fn candidates_on(site: &mut Site, tip: &Tip, commit: &str) -> Result<Candidates, Error> {
    let history = site.store.history(tip, verdict::MAX_COMMITS)?;
    Ok(verdict::candidates(&history, commit))
}

impl Poll<'_> {
    /// Polls, pausing longer and longer, until the verdict settles or the timeout: the last
    /// verdict, and how many polls it took. `tip` follows the branch as it moves.
    fn until_settled(&mut self, tip: &mut Tip, request: &Request) -> Result<(Verdict, u32), Error> {
        let started = Instant::now();
        let deadline = request.timeout.as_std();
        let mut pause = request.interval.as_std().max(Duration::from_millis(100));
        let mut polls = 0;
        loop {
            polls += 1;
            if polls > 1 {
                // Agents post on the revision they synced: follow the branch as it moves.
                self.follow(tip)?;
            }
            let verdict = verdict::judge(&self.candidates.commits, |c| {
                self.forge.commit_statuses(c, self.context)
            })?;
            tracing::debug!(polls, state = ?verdict.state, settled = verdict.settled, commit = ?verdict.commit, asked = verdict.asked, "polled");
            if verdict.settled {
                return Ok((verdict, polls));
            }
            let left = deadline.saturating_sub(started.elapsed());
            if left.is_zero() {
                return Ok((verdict, polls));
            }
            std::thread::sleep(pause.min(left));
            pause = (pause * 2).min(MAX_INTERVAL);
        }
    }

    /// Refetches the branch of `tip` when its tip moved, and the candidates with it.
    fn follow(&mut self, tip: &mut Tip) -> Result<(), Error> {
        if self
            .site
            .store
            .remote_tip(&tip.branch)?
            .is_some_and(|now| now != tip.commit)
        {
            *tip = self.site.store.fetch(Some(&tip.branch))?;
            self.candidates = candidates_on(self.site, tip, self.commit)?;
        }
        Ok(())
    }
}
