//! `ferry wait`: wait for the agents' verdict on an environment repository commit, a commit
//! status posted by Flux's notification-controller or Argo CD notifications. The agents post on
//! the revision they synced, which may be a later commit of the branch than ferry's: each poll
//! asks about ferry's commit and every later commit of the branch that contains it, newest first
//! ([`crate::verdict`]), and refetches the branch only when its tip moved. Polls pause longer and
//! longer until success (exit 0), failure (13) or the timeout (14). The verdict's commit and the
//! status's target URL are printed either way.

use std::fmt::Write as _;
use std::time::{Duration, Instant};

use serde::Serialize;

use super::Error;
use super::site::{self, Site};
use crate::ci::{self, Context, Outputs};
use crate::cli::WaitArgs;
use crate::exit::Exit;
use crate::forge::{Check, CheckState};
use crate::git::Store as _;
use crate::history::{self, Change};
use crate::report::{self, Output};
use crate::verdict::{self, Verdict};

/// The longest pause between polls.
const MAX_INTERVAL: Duration = Duration::from_secs(30);

#[derive(Debug, Serialize)]
struct Report {
    environment: String,
    /// The commit waited on (ferry's).
    commit: String,
    /// The commit whose status decided (ferry's, or a later commit of the branch containing
    /// it); `None` when no matching status was found.
    verdict_commit: Option<String>,
    context: String,
    state: &'static str,
    polls: u32,
    statuses: Vec<Check>,
    #[serde(skip_serializing_if = "Option::is_none")]
    target_url: Option<String>,
}

pub fn run(args: &WaitArgs, output: Output) -> Result<Exit, Error> {
    let mut site = Site::open(&site::Access::of(&args.repo)?)?;
    let env = site.environment(&args.env)?;
    let mut tip = site.tip_of(&env)?;
    let commit = match &args.commit {
        Some(commit) => commit.trim().to_owned(),
        None => {
            let walk = history::walk(
                &mut site.store,
                &tip,
                &env.path,
                &|_| true,
                200,
                &|changes: &[Change]| !changes.is_empty(),
            )?;
            walk.changes
                .first()
                .map_or_else(|| tip.commit.clone(), |c| c.commit.clone())
        }
    };
    let mut candidates =
        verdict::candidates(&site.store.history(&tip, verdict::MAX_COMMITS)?, &commit);
    let forge = site.forge()?;
    let started = Instant::now();
    let deadline = args.timeout.as_std();
    let mut pause = args.interval.as_std().max(Duration::from_millis(100));
    let mut polls = 0;
    let verdict: Verdict = loop {
        polls += 1;
        if polls > 1 {
            // Agents post on the revision they synced: follow the branch as it moves.
            if site
                .store
                .remote_tip(&tip.branch)?
                .is_some_and(|now| now != tip.commit)
            {
                tip = site.store.fetch(Some(&tip.branch))?;
                candidates =
                    verdict::candidates(&site.store.history(&tip, verdict::MAX_COMMITS)?, &commit);
            }
        }
        let verdict = verdict::judge(&candidates.commits, |c| {
            forge.commit_statuses(c, &args.context)
        })?;
        tracing::debug!(polls, state = ?verdict.state, settled = verdict.settled, commit = ?verdict.commit, asked = verdict.asked, "polled");
        if verdict.settled {
            break verdict;
        }
        let left = deadline.saturating_sub(started.elapsed());
        if left.is_zero() {
            break verdict;
        }
        std::thread::sleep(pause.min(left));
        pause = (pause * 2).min(MAX_INTERVAL);
    };
    let state = verdict.state;
    let checks = verdict.checks.clone();
    let target_url = checks.iter().find_map(|c| c.url.clone());
    let mine = verdict::short(&commit).to_owned();
    let on = verdict.source(&commit, &tip.branch);
    let mut text = String::new();
    let (word, exit) = match state {
        CheckState::Success | CheckState::Neutral => ("success", Exit::Done),
        CheckState::Failure => ("failure", Exit::Failed),
        CheckState::Pending => ("timeout", Exit::Timeout),
    };
    match exit {
        Exit::Done => {
            let _ = writeln!(
                text,
                "`{}` succeeded on {on} ({} of `{}`).",
                args.context, env.name, site.url
            );
        }
        Exit::Failed if verdict.settled => {
            let _ = writeln!(
                text,
                "`{}` failed on {on} ({}): the agents did not deploy it.",
                args.context, env.name
            );
        }
        Exit::Failed => {
            let _ = writeln!(
                text,
                "`{}` failed on {on} ({}), and the newer commits of `{}` had no verdict after {}: the agents did not deploy it.",
                args.context, env.name, tip.branch, args.timeout
            );
        }
        _ => {
            let _ = writeln!(
                text,
                "Timed out after {} waiting for `{}` on {mine}{} ({}): {}.",
                args.timeout,
                args.context,
                match candidates.commits.len() {
                    0 | 1 => String::new(),
                    n => format!(" or the {} later commit(s) of `{}` that contain it", n - 1, tip.branch),
                },
                env.name,
                match &verdict.commit {
                    None => "no such status was posted; check the agent's notification setup and the context name".to_owned(),
                    Some(_) => format!("it is still pending on {on}"),
                }
            );
        }
    }
    if !candidates.on_branch {
        let _ = writeln!(
            text,
            "Note: {mine} is not among the newest {} commits of `{}`, so only its own statuses were read.",
            verdict::MAX_COMMITS,
            tip.branch
        );
    }
    for check in &checks {
        let _ = writeln!(
            text,
            "  {} {}{}",
            check.name,
            match check.state {
                CheckState::Success => "success",
                CheckState::Failure => "failure",
                CheckState::Pending => "pending",
                CheckState::Neutral => "neutral",
            },
            check
                .url
                .as_deref()
                .map(|u| format!(": {u}"))
                .unwrap_or_default()
        );
    }
    let mut outputs = Outputs::default();
    outputs
        .set("status", word)
        .set("commit-sha", commit.clone())
        .set(
            "verdict-commit-sha",
            verdict.commit.clone().unwrap_or_default(),
        )
        .set("target-url", target_url.clone().unwrap_or_default());
    outputs.summary = format!("### ferry wait\n\n{text}");
    ci::publish_or_warn(Context::from_env().as_ref(), &outputs);
    let report = Report {
        environment: env.name,
        commit,
        verdict_commit: verdict.commit.clone(),
        context: args.context.clone(),
        state: word,
        polls,
        statuses: checks,
        target_url,
    };
    report::emit(output, &report, &text)?;
    Ok(exit)
}
